// Data definition over node-postgres (ADR 0008): ALTER TABLE's column actions rewrite the rows at the
// entry's log position, sequences hand out values at the transaction's log position, schemas and
// databases are what there is of them — and a restarted node and a replay of the log agree.

import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { openNode } from '../src/node/index.js';
import { encodeRange } from '../src/partitions/index.js';
import { SqlEngine, startPgServer } from '../src/sql/index.js';
import type { Value } from '../src/partitions/index.js';
import { compiledItem, failure, harness } from './pg.support.js';
import { scratchDir } from './helpers.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows as unknown[];

/** Every stored row of a table's primary index, as the store holds it. */
function stored(name: string): (readonly Value[])[] {
  const table = h.node.catalog().tables.find((x) => x.name === name);
  if (table === undefined) throw new Error(`no table ${name}`);
  const out: (readonly Value[])[] = [];
  for (const { row } of h.node.partitionStore.scan(encodeRange(table.id, 0, [], true, null, false), false, 1_000_000)) out.push(row.values);
  return out;
}

t.test('ADD COLUMN: existing rows read the default (or NULL), new rows take it', async (t) => {
  await c.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await c.query("INSERT INTO items VALUES (1, 'a'), (2, 'b')");
  t.equal((await c.query('ALTER TABLE items ADD COLUMN qty int DEFAULT 5 NOT NULL')).command, 'ALTER');
  await c.query('ALTER TABLE items ADD note text');
  t.same(await rows('SELECT * FROM items ORDER BY id'), [
    { id: 1, name: 'a', qty: 5, note: null },
    { id: 2, name: 'b', qty: 5, note: null },
  ]);
  t.same(stored('items'), [[1n, 'a', 5n, null], [2n, 'b', 5n, null]], 'the rows were rewritten at the ALTER');
  await c.query("INSERT INTO items (id, name) VALUES (3, 'c')");
  t.same(await rows('SELECT qty, note FROM items WHERE id = 3'), [{ qty: 5, note: null }]);
  t.match(await failure(c.query("INSERT INTO items (id, name, qty) VALUES (4, 'd', NULL)")), { code: '23502' });
  t.match(await failure(c.query('ALTER TABLE items ADD COLUMN qty int')), { code: '42701', message: 'column "qty" of relation "items" already exists' });
  t.equal((await c.query('ALTER TABLE items ADD COLUMN IF NOT EXISTS qty int')).command, 'ALTER');
  t.match(await failure(c.query('ALTER TABLE items ADD COLUMN must int NOT NULL')), { code: '23502', message: 'column "must" of relation "items" contains null values' });
  t.match(await failure(c.query('ALTER TABLE nosuch ADD COLUMN x int')), { code: '42P01' });
  t.equal((await c.query('ALTER TABLE IF EXISTS nosuch ADD COLUMN x int')).command, 'ALTER');
});

t.test('ADD COLUMN with a CHECK: the default is checked against the existing rows', async (t) => {
  await c.query('CREATE TABLE chk (id int PRIMARY KEY)');
  await c.query('INSERT INTO chk VALUES (1)');
  t.match(await failure(c.query('ALTER TABLE chk ADD COLUMN p int DEFAULT 0 CHECK (p > 0)')), {
    code: '23514',
    message: 'check constraint "chk_p_check" of relation "chk" is violated by some row',
  });
  t.same(await rows('SELECT * FROM chk'), [{ id: 1 }], 'nothing changed');
  await c.query('ALTER TABLE chk ADD COLUMN p int DEFAULT 1 CHECK (p > 0)');
  t.match(await failure(c.query('INSERT INTO chk VALUES (2, -1)')), { code: '23514', message: /"chk_p_check"/ });
  await c.query('INSERT INTO chk VALUES (2, 7)');
  t.same(await rows('SELECT * FROM chk ORDER BY id'), [{ id: 1, p: 1 }, { id: 2, p: 7 }]);
});

t.test('DROP COLUMN: rows lose the value, its constraints go with it; keyless tables keep their hidden ids', async (t) => {
  await c.query('CREATE TABLE d (a int, b text UNIQUE, c int CHECK (c > 0))');
  await c.query("INSERT INTO d VALUES (1, 'x', 1), (2, 'y', 2)");
  await c.query('ALTER TABLE d DROP COLUMN b');
  t.same(await rows('SELECT * FROM d ORDER BY a'), [{ a: 1, c: 1 }, { a: 2, c: 2 }]);
  t.equal(stored('d')[0]?.length, 4, 'two columns and the two hidden row id parts');
  t.same(h.node.catalog().tables.find((x) => x.name === 'd')?.uniques, undefined, 'the UNIQUE went with its column');
  await c.query('UPDATE d SET c = 5 WHERE a = 2');
  await c.query('DELETE FROM d WHERE a = 1');
  t.same(await rows('SELECT * FROM d'), [{ a: 2, c: 5 }]);
  await c.query('ALTER TABLE d DROP COLUMN c');
  await c.query('INSERT INTO d VALUES (3)');
  t.same(await rows('SELECT a FROM d ORDER BY a'), [{ a: 2 }, { a: 3 }]);
  t.match(await failure(c.query('ALTER TABLE d DROP COLUMN nope')), { code: '42703', message: 'column "nope" of relation "d" does not exist' });
  t.equal((await c.query('ALTER TABLE d DROP COLUMN IF EXISTS nope')).command, 'ALTER');
  t.match(await failure(c.query('ALTER TABLE d DROP COLUMN a')), { code: '0A000' }, 'a table keeps a column');
  await c.query('CREATE TABLE dk (id int PRIMARY KEY, v int)');
  t.match(await failure(c.query('ALTER TABLE dk DROP COLUMN id')), { code: '0A000' }, 'a primary key column stays');
});

t.test('RENAME COLUMN, RENAME TO, SET/DROP DEFAULT, SET/DROP NOT NULL', async (t) => {
  await c.query('CREATE TABLE r1 (id int PRIMARY KEY, v int CHECK (v < 100))');
  await c.query('INSERT INTO r1 VALUES (1, 10), (2, NULL)');
  await c.query('ALTER TABLE r1 RENAME COLUMN v TO w');
  t.same(await rows('SELECT w FROM r1 ORDER BY id'), [{ w: 10 }, { w: null }]);
  t.match(await failure(c.query('SELECT v FROM r1')), { code: '42703' });
  t.match(await failure(c.query('INSERT INTO r1 VALUES (3, 500)')), { code: '23514' }, 'the CHECK follows the rename');
  t.match(await failure(c.query('ALTER TABLE r1 RENAME COLUMN nope TO x')), { code: '42703' });
  t.match(await failure(c.query('ALTER TABLE r1 RENAME COLUMN w TO id')), { code: '42701' });
  await c.query('ALTER TABLE r1 RENAME TO r2');
  t.match(await failure(c.query('SELECT * FROM r1')), { code: '42P01' });
  t.equal((await rows('SELECT * FROM r2')).length, 2);
  await c.query('CREATE TABLE r3 (x int)');
  t.match(await failure(c.query('ALTER TABLE r2 RENAME TO r3')), { code: '42P07' });

  await c.query('ALTER TABLE r2 ALTER COLUMN w SET DEFAULT 7');
  await c.query('INSERT INTO r2 (id) VALUES (3)');
  await c.query('ALTER TABLE r2 ALTER COLUMN w DROP DEFAULT');
  await c.query('INSERT INTO r2 (id) VALUES (4)');
  t.same(await rows('SELECT id, w FROM r2 WHERE id >= 3 ORDER BY id'), [{ id: 3, w: 7 }, { id: 4, w: null }]);

  const version = h.node.catalogVersion;
  t.match(await failure(c.query('ALTER TABLE r2 ALTER COLUMN w SET NOT NULL')), { code: '23502', message: 'column "w" of relation "r2" contains null values' });
  t.equal(h.node.catalogVersion, version, 'a failed SET NOT NULL changes nothing');
  await c.query('DELETE FROM r2 WHERE w IS NULL');
  await c.query('ALTER TABLE r2 ALTER COLUMN w SET NOT NULL');
  t.match(await failure(c.query('INSERT INTO r2 (id) VALUES (5)')), { code: '23502' });
  await c.query('ALTER TABLE r2 ALTER COLUMN w DROP NOT NULL');
  await c.query('INSERT INTO r2 (id) VALUES (5)');
  t.match(await failure(c.query('ALTER TABLE r2 ALTER COLUMN id DROP NOT NULL')), { code: '42P16' });
});

t.test('several actions in one ALTER apply together or not at all', async (t) => {
  await c.query('CREATE TABLE multi (id int PRIMARY KEY, a int, b int)');
  await c.query('INSERT INTO multi VALUES (1, 1, NULL)');
  await c.query("ALTER TABLE multi ADD COLUMN c text DEFAULT 'c', DROP COLUMN a");
  t.same(await rows('SELECT * FROM multi'), [{ id: 1, b: null, c: 'c' }]);
  t.match(await failure(c.query('ALTER TABLE multi ADD COLUMN d int, ALTER COLUMN b SET NOT NULL')), { code: '23502' });
  t.same(await rows('SELECT * FROM multi'), [{ id: 1, b: null, c: 'c' }], 'the ADD COLUMN did not happen either');
});

t.test('a plan compiled before an ALTER never runs against the new shape', async (t) => {
  await c.query('CREATE TABLE shape (id int PRIMARY KEY, a int, b int)');
  await c.query('INSERT INTO shape VALUES (1, 10, 20)');
  const engine = new SqlEngine(h.node);
  const item = (sql: string): ReturnType<typeof compiledItem> => compiledItem(engine, sql);
  const staleInsert = item('INSERT INTO shape VALUES (2, 11, 21)');
  const staleSelect = item('SELECT b FROM shape WHERE id = 1');
  await c.query('ALTER TABLE shape DROP COLUMN a');
  await t.rejects(engine.runTransaction([staleInsert], 'postgres'), { code: '40001', message: /relation "shape" was altered after this statement was planned/ });
  await t.rejects(engine.runTransaction([staleSelect], 'postgres'), { code: '40001' });
  t.same(stored('shape'), [[1n, 20n]], 'no row of the old shape was written');
  // Named prepared statements re-plan against the new catalog.
  const sel = { name: 'shape_sel', text: 'SELECT * FROM shape WHERE id = $1' };
  t.same((await c.query({ ...sel, values: [1] })).rows, [{ id: 1, b: 20 }]);
  await c.query('ALTER TABLE shape ADD COLUMN z int DEFAULT 3');
  t.same((await c.query({ ...sel, values: [1] })).rows, [{ id: 1, b: 20, z: 3 }]);
});

t.test('sequences: CREATE SEQUENCE options, nextval, currval in its transaction, setval, DROP', async (t) => {
  t.equal((await c.query('CREATE SEQUENCE s1')).command, 'CREATE');
  t.same(await rows("SELECT nextval('s1') AS v"), [{ v: '1' }]);
  t.same(await rows("SELECT nextval('s1') AS v"), [{ v: '2' }]);
  t.same(await rows("SELECT nextval('public.s1') AS a, nextval('S1') AS b"), [{ a: '3', b: '4' }]);
  await c.query('CREATE SEQUENCE s2 START WITH 10 INCREMENT BY 5 MAXVALUE 20 CACHE 10');
  t.same(await rows("SELECT nextval('s2') AS a, nextval('s2') AS b, nextval('s2') AS c"), [{ a: '10', b: '15', c: '20' }]);
  t.match(await failure(c.query("SELECT nextval('s2')")), { code: '2200H', message: 'nextval: reached maximum value of sequence "s2" (20)' });
  await c.query('CREATE SEQUENCE s3 INCREMENT -1 MINVALUE 1 MAXVALUE 3 CYCLE');
  const down = [];
  for (let i = 0; i < 4; i++) down.push(((await rows("SELECT nextval('s3') AS v"))[0] as { v: string }).v);
  t.same(down, ['3', '2', '1', '3'], 'a descending cycle');

  t.match(await failure(c.query("SELECT currval('s1')")), { code: '55000' }, 'currval before nextval in the transaction');
  t.same(await rows("SELECT nextval('s1') AS n, currval('s1') AS c"), [{ n: '5', c: '5' }]);
  const both = await c.query("SELECT nextval('s1') AS n; SELECT currval('s1') AS c");
  t.same((both as unknown as pg.QueryResult[]).map((r) => r.rows[0]), [{ n: '6' }, { c: '6' }], 'currval sees the nextval of an earlier statement of its transaction');

  t.same(await rows("SELECT setval('s1', 100) AS v"), [{ v: '100' }]);
  t.same(await rows("SELECT nextval('s1') AS v"), [{ v: '101' }]);
  await c.query("SELECT setval('s1', 50, false)");
  t.same(await rows("SELECT nextval('s1') AS v"), [{ v: '50' }]);
  t.match(await failure(c.query("SELECT setval('s2', 99)")), { code: '22003', message: 'setval: value 99 is out of bounds for sequence "s2" (1..20)' });

  t.match(await failure(c.query("SELECT nextval('nosuch')")), { code: '42P01', message: 'relation "nosuch" does not exist' });
  t.match(await failure(c.query('CREATE SEQUENCE s1')), { code: '42P07' });
  t.equal((await c.query('CREATE SEQUENCE IF NOT EXISTS s1')).command, 'CREATE');
  t.match(await failure(c.query('CREATE SEQUENCE items')), { code: '42P07' }, 'tables and sequences share one namespace');
  t.match(await failure(c.query('CREATE SEQUENCE bad INCREMENT 0')), { code: '22023' });
  t.match(await failure(c.query('CREATE SEQUENCE bad MINVALUE 5 MAXVALUE 1')), { code: '22023' });
  t.match(await failure(c.query('CREATE SEQUENCE bad START 0')), { code: '22023' });

  await c.query('DROP SEQUENCE s2, s3');
  t.match(await failure(c.query("SELECT nextval('s2')")), { code: '42P01' });
  t.match(await failure(c.query('DROP SEQUENCE s2')), { code: '42P01' });
  t.equal((await c.query('DROP SEQUENCE IF EXISTS s2')).command, 'DROP');
  // Per row of a scan they are not supported (the query engine refuses them, as unsupported or unknown).
  t.match(await failure(c.query("SELECT nextval('s1') FROM items")), { code: /^(0A000|42883)$/ });
});

t.test('SERIAL, BIGSERIAL, SMALLSERIAL and DEFAULT nextval: values at the log position, RETURNING them', async (t) => {
  await c.query('CREATE TABLE ser (id serial PRIMARY KEY, big bigserial, small smallserial, name text)');
  const r = await c.query("INSERT INTO ser (name) VALUES ('a'), ('b') RETURNING id, big, small");
  t.same(r.rows, [{ id: 1, big: '1', small: 1 }, { id: 2, big: '2', small: 2 }]);
  t.same(h.node.catalog().sequences?.map((q) => q.name).filter((n) => n.startsWith('ser_')), ['ser_id_seq', 'ser_big_seq', 'ser_small_seq']);
  await c.query("INSERT INTO ser (id, name) VALUES (10, 'explicit')");
  t.same(await rows("SELECT id FROM ser WHERE name = 'explicit'"), [{ id: 10 }]);
  t.same((await c.query("INSERT INTO ser (name) VALUES ('c') RETURNING id")).rows, [{ id: 3 }], 'an explicit value does not advance the sequence');
  t.same((await c.query("INSERT INTO ser VALUES (DEFAULT, DEFAULT, DEFAULT, 'd') RETURNING id")).rows, [{ id: 4 }]);
  t.same(await rows("SELECT currval('ser_id_seq')").catch(() => 'failed'), 'failed', 'currval is per transaction');
  t.same((await c.query("INSERT INTO ser (name) VALUES ('e'); SELECT currval('ser_id_seq') AS c") as unknown as pg.QueryResult[])[1]?.rows, [{ c: '5' }]);

  await c.query('CREATE SEQUENCE shared START 100');
  await c.query("CREATE TABLE dflt (id bigint DEFAULT nextval('shared') PRIMARY KEY, v text)");
  t.same((await c.query("INSERT INTO dflt (v) VALUES ('x') RETURNING id")).rows, [{ id: '100' }]);
  t.match(await failure(c.query('DROP SEQUENCE shared')), { code: '2BP01' }, 'a default depends on it');

  // DROP TABLE drops the sequences its columns own.
  await c.query('DROP TABLE ser');
  t.notOk(h.node.catalog().sequences?.some((q) => q.name === 'ser_id_seq'));
  t.match(await failure(c.query("SELECT nextval('ser_id_seq')")), { code: '42P01' });
});

t.test('GENERATED ALWAYS / BY DEFAULT AS IDENTITY', async (t) => {
  await c.query('CREATE TABLE ga (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)');
  await c.query('CREATE TABLE gd (id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 10 INCREMENT BY 10) PRIMARY KEY, v text)');
  t.same((await c.query("INSERT INTO ga (v) VALUES ('a') RETURNING id")).rows, [{ id: 1 }]);
  t.match(await failure(c.query("INSERT INTO ga (id, v) VALUES (5, 'b')")), { code: '428C9', message: 'cannot insert a non-DEFAULT value into column "id"' });
  t.same((await c.query("INSERT INTO ga (id, v) OVERRIDING SYSTEM VALUE VALUES (5, 'b') RETURNING id")).rows, [{ id: 5 }]);
  t.match(await failure(c.query('UPDATE ga SET id = 7 WHERE id = 5')), { code: '428C9' });
  t.same((await c.query("INSERT INTO gd (v) VALUES ('a'), ('b') RETURNING id")).rows, [{ id: '10' }, { id: '20' }]);
  t.same((await c.query("INSERT INTO gd (id, v) VALUES (5, 'c') RETURNING id")).rows, [{ id: '5' }]);
  t.equal(h.node.catalog().tables.find((x) => x.name === 'ga')?.columns[0]?.identity, 'always');
});

t.test('ADD COLUMN serial numbers the existing rows in key order', async (t) => {
  await c.query('CREATE TABLE late (k text PRIMARY KEY)');
  await c.query("INSERT INTO late VALUES ('c'), ('a'), ('b')");
  await c.query('ALTER TABLE late ADD COLUMN n serial');
  t.same(await rows('SELECT k, n FROM late ORDER BY k'), [{ k: 'a', n: 1 }, { k: 'b', n: 2 }, { k: 'c', n: 3 }]);
  t.same((await c.query("INSERT INTO late VALUES ('d') RETURNING n")).rows, [{ n: 4 }]);
  await c.query('ALTER TABLE late DROP COLUMN n');
  t.notOk(h.node.catalog().sequences?.some((q) => q.name === 'late_n_seq'), 'the owned sequence went with its column');
});

t.test('concurrent inserts through several connections get distinct ids', async (t) => {
  await c.query('CREATE TABLE conc (id bigserial PRIMARY KEY, client int)');
  const clients = await Promise.all([1, 2, 3, 4].map(() => h.client()));
  const ids = (
    await Promise.all(
      clients.flatMap((cl, n) => Array.from({ length: 25 }, () => cl.query('INSERT INTO conc (client) VALUES ($1) RETURNING id', [n]))),
    )
  ).map((r) => Number((r.rows[0] as { id: string }).id));
  t.equal(new Set(ids).size, 100, 'no id twice');
  t.same([...ids].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1), 'no gaps either: nothing aborted');
});

t.test('schemas and databases', async (t) => {
  t.equal((await c.query('CREATE SCHEMA IF NOT EXISTS public')).command, 'CREATE');
  t.match(await failure(c.query('CREATE SCHEMA public')), { code: '42P06' });
  t.match(await failure(c.query('CREATE SCHEMA app')), { code: '0A000' });
  t.match(await failure(c.query('DROP SCHEMA public')), { code: '0A000' });
  t.match(await failure(c.query('DROP SCHEMA app')), { code: '3F000' });
  t.equal((await c.query('DROP SCHEMA IF EXISTS app')).command, 'DROP');
  await c.query('CREATE TABLE public.qual (id int PRIMARY KEY)');
  await c.query('INSERT INTO public.qual VALUES (1)');
  t.same(await rows('SELECT id FROM public.qual'), [{ id: 1 }]);
  await c.query('ALTER TABLE public.qual ADD COLUMN v int');
  await c.query('DROP TABLE public.qual');
  t.match(await failure(c.query('CREATE TABLE app.t (id int)')), { code: '3F000', message: 'schema "app" does not exist' });
  t.match(await failure(c.query('CREATE DATABASE other')), { code: '0A000', message: /CREATE DATABASE is not supported/ });
  t.match(await failure(c.query('DROP DATABASE other')), { code: '0A000' });
  t.match(await failure(c.query('DROP DATABASE IF EXISTS other')), { code: '0A000' });
});

t.test('a restarted node and a replay of the log reach the same schema, data and checksum', async (t) => {
  const dataDir = scratchDir('ordo-ddl-');
  let node = openNode({ dataDir, epochMs: 1, checksumEveryPositions: 2 });
  let server = await startPgServer({ node, port: 0 });
  let client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  await client.query('CREATE TABLE acc (id serial PRIMARY KEY, owner text, bal int)');
  await client.query("INSERT INTO acc (owner, bal) VALUES ('a', 1), ('b', 2)");
  await client.query('ALTER TABLE acc ADD COLUMN created date DEFAULT now()');
  await client.query('ALTER TABLE acc DROP COLUMN bal');
  await client.query('ALTER TABLE acc RENAME COLUMN owner TO who');
  await client.query('CREATE SEQUENCE tickets START 7');
  await client.query("SELECT nextval('tickets')");
  await client.query("INSERT INTO acc (who) VALUES ('c')");
  const before = (await client.query('SELECT id, who, created FROM acc ORDER BY id')).rows;
  await client.end();
  await server.close();
  const position = node.appliedPosition;
  const checksum = node.checksum;
  const catalog = node.catalog();
  await node.close();

  node = openNode({ dataDir, epochMs: 1, checksumEveryPositions: 2 });
  t.same(node.catalog(), catalog, 'the restarted node has the same catalog');
  server = await startPgServer({ node, port: 0 });
  client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  t.same((await client.query('SELECT id, who, created FROM acc ORDER BY id')).rows, before);
  t.same((await client.query("SELECT nextval('tickets') AS v")).rows, [{ v: '8' }], 'the sequence continues');
  t.same((await client.query("INSERT INTO acc (who) VALUES ('d') RETURNING id")).rows, [{ id: 4 }]);
  await client.end();
  await server.close();
  const finalPosition = node.appliedPosition;
  const finalChecksum = node.checksum;
  await node.close();
  t.ok(position > 0 && checksum !== '');

  const into = join(scratchDir(), 'replayed');
  const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'replay', '--data-dir', dataDir, '--into', into]);
  const out = JSON.parse(stdout) as { appliedPosition: number; checksum: string };
  t.equal(out.appliedPosition, finalPosition);
  t.equal(out.checksum, finalChecksum, 'the replay reaches the same state checksum');
});
