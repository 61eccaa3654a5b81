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
import { LogCorruptionError, decodeLogEntry, encodeLogEntry } from './logCodec.js';
import type { LogEntry, LogEntryBody } from './types.js';

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
  private readonly root: RootDatabase;
  private readonly db: Database<Buffer, Buffer>;
  /** The highest position whose append has resolved (durable). */
  private durable: number;
  /** The position the next append takes; above `durable` while appends are in flight. */
  private next: number;
  /** Resolves when every append so far has settled; appends resolve in call order behind it. */
  private tail: Promise<void> = Promise.resolve();
  /** Set by the first failed append: from then on the in-memory positions cannot be trusted. */
  private failure: Error | undefined;

  private constructor(root: RootDatabase, db: Database<Buffer, Buffer>, last: number) {
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

  /** The highest durable position; 0 when the log is empty. Positions start at 1. */
  get lastPosition(): number {
    return this.durable;
  }

  /**
   * Appends at the next position and resolves with it once the record is committed and flushed to disk.
   * Concurrent appends take consecutive positions in call order, are committed together where lmdb-js
   * batches them, and resolve in call order. After a failed append every later append is refused: reopen
   * the log (open verifies the tail).
   */
  append(body: LogEntryBody): Promise<number> {
    if (this.failure !== undefined) {
      return Promise.reject(new Error(`input log refuses appends after an earlier failure: ${this.failure.message}`, { cause: this.failure }));
    }
    const position = this.next;
    let bytes: Buffer;
    try {
      // Encoding failures (a malformed entry) are the caller's and consume no position.
      bytes = encodeLogEntry({ ...body, position });
    } catch (err) {
      return Promise.reject(err);
    }
    this.next = position + 1;
    // Conditional: a second writer or a bookkeeping bug must not replace a record that has a position.
    const key = logPositionKey(position);
    const written = this.db.ifNoExists(key, () => {
      void this.db.put(key, bytes);
    });
    const previous = this.tail;
    const done = (async (): Promise<number> => {
      // Settle behind the previous append even when this write failed, so outcomes arrive in call order.
      const stored = await written.then(
        (ok) => ok,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      await previous;
      try {
        if (stored instanceof Error) throw stored;
        if (this.failure !== undefined) throw new Error(`an earlier append failed: ${this.failure.message}`);
        if (!stored) throw new Error(`input log position ${position} is already taken`);
        // The commit may have returned before the fsync (lmdb-js overlappingSync); `flushed` read now
        // covers every commit so far, ours included.
        await this.root.flushed;
      } catch (err) {
        const failure = err instanceof Error ? err : new Error(String(err));
        this.failure ??= failure;
        throw failure;
      }
      this.durable = position;
      return position;
    })();
    this.tail = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
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
