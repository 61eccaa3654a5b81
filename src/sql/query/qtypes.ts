// Types as the query engine sees them: the catalog's column types plus the query-only ones (jsonb,
// interval), how values of each convert to and from text, and PostgreSQL's implicit promotions.

import type { ColumnType } from '../../sequencer/index.js';
import type { Value } from '../../partitions/index.js';
import { OrdoError, SqlState } from '../../util/index.js';
import { SqlStateX, IntRange, pow10, type SqlType } from '../types.js';
import { PgType, TypeOid, decodeText, encodeText } from '../wire/index.js';
import {
  Decimal,
  Interval,
  Jsonb,
  US_PER_DAY,
  decimalOf,
  decimalToFloat,
  formatInterval,
  formatJson,
  outOfRange,
  parseDecimal,
  parseInterval,
  parseJson,
  rescale,
  roundDecimal,
  type QValue,
} from './values.js';

export type QName = ColumnType | 'unknown' | 'jsonb' | 'interval';

export interface QType {
  readonly name: QName;
  /** varchar/bpchar length or numeric precision, when the type came from a column or a cast. */
  readonly length: number | null;
  readonly scale: number | null;
}

const plain = (name: QName): QType => ({ name, length: null, scale: null });

export const Q = {
  int2: plain('int2'),
  int4: plain('int4'),
  int8: plain('int8'),
  numeric: plain('numeric'),
  float4: plain('float4'),
  float8: plain('float8'),
  text: plain('text'),
  bool: plain('bool'),
  date: plain('date'),
  timestamp: plain('timestamp'),
  timestamptz: plain('timestamptz'),
  bytea: plain('bytea'),
  uuid: plain('uuid'),
  jsonb: plain('jsonb'),
  interval: plain('interval'),
  unknown: plain('unknown'),
} as const satisfies Record<string, QType>;

export type Category = 'numeric' | 'string' | 'datetime' | 'bool' | 'bytea' | 'uuid' | 'jsonb' | 'interval' | 'unknown';

export function category(t: QType): Category {
  switch (t.name) {
    case 'int2':
    case 'int4':
    case 'int8':
    case 'numeric':
    case 'float4':
    case 'float8':
      return 'numeric';
    case 'text':
    case 'varchar':
    case 'bpchar':
      return 'string';
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return 'datetime';
    default:
      return t.name;
  }
}

export function isInt(t: QType): boolean {
  return t.name === 'int2' || t.name === 'int4' || t.name === 'int8';
}

export function isFloat(t: QType): boolean {
  return t.name === 'float4' || t.name === 'float8';
}

/** Position in PostgreSQL's implicit promotion order within a category. */
const RANK: Partial<Record<QName, number>> = { int2: 1, int4: 2, int8: 3, numeric: 4, float4: 5, float8: 6, date: 1, timestamp: 2, timestamptz: 3, varchar: 1, bpchar: 1, text: 2 };

/** The SQL name PostgreSQL uses in messages ("integer", "text", …). */
export function typeName(t: QType): string {
  if (t.name === 'jsonb' || t.name === 'interval' || t.name === 'unknown') return t.name;
  return PgType[t.name].sqlName;
}

export function toSqlType(t: QType): SqlType {
  // jsonb and interval are query-level types: the wire layer knows neither, so they travel as their text.
  if (t.name === 'jsonb' || t.name === 'interval' || t.name === 'unknown') return { name: 'text', length: null, scale: null };
  return t as SqlType;
}

export function fromSqlType(t: SqlType): QType {
  return t;
}

/**
 * The common type of several expressions (CASE, COALESCE, UNION, IN lists), PostgreSQL's rules:
 * unknowns take the others' type (text when all are unknown); one category, the highest promotion wins.
 */
export function commonType(types: readonly QType[], what: string): QType {
  let best: QType | null = null;
  for (const t of types) {
    if (t.name === 'unknown') continue;
    if (best === null) {
      best = t;
      continue;
    }
    if (category(t) !== category(best)) {
      throw new OrdoError(SqlState.datatypeMismatch, `${what} types ${typeName(best)} and ${typeName(t)} cannot be matched`);
    }
    if (t.name !== best.name) {
      const rt: number = RANK[t.name] ?? 0;
      const rb: number = RANK[best.name] ?? 0;
      best = rt > rb ? plain(t.name) : plain(best.name);
    }
  }
  return best ?? Q.text;
}

/** Can a value of `from` be used where `to` is expected without a cast? */
export function implicitlyCoercible(from: QType, to: QType): boolean {
  if (from.name === to.name || from.name === 'unknown') return true;
  const cf = category(from);
  if (cf !== category(to)) return false;
  if (cf === 'string') return true;
  return (RANK[from.name] ?? 0) <= (RANK[to.name] ?? 0);
}

// --- converting values ------------------------------------------------------------------------

/** An engine value of a column (or virtual relation, or catalog function) of type `t` as a query value. */
export function fromEngine(t: QType, v: Value): QValue {
  if (v === null) return null;
  if (t.name === 'numeric' && typeof v === 'bigint') return new Decimal(v, t.scale ?? 0);
  if (t.name === 'numeric' && typeof v === 'string') return parseDecimal(v);
  if ((t.name === 'jsonb') && typeof v === 'string') return parseJson(v);
  return v;
}

/** A query value as the wire layer's encodeCell takes it for toSqlType(t). */
export function toWire(v: QValue): Value {
  if (v instanceof Decimal) return v.toString();
  if (v instanceof Interval) return formatInterval(v);
  if (v instanceof Jsonb) return formatJson(v.value);
  return v;
}

/** A query value as an engine value (arguments of catalog functions). */
export function toEngine(v: QValue): Value {
  return toWire(v);
}

/** The text of a value of type `t`, as a cast to text gives it. */
export function textOf(t: QType, v: Exclude<QValue, null>): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Decimal) return v.toString();
  if (v instanceof Interval) return formatInterval(v);
  if (v instanceof Jsonb) return formatJson(v.value);
  switch (t.name) {
    case 'date':
      return encodeText(TypeOid.date, v);
    case 'timestamp':
      return encodeText(TypeOid.timestamp, v);
    case 'timestamptz':
      return encodeText(TypeOid.timestamptz, v);
    case 'float4':
      return encodeText(TypeOid.float4, v);
    case 'float8':
      return encodeText(TypeOid.float8, v);
    case 'bytea':
      return encodeText(TypeOid.bytea, v);
    default:
      return typeof v === 'number' ? encodeText(TypeOid.float8, v) : encodeText(TypeOid.text, v as Exclude<Value, null>);
  }
}

export function checkIntRange(t: QType, v: bigint): bigint {
  const range = IntRange[t.name as ColumnType];
  if (range !== undefined && (v < range[0] || v > range[1])) {
    throw outOfRange(t.name === 'int2' ? 'smallint' : t.name === 'int8' ? 'bigint' : 'integer');
  }
  return v;
}

/** Text → a value of `t` (casts from text and from untyped literals). */
export function parseText(t: QType, text: string): QValue {
  switch (t.name) {
    case 'int2':
    case 'int4':
    case 'int8': {
      const s = text.trim();
      if (!/^[+-]?\d+$/.test(s)) throw new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type ${typeName(t)}: "${text}"`);
      const v = BigInt(s);
      const range = IntRange[t.name] as readonly [bigint, bigint];
      if (v < range[0] || v > range[1]) throw new OrdoError(SqlState.numericValueOutOfRange, `value "${text}" is out of range for type ${typeName(t)}`);
      return v;
    }
    case 'numeric': {
      const d = parseDecimal(text);
      return t.scale === null ? d : castDecimal(d, t);
    }
    case 'text':
    case 'unknown':
      return text;
    case 'varchar':
    case 'bpchar':
      return t.length !== null && [...text].length > t.length ? [...text].slice(0, t.length).join('') : text;
    case 'interval':
      return parseInterval(text);
    case 'jsonb':
      return parseJson(text);
    case 'bool': {
      const s = text.trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(s)) return true;
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(s)) return false;
      throw new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type boolean: "${text}"`);
    }
    default:
      return decodeText(PgType[t.name].oid, text);
  }
}

/** numeric(p,s): rounds to the scale and checks the precision. */
export function castDecimal(d: Decimal, t: QType): Decimal {
  if (t.scale === null) return d;
  const r = roundDecimal(d, t.scale);
  if (t.length !== null) {
    const abs = r.v < 0n ? -r.v : r.v;
    if (abs >= pow10(t.length)) {
      throw new OrdoError(SqlState.numericValueOutOfRange, 'numeric field overflow');
    }
  }
  return r;
}

/** float → integer: rounds half to even, as PostgreSQL's rint(). */
function floatToInt(t: QType, x: number): bigint {
  if (!Number.isFinite(x)) throw outOfRange(typeName(t));
  const f = Math.floor(x);
  const diff = x - f;
  const r = diff > 0.5 || (diff === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return checkIntRange(t, BigInt(r));
}

/**
 * Converts a non-NULL value of type `from` to `to` (explicit CAST, and the implicit promotions).
 * Throws 42846 for a cast PostgreSQL does not have.
 */
export function castValue(from: QType, to: QType, v: Exclude<QValue, null>): QValue {
  const cf = category(from);
  const ct = category(to);
  if (to.name === 'text' || ((to.name === 'varchar' || to.name === 'bpchar') && cf !== 'string')) {
    return parseText(to, textOf(from, v));
  }
  if (cf === 'string' || cf === 'unknown') return parseText(to, typeof v === 'string' ? v : textOf(from, v));
  if (cf === 'numeric' && ct === 'numeric') {
    if (isInt(to)) {
      if (typeof v === 'bigint') return checkIntRange(to, v);
      if (typeof v === 'number') return floatToInt(to, v);
      return checkIntRange(to, rescale(decimalOf(v), 0));
    }
    if (to.name === 'numeric') return castDecimal(decimalOf(v), to);
    // float
    if (typeof v === 'bigint') return Number(v);
    if (v instanceof Decimal) return decimalToFloat(v);
    if (to.name === 'float4' && typeof v === 'number') return Math.fround(v);
    return v;
  }
  if (cf === 'datetime' && ct === 'datetime') {
    if (typeof v !== 'bigint') return v;
    if (from.name === 'date' && to.name !== 'date') return v * US_PER_DAY;
    if (from.name !== 'date' && to.name === 'date') {
      const d = v / US_PER_DAY;
      return v < 0n && v % US_PER_DAY !== 0n ? d - 1n : d;
    }
    return v;
  }
  if (from.name === 'int4' && to.name === 'bool' && typeof v === 'bigint') return v !== 0n;
  if (from.name === 'bool' && to.name === 'int4' && typeof v === 'boolean') return v ? 1n : 0n;
  if (from.name === to.name) return v;
  throw new OrdoError('42846', `cannot cast type ${typeName(from)} to ${typeName(to)}`);
}

/** The SQL type named in a CAST target as node-sql-parser gives it. */
export function castTarget(target: { readonly dataType?: unknown; readonly length?: unknown; readonly scale?: unknown }): QType {
  const dt = String(target.dataType ?? '').toUpperCase().replace(/\s+/g, ' ');
  const length = typeof target.length === 'number' ? target.length : null;
  const scale = typeof target.scale === 'number' ? target.scale : null;
  switch (dt) {
    case 'INT':
    case 'INTEGER':
    case 'INT4':
      return Q.int4;
    case 'SMALLINT':
    case 'INT2':
      return Q.int2;
    case 'BIGINT':
    case 'INT8':
      return Q.int8;
    case 'NUMERIC':
    case 'DECIMAL':
      return length === null ? Q.numeric : { name: 'numeric', length, scale: scale ?? 0 };
    case 'REAL':
    case 'FLOAT4':
      return Q.float4;
    case 'DOUBLE PRECISION':
    case 'DOUBLE':
    case 'FLOAT8':
    case 'FLOAT':
      return Q.float8;
    case 'TEXT':
      return Q.text;
    case 'VARCHAR':
    case 'CHARACTER VARYING':
      return { name: 'varchar', length, scale: null };
    case 'CHAR':
    case 'CHARACTER':
    case 'BPCHAR':
      return { name: 'bpchar', length: length ?? 1, scale: null };
    case 'BOOL':
    case 'BOOLEAN':
      return Q.bool;
    case 'DATE':
      return Q.date;
    case 'TIMESTAMP':
    case 'TIMESTAMP WITHOUT TIME ZONE':
      return Q.timestamp;
    case 'TIMESTAMPTZ':
    case 'TIMESTAMP WITH TIME ZONE':
      return Q.timestamptz;
    case 'BYTEA':
      return Q.bytea;
    case 'UUID':
      return Q.uuid;
    case 'JSONB':
      return Q.jsonb;
    case 'JSON':
      throw new OrdoError(SqlState.featureNotSupported, 'type json is not supported (use jsonb)');
    case 'INTERVAL':
      return Q.interval;
    default:
      throw new OrdoError(SqlStateX.undefinedObject, `type "${dt.toLowerCase()}" does not exist`);
  }
}
