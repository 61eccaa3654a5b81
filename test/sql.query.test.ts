// The query engine (src/sql/query/) through node-postgres: joins, subqueries, CTEs, grouping, set
// operations, DISTINCT, ORDER BY, with the answers PostgreSQL gives for the same data.

import t from 'tap';
import type { QueryArrayConfig } from 'pg';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string, values?: unknown[]): Promise<unknown[]> => (await c.query(sql, values)).rows;
const arrays = async (sql: string, values?: unknown[]): Promise<unknown[][]> => (await c.query({ text: sql, values, rowMode: 'array' } as QueryArrayConfig)).rows as unknown[][];

await c.query('CREATE TABLE dept (id int PRIMARY KEY, name text NOT NULL)');
await c.query('CREATE TABLE emp (id int PRIMARY KEY, name text, dept_id int, salary numeric(10,2), boss int)');
await c.query("INSERT INTO dept VALUES (1, 'eng'), (2, 'ops'), (3, 'empty')");
await c.query(`INSERT INTO emp VALUES
  (1, 'ann', 1, 100.50, NULL),
  (2, 'bob', 1, 80.00, 1),
  (3, 'cid', 2, 90.25, 1),
  (4, 'dan', NULL, 70.00, 2),
  (5, 'eve', 2, NULL, 3)`);

t.test('INNER JOIN with ON matches rows of both tables', async (t) => {
  t.same(await arrays('SELECT e.name, d.name FROM emp e JOIN dept d ON e.dept_id = d.id ORDER BY e.id'), [
    ['ann', 'eng'],
    ['bob', 'eng'],
    ['cid', 'ops'],
    ['eve', 'ops'],
  ]);
});

t.test('LEFT JOIN keeps unmatched left rows with NULLs', async (t) => {
  t.same(await arrays('SELECT e.name, d.name FROM emp e LEFT JOIN dept d ON e.dept_id = d.id ORDER BY e.id'), [
    ['ann', 'eng'],
    ['bob', 'eng'],
    ['cid', 'ops'],
    ['dan', null],
    ['eve', 'ops'],
  ]);
});

t.test('RIGHT JOIN keeps unmatched right rows', async (t) => {
  t.same(await arrays('SELECT d.name, count(e.id) FROM emp e RIGHT JOIN dept d ON e.dept_id = d.id GROUP BY d.name ORDER BY d.name'), [
    ['empty', '0'],
    ['eng', '2'],
    ['ops', '2'],
  ]);
});

t.test('FULL JOIN keeps unmatched rows of both sides', async (t) => {
  t.same(await arrays('SELECT e.name, d.name FROM emp e FULL JOIN dept d ON e.dept_id = d.id ORDER BY e.name NULLS LAST, d.name'), [
    ['ann', 'eng'],
    ['bob', 'eng'],
    ['cid', 'ops'],
    ['dan', null],
    ['eve', 'ops'],
    [null, 'empty'],
  ]);
});

t.test('CROSS JOIN and comma joins give every pair', async (t) => {
  t.same(await arrays('SELECT count(*) FROM emp CROSS JOIN dept'), [['15']]);
  t.same(await arrays('SELECT count(*) FROM emp, dept WHERE emp.dept_id = dept.id'), [['4']]);
});

t.test('JOIN … USING merges the column: SELECT * lists it once, first', async (t) => {
  await c.query('CREATE TABLE a1 (k int PRIMARY KEY, x text)');
  await c.query('CREATE TABLE b1 (k int PRIMARY KEY, y text)');
  await c.query("INSERT INTO a1 VALUES (1, 'a'), (2, 'b'); INSERT INTO b1 VALUES (2, 'B'), (3, 'C')");
  const r = await c.query('SELECT * FROM a1 JOIN b1 USING (k)');
  t.same(r.fields.map((f) => f.name), ['k', 'x', 'y']);
  t.same(r.rows, [{ k: 2, x: 'b', y: 'B' }]);
  t.same(await arrays('SELECT k, x, y FROM a1 FULL JOIN b1 USING (k) ORDER BY k'), [
    [1, 'a', null],
    [2, 'b', 'B'],
    [3, null, 'C'],
  ]);
  t.same(await arrays('SELECT * FROM a1 NATURAL JOIN b1'), [[2, 'b', 'B']]);
});

t.test('a self join through an alias resolves each side', async (t) => {
  t.same(await arrays('SELECT e.name, b.name AS boss FROM emp e JOIN emp b ON e.boss = b.id ORDER BY e.id'), [
    ['bob', 'ann'],
    ['cid', 'ann'],
    ['dan', 'bob'],
    ['eve', 'cid'],
  ]);
});

t.test('three tables join in one statement', async (t) => {
  t.same(await arrays('SELECT e.name, b.name, d.name FROM emp e JOIN emp b ON e.boss = b.id JOIN dept d ON d.id = b.dept_id WHERE e.id > 2 ORDER BY 1'), [
    ['cid', 'ann', 'eng'],
    ['dan', 'bob', 'eng'],
    ['eve', 'cid', 'ops'],
  ]);
});

t.test('an unqualified column both tables have is ambiguous (42702)', async (t) => {
  t.equal((await failure(c.query('SELECT name FROM emp JOIN dept ON dept_id = dept.id'))).code, '42702');
});

t.test('unknown columns and tables fail with 42703 and 42P01', async (t) => {
  t.equal((await failure(c.query('SELECT e.nope FROM emp e JOIN dept d ON true'))).code, '42703');
  t.equal((await failure(c.query('SELECT * FROM emp JOIN nowhere ON true'))).code, '42P01');
  t.equal((await failure(c.query('SELECT x.id FROM emp JOIN dept ON true'))).code, '42P01');
});

t.test('scalar subqueries, correlated and not', async (t) => {
  t.same(await arrays('SELECT name, (SELECT name FROM dept WHERE dept.id = emp.dept_id) FROM emp ORDER BY id'), [
    ['ann', 'eng'],
    ['bob', 'eng'],
    ['cid', 'ops'],
    ['dan', null],
    ['eve', 'ops'],
  ]);
  t.same(await arrays('SELECT name FROM emp WHERE salary = (SELECT max(salary) FROM emp)'), [['ann']]);
});

t.test('a scalar subquery returning two rows fails with 21000', async (t) => {
  t.equal((await failure(c.query('SELECT (SELECT id FROM dept) FROM emp'))).code, '21000');
});

t.test('IN and NOT IN with a subquery follow SQL NULL semantics', async (t) => {
  t.same(await arrays('SELECT name FROM dept WHERE id IN (SELECT dept_id FROM emp) ORDER BY 1'), [['eng'], ['ops']]);
  // emp.dept_id has a NULL: NOT IN is never true.
  t.same(await arrays('SELECT name FROM dept WHERE id NOT IN (SELECT dept_id FROM emp)'), []);
  t.same(await arrays('SELECT name FROM dept WHERE id NOT IN (SELECT dept_id FROM emp WHERE dept_id IS NOT NULL)'), [['empty']]);
  t.same(await arrays('SELECT 1 IN (SELECT NULL::int), 1 NOT IN (SELECT 2), NULL::int IN (SELECT 1 WHERE false)'), [[null, true, false]]);
});

t.test('EXISTS and NOT EXISTS, correlated', async (t) => {
  t.same(await arrays('SELECT name FROM dept d WHERE EXISTS (SELECT 1 FROM emp e WHERE e.dept_id = d.id) ORDER BY 1'), [['eng'], ['ops']]);
  t.same(await arrays('SELECT name FROM dept d WHERE NOT EXISTS (SELECT 1 FROM emp e WHERE e.dept_id = d.id)'), [['empty']]);
});

t.test('derived tables and CTEs', async (t) => {
  t.same(await arrays('SELECT s.d, s.n FROM (SELECT dept_id AS d, count(*) AS n FROM emp GROUP BY dept_id) s WHERE s.n > 1 ORDER BY s.d'), [
    [1, '2'],
    [2, '2'],
  ]);
  t.same(await arrays('WITH big AS (SELECT * FROM emp WHERE salary > 85) SELECT name FROM big ORDER BY name'), [['ann'], ['cid']]);
  t.same(await arrays('WITH x (a) AS (SELECT 1), y AS (SELECT a + 1 AS b FROM x) SELECT a, b FROM x, y'), [[1, 2]]);
});

t.test('GROUP BY with HAVING and the aggregates', async (t) => {
  t.same(await rows('SELECT dept_id, count(*), sum(salary), avg(salary), min(name), max(name) FROM emp WHERE dept_id IS NOT NULL GROUP BY dept_id HAVING count(*) > 1 ORDER BY dept_id'), [
    { dept_id: 1, count: '2', sum: '180.50', avg: '90.2500000000000000', min: 'ann', max: 'bob' },
    { dept_id: 2, count: '2', sum: '90.25', avg: '90.2500000000000000', min: 'cid', max: 'eve' },
  ]);
});

t.test('count(DISTINCT), string_agg, bool_and, bool_or', async (t) => {
  t.same(await arrays("SELECT count(DISTINCT dept_id), count(dept_id), string_agg(name, ',' ORDER BY name DESC), bool_and(salary > 75), bool_or(salary > 100) FROM emp"), [['2', '4', 'eve,dan,cid,bob,ann', false, true]]);
});

t.test('aggregates over no rows: count is 0, the others NULL', async (t) => {
  t.same(await rows('SELECT count(*), sum(id), max(name) FROM emp WHERE false'), [{ count: '0', sum: null, max: null }]);
  t.same(await rows('SELECT dept_id, count(*) FROM emp WHERE false GROUP BY dept_id'), []);
});

t.test('a column neither grouped nor aggregated fails with 42803', async (t) => {
  const err = await failure(c.query('SELECT name, count(*) FROM emp GROUP BY dept_id'));
  t.equal(err.code, '42803');
  t.match(err.message, /must appear in the GROUP BY clause/);
  t.equal((await failure(c.query('SELECT id FROM emp WHERE count(*) > 1'))).code, '42803');
});

t.test('grouping by the primary key allows the other columns of the table', async (t) => {
  t.same(await arrays('SELECT d.id, d.name, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept_id = d.id GROUP BY d.id ORDER BY d.id'), [
    [1, 'eng', '2'],
    [2, 'ops', '2'],
    [3, 'empty', '0'],
  ]);
});

t.test('DISTINCT and DISTINCT ON', async (t) => {
  t.same(await arrays('SELECT DISTINCT dept_id FROM emp ORDER BY dept_id'), [[1], [2], [null]]);
  t.same(await arrays('SELECT DISTINCT ON (dept_id) dept_id, name FROM emp ORDER BY dept_id, salary DESC NULLS LAST'), [
    [1, 'ann'],
    [2, 'cid'],
    [null, 'dan'],
  ]);
});

t.test('UNION, UNION ALL, INTERSECT, EXCEPT', async (t) => {
  t.same(await arrays('SELECT dept_id FROM emp UNION SELECT id FROM dept ORDER BY 1'), [[1], [2], [3], [null]]);
  t.same(await arrays('SELECT 1 UNION ALL SELECT 1'), [[1], [1]]);
  t.same(await arrays('SELECT id FROM dept INTERSECT SELECT dept_id FROM emp ORDER BY 1'), [[1], [2]]);
  t.same(await arrays('SELECT id FROM dept EXCEPT SELECT dept_id FROM emp'), [[3]]);
  t.same(await arrays('SELECT 1 AS a UNION SELECT 2 ORDER BY a DESC LIMIT 1'), [[2]]);
});

t.test('ORDER BY NULLS FIRST/LAST; ascending puts NULLs last by default', async (t) => {
  t.same(await arrays('SELECT salary FROM emp ORDER BY salary DESC, id LIMIT 2 OFFSET 0'), [[null], ['100.50']]);
  t.same(await arrays('SELECT dept_id FROM emp ORDER BY dept_id NULLS FIRST, id'), [[null], [1], [1], [2], [2]]);
});

t.test('expressions: CASE, COALESCE, NULLIF, GREATEST, LEAST', async (t) => {
  t.same(await arrays("SELECT CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' END, COALESCE(NULL, 2, 3), NULLIF(1, 1), GREATEST(1, NULL, 3), LEAST('b', 'a')"), [['b', 2, null, 3, 'a']]);
});

t.test('result column names and types are PostgreSQL\'s', async (t) => {
  const r = await c.query('SELECT count(*), 1 + 1, avg(id), sum(id), e.name FROM emp e GROUP BY e.name LIMIT 1');
  t.same(r.fields.map((f) => [f.name, f.dataTypeID]), [
    ['count', 20],
    ['?column?', 23],
    ['avg', 1700],
    ['sum', 20],
    ['name', 25],
  ]);
});

t.test('extended protocol parameters bind in joins and subqueries', async (t) => {
  t.same(await arrays('SELECT e.name FROM emp e JOIN dept d ON e.dept_id = d.id WHERE d.name = $1 AND e.salary > $2 ORDER BY 1', ['eng', 90]), [['ann']]);
  t.same(await arrays('SELECT name FROM emp WHERE dept_id IN (SELECT id FROM dept WHERE name = $1) ORDER BY 1', ['ops']), [['cid'], ['eve']]);
});
