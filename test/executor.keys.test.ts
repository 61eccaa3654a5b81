import t from 'tap';
import type { Program } from '../src/executor/program.js';
import { evaluateKeySets, validateProgram } from '../src/executor/index.js';
import { encodeKey, encodeRange } from '../src/partitions/index.js';
import { OrdoError } from '../src/util/index.js';
import { T, bin, call, key, lit, none, p, range } from './executor.support.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('declared points and ranges are encoded from parameters and literals', (t) => {
  const program: Program = validateProgram(
    {
      reads: { points: [key(p(0), lit('x')), key(bin('+', p(1), lit(1n)))], ranges: [range([p(0)], false, [p(1)], true)] },
      writes: { points: [key(call('lower', p(2)))], ranges: [range([], true, null, false)] },
      body: [],
    },
    3,
  );
  const d = evaluateKeySets(program, [5n, 9n, 'ABC']);
  t.same(d.reads.points.map(hex), [hex(encodeKey(T, 0, [5n, 'x'])), hex(encodeKey(T, 0, [10n]))]);
  const r = encodeRange(T, 0, [5n], false, [9n], true);
  t.same(d.reads.ranges.map((x) => [hex(x.lower), hex(x.upper)]), [[hex(r.lower), hex(r.upper)]]);
  t.same(d.writes.points.map(hex), [hex(encodeKey(T, 0, ['abc']))]);
  const whole = encodeRange(T, 0, [], true, null, false);
  t.same(d.writes.ranges.map((x) => [hex(x.lower), hex(x.upper)]), [[hex(whole.lower), hex(whole.upper)]]);
  t.end();
});

t.test('an error evaluating a declared key is thrown as an OrdoError with its SQLSTATE', (t) => {
  const program: Program = { reads: { points: [key(bin('/', p(0), lit(0n)))], ranges: [] }, writes: none, body: [] };
  t.throws(() => evaluateKeySets(program, [1n]), new OrdoError('22012', 'division by zero'));
  const long: Program = { reads: none, writes: { points: [key(p(0))], ranges: [] }, body: [] };
  t.throws(() => evaluateKeySets(long, ['y'.repeat(2000)]), { code: '54000' });
  t.end();
});
