import t from 'tap';
import type { Expr, Program, RangeExpr, Stmt } from '../src/executor/program.js';
import { ProgramLimits } from '../src/executor/program.js';
import { evaluateKeySets, executeProgram, type TxnOutcome } from '../src/executor/index.js';
import { encodeKey, encodeRange } from '../src/partitions/index.js';
import type { Value } from '../src/partitions/index.js';
import {
  MemView,
  T,
  abort,
  all,
  bin,
  col,
  committed,
  count,
  ctx,
  del,
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
  run,
  scan,
  un,
  v,
} from './executor.support.js';

const k = (n: bigint): Buffer => encodeKey(T, 0, [n]);
const view = (): MemView => MemView.of([[1n, 'one'], [2n, 'two'], [3n, 'three'], [5n, 'five'], [8n, 'eight']]);
const emitRow = (r: string): Stmt => emit(col(r, 0), col(r, 1));
const prog = (body: Stmt[], reads = all, writes = all): Program => ({ reads, writes, body });

t.test('get reads a stored row and an absent row binds to no row', (t) => {
  const out = committed(
    run(prog([get('a', key(lit(2n))), get('b', key(lit(4n))), emit(found('a'), col('a', 1), found('b'), col('b', 1))], all, none), [], view()),
  );
  t.same(out.rows, [[true, 'two', false, null]]);
  t.same(out.writes, []);
  t.end();
});

t.test('a column past the end of a stored row is NULL', (t) => {
  const out = committed(run(prog([get('a', key(lit(2n))), emit(col('a', 7))]), [], view()));
  t.same(out.rows, [[null]]);
  t.end();
});

t.test('put and delete produce one final write per key in ascending key order', (t) => {
  const out = committed(
    run(
      prog([
        put(key(lit(9n)), lit(9n), lit('nine')),
        del(key(lit(1n))),
        put(key(lit(4n)), lit(4n), lit('four')),
        put(key(lit(9n)), lit(9n), lit('NINE')),
        del(key(lit(4n))),
      ]),
      [],
      view(),
    ),
  );
  t.same(
    out.writes.map((w) => [Buffer.from(w.key).toString('hex'), w.values]),
    [
      [k(1n).toString('hex'), null],
      [k(4n).toString('hex'), null],
      [k(9n).toString('hex'), [9n, 'NINE']],
    ],
  );
  t.end();
});

t.test('a get sees the transaction’s own earlier puts and deletes', (t) => {
  const out = committed(
    run(
      prog([
        put(key(lit(2n)), lit(2n), lit('TWO')),
        get('a', key(lit(2n))),
        del(key(lit(3n))),
        get('b', key(lit(3n))),
        put(key(lit(7n)), lit(7n), lit('seven')),
        get('c', key(lit(7n))),
        emit(col('a', 1), found('b'), col('c', 1)),
      ]),
      [],
      view(),
    ),
  );
  t.same(out.rows, [['TWO', false, 'seven']]);
  t.end();
});

t.test('read-your-writes holds past the overlay’s switch to an indexed map', (t) => {
  const body: Stmt[] = [];
  for (let i = 0n; i < 40n; i++) body.push(put(key(lit(100n + i)), lit(100n + i), lit(i)));
  body.push(del(key(lit(105n))), get('a', key(lit(105n))), get('b', key(lit(139n))), get('c', key(lit(2n))));
  body.push(put(key(lit(139n)), lit(139n), lit('last')), get('d', key(lit(139n))));
  body.push(emit(found('a'), col('b', 1), col('c', 1), col('d', 1)));
  const out = committed(run(prog(body), [], view()));
  t.same(out.rows, [[false, 39n, 'two', 'last']]);
  t.equal(out.writes.length, 40);
  t.end();
});

/** The rows a scan visits (each emitted as [id, name]); also checks that `count` agrees. */
function scanRows(r: RangeExpr, opts: Parameters<typeof scan>[3] = {}, before: Stmt[] = [], params: Value[] = []): Value[][] {
  const out = committed(run(prog([...before, scan('s', r, [emitRow('s')], opts), emit(count('s'))]), params, view()));
  const rows = out.rows.map((row) => [...row]);
  const last = rows.pop();
  if (last?.[0] !== BigInt(rows.length)) throw new Error(`count ${String(last?.[0])} but ${rows.length} rows visited`);
  return rows;
}

t.test('a scan honours inclusive and exclusive bounds', (t) => {
  t.same(scanRows(range([lit(2n)], true, [lit(5n)], true)).map((r) => r[0]), [2n, 3n, 5n]);
  t.same(scanRows(range([lit(2n)], false, [lit(5n)], false)).map((r) => r[0]), [3n]);
  t.same(scanRows(range([lit(2n)], true, [lit(5n)], false)).map((r) => r[0]), [2n, 3n]);
  t.same(scanRows(range([], true, [lit(3n)], true)).map((r) => r[0]), [1n, 2n, 3n]);
  t.same(scanRows(range([lit(4n)], true, null, false)).map((r) => r[0]), [5n, 8n]);
  t.same(scanRows(range([lit(6n)], true, [lit(4n)], true)), [], 'an inverted range is empty');
  t.end();
});

t.test('a scan bound is a key prefix: inclusive bounds take every key that starts with it', (t) => {
  const v2 = new MemView();
  for (const [a, b] of [[1n, 1n], [1n, 2n], [2n, 1n], [2n, 2n], [2n, 3n], [3n, 1n]] as const) v2.set(encodeKey(T, 0, [a, b]), [a, b]);
  const runScan = (r: RangeExpr): Value[][] =>
    committed(run(prog([scan('s', r, [emitRow('s')])]), [], v2)).rows.map((row) => [...row]);
  t.same(runScan(range([lit(2n)], true, [lit(2n)], true)), [[2n, 1n], [2n, 2n], [2n, 3n]]);
  t.same(runScan(range([lit(1n)], false, [lit(3n)], false)), [[2n, 1n], [2n, 2n], [2n, 3n]]);
  t.same(runScan(range([lit(2n), lit(2n)], true, [lit(3n)], false)), [[2n, 2n], [2n, 3n]]);
  t.end();
});

t.test('a reverse scan visits rows in descending key order', (t) => {
  t.same(scanRows(range([lit(2n)], true, [lit(8n)], true), { reverse: true }).map((r) => r[0]), [8n, 5n, 3n, 2n]);
  t.same(scanRows(range([lit(2n)], true, [lit(8n)], true), { reverse: true, limit: lit(2n) }).map((r) => r[0]), [8n, 5n]);
  t.end();
});

t.test('a scan limit caps the rows visited; NULL means none and negative aborts', (t) => {
  t.same(scanRows(wholeRange(), { limit: lit(2n) }).map((r) => r[0]), [1n, 2n]);
  t.same(scanRows(wholeRange(), { limit: lit(0n) }), []);
  t.same(scanRows(wholeRange(), { limit: lit(null) }).length, 5);
  t.same(scanRows(wholeRange(), { limit: p(0) }, [], [3n]).length, 3);
  const out = run(prog([scan('s', wholeRange(), [], { limit: lit(-1n) })]), [], view());
  t.same(out, { status: 'aborted', code: '2201W', message: 'LIMIT must not be negative' });
  const bad = run(prog([scan('s', wholeRange(), [], { limit: lit(1.5) })]), [], view());
  t.match(bad, { status: 'aborted', code: '42804' });
  t.end();
});

function wholeRange(): RangeExpr {
  return range([], true, null, false);
}

t.test('a scan sees the transaction’s earlier puts and deletes, merged in key order', (t) => {
  const before = [
    put(key(lit(4n)), lit(4n), lit('four')),
    del(key(lit(2n))),
    put(key(lit(5n)), lit(5n), lit('FIVE')),
    put(key(lit(0n)), lit(0n), lit('zero')),
    put(key(lit(99n)), lit(99n), lit('outside')),
  ];
  const r = range([lit(0n)], true, [lit(8n)], false);
  t.same(scanRows(r, {}, before), [[0n, 'zero'], [1n, 'one'], [3n, 'three'], [4n, 'four'], [5n, 'FIVE']]);
  t.same(scanRows(r, { reverse: true }, before), [[5n, 'FIVE'], [4n, 'four'], [3n, 'three'], [1n, 'one'], [0n, 'zero']]);
  t.same(scanRows(r, { limit: lit(3n) }, [del(key(lit(1n))), ...before]), [[0n, 'zero'], [3n, 'three'], [4n, 'four']]);
  t.end();
});

t.test('a scan with a limit asks the view for enough rows to cover the keys it deleted', (t) => {
  const vw = view();
  const out = committed(
    run(prog([del(key(lit(1n))), del(key(lit(2n))), scan('s', wholeRange(), [emitRow('s')], { limit: lit(2n) })]), [], vw),
  );
  t.same(out.rows.map((r) => r[0]), [3n, 5n]);
  t.equal(vw.scanCalls[0]?.limit, 4);
  t.end();
});

t.test('a scan works on the range as it was when it started', (t) => {
  // Visiting row n deletes row n+1 and puts row n+2: neither changes which rows the scan visits.
  const body: Stmt[] = [
    emitRow('s'),
    del(key(bin('+', col('s', 0), lit(1n)))),
    put(key(bin('+', col('s', 0), lit(2n))), bin('+', col('s', 0), lit(2n)), lit('new')),
  ];
  const after = [get('g', key(lit(3n))), get('h', key(lit(5n))), emit(found('g'), col('h', 1))];
  const out = committed(run(prog([scan('s', range([lit(1n)], true, [lit(3n)], true), body), ...after]), [], view()));
  t.same(out.rows, [[1n, 'one'], [2n, 'two'], [3n, 'three'], [false, 'new']]);
  t.end();
});

t.test('a scan stopped by its limit closes the view’s iterator', (t) => {
  const vw = view();
  committed(run(prog([scan('s', wholeRange(), [], { limit: lit(2n) })]), [], vw));
  t.same(vw.scanCalls.map((c) => [c.pulled, c.closed]), [[2, true]]);
  t.end();
});

t.test('a scan aborted mid-way closes the view’s iterator', (t) => {
  const vw = view();
  const out = run(prog([scan('s', wholeRange(), [if_(bin('=', col('s', 0), lit(2n)), [abort('P0001', lit('stop'))])])]), [], vw);
  t.same(out, { status: 'aborted', code: 'P0001', message: 'stop' });
  t.same(vw.scanCalls.map((c) => c.closed), [true]);
  t.end();
});

t.test('the scan row variable is restored after the loop and count is 0 before the scan runs', (t) => {
  const out = committed(
    run(prog([emit(count('s')), get('s', key(lit(8n))), scan('s', range([lit(1n)], true, [lit(2n)], true), []), emit(col('s', 1), count('s'))]), [], view()),
  );
  t.same(out.rows, [[0n], ['eight', 2n]]);
  t.end();
});

t.test('scans nested in scans see their own rows', (t) => {
  const inner = scan('b', range([col('a', 0)], false, null, false), [emit(col('a', 0), col('b', 0))], { limit: lit(1n) });
  const out = committed(run(prog([scan('a', wholeRange(), [inner])]), [], view()));
  t.same(out.rows, [[1n, 2n], [2n, 3n], [3n, 5n], [5n, 8n]]);
  t.end();
});

t.test('an aborted program reports its code and message and leaves no writes', (t) => {
  const out = run(prog([put(key(lit(1n)), lit(1n), lit('x')), abort('23505', bin('||', lit('dup '), lit(1n)))]), [], view());
  t.same(out, { status: 'aborted', code: '23505', message: 'dup 1' });
  t.notOk('writes' in out);
  t.end();
});

t.test('a get outside the declared read and write sets aborts with XX000', (t) => {
  const reads = { points: [key(lit(1n))], ranges: [range([lit(5n)], true, [lit(6n)], true)] };
  const writes = { points: [key(lit(2n))], ranges: [] };
  const ok = committed(run(prog([get('a', key(lit(1n))), get('b', key(lit(2n))), get('c', key(lit(6n)))], reads, writes), [], view()));
  t.same(ok.writes, []);
  t.same(run(prog([get('a', key(lit(3n)))], reads, writes), [], view()), {
    status: 'aborted',
    code: 'XX000',
    message: 'program read key outside its declared read set',
  });
  t.end();
});

t.test('a scan not contained in one declared range aborts with XX000', (t) => {
  const reads = { points: [key(lit(1n))], ranges: [range([lit(2n)], true, [lit(5n)], true)] };
  const inside = run(prog([scan('s', range([lit(3n)], true, [lit(5n)], true), [])], reads, none), [], view());
  t.equal(inside.status, 'committed');
  const outside = run(prog([scan('s', range([lit(1n)], true, [lit(5n)], true), [])], reads, none), [], view());
  t.same(outside, { status: 'aborted', code: 'XX000', message: 'program scanned range outside its declared read set' });
  t.end();
});

t.test('a put or delete outside the declared write set aborts, even when the key is declared for reading', (t) => {
  const reads = { points: [key(lit(1n))], ranges: [] };
  const writes = { points: [key(lit(2n))], ranges: [range([lit(10n)], true, [lit(20n)], false)] };
  t.equal(run(prog([put(key(lit(2n)), lit(2n)), del(key(lit(15n)))], reads, writes), [], view()).status, 'committed');
  const msg = { status: 'aborted', code: 'XX000', message: 'program wrote key outside its declared write set' };
  t.same(run(prog([put(key(lit(1n)), lit(1n))], reads, writes), [], view()), msg);
  t.same(run(prog([del(key(lit(20n)))], reads, writes), [], view()), msg);
  t.end();
});

t.test('declared point membership works beyond the linear-search size', (t) => {
  const points = Array.from({ length: 50 }, (_, i) => key(lit(BigInt(i * 2))));
  const writes = { points, ranges: [] };
  t.equal(run(prog([put(key(lit(98n)), lit(1n)), put(key(lit(0n)), lit(1n)), get('a', key(lit(40n)))], none, writes), [], view()).status, 'committed');
  t.equal(run(prog([put(key(lit(41n)), lit(1n))], none, writes), [], view()).status, 'aborted');
  t.end();
});

t.test('executing more statements than the limit aborts with 54000', (t) => {
  // Nested full scans: rows^3 statements, far past the limit.
  const big = new MemView();
  for (let i = 0n; i < 200n; i++) big.set(encodeKey(T, 0, [i]), [i]);
  const inner = scan('c', wholeRange(), [let_('x', lit(1n))]);
  const out = run(prog([scan('a', wholeRange(), [scan('b', wholeRange(), [inner])])]), [], big);
  t.same(out, {
    status: 'aborted',
    code: '54000',
    message: `program executed more than ${ProgramLimits.maxStatementsExecuted} statements`,
  });
  t.end();
});

t.test('emitting more rows than the limit aborts with 54000', (t) => {
  const program = prog([scan('a', wholeRange(), [emit(col('a', 0))])]);
  const declared = evaluateKeySets(program, []);
  const out = executeProgram(program, [], declared, ctx, view(), { maxResultRows: 4 });
  t.same(out, { status: 'aborted', code: '54000', message: 'program emitted more than 4 rows' });
  t.equal(executeProgram(program, [], declared, ctx, view(), { maxResultRows: 5 }).status, 'committed');
  t.end();
});

t.test('each scanned row counts as a statement, so an empty-bodied scan is bounded too', (t) => {
  const program = prog([scan('a', wholeRange(), [])]);
  const declared = evaluateKeySets(program, []);
  // 1 scan statement + 5 rows.
  t.equal(executeProgram(program, [], declared, ctx, view(), { maxStatementsExecuted: 6 }).status, 'committed');
  t.same(executeProgram(program, [], declared, ctx, view(), { maxStatementsExecuted: 5 }), {
    status: 'aborted',
    code: '54000',
    message: 'program executed more than 5 statements',
  });
  t.end();
});

t.test('a key longer than the maximum aborts with 54000', (t) => {
  const out = run(prog([put(key(p(0)), lit(1n))]), ['x'.repeat(ProgramLimits.maxKeyBytes)], view());
  t.match(out, { status: 'aborted', code: '54000', message: /key of \d+ bytes exceeds the maximum of 1000/ });
  t.end();
});

t.test('an invalid parameter value aborts with 22023', (t) => {
  const program = prog([emit(p(0))]);
  const declared = evaluateKeySets(program, [1n]);
  t.same(executeProgram(program, [2n ** 63n], declared, ctx, view()), {
    status: 'aborted',
    code: '22023',
    message: 'parameter $0: integer outside int64',
  });
  t.same(executeProgram(program, ['a\uD800'], declared, ctx, view()), {
    status: 'aborted',
    code: '22023',
    message: 'parameter $0: string with a lone surrogate',
  });
  t.throws(() => evaluateKeySets(program, [2n ** 63n]), { code: '22023', message: 'parameter $0: integer outside int64' });
  t.end();
});

t.test('an IF condition that is not boolean aborts; NULL takes the else branch', (t) => {
  const out = committed(run(prog([if_(lit(null), [emit(lit('then'))], [emit(lit('else'))])])));
  t.same(out.rows, [['else']]);
  t.match(run(prog([if_(lit(1n), [], [])])), { status: 'aborted', code: '42804', message: 'argument of IF must be type boolean, not type bigint' });
  t.end();
});

t.test('let rebinds a variable, so a scan can accumulate into it', (t) => {
  const out = committed(
    run(prog([let_('sum', lit(0n)), scan('s', wholeRange(), [let_('sum', bin('+', v('sum'), col('s', 0)))]), emit(v('sum'))]), [], view()),
  );
  t.same(out.rows, [[19n]]);
  t.end();
});

// The bank transfer: move $2 from account $0 to account $1; rows are [id, balance].
const account = (i: number) => key(p(i));
const transfer: Program = {
  reads: { points: [], ranges: [] },
  writes: { points: [account(0), account(1)], ranges: [] },
  body: [
    get('from', account(0)),
    get('to', account(1)),
    if_(bin('or', un('not', found('from')), un('not', found('to'))), [abort('P0001', lit('no such account'))]),
    if_(bin('<', col('from', 1), p(2)), [
      abort('P0001', bin('||', bin('||', lit('insufficient funds: balance '), col('from', 1)), bin('||', lit(', need '), p(2)))),
    ]),
    put(account(0), p(0), bin('-', col('from', 1), p(2))),
    put(account(1), p(1), bin('+', col('to', 1), p(2))),
    emit(bin('-', col('from', 1), p(2)), bin('+', col('to', 1), p(2))),
  ],
};

function bank(): MemView {
  return MemView.of([[1n, 100n], [2n, 50n]]);
}

t.test('a bank transfer with enough funds debits one account and credits the other', (t) => {
  const out = committed(run(transfer, [1n, 2n, 30n], bank()));
  t.same(out.rows, [[70n, 80n]]);
  t.same(out.writes.map((w) => w.values), [[1n, 70n], [2n, 80n]]);
  t.end();
});

t.test('a bank transfer with insufficient funds aborts and writes nothing', (t) => {
  const out: TxnOutcome = run(transfer, [2n, 1n, 51n], bank());
  t.same(out, { status: 'aborted', code: 'P0001', message: 'insufficient funds: balance 50, need 51' });
  t.end();
});

t.test('executeProgram takes the declared key sets it is given, not the program’s', (t) => {
  const program = prog([put(key(lit(1n)), lit(1n))]);
  const declared = { reads: { points: [], ranges: [] }, writes: { points: [], ranges: [encodeRange(T, 0, [0n], true, [2n], false)] } };
  t.equal(executeProgram(program, [], declared, ctx, view()).status, 'committed');
  const nothing = { reads: { points: [], ranges: [] }, writes: { points: [], ranges: [] } };
  t.equal(executeProgram(program, [], nothing, ctx, view()).status, 'aborted');
  t.end();
});

t.test('version(key) is the stored row version, NULL when absent and the own position after an own write', (t) => {
  const ver = (n: bigint): Expr => ({ k: 'version', key: key(lit(n)) });
  const out = committed(run(prog([emit(ver(1n), ver(4n)), put(key(lit(4n)), lit(4n), lit('four')), emit(ver(4n)), del(key(lit(1n))), emit(ver(1n))]), [], view()));
  t.same(out.rows, [[1n, null], [42n], [null]]);
  t.end();
});

t.test('version(key) outside the declared read set is a deterministic abort', (t) => {
  const out = run(prog([emit({ k: 'version', key: key(lit(1n)) })], none, none), [], view());
  t.equal(out.status, 'aborted');
  t.end();
});
