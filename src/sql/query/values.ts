// The query engine's value domain: the engine's Values plus the values only queries have. numeric
// carries its own scale here (PostgreSQL's numeric results have data-dependent scales: 1.5 * 2.25 is
// 3.375, avg(int) has 16 significant digits), intervals and jsonb exist only inside queries.

import { compareValues } from '../../executor/index.js';
import type { Value } from '../../partitions/index.js';
import { OrdoError, SqlState } from '../../util/index.js';
import { pow10, scaledToDecimal } from '../types.js';

/** An exact decimal: v / 10^s. */
export class Decimal {
  constructor(
    readonly v: bigint,
    readonly s: number,
  ) {}
  toString(): string {
    return scaledToDecimal(this.v, this.s);
  }
}

/** PostgreSQL's interval: months, days and microseconds are kept apart (a month is not 30 days). */
export class Interval {
  constructor(
    readonly months: number,
    readonly days: number,
    readonly micros: bigint,
  ) {}
}

/** A JSON value as jsonb holds it; numbers are exact decimals. */
export type JsonValue = null | boolean | Decimal | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export class Jsonb {
  constructor(readonly value: JsonValue) {}
}

export type QValue = Value | Decimal | Interval | Jsonb;

export function isDecimal(v: QValue): v is Decimal {
  return v instanceof Decimal;
}

// --- errors ------------------------------------------------------------------------------------

export function divisionByZero(): OrdoError {
  return new OrdoError(SqlState.divisionByZero, 'division by zero');
}

export function outOfRange(what: string): OrdoError {
  return new OrdoError(SqlState.numericValueOutOfRange, `${what} out of range`);
}

// --- numeric -----------------------------------------------------------------------------------

export function decimalOf(v: QValue): Decimal {
  if (v instanceof Decimal) return v;
  if (typeof v === 'bigint') return new Decimal(v, 0);
  if (typeof v === 'number') return decimalFromFloat(v);
  throw new OrdoError(SqlState.datatypeMismatch, `cannot use ${typeof v} as numeric`);
}

export function decimalFromFloat(x: number): Decimal {
  if (!Number.isFinite(x)) throw new OrdoError(SqlState.featureNotSupported, 'NaN and infinity in numeric are not supported');
  // PostgreSQL converts float8 to numeric through its shortest (15 significant digit) text form.
  return parseDecimal(Number(x.toPrecision(15)).toString());
}

export function parseDecimal(text: string): Decimal {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (m === null || ((m[2] ?? '') === '' && (m[3] ?? '') === '')) {
    throw new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${text}"`);
  }
  let digits = (m[2] ?? '') + (m[3] ?? '');
  let scale = (m[3] ?? '').length - Number(m[4] ?? '0');
  if (scale < 0) {
    digits += '0'.repeat(-scale);
    scale = 0;
  }
  const v = BigInt(digits === '' ? '0' : digits);
  return new Decimal(m[1] === '-' ? -v : v, scale);
}

export function rescale(d: Decimal, s: number): bigint {
  if (s >= d.s) return d.v * pow10(s - d.s);
  return roundDiv(d.v, pow10(d.s - s));
}

/** n / d rounded half away from zero (d > 0). */
export function roundDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice >= d) return n < 0n ? q - 1n : q + 1n;
  return q;
}

export function compareDecimal(a: Decimal, b: Decimal): number {
  const s = Math.max(a.s, b.s);
  const x = a.v * pow10(s - a.s);
  const y = b.v * pow10(s - b.s);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function addDecimal(a: Decimal, b: Decimal, sign: 1n | -1n): Decimal {
  const s = Math.max(a.s, b.s);
  return new Decimal(a.v * pow10(s - a.s) + sign * b.v * pow10(s - b.s), s);
}

export function mulDecimal(a: Decimal, b: Decimal): Decimal {
  return new Decimal(a.v * b.v, a.s + b.s);
}

/** Base-10000 weight and leading digit of |v|, as PostgreSQL's numeric stores it (for select_div_scale). */
function weightOf(d: Decimal): { weight: number; first: number } {
  const abs = d.v < 0n ? -d.v : d.v;
  if (abs === 0n) return { weight: 0, first: 0 };
  const [int = '0', frac = ''] = scaledToDecimal(abs, d.s).split('.');
  if (int !== '0') {
    const weight = Math.floor((int.length - 1) / 4);
    return { weight, first: Number(int.slice(0, int.length - 4 * weight)) };
  }
  const padded = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  for (let g = 0; g * 4 < padded.length; g++) {
    const group = Number(padded.slice(g * 4, g * 4 + 4));
    if (group !== 0) return { weight: -(g + 1), first: group };
  }
  return { weight: 0, first: 0 };
}

/** a / b with PostgreSQL's result scale (select_div_scale: at least 16 significant digits). */
export function divDecimal(a: Decimal, b: Decimal): Decimal {
  if (b.v === 0n) throw divisionByZero();
  const wa = weightOf(a);
  const wb = weightOf(b);
  let qweight = wa.weight - wb.weight;
  if (wa.first <= wb.first) qweight--;
  const rscale = Math.min(Math.max(16 - qweight * 4, a.s, b.s, 0), 1000);
  return new Decimal(divToScale(a, b, rscale), rscale);
}

/** a / b rounded to `scale` fractional digits. */
export function divToScale(a: Decimal, b: Decimal, scale: number): bigint {
  // a.v/10^a.s / (b.v/10^b.s) * 10^scale = a.v * 10^(b.s + scale) / (b.v * 10^a.s)
  let n = a.v * pow10(b.s + scale);
  let d = b.v * pow10(a.s);
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  return roundDiv(n, d);
}

/** Truncating division and remainder, as numeric's div() and mod(). */
export function truncDivDecimal(a: Decimal, b: Decimal): bigint {
  if (b.v === 0n) throw divisionByZero();
  const s = Math.max(a.s, b.s);
  return (a.v * pow10(s - a.s)) / (b.v * pow10(s - b.s));
}

export function modDecimal(a: Decimal, b: Decimal): Decimal {
  if (b.v === 0n) throw divisionByZero();
  const s = Math.max(a.s, b.s);
  return new Decimal((a.v * pow10(s - a.s)) % (b.v * pow10(s - b.s)), s);
}

export function roundDecimal(a: Decimal, scale: number): Decimal {
  if (scale >= a.s) return new Decimal(a.v * pow10(scale - a.s), scale);
  if (scale >= 0) return new Decimal(roundDiv(a.v, pow10(a.s - scale)), scale);
  const unit = pow10(a.s - scale);
  return new Decimal(roundDiv(a.v, unit) * pow10(-scale), 0);
}

export function truncDecimal(a: Decimal, scale: number): Decimal {
  if (scale >= a.s) return new Decimal(a.v * pow10(scale - a.s), scale);
  return new Decimal(a.v / pow10(a.s - scale), scale);
}

export function floorDecimal(a: Decimal, up: boolean): Decimal {
  const unit = pow10(a.s);
  let q = a.v / unit;
  const r = a.v % unit;
  if (r !== 0n && (up ? a.v > 0n : a.v < 0n)) q += up ? 1n : -1n;
  return new Decimal(q, 0);
}

/** Drops trailing fractional zeros (values from parameters bound at a generous scale). */
export function trimDecimal(a: Decimal): Decimal {
  let { v, s } = a;
  while (s > 0 && v % 10n === 0n) {
    v /= 10n;
    s--;
  }
  return new Decimal(v, s);
}

export function decimalToFloat(a: Decimal): number {
  return Number(a.toString());
}

// --- intervals ---------------------------------------------------------------------------------

export const US_PER_DAY = 86_400_000_000n;
const US_PER_HOUR = 3_600_000_000n;
const US_PER_MINUTE = 60_000_000n;

const INTERVAL_UNITS: Readonly<Record<string, { months?: number; days?: number; micros?: bigint }>> = {
  microsecond: { micros: 1n }, microseconds: { micros: 1n }, us: { micros: 1n },
  millisecond: { micros: 1000n }, milliseconds: { micros: 1000n }, ms: { micros: 1000n },
  second: { micros: 1_000_000n }, seconds: { micros: 1_000_000n }, sec: { micros: 1_000_000n }, secs: { micros: 1_000_000n }, s: { micros: 1_000_000n },
  minute: { micros: US_PER_MINUTE }, minutes: { micros: US_PER_MINUTE }, min: { micros: US_PER_MINUTE }, mins: { micros: US_PER_MINUTE }, m: { micros: US_PER_MINUTE },
  hour: { micros: US_PER_HOUR }, hours: { micros: US_PER_HOUR }, hr: { micros: US_PER_HOUR }, hrs: { micros: US_PER_HOUR }, h: { micros: US_PER_HOUR },
  day: { days: 1 }, days: { days: 1 }, d: { days: 1 },
  week: { days: 7 }, weeks: { days: 7 }, w: { days: 7 },
  month: { months: 1 }, months: { months: 1 }, mon: { months: 1 }, mons: { months: 1 },
  year: { months: 12 }, years: { months: 12 }, y: { months: 12 }, yr: { months: 12 }, yrs: { months: 12 },
  decade: { months: 120 }, decades: { months: 120 },
  century: { months: 1200 }, centuries: { months: 1200 },
};

/** Parses interval input in PostgreSQL's own style: `1 year 2 mons 3 days 04:05:06`, `2 hours`, `-1 day`, `@ 1 hour ago`. */
export function parseInterval(text: string): Interval {
  const bad = (): OrdoError => new OrdoError('22007', `invalid input syntax for type interval: "${text}"`);
  let months = 0;
  let days = 0;
  let micros = 0n;
  const tokens = text.trim().replace(/^@\s*/, '').toLowerCase().split(/\s+/).filter((x) => x !== '');
  if (tokens.length === 0) throw bad();
  let ago = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    if (tok === 'ago' && i === tokens.length - 1) {
      ago = true;
      continue;
    }
    const time = /^([+-]?)(\d+):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?$/.exec(tok);
    if (time !== null) {
      const us = ((BigInt(time[2] ?? '0') * 60n + BigInt(time[3] ?? '0')) * 60n + BigInt(time[4] ?? '0')) * 1_000_000n + BigInt((time[5] ?? '').padEnd(6, '0'));
      micros += time[1] === '-' ? -us : us;
      continue;
    }
    const num = /^([+-]?\d+(?:\.\d+)?)([a-z]*)$/.exec(tok);
    if (num === null) throw bad();
    let unitName = num[2] ?? '';
    if (unitName === '') {
      unitName = tokens[i + 1] ?? '';
      i++;
    }
    const unit = INTERVAL_UNITS[unitName];
    if (unit === undefined) throw bad();
    const n = parseDecimal(num[1] as string);
    if (unit.months !== undefined) {
      const total = rescale(mulDecimal(n, new Decimal(BigInt(unit.months), 0)), 6);
      const whole = total / 1_000_000n;
      months += Number(whole);
      // Fractions of a month become days of 30, as PostgreSQL does.
      const fracDays = rescale(mulDecimal(new Decimal(total - whole * 1_000_000n, 6), new Decimal(30n, 0)), 6);
      days += Number(fracDays / 1_000_000n);
      micros += rescale(mulDecimal(new Decimal(fracDays % 1_000_000n, 6), new Decimal(US_PER_DAY, 0)), 0);
    } else if (unit.days !== undefined) {
      const total = rescale(mulDecimal(n, new Decimal(BigInt(unit.days), 0)), 6);
      days += Number(total / 1_000_000n);
      micros += rescale(mulDecimal(new Decimal(total % 1_000_000n, 6), new Decimal(US_PER_DAY, 0)), 0);
    } else micros += rescale(mulDecimal(n, new Decimal(unit.micros ?? 0n, 0)), 0);
  }
  return ago ? new Interval(-months, -days, -micros) : new Interval(months, days, micros);
}

/** PostgreSQL's default interval output (IntervalStyle postgres). */
export function formatInterval(iv: Interval): string {
  const parts: string[] = [];
  const years = Math.trunc(iv.months / 12);
  const mons = iv.months % 12;
  const plural = (n: number, unit: string, many: string): string => `${n} ${n === 1 ? unit : many}`;
  if (years !== 0) parts.push(plural(years, 'year', 'years'));
  if (mons !== 0) parts.push(plural(mons, 'mon', 'mons'));
  if (iv.days !== 0) parts.push(plural(iv.days, 'day', 'days'));
  if (iv.micros !== 0n || parts.length === 0) {
    const neg = iv.micros < 0n;
    const abs = neg ? -iv.micros : iv.micros;
    const h = abs / US_PER_HOUR;
    const m = (abs % US_PER_HOUR) / US_PER_MINUTE;
    const us = abs % US_PER_MINUTE;
    const sec = us / 1_000_000n;
    const frac = us % 1_000_000n;
    const two = (x: bigint): string => x.toString().padStart(2, '0');
    let t = `${two(h)}:${two(m)}:${two(sec)}`;
    if (frac !== 0n) t += `.${frac.toString().padStart(6, '0').replace(/0+$/, '')}`;
    // A negative time follows a positive part with its own sign, as PostgreSQL prints it.
    parts.push(neg ? `-${t}` : parts.length > 0 && (iv.days < 0 || iv.months < 0) ? `+${t}` : t);
  }
  return parts.join(' ');
}

/** A total order on intervals, as PostgreSQL compares them (a month counts as 30 days). */
export function intervalSpan(iv: Interval): bigint {
  return (BigInt(iv.months) * 30n + BigInt(iv.days)) * US_PER_DAY + iv.micros;
}

/** timestamp (microseconds) + interval: months move the calendar date, clamped to the month's end. */
export function addInterval(us: bigint, iv: Interval, sign: 1 | -1): bigint {
  let t = us;
  if (iv.months !== 0) {
    const dayUs = ((t % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
    const day = (t - dayUs) / US_PER_DAY;
    const d = new Date(Number(day) * 86_400_000);
    const y = d.getUTCFullYear();
    const mo = d.getUTCMonth() + sign * iv.months;
    const last = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
    const target = Date.UTC(y, mo, Math.min(d.getUTCDate(), last));
    t = BigInt(Math.round(target / 86_400_000)) * US_PER_DAY + dayUs;
  }
  return t + BigInt(sign) * (BigInt(iv.days) * US_PER_DAY + iv.micros);
}

/** timestamp - timestamp: days and a time under a day, as PostgreSQL justifies it. */
export function timestampDiff(a: bigint, b: bigint): Interval {
  const d = a - b;
  const days = d / US_PER_DAY;
  return new Interval(0, Number(days), d - days * US_PER_DAY);
}

// --- jsonb -------------------------------------------------------------------------------------

export function parseJson(text: string): Jsonb {
  let i = 0;
  const bad = (): OrdoError => new OrdoError(SqlState.invalidTextRepresentation, `invalid input syntax for type json`);
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const value = (): JsonValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, JsonValue> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw bad();
        const k = str();
        ws();
        if (text[i] !== ':') throw bad();
        i++;
        obj[k] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        throw bad();
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        throw bad();
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) throw bad();
    i += m[0].length;
    return parseDecimal(m[0]);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw bad();
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      throw bad();
    }
  };
  const v = value();
  ws();
  if (i !== text.length) throw bad();
  return new Jsonb(v);
}

/** jsonb object keys in storage order: shorter first, then by bytes (what jsonb prints). */
export function jsonKeys(obj: { readonly [key: string]: JsonValue }): string[] {
  return Object.keys(obj).sort((a, b) => {
    const x = Buffer.byteLength(a);
    const y = Buffer.byteLength(b);
    return x !== y ? x - y : Buffer.compare(Buffer.from(a), Buffer.from(b));
  });
}

export function formatJson(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Decimal) return v.toString();
  if (Array.isArray(v)) return `[${(v as readonly JsonValue[]).map(formatJson).join(', ')}]`;
  const obj = v as { readonly [key: string]: JsonValue };
  return `{${jsonKeys(obj).map((k) => `${JSON.stringify(k)}: ${formatJson(obj[k] ?? null)}`).join(', ')}}`;
}

export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  return formatJson(a) === formatJson(b);
}

/** jsonb @>: does `a` contain `b` (PostgreSQL's containment rules, arrays as multisets). */
export function jsonContains(a: JsonValue, b: JsonValue): boolean {
  if (Array.isArray(a)) {
    const xs = a as readonly JsonValue[];
    // A top-level array contains a scalar that is one of its elements.
    if (!Array.isArray(b)) return typeof b !== 'object' || b === null || b instanceof Decimal ? xs.some((x) => jsonEquals(x, b)) : false;
    return (b as readonly JsonValue[]).every((y) => xs.some((x) => jsonContains(x, y)));
  }
  if (a !== null && typeof a === 'object' && !(a instanceof Decimal)) {
    if (b === null || typeof b !== 'object' || b instanceof Decimal || Array.isArray(b)) return false;
    const ao = a as { readonly [key: string]: JsonValue };
    const bo = b as { readonly [key: string]: JsonValue };
    return Object.keys(bo).every((k) => k in ao && jsonContains(ao[k] ?? null, bo[k] ?? null));
  }
  if (Array.isArray(b) || (b !== null && typeof b === 'object' && !(b instanceof Decimal))) return false;
  return jsonEquals(a, b);
}

// --- comparison and hashing --------------------------------------------------------------------

/** Orders two non-NULL values of one type. */
export function compareQ(a: QValue, b: QValue): number {
  if (a instanceof Decimal && b instanceof Decimal) return compareDecimal(a, b);
  if (a instanceof Interval && b instanceof Interval) {
    const x = intervalSpan(a);
    const y = intervalSpan(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a instanceof Jsonb && b instanceof Jsonb) {
    const x = formatJson(a.value);
    const y = formatJson(b.value);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    // float8 orders NaN above every other value and equal to itself.
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
  }
  if (a instanceof Decimal || b instanceof Decimal) return compareDecimal(decimalOf(a), decimalOf(b));
  return compareValues(a as Value, b as Value);
}

/** A string equal for values that are equal (GROUP BY, DISTINCT, hash joins, set operations). */
export function hashKey(v: QValue): string {
  if (v === null) return 'N';
  switch (typeof v) {
    case 'bigint':
      return `i${v}`;
    case 'number':
      return Number.isNaN(v) ? 'fNaN' : `f${v === 0 ? 0 : v}`;
    case 'string':
      return `s${v}`;
    case 'boolean':
      return v ? 'T' : 'F';
    default:
      break;
  }
  if (v instanceof Decimal) {
    const t = trimDecimal(v);
    return `d${t.v}e${t.s}`;
  }
  if (v instanceof Interval) return `v${intervalSpan(v)}`;
  if (v instanceof Jsonb) return `j${formatJson(v.value)}`;
  return `b${Buffer.from(v).toString('hex')}`;
}

export function rowKey(values: readonly QValue[]): string {
  let k = '';
  for (const v of values) {
    const h = hashKey(v);
    k += `${h.length}:${h}`;
  }
  return k;
}
