// Collects submissions into batches for the sequencers: a batch closes one epoch after the previous
// batch closed (periodic epochs: time spent executing counts toward the next epoch instead of leaving
// the CPU idle for a whole epoch after every batch), or at once when it is full.
//
// An epoch of 0 ms (opt-in, ADR 0006) has no fixed interval: a batch closes as soon as the event loop
// has taken in what arrived, so a lone statement waits only for its flush, while under load everything
// that arrives during one batch's execution and flush forms the next (group commit).

import { assert } from '../util/index.js';

export class EpochBatcher<T> {
  private open: T[] = [];
  /** The pending close: a timer while the epoch runs, an immediate once it is over; never both. */
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** Monotonic time (performance.now()) the last batch closed. */
  private lastCloseMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly epochMs: number,
    private readonly maxBatchItems: number,
    /** Called with every closed, non-empty batch, in order. */
    private readonly onClose: (items: T[]) => void,
  ) {
    assert(epochMs >= 0 && maxBatchItems > 0, 'the epoch must not be negative and the batch size must be positive');
  }

  add(item: T): void {
    this.open.push(item);
    if (this.open.length >= this.maxBatchItems) this.close();
    else if (this.timer === undefined && this.immediate === undefined) {
      const waitMs = this.lastCloseMs + this.epochMs - performance.now();
      // An epoch that is already over (the node was busy executing the last batch) closes at the next
      // turn of the event loop: setTimeout(0) would idle for its 1 ms minimum on every busy cycle.
      if (waitMs <= 0) this.immediate = setImmediate(() => this.close());
      else this.timer = setTimeout(() => this.close(), waitMs);
    }
  }

  /** Closes the open batch now (e.g. before a control entry, or at shutdown). */
  close(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.open.length === 0) return;
    this.lastCloseMs = performance.now();
    const items = this.open;
    this.open = [];
    this.onClose(items);
  }
}
