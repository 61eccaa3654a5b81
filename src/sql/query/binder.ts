// Name resolution and typing of expressions: node-sql-parser's AST → bound expressions, against the
// query levels (a SELECT and the SELECTs around it, for correlated references) and the parameters.

import { OrdoError, SqlState } from '../../util/index.js';
import type { ParamSlot } from '../compile.js';
import type { LiftedLiteral } from '../normalize.js';
import { SqlStateX, numericType, type SqlType } from '../types.js';
import { pgTypeByOid } from '../wire/index.js';
import { NO_REFS, constant, keyOf, strictCall, unionRefs, type BExpr, type Ev, type Exec, type Row } from './bound.js';
import {
  and,
  arithmetic,
  asBool,
  castExpr,
  coerce,
  comparison,
  concatOp,
  extract,
  inList,
  isComparison,
  isDistinct,
  jsonOp,
  like,
  negate,
  not,
  or,
  regexMatch,
  scalarFunction,
  undefinedFunction,
  unify,
} from './functions.js';
import { Q, castTarget, castValue, category, commonType, fromEngine, parseText, toEngine, toSqlType, type QType } from './qtypes.js';
import type { CatalogFunction } from './relation.js';
import { Decimal, compareQ, decimalToFloat, parseDecimal, parseInterval, rowKey, trimDecimal, type QValue } from './values.js';

export type Node = Readonly<Record<string, unknown>>;

export function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

export function unsupported(feature: string): OrdoError {
  return new OrdoError(SqlState.featureNotSupported, `${feature} is not supported`);
}

/** An identifier as node-sql-parser gives it: a string, or `{ expr: { value } }`, or `{ value }`. */
export function ident(v: unknown): string {
  if (typeof v === 'string') return v;
  if (isNode(v)) {
    if (v.type === 'column_ref') return ident(v.column);
    if (isNode(v.expr)) return ident(v.expr);
    if (typeof v.value === 'string') return v.value;
  }
  throw unsupported('this identifier');
}

// --- query levels ------------------------------------------------------------------------------

export interface LevelCol {
  readonly name: string;
  readonly t: QType;
  /** Position in the level's row. */
  readonly index: number;
  /** Hidden from unqualified names (a column merged by USING / NATURAL). */
  hidden: boolean;
  /** Origin for RowDescription: table id and 1-based column number, 0 when computed. */
  readonly tableId: number;
  readonly attr: number;
}

export interface LevelRel {
  /** The name a qualifier uses; null for the merged columns of a USING join. */
  readonly name: string | null;
  readonly cols: LevelCol[];
  /** Positions in `cols` of its primary key (empty unless a user table with one). */
  readonly pk: readonly number[];
}

export interface AggSpec {
  readonly fn: string;
  readonly args: readonly BExpr[];
  readonly distinct: boolean;
  readonly filter: BExpr | null;
  readonly orderBy: readonly SortKey[];
  readonly t: QType;
}

export interface SortKey {
  readonly e: BExpr;
  readonly desc: boolean;
  readonly nullsFirst: boolean;
}

export interface Grouping {
  readonly keys: BExpr[];
  readonly keyIndex: Map<string, number>;
  /** Some key is an expression, not a column: composite expressions are matched against the keys. */
  readonly exprKeys: boolean;
  /** Relations whose whole primary key is grouped: their other columns are functionally dependent. */
  readonly dependent: ReadonlySet<LevelRel>;
  readonly aggs: AggSpec[];
  readonly aggIndex: Map<string, number>;
}

/** A CTE as a FROM item sees it. */
export interface CteDef {
  readonly name: string;
  readonly plan: SubPlan;
  readonly id: number;
}

/** A planned SELECT: its output columns and how to produce its rows. */
export interface SubPlan {
  readonly columns: readonly OutCol[];
  /** True when it reads a row of an enclosing query (must be re-run per row). */
  readonly correlated: boolean;
  /** Columns of the enclosing level it reads. */
  readonly parentUses: ReadonlySet<number>;
  run(x: Exec): Row[];
}

export interface OutCol {
  readonly name: string;
  readonly t: QType;
  readonly tableId: number;
  readonly attr: number;
}

export class Level {
  readonly rels: LevelRel[] = [];
  width = 0;
  /** Columns of the parent level this level (or a subquery inside it) reads. */
  readonly parentUses = new Set<number>();
  correlated = false;
  grouping: Grouping | null = null;
  inAggregate = false;
  /** Why aggregates are not allowed here ('WHERE', 'JOIN conditions', …), null when they are. */
  noAggregates: string | null = null;
  readonly ctes = new Map<string, CteDef>();

  constructor(
    /** The level whose columns unqualified and qualified names fall back to (null: none). */
    readonly parent: Level | null,
    /** The level CTE names fall back to (a derived table sees its query's CTEs, not its columns). */
    readonly cteParent: Level | null,
    /** For a derived table in FROM: the level it belongs to (its outer references are that level's too). */
    readonly via: Level | null = null,
  ) {}

  alloc(n: number): number {
    const at = this.width;
    this.width += n;
    return at;
  }

  cte(name: string): CteDef | undefined {
    return this.ctes.get(name) ?? this.cteParent?.cte(name);
  }
}

/** Records that `level` reads column `index` of the level `depth` above it. */
function noteOuter(level: Level, depth: number, index: number): void {
  level.correlated = true;
  if (depth === 1) level.parentUses.add(index);
  if (level.via !== null) noteOuter(level.via, depth, index);
  if (depth > 1 && level.parent !== null) noteOuter(level.parent, depth - 1, index);
}

// --- parameters --------------------------------------------------------------------------------

/** Parameters bound at a generous scale, so numeric values from clients keep their digits. */
const CLIENT_NUMERIC_SCALE = 18;

function oidType(oid: number): QType | null {
  const info = pgTypeByOid(oid);
  if (info === undefined) return null;
  switch (info.name) {
    case 'numeric':
      return numericType(CLIENT_NUMERIC_SCALE);
    case 'name':
    case 'unknown':
      return Q.text;
    case 'int2':
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8':
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'bool':
    case 'timestamp':
    case 'timestamptz':
    case 'date':
    case 'bytea':
    case 'uuid':
      return { name: info.name, length: null, scale: null };
    default:
      return null;
  }
}

/** The parameters as query values, from what the session bound by the slots' types. */
export function paramValues(slots: readonly ParamSlot[], params: readonly (import('../../partitions/index.js').Value)[]): QValue[] {
  return slots.map((s, i) => {
    const v = params[i] ?? null;
    if (v === null) return null;
    if (s.type?.name === 'numeric' && typeof v === 'bigint') {
      const d = new Decimal(v, s.type.scale ?? 0);
      return s.literal === null ? trimDecimal(d) : d;
    }
    return v;
  });
}

// --- the binder --------------------------------------------------------------------------------

/** How rewrite.ts quotes a parameter the grammar does not take in its position. */
export const PARAM_MARK = new RegExp(`^${String.fromCharCode(1)}ordo-param:(\\d+)$`);

const AGGREGATES: ReadonlySet<string> = new Set(['count', 'sum', 'avg', 'min', 'max', 'string_agg', 'bool_and', 'bool_or', 'every', 'array_agg', 'jsonb_agg', 'json_agg', 'jsonb_object_agg', 'stddev', 'variance']);

export function functionName(x: Node): string {
  if (x.type === 'aggr_func') return String(x.name).toLowerCase();
  const parts = list(isNode(x.name) ? x.name.name : []).map(ident);
  if (parts.length > 1 && parts[0]?.toLowerCase() !== 'pg_catalog') throw unsupported(`function schema ${parts[0] ?? ''}`);
  return (parts.at(-1) ?? '').toLowerCase();
}

export function isAggregateCall(x: Node): boolean {
  return x.type === 'aggr_func' || (x.type === 'function' && AGGREGATES.has(functionName(x)));
}

/** Whether an expression tree calls an aggregate at this level (subqueries are their own levels). */
export function containsAggregate(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(containsAggregate);
  if (!isNode(v)) return false;
  if (isNode(v.ast)) return false;
  if ((v.type === 'aggr_func' || v.type === 'function') && isAggregateCall(v)) return true;
  return Object.entries(v).some(([k, c]) => k !== 'over' && containsAggregate(c));
}

export function aggregateType(fn: string, arg: QType | null): QType {
  switch (fn) {
    case 'count':
      return Q.int8;
    case 'sum':
      if (arg === null) return Q.int8;
      if (arg.name === 'int2' || arg.name === 'int4') return Q.int8;
      if (arg.name === 'int8' || arg.name === 'numeric') return Q.numeric;
      if (arg.name === 'float4' || arg.name === 'float8' || arg.name === 'interval') return { name: arg.name, length: null, scale: null };
      break;
    case 'avg':
      if (arg === null) break;
      if (category(arg) === 'numeric') return arg.name === 'float4' || arg.name === 'float8' ? Q.float8 : Q.numeric;
      if (arg.name === 'interval') return Q.interval;
      break;
    case 'min':
    case 'max':
      if (arg !== null && arg.name !== 'jsonb' && arg.name !== 'unknown') return { name: arg.name, length: arg.length, scale: arg.scale };
      if (arg?.name === 'unknown') return Q.text;
      break;
    case 'string_agg':
      return Q.text;
    case 'bool_and':
    case 'bool_or':
    case 'every':
      return Q.bool;
    default:
      throw unsupported(`aggregate ${fn}`);
  }
  throw undefinedFunction(fn, arg === null ? [] : [{ t: arg } as BExpr]);
}

export interface BinderOptions {
  readonly literals: readonly LiftedLiteral[];
  readonly declaredOids: readonly number[];
  readonly functions: readonly CatalogFunction[];
}

export abstract class Binder {
  readonly slots: ParamSlot[] = [];
  private readonly lifted: boolean;
  private nextId = 0;

  constructor(protected readonly options: BinderOptions) {
    this.lifted = options.literals.length > 0;
  }

  /** A SELECT (subquery) planned with `parent` as its enclosing level. */
  protected abstract planSubquery(ast: Node, parent: Level): SubPlan;

  fresh(): number {
    return this.nextId++;
  }

  // --- parameters ------------------------------------------------------------------------------

  private slot(n: number): ParamSlot {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new OrdoError('42P02', `there is no parameter $${n}`);
    while (this.slots.length < n) {
      const i = this.slots.length;
      const literal = this.lifted ? (this.options.literals[i] ?? null) : null;
      const declared = this.options.declaredOids[i] ?? 0;
      let type: SqlType | null = null;
      if (literal !== null) type = literalType(literal);
      else if (declared !== 0) {
        const t = oidType(declared);
        if (t === null) throw unsupported(`parameter type ${declared}`);
        type = toSqlType(t);
        if (t.name === 'numeric') type = t as SqlType;
      }
      this.slots.push({ type, literal, declaredOid: declared, exact: type?.name === 'numeric' && literal === null });
    }
    return this.slots[n - 1] as ParamSlot;
  }

  private param(n: number): BExpr {
    const slot = this.slot(n);
    const i = n - 1;
    const key = `p${i}`;
    const ev = (_row: Row, x: Exec): QValue => x.params[i] ?? null;
    const typed = (t: QType): BExpr => ({ t, key, ev, refs: NO_REFS, constant: true });
    if (slot.type !== null) return typed(slot.type);
    if (slot.literal !== null) {
      // A string literal: its type comes from where it is used; the text is converted when evaluated.
      const resolve = (t: QType): BExpr => (t.name === 'text' || t.name === 'unknown' ? typed(Q.text) : strictCall(t, keyOf(`lit:${t.name}`, [typed(Q.text)]), [typed(Q.text)], ([v]) => parseText(t, v as string)));
      return { ...typed(Q.unknown), resolve };
    }
    const resolve = (t: QType): BExpr => {
      if (slot.type === null) {
        if (t.name === 'numeric') {
          slot.type = numericType(CLIENT_NUMERIC_SCALE);
          slot.exact = true;
        } else slot.type = toSqlType(t);
      }
      const bound = typed(slot.type);
      return slot.type.name === t.name ? { ...bound, t } : castExpr(bound, t);
    };
    return { ...typed(Q.unknown), resolve };
  }

  /** Gives every parameter still untyped the type text, as PostgreSQL does in a select list. */
  finishParams(): void {
    for (const s of this.slots) if (s.type === null && s.literal === null) s.type = toSqlType(Q.text);
  }

  // --- literals --------------------------------------------------------------------------------

  private unknownLiteral(text: string | null): BExpr {
    const key = text === null ? 'null' : `s${text}`;
    const resolve = (t: QType): BExpr => constant(t, text === null ? null : parseText(t, text), `${key}:${t.name}`);
    return { t: Q.unknown, key, ev: () => text, refs: NO_REFS, constant: true, resolve };
  }

  private numberLiteral(v: unknown): BExpr {
    const text = String(v);
    if (/^\d+$/.test(text)) {
      const b = BigInt(text);
      if (b <= 2147483647n) return constant(Q.int4, b, `i${b}`);
      if (b <= 9223372036854775807n) return constant(Q.int8, b, `i${b}`);
    }
    const d = parseDecimal(text);
    return constant(Q.numeric, d, `n${text}`);
  }

  // --- expressions -----------------------------------------------------------------------------

  bind(ast: unknown, level: Level): BExpr {
    if (!isNode(ast)) throw unsupported('this expression');
    const g = level.grouping;
    if (g !== null && !level.inAggregate && g.exprKeys && ast.type !== 'column_ref' && !isNode(ast.ast)) {
      // An expression GROUP BY names is read from the group, not computed from its columns.
      const saved = level.grouping;
      level.grouping = null;
      let trial: BExpr | null;
      try {
        trial = this.bindNode(ast, level);
      } catch {
        trial = null;
      } finally {
        level.grouping = saved;
      }
      const k = trial === null ? undefined : g.keyIndex.get(trial.key);
      if (trial !== null && k !== undefined) return groupRef(level, trial, k);
    }
    return this.bindNode(ast, level);
  }

  private bindNode(x: Node, level: Level): BExpr {
    if (isNode(x.ast)) return this.scalarSubquery(x.ast, level);
    switch (x.type) {
      case 'column_ref':
        return this.column(x, level);
      case 'number':
        return this.numberLiteral(x.value);
      case 'single_quote_string':
      case 'string':
        return this.unknownLiteral(String(x.value));
      case 'null':
        return this.unknownLiteral(null);
      case 'bool':
      case 'boolean':
        return constant(Q.bool, x.value === true, `b${String(x.value)}`);
      case 'var':
        if (x.prefix !== '$' || typeof x.name !== 'number') throw unsupported('this variable reference');
        return this.param(x.name);
      case 'date':
      case 'timestamp':
      case 'time': {
        const t = x.type === 'date' ? Q.date : x.type === 'timestamp' ? Q.timestamp : null;
        if (t === null) throw unsupported('type time');
        return constant(t, parseText(t, String(x.value)), `${x.type}:${String(x.value)}`);
      }
      case 'interval': {
        const inner = isNode(x.expr) ? x.expr : null;
        const unit = typeof x.unit === 'string' && x.unit !== '' ? ` ${x.unit}` : '';
        if (inner === null || (inner.type !== 'single_quote_string' && inner.type !== 'number')) throw unsupported('this interval literal');
        return constant(Q.interval, parseInterval(`${String(inner.value)}${unit}`), `iv:${String(inner.value)}${unit}`);
      }
      case 'unary_expr':
        return this.unary(x, level);
      case 'binary_expr':
        return this.binary(x, level);
      case 'case':
        return this.caseExpr(x, level);
      case 'cast':
        return this.cast(x, level);
      case 'extract': {
        const args = isNode(x.args) ? x.args : {};
        return extract(String(args.field ?? ''), this.bind(args.source, level));
      }
      case 'aggr_func':
        return this.aggregate(x, level);
      case 'function':
        if (isAggregateCall(x)) return this.aggregate(x, level);
        return this.call(x, level);
      case 'expr_list': {
        const items = list(x.value);
        if (items.length === 1) return this.bind(items[0], level);
        throw unsupported('row constructors');
      }
      case 'default':
        // node-sql-parser's reading of things it does not understand, such as e'…' strings.
        throw unsupported(`the expression ${String(x.value)}`);
      default:
        throw unsupported(`expression type ${String(x.type)}`);
    }
  }

  private column(x: Node, level: Level): BExpr {
    if (x.column === '*') throw new OrdoError(SqlStateX.syntaxError, 'a * is allowed only in a select list or count(*)');
    const name = ident(x.column);
    const qualifier = x.table === null || x.table === undefined ? null : ident(x.table);
    if (x.schema !== undefined && x.schema !== null && ident(x.schema) !== 'public' && ident(x.schema) !== 'pg_catalog') throw unsupported(`schema-qualified column ${ident(x.schema)}.${qualifier ?? ''}.${name}`);
    let depth = 0;
    let sawQualifier = false;
    for (let l: Level | null = level; l !== null; l = l.parent, depth++) {
      const found = findColumn(l, qualifier, name);
      if (found === 'ambiguous') {
        throw new OrdoError(SqlStateX.ambiguousColumn, `column reference "${qualifier === null ? name : `${qualifier}.${name}`}" is ambiguous`);
      }
      if (found === 'noColumn') {
        sawQualifier = true;
        continue;
      }
      if (found === null) continue;
      return this.columnRef(level, l, depth, found.col, found.rel, qualifier === null ? name : `${qualifier}.${name}`);
    }
    if (qualifier !== null && !sawQualifier) throw new OrdoError(SqlStateX.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`);
    throw new OrdoError(SqlState.undefinedColumn, `column ${qualifier === null ? name : `${qualifier}.${name}`} does not exist`);
  }

  private columnRef(from: Level, target: Level, depth: number, col: LevelCol, rel: LevelRel, display: string): BExpr {
    const i = col.index;
    if (depth === 0) {
      const g = target.grouping;
      if (g !== null && !target.inAggregate) {
        const k = g.keyIndex.get(`c${i}`);
        if (k === undefined && !g.dependent.has(rel)) {
          throw new OrdoError(SqlStateX.groupingError, `column "${display}" must appear in the GROUP BY clause or be used in an aggregate function`);
        }
      }
      return { t: col.t, key: `c${i}`, ev: (row) => row[i] ?? null, refs: new Set([i]), col: i, constant: false };
    }
    noteOuter(from, depth, i);
    return {
      t: col.t,
      key: `o${depth}.${i}`,
      ev: (_row, x) => (x.outer[x.outer.length - depth] as Row)[i] ?? null,
      refs: NO_REFS,
      constant: false,
    };
  }

  private unary(x: Node, level: Level): BExpr {
    const op = String(x.operator).toUpperCase();
    if (op === 'NOT EXISTS' || op === 'EXISTS') {
      const sub = isNode(x.expr) && isNode(x.expr.ast) ? x.expr.ast : null;
      if (sub === null) throw unsupported(`${op} without a subquery`);
      const e = this.exists(sub, level);
      return op === 'EXISTS' ? e : not(e);
    }
    const a = this.bind(x.expr, level);
    switch (op) {
      case 'NOT':
        return not(asBool(a, 'NOT'));
      case '-':
        return negate(a);
      case '+':
        return a;
      default:
        throw unsupported(`operator ${op}`);
    }
  }

  private binary(x: Node, level: Level): BExpr {
    const op = String(x.operator).toUpperCase();
    switch (op) {
      case 'AND':
      case 'OR': {
        const args = [this.bind(x.left, level), this.bind(x.right, level)].map((e) => asBool(e, op));
        return op === 'AND' ? and(args) : or(args);
      }
      case 'IN':
      case 'NOT IN':
        return this.inExpr(x, level, op === 'NOT IN');
      case 'BETWEEN':
      case 'NOT BETWEEN': {
        const [lo, hi] = list(isNode(x.right) ? x.right.value : []);
        const v = this.bind(x.left, level);
        const e = and([comparison('>=', v, this.bind(lo, level)), comparison('<=', v, this.bind(hi, level))]);
        return op === 'BETWEEN' ? e : not(e);
      }
      case 'IS':
      case 'IS NOT':
        return this.isExpr(x, level, op === 'IS NOT');
      case 'LIKE':
      case 'NOT LIKE':
      case 'ILIKE':
      case 'NOT ILIKE':
        return like(this.bind(x.left, level), this.bind(x.right, level), op.includes('ILIKE'), op.startsWith('NOT'));
      case '~':
      case '~*':
      case '!~':
      case '!~*':
        return regexMatch(this.bind(x.left, level), this.bind(x.right, level), op.endsWith('*'), op.startsWith('!'));
      case '||':
        return concatOp(this.bind(x.left, level), this.bind(x.right, level));
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        return arithmetic(op, this.bind(x.left, level), this.bind(x.right, level));
      case '->':
      case '->>':
      case '@>':
      case '<@':
        return jsonOp(op, this.bind(x.left, level), this.bind(x.right, level));
      default:
        break;
    }
    if (isComparison(op)) {
      const right = isNode(x.right) ? x.right : null;
      if (right !== null && right.type === 'function') {
        const fn = functionName(right);
        if (fn === 'any' || fn === 'some' || fn === 'all') return this.quantified(op, x.left, right, fn === 'all', level);
      }
      return comparison(op, this.bind(x.left, level), this.bind(x.right, level));
    }
    throw unsupported(`operator ${op}`);
  }

  private isExpr(x: Node, level: Level, negated: boolean): BExpr {
    const a = this.bind(x.left, level);
    const right = isNode(x.right) ? x.right : {};
    if (right.type === 'null') return strictNullTest(a, negated);
    if (right.type === 'bool' || right.type === 'boolean') {
      const b = asBool(a, 'IS');
      const want = right.value === true;
      return { t: Q.bool, key: keyOf(`is${negated ? 'not' : ''}${want}`, [b]), refs: b.refs, constant: b.constant, ev: (row, ex) => (b.ev(row, ex) === want) !== negated };
    }
    if (right.type === 'default' && typeof right.value === 'string' && /^DISTINCT FROM /i.test(right.value)) {
      // node-sql-parser keeps `IS DISTINCT FROM <column>` as text; rewrite.ts makes every other form a function.
      const name = right.value.slice('DISTINCT FROM '.length).replace(/^"|"$/g, '');
      return isDistinct(a, this.bind({ type: 'column_ref', table: null, column: name }, level), negated);
    }
    if (right.type === 'unknown' || (right.type === 'default' && String(right.value).toUpperCase() === 'UNKNOWN')) {
      const b = asBool(a, 'IS');
      return strictNullTest(b, negated);
    }
    throw unsupported(`IS ${String(right.type)}`);
  }

  private caseExpr(x: Node, level: Level): BExpr {
    const subject = x.expr === null || x.expr === undefined ? null : this.bind(x.expr, level);
    const whens: BExpr[] = [];
    const results: BExpr[] = [];
    let otherwise: BExpr | null = null;
    for (const arm of list(x.args)) {
      if (!isNode(arm)) continue;
      if (arm.type === 'else') otherwise = this.bind(arm.result, level);
      else {
        const cond = this.bind(arm.cond, level);
        whens.push(subject === null ? asBool(cond, 'CASE/WHEN') : comparison('=', subject, cond));
        results.push(this.bind(arm.result, level));
      }
    }
    const all = otherwise === null ? results : [...results, otherwise];
    const t = commonType(all.map((r) => r.t), 'CASE');
    const fail = (): OrdoError => new OrdoError(SqlState.datatypeMismatch, `CASE types cannot be matched`);
    const rs = results.map((r) => coerce(r, t, fail));
    const other = otherwise === null ? null : coerce(otherwise, t, fail);
    const conds = whens.map((w) => w.ev);
    const outs = rs.map((r) => r.ev);
    const otherEv = other?.ev ?? null;
    const parts = [...whens, ...rs, ...(other === null ? [] : [other])];
    return {
      t,
      key: keyOf('case', parts),
      refs: unionRefs(parts),
      constant: parts.every((p) => p.constant),
      ev: (row, ex) => {
        for (let i = 0; i < conds.length; i++) if ((conds[i] as Ev)(row, ex) === true) return (outs[i] as Ev)(row, ex);
        return otherEv === null ? null : otherEv(row, ex);
      },
    };
  }

  private cast(x: Node, level: Level): BExpr {
    if (isNode(x.tail)) {
      // `a::t <op> b` as a select item: node-sql-parser hangs the operator and its operand on the cast.
      const { tail, ...cast } = x;
      return this.bind({ type: 'binary_expr', operator: tail.operator, left: cast, right: tail.expr }, level);
    }
    let e = this.bind(x.expr, level);
    for (const target of list(x.target)) {
      if (!isNode(target)) continue;
      e = castExpr(e, castTarget(target));
    }
    return e;
  }

  private call(x: Node, level: Level): BExpr {
    const name = functionName(x);
    const args = list(isNode(x.args) ? x.args.value : []).map((a) => this.bind(a, level));
    if (isNode(x.over)) throw unsupported('window functions');
    if (name === 'exists') {
      const sub = list(isNode(x.args) ? x.args.value : [])[0];
      if (isNode(sub) && isNode(sub.ast)) return this.exists(sub.ast, level);
    }
    if (name === 'date_part') {
      if (args.length !== 2) throw undefinedFunction(name, args);
      return datePart(args[0] as BExpr, args[1] as BExpr);
    }
    const builtin = scalarFunction(name, args);
    if (builtin !== null) return builtin;
    const fn = this.options.functions.find((f) => f.name === name);
    if (fn !== undefined) return catalogCall(fn, args);
    throw undefinedFunction(name, args);
  }

  // --- aggregates ------------------------------------------------------------------------------

  private aggregate(x: Node, level: Level): BExpr {
    const fn = functionName(x);
    if (level.noAggregates !== null) throw new OrdoError(SqlStateX.groupingError, `aggregate functions are not allowed in ${level.noAggregates}`);
    const g = level.grouping;
    if (g === null) throw new OrdoError(SqlStateX.groupingError, `aggregate function ${fn} is not allowed here`);
    if (level.inAggregate) throw new OrdoError(SqlStateX.groupingError, 'aggregate function calls cannot be nested');
    if (isNode(x.over)) throw unsupported('window functions');
    level.inAggregate = true;
    try {
      let distinct = false;
      let argAsts: unknown[];
      let orderAsts: unknown[] = [];
      if (x.type === 'aggr_func') {
        const a = isNode(x.args) ? x.args : {};
        distinct = a.distinct !== null && a.distinct !== undefined;
        argAsts = isNode(a.expr) && a.expr.type === 'star' ? [] : [a.expr];
        if (isNode(a.separator)) {
          const d = isNode(a.separator.delimiter) ? a.separator.delimiter : a.separator.value;
          // A parameter before ORDER BY comes quoted from rewrite.ts (the grammar wants a literal there).
          const param = isNode(d) && typeof d.value === 'string' ? PARAM_MARK.exec(d.value) : null;
          argAsts.push(param === null ? d : { type: 'var', prefix: '$', name: Number(param[1]) });
        }
        orderAsts = [...list(a.orderby)];
      } else argAsts = [...list(isNode(x.args) ? x.args.value : [])];
      if (argAsts.length === 0 && fn !== 'count') throw new OrdoError(SqlStateX.undefinedFunction, `function ${fn}() does not exist`);
      let args = argAsts.map((a) => this.bind(a, level));
      if (fn === 'string_agg') {
        if (args.length !== 2) throw undefinedFunction(fn, args);
        args = args.map((a) => coerce(a, Q.text, () => undefinedFunction(fn, args)));
      } else if (fn === 'bool_and' || fn === 'bool_or' || fn === 'every') {
        if (args.length !== 1) throw undefinedFunction(fn, args);
        args = args.map((a) => asBool(a, fn));
      } else if (args.length > 1) throw undefinedFunction(fn, args);
      else if (args[0]?.t.name === 'unknown') args = [coerce(args[0], fn === 'sum' || fn === 'avg' ? Q.numeric : Q.text, () => undefinedFunction(fn, args))];
      const filterAst = isNode(x.filter) ? x.filter.where : null;
      const filter = filterAst === null || filterAst === undefined ? null : asBool(this.bind(filterAst, level), 'FILTER');
      const orderBy = orderAsts.map((o) => {
        const on = isNode(o) ? o : {};
        const desc = String(on.type ?? 'ASC').toUpperCase() === 'DESC';
        const nulls = typeof on.nulls === 'string' ? on.nulls.toUpperCase() : null;
        return { e: this.bind(on.expr, level), desc, nullsFirst: nulls === null ? desc : nulls.includes('FIRST') };
      });
      const spec: AggSpec = { fn: fn === 'every' ? 'bool_and' : fn, args, distinct, filter, orderBy, t: aggregateType(fn, args[0]?.t ?? null) };
      const key = `agg:${spec.fn}:${distinct ? 'd' : ''}:${keyOf('', args)}:${filter?.key ?? ''}:${orderBy.map((o) => `${o.e.key}${o.desc ? 'd' : 'a'}${o.nullsFirst ? 'f' : 'l'}`).join(',')}`;
      let a = g.aggIndex.get(key);
      if (a === undefined) {
        a = g.aggs.push(spec) - 1;
        g.aggIndex.set(key, a);
      }
      const at = level.width + g.keys.length + a;
      return { t: spec.t, key, ev: (row) => row[at] ?? null, refs: NO_REFS, constant: false };
    } finally {
      level.inAggregate = false;
    }
  }

  // --- subqueries ------------------------------------------------------------------------------

  /** Runs a subquery for the current row: once per execution when uncorrelated. */
  private subRunner(sub: SubPlan): (row: Row, x: Exec) => Row[] {
    if (!sub.correlated) {
      const id = this.fresh();
      return (_row, x) => {
        let rows = x.cache.get(id) as Row[] | undefined;
        if (rows === undefined) {
          rows = sub.run(x);
          x.cache.set(id, rows);
        }
        return rows;
      };
    }
    return (row, x) => {
      x.outer.push(row);
      try {
        return sub.run(x);
      } finally {
        x.outer.pop();
      }
    };
  }

  private subExpr(sub: SubPlan, t: QType, key: string, ev: (row: Row, x: Exec) => QValue): BExpr {
    const refs = sub.parentUses.size === 0 ? NO_REFS : new Set(sub.parentUses);
    return { t, key, ev, refs, constant: false };
  }

  private scalarSubquery(ast: unknown, level: Level): BExpr {
    const sub = this.planSubquery(ast as Node, level);
    if (sub.columns.length !== 1) throw new OrdoError(SqlStateX.syntaxError, 'subquery must return only one column');
    const run = this.subRunner(sub);
    const t = (sub.columns[0] as OutCol).t;
    return this.subExpr(sub, t.name === 'unknown' ? Q.text : t, `sub${this.fresh()}`, (row, x) => {
      const rows = run(row, x);
      if (rows.length > 1) throw new OrdoError(SqlStateX.cardinalityViolation, 'more than one row returned by a subquery used as an expression');
      return rows[0]?.[0] ?? null;
    });
  }

  private exists(ast: Node, level: Level): BExpr {
    const sub = this.planSubquery(ast, level);
    const run = this.subRunner(sub);
    return this.subExpr(sub, Q.bool, `exists${this.fresh()}`, (row, x) => run(row, x).length > 0);
  }

  private inExpr(x: Node, level: Level, negated: boolean): BExpr {
    const items = list(isNode(x.right) ? x.right.value : []);
    const first = items[0];
    if (items.length === 1 && isNode(first) && isNode(first.ast)) return this.inSubquery(x.left, first.ast, level, negated, '=', false);
    if (isNode(x.left) && x.left.type === 'expr_list') throw unsupported('row constructors in IN lists');
    return inList(this.bind(x.left, level), items.map((i) => this.bind(i, level)), negated);
  }

  /** `left op ANY|ALL (subquery)`; `x IN (subquery)` is `x = ANY (subquery)`. */
  private quantified(op: string, left: unknown, right: Node, all: boolean, level: Level): BExpr {
    const arg = list(isNode(right.args) ? right.args.value : [])[0];
    if (!isNode(arg) || !isNode(arg.ast)) throw unsupported(`${all ? 'ALL' : 'ANY'} over an array`);
    return this.inSubquery(left, arg.ast, level, false, op, all);
  }

  private inSubquery(leftAst: unknown, ast: Node, level: Level, negated: boolean, op: string, all: boolean): BExpr {
    const lefts = isNode(leftAst) && leftAst.type === 'expr_list' ? list(leftAst.value).map((l) => this.bind(l, level)) : [this.bind(leftAst, level)];
    const sub = this.planSubquery(ast, level);
    if (sub.columns.length !== lefts.length) {
      throw new OrdoError(SqlStateX.syntaxError, lefts.length === 1 ? 'subquery has too many columns' : 'subquery has too few columns');
    }
    if (lefts.length > 1 && op !== '=') throw unsupported('row comparisons with ANY/ALL');
    const run = this.subRunner(sub);
    // Compare in the common type of each side, as PostgreSQL resolves `=` between them.
    const pairs = lefts.map((l, i) => {
      const col = sub.columns[i] as OutCol;
      const probe: BExpr = { t: col.t, key: 'probe', ev: () => null, refs: NO_REFS, constant: true };
      const [a, b] = unify(l, probe, op);
      return { left: a, from: col.t, to: b.t };
    });
    const leftEvs = pairs.map((p) => p.left.ev);
    const convert = (v: QValue, i: number): QValue => {
      const p = pairs[i] as (typeof pairs)[number];
      return v === null || p.from.name === p.to.name || p.from.name === 'unknown' ? v : castValue(p.from, p.to, v);
    };
    const test = op === '=' || op === '<>' || op === '!=' ? null : op;
    const hashable = op === '=' && !all;
    const cacheId = this.fresh();
    const ev = (row: Row, x: Exec): QValue => {
      const lv = leftEvs.map((e) => e(row, x));
      const rows = run(row, x);
      if (hashable && !sub.correlated) {
        // One hash set per execution for an uncorrelated IN.
        let probe = x.cache.get(cacheId) as { keys: Set<string>; nulls: Row[] } | undefined;
        if (probe === undefined) {
          probe = { keys: new Set(), nulls: [] };
          for (const r of rows) {
            const vs = r.map(convert);
            if (vs.some((v) => v === null)) probe.nulls.push(vs);
            else probe.keys.add(rowKey(vs));
          }
          x.cache.set(cacheId, probe);
        }
        if (rows.length === 0) return negated;
        if (lv.every((v) => v !== null) && probe.keys.has(rowKey(lv))) return !negated;
        // No match: NULL when a NULL made some comparison unknown.
        const unknown = lv.some((v) => v === null) || probe.nulls.some((r) => r.every((v, i) => v === null || compareQ(v, lv[i] as QValue) === 0));
        return unknown ? null : negated;
      }
      let sawNull = false;
      for (const r of rows) {
        let result: boolean | null = true;
        for (let i = 0; i < lv.length; i++) {
          const a = lv[i] ?? null;
          const b = convert(r[i] ?? null, i);
          if (a === null || b === null) {
            result = null;
            continue;
          }
          const c = compareQ(a, b);
          const ok = test === null ? (op === '=' ? c === 0 : c !== 0) : test === '<' ? c < 0 : test === '<=' ? c <= 0 : test === '>' ? c > 0 : c >= 0;
          if (!ok) {
            result = false;
            break;
          }
        }
        if (all) {
          if (result === false) return negated;
          if (result === null) sawNull = true;
        } else {
          if (result === true) return !negated;
          if (result === null) sawNull = true;
        }
      }
      if (sawNull) return null;
      return all ? !negated : negated;
    };
    const key = `in${cacheId}`;
    const bound = this.subExpr(sub, Q.bool, key, ev);
    return { ...bound, refs: unionRefs([bound, ...lefts]) };
  }
}

function literalType(lit: LiftedLiteral): SqlType | null {
  switch (lit.kind.k) {
    case 'int': {
      const v = BigInt(lit.text);
      if (v <= 2147483647n) return toSqlType(Q.int4);
      if (v <= 9223372036854775807n) return toSqlType(Q.int8);
      return numericType(0);
    }
    case 'numeric':
      return numericType(lit.kind.scale);
    default:
      return null;
  }
}

function strictNullTest(a: BExpr, negated: boolean): BExpr {
  const e = a.ev;
  return { t: Q.bool, key: keyOf(negated ? 'notnull' : 'isnull', [a]), refs: a.refs, constant: a.constant, ev: (row, x) => (e(row, x) === null) !== negated };
}

function groupRef(level: Level, e: BExpr, k: number): BExpr {
  const at = level.width + k;
  return { t: e.t, key: e.key, ev: (row) => row[at] ?? null, refs: NO_REFS, constant: false };
}

type FoundColumn = { readonly col: LevelCol; readonly rel: LevelRel } | 'ambiguous' | 'noColumn' | null;

/** Finds a column in one level: null when absent, 'noColumn' when the qualifier exists but not the column. */
function findColumn(level: Level, qualifier: string | null, name: string): FoundColumn {
  let found: { col: LevelCol; rel: LevelRel } | null = null;
  let sawRel = false;
  for (const rel of level.rels) {
    if (qualifier !== null && rel.name !== qualifier) continue;
    sawRel = true;
    for (const col of rel.cols) {
      if (col.name !== name || (qualifier === null && col.hidden)) continue;
      if (found !== null && found.col.index !== col.index) return 'ambiguous';
      found = { col, rel };
    }
  }
  if (found !== null) return found;
  return sawRel && qualifier !== null ? 'noColumn' : null;
}

function datePart(field: BExpr, src0: BExpr): BExpr {
  const f = coerce(field, Q.text, () => undefinedFunction('date_part', [field, src0]));
  // date_part is extract as float8, with the field known only when the statement runs.
  return strictCall(Q.float8, keyOf('date_part', [f, src0]), [f, src0.t.name === 'unknown' ? coerce(src0, Q.timestamptz, () => undefinedFunction('date_part', [field, src0])) : src0], ([name, v], x) => {
    const one = extract(name as string, { t: src0.t.name === 'unknown' ? Q.timestamptz : src0.t, key: '', ev: () => v ?? null, refs: NO_REFS, constant: true });
    const r = one.ev([], x);
    return r === null ? null : decimalToFloat(r as Decimal);
  });
}

function catalogCall(fn: CatalogFunction, args0: readonly BExpr[]): BExpr {
  const args = args0.map((a) => (a.t.name === 'unknown' ? coerce(a, Q.text, () => undefinedFunction(fn.name, args0)) : a));
  const evs = args.map((a) => a.ev);
  const t = fn.returns as QType;
  return {
    t,
    key: keyOf(`fn:${fn.name}`, args),
    refs: unionRefs(args),
    constant: false,
    ev: (row, x) => fromEngine(t, fn.call(x.catalog, evs.map((e) => toEngine(e(row, x))))),
  };
}

