// The input log store: one LMDB named database ("log") in the node's environment, one record per log
// position, each an enveloped Avro LogEntry (see logCodec.ts).
//
// Keys are 8-byte big-endian unsigned positions ('binary' key encoding): byte order is numeric order and,
// unlike the 'uint32' key encoding, they do not run out at 2^32 entries. Positions are JavaScript numbers,
// so the real limit is 2^53.
//
// Trust model: a record is verified (checksum, schema, payload, position) every time it is read, and at
// open the log checks in O(1) that it has exactly `last` records (no holes) and verifies the last record.
// A full scan is verifyAll(), for the replay tool.

import type { Database, RootDatabase } from 'lmdb';
import { assert } from '../util/index.js';
import { LogCorruptionError, decodeLogEntry, encodeForAppend } from './logCodec.js';
import type { LogEntry, LogEntryBody } from './types.js';

/** lmdb-js's `sync`, missing from its type declarations: mdb_env_sync(force) on a worker thread. */
interface SyncableRoot {
  sync(callback: (err?: unknown) => void): void;
}

function isSyncable(root: RootDatabase): root is RootDatabase & SyncableRoot {
  return typeof (root as Partial<SyncableRoot>).sync === 'function';
}

export const LOG_DB_NAME = 'log';

/** The LMDB key of a log position: 8 bytes, big-endian. */
export function logPositionKey(position: number): Buffer {
  assert(Number.isSafeInteger(position) && position >= 0, `log position ${position} is not a non-negative integer`);
  const key = Buffer.allocUnsafe(8);
  key.writeBigUInt64BE(BigInt(position));
  return key;
}

function positionOfKey(key: Uint8Array): number | undefined {
  if (key.length !== 8) return undefined;
  const n = Buffer.from(key.buffer, key.byteOffset, 8).readBigUInt64BE(0);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export class InputLog {
  private readonly root: RootDatabase & SyncableRoot;
  private readonly db: Database<Buffer, Buffer>;
  /** The highest position whose append has resolved (durable). */
  private durable: number;
  /** The position the next append takes; above `durable` while appends are in flight. */
  private next: number;
  /** Appends committed but not yet known to be on disk, in position order. */
  private readonly syncWaiters: { position: number; resolve: (p: number) => void; reject: (e: Error) => void }[] = [];
  private syncing = false;
  private syncs = 0;
  /** Set by the first failed append: from then on the in-memory positions cannot be trusted. */
  private failure: Error | undefined;

  private constructor(root: RootDatabase, db: Database<Buffer, Buffer>, last: number) {
    assert(isSyncable(root), 'lmdb-js root database has no sync()');
    this.root = root;
    this.db = db;
    this.durable = last;
    this.next = last + 1;
  }

  /**
   * Opens (creating) the `log` database inside an opened lmdb-js root. Checks that positions 1..last are
   * all present (by count, O(1)) and verifies the last record; throws LogCorruptionError otherwise.
   */
  static open(root: RootDatabase): InputLog {
    const db = root.openDB<Buffer, Buffer>(LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
    let last = 0;
    for (const key of db.getKeys({ reverse: true, limit: 1 })) {
      const p = positionOfKey(key);
      if (p === undefined || p === 0) throw new LogCorruptionError(0, `the log's last key 0x${Buffer.from(key).toString('hex')} is not a log position`);
      last = p;
    }
    const log = new InputLog(root, db, last);
    const count = (db.getStats() as { entryCount?: unknown }).entryCount;
    if (count !== last) log.throwFirstHole();
    if (last > 0) log.read(last);
    return log;
  }

  /** How many fsyncs appends have started (each covers every append committed before it). */
  get syncCount(): number {
    return this.syncs;
  }

  /** The highest durable position; 0 when the log is empty. Positions start at 1. */
  get lastPosition(): number {
    return this.durable;
  }

  /**
   * Appends at the next position and resolves with it once the record is on disk.
   *
   * The record is committed synchronously on this thread, like everything else the node writes: mixing
   * lmdb-js's background writer with main-thread `transactionSync` (which applies entries) once failed a
   * commit under load with "MDB_BAD_TXN: reserved freelist had a data entry with zero-size". Durability
   * is then an explicit `mdb_env_sync` on lmdb-js's worker thread (`root.sync`): lmdb-js's `flushed`
   * does not cover synchronous commits. Appends that arrive while a sync runs share the next one (group
   * commit), and resolve in position order. After a failed append every later one is refused: reopen
   * the log (open verifies the tail).
   */
  append(body: LogEntryBody): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.refusal());
    const position = this.next;
    let bytes: Buffer;
    try {
      // Encoding failures (a malformed entry) are the caller's and consume no position.
      bytes = encodeForAppend(body, position);
    } catch (err) {
      return Promise.reject(err);
    }
    const key = logPositionKey(position);
    try {
      this.root.transactionSync(() => {
        // A second writer or a bookkeeping bug must not replace a record that has a position.
        if (this.db.getBinaryFast(key) !== undefined) throw new Error(`input log position ${position} is already taken`);
        this.db.putSync(key, bytes);
      });
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      return Promise.reject(this.failure);
    }
    this.next = position + 1;
    return new Promise<number>((resolve, reject) => {
      this.syncWaiters.push({ position, resolve, reject });
      this.startSync();
    });
  }

  private refusal(): Error {
    const failure = this.failure ?? new Error('unknown failure');
    return new Error(`input log refuses appends after an earlier failure: ${failure.message}`, { cause: failure });
  }

  /** Starts an fsync covering every record committed so far, unless one is running already. */
  private startSync(): void {
    if (this.syncing || this.syncWaiters.length === 0) return;
    this.syncing = true;
    this.syncs++;
    const through = this.next - 1;
    this.root.sync((err?: unknown) => {
      this.syncing = false;
      if (err !== undefined && err !== null) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        for (const w of this.syncWaiters.splice(0)) w.reject(this.failure);
        return;
      }
      this.durable = Math.max(this.durable, through);
      let settled = 0;
      while (settled < this.syncWaiters.length && (this.syncWaiters[settled]?.position ?? Infinity) <= through) settled++;
      for (const w of this.syncWaiters.splice(0, settled)) w.resolve(w.position);
      this.startSync();
    });
  }

  /** The entry at `position`, verified; undefined outside 1..lastPosition. */
  read(position: number): LogEntry | undefined {
    if (!Number.isSafeInteger(position) || position < 1 || position > this.durable) return undefined;
    const bytes = this.db.get(logPositionKey(position));
    if (bytes === undefined) throw new LogCorruptionError(position, 'the record is missing');
    return decodeLogEntry(bytes, position);
  }

  /**
   * Entries from..to inclusive, in order, each verified; throws LogCorruptionError at the first bad or
   * missing one (never skips). Throws RangeError unless 1 <= from and to <= lastPosition; from > to is empty.
   */
  readRange(from: number, to: number): Iterable<LogEntry> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to > this.durable) {
      throw new RangeError(`log range ${from}..${to} is outside 1..${this.durable}`);
    }
    return this.iterate(from, to);
  }

  private *iterate(from: number, to: number): Generator<LogEntry, void, undefined> {
    if (from > to) return;
    let expected = from;
    for (const { key, value } of this.db.getRange({ start: logPositionKey(from), end: logPositionKey(to + 1) })) {
      const position = positionOfKey(key);
      if (position !== expected) throw new LogCorruptionError(expected, 'the record is missing');
      yield decodeLogEntry(value, position);
      expected++;
    }
    if (expected <= to) throw new LogCorruptionError(expected, 'the record is missing');
  }

  /** Reads and verifies every record; throws LogCorruptionError at the first bad or missing one. */
  verifyAll(): void {
    for (const entry of this.iterate(1, this.durable)) void entry;
  }

  private throwFirstHole(): never {
    let expected = 1;
    for (const key of this.db.getKeys()) {
      const p = positionOfKey(key);
      if (p !== expected) {
        throw new LogCorruptionError(expected, p === undefined ? `an invalid key 0x${Buffer.from(key).toString('hex')} follows it` : 'the record is missing');
      }
      expected++;
    }
    throw new LogCorruptionError(expected, 'the record count does not match the last position');
  }
}
