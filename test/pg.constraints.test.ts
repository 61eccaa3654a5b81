// UNIQUE and CHECK constraints over node-postgres: enforced by the program that writes the row, in its
// own transaction, with PostgreSQL's constraint names and SQLSTATEs; the catalog keeps them across a
// restart and a replay of the log.

import t from 'tap';
import pg from 'pg';
import { openEnvironment, openNode } from '../src/node/index.js';
import { PartitionStore, encodeRange } from '../src/partitions/index.js';
import { Scheduler } from '../src/scheduler/index.js';
import { InputLog, decodeLogEntry, encodeLogEntry, encodeLogEntryWithSchema, type LogEntry } from '../src/sequencer/index.js';
import { startPgServer } from '../src/sql/index.js';
import { failure, harness } from './pg.support.js';
import { scratchDir } from './helpers.js';

const h = await harness();
t.teardown(() => h.close());
const c = await h.client();

const rows = async (sql: string): Promise<unknown[]> => (await c.query(sql)).rows;

t.test('a UNIQUE column refuses a taken value with 23505 naming t_col_key, and changes nothing', async (t) => {
  await c.query('CREATE TABLE u1 (id int PRIMARY KEY, email text UNIQUE)');
  await c.query("INSERT INTO u1 VALUES (1, 'a@x')");
  const err = await failure(c.query("INSERT INTO u1 VALUES (2, 'b@x'), (3, 'a@x')"));
  t.equal(err.code, '23505');
  t.match(err.message, /unique constraint "u1_email_key"/);
  t.same(await rows('SELECT id FROM u1 ORDER BY id'), [{ id: 1 }]);
});

t.test('NULLs never conflict under UNIQUE', async (t) => {
  await c.query('CREATE TABLE u2 (id int PRIMARY KEY, code text UNIQUE)');
  await c.query('INSERT INTO u2 VALUES (1, NULL), (2, NULL)');
  await c.query('INSERT INTO u2 (id) VALUES (3)');
  t.equal((await c.query('SELECT count(*) AS n FROM u2 WHERE code IS NULL')).rows[0].n, '3');
});

t.test('a table UNIQUE (a, b) is named t_a_b_key and conflicts only on both values', async (t) => {
  await c.query('CREATE TABLE u3 (id int PRIMARY KEY, a int, b int, UNIQUE (a, b))');
  await c.query('INSERT INTO u3 VALUES (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 1, NULL), (5, 1, NULL)');
  const err = await failure(c.query('INSERT INTO u3 VALUES (6, 2, 1)'));
  t.equal(err.code, '23505');
  t.match(err.message, /"u3_a_b_key"/);
});

t.test('a named UNIQUE constraint reports its own name', async (t) => {
  await c.query('CREATE TABLE u4 (id int PRIMARY KEY, n int, CONSTRAINT one_n UNIQUE (n))');
  await c.query('INSERT INTO u4 VALUES (1, 5)');
  t.match((await failure(c.query('INSERT INTO u4 VALUES (2, 5)'))).message, /"one_n"/);
});

t.test('UPDATE to a taken value is 23505; UPDATE away frees the old value, DELETE frees it too', async (t) => {
  await c.query('CREATE TABLE u5 (id int PRIMARY KEY, tag text UNIQUE)');
  await c.query("INSERT INTO u5 VALUES (1, 'x'), (2, 'y')");
  t.equal((await failure(c.query("UPDATE u5 SET tag = 'y' WHERE id = 1"))).code, '23505');
  await c.query("UPDATE u5 SET tag = 'z' WHERE id = 1");
  await c.query("INSERT INTO u5 VALUES (3, 'x')");
  await c.query("DELETE FROM u5 WHERE tag = 'y'");
  await c.query("INSERT INTO u5 VALUES (4, 'y')");
  t.same(await rows('SELECT id, tag FROM u5 ORDER BY id'), [
    { id: 1, tag: 'z' },
    { id: 3, tag: 'x' },
    { id: 4, tag: 'y' },
  ]);
});

t.test('an UPDATE that leaves a unique value as it was does not conflict with itself', async (t) => {
  await c.query('CREATE TABLE u6 (id int PRIMARY KEY, tag text UNIQUE, n int)');
  await c.query("INSERT INTO u6 VALUES (1, 'x', 0)");
  await c.query("UPDATE u6 SET tag = 'x', n = n + 1 WHERE id = 1");
  t.same(await rows('SELECT tag, n FROM u6'), [{ tag: 'x', n: 1 }]);
});

t.test('UNIQUE on a table without a primary key works on the hidden row ids', async (t) => {
  await c.query('CREATE TABLE u7 (name text UNIQUE, v int)');
  await c.query("INSERT INTO u7 VALUES ('a', 1), ('b', 2)");
  t.equal((await failure(c.query("INSERT INTO u7 VALUES ('a', 3)"))).code, '23505');
  await c.query("UPDATE u7 SET name = 'c' WHERE v = 1");
  await c.query("INSERT INTO u7 VALUES ('a', 3)");
  t.same(await rows('SELECT name, v FROM u7 ORDER BY v'), [
    { name: 'c', v: 1 },
    { name: 'b', v: 2 },
    { name: 'a', v: 3 },
  ]);
});

t.test('TRUNCATE and DROP TABLE remove the unique index entries with the rows', async (t) => {
  await c.query('CREATE TABLE u8 (id int PRIMARY KEY, tag text UNIQUE)');
  await c.query("INSERT INTO u8 VALUES (1, 'x')");
  await c.query('TRUNCATE u8');
  await c.query("INSERT INTO u8 VALUES (2, 'x')");
  const id = h.node.catalog().tables.find((x) => x.name === 'u8')?.id ?? -1;
  await c.query('DROP TABLE u8');
  const left = [...h.node.partitionStore.scan(encodeRange(id, 1, [], true, null, false), false, 10)];
  t.equal(left.length, 0);
});

t.test('a CHECK column constraint refuses a false row with 23514 naming t_col_check; NULL passes', async (t) => {
  await c.query('CREATE TABLE c1 (id int PRIMARY KEY, qty int CHECK (qty > 0))');
  await c.query('INSERT INTO c1 VALUES (1, 5), (2, NULL)');
  const err = await failure(c.query('INSERT INTO c1 VALUES (3, 0)'));
  t.equal(err.code, '23514');
  t.match(err.message, /new row for relation "c1" violates check constraint "c1_qty_check"/);
});

t.test('a table CHECK over two columns is t_check, over one column t_col_check', async (t) => {
  await c.query('CREATE TABLE c2 (id int PRIMARY KEY, lo int, hi int, CHECK (lo <= hi), CHECK (lo >= 0))');
  t.match((await failure(c.query('INSERT INTO c2 VALUES (1, 5, 1)'))).message, /"c2_check"/);
  t.match((await failure(c.query('INSERT INTO c2 VALUES (1, -5, 1)'))).message, /"c2_lo_check"/);
});

t.test('CHECK is enforced on UPDATE, and a named CHECK reports its name', async (t) => {
  await c.query('CREATE TABLE c3 (id int PRIMARY KEY, bal int, CONSTRAINT no_overdraft CHECK (bal >= 0))');
  await c.query('INSERT INTO c3 VALUES (1, 10)');
  const err = await failure(c.query('UPDATE c3 SET bal = bal - 11 WHERE id = 1'));
  t.equal(err.code, '23514');
  t.match(err.message, /"no_overdraft"/);
  t.same(await rows('SELECT bal FROM c3'), [{ bal: 10 }]);
});

t.test('CHECK compares strings with quotes and functions of the column', async (t) => {
  await c.query("CREATE TABLE c4 (id int PRIMARY KEY, s text CHECK (s <> 'it''s' AND length(s) < 5))");
  await c.query("INSERT INTO c4 VALUES (1, 'ok')");
  t.equal((await failure(c.query("INSERT INTO c4 VALUES (2, 'it''s')"))).code, '23514');
  t.equal((await failure(c.query("INSERT INTO c4 VALUES (3, 'toolong')"))).code, '23514');
});

t.test('CHECK constraints are checked in name order, after NOT NULL', async (t) => {
  await c.query('CREATE TABLE c5 (id int PRIMARY KEY, a int NOT NULL, CONSTRAINT zz CHECK (a > 10), CONSTRAINT aa CHECK (a > 5))');
  t.match((await failure(c.query('INSERT INTO c5 VALUES (1, 1)'))).message, /"aa"/);
  t.equal((await failure(c.query('INSERT INTO c5 VALUES (1, NULL)'))).code, '23502');
});

t.test('a CHECK that is not boolean or names an unknown column is refused at CREATE TABLE', async (t) => {
  t.equal((await failure(c.query('CREATE TABLE c6 (a int CHECK (a + 1))'))).code, '42804');
  t.equal((await failure(c.query('CREATE TABLE c6 (a int CHECK (b > 0))'))).code, '42703');
});

t.test('two CHECK clauses on one column are refused with 0A000 rather than one being dropped', async (t) => {
  const err = await failure(c.query('CREATE TABLE c7 (a int CHECK (a > 0) CHECK (a < 10))'));
  t.equal(err.code, '0A000');
  t.match(err.message, /CHECK/);
});

t.test('two constraints of one name are 42710', async (t) => {
  t.equal((await failure(c.query('CREATE TABLE c8 (a int, b int, CONSTRAINT x CHECK (a > 0), CONSTRAINT x UNIQUE (b))'))).code, '42710');
});

t.test('ADD PRIMARY KEY on a table with a UNIQUE constraint is refused with 0A000', async (t) => {
  await c.query('CREATE TABLE c9 (a int, b int UNIQUE)');
  t.equal((await failure(c.query('ALTER TABLE c9 ADD PRIMARY KEY (a)'))).code, '0A000');
});

t.test('a CREATE TABLE entry carries its constraints through the log (v6); a v5 entry reads with none', (t) => {
  const entry: LogEntry = {
    position: 3,
    kind: 'control',
    timestampMs: 1,
    control: {
      kind: 'createTable',
      txnId: 'x',
      user: 'u',
      sql: 'CREATE TABLE …',
      ifNotExists: false,
      table: {
        name: 't',
        columns: [
          { name: 'a', type: 'int4', length: null, scale: null, notNull: true, default: null },
          { name: 'b', type: 'text', length: null, scale: null, notNull: false, default: null },
        ],
        primaryKey: [0],
        uniques: [{ name: 't_b_key', columns: [1], index: 1 }],
        checks: [{ name: 't_a_check', sql: 'a > 0' }],
      },
    },
  };
  t.same(decodeLogEntry(encodeLogEntry(entry), 3), entry);
  const old = decodeLogEntry(encodeLogEntryWithSchema(entry, 5), 3);
  t.same(old.kind === 'control' && old.control.kind === 'createTable' ? Object.keys(old.control.table) : [], ['name', 'columns', 'primaryKey']);
  t.end();
});

/** Applies every entry of a data directory's log to an empty store, as a new replica would. */
async function replayed(dataDir: string): Promise<{ position: number; checksum: string }> {
  const source = openEnvironment(dataDir, { readOnly: true });
  const target = openEnvironment(scratchDir('ordo-replay-'));
  try {
    const log = InputLog.open(source);
    const store = PartitionStore.open(target, { checksumEveryPositions: 1 });
    const scheduler = new Scheduler(store);
    for (const entry of log.readRange(1, log.lastPosition)) scheduler.applyEntry(entry);
    return { position: store.appliedPosition, checksum: store.checksum };
  } finally {
    await target.close();
    await source.close();
  }
}

t.test('constraints survive a restart, and a replay of the log reaches the same state', async (t) => {
  const dataDir = scratchDir('ordo-constraints-');
  const node = openNode({ dataDir, epochMs: 1 });
  let server = await startPgServer({ node, port: 0 });
  const connect = async (): Promise<pg.Client> => {
    const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    return client;
  };
  let client = await connect();
  await client.query('CREATE TABLE r (id int PRIMARY KEY, tag text UNIQUE, n int CHECK (n >= 0))');
  await client.query("INSERT INTO r SELECT g, 't' || g, g FROM generate_series(1, 20) AS g");
  await client.query("INSERT INTO r VALUES (1, 'new', 5) ON CONFLICT (id) DO UPDATE SET tag = excluded.tag, n = r.n + excluded.n");
  await client.end();
  await server.close();
  await node.close();
  const reopened = openNode({ dataDir, epochMs: 1 });
  server = await startPgServer({ node: reopened, port: 0 });
  client = await connect();
  t.equal((await failure(client.query("INSERT INTO r VALUES (99, 'new', 1)"))).code, '23505');
  t.equal((await failure(client.query("INSERT INTO r VALUES (99, 'x99', -1)"))).code, '23514');
  t.same((await client.query('SELECT tag, n FROM r WHERE id = 1')).rows, [{ tag: 'new', n: 6 }]);
  const state = { position: reopened.appliedPosition, checksum: reopened.checksum };
  await client.end();
  await server.close();
  await reopened.close();
  t.same(await replayed(dataDir), state);
});
