// The partition store on LMDB: rows, the applied position and the state checksum, always changed
// together in one LMDB write transaction, so a crash at any instant leaves them in step.

import type { Database, RootDatabase, TransactionFlags } from 'lmdb';
import { assert } from '../util/index.js';
import { StateChecksum, formatChecksum, parseChecksum } from './checksum.js';
import { decodeRow, encodeRow, type KeyRange, type StoredRow } from './tuple.js';
import type { Value } from './value.js';

/** Read access to rows; the executor runs against this. */
export interface RowReader {
  get(key: Uint8Array): StoredRow | undefined;
  /** Rows with range.lower <= key < range.upper, ascending (descending when reverse), at most `limit`. */
  scan(range: KeyRange, reverse: boolean, limit: number): Iterable<{ key: Uint8Array; row: StoredRow }>;
}

/** The final state of one key after a transaction: new column values, or null for deleted. */
export interface RowWrite {
  readonly key: Uint8Array;
  readonly values: readonly Value[] | null;
  /** The row as stored before this write, when the writer read it in this entry (null: none). */
  readonly stored?: StoredRow | null;
}

/** What one log entry may do to the store while it is being applied. */
export interface EntryWriter extends RowReader {
  /** Writes rows stamped with the entry's position as their version, updating the checksum. */
  write(writes: readonly RowWrite[]): void;
  setSetting(name: string, value: string): void;
  /** The SQL catalog as last stored (plain JSON; its shape belongs to the catalog's owner), or undefined. */
  catalog(): unknown;
  /** Replaces the catalog, in this entry's transaction; `version` is what `catalogVersion()` reads. */
  putCatalog(catalog: unknown, version: number): void;
}

export interface StoreOptions {
  /** Record the state checksum every this many positions (positions divisible by it). */
  readonly checksumEveryPositions: number;
}

export interface RecordedChecksum {
  readonly position: number;
  readonly checksum: string;
}

const Meta = {
  appliedPosition: 'appliedPosition',
  checksum: 'checksum',
  checksumEveryPositions: 'checksumEveryPositions',
  settings: 'settings',
  catalog: 'catalog',
  catalogVersion: 'catalogVersion',
} as const;

/**
 * lmdb-js's TransactionFlags.SYNCHRONOUS_COMMIT without ABORTABLE: inside an open write transaction
 * (the input log's, which applies an entry together with its record) the work runs in that transaction
 * instead of a child one, so the record and the entry's effects commit or abort together; on its own it
 * is an ordinary write transaction, committed and flushed before transactionSync returns.
 */
const IN_ENCLOSING_TRANSACTION = 2 as TransactionFlags;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class PartitionStore implements RowReader {
  private readonly root: RootDatabase;
  private readonly data: Database<Buffer, Buffer>;
  private readonly meta: Database<unknown, string>;
  private readonly checksums: Database<string, number>;
  private readonly stateChecksum: StateChecksum;
  private applied: number;
  readonly checksumEveryPositions: number;
  private writing = false;

  private constructor(root: RootDatabase, options: StoreOptions) {
    this.root = root;
    this.data = root.openDB<Buffer, Buffer>({ name: 'data', keyEncoding: 'binary', encoding: 'binary' });
    this.meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    this.checksums = root.openDB<string, number>({ name: 'checksums', keyEncoding: 'uint32', encoding: 'string' });
    this.applied = (this.meta.get(Meta.appliedPosition) as number | undefined) ?? 0;
    const storedSum = this.meta.get(Meta.checksum) as string | undefined;
    this.stateChecksum = new StateChecksum(storedSum === undefined ? 0n : parseChecksum(storedSum));
    // The recording interval is fixed when the store is created: replays compare at the same positions.
    const storedEvery = this.meta.get(Meta.checksumEveryPositions) as number | undefined;
    this.checksumEveryPositions = storedEvery ?? options.checksumEveryPositions;
    assert(this.checksumEveryPositions >= 1, 'checksum interval must be at least 1');
  }

  static open(root: RootDatabase, options: StoreOptions): PartitionStore {
    return new PartitionStore(root, options);
  }

  /** The last log position whose effects are in the store. */
  get appliedPosition(): number {
    return this.applied;
  }

  get checksum(): string {
    return this.stateChecksum.toHex();
  }

  get(key: Uint8Array): StoredRow | undefined {
    // Decoded in place from lmdb-js's shared buffer (see readShared), whose `length` is this value's size.
    const shared = this.data.getBinaryFast(toBuffer(key));
    return shared === undefined ? undefined : decodeRow(shared, shared.length);
  }

  /**
   * The stored bytes of a key without a copy: lmdb-js reuses the buffer on its next read, so use the
   * result before reading again. (getBinaryFast only overrides `length` on its shared buffer; the
   * subarray makes a real view of that size.)
   */
  private readShared(key: Buffer): Buffer | undefined {
    const shared = this.data.getBinaryFast(key);
    return shared === undefined ? undefined : shared.subarray(0, shared.length);
  }

  *scan(range: KeyRange, reverse: boolean, limit: number): Iterable<{ key: Uint8Array; row: StoredRow }> {
    if (limit <= 0) return;
    const lower = toBuffer(range.lower);
    const upper = toBuffer(range.upper);
    // Going backwards lmdb-js starts at `start` inclusive and stops before `end`, which would drop
    // `lower`; so walk down from `upper` and stop by hand.
    const entries = reverse
      ? this.data.getRange({ start: upper, reverse: true })
      : this.data.getRange({ start: lower, end: upper, limit });
    for (const { key, value } of entries) {
      if (reverse && Buffer.compare(key, upper) >= 0) continue;
      if (reverse && Buffer.compare(key, lower) < 0) return;
      yield { key, row: decodeRow(value) };
      if (--limit === 0) return;
    }
  }

  /**
   * Applies the entry at `position` (which must be the next one) in one LMDB transaction — the open one
   * when called inside a write transaction (the input log's) — so whatever `fn` writes, the new applied
   * position and the checksum commit together or not at all. If an enclosing transaction fails to
   * commit after this returned, the in-memory position and checksum are ahead of the disk: its owner
   * must stop (the input log refuses every later append) and a restart recovers from the disk.
   */
  applyEntry<T>(position: number, fn: (writer: EntryWriter) => T): T {
    assert(!this.writing, 'applyEntry is not reentrant');
    assert(position === this.applied + 1, `applying position ${position} after ${this.applied}`);
    const before = this.stateChecksum.value;
    this.writing = true;
    try {
      const result = this.root.transactionSync(() => {
        const out = fn(this.writerFor(position));
        this.meta.putSync(Meta.appliedPosition, position);
        this.meta.putSync(Meta.checksum, this.stateChecksum.toHex());
        if (this.meta.get(Meta.checksumEveryPositions) === undefined) {
          this.meta.putSync(Meta.checksumEveryPositions, this.checksumEveryPositions);
        }
        if (position % this.checksumEveryPositions === 0) {
          this.checksums.putSync(position, this.stateChecksum.toHex());
        }
        return out;
      }, IN_ENCLOSING_TRANSACTION);
      this.applied = position;
      return result;
    } catch (err) {
      // The LMDB transaction was aborted; the in-memory checksum must follow it.
      this.stateChecksum.reset(before);
      throw err;
    } finally {
      this.writing = false;
    }
  }

  private writerFor(position: number): EntryWriter {
    return {
      get: (key) => this.get(key),
      scan: (range, reverse, limit) => this.scan(range, reverse, limit),
      write: (writes) => {
        for (const w of writes) {
          const key = toBuffer(w.key);
          // The encoding is canonical, so re-encoding the row as it was read gives its stored bytes
          // without another B-tree lookup.
          const old = w.stored === undefined ? this.readShared(key) : w.stored === null ? undefined : encodeRow(w.stored.version, w.stored.values);
          if (old !== undefined) this.stateChecksum.remove(key, old);
          if (w.values === null) {
            if (old !== undefined) this.data.removeSync(key);
          } else {
            const row = encodeRow(position, w.values);
            this.data.putSync(key, row);
            this.stateChecksum.add(key, row);
          }
        }
      },
      setSetting: (name, value) => {
        this.meta.putSync(Meta.settings, { ...this.settings(), [name]: value });
      },
      catalog: () => this.catalog(),
      putCatalog: (catalog, version) => {
        this.meta.putSync(Meta.catalog, catalog);
        this.meta.putSync(Meta.catalogVersion, version);
      },
    };
  }

  catalog(): unknown {
    return this.meta.get(Meta.catalog);
  }

  /** A separate small key, so a reader can tell the catalog has not changed without decoding it. */
  catalogVersion(): number {
    return (this.meta.get(Meta.catalogVersion) as number | undefined) ?? 0;
  }

  settings(): Record<string, string> {
    return (this.meta.get(Meta.settings) as Record<string, string> | undefined) ?? {};
  }

  /** Checksums recorded at positions from..to inclusive, ascending. */
  recordedChecksums(from = 1, to = Number.MAX_SAFE_INTEGER): RecordedChecksum[] {
    const out: RecordedChecksum[] = [];
    const range = to >= 0xffffffff ? { start: from } : { start: from, end: to + 1 };
    for (const { key, value } of this.checksums.getRange(range)) {
      out.push({ position: key, checksum: value });
    }
    return out;
  }

  recordedChecksum(position: number): string | undefined {
    return this.checksums.get(position);
  }

  /** Recomputes the checksum from every stored row: the slow, independent check of the incremental one. */
  recomputeChecksum(): string {
    const sum = new StateChecksum();
    for (const { key, value } of this.data.getRange({})) sum.add(key, value);
    return formatChecksum(sum.value);
  }

  rowCount(): number {
    return this.data.getCount();
  }
}
