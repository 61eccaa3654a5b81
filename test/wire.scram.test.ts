import t from 'tap';
import { createRequire } from 'node:module';
import {
  ScramServer,
  ScramState,
  buildScramVerifier,
  formatScramVerifier,
  parseScramVerifier,
  saslPrep,
} from '../src/sql/wire/index.js';

// node-postgres's own SCRAM client: the real thing a pg user authenticates with.
interface PgSaslSession {
  response: string;
}
interface PgSasl {
  startSession(mechanisms: string[]): PgSaslSession;
  continueSession(session: PgSaslSession, password: string, serverData: string): Promise<void>;
  finalizeSession(session: PgSaslSession, serverData: string): void;
}
const pgSasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as PgSasl;

// RFC 7677 section 3.
const rfc = {
  password: 'pencil',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

t.test('the RFC 7677 test vector: the server produces the published messages and accepts the proof', (t) => {
  const verifier = buildScramVerifier(rfc.password, { salt: rfc.salt, iterations: 4096 });
  const server = new ScramServer({ user: 'user', verifier, nonce: () => rfc.serverNonce });
  t.equal(server.clientFirst(rfc.clientFirst), rfc.serverFirst);
  t.equal(server.clientFinal(Buffer.from(rfc.clientFinal)), rfc.serverFinal);
  t.equal(server.state, ScramState.succeeded);
  t.end();
});

t.test('a full exchange with node-postgres as the client succeeds and the client accepts the server signature', async (t) => {
  const verifier = parseScramVerifier(formatScramVerifier(buildScramVerifier('correct horse', { iterations: 4096 })));
  const server = new ScramServer({ user: 'alice', verifier });
  const session = pgSasl.startSession(['SCRAM-SHA-256']);
  const serverFirst = server.clientFirst(session.response);
  await pgSasl.continueSession(session, 'correct horse', serverFirst);
  const serverFinal = server.clientFinal(session.response);
  t.doesNotThrow(() => pgSasl.finalizeSession(session, serverFinal));
  t.equal(server.state, ScramState.succeeded);
});

t.test('a wrong password fails with 28P01 and the exchange ends', async (t) => {
  const verifier = buildScramVerifier('right', { iterations: 4096 });
  const server = new ScramServer({ user: 'alice', verifier });
  const session = pgSasl.startSession(['SCRAM-SHA-256']);
  await pgSasl.continueSession(session, 'wrong', server.clientFirst(session.response));
  t.throws(() => server.clientFinal(session.response), { code: '28P01', message: 'password authentication failed for user "alice"' });
  t.equal(server.state, ScramState.failed);
  t.throws(() => server.clientFinal(session.response), { code: '08P01' }, 'no second try on the same exchange');
});

t.test('an unknown user runs the whole exchange and fails like a wrong password', async (t) => {
  const server = new ScramServer({ user: 'nobody', verifier: null });
  const again = new ScramServer({ user: 'nobody', verifier: null });
  const session = pgSasl.startSession(['SCRAM-SHA-256']);
  const serverFirst = server.clientFirst(session.response);
  t.match(serverFirst, /,i=4096$/);
  const salt = (s: string): string | undefined => /,s=([^,]+),/.exec(s)?.[1];
  t.equal(salt(serverFirst), salt(again.clientFirst(session.response)), 'the mock salt is stable per user');
  await pgSasl.continueSession(session, 'anything', serverFirst);
  t.throws(() => server.clientFinal(session.response), { code: '28P01' });
});

t.test('a non-ASCII password is normalized with SASLprep as libpq and node-postgres do', async (t) => {
  t.equal(saslPrep('I\u00ADX\u00A0y'), 'IX y');
  t.equal(saslPrep('\u2168'), 'IX', 'NFKC');
  const server = new ScramServer({ user: 'u', verifier: buildScramVerifier('pass\u00A0wörd', { iterations: 4096 }) });
  const session = pgSasl.startSession(['SCRAM-SHA-256']);
  await pgSasl.continueSession(session, 'pass wörd', server.clientFirst(session.response));
  t.doesNotThrow(() => server.clientFinal(session.response));
});

t.test('channel binding p= is refused with a clear error, while y,, is accepted', (t) => {
  const verifier = buildScramVerifier('pw', { iterations: 4096 });
  const p = new ScramServer({ user: 'u', verifier });
  t.throws(() => p.clientFirst('p=tls-server-end-point,,n=*,r=abc'), { code: '08P01', message: /channel binding is not supported/ });
  const y = new ScramServer({ user: 'u', verifier, nonce: () => 'srv' });
  t.equal(y.clientFirst('y,,n=*,r=abc'), `r=abcsrv,s=${Buffer.from(verifier.salt).toString('base64')},i=4096`);
  t.end();
});

t.test('malformed SCRAM messages fail with 08P01', (t) => {
  const verifier = buildScramVerifier('pw', { iterations: 4096 });
  const cases = ['', 'x,,n=*,r=abc', 'n,a=bob,n=*,r=abc', 'n,,r=abc', 'n,,n=*', 'n,,n=*,r=', 'n,,m=ext,n=*,r=abc'];
  for (const c of cases) {
    t.throws(() => new ScramServer({ user: 'u', verifier }).clientFirst(c), { code: '08P01' }, JSON.stringify(c));
  }
  const finals = [
    'c=biws,r=abcsrv',
    'c=biws,r=abcsrv,p=notbase64!',
    'c=eSws,r=abcsrv,p=' + Buffer.alloc(32).toString('base64'),
    'c=biws,r=abcOTHER,p=' + Buffer.alloc(32).toString('base64'),
    'c=biws,r=abcsrv,p=' + Buffer.alloc(16).toString('base64'),
  ];
  for (const f of finals) {
    const s = new ScramServer({ user: 'u', verifier, nonce: () => 'srv' });
    s.clientFirst('n,,n=*,r=abc');
    t.throws(() => s.clientFinal(f), { code: '08P01' }, f);
  }
  t.end();
});

t.test('the stored verifier uses PostgreSQL’s format and parses back', (t) => {
  const v = buildScramVerifier('pencil', { salt: rfc.salt, iterations: 4096 });
  const text = formatScramVerifier(v);
  t.match(text, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  t.same(parseScramVerifier(text), v);
  t.throws(() => parseScramVerifier('md5abcdef'), { code: '22023' });
  t.throws(() => parseScramVerifier('SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA'), { code: '22023' });
  t.end();
});
