// The virtual relations of pg_catalog and information_schema, built from OrdoDB's catalog with
// PostgreSQL 15's column names, in PostgreSQL's column order, and the OIDs of oids.ts.
//
// Column types: the query engine's SqlType has no oid, name, "char", regproc, array or pg_node_tree,
// so each PostgreSQL type is shown as the nearest type it has (CATALOG_TYPES below): oid-like
// types as int4 (every OID here is below 2^31, and drivers parse both as numbers), name and "char" as
// text, and arrays, vectors and node trees as text holding PostgreSQL's text form of the value
// ('{1,2}', '1 2'), which is also what a client is sent for them. pg_node_tree columns (adbin,
// conbin) hold the expression as pg_get_expr prints it: pg_get_expr returns it unchanged.

import type { Value } from '../../partitions/index.js';
import type { ColumnType } from '../../sequencer/index.js';
import type { CatalogContext, RelationColumn, VirtualRelation } from '../query/relation.js';
import type { SqlType } from '../types.js';
import { checkExpr, defaultExpr, formatBuiltinType, indexDef, quoteIdent } from './deparse.js';
import { catalogModel, type CatalogModel, type ColumnModel, type TableModel } from './model.js';
import { BUILTIN_TYPES, DEFAULT_BTREE_OPCLASS, Oid, attrdefOid, builtinType } from './oids.js';
import { SETTING_INFO } from './settings.js';

/** Column lists of PostgreSQL 15.18 (name:type, in attnum order), as psql -c '\d pg_class' lists them. */
const COLUMNS: Readonly<Record<string, string>> = {
  'pg_catalog.pg_am':
    'oid:oid,amname:name,amhandler:regproc,amtype:char',
  'pg_catalog.pg_attrdef':
    'oid:oid,adrelid:oid,adnum:smallint,adbin:pg_node_tree',
  'pg_catalog.pg_attribute':
    'attrelid:oid,attname:name,atttypid:oid,attstattarget:integer,attlen:smallint,attnum:smallint,attndims:integer,attcacheoff:integer,atttypmod:integer,attbyval:boolean,attalign:char,attstorage:char,attcompression:char,attnotnull:boolean,atthasdef:boolean,atthasmissing:boolean,attidentity:char,attgenerated:char,attisdropped:boolean,attislocal:boolean,attinhcount:integer,attcollation:oid,attacl:aclitem[],attoptions:text[],attfdwoptions:text[],attmissingval:anyarray',
  'pg_catalog.pg_class':
    'oid:oid,relname:name,relnamespace:oid,reltype:oid,reloftype:oid,relowner:oid,relam:oid,relfilenode:oid,reltablespace:oid,relpages:integer,reltuples:real,relallvisible:integer,reltoastrelid:oid,relhasindex:boolean,relisshared:boolean,relpersistence:char,relkind:char,relnatts:smallint,relchecks:smallint,relhasrules:boolean,relhastriggers:boolean,relhassubclass:boolean,relrowsecurity:boolean,relforcerowsecurity:boolean,relispopulated:boolean,relreplident:char,relispartition:boolean,relrewrite:oid,relfrozenxid:xid,relminmxid:xid,relacl:aclitem[],reloptions:text[],relpartbound:pg_node_tree',
  'pg_catalog.pg_collation':
    'oid:oid,collname:name,collnamespace:oid,collowner:oid,collprovider:char,collisdeterministic:boolean,collencoding:integer,collcollate:text,collctype:text,colliculocale:text,collversion:text',
  'pg_catalog.pg_constraint':
    'oid:oid,conname:name,connamespace:oid,contype:char,condeferrable:boolean,condeferred:boolean,convalidated:boolean,conrelid:oid,contypid:oid,conindid:oid,conparentid:oid,confrelid:oid,confupdtype:char,confdeltype:char,confmatchtype:char,conislocal:boolean,coninhcount:integer,connoinherit:boolean,conkey:smallint[],confkey:smallint[],conpfeqop:oid[],conppeqop:oid[],conffeqop:oid[],confdelsetcols:smallint[],conexclop:oid[],conbin:pg_node_tree',
  'pg_catalog.pg_database':
    'oid:oid,datname:name,datdba:oid,encoding:integer,datlocprovider:char,datistemplate:boolean,datallowconn:boolean,datconnlimit:integer,datfrozenxid:xid,datminmxid:xid,dattablespace:oid,datcollate:text,datctype:text,daticulocale:text,datcollversion:text,datacl:aclitem[]',
  'pg_catalog.pg_depend':
    'classid:oid,objid:oid,objsubid:integer,refclassid:oid,refobjid:oid,refobjsubid:integer,deptype:char',
  'pg_catalog.pg_description':
    'objoid:oid,classoid:oid,objsubid:integer,description:text',
  'pg_catalog.pg_enum':
    'oid:oid,enumtypid:oid,enumsortorder:real,enumlabel:name',
  'pg_catalog.pg_extension':
    'oid:oid,extname:name,extowner:oid,extnamespace:oid,extrelocatable:boolean,extversion:text,extconfig:oid[],extcondition:text[]',
  'pg_catalog.pg_index':
    'indexrelid:oid,indrelid:oid,indnatts:smallint,indnkeyatts:smallint,indisunique:boolean,indnullsnotdistinct:boolean,indisprimary:boolean,indisexclusion:boolean,indimmediate:boolean,indisclustered:boolean,indisvalid:boolean,indcheckxmin:boolean,indisready:boolean,indislive:boolean,indisreplident:boolean,indkey:int2vector,indcollation:oidvector,indclass:oidvector,indoption:int2vector,indexprs:pg_node_tree,indpred:pg_node_tree',
  'pg_catalog.pg_indexes':
    'schemaname:name,tablename:name,indexname:name,tablespace:name,indexdef:text',
  'pg_catalog.pg_inherits':
    'inhrelid:oid,inhparent:oid,inhseqno:integer,inhdetachpending:boolean',
  'pg_catalog.pg_matviews':
    'schemaname:name,matviewname:name,matviewowner:name,tablespace:name,hasindexes:boolean,ispopulated:boolean,definition:text',
  'pg_catalog.pg_namespace':
    'oid:oid,nspname:name,nspowner:oid,nspacl:aclitem[]',
  'pg_catalog.pg_opclass':
    'oid:oid,opcmethod:oid,opcname:name,opcnamespace:oid,opcowner:oid,opcfamily:oid,opcintype:oid,opcdefault:boolean,opckeytype:oid',
  'pg_catalog.pg_policy':
    'oid:oid,polname:name,polrelid:oid,polcmd:char,polpermissive:boolean,polroles:oid[],polqual:pg_node_tree,polwithcheck:pg_node_tree',
  'pg_catalog.pg_proc':
    'oid:oid,proname:name,pronamespace:oid,proowner:oid,prolang:oid,procost:real,prorows:real,provariadic:oid,prosupport:regproc,prokind:char,prosecdef:boolean,proleakproof:boolean,proisstrict:boolean,proretset:boolean,provolatile:char,proparallel:char,pronargs:smallint,pronargdefaults:smallint,prorettype:oid,proargtypes:oidvector,proallargtypes:oid[],proargmodes:char[],proargnames:text[],proargdefaults:pg_node_tree,protrftypes:oid[],prosrc:text,probin:text,prosqlbody:pg_node_tree,proconfig:text[],proacl:aclitem[]',
  'pg_catalog.pg_publication':
    'oid:oid,pubname:name,pubowner:oid,puballtables:boolean,pubinsert:boolean,pubupdate:boolean,pubdelete:boolean,pubtruncate:boolean,pubviaroot:boolean',
  'pg_catalog.pg_publication_namespace':
    'oid:oid,pnpubid:oid,pnnspid:oid',
  'pg_catalog.pg_publication_rel':
    'oid:oid,prpubid:oid,prrelid:oid,prqual:pg_node_tree,prattrs:int2vector',
  'pg_catalog.pg_roles':
    'rolname:name,rolsuper:boolean,rolinherit:boolean,rolcreaterole:boolean,rolcreatedb:boolean,rolcanlogin:boolean,rolreplication:boolean,rolconnlimit:integer,rolpassword:text,rolvaliduntil:timestamptz,rolbypassrls:boolean,rolconfig:text[],oid:oid',
  'pg_catalog.pg_sequence':
    'seqrelid:oid,seqtypid:oid,seqstart:bigint,seqincrement:bigint,seqmax:bigint,seqmin:bigint,seqcache:bigint,seqcycle:boolean',
  'pg_catalog.pg_settings':
    'name:text,setting:text,unit:text,category:text,short_desc:text,extra_desc:text,context:text,vartype:text,source:text,min_val:text,max_val:text,enumvals:text[],boot_val:text,reset_val:text,sourcefile:text,sourceline:integer,pending_restart:boolean',
  'pg_catalog.pg_statistic_ext':
    'oid:oid,stxrelid:oid,stxname:name,stxnamespace:oid,stxowner:oid,stxstattarget:integer,stxkeys:int2vector,stxkind:char[],stxexprs:pg_node_tree',
  'pg_catalog.pg_tables':
    'schemaname:name,tablename:name,tableowner:name,tablespace:name,hasindexes:boolean,hasrules:boolean,hastriggers:boolean,rowsecurity:boolean',
  'pg_catalog.pg_tablespace':
    'oid:oid,spcname:name,spcowner:oid,spcacl:aclitem[],spcoptions:text[]',
  'pg_catalog.pg_trigger':
    'oid:oid,tgrelid:oid,tgparentid:oid,tgname:name,tgfoid:oid,tgtype:smallint,tgenabled:char,tgisinternal:boolean,tgconstrrelid:oid,tgconstrindid:oid,tgconstraint:oid,tgdeferrable:boolean,tginitdeferred:boolean,tgnargs:smallint,tgattr:int2vector,tgargs:bytea,tgqual:pg_node_tree,tgoldtable:name,tgnewtable:name',
  'pg_catalog.pg_type':
    'oid:oid,typname:name,typnamespace:oid,typowner:oid,typlen:smallint,typbyval:boolean,typtype:char,typcategory:char,typispreferred:boolean,typisdefined:boolean,typdelim:char,typrelid:oid,typsubscript:regproc,typelem:oid,typarray:oid,typinput:regproc,typoutput:regproc,typreceive:regproc,typsend:regproc,typmodin:regproc,typmodout:regproc,typanalyze:regproc,typalign:char,typstorage:char,typnotnull:boolean,typbasetype:oid,typtypmod:integer,typndims:integer,typcollation:oid,typdefaultbin:pg_node_tree,typdefault:text,typacl:aclitem[]',
  'pg_catalog.pg_user':
    'usename:name,usesysid:oid,usecreatedb:boolean,usesuper:boolean,userepl:boolean,usebypassrls:boolean,passwd:text,valuntil:timestamptz,useconfig:text[]',
  'pg_catalog.pg_views':
    'schemaname:name,viewname:name,viewowner:name,definition:text',
  'information_schema.check_constraints':
    'constraint_catalog:sql_identifier,constraint_schema:sql_identifier,constraint_name:sql_identifier,check_clause:character_data',
  'information_schema.columns':
    'table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,column_name:sql_identifier,ordinal_position:cardinal_number,column_default:character_data,is_nullable:yes_or_no,data_type:character_data,character_maximum_length:cardinal_number,character_octet_length:cardinal_number,numeric_precision:cardinal_number,numeric_precision_radix:cardinal_number,numeric_scale:cardinal_number,datetime_precision:cardinal_number,interval_type:character_data,interval_precision:cardinal_number,character_set_catalog:sql_identifier,character_set_schema:sql_identifier,character_set_name:sql_identifier,collation_catalog:sql_identifier,collation_schema:sql_identifier,collation_name:sql_identifier,domain_catalog:sql_identifier,domain_schema:sql_identifier,domain_name:sql_identifier,udt_catalog:sql_identifier,udt_schema:sql_identifier,udt_name:sql_identifier,scope_catalog:sql_identifier,scope_schema:sql_identifier,scope_name:sql_identifier,maximum_cardinality:cardinal_number,dtd_identifier:sql_identifier,is_self_referencing:yes_or_no,is_identity:yes_or_no,identity_generation:character_data,identity_start:character_data,identity_increment:character_data,identity_maximum:character_data,identity_minimum:character_data,identity_cycle:yes_or_no,is_generated:character_data,generation_expression:character_data,is_updatable:yes_or_no',
  'information_schema.constraint_column_usage':
    'table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,column_name:sql_identifier,constraint_catalog:sql_identifier,constraint_schema:sql_identifier,constraint_name:sql_identifier',
  'information_schema.key_column_usage':
    'constraint_catalog:sql_identifier,constraint_schema:sql_identifier,constraint_name:sql_identifier,table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,column_name:sql_identifier,ordinal_position:cardinal_number,position_in_unique_constraint:cardinal_number',
  'information_schema.referential_constraints':
    'constraint_catalog:sql_identifier,constraint_schema:sql_identifier,constraint_name:sql_identifier,unique_constraint_catalog:sql_identifier,unique_constraint_schema:sql_identifier,unique_constraint_name:sql_identifier,match_option:character_data,update_rule:character_data,delete_rule:character_data',
  'information_schema.schemata':
    'catalog_name:sql_identifier,schema_name:sql_identifier,schema_owner:sql_identifier,default_character_set_catalog:sql_identifier,default_character_set_schema:sql_identifier,default_character_set_name:sql_identifier,sql_path:character_data',
  'information_schema.sequences':
    'sequence_catalog:sql_identifier,sequence_schema:sql_identifier,sequence_name:sql_identifier,data_type:character_data,numeric_precision:cardinal_number,numeric_precision_radix:cardinal_number,numeric_scale:cardinal_number,start_value:character_data,minimum_value:character_data,maximum_value:character_data,increment:character_data,cycle_option:yes_or_no',
  'information_schema.table_constraints':
    'constraint_catalog:sql_identifier,constraint_schema:sql_identifier,constraint_name:sql_identifier,table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,constraint_type:character_data,is_deferrable:yes_or_no,initially_deferred:yes_or_no,enforced:yes_or_no,nulls_distinct:yes_or_no',
  'information_schema.tables':
    'table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,table_type:character_data,self_referencing_column_name:sql_identifier,reference_generation:character_data,user_defined_type_catalog:sql_identifier,user_defined_type_schema:sql_identifier,user_defined_type_name:sql_identifier,is_insertable_into:yes_or_no,is_typed:yes_or_no,commit_action:character_data',
  'information_schema.views':
    'table_catalog:sql_identifier,table_schema:sql_identifier,table_name:sql_identifier,view_definition:character_data,check_option:character_data,is_updatable:yes_or_no,is_insertable_into:yes_or_no,is_trigger_updatable:yes_or_no,is_trigger_deletable:yes_or_no,is_trigger_insertable_into:yes_or_no',
};

/** The engine type each PostgreSQL catalog column type is shown as (see the header). */
const CATALOG_TYPES: Readonly<Record<string, ColumnType>> = {
  oid: 'int4', regproc: 'int4', xid: 'int4', integer: 'int4', smallint: 'int2', bigint: 'int8', real: 'float4',
  boolean: 'bool', timestamptz: 'timestamptz', text: 'text', name: 'text', char: 'text', sql_identifier: 'text',
  character_data: 'text', yes_or_no: 'text', cardinal_number: 'int4',
};

function columnType(pgType: string): SqlType {
  return { name: CATALOG_TYPES[pgType] ?? 'text', length: null, scale: null };
}

function columnsOf(key: string): RelationColumn[] {
  const spec = COLUMNS[key];
  if (spec === undefined) throw new Error(`no column list for ${key}`);
  return spec.split(',').map((c) => {
    const [name = '', type = ''] = c.split(':');
    return { name, type: columnType(type) };
  });
}

/** A row written as column → value; absent columns are NULL, JS numbers in integer columns become bigint. */
type RowSpec = Readonly<Record<string, Value | number>>;

function relation(key: string, rows: () => Iterable<RowSpec>): VirtualRelation {
  const [schema = '', name = ''] = key.split('.');
  const columns = columnsOf(key);
  const toValue = (c: RelationColumn, v: Value | number | undefined): Value => {
    if (v === undefined || v === null) return null;
    if (typeof v === 'number' && (c.type.name === 'int2' || c.type.name === 'int4' || c.type.name === 'int8')) return BigInt(v);
    return v;
  };
  return {
    schema,
    name,
    columns,
    *rows() {
      for (const r of rows()) yield columns.map((c) => toValue(c, r[c.name]));
    },
  };
}

const empty = (key: string): VirtualRelation => relation(key, () => []);

/** A function the catalogs provide, as pg_proc lists it. */
export interface ProcInfo {
  readonly name: string;
  readonly oid: number;
  readonly returnsOid: number;
  /** proargtypes, as OIDs. */
  readonly argTypes: readonly number[];
  readonly volatility: 'i' | 's' | 'v';
}

const TEXT_COLLATION: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar']);

function collationOf(c: ColumnModel): number {
  return TEXT_COLLATION.has(c.type.name) ? Oid.defaultCollation : 0;
}

/** pg_attribute rows of one relation (a table, or an index over some of its columns). */
function attributeRows(relOid: number, columns: readonly ColumnModel[], ofIndex: boolean): RowSpec[] {
  return columns.map((c, i) => {
    const t = builtinType(c.typeOid);
    return {
      attrelid: relOid, attname: c.def.name, atttypid: c.typeOid, attstattarget: -1, attlen: t?.len ?? -1,
      attnum: ofIndex ? i + 1 : c.attnum, attndims: 0, attcacheoff: -1, atttypmod: c.typmod, attbyval: t?.byval ?? false,
      attalign: t?.align ?? 'i', attstorage: t?.storage ?? 'p', attcompression: '',
      attnotnull: ofIndex ? false : c.def.notNull, atthasdef: !ofIndex && defaultExpr(c) !== null, atthasmissing: false,
      attidentity: '', attgenerated: '', attisdropped: false, attislocal: !ofIndex, attinhcount: 0, attcollation: collationOf(c),
    };
  });
}

function classRows(m: CatalogModel): RowSpec[] {
  const common = {
    relnamespace: Oid.public, reloftype: 0, relowner: Oid.bootstrapRole, reltablespace: 0, relpages: 0, reltuples: -1, relallvisible: 0,
    reltoastrelid: 0, relisshared: false, relpersistence: 'p', relhasrules: false, relhastriggers: false, relhassubclass: false,
    relrowsecurity: false, relforcerowsecurity: false, relispopulated: true, relispartition: false, relrewrite: 0, relfrozenxid: 0, relminmxid: 0,
  } as const;
  return m.tables.flatMap((t) => [
    {
      ...common, oid: t.oid, relname: t.table.name, reltype: t.rowTypeOid, relam: Oid.heapAm, relfilenode: t.oid, relkind: 'r',
      relnatts: t.columns.length, relchecks: t.constraints.filter((c) => c.contype === 'c').length, relhasindex: t.indexes.length > 0, relreplident: 'd',
      relfrozenxid: 1, relminmxid: 1,
    },
    ...t.indexes.map((ix) => ({
      ...common, oid: ix.oid, relname: ix.name, reltype: 0, relam: Oid.btreeAm, relfilenode: ix.oid, relkind: 'i', relnatts: ix.attnums.length,
      relchecks: 0, relhasindex: false, relreplident: 'n', reltuples: 0,
    })),
  ]);
}

function indexColumns(t: TableModel, attnums: readonly number[]): ColumnModel[] {
  return attnums.flatMap((n) => {
    const c = t.columns[n - 1];
    return c === undefined ? [] : [c];
  });
}

function typeRows(m: CatalogModel): RowSpec[] {
  const builtin = BUILTIN_TYPES.map((t) => ({
    oid: t.oid, typname: t.name, typnamespace: Oid.pgCatalog, typowner: Oid.bootstrapRole, typlen: t.len, typbyval: t.byval, typtype: t.type,
    typcategory: t.category, typispreferred: t.preferred, typisdefined: true, typdelim: ',', typrelid: 0, typsubscript: t.subscript,
    typelem: t.elem, typarray: t.array, typinput: t.input, typoutput: t.output, typreceive: t.receive, typsend: t.send, typmodin: t.modin,
    typmodout: t.modout, typanalyze: t.category === 'A' ? 'array_typanalyze' : '-', typalign: t.align, typstorage: t.storage,
    typnotnull: false, typbasetype: 0, typtypmod: -1, typndims: 0, typcollation: t.collation,
  }));
  // Each table's row type, as CREATE TABLE makes one (its array type is left out: nothing reads it).
  const rowTypes = m.tables.map((t) => ({
    oid: t.rowTypeOid, typname: t.table.name, typnamespace: Oid.public, typowner: Oid.bootstrapRole, typlen: -1, typbyval: false, typtype: 'c',
    typcategory: 'C', typispreferred: false, typisdefined: true, typdelim: ',', typrelid: t.oid, typsubscript: '-', typelem: 0, typarray: 0,
    typinput: 'record_in', typoutput: 'record_out', typreceive: 'record_recv', typsend: 'record_send', typmodin: '-', typmodout: '-',
    typanalyze: '-', typalign: 'd', typstorage: 'x', typnotnull: false, typbasetype: 0, typtypmod: -1, typndims: 0, typcollation: 0,
  }));
  return [...builtin, ...rowTypes];
}

function indexRows(m: CatalogModel): RowSpec[] {
  return m.tables.flatMap((t) =>
    t.indexes.map((ix) => {
      const cols = indexColumns(t, ix.attnums);
      return {
        indexrelid: ix.oid, indrelid: t.oid, indnatts: ix.attnums.length, indnkeyatts: ix.attnums.length, indisunique: true,
        indnullsnotdistinct: false, indisprimary: ix.primary, indisexclusion: false, indimmediate: true, indisclustered: false,
        indisvalid: true, indcheckxmin: false, indisready: true, indislive: true, indisreplident: false, indkey: ix.attnums.join(' '),
        indcollation: cols.map(collationOf).join(' '), indclass: cols.map((c) => DEFAULT_BTREE_OPCLASS[c.typeOid] ?? 0).join(' '),
        indoption: cols.map(() => 0).join(' '),
      };
    }),
  );
}

function constraintRows(m: CatalogModel): RowSpec[] {
  return m.tables.flatMap((t) =>
    t.constraints.map((c) => ({
      oid: c.oid, conname: c.name, connamespace: Oid.public, contype: c.contype, condeferrable: false, condeferred: false, convalidated: true,
      conrelid: t.oid, contypid: 0, conindid: c.indexOid, conparentid: 0, confrelid: 0, confupdtype: ' ', confdeltype: ' ', confmatchtype: ' ',
      conislocal: true, coninhcount: 0, connoinherit: false, conkey: `{${c.attnums.join(',')}}`,
      conbin: c.checkSql === null ? null : checkExpr(c.checkSql, t, false),
    })),
  );
}

function attrdefRows(m: CatalogModel): RowSpec[] {
  return m.tables.flatMap((t) =>
    t.columns.flatMap((c) => {
      const expr = defaultExpr(c);
      return expr === null ? [] : [{ oid: attrdefOid(t.table, c.attnum), adrelid: t.oid, adnum: c.attnum, adbin: expr }];
    }),
  );
}

function namespaceRows(ctx: CatalogContext): RowSpec[] {
  return [
    { oid: Oid.pgCatalog, nspname: 'pg_catalog', nspowner: Oid.bootstrapRole, nspacl: `{${ctx.user}=UC/${ctx.user},=U/${ctx.user}}` },
    { oid: Oid.public, nspname: 'public', nspowner: Oid.databaseOwnerRole, nspacl: '{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}' },
    { oid: Oid.informationSchema, nspname: 'information_schema', nspowner: Oid.bootstrapRole, nspacl: `{${ctx.user}=UC/${ctx.user},=U/${ctx.user}}` },
  ];
}

function roleRows(ctx: CatalogContext): RowSpec[] {
  const all = { rolsuper: true, rolinherit: true, rolcreaterole: true, rolcreatedb: true, rolcanlogin: true, rolreplication: true, rolbypassrls: true } as const;
  const none = { rolsuper: false, rolinherit: true, rolcreaterole: false, rolcreatedb: false, rolcanlogin: false, rolreplication: false, rolbypassrls: false } as const;
  return [
    { ...all, rolname: ctx.user, rolconnlimit: -1, rolpassword: '********', oid: Oid.bootstrapRole },
    { ...none, rolname: 'pg_database_owner', rolconnlimit: -1, rolpassword: '********', oid: Oid.databaseOwnerRole },
  ];
}

/** information_schema.columns' type description of a column, as PostgreSQL 15 computes it. */
function columnTypeInfo(c: ColumnModel): RowSpec {
  const t = c.type;
  const data_type = t.name === 'bpchar' ? 'character' : (formatBuiltinType(c.typeOid, -1) ?? t.name);
  const udt_name = builtinType(c.typeOid)?.name ?? t.name;
  const base = { data_type, udt_name };
  switch (t.name) {
    case 'varchar':
    case 'bpchar':
    case 'text': {
      const length = t.name === 'bpchar' ? (t.length ?? 1) : t.length;
      // UTF8: at most 4 bytes a character; unbounded text is reported as 1 GB.
      return { ...base, character_maximum_length: length, character_octet_length: length === null ? 1_073_741_824 : length * 4 };
    }
    case 'int2':
      return { ...base, numeric_precision: 16, numeric_precision_radix: 2, numeric_scale: 0 };
    case 'int4':
      return { ...base, numeric_precision: 32, numeric_precision_radix: 2, numeric_scale: 0 };
    case 'int8':
      return { ...base, numeric_precision: 64, numeric_precision_radix: 2, numeric_scale: 0 };
    case 'float4':
      return { ...base, numeric_precision: 24, numeric_precision_radix: 2 };
    case 'float8':
      return { ...base, numeric_precision: 53, numeric_precision_radix: 2 };
    case 'numeric':
      return { ...base, numeric_precision: t.length, numeric_precision_radix: 10, numeric_scale: t.length === null ? null : t.scale };
    case 'date':
      return { ...base, datetime_precision: 0 };
    case 'timestamp':
    case 'timestamptz':
      return { ...base, datetime_precision: 6 };
    default:
      return base;
  }
}

function informationSchema(ctx: CatalogContext, m: CatalogModel): VirtualRelation[] {
  const db = ctx.database;
  const constraintType = { p: 'PRIMARY KEY', u: 'UNIQUE', c: 'CHECK' } as const;
  // PostgreSQL 15 reports each NOT NULL column as a CHECK constraint named <nsp oid>_<rel oid>_<attnum>_not_null.
  const notNulls = (t: TableModel): ColumnModel[] => t.columns.filter((c) => c.def.notNull);
  const notNullName = (t: TableModel, c: ColumnModel): string => `${Oid.public}_${t.oid}_${c.attnum}_not_null`;
  return [
    relation('information_schema.schemata', () => namespaceRows(ctx).map((n) => ({
      catalog_name: db, schema_name: n.nspname ?? null, schema_owner: n.nspowner === Oid.databaseOwnerRole ? 'pg_database_owner' : ctx.user,
    }))),
    relation('information_schema.tables', () => m.tables.map((t) => ({
      table_catalog: db, table_schema: 'public', table_name: t.table.name, table_type: 'BASE TABLE', is_insertable_into: 'YES', is_typed: 'NO',
    }))),
    relation('information_schema.columns', () => m.tables.flatMap((t) => t.columns.map((c) => ({
      table_catalog: db, table_schema: 'public', table_name: t.table.name, column_name: c.def.name, ordinal_position: c.attnum,
      column_default: defaultExpr(c), is_nullable: c.def.notNull ? 'NO' : 'YES', ...columnTypeInfo(c), udt_catalog: db, udt_schema: 'pg_catalog',
      dtd_identifier: String(c.attnum), is_self_referencing: 'NO', is_identity: 'NO', identity_cycle: 'NO', is_generated: 'NEVER', is_updatable: 'YES',
    })))),
    relation('information_schema.table_constraints', () => m.tables.flatMap((t) => [
      ...t.constraints.map((c) => ({ name: c.name, type: constraintType[c.contype], nullsDistinct: c.contype === 'u' ? 'YES' : null })),
      ...notNulls(t).map((c) => ({ name: notNullName(t, c), type: 'CHECK', nullsDistinct: null })),
    ].map((c) => ({
      constraint_catalog: db, constraint_schema: 'public', constraint_name: c.name, table_catalog: db, table_schema: 'public', table_name: t.table.name,
      constraint_type: c.type, is_deferrable: 'NO', initially_deferred: 'NO', enforced: 'YES', nulls_distinct: c.nullsDistinct,
    })))),
    relation('information_schema.key_column_usage', () => m.tables.flatMap((t) => t.constraints.filter((c) => c.contype !== 'c').flatMap((c) => c.attnums.map((n, i) => ({
      constraint_catalog: db, constraint_schema: 'public', constraint_name: c.name, table_catalog: db, table_schema: 'public', table_name: t.table.name,
      column_name: t.columns[n - 1]?.def.name ?? null, ordinal_position: i + 1,
    }))))),
    relation('information_schema.check_constraints', () => m.tables.flatMap((t) => [
      ...t.constraints.filter((c) => c.checkSql !== null).map((c) => ({ name: c.name, clause: `(${checkExpr(c.checkSql ?? '', t, false)})` })),
      ...notNulls(t).map((c) => ({ name: notNullName(t, c), clause: `${quoteIdent(c.def.name)} IS NOT NULL` })),
    ].map((c) => ({ constraint_catalog: db, constraint_schema: 'public', constraint_name: c.name, check_clause: c.clause })))),
    relation('information_schema.constraint_column_usage', () => m.tables.flatMap((t) => t.constraints.flatMap((c) => c.attnums.map((n) => ({
      table_catalog: db, table_schema: 'public', table_name: t.table.name, column_name: t.columns[n - 1]?.def.name ?? null,
      constraint_catalog: db, constraint_schema: 'public', constraint_name: c.name,
    }))))),
    empty('information_schema.referential_constraints'),
    empty('information_schema.views'),
    empty('information_schema.sequences'),
  ];
}

function settingRows(ctx: CatalogContext): RowSpec[] {
  return SETTING_INFO.flatMap((info) => {
    const value = ctx.setting(info.name);
    if (value === undefined) return [];
    return [{
      name: info.name, setting: value, unit: info.unit, category: info.category, short_desc: info.shortDesc, context: info.context,
      vartype: info.vartype, source: info.context === 'internal' ? 'default' : 'session', boot_val: value, reset_val: value, pending_restart: false,
    }];
  });
}

const OPCLASS_NAMES: Readonly<Record<number, string>> = {
  10003: 'bool_ops', 10006: 'bytea_ops', 10028: 'name_ops', 3124: 'int8_ops', 1979: 'int2_ops', 1978: 'int4_ops', 3126: 'text_ops', 1981: 'oid_ops',
  10012: 'float4_ops', 3123: 'float8_ops', 10004: 'bpchar_ops', 3122: 'date_ops', 3128: 'timestamp_ops', 3127: 'timestamptz_ops', 3125: 'numeric_ops',
  10065: 'uuid_ops',
};

function opclassRows(): RowSpec[] {
  // varchar shares text_ops: one row per operator class, for the type it is declared for.
  return Object.entries(DEFAULT_BTREE_OPCLASS)
    .filter(([type, oid]) => !(Number(type) === 1043 && oid === 3126))
    .map(([type, oid]) => ({ oid, opcmethod: Oid.btreeAm, opcname: OPCLASS_NAMES[oid] ?? null, opcnamespace: Oid.pgCatalog, opcowner: Oid.bootstrapRole, opcfamily: 0, opcintype: Number(type), opcdefault: true, opckeytype: 0 }));
}

/** Every virtual relation, built lazily: a relation's rows are computed when a query reads it. */
export function catalogRelations(ctx: CatalogContext, procs: readonly ProcInfo[]): VirtualRelation[] {
  const m = catalogModel(ctx.catalog);
  const user = ctx.user;
  return [
    relation('pg_catalog.pg_namespace', () => namespaceRows(ctx)),
    relation('pg_catalog.pg_class', () => classRows(m)),
    relation('pg_catalog.pg_attribute', () => m.tables.flatMap((t) => [
      ...attributeRows(t.oid, t.columns, false),
      ...t.indexes.flatMap((ix) => attributeRows(ix.oid, indexColumns(t, ix.attnums), true)),
    ])),
    relation('pg_catalog.pg_type', () => typeRows(m)),
    relation('pg_catalog.pg_index', () => indexRows(m)),
    relation('pg_catalog.pg_constraint', () => constraintRows(m)),
    relation('pg_catalog.pg_attrdef', () => attrdefRows(m)),
    relation('pg_catalog.pg_database', () => [{
      oid: Oid.database, datname: ctx.database, datdba: Oid.bootstrapRole, encoding: Oid.utf8Encoding, datlocprovider: 'c', datistemplate: false,
      datallowconn: true, datconnlimit: -1, datfrozenxid: 0, datminmxid: 1, dattablespace: Oid.defaultTablespace, datcollate: 'C', datctype: 'C',
    }]),
    relation('pg_catalog.pg_settings', () => settingRows(ctx)),
    relation('pg_catalog.pg_proc', () => procs.map((p) => ({
      oid: p.oid, proname: p.name, pronamespace: Oid.pgCatalog, proowner: Oid.bootstrapRole, prolang: Oid.internalLanguage, procost: 1, prorows: 0,
      provariadic: 0, prosupport: '-', prokind: 'f', prosecdef: false, proleakproof: false, proisstrict: true, proretset: false, provolatile: p.volatility,
      proparallel: 's', pronargs: p.argTypes.length, pronargdefaults: 0, prorettype: p.returnsOid, proargtypes: p.argTypes.join(' '), prosrc: p.name,
    }))),
    relation('pg_catalog.pg_am', () => [
      { oid: Oid.heapAm, amname: 'heap', amhandler: 'heap_tableam_handler', amtype: 't' },
      { oid: Oid.btreeAm, amname: 'btree', amhandler: 'bthandler', amtype: 'i' },
      { oid: Oid.hashAm, amname: 'hash', amhandler: 'hashhandler', amtype: 'i' },
    ]),
    relation('pg_catalog.pg_roles', () => roleRows(ctx)),
    relation('pg_catalog.pg_user', () => [{ usename: user, usesysid: Oid.bootstrapRole, usecreatedb: true, usesuper: true, userepl: true, usebypassrls: true, passwd: '********' }]),
    relation('pg_catalog.pg_tablespace', () => [
      { oid: Oid.defaultTablespace, spcname: 'pg_default', spcowner: Oid.bootstrapRole },
      { oid: Oid.globalTablespace, spcname: 'pg_global', spcowner: Oid.bootstrapRole },
    ]),
    relation('pg_catalog.pg_collation', () => [
      { oid: Oid.defaultCollation, collname: 'default', collnamespace: Oid.pgCatalog, collowner: Oid.bootstrapRole, collprovider: 'd', collisdeterministic: true, collencoding: -1 },
      { oid: Oid.cCollation, collname: 'C', collnamespace: Oid.pgCatalog, collowner: Oid.bootstrapRole, collprovider: 'c', collisdeterministic: true, collencoding: -1, collcollate: 'C', collctype: 'C' },
      { oid: Oid.posixCollation, collname: 'POSIX', collnamespace: Oid.pgCatalog, collowner: Oid.bootstrapRole, collprovider: 'c', collisdeterministic: true, collencoding: -1, collcollate: 'POSIX', collctype: 'POSIX' },
    ]),
    relation('pg_catalog.pg_opclass', opclassRows),
    relation('pg_catalog.pg_tables', () => m.tables.map((t) => ({
      schemaname: 'public', tablename: t.table.name, tableowner: user, hasindexes: t.indexes.length > 0, hasrules: false, hastriggers: false, rowsecurity: false,
    }))),
    relation('pg_catalog.pg_indexes', () => m.tables.flatMap((t) => t.indexes.map((ix) => ({
      schemaname: 'public', tablename: t.table.name, indexname: ix.name, indexdef: indexDef(ix, 0, false, false),
    })))),
    // Objects OrdoDB does not have: the relations exist, empty, because psql's \d and ORMs read them.
    ...['pg_description', 'pg_inherits', 'pg_trigger', 'pg_policy', 'pg_statistic_ext', 'pg_publication', 'pg_publication_rel',
      'pg_publication_namespace', 'pg_depend', 'pg_enum', 'pg_extension', 'pg_sequence', 'pg_views', 'pg_matviews'].map((n) => empty(`pg_catalog.${n}`)),
    ...informationSchema(ctx, m),
  ];
}
