// PostgreSQL type OIDs, and the text and binary wire formats of engine values for each type.
// Engine values (src/partitions/value.ts) are null | boolean | bigint | number | string | Uint8Array:
// integers are bigint, floats number. The wire layer fixes how the other SQL types map onto them:
//   numeric              → string holding the exact decimal text (or bigint/number on output)
//   uuid                 → string, canonical lowercase 8-4-4-4-12
//   date                 → bigint days since 1970-01-01
//   timestamp[tz]        → bigint microseconds since 1970-01-01 00:00 UTC (PostgreSQL's precision)
// timestamptz text is printed in UTC ('+00'), the session time zone this server reports.

import { isUtf8 } from 'node:buffer';
import { OrdoError, SqlState } from '../../util/index.js';
import type { Value } from '../../partitions/index.js';
import { WireSqlState } from './errors.js';

export interface PgTypeInfo {
  readonly oid: number;
  /** pg_type.typname. */
  readonly name: string;
  /** The name PostgreSQL uses in messages ("integer", "double precision"). */
  readonly sqlName: string;
  /** pg_type.typlen: bytes, -1 for varlena, -2 for a NUL-terminated C string. */
  readonly size: number;
}

export const PgType = {
  bool: { oid: 16, name: 'bool', sqlName: 'boolean', size: 1 },
  bytea: { oid: 17, name: 'bytea', sqlName: 'bytea', size: -1 },
  name: { oid: 19, name: 'name', sqlName: 'name', size: 64 },
  int8: { oid: 20, name: 'int8', sqlName: 'bigint', size: 8 },
  int2: { oid: 21, name: 'int2', sqlName: 'smallint', size: 2 },
  int4: { oid: 23, name: 'int4', sqlName: 'integer', size: 4 },
  text: { oid: 25, name: 'text', sqlName: 'text', size: -1 },
  oid: { oid: 26, name: 'oid', sqlName: 'oid', size: 4 },
  float4: { oid: 700, name: 'float4', sqlName: 'real', size: 4 },
  float8: { oid: 701, name: 'float8', sqlName: 'double precision', size: 8 },
  unknown: { oid: 705, name: 'unknown', sqlName: 'unknown', size: -2 },
  bpchar: { oid: 1042, name: 'bpchar', sqlName: 'character', size: -1 },
  varchar: { oid: 1043, name: 'varchar', sqlName: 'character varying', size: -1 },
  date: { oid: 1082, name: 'date', sqlName: 'date', size: 4 },
  timestamp: { oid: 1114, name: 'timestamp', sqlName: 'timestamp without time zone', size: 8 },
  timestamptz: { oid: 1184, name: 'timestamptz', sqlName: 'timestamp with time zone', size: 8 },
  numeric: { oid: 1700, name: 'numeric', sqlName: 'numeric', size: -1 },
  regclass: { oid: 2205, name: 'regclass', sqlName: 'regclass', size: 4 },
  void: { oid: 2278, name: 'void', sqlName: 'void', size: 4 },
  uuid: { oid: 2950, name: 'uuid', sqlName: 'uuid', size: 16 },
} as const satisfies Record<string, PgTypeInfo>;

export type PgTypeName = keyof typeof PgType;

/** OID by type name, for `case TypeOid.int4:` style dispatch. */
export const TypeOid = Object.freeze(
  Object.fromEntries(Object.entries(PgType).map(([k, v]) => [k, v.oid])) as { readonly [K in PgTypeName]: (typeof PgType)[K]['oid'] },
);

const BY_OID: ReadonlyMap<number, PgTypeInfo> = new Map(Object.values(PgType).map((t) => [t.oid, t]));

export function pgTypeByOid(oid: number): PgTypeInfo | undefined {
  return BY_OID.get(oid);
}

/** Binary format is implemented for these; text format for every type in PgType. */
const BINARY_OIDS: ReadonlySet<number> = new Set<number>([
  TypeOid.bool,
  TypeOid.bytea,
  TypeOid.name,
  TypeOid.int8,
  TypeOid.int2,
  TypeOid.int4,
  TypeOid.text,
  TypeOid.oid,
  TypeOid.float4,
  TypeOid.float8,
  TypeOid.numeric,
  TypeOid.unknown,
  TypeOid.bpchar,
  TypeOid.varchar,
  TypeOid.date,
  TypeOid.timestamp,
  TypeOid.timestamptz,
  TypeOid.uuid,
  TypeOid.regclass,
]);

export function hasBinaryFormat(oid: number): boolean {
  return BINARY_OIDS.has(oid);
}

function sqlName(oid: number): string {
  return BY_OID.get(oid)?.sqlName ?? `type ${oid}`;
}

function mismatch(oid: number, v: Value): OrdoError {
  const what = v instanceof Uint8Array ? 'bytes' : typeof v;
  return new OrdoError(SqlState.datatypeMismatch, `cannot send a ${what} value as ${sqlName(oid)}`);
}

function badText(oid: number, text: string): OrdoError {
  return new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type ${sqlName(oid)}: "${text}"`);
}

function outOfRange(oid: number): OrdoError {
  return new OrdoError(SqlState.numericValueOutOfRange, `${sqlName(oid)} out of range`);
}

function badBinary(oid: number, detail: string): OrdoError {
  return new OrdoError(WireSqlState.invalidBinaryRepresentation, `incorrect binary data format for type ${sqlName(oid)}: ${detail}`);
}

const INT_RANGE: ReadonlyMap<number, readonly [bigint, bigint]> = new Map([
  [TypeOid.int2, [-(2n ** 15n), 2n ** 15n - 1n]],
  [TypeOid.int4, [-(2n ** 31n), 2n ** 31n - 1n]],
  [TypeOid.int8, [-(2n ** 63n), 2n ** 63n - 1n]],
  [TypeOid.oid, [0n, 2n ** 32n - 1n]],
  [TypeOid.regclass, [0n, 2n ** 32n - 1n]],
]);

function toInteger(oid: number, v: Value): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else throw mismatch(oid, v);
  const range = INT_RANGE.get(oid);
  if (range !== undefined && (n < range[0] || n > range[1])) throw outOfRange(oid);
  return n;
}

function toFloat(oid: number, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw mismatch(oid, v);
}

// ---------------------------------------------------------------------------------------------
// Floats as PostgreSQL 12+ prints them (extra_float_digits = 1): the shortest digits that read back
// to the same value, fixed notation for decimal exponents in [-4, 15) for float8 and [-4, 6) for
// float4, otherwise d.ddde±XX.

function layoutFloat(negative: boolean, digits: string, exp: number, fixedBelowExp: number): string {
  const sign = negative ? '-' : '';
  if (exp >= -4 && exp < fixedBelowExp) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const absExp = Math.abs(exp);
  return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
}

function specialFloat(x: number): string | null {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  return null;
}

/** Splits toExponential() output into sign, significant digits (no trailing zeros) and exponent. */
function splitExponential(sci: string): { negative: boolean; digits: string; exp: number } {
  const negative = sci.charCodeAt(0) === 45;
  const ePos = sci.indexOf('e');
  const digits = sci.slice(negative ? 1 : 0, ePos).replace('.', '').replace(/0+$/, '') || '0';
  return { negative, digits, exp: Number(sci.slice(ePos + 1)) };
}

export function formatFloat8(x: number): string {
  const special = specialFloat(x);
  if (special !== null) return special;
  // ECMAScript's Number-to-string picks the shortest round-tripping digits, closest to the value.
  const { negative, digits, exp } = splitExponential(x.toExponential());
  return layoutFloat(negative, digits, exp, 15);
}

/** `x` must already be a float32 value (Math.fround). */
export function formatFloat4(x: number): string {
  const special = specialFloat(x);
  if (special !== null) return special;
  for (let precision = 1; precision <= 9; precision++) {
    const sci = x.toExponential(precision - 1);
    if (Math.fround(Number(sci)) === x) {
      const { negative, digits, exp } = splitExponential(sci);
      return layoutFloat(negative, digits, exp, 6);
    }
    // The nearest p-digit decimal can fall just outside x's rounding interval where the interval is
    // lopsided (at a power of two) while its neighbour on the wide side is inside: try the neighbours.
    const { negative, digits, exp } = splitExponential(sci);
    const padded = BigInt(digits.padEnd(precision, '0'));
    for (const candidate of [padded + 1n, padded - 1n]) {
      if (candidate <= 0n) continue;
      const text = candidate.toString();
      const e = exp + text.length - precision;
      const value = Number(`${negative ? '-' : ''}${text}e${e - text.length + 1}`);
      if (Math.fround(value) === x) return layoutFloat(negative, text.replace(/0+$/, '') || '0', e, 6);
    }
  }
  return formatFloat8(x);
}

/** A finite number as plain decimal digits (numeric output never uses an exponent). */
function plainDecimal(x: number): string {
  const special = specialFloat(x);
  if (special !== null) return special === '-0' ? '0' : special;
  const { negative, digits, exp } = splitExponential(x.toExponential());
  const sign = negative ? '-' : '';
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

// ---------------------------------------------------------------------------------------------
// numeric's binary format: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then ndigits
// base-10000 digits, most significant first; the value is Σ digit[i] × 10000^(weight − i), shown with
// dscale decimal places.

const NumericSign = { positive: 0x0000, negative: 0x4000, nan: 0xc000, infinity: 0xd000, minusInfinity: 0xf000 } as const;
/** PostgreSQL's NUMERIC_DSCALE_MAX. */
const NUMERIC_MAX_DSCALE = 0x3fff;
const NBASE = 10_000n;
const DECIMAL_PARTS = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/;

function numericHeader(ndigits: number, weight: number, sign: number, dscale: number): Buffer {
  const b = Buffer.alloc(8 + 2 * ndigits);
  b.writeInt16BE(ndigits, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  b.writeInt16BE(dscale, 6);
  return b;
}

function numericToBinary(text: string): Uint8Array {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return numericHeader(0, 0, NumericSign.nan, 0);
  if (t === 'infinity' || t === '+infinity' || t === 'inf' || t === '+inf') return numericHeader(0, 0, NumericSign.infinity, 0);
  if (t === '-infinity' || t === '-inf') return numericHeader(0, 0, NumericSign.minusInfinity, 0);
  const m = DECIMAL_PARTS.exec(t);
  if (m === null || `${m[2] ?? ''}${m[3] ?? ''}` === '') throw badText(TypeOid.numeric, text);
  const fraction = m[3] ?? '';
  let magnitude = BigInt(`${m[2] ?? ''}${fraction}`);
  let dscale = fraction.length - Number(m[4] ?? 0);
  if (dscale < 0) {
    magnitude *= 10n ** BigInt(-dscale);
    dscale = 0;
  }
  if (dscale > NUMERIC_MAX_DSCALE) throw outOfRange(TypeOid.numeric);
  // Align the fraction to whole base-10000 digits, then split the magnitude into them.
  const alignedScale = Math.ceil(dscale / 4) * 4;
  magnitude *= 10n ** BigInt(alignedScale - dscale);
  const digits: number[] = [];
  for (let v = magnitude; v > 0n; v /= NBASE) digits.unshift(Number(v % NBASE));
  const weight = digits.length - 1 - alignedScale / 4;
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  if (digits.length === 0) return numericHeader(0, 0, NumericSign.positive, dscale);
  if (weight > 0x7fff || weight < -0x8000) throw outOfRange(TypeOid.numeric);
  const b = numericHeader(digits.length, weight, m[1] === '-' ? NumericSign.negative : NumericSign.positive, dscale);
  digits.forEach((d, i) => b.writeInt16BE(d, 8 + 2 * i));
  return b;
}

/** The exact decimal text of a binary numeric, rounded to its dscale as numeric_recv does. */
function numericFromBinary(bytes: Uint8Array): string {
  const oid = TypeOid.numeric;
  const b = asBuffer(bytes);
  if (b.length < 8) throw badBinary(oid, `expected at least 8 bytes, got ${b.length}`);
  const ndigits = b.readInt16BE(0);
  const weight = b.readInt16BE(2);
  const sign = b.readUInt16BE(4);
  const dscale = b.readInt16BE(6);
  if (ndigits < 0 || b.length !== 8 + 2 * ndigits) throw badBinary(oid, `${b.length} bytes for ${ndigits} digits`);
  if (sign === NumericSign.nan) return 'NaN';
  if (sign === NumericSign.infinity) return 'Infinity';
  if (sign === NumericSign.minusInfinity) return '-Infinity';
  if (sign !== NumericSign.positive && sign !== NumericSign.negative) throw badBinary(oid, 'invalid sign');
  if (dscale < 0 || dscale > NUMERIC_MAX_DSCALE) throw badBinary(oid, 'invalid scale');
  let magnitude = 0n;
  for (let i = 0; i < ndigits; i++) {
    const d = b.readInt16BE(8 + 2 * i);
    if (d < 0 || d >= 10_000) throw badBinary(oid, 'invalid digit');
    magnitude = magnitude * NBASE + BigInt(d);
  }
  // magnitude × 10^-scale is the value; bring it to exactly dscale decimal places.
  const scale = 4 * (ndigits - 1 - weight);
  if (scale > dscale) {
    const divisor = 10n ** BigInt(scale - dscale);
    const rounded = magnitude / divisor;
    magnitude = 2n * (magnitude % divisor) >= divisor ? rounded + 1n : rounded;
  } else magnitude *= 10n ** BigInt(dscale - scale);
  const digits = magnitude.toString().padStart(dscale + 1, '0');
  const text = dscale === 0 ? digits : `${digits.slice(0, -dscale)}.${digits.slice(-dscale)}`;
  return sign === NumericSign.negative && magnitude !== 0n ? `-${text}` : text;
}

// ---------------------------------------------------------------------------------------------
// bytea, uuid, date and timestamp helpers

const HEX = '0123456789abcdef';

function byteaHex(bytes: Uint8Array): string {
  return `\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

function parseBytea(text: string): Uint8Array {
  if (text.startsWith('\\x')) {
    // PostgreSQL allows whitespace between (not inside) hex digit pairs.
    const hex = text.slice(2).replace(/[ \t\n\r]+/g, '');
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw badText(TypeOid.bytea, text);
    return Uint8Array.from(Buffer.from(hex, 'hex'));
  }
  // Escape format: backslash-backslash or backslash and three octal digits; other bytes as they are.
  const utf8 = Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < utf8.length; i++) {
    const b = utf8[i] as number;
    if (b !== 0x5c) {
      out.push(b);
      continue;
    }
    if (utf8[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
      continue;
    }
    const oct = utf8.subarray(i + 1, i + 4).toString('latin1');
    if (!/^[0-3][0-7]{2}$/.test(oct)) throw badText(TypeOid.bytea, text);
    out.push(parseInt(oct, 8));
    i += 3;
  }
  return Uint8Array.from(out);
}

function uuidFromBytes(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    const v = b[i] as number;
    s += (HEX[v >> 4] as string) + (HEX[v & 15] as string);
  }
  return s;
}

const UUID_TEXT = /^\{?[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}\}?$/;

function parseUuid(text: string): string {
  const t = text.trim();
  if (!UUID_TEXT.test(t) || t.startsWith('{') !== t.endsWith('}')) throw badText(TypeOid.uuid, text);
  const hex = t.replace(/[{}-]/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function uuidToBytes(oid: number, v: Value): Uint8Array {
  if (typeof v !== 'string') throw mismatch(oid, v);
  return Uint8Array.from(Buffer.from(parseUuid(v).replace(/-/g, ''), 'hex'));
}

const MS_PER_DAY = 86_400_000;
const US_PER_DAY = 86_400_000_000n;
/** PostgreSQL's binary dates and timestamps count from 2000-01-01. */
const PG_EPOCH_DAYS = 10_957n;
const PG_EPOCH_US = PG_EPOCH_DAYS * US_PER_DAY;
/** PostgreSQL's +-infinity timestamps (and dates, as int32). */
const TIMESTAMP_INFINITY_US = 2n ** 63n - 1n;
const TIMESTAMP_MINUS_INFINITY_US = -(2n ** 63n);
const DATE_INFINITY_DAYS = 2n ** 31n - 1n;
const DATE_MINUS_INFINITY_DAYS = -(2n ** 31n);

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** ISO year → PostgreSQL's "YYYY" plus " BC" for years before 1 (year 0 is 1 BC). */
function ymd(d: Date): { date: string; bc: boolean } {
  const y = d.getUTCFullYear();
  const bc = y <= 0;
  return { date: `${pad(bc ? 1 - y : y, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`, bc };
}

function formatDateDays(days: bigint): string {
  if (days === DATE_INFINITY_DAYS) return 'infinity';
  if (days === DATE_MINUS_INFINITY_DAYS) return '-infinity';
  const { date, bc } = ymd(new Date(Number(days) * MS_PER_DAY));
  return bc ? `${date} BC` : date;
}

function formatTimestampMicros(us: bigint, withZone: boolean): string {
  if (us === TIMESTAMP_INFINITY_US) return 'infinity';
  if (us === TIMESTAMP_MINUS_INFINITY_US) return '-infinity';
  const floorMs = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
  const d = new Date(Number(floorMs));
  const micros = Number(us - floorMs * 1000n) + d.getUTCMilliseconds() * 1000;
  const { date, bc } = ymd(d);
  let s = `${date} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  if (micros !== 0) s += `.${pad(micros, 6).replace(/0+$/, '')}`;
  if (withZone) s += '+00';
  return bc ? `${s} BC` : s;
}

const DATE_TIME_TEXT =
  /^\s*(\d{4,})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(?:(Z|z|UTC|[+-]\d{1,2}(?::?\d{2}(?::?\d{2})?)?))?\s*( BC)?\s*$/;

/** ISO 8601 forms ("2024-05-01", "2024-05-01 12:34:56.789+02", "…T…Z"): what clients send as parameters. */
function parseDateTime(oid: number, text: string): { days: bigint; us: bigint } {
  const m = DATE_TIME_TEXT.exec(text);
  if (m === null) throw new OrdoError('22007', `invalid input syntax for type ${sqlName(oid)}: "${text}"`);
  let year = Number(m[1]);
  if (m[9] !== undefined) year = 1 - year;
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  const fraction = BigInt((m[7] ?? '').padEnd(6, '0'));
  const probe = new Date(0);
  probe.setUTCFullYear(year, month - 1, day);
  if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day || hour > 24 || minute > 59 || second > 60) {
    throw new OrdoError('22008', `date/time field value out of range: "${text}"`);
  }
  const days = BigInt(Math.round(probe.getTime() / MS_PER_DAY));
  let us = days * US_PER_DAY + BigInt(((hour * 60 + minute) * 60 + second) * 1_000_000) + fraction;
  // timestamp without time zone ignores a zone in its input, as PostgreSQL does.
  const zone = m[8];
  if (oid === TypeOid.timestamptz && zone !== undefined && !/^(?:Z|z|UTC)$/.test(zone)) {
    const zm = /^([+-])(\d{1,2}):?(\d{2})?:?(\d{2})?$/.exec(zone);
    if (zm === null) throw new OrdoError('22007', `invalid input syntax for type ${sqlName(oid)}: "${text}"`);
    const offsetSeconds = (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60 + Number(zm[4] ?? 0);
    us -= BigInt((zm[1] === '-' ? -offsetSeconds : offsetSeconds) * 1_000_000);
  }
  return { days, us };
}

function parseTimestampText(oid: number, text: string): bigint {
  const t = text.trim().toLowerCase();
  if (t === 'infinity' || t === '+infinity') return TIMESTAMP_INFINITY_US;
  if (t === '-infinity') return TIMESTAMP_MINUS_INFINITY_US;
  return parseDateTime(oid, text).us;
}

function parseDateText(text: string): bigint {
  const t = text.trim().toLowerCase();
  if (t === 'infinity' || t === '+infinity') return DATE_INFINITY_DAYS;
  if (t === '-infinity') return DATE_MINUS_INFINITY_DAYS;
  return parseDateTime(TypeOid.date, text).days;
}

// ---------------------------------------------------------------------------------------------
// Text input of numbers and booleans, as PostgreSQL 15's input functions accept it

// ASCII whitespace around a number (isspace in the C locale), nothing else.
const INT_TEXT = /^[ \t\n\r\f\v]*([+-]?[0-9]+)[ \t\n\r\f\v]*$/;
const FLOAT_TEXT = /^[ \t\n\r\f\v]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\f\v]*$/;
const FLOAT_SPECIAL = /^[ \t\n\r\f\v]*([+-]?)(?:(inf|infinity)|(nan))[ \t\n\r\f\v]*$/i;
const NUMERIC_TEXT = /^[ \t\n\r\f\v]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:infinity|inf)|nan)[ \t\n\r\f\v]*$/i;

function parseIntText(oid: number, text: string): bigint {
  const m = INT_TEXT.exec(text);
  if (m === null) throw badText(oid, text);
  const n = BigInt(m[1] as string);
  const range = INT_RANGE.get(oid);
  if (range !== undefined && (n < range[0] || n > range[1])) {
    throw new OrdoError(SqlState.numericValueOutOfRange, `value "${text}" is out of range for type ${sqlName(oid)}`);
  }
  return n;
}

function parseFloatText(oid: number, text: string): number {
  const m = FLOAT_TEXT.exec(text);
  if (m === null) {
    const sp = FLOAT_SPECIAL.exec(text);
    if (sp === null || (sp[3] !== undefined && sp[1] !== '')) throw badText(oid, text);
    if (sp[3] !== undefined) return Number.NaN;
    return sp[1] === '-' ? -Infinity : Infinity;
  }
  const literal = m[1] as string;
  const r = oid === TypeOid.float4 ? Math.fround(Number(literal)) : Number(literal);
  // Like strtod's ERANGE: a finite input that rounds to infinity, or a nonzero one that rounds to 0.
  if (!Number.isFinite(r) || (r === 0 && /[1-9]/.test(literal.replace(/[eE].*$/, '')))) {
    throw new OrdoError(SqlState.numericValueOutOfRange, `"${text}" is out of range for type ${sqlName(oid)}`);
  }
  return r;
}

const BOOL_WORDS: readonly (readonly [string, boolean])[] = [
  ['true', true],
  ['false', false],
  ['yes', true],
  ['no', false],
  ['on', true],
  ['off', false],
];

/** boolin: t/f/1/0 and any unique prefix of true/false/yes/no/on/off (on/off need two letters). */
function parseBoolText(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === '1') return true;
  if (t === '0') return false;
  if (t.length > 0 && !(t.length < 2 && t.charAt(0) === 'o')) {
    for (const [word, value] of BOOL_WORDS) if (word.startsWith(t)) return value;
  }
  throw badText(TypeOid.bool, text);
}

// ---------------------------------------------------------------------------------------------
// The codecs

/** The text format of a non-NULL engine value as a column of type `oid`. */
export function encodeText(oid: number, v: Exclude<Value, null>): string {
  switch (oid) {
    case TypeOid.bool:
      if (typeof v !== 'boolean') throw mismatch(oid, v);
      return v ? 't' : 'f';
    case TypeOid.int2:
    case TypeOid.int4:
    case TypeOid.int8:
    case TypeOid.oid:
    case TypeOid.regclass:
      return toInteger(oid, v).toString();
    case TypeOid.float4:
      return formatFloat4(Math.fround(toFloat(oid, v)));
    case TypeOid.float8:
      return formatFloat8(toFloat(oid, v));
    case TypeOid.numeric:
      if (typeof v === 'string') return v;
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number') return plainDecimal(v);
      throw mismatch(oid, v);
    case TypeOid.bytea:
      if (!(v instanceof Uint8Array)) throw mismatch(oid, v);
      return byteaHex(v);
    case TypeOid.uuid:
      if (typeof v !== 'string') throw mismatch(oid, v);
      return v;
    case TypeOid.date:
      if (typeof v === 'string') return v;
      if (typeof v !== 'bigint') throw mismatch(oid, v);
      return formatDateDays(v);
    case TypeOid.timestamp:
    case TypeOid.timestamptz:
      if (typeof v === 'string') return v;
      if (typeof v !== 'bigint') throw mismatch(oid, v);
      return formatTimestampMicros(v, oid === TypeOid.timestamptz);
    default:
      // text, varchar, bpchar, name, unknown and anything this module does not know: canonical text.
      return anyToText(v);
  }
}

function anyToText(v: Exclude<Value, null>): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return formatFloat8(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return byteaHex(v);
}

/** Reads a text-format value (a parameter, or COPY input) as type `oid`. */
export function decodeText(oid: number, text: string): Exclude<Value, null> {
  switch (oid) {
    case TypeOid.bool:
      return parseBoolText(text);
    case TypeOid.int2:
    case TypeOid.int4:
    case TypeOid.int8:
    case TypeOid.oid:
    case TypeOid.regclass:
      return parseIntText(oid, text);
    case TypeOid.float4:
    case TypeOid.float8:
      return parseFloatText(oid, text);
    case TypeOid.numeric: {
      const m = NUMERIC_TEXT.exec(text);
      if (m === null) throw badText(oid, text);
      return m[1] as string;
    }
    case TypeOid.bytea:
      return parseBytea(text);
    case TypeOid.uuid:
      return parseUuid(text);
    case TypeOid.date:
      return parseDateText(text);
    case TypeOid.timestamp:
    case TypeOid.timestamptz:
      return parseTimestampText(oid, text);
    default:
      return text;
  }
}

/** The binary format of a non-NULL engine value as type `oid`; 0A000 for types without one here. */
export function encodeBinary(oid: number, v: Exclude<Value, null>): Uint8Array {
  switch (oid) {
    case TypeOid.bool: {
      if (typeof v !== 'boolean') throw mismatch(oid, v);
      return Uint8Array.of(v ? 1 : 0);
    }
    case TypeOid.int2: {
      const b = Buffer.allocUnsafe(2);
      b.writeInt16BE(Number(toInteger(oid, v)));
      return b;
    }
    case TypeOid.int4: {
      const b = Buffer.allocUnsafe(4);
      b.writeInt32BE(Number(toInteger(oid, v)));
      return b;
    }
    case TypeOid.oid:
    case TypeOid.regclass: {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(Number(toInteger(oid, v)));
      return b;
    }
    case TypeOid.int8: {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(toInteger(oid, v));
      return b;
    }
    case TypeOid.float4: {
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(toFloat(oid, v));
      return b;
    }
    case TypeOid.float8: {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(toFloat(oid, v));
      return b;
    }
    case TypeOid.numeric:
      return numericToBinary(encodeText(oid, v));
    case TypeOid.bytea:
      if (!(v instanceof Uint8Array)) throw mismatch(oid, v);
      return v;
    case TypeOid.uuid:
      return uuidToBytes(oid, v);
    case TypeOid.date: {
      const days = typeof v === 'string' ? parseDateText(v) : typeof v === 'bigint' ? v : null;
      if (days === null) throw mismatch(oid, v);
      const b = Buffer.allocUnsafe(4);
      const pgDays = days === DATE_INFINITY_DAYS || days === DATE_MINUS_INFINITY_DAYS ? days : days - PG_EPOCH_DAYS;
      if (pgDays < DATE_MINUS_INFINITY_DAYS || pgDays > DATE_INFINITY_DAYS) throw outOfRange(oid);
      b.writeInt32BE(Number(pgDays));
      return b;
    }
    case TypeOid.timestamp:
    case TypeOid.timestamptz: {
      const us = typeof v === 'string' ? parseTimestampText(oid, v) : typeof v === 'bigint' ? v : null;
      if (us === null) throw mismatch(oid, v);
      const pgUs = us === TIMESTAMP_INFINITY_US || us === TIMESTAMP_MINUS_INFINITY_US ? us : us - PG_EPOCH_US;
      if (pgUs < TIMESTAMP_MINUS_INFINITY_US || pgUs > TIMESTAMP_INFINITY_US) throw outOfRange(oid);
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(pgUs);
      return b;
    }
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.unknown:
      return Buffer.from(anyToText(v), 'utf8');
    default:
      throw new OrdoError(SqlState.featureNotSupported, `binary output of type ${sqlName(oid)} is not supported`);
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function expectLength(oid: number, bytes: Uint8Array, n: number): Buffer {
  if (bytes.length !== n) throw badBinary(oid, `expected ${n} bytes, got ${bytes.length}`);
  return asBuffer(bytes);
}

/**
 * UTF-8 bytes as a string; invalid UTF-8 is 22021, as for any client text in a UTF8 database, and so
 * is a NUL byte: PostgreSQL text cannot hold one, and what it refuses must not be stored here either.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const b = asBuffer(bytes);
  if (b.includes(0)) throw new OrdoError(WireSqlState.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00');
  if (!isUtf8(b)) throw new OrdoError(WireSqlState.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8"');
  return b.toString('utf8');
}

/** Reads a binary-format value (a parameter) as type `oid`; copies bytes so no chunk stays pinned. */
export function decodeBinary(oid: number, bytes: Uint8Array): Exclude<Value, null> {
  switch (oid) {
    case TypeOid.bool:
      return expectLength(oid, bytes, 1)[0] !== 0;
    case TypeOid.int2:
      return BigInt(expectLength(oid, bytes, 2).readInt16BE(0));
    case TypeOid.int4:
      return BigInt(expectLength(oid, bytes, 4).readInt32BE(0));
    case TypeOid.oid:
    case TypeOid.regclass:
      return BigInt(expectLength(oid, bytes, 4).readUInt32BE(0));
    case TypeOid.int8:
      return expectLength(oid, bytes, 8).readBigInt64BE(0);
    case TypeOid.float4:
      return expectLength(oid, bytes, 4).readFloatBE(0);
    case TypeOid.float8:
      return expectLength(oid, bytes, 8).readDoubleBE(0);
    case TypeOid.numeric:
      return numericFromBinary(bytes);
    case TypeOid.bytea:
      return Uint8Array.prototype.slice.call(bytes);
    case TypeOid.uuid:
      return uuidFromBytes(expectLength(oid, bytes, 16));
    case TypeOid.date: {
      const d = BigInt(expectLength(oid, bytes, 4).readInt32BE(0));
      return d === DATE_INFINITY_DAYS || d === DATE_MINUS_INFINITY_DAYS ? d : d + PG_EPOCH_DAYS;
    }
    case TypeOid.timestamp:
    case TypeOid.timestamptz: {
      const us = expectLength(oid, bytes, 8).readBigInt64BE(0);
      return us === TIMESTAMP_INFINITY_US || us === TIMESTAMP_MINUS_INFINITY_US ? us : us + PG_EPOCH_US;
    }
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.unknown:
      return decodeUtf8(bytes);
    default:
      throw new OrdoError(SqlState.featureNotSupported, `binary input of type ${sqlName(oid)} is not supported`);
  }
}

/** One DataRow cell: NULL stays NULL, text format as a string, binary as bytes. */
export function encodeCell(oid: number, format: 0 | 1, v: Value): string | Uint8Array | null {
  if (v === null) return null;
  return format === 1 ? encodeBinary(oid, v) : encodeText(oid, v);
}

/** One Bind parameter. An unspecified type (OID 0) in text format is left as a string for the binder. */
export function decodeParam(oid: number, format: 0 | 1, bytes: Uint8Array | null): Value {
  if (bytes === null) return null;
  if (format === 1) return decodeBinary(oid, bytes);
  const text = decodeUtf8(bytes);
  return oid === 0 ? text : decodeText(oid, text);
}
