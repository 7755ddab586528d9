// Feed fetching: each feed from a file or an HTTP(S) URL, refreshed on an interval with
// conditional GET (RFC 9110 §13.1.2 If-None-Match with the ETag, §13.1.3 If-Modified-Since with
// Last-Modified; a 304 keeps the current copy), the last good copy kept on disk with its
// validators so that a restart (or a new loader thread) still asks conditionally and, while the URL
// is down, still has the feed; a failed refresh keeps the last good copy (and so the last good
// table) while the error is reported.
//
// This is the I/O edge of intel: parsing is feeds.ts, the table intel.ts. A refresh produces new
// indicator lists; IntelFeedSet rebuilds the (immutable) IntelTable only when one of them changed
// and hands it to whoever swaps it in. Indicators are not kept between refreshes (see FeedFetcher).

import { Buffer } from 'node:buffer';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
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
  /** File feeds: "size:mtime" of the file the copy was read from. */
  stamp?: string;
  /** Counts of the copy (reported while it stays in use). */
  indicators?: number;
  warnings?: number;
}

/**
 * One feed: how to refresh it, and where its last good copy is. Between refreshes it holds no
 * indicators — a 1 M-line feed is ~400 MB of Indicator objects — only the copy's metadata; the
 * copy itself (the body as fetched or read) is in the cache dir, and `lastGood()` parses it again
 * when another feed's change needs a rebuild. The metadata is read from the cache dir too, so a new
 * fetcher (a new loader thread, a restart) still sends If-None-Match / If-Modified-Since.
 */
export class FeedFetcher {
  private meta: CacheMeta | null = null;
  private metaRead = false;
  /** What the last refresh parsed, until take(). */
  private fresh: FeedParseResult | null = null;
  /**
   * Whether the last good copy is already in the table in use: a failure then keeps it
   * ('failed'); before that (start-up), a failure falls back to it ('from-cache').
   */
  inUse = false;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly spec: FeedSpec,
    private readonly opts: FetchOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  }

  /** What the last refresh parsed (null if it changed nothing); handed over once. */
  take(): FeedParseResult | null {
    const r = this.fresh;
    this.fresh = null;
    return r;
  }

  /** The last good copy, read from the cache dir and parsed again (null when there is none). */
  async lastGood(): Promise<FeedParseResult | null> {
    await this.readMeta();
    if (this.meta === null) return null;
    const body = await readFile(this.cachePath('body'), 'utf8');
    if (this.spec.format === 'misp') {
      const c = JSON.parse(body) as { manifest: string; events: Record<string, string> };
      return this.parse(c.manifest, this.meta.location, c.events);
    }
    return this.parse(body, this.meta.location);
  }

  private get isHttp(): boolean {
    return /^https?:\/\//i.test(this.spec.location);
  }

  private cachePath(ext: string): string {
    return join(this.opts.cacheDir, `${this.spec.name.replace(/[^A-Za-z0-9._-]/g, '_')}.${ext}`);
  }

  /**
   * Fetch (conditionally, once a copy is held) and parse. Never throws: a failure keeps the last
   * good copy; at start-up (no copy in use yet) that copy is loaded from the cache dir instead.
   */
  async refresh(): Promise<RefreshReport> {
    this.fresh = null;
    try {
      await this.readMeta();
      const changed = this.isHttp ? await this.refreshHttp() : await this.refreshFile();
      return this.report(changed ? 'updated' : 'not-modified');
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (!this.inUse && this.meta !== null) return this.report('from-cache', error);
      return this.report('failed', error);
    }
  }

  private report(status: RefreshStatus, error?: string): RefreshReport {
    const r: RefreshReport = {
      feed: this.spec.name,
      status,
      indicators: this.meta?.indicators ?? 0,
      warnings: this.meta?.warnings ?? 0,
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
    if (this.meta !== null && stamp === this.meta.stamp) return false;
    const text = await readFile(loc, 'utf8');
    const events =
      this.spec.format === 'misp' ? await this.mispEvents(text, loc, (at) => readFile(at, 'utf8')) : undefined;
    // a copy of a local file too: the file may be broken or gone when a rebuild needs it again
    await this.accept(this.parse(text, loc, events), text, events, { location: loc, fetchedAt: Date.now(), stamp });
    return true;
  }

  private async refreshHttp(): Promise<boolean> {
    const loc = this.spec.location;
    const headers: Record<string, string> = {};
    if (this.meta !== null) {
      if (this.meta.etag !== undefined) headers['if-none-match'] = this.meta.etag;
      if (this.meta.lastModified !== undefined) headers['if-modified-since'] = this.meta.lastModified;
    }
    const res = await this.get(loc, headers);
    if (res.status === 304) {
      if (this.meta === null) throw new Error(`${loc}: 304 Not Modified with no copy held`);
      return false;
    }
    const text = res.body;
    const events =
      this.spec.format === 'misp'
        ? await this.mispEvents(text, loc, async (at) => {
            const ev = await this.get(at, {});
            if (ev.status !== 200) throw new Error(`${at}: HTTP ${ev.status}`);
            return ev.body;
          })
        : undefined;
    // parse before anything is replaced: a broken body must not displace the last good copy
    const result = this.parse(text, loc, events);
    const meta: CacheMeta = { location: loc, fetchedAt: Date.now() };
    if (res.etag !== null) meta.etag = res.etag;
    if (res.lastModified !== null) meta.lastModified = res.lastModified;
    await this.accept(result, text, events, meta);
    return true;
  }

  /**
   * The events a MISP manifest lists, read one after another beside it. The feed as a whole (the
   * manifest and its events) is held to maxBytes and MAX_MISP_EVENTS: each request is limited on
   * its own, but a manifest can list any number of events.
   */
  private async mispEvents(
    manifest: string,
    loc: string,
    read: (at: string) => Promise<string>,
  ): Promise<Record<string, string>> {
    const uuids = parseMispManifest(manifest, loc);
    if (uuids.length > MAX_MISP_EVENTS) {
      throw new Error(`${loc}: ${uuids.length} events listed, over the limit of ${MAX_MISP_EVENTS}`);
    }
    const events: Record<string, string> = {};
    let bytes = manifest.length;
    for (const uuid of uuids) {
      const at = eventLocation(loc, uuid);
      const body = await read(at);
      bytes += body.length;
      if (bytes > this.maxBytes)
        throw new Error(`${at}: the feed's events together are over the ${this.maxBytes}-byte limit`);
      events[uuid] = body;
    }
    return events;
  }

  /** A parsed body becomes the last good copy: kept on disk, its indicators until take(). */
  private async accept(
    result: FeedParseResult,
    text: string,
    events: Record<string, string> | undefined,
    meta: CacheMeta,
  ): Promise<void> {
    meta.indicators = result.indicators.length;
    meta.warnings = result.warningCount;
    await mkdir(this.opts.cacheDir, { recursive: true });
    const body = events === undefined ? text : JSON.stringify({ manifest: text, events });
    // write-then-rename, body before meta: a crash mid-write leaves the previous good copy (or a
    // new body under the old meta, which a conditional GET only refreshes), never half a feed
    await writeFileAtomic(this.cachePath('body'), body);
    await writeFileAtomic(this.cachePath('meta.json'), JSON.stringify(meta));
    this.meta = meta;
    this.fresh = result;
    // handed over by take(): from now on a failure keeps this copy rather than falls back to it
    this.inUse = true;
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

  /** The copy held, from the cache dir's metadata (once per fetcher): no metadata or body, no copy. */
  private async readMeta(): Promise<void> {
    if (this.metaRead) return;
    this.metaRead = true;
    try {
      const meta = JSON.parse(await readFile(this.cachePath('meta.json'), 'utf8')) as CacheMeta;
      await stat(this.cachePath('body'));
      if (meta.location === this.spec.location) this.meta = meta;
    } catch {
      // none, or unreadable: fetched again unconditionally
    }
  }
}

/** Events one MISP feed may list (a manifest is one JSON object: hostile ones can list millions). */
export const MAX_MISP_EVENTS = 100_000;

function eventLocation(manifest: string, uuid: string): string {
  const slash = manifest.lastIndexOf('/');
  return `${slash < 0 ? '' : manifest.slice(0, slash + 1)}${uuid}.json`;
}

/** Feed names key the on-disk copies and the reports: two feeds of one name are refused. */
export function checkFeedNames(specs: readonly FeedSpec[]): void {
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new EnrichSourceError(s.location, undefined, `feed name ${s.name} used twice`);
    names.add(s.name);
  }
}

/**
 * All configured feeds and the table built from them. `refreshDue()` refreshes the feeds whose
 * interval has passed and rebuilds the table when one changed. It runs in the intel loader thread
 * (worker.ts, driven by IntelFeedWorker), and in-thread for tests and the reload benchmark.
 */
export class IntelFeedSet {
  readonly fetchers: FeedFetcher[];
  private current: IntelTable | null = null;
  private readonly nextDue: number[];
  private running: Promise<RefreshReport[]> | null = null;

  /** `inUse`: the caller already has a table with every feed's last good copy (a new loader thread). */
  constructor(specs: readonly FeedSpec[], opts: FetchOptions, inUse = false) {
    checkFeedNames(specs);
    this.fetchers = specs.map((s) => new FeedFetcher(s, opts));
    for (const f of this.fetchers) f.inUse = inUse;
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
      const due: number[] = [];
      for (let i = 0; i < this.fetchers.length; i++) {
        if (now < this.nextDue[i]) continue;
        due.push(i);
        this.nextDue[i] = now + (this.fetchers[i].spec.refreshSeconds ?? 3600) * 1000;
      }
      const { reports, table } = await this.refreshFeeds(due, this.current === null);
      if (table !== null) {
        this.current = table;
        onTable?.(table, reports);
      }
      return reports;
    })();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  /**
   * Refresh the feeds at `due` (indexes into `fetchers`) and build a table when one of them changed
   * or `build` is set (no table in use yet). The table is returned, not kept: in the loader thread
   * it is posted away. Parsed indicators live only until the build: the feeds that did not change
   * are parsed again from their last good copies, one feed at a time.
   */
  async refreshFeeds(
    due: readonly number[],
    build: boolean,
  ): Promise<{ reports: RefreshReport[]; table: IntelTable | null }> {
    const reports: RefreshReport[] = [];
    for (const i of due) reports.push(await this.fetchers[i].refresh());
    if (!build && !reports.some((r) => r.status === 'updated' || r.status === 'from-cache')) {
      return { reports, table: null };
    }
    const all: Indicator[] = [];
    for (const f of this.fetchers) {
      let r = f.take();
      if (r === null) {
        try {
          r = await f.lastGood();
        } catch (e) {
          const error = `last good copy unusable: ${(e as Error).message}`;
          const prev = reports.find((x) => x.feed === f.spec.name);
          if (prev === undefined)
            reports.push({ feed: f.spec.name, status: 'failed', indicators: 0, warnings: 0, error });
          else {
            prev.status = 'failed';
            prev.indicators = 0;
            prev.error = prev.error === undefined ? error : `${prev.error}; ${error}`;
          }
        }
      }
      // appended one by one: a spread of 1 M arguments overflows the stack
      if (r !== null) for (const ind of r.indicators) all.push(ind);
    }
    const table = buildIntelTable(all);
    for (const f of this.fetchers) f.inUse = true;
    return { reports, table };
  }
}
