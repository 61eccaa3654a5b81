// Durable Raft storage on LMDB: the read-only RaftStorage view the core reads, and the write side the
// driver uses when it handles a Ready. Semantics follow MemoryStorage (the reference).
//
// Two named databases in the node's lmdb-js environment:
//   raft_log    key: the entry index as 8 bytes big-endian (byte order is numeric order, no 2^32 limit)
//               value: a sealed Avro Entry (magic, CRC-32, schema fingerprint; codec.ts)
//   raft_state  'hardState' → sealed HardState; 'snapshot' → sealed SnapshotMeta;
//               'identity' → sealed RaftIdentity (cluster id and node id, fixed at creation)
//
// Writes follow ADR 0001: every write is one synchronous LMDB transaction on the main thread
// (`transactionSync`), which returns only once its commit is flushed, so a Ready is durable when
// persist() returns, before the driver sends the Ready's messages. A Ready's hard state and entries go in
// ONE transaction, so a crash keeps both or neither.
//
// Trust: every record is verified when read. At open the log checks in O(1) that it holds exactly the
// records (snapshot.index, last] (by count) and verifies the last one; a bad record anywhere is a
// RaftStorageCorruptionError naming its index, never skipped.

import type { Database, RootDatabase } from 'lmdb';
import { OrdoError, SqlState, assert } from '../../util/index.js';
import {
  sealEntry,
  sealHardState,
  sealIdentity,
  sealSnapshotMeta,
  unsealEntry,
  unsealHardState,
  unsealIdentity,
  unsealSnapshotMeta,
} from './codec.js';
import type { ConfState, Entry, HardState, NodeId, RaftStorage, SnapshotMeta } from './types.js';

export const RAFT_LOG_DB_NAME = 'raft_log';
export const RAFT_STATE_DB_NAME = 'raft_state';

const StateKey = { hardState: 'hardState', snapshot: 'snapshot', identity: 'identity' } as const;

/** A stored Raft record is damaged or missing; `index` is the log index, or 0 for the state records. */
export class RaftStorageCorruptionError extends OrdoError {
  readonly index: number;
  constructor(index: number, problem: string) {
    super(SqlState.dataCorrupted, index > 0 ? `raft log entry at index ${index} is corrupt: ${problem}` : `raft state is corrupt: ${problem}`);
    this.name = 'RaftStorageCorruptionError';
    this.index = index;
  }
}

/** The data directory belongs to another cluster or another node: refusing to start, nothing changed. */
export class RaftIdentityMismatchError extends OrdoError {
  constructor(message: string) {
    super(SqlState.configFileError, message);
    this.name = 'RaftIdentityMismatchError';
  }
}

export function raftIndexKey(index: number): Buffer {
  assert(Number.isSafeInteger(index) && index >= 0, `raft index ${index} is not a non-negative integer`);
  const key = Buffer.allocUnsafe(8);
  key.writeBigUInt64BE(BigInt(index));
  return key;
}

function indexOfKey(key: Uint8Array): number | undefined {
  if (key.length !== 8) return undefined;
  const n = Buffer.from(key.buffer, key.byteOffset, 8).readBigUInt64BE(0);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export interface LmdbRaftStorageOptions {
  /** Stored at creation; opening with another cluster id is refused. */
  readonly clusterId: string;
  /** Stored at creation; opening with another node id is refused. */
  readonly nodeId: NodeId;
  /** Decoded entries kept in memory (most recently written or read); the core reads mostly near the tail. */
  readonly cacheEntries?: number;
}

export const LmdbRaftStorageDefaults = {
  cacheEntries: 4096,
} as const;

export class LmdbRaftStorage implements RaftStorage {
  private readonly root: RootDatabase;
  private readonly log: Database<Buffer, Buffer>;
  private readonly state: Database<Buffer, string>;
  private hard: HardState;
  private snapshot: SnapshotMeta;
  private last: number;
  /** Bounded, in insertion order so the oldest is evicted first. */
  private readonly cache = new Map<number, Entry>();
  private readonly cacheEntries: number;
  private syncs = 0;

  private constructor(root: RootDatabase, options: LmdbRaftStorageOptions) {
    this.root = root;
    this.cacheEntries = Math.max(1, options.cacheEntries ?? LmdbRaftStorageDefaults.cacheEntries);
    this.log = root.openDB<Buffer, Buffer>(RAFT_LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
    this.state = root.openDB<Buffer, string>(RAFT_STATE_DB_NAME, { encoding: 'binary' });
    this.hard = { term: 0, vote: '', commit: 0 };
    this.snapshot = { index: 0, term: 0, conf: { voters: [], learners: [] } };
    this.last = 0;
  }

  /**
   * Opens (creating) the Raft databases inside an opened lmdb-js root and loads the view. Throws
   * RaftIdentityMismatchError if the directory belongs to another cluster or node, and
   * RaftStorageCorruptionError on a damaged record or a hole in the log; nothing is written then.
   */
  static open(root: RootDatabase, options: LmdbRaftStorageOptions): LmdbRaftStorage {
    const s = new LmdbRaftStorage(root, options);
    s.checkIdentity(options);
    s.load();
    return s;
  }

  private checkIdentity(options: LmdbRaftStorageOptions): void {
    const bytes = this.state.get(StateKey.identity);
    if (bytes === undefined) {
      const hasData = this.state.get(StateKey.hardState) !== undefined || this.logCount() > 0;
      if (hasData) throw new RaftStorageCorruptionError(0, 'the identity record is missing but the log is not empty');
      this.root.transactionSync(() => {
        this.state.putSync(StateKey.identity, sealIdentity({ clusterId: options.clusterId, nodeId: options.nodeId }));
      });
      return;
    }
    const r = unsealIdentity(bytes);
    if (!r.ok) throw new RaftStorageCorruptionError(0, `identity record: ${r.problem}`);
    if (r.value.clusterId !== options.clusterId) {
      throw new RaftIdentityMismatchError(`this data directory belongs to cluster "${r.value.clusterId}", not "${options.clusterId}": refusing to start`);
    }
    if (r.value.nodeId !== options.nodeId) {
      throw new RaftIdentityMismatchError(`this data directory belongs to node "${r.value.nodeId}", not "${options.nodeId}": refusing to start`);
    }
  }

  private load(): void {
    const hsBytes = this.state.get(StateKey.hardState);
    if (hsBytes !== undefined) {
      const r = unsealHardState(hsBytes);
      if (!r.ok) throw new RaftStorageCorruptionError(0, `hard state record: ${r.problem}`);
      this.hard = r.value;
    }
    const snapBytes = this.state.get(StateKey.snapshot);
    if (snapBytes !== undefined) {
      const r = unsealSnapshotMeta(snapBytes);
      if (!r.ok) throw new RaftStorageCorruptionError(0, `snapshot record: ${r.problem}`);
      this.snapshot = r.value;
    }
    let last = this.snapshot.index;
    for (const key of this.log.getKeys({ reverse: true, limit: 1 })) {
      const i = indexOfKey(key);
      if (i === undefined || i <= this.snapshot.index) {
        throw new RaftStorageCorruptionError(0, `the log's last key 0x${Buffer.from(key).toString('hex')} is not an index after the snapshot at ${this.snapshot.index}`);
      }
      last = i;
    }
    this.last = last;
    if (this.logCount() !== last - this.snapshot.index) this.throwFirstHole();
    if (last > this.snapshot.index) this.read(last);
    if (this.hard.commit > last) throw new RaftStorageCorruptionError(0, `the commit index ${this.hard.commit} is past the last stored entry ${last}`);
  }

  /** O(1): LMDB keeps the count in the database's stats. */
  private logCount(): number {
    const count = (this.log.getStats() as { entryCount?: unknown }).entryCount;
    assert(typeof count === 'number', 'lmdb-js getStats() has no entryCount');
    return count;
  }

  private throwFirstHole(): never {
    let expected = this.snapshot.index + 1;
    for (const key of this.log.getKeys()) {
      const i = indexOfKey(key);
      if (i !== expected) throw new RaftStorageCorruptionError(expected, i === undefined ? 'an invalid key follows it' : 'the record is missing');
      expected++;
    }
    throw new RaftStorageCorruptionError(expected, 'the record count does not match the last index');
  }

  // ---- RaftStorage (what the core reads) ----

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
    return this.last;
  }
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.last) return undefined;
    return this.read(index).term;
  }
  entries(lo: number, hi: number, maxEntries: number): readonly Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.last + 1, `entries [${lo}, ${hi}) outside the stored log`);
    hi = Math.min(hi, lo + Math.max(1, maxEntries));
    const out: Entry[] = [];
    // Served from the cache while it has every entry; the first miss falls back to one range read.
    for (let i = lo; i < hi; i++) {
      const e = this.cache.get(i);
      if (e === undefined) break;
      out.push(e);
    }
    if (out.length === hi - lo) return out;
    let expected = lo + out.length;
    for (const { key, value } of this.log.getRange({ start: raftIndexKey(expected), end: raftIndexKey(hi) })) {
      const i = indexOfKey(key);
      if (i !== expected) throw new RaftStorageCorruptionError(expected, 'the record is missing');
      out.push(this.decode(expected, value));
      expected++;
    }
    if (expected < hi) throw new RaftStorageCorruptionError(expected, 'the record is missing');
    return out;
  }

  /** How many times the driver asked for durability (see sync). */
  get syncCount(): number {
    return this.syncs;
  }

  // ---- the driver's side ----

  /**
   * Records a Ready's hard state and entries in one synchronous LMDB transaction. Entries replace any
   * stored suffix from entries[0].index on (a conflicting suffix is deleted, durably with the rest).
   * Durable when this returns: transactionSync returns only once its commit is flushed.
   */
  persist(hardState: HardState | undefined, entries: readonly Entry[]): void {
    const first = entries[0];
    const lastNew = entries[entries.length - 1];
    if (hardState === undefined && first === undefined) return;
    if (first !== undefined) {
      assert(first.index > this.snapshot.index, `append at ${first.index} overwrites the snapshot at ${this.snapshot.index}`);
      assert(first.index <= this.last + 1, `append at ${first.index} leaves a gap after ${this.last}`);
      for (let i = 1; i < entries.length; i++) assert(entries[i]?.index === first.index + i, 'appended entries are not contiguous');
    }
    const newLast = lastNew === undefined ? this.last : lastNew.index;
    const hsBytes = hardState === undefined ? undefined : sealHardState(hardState);
    if (hardState !== undefined) assert(hardState.commit <= newLast, `commit ${hardState.commit} is past the log end ${newLast}`);
    // Encode before the transaction: an encoding failure must not leave a half-written Ready.
    const encoded = entries.map((e) => sealEntry(e));
    this.root.transactionSync(() => {
      for (let i = 0; i < entries.length; i++) {
        this.log.putSync(raftIndexKey((first as Entry).index + i), encoded[i] as Buffer);
      }
      for (let i = newLast + 1; i <= this.last; i++) this.log.removeSync(raftIndexKey(i));
      if (hsBytes !== undefined) this.state.putSync(StateKey.hardState, hsBytes);
    });
    if (first !== undefined) {
      for (let i = first.index; i <= this.last; i++) this.cache.delete(i);
      for (const e of entries) this.remember(e);
      this.last = newLast;
    }
    if (hardState !== undefined) this.hard = hardState;
  }

  /** The driver's durability point: persist() has flushed already, so there is nothing to wait for. */
  sync(): Promise<void> {
    this.syncs++;
    return Promise.resolve();
  }

  /**
   * Sets the configuration a brand-new group starts from, for nodes that are not given peers by their
   * caller. Allowed only on empty storage.
   */
  bootstrap(conf: ConfState): void {
    assert(this.last === 0 && this.snapshot.index === 0, 'bootstrap needs empty storage');
    const snapshot: SnapshotMeta = { index: 0, term: 0, conf: { voters: [...conf.voters].sort(), learners: [...conf.learners].sort() } };
    const bytes = sealSnapshotMeta(snapshot);
    this.root.transactionSync(() => {
      this.state.putSync(StateKey.snapshot, bytes);
    });
    this.snapshot = snapshot;
  }

  // ---- internals ----

  private read(index: number): Entry {
    const cached = this.cache.get(index);
    if (cached !== undefined) return cached;
    const bytes = this.log.get(raftIndexKey(index));
    if (bytes === undefined) throw new RaftStorageCorruptionError(index, 'the record is missing');
    return this.decode(index, bytes);
  }

  private decode(index: number, bytes: Uint8Array): Entry {
    const r = unsealEntry(bytes);
    if (!r.ok) throw new RaftStorageCorruptionError(index, r.problem);
    if (r.value.index !== index) throw new RaftStorageCorruptionError(index, `the record says it is entry ${r.value.index}`);
    this.remember(r.value);
    return r.value;
  }

  private remember(e: Entry): void {
    this.cache.delete(e.index);
    this.cache.set(e.index, e);
    if (this.cache.size > this.cacheEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
  }
}
