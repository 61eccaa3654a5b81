// SQL types of the gateway, and how their values live as engine values.
//
// The engine has one value domain (null | boolean | bigint | number | string | Uint8Array). Each SQL
// type maps onto it as follows (the wire layer agrees on the ones it formats):
//   int2/int4/int8          bigint
//   numeric(p,s)            bigint scaled by 10^s: exact, and the program language's int64
//                           arithmetic and comparisons are then exact numeric arithmetic
//   float4/float8           number
//   text/varchar/bpchar     string (bpchar is stored unpadded and padded on output)
//   bool                    boolean
//   timestamp/timestamptz   bigint microseconds since 1970-01-01 UTC
//   date                    bigint days since 1970-01-01
//   bytea                   Uint8Array
//   uuid                    string, canonical lowercase

import type { ColumnDef, ColumnType } from '../sequencer/index.js';
import type { Value } from '../partitions/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import { PgType, decodeText, type PgTypeInfo } from './wire/index.js';

/** A SQL type: a column type, or 'unknown' for an untyped literal or parameter not yet resolved. */
export interface SqlType {
  readonly name: ColumnType | 'unknown';
  /** varchar/bpchar length or numeric precision. */
  readonly length: number | null;
  /** numeric scale (always set for numeric). */
  readonly scale: number | null;
}

export const SqlStateX = {
  undefinedTable: '42P01',
  duplicateTable: '42P07',
  duplicateColumn: '42701',
  undefinedFunction: '42883',
  syntaxError: '42601',
  stringDataRightTruncation: '22001',
  invalidDatetimeFormat: '22007',
  ambiguousColumn: '42702',
  groupingError: '42803',
  invalidColumnReference: '42P10',
  invalidTableDefinition: '42P16',
  activeSqlTransaction: '25001',
  noActiveSqlTransaction: '25P01',
  undefinedObject: '42704',
  cardinalityViolation: '21000',
  checkViolation: '23514',
  duplicateObject: '42710',
  invalidRowCountInLimit: '2201W',
  invalidRowCountInOffset: '2201X',
  /** OrdoDB's own: an OLLP prediction was stale at the log position (ADR 0007); the gateway retries it. */
  predictionStale: 'OD002',
} as const;

export const T = {
  int2: { name: 'int2', length: null, scale: null },
  int4: { name: 'int4', length: null, scale: null },
  int8: { name: 'int8', length: null, scale: null },
  float4: { name: 'float4', length: null, scale: null },
  float8: { name: 'float8', length: null, scale: null },
  text: { name: 'text', length: null, scale: null },
  bool: { name: 'bool', length: null, scale: null },
  timestamp: { name: 'timestamp', length: null, scale: null },
  timestamptz: { name: 'timestamptz', length: null, scale: null },
  date: { name: 'date', length: null, scale: null },
  bytea: { name: 'bytea', length: null, scale: null },
  uuid: { name: 'uuid', length: null, scale: null },
  unknown: { name: 'unknown', length: null, scale: null },
} as const satisfies Record<string, SqlType>;

export function numericType(scale: number, precision: number | null = null): SqlType {
  return { name: 'numeric', length: precision, scale };
}

export function columnSqlType(c: ColumnDef): SqlType {
  return { name: c.type, length: c.length, scale: c.type === 'numeric' ? (c.scale ?? 0) : c.scale };
}

const PG: Readonly<Record<SqlType['name'], PgTypeInfo>> = {
  int2: PgType.int2,
  int4: PgType.int4,
  int8: PgType.int8,
  numeric: PgType.numeric,
  float4: PgType.float4,
  float8: PgType.float8,
  text: PgType.text,
  varchar: PgType.varchar,
  bpchar: PgType.bpchar,
  bool: PgType.bool,
  timestamp: PgType.timestamp,
  timestamptz: PgType.timestamptz,
  date: PgType.date,
  bytea: PgType.bytea,
  uuid: PgType.uuid,
  // An unresolved literal that reaches the output is text, as in PostgreSQL.
  unknown: PgType.text,
};

export function pgType(t: SqlType): PgTypeInfo {
  return PG[t.name];
}

/** pg_attribute.atttypmod as PostgreSQL reports it in RowDescription. */
export function typeModifier(t: SqlType): number {
  if ((t.name === 'varchar' || t.name === 'bpchar') && t.length !== null) return t.length + 4;
  if (t.name === 'numeric' && t.length !== null) return ((t.length << 16) | (t.scale ?? 0)) + 4;
  return -1;
}

export function typeSqlName(t: SqlType): string {
  switch (t.name) {
    case 'varchar':
      return t.length === null ? 'character varying' : `character varying(${t.length})`;
    case 'bpchar':
      return `character(${t.length ?? 1})`;
    case 'numeric':
      return t.length === null ? 'numeric' : `numeric(${t.length},${t.scale ?? 0})`;
    default:
      return pgType(t).sqlName;
  }
}

export type TypeClass = 'int' | 'numeric' | 'float' | 'string' | 'bool' | 'timestamp' | 'date' | 'bytea' | 'uuid' | 'unknown';

export function typeClass(t: SqlType): TypeClass {
  switch (t.name) {
    case 'int2':
    case 'int4':
    case 'int8':
      return 'int';
    case 'numeric':
      return 'numeric';
    case 'float4':
    case 'float8':
      return 'float';
    case 'text':
    case 'varchar':
    case 'bpchar':
      return 'string';
    case 'bool':
      return 'bool';
    case 'timestamp':
    case 'timestamptz':
      return 'timestamp';
    case 'date':
      return 'date';
    case 'bytea':
      return 'bytea';
    case 'uuid':
      return 'uuid';
    default:
      return 'unknown';
  }
}

export const IntRange: Readonly<Partial<Record<ColumnType, readonly [bigint, bigint]>>> = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};

export function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Exact decimal text (as the wire layer's numeric input gives it) → bigint scaled by 10^scale, rounding half away from zero. */
export function decimalToScaled(text: string, scale: number): bigint {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (m === null || ((m[2] ?? '') === '' && (m[3] ?? '') === '')) {
    throw new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${text}"`);
  }
  const negative = m[1] === '-';
  let digits = (m[2] ?? '') + (m[3] ?? '');
  let fracDigits = (m[3] ?? '').length - Number(m[4] ?? '0');
  if (fracDigits < 0) {
    digits += '0'.repeat(-fracDigits);
    fracDigits = 0;
  }
  let v = BigInt(digits === '' ? '0' : digits);
  if (fracDigits > scale) {
    const div = pow10(fracDigits - scale);
    const q = v / div;
    const r = v % div;
    v = r * 2n >= div ? q + 1n : q;
  } else v *= pow10(scale - fracDigits);
  return negative ? -v : v;
}

/** bigint scaled by 10^scale → decimal text with exactly `scale` fractional digits. */
export function scaledToDecimal(v: bigint, scale: number): string {
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  return negative ? `-${text}` : text;
}

/** Converts the text of a value (a literal, or a text-format parameter) to type `t`'s engine value. */
export function valueFromText(t: SqlType, text: string): Exclude<Value, null> {
  if (t.name === 'numeric') return decimalToScaled(String(decodeText(PgType.numeric.oid, text)), t.scale ?? 0);
  if (t.name === 'unknown') return text;
  const v = decodeText(pgType(t).oid, text);
  if (typeof v === 'bigint' && typeClass(t) === 'int') {
    const range = IntRange[t.name as ColumnType];
    if (range !== undefined && (v < range[0] || v > range[1])) {
      throw new OrdoError(SqlState.numericValueOutOfRange, `value "${text}" is out of range for type ${typeSqlName(t)}`);
    }
  }
  return v;
}

/**
 * Converts a parameter value decoded by the wire layer as `pgType(t)` to the engine value of `t`
 * (only numeric differs: the wire layer gives its exact text).
 */
export function valueFromWire(t: SqlType, v: Value): Value {
  if (v === null) return null;
  if (t.name === 'numeric') {
    if (typeof v === 'string') return decimalToScaled(v, t.scale ?? 0);
    if (typeof v === 'bigint') return v * pow10(t.scale ?? 0);
  }
  return v;
}

/** The engine value of a column as the wire layer's encodeCell expects it for `pgType(t)`. */
export function valueToWire(t: SqlType, v: Value): Value {
  if (v === null) return null;
  if (t.name === 'numeric' && typeof v === 'bigint') return scaledToDecimal(v, t.scale ?? 0);
  if (t.name === 'bpchar' && typeof v === 'string' && t.length !== null) {
    // Stored unpadded; PostgreSQL shows char(n) padded to n.
    const n = [...v].length;
    return n < t.length ? v + ' '.repeat(t.length - n) : v;
  }
  return v;
}
