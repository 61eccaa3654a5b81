// CancelRequest: BackendKeyData's key, cancelling a statement between rows and a COPY waiting for
// data, a wrong key ignored, and a write that was handed to the sequencer completing anyway.
//
// A statement is kept running by not reading its result: the server streams a long result in
// chunks and waits while the client is behind, so a paused client holds it mid-result for as long
// as the test needs, with no timing involved.

import t from 'tap';
import pg from 'pg';
import type { Socket } from 'node:net';
import { harness, rawClient, sendCancel, serialize, type RawClient, type RawMessage } from './pg.support.js';

const ROWS = 10_000;
/** 2 KB per row: the result (20 MB) is far more than loopback socket buffers hold. */
const PAD = 'x'.repeat(2_000);

const h = await harness();
t.teardown(() => h.close());
const port = h.server.port;

const loader = await rawClient(port);
loader.send(serialize.query('CREATE TABLE big (id int PRIMARY KEY, n int, pad text)'));
await loader.until('readyForQuery');
loader.send(serialize.query('COPY big FROM STDIN'));
await loader.until('copyInResponse');
for (let from = 0; from < ROWS; from += 500) {
  const lines = Array.from({ length: 500 }, (_, i) => `${from + i}\t0\t${PAD}\n`).join('');
  loader.send(serialize.copyData(Buffer.from(lines)));
}
loader.send(serialize.copyDone());
const loaded = await loader.until('readyForQuery');
if (!loaded.some((m) => m.name === 'commandComplete' && m.text === `COPY ${ROWS}`)) throw new Error(`could not load big: ${JSON.stringify(loaded)}`);

const named = (messages: readonly RawMessage[], name: string): RawMessage[] => messages.filter((m) => m.name === name);

/**
 * Sends `sql`, waits for `first` (its result has started), stops reading, sends a CancelRequest with
 * each key and waits until the server closed each cancel connection, reads on: the messages up to
 * ReadyForQuery, and what each cancel connection was answered.
 */
async function cancelMidResult(c: RawClient, sql: string, first: string, keys: readonly (readonly [number, number])[]): Promise<{ rest: RawMessage[]; answers: Buffer[] }> {
  c.send(serialize.query(sql));
  await c.until(first);
  c.socket.pause();
  const answers: Buffer[] = [];
  for (const [processId, secretKey] of keys) answers.push(await sendCancel(port, processId, secretKey));
  c.socket.resume();
  return { rest: await c.until('readyForQuery'), answers };
}

const counter = await h.client();
async function count(sql: string): Promise<string> {
  return String((await counter.query(sql)).rows[0]?.n);
}

t.test('every session gets its own process id and secret in BackendKeyData', async (t) => {
  const a = await rawClient(port);
  const b = await rawClient(port);
  t.not(a.processId, b.processId);
  t.not(a.secretKey, b.secretKey);
  a.socket.destroy();
  b.socket.destroy();
});

t.test('a CancelRequest stops a long SELECT between rows with 57014, and the session keeps working', async (t) => {
  const c = await rawClient(port);
  const { rest, answers } = await cancelMidResult(c, 'SELECT id, pad FROM big', 'rowDescription', [[c.processId, c.secretKey]]);
  t.same(answers.map((a) => a.length), [0], 'the cancel connection is closed without an answer');
  t.ok(named(rest, 'dataRow').length < ROWS, `stopped after ${named(rest, 'dataRow').length} of ${ROWS} rows`);
  t.match(named(rest, 'error'), [{ code: '57014', message: 'canceling statement due to user request', severity: 'ERROR' }]);
  t.same(named(rest, 'commandComplete'), []);
  c.send(serialize.query('SELECT 1 AS one'));
  t.same(named(await c.until('readyForQuery'), 'dataRow').map((m) => String(m.fields)), ['1']);
  c.socket.destroy();
});

t.test('node-postgres client.cancel cancels a streaming SELECT with 57014', async (t) => {
  const client = await h.client();
  const stream = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  const query = new pg.Query('SELECT id, pad FROM big');
  const outcome = new Promise<unknown>((resolve) => {
    query.on('error', resolve);
    query.on('end', () => resolve('completed'));
  });
  client.query(query);
  stream.pause();
  // The first chunk of the result has arrived (and waits unread): the statement is streaming.
  while (stream.readableLength === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  const canceller = new pg.Client({ host: '127.0.0.1', port });
  const internals = canceller as unknown as { connection: { once(event: 'end', f: () => void): void }; cancel(client: pg.Client, query: pg.Query): void };
  const cancelled = new Promise<void>((resolve) => internals.connection.once('end', resolve));
  internals.cancel(client, query);
  await cancelled;
  stream.resume();
  t.match(await outcome, { code: '57014', message: 'canceling statement due to user request' });
  t.same((await client.query('SELECT 1 AS x')).rows, [{ x: 1 }]);
});

t.test('a CancelRequest stops COPY TO STDOUT between rows', async (t) => {
  const c = await rawClient(port);
  const { rest } = await cancelMidResult(c, 'COPY big TO STDOUT', 'copyOutResponse', [[c.processId, c.secretKey]]);
  t.ok(named(rest, 'copyData').length < ROWS);
  t.match(named(rest, 'error'), [{ code: '57014' }]);
  t.same(named(rest, 'copyDone'), [], 'no CopyDone after the error');
  c.socket.destroy();
});

t.test('a CancelRequest with a wrong secret is ignored: the statement completes', async (t) => {
  const c = await rawClient(port);
  const wrongKeys = [
    [c.processId, c.secretKey ^ 1],
    [c.processId + 1_000, c.secretKey],
  ] as const;
  const { rest, answers } = await cancelMidResult(c, 'SELECT id, pad FROM big', 'rowDescription', wrongKeys);
  t.same(answers.map((a) => a.length), [0, 0], 'no answer either');
  t.same(named(rest, 'error'), []);
  t.equal(named(rest, 'dataRow').length, ROWS);
  t.match(named(rest, 'commandComplete'), [{ text: `SELECT ${ROWS}` }]);
  c.socket.destroy();
});

t.test('a cancel that arrives while the session is idle does not touch its next statement', async (t) => {
  const c = await rawClient(port);
  await sendCancel(port, c.processId, c.secretKey);
  c.send(serialize.query('SELECT count(*) AS n FROM big'));
  const r = await c.until('readyForQuery');
  t.same(named(r, 'error'), []);
  t.same(named(r, 'dataRow').map((m) => String(m.fields)), [String(ROWS)]);
  c.socket.destroy();
});

t.test('a COPY FROM STDIN waiting for data is cancelled at once; the batches it loaded stay', async (t) => {
  const c = await rawClient(port);
  c.send(serialize.query('CREATE TABLE loading (id int PRIMARY KEY, v text)'));
  await c.until('readyForQuery');
  c.send(serialize.query('COPY loading FROM STDIN'));
  await c.until('copyInResponse');
  // One full batch of 1,000 rows is loaded as it arrives; the other 500 wait for more data.
  c.send(serialize.copyData(Buffer.from(Array.from({ length: 1_500 }, (_, i) => `${i}\tv\n`).join(''))));
  while ((await count('SELECT count(*) AS n FROM loading')) !== '1000') await new Promise((resolve) => setTimeout(resolve, 5));
  await sendCancel(port, c.processId, c.secretKey);
  const rest = await c.until('readyForQuery');
  t.match(named(rest, 'error'), [{ code: '57014', message: 'canceling statement due to user request' }]);
  // The client's COPY data still in flight is ignored, as after any failed COPY.
  c.send(serialize.copyData(Buffer.from('2000\tlate\n')), serialize.copyDone(), serialize.query('SELECT count(*) AS n FROM loading'));
  const after = await c.until('readyForQuery');
  t.same(named(after, 'dataRow').map((m) => String(m.fields)), ['1000']);
  c.socket.destroy();
});

t.test('a write handed to the sequencer is not cancelled: UPDATE … RETURNING sends every row', async (t) => {
  const c = await rawClient(port);
  const { rest } = await cancelMidResult(c, 'UPDATE big SET n = n + 1 RETURNING id, pad', 'rowDescription', [[c.processId, c.secretKey]]);
  t.same(named(rest, 'error'), []);
  t.equal(named(rest, 'dataRow').length, ROWS);
  t.match(named(rest, 'commandComplete'), [{ text: `UPDATE ${ROWS}` }]);
  t.equal(await count('SELECT count(*) AS n FROM big WHERE n = 1'), String(ROWS));
  c.socket.destroy();
});
