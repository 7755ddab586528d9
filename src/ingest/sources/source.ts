// A durable log input: list objects → read each one not yet stored → parse into the store →
// checkpoint. "Nothing acknowledged is lost" (DESIGN §2.9): an object counts as done only once its
// flows are committed, and a crash at any point neither skips nor repeats a flow.
//
// Where the checkpoint lives, and why: in the flow store itself, table `source_checkpoints`,
// written by a commit hook INSIDE the same DuckDB transaction as the flows (FlowStore
// addCommitHook). A checkpoint file written after the commit (temp + fsync + rename, as
// netflow/state.ts does) leaves a window — flows committed, file not yet renamed — in which a
// crash re-reads the object and stores its flows twice; in one transaction that window does not
// exist. The row of an object says how many of its rows (in parse order) are committed, not only
// whether it is done, because a commit can happen in the middle of an object: another input's
// flush on the shared store, or the store committing before it adds a column. A restart re-parses
// such an object (parsing is deterministic) and skips the rows already committed.
//
// The same row count handles objects that grow: an Azure PT1H.json blob gets a block per minute
// for an hour (each committed block list is a whole JSON document: header block, record blocks,
// footer block), a file in a watched directory may be appended to. A new version (ETag, or size
// and mtime) of an object marked done is re-read whole and its first `rows` rows are skipped:
// objects are assumed append-only, which holds for Azure and for AWS (which never rewrites a
// delivered object). Reading only the new blocks would save the re-read; not done yet.
//
// IDS alerts (Suricata eve.json) are not rows: the checkpoint counts them apart (`alerts`, the
// object's alerts committed, in parse order), so a grown eve.json stores only its new alerts, even
// when it grew by alerts alone. Checkpoints written before that column existed have it NULL: all
// the alerts such an object holds at its next read are taken as stored.
//
// Row accounting: the source has its own IngestPipeline; every batch it hands to the store carries
// (in `handedEnd`) the cumulative number of parsed rows through it, and `appendedRows` moves to
// that number when the store's append resolves. The hook runs inside commit(), which the store
// serialises after every append queued before it; the append promise's own reaction (ours) runs
// before the store's chain starts the next operation (it was registered on the same promise,
// after the store's, and the chain's next step needs one more promise turn), so at hook time
// appendedRows counts exactly the rows in the transaction.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ExporterCounters } from '../../pipeline/counters.js';
import { FlowBatch } from '../../pipeline/flow-batch.js';
import { IngestPipeline } from '../../pipeline/ingest.js';
import { type BatchSink, CollectingSink } from '../../pipeline/sink.js';
import type { IdsAlert } from '../../store/ids-alert.js';
import type { CommitHook, FlowStore } from '../../store/store.js';
import { type LogFormat, parseLogObject } from './parse.js';

/** One object as a lister sees it. */
export interface LogObjectInfo {
  key: string;
  size: number;
  /** Changes when the content changes (ETag; size and mtime for a file). */
  version: string;
}

/** Where objects come from: a directory, an S3 prefix, a blob container prefix. */
export interface ObjectLister {
  /** A short description for logs: `s3://bucket/prefix`. */
  readonly description: string;
  /** Complete objects present now (an object still being written is left out). */
  list(): Promise<LogObjectInfo[]>;
  read(o: LogObjectInfo): Promise<Uint8Array>;
  /** Calls `wake` when something may have changed (a watcher); optional. */
  watch?(wake: () => void): void;
  /** A lister that holds objects back (settling) asks to be polled again this soon. */
  recheckMs?(): number | undefined;
  close?(): Promise<void>;
}

export interface LogSourceOptions {
  /** Checkpoint identity: keep it stable across restarts (the `inputs[].name` setting). */
  name: string;
  lister: ObjectLister;
  store: FlowStore;
  counters: ExporterCounters;
  /** Read every object as this format instead of recognising it by content. */
  format?: LogFormat;
  /** Applied to each full batch before it is stored (per-exporter policy, enrichment). */
  transform?: (b: FlowBatch) => void;
  pollMs?: number;
  batchSize?: number;
  /** Commit after this many rows (default 200 000) or this long (default 1 s) while objects keep coming. */
  commitRows?: number;
  commitMs?: number;
  /** Problems worth a log line: unreadable objects, parse errors (first few per object). */
  onError?: (message: string) => void;
  /** After each object is parsed (before its commit): what it held, for per-object progress lines. */
  onObject?: (key: string, read: LogObjectRead) => void;
  now?: () => number;
}

/** One object as read by a pass. */
export interface LogObjectRead {
  records: number;
  /** Rows handed to the store (excluding those committed by an earlier run). */
  flows: number;
  malformed: number;
  /** Rows skipped because an earlier run committed them (a resumed or grown object). */
  resumedRows: number;
}

export interface LogSourceStats {
  /** Objects read into the store this run. */
  objects: number;
  /** Objects listed but already in the checkpoint. */
  skipped: number;
  /** Records read from the objects read this run (lines, JSON records, Azure tuples, Parquet rows), good or bad. */
  records: number;
  /** Rows handed to the store this run. */
  flows: number;
  /** Rows of re-read objects skipped because they were committed before. */
  resumedRows: number;
  malformed: number;
  errors: number;
  passes: number;
  /** Objects whose last row was committed by this source's flushes this run (checkpoint done). */
  committed: number;
}

interface Checkpoint {
  version: string;
  size: number;
  rows: number;
  /** IDS alerts of the object committed; null in a checkpoint written before alerts were counted. */
  alerts: number | null;
  done: boolean;
}

interface InFlight {
  key: string;
  version: string;
  size: number;
  /** Rows committed before this read (a resumed or grown object). */
  base: number;
  /** Cumulative parsed-row numbers of this object's first row and one past its last. */
  start: number;
  end: number;
  /** IDS alerts committed before this read (null: a checkpoint from before they were counted). */
  alertsBase: number | null;
  /** Alerts of the object once this read's new alerts are committed. */
  alerts: number;
  /** This read's new alerts are queued in the store before any commit that starts from now on. */
  alertsIn: boolean;
}

/** An empty batch: appending it orders nothing but a point in the store's sequence of operations. */
const FENCE = new FlowBatch(1);

const TABLE = 'source_checkpoints';
const DDL = `CREATE TABLE IF NOT EXISTS ${TABLE} (source VARCHAR, key VARCHAR, version VARCHAR, size BIGINT, rows BIGINT, done BOOLEAN, updated_ms BIGINT, alerts BIGINT, PRIMARY KEY (source, key))`;
/** Data directories made before alerts were counted: the column is added, NULL in their rows. */
const MIGRATE = `ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS alerts BIGINT`;
/** Commit at least this often while objects keep coming. */
const COMMIT_ROWS = 200_000;
const COMMIT_MS = 1000;

export class LogSource {
  readonly stats: LogSourceStats = {
    objects: 0,
    skipped: 0,
    records: 0,
    flows: 0,
    resumedRows: 0,
    malformed: 0,
    errors: 0,
    passes: 0,
    committed: 0,
  };
  private readonly pipeline: IngestPipeline;
  private readonly committed = new Map<string, Checkpoint>();
  private inflight: InFlight[] = [];
  private loaded = false;
  private loading = false;
  private parsedRows = 0;
  private handed = 0;
  private appendedRows = 0;
  private doneUncounted = 0;
  private readonly handedEnd = new WeakMap<FlowBatch, number>();
  private readonly removeHook: () => void;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Set when a transaction this source wrote into was rolled back: it stops (restart resumes). */
  private failure: string | undefined;
  /** stop() was called: a pass under way ends after the object being read. */
  private stopping = false;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: LogSourceOptions) {
    this.pollMs = opts.pollMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    const store = opts.store;
    this.pipeline = new IngestPipeline({
      counters: opts.counters,
      batchSize: opts.batchSize,
      writer: {
        append: (b) => {
          const end = this.handedEnd.get(b) ?? this.handed;
          const p = store.append(b);
          p.then(
            () => {
              this.appendedRows = end;
            },
            () => {},
          );
          return p;
        },
        flush: () =>
          store.flush().then((n) => {
            // Counted once COMMIT has returned (the hook runs just before it).
            this.stats.committed += this.doneUncounted;
            this.doneUncounted = 0;
            return n;
          }),
      },
      transform: (b) => {
        // Counted before the transform, which may drop rows (per-exporter rate limits).
        this.handed += b.length;
        this.handedEnd.set(b, this.handed);
        opts.transform?.(b);
      },
      onError: (e) => this.fail(`store: ${e.message}`),
    });
    const hook: CommitHook = {
      pending: () => this.loading || this.inflight.length > 0,
      write: (run) => this.writeCheckpoints(run),
      aborted: () => {
        if (this.inflight.length > 0 || this.loading) this.fail('a store commit holding its flows was rolled back');
      },
    };
    this.removeHook = opts.store.addCommitHook(hook);
  }

  /** Poll until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.lister.watch?.(() => this.wakeUp?.());
    this.loop = (async () => {
      while (this.running && this.failure === undefined) {
        try {
          await this.runOnce();
        } catch (e) {
          this.report(`${this.opts.lister.description}: ${(e as Error).message}`);
        }
        if (!this.running || this.failure !== undefined) break;
        const recheck = this.opts.lister.recheckMs?.();
        const wait = recheck !== undefined ? Math.min(recheck, this.pollMs) : this.pollMs;
        const ac = new AbortController();
        this.wakeUp = () => ac.abort();
        await sleep(wait, undefined, { signal: ac.signal }).catch(() => {});
        this.wakeUp = undefined;
      }
    })();
  }

  /** Finish the object being read, commit, stop polling (the rest of a pass waits for the next start). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.wakeUp?.();
    await this.loop;
    if (this.failure === undefined) await this.pipeline.flush().catch((e: Error) => this.fail(e.message));
    this.removeHook();
    await this.opts.lister.close?.();
  }

  get failed(): string | undefined {
    return this.failure;
  }

  /** One pass: list, read every object not yet stored, commit. */
  async runOnce(): Promise<LogSourceStats> {
    if (this.failure !== undefined) throw new Error(this.failure);
    if (!this.loaded) await this.load();
    const objects = await this.opts.lister.list();
    let lastCommit = this.now();
    let rowsAtCommit = this.parsedRows;
    for (const o of objects) {
      if (this.failure !== undefined || this.stopping) break;
      const cp = this.committed.get(o.key);
      if (cp?.done && cp.version === o.version) {
        this.stats.skipped++;
        continue;
      }
      if (this.inflight.some((f) => f.key === o.key)) continue; // read, not yet committed
      await this.readObject(o, cp);
      if (this.pipeline.backlogFull) await this.pipeline.whenDrained();
      if (
        this.parsedRows - rowsAtCommit >= (this.opts.commitRows ?? COMMIT_ROWS) ||
        this.now() - lastCommit >= (this.opts.commitMs ?? COMMIT_MS)
      ) {
        await this.pipeline.flush();
        lastCommit = this.now();
        rowsAtCommit = this.parsedRows;
      }
    }
    await this.pipeline.flush();
    this.stats.passes++;
    if (this.failure !== undefined) throw new Error(this.failure);
    return this.stats;
  }

  private async readObject(o: LogObjectInfo, cp: Checkpoint | undefined): Promise<void> {
    const skipRows = cp?.rows ?? 0;
    // Alerts are counted apart from rows: an eve.json can grow by alerts alone.
    const alertsBase = cp === undefined ? 0 : cp.alerts;
    let bytes: Uint8Array;
    try {
      bytes = await this.opts.lister.read(o);
    } catch (e) {
      // Left out of the checkpoint: the next pass tries again.
      this.stats.errors++;
      this.report(`${o.key}: cannot read: ${(e as Error).message}`);
      return;
    }
    const received = this.now();
    const start = this.parsedRows;
    // In flight from before the parse: a parser may await (the Parquet one does file I/O after its
    // rows are written) and a flush meanwhile (another input's on the shared store, or a full
    // backlog) commits the rows handed so far; the hook must see this object to checkpoint them.
    // Its end is unknown until the parse returns: Infinity keeps it not done.
    const f: InFlight = {
      key: o.key,
      version: o.version,
      size: o.size,
      base: Math.max(skipRows, 0),
      start,
      end: Number.POSITIVE_INFINITY,
      alertsBase,
      alerts: alertsBase ?? 0,
      alertsIn: true,
    };
    this.inflight.push(f);
    let touched = false;
    const sink: BatchSink = {
      batch: () => {
        touched = true;
        return this.pipeline.batch();
      },
    };
    let produced: number;
    let r: Awaited<ReturnType<typeof parseLogObject>>;
    try {
      if (skipRows === 0) {
        r = await parseLogObject(o.key, bytes, received, sink, this.opts.format);
        produced = r.flows;
      } else {
        // Parsing is deterministic: the same bytes (or a grown object's prefix) give the same rows in
        // the same order, so the first `skipRows` are the ones already committed.
        const all = new CollectingSink(() => new FlowBatch(8192));
        r = await parseLogObject(o.key, bytes, received, all, this.opts.format);
        produced = 0;
        let i = 0;
        for (const b of all.batches)
          for (let row = 0; row < b.length; row++, i++) {
            if (i < skipRows) continue;
            this.pipeline.batch().copyRowFrom(b, row);
            produced++;
          }
        this.stats.resumedRows += Math.min(skipRows, r.flows);
        if (r.flows < skipRows)
          this.report(
            `${o.key}: now ${r.flows} flows, ${skipRows} were stored before (object rewritten?); none re-read`,
          );
      }
    } catch (e) {
      // parseLogObject does not throw on bad input: this is an I/O or internal failure.
      const msg = (e as Error).message;
      if (!touched) {
        // No row of it reached the pipeline: out of the checkpoint, the next pass tries again.
        this.inflight.splice(this.inflight.indexOf(f), 1);
        this.stats.errors++;
        this.report(`${o.key}: cannot parse: ${msg}`);
        return;
      }
      // Some rows may be handed to the store, how many is unknown: stop (the checkpoint holds what
      // was committed; a restart re-reads the object from there).
      this.fail(`${o.key}: parse failed after some of its rows were handed to the store: ${msg}`);
      return;
    }
    this.parsedRows += produced;
    f.end = this.parsedRows;
    this.queueAlerts(o.key, f, r.alerts ?? []);
    this.stats.objects++;
    this.stats.records += r.records;
    this.stats.flows += produced;
    if (r.malformed) {
      this.stats.malformed += r.malformed;
      this.opts.counters.add(`input:${this.opts.name}`, 'malformed', r.malformed);
    }
    for (const e of r.errors.slice(0, 3)) this.report(e);
    this.opts.onObject?.(o.key, {
      records: r.records,
      flows: produced,
      malformed: r.malformed,
      resumedRows: Math.min(skipRows, r.flows),
    });
  }

  /**
   * The object's alerts not committed before (in parse order, as its rows: those of a grown
   * eve.json follow the ones already stored) go with the next commit. The store drains its queued
   * alerts at the start of a commit, so a commit already running may hold none of them; an empty
   * append queued behind them marks the point after which every commit does, and until it is
   * reached the checkpoint keeps the old alert count and the object is not done.
   */
  private queueAlerts(key: string, f: InFlight, alerts: readonly IdsAlert[]): void {
    if (f.alertsBase === null) {
      // Checkpointed before alerts were counted: those of the object's first read were stored with
      // its first rows, how many is unknown; all the alerts it has now are taken as stored.
      f.alertsBase = f.alerts = alerts.length;
      return;
    }
    if (alerts.length < f.alertsBase) {
      this.report(
        `${key}: now ${alerts.length} alerts, ${f.alertsBase} were stored before (object rewritten?); none re-read`,
      );
      return;
    }
    if (alerts.length === f.alertsBase) return;
    this.opts.store.appendIdsAlerts(alerts.slice(f.alertsBase));
    f.alerts = alerts.length;
    f.alertsIn = false;
    this.opts.store.append(FENCE).then(
      () => {
        f.alertsIn = true;
      },
      () => {},
    );
  }

  private async load(): Promise<void> {
    this.loading = true;
    await this.opts.store.flush();
    if (this.loading) throw new Error('checkpoint table not read (store commit did not run the hook)');
    this.loaded = true;
  }

  private async writeCheckpoints(run: Parameters<CommitHook['write']>[0]): Promise<void> {
    if (this.loading) {
      await run(DDL);
      await run(MIGRATE);
      const rows = await run(`SELECT key, version, size, rows, done, alerts FROM ${TABLE} WHERE source = $1`, [
        this.opts.name,
      ]);
      for (const [key, version, size, nrows, done, alerts] of rows)
        this.committed.set(String(key), {
          version: String(version),
          size: Number(size),
          rows: Number(nrows),
          alerts: alerts === null ? null : Number(alerts),
          done: done === true,
        });
      this.loading = false;
    }
    if (this.inflight.length === 0) return;
    const appended = this.appendedRows;
    const keep: InFlight[] = [];
    const ms = this.now();
    for (const f of this.inflight) {
      const inStore = Math.max(0, Math.min(appended, f.end) - f.start);
      const done = appended >= f.end && f.alertsIn;
      const rows = f.base + inStore;
      const alerts = f.alertsIn ? f.alerts : f.alertsBase;
      await run(
        `INSERT OR REPLACE INTO ${TABLE} (source, key, version, size, rows, done, updated_ms, alerts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          this.opts.name,
          f.key,
          f.version,
          BigInt(f.size),
          BigInt(rows),
          done,
          BigInt(ms),
          alerts === null ? null : BigInt(alerts),
        ],
      );
      this.committed.set(f.key, { version: f.version, size: f.size, rows, alerts, done });
      if (!done) keep.push(f);
      else this.doneUncounted++;
    }
    this.inflight = keep;
  }

  private fail(message: string): void {
    if (this.failure !== undefined) return;
    this.failure = `input ${this.opts.name}: ${message}; stopped (a restart resumes from the last commit)`;
    this.report(this.failure);
  }

  private report(message: string): void {
    this.opts.onError?.(message);
  }
}
