// pg_catalog and information_schema built from OrdoDB's catalog: the rows tools read and the functions
// they call, checked against what PostgreSQL 15.18 shows for the same schema
// (test/fixtures/psql/schema.sql), and the rewrite that makes psql's catalog queries parseable.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodeSqlParser from 'node-sql-parser/build/postgresql.js';
import { encodeTuple, type Value } from '../src/partitions/index.js';
import type { Catalog, CatalogTable, ColumnDef } from '../src/sequencer/index.js';
import type { CatalogContext, VirtualRelation } from '../src/sql/query/relation.js';
import { catalogFunctions, parseArrayText, pgCatalogRelations, rewritePsqlQuery } from '../src/sql/pgcatalog/index.js';
import { repoRoot } from '../src/util/index.js';

const value = (v: Value): { kind: 'value'; tupleHex: string } => ({ kind: 'value', tupleHex: encodeTuple([v]).toString('hex') });

function col(name: string, type: ColumnDef['type'], extra: Partial<ColumnDef> = {}): ColumnDef {
  return { name, type, length: null, scale: null, notNull: false, default: null, ...extra };
}

/** schema.sql as OrdoDB's CREATE TABLE records it. */
const TABLES: readonly CatalogTable[] = [
  {
    id: 1, createdAt: 1, name: 'customers', primaryKey: [0],
    columns: [
      col('id', 'int4', { notNull: true }), col('email', 'varchar', { length: 100, notNull: true }), col('name', 'text', { notNull: true }),
      col('created_at', 'timestamptz', { default: { kind: 'now' } }), col('active', 'bool', { default: value(true) }),
    ],
    uniques: [{ name: 'customers_email_key', columns: [1], index: 1 }],
  },
  {
    id: 2, createdAt: 2, name: 'products', primaryKey: [0],
    columns: [
      col('sku', 'varchar', { length: 20, notNull: true }), col('title', 'text', { notNull: true }),
      col('price', 'numeric', { length: 10, scale: 2, notNull: true }), col('stock', 'int4', { default: value(0n) }),
    ],
    uniques: [{ name: 'products_title_key', columns: [1], index: 1 }],
    checks: [{ name: 'products_price_check', sql: 'price >= 0' }],
  },
  {
    id: 3, createdAt: 3, name: 'orders', primaryKey: [0],
    columns: [
      col('id', 'int8', { notNull: true }), col('customer_id', 'int4', { notNull: true }), col('sku', 'varchar', { length: 20, notNull: true }),
      col('qty', 'int2', { notNull: true, default: value(1n) }), col('placed', 'date'), col('note', 'bpchar', { length: 10, default: value('none') }),
    ],
    uniques: [{ name: 'orders_customer_id_sku_key', columns: [1, 2], index: 1 }],
    checks: [{ name: 'orders_qty_check', sql: 'qty > 0' }],
  },
  {
    id: 4, createdAt: 4, name: 'events', primaryKey: [],
    columns: [col('id', 'uuid'), col('payload', 'bytea'), col('ratio', 'float8'), col('score', 'float4'), col('seen_at', 'timestamp')],
  },
];

const CATALOG: Catalog = { version: 4, nextTableId: 5, tables: TABLES };

function context(catalog: Catalog = CATALOG, settings: Readonly<Record<string, string>> = {}): CatalogContext {
  const all: Record<string, string> = { search_path: '"$user", public', server_version: '15.0 (OrdoDB)', TimeZone: 'UTC', ...settings };
  return { catalog, setting: (name) => all[name], user: 'postgres', database: 'postgres' };
}

function relation(name: string, ctx = context()): VirtualRelation {
  const [schema, rel] = name.includes('.') ? name.split('.') : ['pg_catalog', name];
  const found = pgCatalogRelations(ctx).find((r) => r.schema === schema && r.name === rel);
  if (found === undefined) throw new Error(`no relation ${name}`);
  return found;
}

type Row = Readonly<Record<string, Value>>;

function rows(name: string, ctx = context()): Row[] {
  const r = relation(name, ctx);
  return [...r.rows()].map((values) => Object.fromEntries(r.columns.map((c, i) => [c.name, values[i] ?? null])));
}

function pick(rs: readonly Row[], ...keys: string[]): Record<string, Value>[] {
  return rs.map((r) => Object.fromEntries(keys.map((k) => [k, r[k] ?? null])));
}

function call(name: string, args: readonly Value[], ctx = context()): Value {
  const fn = catalogFunctions.find((f) => f.name === name);
  if (fn === undefined) throw new Error(`no function ${name}`);
  return fn.call(ctx, args);
}

/** The OID PostgreSQL's conventions give an object: tables from 16384, one block of 8192 OIDs each. */
const oidOf = (tableId: number, offset = 0): bigint => BigInt(16_384 + (tableId - 1) * 8_192 + offset);
const CUSTOMERS = oidOf(1);
const PRODUCTS = oidOf(2);
const ORDERS = oidOf(3);

t.test('pg_class lists each table as relkind r and the index of each PRIMARY KEY and UNIQUE as relkind i', async (t) => {
  t.same(pick(rows('pg_class'), 'oid', 'relname', 'relkind', 'relnamespace', 'relam'), [
    { oid: CUSTOMERS, relname: 'customers', relkind: 'r', relnamespace: 2200n, relam: 2n },
    { oid: oidOf(1, 2), relname: 'customers_pkey', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: oidOf(1, 16), relname: 'customers_email_key', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: PRODUCTS, relname: 'products', relkind: 'r', relnamespace: 2200n, relam: 2n },
    { oid: oidOf(2, 2), relname: 'products_pkey', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: oidOf(2, 16), relname: 'products_title_key', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: ORDERS, relname: 'orders', relkind: 'r', relnamespace: 2200n, relam: 2n },
    { oid: oidOf(3, 2), relname: 'orders_pkey', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: oidOf(3, 16), relname: 'orders_customer_id_sku_key', relkind: 'i', relnamespace: 2200n, relam: 403n },
    { oid: oidOf(4), relname: 'events', relkind: 'r', relnamespace: 2200n, relam: 2n },
  ]);
});

t.test("pg_class's relchecks and relhasindex tell psql's \\d which follow-up queries to send", async (t) => {
  const tables = rows('pg_class').filter((r) => r.relkind === 'r');
  t.same(pick(tables, 'relname', 'relchecks', 'relhasindex', 'relhastriggers', 'relnatts'), [
    { relname: 'customers', relchecks: 0n, relhasindex: true, relhastriggers: false, relnatts: 5n },
    { relname: 'products', relchecks: 1n, relhasindex: true, relhastriggers: false, relnatts: 4n },
    { relname: 'orders', relchecks: 1n, relhasindex: true, relhastriggers: false, relnatts: 6n },
    { relname: 'events', relchecks: 0n, relhasindex: false, relhastriggers: false, relnatts: 5n },
  ]);
});

t.test('pg_attribute describes a table\'s columns with PostgreSQL\'s type OIDs, typmods and flags', async (t) => {
  const products = rows('pg_attribute').filter((r) => r.attrelid === PRODUCTS);
  t.same(pick(products, 'attname', 'attnum', 'atttypid', 'atttypmod', 'attlen', 'attnotnull', 'atthasdef', 'attcollation', 'attisdropped'), [
    { attname: 'sku', attnum: 1n, atttypid: 1043n, atttypmod: 24n, attlen: -1n, attnotnull: true, atthasdef: false, attcollation: 100n, attisdropped: false },
    { attname: 'title', attnum: 2n, atttypid: 25n, atttypmod: -1n, attlen: -1n, attnotnull: true, atthasdef: false, attcollation: 100n, attisdropped: false },
    { attname: 'price', attnum: 3n, atttypid: 1700n, atttypmod: 655366n, attlen: -1n, attnotnull: true, atthasdef: false, attcollation: 0n, attisdropped: false },
    { attname: 'stock', attnum: 4n, atttypid: 23n, atttypmod: -1n, attlen: 4n, attnotnull: false, atthasdef: true, attcollation: 0n, attisdropped: false },
  ]);
});

t.test('pg_attribute describes an index by its key columns, numbered from 1 in key order', async (t) => {
  const index = rows('pg_attribute').filter((r) => r.attrelid === oidOf(3, 16));
  t.same(pick(index, 'attname', 'attnum', 'atttypid'), [
    { attname: 'customer_id', attnum: 1n, atttypid: 23n },
    { attname: 'sku', attnum: 2n, atttypid: 1043n },
  ]);
});

t.test('pg_index gives each index its table, key columns, operator classes and collations as PostgreSQL does', async (t) => {
  const orders = rows('pg_index').filter((r) => r.indrelid === ORDERS);
  t.same(pick(orders, 'indexrelid', 'indisprimary', 'indisunique', 'indnatts', 'indkey', 'indclass', 'indcollation', 'indisvalid'), [
    { indexrelid: oidOf(3, 2), indisprimary: true, indisunique: true, indnatts: 1n, indkey: '1', indclass: '3124', indcollation: '0', indisvalid: true },
    { indexrelid: oidOf(3, 16), indisprimary: false, indisunique: true, indnatts: 2n, indkey: '2 3', indclass: '1978 3126', indcollation: '0 100', indisvalid: true },
  ]);
});

t.test('pg_constraint has a p, u or c row for each constraint, pointing at the index that backs it', async (t) => {
  const orders = rows('pg_constraint').filter((r) => r.conrelid === ORDERS);
  t.same(pick(orders, 'conname', 'contype', 'conkey', 'conindid', 'connamespace'), [
    { conname: 'orders_pkey', contype: 'p', conkey: '{1}', conindid: oidOf(3, 2), connamespace: 2200n },
    { conname: 'orders_customer_id_sku_key', contype: 'u', conkey: '{2,3}', conindid: oidOf(3, 16), connamespace: 2200n },
    { conname: 'orders_qty_check', contype: 'c', conkey: '{4}', conindid: 0n, connamespace: 2200n },
  ]);
});

t.test('column defaults read back through pg_attrdef and pg_get_expr as PostgreSQL prints them', async (t) => {
  const defaults = rows('pg_attrdef').map((r) => [r.adrelid, r.adnum, call('pg_get_expr', [r.adbin ?? null, r.adrelid ?? null, true])]);
  t.same(defaults, [
    [CUSTOMERS, 4n, 'now()'],
    [CUSTOMERS, 5n, 'true'],
    [PRODUCTS, 4n, '0'],
    [ORDERS, 4n, '1'],
    [ORDERS, 6n, "'none'::bpchar"],
  ]);
});

t.test('defaults of every stored type print as the literal PostgreSQL shows for them', async (t) => {
  const table: CatalogTable = {
    id: 1, createdAt: 1, name: 'dflt', primaryKey: [],
    columns: [
      col('b4', 'int4', { default: value(-7n) }), col('c8', 'int8', { default: value(9_999_999_999n) }),
      col('n2', 'numeric', { length: 10, scale: 2, default: value(150n) }), col('nn', 'numeric', { length: 10, scale: 2, default: value(-200n) }),
      col('f8', 'float8', { default: value(2.5) }), col('f8n', 'float8', { default: value(-1.25) }), col('t', 'text', { default: value("it's") }),
      col('v', 'varchar', { length: 5, default: value('ab') }), col('b', 'bool', { default: value(false) }),
      col('d2', 'date', { default: value(19_724n) }), col('ts2', 'timestamp', { default: value(1_704_164_645_000_000n) }),
      col('tz2', 'timestamptz', { default: value(1_704_164_645_000_000n) }), col('by', 'bytea', { default: value(new Uint8Array([1, 2])) }),
      col('u', 'uuid', { default: value('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') }), col('nul', 'int4', { default: value(null) }),
    ],
  };
  const ctx = context({ version: 1, nextTableId: 2, tables: [table] });
  const shown = Object.fromEntries(rows('information_schema.columns', ctx).map((r) => [r.column_name, r.column_default]));
  // Expected: PostgreSQL 15.18's pg_get_expr for the same defaults.
  t.same(shown, {
    b4: "'-7'::integer", c8: "'9999999999'::bigint", n2: '1.5', nn: "'-2'::integer", f8: '2.5', f8n: "'-1.25'::numeric", t: "'it''s'::text",
    v: "'ab'::character varying", b: 'false', d2: "'2024-01-02'::date", ts2: "'2024-01-02 03:04:05'::timestamp without time zone",
    tz2: "'2024-01-02 03:04:05+00'::timestamp with time zone", by: "'\\x0102'::bytea", u: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", nul: null,
  });
});

t.test('format_type names types as PostgreSQL does, typmods included', async (t) => {
  const cases: [Value, Value, string | null][] = [
    [1043n, 24n, 'character varying(20)'], [1043n, -1n, 'character varying'], [1700n, 655366n, 'numeric(10,2)'], [1700n, -1n, 'numeric'],
    [1042n, 14n, 'character(10)'], [1042n, -1n, 'bpchar'], [23n, -1n, 'integer'], [23n, null, 'integer'], [1114n, -1n, 'timestamp without time zone'],
    [1184n, -1n, 'timestamp with time zone'], [1007n, -1n, 'integer[]'], [1015n, 24n, 'character varying(20)[]'], [19n, -1n, 'name'],
    [18n, -1n, '"char"'], [999_999n, -1n, '???'], [null, -1n, null], [2950n, -1n, 'uuid'], [1184n, 3n, 'timestamp(3) with time zone'],
    [oidOf(1, 1), -1n, 'customers'],
  ];
  for (const [oid, typmod, expected] of cases) t.equal(call('format_type', [oid, typmod]), expected, `format_type(${String(oid)}, ${String(typmod)})`);
});

t.test('pg_get_constraintdef prints PRIMARY KEY, UNIQUE and CHECK like PostgreSQL, plain and pretty', async (t) => {
  const def = (name: string, pretty: boolean): Value => {
    const c = rows('pg_constraint').find((r) => r.conname === name);
    return call('pg_get_constraintdef', [c?.oid ?? null, pretty]);
  };
  t.equal(def('customers_pkey', false), 'PRIMARY KEY (id)');
  t.equal(def('orders_customer_id_sku_key', true), 'UNIQUE (customer_id, sku)');
  t.equal(def('orders_qty_check', false), 'CHECK ((qty > 0))');
  t.equal(def('orders_qty_check', true), 'CHECK (qty > 0)');
  t.equal(def('products_price_check', false), 'CHECK ((price >= (0)::numeric))');
  t.equal(def('products_price_check', true), 'CHECK (price >= 0::numeric)');
  t.equal(call('pg_get_constraintdef', [1n, true]), null, 'no such constraint');
});

t.test('CHECK expressions get the implicit casts and parentheses PostgreSQL shows', async (t) => {
  const checks: [string, string, string][] = [
    // stored text, then PostgreSQL 15.18's pg_get_constraintdef(oid) and pg_get_constraintdef(oid, true)
    ['a > 0 AND a < 10', 'CHECK (((a > 0) AND (a < 10)))', 'CHECK (a > 0 AND a < 10)'],
    ["name <> ''", "CHECK ((name <> ''::text))", "CHECK (name <> ''::text)"],
    ['x IS NOT NULL', 'CHECK ((x IS NOT NULL))', 'CHECK (x IS NOT NULL)'],
    ['NOT (a = 1 OR a = -2)', "CHECK ((NOT ((a = 1) OR (a = '-2'::integer))))", "CHECK (NOT (a = 1 OR a = '-2'::integer))"],
    ['a + 1 > 2 * a', 'CHECK (((a + 1) > (2 * a)))', 'CHECK ((a + 1) > (2 * a))'],
    ["s LIKE 'A%'", "CHECK (((s)::text ~~ 'A%'::text))", "CHECK (s::text ~~ 'A%'::text)"],
    ['a IN (1, 2)', 'CHECK ((a = ANY (ARRAY[1, 2])))', 'CHECK (a = ANY (ARRAY[1, 2]))'],
    ['a BETWEEN 1 AND 5', 'CHECK (((a >= 1) AND (a <= 5)))', 'CHECK (a >= 1 AND a <= 5)'],
    ['price > 1.5', 'CHECK ((price > 1.5))', 'CHECK (price > 1.5)'],
    ['f > 0', 'CHECK ((f > (0)::double precision))', 'CHECK (f > 0::double precision)'],
    ["s <> 'x'", "CHECK (((s)::text <> 'x'::text))", "CHECK (s::text <> 'x'::text)"],
    ["c <> 'y'", "CHECK ((c <> 'y'::bpchar))", "CHECK (c <> 'y'::bpchar)"],
    ['price > a', 'CHECK ((price > (a)::numeric))', 'CHECK (price > a::numeric)'],
    ['(a > 0 OR x > 0) AND a < 9', 'CHECK ((((a > 0) OR (x > 0)) AND (a < 9)))', 'CHECK ((a > 0 OR x > 0) AND a < 9)'],
    ['price >= -1', "CHECK ((price >= ('-1'::integer)::numeric))", "CHECK (price >= '-1'::integer::numeric)"],
    ['length(name) > 2', 'CHECK ((length(name) > 2))', 'CHECK (length(name) > 2)'],
  ];
  const table: CatalogTable = {
    id: 1, createdAt: 1, name: 'ck', primaryKey: [],
    columns: [
      col('a', 'int4'), col('price', 'numeric', { length: 10, scale: 2 }), col('name', 'text'), col('x', 'int4'), col('s', 'varchar', { length: 10 }),
      col('f', 'float8'), col('c', 'bpchar', { length: 3 }),
    ],
    checks: checks.map(([sql], i) => ({ name: `ck_${i}`, sql })),
  };
  const ctx = context({ version: 1, nextTableId: 2, tables: [table] });
  const cons = rows('pg_constraint', ctx);
  checks.forEach(([sql, plain, pretty], i) => {
    const oid = cons.find((r) => r.conname === `ck_${i}`)?.oid ?? null;
    t.equal(call('pg_get_constraintdef', [oid, false], ctx), plain, `${sql} (plain)`);
    t.equal(call('pg_get_constraintdef', [oid, true], ctx), pretty, `${sql} (pretty)`);
  });
});

t.test('pg_get_indexdef prints the CREATE INDEX, or one key column, as PostgreSQL does', async (t) => {
  const unique = oidOf(3, 16);
  t.equal(call('pg_get_indexdef', [unique]), 'CREATE UNIQUE INDEX orders_customer_id_sku_key ON public.orders USING btree (customer_id, sku)');
  t.equal(call('pg_get_indexdef', [unique, 0n, true]), 'CREATE UNIQUE INDEX orders_customer_id_sku_key ON orders USING btree (customer_id, sku)');
  t.equal(call('pg_get_indexdef', [unique, 2n, true]), 'sku');
  t.equal(call('pg_get_indexdef', [oidOf(1, 2), 2n, false]), '', 'past the last key column');
  t.equal(call('pg_get_indexdef', [CUSTOMERS, 0n, true]), null, 'a table is not an index');
});

t.test('pg_namespace has pg_catalog, public and information_schema at fixed OIDs, public owned by pg_database_owner', async (t) => {
  const ns = rows('pg_namespace');
  t.same(pick(ns, 'oid', 'nspname'), [
    { oid: 11n, nspname: 'pg_catalog' },
    { oid: 2200n, nspname: 'public' },
    { oid: 13_207n, nspname: 'information_schema' },
  ]);
  t.equal(call('pg_get_userbyid', [ns[1]?.nspowner ?? null]), 'pg_database_owner');
});

t.test("pg_type has the built-in types at PostgreSQL's OIDs and a row type for each table", async (t) => {
  const types = rows('pg_type');
  const byOid = (oid: bigint): Row | undefined => types.find((r) => r.oid === oid);
  t.same(pick([byOid(23n), byOid(25n), byOid(1043n), byOid(1700n), byOid(1007n)].filter((r): r is Row => r !== undefined), 'typname', 'typlen', 'typcategory', 'typelem', 'typarray'), [
    { typname: 'int4', typlen: 4n, typcategory: 'N', typelem: 0n, typarray: 1007n },
    { typname: 'text', typlen: -1n, typcategory: 'S', typelem: 0n, typarray: 1009n },
    { typname: 'varchar', typlen: -1n, typcategory: 'S', typelem: 0n, typarray: 1015n },
    { typname: 'numeric', typlen: -1n, typcategory: 'N', typelem: 0n, typarray: 1231n },
    { typname: '_int4', typlen: -1n, typcategory: 'A', typelem: 23n, typarray: 0n },
  ]);
  t.same(pick([byOid(oidOf(2, 1))].filter((r): r is Row => r !== undefined), 'typname', 'typtype', 'typrelid', 'typnamespace'), [
    { typname: 'products', typtype: 'c', typrelid: PRODUCTS, typnamespace: 2200n },
  ]);
});

t.test('pg_database has the current database, UTF8 with the C locale, owned by the session user', async (t) => {
  const [db] = rows('pg_database');
  t.same(pick(rows('pg_database'), 'oid', 'datname', 'datcollate', 'datctype', 'datlocprovider', 'datacl'), [
    { oid: 5n, datname: 'postgres', datcollate: 'C', datctype: 'C', datlocprovider: 'c', datacl: null },
  ]);
  t.equal(call('pg_encoding_to_char', [db?.encoding ?? null]), 'UTF8');
  t.equal(call('pg_get_userbyid', [db?.datdba ?? null]), 'postgres');
  t.equal(call('array_to_string', [db?.datacl ?? null, '\n']), null, 'no ACL prints as empty');
});

t.test('every relation yields rows as wide as its column list, under the names PostgreSQL uses', async (t) => {
  const all = pgCatalogRelations(context());
  for (const r of all) {
    for (const row of r.rows()) t.equal(row.length, r.columns.length, `${r.schema}.${r.name}`);
  }
  const names = all.map((r) => `${r.schema}.${r.name}`);
  for (const required of ['pg_catalog.pg_class', 'pg_catalog.pg_namespace', 'pg_catalog.pg_attribute', 'pg_catalog.pg_type', 'pg_catalog.pg_index',
    'pg_catalog.pg_constraint', 'pg_catalog.pg_database', 'pg_catalog.pg_settings', 'pg_catalog.pg_proc', 'pg_catalog.pg_am', 'pg_catalog.pg_attrdef',
    'pg_catalog.pg_description', 'pg_catalog.pg_inherits', 'pg_catalog.pg_roles', 'pg_catalog.pg_user', 'pg_catalog.pg_tablespace',
    'pg_catalog.pg_collation', 'pg_catalog.pg_trigger', 'pg_catalog.pg_policy', 'pg_catalog.pg_statistic_ext', 'pg_catalog.pg_publication',
    'pg_catalog.pg_publication_rel', 'pg_catalog.pg_publication_namespace', 'information_schema.tables', 'information_schema.columns',
    'information_schema.table_constraints', 'information_schema.key_column_usage', 'information_schema.schemata']) {
    t.ok(names.includes(required), required);
  }
  t.same(relation('pg_class').columns.slice(0, 3).map((c) => c.name), ['oid', 'relname', 'relnamespace']);
});

t.test("a table's OIDs depend on its id alone: the same in every build, unchanged by other tables' DDL", async (t) => {
  const without = context({ ...CATALOG, tables: TABLES.filter((x) => x.name !== 'customers') });
  const ordersRows = (ctx: CatalogContext): Row[] => rows('pg_class', ctx).filter((r) => String(r.relname).startsWith('orders'));
  t.same(ordersRows(without), ordersRows(context()));
  t.same(rows('pg_constraint'), rows('pg_constraint'));
});

t.test('information_schema.columns describes each column as PostgreSQL 15 does', async (t) => {
  const products = rows('information_schema.columns').filter((r) => r.table_name === 'products');
  t.same(pick(products, 'column_name', 'ordinal_position', 'is_nullable', 'data_type', 'character_maximum_length', 'character_octet_length',
    'numeric_precision', 'numeric_precision_radix', 'numeric_scale', 'udt_name', 'column_default'), [
    { column_name: 'sku', ordinal_position: 1n, is_nullable: 'NO', data_type: 'character varying', character_maximum_length: 20n, character_octet_length: 80n,
      numeric_precision: null, numeric_precision_radix: null, numeric_scale: null, udt_name: 'varchar', column_default: null },
    { column_name: 'title', ordinal_position: 2n, is_nullable: 'NO', data_type: 'text', character_maximum_length: null, character_octet_length: 1_073_741_824n,
      numeric_precision: null, numeric_precision_radix: null, numeric_scale: null, udt_name: 'text', column_default: null },
    { column_name: 'price', ordinal_position: 3n, is_nullable: 'NO', data_type: 'numeric', character_maximum_length: null, character_octet_length: null,
      numeric_precision: 10n, numeric_precision_radix: 10n, numeric_scale: 2n, udt_name: 'numeric', column_default: null },
    { column_name: 'stock', ordinal_position: 4n, is_nullable: 'YES', data_type: 'integer', character_maximum_length: null, character_octet_length: null,
      numeric_precision: 32n, numeric_precision_radix: 2n, numeric_scale: 0n, udt_name: 'int4', column_default: '0' },
  ]);
});

t.test('information_schema.table_constraints lists keys, CHECKs and, as PostgreSQL 15 does, each NOT NULL as a CHECK', async (t) => {
  const products = rows('information_schema.table_constraints').filter((r) => r.table_name === 'products');
  t.same(pick(products, 'constraint_name', 'constraint_type', 'nulls_distinct'), [
    { constraint_name: 'products_pkey', constraint_type: 'PRIMARY KEY', nulls_distinct: null },
    { constraint_name: 'products_title_key', constraint_type: 'UNIQUE', nulls_distinct: 'YES' },
    { constraint_name: 'products_price_check', constraint_type: 'CHECK', nulls_distinct: null },
    { constraint_name: `2200_${PRODUCTS}_1_not_null`, constraint_type: 'CHECK', nulls_distinct: null },
    { constraint_name: `2200_${PRODUCTS}_2_not_null`, constraint_type: 'CHECK', nulls_distinct: null },
    { constraint_name: `2200_${PRODUCTS}_3_not_null`, constraint_type: 'CHECK', nulls_distinct: null },
  ]);
});

t.test('information_schema.key_column_usage numbers the columns of each key', async (t) => {
  const orders = rows('information_schema.key_column_usage').filter((r) => r.table_name === 'orders');
  t.same(pick(orders, 'constraint_name', 'column_name', 'ordinal_position'), [
    { constraint_name: 'orders_pkey', column_name: 'id', ordinal_position: 1n },
    { constraint_name: 'orders_customer_id_sku_key', column_name: 'customer_id', ordinal_position: 1n },
    { constraint_name: 'orders_customer_id_sku_key', column_name: 'sku', ordinal_position: 2n },
  ]);
});

t.test('information_schema.check_constraints shows CHECK clauses as PostgreSQL does', async (t) => {
  const clauses = Object.fromEntries(rows('information_schema.check_constraints').map((r) => [r.constraint_name, r.check_clause]));
  t.equal(clauses.products_price_check, '((price >= (0)::numeric))');
  t.equal(clauses[`2200_${PRODUCTS}_3_not_null`], 'price IS NOT NULL');
});

t.test('information_schema.tables and schemata list the tables and the three schemas', async (t) => {
  t.same(pick(rows('information_schema.tables'), 'table_schema', 'table_name', 'table_type'), TABLES.map((x) => ({ table_schema: 'public', table_name: x.name, table_type: 'BASE TABLE' })));
  t.same(pick(rows('information_schema.schemata'), 'schema_name', 'schema_owner'), [
    { schema_name: 'pg_catalog', schema_owner: 'postgres' },
    { schema_name: 'public', schema_owner: 'pg_database_owner' },
    { schema_name: 'information_schema', schema_owner: 'postgres' },
  ]);
});

t.test('pg_table_is_visible follows search_path', async (t) => {
  t.equal(call('pg_table_is_visible', [CUSTOMERS]), true);
  t.equal(call('pg_table_is_visible', [CUSTOMERS], context(CATALOG, { search_path: 'pg_catalog' })), false);
  t.equal(call('pg_table_is_visible', [1n]), null, 'no such relation');
  t.equal(call('pg_type_is_visible', [23n]), true);
});

t.test('current_schema and current_schemas resolve search_path, "$user" included', async (t) => {
  t.equal(call('current_schema', []), 'public');
  t.equal(call('current_schemas', [true]), '{pg_catalog,public}');
  t.equal(call('current_schemas', [false]), '{public}');
  t.equal(call('current_schema', [], context(CATALOG, { search_path: 'information_schema, public' })), 'information_schema');
  t.equal(call('current_schema', [], context(CATALOG, { search_path: 'nowhere' })), null);
});

t.test('session functions report the session: database, user, version, settings', async (t) => {
  t.equal(call('current_database', []), 'postgres');
  t.equal(call('current_user', []), 'postgres');
  t.equal(call('session_user', []), 'postgres');
  t.match(call('version', []), /^PostgreSQL 15\.0 \(OrdoDB [\d.]+\) on /);
  t.equal(call('current_setting', ['TimeZone']), 'UTC');
  t.throws(() => call('current_setting', ['no_such_setting']), { code: '42704' });
  t.equal(call('current_setting', ['no_such_setting', true]), null);
  t.equal(call('has_table_privilege', ['customers', 'SELECT']), true);
  t.equal(typeof call('pg_backend_pid', []), 'bigint');
});

t.test('pg_settings lists the settings the session reports', async (t) => {
  const tz = rows('pg_settings').find((r) => r.name === 'TimeZone');
  t.same(pick(tz === undefined ? [] : [tz], 'setting', 'vartype', 'context'), [{ setting: 'UTC', vartype: 'string', context: 'user' }]);
});

t.test('quote_ident quotes what must be quoted and nothing else', async (t) => {
  t.equal(call('quote_ident', ['orders']), 'orders');
  t.equal(call('quote_ident', ['Orders']), '"Orders"');
  t.equal(call('quote_ident', ['select']), '"select"');
  t.equal(call('quote_ident', ['a"b']), '"a""b"');
  t.equal(call('quote_ident', [null]), null);
});

t.test('regclass input and output map names to OIDs and back, as the casts need', async (t) => {
  t.equal(call('to_regclass', ['orders']), ORDERS);
  t.equal(call('to_regclass', ['public.orders_pkey']), oidOf(3, 2));
  t.equal(call('to_regclass', ['"Orders"']), null);
  t.equal(call('regclassin', ['ORDERS']), ORDERS, 'unquoted names fold to lower case');
  t.throws(() => call('regclassin', ['nope']), { code: '42P01' });
  t.equal(call('regclassout', [ORDERS]), 'orders');
  t.equal(call('regclassout', [ORDERS], context(CATALOG, { search_path: 'pg_catalog' })), 'public.orders');
  t.equal(call('regtypein', ['character varying']), 1043n);
  t.equal(call('regtypeout', [1043n]), 'character varying');
  t.equal(call('regnamespaceout', [2200n]), 'public');
});

t.test('array functions read the text form the catalog relations hold arrays in', async (t) => {
  t.same(parseArrayText('{a,"b c",NULL}'), { elements: ['a', 'b c', null], lower: 1 });
  t.same(parseArrayText('2 3'), { elements: ['2', '3'], lower: 0 });
  t.equal(call('array_to_string', ['{a,NULL,c}', ', ']), 'a, c');
  t.equal(call('array_to_string', ['{a,NULL,c}', ', ', '*']), 'a, *, c');
  t.equal(call('array_upper', ['{1,2,3}', 1n]), 3n);
  t.equal(call('array_upper', ['2 3', 1n]), 1n, 'int2vector is indexed from 0');
  t.equal(call('ordo_array_element', ['2 3', 1n]), '3');
});

t.test('pg_size_pretty rounds and picks units as PostgreSQL 15 does', async (t) => {
  t.equal(call('pg_size_pretty', [0n]), '0 bytes');
  t.equal(call('pg_size_pretty', [10_239n]), '10239 bytes');
  t.equal(call('pg_size_pretty', [10_240n]), '10 kB');
  t.equal(call('pg_size_pretty', [8_192n * 1_024n * 3n]), '24 MB');
});

// ---------------------------------------------------------------------------------------------
// psql's catalog queries

const QUERY_DIR = join(repoRoot(), 'test', 'fixtures', 'psql', 'queries');
const psqlQueries = readdirSync(QUERY_DIR).filter((f) => f.endsWith('.sql')).sort().map((f) => ({ file: f, sql: readFileSync(join(QUERY_DIR, f), 'utf8') }));
const { Parser } = nodeSqlParser;
const parser = new Parser();
const parses = (sql: string): boolean => {
  try {
    parser.astify(sql, { database: 'postgresql' });
    return true;
  } catch {
    return false;
  }
};

t.test("every catalog query psql 15 sends for \\d, \\dt, \\di, \\dn, \\dv, \\l and \\d <name> parses once rewritten", async (t) => {
  t.ok(psqlQueries.length >= 19, 'the captured queries are there');
  for (const q of psqlQueries) t.ok(parses(rewritePsqlQuery(q.sql)), q.file);
});

t.test('queries node-sql-parser already reads are left byte for byte', async (t) => {
  for (const q of psqlQueries.filter((x) => parses(x.sql))) t.equal(rewritePsqlQuery(q.sql), q.sql, q.file);
});

t.test("the name lookup of \\d loses OPERATOR(pg_catalog.~) and COLLATE pg_catalog.default, keeping the regex match", async (t) => {
  const lookup = psqlQueries.find((q) => q.file === 'describe-1-lookup.sql')?.sql ?? '';
  t.ok(lookup.includes("OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default"), 'the captured text');
  t.ok(rewritePsqlQuery(lookup).includes("WHERE c.relname ~ '^(customers)$'\n  AND"));
});

t.test('schema-qualified cast types lose their schema; intN[] becomes a type name the parser reads', async (t) => {
  t.equal(rewritePsqlQuery('SELECT c.reloftype::pg_catalog.regtype::pg_catalog.text FROM c'), 'SELECT c.reloftype::regtype::text FROM c');
  t.equal(rewritePsqlQuery('SELECT a::pg_catalog.int2[] FROM t'), 'SELECT a::smallint[] FROM t');
  t.equal(rewritePsqlQuery('SELECT a::name FROM t'), 'SELECT a::text FROM t');
  t.equal(rewritePsqlQuery('SELECT a::regclass FROM t'), 'SELECT a::regclass FROM t');
});

t.test('a subscript that is not a literal becomes ordo_array_element; literal subscripts, ARRAY[…] and type brackets stay', async (t) => {
  t.equal(rewritePsqlQuery('SELECT 1 WHERE attnum = prattrs[s]'), 'SELECT 1 WHERE attnum = ordo_array_element(prattrs, s)');
  t.equal(rewritePsqlQuery('SELECT pr.prattrs[s + 1]'), 'SELECT ordo_array_element(pr.prattrs, s + 1)');
  t.equal(rewritePsqlQuery('SELECT conkey[1], ARRAY[a, b], x::int[]'), 'SELECT conkey[1], ARRAY[a, b], x::int[]');
});

t.test('text inside string literals, quoted identifiers and comments is never rewritten', async (t) => {
  const sql = `SELECT 'OPERATOR(pg_catalog.~) COLLATE pg_catalog.default', "x::pg_catalog.y" -- a[b] OPERATOR(pg_catalog.~)\nFROM t`;
  t.equal(rewritePsqlQuery(sql), sql);
  t.equal(rewritePsqlQuery("SELECT E'it\\'s [a]' ~ x"), "SELECT E'it\\'s [a]' ~ x");
});

t.test('other operators and collations of psql patterns are rewritten the same way', async (t) => {
  t.equal(rewritePsqlQuery(`n.nspname OPERATOR(pg_catalog.!~) '^pg_' COLLATE pg_catalog."default"`), "n.nspname !~ '^pg_'");
  t.equal(rewritePsqlQuery(`a COLLATE "C" < b`), 'a < b');
  t.equal(rewritePsqlQuery(`a COLLATE "de_DE" < b`), 'a COLLATE "de_DE" < b', 'a collation with other rules is kept, for the engine to refuse');
});
