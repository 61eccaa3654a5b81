// Interactive transactions (ADR 0004): one statement per round trip, snapshot reads, buffered writes,
// validation of what the client observed and re-execution of the writes at COMMIT.

import t from 'tap';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());

const setup = await h.client();
await setup.query('CREATE TABLE acct (id int PRIMARY KEY, n bigint NOT NULL)');
await setup.query('INSERT INTO acct VALUES (1, 0), (2, 0), (3, 0), (7, 100)');
await setup.query('CREATE TABLE hist (id int, delta int)');

const value = async (id: number): Promise<string> => ((await setup.query(`SELECT n FROM acct WHERE id = ${id}`)).rows[0] as { n: string }).n;

t.test('reads inside a transaction see its own buffered writes, and other sessions see nothing until COMMIT', async (t) => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query('UPDATE acct SET n = n + 5 WHERE id = 1');
  t.same((await c.query('SELECT n FROM acct WHERE id = 1')).rows, [{ n: '5' }]);
  t.equal(await value(1), '0', 'not visible outside before COMMIT');
  t.equal((await c.query('COMMIT')).command, 'COMMIT');
  t.equal(await value(1), '5');
});

t.test('ROLLBACK discards the buffered writes', async (t) => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query('UPDATE acct SET n = 999 WHERE id = 2');
  await c.query('INSERT INTO hist VALUES (1, 1)');
  await c.query('ROLLBACK');
  t.equal(await value(2), '0');
  t.same((await setup.query('SELECT count(*) AS c FROM hist')).rows, [{ c: '0' }]);
});

t.test('an UPDATE seen only as a row count is re-executed at COMMIT on the current value, not the value seen', async (t) => {
  const a = await h.client();
  await a.query('BEGIN');
  t.equal((await a.query('UPDATE acct SET n = n + 1 WHERE id = 7')).rowCount, 1);
  await setup.query('UPDATE acct SET n = n + 10 WHERE id = 7');
  await a.query('COMMIT');
  t.equal(await value(7), '111', 'both increments applied');
});

t.test('two interleaved transactions that read and write the same row: exactly one commits, the other gets 40001', async (t) => {
  const a = await h.client();
  const b = await h.client();
  await a.query('BEGIN');
  await b.query('BEGIN');
  const na = BigInt(((await a.query('SELECT n FROM acct WHERE id = 3')).rows[0] as { n: string }).n);
  const nb = BigInt(((await b.query('SELECT n FROM acct WHERE id = 3')).rows[0] as { n: string }).n);
  await a.query(`UPDATE acct SET n = ${na + 1n} WHERE id = 3`);
  await b.query(`UPDATE acct SET n = ${nb + 1n} WHERE id = 3`);
  await a.query('COMMIT');
  const err = await failure(b.query('COMMIT'));
  t.equal(err.code, '40001');
  t.equal(await value(3), '1', 'only the first increment took effect');
  t.same((await b.query('SELECT 1 AS ok')).rows, [{ ok: 1 }], 'the loser can go on');
});

t.test('a change to whether a row exists conflicts with an UPDATE told it affected that row', async (t) => {
  await setup.query('INSERT INTO acct VALUES (40, 0)');
  const a = await h.client();
  await a.query('BEGIN');
  t.equal((await a.query('UPDATE acct SET n = n + 1 WHERE id = 40')).rowCount, 1);
  await setup.query('DELETE FROM acct WHERE id = 40');
  t.equal((await failure(a.query('COMMIT'))).code, '40001');
  t.same((await setup.query('SELECT count(*) AS c FROM acct WHERE id = 40')).rows, [{ c: '0' }], 'the update did not resurrect the row');
});

t.test('an error inside a transaction fails it with 25P02 until ROLLBACK, and nothing it did commits', async (t) => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query('UPDATE acct SET n = 500 WHERE id = 2');
  t.equal((await failure(c.query('SELECT nope FROM acct'))).code, '42703');
  t.equal((await failure(c.query('SELECT 1'))).code, '25P02');
  t.equal((await c.query('COMMIT')).command, 'ROLLBACK', 'COMMIT of a failed transaction rolls back');
  t.equal(await value(2), '0');
});

t.test('a read-only transaction whose range read changed before COMMIT fails with 40001', async (t) => {
  const c = await h.client();
  await c.query('BEGIN');
  const before = (await c.query('SELECT count(*) AS c FROM acct')).rows;
  await setup.query('INSERT INTO acct VALUES (50, 0)');
  t.same((await c.query('SELECT count(*) AS c FROM acct')).rows, [{ c: String(Number((before[0] as { c: string }).c) + 1) }], 'reads see the committed state');
  await c.query('INSERT INTO hist VALUES (9, 9)');
  t.equal((await failure(c.query('COMMIT'))).code, '40001');
  t.same((await setup.query('SELECT count(*) AS c FROM hist WHERE id = 9')).rows, [{ c: '0' }]);
});

t.test('prepared statements with parameters run inside an interactive transaction', async (t) => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query('UPDATE acct SET n = n + $1 WHERE id = $2', [3, 1]);
  t.same((await c.query('SELECT n FROM acct WHERE id = $1', [1])).rows, [{ n: '8' }]);
  await c.query('INSERT INTO hist VALUES ($1, $2), ($1, $2)', [5, 3]);
  await c.query('INSERT INTO hist VALUES ($1, $2)', [5, 3]);
  await c.query('COMMIT');
  t.equal(await value(1), '8');
  t.same((await setup.query('SELECT count(*) AS c, sum(delta) AS s FROM hist WHERE id = 5')).rows, [{ c: '3', s: '9' }]);
});

t.test('ReadyForQuery reports the block: T inside, E after an error, I after ROLLBACK', async (t) => {
  const c = await h.client();
  const status = (): string | null => (c as unknown as { getTransactionStatus(): string | null }).getTransactionStatus();
  await c.query('BEGIN');
  t.equal(status(), 'T');
  await failure(c.query('SELECT nope FROM acct'));
  t.equal(status(), 'E');
  await c.query('ROLLBACK');
  t.equal(status(), 'I');
});
