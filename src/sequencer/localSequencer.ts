// The single-node sequencer: collects transactions for one epoch (or until the batch is full), stamps
// the batch with its timestamp, appends it to the log and, once it is durable, hands it on in log order.
// The Raft-replicated sequencer implements the same `Sequencer` interface; only "durable" changes
// meaning (synced on a majority instead of on this disk).

import { OrdoError, assert } from '../util/index.js';
import { EpochBatcher } from './epochBatcher.js';
import { EntryRejectedError, type ControlEntry, type LogEntry, type LogEntryBody, type TxnRequest } from './types.js';

/** Where closed batches go: the input log, or (for executor-only benchmarks) nowhere durable. */
export interface LogSink {
  readonly lastPosition: number;
  /**
   * Resolves with the entry's position once it is durable; entries get positions in call order.
   * Rejects with EntryRejectedError when the entry itself cannot be recorded (nothing was appended,
   * later appends are unaffected); any other rejection means the log itself failed.
   */
  append(body: LogEntryBody): Promise<number>;
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

export interface LocalSequencerOptions {
  readonly epochMs: number;
  readonly maxBatchTxns: number;
  /** Submissions beyond this many unsequenced transactions are refused (backpressure). */
  readonly maxPendingTxns: number;
  /** Called with every durable entry, strictly in position order, before its submitters hear of it. */
  readonly onDurable: (entry: LogEntry) => void;
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

export class LocalSequencer implements Sequencer {
  private readonly log: LogSink;
  private readonly options: LocalSequencerOptions;
  private readonly nowMs: () => number;
  private readonly batcher: EpochBatcher<Waiter & { readonly txn: TxnRequest }>;
  private epoch = 0;
  private lastTimestampMs = 0;
  private pending = 0;
  /** Orders hand-offs: each append's delivery waits for the one before it. */
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  constructor(log: LogSink, options: LocalSequencerOptions) {
    assert(options.epochMs > 0 && options.maxBatchTxns > 0, 'epoch and batch size must be positive');
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
    return this.appendInOrder({ kind: 'control', timestampMs: this.nextTimestamp(), control }, []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.batcher.close();
    this.closed = true;
    await this.tail;
  }

  private refusal(): Error | undefined {
    if (this.failure !== undefined) return new OrdoError('58030', `the input log failed: ${this.failure.message}`);
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
    void this.appendInOrder({ kind: 'batch', batch: { epoch: this.epoch, timestampMs: this.nextTimestamp(), txns } }, items).catch(
      () => undefined, // each waiter has been told already
    );
  }

  private appendInOrder(body: LogEntryBody, waiters: readonly Waiter[]): Promise<number> {
    const appended = this.log.append(body);
    const delivered = this.tail.then(async () => {
      let position: number;
      try {
        position = await appended;
      } catch (err) {
        // One bad entry fails its own transactions only; a failing log fails everything after it.
        if (err instanceof EntryRejectedError) throw err;
        this.fail(err);
        throw this.refusal();
      }
      if (this.failure !== undefined) throw this.refusal();
      const entry: LogEntry =
        body.kind === 'batch'
          ? { position, kind: 'batch', batch: body.batch }
          : { position, kind: 'control', timestampMs: body.timestampMs, control: body.control };
      try {
        this.options.onDurable(entry);
      } catch (err) {
        // The entry is durable but could not be applied: nothing after it may be applied either.
        this.fail(err);
        throw err;
      }
      return position;
    });
    this.tail = delivered.then(
      () => undefined,
      () => undefined,
    );
    return delivered.then(
      (position) => {
        this.pending -= waiters.length;
        for (const w of waiters) w.resolve(position);
        return position;
      },
      (err: unknown) => {
        this.pending -= waiters.length;
        const error = err instanceof Error ? err : new Error(String(err));
        for (const w of waiters) w.reject(error);
        throw error;
      },
    );
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err instanceof Error ? err : new Error(String(err));
  }
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
  append(): Promise<number> {
    return Promise.resolve(++this.position);
  }
}
