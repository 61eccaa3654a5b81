// Declared key sets: what a program says it may read and write, evaluated for one transaction's
// parameters before it runs, so the scheduler can lock exactly those keys in log order.

import type { KeyExpr, KeySetExpr, Program, RangeExpr } from './program.js';
import type { Value } from '../partitions/index.js';
import type { KeyRange } from '../partitions/index.js';
import { OrdoError } from '../util/index.js';
import { ExprEvaluator, TxnAbort, checkParams } from './evaluate.js';
import type { DeclaredKeys, DeclaredKeySets } from './evaluate.js';

export type { DeclaredKeys, DeclaredKeySets } from './evaluate.js';

function evalKeySet(ev: ExprEvaluator, set: KeySetExpr, encoded: Map<KeyExpr, Buffer>): DeclaredKeys {
  const points = new Array<Uint8Array>(set.points.length);
  for (let i = 0; i < set.points.length; i++) {
    const expr = set.points[i] as KeyExpr;
    const key = encoded.get(expr) ?? ev.key(expr);
    encoded.set(expr, key);
    points[i] = key;
  }
  const ranges = new Array<KeyRange>(set.ranges.length);
  for (let i = 0; i < set.ranges.length; i++) ranges[i] = ev.range(set.ranges[i] as RangeExpr);
  return { points, ranges };
}

/**
 * Evaluates a validated program's declared read and write sets for `params`, in declaration order
 * (duplicates kept; the lock manager may sort and merge). The expressions are literals, parameters
 * and operators only, so no store access and no timestamp are needed.
 *
 * Throws OrdoError carrying the SQLSTATE of what went wrong (a bad parameter, division by zero, a key
 * over ProgramLimits.maxKeyBytes). That is a property of the transaction, so the caller should turn
 * it into a deterministic abort of the transaction, the same on every replica.
 */
export function evaluateKeySets(program: Program, params: readonly Value[]): DeclaredKeySets {
  try {
    checkParams(params);
    const ev = new ExprEvaluator(params, null);
    const encodedByExpr = new Map<KeyExpr, Buffer>();
    return {
      reads: evalKeySet(ev, program.reads, encodedByExpr),
      writes: evalKeySet(ev, program.writes, encodedByExpr),
      encodedByExpr,
    };
  } catch (err) {
    if (err instanceof TxnAbort) throw new OrdoError(err.code, err.message);
    throw err;
  }
}
