import t from 'tap';
import { StateChecksum, murmur3x86x128, pairDigest } from '../src/partitions/index.js';

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

t.test('the running sum equals the sum of pair digests modulo 2^128, across carries and borrows', (t) => {
  const mod = 1n << 128n;
  let expected = (mod - 5n) % mod; // starts just below 2^128, so the first additions carry out of the top limb
  const sum = new StateChecksum(expected);
  for (let i = 0; i < 200; i++) {
    const [k, v] = kv(`key-${i}`, `value-${i * 7}`);
    sum.add(k, v);
    expected = (expected + pairDigest(k, v)) % mod;
    if (i % 3 === 0) {
      sum.remove(k, v);
      expected = (expected - pairDigest(k, v) + mod) % mod;
    }
  }
  t.equal(sum.value, expected);
  t.equal(sum.toHex(), expected.toString(16).padStart(32, '0'));
  t.end();
});

t.test('a stored checksum read back continues the same sum', (t) => {
  const a = new StateChecksum();
  a.add(...kv('a', '1'));
  const b = new StateChecksum(a.value);
  a.add(...kv('b', '2'));
  b.add(...kv('b', '2'));
  t.equal(b.toHex(), a.toHex());
  t.end();
});

t.test('the pair hash is MurmurHash3_x86_128: the reference test vectors (PeterScott/murmur3 test.c)', (t) => {
  const hex = (text: string, seed: number): string => {
    const bytes = Buffer.from(text);
    const out: [number, number, number, number] = [0, 0, 0, 0];
    murmur3x86x128(bytes, bytes.length, seed, out);
    return [out[3], out[2], out[1], out[0]].map((x) => x.toString(16).padStart(8, '0')).join('');
  };
  t.equal(hex('Hello, world!', 123), '61c9129e5a1aacd7a41621629e37c886');
  t.equal(hex('Hello, world!', 321), 'd5fbdcb3c26c4193045880c5a7170f0f');
  t.equal(hex('xxxxxxxxxxxxxxxxxxxxxxxxxxxx', 123), '5e40bab278825a164cf929d31fec6047');
  t.equal(hex('', 123), 'fedc524526f3e79926f3e79926f3e799');
  t.end();
});
