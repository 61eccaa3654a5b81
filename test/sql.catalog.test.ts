// The catalog as log-derived state: DDL control entries in the log codec, applied at their position,
// and rebuilt identically by replay.

import t from 'tap';
import { openNode } from '../src/node/index.js';
import { encodeTuple } from '../src/partitions/index.js';
import { decodeLogEntry, encodeLogEntry, logSchemaVersions, type LogEntry } from '../src/sequencer/index.js';
import { splitAndNormalize } from '../src/sql/index.js';
import { scratchDir } from './helpers.js';

const createEntry: LogEntry = {
  position: 4,
  kind: 'control',
  timestampMs: 1_700_000_000_000,
  control: {
    kind: 'createTable',
    txnId: 'x-1',
    user: 'postgres',
    sql: 'CREATE TABLE t (...)',
    ifNotExists: false,
    table: {
      name: 't',
      columns: [
        { name: 'id', type: 'int4', length: null, scale: null, notNull: true, default: null },
        { name: 'price', type: 'numeric', length: 10, scale: 2, notNull: false, default: { kind: 'value', tupleHex: encodeTuple([150n]).toString('hex') } },
        { name: 'at', type: 'timestamptz', length: null, scale: null, notNull: false, default: { kind: 'now' } },
      ],
      primaryKey: [0],
    },
  },
};

t.test('CREATE TABLE and DROP TABLE control entries round-trip through the current log schema (v3 added them)', (t) => {
  t.ok((logSchemaVersions().at(-1)?.version ?? 0) >= 3);
  t.same(decodeLogEntry(encodeLogEntry(createEntry), 4), createEntry);
  const drop: LogEntry = { position: 5, kind: 'control', timestampMs: 1, control: { kind: 'dropTable', txnId: 'x-2', user: 'u', sql: 'DROP TABLE a, b', names: ['a', 'b'], ifExists: true } };
  t.same(decodeLogEntry(encodeLogEntry(drop), 5), drop);
  t.end();
});

t.test('the ADD PRIMARY KEY control entry round-trips through the current log schema (v5 added it)', (t) => {
  t.ok((logSchemaVersions().at(-1)?.version ?? 0) >= 5);
  const add: LogEntry = {
    position: 9,
    kind: 'control',
    timestampMs: 1_700_000_000_000,
    control: { kind: 'addPrimaryKey', txnId: 'x-3', user: 'postgres', sql: 'ALTER TABLE t ADD PRIMARY KEY (a, b)', table: 't', columns: ['a', 'b'] },
  };
  t.same(decodeLogEntry(encodeLogEntry(add), 9), add);
  t.end();
});

t.test('a DDL entry with an undecodable default is refused before it reaches the log', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  const create = createEntry.kind === 'control' && createEntry.control.kind === 'createTable' ? createEntry.control : null;
  if (create === null) throw new Error('fixture');
  const bad = { ...create, table: { ...create.table, columns: [{ ...create.table.columns[0], name: 'id', type: 'int4' as const, length: null, scale: null, notNull: true, default: { kind: 'value' as const, tupleHex: '0a' } }] } };
  await t.rejects(node.submitDdl(bad), { code: '22023' });
  t.equal((await node.submitDdl({ ...create, txnId: 'ok' })).status, 'committed', 'the node still works');
  await node.close();
});

t.test('table ids come from the log: a drop and re-create gives a new id, and a reopened node has the same catalog', async (t) => {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  const create = createEntry.kind === 'control' && createEntry.control.kind === 'createTable' ? createEntry.control : null;
  if (create === null) throw new Error('fixture');
  t.equal((await node.submitDdl({ ...create, txnId: 'a' })).status, 'committed');
  t.match(await node.submitDdl({ ...create, txnId: 'b' }), { status: 'aborted', code: '42P07' });
  t.equal((await node.submitDdl({ kind: 'dropTable', txnId: 'c', user: 'u', sql: '', names: ['t'], ifExists: false })).status, 'committed');
  t.equal((await node.submitDdl({ ...create, txnId: 'd' })).status, 'committed');
  const catalog = node.catalog();
  t.same(catalog.tables.map((x) => [x.name, x.id]), [['t', 2]]);
  const checksum = node.checksum;
  await node.close();
  const reopened = openNode({ dataDir, epochMs: 1 });
  t.same(reopened.catalog(), catalog);
  t.equal(reopened.checksum, checksum);
  await reopened.close();
});

t.test('the normalizer lifts literals so statements of one shape share a cache key', (t) => {
  const [a, b] = splitAndNormalize("SELECT * FROM t WHERE id = 1 AND name = 'x'; select * from T where ID = 22 and NAME = 'it''s'");
  t.equal(a?.cacheKey, b?.cacheKey);
  t.same(b?.literals.map((l) => l.text), ['22', "it's"]);
  t.equal(a?.normalized, 'select * from t where id = $1 and name = $2');
  t.end();
});

t.test('the normalizer keeps literals whose value changes the plan: ORDER BY positions and DDL', (t) => {
  const [sel, ddl] = splitAndNormalize('SELECT a, b FROM t ORDER BY 2 LIMIT 5; CREATE TABLE x (v varchar(10) DEFAULT 3)');
  t.equal(sel?.normalized, 'select a , b from t order by 2 limit $1');
  t.same(ddl?.literals, []);
  t.end();
});

t.test('a semicolon inside a string or comment does not split statements', (t) => {
  const parts = splitAndNormalize("SELECT 'a;b' /* ; */ -- ;\n; SELECT 2;;");
  t.equal(parts.length, 2);
  t.same(parts[0]?.literals.map((l) => l.text), ['a;b']);
  t.end();
});
