// numeric's binary format (numeric_send / numeric_recv): byte vectors as PostgreSQL writes them, and
// round trips of random decimals.

import t from 'tap';
import { TypeOid, decodeBinary, encodeBinary } from '../src/sql/wire/index.js';
import { seededRandom } from '../src/util/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** ndigits, weight, sign, dscale, digits: as numeric_send lays them out. */
const numeric = (...words: number[]): string => words.map((w) => (w & 0xffff).toString(16).padStart(4, '0')).join('');

t.test('numeric values encode to PostgreSQL’s base-10000 digits, weight, sign and scale', (t) => {
  const cases: [string | bigint | number, string][] = [
    ['0', numeric(0, 0, 0, 0)],
    ['0.00', numeric(0, 0, 0, 2)],
    ['-0.0', numeric(0, 0, 0, 1)],
    ['1', numeric(1, 0, 0, 0, 1)],
    ['10000', numeric(1, 1, 0, 0, 1)],
    ['-1234.567', numeric(2, 0, 0x4000, 3, 1234, 5670)],
    ['0.0001', numeric(1, -1, 0, 4, 1)],
    ['0.00001', numeric(1, -2, 0, 5, 1000)],
    ['123456789.5', numeric(4, 2, 0, 1, 1, 2345, 6789, 5000)],
    ['1.5e3', numeric(1, 0, 0, 0, 1500)],
    ['NaN', numeric(0, 0, 0xc000, 0)],
    ['Infinity', numeric(0, 0, 0xd000, 0)],
    ['-Infinity', numeric(0, 0, 0xf000, 0)],
    [12n, numeric(1, 0, 0, 0, 12)],
    [1.25, numeric(2, 0, 0, 2, 1, 2500)],
  ];
  for (const [v, bytes] of cases) t.equal(hex(encodeBinary(TypeOid.numeric, v)), bytes, String(v));
  t.end();
});

t.test('binary numerics decode to their exact text at their scale', (t) => {
  const cases: [string, string][] = [
    [numeric(0, 0, 0, 2), '0.00'],
    [numeric(2, 0, 0x4000, 3, 1234, 5670), '-1234.567'],
    [numeric(1, 1, 0, 0, 1), '10000'],
    [numeric(1, 2, 0, 2, 7), '700000000.00'],
    [numeric(1, -2, 0, 5, 1000), '0.00001'],
    [numeric(0, 0, 0xc000, 0), 'NaN'],
    [numeric(0, 0, 0xf000, 0), '-Infinity'],
  ];
  for (const [bytes, text] of cases) t.equal(decodeBinary(TypeOid.numeric, Buffer.from(bytes, 'hex')), text, text);
  t.end();
});

t.test('digits beyond the scale are rounded half away from zero, as numeric_recv does', (t) => {
  t.equal(decodeBinary(TypeOid.numeric, Buffer.from(numeric(1, -2, 0, 4, 5000), 'hex')), '0.0001');
  t.equal(decodeBinary(TypeOid.numeric, Buffer.from(numeric(1, -2, 0x4000, 4, 4999), 'hex')), '0.0000');
  t.equal(decodeBinary(TypeOid.numeric, Buffer.from(numeric(2, 0, 0x4000, 0, 2, 5000), 'hex')), '-3');
  t.end();
});

t.test('random decimals round-trip through the binary format', (t) => {
  const random = seededRandom(17);
  for (let i = 0; i < 2_000; i++) {
    const intDigits = Math.floor(random() * 25);
    const scale = Math.floor(random() * 12);
    const digit = (): string => String(Math.floor(random() * 10));
    const int = Array.from({ length: intDigits }, digit).join('').replace(/^0+(?=\d)/, '') || '0';
    const frac = Array.from({ length: scale }, digit).join('');
    const sign = random() < 0.5 && /[1-9]/.test(int + frac) ? '-' : '';
    const text = `${sign}${int}${scale > 0 ? `.${frac}` : ''}`;
    const back = decodeBinary(TypeOid.numeric, encodeBinary(TypeOid.numeric, text));
    if (back !== text) {
      t.equal(back, text);
      break;
    }
  }
  t.pass('2,000 decimals round-tripped');
  t.end();
});

t.test('malformed binary numerics are 22P03', (t) => {
  t.throws(() => decodeBinary(TypeOid.numeric, Buffer.from('0000', 'hex')), { code: '22P03' });
  t.throws(() => decodeBinary(TypeOid.numeric, Buffer.from(numeric(2, 0, 0, 0, 1), 'hex')), { code: '22P03' }, 'fewer digits than announced');
  t.throws(() => decodeBinary(TypeOid.numeric, Buffer.from(numeric(1, 0, 0x1234, 0, 1), 'hex')), { code: '22P03', message: /sign/ });
  t.throws(() => decodeBinary(TypeOid.numeric, Buffer.from(numeric(1, 0, 0, 0, 10000), 'hex')), { code: '22P03', message: /digit/ });
  t.throws(() => decodeBinary(TypeOid.numeric, Buffer.from(numeric(0, 0, 0, -1), 'hex')), { code: '22P03', message: /scale/ });
  t.end();
});
