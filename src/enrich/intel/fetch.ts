// Feed fetching: each feed from a file or an HTTP(S) URL, refreshed on an interval with
// conditional GET (RFC 9110 §13.1.2 If-None-Match with the ETag, §13.1.3 If-Modified-Since with
// Last-Modified; a 304 keeps the current copy), the last good copy kept on disk so that a restart
// while the URL is down still has the feed, and a failed refresh keeping the last good indicators
// (and so the last good table) while the error is reported.
//
// This is the I/O edge of intel: parsing is feeds.ts, the table intel.ts. A refresh produces new
// indicator lists; IntelFeedSet rebuilds the (immutable) IntelTable only when one of them changed
// and hands it to whoever swaps it in.

import { Buffer } from 'node:buffer';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnrichSourceError } from '../source-error.js';
import {
  type FeedFormat,
  type FeedParseOptions,
  type FeedParseResult,
  type Indicator,
  parseFeed,
  parseMispEvent,
  parseMispManifest,
} from './feeds.js';
import { buildIntelTable, type IntelTable } from './intel.js';

export interface FeedSpec extends Omit<FeedParseOptions, 'feed' | 'file'> {
  /** Feed name (ti_feeds). */
  name: string;
  format: FeedFormat;
  /** A file path or an http(s):// URL; for MISP feeds the manifest.json (events beside it). */
  location: string;
  /** Seconds between refreshes (default 3600: Spamhaus asks for no more than one download an hour). */
  refreshSeconds?: number;
}

export interface FetchOptions {
  /** Where last good copies are kept (created if missing). */
  cacheDir: string;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Largest body accepted (default 256 MiB): a feed is read whole before it is parsed. */
  maxBytes?: number;
}

export type RefreshStatus = 'updated' | 'not-modified' | 'failed' | 'from-cache';

export interface RefreshReport {
  feed: string;
  status: RefreshStatus;
  /** Indicators now in use for this feed. */
  indicators: number;
  warnings: number;
  /** Why the refresh failed (the last good copy stays in use). */
  error?: string;
}

interface CacheMeta {
  location: string;
  etag?: string;
  lastModified?: string;
  fetchedAt: number;
}

/** One feed: its current indicators, and how to refresh them. */
export class FeedFetcher {
  private result: FeedParseResult | null = null;
  private meta: CacheMeta | null = null;
  private fileStamp = '';
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly spec: FeedSpec,
    private readonly opts: FetchOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  }

  /** Indicators in use (empty before the first successful load). */
  get indicators(): readonly Indicator[] {
    return this.result?.indicators ?? [];
  }

  get parsed(): FeedParseResult | null {
    return this.result;
  }

  private get isHttp(): boolean {
    return /^https?:\/\//i.test(this.spec.location);
  }

  private cachePath(ext: string): string {
    return join(this.opts.cacheDir, `${this.spec.name.replace(/[^A-Za-z0-9._-]/g, '_')}.${ext}`);
  }

  /**
   * Fetch (conditionally, once something is held) and parse. Never throws: a failure keeps the
   * current copy; with none held yet (start-up), the last good copy on disk is loaded instead.
   */
  async refresh(): Promise<RefreshReport> {
    try {
      const changed = this.isHttp ? await this.refreshHttp() : await this.refreshFile();
      return this.report(changed ? 'updated' : 'not-modified');
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (this.result === null && this.isHttp) {
        try {
          if (await this.loadCache()) return this.report('from-cache', error);
        } catch (ce) {
          return this.report('failed', `${error}; cached copy unusable: ${(ce as Error).message}`);
        }
      }
      return this.report('failed', error);
    }
  }

  private report(status: RefreshStatus, error?: string): RefreshReport {
    const r: RefreshReport = {
      feed: this.spec.name,
      status,
      indicators: this.result?.indicators.length ?? 0,
      warnings: this.result?.warningCount ?? 0,
    };
    if (error !== undefined) r.error = error;
    return r;
  }

  private parse(text: string, file: string, events?: Record<string, string>): FeedParseResult {
    const r = this.parseAll(text, file, events);
    // a body where nothing parsed but something was wrong is a broken download or a changed
    // format, not an emptied feed: refuse it so the last good copy stays
    if (r.indicators.length === 0 && r.warningCount > 0) {
      const w = r.warnings[0];
      throw new Error(`${file}: no indicators, ${r.warningCount} bad lines (first ${w.source}: ${w.reason})`);
    }
    return r;
  }

  private parseAll(text: string, file: string, events?: Record<string, string>): FeedParseResult {
    const opts: FeedParseOptions = { ...this.spec, feed: this.spec.name, file };
    if (this.spec.format !== 'misp' || events === undefined) return parseFeed(text, this.spec.format, opts);
    const out: FeedParseResult = { indicators: [], warnings: [], warningCount: 0 };
    for (const [uuid, body] of Object.entries(events)) {
      const r = parseMispEvent(body, { ...opts, file: eventLocation(file, uuid) });
      for (const i of r.indicators) out.indicators.push(i);
      out.warnings.push(...r.warnings.slice(0, Math.max(0, 100 - out.warnings.length)));
      out.warningCount += r.warningCount;
    }
    return out;
  }

  private async refreshFile(): Promise<boolean> {
    const loc = this.spec.location;
    const st = await stat(loc);
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (this.result !== null && stamp === this.fileStamp) return false;
    const text = await readFile(loc, 'utf8');
    if (this.spec.format === 'misp') {
      const events: Record<string, string> = {};
      for (const uuid of parseMispManifest(text, loc)) {
        events[uuid] = await readFile(eventLocation(loc, uuid), 'utf8');
      }
      this.result = this.parse(text, loc, events);
    } else this.result = this.parse(text, loc);
    this.fileStamp = stamp;
    return true;
  }

  private async refreshHttp(): Promise<boolean> {
    const loc = this.spec.location;
    const headers: Record<string, string> = {};
    if (this.result !== null && this.meta !== null) {
      if (this.meta.etag !== undefined) headers['if-none-match'] = this.meta.etag;
      if (this.meta.lastModified !== undefined) headers['if-modified-since'] = this.meta.lastModified;
    }
    const res = await this.get(loc, headers);
    if (res.status === 304) {
      if (this.result === null) throw new Error(`${loc}: 304 Not Modified with no copy held`);
      return false;
    }
    const text = res.body;
    let events: Record<string, string> | undefined;
    if (this.spec.format === 'misp') {
      events = {};
      for (const uuid of parseMispManifest(text, loc)) {
        const ev = await this.get(eventLocation(loc, uuid), {});
        if (ev.status !== 200) throw new Error(`${eventLocation(loc, uuid)}: HTTP ${ev.status}`);
        events[uuid] = ev.body;
      }
    }
    // parse before anything is replaced: a broken body must not displace the last good copy
    const result = this.parse(text, loc, events);
    const meta: CacheMeta = { location: loc, fetchedAt: Date.now() };
    if (res.etag !== null) meta.etag = res.etag;
    if (res.lastModified !== null) meta.lastModified = res.lastModified;
    this.result = result;
    this.meta = meta;
    await this.saveCache(text, events, meta);
    return true;
  }

  private async get(
    url: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: string; etag: string | null; lastModified: string | null }> {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    if (res.status === 304) {
      await res.body?.cancel();
      return { status: 304, body: '', etag: null, lastModified: null };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`${url}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > this.maxBytes) {
      await res.body?.cancel();
      throw new Error(`${url}: ${declared} bytes is over the ${this.maxBytes}-byte limit`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body !== null) {
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > this.maxBytes) throw new Error(`${url}: body over the ${this.maxBytes}-byte limit`);
        chunks.push(chunk);
      }
    }
    return {
      status: 200,
      body: Buffer.concat(chunks).toString('utf8'),
      etag: res.headers.get('etag'),
      lastModified: res.headers.get('last-modified'),
    };
  }

  private async saveCache(text: string, events: Record<string, string> | undefined, meta: CacheMeta): Promise<void> {
    await mkdir(this.opts.cacheDir, { recursive: true });
    const body = events === undefined ? text : JSON.stringify({ manifest: text, events });
    // write-then-rename: a crash mid-write leaves the previous good copy, never half a feed
    await writeAtomic(this.cachePath('body'), body);
    await writeAtomic(this.cachePath('meta.json'), JSON.stringify(meta));
  }

  private async loadCache(): Promise<boolean> {
    let metaText: string;
    let body: string;
    try {
      metaText = await readFile(this.cachePath('meta.json'), 'utf8');
      body = await readFile(this.cachePath('body'), 'utf8');
    } catch {
      return false;
    }
    const meta = JSON.parse(metaText) as CacheMeta;
    if (meta.location !== this.spec.location) return false;
    if (this.spec.format === 'misp') {
      const c = JSON.parse(body) as { manifest: string; events: Record<string, string> };
      this.result = this.parse(c.manifest, meta.location, c.events);
    } else this.result = this.parse(body, meta.location);
    this.meta = meta;
    return true;
  }
}

function eventLocation(manifest: string, uuid: string): string {
  const slash = manifest.lastIndexOf('/');
  return `${slash < 0 ? '' : manifest.slice(0, slash + 1)}${uuid}.json`;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * All configured feeds and the table built from them. `refreshDue()` refreshes the feeds whose
 * interval has passed and rebuilds the table when one changed; `start()` runs it on a timer.
 */
export class IntelFeedSet {
  readonly fetchers: FeedFetcher[];
  private current: IntelTable | null = null;
  private readonly nextDue: number[];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RefreshReport[]> | null = null;

  constructor(specs: readonly FeedSpec[], opts: FetchOptions) {
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new EnrichSourceError(s.location, undefined, `feed name ${s.name} used twice`);
      names.add(s.name);
    }
    this.fetchers = specs.map((s) => new FeedFetcher(s, opts));
    this.nextDue = specs.map(() => 0);
  }

  /** The table in use (built from every feed's last good copy); empty before the first refresh. */
  get table(): IntelTable {
    if (this.current === null) this.current = buildIntelTable([]);
    return this.current;
  }

  /** Refresh every feed that is due (all of them at the first call); rebuild if any changed. */
  async refreshDue(
    now = Date.now(),
    onTable?: (t: IntelTable, reports: RefreshReport[]) => void,
  ): Promise<RefreshReport[]> {
    if (this.running !== null) return this.running;
    this.running = (async () => {
      const reports: RefreshReport[] = [];
      for (let i = 0; i < this.fetchers.length; i++) {
        if (now < this.nextDue[i]) continue;
        const f = this.fetchers[i];
        reports.push(await f.refresh());
        this.nextDue[i] = now + (f.spec.refreshSeconds ?? 3600) * 1000;
      }
      if (this.current === null || reports.some((r) => r.status === 'updated' || r.status === 'from-cache')) {
        this.current = buildIntelTable(this.fetchers.flatMap((f) => f.indicators));
        onTable?.(this.current, reports);
      }
      return reports;
    })();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  /** Refresh now and then every `tickMs` (default 10 s) for the feeds that are due. */
  start(
    onTable: (t: IntelTable, reports: RefreshReport[]) => void,
    onReports?: (r: RefreshReport[]) => void,
    tickMs = 10_000,
  ): void {
    if (this.timer !== null) return;
    const tick = () => {
      this.refreshDue(Date.now(), onTable).then(
        (r) => onReports?.(r),
        () => {},
      );
    };
    tick();
    this.timer = setInterval(tick, tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
