// Statements node-postgres users write that used to get a wrong answer, each now answered as
// PostgreSQL does or refused with 0A000 naming what is missing.

import t from 'tap';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows;

await c.query('CREATE TABLE n (id int PRIMARY KEY)');
await c.query('INSERT INTO n SELECT * FROM generate_series(1, 5)');

t.test('OFFSET alone skips rows (it was read as LIMIT)', async (t) => {
  t.same(await rows('SELECT id FROM n ORDER BY id OFFSET 3'), [{ id: 4 }, { id: 5 }]);
});

t.test('OFFSET before LIMIT is refused with 0A000 (the parser drops the LIMIT)', async (t) => {
  const err = await failure(c.query('SELECT id FROM n ORDER BY id OFFSET 1 LIMIT 2'));
  t.equal(err.code, '0A000');
  t.match(err.message, /OFFSET before LIMIT/);
  t.same(await rows('SELECT id FROM n ORDER BY id LIMIT 2 OFFSET 1'), [{ id: 2 }, { id: 3 }]);
});

t.test('subqueries in a statement that writes are refused with 0A000 naming them', async (t) => {
  for (const sql of ['DELETE FROM n WHERE id IN (SELECT id FROM n)', 'DELETE FROM n WHERE id = (SELECT 1)', 'DELETE FROM n WHERE EXISTS (SELECT 1)']) {
    const err = await failure(c.query(sql));
    t.equal(err.code, '0A000', sql);
    t.match(err.message, /subquer/, sql);
  }
});

t.test('a string DEFAULT with a doubled quote stores one quote', async (t) => {
  await c.query("CREATE TABLE q1 (id int PRIMARY KEY, s text DEFAULT 'it''s')");
  await c.query('INSERT INTO q1 (id) VALUES (1)');
  t.same(await rows('SELECT s FROM q1'), [{ s: "it's" }]);
});

t.test('a string literal with a doubled quote beside a parameter compares as one quote', async (t) => {
  await c.query("CREATE TABLE q2 (id int PRIMARY KEY, s text); INSERT INTO q2 VALUES (1, 'o''k')");
  t.same((await c.query({ text: "SELECT id FROM q2 WHERE id = $1 AND s = 'o''k'", values: [1] })).rows, [{ id: 1 }]);
});

t.test('INSERT without a column list may give fewer values: the rest take their defaults', async (t) => {
  await c.query('CREATE TABLE d (id int PRIMARY KEY, a text DEFAULT \'x\', b int)');
  await c.query('INSERT INTO d VALUES (1)');
  t.same(await rows('SELECT id, a, b FROM d'), [{ id: 1, a: 'x', b: null }]);
  t.equal((await failure(c.query('INSERT INTO d VALUES (2), (3, \'y\')'))).code, '42601');
});
