// SQL → transaction programs. A statement (parsed by node-sql-parser) is bound against the catalog
// and compiled into a Program plus what the gateway does with the rows the program emits (projection
// types, sorting, aggregation, LIMIT/OFFSET). Plans depend only on the normalized text, the literal
// kinds and the catalog version, so they are cached and reused with new parameter values.
//
// Key sets: a statement whose WHERE fixes every primary-key column by equality to a parameter or
// literal is a point (`get`); everything else reads (and, for UPDATE/DELETE, write-locks) the table's
// primary-key range, narrowed by bounds on its first key column — coarse but correct. An UPDATE or
// DELETE of that kind also carries the pieces of its OLLP programs, which read that range and declare
// the predicted rows as written points (ADR 0007). Keys an INSERT computes from its
// parameters are points; keys computed from data (INSERT … SELECT, a UNIQUE entry an UPDATE moves) are
// their index's whole range, or the bounds of a generate_series. Every program first reads its tables'
// guard rows, so a plan compiled before a DROP TABLE aborts with 42P01 at its log position instead of
// touching a table that is gone, and one compiled before an ADD PRIMARY KEY aborts with 40001 instead
// of using the old (hidden row id) key layout.

import nodeSqlParser from 'node-sql-parser/build/postgresql.js';
import { evaluateKeySets, executeProgram, relationNameOf, type Expr, type KeyExpr, type Program, type RangeExpr, type Stmt, type BinaryOp } from '../executor/index.js';
import { CatalogLayout, EMPTY_CATALOG, SequenceRow, type Catalog, type CatalogTable, type ColumnDef, type ColumnType, type TableDef } from '../sequencer/index.js';
import type { AlterTable, CheckConstraint, IdentityKind, SequenceDef, UniqueConstraint } from '../sequencer/types.js';
import { decodeTuple, encodeTuple, type Value } from '../partitions/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import { utilityTokens, type LiftedLiteral } from './normalize.js';
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
  /** Present when the rows the statement writes are data: how to predict them (OLLP, ADR 0007). */
  readonly ollp?: OllpPlan;
}

export type Plan =
  | ProgramPlan
  | DdlPlan;

/** A statement that is not a program: a DDL control entry to submit, or a utility answered by the gateway. */
export type DdlPlan =
  | { readonly kind: 'createTable'; readonly table: TableDef; readonly ifNotExists: boolean; readonly sequences: readonly SequenceDef[] }
  | { readonly kind: 'dropTable'; readonly names: readonly string[]; readonly ifExists: boolean }
  | { readonly kind: 'addPrimaryKey'; readonly table: string; readonly columns: readonly string[] }
  | { readonly kind: 'createSequence'; readonly sequence: SequenceDef; readonly ifNotExists: boolean }
  | { readonly kind: 'dropSequence'; readonly names: readonly string[]; readonly ifExists: boolean }
  | { readonly kind: 'alterTable'; readonly alter: AlterTable }
  /** Nothing to change (CREATE SCHEMA IF NOT EXISTS public, ALTER TABLE IF EXISTS of a missing table): answered with `tag`. */
  | { readonly kind: 'utility'; readonly tag: string };

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
  readonly table: TableDef | null;
  /** Names the table may be referred to by (its name, or its alias). */
  readonly tableNames: readonly string[];
  /** The expression of column i of the current row. */
  readonly column: (i: number) => Expr;
  /** ON CONFLICT DO UPDATE's `excluded.col`: the row proposed for insertion (reachable only qualified). */
  readonly excluded?: (i: number) => Expr;
}

const NO_TABLE: Scope = { table: null, tableNames: [], column: () => lit(null) };

/** A string literal's value: the parser leaves a doubled quote doubled. */
function stringValue(x: Node): string {
  return String(x.value).replaceAll("''", "'");
}

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
  /** The statement's text has a LIMIT (which its tree may have lost). */
  saysLimit = false;

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

  /**
   * Where nextval/currval/setval put the statements they need before the expression that uses their
   * value; null where the statement compiler has no place for them (the functions are refused there).
   */
  sink: Stmt[] | null = null;
  /** Sequence state rows the program reads, and of those the ones it writes (declared points). */
  readonly sequenceReads: KeyExpr[] = [];
  readonly sequenceWrites: KeyExpr[] = [];
  /** The program reads the transaction-id parameter (param -1 until patched) for currval (ADR 0008). */
  usesTxnId = false;

  /** The sink for a sequence function, or 0A000 where there is none. */
  sequenceSink(fn: string): Stmt[] {
    if (this.sink === null) throw unsupported(`${fn}() in this position (use it in INSERT … VALUES, a column default, or SELECT without FROM)`);
    return this.sink;
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

  /** `x` compared with a value of type `want`: typed as the comparison operator will type it. */
  compared(x: TE, want: SqlType): TE {
    return this.settle(x, want, true);
  }

  /** An argument of generate_series: integers only (PostgreSQL also has numeric and timestamp series). */
  seriesBound(x: TE): TE {
    const client = x.slot !== null && this.slot(x.slot).literal === null;
    const s = client ? this.settle(x, T.int8, false) : this.settleDefault(x);
    const typed = s.t.name === 'unknown' ? this.convert(s, T.int4, 'generate_series argument') : s;
    if (typeClass(typed.t) !== 'int') throw unsupported(`generate_series over ${typeSqlName(typed.t)}`);
    return typed;
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
        return { e: lit(stringValue(x)), t: T.unknown, slot: null, constant: true };
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
        if (isNode(x.ast)) throw unsupported('subqueries');
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
    if (qualifier === 'excluded' && table !== null && scope.excluded !== undefined) {
      const i = table.columns.findIndex((c) => c.name === name);
      const col = table.columns[i];
      if (col === undefined) throw new OrdoError(SqlState.undefinedColumn, `column excluded.${name} does not exist`);
      return { e: scope.excluded(i), t: columnSqlType(col), slot: null, constant: false };
    }
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
      case 'nextval':
      case 'currval':
      case 'setval':
        return this.sequenceCall(name, args);
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
      case 'generate_series':
        throw unsupported('generate_series in the select list (use it in FROM)');
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

  /** nextval('s'), currval('s'), setval('s', n [, is_called]): the sequence is named at run time (ADR 0008). */
  private sequenceCall(fn: 'nextval' | 'currval' | 'setval', args: readonly TE[]): TE {
    const sink = this.sequenceSink(fn);
    const [nameArg, value, called] = args;
    const arity = fn === 'setval' ? args.length >= 2 && args.length <= 3 : args.length === 1;
    if (nameArg === undefined || !arity) {
      throw new OrdoError(SqlStateX.undefinedFunction, `function ${fn}(${args.map((a) => typeSqlName(a.t)).join(', ')}) does not exist`);
    }
    const name = call('relname', this.convertText(nameArg, fn).e);
    const into = this.fresh('q');
    if (fn === 'nextval') {
      sink.push(...nextvalStmts(this, name, into));
      return { e: { k: 'var', name: into }, t: T.int8, slot: null, constant: false };
    }
    const key = sequenceKey(name);
    const row = this.fresh('sq');
    const col = (i: number): Expr => ({ k: 'col', row, i });
    this.sequenceReads.push(key);
    sink.push({ k: 'get', into: row, key }, sequenceMissing(row, name));
    this.usesTxnId = true;
    const txn = call('txnOf', TXN_PARAM);
    if (fn === 'currval') {
      const notMine = distinct(call('txnOf', col(SequenceRow.lastTxn)), txn);
      const message = bin('||', bin('||', lit('currval of sequence "'), name), lit('" is not yet defined in this transaction'));
      sink.push({ k: 'if', cond: notMine, then: [{ k: 'abort', code: '55000', message }], else: [] }, { k: 'let', name: into, e: col(SequenceRow.lastValue) });
      return { e: { k: 'var', name: into }, t: T.int8, slot: null, constant: false };
    }
    const v = this.convert(this.settle(value as TE, T.int8, false), T.int8, 'setval');
    const isCalled = called === undefined ? lit(true) : this.coerceBool(called, 'setval').e;
    this.sequenceWrites.push(key);
    const out = (x: Expr): Expr => bin('or', bin('<', x, col(SequenceRow.min)), bin('>', x, col(SequenceRow.max)));
    const bounds = bin('||', bin('||', lit('setval: value '), call('toText', { k: 'var', name: into })), bin('||', bin('||', lit(' is out of bounds for sequence "'), name), bin('||', bin('||', lit('" ('), call('toText', col(SequenceRow.min))), bin('||', bin('||', lit('..'), call('toText', col(SequenceRow.max))), lit(')')))));
    const calledVar = this.fresh('qc');
    const lastTxn = this.fresh('qt');
    // Like PostgreSQL, setval(…, true) defines currval and setval(…, false) does not.
    sink.push(
      { k: 'let', name: into, e: v.e },
      { k: 'let', name: calledVar, e: call('coalesce', isCalled, lit(false)) },
      abortIf(isNull({ k: 'var', name: into }), SqlState.notNullViolation, 'setval: the value must not be NULL'),
      { k: 'if', cond: out({ k: 'var', name: into }), then: [{ k: 'abort', code: SqlState.numericValueOutOfRange, message: bounds }], else: [] },
      { k: 'let', name: lastTxn, e: lit(null) },
      { k: 'if', cond: { k: 'var', name: calledVar }, then: [{ k: 'let', name: lastTxn, e: txn }], else: [] },
      { k: 'put', key, row: sequenceRowWith(row, { k: 'var', name: into }, { k: 'var', name: calledVar }, { k: 'var', name: lastTxn }) },
    );
    return { e: { k: 'var', name: into }, t: T.int8, slot: null, constant: false };
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
      // A cast fixes its operand's type: the result is no longer a parameter a comparison may retype.
      if (typeClass(s.t) === typeClass(t)) return { ...this.convert(s, t, 'cast'), slot: null };
    }
    const from = typeClass(a.t);
    const to = typeClass(t);
    if (from === to || (from === 'int' && (to === 'numeric' || to === 'float')) || (from === 'numeric' && to === 'float') || (from === 'float' && to === 'int')) {
      return { ...this.convert(a, t, 'cast'), slot: null };
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

/** The whole key range of one index of a table (index 0: its rows). */
function indexRange(table: CatalogTable, index: number): RangeExpr {
  return { table: table.id, index, lower: [], lowerInclusive: true, upper: null, upperInclusive: false };
}

/** Row values are the columns, then (for tables without a primary key) the two hidden row id parts. */
export function rowKeyFromRow(table: CatalogTable, row: string): KeyExpr {
  return { table: table.id, index: 0, parts: rowKeyColumns(table).map((i): Expr => ({ k: 'col', row, i })) };
}

/** Where a row's key parts are among its values: the primary key columns, or the two hidden ones. */
function rowKeyColumns(table: TableDef): readonly number[] {
  return table.primaryKey.length > 0 ? table.primaryKey : [table.columns.length, table.columns.length + 1];
}

/** How many values a stored row has: its columns, and the hidden row id of a table without a key. */
function storedWidth(table: TableDef): number {
  return table.columns.length + (table.primaryKey.length > 0 ? 0 : 2);
}

function abortIf(cond: Expr, code: string, message: string): Stmt {
  return { k: 'if', cond, then: [{ k: 'abort', code, message: lit(message) }], else: [] };
}

/** `a op b op c …` as a balanced tree, so a long list stays within the expression depth limit. */
function balanced(op: 'and' | 'or', xs: readonly Expr[]): Expr {
  if (xs.length <= 1) return xs[0] ?? lit(op === 'and');
  const mid = xs.length >> 1;
  return bin(op, balanced(op, xs.slice(0, mid)), balanced(op, xs.slice(mid)));
}

/** TRUE when no value is NULL (an index entry exists only then: NULLs never conflict). */
function allPresent(xs: readonly Expr[]): Expr {
  return balanced('and', xs.map((x) => not(isNull(x))));
}

/** `a IS DISTINCT FROM b`: never NULL. */
function distinct(a: Expr, b: Expr): Expr {
  return call('coalesce', bin('<>', a, b), not(bin('and', isNull(a), isNull(b))));
}

// ---------------------------------------------------------------------------------------------
// Sequences: a state row per sequence, read and written by the transactions that use it (ADR 0008)

/** The transaction-id parameter, patched to its real index once the parameter count is known. */
const TXN_PARAM: Expr = { k: 'param', i: -1 };

function sequenceKey(name: Expr): KeyExpr {
  return { table: CatalogLayout.guardTableId, index: CatalogLayout.sequenceIndexId, parts: [name] };
}

/** 42P01 when the sequence's state row is absent (never created, or dropped). */
function sequenceMissing(row: string, name: Expr): Stmt {
  const message = bin('||', bin('||', lit('relation "'), name), lit('" does not exist'));
  return { k: 'if', cond: not({ k: 'found', row }), then: [{ k: 'abort', code: SqlStateX.undefinedTable, message }], else: [] };
}

/** A sequence's state row with a new last value, is_called and last transaction; its options kept. */
function sequenceRowWith(row: string, last: Expr, called: Expr, lastTxn: Expr): Expr[] {
  const col = (i: number): Expr => ({ k: 'col', row, i });
  return [last, called, col(SequenceRow.increment), col(SequenceRow.min), col(SequenceRow.max), col(SequenceRow.cycle), lastTxn];
}

/**
 * nextval: binds `into` to the sequence's next value and writes its state row, at the transaction's
 * log position. Past its bounds it cycles or fails with 2200H, as PostgreSQL does; the bound tests
 * are written so that they cannot overflow int8.
 */
function nextvalStmts(c: Compiler, name: Expr, into: string): Stmt[] {
  const key = sequenceKey(name);
  c.sequenceReads.push(key);
  c.sequenceWrites.push(key);
  c.usesTxnId = true;
  const row = c.fresh('sq');
  const col = (i: number): Expr => ({ k: 'col', row, i });
  const [last, inc, min, max] = [col(SequenceRow.lastValue), col(SequenceRow.increment), col(SequenceRow.min), col(SequenceRow.max)];
  const v = (e: Expr): Stmt => ({ k: 'let', name: into, e });
  const reached = (which: 'maximum' | 'minimum', bound: Expr): Expr =>
    bin('||', bin('||', lit(`nextval: reached ${which} value of sequence "`), name), bin('||', bin('||', lit('" ('), call('toText', bound)), lit(')')));
  const wrap = (which: 'maximum' | 'minimum', to: Expr, bound: Expr): Stmt => ({
    k: 'if',
    cond: col(SequenceRow.cycle),
    then: [v(to)],
    else: [{ k: 'abort', code: '2200H', message: reached(which, bound) }],
  });
  const up = bin('>', inc, lit(0n));
  const overMax = bin('and', up, bin('>', last, bin('-', max, inc)));
  const underMin = bin('and', not(up), bin('<', last, bin('-', min, inc)));
  return [
    { k: 'get', into: row, key },
    sequenceMissing(row, name),
    v(last),
    {
      k: 'if',
      cond: col(SequenceRow.isCalled),
      then: [{ k: 'if', cond: overMax, then: [wrap('maximum', min, max)], else: [{ k: 'if', cond: underMin, then: [wrap('minimum', max, min)], else: [v(bin('+', last, inc))] }] }],
      else: [],
    },
    { k: 'put', key, row: sequenceRowWith(row, { k: 'var', name: into }, lit(true), call('txnOf', TXN_PARAM)) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Constraints: checked, and unique indexes kept, by the program that writes the row (ADR 0003)

/** One way a new row can be refused: the condition that detects it and the error it raises. */
interface Failure {
  readonly cond: Expr;
  readonly code: string;
  readonly message: string;
}

/** The assignment checks of a value stored in column `c`: its type's range or length. */
function typeFailures(c: ColumnDef, v: Expr): Failure[] {
  const out: Failure[] = [];
  const range = IntRange[c.type];
  if (range !== undefined && c.type !== 'int8') {
    const cond = bin('or', bin('<', v, lit(range[0])), bin('>', v, lit(range[1])));
    out.push({ cond, code: SqlState.numericValueOutOfRange, message: c.type === 'int2' ? 'smallint out of range' : 'integer out of range' });
  }
  if ((c.type === 'varchar' || c.type === 'bpchar') && c.length !== null) {
    const name = c.type === 'varchar' ? `character varying(${c.length})` : `character(${c.length})`;
    out.push({ cond: bin('>', call('length', v), lit(BigInt(c.length))), code: SqlStateX.stringDataRightTruncation, message: `value too long for type ${name}` });
  }
  if (c.type === 'numeric' && c.length !== null) {
    out.push({ cond: bin('>=', call('abs', v), lit(pow10(c.length))), code: SqlState.numericValueOutOfRange, message: 'numeric field overflow' });
  }
  return out;
}

interface CompiledCheck {
  readonly name: string;
  /** The columns the expression reads: an UPDATE that assigns none of them cannot change its outcome. */
  readonly columns: ReadonlySet<number>;
  readonly ok: Expr;
}

const { Parser } = nodeSqlParser;
const checkParser = new Parser();
/** Parsed CHECK texts by text: a table's constraints are parsed once, not once per statement shape. */
const parsedChecks = new Map<string, Node>();
const MAX_PARSED_CHECKS = 1_000;

function parseCheck(sql: string): Node {
  let parsed = parsedChecks.get(sql);
  if (parsed === undefined) {
    const ast = checkParser.astify(`select 1 from t where ${sql}`, { database: 'PostgresQL' }) as unknown;
    parsed = node(node(Array.isArray(ast) ? ast[0] : ast, 'CHECK expression').where, 'CHECK expression');
    if (parsedChecks.size >= MAX_PARSED_CHECKS) parsedChecks.clear();
    parsedChecks.set(sql, parsed);
  }
  return parsed;
}

/** The table's CHECK constraints over the row `values`, in name order (PostgreSQL's evaluation order). */
function compileChecks(c: Compiler, table: TableDef, values: (i: number) => Expr): CompiledCheck[] {
  const checks = [...(table.checks ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return checks.map((check) => {
    const columns = new Set<number>();
    const scope: Scope = {
      table,
      tableNames: [table.name],
      column: (i) => {
        columns.add(i);
        return values(i);
      },
    };
    return { name: check.name, columns, ok: c.coerceBool(c.expr(parseCheck(check.sql), scope), 'CHECK').e };
  });
}

/**
 * The checks a new row must pass, in PostgreSQL's order: the types of the values in `columns` (all of
 * them for an INSERT, the assigned ones for an UPDATE), their NOT NULLs, then CHECK constraints.
 */
function rowFailures(table: TableDef, values: readonly Expr[], columns: readonly number[], checks: readonly CompiledCheck[]): Failure[] {
  const out: Failure[] = [];
  for (const i of columns) out.push(...typeFailures(table.columns[i] as ColumnDef, values[i] as Expr));
  for (const i of columns) {
    const col = table.columns[i] as ColumnDef;
    if (!col.notNull && !table.primaryKey.includes(i)) continue;
    const message = `null value in column "${col.name}" of relation "${table.name}" violates not-null constraint`;
    out.push({ cond: isNull(values[i] as Expr), code: SqlState.notNullViolation, message });
  }
  for (const ch of checks) {
    // NOT of NULL is NULL, which `if` treats as false: a CHECK that yields NULL passes.
    out.push({ cond: not(ch.ok), code: SqlStateX.checkViolation, message: `new row for relation "${table.name}" violates check constraint "${ch.name}"` });
  }
  return out;
}

/** One test on the common path; the failures one by one, the first raising its error, only when one holds. */
function checkStmts(failures: readonly Failure[]): Stmt[] {
  const each = failures.map((f) => abortIf(f.cond, f.code, f.message));
  if (each.length <= 1) return each;
  return [{ k: 'if', cond: balanced('or', failures.map((f) => f.cond)), then: each, else: [] }];
}

function duplicateKey(constraint: string): string {
  return `duplicate key value violates unique constraint "${constraint}"`;
}

function pkeyName(table: TableDef): string {
  return `${table.name}_pkey`;
}

function indexKey(table: CatalogTable, u: UniqueConstraint, values: (i: number) => Expr): KeyExpr {
  return { table: table.id, index: u.index, parts: u.columns.map(values) };
}

/** Puts a new row's entry into a unique index (a row with a NULL in its columns has none). */
function addIndexEntry(key: KeyExpr, rowKey: readonly Expr[]): Stmt {
  return { k: 'if', cond: allPresent(key.parts), then: [{ k: 'put', key, row: rowKey }], else: [] };
}

function dropIndexEntry(key: KeyExpr): Stmt {
  return { k: 'if', cond: allPresent(key.parts), then: [{ k: 'delete', key }], else: [] };
}

/**
 * Moves a row's entry in unique index `u` from its old values to its new ones, refusing values another
 * row has (23505), row by row as PostgreSQL checks a non-deferrable constraint. An unchanged entry stays.
 */
function moveIndexEntry(c: Compiler, table: CatalogTable, u: UniqueConstraint, old: (i: number) => Expr, now: (i: number) => Expr, rowKey: readonly Expr[]): Stmt {
  const oldKey = indexKey(table, u, old);
  const newKey = indexKey(table, u, now);
  const other = c.fresh('u');
  const changed = balanced('or', oldKey.parts.map((o, j) => distinct(o, newKey.parts[j] as Expr)));
  const add: Stmt[] = [
    { k: 'get', into: other, key: newKey },
    abortIf({ k: 'found', row: other }, SqlState.uniqueViolation, duplicateKey(u.name)),
    { k: 'put', key: newKey, row: rowKey },
  ];
  return { k: 'if', cond: changed, then: [dropIndexEntry(oldKey), { k: 'if', cond: allPresent(newKey.parts), then: add, else: [] }], else: [] };
}

export interface CompileInput {
  readonly ast: Node;
  readonly catalog: Catalog;
  readonly literals: readonly LiftedLiteral[];
  readonly declaredOids: readonly number[];
  /**
   * The normalized statement text, for what node-sql-parser's tree loses: a second CHECK on a column,
   * a LIMIT written after OFFSET.
   */
  readonly text: string;
  /** GENERATED … AS IDENTITY clauses the engine cut out of a CREATE or ALTER TABLE text (cutIdentities). */
  readonly identities?: ReadonlyMap<string, IdentitySpec>;
}

export function compileStatement(input: CompileInput): Plan {
  const { ast } = input;
  switch (ast.type) {
    case 'create':
      return compileCreate(ast, input.text, input.catalog, input.identities ?? new Map());
    case 'drop':
      return compileDrop(ast);
    case 'alter':
      // ALTER TABLE is resolved here against the catalog and applied by the scheduler (ADR 0008).
      return compileAlter(ast, input.catalog, input.identities ?? new Map());
    default:
      break;
  }
  const c = new Compiler(input.catalog, input.literals, input.declaredOids);
  // node-sql-parser reads `OFFSET n LIMIT m` as `OFFSET n` and drops the LIMIT.
  if (utilityTokens(input.text).some((tok) => tok.kind === 'word' && tok.text.toLowerCase() === 'limit')) c.saysLimit = true;
  if (ast.type === 'select' && callsSequenceFunction(input.text)) return sequenceSelect(c, ast);
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
  return withSequences(c, { ...plan, params: c.params });
}

const SEQUENCE_FUNCTIONS: ReadonlySet<string> = new Set(['nextval', 'currval', 'setval']);

function callsSequenceFunction(text: string): boolean {
  const toks = utilityTokens(text);
  return toks.some((tok, i) => tok.kind === 'word' && SEQUENCE_FUNCTIONS.has(tok.text.toLowerCase()) && toks[i + 1]?.text === '(');
}

/**
 * `SELECT nextval('s')`, currval, setval: a SELECT without FROM whose select list runs the sequence
 * statements first. With FROM the functions would run once per row inside a scan: not supported.
 */
function sequenceSelect(c: Compiler, ast: Node): ProgramPlan {
  if (list(ast.from).length > 0 || isNode(ast.where)) throw unsupported('nextval/currval/setval in a SELECT with FROM or WHERE');
  const sink: Stmt[] = [];
  c.sink = sink;
  const plan = compileSelect(c, ast);
  c.sink = null;
  c.finish();
  return withSequences(c, { ...plan, program: { ...plan.program, body: [...sink, ...plan.program.body] }, params: c.params });
}

/**
 * A plan that calls nextval/currval/setval: declares the sequences' state rows (read, and written by
 * nextval/setval), takes the transaction-id parameter currval compares with, and is no longer
 * read-only when it writes a sequence. OLLP predictions are dropped: their programs are rebuilt from
 * pieces that do not carry the sequence statements, so the coarse program runs.
 */
function withSequences(c: Compiler, plan: ProgramPlan): ProgramPlan {
  if (!c.usesTxnId && c.sequenceReads.length === 0) return plan;
  const unique = (keys: readonly KeyExpr[]): KeyExpr[] => {
    const seen = new Set<string>();
    return keys.filter((k) => {
      const sig = JSON.stringify(k, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
      if (seen.has(sig)) return false;
      seen.add(sig);
      return true;
    });
  };
  const p = plan.program;
  const program = patchTxnIdParam(
    {
      reads: { points: [...p.reads.points, ...unique(c.sequenceReads)], ranges: p.reads.ranges },
      writes: { points: [...p.writes.points, ...unique(c.sequenceWrites)], ranges: p.writes.ranges },
      body: p.body,
    },
    plan.params.length,
  );
  const { ollp: _ollp, ...rest } = plan;
  void _ollp;
  return { ...rest, program, readOnly: plan.readOnly && c.sequenceWrites.length === 0, needsTxnId: true };
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

/** The primary-key column a WHERE operand names, unqualified, or null. */
function keyColumnOf(table: CatalogTable, side: unknown): number | null {
  if (!isNode(side) || side.type !== 'column_ref' || side.table !== null) return null;
  const i = table.columns.findIndex((col) => col.name === identName(side.column));
  return i >= 0 && table.primaryKey.includes(i) ? i : null;
}

/**
 * A constant compared with key column `col`, as a value of the column's own representation (so equal
 * key bytes are equal values), or null when it is not one: another type class would be converted (a
 * float rounded to an integer), and float keys are left to the WHERE (-0 and NaN). It is typed as the
 * comparison types it: a numeric parameter keeps every digit it has.
 */
function keyValue(c: Compiler, col: ColumnDef, valSide: unknown): Expr | null {
  const want = columnSqlType(col);
  try {
    const v = c.compared(c.expr(valSide, NO_TABLE), want);
    const from = typeClass(v.t);
    const to = typeClass(want);
    if (!v.constant || to === 'float' || (from !== to && from !== 'unknown' && !(from === 'int' && to === 'numeric'))) return null;
    return c.convert(v, want, 'key').e;
  } catch {
    return null;
  }
}

/** A conjunct `column op value` or `value op column`, as `column op value`. */
function comparison(conj: unknown): { readonly column: unknown; readonly op: string; readonly value: unknown }[] {
  if (!isNode(conj) || conj.type !== 'binary_expr') return [];
  const op = String(conj.operator);
  const flipped: Readonly<Record<string, string>> = { '=': '=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
  const flip = flipped[op];
  if (flip === undefined) return [];
  return [
    { column: conj.left, op, value: conj.right },
    { column: conj.right, op: flip, value: conj.left },
  ];
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
    for (const { column, op, value } of comparison(conj)) {
      const i = keyColumnOf(table, column);
      if (op !== '=' || i === null || parts.has(i)) continue;
      const v = keyValue(c, table.columns[i] as ColumnDef, value);
      if (v !== null) parts.set(i, v);
    }
  }
  if (parts.size !== table.primaryKey.length) return null;
  // Each part came from its own conjunct (a second conjunct on a fixed column is skipped above).
  return { parts: table.primaryKey.map((i) => parts.get(i) as Expr), exact: all.length === parts.size };
}

/**
 * The part of a table's row range that holds every row the WHERE can select: bounds on the first
 * primary-key column from top-level conjuncts `column op constant` (op one of = < <= > >=, the column on
 * either side) and `column BETWEEN a AND b`; the whole range without any. The first bound found on each
 * side is used: the WHERE is still tested on every row scanned, so the range need only hold them all. A
 * NULL bound selects no row, so whatever range it gives holds them all too.
 */
function keyRange(c: Compiler, table: CatalogTable, where: unknown): RangeExpr {
  const first = table.primaryKey[0];
  let lower: { e: Expr; inclusive: boolean } | null = null;
  let upper: { e: Expr; inclusive: boolean } | null = null;
  const col = first === undefined ? undefined : table.columns[first];
  for (const conj of col === undefined ? [] : conjuncts(where)) {
    const bounds: { column: unknown; op: string; value: unknown }[] = comparison(conj);
    if (isNode(conj) && conj.type === 'binary_expr' && String(conj.operator).toUpperCase() === 'BETWEEN') {
      const [lo, hi] = list(node(conj.right, 'BETWEEN').value);
      bounds.push({ column: conj.left, op: '>=', value: lo }, { column: conj.left, op: '<=', value: hi });
    }
    for (const { column, op, value } of bounds) {
      if (keyColumnOf(table, column) !== first) continue;
      const wantsLower = lower === null && op !== '<' && op !== '<=';
      const wantsUpper = upper === null && op !== '>' && op !== '>=';
      if (!wantsLower && !wantsUpper) continue;
      const e = keyValue(c, col as ColumnDef, value);
      if (e === null) continue;
      if (wantsLower) lower = { e, inclusive: op !== '>' };
      if (wantsUpper) upper = { e, inclusive: op !== '<' };
    }
  }
  return {
    table: table.id,
    index: 0,
    lower: lower === null ? [] : [lower.e],
    lowerInclusive: lower?.inclusive ?? true,
    upper: upper === null ? null : [upper.e],
    upperInclusive: upper?.inclusive ?? false,
  };
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

function access(c: Compiler, table: CatalogTable, where: unknown, row: string, limit: Expr | null, reverse = false): Access {
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
  const range = keyRange(c, table, where);
  return {
    reads: { points: [guardKey(table)], ranges: [range] },
    key: null,
    coversWhere: false,
    wrap: (body) => [{ k: 'scan', into: row, range, limit, reverse, body }],
  };
}

/** The WHERE clause as a condition on `scope`'s row; null without one. */
function whereCond(c: Compiler, where: unknown, scope: Scope): Expr | null {
  return isNode(where) ? c.coerceBool(c.expr(where, scope), 'WHERE').e : null;
}

function whereFilter(c: Compiler, where: unknown, scope: Scope, body: Stmt[], covered = false): Stmt[] {
  // Compiled even when covered by the access: that types the parameters exactly as before.
  return filtered(whereCond(c, where, scope), body, covered);
}

function filtered(cond: Expr | null, body: Stmt[], covered = false): Stmt[] {
  return cond === null || covered ? body : [{ k: 'if', cond, then: body, else: [] }];
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

function limitOffset(c: Compiler, ast: Node): { limit: CountSource | null; offset: CountSource | null } {
  const limitNode = node(ast.limit ?? { value: [] }, 'LIMIT');
  const lv = list(limitNode.value);
  if (lv.length === 1 && limitNode.seperator === 'offset') {
    if (c.saysLimit) throw unsupported('OFFSET before LIMIT (write LIMIT … OFFSET …)');
    return { limit: null, offset: countSource(c, lv[0]) };
  }
  if (lv.length === 1) return { limit: countSource(c, lv[0]), offset: null };
  if (lv.length !== 2) return { limit: null, offset: null };
  if (limitNode.seperator === 'offset') return { limit: countSource(c, lv[0]), offset: countSource(c, lv[1]) };
  const offset = countSource(c, lv[0]);
  return { limit: countSource(c, lv[1]), offset };
}

function countExpr(s: CountSource): Expr {
  return s.k === 'param' ? { k: 'param', i: s.i } : lit(s.v);
}

/** The refusals every SELECT shares, whether its rows are returned or inserted. */
function refuseSelectClauses(ast: Node): void {
  if (isNode(ast.with)) throw unsupported('WITH');
  if (isNode(ast.groupby) || Array.isArray(ast.groupby)) throw unsupported('GROUP BY');
  if (isNode(ast.having)) throw unsupported('HAVING');
  if (isNode(ast.distinct) && ast.distinct.type !== null) throw unsupported('SELECT DISTINCT');
  if (isNode(ast._next) || (ast.set_op !== undefined && ast.set_op !== null)) throw unsupported('UNION/INTERSECT/EXCEPT');
}

/** At most this many rows from one generate_series (the executor's statement budget usually ends it sooner). */
const MAX_SERIES_ROWS = 1_000_000;

/** Where a SELECT's rows come from: a table, generate_series, or nothing (one row). */
interface RowSource {
  readonly scope: Scope;
  /** The table (for generate_series, a one-column stand-in); null without FROM. */
  readonly table: TableDef | null;
  /** The table id output columns name as their origin; 0 when computed. */
  readonly tableId: number;
  /** generate_series' loop variable and bounds, so an INSERT can declare the key range they give. */
  readonly series: { readonly name: string; readonly from: Expr; readonly to: Expr } | null;
  /**
   * The program around `body`, run once per row that passes WHERE, and the keys it reads. `limit`
   * bounds a table scan (only valid with no WHERE); `reverse` scans in descending key order.
   */
  loop(body: Stmt[], limit: Expr | null, reverse: boolean): { stmts: Stmt[]; reads: { points: KeyExpr[]; ranges: RangeExpr[] } };
}

function rowSource(c: Compiler, ast: Node, what: string): RowSource {
  const items = list(ast.from);
  if (items.length === 0) {
    return {
      scope: NO_TABLE,
      table: null,
      tableId: 0,
      series: null,
      loop: (body) => ({ stmts: whereFilter(c, ast.where, NO_TABLE, body), reads: { points: [], ranges: [] } }),
    };
  }
  const first = node(items[0], 'this FROM item');
  if (items.length === 1 && first.type === 'expr' && isNode(first.expr) && first.expr.type === 'function') return seriesSource(c, ast, first);
  const { table, names } = tableOf(c, ast.from, what);
  const row = 'r';
  const scope = rowScope(table, names, row);
  return {
    scope,
    table,
    tableId: table.id,
    series: null,
    loop: (body, limit, reverse) => {
      const acc = access(c, table, ast.where, row, limit, reverse);
      return { stmts: [...guardStmts(table), ...acc.wrap(whereFilter(c, ast.where, scope, body, acc.coversWhere))], reads: acc.reads };
    },
  };
}

/** `FROM generate_series(from, to [, step]) [AS alias [(column)]]` with integer bounds. */
function seriesSource(c: Compiler, ast: Node, item: Node): RowSource {
  const fn = node(item.expr, 'FROM function');
  const fnName = (list(node(fn.name, 'FROM function').name).map(identName).at(-1) ?? '').toLowerCase();
  if (fnName !== 'generate_series') throw unsupported(`function ${fnName} in FROM`);
  const args = list(isNode(fn.args) ? fn.args.value : []).map((a) => c.seriesBound(c.expr(a, NO_TABLE)));
  const [from, to, step = { e: lit(1n), t: T.int4, slot: null, constant: true }] = args;
  if (from === undefined || to === undefined || args.length > 3) {
    throw new OrdoError(SqlStateX.undefinedFunction, `function generate_series with ${args.length} arguments does not exist`);
  }
  // `AS g` names the relation and its column; `AS g(x)` names them apart.
  const alias = typeof item.as === 'string' ? /^([^()]+)(?:\(([^(),]+)\))?$/.exec(item.as) : null;
  if (typeof item.as === 'string' && alias === null) throw unsupported(`the alias ${item.as}`);
  const relation = alias?.[1] ?? 'generate_series';
  const column = alias?.[2] ?? relation;
  const t = [from, to, step].some((a) => a.t.name === 'int8') ? 'int8' : 'int4';
  const table: TableDef = { name: relation, columns: [{ name: column, type: t, length: null, scale: null, notNull: false, default: null }], primaryKey: [] };
  const name = c.fresh('g');
  const scope: Scope = { table, tableNames: [relation], column: () => ({ k: 'var', name }) };
  const f = (e: Expr): Expr => call('toFloat', e);
  // The row count is (to - from) / step + 1, in floating point so that no bound can overflow it.
  const tooMany = bin('and', bin('<>', step.e, lit(0n)), bin('>=', bin('/', bin('-', f(to.e), f(from.e)), f(step.e)), lit(MAX_SERIES_ROWS)));
  return {
    scope,
    table,
    tableId: 0,
    series: { name, from: from.e, to: to.e },
    loop: (body) => ({
      stmts: [
        abortIf(tooMany, SqlState.programLimitExceeded, `generate_series may produce at most ${MAX_SERIES_ROWS} rows in one statement`),
        { k: 'series', into: name, from: from.e, to: to.e, step: step.e, body: whereFilter(c, ast.where, scope, body) },
      ],
      reads: { points: [], ranges: [] },
    }),
  };
}

function compileSelect(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  refuseSelectClauses(ast);
  const src = rowSource(c, ast, 'SELECT');
  const scope = src.scope;

  // Projection (or aggregate arguments).
  const outputs: TE[] = [];
  const columns: ResultColumn[] = [];
  const aggregates: Aggregate[] = [];
  const aggArgs: TE[] = [];
  for (const item of list(ast.columns)) {
    const it = node(item, 'this select item');
    const ex = it.type === 'cast' ? it : node(it.expr, 'this select item');
    if (ex.type === 'column_ref' && ex.column === '*') {
      const table = src.table;
      if (table === null) throw new OrdoError(SqlStateX.syntaxError, 'SELECT * with no tables specified is not valid');
      table.columns.forEach((col, i) => {
        outputs.push({ e: scope.column(i), t: columnSqlType(col), slot: null, constant: false });
        columns.push({ name: col.name, type: columnSqlType(col), tableId: src.tableId, attr: src.tableId === 0 ? 0 : i + 1 });
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
    const fromColumn = te.e.k === 'col' && src.tableId !== 0;
    columns.push({ name: alias ?? outputName(ex), type: te.t, tableId: fromColumn ? src.tableId : 0, attr: fromColumn && te.e.k === 'col' ? te.e.i + 1 : 0 });
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
      const tableColumn = src.table !== null && src.table.columns.some((col) => col.name === name);
      if (byAlias >= 0 && (!tableColumn || columns[byAlias]?.attr !== 0)) {
        orderBy.push({ index: byAlias, desc, nullsFirst });
        continue;
      }
    }
    const te = c.expr(ex, scope);
    orderBy.push({ index: outputs.length + sortKeys.length, desc, nullsFirst });
    sortKeys.push(te);
  }

  const { limit, offset } = limitOffset(c, ast);
  const emitted = aggregates.length > 0 ? aggArgs : [...outputs, ...sortKeys];
  const emit: Stmt = { k: 'emit', values: emitted.map((x) => x.e) };
  // A bare scan with no filter, order or aggregate can stop after LIMIT + OFFSET rows.
  const pushLimit = !isNode(ast.where) && orderBy.length === 0 && aggregates.length === 0 && limit !== null;
  const { stmts: body, reads } = src.loop([emit], pushLimit ? limitToExpr(limit, offset) : null, false);
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
  return offset === null ? countExpr(limit) : bin('+', countExpr(limit), countExpr(offset));
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

/** A column's default; a nextval default puts its statements into `sink` (run before the value is used). */
function defaultExpr(compiler: Compiler, c: ColumnDef, sink: Stmt[]): Expr {
  if (c.default === null) return lit(null);
  switch (c.default.kind) {
    case 'now':
      if (c.type === 'date') return bin('/', call('now'), lit(86_400_000n));
      return bin('*', call('now'), lit(1000n));
    case 'nextval': {
      const into = compiler.fresh('q');
      sink.push(...nextvalStmts(compiler, lit(c.default.sequence), into));
      return { k: 'var', name: into };
    }
    default: {
      const [v] = decodeDefault(c.default.tupleHex);
      return lit(v ?? null);
    }
  }
}

function decodeDefault(hex: string): Value[] {
  return decodeTuple(Buffer.from(hex, 'hex'));
}

function isDefaultKeyword(n: unknown): boolean {
  // The normalizer lower-cases the keyword; a quoted "default" is a column name.
  const quoted = isNode(n) && isNode(n.column) && isNode(n.column.expr) && n.column.expr.type === 'double_quote_string';
  return isNode(n) && n.type === 'column_ref' && (n.table === null || n.table === undefined) && isNode(n.column) && !quoted && identName(n.column).toUpperCase() === 'DEFAULT';
}

/**
 * ON CONFLICT as the engine hands it over in the INSERT's `onConflict` field: node-sql-parser accepts
 * the clause only in some spellings, so the engine cuts it out of the text and parses its parts.
 */
export interface OnConflict {
  /** The conflict target: columns, a constraint, or none. */
  readonly target: { readonly columns: readonly string[] } | { readonly constraint: string } | null;
  readonly action: { readonly k: 'nothing' } | { readonly k: 'update'; readonly set: readonly unknown[]; readonly where: unknown };
}

/** A conflict arbiter: the primary key, or a unique constraint. */
type Arbiter = { readonly k: 'pk' } | { readonly k: 'unique'; readonly u: UniqueConstraint };

/** How an INSERT treats a row whose key is taken. */
type Conflict =
  | { readonly k: 'error' }
  /** arbiter null: a conflict on the primary key or any unique constraint skips the row. */
  | { readonly k: 'nothing'; readonly arbiter: Arbiter | null }
  | { readonly k: 'update'; readonly arbiter: Arbiter; readonly set: readonly unknown[]; readonly where: unknown };

function resolveConflict(table: CatalogTable, on: OnConflict | null): Conflict {
  if (on === null) return { k: 'error' };
  let arbiter: Arbiter | null = null;
  const target = on.target;
  if (target !== null && 'constraint' in target) {
    const u = (table.uniques ?? []).find((x) => x.name === target.constraint);
    if (u !== undefined) arbiter = { k: 'unique', u };
    else if (table.primaryKey.length > 0 && target.constraint === pkeyName(table)) arbiter = { k: 'pk' };
    else throw new OrdoError(SqlStateX.undefinedObject, `constraint "${target.constraint}" for table "${table.name}" does not exist`);
  } else if (target !== null) {
    const cols = target.columns.map((name) => {
      const i = table.columns.findIndex((col) => col.name === name);
      if (i < 0) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" does not exist`);
      return i;
    });
    const same = (xs: readonly number[]): boolean => xs.length > 0 && xs.length === new Set(cols).size && xs.every((i) => cols.includes(i));
    const u = (table.uniques ?? []).find((x) => same(x.columns));
    if (same(table.primaryKey)) arbiter = { k: 'pk' };
    else if (u !== undefined) arbiter = { k: 'unique', u };
    else throw new OrdoError(SqlStateX.invalidColumnReference, 'there is no unique or exclusion constraint matching the ON CONFLICT specification');
  }
  if (on.action.k === 'nothing') return { k: 'nothing', arbiter };
  if (arbiter === null) throw new OrdoError(SqlStateX.syntaxError, 'ON CONFLICT DO UPDATE requires inference specification or constraint name');
  return { k: 'update', arbiter, set: on.action.set, where: on.action.where };
}

/** The value of a column to store: a variable, or an expression cheap enough to evaluate again where used. */
function bindValue(c: Compiler, e: Expr, lets: Stmt[]): Expr {
  if (e.k === 'lit' || e.k === 'param' || e.k === 'var' || e.k === 'col') return e;
  const name = c.fresh('v');
  lets.push({ k: 'let', name, e });
  return { k: 'var', name };
}

/** The keys a program declares, collected while it is compiled. */
class KeySets {
  readonly reads: { points: KeyExpr[]; ranges: RangeExpr[] } = { points: [], ranges: [] };
  readonly writes: { points: KeyExpr[]; ranges: RangeExpr[] } = { points: [], ranges: [] };

  /** A point written (and read, to test whether it is taken). */
  point(k: KeyExpr): void {
    this.reads.points.push(k);
    this.writes.points.push(k);
  }

  /** A range written (a written range may also be read). Whole-index ranges are declared once. */
  range(r: RangeExpr): void {
    const whole = (x: RangeExpr): boolean => x.lower.length === 0 && x.upper === null;
    if (whole(r) && this.writes.ranges.some((x) => whole(x) && x.table === r.table && x.index === r.index)) return;
    this.writes.ranges.push(r);
  }
}

/** A row an INSERT proposes, ready to be stored. */
interface ProposedRow {
  /** Its column values (variables, or expressions cheap to evaluate again). */
  readonly values: readonly Expr[];
  /** Its key in the primary index: the declared object when it is a declared point. */
  readonly key: KeyExpr;
  /** Its key in each unique index, in `table.uniques` order. */
  readonly indexKeys: readonly KeyExpr[];
  /** What is stored: the values, then a keyless table's hidden row id parts. */
  readonly stored: readonly Expr[];
  /** Run once the row is stored (the next hidden row number). */
  readonly after: readonly Stmt[];
}

const AFFECTED_TWICE = 'ON CONFLICT DO UPDATE command cannot affect row a second time';

/**
 * Compiles the rows of one INSERT: constraint checks, the conflict handling and the index entries.
 *
 * ON CONFLICT DO UPDATE must refuse (21000) to affect a row twice in one statement. A row it inserts
 * or updates is stored with one more value than the table has, a mark; a later proposal that finds a
 * marked row fails, and once every proposal has run the marked rows are stored again without it
 * (`unmark`). The mark never outlives the statement, whose program also runs the cleanup.
 */
class InsertCompiler {
  readonly keys = new KeySets();
  /** RETURNING's columns (compiled once per proposed row, the same each time). */
  columns: ResultColumn[] | null = null;
  /** The range the rows' keys fall in, when they are not all declared points. */
  rowRange: RangeExpr | null = null;
  private readonly pointKeys: KeyExpr[] = [];
  private readonly mark: number;

  constructor(
    readonly c: Compiler,
    readonly ast: Node,
    readonly table: CatalogTable,
    readonly conflict: Conflict,
  ) {
    this.mark = storedWidth(table);
    if (conflict.k === 'update' && conflict.arbiter.k === 'unique') {
      // The row a unique index entry points at can be any row of the table.
      this.useRowRange(indexRange(table, 0));
    }
  }

  /** Declares a key computed from the parameters as a point, any other within its whole index. */
  declare(key: KeyExpr, constant: readonly Expr[]): KeyExpr {
    if (constant.every(isConstantExpr)) {
      const point: KeyExpr = { ...key, parts: constant };
      this.keys.point(point);
      if (key.index === 0) this.pointKeys.push(point);
      return point;
    }
    if (key.index === 0) this.useRowRange(indexRange(this.table, 0));
    else this.keys.range(indexRange(this.table, key.index));
    return key;
  }

  useRowRange(r: RangeExpr): void {
    const whole = r.lower.length === 0 && r.upper === null;
    if (this.rowRange === null || whole) this.rowRange = r;
    this.keys.range(r);
  }

  private returning(values: readonly Expr[]): Expr[] {
    const scope: Scope = { table: this.table, tableNames: [this.table.name], column: (i) => values[i] ?? lit(null) };
    const ret = returning(this.c, this.ast, this.table, scope);
    this.columns ??= ret?.columns ?? null;
    return (ret?.exprs ?? []).map((x) => x.e);
  }

  /** The checks of a proposed row's values. */
  checks(values: readonly Expr[]): Stmt[] {
    const all = this.table.columns.map((_, i) => i);
    return checkStmts(rowFailures(this.table, values, all, compileChecks(this.c, this.table, (i) => values[i] ?? lit(null))));
  }

  /** Stores a proposed row, or handles its conflict. */
  row(p: ProposedRow): Stmt[] {
    const { c, table, conflict } = this;
    const uniques = table.uniques ?? [];
    const existing = table.primaryKey.length > 0 ? c.fresh('x') : null;
    const entries = uniques.map(() => c.fresh('u'));
    const stmts: Stmt[] = [];
    if (existing !== null) stmts.push({ k: 'get', into: existing, key: p.key });
    uniques.forEach((_, j) => stmts.push({ k: 'get', into: entries[j] as string, key: p.indexKeys[j] as KeyExpr }));
    const foundPk: Expr | null = existing === null ? null : { k: 'found', row: existing };
    const foundIn = (j: number): Expr => ({ k: 'found', row: entries[j] as string });
    const arbiter = conflict.k === 'error' ? undefined : conflict.arbiter;
    const isArbiter = (a: Arbiter): boolean => arbiter === null || (arbiter !== undefined && (a.k === 'pk' ? arbiter.k === 'pk' : arbiter.k === 'unique' && arbiter.u === a.u));
    const insert: Stmt[] = [];
    if (foundPk !== null && !isArbiter({ k: 'pk' })) insert.push(abortIf(foundPk, SqlState.uniqueViolation, duplicateKey(pkeyName(table))));
    uniques.forEach((u, j) => {
      if (!isArbiter({ k: 'unique', u })) insert.push(abortIf(foundIn(j), SqlState.uniqueViolation, duplicateKey(u.name)));
    });
    const marked = conflict.k === 'update' ? [lit(true)] : [];
    insert.push({ k: 'put', key: p.key, row: [...p.stored, ...marked] });
    uniques.forEach((_, j) => insert.push(addIndexEntry(p.indexKeys[j] as KeyExpr, p.key.parts)));
    insert.push(...p.after, { k: 'emit', values: this.returning(p.values) });
    if (conflict.k === 'error') return [...stmts, ...insert];
    const arbiterFound = (a: Arbiter): Expr => (a.k === 'pk' ? (foundPk as Expr) : foundIn(uniques.indexOf(a.u)));
    if (conflict.k === 'nothing') {
      const found = conflict.arbiter !== null ? [arbiterFound(conflict.arbiter)] : [...(foundPk === null ? [] : [foundPk]), ...uniques.map((_, j) => foundIn(j))];
      if (found.length === 0) return [...stmts, ...insert];
      return [...stmts, { k: 'if', cond: balanced('or', found), then: [], else: insert }];
    }
    const a = conflict.arbiter;
    const update = this.update(p, a.k === 'pk' ? { row: existing as string, key: p.key } : { entry: entries[uniques.indexOf(a.u)] as string }, conflict);
    return [...stmts, { k: 'if', cond: arbiterFound(a), then: update, else: insert }];
  }

  /** DO UPDATE of the row a proposal conflicts with: found by its key, or through a unique index entry. */
  private update(p: ProposedRow, at: { row: string; key: KeyExpr } | { entry: string }, conflict: Extract<Conflict, { k: 'update' }>): Stmt[] {
    const { c, table } = this;
    const out: Stmt[] = [];
    let row: string;
    let key: KeyExpr;
    if ('entry' in at) {
      row = c.fresh('x');
      key = { table: table.id, index: 0, parts: rowKeyColumns(table).map((_, i): Expr => ({ k: 'col', row: at.entry, i })) };
      out.push({ k: 'get', into: row, key });
      out.push(abortIf(not({ k: 'found', row }), SqlState.internalError, `unique index "${conflict.arbiter.k === 'unique' ? conflict.arbiter.u.name : ''}" names a missing row`));
    } else ({ row, key } = at);
    out.push(abortIf(not(isNull({ k: 'col', row, i: this.mark })), SqlStateX.cardinalityViolation, AFFECTED_TWICE));
    const scope: Scope = { table, tableNames: [table.name], column: (i) => ({ k: 'col', row, i }), excluded: (i) => p.values[i] ?? lit(null) };
    const rewrite = rewriteRow(c, table, scope, conflict.set, row, key, true);
    // The old values of a moved index entry are the row's: any key of that index.
    for (const u of rewrite.touched) this.keys.range(indexRange(table, u.index));
    const body = [...rewrite.stmts, { k: 'emit', values: this.returning(rewrite.values) } satisfies Stmt];
    return [...out, ...whereFilter(c, conflict.where, scope, body)];
  }

  /** After every proposal of a DO UPDATE: stores the marked rows again without their mark. */
  unmark(): Stmt[] {
    if (this.conflict.k !== 'update') return [];
    const { c, table } = this;
    const marked = (row: string): Expr => not(isNull({ k: 'col', row, i: this.mark }));
    const plain = (row: string): Expr[] => Array.from({ length: this.mark }, (_, i): Expr => ({ k: 'col', row, i }));
    if (this.rowRange !== null) {
      const row = c.fresh('m');
      const body: Stmt[] = [{ k: 'if', cond: marked(row), then: [{ k: 'put', key: rowKeyFromRow(table, row), row: plain(row) }], else: [] }];
      return [{ k: 'scan', into: row, range: this.rowRange, limit: null, reverse: false, body }];
    }
    return this.pointKeys.flatMap((key): Stmt[] => {
      const row = c.fresh('m');
      return [{ k: 'get', into: row, key }, { k: 'if', cond: marked(row), then: [{ k: 'put', key, row: plain(row) }], else: [] }];
    });
  }
}

/**
 * The statements that replace row `row` (stored at `key`) by its new values: SET evaluated against
 * the old row, the checks of what changed, unique index entries moved, and the put. `marked` stores
 * the row with ON CONFLICT's mark.
 */
function rewriteRow(c: Compiler, table: CatalogTable, scope: Scope, set: readonly unknown[], row: string, key: KeyExpr, marked: boolean): { stmts: Stmt[]; values: Expr[]; touched: UniqueConstraint[] } {
  const assigned = new Map<number, Expr>();
  // SET col = DEFAULT of a nextval default: the sequence's statements run before the new row is built.
  const pre: Stmt[] = [];
  for (const s of set) {
    const item = node(s, 'SET item');
    const name = identName(item.column);
    const i = table.columns.findIndex((col) => col.name === name);
    const col = table.columns[i];
    if (col === undefined) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
    if (assigned.has(i)) throw new OrdoError(SqlStateX.duplicateColumn, `multiple assignments to same column "${name}"`);
    const toDefault = isDefaultKeyword(item.value);
    if (col.identity === 'always' && !toDefault) throw new OrdoError('428C9', `column "${name}" can only be updated to DEFAULT`);
    if (table.primaryKey.includes(i)) throw unsupported('UPDATE of a primary key column');
    const e = toDefault ? { e: defaultExpr(c, col, pre) } : c.convert(c.expr(item.value, scope), columnSqlType(col), `column "${name}"`);
    assigned.set(i, e.e);
  }
  const stmts: Stmt[] = [...pre];
  // The new row: assigned columns through a variable (every SET expression sees the old row, and the
  // checks test the new value once); unchanged columns straight from the old row, which keeps the
  // logged program short.
  const values: Expr[] = table.columns.map((_col, i): Expr => {
    const e = assigned.get(i);
    if (e === undefined) return { k: 'col', row, i };
    const v = c.fresh('n');
    stmts.push({ k: 'let', name: v, e });
    return { k: 'var', name: v };
  });
  const changed = [...assigned.keys()].sort((a, b) => a - b);
  const checks = compileChecks(c, table, (i) => values[i] ?? lit(null)).filter((ch) => changed.some((i) => ch.columns.has(i)));
  stmts.push(...checkStmts(rowFailures(table, values, changed, checks)));
  const rowKey = key.parts;
  const touched = (table.uniques ?? []).filter((u) => u.columns.some((i) => assigned.has(i)));
  for (const u of touched) stmts.push(moveIndexEntry(c, table, u, (i) => ({ k: 'col', row, i }), (i) => values[i] ?? lit(null), rowKey));
  const stored = [...values];
  for (let i = table.columns.length; i < storedWidth(table); i++) stored.push({ k: 'col', row, i });
  if (marked) stored.push(lit(true));
  stmts.push({ k: 'put', key, row: stored });
  return { stmts, values, touched };
}

/**
 * The columns an INSERT assigns, in order: its column list, or without one the table's first `width`
 * columns (the rest take their defaults, as in PostgreSQL).
 */
function insertTargets(table: CatalogTable, columns: unknown, width: number): number[] {
  if (!Array.isArray(columns)) {
    if (width > table.columns.length) throw new OrdoError(SqlStateX.syntaxError, 'INSERT has more expressions than target columns');
    return table.columns.slice(0, width).map((_, i) => i);
  }
  const targets = columns.map((cn) => {
    const name = identName(cn);
    const i = table.columns.findIndex((col) => col.name === name);
    if (i < 0) throw new OrdoError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
    return i;
  });
  if (new Set(targets).size !== targets.length) throw new OrdoError(SqlStateX.duplicateColumn, 'column specified more than once');
  return targets;
}

function checkArity(values: number, targets: number): void {
  if (values > targets) throw new OrdoError(SqlStateX.syntaxError, 'INSERT has more expressions than target columns');
  if (values < targets) throw new OrdoError(SqlStateX.syntaxError, 'INSERT has more target columns than expressions');
}

/** The most rows one INSERT … VALUES lists (each is compiled into the program). */
const MAX_VALUES_ROWS = 10_000;

function compileInsert(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  const t = node(list(ast.table)[0], 'INSERT target');
  const table = c.table(String(t.table));
  // The engine parses ON CONFLICT itself (into onConflict); a clause the parser kept is one it did not see.
  if (isNode(ast.conflict)) throw unsupported('this ON CONFLICT clause');
  const ins = new InsertCompiler(c, ast, table, resolveConflict(table, isNode(ast.onConflict) ? (ast.onConflict as unknown as OnConflict) : null));
  // OVERRIDING SYSTEM VALUE, cut out of the text by the engine (node-sql-parser does not read it).
  const overriding = ast.overridingSystemValue === true;
  const hidden = table.primaryKey.length === 0;
  const txnIdParam: Expr = { k: 'param', i: -1 }; // patched below, once the parameter count is known
  const source = node(ast.values, 'INSERT source');
  const body: Stmt[] = [...guardStmts(table)];
  let sourceReads: { points: KeyExpr[]; ranges: RangeExpr[] } = { points: [], ranges: [] };
  if (source.type === 'values') {
    const rows = list(source.values);
    if (rows.length > MAX_VALUES_ROWS) throw unsupported(`more than ${MAX_VALUES_ROWS} rows in one INSERT`);
    const firstRow = list(node(rows[0], 'VALUES row').value);
    const targets = insertTargets(table, ast.columns, firstRow.length);
    rows.forEach((r, rowNo) => {
      const exprs = list(node(r, 'VALUES row').value);
      if (exprs.length !== firstRow.length) throw new OrdoError(SqlStateX.syntaxError, 'VALUES lists must all be the same length');
      checkArity(exprs.length, targets.length);
      const lets: Stmt[] = [];
      // nextval() in a value, and nextval defaults, run in column order before the row is stored.
      c.sink = lets;
      const computed = table.columns.map((col, i): Expr => {
        const at = targets.indexOf(i);
        const src = at >= 0 ? exprs[at] : undefined;
        if (src === undefined || isDefaultKeyword(src)) return defaultExpr(c, col, lets);
        if (col.identity === 'always' && !overriding) throw identityAlways(col);
        return c.convert(c.expr(src, NO_TABLE), columnSqlType(col), `column "${col.name}"`).e;
      });
      c.sink = null;
      const values = computed.map((e) => bindValue(c, e, lets));
      const hiddenId = [txnIdParam, lit(BigInt(rowNo))];
      const key = ins.declare({ table: table.id, index: 0, parts: hidden ? hiddenId : table.primaryKey.map((i) => values[i] as Expr) }, hidden ? hiddenId : table.primaryKey.map((i) => computed[i] as Expr));
      const indexKeys = (table.uniques ?? []).map((u) => ins.declare(indexKey(table, u, (i) => values[i] as Expr), u.columns.map((i) => computed[i] as Expr)));
      const stored = hidden ? [...values, ...hiddenId] : values;
      body.push(...lets, ...ins.checks(values), ...ins.row({ values, key, indexKeys, stored, after: [] }));
    });
  } else if (source.type === 'select') {
    const sel = insertSelect(c, ins, source, ast.columns, hidden ? txnIdParam : null);
    body.push(...sel.stmts);
    sourceReads = sel.reads;
  } else throw unsupported('this INSERT source');
  body.push(...ins.unmark());
  c.finish();
  const { reads, writes } = ins.keys;
  const program = patchTxnIdParam(
    {
      reads: { points: [guardKey(table), ...sourceReads.points, ...reads.points], ranges: [...sourceReads.ranges, ...reads.ranges] },
      writes,
      body,
    },
    c.params.length,
  );
  return { kind: 'program', command: 'INSERT', program, readOnly: false, needsTxnId: hidden || c.usesTxnId, columns: ins.columns, post: null };
}

/** 428C9: an explicit value for a GENERATED ALWAYS AS IDENTITY column. */
function identityAlways(col: ColumnDef): OrdoError {
  return new OrdoError('428C9', `cannot insert a non-DEFAULT value into column "${col.name}"`);
}

/**
 * INSERT … SELECT: the rows of a table scan (in primary-key order, or its reverse for ORDER BY key
 * DESC), of generate_series, or one row without FROM. Keys computed from rows are declared as the
 * target's whole key range, except a key column set straight from generate_series, whose keys lie
 * between its bounds.
 */
function insertSelect(c: Compiler, ins: InsertCompiler, sel: Node, columns: unknown, txnIdParam: Expr | null): { stmts: Stmt[]; reads: { points: KeyExpr[]; ranges: RangeExpr[] } } {
  refuseSelectClauses(sel);
  const { table } = ins;
  const src = rowSource(c, sel, 'INSERT … SELECT');
  const reverse = keyOrder(sel, src);
  const projected: TE[] = [];
  for (const item of list(sel.columns)) {
    const it = node(item, 'this select item');
    const ex = it.type === 'cast' ? it : node(it.expr, 'this select item');
    if (ex.type === 'column_ref' && ex.column === '*') {
      if (src.table === null) throw new OrdoError(SqlStateX.syntaxError, 'SELECT * with no tables specified is not valid');
      src.table.columns.forEach((col, i) => projected.push({ e: src.scope.column(i), t: columnSqlType(col), slot: null, constant: false }));
      continue;
    }
    if (ex.type === 'aggr_func') throw unsupported('aggregates in INSERT … SELECT');
    projected.push(c.expr(ex, src.scope));
  }
  const targets = insertTargets(table, columns, projected.length);
  checkArity(projected.length, targets.length);
  const always = targets.map((i) => table.columns[i] as ColumnDef).find((col) => col.identity === 'always');
  if (always !== undefined && ins.ast.overridingSystemValue !== true) throw identityAlways(always);
  const { limit, offset } = limitOffset(c, sel);
  const lets: Stmt[] = [];
  const values = table.columns.map((col, i): Expr => {
    const at = targets.indexOf(i);
    const p = at >= 0 ? projected[at] : undefined;
    const e = p === undefined ? defaultExpr(c, col, lets) : c.convert(p, columnSqlType(col), `column "${col.name}"`).e;
    return bindValue(c, e, lets);
  });
  const prelude: Stmt[] = [];
  const after: Stmt[] = [];
  let key: KeyExpr;
  let stored = values;
  if (txnIdParam !== null) {
    const rowNo = c.fresh('rn');
    const id = [txnIdParam, { k: 'var', name: rowNo } satisfies Expr];
    prelude.push({ k: 'let', name: rowNo, e: lit(0n) });
    after.push({ k: 'let', name: rowNo, e: bin('+', { k: 'var', name: rowNo }, lit(1n)) });
    key = { table: table.id, index: 0, parts: id };
    stored = [...values, ...id];
    // Every hidden row id of this statement starts with its transaction id.
    ins.useRowRange({ table: table.id, index: 0, lower: [txnIdParam], lowerInclusive: true, upper: [txnIdParam], upperInclusive: true });
  } else key = { table: table.id, index: 0, parts: table.primaryKey.map((i) => values[i] as Expr) };
  const declare = (k: KeyExpr): KeyExpr => {
    const series = src.series;
    const only = k.parts.length === 1 ? k.parts[0] : undefined;
    if (series !== null && only?.k === 'var' && only.name === series.name) {
      const bounds = (fn: 'least' | 'greatest'): Expr[] => [call(fn, series.from, series.to)];
      const r: RangeExpr = { table: table.id, index: k.index, lower: bounds('least'), lowerInclusive: true, upper: bounds('greatest'), upperInclusive: true };
      if (k.index === 0) ins.useRowRange(r);
      else ins.keys.range(r);
    } else if (k.index === 0) ins.useRowRange(indexRange(table, 0));
    else ins.keys.range(indexRange(table, k.index));
    return k;
  };
  if (txnIdParam === null) declare(key);
  const indexKeys = (table.uniques ?? []).map((u) => declare(indexKey(table, u, (i) => values[i] as Expr)));
  let perRow: Stmt[] = [...lets, ...ins.checks(values), ...ins.row({ values, key, indexKeys, stored, after })];
  if (limit !== null || offset !== null) {
    // Rows past OFFSET, up to LIMIT, in the order the source yields them; a NULL LIMIT is no limit.
    const n = c.fresh('n');
    const l = limit === null ? lit(null) : countExpr(limit);
    const o = offset === null ? lit(0n) : call('coalesce', countExpr(offset), lit(0n));
    if (limit !== null) prelude.push(abortIf(bin('<', l, lit(0n)), SqlStateX.invalidRowCountInLimit, 'LIMIT must not be negative'));
    if (offset !== null) prelude.push(abortIf(bin('<', o, lit(0n)), SqlStateX.invalidRowCountInOffset, 'OFFSET must not be negative'));
    prelude.push({ k: 'let', name: n, e: lit(0n) });
    const nv: Expr = { k: 'var', name: n };
    const wanted = bin('and', bin('>', nv, o), bin('or', isNull(l), bin('<=', nv, bin('+', o, l))));
    perRow = [{ k: 'let', name: n, e: bin('+', nv, lit(1n)) }, { k: 'if', cond: wanted, then: perRow, else: [] }];
  }
  // With no WHERE, the scan can stop once LIMIT + OFFSET rows are in.
  const scanLimit = !isNode(sel.where) && limit !== null ? limitToExpr(limit, offset) : null;
  const loop = src.loop(perRow, scanLimit, reverse);
  return { stmts: [...prelude, ...loop.stmts], reads: loop.reads };
}

/** Whether ORDER BY asks for the source's primary-key order descending; other orders need a sort, which programs lack. */
function keyOrder(sel: Node, src: RowSource): boolean {
  let desc: boolean | null = null;
  list(sel.orderby).forEach((o, k) => {
    const on = node(o, 'ORDER BY item');
    const ex = node(on.expr, 'ORDER BY item');
    const d = String(on.type ?? 'ASC').toUpperCase() === 'DESC';
    const table = src.tableId === 0 ? null : src.table;
    const i = table !== null && ex.type === 'column_ref' ? table.columns.findIndex((col) => col.name === identName(ex.column)) : -1;
    if (table === null || i < 0 || table.primaryKey[k] !== i || (desc !== null && desc !== d)) {
      throw unsupported('ORDER BY in INSERT … SELECT other than by the primary key of the source table');
    }
    desc = d;
  });
  return desc === true;
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
      case 'series':
        return { k: 'series', into: name(s.into), from: deep(s.from), to: deep(s.to), step: deep(s.step), body: s.body.map(stmt) };
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
  const key = acc.key ?? rowKeyFromRow(table, row);
  const rewrite = rewriteRow(c, table, scope, list(ast.set), row, key, false);
  const newScope: Scope = { table, tableNames: names, column: (i) => rewrite.values[i] ?? lit(null) };
  const ret = returning(c, ast, table, newScope);
  const emit: Stmt = { k: 'emit', values: (ret?.exprs ?? []).map((x) => x.e) };
  const rows = rowChanges(table, acc, row, whereCond(c, ast.where, scope), rewrite.stmts, emit, rewrite.touched);
  return { kind: 'program', command: 'UPDATE', readOnly: false, needsTxnId: false, columns: ret?.columns ?? null, post: null, ...rows };
}

function compileDelete(c: Compiler, ast: Node): Omit<ProgramPlan, 'params'> {
  const { table, names } = tableOf(c, ast.from, 'DELETE');
  const row = 'r';
  const scope = rowScope(table, names, row);
  const acc = access(c, table, ast.where, row, null);
  const ret = returning(c, ast, table, scope);
  const key = acc.key ?? rowKeyFromRow(table, row);
  const uniques = table.uniques ?? [];
  const change: Stmt[] = [{ k: 'delete', key }, ...uniques.map((u) => dropIndexEntry(indexKey(table, u, (i) => ({ k: 'col', row, i }))))];
  const emit: Stmt = { k: 'emit', values: (ret?.exprs ?? []).map((x) => x.e) };
  const rows = rowChanges(table, acc, row, whereCond(c, ast.where, scope), change, emit, uniques);
  return { kind: 'program', command: 'DELETE', readOnly: false, needsTxnId: false, columns: ret?.columns ?? null, post: null, ...rows };
}

/**
 * The program of an UPDATE or DELETE that runs `change`, then `emit`, on each row its WHERE (`cond`)
 * selects, and — when the access is not a point, so which rows those are is data — the pieces of its
 * OLLP programs (ADR 0007). The program itself stays the coarse one: it reads and writes the whole
 * range it scans. It is what interactive transactions re-execute at COMMIT and what OLLP falls back to.
 *
 * Besides its rows, a statement writes the whole range of each unique index in `indexes` (whose
 * entries it moves or drops), because those depend on the rows' old values.
 */
function rowChanges(
  table: CatalogTable,
  acc: Access,
  row: string,
  cond: Expr | null,
  change: readonly Stmt[],
  emit: Stmt,
  indexes: readonly UniqueConstraint[],
): { program: Program; ollp?: OllpPlan } {
  const guard = guardStmts(table);
  const indexWrites = indexes.map((u) => indexRange(table, u.index));
  const body = [...guard, ...acc.wrap(filtered(cond, [...change, emit], acc.coversWhere))];
  const scanned = acc.reads.ranges[0];
  if (acc.key !== null || scanned === undefined) {
    const points = acc.key === null ? [] : [acc.key];
    return { program: { reads: acc.reads, writes: { points, ranges: indexWrites }, body } };
  }
  const writes = { points: [], ranges: [scanned, ...indexWrites] };
  const keyColumns = rowKeyColumns(table);
  // Reconnaissance: the same statement, each affected row emitting its key; past the most rows a
  // prediction holds it stops, and the coarse program runs instead.
  const seen: Expr = { k: 'var', name: OLLP_SEEN };
  const predict: Stmt[] = [
    { k: 'let', name: OLLP_SEEN, e: bin('+', seen, lit(1n)) },
    abortIf(bin('>', seen, lit(BigInt(OllpLimits.maxPredictedRows))), SqlState.programLimitExceeded, 'more rows than one prediction holds'),
    { k: 'emit', values: keyColumns.map((i): Expr => ({ k: 'col', row, i })) },
  ];
  const recon: Program = { reads: acc.reads, writes, body: [...guard, { k: 'let', name: OLLP_SEEN, e: lit(0n) }, ...acc.wrap(filtered(cond, [...change, ...predict]))] };
  const keyTypes = table.primaryKey.length > 0 ? keyColumns.map((i) => columnSqlType(table.columns[i] as ColumnDef)) : [T.text, T.int8];
  return {
    program: { reads: acc.reads, writes, body },
    ollp: { recon, tableId: table.id, keyTypes, guard, guardReads: acc.reads.points, row, scanned, cond, perRow: [...change, emit], indexWrites },
  };
}

// ---------------------------------------------------------------------------------------------
// OLLP: Optimistic Lock Location Prediction (ADR 0007)

export const OllpLimits = {
  /** The most rows one prediction declares; a statement affecting more runs its coarse program. */
  maxPredictedRows: 100,
} as const;

const OLLP_SEEN = '__ollp_seen';
const OLLP_MATCHED = '__ollp_matched';

/**
 * The pieces of an UPDATE's or DELETE's OLLP programs. The gateway runs `recon` against its committed
 * store to predict the rows the statement affects (the key parts each emits); predictedPlan builds the
 * program that declares exactly those rows and re-checks the prediction at its log position.
 */
export interface OllpPlan {
  /** The coarse program with each affected row emitting its key parts instead of RETURNING's values. */
  readonly recon: Program;
  readonly tableId: number;
  /** The types of a row's key parts: its primary key columns, or a keyless table's hidden row id. */
  readonly keyTypes: readonly SqlType[];
  readonly guard: readonly Stmt[];
  /** What the guard reads. */
  readonly guardReads: readonly KeyExpr[];
  /** The row variable `cond` and `perRow` read. */
  readonly row: string;
  /** The range the WHERE is evaluated over: read (shared), never written. */
  readonly scanned: RangeExpr;
  readonly cond: Expr | null;
  /** What the statement does to one selected row (its change, then its emit). */
  readonly perRow: readonly Stmt[];
  /** Unique index ranges the statement writes (entries follow the rows' old values). */
  readonly indexWrites: readonly RangeExpr[];
}

/** A stale prediction's abort: internal, retried by the gateway, never shown to a client. */
const PREDICTION_STALE = 'the rows this statement affects changed after they were predicted';

const predictedPlans = new WeakMap<ProgramPlan, Map<number, ProgramPlan>>();

/**
 * The plan of `plan` that declares exactly `n` predicted rows: it takes the client's parameters, then
 * each predicted row's key parts in key order. Its program
 *   1. evaluates the WHERE over the scanned range (a shared read) and aborts with OD002 unless exactly
 *      `n` rows satisfy it;
 *   2. for each predicted key, reads the row (an exclusive point) and aborts with OD002 unless it is
 *      there and satisfies the WHERE; then changes it as the coarse program would.
 * Distinct predicted keys that all satisfy the WHERE, as many as satisfy it in all, are exactly the
 * rows the coarse program would change at the same position, in the same (key) order; so a program
 * that does not abort with OD002 has the coarse program's outcome. One object per (plan, n), so the log
 * encodes it once per batch.
 */
export function predictedPlan(plan: ProgramPlan, ollp: OllpPlan, n: number): ProgramPlan {
  return cachedPerCount(predictedPlans, plan, n, () => {
    const keySlots = Array.from({ length: n }, () => ollp.keyTypes.map((type): ParamSlot => ({ type, literal: null, declaredOid: 0, exact: true }))).flat();
    const { ollp: _ollp, ...rest } = plan;
    void _ollp;
    return { ...rest, program: predictedProgram(ollp, plan.params.length, n), params: [...plan.params, ...keySlots] };
  });
}

/** The value for (`owner`, `n`) in `cache`, made by `make` on first use: one object per shape. */
export function cachedPerCount<K extends object, V>(cache: WeakMap<K, Map<number, V>>, owner: K, n: number, make: () => V): V {
  let byCount = cache.get(owner);
  if (byCount === undefined) {
    byCount = new Map();
    cache.set(owner, byCount);
  }
  let out = byCount.get(n);
  if (out === undefined) {
    out = make();
    byCount.set(n, out);
  }
  return out;
}

function predictedProgram(o: OllpPlan, base: number, n: number): Program {
  const width = o.keyTypes.length;
  const keys = Array.from({ length: n }, (_, i): KeyExpr => ({
    table: o.tableId,
    index: 0,
    parts: Array.from({ length: width }, (_p, j): Expr => ({ k: 'param', i: base + i * width + j })),
  }));
  const matched: Expr = { k: 'var', name: OLLP_MATCHED };
  const count: Stmt = { k: 'let', name: OLLP_MATCHED, e: bin('+', matched, lit(1n)) };
  const stale: Stmt = { k: 'abort', code: SqlStateX.predictionStale, message: lit(PREDICTION_STALE) };
  const found: Expr = { k: 'found', row: o.row };
  return {
    reads: { points: o.guardReads, ranges: [o.scanned] },
    writes: { points: keys, ranges: o.indexWrites },
    body: [
      ...o.guard,
      { k: 'let', name: OLLP_MATCHED, e: lit(0n) },
      { k: 'scan', into: o.row, range: o.scanned, limit: null, reverse: false, body: filtered(o.cond, [count]) },
      abortIf(bin('<>', matched, lit(BigInt(n))), SqlStateX.predictionStale, PREDICTION_STALE),
      ...keys.flatMap((key): Stmt[] => [
        { k: 'get', into: o.row, key },
        // `and` is lazy: the WHERE is not evaluated on an absent row.
        { k: 'if', cond: o.cond === null ? found : bin('and', found, o.cond), then: o.perRow, else: [stale] },
      ]),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// DDL

const MAX_COLUMNS = 1600;

/** A UNIQUE or CHECK clause of CREATE TABLE, before it is resolved against the columns. */
type ConstraintClause =
  | { readonly k: 'unique'; readonly columns: readonly string[]; readonly name: string | null }
  | { readonly k: 'check'; readonly expr: Node; readonly name: string | null };

function constraintName(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function compileCreate(ast: Node, text: string, catalog: Catalog, identities: ReadonlyMap<string, IdentitySpec>): Plan {
  if (ast.keyword === 'database') throw databasesRefused('CREATE DATABASE');
  if (ast.keyword === 'schema') return createSchema(ast);
  if (ast.keyword !== 'table') throw unsupported(`CREATE ${String(ast.keyword).toUpperCase()}`);
  if (ast.temporary !== null && ast.temporary !== undefined) throw unsupported('temporary tables');
  if (isNode(ast.query_expr) || isNode(ast.as)) throw unsupported('CREATE TABLE … AS');
  const t = node(list(ast.table)[0], 'table name');
  checkSchema(t.db);
  const name = String(t.table);
  const columns: ColumnDef[] = [];
  const sequences: SequenceDef[] = [];
  const taken = relationNames(catalog);
  taken.add(name);
  const pkNames: string[] = [];
  const clauses: ConstraintClause[] = [];
  for (const d of list(ast.create_definitions)) {
    const def = node(d, 'table element');
    if (def.resource === 'column') {
      const colName = identName(node(def.column, 'column').column);
      if (columns.some((c) => c.name === colName)) throw new OrdoError(SqlStateX.duplicateColumn, `column "${colName}" specified more than once`);
      if (isNode(def.reference_definition)) throw unsupported('REFERENCES');
      if (def.auto_increment !== undefined && def.auto_increment !== null) throw unsupported('auto increment');
      const made = columnFromDefinition(name, colName, def, identities.get(colName), taken);
      columns.push(made.def);
      if (made.sequence !== null) sequences.push(made.sequence);
      const unique = def.unique !== undefined && def.unique !== null;
      const check = isNode(def.check) ? def.check : null;
      // The parser keeps one CONSTRAINT name per column, not which of its constraints it named.
      const named = isNode(def.constraint) ? constraintName(def.constraint.constraint) : null;
      if (named !== null && [typeof def.primary_key === 'string', unique, check !== null].filter(Boolean).length > 1) {
        throw unsupported('CONSTRAINT names on a column with several constraints (name them as table constraints)');
      }
      if (typeof def.primary_key === 'string') pkNames.push(colName);
      if (unique) clauses.push({ k: 'unique', columns: [colName], name: named });
      if (check !== null) clauses.push({ k: 'check', expr: node(list(check.definition)[0], 'CHECK expression'), name: named ?? constraintName(check.constraint) });
    } else if (def.resource === 'constraint') {
      const kind = String(def.constraint_type).toLowerCase();
      const keyColumns = (): string[] => list(def.definition).map((c) => identName(node(c, 'key column').column));
      if (kind === 'primary key') {
        if (pkNames.length > 0) throw new OrdoError(SqlStateX.invalidTableDefinition, `multiple primary keys for table "${name}" are not allowed`);
        pkNames.push(...keyColumns());
      } else if (kind === 'unique') clauses.push({ k: 'unique', columns: keyColumns(), name: constraintName(def.constraint) });
      else if (kind === 'check') clauses.push({ k: 'check', expr: node(list(def.definition)[0], 'CHECK expression'), name: constraintName(def.constraint) });
      else throw unsupported(`${kind.toUpperCase()} constraints`);
    } else throw unsupported(`table element ${String(def.resource)}`);
  }
  // A column with two CHECK clauses reaches us with one of them: refuse rather than drop a constraint.
  const checkWords = utilityTokens(text).filter((tok, i, all) => tok.kind === 'word' && tok.text.toLowerCase() === 'check' && all[i + 1]?.text === '(').length;
  if (checkWords !== clauses.filter((x) => x.k === 'check').length) throw unsupported('several CHECK constraints on one column (write them as table constraints)');
  if (columns.length === 0) throw unsupported('a table without columns');
  if (columns.length > MAX_COLUMNS) throw new OrdoError('54011', `tables can have at most ${MAX_COLUMNS} columns`);
  if (pkNames.length > 0 && new Set(pkNames).size !== pkNames.length) throw new OrdoError(SqlStateX.invalidTableDefinition, 'duplicate column in primary key');
  const columnIndex = (n: string): number => {
    const i = columns.findIndex((c) => c.name === n);
    if (i < 0) throw new OrdoError(SqlState.undefinedColumn, `column "${n}" named in key does not exist`);
    return i;
  };
  const primaryKey = pkNames.map(columnIndex);
  // Primary key columns are NOT NULL, as in PostgreSQL.
  const finalColumns = columns.map((c, i) => (primaryKey.includes(i) ? { ...c, notNull: true } : c));
  const table: TableDef = { name, columns: finalColumns, primaryKey };
  const constraints = resolveConstraints(table, clauses, columnIndex);
  if (identities.size > 0 && [...identities.keys()].some((n) => !columns.some((c) => c.name === n))) throw new OrdoError(SqlStateX.syntaxError, 'syntax error at or near "generated"');
  return {
    kind: 'createTable',
    table: {
      ...table,
      ...(constraints.uniques.length === 0 ? {} : { uniques: constraints.uniques }),
      ...(constraints.checks.length === 0 ? {} : { checks: constraints.checks }),
    },
    ifNotExists: ast.if_not_exists !== null && ast.if_not_exists !== undefined,
    sequences,
  };
}

/** Every relation name in the catalog (tables and sequences share PostgreSQL's namespace). */
function relationNames(catalog: Catalog): Set<string> {
  return new Set([...catalog.tables.map((t) => t.name), ...(catalog.sequences ?? []).map((q) => q.name)]);
}

/** `public.t` names the one schema there is (ADR 0008); any other schema does not exist. */
function checkSchema(db: unknown): void {
  if (db !== null && db !== undefined && db !== 'public') throw new OrdoError('3F000', `schema "${String(db)}" does not exist`);
}

function databasesRefused(what: string): OrdoError {
  return new OrdoError(SqlState.featureNotSupported, `${what} is not supported: an OrdoDB cluster is one database (named by the connection's database parameter); use tables in the public schema`);
}

/** CREATE SCHEMA: the public schema exists; others are not supported (ADR 0008). */
function createSchema(ast: Node): Plan {
  const names = list(isNode(ast.schema) ? ast.schema.schema : []).map(identName);
  const name = names.at(-1) ?? '';
  if (names.length !== 1 || name !== 'public') throw unsupported(`CREATE SCHEMA other than public (tables live in the public schema)`);
  if (ast.if_not_exists !== null && ast.if_not_exists !== undefined) return { kind: 'utility', tag: 'CREATE SCHEMA' };
  throw new OrdoError('42P06', 'schema "public" already exists');
}

/** A column of CREATE TABLE or ALTER TABLE … ADD COLUMN: its type, SERIAL or IDENTITY sequence, default, NOT NULL. */
function columnFromDefinition(table: string, colName: string, def: Node, identity: IdentitySpec | undefined, taken: Set<string>): { def: ColumnDef; sequence: SequenceDef | null } {
  const typeNode = node(def.definition, 'column type');
  const serial = SERIAL_TYPES[String(typeNode.dataType).toUpperCase()];
  const type = serial !== undefined ? { type: serial, length: null, scale: null } : columnTypeOf(typeNode);
  const notNull = isNode(def.nullable) && def.nullable.type === 'not null';
  const base: ColumnDef = { name: colName, ...type, notNull, default: null };
  const hasDefault = isNode(def.default_val);
  if (serial === undefined && identity === undefined) {
    return { def: { ...base, default: hasDefault ? columnDefault(base, node(def.default_val, 'DEFAULT').value) : null }, sequence: null };
  }
  if (hasDefault) {
    throw new OrdoError(SqlStateX.syntaxError, `multiple default values specified for column "${colName}" of table "${table}"`);
  }
  if (isNode(def.nullable) && def.nullable.type === 'null') {
    throw new OrdoError(SqlStateX.syntaxError, `conflicting NULL/NOT NULL declarations for column "${colName}" of table "${table}"`);
  }
  if (identity !== undefined && type.type !== 'int2' && type.type !== 'int4' && type.type !== 'int8') {
    throw new OrdoError(SqlState.datatypeMismatch, `identity column type must be smallint, integer, or bigint`);
  }
  // PostgreSQL's name for the owned sequence, with a number appended on a clash.
  const stem = `${table}_${colName}_seq`;
  let seqName = stem;
  for (let n = 1; taken.has(seqName); n++) seqName = `${stem}${n}`;
  taken.add(seqName);
  const sequence = sequenceDef(seqName, identity?.options ?? {}, type.type as IntType);
  const column: ColumnDef = { ...base, notNull: true, default: { kind: 'nextval', sequence: seqName, owned: true }, ...(identity === undefined ? {} : { identity: identity.kind }) };
  return { def: column, sequence };
}

type IntType = 'int2' | 'int4' | 'int8';

const SERIAL_TYPES: Readonly<Record<string, IntType>> = { SERIAL: 'int4', SERIAL4: 'int4', BIGSERIAL: 'int8', SERIAL8: 'int8', SMALLSERIAL: 'int2', SERIAL2: 'int2' };

const INT_BOUNDS: Readonly<Record<IntType, readonly [bigint, bigint]>> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** CREATE SEQUENCE's options as written; absent ones take PostgreSQL's defaults (sequenceDef). */
export interface SequenceOptions {
  as?: IntType | undefined;
  start?: bigint | undefined;
  increment?: bigint | undefined;
  /** null: NO MINVALUE. */
  min?: bigint | null | undefined;
  max?: bigint | null | undefined;
  cycle?: boolean | undefined;
}

/** GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY [(options)], cut out of the statement text by name of its column. */
export interface IdentitySpec {
  readonly kind: IdentityKind;
  readonly options: SequenceOptions;
}

/** A sequence's options with PostgreSQL's defaults and checks (22023 for inconsistent ones). */
function sequenceDef(name: string, o: SequenceOptions, type: IntType = o.as ?? 'int8'): SequenceDef {
  const [lo, hi] = INT_BOUNDS[o.as ?? type];
  const increment = o.increment ?? 1n;
  if (increment === 0n) throw new OrdoError(SqlState.invalidParameterValue, 'INCREMENT must not be zero');
  const min = o.min ?? (increment > 0n ? 1n : lo);
  const max = o.max ?? (increment > 0n ? hi : -1n);
  const typeName = (o.as ?? type) === 'int2' ? 'smallint' : (o.as ?? type) === 'int4' ? 'integer' : 'bigint';
  if (min < lo || min > hi) throw new OrdoError(SqlState.invalidParameterValue, `MINVALUE (${min}) is out of range for sequence data type ${typeName}`);
  if (max < lo || max > hi) throw new OrdoError(SqlState.invalidParameterValue, `MAXVALUE (${max}) is out of range for sequence data type ${typeName}`);
  if (min >= max) throw new OrdoError(SqlState.invalidParameterValue, `MINVALUE (${min}) must be less than MAXVALUE (${max})`);
  const start = o.start ?? (increment > 0n ? min : max);
  if (start < min) throw new OrdoError(SqlState.invalidParameterValue, `START value (${start}) cannot be less than MINVALUE (${min})`);
  if (start > max) throw new OrdoError(SqlState.invalidParameterValue, `START value (${start}) cannot be greater than MAXVALUE (${max})`);
  return { name, start, increment, min, max, cycle: o.cycle ?? false };
}

/**
 * Names and numbers a new table's UNIQUE and CHECK constraints as PostgreSQL does: `t_a_b_key` and
 * `t_a_check` (or `t_check` when the expression reads no single column), with a number appended on a
 * clash; a UNIQUE on the columns of the primary key or of an earlier UNIQUE, in the same order, is
 * dropped. Each CHECK is stored as the text it is compiled from, after compiling it once here.
 */
function resolveConstraints(table: TableDef, clauses: readonly ConstraintClause[], columnIndex: (n: string) => number): { uniques: UniqueConstraint[]; checks: CheckConstraint[] } {
  const taken = new Set<string>(table.primaryKey.length > 0 ? [pkeyName(table)] : []);
  const claim = (explicit: string | null, base: string): string => {
    if (explicit !== null) {
      if (taken.has(explicit)) throw new OrdoError(SqlStateX.duplicateObject, `constraint "${explicit}" for relation "${table.name}" already exists`);
      taken.add(explicit);
      return explicit;
    }
    let candidate = base;
    for (let n = 1; taken.has(candidate); n++) candidate = `${base}${n}`;
    taken.add(candidate);
    return candidate;
  };
  const uniques: UniqueConstraint[] = [];
  const checks: CheckConstraint[] = [];
  const sameColumns = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const clause of clauses) {
    if (clause.k === 'unique') {
      const cols = clause.columns.map(columnIndex);
      if (new Set(cols).size !== cols.length) throw new OrdoError(SqlStateX.duplicateColumn, 'column appears twice in unique constraint');
      if (sameColumns(cols, table.primaryKey) || uniques.some((u) => sameColumns(u.columns, cols))) continue;
      uniques.push({ name: claim(clause.name, `${table.name}_${clause.columns.join('_')}_key`), columns: cols, index: uniques.length + 1 });
      continue;
    }
    const sql = checkParser.exprToSQL(clause.expr, { database: 'PostgresQL' });
    // Compiled from the stored text, as every later statement will compile it, so what is checked
    // here is what is stored.
    const c = new Compiler(EMPTY_CATALOG, [], []);
    const [compiled] = compileChecks(c, { ...table, checks: [{ name: '', sql }] }, () => lit(null));
    if (c.params.length > 0) throw new OrdoError('42P02', 'there is no parameter $1');
    const read = [...(compiled?.columns ?? [])];
    const only = read.length === 1 ? table.columns[read[0] as number] : undefined;
    checks.push({ name: claim(clause.name, only === undefined ? `${table.name}_check` : `${table.name}_${only.name}_check`), sql });
  }
  return { uniques, checks };
}

function columnDefault(col: ColumnDef, v: unknown): ColumnDef['default'] {
  const x = node(v, 'DEFAULT expression');
  if (x.type === 'function') {
    const names = list(node(x.name, 'function').name).map(identName);
    const fn = (names.at(-1) ?? '').toLowerCase();
    if (fn === 'nextval') {
      const arg = list(isNode(x.args) ? x.args.value : [])[0];
      const a = isNode(arg) && arg.type === 'cast' ? arg.expr : arg;
      if (!isNode(a) || (a.type !== 'single_quote_string' && a.type !== 'string')) throw unsupported("DEFAULT nextval of anything but a sequence name ('s')");
      if (col.type !== 'int2' && col.type !== 'int4' && col.type !== 'int8' && col.type !== 'numeric') {
        throw new OrdoError(SqlState.datatypeMismatch, `column "${col.name}" is of type ${col.type} but default expression is of type bigint`);
      }
      return { kind: 'nextval', sequence: relationNameOf(stringValue(a)), owned: false };
    }
    if (['now', 'current_timestamp', 'current_date', 'localtimestamp'].includes(fn)) {
      if (col.type !== 'timestamptz' && col.type !== 'timestamp' && col.type !== 'date') {
        throw new OrdoError(SqlState.datatypeMismatch, `column "${col.name}" is of type ${col.type} but default expression is of type timestamp with time zone`);
      }
      return { kind: 'now' };
    }
  }
  let text: string | null;
  if (x.type === 'null') text = null;
  else if (x.type === 'number') text = String(x.value);
  else if (x.type === 'single_quote_string' || x.type === 'string') text = stringValue(x);
  else if (x.type === 'bool') text = x.value === true ? 'true' : 'false';
  else if (x.type === 'unary_expr' && x.operator === '-' && isNode(x.expr) && x.expr.type === 'number') text = `-${String(x.expr.value)}`;
  else throw unsupported('DEFAULT expressions other than constants and now()');
  const value = text === null ? null : valueFromText(columnSqlType(col), text);
  return { kind: 'value', tupleHex: encodeTuple([value]).toString('hex') };
}

/**
 * ALTER TABLE: ADD PRIMARY KEY alone is its own entry (it re-keys the rows); every other action is
 * resolved here into the table as it will be (AlterTable), several actions in order in one entry.
 */
function compileAlter(ast: Node, catalog: Catalog, identities: ReadonlyMap<string, IdentitySpec>): Plan {
  if (ast.keyword !== 'table') throw unsupported(`ALTER ${String(ast.keyword).toUpperCase()}`);
  const t = node(list(ast.table)[0], 'table name');
  checkSchema(t.db);
  const actions = list(ast.expr).map((a) => node(a, 'ALTER TABLE action'));
  const only = actions.length === 1 ? actions[0] : undefined;
  const pkDef = only !== undefined && only.action === 'add' && isNode(only.create_definitions) ? only.create_definitions : null;
  if (pkDef !== null && pkDef.resource === 'constraint' && String(pkDef.constraint_type).toLowerCase() === 'primary key') {
    if (ast.if_exists !== null && ast.if_exists !== undefined) throw unsupported('ALTER TABLE IF EXISTS … ADD PRIMARY KEY');
    const columns = list(pkDef.definition).map((c) => identName(node(c, 'key column').column));
    if (new Set(columns).size !== columns.length) throw new OrdoError(SqlStateX.duplicateColumn, 'column appears twice in primary key constraint');
    return { kind: 'addPrimaryKey', table: String(t.table), columns };
  }
  const table = catalog.tables.find((x) => x.name === String(t.table));
  if (table === undefined) {
    // PostgreSQL: NOTICE relation "t" does not exist, skipping.
    if (ast.if_exists !== null && ast.if_exists !== undefined) return { kind: 'utility', tag: 'ALTER TABLE' };
    throw new OrdoError(SqlStateX.undefinedTable, `relation "${String(t.table)}" does not exist`);
  }
  const alter = new TableAlteration(table, catalog);
  for (const action of actions) alter.apply(action, identities);
  return { kind: 'alterTable', alter: alter.result() };
}

/** ALTER TABLE [IF EXISTS] t RENAME [COLUMN] a TO b | RENAME TO u, which node-sql-parser does not read. */
function compileRename(catalog: Catalog, tableName: string, ifExists: boolean, column: string | null, to: string): Plan {
  const table = catalog.tables.find((x) => x.name === tableName);
  if (table === undefined) {
    if (ifExists) return { kind: 'utility', tag: 'ALTER TABLE' };
    throw new OrdoError(SqlStateX.undefinedTable, `relation "${tableName}" does not exist`);
  }
  const alter = new TableAlteration(table, catalog);
  if (column === null) alter.renameTable(to);
  else alter.renameColumn(column, to);
  return { kind: 'alterTable', alter: alter.result() };
}

/**
 * The table an ALTER TABLE makes, built action by action from the catalog's table: columns with where
 * their values come from, constraints by column name until the end. Errors are PostgreSQL's.
 */
class TableAlteration {
  private name: string;
  private readonly work: { def: ColumnDef; source: number | null }[];
  private pk: string[];
  private uniques: { name: string; names: string[]; index: number }[];
  private checks: CheckConstraint[];
  private readonly createSequences: SequenceDef[] = [];
  private readonly dropSequences: string[] = [];
  private failingCheck: string | null = null;
  private readonly taken: Set<string>;

  constructor(
    private readonly table: CatalogTable,
    catalog: Catalog,
  ) {
    const colName = (i: number): string => table.columns[i]?.name ?? '';
    this.name = table.name;
    this.work = table.columns.map((def, i) => ({ def, source: i }));
    this.pk = table.primaryKey.map(colName);
    this.uniques = (table.uniques ?? []).map((u) => ({ name: u.name, names: u.columns.map(colName), index: u.index }));
    this.checks = [...(table.checks ?? [])];
    this.taken = relationNames(catalog);
  }

  private find(name: string): number {
    return this.work.findIndex((w) => w.def.name === name);
  }

  private missing(name: string): OrdoError {
    return new OrdoError(SqlState.undefinedColumn, `column "${name}" of relation "${this.name}" does not exist`);
  }

  private current(): TableDef {
    return { name: this.name, columns: this.work.map((w) => w.def), primaryKey: this.pk.map((n) => this.find(n)) };
  }

  /** The columns a CHECK reads, by name. */
  private checkColumns(check: CheckConstraint): string[] {
    const table = this.current();
    const [compiled] = compileChecks(new Compiler(EMPTY_CATALOG, [], []), { ...table, checks: [check] }, () => lit(null));
    return [...(compiled?.columns ?? [])].map((i) => table.columns[i]?.name ?? '');
  }

  apply(action: Node, identities: ReadonlyMap<string, IdentitySpec>): void {
    const resource = action.resource;
    const columnName = (): string => identName(node(action.column, 'column').column);
    if (action.action === 'add' && resource === 'column') this.addColumn(columnName(), action, identities);
    else if (action.action === 'drop' && resource === 'column') this.dropColumn(columnName(), action.if_exists !== null && action.if_exists !== undefined);
    else if (action.action === 'alter' && resource === 'column') this.alterColumn(columnName(), action);
    else if (action.action === 'rename' && resource === 'table' && typeof action.table === 'string') this.renameTable(action.table);
    else if (action.action === 'add' && resource === 'constraint') {
      throw unsupported(`ALTER TABLE … ADD ${String(node(action.create_definitions, 'constraint').constraint_type).toUpperCase()}`);
    } else throw unsupported(`ALTER TABLE … ${String(action.action).toUpperCase()} ${String(resource ?? '').toUpperCase()}`.trim());
  }

  private addColumn(name: string, def: Node, identities: ReadonlyMap<string, IdentitySpec>): void {
    if (this.find(name) >= 0) {
      if (def.if_not_exists !== null && def.if_not_exists !== undefined) return; // PostgreSQL: NOTICE, skipping
      throw new OrdoError(SqlStateX.duplicateColumn, `column "${name}" of relation "${this.name}" already exists`);
    }
    if (typeof def.primary_key === 'string' || (def.unique !== undefined && def.unique !== null)) throw unsupported('ADD COLUMN with PRIMARY KEY or UNIQUE');
    if (isNode(def.reference_definition)) throw unsupported('REFERENCES');
    if (this.work.length >= MAX_COLUMNS) throw new OrdoError('54011', `tables can have at most ${MAX_COLUMNS} columns`);
    const made = columnFromDefinition(this.name, name, def, identities.get(name), this.taken);
    if (made.sequence !== null) this.createSequences.push(made.sequence);
    this.work.push({ def: made.def, source: null });
    if (!isNode(def.check)) return;
    const sql = checkParser.exprToSQL(node(list(def.check.definition)[0], 'CHECK expression'), { database: 'PostgresQL' });
    const explicit = constraintName(def.check.constraint) ?? (isNode(def.constraint) ? constraintName(def.constraint.constraint) : null);
    const names = new Set([...this.checks.map((c) => c.name), ...this.uniques.map((u) => u.name), ...(this.pk.length > 0 ? [`${this.name}_pkey`] : [])]);
    if (explicit !== null && names.has(explicit)) throw new OrdoError(SqlStateX.duplicateObject, `constraint "${explicit}" for relation "${this.name}" already exists`);
    const check: CheckConstraint = { name: explicit ?? '', sql };
    const read = this.checkColumns(check);
    if (read.some((n) => n !== name)) throw unsupported('a CHECK in ADD COLUMN that reads other columns');
    let checkName = explicit ?? `${this.name}_${name}_check`;
    for (let n = 1; explicit === null && names.has(checkName); n++) checkName = `${this.name}_${name}_check${n}`;
    this.checks.push({ name: checkName, sql });
    // Existing rows take the default: the check is decided once, on it, here.
    const dflt = made.def.default;
    if (dflt !== null && dflt.kind !== 'value') throw unsupported('a CHECK in ADD COLUMN with a default other than a constant');
    const value = dflt === null ? null : (decodeDefault(dflt.tupleHex)[0] ?? null);
    const [compiled] = compileChecks(new Compiler(EMPTY_CATALOG, [], []), { ...this.current(), checks: [check] }, () => lit(value));
    if (compiled !== undefined && constantValue(compiled.ok) === false) this.failingCheck ??= checkName;
  }

  private dropColumn(name: string, ifExists: boolean): void {
    const i = this.find(name);
    if (i < 0) {
      if (ifExists) return;
      throw this.missing(name);
    }
    if (this.pk.includes(name)) throw unsupported('DROP COLUMN of a primary key column');
    if (this.work.length === 1) throw unsupported('dropping the last column of a table');
    const def = this.work[i]?.def;
    if (def?.default?.kind === 'nextval' && def.default.owned) this.dropSequences.push(def.default.sequence);
    // As in PostgreSQL, the column's UNIQUE and CHECK constraints go with it.
    this.uniques = this.uniques.filter((u) => !u.names.includes(name));
    this.checks = this.checks.filter((c) => !this.checkColumns(c).includes(name));
    this.work.splice(i, 1);
  }

  private alterColumn(name: string, action: Node): void {
    const i = this.find(name);
    const w = this.work[i];
    if (w === undefined) throw this.missing(name);
    const dv = isNode(action.default_val) ? action.default_val : null;
    const nullable = isNode(action.nullable) ? action.nullable : null;
    if (dv !== null) {
      if (w.def.identity !== undefined) throw new OrdoError('42P16', `column "${name}" of relation "${this.name}" is an identity column`);
      const dflt = dv.type === 'set default' ? columnDefault(w.def, dv.value) : null;
      // A dropped DEFAULT of a SERIAL keeps its sequence, as in PostgreSQL (only now owned by nothing).
      w.def = { ...w.def, default: dflt };
    } else if (nullable !== null) {
      const set = nullable.action === 'set';
      if (!set && this.pk.includes(name)) throw new OrdoError('42P16', `column "${name}" is in a primary key`);
      if (!set && w.def.identity !== undefined) throw new OrdoError('42P16', `column "${name}" of relation "${this.name}" is an identity column`);
      w.def = { ...w.def, notNull: set };
    } else if (isNode(action.definition)) throw unsupported('ALTER COLUMN … TYPE');
    else throw unsupported('this ALTER COLUMN action');
  }

  renameColumn(from: string, to: string): void {
    const w = this.work[this.find(from)];
    if (w === undefined) throw this.missing(from);
    if (this.find(to) >= 0) throw new OrdoError(SqlStateX.duplicateColumn, `column "${to}" of relation "${this.name}" already exists`);
    // CHECK constraints are SQL text: the ones reading the column are rewritten with its new name.
    this.checks = this.checks.map((c) => (this.checkColumns(c).includes(from) ? { name: c.name, sql: renameInCheck(c.sql, from, to) } : c));
    w.def = { ...w.def, name: to };
    this.pk = this.pk.map((n) => (n === from ? to : n));
    for (const u of this.uniques) u.names = u.names.map((n) => (n === from ? to : n));
  }

  renameTable(to: string): void {
    if (this.taken.has(to) && to !== this.name) throw new OrdoError(SqlStateX.duplicateTable, `relation "${to}" already exists`);
    this.taken.delete(this.name);
    this.taken.add(to);
    this.name = to;
  }

  result(): AlterTable {
    const current = this.current();
    const index = (n: string): number => this.find(n);
    const uniques: UniqueConstraint[] = this.uniques.map((u) => ({ name: u.name, columns: u.names.map(index), index: u.index }));
    return {
      table: this.table.name,
      tableId: this.table.id,
      alteredAt: this.table.rekeyedAt ?? null,
      result: { ...current, ...(uniques.length === 0 ? {} : { uniques }), ...(this.checks.length === 0 ? {} : { checks: this.checks }) },
      sources: this.work.map((w) => w.source),
      createSequences: this.createSequences,
      dropSequences: this.dropSequences,
      failingCheck: this.failingCheck,
    };
  }
}

/** A CHECK's SQL text with column `from` renamed to `to`. */
function renameInCheck(sql: string, from: string, to: string): string {
  const rename = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rename);
    if (!isNode(v)) return v;
    if (v.type === 'column_ref' && (v.table === null || v.table === undefined) && identName(v.column) === from) return { ...v, column: to };
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = rename(x);
    return out;
  };
  return checkParser.exprToSQL(rename(parseCheck(sql)) as Parameters<typeof checkParser.exprToSQL>[0], { database: 'PostgresQL' });
}

/** The value of an expression over literals only (a CHECK on a constant default). */
function constantValue(e: Expr): Value {
  const program: Program = { reads: { points: [], ranges: [] }, writes: { points: [], ranges: [] }, body: [{ k: 'emit', values: [e] }] };
  const none: Iterable<never> = [];
  const outcome = executeProgram(program, [], evaluateKeySets(program, []), { position: 0, timestampMs: 0, txnIndex: 0 }, { get: () => undefined, scan: () => none });
  if (outcome.status === 'aborted') throw new OrdoError(outcome.code, outcome.message);
  return outcome.rows[0]?.[0] ?? null;
}

function compileDrop(ast: Node): Plan {
  if (ast.keyword !== 'table') throw unsupported(`DROP ${String(ast.keyword).toUpperCase()}`);
  const names = list(ast.name).map((n) => {
    const t = node(n, 'table name');
    checkSchema(t.db);
    return String(t.table);
  });
  return { kind: 'dropTable', names, ifExists: typeof ast.prefix === 'string' && ast.prefix.toUpperCase().includes('IF EXISTS') };
}

// ---------------------------------------------------------------------------------------------
// DDL node-sql-parser does not read: handled on the normalized tokens before it runs

type Tok = { readonly kind: string; readonly text: string; readonly value: string };

/** A cursor over a normalized statement's tokens (unquoted words are already lower case). */
class TokenCursor {
  i = 0;
  constructor(readonly toks: readonly Tok[]) {}

  is(...words: string[]): boolean {
    return words.every((w, k) => {
      const t = this.toks[this.i + k];
      return t !== undefined && ((t.kind === 'word' && t.text === w) || (t.kind === 'op' && t.text === w));
    });
  }

  take(...words: string[]): boolean {
    if (!this.is(...words)) return false;
    this.i += words.length;
    return true;
  }

  fail(): never {
    throw new OrdoError(SqlStateX.syntaxError, `syntax error at or near "${this.toks[this.i]?.text ?? 'end of input'}"`);
  }

  expect(...words: string[]): void {
    if (!this.take(...words)) this.fail();
  }

  ident(): string {
    const t = this.toks[this.i];
    if (t?.kind === 'word') {
      this.i++;
      return t.text;
    }
    if (t?.kind === 'qident') {
      this.i++;
      return t.text.slice(1, -1).replaceAll('""', '"');
    }
    return this.fail();
  }

  /** `name` or `public.name`: other schemas do not exist (ADR 0008). */
  relation(): string {
    const first = this.ident();
    if (!this.take('.')) return first;
    checkSchema(first);
    return this.ident();
  }

  int(): bigint {
    const neg = this.take('-');
    if (!neg) this.take('+');
    const t = this.toks[this.i];
    if (t?.kind !== 'number' || !/^[0-9]+$/.test(t.text)) return this.fail();
    this.i++;
    const v = neg ? -BigInt(t.text) : BigInt(t.text);
    if (v < INT_BOUNDS.int8[0] || v > INT_BOUNDS.int8[1]) throw new OrdoError(SqlState.numericValueOutOfRange, `value "${t.text}" is out of range for type bigint`);
    return v;
  }

  get done(): boolean {
    return this.i >= this.toks.length;
  }
}

/** CREATE SEQUENCE / IDENTITY options, up to `stop` (a closing parenthesis) or the end. */
function sequenceOptions(cur: TokenCursor, stop: string | null): SequenceOptions {
  const o: SequenceOptions = {};
  while (!cur.done && !(stop !== null && cur.is(stop))) {
    if (cur.take('as')) {
      const t = cur.ident();
      const as = ({ smallint: 'int2', int2: 'int2', integer: 'int4', int: 'int4', int4: 'int4', bigint: 'int8', int8: 'int8' } as const)[t as 'int2'];
      if (as === undefined) throw new OrdoError(SqlState.invalidParameterValue, 'sequence type must be smallint, integer, or bigint');
      o.as = as;
    } else if (cur.take('increment')) {
      cur.take('by');
      o.increment = cur.int();
    } else if (cur.take('start')) {
      cur.take('with');
      o.start = cur.int();
    } else if (cur.take('minvalue')) o.min = cur.int();
    else if (cur.take('maxvalue')) o.max = cur.int();
    else if (cur.take('no', 'minvalue')) o.min = null;
    else if (cur.take('no', 'maxvalue')) o.max = null;
    else if (cur.take('no', 'cycle')) o.cycle = false;
    else if (cur.take('cycle')) o.cycle = true;
    else if (cur.take('cache')) {
      // Accepted and ignored: values are assigned at the log position, one transaction at a time.
      if (cur.int() < 1n) throw new OrdoError(SqlState.invalidParameterValue, 'CACHE must be at least 1');
    } else if (cur.take('owned', 'by', 'none')) continue;
    else if (cur.is('owned') || cur.is('restart') || cur.is('sequence')) throw unsupported(`sequence option ${cur.toks[cur.i]?.text.toUpperCase() ?? ''}`);
    else cur.fail();
  }
  return o;
}

/** What the engine does with a DDL statement before node-sql-parser sees it. */
export type DdlText =
  /** Compiled here from the tokens. */
  | { readonly plan: Plan }
  /** Parse this text instead; the identity clauses and OVERRIDING SYSTEM VALUE it no longer says. */
  | { readonly text: string; readonly identities: ReadonlyMap<string, IdentitySpec>; readonly overridingSystemValue: boolean };

/**
 * DDL that node-sql-parser cannot read, on the normalized text: DROP SEQUENCE / SCHEMA / DATABASE,
 * CREATE SEQUENCE, CREATE SCHEMA / DATABASE, ALTER TABLE … RENAME; and what it cannot read inside
 * statements it otherwise reads — GENERATED … AS IDENTITY in a column definition, OVERRIDING SYSTEM
 * VALUE in an INSERT — cut out and handed over apart. Null: the text goes to the parser as it is.
 */
export function prepareDdlText(normalized: string, catalog: Catalog): DdlText | null {
  const toks = utilityTokens(normalized).map((t) => ({ kind: t.kind, text: t.kind === 'word' ? t.text.toLowerCase() : t.text, value: t.value }));
  const cur = new TokenCursor(toks);
  if (cur.take('insert')) return cutOverriding(normalized, toks);
  if (cur.take('drop')) {
    if (cur.take('database')) throw databasesRefused('DROP DATABASE');
    const kind = cur.take('sequence') ? 'sequence' : cur.take('schema') ? 'schema' : null;
    if (kind === null) return null;
    const ifExists = cur.take('if', 'exists');
    const names = [cur.relation()];
    while (cur.take(',')) names.push(cur.relation());
    if (cur.take('cascade')) throw unsupported(`DROP ${kind.toUpperCase()} … CASCADE`);
    cur.take('restrict');
    if (!cur.done) cur.fail();
    if (kind === 'sequence') return { plan: { kind: 'dropSequence', names, ifExists } };
    if (names.includes('public')) throw unsupported('DROP SCHEMA public');
    if (!ifExists) throw new OrdoError('3F000', `schema "${names[0] ?? ''}" does not exist`);
    return { plan: { kind: 'utility', tag: 'DROP SCHEMA' } };
  }
  if (cur.take('create')) {
    if (cur.take('database')) throw databasesRefused('CREATE DATABASE');
    if (cur.take('sequence')) {
      const ifNotExists = cur.take('if', 'not', 'exists');
      const name = cur.relation();
      const options = sequenceOptions(cur, null);
      const taken = relationNames(catalog);
      if (taken.has(name) && !ifNotExists) throw new OrdoError(SqlStateX.duplicateTable, `relation "${name}" already exists`);
      return { plan: { kind: 'createSequence', sequence: sequenceDef(name, options), ifNotExists } };
    }
    if (cur.is('schema')) {
      cur.take('schema');
      const ifNotExists = cur.take('if', 'not', 'exists');
      const name = cur.is('authorization') ? '' : cur.ident();
      if (name !== 'public' || !cur.done) throw unsupported('CREATE SCHEMA other than public (tables live in the public schema)');
      if (ifNotExists) return { plan: { kind: 'utility', tag: 'CREATE SCHEMA' } };
      throw new OrdoError('42P06', 'schema "public" already exists');
    }
    return cutIdentities(normalized, toks);
  }
  if (cur.take('alter', 'table')) {
    const ifExists = cur.take('if', 'exists');
    cur.take('only');
    const table = cur.relation();
    if (cur.take('rename')) {
      if (cur.take('to')) {
        const to = cur.ident();
        if (!cur.done) cur.fail();
        return { plan: compileRename(catalog, table, ifExists, null, to) };
      }
      if (cur.take('constraint')) throw unsupported('RENAME CONSTRAINT');
      cur.take('column');
      const from = cur.ident();
      cur.expect('to');
      const to = cur.ident();
      if (!cur.done) cur.fail();
      return { plan: compileRename(catalog, table, ifExists, from, to) };
    }
    return cutIdentities(normalized, toks);
  }
  return null;
}

/** Offsets of the tokens in the normalized text, which is its tokens joined by single spaces. */
function tokenStarts(toks: readonly Tok[]): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const t of toks) {
    starts.push(at);
    at += t.text.length + 1;
  }
  return starts;
}

/** Removes token ranges [from, to) from the normalized text. */
function cutTokens(normalized: string, toks: readonly Tok[], cuts: readonly (readonly [number, number])[]): string {
  const starts = tokenStarts(toks);
  let out = '';
  let at = 0;
  for (const [from, to] of cuts) {
    out += normalized.slice(at, starts[from] ?? normalized.length);
    at = starts[to] ?? normalized.length;
  }
  return (out + normalized.slice(at)).replace(/ {2,}/g, ' ').trim();
}

/** `GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY [(options)]` of each column definition, cut out. */
function cutIdentities(normalized: string, toks: readonly Tok[]): DdlText | null {
  const identities = new Map<string, IdentitySpec>();
  const cuts: [number, number][] = [];
  let depth = 0;
  let segment = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as Tok;
    if (t.text === '(' && t.kind === 'op') {
      depth++;
      if (depth === 1) segment = i + 1;
      continue;
    }
    if (t.text === ')' && t.kind === 'op') depth--;
    if (t.text === ',' && t.kind === 'op' && depth <= 1) segment = i + 1;
    if (t.kind !== 'word' || t.text !== 'generated') continue;
    const cur = new TokenCursor(toks);
    cur.i = i + 1;
    const kind: IdentityKind | null = cur.take('always') ? 'always' : cur.take('by', 'default') ? 'byDefault' : null;
    if (kind === null || !cur.take('as', 'identity')) throw unsupported('GENERATED columns other than AS IDENTITY');
    let options: SequenceOptions = {};
    if (cur.take('(')) {
      options = sequenceOptions(cur, ')');
      cur.expect(')');
    }
    // The column is the segment's first name, after ALTER TABLE's ADD [COLUMN] [IF NOT EXISTS].
    const seg = new TokenCursor(toks);
    seg.i = segment;
    if (depth === 0) {
      let add = i - 1;
      while (add >= 0 && !(toks[add]?.kind === 'word' && toks[add]?.text === 'add')) add--;
      if (add < 0) seg.fail();
      seg.i = add + 1;
      seg.take('column');
      seg.take('if', 'not', 'exists');
    }
    identities.set(seg.ident(), { kind, options });
    cuts.push([i, cur.i]);
    i = cur.i - 1;
  }
  if (cuts.length === 0) return null;
  return { text: cutTokens(normalized, toks, cuts), identities, overridingSystemValue: false };
}

/** INSERT … OVERRIDING SYSTEM VALUE, cut out (USER VALUE is refused). */
export function cutOverriding(normalized: string, toks: readonly Tok[] = utilityTokens(normalized)): DdlText | null {
  const at = toks.findIndex((t, i) => t.kind === 'word' && t.text === 'overriding' && toks[i + 2]?.text === 'value');
  if (at < 0) return null;
  if (toks[at + 1]?.text !== 'system') throw unsupported('OVERRIDING USER VALUE');
  return { text: cutTokens(normalized, toks, [[at, at + 3]]), identities: new Map(), overridingSystemValue: true };
}
