// Catalog objects printed as PostgreSQL 15 prints them: type names (format_type), column defaults
// (pg_get_expr of pg_attrdef.adbin), CHECK expressions and constraint and index definitions
// (pg_get_constraintdef, pg_get_indexdef). psql's \d shows these texts verbatim, so they follow
// ruleutils.c's rules, parenthesization and implicit casts included, for the subset OrdoDB stores.

import nodeSqlParser from 'node-sql-parser/build/postgresql.js';
import { decodeTuple, type Value } from '../../partitions/index.js';
import type { ColumnType } from '../../sequencer/index.js';
import { scaledToDecimal, valueToWire } from '../types.js';
import { encodeText, PgType } from '../wire/index.js';
import type { ColumnModel, ConstraintModel, IndexModel, TableModel } from './model.js';
import { builtinType } from './oids.js';

// PostgreSQL's reserved key words (those quote_ident must quote even when lower-case).
const RESERVED = new Set(
  ('all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation column ' +
    'concurrently constraint create cross current_catalog current_date current_role current_schema current_time ' +
    'current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze ' +
    'from full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit ' +
    'localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references ' +
    'returning right select session_user similar some symmetric system_user table tablesample then to trailing true union ' +
    'unique user using variadic verbose when where window with').split(' '),
);

/** quote_ident: double-quoted unless a lower-case identifier that is not a reserved word. */
export function quoteIdent(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** format_type(type oid, typmod) for a built-in type; null for an OID that is not one. */
export function formatBuiltinType(oid: number, typmod: number | null): string | null {
  const t = builtinType(oid);
  if (t === undefined) return null;
  const mod = typmod ?? -1;
  if (t.category === 'A' && t.elem !== 0 && t.len === -1 && t.name.startsWith('_')) {
    return `${formatBuiltinType(t.elem, mod) ?? '???'}[]`;
  }
  switch (t.name) {
    case 'bool':
      return 'boolean';
    case 'int2':
      return 'smallint';
    case 'int4':
      return 'integer';
    case 'int8':
      return 'bigint';
    case 'float4':
      return 'real';
    case 'float8':
      return 'double precision';
    case 'char':
      return '"char"';
    case 'varchar':
      return mod >= 4 ? `character varying(${mod - 4})` : 'character varying';
    case 'bpchar':
      // Without a length PostgreSQL prints the internal name: bare "character" would mean character(1).
      return mod >= 4 ? `character(${mod - 4})` : 'bpchar';
    case 'numeric':
      return mod >= 4 ? `numeric(${((mod - 4) >> 16) & 0xffff},${(mod - 4) & 0xffff})` : 'numeric';
    case 'timestamp':
      return mod >= 0 ? `timestamp(${mod}) without time zone` : 'timestamp without time zone';
    case 'timestamptz':
      return mod >= 0 ? `timestamp(${mod}) with time zone` : 'timestamp with time zone';
    default:
      return t.name;
  }
}

/** The SQL type name ruleutils.c uses in a `::type` label. */
function castName(type: ColumnType | 'unknown'): string {
  switch (type) {
    case 'varchar':
      return 'character varying';
    case 'bpchar':
      return 'bpchar';
    case 'unknown':
      return 'text';
    default:
      return formatBuiltinType(PgType[type].oid, -1) ?? type;
  }
}

const INT4_MIN = -(2n ** 31n);
const INT4_MAX = 2n ** 31n - 1n;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/**
 * An integer constant as ruleutils.c prints the literal that produced it: plain when a non-negative
 * int4, otherwise quoted and labelled with the type the parser gave the literal (integer, bigint,
 * numeric), so it reads back as one constant.
 */
function intConst(v: bigint): { text: string; labelled: boolean } {
  if (v >= 0n && v <= INT4_MAX) return { text: v.toString(), labelled: false };
  const type = v >= INT4_MIN && v <= INT4_MAX ? 'integer' : v >= INT8_MIN && v <= INT8_MAX ? 'bigint' : 'numeric';
  return { text: `${quoteLiteral(v.toString())}::${type}`, labelled: true };
}

/** A decimal constant (the text of a numeric literal) as ruleutils.c prints it. */
function decimalConst(text: string): { text: string; labelled: boolean } {
  if (/^-?\d+$/.test(text)) return intConst(BigInt(text));
  if (text.startsWith('-')) return { text: `${quoteLiteral(text)}::numeric`, labelled: true };
  return { text, labelled: false };
}

/** Trailing fractional zeros dropped: the literal a user most likely wrote for a stored numeric. */
function shortDecimal(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/**
 * pg_get_expr of a column default. OrdoDB keeps the value the default was converted to, not the
 * literal written, so the literal is reconstructed: for numeric and float columns the shortest
 * decimal, which is what PostgreSQL prints whenever that is how the literal was written.
 */
export function defaultExpr(col: ColumnModel): string | null {
  const d = col.def.default;
  if (d === null) return null;
  if (d.kind === 'now') return 'now()';
  // What PostgreSQL prints for a SERIAL or DEFAULT nextval('s') column (added by the DDL work, issue 6).
  if (d.kind === 'nextval') return `nextval('${d.sequence.replaceAll("'", "''")}'::regclass)`;
  const [v] = decodeTuple(Buffer.from(d.tupleHex, 'hex'));
  if (v === null || v === undefined) return null;
  return constantText(col.type.name, col.type.scale, v);
}

function constantText(type: ColumnType | 'unknown', scale: number | null, v: Exclude<Value, null>): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  switch (type) {
    case 'int2':
    case 'int4':
    case 'int8':
      return intConst(BigInt(v as bigint)).text;
    case 'numeric':
      return decimalConst(shortDecimal(typeof v === 'bigint' ? scaledToDecimal(v, scale ?? 0) : String(v))).text;
    case 'float4':
    case 'float8': {
      const n = Number(v);
      return Number.isInteger(n) ? intConst(BigInt(n)).text : decimalConst(String(n)).text;
    }
    case 'unknown':
      return `${quoteLiteral(String(v))}::text`;
    default: {
      const wire = valueToWire({ name: type, length: null, scale }, v);
      return `${quoteLiteral(wire === null ? '' : encodeText(PgType[type].oid, wire))}::${castName(type)}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CHECK expressions

type Node = Readonly<Record<string, unknown>>;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type TypeName = ColumnType | 'unknown' | 'literal';

/** The expression tree ruleutils.c walks, reduced to the nodes a stored CHECK can contain. */
type Expr =
  | { readonly k: 'atom'; readonly text: string; readonly type: TypeName; readonly labelled: boolean }
  | { readonly k: 'op'; readonly op: string; readonly l: Expr; readonly r: Expr; readonly type: TypeName }
  | { readonly k: 'bool'; readonly op: 'AND' | 'OR'; readonly args: readonly Expr[] }
  | { readonly k: 'not'; readonly arg: Expr }
  | { readonly k: 'nulltest'; readonly arg: Expr; readonly not: boolean }
  | { readonly k: 'cast'; readonly arg: Expr; readonly type: ColumnType }
  | { readonly k: 'func'; readonly name: string; readonly args: readonly Expr[]; readonly type: TypeName }
  | { readonly k: 'any'; readonly l: Expr; readonly op: string; readonly quantifier: 'ANY' | 'ALL'; readonly items: readonly Expr[] };

const COMPARISON = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
const LIKE_OPS: Readonly<Record<string, string>> = { LIKE: '~~', 'NOT LIKE': '!~~', ILIKE: '~~*', 'NOT ILIKE': '!~~*' };

function typeOf(e: Expr): TypeName {
  switch (e.k) {
    case 'atom':
    case 'op':
    case 'func':
    case 'cast':
      return e.type;
    default:
      return 'bool';
  }
}

type Family = 'int' | 'numeric' | 'float' | 'string' | 'other';

function family(t: TypeName): Family {
  if (t === 'int2' || t === 'int4' || t === 'int8') return 'int';
  if (t === 'numeric') return 'numeric';
  if (t === 'float4' || t === 'float8') return 'float';
  if (t === 'text' || t === 'varchar' || t === 'bpchar') return 'string';
  return 'other';
}

const INT_RANK: Readonly<Record<string, number>> = { int2: 1, int4: 2, int8: 3 };

function cast(e: Expr, type: ColumnType): Expr {
  return { k: 'cast', arg: e, type };
}

/** An untyped string literal takes the other side's type; varchar compares as text, as in PostgreSQL. */
function resolveLiteral(e: Expr, to: TypeName): Expr {
  if (e.k !== 'atom' || e.type !== 'literal') return e;
  const type: ColumnType = to === 'literal' || to === 'unknown' || to === 'varchar' ? 'text' : to;
  return { k: 'atom', text: `${e.text}::${castName(type)}`, type, labelled: true };
}

/** The implicit casts PostgreSQL's operator resolution adds around `l op r`, and the result type. */
function coerce(op: string, l0: Expr, r0: Expr): Expr {
  let l = resolveLiteral(l0, typeOf(r0));
  let r = resolveLiteral(r0, typeOf(l0));
  const lt = typeOf(l);
  const rt = typeOf(r);
  const lf = family(lt);
  const rf = family(rt);
  let type: TypeName = COMPARISON.has(op) || op.includes('~') ? 'bool' : lt;
  if (lf === 'int' && rf === 'int') {
    if (type !== 'bool') type = (INT_RANK[lt] ?? 0) >= (INT_RANK[rt] ?? 0) ? lt : rt;
  } else if ((lf === 'int' || lf === 'numeric') && (rf === 'int' || rf === 'numeric') && lf !== rf) {
    if (lf === 'int') l = cast(l, 'numeric');
    else r = cast(r, 'numeric');
    if (type !== 'bool') type = 'numeric';
  } else if (lf === 'float' || rf === 'float') {
    // Cross-type float4/float8 operators exist; anything else goes to the preferred float8.
    if (lf !== 'float' && lf !== 'other') l = cast(l, 'float8');
    if (rf !== 'float' && rf !== 'other') r = cast(r, 'float8');
    if (type !== 'bool') type = 'float8';
  } else if (lf === 'string' && rf === 'string') {
    // varchar has no operators of its own: it is compared as text, and so is bpchar against text.
    const asText = lt === 'varchar' || rt === 'varchar' || lt !== rt || op.includes('~');
    if (asText && lt === 'varchar') l = cast(l, 'text');
    if (asText && rt === 'varchar') r = cast(r, 'text');
    if (asText && lt === 'bpchar' && rt !== 'bpchar' && !op.includes('~')) l = cast(l, 'text');
    if (type !== 'bool') type = 'text';
  }
  return { k: 'op', op, l, r, type };
}

function columnRef(n: Node, table: TableModel): Expr {
  const col = isNode(n.column) && isNode(n.column.expr) ? n.column.expr.value : n.column;
  const name = String(col);
  const c = table.columns.find((x) => x.def.name === name);
  return { k: 'atom', text: quoteIdent(name), type: c === undefined ? 'unknown' : c.type.name, labelled: false };
}

function toExpr(v: unknown, table: TableModel): Expr {
  if (!isNode(v)) return { k: 'atom', text: String(v), type: 'unknown', labelled: false };
  switch (v.type) {
    case 'column_ref':
      return columnRef(v, table);
    case 'number': {
      const c = decimalConst(String(v.value));
      const integral = /^-?\d+$/.test(String(v.value));
      const big = integral ? BigInt(String(v.value)) : 0n;
      const type: TypeName = !integral ? 'numeric' : big >= INT4_MIN && big <= INT4_MAX ? 'int4' : big >= INT8_MIN && big <= INT8_MAX ? 'int8' : 'numeric';
      return { k: 'atom', text: c.text, type, labelled: c.labelled };
    }
    case 'single_quote_string':
    case 'string':
      return { k: 'atom', text: quoteLiteral(String(v.value)), type: 'literal', labelled: false };
    case 'bool':
      return { k: 'atom', text: v.value === true ? 'true' : 'false', type: 'bool', labelled: false };
    case 'null':
      return { k: 'atom', text: 'NULL', type: 'unknown', labelled: false };
    case 'unary_expr': {
      const arg = toExpr(v.expr, table);
      if (v.operator === '-' && arg.k === 'atom' && /^\d/.test(arg.text) && (arg.type === 'int4' || arg.type === 'int8' || arg.type === 'numeric')) {
        return toExpr({ type: 'number', value: `-${arg.text}` }, table);
      }
      if (String(v.operator).toUpperCase() === 'NOT') return { k: 'not', arg };
      return { k: 'atom', text: `(${String(v.operator)} ${render(arg, false, null)})`, type: typeOf(arg), labelled: false };
    }
    case 'binary_expr':
      return binary(v, table);
    case 'function': {
      const names = isNode(v.name) && Array.isArray(v.name.name) ? v.name.name.map((p: unknown) => (isNode(p) ? String(p.value) : String(p))) : [String(v.name)];
      const fn = (names.at(-1) ?? '').toLowerCase();
      const args = isNode(v.args) && Array.isArray(v.args.value) ? v.args.value.map((a: unknown) => toExpr(a, table)) : [];
      if (fn === 'not' && args.length === 1) return { k: 'not', arg: args[0] as Expr };
      const type: TypeName = ['length', 'char_length', 'character_length', 'octet_length'].includes(fn) ? 'int4' : ['lower', 'upper', 'trim', 'btrim'].includes(fn) ? 'text' : 'unknown';
      return { k: 'func', name: fn, args, type };
    }
    default:
      return { k: 'atom', text: checkParser.exprToSQL(v as never, { database: 'PostgresQL' }), type: 'unknown', labelled: false };
  }
}

function binary(v: Node, table: TableModel): Expr {
  const op = String(v.operator).toUpperCase();
  const l = toExpr(v.left, table);
  if (op === 'AND' || op === 'OR') {
    const r = toExpr(v.right, table);
    // a AND b AND c is one BoolExpr with three arguments in PostgreSQL.
    const flat = (e: Expr): readonly Expr[] => (e.k === 'bool' && e.op === op ? e.args : [e]);
    return { k: 'bool', op, args: [...flat(l), ...flat(r)] };
  }
  if (op === 'IS' || op === 'IS NOT') {
    const right = isNode(v.right) ? v.right : null;
    if (right?.type === 'null') return { k: 'nulltest', arg: l, not: op === 'IS NOT' };
  }
  const items = isNode(v.right) && v.right.type === 'expr_list' && Array.isArray(v.right.value) ? v.right.value.map((x: unknown) => toExpr(x, table)) : null;
  if ((op === 'BETWEEN' || op === 'NOT BETWEEN') && items !== null && items.length === 2) {
    const [lo, hi] = items as [Expr, Expr];
    if (op === 'BETWEEN') return { k: 'bool', op: 'AND', args: [coerce('>=', l, lo), coerce('<=', l, hi)] };
    return { k: 'bool', op: 'OR', args: [coerce('<', l, lo), coerce('>', l, hi)] };
  }
  if ((op === 'IN' || op === 'NOT IN') && items !== null) {
    const first = items[0];
    const probe = first === undefined ? null : coerce('=', l, first);
    const left = probe !== null && probe.k === 'op' ? probe.l : l;
    const quantifier = op === 'IN' ? 'ANY' : 'ALL';
    return { k: 'any', l: left, op: op === 'IN' ? '=' : '<>', quantifier, items: items.map((x) => resolveLiteral(x, typeOf(l))) };
  }
  const r = toExpr(v.right, table);
  return coerce(LIKE_OPS[op] ?? (op === '!=' ? '<>' : op.toLowerCase()), l, r);
}

/** The node kinds ruleutils.c's isSimpleNode compares: what decides the parentheses in pretty mode. */
function simpleUnder(e: Expr, parent: Expr | null): boolean {
  if (parent === null) return true;
  switch (e.k) {
    case 'atom':
    case 'func':
    case 'cast':
      return true;
    case 'op': {
      if (parent.k === 'op') {
        const lo = (o: string): boolean => o === '+' || o === '-';
        const hi = (o: string): boolean => o === '*' || o === '/' || o === '%';
        if (!ARITHMETIC.has(e.op) || !ARITHMETIC.has(parent.op)) return false;
        if (hi(e.op) && lo(parent.op)) return true;
        if (lo(e.op) && hi(parent.op)) return false;
        return parent.l === e;
      }
      return parent.k === 'bool' || parent.k === 'not';
    }
    case 'nulltest':
      return parent.k === 'bool' || parent.k === 'not';
    case 'any':
      return parent.k === 'bool' || parent.k === 'not';
    case 'not':
      return parent.k === 'bool';
    case 'bool':
      if (parent.k !== 'bool') return false;
      return e.op === 'AND' || parent.op === 'OR';
  }
}

function render(e: Expr, pretty: boolean, parent: Expr | null): string {
  const inner = renderBare(e, pretty);
  if (pretty) return simpleUnder(e, parent) ? inner : `(${inner})`;
  // Without pretty-printing every operator, boolean and null-test node carries its own parentheses.
  return e.k === 'op' || e.k === 'bool' || e.k === 'not' || e.k === 'nulltest' || e.k === 'any' ? `(${inner})` : inner;
}

function renderBare(e: Expr, pretty: boolean): string {
  switch (e.k) {
    case 'atom':
      return e.text;
    case 'op':
      return `${render(e.l, pretty, e)} ${e.op} ${render(e.r, pretty, e)}`;
    case 'bool':
      return e.args.map((a) => render(a, pretty, e)).join(` ${e.op} `);
    case 'not':
      return `NOT ${render(e.arg, pretty, e)}`;
    case 'nulltest':
      return `${render(e.arg, pretty, e)} IS ${e.not ? 'NOT ' : ''}NULL`;
    case 'func':
      return `${e.name}(${e.args.map((a) => render(a, pretty, null)).join(', ')})`;
    case 'any':
      return `${render(e.l, pretty, e)} ${e.op} ${e.quantifier} (ARRAY[${e.items.map((a) => render(a, pretty, null)).join(', ')}])`;
    case 'cast': {
      const arg = render(e.arg, pretty, e);
      // Outside pretty mode the argument of a cast is always parenthesized: (0)::numeric.
      const wrapped = pretty ? (e.arg.k === 'atom' || e.arg.k === 'func' || e.arg.k === 'cast' ? arg : `(${arg})`) : `(${arg})`;
      return `${wrapped}::${castName(e.type)}`;
    }
  }
}

const { Parser } = nodeSqlParser;
const checkParser = new Parser();

/**
 * A stored CHECK expression as pg_get_expr prints it (inside the `CHECK (…)` of pg_get_constraintdef).
 * Text the parser cannot read back is shown as stored.
 */
export function checkExpr(sql: string, table: TableModel, pretty: boolean): string {
  let tree: unknown;
  try {
    const ast = checkParser.astify(`SELECT ${sql}`, { database: 'PostgresQL' });
    const stmt = Array.isArray(ast) ? ast[0] : ast;
    tree = isNode(stmt) && Array.isArray(stmt.columns) && isNode(stmt.columns[0]) ? stmt.columns[0].expr : undefined;
  } catch {
    return sql;
  }
  if (tree === undefined) return sql;
  return render(toExpr(tree, table), pretty, null);
}

function columnList(table: TableModel, attnums: readonly number[]): string {
  return attnums.map((n) => quoteIdent(table.columns[n - 1]?.def.name ?? `?${n}`)).join(', ');
}

/** pg_get_constraintdef(oid, pretty). */
export function constraintDef(c: ConstraintModel, pretty: boolean): string {
  switch (c.contype) {
    case 'p':
      return `PRIMARY KEY (${columnList(c.table, c.attnums)})`;
    case 'u':
      return `UNIQUE (${columnList(c.table, c.attnums)})`;
    case 'c': {
      const e = checkExpr(c.checkSql ?? '', c.table, pretty);
      return `CHECK (${e})`;
    }
  }
}

/**
 * pg_get_indexdef(oid, column, pretty): the whole CREATE INDEX for column 0, else that key column's
 * name ('' past the last). Pretty mode leaves out the schema of a table on the search path.
 */
export function indexDef(ix: IndexModel, column: number, pretty: boolean, tableVisible: boolean): string {
  if (column > 0) {
    const attnum = ix.attnums[column - 1];
    return attnum === undefined ? '' : quoteIdent(ix.table.columns[attnum - 1]?.def.name ?? '');
  }
  const table = (pretty && tableVisible ? '' : 'public.') + quoteIdent(ix.table.table.name);
  return `CREATE UNIQUE INDEX ${quoteIdent(ix.name)} ON ${table} USING btree (${columnList(ix.table, ix.attnums)})`;
}
