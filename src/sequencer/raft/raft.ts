// The Raft core: a pure state machine in the style of etcd's raft.go + rawnode.go. It never does I/O,
// never reads a clock and draws randomness only from the injected source. Time passes through tick();
// the network arrives through step(); everything the node wants done leaves through ready().
//
// Membership follows the Raft thesis §4.1 (single-server changes): a configuration takes effect on a
// node as soon as its entry is in the node's log, committed or not, and reverts if that entry is
// truncated; a leader accepts a change only when no other change is uncommitted and it has committed
// an entry of its own term (the fix for the single-server-change bug Ongaro described in 2015).

import { assert } from '../../util/index.js';
import { applyConfChange, decodeConfChange, encodeConfChange } from './confChange.js';
import { RaftLog } from './log.js';
import { Progress, ProgressState } from './progress.js';
import {
  CAMPAIGN_TRANSFER,
  EntryType,
  MessageType,
  NO_NODE,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftStorage,
  type ReadState,
  type Ready,
  type SoftState,
} from './types.js';

export interface RaftNodeOptions {
  readonly id: NodeId;
  /**
   * The voters of a brand-new group. Used only while neither the storage's snapshot nor the log holds a
   * configuration, i.e. at bootstrap and on restarts before the first change. A node that joins an
   * existing group passes none and learns the membership from the log it receives.
   */
  readonly peers?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly storage: RaftStorage;
  /** A seeded source in [0, 1); the election timeout is its only use. */
  readonly random: () => number;
  /** A follower that hears no leader for [electionTicks, 2·electionTicks) ticks campaigns. */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly maxInflightAppends?: number;
  readonly maxEntriesPerAppend?: number;
  /** Beyond the first entry, an append stops once its entries' data exceed this. */
  readonly maxBytesPerAppend?: number;
  readonly maxCommittedEntriesPerReady?: number;
  /** Proposals are refused while the leader holds this many uncommitted entries. */
  readonly maxUncommittedEntries?: number;
  readonly maxPendingReadIndex?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** The last index the state machine has already applied durably; committed entries after it are delivered. */
  readonly applied?: number;
}

export const RaftDefaults = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxInflightAppends: 256,
  maxEntriesPerAppend: 64,
  maxBytesPerAppend: 1024 * 1024,
  maxCommittedEntriesPerReady: 1024,
  maxUncommittedEntries: 10_000,
  maxPendingReadIndex: 1024,
} as const;

export const RefusalReason = {
  notLeader: 'notLeader',
  noLeader: 'noLeader',
  transferInProgress: 'leadershipTransferInProgress',
  tooManyUncommitted: 'tooManyUncommittedEntries',
  confChangePending: 'confChangePending',
  leaderNotReady: 'leaderHasNotCommittedInItsTerm',
  invalidConfChange: 'invalidConfChange',
  learnerNotCaughtUp: 'learnerNotCaughtUp',
  removeLeader: 'removeLeader',
  tooManyPendingReads: 'tooManyPendingReads',
  notAVoter: 'notAVoter',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  readonly detail: string;
}
/** A proposal the leader appended at (index, term); it committed iff the committed entry at index has that term. */
export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | Refusal;
export type ActionResult = { readonly ok: true } | Refusal;

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly inflight: number;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly role: Role;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly conf: ConfState;
  /** The leader's view of each member; empty on other nodes. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
  readonly leadTransferee: NodeId;
}

const refuse = (reason: RefusalReason, detail: string): Refusal => ({ ok: false, reason, detail });
const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([]);

interface PendingRead {
  readonly index: number;
  /** The node that asked: this node, or a follower that forwarded the request. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

const VoteResult = { pending: 'pending', won: 'won', lost: 'lost' } as const;
type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

const CampaignKind = { preElection: 'preElection', election: 'election', transfer: 'transfer' } as const;
type CampaignKind = (typeof CampaignKind)[keyof typeof CampaignKind];

/** Bounds the backward scan for the latest configuration at startup (entries read per storage call). */
const CONF_SCAN_CHUNK = 256;

export class RaftNode {
  readonly id: NodeId;
  private termValue: number;
  private voteValue: NodeId;
  private lead: NodeId = NO_NODE;
  private roleValue: Role = Role.follower;
  private readonly log: RaftLog;

  /** Configurations in the log, oldest first: the last one is in force; earlier ones revert truncations. */
  private confHistory: { index: number; conf: ConfState }[];
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  private leadTransferee: NodeId = NO_NODE;

  private pendingReads = new Map<string, PendingRead>();
  /** Read contexts in arrival order; an acknowledged one resolves every read queued before it too. */
  private readQueue: string[] = [];
  /** Reads that arrived before this leader committed an entry of its term (its commit index may be stale). */
  private readsAwaitingCommit: { from: NodeId; context: string }[] = [];

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyOutstanding = false;

  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxInflightAppends: number;
  private readonly maxEntriesPerAppend: number;
  private readonly maxBytesPerAppend: number;
  private readonly maxCommittedEntriesPerReady: number;
  private readonly maxUncommittedEntries: number;
  private readonly maxPendingReadIndex: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly random: () => number;

  constructor(options: RaftNodeOptions) {
    assert(options.id !== NO_NODE, 'a node id must not be empty');
    this.id = options.id;
    this.electionTicks = options.electionTicks ?? RaftDefaults.electionTicks;
    this.heartbeatTicks = options.heartbeatTicks ?? RaftDefaults.heartbeatTicks;
    assert(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks, 'electionTicks must exceed heartbeatTicks ≥ 1');
    this.maxInflightAppends = options.maxInflightAppends ?? RaftDefaults.maxInflightAppends;
    this.maxEntriesPerAppend = options.maxEntriesPerAppend ?? RaftDefaults.maxEntriesPerAppend;
    this.maxBytesPerAppend = options.maxBytesPerAppend ?? RaftDefaults.maxBytesPerAppend;
    this.maxCommittedEntriesPerReady = options.maxCommittedEntriesPerReady ?? RaftDefaults.maxCommittedEntriesPerReady;
    this.maxUncommittedEntries = options.maxUncommittedEntries ?? RaftDefaults.maxUncommittedEntries;
    this.maxPendingReadIndex = options.maxPendingReadIndex ?? RaftDefaults.maxPendingReadIndex;
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.random = options.random;

    const storage = options.storage;
    const hs = storage.hardState();
    this.termValue = hs.term;
    this.voteValue = hs.vote;
    this.log = new RaftLog(storage, options.applied ?? 0);
    this.confHistory = this.loadConfHistory(storage, options);
    this.prevHardState = hs;
    this.prevSoftState = { leader: NO_NODE, role: Role.follower };
    this.becomeFollower(this.termValue, NO_NODE);
  }

  // ---- what a driver and a test can observe ----

  get term(): number {
    return this.termValue;
  }
  get vote(): NodeId {
    return this.voteValue;
  }
  get leader(): NodeId {
    return this.lead;
  }
  get role(): Role {
    return this.roleValue;
  }
  get commitIndex(): number {
    return this.log.committed;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get conf(): ConfState {
    return this.currentConf();
  }

  /** Entries [lo, hi) of this node's log as it stands in memory (persisted or not). */
  entries(lo: number, hi: number): readonly Entry[] {
    return this.log.slice(lo, hi, hi - lo, Number.POSITIVE_INFINITY) ?? [];
  }

  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.roleValue === Role.leader) {
      for (const [id, pr] of this.progress) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, inflight: pr.inflights.size, recentActive: pr.recentActive });
      }
    }
    return {
      id: this.id,
      term: this.termValue,
      vote: this.voteValue,
      leader: this.lead,
      role: this.roleValue,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      conf: this.currentConf(),
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  // ---- inputs ----

  /** One unit of logical time. */
  tick(): void {
    if (this.roleValue === Role.leader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** Starts an election now (as if the election timeout had passed), if this node may campaign. */
  campaign(): void {
    this.hup(this.preVote ? CampaignKind.preElection : CampaignKind.election);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntry(EntryType.normal, data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.roleValue !== Role.leader) return refuse(RefusalReason.notLeader, `node ${this.id} is not the leader`);
    if (!this.committedEntryInCurrentTerm()) {
      return refuse(RefusalReason.leaderNotReady, 'a new leader changes membership only after it committed an entry of its term');
    }
    const current = this.confHistory[this.confHistory.length - 1];
    assert(current !== undefined, 'no configuration');
    if (current.index > this.log.committed) {
      return refuse(RefusalReason.confChangePending, `the change at ${current.index} is not committed yet`);
    }
    if (change.type === 'removeNode' && change.nodeId === this.id) {
      return refuse(RefusalReason.removeLeader, 'transfer leadership before removing the leader');
    }
    if (change.type === 'addVoter') {
      const pr = this.progress.get(change.nodeId);
      if (pr !== undefined && pr.isLearner && pr.match < this.log.committed) {
        return refuse(RefusalReason.learnerNotCaughtUp, `learner ${change.nodeId} has ${pr.match} of ${this.log.committed} committed entries`);
      }
    }
    const next = applyConfChange(current.conf, change);
    if (typeof next === 'string') return refuse(RefusalReason.invalidConfChange, next);
    return this.proposeEntry(EntryType.confChange, encodeConfChange({ change, conf: next }));
  }

  /** Asks `to` to take over; proposals are refused until it does or an election timeout passes. */
  transferLeadership(to: NodeId): ActionResult {
    if (this.roleValue !== Role.leader) return refuse(RefusalReason.notLeader, `node ${this.id} is not the leader`);
    if (to === this.id) return { ok: true };
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isLearner) return refuse(RefusalReason.notAVoter, `node ${to} is not a voter`);
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    // The transfer must finish within one election timeout; tickHeartbeat aborts it after that.
    this.electionElapsedTicks = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
    return { ok: true };
  }

  /**
   * Requests a linearizable read point. A ReadState {index, context} appears in a later Ready once the
   * leader has confirmed it still leads (a heartbeat round acknowledged by a quorum); reads that wait
   * until the state machine applied `index` then see every write committed before this call.
   */
  readIndex(context: string): ActionResult {
    if (this.roleValue === Role.leader) return this.leaderReadIndex(this.id, context);
    if (this.lead === NO_NODE) return refuse(RefusalReason.noLeader, 'no known leader to ask');
    // Forwarded without a term, like a proposal: the leader that answers proves its leadership itself.
    this.send({ ...this.blank(MessageType.readIndex, this.lead), term: 0, context });
    return { ok: true };
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    // A forwarded read carries no term: the leader that receives it checks its leadership itself.
    if (m.type === MessageType.readIndex) {
      if (this.roleValue === Role.leader) this.leaderReadIndex(m.from, m.context);
      return;
    }
    if (m.term > this.termValue) {
      if (m.type === MessageType.vote || m.type === MessageType.preVote) {
        const force = m.context === CAMPAIGN_TRANSFER;
        const inLease = this.checkQuorum && this.lead !== NO_NODE && this.electionElapsedTicks < this.electionTicks;
        // A node that heard from a live leader recently ignores campaigns: this is what stops a
        // returning, partitioned node from disrupting a healthy group.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.preVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.preVoteResp && !m.reject) {
        // Granted pre-votes carry the term we will campaign in; we move to it only once we win.
      } else if (m.type === MessageType.app || m.type === MessageType.heartbeat) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.termValue) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.heartbeat || m.type === MessageType.app)) {
        // A leader from an older term (e.g. back from a partition): our higher term makes it step
        // down. Without this, with pre-vote, it could keep its followers from ever campaigning.
        this.send(this.blank(MessageType.appResp, m.from));
      } else if (m.type === MessageType.preVote) {
        this.send({ ...this.blank(MessageType.preVoteResp, m.from), reject: true });
      }
      return;
    }

    if (m.type === MessageType.vote || m.type === MessageType.preVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.roleValue) {
      case Role.leader:
        this.stepLeader(m);
        break;
      case Role.candidate:
      case Role.preCandidate:
        this.stepCandidate(m);
        break;
      case Role.follower:
        this.stepFollower(m);
        break;
    }
  }

  // ---- the Ready hand-off ----

  hasReady(): boolean {
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstableEntries().length > 0 || this.log.hasNextCommitted()) return true;
    const hs = this.prevHardState;
    if (hs.term !== this.termValue || hs.vote !== this.voteValue || hs.commit !== this.log.committed) return true;
    return this.prevSoftState.leader !== this.lead || this.prevSoftState.role !== this.roleValue;
  }

  /** What to persist, send and apply; call advance(ready) once it is done, before the next ready(). */
  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    this.readyOutstanding = true;
    const entries = this.log.unstableEntries().slice();
    const committedEntries = this.log.nextCommitted(this.maxCommittedEntriesPerReady);
    const messages = this.msgs;
    this.msgs = [];
    const readStates = this.readStates;
    this.readStates = [];
    const hs = this.prevHardState;
    const termOrVoteChanged = hs.term !== this.termValue || hs.vote !== this.voteValue;
    const hardState: HardState | undefined =
      termOrVoteChanged || hs.commit !== this.log.committed ? { term: this.termValue, vote: this.voteValue, commit: this.log.committed } : undefined;
    const softState: SoftState | undefined =
      this.prevSoftState.leader !== this.lead || this.prevSoftState.role !== this.roleValue ? { leader: this.lead, role: this.roleValue } : undefined;
    return {
      ...(softState === undefined ? {} : { softState }),
      ...(hardState === undefined ? {} : { hardState }),
      entries,
      committedEntries: committedEntries.length > 0 ? committedEntries : EMPTY_ENTRIES,
      messages,
      readStates,
      mustSync: termOrVoteChanged || entries.length > 0,
    };
  }

  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without a ready()');
    this.readyOutstanding = false;
    if (rd.softState !== undefined) this.prevSoftState = rd.softState;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index, lastEntry.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
  }

  // ---- roles ----

  private promotable(): boolean {
    return this.currentConf().voters.includes(this.id);
  }

  private setTerm(term: number): void {
    assert(term >= this.termValue, `term would go back from ${this.termValue} to ${term}`);
    if (term !== this.termValue) {
      this.termValue = term;
      this.voteValue = NO_NODE;
    }
  }

  private reset(term: number): void {
    this.setTerm(term);
    this.lead = NO_NODE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTimeoutTicks = this.electionTicks + Math.floor(this.random() * this.electionTicks);
    this.leadTransferee = NO_NODE;
    this.votes.clear();
    this.pendingReads.clear();
    this.readQueue = [];
    this.readsAwaitingCommit = [];
    this.rebuildProgress();
  }

  private rebuildProgress(): void {
    const conf = this.currentConf();
    const next = this.log.lastIndex() + 1;
    this.progress = new Map();
    for (const id of conf.voters) this.progress.set(id, new Progress(next, this.maxInflightAppends, false));
    for (const id of conf.learners) this.progress.set(id, new Progress(next, this.maxInflightAppends, true));
    const self = this.progress.get(this.id);
    if (self !== undefined) self.match = this.log.lastIndex();
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.roleValue = Role.follower;
  }

  private becomePreCandidate(): void {
    assert(this.roleValue !== Role.leader, 'a leader cannot become a pre-candidate');
    // Unlike a real candidacy this changes neither the term nor the vote: it only asks.
    this.votes.clear();
    this.lead = NO_NODE;
    this.roleValue = Role.preCandidate;
  }

  private becomeCandidate(): void {
    assert(this.roleValue !== Role.leader, 'a leader cannot become a candidate');
    this.reset(this.termValue + 1);
    this.voteValue = this.id;
    this.roleValue = Role.candidate;
  }

  private becomeLeader(): void {
    assert(this.roleValue === Role.candidate, `only a candidate becomes leader, not a ${this.roleValue}`);
    this.reset(this.termValue);
    this.lead = this.id;
    this.roleValue = Role.leader;
    const self = this.progress.get(this.id);
    assert(self !== undefined, 'a leader must be a member');
    self.becomeReplicate();
    // Entries of earlier terms commit only under an entry of this term (§5.4.2): append one at once.
    this.appendEntries([{ term: this.termValue, index: this.log.lastIndex() + 1, type: EntryType.normal, data: new Uint8Array(0) }]);
  }

  private hup(kind: CampaignKind): void {
    if (this.roleValue === Role.leader || !this.promotable()) return;
    const voteType = kind === CampaignKind.preElection ? MessageType.preVote : MessageType.vote;
    let term: number;
    if (kind === CampaignKind.preElection) {
      this.becomePreCandidate();
      term = this.termValue + 1;
    } else {
      this.becomeCandidate();
      term = this.termValue;
    }
    if (this.poll(this.id, true) === VoteResult.won) {
      if (kind === CampaignKind.preElection) this.hup(CampaignKind.election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.currentConf().voters) {
      if (id === this.id) continue;
      this.send({
        ...this.blank(voteType, id),
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: kind === CampaignKind.transfer ? CAMPAIGN_TRANSFER : '',
      });
    }
  }

  private poll(from: NodeId, granted: boolean): VoteResult {
    const voters = this.currentConf().voters;
    if (voters.includes(from) && !this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const id of voters) {
      const v = this.votes.get(id);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const quorum = Math.floor(voters.length / 2) + 1;
    if (yes >= quorum) return VoteResult.won;
    if (voters.length - no < quorum) return VoteResult.lost;
    return VoteResult.pending;
  }

  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.vote ? MessageType.voteResp : MessageType.preVoteResp;
    const canVote =
      this.voteValue === m.from || (this.voteValue === NO_NODE && this.lead === NO_NODE) || (m.type === MessageType.preVote && m.term > this.termValue);
    // Nodes answer whether or not they are members: a node added by an entry it has not received yet
    // must still be able to help elect the leader that will send it.
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ ...this.blank(respType, m.from), term: m.term });
      if (m.type === MessageType.vote) {
        this.electionElapsedTicks = 0;
        assert(this.voteValue === NO_NODE || this.voteValue === m.from, `second vote in term ${this.termValue}`);
        this.voteValue = m.from;
      }
    } else {
      this.send({ ...this.blank(respType, m.from), reject: true });
    }
  }

  // ---- ticks ----

  private tickElection(): void {
    this.electionElapsedTicks++;
    if (this.promotable() && this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      this.hup(this.preVote ? CampaignKind.preElection : CampaignKind.election);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.electionTicks) {
      this.electionElapsedTicks = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.termValue, NO_NODE);
          return;
        }
        for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned: we keep leading.
      this.leadTransferee = NO_NODE;
    }
    if (this.heartbeatElapsedTicks >= this.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    const voters = this.currentConf().voters;
    let active = 0;
    for (const id of voters) {
      if (id === this.id || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= Math.floor(voters.length / 2) + 1;
  }

  // ---- per-role message handling ----

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.app:
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        break;
      case MessageType.heartbeat:
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.log.commitTo(m.commit);
        this.pruneConfHistory();
        this.send({ ...this.blank(MessageType.heartbeatResp, m.from), context: m.context });
        break;
      case MessageType.timeoutNow:
        // The leader asked us to take over: no pre-vote, and other nodes' leases do not apply.
        this.hup(CampaignKind.transfer);
        break;
      case MessageType.readIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.roleValue === Role.preCandidate ? MessageType.preVoteResp : MessageType.voteResp;
    switch (m.type) {
      case MessageType.app:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        break;
      case MessageType.heartbeat:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case myResp: {
        const result = this.poll(m.from, !m.reject);
        if (result === VoteResult.won) {
          if (this.roleValue === Role.preCandidate) {
            this.hup(CampaignKind.election);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.lost) {
          this.becomeFollower(this.termValue, NO_NODE);
        }
        break;
      }
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    assert(m.type !== MessageType.app && m.type !== MessageType.heartbeat, `two leaders in term ${this.termValue}: ${this.id} and ${m.from}`);
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.appResp:
        pr.recentActive = true;
        if (m.reject) this.handleAppendRejection(m, pr);
        else this.handleAppendAck(m, pr);
        break;
      case MessageType.heartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window may mean acknowledgements were lost: let one more append through to make progress.
        if (pr.state === ProgressState.replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context !== '') this.ackRead(m.from, m.context);
        break;
      default:
        break;
    }
  }

  private handleAppendRejection(m: Message, pr: Progress): void {
    let hint = m.rejectHint;
    // The follower told us its term at `hint`: skip all our entries above it with a later term.
    if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === ProgressState.replicate) pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  private handleAppendAck(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.replicate) pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // The window may have room for several appends now (e.g. just switched from probe to replicate).
    for (let i = 0; i <= this.maxInflightAppends && this.maybeSendAppend(m.from, false); i++) {
      // each iteration sends one append
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ ...this.blank(MessageType.appResp, m.from), index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const lastNew = m.index + m.entries.length;
      const conflict = this.log.findConflict(m.entries);
      if (conflict !== 0) {
        assert(conflict > this.log.committed, `entry ${conflict} conflicts with committed entries up to ${this.log.committed}`);
        const first = m.entries[0];
        assert(first !== undefined, 'a conflict needs entries');
        this.appendEntries(m.entries.slice(conflict - first.index));
      }
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.pruneConfHistory();
      this.send({ ...this.blank(MessageType.appResp, m.from), index: lastNew });
      return;
    }
    // Tell the leader where our log could match, and our term there, so it can skip a whole term.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      ...this.blank(MessageType.appResp, m.from),
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  // ---- replication ----

  private proposeEntry(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.roleValue !== Role.leader) return refuse(RefusalReason.notLeader, `node ${this.id} is not the leader`);
    if (this.leadTransferee !== NO_NODE) return refuse(RefusalReason.transferInProgress, `leadership is moving to ${this.leadTransferee}`);
    if (this.log.lastIndex() - this.log.committed >= this.maxUncommittedEntries) {
      return refuse(RefusalReason.tooManyUncommitted, `${this.maxUncommittedEntries} entries await commit`);
    }
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ term: this.termValue, index, type, data }]);
    this.bcastAppend();
    return { ok: true, index, term: this.termValue };
  }

  /** The single place where the log grows or is truncated, so configuration tracking cannot miss one. */
  private appendEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (this.roleValue === Role.leader) {
      assert(first.index === this.log.lastIndex() + 1, `a leader never overwrites its log (append at ${first.index}, last ${this.log.lastIndex()})`);
    }
    this.log.append(entries);
    const before = this.currentConf();
    while (this.confHistory.length > 1 && (this.confHistory[this.confHistory.length - 1]?.index ?? 0) >= first.index) this.confHistory.pop();
    for (const e of entries) {
      if (e.type === EntryType.confChange) this.confHistory.push({ index: e.index, conf: decodeConfChange(e.data).conf });
    }
    if (this.currentConf() !== before) this.onConfChanged();
    if (this.roleValue === Role.leader) {
      const self = this.progress.get(this.id);
      assert(self !== undefined, 'a leader must be a member');
      self.maybeUpdate(this.log.lastIndex());
      this.maybeCommit();
    }
  }

  private currentConf(): ConfState {
    const last = this.confHistory[this.confHistory.length - 1];
    assert(last !== undefined, 'no configuration');
    return last.conf;
  }

  private onConfChanged(): void {
    const conf = this.currentConf();
    if (this.roleValue === Role.leader) {
      assert(conf.voters.includes(this.id), 'a leader never removes itself');
      const next = this.log.lastIndex() + 1;
      const members = new Set([...conf.voters, ...conf.learners]);
      for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
      for (const id of members) {
        const isLearner = !conf.voters.includes(id);
        const pr = this.progress.get(id);
        if (pr === undefined) {
          const fresh = new Progress(next, this.maxInflightAppends, isLearner);
          // A new member counts as active until the next check, so adding one cannot cost the lease.
          fresh.recentActive = true;
          this.progress.set(id, fresh);
        } else {
          pr.isLearner = isLearner;
        }
      }
      if (this.leadTransferee !== NO_NODE && !conf.voters.includes(this.leadTransferee)) this.leadTransferee = NO_NODE;
      if (this.maybeCommit()) this.bcastAppend();
    } else if (this.roleValue !== Role.follower && !conf.voters.includes(this.id)) {
      this.becomeFollower(this.termValue, NO_NODE);
    }
  }

  /** Keeps only the configuration in force at the commit index and those after it. */
  private pruneConfHistory(): void {
    while (this.confHistory.length > 1 && (this.confHistory[1]?.index ?? Infinity) <= this.log.committed) this.confHistory.shift();
  }

  private loadConfHistory(storage: RaftStorage, options: RaftNodeOptions): { index: number; conf: ConfState }[] {
    const found: { index: number; conf: ConfState }[] = [];
    const first = storage.firstIndex();
    // Walk back from the end until a configuration at or below the commit index is found: that one and
    // every later (uncommitted) one are all that can matter.
    for (let hi = storage.lastIndex() + 1; hi > first; hi -= CONF_SCAN_CHUNK) {
      const lo = Math.max(first, hi - CONF_SCAN_CHUNK);
      const chunk = storage.entries(lo, hi, hi - lo);
      let done = false;
      for (let i = chunk.length - 1; i >= 0; i--) {
        const e = chunk[i];
        if (e?.type !== EntryType.confChange) continue;
        found.push({ index: e.index, conf: decodeConfChange(e.data).conf });
        if (e.index <= this.log.committed) {
          done = true;
          break;
        }
      }
      if (done) break;
    }
    found.reverse();
    const snap = storage.snapshotMeta();
    const base: ConfState =
      snap.conf.voters.length > 0 || snap.conf.learners.length > 0
        ? snap.conf
        : { voters: [...(options.peers ?? [])].sort(), learners: [...(options.learners ?? [])].sort() };
    return [{ index: snap.index, conf: base }, ...found];
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.termValue;
  }

  /** Advances the commit index to what a quorum of voters holds, but only over an entry of this term. */
  private maybeCommit(): boolean {
    const voters = this.currentConf().voters;
    const matches: number[] = [];
    for (const id of voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[Math.floor(voters.length / 2)] ?? 0;
    // Raft §5.4.2 (figure 8): counting replicas never commits an entry of an earlier term by itself.
    if (quorumIndex <= this.log.committed || this.log.term(quorumIndex) !== this.termValue) return false;
    const hadCommittedInTerm = this.committedEntryInCurrentTerm();
    this.log.commitTo(quorumIndex);
    this.pruneConfHistory();
    if (!hadCommittedInTerm) this.releaseReadsAwaitingCommit();
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxEntriesPerAppend, this.maxBytesPerAppend);
    if (prevTerm === undefined || entries === undefined) {
      // The follower needs entries this log no longer holds: the snapshot path (not built yet) takes
      // over from this state; until then the follower is left paused rather than sent a wrong append.
      pr.becomeSnapshot();
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ ...this.blank(MessageType.app, to), index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    if (last !== undefined) {
      if (pr.state === ProgressState.replicate) {
        pr.next = last.index + 1;
        pr.inflights.add(last.index);
      } else {
        pr.probeSent = true;
      }
    }
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    // Carry the newest pending read so that a lost heartbeat round does not stall reads.
    const context = this.readQueue[this.readQueue.length - 1] ?? '';
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      this.send({ ...this.blank(MessageType.heartbeat, id), commit: Math.min(pr.match, this.log.committed), context });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(this.blank(MessageType.timeoutNow, to));
  }

  // ---- read index ----

  private leaderReadIndex(from: NodeId, context: string): ActionResult {
    if (this.pendingReads.size + this.readsAwaitingCommit.length >= this.maxPendingReadIndex) {
      return refuse(RefusalReason.tooManyPendingReads, `${this.maxPendingReadIndex} reads are pending`);
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Until its own no-op commits, a new leader's commit index may be behind what earlier leaders committed.
      this.readsAwaitingCommit.push({ from, context });
      return { ok: true };
    }
    this.startRead(from, context);
    return { ok: true };
  }

  private startRead(from: NodeId, context: string): void {
    const voters = this.currentConf().voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.answerRead(from, context, this.log.committed);
      return;
    }
    if (this.pendingReads.has(context)) return;
    this.pendingReads.set(context, { index: this.log.committed, from, acks: new Set([this.id]) });
    this.readQueue.push(context);
    this.bcastHeartbeat();
  }

  private releaseReadsAwaitingCommit(): void {
    const waiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const r of waiting) this.startRead(r.from, r.context);
  }

  private ackRead(from: NodeId, context: string): void {
    const pending = this.pendingReads.get(context);
    if (pending === undefined) return;
    const voters = this.currentConf().voters;
    if (voters.includes(from)) pending.acks.add(from);
    let acks = 0;
    for (const id of voters) if (pending.acks.has(id)) acks++;
    if (acks < Math.floor(voters.length / 2) + 1) return;
    // A quorum answered a heartbeat sent after this read arrived, so it also confirms every earlier read.
    const at = this.readQueue.indexOf(context);
    assert(at >= 0, 'a pending read is missing from the queue');
    const resolved = this.readQueue.splice(0, at + 1);
    for (const ctx of resolved) {
      const r = this.pendingReads.get(ctx);
      this.pendingReads.delete(ctx);
      if (r !== undefined) this.answerRead(r.from, ctx, r.index);
    }
  }

  private answerRead(from: NodeId, context: string, index: number): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ ...this.blank(MessageType.readIndexResp, from), index, context });
  }

  // ---- messages ----

  private blank(type: Message['type'], to: NodeId): Message {
    return { type, from: this.id, to, term: this.termValue, logTerm: 0, index: 0, entries: EMPTY_ENTRIES, commit: 0, reject: false, rejectHint: 0, context: '' };
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }
}
