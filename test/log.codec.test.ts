import t from 'tap';
import { crc32 } from 'node:zlib';
import { readFileSync } from 'node:fs';
import type { Program } from '../src/executor/program.js';
import {
  LogCorruptionError,
  LogEnvelope,
  decodeLogEntry,
  encodeForAppend,
  encodeLogEntry,
  encodeLogEntryWithSchema,
  logSchemaVersions,
  relocateRecord,
} from '../src/sequencer/index.js';
import type { LogEntry } from '../src/sequencer/index.js';
import { encodeTuple } from '../src/partitions/index.js';
import { batchEntry, canonical, everyKindProgram, everyValue, pointUpdateProgram, show, txn } from './log.fixtures.js';

/** Re-seals a record after a test changed its fingerprint or payload, so only that change is wrong. */
function reseal(record: Buffer): Buffer {
  record.writeUInt32BE(crc32(record.subarray(LogEnvelope.fingerprintOffset)), LogEnvelope.checksumOffset);
  return record;
}

function corruptionAt(position: number, problem: RegExp) {
  return {
    name: 'LogCorruptionError',
    code: 'XX001',
    position,
    message: new RegExp(`position ${position}\\b.*${problem.source}`),
  };
}

t.test('a batch with every expression and statement kind and every value type round-trips', (t) => {
  const shared = everyKindProgram();
  const other = pointUpdateProgram();
  const entry = batchEntry(42, 9, [
    txn(1, shared, everyValue),
    txn(2, other, [5n, 1.25]),
    txn(3, shared, []),
    txn(4, shared, [null, 'ünï', new Uint8Array([0])], ''),
  ]);
  const decoded = decodeLogEntry(encodeLogEntry(entry), 42);
  t.equal(show(decoded), show(canonical(entry)));
  t.end();
});

t.test('the v4 version(key) expression round-trips', (t) => {
  const key = { table: 7, index: 0, parts: [{ k: 'param', i: 0 } as const] };
  const p: Program = {
    reads: { points: [key], ranges: [] },
    writes: { points: [], ranges: [] },
    body: [{ k: 'emit', values: [{ k: 'version', key }] }],
  };
  const entry = batchEntry(3, 1, [txn(1, p, [5n])]);
  t.equal(show(decodeLogEntry(encodeLogEntry(entry), 3)), show(canonical(entry)));
  t.end();
});

t.test('integers stay bigint and floats stay number, including beyond 2^53, NaN and -0', (t) => {
  const p = pointUpdateProgram();
  const values = [2n ** 53n + 1n, 1, 1.5, Number.NaN, -0, 2n ** 63n - 1n];
  const decoded = decodeLogEntry(encodeLogEntry(batchEntry(1, 1, [txn(1, p, values)])), 1);
  assertBatch(decoded);
  const params = decoded.batch.txns[0]?.params ?? [];
  t.equal(params[0], 2n ** 53n + 1n);
  t.equal(typeof params[1], 'number');
  t.equal(params[1], 1);
  t.ok(Number.isNaN(params[3]));
  t.ok(Object.is(params[4], 0), 'the canonical value encoding stores -0 as float 0');
  t.equal(params[5], 2n ** 63n - 1n);
  t.end();
});

t.test('a record encoded at position 0 and relocated is byte for byte the record encoded at that position', (t) => {
  const body = { kind: 'batch' as const, batch: { epoch: 3, timestampMs: 1_700_000_000_000, txns: [txn(1, pointUpdateProgram(), [7n, 'x'])] } };
  const atZero = encodeForAppend(body, 0);
  for (const position of [1, 63, 64, 127, 128, 8191, 8192, 2 ** 31, 2 ** 52]) {
    t.same(relocateRecord(atZero, position), encodeForAppend(body, position), `position ${position}`);
  }
  t.throws(() => relocateRecord(encodeForAppend(body, 5), 6), /position 0/, 'only a record at position 0 moves');
  t.end();
});

t.test('control entries round-trip', (t) => {
  const entries: LogEntry[] = [
    { position: 3, kind: 'control', timestampMs: 1_700_000_000_123, control: { kind: 'noop', reason: 'new leader ✓' } },
    { position: 4, kind: 'control', timestampMs: 0, control: { kind: 'setSetting', name: 'epochMs', value: '5' } },
  ];
  for (const e of entries) t.equal(show(decodeLogEntry(encodeLogEntry(e), e.position)), show(e));
  t.end();
});

/** A v7 CREATE TABLE with a SERIAL column (its owned sequence), an identity column and constraints. */
function createTableV7(position: number): LogEntry {
  return {
    position,
    kind: 'control',
    timestampMs: 5,
    control: {
      kind: 'createTable',
      txnId: 'x-1',
      user: 'postgres',
      sql: 'CREATE TABLE t (…)',
      ifNotExists: false,
      table: {
        name: 't',
        columns: [
          { name: 'id', type: 'int4', length: null, scale: null, notNull: true, default: { kind: 'nextval', sequence: 't_id_seq', owned: true } },
          { name: 'g', type: 'int8', length: null, scale: null, notNull: true, default: { kind: 'nextval', sequence: 't_g_seq', owned: true }, identity: 'always' },
          { name: 'v', type: 'text', length: null, scale: null, notNull: false, default: { kind: 'now' } },
        ],
        primaryKey: [0],
        uniques: [{ name: 't_v_key', columns: [2], index: 1 }],
        checks: [{ name: 't_v_check', sql: 'length(v) > 0' }],
      },
      sequences: [
        { name: 't_id_seq', start: 1n, increment: 1n, min: 1n, max: 2147483647n, cycle: false },
        { name: 't_g_seq', start: -5n, increment: -2n, min: -(2n ** 63n), max: 2n ** 63n - 1n, cycle: true },
      ],
    },
  };
}

t.test('the v7 DDL entries round-trip: sequences, SERIAL and IDENTITY columns, ALTER TABLE', (t) => {
  const created = createTableV7(7);
  const entries: LogEntry[] = [
    created,
    {
      position: 8,
      kind: 'control',
      timestampMs: 6,
      control: { kind: 'createSequence', txnId: 'x-2', user: 'u', sql: 'CREATE SEQUENCE s', ifNotExists: true, sequence: { name: 's', start: 10n, increment: 5n, min: 1n, max: 100n, cycle: false } },
    },
    { position: 9, kind: 'control', timestampMs: 7, control: { kind: 'dropSequence', txnId: 'x-3', user: 'u', sql: 'DROP SEQUENCE s', names: ['s', 'r'], ifExists: false } },
    {
      position: 10,
      kind: 'control',
      timestampMs: 8,
      control: {
        kind: 'alterTable',
        txnId: 'x-4',
        user: 'u',
        sql: 'ALTER TABLE t …',
        table: 't',
        tableId: 3,
        alteredAt: 9,
        result: { ...(created.kind === 'control' && created.control.kind === 'createTable' ? created.control.table : { name: '', columns: [], primaryKey: [] }), name: 'u' },
        sources: [0, null, 2],
        createSequences: [{ name: 't_g_seq', start: 1n, increment: 1n, min: 1n, max: 9n, cycle: false }],
        dropSequences: ['old_seq'],
        failingCheck: 't_v_check',
      },
    },
    {
      position: 11,
      kind: 'control',
      timestampMs: 8,
      control: { kind: 'alterTable', txnId: 'x-5', user: 'u', sql: 'ALTER TABLE k RENAME TO k2', table: 'k', tableId: 4, alteredAt: null, result: { name: 'k2', columns: [{ name: 'a', type: 'int4', length: null, scale: null, notNull: false, default: null }], primaryKey: [] }, sources: [0], createSequences: [], dropSequences: [], failingCheck: null },
    },
  ];
  for (const e of entries) t.equal(show(decodeLogEntry(encodeLogEntry(e), e.position)), show(e));
  t.end();
});

t.test('a v6 CREATE TABLE record still decodes: no sequences, no identity, constant and now() defaults', (t) => {
  const entry: LogEntry = {
    position: 4,
    kind: 'control',
    timestampMs: 1,
    control: {
      kind: 'createTable',
      txnId: 'old-1',
      user: 'postgres',
      sql: 'CREATE TABLE old (…)',
      ifNotExists: true,
      table: {
        name: 'old',
        columns: [
          { name: 'a', type: 'int4', length: null, scale: null, notNull: true, default: { kind: 'value', tupleHex: encodeTuple([5n]).toString('hex') } },
          { name: 'b', type: 'timestamptz', length: null, scale: null, notNull: false, default: { kind: 'now' } },
        ],
        primaryKey: [0],
        checks: [{ name: 'old_a_check', sql: 'a > 0' }],
      },
    },
  };
  const record = encodeLogEntryWithSchema(entry, 6);
  t.equal(record.toString('hex', LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset), logSchemaVersions()[5]?.fingerprint.toString('hex'), 'written as v6');
  const decoded = decodeLogEntry(record, 4);
  t.equal(show(decoded), show(entry));
  t.ok(decoded.kind === 'control' && decoded.control.kind === 'createTable' && decoded.control.sequences === undefined, 'no sequences');
  t.end();
});

t.test('an empty batch round-trips', (t) => {
  const e = batchEntry(1, 0, []);
  t.equal(show(decodeLogEntry(encodeLogEntry(e), 1)), show(e));
  t.end();
});

t.test('entries larger than the encoder buffer round-trip, and small ones after them', (t) => {
  const p = pointUpdateProgram();
  const blob = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  const big = batchEntry(1, 1, [txn(1, p, [blob, 'x'.repeat(200_000)]), ...Array.from({ length: 3000 }, (_, i) => txn(i + 2, p, [BigInt(i)]))]);
  t.equal(show(decodeLogEntry(encodeLogEntry(big), 1)), show(big));
  const small = batchEntry(2, 2, [txn(1, p, [1n])]);
  t.equal(show(decodeLogEntry(encodeLogEntry(small), 2)), show(small));
  t.end();
});

t.test('transactions that shared a program share one decoded program object', (t) => {
  const a = pointUpdateProgram();
  const b = everyKindProgram();
  const decoded = decodeLogEntry(encodeLogEntry(batchEntry(1, 1, [txn(1, a, [1n]), txn(2, b, []), txn(3, a, [2n])])), 1);
  assertBatch(decoded);
  const [t1, t2, t3] = decoded.batch.txns;
  t.equal(t1?.program, t3?.program, 'same program object');
  t.not(t1?.program, t2?.program);
  t.equal(show(t3?.program), show(a));
  t.end();
});

t.test('a batch stores a program once however many transactions use it', (t) => {
  const big = everyKindProgram();
  const many = (n: number, program: () => Program): Buffer =>
    encodeLogEntry(batchEntry(1, 1, Array.from({ length: n }, (_, i) => txn(i, program(), [BigInt(i), 1n], 'x'))));
  const programBytes = many(1, () => big).length - many(1, () => ({ reads: { points: [], ranges: [] }, writes: { points: [], ranges: [] }, body: [] })).length;
  const shared1 = many(1, () => big).length;
  const shared100 = many(100, () => big).length;
  const distinct100 = many(100, () => everyKindProgram()).length;
  t.ok(programBytes > 200, `the program is sizable (${programBytes} bytes)`);
  t.ok((shared100 - shared1) / 99 < programBytes / 4, `each extra transaction costs ${(shared100 - shared1) / 99} bytes, well under one program`);
  t.ok(distinct100 - shared100 >= 99 * (programBytes - 2), 'distinct program objects are each stored');
  t.end();
});

t.test('encoding a batch of 150 transactions of one cached program takes well under a millisecond', (t) => {
  const p = pointUpdateProgram();
  const entry = batchEntry(1, 1, Array.from({ length: 150 }, (_, i) => txn(i, p, [BigInt(i), 1n])));
  for (let i = 0; i < 200; i++) encodeLogEntry(entry);
  const runs = 500;
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) encodeLogEntry(entry);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / runs;
  t.ok(ms < 1, `${ms.toFixed(3)} ms per batch`);
  t.end();
});

t.test('the schema directory holds every writer version, each with its own fingerprint', (t) => {
  const versions = logSchemaVersions();
  t.same(versions.map((v) => v.version), [1, 2, 3, 4, 5, 6, 7]);
  t.equal(new Set(versions.map((v) => v.fingerprint.toString('hex'))).size, versions.length);
  const v1 = JSON.parse(readFileSync(versions[0]?.file ?? '', 'utf8')) as unknown;
  t.notMatch(JSON.stringify(v1), /"name":"sql"/, 'v1 has no sql field');
  t.end();
});

t.test('records carry the current writer schema fingerprint after the magic and version', (t) => {
  const record = encodeLogEntry(batchEntry(1, 1, []));
  const current = logSchemaVersions().at(-1);
  t.equal(record.toString('latin1', 0, 4), 'ORD1');
  t.equal(record[4], 1);
  t.equal(record.toString('hex', LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset), current?.fingerprint.toString('hex'));
  t.end();
});

t.test('a record written with the v1 schema is read by the v2 reader with the default sql', (t) => {
  const p = everyKindProgram();
  const entry = batchEntry(5, 2, [txn(1, p, everyValue, 'SELECT 1'), txn(2, p, [1n], 'SELECT 2')]);
  const v1 = logSchemaVersions()[0];
  const record = encodeLogEntryWithSchema(entry, 1);
  t.equal(record.toString('hex', LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset), v1?.fingerprint.toString('hex'));
  const decoded = decodeLogEntry(record, 5);
  assertBatch(decoded);
  t.same(decoded.batch.txns.map((x) => x.sql), ['', '']);
  const withoutSql = { ...entry, batch: { ...entry.batch, txns: entry.batch.txns.map((x) => ({ ...x, sql: '' })) } };
  t.equal(show(decoded), show(canonical(withoutSql)));
  t.end();
});

t.test('an unknown schema fingerprint is refused with an error naming the position', (t) => {
  const record = encodeLogEntry(batchEntry(7, 1, []));
  record.fill(0xab, LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset);
  reseal(record);
  t.throws(() => decodeLogEntry(record, 7), corruptionAt(7, /unknown writer schema fingerprint abab/));
  t.end();
});

t.test('a flipped byte anywhere in a record is detected', (t) => {
  const record = encodeLogEntry(batchEntry(9, 1, [txn(1, everyKindProgram(), everyValue)]));
  for (let i = 0; i < record.length; i++) {
    const bad = Buffer.from(record);
    bad[i] = (bad[i] as number) ^ 0x01;
    t.throws(() => decodeLogEntry(bad, 9), { name: 'LogCorruptionError', position: 9 }, `byte ${i}`);
  }
  t.end();
});

t.test('a flipped payload byte is reported as a checksum mismatch', (t) => {
  const record = encodeLogEntry(batchEntry(9, 1, [txn(1, pointUpdateProgram(), [1n])]));
  record[record.length - 3] = (record[record.length - 3] as number) ^ 0x40;
  t.throws(() => decodeLogEntry(record, 9), corruptionAt(9, /checksum mismatch/));
  t.end();
});

t.test('a record without the magic is reported as bad magic', (t) => {
  const record = encodeLogEntry(batchEntry(2, 1, []));
  record[0] = 0x58;
  t.throws(() => decodeLogEntry(record, 2), corruptionAt(2, /bad magic/));
  t.throws(() => decodeLogEntry(record.subarray(0, 10), 2), corruptionAt(2, /shorter than its 17-byte header/));
  t.end();
});

t.test('a well-sealed payload that is not a log entry is reported as undecodable', (t) => {
  const record = encodeLogEntry(batchEntry(2, 1, []));
  const garbage = Buffer.concat([record.subarray(0, LogEnvelope.payloadOffset), Buffer.from([0x04, 0x09, 0xff, 0xff, 0xff])]);
  t.throws(() => decodeLogEntry(reseal(garbage), 2), corruptionAt(2, /undecodable payload/));
  t.end();
});

t.test('a record stored under another position is refused', (t) => {
  const record = encodeLogEntry(batchEntry(5, 1, []));
  t.throws(() => decodeLogEntry(record, 6), corruptionAt(6, /says it is position 5/));
  t.end();
});

t.test('LogCorruptionError is an OrdoError with SQLSTATE XX001', (t) => {
  const err = new LogCorruptionError(3, 'test');
  t.equal(err.code, 'XX001');
  t.equal(err.position, 3);
  t.ok(err instanceof Error);
  t.end();
});

function assertBatch(e: LogEntry): asserts e is Extract<LogEntry, { kind: 'batch' }> {
  if (e.kind !== 'batch') throw new Error(`expected a batch, got ${e.kind}`);
}
