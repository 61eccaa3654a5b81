// Key sets from WHERE clauses (ADR 0007): a statement that does not fix the primary key scans only the
// part of the table its bounds on the first key column allow, and a constant compared with a key column
// becomes a key only when it has the column's own representation — never a wrong answer.

import t from 'tap';
import { evaluateKeySets } from '../src/executor/index.js';
import { encodeRange } from '../src/partitions/index.js';
import { normalizeSingle } from '../src/sql/index.js';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();
const engine = h.server.engine;

const ids = async (sql: string, params: unknown[] = []): Promise<number[]> => (await c.query(sql, params)).rows.map((r: { id: number }) => r.id);

function tableId(name: string): number {
  const table = h.node.catalog().tables.find((x) => x.name === name);
  if (table === undefined) throw new Error(`no table ${name}`);
  return table.id;
}

/** The encoded row ranges a simple-query statement declares (reads, then writes). */
function declaredRanges(sql: string): { reads: [Buffer, Buffer][]; writes: [Buffer, Buffer][] } {
  const st = normalizeSingle(sql);
  if (st === null) throw new Error(`not one statement: ${sql}`);
  const prepared = engine.prepare(st);
  if (prepared.plan.kind !== 'program') throw new Error('not a program');
  const declared = evaluateKeySets(prepared.plan.program, engine.bindLiterals(prepared));
  const pairs = (rs: readonly { lower: Uint8Array; upper: Uint8Array }[]): [Buffer, Buffer][] => rs.map((r) => [Buffer.from(r.lower), Buffer.from(r.upper)]);
  return { reads: pairs(declared.reads.ranges), writes: pairs(declared.writes.ranges) };
}

function range(table: string, lower: bigint[], lowerInclusive: boolean, upper: bigint[] | null, upperInclusive: boolean): [Buffer, Buffer] {
  const r = encodeRange(tableId(table), 0, lower, lowerInclusive, upper, upperInclusive);
  return [Buffer.from(r.lower), Buffer.from(r.upper)];
}

await c.query('CREATE TABLE r (id int PRIMARY KEY, v int)');
await c.query('INSERT INTO r SELECT g, 0 FROM generate_series(1, 10) g');
const all = Array.from({ length: 10 }, (_, i) => i + 1);

t.test('bounds on the key select the rows PostgreSQL selects at their edges, with the column on either side', async (t) => {
  const cases: [string, (id: number) => boolean][] = [
    ['id > 3', (id) => id > 3],
    ['id >= 3', (id) => id >= 3],
    ['3 < id AND id < 6', (id) => id > 3 && id < 6],
    ['6 >= id', (id) => id <= 6],
    ['id BETWEEN 4 AND 6', (id) => id >= 4 && id <= 6],
    ['id > 8 AND id > 2', (id) => id > 8],
    ['id > 2 AND id > 8', (id) => id > 8],
    ['id >= 5 AND id < 5', () => false],
    ['id BETWEEN 6 AND 4', () => false],
    ['id > 2 AND v = 0 AND id <= 4', (id) => id > 2 && id <= 4],
  ];
  for (const [where, expected] of cases) t.same(await ids(`SELECT id FROM r WHERE ${where} ORDER BY id`), all.filter(expected), where);
});

t.test('a SELECT over a key range reads only that range', async (t) => {
  t.same(declaredRanges('SELECT id FROM r WHERE id > 3 AND id <= 7').reads, [range('r', [3n], false, [7n], true)]);
  t.same(declaredRanges('SELECT id FROM r WHERE id BETWEEN 2 AND 5').reads, [range('r', [2n], true, [5n], true)]);
  t.same(declaredRanges('SELECT id FROM r WHERE v > 3').reads, [range('r', [], true, null, false)]);
});

t.test("an UPDATE's coarse program reads and writes only its key range", async (t) => {
  const declared = declaredRanges('UPDATE r SET v = v + 1 WHERE id >= 9');
  t.same(declared.reads, [range('r', [9n], true, null, false)]);
  t.same(declared.writes, [range('r', [9n], true, null, false)]);
  const r = await c.query('UPDATE r SET v = v + 1 WHERE id >= 9 RETURNING id');
  t.same(r.rows, [{ id: 9 }, { id: 10 }]);
});

t.test('a bound of NULL selects no row', async (t) => {
  t.same(await ids('SELECT id FROM r WHERE id > NULL'), []);
  t.equal((await c.query('UPDATE r SET v = 5 WHERE id < NULL')).rowCount, 0);
  t.same(await ids('SELECT id FROM r WHERE v = 5'), []);
});

t.test('a composite key with its first column fixed reads that prefix only', async (t) => {
  await c.query('CREATE TABLE ab (a int, b int, PRIMARY KEY (a, b))');
  await c.query('INSERT INTO ab VALUES (1, 1), (2, 1), (2, 2), (3, 1)');
  t.same(declaredRanges('SELECT b FROM ab WHERE a = 2').reads, [range('ab', [2n], true, [2n], true)]);
  t.same((await c.query('SELECT a, b FROM ab WHERE a = 2 ORDER BY b')).rows, [
    { a: 2, b: 1 },
    { a: 2, b: 2 },
  ]);
  t.same((await c.query('DELETE FROM ab WHERE a >= 2 AND b = 1 RETURNING a')).rows, [{ a: 2 }, { a: 3 }]);
});

t.test('an integer key compared with a float is compared by value, never found by a rounded key', async (t) => {
  t.same(await ids('SELECT id FROM r WHERE id = CAST(2.5 AS float8)'), []);
  t.same(await ids("SELECT id FROM r WHERE id = CAST('2.7' AS double precision)"), []);
  t.same(await ids('SELECT id FROM r WHERE id > CAST(9.5 AS float8)'), [10]);
  t.equal((await c.query('UPDATE r SET v = 7 WHERE id = CAST(2.5 AS float8)')).rowCount, 0);
});

t.test('a numeric key compared with a parameter of more fractional digits is refused, never rounded', async (t) => {
  await c.query('CREATE TABLE nk (k numeric(6,2) PRIMARY KEY)');
  await c.query('INSERT INTO nk VALUES (1.00), (1.01)');
  for (const sql of ['SELECT k FROM nk WHERE k = $1', 'SELECT k FROM nk WHERE k > $1']) t.equal((await failure(c.query(sql, ['1.005']))).code, '0A000', sql);
  t.same((await c.query('SELECT k FROM nk WHERE k > $1', ['1.00'])).rows, [{ k: '1.01' }]);
});
