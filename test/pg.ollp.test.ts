// OLLP over node-postgres (ADR 0007): an UPDATE or DELETE whose WHERE does not fix the primary key is
// predicted by a reconnaissance read, submitted declaring exactly the predicted rows, re-checked at its
// log position, and retried by the gateway while the prediction is stale — never seen by the client.
// Stale predictions are made deterministically: the test holds the predicted submission back until a
// concurrent write has committed, so the write precedes it in the log.

import t, { type Test } from 'tap';
import type pg from 'pg';
import { evaluateKeySets } from '../src/executor/index.js';
import type { TxnResult } from '../src/node/index.js';
import { encodeKey, encodeRange } from '../src/partitions/index.js';
import type { TxnRequest } from '../src/sequencer/index.js';
import { EngineDefaults, normalizeSingle, type SplitStatement } from '../src/sql/index.js';
import { OllpLimits, predictedPlan } from '../src/sql/compile.js';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();
const other = await h.client();
const engine = h.server.engine;

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows;

const submit = h.node.submit.bind(h.node);
type Submit = (txn: TxnRequest) => Promise<TxnResult>;

/** Routes every submission through `fn` (given the real submit) for the rest of the test. */
function intercept(t: Test, fn: (txn: TxnRequest, forward: Submit) => Promise<TxnResult>): void {
  h.node.submit = (txn) => fn(txn, submit);
  t.teardown(() => {
    h.node.submit = submit;
  });
}

/** Runs `sql` on the other session (committing it) just before the first prediction for `table` is submitted. */
function beforeFirstPrediction(t: Test, table: string, sql: string): void {
  let injected = false;
  intercept(t, async (txn, forward) => {
    if (!injected && isPrediction(txn, table)) {
      injected = true;
      await other.query(sql);
    }
    return forward(txn);
  });
}

/** A submission of a statement on `table` that declares its rows as predicted points, not its whole row range. */
function isPrediction(txn: TxnRequest, table: string): boolean {
  return new RegExp(`^(UPDATE|DELETE FROM) ${table} `, 'i').test(txn.sql) && !txn.program.writes.ranges.some((r) => r.index === 0);
}

function statement(sql: string): SplitStatement {
  const st = normalizeSingle(sql);
  if (st === null) throw new Error(`not one statement: ${sql}`);
  return st;
}

function tableId(name: string): number {
  const table = h.node.catalog().tables.find((x) => x.name === name);
  if (table === undefined) throw new Error(`no table ${name}`);
  return table.id;
}

/** A table `name (id int PRIMARY KEY, grp int, v int)` with rows 1..n, row i in group i % groups. */
async function groups(name: string, n: number, groupCount: number): Promise<void> {
  await c.query(`CREATE TABLE ${name} (id int PRIMARY KEY, grp int, v int)`);
  await c.query(`INSERT INTO ${name} SELECT g, g % ${groupCount}, 0 FROM generate_series(1, ${n}) g`);
}

function counters(): { predictions: number; stale: number; coarse: number } {
  return { predictions: engine.stats.predictions, stale: engine.stats.stalePredictions, coarse: engine.stats.coarseFallbacks };
}

function since(before: ReturnType<typeof counters>): ReturnType<typeof counters> {
  const now = counters();
  return { predictions: now.predictions - before.predictions, stale: now.stale - before.stale, coarse: now.coarse - before.coarse };
}

t.test('an UPDATE with a non-key predicate updates exactly the rows that satisfy it, through one prediction', async (t) => {
  await groups('u1', 10, 3);
  const before = counters();
  const r = await c.query('UPDATE u1 SET v = v + 5 WHERE grp = 1 RETURNING id');
  t.equal(r.rowCount, 4);
  t.same(r.rows, [{ id: 1 }, { id: 4 }, { id: 7 }, { id: 10 }]);
  t.same(await rows('SELECT id FROM u1 WHERE v = 5 ORDER BY id'), [{ id: 1 }, { id: 4 }, { id: 7 }, { id: 10 }]);
  t.same(await rows('SELECT count(*) AS n FROM u1 WHERE v = 0'), [{ n: '6' }]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('a prepared UPDATE is predicted with its own parameters before the predicted keys', async (t) => {
  await groups('x1', 8, 4);
  const before = counters();
  const sql = 'UPDATE x1 SET v = v + $1 WHERE grp = $2 RETURNING id, v';
  t.same((await c.query(sql, [3, 1])).rows, [
    { id: 1, v: 3 },
    { id: 5, v: 3 },
  ]);
  t.same((await c.query(sql, [4, 2])).rows, [
    { id: 2, v: 4 },
    { id: 6, v: 4 },
  ]);
  t.same(since(before), { predictions: 2, stale: 0, coarse: 0 });
});

t.test('a DELETE with a non-key predicate deletes exactly the rows that satisfy it', async (t) => {
  await groups('d1', 9, 3);
  const before = counters();
  const r = await c.query('DELETE FROM d1 WHERE grp = 0 OR id = 1');
  t.equal(r.rowCount, 4);
  t.same(await rows('SELECT id FROM d1 ORDER BY id'), [{ id: 2 }, { id: 4 }, { id: 5 }, { id: 7 }, { id: 8 }]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('a statement that affects no row is predicted as no row and affects none', async (t) => {
  await groups('z1', 5, 2);
  const before = counters();
  const r = await c.query('UPDATE z1 SET v = 1 WHERE grp = 7');
  t.equal(r.rowCount, 0);
  t.same(await rows('SELECT count(*) AS n FROM z1 WHERE v = 1'), [{ n: '0' }]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('the submitted program declares the predicted rows as written points and the table as a read range only', async (t) => {
  await groups('k1', 8, 4);
  const seen: TxnRequest[] = [];
  intercept(t, (txn, forward) => {
    if (isPrediction(txn, 'k1')) seen.push(txn);
    return forward(txn);
  });
  await c.query('UPDATE k1 SET v = 1 WHERE grp = 2');
  t.equal(seen.length, 1);
  const txn = seen[0] as TxnRequest;
  const declared = evaluateKeySets(txn.program, txn.params);
  const id = tableId('k1');
  t.same(declared.writes.points.map((k) => Buffer.from(k)), [encodeKey(id, 0, [2n]), encodeKey(id, 0, [6n])]);
  t.same(declared.writes.ranges, []);
  t.same(declared.reads.ranges.map((r) => [Buffer.from(r.lower), Buffer.from(r.upper)]), [Object.values(encodeRange(id, 0, [], true, null, false))]);
});

t.test('a primary-key range predicate is predicted as the points in the range and reads that range only', async (t) => {
  await groups('k2', 10, 2);
  const prepared = engine.prepare(statement('UPDATE k2 SET v = v + 1 WHERE id BETWEEN 3 AND 5'));
  const plan = prepared.plan;
  if (plan.kind !== 'program' || plan.ollp === undefined) throw new Error('expected a plan with OLLP');
  const predicted = predictedPlan(plan, plan.ollp, 3);
  const params = [...engine.bindLiterals(prepared), 3n, 4n, 5n];
  t.equal(predicted.params.length, params.length);
  const declared = evaluateKeySets(predicted.program, params);
  const id = tableId('k2');
  t.same(declared.writes.points.map((k) => Buffer.from(k)), [3n, 4n, 5n].map((k) => encodeKey(id, 0, [k])));
  t.same(declared.writes.ranges, []);
  const read = encodeRange(id, 0, [3n], true, [5n], true);
  t.same(declared.reads.ranges.map((r) => [Buffer.from(r.lower), Buffer.from(r.upper)]), [[read.lower, read.upper]]);
  const r = await c.query('UPDATE k2 SET v = v + 1 WHERE id BETWEEN 3 AND 5');
  t.equal(r.rowCount, 3);
  t.same(await rows('SELECT id FROM k2 WHERE v = 1 ORDER BY id'), [{ id: 3 }, { id: 4 }, { id: 5 }]);
});

t.test('a statement whose WHERE fixes the primary key keeps its point program, without a prediction', async (t) => {
  await groups('p1', 4, 2);
  const plan = engine.prepare(statement('UPDATE p1 SET v = v + 1 WHERE id = 2')).plan;
  t.equal(plan.kind === 'program' ? plan.ollp : 'not a program', undefined);
  const before = counters();
  await c.query('UPDATE p1 SET v = v + 1 WHERE id = 2');
  t.same(since(before), { predictions: 0, stale: 0, coarse: 0 });
});

t.test('concurrent UPDATEs on disjoint non-key predicates all succeed and all take effect', async (t) => {
  await groups('cc', 12, 2);
  const rounds = 15;
  const before = counters();
  const run = async (client: pg.Client, grp: number): Promise<number[]> => {
    const counts: number[] = [];
    for (let i = 0; i < rounds; i++) counts.push((await client.query(`UPDATE cc SET v = v + 1 WHERE grp = ${grp}`)).rowCount ?? -1);
    return counts;
  };
  const [a, b] = await Promise.all([run(c, 0), run(other, 1)]);
  t.same(a, Array.from({ length: rounds }, () => 6));
  t.same(b, Array.from({ length: rounds }, () => 6));
  t.same(await rows(`SELECT count(*) AS n FROM cc WHERE v = ${rounds}`), [{ n: '12' }]);
  // Neither statement changes the other's predicate column, so no prediction can go stale.
  t.same(since(before), { predictions: 2 * rounds, stale: 0, coarse: 0 });
});

t.test('a row that comes to satisfy the predicate before the statement runs is updated too, after an invisible retry', async (t) => {
  await groups('s1', 6, 3);
  beforeFirstPrediction(t, 's1', 'UPDATE s1 SET grp = 1 WHERE id = 3');
  const before = counters();
  const r = await c.query('UPDATE s1 SET v = v + 1 WHERE grp = 1 RETURNING id');
  // Serially, the other write comes first: rows 1, 3 and 4 are in group 1 when the UPDATE runs.
  t.same(r.rows, [{ id: 1 }, { id: 3 }, { id: 4 }]);
  t.same(await rows('SELECT id, grp, v FROM s1 WHERE v > 0 ORDER BY id'), [
    { id: 1, grp: 1, v: 1 },
    { id: 3, grp: 1, v: 1 },
    { id: 4, grp: 1, v: 1 },
  ]);
  t.same(since(before), { predictions: 2, stale: 1, coarse: 0 });
});

t.test('a row that stops satisfying the predicate before the statement runs is left alone, after an invisible retry', async (t) => {
  await groups('s2', 6, 3);
  beforeFirstPrediction(t, 's2', 'UPDATE s2 SET grp = 9 WHERE id = 1');
  const before = counters();
  const r = await c.query('DELETE FROM s2 WHERE grp = 1');
  t.equal(r.rowCount, 1);
  t.same(await rows('SELECT id, grp FROM s2 ORDER BY id'), [
    { id: 1, grp: 9 },
    { id: 2, grp: 2 },
    { id: 3, grp: 0 },
    { id: 5, grp: 2 },
    { id: 6, grp: 0 },
  ]);
  t.same(since(before), { predictions: 2, stale: 1, coarse: 0 });
});

t.test('a row leaving the predicate while another joins it, keeping the count, is caught and retried', async (t) => {
  await groups('s5', 6, 3);
  beforeFirstPrediction(t, 's5', 'BEGIN; UPDATE s5 SET grp = 9 WHERE id = 1; UPDATE s5 SET grp = 1 WHERE id = 2; COMMIT');
  const before = counters();
  const r = await c.query('UPDATE s5 SET v = v + 1 WHERE grp = 1 RETURNING id');
  t.same(r.rows, [{ id: 2 }, { id: 4 }]);
  t.same(await rows('SELECT id FROM s5 WHERE v = 1 ORDER BY id'), [{ id: 2 }, { id: 4 }]);
  t.same(since(before), { predictions: 2, stale: 1, coarse: 0 });
});

t.test('a change to a selected row that keeps it selected does not make the prediction stale', async (t) => {
  await groups('s3', 6, 3);
  beforeFirstPrediction(t, 's3', 'UPDATE s3 SET v = 100 WHERE id = 1');
  const before = counters();
  const r = await c.query('UPDATE s3 SET v = v + 1 WHERE grp = 1 RETURNING id, v');
  t.same(r.rows, [
    { id: 1, v: 101 },
    { id: 4, v: 1 },
  ]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('after the last stale prediction the coarse program runs, and the client sees only its result', async (t) => {
  await groups('s4', 4, 2);
  let next = 100;
  intercept(t, async (txn, forward) => {
    // Every prediction goes stale: a new row joins the group before the predicted program is sequenced.
    if (isPrediction(txn, 's4')) await other.query(`INSERT INTO s4 VALUES (${next++}, 1, 0)`);
    return forward(txn);
  });
  const before = counters();
  const r = await c.query('UPDATE s4 SET v = v + 1 WHERE grp = 1');
  const attempts = EngineDefaults.predictionAttempts;
  t.equal(r.rowCount, 2 + attempts);
  t.same(await rows('SELECT count(*) AS n FROM s4 WHERE grp = 1 AND v = 1'), [{ n: String(2 + attempts) }]);
  t.same(since(before), { predictions: attempts, stale: attempts, coarse: 1 });
});

t.test('a statement affecting more rows than a prediction holds runs its coarse program without predicting', async (t) => {
  const n = OllpLimits.maxPredictedRows + 1;
  await groups('big', n, 1);
  const before = counters();
  const r = await c.query('UPDATE big SET v = 1 WHERE grp = 0');
  t.equal(r.rowCount, n);
  t.same(await rows('SELECT count(*) AS n FROM big WHERE v = 1'), [{ n: String(n) }]);
  t.same(since(before), { predictions: 0, stale: 0, coarse: 1 });
});

t.test('a statement in a one-message block is predicted on the state the earlier statements leave', async (t) => {
  await groups('b1', 6, 3);
  const before = counters();
  await c.query('BEGIN; UPDATE b1 SET grp = 1 WHERE id = 3; UPDATE b1 SET v = 7 WHERE grp = 1; DELETE FROM b1 WHERE v = 7 AND id > 3; COMMIT');
  t.same(await rows('SELECT id, grp, v FROM b1 ORDER BY id'), [
    { id: 1, grp: 1, v: 7 },
    { id: 2, grp: 2, v: 0 },
    { id: 3, grp: 1, v: 7 },
    { id: 5, grp: 2, v: 0 },
    { id: 6, grp: 0, v: 0 },
  ]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('a block predicts rows an earlier statement inserts into a keyless table by the ids they will have', async (t) => {
  await c.query('CREATE TABLE nb (a int, b text)');
  await c.query("INSERT INTO nb VALUES (1, 'old')");
  const before = counters();
  const r = await c.query("BEGIN; INSERT INTO nb VALUES (1, 'new'), (2, 'other'); UPDATE nb SET b = b || '!' WHERE a = 1; COMMIT");
  t.equal((r as unknown as pg.QueryResult[])[2]?.rowCount, 2);
  t.same(await rows('SELECT a, b FROM nb ORDER BY b'), [
    { a: 1, b: 'new!' },
    { a: 1, b: 'old!' },
    { a: 2, b: 'other' },
  ]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test("a keyless table's rows are predicted by their hidden row ids", async (t) => {
  await c.query('CREATE TABLE nk (a int, b text)');
  await c.query("INSERT INTO nk VALUES (1, 'x'), (2, 'y'), (1, 'z')");
  const before = counters();
  const r = await c.query("UPDATE nk SET b = b || '!' WHERE a = 1");
  t.equal(r.rowCount, 2);
  t.same(await rows('SELECT a, b FROM nk ORDER BY b'), [
    { a: 1, b: 'x!' },
    { a: 2, b: 'y' },
    { a: 1, b: 'z!' },
  ]);
  t.same(since(before), { predictions: 1, stale: 0, coarse: 0 });
});

t.test('a predicted UPDATE that breaks a UNIQUE constraint fails with 23505 and changes nothing', async (t) => {
  await c.query('CREATE TABLE uq (id int PRIMARY KEY, grp int, u int UNIQUE)');
  await c.query('INSERT INTO uq VALUES (1, 1, 10), (2, 1, 11), (3, 2, 12)');
  const err = await failure(c.query('UPDATE uq SET u = u + 1 WHERE grp = 1'));
  t.equal(err.code, '23505');
  t.same(await rows('SELECT id, u FROM uq ORDER BY id'), [
    { id: 1, u: 10 },
    { id: 2, u: 11 },
    { id: 3, u: 12 },
  ]);
  const r = await c.query('UPDATE uq SET u = u + 10 WHERE grp = 1');
  t.equal(r.rowCount, 2);
  t.same(await rows('SELECT id FROM uq WHERE u = 21'), [{ id: 2 }]);
});
