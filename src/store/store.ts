// The flow store interface (DESIGN §5). The embedded implementation is DuckDB (./duckdb/); a
// ClickHouse one can follow with the same contract. Callers hand over FlowBatches and ask
// questions in column names; JS values come back (addresses as text, enums as names, times as ms).

import type { InterfaceCounters } from '../ingest/sflow/decoder.js';
import type { FlowBatch } from '../pipeline/flow-batch.js';
import type { AlertWithFlow, IdsAlert } from './ids-alert.js';

export type { AlertWithFlow, IdsAlert } from './ids-alert.js';

/** Parameterised SQL from the filter compiler: `$1..$n` placeholders over column names. */
export interface SqlWhere {
  sql: string;
  params: (number | bigint | string | boolean)[];
}

/**
 * DuckDB's memory_limit unless configured. With the geography/ASN tables and the ingest pipeline
 * beside it, 1GB took `serve` to 1.45–1.55 GB resident at 400 k flows/s (issue 2: below 1.5 GB);
 * at 768MB it peaked at 1.32 GB and stayed lossless at 400 k (bench/ingest.sh, 3 of 3 runs).
 */
export const DEFAULT_MEMORY_LIMIT = '768MB';

export interface StoreOptions {
  /** Directory holding flows.duckdb and the writer's lock file. */
  dir: string;
  /** DuckDB memory_limit (default DEFAULT_MEMORY_LIMIT). */
  memoryLimit?: string;
  /** DuckDB threads (default 2). */
  threads?: number;
  /** Retention per table in ms (0 or absent: keep forever). */
  retention?: { raw?: number; rollup1m?: number };
  /** Open for queries only: no lock file is taken, appends are refused. */
  readOnly?: boolean;
}

/** Contents of `${dir}/flowwatch.lock`. */
export interface LockInfo {
  pid: number;
  startedMs: number;
  /** Base URL of the HTTP API of the process that owns the store, when it serves one. */
  api?: string;
}

export interface TimeBounds {
  where?: SqlWhere;
  /** Inclusive lower bound on time_start (ms). */
  since?: number;
  /** Exclusive upper bound on time_start (ms). */
  until?: number;
  /** Every column the filter reads (lets the planner answer from a rollup). */
  fieldsUsed?: readonly string[];
}

export interface QueryFlowsOptions extends TimeBounds {
  fields?: readonly string[];
  limit: number;
  orderBy?: 'time_start' | 'bytes' | 'packets';
  desc?: boolean;
}

export type TopOrder = 'flows' | 'packets' | 'bytes';

export interface TopOptions extends TimeBounds {
  by: readonly string[];
  order: TopOrder;
  limit: number;
}

export interface TimeseriesOptions extends TimeBounds {
  intervalMs: number;
  /** Split each interval by this column's value (row key `key`). */
  by?: string;
}

export type FlowRow = Record<string, unknown>;

/** Rows plus the table that answered them (`flows` or `flows_1m`). */
export interface PlannedResult {
  rows: FlowRow[];
  table: string;
}

export interface TableStats {
  rows: number;
  minTimeMs: number | null;
  maxTimeMs: number | null;
}

export interface StoreStats {
  dir: string;
  schemaVersion: number;
  tables: Record<string, TableStats>;
  /** Database file plus its write-ahead log. */
  bytesOnDisk: number;
  /** Flows durably stored (as flush() reports). */
  stored: number;
}

/**
 * Rows written inside a store commit's transaction, so that they commit together with the flows
 * appended before it, or not at all (a durable input's checkpoint: DESIGN §2 principle 9).
 */
export interface CommitHook {
  /** Has something to write (a commit then happens even with no flows pending). */
  pending(): boolean;
  /** Runs inside the transaction, before COMMIT; `run` executes SQL and returns the rows. */
  write(
    run: (sql: string, params?: (string | number | bigint | boolean | null)[]) => Promise<unknown[][]>,
  ): Promise<void>;
  /** The transaction the hook wrote into was rolled back. */
  aborted?(): void;
}

export interface FlowStore {
  /** Queue a batch for the next commit. The batch may be reused once the promise resolves. */
  append(batch: FlowBatch): Promise<void>;
  /**
   * Commit everything appended so far; resolves to the number of flows durably stored: the rows
   * present at open plus every row committed since (monotonic — retention deletes are not
   * subtracted, so callers can difference it for rates).
   */
  flush(): Promise<number>;
  /** Rows currently in the flows table (committed). */
  count(): Promise<number>;
  queryFlows(opts: QueryFlowsOptions): Promise<FlowRow[]>;
  top(opts: TopOptions): Promise<PlannedResult>;
  timeseries(opts: TimeseriesOptions): Promise<PlannedResult>;
  stats(): Promise<StoreStats>;
  putExporterState(exporter: string, state: object): Promise<void>;
  /**
   * Add counter values (by reason: flows, sequence_lost, kernel_drops, …) for an exporter and the
   * minute they were counted in; written with the next commit.
   */
  recordCoverage(minuteMs: number, exporter: string, counts: Record<string, number>): void;
  /** Store IDS alerts (Suricata) with the next commit, in the same transaction as the flows. */
  appendIdsAlerts(alerts: readonly IdsAlert[]): void;
  /** IDS alerts in the range, newest first. */
  idsAlerts(range: { since?: number; until?: number; limit?: number }): Promise<IdsAlert[]>;
  /** IDS alerts in the range with the flows of their connection (same Community ID, around the alert time). */
  idsAlertsWithFlows(range: { since?: number; until?: number; limit?: number }): Promise<AlertWithFlow[]>;
  /** Store an sFlow interface counter sample with the next commit. */
  appendInterfaceCounters(sample: InterfaceCounters): void;
  /** Average/peak bits per second each way, errors and discards, per agent and interface. */
  interfaceUtilisation(range: { since?: number; until?: number; agent?: string }): Promise<FlowRow[]>;
  /** Counter sums per exporter over the minutes that overlap the range. */
  coverage(range: { since?: number; until?: number }): Promise<Record<string, Record<string, number>>>;
  /** Exporter → last state stored. */
  exporterStates(): Promise<Record<string, unknown>>;
  /** Delete rows older than each table's retention; returns rows deleted per table. */
  enforceRetention(nowMs: number): Promise<Record<string, number>>;
  /** Flush, checkpoint, release the database and the lock. */
  close(): Promise<void>;
  /** Write with every commit (see CommitHook); returns the function that removes the hook. */
  addCommitHook(hook: CommitHook): () => void;
}
