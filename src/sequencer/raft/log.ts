// The node's view of its log: the persisted part, read through the storage view, followed by the
// unstable part that was appended in memory and has not been handed to the driver for persisting yet.

import { assert } from '../../util/index.js';
import type { Entry, RaftStorage } from './types.js';

export class RaftLog {
  private unstable: Entry[] = [];
  /** The index of unstable[0]; storage holds the entries below it. */
  private unstableOffset: number;
  committed: number;
  applied: number;

  constructor(
    private readonly storage: RaftStorage,
    applied: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    const snapshotIndex = storage.firstIndex() - 1;
    this.committed = Math.max(storage.hardState().commit, snapshotIndex);
    assert(this.committed <= storage.lastIndex(), `stored commit ${this.committed} is past the stored log end ${storage.lastIndex()}`);
    // An applied position older than the snapshot would need entries that no longer exist.
    this.applied = Math.max(applied, snapshotIndex);
    assert(this.applied <= this.committed, `applied ${this.applied} is past commit ${this.committed}`);
  }

  firstIndex(): number {
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.length > 0 ? this.unstableOffset + this.unstable.length - 1 : this.storage.lastIndex();
  }

  /** The term of the entry at index, or undefined when it is compacted or beyond the end. */
  term(index: number): number | undefined {
    if (index >= this.unstableOffset) return this.unstable[index - this.unstableOffset]?.term;
    if (index < this.firstIndex() - 1) return undefined;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, `no term for the last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi), at most maxEntries and (beyond the first) maxBytes; undefined if lo is compacted. */
  slice(lo: number, hi: number, maxEntries: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    hi = Math.min(hi, this.lastIndex() + 1, lo + Math.max(1, maxEntries));
    const out: Entry[] = [];
    if (lo >= hi) return out;
    if (lo < this.unstableOffset) {
      for (const e of this.storage.entries(lo, Math.min(hi, this.unstableOffset), hi - lo)) out.push(e);
    }
    for (let i = Math.max(lo, this.unstableOffset); i < hi; i++) {
      const e = this.unstable[i - this.unstableOffset];
      assert(e !== undefined, `unstable entry ${i} missing`);
      out.push(e);
    }
    let bytes = 0;
    for (let i = 0; i < out.length; i++) {
      bytes += (out[i]?.data.byteLength ?? 0) + 16;
      if (i > 0 && bytes > maxBytes) {
        out.length = i;
        break;
      }
    }
    return out;
  }

  /**
   * Appends entries, dropping any existing entries from entries[0].index on. Callers check that the
   * replaced suffix is uncommitted; it is asserted here as the last line of defence.
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.committed, `append at ${first.index} would overwrite committed entries up to ${this.committed}`);
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]?.index === first.index + i, 'appended entries are not contiguous');
    }
    const end = this.unstableOffset + this.unstable.length;
    if (first.index === end) {
      for (const e of entries) this.unstable.push(e);
    } else if (first.index <= this.unstableOffset) {
      // Replaces part of what is persisted: the driver overwrites the stored suffix when it persists these.
      this.unstableOffset = first.index;
      this.unstable = entries.slice();
    } else {
      this.unstable = this.unstable.slice(0, first.index - this.unstableOffset).concat(entries);
    }
  }

  /** The index of the first entry whose term differs from ours (or that we lack), or 0 if all match. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ index whose term is ≤ term: where a leader whose entry at index has `term`
   * can next probe, skipping every entry of ours that cannot match (fast backtracking).
   */
  findConflictByTerm(index: number, term: number): number {
    for (; index > 0; index--) {
      const ours = this.term(index);
      if (ours === undefined || ours <= term) return index;
    }
    return 0;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    assert(index >= this.applied && index <= this.committed, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  hasNextCommitted(): boolean {
    return this.committed > this.applied;
  }

  nextCommitted(maxEntries: number): Entry[] {
    if (this.committed <= this.applied) return [];
    const entries = this.slice(this.applied + 1, this.committed + 1, maxEntries, Number.POSITIVE_INFINITY);
    assert(entries !== undefined, `committed entries after ${this.applied} are compacted`);
    return entries;
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  /** The driver persisted entries up to (index, term): they are read from storage from now on. */
  stableTo(index: number, term: number): void {
    // A later append may have replaced the entry since the Ready was taken; then it stays unstable.
    if (index < this.unstableOffset || this.term(index) !== term) return;
    this.unstable = this.unstable.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }
}
