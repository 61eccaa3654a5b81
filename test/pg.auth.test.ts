// Authentication: trust by default; with --auth scram, SCRAM-SHA-256 against the users `ordo user
// add` stores (verifiers only), through node-postgres and psql.

import t from 'tap';
import pg from 'pg';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from './helpers.js';
import { failure, harness, ordo, rawClient, runProgram, serialize, startOrdo, type Harness } from './pg.support.js';

const PSQL = '/usr/bin/psql';
const VERIFIER = /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/;

function readUsersFile(dataDir: string): { version: number; users: Record<string, string> } {
  return JSON.parse(readFileSync(join(dataDir, 'users.json'), 'utf8')) as { version: number; users: Record<string, string> };
}

async function login(h: Harness, user: string, password: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: h.server.port, user, password, database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  t.teardown(() => c.end().catch(() => undefined));
  return c;
}

t.test('ordo user add stores a salted, iterated SCRAM verifier, never the password, in a 0600 file', async (t) => {
  const dataDir = scratchDir('ordo-users-');
  const r = await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice'], 'correct horse\n');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /added user "alice"/);
  const file = readUsersFile(dataDir);
  t.equal(file.version, 1);
  t.match(file.users.alice, VERIFIER);
  t.notMatch(readFileSync(join(dataDir, 'users.json'), 'utf8'), /correct horse/);
  t.equal(statSync(join(dataDir, 'users.json')).mode & 0o777, 0o600);
  t.same(readdirSync(dataDir), ['users.json'], 'no temporary file is left behind');
  const again = await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'bob'], 'correct horse');
  t.equal(again.code, 0, again.stderr);
  t.not(readUsersFile(dataDir).users.bob, file.users.alice, 'the same password gets another salt');
});

t.test('ordo user add refuses an existing user; --replace with --password-file changes the password', async (t) => {
  const dataDir = scratchDir('ordo-users-');
  await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice'], 'one');
  const before = readUsersFile(dataDir).users.alice;
  const refused = await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice'], 'two');
  t.equal(refused.code, 2);
  t.match(refused.stderr, /user "alice" already exists \(--replace changes its password\)/);
  t.equal(readUsersFile(dataDir).users.alice, before);
  const passwordFile = join(scratchDir('ordo-pw-'), 'pw');
  writeFileSync(passwordFile, 'two\n');
  const replaced = await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice', '--replace', '--password-file', passwordFile]);
  t.equal(replaced.code, 0, replaced.stderr);
  t.not(readUsersFile(dataDir).users.alice, before);
});

t.test('ordo user add refuses an empty password and an invalid name', async (t) => {
  const dataDir = scratchDir('ordo-users-');
  t.match(await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice'], '\n'), { code: 2, stderr: /the password is empty/ });
  t.match(await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'x'.repeat(64)], 'pw'), { code: 1, stderr: /invalid user name/ });
  t.notOk(existsSync(join(dataDir, 'users.json')));
});

t.test('trust stays the default: any user connects without a password', async (t) => {
  const h = await harness();
  t.teardown(() => h.close());
  const c = await login(h, 'whoever', '');
  t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
});

t.test('with SCRAM required', async (t) => {
  const h = await harness({ auth: 'scram' });
  t.teardown(() => h.close());
  const dataDir = h.node.dataDir;
  const added = await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'alice'], 's3cret');
  t.equal(added.code, 0, added.stderr);

  t.test('node-postgres logs in with the right password', async (t) => {
    const c = await login(h, 'alice', 's3cret');
    t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  t.test('a wrong password is FATAL 28P01', async (t) => {
    t.match(await failure(login(h, 'alice', 'wrong')), { code: '28P01', severity: 'FATAL', message: 'password authentication failed for user "alice"' });
  });

  t.test('an unknown user goes through the same exchange and fails the same way', async (t) => {
    t.match(await failure(login(h, 'nobody', 's3cret')), { code: '28P01', severity: 'FATAL', message: 'password authentication failed for user "nobody"' });
    const c = await rawClient(h.server.port, null);
    c.send(serialize.startup({ user: 'nobody', database: 'postgres' }));
    t.match(await c.until('authenticationSASL'), [{ mechanisms: ['SCRAM-SHA-256'] }], 'the server asks for SCRAM, not saying the user is unknown');
    c.socket.destroy();
  });

  t.test('a user added while the server runs logs in at once; a removed one no longer can', async (t) => {
    t.equal((await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'bob'], 'pw')).code, 0);
    const c = await login(h, 'bob', 'pw');
    t.same((await c.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
    t.equal((await ordo(['user', 'remove', '--data-dir', dataDir, '--name', 'bob'])).code, 0);
    t.match(await failure(login(h, 'bob', 'pw')), { code: '28P01' });
    t.same((await c.query('SELECT 3 AS three')).rows, [{ three: 3 }], 'a session already logged in stays');
  });

  /** What the server says, up to closing the connection, to `message` sent when it asked for SCRAM. */
  const answerToSaslRequest = async (message: Buffer): Promise<unknown[]> => {
    const c = await rawClient(h.server.port, null);
    c.send(serialize.startup({ user: 'alice', database: 'postgres' }));
    await c.until('authenticationSASL');
    c.send(message);
    return c.closed();
  };

  t.test('a query before the SASL exchange is finished is FATAL 08P01 and closes the connection', async (t) => {
    t.match(await answerToSaslRequest(serialize.query('SELECT 1')), [{ name: 'error', severity: 'FATAL', code: '08P01' }]);
  });

  t.test('a client that offers only a cleartext password is refused', async (t) => {
    t.match(await answerToSaslRequest(serialize.password('s3cret')), [{ name: 'error', severity: 'FATAL', code: '08P01' }]);
  });
});

t.test('a connection that does not log in within the authentication timeout is closed', async (t) => {
  const h = await harness({ authenticationTimeoutMs: 100 });
  t.teardown(() => h.close());
  const c = await rawClient(h.server.port, null);
  t.match(await c.closed(), [{ name: 'error', severity: 'FATAL', message: 'canceling authentication due to timeout' }]);
  for (let waitedMs = 0; h.server.connectionCount > 0 && waitedMs < 5_000; waitedMs += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(h.server.connectionCount, 0, 'its connection slot is free again');
});

t.test('psql logs in with PGPASSWORD to ordo start --auth scram, and a wrong one is refused', { skip: existsSync(PSQL) ? false : 'psql is not installed' }, async (t) => {
  const dataDir = scratchDir('ordo-scram-');
  t.equal((await ordo(['user', 'add', '--data-dir', dataDir, '--name', 'postgres'], 'pg-secret')).code, 0);
  const { child, port } = await startOrdo(dataDir, '--auth', 'scram');
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const psql = (password: string): Promise<{ stdout: string; stderr: string }> =>
    runProgram(PSQL, ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres', '-c', 'SELECT 40 + 2'], '', {
      ...process.env,
      PGPASSWORD: password,
      PGCONNECT_TIMEOUT: '10',
    });
  t.equal((await psql('pg-secret')).stdout.trim(), '42');
  t.match((await psql('guess')).stderr, /password authentication failed for user "postgres"/);
});
