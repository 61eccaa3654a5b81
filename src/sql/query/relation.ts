// The contract between the read-only query engine (src/sql/query/) and whatever supplies rows to it:
// user tables read from the local store at a snapshot, and the virtual catalog tables
// (src/sql/pgcatalog/) built from the catalog. Kept in its own file so both sides can depend on it
// without depending on each other.

import type { Value } from '../../partitions/index.js';
import type { Catalog } from '../../sequencer/index.js';
import type { SqlType } from '../types.js';

/** One column of a relation as a query sees it. */
export interface RelationColumn {
  readonly name: string;
  readonly type: SqlType;
}

/** A named relation a FROM clause can refer to; rows are produced on demand, in no promised order. */
export interface VirtualRelation {
  /** Schema name, e.g. 'pg_catalog' or 'information_schema'. */
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly RelationColumn[];
  rows(): Iterable<readonly Value[]>;
}

/** What the catalog functions (format_type, pg_get_indexdef, current_schema(), version(), …) can see. */
export interface CatalogContext {
  readonly catalog: Catalog;
  /** Session settings as SHOW reports them (search_path, server_version, …). */
  setting(name: string): string | undefined;
  readonly user: string;
  readonly database: string;
}

/** A SQL-callable function the catalogs contribute; arguments and result use the executor's Value. */
export interface CatalogFunction {
  /** Lower-case, unqualified (pg_catalog. is stripped before lookup). */
  readonly name: string;
  /** Result type given the argument count. */
  readonly returns: SqlType;
  call(ctx: CatalogContext, args: readonly Value[]): Value;
}
