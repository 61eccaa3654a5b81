// The executor's pure core: runs one validated transaction program against a read view and returns
// its outcome (result rows and the final state of every key it wrote, or a deterministic abort).
//
// Everything here is a function of (program, params, declared keys, context, view): no clock, no
// randomness, no locale, no iteration order that is not itself fixed by the program. Every replica
// must produce the same outcome byte for byte, so each semantic choice below is deliberate and a
// change to one is a versioned semantic change (DESIGN §3).
//
// Imports go to partitions' leaf modules rather than its index: the index also loads the LMDB store,
// and this core must stay free of I/O.

import type { Expr, FunctionName, KeyExpr, Program, RangeExpr, Stmt, UnaryOp, BinaryOp } from './program.js';
import { ProgramLimits } from './program.js';
import type { Value } from '../partitions/index.js';
import { INT64_MAX, INT64_MIN } from '../partitions/index.js';
import { encodeKey, encodeRange } from '../partitions/index.js';
import type { KeyRange, StoredRow } from '../partitions/index.js';
import { OrdoError, SqlState } from '../util/index.js';

/** Encoded keys a transaction declared: exact points and half-open ranges. */
export interface DeclaredKeys {
  readonly points: readonly Uint8Array[];
  readonly ranges: readonly KeyRange[];
}

export interface DeclaredKeySets {
  readonly reads: DeclaredKeys;
  readonly writes: DeclaredKeys;
  /**
   * The encoding of each declared point key expression. A statement that reuses the very KeyExpr
   * object it declared (as compiled plans do) gets its key from here instead of encoding it again:
   * declared expressions depend on parameters only, so the bytes are the same.
   */
  readonly encodedByExpr?: { get(expr: KeyExpr): Buffer | undefined };
  /** The parameters these sets were evaluated for, already checked then: execution need not check them again. */
  readonly checkedParams?: readonly Value[];
}

/** The store as of before this transaction; the driver provides it (the pure core never does I/O). */
export interface ReadView {
  get(key: Uint8Array): StoredRow | undefined;
  /**
   * Rows with range.lower <= key < range.upper, ascending (descending if reverse), at most `limit`
   * (a positive integer, or Infinity for no limit). The executor may stop iterating early; it then
   * calls the iterator's `return`, so a generator's `finally` can release a cursor.
   */
  scan(range: KeyRange, reverse: boolean, limit: number): Iterable<{ key: Uint8Array; row: StoredRow }>;
}

export interface ExecContext {
  /** The log position the transaction runs at. */
  readonly position: number;
  /** The batch timestamp: `now()` of every transaction in the batch, in ms since 1970. */
  readonly timestampMs: number;
  /** The transaction's index within its batch. */
  readonly txnIndex: number;
}

/** The final state of one key: its new column values, or null when deleted. */
export interface Write {
  readonly key: Uint8Array;
  readonly values: readonly Value[] | null;
  /**
   * The key's row as this transaction read it from the store before writing it (null: there was none);
   * absent when it did not read it. The store can then update its checksum without reading it again.
   */
  readonly stored?: StoredRow | null;
}

/**
 * The run-time limits; ProgramLimits by default. A driver that makes them settings must change them
 * at a log position (a control entry), like any other semantic change.
 */
export interface ExecLimits {
  readonly maxStatementsExecuted: number;
  readonly maxResultRows: number;
}

export type TxnOutcome =
  | {
      readonly status: 'committed';
      readonly rows: readonly (readonly Value[])[];
      /** One entry per written key, in ascending key order. */
      readonly writes: readonly Write[];
    }
  | { readonly status: 'aborted'; readonly code: string; readonly message: string };

// ---------------------------------------------------------------------------------------------
// Aborts

/**
 * A deterministic abort raised while evaluating. Deliberately not an Error: aborts are ordinary
 * outcomes (insufficient funds, failed OLLP prediction), so they should not pay for a stack trace,
 * and a real Error escaping from the view or from a bug must never be mistaken for one.
 * @internal
 */
export class TxnAbort {
  constructor(
    readonly code: string,
    readonly message: string,
  ) {}
}

function mismatch(message: string): TxnAbort {
  return new TxnAbort(SqlState.datatypeMismatch, message);
}

function intOutOfRange(): TxnAbort {
  return new TxnAbort(SqlState.numericValueOutOfRange, 'bigint out of range');
}

function divisionByZero(): TxnAbort {
  return new TxnAbort(SqlState.divisionByZero, 'division by zero');
}

const MSG_READ_OUTSIDE = 'program read key outside its declared read set';
const MSG_SCAN_OUTSIDE = 'program scanned range outside its declared read set';
const MSG_WRITE_OUTSIDE = 'program wrote key outside its declared write set';

// ---------------------------------------------------------------------------------------------
// Values

/** The SQL name of a value's type, for messages (PostgreSQL's names for the same domains). */
export function typeName(v: Value): string {
  if (v === null) return 'unknown';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'bigint':
      return 'bigint';
    case 'number':
      return 'double precision';
    case 'string':
      return 'text';
    default:
      return 'bytea';
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Whether a string has no lone surrogates (it would not survive UTF-8 encoding unchanged). */
export function isWellFormedString(s: string): boolean {
  if (!SURROGATE.test(s)) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false;
    const d = s.charCodeAt(i + 1);
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/**
 * Why `v` is not a valid engine value, or null when it is. Integers must fit int64 and strings must
 * be well-formed: two strings differing only in lone surrogates would encode to the same key.
 */
export function invalidValueReason(v: unknown): string | null {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return null;
  if (typeof v === 'bigint') return v < INT64_MIN || v > INT64_MAX ? 'integer outside int64' : null;
  if (typeof v === 'string') return isWellFormedString(v) ? null : 'string with a lone surrogate';
  if (v instanceof Uint8Array) return null;
  return `not an engine value (${v === undefined ? 'undefined' : typeof v})`;
}

function checkInt(r: bigint): bigint {
  if (r < INT64_MIN || r > INT64_MAX) throw intOutOfRange();
  return r;
}

/**
 * Orders two strings by Unicode code point, which is also UTF-8 byte order and so key order. JS's
 * `<` compares UTF-16 code units, which puts U+10000.. (surrogate pairs, 0xD800..) below
 * U+E000..U+FFFF; at the first differing unit, shifting surrogates above 0xFFFF-range units fixes it.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Lexicographic byte order; a JS loop beats a native call for key-sized inputs. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // Keys share their (table, index) prefix, so differences are likelier at the end.
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Numeric order across int and float. JS compares bigint with number by exact mathematical value,
 * so no precision is lost for large integers (unlike PostgreSQL, which casts int8 to float8).
 * NaN equals NaN and sorts above every other number, as in PostgreSQL and in the key encoding.
 */
function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && a !== a) return typeof b === 'number' && b !== b ? 0 : 1;
  if (typeof b === 'number' && b !== b) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SQL comparison of two non-NULL values; incompatible types abort with 42804. */
export function compareValues(a: Value, b: Value): number {
  switch (typeof a) {
    case 'bigint':
    case 'number':
      if (typeof b === 'bigint' || typeof b === 'number') return compareNumbers(a, b);
      break;
    case 'string':
      if (typeof b === 'string') return compareStrings(a, b);
      break;
    case 'boolean':
      if (typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
      break;
    default:
      if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  }
  throw mismatch(`cannot compare ${typeName(a)} with ${typeName(b)}`);
}

function intArith(op: BinaryOp, a: bigint, b: bigint): bigint {
  switch (op) {
    case '+':
      return checkInt(a + b);
    case '-':
      return checkInt(a - b);
    case '*':
      return checkInt(a * b);
    case '/':
      if (b === 0n) throw divisionByZero();
      // BigInt division truncates toward zero, as SQL requires; only MIN / -1 overflows.
      return checkInt(a / b);
    default:
      if (b === 0n) throw divisionByZero();
      // The sign follows the dividend (truncated modulo), as in PostgreSQL; MIN % -1 is 0.
      return a % b;
  }
}

function floatOverflow(): TxnAbort {
  return new TxnAbort(SqlState.numericValueOutOfRange, 'value out of range: overflow');
}

function floatUnderflow(): TxnAbort {
  return new TxnAbort(SqlState.numericValueOutOfRange, 'value out of range: underflow');
}

// Overflow and underflow are errors, as in PostgreSQL's float8 operators: an infinity or zero that the
// operands did not already imply is a lost result, not a value.
function floatArith(op: BinaryOp, a: number, b: number): number {
  let r: number;
  switch (op) {
    case '+':
      r = a + b;
      break;
    case '-':
      r = a - b;
      break;
    case '*':
      r = a * b;
      if (r === 0 && a !== 0 && b !== 0) throw floatUnderflow();
      break;
    case '/':
      if (b === 0) throw divisionByZero();
      r = a / b;
      if (r === 0 && a !== 0 && b !== Infinity && b !== -Infinity) throw floatUnderflow();
      break;
    default:
      // PostgreSQL has no float8 `%`; this is fmod (the sign follows the dividend), like the integer case.
      if (b === 0) throw divisionByZero();
      return a % b;
  }
  if ((r === Infinity || r === -Infinity) && a !== Infinity && a !== -Infinity && b !== Infinity && b !== -Infinity) {
    throw floatOverflow();
  }
  return r;
}

function arith(op: BinaryOp, a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return intArith(op, a as bigint, b as bigint);
  if ((ta === 'bigint' || ta === 'number') && (tb === 'bigint' || tb === 'number')) {
    return floatArith(op, Number(a), Number(b));
  }
  throw mismatch(`operator does not exist: ${typeName(a)} ${op} ${typeName(b)}`);
}

function concat(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  if (typeof a === 'string' && typeof b === 'string') return a + b;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    const out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }
  return toText(a) + toText(b);
}

function binary(op: BinaryOp, a: Value, b: Value): Value {
  switch (op) {
    case '=':
    case '<>':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      if (a === null || b === null) return null;
      const c = compareValues(a, b);
      switch (op) {
        case '=':
          return c === 0;
        case '<>':
          return c !== 0;
        case '<':
          return c < 0;
        case '<=':
          return c <= 0;
        case '>':
          return c > 0;
        default:
          return c >= 0;
      }
    }
    case '||':
      return concat(a, b);
    case 'and':
    case 'or':
      // Handled lazily by the evaluator; reaching here would skip three-valued short-circuiting.
      throw new TxnAbort(SqlState.internalError, `operator ${op} evaluated eagerly`);
    default:
      return arith(op, a, b);
  }
}

function checkBool(v: Value, what: string): void {
  if (v !== null && typeof v !== 'boolean') {
    throw mismatch(`argument of ${what} must be type boolean, not type ${typeName(v)}`);
  }
}

function unary(op: UnaryOp, a: Value): Value {
  switch (op) {
    case 'isnull':
      return a === null;
    case 'not':
      if (a === null) return null;
      checkBool(a, 'NOT');
      return !a;
    default:
      if (a === null) return null;
      if (typeof a === 'bigint') return checkInt(-a);
      if (typeof a === 'number') return -a;
      throw mismatch(`operator does not exist: - ${typeName(a)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Text conversions

const HEX = '0123456789abcdef';

/**
 * PostgreSQL's float8 output: the shortest digits that round-trip (JS's toExponential() without an
 * argument gives exactly those), in fixed notation when the decimal exponent is in [-4, 15) and
 * otherwise as d.ddde±XX with at least two exponent digits.
 */
export function formatFloat(x: number): string {
  if (x !== x) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sci = x.toExponential();
  const ePos = sci.indexOf('e');
  const negative = sci.charCodeAt(0) === 45; // '-'
  const mantissa = sci.slice(negative ? 1 : 0, ePos);
  const exp = Number(sci.slice(ePos + 1));
  const digits = mantissa.length > 1 ? mantissa[0] + mantissa.slice(2) : mantissa;
  const sign = negative ? '-' : '';
  if (exp >= -4 && exp < 15) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  const absExp = exp < 0 ? -exp : exp;
  return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
}

/** The canonical text of a non-NULL value (what `toText` and `||` use). */
export function toText(v: Value): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      return formatFloat(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default: {
      if (v === null) return '';
      let s = '\\x';
      for (let i = 0; i < v.length; i++) {
        const b = v[i] as number;
        s += (HEX[b >> 4] as string) + (HEX[b & 15] as string);
      }
      return s;
    }
  }
}

// PostgreSQL accepts ASCII whitespace around numeric input (isspace in the C locale), nothing else.
const INT_TEXT = /^[ \t\n\r\f\v]*([+-]?[0-9]+)[ \t\n\r\f\v]*$/;
const FLOAT_TEXT = /^[ \t\n\r\f\v]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\f\v]*$/;
const FLOAT_SPECIAL = /^[ \t\n\r\f\v]*([+-]?)(?:(inf|infinity)|(nan))[ \t\n\r\f\v]*$/i;

function parseInt64(s: string): bigint {
  const m = INT_TEXT.exec(s);
  if (m === null) {
    throw new TxnAbort(SqlState.invalidTextRepresentation, `invalid input syntax for type bigint: "${s}"`);
  }
  const r = BigInt(m[1] as string);
  if (r < INT64_MIN || r > INT64_MAX) {
    throw new TxnAbort(SqlState.numericValueOutOfRange, `value "${s}" is out of range for type bigint`);
  }
  return r;
}

function parseFloat64(s: string): number {
  const m = FLOAT_TEXT.exec(s);
  if (m === null) {
    const sp = FLOAT_SPECIAL.exec(s);
    if (sp === null || (sp[3] !== undefined && sp[1] !== '')) {
      throw new TxnAbort(SqlState.invalidTextRepresentation, `invalid input syntax for type double precision: "${s}"`);
    }
    if (sp[3] !== undefined) return Number.NaN;
    return sp[1] === '-' ? -Infinity : Infinity;
  }
  const text = m[1] as string;
  const r = Number(text);
  // Like PostgreSQL (strtod's ERANGE): a finite input that rounds to infinity or to zero is an error;
  // subnormal results are accepted.
  const mantissa = text.replace(/[eE].*$/, '');
  if (r === Infinity || r === -Infinity || (r === 0 && /[1-9]/.test(mantissa))) {
    throw new TxnAbort(SqlState.numericValueOutOfRange, `"${s}" is out of range for type double precision`);
  }
  return r;
}

/** float8 → int8 as PostgreSQL does it: round half to even (rint), then range-check. */
function floatToInt(x: number): bigint {
  if (!(x >= -9223372036854775808 && x < 9223372036854775808)) throw intOutOfRange();
  const f = Math.floor(x);
  const diff = x - f; // exact for doubles
  const r = diff < 0.5 ? f : diff > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return checkInt(BigInt(r));
}

function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

function fnMismatch(fn: FunctionName, v: Value): TxnAbort {
  return mismatch(`function ${fn}(${typeName(v)}) does not exist`);
}

/**
 * A relation name as PostgreSQL's regclass input reads it: dot-separated identifiers, each either
 * double-quoted (kept as written, "" for a quote) or bare (ASCII letters folded to lower case, as
 * PostgreSQL folds identifiers); a schema other than public does not exist here.
 */
function relationName(text: string): string {
  const parts: string[] = [];
  let i = 0;
  const bad = (): TxnAbort => new TxnAbort('42602', `invalid name syntax`);
  for (;;) {
    let part = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) throw bad();
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        }
        part += text[i];
      }
      i++;
    } else {
      while (i < text.length && text[i] !== '.') part += text[i++];
      part = part.trim().replace(/[A-Z]+/g, (m) => m.toLowerCase());
    }
    if (part === '') throw bad();
    parts.push(part);
    if (i >= text.length) break;
    if (text[i] !== '.') throw bad();
    i++;
  }
  if (parts.length > 2) throw new TxnAbort('0A000', `cross-database references are not implemented: ${text}`);
  if (parts.length === 2 && parts[0] !== 'public') throw new TxnAbort('3F000', `schema "${parts[0] ?? ''}" does not exist`);
  return parts.at(-1) ?? '';
}

/** relname() for the gateway, which resolves sequence names in DDL text: an OrdoError when invalid. */
export function relationNameOf(text: string): string {
  try {
    return relationName(text);
  } catch (err) {
    if (err instanceof TxnAbort) throw new OrdoError(err.code, err.message);
    throw err;
  }
}

/** The one-argument functions, on an already evaluated argument. */
function call1(fn: FunctionName, a: Value): Value {
  if (a === null) return null;
  switch (fn) {
    case 'abs':
      if (typeof a === 'bigint') return checkInt(a < 0n ? -a : a);
      if (typeof a === 'number') return Math.abs(a);
      throw fnMismatch(fn, a);
    case 'lower':
      // toLowerCase/toUpperCase take no locale: Unicode default case mapping, the same everywhere.
      if (typeof a === 'string') return a.toLowerCase();
      throw fnMismatch(fn, a);
    case 'upper':
      if (typeof a === 'string') return a.toUpperCase();
      throw fnMismatch(fn, a);
    case 'length':
      if (typeof a === 'string') return BigInt(codePointLength(a));
      if (a instanceof Uint8Array) return BigInt(a.length);
      throw fnMismatch(fn, a);
    case 'toInt':
      if (typeof a === 'bigint') return a;
      if (typeof a === 'number') return floatToInt(a);
      if (typeof a === 'string') return parseInt64(a);
      if (typeof a === 'boolean') return a ? 1n : 0n;
      throw fnMismatch(fn, a);
    case 'toFloat':
      if (typeof a === 'number') return a;
      if (typeof a === 'bigint') return Number(a);
      if (typeof a === 'string') return parseFloat64(a);
      throw fnMismatch(fn, a);
    case 'toText':
      return toText(a);
    case 'relname':
      if (typeof a === 'string') return relationName(a);
      throw fnMismatch(fn, a);
    case 'txnOf':
      if (typeof a === 'string') return a.split('.', 1)[0] ?? a;
      throw fnMismatch(fn, a);
    default:
      throw new TxnAbort(SqlState.internalError, `function ${fn} called with one argument`);
  }
}

// ---------------------------------------------------------------------------------------------
// Expression evaluation

/**
 * Evaluates expressions against parameters and the variables of one run. Subclassed by the
 * statement executor; used directly (with no variables) for declared key sets.
 * @internal
 */
export class ExprEvaluator {
  readonly vars = new Map<string, Value>();
  /** Row variables: the row's values, or null for "no row". Absent from the map = never bound. */
  readonly rows = new Map<string, readonly Value[] | null>();
  readonly counts = new Map<string, number>();
  protected encodedByExpr: DeclaredKeySets['encodedByExpr'];

  constructor(
    readonly params: readonly Value[],
    /** null when `now()` is not available (declared key sets are computed before a timestamp). */
    readonly timestampMs: number | null,
  ) {}

  eval(e: Expr): Value {
    switch (e.k) {
      case 'lit':
        return e.v;
      case 'param': {
        const v = this.params[e.i];
        if (v === undefined) {
          throw new TxnAbort(SqlState.invalidParameterValue, `parameter $${e.i} is not bound (${this.params.length} given)`);
        }
        return v;
      }
      case 'var': {
        const v = this.vars.get(e.name);
        if (v === undefined) throw new TxnAbort(SqlState.internalError, `variable '${e.name}' is not bound`);
        return v;
      }
      case 'col': {
        const r = this.rows.get(e.row);
        if (r === undefined) throw new TxnAbort(SqlState.internalError, `row variable '${e.row}' is not bound`);
        if (r === null) return null;
        // A row written before a column was added is shorter than the schema: the column is NULL.
        const v = r[e.i];
        return v === undefined ? null : v;
      }
      case 'found': {
        const r = this.rows.get(e.row);
        if (r === undefined) throw new TxnAbort(SqlState.internalError, `row variable '${e.row}' is not bound`);
        return r !== null;
      }
      case 'count':
        // Inside the scan's own body this is the number of rows visited so far, the current one included.
        return BigInt(this.counts.get(e.scan) ?? 0);
      case 'version':
        return this.rowVersion(e.key);
      case 'un':
        return unary(e.op, this.eval(e.a));
      case 'bin': {
        if (e.op === 'and') {
          // Three-valued AND, left to right, stopping at the first FALSE (so `false and 1/0` is false).
          const a = this.eval(e.a);
          if (a === false) return false;
          checkBool(a, 'AND');
          const b = this.eval(e.b);
          if (b === false) return false;
          checkBool(b, 'AND');
          return a === null || b === null ? null : true;
        }
        if (e.op === 'or') {
          const a = this.eval(e.a);
          if (a === true) return true;
          checkBool(a, 'OR');
          const b = this.eval(e.b);
          if (b === true) return true;
          checkBool(b, 'OR');
          return a === null || b === null ? null : false;
        }
        return binary(e.op, this.eval(e.a), this.eval(e.b));
      }
      case 'call':
        return this.call(e.fn, e.args);
      default:
        throw new TxnAbort(SqlState.internalError, `unknown expression kind '${(e as { k: unknown }).k}'`);
    }
  }

  /** Overridden by the statement executor; declared key sets have no rows to look at. */
  protected rowVersion(_key: KeyExpr): Value {
    void _key;
    throw new TxnAbort(SqlState.featureNotSupported, 'version() is not allowed in a declared key set');
  }

  private call(fn: FunctionName, args: readonly Expr[]): Value {
    switch (fn) {
      case 'coalesce':
        // Lazy, as in SQL: arguments after the first non-NULL one are not evaluated.
        for (let i = 0; i < args.length; i++) {
          const v = this.eval(args[i] as Expr);
          if (v !== null) return v;
        }
        return null;
      case 'now':
        if (this.timestampMs === null) {
          throw new TxnAbort(SqlState.featureNotSupported, 'now() is not allowed in a declared key set');
        }
        if (!Number.isFinite(this.timestampMs)) {
          throw new TxnAbort(SqlState.internalError, `batch timestamp ${this.timestampMs} is not a number of milliseconds`);
        }
        // Integer milliseconds since 1970 (the batch timestamp): the value domain has no timestamp type.
        return BigInt(Math.trunc(this.timestampMs));
      case 'greatest':
      case 'least': {
        // NULLs are ignored, as in PostgreSQL; the result takes the common type (float if any is).
        let best: Value = null;
        let sawFloat = false;
        for (let i = 0; i < args.length; i++) {
          const v = this.eval(args[i] as Expr);
          if (v === null) continue;
          if (typeof v === 'number') sawFloat = true;
          if (best === null) best = v;
          else {
            const c = compareValues(v, best);
            if (fn === 'greatest' ? c > 0 : c < 0) best = v;
          }
        }
        return sawFloat && typeof best === 'bigint' ? Number(best) : best;
      }
      default: {
        if (args.length !== 1) {
          throw new TxnAbort(SqlState.internalError, `function ${fn} takes one argument, got ${args.length}`);
        }
        return call1(fn, this.eval(args[0] as Expr));
      }
    }
  }

  evalAll(es: readonly Expr[]): Value[] {
    const out = new Array<Value>(es.length);
    for (let i = 0; i < es.length; i++) out[i] = this.eval(es[i] as Expr);
    return out;
  }

  key(k: KeyExpr): Buffer {
    const known = this.encodedByExpr?.get(k);
    if (known !== undefined) return known;
    const key = encodeKey(k.table, k.index, this.evalAll(k.parts));
    if (key.length > ProgramLimits.maxKeyBytes) {
      throw new TxnAbort(
        SqlState.programLimitExceeded,
        `key of ${key.length} bytes exceeds the maximum of ${ProgramLimits.maxKeyBytes}`,
      );
    }
    return key;
  }

  range(r: RangeExpr): KeyRange {
    const range = encodeRange(
      r.table,
      r.index,
      this.evalAll(r.lower),
      r.lowerInclusive,
      r.upper === null ? null : this.evalAll(r.upper),
      r.upperInclusive,
    );
    // Bounds are prefixes plus at most one byte.
    if (range.lower.length > ProgramLimits.maxKeyBytes + 1 || range.upper.length > ProgramLimits.maxKeyBytes + 1) {
      throw new TxnAbort(
        SqlState.programLimitExceeded,
        `range bound exceeds the maximum key size of ${ProgramLimits.maxKeyBytes} bytes`,
      );
    }
    return range;
  }
}

/** Checks bound parameters once per transaction, so the evaluator can trust every value it sees. */
export function checkParams(params: readonly Value[]): void {
  if (params.length > ProgramLimits.maxParams) {
    throw new TxnAbort(SqlState.programLimitExceeded, `more than ${ProgramLimits.maxParams} parameters`);
  }
  for (let i = 0; i < params.length; i++) {
    const why = invalidValueReason(params[i]);
    if (why !== null) throw new TxnAbort(SqlState.invalidParameterValue, `parameter $${i}: ${why}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Key-set membership

/** Above this many declared points, membership uses a sorted copy and binary search. */
const LINEAR_POINTS = 16;

class PointSet {
  private sorted: Uint8Array[] | null = null;
  constructor(private readonly lists: readonly (readonly Uint8Array[])[]) {}

  has(key: Uint8Array): boolean {
    if (this.sorted === null) {
      let total = 0;
      for (const l of this.lists) total += l.length;
      if (total <= LINEAR_POINTS) {
        // Statements that reuse a declared KeyExpr get the very buffer that was declared: try identity
        // before comparing bytes.
        for (const l of this.lists) for (let i = 0; i < l.length; i++) if (l[i] === key) return true;
        for (const l of this.lists) for (let i = 0; i < l.length; i++) if (bytesEqual(l[i] as Uint8Array, key)) return true;
        return false;
      }
      const all: Uint8Array[] = [];
      for (const l of this.lists) for (const k of l) all.push(k);
      this.sorted = all.sort(compareBytes);
    }
    const s = this.sorted;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareBytes(s[mid] as Uint8Array, key);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}

function inRanges(lists: readonly (readonly KeyRange[])[], key: Uint8Array): boolean {
  for (const l of lists) {
    for (let i = 0; i < l.length; i++) {
      const r = l[i] as KeyRange;
      if (compareBytes(r.lower, key) <= 0 && compareBytes(key, r.upper) < 0) return true;
    }
  }
  return false;
}

function rangeWithin(lists: readonly (readonly KeyRange[])[], range: KeyRange): boolean {
  for (const l of lists) {
    for (let i = 0; i < l.length; i++) {
      const r = l[i] as KeyRange;
      if (compareBytes(r.lower, range.lower) <= 0 && compareBytes(range.upper, r.upper) <= 0) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Statement execution

interface OverlayEntry {
  readonly key: Buffer;
  /** Null: deleted by this transaction. Entries are replaced, never mutated, so scans can snapshot. */
  readonly values: readonly Value[] | null;
}

/** How many store reads an execution remembers for Write.stored (matching writes to reads is linear). */
const STORED_READS_KEPT = 16;

/** Above this many written keys, overlay lookups go through a map keyed by the key's latin1 string. */
const LINEAR_OVERLAY = 16;

class Execution extends ExprEvaluator {
  private readonly overlay: OverlayEntry[] = [];
  private overlayIndex: Map<string, number> | null = null;
  private readonly out: (readonly Value[])[] = [];
  /** Point reads that went to the store, for Write.stored; bounded by STORED_READS_KEPT. */
  private readonly storedReads: { readonly key: Buffer; readonly row: StoredRow | null }[] = [];
  private steps = 0;
  private readonly maxSteps: number;
  private readonly maxRows: number;
  private readonly readPoints: PointSet;
  private readonly writePoints: PointSet;
  private readonly readRanges: readonly (readonly KeyRange[])[];
  private readonly writeRanges: readonly (readonly KeyRange[])[];
  private readonly position: number;

  constructor(
    params: readonly Value[],
    ctx: ExecContext,
    private readonly view: ReadView,
    declared: DeclaredKeySets,
    limits: Partial<ExecLimits>,
  ) {
    super(params, ctx.timestampMs);
    this.position = ctx.position;
    this.encodedByExpr = declared.encodedByExpr;
    this.maxSteps = limits.maxStatementsExecuted ?? ProgramLimits.maxStatementsExecuted;
    this.maxRows = limits.maxResultRows ?? ProgramLimits.maxResultRows;
    this.readPoints = new PointSet([declared.reads.points, declared.writes.points]);
    this.writePoints = new PointSet([declared.writes.points]);
    this.readRanges = [declared.reads.ranges, declared.writes.ranges];
    this.writeRanges = [declared.writes.ranges];
  }

  run(body: readonly Stmt[]): TxnOutcome {
    this.exec(body);
    const entries = this.overlay.slice().sort((a, b) => compareBytes(a.key, b.key));
    const writes = new Array<Write>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as OverlayEntry;
      const stored = this.storedRead(e.key);
      writes[i] = stored === undefined ? { key: e.key, values: e.values } : { key: e.key, values: e.values, stored };
    }
    return { status: 'committed', rows: this.out, writes };
  }

  private storedRead(key: Buffer): StoredRow | null | undefined {
    const reads = this.storedReads;
    // Declared keys are shared buffers, so the read and the write of a key are usually the same object.
    for (let i = 0; i < reads.length; i++) if ((reads[i] as { key: Buffer }).key === key) return (reads[i] as { row: StoredRow | null }).row;
    for (let i = 0; i < reads.length; i++) if (bytesEqual((reads[i] as { key: Buffer }).key, key)) return (reads[i] as { row: StoredRow | null }).row;
    return undefined;
  }

  private step(): void {
    if (++this.steps > this.maxSteps) {
      throw new TxnAbort(SqlState.programLimitExceeded, `program executed more than ${this.maxSteps} statements`);
    }
  }

  private overlayFind(key: Buffer): number {
    const o = this.overlay;
    if (this.overlayIndex !== null) return this.overlayIndex.get(key.toString('latin1')) ?? -1;
    for (let i = 0; i < o.length; i++) if (bytesEqual((o[i] as OverlayEntry).key, key)) return i;
    return -1;
  }

  private overlaySet(key: Buffer, values: readonly Value[] | null): void {
    const i = this.overlayFind(key);
    if (i >= 0) {
      this.overlay[i] = { key: (this.overlay[i] as OverlayEntry).key, values };
      return;
    }
    this.overlay.push({ key, values });
    if (this.overlayIndex !== null) this.overlayIndex.set(key.toString('latin1'), this.overlay.length - 1);
    else if (this.overlay.length > LINEAR_OVERLAY) {
      const index = new Map<string, number>();
      for (let j = 0; j < this.overlay.length; j++) index.set((this.overlay[j] as OverlayEntry).key.toString('latin1'), j);
      this.overlayIndex = index;
    }
  }

  private exec(stmts: readonly Stmt[]): void {
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i] as Stmt;
      this.step();
      switch (s.k) {
        case 'let':
          this.vars.set(s.name, this.eval(s.e));
          break;
        case 'get':
          this.get(s.into, s.key);
          break;
        case 'scan':
          this.scan(s);
          break;
        case 'series':
          this.series(s);
          break;
        case 'put': {
          const key = this.key(s.key);
          if (!this.writePoints.has(key) && !inRanges(this.writeRanges, key)) {
            throw new TxnAbort(SqlState.internalError, MSG_WRITE_OUTSIDE);
          }
          this.overlaySet(key, this.evalAll(s.row));
          break;
        }
        case 'delete': {
          const key = this.key(s.key);
          if (!this.writePoints.has(key) && !inRanges(this.writeRanges, key)) {
            throw new TxnAbort(SqlState.internalError, MSG_WRITE_OUTSIDE);
          }
          this.overlaySet(key, null);
          break;
        }
        case 'if': {
          const c = this.eval(s.cond);
          checkBool(c, 'IF');
          this.exec(c === true ? s.then : s.else);
          break;
        }
        case 'abort': {
          const m = this.eval(s.message);
          throw new TxnAbort(s.code, m === null ? '' : toText(m));
        }
        case 'emit':
          if (this.out.length >= this.maxRows) {
            throw new TxnAbort(SqlState.programLimitExceeded, `program emitted more than ${this.maxRows} rows`);
          }
          this.out.push(this.evalAll(s.values));
          break;
        default:
          throw new TxnAbort(SqlState.internalError, `unknown statement kind '${(s as { k: unknown }).k}'`);
      }
    }
  }

  protected override rowVersion(k: KeyExpr): Value {
    const key = this.key(k);
    if (!this.readPoints.has(key) && !inRanges(this.readRanges, key)) {
      throw new TxnAbort(SqlState.internalError, MSG_READ_OUTSIDE);
    }
    if (this.overlay.length > 0) {
      const i = this.overlayFind(key);
      // Written here: the row will carry this transaction's position (or be gone).
      if (i >= 0) return (this.overlay[i] as OverlayEntry).values === null ? null : BigInt(this.position);
    }
    const row = this.view.get(key);
    return row === undefined ? null : BigInt(row.version);
  }

  private get(into: string, k: KeyExpr): void {
    const key = this.key(k);
    if (!this.readPoints.has(key) && !inRanges(this.readRanges, key)) {
      throw new TxnAbort(SqlState.internalError, MSG_READ_OUTSIDE);
    }
    if (this.overlay.length > 0) {
      const i = this.overlayFind(key);
      if (i >= 0) {
        this.rows.set(into, (this.overlay[i] as OverlayEntry).values);
        return;
      }
    }
    const row = this.view.get(key);
    if (this.storedReads.length < STORED_READS_KEPT) this.storedReads.push({ key, row: row ?? null });
    this.rows.set(into, row === undefined ? null : row.values);
  }

  private series(s: Extract<Stmt, { k: 'series' }>): void {
    const from = this.eval(s.from);
    const to = this.eval(s.to);
    const step = this.eval(s.step);
    if (from === null || to === null || step === null) return;
    if (typeof from !== 'bigint' || typeof to !== 'bigint' || typeof step !== 'bigint') {
      throw mismatch(`function generate_series(${typeName(from)}, ${typeName(to)}, ${typeName(step)}) does not exist`);
    }
    if (step === 0n) throw new TxnAbort(SqlState.invalidParameterValue, 'step size cannot equal zero');
    // The loop variable is the body's own: an earlier binding of the name is back after the loop.
    const had = this.vars.has(s.into);
    const saved = this.vars.get(s.into);
    try {
      // Bounded by the step budget: every value costs a step.
      for (let v = from; step > 0n ? v <= to : v >= to; v += step) {
        this.step();
        this.vars.set(s.into, v);
        this.exec(s.body);
      }
    } finally {
      if (had) this.vars.set(s.into, saved as Value);
      else this.vars.delete(s.into);
    }
  }

  private scan(s: Extract<Stmt, { k: 'scan' }>): void {
    const range = this.range(s.range);
    const empty = compareBytes(range.lower, range.upper) >= 0;
    // An empty range touches no key, so it needs no declaration.
    if (!empty && !rangeWithin(this.readRanges, range)) throw new TxnAbort(SqlState.internalError, MSG_SCAN_OUTSIDE);
    let limit = Infinity;
    if (s.limit !== null) {
      const l = this.eval(s.limit);
      if (l !== null) {
        if (typeof l !== 'bigint') throw mismatch(`argument of LIMIT must be type bigint, not type ${typeName(l)}`);
        if (l < 0n) throw new TxnAbort('2201W', 'LIMIT must not be negative');
        limit = l > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(l);
      }
    }
    const into = s.into;
    const reverse = s.reverse;
    this.counts.set(into, 0);
    if (empty || limit === 0) return;

    // The range as it is now: this transaction's writes inside it, in visiting order. Later writes
    // by the body replace overlay entries rather than mutating them, so this snapshot stays put.
    const snap: OverlayEntry[] = [];
    let deletes = 0;
    for (let i = 0; i < this.overlay.length; i++) {
      const e = this.overlay[i] as OverlayEntry;
      if (compareBytes(range.lower, e.key) <= 0 && compareBytes(e.key, range.upper) < 0) {
        snap.push(e);
        if (e.values === null) deletes++;
      }
    }
    if (snap.length > 1) snap.sort(reverse ? (a, b) => compareBytes(b.key, a.key) : (a, b) => compareBytes(a.key, b.key));

    const hadBinding = this.rows.has(into);
    const saved = this.rows.get(into);
    let visited = 0;
    // Each deleted key may hide one stored row, so that many extra rows still yield `limit` visits.
    const it = this.view.scan(range, reverse, limit === Infinity ? Infinity : limit + deletes)[Symbol.iterator]();
    let finished = false;
    try {
      let v = it.next();
      let oi = 0;
      while (visited < limit) {
        let values: readonly Value[];
        if (!v.done && oi < snap.length) {
          const o = snap[oi] as OverlayEntry;
          const c = compareBytes(v.value.key, o.key);
          if (reverse ? c > 0 : c < 0) {
            values = v.value.row.values;
            v = it.next();
          } else {
            oi++;
            if (c === 0) v = it.next();
            if (o.values === null) continue;
            values = o.values;
          }
        } else if (!v.done) {
          values = v.value.row.values;
          v = it.next();
        } else if (oi < snap.length) {
          const o = snap[oi++] as OverlayEntry;
          if (o.values === null) continue;
          values = o.values;
        } else {
          finished = true;
          break;
        }
        visited++;
        this.counts.set(into, visited);
        // A visited row costs a step even with an empty body, so an unbounded scan is bounded.
        this.step();
        this.rows.set(into, values);
        this.exec(s.body);
      }
      if (v.done) finished = true;
    } finally {
      if (!finished) it.return?.();
      if (hadBinding) this.rows.set(into, saved as readonly Value[] | null);
      else this.rows.delete(into);
    }
  }
}

/**
 * Runs a validated program (see validateProgram) with its parameters, against the keys it declared
 * (see evaluateKeySets) and the store as of before it. Deterministic aborts are returned as outcomes;
 * anything thrown is a bug or a failing view, never a property of the transaction. Each executed
 * statement and each row a scan visits counts against `maxStatementsExecuted`.
 */
export function executeProgram(
  program: Program,
  params: readonly Value[],
  declared: DeclaredKeySets,
  ctx: ExecContext,
  view: ReadView,
  limits: Partial<ExecLimits> = {},
): TxnOutcome {
  try {
    if (declared.checkedParams !== params) checkParams(params);
    return new Execution(params, ctx, view, declared, limits).run(program.body);
  } catch (err) {
    if (err instanceof TxnAbort) return { status: 'aborted', code: err.code, message: err.message };
    throw err;
  }
}
