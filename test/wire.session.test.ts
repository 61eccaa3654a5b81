// The session's protocol edges, spoken by a raw pg-protocol client: places where a client used to get
// a wrong answer or wait forever, now answered as PostgreSQL answers them.

import t, { type Test } from 'tap';
import { harness, rawClient, serialize, type RawClient, type RawMessage } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());

const named = (messages: readonly RawMessage[], name: string): RawMessage[] => messages.filter((m) => m.name === name);
const tags = (messages: readonly RawMessage[]): unknown[] => named(messages, 'commandComplete').map((m) => m.text);

async function client(t: Test): Promise<RawClient> {
  const c = await rawClient(h.server.port);
  t.teardown(() => c.socket.destroy());
  return c;
}

async function query(c: RawClient, sql: string): Promise<RawMessage[]> {
  c.send(serialize.query(sql));
  return c.until('readyForQuery');
}

await query(await rawClient(h.server.port), 'CREATE TABLE items (id int PRIMARY KEY, v text)');

t.test('a StartupMessage asking for protocol 3.1 and _pq_ options is answered with NegotiateProtocolVersion', async (t) => {
  const c = await rawClient(h.server.port, null);
  t.teardown(() => c.socket.destroy());
  const body = Buffer.from('user\0postgres\0_pq_.compression\0on\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE((3 << 16) | 1, 4);
  c.send(head, body);
  const login = await c.until('readyForQuery');
  t.match(login[0], { name: 'negotiateProtocolVersion', newestMinor: 0, options: ['_pq_.compression'] });
  t.equal(login[1]?.name, 'authenticationOk');
});

t.test('a Query during COPY FROM STDIN fails the COPY with 08P01 and the client gets ReadyForQuery', async (t) => {
  const c = await client(t);
  c.send(serialize.query('COPY items FROM STDIN'));
  await c.until('copyInResponse');
  c.send(serialize.copyData(Buffer.from('1\tone\n')));
  const answer = await query(c, 'SELECT 1');
  t.match(named(answer, 'error'), [{ code: '08P01', message: /unexpected query message during COPY from stdin/ }]);
  t.same(named(answer, 'dataRow'), [], 'the Query itself was consumed');
  t.same(named(await query(c, 'SELECT count(*) FROM items'), 'dataRow').map((m) => String(m.fields)), ['0']);
});

t.test('Sync and Flush during COPY FROM STDIN are ignored', async (t) => {
  const c = await client(t);
  c.send(serialize.query('COPY items FROM STDIN'));
  await c.until('copyInResponse');
  c.send(serialize.sync(), serialize.flush(), serialize.copyData(Buffer.from('2\ttwo\n')), serialize.copyDone());
  const answer = await c.until('readyForQuery');
  t.same(answer.map((m) => m.name), ['commandComplete', 'readyForQuery']);
  t.same(tags(answer), ['COPY 1']);
});

t.test('after an extended-protocol error, a Query sent before the Sync is discarded', async (t) => {
  const c = await client(t);
  c.send(serialize.parse({ text: 'SELEC 1' }), serialize.query("INSERT INTO items VALUES (3, 'skipped')"), serialize.sync());
  const answer = await c.until('readyForQuery');
  t.same(answer.map((m) => m.name), ['error', 'readyForQuery']);
  t.same(named(await query(c, 'SELECT count(*) FROM items WHERE id = 3'), 'dataRow').map((m) => String(m.fields)), ['0']);
});

t.test('each Execute of a portal run in parts counts its own rows in the command tag', async (t) => {
  const c = await client(t);
  await query(c, "INSERT INTO items VALUES (10, 'a'), (11, 'b'), (12, 'c')");
  c.send(
    serialize.parse({ text: 'SELECT id FROM items WHERE id >= 10 ORDER BY id' }),
    serialize.bind({}),
    serialize.execute({ rows: 2 }),
    serialize.execute({ rows: 2 }),
    serialize.execute({ rows: 2 }),
    serialize.sync(),
  );
  const answer = await c.until('readyForQuery');
  t.same(answer.filter((m) => m.name === 'portalSuspended' || m.name === 'commandComplete').map((m) => m.text ?? m.name), ['portalSuspended', 'SELECT 1', 'SELECT 0']);
  t.equal(named(answer, 'dataRow').length, 3);
});

t.test('TRUNCATE runs through Parse, Bind and Execute', async (t) => {
  const c = await client(t);
  await query(c, 'CREATE TABLE scratch (id int PRIMARY KEY)');
  await query(c, 'INSERT INTO scratch VALUES (1), (2)');
  c.send(serialize.parse({ text: 'TRUNCATE scratch' }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
  const answer = await c.until('readyForQuery');
  t.same(answer.map((m) => m.name), ['parseComplete', 'bindComplete', 'noData', 'commandComplete', 'readyForQuery']);
  t.same(tags(answer), ['TRUNCATE TABLE']);
  t.same(named(await query(c, 'SELECT count(*) FROM scratch'), 'dataRow').map((m) => String(m.fields)), ['0']);
});

t.test('COPY through Parse is 0A000 saying it needs a simple Query', async (t) => {
  const c = await client(t);
  c.send(serialize.parse({ text: 'COPY items TO STDOUT' }), serialize.sync());
  t.match(named(await c.until('readyForQuery'), 'error'), [{ code: '0A000', message: /simple Query message only/ }]);
});

t.test('statement_timeout cancels a statement that runs longer with 57014', async (t) => {
  const c = await client(t);
  await query(c, "SET statement_timeout = '50ms'");
  c.send(serialize.query('COPY items FROM STDIN'));
  await c.until('copyInResponse');
  // Waiting for COPY data that never comes: the statement runs until the timeout ends it.
  t.match(named(await c.until('readyForQuery'), 'error'), [{ code: '57014', message: 'canceling statement due to statement timeout' }]);
  t.same(tags(await query(c, 'SELECT 1')), ['SELECT 1'], 'a quick statement is not affected');
});

t.test('an invalid statement_timeout is 22023 and changes nothing', async (t) => {
  const c = await client(t);
  t.match(named(await query(c, "SET statement_timeout = 'soon'"), 'error'), [{ code: '22023', message: 'invalid value for parameter "statement_timeout": "soon"' }]);
  t.same(named(await query(c, 'SHOW statement_timeout'), 'dataRow').map((m) => String(m.fields)), ['0']);
});
