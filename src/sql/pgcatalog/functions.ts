// The SQL functions tools call on the catalogs (psql's \d family, ORM introspection): format_type,
// pg_get_indexdef, pg_get_constraintdef, the visibility tests, current_schema(), version(), … Each
// behaves as PostgreSQL 15's function of the same name, over OrdoDB's catalog (model.ts). Arrays in
// the virtual catalogs are text in PostgreSQL's array syntax (relations.ts), and the few array
// functions here work on that form.

import type { Value } from '../../partitions/index.js';
import { OrdoError } from '../../util/index.js';
import type { CatalogContext, CatalogFunction } from '../query/relation.js';
import { SqlStateX, T, type SqlType } from '../types.js';
import { PgType } from '../wire/index.js';
import { constraintDef, formatBuiltinType, indexDef, quoteIdent } from './deparse.js';
import { catalogModel } from './model.js';
import { BUILTIN_TYPES, Oid, builtinType } from './oids.js';
import type { ProcInfo } from './relations.js';
import { SCHEMAS, currentSchema, explicitPath, searchPath } from './settings.js';

export const OrdoVersion = '0.1.0';

/** When this process started, for pg_postmaster_start_time(): read-only information, never state. */
const startedAtMicros = BigInt(Math.round((Date.now() - process.uptime() * 1000) * 1000));

function oidArg(v: Value | undefined): number | null {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
  return null;
}

function boolArg(v: Value | undefined): boolean {
  if (typeof v === 'string') return ['t', 'true', 'on', 'yes', '1'].includes(v.trim().toLowerCase());
  return v === true;
}

function textArg(v: Value | undefined): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v);
}

function schemaVisible(ctx: CatalogContext, schema: string): boolean {
  return searchPath(ctx).includes(schema);
}

/** Splits `a.b` / `"A"."b"` into identifiers, folding unquoted ones to lower case as PostgreSQL does. */
export function parseQualifiedName(text: string): string[] | null {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^".\s]+))\s*(\.|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    parts.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] ?? '').toLowerCase());
    if (m[3] === '') break;
  }
  return parts.length === 0 || parts.length > 3 ? null : parts;
}

/** The OID of a table or index by (possibly qualified) name, as regclass input finds it; null when none. */
export function lookupRelation(ctx: CatalogContext, text: string): number | null {
  const parts = parseQualifiedName(text);
  if (parts === null) return null;
  const name = parts.at(-1) ?? '';
  const schema = parts.length >= 2 ? parts.at(-2) : undefined;
  if (parts.length === 3 && parts[0] !== ctx.database) return null;
  if (schema !== undefined ? schema !== 'public' : !schemaVisible(ctx, 'public')) return null;
  const m = catalogModel(ctx.catalog);
  const table = m.tableByName.get(name);
  if (table !== undefined) return table.oid;
  for (const t of m.tables) for (const ix of t.indexes) if (ix.name === name) return ix.oid;
  return null;
}

/** regclass output: the relation's name, schema-qualified when not on the search path, else the number. */
export function relationName(ctx: CatalogContext, oid: number): string {
  const m = catalogModel(ctx.catalog);
  const name = m.tableByOid.get(oid)?.table.name ?? m.indexByOid.get(oid)?.name;
  if (name === undefined) return String(oid);
  return schemaVisible(ctx, 'public') ? quoteIdent(name) : `public.${quoteIdent(name)}`;
}

const TYPE_ALIASES: Readonly<Record<string, number>> = {
  int: PgType.int4.oid, integer: PgType.int4.oid, smallint: PgType.int2.oid, bigint: PgType.int8.oid, real: PgType.float4.oid,
  'double precision': PgType.float8.oid, float: PgType.float8.oid, boolean: PgType.bool.oid, decimal: PgType.numeric.oid,
  'character varying': PgType.varchar.oid, character: PgType.bpchar.oid, char: PgType.bpchar.oid, '"char"': 18,
  'timestamp without time zone': PgType.timestamp.oid, 'timestamp with time zone': PgType.timestamptz.oid,
};

/** regtype input: a type name as format_type prints it or as its typname, with an optional typmod and []. */
export function lookupType(ctx: CatalogContext, text: string): number | null {
  let name = text.trim().toLowerCase().replace(/^pg_catalog\./, '');
  const isArray = name.endsWith('[]');
  if (isArray) name = name.slice(0, -2).trim();
  name = name.replace(/\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\)/, '').replace(/\s+/g, ' ');
  let oid: number | null = TYPE_ALIASES[name] ?? BUILTIN_TYPES.find((t) => t.name === name)?.oid ?? null;
  if (oid === null && !isArray) {
    const rel = lookupRelation(ctx, name);
    const table = rel === null ? undefined : catalogModel(ctx.catalog).tableByOid.get(rel);
    return table?.rowTypeOid ?? null;
  }
  if (oid !== null && isArray) oid = builtinType(oid)?.array ?? null;
  return oid === 0 ? null : oid;
}

/** format_type(oid, typmod): built-in types by PostgreSQL's rules, a table's row type by the table's name. */
export function formatType(ctx: CatalogContext, oid: number, typmod: number | null): string {
  const builtin = formatBuiltinType(oid, typmod);
  if (builtin !== null) return builtin;
  const m = catalogModel(ctx.catalog);
  const t = m.tables.find((x) => x.rowTypeOid === oid);
  if (t === undefined) return '???';
  return schemaVisible(ctx, 'public') ? quoteIdent(t.table.name) : `public.${quoteIdent(t.table.name)}`;
}

const NAMESPACE_OIDS: Readonly<Record<string, number>> = { pg_catalog: Oid.pgCatalog, public: Oid.public, information_schema: Oid.informationSchema };

/**
 * PostgreSQL's array text ('{a,"b c",NULL}') or vector text ('1 2') → elements and the subscript of
 * the first (1 for arrays, 0 for int2vector/oidvector, as in PostgreSQL).
 */
export function parseArrayText(text: string): { elements: (string | null)[]; lower: number } {
  const t = text.trim();
  if (!t.startsWith('{')) return { elements: t === '' ? [] : t.split(/\s+/), lower: 0 };
  const elements: (string | null)[] = [];
  const body = t.slice(1, t.lastIndexOf('}'));
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < body.length && (m = re.exec(body)) !== null) {
    if (m[1] !== undefined) elements.push(m[1].replace(/\\(.)/g, '$1'));
    else elements.push(m[2]?.toUpperCase() === 'NULL' ? null : (m[2] ?? ''));
    if (m[0] === '') break;
  }
  return { elements, lower: 1 };
}

/** pg_size_pretty(bigint), PostgreSQL 15's rounding and units. */
export function sizePretty(bytes: bigint): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  const limit = 10n * 1024n;
  const abs = (x: bigint): bigint => (x < 0n ? -x : x);
  if (abs(bytes) < limit) return `${bytes} bytes`;
  // One extra bit is kept for rounding half away from zero, and dropped after.
  let size = bytes >> 9n;
  for (let u = 1; ; u++) {
    if (abs(size) < limit * 2n - 1n || u === units.length - 1) {
      const rounded = (size + (size < 0n ? -1n : 1n)) / 2n;
      return `${rounded} ${units[u] ?? 'PB'}`;
    }
    size >>= 10n;
  }
}

/** A catalog function with, when PostgreSQL has it, its pg_proc entry (oid, argument types, volatility). */
interface Def {
  readonly name: string;
  readonly returns: SqlType;
  readonly call: (ctx: CatalogContext, args: readonly Value[]) => Value;
  readonly proc?: readonly [oid: number, argTypes: readonly number[], volatility: 'i' | 's' | 'v'];
}

const NAME = 19;
const OID = 26;
const TEXT = 25;
const INT4 = 23;
const BOOL = 16;

const int4: SqlType = T.int4;
const always = (v: Value) => (): Value => v;

const DEFS: readonly Def[] = [
  {
    name: 'format_type',
    returns: T.text,
    call: (ctx, [oid, typmod]) => {
      const o = oidArg(oid);
      return o === null ? null : formatType(ctx, o, oidArg(typmod) ?? (typeof typmod === 'bigint' ? Number(typmod) : null));
    },
    proc: [1081, [OID, INT4], 's'],
  },
  {
    name: 'pg_get_indexdef',
    returns: T.text,
    call: (ctx, [oid, column, pretty]) => {
      const ix = catalogModel(ctx.catalog).indexByOid.get(oidArg(oid) ?? -1);
      if (ix === undefined) return null;
      return indexDef(ix, column === undefined || column === null ? 0 : Number(column), boolArg(pretty), schemaVisible(ctx, 'public'));
    },
    proc: [2507, [OID, INT4, BOOL], 's'],
  },
  {
    name: 'pg_get_constraintdef',
    returns: T.text,
    call: (ctx, [oid, pretty]) => {
      const c = catalogModel(ctx.catalog).constraintByOid.get(oidArg(oid) ?? -1);
      return c === undefined ? null : constraintDef(c, boolArg(pretty));
    },
    proc: [2508, [OID, BOOL], 's'],
  },
  // adbin and conbin already hold the expression as PostgreSQL prints it (relations.ts).
  { name: 'pg_get_expr', returns: T.text, call: (_ctx, [expr]) => textArg(expr), proc: [2509, [194, OID, BOOL], 's'] },
  {
    name: 'pg_table_is_visible',
    returns: T.bool,
    call: (ctx, [oid]) => {
      const o = oidArg(oid);
      const m = catalogModel(ctx.catalog);
      if (o === null || (!m.tableByOid.has(o) && !m.indexByOid.has(o))) return null;
      return schemaVisible(ctx, 'public');
    },
    proc: [2079, [OID], 's'],
  },
  {
    name: 'pg_type_is_visible',
    returns: T.bool,
    call: (ctx, [oid]) => {
      const o = oidArg(oid);
      if (o === null) return null;
      if (builtinType(o) !== undefined) return true;
      return catalogModel(ctx.catalog).tables.some((t) => t.rowTypeOid === o) ? schemaVisible(ctx, 'public') : null;
    },
    proc: [2080, [OID], 's'],
  },
  { name: 'pg_function_is_visible', returns: T.bool, call: always(true), proc: [2081, [OID], 's'] },
  {
    name: 'pg_get_userbyid',
    returns: T.text,
    call: (ctx, [oid]) => {
      const o = oidArg(oid);
      if (o === null) return null;
      if (o === Oid.bootstrapRole) return ctx.user;
      if (o === Oid.databaseOwnerRole) return 'pg_database_owner';
      return `unknown (OID=${o})`;
    },
    proc: [1642, [OID], 's'],
  },
  // OrdoDB keeps no comments.
  { name: 'obj_description', returns: T.text, call: always(null), proc: [1215, [OID, NAME], 's'] },
  { name: 'col_description', returns: T.text, call: always(null), proc: [1216, [OID, INT4], 's'] },
  { name: 'shobj_description', returns: T.text, call: always(null), proc: [1993, [OID, NAME], 's'] },
  { name: 'current_schema', returns: T.text, call: (ctx) => currentSchema(ctx), proc: [1402, [], 's'] },
  {
    name: 'current_schemas',
    returns: T.text,
    call: (ctx, [implicit]) => {
      const path = boolArg(implicit) ? searchPath(ctx) : explicitPath(ctx);
      return `{${path.join(',')}}`;
    },
    proc: [1403, [BOOL], 's'],
  },
  { name: 'current_database', returns: T.text, call: (ctx) => ctx.database, proc: [861, [], 's'] },
  { name: 'current_user', returns: T.text, call: (ctx) => ctx.user, proc: [745, [], 's'] },
  { name: 'session_user', returns: T.text, call: (ctx) => ctx.user, proc: [746, [], 's'] },
  { name: 'user', returns: T.text, call: (ctx) => ctx.user },
  { name: 'current_role', returns: T.text, call: (ctx) => ctx.user },
  {
    name: 'version',
    returns: T.text,
    call: (ctx) => {
      // Tools read the PostgreSQL version from the front of this string (/^PostgreSQL (\d+)\.(\d+)/).
      const pg = (ctx.setting('server_version') ?? '15.0').split(' ')[0] ?? '15.0';
      return `PostgreSQL ${pg} (OrdoDB ${OrdoVersion}) on ${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-pc-linux-gnu, compiled by Node.js ${process.versions.node}, 64-bit`;
    },
    proc: [89, [], 's'],
  },
  { name: 'pg_encoding_to_char', returns: T.text, call: (_ctx, [enc]) => (oidArg(enc) === Oid.utf8Encoding ? 'UTF8' : ''), proc: [1597, [INT4], 's'] },
  // OrdoDB has no per-object privileges yet: every user may do everything.
  { name: 'has_table_privilege', returns: T.bool, call: always(true), proc: [1922, [NAME, TEXT, TEXT], 's'] },
  { name: 'has_schema_privilege', returns: T.bool, call: always(true), proc: [2268, [NAME, TEXT, TEXT], 's'] },
  { name: 'has_database_privilege', returns: T.bool, call: always(true), proc: [2250, [NAME, TEXT, TEXT], 's'] },
  { name: 'has_column_privilege', returns: T.bool, call: always(true) },
  { name: 'has_sequence_privilege', returns: T.bool, call: always(true) },
  // The interface carries no session process id: the server process's is the nearest stand-in.
  { name: 'pg_backend_pid', returns: int4, call: () => BigInt(process.pid), proc: [2026, [], 's'] },
  { name: 'pg_postmaster_start_time', returns: T.timestamptz, call: () => startedAtMicros, proc: [2560, [], 's'] },
  { name: 'pg_is_in_recovery', returns: T.bool, call: always(false), proc: [3810, [], 'v'] },
  { name: 'quote_ident', returns: T.text, call: (_ctx, [s]) => (textArg(s) === null ? null : quoteIdent(textArg(s) ?? '')), proc: [1282, [TEXT], 'i'] },
  {
    name: 'array_to_string',
    returns: T.text,
    call: (_ctx, [arr, sep, nullText]) => {
      const a = textArg(arr);
      const s = textArg(sep);
      if (a === null || s === null) return null;
      const n = textArg(nullText);
      return parseArrayText(a).elements.flatMap((e) => (e === null ? (n === null ? [] : [n]) : [e])).join(s);
    },
    proc: [384, [2277, TEXT, TEXT], 's'],
  },
  {
    name: 'array_upper',
    returns: int4,
    call: (_ctx, [arr, dim]) => {
      const a = textArg(arr);
      if (a === null || oidArg(dim) !== 1) return null;
      const { elements, lower } = parseArrayText(a);
      return elements.length === 0 ? null : BigInt(lower + elements.length - 1);
    },
    proc: [2092, [2277, INT4], 'i'],
  },
  {
    // What rewritePsqlQuery turns `array[subscript]` into when the subscript is not a literal (the
    // parser reads only literal subscripts). 'unknown' like a literal, so it takes the type it meets.
    name: 'ordo_array_element',
    returns: T.unknown,
    call: (_ctx, [arr, index]) => {
      const a = textArg(arr);
      const i = oidArg(index);
      if (a === null || i === null) return null;
      const { elements, lower } = parseArrayText(a);
      return elements[i - lower] ?? null;
    },
  },
  { name: 'pg_get_serial_sequence', returns: T.text, call: always(null), proc: [1665, [TEXT, TEXT], 's'] },
  { name: 'pg_get_statisticsobjdef_columns', returns: T.text, call: always(null), proc: [6174, [OID], 's'] },
  { name: 'pg_get_viewdef', returns: T.text, call: always(null), proc: [2505, [TEXT, BOOL], 's'] },
  { name: 'pg_get_triggerdef', returns: T.text, call: always(null), proc: [2730, [OID, BOOL], 's'] },
  { name: 'pg_get_partkeydef', returns: T.text, call: always(null), proc: [3352, [OID], 's'] },
  {
    name: 'pg_relation_is_publishable',
    returns: T.bool,
    call: (ctx, [oid]) => catalogModel(ctx.catalog).tableByOid.has(oidArg(oid) ?? -1),
    proc: [6121, [2205], 's'],
  },
  // OrdoDB does not account storage per relation; the sizes tools show (\dt+) read as empty.
  { name: 'pg_table_size', returns: T.int8, call: always(0n), proc: [2997, [2205], 'v'] },
  { name: 'pg_relation_size', returns: T.int8, call: always(0n), proc: [2332, [2205, TEXT], 'v'] },
  { name: 'pg_total_relation_size', returns: T.int8, call: always(0n), proc: [2286, [2205], 'v'] },
  {
    name: 'pg_size_pretty',
    returns: T.text,
    call: (_ctx, [n]) => (typeof n === 'bigint' ? sizePretty(n) : typeof n === 'number' ? sizePretty(BigInt(Math.trunc(n))) : null),
    proc: [2288, [20], 'i'],
  },
  {
    name: 'current_setting',
    returns: T.text,
    call: (ctx, [name, missingOk]) => {
      const n = textArg(name);
      if (n === null) return null;
      const v = ctx.setting(n);
      if (v !== undefined) return v;
      if (boolArg(missingOk)) return null;
      throw new OrdoError(SqlStateX.undefinedObject, `unrecognized configuration parameter "${n}"`);
    },
    proc: [3294, [TEXT, BOOL], 's'],
  },
  { name: 'to_regclass', returns: int4, call: (ctx, [s]) => regOid(lookupRelation(ctx, textArg(s) ?? '')), proc: [3495, [TEXT], 's'] },
  { name: 'to_regtype', returns: int4, call: (ctx, [s]) => regOid(lookupType(ctx, textArg(s) ?? '')), proc: [3493, [TEXT], 's'] },
  { name: 'to_regnamespace', returns: int4, call: (_ctx, [s]) => regOid(namespaceOid(textArg(s) ?? '')), proc: [4086, [TEXT], 's'] },
  // The reg* input and output functions: how the query engine evaluates `'t'::regclass` (text → OID,
  // an error when there is none, like the cast) and shows a regclass/regtype/regnamespace value.
  {
    name: 'regclassin',
    returns: int4,
    call: (ctx, [s]) => regIn(s, (text) => lookupRelation(ctx, text), (text) => new OrdoError(SqlStateX.undefinedTable, `relation "${text}" does not exist`)),
    proc: [2218, [2275], 's'],
  },
  { name: 'regclassout', returns: T.text, call: (ctx, [oid]) => regOut(oid, (o) => relationName(ctx, o)), proc: [2219, [2205], 's'] },
  {
    name: 'regtypein',
    returns: int4,
    call: (ctx, [s]) => regIn(s, (text) => lookupType(ctx, text), (text) => new OrdoError(SqlStateX.undefinedObject, `type "${text}" does not exist`)),
    proc: [2220, [2275], 's'],
  },
  { name: 'regtypeout', returns: T.text, call: (ctx, [oid]) => regOut(oid, (o) => (formatType(ctx, o, -1) === '???' ? String(o) : formatType(ctx, o, -1))), proc: [2221, [2206], 's'] },
  {
    name: 'regnamespacein',
    returns: int4,
    call: (_ctx, [s]) => regIn(s, namespaceOid, (text) => new OrdoError('3F000', `schema "${text}" does not exist`)),
    proc: [4084, [2275], 's'],
  },
  {
    name: 'regnamespaceout',
    returns: T.text,
    call: (_ctx, [oid]) => regOut(oid, (o) => Object.entries(NAMESPACE_OIDS).find(([, v]) => v === o)?.[0] ?? String(o)),
    proc: [4085, [4089], 's'],
  },
];

function regOid(oid: number | null): Value {
  return oid === null ? null : BigInt(oid);
}

/** A reg* input function: a number is taken as the OID itself, a name must exist (as the cast requires). */
function regIn(v: Value | undefined, lookup: (text: string) => number | null, missing: (text: string) => OrdoError): Value {
  const text = textArg(v);
  if (text === null) return null;
  if (/^\s*\d+\s*$/.test(text)) return BigInt(text.trim());
  const oid = lookup(text);
  if (oid === null) throw missing(text);
  return BigInt(oid);
}

function regOut(v: Value | undefined, name: (oid: number) => string): Value {
  const oid = oidArg(v);
  if (oid === null) return null;
  // PostgreSQL shows InvalidOid as '-'.
  return oid === 0 ? '-' : name(oid);
}

function namespaceOid(text: string): number | null {
  const parts = parseQualifiedName(text);
  const name = parts?.length === 1 ? parts[0] : undefined;
  return name !== undefined && (SCHEMAS as readonly string[]).includes(name) ? (NAMESPACE_OIDS[name] ?? null) : null;
}

/** The catalog functions, for the query engine (looked up by lower-case, unqualified name). */
export const catalogFunctions: readonly CatalogFunction[] = DEFS.map(({ name, returns, call }) => ({ name, returns, call }));

function typeOidOf(t: SqlType): number {
  return t.name === 'unknown' ? PgType.unknown.oid : PgType[t.name].oid;
}

/** pg_proc's rows: the catalog functions PostgreSQL also has. */
export const catalogProcs: readonly ProcInfo[] = DEFS.flatMap((d) =>
  d.proc === undefined ? [] : [{ name: d.name, oid: d.proc[0], returnsOid: typeOidOf(d.returns), argTypes: d.proc[1], volatility: d.proc[2] }],
);
