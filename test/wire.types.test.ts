import t from 'tap';
import {
  PgType,
  TypeOid,
  decodeBinary,
  decodeParam,
  decodeText,
  encodeBinary,
  encodeCell,
  encodeText,
  formatFloat4,
  formatFloat8,
  hasBinaryFormat,
  pgTypeByOid,
} from '../src/sql/wire/index.js';
import { seededRandom } from '../src/util/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('type OIDs and sizes are PostgreSQL’s', (t) => {
  t.same(
    [PgType.int2, PgType.int4, PgType.int8, PgType.float4, PgType.float8, PgType.bool, PgType.text].map((p) => [p.oid, p.size]),
    [
      [21, 2],
      [23, 4],
      [20, 8],
      [700, 4],
      [701, 8],
      [16, 1],
      [25, -1],
    ],
  );
  t.same(
    [TypeOid.numeric, TypeOid.varchar, TypeOid.bpchar, TypeOid.timestamp, TypeOid.timestamptz, TypeOid.date, TypeOid.bytea, TypeOid.uuid],
    [1700, 1043, 1042, 1114, 1184, 1082, 17, 2950],
  );
  t.equal(pgTypeByOid(23)?.sqlName, 'integer');
  t.equal(pgTypeByOid(12345), undefined);
  t.ok(hasBinaryFormat(TypeOid.int8) && hasBinaryFormat(TypeOid.numeric) && !hasBinaryFormat(TypeOid.void));
  t.end();
});

t.test('integers have PostgreSQL’s big-endian binary format and round-trip at their extremes', (t) => {
  const cases: [number, bigint, string][] = [
    [TypeOid.int2, -32768n, '8000'],
    [TypeOid.int2, 32767n, '7fff'],
    [TypeOid.int4, -2147483648n, '80000000'],
    [TypeOid.int4, 1n, '00000001'],
    [TypeOid.int8, -(2n ** 63n), '8000000000000000'],
    [TypeOid.int8, 2n ** 63n - 1n, '7fffffffffffffff'],
    [TypeOid.int8, -1n, 'ffffffffffffffff'],
  ];
  for (const [oid, v, h] of cases) {
    t.equal(hex(encodeBinary(oid, v)), h, `${oid} ${v}`);
    t.equal(decodeBinary(oid, Buffer.from(h, 'hex')), v);
    t.equal(decodeText(oid, encodeText(oid, v)), v, 'text round trip');
  }
  t.throws(() => encodeBinary(TypeOid.int2, 32768n), { code: '22003' });
  t.throws(() => encodeBinary(TypeOid.int8, 2n ** 63n), { code: '22003' });
  t.throws(() => decodeBinary(TypeOid.int4, Buffer.alloc(3)), { code: '22P03' });
  t.end();
});

t.test('integer text input accepts what PostgreSQL accepts and range-checks per type', (t) => {
  t.equal(decodeText(TypeOid.int4, '  -42 '), -42n);
  t.equal(decodeText(TypeOid.int8, '+9223372036854775807'), 2n ** 63n - 1n);
  t.throws(() => decodeText(TypeOid.int4, '2147483648'), { code: '22003', message: 'value "2147483648" is out of range for type integer' });
  t.throws(() => decodeText(TypeOid.int2, '1.5'), { code: '22P02', message: 'invalid input syntax for type smallint: "1.5"' });
  t.throws(() => decodeText(TypeOid.int8, ''), { code: '22P02' });
  t.end();
});

t.test('floats round-trip bit for bit in binary, including infinities, NaN and -0', (t) => {
  const random = seededRandom(3);
  const values = [0, -0, 1.5, -2.25, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN];
  for (let i = 0; i < 200; i++) values.push((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20));
  for (const v of values) {
    t.ok(Object.is(decodeBinary(TypeOid.float8, encodeBinary(TypeOid.float8, v)), v), `float8 ${v}`);
    const f = Math.fround(v);
    t.ok(Object.is(decodeBinary(TypeOid.float4, encodeBinary(TypeOid.float4, f)), f), `float4 ${f}`);
  }
  t.equal(hex(encodeBinary(TypeOid.float8, 1)), '3ff0000000000000');
  t.equal(hex(encodeBinary(TypeOid.float4, 1)), '3f800000');
  t.end();
});

t.test('float text output is PostgreSQL’s shortest round-trip form', (t) => {
  const float8: [number, string][] = [
    [0.1, '0.1'],
    [1 / 3, '0.3333333333333333'],
    [100, '100'],
    [1e15, '1e+15'],
    [123456789012345, '123456789012345'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [-1.5e300, '-1.5e+300'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    [NaN, 'NaN'],
    [-0, '-0'],
  ];
  for (const [v, s] of float8) t.equal(formatFloat8(v), s, `float8 ${s}`);
  const float4: [number, string][] = [
    [Math.fround(0.1), '0.1'],
    [Math.fround(1 / 3), '0.33333334'],
    [100000, '100000'],
    [1e6, '1e+06'],
    [Math.fround(3.4028235e38), '3.4028235e+38'],
    [Math.fround(1.17549435e-38), '1.1754944e-38'],
    [Math.fround(1e-45), '1e-45'],
    [Math.fround(16777216), '1.6777216e+07'],
  ];
  for (const [v, s] of float4) t.equal(formatFloat4(v), s, `float4 ${s}`);
  const random = seededRandom(11);
  for (let i = 0; i < 2000; i++) {
    const f = Math.fround((random() - 0.5) * 10 ** Math.floor(random() * 60 - 30));
    const s = formatFloat4(f);
    t.equal(Math.fround(Number(s)), f, `float4 ${s} reads back`);
    const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    // Shortest: one digit fewer never reads back.
    if (digits.length > 1) t.not(Math.fround(Number(f.toPrecision(digits.length - 1))), f, `float4 ${s} is shortest`);
  }
  t.equal(encodeText(TypeOid.float4, 0.1), '0.1', 'a float4 column rounds the engine’s double first');
  t.equal(decodeText(TypeOid.float8, ' -Infinity '), -Infinity);
  t.ok(Number.isNaN(decodeText(TypeOid.float8, 'NaN')));
  t.throws(() => decodeText(TypeOid.float4, '1e39'), { code: '22003' });
  t.throws(() => decodeText(TypeOid.float8, '1e400'), { code: '22003' });
  t.throws(() => decodeText(TypeOid.float8, 'abc'), { code: '22P02' });
  t.end();
});

t.test('booleans are t/f in text, one byte in binary, and boolin’s spellings are accepted', (t) => {
  t.equal(encodeText(TypeOid.bool, true), 't');
  t.equal(encodeText(TypeOid.bool, false), 'f');
  t.equal(hex(encodeBinary(TypeOid.bool, true)), '01');
  t.equal(decodeBinary(TypeOid.bool, Uint8Array.of(0)), false);
  for (const s of ['t', 'TRUE', ' yes ', 'on', '1', 'tr']) t.equal(decodeText(TypeOid.bool, s), true, s);
  for (const s of ['f', 'false', 'no', 'off', '0', 'n']) t.equal(decodeText(TypeOid.bool, s), false, s);
  for (const s of ['o', 'maybe', '', '2']) t.throws(() => decodeText(TypeOid.bool, s), { code: '22P02' }, s);
  t.end();
});

t.test('text and bytea: UTF-8 in binary, \\x hex in text, and escape-format input', (t) => {
  const s = 'héllo 😀';
  for (const oid of [TypeOid.text, TypeOid.varchar, TypeOid.bpchar]) {
    t.equal(decodeBinary(oid, encodeBinary(oid, s)), s);
    t.equal(encodeText(oid, s), s);
  }
  t.throws(() => decodeBinary(TypeOid.text, Uint8Array.of(0xff)), { code: '22021' });
  t.throws(() => decodeParam(TypeOid.text, 0, Uint8Array.of(0x61, 0, 0x62)), { code: '22021' }, 'text cannot hold NUL');
  const bytes = Uint8Array.of(0, 1, 0xde, 0xad, 0xff);
  t.equal(encodeText(TypeOid.bytea, bytes), '\\x0001deadff');
  t.same(decodeText(TypeOid.bytea, '\\x0001DEADff'), bytes);
  t.same(decodeText(TypeOid.bytea, 'a\\\\b\\000'), Uint8Array.of(0x61, 0x5c, 0x62, 0));
  t.throws(() => decodeText(TypeOid.bytea, '\\x0'), { code: '22P02' });
  t.same(decodeBinary(TypeOid.bytea, encodeBinary(TypeOid.bytea, bytes)), bytes);
  const chunk = Buffer.from([9, 9, 9]);
  const copy = decodeBinary(TypeOid.bytea, chunk.subarray(1)) as Uint8Array;
  chunk[1] = 0;
  t.same([...copy], [9, 9], 'a bytea parameter does not alias the message bytes');
  t.end();
});

t.test('uuid, numeric, date and timestamps have PostgreSQL’s text forms', (t) => {
  t.equal(decodeText(TypeOid.uuid, '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  t.throws(() => decodeText(TypeOid.uuid, 'a0eebc99-9c0b-4ef8-bb6d'), { code: '22P02' });
  const u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
  t.equal(decodeBinary(TypeOid.uuid, encodeBinary(TypeOid.uuid, u)), u);
  t.equal(encodeText(TypeOid.numeric, '12.50'), '12.50');
  t.equal(encodeText(TypeOid.numeric, 10n ** 30n), '1000000000000000000000000000000');
  t.equal(encodeText(TypeOid.numeric, 1e-7), '0.0000001');
  t.equal(decodeText(TypeOid.numeric, ' -1.5e3 '), '-1.5e3');
  t.throws(() => decodeText(TypeOid.numeric, '1.2.3'), { code: '22P02' });
  t.equal(encodeText(TypeOid.date, 19_844n), '2024-05-01');
  t.equal(decodeText(TypeOid.date, '2024-05-01'), 19_844n);
  t.equal(encodeText(TypeOid.date, -719_163n), '0001-12-31 BC');
  const us = 1_714_566_896_123_450n; // 2024-05-01 12:34:56.12345 UTC
  t.equal(encodeText(TypeOid.timestamp, us), '2024-05-01 12:34:56.12345');
  t.equal(encodeText(TypeOid.timestamptz, us), '2024-05-01 12:34:56.12345+00');
  t.equal(encodeText(TypeOid.timestamp, -1n), '1969-12-31 23:59:59.999999');
  t.equal(decodeText(TypeOid.timestamptz, '2024-05-01T14:34:56.12345+02:00'), us);
  t.equal(decodeText(TypeOid.timestamp, '2024-05-01 12:34:56.12345+02'), us, 'timestamp ignores a zone');
  t.equal(decodeText(TypeOid.timestamptz, 'infinity'), 2n ** 63n - 1n);
  t.equal(encodeText(TypeOid.timestamptz, 2n ** 63n - 1n), 'infinity');
  t.equal(decodeBinary(TypeOid.timestamptz, encodeBinary(TypeOid.timestamptz, us)), us);
  t.equal(hex(encodeBinary(TypeOid.timestamp, 946_684_800_000_000n)), '0000000000000000', 'binary counts from 2000-01-01');
  t.equal(decodeBinary(TypeOid.date, encodeBinary(TypeOid.date, 19_844n)), 19_844n);
  t.throws(() => decodeText(TypeOid.date, '2024-02-30'), { code: '22008' });
  t.throws(() => decodeText(TypeOid.timestamp, 'yesterday-ish'), { code: '22007' });
  t.end();
});

t.test('cells and parameters: NULL stays NULL, the format code picks the codec', (t) => {
  t.equal(encodeCell(TypeOid.int4, 0, null), null);
  t.equal(encodeCell(TypeOid.int4, 0, 7n), '7');
  t.equal(hex(encodeCell(TypeOid.int4, 1, 7n) as Uint8Array), '00000007');
  t.equal(decodeParam(TypeOid.int8, 0, Buffer.from('12')), 12n);
  t.equal(decodeParam(TypeOid.int8, 1, Buffer.from('000000000000000c', 'hex')), 12n);
  t.equal(decodeParam(0, 0, Buffer.from('untyped')), 'untyped');
  t.equal(decodeParam(TypeOid.int8, 0, null), null);
  t.throws(() => decodeParam(TypeOid.void, 1, Buffer.alloc(4)), { code: '0A000' });
  t.throws(() => encodeCell(TypeOid.int8, 0, 'seven'), { code: '42804' });
  t.end();
});
