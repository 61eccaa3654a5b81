// Collects submissions into batches for the sequencers: a batch closes one epoch after the previous
// batch closed (periodic epochs: time spent executing counts toward the next epoch instead of leaving
// the CPU idle for a whole epoch after every batch), or at once when it is full.

import { assert } from '../util/index.js';

export class EpochBatcher<T> {
  private open: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Monotonic time (performance.now()) the last batch closed. */
  private lastCloseMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly epochMs: number,
    private readonly maxBatchItems: number,
    /** Called with every closed, non-empty batch, in order. */
    private readonly onClose: (items: T[]) => void,
  ) {
    assert(epochMs > 0 && maxBatchItems > 0, 'epoch and batch size must be positive');
  }

  add(item: T): void {
    this.open.push(item);
    if (this.open.length >= this.maxBatchItems) this.close();
    else if (this.timer === undefined) {
      const waitMs = Math.max(0, this.lastCloseMs + this.epochMs - performance.now());
      this.timer = setTimeout(() => this.close(), waitMs);
    }
  }

  /** Closes the open batch now (e.g. before a control entry, or at shutdown). */
  close(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.open.length === 0) return;
    this.lastCloseMs = performance.now();
    const items = this.open;
    this.open = [];
    this.onClose(items);
  }
}
