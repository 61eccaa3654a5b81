// A 3-process cluster (`ordo cluster start`, real gRPC, real LMDB): writes on the leader and on a
// follower (forwarded) replicate to every node; reads on any node are linearizable (read index);
// `cluster status --json` reports the nodes; a data directory of this cluster is refused by a node
// started with another cluster id.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from './helpers.js';
import { client, converged, leaderOf, ordo, startCluster, waitFor } from './fixtures/clusterSupport.js';

t.setTimeout(60_000);

const baseDir = scratchDir('ordo-cluster-');
const file = await startCluster(baseDir);
t.teardown(async () => {
  await ordo(['cluster', 'stop', '--base-dir', baseDir]);
});

t.test('cluster status --json lists every node with its role and ports', async (t) => {
  const r = await ordo(['cluster', 'status', '--base-dir', baseDir, '--json']);
  t.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as { nodes: { id: string; pid: number; role: string; pgPort: number; term: number; commit: number; applied: number }[] };
  t.same(status.nodes.map((n) => n.id), ['n1', 'n2', 'n3']);
  t.equal(status.nodes.filter((n) => n.role === 'leader').length, 1, 'exactly one leader');
  for (const n of status.nodes) {
    t.ok(n.pid > 0 && n.pgPort > 0, `${n.id} has a pid and a Postgres port`);
    t.type(n.term, 'number');
  }
});

t.test('writes on the leader and on a follower replicate; every node serves them', async (t) => {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const follower = file.nodes.find((n) => n.id !== leader.id);
  if (follower === undefined) throw new Error('no follower');
  const onLeader = await client(file, leader);
  const onFollower = await client(file, follower);
  t.teardown(async () => {
    await onLeader.end();
    await onFollower.end();
  });
  await onFollower.query('CREATE TABLE kv (k int PRIMARY KEY, v text)'); // DDL forwarded too
  for (let i = 0; i < 10; i++) {
    await onLeader.query('INSERT INTO kv VALUES ($1, $2)', [i, `leader-${i}`]);
    await onFollower.query('INSERT INTO kv VALUES ($1, $2)', [100 + i, `follower-${i}`]);
  }
  await onFollower.query("UPDATE kv SET v = 'updated' WHERE k = 3");
  const { position, checksum } = await converged(file);
  t.ok(position >= 22, `all nodes at position ${position}`);
  t.match(checksum, /^[0-9a-f]{32}$/);
  for (const n of file.nodes) {
    const c = await client(file, n);
    const rows = (await c.query('SELECT k, v FROM kv ORDER BY k')).rows as { k: number; v: string }[];
    await c.end();
    t.equal(rows.length, 20, `${n.id} holds every row`);
    t.equal(rows.find((r) => r.k === 3)?.v, 'updated', `${n.id} applied the follower's update`);
  }
});

t.test('a read on any node sees every write acknowledged before it began (read index, no waiting)', async (t) => {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const clients = await Promise.all(file.nodes.map((n) => client(file, n)));
  t.teardown(async () => {
    for (const c of clients) await c.end();
  });
  await clients[0]?.query('CREATE TABLE IF NOT EXISTS raw (k int PRIMARY KEY, v int)');
  for (let i = 0; i < 12; i++) {
    const writer = clients[i % clients.length];
    const reader = clients[(i + 1) % clients.length];
    await writer?.query('INSERT INTO raw VALUES ($1, $2)', [i, i * 10]);
    const rows = (await reader?.query('SELECT v FROM raw WHERE k = $1', [i]))?.rows as { v: number }[] | undefined;
    t.same(rows, [{ v: i * 10 }], `write ${i} on ${file.nodes[i % 3]?.id} is read at once on ${file.nodes[(i + 1) % 3]?.id} (leader ${leader.id})`);
  }
});

t.test('after stop, the logs are identical and another cluster id is refused', async (t) => {
  const stop = await ordo(['cluster', 'stop', '--base-dir', baseDir]);
  t.equal(stop.code, 0, stop.stderr);
  const dumps: string[] = [];
  for (const n of file.nodes) {
    const r = await ordo(['checksum', '--data-dir', n.dataDir]);
    t.equal(r.code, 0, r.stderr);
    dumps.push(r.stdout);
  }
  t.equal(new Set(dumps).size, 1, `every node has the same applied position and checksum: ${dumps[0] ?? ''}`);
  // The input logs are identical, Raft's own entries included (as control noops).
  const logs = await Promise.all(file.nodes.map(async (n) => (await ordo(['log', 'dump', '--data-dir', n.dataDir])).stdout));
  t.ok((logs[0] ?? '').length > 0, 'the log dumps');
  t.equal(new Set(logs).size, 1, 'every node has the same input log');
  const node = file.nodes[0];
  if (node === undefined) throw new Error('no node');
  const args = [...node.args];
  args[args.indexOf('--cluster-id') + 1] = 'another-cluster';
  const r = await ordo(args, 20_000);
  t.not(r.code, 0, 'refuses to start');
  t.match(r.stderr, /cluster/i, 'says why');
  t.match(readFileSync(join(node.dataDir, '..', 'ordo.log'), 'utf8'), /OrdoDB is running/);
});
