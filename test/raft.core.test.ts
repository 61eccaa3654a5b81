import t from 'tap';
import { MemoryStorage, MessageType, RaftNode, Role, type Entry, type Message } from '../src/sequencer/raft/index.js';
import { seededRandom } from '../src/util/index.js';
import { Cluster, enc } from './raft.support.js';

const ids = ['n1', 'n2', 'n3'];

const msg = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message => ({
  term: 0,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  context: '',
  ...m,
});
const entry = (index: number, term: number, data = ''): Entry => ({ index, term, type: 'normal', data: enc(data) });

/** A node over a storage that already holds `entries` and `term`. */
function nodeWithLog(id: string, entries: Entry[], term: number, options: Partial<ConstructorParameters<typeof RaftNode>[0]> = {}): { raft: RaftNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.append(entries);
  storage.setHardState({ term, vote: '', commit: 0 });
  return { raft: new RaftNode({ id, peers: ids, storage, random: seededRandom(7), ...options }), storage };
}

const drain = (raft: RaftNode, storage?: MemoryStorage): Message[] => {
  const out: Message[] = [];
  while (raft.hasReady()) {
    const rd = raft.ready();
    if (storage !== undefined) {
      storage.append(rd.entries);
      if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
    }
    out.push(...rd.messages);
    raft.advance(rd);
  }
  return out;
};

t.test('one campaign elects exactly one leader that every node follows', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  t.equal(c.raft('n1').role, Role.leader);
  for (const id of ['n2', 'n3']) {
    t.equal(c.raft(id).role, Role.follower);
    t.equal(c.raft(id).leader, 'n1');
    t.equal(c.raft(id).term, c.raft('n1').term);
  }
});

t.test('an election timeout without a leader makes some node leader', async (t) => {
  const c = new Cluster(ids);
  c.tickAll(40);
  const leaders = ids.filter((id) => c.raft(id).role === Role.leader);
  t.equal(leaders.length, 1);
});

t.test('a vote is refused to a candidate whose log is less up to date', async (t) => {
  const { raft } = nodeWithLog('n2', [entry(1, 1), entry(2, 2)], 2, { preVote: false });
  raft.step(msg({ type: MessageType.vote, from: 'n3', to: 'n2', term: 3, index: 5, logTerm: 1 }));
  const resp = drain(raft).find((m) => m.type === MessageType.voteResp);
  t.equal(resp?.reject, true, 'older last term loses even with a longer log');
  raft.step(msg({ type: MessageType.vote, from: 'n1', to: 'n2', term: 3, index: 2, logTerm: 2 }));
  t.equal(drain(raft).find((m) => m.type === MessageType.voteResp)?.reject, false, 'an equally up-to-date log wins the vote');
});

t.test('a node votes for at most one candidate per term', async (t) => {
  const { raft } = nodeWithLog('n2', [], 0, { preVote: false });
  raft.step(msg({ type: MessageType.vote, from: 'n1', to: 'n2', term: 1 }));
  raft.step(msg({ type: MessageType.vote, from: 'n3', to: 'n2', term: 1 }));
  const resps = drain(raft).filter((m) => m.type === MessageType.voteResp);
  t.same(resps.map((m) => [m.to, m.reject]), [['n1', false], ['n3', true]]);
  t.equal(raft.vote, 'n1');
});

t.test('a candidate with a higher term makes the leader step down when leases are off', async (t) => {
  const c = new Cluster(ids, { preVote: false, checkQuorum: false });
  c.elect('n1');
  const term = c.raft('n1').term;
  c.isolate('n2');
  c.elect('n2');
  t.equal(c.raft('n2').term, term + 1, 'the isolated candidate raised its term');
  c.heal();
  c.raft('n2').campaign();
  c.flush();
  t.not(c.raft('n1').role, Role.leader);
  t.ok(c.raft('n1').term > term);
});

t.test('pre-vote keeps a partitioned node from raising its term, so it cannot disrupt on return', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  const term = c.raft('n1').term;
  c.isolate('n3');
  for (let i = 0; i < 100; i++) {
    c.raft('n3').tick();
    c.flush();
  }
  t.equal(c.raft('n3').term, term, 'pre-votes never raise the term');
  t.equal(c.raft('n3').role, Role.preCandidate);
  c.heal();
  c.tickAll(30);
  t.equal(c.raft('n1').role, Role.leader, 'the leader keeps leading');
  t.equal(c.raft('n1').term, term, 'and its term is unchanged');
  t.equal(c.raft('n3').leader, 'n1', 'the returning node follows it');
});

t.test('check-quorum makes a partitioned leader step down', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.isolate('n1');
  // The first check after the isolation may still count the answers from before it.
  for (let i = 0; i < 10; i++) c.raft('n1').tick();
  c.flush();
  t.equal(c.raft('n1').role, Role.leader, 'one election timeout is not yet proof');
  for (let i = 0; i < 10; i++) c.raft('n1').tick();
  c.flush();
  t.equal(c.raft('n1').role, Role.follower, 'two are');
});

t.test('check-quorum leases make followers ignore a vote request while a leader is alive', async (t) => {
  const c = new Cluster(ids, { preVote: false });
  c.elect('n1');
  const term = c.raft('n1').term;
  c.raft('n2').step(msg({ type: MessageType.vote, from: 'n3', to: 'n2', term: term + 5, index: 100, logTerm: 100 }));
  t.equal(c.raft('n2').term, term);
  t.same(c.ready('n2').filter((m) => m.type === MessageType.voteResp), []);
});

t.test('proposals replicate to every node and commit in the same order', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  for (const d of ['a', 'b', 'c']) t.ok(c.raft('n1').propose(enc(d)).ok);
  c.flush();
  c.tickAll(2);
  for (const id of ids) {
    t.same(c.appliedData(id), ['a', 'b', 'c'], `${id} applied all`);
    t.equal(c.raft(id).commitIndex, 4, 'no-op plus three entries');
  }
  t.equal(c.raft('n2').propose(enc('x')).ok, false, 'a follower refuses proposals');
});

t.test('a leader does not commit an entry of an earlier term by counting replicas (figure 8)', async (t) => {
  // n1 holds an entry of term 2 that n2 also holds; after winning term 3 the quorum on it is not enough.
  const { raft, storage } = nodeWithLog('n1', [entry(1, 1), entry(2, 2)], 2, { preVote: false });
  raft.campaign();
  drain(raft, storage);
  raft.step(msg({ type: MessageType.voteResp, from: 'n2', to: 'n1', term: 3 }));
  t.equal(raft.role, Role.leader);
  drain(raft, storage);
  t.equal(raft.lastIndex, 3, 'the new leader appended its no-op at 3');
  raft.step(msg({ type: MessageType.appResp, from: 'n2', to: 'n1', term: 3, index: 2 }));
  drain(raft, storage);
  t.equal(raft.commitIndex, 0, 'entry 2 (term 2) on a majority is not committed');
  raft.step(msg({ type: MessageType.appResp, from: 'n2', to: 'n1', term: 3, index: 3 }));
  drain(raft, storage);
  t.equal(raft.commitIndex, 3, 'the term-3 entry commits, and entry 2 with it');
});

t.test('a follower truncates a conflicting uncommitted suffix and takes the leader’s entries', async (t) => {
  const { raft, storage } = nodeWithLog('n2', [entry(1, 1), entry(2, 1, 'x'), entry(3, 1, 'y')], 1);
  raft.step(msg({ type: MessageType.app, from: 'n1', to: 'n2', term: 2, index: 1, logTerm: 1, entries: [entry(2, 2, 'z')], commit: 2 }));
  const resp = drain(raft, storage).find((m) => m.type === MessageType.appResp);
  t.equal(resp?.reject, false);
  t.equal(resp?.index, 2);
  t.equal(raft.lastIndex, 2, 'the stale entry 3 is gone');
  t.equal(storage.lastIndex(), 2, 'and the driver overwrote it in storage');
  t.equal(storage.term(2), 2);
  t.equal(raft.commitIndex, 2);
});

t.test('a follower rejects an append that does not match and hints where to probe next', async (t) => {
  const { raft } = nodeWithLog('n2', [entry(1, 1), entry(2, 1), entry(3, 1)], 3);
  raft.step(msg({ type: MessageType.app, from: 'n1', to: 'n2', term: 3, index: 5, logTerm: 3, entries: [entry(6, 3)] }));
  const resp = drain(raft).find((m) => m.type === MessageType.appResp);
  t.equal(resp?.reject, true);
  t.equal(resp?.index, 5);
  t.equal(resp?.rejectHint, 3, 'our last index, since we lack 5');
  t.equal(resp?.logTerm, 1);
});

t.test('the leader repairs a diverged follower log through probing', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 20; i++) c.raft('n1').propose(enc(`a${i}`));
  c.flush();
  c.heal();
  c.tickAll(5);
  t.same(c.appliedData('n3'), c.appliedData('n1'));
  t.equal(c.appliedData('n3').length, 20);
});

t.test('the leader keeps at most maxInflightAppends unacknowledged appends to a follower', async (t) => {
  const c = new Cluster(ids, { maxInflightAppends: 2, maxEntriesPerAppend: 1 });
  c.elect('n1');
  // n2 answers nothing from now on; n3 keeps the quorum.
  c.drop = (m) => m.from === 'n2';
  const sentToN2: Message[] = [];
  for (let i = 0; i < 10; i++) {
    c.raft('n1').propose(enc(`e${i}`));
    const out = c.ready('n1');
    sentToN2.push(...out.filter((m) => m.to === 'n2' && m.type === MessageType.app && m.entries.length > 0));
    c.flush(out.filter((m) => m.to !== 'n2'));
  }
  t.equal(sentToN2.length, 2, 'two appends in flight, then the window is full');
  t.equal(c.raft('n1').status().progress.get('n2')?.inflight, 2);
  t.equal(c.raft('n1').commitIndex, 11, 'the quorum with n3 still commits');
});

t.test('leader transfer hands leadership to the target, which campaigns at once', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  const term = c.raft('n1').term;
  t.ok(c.raft('n1').transferLeadership('n3').ok);
  t.equal(c.raft('n1').propose(enc('x')).ok, false, 'proposals pause during a transfer');
  c.flush();
  t.equal(c.raft('n3').role, Role.leader);
  t.equal(c.raft('n3').term, term + 1);
  t.equal(c.raft('n1').leader, 'n3');
});

t.test('a leader transfer to a lagging target first catches it up', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.isolate('n2');
  for (let i = 0; i < 5; i++) c.raft('n1').propose(enc(`x${i}`));
  c.flush();
  c.heal();
  c.raft('n1').transferLeadership('n2');
  c.flush();
  t.equal(c.raft('n2').role, Role.leader);
  t.equal(c.raft('n2').lastIndex, c.raft('n1').lastIndex);
});

t.test('read-index answers only after a quorum acknowledged a heartbeat sent after the request', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.raft('n1').propose(enc('w'));
  c.flush();
  t.ok(c.raft('n1').readIndex('q1').ok);
  const out = c.ready('n1');
  t.same(c.node('n1').readStates, [], 'no answer before the heartbeat round');
  const beats = out.filter((m) => m.type === MessageType.heartbeat && m.context === 'q1');
  t.equal(beats.length, 2);
  c.raft('n2').step(beats[0] as Message);
  const acks = c.ready('n2');
  t.equal(acks[0]?.context, 'q1');
  c.raft('n1').step(acks[0] as Message);
  c.ready('n1');
  t.same(c.node('n1').readStates, [{ index: 2, context: 'q1' }]);
});

t.test('read-index on a partitioned leader never answers', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.isolate('n1');
  c.raft('n1').readIndex('q');
  for (let i = 0; i < 9; i++) {
    c.raft('n1').tick();
    c.flush();
  }
  t.same(c.node('n1').readStates, []);
});

t.test('read-index on a fresh leader waits until it has committed an entry of its term', async (t) => {
  const { raft, storage } = nodeWithLog('n1', [entry(1, 1)], 1, { preVote: false });
  raft.campaign();
  drain(raft, storage);
  raft.step(msg({ type: MessageType.voteResp, from: 'n2', to: 'n1', term: 2 }));
  drain(raft, storage);
  raft.readIndex('q');
  const before = drain(raft, storage);
  t.same(before.filter((m) => m.context === 'q'), [], 'no heartbeat round while the no-op is uncommitted');
  raft.step(msg({ type: MessageType.appResp, from: 'n2', to: 'n1', term: 2, index: 2 }));
  const after = drain(raft, storage);
  t.equal(raft.commitIndex, 2);
  t.ok(after.some((m) => m.type === MessageType.heartbeat && m.context === 'q'), 'the round starts once the no-op commits');
  raft.step(msg({ type: MessageType.heartbeatResp, from: 'n3', to: 'n1', term: 2, context: 'q' }));
  let states: { index: number; context: string }[] = [];
  while (raft.hasReady()) {
    const rd = raft.ready();
    storage.append(rd.entries);
    states = states.concat(rd.readStates);
    raft.advance(rd);
  }
  t.same(states, [{ index: 2, context: 'q' }]);
});

t.test('a follower’s read-index is forwarded to the leader and answered to the follower', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  t.ok(c.raft('n3').readIndex('f1').ok);
  c.flush();
  t.same(c.node('n3').readStates, [{ index: 1, context: 'f1' }]);
});

t.test('restarting from persisted state keeps term, vote, log and commit', async (t) => {
  const c = new Cluster(ids);
  c.elect('n1');
  c.raft('n1').propose(enc('a'));
  c.flush();
  c.tickAll(1);
  const before = c.raft('n2');
  const raft = c.restart('n2', ids);
  t.equal(raft.term, before.term);
  t.equal(raft.vote, before.vote);
  t.equal(raft.lastIndex, before.lastIndex);
  t.equal(raft.commitIndex, before.commitIndex);
  t.equal(raft.role, Role.follower);
  c.flush();
  t.same(c.appliedData('n2'), ['a'], 'committed entries are delivered again to the fresh state machine');
});
