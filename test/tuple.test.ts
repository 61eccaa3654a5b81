import t from 'tap';
import {
  compareKeys,
  decodeRow,
  decodeTuple,
  encodeKey,
  encodeRange,
  encodeRow,
  encodeTuple,
  rangeContains,
  TupleDecodeError,
  type Value,
} from '../src/partitions/index.js';
import { seededRandom } from '../src/util/index.js';

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortedByEncoding<T extends Value>(values: T[]): T[] {
  return [...values].sort((a, b) => compareKeys(encodeTuple([a]), encodeTuple([b])));
}

t.test('integer keys sort numerically across the whole int64 range', (t) => {
  const random = seededRandom(1);
  const values: bigint[] = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 1n, 2n ** 53n, 2n ** 53n + 1n];
  for (let i = 0; i < 500; i++) {
    const hi = BigInt(Math.floor(random() * 2 ** 32)) - 2n ** 31n;
    values.push((hi << 32n) | BigInt(Math.floor(random() * 2 ** 32)));
  }
  t.same(sortedByEncoding(values), [...values].sort(cmpBig));
  t.end();
});

t.test('int64 keys above 2^53 stay distinct (where float64 keys would collide)', (t) => {
  t.not(encodeKey(1, 0, [2n ** 62n]).toString('hex'), encodeKey(1, 0, [2n ** 62n + 1n]).toString('hex'));
  t.end();
});

t.test('float keys sort numerically, with -0 equal to 0 and NaN above every number', (t) => {
  const random = seededRandom(2);
  const values: number[] = [-Infinity, Infinity, 0, -1.5, 1.5, Number.MIN_VALUE, -Number.MIN_VALUE];
  for (let i = 0; i < 500; i++) values.push((random() - 0.5) * 10 ** Math.floor(random() * 30 - 15));
  t.same(sortedByEncoding(values), [...values].sort((a, b) => a - b));
  t.same(encodeTuple([-0]), encodeTuple([0]));
  t.ok(compareKeys(encodeTuple([Number.NaN]), encodeTuple([Infinity])) > 0);
  t.end();
});

t.test('string keys sort by code point, including characters outside the BMP', (t) => {
  const values = ['', 'a', 'ab', 'b', 'a\u0000', 'a\u0000b', '\uffff', '\u{10000}', 'Z', 'é', 'e\u0301', '😀'];
  t.same(sortedByEncoding(values), [...values].sort(cmpCodePoints));
  t.end();
});

t.test('a tuple prefix sorts before its extensions and keeps tuple order', (t) => {
  const a = encodeKey(1, 0, ['a']);
  const ab = encodeKey(1, 0, ['a', 5n]);
  const b = encodeKey(1, 0, ['b']);
  t.ok(compareKeys(a, ab) < 0);
  t.ok(compareKeys(ab, b) < 0);
  t.ok(compareKeys(encodeKey(1, 0, ['a', null]), encodeKey(1, 0, ['a\u0000'])) < 0, 'strings are self-delimiting');
  t.end();
});

t.test('NULL sorts after every other value, as PostgreSQL orders ascending by default', (t) => {
  for (const v of [true, 2n ** 62n, Infinity, 'zzz', new Uint8Array([0xfe])] as Value[]) {
    t.ok(compareKeys(encodeTuple([v]), encodeTuple([null])) < 0, `${String(v)} < NULL`);
  }
  t.end();
});

t.test('every value type survives an encode/decode round trip', (t) => {
  const values: Value[] = [null, true, false, 0n, -(2n ** 63n), 2n ** 63n - 1n, 1.25, -0.5, 'héllo\u0000', new Uint8Array([0, 255, 0])];
  t.same(decodeTuple(encodeTuple(values)), values);
  t.end();
});

t.test('an integer outside int64 cannot be encoded', (t) => {
  t.throws(() => encodeTuple([2n ** 63n]), RangeError);
  t.end();
});

t.test('malformed tuples are refused rather than guessed at', (t) => {
  t.throws(() => decodeTuple(Buffer.from([0x20, 1, 2])), TupleDecodeError);
  t.throws(() => decodeTuple(Buffer.from([0x30, 0x61])), TupleDecodeError);
  t.throws(() => decodeTuple(Buffer.from([0x99])), TupleDecodeError);
  t.end();
});

t.test('a stored row keeps its version and values', (t) => {
  const row = decodeRow(encodeRow(123456, [5n, 'x', null]));
  t.equal(row.version, 123456);
  t.same(row.values, [5n, 'x', null]);
  t.end();
});

t.test('an inclusive prefix range holds every key that starts with its bounds', (t) => {
  const range = encodeRange(1, 0, [5n], true, [7n], true);
  t.ok(rangeContains(range, encodeKey(1, 0, [5n])));
  t.ok(rangeContains(range, encodeKey(1, 0, [5n, 'z'])));
  t.ok(rangeContains(range, encodeKey(1, 0, [7n, 'z'])));
  t.notOk(rangeContains(range, encodeKey(1, 0, [8n])));
  t.notOk(rangeContains(range, encodeKey(1, 0, [4n])));
  t.end();
});

t.test('exclusive bounds leave out the keys that start with them', (t) => {
  const range = encodeRange(1, 0, [5n], false, [7n], false);
  t.notOk(rangeContains(range, encodeKey(1, 0, [5n])));
  t.notOk(rangeContains(range, encodeKey(1, 0, [5n, 1n])));
  t.ok(rangeContains(range, encodeKey(1, 0, [6n])));
  t.notOk(rangeContains(range, encodeKey(1, 0, [7n])));
  t.end();
});

t.test('an open range covers its whole index and nothing of the next one', (t) => {
  const range = encodeRange(1, 0, [], true, null, true);
  t.ok(rangeContains(range, encodeKey(1, 0, [-(2n ** 63n)])));
  t.ok(rangeContains(range, encodeKey(1, 0, [null])));
  t.notOk(rangeContains(range, encodeKey(1, 1, [0n])));
  t.notOk(rangeContains(range, encodeKey(2, 0, [0n])));
  t.end();
});

t.test('values without a NUL and values with one are encoded by the same rule', (t) => {
  const utf8 = Buffer.from('é😀\uD800', 'utf8');
  t.same(encodeTuple(['é😀\uD800']), Buffer.concat([Buffer.from([0x30]), utf8, Buffer.from([0])]), 'a lone surrogate becomes U+FFFD');
  t.same(encodeTuple(['a\u0000']), Buffer.from([0x30, 0x61, 0x00, 0xff, 0x00]));
  t.same(encodeTuple([new Uint8Array([1, 2])]), Buffer.from([0x31, 1, 2, 0]));
  t.same(encodeTuple([new Uint8Array([0])]), Buffer.from([0x31, 0x00, 0xff, 0x00]));
  t.same(decodeRow(encodeRow(7, ['x', new Uint8Array([0, 1])])).values, ['x', new Uint8Array([0, 1])]);
  t.end();
});
