// INSERT … SELECT and generate_series over node-postgres: rows from a table (WHERE, ORDER BY the key,
// LIMIT/OFFSET), from generate_series or from no table; SELECT from generate_series; the key sets such
// statements declare; and the bounds that keep one statement from running away.

import t from 'tap';
import { encodeRange } from '../src/partitions/index.js';
import { decodeLogEntry, encodeLogEntry, type LogEntry } from '../src/sequencer/index.js';
import { normalizeSingle, type ProgramPlan, type SplitStatement } from '../src/sql/index.js';
import { SqlEngine } from '../src/sql/engine.js';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows;

await c.query('CREATE TABLE src (id int PRIMARY KEY, name text, score int)');
await c.query("INSERT INTO src VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30), (4, 'd', 40), (5, 'e', 50)");

t.test('INSERT … SELECT copies the rows a WHERE clause picks, converting to the target columns', async (t) => {
  await c.query('CREATE TABLE dst1 (id bigint PRIMARY KEY, label text, score numeric(6,1))');
  const r = await c.query('INSERT INTO dst1 SELECT id, name, score FROM src WHERE score >= 30');
  t.equal(r.rowCount, 3);
  t.same(await rows('SELECT id, label, score FROM dst1 ORDER BY id'), [
    { id: '3', label: 'c', score: '30.0' },
    { id: '4', label: 'd', score: '40.0' },
    { id: '5', label: 'e', score: '50.0' },
  ]);
});

t.test('INSERT … SELECT … ORDER BY the key DESC LIMIT takes the last rows, OFFSET skips some', async (t) => {
  await c.query('CREATE TABLE dst2 (id int PRIMARY KEY, name text)');
  const r = await c.query('INSERT INTO dst2 (id, name) SELECT id, name FROM src ORDER BY id DESC LIMIT 2 OFFSET 1 RETURNING id');
  t.same(r.rows, [{ id: 4 }, { id: 3 }]);
  const w = await c.query('INSERT INTO dst2 SELECT id + 10, name FROM src WHERE score > 10 ORDER BY id LIMIT 2');
  t.equal(w.rowCount, 2);
  t.same(await rows('SELECT id FROM dst2 ORDER BY id'), [{ id: 3 }, { id: 4 }, { id: 12 }, { id: 13 }]);
});

t.test('INSERT … SELECT with ORDER BY another column than the key is refused with 0A000', async (t) => {
  await c.query('CREATE TABLE dst3 (id int PRIMARY KEY)');
  const err = await failure(c.query('INSERT INTO dst3 SELECT id FROM src ORDER BY score LIMIT 1'));
  t.equal(err.code, '0A000');
  t.match(err.message, /ORDER BY/);
});

t.test('INSERT … SELECT of a table into itself sees the rows as they were before the statement', async (t) => {
  await c.query('CREATE TABLE self (id int PRIMARY KEY, v int)');
  await c.query('INSERT INTO self VALUES (1, 1), (2, 2)');
  t.equal((await c.query('INSERT INTO self SELECT id + 2, v * 10 FROM self')).rowCount, 2);
  t.same(await rows('SELECT id, v FROM self ORDER BY id'), [
    { id: 1, v: 1 },
    { id: 2, v: 2 },
    { id: 3, v: 10 },
    { id: 4, v: 20 },
  ]);
});

t.test('a duplicate key from INSERT … SELECT is 23505 and inserts nothing; ON CONFLICT handles it', async (t) => {
  await c.query('CREATE TABLE dup (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO dup VALUES (3, 0)');
  t.equal((await failure(c.query('INSERT INTO dup SELECT id, score FROM src'))).code, '23505');
  t.same(await rows('SELECT id FROM dup'), [{ id: 3 }]);
  t.equal((await c.query('INSERT INTO dup SELECT id, score FROM src ON CONFLICT DO NOTHING')).rowCount, 4);
  await c.query('INSERT INTO dup SELECT id, score FROM src WHERE id <= 3 ON CONFLICT (id) DO UPDATE SET n = dup.n + excluded.n');
  t.same(await rows('SELECT id, n FROM dup ORDER BY id'), [
    { id: 1, n: 20 },
    { id: 2, n: 40 },
    { id: 3, n: 30 },
    { id: 4, n: 40 },
    { id: 5, n: 50 },
  ]);
});

t.test('INSERT … SELECT without FROM inserts one row', async (t) => {
  await c.query('CREATE TABLE one (id int PRIMARY KEY, s text)');
  await c.query("INSERT INTO one SELECT 7, 'seven'");
  t.same(await rows('SELECT id, s FROM one'), [{ id: 7, s: 'seven' }]);
});

t.test('INSERT … SELECT with aggregates, UNION or a join is refused with 0A000', async (t) => {
  await c.query('CREATE TABLE agg (n bigint)');
  for (const sql of ['INSERT INTO agg SELECT count(*) FROM src', 'INSERT INTO agg SELECT 1 UNION SELECT 2', 'INSERT INTO agg SELECT a.id FROM src a, src b']) {
    t.equal((await failure(c.query(sql))).code, '0A000', sql);
  }
});

t.test('INSERT … SELECT FROM generate_series fills a keyed table', async (t) => {
  await c.query('CREATE TABLE gs (id int PRIMARY KEY, sq bigint, label text)');
  const r = await c.query("INSERT INTO gs SELECT g, g * g, 'n' || g FROM generate_series(1, 5) AS g");
  t.equal(r.rowCount, 5);
  t.same(await rows('SELECT id, sq, label FROM gs WHERE id >= 4 ORDER BY id'), [
    { id: 4, sq: '16', label: 'n4' },
    { id: 5, sq: '25', label: 'n5' },
  ]);
});

t.test('generate_series with a step counts down and skips values', async (t) => {
  await c.query('CREATE TABLE steps (n int PRIMARY KEY)');
  await c.query('INSERT INTO steps SELECT * FROM generate_series(10, 1, -3)');
  t.same(await rows('SELECT n FROM steps ORDER BY n'), [{ n: 1 }, { n: 4 }, { n: 7 }, { n: 10 }]);
});

t.test('pgbench -I G: 100,000 generated accounts go into a keyless table in one statement', async (t) => {
  await c.query('CREATE TABLE accounts (aid int NOT NULL, bid int, abalance int, filler char(84))');
  const r = await c.query("INSERT INTO accounts (aid, bid, abalance, filler) SELECT aid, (aid - 1) / 100000 + 1, 0, '' FROM generate_series(1, 100000, 1) AS aid");
  t.equal(r.rowCount, 100_000);
  t.same(await rows('SELECT count(*) AS n, sum(aid) AS s, max(bid) AS b FROM accounts'), [{ n: '100000', s: '5000050000', b: 1 }]);
});

t.test('SELECT FROM generate_series returns the series, filtered, computed and aggregated', async (t) => {
  t.same(await rows('SELECT * FROM generate_series(1, 3)'), [{ generate_series: 1 }, { generate_series: 2 }, { generate_series: 3 }]);
  t.same(await rows('SELECT g, g * 2 AS twice FROM generate_series(1, 6) AS g WHERE g % 2 = 0 ORDER BY g DESC'), [
    { g: 6, twice: 12 },
    { g: 4, twice: 8 },
    { g: 2, twice: 4 },
  ]);
  t.same(await rows('SELECT x FROM generate_series(5, 6) AS s(x)'), [{ x: 5 }, { x: 6 }]);
  t.same(await rows('SELECT count(*) AS n, sum(g) AS s FROM generate_series(1, 100) AS g'), [{ n: '100', s: '5050' }]);
  t.same((await c.query({ text: 'SELECT g FROM generate_series($1, $2) AS g', values: [3, 4] })).rows, [{ g: '3' }, { g: '4' }], 'untyped parameters are bigint');
});

t.test('generate_series with a NULL bound is empty; a zero step is 22023', async (t) => {
  t.same(await rows('SELECT * FROM generate_series(1, NULL)'), []);
  t.equal((await failure(c.query('SELECT * FROM generate_series(1, 5, 0)'))).code, '22023');
});

t.test('generate_series of more than a million rows is refused with 54000 before it runs', async (t) => {
  await c.query('CREATE TABLE big (n bigint PRIMARY KEY)');
  const err = await failure(c.query('INSERT INTO big SELECT g FROM generate_series(1, 2000000) AS g'));
  t.equal(err.code, '54000');
  t.match(err.message, /generate_series/);
  t.equal((await failure(c.query('SELECT * FROM generate_series(-9223372036854775807, 9223372036854775807)'))).code, '54000');
});

t.test('generate_series in the select list or over numeric, and other functions in FROM, are 0A000', async (t) => {
  for (const sql of ['SELECT generate_series(1, 3)', 'SELECT * FROM generate_series(1.5, 3)', 'SELECT * FROM unnest(1)']) {
    t.equal((await failure(c.query(sql))).code, '0A000', sql);
  }
});

t.test('declared keys: a key set from generate_series is the range of its bounds; one read from a table is the whole target', async (t) => {
  await c.query('CREATE TABLE keys (id int PRIMARY KEY, tag text UNIQUE)');
  const engine = new SqlEngine(h.node);
  const plan = (sql: string): ProgramPlan => {
    const p = engine.prepare(normalizeSingle(sql) as SplitStatement).plan;
    if (p.kind !== 'program') throw new Error('not a program');
    return p;
  };
  const series = plan('INSERT INTO keys SELECT g, NULL FROM generate_series($1, $2) AS g').program.writes;
  t.equal(series.points.length, 0);
  t.same(
    series.ranges.map((r) => [r.index, r.lower.length, r.upper?.length]),
    [
      [0, 1, 1],
      [1, 0, undefined],
    ],
    'rows between the bounds; the unique index (fed from another column) whole',
  );
  const fromTable = plan('INSERT INTO keys SELECT id, name FROM src').program;
  t.same(
    fromTable.writes.ranges.map((r) => [r.index, r.lower.length, r.upper]),
    [
      [0, 0, null],
      [1, 0, null],
    ],
  );
  t.ok(fromTable.reads.ranges.some((r) => r.upper === null && r.lower.length === 0), 'the source table is read whole');
  const entry: LogEntry = {
    position: 9,
    kind: 'batch',
    batch: { epoch: 1, timestampMs: 1, txns: [{ txnId: 'x', user: 'u', kind: 'readWrite', program: plan('SELECT * FROM generate_series(1, 3, 2)').program, params: [1, 3, 2].map(BigInt), sql: '' }] },
  };
  t.same(decodeLogEntry(encodeLogEntry(entry), 9), entry, 'the series statement (log schema v6) round-trips');
  const values = plan("INSERT INTO keys VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET tag = excluded.tag").program.writes;
  t.equal(values.points.length, 2, 'the row and its unique entry are points');
  t.same(values.ranges.map((r) => r.index), [1], 'the entry a DO UPDATE moves depends on the old row: its index is a range');
});

t.test('a series inserted into a keyless table stores only its rows, each under the statement’s hidden ids', async (t) => {
  await c.query('CREATE TABLE hid (n int)');
  await c.query('INSERT INTO hid SELECT g FROM generate_series(1, 3) AS g');
  const id = h.node.catalog().tables.find((x) => x.name === 'hid')?.id ?? -1;
  const stored = [...h.node.partitionStore.scan(encodeRange(id, 0, [], true, null, false), false, 10)].map((r) => r.row.values);
  t.same(stored.map((v) => [v[0], v[2]]), [
    [1n, 0n],
    [2n, 1n],
    [3n, 2n],
  ]);
  t.equal(new Set(stored.map((v) => v[1])).size, 1);
});
