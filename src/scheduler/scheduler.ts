// The scheduler driver: takes committed log entries in order, locks each transaction's declared keys
// in log order through the lock manager, runs it when its locks are granted, and applies the result to
// the partition store together with the entry's position.
//
// On one node every read is local and execution is synchronous, so each transaction's locks are
// granted at once and released before the next one asks; the lock manager still sees every request so
// that the multi-partition scheduler (where a transaction may wait for remote reads while holding its
// locks) changes the driver, not the rules.

import {
  evaluateKeySets,
  executeProgram,
  validateProgram,
  type DeclaredKeys,
  type TxnOutcome,
} from '../executor/index.js';
import type { EntryWriter, PartitionStore } from '../partitions/index.js';
import type { LogEntry, TxnRequest } from '../sequencer/index.js';
import { OrdoError, SqlState, assert, errorMessage } from '../util/index.js';
import { LockManager, LockMode, type LockRequest } from './lockManager.js';

export interface ExecutedTxn {
  readonly txnId: string;
  readonly position: number;
  /** The transaction's index within its batch. */
  readonly index: number;
  readonly outcome: TxnOutcome;
}

export class Scheduler {
  private readonly store: PartitionStore;
  private readonly locks = new LockManager();
  private nextSeq = 1;

  constructor(store: PartitionStore) {
    this.store = store;
  }

  get appliedPosition(): number {
    return this.store.appliedPosition;
  }

  /** Applies the next committed entry; returns the outcome of each of its transactions, in order. */
  applyEntry(entry: LogEntry): ExecutedTxn[] {
    return this.store.applyEntry(entry.position, (writer) => {
      if (entry.kind === 'control') {
        if (entry.control.kind === 'setSetting') writer.setSetting(entry.control.name, entry.control.value);
        return [];
      }
      const { batch } = entry;
      const ctx = { position: entry.position, timestampMs: batch.timestampMs, txnIndex: 0 };
      return batch.txns.map((txn, index) => ({
        txnId: txn.txnId,
        position: entry.position,
        index,
        outcome: this.runTxn(txn, { ...ctx, txnIndex: index }, writer),
      }));
    });
  }

  private runTxn(
    txn: TxnRequest,
    ctx: { position: number; timestampMs: number; txnIndex: number },
    writer: EntryWriter,
  ): TxnOutcome {
    let declared: { reads: DeclaredKeys; writes: DeclaredKeys };
    try {
      // The log is input like any other: a program that fails validation aborts, identically everywhere.
      validateProgram(txn.program, txn.params.length);
      declared = evaluateKeySets(txn.program, txn.params);
    } catch (err) {
      return abortedBy(err);
    }
    const seq = this.nextSeq++;
    const ready = this.locks.request(seq, lockRequests(declared));
    assert(ready, 'on a single node every transaction is granted its locks at once');
    try {
      const outcome = executeProgram(txn.program, txn.params, declared, ctx, writer);
      if (outcome.status === 'committed') {
        if (txn.kind === 'readOnly' && outcome.writes.length > 0) {
          return { status: 'aborted', code: SqlState.invalidTransactionState, message: 'a read-only transaction wrote' };
        }
        writer.write(outcome.writes);
      }
      return outcome;
    } finally {
      const woken = this.locks.release(seq);
      assert(woken.length === 0, 'no transaction can be waiting on a single node');
    }
  }
}

function lockRequests(declared: { reads: DeclaredKeys; writes: DeclaredKeys }): LockRequest[] {
  const out: LockRequest[] = [];
  for (const key of declared.writes.points) out.push({ mode: LockMode.exclusive, target: { kind: 'point', key } });
  for (const range of declared.writes.ranges) out.push({ mode: LockMode.exclusive, target: { kind: 'range', range } });
  for (const key of declared.reads.points) out.push({ mode: LockMode.shared, target: { kind: 'point', key } });
  for (const range of declared.reads.ranges) out.push({ mode: LockMode.shared, target: { kind: 'range', range } });
  return out;
}

function abortedBy(err: unknown): TxnOutcome {
  const code = err instanceof OrdoError ? err.code : SqlState.internalError;
  return { status: 'aborted', code, message: errorMessage(err) };
}
