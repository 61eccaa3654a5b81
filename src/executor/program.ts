// Transaction programs: the small deterministic language the SQL layer compiles to and the log carries.
//
// A program is a template: its literals are fixed, its parameters ($0, $1, …) are bound per
// transaction. It declares the keys it may read and write up front (points and primary-key ranges),
// computed from parameters and literals only, so the scheduler can lock them before it runs. Running
// outside the declared sets is a deterministic abort, never a silent success.
//
// Keys are tuples `[tableId, indexId, ...keyParts]`, encoded order-preserving by `partitions`.

import type { Value } from '../partitions/index.js';

export const BinaryOps = [
  '+', '-', '*', '/', '%',
  '=', '<>', '<', '<=', '>', '>=',
  'and', 'or', '||',
] as const;
export type BinaryOp = (typeof BinaryOps)[number];

export const UnaryOps = ['not', 'neg', 'isnull'] as const;
export type UnaryOp = (typeof UnaryOps)[number];

/**
 * Deterministic built-in functions. `now` is the batch timestamp, never the wall clock. `relname`
 * reads a relation name as PostgreSQL's regclass input does (`s`, `"S"`, `public.s`: unquoted parts
 * fold ASCII letters to lower case), for nextval('s'); `txnOf` is the transaction part of a
 * hidden-row-id parameter (the text before its first '.'), for currval. Both added in log schema v7.
 */
export const Functions = [
  'coalesce', 'abs', 'now', 'lower', 'upper', 'length', 'greatest', 'least',
  'toInt', 'toFloat', 'toText', 'relname', 'txnOf',
] as const;
export type FunctionName = (typeof Functions)[number];

export type Expr =
  | { readonly k: 'lit'; readonly v: Value }
  /** The i-th bound parameter. */
  | { readonly k: 'param'; readonly i: number }
  /** A scalar variable bound by `let`. */
  | { readonly k: 'var'; readonly name: string }
  /** Column i of a row variable (bound by `get` or by a `scan` loop); NULL when the row is absent. */
  | { readonly k: 'col'; readonly row: string; readonly i: number }
  /** TRUE when a row variable holds a row (the `get` found one). */
  | { readonly k: 'found'; readonly row: string }
  /** The number of rows a finished `scan` visited (0 before it has run). */
  | { readonly k: 'count'; readonly scan: string }
  /**
   * The version of the row stored at `key` — the log position of its last write — or NULL when there
   * is no row; a row this transaction wrote has the transaction's own position. Must be in the read
   * set. Lets a program check that a row is still as a client saw it (`version(key) = seen`).
   */
  | { readonly k: 'version'; readonly key: KeyExpr }
  | { readonly k: 'un'; readonly op: UnaryOp; readonly a: Expr }
  | { readonly k: 'bin'; readonly op: BinaryOp; readonly a: Expr; readonly b: Expr }
  | { readonly k: 'call'; readonly fn: FunctionName; readonly args: readonly Expr[] };

/** A point key: `[table, index, ...parts]`. */
export interface KeyExpr {
  readonly table: number;
  readonly index: number;
  readonly parts: readonly Expr[];
}

/**
 * A primary-key range within one (table, index). Bounds are key-part prefixes: an empty `lower`
 * means from the first key of the index, a null `upper` means to its last key. An inclusive bound
 * includes every key that starts with it (so `[5]..[5]` inclusive is every key whose first part is 5).
 */
export interface RangeExpr {
  readonly table: number;
  readonly index: number;
  readonly lower: readonly Expr[];
  readonly lowerInclusive: boolean;
  readonly upper: readonly Expr[] | null;
  readonly upperInclusive: boolean;
}

/** What a program declares it may touch: evaluated from parameters and literals only. */
export interface KeySetExpr {
  readonly points: readonly KeyExpr[];
  readonly ranges: readonly RangeExpr[];
}

export type Stmt =
  /** Binds a scalar variable. */
  | { readonly k: 'let'; readonly name: string; readonly e: Expr }
  /** Reads one row into a row variable (absent rows bind to "no row"). Must be in the read set. */
  | { readonly k: 'get'; readonly into: string; readonly key: KeyExpr }
  /**
   * Visits the rows of a range in key order (or reverse), at most `limit` of them, binding each to
   * `into` and running `body`. Writes made earlier in the same transaction are visible; writes made
   * by the body to rows not yet visited are not (the scan works on the range as it was when it
   * started). After the loop, `{k:'count', scan: into}` is the number of rows visited.
   */
  | {
      readonly k: 'scan';
      readonly into: string;
      readonly range: RangeExpr;
      readonly limit: Expr | null;
      readonly reverse: boolean;
      readonly body: readonly Stmt[];
    }
  /** Writes a whole row. Must be in the write set. */
  | { readonly k: 'put'; readonly key: KeyExpr; readonly row: readonly Expr[] }
  /** Deletes a row (a no-op when absent). Must be in the write set. */
  | { readonly k: 'delete'; readonly key: KeyExpr }
  /** NULL conditions count as false (SQL's three-valued logic). */
  | { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] }
  /** Ends the transaction with no effect and this SQLSTATE code and message. */
  | { readonly k: 'abort'; readonly code: string; readonly message: Expr }
  /** Appends one row to the transaction's result. */
  | { readonly k: 'emit'; readonly values: readonly Expr[] }
  /**
   * Binds the scalar variable `into` to from, from + step, … while not past `to` (below it for a
   * negative step) and runs `body` for each: generate_series. NULL bounds or step run nothing; a zero
   * step aborts (22023). Each value costs a step, like a scanned row. Added in log schema v6.
   */
  | {
      readonly k: 'series';
      readonly into: string;
      readonly from: Expr;
      readonly to: Expr;
      readonly step: Expr;
      readonly body: readonly Stmt[];
    };

export interface Program {
  readonly reads: KeySetExpr;
  readonly writes: KeySetExpr;
  readonly body: readonly Stmt[];
}

/** Limits that keep one program from running away with a node; exceeding one is a deterministic abort. */
export const ProgramLimits = {
  maxStatementsExecuted: 1_000_000,
  maxResultRows: 1_000_000,
  maxKeyBytes: 1_000,
  maxExprDepth: 64,
  maxParams: 65_535,
} as const;
