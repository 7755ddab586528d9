// The decode → store hand-off. Decoders write rows into the pipeline (it is their BatchSink);
// full batches go to the store writer one at a time, in order, and come back to a pool once
// appended, so steady-state ingest allocates no batches. The number of batches waiting for the
// store is bounded: when it is reached `backlogFull` turns true and the receive loop stops
// draining its queue, so pressure ends as counted queue drops at the receiver, never as memory.

import type { ExporterCounters } from './counters.js';
import { FlowBatch } from './flow-batch.js';
import type { BatchSink } from './sink.js';

export interface FlowWriter {
  append(batch: FlowBatch): Promise<void>;
  /** Commit; resolves to the total number of flows durably stored. */
  flush(): Promise<number>;
}

export interface IngestPipelineOptions {
  writer: FlowWriter;
  counters: ExporterCounters;
  batchSize?: number;
  /** Batches waiting for the store before the receive loop is held back. */
  maxBacklog?: number;
  onError?: (err: Error) => void;
  /** Applied to each full batch before it goes to the store (per-exporter settings). */
  transform?: (batch: FlowBatch) => void;
}

export class IngestPipeline implements BatchSink {
  private current: FlowBatch | undefined;
  private readonly pool: FlowBatch[] = [];
  private chain: Promise<void> = Promise.resolve();
  private waiting = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly batchSize: number;
  private readonly maxBacklog: number;
  /** Flows handed to the store (appended, maybe not yet committed). */
  appended = 0;
  /** Flows durably stored, as of the last flush. */
  stored = 0;
  /** Flows lost because the store refused a batch. */
  failed = 0;
  /**
   * Row positions: every row written into the pipeline gets the next one (rows a transform drops
   * included). `appendedUpTo`: the position up to which batches have been appended to the store
   * (in order; the rows are then in the store's open transaction); `refused`: the position ranges
   * [start, end) of recent batches the store refused. A writer that must commit something together
   * with its rows (HTTP ingest's batch ids) waits until appendedUpTo passes their end.
   */
  appendedUpTo = 0;
  readonly refused: [number, number][] = [];
  private handedRows = 0;

  constructor(private readonly opts: IngestPipelineOptions) {
    this.batchSize = opts.batchSize ?? 8192;
    this.maxBacklog = opts.maxBacklog ?? 32;
  }

  batch(): FlowBatch {
    let b = this.current;
    if (b === undefined || b.full) {
      if (b !== undefined) this.handOff(b);
      b = this.pool.pop() ?? new FlowBatch(this.batchSize);
      this.current = b;
    }
    return b;
  }

  /** The position after the last row written so far. */
  get written(): number {
    return this.handedRows + (this.current?.length ?? 0);
  }

  get backlog(): number {
    return this.waiting;
  }

  get backlogFull(): boolean {
    return this.waiting >= this.maxBacklog;
  }

  /** Resolves once the backlog is below its bound. */
  whenDrained(): Promise<void> {
    if (!this.backlogFull) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private handOff(b: FlowBatch): void {
    const start = this.handedRows;
    const end = start + b.length;
    this.handedRows = end;
    this.opts.transform?.(b);
    this.waiting++;
    this.chain = this.chain
      .then(() => this.opts.writer.append(b))
      .then(
        () => {
          this.appended += b.length;
          this.appendedUpTo = end;
        },
        (err: Error) => {
          this.refused.push([start, end]);
          if (this.refused.length > 64) this.refused.shift();
          this.appendedUpTo = end;
          this.failed += b.length;
          this.opts.counters.add('store', 'store_errors', b.length);
          this.opts.onError?.(err);
        },
      )
      .then(() => {
        this.waiting--;
        b.reset();
        this.pool.push(b);
        if (!this.backlogFull && this.drainWaiters.length) {
          const ws = this.drainWaiters;
          this.drainWaiters = [];
          for (const w of ws) w();
        }
      });
  }

  /** Hand the partial batch to the store, wait for every append, commit. Returns flows stored. */
  async flush(): Promise<number> {
    if (this.current !== undefined && this.current.length > 0) {
      this.handOff(this.current);
      this.current = undefined;
    }
    await this.chain;
    this.stored = await this.opts.writer.flush();
    return this.stored;
  }
}
