// Interactive transactions (DESIGN.md §2, ADR 0004): BEGIN, then one statement per round trip, then
// COMMIT. Statements run in the gateway against the committed state (node.partitionStore, no log round
// trip) with the transaction's own buffered writes laid over it. COMMIT submits ONE program that
// (a) re-checks, at the transaction's log position, only what the client observed — the versions of
// the rows whose values it was shown (SELECT, RETURNING) and, for every write statement, the number
// of rows it was told were affected — and (b) re-executes the buffered write statements there, so
// `UPDATE t SET n = n + 1` adds to the value at the commit position, not to the value seen. Any
// failed check aborts the whole program with 40001: the transaction has no effect.

import { ProgramLimits, evaluateKeySets, executeProgram, type Expr, type KeyExpr, type Program, type RangeExpr, type ReadView, type Stmt } from '../executor/index.js';
import { decodeTuple, type KeyRange, type StoredRow, type Value } from '../partitions/index.js';
import { TxnKind } from '../sequencer/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import { cachedPerCount, mapProgram, rowKeyFromRow, type ProgramPlan } from './compile.js';
import { combineParams, finish, type SqlEngine, type StatementResult } from './engine.js';

export const InteractiveLimits = {
  /** Write statements one transaction may buffer; each is re-executed at COMMIT. */
  maxBufferedStatements: 10_000,
  /** Rows whose versions one transaction may ask COMMIT to validate. */
  maxObservedKeys: 100_000,
  /** Distinct rows one transaction may write (its overlay lives in the gateway's memory). */
  maxWrittenRows: 100_000,
} as const;

const SERIALIZATION_MESSAGE = 'could not serialize access due to a concurrent update';

/** Keys are compared as latin1 strings: one char per byte, so equal strings are equal keys. */
const keyId = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

interface OverlayRow {
  readonly key: Buffer;
  /** null: deleted by this transaction. */
  readonly values: readonly Value[] | null;
}

interface BufferedWrite {
  readonly plan: ProgramPlan;
  readonly params: readonly Value[];
  readonly sql: string;
  /** The row count the client was told ("UPDATE 1"): re-checked at COMMIT. */
  readonly count: number;
}

interface ObservedRange {
  readonly range: RangeExpr;
  /** Committed rows in the range when it was read (own writes excluded). */
  readonly count: number;
}

export class InteractiveTxn {
  /** Set by an error: every statement but COMMIT/ROLLBACK fails with 25P02 until the block ends. */
  failed = false;
  private readonly overlay = new Map<string, OverlayRow>();
  /** The committed version of each key when this transaction first read it (null: absent). */
  private readonly firstSeen = new Map<string, number | null>();
  /** Keys whose values the client was shown: their versions are validated at COMMIT. */
  private readonly observed = new Map<string, Buffer>();
  private readonly observedRanges: ObservedRange[] = [];
  private readonly writes: BufferedWrite[] = [];
  /**
   * Applied position when the transaction began. A range the client saw is valid at COMMIT when no row
   * in it is newer than this and it holds as many rows: conservative (a change after BEGIN but before
   * the read also aborts), never wrong.
   */
  private readonly startPosition: number;

  constructor(private readonly engine: SqlEngine) {
    this.startPosition = engine.node.appliedPosition;
  }

  /** Runs one statement at the committed state plus this transaction's writes. */
  run(plan: ProgramPlan, params: readonly Value[], sql: string): StatementResult {
    const store = this.engine.node.partitionStore;
    const touched = new Map<string, Buffer>();
    const local = plan.needsTxnId ? [...params, `${this.engine.nextTxnId()}.local`] : params;
    const declared = evaluateKeySets(plan.program, local);
    const view = this.view(store, touched);
    const outcome = executeProgram(plan.program, local, declared, { position: this.engine.node.appliedPosition + 1, timestampMs: Date.now(), txnIndex: 0 }, view);
    if (outcome.status === 'aborted') throw new OrdoError(outcome.code, outcome.message);
    const shown = plan.command === 'SELECT' || plan.columns !== null;
    if (shown) {
      for (const [id, key] of touched) this.observed.set(id, key);
      if (this.observed.size > InteractiveLimits.maxObservedKeys) {
        throw new OrdoError(SqlState.programLimitExceeded, `an interactive transaction may read at most ${InteractiveLimits.maxObservedKeys} rows`);
      }
      for (const r of [...plan.program.reads.ranges, ...plan.program.writes.ranges]) {
        // A unique index holds nothing but what its table's rows imply, and the client saw rows: the
        // table's range, declared too, is what to validate.
        if (r.index !== 0) continue;
        const range = bindRange(r, local);
        const encoded = declaredRange(declared.reads.ranges, declared.writes.ranges, r, plan.program);
        let count = 0;
        if (encoded !== undefined) {
          const it = store.scan(encoded, false, Infinity)[Symbol.iterator]();
          while (it.next().done !== true) count++;
        }
        this.observedRanges.push({ range, count });
      }
    }
    if (!plan.readOnly) {
      if (this.writes.length >= InteractiveLimits.maxBufferedStatements) {
        throw new OrdoError(SqlState.programLimitExceeded, `an interactive transaction may run at most ${InteractiveLimits.maxBufferedStatements} write statements`);
      }
      for (const w of outcome.writes) this.overlay.set(keyId(w.key), { key: Buffer.from(w.key), values: w.values });
      if (this.overlay.size > InteractiveLimits.maxWrittenRows) {
        throw new OrdoError(SqlState.programLimitExceeded, `an interactive transaction may write at most ${InteractiveLimits.maxWrittenRows} rows`);
      }
      this.writes.push({ plan, params, sql, count: outcome.rows.length });
    }
    return finish(plan, params, outcome.rows, 0);
  }

  /** Submits the validation and the buffered writes as one transaction; throws 40001 on a conflict. */
  async commit(user: string): Promise<void> {
    if (this.writes.length === 0 && this.observed.size === 0 && this.observedRanges.length === 0) return;
    const txnId = this.engine.nextTxnId();
    const items = this.writes.map((w) => ({ plan: countedPlan(w.plan, w.count), params: w.params }));
    const combined = items.length === 0 ? EMPTY_PROGRAM : this.engine.combinedProgram(items.map((i) => i.plan));
    const params = combineParams(items, txnId);
    // The observed keys and their versions are parameters after the writes' own, so transactions of
    // one shape (pgbench's: one observed row, four writes) share one program object: the log encodes
    // it once per batch and the sequencer's per-program caches hit.
    const base = params.length;
    const shape: string[] = [];
    for (const [id, key] of this.observed) {
      const parts = decodeTuple(key);
      shape.push(`${String(parts[0])}.${String(parts[1])}.${parts.length - 2}`);
      params.push(...parts.slice(2));
      const seen = this.firstSeen.get(id) ?? null;
      params.push(seen === null ? -1n : BigInt(seen));
    }
    let program = this.observedRanges.length === 0 ? cachedCommitProgram(combined, base, shape) : this.rangeCommitProgram(combined, base, shape);
    if (params.length > ProgramLimits.maxParams) {
      // Too many observed keys for parameters: write their values into this one program instead.
      const values = params.splice(base);
      program = mapProgram(program, (e) => (e.k === 'param' && e.i >= base ? { k: 'lit', v: values[e.i - base] ?? null } : e), (n) => n);
    }
    const sql = ['BEGIN', ...this.writes.map((w) => w.sql), 'COMMIT'].join('; ');
    const result = await this.engine.node.submit({ txnId, user, kind: this.writes.length === 0 ? TxnKind.readOnly : TxnKind.readWrite, program, params, sql });
    if (result.status === 'aborted') throw new OrdoError(result.code, result.message);
  }

  /** A COMMIT program that also validates observed ranges: they carry bound literals, so it is built each time. */
  private rangeCommitProgram(combined: Program, base: number, shape: readonly string[]): Program {
    const keys = commitProgram(combined, base, shape);
    const validation: Stmt[] = [];
    const ranges: RangeExpr[] = [];
    const { catalog } = this.engine.catalog();
    this.observedRanges.forEach((o, j) => {
      const table = catalog.tables.find((t) => t.id === o.range.table);
      if (table === undefined) throw new OrdoError(SqlState.serializationFailure, SERIALIZATION_MESSAGE);
      const into = `__range${j}`;
      ranges.push(o.range);
      validation.push(
        {
          k: 'scan',
          into,
          range: o.range,
          limit: null,
          reverse: false,
          body: [{ k: 'if', cond: { k: 'bin', op: '>', a: { k: 'version', key: rowKeyFromRow(table, into) }, b: { k: 'lit', v: BigInt(this.startPosition) } }, then: [CONFLICT], else: [] }],
        },
        { k: 'if', cond: { k: 'bin', op: '<>', a: { k: 'count', scan: into }, b: { k: 'lit', v: BigInt(o.count) } }, then: [CONFLICT], else: [] },
      );
    });
    // Key checks first, then ranges, then the writes: the order the checks had before they were cached.
    const keyChecks = keys.body.slice(0, shape.length);
    return {
      reads: { points: keys.reads.points, ranges: [...ranges, ...keys.reads.ranges] },
      writes: keys.writes,
      body: [...keyChecks, ...validation, ...keys.body.slice(shape.length)],
    };
  }

  /** The committed state with this transaction's writes laid over it; records every key it reads. */
  private view(store: ReadView, touched: Map<string, Buffer>): ReadView {
    const overlay = this.overlay;
    const firstSeen = this.firstSeen;
    const see = (id: string, row: StoredRow | undefined): void => {
      if (!firstSeen.has(id)) firstSeen.set(id, row === undefined ? null : row.version);
    };
    return {
      get(key: Uint8Array): StoredRow | undefined {
        const id = keyId(key);
        const committed = store.get(key);
        see(id, committed);
        if (!touched.has(id)) touched.set(id, Buffer.from(key));
        const own = overlay.get(id);
        if (own === undefined) return committed;
        return own.values === null ? undefined : { version: 0, values: own.values };
      },
      *scan(range: KeyRange, reverse: boolean, limit: number): Iterable<{ key: Uint8Array; row: StoredRow }> {
        const own: OverlayRow[] = [];
        for (const o of overlay.values()) if (Buffer.compare(range.lower, o.key) <= 0 && Buffer.compare(o.key, range.upper) < 0) own.push(o);
        own.sort(reverse ? (a, b) => Buffer.compare(b.key, a.key) : (a, b) => Buffer.compare(a.key, b.key));
        // Each own row may replace or hide one stored row: read that many more to still yield `limit`.
        const stored = store.scan(range, reverse, limit === Infinity ? Infinity : limit + own.length)[Symbol.iterator]();
        let yielded = 0;
        let oi = 0;
        let s = stored.next();
        try {
          while (yielded < limit) {
            let next: { key: Uint8Array; row: StoredRow } | null = null;
            if (!s.done) see(keyId(s.value.key), s.value.row);
            const o = own[oi];
            if (!s.done && o !== undefined) {
              const c = Buffer.compare(Buffer.from(s.value.key), o.key);
              if (reverse ? c > 0 : c < 0) {
                next = s.value;
                s = stored.next();
              } else {
                oi++;
                if (c === 0) s = stored.next();
                if (o.values !== null) next = { key: o.key, row: { version: 0, values: o.values } };
              }
            } else if (!s.done) {
              next = s.value;
              s = stored.next();
            } else if (o !== undefined) {
              oi++;
              if (o.values !== null) next = { key: o.key, row: { version: 0, values: o.values } };
            } else return;
            if (next === null) continue;
            yielded++;
            yield next;
          }
        } finally {
          stored.return?.();
        }
      },
    };
  }
}

const CONFLICT: Stmt = { k: 'abort', code: SqlState.serializationFailure, message: { k: 'lit', v: SERIALIZATION_MESSAGE } };

const EMPTY_PROGRAM: Program = { reads: { points: [], ranges: [] }, writes: { points: [], ranges: [] }, body: [] };

/** COMMIT programs by combined write program, then by the observed keys' shape (see commitProgram). */
const commitPrograms = new WeakMap<Program, Map<string, Program>>();
/** Shapes kept per combined program: a few per workload; past this they are built each time. */
const MAX_SHAPES_PER_PROGRAM = 64;

function cachedCommitProgram(combined: Program, base: number, shape: readonly string[]): Program {
  let byShape = commitPrograms.get(combined);
  if (byShape === undefined) {
    byShape = new Map();
    commitPrograms.set(combined, byShape);
  }
  const key = `${base}|${shape.join(',')}`;
  let program = byShape.get(key);
  if (program === undefined) {
    program = commitProgram(combined, base, shape);
    if (byShape.size < MAX_SHAPES_PER_PROGRAM) byShape.set(key, program);
  }
  return program;
}

/**
 * The COMMIT program for `combined` (the buffered writes, parameters from 0) and observed keys of
 * `shape` ("table.index.parts" each): per key, its parts then the version first seen (-1: absent) are
 * parameters from `base` on; `if coalesce(version(key), -1) <> seen then abort 40001`, then the writes.
 */
function commitProgram(combined: Program, base: number, shape: readonly string[]): Program {
  const points: KeyExpr[] = [];
  const validation: Stmt[] = [];
  let next = base;
  for (const s of shape) {
    const [table, index, n] = s.split('.').map(Number) as [number, number, number];
    const keyExpr: KeyExpr = { table, index, parts: Array.from({ length: n }, (): Expr => ({ k: 'param', i: next++ })) };
    points.push(keyExpr);
    const version: Expr = { k: 'call', fn: 'coalesce', args: [{ k: 'version', key: keyExpr }, { k: 'lit', v: -1n }] };
    validation.push({ k: 'if', cond: { k: 'bin', op: '<>', a: version, b: { k: 'param', i: next++ } }, then: [CONFLICT], else: [] });
  }
  return {
    reads: { points: [...points, ...combined.reads.points], ranges: combined.reads.ranges },
    writes: combined.writes,
    body: [...validation, ...combined.body],
  };
}

/** countedProgram's plans by plan and count: one object per shape, so the engine's combined-program cache hits. */
const countedPlans = new WeakMap<ProgramPlan, Map<number, ProgramPlan>>();
/** Counts past this are rare (one statement touching many rows) and not worth keeping. */
const MAX_CACHED_COUNT = 16;

function countedPlan(plan: ProgramPlan, count: number): ProgramPlan {
  const make = (): ProgramPlan => ({ ...plan, program: countedProgram(plan.program, count) });
  return count > MAX_CACHED_COUNT ? make() : cachedPerCount(countedPlans, plan, count, make);
}

/** A program that aborts with 40001 unless it emits exactly `count` rows (the count the client was told). */
function countedProgram(p: Program, count: number): Program {
  const n = '__emitted';
  const bump: Stmt = { k: 'let', name: n, e: { k: 'bin', op: '+', a: { k: 'var', name: n }, b: { k: 'lit', v: 1n } } };
  const walk = (stmts: readonly Stmt[]): Stmt[] =>
    stmts.flatMap((s): Stmt[] => {
      switch (s.k) {
        case 'emit':
          return [s, bump];
        case 'scan':
        case 'series':
          return [{ ...s, body: walk(s.body) }];
        case 'if':
          return [{ ...s, then: walk(s.then), else: walk(s.else) }];
        default:
          return [s];
      }
    });
  const check: Stmt = {
    k: 'if',
    cond: { k: 'bin', op: '<>', a: { k: 'var', name: n }, b: { k: 'lit', v: BigInt(count) } },
    then: [{ k: 'abort', code: SqlState.serializationFailure, message: { k: 'lit', v: SERIALIZATION_MESSAGE } }],
    else: [],
  };
  return { ...p, body: [{ k: 'let', name: n, e: { k: 'lit', v: 0n } }, ...walk(p.body), check] };
}

/** Replaces parameters by their values, so a range can be re-declared in another program. */
function bindExpr(e: Expr, params: readonly Value[]): Expr {
  switch (e.k) {
    case 'param':
      return { k: 'lit', v: params[e.i] ?? null };
    case 'un':
      return { ...e, a: bindExpr(e.a, params) };
    case 'bin':
      return { ...e, a: bindExpr(e.a, params), b: bindExpr(e.b, params) };
    case 'call':
      return { ...e, args: e.args.map((a) => bindExpr(a, params)) };
    default:
      return e;
  }
}

function bindRange(r: RangeExpr, params: readonly Value[]): RangeExpr {
  return { ...r, lower: r.lower.map((e) => bindExpr(e, params)), upper: r.upper === null ? null : r.upper.map((e) => bindExpr(e, params)) };
}

/** The encoded form of declared range `r` (key sets keep the program's order: reads, then writes). */
function declaredRange(reads: readonly KeyRange[], writes: readonly KeyRange[], r: RangeExpr, p: Program): KeyRange | undefined {
  const i = p.reads.ranges.indexOf(r);
  if (i >= 0) return reads[i];
  const j = p.writes.ranges.indexOf(r);
  return j >= 0 ? writes[j] : undefined;
}

/** Transaction status for ReadyForQuery: idle, in a block, or in a failed block. */
export function transactionStatus(txn: InteractiveTxn | null): 'I' | 'T' | 'E' {
  if (txn === null) return 'I';
  return txn.failed ? 'E' : 'T';
}
