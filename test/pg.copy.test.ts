// COPY FROM STDIN / TO STDOUT (text and csv), TRUNCATE, and storage parameters, through psql.

import t from 'tap';
import { harness, runProgram } from './pg.support.js';
import { CopyLimits } from '../src/sql/copy.js';

const PSQL = '/usr/bin/psql';
const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

/** Runs psql -c `sql` with `input` on stdin. */
function psql(sql: string, input = ''): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(h.server.port), '-U', 'postgres', 'postgres', '-c', sql];
  return runProgram(PSQL, args, input, { ...process.env, PGCONNECT_TIMEOUT: '10' });
}

await c.query('CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), note varchar(20)) WITH (fillfactor = 90)');

t.test('COPY FROM STDIN in text format loads rows with NULLs and escapes', async (t) => {
  const r = await psql('COPY items FROM STDIN', '1\tapple\t1.50\t\\N\n2\tback\\\\slash\t2.00\ttab\\there\n');
  t.equal(r.code, 0, r.stderr);
  t.same((await c.query('SELECT id, name, price, note FROM items ORDER BY id')).rows, [
    { id: 1, name: 'apple', price: '1.50', note: null },
    { id: 2, name: 'back\\slash', price: '2.00', note: 'tab\there' },
  ]);
});

t.test('COPY FROM STDIN in csv format with a header and quoted fields loads rows', async (t) => {
  const r = await psql('COPY items (id, name, price) FROM STDIN WITH (FORMAT csv, HEADER true)', 'id,name,price\n3,"pear, green",3.25\n4,,4\n');
  t.equal(r.code, 0, r.stderr);
  t.same((await c.query('SELECT id, name, price FROM items WHERE id >= 3 ORDER BY id')).rows, [
    { id: 3, name: 'pear, green', price: '3.25' },
    { id: 4, name: null, price: '4.00' },
  ]);
});

t.test('COPY TO STDOUT writes text and csv that COPY FROM reads back', async (t) => {
  const text = await psql('COPY items TO STDOUT');
  t.equal(text.code, 0, text.stderr);
  t.equal(text.stdout.split('\n')[1], '2\tback\\\\slash\t2.00\ttab\\there');
  const csv = await psql('COPY items (id, name) TO STDOUT (FORMAT csv)');
  t.equal(csv.stdout, '1,apple\n2,back\\slash\n3,"pear, green"\n4,\n');
});

t.test('a COPY with a bad row fails, loads nothing of that batch and leaves the session usable', async (t) => {
  const r = await psql('COPY items FROM STDIN', '10\tx\tnot-a-number\t\\N\n');
  t.not(r.code, 0);
  t.match(r.stderr, /ERROR/);
  t.same((await c.query('SELECT count(*) AS n FROM items WHERE id = 10')).rows, [{ n: '0' }]);
});

t.test('a COPY larger than one batch streams in batches and loads every row', async (t) => {
  await c.query('CREATE TABLE big (k int, v text)');
  const n = CopyLimits.rowsPerBatch * 2 + 17;
  const lines = Array.from({ length: n }, (_, i) => `${i}\tv${i}\n`).join('');
  const r = await psql('COPY big FROM STDIN', lines);
  t.equal(r.code, 0, r.stderr);
  t.same((await c.query('SELECT count(*) AS n, sum(k) AS s FROM big')).rows, [{ n: String(n), s: String((n * (n - 1)) / 2) }]);
});

t.test('TRUNCATE empties several tables at once', async (t) => {
  await c.query('TRUNCATE TABLE items, big');
  t.same((await c.query('SELECT count(*) AS n FROM items')).rows, [{ n: '0' }]);
  t.same((await c.query('SELECT count(*) AS n FROM big')).rows, [{ n: '0' }]);
});

t.test('VACUUM and ANALYZE are accepted and do nothing', async (t) => {
  t.equal((await c.query('VACUUM ANALYZE items')).command, 'VACUUM');
  t.equal((await c.query('ANALYZE items')).command, 'ANALYZE');
});
