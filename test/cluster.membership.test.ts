// Membership changes and leader transfer on a 3-process cluster (real gRPC, real LMDB), driven from the
// outside with `ordo cluster add-node | transfer-leader | remove-node`: a fourth node joins as a learner
// under load and is promoted, holding every row; leadership moves to it on request; a removed node stops,
// no member counts it, and restarted anyway it cannot disturb the cluster (its messages are refused); a
// node whose data directory was wiped refuses to start and comes back as a new member.

import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { AdminPaths, type AdminAnswer } from '../src/node/index.js';
import { isNodeRunning, readClusterFile, spawnNode, type ClusterFile, type ClusterNodeRecord } from '../src/cli/cluster.js';
import {
  ackedCount,
  client,
  everyNodeHolds,
  health,
  leaderOf,
  ordo,
  startKvCluster,
  startWriters,
  stopWriters,
  waitFor,
} from './fixtures/clusterSupport.js';

t.setTimeout(120_000);

const cluster = await startKvCluster(t, 'ordo-membership-');
const baseDir = cluster.baseDir;
/** Re-read after every command that changes cluster.json. */
let file: ClusterFile = cluster.file;
/** Every write acknowledged so far, by any test. */
const acked: number[] = [];

function member(id: string): ClusterNodeRecord {
  const n = file.nodes.find((m) => m.id === id);
  if (n === undefined) throw new Error(`no member ${id}`);
  return n;
}

async function insertVia(node: ClusterNodeRecord, k: number): Promise<void> {
  const c = await client(file, node);
  await c.query('INSERT INTO kv VALUES ($1, $2)', [k, node.id]);
  await c.end();
  acked.push(k);
}

async function ordoOk(args: readonly string[]): Promise<string> {
  const r = await ordo(args);
  if (r.code !== 0) throw new Error(`ordo ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  file = readClusterFile(baseDir);
  return r.stdout;
}

/** Runs `during` while every member takes writes, and records what they acknowledged. */
async function underLoad(keyBase: number, during: () => Promise<void>): Promise<void> {
  const clients = await Promise.all(file.nodes.map((n) => client(file, n)));
  const writers = startWriters(file.nodes, clients, keyBase);
  try {
    await waitFor('writes before the change', async () => (ackedCount(writers) > 10 ? true : undefined));
    await during();
    const ackedAfter = ackedCount(writers);
    await waitFor('writes after the change', async () => (ackedCount(writers) > ackedAfter + 10 ? true : undefined));
  } finally {
    await stopWriters(writers);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  acked.push(...writers.flatMap((w) => w.acked));
}

async function votersSeenBy(nodeIds: readonly string[]): Promise<string[][]> {
  return Promise.all(
    file.nodes.filter((n) => nodeIds.includes(n.id)).map(async (n) => [...((await health(file, n))?.cluster.voters ?? [])]),
  );
}

t.test('a fourth node joins as a learner under load, is promoted once caught up, and holds every row', async (t) => {
  await underLoad(0, async () => {
    const out = await ordoOk(['cluster', 'add-node', '--base-dir', baseDir]);
    t.match(out, /node n4 .*added as a learner[\s\S]*node n4 is a voter/);
  });
  t.same(file.nodes.map((n) => n.id), ['n1', 'n2', 'n3', 'n4']);
  t.same(await votersSeenBy(['n1', 'n2', 'n3', 'n4']), Array(4).fill(['n1', 'n2', 'n3', 'n4']), 'every member counts four voters');
  await everyNodeHolds(t, file, acked);
});

t.test('leadership moves to the new node on request', async (t) => {
  await ordoOk(['cluster', 'transfer-leader', '--base-dir', baseDir, '--to', 'n4']);
  t.equal((await leaderOf(file))?.id, 'n4');
  await insertVia(member('n4'), 42);
  await everyNodeHolds(t, file, acked);
});

t.test('removing the leading node: leadership moves, the node stops, no member counts it, and restarted it is refused', async (t) => {
  const removedNode = member('n4');
  await underLoad(2_000_000, async () => {
    const out = await ordoOk(['cluster', 'remove-node', '--base-dir', baseDir, '--id', 'n4']);
    t.match(out, /leadership moved from n4 to n\d[\s\S]*node n4 removed/);
  });
  t.notOk(isNodeRunning(removedNode), 'the removed node was stopped');
  t.same(file.nodes.map((n) => n.id), ['n1', 'n2', 'n3'], 'cluster.json lists the members');
  t.same(await votersSeenBy(['n1', 'n2', 'n3']), Array(3).fill(['n1', 'n2', 'n3']), 'no member counts n4');
  await everyNodeHolds(t, file, acked);

  // Started again on its old directory, n4 still believes it is a voter and campaigns: every member refuses it.
  const refusedBefore = await Promise.all(file.nodes.map(async (n) => (await health(file, n))?.cluster.refused.unknownNode ?? 0));
  const pid = spawnNode(removedNode);
  t.teardown(() => {
    if (isNodeRunning({ ...removedNode, pid })) process.kill(pid, 'SIGKILL');
  });
  await waitFor(
    'the members to refuse n4',
    async () => {
      const refused = await Promise.all(file.nodes.map(async (n) => (await health(file, n))?.cluster.refused.unknownNode ?? 0));
      return refused.every((r, i) => r > (refusedBefore[i] ?? 0)) ? true : undefined;
    },
    10_000,
  );
  await waitFor('n4 to be told', async () => (/not a known peer/.test(readFileSync(removedNode.logFile, 'utf8')) ? true : undefined));
  const leader = await waitFor('a leader', () => leaderOf(file));
  t.not(leader.id, 'n4', 'a member leads');
  process.kill(pid, 'SIGKILL');
  await insertVia(leader, 43);
  await everyNodeHolds(t, file, acked);
});

t.test('a node whose data directory was wiped refuses to start, and comes back as a new member', async (t) => {
  const wiped = member('n2');
  process.kill(wiped.pid, 'SIGKILL');
  await waitFor('n2 to stop', async () => (isNodeRunning(wiped) ? undefined : true));
  rmSync(wiped.dataDir, { recursive: true, force: true });

  const restart = await ordo(['cluster', 'start', '--base-dir', baseDir]);
  t.equal(restart.code, 1, 'cluster start fails');
  t.match(restart.stderr, /node n2 exited[\s\S]*holds no Raft state for node "n2"[\s\S]*--bootstrap[\s\S]*--join/, 'and says why');
  file = readClusterFile(baseDir);
  t.notOk(isNodeRunning(member('n2')), 'n2 exited');

  await ordoOk(['cluster', 'remove-node', '--base-dir', baseDir, '--id', 'n2']);
  const out = await ordoOk(['cluster', 'add-node', '--base-dir', baseDir]);
  t.match(out, /node n5 is a voter/, 'a new member under a new id');
  t.same(file.nodes.map((n) => n.id), ['n1', 'n3', 'n5']);
  t.same(await votersSeenBy(['n1', 'n3', 'n5']), Array(3).fill(['n1', 'n3', 'n5']));
  await everyNodeHolds(t, file, acked);
});

t.test('admin requests: a follower names the leader, a removed id is refused, a malformed body is a bad request', async (t) => {
  const leader = await waitFor('a leader', () => leaderOf(file));
  const follower = file.nodes.find((n) => n.id !== leader.id);
  if (follower === undefined) throw new Error('no follower');
  const post = async (node: ClusterNodeRecord, path: string, body: string): Promise<{ status: number; answer: AdminAnswer }> => {
    const res = await fetch(`http://${file.host}:${node.httpPort}${path}`, { method: 'POST', body });
    return { status: res.status, answer: (await res.json()) as AdminAnswer };
  };
  t.match(await post(follower, AdminPaths.promote, '{"id": "n1"}'), { status: 421, answer: { ok: false, refusal: 'notLeader', leader: leader.id } });
  t.match(await post(leader, AdminPaths.addLearner, '{"id": "n2", "address": "127.0.0.1:1"}'), {
    status: 409,
    answer: { refusal: 'invalid', error: /"n2" was removed .* never reused/ },
  });
  t.match(await post(leader, AdminPaths.remove, '{"id": 2}'), { status: 400, answer: { error: /"id"/ } });
});

t.test('the membership commands answer --help with their flags', async (t) => {
  const helps = await Promise.all(['add-node', 'remove-node', 'transfer-leader'].map((cmd) => ordo(['cluster', cmd, '--help'])));
  for (const [i, flag] of ['--id', '--id', '--to'].entries()) {
    t.equal(helps[i]?.code, 0);
    t.match(helps[i]?.stdout, new RegExp(`--base-dir DIR[\\s\\S]*${flag} ID`));
  }
});
