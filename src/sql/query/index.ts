// The read-only relational query engine: SELECTs the program compiler (compile.ts) does not handle —
// joins, subqueries, CTEs, grouping, set operations, DISTINCT, the wider expression language — are
// planned here into a QueryPlan and run against the local store at a read index (SqlEngine.runRead).
//
// A query plan travels through the gateway as a ProgramPlan, so sessions, Describe and the plan cache
// treat it like any other; its `program` only aborts with 0A000, which is what a writing transaction
// block that contains it gets (its reads would have to be sequenced with the writes).

import type { Program } from '../../executor/index.js';
import type { RowReader, Value } from '../../partitions/index.js';
import type { Catalog } from '../../sequencer/index.js';
import { OrdoError, SqlState } from '../../util/index.js';
import type { ProgramPlan, ResultColumn } from '../compile.js';
import { utilityTokens, type LiftedLiteral } from '../normalize.js';
import type { Node, SubPlan } from './binder.js';
import { paramValues } from './binder.js';
import { toSqlType, toWire } from './qtypes.js';
import type { CatalogContext, CatalogFunction, VirtualRelation } from './relation.js';
import { Planner } from './select.js';

export type { CatalogContext, CatalogFunction, RelationColumn, VirtualRelation } from './relation.js';
export { rewriteQueryText } from './rewrite.js';
export { QueryLimits } from './select.js';
export { Decimal, divDecimal } from './values.js';

/** What the catalogs (src/sql/pgcatalog/) contribute: relations by schema, and SQL-callable functions. */
export interface QueryRegistry {
  /** Every virtual relation as the session described by `ctx` sees it (rows are produced on demand). */
  relations(ctx: CatalogContext): readonly VirtualRelation[];
  readonly functions: readonly CatalogFunction[];
}

export const EMPTY_REGISTRY: QueryRegistry = { relations: () => [], functions: [] };

/** Schemas searched for an unqualified relation name after the user's tables (PostgreSQL's search_path). */
const SEARCHED_SCHEMAS = ['pg_catalog'] as const;

const REFUSE_IN_WRITE_BLOCK: Program = {
  reads: { points: [], ranges: [] },
  writes: { points: [], ranges: [] },
  body: [
    {
      k: 'abort',
      code: SqlState.featureNotSupported,
      message: { k: 'lit', v: 'joins, subqueries, grouping and the other query-engine features are not supported inside a transaction that writes (run the SELECT outside it)' },
    },
  ],
};

/** A SELECT planned by the query engine, carried as a ProgramPlan. */
export interface QueryProgramPlan extends ProgramPlan {
  readonly query: SubPlan;
}

export function isQueryPlan(plan: ProgramPlan): plan is QueryProgramPlan {
  return (plan as Partial<QueryProgramPlan>).query !== undefined;
}

export interface QueryInput {
  readonly ast: Readonly<Record<string, unknown>>;
  readonly catalog: Catalog;
  readonly literals: readonly LiftedLiteral[];
  readonly declaredOids: readonly number[];
  readonly registry: QueryRegistry;
  /** The normalized statement text (for what the parser's tree loses). */
  readonly text: string;
}

/** Plans a SELECT; throws OrdoError with the SQLSTATE PostgreSQL gives (0A000 for what is not supported). */
export function compileQuery(input: QueryInput): QueryProgramPlan {
  const { catalog, registry } = input;
  // Names and columns of the virtual relations do not depend on the session: plan against defaults.
  const planCtx: CatalogContext = { catalog, setting: () => undefined, user: 'postgres', database: 'postgres' };
  let planRelations: readonly VirtualRelation[] | null = null;
  const find = (rels: readonly VirtualRelation[], schema: string | null, name: string): VirtualRelation | undefined =>
    schema === null ? SEARCHED_SCHEMAS.map((s) => rels.find((r) => r.schema === s && r.name === name)).find((r) => r !== undefined) : rels.find((r) => r.schema === schema && r.name === name);
  const planner = new Planner(
    { literals: input.literals, declaredOids: input.declaredOids, functions: registry.functions },
    {
      catalog,
      virtual: (schema, name) => find((planRelations ??= registry.relations(planCtx)), schema, name),
      virtualAt: (ctx, schema, name) => find(registry.relations(ctx), schema, name),
      saysLimit: utilityTokens(input.text).some((tok) => tok.kind === 'word' && tok.text.toLowerCase() === 'limit'),
    },
  );
  const query = planner.planStatement(input.ast as Node);
  const columns: ResultColumn[] = query.columns.map((c) => ({ name: c.name, type: toSqlType(c.t), tableId: c.tableId, attr: c.attr }));
  return {
    kind: 'program',
    command: 'SELECT',
    program: REFUSE_IN_WRITE_BLOCK,
    readOnly: true,
    params: planner.slots,
    needsTxnId: false,
    columns,
    post: null,
    query,
  };
}

/** What a session tells catalog functions about itself (CatalogContext's session part). */
export interface QuerySession {
  readonly database: string;
  setting(name: string): string | undefined;
}

export interface QueryRun {
  readonly store: RowReader;
  readonly catalog: CatalogContext;
  /** The statement's now(), milliseconds since 1970. */
  readonly nowMs: number;
}

/** Runs a planned SELECT; the rows are what the wire layer's encodeCell takes for the plan's columns. */
export function runQuery(plan: QueryProgramPlan, params: readonly Value[], env: QueryRun): { rows: Value[][]; tag: string } {
  if (params.length < plan.params.length) throw new OrdoError('08P01', `the statement needs ${plan.params.length} parameters, got ${params.length}`);
  const rows = plan.query.run({
    params: paramValues(plan.params, params),
    outer: [],
    cache: new Map(),
    store: env.store,
    catalog: env.catalog,
    nowUs: BigInt(env.nowMs) * 1000n,
  });
  const pad = plan.columns?.map((c) => (c.type.name === 'bpchar' ? c.type.length : null)) ?? [];
  const out = rows.map((r) =>
    r.map((v, i) => {
      const w = toWire(v ?? null);
      const n = pad[i] ?? null;
      // char(n) is stored unpadded and shown padded, as the compiled path does.
      return n !== null && typeof w === 'string' && [...w].length < n ? w + ' '.repeat(n - [...w].length) : w;
    }),
  );
  return { rows: out, tag: `SELECT ${out.length}` };
}
