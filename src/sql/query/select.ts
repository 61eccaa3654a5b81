// The planner: a SELECT (with its FROM, joins, WHERE, GROUP BY, HAVING, DISTINCT, ORDER BY, LIMIT,
// set operations and CTEs) → a SubPlan that produces its rows. Rows of one query level are arrays
// with one slot per column of every FROM item, at fixed positions, so expressions read the same
// positions whatever order the joins run in.

import { encodeKey, encodeRange, type Value } from '../../partitions/index.js';
import type { Catalog, CatalogTable } from '../../sequencer/index.js';
import { OrdoError, SqlState } from '../../util/index.js';
import { SqlStateX, columnSqlType } from '../types.js';
import { NO_REFS, type BExpr, type Exec, type Row } from './bound.js';
import {
  Binder,
  Level,
  containsAggregate,
  ident,
  isNode,
  list,
  unsupported,
  type AggSpec,
  type BinderOptions,
  type Grouping,
  type LevelCol,
  type LevelRel,
  type Node,
  type OutCol,
  type SubPlan,
} from './binder.js';
import { and, asBool, coerce, comparison, unify } from './functions.js';
import { Q, castValue, commonType, fromEngine, isInt, typeName, type QType } from './qtypes.js';
import type { CatalogContext, VirtualRelation } from './relation.js';
import {
  Decimal,
  Interval,
  addDecimal,
  compareQ,
  decimalOf,
  divDecimal,
  hashKey,
  rescale,
  rowKey,
  type QValue,
} from './values.js';

export const QueryLimits = {
  /** Rows one query may hold at any step (a join's output, a sort); beyond it fails with 54000. */
  maxRows: 5_000_000,
  maxSeriesRows: 1_000_000,
} as const;

/** Where named relations come from while planning. */
export interface PlanSources {
  readonly catalog: Catalog;
  /** The virtual relations (pg_catalog, information_schema) as planning sees them. */
  readonly virtual: (schema: string | null, name: string) => VirtualRelation | undefined;
  /** The same relation for one execution (its rows reflect the session). */
  readonly virtualAt: (ctx: CatalogContext, schema: string, name: string) => VirtualRelation | undefined;
  /** The statement's text has the word LIMIT (which the parser may have dropped). */
  readonly saysLimit: boolean;
}

// --- FROM items --------------------------------------------------------------------------------

interface Source {
  readonly id: number;
  readonly rel: LevelRel;
  readonly offset: number;
  readonly width: number;
  /** Conditions on this source's columns alone, applied as it is read. */
  readonly filters: BExpr[];
  /** Set when it is a user table: a primary-key point lookup becomes possible. */
  readonly table: CatalogTable | null;
  /** Key expressions (in key order) when the filters fix the whole primary key. */
  pointKey: BExpr[] | null;
  /** On the NULL-extended side of an outer join: WHERE conditions cannot be pushed into it. */
  nullable: boolean;
  /** All rows, each a level row with this source's slots filled. */
  rows(x: Exec, width: number): Row[];
}

type JoinKind = 'inner' | 'left' | 'right' | 'full' | 'cross';

interface JoinStep {
  readonly kind: JoinKind;
  readonly right: Source;
  /** Equi-join pairs (left side, right side) and the rest of the ON condition. */
  readonly equi: [BExpr, BExpr][];
  readonly residual: BExpr | null;
  /** USING / NATURAL merged columns: slot ← left or right or COALESCE. */
  readonly merged: { readonly slot: number; readonly left: BExpr; readonly right: BExpr }[];
}

interface JoinTree {
  readonly first: Source;
  readonly steps: JoinStep[];
  readonly sources: Source[];
}

interface StarCol {
  readonly col: LevelCol;
  readonly rel: LevelRel;
}

interface Conjunct {
  readonly e: BExpr;
  readonly eq: [BExpr, BExpr] | null;
}

function tooMany(): OrdoError {
  return new OrdoError(SqlState.programLimitExceeded, `a query step produced more than ${QueryLimits.maxRows} rows`);
}

function merge(left: Row, right: Row, src: Source): Row {
  const r = left.slice();
  for (let i = src.offset; i < src.offset + src.width; i++) r[i] = right[i] ?? null;
  return r;
}

function mergeTree(left: Row, right: Row, sources: readonly Source[]): Row {
  const r = left.slice();
  for (const s of sources) for (let i = s.offset; i < s.offset + s.width; i++) r[i] = right[i] ?? null;
  return r;
}

function passes(filters: readonly BExpr[], row: Row, x: Exec): boolean {
  for (const f of filters) if (f.ev(row, x) !== true) return false;
  return true;
}

/** An engine key part for a value compared with a key column of type `t`; undefined: no row can match. */
function keyPart(t: QType, v: QValue): Value | undefined {
  if (v === null) return undefined;
  if (t.name === 'numeric') {
    const d = decimalOf(v);
    const s = t.scale ?? 0;
    const scaled = rescale(d, s);
    // A value with more fractional digits than the column cannot equal any stored value.
    return addDecimal(d, new Decimal(scaled, s), -1n).v === 0n ? scaled : undefined;
  }
  if (v instanceof Decimal || v instanceof Interval || typeof v === 'object' && !(v instanceof Uint8Array)) return undefined;
  return v;
}

// --- the planner -------------------------------------------------------------------------------

export class Planner extends Binder {
  constructor(
    options: BinderOptions,
    private readonly sources: PlanSources,
  ) {
    super(options);
  }

  protected planSubquery(ast: Node, parent: Level): SubPlan {
    return this.planQuery(ast, parent, parent, null);
  }

  /** A whole statement. */
  planStatement(ast: Node): SubPlan {
    const plan = this.planQuery(ast, null, null, null);
    this.finishParams();
    return plan;
  }

  /** A query expression: WITH, then one SELECT or a chain of set operations. */
  planQuery(ast: Node, parent: Level | null, cteParent: Level | null, via: Level | null): SubPlan {
    const scope = new Level(parent, cteParent, via);
    const levels: Level[] = [scope];
    const withItems = list(ast.with);
    if (isNode(ast.with) && ast.with.recursive === true) throw unsupported('WITH RECURSIVE');
    for (const w of withItems) {
      if (!isNode(w)) continue;
      if (w.recursive === true) throw unsupported('WITH RECURSIVE');
      const name = ident(w.name);
      const stmt = isNode(w.stmt) && isNode(w.stmt.ast) ? w.stmt.ast : w.stmt;
      if (!isNode(stmt) || stmt.type !== 'select') throw unsupported('data-modifying statements in WITH');
      const body = this.planQuery(stmt, parent, scope, via);
      const renames = list(w.columns).map(ident);
      const columns = body.columns.map((c, i) => ({ ...c, name: renames[i] ?? c.name }));
      if (renames.length > body.columns.length) throw new OrdoError(SqlStateX.invalidColumnReference, `WITH query "${name}" has ${body.columns.length} columns available but ${renames.length} columns specified`);
      scope.ctes.set(name, { name, id: this.fresh(), plan: { ...body, columns } });
    }
    // The chain of set operations, INTERSECT binding tighter than UNION and EXCEPT.
    const members: Node[] = [];
    const ops: string[] = [];
    for (let n: Node | null = ast; n !== null; n = isNode(n._next) ? n._next : null) {
      members.push(n);
      if (isNode(n._next)) ops.push(String(n.set_op ?? 'union').toLowerCase());
    }
    const plan = (m: Node, own: boolean): SubPlan => {
      const level = new Level(parent, scope, via);
      levels.push(level);
      return this.planSelect(m, level, own);
    };
    let result: SubPlan;
    if (members.length === 1) result = plan(ast, true);
    else {
      const last = members.at(-1) as Node;
      const trailing = last.parentheses_symbol !== true;
      const plans = members.map((m, i) => plan(m, i < members.length - 1 || !trailing));
      result = this.setOperations(plans, ops);
      if (trailing) result = this.orderLimit(result, last);
    }
    const inner = result;
    return {
      columns: inner.columns,
      get correlated() {
        return levels.some((l) => l.correlated) || inner.correlated;
      },
      get parentUses() {
        const s = new Set<number>();
        for (const l of levels) for (const u of l.parentUses) s.add(u);
        return s;
      },
      run: (x) => inner.run(x),
    };
  }

  // --- set operations --------------------------------------------------------------------------

  private setOperations(plans: readonly SubPlan[], ops: readonly string[]): SubPlan {
    const width = (plans[0] as SubPlan).columns.length;
    for (const p of plans) {
      if (p.columns.length !== width) throw new OrdoError(SqlStateX.syntaxError, 'each UNION query must have the same number of columns');
    }
    const types = (plans[0] as SubPlan).columns.map((_, i) => {
      const t = commonType(plans.map((p) => (p.columns[i] as OutCol).t), 'UNION');
      return t.name === 'unknown' ? Q.text : t;
    });
    const columns = (plans[0] as SubPlan).columns.map((c, i) => ({ name: c.name, t: types[i] as QType, tableId: 0, attr: 0 }));
    const conv = plans.map((p) => p.columns.map((c, i) => (c.t.name === (types[i] as QType).name || c.t.name === 'unknown' ? null : { from: c.t, to: types[i] as QType })));
    const runMember = (i: number, x: Exec): Row[] => {
      const rows = (plans[i] as SubPlan).run(x);
      const cs = conv[i] as ({ from: QType; to: QType } | null)[];
      if (cs.every((c) => c === null)) return rows;
      return rows.map((r) => r.map((v, j) => {
        const c = cs[j];
        return c === null || c === undefined || v === null ? v : castValue(c.from, c.to, v);
      }));
    };
    // Fold INTERSECTs first, then UNION / EXCEPT left to right.
    type Term = (x: Exec) => Row[];
    const terms: Term[] = [(x) => runMember(0, x)];
    const termOps: string[] = [];
    ops.forEach((op, i) => {
      const right: Term = (x) => runMember(i + 1, x);
      if (op.startsWith('intersect')) {
        const left = terms.pop() as Term;
        terms.push((x) => setOp(op, left(x), right(x)));
      } else {
        terms.push(right);
        termOps.push(op);
      }
    });
    const run = (x: Exec): Row[] => {
      let rows = (terms[0] as Term)(x);
      termOps.forEach((op, i) => {
        rows = setOp(op, rows, (terms[i + 1] as Term)(x));
      });
      return rows;
    };
    return { columns, correlated: plans.some((p) => p.correlated), parentUses: new Set(plans.flatMap((p) => [...p.parentUses])), run };
  }

  /** ORDER BY / LIMIT / OFFSET over a set operation's result: output names and positions only. */
  private orderLimit(inner: SubPlan, ast: Node): SubPlan {
    const keys = list(ast.orderby).map((o) => {
      const on = isNode(o) ? o : {};
      const ex = isNode(on.expr) ? on.expr : {};
      let index: number;
      if (ex.type === 'number') index = Number(ex.value) - 1;
      else if (ex.type === 'column_ref' && (ex.table === null || ex.table === undefined)) index = inner.columns.findIndex((c) => c.name === ident(ex.column));
      else throw unsupported('ORDER BY on a UNION/INTERSECT/EXCEPT result other than by output column name or position');
      if (index < 0 || index >= inner.columns.length) throw new OrdoError(SqlState.undefinedColumn, `ORDER BY item is not an output column of the set operation`);
      return sortKeyOf(on, index);
    });
    const { limit, offset } = this.limits(ast, new Level(null, null));
    return {
      columns: inner.columns,
      correlated: inner.correlated,
      parentUses: inner.parentUses,
      run: (x) => {
        let rows = inner.run(x);
        if (keys.length > 0) rows = sortRows(rows, keys);
        return slice(rows, limit, offset, x);
      },
    };
  }

  private limits(ast: Node, level: Level): { limit: BExpr | null; offset: BExpr | null } {
    const node = isNode(ast.limit) ? ast.limit : { value: [] };
    const vs = list(node.value);
    const count = (v: unknown, what: string): BExpr | null => {
      if (!isNode(v)) return null;
      if (v.type === 'origin' && String(v.value).toLowerCase() === 'all') return null;
      const e = this.bind(v, level);
      if (e.refs.size > 0) throw new OrdoError('42P10', `argument of ${what} must not contain variables`);
      return coerce(e, Q.int8, () => new OrdoError(SqlState.datatypeMismatch, `argument of ${what} must be type bigint, not type ${typeName(e.t)}`));
    };
    if (vs.length === 1 && node.seperator === 'offset') {
      // node-sql-parser reads `OFFSET n LIMIT m` as `OFFSET n` and drops the LIMIT.
      if (this.sources.saysLimit) throw unsupported('OFFSET before LIMIT (write LIMIT … OFFSET …)');
      return { limit: null, offset: count(vs[0], 'OFFSET') };
    }
    if (vs.length === 1) return { limit: count(vs[0], 'LIMIT'), offset: null };
    if (vs.length === 2 && node.seperator === 'offset') return { limit: count(vs[0], 'LIMIT'), offset: count(vs[1], 'OFFSET') };
    if (vs.length === 2) return { limit: count(vs[1], 'LIMIT'), offset: count(vs[0], 'OFFSET') };
    return { limit: null, offset: null };
  }

  // --- one SELECT ------------------------------------------------------------------------------

  private planSelect(ast: Node, level: Level, ownOrderLimit: boolean): SubPlan {
    if (ast.type !== 'select') throw unsupported(`${String(ast.type).toUpperCase()} as a query`);
    if (isNode(ast.into) && ast.into.position !== null && ast.into.position !== undefined) throw unsupported('SELECT INTO');
    if (ast.window !== null && ast.window !== undefined) throw unsupported('WINDOW clauses');
    if (isNode(ast.with) || (Array.isArray(ast.with) && ast.with.length > 0)) {
      // A WITH on a member of a set operation other than the first.
      if (level.ctes.size === 0 && !ownOrderLimit) throw unsupported('WITH inside a set operation member');
    }
    const trees = this.fromItems(ast.from, level);
    const star: StarCol[] = trees.flatMap((t) => t.star);

    // WHERE
    level.noAggregates = 'WHERE';
    const conjuncts = this.conjuncts(ast.where, level);
    level.noAggregates = null;
    const fromRun = this.joinPlan(trees.map((t) => t.tree), conjuncts, level);

    // GROUP BY
    const grouped = isNode(ast.groupby) || Array.isArray(ast.groupby) || isNode(ast.having) || containsAggregate(ast.columns) || containsAggregate(ast.having) || containsAggregate(ast.orderby);
    const selectItems = list(ast.columns);
    if (grouped) {
      const groupAsts = isNode(ast.groupby) ? list(ast.groupby.columns) : list(ast.groupby);
      level.noAggregates = 'GROUP BY';
      const keys: BExpr[] = [];
      for (const g of groupAsts) {
        if (isNode(g) && g.type === 'number') {
          const item = selectItems[Number(g.value) - 1];
          if (!isNode(item)) throw new OrdoError('42P10', `GROUP BY position ${String(g.value)} is not in select list`);
          keys.push(this.bind(item.expr ?? item, level));
          continue;
        }
        if (isNode(g) && g.type === 'column_ref' && (g.table === null || g.table === undefined)) {
          // A bare name is an input column first, then an output column name.
          try {
            keys.push(this.bind(g, level));
          } catch (err) {
            const name = ident(g.column);
            const item = selectItems.find((s) => isNode(s) && s.as === name);
            if (!isNode(item) || !(err instanceof OrdoError) || err.code !== SqlState.undefinedColumn) throw err;
            keys.push(this.bind(item.expr, level));
          }
          continue;
        }
        keys.push(this.bind(g, level));
      }
      level.noAggregates = null;
      const keyIndex = new Map<string, number>();
      keys.forEach((k, i) => {
        if (!keyIndex.has(k.key)) keyIndex.set(k.key, i);
      });
      const dependent = new Set<LevelRel>();
      for (const rel of level.rels) {
        if (rel.pk.length > 0 && rel.pk.every((p) => keyIndex.has(`c${(rel.cols[p] as LevelCol).index}`))) dependent.add(rel);
      }
      level.grouping = { keys, keyIndex, exprKeys: keys.some((k) => k.col === undefined), dependent, aggs: [], aggIndex: new Map() } satisfies Grouping;
    }

    // The select list.
    const outputs: BExpr[] = [];
    const columns: OutCol[] = [];
    for (const item of selectItems) {
      if (!isNode(item)) continue;
      // node-sql-parser puts a select item that is a cast in the item itself.
      const ex = item.type === 'cast' ? item : isNode(item.expr) ? item.expr : item;
      if (ex.type === 'column_ref' && ex.column === '*') {
        const qualifier = ex.table === null || ex.table === undefined ? null : ident(ex.table);
        const cols = qualifier === null ? star : this.relStar(level, qualifier);
        if (qualifier === null && trees.length === 0) throw new OrdoError(SqlStateX.syntaxError, 'SELECT * with no tables specified is not valid');
        for (const s of cols) {
          const e = this.starRef(level, s);
          outputs.push(e);
          columns.push({ name: s.col.name, t: s.col.t, tableId: s.col.tableId, attr: s.col.attr });
        }
        continue;
      }
      const e = this.bind(ex, level);
      const name = typeof item.as === 'string' ? item.as : outputName(ex, e);
      const col = e.col === undefined ? undefined : findCol(level, e.col);
      outputs.push(e);
      columns.push({ name, t: e.t.name === 'unknown' ? Q.text : e.t, tableId: col?.tableId ?? 0, attr: col?.attr ?? 0 });
    }
    const finalOutputs = outputs.map((e) => (e.t.name === 'unknown' ? coerce(e, Q.text, () => unsupported('this output')) : e));

    // HAVING
    let having: BExpr | null = null;
    if (isNode(ast.having)) {
      if (!grouped) throw new OrdoError(SqlStateX.groupingError, 'HAVING without GROUP BY or aggregates');
      having = asBool(this.bind(ast.having, level), 'HAVING');
    }

    // DISTINCT / DISTINCT ON
    const distinctNode = isNode(ast.distinct) ? ast.distinct : null;
    const distinctKind = distinctNode === null ? null : distinctNode.type === null || distinctNode.type === undefined ? null : String(distinctNode.type).toUpperCase();
    const hidden: BExpr[] = [];
    const hiddenIndex = (e: BExpr): number => {
      const at = finalOutputs.findIndex((o) => o.key === e.key);
      if (at >= 0) return at;
      const h = hidden.findIndex((o) => o.key === e.key);
      if (h >= 0) return finalOutputs.length + h;
      hidden.push(e);
      return finalOutputs.length + hidden.length - 1;
    };
    let distinctOn: number[] | null = null;
    if (distinctKind === 'DISTINCT ON') {
      distinctOn = list(distinctNode?.columns).map((c) => {
        const ex = isNode(c) && isNode(c.expr) ? c.expr : c;
        if (isNode(ex) && ex.type === 'number') return Number(ex.value) - 1;
        return hiddenIndex(this.bind(ex, level));
      });
    } else if (distinctKind !== null && distinctKind !== 'DISTINCT') throw unsupported(`SELECT ${distinctKind}`);

    // ORDER BY
    const order: { index: number; desc: boolean; nullsFirst: boolean }[] = [];
    if (ownOrderLimit) {
      for (const o of list(ast.orderby)) {
        const on = isNode(o) ? o : {};
        const ex = isNode(on.expr) ? on.expr : {};
        let index: number;
        if (ex.type === 'number') {
          index = Number(ex.value) - 1;
          if (!Number.isInteger(index) || index < 0 || index >= columns.length) throw new OrdoError('42P10', `ORDER BY position ${String(ex.value)} is not in select list`);
        } else {
          const byName = ex.type === 'column_ref' && (ex.table === null || ex.table === undefined) ? columns.findIndex((c) => c.name === ident(ex.column)) : -1;
          if (byName >= 0 && columns.filter((c) => c.name === ident(ex.column)).length > 1) throw new OrdoError(SqlStateX.ambiguousColumn, `ORDER BY "${ident(ex.column)}" is ambiguous`);
          if (byName >= 0) index = byName;
          else {
            index = hiddenIndex(this.bind(ex, level));
            if (distinctKind === 'DISTINCT' && index >= finalOutputs.length) {
              throw new OrdoError('42P10', 'for SELECT DISTINCT, ORDER BY expressions must appear in select list');
            }
          }
        }
        const k = sortKeyOf(on, index);
        order.push(k);
      }
    }
    const { limit, offset } = ownOrderLimit ? this.limits(ast, level) : { limit: null, offset: null };
    const grouping = level.grouping;
    level.grouping = null;

    const width = finalOutputs.length;
    const projection = [...finalOutputs, ...hidden].map((e) => e.ev);
    const levelWidth = (): number => level.width;
    const run = (x: Exec): Row[] => {
      let rows = fromRun(x);
      if (grouping !== null) rows = group(rows, grouping, levelWidth(), x);
      if (having !== null) {
        const h = having.ev;
        rows = rows.filter((r) => h(r, x) === true);
      }
      let out: Row[] = rows.map((r) => projection.map((p) => p(r, x)));
      if (distinctKind === 'DISTINCT') out = dedupe(out, width);
      if (order.length > 0) out = sortRows(out, order);
      if (distinctOn !== null) {
        const on = distinctOn;
        const seen = new Set<string>();
        out = out.filter((r) => {
          const k = rowKey(on.map((i) => r[i] ?? null));
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
      }
      out = slice(out, limit, offset, x);
      return hidden.length === 0 ? out : out.map((r) => r.slice(0, width));
    };
    return { columns, correlated: level.correlated, parentUses: level.parentUses, run };
  }

  private starRef(level: Level, s: StarCol): BExpr {
    const i = s.col.index;
    const g = level.grouping;
    if (g !== null && !g.keyIndex.has(`c${i}`) && !g.dependent.has(s.rel)) {
      throw new OrdoError(SqlStateX.groupingError, `column "${s.rel.name ?? ''}${s.rel.name === null ? '' : '.'}${s.col.name}" must appear in the GROUP BY clause or be used in an aggregate function`);
    }
    return { t: s.col.t, key: `c${i}`, ev: (row) => row[i] ?? null, refs: new Set([i]), col: i, constant: false };
  }

  private relStar(level: Level, qualifier: string): StarCol[] {
    const rel = level.rels.find((r) => r.name === qualifier);
    if (rel === undefined) throw new OrdoError(SqlStateX.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`);
    return rel.cols.map((col) => ({ col, rel }));
  }

  private conjuncts(where: unknown, level: Level): Conjunct[] {
    if (!isNode(where)) return [];
    if (where.type === 'binary_expr' && String(where.operator).toUpperCase() === 'AND') {
      return [...this.conjuncts(where.left, level), ...this.conjuncts(where.right, level)];
    }
    if (where.type === 'binary_expr' && where.operator === '=' && !isQuantified(where.right)) {
      const [a, b] = unify(this.bind(where.left, level), this.bind(where.right, level), '=');
      return [{ e: recordEquality(comparison('=', a, b), [a, b]), eq: [a, b] }];
    }
    return [{ e: asBool(this.bind(where, level), 'WHERE'), eq: null }];
  }

  // --- FROM ------------------------------------------------------------------------------------

  /** The FROM list as join trees (one per comma-separated item), with their `*` columns. */
  private fromItems(from: unknown, level: Level): { tree: JoinTree; star: StarCol[] }[] {
    const trees: { tree: JoinTree; star: StarCol[] }[] = [];
    for (const item of list(from)) {
      if (!isNode(item)) continue;
      const join = typeof item.join === 'string' ? item.join.toUpperCase() : null;
      const alias = parseAlias(item.as);
      if (join === null) {
        const src = this.source(item, alias, level);
        trees.push({ tree: { first: src, steps: [], sources: [src] }, star: src.rel.cols.map((col) => ({ col, rel: src.rel })) });
        continue;
      }
      const current = trees.at(-1);
      if (current === undefined) throw new OrdoError(SqlStateX.syntaxError, `syntax error at or near "${join}"`);
      const right = this.source(item, alias, level);
      const kind: JoinKind = join.startsWith('LEFT') ? 'left' : join.startsWith('RIGHT') ? 'right' : join.startsWith('FULL') ? 'full' : join.startsWith('CROSS') ? 'cross' : 'inner';
      const leftSources = current.tree.sources;
      if (kind === 'right' || kind === 'full') for (const s of leftSources) s.nullable = true;
      if (kind === 'left' || kind === 'full') right.nullable = true;
      let usingNames = list(item.using).map(ident);
      const natural = usingNames.length === 1 && usingNames[0] === NATURAL_MARK;
      if (natural) {
        usingNames = right.rel.cols.map((c) => c.name).filter((n) => current.star.some((s) => s.col.name === n && !s.col.hidden));
      }
      const equi: [BExpr, BExpr][] = [];
      const residual: BExpr[] = [];
      const merged: JoinStep['merged'] = [];
      let star = [...current.star, ...right.rel.cols.map((col) => ({ col, rel: right.rel }))];
      if (usingNames.length > 0 || natural) {
        const mergedRel: LevelRel = { name: null, cols: [], pk: [] };
        const usedLeft = new Set<number>();
        const usedRight = new Set<number>();
        for (const name of usingNames) {
          const lefts = current.star.filter((s) => s.col.name === name && !s.col.hidden);
          if (lefts.length === 0) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" specified in USING clause does not exist in left table`);
          if (lefts.length > 1) throw new OrdoError(SqlStateX.ambiguousColumn, `common column name "${name}" appears more than once in left table`);
          const rc = right.rel.cols.find((c) => c.name === name);
          if (rc === undefined) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" specified in USING clause does not exist in right table`);
          const lc = (lefts[0] as StarCol).col;
          const [a, b] = unify(colExpr(lc), colExpr(rc), '=');
          equi.push([a, b]);
          const slot = level.alloc(1);
          const t = a.t;
          mergedRel.cols.push({ name, t, index: slot, hidden: false, tableId: 0, attr: 0 });
          merged.push({ slot, left: a, right: b });
          lc.hidden = true;
          rc.hidden = true;
          usedLeft.add(lc.index);
          usedRight.add(rc.index);
        }
        level.rels.push(mergedRel);
        star = [
          ...mergedRel.cols.map((col) => ({ col, rel: mergedRel })),
          ...current.star.filter((s) => !usedLeft.has(s.col.index)),
          ...right.rel.cols.filter((c) => !usedRight.has(c.index)).map((col) => ({ col, rel: right.rel })),
        ];
      } else if (item.on !== null && item.on !== undefined) {
        level.noAggregates = 'JOIN conditions';
        const conds = this.conjuncts(item.on, level);
        level.noAggregates = null;
        const inRight = (e: BExpr): boolean => e.refs.size > 0 && [...e.refs].every((r) => r >= right.offset && r < right.offset + right.width);
        const inLeft = (e: BExpr): boolean => e.refs.size > 0 && [...e.refs].every((r) => leftSources.some((s) => r >= s.offset && r < s.offset + s.width));
        for (const c of conds) {
          if (c.eq !== null && inLeft(c.eq[0]) && inRight(c.eq[1])) equi.push(c.eq);
          else if (c.eq !== null && inRight(c.eq[0]) && inLeft(c.eq[1])) equi.push([c.eq[1], c.eq[0]]);
          else if ((kind === 'inner' || kind === 'left') && inRight(c.e)) right.filters.push(c.e);
          else residual.push(c.e);
        }
      } else if (kind !== 'cross' && kind !== 'inner') throw new OrdoError(SqlStateX.syntaxError, `syntax error: ${join} requires an ON or USING clause`);
      current.tree.steps.push({ kind, right, equi, residual: residual.length === 0 ? null : and(residual), merged });
      current.tree.sources.push(right);
      current.star = star;
    }
    return trees;
  }

  private source(item: Node, alias: { name: string | null; columns: string[] }, level: Level): Source {
    const id = this.fresh();
    const expr = isNode(item.expr) ? item.expr : null;
    if (expr !== null && isNode(expr.ast)) {
      // A derived table: planned as its own level, seeing the enclosing query's levels but not this one.
      if (alias.name === null) throw new OrdoError(SqlStateX.syntaxError, 'subquery in FROM must have an alias');
      const sub = this.planQuery(expr.ast, level.parent, level, level);
      return this.planSource(id, level, alias.name, sub.columns, alias.columns, null, (x) => sub.run(x));
    }
    if (expr !== null && expr.type === 'function') return this.seriesSource(id, expr, alias, level);
    if (typeof item.table !== 'string') throw unsupported('this FROM item');
    const schema = typeof item.db === 'string' && item.db !== '' ? item.db : null;
    const name = item.table;
    const relName = alias.name ?? name;
    if (schema === null) {
      const cte = level.cte(name);
      if (cte !== undefined) {
        const plan = cte.plan;
        return this.planSource(id, level, relName, plan.columns, alias.columns, null, (x) => {
          if (plan.correlated) return plan.run(x);
          let rows = x.cache.get(cte.id) as Row[] | undefined;
          if (rows === undefined) {
            rows = plan.run(x);
            x.cache.set(cte.id, rows);
          }
          return rows;
        });
      }
    }
    if (schema === null || schema === 'public') {
      const table = this.sources.catalog.tables.find((t) => t.name === name);
      if (table !== undefined) return this.tableSource(id, level, table, relName, alias.columns);
      if (schema === 'public') throw new OrdoError(SqlStateX.undefinedTable, `relation "${schema}.${name}" does not exist`);
    }
    const v = this.sources.virtual(schema, name);
    if (v === undefined) throw new OrdoError(SqlStateX.undefinedTable, `relation "${schema === null ? name : `${schema}.${name}`}" does not exist`);
    const types = v.columns.map((c) => c.type as QType);
    const vschema = v.schema;
    const cols = v.columns.map((c) => ({ name: c.name, t: c.type as QType, tableId: 0, attr: 0 }));
    return this.planSource(id, level, relName, cols, alias.columns, null, (x) => {
      const rel = this.sources.virtualAt(x.catalog, vschema, name);
      if (rel === undefined) throw new OrdoError(SqlStateX.undefinedTable, `relation "${vschema}.${name}" does not exist`);
      const out: Row[] = [];
      for (const values of rel.rows()) out.push(types.map((t, i) => fromEngine(t, values[i] ?? null)));
      return out;
    });
  }

  /** A source whose rows come as arrays of its own columns, placed at its slots. */
  private planSource(id: number, level: Level, name: string, columns: readonly OutCol[], renames: readonly string[], table: CatalogTable | null, produce: (x: Exec) => Row[]): Source {
    if (renames.length > columns.length) throw new OrdoError(SqlStateX.invalidColumnReference, `table "${name}" has ${columns.length} columns available but ${renames.length} columns specified`);
    if (level.rels.some((r) => r.name === name)) throw new OrdoError('42712', `table name "${name}" specified more than once`);
    const offset = level.alloc(columns.length);
    const rel: LevelRel = {
      name,
      cols: columns.map((c, i) => ({ name: renames[i] ?? c.name, t: c.t.name === 'unknown' ? Q.text : c.t, index: offset + i, hidden: false, tableId: c.tableId, attr: c.attr })),
      pk: table === null ? [] : table.primaryKey,
    };
    level.rels.push(rel);
    const width = columns.length;
    const src: Source = {
      id,
      rel,
      offset,
      width,
      filters: [],
      table,
      pointKey: null,
      nullable: false,
      rows: (x, levelWidth) => {
        const out: Row[] = [];
        for (const values of produce(x)) {
          const r: Row = new Array<QValue>(levelWidth);
          for (let i = 0; i < width; i++) r[offset + i] = values[i] ?? null;
          if (passes(src.filters, r, x)) out.push(r);
        }
        return out;
      },
    };
    return src;
  }

  private tableSource(id: number, level: Level, table: CatalogTable, name: string, renames: readonly string[]): Source {
    const types = table.columns.map((c) => columnSqlType(c) as QType);
    const cols = table.columns.map((c, i) => ({ name: c.name, t: types[i] as QType, tableId: table.id, attr: i + 1 }));
    const n = types.length;
    const decode = (values: readonly Value[]): Row => {
      const r: Row = new Array<QValue>(n);
      for (let i = 0; i < n; i++) r[i] = fromEngine(types[i] as QType, values[i] ?? null);
      return r;
    };
    const check = (x: Exec): void => {
      const now = x.catalog.catalog.tables.find((t) => t.id === table.id);
      if (now === undefined) throw new OrdoError(SqlStateX.undefinedTable, `relation "${table.name}" does not exist`);
      if ((now.rekeyedAt ?? 0) !== (table.rekeyedAt ?? 0)) throw new OrdoError(SqlState.serializationFailure, `relation "${table.name}" was altered after this statement was planned; retry it`);
    };
    const src = this.planSource(id, level, name, cols, renames, table, (x) => {
      check(x);
      const key = src.pointKey;
      if (key !== null) {
        const parts: Value[] = [];
        for (let i = 0; i < key.length; i++) {
          const p = keyPart(types[table.primaryKey[i] as number] as QType, (key[i] as BExpr).ev([], x));
          if (p === undefined) return [];
          parts.push(p);
        }
        const row = x.store.get(encodeKey(table.id, 0, parts));
        return row === undefined ? [] : [decode(row.values)];
      }
      const out: Row[] = [];
      for (const { row } of x.store.scan(encodeRange(table.id, 0, [], true, null, false), false, Number.MAX_SAFE_INTEGER)) {
        out.push(decode(row.values));
        if (out.length > QueryLimits.maxRows) throw tooMany();
      }
      return out;
    });
    return src;
  }

  /** `generate_series(from, to [, step])` over integers. */
  private seriesSource(id: number, fn: Node, alias: { name: string | null; columns: string[] }, level: Level): Source {
    const parts = list(isNode(fn.name) ? fn.name.name : []).map(ident);
    const fname = (parts.at(-1) ?? '').toLowerCase();
    if (fname !== 'generate_series') throw unsupported(`function ${fname} in FROM`);
    const args = list(isNode(fn.args) ? fn.args.value : []).map((a) => this.bind(a, level));
    if (args.some((a) => a.refs.size > 0)) throw unsupported('LATERAL references in FROM functions');
    if (args.length < 2 || args.length > 3) throw new OrdoError(SqlStateX.undefinedFunction, `function generate_series with ${args.length} arguments does not exist`);
    const t = args.some((a) => a.t.name === 'int8') ? Q.int8 : Q.int4;
    if (args.some((a) => a.t.name !== 'unknown' && !isInt(a.t))) throw unsupported('generate_series over non-integer types');
    const [from, to, step] = args.map((a) => coerce(a, t, () => unsupported('generate_series over these types')));
    const name = alias.name ?? 'generate_series';
    const colName = alias.columns[0] ?? name;
    return this.planSource(id, level, name, [{ name: colName, t, tableId: 0, attr: 0 }], [], null, (x) => {
      const a = (from as BExpr).ev([], x);
      const b = (to as BExpr).ev([], x);
      const s = step === undefined ? 1n : step.ev([], x);
      if (a === null || b === null || s === null) return [];
      if (s === 0n) throw new OrdoError(SqlState.invalidParameterValue, 'step size cannot equal zero');
      const out: Row[] = [];
      for (let v = a as bigint; (s as bigint) > 0n ? v <= (b as bigint) : v >= (b as bigint); v += s as bigint) {
        out.push([v]);
        if (out.length > QueryLimits.maxSeriesRows) throw new OrdoError(SqlState.programLimitExceeded, `generate_series may produce at most ${QueryLimits.maxSeriesRows} rows in one statement`);
      }
      return out;
    });
  }

  // --- joins -----------------------------------------------------------------------------------

  /**
   * Places WHERE conjuncts (into a source when they read only it, as a join key between trees when
   * they compare them) and returns how to produce the level's filtered rows.
   */
  private joinPlan(trees: JoinTree[], conjuncts: Conjunct[], level: Level): (x: Exec) => Row[] {
    const owner = (slot: number): Source | undefined => trees.flatMap((t) => t.sources).find((s) => slot >= s.offset && slot < s.offset + s.width);
    const late: Conjunct[] = [];
    for (const c of conjuncts) {
      const owners = new Set([...c.e.refs].map(owner));
      const only = owners.size === 1 ? [...owners][0] : undefined;
      if (only !== undefined && !only.nullable) only.filters.push(c.e);
      else late.push(c);
    }
    for (const tree of trees) for (const s of tree.sources) choosePointKey(s);
    const levelWidth = (): number => level.width;
    if (trees.length === 0) {
      const filters = late.map((c) => c.e);
      return (x) => {
        const row: Row = new Array<QValue>(levelWidth());
        return passes(filters, row, x) ? [row] : [];
      };
    }
    // Combine the trees greedily: next the one a conjunct joins by equality to what is joined so far.
    const treeOf = (slot: number): JoinTree | undefined => trees.find((t) => t.sources.some((s) => slot >= s.offset && slot < s.offset + s.width) || t.steps.some((st) => st.merged.some((m) => m.slot === slot)));
    const remaining = [...trees];
    const order: { tree: JoinTree; equi: [BExpr, BExpr][]; residual: BExpr[] }[] = [];
    const joined = new Set<JoinTree>();
    let pending = [...late];
    const covered = (e: BExpr): boolean => [...e.refs].every((r) => {
      const t = treeOf(r);
      return t !== undefined && joined.has(t);
    });
    while (remaining.length > 0) {
      let pick = 0;
      if (joined.size > 0) {
        const linked = remaining.findIndex((t) => pending.some((c) => c.eq !== null && linking(c.eq, t, joined, treeOf) !== null));
        if (linked >= 0) pick = linked;
      }
      const tree = remaining.splice(pick, 1)[0] as JoinTree;
      const equi: [BExpr, BExpr][] = [];
      if (joined.size > 0) {
        pending = pending.filter((c) => {
          const pair = c.eq === null ? null : linking(c.eq, tree, joined, treeOf);
          if (pair === null) return true;
          equi.push(pair);
          return false;
        });
      }
      joined.add(tree);
      const residual: BExpr[] = [];
      pending = pending.filter((c) => {
        if (!covered(c.e)) return true;
        residual.push(c.e);
        return false;
      });
      order.push({ tree, equi, residual });
    }
    const finalFilters = pending.map((c) => c.e);
    return (x) => {
      const width = levelWidth();
      let rows: Row[] = [];
      order.forEach((step, i) => {
        const right = runTree(step.tree, x, width);
        if (i === 0) rows = right;
        else rows = hashJoin(rows, right, step.equi, null, 'inner', (l, r) => mergeTree(l, r, step.tree.sources), width, x, []);
        if (step.residual.length > 0) rows = rows.filter((r) => passes(step.residual, r, x));
      });
      return finalFilters.length === 0 ? rows : rows.filter((r) => passes(finalFilters, r, x));
    };
  }
}

export const NATURAL_MARK = '__ordo_natural__';

function isQuantified(v: unknown): boolean {
  return isNode(v) && v.type === 'function' && isNode(v.name) && ['any', 'some', 'all'].includes(String(list(v.name.name).map(ident).at(-1)).toLowerCase());
}

function colExpr(c: LevelCol): BExpr {
  const i = c.index;
  return { t: c.t, key: `c${i}`, ev: (row) => row[i] ?? null, refs: new Set([i]), col: i, constant: false };
}

function findCol(level: Level, index: number): LevelCol | undefined {
  for (const rel of level.rels) for (const c of rel.cols) if (c.index === index) return c;
  return undefined;
}

function parseAlias(as: unknown): { name: string | null; columns: string[] } {
  if (typeof as !== 'string') return { name: null, columns: [] };
  const m = /^\s*([^()]+?)\s*(?:\((.*)\))?\s*$/.exec(as);
  if (m === null) throw unsupported(`the alias ${as}`);
  const columns = m[2] === undefined ? [] : m[2].split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  return { name: (m[1] as string).replace(/^"(.*)"$/, '$1'), columns };
}

/** The equality as (side on `joined` trees, side on `tree`), or null when it does not link them. */
function linking(eq: [BExpr, BExpr], tree: JoinTree, joined: ReadonlySet<JoinTree>, treeOf: (slot: number) => JoinTree | undefined): [BExpr, BExpr] | null {
  const side = (e: BExpr): 'joined' | 'tree' | null => {
    if (e.refs.size === 0) return null;
    let where: 'joined' | 'tree' | null = null;
    for (const r of e.refs) {
      const t = treeOf(r);
      const w = t === tree ? 'tree' : t !== undefined && joined.has(t) ? 'joined' : null;
      if (w === null || (where !== null && where !== w)) return null;
      where = w;
    }
    return where;
  };
  const a = side(eq[0]);
  const b = side(eq[1]);
  if (a === 'joined' && b === 'tree') return eq;
  if (a === 'tree' && b === 'joined') return [eq[1], eq[0]];
  return null;
}

/** A primary-key point lookup when the source's filters fix every key column by equality to a per-row constant. */
function choosePointKey(s: Source): void {
  const table = s.table;
  if (table === null || table.primaryKey.length === 0) return;
  const parts: (BExpr | null)[] = table.primaryKey.map(() => null);
  for (const f of s.filters) {
    const eq = equalityOf(f);
    if (eq === null) continue;
    for (const [col, val] of [eq, [eq[1], eq[0]] as [BExpr, BExpr]]) {
      if (col.col === undefined || val.refs.size > 0) continue;
      const k = table.primaryKey.findIndex((p) => s.offset + p === col.col);
      if (k >= 0 && col.t.name === (s.rel.cols[table.primaryKey[k] as number] as LevelCol).t.name) parts[k] = val;
    }
  }
  if (parts.every((p) => p !== null)) s.pointKey = parts as BExpr[];
}

/** The operands of an equality bound by Planner.conjuncts, recorded on the expression. */
const equalities = new WeakMap<BExpr, [BExpr, BExpr]>();

function equalityOf(e: BExpr): [BExpr, BExpr] | null {
  return equalities.get(e) ?? null;
}

export function recordEquality(e: BExpr, pair: [BExpr, BExpr]): BExpr {
  equalities.set(e, pair);
  return e;
}

function runTree(tree: JoinTree, x: Exec, width: number): Row[] {
  let rows = tree.first.rows(x, width);
  for (const step of tree.steps) {
    const right = step.right;
    if (step.kind === 'inner' && step.equi.length > 0 && indexable(step)) rows = indexJoin(rows, step, x, width);
    else {
      const rightRows = right.rows(x, width);
      rows = hashJoin(rows, rightRows, step.equi, step.residual, step.kind, (l, r) => merge(l, r, right), width, x, [right]);
    }
    if (step.merged.length > 0) {
      for (const r of rows) {
        for (const m of step.merged) {
          const a = m.left.ev(r, x);
          const b = m.right.ev(r, x);
          r[m.slot] = step.kind === 'right' ? b : step.kind === 'full' ? (a ?? b) : a;
        }
      }
    }
  }
  return rows;
}

/** An inner join whose equalities fix the right table's whole primary key: one point lookup per left row. */
function indexable(step: JoinStep): boolean {
  const s = step.right;
  const table = s.table;
  if (table === null || table.primaryKey.length === 0 || s.pointKey !== null) return false;
  return table.primaryKey.every((p) => step.equi.some(([, r]) => r.col === s.offset + p && r.t.name === (s.rel.cols[p] as LevelCol).t.name));
}

function indexJoin(left: readonly Row[], step: JoinStep, x: Exec, width: number): Row[] {
  const s = step.right;
  const table = s.table as CatalogTable;
  const keyExprs = table.primaryKey.map((p) => (step.equi.find(([, r]) => r.col === s.offset + p) as [BExpr, BExpr])[0]);
  const others = step.equi.filter(([, r]) => !table.primaryKey.some((p) => r.col === s.offset + p));
  const out: Row[] = [];
  const types = table.primaryKey.map((p) => (s.rel.cols[p] as LevelCol).t);
  for (const l of left) {
    const parts: Value[] = [];
    let ok = true;
    for (let i = 0; i < keyExprs.length && ok; i++) {
      const p = keyPart(types[i] as QType, (keyExprs[i] as BExpr).ev(l, x));
      if (p === undefined) ok = false;
      else parts.push(p);
    }
    if (!ok) continue;
    // The table's own rows() with the key fixed: reuse its decoding, filters and guard check.
    s.pointKey = parts.map((v, i) => ({ t: types[i] as QType, key: '', ev: () => fromEngine(types[i] as QType, v), refs: NO_REFS, constant: true }));
    let rs: Row[];
    try {
      rs = s.rows(x, width);
    } finally {
      s.pointKey = null;
    }
    for (const r of rs) {
      const m = merge(l, r, s);
      if (others.every(([a, b]) => {
        const va = a.ev(m, x);
        const vb = b.ev(m, x);
        return va !== null && vb !== null && compareQ(va, vb) === 0;
      }) && (step.residual === null || step.residual.ev(m, x) === true)) out.push(m);
    }
    if (out.length > QueryLimits.maxRows) throw tooMany();
  }
  return out;
}

/**
 * Joins by hashing the right side on its equality keys (NULL keys never match), or by nested loops
 * when there are none; `residual` decides matches among candidates. Outer joins add the unmatched
 * rows with the other side's slots NULL.
 */
function hashJoin(left: readonly Row[], right: readonly Row[], equi: readonly [BExpr, BExpr][], residual: BExpr | null, kind: JoinKind, combine: (l: Row, r: Row) => Row, width: number, x: Exec, rightSources: readonly Source[]): Row[] {
  const out: Row[] = [];
  const rightMatched = kind === 'right' || kind === 'full' ? new Uint8Array(right.length) : null;
  const push = (r: Row): void => {
    out.push(r);
    if (out.length > QueryLimits.maxRows) throw tooMany();
  };
  let buckets: Map<string, number[]> | null = null;
  if (equi.length > 0) {
    buckets = new Map();
    right.forEach((r, i) => {
      const vs = equi.map(([, e]) => e.ev(r, x));
      if (vs.some((v) => v === null)) return;
      const k = rowKey(vs);
      const b = buckets?.get(k);
      if (b === undefined) buckets?.set(k, [i]);
      else b.push(i);
    });
  }
  const all = right.map((_, i) => i);
  for (const l of left) {
    let candidates: readonly number[];
    if (buckets !== null) {
      const vs = equi.map(([e]) => e.ev(l, x));
      candidates = vs.some((v) => v === null) ? [] : (buckets.get(rowKey(vs)) ?? []);
    } else candidates = all;
    let matched = false;
    for (const i of candidates) {
      const m = combine(l, right[i] as Row);
      if (residual !== null && residual.ev(m, x) !== true) continue;
      matched = true;
      if (rightMatched !== null) rightMatched[i] = 1;
      push(m);
    }
    if (!matched && (kind === 'left' || kind === 'full')) push(l.slice());
  }
  if (rightMatched !== null) {
    right.forEach((r, i) => {
      if (rightMatched[i] === 1) return;
      // The left slots stay empty (NULL); only the right side's are filled.
      const row: Row = new Array<QValue>(width);
      for (const s of rightSources) for (let j = s.offset; j < s.offset + s.width; j++) row[j] = r[j] ?? null;
      push(row);
    });
  }
  return out;
}

// --- grouping and aggregates -------------------------------------------------------------------

interface GroupState {
  readonly rep: Row;
  readonly keys: QValue[];
  readonly accs: Acc[];
}

interface Acc {
  add(row: Row, x: Exec): void;
  result(): QValue;
}

function group(rows: readonly Row[], g: Grouping, width: number, x: Exec): Row[] {
  const groups = new Map<string, GroupState>();
  const keyEvs = g.keys.map((k) => k.ev);
  for (const row of rows) {
    const keys = keyEvs.map((e) => e(row, x));
    const k = rowKey(keys);
    let st = groups.get(k);
    if (st === undefined) {
      st = { rep: row, keys, accs: g.aggs.map(accumulator) };
      groups.set(k, st);
    }
    for (const a of st.accs) a.add(row, x);
  }
  // Aggregates without GROUP BY give one row even over no rows.
  if (groups.size === 0 && g.keys.length === 0) groups.set('', { rep: new Array<QValue>(width), keys: [], accs: g.aggs.map(accumulator) });
  const out: Row[] = [];
  for (const st of groups.values()) {
    const r = st.rep.slice();
    r.length = width;
    st.keys.forEach((v, i) => (r[width + i] = v));
    st.accs.forEach((a, i) => (r[width + g.keys.length + i] = a.result()));
    out.push(r);
  }
  return out;
}

function accumulator(spec: AggSpec): Acc {
  const argEvs = spec.args.map((a) => a.ev);
  const filter = spec.filter?.ev ?? null;
  if (spec.fn === 'count' && argEvs.length === 0 && !spec.distinct) {
    let n = 0n;
    return {
      add: (row, x) => {
        if (filter === null || filter(row, x) === true) n++;
      },
      result: () => n,
    };
  }
  const entries: { args: QValue[]; sort: QValue[] }[] = [];
  const seen = spec.distinct ? new Set<string>() : null;
  return {
    add: (row, x) => {
      if (filter !== null && filter(row, x) !== true) return;
      const args = argEvs.map((e) => e(row, x));
      // Aggregates skip NULL inputs (string_agg: a NULL value; its delimiter may be NULL).
      if (args[0] === null) return;
      if (seen !== null) {
        const k = hashKey(args[0] ?? null);
        if (seen.has(k)) return;
        seen.add(k);
      }
      entries.push({ args, sort: spec.orderBy.map((o) => o.e.ev(row, x)) });
    },
    result: () => finishAggregate(spec, entries),
  };
}

function finishAggregate(spec: AggSpec, entries0: { args: QValue[]; sort: QValue[] }[]): QValue {
  let entries = entries0;
  if (spec.orderBy.length > 0) {
    const keys = spec.orderBy.map((o, i) => ({ index: i, desc: o.desc, nullsFirst: o.nullsFirst }));
    entries = sortRows(entries.map((e) => e.sort), keys).map((s) => entries0.find((e) => e.sort === s) as (typeof entries0)[number]);
  }
  const values = entries.map((e) => e.args[0] as Exclude<QValue, null>);
  switch (spec.fn) {
    case 'count':
      return BigInt(values.length);
    case 'min':
    case 'max': {
      let best: QValue = null;
      for (const v of values) if (best === null || (spec.fn === 'min' ? compareQ(v, best) < 0 : compareQ(v, best) > 0)) best = v;
      return best;
    }
    case 'sum':
    case 'avg': {
      if (values.length === 0) return null;
      const argType = spec.args[0]?.t ?? Q.int8;
      if (argType.name === 'interval') {
        let m = 0;
        let d = 0;
        let us = 0n;
        for (const v of values) {
          const iv = v as Interval;
          m += iv.months;
          d += iv.days;
          us += iv.micros;
        }
        if (spec.fn === 'sum') return new Interval(m, d, us);
        throw unsupported('avg(interval)');
      }
      if (argType.name === 'float4' || argType.name === 'float8') {
        const s = values.reduce<number>((acc, v) => acc + (v as number), 0);
        return spec.fn === 'sum' ? s : s / values.length;
      }
      if (isInt(argType) && spec.fn === 'sum') {
        const s = values.reduce<bigint>((acc, v) => acc + (v as bigint), 0n);
        return argType.name === 'int8' ? new Decimal(s, 0) : s;
      }
      let s = new Decimal(0n, 0);
      for (const v of values) s = addDecimal(s, decimalOf(v), 1n);
      return spec.fn === 'sum' ? s : divDecimal(s, new Decimal(BigInt(values.length), 0));
    }
    case 'string_agg': {
      if (entries.length === 0) return null;
      let out = '';
      entries.forEach((e, i) => {
        if (i > 0) out += (e.args[1] as string | null) ?? '';
        out += e.args[0] as string;
      });
      return out;
    }
    case 'bool_and':
      return values.length === 0 ? null : values.every((v) => v === true);
    case 'bool_or':
      return values.length === 0 ? null : values.some((v) => v === true);
    default:
      throw unsupported(`aggregate ${spec.fn}`);
  }
}

// --- sorting, DISTINCT, LIMIT, set operations --------------------------------------------------

function sortKeyOf(on: Node, index: number): { index: number; desc: boolean; nullsFirst: boolean } {
  const desc = String(on.type ?? 'ASC').toUpperCase() === 'DESC';
  const nulls = typeof on.nulls === 'string' ? on.nulls.toUpperCase() : null;
  // PostgreSQL sorts NULLs as larger than every value: last ascending, first descending.
  return { index, desc, nullsFirst: nulls === null ? desc : nulls.includes('FIRST') };
}

function sortRows<R extends readonly QValue[]>(rows: readonly R[], keys: readonly { index: number; desc: boolean; nullsFirst: boolean }[]): R[] {
  // Array.prototype.sort is stable: ties keep their input order.
  return [...rows].sort((a, b) => {
    for (const k of keys) {
      const x = a[k.index] ?? null;
      const y = b[k.index] ?? null;
      if (x === null || y === null) {
        if (x === y) continue;
        return (x === null) === k.nullsFirst ? -1 : 1;
      }
      const c = compareQ(x, y);
      if (c !== 0) return k.desc ? -c : c;
    }
    return 0;
  });
}

function dedupe(rows: readonly Row[], width: number): Row[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = rowKey(r.slice(0, width));
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function slice(rows: Row[], limit: BExpr | null, offset: BExpr | null, x: Exec): Row[] {
  const count = (e: BExpr | null, what: string): number | null => {
    if (e === null) return null;
    const v = e.ev([], x);
    if (v === null) return null;
    if ((v as bigint) < 0n) throw new OrdoError(what === 'LIMIT' ? SqlStateX.invalidRowCountInLimit : SqlStateX.invalidRowCountInOffset, `${what} must not be negative`);
    return Number(v as bigint);
  };
  const off = count(offset, 'OFFSET') ?? 0;
  const lim = count(limit, 'LIMIT');
  if (off === 0 && lim === null) return rows;
  return rows.slice(off, lim === null ? undefined : off + lim);
}

function setOp(op: string, left: readonly Row[], right: readonly Row[]): Row[] {
  const all = op.endsWith('all');
  if (op.startsWith('union')) return all ? [...left, ...right] : dedupe([...left, ...right], Number.MAX_SAFE_INTEGER);
  const counts = new Map<string, number>();
  for (const r of right) {
    const k = rowKey(r);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const out: Row[] = [];
  const emitted = new Set<string>();
  for (const r of left) {
    const k = rowKey(r);
    const n = counts.get(k) ?? 0;
    if (op.startsWith('intersect')) {
      if (n === 0) continue;
      if (all) counts.set(k, n - 1);
      else if (emitted.has(k)) continue;
      emitted.add(k);
      out.push(r);
    } else {
      if (all) {
        if (n > 0) {
          counts.set(k, n - 1);
          continue;
        }
        out.push(r);
      } else {
        if (n > 0 || emitted.has(k)) continue;
        emitted.add(k);
        out.push(r);
      }
    }
  }
  return out;
}

/** The column name PostgreSQL gives an unaliased select-list expression. */
function outputName(ex: Node, e: BExpr): string {
  switch (ex.type) {
    case 'column_ref':
      return ident(ex.column);
    case 'aggr_func':
      return String(ex.name).toLowerCase();
    case 'function': {
      const parts = list(isNode(ex.name) ? ex.name.name : []).map(ident);
      const name = (parts.at(-1) ?? '?column?').toLowerCase();
      // Functions rewrite.ts made of operators have no name of their own.
      return name.startsWith('__ordo_') ? '?column?' : name;
    }
    case 'cast': {
      if (isNode(ex.tail)) return '?column?';
      const inner = isNode(ex.expr) ? ex.expr : {};
      const targets = list(ex.target);
      if (targets.length === 1 && (inner.type === 'column_ref' || inner.type === 'function' || inner.type === 'aggr_func' || inner.type === 'cast')) return outputName(inner, e);
      const last = targets.at(-1);
      const dt = isNode(last) ? String(last.dataType ?? '').toLowerCase() : '';
      return PG_TYPE_NAMES[dt] ?? dt;
    }
    case 'case':
      return 'case';
    case 'extract':
      return 'extract';
    case 'interval':
      return 'interval';
    case 'date':
    case 'timestamp':
      return String(ex.type);
    case 'bool':
      return 'bool';
    case 'unary_expr':
      if (String(ex.operator).toUpperCase() === 'EXISTS') return 'exists';
      return '?column?';
    default:
      if (isNode(ex.ast)) {
        const cols = list(ex.ast.columns);
        const first = cols[0];
        if (cols.length === 1 && isNode(first)) {
          if (typeof first.as === 'string') return first.as;
          if (isNode(first.expr)) return outputName(first.expr, e);
        }
      }
      return '?column?';
  }
}

const PG_TYPE_NAMES: Readonly<Record<string, string>> = {
  int: 'int4', integer: 'int4', smallint: 'int2', bigint: 'int8', real: 'float4', 'double precision': 'float8', float: 'float8',
  boolean: 'bool', decimal: 'numeric', 'character varying': 'varchar', character: 'bpchar', char: 'bpchar',
};
