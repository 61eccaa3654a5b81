// Transaction-id deduplication over a window of log positions: a client (or a
// follower forwarding for it) may send the same transaction again after a leader change, and the log
// may then hold it twice. The second copy must not execute.
//
// The rule is a function of the log alone, so every replica (and a restarted one) decides the same:
// a transaction at position p is skipped iff its txnId appears in the log at some position in
// [p - windowPositions, p) — or earlier in the same batch. Every appearance counts, skipped or not, so
// the decision never depends on earlier decisions, and rebuilding needs only the last window of the log.

import type { ExecutedTxn } from './scheduler.js';
import type { LogEntry, TxnRequest } from '../sequencer/index.js';

export const TxnDedupDefaults = {
  windowPositions: 4096,
  /** The SQLSTATE a skipped duplicate aborts with (a class of its own: OrdoDB-specific). */
  duplicateCode: 'OD001',
} as const;

export class TxnDedupWindow {
  private readonly windowPositions: number;
  /** txnId → the last position it appeared at. */
  private readonly lastSeen = new Map<string, number>();
  /** Positions in order with the txnIds recorded at each, for eviction. */
  private readonly recorded: { position: number; txnIds: readonly string[] }[] = [];
  private head = 0;

  constructor(windowPositions: number = TxnDedupDefaults.windowPositions) {
    this.windowPositions = windowPositions;
  }

  /**
   * Splits a batch entry into the entry to execute (duplicates removed) and an aborted outcome for
   * each duplicate; records every txnId of the entry. Control entries pass through unchanged.
   */
  filter(entry: LogEntry): { entry: LogEntry; skipped: ExecutedTxn[] } {
    if (entry.kind !== 'batch') return { entry, skipped: [] };
    const position = entry.position;
    this.evictBefore(position - this.windowPositions);
    const txns = entry.batch.txns;
    const txnIds = new Array<string>(txns.length);
    let skipped: ExecutedTxn[] | null = null;
    for (let index = 0; index < txns.length; index++) {
      const txnId = (txns[index] as TxnRequest).txnId;
      txnIds[index] = txnId;
      // Within the window (evicted ids are gone from the map), or earlier in this very batch.
      const seenAt = this.lastSeen.get(txnId);
      this.lastSeen.set(txnId, position);
      if (seenAt === undefined) continue;
      (skipped ??= []).push({
        txnId,
        position,
        index,
        outcome: {
          status: 'aborted',
          code: TxnDedupDefaults.duplicateCode,
          message: `transaction ${txnId} was already sequenced at log position ${seenAt}; it is not executed again`,
        },
      });
    }
    this.recorded.push({ position, txnIds });
    if (skipped === null) return { entry, skipped: [] };
    const duplicate = new Set(skipped.map((s) => s.index));
    const keep = txns.filter((_, index) => !duplicate.has(index));
    return { entry: { ...entry, batch: { ...entry.batch, txns: keep } }, skipped };
  }

  /** Records an entry's txnIds without deciding anything (rebuilding the window at startup). */
  remember(entry: LogEntry): void {
    if (entry.kind !== 'batch') return;
    this.evictBefore(entry.position - this.windowPositions);
    this.record(entry.position, entry.batch.txns.map((t) => t.txnId));
  }

  private record(position: number, txnIds: readonly string[]): void {
    for (const id of txnIds) this.lastSeen.set(id, position);
    this.recorded.push({ position, txnIds });
  }

  private evictBefore(position: number): void {
    while (this.head < this.recorded.length) {
      const r = this.recorded[this.head];
      if (r === undefined || r.position >= position) break;
      for (const id of r.txnIds) if (this.lastSeen.get(id) === r.position) this.lastSeen.delete(id);
      this.head++;
    }
    // Compact now and then so the array does not grow with the log.
    if (this.head > 1024 && this.head * 2 > this.recorded.length) {
      this.recorded.splice(0, this.head);
      this.head = 0;
    }
  }
}
