// SQL → transaction programs. A statement (parsed by node-sql-parser) is bound against the catalog
// and compiled into a Program plus what the gateway does with the rows the program emits (projection
// types, sorting, aggregation, LIMIT/OFFSET). Plans depend only on the normalized text, the literal
// kinds and the catalog version, so they are cached and reused with new parameter values.
//
// Key sets: a statement whose WHERE fixes every primary-key column by equality to a parameter or
// literal is a point (`get`); everything else reads (and, for UPDATE/DELETE, write-locks) the table's
// whole primary-key range — coarse but correct, without OLLP. Every program first reads its tables'
// guard rows, so a plan compiled before a DROP TABLE aborts with 42P01 at its log position instead of
// touching a table that is gone, and one compiled before an ADD PRIMARY KEY aborts with 40001 instead
// of using the old (hidden row id) key layout.

import type { Expr, KeyExpr, Program, RangeExpr, Stmt, BinaryOp } from '../executor/index.js';
import { CatalogLayout, type Catalog, type CatalogTable, type ColumnDef, type ColumnType, type TableDef } from '../sequencer/index.js';
import { decodeTuple, encodeTuple, type Value } from '../partitions/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import type { LiftedLiteral } from './normalize.js';
import {
  IntRange,
  SqlStateX,
  T,
  columnSqlType,
  numericType,
  pow10,
  typeClass,
  typeSqlName,
  valueFromText,
  type SqlType,
} from './types.js';
import { pgTypeByOid } from './wire/index.js';

type Node = Readonly<Record<string, unknown>>;

export function unsupported(feature: string): OrdoError {
  return new OrdoError(SqlState.featureNotSupported, `${feature} is not supported`);
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function node(v: unknown, what: string): Node {
  if (!isNode(v)) throw unsupported(what);
  return v;
}

function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

// ---------------------------------------------------------------------------------------------
// Parameters

/** One parameter of a plan: a client's $n, or a literal the normalizer lifted. */
export interface ParamSlot {
  type: SqlType | null;
  readonly literal: LiftedLiteral | null;
  /** A type OID the client declared in Parse (0: none). */
  readonly declaredOid: number;
  /** Compared (not assigned): a numeric value must not be rounded to the column's scale. */
  exact: boolean;
}

function oidType(oid: number): SqlType | null {
  const info = pgTypeByOid(oid);
  if (info === undefined) return null;
  const byName: Readonly<Record<string, SqlType>> = {
    int2: T.int2, int4: T.int4, int8: T.int8, float4: T.float4, float8: T.float8, text: T.text,
    varchar: { name: 'varchar', length: null, scale: null }, bpchar: { name: 'bpchar', length: null, scale: null },
    bool: T.bool, timestamp: T.timestamp, timestamptz: T.timestamptz, date: T.date, bytea: T.bytea, uuid: T.uuid,
    numeric: numericType(0),
  };
  return byName[info.name] ?? null;
}

/** The type a literal has when nothing around it decides otherwise. */
function literalDefaultType(lit: LiftedLiteral): SqlType {
  switch (lit.kind.k) {
    case 'int': {
      const v = BigInt(lit.text);
      if (v <= 2147483647n) return T.int4;
      if (v <= 9223372036854775807n) return T.int8;
      return numericType(0);
    }
    case 'numeric':
      return numericType(lit.kind.scale);
    default:
      return T.unknown;
  }
}

// ---------------------------------------------------------------------------------------------
// Plans

export interface ResultColumn {
  readonly name: string;
  readonly type: SqlType;
  /** The source table id and 1-based column number, 0 when computed. */
  readonly tableId: number;
  readonly attr: number;
}

export type Aggregate = { readonly fn: 'count' | 'sum' | 'avg' | 'min' | 'max'; readonly arg: number | null; readonly argType: SqlType | null };

export type CountSource = { readonly k: 'param'; readonly i: number } | { readonly k: 'const'; readonly v: bigint };

/** What the gateway does with the emitted rows of a SELECT. */
export interface SelectPost {
  /** How many leading emitted values are output columns (the rest are sort keys). */
  readonly outputs: number;
  readonly orderBy: readonly { readonly index: number; readonly desc: boolean; readonly nullsFirst: boolean }[];
  readonly aggregates: readonly Aggregate[] | null;
  readonly limit: CountSource | null;
  readonly offset: CountSource | null;
}

export interface ProgramPlan {
  readonly kind: 'program';
  readonly command: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
  readonly program: Program;
  readonly readOnly: boolean;
  readonly params: readonly ParamSlot[];
  /** The program takes one more parameter after the client's: the transaction id (hidden row ids). */
  readonly needsTxnId: boolean;
  /** null: the statement returns no rows (NoData). */
  readonly columns: readonly ResultColumn[] | null;
  readonly post: SelectPost | null;
}

export type Plan =
  | ProgramPlan
  | { readonly kind: 'createTable'; readonly table: TableDef; readonly ifNotExists: boolean }
  | { readonly kind: 'dropTable'; readonly names: readonly string[]; readonly ifExists: boolean }
  | { readonly kind: 'addPrimaryKey'; readonly table: string; readonly columns: readonly string[] };

// ---------------------------------------------------------------------------------------------
// Typed expressions

interface TE {
  readonly e: Expr;
  readonly t: SqlType;
  /** The parameter slot when the expression is exactly one untyped or soft-typed parameter. */
  readonly slot: number | null;
  /** Depends only on parameters and literals (usable in a declared key set). */
  readonly constant: boolean;
}

const lit = (v: Value): Expr => ({ k: 'lit', v });
const bin = (op: BinaryOp, a: Expr, b: Expr): Expr => ({ k: 'bin', op, a, b });
const call = (fn: Extract<Expr, { k: 'call' }>['fn'], ...args: Expr[]): Expr => ({ k: 'call', fn, args });
const not = (a: Expr): Expr => ({ k: 'un', op: 'not', a });
const isNull = (a: Expr): Expr => ({ k: 'un', op: 'isnull', a });

interface Scope {
  readonly table: CatalogTable | null;
  /** Names the table may be referred to by (its name, or its alias). */
  readonly tableNames: readonly string[];
  /** The expression of column i of the current row. */
  readonly column: (i: number) => Expr;
}

const NO_TABLE: Scope = { table: null, tableNames: [], column: () => lit(null) };

function identName(v: unknown): string {
  if (typeof v === 'string') return v;
  const n = node(v, 'this identifier');
  if (isNode(n.expr)) return identName(n.expr);
  if (typeof n.value === 'string') return n.value;
  throw unsupported('this identifier');
}

class Compiler {
  readonly params: ParamSlot[];
  private varCounter = 0;

  constructor(
    readonly catalog: Catalog,
    literals: readonly LiftedLiteral[],
    declaredOids: readonly number[],
  ) {
    this.params = literals.map((literal) => ({ type: null, literal, declaredOid: 0, exact: false }));
    declaredOids.forEach((oid, i) => {
      const type = oid === 0 ? null : oidType(oid);
      if (oid !== 0 && type === null) throw unsupported(`parameter type ${oid}`);
      this.params[i] = { type, literal: null, declaredOid: oid, exact: false };
    });
  }

  fresh(prefix: string): string {
    return `${prefix}${this.varCounter++}`;
  }

  table(name: string): CatalogTable {
    const t = this.catalog.tables.find((x) => x.name === name);
    if (t === undefined) throw new OrdoError(SqlStateX.undefinedTable, `relation "${name}" does not exist`);
    return t;
  }

  slot(i: number): ParamSlot {
    let s = this.params[i];
    if (s === undefined) {
      for (let j = this.params.length; j <= i; j++) this.params[j] = { type: null, literal: null, declaredOid: 0, exact: false };
      s = this.params[i] as ParamSlot;
    }
    return s;
  }

  /** Gives an untyped (or literal) parameter the type its context wants, when that is sound. */
  private settle(x: TE, want: SqlType, exact: boolean): TE {
    if (x.slot === null) return x;
    const s = this.slot(x.slot);
    if (s.type !== null && s.declaredOid !== 0) return x;
    if (s.type !== null && s.literal === null) return x;
    const cls = typeClass(want);
    if (cls === 'unknown') return x;
    if (s.literal !== null) {
      const k = s.literal.kind;
      if (k.k === 'int' && !(cls === 'int' || cls === 'float' || cls === 'numeric')) return this.settleDefault(x);
      if (k.k === 'numeric' && !(cls === 'float' || (cls === 'numeric' && k.scale <= (want.scale ?? 0)))) return this.settleDefault(x);
      if (k.k === 'int' && cls === 'int' && BigInt(s.literal.text) > 9223372036854775807n) return this.settleDefault(x);
    }
    // A compared value keeps every digit it has: rounding it to the column's scale would change the answer.
    const t: SqlType = cls === 'int' && s.literal !== null ? T.int8 : want.name === 'varchar' || want.name === 'bpchar' ? T.text : want;
    s.type = t;
    if (exact) s.exact = true;
    return { ...x, t };
  }

  /** The expression's final type when nothing constrains it: literal kinds, then text. */
  resolved(x: TE): TE {
    const s = this.settleDefault(x);
    return s.t.name === 'unknown' ? this.convert(s, T.text, 'column') : s;
  }

  settleDefault(x: TE): TE {
    if (x.slot === null) return x;
    const s = this.slot(x.slot);
    if (s.type === null) s.type = s.literal !== null ? literalDefaultType(s.literal) : T.text;
    return { ...x, t: s.type };
  }

  finish(): void {
    for (const s of this.params) if (s.type === null) s.type = s.literal !== null ? literalDefaultType(s.literal) : T.text;
  }

  // --- expressions -----------------------------------------------------------------------------

  expr(n: unknown, scope: Scope): TE {
    const x = node(n, 'this expression');
    const te = this.exprInner(x, scope);
    if (isNode(x.tail)) {
      // node-sql-parser hangs `<cast> op <expr>` off the cast as a tail.
      const tail = x.tail;
      return this.binary(String(tail.operator), te, this.expr(tail.expr, scope));
    }
    return te;
  }

  private exprInner(x: Node, scope: Scope): TE {
    switch (x.type) {
      case 'number': {
        const text = String(x.value);
        if (/^-?[0-9]+$/.test(text)) {
          const v = BigInt(text);
          return { e: lit(v), t: v >= -2147483648n && v <= 2147483647n ? T.int4 : T.int8, slot: null, constant: true };
        }
        const scale = (text.split('.')[1] ?? '').length;
        return { e: lit(valueFromText(numericType(scale), text)), t: numericType(scale), slot: null, constant: true };
      }
      case 'single_quote_string':
      case 'string':
        return { e: lit(String(x.value)), t: T.unknown, slot: null, constant: true };
      case 'bool':
        return { e: lit(x.value === true), t: T.bool, slot: null, constant: true };
      case 'null':
        return { e: lit(null), t: T.unknown, slot: null, constant: true };
      case 'var': {
        if (x.prefix !== '$' || typeof x.name !== 'number') throw unsupported('this variable reference');
        const i = x.name - 1;
        const s = this.slot(i);
        return { e: { k: 'param', i }, t: s.type ?? T.unknown, slot: s.type === null || s.literal !== null ? i : null, constant: true };
      }
      case 'column_ref':
        return this.columnRef(x, scope);
      case 'unary_expr': {
        const a = this.expr(x.expr, scope);
        if (x.operator === '-') {
          const s = this.settleDefault(a);
          const cls = typeClass(s.t);
          if (cls !== 'int' && cls !== 'float' && cls !== 'numeric') throw operatorError('-', null, s.t);
          return { e: { k: 'un', op: 'neg', a: s.e }, t: s.t, slot: null, constant: s.constant };
        }
        if (x.operator === 'NOT') return this.notExpr(a);
        throw unsupported(`operator ${String(x.operator)}`);
      }
      case 'function':
        return this.func(x, scope);
      case 'binary_expr':
        return this.binaryNode(x, scope);
      case 'cast':
        return this.cast(x, scope);
      case 'aggr_func':
        throw new OrdoError(SqlStateX.groupingError, 'aggregate functions are not allowed here');
      case 'case':
        throw unsupported('CASE');
      case 'expr_list': {
        const items = list(x.value);
        if (items.length === 1) return this.expr(items[0], scope);
        throw unsupported('row constructors');
      }
      default:
        throw unsupported(`expression type ${String(x.type)}`);
    }
  }

  private notExpr(a: TE): TE {
    const b = this.coerceBool(a, 'NOT');
    return { e: not(b.e), t: T.bool, slot: null, constant: b.constant };
  }

  coerceBool(a: TE, what: string): TE {
    const s = this.settle(a, T.bool, false);
    if (s.t.name === 'unknown' && s.e.k === 'lit') {
      if (s.e.v === null) return { ...s, t: T.bool };
      return { e: lit(valueFromText(T.bool, String(s.e.v))), t: T.bool, slot: null, constant: true };
    }
    if (s.t.name !== 'bool') {
      throw new OrdoError(SqlState.datatypeMismatch, `argument of ${what} must be type boolean, not type ${typeSqlName(s.t)}`);
    }
    return s;
  }

  private columnRef(x: Node, scope: Scope): TE {
    const qualifier = x.table === null || x.table === undefined ? null : identName(x.table);
    const name = identName(x.column);
    if (name === 'localtimestamp' || name === 'LOCALTIMESTAMP') return this.nowAs(T.timestamp);
    if (name === 'DEFAULT') throw unsupported('DEFAULT in this position');
    const table = scope.table;
    if (table === null || (qualifier !== null && !scope.tableNames.includes(qualifier))) {
      if (qualifier !== null) throw new OrdoError(SqlStateX.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`);
      throw new OrdoError(SqlState.undefinedColumn, `column "${name}" does not exist`);
    }
    const i = table.columns.findIndex((c) => c.name === name);
    const col = table.columns[i];
    if (col === undefined) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" does not exist`);
    return { e: scope.column(i), t: columnSqlType(col), slot: null, constant: false };
  }

  private nowAs(t: SqlType): TE {
    const ms = call('now');
    const e = t.name === 'date' ? bin('/', ms, lit(86_400_000n)) : bin('*', ms, lit(1000n));
    return { e, t, slot: null, constant: false };
  }

  private func(x: Node, scope: Scope): TE {
    const names = list(node(x.name, 'this function').name).map(identName);
    const name = (names.at(-1) ?? '').toLowerCase();
    const args = list(isNode(x.args) ? x.args.value : []).map((a) => this.expr(a, scope));
    switch (name) {
      case 'now':
      case 'current_timestamp':
      case 'transaction_timestamp':
      case 'statement_timestamp':
        if (args.length > 0) throw unsupported(`${name} with arguments`);
        return this.nowAs(T.timestamptz);
      case 'current_date':
        return this.nowAs(T.date);
      case 'localtimestamp':
        return this.nowAs(T.timestamp);
      case 'not': {
        const [a] = args;
        if (a === undefined || args.length !== 1) throw unsupported('NOT with several arguments');
        return this.notExpr(a);
      }
      case 'coalesce':
      case 'greatest':
      case 'least': {
        if (args.length === 0) throw new OrdoError(SqlStateX.syntaxError, `${name} needs at least one argument`);
        const t = this.commonType(args, name.toUpperCase());
        const conv = args.map((a) => this.convert(this.settle(a, t, false), t, name));
        return { e: call(name, ...conv.map((c) => c.e)), t, slot: null, constant: conv.every((c) => c.constant) };
      }
      case 'abs': {
        const a = this.one(args, name);
        const s = this.settleDefault(a);
        const cls = typeClass(s.t);
        if (cls !== 'int' && cls !== 'float' && cls !== 'numeric') throw fnError(name, s.t);
        return { e: call('abs', s.e), t: s.t, slot: null, constant: s.constant };
      }
      case 'lower':
      case 'upper': {
        const a = this.convertText(this.one(args, name), name);
        return { e: call(name, a.e), t: T.text, slot: null, constant: a.constant };
      }
      case 'length':
      case 'char_length':
      case 'character_length': {
        const a = this.settle(this.one(args, name), T.text, false);
        const cls = typeClass(a.t);
        if (cls !== 'string' && cls !== 'bytea' && cls !== 'unknown') throw fnError(name, a.t);
        return { e: call('length', a.e), t: T.int4, slot: null, constant: a.constant };
      }
      default:
        throw new OrdoError(SqlStateX.undefinedFunction, `function ${name}(${args.map((a) => typeSqlName(a.t)).join(', ')}) does not exist`);
    }
  }

  private one(args: readonly TE[], name: string): TE {
    const [a] = args;
    if (a === undefined || args.length !== 1) throw new OrdoError(SqlStateX.undefinedFunction, `function ${name} takes one argument`);
    return a;
  }

  private convertText(a: TE, what: string): TE {
    const s = this.settle(a, T.text, false);
    if (typeClass(s.t) !== 'string' && s.t.name !== 'unknown') throw fnError(what, s.t);
    return { ...s, t: T.text };
  }

  /** The common type of several expressions (CASE/COALESCE resolution, simplified). */
  private commonType(args: readonly TE[], what: string): SqlType {
    let t: SqlType | null = null;
    for (const a of args) {
      if (a.t.name === 'unknown') continue;
      t = t === null ? a.t : this.unifyTypes(t, a.t, what);
    }
    return t ?? T.text;
  }

  private unifyTypes(a: SqlType, b: SqlType, what: string): SqlType {
    const ca = typeClass(a);
    const cb = typeClass(b);
    if (ca === cb) {
      if (ca === 'int') return a.name === 'int8' || b.name === 'int8' ? T.int8 : a.name === 'int4' || b.name === 'int4' ? T.int4 : T.int2;
      if (ca === 'numeric') return numericType(Math.max(a.scale ?? 0, b.scale ?? 0));
      if (ca === 'float') return a.name === 'float8' || b.name === 'float8' ? T.float8 : T.float4;
      if (ca === 'string') return a.name === b.name ? a : T.text;
      if (ca === 'timestamp') return a.name === b.name ? a : T.timestamptz;
      return a;
    }
    if ((ca === 'int' && cb === 'numeric') || (ca === 'numeric' && cb === 'int')) return ca === 'numeric' ? a : b;
    if ((ca === 'float' || cb === 'float') && isNumberClass(ca) && isNumberClass(cb)) return T.float8;
    throw new OrdoError(SqlState.datatypeMismatch, `${what} types ${typeSqlName(a)} and ${typeSqlName(b)} cannot be matched`);
  }

  /** Converts a value to type `t` (implicit and assignment casts). */
  convert(a: TE, t: SqlType, what: string): TE {
    const from = typeClass(a.t);
    const to = typeClass(t);
    if (a.t.name === 'unknown') {
      if (a.e.k === 'lit') {
        // An untyped string literal takes the type its context wants, read with that type's input function.
        return { e: lit(a.e.v === null ? null : valueFromText(t, String(a.e.v))), t, slot: null, constant: true };
      }
      if (a.slot !== null) {
        const s = this.settle(a, t, false);
        if (typeClass(s.t) === to) return { ...s, t };
      }
    }
    if (from === to) {
      if (to === 'numeric' && (a.t.scale ?? 0) !== (t.scale ?? 0)) {
        const d = (t.scale ?? 0) - (a.t.scale ?? 0);
        if (d < 0) throw unsupported(`rounding numeric(${a.t.scale ?? 0}) to scale ${t.scale ?? 0}`);
        return { ...a, e: bin('*', a.e, lit(pow10(d))), t, slot: null };
      }
      return { ...a, t };
    }
    if (from === 'int' && to === 'numeric') return { ...a, e: bin('*', a.e, lit(pow10(t.scale ?? 0))), t, slot: null };
    if (from === 'int' && to === 'float') return { ...a, e: call('toFloat', a.e), t, slot: null };
    if (from === 'numeric' && to === 'float') {
      return { ...a, e: bin('/', call('toFloat', a.e), lit(Number(pow10(a.t.scale ?? 0)))), t, slot: null };
    }
    if (from === 'float' && to === 'int') return { ...a, e: call('toInt', a.e), t, slot: null };
    throw new OrdoError(SqlState.datatypeMismatch, `${what} is of type ${typeSqlName(t)} but expression is of type ${typeSqlName(a.t)}`);
  }

  private cast(x: Node, scope: Scope): TE {
    const target = list(x.target)[0];
    const t = sqlTypeOf(node(target, 'this cast'));
    const a = this.expr(x.expr, scope);
    if (a.t.name === 'unknown' || a.slot !== null) {
      if (a.e.k === 'lit') return { e: lit(a.e.v === null ? null : valueFromText(t, String(a.e.v))), t, slot: null, constant: true };
      const s = this.settle(a, t, false);
      if (typeClass(s.t) === typeClass(t)) return this.convert(s, t, 'cast');
    }
    const from = typeClass(a.t);
    const to = typeClass(t);
    if (from === to || (from === 'int' && (to === 'numeric' || to === 'float')) || (from === 'numeric' && to === 'float') || (from === 'float' && to === 'int')) {
      return this.convert(a, t, 'cast');
    }
    if (to === 'string' && (from === 'int' || from === 'float' || from === 'bool' || from === 'uuid')) {
      return { e: call('toText', a.e), t, slot: null, constant: a.constant };
    }
    if (to === 'int' && (from === 'string' || from === 'bool')) return { e: call('toInt', a.e), t, slot: null, constant: a.constant };
    if (to === 'float' && from === 'string') return { e: call('toFloat', a.e), t, slot: null, constant: a.constant };
    throw unsupported(`cast from ${typeSqlName(a.t)} to ${typeSqlName(t)}`);
  }

  private binaryNode(x: Node, scope: Scope): TE {
    const op = String(x.operator).toUpperCase();
    if (op === 'IN' || op === 'NOT IN') {
      const left = this.expr(x.left, scope);
      const items = list(node(x.right, 'IN').value);
      if (items.length === 0) throw new OrdoError(SqlStateX.syntaxError, 'syntax error in IN list');
      let acc: TE | null = null;
      for (const item of items) {
        const eq = this.binary('=', left, this.expr(item, scope));
        acc = acc === null ? eq : this.logic('or', acc, eq);
      }
      const r = acc as TE;
      return op === 'IN' ? r : this.notExpr(r);
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      const left = this.expr(x.left, scope);
      const [lo, hi] = list(node(x.right, 'BETWEEN').value);
      const r = this.logic('and', this.binary('>=', left, this.expr(lo, scope)), this.binary('<=', left, this.expr(hi, scope)));
      return op === 'BETWEEN' ? r : this.notExpr(r);
    }
    if (op === 'IS' || op === 'IS NOT') {
      const left = this.expr(x.left, scope);
      const right = node(x.right, 'IS');
      let r: TE;
      if (right.type === 'null') r = { e: isNull(left.e), t: T.bool, slot: null, constant: left.constant };
      else if (right.type === 'bool') {
        const b = this.coerceBool(left, 'IS');
        // x IS TRUE is never NULL: a NULL x is simply not true.
        const e = call('coalesce', right.value === true ? b.e : not(b.e), lit(false));
        r = { e, t: T.bool, slot: null, constant: b.constant };
      } else throw unsupported(`IS ${String(right.type)}`);
      return op === 'IS' ? r : this.notExpr(r);
    }
    if (op === 'AND' || op === 'OR') return this.logic(op === 'AND' ? 'and' : 'or', this.expr(x.left, scope), this.expr(x.right, scope));
    return this.binary(op, this.expr(x.left, scope), this.expr(x.right, scope));
  }

  private logic(op: 'and' | 'or', a: TE, b: TE): TE {
    const x = this.coerceBool(a, op.toUpperCase());
    const y = this.coerceBool(b, op.toUpperCase());
    return { e: bin(op, x.e, y.e), t: T.bool, slot: null, constant: x.constant && y.constant };
  }

  binary(opText: string, a0: TE, b0: TE): TE {
    const op = opText === '!=' ? '<>' : opText;
    const comparison = ['=', '<>', '<', '<=', '>', '>='].includes(op);
    const arith = ['+', '-', '*', '/', '%'].includes(op);
    if (!comparison && !arith && op !== '||') throw unsupported(`operator ${opText}`);
    // An untyped side takes the other side's type.
    let a = a0;
    let b = b0;
    if (a.t.name !== 'unknown' && a.slot === null) b = this.settle(b, a.t, comparison);
    if (b.t.name !== 'unknown' && b.slot === null) a = this.settle(a, b.t, comparison);
    a = this.settleDefault(a);
    b = this.settleDefault(b);
    if (op === '||') {
      const x = this.textish(a, '||');
      const y = this.textish(b, '||');
      return { e: bin('||', x.e, y.e), t: T.text, slot: null, constant: x.constant && y.constant };
    }
    if (a.t.name === 'unknown' && b.t.name === 'unknown') {
      a = this.convert(a, T.text, 'operand');
      b = this.convert(b, T.text, 'operand');
    } else if (a.t.name === 'unknown') a = this.convert(a, b.t, 'operand');
    else if (b.t.name === 'unknown') b = this.convert(b, a.t, 'operand');
    const ca = typeClass(a.t);
    const cb = typeClass(b.t);
    const constant = a.constant && b.constant;
    if (isNumberClass(ca) && isNumberClass(cb)) {
      if (ca === 'float' || cb === 'float') {
        const x = this.convert(a, T.float8, 'operand');
        const y = this.convert(b, T.float8, 'operand');
        return { e: bin(op as BinaryOp, x.e, y.e), t: comparison ? T.bool : T.float8, slot: null, constant };
      }
      if (ca === 'int' && cb === 'int') {
        const t = this.unifyTypes(a.t, b.t, 'operator');
        return { e: bin(op as BinaryOp, a.e, b.e), t: comparison ? T.bool : t, slot: null, constant };
      }
      // numeric with numeric or int: exact scaled integers.
      const sa = ca === 'numeric' ? (a.t.scale ?? 0) : 0;
      const sb = cb === 'numeric' ? (b.t.scale ?? 0) : 0;
      if (op === '*') return { e: bin('*', a.e, b.e), t: numericType(sa + sb), slot: null, constant };
      if (op === '/') throw unsupported('numeric division');
      const s = Math.max(sa, sb);
      const x = sa === s ? a.e : bin('*', a.e, lit(pow10(s - sa)));
      const y = sb === s ? b.e : bin('*', b.e, lit(pow10(s - sb)));
      return { e: bin(op as BinaryOp, x, y), t: comparison ? T.bool : numericType(s), slot: null, constant };
    }
    if (comparison && ca === cb && ca !== 'unknown') {
      return { e: bin(op as BinaryOp, a.e, b.e), t: T.bool, slot: null, constant };
    }
    throw operatorError(opText, a.t, b.t);
  }

  private textish(a: TE, what: string): TE {
    const s = this.settle(a, T.text, false);
    const cls = typeClass(s.t);
    if (cls === 'string' || cls === 'unknown') return s;
    if (cls === 'int' || cls === 'float' || cls === 'bool' || cls === 'uuid') return { e: call('toText', s.e), t: T.text, slot: null, constant: s.constant };
    throw unsupported(`${what} with ${typeSqlName(s.t)}`);
  }
}

function isNumberClass(c: string): boolean {
  return c === 'int' || c === 'float' || c === 'numeric';
}

function operatorError(op: string, a: SqlType | null, b: SqlType): OrdoError {
  const left = a === null ? '' : `${typeSqlName(a)} `;
  return new OrdoError(SqlStateX.undefinedFunction, `operator does not exist: ${left}${op} ${typeSqlName(b)}`);
}

function fnError(name: string, t: SqlType): OrdoError {
  return new OrdoError(SqlStateX.undefinedFunction, `function ${name}(${typeSqlName(t)}) does not exist`);
}

// ---------------------------------------------------------------------------------------------
// Types in DDL and casts

function sqlTypeOf(def: Node): SqlType {
  const c = columnTypeOf(def);
  return c.type === 'numeric' ? numericType(c.scale ?? 0, c.length) : { name: c.type, length: c.length, scale: c.scale };
}

function columnTypeOf(def: Node): { type: ColumnType; length: number | null; scale: number | null } {
  const dt = String(def.dataType).toUpperCase();
  const length = typeof def.length === 'number' ? def.length : null;
  const scale = typeof def.scale === 'number' ? def.scale : null;
  const suffix = list(def.suffix).map((s) => String(s).toUpperCase()).join(' ');
  const plain = (type: ColumnType): { type: ColumnType; length: null; scale: null } => ({ type, length: null, scale: null });
  switch (dt) {
    case 'SMALLINT':
    case 'INT2':
      return plain('int2');
    case 'INT':
    case 'INTEGER':
    case 'INT4':
      return plain(length === 2 ? 'int2' : length === 8 ? 'int8' : 'int4');
    case 'BIGINT':
    case 'INT8':
      return plain('int8');
    case 'REAL':
    case 'FLOAT4':
      return plain('float4');
    case 'FLOAT':
      return plain(length !== null && length <= 24 ? 'float4' : 'float8');
    case 'DOUBLE PRECISION':
    case 'DOUBLE':
    case 'FLOAT8':
      return plain('float8');
    case 'NUMERIC':
    case 'DECIMAL':
      if (length === null) throw unsupported('numeric without a precision and scale (use numeric(p,s))');
      if (length > 18) throw unsupported('numeric precision above 18');
      return { type: 'numeric', length, scale: scale ?? 0 };
    case 'TEXT':
      return plain('text');
    case 'VARCHAR':
    case 'CHARACTER VARYING':
      return { type: 'varchar', length, scale: null };
    case 'CHAR':
    case 'CHARACTER':
      return { type: 'bpchar', length: length ?? 1, scale: null };
    case 'BOOL':
    case 'BOOLEAN':
      return plain('bool');
    case 'TIMESTAMP':
      return plain(suffix.startsWith('WITH ') ? 'timestamptz' : 'timestamp');
    case 'TIMESTAMPTZ':
      return plain('timestamptz');
    case 'DATE':
      return plain('date');
    case 'BYTEA':
      return plain('bytea');
    case 'UUID':
      return plain('uuid');
    default:
      throw unsupported(`type ${dt.toLowerCase()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Statements

export const GUARD_ROW = '__guard';
/** How many statements guardStmts puts at the start of every program. */
export const GUARD_STATEMENTS = 3;

function guardKey(table: CatalogTable): KeyExpr {
  return { table: CatalogLayout.guardTableId, index: CatalogLayout.guardIndexId, parts: [lit(BigInt(table.id))] };
}

function guardStmts(table: CatalogTable): Stmt[] {
  // Column 1 of the guard row is the position of the table's last re-keying (ADD PRIMARY KEY), NULL
  // before any: a program compiled for another key layout must not read or write rows by that layout.
  const rekeyed: Expr = { k: 'col', row: GUARD_ROW, i: 1 };
  const stale: Expr = table.rekeyedAt === undefined ? not(isNull(rekeyed)) : bin('or', isNull(rekeyed), bin('<>', rekeyed, lit(BigInt(table.rekeyedAt))));
  return [
    { k: 'get', into: GUARD_ROW, key: guardKey(table) },
    {
      k: 'if',
      cond: not({ k: 'found', row: GUARD_ROW }),
      then: [{ k: 'abort', code: SqlStateX.undefinedTable, message: lit(`relation "${table.name}" does not exist`) }],
      else: [],
    },
    abortIf(stale, SqlState.serializationFailure, `relation "${table.name}" was altered after this statement was planned; retry it`),
  ];
}

function tableRange(table: CatalogTable): RangeExpr {
  return { table: table.id, index: 0, lower: [], lowerInclusive: true, upper: null, upperInclusive: false };
}

/** Row values are the columns, then (for tables without a primary key) the two hidden row id parts. */
export function rowKeyFromRow(table: CatalogTable, row: string): KeyExpr {
  const parts: Expr[] =
    table.primaryKey.length > 0
      ? table.primaryKey.map((i) => ({ k: 'col', row, i }))
      : [{ k: 'col', row, i: table.columns.length }, { k: 'col', row, i: table.columns.length + 1 }];
  return { table: table.id, index: 0, parts };
}

function abortIf(cond: Expr, code: string, message: string): Stmt {
  return { k: 'if', cond, then: [{ k: 'abort', code, message: lit(message) }], else: [] };
}

/** The checks a value must pass to be stored in column `c` (NULL passes all but NOT NULL). */
function columnChecks(table: CatalogTable, c: ColumnDef, v: Expr, isPk: boolean): Stmt[] {
  const out: Stmt[] = [];
  if (c.notNull || isPk) {
    out.push(abortIf(isNull(v), SqlState.notNullViolation, `null value in column "${c.name}" of relation "${table.name}" violates not-null constraint`));
  }
  const range = IntRange[c.type];
  if (range !== undefined && c.type !== 'int8') {
    out.push(abortIf(bin('or', bin('<', v, lit(range[0])), bin('>', v, lit(range[1]))), SqlState.numericValueOutOfRange, c.type === 'int2' ? 'smallint out of range' : 'integer out of range'));
  }
  if ((c.type === 'varchar' || c.type === 'bpchar') && c.length !== null) {
    const name = c.type === 'varchar' ? `character varying(${c.length})` : `character(${c.length})`;
    out.push(abortIf(bin('>', call('length', v), lit(BigInt(c.length))), SqlStateX.stringDataRightTruncation, `value too long for type ${name}`));
  }
  if (c.type === 'numeric' && c.length !== null) {
    const limit = pow10(c.length);
    out.push(abortIf(bin('>=', call('abs', v), lit(limit)), SqlState.numericValueOutOfRange, 'numeric field overflow'));
  }
  return out;
}

export interface CompileInput {
  readonly ast: Node;
  readonly catalog: Catalog;
  readonly literals: readonly LiftedLiteral[];
  readonly declaredOids: readonly number[];
}

export function compileStatement(input: CompileInput): Plan {
  const { ast } = input;
  switch (ast.type) {
    case 'create':
      return compileCreate(ast);
    case 'drop':
      return compileDrop(ast);
    case 'alter':
      // ADD PRIMARY KEY re-keys a table's rows: its own control entry, checked and applied by the scheduler.
      return compileAlter(ast);
    default:
      break;
  }
  const c = new Compiler(input.catalog, input.literals, input.declaredOids);
  let plan: Omit<ProgramPlan, 'params'>;
  switch (ast.type) {
    case 'select':
      plan = compileSelect(c, ast);
      break;
    case 'insert':
      plan = compileInsert(c, ast);
      break;
    case 'update':
      plan = compileUpdate(c, ast);
      break;
    case 'delete':
      plan = compileDelete(c, ast);
      break;
    default:
      throw unsupported(`statement ${String(ast.type).toUpperCase()}`);
  }
  c.finish();
  return { ...plan, params: c.params };
}

function tableOf(c: Compiler, from: unknown, what: string): { table: CatalogTable; names: string[] } {
  const items = list(from);
  if (items.length !== 1) throw unsupported(items.length === 0 ? `${what} without a table` : `${what} over several tables (joins)`);
  const f = node(items[0], 'this FROM item');
  if (typeof f.table !== 'string') throw unsupported('subqueries in FROM');
  if (f.db !== null && f.db !== undefined && f.db !== 'public') throw unsupported(`schema ${String(f.db)}`);
  const table = c.table(f.table);
  const names = [table.name];
  if (typeof f.as === 'string') names.push(f.as);
  return { table, names };
}

function rowScope(table: CatalogTable, names: readonly string[], row: string): Scope {
  return { table, tableNames: names, column: (i) => ({ k: 'col', row, i }) };
}

function conjuncts(where: unknown): unknown[] {
  if (!isNode(where)) return [];
  if (where.type === 'binary_expr' && String(where.operator).toUpperCase() === 'AND' && where.parentheses !== true) {
    return [...conjuncts(where.left), ...conjuncts(where.right)];
  }
  return [where];
}

/**
 * Primary-key parts fixed by `pk = constant` conjuncts, when every pk column is fixed; `exact` when
 * those conjuncts are the whole WHERE clause.
 */
function pointKey(c: Compiler, table: CatalogTable, where: unknown): { parts: Expr[]; exact: boolean } | null {
  if (table.primaryKey.length === 0) return null;
  const parts = new Map<number, Expr>();
  const all = conjuncts(where);
  for (const conj of all) {
    if (!isNode(conj) || conj.type !== 'binary_expr' || conj.operator !== '=') continue;
    for (const [colSide, valSide] of [
      [conj.left, conj.right],
      [conj.right, conj.left],
    ] as const) {
      if (!isNode(colSide) || colSide.type !== 'column_ref' || colSide.table !== null) continue;
      const i = table.columns.findIndex((col) => col.name === identName(colSide.column));
      const col = table.columns[i];
      if (col === undefined || !table.primaryKey.includes(i) || parts.has(i)) continue;
      let v: ReturnType<Compiler['expr']>;
      try {
        v = c.expr(valSide, NO_TABLE);
      } catch {
        continue;
      }
      if (!v.constant) continue;
      const want = columnSqlType(col);
      try {
        const conv = c.convert(v, want, 'key');
        // Only a value of the column's own representation finds the stored key by its bytes.
        if (typeClass(conv.t) !== typeClass(want) || (conv.t.scale ?? 0) !== (want.scale ?? 0)) continue;
        if (typeClass(want) === 'float') continue; // -0/NaN canonicalization happens in the tuple encoding, but keep to exact types
        parts.set(i, conv.e);
      } catch {
        continue;
      }
    }
  }
  if (parts.size !== table.primaryKey.length) return null;
  // Each part came from its own conjunct (a second conjunct on a fixed column is skipped above).
  return { parts: table.primaryKey.map((i) => parts.get(i) as Expr), exact: all.length === parts.size };
}

interface Access {
  readonly reads: { points: KeyExpr[]; ranges: RangeExpr[] };
  /** Wraps per-row statements into the access (a get + if found, or a scan). */
  readonly wrap: (body: Stmt[]) => Stmt[];
  readonly key: KeyExpr | null;
  /**
   * The point key is the whole WHERE clause: a row found at the key satisfies it (the key's values
   * have the columns' own representation, so equal key bytes are equal values), and re-testing it in
   * the program would only make every logged program longer.
   */
  readonly coversWhere: boolean;
}

function access(c: Compiler, table: CatalogTable, where: unknown, row: string, limit: Expr | null): Access {
  const point = pointKey(c, table, where);
  if (point !== null) {
    const key: KeyExpr = { table: table.id, index: 0, parts: point.parts };
    return {
      reads: { points: [guardKey(table), key], ranges: [] },
      key,
      coversWhere: point.exact,
      wrap: (body) => [{ k: 'get', into: row, key }, { k: 'if', cond: { k: 'found', row }, then: body, else: [] }],
    };
  }
  const range = tableRange(table);
  return {
    reads: { points: [guardKey(table)], ranges: [range] },
    key: null,
    coversWhere: false,
    wrap: (body) => [{ k: 'scan', into: row, range, limit, reverse: false, body }],
  };
}

function whereFilter(c: Compiler, where: unknown, scope: Scope, body: Stmt[], covered = false): Stmt[] {
  if (!isNode(where)) return body;
  // Compiled even when covered by the access: that types the parameters exactly as before.
  const cond = c.coerceBool(c.expr(where, scope), 'WHERE');
  return covered ? body : [{ k: 'if', cond: cond.e, then: body, else: [] }];
}

function countSource(c: Compiler, v: unknown): CountSource | null {
  if (!isNode(v)) return null;
  if (v.type === 'origin' && String(v.value).toLowerCase() === 'all') return null;
  if (v.type === 'number') return { k: 'const', v: BigInt(String(v.value)) };
  if (v.type === 'var' && typeof v.name === 'number') {
    const i = v.name - 1;
    const s = c.slot(i);
    if (s.type === null || s.literal !== null) s.type = T.int8;
    return { k: 'param', i };
  }
  throw unsupported('this LIMIT/OFFSET expression');
}

function compileSelect(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  if (isNode(ast.with)) throw unsupported('WITH');
  if (isNode(ast.groupby) || Array.isArray(ast.groupby)) throw unsupported('GROUP BY');
  if (isNode(ast.having)) throw unsupported('HAVING');
  if (isNode(ast.distinct) && ast.distinct.type !== null) throw unsupported('SELECT DISTINCT');
  if (isNode(ast._next) || ast.set_op !== undefined && ast.set_op !== null) throw unsupported('UNION/INTERSECT/EXCEPT');
  const hasFrom = list(ast.from).length > 0;
  const row = 'r';
  const src = hasFrom ? tableOf(c, ast.from, 'SELECT') : null;
  const scope = src === null ? NO_TABLE : rowScope(src.table, src.names, row);

  // Projection (or aggregate arguments).
  const outputs: TE[] = [];
  const columns: ResultColumn[] = [];
  const aggregates: Aggregate[] = [];
  const aggArgs: TE[] = [];
  for (const item of list(ast.columns)) {
    const it = node(item, 'this select item');
    const ex = it.type === 'cast' ? it : node(it.expr, 'this select item');
    if (ex.type === 'column_ref' && ex.column === '*') {
      if (src === null) throw new OrdoError(SqlStateX.syntaxError, 'SELECT * with no tables specified is not valid');
      src.table.columns.forEach((col, i) => {
        outputs.push({ e: scope.column(i), t: columnSqlType(col), slot: null, constant: false });
        columns.push({ name: col.name, type: columnSqlType(col), tableId: src.table.id, attr: i + 1 });
      });
      continue;
    }
    const alias = typeof it.as === 'string' ? it.as : null;
    if (ex.type === 'aggr_func') {
      const fn = String(ex.name).toLowerCase();
      const args = node(ex.args, 'aggregate arguments');
      if (args.distinct !== undefined && args.distinct !== null) throw unsupported('aggregate DISTINCT');
      if (!['count', 'sum', 'avg', 'min', 'max'].includes(fn)) throw unsupported(`aggregate ${fn}`);
      const argNode = node(args.expr, 'aggregate argument');
      let arg: number | null = null;
      let argType: SqlType | null = null;
      if (argNode.type !== 'star') {
        const a = c.expr(argNode, scope);
        const settled = c.resolved(a);
        arg = aggArgs.length;
        argType = settled.t;
        aggArgs.push(settled);
      } else if (fn !== 'count') throw new OrdoError(SqlStateX.syntaxError, `${fn}(*) is not valid`);
      const agg: Aggregate = { fn: fn as Aggregate['fn'], arg, argType };
      aggregates.push(agg);
      columns.push({ name: alias ?? fn, type: aggregateType(agg), tableId: 0, attr: 0 });
      continue;
    }
    const te = c.resolved(c.expr(ex, scope));
    outputs.push(te);
    columns.push({ name: alias ?? outputName(ex), type: te.t, tableId: te.e.k === 'col' && src !== null ? src.table.id : 0, attr: te.e.k === 'col' ? te.e.i + 1 : 0 });
  }
  if (aggregates.length > 0 && outputs.length > 0) throw unsupported('mixing aggregates with plain columns (GROUP BY)');

  // ORDER BY: output positions, output names, or expressions appended as sort keys.
  const sortKeys: TE[] = [];
  const orderBy: { index: number; desc: boolean; nullsFirst: boolean }[] = [];
  for (const o of list(ast.orderby)) {
    const on = node(o, 'ORDER BY item');
    const ex = node(on.expr, 'ORDER BY item');
    const desc = String(on.type ?? 'ASC').toUpperCase() === 'DESC';
    const nulls = typeof on.nulls === 'string' ? on.nulls.toUpperCase() : null;
    const nullsFirst = nulls === null ? desc : nulls.includes('FIRST');
    if (aggregates.length > 0) {
      if (ex.type === 'number' && Number(ex.value) >= 1 && Number(ex.value) <= columns.length) {
        orderBy.push({ index: Number(ex.value) - 1, desc, nullsFirst });
        continue;
      }
      throw unsupported('ORDER BY in an aggregate query other than by position');
    }
    if (ex.type === 'number') {
      const pos = Number(ex.value);
      if (!Number.isInteger(pos) || pos < 1 || pos > columns.length) {
        throw new OrdoError(SqlStateX.invalidColumnReference, `ORDER BY position ${String(ex.value)} is not in select list`);
      }
      orderBy.push({ index: pos - 1, desc, nullsFirst });
      continue;
    }
    if (ex.type === 'column_ref' && (ex.table === null || ex.table === undefined)) {
      const name = identName(ex.column);
      const byAlias = columns.findIndex((col) => col.name === name);
      if (byAlias >= 0 && (src === null || !src.table.columns.some((col) => col.name === name) || columns[byAlias]?.attr !== 0)) {
        orderBy.push({ index: byAlias, desc, nullsFirst });
        continue;
      }
    }
    const te = c.expr(ex, scope);
    orderBy.push({ index: outputs.length + sortKeys.length, desc, nullsFirst });
    sortKeys.push(te);
  }

  const limitNode = node(ast.limit ?? { value: [] }, 'LIMIT');
  const lv = list(limitNode.value);
  let limit: CountSource | null = null;
  let offset: CountSource | null = null;
  if (lv.length === 1) limit = countSource(c, lv[0]);
  else if (lv.length === 2) {
    if (limitNode.seperator === 'offset') {
      limit = countSource(c, lv[0]);
      offset = countSource(c, lv[1]);
    } else {
      offset = countSource(c, lv[0]);
      limit = countSource(c, lv[1]);
    }
  }

  const emitted = aggregates.length > 0 ? aggArgs : [...outputs, ...sortKeys];
  const emit: Stmt = { k: 'emit', values: emitted.map((x) => x.e) };
  let body: Stmt[];
  let reads: { points: KeyExpr[]; ranges: RangeExpr[] } = { points: [], ranges: [] };
  if (src === null) {
    body = whereFilter(c, ast.where, scope, [emit]);
  } else {
    // A bare scan with no filter, order or aggregate can stop after LIMIT + OFFSET rows.
    const pushLimit = !isNode(ast.where) && orderBy.length === 0 && aggregates.length === 0 && limit !== null;
    const limitExpr = pushLimit ? limitToExpr(limit, offset) : null;
    const acc = access(c, src.table, ast.where, row, limitExpr);
    reads = acc.reads;
    body = [...guardStmts(src.table), ...acc.wrap(whereFilter(c, ast.where, scope, [emit], acc.coversWhere))];
  }
  return {
    kind: 'program',
    command: 'SELECT',
    program: { reads, writes: { points: [], ranges: [] }, body },
    readOnly: true,
    needsTxnId: false,
    columns,
    post: { outputs: aggregates.length > 0 ? 0 : outputs.length, orderBy, aggregates: aggregates.length > 0 ? aggregates : null, limit, offset },
  };
}

function limitToExpr(limit: CountSource | null, offset: CountSource | null): Expr | null {
  if (limit === null) return null;
  const l: Expr = limit.k === 'param' ? { k: 'param', i: limit.i } : lit(limit.v);
  if (offset === null) return l;
  return bin('+', l, offset.k === 'param' ? { k: 'param', i: offset.i } : lit(offset.v));
}

function aggregateType(a: Aggregate): SqlType {
  const t = a.argType;
  switch (a.fn) {
    case 'count':
      return T.int8;
    case 'sum':
      if (t === null) return T.int8;
      if (t.name === 'int2' || t.name === 'int4') return T.int8;
      if (t.name === 'int8') return numericType(0);
      if (t.name === 'float4' || t.name === 'float8' || t.name === 'numeric') return t;
      throw fnError('sum', t);
    case 'avg':
      if (t === null) return T.float8;
      if (typeClass(t) === 'int' || t.name === 'numeric') return { name: 'numeric', length: null, scale: null };
      if (typeClass(t) === 'float') return T.float8;
      throw fnError('avg', t);
    default:
      if (t === null) throw fnError(a.fn, T.unknown);
      return t;
  }
}

function outputName(ex: Node): string {
  if (ex.type === 'column_ref') return identName(ex.column);
  if (ex.type === 'function') {
    const names = list(node(ex.name, 'function').name).map(identName);
    const n = (names.at(-1) ?? '?column?').toLowerCase();
    return n === 'current_timestamp' ? 'current_timestamp' : n === 'current_date' ? 'current_date' : n;
  }
  if (ex.type === 'cast' && ex.tail === undefined) {
    const inner = node(ex.expr, 'cast');
    if (inner.type === 'column_ref') return identName(inner.column);
    const target = node(list(ex.target)[0], 'cast');
    const t = sqlTypeOf(target);
    return t.name === 'int4' ? 'int4' : t.name;
  }
  return '?column?';
}

function returning(c: Compiler, ast: Node, table: CatalogTable, scope: Scope): { exprs: TE[]; columns: ResultColumn[] } | null {
  if (!isNode(ast.returning)) return null;
  const exprs: TE[] = [];
  const columns: ResultColumn[] = [];
  for (const item of list(ast.returning.columns)) {
    const it = node(item, 'RETURNING item');
    const ex = it.type === 'cast' ? it : node(it.expr, 'RETURNING item');
    if (ex.type === 'column_ref' && ex.column === '*') {
      table.columns.forEach((col, i) => {
        exprs.push({ e: scope.column(i), t: columnSqlType(col), slot: null, constant: false });
        columns.push({ name: col.name, type: columnSqlType(col), tableId: table.id, attr: i + 1 });
      });
      continue;
    }
    const te = c.resolved(c.expr(ex, scope));
    exprs.push(te);
    columns.push({ name: typeof it.as === 'string' ? it.as : outputName(ex), type: te.t, tableId: 0, attr: 0 });
  }
  return { exprs, columns };
}

function defaultExpr(c: ColumnDef): Expr {
  if (c.default === null) return lit(null);
  if (c.default.kind === 'now') {
    if (c.type === 'date') return bin('/', call('now'), lit(86_400_000n));
    return bin('*', call('now'), lit(1000n));
  }
  const [v] = decodeDefault(c.default.tupleHex);
  return lit(v ?? null);
}

function decodeDefault(hex: string): Value[] {
  return decodeTuple(Buffer.from(hex, 'hex'));
}

function isDefaultKeyword(n: unknown): boolean {
  return isNode(n) && n.type === 'column_ref' && (n.table === null || n.table === undefined) && isNode(n.column) && identName(n.column) === 'DEFAULT';
}

function compileInsert(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  const items = list(ast.table);
  const t = node(items[0], 'INSERT target');
  const table = c.table(String(t.table));
  const values = node(ast.values, 'INSERT source');
  if (values.type !== 'values') throw unsupported('INSERT … SELECT');
  let targets: number[];
  if (Array.isArray(ast.columns)) {
    targets = ast.columns.map((cn) => {
      const name = identName(cn);
      const i = table.columns.findIndex((col) => col.name === name);
      if (i < 0) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
      return i;
    });
    if (new Set(targets).size !== targets.length) throw new OrdoError(SqlStateX.duplicateColumn, 'column specified more than once');
  } else targets = table.columns.map((_, i) => i);
  let onConflictNothing = false;
  if (isNode(ast.conflict)) {
    const action = node(node(ast.conflict.action, 'ON CONFLICT').expr, 'ON CONFLICT');
    if (String(action.value).toLowerCase() !== 'nothing') throw unsupported('ON CONFLICT DO UPDATE');
    onConflictNothing = true;
  }
  const hidden = table.primaryKey.length === 0;
  const txnIdParam: Expr = { k: 'param', i: -1 }; // patched below, once the parameter count is known
  const rows = list(values.values);
  if (rows.length > 10_000) throw unsupported('more than 10000 rows in one INSERT');
  const points: KeyExpr[] = [];
  const body: Stmt[] = [...guardStmts(table)];
  let ret: { exprs: TE[]; columns: ResultColumn[] } | null = null;
  rows.forEach((r, rowNo) => {
    const exprs = list(node(r, 'VALUES row').value);
    if (exprs.length > targets.length) throw new OrdoError(SqlStateX.syntaxError, 'INSERT has more expressions than target columns');
    if (exprs.length < targets.length) throw new OrdoError(SqlStateX.syntaxError, 'INSERT has more target columns than expressions');
    const vars: string[] = [];
    const colExprs: Expr[] = [];
    const stmts: Stmt[] = [];
    table.columns.forEach((col, i) => {
      const at = targets.indexOf(i);
      const src = at >= 0 ? exprs[at] : undefined;
      let e: TE;
      if (src === undefined || isDefaultKeyword(src)) e = { e: defaultExpr(col), t: columnSqlType(col), slot: null, constant: col.default?.kind !== 'now' };
      else e = c.convert(c.expr(src, NO_TABLE), columnSqlType(col), `column "${col.name}"`);
      const v = c.fresh('v');
      vars.push(v);
      colExprs.push(e.e);
      stmts.push({ k: 'let', name: v, e: e.e }, ...columnChecks(table, col, { k: 'var', name: v }, table.primaryKey.includes(i)));
    });
    let key: KeyExpr;
    if (hidden) key = { table: table.id, index: 0, parts: [txnIdParam, lit(BigInt(rowNo))] };
    else {
      const parts = table.primaryKey.map((i) => {
        const e = colExprs[i] as Expr;
        if (!isConstantExpr(e)) throw unsupported('a primary key value computed from now() or a column');
        return e;
      });
      key = { table: table.id, index: 0, parts };
    }
    points.push(key);
    const scope: Scope = { table, tableNames: [table.name], column: (i) => ({ k: 'var', name: vars[i] as string }) };
    const rowRet = returning(c, ast, table, scope);
    if (rowNo === 0) ret = rowRet;
    const rowValues: Expr[] = vars.map((name) => ({ k: 'var', name }));
    if (hidden) rowValues.push(txnIdParam, lit(BigInt(rowNo)));
    const existing = c.fresh('x');
    const insert: Stmt[] = [{ k: 'put', key, row: rowValues }, { k: 'emit', values: (rowRet?.exprs ?? []).map((x) => x.e) }];
    stmts.push({ k: 'get', into: existing, key });
    stmts.push({
      k: 'if',
      cond: { k: 'found', row: existing },
      then: onConflictNothing
        ? []
        : [{ k: 'abort', code: SqlState.uniqueViolation, message: lit(`duplicate key value violates unique constraint "${table.name}_pkey"`) }],
      else: insert,
    });
    body.push(...stmts);
  });
  const retCols = ret as { exprs: TE[]; columns: ResultColumn[] } | null;
  c.finish();
  const txnIdIndex = c.params.length;
  const program = patchTxnIdParam({ reads: { points: [guardKey(table), ...points], ranges: [] }, writes: { points, ranges: [] }, body }, txnIdIndex);
  return { kind: 'program', command: 'INSERT', program, readOnly: false, needsTxnId: hidden, columns: retCols?.columns ?? null, post: null };
}

function isConstantExpr(e: Expr): boolean {
  switch (e.k) {
    case 'lit':
    case 'param':
      return true;
    case 'un':
      return isConstantExpr(e.a);
    case 'bin':
      return isConstantExpr(e.a) && isConstantExpr(e.b);
    case 'call':
      return e.fn !== 'now' && e.args.every(isConstantExpr);
    default:
      return false;
  }
}

/** Replaces the placeholder parameter -1 by the transaction-id parameter's real index. */
function patchTxnIdParam(p: Program, index: number): Program {
  const ex = (e: Expr): Expr => {
    switch (e.k) {
      case 'param':
        return e.i === -1 ? { k: 'param', i: index } : e;
      case 'un':
        return { ...e, a: ex(e.a) };
      case 'bin':
        return { ...e, a: ex(e.a), b: ex(e.b) };
      case 'call':
        return { ...e, args: e.args.map(ex) };
      default:
        return e;
    }
  };
  return mapProgram(p, ex, (n) => n);
}

/** Rebuilds a program with every expression passed through `ex` and every name through `name`. */
export function mapProgram(p: Program, ex: (e: Expr) => Expr, name: (n: string) => string): Program {
  const deep = (e: Expr): Expr => {
    const r = ex(e);
    switch (r.k) {
      case 'var':
        return { k: 'var', name: name(r.name) };
      case 'col':
        return { k: 'col', row: name(r.row), i: r.i };
      case 'found':
        return { k: 'found', row: name(r.row) };
      case 'count':
        return { k: 'count', scan: name(r.scan) };
      case 'version':
        return { k: 'version', key: key(r.key) };
      case 'un':
        return { ...r, a: deep(r.a) };
      case 'bin':
        return { ...r, a: deep(r.a), b: deep(r.b) };
      case 'call':
        return { ...r, args: r.args.map(deep) };
      default:
        return r;
    }
  };
  const keyMemo = new Map<KeyExpr, KeyExpr>();
  const key = (k: KeyExpr): KeyExpr => {
    // Keep shared KeyExpr objects shared: the executor reuses a declared key's encoding by identity.
    let out = keyMemo.get(k);
    if (out === undefined) {
      out = { table: k.table, index: k.index, parts: k.parts.map(deep) };
      keyMemo.set(k, out);
    }
    return out;
  };
  const range = (r: RangeExpr): RangeExpr => ({ ...r, lower: r.lower.map(deep), upper: r.upper === null ? null : r.upper.map(deep) });
  const stmt = (s: Stmt): Stmt => {
    switch (s.k) {
      case 'let':
        return { k: 'let', name: name(s.name), e: deep(s.e) };
      case 'get':
        return { k: 'get', into: name(s.into), key: key(s.key) };
      case 'scan':
        return { k: 'scan', into: name(s.into), range: range(s.range), limit: s.limit === null ? null : deep(s.limit), reverse: s.reverse, body: s.body.map(stmt) };
      case 'put':
        return { k: 'put', key: key(s.key), row: s.row.map(deep) };
      case 'delete':
        return { k: 'delete', key: key(s.key) };
      case 'if':
        return { k: 'if', cond: deep(s.cond), then: s.then.map(stmt), else: s.else.map(stmt) };
      case 'abort':
        return { k: 'abort', code: s.code, message: deep(s.message) };
      case 'emit':
        return { k: 'emit', values: s.values.map(deep) };
    }
  };
  const keySet = (k: Program['reads']): Program['reads'] => ({ points: k.points.map(key), ranges: k.ranges.map(range) });
  return { reads: keySet(p.reads), writes: keySet(p.writes), body: p.body.map(stmt) };
}

function compileUpdate(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  const { table, names } = tableOf(c, ast.table, 'UPDATE');
  if (list(ast.from).length > 0) throw unsupported('UPDATE … FROM');
  const row = 'r';
  const scope = rowScope(table, names, row);
  const acc = access(c, table, ast.where, row, null);
  const assigned = new Map<number, Expr>();
  for (const s of list(ast.set)) {
    const set = node(s, 'SET item');
    const name = identName(set.column);
    const i = table.columns.findIndex((col) => col.name === name);
    const col = table.columns[i];
    if (col === undefined) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
    if (assigned.has(i)) throw new OrdoError(SqlStateX.duplicateColumn, `multiple assignments to same column "${name}"`);
    if (table.primaryKey.includes(i)) throw unsupported('UPDATE of a primary key column');
    const e = isDefaultKeyword(set.value) ? { e: defaultExpr(col) } : c.convert(c.expr(set.value, scope), columnSqlType(col), `column "${name}"`);
    assigned.set(i, e.e);
  }
  const stmts: Stmt[] = [];
  // The new row: assigned columns through a variable (every SET expression sees the old row, and
  // the checks test the new value once); unchanged columns straight from the old row, which keeps
  // the logged program short.
  const newRow: Expr[] = table.columns.map((_col, i): Expr => {
    const e = assigned.get(i);
    if (e === undefined) return { k: 'col', row, i };
    const v = c.fresh('n');
    stmts.push({ k: 'let', name: v, e });
    return { k: 'var', name: v };
  });
  table.columns.forEach((col, i) => {
    const v = newRow[i];
    if (assigned.has(i) && v !== undefined) stmts.push(...columnChecks(table, col, v, false));
  });
  const newValues = [...newRow];
  if (table.primaryKey.length === 0) newRow.push({ k: 'col', row, i: table.columns.length }, { k: 'col', row, i: table.columns.length + 1 });
  const newScope: Scope = { table, tableNames: names, column: (i) => newValues[i] ?? { k: 'lit', v: null } };
  const ret = returning(c, ast, table, newScope);
  const key = acc.key ?? rowKeyFromRow(table, row);
  stmts.push({ k: 'put', key, row: newRow }, { k: 'emit', values: (ret?.exprs ?? []).map((x) => x.e) });
  const body = [...guardStmts(table), ...acc.wrap(whereFilter(c, ast.where, scope, stmts, acc.coversWhere))];
  const writes = acc.key !== null ? { points: [acc.key], ranges: [] } : { points: [], ranges: [tableRange(table)] };
  return { kind: 'program', command: 'UPDATE', program: { reads: acc.reads, writes, body }, readOnly: false, needsTxnId: false, columns: ret?.columns ?? null, post: null };
}

function compileDelete(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  const { table, names } = tableOf(c, ast.from, 'DELETE');
  const row = 'r';
  const scope = rowScope(table, names, row);
  const acc = access(c, table, ast.where, row, null);
  const ret = returning(c, ast, table, scope);
  const key = acc.key ?? rowKeyFromRow(table, row);
  const stmts: Stmt[] = [{ k: 'delete', key }, { k: 'emit', values: (ret?.exprs ?? []).map((x) => x.e) }];
  const body = [...guardStmts(table), ...acc.wrap(whereFilter(c, ast.where, scope, stmts, acc.coversWhere))];
  const writes = acc.key !== null ? { points: [acc.key], ranges: [] } : { points: [], ranges: [tableRange(table)] };
  return { kind: 'program', command: 'DELETE', program: { reads: acc.reads, writes, body }, readOnly: false, needsTxnId: false, columns: ret?.columns ?? null, post: null };
}

// ---------------------------------------------------------------------------------------------
// DDL

const MAX_COLUMNS = 1600;

function compileCreate(ast: Node): Plan {
  if (ast.keyword !== 'table') throw unsupported(`CREATE ${String(ast.keyword).toUpperCase()}`);
  if (ast.temporary !== null && ast.temporary !== undefined) throw unsupported('temporary tables');
  if (isNode(ast.query_expr) || isNode(ast.as)) throw unsupported('CREATE TABLE … AS');
  const t = node(list(ast.table)[0], 'table name');
  const name = String(t.table);
  const columns: ColumnDef[] = [];
  const pkNames: string[] = [];
  for (const d of list(ast.create_definitions)) {
    const def = node(d, 'table element');
    if (def.resource === 'column') {
      const colName = identName(node(def.column, 'column').column);
      if (columns.some((c) => c.name === colName)) throw new OrdoError(SqlStateX.duplicateColumn, `column "${colName}" specified more than once`);
      const type = columnTypeOf(node(def.definition, 'column type'));
      if (isNode(def.unique) || def.unique !== undefined && def.unique !== null) throw unsupported('UNIQUE');
      if (isNode(def.check)) throw unsupported('CHECK');
      if (isNode(def.reference_definition)) throw unsupported('REFERENCES');
      if (def.auto_increment !== undefined && def.auto_increment !== null) throw unsupported('auto increment');
      const col: ColumnDef = { name: colName, ...type, notNull: isNode(def.nullable) && def.nullable.type === 'not null', default: null };
      columns.push({ ...col, default: isNode(def.default_val) ? columnDefault(col, def.default_val.value) : null });
      if (typeof def.primary_key === 'string') pkNames.push(colName);
    } else if (def.resource === 'constraint') {
      const kind = String(def.constraint_type).toLowerCase();
      if (kind !== 'primary key') throw unsupported(`${kind.toUpperCase()} constraints`);
      if (pkNames.length > 0) throw new OrdoError(SqlStateX.invalidTableDefinition, `multiple primary keys for table "${name}" are not allowed`);
      for (const c of list(def.definition)) pkNames.push(identName(node(c, 'key column').column));
    } else throw unsupported(`table element ${String(def.resource)}`);
  }
  if (columns.length === 0) throw unsupported('a table without columns');
  if (columns.length > MAX_COLUMNS) throw new OrdoError('54011', `tables can have at most ${MAX_COLUMNS} columns`);
  if (pkNames.length > 0 && new Set(pkNames).size !== pkNames.length) throw new OrdoError(SqlStateX.invalidTableDefinition, 'duplicate column in primary key');
  const primaryKey = pkNames.map((n) => {
    const i = columns.findIndex((c) => c.name === n);
    if (i < 0) throw new OrdoError(SqlState.undefinedColumn, `column "${n}" named in key does not exist`);
    return i;
  });
  // Primary key columns are NOT NULL, as in PostgreSQL.
  const finalColumns = columns.map((c, i) => (primaryKey.includes(i) ? { ...c, notNull: true } : c));
  return { kind: 'createTable', table: { name, columns: finalColumns, primaryKey }, ifNotExists: ast.if_not_exists !== null && ast.if_not_exists !== undefined };
}

function columnDefault(col: ColumnDef, v: unknown): ColumnDef['default'] {
  const x = node(v, 'DEFAULT expression');
  if (x.type === 'function') {
    const names = list(node(x.name, 'function').name).map(identName);
    const fn = (names.at(-1) ?? '').toLowerCase();
    if (['now', 'current_timestamp', 'current_date', 'localtimestamp'].includes(fn)) {
      if (col.type !== 'timestamptz' && col.type !== 'timestamp' && col.type !== 'date') {
        throw new OrdoError(SqlState.datatypeMismatch, `column "${col.name}" is of type ${col.type} but default expression is of type timestamp with time zone`);
      }
      return { kind: 'now' };
    }
  }
  let text: string | null;
  if (x.type === 'null') text = null;
  else if (x.type === 'number' || x.type === 'single_quote_string' || x.type === 'string') text = String(x.value);
  else if (x.type === 'bool') text = x.value === true ? 'true' : 'false';
  else if (x.type === 'unary_expr' && x.operator === '-' && isNode(x.expr) && x.expr.type === 'number') text = `-${String(x.expr.value)}`;
  else throw unsupported('DEFAULT expressions other than constants and now()');
  const value = text === null ? null : valueFromText(columnSqlType(col), text);
  return { kind: 'value', tupleHex: encodeTuple([value]).toString('hex') };
}

/** ALTER TABLE [IF EXISTS… is refused] t ADD [CONSTRAINT name] PRIMARY KEY (cols): the only ALTER there is. */
function compileAlter(ast: Node): Plan {
  if (ast.keyword !== 'table') throw unsupported(`ALTER ${String(ast.keyword).toUpperCase()}`);
  if (ast.if_exists !== null && ast.if_exists !== undefined) throw unsupported('ALTER TABLE IF EXISTS');
  const t = node(list(ast.table)[0], 'table name');
  if (t.db !== null && t.db !== undefined && t.db !== 'public') throw unsupported(`schema ${String(t.db)}`);
  const actions = list(ast.expr);
  const action = actions.length === 1 ? node(actions[0], 'ALTER TABLE action') : null;
  const def = action !== null && action.action === 'add' && isNode(action.create_definitions) ? action.create_definitions : null;
  if (def === null || def.resource !== 'constraint' || String(def.constraint_type).toLowerCase() !== 'primary key') {
    throw unsupported('ALTER TABLE other than a single ADD PRIMARY KEY');
  }
  const columns = list(def.definition).map((c) => identName(node(c, 'key column').column));
  if (new Set(columns).size !== columns.length) throw new OrdoError(SqlStateX.duplicateColumn, 'column appears twice in primary key constraint');
  return { kind: 'addPrimaryKey', table: String(t.table), columns };
}

function compileDrop(ast: Node): Plan {
  if (ast.keyword !== 'table') throw unsupported(`DROP ${String(ast.keyword).toUpperCase()}`);
  const names = list(ast.name).map((n) => String(node(n, 'table name').table));
  return { kind: 'dropTable', names, ifExists: typeof ast.prefix === 'string' && ast.prefix.toUpperCase().includes('IF EXISTS') };
}
