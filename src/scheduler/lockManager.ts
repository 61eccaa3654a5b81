// The deterministic lock manager (Calvin). A pure core: no I/O, no timers, no async. The scheduler
// calls it strictly in log order, so every replica grants the same locks in the same order.
//
// Every transaction asks for all of its locks in one call, in log order, and a transaction is ready
// exactly when every EARLIER active transaction it conflicts with has released. That is the same as
// per-key FIFO lock queues where a request waits behind every earlier conflicting request, held or
// waiting (so a reader never overtakes a waiting writer), but it is kept as a dependency count per
// transaction: a waiter counts the earlier transactions it waits for, and a release decrements the
// counts of its waiters. Wait-for edges only point from later to earlier transactions, so there is no
// deadlock to detect.
//
// Edges are transitively reduced per point key: a transaction that is released was ready, and a ready
// transaction's own blockers were all released before it. So waiting for the last exclusive holder of a
// key also waits for everything before it on that key, and a key only needs to remember its last
// exclusive transaction and the readers that came after it.
//
// Cost: a point request is O(1) per key plus a scan of the active range locks; a range request scans the
// active point keys and the active range locks; a release is O(its locks + its waiters). Range locks
// are not indexed (an interval structure is the upgrade if many scans are active at once).

import { assert } from '../util/index.js';
import { compareKeys, rangeContains, rangesOverlap } from '../partitions/index.js';
import type { KeyRange } from '../partitions/index.js';

export const LockMode = { shared: 'shared', exclusive: 'exclusive' } as const;
export type LockMode = (typeof LockMode)[keyof typeof LockMode];

export type LockTarget =
  | { readonly kind: 'point'; readonly key: Uint8Array }
  | { readonly kind: 'range'; readonly range: KeyRange };

export interface LockRequest {
  readonly mode: LockMode;
  readonly target: LockTarget;
}

/** Sizes of the internal structures, so tests can prove nothing is left behind. */
export interface LockManagerSizes {
  readonly transactions: number;
  readonly pointKeys: number;
  readonly rangeLocks: number;
}

interface Txn {
  readonly seq: number;
  /** How many earlier active transactions this one still waits for; ready at 0. */
  blockers: number;
  /** Later transactions waiting for this one; ascending seq, because requests arrive in seq order. */
  readonly waiters: Txn[];
  readonly pointIds: string[];
  readonly rangeLocks: RangeLock[];
}

interface KeyState {
  /**
   * The key bytes, decoded from the map's id string the first time a range request needs them: point-only
   * workloads never pay for it, and being a private copy, a caller mutating its buffer cannot move a lock.
   */
  key: Uint8Array | null;
  /** The latest exclusive transaction on this key, while it is active. */
  lastExclusive: Txn | null;
  /**
   * Active readers that arrived after `lastExclusive` (earlier readers are covered by waiting for it);
   * null until the first reader, since most keys of a write-heavy workload never have one.
   */
  readersSince: Set<Txn> | null;
}

interface RangeLock {
  readonly txn: Txn;
  readonly mode: LockMode;
  readonly range: KeyRange;
}

/** A 1:1 string image of the key bytes, for hash-map identity. */
function keyId(key: Uint8Array): string {
  // Encoded keys are normally Buffers already; skipping the wrapper halves the cost of this hot call.
  const bytes = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return bytes.toString('latin1');
}

function modesConflict(a: LockMode, b: LockMode): boolean {
  return a === LockMode.exclusive || b === LockMode.exclusive;
}

/** Adds the transactions a `mode` lock on this key must wait for (see the transitive reduction above). */
function collectKeyBlockers(state: KeyState, mode: LockMode, out: Set<Txn>): void {
  if (state.lastExclusive !== null) out.add(state.lastExclusive);
  if (mode === LockMode.exclusive && state.readersSince !== null) for (const reader of state.readersSince) out.add(reader);
}

/** Shared by requests that find no conflict (the common case on one node): never written to. */
const NO_BLOCKERS: ReadonlySet<Txn> = new Set();

export class LockManager {
  private readonly txns = new Map<number, Txn>();
  private readonly keys = new Map<string, KeyState>();
  private readonly rangeLocks = new Set<RangeLock>();
  private lastSeq = Number.NEGATIVE_INFINITY;
  private waiting = 0;

  /**
   * Requests all locks of transaction `seq`; `seq` must be greater than every seq requested before.
   * Returns true when the transaction is ready at once. A key requested twice is held in the stronger
   * mode; a transaction never conflicts with itself. Empty or inverted ranges (lower >= upper) cover no
   * key, so they take no lock.
   */
  request(seq: number, requests: readonly LockRequest[]): boolean {
    assert(Number.isSafeInteger(seq), `lock request seq ${seq} is not an integer`);
    assert(seq > this.lastSeq, `lock request seq ${seq} is not after ${this.lastSeq}`);
    this.lastSeq = seq;

    const points = new Map<string, { key: Uint8Array; mode: LockMode }>();
    const ranges: { mode: LockMode; range: KeyRange }[] = [];
    for (const { mode, target } of requests) {
      if (target.kind === 'point') {
        const id = keyId(target.key);
        const seen = points.get(id);
        if (seen === undefined) points.set(id, { key: target.key, mode });
        else if (mode === LockMode.exclusive) seen.mode = LockMode.exclusive;
      } else if (compareKeys(target.range.lower, target.range.upper) < 0) {
        ranges.push({ mode, range: target.range });
      }
    }

    // Blockers are computed before this transaction's own locks are registered, so it cannot find itself.
    // The set is made only once a conflicting key or range shows up.
    let found: Set<Txn> | null = null;
    const blockersOf = (): Set<Txn> => (found ??= new Set());
    const anyRangeHeld = this.rangeLocks.size > 0;
    for (const [id, point] of points) {
      const state = this.keys.get(id);
      if (state !== undefined) collectKeyBlockers(state, point.mode, blockersOf());
      if (!anyRangeHeld) continue;
      for (const held of this.rangeLocks) {
        if (modesConflict(point.mode, held.mode) && rangeContains(held.range, point.key)) blockersOf().add(held.txn);
      }
    }
    for (const { mode, range } of ranges) {
      for (const [id, state] of this.keys) {
        state.key ??= Buffer.from(id, 'latin1');
        if (rangeContains(range, state.key)) collectKeyBlockers(state, mode, blockersOf());
      }
      for (const held of this.rangeLocks) {
        if (modesConflict(mode, held.mode) && rangesOverlap(range, held.range)) blockersOf().add(held.txn);
      }
    }
    const blockers: ReadonlySet<Txn> = found ?? NO_BLOCKERS;

    const txn: Txn = { seq, blockers: blockers.size, waiters: [], pointIds: [], rangeLocks: [] };
    for (const [id, point] of points) {
      let state = this.keys.get(id);
      if (state === undefined) {
        state = { key: null, lastExclusive: null, readersSince: null };
        this.keys.set(id, state);
      }
      if (point.mode === LockMode.exclusive) {
        state.lastExclusive = txn;
        state.readersSince = null;
      } else {
        (state.readersSince ??= new Set()).add(txn);
      }
      txn.pointIds.push(id);
    }
    for (const { mode, range } of ranges) {
      const lock: RangeLock = { txn, mode, range: { lower: Buffer.from(range.lower), upper: Buffer.from(range.upper) } };
      this.rangeLocks.add(lock);
      txn.rangeLocks.push(lock);
    }
    for (const blocker of blockers) blocker.waiters.push(txn);
    this.txns.set(seq, txn);
    if (txn.blockers > 0) this.waiting++;
    return txn.blockers === 0;
  }

  /**
   * Releases every lock of a ready transaction; returns the seqs that became ready as a result,
   * ascending. Releasing an unknown or still-waiting transaction is a scheduler bug and throws.
   */
  release(seq: number): number[] {
    const txn = this.txns.get(seq);
    assert(txn !== undefined, `release of transaction ${seq}, which holds no locks`);
    assert(txn.blockers === 0, `release of transaction ${seq}, which is still waiting for locks`);
    this.txns.delete(seq);

    for (const id of txn.pointIds) {
      const state = this.keys.get(id);
      assert(state !== undefined, `transaction ${seq} held a key that has no lock state`);
      if (state.lastExclusive === txn) state.lastExclusive = null;
      else state.readersSince?.delete(txn);
      if (state.lastExclusive === null && (state.readersSince === null || state.readersSince.size === 0)) {
        this.keys.delete(id);
      }
    }
    for (const lock of txn.rangeLocks) this.rangeLocks.delete(lock);

    const ready: number[] = [];
    for (const waiter of txn.waiters) {
      assert(waiter.blockers > 0, `transaction ${waiter.seq} waited for ${seq} but was already ready`);
      waiter.blockers--;
      if (waiter.blockers === 0) {
        this.waiting--;
        ready.push(waiter.seq);
      }
    }
    return ready;
  }

  /** Whether an active transaction holds all of its locks; asking about an inactive seq is a bug. */
  isReady(seq: number): boolean {
    const txn = this.txns.get(seq);
    assert(txn !== undefined, `isReady of transaction ${seq}, which holds no locks`);
    return txn.blockers === 0;
  }

  /** Whether `seq` was requested and not yet released. */
  has(seq: number): boolean {
    return this.txns.has(seq);
  }

  /** Transactions holding or waiting for locks. */
  get activeCount(): number {
    return this.txns.size;
  }

  /** Transactions still waiting for at least one lock. */
  get waitingCount(): number {
    return this.waiting;
  }

  sizes(): LockManagerSizes {
    return { transactions: this.txns.size, pointKeys: this.keys.size, rangeLocks: this.rangeLocks.size };
  }
}
