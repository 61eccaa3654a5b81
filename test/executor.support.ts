// Shared by the executor tests: an in-memory ReadView, program builders and a one-call runner.

import type { Expr, KeyExpr, Program, RangeExpr, Stmt, BinaryOp, UnaryOp, FunctionName, KeySetExpr } from '../src/executor/program.js';
import {
  evaluateKeySets,
  executeProgram,
  validateProgram,
  type ExecContext,
  type ReadView,
  type TxnOutcome,
} from '../src/executor/index.js';
import { compareKeys, encodeKey, type KeyRange, type StoredRow } from '../src/partitions/index.js';
import type { Value } from '../src/partitions/index.js';

export const T = 3;

/** A sorted array of rows; records how scans were asked for and how far they were consumed. */
export class MemView implements ReadView {
  readonly entries: { key: Buffer; row: StoredRow }[] = [];
  readonly scanCalls: { limit: number; pulled: number; closed: boolean }[] = [];

  /** Rows of table T, index 0, keyed by their first column. */
  static of(rows: readonly (readonly Value[])[]): MemView {
    const v = new MemView();
    for (const r of rows) v.set(encodeKey(T, 0, [r[0] as Value]), r);
    return v;
  }

  set(key: Buffer, values: readonly Value[]): void {
    const i = this.entries.findIndex((e) => compareKeys(e.key, key) >= 0);
    const entry = { key, row: { version: 1, values } };
    if (i < 0) this.entries.push(entry);
    else if (compareKeys(this.entries[i]!.key, key) === 0) this.entries[i] = entry;
    else this.entries.splice(i, 0, entry);
  }

  get(key: Uint8Array): StoredRow | undefined {
    return this.entries.find((e) => compareKeys(e.key, key) === 0)?.row;
  }

  scan(range: KeyRange, reverse: boolean, limit: number): Iterable<{ key: Uint8Array; row: StoredRow }> {
    const rows = this.entries.filter((e) => compareKeys(range.lower, e.key) <= 0 && compareKeys(e.key, range.upper) < 0);
    if (reverse) rows.reverse();
    const call = { limit, pulled: 0, closed: false };
    this.scanCalls.push(call);
    return (function* () {
      try {
        for (const r of rows.slice(0, limit)) {
          call.pulled++;
          yield r;
        }
      } finally {
        call.closed = true;
      }
    })();
  }
}

export const lit = (v: Value): Expr => ({ k: 'lit', v });
export const p = (i: number): Expr => ({ k: 'param', i });
export const v = (name: string): Expr => ({ k: 'var', name });
export const col = (row: string, i: number): Expr => ({ k: 'col', row, i });
export const found = (row: string): Expr => ({ k: 'found', row });
export const count = (scan: string): Expr => ({ k: 'count', scan });
export const un = (op: UnaryOp, a: Expr): Expr => ({ k: 'un', op, a });
export const bin = (op: BinaryOp, a: Expr, b: Expr): Expr => ({ k: 'bin', op, a, b });
export const call = (fn: FunctionName, ...args: Expr[]): Expr => ({ k: 'call', fn, args });
/** A key of table T, index 0. */
export const key = (...parts: Expr[]): KeyExpr => ({ table: T, index: 0, parts });
export const range = (lower: Expr[], lowerInclusive: boolean, upper: Expr[] | null, upperInclusive: boolean): RangeExpr => ({
  table: T,
  index: 0,
  lower,
  lowerInclusive,
  upper,
  upperInclusive,
});
/** The whole of table T, index 0. */
export const wholeTable = range([], true, null, false);
export const none: KeySetExpr = { points: [], ranges: [] };
export const all: KeySetExpr = { points: [], ranges: [wholeTable] };

export const get = (into: string, k: KeyExpr): Stmt => ({ k: 'get', into, key: k });
export const put = (k: KeyExpr, ...row: Expr[]): Stmt => ({ k: 'put', key: k, row });
export const del = (k: KeyExpr): Stmt => ({ k: 'delete', key: k });
export const emit = (...values: Expr[]): Stmt => ({ k: 'emit', values });
export const let_ = (name: string, e: Expr): Stmt => ({ k: 'let', name, e });
export const if_ = (cond: Expr, then: Stmt[], else_: Stmt[] = []): Stmt => ({ k: 'if', cond, then, else: else_ });
export const abort = (code: string, message: Expr): Stmt => ({ k: 'abort', code, message });
export const scan = (into: string, r: RangeExpr, body: Stmt[], opts: { limit?: Expr; reverse?: boolean } = {}): Stmt => ({
  k: 'scan',
  into,
  range: r,
  limit: opts.limit ?? null,
  reverse: opts.reverse ?? false,
  body,
});

export const ctx: ExecContext = { position: 42, timestampMs: 1_700_000_000_123, txnIndex: 0 };

/** Validates, evaluates the key sets and executes, as the scheduler does. */
export function run(program: Program, params: readonly Value[] = [], view: ReadView = new MemView(), c: ExecContext = ctx): TxnOutcome {
  const valid = validateProgram(program, params.length);
  return executeProgram(valid, params, evaluateKeySets(valid, params), c, view);
}

/** The value of one expression (a program that emits it), or the abort it causes. */
export function evalExpr(e: Expr, params: readonly Value[] = []): Value | { code: string; message: string } {
  const out = run({ reads: none, writes: none, body: [emit(e)] }, params);
  if (out.status === 'aborted') return { code: out.code, message: out.message };
  return out.rows[0]![0]!;
}

/** Rows of the committed outcome; fails the test with the abort otherwise. */
export function committed(out: TxnOutcome): Extract<TxnOutcome, { status: 'committed' }> {
  if (out.status !== 'committed') throw new Error(`expected a commit, got ${out.code}: ${out.message}`);
  return out;
}
