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
import { OrdoError, assert } from '../util/index.js';
import { LogCorruptionError, decodeLogEntry, encodeForAppend, relocateRecord } from './logCodec.js';
import type { LogEntry, LogEntryBody } from './types.js';

export const LOG_DB_NAME = 'log';

/** lmdb-js transactionSync flags: abortable + synchronous commit (its default), optionally MDB_NOMETASYNC. */
const TxnFlags = { default: 3, noMetaSync: 3 | 0x40000 } as const;

export const InputLogLimits = {
  /** Readers waiting for a flush at once; beyond it a read is refused (53000) rather than queued. */
  maxDurableWaiters: 100_000,
} as const;

/** The log entry a body becomes at `position`. */
export function entryAt(body: LogEntryBody, position: number): LogEntry {
  return body.kind === 'batch'
    ? { position, kind: 'batch', batch: body.batch }
    : { position, kind: 'control', timestampMs: body.timestampMs, control: body.control };
}

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
  /** The last appended position: every append is durable when it returns. */
  private durable: number;
  /** The last position handed to the writer thread by appendAndApply (equal to `durable` when idle). */
  private queued: number;
  private durableWaiters: { readonly position: number; readonly resolve: () => void; readonly reject: (err: Error) => void }[] = [];
  private syncs = 0;
  /** Set by the first failed append: from then on the in-memory positions cannot be trusted. */
  private failure: Error | undefined;

  private constructor(root: RootDatabase, db: Database<Buffer, Buffer>, last: number) {
    this.root = root;
    this.db = db;
    this.durable = last;
    this.queued = last;
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

  /** How many appends have been flushed to disk (one flush each). */
  get syncCount(): number {
    return this.syncs;
  }

  /** The last (durable) position; 0 when the log is empty. Positions start at 1. */
  get lastPosition(): number {
    return this.durable;
  }

  /**
   * Appends at the next position and resolves with it; the record is on disk when this returns.
   *
   * The record is committed synchronously on this thread, like everything else the node writes: mixing
   * lmdb-js's background writer with main-thread `transactionSync` (which applies entries) once failed a
   * commit under load with "MDB_BAD_TXN: reserved freelist had a data entry with zero-size". And
   * `transactionSync` returns only once its commit is flushed: LMDB fdatasyncs the data pages, then
   * writes the meta page through an O_DSYNC descriptor (lmdb-js's NO_SYNC_FLUSH flag, which we never
   * pass, is what would skip that). After a failed append every later one is refused: reopen the log
   * (open verifies the tail).
   */
  append(body: LogEntryBody): Promise<number> {
    try {
      return Promise.resolve(this.appendApplied(body, () => undefined));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Records `body` at the next position and calls `apply` with the entry inside the same LMDB write
   * transaction, so the record and everything `apply` writes commit together: after a crash the store
   * holds either both or neither, and a single node needs one disk flush per entry instead of two.
   * The entry is durable when this returns (see append).
   *
   * `encodedAtZero`, when given, is `body` already encoded at position 0 (a Raft entry's data): it is
   * moved to the position instead of being encoded again.
   *
   * `replicated`: the entry is already durable elsewhere (a Raft member's entry is in its Raft log, and
   * entries past the input log's end are delivered again after a restart), so the commit flushes its
   * data pages but does not sync the meta page (LMDB's MDB_NOMETASYNC: ≈40% cheaper here). A crash may
   * then lose this append and its application — never half of it, and never corrupting the store,
   * because the pages the meta page points to were flushed before it was written — and the next synced
   * commit makes it durable.
   *
   * Throws EntryRejectedError when the entry cannot be encoded (nothing is appended, later appends are
   * unaffected). Anything else — a failed commit, or `apply` throwing — leaves nothing appended and
   * refuses every later append.
   */
  appendApplied(body: LogEntryBody, apply: (entry: LogEntry) => void, encodedAtZero?: Buffer, options: { replicated?: boolean } = {}): number {
    if (this.failure !== undefined) throw this.refusal();
    const position = this.durable + 1;
    const bytes = encodedAtZero === undefined ? encodeForAppend(body, position) : relocateRecord(encodedAtZero, position);
    const key = logPositionKey(position);
    try {
      this.root.transactionSync(() => {
        if (this.db.getBinaryFast(key) !== undefined) throw new Error(`input log position ${position} is already taken`);
        this.db.putSync(key, bytes);
        apply(entryAt(body, position));
      }, options.replicated === true ? TxnFlags.noMetaSync : TxnFlags.default);
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    this.syncs++;
    this.durable = position;
    this.queued = position;
    return position;
  }

  /**
   * Records `body` at the next position and applies it in one LMDB transaction like `appendApplied`, but
   * committed by lmdb-js's writer thread, so the main thread goes on taking in and planning statements
   * while the disk flushes (single-node group commit, ADR 0001 decision 1). `apply` runs later, on this thread,
   * inside the write transaction, strictly in append order; the promise resolves with the position once
   * the record and the application are on disk.
   *
   * Each entry is a nested transaction, so an entry whose `apply` throws leaves nothing behind; from then
   * on every queued and later entry is refused. Throws EntryRejectedError synchronously when the entry
   * cannot be encoded (nothing queued, later appends unaffected).
   *
   * A log that uses this must not also write with `appendApplied` or any other main-thread
   * `transactionSync` while entries are queued: lmdb-js cannot mix the two safely.
   */
  appendAndApply(body: LogEntryBody, apply: (entry: LogEntry) => void): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.refusal());
    const position = this.queued + 1;
    const bytes = encodeForAppend(body, position);
    this.queued = position;
    const key = logPositionKey(position);
    const committed = this.root.childTransaction(() => {
      if (this.failure !== undefined) throw this.refusal();
      try {
        if (this.db.getBinaryFast(key) !== undefined) throw new Error(`input log position ${position} is already taken`);
        this.db.putSync(key, bytes);
        apply(entryAt(body, position));
      } catch (err) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        throw err;
      }
    });
    return committed.then(
      async () => {
        // The commit is visible once `committed` resolves; durable once the flush that follows it is done.
        await this.root.flushed;
        this.syncs++;
        if (position > this.durable) this.durable = position;
        this.wakeDurable();
        return position;
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.failure ??= error;
        for (const w of this.durableWaiters.splice(0)) w.reject(this.refusal());
        throw error;
      },
    );
  }

  /**
   * Resolves once `position` is durable (at once when it already is). Rejects when the log fails first.
   * For readers that must not see state whose flush is still in flight.
   */
  whenDurable(position: number): Promise<void> {
    if (position <= this.durable) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.refusal());
    if (this.durableWaiters.length >= InputLogLimits.maxDurableWaiters) {
      return Promise.reject(new OrdoError('53000', `too many readers waiting for the log to flush (${this.durableWaiters.length})`));
    }
    return new Promise((resolve, reject) => this.durableWaiters.push({ position, resolve, reject }));
  }

  private wakeDurable(): void {
    if (this.durableWaiters.length === 0) return;
    const waiting = this.durableWaiters;
    this.durableWaiters = [];
    for (const w of waiting) {
      if (w.position <= this.durable) w.resolve();
      else this.durableWaiters.push(w);
    }
  }

  private refusal(): Error {
    const failure = this.failure ?? new Error('unknown failure');
    return new Error(`input log refuses appends after an earlier failure: ${failure.message}`, { cause: failure });
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
