// The LMDB Raft storage: what it persists survives a reopen exactly, a conflicting suffix is truncated
// durably, and a damaged or missing record is refused with its index, never skipped.

import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import {
  EntryType,
  LmdbRaftStorage,
  MemoryStorage,
  RAFT_LOG_DB_NAME,
  RaftIdentityMismatchError,
  RaftStorageCorruptionError,
  raftIndexKey,
  type Entry,
} from '../src/sequencer/raft/index.js';
import { sealEntry as sealOf } from '../src/sequencer/raft/index.js';
import { scratchDir } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `e${index}t${term}`): Entry => ({ index, term, type: EntryType.normal, data: enc(data) });
const ids = { clusterId: 'c1', nodeId: 'n1' };

/** tap's throws() takes a class, not a predicate. */
function throwsWhere(t: Test, fn: () => unknown, ok: (err: unknown) => boolean, message = 'throws the expected error'): void {
  try {
    fn();
    t.fail(`${message}: nothing thrown`);
  } catch (err) {
    t.ok(ok(err), `${message} (${err instanceof Error ? err.message : String(err)})`);
  }
}

function env(dir: string): RootDatabase {
  return open({ path: join(dir, 'raft.mdb'), maxDbs: 8 });
}

function view(s: { hardState(): unknown; lastIndex(): number; firstIndex(): number; term(i: number): number | undefined; entries(lo: number, hi: number, max: number): readonly Entry[] }): unknown {
  const last = s.lastIndex();
  const terms: (number | undefined)[] = [];
  for (let i = 0; i <= last + 1; i++) terms.push(s.term(i));
  const entries = last >= s.firstIndex() ? s.entries(s.firstIndex(), last + 1, 1000).map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })) : [];
  return { hard: s.hardState(), first: s.firstIndex(), last, terms, entries };
}

t.test('persisted hard state and entries survive a reopen, and match MemoryStorage', async (t) => {
  const dir = scratchDir('ordo-raft-store-');
  const mem = new MemoryStorage();
  let root = env(dir);
  let s = LmdbRaftStorage.open(root, ids);
  t.same(view(s), view(mem), 'empty storage looks like an empty MemoryStorage');
  const steps: { hs?: { term: number; vote: string; commit: number }; entries: Entry[] }[] = [
    { hs: { term: 1, vote: 'n1', commit: 0 }, entries: [entry(1, 1), entry(2, 1)] },
    { hs: { term: 1, vote: 'n1', commit: 2 }, entries: [] },
    { entries: [entry(3, 1), entry(4, 1), entry(5, 1)] },
    { hs: { term: 2, vote: '', commit: 3 }, entries: [entry(4, 2), entry(5, 2, 'x'.repeat(10_000)), entry(6, 2)] },
  ];
  for (const step of steps) {
    s.persist(step.hs, step.entries);
    if (step.hs !== undefined) mem.setHardState(step.hs);
    mem.append(step.entries);
    await s.sync();
    t.same(view(s), view(mem), 'same view as MemoryStorage after each Ready');
  }
  t.ok(s.syncCount >= steps.length, 'every persist was followed by a sync');
  const before = view(s);
  await root.close();

  root = env(dir);
  s = LmdbRaftStorage.open(root, ids);
  t.same(view(s), before, 'a reopened storage rebuilds the same view');
  t.equal(s.entries(2, 7, 2).length, 2, 'maxEntries bounds a read');
  t.same(
    s.entries(4, 7, 10).map((e) => e.term),
    [2, 2, 2],
  );
  await root.close();
});

t.test('truncating a conflicting suffix is durable', async (t) => {
  const dir = scratchDir('ordo-raft-store-');
  let root = env(dir);
  let s = LmdbRaftStorage.open(root, ids);
  s.persist({ term: 1, vote: 'n2', commit: 1 }, [1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  await s.sync();
  s.persist({ term: 2, vote: '', commit: 1 }, [entry(3, 2), entry(4, 2)]);
  await s.sync();
  t.equal(s.lastIndex(), 4);
  await root.close();

  root = env(dir);
  s = LmdbRaftStorage.open(root, ids);
  t.equal(s.lastIndex(), 4, 'the truncated entry 5 is gone after reopen');
  t.same([1, 2, 3, 4].map((i) => s.term(i)), [1, 1, 2, 2]);
  t.equal(s.term(5), undefined);
  const raw = root.openDB<Buffer, Buffer>(RAFT_LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
  t.equal(raw.get(raftIndexKey(5)), undefined, 'no record at 5 in LMDB');
  t.same(s.hardState(), { term: 2, vote: '', commit: 1 });
  await root.close();
});

t.test('a corrupt or missing entry is refused naming its index', async (t) => {
  const dir = scratchDir('ordo-raft-store-');
  let root = env(dir);
  const s = LmdbRaftStorage.open(root, ids);
  s.persist({ term: 1, vote: 'n1', commit: 5 }, [1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  await s.sync();
  const raw = root.openDB<Buffer, Buffer>(RAFT_LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
  const damaged = Buffer.from(raw.get(raftIndexKey(3)) as Buffer);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] as number) ^ 0xff;
  raw.putSync(raftIndexKey(3), damaged);
  await root.close();

  root = env(dir);
  const reopened = LmdbRaftStorage.open(root, ids);
  throwsWhere(
    t,
    () => reopened.entries(1, 6, 10),
    (err: unknown) => err instanceof RaftStorageCorruptionError && err.index === 3 && /index 3/.test(err.message) && /checksum/.test(err.message),
    'reading through the damaged record fails at index 3',
  );
  t.throws(() => reopened.term(3), RaftStorageCorruptionError, 'term() refuses it too');
  t.equal(reopened.term(2), 1, 'records before it still read');

  // A damaged last record is caught at open; so is a hole.
  const raw2 = root.openDB<Buffer, Buffer>(RAFT_LOG_DB_NAME, { keyEncoding: 'binary', encoding: 'binary' });
  const last = Buffer.from(raw2.get(raftIndexKey(5)) as Buffer);
  last[20] = (last[20] as number) ^ 0x01;
  raw2.putSync(raftIndexKey(5), last);
  throwsWhere(t, () => LmdbRaftStorage.open(root, ids), (err: unknown) => err instanceof RaftStorageCorruptionError && err.index === 5, 'open verifies the last record');
  raw2.putSync(raftIndexKey(5), sealOf(entry(5, 1)));
  raw2.removeSync(raftIndexKey(2));
  throwsWhere(t, () => LmdbRaftStorage.open(root, ids), (err: unknown) => err instanceof RaftStorageCorruptionError && err.index === 2 && /missing/.test(err.message), 'open finds the hole at 2');
  // A record stored under the wrong key names the key's index.
  raw2.putSync(raftIndexKey(2), sealOf(entry(7, 1)));
  const moved = LmdbRaftStorage.open(root, ids);
  throwsWhere(t, () => moved.term(2), (err: unknown) => err instanceof RaftStorageCorruptionError && err.index === 2 && /entry 7/.test(err.message));
  await root.close();
});

t.test('a data directory of another cluster or node is refused', async (t) => {
  const dir = scratchDir('ordo-raft-store-');
  const root = env(dir);
  LmdbRaftStorage.open(root, ids).persist({ term: 3, vote: '', commit: 0 }, []);
  t.throws(() => LmdbRaftStorage.open(root, { clusterId: 'other', nodeId: 'n1' }), RaftIdentityMismatchError);
  t.throws(() => LmdbRaftStorage.open(root, { clusterId: 'c1', nodeId: 'n2' }), /belongs to node "n1"/);
  t.equal(LmdbRaftStorage.open(root, ids).hardState().term, 3, 'the right identity still opens');
  await root.close();
});
