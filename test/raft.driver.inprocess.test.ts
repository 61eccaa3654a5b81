// Three RaftDrivers with LMDB storage over the in-process transport: they elect a leader and commit
// proposals; followers refuse proposals and serve read-index; when the leader stops a new one takes
// over without losing a committed entry; a restarted node catches up; a proposal overwritten by a new
// leader is rejected, never reported committed.

import t from 'tap';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { InProcessNetwork } from '../src/rpc/index.js';
import { LmdbRaftStorage, RaftDriver, RaftDriverError, type Entry } from '../src/sequencer/raft/index.js';
import { seededRandom } from '../src/util/index.js';
import { scratchDir } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const IDS = ['n1', 'n2', 'n3'] as const;
const TICK_MS = 20;

interface Member {
  id: string;
  dir: string;
  root: RootDatabase;
  driver: RaftDriver;
  /** Non-empty normal entries delivered, in order. */
  applied: { index: number; term: number; data: string }[];
}

function startMember(net: InProcessNetwork, id: string, dir: string, seed: number): Member {
  const root = open({ path: join(dir, 'raft.mdb'), maxDbs: 8 });
  const storage = LmdbRaftStorage.open(root, { clusterId: net.clusterId, nodeId: id });
  const applied: Member['applied'] = [];
  let last = 0;
  const driver = new RaftDriver({
    id,
    peers: IDS,
    storage,
    transport: net.transport(id, IDS),
    tickMs: TICK_MS,
    random: seededRandom(seed),
    onCommitted: (entries: readonly Entry[]) => {
      for (const e of entries) {
        if (e.index !== last + 1) throw new Error(`${id} got ${e.index} after ${last}`);
        last = e.index;
        if (e.type === 'normal' && e.data.length > 0) applied.push({ index: e.index, term: e.term, data: dec(e.data) });
      }
    },
    onFatal: (err) => {
      throw err;
    },
  });
  return { id, dir, root, driver, applied };
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function leaderOf(members: readonly Member[]): Member | undefined {
  const leaders = members.filter((m) => m.driver.isLeader);
  if (leaders.length !== 1) return undefined;
  const leader = leaders[0] as Member;
  // Everyone agrees, so a proposal through it can commit now.
  return members.every((m) => m.driver.status().leader === leader.id) ? leader : undefined;
}

/** The error a promise rejects with; fails the test if it resolves. */
async function refusal(p: Promise<unknown>): Promise<RaftDriverError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RaftDriverError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function stopMember(m: Member): Promise<void> {
  await m.driver.stop();
  await m.root.close();
}

t.test('elect, commit, refuse on followers, read-index, fail over, catch up', async (t) => {
  const net = new InProcessNetwork({ clusterId: 'inproc-1' });
  const dirs = IDS.map(() => scratchDir('ordo-raft-driver-'));
  let members = IDS.map((id, i) => startMember(net, id, dirs[i] as string, i + 1));
  for (const m of members) await m.driver.start();
  t.teardown(async () => {
    for (const m of members) await stopMember(m);
  });

  const leader = await until('a leader', () => leaderOf(members));
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => leader.driver.propose(enc(`a${i}`))));
  const indexes = results.map((r) => r.index);
  t.same(
    indexes,
    [...indexes].sort((x, y) => x - y),
    'proposals commit at increasing indexes',
  );
  const lastIndex = indexes[indexes.length - 1] as number;
  await until('every node applied the 40 entries', () => (members.every((m) => m.applied.length === 40) ? true : undefined));
  for (const m of members) t.same(m.applied, members[0]?.applied, `${m.id} applied the same entries in the same order`);

  const follower = members.find((m) => m !== leader) as Member;
  t.match(await refusal(follower.driver.propose(enc('nope'))), { reason: 'notLeader', leader: leader.id }, 'a follower refuses and names the leader');
  t.ok((await leader.driver.readIndex()) >= lastIndex, 'leader read index covers the last commit');
  t.ok((await follower.driver.readIndex()) >= lastIndex, 'a follower read index covers it too, once applied there');
  t.ok(leader.driver.status().syncs > 0, 'the leader synced');

  // The leader stops: the other two elect a new one, which commits; nothing committed is lost.
  const oldLeader = leader;
  await stopMember(oldLeader);
  const survivors = members.filter((m) => m !== oldLeader);
  const startMs = Date.now();
  const newLeader = await until('a new leader', () => leaderOf(survivors));
  const after = await newLeader.driver.propose(enc('b0'));
  t.comment(`failover: new leader ${newLeader.id} committed ${Date.now() - startMs} ms after the old one stopped (tick ${TICK_MS} ms)`);
  t.ok(after.index > lastIndex);
  await until('survivors applied b0', () => (survivors.every((m) => m.applied.some((e) => e.data === 'b0')) ? true : undefined));
  for (const m of survivors) {
    t.same(
      m.applied.slice(0, 40).map((e) => e.data),
      Array.from({ length: 40 }, (_, i) => `a${i}`),
      `${m.id} kept every committed entry`,
    );
  }

  // The old leader restarts from its LMDB directory and catches up.
  const restarted = startMember(net, oldLeader.id, oldLeader.dir, 99);
  members = [...survivors, restarted];
  await restarted.driver.start();
  await until('the restarted node applied b0', () => (restarted.applied.some((e) => e.data === 'b0') ? true : undefined));
  t.same(restarted.applied, newLeader.applied, 'the restarted node has the same committed entries');
});

t.test('a proposal that a new leader overwrites is rejected, never reported committed', async (t) => {
  const net = new InProcessNetwork({ clusterId: 'inproc-2' });
  const members = IDS.map((id, i) => startMember(net, id, scratchDir('ordo-raft-driver-'), 10 + i));
  for (const m of members) await m.driver.start();
  t.teardown(async () => {
    for (const m of members) await stopMember(m);
  });
  const leader = await until('a leader', () => leaderOf(members));
  await leader.driver.propose(enc('before'));

  net.isolate(leader.id);
  const doomed = leader.driver.propose(enc('doomed'));
  doomed.catch(() => undefined);
  const others = members.filter((m) => m !== leader);
  const newLeader = await until('a leader among the others', () => leaderOf(others));
  await newLeader.driver.propose(enc('winner'));
  net.heal(leader.id);

  t.match(await refusal(doomed), { reason: 'dropped' }, 'the isolated leader’s proposal is rejected as dropped');
  await until('the old leader applied the winner', () => (leader.applied.some((e) => e.data === 'winner') ? true : undefined));
  t.notOk(leader.applied.some((e) => e.data === 'doomed'), 'and it was never applied');
});
