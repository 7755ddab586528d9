// Every enrichment source the configuration names, loaded, applied to each batch, and reloaded when
// it changes (issue 5 "hot reload").
//
// Atomicity: each source builds a complete immutable table off to the side and the manager then
// replaces one reference in `snap`. apply() reads `snap` once per batch and runs synchronously, and
// Node runs one batch's enrichment to the end before any reload callback can run, so a batch sees
// either the old or the new table of a source, never half of one. Feeds are fetched, parsed and
// built in a worker thread (intel/remote.ts), range and asset files read and built in another
// (file-loader.ts), and the built arrays transferred, so a reload of a million indicators or ranges
// does not hold up the event loop that receives and stores flows.
//
// A source that fails to load keeps its last good table and the error (with file and line) is
// logged and kept in status(); at start, a broken source is left out rather than stopping the
// server: metadata never gates ingestion (DESIGN §1).

import type { FlowBatch } from '../pipeline/flow-batch.js';
import { parseAddr } from '../pipeline/flow-batch.js';
import { type AssetTable, applyAssets, describeAssets } from './assets/assets.js';
import { FileTableLoader, fileStamp } from './file-loader.js';
import { applyGeo, describe as describeGeo, type GeoSource, loadMmdb } from './geo/index.js';
import type { GeoTable } from './geo/table.js';
import type { RefreshReport } from './intel/fetch.js';
import { applyIntel, describe as describeIntel, type IntelTable } from './intel/intel.js';
import { IntelFeedWorker } from './intel/remote.js';
import { AddressPlan, applyPlan, geoPlanInput, type PlanParts, rangesPlanInput } from './plan.js';
import { applyDirection, buildOwnNetworks, describeOwn, type OwnNetworks } from './ranges/direction.js';
import { applyRanges, describeRanges, type RangeTable } from './ranges/ranges.js';
import type { EnrichSettings } from './settings.js';
import type { EnrichmentHit } from './source-error.js';
import { type EnrichOptions, enrichBatch } from './stage.js';

export type SourceKind = 'ranges' | 'assets' | 'networks' | 'geo' | 'intel';

export interface SourceStatus {
  kind: SourceKind;
  /** Files, packages or feed names the table was built from. */
  origin: string;
  /** Entries in the table in use (0 when none loaded). */
  entries: number;
  loadedAt: number;
  /** Why the last load failed (the previous table, if any, stays in use). */
  error?: string;
  warnings: string[];
}

/** The tables in use: read once per batch by apply(). */
export interface EnrichTables {
  ranges?: RangeTable;
  own?: OwnNetworks;
  assets?: AssetTable;
  geo?: GeoSource;
  intel?: IntelTable;
  /** Ranges and geography in one lookup (plan.ts), while `ranges` and `geo` are the tables it was built for. */
  plan?: AddressPlan;
}

export type EnrichLog = (level: 'info' | 'warn' | 'error', msg: string) => void;

/** Warnings kept per source in status(): enough to act on, bounded for hostile files. */
const MAX_WARNINGS = 20;

export class Enrichment {
  private snap: EnrichTables = {};
  private readonly stamps = new Map<string, string>();
  private readonly statuses = new Map<SourceKind, SourceStatus>();
  private readonly stage: EnrichOptions;
  private feeds: IntelFeedWorker | null = null;
  private files: FileTableLoader | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private closed = false;
  /** Reloads done (a test and /metrics read it). */
  reloads = 0;

  constructor(
    readonly settings: EnrichSettings,
    private readonly opts: { cacheDir: string; log?: EnrichLog },
  ) {
    this.stage = {
      communityId: settings.storeCommunityId,
      communityIdSeed: settings.communityIdSeed,
      services: settings.storeServices,
    };
  }

  /** Whether apply() does anything at all. */
  get active(): boolean {
    const s = this.settings;
    return (
      s.storeCommunityId ||
      s.storeServices ||
      s.networks.length > 0 ||
      s.ranges.length > 0 ||
      s.assets.length > 0 ||
      s.geo ||
      s.geoipCountry !== '' ||
      s.geoipAsn !== '' ||
      s.intel.length > 0
    );
  }

  /** Load every source once. Never throws: failures are in status() and the log. */
  async load(): Promise<void> {
    await this.loadFiles('ranges');
    await this.loadFiles('assets');
    await this.loadGeo();
    if (this.settings.intel.length > 0) {
      // fetched, parsed and built in a worker thread: a 1 M-indicator build would stall receiving for seconds
      this.feeds = new IntelFeedWorker(this.settings.intel, { cacheDir: this.opts.cacheDir });
      await this.feeds.refreshDue(Date.now(), (t, r) => this.swapIntel(t, r));
    }
  }

  /** Check files for changes every reloadInterval and refresh feeds when due. */
  start(): void {
    if (this.timer !== null || this.closed) return;
    this.timer = setInterval(() => {
      this.checkFiles().catch((e: Error) => this.log('error', `enrichment reload: ${e.message}`));
    }, this.settings.reloadInterval);
    this.timer.unref();
    this.feeds?.start((t, r) => this.swapIntel(t, r), undefined, Math.min(10_000, this.settings.reloadInterval));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    void this.feeds?.stop();
    void this.files?.stop();
  }

  /** Enrich one batch with the tables in use now (the batch pipeline's transform). */
  apply(b: FlowBatch): void {
    const s = this.snap;
    const plan = s.plan !== undefined && planFits(s.plan, s) ? s.plan : undefined;
    // Ranges before assets: assets merge their tags after the range tags.
    if (plan !== undefined) applyPlan(plan, b);
    else if (s.ranges !== undefined) applyRanges(s.ranges, b);
    if (s.assets !== undefined) applyAssets(s.assets, b);
    if (s.own !== undefined) applyDirection(s.own, b);
    if (s.geo !== undefined && plan?.geo === undefined) applyGeo(s.geo, b);
    if (s.intel !== undefined) applyIntel(s.intel, b);
    enrichBatch(b, this.stage);
  }

  /** The tables in use now (benchmarks time each enricher on them; tests compare with apply()). */
  get tables(): Readonly<EnrichTables> {
    return this.snap;
  }

  /** Every enrichment that applies to an address (or domain, for intel), and where it came from. */
  describe(what: string, timeMs?: number): EnrichmentHit[] {
    const s = this.snap;
    const hits: EnrichmentHit[] = [];
    const isAddr = parseAddr(what) !== null;
    if (isAddr) {
      if (s.ranges) hits.push(...describeRanges(s.ranges, what));
      if (s.assets) hits.push(...describeAssets(s.assets, what, timeMs));
      if (s.own) hits.push(...describeOwn(s.own, what));
      if (s.geo) hits.push(...describeGeo(s.geo, what));
    }
    if (s.intel) hits.push(...describeIntel(s.intel, what));
    return hits;
  }

  status(): SourceStatus[] {
    return [...this.statuses.values()];
  }

  private log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.opts.log?.(level, msg);
  }

  private setStatus(st: SourceStatus): void {
    const prev = this.statuses.get(st.kind);
    // A failed load keeps the previous table and says so next to its size.
    if (st.error !== undefined && prev !== undefined) {
      this.statuses.set(st.kind, { ...prev, error: st.error, warnings: st.warnings });
    } else this.statuses.set(st.kind, st);
  }

  private async checkFiles(): Promise<void> {
    if (this.checking !== null) return this.checking;
    this.checking = (async () => {
      for (const kind of ['ranges', 'assets'] as const) {
        const files = this.settings[kind];
        let changed = false;
        for (const f of files) if ((await fileStamp(f)) !== this.stamps.get(f)) changed = true;
        if (changed) await this.loadFiles(kind);
      }
    })();
    try {
      await this.checking;
    } finally {
      this.checking = null;
    }
  }

  /**
   * (Re)load the range or asset files; on any error the previous table stays. Read, parsed and
   * built in the file loader thread (file-loader.ts): a 1 M-line range file would otherwise block
   * the event loop that receives flows for seconds.
   */
  private async loadFiles(kind: 'ranges' | 'assets'): Promise<void> {
    const files = this.settings[kind];
    if (files.length === 0) {
      if (kind === 'ranges') this.rebuildOwn();
      return;
    }
    if (this.files === null) this.files = new FileTableLoader();
    // the address plan is built beside new ranges, with the geography in use
    const geo = kind === 'ranges' ? rangesGeo(this.snap.geo) : undefined;
    const partner = geo !== undefined ? { geo: geoPlanInput(geo) } : {};
    const r = await this.files.load(kind, files, this.settings.networks, MAX_WARNINGS, partner);
    for (const [f, s] of r.stamps) this.stamps.set(f, s);
    if (this.closed) return;
    if (r.error !== undefined) {
      // the configured networks do not depend on the range files being good
      if (kind === 'ranges' && this.snap.own === undefined) this.rebuildOwn();
      const kept = this.statuses.get(kind) !== undefined;
      this.log('error', `${kind}: ${r.error}${kept ? ' (the previous table stays in use)' : ''}`);
      this.setStatus({
        kind,
        origin: files.join(', '),
        entries: 0,
        loadedAt: Date.now(),
        error: r.error,
        warnings: [],
      });
      return;
    }
    const warnings = r.warnings;
    for (const w of warnings) this.log('warn', `${kind}: ${w}`);
    const first = this.statuses.get(kind) === undefined;
    let size = 0;
    if (r.ranges !== undefined) {
      // ranges, their plan and the own networks built from them change together
      const plan = r.plan !== undefined ? new AddressPlan(r.plan, r.ranges, geo) : undefined;
      this.snap = { ...this.snap, ranges: r.ranges, plan };
      if (r.own !== undefined) this.setOwn(r.own);
      size = r.ranges.size;
    } else if (r.assets !== undefined) {
      this.snap = { ...this.snap, assets: r.assets };
      size = r.assets.size;
    }
    if (!first) this.reloads++;
    this.setStatus({ kind, origin: files.join(', '), entries: size, loadedAt: Date.now(), warnings });
    this.log('info', `${kind}: ${size} entries from ${files.join(', ')}`);
  }

  /** Own networks = configured CIDRs (no range files: built here, a few entries). */
  private rebuildOwn(): void {
    if (this.settings.networks.length === 0) return;
    this.setOwn(buildOwnNetworks(this.settings.networks, undefined, { origin: 'enrich.networks' }));
  }

  /** Own networks = configured CIDRs + ranges tagged `internal`. */
  private setOwn(own: OwnNetworks): void {
    for (const e of own.errors) this.log('error', e);
    this.snap = { ...this.snap, own: own.table.entries.length > 0 ? own : undefined };
    this.setStatus({
      kind: 'networks',
      origin: 'enrich.networks + ranges tagged internal',
      entries: own.table.entries.length,
      loadedAt: Date.now(),
      error: own.errors[0],
      warnings: own.errors.slice(0, MAX_WARNINGS),
    });
  }

  private async loadGeo(): Promise<void> {
    const s = this.settings;
    if (!s.geo && s.geoipCountry === '' && s.geoipAsn === '') return;
    const mmdb = s.geoipCountry !== '' || s.geoipAsn !== '';
    const origin = mmdb ? [s.geoipCountry, s.geoipAsn].filter((x) => x).join(', ') : 'ip-location-db';
    try {
      const started = Date.now();
      if (mmdb) {
        const t = await loadMmdb({ countryMmdb: s.geoipCountry || undefined, asnMmdb: s.geoipAsn || undefined });
        this.snap = { ...this.snap, geo: t };
      } else {
        // with the plan of the ranges in use and this table
        const ranges = this.snap.ranges;
        const r = await this.loadGeoDb(ranges);
        const plan = r.plan !== undefined ? new AddressPlan(r.plan, ranges, r.geo) : this.snap.plan;
        this.snap = { ...this.snap, geo: r.geo, plan };
      }
      const t = this.snap.geo as GeoSource;
      this.setStatus({ kind: 'geo', origin, entries: geoEntries(t), loadedAt: Date.now(), warnings: [] });
      this.log('info', `geo: ${geoEntries(t)} ranges from ${origin} in ${Date.now() - started} ms`);
    } catch (e) {
      const msg = (e as Error).message;
      this.log('error', `geo: ${msg}`);
      this.setStatus({ kind: 'geo', origin, entries: 0, loadedAt: Date.now(), error: msg, warnings: [] });
    }
  }

  /**
   * The shipped ip-location-db data, read and built in the file loader thread: ~0.5 s of CPU that,
   * on the event loop, stalled the receiving of flows (serve starts receiving before it loads).
   */
  private async loadGeoDb(ranges: RangeTable | undefined): Promise<{ geo: GeoTable; plan?: PlanParts }> {
    if (this.files === null) this.files = new FileTableLoader();
    const partner = ranges !== undefined ? { ranges: rangesPlanInput(ranges) } : {};
    const r = await this.files.load('geo', [], [], MAX_WARNINGS, partner);
    if (r.error !== undefined || r.geo === undefined) throw new Error(r.error ?? 'no table');
    return { geo: r.geo, plan: r.plan };
  }

  private swapIntel(t: IntelTable, reports: RefreshReport[]): void {
    const first = this.snap.intel === undefined;
    this.snap = { ...this.snap, intel: t };
    if (!first) this.reloads++;
    const failed = reports.filter((r) => r.status === 'failed');
    for (const r of failed) this.log('error', `intel feed ${r.feed}: ${r.error} (its last good copy stays in use)`);
    this.setStatus({
      kind: 'intel',
      origin: this.settings.intel.map((f) => `${f.name} (${f.location})`).join(', '),
      entries: t.size,
      loadedAt: Date.now(),
      error: failed.length > 0 ? failed.map((r) => `${r.feed}: ${r.error}`).join('; ') : undefined,
      warnings: [],
    });
  }
}

/** The geography table a plan can hold (MaxMind files are read per address, outside the plan). */
function rangesGeo(g: GeoSource | undefined): GeoTable | undefined {
  return g?.kind === 'ranges' ? g : undefined;
}

/** Whether the plan was built for the tables in use (else the enrichers run one by one). */
function planFits(p: AddressPlan, s: EnrichTables): boolean {
  return p.ranges === s.ranges && p.geo === rangesGeo(s.geo);
}

function geoEntries(t: GeoSource): number {
  if (t.kind === 'mmdb') return (t.country ?? t.asn)?.reader.metadata.nodeCount ?? 0;
  return t.v4.length + t.v6.length;
}
