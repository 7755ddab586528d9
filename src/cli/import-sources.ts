// `flowwatch import` from a place logs keep arriving in, rather than from files named once:
//   flowwatch import --watch DIR                      keep importing each file dropped into DIR
//   flowwatch import s3://BUCKET/PREFIX [--watch]     one pass over the objects there now (or keep polling)
//   flowwatch import azblob://CONTAINER/PREFIX [--watch]
// Each is a LogSource (src/ingest/sources/source.ts) whose checkpoint name is `import:` + the
// location, so a rerun, or `--watch` restarted after a stop, reads only what no earlier import
// committed: the checkpoints are written in the flows' own transactions.
//
// Stopping (SIGINT/SIGTERM) waits for the current commit. A pass over a large bucket is cut into
// chunks of listed objects, each ending with a commit, so a stop is never more than one chunk
// away; the objects of later chunks are simply read by the next run.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defaultConfig, loadConfig } from '../config/config.js';
import { Enrichment } from '../enrich/manager.js';
import type { EnrichSettings } from '../enrich/settings.js';
import { DirectoryLister } from '../ingest/sources/directory.js';
import { asLogFormat, LOG_FORMATS, type LogFormat } from '../ingest/sources/parse.js';
import { type LogObjectInfo, LogSource, type ObjectLister } from '../ingest/sources/source.js';
import { ExporterCounters } from '../pipeline/counters.js';
import { ExporterPolicy, type ExporterSetting } from '../pipeline/exporter-policy.js';
import { openStore } from '../store/duckdb/index.js';
import { parseDuration } from '../util/units.js';

/** A command line that cannot work (bad location, missing credentials): exit status 2. */
export class SourceUsageError extends Error {}

export interface SourceImportOptions {
  dataDir: string;
  /** A directory (with `watch`), `s3://BUCKET/PREFIX` or `azblob://CONTAINER/PREFIX`. */
  location: string;
  /** Keep importing until `signal` aborts; otherwise one pass over what is there now. */
  watch: boolean;
  format?: LogFormat;
  /** S3: an S3-compatible endpoint, the region (else AWS_REGION, AWS_DEFAULT_REGION, us-east-1), path-style URLs. */
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  /** Azure: else AZURE_STORAGE_CONNECTION_STRING. */
  connectionString?: string;
  /** A directory's file must stay unchanged this long before it is read (default 2 s). */
  settleMs?: number;
  /** Time between listings with `watch` (default 10 s for a directory, 60 s for object stores). */
  pollMs?: number;
  exporters?: ReadonlyMap<string, ExporterSetting>;
  enrich?: EnrichSettings;
  /** Progress: a line per object, running totals, and (`error` set) problems as they happen. */
  print?: (line: string, error?: boolean) => void;
  /** Stops the import after the current commit. */
  signal?: AbortSignal;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface SourceImportSummary {
  /** The checkpoint name: `import:` + the location. */
  input: string;
  /** Objects read into the store by this run. */
  objects: number;
  /** Objects listed but not read by this run: stored by an earlier import (or unreadable: see errors). */
  skipped: number;
  records: number;
  /** Rows parsed and handed to the store (before per-exporter policy). */
  flows: number;
  /** Rows of grown or interrupted objects skipped because an earlier import stored them. */
  resumedRows: number;
  malformed: number;
  /** Flows the store gained. */
  stored: number;
  /** Object names (and lines) with what was wrong; capped at MAX_ERRORS. */
  errors: string[];
  /** Set when the import could not go on (listing failed in a single pass, store rolled back). */
  failed?: string;
}

const MAX_ERRORS = 100;
/** A chunk of a pass: a stop waits for at most this much to be read and committed. */
const CHUNK_OBJECTS = 256;
const CHUNK_BYTES = 16 << 20;

/** Whether `arg` names an object store location rather than a file. */
export function isSourceLocation(arg: string): boolean {
  return /^(s3|azblob):\/\//i.test(arg);
}

/** The checkpoint name and lister of a location; throws SourceUsageError naming what is missing. */
export async function sourceLister(
  o: SourceImportOptions,
): Promise<{ input: string; lister: ObjectLister; pollMs: number }> {
  const env = o.env ?? process.env;
  const m = /^(s3|azblob):\/\/([^/]*)\/?(.*)$/i.exec(o.location);
  if (m === null) {
    if (!o.watch) throw new SourceUsageError(`import: ${o.location}: a directory is imported with --watch`);
    const dir = resolve(o.location);
    let isDir = false;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch {}
    if (!isDir) throw new SourceUsageError(`import --watch: ${o.location} is not a directory`);
    return {
      input: `import:${dir}`,
      lister: new DirectoryLister({ dir, settleMs: o.settleMs }),
      pollMs: o.pollMs ?? 10_000,
    };
  }
  const scheme = m[1].toLowerCase();
  const [, , container, prefix] = m;
  if (!container) throw new SourceUsageError(`import: ${o.location}: no ${scheme === 's3' ? 'bucket' : 'container'}`);
  const input = `import:${scheme}://${container}/${prefix}`;
  const pollMs = o.pollMs ?? 60_000;
  if (scheme === 's3') {
    // Credentials: the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, role).
    // The SDKs are loaded only by the import that uses them: each costs a noticeable start-up.
    const { S3Lister } = await import('../ingest/sources/s3.js');
    const lister = new S3Lister({
      bucket: container,
      prefix: prefix || undefined,
      region: o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
      endpoint: o.endpoint,
      forcePathStyle: o.pathStyle,
    });
    return { input, lister, pollMs };
  }
  const connectionString = o.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
  if (!connectionString)
    throw new SourceUsageError(
      `import: ${o.location}: --connection-string or the AZURE_STORAGE_CONNECTION_STRING environment variable is required`,
    );
  const { AzureBlobLister } = await import('../ingest/sources/azure-blob.js');
  let lister: ObjectLister;
  try {
    lister = new AzureBlobLister({ container, prefix: prefix || undefined, connectionString });
  } catch (e) {
    throw new SourceUsageError(`import: ${o.location}: ${(e as Error).message}`);
  }
  return { input, lister, pollMs };
}

/**
 * `flowwatch import` with --watch or an s3:// / azblob:// location, from main's parsed flags:
 * prints a line per object and the summary to stdout, stops on SIGINT/SIGTERM after the current
 * commit. Returns the exit status.
 */
export async function sourceImportCommand(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  if (positionals.length !== 1)
    throw new SourceUsageError('import: --watch and s3:// or azblob:// take one location (a directory with --watch)');
  const str = (k: string) => values[k] as string | undefined;
  const format = asLogFormat(str('format'));
  if (str('format') !== undefined && format === undefined)
    throw new SourceUsageError(`import --format: for logs one of ${LOG_FORMATS.join(', ')}`);
  const duration = (k: string) => {
    const v = str(k);
    if (v === undefined) return undefined;
    const ms = parseDuration(v);
    if (ms === null || ms < 0) throw new SourceUsageError(`import --${k}: expected a duration such as 500ms, 2s or 1m`);
    return ms;
  };
  const settleMs = duration('settle');
  const pollMs = duration('poll');
  if (pollMs === 0) throw new SourceUsageError('import --poll: expected a duration above zero');
  const cfg = values.config ? loadConfig(values.config as string) : undefined;
  const enrich = (cfg ?? defaultConfig()).enrich;
  const ac = new AbortController();
  const stop = () => {
    if (!ac.signal.aborted) process.stderr.write('flowwatch: stopping after the current commit\n');
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const s = await importFromSource({
      dataDir: str('data') ?? cfg?.dataDir ?? './data',
      location: positionals[0],
      watch: values.watch === true,
      format,
      endpoint: str('endpoint'),
      region: str('region'),
      pathStyle: values['path-style'] === true,
      connectionString: str('connection-string'),
      settleMs,
      pollMs,
      exporters: cfg?.exporters,
      enrich: values['no-geo'] ? { ...enrich, geo: false } : enrich,
      print: (line, error) => {
        if (error) process.stderr.write(`flowwatch: ${line}\n`);
        else if (!values.quiet) process.stdout.write(`${line}\n`);
      },
      signal: ac.signal,
    });
    process.stdout.write(renderSourceSummary(s, positionals[0]));
    return s.failed !== undefined || (s.errors.length > 0 && s.objects === 0) ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Import from a directory, S3 prefix or blob container prefix; never throws on bad objects. */
export async function importFromSource(o: SourceImportOptions): Promise<SourceImportSummary> {
  const { input, lister: inner, pollMs } = await sourceLister(o);
  const print = o.print ?? (() => {});
  const s: SourceImportSummary = {
    input,
    objects: 0,
    skipped: 0,
    records: 0,
    flows: 0,
    resumedRows: 0,
    malformed: 0,
    stored: 0,
    errors: [],
  };
  const store = await openStore({ dir: o.dataDir });
  const counters = new ExporterCounters();
  const policy = new ExporterPolicy(o.exporters ?? new Map(), counters);
  const enrichment = o.enrich
    ? new Enrichment(o.enrich, {
        cacheDir: resolve(o.dataDir, 'intel-cache'),
        log: (level, msg) => {
          if (level !== 'info') print(`enrich: ${msg}`, true);
        },
      })
    : undefined;
  const error = (msg: string) => {
    if (s.errors.length < MAX_ERRORS) s.errors.push(msg);
    print(msg, true);
  };
  const lister = new ChunkedLister(inner);
  const read = new Set<string>();
  const source = new LogSource({
    name: input,
    lister,
    store,
    counters,
    format: o.format,
    transform: (b) => {
      policy.apply(b);
      enrichment?.apply(b);
    },
    onError: error,
    onObject: (key, r) => {
      read.add(key);
      print(
        `${key}: ${r.records} records, ${r.flows} flows` +
          (r.malformed ? `, ${r.malformed} malformed` : '') +
          (r.resumedRows ? `, ${r.resumedRows} stored before` : ''),
      );
    },
  });
  let storedBefore = 0;
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  o.signal?.addEventListener('abort', onAbort);
  try {
    await enrichment?.load();
    if (o.watch) enrichment?.start();
    storedBefore = await store.count();
    if (o.watch) inner.watch?.(() => wake?.());
    let shownObjects = 0;
    let shownListed = false;
    while (!o.signal?.aborted) {
      try {
        await source.runOnce();
      } catch (e) {
        const msg = (e as Error).message;
        if (source.failed !== undefined || !o.watch) {
          s.failed = source.failed ?? `${inner.description}: ${msg}`;
          if (source.failed === undefined) error(s.failed);
          break;
        }
        error(`${inner.description}: ${msg}`);
      }
      if (lister.more) continue;
      // A total whenever something was read, and once when the objects already there are known.
      if (o.watch && (source.stats.objects !== shownObjects || (!shownListed && lister.listed.size > 0))) {
        shownObjects = source.stats.objects;
        shownListed = lister.listed.size > 0;
        print(runningTotal(source.stats, lister.listed.size, (await store.count()) - storedBefore));
      }
      const recheck = inner.recheckMs?.();
      if (!o.watch && recheck === undefined) break;
      const wait = recheck === undefined ? pollMs : Math.min(recheck, pollMs);
      await new Promise<void>((done) => {
        const t = setTimeout(done, wait);
        wake = () => {
          clearTimeout(t);
          done();
        };
        if (o.signal?.aborted) wake();
      });
      wake = undefined;
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await source.stop();
    enrichment?.close();
    if (source.failed !== undefined && s.failed === undefined) s.failed = source.failed;
    Object.assign(s, {
      objects: source.stats.objects,
      skipped: lister.listed.size - read.size,
      records: source.stats.records,
      flows: source.stats.flows,
      resumedRows: source.stats.resumedRows,
      malformed: source.stats.malformed,
    });
    s.stored = (await store.count().catch(() => storedBefore)) - storedBefore;
    await store.close();
  }
  return s;
}

/** The closing lines, in the words of the file import's summary. */
export function renderSourceSummary(s: SourceImportSummary, location: string): string {
  return (
    `imported ${s.objects} object(s) from ${location}: ${s.records} log records, ${s.flows} flows decoded, ` +
    `${s.stored} stored; ${s.skipped} object(s) imported before` +
    (s.resumedRows ? `, ${s.resumedRows} rows stored before` : '') +
    '\n' +
    (s.malformed ? `not decoded:\n  ${s.input}: malformed ${s.malformed}\n` : '') +
    (s.errors.length ? `errors:\n${s.errors.map((e) => `  ${e}`).join('\n')}\n` : '') +
    (s.failed !== undefined && !s.errors.includes(s.failed) ? `stopped: ${s.failed}\n` : '')
  );
}

function runningTotal(st: LogSource['stats'], listed: number, stored: number): string {
  return (
    `total: ${listed} object(s) seen, ${st.objects} read, ${st.records} log records, ${st.flows} flows decoded, ${stored} stored, ` +
    `${st.malformed} malformed, ${st.errors} unreadable`
  );
}

/**
 * Hands a pass's listing to the source a chunk at a time, so that each runOnce ends with a commit
 * after at most one chunk and a stop request is seen between chunks.
 */
class ChunkedLister implements ObjectLister {
  readonly description: string;
  private pending: LogObjectInfo[] = [];
  /** Every key listed this run. */
  readonly listed = new Set<string>();

  constructor(private readonly inner: ObjectLister) {
    this.description = inner.description;
  }

  /** The current pass has objects not yet handed out. */
  get more(): boolean {
    return this.pending.length > 0;
  }

  async list(): Promise<LogObjectInfo[]> {
    if (this.pending.length === 0) {
      this.pending = await this.inner.list();
      for (const o of this.pending) this.listed.add(o.key);
    }
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < CHUNK_OBJECTS && bytes < CHUNK_BYTES) bytes += this.pending[n++].size;
    return this.pending.splice(0, n);
  }

  read(o: LogObjectInfo): Promise<Uint8Array> {
    return this.inner.read(o);
  }

  recheckMs(): number | undefined {
    return this.inner.recheckMs?.();
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
