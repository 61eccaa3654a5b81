// node-postgres against an in-process node: the SQL slice of issue 3 as a real client sees it.

import t from 'tap';
import { createConnection } from 'node:net';
import { failure, harness, type Harness } from './pg.support.js';

let h: Harness;
t.before(async () => {
  h = await harness();
});
t.teardown(async () => {
  await h.close();
});

t.test('CREATE TABLE then INSERT … RETURNING gives back the stored rows with their defaults', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 7, price numeric(10,2))');
  const r = await c.query("INSERT INTO items (id, name, price) VALUES (1, 'apple', 1.5), (2, 'pear', 2.25) RETURNING id, name, qty, price");
  t.equal(r.command, 'INSERT');
  t.equal(r.rowCount, 2);
  t.same(r.rows, [
    { id: 1, name: 'apple', qty: 7, price: '1.50' },
    { id: 2, name: 'pear', qty: 7, price: '2.25' },
  ]);
});

t.test('SELECT filters with WHERE, sorts with ORDER BY and pages with LIMIT/OFFSET', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE nums (n int PRIMARY KEY, parity text)');
  await c.query(`INSERT INTO nums VALUES ${Array.from({ length: 10 }, (_, i) => `(${i}, '${i % 2 === 0 ? 'even' : 'odd'}')`).join(', ')}`);
  const r = await c.query("SELECT n FROM nums WHERE parity = 'odd' ORDER BY n DESC LIMIT 2 OFFSET 1");
  t.same(r.rows.map((x: { n: number }) => x.n), [7, 5]);
});

t.test('UPDATE and DELETE report how many rows they touched and change exactly those', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE acct (id int PRIMARY KEY, bal int)');
  await c.query('INSERT INTO acct VALUES (1, 10), (2, 20), (3, 30)');
  const u = await c.query('UPDATE acct SET bal = bal + 5 WHERE bal >= 20');
  t.equal(u.rowCount, 2);
  const d = await c.query('DELETE FROM acct WHERE id = 1 RETURNING bal');
  t.same(d.rows, [{ bal: 10 }]);
  t.same((await c.query('SELECT id, bal FROM acct ORDER BY id')).rows, [
    { id: 2, bal: 25 },
    { id: 3, bal: 35 },
  ]);
});

t.test('aggregates count/sum/avg/min/max follow PostgreSQL result types and ignore NULLs', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE agg (id int PRIMARY KEY, v int)');
  await c.query('INSERT INTO agg VALUES (1, 1), (2, 2), (3, NULL)');
  const r = await c.query('SELECT count(*) AS c, count(v) AS cv, sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi FROM agg');
  t.same(r.rows, [{ c: '3', cv: '2', s: '3', a: '1.5000000000000000', lo: 1, hi: 2 }]);
});

t.test('WHERE uses three-valued logic: NULL comparisons select nothing, IS NULL selects the NULLs', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE tri (id int PRIMARY KEY, v int)');
  await c.query('INSERT INTO tri VALUES (1, 1), (2, NULL)');
  t.same((await c.query('SELECT id FROM tri WHERE v <> 1')).rows, []);
  t.same((await c.query('SELECT id FROM tri WHERE NOT (v = 1)')).rows, []);
  t.same((await c.query('SELECT id FROM tri WHERE v IS NULL')).rows, [{ id: 2 }]);
  t.same((await c.query('SELECT id FROM tri WHERE v = 1 OR v IS NULL ORDER BY id')).rows, [{ id: 1 }, { id: 2 }]);
});

t.test('a prepared statement runs with new parameters each time and returns binary integers', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE prep (id bigint PRIMARY KEY, label text)');
  for (let i = 1; i <= 3; i++) await c.query({ name: 'ins', text: 'INSERT INTO prep VALUES ($1, $2)', values: [i, `l${i}`] });
  const binary = await c.query({ text: 'SELECT id, label FROM prep WHERE id = $1', values: [2], binary: true } as never);
  t.equal((binary as unknown as { fields: { format: string }[] }).fields[0]?.format, 'binary');
  const rows = (binary as unknown as { rows: { id: unknown; label: unknown }[] }).rows;
  t.equal(rows.length, 1);
  t.equal(Buffer.isBuffer(rows[0]?.id) ? (rows[0]?.id as Buffer).readBigInt64BE(0) : BigInt(String(rows[0]?.id)), 2n);
});

t.test('a duplicate primary key is SQLSTATE 23505 and changes nothing', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE uniq (id int PRIMARY KEY)');
  await c.query('INSERT INTO uniq VALUES (1)');
  const err = await failure(c.query('INSERT INTO uniq VALUES (2), (1)'));
  t.equal(err.code, '23505');
  t.same((await c.query('SELECT id FROM uniq')).rows, [{ id: 1 }], 'the row before the duplicate was not inserted either');
});

t.test('ON CONFLICT DO NOTHING skips existing keys and counts only inserted rows', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE oc (id int PRIMARY KEY, v text)');
  await c.query("INSERT INTO oc VALUES (1, 'a')");
  const r = await c.query("INSERT INTO oc VALUES (1, 'x'), (2, 'b') ON CONFLICT DO NOTHING");
  t.equal(r.rowCount, 1);
  t.same((await c.query('SELECT v FROM oc ORDER BY id')).rows, [{ v: 'a' }, { v: 'b' }]);
});

t.test('an undefined table is SQLSTATE 42P01', async (t) => {
  const c = await h.client();
  t.equal((await failure(c.query('SELECT * FROM no_such_table'))).code, '42P01');
});

t.test('a syntax error is SQLSTATE 42601 with a position', async (t) => {
  const c = await h.client();
  const err = await failure(c.query('SELEC 1'));
  t.equal(err.code, '42601');
  t.ok(Number(err.position) >= 1);
});

t.test('an unsupported feature is SQLSTATE 0A000 naming it', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE unsup (id int PRIMARY KEY, g int)');
  const err = await failure(c.query('SELECT g, rank() OVER (ORDER BY g) FROM unsup'));
  t.equal(err.code, '0A000');
  t.match(err.message, /window/i);
});

t.test('NOT NULL is enforced with SQLSTATE 23502', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE nn (id int PRIMARY KEY, v text NOT NULL)');
  t.equal((await failure(c.query('INSERT INTO nn VALUES (1, NULL)'))).code, '23502');
});

t.test('CREATE TABLE of an existing name is 42P07 and DROP TABLE IF EXISTS drops several tables', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE d1 (id int PRIMARY KEY)');
  await c.query('CREATE TABLE d2 (id int)');
  t.equal((await failure(c.query('CREATE TABLE d1 (x int)'))).code, '42P07');
  await c.query('DROP TABLE IF EXISTS d1, d2, d3');
  t.equal((await failure(c.query('SELECT * FROM d2'))).code, '42P01');
});

t.test('a table without a primary key keeps duplicate rows under hidden row ids', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE bag (v int)');
  await c.query('INSERT INTO bag VALUES (1), (1)');
  await c.query('INSERT INTO bag VALUES (1)');
  t.same((await c.query('SELECT count(*) AS n FROM bag WHERE v = 1')).rows, [{ n: '3' }]);
  t.equal((await c.query('DELETE FROM bag')).rowCount, 3);
});

t.test('a plan compiled before DROP TABLE fails with 42P01 instead of writing to the dropped table', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE gone (id int PRIMARY KEY)');
  await c.query({ name: 'ins_gone', text: 'INSERT INTO gone VALUES ($1)', values: [1] });
  await c.query('DROP TABLE gone');
  t.equal((await failure(c.query({ name: 'ins_gone', text: 'INSERT INTO gone VALUES ($1)', values: [2] }))).code, '42P01');
});

t.test('a BEGIN … COMMIT block in one message is one transaction: a later failure undoes earlier statements', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE blk (id int PRIMARY KEY)');
  const err = await failure(c.query('BEGIN; INSERT INTO blk VALUES (1); INSERT INTO blk VALUES (1); COMMIT;'));
  t.equal(err.code, '23505');
  t.same((await c.query('SELECT count(*) AS n FROM blk')).rows, [{ n: '0' }]);
  await c.query('BEGIN; INSERT INTO blk VALUES (1); INSERT INTO blk VALUES (2); COMMIT;');
  t.same((await c.query('SELECT count(*) AS n FROM blk')).rows, [{ n: '2' }]);
});

t.test('now() and CURRENT_TIMESTAMP are the batch timestamp, the same within one statement', async (t) => {
  const c = await h.client();
  const before = Date.now();
  const r = await c.query('SELECT now() AS a, CURRENT_TIMESTAMP AS b');
  const row = r.rows[0] as { a: Date; b: Date };
  t.equal(row.a.getTime(), row.b.getTime());
  t.ok(Math.abs(row.a.getTime() - before) < 60_000);
});

t.test('integer arithmetic is exact over int8 and overflow is 22003', async (t) => {
  const c = await h.client();
  t.same((await c.query('SELECT 9007199254740993::bigint + 1 AS n')).rows, [{ n: '9007199254740994' }]);
  t.equal((await failure(c.query('SELECT 9223372036854775807::bigint + 1'))).code, '22003');
});

t.test('SET, SHOW and RESET change and report a session setting', async (t) => {
  const c = await h.client();
  await c.query("SET application_name = 'tests'");
  t.same((await c.query('SHOW application_name')).rows, [{ application_name: 'tests' }]);
  await c.query('RESET application_name');
  t.same((await c.query('SHOW application_name')).rows, [{ application_name: '' }]);
  t.same((await c.query('SHOW server_version')).rows, [{ server_version: '15.0 (OrdoDB)' }]);
});

t.test('several statements in one Query message each return their result', async (t) => {
  const c = await h.client();
  const results = (await c.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as { rows: unknown[] }[];
  t.same(results.map((r) => r.rows), [[{ a: 1 }], [{ b: 2 }]]);
});

t.test('the parser runs once per statement shape: literals are lifted into the plan cache key', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE cache (id int PRIMARY KEY, v text)');
  const before = h.server.engine.stats.parses;
  for (let i = 0; i < 5; i++) await c.query(`INSERT INTO cache VALUES (${i}, 'v${i}')`);
  t.equal(h.server.engine.stats.parses - before, 1);
  t.same((await c.query('SELECT v FROM cache WHERE id = 3')).rows, [{ v: 'v3' }]);
});

t.test('a malformed message closes only that connection; another keeps working', async (t) => {
  const ok = await h.client();
  const bad = createConnection({ host: '127.0.0.1', port: h.server.port });
  await new Promise<void>((resolve) => bad.once('connect', () => resolve()));
  const closed = new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    bad.on('data', (d: Buffer) => chunks.push(d));
    bad.on('close', () => resolve(Buffer.concat(chunks)));
  });
  // A startup packet claiming protocol 3.0 but only 4 bytes long is not a valid packet.
  bad.write(Buffer.from([0, 0, 0, 4]));
  const reply = await closed;
  t.equal(String.fromCharCode(reply[0] ?? 0), 'E', 'the bad client gets an ErrorResponse before the close');
  t.same((await ok.query('SELECT 1 AS x')).rows, [{ x: 1 }]);
});
