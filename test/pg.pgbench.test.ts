// The real /usr/bin/pgbench against an in-process node: unmodified initialization (drop, create with
// fillfactor, client-side COPY, vacuum, ALTER TABLE … ADD PRIMARY KEY) and bounded runs of the built-in tpcb-like script (interactive
// transactions, 40001 retried), of -S and of a one-shot script sending the whole tpcb-like
// transaction as one compound statement. Every run must leave balances that add up.

import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { harness } from './pg.support.js';
import { scratchDir } from './helpers.js';

const run = promisify(execFile);
const PGBENCH = '/usr/bin/pgbench';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

async function pgbench(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(PGBENCH, ['-h', '127.0.0.1', '-p', String(h.server.port), '-U', 'postgres', ...args, 'postgres'], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
      timeout: 60_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : -1 };
  }
}

async function sum(client: pg.Client, sql: string): Promise<bigint> {
  const v = (client.query(sql) as Promise<pg.QueryResult<{ s: string | null }>>).then((r) => r.rows[0]?.s ?? '0');
  return BigInt(await v);
}

interface Totals {
  readonly accounts: bigint;
  readonly tellers: bigint;
  readonly branches: bigint;
}

async function totals(): Promise<Totals> {
  return {
    accounts: await sum(c, 'SELECT sum(abalance) AS s FROM pgbench_accounts'),
    tellers: await sum(c, 'SELECT sum(tbalance) AS s FROM pgbench_tellers'),
    branches: await sum(c, 'SELECT sum(bbalance) AS s FROM pgbench_branches'),
  };
}

/** pgbench truncates pgbench_history before each run, so the history holds exactly this run's deltas. */
async function assertBalancesAddUp(t: Test, before: Totals, transactions: number): Promise<void> {
  const after = await totals();
  const history = await sum(c, 'SELECT sum(delta) AS s FROM pgbench_history');
  const rows = (await c.query('SELECT count(*) AS n FROM pgbench_history')).rows[0] as { n: string };
  t.equal(Number(rows.n), transactions, 'one history row per transaction');
  t.equal(after.accounts - before.accounts, history, 'account total changed by the sum of the deltas');
  t.equal(after.tellers - before.tellers, history, 'teller total changed by the sum of the deltas');
  t.equal(after.branches - before.branches, history, 'branch total changed by the sum of the deltas');
}

const processed = (out: string): string | undefined => /number of transactions actually processed: (\d+\/\d+)/.exec(out)?.[1];

t.test('pgbench -i -s 1 runs unmodified: drop, create (with fillfactor), client-side COPY, vacuum, primary keys', async (t) => {
  const r = await pgbench('-i', '-s', '1');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /100000 of 100000 tuples \(100%\) done/);
  t.match(r.stderr, /creating primary keys\.\.\./);
  t.same((await c.query('SELECT count(*) AS n FROM pgbench_accounts')).rows, [{ n: '100000' }]);
  t.same((await c.query('SELECT count(*) AS n, sum(tbalance) AS s FROM pgbench_tellers')).rows, [{ n: '10', s: '0' }]);
  t.same((await c.query('SELECT count(*) AS n FROM pgbench_branches')).rows, [{ n: '1' }]);
  const keys = Object.fromEntries(h.node.catalog().tables.map((x) => [x.name, x.primaryKey.map((i) => x.columns[i]?.name)]));
  t.same(keys, { pgbench_history: [], pgbench_tellers: ['tid'], pgbench_accounts: ['aid'], pgbench_branches: ['bid'] });
  t.same((await c.query('SELECT abalance FROM pgbench_accounts WHERE aid = 77777')).rows, [{ abalance: 0 }]);
});

t.test('pgbench -i again (its drop step) replaces the keyed tables', async (t) => {
  const r = await pgbench('-i', '-s', '1');
  t.equal(r.code, 0, r.stderr);
  t.same((await c.query('SELECT count(*) AS n FROM pgbench_accounts')).rows, [{ n: '100000' }]);
});

t.test('the built-in tpcb-like script runs as interactive transactions with --max-tries and the balances add up', async (t) => {
  const before = await totals();
  const r = await pgbench('-c', '4', '-t', '25', '--max-tries=10');
  t.equal(r.code, 0, r.stderr);
  t.equal(processed(r.stdout), '100/100', r.stdout);
  t.match(r.stdout, /number of failed transactions: 0 /);
  await assertBalancesAddUp(t, before, 100);
});

t.test('select-only (-S) runs and changes no balance', async (t) => {
  const before = await totals();
  const r = await pgbench('-S', '-c', '2', '-t', '100');
  t.equal(r.code, 0, r.stderr);
  t.equal(processed(r.stdout), '200/200', r.stdout);
  t.same(await totals(), before);
});

t.test('a one-shot script sending the tpcb-like transaction as one compound statement runs and the balances add up', async (t) => {
  const script = join(scratchDir('ordo-pgbench-'), 'oneshot.sql');
  writeFileSync(
    script,
    [
      '\\set aid random(1, 100000 * :scale)',
      '\\set bid random(1, 1 * :scale)',
      '\\set tid random(1, 10 * :scale)',
      '\\set delta random(-5000, 5000)',
      'BEGIN \\; UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid \\; ' +
        'SELECT abalance FROM pgbench_accounts WHERE aid = :aid \\; ' +
        'UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid \\; ' +
        'UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid \\; ' +
        'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP) \\; END;',
      '',
    ].join('\n'),
  );
  const before = await totals();
  const r = await pgbench('-f', script, '-c', '4', '-t', '25');
  t.equal(r.code, 0, r.stderr);
  t.equal(processed(r.stdout), '100/100', r.stdout);
  await assertBalancesAddUp(t, before, 100);
});

t.test('the tpcb-like script over the extended protocol (-M prepared) runs and the balances add up', async (t) => {
  const before = await totals();
  const r = await pgbench('-M', 'prepared', '-c', '2', '-t', '25', '--max-tries=10');
  t.equal(r.code, 0, r.stderr);
  t.equal(processed(r.stdout), '50/50', r.stdout);
  await assertBalancesAddUp(t, before, 50);
});
