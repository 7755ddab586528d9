// The embedded flow store on DuckDB (DESIGN §5).
//
// Writes: one connection owns a transaction between commits. Batches are appended through an
// Appender (DataChunks filled column by column, see chunk-writer.ts) into `flows_stage`, a TEMP
// (in-memory, connection-private) table with the flows DDL. Every 240 k rows and at flush() the
// stage is moved into `flows`, folded into `flows_1m` partial sums and emptied — still inside the
// transaction — and flush() COMMITs: flows and the rollup hold a commit's rows together or not at
// all, and every flow counted as stored was in a committed (WAL-synced) transaction.
//
// Why a stage and not an Appender straight on `flows` (measured, bench/store.bench.ts and the
// report): DuckDB's cost is writing the 70-column on-disk table — about 30 of its columns are
// VARCHARs that NetFlow never fills and all-null VARCHAR segments still cost ~30 ns per cell to
// compress (a 25-column table takes the same rows at ~1 M rows/s, the full one at ~250 k). With
// the Appender on `flows` that work runs synchronously inside appendDataChunk()/flushSync() on the
// main thread and held the event loop for up to 700 ms; via the stage it runs in `INSERT … SELECT`
// on DuckDB's threads (async API), and the main thread keeps ~1.5 µs/row (chunk fill + in-memory
// append). A worker_thread would move that remainder too but needs the queries proxied as well
// (a DuckDB instance cannot be shared across isolates); not done yet.
//
// Physical layout: `flows_data` holds only the columns some stored flow has filled; a column is
// added (ALTER TABLE, metadata only) the first time a batch carries a value for it, and `flows`
// is a per-connection view over it with typed NULLs for the columns not yet materialised. Why:
// DuckDB's insert cost grows with the table's width whether the cells are null or not (measured:
// 2 M rows into 25 columns 0.61 s; the same plus 45 all-null VARCHAR columns 3.30 s; plus 45
// all-null UINTEGER 1.34 s), and a NetFlow-only deployment fills about 25 of the ~70 declared
// columns. Queries never see the difference: every declared column exists in the view.
//
// Reads use a second connection: they see committed data only, and never wait for the writer.

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { InterfaceCounters } from '../../ingest/sflow/decoder.js';
import type { FlowBatch } from '../../pipeline/flow-batch.js';
import { allColumns, C, type ColumnDef, findColumn, SCHEMA_VERSION } from '../../schema/columns.js';
import { duckdbColumnType, flowsTableDDL, quoteIdent } from '../../schema/duckdb.js';
import {
  type AlertWithFlow,
  type CommitHook,
  DEFAULT_MEMORY_LIMIT,
  type FlowRow,
  type FlowStore,
  type IdsAlert,
  type PlannedResult,
  type QueryFlowsOptions,
  type StoreOptions,
  type StoreStats,
  type TableStats,
  type TimeBounds,
  type TimeseriesOptions,
  type TopOptions,
} from '../store.js';
import { CHUNK_ROWS, ChunkWriter } from './chunk-writer.js';
import { api } from './duckdb-api.js';
import { alertsWithFlows, appendIdsAlerts, idsAlertsDDL, queryIdsAlerts } from './ids-alerts.js';
import {
  INTERFACE_COUNTERS,
  interfaceCountersDDL,
  interfaceCountersInserts,
  interfaceUtilisationSQL,
} from './interface-counters.js';
import { acquireLock, releaseLock } from './lock.js';
import {
  isRollupDim,
  MINUTE_MS,
  ROLLUP_1M,
  rollupDDL,
  rollupInsertSQL,
  staleRollupColumns,
  TALKER_SIDES,
  TALKERS_5M,
  TALKERS_BUCKET_MS,
  talkersCompactSQL,
  talkersDDL,
  talkersFromOldRollupSQL,
  talkersInsertSQL,
} from './rollup.js';
import { toJs } from './values.js';

export const DB_FILE = 'flows.duckdb';
/** The view every query reads: all declared columns. */
const FLOWS = 'flows';
/** The physical table: the materialised columns only. */
const FLOWS_DATA = 'flows_data';
/** Per-connection in-memory staging table the appender writes to (materialised columns). */
const STAGE = 'flows_stage';
/** The stage seen with every declared column (the rollup reads its dimensions through it). */
const STAGE_VIEW = 'flows_stage_all';
/**
 * Counters by reason per exporter and minute of receipt (issue: "loss you can see"): written in
 * the same transaction as the flows they describe, as partial sums, so any total over a time
 * range can say how much was lost before it reached the store, and why.
 */
const COVERAGE = 'coverage_1m';
const COVERAGE_DDL = `CREATE TABLE IF NOT EXISTS ${COVERAGE} (time_start BIGINT, exporter VARCHAR, counter VARCHAR, value BIGINT)`;
/** Partial talker rows that trigger a compaction at the next commit. */
const TALKERS_COMPACT_ROWS = 1_000_000;
/** Columns flows_data has from the start: what every source fills. */
const BASE_COLUMNS = [
  'time_start',
  'time_end',
  'time_received',
  'source_type',
  'exporter',
  'src_addr',
  'dst_addr',
  'src_port',
  'dst_port',
  'proto',
  'bytes',
  'packets',
];
/**
 * Staged rows moved into flows while the transaction stays open (bounds the stage's memory).
 * Larger drains amortise DuckDB's per-statement work (the insert and both rollups' GROUP BYs):
 * measured with IPFIX over TCP into the store, 65 536 → 376 k flows/s, 131 072 → 395 k,
 * 262 144 → 489 k; UDP at 600 k flows/s stayed lossless. Two of DuckDB's 122 880-row row groups
 * exactly: a drain that ends mid-row-group compresses worse (262 144: 37.5 bytes/flow on disk,
 * 245 760: 33.7, for the 10 M-flow bench workload; 467 k flows/s over TCP).
 */
const STAGE_ROWS = 245_760;

/** Directories opened for writing in this process (DuckDB would let a second open silently lose writes). */
const openForWrite = new Set<string>();

export async function openStore(opts: StoreOptions): Promise<FlowStore> {
  const readOnly = opts.readOnly === true;
  const path = join(opts.dir, DB_FILE);
  if (readOnly) {
    if (!existsSync(path)) throw new Error(`no flow store in ${opts.dir} (${path} does not exist)`);
  } else {
    mkdirSync(opts.dir, { recursive: true });
    if (openForWrite.has(opts.dir))
      throw new Error(`flow store ${opts.dir} is already open for writing in this process`);
    acquireLock(opts.dir);
  }
  try {
    const instance = await api.DuckDBInstance.create(path, {
      access_mode: readOnly ? 'READ_ONLY' : 'READ_WRITE',
      memory_limit: opts.memoryLimit || DEFAULT_MEMORY_LIMIT,
      threads: String(opts.threads || 2),
      preserve_insertion_order: 'false',
    });
    const store = new DuckDBFlowStore(opts, instance, readOnly);
    try {
      await store.init();
    } catch (e) {
      store.abandon();
      throw e;
    }
    if (!readOnly) openForWrite.add(opts.dir);
    return store;
  } catch (e) {
    if (!readOnly) releaseLock(opts.dir);
    throw e;
  }
}

type Param = number | bigint | string | boolean;

class DuckDBFlowStore implements FlowStore {
  private wc: DuckDBConnection | undefined;
  private rc!: DuckDBConnection;
  private appender: DuckDBAppender | undefined;
  private writerChunks: ChunkWriter;
  /** Columns of flows_data, in declaration order (the stage and the chunk writer follow it). */
  private materialized: ColumnDef[] = [];
  private materializedNames = new Set<string>();
  private inTxn = false;
  /** sFlow interface counter samples waiting for the next commit. */
  private countersPending: InterfaceCounters[] = [];
  /** IDS alerts (Suricata) waiting for the next commit: stored in the same transaction as their flows. */
  private alertsPending: IdsAlert[] = [];
  /** Coverage rows waiting for the next commit. */
  private coveragePending: [number, string, string, number][] = [];
  /** Talker partial rows inserted since the last compaction, and their earliest minute. */
  private talkerPartials = 0;
  private talkersDirtyFrom = Number.POSITIVE_INFINITY;
  /** Earliest time_start among the staged rows. */
  private stagedFrom = Number.POSITIVE_INFINITY;
  /** Rows in the stage not yet moved into flows. */
  private staged = 0;
  /** Rows appended in the open transaction. */
  private pending = 0;
  /** Rows present at open plus rows committed since. */
  private stored = 0;
  /** Serialises writer operations (append, flush, retention, close). */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly columns: readonly ColumnDef[];
  private readonly commitHooks: CommitHook[] = [];
  /** Whether talkers_5m holds AS sides (false for a store only an older version has written). */
  private asnTalkers = true;

  constructor(
    private readonly opts: StoreOptions,
    private readonly instance: DuckDBInstance,
    private readonly readOnly: boolean,
  ) {
    this.columns = allColumns();
    this.writerChunks = new ChunkWriter([]);
  }

  async init(): Promise<void> {
    this.rc = await this.instance.connect();
    if (this.readOnly) {
      await this.checkVersion(this.rc, false);
      await this.loadMaterialized(this.rc);
      await this.createViews(this.rc, false);
      // a store no writer of this version has opened yet: its talkers have no AS sides
      this.asnTalkers = staleRollupColumns(await this.rollupColumns(this.rc)).length === 0;
      this.stored = await this.count();
      return;
    }
    const c = await this.instance.connect();
    this.wc = c;
    await this.checkVersion(c, true);
    await c.run(
      flowsTableDDL(
        FLOWS_DATA,
        this.columns.filter((col) => BASE_COLUMNS.includes(col.name)),
      ),
    );
    await this.loadMaterialized(c);
    await c.run(rollupDDL());
    await c.run(talkersDDL());
    await this.dropStaleRollupColumns(c);
    await this.createStage(c);
    await this.createViews(c, true);
    await this.createViews(this.rc, false);
    await c.run(COVERAGE_DDL);
    await c.run(interfaceCountersDDL());
    await c.run(idsAlertsDDL());
    await c.run(
      'CREATE TABLE IF NOT EXISTS exporters (exporter VARCHAR PRIMARY KEY, updated_ms BIGINT NOT NULL, state VARCHAR NOT NULL)',
    );
    this.stored = await this.count();
  }

  private async rollupColumns(c: DuckDBConnection): Promise<string[]> {
    const r = await c.runAndReadAll(
      `SELECT column_name FROM duckdb_columns() WHERE table_name = '${ROLLUP_1M}' AND schema_name = 'main'`,
    );
    return r.getRows().map((row) => String(row[0]));
  }

  /** flows_1m of an older version: its columns that are no longer dimensions go (see staleRollupColumns). */
  private async dropStaleRollupColumns(c: DuckDBConnection): Promise<void> {
    const stale = staleRollupColumns(await this.rollupColumns(c));
    if (stale.length === 0) return;
    await c.run('BEGIN TRANSACTION');
    try {
      // AS sums rolled up by an older version move to the talkers' AS sides first
      if (stale.includes('src_asn') && stale.includes('dst_asn')) await c.run(talkersFromOldRollupSQL());
      for (const col of stale) await c.run(`ALTER TABLE ${ROLLUP_1M} DROP COLUMN ${quoteIdent(col)}`);
      await c.run('COMMIT');
    } catch (e) {
      await c.run('ROLLBACK');
      throw e;
    }
  }

  /** Release the database after a failed init (no flush: nothing was appended). */
  abandon(): void {
    try {
      this.wc?.closeSync();
      this.rc?.closeSync();
      this.instance.closeSync();
    } catch {
      // best effort
    }
  }

  private async checkVersion(c: DuckDBConnection, write: boolean): Promise<void> {
    const has = await c.runAndReadAll(
      "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'meta'",
    );
    if (Number(has.getRows()[0][0]) === 0) {
      if (!write) return;
      await c.run('CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)');
      await c.run(`INSERT INTO meta VALUES ('schema_version', '${SCHEMA_VERSION}')`);
      return;
    }
    const r = await c.runAndReadAll("SELECT value FROM meta WHERE key = 'schema_version'");
    const v = Number(r.getRows()[0]?.[0] ?? 0);
    if (v > SCHEMA_VERSION)
      throw new Error(
        `flow store ${this.opts.dir} has schema_version ${v}, newer than this flowwatch (${SCHEMA_VERSION}); upgrade flowwatch to open it`,
      );
    if (write && v < SCHEMA_VERSION)
      await c.run(`UPDATE meta SET value = '${SCHEMA_VERSION}' WHERE key = 'schema_version'`);
  }

  /** Which declared columns flows_data has. */
  private async loadMaterialized(c: DuckDBConnection): Promise<void> {
    const r = await c.runAndReadAll(
      // pragma_table_info, not information_schema: the latter costs ~6 ms per open (measured).
      `SELECT name FROM pragma_table_info('main.${FLOWS_DATA}')`,
    );
    const have = new Set(r.getRows().map((x) => String(x[0])));
    if (have.size === 0) throw new Error(`flow store ${this.opts.dir} has no ${FLOWS_DATA} table`);
    this.materialized = this.columns.filter((col) => have.has(col.name));
    this.materializedNames = new Set(this.materialized.map((col) => col.name));
    this.writerChunks = new ChunkWriter(this.materialized);
  }

  /** SELECT list giving every declared column: stored ones by name, the others as typed NULLs. */
  private allColumnsSelect(): string {
    return this.columns
      .map((col) =>
        this.materializedNames.has(col.name)
          ? quoteIdent(col.name)
          : `CAST(NULL AS ${duckdbColumnType(col)}) AS ${quoteIdent(col.name)}`,
      )
      .join(', ');
  }

  private async createViews(c: DuckDBConnection, withStage: boolean): Promise<void> {
    const select = this.allColumnsSelect();
    await c.run(`CREATE OR REPLACE TEMP VIEW ${FLOWS} AS SELECT ${select} FROM ${FLOWS_DATA}`);
    if (withStage) await c.run(`CREATE OR REPLACE TEMP VIEW ${STAGE_VIEW} AS SELECT ${select} FROM ${STAGE}`);
  }

  /** The stage: in-memory (TEMP) and private to the writer connection, like its open transaction. */
  private async createStage(c: DuckDBConnection): Promise<void> {
    await c.run(`DROP VIEW IF EXISTS ${STAGE_VIEW}`);
    await c.run(`DROP TABLE IF EXISTS ${STAGE}`);
    await c.run(flowsTableDDL(STAGE, this.materialized).replace('CREATE TABLE', 'CREATE TEMP TABLE'));
  }

  /** Declared columns that carry a value in `batch` but are not in flows_data yet. */
  private unmaterialized(batch: FlowBatch): ColumnDef[] {
    const out: ColumnDef[] = [];
    const n = batch.length;
    for (let i = 0; i < batch.columns.length; i++) {
      const col = batch.columns[i];
      if (this.materializedNames.has(col.name)) continue;
      const at = batch.valid[i].indexOf(1);
      if (at >= 0 && at < n && findColumn(col.name)) out.push(col);
    }
    return out;
  }

  /**
   * Add columns to flows_data. Done between transactions (DuckDB refuses to alter a table with
   * uncommitted appends), so the open one is committed first; the stage is rebuilt empty with the
   * new layout and both connections' views follow.
   */
  private async materialize(c: DuckDBConnection, cols: ColumnDef[]): Promise<void> {
    await this.commit();
    this.appender?.closeSync();
    this.appender = undefined;
    for (const col of cols)
      await c.run(
        `ALTER TABLE ${FLOWS_DATA} ADD COLUMN IF NOT EXISTS ${quoteIdent(col.name)} ${duckdbColumnType(col)}`,
      );
    await this.loadMaterialized(c);
    await this.createStage(c);
    await this.createViews(c, true);
    await this.createViews(this.rc, false);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private writer(): DuckDBConnection {
    if (this.readOnly || !this.wc) throw new Error(`flow store ${this.opts.dir} is open read-only`);
    if (this.closed) throw new Error(`flow store ${this.opts.dir} is closed`);
    return this.wc;
  }

  // ---- writes

  append(batch: FlowBatch): Promise<void> {
    return this.enqueue(async () => {
      const c = this.writer();
      const n = batch.length;
      if (n === 0) return;
      const missing = this.unmaterialized(batch);
      if (missing.length) await this.materialize(c, missing);
      if (!this.inTxn) {
        await c.run('BEGIN TRANSACTION');
        this.inTxn = true;
      }
      if (!this.appender) this.appender = await c.createAppender(STAGE, 'main', 'temp');
      const ts = batch.data[C.time_start];
      const tv = batch.valid[C.time_start];
      let earliest = this.stagedFrom;
      for (let r = 0; r < n; r++) if (tv[r] === 1 && ts[r] < earliest) earliest = ts[r];
      this.stagedFrom = earliest;
      try {
        for (let from = 0; from < n; from += CHUNK_ROWS) {
          const m = Math.min(CHUNK_ROWS, n - from);
          this.writerChunks.write(this.appender, batch, from, m);
          this.pending += m;
          this.staged += m;
          // Let sockets and timers run between chunks (each is ~1 ms of work).
          if (from + m < n) await new Promise<void>((r) => setImmediate(r));
        }
        if (this.staged >= STAGE_ROWS) await this.drainStage(c);
      } catch (e) {
        await this.rollback();
        throw e;
      }
    });
  }

  flush(): Promise<number> {
    if (this.readOnly) return Promise.resolve(this.stored);
    return this.enqueue(() => this.commit());
  }

  private async commit(): Promise<number> {
    if (
      !this.inTxn &&
      this.coveragePending.length === 0 &&
      this.countersPending.length === 0 &&
      this.alertsPending.length === 0 &&
      !this.commitHooks.some((h) => h.pending())
    )
      return this.stored;
    const c = this.writer();
    try {
      if (!this.inTxn) {
        await c.run('BEGIN TRANSACTION');
        this.inTxn = true;
      }
      await this.drainStage(c);
      if (this.talkerPartials >= TALKERS_COMPACT_ROWS) await this.compactTalkers(c);
      await this.writeCoverage(c);
      if (this.countersPending.length) {
        const rows = this.countersPending;
        this.countersPending = [];
        for (const q of interfaceCountersInserts(rows)) await c.run(q.sql, q.params as DuckDBValue[]);
      }
      if (this.alertsPending.length) {
        const rows = this.alertsPending;
        this.alertsPending = [];
        await appendIdsAlerts(c, rows);
      }
      for (const h of this.commitHooks)
        if (h.pending())
          await h.write(async (sql, params) => (await c.runAndReadAll(sql, params as DuckDBValue[])).getRows());
      await c.run('COMMIT');
    } catch (e) {
      await this.rollback();
      throw e;
    }
    this.inTxn = false;
    this.stored += this.pending;
    this.pending = 0;
    return this.stored;
  }

  addCommitHook(hook: CommitHook): () => void {
    this.commitHooks.push(hook);
    return () => {
      const i = this.commitHooks.indexOf(hook);
      if (i >= 0) this.commitHooks.splice(i, 1);
    };
  }

  appendIdsAlerts(alerts: readonly IdsAlert[]): void {
    if (this.readOnly) return;
    for (const a of alerts) this.alertsPending.push(a);
  }

  /** IDS alerts in the range, newest first. */
  idsAlerts(o: { since?: number; until?: number; limit?: number }): Promise<IdsAlert[]> {
    return queryIdsAlerts(this.rc, { fromMs: o.since ?? 0, toMs: o.until ?? Number.MAX_SAFE_INTEGER, limit: o.limit });
  }

  /** IDS alerts in the range joined to the flows of their connection (see alertsWithFlows). */
  idsAlertsWithFlows(o: { since?: number; until?: number; limit?: number }): Promise<AlertWithFlow[]> {
    return alertsWithFlows(this.rc, { fromMs: o.since ?? 0, toMs: o.until ?? Number.MAX_SAFE_INTEGER, limit: o.limit });
  }

  appendInterfaceCounters(sample: InterfaceCounters): void {
    if (this.readOnly) return;
    // Bounded: samples arrive a few per interface per minute; past this a stuck commit loop would
    // otherwise grow it without end.
    if (this.countersPending.length < 100_000) this.countersPending.push(sample);
  }

  async interfaceUtilisation(o: { since?: number; until?: number; agent?: string }): Promise<FlowRow[]> {
    const parts: string[] = [];
    const params: DuckDBValue[] = [];
    if (o.since !== undefined) parts.push(`time_received >= ${timeLiteral(o.since)}`);
    if (o.until !== undefined) parts.push(`time_received < ${timeLiteral(o.until)}`);
    if (o.agent !== undefined) {
      params.push(o.agent);
      parts.push('agent = $1');
    }
    const r = await this.rc.runAndReadAll(
      interfaceUtilisationSQL(parts.length ? ` WHERE ${parts.join(' AND ')}` : ''),
      params,
    );
    return r.getRowObjects().map((row) => {
      const out: FlowRow = {};
      for (const k in row) out[k] = typeof row[k] === 'bigint' ? Number(row[k]) : row[k];
      return out;
    });
  }

  recordCoverage(minuteMs: number, exporter: string, counts: Record<string, number>): void {
    if (this.readOnly) return;
    const minute = Math.floor(minuteMs / MINUTE_MS) * MINUTE_MS;
    for (const [counter, value] of Object.entries(counts))
      if (value && Number.isFinite(value)) this.coveragePending.push([minute, exporter, counter, value]);
  }

  private async writeCoverage(c: DuckDBConnection): Promise<void> {
    const rows = this.coveragePending;
    if (rows.length === 0) return;
    this.coveragePending = [];
    for (let i = 0; i < rows.length; i += 256) {
      const part = rows.slice(i, i + 256);
      const values = part.map((_, k) => `($${k * 4 + 1}, $${k * 4 + 2}, $${k * 4 + 3}, $${k * 4 + 4})`).join(', ');
      const params = part.flatMap(([m, e, n, v]) => [BigInt(m), e, n, BigInt(Math.round(v))]);
      await c.run(`INSERT INTO ${COVERAGE} VALUES ${values}`, params);
    }
  }

  async coverage(o: { since?: number; until?: number }): Promise<Record<string, Record<string, number>>> {
    // Minutes that overlap the range: a loss counted at 12:00:40 belongs to a range from 12:00:30.
    const parts: string[] = [];
    if (o.since !== undefined) parts.push(`time_start >= ${timeLiteral(Math.floor(o.since / MINUTE_MS) * MINUTE_MS)}`);
    if (o.until !== undefined) parts.push(`time_start < ${timeLiteral(o.until)}`);
    const where = parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
    const r = await this.rc.runAndReadAll(
      `SELECT exporter, counter, SUM(value)::BIGINT FROM ${COVERAGE}${where} GROUP BY ALL ORDER BY ALL`,
    );
    const out: Record<string, Record<string, number>> = {};
    for (const [e, n, v] of r.getRows()) {
      out[String(e)] ??= {};
      out[String(e)][String(n)] = Number(v);
    }
    return out;
  }

  /** Fold the talker partials written since the last compaction (inside the open transaction). */
  private async compactTalkers(c: DuckDBConnection): Promise<void> {
    if (this.talkerPartials === 0) return;
    const from = Number.isFinite(this.talkersDirtyFrom)
      ? Math.floor(this.talkersDirtyFrom / TALKERS_BUCKET_MS) * TALKERS_BUCKET_MS
      : Number.MIN_SAFE_INTEGER;
    for (const q of talkersCompactSQL(from)) await c.run(q);
    this.talkerPartials = 0;
    this.talkersDirtyFrom = Number.POSITIVE_INFINITY;
  }

  /**
   * Move the staged rows into flows and their partial sums into flows_1m, inside the open
   * transaction. The compressing write into the on-disk table runs in DuckDB's threads (async
   * run), so the event loop is not held while it happens.
   */
  private async drainStage(c: DuckDBConnection): Promise<void> {
    this.appender?.flushSync();
    if (this.staged === 0) return;
    const cols = this.materialized.map((col) => quoteIdent(col.name)).join(', ');
    await c.run(`INSERT INTO ${FLOWS_DATA} (${cols}) SELECT ${cols} FROM ${STAGE}`);
    await c.run(rollupInsertSQL(STAGE_VIEW));
    this.talkerPartials += (await c.run(talkersInsertSQL(STAGE_VIEW))).rowsChanged;
    this.talkersDirtyFrom = Math.min(this.talkersDirtyFrom, this.stagedFrom);
    this.stagedFrom = Number.POSITIVE_INFINITY;
    await c.run(`DELETE FROM ${STAGE}`);
    this.staged = 0;
  }

  /** Drop the open transaction and the appender bound to it; the rows appended in it are lost. */
  private async rollback(): Promise<void> {
    const lost = this.pending;
    this.pending = 0;
    this.coveragePending = [];
    this.countersPending = [];
    this.staged = 0;
    try {
      this.appender?.clear();
      this.appender?.closeSync();
    } catch {
      // an appender in error state refuses close; it is dropped either way
    }
    this.appender = undefined;
    for (const h of this.commitHooks) h.aborted?.();
    if (this.inTxn) {
      this.inTxn = false;
      try {
        await this.wc?.run('ROLLBACK');
      } catch {
        // already rolled back by the failure
      }
    }
    if (lost) process.emitWarning(`flowwatch store: ${lost} appended flows were not committed`);
  }

  enforceRetention(nowMs: number): Promise<Record<string, number>> {
    return this.enqueue(async () => {
      const c = this.writer();
      await this.commit();
      const out: Record<string, number> = {};
      const r = this.opts.retention ?? {};
      for (const [table, keep] of [
        [FLOWS_DATA, r.raw],
        [ROLLUP_1M, r.rollup1m],
        [TALKERS_5M, r.rollup1m],
        [COVERAGE, r.rollup1m],
        [INTERFACE_COUNTERS, r.rollup1m],
      ] as const) {
        if (!keep || keep <= 0 || !Number.isFinite(nowMs)) continue;
        const cutoff = Math.floor(nowMs - keep);
        const time = table === INTERFACE_COUNTERS ? 'time_received' : 'time_start';
        const res = await c.run(`DELETE FROM ${table} WHERE ${time} < ${cutoff}`);
        out[table === FLOWS_DATA ? FLOWS : table] = res.rowsChanged;
      }
      return out;
    });
  }

  async putExporterState(exporter: string, state: object): Promise<void> {
    this.writer();
    const json = JSON.stringify(state, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
    await this.rc.run('INSERT OR REPLACE INTO exporters VALUES ($1, $2, $3)', [exporter, BigInt(Date.now()), json]);
  }

  async exporterStates(): Promise<Record<string, unknown>> {
    const r = await this.rc.runAndReadAll('SELECT exporter, state FROM exporters ORDER BY exporter');
    const out: Record<string, unknown> = {};
    for (const [e, s] of r.getRows()) {
      try {
        out[String(e)] = JSON.parse(String(s));
      } catch {
        out[String(e)] = null;
      }
    }
    return out;
  }

  close(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      try {
        if (!this.readOnly) {
          // Rows appended since the last flush() become talker partials only in this drain: a
          // session that appends and closes without flushing must compact them too.
          if (this.talkerPartials > 0 || this.staged > 0) {
            if (!this.inTxn) {
              await this.writer().run('BEGIN TRANSACTION');
              this.inTxn = true;
            }
            await this.drainStage(this.writer());
            await this.compactTalkers(this.writer());
          }
          await this.commit();
          this.appender?.closeSync();
          await this.wc?.run('CHECKPOINT');
        }
      } finally {
        this.closed = true;
        this.wc?.closeSync();
        this.rc.closeSync();
        this.instance.closeSync();
        if (!this.readOnly) {
          openForWrite.delete(this.opts.dir);
          releaseLock(this.opts.dir);
        }
      }
    });
  }

  // ---- reads

  async count(): Promise<number> {
    const r = await this.rc.runAndReadAll(`SELECT count(*) FROM ${FLOWS}`);
    return Number(r.getRows()[0][0]);
  }

  async stats(): Promise<StoreStats> {
    const tables: Record<string, TableStats> = {};
    for (const t of [FLOWS, ROLLUP_1M]) {
      const r = await this.rc.runAndReadAll(`SELECT count(*), min(time_start), max(time_start) FROM ${t}`);
      const [n, lo, hi] = r.getRows()[0];
      tables[t] = {
        rows: Number(n),
        minTimeMs: lo === null ? null : Number(lo),
        maxTimeMs: hi === null ? null : Number(hi),
      };
    }
    const path = join(this.opts.dir, DB_FILE);
    let bytes = 0;
    for (const p of [path, `${path}.wal`]) if (existsSync(p)) bytes += statSync(p).size;
    return { dir: this.opts.dir, schemaVersion: SCHEMA_VERSION, tables, bytesOnDisk: bytes, stored: this.stored };
  }

  async queryFlows(o: QueryFlowsOptions): Promise<FlowRow[]> {
    const fields = o.fields?.length ? o.fields.map(known) : this.columns;
    const { sql, params } = whereClause(o);
    const order = o.orderBy ?? 'time_start';
    if (!['time_start', 'bytes', 'packets'].includes(order)) throw new Error(`cannot order flows by ${order}`);
    const text =
      `SELECT ${fields.map((f) => quoteIdent(f.name)).join(', ')} FROM ${FLOWS}${sql} ` +
      `ORDER BY ${quoteIdent(order)} ${o.desc ? 'DESC' : 'ASC'} NULLS LAST LIMIT ${limitOf(o.limit)}`;
    const r = await this.rc.runAndReadAll(text, params);
    return convertRows(r.getRowObjects());
  }

  async top(o: TopOptions): Promise<PlannedResult> {
    const by = o.by.map(known);
    if (!['flows', 'packets', 'bytes'].includes(o.order)) throw new Error(`cannot order top by ${o.order}`);
    const order = ` ORDER BY ${o.order} DESC NULLS LAST`;
    const limit = ` LIMIT ${limitOf(o.limit)}`;
    const fromTalkers = answersFromTalkers(o, by) && (this.asnTalkers || by[0].name.endsWith('_addr'));
    const talkers = fromTalkers ? splitRange(o.since, o.until, TALKERS_BUCKET_MS) : null;
    if (talkers) {
      const name = quoteIdent(by[0].name);
      const side = (TALKER_SIDES.find(([, col]) => col === by[0].name) as [number, string])[0];
      const middle = whereClause(talkers.middle).sql;
      const parts = [
        `SELECT addr AS k, flows AS f, packets AS p, bytes AS b FROM ${TALKERS_5M}${middle ? `${middle} AND` : ' WHERE'} side = ${side}`,
        ...talkers.edges.map((e) => `SELECT ${name}, 1, packets, bytes FROM ${FLOWS}${whereClause(e).sql}`),
      ];
      const text =
        `SELECT k::${duckdbColumnType(by[0])} AS ${name}, SUM(f) AS flows, SUM(p) AS packets, SUM(b) AS bytes ` +
        `FROM (${parts.join(' UNION ALL ')}) GROUP BY k${order}, ${name}${limit}`;
      const r = await this.rc.runAndReadAll(text);
      return { rows: convertRows(r.getRowObjects()), table: tableName(TALKERS_5M, talkers) };
    }
    const names = by.map((c) => c.name);
    const rollup = planRollup(o, names) ? splitRange(o.since, o.until, MINUTE_MS) : null;
    const cols = by.map((c) => quoteIdent(c.name));
    const group = cols.length ? ` GROUP BY ${cols.join(', ')}` : '';
    const orderBy = `${order}${cols.length ? `, ${cols.join(', ')}` : ''}${limit}`;
    if (!rollup) {
      const { sql, params } = whereClause(o);
      const text = `SELECT ${[...cols, measures(FLOWS)].join(', ')} FROM ${FLOWS}${sql}${group}${orderBy}`;
      const r = await this.rc.runAndReadAll(text, params);
      return { rows: convertRows(r.getRowObjects()), table: FLOWS };
    }
    const { inner, params } = rollupUnion(o, rollup, cols);
    const text = `SELECT ${[...cols, 'SUM(f) AS flows, SUM(p) AS packets, SUM(b) AS bytes'].join(', ')} FROM (${inner})${group}${orderBy}`;
    const r = await this.rc.runAndReadAll(text, params);
    return { rows: convertRows(r.getRowObjects()), table: tableName(ROLLUP_1M, rollup) };
  }

  async timeseries(o: TimeseriesOptions): Promise<PlannedResult> {
    const iv = Math.floor(o.intervalMs);
    if (!(iv > 0)) throw new Error(`interval must be a positive number of ms (got ${o.intervalMs})`);
    const by = o.by === undefined ? undefined : known(o.by);
    const rollup = planRollup(o, by ? [by.name] : [], iv) ? splitRange(o.since, o.until, MINUTE_MS) : null;
    const key = by ? `, ${quoteIdent(by.name)} AS key` : '';
    const tail = ` GROUP BY ALL ORDER BY t${by ? ', key' : ''}`;
    let text: string;
    let params: Param[];
    let table: string;
    if (rollup) {
      const u = rollupUnion(o, rollup, ['time_start', ...(by ? [quoteIdent(by.name)] : [])]);
      params = u.params;
      table = tableName(ROLLUP_1M, rollup);
      text =
        `SELECT (time_start // ${iv}) * ${iv} AS t${key}, SUM(f) AS flows, SUM(p) AS packets, SUM(b) AS bytes ` +
        `FROM (${u.inner})${tail}`;
    } else {
      const w = whereClause(o);
      params = w.params;
      table = FLOWS;
      text = `SELECT (time_start // ${iv}) * ${iv} AS t${key}, ${measures(FLOWS)} FROM ${FLOWS}${w.sql}${tail}`;
    }
    const r = await this.rc.runAndReadAll(text, params);
    const rows = r.getRowObjects().map((row) => {
      const out: FlowRow = { t: Number(row.t) };
      if (by) out.key = toJs(by, row.key);
      out.flows = toJs(undefined, row.flows);
      out.packets = toJs(undefined, row.packets);
      out.bytes = toJs(undefined, row.bytes);
      return out;
    });
    return { rows, table };
  }
}

// ---- query helpers

function known(name: string): ColumnDef {
  const c = findColumn(name);
  if (!c) throw new Error(`unknown field "${name}"`);
  return c;
}

function limitOf(n: number): number {
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 100;
}

function measures(table: string): string {
  const flows = table === ROLLUP_1M ? 'SUM(flows)' : 'COUNT(*)';
  return `${flows} AS flows, SUM(packets) AS packets, SUM(bytes) AS bytes`;
}

/** A top-N of one address or AS side, unfiltered: the talkers rollup answers it (cut buckets from the flows). */
function answersFromTalkers(o: TopOptions, by: readonly ColumnDef[]): boolean {
  if (by.length !== 1 || !TALKER_SIDES.some(([, col]) => col === by[0].name)) return false;
  if (o.where && o.where.sql.trim() !== '') return false;
  if (o.fieldsUsed && o.fieldsUsed.length > 0) return false;
  return true;
}

/**
 * Whether flows_1m holds every column the question reads: each one is a rollup dimension and the
 * interval is whole minutes. The time bounds need not be: splitRange() reads the minutes they
 * cut through from the flows.
 */
export function planRollup(o: TimeBounds, by: readonly string[], intervalMs?: number): boolean {
  if (o.where && o.where.sql.trim() !== '' && o.fieldsUsed === undefined) return false;
  const fields = [...by, ...(o.fieldsUsed ?? [])];
  if (!fields.every(isRollupDim)) return false;
  return intervalMs === undefined || intervalMs % MINUTE_MS === 0;
}

/** The table that answers, as planRollup() and splitRange() decide (for tests and --explain). */
export function planTable(o: TimeBounds, by: readonly string[], intervalMs?: number): string {
  const split = planRollup(o, by, intervalMs) ? splitRange(o.since, o.until, MINUTE_MS) : null;
  return split ? tableName(ROLLUP_1M, split) : FLOWS;
}

interface RangeSplit {
  /** Whole buckets: answered by the rollup. */
  middle: TimeBounds;
  /** The parts of buckets the bounds cut through: answered by the flows. */
  edges: TimeBounds[];
}

/**
 * A range split at `unit` boundaries: the whole buckets inside it and the partial ones at its
 * ends. Null when the range lies inside one bucket (the flows answer it all).
 */
function splitRange(since: number | undefined, until: number | undefined, unit: number): RangeSplit | null {
  const a = since === undefined ? undefined : Math.ceil(since / unit) * unit;
  const b = until === undefined ? undefined : Math.floor(until / unit) * unit;
  if (a !== undefined && b !== undefined && a >= b) return null;
  const edges: TimeBounds[] = [];
  if (since !== undefined && a !== since) edges.push({ since, until: a });
  if (until !== undefined && b !== until) edges.push({ since: b, until });
  return { middle: { since: a, until: b }, edges };
}

function tableName(rollup: string, split: RangeSplit): string {
  return split.edges.length ? `${rollup}+${FLOWS}` : rollup;
}

/** flows_1m over the whole minutes UNION ALL the flows of the cut minutes, as (cols…, f, p, b). */
function rollupUnion(o: TimeBounds, split: RangeSplit, cols: string[]): { inner: string; params: Param[] } {
  const sel = cols.length ? `${cols.join(', ')}, ` : '';
  const params: Param[] = o.where ? [...o.where.params] : [];
  const filter = o.where && o.where.sql.trim() !== '' ? o.where : undefined;
  // The same parameters serve every branch: $n refers to the same value wherever it appears.
  const where = (t: TimeBounds) => whereClause({ ...t, where: filter }).sql;
  const parts = [
    `SELECT ${sel}flows AS f, packets AS p, bytes AS b FROM ${ROLLUP_1M}${where(split.middle)}`,
    ...split.edges.map((e) => `SELECT ${sel}1 AS f, packets AS p, bytes AS b FROM ${FLOWS}${where(e)}`),
  ];
  return { inner: parts.join(' UNION ALL '), params };
}

function whereClause(o: TimeBounds): { sql: string; params: Param[] } {
  const parts: string[] = [];
  const params: Param[] = o.where ? [...o.where.params] : [];
  if (o.where && o.where.sql.trim() !== '') parts.push(`(${o.where.sql})`);
  // Time bounds are inlined as integer literals (not parameters): DuckDB then prunes row groups
  // by their min/max time_start, which a DOUBLE parameter compared to a BIGINT column prevents.
  if (o.since !== undefined) parts.push(`time_start >= ${timeLiteral(o.since)}`);
  if (o.until !== undefined) parts.push(`time_start < ${timeLiteral(o.until)}`);
  return { sql: parts.length ? ` WHERE ${parts.join(' AND ')}` : '', params };
}

function timeLiteral(ms: number): string {
  if (!Number.isFinite(ms)) throw new Error(`time bound is not a number: ${ms}`);
  return String(Math.floor(ms));
}

function convertRows(rows: Record<string, DuckDBValue>[]): FlowRow[] {
  return rows.map((row) => {
    const out: FlowRow = {};
    for (const k in row) out[k] = toJs(k === 'flows' ? undefined : findColumn(k), row[k]);
    return out;
  });
}
