// The Raft-replicated sequencer: the same `Sequencer` contract as LocalSequencer, but "durable" means
// committed by a majority of the Raft group, and every node (not only the one that sequenced a batch)
// appends each committed entry to its input log and applies it.
//
// - On the leader, transactions collect into a batch for one epoch (or until it is full), exactly like
//   LocalSequencer, and the batch is proposed; its log position is its Raft index.
// - Elsewhere a submission is forwarded to the leader (the injected `forward`, gRPC in production) and
//   the submitter waits for its own node to execute it (see OrdoNode.awaitOutcome).
// - Raft's own entries (a new leader's empty entry, membership changes) are recorded as `control noop`
//   entries at their index, so every node's input log is contiguous, identical and equal to the Raft log.
// - A proposal that provably never commits (refused outright, or replaced by another leader's entry) is
//   retried transparently until the submission's deadline, then fails with 40001; one whose fate is
//   unknown (timed out, node stopping) fails with 40003. Never a false success: submitters are settled
//   only by the commit of their own (index, term).

import { OrdoError, assert } from '../util/index.js';
import type { InputLog } from './inputLog.js';
import type { Sequencer } from './localSequencer.js';
import { decodeLogEntry, encodeForAppend } from './logCodec.js';
import {
  EntryType,
  NO_NODE,
  RaftDriver,
  RaftDriverError,
  RaftDriverErrorReason,
  type DurableRaftStorage,
  type Entry,
  type NodeId,
  type RaftDriverOptions,
  type RaftDriverStatus,
  type RaftTransport,
} from './raft/index.js';
import { EpochBatcher } from './epochBatcher.js';
import type { ControlEntry, LogEntry, LogEntryBody, TxnRequest } from './types.js';

export const RaftSequencerDefaults = {
  /** How long a submission keeps looking for a leader that commits it before it fails with 40001. */
  submitTimeoutMs: 8_000,
  /** Bound on one forwarded call (the leader answers once the batch commits). */
  forwardCallTimeoutMs: 3_000,
  retryInitialMs: 10,
  retryMaxMs: 200,
  /** close() waits this long for in-flight proposals before stopping Raft. */
  closeGraceMs: 2_000,
} as const;

export const SequencerCodes = {
  /** Nothing was committed (no leader, leadership changed before commit): safe to retry. */
  notCommitted: '40001',
  /** The outcome is unknown: the batch may or may not commit. */
  outcomeUnknown: '40003',
  tooBusy: '53000',
  shuttingDown: '57P01',
} as const;

/** A submission that provably did not commit; the sequencer retries it until its deadline. */
export class NotCommittedError extends OrdoError {
  constructor(message: string) {
    super(SequencerCodes.notCommitted, message);
    this.name = 'NotCommittedError';
  }
}

/** What a forwarded submission came back with. */
export type ForwardResult = { readonly position: number } | { readonly position: 0; readonly code: string; readonly message: string };

export interface RaftSequencerOptions<A> {
  readonly nodeId: NodeId;
  /** The voters of a brand-new group; ignored once the Raft log holds a configuration. */
  readonly peers: readonly NodeId[];
  readonly storage: DurableRaftStorage;
  readonly transport: RaftTransport;
  /** Committed entries are appended here at their Raft index. */
  readonly log: InputLog;
  readonly epochMs: number;
  readonly maxBatchTxns: number;
  readonly maxPendingTxns: number;
  /**
   * Applies every committed entry, strictly in position order, inside the input log's transaction that
   * records it, so its effects are durable exactly when its record is.
   */
  readonly apply: (entry: LogEntry) => A;
  /** Called with what `apply` returned once the entry is on disk here, in position order. */
  readonly onDurable: (applied: A, entry: LogEntry) => void;
  /**
   * Sends an encoded entry (encodeLogEntry at position 0) to the leader; resolves with its answer,
   * rejects when the call failed (the outcome is then unknown).
   */
  readonly forward: (leader: NodeId, entry: Buffer) => Promise<ForwardResult>;
  readonly submitTimeoutMs?: number;
  readonly nowMs?: () => number;
  /** Raft timing and limits (tickMs, electionTicks, proposalTimeoutMs…). */
  readonly raft?: Partial<Pick<RaftDriverOptions, 'tickMs' | 'electionTicks' | 'heartbeatTicks' | 'proposalTimeoutMs' | 'maxPendingProposals' | 'onFatal'>>;
}

interface Waiter {
  readonly txn: TxnRequest;
  readonly resolve: (position: number) => void;
  readonly reject: (err: Error) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** gRPC status codes after which a forwarded transaction may be sent again (dedup makes it safe). */
const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

export class RaftSequencer<A> implements Sequencer {
  readonly driver: RaftDriver;
  private readonly options: RaftSequencerOptions<A>;
  private readonly log: InputLog;
  private readonly nowMs: () => number;
  private readonly submitTimeoutMs: number;
  private readonly batcher: EpochBatcher<Waiter>;
  /** The highest epoch and timestamp this node has sequenced or seen committed. */
  private epoch = 0;
  private lastTimestampMs = 0;
  /** The timestamp of the last entry in the input log: what Raft's own entries are stamped with. */
  private lastLoggedTimestampMs = 0;
  /** The input log position of the last committed entry handed to the log (it may still be syncing). */
  private appendedThrough: number;
  private pending = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(options: RaftSequencerOptions<A>) {
    assert(options.epochMs >= 0 && options.maxBatchTxns > 0, 'the epoch must not be negative and the batch size must be positive');
    this.options = options;
    this.log = options.log;
    this.nowMs = options.nowMs ?? Date.now;
    this.batcher = new EpochBatcher(options.epochMs, options.maxBatchTxns, (waiters) => this.closeBatch(waiters));
    this.submitTimeoutMs = options.submitTimeoutMs ?? RaftSequencerDefaults.submitTimeoutMs;
    this.appendedThrough = options.log.lastPosition;
    const last = options.log.read(options.log.lastPosition);
    if (last !== undefined) {
      this.lastLoggedTimestampMs = last.kind === 'batch' ? last.batch.timestampMs : last.timestampMs;
      this.lastTimestampMs = this.lastLoggedTimestampMs;
      if (last.kind === 'batch') this.epoch = last.batch.epoch;
    }
    const commit = options.storage.hardState().commit;
    if (options.log.lastPosition > commit) {
      throw new OrdoError(
        'F0000',
        `the input log holds ${options.log.lastPosition} entries but the Raft log has committed only ${commit}: this data directory was not created by a cluster node`,
      );
    }
    this.driver = new RaftDriver({
      ...options.raft,
      id: options.nodeId,
      peers: options.peers,
      storage: options.storage,
      transport: options.transport,
      // Entries through the input log's end are applied already (recovery replays the input log).
      applied: options.log.lastPosition,
      onCommitted: (entries) => this.onCommitted(entries),
    });
  }

  start(): Promise<void> {
    return this.driver.start();
  }

  status(): RaftDriverStatus {
    return this.driver.status();
  }

  /**
   * A linearizable read point (Raft's ReadIndex): the leader's commit index once it has confirmed it
   * still leads, resolved only after this node has applied up to it. Nothing was read if it fails, so
   * the error is retryable (40001).
   */
  async readIndex(): Promise<number> {
    try {
      return await this.driver.readIndex();
    } catch (err) {
      if (!(err instanceof RaftDriverError)) throw err;
      throw new OrdoError(SequencerCodes.notCommitted, `no linearizable read point (${err.reason}): ${err.message}`);
    }
  }

  get pendingCount(): number {
    return this.pending;
  }

  submit(txn: TxnRequest): Promise<number> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.track(this.sequenceWithRetry(() => this.sequenceTxn(txn), true));
  }

  submitControl(control: ControlEntry): Promise<number> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    // Control entries are not deduplicated, so only a provably uncommitted one is sent again.
    return this.track(this.sequenceWithRetry(() => this.sequenceControl(control), false));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.batcher.close();
    this.closed = true;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise<void>((r) => {
        grace = setTimeout(r, RaftSequencerDefaults.closeGraceMs);
      }),
    ]);
    clearTimeout(grace);
    await this.driver.stop();
  }

  /**
   * Serves a submission forwarded by another node. Only the leader sequences it; anything else answers
   * "not committed" at once and the sender looks for the leader again.
   */
  async handleForward(bytes: Buffer): Promise<ForwardResult> {
    try {
      const entry = decodeLogEntry(bytes, 0);
      if (this.closed) throw new OrdoError(SequencerCodes.shuttingDown, 'the node is shutting down');
      // Never forward a forwarded submission again: the sender looks for the leader itself.
      if (!this.driver.isLeader) throw new NotCommittedError(`node ${this.options.nodeId} is not the leader`);
      const refusal = this.refusal();
      if (refusal !== undefined) throw refusal;
      if (entry.kind === 'batch') {
        const positions = await Promise.all(entry.batch.txns.map((txn) => this.track(this.sequenceTxn(txn))));
        return { position: Math.max(...positions) };
      }
      return { position: await this.track(this.sequenceControl(entry.control)) };
    } catch (err) {
      const code = err instanceof OrdoError ? err.code : SequencerCodes.outcomeUnknown;
      return { position: 0, code, message: asError(err).message };
    }
  }

  // ---- sequencing ----

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    this.pending++;
    const done = (): void => {
      this.inflight.delete(p);
      this.pending--;
    };
    p.then(done, done);
    return p;
  }

  private refusal(): Error | undefined {
    if (this.closed) return new OrdoError(SequencerCodes.shuttingDown, 'the node is shutting down');
    if (this.driver.error !== undefined) return new OrdoError('58030', `raft stopped: ${this.driver.error.message}`);
    if (this.pending >= this.options.maxPendingTxns) {
      return new OrdoError(SequencerCodes.tooBusy, `too many transactions waiting to be sequenced (${this.pending}); retry later`);
    }
    return undefined;
  }

  /** Retries `attempt` while it provably did not commit, until the submission's deadline. */
  private async sequenceWithRetry(attempt: () => Promise<number>, txnRetrySafe: boolean): Promise<number> {
    const deadline = performance.now() + this.submitTimeoutMs;
    let delayMs: number = RaftSequencerDefaults.retryInitialMs;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        const grpcCode = (err as { code?: unknown }).code;
        const retryable =
          err instanceof NotCommittedError || (txnRetrySafe && !(err instanceof OrdoError) && typeof grpcCode === 'number' && RETRYABLE_GRPC_CODES.has(grpcCode));
        if (!retryable || this.closed || performance.now() + delayMs > deadline) {
          if (err instanceof OrdoError) throw err;
          throw new OrdoError(SequencerCodes.outcomeUnknown, `forwarding to the leader failed; the transaction may or may not commit: ${asError(err).message}`, { cause: err });
        }
      }
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, RaftSequencerDefaults.retryMaxMs);
    }
  }

  /** One attempt: batch it here if this node leads, else forward it to the leader it knows of. */
  private sequenceTxn(txn: TxnRequest): Promise<number> {
    if (this.driver.isLeader) {
      return new Promise<number>((resolve, reject) => this.batcher.add({ txn, resolve, reject }));
    }
    return this.forward({ kind: 'batch', batch: { epoch: 0, timestampMs: 0, txns: [txn] } });
  }

  private sequenceControl(control: ControlEntry): Promise<number> {
    const body: LogEntryBody = { kind: 'control', timestampMs: this.nextTimestamp(), control };
    if (!this.driver.isLeader) return this.forward(body);
    // After the open batch, as on a single node.
    this.batcher.close();
    let bytes: Buffer;
    try {
      bytes = encodeForAppend(body, 0);
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.propose(bytes);
  }

  private async forward(body: LogEntryBody): Promise<number> {
    const leader = this.driver.status().leader;
    if (leader === NO_NODE || leader === this.options.nodeId) throw new NotCommittedError('no leader is known yet');
    const bytes = encodeForAppend(body, 0);
    const r = await this.options.forward(leader, bytes);
    if (r.position > 0) return r.position;
    const refused = r as { code: string; message: string };
    if (refused.code === SequencerCodes.notCommitted) throw new NotCommittedError(`leader ${leader}: ${refused.message}`);
    throw new OrdoError(refused.code, `leader ${leader}: ${refused.message}`);
  }

  private nextTimestamp(): number {
    // Batch timestamps never go backwards, even across leaders (lastTimestampMs follows the log too).
    this.lastTimestampMs = Math.max(this.lastTimestampMs, this.nowMs());
    return this.lastTimestampMs;
  }

  private closeBatch(waiters: readonly Waiter[]): void {
    this.epoch++;
    const body: LogEntryBody = { kind: 'batch', batch: { epoch: this.epoch, timestampMs: this.nextTimestamp(), txns: waiters.map((w) => w.txn) } };
    let bytes: Buffer;
    try {
      bytes = encodeForAppend(body, 0);
    } catch (err) {
      for (const w of waiters) w.reject(asError(err));
      return;
    }
    this.propose(bytes).then(
      (position) => {
        for (const w of waiters) w.resolve(position);
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(asError(err));
      },
    );
  }

  /** Proposes an encoded entry; maps the driver's refusals to what the submitter may do about them. */
  private async propose(bytes: Buffer): Promise<number> {
    try {
      return (await this.driver.propose(bytes)).index;
    } catch (err) {
      if (!(err instanceof RaftDriverError)) throw err;
      switch (err.reason) {
        case RaftDriverErrorReason.timeout:
          throw new OrdoError(SequencerCodes.outcomeUnknown, `${err.message}: the transaction may or may not commit`);
        case RaftDriverErrorReason.stopped:
          throw new OrdoError(SequencerCodes.outcomeUnknown, `${err.message}: the transaction may or may not commit`);
        case RaftDriverErrorReason.tooManyPending:
          throw new OrdoError(SequencerCodes.tooBusy, err.message);
        case RaftDriverErrorReason.dropped:
          throw new NotCommittedError(`leadership changed before the batch committed: ${err.message}`);
        default:
          // A refusal: nothing was appended.
          throw new NotCommittedError(`not sequenced (${err.reason}): ${err.message}`);
      }
    }
  }

  // ---- committed entries ----

  /** What a committed Raft entry records in the input log. */
  private bodyOf(e: Entry): LogEntryBody {
    if (e.type === EntryType.confChange || e.data.length === 0) {
      // Raft's own entries keep the input log contiguous; the timestamp is the previous entry's, so
      // every node writes the same record.
      const reason = e.type === EntryType.confChange ? 'raft membership change' : 'raft leader elected';
      return { kind: 'control', timestampMs: this.lastLoggedTimestampMs, control: { kind: 'noop', reason } };
    }
    const entry = decodeLogEntry(e.data, 0);
    return entry.kind === 'batch' ? { kind: 'batch', batch: entry.batch } : { kind: 'control', timestampMs: entry.timestampMs, control: entry.control };
  }

  private async onCommitted(entries: readonly Entry[]): Promise<void> {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (i > 0) {
        // Applying a long run of committed batches in one go (a follower catching up, bulk loads) held
        // the event loop for over a second: Raft's own calls missed their deadlines and were resent.
        // Let messages and timers through between entries; the driver runs one Ready at a time.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (e.index <= this.appendedThrough) continue;
      assert(e.index === this.appendedThrough + 1, `committed raft index ${e.index} does not follow input log position ${this.appendedThrough}`);
      const body = this.bodyOf(e);
      // One LMDB transaction records the entry at its Raft index and applies it: one flush, not two.
      let applied: { result: A; entry: LogEntry } | undefined;
      // A batch or control entry's data is already its record at position 0: moved, not re-encoded.
      const encoded = e.type === EntryType.confChange || e.data.length === 0 ? undefined : Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      const position = this.log.appendApplied(
        body,
        (entry) => {
          applied = { result: this.options.apply(entry), entry };
        },
        encoded,
        // Committed means durable in the Raft log on a majority, this node included; a lost apply is
        // delivered again after a restart (the driver starts from the input log's end).
        { replicated: true },
      );
      assert(position === e.index && applied !== undefined, 'the input log recorded and applied the entry at its raft index');
      this.appendedThrough = e.index;
      this.lastLoggedTimestampMs = body.kind === 'batch' ? body.batch.timestampMs : body.timestampMs;
      this.lastTimestampMs = Math.max(this.lastTimestampMs, this.lastLoggedTimestampMs);
      if (body.kind === 'batch') this.epoch = Math.max(this.epoch, body.batch.epoch);
      this.options.onDurable(applied.result, applied.entry);
    }
  }
}
