// The engine's value domain. Every column value, program literal and parameter is one of these.
// Integers are always bigint (int64 semantics, exact) and floats always number (float64), so the type
// of a value is never ambiguous and arithmetic is exact where SQL says it must be.

export type Value = null | boolean | bigint | number | string | Uint8Array;

/** A row is the list of its column values, in column order. */
export type Row = readonly Value[];

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export function isInt(v: Value): v is bigint {
  return typeof v === 'bigint';
}
