// Assets (DESIGN §1 "enrich"): which machine had an address when the flow happened — its name, VM
// id, account, owner, environment, type and tags — from the organisation's inventory (CSV, YAML,
// JSON) or from what the clouds export (EC2 describe-instances, Azure Resource Graph, Google Cloud
// Asset Inventory).
//
// Addresses move: a DHCP lease, an EC2 private IP reused by the next instance, an elastic IP
// re-associated. Each asset address therefore holds a validity interval [validFrom, validTo) in
// UTC ms, and a flow is attributed to the asset whose interval holds its time_start. Intervals come
// from the inventory (valid_from/valid_to) or from snapshots: entries that carry only the time
// their inventory was taken (`seenAt`) own the address from that snapshot until the next snapshot
// that shows the address on another asset (the earliest snapshot also covers the time before it,
// the latest everything after). Overlapping intervals: the one that started last wins, then the
// one loaded last.
//
// Lookup: an open-addressing hash on the IPv4 address (typed arrays, no object per lookup), a
// Map keyed by text for IPv6, then a scan of that address's few intervals.

import { type FlowBatch, formatAddrWords, parseAddr } from '../../pipeline/flow-batch.js';
import { columnIndex } from '../../schema/columns.js';
import { csvRows, Interner, isObject, ListInterner, lineNumber, str, tagList, yamlList } from '../ranges/text.js';
import { type EnrichmentHit, EnrichSourceError, parseJsonFile } from '../source-error.js';

export interface AssetEntry {
  ips: readonly string[];
  name: string;
  vmId: string;
  account: string;
  owner: string;
  /** Asset type or SKU (instance type, VM size, machine type). */
  type: string;
  env: string;
  tags: readonly string[];
  validFrom?: number;
  validTo?: number;
  /** Time of the inventory snapshot this entry comes from (see the header). */
  seenAt?: number;
  source: string;
}

export type AssetFormat = 'csv' | 'yaml' | 'json' | 'aws-ec2' | 'azure-graph' | 'gcp-assets';

export interface AssetLoad {
  entries: AssetEntry[];
  errors: EnrichSourceError[];
  warnings: string[];
}

export interface AssetParseOptions {
  format?: AssetFormat;
  /** When the inventory was taken (ms): becomes `seenAt` of entries that have no time of their own. */
  snapshotMs?: number;
}

export function detectAssetFormat(file: string, text: string): AssetFormat {
  const t = text.trimStart();
  const head = t.slice(0, 8192);
  if (t.startsWith('{') || t.startsWith('[')) {
    if (/"Reservations"\s*:/.test(head)) return 'aws-ec2';
    if (/"compute\.googleapis\.com\/|"asset_?[tT]ype"/.test(head)) return 'gcp-assets';
    if (/"ipConfigurations"|"subscriptionId"/.test(head)) return 'azure-graph';
    return 'json';
  }
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  if (/\.csv$/i.test(file)) return 'csv';
  return /^\s*ip\s*,/i.test(t) ? 'csv' : 'yaml';
}

/** Read one inventory file. Throws EnrichSourceError only when the whole file is unusable. */
export function parseAssets(file: string, text: string, opts: AssetParseOptions = {}): AssetLoad {
  const load: AssetLoad = { entries: [], errors: [], warnings: [] };
  const format = opts.format ?? detectAssetFormat(file, text);
  switch (format) {
    case 'csv':
      readCsv(file, text, load);
      break;
    case 'yaml':
    case 'json':
      readList(file, text, load);
      break;
    case 'aws-ec2':
      readEc2(file, parseJsonFile(file, text), load);
      break;
    case 'azure-graph':
      readAzureGraph(file, parseJsonFile(file, text), load);
      break;
    case 'gcp-assets':
      readGcpAssets(file, text, load);
      break;
  }
  if (opts.snapshotMs !== undefined) {
    for (const e of load.entries) {
      if (e.seenAt === undefined && e.validFrom === undefined && e.validTo === undefined) e.seenAt = opts.snapshotMs;
    }
  }
  return load;
}

// ---- the table

// Per asset and side in AssetTable.slots: the pass stamp, then the batch codes of host, vm_id,
// account, owner, env, asset_type and the asset's tag list — one 32-byte run, so a row's asset costs
// one cache line however many columns it fills.
const SLOT = 8;

/**
 * Assets as columns: per asset the interned ids of its fields (ids are per distinct string, so the
 * 40 accounts of 100 k assets are 40 dictionary look-ups per batch, not 100 k), its validity times
 * and where it was declared. Entry objects are made on demand (`entry(i)`) for `enrich check`.
 */
export class AssetTable {
  // v4: open addressing over pairs [address, slot] in one array (one cache line per probe).
  // slot = asset + 1 when the address has one asset for all time (the common case: no interval to
  // choose), slot = -(group + 1) when the group's records must be searched by time, 0 = empty.
  private readonly hash4: Int32Array;
  private readonly mask4: number;
  private readonly groups6: Map<string, number>;
  /** Per group: first record; records of a group are contiguous. */
  private readonly groupStart: Uint32Array;
  /** Per group: the address (4 words), for `entry(i).ips`. */
  private readonly groupAddr: Uint32Array;
  private readonly recAsset: Int32Array;
  private readonly recFrom: Float64Array;
  private readonly recTo: Float64Array;
  /** Per asset: its groups (one per address, in the entry's order) at ipGroups[ipStart[a]..ipStart[a+1]). */
  private readonly ipStart: Uint32Array;
  private readonly ipGroups: Uint32Array;
  /**
   * Per asset SLOT words: the ids of its fields (FIELDS order) in `values[field]`, then of its tag
   * list in `tagLists` (word 6); word 7 unused. Side by side, so a hit reads one cache line.
   */
  readonly fields: Uint32Array;
  readonly values: readonly (readonly string[])[];
  readonly tagLists: readonly (readonly string[])[];
  private readonly validFrom: Float64Array;
  private readonly validTo: Float64Array;
  private readonly seenAt: Float64Array;
  private readonly sourceOf: Uint32Array;
  private readonly lineOf: Uint32Array;
  private readonly sources: readonly string[];
  readonly size: number;
  // Scratch for applyAssets (see RangeTable): per asset and side a SLOT run; per field id and side
  // a stamp and a code; a small hash of merged (range tags, asset tags) codes.
  private pass = 0;
  /** @internal */
  readonly slots: Uint32Array;
  /** @internal per field (6 + tags) and side: [stamp, code] per id */
  readonly fieldCodes: Uint32Array[];
  /** @internal */
  readonly merge = new MergeCache();

  /** @internal use buildAssetTable (or the parts a loader thread sent, see enrich/tables-wire.ts) */
  constructor(
    src: readonly AssetEntry[] | AssetParts,
    readonly warnings: readonly string[],
  ) {
    const p = Array.isArray(src) ? assetParts(src as readonly AssetEntry[]) : (src as AssetParts);
    this.size = p.size;
    this.hash4 = p.hash4;
    this.mask4 = p.mask4;
    this.groups6 = p.groups6;
    this.groupStart = p.groupStart;
    this.groupAddr = p.groupAddr;
    this.recAsset = p.recAsset;
    this.recFrom = p.recFrom;
    this.recTo = p.recTo;
    this.ipStart = p.ipStart;
    this.ipGroups = p.ipGroups;
    this.fields = p.fields;
    this.values = p.values;
    this.tagLists = p.tagLists;
    this.validFrom = p.validFrom;
    this.validTo = p.validTo;
    this.seenAt = p.seenAt;
    this.sourceOf = p.sourceOf;
    this.lineOf = p.lineOf;
    this.sources = p.sources;
    this.slots = new Uint32Array(this.size * 2 * SLOT);
    this.fieldCodes = [...this.values, this.tagLists].flatMap((v) => [
      new Uint32Array(v.length * 2),
      new Uint32Array(v.length * 2),
    ]);
  }

  /** What the table is made of (a loader thread sends this). */
  parts(): AssetParts {
    return {
      size: this.size,
      hash4: this.hash4,
      mask4: this.mask4,
      groups6: this.groups6,
      groupStart: this.groupStart,
      groupAddr: this.groupAddr,
      recAsset: this.recAsset,
      recFrom: this.recFrom,
      recTo: this.recTo,
      ipStart: this.ipStart,
      ipGroups: this.ipGroups,
      fields: this.fields,
      values: this.values,
      tagLists: this.tagLists,
      validFrom: this.validFrom,
      validTo: this.validTo,
      seenAt: this.seenAt,
      sourceOf: this.sourceOf,
      lineOf: this.lineOf,
      sources: this.sources,
    };
  }

  /** Asset i as an object (for `enrich check` and tests; not for the hot path). */
  entry(i: number): AssetEntry {
    const f = (k: number) => this.values[k][this.fields[i * SLOT + k]];
    const ips: string[] = [];
    for (let j = this.ipStart[i]; j < this.ipStart[i + 1]; j++)
      ips.push(formatAddrWords(this.groupAddr, this.ipGroups[j] * 4));
    const line = this.lineOf[i];
    const file = this.sources[this.sourceOf[i]];
    const e: AssetEntry = {
      ips,
      name: f(0),
      vmId: f(1),
      account: f(2),
      owner: f(3),
      env: f(4),
      type: f(5),
      tags: this.tagLists[this.fields[i * SLOT + 6]],
      source: line === 0 ? file : `${file}:${line}`,
    };
    if (!Number.isNaN(this.validFrom[i])) e.validFrom = this.validFrom[i];
    if (!Number.isNaN(this.validTo[i])) e.validTo = this.validTo[i];
    if (!Number.isNaN(this.seenAt[i])) e.seenAt = this.seenAt[i];
    return e;
  }

  /** Every asset in load order (materialised: for tests and small tables). */
  allEntries(): AssetEntry[] {
    const out: AssetEntry[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.entry(i));
    return out;
  }

  /** Asset index for the address in words[off..] at time `t` (ms; NaN: now, i.e. open-ended), or -1. */
  lookupWords(words: Uint32Array, off: number, t: number): number {
    if (words[off] === 0 && words[off + 1] === 0 && words[off + 2] === 0xffff) return this.lookupV4(words[off + 3], t);
    if (this.groups6.size === 0) return -1;
    const found = this.groups6.get(formatAddrWords(words, off));
    return found === undefined ? -1 : this.pick(found, t);
  }

  /** Asset index for an IPv4 address (unsigned 32-bit) at time t, or -1. */
  lookupV4(a: number, t: number): number {
    const tab = this.hash4;
    const mask = this.mask4;
    const key = a | 0;
    let h = hash4(a) & mask;
    for (;;) {
      const s = tab[h * 2 + 1];
      if (s === 0) return -1;
      if (tab[h * 2] === key) return s > 0 ? s - 1 : this.pick(-s - 1, t);
      h = (h + 1) & mask;
    }
  }

  /** Asset for an address in text at time t (ms, optional). */
  lookup(addr: string, t = Number.NaN): AssetEntry | undefined {
    const w = parseAddr(addr.trim());
    if (w === null) return undefined;
    const i = this.lookupWords(w, 0, t);
    return i < 0 ? undefined : this.entry(i);
  }

  private pick(g: number, t: number): number {
    const end = this.groupStart[g + 1];
    let best = -1;
    let bestFrom = Number.NEGATIVE_INFINITY;
    for (let r = this.groupStart[g]; r < end; r++) {
      const from = this.recFrom[r];
      const to = this.recTo[r];
      // No flow time: the asset that holds the address now (open-ended interval).
      const holds = !Number.isNaN(t) ? from <= t && t < to : to === Number.POSITIVE_INFINITY;
      if (holds && (best < 0 || from >= bestFrom)) {
        best = this.recAsset[r];
        bestFrom = from;
      }
    }
    return best;
  }

  private groupOfText(addr: string): number {
    const w = parseAddr(addr.trim());
    if (w === null) return -1;
    const key = formatAddrWords(w, 0);
    const g = this.groups6.get(key);
    if (g !== undefined) return g;
    // IPv4 groups are only in the hash; a linear look over groupAddr is fine for `enrich check`.
    for (let i = 0; i * 4 < this.groupAddr.length; i++) {
      const o = i * 4;
      if (this.groupAddr[o] === w[0] && this.groupAddr[o + 1] === w[1] && this.groupAddr[o + 2] === w[2]) {
        if (this.groupAddr[o + 3] === w[3]) return i;
      }
    }
    return -1;
  }

  /** Every interval recorded for the address: for `enrich check`. */
  history(addr: string): { asset: number; from: number; to: number }[] {
    const g = this.groupOfText(addr);
    if (g < 0) return [];
    const out: { asset: number; from: number; to: number }[] = [];
    for (let r = this.groupStart[g]; r < this.groupStart[g + 1]; r++) {
      out.push({ asset: this.recAsset[r], from: this.recFrom[r], to: this.recTo[r] });
    }
    return out;
  }

  /**
   * @internal One bit per IPv4 /24 that holds an asset address, made on the first batch: applyAssets
   * answers the other addresses (public servers, unassigned internal space) without a probe of the
   * hash (2 MiB at 100 k assets, a cache miss per address); one organisation's /24s are a few KiB.
   */
  v4Filter(): Uint32Array {
    if (this.v4Bits === null) {
      const bits = new Uint32Array(1 << 19);
      const tab = this.hash4;
      for (let i = 0; i < tab.length; i += 2) {
        if (tab[i + 1] === 0) continue;
        const p = tab[i] >>> 8;
        bits[p >>> 5] |= 1 << (p & 31);
      }
      this.v4Bits = bits;
    }
    return this.v4Bits;
  }
  private v4Bits: Uint32Array | null = null;

  /** @internal */
  nextPass(): number {
    this.pass = (this.pass + 1) >>> 0;
    if (this.pass === 0) {
      for (let i = 0; i < this.slots.length; i += SLOT) this.slots[i] = 0;
      for (const c of this.fieldCodes) for (let i = 0; i < c.length; i += 2) c[i] = 0;
      this.pass = 1;
    }
    this.merge.clear();
    return this.pass;
  }

  get byteSize(): number {
    let b =
      this.hash4.byteLength +
      this.groupStart.byteLength +
      this.groupAddr.byteLength +
      this.recAsset.byteLength +
      this.recFrom.byteLength +
      this.recTo.byteLength +
      this.ipStart.byteLength +
      this.ipGroups.byteLength +
      this.validFrom.byteLength +
      this.validTo.byteLength +
      this.seenAt.byteLength +
      this.sourceOf.byteLength +
      this.lineOf.byteLength +
      this.slots.byteLength;
    for (const a of [this.fields, ...this.fieldCodes]) b += a.byteLength;
    return b;
  }
}

/** The columns and lookup structures of an AssetTable (typed arrays and string lists). */
export interface AssetParts {
  size: number;
  hash4: Int32Array;
  mask4: number;
  /** IPv6 address text → group (rebuilt from groupAddr after a transfer). */
  groups6: Map<string, number>;
  groupStart: Uint32Array;
  groupAddr: Uint32Array;
  recAsset: Int32Array;
  recFrom: Float64Array;
  recTo: Float64Array;
  ipStart: Uint32Array;
  ipGroups: Uint32Array;
  fields: Uint32Array;
  values: readonly (readonly string[])[];
  tagLists: readonly (readonly string[])[];
  validFrom: Float64Array;
  validTo: Float64Array;
  seenAt: Float64Array;
  sourceOf: Uint32Array;
  lineOf: Uint32Array;
  sources: readonly string[];
}

function assetParts(entries: readonly AssetEntry[]): AssetParts {
  const o = { groups6: new Map<string, number>() } as { -readonly [K in keyof AssetParts]: AssetParts[K] };
  const n = entries.length;

  const interners = FIELDS.map(() => new Interner());
  const tagLists = new ListInterner();
  const sources = new Interner();
  o.fields = new Uint32Array(n * SLOT);
  o.validFrom = new Float64Array(n);
  o.validTo = new Float64Array(n);
  o.seenAt = new Float64Array(n);
  o.sourceOf = new Uint32Array(n);
  o.lineOf = new Uint32Array(n);
  // Records per address, from the entries' intervals or their snapshots.
  const byAddr = new Map<string, { asset: number; from: number; to: number; seen: number }[]>();
  const ipsOf: string[][] = [];
  for (let i = 0; i < n; i++) {
    const e = entries[i];
    const vals = [e.name, e.vmId, e.account, e.owner, e.env, e.type];
    for (let k = 0; k < 6; k++) o.fields[i * SLOT + k] = interners[k].id(vals[k]);
    o.fields[i * SLOT + 6] = tagLists.id(e.tags);
    o.validFrom[i] = e.validFrom ?? Number.NaN;
    o.validTo[i] = e.validTo ?? Number.NaN;
    o.seenAt[i] = e.seenAt ?? Number.NaN;
    const colon = e.source.lastIndexOf(':');
    const line = colon >= 0 ? lineNumber(e.source, colon + 1) : 0;
    o.sourceOf[i] = sources.id(line > 0 ? e.source.slice(0, colon) : e.source);
    o.lineOf[i] = line;
    const keys: string[] = [];
    for (const ip of e.ips) {
      const w = parseAddr(ip);
      if (w === null) continue;
      const key = formatAddrWords(w, 0);
      keys.push(key);
      let list = byAddr.get(key);
      if (list === undefined) {
        list = [];
        byAddr.set(key, list);
      }
      list.push({
        asset: i,
        from: e.validFrom ?? Number.NEGATIVE_INFINITY,
        to: e.validTo ?? Number.POSITIVE_INFINITY,
        seen: e.seenAt ?? Number.NaN,
      });
    }
    ipsOf.push(keys);
  }
  o.values = interners.map((x) => x.values);
  o.tagLists = tagLists.lists;
  o.sources = sources.values;
  let nrec = 0;
  for (const list of byAddr.values()) {
    snapshotsToIntervals(list);
    nrec += list.length;
  }
  const groups = byAddr.size;
  let cap = 16;
  while (cap < groups * 2) cap *= 2;
  o.hash4 = new Int32Array(cap * 2);
  o.mask4 = cap - 1;
  o.groupStart = new Uint32Array(groups + 1);
  o.groupAddr = new Uint32Array(groups * 4);
  o.recAsset = new Int32Array(nrec);
  o.recFrom = new Float64Array(nrec);
  o.recTo = new Float64Array(nrec);
  const groupOf = new Map<string, number>();
  let g = 0;
  let r = 0;
  for (const [key, list] of byAddr) {
    o.groupStart[g] = r;
    for (const x of list) {
      o.recAsset[r] = x.asset;
      o.recFrom[r] = x.from;
      o.recTo[r] = x.to;
      r++;
    }
    const w = parseAddr(key) as Uint32Array;
    o.groupAddr.set(w, g * 4);
    groupOf.set(key, g);
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
      let h = hash4(w[3]) & o.mask4;
      while (o.hash4[h * 2 + 1] !== 0) h = (h + 1) & o.mask4;
      o.hash4[h * 2] = w[3] | 0;
      const x = list[0];
      const always = list.length === 1 && x.from === Number.NEGATIVE_INFINITY && x.to === Number.POSITIVE_INFINITY;
      o.hash4[h * 2 + 1] = always ? x.asset + 1 : -(g + 1);
    } else o.groups6.set(key, g);
    g++;
  }
  o.groupStart[groups] = r;
  o.ipStart = new Uint32Array(n + 1);
  let nip = 0;
  for (let i = 0; i < n; i++) nip += ipsOf[i].length;
  o.ipGroups = new Uint32Array(nip);
  let k = 0;
  for (let i = 0; i < n; i++) {
    o.ipStart[i] = k;
    for (const key of ipsOf[i]) o.ipGroups[k++] = groupOf.get(key) as number;
  }
  o.ipStart[n] = k;
  o.size = n;
  return o;
}

/**
 * Codes of merged tag lists (range tags already in the row + an asset's tags) for one batch, keyed
 * by (row's tags code, asset tag list id): open addressing on typed arrays, emptied per pass.
 */
class MergeCache {
  private keyA = new Int32Array(1024);
  private keyB = new Int32Array(1024);
  private val = new Int32Array(1024);
  private used = 0;
  private mask = 1023;

  clear(): void {
    if (this.used === 0) return;
    this.val.fill(0);
    this.used = 0;
  }

  /** The merged code, or 0 when not cached yet. */
  get(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ b) & this.mask;
    for (;;) {
      const v = this.val[h];
      if (v === 0 || (this.keyA[h] === a && this.keyB[h] === b)) return v;
      h = (h + 1) & this.mask;
    }
  }

  set(a: number, b: number, v: number): void {
    if ((this.used + 1) * 2 > this.mask + 1) this.grow();
    let h = (Math.imul(a, 0x9e3779b1) ^ b) & this.mask;
    while (this.val[h] !== 0) h = (h + 1) & this.mask;
    this.keyA[h] = a;
    this.keyB[h] = b;
    this.val[h] = v;
    this.used++;
  }

  private grow(): void {
    const { keyA, keyB, val } = this;
    const cap = (this.mask + 1) * 2;
    this.keyA = new Int32Array(cap);
    this.keyB = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.mask = cap - 1;
    this.used = 0;
    for (let i = 0; i < val.length; i++) if (val[i] !== 0) this.set(keyA[i], keyB[i], val[i]);
  }
}

function hash4(a: number): number {
  return Math.imul(a ^ (a >>> 16), 0x45d9f3b) >>> 0;
}

/** Entries with only a snapshot time own the address until the next snapshot of another asset. */
function snapshotsToIntervals(list: { asset: number; from: number; to: number; seen: number }[]): void {
  const snaps = list.filter((x) => !Number.isNaN(x.seen)).sort((a, b) => a.seen - b.seen || a.asset - b.asset);
  for (let i = 0; i < snaps.length; i++) {
    const x = snaps[i];
    let j = i + 1;
    while (j < snaps.length && snaps[j].asset === x.asset) j++;
    x.from = i === 0 ? Number.NEGATIVE_INFINITY : x.seen;
    x.to = j < snaps.length ? snaps[j].seen : Number.POSITIVE_INFINITY;
  }
  // Repeated snapshots of one asset: its first one stands for the run (they share the interval end).
  list.sort((a, b) => a.from - b.from || a.asset - b.asset);
}

export function buildAssetTable(entries: readonly AssetEntry[]): AssetTable {
  const warnings: string[] = [];
  const seen = new Map<string, AssetEntry>();
  for (const e of entries) {
    if (e.validFrom !== undefined || e.validTo !== undefined || e.seenAt !== undefined) continue;
    for (const ip of e.ips) {
      const prev = seen.get(ip);
      if (prev !== undefined && prev.name !== e.name) {
        warnings.push(
          `${e.source}: ${ip} also belongs to ${prev.name || prev.vmId} (${prev.source}); the later one wins`,
        );
      }
      seen.set(ip, e);
    }
  }
  return new AssetTable(entries, warnings);
}

export function loadAssetTable(files: readonly { file: string; text: string; options?: AssetParseOptions }[]): {
  table: AssetTable;
  errors: EnrichSourceError[];
  warnings: string[];
} {
  const entries: AssetEntry[] = [];
  const errors: EnrichSourceError[] = [];
  const warnings: string[] = [];
  for (const f of files) {
    const l = parseAssets(f.file, f.text, f.options);
    for (const e of l.entries) entries.push(e);
    for (const e of l.errors) errors.push(e);
    for (const w of l.warnings) warnings.push(w);
  }
  const table = buildAssetTable(entries);
  return { table, errors, warnings: [...warnings, ...table.warnings] };
}

// ---- enrichment

const FIELDS = ['host', 'vm_id', 'account', 'owner', 'env', 'asset_type'] as const;

/**
 * Fill src_/dst_ host, vm_id, account, owner, env, asset_type from the asset that held each address
 * at the flow's time_start, and merge its tags into src_/dst_tags after the range tags already
 * there (run applyRanges first). Codes are looked up once per distinct value (and per pair of tag
 * lists) per batch.
 */
export function applyAssets(table: AssetTable, batch: FlowBatch): void {
  if (table.size === 0) return;
  const pass = table.nextPass();
  applySide(table, batch, pass, 0);
  applySide(table, batch, pass, 1);
}

let rowAssets = new Int32Array(0);

function applySide(table: AssetTable, batch: FlowBatch, pass: number, side: 0 | 1): void {
  const p = side === 0 ? 'src' : 'dst';
  const addrCol = columnIndex(`${p}_addr`);
  const timeCol = columnIndex('time_start');
  const tagsCol = columnIndex(`${p}_tags`);
  const cols = FIELDS.map((f) => columnIndex(`${p}_${f}`));
  const addrs = batch.data[addrCol] as Uint32Array;
  const addrValid = batch.valid[addrCol];
  const times = batch.data[timeCol] as Float64Array;
  const timeValid = batch.valid[timeCol];
  const tags = batch.data[tagsCol] as Uint32Array;
  const tagsValid = batch.valid[tagsCol];
  const tagDict = batch.lists[tagsCol];
  const d0 = batch.data[cols[0]] as Uint32Array;
  const d1 = batch.data[cols[1]] as Uint32Array;
  const d2 = batch.data[cols[2]] as Uint32Array;
  const d3 = batch.data[cols[3]] as Uint32Array;
  const d4 = batch.data[cols[4]] as Uint32Array;
  const d5 = batch.data[cols[5]] as Uint32Array;
  const v0 = batch.valid[cols[0]];
  const v1 = batch.valid[cols[1]];
  const v2 = batch.valid[cols[2]];
  const v3 = batch.valid[cols[3]];
  const v4 = batch.valid[cols[4]];
  const v5 = batch.valid[cols[5]];
  const slots = table.slots;
  const fields = table.fields;
  const merge = table.merge;
  const n = batch.length;
  if (rowAssets.length < n) rowAssets = new Int32Array(batch.capacity);
  const found = rowAssets;
  const inV4 = table.v4Filter();
  // First only the lookups, so that independent rows' cache misses overlap.
  for (let r = 0; r < n; r++) {
    const o = r * 4;
    let a = -1;
    if (addrValid[r] !== 0) {
      const t = timeValid[r] === 1 ? times[r] : Number.NaN;
      if (addrs[o] === 0 && addrs[o + 1] === 0 && addrs[o + 2] === 0xffff) {
        const x = addrs[o + 3];
        const p = x >>> 8;
        if ((inV4[p >>> 5] >>> (p & 31)) & 1) a = table.lookupV4(x, t);
      } else a = table.lookupWords(addrs, o, t);
    }
    found[r] = a;
  }
  if (writeShared(table, batch, cols, tagsCol, n)) return;
  for (let r = 0; r < n; r++) {
    const a = found[r];
    if (a < 0) continue;
    const s = (a * 2 + side) * SLOT;
    if (slots[s] !== pass) fillSlot(table, batch, cols, tagsCol, a, side, s, pass);
    let c = slots[s + 1];
    if (c !== 0) {
      d0[r] = c;
      v0[r] = 1;
    }
    c = slots[s + 2];
    if (c !== 0) {
      d1[r] = c;
      v1[r] = 1;
    }
    c = slots[s + 3];
    if (c !== 0) {
      d2[r] = c;
      v2[r] = 1;
    }
    c = slots[s + 4];
    if (c !== 0) {
      d3[r] = c;
      v3[r] = 1;
    }
    c = slots[s + 5];
    if (c !== 0) {
      d4[r] = c;
      v4[r] = 1;
    }
    c = slots[s + 6];
    if (c !== 0) {
      d5[r] = c;
      v5[r] = 1;
    }
    const own = slots[s + 7];
    if (own === 0) continue;
    const prev = tagsValid[r] === 1 ? tags[r] : 0;
    if (prev === 0 || prev === own) {
      tags[r] = own;
    } else {
      // Range tags first, then the asset's; the pair's merged code is computed once per batch and
      // side (src_tags and dst_tags have separate dictionaries, so their codes differ).
      const tl = fields[a * SLOT + 6];
      const key = tl * 2 + side;
      let m = merge.get(prev, key);
      if (m === 0) {
        const list = tagDict as NonNullable<typeof tagDict>;
        const merged = [...list.values[prev]];
        for (const x of table.tagLists[tl]) if (!merged.includes(x)) merged.push(x);
        m = list.code(merged);
        merge.set(prev, key, m);
      }
      tags[r] = m;
    }
    tagsValid[r] = 1;
  }
}

/**
 * The usual case, a batch straight from a decoder: nobody wrote the six columns, and the tags
 * column is empty or holds ranges' shared tag lists. The table's interned arrays become the
 * batch's dictionaries and its ids the codes; tags go through a table-wide union of the ranges'
 * lists, the asset lists and their merged pairs (TagUnion). False when the batch holds values of
 * its own in one of the columns: then every distinct value gets a batch code (the slots below).
 */
function writeShared(
  table: AssetTable,
  batch: FlowBatch,
  cols: readonly number[],
  tagsCol: number,
  n: number,
): boolean {
  const values = table.values;
  for (let k = 0; k < 6; k++) if (!batch.strings[cols[k]]?.canShare(values[k], values[k])) return false;
  const tagDict = batch.lists[tagsCol];
  if (tagDict === undefined) return false;
  let union: TagUnion | null = null;
  if (tagDict.shared) {
    union = tagUnionOf(table, tagDict.values);
    if (union === null || !batch.useSharedList(tagsCol, union.values, tagDict.values)) return false;
  } else if (!batch.useSharedList(tagsCol, table.tagLists)) return false;
  for (let k = 0; k < 6; k++) batch.useSharedStrings(cols[k], values[k], values[k]);
  const rec = table.fields;
  const found = rowAssets;
  const d0 = batch.data[cols[0]] as Uint32Array;
  const d1 = batch.data[cols[1]] as Uint32Array;
  const d2 = batch.data[cols[2]] as Uint32Array;
  const d3 = batch.data[cols[3]] as Uint32Array;
  const d4 = batch.data[cols[4]] as Uint32Array;
  const d5 = batch.data[cols[5]] as Uint32Array;
  const v0 = batch.valid[cols[0]];
  const v1 = batch.valid[cols[1]];
  const v2 = batch.valid[cols[2]];
  const v3 = batch.valid[cols[3]];
  const v4 = batch.valid[cols[4]];
  const v5 = batch.valid[cols[5]];
  const tags = batch.data[tagsCol] as Uint32Array;
  const tagsValid = batch.valid[tagsCol];
  for (let r = 0; r < n; r++) {
    const a = found[r];
    if (a < 0) continue;
    const o = a * SLOT;
    let c = rec[o];
    if (c !== 0) {
      d0[r] = c;
      v0[r] = 1;
    }
    c = rec[o + 1];
    if (c !== 0) {
      d1[r] = c;
      v1[r] = 1;
    }
    c = rec[o + 2];
    if (c !== 0) {
      d2[r] = c;
      v2[r] = 1;
    }
    c = rec[o + 3];
    if (c !== 0) {
      d3[r] = c;
      v3[r] = 1;
    }
    c = rec[o + 4];
    if (c !== 0) {
      d4[r] = c;
      v4[r] = 1;
    }
    c = rec[o + 5];
    if (c !== 0) {
      d5[r] = c;
      v5[r] = 1;
    }
    const own = rec[o + 6];
    if (own === 0) continue;
    if (union === null) tags[r] = own;
    else tags[r] = union.code(table, tagsValid[r] === 1 ? tags[r] : 0, own);
    tagsValid[r] = 1;
  }
  return true;
}

/** Shared tag dictionaries grow by merged pairs met; past this many, batches go the private way. */
const MAX_UNION = 1 << 16;

/**
 * The tag lists of a shared dictionary `base` (the range table's), extended by the asset table's
 * lists and by each (range tags, asset tags) merge as first met: range tags first, then the
 * asset's. Append-only, so batches that share it keep reading the values their codes had; kept per
 * (asset table, base) for the tables' life, so a pair is merged once, not once per batch.
 */
class TagUnion {
  readonly values: (readonly string[])[];
  /** Per asset tag list id: its code here (0: not added yet). */
  private readonly ownCode: Uint32Array;
  private readonly pairs = new MergeCache();
  constructor(base: readonly (readonly string[])[], assetLists: number) {
    this.values = base.slice();
    this.ownCode = new Uint32Array(assetLists);
  }
  get full(): boolean {
    return this.values.length >= MAX_UNION;
  }
  /** The code of the row's tags `prev` (a code here, 0: none) merged with asset tag list `own`. */
  code(table: AssetTable, prev: number, own: number): number {
    if (prev === 0) {
      let c = this.ownCode[own];
      if (c === 0) {
        c = this.values.length;
        this.values.push(table.tagLists[own]);
        this.ownCode[own] = c;
      }
      return c;
    }
    let m = this.pairs.get(prev, own);
    if (m === 0) {
      const merged = [...this.values[prev]];
      for (const x of table.tagLists[own]) if (!merged.includes(x)) merged.push(x);
      m = merged.length === this.values[prev].length ? prev : this.values.length;
      if (m !== prev) this.values.push(merged);
      this.pairs.set(prev, own, m);
    }
    return m;
  }
}

const unions = new WeakMap<AssetTable, WeakMap<readonly (readonly string[])[], TagUnion>>();

/** The union extending `base` (or `base`'s own union when it is one), null when it is full. */
function tagUnionOf(t: AssetTable, base: readonly (readonly string[])[]): TagUnion | null {
  let byBase = unions.get(t);
  if (byBase === undefined) {
    byBase = new WeakMap();
    unions.set(t, byBase);
  }
  let u = byBase.get(base);
  if (u === undefined) {
    u = new TagUnion(base, t.tagLists.length);
    byBase.set(base, u);
    byBase.set(u.values, u);
  }
  // a full union is only read: its codes stay valid in batches that share it
  return u.full ? null : u;
}

/** The batch codes of asset a's fields for one side, through the per-field-id caches. */
function fillSlot(
  table: AssetTable,
  batch: FlowBatch,
  cols: readonly number[],
  tagsCol: number,
  a: number,
  side: number,
  s: number,
  pass: number,
): void {
  const slots = table.slots;
  for (let k = 0; k < 7; k++) {
    const id = table.fields[a * SLOT + k];
    if (id === 0) {
      slots[s + 1 + k] = 0;
      continue;
    }
    const fc = table.fieldCodes[k * 2 + side];
    if (fc[id * 2] !== pass) {
      fc[id * 2 + 1] =
        k < 6
          ? (batch.strings[cols[k]]?.append(table.values[k][id]) ?? 0)
          : (batch.lists[tagsCol]?.append(table.tagLists[id]) ?? 0);
      fc[id * 2] = pass;
    }
    slots[s + 1 + k] = fc[id * 2 + 1];
  }
  slots[s] = pass;
}

/** The asset holding the address at `timeMs` (or now), with the other assets it was held by. */
export function describeAssets(table: AssetTable, addr: string, timeMs?: number): EnrichmentHit[] {
  const w = parseAddr(addr.trim());
  const hit = w === null ? -1 : table.lookupWords(w, 0, timeMs ?? Number.NaN);
  const out: EnrichmentHit[] = [];
  const fieldsOf = (e: AssetEntry, from: number, to: number) => {
    const f: Record<string, string | number | readonly string[]> = {};
    if (e.name) f.host = e.name;
    if (e.vmId) f.vm_id = e.vmId;
    if (e.account) f.account = e.account;
    if (e.owner) f.owner = e.owner;
    if (e.env) f.env = e.env;
    if (e.type) f.asset_type = e.type;
    if (e.tags.length) f.tags = e.tags;
    if (Number.isFinite(from)) f.valid_from = new Date(from).toISOString();
    if (Number.isFinite(to)) f.valid_to = new Date(to).toISOString();
    return f;
  };
  const hist = table.history(addr);
  for (const h of hist) {
    if (h.asset !== hit) continue;
    const e = table.entry(h.asset);
    out.push({ kind: 'asset', origin: e.source, fields: fieldsOf(e, h.from, h.to) });
    break;
  }
  for (const h of hist) {
    if (h.asset === hit) continue;
    const e = table.entry(h.asset);
    out.push({ kind: 'asset', origin: e.source, fields: { ...fieldsOf(e, h.from, h.to), not_at_that_time: 'true' } });
  }
  return out;
}

// ---- loaders

/** ms since the epoch from a number (ms) or ISO 8601 text; undefined when empty; NaN when unreadable. */
function timeOf(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  const s = String(v).trim();
  if (s === '') return undefined;
  if (/^\d+$/.test(s)) return Number(s);
  return Date.parse(s);
}

/** Validate the addresses and times of an entry; push it or an error. */
function keep(load: AssetLoad, file: string, line: number | undefined, where: string, e: AssetEntry): void {
  const at = (msg: string) => new EnrichSourceError(file, line, where ? `${where}: ${msg}` : msg);
  if (e.ips.length === 0) {
    load.errors.push(at(`no IP address for ${e.name || e.vmId || 'the asset'}`));
    return;
  }
  for (const ip of e.ips) {
    if (parseAddr(ip) === null) {
      load.errors.push(at(`"${ip}" is not an IP address`));
      return;
    }
  }
  for (const [k, v] of [
    ['valid_from', e.validFrom],
    ['valid_to', e.validTo],
  ] as const) {
    if (v !== undefined && Number.isNaN(v)) {
      load.errors.push(at(`${k} is not a time (ms since 1970 or ISO 8601)`));
      return;
    }
  }
  if (e.validFrom !== undefined && e.validTo !== undefined && e.validTo <= e.validFrom) {
    load.errors.push(at('valid_to is not after valid_from'));
    return;
  }
  load.entries.push(e);
}

function ipList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter((x) => x !== '');
  if (typeof v === 'string') return v.split(/[;\s]+/).filter((x) => x !== '');
  return [];
}

/** Cloud key/value tags: Name, Environment, Owner become fields; the others `key=value` tags. */
function kvTags(pairs: [string, string][], e: AssetEntry): void {
  const tags = [...e.tags];
  for (const [k, v] of pairs) {
    const lk = k.toLowerCase();
    if (lk === 'name' && !e.name) e.name = v;
    else if ((lk === 'environment' || lk === 'env') && !e.env) e.env = v;
    else if (lk === 'owner' && !e.owner) e.owner = v;
    else {
      const t = v === '' ? k : `${k}=${v}`;
      if (!tags.includes(t)) tags.push(t);
    }
  }
  e.tags = tags;
}

function blank(source: string): AssetEntry {
  return { ips: [], name: '', vmId: '', account: '', owner: '', type: '', env: '', tags: [], source };
}

const CSV_COLUMNS = ['ip', 'name', 'vm_id', 'account', 'owner', 'type', 'env', 'tags', 'valid_from', 'valid_to'];

function readCsv(file: string, text: string, load: AssetLoad): void {
  const rows = csvRows(text);
  if (rows.length === 0) return;
  const header = rows[0].fields.map((f) => f.trim().toLowerCase());
  if (!header.includes('ip')) {
    throw new EnrichSourceError(
      file,
      rows[0].line,
      `header required (columns ${CSV_COLUMNS.join(',')}); no "ip" column`,
    );
  }
  const unknown = header.filter((h) => !CSV_COLUMNS.includes(h));
  if (unknown.length) load.warnings.push(`${file}:${rows[0].line}: columns ignored: ${unknown.join(', ')}`);
  const col = (n: string) => header.indexOf(n);
  for (let k = 1; k < rows.length; k++) {
    const { line, fields } = rows[k];
    const get = (n: string) => {
      const i = col(n);
      return i >= 0 ? (fields[i] ?? '').trim() : '';
    };
    const e: AssetEntry = {
      ips: ipList(get('ip')),
      name: get('name'),
      vmId: get('vm_id'),
      account: get('account'),
      owner: get('owner'),
      type: get('type'),
      env: get('env'),
      tags: tagList(get('tags').replace(/,/g, ';')),
      validFrom: timeOf(get('valid_from')),
      validTo: timeOf(get('valid_to')),
      source: `${file}:${line}`,
    };
    keep(load, file, line, '', e);
  }
}

function readList(file: string, text: string, load: AssetLoad): void {
  for (const { line, value: v } of yamlList(file, text, ['assets', 'hosts'])) {
    if (!isObject(v)) {
      load.errors.push(new EnrichSourceError(file, line, 'entry is not a map'));
      continue;
    }
    const e: AssetEntry = {
      ips: ipList(v.ips ?? v.ip ?? v.addresses),
      name: str(v, 'name'),
      vmId: str(v, 'vm_id') || str(v, 'vmId'),
      account: str(v, 'account'),
      owner: str(v, 'owner'),
      type: str(v, 'type') || str(v, 'sku'),
      env: str(v, 'env') || str(v, 'environment'),
      tags: [],
      validFrom: timeOf(v.valid_from ?? v.validFrom),
      validTo: timeOf(v.valid_to ?? v.validTo),
      source: `${file}:${line}`,
    };
    if (isObject(v.tags)) {
      kvTags(
        Object.entries(v.tags).map(([k, x]) => [k, String(x ?? '')]),
        e,
      );
    } else e.tags = tagList(v.tags);
    keep(load, file, line, '', e);
  }
}

// `aws ec2 describe-instances` output (EC2 API DescribeInstances): Reservations[] with OwnerId (the
// account) and Instances[] with InstanceId, InstanceType, PrivateIpAddress, PublicIpAddress,
// NetworkInterfaces[].PrivateIpAddresses[].{PrivateIpAddress, Association.PublicIp},
// NetworkInterfaces[].Ipv6Addresses[].Ipv6Address, Tags[] {Key, Value}.
function readEc2(file: string, doc: unknown, load: AssetLoad): void {
  if (!isObject(doc) || !Array.isArray(doc.Reservations)) {
    throw new EnrichSourceError(file, undefined, 'not describe-instances output: no Reservations[]');
  }
  doc.Reservations.forEach((res: unknown, i: number) => {
    const insts = isObject(res) ? res.Instances : undefined;
    if (!Array.isArray(insts)) {
      load.errors.push(new EnrichSourceError(file, undefined, `Reservations[${i}]: no Instances[]`));
      return;
    }
    insts.forEach((inst: unknown, j: number) => {
      const where = `Reservations[${i}].Instances[${j}]`;
      if (!isObject(inst)) {
        load.errors.push(new EnrichSourceError(file, undefined, `${where}: not an object`));
        return;
      }
      const ips: string[] = [];
      const addIp = (x: string) => {
        if (x && !ips.includes(x)) ips.push(x);
      };
      addIp(str(inst, 'PrivateIpAddress'));
      addIp(str(inst, 'PublicIpAddress'));
      for (const ni of Array.isArray(inst.NetworkInterfaces) ? inst.NetworkInterfaces : []) {
        if (!isObject(ni)) continue;
        for (const pa of Array.isArray(ni.PrivateIpAddresses) ? ni.PrivateIpAddresses : []) {
          addIp(str(pa, 'PrivateIpAddress'));
          if (isObject(pa) && isObject(pa.Association)) addIp(str(pa.Association, 'PublicIp'));
        }
        for (const v6 of Array.isArray(ni.Ipv6Addresses) ? ni.Ipv6Addresses : []) addIp(str(v6, 'Ipv6Address'));
      }
      const state = isObject(inst.State) ? str(inst.State, 'Name') : '';
      // A terminated instance has no addresses any more; not an error in the file.
      if (ips.length === 0 && (state === 'terminated' || state === 'shutting-down')) return;
      const e = blank(`${file}#${where}`);
      e.ips = ips;
      e.vmId = str(inst, 'InstanceId');
      e.type = str(inst, 'InstanceType');
      e.account = str(res, 'OwnerId');
      e.tags = ['vm', 'aws'];
      const tags = Array.isArray(inst.Tags) ? inst.Tags : [];
      kvTags(
        tags.filter(isObject).map((t) => [str(t, 'Key'), str(t, 'Value')] as [string, string]),
        e,
      );
      keep(load, file, undefined, where, e);
    });
  });
}

// Azure Resource Graph results (`az graph query`, REST Resources API: {count, data: [...]}, or the
// bare array): network interface rows (type microsoft.network/networkinterfaces) carry
// properties.ipConfigurations[].properties.privateIPAddress and properties.virtualMachine.id; VM
// rows (microsoft.compute/virtualmachines) carry name, vmId, hardwareProfile.vmSize and tags. A NIC
// row is joined to its VM row by resource id when both are in the file.
function readAzureGraph(file: string, doc: unknown, load: AssetLoad): void {
  const rows = Array.isArray(doc) ? doc : isObject(doc) && Array.isArray(doc.data) ? doc.data : undefined;
  if (rows === undefined) throw new EnrichSourceError(file, undefined, 'not Resource Graph output: no data[]');
  const vms = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    if (isObject(r) && str(r, 'type').toLowerCase() === 'microsoft.compute/virtualmachines') {
      vms.set(str(r, 'id').toLowerCase(), r);
    }
  }
  rows.forEach((r: unknown, i: number) => {
    const where = `data[${i}]`;
    if (!isObject(r)) return;
    const props = isObject(r.properties) ? r.properties : {};
    if (!Array.isArray(props.ipConfigurations)) {
      if (!vms.has(str(r, 'id').toLowerCase())) {
        load.errors.push(new EnrichSourceError(file, undefined, `${where}: no properties.ipConfigurations[]`));
      }
      return;
    }
    const ips: string[] = [];
    for (const c of props.ipConfigurations) {
      const cp = isObject(c) && isObject(c.properties) ? c.properties : {};
      const ip = str(cp, 'privateIPAddress');
      if (ip) ips.push(ip);
      // Only when the query expanded the public IP resource: otherwise it is just an id.
      const pub =
        isObject(cp.publicIPAddress) && isObject(cp.publicIPAddress.properties) ? cp.publicIPAddress.properties : {};
      const pip = str(pub, 'ipAddress');
      if (pip) ips.push(pip);
    }
    const vmId = isObject(props.virtualMachine) ? str(props.virtualMachine, 'id') : '';
    const vm = vms.get(vmId.toLowerCase());
    const e = blank(`${file}#${where}`);
    e.ips = ips;
    e.name = vm ? str(vm, 'name') : vmId ? (vmId.split('/').pop() ?? '') : str(r, 'name');
    e.vmId = vmId || str(r, 'id');
    e.account = str(r, 'subscriptionId');
    const vmProps = vm && isObject(vm.properties) ? vm.properties : {};
    e.type = isObject(vmProps.hardwareProfile) ? str(vmProps.hardwareProfile, 'vmSize') : '';
    e.tags = vmId ? ['vm', 'azure'] : ['azure'];
    const tagObj = vm && isObject(vm.tags) ? vm.tags : isObject(r.tags) ? r.tags : {};
    kvTags(
      Object.entries(tagObj).map(([k, v]) => [k, String(v ?? '')]),
      e,
    );
    keep(load, file, undefined, where, e);
  });
}

// Cloud Asset Inventory export (gcloud asset export / ExportAssets, newline-delimited JSON, or a
// JSON array of the same): {name: "//compute.googleapis.com/projects/P/zones/Z/instances/N",
// assetType|asset_type: "compute.googleapis.com/Instance", resource: {data: {id, name, machineType,
// labels, networkInterfaces[].{networkIP, ipv6Address, accessConfigs[].natIP}}}, updateTime}.
// updateTime is when the asset was seen that way: a snapshot time.
function readGcpAssets(file: string, text: string, load: AssetLoad): void {
  const t = text.trimStart();
  let items: { line: number; value: unknown }[];
  if (t.startsWith('[')) {
    const arr = parseJsonFile(file, text);
    items = (arr as unknown[]).map((value, i) => ({ line: i + 1, value }));
  } else {
    items = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      try {
        items.push({ line: i + 1, value: JSON.parse(lines[i]) });
      } catch (e) {
        load.errors.push(new EnrichSourceError(file, i + 1, `not JSON: ${(e as Error).message}`));
      }
    }
  }
  const ndjson = !t.startsWith('[');
  for (const { line, value: v } of items) {
    const lineNo = ndjson ? line : undefined;
    const where = ndjson ? '' : `[${line - 1}]`;
    const type = str(v, 'assetType') || str(v, 'asset_type');
    if (type !== 'compute.googleapis.com/Instance') continue; // other asset types hold no VM address
    const res = isObject(v) && isObject(v.resource) ? v.resource : {};
    const data = isObject(res.data) ? res.data : {};
    const ips: string[] = [];
    for (const ni of Array.isArray(data.networkInterfaces) ? data.networkInterfaces : []) {
      if (!isObject(ni)) continue;
      for (const k of ['networkIP', 'ipv6Address']) if (str(ni, k)) ips.push(str(ni, k));
      for (const ac of Array.isArray(ni.accessConfigs) ? ni.accessConfigs : [])
        if (str(ac, 'natIP')) ips.push(str(ac, 'natIP'));
    }
    const name = str(v, 'name');
    const e = blank(ndjson ? `${file}:${line}` : `${file}#${where}`);
    e.ips = ips;
    e.name = str(data, 'name') || (name.split('/').pop() ?? '');
    e.vmId = str(data, 'id');
    e.account = /\/projects\/([^/]+)/.exec(name)?.[1] ?? '';
    e.type = str(data, 'machineType').split('/').pop() ?? '';
    e.tags = ['vm', 'gcp'];
    if (isObject(data.labels)) {
      kvTags(
        Object.entries(data.labels).map(([k, x]) => [k, String(x ?? '')]),
        e,
      );
    }
    const seen = timeOf(str(v, 'updateTime') || str(v, 'update_time'));
    if (seen !== undefined && !Number.isNaN(seen)) e.seenAt = seen;
    keep(load, file, lineNo, where, e);
  }
}
