// Bound expressions: an expression after name resolution and type checking, as a closure over the
// row it is evaluated on, plus what the planner needs to know about it (type, structural key, which
// columns of its own query level it reads).

import type { RowReader } from '../../partitions/index.js';
import type { CatalogContext } from './relation.js';
import type { QType } from './qtypes.js';
import type { QValue } from './values.js';

export type Row = QValue[];

/** One execution of a query: its parameters, the rows of the enclosing queries, and its sources. */
export interface Exec {
  readonly params: readonly QValue[];
  /** Rows of the enclosing query levels, innermost last (correlated subqueries push theirs). */
  readonly outer: Row[];
  /** Results of uncorrelated subqueries and CTEs, computed once per execution. */
  readonly cache: Map<number, unknown>;
  readonly store: RowReader;
  readonly catalog: CatalogContext;
  /** The statement's now(), microseconds since 1970 (one value for the whole statement). */
  readonly nowUs: bigint;
}

export type Ev = (row: Row, x: Exec) => QValue;

export interface BExpr {
  readonly t: QType;
  /** Equal keys mean equal expressions (GROUP BY matching, DISTINCT ON / ORDER BY reuse). */
  readonly key: string;
  readonly ev: Ev;
  /** Columns of its own query level it reads (directly or through a correlated subquery). */
  readonly refs: ReadonlySet<number>;
  /** The column index when the expression is exactly a column of its own level. */
  readonly col?: number;
  /** Untyped (a string literal, NULL, an unresolved parameter): gives the expression as type `t`. */
  readonly resolve?: (t: QType) => BExpr;
  /** Has no column references at any level and no subquery: the same for every row. */
  readonly constant: boolean;
}

export const NO_REFS: ReadonlySet<number> = new Set();

export function unionRefs(xs: readonly BExpr[]): ReadonlySet<number> {
  let out: Set<number> | null = null;
  for (const x of xs) {
    if (x.refs.size === 0) continue;
    out ??= new Set();
    for (const r of x.refs) out.add(r);
  }
  return out ?? NO_REFS;
}

/** A node computed from its arguments; NULL in, NULL out unless `lenient`. */
export function strictCall(t: QType, key: string, args: readonly BExpr[], f: (vals: Exclude<QValue, null>[], x: Exec) => QValue): BExpr {
  const n = args.length;
  const evs = args.map((a) => a.ev);
  let ev: Ev;
  if (n === 1) {
    const a = evs[0] as Ev;
    ev = (row, x) => {
      const v = a(row, x);
      return v === null ? null : f([v], x);
    };
  } else if (n === 2) {
    const a = evs[0] as Ev;
    const b = evs[1] as Ev;
    ev = (row, x) => {
      const va = a(row, x);
      if (va === null) return null;
      const vb = b(row, x);
      return vb === null ? null : f([va, vb], x);
    };
  } else {
    ev = (row, x) => {
      const vals = new Array<Exclude<QValue, null>>(n);
      for (let i = 0; i < n; i++) {
        const v = (evs[i] as Ev)(row, x);
        if (v === null) return null;
        vals[i] = v;
      }
      return f(vals, x);
    };
  }
  return { t, key, ev, refs: unionRefs(args), constant: args.every((a) => a.constant) };
}

/** A node that sees NULL arguments (COALESCE, concat, IS DISTINCT FROM, …). */
export function lenientCall(t: QType, key: string, args: readonly BExpr[], f: (vals: QValue[], x: Exec) => QValue): BExpr {
  const evs = args.map((a) => a.ev);
  return {
    t,
    key,
    ev: (row, x) => f(evs.map((e) => e(row, x)), x),
    refs: unionRefs(args),
    constant: args.every((a) => a.constant),
  };
}

export function constant(t: QType, v: QValue, key: string): BExpr {
  return { t, key, ev: () => v, refs: NO_REFS, constant: true };
}

export function keyOf(name: string, args: readonly BExpr[]): string {
  return `${name}(${args.map((a) => a.key).join(',')})`;
}
