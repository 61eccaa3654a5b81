// Structural validation of programs from untrusted sources (the log, clients). The evaluator trusts
// what passes: every node has the right shape, every name it looks up is bound on every path that
// reaches it, and recursion is bounded, so evaluation can fail only in the deterministic ways the
// language defines, never by a crash.

import type { Program } from './program.js';
import { BinaryOps, Functions, ProgramLimits, UnaryOps } from './program.js';
import type { FunctionName } from './program.js';
import { OrdoError, SqlState } from '../util/index.js';
import { invalidValueReason } from './evaluate.js';

/** How many arguments each function takes: [min, max]. */
const Arity: Readonly<Record<FunctionName, readonly [number, number]>> = {
  coalesce: [1, Infinity],
  abs: [1, 1],
  now: [0, 0],
  lower: [1, 1],
  upper: [1, 1],
  length: [1, 1],
  greatest: [1, Infinity],
  least: [1, Infinity],
  toInt: [1, 1],
  toFloat: [1, 1],
  toText: [1, 1],
  relname: [1, 1],
  txnOf: [1, 1],
};

/** The fields each node kind has, besides `k`. Extra fields are rejected: they are typos or a newer format. */
const StmtFields: ReadonlyMap<string, readonly string[]> = new Map([
  ['let', ['name', 'e']],
  ['get', ['into', 'key']],
  ['scan', ['into', 'range', 'limit', 'reverse', 'body']],
  ['put', ['key', 'row']],
  ['delete', ['key']],
  ['if', ['cond', 'then', 'else']],
  ['abort', ['code', 'message']],
  ['emit', ['values']],
  ['series', ['into', 'from', 'to', 'step', 'body']],
]);

const ExprFields: ReadonlyMap<string, readonly string[]> = new Map([
  ['lit', ['v']],
  ['param', ['i']],
  ['var', ['name']],
  ['col', ['row', 'i']],
  ['found', ['row']],
  ['count', ['scan']],
  ['version', ['key']],
  ['un', ['op', 'a']],
  ['bin', ['op', 'a', 'b']],
  ['call', ['fn', 'args']],
]);

const KEY_FIELDS = ['table', 'index', 'parts'] as const;
const RANGE_FIELDS = ['table', 'index', 'lower', 'lowerInclusive', 'upper', 'upperInclusive'] as const;
const KEYSET_FIELDS = ['points', 'ranges'] as const;
const PROGRAM_FIELDS = ['reads', 'writes', 'body'] as const;

/** Statement nesting shares the expression depth limit: both bound the evaluator's recursion. */
const MAX_STMT_DEPTH = ProgramLimits.maxExprDepth;
const MAX_NAME_LENGTH = 128;
/** SQLSTATE shape; classes 00 (success), 01 (warning) and 02 (no data) are not errors. */
const ABORT_CODE = /^(?!0[012])[0-9A-Z]{5}$/;

const binaryOps: ReadonlySet<string> = new Set(BinaryOps);
const unaryOps: ReadonlySet<string> = new Set(UnaryOps);
const functions: ReadonlySet<string> = new Set(Functions);

type Obj = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' ? `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'` : typeof v;
}

/**
 * Scalar and row variables definitely bound at a point of the program, as stacks: a branch or loop
 * body pushes what it binds and is cut back to the length it started at, so nothing is copied.
 * Programs bind few names, so linear lookup is fine.
 */
interface Scope {
  readonly vars: string[];
  readonly rows: string[];
}

/** Adds to `list` every name that both `a` and `b` hold. */
function addCommon(list: string[], a: readonly string[], b: readonly string[]): void {
  for (const x of a) if (b.includes(x) && !list.includes(x)) list.push(x);
}

/**
 * Programs are validated on every submission and again as they come off the log, so the walk keeps
 * the path as a stack of segments (field names and array indexes) and formats it only on failure.
 */
class Validator {
  /** One more than the highest parameter index used: the least parameter count the program accepts. */
  paramsUsed = 0;
  private readonly scanNames = new Set<string>();
  private readonly countRefs: { readonly name: string; readonly path: string }[] = [];
  private readonly path: (string | number)[] = [];

  constructor(private readonly paramCount: number) {}

  private pathText(): string {
    let s = '';
    for (const seg of this.path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
    return s === '' ? 'program' : s;
  }

  private fail(message: string): never {
    throw new OrdoError(SqlState.invalidParameterValue, `${this.pathText()}: ${message}`);
  }

  /** Fails with the path extended by `seg`, for a field of the current node. */
  private failAt(seg: string, message: string): never {
    this.path.push(seg);
    return this.fail(message);
  }

  program(p: unknown): Program {
    const o = this.object(p, PROGRAM_FIELDS, false);
    this.path.push('reads');
    this.keySet(o.reads);
    this.path[0] = 'writes';
    this.keySet(o.writes);
    this.path[0] = 'body';
    this.stmts(o.body, { vars: [], rows: [] }, 1);
    this.path.pop();
    for (const ref of this.countRefs) {
      if (!this.scanNames.has(ref.name)) {
        throw new OrdoError(SqlState.invalidParameterValue, `${ref.path}: count refers to no scan named '${ref.name}'`);
      }
    }
    return p as Program;
  }

  private object(v: unknown, fields: readonly string[], kindField: boolean): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`expected an object, got ${describe(v)}`);
    // for-in (no array per node, unlike Object.keys); inherited names are skipped, as a decoder may
    // hand over class instances whose prototypes carry enumerable methods.
    for (const name in v) {
      if (!(kindField && name === 'k') && !fields.includes(name) && Object.hasOwn(v, name)) this.fail(`unknown field '${name}'`);
    }
    return v as Obj;
  }

  private array(v: unknown, seg: string): readonly unknown[] {
    if (!Array.isArray(v)) this.failAt(seg, `expected an array, got ${describe(v)}`);
    return v;
  }

  private bool(v: unknown, seg: string): void {
    if (typeof v !== 'boolean') this.failAt(seg, `expected a boolean, got ${describe(v)}`);
  }

  private index(v: unknown, seg: string, what: string): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.failAt(seg, `expected ${what} (a non-negative integer), got ${describe(v)}`);
    }
  }

  private name(v: unknown, seg: string): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH) {
      this.failAt(seg, `expected a name (a string of 1 to ${MAX_NAME_LENGTH} characters), got ${describe(v)}`);
    }
    return v;
  }

  private keySet(v: unknown): void {
    const o = this.object(v, KEYSET_FIELDS, false);
    const points = this.array(o.points, 'points');
    const ranges = this.array(o.ranges, 'ranges');
    const path = this.path;
    path.push('points', 0);
    for (let i = 0; i < points.length; i++) {
      path[path.length - 1] = i;
      this.key(points[i], null);
    }
    path[path.length - 2] = 'ranges';
    for (let i = 0; i < ranges.length; i++) {
      path[path.length - 1] = i;
      this.range(ranges[i], null);
    }
    path.pop();
    path.pop();
  }

  /** `scope` null: a declared key set, where only literals, parameters and operators are allowed. */
  private key(v: unknown, scope: Scope | null): void {
    const o = this.object(v, KEY_FIELDS, false);
    this.index(o.table, 'table', 'a table id');
    this.index(o.index, 'index', 'an index id');
    this.exprs(o.parts, 'parts', scope);
  }

  /** Validates the key at field `seg` of the current node. */
  private keyAt(v: unknown, seg: string, scope: Scope): void {
    this.path.push(seg);
    this.key(v, scope);
    this.path.pop();
  }

  private range(v: unknown, scope: Scope | null): void {
    const o = this.object(v, RANGE_FIELDS, false);
    this.index(o.table, 'table', 'a table id');
    this.index(o.index, 'index', 'an index id');
    this.exprs(o.lower, 'lower', scope);
    this.bool(o.lowerInclusive, 'lowerInclusive');
    if (o.upper !== null) this.exprs(o.upper, 'upper', scope);
    this.bool(o.upperInclusive, 'upperInclusive');
  }

  /** Validates the expression list at field `seg` of the current node. */
  private exprs(v: unknown, seg: string, scope: Scope | null): void {
    const list = this.array(v, seg);
    const path = this.path;
    path.push(seg, 0);
    for (let i = 0; i < list.length; i++) {
      path[path.length - 1] = i;
      this.expr(list[i], scope, 1);
    }
    path.pop();
    path.pop();
  }

  /** Validates the expression at field `seg` of the current node. */
  private exprAt(v: unknown, seg: string, scope: Scope | null, depth: number): void {
    this.path.push(seg);
    this.expr(v, scope, depth);
    this.path.pop();
  }

  /** Validates the statement list at field `seg` of the current node (or the program's body). */
  private stmts(v: unknown, scope: Scope, depth: number): void {
    if (depth > MAX_STMT_DEPTH) this.fail(`statements nested deeper than ${MAX_STMT_DEPTH}`);
    if (!Array.isArray(v)) this.fail(`expected an array, got ${describe(v)}`);
    const list = v as readonly unknown[];
    const path = this.path;
    path.push(0);
    for (let i = 0; i < list.length; i++) {
      path[path.length - 1] = i;
      this.stmt(list[i], scope, depth);
    }
    path.pop();
  }

  private stmtsAt(v: unknown, seg: string, scope: Scope, depth: number): void {
    this.path.push(seg);
    this.stmts(v, scope, depth);
    this.path.pop();
  }

  /**
   * A loop's body, with its variable `into` bound (in `names`: the scope's rows or vars). The body
   * may run zero times, so nothing it binds is bound after the loop, and the variable is the loop's
   * own (the evaluator restores any earlier binding of the name).
   */
  private loopBody(body: unknown, scope: Scope, depth: number, names: string[], into: string): void {
    const nVars = scope.vars.length;
    const nRows = scope.rows.length;
    names.push(into);
    this.stmtsAt(body, 'body', scope, depth + 1);
    scope.vars.length = nVars;
    scope.rows.length = nRows;
  }

  /** Checks one statement and updates `scope` with what it binds. */
  private stmt(v: unknown, scope: Scope, depth: number): void {
    const k = typeof v === 'object' && v !== null ? (v as Obj).k : undefined;
    if (typeof k !== 'string') this.fail(`expected a statement (an object with a string 'k'), got ${describe(v)}`);
    const fields = StmtFields.get(k);
    if (fields === undefined) this.fail(`unknown statement kind ${describe(k)}`);
    const o = this.object(v, fields, true);
    switch (k) {
      case 'let': {
        const name = this.name(o.name, 'name');
        // Checked before binding: `let x = x + 1` needs an earlier x.
        this.exprAt(o.e, 'e', scope, 1);
        if (!scope.vars.includes(name)) scope.vars.push(name);
        return;
      }
      case 'get': {
        const into = this.name(o.into, 'into');
        this.keyAt(o.key, 'key', scope);
        if (!scope.rows.includes(into)) scope.rows.push(into);
        return;
      }
      case 'scan': {
        const into = this.name(o.into, 'into');
        if (this.scanNames.has(into)) this.failAt('into', `scan name '${into}' is already used by another scan`);
        this.scanNames.add(into);
        this.path.push('range');
        this.range(o.range, scope);
        this.path.pop();
        if (o.limit !== null) this.exprAt(o.limit, 'limit', scope, 1);
        this.bool(o.reverse, 'reverse');
        this.loopBody(o.body, scope, depth, scope.rows, into);
        return;
      }
      case 'put':
        this.keyAt(o.key, 'key', scope);
        this.exprs(o.row, 'row', scope);
        return;
      case 'delete':
        this.keyAt(o.key, 'key', scope);
        return;
      case 'if': {
        this.exprAt(o.cond, 'cond', scope, 1);
        const nVars = scope.vars.length;
        const nRows = scope.rows.length;
        this.stmtsAt(o.then, 'then', scope, depth + 1);
        if (scope.vars.length === nVars && scope.rows.length === nRows) {
          // The then branch bound nothing new, so the if binds nothing new.
          this.stmtsAt(o.else, 'else', scope, depth + 1);
          scope.vars.length = nVars;
          scope.rows.length = nRows;
          return;
        }
        const thenVars = scope.vars.splice(nVars);
        const thenRows = scope.rows.splice(nRows);
        this.stmtsAt(o.else, 'else', scope, depth + 1);
        const elseVars = scope.vars.splice(nVars);
        const elseRows = scope.rows.splice(nRows);
        // Bound after the if only when bound on both branches.
        addCommon(scope.vars, thenVars, elseVars);
        addCommon(scope.rows, thenRows, elseRows);
        return;
      }
      case 'series': {
        const into = this.name(o.into, 'into');
        this.exprAt(o.from, 'from', scope, 1);
        this.exprAt(o.to, 'to', scope, 1);
        this.exprAt(o.step, 'step', scope, 1);
        this.loopBody(o.body, scope, depth, scope.vars, into);
        return;
      }
      case 'abort':
        if (typeof o.code !== 'string' || !ABORT_CODE.test(o.code)) {
          this.failAt('code', `expected a SQLSTATE error code (5 characters 0-9A-Z, not class 00-02), got ${describe(o.code)}`);
        }
        this.exprAt(o.message, 'message', scope, 1);
        return;
      default: // emit
        this.exprs(o.values, 'values', scope);
    }
  }

  private expr(v: unknown, scope: Scope | null, depth: number): void {
    if (depth > ProgramLimits.maxExprDepth) this.fail(`expression nested deeper than ${ProgramLimits.maxExprDepth}`);
    const k = typeof v === 'object' && v !== null ? (v as Obj).k : undefined;
    if (typeof k !== 'string') this.fail(`expected an expression (an object with a string 'k'), got ${describe(v)}`);
    const fields = ExprFields.get(k);
    if (fields === undefined) this.fail(`unknown expression kind ${describe(k)}`);
    const o = this.object(v, fields, true);
    if (scope === null && (k === 'var' || k === 'col' || k === 'found' || k === 'count' || k === 'version')) {
      this.fail(`expression kind '${k}' is not allowed in a declared key set (only literals, parameters and operators)`);
    }
    switch (k) {
      case 'lit': {
        if (!Object.hasOwn(o, 'v')) this.fail(`missing field 'v'`);
        const why = invalidValueReason(o.v);
        if (why !== null) this.failAt('v', why);
        return;
      }
      case 'param':
        if (typeof o.i !== 'number' || !Number.isInteger(o.i) || o.i < 0 || o.i >= this.paramCount) {
          this.failAt('i', `parameter index ${describe(o.i)} is not below the parameter count ${this.paramCount}`);
        }
        if (o.i >= this.paramsUsed) this.paramsUsed = o.i + 1;
        return;
      case 'var': {
        const name = this.name(o.name, 'name');
        if (scope !== null && !scope.vars.includes(name)) this.fail(`variable '${name}' is used before it is bound`);
        return;
      }
      case 'col':
      case 'found': {
        const row = this.name(o.row, 'row');
        if (scope !== null && !scope.rows.includes(row)) this.fail(`row variable '${row}' is used before it is bound`);
        if (k === 'col') this.index(o.i, 'i', 'a column index');
        return;
      }
      case 'count':
        // Resolved at the end: a count may precede its scan (it is 0 until the scan runs).
        this.countRefs.push({ name: this.name(o.scan, 'scan'), path: this.pathText() });
        return;
      case 'version':
        this.keyAt(o.key, 'key', scope as Scope);
        return;
      case 'un':
        if (typeof o.op !== 'string' || !unaryOps.has(o.op)) this.failAt('op', `unknown unary operator ${describe(o.op)}`);
        this.exprAt(o.a, 'a', scope, depth + 1);
        return;
      case 'bin':
        if (typeof o.op !== 'string' || !binaryOps.has(o.op)) this.failAt('op', `unknown binary operator ${describe(o.op)}`);
        this.exprAt(o.a, 'a', scope, depth + 1);
        this.exprAt(o.b, 'b', scope, depth + 1);
        return;
      default: {
        // call
        if (typeof o.fn !== 'string' || !functions.has(o.fn)) this.failAt('fn', `unknown function ${describe(o.fn)}`);
        const fn = o.fn as FunctionName;
        // The key set is evaluated before the transaction has a timestamp.
        if (scope === null && fn === 'now') this.fail(`now() is not allowed in a declared key set`);
        const args = this.array(o.args, 'args');
        const [min, max] = Arity[fn];
        if (args.length < min || args.length > max) {
          const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
          this.failAt('args', `${fn} takes ${want} argument${want === '1' ? '' : 's'}, got ${args.length}`);
        }
        const path = this.path;
        path.push('args', 0);
        for (let i = 0; i < args.length; i++) {
          path[path.length - 1] = i;
          this.expr(args[i], scope, depth + 1);
        }
        path.pop();
        path.pop();
      }
    }
  }
}

/**
 * Programs already validated, with the least parameter count each accepts. A plan is compiled once
 * and submitted many times, and each submission is validated by the gateway and again by the
 * scheduler, so the same object is seen over and over. Programs are immutable values (every type in
 * program.ts is readonly); one mutated after validation would be stale here.
 */
const validated = new WeakMap<object, number>();

/**
 * Checks that `program` (decoded from the log or sent by a client) is a well-formed Program for
 * `paramCount` bound parameters, and returns it typed. Throws OrdoError 22023 whose message starts
 * with the path of the offending node, e.g. `body[2].then[0].key.parts[1]: unknown expression kind 'foo'`.
 *
 * The returned value is the input itself (no copy); it must not be mutated afterwards.
 */
export function validateProgram(program: unknown, paramCount: number): Program {
  if (!Number.isSafeInteger(paramCount) || paramCount < 0 || paramCount > ProgramLimits.maxParams) {
    throw new OrdoError(
      SqlState.invalidParameterValue,
      `parameter count ${paramCount} is not an integer from 0 to ${ProgramLimits.maxParams}`,
    );
  }
  if (typeof program === 'object' && program !== null) {
    const needs = validated.get(program);
    if (needs !== undefined && paramCount >= needs) return program as Program;
  }
  const v = new Validator(paramCount);
  const valid = v.program(program);
  validated.set(valid, v.paramsUsed);
  return valid;
}

/**
 * Checks that bound parameters are engine values the log can record: an int64, a float, a well-formed
 * string, bytes, a boolean or NULL. The gateway calls it before sequencing, so one bad value is that
 * client's error instead of a batch the log cannot encode.
 */
export function validateParams(params: readonly unknown[]): void {
  if (params.length > ProgramLimits.maxParams) {
    throw new OrdoError(SqlState.programLimitExceeded, `more than ${ProgramLimits.maxParams} parameters`);
  }
  for (let i = 0; i < params.length; i++) {
    const why = invalidValueReason(params[i]);
    if (why !== null) throw new OrdoError(SqlState.invalidParameterValue, `parameter $${i}: ${why}`);
  }
}
