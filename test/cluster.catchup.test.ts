// Followers that fall behind on a 3-process cluster (`ordo cluster start`, real gRPC, real LMDB): one
// SIGKILLed under load (writes go on without it, it restarts and catches up), and one stopped while
// many writes commit (it restarts with a lagging log and catches up from the leader's retained log).
// Every acknowledged write ends up on every node and the state checksums agree at the same position.
// Also bad input at the node level: a running node refuses Raft messages from a node it does not know
// and from another cluster id, and forwarded writes from a stranger.

import t from 'tap';
import { GrpcTransport, ForwardClient } from '../src/rpc/index.js';
import { isNodeRunning, type ClusterNodeRecord } from '../src/cli/cluster.js';
import { MessageType, type Message } from '../src/sequencer/raft/index.js';
import {
  ackedCount,
  client,
  everyNodeHolds,
  health,
  leaderOf,
  startCluster,
  startKvCluster,
  startWriters,
  stopWriters,
  waitFor,
} from './fixtures/clusterSupport.js';

t.setTimeout(90_000);

const cluster = await startKvCluster(t, 'ordo-catchup-');
const baseDir = cluster.baseDir;
/** Re-read after every restart: a restarted node has a new pid. */
let file = cluster.file;

async function aFollower(): Promise<{ leader: ClusterNodeRecord; follower: ClusterNodeRecord }> {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const follower = file.nodes.find((n) => n.id !== leader.id);
  if (follower === undefined) throw new Error('no follower');
  return { leader, follower };
}

t.test('a follower SIGKILLed under load: writes go on, it restarts, catches up and holds every acknowledged write', async (t) => {
  const { follower } = await aFollower();
  const clients = await Promise.all(file.nodes.map((n) => client(file, n)));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  const writers = startWriters(file.nodes, clients);
  await waitFor('writes before the kill', async () => (ackedCount(writers) > 30 ? true : undefined));

  process.kill(follower.pid, 'SIGKILL');
  const surviving = writers.filter((w) => w.node !== follower);
  const ackedAtKill = ackedCount(surviving);
  await waitFor('writes to go on without the follower', async () => (ackedCount(surviving) > ackedAtKill + 50 ? true : undefined));
  await stopWriters(writers);

  file = await startCluster(baseDir);
  await everyNodeHolds(t, file, writers.flatMap((w) => w.acked));
});

t.test('a follower stopped while many writes commit restarts with a lagging log and catches up', async (t) => {
  const { leader, follower } = await aFollower();
  process.kill(follower.pid, 'SIGTERM');
  await waitFor('the follower to stop', async () => (isNodeRunning(follower) ? undefined : true));
  const before = await health(file, leader);

  // 100 statements of 50 rows each, through the leader and the other follower.
  const writersAt = file.nodes.filter((n) => n !== follower);
  const clients = await Promise.all(writersAt.map((n) => client(file, n)));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  const keys: number[] = [];
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let s = 0; s < 50; s++) {
        const rows = Array.from({ length: 50 }, (_, r) => 10_000_000 + ci * 1_000_000 + s * 50 + r);
        await c.query(`INSERT INTO kv VALUES ${rows.map((_, r) => `($${r + 1}, 'bulk')`).join(', ')}`, rows);
        keys.push(...rows);
      }
    }),
  );
  const after = await health(file, leader);
  const gap = (after?.cluster.commit ?? 0) - (before?.cluster.commit ?? 0);
  t.ok(gap >= 50, `the log grew by ${gap} entries while the follower was down`);

  file = await startCluster(baseDir);
  const { position } = await everyNodeHolds(t, file, keys);
  t.ok(position >= (after?.cluster.commit ?? Infinity), `the restarted ${follower.id} applied through ${position}`);
});

t.test('a running node refuses Raft messages from an unknown node or another cluster id, and forwards from a stranger', async (t) => {
  const { leader, follower } = await aFollower();
  const target = `${file.host}:${follower.raftPort}`;
  const termBefore = (await health(file, follower))?.cluster.term ?? 0;
  const stranger = new GrpcTransport({ clusterId: file.clusterId, nodeId: 'stranger', listen: '127.0.0.1:0', peers: { [follower.id]: target } });
  // A known node id, but of an earlier incarnation of the cluster (another cluster id).
  const impostor = new GrpcTransport({ clusterId: `${file.clusterId}-old`, nodeId: leader.id, listen: '127.0.0.1:0', peers: { [follower.id]: target } });
  await stranger.start(() => undefined);
  await impostor.start(() => undefined);
  t.teardown(async () => {
    await stranger.close();
    await impostor.close();
  });
  const vote = (from: string): Message => ({
    type: MessageType.vote,
    from,
    to: follower.id,
    term: termBefore + 1000,
    logTerm: 1000,
    index: 1_000_000,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: '',
  });
  stranger.send([vote('stranger')]);
  impostor.send([vote(leader.id)]);
  const refused = await waitFor('the refusals', async () => {
    const h = await health(file, follower);
    return h !== undefined && h.cluster.refused.unknownNode > 0 && h.cluster.refused.wrongCluster > 0 ? h : undefined;
  });
  t.ok(refused.cluster.term < termBefore + 1000, `the vote requests changed nothing (term ${refused.cluster.term})`);

  const forwarder = new ForwardClient();
  t.teardown(() => forwarder.close());
  const r = await forwarder.forward(`${file.host}:${leader.raftPort}`, { clusterId: file.clusterId, from: 'stranger', entry: Buffer.alloc(0) }, 5_000);
  t.match(r, { position: 0, code: 'F0000', message: /unknown node "stranger".*refused/ }, 'a forwarded write from a stranger is refused');
});
