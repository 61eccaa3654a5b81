// Shared fixtures of the input log tests: a program that uses every expression and statement kind, and a
// printer that shows values with their types, so comparisons tell 1n from 1, -0 from 0 and NaN from null.

import type { Expr, Program } from '../src/executor/program.js';
import type { Value } from '../src/partitions/index.js';
import type { LogEntry, LogEntryBody, TxnRequest } from '../src/sequencer/index.js';

const lit = (v: Value): Expr => ({ k: 'lit', v });
const param = (i: number): Expr => ({ k: 'param', i });

/** Every Value type, including the awkward ones. */
export const everyValue: readonly Value[] = [
  null,
  true,
  false,
  0n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 53n + 1n,
  1.5,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  'héllo wörld ✓ 日本 🎉',
  'nul\u0000inside',
  new Uint8Array([]),
  new Uint8Array([0, 1, 0xff, 0]),
];

/** A program with every Expr kind, every Stmt kind and literals of every Value type. */
export function everyKindProgram(): Program {
  return {
    reads: {
      points: [{ table: 7, index: 0, parts: [param(0)] }],
      ranges: [
        { table: 7, index: 1, lower: [lit(5n)], lowerInclusive: true, upper: null, upperInclusive: false },
        { table: 7, index: 0, lower: [], lowerInclusive: false, upper: [param(1), lit('z')], upperInclusive: true },
      ],
    },
    writes: { points: [{ table: 7, index: 0, parts: [param(0)] }], ranges: [] },
    body: [
      { k: 'let', name: 'x', e: { k: 'bin', op: '+', a: param(1), b: lit(1n) } },
      { k: 'get', into: 'r', key: { table: 7, index: 0, parts: [param(0)] } },
      {
        k: 'if',
        cond: { k: 'un', op: 'not', a: { k: 'found', row: 'r' } },
        then: [{ k: 'abort', code: '23503', message: lit('no such row') }],
        else: [],
      },
      {
        k: 'scan',
        into: 's',
        range: { table: 7, index: 1, lower: [param(1)], lowerInclusive: true, upper: [param(2)], upperInclusive: false },
        limit: lit(10n),
        reverse: true,
        body: [{ k: 'emit', values: [{ k: 'col', row: 's', i: 0 }, { k: 'var', name: 'x' }] }],
      },
      {
        k: 'scan',
        into: 't',
        range: { table: 7, index: 1, lower: [], lowerInclusive: true, upper: null, upperInclusive: true },
        limit: null,
        reverse: false,
        body: [],
      },
      {
        k: 'put',
        key: { table: 7, index: 0, parts: [param(0)] },
        row: [
          param(0),
          { k: 'call', fn: 'coalesce', args: [{ k: 'col', row: 'r', i: 1 }, lit(null)] },
          { k: 'count', scan: 's' },
          { k: 'bin', op: '||', a: lit('a'), b: { k: 'call', fn: 'toText', args: [{ k: 'call', fn: 'now', args: [] }] } },
          ...everyValue.map(lit),
        ],
      },
      { k: 'delete', key: { table: 7, index: 0, parts: [lit(2n ** 62n)] } },
      {
        k: 'emit',
        values: [
          ...(['-', '*', '/', '%', '=', '<>', '<', '<=', '>', '>=', 'and', 'or'] as const).map(
            (op): Expr => ({ k: 'bin', op, a: param(0), b: param(1) }),
          ),
          { k: 'un', op: 'neg', a: param(0) },
          { k: 'un', op: 'isnull', a: param(0) },
        ],
      },
    ],
  };
}

/** A small program: what most cached plans look like. */
export function pointUpdateProgram(): Program {
  const key = { table: 3, index: 0, parts: [param(0)] };
  return {
    reads: { points: [key], ranges: [] },
    writes: { points: [key], ranges: [] },
    body: [
      { k: 'get', into: 'r', key },
      { k: 'put', key, row: [param(0), { k: 'bin', op: '+', a: { k: 'col', row: 'r', i: 1 }, b: param(1) }] },
    ],
  };
}

export function txn(i: number, program: Program, params: readonly Value[], sql = `UPDATE t SET v = v + $2 WHERE k = $1 -- ${i}`): TxnRequest {
  return { txnId: `txn-${i}`, user: i % 2 === 0 ? 'alice' : 'böb', kind: i % 3 === 0 ? 'readOnly' : 'readWrite', program, params, sql };
}

export type BatchEntry = Extract<LogEntry, { kind: 'batch' }>;

export function batchBody(epoch: number, txns: readonly TxnRequest[]): Extract<LogEntryBody, { kind: 'batch' }> {
  return { kind: 'batch', batch: { epoch, timestampMs: 1_700_000_000_000 + epoch * 5, txns } };
}

export function batchEntry(position: number, epoch: number, txns: readonly TxnRequest[]): BatchEntry {
  return { position, ...batchBody(epoch, txns) };
}

/** A deterministic, type-revealing rendering of any log structure. */
export function show(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'number') return Object.is(x, -0) ? 'float(-0)' : `float(${x})`;
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'boolean') return String(x);
  if (x instanceof Uint8Array) return `bytes(${Buffer.from(x).toString('hex')})`;
  if (Array.isArray(x)) return `[${x.map(show).join(', ')}]`;
  if (typeof x === 'object') {
    const o = x as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${k}: ${show(o[k])}`)
      .join(', ')}}`;
  }
  return `?${typeof x}`;
}

/** What an entry reads back as: the canonical value encoding folds -0 into 0 (tuple.ts). */
export function canonical<T>(x: T): T {
  if (typeof x === 'number') return (Object.is(x, -0) ? 0 : x) as T;
  if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return x;
  if (Array.isArray(x)) return x.map(canonical) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) out[k] = canonical(v);
  return out as T;
}
