// The gateway's statement engine: plan cache, binding, submission to the node, and what the gateway
// does with the emitted rows (ORDER BY, LIMIT/OFFSET, aggregates) — independent of the wire protocol.

import { randomUUID } from 'node:crypto';
import nodeSqlParser from 'node-sql-parser/build/postgresql.js';
import { compareValues, evaluateKeySets, executeProgram, type DeclaredKeySets, type Expr, type Program, type Stmt } from '../executor/index.js';
import type { OrdoNode, TxnResult } from '../node/index.js';
import { TxnKind, type Catalog } from '../sequencer/index.js';
import type { Value } from '../partitions/index.js';
import { OrdoError, SqlState, errorMessage } from '../util/index.js';
import { GUARD_ROW, GUARD_STATEMENTS, compileStatement, cutOverriding, mapProgram, predictedPlan, prepareDdlText, unsupported, type Aggregate, type CountSource, type DdlPlan, type DdlText, type OnConflict, type Plan, type ProgramPlan, type ResultColumn } from './compile.js';
import { utilityTokens, type SplitStatement } from './normalize.js';
import { Decimal, EMPTY_REGISTRY, compileQuery, divDecimal, isQueryPlan, rewriteQueryText, runQuery, type QueryRegistry, type QuerySession } from './query/index.js';
import { SqlStateX, decimalToScaled, pow10, scaledToDecimal, typeClass, valueFromText, valueFromWire, type SqlType } from './types.js';

const { Parser } = nodeSqlParser;

/** [query engine] Errors of the program compiler after which a SELECT is given to the query engine. */
const QUERY_FALLBACK_CODES: ReadonlySet<string> = new Set([SqlState.featureNotSupported, SqlStateX.undefinedTable, SqlStateX.undefinedFunction]);

/** [query engine] Statements that are queries: SELECT, WITH …, or a parenthesized set operation. */
function isQueryStatement(st: SplitStatement): boolean {
  return st.firstWord === 'SELECT' || st.firstWord === 'WITH' || (st.firstWord === '' && st.normalized.startsWith('('));
}

/** `with ( fillfactor = 100 , … )` at the end of CREATE TABLE, as the normalizer spells it. */
const STORAGE_PARAMS = / with \( [a-z_]+ = [^()]* \)$/;

/** `: Key (…)=(…) is duplicated.` at the end of a DDL outcome's message: the error's DETAIL. */
const DETAIL_SUFFIX = /: (Key \(.*\)=\(.*\) is duplicated\.)$/s;

export const EngineDefaults = {
  planCacheEntries: 2_000,
  /**
   * How long a read waits for the local store to apply the log up to its read index before failing
   * (on one node entries are applied as they become durable, so the wait is a few microtasks).
   */
  readIndexWaitMs: 10_000,
  /**
   * Submissions of one transaction with OLLP predictions (ADR 0007) before the gateway gives up
   * predicting and submits its coarse program, which cannot be stale.
   */
  predictionAttempts: 10,
} as const;

/** One statement's result, ready for the wire. Row values are what the wire layer's encodeCell takes. */
export interface StatementResult {
  readonly columns: readonly ResultColumn[] | null;
  readonly rows: readonly (readonly Value[])[];
  readonly tag: string;
}

/** An error with the 1-based position in the query text, when known. */
export class SqlError extends OrdoError {
  constructor(
    code: string,
    message: string,
    readonly position?: number,
    readonly detail?: string,
  ) {
    super(code, message);
    this.name = 'SqlError';
  }
}

/** A compiled statement and how to bind it. */
export interface Prepared {
  readonly statement: SplitStatement;
  readonly plan: Plan;
  readonly catalogVersion: number;
}

/** Least-recently-used bounded map. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
  }
  get size(): number {
    return this.map.size;
  }
}

export interface EngineStats {
  parses: number;
  planCacheHits: number;
  /** Read-only transactions served from the local store at a read index, without a log entry. */
  localReads: number;
  /** Transactions submitted with OLLP predictions (each attempt counts). */
  predictions: number;
  /** Of those, the ones whose prediction was stale at their log position (and were retried). */
  stalePredictions: number;
  /** Transactions that ran their coarse program after a prediction could not be made or kept failing. */
  coarseFallbacks: number;
}

type Item = { readonly plan: ProgramPlan; readonly params: readonly Value[]; readonly sql: string };

export class SqlEngine {
  private readonly parser = new Parser();
  private readonly plans: Lru<string, Plan>;
  private cachedCatalog: { version: number; catalog: Catalog } | null = null;
  readonly stats: EngineStats = { parses: 0, planCacheHits: 0, localReads: 0, predictions: 0, stalePredictions: 0, coarseFallbacks: 0 };
  /** Prefix of transaction ids: unique per engine instance, so ids never repeat across restarts. */
  private readonly idPrefix = randomUUID();
  private idCounter = 0;
  /** Combined programs of multi-statement transactions, by their plans' identities (see combinedProgram). */
  private readonly combined: Lru<string, Program>;
  private readonly programIds = new WeakMap<Program, number>();
  private nextProgramId = 0;
  /** Read-only transactions run at a local read index (runRead) rather than through the log. */

  /** [query engine] The virtual relations and catalog functions queries can use (src/sql/pgcatalog/). */
  private readonly queryRegistry: QueryRegistry;

  constructor(
    readonly node: OrdoNode,
    options: { planCacheEntries?: number; queryRegistry?: QueryRegistry } = {},
  ) {
    this.queryRegistry = options.queryRegistry ?? EMPTY_REGISTRY;
    this.plans = new Lru(options.planCacheEntries ?? EngineDefaults.planCacheEntries);
    this.combined = new Lru(options.planCacheEntries ?? EngineDefaults.planCacheEntries);
  }

  /**
   * combineProgram, cached: a compound statement (pgbench's one-shot script, an ORM's batch) arrives
   * with the same plans every time, and re-mapping them cost more than executing the result.
   */
  combinedProgram(plans: readonly ProgramPlan[]): Program {
    const ids = plans.map((p) => {
      let id = this.programIds.get(p.program);
      if (id === undefined) {
        id = this.nextProgramId++;
        this.programIds.set(p.program, id);
      }
      // The parameter count is part of the shape: one program never appears with two counts, but a key must not rely on it.
      return `${id}:${p.params.length}:${p.needsTxnId ? 1 : 0}`;
    });
    const key = ids.join(',');
    let program = this.combined.get(key);
    if (program === undefined) {
      program = combineProgram(plans);
      this.combined.set(key, program);
    }
    return program;
  }

  catalog(): { version: number; catalog: Catalog } {
    const version = this.node.catalogVersion;
    if (this.cachedCatalog === null || this.cachedCatalog.version !== version) {
      this.cachedCatalog = { version, catalog: this.node.catalog() };
    }
    return this.cachedCatalog;
  }

  nextTxnId(): string {
    return `${this.idPrefix}-${++this.idCounter}`;
  }

  /** Parses (on a cache miss) and compiles one statement. */
  prepare(statement: SplitStatement, declaredOids: readonly number[] = []): Prepared {
    const { version, catalog } = this.catalog();
    const key = `${version}\u0000${declaredOids.join(',')}\u0000${statement.cacheKey}`;
    const cached = this.plans.get(key);
    if (cached !== undefined) {
      this.stats.planCacheHits++;
      return { statement, plan: cached, catalogVersion: version };
    }
    this.stats.parses++;
    // node-sql-parser reads ON CONFLICT only after an explicit column list and never with a constraint
    // name, so the clause is cut out of the text, parsed apart and put into the tree.
    const split = statement.firstWord === 'INSERT' ? splitOnConflict(statement.normalized) : null;
    let text = split === null ? statement.normalized : split.insert;
    // DDL node-sql-parser cannot read is compiled from its tokens, or has the parts it cannot read cut out.
    let ddl: DdlText | null = null;
    if (statement.firstWord === 'CREATE' || statement.firstWord === 'ALTER' || statement.firstWord === 'DROP') ddl = prepareDdlText(text, catalog);
    else if (statement.firstWord === 'INSERT') ddl = cutOverriding(text);
    if (ddl !== null && 'plan' in ddl) {
      this.plans.set(key, ddl.plan);
      return { statement, plan: ddl.plan, catalogVersion: version };
    }
    if (ddl !== null) text = ddl.text;
    // Storage parameters tune PostgreSQL's heap pages (pgbench sets fillfactor); they mean nothing here.
    if (statement.firstWord === 'CREATE') text = text.replace(STORAGE_PARAMS, '');
    // [query engine] Query syntax node-sql-parser does not read is rewritten first (query/rewrite.ts).
    const isQuery = isQueryStatement(statement);
    if (isQuery) text = rewriteQueryText(text);
    let ast = this.parseOne(text, statement, 0);
    if (split !== null) ast = { ...ast, onConflict: this.onConflict(split, statement) };
    if (ddl?.overridingSystemValue === true) ast = { ...ast, overridingSystemValue: true };
    const plan = this.compileOrQuery(isQuery, ast, statement, declaredOids, catalog, () => compileStatement({ ast, catalog, literals: statement.literals, declaredOids, text: statement.normalized, ...(ddl === null ? {} : { identities: ddl.identities }) }));
    this.plans.set(key, plan);
    return { statement, plan, catalogVersion: version };
  }

  /**
   * [query engine] A SELECT the program compiler refuses (0A000, names it cannot resolve such as
   * pg_catalog relations, expressions it does not type) is planned by the query engine instead.
   * Single-table SELECTs keep the compiled fast path.
   */
  private compileOrQuery(isQuery: boolean, ast: Readonly<Record<string, unknown>>, statement: SplitStatement, declaredOids: readonly number[], catalog: Catalog, compile: () => Plan): Plan {
    if (!isQuery) return compile();
    let refused: OrdoError;
    try {
      return compile();
    } catch (err) {
      if (!(err instanceof OrdoError)) throw err;
      refused = err;
    }
    try {
      return compileQuery({ ast, catalog, literals: statement.literals, declaredOids, registry: this.queryRegistry, text: statement.normalized });
    } catch (err) {
      // Both refused: the compiler's own error stands unless it only said it could not do it.
      throw QUERY_FALLBACK_CODES.has(refused.code) ? err : refused;
    }
  }

  /** Parses one statement; `offset` maps the parser's positions in `text` back to the normalized statement. */
  private parseOne(text: string, statement: SplitStatement, offset: number): Readonly<Record<string, unknown>> {
    let ast: unknown;
    try {
      ast = this.parser.astify(text, { database: 'PostgresQL' });
    } catch (err) {
      const at = (err as { location?: { start?: { offset?: number } } }).location?.start?.offset;
      const loc = at === undefined ? undefined : Math.max(0, at + offset);
      const near = loc === undefined ? '' : ` at or near "${statement.normalized.slice(loc).split(' ')[0] ?? ''}"`;
      throw new SqlError(SqlStateX.syntaxError, `syntax error${near}`, loc === undefined ? undefined : statement.originalPosition(loc));
    }
    if (Array.isArray(ast)) {
      if (ast.length !== 1) throw new SqlError(SqlStateX.syntaxError, 'expected one statement');
      ast = ast[0];
    }
    return ast as Readonly<Record<string, unknown>>;
  }

  /** The ON CONFLICT clause of an INSERT; DO UPDATE's SET and WHERE are parsed as an UPDATE's. */
  private onConflict(split: ConflictSplit, statement: SplitStatement): OnConflict {
    if (split.update === null) return { target: split.target, action: { k: 'nothing' } };
    const head = 'update t set ';
    const { start, end } = split.update;
    const update = this.parseOne(head + statement.normalized.slice(start, end), statement, start - head.length);
    return { target: split.target, action: { k: 'update', set: Array.isArray(update.set) ? update.set : [], where: update.where ?? null } };
  }

  /** Parameters for a simple-query statement: its lifted literals, typed by the plan. */
  bindLiterals(prepared: Prepared): Value[] {
    const plan = prepared.plan;
    if (plan.kind !== 'program') return [];
    if (plan.params.length > prepared.statement.literals.length) {
      throw new OrdoError('42P02', `there is no parameter $${prepared.statement.literals.length + 1}`);
    }
    // The plan is shared by every statement of this shape: the values come from this statement's text.
    return plan.params.map((slot, i) => {
      const lit = prepared.statement.literals[i];
      if (lit === undefined || slot.literal === null) throw new OrdoError('42P02', `there is no parameter $${i + 1}`);
      return bindText(slot.type, lit.text, slot.exact);
    });
  }

  /** Runs DDL: submits its control entry and waits for its outcome at its log position. */
  async runDdl(plan: DdlPlan, sql: string, user: string): Promise<StatementResult> {
    const txnId = this.nextTxnId();
    let result: TxnResult;
    let tag: string;
    switch (plan.kind) {
      case 'utility':
        return { columns: null, rows: [], tag: plan.tag };
      case 'createTable': {
        const sequences = plan.sequences.length === 0 ? {} : { sequences: plan.sequences };
        result = await this.node.submitDdl({ kind: 'createTable', txnId, user, sql, table: plan.table, ifNotExists: plan.ifNotExists, ...sequences });
        tag = 'CREATE TABLE';
        break;
      }
      case 'createSequence':
        result = await this.node.submitDdl({ kind: 'createSequence', txnId, user, sql, sequence: plan.sequence, ifNotExists: plan.ifNotExists });
        tag = 'CREATE SEQUENCE';
        break;
      case 'dropSequence':
        result = await this.node.submitDdl({ kind: 'dropSequence', txnId, user, sql, names: plan.names, ifExists: plan.ifExists });
        tag = 'DROP SEQUENCE';
        break;
      case 'alterTable':
        result = await this.node.submitDdl({ kind: 'alterTable', txnId, user, sql, ...plan.alter });
        tag = 'ALTER TABLE';
        break;
      case 'dropTable':
        result = await this.node.submitDdl({ kind: 'dropTable', txnId, user, sql, names: plan.names, ifExists: plan.ifExists });
        tag = 'DROP TABLE';
        break;
      case 'addPrimaryKey':
        result = await this.node.submitDdl({ kind: 'addPrimaryKey', txnId, user, sql, table: plan.table, columns: plan.columns });
        tag = 'ALTER TABLE';
        break;
    }
    if (result.status === 'aborted') {
      // An outcome carries one message; the scheduler appends the duplicated key, PostgreSQL's DETAIL.
      const split = DETAIL_SUFFIX.exec(result.message);
      if (split !== null) throw new SqlError(result.code, result.message.slice(0, split.index), undefined, split[1]);
      throw new OrdoError(result.code, result.message);
    }
    return { columns: null, rows: [], tag };
  }

  /**
   * Runs program statements as ONE deterministic transaction (a single statement, or a whole
   * BEGIN…COMMIT block / multi-statement message), and returns each statement's result.
   */
  async runTransaction(items: readonly Item[], user: string, session?: QuerySession): Promise<StatementResult[]> {
    if (items.every((i) => i.plan.readOnly)) return this.runRead(items, user, session);
    if (items.some((i) => i.plan.ollp !== undefined)) return this.runPredicted(items, user);
    return results(items, await this.submit(items, user));
  }

  private async submit(items: readonly Item[], user: string, txnId = this.nextTxnId()): Promise<TxnResult> {
    const sql = items.map((i) => i.sql).join('; ');
    let program: Program;
    let params: Value[];
    const single = items.length === 1 ? items[0] : undefined;
    if (single !== undefined) {
      program = single.plan.program;
      params = [...single.params];
      if (single.plan.needsTxnId) params.push(txnId);
    } else {
      program = this.combinedProgram(items.map((i) => i.plan));
      params = combineParams(items, txnId);
    }
    const readOnly = items.every((i) => i.plan.readOnly);
    return this.node.submit({ txnId, user, kind: readOnly ? TxnKind.readOnly : TxnKind.readWrite, program, params, sql });
  }

  /**
   * OLLP (DESIGN.md §2, ADR 0007): predicts the rows each data-dependent statement affects, submits
   * programs that declare exactly those rows and re-check the prediction at their log position, and
   * resubmits with a new prediction while one turns out stale, a bounded number of times; then the
   * coarse programs, which cannot be stale. The client sees only the attempt that ran.
   */
  private async runPredicted(items: readonly Item[], user: string): Promise<StatementResult[]> {
    for (let attempt = 0; attempt < EngineDefaults.predictionAttempts; attempt++) {
      // The reconnaissance uses the transaction's own id, so rows an earlier statement inserts into a
      // keyless table get the hidden row ids they will have at the log position.
      const txnId = this.nextTxnId();
      const predicted = this.predict(items, txnId);
      if (predicted === null) break;
      this.stats.predictions++;
      const result = await this.submit(predicted, user, txnId);
      if (result.status !== 'aborted' || result.code !== SqlStateX.predictionStale) return results(items, result);
      this.stats.stalePredictions++;
    }
    this.stats.coarseFallbacks++;
    return results(items, await this.submit(items, user));
  }

  /**
   * Reconnaissance: runs the transaction, with each predicted statement's reconnaissance program, against
   * the local committed store (statements see the earlier ones' writes, as they will at the log
   * position), and returns the items with those statements' predicted plans. Null when it cannot
   * predict: the reconnaissance failed (the coarse program will fail or succeed at its own position) or
   * a statement affects more rows than a prediction holds.
   */
  private predict(items: readonly Item[], txnId: string): Item[] | null {
    const recon = items.map((i) => (i.plan.ollp === undefined ? i : { ...i, plan: { ...i.plan, program: i.plan.ollp.recon } }));
    const single = recon.length === 1 ? recon[0] : undefined;
    let program: Program;
    let params: readonly Value[];
    if (single !== undefined) {
      program = single.plan.program;
      params = single.plan.needsTxnId ? [...single.params, txnId] : single.params;
    } else {
      program = this.combinedProgram(recon.map((i) => i.plan));
      params = combineParams(recon, txnId);
    }
    let declared: DeclaredKeySets;
    try {
      declared = evaluateKeySets(program, params);
    } catch (err) {
      if (err instanceof OrdoError) return null;
      throw err;
    }
    const ctx = { position: this.node.appliedPosition + 1, timestampMs: Date.now(), txnIndex: 0 };
    const outcome = executeProgram(program, params, declared, ctx, this.node.partitionStore);
    if (outcome.status === 'aborted') return null;
    const keys: (readonly Value[])[][] = items.map(() => []);
    if (single !== undefined) keys[0] = outcome.rows as (readonly Value[])[];
    else for (const row of outcome.rows) keys[Number(row[0])]?.push(row.slice(1));
    return items.map((item, idx) => {
      const ollp = item.plan.ollp;
      if (ollp === undefined) return item;
      const rows = keys[idx] ?? [];
      const params = [...item.params];
      for (const r of rows) params.push(...r);
      return { plan: predictedPlan(item.plan, ollp, rows.length), params, sql: item.sql };
    });
  }

  /**
   * Runs read-only statements without a log round trip (DESIGN.md §2, read index): the node's read
   * index (its durable log end when alone; the leader's confirmed commit index on a Raft member) is
   * taken when the read arrives; once the local store has applied the log that far, the programs run
   * against it with the scheduler's pure evaluator. Every write acknowledged before the read arrived is
   * at or below that index, so the read sees it: linearizable. All items run synchronously, with
   * nothing applied in between, so a multi-statement read sees one state.
   */
  private async runRead(items: readonly { plan: ProgramPlan; params: readonly Value[] }[], user = 'postgres', session?: QuerySession): Promise<StatementResult[]> {
    const readIndex = await this.node.readIndex();
    if (this.node.appliedPosition < readIndex) await this.waitApplied(readIndex);
    this.stats.localReads++;
    const store = this.node.partitionStore;
    const ctx = { position: this.node.appliedPosition + 1, timestampMs: Date.now(), txnIndex: 0 };
    const results: StatementResult[] = [];
    for (const item of items) {
      // [query engine] Planned queries run against the same store, at the same read index.
      if (isQueryPlan(item.plan)) {
        const catalog = { catalog: this.catalog().catalog, user, database: session?.database ?? 'postgres', setting: (name: string) => session?.setting(name) };
        results.push({ columns: item.plan.columns, ...runQuery(item.plan, item.params, { store, catalog, nowMs: ctx.timestampMs }) });
        continue;
      }
      const params = item.plan.needsTxnId ? [...item.params, this.nextTxnId()] : item.params;
      const outcome = executeProgram(item.plan.program, params, evaluateKeySets(item.plan.program, params), ctx, store);
      if (outcome.status === 'aborted') throw new OrdoError(outcome.code, outcome.message);
      // A read-only plan never writes; the scheduler would abort one that did, and so does this.
      if (outcome.writes.length > 0) throw new OrdoError(SqlState.invalidTransactionState, 'a read-only transaction wrote');
      results.push(finish(item.plan, item.params, outcome.rows, ctx.position));
    }
    return results;
  }

  /** Resolves once the local store has applied the log up to `position`. */
  private async waitApplied(position: number): Promise<void> {
    const deadline = performance.now() + EngineDefaults.readIndexWaitMs;
    // Entries are applied a few microtasks after they become durable: yield to the event loop, then
    // back off to a millisecond so a stuck apply does not spin the CPU.
    for (let spins = 0; this.node.appliedPosition < position; spins++) {
      if (performance.now() > deadline) {
        throw new OrdoError(SqlState.internalError, `the local store did not apply log position ${position} within ${EngineDefaults.readIndexWaitMs} ms`);
      }
      await new Promise<void>((resolve) => (spins < 10 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }
}

/** Binds a text value (a literal, or a text parameter of unspecified type) to a slot's type. */
export function bindText(type: SqlType | null, text: string, exact: boolean): Value {
  const t = type ?? { name: 'text', length: null, scale: null };
  if (exact && t.name === 'numeric') checkExactNumeric(text, t.scale ?? 0);
  return valueFromText(t, text);
}

/** Binds a wire-decoded parameter value (decodeParam with the slot type's OID). */
export function bindWire(type: SqlType | null, v: Value, exact: boolean): Value {
  if (type !== null && exact && type.name === 'numeric' && typeof v === 'string') checkExactNumeric(v, type.scale ?? 0);
  return type === null ? v : valueFromWire(type, v);
}

function checkExactNumeric(text: string, scale: number): void {
  const extra = 18;
  if (decimalToScaled(text, scale) * pow10(extra) !== decimalToScaled(text, scale + extra)) {
    throw unsupported(`comparing a numeric column of scale ${scale} with a value of more fractional digits`);
  }
}

/** Renames every statement's variables, offsets its parameters, and tags its emitted rows with its index. */
export function combine(items: readonly { plan: ProgramPlan; params: readonly Value[] }[], txnId: string): { program: Program; params: Value[] } {
  return { program: combineProgram(items.map((i) => i.plan)), params: combineParams(items, txnId) };
}

/** The parameters of combineProgram(plans): each statement's own, then its hidden-row-id prefix if it needs one. */
export function combineParams(items: readonly { plan: ProgramPlan; params: readonly Value[] }[], txnId: string): Value[] {
  const params: Value[] = [];
  items.forEach((item, idx) => {
    // combineProgram offsets by the plans' slot counts: a statement bound to more or fewer values would shift the rest.
    if (item.params.length !== item.plan.params.length) {
      throw new OrdoError(SqlState.internalError, `statement ${idx + 1} has ${item.params.length} parameters for ${item.plan.params.length} slots`);
    }
    params.push(...item.params);
    // Hidden row ids are [txnId, rowNo]: a statement-specific id keeps two INSERTs of one block apart.
    if (item.plan.needsTxnId) params.push(`${txnId}.${idx}`);
  });
  return params;
}

/** The program of combine(): depends on the plans only, so the engine caches it per plan sequence. */
export function combineProgram(plans: readonly ProgramPlan[]): Program {
  let offset = 0;
  const reads: { points: Program['reads']['points'][number][]; ranges: Program['reads']['ranges'][number][] } = { points: [], ranges: [] };
  const writes: typeof reads = { points: [], ranges: [] };
  const body: Stmt[] = [];
  const guarded = new Set<string>();
  plans.forEach((plan, idx) => {
    const base = offset;
    offset += plan.params.length + (plan.needsTxnId ? 1 : 0);
    const shift = (e: Expr): Expr => (e.k === 'param' ? { k: 'param', i: e.i + base } : e);
    const p = mapProgram(plan.program, shift, (n) => `s${idx}_${n}`);
    reads.points.push(...p.reads.points);
    reads.ranges.push(...p.reads.ranges);
    writes.points.push(...p.writes.points);
    writes.ranges.push(...p.writes.ranges);
    const tag = (s: Stmt): Stmt => {
      switch (s.k) {
        case 'emit':
          return { k: 'emit', values: [{ k: 'lit', v: BigInt(idx) }, ...s.values] };
        case 'scan':
        case 'series':
          return { ...s, body: s.body.map(tag) };
        case 'if':
          return { ...s, then: s.then.map(tag), else: s.else.map(tag) };
        default:
          return s;
      }
    };
    // A table's guard row cannot change inside a transaction (DDL is a control entry of its own), so
    // a later statement's identical guard check would only lengthen the logged program.
    const guard = guardSignature(plan.program);
    const skip = guard !== null && guarded.has(guard.signature) ? guard.length : 0;
    if (guard !== null) guarded.add(guard.signature);
    body.push(...p.body.slice(skip).map(tag));
  });
  return { reads, writes, body };
}

const guardSignatures = new WeakMap<Program, { signature: string; length: number } | null>();

/** The guard check a compiled program starts with (compile.ts guardStmts), as a comparable string. */
function guardSignature(program: Program): { signature: string; length: number } | null {
  let g = guardSignatures.get(program);
  if (g === undefined) {
    const first = program.body[0];
    const length = GUARD_STATEMENTS;
    g = first?.k === 'get' && first.into === GUARD_ROW && program.body.length >= length ? { signature: JSON.stringify(program.body.slice(0, length), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)), length } : null;
    guardSignatures.set(program, g);
  }
  return g;
}

/** Each statement's result from the outcome of the transaction that ran `items`. */
function results(items: readonly Item[], result: TxnResult): StatementResult[] {
  if (result.status === 'aborted') throw new OrdoError(result.code, result.message);
  const perStatement: (readonly Value[])[][] = items.map(() => []);
  if (items.length === 1) perStatement[0] = result.rows as (readonly Value[])[];
  else {
    for (const row of result.rows) {
      const idx = Number(row[0]);
      perStatement[idx]?.push(row.slice(1));
    }
  }
  return items.map((item, i) => finish(item.plan, item.params, perStatement[i] ?? [], result.position));
}

function countValue(src: CountSource | null, params: readonly Value[]): number | null {
  if (src === null) return null;
  const v = src.k === 'const' ? src.v : params[src.i];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'bigint' || v < 0n) throw new OrdoError('2201W', 'LIMIT/OFFSET must not be negative');
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

function compareNullable(a: Value, b: Value, desc: boolean, nullsFirst: boolean): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === nullsFirst ? -1 : 1;
  }
  const c = compareValues(a, b);
  return desc ? -c : c;
}

export function finish(plan: ProgramPlan, params: readonly Value[], emitted: readonly (readonly Value[])[], _position: number): StatementResult {
  void _position;
  const columns = plan.columns;
  if (plan.command !== 'SELECT') {
    const n = emitted.length;
    const tag = plan.command === 'INSERT' ? `INSERT 0 ${n}` : `${plan.command} ${n}`;
    return { columns, rows: columns === null ? [] : emitted.map((r) => toWire(columns, r)), tag };
  }
  const post = plan.post;
  const cols = columns ?? [];
  let rows: (readonly Value[])[];
  if (post?.aggregates !== null && post?.aggregates !== undefined) {
    rows = [post.aggregates.map((a) => aggregate(a, emitted))];
  } else {
    rows = [...emitted];
    if (post !== null && post.orderBy.length > 0) {
      const keys = post.orderBy;
      // Array.prototype.sort is stable, so ties keep the (key) order the program emitted them in.
      rows.sort((x, y) => {
        for (const k of keys) {
          const c = compareNullable(x[k.index] ?? null, y[k.index] ?? null, k.desc, k.nullsFirst);
          if (c !== 0) return c;
        }
        return 0;
      });
    }
    if (post !== null) rows = rows.map((r) => r.slice(0, post.outputs));
  }
  if (post !== null) {
    const offset = countValue(post.offset, params) ?? 0;
    const limit = countValue(post.limit, params);
    rows = rows.slice(offset, limit === null ? undefined : offset + limit);
  }
  return { columns, rows: rows.map((r) => toWire(cols, r)), tag: `SELECT ${rows.length}` };
}

function toWire(columns: readonly ResultColumn[], row: readonly Value[]): Value[] {
  return columns.map((c, i) => {
    const v = row[i] ?? null;
    if (v === null) return null;
    if (c.type.name === 'numeric' && typeof v === 'bigint') return scaledToDecimal(v, c.type.scale ?? 0);
    if (c.type.name === 'bpchar' && typeof v === 'string' && c.type.length !== null) {
      const n = [...v].length;
      return n < c.type.length ? v + ' '.repeat(c.type.length - n) : v;
    }
    return v;
  });
}

function aggregate(a: Aggregate, rows: readonly (readonly Value[])[]): Value {
  if (a.arg === null) return BigInt(rows.length);
  const values: Value[] = [];
  for (const r of rows) {
    const v = r[a.arg] ?? null;
    if (v !== null) values.push(v);
  }
  if (a.fn === 'count') return BigInt(values.length);
  if (values.length === 0) return null;
  const t = a.argType;
  switch (a.fn) {
    case 'min':
    case 'max': {
      let best = values[0] as Value;
      for (const v of values) {
        const c = compareValues(v, best);
        if (a.fn === 'min' ? c < 0 : c > 0) best = v;
      }
      return best;
    }
    case 'sum': {
      if (t !== null && typeClass(t) === 'float') return values.reduce<number>((s, v) => s + Number(v), 0);
      return values.reduce<bigint>((s, v) => s + (v as bigint), 0n);
    }
    default: {
      // avg
      if (t !== null && typeClass(t) === 'float') return values.reduce<number>((s, v) => s + Number(v), 0) / values.length;
      const sum = values.reduce<bigint>((s, v) => s + (v as bigint), 0n);
      return divideDecimal(sum, t?.name === 'numeric' ? (t.scale ?? 0) : 0, BigInt(values.length));
    }
  }
}

/** (num / 10^scale) / den with PostgreSQL's numeric division result scale (select_div_scale). */
function divideDecimal(num: bigint, scale: number, den: bigint): string {
  return divDecimal(new Decimal(num, scale), new Decimal(den, 0)).toString();
}

/** An INSERT's ON CONFLICT clause, cut out of its normalized text. */
interface ConflictSplit {
  /** The INSERT without the clause. */
  readonly insert: string;
  readonly target: OnConflict['target'];
  /** Where DO UPDATE's assignments (after SET) and WHERE are in the normalized text; null for DO NOTHING. */
  readonly update: { readonly start: number; readonly end: number } | null;
}

/**
 * Finds `ON CONFLICT [(cols) | ON CONSTRAINT name] DO {NOTHING | UPDATE SET …}` at the top level of a
 * normalized INSERT, up to RETURNING or the end; null when the INSERT has none.
 */
function splitOnConflict(normalized: string): ConflictSplit | null {
  const toks = utilityTokens(normalized);
  // Normalized text is its tokens joined by single spaces, so offsets follow from their lengths.
  const starts: number[] = [];
  let at = 0;
  for (const tok of toks) {
    starts.push(at);
    at += tok.text.length + 1;
  }
  const word = (i: number, w: string): boolean => toks[i]?.kind === 'word' && toks[i]?.text === w;
  let depth = 0;
  let on = -1;
  let end = toks.length;
  for (let i = 0; i < toks.length; i++) {
    const text = toks[i]?.kind === 'op' ? toks[i]?.text : undefined;
    if (text === '(') depth++;
    else if (text === ')') depth--;
    else if (depth === 0 && on < 0 && word(i, 'on') && word(i + 1, 'conflict')) on = i;
    else if (depth === 0 && on >= 0 && word(i, 'returning')) {
      end = i;
      break;
    }
  }
  if (on < 0) return null;
  const offset = (i: number): number => starts[i] ?? normalized.length;
  const fail = (i: number): never => {
    throw new SqlError(SqlStateX.syntaxError, `syntax error at or near "${toks[i]?.text ?? 'end of input'}"`);
  };
  const ident = (i: number): string => {
    const tok = toks[i];
    if (tok?.kind === 'word') return tok.text;
    if (tok?.kind === 'qident') return tok.text.slice(1, -1).replaceAll('""', '"');
    return fail(i);
  };
  let i = on + 2;
  let target: OnConflict['target'] = null;
  if (toks[i]?.text === '(') {
    const columns: string[] = [];
    for (i++; toks[i]?.text !== ')'; i++) {
      if (i >= end) fail(i);
      columns.push(ident(i));
      if (toks[i + 1]?.text === ',') i++;
      else if (toks[i + 1]?.text !== ')') throw unsupported('ON CONFLICT targets other than a list of columns');
    }
    i++;
    if (word(i, 'where')) throw unsupported('ON CONFLICT … WHERE (partial unique indexes)');
    target = { columns };
  } else if (word(i, 'on') && word(i + 1, 'constraint')) {
    target = { constraint: ident(i + 2) };
    i += 3;
  }
  if (!word(i, 'do')) fail(i);
  let update: ConflictSplit['update'] = null;
  if (word(i + 1, 'nothing')) {
    if (i + 2 !== end) fail(i + 2);
  } else if (word(i + 1, 'update') && word(i + 2, 'set')) update = { start: offset(i + 3), end: end < toks.length ? offset(end) - 1 : normalized.length };
  else fail(i + 1);
  const rest = end < toks.length ? normalized.slice(offset(end)) : '';
  return { insert: `${normalized.slice(0, Math.max(0, offset(on) - 1))}${rest === '' ? '' : ` ${rest}`}`, target, update };
}

export function describeError(err: unknown): { code: string; message: string; position?: number; detail?: string } {
  if (err instanceof SqlError) {
    return {
      code: err.code,
      message: err.message,
      ...(err.position === undefined ? {} : { position: err.position }),
      ...(err.detail === undefined ? {} : { detail: err.detail }),
    };
  }
  if (err instanceof OrdoError) return { code: err.code, message: err.message };
  return { code: SqlState.internalError, message: errorMessage(err) };
}
