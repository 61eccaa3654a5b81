// An order-independent checksum of a set of key/value pairs, updated incrementally.
//
// The state checksum is the sum, modulo 2^128, of SHA-256(len(key) ‖ key ‖ value) truncated to 128 bits
// over every stored pair. A sum does not depend on the order in which pairs were written, so replicas
// and replays that reach the same state agree, and a write updates it in O(1): subtract the old pair,
// add the new one. (XOR would also be order-independent, but would let two equal corruptions cancel.)

import { hash } from 'node:crypto';

const MOD = 1n << 128n;
const MASK = MOD - 1n;

export function pairDigest(key: Uint8Array, value: Uint8Array): bigint {
  const buf = Buffer.allocUnsafe(4 + key.length + value.length);
  buf.writeUInt32BE(key.length, 0);
  buf.set(key, 4);
  buf.set(value, 4 + key.length);
  const d = hash('sha256', buf, 'buffer');
  return (d.readBigUInt64BE(0) << 64n) | d.readBigUInt64BE(8);
}

export class StateChecksum {
  private sum: bigint;

  constructor(initial = 0n) {
    this.sum = initial & MASK;
  }

  add(key: Uint8Array, value: Uint8Array): void {
    this.sum = (this.sum + pairDigest(key, value)) & MASK;
  }

  remove(key: Uint8Array, value: Uint8Array): void {
    this.sum = (this.sum - pairDigest(key, value) + MOD) & MASK;
  }

  /** Sets the sum back, e.g. when the LMDB transaction it tracked was aborted. */
  reset(sum: bigint): void {
    this.sum = sum & MASK;
  }

  get value(): bigint {
    return this.sum;
  }

  /** 32 lowercase hex digits: how checksums are printed and stored. */
  toHex(): string {
    return formatChecksum(this.sum);
  }
}

export function formatChecksum(sum: bigint): string {
  return sum.toString(16).padStart(32, '0');
}

export function parseChecksum(hex: string): bigint {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a state checksum: '${hex}'`);
  return BigInt(`0x${hex}`);
}
