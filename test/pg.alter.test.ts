// ALTER TABLE … ADD PRIMARY KEY over node-postgres: the rows are re-keyed at the entry's log position,
// failures change nothing, plans compiled for the old key layout never write by it, and replay of a
// log holding the ALTER reproduces the state checksum.

import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { openNode } from '../src/node/index.js';
import { encodeKey, encodeRange } from '../src/partitions/index.js';
import { SqlEngine, startPgServer } from '../src/sql/index.js';
import { compiledItem, failure, harness } from './pg.support.js';
import { scratchDir } from './helpers.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const tableOf = (name: string): { id: number; primaryKey: readonly number[]; rekeyedAt?: number } => {
  const table = h.node.catalog().tables.find((x) => x.name === name);
  if (table === undefined) throw new Error(`no table ${name}`);
  return table;
};

/** Every stored row of a table's primary index: its key parts' count tells the layout apart. */
function storedRows(name: string): { keyBytes: string; values: readonly unknown[] }[] {
  const { id } = tableOf(name);
  const out: { keyBytes: string; values: readonly unknown[] }[] = [];
  for (const { key, row } of h.node.partitionStore.scan(encodeRange(id, 0, [], true, null, false), false, 1_000_000)) {
    out.push({ keyBytes: Buffer.from(key).toString('hex'), values: row.values });
  }
  return out;
}

const count = async (table: string): Promise<number> => Number(((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0] as { n: string }).n);

t.test('ADD PRIMARY KEY re-keys the rows by the key columns; prepared statements of before the ALTER keep working', async (t) => {
  await c.query('CREATE TABLE acct (id int, owner text, bal int)');
  await c.query("INSERT INTO acct VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30)");
  // Prepared (extended protocol, named) before the ALTER, so the session holds plans for hidden row ids.
  const ins = { name: 'ins', text: 'INSERT INTO acct VALUES ($1, $2, $3)' };
  const upd = { name: 'upd', text: 'UPDATE acct SET bal = bal + $2 WHERE id = $1' };
  await c.query({ ...ins, values: [4, 'd', 40] });
  t.equal((await c.query({ ...upd, values: [4, 1] })).rowCount, 1);
  t.equal(storedRows('acct')[0]?.values.length, 5, 'before: two hidden row id columns');

  const r = await c.query('ALTER TABLE acct ADD PRIMARY KEY (id)');
  t.equal(r.command, 'ALTER');
  t.same(tableOf('acct').primaryKey, [0]);
  const rows = storedRows('acct');
  t.equal(rows.length, 4);
  t.ok(rows.every((x) => x.values.length === 3), 'after: no hidden columns');
  t.equal(rows[1]?.keyBytes, encodeKey(tableOf('acct').id, 0, [2n]).toString('hex'), 'keyed by id, in id order');
  t.same(h.node.partitionStore.get(encodeKey(tableOf('acct').id, 0, [3n]))?.values, [3n, 'c', 30n], 'a point read by the key finds the row');

  // The named statements re-plan against the new catalog version.
  await c.query({ ...ins, values: [5, 'e', 50] });
  t.match(await failure(c.query({ ...ins, values: [5, 'e', 50] })), { code: '23505' }, 'the key is enforced');
  t.equal((await c.query({ ...upd, values: [2, 5] })).rowCount, 1, 'an UPDATE by key works');
  t.same((await c.query('SELECT id, bal FROM acct WHERE id = 2')).rows, [{ id: 2, bal: 25 }]);
  t.same((await c.query('SELECT id, owner, bal FROM acct ORDER BY id')).rows.map((x: { id: number }) => x.id), [1, 2, 3, 4, 5]);
  t.ok(storedRows('acct').every((x) => x.values.length === 3), 'no old-layout row was written');
  t.match(await failure(c.query('ALTER TABLE acct ADD PRIMARY KEY (owner)')), { code: '42P16', message: 'multiple primary keys for table "acct" are not allowed' });
  t.match(await failure(c.query('ALTER TABLE nosuch ADD PRIMARY KEY (id)')), { code: '42P01' });
});

t.test('duplicate key values: 23505 naming the key, and nothing changes', async (t) => {
  await c.query('CREATE TABLE dup (k int, v text)');
  await c.query("INSERT INTO dup VALUES (1, 'x'), (2, 'y'), (1, 'z')");
  const version = h.node.catalogVersion;
  const before = storedRows('dup');
  const err = (await failure(c.query('ALTER TABLE dup ADD PRIMARY KEY (k)'))) as { code?: string; message: string; detail?: string };
  t.equal(err.code, '23505');
  t.equal(err.message, 'could not create unique index "dup_pkey"');
  t.equal(err.detail, 'Key (k)=(1) is duplicated.');
  t.equal(h.node.catalogVersion, version, 'the catalog did not change');
  t.same(tableOf('dup').primaryKey, []);
  t.same(storedRows('dup'), before, 'the rows did not change');
  // A composite key without duplicates goes through.
  await c.query('ALTER TABLE dup ADD CONSTRAINT dup_pkey PRIMARY KEY (k, v)');
  t.same(tableOf('dup').primaryKey, [0, 1]);
  t.equal(await count('dup'), 3);
});

t.test('a NULL in a key column: 23502, and nothing changes', async (t) => {
  await c.query('CREATE TABLE nul (k int, v text)');
  await c.query("INSERT INTO nul VALUES (1, 'x'), (NULL, 'y')");
  const before = storedRows('nul');
  t.match(await failure(c.query('ALTER TABLE nul ADD PRIMARY KEY (k)')), { code: '23502', message: 'column "k" of relation "nul" contains null values' });
  t.same(storedRows('nul'), before);
  t.same(tableOf('nul').primaryKey, []);
  t.match(await failure(c.query('ALTER TABLE nul ADD PRIMARY KEY (nope)')), { code: '42703' });
  t.match(await failure(c.query('ALTER TABLE nul ALTER COLUMN v TYPE varchar(3)')), { code: '0A000' });
});

t.test('a program compiled before the ALTER and run after it aborts with 40001 and writes nothing', async (t) => {
  await c.query('CREATE TABLE race (id int, n int)');
  await c.query('INSERT INTO race VALUES (1, 0)');
  const engine = new SqlEngine(h.node);
  const item = (sql: string): ReturnType<typeof compiledItem> => compiledItem(engine, sql);
  // Compiled now, submitted after the ALTER: what happens when the ALTER is sequenced in between.
  const staleInsert = item('INSERT INTO race VALUES (2, 0)');
  const staleUpdate = item('UPDATE race SET n = n + 1');
  await c.query('ALTER TABLE race ADD PRIMARY KEY (id)');
  await t.rejects(engine.runTransaction([staleInsert], 'postgres'), { code: '40001', message: /relation "race" was altered after this statement was planned/ });
  await t.rejects(engine.runTransaction([staleUpdate], 'postgres'), { code: '40001' });
  t.same(storedRows('race').map((r) => r.values), [[1n, 0n]], 'no old-layout row, no update');
  // Re-planned (the catalog version moved), the same statements work.
  await engine.runTransaction([item('INSERT INTO race VALUES (2, 0)')], 'postgres');
  await engine.runTransaction([item('UPDATE race SET n = n + 1')], 'postgres');
  t.same(storedRows('race').map((r) => r.values), [[1n, 1n], [2n, 1n]]);
});

t.test('ordo replay of a log with an ADD PRIMARY KEY reproduces the state checksum', async (t) => {
  const dataDir = scratchDir('ordo-alter-');
  const node = openNode({ dataDir, epochMs: 1, checksumEveryPositions: 2 });
  const server = await startPgServer({ node, port: 0 });
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  await client.query('CREATE TABLE r (a int, b text)');
  await client.query("INSERT INTO r VALUES (2, 'two'), (1, 'one'), (3, 'three')");
  await t.rejects(client.query("INSERT INTO r VALUES (1, 'again'); ALTER TABLE r ADD PRIMARY KEY (a)"), { code: '23505' });
  await client.query("DELETE FROM r WHERE b = 'again'");
  await client.query('ALTER TABLE r ADD PRIMARY KEY (a)');
  await client.query("UPDATE r SET b = 'TWO' WHERE a = 2");
  await client.end();
  await server.close();
  const position = node.appliedPosition;
  const checksum = node.checksum;
  await node.close();
  const into = join(scratchDir(), 'replayed');
  const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'replay', '--data-dir', dataDir, '--into', into]);
  const out = JSON.parse(stdout) as { appliedPosition: number; checksum: string };
  t.equal(out.appliedPosition, position);
  t.equal(out.checksum, checksum);
});
