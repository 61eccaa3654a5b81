// JSON renderings of engine values and keys for the audit and admin tools. JSON has no int64 or bytes:
// integers that fit a double exactly print as numbers, larger ones as decimal strings; bytes print as
// PostgreSQL's '\x…' hex form.

import { decodeTuple, type KeyRange, type Value } from '../partitions/index.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function valueToJson(v: Value): Json {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  return v;
}

export function keyToJson(key: Uint8Array): Json {
  return decodeTuple(key).map(valueToJson);
}

/** A range bound is a key, or a key prefix followed by 0xFF ("after every key starting with it"). */
function boundToJson(bound: Uint8Array): Json {
  if (bound.length > 0 && bound[bound.length - 1] === 0xff) {
    return { after: decodeTuple(bound.subarray(0, bound.length - 1)).map(valueToJson) };
  }
  return { at: decodeTuple(bound).map(valueToJson) };
}

export function rangeToJson(range: KeyRange): Json {
  return { from: boundToJson(range.lower), below: boundToJson(range.upper) };
}
