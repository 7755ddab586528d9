// Range and asset files loaded in a worker thread (issue 5: "hot reload ... ingestion never pauses
// and never sees half a table").
//
// `flowwatch serve` receives, decodes, enriches and stores on one event loop; reading, parsing and
// building 1 M ranges there blocks it for seconds, long enough for the kernel socket buffer to
// overflow. FileTableLoader sends the file names to a worker (file-worker.ts), which reads, parses
// and builds the table (for ranges also the own networks: enrich.networks + ranges tagged
// internal); the typed arrays are transferred and the strings rebuilt here in time slices
// (tables-wire.ts). The caller swaps the finished table in: a batch sees the old table or the new.
//
// A worker that dies (out of memory, a bug) fails that load with the reason; the caller keeps its
// last good table and the next load starts a new worker.

import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { AssetTable } from './assets/assets.js';
import type { GeoTable } from './geo/table.js';
import type { SliceOptions } from './intel/remote.js';
import type { GeoPlanInput, PlanParts, RangesPlanInput } from './plan.js';
import type { OwnNetworks } from './ranges/direction.js';
import type { RangeTable } from './ranges/ranges.js';
import {
  type AssetWire,
  assetFromWire,
  type GeoWire,
  geoFromWire,
  type OwnWire,
  ownFromWire,
  type RangeWire,
  rangeFromWire,
} from './tables-wire.js';

/** What says a file changed: its modification time and size ('missing' when it cannot be stat'ed). */
export async function fileStamp(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return 'missing';
  }
}

export interface FileRequest {
  id: number;
  /** geo: the shipped ip-location-db data (no files). */
  kind: 'ranges' | 'assets' | 'geo';
  files: string[];
  /** enrich.networks (ranges only: own networks are built with the table). */
  networks: string[];
  maxWarnings: number;
  /**
   * The partner table of the address plan (plan.ts) built beside this one: for ranges the
   * geography in use (absent: a plan of the ranges alone), for geo the ranges in use (absent: no
   * plan, geography alone keeps its own table).
   */
  planGeo?: GeoPlanInput;
  planRanges?: RangesPlanInput;
}

export interface FileReply {
  id: number;
  /** [file, "mtime:size" or "missing"] taken before each file was read. */
  stamps: [string, string][];
  /** The first error, with file and line: nothing was built. */
  error?: string;
  warnings: string[];
  size?: number;
  ranges?: RangeWire;
  own?: OwnWire;
  assets?: AssetWire;
  geo?: GeoWire;
  plan?: PlanParts;
}

export interface FileLoad {
  stamps: [string, string][];
  error?: string;
  warnings: string[];
  ranges?: RangeTable;
  own?: OwnNetworks;
  assets?: AssetTable;
  geo?: GeoTable;
  /** Built with ranges and geo loads, from the new table and the partner sent along. */
  plan?: PlanParts;
}

export interface FileTableLoaderOptions extends SliceOptions {
  /** Heap limit of the loader thread (MB; default 2048: 1 M CSV lines peak near 600 MB while parsing). */
  maxHeapMb?: number;
}

export class FileTableLoader {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, (r: FileReply) => void>();
  private nextId = 1;
  private stopped = false;
  /** Loader threads started (more than one means one died and was replaced). */
  workersStarted = 0;

  constructor(private readonly opts: FileTableLoaderOptions = {}) {}

  /** Read and build in the worker, rebuild here in slices. Never throws: failures are in `error`. */
  async load(
    kind: FileRequest['kind'],
    files: readonly string[],
    networks: readonly string[] = [],
    maxWarnings = 20,
    partner: { geo?: GeoPlanInput; ranges?: RangesPlanInput } = {},
  ): Promise<FileLoad> {
    if (this.stopped) return { stamps: [], error: 'the file loader is stopped', warnings: [] };
    const w = this.ensureWorker();
    const id = this.nextId++;
    const reply = await new Promise<FileReply>((resolve) => {
      this.pending.set(id, resolve);
      w.ref();
      // the partner's arrays are copied (a few MB; the tables in use keep theirs)
      const req: FileRequest = { id, kind, files: [...files], networks: [...networks], maxWarnings };
      if (partner.geo !== undefined) req.planGeo = partner.geo;
      if (partner.ranges !== undefined) req.planRanges = partner.ranges;
      w.postMessage(req);
    });
    this.pending.delete(id);
    // Idle, the thread is ended: its heap (hundreds of MB after parsing 1 M lines, kept by V8 as
    // RSS) goes back to the system, and the next reload (minutes away) starts another in ~50 ms.
    if (this.pending.size === 0 && this.worker === w) {
      this.worker = null;
      void w.terminate();
    }
    const out: FileLoad = { stamps: reply.stamps, warnings: reply.warnings };
    if (reply.error !== undefined) {
      out.error = reply.error;
      return out;
    }
    try {
      if (reply.ranges !== undefined) out.ranges = await rangeFromWire(reply.ranges, this.opts);
      if (reply.own !== undefined) out.own = await ownFromWire(reply.own, this.opts);
      if (reply.assets !== undefined) out.assets = await assetFromWire(reply.assets, this.opts);
      if (reply.geo !== undefined) out.geo = await geoFromWire(reply.geo, this.opts);
      if (reply.plan !== undefined) out.plan = reply.plan;
    } catch (e) {
      return { stamps: reply.stamps, error: `${kind}: ${(e as Error).message}`, warnings: [] };
    }
    return out;
  }

  private ensureWorker(): Worker {
    if (this.worker !== null) return this.worker;
    // beside this file in dist/ (compiled JS), whatever the working directory
    const w = new Worker(new URL('./file-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb ?? 2048 },
    });
    this.workersStarted++;
    const died = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const [id, resolve] of this.pending)
        resolve({ id, stamps: [], error: `file loader thread ${why}`, warnings: [] });
      this.pending.clear();
    };
    w.on('message', (m: FileReply) => this.pending.get(m.id)?.(m));
    w.on('error', (e: Error) => died(`failed: ${e.message}`));
    w.on('exit', (code) => died(`exited (${code})`));
    w.unref();
    this.worker = w;
    return w;
  }

  /** End the worker; loads under way fail (the caller's tables stay). */
  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.worker;
    this.worker = null;
    for (const [id, resolve] of this.pending)
      resolve({ id, stamps: [], error: 'the file loader is stopped', warnings: [] });
    this.pending.clear();
    if (w !== null) await w.terminate();
  }
}
