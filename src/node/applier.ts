// Where committed log entries are applied: inline on the main thread, or on a dedicated execution
// thread. The execution thread is Calvin's scheduler thread: the main thread accepts clients, batches,
// encodes and appends the log, while the other core locks, executes and writes LMDB. Both threads open
// the same LMDB environment (lmdb-js shares it within a process); LMDB serializes their write
// transactions, and only the execution thread writes rows, the applied position and the checksum.

import { Worker } from 'node:worker_threads';
import type { ExecutedTxn } from '../scheduler/index.js';
import { Scheduler } from '../scheduler/index.js';
import type { PartitionStore } from '../partitions/index.js';
import type { LogEntry } from '../sequencer/index.js';
import { assert } from '../util/index.js';

export const ExecutionThread = { main: 'main', worker: 'worker' } as const;
export type ExecutionThread = (typeof ExecutionThread)[keyof typeof ExecutionThread];

export interface AppliedEntry {
  readonly position: number;
  readonly checksum: string;
  readonly executed: readonly ExecutedTxn[];
}

export interface ApplierCallbacks {
  /** Every applied entry, in position order. */
  readonly onApplied: (applied: AppliedEntry) => void;
  /** Applying failed: nothing after the failed entry may be applied. */
  readonly onFatal: (err: Error) => void;
}

export interface EntryApplier {
  /** Applies the next committed entry (asynchronously on the execution thread). */
  apply(entry: LogEntry): void;
  /** Resolves once every entry handed over so far has been applied (or the applier failed). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Applies entries synchronously on the calling thread. */
export class InlineApplier implements EntryApplier {
  private readonly scheduler: Scheduler;
  constructor(
    private readonly store: PartitionStore,
    private readonly callbacks: ApplierCallbacks,
  ) {
    this.scheduler = new Scheduler(store);
  }
  apply(entry: LogEntry): void {
    let executed: ExecutedTxn[];
    try {
      executed = this.scheduler.applyEntry(entry);
    } catch (err) {
      this.callbacks.onFatal(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.callbacks.onApplied({ position: entry.position, checksum: this.store.checksum, executed });
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Messages between the main thread and the execution thread. */
export type ToExecutionThread = { readonly kind: 'apply'; readonly entry: LogEntry } | { readonly kind: 'close' };
export type FromExecutionThread =
  | { readonly kind: 'applied'; readonly applied: AppliedEntry }
  | { readonly kind: 'fatal'; readonly message: string }
  | { readonly kind: 'closed' };

export interface ExecutionThreadData {
  readonly dataDir: string;
  readonly checksumEveryPositions: number;
}

/** Applies entries on a worker thread; outcomes come back as messages. */
export class WorkerApplier implements EntryApplier {
  private readonly worker: Worker;
  private readonly callbacks: ApplierCallbacks;
  private handedOver = 0;
  private applied = 0;
  private drainWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private closed: Promise<void> | undefined;
  private exited = false;

  constructor(data: ExecutionThreadData, callbacks: ApplierCallbacks) {
    this.callbacks = callbacks;
    this.worker = new Worker(new URL('./executionThread.js', import.meta.url), { workerData: data });
    this.worker.on('message', (msg: FromExecutionThread) => this.onMessage(msg));
    this.worker.on('error', (err: Error) => this.fail(err));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (this.closed === undefined) this.fail(new Error(`the execution thread exited with code ${code}`));
    });
  }

  apply(entry: LogEntry): void {
    if (this.failure !== undefined) throw this.failure;
    this.handedOver++;
    const msg: ToExecutionThread = { kind: 'apply', entry };
    this.worker.postMessage(msg);
  }

  private onMessage(msg: FromExecutionThread): void {
    if (msg.kind === 'applied') {
      this.applied++;
      assert(this.applied <= this.handedOver, 'the execution thread applied more entries than it was given');
      this.callbacks.onApplied(msg.applied);
      if (this.applied === this.handedOver) for (const wake of this.drainWaiters.splice(0)) wake();
    } else if (msg.kind === 'fatal') {
      this.fail(new Error(msg.message));
    }
  }

  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.callbacks.onFatal(err);
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  drain(): Promise<void> {
    if (this.failure !== undefined || this.applied === this.handedOver) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.drain();
      if (this.exited) return;
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      const msg: ToExecutionThread = { kind: 'close' };
      this.worker.postMessage(msg);
      await exited;
    })();
    return this.closed;
  }
}
