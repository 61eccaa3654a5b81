// The single-node sequencer: collects transactions for one epoch (or until the batch is full), stamps
// the batch with its timestamp, and appends it to the log together with its application (one LMDB
// transaction, one flush), in log order.
// The Raft-replicated sequencer implements the same `Sequencer` interface; only "durable" changes
// meaning (synced on a majority instead of on this disk).

import { OrdoError, assert } from '../util/index.js';
import { EpochBatcher } from './epochBatcher.js';
import { entryAt } from './inputLog.js';
import { EntryRejectedError, type ControlEntry, type LogEntry, type LogEntryBody, type TxnRequest } from './types.js';

/** Where closed batches go: the input log, or (for executor-only benchmarks) nowhere durable. */
export interface LogSink {
  readonly lastPosition: number;
  /**
   * Records the entry at the next position and calls `apply` with it in the same storage transaction;
   * returns the position once both are durable. Throws EntryRejectedError when the entry itself cannot
   * be recorded (nothing was appended, later appends are unaffected); anything else thrown means the
   * log failed, or `apply` did, and nothing more may be appended.
   */
  appendApplied(body: LogEntryBody, apply: (entry: LogEntry) => void): number;
}


export interface Sequencer {
  /** Queues a transaction for the open batch; resolves with its position once the batch is durable. */
  submit(txn: TxnRequest): Promise<number>;
  /** Closes the open batch and appends a control entry right after it. */
  submitControl(control: ControlEntry): Promise<number>;
  /** Transactions accepted but not yet handed on. */
  readonly pendingCount: number;
  /** Sequences what was already submitted, then refuses new work. */
  close(): Promise<void>;
}

export interface LocalSequencerOptions<A> {
  readonly epochMs: number;
  readonly maxBatchTxns: number;
  /** Submissions beyond this many unsequenced transactions are refused (backpressure). */
  readonly maxPendingTxns: number;
  /**
   * Applies every entry, strictly in position order, inside the log's transaction for it, so its effects
   * are durable exactly when the entry is.
   */
  readonly apply: (entry: LogEntry) => A;
  /**
   * Called with what `apply` returned once the entry's transaction is on disk, in position order, before
   * the entry's submitters hear of it: only now may anyone be told of its outcome.
   */
  readonly onDurable: (applied: A, entry: LogEntry) => void;
  /** The clock for batch timestamps; injected so tests can fix it. */
  readonly nowMs?: () => number;
}

export const SequencerDefaults = {
  epochMs: 5,
  maxBatchTxns: 1_000,
  maxPendingTxns: 100_000,
} as const;

interface Waiter {
  readonly resolve: (position: number) => void;
  readonly reject: (err: Error) => void;
}

export class LocalSequencer<A> implements Sequencer {
  private readonly log: LogSink;
  private readonly options: LocalSequencerOptions<A>;
  private readonly nowMs: () => number;
  private readonly batcher: EpochBatcher<Waiter & { readonly txn: TxnRequest }>;
  private epoch = 0;
  private lastTimestampMs = 0;
  private pending = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(log: LogSink, options: LocalSequencerOptions<A>) {
    assert(options.epochMs >= 0 && options.maxBatchTxns > 0, 'the epoch must not be negative and the batch size must be positive');
    this.log = log;
    this.options = options;
    this.nowMs = options.nowMs ?? Date.now;
    this.batcher = new EpochBatcher(options.epochMs, options.maxBatchTxns, (items) => this.closeBatch(items));
  }

  get pendingCount(): number {
    return this.pending;
  }

  submit(txn: TxnRequest): Promise<number> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    if (this.pending >= this.options.maxPendingTxns) {
      return Promise.reject(
        new OrdoError('53000', `too many transactions waiting to be sequenced (${this.pending}); retry later`),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.pending++;
      this.batcher.add({ txn, resolve, reject });
    });
  }

  submitControl(control: ControlEntry): Promise<number> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    this.batcher.close();
    try {
      return Promise.resolve(this.sequence({ kind: 'control', timestampMs: this.nextTimestamp(), control }));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.batcher.close();
      this.closed = true;
    }
    return Promise.resolve();
  }

  private refusal(): Error | undefined {
    if (this.failure !== undefined) return logFailed(this.failure);
    if (this.closed) return new OrdoError('57P01', 'the node is shutting down');
    return undefined;
  }

  private nextTimestamp(): number {
    // Batch timestamps never go backwards, even if the wall clock does.
    this.lastTimestampMs = Math.max(this.lastTimestampMs, this.nowMs());
    return this.lastTimestampMs;
  }

  private closeBatch(items: readonly (Waiter & { readonly txn: TxnRequest })[]): void {
    this.epoch++;
    const txns = items.map((i) => i.txn);
    this.pending -= items.length;
    let position: number;
    try {
      position = this.sequence({ kind: 'batch', batch: { epoch: this.epoch, timestampMs: this.nextTimestamp(), txns } });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const i of items) i.reject(error);
      return;
    }
    for (const i of items) i.resolve(position);
  }

  /** Appends and applies one entry; throws what the transactions' submitters should hear. */
  private sequence(body: LogEntryBody): number {
    if (this.failure !== undefined) throw logFailed(this.failure);
    let applied: { result: A; entry: LogEntry } | undefined;
    let position: number;
    try {
      position = this.log.appendApplied(body, (entry) => {
        applied = { result: this.options.apply(entry), entry };
      });
    } catch (err) {
      // One bad entry fails its own transactions only; a failing log (or apply) fails everything after it.
      if (err instanceof EntryRejectedError) throw err;
      const failure = err instanceof Error ? err : new Error(String(err));
      this.failure ??= failure;
      throw logFailed(failure);
    }
    assert(applied !== undefined, 'the log applied the entry it appended');
    this.options.onDurable(applied.result, applied.entry);
    return position;
  }
}

function logFailed(failure: Error): OrdoError {
  return new OrdoError('58030', `the input log failed: ${failure.message}`);
}

/** A sink that makes nothing durable: positions only. For measuring the executor without the log. */
export class VolatileLogSink implements LogSink {
  private position: number;
  constructor(lastPosition: number) {
    this.position = lastPosition;
  }
  get lastPosition(): number {
    return this.position;
  }
  appendApplied(body: LogEntryBody, apply: (entry: LogEntry) => void): number {
    apply(entryAt(body, this.position + 1));
    return ++this.position;
  }
}
