// INSERT … ON CONFLICT over node-postgres: DO UPDATE with EXCLUDED, WHERE and RETURNING on the primary
// key or a UNIQUE constraint, PostgreSQL's refusal to affect a row twice in one statement (21000), and
// the conflict targets it accepts and refuses.

import t from 'tap';
import { encodeRange } from '../src/partitions/index.js';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows;

t.test('DO UPDATE updates the row a key conflicts with, inserts the others, and RETURNING shows both', async (t) => {
  await c.query('CREATE TABLE kv (k int PRIMARY KEY, v text, n int DEFAULT 0)');
  await c.query("INSERT INTO kv VALUES (1, 'a', 10)");
  const r = await c.query("INSERT INTO kv (k, v) VALUES (1, 'A'), (2, 'B') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = kv.n + 1 RETURNING k, v, n");
  t.equal(r.rowCount, 2);
  t.same(r.rows, [
    { k: 1, v: 'A', n: 11 },
    { k: 2, v: 'B', n: 0 },
  ]);
  t.same(await rows('SELECT k, v, n FROM kv ORDER BY k'), [
    { k: 1, v: 'A', n: 11 },
    { k: 2, v: 'B', n: 0 },
  ]);
});

t.test('DO UPDATE … WHERE false leaves the row alone and does not count it', async (t) => {
  await c.query('CREATE TABLE kw (k int PRIMARY KEY, v int)');
  await c.query('INSERT INTO kw VALUES (1, 5)');
  const r = await c.query('INSERT INTO kw VALUES (1, 7) ON CONFLICT (k) DO UPDATE SET v = excluded.v WHERE kw.v > 5');
  t.equal(r.rowCount, 0);
  t.same(await rows('SELECT v FROM kw'), [{ v: 5 }]);
  const r2 = await c.query('INSERT INTO kw VALUES (1, 7) ON CONFLICT (k) DO UPDATE SET v = excluded.v WHERE excluded.v > kw.v');
  t.equal(r2.rowCount, 1);
  t.same(await rows('SELECT v FROM kw'), [{ v: 7 }]);
});

t.test('a key proposed twice in one DO UPDATE statement is 21000 and changes nothing', async (t) => {
  await c.query('CREATE TABLE twice (k int PRIMARY KEY, v int)');
  await c.query('INSERT INTO twice VALUES (1, 0)');
  for (const sql of ['INSERT INTO twice VALUES (1, 1), (1, 2) ON CONFLICT (k) DO UPDATE SET v = excluded.v', 'INSERT INTO twice VALUES (5, 1), (5, 2) ON CONFLICT (k) DO UPDATE SET v = excluded.v']) {
    const err = await failure(c.query(sql));
    t.equal(err.code, '21000');
    t.match(err.message, /cannot affect row a second time/);
  }
  t.same(await rows('SELECT k, v FROM twice ORDER BY k'), [{ k: 1, v: 0 }]);
});

t.test('a proposal the WHERE clause skipped does not count as affecting the row', async (t) => {
  await c.query('CREATE TABLE skip (k int PRIMARY KEY, v int)');
  await c.query('INSERT INTO skip VALUES (1, 0)');
  await c.query('INSERT INTO skip VALUES (1, -1), (1, 9) ON CONFLICT (k) DO UPDATE SET v = excluded.v WHERE excluded.v > 0');
  t.same(await rows('SELECT v FROM skip'), [{ v: 9 }]);
});

t.test('DO NOTHING keeps the first of two proposals of one key', async (t) => {
  await c.query('CREATE TABLE dn (k int PRIMARY KEY, v int)');
  const r = await c.query('INSERT INTO dn VALUES (1, 1), (1, 2) ON CONFLICT DO NOTHING');
  t.equal(r.rowCount, 1);
  t.same(await rows('SELECT v FROM dn'), [{ v: 1 }]);
});

t.test('an upsert after an insert of the same key in one transaction updates it', async (t) => {
  await c.query('CREATE TABLE blk (k int PRIMARY KEY, v int)');
  await c.query('BEGIN; INSERT INTO blk VALUES (1, 1); INSERT INTO blk VALUES (1, 2) ON CONFLICT (k) DO UPDATE SET v = blk.v + excluded.v; COMMIT');
  t.same(await rows('SELECT v FROM blk'), [{ v: 3 }]);
});

t.test('the stored rows carry no trace of the statement that upserted them', async (t) => {
  await c.query('CREATE TABLE trace (k int PRIMARY KEY, v int)');
  await c.query('INSERT INTO trace VALUES (1, 1)');
  await c.query('INSERT INTO trace VALUES (1, 2), (2, 2) ON CONFLICT (k) DO UPDATE SET v = excluded.v');
  const id = h.node.catalog().tables.find((x) => x.name === 'trace')?.id ?? -1;
  const stored = [...h.node.partitionStore.scan(encodeRange(id, 0, [], true, null, false), false, 10)].map((r) => r.row.values);
  t.same(stored, [
    [1n, 2n],
    [2n, 2n],
  ]);
});

t.test('ON CONFLICT on a UNIQUE column updates the row its entry points at', async (t) => {
  await c.query('CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, visits int)');
  await c.query("INSERT INTO users VALUES (1, 'a@x', 1)");
  const r = await c.query("INSERT INTO users VALUES (2, 'a@x', 1), (3, 'b@x', 1) ON CONFLICT (email) DO UPDATE SET visits = users.visits + 1 RETURNING id, email, visits");
  t.same(r.rows, [
    { id: 1, email: 'a@x', visits: 2 },
    { id: 3, email: 'b@x', visits: 1 },
  ]);
});

t.test('DO UPDATE that changes the conflict column moves its index entry', async (t) => {
  await c.query('CREATE TABLE handles (id int PRIMARY KEY, h text UNIQUE)');
  await c.query("INSERT INTO handles VALUES (1, 'old')");
  await c.query("INSERT INTO handles VALUES (9, 'old') ON CONFLICT (h) DO UPDATE SET h = 'new'");
  await c.query("INSERT INTO handles VALUES (2, 'old')");
  t.equal((await failure(c.query("INSERT INTO handles VALUES (3, 'new')"))).code, '23505');
  t.same(await rows('SELECT id, h FROM handles ORDER BY id'), [
    { id: 1, h: 'new' },
    { id: 2, h: 'old' },
  ]);
});

t.test('DO UPDATE refuses with 21000 a second proposal that finds a row the statement moved to its key', async (t) => {
  await c.query('CREATE TABLE moved (id int PRIMARY KEY, h text UNIQUE)');
  await c.query("INSERT INTO moved VALUES (1, 'a')");
  t.equal((await failure(c.query("INSERT INTO moved VALUES (5, 'a'), (6, 'b') ON CONFLICT (h) DO UPDATE SET h = 'b'"))).code, '21000');
});

t.test('ON CONFLICT ON CONSTRAINT names the arbiter', async (t) => {
  await c.query('CREATE TABLE oc (id int PRIMARY KEY, code text, CONSTRAINT oc_code UNIQUE (code))');
  await c.query("INSERT INTO oc VALUES (1, 'x')");
  await c.query("INSERT INTO oc VALUES (2, 'x') ON CONFLICT ON CONSTRAINT oc_code DO NOTHING");
  await c.query("INSERT INTO oc VALUES (1, 'z') ON CONFLICT ON CONSTRAINT oc_pkey DO UPDATE SET code = excluded.code");
  t.same(await rows('SELECT id, code FROM oc'), [{ id: 1, code: 'z' }]);
  t.equal((await failure(c.query("INSERT INTO oc VALUES (1, 'z') ON CONFLICT ON CONSTRAINT nope DO NOTHING"))).code, '42704');
});

t.test('DO NOTHING without a target skips a conflict on any unique constraint', async (t) => {
  await c.query('CREATE TABLE any1 (id int PRIMARY KEY, code text UNIQUE)');
  await c.query("INSERT INTO any1 VALUES (1, 'x')");
  const r = await c.query("INSERT INTO any1 VALUES (2, 'x'), (3, 'y') ON CONFLICT DO NOTHING");
  t.equal(r.rowCount, 1);
});

t.test('a conflict on another constraint than the target is still 23505', async (t) => {
  await c.query('CREATE TABLE other (id int PRIMARY KEY, code text UNIQUE)');
  await c.query("INSERT INTO other VALUES (1, 'x')");
  t.equal((await failure(c.query("INSERT INTO other VALUES (2, 'x') ON CONFLICT (id) DO NOTHING"))).code, '23505');
  t.equal((await failure(c.query("INSERT INTO other VALUES (2, 'x') ON CONFLICT (id) DO UPDATE SET code = 'z'"))).code, '23505');
});

t.test('an updated row must still pass CHECK and UNIQUE', async (t) => {
  await c.query('CREATE TABLE chk (id int PRIMARY KEY, n int CHECK (n < 10), tag text UNIQUE)');
  await c.query("INSERT INTO chk VALUES (1, 9, 'a'), (2, 0, 'b')");
  t.equal((await failure(c.query('INSERT INTO chk VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = chk.n + 1'))).code, '23514');
  t.equal((await failure(c.query("INSERT INTO chk VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET tag = 'b'"))).code, '23505');
});

t.test('conflict targets that name no constraint, or none at all for DO UPDATE, are refused like PostgreSQL', async (t) => {
  await c.query('CREATE TABLE tg (id int PRIMARY KEY, v int)');
  t.equal((await failure(c.query('INSERT INTO tg VALUES (1, 1) ON CONFLICT (v) DO NOTHING'))).code, '42P10');
  t.equal((await failure(c.query('INSERT INTO tg VALUES (1, 1) ON CONFLICT DO UPDATE SET v = 2'))).code, '42601');
  const partial = await failure(c.query('INSERT INTO tg VALUES (1, 1) ON CONFLICT (id) WHERE v > 0 DO NOTHING'));
  t.equal(partial.code, '0A000');
  t.match(partial.message, /ON CONFLICT/);
});

t.test('a prepared upsert takes its values as parameters', async (t) => {
  await c.query('CREATE TABLE prep (k text PRIMARY KEY, hits int)');
  const upsert = { name: 'hit', text: 'INSERT INTO prep VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET hits = prep.hits + $2 RETURNING hits' };
  const hits: unknown[] = [];
  for (const [k, by] of [['a', 1], ['a', 5], ['b', 1]] as const) hits.push((await c.query({ ...upsert, values: [k, by] })).rows[0]);
  t.same(hits, [{ hits: 1 }, { hits: 6 }, { hits: 1 }]);
});

t.test('an upsert in an interactive transaction is re-run at COMMIT on the committed row', async (t) => {
  await c.query('CREATE TABLE it (k int PRIMARY KEY, n int)');
  await c.query('INSERT INTO it VALUES (1, 1)');
  const other = await h.client();
  await c.query('BEGIN');
  await c.query('INSERT INTO it VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET n = it.n + 1');
  await other.query('UPDATE it SET n = 100 WHERE k = 1');
  await c.query('COMMIT');
  t.same(await rows('SELECT n FROM it'), [{ n: 101 }]);
});
