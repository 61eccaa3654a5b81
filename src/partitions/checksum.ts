// An order-independent checksum of a set of key/value pairs, updated incrementally.
//
// The state checksum is the sum, modulo 2^128, of MurmurHash3_x86_128(len(key) ‖ key ‖ value) over every
// stored pair (len as 4 bytes big-endian, seed 0, the four 32-bit outputs h1..h4 read as one number with
// h1 most significant). A sum does not depend on the order in which pairs were written, so replicas and
// replays that reach the same state agree, and a write updates it in O(1): subtract the old pair, add
// the new one. (XOR would also be order-independent, but would let two equal corruptions cancel.)
//
// Why MurmurHash3 rather than a cryptographic hash: the checksum detects replicas that diverged through
// a bug, not an adversary choosing rows to hide a divergence, and every row write hashes two pairs. In
// plain JavaScript it costs ~0.1 µs for a typical row, where node:crypto's SHA-256 cost 1–3 µs per call
// (mostly the call itself), a tenth of the whole cost of a small transaction (ADR 0001, "Performance").

const MOD = 1n << 128n;
const MASK = MOD - 1n;
const LIMB = 0x1_0000_0000;

/** A 128-bit value as four 32-bit limbs, least significant first. */
type Limbs = [number, number, number, number];

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function word(b: Uint8Array, i: number): number {
  return (b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24);
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

/**
 * MurmurHash3_x86_128 (Austin Appleby's reference, public domain) of bytes[0, length) with `seed`;
 * writes h1..h4 to out[3]..out[0] (out is least significant first).
 */
export function murmur3x86x128(bytes: Uint8Array, length: number, seed: number, out: Limbs): void {
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  const blocksEnd = length & ~15;
  for (let i = 0; i < blocksEnd; i += 16) {
    let k1 = word(bytes, i);
    let k2 = word(bytes, i + 4);
    let k3 = word(bytes, i + 8);
    let k4 = word(bytes, i + 12);
    k1 = Math.imul(rotl32(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl32(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl32(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl32(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl32(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl32(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl32(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl32(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  // The tail: up to 15 bytes, little-endian into k1..k4 (the reference's fall-through switch).
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  for (let i = length - 1; i >= blocksEnd; i--) {
    const b = bytes[i] as number;
    const at = i - blocksEnd;
    const shift = (at & 3) << 3;
    if (at < 4) k1 |= b << shift;
    else if (at < 8) k2 |= b << shift;
    else if (at < 12) k3 |= b << shift;
    else k4 |= b << shift;
  }
  const tail = length - blocksEnd;
  if (tail > 12) h4 ^= Math.imul(rotl32(Math.imul(k4, C4), 18), C1);
  if (tail > 8) h3 ^= Math.imul(rotl32(Math.imul(k3, C3), 17), C4);
  if (tail > 4) h2 ^= Math.imul(rotl32(Math.imul(k2, C2), 16), C3);
  if (tail > 0) h1 ^= Math.imul(rotl32(Math.imul(k1, C1), 15), C2);
  h1 ^= length;
  h2 ^= length;
  h3 ^= length;
  h4 ^= length;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[3] = h1 >>> 0;
  out[2] = h2 >>> 0;
  out[1] = h3 >>> 0;
  out[0] = h4 >>> 0;
}

/** Where a pair is laid out for hashing; grown when a pair does not fit, never shrunk. */
let scratch = Buffer.allocUnsafe(256);

/** The digest of one pair, as limbs. */
function digestLimbs(key: Uint8Array, value: Uint8Array, out: Limbs): void {
  const size = 4 + key.length + value.length;
  if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
  scratch.writeUInt32BE(key.length, 0);
  scratch.set(key, 4);
  scratch.set(value, 4 + key.length);
  murmur3x86x128(scratch, size, 0, out);
}

function limbsToBigInt(l: Limbs): bigint {
  return (BigInt(l[3]) << 96n) | (BigInt(l[2]) << 64n) | (BigInt(l[1]) << 32n) | BigInt(l[0]);
}

export function pairDigest(key: Uint8Array, value: Uint8Array): bigint {
  const l: Limbs = [0, 0, 0, 0];
  digestLimbs(key, value, l);
  return limbsToBigInt(l);
}

/**
 * The running sum is kept in 32-bit limbs of plain numbers: every row write adds and removes a digest,
 * and BigInt arithmetic allocated on each of those.
 */
export class StateChecksum {
  private readonly sum: Limbs = [0, 0, 0, 0];
  private readonly digest: Limbs = [0, 0, 0, 0];

  constructor(initial = 0n) {
    this.reset(initial);
  }

  add(key: Uint8Array, value: Uint8Array): void {
    digestLimbs(key, value, this.digest);
    let carry = 0;
    for (let i = 0; i < 4; i++) {
      const s = this.sum[i]! + this.digest[i]! + carry;
      carry = s >= LIMB ? 1 : 0;
      this.sum[i] = s - carry * LIMB;
    }
  }

  remove(key: Uint8Array, value: Uint8Array): void {
    digestLimbs(key, value, this.digest);
    let borrow = 0;
    for (let i = 0; i < 4; i++) {
      const s = this.sum[i]! - this.digest[i]! - borrow;
      borrow = s < 0 ? 1 : 0;
      this.sum[i] = s + borrow * LIMB;
    }
  }

  /** Sets the sum back, e.g. when the LMDB transaction it tracked was aborted. */
  reset(sum: bigint): void {
    const v = sum & MASK;
    for (let i = 0; i < 4; i++) this.sum[i] = Number((v >> BigInt(32 * i)) & 0xffffffffn);
  }

  get value(): bigint {
    return limbsToBigInt(this.sum);
  }

  /** 32 lowercase hex digits: how checksums are printed and stored. */
  toHex(): string {
    return formatChecksum(this.value);
  }
}

export function formatChecksum(sum: bigint): string {
  return sum.toString(16).padStart(32, '0');
}

export function parseChecksum(hex: string): bigint {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a state checksum: '${hex}'`);
  return BigInt(`0x${hex}`);
}
