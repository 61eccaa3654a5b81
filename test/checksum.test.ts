import t from 'tap';
import { StateChecksum } from '../src/partitions/index.js';

const kv = (k: string, v: string): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)];

t.test('the checksum does not depend on the order pairs were added', (t) => {
  const pairs = [kv('a', '1'), kv('b', '2'), kv('c', '3')];
  const forward = new StateChecksum();
  const backward = new StateChecksum();
  for (const [k, v] of pairs) forward.add(k, v);
  for (const [k, v] of [...pairs].reverse()) backward.add(k, v);
  t.equal(forward.toHex(), backward.toHex());
  t.end();
});

t.test('removing a pair returns the checksum to what it was before the pair was added', (t) => {
  const sum = new StateChecksum();
  sum.add(...kv('a', '1'));
  const before = sum.toHex();
  sum.add(...kv('b', '2'));
  sum.remove(...kv('b', '2'));
  t.equal(sum.toHex(), before);
  t.end();
});

t.test('the checksum tells a key from a value with the same bytes', (t) => {
  const a = new StateChecksum();
  const b = new StateChecksum();
  a.add(...kv('ab', 'c'));
  b.add(...kv('a', 'bc'));
  t.not(a.toHex(), b.toHex());
  t.end();
});

t.test('two equal pairs do not cancel each other out', (t) => {
  const sum = new StateChecksum();
  sum.add(...kv('a', '1'));
  sum.add(...kv('a', '1'));
  t.not(sum.toHex(), new StateChecksum().toHex());
  t.end();
});
