// The plain-data vocabulary of the Raft core: entries, messages, persisted state, the Ready hand-off
// and the read-only storage view. Everything here is data only (no classes, no functions) so that the
// driver can encode it with Avro for gRPC without adapters.

/** A node's id in the Raft group; the empty string means "nobody" (no vote, no known leader). */
export type NodeId = string;
export const NO_NODE: NodeId = '';

export const EntryType = {
  normal: 'normal',
  /** Carries an encoded ConfChangeRecord; takes effect on each node as soon as it is in its log. */
  confChange: 'confChange',
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before a node answers anyone: its term, its vote in that term, its commit index. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** A group configuration. Voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const ConfChangeType = {
  addLearner: 'addLearner',
  /** Promotes a learner that has caught up; a node must join as a learner first. */
  addVoter: 'addVoter',
  removeNode: 'removeNode',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/** The payload of a confChange entry: the change and the whole configuration that results from it. */
export interface ConfChangeRecord {
  readonly change: ConfChange;
  readonly conf: ConfState;
}

export const Role = {
  follower: 'follower',
  preCandidate: 'preCandidate',
  candidate: 'candidate',
  leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const MessageType = {
  /** Leader → follower: entries after (index, logTerm), and the leader's commit index. */
  app: 'MsgApp',
  /** Follower → leader: index is the last matched index, or the rejected index with a hint. */
  appResp: 'MsgAppResp',
  vote: 'MsgVote',
  voteResp: 'MsgVoteResp',
  preVote: 'MsgPreVote',
  preVoteResp: 'MsgPreVoteResp',
  heartbeat: 'MsgHeartbeat',
  heartbeatResp: 'MsgHeartbeatResp',
  /** Leader → transfer target: campaign now, skipping pre-vote and other nodes' leader lease. */
  timeoutNow: 'MsgTimeoutNow',
  /** Follower → leader: a forwarded read-index request; context is the request's context. */
  readIndex: 'MsgReadIndex',
  /** Leader → follower: the read index for a forwarded request (index, context). */
  readIndexResp: 'MsgReadIndexResp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One flat record for every message type, like etcd's raftpb.Message: fields a type does not use are
 * zero / empty. A flat record maps onto one Avro record with defaults.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** MsgApp: term of the entry at `index`. Vote requests: the candidate's last term. Rejections: hint term. */
  readonly logTerm: number;
  /** MsgApp: the index preceding `entries`. Vote requests: the candidate's last index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  /** Read-index request context, or CAMPAIGN_TRANSFER on a vote request caused by a leader transfer. */
  readonly context: string;
}

/** Context of a vote request sent because the leader asked this node to take over. */
export const CAMPAIGN_TRANSFER = 'CampaignTransfer';

/** The answer to readIndex(context): reads that see every write committed before the request may run once applied ≥ index. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/** Volatile state the driver may want to report; not persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * What the driver must do, in this order: persist `entries` (replacing any stored entries from
 * entries[0].index on) and `hardState` durably (fsync); then send `messages`; then apply
 * `committedEntries`; then call advance(ready).
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** False when nothing needs an fsync (no entries, and term/vote unchanged). */
  readonly mustSync: boolean;
}

/** The compacted prefix of the log: everything up to `index` is in a state-machine snapshot. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

/**
 * A read-only view of what the driver has persisted. The core never writes through it; the driver
 * updates the backing store when it handles a Ready. Entries (snapshot.index, lastIndex()] are
 * available; an index at or below snapshot.index is compacted and would be sent as a snapshot (a
 * later feature: the core reports it via RaftNode.needsSnapshot rather than guessing).
 */
export interface RaftStorage {
  hardState(): HardState;
  snapshotMeta(): SnapshotMeta;
  /** snapshotMeta().index + 1 */
  firstIndex(): number;
  lastIndex(): number;
  /** The term of an entry in [snapshot.index, lastIndex()], or undefined outside it. */
  term(index: number): number | undefined;
  /** Entries [lo, hi), at most maxEntries of them (at least one when lo < hi); lo ≥ firstIndex(), hi ≤ lastIndex()+1. */
  entries(lo: number, hi: number, maxEntries: number): readonly Entry[];
}
