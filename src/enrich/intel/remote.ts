// Threat-intel feeds loaded in a worker thread (issue 5: "a reload of 1 M indicators under load
// causes zero flow loss").
//
// `flowwatch serve` receives, decodes, enriches and stores on one event loop. Fetching, parsing and
// building a 1 M-indicator IntelTable in that loop blocks it for seconds, and while it is blocked
// nobody reads the UDP sockets: the kernel buffer fills and datagrams are lost. IntelFeedWorker
// keeps the API of IntelFeedSet but runs the IntelFeedSet in a worker (worker.ts); only the finished
// table crosses over, and the main thread's share of a reload is bounded by time slices:
//
//   typed arrays   their ArrayBuffers are transferred (moved, not copied: no cost per indicator)
//   string lists   domain names, URL hosts and URLs packed into one transferred byte array plus end
//                  offsets, instead of structured-cloned arrays of strings — deserialising an array
//                  or Map of 300 k strings is one uninterruptible step of 50–250 ms
//   Maps           domainIndex/urlHostIndex are not sent: they are name → group over contiguous
//                  groups, rebuilt here from the names in slices of a few ms with a yield between
//
// Memory: the thread is ended after every refresh that parsed anything (V8 keeps a heap it grew to
// ~1 GB for 1 M indicators as RSS; ended, the thread gives it back), and it holds no indicators in
// between anyway (fetch.ts). What a new thread needs — ETag/Last-Modified, file stamps, the last
// good copies — is in the cache dir; when a refresh is due is kept here. The heap is capped
// (maxHeapMb): a worker that dies (out of memory, a bug) fails the refresh with the reason, the
// last good table stays in use, and the next refresh starts a new worker.

import { Buffer } from 'node:buffer';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { checkFeedNames, type FeedSpec, type FetchOptions, type RefreshReport } from './fetch.js';
import { buildIntelTable, IntelTable, type IntelTableParts } from './intel.js';

/** Group kinds (intel.ts): the domain groups start at groupKindStart[4], URL-host groups at [5]. */
const K_DOMAIN = 4;
const K_URLHOST = 5;

/** Strings packed for transfer: UTF-8 bytes, and each string's end offset (in bytes). */
export interface PackedStrings {
  bytes: Uint8Array;
  ends: Uint32Array;
  /** Every byte < 0x80: byte offsets are character offsets, so a slice decodes many at once. */
  ascii: boolean;
}

/** An IntelTable as posted between threads (see the header for what is sent how). */
export interface IntelWire
  extends Omit<
    IntelTableParts,
    'domainNames' | 'urlHosts' | 'urlText' | 'domainIndex' | 'urlHostIndex' | 'entrySourceText'
  > {
  /**
   * entrySourceText as entry ids and packed texts: one per STIX/MISP indicator, so hundreds of
   * thousands; a Map would be structured-cloned and rebuilt in one go on the receiving thread
   * (measured 143–243 ms for 300 k entries).
   */
  sourceEntries: Uint32Array;
  sourceTexts: PackedStrings;
  domainNames: PackedStrings;
  urlHosts: PackedStrings;
  urlText: PackedStrings;
}

export function packStrings(list: readonly string[]): PackedStrings {
  const joined = list.join('');
  const bytes = new TextEncoder().encode(joined);
  const ascii = bytes.length === joined.length;
  const ends = new Uint32Array(list.length);
  let end = 0;
  for (let i = 0; i < list.length; i++) {
    end += ascii ? list[i].length : Buffer.byteLength(list[i], 'utf8');
    ends[i] = end;
  }
  return { bytes, ends, ascii };
}

/**
 * The parts of `t` to post, and the buffers to transfer with them. The table `t` is unusable
 * afterwards (its typed arrays are detached): the loader thread only ever builds and sends.
 */
export function toWire(t: IntelTable): { wire: IntelWire; transfer: ArrayBuffer[] } {
  const wire: IntelWire = {
    feeds: [...t.feeds],
    maskWords: t.maskWords,
    entryFeed: t.entryFeed,
    entryConf: t.entryConf,
    entryFile: t.entryFile,
    entryLine: t.entryLine,
    files: [...t.files],
    sourceEntries: Uint32Array.from(t.entrySourceText.keys()),
    sourceTexts: packStrings([...t.entrySourceText.values()]),
    urlText: packStrings(t.urlText),
    urlEntryBase: t.urlEntryBase,
    groupKindStart: t.groupKindStart,
    groupEntryStart: t.groupEntryStart,
    groupKey: t.groupKey,
    groupLen: t.groupLen,
    groupParent: t.groupParent,
    groupBest: t.groupBest,
    groupMask: t.groupMask,
    domainNames: packStrings(t.domainNames),
    urlHosts: packStrings(t.urlHosts),
    v4Keys: t.v4Keys,
    v4Vals: t.v4Vals,
    v4Shift: t.v4Shift,
    v6Keys: t.v6Keys,
    v6Vals: t.v6Vals,
    v6Shift: t.v6Shift,
    seg4Start: t.seg4Start,
    seg4Group: t.seg4Group,
    seg4Index: t.seg4Index,
    seg6Start: t.seg6Start,
    seg6Group: t.seg6Group,
    seg6Dir: t.seg6Dir.parts(),
  };
  return { wire, transfer: transferList(wire) };
}

/**
 * Every ArrayBuffer under `v` (typed arrays, in objects and arrays), each once (a buffer listed
 * twice makes postMessage throw; views may share one): postMessage's transfer list.
 */
export function transferList(v: unknown, out = new Set<ArrayBuffer>()): ArrayBuffer[] {
  if (ArrayBuffer.isView(v)) {
    if (v.buffer instanceof ArrayBuffer && v.buffer.byteLength > 0) out.add(v.buffer);
  } else if (Array.isArray(v)) for (const x of v) transferList(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) transferList(x, out);
  return [...out];
}

/** Time slices of main-thread work on a received table: short enough that receiving keeps up. */
export interface SliceOptions {
  /** Work this long at most before yielding to the event loop (default 4 ms). */
  sliceMs?: number;
}

/** Yields to the event loop whenever a slice of main-thread work is used up. */
export class Slicer {
  private started = performance.now();
  constructor(private readonly sliceMs: number) {}
  /** Yield when the current slice is used up. */
  async tick(): Promise<void> {
    if (performance.now() - this.started < this.sliceMs) return;
    await yieldNow();
    this.started = performance.now();
  }
}

/** Units of work between clock reads. */
export const STEP = 2048;

/** The strings packStrings packed, decoded a step at a time with yields between slices. */
export async function unpackStrings(p: PackedStrings, s: Slicer): Promise<string[]> {
  const n = p.ends.length;
  const out = new Array<string>(n);
  const buf = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  for (let i = 0; i < n; i += STEP) {
    const to = Math.min(n, i + STEP);
    const from = i === 0 ? 0 : p.ends[i - 1];
    if (p.ascii) {
      // one decode per step; the names are then slices of it
      const text = buf.toString('latin1', from, p.ends[to - 1]);
      let start = 0;
      for (let k = i; k < to; k++) {
        const end = p.ends[k] - from;
        out[k] = text.slice(start, end);
        start = end;
      }
    } else {
      let start = from;
      for (let k = i; k < to; k++) {
        out[k] = buf.toString('utf8', start, p.ends[k]);
        start = p.ends[k];
      }
    }
    await s.tick();
  }
  return out;
}

async function indexOf(names: readonly string[], firstGroup: number, s: Slicer): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (let i = 0; i < names.length; i += STEP) {
    const to = Math.min(names.length, i + STEP);
    for (let k = i; k < to; k++) m.set(names[k], firstGroup + k);
    await s.tick();
  }
  return m;
}

/** The table a wire message describes, built in time slices (the event loop keeps running between them). */
export async function fromWire(w: IntelWire, opts: SliceOptions = {}): Promise<IntelTable> {
  const s = new Slicer(opts.sliceMs ?? 4);
  const texts = await unpackStrings(w.sourceTexts, s);
  const entrySourceText = new Map<number, string>();
  for (let i = 0; i < texts.length; i += STEP) {
    const to = Math.min(texts.length, i + STEP);
    for (let k = i; k < to; k++) entrySourceText.set(w.sourceEntries[k], texts[k]);
    await s.tick();
  }
  const domainNames = await unpackStrings(w.domainNames, s);
  const urlHosts = await unpackStrings(w.urlHosts, s);
  const urlText = await unpackStrings(w.urlText, s);
  const domainIndex = await indexOf(domainNames, w.groupKindStart[K_DOMAIN], s);
  const urlHostIndex = await indexOf(urlHosts, w.groupKindStart[K_URLHOST], s);
  const { sourceEntries: _e, sourceTexts: _t, ...parts } = w;
  return new IntelTable({ ...parts, entrySourceText, domainNames, urlHosts, urlText, domainIndex, urlHostIndex });
}

/** Messages to the loader thread. */
export interface WorkerRequest {
  id: number;
  /** Indexes of the feeds to refresh. */
  due: number[];
  /** Build a table even if nothing changed (none is in use yet). */
  build: boolean;
  /** Only report the thread's heap (bench, tests). */
  heap?: boolean;
}

/** Messages from the loader thread: the refresh reports, the new table when one was built. */
export interface WorkerReply {
  id: number;
  reports: RefreshReport[];
  table?: IntelWire;
  /** The build failed (the previous table stays in use). */
  error?: string;
  /** Answer to a heap request: V8 heap in use in the thread, bytes. */
  heapUsed?: number;
}

/** What the loader thread is started with. */
export interface WorkerInit {
  specs: FeedSpec[];
  opts: FetchOptions;
}

export interface IntelFeedWorkerOptions extends FetchOptions, SliceOptions {
  /**
   * Old-generation heap limit of the loader thread, MB (default 1024: a 1 M-line list feed builds
   * within 384; JSON feeds carry more per indicator). Over it the thread dies and the refresh
   * fails; the last good table stays.
   */
  maxHeapMb?: number;
}

/** A failed loader thread is tried again after this long (or the feed's interval, if shorter). */
const RETRY_MS = 60_000;

type OnTable = (t: IntelTable, reports: RefreshReport[]) => void;

/**
 * IntelFeedSet's API (refreshDue, start, stop, table) with the feeds fetched, parsed and built in a
 * worker thread. Construction is inert: the worker starts at the first refresh.
 */
export class IntelFeedWorker {
  private worker: Worker | null = null;
  private current: IntelTable | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RefreshReport[]> | null = null;
  /** Requests waiting for their reply, by id (a refresh and a heap probe may overlap). */
  private readonly pending = new Map<number, (r: WorkerReply) => void>();
  private nextId = 1;
  private stopped = false;
  private readonly nextDue: number[];
  private hasTable = false;
  /**
   * The last request failed (its thread died or could not build): the next one builds from every
   * feed's copy on disk. The failed thread may have saved a new copy and its validators before it
   * died, so a new thread's conditional fetch would answer "not modified" and no table would ever
   * carry that copy.
   */
  private needBuild = false;
  /** The last refresh's report of each feed (status beside the table). */
  readonly lastReports = new Map<string, RefreshReport>();
  /** Loader threads started (more than one means one died and was replaced). */
  workersStarted = 0;

  constructor(
    readonly specs: readonly FeedSpec[],
    private readonly opts: IntelFeedWorkerOptions,
  ) {
    checkFeedNames(specs);
    this.nextDue = specs.map(() => 0);
  }

  /** Whether a loader thread is running now (between refreshes it is ended). */
  get loaderAlive(): boolean {
    return this.worker !== null;
  }

  /** V8 heap in use in the loader thread (bytes), null when none is running. */
  async loaderHeapUsed(): Promise<number | null> {
    const w = this.worker;
    if (w === null) return null;
    const reply = await this.request(w, { due: [], build: false, heap: true });
    return reply.heapUsed ?? null;
  }

  /** The table in use; empty before the first refresh. */
  get table(): IntelTable {
    if (this.current === null) this.current = buildIntelTable([]);
    return this.current;
  }

  /**
   * Ask the worker to refresh the feeds that are due (all at the first call); when it built a new
   * table, hand it to `onTable` once it is ready here. Never throws: a dead worker fails every feed.
   */
  async refreshDue(now = Date.now(), onTable?: OnTable): Promise<RefreshReport[]> {
    if (this.running !== null) return this.running;
    this.running = this.refreshOnce(now, onTable);
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  private async refreshOnce(now: number, onTable?: OnTable): Promise<RefreshReport[]> {
    if (this.stopped) return this.failAll('the intel loader is stopped');
    const due: number[] = [];
    // no table yet (the first refresh), or the last request failed: every feed
    const build = !this.hasTable || this.needBuild;
    for (let i = 0; i < this.specs.length; i++) if (build || now >= this.nextDue[i]) due.push(i);
    if (due.length === 0) return [];
    const w = this.ensureWorker();
    w.ref();
    const reply = await this.request(w, { due, build });
    for (const i of due) {
      const every = (this.specs[i].refreshSeconds ?? 3600) * 1000;
      this.nextDue[i] = now + (reply.error === undefined ? every : Math.min(every, RETRY_MS));
    }
    // A thread that parsed something or failed is ended (its heap goes back to the system); one
    // that only found every feed unchanged is small and kept for the next check.
    if (
      this.worker === w &&
      (reply.error !== undefined || reply.table !== undefined || reply.reports.some((r) => r.status !== 'not-modified'))
    ) {
      this.worker = null;
      void w.terminate();
    }
    // idle, the worker must not keep the process alive (a forgotten stop() would hang an exit)
    this.worker?.unref();
    let reports = reply.reports;
    if (reply.error !== undefined) {
      reports = this.failAll(reply.error, reports);
      this.needBuild = true;
    } else if (reply.table !== undefined) {
      const t = await fromWire(reply.table, this.opts);
      if (!this.stopped) {
        this.current = t;
        this.hasTable = true;
        this.needBuild = false;
        onTable?.(t, reports);
      }
    }
    for (const r of reports) this.lastReports.set(r.feed, r);
    return reports;
  }

  private failAll(error: string, reports: RefreshReport[] = []): RefreshReport[] {
    const seen = new Set(reports.map((r) => r.feed));
    const out = reports.map((r): RefreshReport => ({ ...r, status: 'failed', error }));
    for (const s of this.specs) {
      if (seen.has(s.name)) continue;
      const prev = this.lastReports.get(s.name);
      out.push({ feed: s.name, status: 'failed', indicators: prev?.indicators ?? 0, warnings: 0, error });
    }
    return out;
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker;
    const { timeoutMs, maxBytes, cacheDir } = this.opts;
    const workerData: WorkerInit = { specs: [...this.specs], opts: { cacheDir, timeoutMs, maxBytes } };
    // beside this file in dist/ (compiled JS), whatever the working directory
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb ?? 1024 },
    });
    this.workersStarted++;
    const died = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failPending(`intel loader thread ${why}`);
    };
    w.on('message', (m: WorkerReply) => {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      resolve?.(m);
    });
    w.on('error', (e: Error) => died(`failed: ${e.message}`));
    w.on('exit', (code) => died(`exited (${code})`));
    this.worker = w;
    return w;
  }

  /** Refresh now and then every `tickMs` (default 10 s) for the feeds that are due. */
  start(onTable: OnTable, onReports?: (r: RefreshReport[]) => void, tickMs = 10_000): void {
    if (this.timer !== null || this.stopped) return;
    const tick = (): void => {
      this.refreshDue(Date.now(), onTable).then(
        (r) => onReports?.(r),
        () => {},
      );
    };
    tick();
    this.timer = setInterval(tick, tickMs);
    this.timer.unref();
  }

  /** Stop refreshing and end the worker (a refresh under way reports failure; the table stays). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const w = this.worker;
    this.worker = null;
    this.failPending('the intel loader is stopped');
    if (w !== null) await w.terminate();
  }

  private request(w: Worker, m: Omit<WorkerRequest, 'id'>): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve) => {
      this.pending.set(id, resolve);
      w.postMessage({ id, ...m } satisfies WorkerRequest);
    });
  }

  private failPending(error: string): void {
    for (const [id, resolve] of this.pending) resolve({ id, reports: [], error });
    this.pending.clear();
  }
}
