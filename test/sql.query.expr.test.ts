// Expressions in the query engine with PostgreSQL's semantics: arithmetic, NULL logic, strings,
// dates and intervals, jsonb, and the SQLSTATEs of their errors.

import t from 'tap';
import type { QueryArrayConfig } from 'pg';
import { failure, harness } from './pg.support.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const one = async (sql: string, values?: unknown[]): Promise<unknown[]> => ((await c.query({ text: sql, values, rowMode: 'array' } as QueryArrayConfig)).rows as unknown[][])[0] ?? [];

t.test('integer division truncates; numeric keeps precision', async (t) => {
  t.same(await one('SELECT 7 / 2, -7 / 2, 7 % 3, -7 % 3, 7.0 / 2, 1.5 * 2.25, 10::numeric / 3'), [3, -3, 1, -1, '3.5000000000000000', '3.375', '3.3333333333333333']);
});

t.test('division by zero is 22012 for integers, numeric and float', async (t) => {
  for (const sql of ['SELECT 1 / 0', 'SELECT 1.0 / 0', 'SELECT 1::float8 / 0']) t.equal((await failure(c.query(sql))).code, '22012', sql);
});

t.test('integer overflow is 22003', async (t) => {
  t.equal((await failure(c.query('SELECT 2147483647 + 1'))).code, '22003');
});

t.test('math functions', async (t) => {
  t.same(await one('SELECT abs(-3), abs(-2.5), round(2.5), round(-2.5), round(2.567, 2), round(1234.5, -2), floor(-1.5), ceil(1.2), ceil(1), mod(10, 3), power(2, 10), power(2.0, 3)'), [
    3, '2.5', '3', '-3', '2.57', '1200', '-2', '2', 1, 1, 1024, '8.0000000000000000',
  ]);
});

t.test('string functions and ||', async (t) => {
  t.same(
    await one("SELECT lower('ÀBC'), upper('abc'), length('héllo'), substring('hello' from 2 for 3), substring('hello', 2), position('l' in 'hello'), trim('  x  '), trim(both 'x' from 'xxaxx'), trim(leading 'x' from 'xxa'), replace('abcabc', 'b', 'X'), concat('a', NULL, 1), 'a' || 'b' || 1, 'a' || NULL"),
    ['àbc', 'ABC', 5, 'ell', 'ello', 3, 'x', 'a', 'a', 'aXcaXc', 'a1', 'ab1', null],
  );
});

t.test('LIKE, ILIKE and NULL', async (t) => {
  t.same(await one("SELECT 'abc' LIKE 'a%', 'abc' LIKE 'A%', 'abc' ILIKE 'A%', 'a_c' LIKE 'a\\_c', 'abc' NOT LIKE '%z%', NULL LIKE 'a'"), [true, false, true, true, true, null]);
});

t.test('BETWEEN and IN lists with three-valued logic', async (t) => {
  t.same(await one('SELECT 5 BETWEEN 1 AND 10, 5 NOT BETWEEN 1 AND 4, 3 IN (1, 2, 3), 3 IN (1, NULL), 3 NOT IN (1, NULL), NULL IN (1)'), [true, true, true, null, null, null]);
});

t.test('IS [NOT] DISTINCT FROM treats NULLs as equal', async (t) => {
  const r = await c.query({ text: 'SELECT 1 IS DISTINCT FROM NULL, NULL IS DISTINCT FROM NULL, 1 IS NOT DISTINCT FROM 1, NULL IS NOT DISTINCT FROM NULL', rowMode: 'array' } as QueryArrayConfig);
  t.same(r.rows[0], [true, false, true, true]);
  t.same(r.fields.map((f) => f.name), ['?column?', '?column?', '?column?', '?column?']);
});

t.test('AND / OR / NOT with NULL', async (t) => {
  t.same(await one('SELECT true AND NULL, false AND NULL, true OR NULL, false OR NULL, NOT NULL::bool'), [null, false, true, null, null]);
});

t.test('CAST and ::', async (t) => {
  const r = await c.query({ text: "SELECT CAST('42' AS int), 42::text, 3.7::int, '2024-02-29'::date + 1, 'true'::bool, 1::bool", rowMode: 'array' } as QueryArrayConfig);
  t.same(r.rows[0], [42, '42', 4, new Date('2024-03-01T00:00:00'), true, true]);
  t.same(r.fields.map((f) => f.name), ['int4', 'text', 'int4', '?column?', 'bool', 'bool']);
});

t.test('CASE, COALESCE, NULLIF, GREATEST, LEAST', async (t) => {
  t.same(await one("SELECT CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' END, CASE 3 WHEN 1 THEN 'one' ELSE 'other' END, greatest(1, 2.5), least(3, 1, 2), coalesce(NULL, 'a'), nullif('a', 'b')"), ['b', 'other', '2.5', 1, 'a', 'a']);
});

t.test('text compares by code point', async (t) => {
  t.same(await one("SELECT 'b' > 'a', 'B' < 'a', 'é' > 'z'"), [true, true, true]);
});

t.test('interval arithmetic on timestamps and dates', async (t) => {
  const r = await one("SELECT timestamp '2024-01-31 10:00' + interval '1 month', date '2024-03-01' - date '2024-02-01', timestamp '2024-01-02 12:00' - timestamp '2024-01-01 10:30', date '2024-01-01' + interval '36 hours'");
  t.same(r, [new Date('2024-02-29T10:00:00'), 29, '1 day 01:30:00', new Date('2024-01-02T12:00:00')]);
});

t.test('interval output is PostgreSQL\'s', async (t) => {
  t.same(await one("SELECT interval '1 day 2 hours', interval '90 minutes', interval '-1 day', interval '1 year 2 months', interval '0 seconds'"), ['1 day 02:00:00', '01:30:00', '-1 days', '1 year 2 mons', '00:00:00']);
});

t.test('date_trunc, extract and date_part', async (t) => {
  t.same(await one("SELECT date_trunc('month', timestamp '2024-05-17 13:45:10'), extract(year from timestamp '2024-05-17 13:45:10'), extract(dow from date '2024-05-17'), extract(epoch from timestamp '1970-01-02 00:00:00'), date_part('hour', timestamp '2024-05-17 13:45:10')"), [
    new Date('2024-05-01T00:00:00'),
    '2024',
    '5',
    '86400.000000',
    13,
  ]);
});

t.test('jsonb ->, ->>, @> and jsonb_build_object', async (t) => {
  t.same(await one(`SELECT '{"a": {"b": [1, 2]}, "c": "x"}'::jsonb -> 'a', '{"a": {"b": [1, 2]}, "c": "x"}'::jsonb ->> 'c', '{"a": 1, "b": 2}'::jsonb @> '{"a": 1}', '[1,2,3]'::jsonb -> 1, jsonb_build_object('k', 1, 'b', true, 'n', NULL, 's', 'str')`), [
    '{"b": [1, 2]}',
    'x',
    true,
    '2',
    '{"b": true, "k": 1, "n": null, "s": "str"}',
  ]);
});

t.test('parameters take the type their use gives them', async (t) => {
  t.same(await one('SELECT $1::int + 1, $2 || \'x\'', [41, 'a']), [42, 'ax']);
});

t.test('an unknown function is 42883', async (t) => {
  t.equal((await failure(c.query('SELECT no_such_fn(1)'))).code, '42883');
});

t.test('what the engine does not support fails with 0A000 naming it', async (t) => {
  const err = await failure(c.query('SELECT x FROM (VALUES (1)) v(x)'));
  t.equal(err.code, '0A000');
  t.equal((await failure(c.query('WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r'))).code, '0A000');
});
