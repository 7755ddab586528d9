// IntelTable: every feed's indicators in one immutable lookup structure, and applyIntel(), which
// marks the flows of a batch that touch an indicator (ti_feeds, ti_indicator, ti_confidence).
//
// Layout (measured for 1 M indicators: see bench/enrich-intel.bench.ts): no object per indicator.
// Indicators with the same key (one address, one prefix, one domain) form a *group*; group ids are
// contiguous per kind. Each group knows its *parent* — the innermost CIDR that contains an address
// or prefix, or the nearest listed parent domain of a domain — and carries the union of feeds and
// the most confident indicator of itself and all its ancestors. A lookup therefore finds one group
// per address or name (exact address, else the innermost CIDR; longest listed domain suffix) and
// is done: "a flow can match several feeds" is answered by that one group's feed set.
//
//   exact IPv4  open-addressing hash on the 32-bit value (Math.imul mix, linear probing)
//   exact IPv6  the same over the four words
//   IPv4 CIDRs  prefixes nest or are disjoint, so a sweep turns them into sorted elementary
//               segments, each naming its innermost prefix; a 65 536-entry index on the top 16 bits
//               leaves a binary search over the few segments starting inside that /16
//   IPv6 CIDRs  the same segments over 128-bit starts, found through a directory on the leading
//               bits (ranges/starts6.ts)
//   domains     Map from name to group; a flow's name is tried whole, then label by label
//   URLs        Map from the URL's host to group, matched against http_host only (the schema has
//               no URL path column, so a URL indicator flags every request to that host)

import { addrBigInt, type FlowBatch, type ListDict, type StringDict } from '../../pipeline/flow-batch.js';
import { C, columnIndex } from '../../schema/columns.js';
import { lastAtOrBelow } from '../ranges/lpm.js';
import { Starts6, type Starts6Parts } from '../ranges/starts6.js';
import type { EnrichmentHit } from '../source-error.js';
import { formatWords, type Indicator, normaliseAddr, normaliseDomain, parseAddrWords, urlHost } from './feeds.js';

const K_V4 = 0;
const K_V6 = 1;
const K_CIDR4 = 2;
const K_CIDR6 = 3;
const K_DOMAIN = 4;
const K_URLHOST = 5;

export interface IntelTableStats {
  indicators: number;
  groups: number;
  feeds: number;
  exactV4: number;
  exactV6: number;
  cidrV4: number;
  cidrV6: number;
  domains: number;
  urlHosts: number;
  /** Bytes held in typed arrays (Maps of domains not included). */
  typedBytes: number;
}

export class IntelTable {
  /** Feed names, sorted; a feed's index is its bit in the feed masks. */
  readonly feeds: readonly string[];
  /** Mask words per group: ceil(feeds / 32). */
  readonly maskWords: number;
  // entries (in group order)
  readonly entryFeed: Uint16Array;
  readonly entryConf: Uint8Array;
  readonly entryFile: Uint32Array;
  readonly entryLine: Uint32Array;
  readonly files: readonly string[];
  /** Sources whose tail is not a line number (`file:<stix id>`), by entry. */
  readonly entrySourceText: ReadonlyMap<number, string>;
  /** URL text of URL entries, by entry - urlEntryBase. */
  readonly urlText: readonly string[];
  readonly urlEntryBase: number;
  // groups
  readonly groupKindStart: Uint32Array; // 7 values: first group of each kind, and the total
  readonly groupEntryStart: Uint32Array;
  readonly groupKey: Uint32Array; // 4 words per address/prefix group
  readonly groupLen: Uint8Array; // prefix length (128 for an exact address; IPv4 as /96+n)
  readonly groupParent: Int32Array;
  readonly groupBest: Uint32Array; // entry, over the group and its ancestors
  readonly groupMask: Uint32Array; // maskWords per group, over the group and its ancestors
  readonly domainNames: readonly string[]; // by group - first domain group
  readonly urlHosts: readonly string[]; // by group - first URL-host group
  // lookups
  readonly v4Keys: Uint32Array;
  readonly v4Vals: Int32Array; // group + 1, 0 = empty
  readonly v4Shift: number;
  readonly v6Keys: Uint32Array;
  readonly v6Vals: Int32Array;
  readonly v6Shift: number;
  readonly seg4Start: Uint32Array;
  readonly seg4Group: Int32Array;
  readonly seg4Index: Int32Array; // 65 537 entries: segments starting before each /16
  readonly seg6Start: Uint32Array;
  readonly seg6Group: Int32Array;
  readonly domainIndex: ReadonlyMap<string, number>;
  readonly urlHostIndex: ReadonlyMap<string, number>;

  /** @internal use buildIntelTable */
  constructor(b: IntelTableParts) {
    this.feeds = b.feeds;
    this.maskWords = b.maskWords;
    this.entryFeed = b.entryFeed;
    this.entryConf = b.entryConf;
    this.entryFile = b.entryFile;
    this.entryLine = b.entryLine;
    this.files = b.files;
    this.entrySourceText = b.entrySourceText;
    this.urlText = b.urlText;
    this.urlEntryBase = b.urlEntryBase;
    this.groupKindStart = b.groupKindStart;
    this.groupEntryStart = b.groupEntryStart;
    this.groupKey = b.groupKey;
    this.groupLen = b.groupLen;
    this.groupParent = b.groupParent;
    this.groupBest = b.groupBest;
    this.groupMask = b.groupMask;
    this.domainNames = b.domainNames;
    this.urlHosts = b.urlHosts;
    this.v4Keys = b.v4Keys;
    this.v4Vals = b.v4Vals;
    this.v4Shift = b.v4Shift;
    this.v6Keys = b.v6Keys;
    this.v6Vals = b.v6Vals;
    this.v6Shift = b.v6Shift;
    this.seg4Start = b.seg4Start;
    this.seg4Group = b.seg4Group;
    this.seg4Index = b.seg4Index;
    this.seg6Start = b.seg6Start;
    this.seg6Group = b.seg6Group;
    this.seg6Dir = new Starts6(b.seg6Start, b.seg6Dir);
    this.domainIndex = b.domainIndex;
    this.urlHostIndex = b.urlHostIndex;
  }

  get size(): number {
    return this.entryFeed.length;
  }

  stats(): IntelTableStats {
    const k = this.groupKindStart;
    let typedBytes = 0;
    for (const v of Object.values(this)) if (ArrayBuffer.isView(v)) typedBytes += v.byteLength;
    typedBytes += this.seg6Dir.byteSize;
    return {
      indicators: this.entryFeed.length,
      groups: k[6],
      feeds: this.feeds.length,
      exactV4: k[1] - k[0],
      exactV6: k[2] - k[1],
      cidrV4: k[3] - k[2],
      cidrV6: k[4] - k[3],
      domains: k[5] - k[4],
      urlHosts: k[6] - k[5],
      typedBytes,
    };
  }

  /** Group of an address held as 4 words at `o` (exact, else innermost CIDR), or -1. */
  lookupAddr(w: Uint32Array, o: number): number {
    if (w[o] === 0 && w[o + 1] === 0 && w[o + 2] === 0xffff) {
      const a = w[o + 3];
      const keys = this.v4Keys;
      if (keys.length !== 0) {
        const vals = this.v4Vals;
        const mask = keys.length - 1;
        for (let i = Math.imul(a, 0x9e3779b1) >>> this.v4Shift; ; i = (i + 1) & mask) {
          const v = vals[i];
          if (v === 0) break;
          if (keys[i] === a) return v - 1;
        }
      }
      return this.seg4Start.length === 0 ? -1 : this.cidr4(a);
    }
    if (this.v6Keys.length !== 0) {
      const g = this.exact6(w, o);
      if (g >= 0) return g;
    }
    return this.seg6Group.length === 0 ? -1 : this.cidr6(w, o);
  }

  /** Innermost IPv4 CIDR group containing `a`, or -1. */
  cidr4(a: number): number {
    const h = a >>> 16;
    const idx = this.seg4Index;
    let lo = idx[h];
    let hi = idx[h + 1] - 1;
    const starts = this.seg4Start;
    // last segment with start <= a among those starting in this /16, else the one before them
    let ans = lo - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= a) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans < 0 ? -1 : this.seg4Group[ans];
  }

  /**
   * lookupAddr for an address that is not IPv4-mapped, with `filter` from v6FilterOf: an address
   * whose bit is clear is no exact indicator, and the exact hash (two cache misses) is skipped.
   */
  lookupV6Filtered(w: Uint32Array, o: number, filter: Uint32Array): number {
    if (this.v6Keys.length !== 0) {
      const h = v6FilterBit(w, o);
      if ((filter[h >>> 5] >>> (h & 31)) & 1) {
        const g = this.exact6(w, o);
        if (g >= 0) return g;
      }
    }
    return this.seg6Group.length === 0 ? -1 : this.cidr6(w, o);
  }

  private exact6(w: Uint32Array, o: number): number {
    const keys = this.v6Keys;
    const vals = this.v6Vals;
    const mask = vals.length - 1;
    for (let i = hash6(w, o) >>> this.v6Shift; ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === 0) return -1;
      const k = i * 4;
      if (keys[k] === w[o] && keys[k + 1] === w[o + 1] && keys[k + 2] === w[o + 2] && keys[k + 3] === w[o + 3]) {
        return v - 1;
      }
    }
  }

  /** Innermost IPv6 CIDR group containing the address at `o`, or -1. */
  cidr6(w: Uint32Array, o: number): number {
    const ans = this.seg6Dir.find(w, o);
    return ans < 0 ? -1 : this.seg6Group[ans];
  }

  /** @internal The directory over seg6Start (ranges/starts6.ts); the wire carries its parts. */
  readonly seg6Dir: Starts6;

  /** Group of the longest listed domain that is `name` or a parent of it; name already normalised. */
  lookupDomain(name: string): number {
    const idx = this.domainIndex;
    if (idx.size === 0) return -1;
    let d = name;
    for (;;) {
      const g = idx.get(d);
      if (g !== undefined) return g;
      const dot = d.indexOf('.');
      if (dot < 0) return -1;
      d = d.slice(dot + 1);
    }
  }

  /** Text of an entry's indicator (normalised). */
  indicatorText(entry: number): string {
    const g = this.groupOfEntry(entry);
    const k = this.groupKindStart;
    if (g >= k[5]) return this.urlText[entry - this.urlEntryBase];
    if (g >= k[4]) return this.domainNames[g - k[4]];
    const w = this.groupKey.subarray(g * 4, g * 4 + 4);
    const text = formatWords(w);
    if (g < k[2]) return text;
    const len = this.groupLen[g];
    return w[0] === 0 && w[1] === 0 && w[2] === 0xffff && g < k[3] ? `${text}/${len - 96}` : `${text}/${len}`;
  }

  /** `file:line` (or `file:<id>`) an entry came from. */
  entrySource(entry: number): string {
    const t = this.entrySourceText.get(entry);
    if (t !== undefined) return t;
    const line = this.entryLine[entry];
    const f = this.files[this.entryFile[entry]];
    return line === 0 ? f : `${f}:${line}`;
  }

  groupOfEntry(entry: number): number {
    // group starts begin at 0 and end with the number of entries, which is above any entry
    return lastAtOrBelow(this.groupEntryStart, entry);
  }
}

/** What an IntelTable is made of (remote.ts carries it from the loader thread). */
export interface IntelTableParts {
  feeds: string[];
  maskWords: number;
  entryFeed: Uint16Array;
  entryConf: Uint8Array;
  entryFile: Uint32Array;
  entryLine: Uint32Array;
  files: string[];
  entrySourceText: Map<number, string>;
  urlText: string[];
  urlEntryBase: number;
  groupKindStart: Uint32Array;
  groupEntryStart: Uint32Array;
  groupKey: Uint32Array;
  groupLen: Uint8Array;
  groupParent: Int32Array;
  groupBest: Uint32Array;
  groupMask: Uint32Array;
  domainNames: string[];
  urlHosts: string[];
  v4Keys: Uint32Array;
  v4Vals: Int32Array;
  v4Shift: number;
  v6Keys: Uint32Array;
  v6Vals: Int32Array;
  v6Shift: number;
  seg4Start: Uint32Array;
  seg4Group: Int32Array;
  seg4Index: Int32Array;
  seg6Start: Uint32Array;
  seg6Group: Int32Array;
  /** The directory over seg6Start when it was built already (a table sent from the loader thread). */
  seg6Dir?: Starts6Parts;
  domainIndex: Map<string, number>;
  urlHostIndex: Map<string, number>;
}

function hash6(w: Uint32Array, o: number): number {
  let h = Math.imul(w[o] ^ 0x27d4eb2f, 0x9e3779b1);
  h = Math.imul(h ^ w[o + 1], 0x85ebca6b);
  h = Math.imul(h ^ w[o + 2], 0xc2b2ae35);
  h = Math.imul(h ^ w[o + 3], 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

// ---- building

/**
 * Build a table from parsed indicators (any number of feeds). Indicators whose value does not parse
 * (they come from the parsers normalised, so only hand-made ones) are skipped and counted.
 */
export function buildIntelTable(indicators: Iterable<Indicator>): IntelTable & { skipped: number } {
  const raw = collectRaw(indicators);
  return assemble(raw);
}

interface Raw {
  feeds: string[];
  files: string[];
  feed: number[];
  conf: number[];
  file: number[];
  line: number[];
  sourceText: Map<number, string>;
  // per kind: raw entry ids, and keys
  ids: number[][];
  words: number[]; // 4 per raw entry of address kinds (by raw id * 4), else 0s
  len: number[];
  text: string[]; // domain / url host per raw id ('' otherwise)
  url: string[];
  skipped: number;
}

function collectRaw(indicators: Iterable<Indicator>): Raw {
  const feedIdx = new Map<string, number>();
  const fileIdx = new Map<string, number>();
  const r: Raw = {
    feeds: [],
    files: [],
    feed: [],
    conf: [],
    file: [],
    line: [],
    sourceText: new Map(),
    ids: [[], [], [], [], [], []],
    words: [],
    len: [],
    text: [],
    url: [],
    skipped: 0,
  };
  const list: Indicator[] = Array.isArray(indicators) ? indicators : [...indicators];
  for (const ind of list) if (!feedIdx.has(ind.feed)) feedIdx.set(ind.feed, 0);
  r.feeds = [...feedIdx.keys()].sort();
  if (r.feeds.length > 65535) throw new RangeError('more than 65535 feeds');
  r.feeds.forEach((f, i) => {
    feedIdx.set(f, i);
  });
  for (const ind of list) {
    let kind: number;
    let w: Uint32Array | null = null;
    let len = 128;
    let text = '';
    if (ind.type === 'ip') {
      // most indicators are dotted IPv4: read them without the general parser's allocations
      const v4 = fastV4(ind.value);
      w = v4 < 0 ? parseAddrWords(ind.value) : v4Words(scratchWords, v4);
      if (w === null) {
        r.skipped++;
        continue;
      }
      kind = w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? K_V4 : K_V6;
    } else if (ind.type === 'cidr') {
      const slash = ind.value.indexOf('/');
      w = slash < 0 ? null : parseAddrWords(ind.value.slice(0, slash));
      len = slash < 0 ? -1 : Number(ind.value.slice(slash + 1));
      const v4 = w !== null && !ind.value.slice(0, slash).includes(':');
      if (v4) len += 96;
      if (w === null || !Number.isInteger(len) || len < 0 || len > 128) {
        r.skipped++;
        continue;
      }
      maskWords(w, len);
      if (len === 128) kind = w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? K_V4 : K_V6;
      else kind = w[0] === 0 && w[1] === 0 && w[2] === 0xffff && len >= 96 ? K_CIDR4 : K_CIDR6;
    } else if (ind.type === 'domain') {
      const d = normaliseDomain(ind.value);
      if (d === null) {
        r.skipped++;
        continue;
      }
      kind = K_DOMAIN;
      text = d;
    } else {
      const h = urlHost(ind.value);
      if (h === null) {
        r.skipped++;
        continue;
      }
      kind = K_URLHOST;
      text = h;
    }
    const id = r.feed.length;
    r.feed.push(feedIdx.get(ind.feed) as number);
    r.conf.push(Math.max(0, Math.min(100, Math.round(ind.confidence))) | 0);
    const colon = ind.source.lastIndexOf(':');
    const line = colon < 0 ? -1 : digits(ind.source, colon + 1);
    if (line >= 0) {
      const name = ind.source.slice(0, colon);
      let f = fileIdx.get(name);
      if (f === undefined) {
        f = r.files.length;
        r.files.push(name);
        fileIdx.set(name, f);
      }
      r.file.push(f);
      r.line.push(line);
    } else {
      r.file.push(0);
      r.line.push(0);
      r.sourceText.set(id, ind.source);
    }
    if (w !== null) r.words.push(w[0], w[1], w[2], w[3]);
    else r.words.push(0, 0, 0, 0);
    r.len.push(len);
    r.text.push(text);
    r.url.push(kind === K_URLHOST ? ind.value : '');
    r.ids[kind].push(id);
  }
  if (r.files.length === 0) r.files.push('');
  return r;
}

const scratchWords = new Uint32Array(4);

function v4Words(w: Uint32Array, v: number): Uint32Array {
  w[0] = 0;
  w[1] = 0;
  w[2] = 0xffff;
  w[3] = v;
  return w;
}

/** Dotted-quad IPv4 (no leading zeros) as a number, or -1. */
function fastV4(s: string): number {
  let v = 0;
  let part = 0;
  let digitsIn = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digitsIn === 0 || dots === 3) return -1;
      v = v * 256 + part;
      part = 0;
      digitsIn = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digitsIn > 0 && part === 0) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digitsIn++;
    } else return -1;
  }
  if (dots !== 3 || digitsIn === 0) return -1;
  return v * 256 + part;
}

/** The decimal number s[from..] (1–10 digits, < 2^32), or -1. */
function digits(s: string, from: number): number {
  const n = s.length - from;
  if (n < 1 || n > 10) return -1;
  let v = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v < 2 ** 32 ? v : -1;
}

function maskWords(w: Uint32Array | number[], len: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - i * 32));
    w[i] = bits === 0 ? 0 : bits === 32 ? w[i] : (w[i] & (0xffffffff << (32 - bits))) >>> 0;
  }
}

function assemble(r: Raw): IntelTable & { skipped: number } {
  const W = Math.max(1, Math.ceil(r.feeds.length / 32));
  const wd = r.words;
  const cmpAddr = (a: number, b: number): number => {
    for (let i = 0; i < 4; i++) {
      const x = wd[a * 4 + i];
      const y = wd[b * 4 + i];
      if (x !== y) return x - y;
    }
    return r.len[a] - r.len[b] || a - b;
  };
  const cmpText = (a: number, b: number): number => (r.text[a] < r.text[b] ? -1 : r.text[a] > r.text[b] ? 1 : a - b);
  // sort each kind so that equal keys are adjacent and prefixes come before the prefixes they contain
  const sorted: number[][] = r.ids.map((ids, k) => sortIds(ids, k, r, k >= K_DOMAIN ? cmpText : cmpAddr));
  const n = r.feed.length;
  const entryFeed = new Uint16Array(n);
  const entryConf = new Uint8Array(n);
  const entryFile = new Uint32Array(n);
  const entryLine = new Uint32Array(n);
  const entrySourceText = new Map<number, string>();
  const groupStarts: number[] = [];
  const groupKindStart = new Uint32Array(7);
  const groupFirstRaw: number[] = [];
  const urlText: string[] = [];
  let urlEntryBase = n;
  let e = 0;
  for (let k = 0; k < 6; k++) {
    groupKindStart[k] = groupStarts.length;
    const ids = sorted[k];
    if (k === K_URLHOST) urlEntryBase = e;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const prev = i > 0 ? ids[i - 1] : -1;
      const same =
        prev >= 0 &&
        (k >= K_DOMAIN
          ? r.text[prev] === r.text[id]
          : r.len[prev] === r.len[id] &&
            wd[prev * 4] === wd[id * 4] &&
            wd[prev * 4 + 1] === wd[id * 4 + 1] &&
            wd[prev * 4 + 2] === wd[id * 4 + 2] &&
            wd[prev * 4 + 3] === wd[id * 4 + 3]);
      if (!same) {
        groupStarts.push(e);
        groupFirstRaw.push(id);
      }
      entryFeed[e] = r.feed[id];
      entryConf[e] = r.conf[id];
      entryFile[e] = r.file[id];
      entryLine[e] = r.line[id];
      const st = r.sourceText.get(id);
      if (st !== undefined) entrySourceText.set(e, st);
      if (k === K_URLHOST) urlText.push(r.url[id]);
      e++;
    }
  }
  const G = groupStarts.length;
  groupKindStart[6] = G;
  const groupEntryStart = new Uint32Array(G + 1);
  groupEntryStart.set(groupStarts);
  groupEntryStart[G] = n;
  const groupKey = new Uint32Array(groupKindStart[K_DOMAIN] * 4);
  const groupLen = new Uint8Array(G);
  for (let g = 0; g < groupKindStart[K_DOMAIN]; g++) {
    const id = groupFirstRaw[g];
    for (let i = 0; i < 4; i++) groupKey[g * 4 + i] = wd[id * 4 + i];
    groupLen[g] = r.len[id];
  }
  const domainNames: string[] = [];
  const domainIndex = new Map<string, number>();
  for (let g = groupKindStart[K_DOMAIN]; g < groupKindStart[K_URLHOST]; g++) {
    const name = r.text[groupFirstRaw[g]];
    domainNames.push(name);
    domainIndex.set(name, g);
  }
  const urlHosts: string[] = [];
  const urlHostIndex = new Map<string, number>();
  for (let g = groupKindStart[K_URLHOST]; g < G; g++) {
    const host = r.text[groupFirstRaw[g]];
    urlHosts.push(host);
    urlHostIndex.set(host, g);
  }
  // own feed mask and most confident entry of each group
  const groupMask = new Uint32Array(G * W);
  const groupBest = new Uint32Array(G);
  for (let g = 0; g < G; g++) {
    let best = groupEntryStart[g];
    for (let x = groupEntryStart[g]; x < groupEntryStart[g + 1]; x++) {
      const f = entryFeed[x];
      groupMask[g * W + (f >>> 5)] |= 1 << (f & 31);
      if (entryConf[x] > entryConf[best]) best = x;
    }
    groupBest[g] = best;
  }
  const groupParent = new Int32Array(G).fill(-1);
  const inherit = (g: number, p: number): void => {
    groupParent[g] = p;
    if (p < 0) return;
    for (let i = 0; i < W; i++) groupMask[g * W + i] |= groupMask[p * W + i];
    // the more specific indicator wins a tie
    if (entryConf[groupBest[p]] > entryConf[groupBest[g]]) groupBest[g] = groupBest[p];
  };
  // CIDR segments; prefixes are sorted (start, len) so a parent is processed before its children
  const seg4 = sweep(groupKindStart[K_CIDR4], groupKindStart[K_CIDR6], groupKey, groupLen, inherit, V4_END);
  const seg6 = sweep(groupKindStart[K_CIDR6], groupKindStart[K_DOMAIN], groupKey, groupLen, inherit, 1n << 128n);
  const seg4Start = new Uint32Array(seg4.starts.length / 4);
  for (let i = 0; i < seg4Start.length; i++) seg4Start[i] = seg4.starts[i * 4 + 3];
  const seg4Group = Int32Array.from(seg4.groups);
  const seg4Index = new Int32Array(65537);
  {
    let s = 0;
    for (let h = 0; h <= 65536; h++) {
      while (s < seg4Start.length && seg4Start[s] >>> 16 < h) s++;
      seg4Index[h] = s;
    }
  }
  const seg6Start = Uint32Array.from(seg6.starts);
  const seg6Group = Int32Array.from(seg6.groups);
  const parts: IntelTableParts = {
    feeds: r.feeds,
    maskWords: W,
    entryFeed,
    entryConf,
    entryFile,
    entryLine,
    files: r.files,
    entrySourceText,
    urlText,
    urlEntryBase,
    groupKindStart,
    groupEntryStart,
    groupKey,
    groupLen,
    groupParent,
    groupBest,
    groupMask,
    domainNames,
    urlHosts,
    ...hashTable(groupKindStart[K_V4], groupKindStart[K_V6], groupKey, 1, 'v4'),
    ...hashTable(groupKindStart[K_V6], groupKindStart[K_CIDR4], groupKey, 4, 'v6'),
    seg4Start,
    seg4Group,
    seg4Index,
    seg6Start,
    seg6Group,
    domainIndex,
    urlHostIndex,
  } as IntelTableParts;
  const t = new IntelTable(parts);
  // exact addresses inside a listed CIDR inherit it
  for (let g = groupKindStart[K_V4]; g < groupKindStart[K_CIDR4]; g++) {
    const p = g < groupKindStart[K_V6] ? (seg4Start.length ? t.cidr4(groupKey[g * 4 + 3]) : -1) : cidr6Of(t, g);
    inherit(g, p);
  }
  // domains inherit their nearest listed parent domain (shorter names first: parents are done before children)
  const byDepth: number[] = [];
  for (let g = groupKindStart[K_DOMAIN]; g < groupKindStart[K_URLHOST]; g++) byDepth.push(g);
  const depth = new Uint8Array(G);
  for (const g of byDepth) {
    const name = domainNames[g - groupKindStart[K_DOMAIN]];
    let d = 0;
    for (let x = name.indexOf('.'); x >= 0; x = name.indexOf('.', x + 1)) d++;
    depth[g] = Math.min(255, d);
  }
  byDepth.sort((a, b) => depth[a] - depth[b]);
  for (const g of byDepth) {
    const name = domainNames[g - groupKindStart[K_DOMAIN]];
    const dot = name.indexOf('.');
    inherit(g, dot < 0 ? -1 : t.lookupDomain(name.slice(dot + 1)));
  }
  return Object.assign(t, { skipped: r.skipped });
}

function cidr6Of(t: IntelTable, g: number): number {
  // not lookupAddr: that would find the exact address itself
  return t.seg6Group.length === 0 ? -1 : t.cidr6(t.groupKey, g * 4);
}

function sortIds(ids: number[], kind: number, r: Raw, cmp: (a: number, b: number) => number): number[] {
  if (kind === K_V4 && ids.length < 2 ** 21) {
    // key * 2^21 + id is exact in a double: one native numeric sort instead of a comparator
    const f = new Float64Array(ids.length);
    for (let i = 0; i < ids.length; i++) f[i] = r.words[ids[i] * 4 + 3] * 2097152 + ids[i];
    f.sort();
    const out = new Array<number>(ids.length);
    for (let i = 0; i < f.length; i++) out[i] = f[i] % 2097152;
    return out;
  }
  return ids.slice().sort(cmp);
}

/** One past ::ffff:255.255.255.255: IPv4 segments end there. */
const V4_END = 0x1000000000000n;

/** Elementary segments of nested-or-disjoint prefixes [first, end) sorted by (start, len). */
function sweep(
  first: number,
  end: number,
  key: Uint32Array,
  len: Uint8Array,
  inherit: (g: number, parent: number) => void,
  limit: bigint,
): { starts: number[]; groups: number[] } {
  const starts: number[] = [];
  const groups: number[] = [];
  const stack: number[] = [];
  const lastOf = (g: number): bigint => {
    const s = startOf(g);
    return s | ((1n << BigInt(128 - len[g])) - 1n);
  };
  const startOf = (g: number): bigint => addrBigInt(key, g * 4);
  const emit = (pos: bigint, g: number): void => {
    if (pos >= limit) return;
    const n = groups.length;
    if (n > 0 && wordsEqual(starts, n - 1, pos)) {
      groups[n - 1] = g;
      if (n > 1 && groups[n - 2] === g) {
        groups.pop();
        starts.length -= 4;
      }
      return;
    }
    if (n > 0 && groups[n - 1] === g) return;
    starts.push(
      Number((pos >> 96n) & 0xffffffffn),
      Number((pos >> 64n) & 0xffffffffn),
      Number((pos >> 32n) & 0xffffffffn),
      Number(pos & 0xffffffffn),
    );
    groups.push(g);
  };
  const lasts: bigint[] = [];
  for (let g = first; g < end; g++) {
    const s = startOf(g);
    while (stack.length > 0 && lasts[lasts.length - 1] < s) {
      const last = lasts.pop() as bigint;
      stack.pop();
      emit(last + 1n, stack.length > 0 ? stack[stack.length - 1] : -1);
    }
    inherit(g, stack.length > 0 ? stack[stack.length - 1] : -1);
    emit(s, g);
    stack.push(g);
    lasts.push(lastOf(g));
  }
  while (stack.length > 0) {
    const last = lasts.pop() as bigint;
    stack.pop();
    emit(last + 1n, stack.length > 0 ? stack[stack.length - 1] : -1);
  }
  return { starts, groups };
}

function wordsEqual(starts: number[], i: number, pos: bigint): boolean {
  return (
    starts[i * 4] === Number((pos >> 96n) & 0xffffffffn) &&
    starts[i * 4 + 1] === Number((pos >> 64n) & 0xffffffffn) &&
    starts[i * 4 + 2] === Number((pos >> 32n) & 0xffffffffn) &&
    starts[i * 4 + 3] === Number(pos & 0xffffffffn)
  );
}

function hashTable(
  first: number,
  end: number,
  key: Uint32Array,
  words: 1 | 4,
  name: 'v4' | 'v6',
): Record<string, Uint32Array | Int32Array | number> {
  const n = end - first;
  let bits = 0;
  while (n > 0 && 1 << bits < n * 2) bits++;
  const cap = n === 0 ? 0 : Math.max(16, 1 << bits);
  if (cap === 16) bits = 4;
  const keys = new Uint32Array(cap * words);
  const vals = new Int32Array(cap);
  const shift = 32 - bits;
  for (let g = first; g < end; g++) {
    const mask = cap - 1;
    let i = words === 1 ? Math.imul(key[g * 4 + 3], 0x9e3779b1) >>> shift : hash6(key, g * 4) >>> shift;
    while (vals[i] !== 0) i = (i + 1) & mask;
    vals[i] = g + 1;
    if (words === 1) keys[i] = key[g * 4 + 3];
    else for (let w = 0; w < 4; w++) keys[i * 4 + w] = key[g * 4 + w];
  }
  return { [`${name}Keys`]: keys, [`${name}Vals`]: vals, [`${name}Shift`]: shift };
}

// ---- applying to a batch

// not in DeclaredColumnName's list (src/schema/columns.ts) although declared: looked up by name
const TI_CONFIDENCE = columnIndex('ti_confidence');

const STRING_COLUMNS = ['dns_qname', 'tls_sni', 'http_host'] as const;

/**
 * Fill ti_feeds / ti_indicator / ti_confidence of every row whose src_addr, dst_addr, dns_qname,
 * tls_sni or http_host matches an indicator. Rows without a match are left as they are. Returns
 * the number of rows that matched.
 */
export function applyIntel(table: IntelTable, batch: FlowBatch): number {
  const n = batch.length;
  if (n === 0 || table.size === 0) return 0;
  const hasAddr = table.groupKindStart[K_DOMAIN] > 0;
  const src = batch.data[C.src_addr] as Uint32Array;
  const dst = batch.data[C.dst_addr] as Uint32Array;
  const srcValid = batch.valid[C.src_addr];
  const dstValid = batch.valid[C.dst_addr];
  // one lookup per distinct string of the batch's dictionaries, not per row
  const strCols: number[] = [];
  const strCache: Int32Array[] = [];
  const hasNames = table.domainIndex.size > 0 || table.urlHostIndex.size > 0;
  if (hasNames) {
    for (const name of STRING_COLUMNS) {
      const col = C[name];
      const dict = batch.strings[col] as StringDict | undefined;
      if (dict === undefined || dict.values.length <= 1) continue;
      strCols.push(col);
      strCache.push(nameGroups(table, dict.values, name === 'http_host'));
    }
  }
  let ctx: MatchWriter | null = null;
  const found = new Int32Array(2 + 2 * STRING_COLUMNS.length);
  const v4 = hasAddr ? v4FilterOf(table) : NO_V4;
  const v6 = hasAddr ? v6FilterOf(table) : NO_V4;
  let matched = 0;
  for (let r = 0; r < n; r++) {
    let k = 0;
    if (hasAddr) {
      const o = r * 4;
      if (srcValid[r] !== 0) {
        let g = -1;
        if (src[o] === 0 && src[o + 1] === 0 && src[o + 2] === 0xffff) {
          const p = src[o + 3] >>> 8;
          if ((v4[p >>> 5] >>> (p & 31)) & 1) g = table.lookupAddr(src, o);
        } else g = table.lookupV6Filtered(src, o, v6);
        if (g >= 0) found[k++] = g;
      }
      if (dstValid[r] !== 0) {
        let g = -1;
        if (dst[o] === 0 && dst[o + 1] === 0 && dst[o + 2] === 0xffff) {
          const p = dst[o + 3] >>> 8;
          if ((v4[p >>> 5] >>> (p & 31)) & 1) g = table.lookupAddr(dst, o);
        } else g = table.lookupV6Filtered(dst, o, v6);
        if (g >= 0) found[k++] = g;
      }
    }
    for (let c = 0; c < strCols.length; c++) {
      const col = strCols[c];
      if (batch.valid[col][r] === 0) continue;
      const code = (batch.data[col] as Uint32Array)[r];
      const cache = strCache[c];
      const a = cache[code * 2];
      if (a >= 0) found[k++] = a;
      const b = cache[code * 2 + 1];
      if (b >= 0) found[k++] = b;
    }
    if (k === 0) continue;
    if (ctx === null) ctx = new MatchWriter(table, batch);
    ctx.write(r, found, k);
    matched++;
  }
  return matched;
}

// One bit per IPv4 /24 that holds an exact indicator or lies (partly) in a listed CIDR, made on a
// table's first batch: most flow addresses are in no such /24 and are answered from this 2 MiB
// bitmap (the /24s of one organisation's own space are a few KiB of it, which stay in cache)
// instead of the exact hash (16 MiB at 600 k addresses: two cache misses per address) and the
// segment search. Measured on bench/enrich.bench.ts: applyIntel 1.38 → 0.52 ms per 8192-row batch.
const v4Filters = new WeakMap<IntelTable, Uint32Array>();
const NO_V4 = new Uint32Array(0);

function v4FilterOf(t: IntelTable): Uint32Array {
  let f = v4Filters.get(t);
  if (f === undefined) {
    f = buildV4Filter(t);
    v4Filters.set(t, f);
  }
  return f;
}

function buildV4Filter(t: IntelTable): Uint32Array {
  const bits = new Uint32Array(1 << 19);
  const keys = t.v4Keys;
  const vals = t.v4Vals;
  for (let i = 0; i < vals.length; i++) {
    if (vals[i] === 0) continue;
    const p = keys[i] >>> 8;
    bits[p >>> 5] |= 1 << (p & 31);
  }
  // segment s covers [starts[s], starts[s + 1]) (the last one to the end of the IPv4 space)
  const starts = t.seg4Start;
  const groups = t.seg4Group;
  for (let s = 0; s < groups.length; s++) {
    if (groups[s] < 0) continue;
    const last = s + 1 < starts.length ? starts[s + 1] - 1 : 0xffffffff;
    markBits(bits, starts[s] >>> 8, last >>> 8);
  }
  return bits;
}

// One bit per hash of an exact IPv6 indicator (2^20 bits, 128 KiB: ~7 % false hits at 75 k
// addresses), made on a table's first batch: most IPv6 flow addresses are no exact indicator and
// skip the exact hash (16 MiB at 150 k IPv6 indicators: two cache misses per address).
const v6Filters = new WeakMap<IntelTable, Uint32Array>();
const V6_FILTER_BITS = 20;

function v6FilterBit(w: Uint32Array, o: number): number {
  return hash6(w, o) >>> (32 - V6_FILTER_BITS);
}

function v6FilterOf(t: IntelTable): Uint32Array {
  let f = v6Filters.get(t);
  if (f === undefined) {
    f = new Uint32Array(1 << (V6_FILTER_BITS - 5));
    const keys = t.v6Keys;
    const vals = t.v6Vals;
    for (let i = 0; i < vals.length; i++) {
      if (vals[i] === 0) continue;
      const h = v6FilterBit(keys, i * 4);
      f[h >>> 5] |= 1 << (h & 31);
    }
    v6Filters.set(t, f);
  }
  return f;
}

/** Set bits lo..hi (inclusive). */
function markBits(bits: Uint32Array, lo: number, hi: number): void {
  let p = lo;
  while (p <= hi && (p & 31) !== 0) bits[p >>> 5] |= 1 << (p++ & 31);
  while (p + 31 <= hi) {
    bits[p >>> 5] = 0xffffffff;
    p += 32;
  }
  while (p <= hi) bits[p >>> 5] |= 1 << (p++ & 31);
}

/** Per dictionary code: [domain group, URL-host group] (-1 for none). */
function nameGroups(table: IntelTable, values: readonly string[], withUrlHosts: boolean): Int32Array {
  const out = new Int32Array(values.length * 2).fill(-1);
  for (let code = 1; code < values.length; code++) {
    let name = values[code];
    // Host headers may carry a port (`evil.test:8080`) or be an IPv6 literal in brackets
    if (withUrlHosts) name = stripHostPort(name);
    const d = normaliseName(name);
    if (d === null) continue;
    out[code * 2] = table.lookupDomain(d);
    if (withUrlHosts) {
      const u = table.urlHostIndex.get(d);
      if (u !== undefined) out[code * 2 + 1] = u;
    }
  }
  return out;
}

function stripHostPort(h: string): string {
  if (h.startsWith('[')) {
    const e = h.indexOf(']');
    return e < 0 ? h : h.slice(1, e);
  }
  const c = h.indexOf(':');
  return c >= 0 && c === h.lastIndexOf(':') ? h.slice(0, c) : h;
}

function normaliseName(s: string): string | null {
  return normaliseDomain(s) ?? normaliseAddr(s);
}

/** The slow path for the few rows that match: feed lists and indicator texts cached per batch. */
class MatchWriter {
  private readonly mask: Uint32Array;
  private readonly listCodes = new Map<string, number>();
  private readonly textCodes = new Map<number, number>();
  constructor(
    private readonly table: IntelTable,
    private readonly batch: FlowBatch,
  ) {
    this.mask = new Uint32Array(table.maskWords);
  }

  write(row: number, groups: Int32Array, k: number): void {
    const t = this.table;
    const W = t.maskWords;
    const mask = this.mask;
    mask.fill(0);
    let best = t.groupBest[groups[0]];
    for (let i = 0; i < k; i++) {
      const g = groups[i];
      for (let w = 0; w < W; w++) mask[w] |= t.groupMask[g * W + w];
      const b = t.groupBest[g];
      if (t.entryConf[b] > t.entryConf[best]) best = b;
    }
    const key = mask.join(',');
    let list = this.listCodes.get(key);
    if (list === undefined) {
      const names: string[] = [];
      for (let f = 0; f < t.feeds.length; f++) if ((mask[f >>> 5] >>> (f & 31)) & 1) names.push(t.feeds[f]);
      list = (this.batch.lists[C.ti_feeds] as ListDict).code(names);
      this.listCodes.set(key, list);
    }
    (this.batch.data[C.ti_feeds] as Uint32Array)[row] = list;
    this.batch.valid[C.ti_feeds][row] = 1;
    let text = this.textCodes.get(best);
    if (text === undefined) {
      text = (this.batch.strings[C.ti_indicator] as StringDict).code(t.indicatorText(best));
      this.textCodes.set(best, text);
    }
    (this.batch.data[C.ti_indicator] as Uint32Array)[row] = text;
    this.batch.valid[C.ti_indicator][row] = 1;
    this.batch.data[TI_CONFIDENCE][row] = t.entryConf[best];
    this.batch.valid[TI_CONFIDENCE][row] = 1;
  }
}

// ---- enrich check

/**
 * Every indicator that applies to an address, a prefix (`10.1.2.0/24`: the listed prefixes that
 * contain it), a domain (it and its listed parents) or a URL (its host), most confident first.
 */
export function describe(table: IntelTable, addrOrDomain: string): EnrichmentHit[] {
  const q = addrOrDomain.trim();
  const groups: number[] = [];
  const chain = (g: number): void => {
    for (let x = g; x >= 0; x = table.groupParent[x]) groups.push(x);
  };
  const w = parseAddrWords(q);
  if (w !== null) chain(table.lookupAddr(w, 0));
  else if (q.includes('/') && !q.includes('://')) {
    const slash = q.indexOf('/');
    const net = parseAddrWords(q.slice(0, slash));
    let len = Number(q.slice(slash + 1));
    if (net !== null && Number.isInteger(len) && len >= 0) {
      if (!q.slice(0, slash).includes(':')) len += 96;
      maskWords(net, len);
      const g = table.lookupAddr(net, 0);
      for (let x = g; x >= 0; x = table.groupParent[x]) if (table.groupLen[x] <= len) groups.push(x);
    }
  } else {
    const host = q.includes('://') ? urlHost(q) : normaliseName(stripHostPort(q));
    if (host !== null) {
      const a = parseAddrWords(host);
      if (a !== null) chain(table.lookupAddr(a, 0));
      else chain(table.lookupDomain(host));
      const u = table.urlHostIndex.get(host);
      if (u !== undefined) groups.push(u);
    }
  }
  const hits: EnrichmentHit[] = [];
  for (const g of groups) {
    for (let e = table.groupEntryStart[g]; e < table.groupEntryStart[g + 1]; e++) {
      hits.push({
        kind: 'intel',
        origin: table.entrySource(e),
        fields: {
          ti_feeds: [table.feeds[table.entryFeed[e]]],
          ti_indicator: table.indicatorText(e),
          ti_confidence: table.entryConf[e],
        },
      });
    }
  }
  return hits.sort((a, b) => (b.fields.ti_confidence as number) - (a.fields.ti_confidence as number));
}
