import type { FlowBatch } from './flow-batch.js';

/**
 * Where a decoder writes rows. `batch()` returns a batch with room for at least one more row; the
 * sink hands full batches on (to a queue, the store, a test array) and supplies a fresh one.
 */
export interface BatchSink {
  batch(): FlowBatch;
}

/** A sink that keeps every batch it filled: for tests, import and benchmarks. */
export class CollectingSink implements BatchSink {
  readonly batches: FlowBatch[] = [];
  private current: FlowBatch | undefined;
  constructor(
    private readonly make: () => FlowBatch,
    private readonly onFull?: (b: FlowBatch) => void,
  ) {}
  batch(): FlowBatch {
    if (this.current === undefined || this.current.full) {
      if (this.current !== undefined) this.onFull?.(this.current);
      this.current = this.make();
      this.batches.push(this.current);
    }
    return this.current;
  }
  /** Total rows across batches. */
  get rows(): number {
    let n = 0;
    for (const b of this.batches) n += b.length;
    return n;
  }
}
