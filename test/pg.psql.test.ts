// psql (Debian's postgresql-client) against the real `ordo start` process.

import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scratchDir } from './helpers.js';

const run = promisify(execFile);
const ordo = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const PSQL = '/usr/bin/psql';

async function startOrdo(): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const dataDir = scratchDir('ordo-psql-');
  const child = spawn(process.execPath, [ordo, 'start', '--data-dir', dataDir, '--pg-port', '0', '--http-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ordo start printed no postgres port:\n${out}`)), 15_000);
    child.stdout?.on('data', () => {
      const m = /postgres:\s+postgresql:\/\/\S+:(\d+)\//.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port, output: () => out };
}

async function psql(port: number, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(PSQL, ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres', ...args], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

t.test('psql runs a scripted session against ordo start, which prints its pg port and stops on SIGTERM', { skip: existsSync(PSQL) ? false : 'psql is not installed' }, async (t) => {
  const { child, port, output } = await startOrdo();
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const one = await psql(port, '-At', '-c', 'SELECT 1 + 1 AS two');
  t.equal(one.code, 0, one.stderr);
  t.equal(one.stdout.trim(), '2');

  const script = join(scratchDir('ordo-psql-script-'), 'session.sql');
  writeFileSync(
    script,
    [
      'CREATE TABLE accounts (id bigint PRIMARY KEY, owner varchar(20) NOT NULL, balance numeric(12,2) DEFAULT 0, opened date);',
      "INSERT INTO accounts (id, owner, balance, opened) VALUES (1, 'ann', 100.50, '2024-01-15'), (2, 'bob', 20, '2024-02-01'), (3, 'cy', NULL, NULL);",
      'UPDATE accounts SET balance = balance - 10.25 WHERE id = 1;',
      'DELETE FROM accounts WHERE id = 3;',
      'SELECT id, owner, balance, opened FROM accounts ORDER BY id;',
      'SELECT count(*), sum(balance), avg(balance) FROM accounts;',
      '',
    ].join('\n'),
  );
  const session = await psql(port, '-At', '-v', 'ON_ERROR_STOP=1', '-f', script);
  t.equal(session.code, 0, session.stderr);
  t.same(session.stdout.trim().split('\n'), [
    'CREATE TABLE',
    'INSERT 0 3',
    'UPDATE 1',
    'DELETE 1',
    '1|ann|90.25|2024-01-15',
    '2|bob|20.00|2024-02-01',
    '2|110.25|55.1250000000000000',
  ]);

  const bad = await psql(port, '-c', 'SELECT * FROM missing');
  t.not(bad.code, 0);
  t.match(bad.stderr, /relation "missing" does not exist/);

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(output(), /stopped/);
});
