import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openEnvironment, openNode } from '../src/node/index.js';
import { crc32 } from 'node:zlib';
import { PartitionStore, encodeKey } from '../src/partitions/index.js';
import { InputLog, LOG_DB_NAME, LogEnvelope, TxnKind, logPositionKey } from '../src/sequencer/index.js';
import { getProgram, putProgram, putThenAbortProgram, scratchDir, TABLE, txn } from './helpers.js';

t.test('a submitted transaction resolves with its outcome once executed', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const put = await node.submit(txn(putProgram(1), [1n, 'one']));
  t.equal(put.status, 'committed');
  const got = await node.submit(txn(getProgram, [1n], TxnKind.readOnly));
  t.same(got.status === 'committed' ? got.rows : null, [[1n, 'one']]);
  t.equal(node.appliedPosition, node.lastLogPosition);
});

t.test('every row carries the log position of its last write as its version', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const first = await node.submit(txn(putProgram(1), [1n, 'a']));
  t.equal(node.partitionStore.get(encodeKey(TABLE, 0, [1n]))?.version, first.position);
  const second = await node.submit(txn(putProgram(1), [1n, 'b']));
  t.ok(second.position > first.position);
  t.equal(node.partitionStore.get(encodeKey(TABLE, 0, [1n]))?.version, second.position);
});

t.test('an aborted transaction reports its SQLSTATE and leaves no write behind', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const result = await node.submit(txn(putThenAbortProgram, [9n]));
  t.match(result, { status: 'aborted', code: 'P0001', message: 'changed my mind' });
  t.equal(node.partitionStore.get(encodeKey(TABLE, 0, [9n])), undefined);
});

t.test('an invalid program is refused before it reaches the log', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const before = node.lastLogPosition;
  const bad = { ...putProgram(1), body: [{ k: 'nonsense' }] } as unknown as ReturnType<typeof putProgram>;
  await t.rejects(node.submit(txn(bad, [1n, 'x'])), { code: '22023' });
  t.equal(node.lastLogPosition, before);
});

t.test('a parameter the log cannot record is refused before sequencing and the node keeps working', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const before = node.lastLogPosition;
  await t.rejects(node.submit(txn(putProgram(1), [2n ** 64n, 'x'])), { code: '22023', message: /parameter \$0: integer outside int64/ });
  t.equal(node.lastLogPosition, before);
  t.equal((await node.submit(txn(putProgram(1), [1n, 'fine']))).status, 'committed');
});

t.test('state, applied position and checksum survive a restart', async (t) => {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  for (let i = 0; i < 5; i++) await node.submit(txn(putProgram(2), [BigInt(2 * i), 'x', BigInt(2 * i + 1), 'y']));
  const { appliedPosition, checksum } = node;
  await node.close();
  const again = openNode({ dataDir, epochMs: 1 });
  t.teardown(() => again.close());
  t.equal(again.appliedPosition, appliedPosition);
  t.equal(again.checksum, checksum);
  t.equal(again.partitionStore.recomputeChecksum(), checksum, 'the incremental checksum matches the rows');
  const got = await again.submit(txn(getProgram, [3n], TxnKind.readOnly));
  t.same(got.status === 'committed' ? got.rows : null, [[3n, 'y']]);
});

t.test('log entries beyond the applied position are applied when the node opens', async (t) => {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  await node.submit(txn(putProgram(1), [1n, 'applied']));
  await node.close();
  // Append to the log as if the node had crashed after the append but before applying it.
  const env = openEnvironment(dataDir);
  const log = InputLog.open(env);
  await log.append({ kind: 'batch', batch: { epoch: 99, timestampMs: 1, txns: [txn(putProgram(1), [2n, 'recovered'])] } });
  await env.close();
  const reopened = openNode({ dataDir, epochMs: 1 });
  t.teardown(() => reopened.close());
  t.equal(reopened.appliedPosition, reopened.lastLogPosition);
  t.same(reopened.partitionStore.get(encodeKey(TABLE, 0, [2n]))?.values, [2n, 'recovered']);
});

t.test('a data directory used by a running node in this process cannot be opened again', async (t) => {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  t.teardown(() => node.close());
  t.throws(() => openNode({ dataDir }), { code: '55006', message: /in use by another running node/ });
});

t.test('a data directory used by a node in another process cannot be opened', async (t) => {
  const dataDir = scratchDir();
  const main = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [main, 'start', '--data-dir', dataDir, '--http-port', '0', '--pg-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('running') && resolve()));
  t.throws(() => openNode({ dataDir }), { code: '55006', message: new RegExp(`pid ${child.pid}`) });
});

t.test('a lock left by a process that is gone is taken over', async (t) => {
  const dataDir = scratchDir();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dataDir, 'ordo.pid'), '999999999\n');
  const node = openNode({ dataDir });
  await node.close();
  t.pass('opened');
});

t.test('closing a node sequences and applies what was already submitted', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1000 });
  const pending = node.submit(txn(putProgram(1), [5n, 'late']));
  await node.close();
  t.equal((await pending).status, 'committed');
});

/** Rewrites the stored log record at `position` through `edit`, as a disk or a bug might. */
async function tamperWithLogRecord(dataDir: string, position: number, edit: (record: Buffer) => Buffer): Promise<void> {
  const env = openEnvironment(dataDir);
  const db = env.openDB<Buffer, Buffer>(LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
  const key = logPositionKey(position);
  const record = db.get(key);
  if (record === undefined) throw new Error(`no record at ${position}`);
  db.putSync(key, edit(Buffer.from(record)));
  await env.close();
}

async function nodeWithEntries(count: number): Promise<{ dataDir: string; appliedPosition: number; checksum: string }> {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  for (let i = 0; i < count; i++) await node.submit(txn(putProgram(1), [BigInt(i), 'v']));
  const { appliedPosition, checksum } = node;
  await node.close();
  return { dataDir, appliedPosition, checksum };
}

async function stateOf(dataDir: string): Promise<{ appliedPosition: number; checksum: string }> {
  const env = openEnvironment(dataDir, { readOnly: true });
  const store = PartitionStore.open(env, { checksumEveryPositions: 1 });
  const state = { appliedPosition: store.appliedPosition, checksum: store.checksum };
  await env.close();
  return state;
}

t.test('a node whose last log record fails its checksum refuses to start, naming the position', async (t) => {
  const { dataDir, appliedPosition, checksum } = await nodeWithEntries(3);
  await tamperWithLogRecord(dataDir, 3, (r) => {
    r[r.length - 1] = (r[r.length - 1] as number) ^ 0x01;
    return r;
  });
  t.throws(() => openNode({ dataDir }), { code: 'XX001', message: /position 3 is corrupt: checksum mismatch/ });
  t.same(await stateOf(dataDir), { appliedPosition, checksum }, 'nothing changed');
  t.throws(() => openNode({ dataDir }), { code: 'XX001' }, 'and it keeps refusing: the record was not skipped or dropped');
});

t.test('a corrupt record the node still has to apply stops recovery at that position', async (t) => {
  const { dataDir } = await nodeWithEntries(1);
  const env = openEnvironment(dataDir);
  const log = InputLog.open(env);
  for (let i = 0; i < 3; i++) await log.append({ kind: 'batch', batch: { epoch: 100 + i, timestampMs: 1, txns: [txn(putProgram(1), [BigInt(50 + i), 'x'])] } });
  await env.close();
  await tamperWithLogRecord(dataDir, 3, (r) => {
    r[20] = (r[20] as number) ^ 0xff;
    return r;
  });
  t.throws(() => openNode({ dataDir }), { code: 'XX001', message: /position 3 is corrupt/ });
  t.equal((await stateOf(dataDir)).appliedPosition, 1, 'recovery applied nothing: it verifies before it applies');
});

t.test('a record written with an unknown schema fingerprint is refused, naming the position', async (t) => {
  const { dataDir, appliedPosition, checksum } = await nodeWithEntries(2);
  await tamperWithLogRecord(dataDir, 2, (r) => {
    r.fill(0xab, LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset);
    r.writeUInt32BE(crc32(r.subarray(LogEnvelope.fingerprintOffset)), LogEnvelope.checksumOffset);
    return r;
  });
  t.throws(() => openNode({ dataDir }), { code: 'XX001', message: /position 2 is corrupt: unknown writer schema fingerprint/ });
  t.same(await stateOf(dataDir), { appliedPosition, checksum });
});

t.test('a control entry takes its own log position and is applied in order with the batches', async (t) => {
  const node = openNode({ dataDir: scratchDir(), epochMs: 1 });
  t.teardown(() => node.close());
  const before = await node.submit(txn(putProgram(1), [1n, 'a']));
  const position = await node.submitControl({ kind: 'setSetting', name: 'statement_timeout', value: '5s' });
  t.equal(position, before.position + 1);
  t.equal(node.appliedPosition, position);
  t.same(node.partitionStore.settings(), { statement_timeout: '5s' });
  t.match(node.inputLog.read(position), { position, kind: 'control', timestampMs: Number, control: { kind: 'setSetting', name: 'statement_timeout', value: '5s' } });
});
