// Engine workloads as transaction programs: Calvin's microbenchmark and single-key updates.
// Each workload builds its programs once, so batches carry each program a single time.

import type { Expr, KeyExpr, Program, Stmt } from '../src/executor/index.js';
import type { Value } from '../src/partitions/index.js';
import { seededRandom } from '../src/util/index.js';

export const MICRO_TABLE = 1;
const PRIMARY = 0;

const param = (i: number): Expr => ({ k: 'param', i });
const lit = (v: Value): Expr => ({ k: 'lit', v });
const key = (id: Expr): KeyExpr => ({ table: MICRO_TABLE, index: PRIMARY, parts: [id] });
/** The key at parameter i, one object per i: statements that reuse a declared key skip re-encoding it. */
const paramKeys = new Map<number, KeyExpr>();
const keyAt = (i: number): KeyExpr => {
  let k = paramKeys.get(i);
  if (k === undefined) paramKeys.set(i, (k = key(param(i))));
  return k;
};

/** A row of the micro table: [id, counter, padding]. */
export function microRow(id: number): Value[] {
  return [BigInt(id), 0n, 'x'.repeat(40)];
}

/** Inserts `rowsPerTxn` rows whose [id, counter, pad] are parameters 3i..3i+2. */
export function loaderProgram(rowsPerTxn: number): Program {
  const points: KeyExpr[] = [];
  const body: Stmt[] = [];
  for (let i = 0; i < rowsPerTxn; i++) {
    points.push(keyAt(3 * i));
    body.push({ k: 'put', key: keyAt(3 * i), row: [param(3 * i), param(3 * i + 1), param(3 * i + 2)] });
  }
  return { reads: { points: [], ranges: [] }, writes: { points, ranges: [] }, body };
}

function missingRowAbort(row: string): Stmt {
  return {
    k: 'if',
    cond: { k: 'un', op: 'not', a: { k: 'found', row } },
    then: [{ k: 'abort', code: 'P0002', message: lit(`row ${row} is missing`) }],
    else: [],
  };
}

/** Reads one row (parameter 0) and increments its counter. */
export function updateProgram(): Program {
  return {
    reads: { points: [keyAt(0)], ranges: [] },
    writes: { points: [keyAt(0)], ranges: [] },
    body: [
      { k: 'get', into: 'r', key: keyAt(0) },
      missingRowAbort('r'),
      {
        k: 'put',
        key: keyAt(0),
        row: [param(0), { k: 'bin', op: '+', a: { k: 'col', row: 'r', i: 1 }, b: lit(1n) }, { k: 'col', row: 'r', i: 2 }],
      },
    ],
  };
}

/**
 * Calvin's microbenchmark transaction: reads 10 records — one hot (parameter 0) and nine cold
 * (parameters 1..9) — and updates the hot one by the sum of the cold counters plus one, so every
 * read feeds the write.
 */
export function calvinMicroProgram(): Program {
  const body: Stmt[] = [{ k: 'get', into: 'h', key: keyAt(0) }, missingRowAbort('h')];
  let sum: Expr = lit(1n);
  for (let i = 1; i <= 9; i++) {
    body.push({ k: 'get', into: `c${i}`, key: keyAt(i) });
    sum = { k: 'bin', op: '+', a: sum, b: { k: 'call', fn: 'coalesce', args: [{ k: 'col', row: `c${i}`, i: 1 }, lit(0n)] } };
  }
  body.push({
    k: 'put',
    key: keyAt(0),
    row: [param(0), { k: 'bin', op: '+', a: { k: 'col', row: 'h', i: 1 }, b: sum }, { k: 'col', row: 'h', i: 2 }],
  });
  return {
    reads: { points: Array.from({ length: 10 }, (_, i) => keyAt(i)), ranges: [] },
    writes: { points: [keyAt(0)], ranges: [] },
    body,
  };
}


/** YCSB's zipfian generator (Gray et al., "Quickly generating billion-record synthetic databases"). */
export function zipfian(n: number, theta: number, random: () => number): () => number {
  let zetan = 0;
  for (let i = 1; i <= n; i++) zetan += 1 / Math.pow(i, theta);
  const zeta2 = 1 + 1 / Math.pow(2, theta);
  const alpha = 1 / (1 - theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan);
  return () => {
    const u = random();
    const uz = u * zetan;
    if (uz < 1) return 0;
    if (uz < zeta2) return 1;
    return Math.min(n - 1, Math.floor(n * Math.pow(eta * u - eta + 1, alpha)));
  };
}

export interface Workload {
  readonly name: string;
  readonly program: Program;
  /** The parameters of the next transaction. */
  next(): Value[];
}

export const WorkloadNames = ['calvin-micro', 'update', 'update-zipf'] as const;
export type WorkloadName = (typeof WorkloadNames)[number];

/**
 * Row ids: hot records are 0..hot-1, cold records hot..hot+cold-1. For the update workloads every
 * record is "cold" and the choice is uniform or zipfian.
 */
export function makeWorkload(name: WorkloadName, records: number, contention: number, seed: number): Workload {
  const random = seededRandom(seed);
  if (name === 'calvin-micro') {
    const hot = Math.max(1, Math.round(1 / contention));
    const cold = records - hot;
    if (cold < 9) throw new Error(`calvin-micro needs more than ${hot + 9} records`);
    const program = calvinMicroProgram();
    return {
      name,
      program,
      next() {
        const params: Value[] = [BigInt(Math.floor(random() * hot))];
        const ids: number[] = [];
        // Nine distinct cold ids; rejection sampling ends quickly because cold is large (a bound anyway).
        for (let draws = 0; ids.length < 9 && draws < 1000; draws++) {
          const id = hot + Math.floor(random() * cold);
          if (!ids.includes(id)) ids.push(id);
        }
        if (ids.length < 9) throw new Error('calvin-micro could not draw nine distinct cold records');
        for (const id of ids) params.push(BigInt(id));
        return params;
      },
    };
  }
  const program = updateProgram();
  const pick = name === 'update-zipf' ? zipfian(records, 0.99, random) : () => Math.floor(random() * records);
  return { name, program, next: () => [BigInt(pick())] };
}
