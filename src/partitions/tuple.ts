// Order-preserving tuple encoding for keys, and the canonical encoding of rows and parameters.
//
// Why not lmdb-js's own ordered-binary keys: it stores every number as a float64 (int64 keys above
// 2^53 collide), decodes NULL as '' and cannot hold a Buffer inside a tuple. See docs/adr/0001.
//
// Each element is a tag byte followed by its payload; elements are self-delimiting, so a tuple's
// encoding is the concatenation of its elements' and a tuple prefix is a byte prefix. Byte order of
// encodings equals SQL order within one type: false < true, integers and floats numerically, strings by
// code point (UTF-8 byte order), bytes lexicographically, and NULL after everything (PostgreSQL's
// default NULLS LAST). No tag is 0xFF, so `prefix + 0xFF` is above every key that starts with `prefix`.

import { INT64_MAX, INT64_MIN, type Value } from './value.js';

export const Tag = {
  false: 0x10,
  true: 0x11,
  int: 0x20,
  float: 0x21,
  string: 0x30,
  bytes: 0x31,
  null: 0xf0,
} as const;

const PREFIX_END = 0xff;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A byte buffer encoders append to: either a growable scratch buffer whose result is copied out, or an
 * exact-size buffer that becomes the result itself (no copy, one allocation).
 */
class Writer {
  buf: Buffer;
  length = 0;
  /** Strings and bytes hold no 0x00, so they are written as they are, with no escaping. */
  unescaped = false;
  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }
  int64(v: bigint): void {
    this.reserve(8);
    if (v >= -0x80000000n && v <= 0x7fffffffn) {
      // Most keys and values are small: skip BigInt arithmetic.
      this.smallInt(Number(v));
      return;
    }
    this.buf.writeBigInt64BE(v, this.length);
    this.buf[this.length] = (this.buf[this.length] as number) ^ 0x80;
    this.length += 8;
  }
  /** An integer in int32 range, encoded exactly as int64() would: sign-flipped, big-endian. */
  smallInt(n: number): void {
    this.reserve(8);
    const b = this.buf;
    const o = this.length;
    const fill = n < 0 ? 0x7f : 0x80;
    const rest = n < 0 ? 0xff : 0x00;
    b[o] = fill;
    b[o + 1] = rest;
    b[o + 2] = rest;
    b[o + 3] = rest;
    b[o + 4] = (n >>> 24) & 0xff;
    b[o + 5] = (n >>> 16) & 0xff;
    b[o + 6] = (n >>> 8) & 0xff;
    b[o + 7] = n & 0xff;
    this.length = o + 8;
  }
  float64(v: number): void {
    this.reserve(8);
    // -0 and every NaN get one encoding each, so equal SQL values have equal bytes.
    const canonical = Number.isNaN(v) ? Number.NaN : v === 0 ? 0 : v;
    this.buf.writeDoubleBE(canonical, this.length);
    const first = this.buf[this.length] as number;
    if ((first & 0x80) === 0) {
      this.buf[this.length] = first ^ 0x80;
    } else {
      for (let i = 0; i < 8; i++) this.buf[this.length + i] = (this.buf[this.length + i] as number) ^ 0xff;
    }
    this.length += 8;
  }
  /** Bytes with 0x00 escaped as 0x00 0xFF and a 0x00 terminator: order-preserving and self-delimiting. */
  escaped(bytes: Uint8Array): void {
    this.reserve(bytes.length * 2 + 1);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      this.buf[this.length++] = b;
      if (b === 0) this.buf[this.length++] = 0xff;
    }
    this.buf[this.length++] = 0;
  }
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  /** UTF-8 of a string with no NUL, then the terminator (the escaped form of such a string). */
  plainString(v: string): void {
    this.reserve(Buffer.byteLength(v, 'utf8') + 1);
    this.length += this.buf.write(v, this.length, 'utf8');
    this.buf[this.length++] = 0;
  }
  reset(): this {
    this.length = 0;
    this.unescaped = false;
    return this;
  }
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    // TypedArray#set: a native copy without Buffer#copy's argument checks, which showed in profiles.
    out.set(this.buf.subarray(0, this.length));
    return out;
  }
}

// Encoding is synchronous and never reentrant, so one scratch buffer serves every call and each
// encoding allocates only its result.
const scratch = new Writer(4096);

/**
 * The encoded size of values that need no escaping (no 0x00 inside a string or bytes), or -1. Most
 * keys and rows qualify, and are then written straight into a buffer of their exact size.
 */
function plainSize(values: readonly Value[]): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === true || v === false) n += 1;
    else if (typeof v === 'bigint' || typeof v === 'number') n += 9;
    else if (typeof v === 'string') {
      if (v.indexOf('\u0000') !== -1) return -1;
      n += 2 + Buffer.byteLength(v, 'utf8');
    } else if (v instanceof Uint8Array) {
      if (v.indexOf(0) !== -1) return -1;
      n += 2 + v.length;
    } else return -1; // writeValue reports it
  }
  return n;
}

const exact = new Writer(0);

/** A writer over a fresh buffer of exactly `size` bytes (see plainSize). */
function exactWriter(size: number): Writer {
  exact.buf = Buffer.allocUnsafe(size);
  exact.length = 0;
  exact.unescaped = true;
  return exact;
}

/** The exact writer's buffer, checked to be full: its size was computed, not grown. */
function exactResult(w: Writer): Buffer {
  if (w.length !== w.buf.length) throw new Error(`invariant violated: encoded ${w.length} of ${w.buf.length} bytes`);
  return w.buf;
}

function writeValue(w: Writer, v: Value): void {
  if (v === null) w.byte(Tag.null);
  else if (v === false) w.byte(Tag.false);
  else if (v === true) w.byte(Tag.true);
  else if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`integer ${v} is outside int64`);
    w.byte(Tag.int);
    w.int64(v);
  } else if (typeof v === 'number') {
    w.byte(Tag.float);
    w.float64(v);
  } else if (typeof v === 'string') {
    w.byte(Tag.string);
    if (w.unescaped) w.plainString(v);
    else w.escaped(textEncoder.encode(v));
  } else if (v instanceof Uint8Array) {
    w.byte(Tag.bytes);
    if (w.unescaped) {
      w.raw(v);
      w.byte(0);
    } else w.escaped(v);
  } else {
    throw new TypeError(`not an engine value: ${typeof v}`);
  }
}

/** Encodes a tuple of values. */
export function encodeTuple(values: readonly Value[]): Buffer {
  const size = plainSize(values);
  const w = size >= 0 ? exactWriter(size) : scratch.reset();
  for (const v of values) writeValue(w, v);
  return size >= 0 ? exactResult(w) : w.finish();
}

/** Encodes the key `[table, index, ...parts]`; table and index are small non-negative integers. */
export function encodeKey(table: number, index: number, parts: readonly Value[]): Buffer {
  const size = plainSize(parts);
  const w = size >= 0 ? exactWriter(18 + size) : scratch.reset();
  w.byte(Tag.int);
  w.smallInt(table);
  w.byte(Tag.int);
  w.smallInt(index);
  for (const v of parts) writeValue(w, v);
  return size >= 0 ? exactResult(w) : w.finish();
}

/** The smallest byte string greater than every encoding that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + 1);
  out.set(prefix, 0);
  out[prefix.length] = PREFIX_END;
  return out;
}

export class TupleDecodeError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'TupleDecodeError';
  }
}

/**
 * Where readEscaped's run ended. Module state rather than a result object: it runs for every string
 * column of every row read, and the decoder is synchronous.
 */
const run = {
  /** The index of the run's terminating 0x00 byte. */
  end: 0,
  /** Every byte below 0x80 (a string then needs no UTF-8 validation). */
  ascii: false,
  /** The unescaped bytes when the run had escapes; null when the run is `bytes[start, end)` as it is. */
  unescaped: null as Buffer | null,
};

/** Finds the end of an escaped run that starts at `start` and lies before `limit`; see `run`. */
function readEscaped(bytes: Buffer, start: number, limit: number): void {
  let i = start;
  let escaped = false;
  let high = 0;
  for (;;) {
    if (i >= limit) throw new TupleDecodeError('unterminated string or bytes', start);
    const b = bytes[i] as number;
    if (b !== 0) {
      high |= b;
      i++;
      continue;
    }
    if (i + 1 < limit && bytes[i + 1] === 0xff) {
      escaped = true;
      i += 2;
      continue;
    }
    break;
  }
  run.end = i;
  run.ascii = high < 0x80;
  run.unescaped = null;
  if (!escaped) return;
  const out = Buffer.allocUnsafe(i - start);
  let n = 0;
  for (let j = start; j < i; j++) {
    const b = bytes[j] as number;
    out[n++] = b;
    if (b === 0) j++; // skip the 0xFF escape
  }
  run.unescaped = out.subarray(0, n);
}

function readInt64(view: Buffer, at: number): bigint {
  const hi = (view.readUInt32BE(at) ^ 0x80000000) | 0;
  const lo = view.readUInt32BE(at + 4);
  // Within ±2^52 the value fits a double exactly: one Number→BigInt conversion instead of BigInt math.
  if (hi >= -0x100000 && hi < 0x100000) return BigInt(hi * 0x100000000 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Decodes a whole tuple; throws TupleDecodeError on anything malformed (never guesses). */
export function decodeTuple(bytes: Uint8Array): Value[] {
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeFrom(view, 0, view.length);
}

/** Decodes the tuple in view[start, end): `end` may be below view.length (a shared read buffer). */
function decodeFrom(view: Buffer, start: number, end: number): Value[] {
  const out: Value[] = [];
  let i = start;
  while (i < end) {
    const tag = view[i] as number;
    const at = i++;
    switch (tag) {
      case Tag.null:
        out.push(null);
        break;
      case Tag.false:
        out.push(false);
        break;
      case Tag.true:
        out.push(true);
        break;
      case Tag.int: {
        if (i + 8 > end) throw new TupleDecodeError('truncated integer', at);
        out.push(readInt64(view, i));
        i += 8;
        break;
      }
      case Tag.float: {
        if (i + 8 > end) throw new TupleDecodeError('truncated float', at);
        const raw = Buffer.from(view.subarray(i, i + 8));
        if (((raw[0] as number) & 0x80) !== 0) raw[0] = (raw[0] as number) ^ 0x80;
        else for (let j = 0; j < 8; j++) raw[j] = (raw[j] as number) ^ 0xff;
        out.push(raw.readDoubleBE(0));
        i += 8;
        break;
      }
      case Tag.string: {
        readEscaped(view, i, end);
        if (run.unescaped === null && run.ascii) out.push(view.toString('latin1', i, run.end));
        else {
          try {
            out.push(textDecoder.decode(run.unescaped ?? view.subarray(i, run.end)));
          } catch {
            throw new TupleDecodeError('invalid UTF-8 in string', at);
          }
        }
        i = run.end + 1;
        break;
      }
      case Tag.bytes: {
        readEscaped(view, i, end);
        // A copy: the caller may hold on to it after the buffer it came from is reused.
        out.push(run.unescaped === null ? Uint8Array.prototype.slice.call(view, i, run.end) : Uint8Array.prototype.slice.call(run.unescaped));
        i = run.end + 1;
        break;
      }
      default:
        throw new TupleDecodeError(`unknown tag 0x${tag.toString(16)}`, at);
    }
  }
  return out;
}

/**
 * A stored row: the log position of its last write (its version) and its column values.
 * Layout: 8-byte big-endian position, then the tuple of values. One canonical byte form, so the
 * state checksum is a function of the values alone.
 */
export interface StoredRow {
  readonly version: number;
  readonly values: readonly Value[];
}

export function encodeRow(version: number, values: readonly Value[]): Buffer {
  const size = plainSize(values);
  const w = size >= 0 ? exactWriter(8 + size) : scratch.reset();
  w.int64(BigInt(version));
  for (const v of values) writeValue(w, v);
  return size >= 0 ? exactResult(w) : w.finish();
}

/** Decodes a row from bytes[0, sizeBytes) — sizeBytes below bytes.length reads a shared buffer in place. */
export function decodeRow(bytes: Uint8Array, sizeBytes: number = bytes.length): StoredRow {
  if (sizeBytes < 8) throw new TupleDecodeError('row shorter than its version', 0);
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { version: Number(readInt64(view, 0)), values: decodeFrom(view, 8, sizeBytes) };
}

/** Byte order of encoded keys, the order LMDB keeps them in. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** A half-open range of encoded keys: lower <= key < upper. */
export interface KeyRange {
  readonly lower: Uint8Array;
  readonly upper: Uint8Array;
}

export function rangeContains(range: KeyRange, key: Uint8Array): boolean {
  return Buffer.compare(range.lower, key) <= 0 && Buffer.compare(key, range.upper) < 0;
}

export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  return Buffer.compare(a.lower, b.upper) < 0 && Buffer.compare(b.lower, a.upper) < 0;
}

/** Encodes a range over `[table, index, ...]` from key-part prefix bounds (see RangeExpr). */
export function encodeRange(
  table: number,
  index: number,
  lower: readonly Value[],
  lowerInclusive: boolean,
  upper: readonly Value[] | null,
  upperInclusive: boolean,
): KeyRange {
  const lowerPrefix = encodeKey(table, index, lower);
  const lowerKey = lowerInclusive || lower.length === 0 ? lowerPrefix : prefixEnd(lowerPrefix);
  let upperKey: Buffer;
  if (upper === null) upperKey = prefixEnd(encodeKey(table, index, []));
  else {
    const upperPrefix = encodeKey(table, index, upper);
    upperKey = upperInclusive ? prefixEnd(upperPrefix) : upperPrefix;
  }
  return { lower: lowerKey, upper: upperKey };
}
