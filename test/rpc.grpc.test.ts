// The gRPC Raft transport on loopback: batches arrive intact; a batch from an unknown node or another
// cluster is refused and counted; a dead peer neither blocks sends to live ones nor grows a queue
// without bound.

import t from 'tap';
import { createServer } from 'node:net';
import { MessageType, type Message } from '../src/sequencer/raft/index.js';
import { GrpcTransport, type GrpcTransportOptions } from '../src/rpc/index.js';

const msg = (from: string, to: string, type: MessageType, term = 1): Message => ({
  type,
  from,
  to,
  term,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  context: '',
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port nothing listens on (bound then released). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function node(options: Omit<GrpcTransportOptions, 'listen'>, inbox: Message[]): Promise<GrpcTransport> {
  const tr = new GrpcTransport({ ...options, listen: '127.0.0.1:0' });
  await tr.start((ms) => inbox.push(...ms));
  return tr;
}

t.test('batches arrive; unknown nodes and other clusters are refused and counted', async (t) => {
  const inA: Message[] = [];
  const inB: Message[] = [];
  const a = await node({ clusterId: 'c1', nodeId: 'a', peers: {} }, inA);
  const b = await node({ clusterId: 'c1', nodeId: 'b', peers: { a: `127.0.0.1:${a.port}` } }, inB);
  a.setPeer('b', `127.0.0.1:${b.port}`);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });

  a.send([msg('a', 'b', MessageType.heartbeat), msg('a', 'b', MessageType.app, 2)]);
  b.send([msg('b', 'a', MessageType.heartbeatResp)]);
  await until(() => inB.length === 2 && inA.length === 1);
  t.same(
    inB.map((m) => [m.type, m.term]),
    [
      [MessageType.heartbeat, 1],
      [MessageType.app, 2],
    ],
  );
  await until(() => a.stats().sent === 2);

  const logs: string[] = [];
  const stranger = await node({ clusterId: 'c1', nodeId: 'x', peers: { b: `127.0.0.1:${b.port}` }, log: (l) => logs.push(l) }, []);
  const impostor = await node({ clusterId: 'c0', nodeId: 'a', peers: { b: `127.0.0.1:${b.port}` } }, []);
  t.teardown(async () => {
    await stranger.close();
    await impostor.close();
  });
  stranger.send([msg('x', 'b', MessageType.vote, 99)]);
  impostor.send([msg('a', 'b', MessageType.vote, 99)]);
  await until(() => b.stats().refused.unknownNode === 1 && b.stats().refused.wrongCluster === 1);
  await until(() => stranger.stats().failedCalls === 1 && impostor.stats().failedCalls === 1);
  t.equal(inB.length, 2, 'nothing from them was delivered');
  t.ok(
    logs.some((l) => /send to b .* failed: .*not a known peer/.test(l)),
    'the refused sender logs why',
  );
});

t.test('a dead peer does not block sends to a live one, and its queue stays bounded', async (t) => {
  const inB: Message[] = [];
  const b = await node({ clusterId: 'c1', nodeId: 'b', peers: { a: '127.0.0.1:1' } }, inB);
  const dead = await deadPort();
  const a = new GrpcTransport({
    clusterId: 'c1',
    nodeId: 'a',
    listen: '127.0.0.1:0',
    peers: { b: `127.0.0.1:${b.port}`, d: `127.0.0.1:${dead}` },
    maxQueuedMessagesPerPeer: 100,
  });
  await a.start(() => undefined);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const startMs = Date.now();
  for (let i = 0; i < 50; i++) {
    a.send([msg('a', 'd', MessageType.heartbeat, i), msg('a', 'd', MessageType.heartbeat, i), msg('a', 'b', MessageType.heartbeat, i)]);
    await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => inB.length === 50);
  t.ok(Date.now() - startMs < 5000, `the live peer got all 50 in ${Date.now() - startMs} ms`);
  t.same(
    inB.map((m) => m.term),
    Array.from({ length: 50 }, (_, i) => i),
    'in order',
  );
  for (let i = 0; i < 1000; i++) a.send([msg('a', 'd', MessageType.heartbeat, i)]);
  const s = a.stats();
  t.ok(s.failedCalls >= 1, `calls to the dead peer failed (${s.failedCalls})`);
  t.ok(s.dropped >= 1000 - 100, `the dead peer's queue dropped the oldest (${s.dropped} dropped)`);
});
