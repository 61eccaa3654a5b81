// Binary format over the extended protocol, spoken by a raw pg-protocol client: Bind messages with
// 0, 1 or N format codes, ParameterDescription and RowDescription, and the decoded values.

import t from 'tap';
import { harness, rawClient, serialize, type RawClient, type RawMessage } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A Bind message with explicit format codes (pg-protocol's serializer can only say "all binary"). */
function bind(statement: string, paramFormats: readonly number[], params: readonly (Buffer | null)[], resultFormats: readonly number[]): Buffer {
  const body = Buffer.concat([
    Buffer.from('\0'), // unnamed portal
    Buffer.from(`${statement}\0`),
    int16(paramFormats.length),
    ...paramFormats.map(int16),
    int16(params.length),
    ...params.flatMap((p) => (p === null ? [int32(-1)] : [int32(p.length), p])),
    int16(resultFormats.length),
    ...resultFormats.map(int16),
  ]);
  return Buffer.concat([Buffer.from('B'), int32(body.length + 4), body]);
}

/** Parse, Describe statement, Bind, Describe portal, Execute, Sync: every answer up to ReadyForQuery. */
async function extended(c: RawClient, sql: string, paramFormats: readonly number[], params: readonly (Buffer | null)[], resultFormats: readonly number[]): Promise<RawMessage[]> {
  c.send(
    serialize.parse({ name: '', text: sql, types: [] }),
    serialize.describe({ type: 'S', name: '' }),
    bind('', paramFormats, params, resultFormats),
    serialize.describe({ type: 'P', name: '' }),
    serialize.execute({ portal: '', rows: 0 }),
    serialize.sync(),
  );
  return c.until('readyForQuery');
}

function only(messages: readonly RawMessage[], name: string): RawMessage[] {
  return messages.filter((m) => m.name === name);
}

function rows(messages: readonly RawMessage[]): (Buffer | null)[][] {
  return only(messages, 'dataRow').map((m) => m.fields as (Buffer | null)[]);
}

function fieldsOf(messages: readonly RawMessage[]): { dataTypeID: number; format: string }[][] {
  return only(messages, 'rowDescription').map((m) => m.fields as { dataTypeID: number; format: string }[]);
}

function errorOf(messages: readonly RawMessage[]): { code: unknown; message: unknown } | undefined {
  const e = only(messages, 'error')[0];
  return e === undefined ? undefined : { code: e.code, message: e.message };
}

const float4 = (x: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return b;
};
const float8 = (x: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b;
};
const int8 = (x: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(x);
  return b;
};

const c = await rawClient(h.server.port);
c.send(serialize.query('CREATE TABLE scalars (k int PRIMARY KEY, a smallint, b integer, c bigint, d real, e double precision, f boolean, g text, h varchar(10), i bytea)'));
await c.until('readyForQuery');

t.test('binary parameters of every scalar type are stored as sent, NULLs and negatives included', async (t) => {
  const insert = 'INSERT INTO scalars VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)';
  const first = [int32(1), int16(-32768), int32(-7), int8(-(2n ** 63n)), float4(-1.5), float8(-2.25), Buffer.from([1]), Buffer.from('héllo'), Buffer.from('vc'), Buffer.from([0, 255, 10])];
  const second = [int32(2), null, null, null, null, null, null, null, null, null];
  for (const params of [first, second]) {
    const r = await extended(c, insert, [1], params, []);
    t.equal(errorOf(r), undefined);
    // The compiler types a varchar(n) column's parameter text (the column checks the length); its wire
    // formats are text's.
    t.same(only(r, 'parameterDescription')[0]?.dataTypeIDs, [23, 21, 23, 20, 700, 701, 16, 25, 25, 17], 'ParameterDescription has the column types');
    t.same(only(r, 'commandComplete')[0]?.text, 'INSERT 0 1');
  }
  const text = await extended(c, 'SELECT a, b, c, d, e, f, g, h, i FROM scalars ORDER BY k', [], [], []);
  t.same(
    rows(text).map((r) => r.map((f) => (f === null ? null : f.toString()))),
    [
      ['-32768', '-7', '-9223372036854775808', '-1.5', '-2.25', 't', 'héllo', 'vc', '\\x00ff0a'],
      [null, null, null, null, null, null, null, null, null],
    ],
    'the text format shows what the binary parameters meant',
  );
});

t.test('one result format code makes every column binary, with its type OID in RowDescription', async (t) => {
  const r = await extended(c, 'SELECT a, b, c, d, e, f, g, h, i FROM scalars WHERE k = $1', [1], [int32(1)], [1]);
  t.equal(errorOf(r), undefined);
  const [statementFields, portalFields] = fieldsOf(r);
  t.same(statementFields?.map((f) => [f.dataTypeID, f.format]), [21, 23, 20, 700, 701, 16, 25, 1043, 17].map((oid) => [oid, 'text']), 'Describe statement: formats are not known yet');
  t.same(portalFields?.map((f) => [f.dataTypeID, f.format]), [21, 23, 20, 700, 701, 16, 25, 1043, 17].map((oid) => [oid, 'binary']), 'Describe portal: the bound formats');
  const [row] = rows(r);
  if (row === undefined) throw new Error('no row');
  t.equal(row[0]?.readInt16BE(0), -32768);
  t.equal(row[1]?.readInt32BE(0), -7);
  t.equal(row[2]?.readBigInt64BE(0), -(2n ** 63n));
  t.equal(row[3]?.readFloatBE(0), -1.5);
  t.equal(row[4]?.readDoubleBE(0), -2.25);
  t.same([...(row[5] ?? [])], [1]);
  t.equal(row[6]?.toString(), 'héllo');
  t.equal(row[7]?.toString(), 'vc');
  t.same([...(row[8] ?? [])], [0, 255, 10]);
});

t.test('NULL results stay NULL in binary format', async (t) => {
  const r = await extended(c, 'SELECT a, c, f, i FROM scalars WHERE k = $1', [1], [int32(2)], [1]);
  t.same(rows(r), [[null, null, null, null]]);
});

t.test('one format code per column mixes text and binary columns', async (t) => {
  const r = await extended(c, 'SELECT b, g, c FROM scalars WHERE k = $1', [0], [Buffer.from('1')], [1, 0, 1]);
  t.equal(errorOf(r), undefined);
  t.same(fieldsOf(r)[1]?.map((f) => f.format), ['binary', 'text', 'binary']);
  const [row] = rows(r);
  t.equal(row?.[0]?.readInt32BE(0), -7);
  t.equal(row?.[1]?.toString(), 'héllo');
  t.equal(row?.[2]?.readBigInt64BE(0), -(2n ** 63n));
});

t.test('one format code per parameter mixes text and binary parameters', async (t) => {
  const r = await extended(c, 'INSERT INTO scalars (k, b, g) VALUES ($1, $2, $3) RETURNING k, b, g', [0, 1, 0], [Buffer.from('3'), int32(-40), Buffer.from('mixed')], []);
  t.equal(errorOf(r), undefined);
  t.same(rows(r).map((row) => row.map((f) => f?.toString())), [['3', '-40', 'mixed']]);
});

t.test('numeric, timestamp, timestamptz, date and uuid round-trip in binary', async (t) => {
  const setup = await extended(c, 'CREATE TABLE wide (k int PRIMARY KEY, n numeric(12,3), ts timestamp, tz timestamptz, d date, u uuid)', [], [], []);
  t.equal(errorOf(setup), undefined);
  // -1234.567: two base-10000 digits 1234 and 5670, weight 0, negative, 3 decimal places.
  const numeric = Buffer.from('0002' + '0000' + '4000' + '0003' + '04d2' + '1626', 'hex');
  const micros = (ms: number): Buffer => int8(BigInt(ms - Date.UTC(2000, 0, 1)) * 1000n + 123n);
  const ts = micros(Date.UTC(2024, 4, 1, 12, 34, 56, 789));
  const tz = micros(Date.UTC(1999, 11, 31, 23, 59, 59, 0));
  const d = int32((Date.UTC(2024, 0, 15) - Date.UTC(2000, 0, 1)) / 86_400_000);
  const u = Buffer.from('a0eebc999c0b4ef8bb6d6bb9bd380a11', 'hex');
  const ins = await extended(c, 'INSERT INTO wide VALUES ($1, $2, $3, $4, $5, $6)', [1], [int32(1), numeric, ts, tz, d, u], []);
  t.equal(errorOf(ins), undefined);
  t.same(only(ins, 'parameterDescription')[0]?.dataTypeIDs, [23, 1700, 1114, 1184, 1082, 2950]);
  const text = await extended(c, 'SELECT n, ts, tz, d, u FROM wide', [], [], []);
  t.same(
    rows(text)[0]?.map((f) => f?.toString()),
    ['-1234.567', '2024-05-01 12:34:56.789123', '1999-12-31 23:59:59.000123+00', '2024-01-15', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  );
  const binary = await extended(c, 'SELECT n, ts, tz, d, u FROM wide', [], [], [1]);
  t.same(rows(binary)[0]?.map((f) => f?.toString('hex')), [numeric, ts, tz, d, u].map((b) => b.toString('hex')), 'the same bytes come back');
});

t.test('a numeric with a fraction that rounds at its scale is rounded like numeric_recv does', async (t) => {
  // 0.00005 with dscale 4: one digit 5 at weight -2, shown to 4 places → 0.0001.
  const r = await extended(c, 'SELECT $1::numeric(10,4) AS n', [1], [Buffer.from('0001' + 'fffe' + '0000' + '0004' + '1388', 'hex')], []);
  t.equal(errorOf(r), undefined);
  t.equal(rows(r)[0]?.[0]?.toString(), '0.0001');
});

t.test('a binary parameter the statement leaves untyped is read as text, as ParameterDescription says', async (t) => {
  const r = await extended(c, 'SELECT k FROM scalars WHERE g = $1', [1], [Buffer.from('mixed')], []);
  t.equal(errorOf(r), undefined);
  t.same(rows(r).map((row) => row[0]?.toString()), ['3']);
});

t.test('a format code other than 0 or 1 is 22023', async (t) => {
  const r = await extended(c, 'SELECT k FROM scalars WHERE k = $1', [2], [int32(1)], []);
  t.equal(errorOf(r)?.code, '22023');
  t.equal(only(r, 'readyForQuery').length, 1, 'Sync still answers');
});

t.test('a binary int4 parameter of the wrong length is 22P03', async (t) => {
  const r = await extended(c, 'SELECT k FROM scalars WHERE k = $1', [1], [Buffer.from([0, 0, 1])], []);
  t.match(errorOf(r), { code: '22P03', message: /integer/ });
});

t.test('a binary text parameter that is not UTF-8 is 22021', async (t) => {
  const r = await extended(c, 'SELECT k FROM scalars WHERE g = $1', [1], [Buffer.from([0xc3, 0x28])], []);
  t.equal(errorOf(r)?.code, '22021');
});
