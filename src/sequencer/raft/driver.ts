// The Raft driver: wires the pure core to durable storage, a transport and a tick timer, and runs the
// Ready loop in etcd's order:
//
//   1. persist the Ready's hard state and entries in one LMDB transaction, and make sure they are on
//      disk (storage.sync) when the Ready says it must (new entries, or a changed term or vote) — Raft's
//      promises to other nodes (votes, append acknowledgements) hold only if they survive a crash;
//   2. send the Ready's messages (fire-and-forget);
//   3. deliver committed entries to onCommitted (awaited), settle proposals and reads;
//   4. advance.
//
// One Ready is handled at a time. Messages, ticks and proposals keep being stepped into the core while a
// Ready is being persisted or applied (etcd's RawNode allows that): their effects wait in the core for
// the next Ready, so nothing they cause is sent before it is durable.
//
// Timing defaults: a 50 ms tick, heartbeats every tick and an election timeout of 10 ticks, randomized by
// the core into [500 ms, 1000 ms). After a leader dies its followers campaign within at most 1 s of the
// last heartbeat, pre-vote and vote take two round trips plus two fsyncs, and the new leader's no-op
// commits one round trip and fsync later: a new leader commits well within the 2 s the issue demands
// (measured in test/raft.driver.process.test.ts), while a 500 ms floor rides out GC pauses and a loaded
// machine without spurious elections.

import { assert } from '../../util/index.js';
import type { RaftTransport } from './transport.js';
import { RaftNode, type RaftNodeOptions, type RaftStatus, type RefusalReason } from './raft.js';
import { NO_NODE, Role, type ConfChange, type Entry, type HardState, type Message, type NodeId, type RaftStorage, type Ready, type SoftState } from './types.js';

/** The storage a driver writes through; LmdbRaftStorage is the durable one. */
export interface DurableRaftStorage extends RaftStorage {
  /** Records hard state and entries (replacing the stored suffix from entries[0].index) atomically. */
  persist(hardState: HardState | undefined, entries: readonly Entry[]): void;
  /** Resolves once everything persisted before the call survives a crash. */
  sync(): Promise<void>;
}

export interface RaftDriverOptions {
  readonly id: NodeId;
  /** The voters of a brand-new group (see RaftNodeOptions.peers); ignored once the log holds a configuration. */
  readonly peers?: readonly NodeId[];
  readonly storage: DurableRaftStorage;
  readonly transport: RaftTransport;
  /**
   * Receives committed entries in log order, each exactly once per driver lifetime (a restarted driver
   * redelivers entries after `applied`). Awaited: the next batch waits for this one.
   */
  readonly onCommitted: (entries: readonly Entry[]) => void | Promise<void>;
  /** Leader or role changes (after the Ready that reports them is persisted). */
  readonly onSoftState?: (state: SoftState & { readonly term: number }) => void;
  /** A storage failure or a violated invariant: the driver has stopped itself. Default: log to stderr. */
  readonly onFatal?: (err: Error) => void;
  /** The last index the state machine applied durably; later committed entries are delivered. */
  readonly applied?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** The core's randomness (election timeouts). Default Math.random; tests pass a seeded source. */
  readonly random?: () => number;
  readonly maxPendingProposals?: number;
  readonly maxPendingReads?: number;
  /** A proposal not settled by then is rejected with reason `timeout` (its outcome is unknown). */
  readonly proposalTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  /** Further core options (batching, in-flight limits…). */
  readonly raft?: Partial<Omit<RaftNodeOptions, 'id' | 'peers' | 'storage' | 'random' | 'applied' | 'electionTicks' | 'heartbeatTicks'>>;
}

export const RaftDriverDefaults = {
  tickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  maxPendingProposals: 10_000,
  maxPendingReads: 1024,
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
} as const;

export const RaftDriverErrorReason = {
  /** This node is not the leader; `leader` names the one it knows of (or is empty). */
  notLeader: 'notLeader',
  /** Another entry committed at the proposal's index: it will never commit. */
  dropped: 'dropped',
  /** Not settled in time: the proposal may or may not commit later. */
  timeout: 'timeout',
  stopped: 'stopped',
  tooManyPending: 'tooManyPending',
} as const;
export type RaftDriverErrorReason = (typeof RaftDriverErrorReason)[keyof typeof RaftDriverErrorReason];

export class RaftDriverError extends Error {
  readonly reason: RaftDriverErrorReason | RefusalReason;
  /** The leader this node knew of when it refused, for forwarding; empty if none. */
  readonly leader: NodeId;
  constructor(reason: RaftDriverErrorReason | RefusalReason, message: string, leader: NodeId = NO_NODE) {
    super(message);
    this.name = 'RaftDriverError';
    this.reason = reason;
    this.leader = leader;
  }
}

export interface RaftDriverStatus extends RaftStatus {
  readonly pendingProposals: number;
  readonly pendingReads: number;
  readonly stopped: boolean;
  readonly readies: number;
  readonly syncs: number;
}

interface PendingProposal {
  readonly term: number;
  readonly resolve: (r: { index: number; term: number }) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingRead {
  /** Set once the leader confirmed the read point. */
  index: number | undefined;
  readonly resolve: (index: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class RaftDriver {
  readonly id: NodeId;
  private readonly node: RaftNode;
  private readonly storage: DurableRaftStorage;
  private readonly transport: RaftTransport;
  private readonly options: RaftDriverOptions;
  private readonly tickMs: number;
  private readonly maxPendingProposals: number;
  private readonly maxPendingReads: number;
  private readonly proposalTimeoutMs: number;
  private readonly readTimeoutMs: number;

  private readonly proposals = new Map<number, PendingProposal[]>();
  private pendingProposalCount = 0;
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private appliedIndex: number;

  private ticker: NodeJS.Timeout | undefined;
  private scheduled = false;
  /** The Ready being handled, if any; stop() waits for it. */
  private cycle: Promise<void> | undefined;
  private stopped = false;
  private failure: Error | undefined;
  private readyCount = 0;
  private syncCount = 0;

  constructor(options: RaftDriverOptions) {
    this.options = options;
    this.id = options.id;
    this.storage = options.storage;
    this.transport = options.transport;
    this.tickMs = options.tickMs ?? RaftDriverDefaults.tickMs;
    this.maxPendingProposals = options.maxPendingProposals ?? RaftDriverDefaults.maxPendingProposals;
    this.maxPendingReads = options.maxPendingReads ?? RaftDriverDefaults.maxPendingReads;
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? RaftDriverDefaults.proposalTimeoutMs;
    this.readTimeoutMs = options.readTimeoutMs ?? RaftDriverDefaults.readTimeoutMs;
    assert(this.tickMs > 0, 'tickMs must be positive');
    this.appliedIndex = options.applied ?? 0;
    this.node = new RaftNode({
      ...options.raft,
      id: options.id,
      ...(options.peers === undefined ? {} : { peers: options.peers }),
      storage: options.storage,
      random: options.random ?? Math.random,
      electionTicks: options.electionTicks ?? RaftDriverDefaults.electionTicks,
      heartbeatTicks: options.heartbeatTicks ?? RaftDriverDefaults.heartbeatTicks,
      applied: this.appliedIndex,
    });
    this.appliedIndex = this.node.status().applied;
  }

  /** Starts the transport and the tick timer. */
  async start(): Promise<void> {
    assert(this.ticker === undefined && !this.stopped, 'driver already started or stopped');
    await this.transport.start((messages) => this.receive(messages));
    this.ticker = setInterval(() => this.tick(), this.tickMs);
    this.schedule();
  }

  // ---- inputs ----

  private receive(messages: readonly Message[]): void {
    if (this.stopped) return;
    try {
      for (const m of messages) this.node.step(m);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.schedule();
  }

  private tick(): void {
    if (this.stopped) return;
    try {
      this.node.tick();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.schedule();
  }

  /** Resolves with the entry's position once it is committed; rejects if it is not the leader, or it never commits. */
  propose(data: Uint8Array): Promise<{ index: number; term: number }> {
    return this.proposeWith(() => this.node.propose(data));
  }

  /** A membership change, settled like a proposal. The caller updates the transport's peers. */
  proposeConfChange(change: ConfChange): Promise<{ index: number; term: number }> {
    return this.proposeWith(() => this.node.proposeConfChange(change));
  }

  private proposeWith(propose: () => ReturnType<RaftNode['propose']>): Promise<{ index: number; term: number }> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    if (this.pendingProposalCount >= this.maxPendingProposals) {
      return Promise.reject(new RaftDriverError(RaftDriverErrorReason.tooManyPending, `${this.maxPendingProposals} proposals await commit`, this.node.leader));
    }
    let r: ReturnType<RaftNode['propose']>;
    try {
      r = propose();
    } catch (err) {
      this.fail(err);
      return Promise.reject(this.stoppedError());
    }
    if (!r.ok) return Promise.reject(new RaftDriverError(r.reason, r.detail, this.node.leader));
    const { index, term } = r;
    this.schedule();
    return new Promise((resolve, reject) => {
      const waiter: PendingProposal = {
        term,
        resolve,
        reject,
        timer: setTimeout(() => {
          if (!this.forgetProposal(index, waiter)) return;
          reject(new RaftDriverError(RaftDriverErrorReason.timeout, `proposal at ${index} (term ${term}) not committed within ${this.proposalTimeoutMs} ms; it may still commit`, this.node.leader));
        }, this.proposalTimeoutMs),
      };
      // Several waiters can share an index: this node may lead again in a later term and reuse an index
      // whose earlier entry was truncated here. Only the commit of that index settles them.
      const list = this.proposals.get(index);
      if (list === undefined) this.proposals.set(index, [waiter]);
      else list.push(waiter);
      this.pendingProposalCount++;
    });
  }

  private forgetProposal(index: number, waiter: PendingProposal): boolean {
    const list = this.proposals.get(index);
    const at = list?.indexOf(waiter) ?? -1;
    if (list === undefined || at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) this.proposals.delete(index);
    this.pendingProposalCount--;
    return true;
  }

  /**
   * A linearizable read point: resolves with an index once the leader confirmed its leadership after
   * this call AND this driver has delivered every entry up to that index to onCommitted, so a read of
   * the state machine now sees every write committed before the call.
   */
  readIndex(): Promise<number> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    if (this.reads.size >= this.maxPendingReads) {
      return Promise.reject(new RaftDriverError(RaftDriverErrorReason.tooManyPending, `${this.maxPendingReads} reads are pending`, this.node.leader));
    }
    const context = `${this.id}:${++this.readSeq}`;
    const r = this.node.readIndex(context);
    if (!r.ok) return Promise.reject(new RaftDriverError(r.reason, r.detail, this.node.leader));
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.reads.delete(context)) return;
        reject(new RaftDriverError(RaftDriverErrorReason.timeout, `read index not confirmed within ${this.readTimeoutMs} ms`, this.node.leader));
      }, this.readTimeoutMs);
      this.reads.set(context, { index: undefined, resolve, reject, timer });
    });
  }

  /** Asks `to` to take over (proposals are refused meanwhile). Returns at once; watch status() or onSoftState. */
  transferLeadership(to: NodeId): { ok: true } | { ok: false; reason: RefusalReason; detail: string } {
    if (this.stopped) return { ok: false, reason: 'notLeader', detail: 'driver stopped' };
    const r = this.node.transferLeadership(to);
    this.schedule();
    return r;
  }

  /** Starts an election now (tests, admin "force election"). */
  campaign(): void {
    if (this.stopped) return;
    this.node.campaign();
    this.schedule();
  }

  status(): RaftDriverStatus {
    return {
      ...this.node.status(),
      pendingProposals: this.pendingProposalCount,
      pendingReads: this.reads.size,
      stopped: this.stopped,
      readies: this.readyCount,
      syncs: this.syncCount,
    };
  }

  get isLeader(): boolean {
    return !this.stopped && this.node.role === Role.leader;
  }

  /** The failure that stopped the driver, if one did. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Stops ticking and receiving, waits for the Ready in hand, rejects everything pending, closes the transport. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.cycle;
      return;
    }
    this.stopped = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    await this.cycle;
    this.rejectAll(this.stoppedError());
    await this.transport.close();
  }

  // ---- the Ready loop ----

  private schedule(): void {
    if (this.scheduled || this.stopped || this.cycle !== undefined) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped || this.cycle !== undefined || !this.node.hasReady()) return;
      this.cycle = this.handleReady(this.node.ready()).finally(() => {
        this.cycle = undefined;
        this.schedule();
      });
    });
  }

  private async handleReady(rd: Ready): Promise<void> {
    this.readyCount++;
    try {
      this.storage.persist(rd.hardState, rd.entries);
      if (rd.mustSync) {
        this.syncCount++;
        await this.storage.sync();
      }
      // Sent even when stop() came during the sync: what they promise is durable, and peers may need it.
      this.transport.send(rd.messages);
      if (rd.softState !== undefined) this.options.onSoftState?.({ ...rd.softState, term: this.node.term });
      const last = rd.committedEntries[rd.committedEntries.length - 1];
      if (last !== undefined) {
        await this.options.onCommitted(rd.committedEntries);
        this.appliedIndex = last.index;
        for (const e of rd.committedEntries) this.settleProposal(e);
      }
      for (const rs of rd.readStates) {
        const pending = this.reads.get(rs.context);
        if (pending !== undefined) pending.index = rs.index;
      }
      this.settleReads();
      this.node.advance(rd);
    } catch (err) {
      this.fail(err);
    }
  }

  private settleProposal(e: Entry): void {
    const list = this.proposals.get(e.index);
    if (list === undefined) return;
    this.proposals.delete(e.index);
    this.pendingProposalCount -= list.length;
    for (const p of list) {
      clearTimeout(p.timer);
      // The term decides: the same (index, term) is the same entry (Log Matching); another term at this
      // index means a later leader replaced ours, and a committed index never changes again.
      if (e.term === p.term) p.resolve({ index: e.index, term: e.term });
      else p.reject(new RaftDriverError(RaftDriverErrorReason.dropped, `proposal at ${e.index} (term ${p.term}) was replaced by an entry of term ${e.term}`, this.node.leader));
    }
  }

  private settleReads(): void {
    for (const [context, r] of this.reads) {
      if (r.index === undefined || r.index > this.appliedIndex) continue;
      this.reads.delete(context);
      clearTimeout(r.timer);
      r.resolve(r.index);
    }
  }

  // ---- failure ----

  private stoppedError(): RaftDriverError {
    const cause = this.failure === undefined ? '' : `: ${this.failure.message}`;
    return new RaftDriverError(RaftDriverErrorReason.stopped, `raft driver ${this.id} is stopped${cause}`, this.node.leader);
  }

  private rejectAll(err: Error): void {
    for (const list of this.proposals.values()) {
      for (const p of list) {
        clearTimeout(p.timer);
        p.reject(err);
      }
    }
    this.proposals.clear();
    this.pendingProposalCount = 0;
    for (const r of this.reads.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
  }

  /** Storage errors and broken invariants are not survivable: persisting must never be skipped. */
  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.stopped = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    this.rejectAll(this.stoppedError());
    void this.transport.close();
    const report = this.options.onFatal ?? ((e: Error) => process.stderr.write(`raft driver ${this.id} stopped: ${e.stack ?? e.message}\n`));
    report(this.failure);
  }
}
