// How a data directory enters a cluster, in process (real LMDB and gRPC, one node): without --bootstrap
// or --join a node refuses a directory with no Raft state; a joined node stays a joiner across restarts;
// a founded node keeps its founding voters whatever --peers says later. And the address book: an address
// from the log overrides --peers, and a removed id stays removed.

import t from 'tap';
import { freePort } from '../src/cli/cluster.js';
import { ClusterInitialState, openClusterNode, type ClusterOptions } from '../src/node/index.js';
import { PeerBook, peerSettingName } from '../src/node/peerBook.js';
import { scratchDir } from './helpers.js';
import { sleep, waitFor } from './fixtures/clusterSupport.js';

async function soloCluster(): Promise<ClusterOptions> {
  const address = `127.0.0.1:${await freePort('127.0.0.1')}`;
  return { nodeId: 'n1', clusterId: 'entry', peers: { n1: address }, listen: address, tickMs: 10 };
}

t.test('a node refuses a data directory with no Raft state without --bootstrap or --join', async (t) => {
  const cluster = await soloCluster();
  await t.rejects(openClusterNode({ dataDir: scratchDir(), cluster }), { code: 'F0000', message: /holds no Raft state for node "n1".*--bootstrap.*--join/ });
});

t.test('a joined node restarted before it was added still waits to be added', async (t) => {
  const dataDir = scratchDir();
  const cluster = await soloCluster();
  const joined = await openClusterNode({ dataDir, cluster: { ...cluster, initialState: ClusterInitialState.join } });
  await joined.close();
  const node = await openClusterNode({ dataDir, cluster });
  t.teardown(() => node.close());
  // Many election timeouts (10 ms ticks): a node that thought itself a voter would have campaigned.
  await sleep(500);
  t.match(node.clusterStatus(), { role: 'follower', term: 0, voters: [], learners: [] }, 'no membership: it never campaigned');
});

t.test('a founded node keeps its founding voters whatever --peers says later', async (t) => {
  const dataDir = scratchDir();
  const cluster = await soloCluster();
  const founded = await openClusterNode({ dataDir, cluster: { ...cluster, initialState: ClusterInitialState.bootstrap } });
  await founded.close();
  const node = await openClusterNode({ dataDir, cluster: { ...cluster, peers: { ...cluster.peers, n2: '127.0.0.1:1' } } });
  t.teardown(() => node.close());
  const s = await waitFor('n1 to lead alone', async () => (node.clusterStatus()?.role === 'leader' ? node.clusterStatus() : undefined));
  t.same(s?.voters, ['n1']);
});

t.test('an address from the log overrides --peers, and a removed id stays removed', (t) => {
  const changes: [string, string | undefined][] = [];
  const book = new PeerBook({ n1: 'h:1', n2: 'h:2' }, { [peerSettingName('n2')]: 'h:22', [peerSettingName('n3')]: '' }, (id, address) => changes.push([id, address]));
  t.same(book.entries(), { n1: 'h:1', n2: 'h:22' });
  t.ok(book.wasRemoved('n3'));
  t.ok(book.apply(peerSettingName('n4'), 'h:4'));
  t.ok(book.apply(peerSettingName('n2'), ''));
  t.notOk(book.apply('statement_timeout', '5s'), 'other settings are not addresses');
  t.ok(book.apply(peerSettingName('n2'), 'h:2'));
  t.same(changes, [
    ['n4', 'h:4'],
    ['n2', undefined],
    ['n2', undefined],
  ]);
  t.same(book.entries(), { n1: 'h:1', n4: 'h:4' }, 'n2 does not come back');
  t.notOk(book.knows('n2'));
  t.end();
});
