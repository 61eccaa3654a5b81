import t from 'tap';
import { openEnvironment } from '../src/node/index.js';
import { PartitionStore, encodeKey, encodeRange } from '../src/partitions/index.js';
import { scratchDir } from './helpers.js';

function openStore(t: { teardown(fn: () => unknown): void }, checksumEveryPositions = 2): PartitionStore {
  const env = openEnvironment(scratchDir());
  t.teardown(() => env.close());
  return PartitionStore.open(env, { checksumEveryPositions });
}

const k = (id: bigint) => encodeKey(1, 0, [id]);

function fill(store: PartitionStore, ids: bigint[]): void {
  store.applyEntry(store.appliedPosition + 1, (w) => w.write(ids.map((id) => ({ key: k(id), values: [id] }))));
}

t.test('scans return the rows of a range in key order, forwards and backwards, with a limit', (t) => {
  const store = openStore(t);
  fill(store, [1n, 2n, 3n, 4n, 5n]);
  const range = encodeRange(1, 0, [2n], true, [4n], true);
  const ids = (reverse: boolean, limit: number) => [...store.scan(range, reverse, limit)].map((r) => r.row.values[0]);
  t.same(ids(false, 100), [2n, 3n, 4n]);
  t.same(ids(true, 100), [4n, 3n, 2n], 'reverse includes the lower bound');
  t.same(ids(false, 2), [2n, 3n]);
  t.same(ids(true, 2), [4n, 3n]);
  t.same(ids(false, 0), []);
  t.end();
});

t.test('the applied position, the rows and the checksum change together', (t) => {
  const store = openStore(t);
  fill(store, [1n]);
  const checksum = store.checksum;
  t.throws(() =>
    store.applyEntry(2, (w) => {
      w.write([{ key: k(2n), values: [2n] }]);
      throw new Error('crash in the middle of an entry');
    }),
  );
  t.equal(store.appliedPosition, 1, 'position unchanged');
  t.equal(store.get(k(2n)), undefined, 'write rolled back');
  t.equal(store.checksum, checksum, 'checksum unchanged');
  t.equal(store.recomputeChecksum(), checksum);
  t.end();
});

t.test('entries must be applied at the next position, never twice or out of order', (t) => {
  const store = openStore(t);
  fill(store, [1n]);
  t.throws(() => store.applyEntry(1, () => undefined), /applying position 1 after 1/);
  t.throws(() => store.applyEntry(3, () => undefined), /applying position 3 after 1/);
  t.end();
});

t.test('checksums are recorded at every Nth position', (t) => {
  const store = openStore(t, 2);
  for (let i = 0; i < 5; i++) fill(store, [BigInt(i)]);
  t.same(store.recordedChecksums().map((c) => c.position), [2, 4]);
  t.end();
});

t.test('deleting a row removes it from the checksum', (t) => {
  const store = openStore(t);
  const empty = store.checksum;
  fill(store, [1n]);
  store.applyEntry(2, (w) => w.write([{ key: k(1n), values: null }]));
  t.equal(store.checksum, empty);
  t.end();
});
