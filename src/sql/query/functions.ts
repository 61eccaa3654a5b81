// Operators and scalar functions with PostgreSQL's typing and semantics, over bound expressions.

import { OrdoError, SqlState } from '../../util/index.js';
import { SqlStateX } from '../types.js';
import { constant, keyOf, lenientCall, strictCall, unionRefs, type BExpr, type Exec } from './bound.js';
import { Q, castValue, category, checkIntRange, commonType, implicitlyCoercible, isFloat, isInt, textOf, typeName, type QType } from './qtypes.js';
import {
  Decimal,
  Interval,
  Jsonb,
  US_PER_DAY,
  addDecimal,
  addInterval,
  compareQ,
  decimalOf,
  decimalToFloat,
  divDecimal,
  divisionByZero,
  floorDecimal,
  hashKey,
  jsonContains,
  modDecimal,
  mulDecimal,
  outOfRange,
  parseDecimal,
  roundDecimal,
  timestampDiff,
  truncDecimal,
  type JsonValue,
  type QValue,
} from './values.js';

type NonNull = Exclude<QValue, null>;

/** Set-returning functions PostgreSQL has; outside FROM they are not supported here, which is not "does not exist". */
const SET_RETURNING = new Set(['generate_series', 'unnest', 'generate_subscripts', 'json_each', 'jsonb_each', 'regexp_matches']);

export function undefinedFunction(name: string, args: readonly BExpr[]): OrdoError {
  if (SET_RETURNING.has(name)) return new OrdoError(SqlState.featureNotSupported, `set-returning function ${name}() is supported only in FROM`);
  return new OrdoError(SqlStateX.undefinedFunction, `function ${name}(${args.map((a) => typeName(a.t)).join(', ')}) does not exist`);
}

function undefinedOperator(op: string, a: QType | null, b: QType): OrdoError {
  return new OrdoError(SqlStateX.undefinedFunction, `operator does not exist: ${a === null ? '' : `${typeName(a)} `}${op} ${typeName(b)}`);
}

// --- coercion ----------------------------------------------------------------------------------

/** `e` as a value of `t` where PostgreSQL converts implicitly; null when it would not. */
export function tryCoerce(e: BExpr, t: QType): BExpr | null {
  if (e.t.name === t.name) return e;
  if (e.t.name === 'unknown') return e.resolve !== undefined ? e.resolve(t) : castExpr(e, t);
  if (!implicitlyCoercible(e.t, t)) return null;
  if (category(t) === 'string') return { t, key: e.key, ev: e.ev, refs: e.refs, constant: e.constant };
  return castExpr(e, t);
}

export function coerce(e: BExpr, t: QType, what: () => OrdoError): BExpr {
  const c = tryCoerce(e, t);
  if (c === null) throw what();
  return c;
}

/** CAST(e AS t). */
export function castExpr(e: BExpr, t: QType): BExpr {
  if (e.t.name === 'unknown' && e.resolve !== undefined && (t.length === null || t.name === 'numeric')) {
    const r = e.resolve(t);
    if (t.name !== 'numeric' || t.scale === null) return r;
    return strictCall(t, keyOf(`cast:${t.name}:${t.length}:${t.scale}`, [r]), [r], ([v]) => castValue(r.t, t, v as NonNull));
  }
  if (e.t.name === t.name && t.length === null && t.scale === null) return { ...e, t };
  const from = e.t;
  return strictCall(t, keyOf(`cast:${t.name}:${t.length}:${t.scale}`, [e]), [e], ([v]) => castValue(from, t, v as NonNull));
}

/** Brings both operands to one type for a comparison (unknowns take the other's type). */
export function unify(a: BExpr, b: BExpr, op: string): [BExpr, BExpr] {
  if (a.t.name === 'unknown' && b.t.name === 'unknown') return [coerce(a, Q.text, () => undefinedOperator(op, a.t, b.t)), coerce(b, Q.text, () => undefinedOperator(op, a.t, b.t))];
  if (a.t.name === 'unknown') return [coerce(a, b.t, () => undefinedOperator(op, a.t, b.t)), b];
  if (b.t.name === 'unknown') return [a, coerce(b, a.t, () => undefinedOperator(op, a.t, b.t))];
  let t: QType;
  try {
    t = commonType([a.t, b.t], op);
  } catch {
    throw undefinedOperator(op, a.t, b.t);
  }
  const fail = (): OrdoError => undefinedOperator(op, a.t, b.t);
  return [coerce(a, t, fail), coerce(b, t, fail)];
}

// --- comparison and logic ----------------------------------------------------------------------

const COMPARE: Readonly<Record<string, (c: number) => boolean>> = {
  '=': (c) => c === 0,
  '<>': (c) => c !== 0,
  '!=': (c) => c !== 0,
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

export function isComparison(op: string): boolean {
  return op in COMPARE;
}

export function comparison(op: string, left: BExpr, right: BExpr): BExpr {
  const test = COMPARE[op] as (c: number) => boolean;
  const [a, b] = unify(left, right, op);
  if (a.t.name === 'jsonb' && op !== '=' && op !== '<>' && op !== '!=') throw undefinedOperator(op, a.t, b.t);
  return strictCall(Q.bool, keyOf(op === '!=' ? '<>' : op, [a, b]), [a, b], ([x, y]) => test(compareQ(x as NonNull, y as NonNull)));
}

/** AND / OR with three-valued logic: `decisive` (false for AND) wins, else NULL if any, else !decisive. */
function logic(name: 'and' | 'or', decisive: boolean, args: readonly BExpr[]): BExpr {
  const evs = args.map((a) => a.ev);
  return {
    t: Q.bool,
    key: keyOf(name, args),
    refs: unionRefs(args),
    constant: args.every((a) => a.constant),
    ev: (row, x) => {
      let sawNull = false;
      for (const e of evs) {
        const v = e(row, x);
        if (v === decisive) return decisive;
        if (v === null) sawNull = true;
      }
      return sawNull ? null : !decisive;
    },
  };
}

export function and(args: readonly BExpr[]): BExpr {
  return logic('and', false, args);
}

export function or(args: readonly BExpr[]): BExpr {
  return logic('or', true, args);
}

export function not(a: BExpr): BExpr {
  return strictCall(Q.bool, keyOf('not', [a]), [a], ([v]) => !(v as boolean));
}

export function asBool(e: BExpr, what: string): BExpr {
  return coerce(e, Q.bool, () => new OrdoError(SqlState.datatypeMismatch, `argument of ${what} must be type boolean, not type ${typeName(e.t)}`));
}

export function isDistinct(a0: BExpr, b0: BExpr, negate: boolean): BExpr {
  const [a, b] = unify(a0, b0, 'IS DISTINCT FROM');
  return lenientCall(Q.bool, keyOf(negate ? 'isnotdistinct' : 'isdistinct', [a, b]), [a, b], ([x = null, y = null]) => {
    const distinct = x === null || y === null ? x !== y : compareQ(x, y) !== 0;
    return negate ? !distinct : distinct;
  });
}

/** x IN (list): true on a match; NULL when no match but a NULL was involved; false otherwise. */
export function inList(x0: BExpr, list0: readonly BExpr[], negate: boolean): BExpr {
  const t = commonType([x0.t, ...list0.map((e) => e.t)], 'IN');
  const fail = (): OrdoError => undefinedOperator('=', x0.t, t);
  const x = coerce(x0, t, fail);
  const list = list0.map((e) => coerce(e, t, fail));
  const xe = x.ev;
  const constants = list.every((e) => e.constant);
  const evs = list.map((e) => e.ev);
  // A list of constants (literals, parameters) is hashed once per execution.
  const sets = new WeakMap<Exec, { keys: Set<string>; hasNull: boolean }>();
  return {
    t: Q.bool,
    key: keyOf(negate ? 'notin' : 'in', [x, ...list]),
    refs: unionRefs([x, ...list]),
    constant: x.constant && constants,
    ev: (row, ex) => {
      const v = xe(row, ex);
      if (v === null) return null;
      let found = false;
      let sawNull = false;
      if (constants && evs.length > 4) {
        let s = sets.get(ex);
        if (s === undefined) {
          s = { keys: new Set(), hasNull: false };
          for (const e of evs) {
            const w = e(row, ex);
            if (w === null) s.hasNull = true;
            else s.keys.add(hashKey(w));
          }
          sets.set(ex, s);
        }
        found = s.keys.has(hashKey(v));
        sawNull = s.hasNull;
      } else {
        for (const e of evs) {
          const w = e(row, ex);
          if (w === null) sawNull = true;
          else if (compareQ(v, w) === 0) {
            found = true;
            break;
          }
        }
      }
      if (found) return !negate;
      return sawNull ? null : negate;
    },
  };
}

// --- LIKE --------------------------------------------------------------------------------------

const likeCache = new Map<string, RegExp>();

function likeRegex(pattern: string, insensitive: boolean): RegExp {
  const cacheKey = `${insensitive ? 'i' : 's'}${pattern}`;
  let re = likeCache.get(cacheKey);
  if (re !== undefined) return re;
  let src = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new OrdoError('22025', 'LIKE pattern must not end with escape character');
      src += next.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '%') src += '[\\s\\S]*';
    else if (c === '_') src += '[\\s\\S]';
    else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  re = new RegExp(`${src}$`, insensitive ? 'iu' : 'u');
  if (likeCache.size > 1000) likeCache.clear();
  likeCache.set(cacheKey, re);
  return re;
}

export function like(a0: BExpr, p0: BExpr, insensitive: boolean, negate: boolean): BExpr {
  const fail = (): OrdoError => undefinedOperator(insensitive ? '~~*' : '~~', a0.t, p0.t);
  const a = coerce(a0, Q.text, fail);
  const p = coerce(p0, Q.text, fail);
  return strictCall(Q.bool, keyOf(`${negate ? '!' : ''}like${insensitive ? 'i' : ''}`, [a, p]), [a, p], ([s, pat]) => likeRegex(pat as string, insensitive).test(s as string) !== negate);
}

export function regexMatch(a0: BExpr, p0: BExpr, insensitive: boolean, negate: boolean): BExpr {
  const a = coerce(a0, Q.text, () => undefinedOperator('~', a0.t, p0.t));
  const p = coerce(p0, Q.text, () => undefinedOperator('~', a0.t, p0.t));
  return strictCall(Q.bool, keyOf(`${negate ? '!' : ''}re${insensitive ? 'i' : ''}`, [a, p]), [a, p], ([s, pat]) => {
    let re: RegExp;
    try {
      re = new RegExp(pat as string, insensitive ? 'iu' : 'u');
    } catch {
      throw new OrdoError('2201B', `invalid regular expression: ${String(pat)}`);
    }
    return re.test(s as string) !== negate;
  });
}

// --- arithmetic --------------------------------------------------------------------------------

function checkFloat(x: number, inputsFinite: boolean): number {
  if (!Number.isFinite(x) && inputsFinite && !Number.isNaN(x)) throw new OrdoError(SqlState.numericValueOutOfRange, 'value out of range: overflow');
  return x;
}

function numericArith(op: string, t: QType, a: NonNull, b: NonNull): QValue {
  if (isInt(t)) {
    const x = a as bigint;
    const y = b as bigint;
    switch (op) {
      case '+':
        return checkIntRange(t, x + y);
      case '-':
        return checkIntRange(t, x - y);
      case '*':
        return checkIntRange(t, x * y);
      case '/':
        if (y === 0n) throw divisionByZero();
        return checkIntRange(t, x / y);
      default:
        if (y === 0n) throw divisionByZero();
        return x % y;
    }
  }
  if (t.name === 'numeric') {
    const x = decimalOf(a);
    const y = decimalOf(b);
    switch (op) {
      case '+':
        return addDecimal(x, y, 1n);
      case '-':
        return addDecimal(x, y, -1n);
      case '*':
        return mulDecimal(x, y);
      case '/':
        return divDecimal(x, y);
      default:
        return modDecimal(x, y);
    }
  }
  const x = a as number;
  const y = b as number;
  const finite = Number.isFinite(x) && Number.isFinite(y);
  const single = t.name === 'float4' ? Math.fround : (v: number): number => v;
  switch (op) {
    case '+':
      return single(checkFloat(x + y, finite));
    case '-':
      return single(checkFloat(x - y, finite));
    case '*':
      return single(checkFloat(x * y, finite));
    default:
      if (y === 0) throw divisionByZero();
      return single(checkFloat(x / y, finite));
  }
}

/** + - * / % on bound operands, with PostgreSQL's operator resolution for the types involved. */
export function arithmetic(op: string, a0: BExpr, b0: BExpr): BExpr {
  let a = a0;
  let b = b0;
  const ca = category(a.t);
  const cb = category(b.t);
  const key = keyOf(op, [a, b]);
  // Untyped operands take the other side's type, or an interval when the other side is a date/time.
  if (ca === 'unknown' && cb === 'unknown') throw new OrdoError('42725', `operator is not unique: unknown ${op} unknown`);
  if (ca === 'unknown') a = coerce(a, cb === 'datetime' && op === '-' ? b.t : cb === 'datetime' ? Q.interval : b.t, () => undefinedOperator(op, a0.t, b0.t));
  if (cb === 'unknown') b = coerce(b, ca === 'datetime' ? Q.interval : a.t, () => undefinedOperator(op, a0.t, b0.t));
  const ta = a.t;
  const tb = b.t;
  const fail = (): OrdoError => undefinedOperator(op, ta, tb);
  if (category(ta) === 'numeric' && category(tb) === 'numeric') {
    if (op === '%' && (isFloat(ta) || isFloat(tb))) throw fail();
    const t = commonType([ta, tb], op);
    const x = coerce(a, t, fail);
    const y = coerce(b, t, fail);
    return strictCall({ name: t.name, length: null, scale: null }, keyOf(op, [x, y]), [x, y], ([u, v]) => numericArith(op, t, u as NonNull, v as NonNull));
  }
  // date ± integer, date - date
  if (ta.name === 'date' && isInt(tb) && (op === '+' || op === '-')) {
    return strictCall(Q.date, key, [a, b], ([d, n]) => (op === '+' ? (d as bigint) + (n as bigint) : (d as bigint) - (n as bigint)));
  }
  if (isInt(ta) && tb.name === 'date' && op === '+') return strictCall(Q.date, key, [a, b], ([n, d]) => (d as bigint) + (n as bigint));
  if (ta.name === 'date' && tb.name === 'date' && op === '-') return strictCall(Q.int4, key, [a, b], ([x, y]) => (x as bigint) - (y as bigint));
  // date/timestamp ± interval
  if (category(ta) === 'datetime' && tb.name === 'interval' && (op === '+' || op === '-')) {
    const rt = ta.name === 'date' ? Q.timestamp : ta;
    const x = ta.name === 'date' ? castExpr(a, Q.timestamp) : a;
    return strictCall(rt, key, [x, b], ([t, iv]) => addInterval(t as bigint, iv as Interval, op === '+' ? 1 : -1));
  }
  if (ta.name === 'interval' && category(tb) === 'datetime' && op === '+') {
    const rt = tb.name === 'date' ? Q.timestamp : tb;
    const y = tb.name === 'date' ? castExpr(b, Q.timestamp) : b;
    return strictCall(rt, key, [a, y], ([iv, t]) => addInterval(t as bigint, iv as Interval, 1));
  }
  // timestamp - timestamp
  if (category(ta) === 'datetime' && category(tb) === 'datetime' && op === '-') {
    const t = commonType([ta, tb, Q.timestamp], op);
    const x = castExpr(a, t);
    const y = castExpr(b, t);
    return strictCall(Q.interval, key, [x, y], ([u, v]) => timestampDiff(u as bigint, v as bigint));
  }
  if (ta.name === 'interval' && tb.name === 'interval' && (op === '+' || op === '-')) {
    const s = op === '+' ? 1 : -1;
    return strictCall(Q.interval, key, [a, b], ([u, v]) => {
      const x = u as Interval;
      const y = v as Interval;
      return new Interval(x.months + s * y.months, x.days + s * y.days, x.micros + BigInt(s) * y.micros);
    });
  }
  if ((ta.name === 'interval' && category(tb) === 'numeric' && (op === '*' || op === '/')) || (category(ta) === 'numeric' && tb.name === 'interval' && op === '*')) {
    const [iv, n] = ta.name === 'interval' ? [a, b] : [b, a];
    return strictCall(Q.interval, key, [iv, n], ([u, v]) => scaleInterval(u as Interval, typeof v === 'bigint' ? Number(v) : v instanceof Decimal ? decimalToFloat(v) : (v as number), op === '/'));
  }
  throw fail();
}

function scaleInterval(iv: Interval, f: number, divide: boolean): Interval {
  if (divide && f === 0) throw divisionByZero();
  const k = divide ? 1 / f : f;
  // PostgreSQL cascades fractional months into days (30 per month) and fractional days into time.
  const months = iv.months * k;
  const wholeMonths = Math.trunc(months);
  const days = iv.days * k + (months - wholeMonths) * 30;
  const wholeDays = Math.trunc(days);
  const micros = Number(iv.micros) * k + (days - wholeDays) * Number(US_PER_DAY);
  return new Interval(wholeMonths, wholeDays, BigInt(Math.round(micros)));
}

export function negate(a0: BExpr): BExpr {
  const a = a0.t.name === 'unknown' ? coerce(a0, Q.numeric, () => undefinedOperator('-', null, a0.t)) : a0;
  const t = a.t;
  if (category(t) !== 'numeric' && t.name !== 'interval') throw undefinedOperator('-', null, t);
  return strictCall(t, keyOf('neg', [a]), [a], ([v]) => {
    if (typeof v === 'bigint') return checkIntRange(t, -v);
    if (typeof v === 'number') return -v;
    if (v instanceof Decimal) return new Decimal(-v.v, v.s);
    const iv = v as Interval;
    return new Interval(-iv.months, -iv.days, -iv.micros);
  });
}

/** a || b: text concatenation (a non-string operand is converted to text), or jsonb concatenation. */
export function concatOp(a0: BExpr, b0: BExpr): BExpr {
  if (a0.t.name === 'jsonb' || b0.t.name === 'jsonb') throw new OrdoError(SqlState.featureNotSupported, 'jsonb || jsonb is not supported');
  const sa = category(a0.t) === 'string' || a0.t.name === 'unknown';
  const sb = category(b0.t) === 'string' || b0.t.name === 'unknown';
  if (!sa && !sb) throw undefinedOperator('||', a0.t, b0.t);
  const a = toText(a0);
  const b = toText(b0);
  return strictCall(Q.text, keyOf('||', [a, b]), [a, b], ([x, y]) => (x as string) + (y as string));
}

export function toText(e: BExpr): BExpr {
  if (category(e.t) === 'string') return e;
  if (e.t.name === 'unknown') return coerce(e, Q.text, () => undefinedFunction('text', [e]));
  return castExpr(e, Q.text);
}

// --- jsonb operators ---------------------------------------------------------------------------

function jsonField(v: JsonValue, k: QValue): JsonValue | undefined {
  if (v === null || typeof v !== 'object' || v instanceof Decimal) return undefined;
  if (Array.isArray(v)) {
    if (typeof k !== 'bigint') return undefined;
    const arr = v as readonly JsonValue[];
    const i = Number(k < 0n ? BigInt(arr.length) + k : k);
    return arr[i];
  }
  if (typeof k !== 'string') return undefined;
  return (v as { readonly [key: string]: JsonValue })[k];
}

export function jsonOp(op: string, a0: BExpr, b0: BExpr): BExpr {
  const a = coerce(a0, Q.jsonb, () => undefinedOperator(op, a0.t, b0.t));
  if (op === '@>' || op === '<@') {
    const b = coerce(b0, Q.jsonb, () => undefinedOperator(op, a0.t, b0.t));
    return strictCall(Q.bool, keyOf(op, [a, b]), [a, b], ([x, y]) =>
      op === '@>' ? jsonContains((x as Jsonb).value, (y as Jsonb).value) : jsonContains((y as Jsonb).value, (x as Jsonb).value),
    );
  }
  const b = b0.t.name === 'unknown' ? coerce(b0, Q.text, () => undefinedOperator(op, a0.t, b0.t)) : b0;
  if (!isInt(b.t) && category(b.t) !== 'string') throw undefinedOperator(op, a.t, b.t);
  const asText = op === '->>';
  return strictCall(asText ? Q.text : Q.jsonb, keyOf(op, [a, b]), [a, b], ([x, k]) => {
    const f = jsonField((x as Jsonb).value, k ?? null);
    if (f === undefined) return null;
    if (!asText) return new Jsonb(f);
    if (f === null) return null;
    return typeof f === 'string' ? f : f instanceof Decimal ? f.toString() : typeof f === 'boolean' ? String(f) : textOf(Q.jsonb, new Jsonb(f));
  });
}

function toJson(t: QType, v: QValue): JsonValue {
  if (v === null) return null;
  if (v instanceof Jsonb) return v.value;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return new Decimal(v, 0);
  if (v instanceof Decimal) return v;
  if (typeof v === 'number') return Number.isFinite(v) ? parseDecimal(String(v)) : textOf(t, v);
  if (category(t) === 'datetime') return textOf(t, v).replace(' ', 'T');
  return textOf(t, v);
}

// --- scalar functions --------------------------------------------------------------------------

function intArg(e: BExpr, fn: string, args: readonly BExpr[]): BExpr {
  return coerce(e, Q.int4, () => undefinedFunction(fn, args));
}

function textArg(e: BExpr, fn: string, args: readonly BExpr[]): BExpr {
  if (category(e.t) === 'string') return e;
  return coerce(e, Q.text, () => undefinedFunction(fn, args));
}

/** Unicode-aware substring, 1-based, with PostgreSQL's handling of starts before 1. */
function substring(s: string, from: number, count: number | null): string {
  const chars = [...s];
  if (count !== null && count < 0) throw new OrdoError('22011', 'negative substring length not allowed');
  const start = from - 1;
  const end = count === null ? chars.length : start + count;
  return chars.slice(Math.max(0, start), Math.max(0, end)).join('');
}

function trimChars(s: string, chars: string, left: boolean, right: boolean): string {
  const set = new Set([...chars]);
  const cs = [...s];
  let i = 0;
  let j = cs.length;
  if (left) while (i < j && set.has(cs[i] as string)) i++;
  if (right) while (j > i && set.has(cs[j - 1] as string)) j--;
  return cs.slice(i, j).join('');
}

/** A math function over numeric/float arguments: numeric when the argument is numeric, else float8. */
function numericOrFloat(name: string, args: readonly BExpr[], onNumeric: (d: Decimal) => QValue, onFloat: (x: number) => number, intStays = false): BExpr {
  const [a0] = args;
  if (a0 === undefined || args.length !== 1) throw undefinedFunction(name, args);
  if (intStays && isInt(a0.t)) return strictCall(a0.t, keyOf(name, [a0]), [a0], ([v]) => onNumeric(new Decimal(v as bigint, 0)) as QValue);
  if (a0.t.name === 'numeric' || a0.t.name === 'unknown') {
    const a = coerce(a0, Q.numeric, () => undefinedFunction(name, args));
    return strictCall(Q.numeric, keyOf(name, [a]), [a], ([v]) => onNumeric(v as Decimal));
  }
  const a = coerce(a0, Q.float8, () => undefinedFunction(name, args));
  return strictCall(Q.float8, keyOf(name, [a]), [a], ([v]) => onFloat(v as number));
}

const DATE_FIELDS = ['microseconds', 'milliseconds', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', 'decade', 'century', 'millennium'] as const;

function truncTimestamp(field: string, us: bigint): bigint {
  const dayUs = ((us % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
  const day = (us - dayUs) / US_PER_DAY;
  const d = new Date(Number(day) * 86_400_000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const atDay = (ms: number): bigint => BigInt(Math.round(ms / 86_400_000)) * US_PER_DAY;
  switch (field) {
    case 'microseconds':
      return us;
    case 'milliseconds':
      return us - (((us % 1000n) + 1000n) % 1000n);
    case 'second':
      return us - (((us % 1_000_000n) + 1_000_000n) % 1_000_000n);
    case 'minute':
      return us - (((us % 60_000_000n) + 60_000_000n) % 60_000_000n);
    case 'hour':
      return us - (((us % 3_600_000_000n) + 3_600_000_000n) % 3_600_000_000n);
    case 'day':
      return day * US_PER_DAY;
    case 'week': {
      const dow = (d.getUTCDay() + 6) % 7;
      return (day - BigInt(dow)) * US_PER_DAY;
    }
    case 'month':
      return atDay(Date.UTC(y, m, 1));
    case 'quarter':
      return atDay(Date.UTC(y, m - (m % 3), 1));
    case 'year':
      return atDay(Date.UTC(y, 0, 1));
    case 'decade':
      return atDay(Date.UTC(y - (((y % 10) + 10) % 10), 0, 1));
    case 'century':
      return atDay(Date.UTC(Math.floor((y - 1) / 100) * 100 + 1, 0, 1));
    case 'millennium':
      return atDay(Date.UTC(Math.floor((y - 1) / 1000) * 1000 + 1, 0, 1));
    default:
      throw new OrdoError(SqlState.featureNotSupported, `unit "${field}" not recognized for type timestamp`);
  }
}

/** EXTRACT(field FROM source): numeric, as PostgreSQL 14+ returns it. */
export function extract(field0: string, src0: BExpr): BExpr {
  const field = field0.toLowerCase();
  if (src0.t.name === 'interval') {
    return strictCall(Q.numeric, keyOf(`extract:${field}`, [src0]), [src0], ([v]) => extractInterval(field, v as Interval));
  }
  const src = src0.t.name === 'unknown' ? coerce(src0, Q.timestamptz, () => undefinedFunction('extract', [src0])) : src0;
  if (category(src.t) !== 'datetime') throw undefinedFunction('extract', [src]);
  const isDate = src.t.name === 'date';
  return strictCall(Q.numeric, keyOf(`extract:${field}`, [src]), [src], ([v]) => {
    const us = isDate ? (v as bigint) * US_PER_DAY : (v as bigint);
    if (isDate && ['hour', 'minute', 'second', 'milliseconds', 'microseconds'].includes(field)) {
      throw new OrdoError(SqlState.featureNotSupported, `unit "${field}" not supported for type date`);
    }
    return extractTimestamp(field, us, isDate);
  });
}

function extractTimestamp(field: string, us: bigint, isDate: boolean): Decimal {
  const dayUs = ((us % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
  const day = (us - dayUs) / US_PER_DAY;
  const d = new Date(Number(day) * 86_400_000);
  const int = (n: number | bigint): Decimal => new Decimal(BigInt(n), 0);
  const y = d.getUTCFullYear();
  switch (field) {
    case 'year':
      return int(y);
    case 'month':
      return int(d.getUTCMonth() + 1);
    case 'day':
      return int(d.getUTCDate());
    case 'hour':
      return int(dayUs / 3_600_000_000n);
    case 'minute':
      return int((dayUs / 60_000_000n) % 60n);
    case 'second':
      return new Decimal(dayUs % 60_000_000n, 6);
    case 'milliseconds':
      return new Decimal(dayUs % 60_000_000n, 3);
    case 'microseconds':
      return int(dayUs % 60_000_000n);
    case 'dow':
      return int(d.getUTCDay());
    case 'isodow':
      return int(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
    case 'doy':
      return int(Math.round((Date.UTC(y, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(y, 0, 1)) / 86_400_000) + 1);
    case 'quarter':
      return int(Math.floor(d.getUTCMonth() / 3) + 1);
    case 'week': {
      const t = new Date(Date.UTC(y, d.getUTCMonth(), d.getUTCDate()));
      const dow = (t.getUTCDay() + 6) % 7;
      t.setUTCDate(t.getUTCDate() - dow + 3);
      const firstThursday = new Date(Date.UTC(t.getUTCFullYear(), 0, 4));
      return int(1 + Math.round((t.getTime() - firstThursday.getTime()) / 86_400_000 / 7 - ((firstThursday.getUTCDay() + 6) % 7) / 7 + 3 / 7));
    }
    case 'decade':
      return int(Math.floor(y / 10));
    case 'century':
      return int(y > 0 ? Math.floor((y - 1) / 100) + 1 : -(Math.floor(-y / 100) + 1));
    case 'millennium':
      return int(y > 0 ? Math.floor((y - 1) / 1000) + 1 : -(Math.floor(-y / 1000) + 1));
    case 'epoch':
      return isDate ? new Decimal(us / 1_000_000n, 0) : new Decimal(us, 6);
    case 'julian':
      return int(day + 2440588n);
    default:
      throw new OrdoError(SqlState.featureNotSupported, `unit "${field}" not recognized for type timestamp`);
  }
}

function extractInterval(field: string, iv: Interval): Decimal {
  const int = (n: number | bigint): Decimal => new Decimal(BigInt(n), 0);
  switch (field) {
    case 'year':
      return int(Math.trunc(iv.months / 12));
    case 'month':
      return int(iv.months % 12);
    case 'day':
      return int(iv.days);
    case 'hour':
      return int(iv.micros / 3_600_000_000n);
    case 'minute':
      return int((iv.micros / 60_000_000n) % 60n);
    case 'second':
      return new Decimal(iv.micros % 60_000_000n, 6);
    case 'epoch':
      return new Decimal((BigInt(iv.months) * 30n * 86400n + BigInt(Math.trunc(iv.months / 12)) * 5n * 3600n + BigInt(iv.days) * 86400n) * 1_000_000n + iv.micros, 6);
    default:
      throw new OrdoError(SqlState.featureNotSupported, `unit "${field}" not supported for type interval`);
  }
}

/** The scalar functions the engine knows; null when `name` is not one of them. */
export function scalarFunction(name: string, args: readonly BExpr[]): BExpr | null {
  const [a0, b0, c0] = args;
  const arity = (...ns: number[]): void => {
    if (!ns.includes(args.length)) throw undefinedFunction(name, args);
  };
  switch (name) {
    case 'coalesce': {
      if (args.length === 0) throw new OrdoError(SqlStateX.syntaxError, 'syntax error at or near ")"');
      const t = commonType(args.map((a) => a.t), 'COALESCE');
      const xs = args.map((a) => coerce(a, t, () => undefinedFunction(name, args)));
      const evs = xs.map((x) => x.ev);
      return {
        t,
        key: keyOf(name, xs),
        refs: unionRefs(xs),
        constant: xs.every((x) => x.constant),
        ev: (row, x) => {
          for (const e of evs) {
            const v = e(row, x);
            if (v !== null) return v;
          }
          return null;
        },
      };
    }
    case 'nullif': {
      arity(2);
      const [a, b] = unify(a0 as BExpr, b0 as BExpr, '=');
      return lenientCall(a.t, keyOf(name, [a, b]), [a, b], ([x = null, y = null]) => (x !== null && y !== null && compareQ(x, y) === 0 ? null : x));
    }
    case 'greatest':
    case 'least': {
      if (args.length === 0) throw undefinedFunction(name, args);
      const t = commonType(args.map((a) => a.t), name.toUpperCase());
      const xs = args.map((a) => coerce(a, t, () => undefinedFunction(name, args)));
      const sign = name === 'greatest' ? 1 : -1;
      // NULLs are ignored; the result is NULL only when every argument is.
      return lenientCall(t, keyOf(name, xs), xs, (vals) => {
        let best: QValue = null;
        for (const v of vals) if (v !== null && (best === null || sign * compareQ(v, best) > 0)) best = v;
        return best;
      });
    }
    case 'lower':
    case 'upper': {
      arity(1);
      const a = textArg(a0 as BExpr, name, args);
      return strictCall(Q.text, keyOf(name, [a]), [a], ([s]) => (name === 'lower' ? (s as string).toLowerCase() : (s as string).toUpperCase()));
    }
    case 'length':
    case 'char_length':
    case 'character_length': {
      arity(1);
      if (a0?.t.name === 'bytea') return strictCall(Q.int4, keyOf('octet_length', [a0]), [a0], ([b]) => BigInt((b as Uint8Array).length));
      const a = textArg(a0 as BExpr, name, args);
      return strictCall(Q.int4, keyOf('length', [a]), [a], ([s]) => BigInt([...(s as string)].length));
    }
    case 'octet_length': {
      arity(1);
      const a = textArg(a0 as BExpr, name, args);
      return strictCall(Q.int4, keyOf(name, [a]), [a], ([s]) => BigInt(Buffer.byteLength(s as string)));
    }
    case 'substring':
    case 'substr': {
      arity(2, 3);
      const s = textArg(a0 as BExpr, name, args);
      const from = intArg(b0 as BExpr, name, args);
      const xs = c0 === undefined ? [s, from] : [s, from, intArg(c0, name, args)];
      return strictCall(Q.text, keyOf('substring', xs), xs, ([v, f, n]) => substring(v as string, Number(f), n === undefined ? null : Number(n)));
    }
    case 'left':
    case 'right': {
      arity(2);
      const s = textArg(a0 as BExpr, name, args);
      const n = intArg(b0 as BExpr, name, args);
      return strictCall(Q.text, keyOf(name, [s, n]), [s, n], ([v, k]) => {
        const cs = [...(v as string)];
        const m = Number(k);
        if (name === 'left') return cs.slice(0, m < 0 ? Math.max(0, cs.length + m) : m).join('');
        return cs.slice(m < 0 ? Math.min(cs.length, -m) : Math.max(0, cs.length - m)).join('');
      });
    }
    case 'strpos':
    case 'position': {
      arity(2);
      // position(sub IN s) is rewritten to strpos(s, sub) before parsing.
      const s = textArg(a0 as BExpr, name, args);
      const sub = textArg(b0 as BExpr, name, args);
      return strictCall(Q.int4, keyOf('strpos', [s, sub]), [s, sub], ([v, w]) => {
        const i = (v as string).indexOf(w as string);
        return i < 0 ? 0n : BigInt([...(v as string).slice(0, i)].length + 1);
      });
    }
    case 'trim':
    case 'btrim':
    case 'ltrim':
    case 'rtrim': {
      arity(1, 2);
      const s = textArg(a0 as BExpr, name, args);
      const chars = b0 === undefined ? constant(Q.text, ' ', "l s' '") : textArg(b0, name, args);
      const left = name !== 'rtrim';
      const right = name !== 'ltrim';
      return strictCall(Q.text, keyOf(name === 'trim' ? 'btrim' : name, [s, chars]), [s, chars], ([v, c]) => trimChars(v as string, c as string, left, right));
    }
    case 'replace': {
      arity(3);
      const xs = [textArg(a0 as BExpr, name, args), textArg(b0 as BExpr, name, args), textArg(c0 as BExpr, name, args)];
      return strictCall(Q.text, keyOf(name, xs), xs, ([s, from, to]) => ((from as string) === '' ? (s as string) : (s as string).split(from as string).join(to as string)));
    }
    case 'concat': {
      const xs = args.map(toText);
      return lenientCall(Q.text, keyOf(name, xs), xs, (vals) => vals.map((v) => (v === null ? '' : (v as string))).join(''));
    }
    case 'concat_ws': {
      if (args.length < 1) throw undefinedFunction(name, args);
      const xs = args.map(toText);
      return lenientCall(Q.text, keyOf(name, xs), xs, ([sep, ...vals]) => (sep === null || sep === undefined ? null : vals.filter((v) => v !== null).join(sep as string)));
    }
    case 'repeat': {
      arity(2);
      const s = textArg(a0 as BExpr, name, args);
      const n = intArg(b0 as BExpr, name, args);
      return strictCall(Q.text, keyOf(name, [s, n]), [s, n], ([v, k]) => (v as string).repeat(Math.max(0, Number(k))));
    }
    case 'reverse': {
      arity(1);
      const s = textArg(a0 as BExpr, name, args);
      return strictCall(Q.text, keyOf(name, [s]), [s], ([v]) => [...(v as string)].reverse().join(''));
    }
    case 'starts_with': {
      arity(2);
      const s = textArg(a0 as BExpr, name, args);
      const p = textArg(b0 as BExpr, name, args);
      return strictCall(Q.bool, keyOf(name, [s, p]), [s, p], ([v, w]) => (v as string).startsWith(w as string));
    }
    case 'lpad':
    case 'rpad': {
      arity(2, 3);
      const s = textArg(a0 as BExpr, name, args);
      const n = intArg(b0 as BExpr, name, args);
      const fill = c0 === undefined ? constant(Q.text, ' ', "l s' '") : textArg(c0, name, args);
      return strictCall(Q.text, keyOf(name, [s, n, fill]), [s, n, fill], ([v, k, f]) => {
        const cs = [...(v as string)];
        const len = Math.max(0, Number(k));
        if (cs.length >= len) return cs.slice(0, len).join('');
        const fc = [...(f as string)];
        if (fc.length === 0) return v as string;
        const pad: string[] = [];
        while (pad.length < len - cs.length) pad.push(fc[pad.length % fc.length] as string);
        return name === 'lpad' ? pad.join('') + cs.join('') : cs.join('') + pad.join('');
      });
    }
    case 'abs': {
      arity(1);
      const a = a0 as BExpr;
      if (isInt(a.t)) return strictCall(a.t, keyOf(name, [a]), [a], ([v]) => checkIntRange(a.t, (v as bigint) < 0n ? -(v as bigint) : (v as bigint)));
      return numericOrFloat(name, args, (d) => new Decimal(d.v < 0n ? -d.v : d.v, d.s), Math.abs);
    }
    case 'sign':
      return numericOrFloat(name, args, (d) => new Decimal(d.v > 0n ? 1n : d.v < 0n ? -1n : 0n, 0), Math.sign);
    case 'ceil':
    case 'ceiling':
      return numericOrFloat('ceil', args, (d) => floorDecimal(d, true), (x) => Math.ceil(x) || 0);
    case 'floor':
      return numericOrFloat(name, args, (d) => floorDecimal(d, false), Math.floor);
    case 'sqrt':
      return numericOrFloat(name, args, (d) => sqrtDecimal(d), (x) => {
        if (x < 0) throw new OrdoError('2201F', 'cannot take square root of a negative number');
        return Math.sqrt(x);
      });
    case 'round':
    case 'trunc': {
      arity(1, 2);
      if (b0 === undefined) {
        const f = name === 'round' ? roundHalfEven : Math.trunc;
        return numericOrFloat(name, args, (d) => (name === 'round' ? roundDecimal(d, 0) : truncDecimal(d, 0)), f);
      }
      const a = coerce(a0 as BExpr, Q.numeric, () => undefinedFunction(name, args));
      const s = intArg(b0, name, args);
      return strictCall(Q.numeric, keyOf(name, [a, s]), [a, s], ([v, k]) => (name === 'round' ? roundDecimal(v as Decimal, Number(k)) : truncDecimal(v as Decimal, Math.max(Number(k), 0))));
    }
    case 'mod': {
      arity(2);
      const a = a0 as BExpr;
      const b = b0 as BExpr;
      if (isFloat(a.t) || isFloat(b.t)) throw undefinedFunction(name, args);
      return arithmetic('%', a, b);
    }
    case 'div': {
      arity(2);
      const [a, b] = [coerce(a0 as BExpr, Q.numeric, () => undefinedFunction(name, args)), coerce(b0 as BExpr, Q.numeric, () => undefinedFunction(name, args))];
      return strictCall(Q.numeric, keyOf(name, [a, b]), [a, b], ([x, y]) => {
        if ((y as Decimal).v === 0n) throw divisionByZero();
        return truncDecimal(divDecimal(x as Decimal, y as Decimal), 0);
      });
    }
    case 'power':
    case 'pow': {
      arity(2);
      const numeric = a0?.t.name === 'numeric' || b0?.t.name === 'numeric';
      if (numeric) {
        const a = coerce(a0 as BExpr, Q.numeric, () => undefinedFunction(name, args));
        const b = coerce(b0 as BExpr, Q.numeric, () => undefinedFunction(name, args));
        return strictCall(Q.numeric, keyOf('power', [a, b]), [a, b], ([x, y]) => powerDecimal(x as Decimal, y as Decimal));
      }
      const a = coerce(a0 as BExpr, Q.float8, () => undefinedFunction(name, args));
      const b = coerce(b0 as BExpr, Q.float8, () => undefinedFunction(name, args));
      return strictCall(Q.float8, keyOf('power', [a, b]), [a, b], ([x, y]) => {
        if (x === 0 && (y as number) < 0) throw new OrdoError('2201F', 'zero raised to a negative power is undefined');
        if ((x as number) < 0 && !Number.isInteger(y)) throw new OrdoError('2201F', 'a negative number raised to a non-integer power yields a complex result');
        return checkFloat(Math.pow(x as number, y as number), true);
      });
    }
    case 'date_trunc': {
      arity(2);
      const f = textArg(a0 as BExpr, name, args);
      const src0 = b0 as BExpr;
      const src = src0.t.name === 'unknown' ? coerce(src0, Q.timestamptz, () => undefinedFunction(name, args)) : src0.t.name === 'date' ? castExpr(src0, Q.timestamptz) : src0;
      if (src.t.name !== 'timestamp' && src.t.name !== 'timestamptz') throw undefinedFunction(name, args);
      return strictCall(src.t, keyOf(name, [f, src]), [f, src], ([field, v]) => {
        const fl = (field as string).toLowerCase();
        if (!(DATE_FIELDS as readonly string[]).includes(fl)) throw new OrdoError(SqlState.invalidParameterValue, `unit "${fl}" not recognized for type timestamp without time zone`);
        return truncTimestamp(fl, v as bigint);
      });
    }
    case 'now':
    case 'current_timestamp':
    case 'transaction_timestamp':
    case 'statement_timestamp':
    case 'localtimestamp':
    case 'current_date': {
      arity(0);
      const t = name === 'current_date' ? Q.date : name === 'localtimestamp' ? Q.timestamp : Q.timestamptz;
      return {
        t,
        key: `${name}()`,
        refs: new Set(),
        constant: false,
        ev: (_row, x) => (name === 'current_date' ? x.nowUs / US_PER_DAY : x.nowUs),
      };
    }
    case 'jsonb_build_object': {
      if (args.length % 2 !== 0) throw new OrdoError(SqlState.invalidParameterValue, 'argument list must have even number of elements');
      const xs = args.map((a, i) => (i % 2 === 0 ? toText(a) : a.t.name === 'unknown' ? coerce(a, Q.text, () => undefinedFunction(name, args)) : a));
      const types = xs.map((x) => x.t);
      return lenientCall(Q.jsonb, keyOf(name, xs), xs, (vals) => {
        const obj: Record<string, JsonValue> = {};
        for (let i = 0; i < vals.length; i += 2) {
          const k = vals[i];
          if (k === null || k === undefined) throw new OrdoError(SqlState.invalidParameterValue, 'argument 1: key must not be null');
          obj[k as string] = toJson(types[i + 1] as QType, vals[i + 1] ?? null);
        }
        return new Jsonb(obj);
      });
    }
    case 'to_jsonb': {
      arity(1);
      const a = (a0 as BExpr).t.name === 'unknown' ? coerce(a0 as BExpr, Q.text, () => undefinedFunction(name, args)) : (a0 as BExpr);
      return strictCall(Q.jsonb, keyOf(name, [a]), [a], ([v]) => new Jsonb(toJson(a.t, v as NonNull)));
    }
    case 'jsonb_typeof': {
      arity(1);
      const a = coerce(a0 as BExpr, Q.jsonb, () => undefinedFunction(name, args));
      return strictCall(Q.text, keyOf(name, [a]), [a], ([v]) => {
        const j = (v as Jsonb).value;
        if (j === null) return 'null';
        if (typeof j === 'boolean') return 'boolean';
        if (typeof j === 'string') return 'string';
        if (j instanceof Decimal) return 'number';
        return Array.isArray(j) ? 'array' : 'object';
      });
    }
    case '__ordo_isdistinct':
    case '__ordo_isnotdistinct':
      arity(2);
      return isDistinct(a0 as BExpr, b0 as BExpr, name === '__ordo_isnotdistinct');
    default:
      return null;
  }
}

function roundHalfEven(x: number): number {
  // float8 round() rounds half to even, as the C library's rint().
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) return f + 1;
  return f;
}

function sqrtDecimal(d: Decimal): Decimal {
  if (d.v < 0n) throw new OrdoError('2201F', 'cannot take square root of a negative number');
  const scale = Math.max(d.s, 16);
  // isqrt(v * 10^(2*scale - s)) has `scale` fractional digits.
  const n = d.v * 10n ** BigInt(2 * scale - d.s);
  if (n === 0n) return new Decimal(0n, scale);
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  for (;;) {
    const y = (x + n / x) / 2n;
    if (y >= x) break;
    x = y;
  }
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return new Decimal(x, scale);
}

function powerDecimal(x: Decimal, y: Decimal): Decimal {
  const yi = y.s === 0 || y.v % 10n ** BigInt(y.s) === 0n ? y.v / 10n ** BigInt(y.s) : null;
  if (yi !== null && yi >= 0n && yi <= 1000n) {
    let r = new Decimal(1n, 0);
    for (let i = 0n; i < yi; i++) r = mulDecimal(r, x);
    // PostgreSQL shows integer powers of numeric with at least 16 significant digits.
    const intDigits = (r.toString().split('.')[0] ?? '').replace('-', '').replace(/^0$/, '').length;
    return roundDecimal(r, Math.max(r.s, 17 - Math.max(1, intDigits)));
  }
  const f = Math.pow(decimalToFloat(x), decimalToFloat(y));
  if (!Number.isFinite(f)) throw outOfRange('value');
  return roundDecimal(parseDecimal(f.toPrecision(17)), 16);
}
