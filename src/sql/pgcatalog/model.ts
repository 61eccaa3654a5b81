// The catalog seen as PostgreSQL's objects: each user table with its OIDs, its indexes (the primary key
// and each UNIQUE constraint is backed by a btree index, as in PostgreSQL) and its constraints. Built
// once per Catalog object (catalogs are immutable values), and shared by the relations and functions.

import type { Catalog, CatalogTable, ColumnDef } from '../../sequencer/index.js';
import { columnSqlType, pgType, typeModifier, type SqlType } from '../types.js';
import { checkOid, relOid, rowTypeOid, tableBase, uniqueIndexOid, UserOids } from './oids.js';

export interface ColumnModel {
  readonly def: ColumnDef;
  readonly attnum: number;
  readonly type: SqlType;
  readonly typeOid: number;
  readonly typmod: number;
}

export interface IndexModel {
  readonly oid: number;
  readonly name: string;
  readonly table: TableModel;
  /** attnums of the table's columns, in key order. */
  readonly attnums: readonly number[];
  readonly primary: boolean;
  readonly constraintOid: number;
}

export interface ConstraintModel {
  readonly oid: number;
  readonly name: string;
  readonly table: TableModel;
  readonly contype: 'p' | 'u' | 'c';
  /** conkey: the attnums it covers (for a CHECK, the columns its expression reads). */
  readonly attnums: readonly number[];
  /** conindid: the index backing a PRIMARY KEY or UNIQUE, 0 for a CHECK. */
  readonly indexOid: number;
  /** A CHECK's expression as OrdoDB stores it. */
  readonly checkSql: string | null;
}

export interface TableModel {
  readonly table: CatalogTable;
  readonly oid: number;
  readonly rowTypeOid: number;
  readonly columns: readonly ColumnModel[];
  readonly indexes: readonly IndexModel[];
  readonly constraints: readonly ConstraintModel[];
}

export interface CatalogModel {
  /** Ordered by table id, so every listing comes out the same. */
  readonly tables: readonly TableModel[];
  readonly tableByOid: ReadonlyMap<number, TableModel>;
  readonly indexByOid: ReadonlyMap<number, IndexModel>;
  readonly constraintByOid: ReadonlyMap<number, ConstraintModel>;
  readonly tableByName: ReadonlyMap<string, TableModel>;
}

const models = new WeakMap<Catalog, CatalogModel>();

export function catalogModel(catalog: Catalog): CatalogModel {
  let m = models.get(catalog);
  if (m === undefined) {
    m = buildModel(catalog);
    models.set(catalog, m);
  }
  return m;
}

/** Column names as whole identifiers in a CHECK's stored SQL text, so conkey lists what it reads. */
function columnsRead(sql: string, columns: readonly ColumnDef[]): number[] {
  const words = new Set<string>();
  for (const m of sql.matchAll(/"((?:[^"]|"")+)"|'(?:[^']|'')*'|([A-Za-z_][A-Za-z0-9_$]*)/g)) {
    if (m[1] !== undefined) words.add(m[1].replaceAll('""', '"'));
    else if (m[2] !== undefined) words.add(m[2].toLowerCase());
  }
  return columns.flatMap((c, i) => (words.has(c.name) ? [i + 1] : []));
}

function buildTable(t: CatalogTable): TableModel {
  const columns: ColumnModel[] = t.columns.map((def, i) => {
    const type = columnSqlType(def);
    return { def, attnum: i + 1, type, typeOid: pgType(type).oid, typmod: typeModifier(type) };
  });
  const indexes: IndexModel[] = [];
  const constraints: ConstraintModel[] = [];
  const table: TableModel = { table: t, oid: relOid(t), rowTypeOid: rowTypeOid(t), columns, indexes, constraints };
  const base = tableBase(t);
  if (t.primaryKey.length > 0) {
    const attnums = t.primaryKey.map((i) => i + 1);
    const name = `${t.name}_pkey`;
    indexes.push({ oid: base + UserOids.pkeyIndex, name, table, attnums, primary: true, constraintOid: base + UserOids.pkeyConstraint });
    constraints.push({ oid: base + UserOids.pkeyConstraint, name, table, contype: 'p', attnums, indexOid: base + UserOids.pkeyIndex, checkSql: null });
  }
  for (const u of t.uniques ?? []) {
    const attnums = u.columns.map((i) => i + 1);
    const oid = uniqueIndexOid(t, u.index);
    indexes.push({ oid, name: u.name, table, attnums, primary: false, constraintOid: oid + 1 });
    constraints.push({ oid: oid + 1, name: u.name, table, contype: 'u', attnums, indexOid: oid, checkSql: null });
  }
  (t.checks ?? []).forEach((c, i) => {
    constraints.push({ oid: checkOid(t, i), name: c.name, table, contype: 'c', attnums: columnsRead(c.sql, t.columns), indexOid: 0, checkSql: c.sql });
  });
  return table;
}

function buildModel(catalog: Catalog): CatalogModel {
  const tables = [...catalog.tables].sort((a, b) => a.id - b.id).map(buildTable);
  return {
    tables,
    tableByOid: new Map(tables.map((t) => [t.oid, t])),
    indexByOid: new Map(tables.flatMap((t) => t.indexes.map((i) => [i.oid, i] as const))),
    constraintByOid: new Map(tables.flatMap((t) => t.constraints.map((c) => [c.oid, c] as const))),
    tableByName: new Map(tables.map((t) => [t.table.name, t])),
  };
}
