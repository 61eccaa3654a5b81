// Transaction-id deduplication on cluster nodes: the window rule (a function of the log alone), and a
// one-voter cluster node (real Raft on LMDB and gRPC) that executes a retried txnId once.

import t from 'tap';
import { createServer } from 'node:net';
import { ClusterInitialState, openClusterNode } from '../src/node/index.js';
import { TxnDedupWindow, TxnDedupDefaults } from '../src/scheduler/index.js';
import { TxnKind, type LogEntry, type TxnRequest } from '../src/sequencer/index.js';
import { getProgram, putProgram, scratchDir, txn } from './helpers.js';

const batch = (position: number, ids: readonly string[]): LogEntry => ({
  position,
  kind: 'batch',
  batch: { epoch: position, timestampMs: 0, txns: ids.map((txnId) => ({ ...txn(putProgram(1), [1n, 'x']), txnId })) },
});

t.test('a txnId repeated within the window is skipped with OD001, outside it runs', (t) => {
  const w = new TxnDedupWindow(3);
  t.same(w.filter(batch(1, ['a', 'b'])).skipped, []);
  const second = w.filter(batch(2, ['c', 'a', 'c']));
  t.same(second.skipped.map((s) => [s.txnId, s.index, s.outcome.status === 'aborted' ? s.outcome.code : '']), [['a', 1, TxnDedupDefaults.duplicateCode], ['c', 2, TxnDedupDefaults.duplicateCode]]);
  t.same(second.entry.kind === 'batch' ? second.entry.batch.txns.map((x) => x.txnId) : [], ['c']);
  // 'b' was last seen at 1; position 5's window is [2, 5).
  t.same(w.filter(batch(5, ['b'])).skipped, [], 'outside the window it runs again');
  t.equal(w.filter(batch(6, ['a'])).skipped.length, 0, "'a' last appeared at 2, outside [3, 6)");
  t.end();
});

t.test('rebuilding from the log decides exactly as the live window', (t) => {
  const log = [batch(1, ['a']), batch(2, ['b', 'a']), batch(3, ['c']), batch(4, ['a', 'd']), batch(5, ['b'])];
  const live = new TxnDedupWindow(2);
  const liveSkips = log.map((e) => live.filter(e).skipped.map((s) => s.txnId));
  const rebuilt = new TxnDedupWindow(2);
  for (const e of log.slice(0, 3)) rebuilt.remember(e);
  const rebuiltSkips = log.slice(3).map((e) => rebuilt.filter(e).skipped.map((s) => s.txnId));
  t.same(rebuiltSkips, liveSkips.slice(3));
  t.end();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

t.test('a cluster node executes a retried transaction id once, also after a restart', async (t) => {
  const dataDir = scratchDir();
  const port = await freePort();
  const cluster = { nodeId: 'n1', clusterId: 'dedup', peers: { n1: `127.0.0.1:${port}` }, listen: `127.0.0.1:${port}`, initialState: ClusterInitialState.bootstrap };
  let node = await openClusterNode({ dataDir, epochMs: 1, cluster });
  const put = (v: string): TxnRequest => ({ ...txn(putProgram(1), [1n, v]), txnId: 'retried' });
  const first = await node.submit(put('first'));
  t.equal(first.status, 'committed');
  const again = await node.submit(put('second'));
  t.match(again, { status: 'aborted', code: TxnDedupDefaults.duplicateCode, message: /already sequenced at log position/ });
  const read = await node.submit(txn(getProgram, [1n], TxnKind.readOnly));
  t.same(read.status === 'committed' ? read.rows : null, [[1n, 'first']], 'the retry did not execute');
  const checksum = node.checksum;
  await node.close();

  node = await openClusterNode({ dataDir, epochMs: 1, cluster });
  t.teardown(() => node.close());
  t.equal(node.checksum, checksum, 'recovered to the same state');
  t.match(await node.submit(put('third')), { status: 'aborted', code: TxnDedupDefaults.duplicateCode }, 'the window survives a restart');
});

t.test('a data directory of another cluster is refused', async (t) => {
  const dataDir = scratchDir();
  const port = await freePort();
  const cluster = { nodeId: 'n1', clusterId: 'first', peers: { n1: `127.0.0.1:${port}` }, listen: `127.0.0.1:${port}`, initialState: ClusterInitialState.bootstrap };
  const node = await openClusterNode({ dataDir, cluster });
  await node.close();
  await t.rejects(openClusterNode({ dataDir, cluster: { ...cluster, clusterId: 'second' } }), { name: 'RaftIdentityMismatchError' });
});
