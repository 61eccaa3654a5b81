import t from 'tap';
import { EntryRejectedError, LocalSequencer, TxnKind, type LogEntry, type LogEntryBody, type LogSink, type TxnRequest } from '../src/sequencer/index.js';

const program = { reads: { points: [], ranges: [] }, writes: { points: [], ranges: [] }, body: [] };
const txn = (id: string): TxnRequest => ({ txnId: id, user: 'test', kind: TxnKind.readWrite, program, params: [], sql: '' });

/** A log sink that records what it is given; the test may make its next append fail. */
class ManualSink implements LogSink {
  lastPosition = 0;
  readonly appended: LogEntryBody[] = [];
  failNext: Error | undefined;
  /** Fails the next append after `apply` ran, as a commit that fails would. */
  failNextCommit: Error | undefined;
  appendAndApply(body: LogEntryBody, apply: (entry: LogEntry) => void): Promise<number> {
    const failure = this.failNext;
    this.failNext = undefined;
    // The contract: an entry that cannot be recorded throws at once; a failing log rejects.
    if (failure instanceof EntryRejectedError) throw failure;
    if (failure !== undefined) return Promise.reject(failure);
    const position = this.lastPosition + 1;
    apply(body.kind === 'batch' ? { position, kind: 'batch', batch: body.batch } : { position, kind: 'control', timestampMs: body.timestampMs, control: body.control });
    const commitFailure = this.failNextCommit;
    this.failNextCommit = undefined;
    if (commitFailure !== undefined) return Promise.reject(commitFailure);
    this.appended.push(body);
    this.lastPosition = position;
    return Promise.resolve(position);
  }
}

function sequencer(sink: LogSink, delivered: LogEntry[], options: Partial<{ epochMs: number; maxBatchTxns: number; maxPendingTxns: number }> = {}) {
  return new LocalSequencer(sink, {
    epochMs: options.epochMs ?? 5,
    maxBatchTxns: options.maxBatchTxns ?? 100,
    maxPendingTxns: options.maxPendingTxns ?? 1000,
    apply: (e) => e,
    onDurable: (e) => delivered.push(e),
    nowMs: () => 1_700_000_000_000,
  });
}

t.test('transactions submitted within one epoch share one batch and one position', async (t) => {
  const sink = new ManualSink();
  const delivered: LogEntry[] = [];
  const seq = sequencer(sink, delivered);
  const a = seq.submit(txn('a'));
  const b = seq.submit(txn('b'));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(sink.appended.length, 1);
  t.same(await Promise.all([a, b]), [1, 1]);
  const entry = delivered[0];
  t.equal(entry?.kind, 'batch');
  if (entry?.kind === 'batch') t.same(entry.batch.txns.map((x) => x.txnId), ['a', 'b']);
  t.equal(entry?.kind === 'batch' ? entry.batch.timestampMs : 0, 1_700_000_000_000);
});

t.test('with a 0 ms epoch a batch closes as soon as the event loop has taken in what arrived', async (t) => {
  const sink = new ManualSink();
  const seq = sequencer(sink, [], { epochMs: 0 });
  const a = seq.submit(txn('a'));
  const b = seq.submit(txn('b'));
  t.equal(sink.appended.length, 0, 'not inside the submitting call');
  await new Promise((r) => setImmediate(r));
  t.equal(sink.appended.length, 1, 'one batch for what arrived in the same turn, with no timer wait');
  t.same(await Promise.all([a, b]), [1, 1]);
  const c = seq.submit(txn('c'));
  t.equal(await c, 2, 'the next arrival gets the next batch');
});

t.test('a full batch closes before its epoch ends', async (t) => {
  const sink = new ManualSink();
  const seq = sequencer(sink, [], { epochMs: 60_000, maxBatchTxns: 2 });
  void seq.submit(txn('a'));
  void seq.submit(txn('b'));
  t.equal(sink.appended.length, 1, 'closed at once, without waiting a minute');
  void seq.submit(txn('c'));
  t.equal(sink.appended.length, 1, 'the third opens the next batch');
  await seq.close();
  t.equal(sink.appended.length, 2, 'closing sequences the open batch');
});

t.test('an entry is applied before its submitters hear of it, in position order', async (t) => {
  const sink = new ManualSink();
  const delivered: LogEntry[] = [];
  const seq = sequencer(sink, delivered, { maxBatchTxns: 1 });
  const first = seq.submit(txn('a')).then((p) => ({ position: p, appliedThen: delivered.length }));
  const second = seq.submit(txn('b')).then((p) => ({ position: p, appliedThen: delivered.length }));
  const heard = await Promise.all([first, second]);
  t.same(heard.map((h) => h.position), [1, 2]);
  t.ok(heard.every((h) => h.appliedThen >= h.position), 'each submitter hears only after its entry was delivered');
  t.same(delivered.map((e) => e.position), [1, 2]);
});

t.test('a failed append fails its transactions and every later submission', async (t) => {
  const sink = new ManualSink();
  const seq = sequencer(sink, [], { maxBatchTxns: 1 });
  sink.failNext = new Error('disk full');
  const first = seq.submit(txn('a'));
  await t.rejects(first, /disk full/);
  await t.rejects(seq.submit(txn('b')), /the input log failed: disk full/);
});

t.test('an entry whose commit fails is never reported: its submitters get the failure', async (t) => {
  const sink = new ManualSink();
  const applied: LogEntry[] = [];
  const durable: LogEntry[] = [];
  const seq = new LocalSequencer(sink, {
    epochMs: 5,
    maxBatchTxns: 1,
    maxPendingTxns: 10,
    apply: (e) => applied.push(e),
    onDurable: (_, e) => durable.push(e),
  });
  sink.failNextCommit = new Error('I/O error at commit');
  await t.rejects(seq.submit(txn('a')), /the input log failed: I\/O error at commit/);
  t.equal(applied.length, 1, 'the entry was applied inside its transaction');
  t.equal(durable.length, 0, 'but nobody heard of it');
});

t.test('submissions beyond the pending bound are refused with SQLSTATE 53000', async (t) => {
  const sink = new ManualSink();
  const seq = sequencer(sink, [], { maxPendingTxns: 2, epochMs: 60_000 });
  void seq.submit(txn('a'));
  void seq.submit(txn('b'));
  await t.rejects(seq.submit(txn('c')), { code: '53000' });
  await seq.close();
});

t.test('batch timestamps never go backwards when the clock does', async (t) => {
  const sink = new ManualSink();
  const delivered: LogEntry[] = [];
  const clock = [2000, 1000];
  const seq = new LocalSequencer(sink, {
    epochMs: 1,
    maxBatchTxns: 1,
    maxPendingTxns: 10,
    apply: (e) => e,
    onDurable: (e) => delivered.push(e),
    nowMs: () => clock.shift() ?? 0,
  });
  const a = seq.submit(txn('a'));
  const b = seq.submit(txn('b'));
  await Promise.all([a, b]);
  t.same(delivered.map((e) => (e.kind === 'batch' ? e.batch.timestampMs : -1)), [2000, 2000]);
});

t.test('a closed sequencer refuses new transactions', async (t) => {
  const seq = sequencer(new ManualSink(), []);
  await seq.close();
  await t.rejects(seq.submit(txn('a')), { code: '57P01' });
});

t.test('an entry the log rejects fails only its own transactions; the next batch is sequenced', async (t) => {
  const sink = new ManualSink();
  const seq = sequencer(sink, [], { maxBatchTxns: 1 });
  sink.failNext = new EntryRejectedError('does not encode');
  const bad = seq.submit(txn('bad'));
  await t.rejects(bad, /does not encode/);
  const good = seq.submit(txn('good'));
  t.equal(await good, 1);
});
