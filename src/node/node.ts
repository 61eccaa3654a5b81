// One embedded OrdoDB node: the input log, the sequencer, the scheduler and the store on one LMDB
// environment. Tests, benchmarks and the SQL layer use it through `openNode`.

import type { RootDatabase } from 'lmdb';
import { validateParams, validateProgram, type TxnOutcome } from '../executor/index.js';
import { PartitionStore, decodeTuple } from '../partitions/index.js';
import { Scheduler, type ExecutedTxn } from '../scheduler/index.js';
import {
  InputLog,
  LocalSequencer,
  SequencerDefaults,
  VolatileLogSink,
  EMPTY_CATALOG,
  type Catalog,
  type ControlEntry,
  type LogSink,
  type TxnRequest,
} from '../sequencer/index.js';
import { OrdoError, SqlState, assert } from '../util/index.js';
import { lockDataDir, openEnvironment, type DataDirLock } from './dataDir.js';

export interface NodeOptions {
  readonly dataDir: string;
  /** How long the sequencer collects transactions into one batch. */
  readonly epochMs?: number;
  /** A batch closes early when it has this many transactions. */
  readonly maxBatchTxns?: number;
  readonly maxPendingTxns?: number;
  /** Record the state checksum every this many log positions (fixed when the data directory is created). */
  readonly checksumEveryPositions?: number;
  /**
   * false runs without the input log: nothing is durable and nothing can be replayed. Only for
   * measuring what the log costs (`ordo bench engine` runs both).
   */
  readonly logEnabled?: boolean;
}

export const NodeDefaults = {
  ...SequencerDefaults,
  checksumEveryPositions: 100,
} as const;

export type TxnResult = TxnOutcome & { readonly txnId: string; readonly position: number };

interface PendingTxn {
  readonly resolve: (result: TxnResult) => void;
  readonly reject: (err: Error) => void;
}

export class OrdoNode {
  readonly dataDir: string;
  private readonly env: RootDatabase;
  private readonly lock: DataDirLock;
  private readonly log: InputLog;
  private readonly store: PartitionStore;
  private readonly scheduler: Scheduler;
  private readonly sequencer: LocalSequencer;
  private readonly pending = new Map<string, PendingTxn>();
  private closing: Promise<void> | undefined;

  private constructor(options: NodeOptions, lock: DataDirLock, env: RootDatabase) {
    this.dataDir = options.dataDir;
    this.lock = lock;
    this.env = env;
    this.log = InputLog.open(env);
    this.store = PartitionStore.open(env, {
      checksumEveryPositions: options.checksumEveryPositions ?? NodeDefaults.checksumEveryPositions,
    });
    this.scheduler = new Scheduler(this.store);
    this.recover();
    const sink: LogSink = options.logEnabled === false ? new VolatileLogSink(this.log.lastPosition) : this.log;
    this.sequencer = new LocalSequencer(sink, {
      epochMs: options.epochMs ?? NodeDefaults.epochMs,
      maxBatchTxns: options.maxBatchTxns ?? NodeDefaults.maxBatchTxns,
      maxPendingTxns: options.maxPendingTxns ?? NodeDefaults.maxPendingTxns,
      onDurable: (entry) => this.deliver(this.scheduler.applyEntry(entry)),
    });
  }

  /** Opens (creating if needed) the data directory, recovers from the log, and starts sequencing. */
  static open(options: NodeOptions): OrdoNode {
    const lock = lockDataDir(options.dataDir);
    let env: RootDatabase | undefined;
    try {
      env = openEnvironment(options.dataDir);
      return new OrdoNode(options, lock, env);
    } catch (err) {
      void env?.close();
      lock.release();
      throw err;
    }
  }

  /** Applies whatever the log holds beyond the store's applied position: the crash recovery path. */
  private recover(): void {
    const from = this.store.appliedPosition + 1;
    const to = this.log.lastPosition;
    if (from > to) return;
    // Verify the whole tail before applying any of it: a corrupt record stops the node with its state
    // exactly as it was, rather than after applying the good records in front of it.
    for (const entry of this.log.readRange(from, to)) void entry;
    for (const entry of this.log.readRange(from, to)) this.scheduler.applyEntry(entry);
    assert(this.store.appliedPosition === to, 'recovery applied the whole log');
  }

  get appliedPosition(): number {
    return this.store.appliedPosition;
  }

  get lastLogPosition(): number {
    return this.log.lastPosition;
  }

  get checksum(): string {
    return this.store.checksum;
  }

  get partitionStore(): PartitionStore {
    return this.store;
  }

  get inputLog(): InputLog {
    return this.log;
  }

  /**
   * Sequences a transaction and resolves with its outcome once it has executed (an aborted outcome is
   * a result, not a rejection). Rejects when the transaction cannot be sequenced: an invalid program,
   * a txnId already in flight, backpressure, shutdown.
   */
  submit(txn: TxnRequest): Promise<TxnResult> {
    try {
      validateProgram(txn.program, txn.params.length);
      validateParams(txn.params);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.awaitOutcome(txn.txnId, () => this.sequencer.submit(txn));
  }

  /**
   * Registers `txnId` as waiting for its outcome, then sequences it; the scheduler's outcome settles
   * it (see deliver), and so does a failure to sequence it.
   */
  private awaitOutcome(txnId: string, sequence: () => Promise<number>): Promise<TxnResult> {
    if (this.pending.has(txnId)) {
      return Promise.reject(new OrdoError(SqlState.invalidParameterValue, `transaction ${txnId} is already in flight`));
    }
    return new Promise<TxnResult>((resolve, reject) => {
      this.pending.set(txnId, { resolve, reject });
      sequence().catch((err: unknown) => {
        const waiter = this.pending.get(txnId);
        this.pending.delete(txnId);
        waiter?.reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Appends a DDL control entry; resolves with its applied outcome (an aborted outcome such as 42P07
   * is a result, not a rejection), like `submit`.
   */
  submitDdl(control: Extract<ControlEntry, { kind: 'createTable' | 'dropTable' | 'addPrimaryKey' }>): Promise<TxnResult> {
    // A default the log codec cannot decode would fail the log append, and with it the sequencer.
    if (control.kind === 'createTable') {
      for (const col of control.table.columns) {
        if (col.default?.kind !== 'value') continue;
        let ok: boolean;
        try {
          ok = /^(?:[0-9a-f]{2})+$/.test(col.default.tupleHex) && decodeTuple(Buffer.from(col.default.tupleHex, 'hex')).length === 1;
        } catch {
          ok = false;
        }
        if (!ok) return Promise.reject(new OrdoError(SqlState.invalidParameterValue, `column ${col.name}: the default is not one encoded value`));
      }
    }
    return this.awaitOutcome(control.txnId, () => this.sequencer.submitControl(control));
  }

  /** The catalog as of the applied position. */
  catalog(): Catalog {
    return (this.store.catalog() as Catalog | undefined) ?? EMPTY_CATALOG;
  }

  /** Changes whenever an applied DDL entry changed the catalog; cheap to read. */
  get catalogVersion(): number {
    return this.store.catalogVersion();
  }

  /** Appends a control entry; resolves with its position once it has been applied. */
  submitControl(control: ControlEntry): Promise<number> {
    return this.sequencer.submitControl(control);
  }

  private deliver(executed: readonly ExecutedTxn[]): void {
    for (const e of executed) {
      const waiter = this.pending.get(e.txnId);
      if (waiter === undefined) continue; // submitted before a restart: nobody is waiting
      this.pending.delete(e.txnId);
      waiter.resolve({ ...e.outcome, txnId: e.txnId, position: e.position });
    }
  }

  /** Sequences and applies what was submitted, then closes the environment and unlocks the directory. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.sequencer.close();
        await this.env.close();
      } finally {
        this.lock.release();
      }
    })();
    return this.closing;
  }
}

export function openNode(options: NodeOptions): OrdoNode {
  return OrdoNode.open(options);
}

