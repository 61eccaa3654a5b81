// The leader's view of one follower: how far it matches, what to send next, and the flow control that
// bounds the appends in flight to it (etcd's tracker.Progress and tracker.Inflights).

import { assert } from '../../util/index.js';

export const ProgressState = {
  /** We do not know where the follower's log matches: send one append at a time and wait. */
  probe: 'probe',
  /** The follower's log matches: stream appends optimistically, at most maxInflight unacknowledged. */
  replicate: 'replicate',
  /** The follower needs entries we no longer hold: only a snapshot can catch it up (not implemented yet). */
  snapshot: 'snapshot',
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** The last indexes of the unacknowledged appends, oldest first, in a fixed-size ring. */
export class Inflights {
  private readonly ring: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(capacity >= 1, 'inflight capacity must be at least 1');
    this.ring = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflight appends exceed the limit');
    this.ring[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Forgets every append whose last index is ≤ index (the follower acknowledged them). */
  freeLE(index: number): void {
    while (this.count > 0 && (this.ring[this.start] ?? 0) <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.probe;
  /** Probe state: an append is out and unanswered; the next one waits for its answer or a heartbeat. */
  probeSent = false;
  /** Check-quorum: heard from since the last check. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    this.resetState(ProgressState.probe);
    this.next = this.match + 1;
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(): void {
    this.resetState(ProgressState.snapshot);
  }

  /** An acknowledgement up to index; false if it tells us nothing new (a stale or duplicate answer). */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append that followed `rejected`; `hint` is where the follower suggests we
   * probe next. False if the rejection is stale (answers an append we no longer consider current).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.probe:
        return this.probeSent;
      case ProgressState.replicate:
        return this.inflights.full();
      case ProgressState.snapshot:
        return true;
    }
  }
}
