// Declared key sets: what a program says it may read and write, evaluated for one transaction's
// parameters before it runs, so the scheduler can lock exactly those keys in log order.

import type { KeyExpr, KeySetExpr, Program, RangeExpr } from './program.js';
import type { Value } from '../partitions/index.js';
import type { KeyRange } from '../partitions/index.js';
import { OrdoError } from '../util/index.js';
import { ExprEvaluator, TxnAbort, checkParams } from './evaluate.js';
import type { DeclaredKeySets } from './evaluate.js';

export type { DeclaredKeys, DeclaredKeySets } from './evaluate.js';

/**
 * Where a program's declared point keys go: one slot per distinct KeyExpr object (a key declared as both
 * read and written is encoded once), and the slot of each declared point, in declaration order. Built
 * once per program object; a compiled plan's program is submitted again and again.
 */
interface PointLayout {
  readonly slotOf: ReadonlyMap<KeyExpr, number>;
  readonly exprs: readonly KeyExpr[];
  readonly readSlots: readonly number[];
  readonly writeSlots: readonly number[];
}

const layouts = new WeakMap<Program, PointLayout>();

function layoutOf(program: Program): PointLayout {
  let layout = layouts.get(program);
  if (layout !== undefined) return layout;
  const slotOf = new Map<KeyExpr, number>();
  const exprs: KeyExpr[] = [];
  const slotsFor = (points: readonly KeyExpr[]): number[] =>
    points.map((expr) => {
      let slot = slotOf.get(expr);
      if (slot === undefined) {
        slot = exprs.push(expr) - 1;
        slotOf.set(expr, slot);
      }
      return slot;
    });
  const readSlots = slotsFor(program.reads.points);
  layout = { slotOf, exprs, readSlots, writeSlots: slotsFor(program.writes.points) };
  layouts.set(program, layout);
  return layout;
}

/** A transaction's encoded point keys, looked up by the KeyExpr that declared them. */
class EncodedPoints {
  constructor(
    private readonly slotOf: ReadonlyMap<KeyExpr, number>,
    private readonly keys: readonly Buffer[],
  ) {}

  get(expr: KeyExpr): Buffer | undefined {
    const slot = this.slotOf.get(expr);
    return slot === undefined ? undefined : this.keys[slot];
  }
}

function pointsAt(keys: readonly Buffer[], slots: readonly number[]): Uint8Array[] {
  const out = new Array<Uint8Array>(slots.length);
  for (let i = 0; i < slots.length; i++) out[i] = keys[slots[i] as number] as Buffer;
  return out;
}

function rangesOf(ev: ExprEvaluator, set: KeySetExpr): KeyRange[] {
  const ranges = new Array<KeyRange>(set.ranges.length);
  for (let i = 0; i < set.ranges.length; i++) ranges[i] = ev.range(set.ranges[i] as RangeExpr);
  return ranges;
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
    const layout = layoutOf(program);
    const keys = new Array<Buffer>(layout.exprs.length);
    for (let i = 0; i < keys.length; i++) keys[i] = ev.key(layout.exprs[i] as KeyExpr);
    return {
      reads: { points: pointsAt(keys, layout.readSlots), ranges: rangesOf(ev, program.reads) },
      writes: { points: pointsAt(keys, layout.writeSlots), ranges: rangesOf(ev, program.writes) },
      encodedByExpr: new EncodedPoints(layout.slotOf, keys),
      checkedParams: params,
    };
  } catch (err) {
    if (err instanceof TxnAbort) throw new OrdoError(err.code, err.message);
    throw err;
  }
}
