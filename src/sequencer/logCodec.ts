// The byte form of input log entries: an Avro payload (schemas/log/LogEntry.v<N>.avsc) inside a small
// checksummed envelope that names the writer schema.
//
// Envelope layout (all records, whatever the schema version):
//
//   offset  size  field
//   0       4     magic "ORD1"
//   4       1     envelope format version (1)
//   5       4     CRC-32 (IEEE, as zlib/gzip), unsigned big-endian, over every byte from offset 9 to the end
//   9       8     writer schema fingerprint: CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form,
//                 little-endian, exactly as in Avro's single-object encoding
//   17      ...   payload: the LogEntry in Avro binary encoding under that writer schema
//
// The checksum covers the fingerprint as well as the payload, so a damaged fingerprint reads as a checksum
// mismatch rather than as a record of some other schema. The fingerprint is the standard Avro one so any
// Avro tool can find the writer schema of a stored record.
//
// Versions: every writer schema ever released stays in schemas/log/ as LogEntry.v<N>.avsc and is never
// edited (editing one would change its fingerprint and orphan the records written with it). The highest
// N is the current writer and reader schema; records of older versions are read through Avro schema
// resolution (avsc createResolver), so a field added with a default reads as that default. A fingerprint
// that matches no file is refused: the record was written by a newer or foreign writer.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Type as AvroType } from 'avsc';
import { BinaryOps, Functions, UnaryOps } from '../executor/program.js';
import type { BinaryOp, Expr, FunctionName, KeyExpr, KeySetExpr, Program, RangeExpr, Stmt, UnaryOp } from '../executor/program.js';
import { decodeTuple, encodeTuple } from '../partitions/index.js';
import type { Value } from '../partitions/index.js';
import { OrdoError, SqlState, crc32, errorMessage, repoRoot } from '../util/index.js';
import { ColumnTypes, EntryRejectedError, IdentityKinds } from './types.js';
import type {
  Batch,
  CheckConstraint,
  ColumnDef,
  ColumnDefault,
  ColumnType,
  ControlEntry,
  IdentityKind,
  LogEntry,
  LogEntryBody,
  SequenceDef,
  TableDef,
  TxnKind,
  TxnRequest,
  UniqueConstraint,
} from './types.js';

/** A stored log record is damaged or unreadable; `position` is the log position it was read at. */
export class LogCorruptionError extends OrdoError {
  readonly position: number;
  constructor(position: number, problem: string, options?: { cause?: unknown }) {
    super(SqlState.dataCorrupted, `input log record at position ${position} is corrupt: ${problem}`, options);
    this.name = 'LogCorruptionError';
    this.position = position;
  }
}

export const LogEnvelope = {
  magic: Buffer.from('ORD1', 'latin1'),
  formatVersion: 1,
  checksumOffset: 5,
  fingerprintOffset: 9,
  payloadOffset: 17,
} as const;

// ---------------------------------------------------------------------------------------------------------
// Checksums and fingerprints


const RABIN_EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;
/** CRC-64-AVRO of a schema's canonical form (Avro specification, "Schema Fingerprints"). Runs at load only. */
function rabinFingerprint(text: string): Buffer {
  const table: bigint[] = [];
  for (let i = 0n; i < 256n; i++) {
    let fp = i;
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (RABIN_EMPTY & -(fp & 1n));
    table.push(fp & MASK64);
  }
  let fp = RABIN_EMPTY;
  for (const b of Buffer.from(text, 'utf8')) fp = (fp >> 8n) ^ (table[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp & MASK64);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Schema registry


export interface LogSchemaVersion {
  readonly version: number;
  /** CRC-64-AVRO of the canonical form, little-endian: the envelope's fingerprint bytes. */
  readonly fingerprint: Buffer;
  readonly file: string;
}

interface LoadedSchema extends LogSchemaVersion {
  readonly type: AvroType;
  /** Reads this version's records as the current version; undefined for the current version itself. */
  readonly resolver: ReturnType<AvroType['createResolver']> | undefined;
}

interface Registry {
  readonly current: LoadedSchema;
  readonly byVersion: ReadonlyMap<number, LoadedSchema>;
  readonly byFingerprint: ReadonlyMap<string, LoadedSchema>;
}

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];

const NS = 'ordo.log.';
const SCHEMA_FILE = /^LogEntry\.v([1-9][0-9]*)\.avsc$/;

let registry: Registry | undefined;

function loadRegistry(): Registry {
  if (registry !== undefined) return registry;
  const dir = join(repoRoot(), 'schemas', 'log');
  const found: { version: number; file: string; type: AvroType }[] = [];
  for (const name of readdirSync(dir)) {
    const m = SCHEMA_FILE.exec(name);
    if (m === null) continue;
    const file = join(dir, name);
    // wrapUnions always: every union in the log is either nullable or a union of records, and a uniform
    // {branch name: value} shape keeps the conversion code free of guessing.
    const type = avro.Type.forSchema(JSON.parse(readFileSync(file, 'utf8')) as AvroSchema, { wrapUnions: true });
    found.push({ version: Number(m[1]), file, type });
  }
  found.sort((a, b) => a.version - b.version);
  const newest = found[found.length - 1];
  if (newest === undefined) throw new Error(`no LogEntry.v<N>.avsc schema in ${dir}`);
  const byVersion = new Map<number, LoadedSchema>();
  const byFingerprint = new Map<string, LoadedSchema>();
  for (const f of found) {
    const fingerprint = rabinFingerprint(JSON.stringify(f.type.schema()));
    const loaded: LoadedSchema = {
      version: f.version,
      file: f.file,
      fingerprint,
      type: f.type,
      resolver: f === newest ? undefined : newest.type.createResolver(f.type),
    };
    const key = fingerprint.toString('hex');
    const clash = byFingerprint.get(key);
    if (clash !== undefined) throw new Error(`log schemas v${clash.version} and v${f.version} have the same canonical form`);
    byVersion.set(f.version, loaded);
    byFingerprint.set(key, loaded);
  }
  const current = byVersion.get(newest.version) as LoadedSchema;
  checkEnumCoverage(current.type);
  registry = { current, byVersion, byFingerprint };
  return registry;
}

/** Every log schema version found in schemas/log/, oldest first. The last one is what the writer uses. */
export function logSchemaVersions(): readonly LogSchemaVersion[] {
  return [...loadRegistry().byVersion.values()].map(({ version, fingerprint, file }) => ({
    version,
    fingerprint: Buffer.from(fingerprint),
    file,
  }));
}

// ---------------------------------------------------------------------------------------------------------
// The Avro form: what avsc writes and reads for the schema (wrapped unions are {'ordo.log.X': value}).

interface AvroExpr {
  readonly node: Readonly<Record<string, unknown>>;
}
interface AvroKeyExpr {
  readonly table: number;
  readonly index: number;
  readonly parts: readonly AvroExpr[];
}
interface AvroRangeExpr {
  readonly table: number;
  readonly index: number;
  readonly lower: readonly AvroExpr[];
  readonly lowerInclusive: boolean;
  readonly upper: { readonly array: readonly AvroExpr[] } | null;
  readonly upperInclusive: boolean;
}
interface AvroKeySet {
  readonly points: readonly AvroKeyExpr[];
  readonly ranges: readonly AvroRangeExpr[];
}
interface AvroStmt {
  readonly node: Readonly<Record<string, unknown>>;
}
interface AvroProgram {
  readonly reads: AvroKeySet;
  readonly writes: AvroKeySet;
  readonly body: readonly AvroStmt[];
}
interface AvroTxn {
  readonly txnId: string;
  readonly user: string;
  readonly kind: TxnKind;
  /** Absent in v1 writes (the v1 type ignores it); always present in reads (resolution fills the default). */
  readonly sql: string;
  readonly program: number;
  readonly params: Buffer;
}
interface AvroBatch {
  readonly epoch: number;
  readonly timestampMs: number;
  readonly programs: readonly AvroProgram[];
  readonly txns: readonly AvroTxn[];
}
interface AvroControlEntry {
  readonly timestampMs: number;
  readonly control: Readonly<Record<string, unknown>>;
}
interface AvroLogEntry {
  readonly position: number;
  readonly body: Readonly<Record<string, unknown>>;
}

// Avro enum symbols must be identifiers, so binary operators are spelled out.
const binaryOpSymbol: Readonly<Record<BinaryOp, string>> = {
  '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod',
  '=': 'eq', '<>': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge',
  and: 'and', or: 'or', '||': 'concat',
};
const binaryOpOfSymbol: ReadonlyMap<string, BinaryOp> = new Map(
  BinaryOps.map((op) => [binaryOpSymbol[op], op] as const),
);
const unaryOpSet: ReadonlySet<string> = new Set(UnaryOps);
const functionSet: ReadonlySet<string> = new Set(Functions);

/**
 * Fails at load, not at the first write, when program.ts gained an operator or function the current
 * schema cannot carry: the fix is a new schema version.
 */
function checkEnumCoverage(type: AvroType): void {
  const symbols = new Map<string, ReadonlySet<string>>();
  const visit = (schema: unknown): void => {
    if (Array.isArray(schema)) {
      for (const s of schema) visit(s);
    } else if (typeof schema === 'object' && schema !== null) {
      const s = schema as { type?: unknown; name?: unknown; symbols?: unknown; fields?: unknown; items?: unknown };
      if (s.type === 'enum' && typeof s.name === 'string' && Array.isArray(s.symbols)) {
        symbols.set(s.name, new Set(s.symbols as string[]));
      }
      if (Array.isArray(s.fields)) for (const f of s.fields as { type: unknown }[]) visit(f.type);
      visit(s.type);
      visit(s.items);
    }
  };
  visit(type.schema());
  const need: [string, readonly string[]][] = [
    [`${NS}BinaryOp`, BinaryOps.map((op) => binaryOpSymbol[op])],
    [`${NS}UnaryOp`, UnaryOps],
    [`${NS}FunctionName`, Functions],
  ];
  for (const [name, wanted] of need) {
    const have = symbols.get(name);
    const missing = wanted.filter((w) => have === undefined || !have.has(w));
    if (missing.length > 0) throw new Error(`log schema enum ${name} lacks ${missing.join(', ')}: add a schema version`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// TS → Avro

function exprToAvro(e: Expr): AvroExpr {
  switch (e.k) {
    case 'lit':
      return { node: { [`${NS}Lit`]: { value: encodeTuple([e.v]) } } };
    case 'param':
      return { node: { [`${NS}Param`]: { i: e.i } } };
    case 'var':
      return { node: { [`${NS}Var`]: { name: e.name } } };
    case 'col':
      return { node: { [`${NS}Col`]: { row: e.row, i: e.i } } };
    case 'found':
      return { node: { [`${NS}Found`]: { row: e.row } } };
    case 'count':
      return { node: { [`${NS}Count`]: { scan: e.scan } } };
    case 'version':
      return { node: { [`${NS}Version`]: { key: keyToAvro(e.key) } } };
    case 'un':
      return { node: { [`${NS}Un`]: { op: e.op, a: exprToAvro(e.a) } } };
    case 'bin':
      return { node: { [`${NS}Bin`]: { op: binaryOpSymbol[e.op], a: exprToAvro(e.a), b: exprToAvro(e.b) } } };
    case 'call':
      return { node: { [`${NS}Call`]: { fn: e.fn, args: e.args.map(exprToAvro) } } };
  }
}

function keyToAvro(k: KeyExpr): AvroKeyExpr {
  return { table: k.table, index: k.index, parts: k.parts.map(exprToAvro) };
}

function rangeToAvro(r: RangeExpr): AvroRangeExpr {
  return {
    table: r.table,
    index: r.index,
    lower: r.lower.map(exprToAvro),
    lowerInclusive: r.lowerInclusive,
    upper: r.upper === null ? null : { array: r.upper.map(exprToAvro) },
    upperInclusive: r.upperInclusive,
  };
}

function keySetToAvro(s: KeySetExpr): AvroKeySet {
  return { points: s.points.map(keyToAvro), ranges: s.ranges.map(rangeToAvro) };
}

function stmtToAvro(s: Stmt): AvroStmt {
  switch (s.k) {
    case 'let':
      return { node: { [`${NS}Let`]: { name: s.name, e: exprToAvro(s.e) } } };
    case 'get':
      return { node: { [`${NS}Get`]: { into: s.into, key: keyToAvro(s.key) } } };
    case 'scan':
      return {
        node: {
          [`${NS}Scan`]: {
            into: s.into,
            range: rangeToAvro(s.range),
            limit: s.limit === null ? null : { [`${NS}Expr`]: exprToAvro(s.limit) },
            reverse: s.reverse,
            body: s.body.map(stmtToAvro),
          },
        },
      };
    case 'put':
      return { node: { [`${NS}Put`]: { key: keyToAvro(s.key), row: s.row.map(exprToAvro) } } };
    case 'delete':
      return { node: { [`${NS}Delete`]: { key: keyToAvro(s.key) } } };
    case 'if':
      return { node: { [`${NS}If`]: { cond: exprToAvro(s.cond), then: s.then.map(stmtToAvro), else: s.else.map(stmtToAvro) } } };
    case 'abort':
      return { node: { [`${NS}Abort`]: { code: s.code, message: exprToAvro(s.message) } } };
    case 'emit':
      return { node: { [`${NS}Emit`]: { values: s.values.map(exprToAvro) } } };
    case 'series':
      return {
        node: {
          [`${NS}Series`]: { into: s.into, from: exprToAvro(s.from), to: exprToAvro(s.to), step: exprToAvro(s.step), body: s.body.map(stmtToAvro) },
        },
      };
  }
}

// Programs are immutable and the SQL layer reuses one object per cached plan, so their Avro form (with
// the literals already tuple-encoded) is computed once per Program object, not once per batch.
const programCache = new WeakMap<Program, AvroProgram>();
function programToAvro(p: Program): AvroProgram {
  let out = programCache.get(p);
  if (out === undefined) {
    out = { reads: keySetToAvro(p.reads), writes: keySetToAvro(p.writes), body: p.body.map(stmtToAvro) };
    programCache.set(p, out);
  }
  return out;
}

function batchToAvro(b: Batch): AvroBatch {
  // Dedupe by identity: equal-but-distinct programs are stored twice, which is correct, just larger.
  const index = new Map<Program, number>();
  const programs: AvroProgram[] = [];
  const txns: AvroTxn[] = new Array<AvroTxn>(b.txns.length);
  for (let i = 0; i < b.txns.length; i++) {
    const t = b.txns[i] as TxnRequest;
    let p = index.get(t.program);
    if (p === undefined) {
      p = programs.length;
      programs.push(programToAvro(t.program));
      index.set(t.program, p);
    }
    txns[i] = { txnId: t.txnId, user: t.user, kind: t.kind, sql: t.sql, program: p, params: encodeTuple(t.params) };
  }
  return { epoch: b.epoch, timestampMs: b.timestampMs, programs, txns };
}

function controlToAvro(c: ControlEntry): Readonly<Record<string, unknown>> {
  switch (c.kind) {
    case 'noop':
      return { [`${NS}Noop`]: { reason: c.reason } };
    case 'setSetting':
      return { [`${NS}SetSetting`]: { name: c.name, value: c.value } };
    case 'createTable':
      return {
        [`${NS}CreateTable`]: {
          txnId: c.txnId,
          user: c.user,
          sql: c.sql,
          name: c.table.name,
          ifNotExists: c.ifNotExists,
          ...tableToAvro(c.table),
          sequences: (c.sequences ?? []).map(sequenceToAvro),
        },
      };
    case 'dropTable':
      return { [`${NS}DropTable`]: { txnId: c.txnId, user: c.user, sql: c.sql, names: c.names, ifExists: c.ifExists } };
    case 'addPrimaryKey':
      return { [`${NS}AddPrimaryKey`]: { txnId: c.txnId, user: c.user, sql: c.sql, table: c.table, columns: c.columns } };
    case 'createSequence':
      return { [`${NS}CreateSequence`]: { txnId: c.txnId, user: c.user, sql: c.sql, sequence: sequenceToAvro(c.sequence), ifNotExists: c.ifNotExists } };
    case 'dropSequence':
      return { [`${NS}DropSequence`]: { txnId: c.txnId, user: c.user, sql: c.sql, names: c.names, ifExists: c.ifExists } };
    case 'alterTable':
      return {
        [`${NS}AlterTable`]: {
          txnId: c.txnId,
          user: c.user,
          sql: c.sql,
          table: c.table,
          tableId: c.tableId,
          alteredAt: c.alteredAt === null ? null : { long: c.alteredAt },
          result: { name: c.result.name, ...tableToAvro(c.result) },
          sources: c.sources.map((x) => (x === null ? null : { int: x })),
          createSequences: c.createSequences.map(sequenceToAvro),
          dropSequences: c.dropSequences,
          failingCheck: c.failingCheck === null ? null : { string: c.failingCheck },
        },
      };
  }
}

/** The fields CreateTable and AlterTable's TableDef share. */
function tableToAvro(t: TableDef): { columns: AvroColumnDef[]; primaryKey: readonly number[]; uniques: readonly UniqueConstraint[]; checks: readonly CheckConstraint[] } {
  return {
    columns: t.columns.map((col) => ({
      name: col.name,
      type: col.type,
      length: col.length === null ? null : { int: col.length },
      scale: col.scale === null ? null : { int: col.scale },
      notNull: col.notNull,
      defaultValue: col.default?.kind === 'value' ? { bytes: Buffer.from(col.default.tupleHex, 'hex') } : null,
      defaultNow: col.default?.kind === 'now',
      defaultSequence: col.default?.kind === 'nextval' ? { string: col.default.sequence } : null,
      ownsSequence: col.default?.kind === 'nextval' && col.default.owned,
      identity: col.identity === undefined ? null : { [`${NS}IdentityKind`]: col.identity },
    })),
    primaryKey: t.primaryKey,
    uniques: t.uniques ?? [],
    checks: t.checks ?? [],
  };
}

interface AvroSequenceDef {
  readonly name: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cycle: boolean;
}

function sequenceToAvro(q: SequenceDef): AvroSequenceDef {
  return { name: q.name, start: String(q.start), increment: String(q.increment), min: String(q.min), max: String(q.max), cycle: q.cycle };
}

const INT8_TEXT = /^-?[0-9]{1,19}$/;

function sequenceFromAvro(a: AvroSequenceDef): SequenceDef {
  const int8 = (text: string, what: string): bigint => {
    const v = INT8_TEXT.test(text) ? BigInt(text) : null;
    if (v === null || v < -(2n ** 63n) || v >= 2n ** 63n) throw new PayloadError(`sequence ${a.name}: ${what} ${text} is not an int8`);
    return v;
  };
  const q: SequenceDef = { name: a.name, start: int8(a.start, 'start'), increment: int8(a.increment, 'increment'), min: int8(a.min, 'min'), max: int8(a.max, 'max'), cycle: a.cycle };
  if (q.increment === 0n || q.min > q.max || q.start < q.min || q.start > q.max) throw new PayloadError(`sequence ${a.name} has inconsistent options`);
  return q;
}

interface AvroTableFields {
  readonly columns: readonly AvroColumnDef[];
  readonly primaryKey: readonly number[];
  readonly uniques: readonly UniqueConstraint[];
  readonly checks: readonly CheckConstraint[];
}

function tableFromAvro(name: string, s: AvroTableFields): TableDef {
  return {
    name,
    columns: s.columns.map(columnFromAvro),
    primaryKey: [...s.primaryKey],
    // Absent rather than empty, as in tables created before v6.
    ...(s.uniques.length === 0 ? {} : { uniques: s.uniques.map((u) => uniqueFromAvro(u, s.columns.length)) }),
    ...(s.checks.length === 0 ? {} : { checks: s.checks.map((c) => ({ name: c.name, sql: c.sql })) }),
  };
}

interface AvroColumnDef {
  readonly name: string;
  readonly type: string;
  readonly length: { readonly int: number } | null;
  readonly scale: { readonly int: number } | null;
  readonly notNull: boolean;
  readonly defaultValue: { readonly bytes: Buffer } | null;
  readonly defaultNow: boolean;
  /** v7; resolution fills the defaults (null, false, null) in older records. */
  readonly defaultSequence: { readonly string: string } | null;
  readonly ownsSequence: boolean;
  readonly identity: Readonly<Record<string, string>> | null;
}

const identityKindSet: ReadonlySet<string> = new Set(IdentityKinds);

const columnTypeSet: ReadonlySet<string> = new Set(ColumnTypes);

function columnFromAvro(c: AvroColumnDef): ColumnDef {
  if (!columnTypeSet.has(c.type)) throw new PayloadError(`unknown column type ${c.type}`);
  let dflt: ColumnDefault | null = null;
  if (c.defaultValue !== null) {
    if (c.defaultNow) throw new PayloadError(`column ${c.name} has both a constant default and now()`);
    valueOf(c.defaultValue.bytes); // a payload problem now rather than a bad default later
    dflt = { kind: 'value', tupleHex: c.defaultValue.bytes.toString('hex') };
  } else if (c.defaultNow) dflt = { kind: 'now' };
  if (c.defaultSequence !== null) {
    if (dflt !== null) throw new PayloadError(`column ${c.name} has two defaults`);
    dflt = { kind: 'nextval', sequence: c.defaultSequence.string, owned: c.ownsSequence };
  } else if (c.ownsSequence) throw new PayloadError(`column ${c.name} owns a sequence but has no nextval default`);
  const identity = c.identity === null ? undefined : branch(c.identity)[1];
  if (identity !== undefined && (typeof identity !== 'string' || !identityKindSet.has(identity))) throw new PayloadError(`column ${c.name}: unknown identity kind`);
  if (identity !== undefined && dflt?.kind !== 'nextval') throw new PayloadError(`identity column ${c.name} has no sequence`);
  return {
    name: c.name,
    type: c.type as ColumnType,
    length: c.length === null ? null : c.length.int,
    scale: c.scale === null ? null : c.scale.int,
    notNull: c.notNull,
    default: dflt,
    ...(identity === undefined ? {} : { identity: identity as IdentityKind }),
  };
}

function uniqueFromAvro(u: UniqueConstraint, width: number): UniqueConstraint {
  // Index 0 is the primary index: a constraint there would have its entries dropped with the rows.
  if (u.index < 1) throw new PayloadError(`unique constraint ${u.name} has index id ${u.index}`);
  if (u.columns.length === 0 || u.columns.some((i) => i < 0 || i >= width)) {
    throw new PayloadError(`unique constraint ${u.name} names columns [${u.columns.join(', ')}] of a ${width}-column table`);
  }
  return { name: u.name, columns: [...u.columns], index: u.index };
}

function entryToAvro(entry: LogEntry): AvroLogEntry {
  if (entry.kind === 'batch') return { position: entry.position, body: { [`${NS}Batch`]: batchToAvro(entry.batch) } };
  const control: AvroControlEntry = { timestampMs: entry.timestampMs, control: controlToAvro(entry.control) };
  return { position: entry.position, body: { [`${NS}ControlEntry`]: control } };
}

// ---------------------------------------------------------------------------------------------------------
// Avro → TS. The values come from avsc decoding against the current schema, which guarantees the shapes
// the Avro* interfaces describe; what the schema cannot guarantee (tuple bytes, program indexes, enum
// symbols we map) is checked here and reported as a payload problem.

class PayloadError extends Error {}

/** The branch name (without namespace) and value of a wrapped union value. */
function branch(u: Readonly<Record<string, unknown>>): [string, unknown] {
  for (const key in u) return [key.startsWith(NS) ? key.slice(NS.length) : key, u[key]];
  throw new PayloadError('empty union value');
}

function valueOf(bytes: Buffer): Value {
  const values = decodeTuple(bytes);
  if (values.length !== 1) throw new PayloadError(`a literal holds ${values.length} values instead of 1`);
  return values[0] as Value;
}

function exprFromAvro(a: AvroExpr): Expr {
  const [name, v] = branch(a.node);
  switch (name) {
    case 'Lit':
      return { k: 'lit', v: valueOf((v as { value: Buffer }).value) };
    case 'Param':
      return { k: 'param', i: (v as { i: number }).i };
    case 'Var':
      return { k: 'var', name: (v as { name: string }).name };
    case 'Col': {
      const c = v as { row: string; i: number };
      return { k: 'col', row: c.row, i: c.i };
    }
    case 'Found':
      return { k: 'found', row: (v as { row: string }).row };
    case 'Count':
      return { k: 'count', scan: (v as { scan: string }).scan };
    case 'Version':
      return { k: 'version', key: keyFromAvro((v as { key: AvroKeyExpr }).key) };
    case 'Un': {
      const u = v as { op: string; a: AvroExpr };
      if (!unaryOpSet.has(u.op)) throw new PayloadError(`unknown unary operator ${u.op}`);
      return { k: 'un', op: u.op as UnaryOp, a: exprFromAvro(u.a) };
    }
    case 'Bin': {
      const b = v as { op: string; a: AvroExpr; b: AvroExpr };
      const op = binaryOpOfSymbol.get(b.op);
      if (op === undefined) throw new PayloadError(`unknown binary operator ${b.op}`);
      return { k: 'bin', op, a: exprFromAvro(b.a), b: exprFromAvro(b.b) };
    }
    case 'Call': {
      const c = v as { fn: string; args: readonly AvroExpr[] };
      if (!functionSet.has(c.fn)) throw new PayloadError(`unknown function ${c.fn}`);
      return { k: 'call', fn: c.fn as FunctionName, args: c.args.map(exprFromAvro) };
    }
    default:
      throw new PayloadError(`unknown expression kind ${name}`);
  }
}

function keyFromAvro(k: AvroKeyExpr): KeyExpr {
  return { table: k.table, index: k.index, parts: k.parts.map(exprFromAvro) };
}

function rangeFromAvro(r: AvroRangeExpr): RangeExpr {
  return {
    table: r.table,
    index: r.index,
    lower: r.lower.map(exprFromAvro),
    lowerInclusive: r.lowerInclusive,
    upper: r.upper === null ? null : r.upper.array.map(exprFromAvro),
    upperInclusive: r.upperInclusive,
  };
}

function keySetFromAvro(s: AvroKeySet): KeySetExpr {
  return { points: s.points.map(keyFromAvro), ranges: s.ranges.map(rangeFromAvro) };
}

function stmtFromAvro(a: AvroStmt): Stmt {
  const [name, v] = branch(a.node);
  switch (name) {
    case 'Let': {
      const s = v as { name: string; e: AvroExpr };
      return { k: 'let', name: s.name, e: exprFromAvro(s.e) };
    }
    case 'Get': {
      const s = v as { into: string; key: AvroKeyExpr };
      return { k: 'get', into: s.into, key: keyFromAvro(s.key) };
    }
    case 'Scan': {
      const s = v as {
        into: string;
        range: AvroRangeExpr;
        limit: Readonly<Record<string, unknown>> | null;
        reverse: boolean;
        body: readonly AvroStmt[];
      };
      return {
        k: 'scan',
        into: s.into,
        range: rangeFromAvro(s.range),
        limit: s.limit === null ? null : exprFromAvro(branch(s.limit)[1] as AvroExpr),
        reverse: s.reverse,
        body: s.body.map(stmtFromAvro),
      };
    }
    case 'Put': {
      const s = v as { key: AvroKeyExpr; row: readonly AvroExpr[] };
      return { k: 'put', key: keyFromAvro(s.key), row: s.row.map(exprFromAvro) };
    }
    case 'Delete':
      return { k: 'delete', key: keyFromAvro((v as { key: AvroKeyExpr }).key) };
    case 'If': {
      const s = v as { cond: AvroExpr; then: readonly AvroStmt[]; else: readonly AvroStmt[] };
      return { k: 'if', cond: exprFromAvro(s.cond), then: s.then.map(stmtFromAvro), else: s.else.map(stmtFromAvro) };
    }
    case 'Abort': {
      const s = v as { code: string; message: AvroExpr };
      return { k: 'abort', code: s.code, message: exprFromAvro(s.message) };
    }
    case 'Emit':
      return { k: 'emit', values: (v as { values: readonly AvroExpr[] }).values.map(exprFromAvro) };
    case 'Series': {
      const s = v as { into: string; from: AvroExpr; to: AvroExpr; step: AvroExpr; body: readonly AvroStmt[] };
      return { k: 'series', into: s.into, from: exprFromAvro(s.from), to: exprFromAvro(s.to), step: exprFromAvro(s.step), body: s.body.map(stmtFromAvro) };
    }
    default:
      throw new PayloadError(`unknown statement kind ${name}`);
  }
}

function programFromAvro(p: AvroProgram): Program {
  return { reads: keySetFromAvro(p.reads), writes: keySetFromAvro(p.writes), body: p.body.map(stmtFromAvro) };
}

function batchFromAvro(b: AvroBatch): Batch {
  // One decoded Program object per stored program, shared by every transaction that refers to it.
  const programs = b.programs.map(programFromAvro);
  const txns = b.txns.map((t): TxnRequest => {
    const program = programs[t.program];
    if (program === undefined) throw new PayloadError(`transaction ${t.txnId} refers to program ${t.program} of ${programs.length}`);
    return { txnId: t.txnId, user: t.user, kind: t.kind, program, params: decodeTuple(t.params), sql: t.sql };
  });
  return { epoch: b.epoch, timestampMs: b.timestampMs, txns };
}

function controlFromAvro(u: Readonly<Record<string, unknown>>): ControlEntry {
  const [name, v] = branch(u);
  switch (name) {
    case 'Noop':
      return { kind: 'noop', reason: (v as { reason: string }).reason };
    case 'SetSetting': {
      const s = v as { name: string; value: string };
      return { kind: 'setSetting', name: s.name, value: s.value };
    }
    case 'CreateTable': {
      const s = v as {
        txnId: string;
        user: string;
        sql: string;
        name: string;
        ifNotExists: boolean;
        columns: readonly AvroColumnDef[];
        primaryKey: readonly number[];
        uniques: readonly UniqueConstraint[];
        checks: readonly CheckConstraint[];
        sequences: readonly AvroSequenceDef[];
      };
      const table = tableFromAvro(s.name, s);
      const base = { kind: 'createTable', txnId: s.txnId, user: s.user, sql: s.sql, ifNotExists: s.ifNotExists, table } as const;
      // Absent rather than empty, as in entries written before v7.
      return s.sequences.length === 0 ? base : { ...base, sequences: s.sequences.map(sequenceFromAvro) };
    }
    case 'CreateSequence': {
      const s = v as { txnId: string; user: string; sql: string; sequence: AvroSequenceDef; ifNotExists: boolean };
      return { kind: 'createSequence', txnId: s.txnId, user: s.user, sql: s.sql, sequence: sequenceFromAvro(s.sequence), ifNotExists: s.ifNotExists };
    }
    case 'DropSequence': {
      const s = v as { txnId: string; user: string; sql: string; names: readonly string[]; ifExists: boolean };
      return { kind: 'dropSequence', txnId: s.txnId, user: s.user, sql: s.sql, names: [...s.names], ifExists: s.ifExists };
    }
    case 'AlterTable': {
      const s = v as {
        txnId: string;
        user: string;
        sql: string;
        table: string;
        tableId: number;
        alteredAt: { long: number } | null;
        result: AvroTableFields & { name: string };
        sources: readonly ({ int: number } | null)[];
        createSequences: readonly AvroSequenceDef[];
        dropSequences: readonly string[];
        failingCheck: { string: string } | null;
      };
      const result = tableFromAvro(s.result.name, s.result);
      if (s.sources.length !== result.columns.length) throw new PayloadError(`ALTER TABLE ${s.table}: ${s.sources.length} column sources for ${result.columns.length} columns`);
      return {
        kind: 'alterTable',
        txnId: s.txnId,
        user: s.user,
        sql: s.sql,
        table: s.table,
        tableId: s.tableId,
        alteredAt: s.alteredAt === null ? null : s.alteredAt.long,
        result,
        sources: s.sources.map((x) => (x === null ? null : x.int)),
        createSequences: s.createSequences.map(sequenceFromAvro),
        dropSequences: [...s.dropSequences],
        failingCheck: s.failingCheck === null ? null : s.failingCheck.string,
      };
    }
    case 'DropTable': {
      const s = v as { txnId: string; user: string; sql: string; names: readonly string[]; ifExists: boolean };
      return { kind: 'dropTable', txnId: s.txnId, user: s.user, sql: s.sql, names: [...s.names], ifExists: s.ifExists };
    }
    case 'AddPrimaryKey': {
      const s = v as { txnId: string; user: string; sql: string; table: string; columns: readonly string[] };
      return { kind: 'addPrimaryKey', txnId: s.txnId, user: s.user, sql: s.sql, table: s.table, columns: [...s.columns] };
    }
    default:
      throw new PayloadError(`unknown control entry kind ${name}`);
  }
}

function entryFromAvro(a: AvroLogEntry): LogEntry {
  const [name, v] = branch(a.body);
  switch (name) {
    case 'Batch':
      return { position: a.position, kind: 'batch', batch: batchFromAvro(v as AvroBatch) };
    case 'ControlEntry': {
      const c = v as AvroControlEntry;
      return { position: a.position, kind: 'control', timestampMs: c.timestampMs, control: controlFromAvro(c.control) };
    }
    default:
      throw new PayloadError(`unknown log entry kind ${name}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding and decoding records

// One growing scratch buffer: avsc's toBuffer encodes twice when a value exceeds its 1 KiB buffer, which
// every real batch does. The payload is encoded in place after the header, then copied out once.
const SCRATCH_INITIAL_BYTES = 64 * 1024;
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);

function encodeWith(schema: LoadedSchema, entry: LogEntry): Buffer {
  let avroEntry: AvroLogEntry;
  let end: number;
  try {
    avroEntry = entryToAvro(entry);
    for (;;) {
      end = schema.type.encode(avroEntry, scratch, LogEnvelope.payloadOffset);
      if (end > 0) break;
      // A non-positive result is minus the number of missing bytes.
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
    }
  } catch (err) {
    throw new Error(`cannot encode the log entry at position ${entry.position}: ${errorMessage(err)}`, { cause: err });
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  // One outsized batch should not pin its buffer for the life of the process.
  if (scratch.length > SCRATCH_KEEP_BYTES) scratch = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);
  LogEnvelope.magic.copy(out, 0);
  out[4] = LogEnvelope.formatVersion;
  schema.fingerprint.copy(out, LogEnvelope.fingerprintOffset);
  out.writeUInt32BE(crc32(out.subarray(LogEnvelope.fingerprintOffset)), LogEnvelope.checksumOffset);
  return out;
}

/** Encodes an entry with the current writer schema, in its envelope. */
export function encodeLogEntry(entry: LogEntry): Buffer {
  return encodeWith(loadRegistry().current, entry);
}

/**
 * Encodes an entry body for appending at `position` (0 while its position is not known yet). An entry
 * that cannot be encoded is the submitter's fault, not the log's: EntryRejectedError.
 */
export function encodeForAppend(body: LogEntryBody, position: number): Buffer {
  try {
    return encodeLogEntry({ ...body, position });
  } catch (err) {
    throw new EntryRejectedError(`the log cannot record this entry: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The record `encodeForAppend(body, 0)` gave, moved to `position`: the payload starts with the position
 * (an Avro long, one 0x00 byte at 0), so only that prefix and the checksum change. A Raft member records
 * each committed entry this way instead of encoding the batch again. The record's own writer schema is
 * kept. Throws when `bytes` is not a record at position 0.
 */
export function relocateRecord(bytes: Buffer, position: number): Buffer {
  const at = LogEnvelope.payloadOffset;
  if (bytes.length <= at || bytes[at] !== 0 || !LogEnvelope.magic.equals(bytes.subarray(0, 4))) {
    throw new Error('relocateRecord needs a log record encoded at position 0');
  }
  if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`log position ${position} is not a non-negative integer`);
  // Avro's zig-zag varint of a non-negative long: 2n, seven bits per byte, low bits first.
  const varint: number[] = [];
  for (let zz = position * 2; ; zz = Math.floor(zz / 128)) {
    if (zz < 128) {
      varint.push(zz);
      break;
    }
    varint.push((zz % 128) | 0x80);
  }
  const out = Buffer.allocUnsafe(bytes.length - 1 + varint.length);
  bytes.copy(out, 0, 0, at);
  for (let i = 0; i < varint.length; i++) out[at + i] = varint[i] as number;
  bytes.copy(out, at + varint.length, at + 1);
  out.writeUInt32BE(crc32(out.subarray(LogEnvelope.fingerprintOffset)), LogEnvelope.checksumOffset);
  return out;
}

/**
 * Encodes an entry with an older writer schema version. For tests of schema resolution and for tools;
 * fields the older version lacks are dropped.
 */
export function encodeLogEntryWithSchema(entry: LogEntry, version: number): Buffer {
  const schema = loadRegistry().byVersion.get(version);
  if (schema === undefined) throw new RangeError(`no input log schema version ${version}`);
  return encodeWith(schema, entry);
}

/**
 * Decodes a stored record read at `position` (its key), checking the envelope, the checksum, the schema
 * fingerprint, the payload and that the record names the same position. Throws LogCorruptionError.
 */
export function decodeLogEntry(bytes: Uint8Array, position: number): LogEntry {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < LogEnvelope.payloadOffset) {
    throw new LogCorruptionError(position, `record is ${buf.length} bytes, shorter than its ${LogEnvelope.payloadOffset}-byte header`);
  }
  if (!LogEnvelope.magic.equals(buf.subarray(0, 4))) {
    throw new LogCorruptionError(position, `bad magic 0x${buf.toString('hex', 0, 4)} (expected "ORD1")`);
  }
  if (buf[4] !== LogEnvelope.formatVersion) {
    throw new LogCorruptionError(position, `unknown envelope format version ${buf[4]}`);
  }
  const stored = buf.readUInt32BE(LogEnvelope.checksumOffset);
  const actual = crc32(buf.subarray(LogEnvelope.fingerprintOffset));
  if (stored !== actual) {
    throw new LogCorruptionError(position, `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})`);
  }
  const reg = loadRegistry();
  const fingerprint = buf.toString('hex', LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset);
  const schema = reg.byFingerprint.get(fingerprint);
  if (schema === undefined) {
    throw new LogCorruptionError(position, `unknown writer schema fingerprint ${fingerprint} (known: ${[...reg.byFingerprint.keys()].join(', ')})`);
  }
  let entry: LogEntry;
  try {
    const payload = buf.subarray(LogEnvelope.payloadOffset);
    const raw: unknown = reg.current.type.fromBuffer(payload, schema.resolver);
    entry = entryFromAvro(raw as AvroLogEntry);
  } catch (err) {
    throw new LogCorruptionError(position, `undecodable payload (writer schema v${schema.version}): ${errorMessage(err)}`, { cause: err });
  }
  if (entry.position !== position) {
    throw new LogCorruptionError(position, `the record says it is position ${entry.position}`);
  }
  return entry;
}
