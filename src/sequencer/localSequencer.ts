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
   * Records the entry at the next position and calls `apply` with it in the same storage transaction,
   * strictly in append order (possibly after this returns); resolves with the position once both are
   * durable, in append order. Throws EntryRejectedError synchronously when the entry itself cannot be
   * recorded (nothing was appended, later appends are unaffected); a rejection means the log failed, or
   * `apply` did, and nothing more may be appended.
   */
  appendAndApply(body: LogEntryBody, apply: (entry: LogEntry) => void): Promise<number>;
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
  /** Settles once every entry handed to the log so far has been delivered or failed. */
  private tail: Promise<void> = Promise.resolve();

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
    return this.sequence({ kind: 'control', timestampMs: this.nextTimestamp(), control });
  }

  /** Sequences what was already submitted, refuses new work, and resolves once all of it is durable. */
  close(): Promise<void> {
    if (!this.closed) {
      this.batcher.close();
      this.closed = true;
    }
    return this.tail;
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
    this.sequence({ kind: 'batch', batch: { epoch: this.epoch, timestampMs: this.nextTimestamp(), txns } }).then(
      (position) => {
        for (const i of items) i.resolve(position);
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        for (const i of items) i.reject(error);
      },
    );
  }

  /**
   * Appends and applies one entry; resolves with its position once it is durable and its outcomes were
   * handed to onDurable (in position order), or rejects with what its submitters should hear.
   */
  private sequence(body: LogEntryBody): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(logFailed(this.failure));
    let applied: { result: A; entry: LogEntry } | undefined;
    let appended: Promise<number>;
    try {
      appended = this.log.appendAndApply(body, (entry) => {
        applied = { result: this.options.apply(entry), entry };
      });
    } catch (err) {
      // One entry that cannot be recorded fails its own transactions only.
      if (err instanceof EntryRejectedError) return Promise.reject(err);
      return Promise.reject(this.fail(err));
    }
    const done = Promise.all([appended, this.tail]).then(
      ([position]) => {
        if (this.failure !== undefined) throw logFailed(this.failure);
        assert(applied !== undefined, 'the log applied the entry it appended');
        this.options.onDurable(applied.result, applied.entry);
        return position;
      },
      // A failing log (or apply) fails everything after it.
      (err: unknown) => {
        throw this.fail(err);
      },
    );
    this.tail = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  private fail(err: unknown): OrdoError {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    return logFailed(this.failure);
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
  appendAndApply(body: LogEntryBody, apply: (entry: LogEntry) => void): Promise<number> {
    apply(entryAt(body, this.position + 1));
    return Promise.resolve(++this.position);
  }
}
