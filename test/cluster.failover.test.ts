// SIGKILL of the leader process under a small write load on a 3-process cluster: a new leader commits
// within 2 s (default timing), no acknowledged transaction is lost, the killed node restarts from its
// data directory and catches up, and every node's state checksum agrees at the same log position.

import t from 'tap';
import type pg from 'pg';
import type { ClusterNodeRecord } from '../src/cli/cluster.js';
import { scratchDir } from './helpers.js';
import { client, converged, health, leaderOf, ordo, sleep, startCluster, waitFor } from './fixtures/clusterSupport.js';

t.setTimeout(60_000);
/** What the issue demands with the default timing. */
const FAILOVER_LIMIT_MS = 2000;

const baseDir = scratchDir('ordo-failover-');
const file = await startCluster(baseDir);
t.teardown(async () => {
  await ordo(['cluster', 'stop', '--base-dir', baseDir]);
});

interface Writer {
  readonly node: ClusterNodeRecord;
  readonly acked: number[];
  errors: number;
  stopped: boolean;
  done: Promise<void>;
}

/** Inserts distinct keys one at a time through `node`; records the acknowledged ones. */
function startWriter(c: pg.Client, node: ClusterNodeRecord, base: number): Writer {
  const w: Writer = { node, acked: [], errors: 0, stopped: false, done: Promise.resolve() };
  w.done = (async () => {
    for (let i = 0; !w.stopped; i++) {
      const k = base + i;
      try {
        await c.query('INSERT INTO kv VALUES ($1, $2)', [k, node.id]);
        w.acked.push(k);
      } catch (err) {
        w.errors++;
        // A connection to the killed node is gone for good; other errors (40001/40003) are retried with a new key.
        if ((err as { code?: string }).code === undefined) return;
      }
      await sleep(5);
    }
  })();
  return w;
}

t.test('leader SIGKILL under load', async (t) => {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const clients = await Promise.all(file.nodes.map((n) => client(file, n)));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  await clients[0]?.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  const writers = file.nodes.map((n, i) => {
    const c = clients[i];
    if (c === undefined) throw new Error('no client');
    return startWriter(c, n, (i + 1) * 1_000_000);
  });
  await sleep(1000);

  const survivors = file.nodes.filter((n) => n !== leader);
  const before = await Promise.all(survivors.map((n) => health(file, n)));
  const oldTerm = Math.max(...before.map((h) => h?.cluster.term ?? 0));
  const commitAtKill = Math.max(...before.map((h) => h?.cluster.commit ?? 0));
  const ackedBeforeKill = writers.reduce((n, w) => n + w.acked.length, 0);
  t.ok(ackedBeforeKill > 0, `${ackedBeforeKill} writes acknowledged before the kill`);
  const killedAt = performance.now();
  process.kill(leader.pid, 'SIGKILL');

  const newLeader = await waitFor(
    'a new leader to commit',
    async () => {
      for (const n of survivors) {
        const h = await health(file, n);
        if (h?.cluster.role === 'leader' && h.cluster.term > oldTerm && h.cluster.commit > commitAtKill) return n;
      }
      return undefined;
    },
    10_000,
    20,
  );
  const failoverMs = performance.now() - killedAt;
  t.comment(`failover: ${newLeader.id} committed in a new term ${failoverMs.toFixed(0)} ms after the leader was killed`);
  t.ok(failoverMs < FAILOVER_LIMIT_MS, `a new leader commits within ${FAILOVER_LIMIT_MS} ms (took ${failoverMs.toFixed(0)} ms)`);

  // Writes resume through the survivors (a follower's forwarded ones included).
  const ackedAtFailover = writers.filter((w) => w.node !== leader).reduce((n, w) => n + w.acked.length, 0);
  await waitFor('writes to resume', async () => (writers.filter((w) => w.node !== leader).reduce((n, w) => n + w.acked.length, 0) > ackedAtFailover + 10 ? true : undefined), 10_000);
  for (const w of writers) w.stopped = true;
  await Promise.all(writers.map((w) => w.done));
  t.comment(`errors seen by clients: ${writers.map((w) => `${w.node.id}=${w.errors}`).join(' ')}`);

  // The killed node restarts from its directory and catches up.
  const restart = await ordo(['cluster', 'start', '--base-dir', baseDir]);
  t.equal(restart.code, 0, restart.stderr);
  const { position, checksum } = await converged(file, 30_000);
  t.comment(`all three nodes at position ${position}, checksum ${checksum}`);

  // No acknowledged write is lost, on any node.
  const acked = writers.flatMap((w) => w.acked);
  for (const n of file.nodes) {
    const c = await client(file, n);
    const rows = (await c.query('SELECT k FROM kv')).rows as { k: number }[];
    await c.end();
    const present = new Set(rows.map((r) => r.k));
    const lost = acked.filter((k) => !present.has(k));
    t.same(lost, [], `${n.id} holds all ${acked.length} acknowledged writes (${present.size} rows)`);
  }
});
