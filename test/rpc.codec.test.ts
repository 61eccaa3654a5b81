// The Avro codecs of schemas/raft/: every Raft message type survives a round trip through the RPC
// envelope unchanged, and bytes that are not a batch of this schema are refused, not misread.

import t from 'tap';
import { EntryType, MessageType, type Message } from '../src/sequencer/raft/index.js';
import { decodeAck, decodeBatch, encodeAck, encodeBatch, raftSchemaFingerprints, type RaftBatch } from '../src/sequencer/raft/index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A message of `type` with every field set to something other than its default. */
function sample(type: MessageType, i: number): Message {
  return {
    type,
    from: 'n1',
    to: 'n2',
    term: 7 + i,
    logTerm: 6,
    index: 2 ** 40 + i,
    entries:
      type === MessageType.app
        ? [
            { term: 6, index: 2 ** 40 + 1, type: EntryType.normal, data: enc('hello') },
            { term: 7, index: 2 ** 40 + 2, type: EntryType.confChange, data: new Uint8Array([0, 255, 1]) },
            { term: 7, index: 2 ** 40 + 3, type: EntryType.normal, data: new Uint8Array(0) },
          ]
        : [],
    commit: 12345,
    reject: i % 2 === 0,
    rejectHint: 99,
    context: `ctx-${type}-ü`,
  };
}

const plain = (m: Message): unknown => ({ ...m, entries: m.entries.map((e) => ({ ...e, data: [...e.data] })) });

t.test('every message type round-trips through a RaftBatch', async (t) => {
  const types = Object.values(MessageType);
  t.equal(types.length, 11, 'the core has 11 message types');
  const messages = types.map(sample);
  const batch: RaftBatch = { clusterId: 'cluster-1', from: 'n1', to: 'n2', messages };
  const bytes = encodeBatch(batch);
  const back = decodeBatch(bytes);
  if (!back.ok) throw new Error(back.problem);
  t.equal(back.value.clusterId, 'cluster-1');
  t.equal(back.value.from, 'n1');
  t.equal(back.value.to, 'n2');
  t.same(back.value.messages.map(plain), messages.map(plain));
  for (const m of back.value.messages) {
    for (const e of m.entries) t.ok(e.data instanceof Uint8Array, 'entry data decodes as bytes');
  }
  // One at a time too, so a type the batch happens to carry fine alongside others cannot hide a bug.
  for (const m of messages) {
    const one = decodeBatch(encodeBatch({ clusterId: 'c', from: 'n1', to: 'n2', messages: [m] }));
    t.ok(one.ok && JSON.stringify(plain(one.value.messages[0] as Message)) === JSON.stringify(plain(m)), `${m.type} round-trips`);
  }
  t.same(decodeAck(encodeAck({ accepted: 11 })), { accepted: 11 });
});

t.test('bytes that are not a batch of this schema are refused', async (t) => {
  const good = encodeBatch({ clusterId: 'c', from: 'a', to: 'b', messages: [sample(MessageType.heartbeat, 0)] });
  const r1 = decodeBatch(Buffer.from('not avro at all'));
  t.notOk(r1.ok, 'garbage');
  const foreign = Buffer.from(good);
  foreign[5] = (foreign[5] as number) ^ 0xff; // the schema fingerprint
  const r2 = decodeBatch(foreign);
  t.ok(!r2.ok && /schema/.test(r2.problem), 'another schema version');
  const r3 = decodeBatch(good.subarray(0, good.length - 3));
  t.notOk(r3.ok, 'truncated');
  t.equal(Object.keys(raftSchemaFingerprints()).length, 8, 'all schema files load');
});
