import t from 'tap';
import { seededRandom } from '../src/util/index.js';
import { LockManager, LockMode } from '../src/scheduler/lockManager.js';
import type { LockRequest } from '../src/scheduler/lockManager.js';

const k = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const S = (key: Uint8Array): LockRequest => ({ mode: LockMode.shared, target: { kind: 'point', key } });
const X = (key: Uint8Array): LockRequest => ({ mode: LockMode.exclusive, target: { kind: 'point', key } });
const SR = (lower: Uint8Array, upper: Uint8Array): LockRequest => ({
  mode: LockMode.shared,
  target: { kind: 'range', range: { lower, upper } },
});
const XR = (lower: Uint8Array, upper: Uint8Array): LockRequest => ({
  mode: LockMode.exclusive,
  target: { kind: 'range', range: { lower, upper } },
});

t.test('transactions on different keys are all ready at once', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(1))]), true);
  t.equal(lm.request(2, [X(k(2))]), true);
  t.equal(lm.request(3, [S(k(3)), X(k(4))]), true);
  t.equal(lm.activeCount, 3);
  t.equal(lm.waitingCount, 0);
  t.end();
});

t.test('a writer waits for an earlier reader of the same key', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [S(k(1))]), true);
  t.equal(lm.request(2, [X(k(1))]), false);
  t.equal(lm.isReady(2), false);
  t.equal(lm.waitingCount, 1);
  t.same(lm.release(1), [2]);
  t.equal(lm.isReady(2), true);
  t.equal(lm.waitingCount, 0);
  t.end();
});

t.test('a reader waits for an earlier writer of the same key', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(1))]), true);
  t.equal(lm.request(2, [S(k(1))]), false);
  t.same(lm.release(1), [2]);
  t.end();
});

t.test('readers of the same key share it', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [S(k(1))]), true);
  t.equal(lm.request(2, [S(k(1))]), true);
  t.equal(lm.request(3, [S(k(1)), S(k(2))]), true);
  t.equal(lm.waitingCount, 0);
  t.end();
});

t.test('a reader that arrives after a waiting writer waits behind it', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [S(k(1))]), true);
  t.equal(lm.request(2, [X(k(1))]), false);
  t.equal(lm.request(3, [S(k(1))]), false, 'reader 3 must not overtake writer 2');
  t.same(lm.release(1), [2]);
  t.equal(lm.isReady(3), false);
  t.same(lm.release(2), [3]);
  t.end();
});

t.test('a writer waits for every reader before it, not only the first', (t) => {
  const lm = new LockManager();
  lm.request(1, [S(k(1))]);
  lm.request(2, [S(k(1))]);
  lm.request(3, [S(k(1))]);
  t.equal(lm.request(4, [X(k(1))]), false);
  t.same(lm.release(2), []);
  t.same(lm.release(1), []);
  t.equal(lm.isReady(4), false);
  t.same(lm.release(3), [4]);
  t.end();
});

t.test('a chain of conflicting transactions becomes ready in request order', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(10, [X(k(7))]), true);
  t.equal(lm.request(11, [S(k(7))]), false);
  t.equal(lm.request(12, [X(k(7))]), false);
  t.equal(lm.request(13, [S(k(7))]), false);
  t.equal(lm.request(14, [S(k(7))]), false);
  t.equal(lm.request(15, [X(k(7))]), false);
  t.same(lm.release(10), [11]);
  t.same(lm.release(11), [12]);
  t.same(lm.release(12), [13, 14]);
  t.same(lm.release(14), []);
  t.same(lm.release(13), [15]);
  t.same(lm.release(15), []);
  t.end();
});

t.test('a ready transaction that keeps running does not block later non-conflicting ones', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(1)), S(k(2))]), true);
  t.equal(lm.request(2, [X(k(1))]), false);
  // 1 stays unreleased (waiting for remote reads); these do not touch what 1 or 2 hold exclusively.
  t.equal(lm.request(3, [S(k(2)), X(k(3))]), true);
  t.equal(lm.request(4, [X(k(3))]), false);
  t.same(lm.release(3), [4]);
  t.equal(lm.request(5, [X(k(9)), SR(k(4), k(8))]), true);
  t.equal(lm.isReady(2), false);
  t.end();
});

t.test('a point conflicts with a range that contains it and not with one that does not', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [XR(k(2), k(5))]), true);
  t.equal(lm.request(2, [S(k(3))]), false, 'inside');
  t.equal(lm.request(3, [S(k(2))]), false, 'lower bound is inclusive');
  t.equal(lm.request(4, [S(k(5))]), true, 'upper bound is exclusive');
  t.equal(lm.request(5, [X(k(1))]), true, 'below');
  t.equal(lm.request(6, [S(k(4, 200))]), false, 'a longer key inside the range');
  t.same(lm.release(1), [2, 3, 6]);
  t.end();
});

t.test('a range waits for an earlier point holder inside it, and not outside it', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(3))]), true);
  t.equal(lm.request(2, [X(k(5))]), true);
  t.equal(lm.request(3, [SR(k(4), k(5))]), true, 'neither 3 nor 5 is in [4, 5)');
  t.equal(lm.request(4, [SR(k(2), k(4))]), false, '3 is in [2, 4)');
  t.equal(lm.request(5, [XR(k(5), k(6))]), false, '5 is in [5, 6)');
  t.same(lm.release(1), [4]);
  t.same(lm.release(2), [5]);
  t.end();
});

t.test('shared ranges and shared points do not conflict', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [SR(k(0), k(9))]), true);
  t.equal(lm.request(2, [S(k(4))]), true);
  t.equal(lm.request(3, [SR(k(3), k(5))]), true);
  t.equal(lm.request(4, [X(k(4))]), false);
  t.equal(lm.request(5, [SR(k(4), k(6))]), false, 'a shared range behind a waiting writer waits too');
  t.same(lm.release(1), []);
  t.same(lm.release(2), []);
  t.same(lm.release(3), [4]);
  t.same(lm.release(4), [5]);
  t.end();
});

t.test('ranges conflict when they overlap and not when they only touch', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [XR(k(2), k(5))]), true);
  t.equal(lm.request(2, [XR(k(5), k(8))]), true, '[2,5) and [5,8) only touch');
  t.equal(lm.request(3, [SR(k(0), k(2))]), true, '[0,2) and [2,5) only touch');
  t.equal(lm.request(4, [SR(k(4), k(6))]), false, 'overlaps both');
  t.equal(lm.request(5, [XR(k(0), k(1))]), false, 'conflicts with the shared range of 3');
  t.equal(lm.request(6, [SR(k(3), k(3, 1))]), false, 'inside [2,5)');
  t.same(lm.release(3), [5]);
  t.same(lm.release(1), [6]);
  t.same(lm.release(2), [4]);
  t.end();
});

t.test('an empty or inverted range takes no lock', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(5))]), true);
  t.equal(lm.request(2, [XR(k(5), k(5))]), true);
  t.equal(lm.request(3, [XR(k(6), k(2))]), true);
  t.same(lm.sizes(), { transactions: 3, pointKeys: 1, rangeLocks: 0 });
  t.end();
});

t.test('a transaction that asks for one key shared and exclusive holds it exclusively and never waits for itself', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [S(k(1)), X(k(1)), S(k(1))]), true);
  t.equal(lm.request(2, [S(k(1))]), false, 'held exclusively, so a later reader waits');
  t.same(lm.release(1), [2]);
  t.equal(lm.request(3, [XR(k(0), k(9)), S(k(4)), SR(k(3), k(5))]), false, 'waits only for reader 2');
  t.same(lm.release(2), [3]);
  t.equal(lm.request(4, [SR(k(4), k(5))]), false);
  t.same(lm.release(3), [4]);
  t.end();
});

t.test('the same key in different Uint8Array views is the same lock', (t) => {
  const lm = new LockManager();
  const backing = Uint8Array.from([9, 1, 2, 9]);
  t.equal(lm.request(1, [X(backing.subarray(1, 3))]), true);
  t.equal(lm.request(2, [S(Buffer.from([1, 2]))]), false);
  t.equal(lm.request(3, [S(k(1, 2, 0))]), true, 'a longer key is a different key');
  t.end();
});

t.test('a transaction with no lock requests is ready at once', (t) => {
  const lm = new LockManager();
  t.equal(lm.request(1, [X(k(1))]), true);
  t.equal(lm.request(2, []), true);
  t.equal(lm.isReady(2), true);
  t.same(lm.release(2), []);
  t.same(lm.sizes(), { transactions: 1, pointKeys: 1, rangeLocks: 0 });
  t.end();
});

t.test('release returns every newly ready transaction in ascending seq order', (t) => {
  const lm = new LockManager();
  lm.request(1, [X(k(1)), X(k(2)), XR(k(5), k(7))]);
  lm.request(2, [S(k(2))]);
  lm.request(3, [S(k(6))]);
  lm.request(4, [S(k(1)), X(k(9))]);
  lm.request(5, [X(k(9))]);
  lm.request(6, [SR(k(0), k(3))]);
  t.equal(lm.waitingCount, 5);
  t.same(lm.release(1), [2, 3, 4, 6]);
  t.equal(lm.waitingCount, 1);
  t.same(lm.release(4), [5]);
  t.end();
});

t.test('after every transaction is released no internal state is left', (t) => {
  const lm = new LockManager();
  lm.request(1, [S(k(1)), X(k(2)), SR(k(3), k(6))]);
  lm.request(2, [S(k(1))]);
  lm.request(3, [X(k(1)), XR(k(0), k(9))]);
  lm.request(4, [S(k(4)), X(k(2))]);
  lm.request(5, []);
  t.same(lm.sizes(), { transactions: 5, pointKeys: 3, rangeLocks: 2 });
  const order: number[] = [];
  const ready = [1, 2, 5];
  while (ready.length > 0) {
    const seq = ready.shift() as number;
    order.push(seq);
    ready.push(...lm.release(seq));
  }
  t.same(order, [1, 2, 5, 3, 4]);
  t.same(lm.sizes(), { transactions: 0, pointKeys: 0, rangeLocks: 0 });
  t.equal(lm.activeCount, 0);
  t.equal(lm.waitingCount, 0);
  t.end();
});

t.test('a held lock does not move when the caller later mutates its key buffer', (t) => {
  const lm = new LockManager();
  const key = k(1);
  const lower = k(5);
  lm.request(1, [X(key), XR(lower, k(7))]);
  key[0] = 2;
  lower[0] = 0;
  t.equal(lm.request(2, [S(k(1))]), false);
  t.equal(lm.request(3, [S(k(2))]), true);
  t.equal(lm.request(4, [S(k(5))]), false);
  t.equal(lm.request(5, [S(k(1, 0))]), true, 'not in [5, 7)');
  t.end();
});

t.test('misuse by the scheduler is reported as a bug', (t) => {
  const lm = new LockManager();
  lm.request(5, [X(k(1))]);
  lm.request(6, [X(k(1))]);
  t.throws(() => lm.request(5, []), /not after 6/, 'a seq that is not increasing');
  t.throws(() => lm.request(1.5, []), /not an integer/);
  t.throws(() => lm.release(6), /still waiting/, 'releasing a waiting transaction');
  t.throws(() => lm.release(42), /holds no locks/, 'releasing an unknown transaction');
  t.throws(() => lm.isReady(42), /holds no locks/);
  t.same(lm.release(5), [6]);
  t.throws(() => lm.release(5), /holds no locks/, 'releasing twice');
  t.end();
});

// --- Randomized check against a brute-force model -------------------------------------------------


/** The brute-force meaning of a conflict, written without the lock manager's helpers. */
function covers(lock: LockRequest, key: Uint8Array): boolean {
  if (lock.target.kind === 'point') return Buffer.compare(lock.target.key, key) === 0;
  const { lower, upper } = lock.target.range;
  return Buffer.compare(lower, key) <= 0 && Buffer.compare(key, upper) < 0;
}

function locksConflict(a: LockRequest, b: LockRequest): boolean {
  if (a.mode === LockMode.shared && b.mode === LockMode.shared) return false;
  if (a.target.kind === 'point') return covers(b, a.target.key);
  if (b.target.kind === 'point') return covers(a, b.target.key);
  const ra = a.target.range;
  const rb = b.target.range;
  if (Buffer.compare(ra.lower, ra.upper) >= 0 || Buffer.compare(rb.lower, rb.upper) >= 0) return false;
  return Buffer.compare(ra.lower, rb.upper) < 0 && Buffer.compare(rb.lower, ra.upper) < 0;
}

function txnsConflict(a: readonly LockRequest[], b: readonly LockRequest[]): boolean {
  return a.some((x) => b.some((y) => locksConflict(x, y)));
}

function randomKey(rnd: () => number): Uint8Array {
  // One- and two-byte keys over a tiny alphabet, so points and ranges collide often.
  return rnd() < 0.5 ? k(Math.floor(rnd() * 4)) : k(Math.floor(rnd() * 4), Math.floor(rnd() * 3));
}

function randomTxn(rnd: () => number): LockRequest[] {
  const n = Math.floor(rnd() * 5);
  const out: LockRequest[] = [];
  for (let i = 0; i < n; i++) {
    const mode = rnd() < 0.5 ? LockMode.shared : LockMode.exclusive;
    if (rnd() < 0.75) {
      out.push({ mode, target: { kind: 'point', key: randomKey(rnd) } });
    } else {
      let lower = randomKey(rnd);
      let upper = randomKey(rnd);
      if (Buffer.compare(lower, upper) > 0 && rnd() < 0.9) [lower, upper] = [upper, lower];
      out.push({ mode, target: { kind: 'range', range: { lower, upper } } });
    }
  }
  return out;
}

interface Trace {
  readonly events: string[];
  readonly failures: string[];
}

/** Runs one random schedule, checking the lock manager against the model after every step. */
function runRandomSchedule(seed: number, txnCount: number): Trace {
  const rnd = seededRandom(seed);
  const lm = new LockManager();
  const txns: LockRequest[][] = [];
  // earlierConflicts[seq]: the earlier seqs whose locks conflict with seq's, computed once by brute force.
  const earlierConflicts: number[][] = [];
  const released = new Set<number>();
  const readyAt = new Map<number, number>();
  const releasedAt = new Map<number, number>();
  const events: string[] = [];
  const failures: string[] = [];
  let clock = 0;
  const fail = (msg: string): void => {
    if (failures.length < 5) failures.push(`seed ${seed} step ${clock}: ${msg}`);
  };

  const check = (): void => {
    const active = txns.map((_, seq) => seq).filter((seq) => !released.has(seq));
    for (const seq of active) {
      // Ready exactly when every earlier conflicting transaction has released.
      const expected = (earlierConflicts[seq] as number[]).every((e) => released.has(e));
      if (lm.isReady(seq) !== expected) fail(`txn ${seq} ready=${lm.isReady(seq)}, model says ${expected}`);
    }
    const ready = active.filter((seq) => lm.isReady(seq));
    const readySet = new Set(ready);
    for (const b of ready) {
      for (const a of earlierConflicts[b] as number[]) {
        if (readySet.has(a)) fail(`ready txns ${a} and ${b} conflict`);
      }
    }
    if (lm.activeCount !== active.length) fail(`activeCount ${lm.activeCount}, expected ${active.length}`);
    if (lm.waitingCount !== active.length - ready.length) fail(`waitingCount ${lm.waitingCount} is wrong`);
  };

  while (released.size < txnCount) {
    clock++;
    const readyUnreleased = [...readyAt.keys()].filter((seq) => !released.has(seq));
    const canRequest = txns.length < txnCount;
    if (canRequest && (readyUnreleased.length === 0 || rnd() < 0.55)) {
      const seq = txns.length;
      const reqs = randomTxn(rnd);
      txns.push(reqs);
      earlierConflicts.push(txns.slice(0, seq).flatMap((earlier, e) => (txnsConflict(earlier, reqs) ? [e] : [])));
      const ready = lm.request(seq, reqs);
      events.push(`req ${seq} ${ready}`);
      if (ready) readyAt.set(seq, clock);
    } else if (readyUnreleased.length > 0) {
      const seq = readyUnreleased[Math.floor(rnd() * readyUnreleased.length)] as number;
      const newly = lm.release(seq);
      released.add(seq);
      releasedAt.set(seq, clock);
      events.push(`rel ${seq} -> ${newly.join(',')}`);
      for (let i = 1; i < newly.length; i++) {
        if ((newly[i - 1] as number) >= (newly[i] as number)) fail(`release returned ${newly.join(',')} out of order`);
      }
      for (const s of newly) {
        if (readyAt.has(s)) fail(`txn ${s} reported ready twice`);
        readyAt.set(s, clock);
      }
    } else {
      fail(`stuck: ${lm.activeCount} active transactions and none is ready`);
      break;
    }
    check();
  }

  // Conflicting pairs were granted strictly in seq order: the later one only after the earlier released.
  for (let b = 0; b < txns.length; b++) {
    for (const a of earlierConflicts[b] as number[]) {
      const relA = releasedAt.get(a);
      const readyB = readyAt.get(b);
      if (relA === undefined || readyB === undefined || relA > readyB) {
        fail(`conflicting txns ${a} and ${b}: ${b} ready at ${readyB}, ${a} released at ${relA}`);
      }
    }
  }
  const sizes = lm.sizes();
  if (sizes.transactions + sizes.pointKeys + sizes.rangeLocks !== 0) fail(`state left behind: ${JSON.stringify(sizes)}`);
  return { events, failures };
}

t.test('random schedules grant only compatible locks, in seq order, and every transaction finishes', (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const { failures, events } = runRandomSchedule(seed, 60);
    t.same(failures, [], `seed ${seed}`);
    t.ok(events.length >= 120, `seed ${seed} requested and released every transaction`);
  }
  t.end();
});

t.test('the same seed gives the same grant sequence every time', (t) => {
  for (const seed of [7, 42, 1234]) {
    const first = runRandomSchedule(seed, 80);
    const second = runRandomSchedule(seed, 80);
    t.same(second.events, first.events, `seed ${seed}`);
    t.ok(first.events.some((e) => /-> \d/.test(e)), `seed ${seed} exercised waiting`);
  }
  t.end();
});
