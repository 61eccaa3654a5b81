import t from 'tap';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { RootDatabase } from 'lmdb';
import { InputLog, LOG_DB_NAME, LogEnvelope, encodeLogEntry, logPositionKey } from '../src/sequencer/index.js';
import type { LogEntry } from '../src/sequencer/index.js';
import { batchBody, batchEntry, canonical, everyKindProgram, everyValue, pointUpdateProgram, show, txn } from './log.fixtures.js';

/** The parts of a tap test the environment helper uses. */
interface Test {
  testdir(): string;
  teardown(fn: () => unknown): void;
}

/** A fresh LMDB environment in the test's directory, closed when the test ends. */
function environment(t: Test): { dir: string; root: RootDatabase; reopen: () => Promise<RootDatabase> } {
  // lmdb-js takes the path as the data file's name (it also creates `<path>-lock`).
  const dir = join(t.testdir(), 'node.mdb');
  const env = { dir, root: open({ path: dir, maxDbs: 8 }), reopen: async (): Promise<RootDatabase> => env.root };
  env.reopen = async () => {
    await env.root.close();
    env.root = open({ path: dir, maxDbs: 8 });
    return env.root;
  };
  t.teardown(() => env.root.close());
  return env;
}

/** The log database as raw bytes, to damage records behind the InputLog's back. */
function rawLog(root: RootDatabase) {
  return root.openDB<Buffer, Buffer>(LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
}

async function fillLog(log: InputLog, n: number): Promise<void> {
  const p = pointUpdateProgram();
  for (let i = 1; i <= n; i++) await log.append(batchBody(i, [txn(i, p, [BigInt(i), 1n])]));
}

function corruptionAt(position: number, problem: RegExp) {
  return { name: 'LogCorruptionError', code: 'XX001', position, message: new RegExp(`position ${position}\\b.*${problem.source}`) };
}

function flipPayloadByte(root: RootDatabase, position: number): void {
  const raw = rawLog(root);
  const bytes = Buffer.from(raw.get(logPositionKey(position)) as Buffer);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x10;
  raw.putSync(logPositionKey(position), bytes);
}

t.test('an empty log has last position 0 and nothing to read', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  t.equal(log.lastPosition, 0);
  t.equal(log.read(1), undefined);
  t.equal(log.read(0), undefined);
  t.same([...log.readRange(1, 0)], []);
  log.verifyAll();
});

t.test('appends take consecutive positions from 1 and read back', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  const p = everyKindProgram();
  const first = batchBody(1, [txn(1, p, everyValue), txn(2, p, [])]);
  const second: LogEntry = { position: 2, kind: 'control', timestampMs: 5, control: { kind: 'setSetting', name: 'a', value: 'b' } };
  t.equal(await log.append(first), 1);
  t.equal(await log.append(second), 2);
  t.equal(log.lastPosition, 2);
  t.equal(show(log.read(1)), show(canonical({ position: 1, ...first })));
  t.equal(show(log.read(2)), show(second));
  t.equal(log.read(3), undefined);
});

t.test('appended entries survive closing and reopening the environment', async (t) => {
  const env = environment(t);
  const log = InputLog.open(env.root);
  const p = pointUpdateProgram();
  const entries = [1, 2, 3].map((i) => batchEntry(i, i, [txn(i, p, [BigInt(i)])]));
  for (const e of entries) await log.append(e);
  const reopened = InputLog.open(await env.reopen());
  t.equal(reopened.lastPosition, 3);
  t.equal(show([...reopened.readRange(1, 3)]), show(entries));
  t.equal(await reopened.append(batchBody(4, [])), 4, 'appending continues after the last position');
});

t.test('appends take positions in call order and are durable and readable when the call returns', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  const appends = [1, 2, 3, 4, 5].map((i) => {
    const appended = log.append(batchBody(i, []));
    t.equal(log.lastPosition, i, `append ${i} is durable before the call returns`);
    return appended;
  });
  t.same(await Promise.all(appends), [1, 2, 3, 4, 5]);
  t.same([...log.readRange(1, 5)].map((e) => (e.kind === 'batch' ? e.batch.epoch : -1)), [1, 2, 3, 4, 5]);
});

t.test('an entry that cannot be encoded is refused without taking a position', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await t.rejects(log.append(batchBody(1, [txn(1, pointUpdateProgram(), [2n ** 64n])])), /position 1.*outside int64/);
  t.equal(await log.append(batchBody(2, [])), 1);
});

t.test('a flipped byte in a stored record makes read, readRange and verifyAll fail at that position', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await fillLog(log, 5);
  flipPayloadByte(root, 3);
  t.throws(() => log.read(3), corruptionAt(3, /checksum mismatch/));
  t.ok(log.read(2), 'its neighbours still read');
  t.ok(log.read(4));
  const seen: number[] = [];
  t.throws(() => {
    for (const e of log.readRange(1, 5)) seen.push(e.position);
  }, corruptionAt(3, /checksum mismatch/));
  t.same(seen, [1, 2], 'readRange stops at the bad record and never skips it');
  t.throws(() => log.verifyAll(), corruptionAt(3, /checksum mismatch/));
});

t.test('opening a log whose last record is damaged fails naming it', async (t) => {
  const env = environment(t);
  await fillLog(InputLog.open(env.root), 4);
  flipPayloadByte(env.root, 4);
  const root = await env.reopen();
  t.throws(() => InputLog.open(root), corruptionAt(4, /checksum mismatch/));
});

t.test('a missing record is reported at open and never skipped', async (t) => {
  const env = environment(t);
  const log = InputLog.open(env.root);
  await fillLog(log, 4);
  rawLog(env.root).removeSync(logPositionKey(2));
  t.throws(() => log.read(2), corruptionAt(2, /missing/));
  const seen: number[] = [];
  t.throws(() => {
    for (const e of log.readRange(1, 4)) seen.push(e.position);
  }, corruptionAt(2, /missing/));
  t.same(seen, [1]);
  const root = await env.reopen();
  t.throws(() => InputLog.open(root), corruptionAt(2, /missing/));
});

t.test('a stored record of an unknown writer schema is refused naming its position', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await fillLog(log, 2);
  const raw = rawLog(root);
  const bytes = Buffer.from(raw.get(logPositionKey(2)) as Buffer);
  bytes.fill(0x5a, LogEnvelope.fingerprintOffset, LogEnvelope.payloadOffset);
  bytes.writeUInt32BE(crc32(bytes.subarray(LogEnvelope.fingerprintOffset)), LogEnvelope.checksumOffset);
  raw.putSync(logPositionKey(2), bytes);
  t.throws(() => log.read(2), corruptionAt(2, /unknown writer schema fingerprint 5a5a/));
  t.throws(() => log.verifyAll(), corruptionAt(2, /unknown writer schema fingerprint/));
});

t.test('a record stored under the wrong key is refused', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await fillLog(log, 2);
  rawLog(root).putSync(logPositionKey(2), encodeLogEntry(batchEntry(7, 1, [])));
  t.throws(() => log.read(2), corruptionAt(2, /says it is position 7/));
});

t.test('an append whose position is already taken is refused and stops further appends', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await fillLog(log, 1);
  rawLog(root).putSync(logPositionKey(2), encodeLogEntry(batchEntry(2, 99, [])));
  await t.rejects(log.append(batchBody(2, [])), /position 2 is already taken/);
  t.equal(log.lastPosition, 1);
  await t.rejects(log.append(batchBody(3, [])), /refuses appends/);
  const stored = log.readRange(1, 1);
  t.equal([...stored].length, 1);
  t.equal(rawLog(root).get(logPositionKey(2))?.equals(encodeLogEntry(batchEntry(2, 99, []))), true, 'the existing record is kept');
});

t.test('readRange refuses a range beyond the last position', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  await fillLog(log, 2);
  t.throws(() => log.readRange(1, 3), RangeError);
  t.throws(() => log.readRange(0, 2), RangeError);
  t.same([...log.readRange(2, 2)].map((e) => e.position), [2]);
});

t.test('position keys are 8-byte big-endian so byte order is numeric order', (t) => {
  t.equal(logPositionKey(1).toString('hex'), '0000000000000001');
  t.ok(Buffer.compare(logPositionKey(255), logPositionKey(256)) < 0);
  t.ok(Buffer.compare(logPositionKey(2 ** 32 - 1), logPositionKey(2 ** 32)) < 0);
  t.end();
});

t.test('appendAndApply applies queued entries in append order and resolves each once it is durable', async (t) => {
  const { root, reopen } = environment(t);
  const log = InputLog.open(root);
  const p = pointUpdateProgram();
  const applied: number[] = [];
  const appends = [1, 2, 3].map((i) => log.appendAndApply(batchBody(i, [txn(i, p, [BigInt(i), 1n])]), (e) => applied.push(e.position)));
  t.same(applied, [], 'nothing is applied inside the call: the writer thread runs the transaction later');
  t.same(await Promise.all(appends), [1, 2, 3]);
  t.same(applied, [1, 2, 3]);
  t.equal(log.lastPosition, 3);
  const again = InputLog.open(await reopen());
  t.equal(again.lastPosition, 3, 'on disk after reopening');
});

t.test('whenDurable waits for the flush of a queued entry, and resolves at once for a durable one', async (t) => {
  const { root } = environment(t);
  const log = InputLog.open(root);
  const p = pointUpdateProgram();
  const append = log.appendAndApply(batchBody(1, [txn(1, p, [1n, 1n])]), () => undefined);
  const seen = await log.whenDurable(1).then(() => log.lastPosition);
  t.equal(seen, 1, 'resolved only once position 1 was durable');
  t.equal(await append, 1);
  await log.whenDurable(1);
});

t.test('an entry whose apply throws leaves nothing behind and refuses the entries queued after it', async (t) => {
  const { root, reopen } = environment(t);
  const log = InputLog.open(root);
  const p = pointUpdateProgram();
  const ok = log.appendAndApply(batchBody(1, [txn(1, p, [1n, 1n])]), () => undefined);
  const bad = log.appendAndApply(batchBody(2, [txn(2, p, [2n, 1n])]), () => {
    throw new Error('apply failed');
  });
  const after = log.appendAndApply(batchBody(3, [txn(3, p, [3n, 1n])]), () => undefined);
  t.equal(await ok, 1);
  await t.rejects(bad, /apply failed/);
  await t.rejects(after, /refuses appends after an earlier failure/);
  await t.rejects(log.whenDurable(2), /refuses appends/);
  const again = InputLog.open(await reopen());
  t.equal(again.lastPosition, 1, 'neither the failed entry nor the one after it was stored');
});
