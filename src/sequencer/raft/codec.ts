// Avro codecs for Raft data (schemas/raft/*.avsc): the records the LMDB Raft storage keeps and the
// batches the gRPC transport carries. Shared by both so that an entry has one byte form on disk and on
// the wire.
//
// Stored records are sealed in a small envelope, like the input log's (logCodec.ts):
//
//   offset  size  field
//   0       4     magic "ORR1"
//   4       4     CRC-32 (IEEE), unsigned big-endian, over every byte from offset 8 to the end
//   8       8     writer schema fingerprint: the first 8 bytes of SHA-256 of the schema's canonical form
//   16      ...   the Avro payload
//
// RPC payloads carry magic "ORP1" and the fingerprint but no CRC (HTTP/2 over TCP already checks the
// bytes; what can differ between two processes is the schema, and the fingerprint catches that).
//
// Versions: there is one writer schema per record today. When one changes, keep the old file next to
// the new one and resolve by fingerprint, as logCodec.ts does; until then an unknown fingerprint is an
// error.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Type as AvroType } from 'avsc';
import { crc32, repoRoot } from '../../util/index.js';
import { EntryType, MessageType } from './types.js';
import type { ConfState, Entry, HardState, Message, NodeId, SnapshotMeta } from './types.js';

/** Schema files in dependency order: a file may name types defined by files before it. */
const SCHEMA_FILES = [
  'Entry',
  'HardState',
  'ConfState',
  'SnapshotMeta',
  'RaftIdentity',
  'Message',
  'RaftBatch',
  'RaftBatchAck',
] as const;
type SchemaName = (typeof SCHEMA_FILES)[number];

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];

interface LoadedType {
  readonly type: AvroType;
  readonly fingerprint: Buffer;
}


let loaded: ReadonlyMap<SchemaName, LoadedType> | undefined;

function types(): ReadonlyMap<SchemaName, LoadedType> {
  if (loaded !== undefined) return loaded;
  const dir = join(repoRoot(), 'schemas', 'raft');
  const registry: Record<string, AvroType> = {};
  const out = new Map<SchemaName, LoadedType>();
  for (const name of SCHEMA_FILES) {
    const schema = JSON.parse(readFileSync(join(dir, `${name}.avsc`), 'utf8')) as AvroSchema;
    const type = avro.Type.forSchema(schema, { registry });
    out.set(name, { type, fingerprint: type.fingerprint('sha256').subarray(0, 8) });
  }
  // The schema's enums must name exactly the core's constants, or a message would fail to encode at runtime.
  checkSymbols(out, 'Message', 'ordo.raft.MessageType', Object.values(MessageType));
  checkSymbols(out, 'Entry', 'ordo.raft.EntryType', Object.values(EntryType));
  loaded = out;
  return out;
}

function checkSymbols(all: ReadonlyMap<SchemaName, LoadedType>, owner: SchemaName, enumName: string, expected: readonly string[]): void {
  const schema = JSON.stringify(all.get(owner)?.type.schema() ?? null);
  for (const symbol of expected) {
    if (!schema.includes(`"${symbol}"`)) throw new Error(`schemas/raft: ${enumName} lacks the symbol ${symbol}`);
  }
}

function loadedType(name: SchemaName): LoadedType {
  const t = types().get(name);
  if (t === undefined) throw new Error(`schemas/raft/${name}.avsc is not loaded`);
  return t;
}

/** The fingerprints of the current writer schemas, hex, for diagnostics and tests. */
export function raftSchemaFingerprints(): Readonly<Record<SchemaName, string>> {
  const out: Partial<Record<SchemaName, string>> = {};
  for (const name of SCHEMA_FILES) out[name] = loadedType(name).fingerprint.toString('hex');
  return out as Record<SchemaName, string>;
}

// ---------------------------------------------------------------------------------------------------------
// CRC-32


// ---------------------------------------------------------------------------------------------------------
// Conversions between the core's plain data and what avsc reads and writes

const asBuffer = (data: Uint8Array): Buffer => (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));

interface AvroEntry {
  term: number;
  index: number;
  type: string;
  data: Buffer;
}

const toAvroEntry = (e: Entry): AvroEntry => ({ term: e.term, index: e.index, type: e.type, data: asBuffer(e.data) });

function fromAvroEntry(e: AvroEntry, copy: boolean): Entry {
  // avsc hands out views of the input; a caller whose input buffer is reused (LMDB) asks for a copy.
  const data = copy ? new Uint8Array(e.data) : new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
  return { term: e.term, index: e.index, type: e.type as EntryType, data };
}

interface AvroMessage extends Omit<Message, 'entries'> {
  entries: AvroEntry[];
}

const toAvroMessage = (m: Message): AvroMessage => ({ ...m, entries: m.entries.map(toAvroEntry) });

function fromAvroMessage(m: AvroMessage): Message {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => fromAvroEntry(e, false)),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Stored records

const RECORD_MAGIC = Buffer.from('ORR1', 'latin1');
const RECORD_CRC_OFFSET = 4;
const RECORD_FINGERPRINT_OFFSET = 8;
const RECORD_PAYLOAD_OFFSET = 16;

function seal(name: SchemaName, value: unknown): Buffer {
  const t = loadedType(name);
  const payload = t.type.toBuffer(value);
  const out = Buffer.allocUnsafe(RECORD_PAYLOAD_OFFSET + payload.length);
  RECORD_MAGIC.copy(out, 0);
  t.fingerprint.copy(out, RECORD_FINGERPRINT_OFFSET);
  payload.copy(out, RECORD_PAYLOAD_OFFSET);
  out.writeUInt32BE(crc32(out.subarray(RECORD_FINGERPRINT_OFFSET)), RECORD_CRC_OFFSET);
  return out;
}

/** The decoded value, or a description of what is wrong with the bytes. */
function unseal<T>(name: SchemaName, bytes: Uint8Array): { ok: true; value: T } | { ok: false; problem: string } {
  const buf = asBuffer(bytes);
  if (buf.length < RECORD_PAYLOAD_OFFSET) return { ok: false, problem: `only ${buf.length} bytes` };
  if (!buf.subarray(0, 4).equals(RECORD_MAGIC)) return { ok: false, problem: `bad magic 0x${buf.subarray(0, 4).toString('hex')}` };
  const stored = buf.readUInt32BE(RECORD_CRC_OFFSET);
  const actual = crc32(buf.subarray(RECORD_FINGERPRINT_OFFSET));
  if (stored !== actual) return { ok: false, problem: `checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})` };
  const t = loadedType(name);
  const fp = buf.subarray(RECORD_FINGERPRINT_OFFSET, RECORD_PAYLOAD_OFFSET);
  if (!fp.equals(t.fingerprint)) return { ok: false, problem: `unknown writer schema ${fp.toString('hex')} (this build writes ${name} as ${t.fingerprint.toString('hex')})` };
  try {
    return { ok: true, value: t.type.fromBuffer(buf.subarray(RECORD_PAYLOAD_OFFSET)) as T };
  } catch (err) {
    return { ok: false, problem: `undecodable payload: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export type Unsealed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

export const sealEntry = (e: Entry): Buffer => seal('Entry', toAvroEntry(e));
/** Copies the entry's data out of `bytes`, which may be a buffer LMDB reuses. */
export function unsealEntry(bytes: Uint8Array): Unsealed<Entry> {
  const r = unseal<AvroEntry>('Entry', bytes);
  return r.ok ? { ok: true, value: fromAvroEntry(r.value, true) } : r;
}

export const sealHardState = (hs: HardState): Buffer => seal('HardState', { term: hs.term, vote: hs.vote, commit: hs.commit });
export function unsealHardState(bytes: Uint8Array): Unsealed<HardState> {
  const r = unseal<HardState>('HardState', bytes);
  return r.ok ? { ok: true, value: { term: r.value.term, vote: r.value.vote, commit: r.value.commit } } : r;
}

const plainConf = (c: ConfState): ConfState => ({ voters: [...c.voters], learners: [...c.learners] });
export const sealSnapshotMeta = (s: SnapshotMeta): Buffer => seal('SnapshotMeta', { index: s.index, term: s.term, conf: plainConf(s.conf) });
export function unsealSnapshotMeta(bytes: Uint8Array): Unsealed<SnapshotMeta> {
  const r = unseal<SnapshotMeta>('SnapshotMeta', bytes);
  return r.ok ? { ok: true, value: { index: r.value.index, term: r.value.term, conf: plainConf(r.value.conf) } } : r;
}

export interface RaftIdentity {
  readonly clusterId: string;
  readonly nodeId: NodeId;
}
export const sealIdentity = (id: RaftIdentity): Buffer => seal('RaftIdentity', { clusterId: id.clusterId, nodeId: id.nodeId });
export function unsealIdentity(bytes: Uint8Array): Unsealed<RaftIdentity> {
  const r = unseal<RaftIdentity>('RaftIdentity', bytes);
  return r.ok ? { ok: true, value: { clusterId: r.value.clusterId, nodeId: r.value.nodeId } } : r;
}

// ---------------------------------------------------------------------------------------------------------
// RPC payloads

const RPC_MAGIC = Buffer.from('ORP1', 'latin1');
const RPC_PAYLOAD_OFFSET = 12;

/** Request of ordo.Raft/Send. */
export interface RaftBatch {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: readonly Message[];
}

export interface RaftBatchAck {
  readonly accepted: number;
}

function frame(name: SchemaName, value: unknown): Buffer {
  const t = loadedType(name);
  const payload = t.type.toBuffer(value);
  return Buffer.concat([RPC_MAGIC, t.fingerprint, payload]);
}

function unframe<T>(name: SchemaName, buf: Buffer): Unsealed<T> {
  if (buf.length < RPC_PAYLOAD_OFFSET || !buf.subarray(0, 4).equals(RPC_MAGIC)) return { ok: false, problem: 'not an ordo.Raft payload' };
  const t = loadedType(name);
  const fp = buf.subarray(4, RPC_PAYLOAD_OFFSET);
  if (!fp.equals(t.fingerprint)) return { ok: false, problem: `peer writes ${name} with schema ${fp.toString('hex')}, this build with ${t.fingerprint.toString('hex')}` };
  try {
    return { ok: true, value: t.type.fromBuffer(buf.subarray(RPC_PAYLOAD_OFFSET)) as T };
  } catch (err) {
    return { ok: false, problem: `undecodable ${name}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function encodeBatch(b: RaftBatch): Buffer {
  return frame('RaftBatch', { clusterId: b.clusterId, from: b.from, to: b.to, messages: b.messages.map(toAvroMessage) });
}

/** Never throws: a malformed request is refused (and counted) by the server, not failed inside grpc-js. */
export function decodeBatch(buf: Buffer): Unsealed<RaftBatch> {
  const r = unframe<{ clusterId: string; from: string; to: string; messages: AvroMessage[] }>('RaftBatch', buf);
  if (!r.ok) return r;
  const v = r.value;
  return { ok: true, value: { clusterId: v.clusterId, from: v.from, to: v.to, messages: v.messages.map(fromAvroMessage) } };
}

export const encodeAck = (a: RaftBatchAck): Buffer => frame('RaftBatchAck', { accepted: a.accepted });

export function decodeAck(buf: Buffer): RaftBatchAck {
  const r = unframe<RaftBatchAck>('RaftBatchAck', buf);
  if (!r.ok) throw new Error(r.problem);
  return { accepted: r.value.accepted };
}

/** Rough wire size of a message, for bounding queues and batches without encoding twice. */
export function approxMessageBytes(m: Message): number {
  let n = 64 + m.context.length + m.from.length + m.to.length;
  for (const e of m.entries) n += 24 + e.data.byteLength;
  return n;
}
