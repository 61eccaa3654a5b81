import t from 'tap';
import { MessageType, RefusalReason, Role } from '../src/sequencer/raft/index.js';
import { Cluster, enc } from './raft.support.js';

const ids = ['n1', 'n2', 'n3'];

/** A three-voter cluster with a leader, some history, and n4 running outside the configuration. */
function cluster(): Cluster {
  const c = new Cluster(ids, {}, ['n4']);
  c.elect('n1');
  for (let i = 0; i < 5; i++) c.raft('n1').propose(enc(`h${i}`));
  c.flush();
  return c;
}

t.test('a learner added to the group catches up on the retained log', async (t) => {
  const c = cluster();
  const res = c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  t.ok(res.ok);
  c.flush();
  c.tickAll(3);
  t.same(c.raft('n1').conf, { voters: ids, learners: ['n4'] });
  t.same(c.raft('n4').conf, { voters: ids, learners: ['n4'] }, 'the learner learned the membership from the log');
  t.same(c.appliedData('n4'), c.appliedData('n1'));
  t.equal(c.raft('n4').commitIndex, c.raft('n1').commitIndex);
});

t.test('a learner never campaigns and its acknowledgements do not count toward commit', async (t) => {
  const c = cluster();
  c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  c.flush();
  c.tickAll(2);
  for (let i = 0; i < 50; i++) c.raft('n4').tick();
  t.same(c.ready('n4').filter((m) => m.type === MessageType.preVote || m.type === MessageType.vote), []);
  t.equal(c.raft('n4').role, Role.follower);
  // With both other voters cut off, the leader and the learner alone are no quorum.
  c.drop = (m) => m.from === 'n2' || m.to === 'n2' || m.from === 'n3' || m.to === 'n3';
  const commit = c.raft('n1').commitIndex;
  c.raft('n1').propose(enc('lonely'));
  c.flush();
  t.equal(c.raft('n4').lastIndex, c.raft('n1').lastIndex, 'the learner has the entry');
  t.equal(c.raft('n1').commitIndex, commit, 'but it is not committed');
});

t.test('a learner is promoted to voter once it has caught up, and then counts', async (t) => {
  const c = cluster();
  c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  c.flush();
  c.tickAll(2);
  const res = c.raft('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4' });
  t.ok(res.ok);
  c.flush();
  t.same(c.raft('n1').conf, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
  // Four voters need three: the leader plus n4 plus one of the others.
  c.drop = (m) => m.from === 'n3' || m.to === 'n3';
  c.raft('n1').propose(enc('with-n4'));
  c.flush();
  c.drop = (m) => m.from === 'n3' || m.to === 'n3' || m.from === 'n2' || m.to === 'n2';
  c.raft('n1').propose(enc('without-quorum'));
  c.flush();
  t.ok(c.appliedData('n1').includes('with-n4'));
  t.notOk(c.appliedData('n1').includes('without-quorum'));
});

t.test('a learner that has not caught up is not promoted', async (t) => {
  const c = cluster();
  c.drop = (m) => m.to === 'n4';
  c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  c.flush();
  c.tickAll(2);
  const res = c.raft('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4' });
  t.equal(res.ok ? 'accepted' : res.reason, RefusalReason.learnerNotCaughtUp);
});

t.test('a node must join as a learner before it can vote', async (t) => {
  const c = cluster();
  const res = c.raft('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4' });
  t.equal(res.ok ? 'accepted' : res.reason, RefusalReason.invalidConfChange);
});

t.test('removing a voter shrinks the quorum and the removed node stops receiving the log', async (t) => {
  const c = cluster();
  t.ok(c.raft('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n3' }).ok);
  c.flush();
  t.same(c.raft('n1').conf, { voters: ['n1', 'n2'], learners: [] });
  const n3Last = c.raft('n3').lastIndex;
  c.raft('n1').propose(enc('after'));
  c.flush();
  t.ok(c.appliedData('n1').includes('after'));
  t.equal(c.raft('n3').lastIndex, n3Last, 'nothing more reaches n3');
  // The removed node times out and asks for votes, but the group keeps its leader.
  c.tickAll(60);
  t.equal(c.raft('n1').role, Role.leader);
});

t.test('a second membership change is refused while the first is uncommitted', async (t) => {
  const c = cluster();
  c.drop = (m) => m.from !== 'n1';
  t.ok(c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' }).ok);
  c.flush();
  const second = c.raft('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n3' });
  t.equal(second.ok ? 'accepted' : second.reason, RefusalReason.confChangePending);
  c.heal();
  c.tickAll(3);
  t.ok(c.raft('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n3' }).ok, 'accepted once the first committed');
});

t.test('a new leader refuses membership changes until it commits an entry of its term', async (t) => {
  const c = cluster();
  c.isolate('n2');
  c.raft('n2').step({ type: MessageType.timeoutNow, from: 'n1', to: 'n2', term: c.raft('n1').term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: '' });
  const votes = c.ready('n2');
  // Deliver the votes but hold back the acknowledgements of the new leader's no-op.
  c.drop = (m) => m.type === MessageType.appResp;
  c.flush(votes);
  t.equal(c.raft('n2').role, Role.leader);
  const res = c.raft('n2').proposeConfChange({ type: 'addLearner', nodeId: 'n4' });
  t.equal(res.ok ? 'accepted' : res.reason, RefusalReason.leaderNotReady);
});

t.test('the leader refuses to remove itself', async (t) => {
  const c = cluster();
  const res = c.raft('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n1' });
  t.equal(res.ok ? 'accepted' : res.reason, RefusalReason.removeLeader);
});

t.test('an uncommitted membership change reverts when its entry is truncated', async (t) => {
  const c = cluster();
  // n1 appends a change that reaches nobody; a new leader elected without n1 overwrites it.
  c.isolate('n1');
  t.ok(c.raft('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4' }).ok);
  t.same(c.raft('n1').conf.learners, ['n4'], 'in force as soon as it is appended');
  c.tickAll(60);
  const leader = ['n2', 'n3'].find((id) => c.raft(id).role === Role.leader);
  t.ok(leader !== undefined, 'the others elected a leader');
  c.heal();
  c.tickAll(30);
  t.equal(c.raft('n1').leader, leader);
  t.same(c.raft('n1').conf.learners, [], 'the change is gone with its entry');
});
