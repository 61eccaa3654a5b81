// An in-memory RaftStorage: what the simulator and the tests use as a node's stable storage, and the
// reference for the LMDB-backed one. Only the driver writes to it (when it handles a Ready).

import { assert } from '../../util/index.js';
import type { ConfState, Entry, HardState, RaftStorage, SnapshotMeta } from './types.js';

export class MemoryStorage implements RaftStorage {
  private hard: HardState = { term: 0, vote: '', commit: 0 };
  private snapshot: SnapshotMeta;
  /** log[i] has index snapshot.index + 1 + i */
  private log: Entry[] = [];

  constructor(conf: ConfState = { voters: [], learners: [] }) {
    this.snapshot = { index: 0, term: 0, conf };
  }

  hardState(): HardState {
    return this.hard;
  }
  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }
  firstIndex(): number {
    return this.snapshot.index + 1;
  }
  lastIndex(): number {
    return this.snapshot.index + this.log.length;
  }
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    return this.log[index - this.snapshot.index - 1]?.term;
  }
  entries(lo: number, hi: number, maxEntries: number): readonly Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) outside the stored log`);
    const from = lo - this.snapshot.index - 1;
    return this.log.slice(from, Math.min(hi - this.snapshot.index - 1, from + Math.max(1, maxEntries)));
  }

  /** Driver side: records a Ready's hard state. */
  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  /** Driver side: appends a Ready's entries, replacing any stored suffix from entries[0].index on. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshot.index, `append at ${first.index} overwrites the snapshot at ${this.snapshot.index}`);
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.log.length = first.index - this.snapshot.index - 1;
    for (const e of entries) this.log.push(e);
  }

  /** A copy for tests: what was durable at this moment. */
  clone(): MemoryStorage {
    const copy = new MemoryStorage(this.snapshot.conf);
    copy.hard = this.hard;
    copy.snapshot = this.snapshot;
    copy.log = this.log.slice();
    return copy;
  }
}
