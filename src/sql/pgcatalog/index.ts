// pg_catalog and information_schema for OrdoDB: the virtual relations and the functions tools read
// (psql's \d family, ORM introspection), built from the catalog; and the rewrite that makes psql's
// catalog queries parseable. The query engine (src/sql/query/) reads these through relation.ts.

import type { CatalogContext, VirtualRelation } from '../query/relation.js';
import { catalogProcs } from './functions.js';
import { catalogRelations } from './relations.js';

export { catalogFunctions, formatType, lookupRelation, lookupType, parseArrayText, relationName } from './functions.js';
export { quoteIdent } from './deparse.js';
export { Oid, UserOids, relOid } from './oids.js';
export { rewritePsqlQuery } from './rewrite.js';

/** The relations of schemas pg_catalog and information_schema as this session sees them. */
export function pgCatalogRelations(ctx: CatalogContext): VirtualRelation[] {
  return catalogRelations(ctx, catalogProcs);
}
