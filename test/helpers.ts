// Shared by the tests: small programs over a two-column table and scratch data directories.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Expr, KeyExpr, Program } from '../src/executor/index.js';
import type { Value } from '../src/partitions/index.js';
import { TxnKind, type TxnRequest } from '../src/sequencer/index.js';

export const TABLE = 7;
export const param = (i: number): Expr => ({ k: 'param', i });
export const lit = (v: Value): Expr => ({ k: 'lit', v });
export const keyOf = (id: Expr): KeyExpr => ({ table: TABLE, index: 0, parts: [id] });

export function scratchDir(prefix = 'ordo-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes rows [id, value] for params (id0, value0, id1, value1, …). */
export function putProgram(rows: number): Program {
  const points = Array.from({ length: rows }, (_, i) => keyOf(param(2 * i)));
  return {
    reads: { points: [], ranges: [] },
    writes: { points, ranges: [] },
    body: points.map((key, i) => ({ k: 'put', key, row: [param(2 * i), param(2 * i + 1)] })),
  };
}

/** Reads row $0 and emits it (id, value), or nothing if absent. */
export const getProgram: Program = {
  reads: { points: [keyOf(param(0))], ranges: [] },
  writes: { points: [], ranges: [] },
  body: [
    { k: 'get', into: 'r', key: keyOf(param(0)) },
    { k: 'if', cond: { k: 'found', row: 'r' }, then: [{ k: 'emit', values: [{ k: 'col', row: 'r', i: 0 }, { k: 'col', row: 'r', i: 1 }] }], else: [] },
  ],
};

/** Writes row $0 and then aborts: it must leave nothing behind. */
export const putThenAbortProgram: Program = {
  reads: { points: [], ranges: [] },
  writes: { points: [keyOf(param(0))], ranges: [] },
  body: [
    { k: 'put', key: keyOf(param(0)), row: [param(0), lit('doomed')] },
    { k: 'abort', code: 'P0001', message: lit('changed my mind') },
  ],
};

let counter = 0;
export function txn(program: Program, params: Value[], kind: TxnRequest['kind'] = TxnKind.readWrite): TxnRequest {
  return { txnId: `t-${process.pid}-${++counter}`, user: 'tester', kind, program, params, sql: '' };
}
