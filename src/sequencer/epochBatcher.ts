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
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
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
    else if (this.timer === undefined) {
      if (this.epochMs === 0) this.timer = setImmediate(() => this.close());
      else this.timer = setTimeout(() => this.close(), Math.max(0, this.lastCloseMs + this.epochMs - performance.now()));
    }
  }

  /** Closes the open batch now (e.g. before a control entry, or at shutdown). */
  close(): void {
    if (this.timer !== undefined) {
      if (this.epochMs === 0) clearImmediate(this.timer as NodeJS.Immediate);
      else clearTimeout(this.timer as NodeJS.Timeout);
      this.timer = undefined;
    }
    if (this.open.length === 0) return;
    this.lastCloseMs = performance.now();
    const items = this.open;
    this.open = [];
    this.onClose(items);
  }
}
