// The OID space of the virtual catalogs. Built-in objects keep PostgreSQL 15's real OIDs (tools and
// drivers hard-code some: int4 is 23, pg_catalog is 11, public is 2200); the objects of user tables
// get OIDs derived from the table id alone, so an OID names the same object in every session, on
// every node and after any unrelated DDL (a dropped table's OIDs are never reused, like its id).

import { CatalogLayout, type CatalogTable } from '../../sequencer/index.js';

export const Oid = {
  pgCatalog: 11,
  public: 2200,
  /** What initdb gave information_schema in PostgreSQL 15.18; any fixed value would do. */
  informationSchema: 13207,
  /** The bootstrap superuser: OrdoDB records no owners, so every object is shown as the session user's. */
  bootstrapRole: 10,
  /** PostgreSQL 15 makes this role the owner of schema public. */
  databaseOwnerRole: 6171,
  database: 5,
  heapAm: 2,
  btreeAm: 403,
  hashAm: 405,
  defaultTablespace: 1663,
  globalTablespace: 1664,
  defaultCollation: 100,
  cCollation: 950,
  posixCollation: 951,
  /** pg_class OIDs of the catalogs themselves (pg_description.classoid, obj_description's 2nd argument). */
  pgClassRel: 1259,
  pgTypeRel: 1247,
  pgProcRel: 1255,
  pgNamespaceRel: 2615,
  pgConstraintRel: 2606,
  pgAttrdefRel: 2604,
  pgDatabaseRel: 1262,
  plpgsqlLanguage: 13_000,
  internalLanguage: 12,
  /** PostgreSQL's pg_encoding id of UTF8. */
  utf8Encoding: 6,
} as const;

/**
 * User objects. PostgreSQL hands out OIDs from 16384 (FirstNormalObjectId); here each table owns a
 * block of `tableStride` OIDs laid out as below, which is room for every UNIQUE constraint, column
 * default and CHECK a table can have (at most 1600 columns).
 */
export const UserOids = {
  first: 16_384,
  tableStride: 8_192,
  rel: 0,
  rowType: 1,
  pkeyIndex: 2,
  pkeyConstraint: 3,
  /** UNIQUE k (k = 1, 2, …) takes uniques + 2(k−1) for its index and the next for its constraint. */
  uniques: 16,
  /** The default of column attnum takes attrdefs + attnum. */
  attrdefs: 4_096,
  /** CHECK i (0-based, in catalog order) takes checks + i. */
  checks: 6_144,
} as const;

export function tableBase(t: Pick<CatalogTable, 'id'>): number {
  return UserOids.first + (t.id - CatalogLayout.firstTableId) * UserOids.tableStride;
}

export function relOid(t: Pick<CatalogTable, 'id'>): number {
  return tableBase(t) + UserOids.rel;
}

export function rowTypeOid(t: Pick<CatalogTable, 'id'>): number {
  return tableBase(t) + UserOids.rowType;
}

export function uniqueIndexOid(t: Pick<CatalogTable, 'id'>, index: number): number {
  return tableBase(t) + UserOids.uniques + 2 * (index - 1);
}

export function attrdefOid(t: Pick<CatalogTable, 'id'>, attnum: number): number {
  return tableBase(t) + UserOids.attrdefs + attnum;
}

export function checkOid(t: Pick<CatalogTable, 'id'>, i: number): number {
  return tableBase(t) + UserOids.checks + i;
}

/** One row of PostgreSQL 15's pg_type for a built-in type, as far as the virtual pg_type shows it. */
export interface BuiltinType {
  readonly oid: number;
  readonly name: string;
  readonly len: number;
  readonly byval: boolean;
  /** typtype: b base, p pseudo. */
  readonly type: 'b' | 'p';
  readonly category: string;
  readonly preferred: boolean;
  readonly elem: number;
  readonly array: number;
  readonly input: string;
  readonly output: string;
  readonly receive: string;
  readonly send: string;
  readonly modin: string;
  readonly modout: string;
  readonly align: string;
  readonly storage: string;
  readonly collation: number;
  readonly subscript: string;
}

// oid|typname|typlen|typbyval|typtype|typcategory|typispreferred|typelem|typarray|typinput|typoutput|
// typreceive|typsend|typmodin|typmodout|typalign|typstorage|typcollation|typsubscript, copied from
// PostgreSQL 15.18's pg_type for the types OrdoDB stores, the types the catalogs themselves use, and
// their array types ('-' is regproc 0).
const TYPE_ROWS = `
16|bool|1|t|b|B|t|0|1000|boolin|boolout|boolrecv|boolsend|-|-|c|p|0|-
17|bytea|-1|f|b|U|f|0|1001|byteain|byteaout|bytearecv|byteasend|-|-|i|x|0|-
18|char|1|t|b|Z|f|0|1002|charin|charout|charrecv|charsend|-|-|c|p|0|-
19|name|64|f|b|S|f|18|1003|namein|nameout|namerecv|namesend|-|-|c|p|950|raw_array_subscript_handler
20|int8|8|t|b|N|f|0|1016|int8in|int8out|int8recv|int8send|-|-|d|p|0|-
21|int2|2|t|b|N|f|0|1005|int2in|int2out|int2recv|int2send|-|-|s|p|0|-
22|int2vector|-1|f|b|A|f|21|1006|int2vectorin|int2vectorout|int2vectorrecv|int2vectorsend|-|-|i|p|0|array_subscript_handler
23|int4|4|t|b|N|f|0|1007|int4in|int4out|int4recv|int4send|-|-|i|p|0|-
25|text|-1|f|b|S|t|0|1009|textin|textout|textrecv|textsend|-|-|i|x|100|-
26|oid|4|t|b|N|t|0|1028|oidin|oidout|oidrecv|oidsend|-|-|i|p|0|-
30|oidvector|-1|f|b|A|f|26|1013|oidvectorin|oidvectorout|oidvectorrecv|oidvectorsend|-|-|i|p|0|array_subscript_handler
700|float4|4|t|b|N|f|0|1021|float4in|float4out|float4recv|float4send|-|-|i|p|0|-
701|float8|8|t|b|N|t|0|1022|float8in|float8out|float8recv|float8send|-|-|d|p|0|-
705|unknown|-2|f|p|X|f|0|0|unknownin|unknownout|unknownrecv|unknownsend|-|-|c|p|0|-
1000|_bool|-1|f|b|A|f|16|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1001|_bytea|-1|f|b|A|f|17|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1002|_char|-1|f|b|A|f|18|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1003|_name|-1|f|b|A|f|19|0|array_in|array_out|array_recv|array_send|-|-|i|x|950|array_subscript_handler
1005|_int2|-1|f|b|A|f|21|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1007|_int4|-1|f|b|A|f|23|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1009|_text|-1|f|b|A|f|25|0|array_in|array_out|array_recv|array_send|-|-|i|x|100|array_subscript_handler
1014|_bpchar|-1|f|b|A|f|1042|0|array_in|array_out|array_recv|array_send|bpchartypmodin|bpchartypmodout|i|x|100|array_subscript_handler
1015|_varchar|-1|f|b|A|f|1043|0|array_in|array_out|array_recv|array_send|varchartypmodin|varchartypmodout|i|x|100|array_subscript_handler
1016|_int8|-1|f|b|A|f|20|0|array_in|array_out|array_recv|array_send|-|-|d|x|0|array_subscript_handler
1021|_float4|-1|f|b|A|f|700|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1022|_float8|-1|f|b|A|f|701|0|array_in|array_out|array_recv|array_send|-|-|d|x|0|array_subscript_handler
1028|_oid|-1|f|b|A|f|26|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1042|bpchar|-1|f|b|S|f|0|1014|bpcharin|bpcharout|bpcharrecv|bpcharsend|bpchartypmodin|bpchartypmodout|i|x|100|-
1043|varchar|-1|f|b|S|f|0|1015|varcharin|varcharout|varcharrecv|varcharsend|varchartypmodin|varchartypmodout|i|x|100|-
1082|date|4|t|b|D|f|0|1182|date_in|date_out|date_recv|date_send|-|-|i|p|0|-
1114|timestamp|8|t|b|D|f|0|1115|timestamp_in|timestamp_out|timestamp_recv|timestamp_send|timestamptypmodin|timestamptypmodout|d|p|0|-
1115|_timestamp|-1|f|b|A|f|1114|0|array_in|array_out|array_recv|array_send|timestamptypmodin|timestamptypmodout|d|x|0|array_subscript_handler
1182|_date|-1|f|b|A|f|1082|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
1184|timestamptz|8|t|b|D|t|0|1185|timestamptz_in|timestamptz_out|timestamptz_recv|timestamptz_send|timestamptztypmodin|timestamptztypmodout|d|p|0|-
1185|_timestamptz|-1|f|b|A|f|1184|0|array_in|array_out|array_recv|array_send|timestamptztypmodin|timestamptztypmodout|d|x|0|array_subscript_handler
1231|_numeric|-1|f|b|A|f|1700|0|array_in|array_out|array_recv|array_send|numerictypmodin|numerictypmodout|i|x|0|array_subscript_handler
1700|numeric|-1|f|b|N|f|0|1231|numeric_in|numeric_out|numeric_recv|numeric_send|numerictypmodin|numerictypmodout|i|m|0|-
2205|regclass|4|t|b|N|f|0|2210|regclassin|regclassout|regclassrecv|regclasssend|-|-|i|p|0|-
2206|regtype|4|t|b|N|f|0|2211|regtypein|regtypeout|regtyperecv|regtypesend|-|-|i|p|0|-
2278|void|4|t|p|P|f|0|0|void_in|void_out|void_recv|void_send|-|-|i|p|0|-
2950|uuid|16|f|b|U|f|0|2951|uuid_in|uuid_out|uuid_recv|uuid_send|-|-|c|p|0|-
2951|_uuid|-1|f|b|A|f|2950|0|array_in|array_out|array_recv|array_send|-|-|i|x|0|array_subscript_handler
4089|regnamespace|4|t|b|N|f|0|4090|regnamespacein|regnamespaceout|regnamespacerecv|regnamespacesend|-|-|i|p|0|-
`;

function parseTypeRow(line: string): BuiltinType {
  const f = line.split('|');
  const s = (i: number): string => f[i] ?? '';
  const n = (i: number): number => Number(s(i));
  return {
    oid: n(0), name: s(1), len: n(2), byval: s(3) === 't', type: s(4) === 'p' ? 'p' : 'b', category: s(5), preferred: s(6) === 't',
    elem: n(7), array: n(8), input: s(9), output: s(10), receive: s(11), send: s(12), modin: s(13), modout: s(14),
    align: s(15), storage: s(16), collation: n(17), subscript: s(18),
  };
}

/** Built-in types in OID order. */
export const BUILTIN_TYPES: readonly BuiltinType[] = TYPE_ROWS.trim().split('\n').map(parseTypeRow);

const BY_OID: ReadonlyMap<number, BuiltinType> = new Map(BUILTIN_TYPES.map((t) => [t.oid, t]));

export function builtinType(oid: number): BuiltinType | undefined {
  return BY_OID.get(oid);
}

/** The default btree operator class of a column type (pg_index.indclass), from PostgreSQL 15's pg_opclass. */
export const DEFAULT_BTREE_OPCLASS: Readonly<Record<number, number>> = {
  16: 10003, 17: 10006, 19: 10028, 20: 3124, 21: 1979, 23: 1978, 25: 3126, 26: 1981, 700: 10012, 701: 3123,
  1042: 10004, 1043: 3126, 1082: 3122, 1114: 3128, 1184: 3127, 1700: 3125, 2950: 10065,
};
