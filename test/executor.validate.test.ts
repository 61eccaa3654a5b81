import t from 'tap';
import type { Expr, Program, Stmt } from '../src/executor/program.js';
import { ProgramLimits } from '../src/executor/program.js';
import { validateProgram } from '../src/executor/index.js';
import { OrdoError } from '../src/util/index.js';
import {
  abort,
  all,
  bin,
  call,
  col,
  count,
  emit,
  found,
  get,
  if_,
  key,
  let_,
  lit,
  none,
  p,
  put,
  range,
  scan,
  v,
  wholeTable,
} from './executor.support.js';

const good: Program = {
  reads: { points: [key(p(0)), key(p(1))], ranges: [range([p(2)], true, [bin('+', p(2), lit(10n))], false)] },
  writes: { points: [key(p(0)), key(p(1))], ranges: [] },
  body: [
    get('a', key(p(0))),
    get('b', key(p(1))),
    let_('total', lit(0n)),
    scan('s', range([p(2)], true, [bin('+', p(2), lit(10n))], false), [let_('total', bin('+', v('total'), col('s', 1)))], {
      limit: lit(5n),
      reverse: true,
    }),
    if_(bin('and', found('a'), found('b')), [let_('x', call('coalesce', col('a', 1), lit(0n)))], [let_('x', lit(0n))]),
    if_(bin('<', v('x'), lit(0n)), [abort('P0001', bin('||', lit('negative: '), v('x')))]),
    put(key(p(0)), p(0), bin('+', v('x'), v('total'))),
    emit(v('x'), count('s'), call('now'), call('toText', lit(Uint8Array.of(1)))),
  ],
};

/** The message validateProgram throws for `program`, checking it is an OrdoError 22023. */
function rejection(program: unknown, paramCount = 3): string {
  try {
    validateProgram(program, paramCount);
  } catch (err) {
    if (err instanceof OrdoError && err.code === '22023') return err.message;
    throw err;
  }
  return 'accepted';
}

const withBody = (...body: Stmt[]): Program => ({ reads: all, writes: all, body });

t.test('a well-formed program is accepted and returned as is', (t) => {
  t.equal(validateProgram(good, 3), good);
  t.end();
});

t.test('a program that is not an object or lacks a part is rejected at the root', (t) => {
  t.equal(rejection(null), 'program: expected an object, got null');
  t.equal(rejection([]), 'program: expected an object, got an array');
  t.equal(rejection({ reads: none, writes: none }), 'body: expected an array, got undefined');
  t.equal(rejection({ reads: none, writes: none, body: [], extra: 1 }), "program: unknown field 'extra'");
  t.end();
});

t.test('an unknown expression kind is reported with the path of the node', (t) => {
  const bad = withBody(let_('z', lit(1n)), get('r', key(lit(1n))), if_(lit(true), [put(key(lit(1n), { k: 'foo' } as unknown as Expr), lit(1n))]));
  t.equal(rejection(bad), "body[2].then[0].key.parts[1]: unknown expression kind 'foo'");
  t.end();
});

t.test('unknown statement kinds, operators and functions are rejected', (t) => {
  t.equal(rejection(withBody({ k: 'loop' } as unknown as Stmt)), "body[0]: unknown statement kind 'loop'");
  t.equal(rejection(withBody(emit({ k: 'bin', op: '**', a: lit(1n), b: lit(2n) } as unknown as Expr))), "body[0].values[0].op: unknown binary operator '**'");
  t.equal(rejection(withBody(emit({ k: 'un', op: 'sqrt', a: lit(1n) } as unknown as Expr))), "body[0].values[0].op: unknown unary operator 'sqrt'");
  t.equal(rejection(withBody(emit({ k: 'call', fn: 'random', args: [] } as unknown as Expr))), "body[0].values[0].fn: unknown function 'random'");
  t.equal(rejection(withBody(emit({ k: 'call', fn: 'toString', args: [] } as unknown as Expr))), "body[0].values[0].fn: unknown function 'toString'");
  t.equal(rejection(withBody({ k: 'constructor' } as unknown as Stmt)), "body[0]: unknown statement kind 'constructor'");
  t.end();
});

t.test('wrong field types and unknown fields are rejected', (t) => {
  t.equal(rejection(withBody({ k: 'get', into: 'r', key: { table: -1, index: 0, parts: [] } } as Stmt)), 'body[0].key.table: expected a table id (a non-negative integer), got -1');
  t.equal(rejection(withBody({ k: 'scan', into: 's', range: wholeTable, limit: null, reverse: 'yes', body: [] } as unknown as Stmt)), 'body[0].reverse: expected a boolean, got \'yes\'');
  t.equal(rejection(withBody({ k: 'let', name: '', e: lit(1n) })), "body[0].name: expected a name (a string of 1 to 128 characters), got ''");
  t.equal(rejection(withBody({ k: 'emit', values: [lit(1n)], extra: true } as unknown as Stmt)), "body[0]: unknown field 'extra'");
  t.equal(rejection(withBody(emit({ k: 'col', row: 'r', i: 1.5 } as Expr))), "body[0].values[0]: row variable 'r' is used before it is bound");
  t.equal(rejection(withBody(get('r', key(lit(1n))), emit({ k: 'col', row: 'r', i: 1.5 } as Expr))), 'body[1].values[0].i: expected a column index (a non-negative integer), got 1.5');
  t.equal(rejection({ reads: { points: [], ranges: [{ ...wholeTable, lowerInclusive: 1 }] }, writes: none, body: [] }), 'reads.ranges[0].lowerInclusive: expected a boolean, got 1');
  t.end();
});

t.test('literals must be engine values', (t) => {
  t.equal(rejection(withBody(emit(lit(2n ** 63n)))), 'body[0].values[0].v: integer outside int64');
  t.equal(rejection(withBody(emit(lit('\uDC00x')))), 'body[0].values[0].v: string with a lone surrogate');
  t.equal(rejection(withBody(emit({ k: 'lit', v: { a: 1 } } as unknown as Expr))), 'body[0].values[0].v: not an engine value (object)');
  t.equal(rejection(withBody(emit({ k: 'lit' } as unknown as Expr))), "body[0].values[0]: missing field 'v'");
  t.equal(rejection(withBody(emit(lit(Uint8Array.of(1)), lit(null), lit(NaN), lit('\u{1F600}')))), 'accepted');
  t.end();
});

t.test('a parameter index must be below the parameter count', (t) => {
  t.equal(rejection(withBody(emit(p(2))), 2), 'body[0].values[0].i: parameter index 2 is not below the parameter count 2');
  t.equal(rejection(withBody(emit(p(-1))), 2), 'body[0].values[0].i: parameter index -1 is not below the parameter count 2');
  t.throws(() => validateProgram(withBody(), -1), { code: '22023' });
  t.throws(() => validateProgram(withBody(), ProgramLimits.maxParams + 1), { code: '22023' });
  t.end();
});

t.test('a program validated once is still checked against a smaller parameter count', (t) => {
  const program = withBody(emit(p(2)));
  t.equal(validateProgram(program, 3), program);
  t.equal(validateProgram(program, 5), program);
  t.equal(rejection(program, 2), 'body[0].values[0].i: parameter index 2 is not below the parameter count 2');
  t.end();
});

t.test('a variable must be bound on every path before it is used', (t) => {
  t.equal(rejection(withBody(emit(v('x')), let_('x', lit(1n)))), "body[0].values[0]: variable 'x' is used before it is bound");
  t.equal(rejection(withBody(let_('x', v('x')))), "body[0].e: variable 'x' is used before it is bound");
  t.equal(rejection(withBody(if_(lit(true), [let_('x', lit(1n))]), emit(v('x')))), "body[1].values[0]: variable 'x' is used before it is bound");
  t.equal(rejection(withBody(if_(lit(true), [let_('x', lit(1n))], [let_('x', lit(2n))]), emit(v('x')))), 'accepted');
  t.equal(rejection(withBody(scan('s', wholeTable, [let_('y', lit(1n))]), emit(v('y')))), "body[1].values[0]: variable 'y' is used before it is bound");
  t.equal(rejection(withBody(scan('s', wholeTable, []), emit(col('s', 0)))), "body[1].values[0]: row variable 's' is used before it is bound");
  t.equal(rejection(withBody(if_(found('r'), []), get('r', key(lit(1n))))), "body[0].cond: row variable 'r' is used before it is bound");
  t.end();
});

t.test('count must name a scan, and scan names are unique', (t) => {
  t.equal(rejection(withBody(emit(count('nope')))), "body[0].values[0]: count refers to no scan named 'nope'");
  t.equal(rejection(withBody(emit(count('s')), scan('s', wholeTable, []))), 'accepted');
  t.equal(rejection(withBody(scan('s', wholeTable, []), scan('s', wholeTable, []))), "body[1].into: scan name 's' is already used by another scan");
  t.end();
});

t.test('declared key sets allow only literals, parameters, operators and functions other than now', (t) => {
  const points = (e: Expr): Program => ({ reads: { points: [key(e)], ranges: [] }, writes: none, body: [] });
  t.equal(rejection(points(bin('*', p(0), call('abs', lit(-2n))))), 'accepted');
  t.equal(rejection(points(v('x'))), "reads.points[0].parts[0]: expression kind 'var' is not allowed in a declared key set (only literals, parameters and operators)");
  t.equal(rejection({ reads: none, writes: { points: [], ranges: [range([], true, [count('s')], true)] }, body: [] }), "writes.ranges[0].upper[0]: expression kind 'count' is not allowed in a declared key set (only literals, parameters and operators)");
  t.equal(rejection(points(bin('+', call('now'), lit(1n)))), 'reads.points[0].parts[0].a: now() is not allowed in a declared key set');
  t.end();
});

t.test('function arity is checked', (t) => {
  t.equal(rejection(withBody(emit(call('abs')))), 'body[0].values[0].args: abs takes 1 argument, got 0');
  t.equal(rejection(withBody(emit(call('now', lit(1n))))), 'body[0].values[0].args: now takes 0 arguments, got 1');
  t.equal(rejection(withBody(emit(call('coalesce')))), 'body[0].values[0].args: coalesce takes at least 1 arguments, got 0');
  t.end();
});

t.test('abort codes must look like SQLSTATE error codes', (t) => {
  t.equal(rejection(withBody(abort('P0001', lit('x')))), 'accepted');
  t.equal(rejection(withBody(abort('00000', lit('x')))), "body[0].code: expected a SQLSTATE error code (5 characters 0-9A-Z, not class 00-02), got '00000'");
  t.equal(rejection(withBody(abort('p0001', lit('x')))), "body[0].code: expected a SQLSTATE error code (5 characters 0-9A-Z, not class 00-02), got 'p0001'");
  t.end();
});

t.test('expressions and statements nested too deeply are rejected, including cyclic input', (t) => {
  let e: Expr = lit(1n);
  for (let i = 1; i < ProgramLimits.maxExprDepth; i++) e = un_neg(e);
  t.equal(rejection(withBody(emit(e))), 'accepted', 'exactly at the limit');
  t.match(rejection(withBody(emit(un_neg(e)))), /^body\[0\]\.values\[0\](\.a){64}: expression nested deeper than 64$/);
  let s: Stmt = emit(lit(1n));
  for (let i = 0; i < ProgramLimits.maxExprDepth; i++) s = if_(lit(true), [s]);
  t.match(rejection(withBody(s)), /statements nested deeper than 64$/);
  const cyclic: { k: string; op: string; a: unknown } = { k: 'un', op: 'neg', a: null };
  cyclic.a = cyclic;
  t.match(rejection(withBody(emit(cyclic as Expr))), /expression nested deeper than 64$/);
  t.end();
});

function un_neg(a: Expr): Expr {
  return { k: 'un', op: 'neg', a };
}
