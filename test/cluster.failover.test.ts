// SIGKILL of the leader process under a small write load on a 3-process cluster: a new leader commits
// within 2 s (default timing), no acknowledged transaction is lost, the killed node restarts from its
// data directory and catches up, and every node's state checksum agrees at the same log position.

import t from 'tap';
import { scratchDir } from './helpers.js';
import { ackedCount, client, everyNodeHolds, health, leaderOf, newLeaderCommitted, ordo, sleep, startCluster, startWriters, stopWriters, waitFor } from './fixtures/clusterSupport.js';

t.setTimeout(60_000);
/** What the issue demands with the default timing. */
const FAILOVER_LIMIT_MS = 2000;

const baseDir = scratchDir('ordo-failover-');
const file = await startCluster(baseDir);
t.teardown(async () => {
  await ordo(['cluster', 'stop', '--base-dir', baseDir]);
});

t.test('leader SIGKILL under load', async (t) => {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const clients = await Promise.all(file.nodes.map((n) => client(file, n)));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  await clients[0]?.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  const writers = startWriters(file.nodes, clients);
  await sleep(1000);

  const survivors = file.nodes.filter((n) => n !== leader);
  const before = await Promise.all(survivors.map((n) => health(file, n)));
  const oldTerm = Math.max(...before.map((h) => h?.cluster.term ?? 0));
  const commitAtKill = Math.max(...before.map((h) => h?.cluster.commit ?? 0));
  const ackedBeforeKill = ackedCount(writers);
  t.ok(ackedBeforeKill > 0, `${ackedBeforeKill} writes acknowledged before the kill`);
  const killedAt = performance.now();
  process.kill(leader.pid, 'SIGKILL');

  const newLeader = await newLeaderCommitted(file, survivors, oldTerm, commitAtKill);
  const failoverMs = performance.now() - killedAt;
  t.comment(`failover: ${newLeader.id} committed in a new term ${failoverMs.toFixed(0)} ms after the leader was killed`);
  t.ok(failoverMs < FAILOVER_LIMIT_MS, `a new leader commits within ${FAILOVER_LIMIT_MS} ms (took ${failoverMs.toFixed(0)} ms)`);

  // Writes resume through the survivors (a follower's forwarded ones included).
  const surviving = writers.filter((w) => w.node !== leader);
  const ackedAtFailover = ackedCount(surviving);
  await waitFor('writes to resume', async () => (ackedCount(surviving) > ackedAtFailover + 10 ? true : undefined), 10_000);
  await stopWriters(writers);
  t.comment(`errors seen by clients: ${writers.map((w) => `${w.node.id}=${w.errors}`).join(' ')}`);

  // The killed node restarts from its directory and catches up.
  const restart = await ordo(['cluster', 'start', '--base-dir', baseDir]);
  t.equal(restart.code, 0, restart.stderr);
  // Every node at the same position and checksum, and no acknowledged write is lost, on any node.
  await everyNodeHolds(t, file, writers.flatMap((w) => w.acked));
});
