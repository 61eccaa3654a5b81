import t from 'tap';
import type { Expr } from '../src/executor/program.js';
import type { Value } from '../src/partitions/index.js';
import { bin, call, ctx, evalExpr, lit, p, un } from './executor.support.js';

const N = lit(null);
const T_ = lit(true);
const F = lit(false);

t.test('AND, OR and NOT follow SQL three-valued logic', (t) => {
  const vals = [T_, F, N];
  const names = ['T', 'F', 'N'] as const;
  // Rows: left operand, columns: right operand.
  const and = [
    [true, false, null],
    [false, false, false],
    [null, false, null],
  ];
  const or = [
    [true, true, true],
    [true, false, null],
    [true, null, null],
  ];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      t.equal(evalExpr(bin('and', vals[i]!, vals[j]!)), and[i]![j], `${names[i]} AND ${names[j]}`);
      t.equal(evalExpr(bin('or', vals[i]!, vals[j]!)), or[i]![j], `${names[i]} OR ${names[j]}`);
    }
  }
  t.equal(evalExpr(un('not', T_)), false);
  t.equal(evalExpr(un('not', F)), true);
  t.equal(evalExpr(un('not', N)), null);
  t.end();
});

t.test('AND and OR stop at a deciding left operand without evaluating the right one', (t) => {
  const boom = bin('=', bin('/', lit(1n), lit(0n)), lit(1n));
  t.equal(evalExpr(bin('and', F, boom)), false);
  t.equal(evalExpr(bin('or', T_, boom)), true);
  t.same(evalExpr(bin('and', T_, boom)), { code: '22012', message: 'division by zero' });
  t.end();
});

t.test('comparisons with NULL are NULL and IS NULL is never NULL', (t) => {
  for (const op of ['=', '<>', '<', '<=', '>', '>='] as const) {
    t.equal(evalExpr(bin(op, N, lit(1n))), null, `NULL ${op} 1`);
    t.equal(evalExpr(bin(op, lit('a'), N)), null, `'a' ${op} NULL`);
  }
  t.equal(evalExpr(un('isnull', N)), true);
  t.equal(evalExpr(un('isnull', lit(0n))), false);
  t.equal(evalExpr(un('isnull', lit(''))), false);
  t.end();
});

t.test('NULL propagates through arithmetic, negation and concatenation', (t) => {
  for (const op of ['+', '-', '*', '/', '%', '||'] as const) {
    t.equal(evalExpr(bin(op, N, lit(2n))), null, `NULL ${op} 2`);
    t.equal(evalExpr(bin(op, lit(2.5), N)), null, `2.5 ${op} NULL`);
  }
  t.equal(evalExpr(un('neg', N)), null);
  t.end();
});

t.test('integer arithmetic is exact and overflow aborts with 22003', (t) => {
  const max = lit(9223372036854775807n);
  const min = lit(-9223372036854775808n);
  t.equal(evalExpr(bin('+', lit(9007199254740993n), lit(1n))), 9007199254740994n);
  t.equal(evalExpr(bin('-', max, lit(1n))), 9223372036854775806n);
  const overflow = { code: '22003', message: 'bigint out of range' };
  t.same(evalExpr(bin('+', max, lit(1n))), overflow);
  t.same(evalExpr(bin('-', min, lit(1n))), overflow);
  t.same(evalExpr(bin('*', lit(4294967296n), lit(4294967296n))), overflow);
  t.same(evalExpr(un('neg', min)), overflow);
  t.same(evalExpr(bin('/', min, lit(-1n))), overflow);
  t.same(evalExpr(call('abs', min)), overflow);
  t.equal(evalExpr(bin('%', min, lit(-1n))), 0n);
  t.end();
});

t.test('integer division truncates toward zero and modulo takes the dividend sign', (t) => {
  t.equal(evalExpr(bin('/', lit(7n), lit(2n))), 3n);
  t.equal(evalExpr(bin('/', lit(-7n), lit(2n))), -3n);
  t.equal(evalExpr(bin('/', lit(7n), lit(-2n))), -3n);
  t.equal(evalExpr(bin('%', lit(-7n), lit(2n))), -1n);
  t.equal(evalExpr(bin('%', lit(7n), lit(-2n))), 1n);
  t.end();
});

t.test('division or modulo by zero aborts with 22012, for integers and floats', (t) => {
  const dz = { code: '22012', message: 'division by zero' };
  t.same(evalExpr(bin('/', lit(1n), lit(0n))), dz);
  t.same(evalExpr(bin('%', lit(1n), lit(0n))), dz);
  t.same(evalExpr(bin('/', lit(1.5), lit(0))), dz);
  t.same(evalExpr(bin('/', lit(1n), lit(-0))), dz);
  t.same(evalExpr(bin('%', lit(1.5), lit(0n))), dz);
  t.end();
});

t.test('mixing integer and float promotes to float', (t) => {
  t.equal(evalExpr(bin('+', lit(1n), lit(0.5))), 1.5);
  t.equal(evalExpr(bin('/', lit(7n), lit(2.0))), 3.5);
  t.equal(evalExpr(bin('*', lit(2.0), lit(3n))), 6);
  t.equal(typeof evalExpr(bin('*', lit(2.0), lit(3n))), 'number');
  t.equal(typeof evalExpr(bin('*', lit(2n), lit(3n))), 'bigint');
  t.end();
});

t.test('float overflow and underflow abort with 22003, infinities in the input do not', (t) => {
  t.same(evalExpr(bin('*', lit(1e308), lit(10))), { code: '22003', message: 'value out of range: overflow' });
  t.same(evalExpr(bin('*', lit(1e-308), lit(1e-308))), { code: '22003', message: 'value out of range: underflow' });
  t.equal(evalExpr(bin('+', lit(Infinity), lit(1))), Infinity);
  t.ok(Number.isNaN(evalExpr(bin('-', lit(Infinity), lit(Infinity)))));
  t.end();
});

t.test('numbers compare numerically across integer and float, exactly', (t) => {
  t.equal(evalExpr(bin('=', lit(1n), lit(1.0))), true);
  t.equal(evalExpr(bin('<', lit(1n), lit(1.5))), true);
  t.equal(evalExpr(bin('>', lit(2n), lit(1.5))), true);
  // 2^53 + 1 is not a float; converting it to float first would make these equal.
  t.equal(evalExpr(bin('=', lit(9007199254740993n), lit(9007199254740992))), false);
  t.equal(evalExpr(bin('>', lit(9007199254740993n), lit(9007199254740992))), true);
  t.equal(evalExpr(bin('=', lit(0), lit(-0))), true);
  t.end();
});

t.test('NaN equals itself and sorts above every other number', (t) => {
  t.equal(evalExpr(bin('=', lit(NaN), lit(NaN))), true);
  t.equal(evalExpr(bin('>', lit(NaN), lit(Infinity))), true);
  t.equal(evalExpr(bin('<', lit(9223372036854775807n), lit(NaN))), true);
  t.end();
});

t.test('strings compare by code point, not by UTF-16 code unit', (t) => {
  // U+FFFF is one unit 0xFFFF; U+10000 is the pair 0xD800 0xDC00, which JS's `<` puts first.
  t.equal('\u{10000}' < '\uFFFF', true, 'JS order differs (the premise of this test)');
  t.equal(evalExpr(bin('<', lit('\uFFFF'), lit('\u{10000}'))), true);
  t.equal(evalExpr(bin('>', lit('a\u{1F600}'), lit('a\uE000'))), true);
  t.equal(evalExpr(bin('<', lit('ab'), lit('abc'))), true);
  t.equal(evalExpr(bin('<', lit('B'), lit('a'))), true, 'no locale: uppercase before lowercase');
  t.equal(evalExpr(bin('=', lit('é'), lit('é'))), true);
  t.end();
});

t.test('bytes compare lexicographically and booleans as false < true', (t) => {
  t.equal(evalExpr(bin('<', lit(Uint8Array.of(1, 2)), lit(Uint8Array.of(1, 3)))), true);
  t.equal(evalExpr(bin('<', lit(Uint8Array.of(1, 2)), lit(Uint8Array.of(1, 2, 0)))), true);
  t.equal(evalExpr(bin('=', lit(Uint8Array.of(9)), lit(Buffer.from([9])))), true);
  t.equal(evalExpr(bin('<', F, T_)), true);
  t.equal(evalExpr(bin('<>', T_, T_)), false);
  t.end();
});

t.test('comparing or combining incompatible types aborts with 42804 naming both types', (t) => {
  t.same(evalExpr(bin('=', lit('1'), lit(1n))), { code: '42804', message: 'cannot compare text with bigint' });
  t.same(evalExpr(bin('<', lit(true), lit(1.5))), { code: '42804', message: 'cannot compare boolean with double precision' });
  t.same(evalExpr(bin('=', lit(Uint8Array.of(1)), lit('x'))), { code: '42804', message: 'cannot compare bytea with text' });
  t.same(evalExpr(bin('+', lit('1'), lit(1n))), { code: '42804', message: 'operator does not exist: text + bigint' });
  t.same(evalExpr(bin('and', lit(1n), T_)), { code: '42804', message: 'argument of AND must be type boolean, not type bigint' });
  t.same(evalExpr(un('not', lit('x'))), { code: '42804', message: 'argument of NOT must be type boolean, not type text' });
  t.same(evalExpr(un('neg', lit(true))), { code: '42804', message: 'operator does not exist: - boolean' });
  t.end();
});

t.test('|| concatenates strings and bytes and converts other values to text', (t) => {
  t.equal(evalExpr(bin('||', lit('ab'), lit('cd'))), 'abcd');
  t.equal(evalExpr(bin('||', lit('n='), lit(42n))), 'n=42');
  t.equal(evalExpr(bin('||', lit(1.5), lit(true))), '1.5true');
  t.same(evalExpr(bin('||', lit(Uint8Array.of(1)), lit(Uint8Array.of(2, 3)))), Uint8Array.of(1, 2, 3));
  t.end();
});

t.test('coalesce returns the first non-NULL argument and evaluates no further', (t) => {
  t.equal(evalExpr(call('coalesce', N, N, lit(3n), lit(4n))), 3n);
  t.equal(evalExpr(call('coalesce', N, N)), null);
  t.equal(evalExpr(call('coalesce', lit('x'), bin('/', lit(1n), lit(0n)))), 'x');
  t.end();
});

t.test('greatest and least ignore NULLs and take the common numeric type', (t) => {
  t.equal(evalExpr(call('greatest', lit(1n), N, lit(5n), lit(3n))), 5n);
  t.equal(evalExpr(call('least', lit(1n), N, lit(5n))), 1n);
  t.equal(evalExpr(call('greatest', N, N)), null);
  const g = evalExpr(call('greatest', lit(3n), lit(2.5)));
  t.equal(g, 3);
  t.equal(typeof g, 'number');
  t.equal(evalExpr(call('least', lit('b'), lit('\u{10000}'), lit('\uFFFF'))), 'b');
  t.equal(evalExpr(call('greatest', lit('b'), lit('\u{10000}'), lit('\uFFFF'))), '\u{10000}');
  t.same(evalExpr(call('greatest', lit(1n), lit('a'))), { code: '42804', message: 'cannot compare text with bigint' });
  t.end();
});

t.test('abs, lower, upper and length work on their types and pass NULL through', (t) => {
  t.equal(evalExpr(call('abs', lit(-5n))), 5n);
  t.equal(evalExpr(call('abs', lit(-2.5))), 2.5);
  t.equal(evalExpr(call('abs', N)), null);
  t.equal(evalExpr(call('lower', lit('ÀbC'))), 'àbc');
  t.equal(evalExpr(call('upper', lit('straße'))), 'STRASSE');
  t.equal(evalExpr(call('upper', lit('i'))), 'I', 'no Turkish dotted I: no locale');
  t.equal(evalExpr(call('length', lit('a\u{1F600}b'))), 3n, 'code points, not UTF-16 units');
  t.equal(evalExpr(call('length', lit(Uint8Array.of(0, 0, 0, 0)))), 4n);
  t.equal(evalExpr(call('length', N)), null);
  t.same(evalExpr(call('lower', lit(1n))), { code: '42804', message: 'function lower(bigint) does not exist' });
  t.end();
});

t.test('now() is the batch timestamp in integer milliseconds', (t) => {
  t.equal(evalExpr(call('now')), BigInt(ctx.timestampMs));
  t.end();
});

t.test('toInt rounds floats half to even, parses text strictly and range-checks', (t) => {
  const cases: [Value, Value][] = [
    [2.5, 2n],
    [3.5, 4n],
    [-2.5, -2n],
    [2.4999, 2n],
    [-0.6, -1n],
    [1e18, 1000000000000000000n],
    [' 42 ', 42n],
    ['-9223372036854775808', -9223372036854775808n],
    ['+7', 7n],
    [true, 1n],
    [12n, 12n],
    [null, null],
  ];
  for (const [input, want] of cases) t.equal(evalExpr(call('toInt', lit(input))), want, `toInt(${String(input)})`);
  t.same(evalExpr(call('toInt', lit('12a'))), { code: '22P02', message: 'invalid input syntax for type bigint: "12a"' });
  t.same(evalExpr(call('toInt', lit('1.5'))), { code: '22P02', message: 'invalid input syntax for type bigint: "1.5"' });
  t.same(evalExpr(call('toInt', lit(''))), { code: '22P02', message: 'invalid input syntax for type bigint: ""' });
  t.same(evalExpr(call('toInt', lit('9223372036854775808'))), {
    code: '22003',
    message: 'value "9223372036854775808" is out of range for type bigint',
  });
  t.same(evalExpr(call('toInt', lit(9223372036854775808))), { code: '22003', message: 'bigint out of range' });
  t.same(evalExpr(call('toInt', lit(NaN))), { code: '22003', message: 'bigint out of range' });
  t.equal(evalExpr(call('toInt', lit(-9223372036854775808))), -9223372036854775808n);
  t.end();
});

t.test('toFloat converts integers and parses text like float8in', (t) => {
  t.equal(evalExpr(call('toFloat', lit(3n))), 3);
  t.equal(typeof evalExpr(call('toFloat', lit(3n))), 'number');
  t.equal(evalExpr(call('toFloat', lit(' 1.5e3 '))), 1500);
  t.equal(evalExpr(call('toFloat', lit('.5'))), 0.5);
  t.equal(evalExpr(call('toFloat', lit('-Infinity'))), -Infinity);
  t.ok(Number.isNaN(evalExpr(call('toFloat', lit('nan')))));
  t.equal(evalExpr(call('toFloat', lit('4.9e-324'))), 5e-324, 'subnormals are accepted');
  t.same(evalExpr(call('toFloat', lit('1e400'))), { code: '22003', message: '"1e400" is out of range for type double precision' });
  t.same(evalExpr(call('toFloat', lit('1e-400'))), { code: '22003', message: '"1e-400" is out of range for type double precision' });
  t.same(evalExpr(call('toFloat', lit('0x10'))), { code: '22P02', message: 'invalid input syntax for type double precision: "0x10"' });
  t.same(evalExpr(call('toFloat', lit(true))), { code: '42804', message: 'function toFloat(boolean) does not exist' });
  t.end();
});

t.test('toText gives the canonical text of every type, floats like PostgreSQL', (t) => {
  const cases: [Value, string | null][] = [
    [-12n, '-12'],
    [true, 'true'],
    [false, 'false'],
    ['x', 'x'],
    [Uint8Array.of(0, 0xab, 0x10), '\\x00ab10'],
    [null, null],
    [1.5, '1.5'],
    [0.1 + 0.2, '0.30000000000000004'],
    [100, '100'],
    [123456789012345, '123456789012345'],
    [1e15, '1e+15'],
    [1.5e300, '1.5e+300'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-1.25e-7, '-1.25e-07'],
    [5e-324, '5e-324'],
    [-0, '-0'],
    [NaN, 'NaN'],
    [-Infinity, '-Infinity'],
  ];
  for (const [input, want] of cases) t.equal(evalExpr(call('toText', lit(input))), want, `toText(${String(input)})`);
  t.end();
});

t.test('a parameter is read by index', (t) => {
  const e: Expr = bin('+', p(0), p(1));
  t.equal(evalExpr(e, [2n, 40n]), 42n);
  t.end();
});
