// The agent batch ids HTTP ingest has stored (src/api/ingest.ts): a batch resent after a lost
// acknowledgement is answered "duplicate" instead of being stored twice, also after a restart.
//
// An id is written to the store table `ingest_batches` in the same transaction as the batch's rows
// (a commit hook, as the inputs' checkpoints are), so a crash can never keep one without the
// other. Which transaction holds the rows: the serve pipeline numbers the rows written into it
// (positions) and says up to which position batches have been appended to the store's open
// transaction; an id is written by the first commit whose transaction holds all of its rows, and
// never when the store refused a batch holding some of them (the request then fails, the agent
// retries). Kept: the last DEDUP_PER_AGENT ids of each agent in the table and, in memory, of at
// most DEDUP_AGENTS agents (the least recently seen forgotten first).
//
// Without a store (tests of the request handling alone) ids are only remembered in memory.

import type { CommitHook, FlowStore } from '../store/store.js';

// An agent resends only its oldest unacknowledged batch, so a short window per agent suffices.
export const DEDUP_PER_AGENT = 1024;
export const DEDUP_AGENTS = 10_000;

/** Row positions of the pipeline the batches' rows go through (IngestPipeline). */
export interface RowPositions {
  readonly written: number;
  readonly appendedUpTo: number;
  readonly refused: readonly (readonly [number, number])[];
}

interface Pending {
  key: string;
  seq: number;
  /** Positions of the request's rows: [start, end). */
  start: number;
  end: number;
  /** Written in the transaction being committed. */
  written: boolean;
}

const TABLE = 'ingest_batches';

export class BatchIds {
  private readonly agents = new Map<string, { seqs: Set<number>; order: number[] }>();
  private readonly pending: Pending[] = [];
  private loading = false;
  private loaded = false;

  constructor(
    private readonly store?: FlowStore,
    private readonly rows?: RowPositions,
  ) {
    store?.addCommitHook({
      pending: () => this.loading || this.pending.some((p) => !p.written && this.eligible(p)),
      write: (run) => this.write(run),
      aborted: () => {
        for (const p of this.pending) p.written = false;
      },
    });
  }

  /** Read the stored ids (once). */
  async load(): Promise<void> {
    if (this.loaded) return;
    if (this.store !== undefined) {
      this.loading = true;
      await this.store.flush();
      if (this.loading) throw new Error('ingest batch ids not read (store commit did not run the hook)');
    }
    this.loaded = true;
  }

  has(key: string, seq: number): boolean {
    return this.agents.get(key)?.seqs.has(seq) ?? false;
  }

  /** The position after the last row written so far (before and after a request writes its rows). */
  position(): number {
    return this.rows?.written ?? 0;
  }

  /** The request whose rows are at [start, end) is being committed: write its id with them. */
  queue(key: string, seq: number, start: number, end: number): void {
    this.pending.push({ key, seq, start, end, written: false });
  }

  /** The request's commit returned (`stored`) or failed: its id is remembered or forgotten. */
  settle(key: string, seq: number, stored: boolean): void {
    const i = this.pending.findIndex((p) => p.key === key && p.seq === seq);
    if (i >= 0) this.pending.splice(i, 1);
    if (stored) this.remember(key, seq);
  }

  private eligible(p: Pending): boolean {
    const r = this.rows;
    if (r === undefined) return true;
    return r.appendedUpTo >= p.end && !r.refused.some(([a, b]) => a < p.end && b > p.start);
  }

  private async write(run: Parameters<CommitHook['write']>[0]): Promise<void> {
    if (this.loading) {
      await run(`CREATE TABLE IF NOT EXISTS ${TABLE} (agent VARCHAR, seq BIGINT, PRIMARY KEY (agent, seq))`);
      for (const [agent, seq] of await run(`SELECT agent, seq FROM ${TABLE} ORDER BY agent, seq`)) {
        this.remember(String(agent), Number(seq));
      }
      this.loading = false;
    }
    for (const p of this.pending) {
      if (p.written || !this.eligible(p)) continue;
      await run(`INSERT INTO ${TABLE} VALUES ($1, $2) ON CONFLICT DO NOTHING`, [p.key, p.seq]);
      await run(`DELETE FROM ${TABLE} WHERE agent = $1 AND seq <= $2`, [p.key, p.seq - DEDUP_PER_AGENT]);
      p.written = true;
    }
  }

  private remember(key: string, seq: number): void {
    let a = this.agents.get(key);
    if (a === undefined) {
      if (this.agents.size >= DEDUP_AGENTS) this.agents.delete(this.agents.keys().next().value as string);
      a = { seqs: new Set(), order: [] };
    } else this.agents.delete(key); // re-inserted below: Map order is least recently seen first
    this.agents.set(key, a);
    if (a.seqs.has(seq)) return;
    a.seqs.add(seq);
    a.order.push(seq);
    if (a.order.length > DEDUP_PER_AGENT) a.seqs.delete(a.order.shift() as number);
  }
}
