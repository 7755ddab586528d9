// Longest-prefix match over the FlowBatch address encoding (4 words, IPv4 as ::ffff:a.b.c.d).
//
// Built once, then immutable (hot reload swaps whole tables). The prefixes are first flattened into
// disjoint intervals: each boundary point says which prefix holds from there up to the next point,
// so nesting is resolved at build time.
//
// * IPv4 (the bulk of flows): the intervals are then written into a DIR-16-8-8 table: a 65 536-slot
//   first level on the top 16 bits, and 256-slot chunks for the next 8 and the last 8 bits, made
//   only where a /16 (or a /24) is not covered by one entry. A lookup is one to three array reads
//   with no data-dependent branching on the address beyond "is this a chunk", and independent
//   lookups overlap their cache misses (a binary search over the same intervals is a chain of
//   dependent reads: measured 13 M lookups/s with 1 M prefixes, against ~60 M/s here). Memory grows
//   with the number of /16s that hold longer prefixes (1 KiB each), not with 2^24.
// * IPv6: the intervals on 128-bit bounds (4 words per point), found through a directory on the
//   leading bits (Starts6) and a short search.
//
// Semantics: the most specific prefix always wins; for two identical prefixes the one added last
// wins and the other is reported in `duplicates`. Host bits under the mask are cleared (AWS's own
// documentation shows "198.51.100.2/24"). A v6 prefix that covers ::ffff:0:0/96 (::/0, ::/1, …)
// also covers every IPv4 address, because IPv4 is stored mapped; its length is compared in 128-bit
// terms, so an IPv4 /8 (a 128-bit /104) is more specific than ::/0.

import { addrBigInt, formatAddrWords, parseAddr } from '../../pipeline/flow-batch.js';
import { Starts6, type Starts6Parts } from './starts6.js';

/** Two adds of the same prefix: `winner` (added later) hides `previous`. */
export interface PrefixDuplicate {
  cidr: string;
  previous: number;
  winner: number;
}

/** Prefixes without values: entry i is the i-th prefix added (the range table keeps its own columns). */
export class PrefixIndexBuilder {
  private n = 0;
  // Per added prefix: 4 words of the (masked) network address and the 128-bit prefix length.
  private words = new Uint32Array(1024);
  private lens = new Uint8Array(256);

  get size(): number {
    return this.n;
  }

  /**
   * Add a prefix. `addr` is 4 words (FlowBatch layout; `prefixLen` then counts 128 bits, so an IPv4
   * /24 is 120) or text: "10.0.0.0" with prefixLen 0..32, "2001:db8::" with 0..128, or "10.0.0.0/8"
   * with prefixLen omitted. Returns the entry index, or throws RangeError for a bad prefix (the
   * loaders turn that into a line-numbered error).
   */
  add(addr: Uint32Array | string, prefixLen?: number): number {
    let w: Uint32Array;
    let len: number;
    if (typeof addr === 'string') {
      const p = parseCidr(addr, prefixLen);
      if (typeof p === 'string') throw new RangeError(p);
      w = p.words;
      len = p.len128;
    } else {
      if (prefixLen === undefined || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) {
        throw new RangeError(`prefix length ${prefixLen} is not 0..128`);
      }
      w = addr;
      len = prefixLen;
    }
    return this.addWords(w, 0, len);
  }

  /** Add 4 words at w[off..] with a 128-bit length already checked to be 0..128. */
  addWords(w: Uint32Array, off: number, len: number): number {
    const i = this.n;
    if ((i + 1) * 4 > this.words.length) {
      const nw = new Uint32Array(this.words.length * 2);
      nw.set(this.words);
      this.words = nw;
    }
    if (i + 1 > this.lens.length) {
      const nl = new Uint8Array(this.lens.length * 2);
      nl.set(this.lens);
      this.lens = nl;
    }
    for (let k = 0; k < 4; k++) this.words[i * 4 + k] = maskWord(w[off + k], len - k * 32);
    this.lens[i] = len;
    this.n = i + 1;
    return i;
  }

  /**
   * The index. Lookups answer the entry of the most specific prefix, or `values[entry]` when
   * `values` is given (cidrOf, contains, allMatches, prefixOf and duplicates stay per entry): the
   * range table looks up its label ids this way, one read less per address than entry → label, and
   * neighbouring prefixes with the same value become one interval.
   */
  build(values?: Uint32Array, opts: { v4Dir?: boolean } = {}): PrefixIndex {
    const n = this.n;
    const words = this.words.slice(0, n * 4);
    const lens = this.lens.slice(0, n);
    const duplicates: PrefixDuplicate[] = [];
    const v4 = buildV4(words, lens, n, duplicates, values);
    const dir = opts.v4Dir === false ? NO_DIR : dir16x8x8(v4.starts, v4.vals, v4.starts.length);
    const v6 = buildV6(words, lens, n, duplicates, values);
    return new PrefixIndex(n, words, lens, dir.l1, dir.l2, dir.l3, v4.starts, v4.vals, v6.starts, v6.vals, duplicates);
  }
}

/** A PrefixIndex as typed arrays (what crosses between threads, transferred). */
export interface PrefixIndexParts {
  size: number;
  prefixWords: Uint32Array;
  prefixLens: Uint8Array;
  l1: Int32Array;
  l2: Int32Array;
  l3: Int32Array;
  v4Starts: Uint32Array;
  v4Vals: Int32Array;
  v6Starts: Uint32Array;
  v6Vals: Int32Array;
  /** The directory over v6Starts (Starts6.parts). */
  v6Dir: Starts6Parts;
}

export class PrefixIndex {
  /** @internal use PrefixIndexBuilder */
  constructor(
    readonly size: number,
    private readonly prefixWords: Uint32Array,
    private readonly prefixLens: Uint8Array,
    private readonly l1: Int32Array,
    private readonly l2: Int32Array,
    private readonly l3: Int32Array,
    /** IPv4 as a partition: from v4Starts[k] on (up to the next start) the entry or value v4Vals[k] (-1: none). */
    readonly v4Starts: Uint32Array,
    readonly v4Vals: Int32Array,
    readonly v6Starts: Uint32Array,
    readonly v6Vals: Int32Array,
    readonly duplicates: readonly PrefixDuplicate[],
    v6Dir?: Starts6,
  ) {
    this.v6 = v6Dir ?? new Starts6(v6Starts);
  }

  // The directory over the IPv6 interval starts.
  private readonly v6: Starts6;

  /** The arrays behind the index, to send to another thread (duplicates stay behind: the loader reports them). */
  toParts(): PrefixIndexParts {
    return {
      size: this.size,
      prefixWords: this.prefixWords,
      prefixLens: this.prefixLens,
      l1: this.l1,
      l2: this.l2,
      l3: this.l3,
      v4Starts: this.v4Starts,
      v4Vals: this.v4Vals,
      v6Starts: this.v6Starts,
      v6Vals: this.v6Vals,
      v6Dir: this.v6.parts(),
    };
  }

  static fromParts(p: PrefixIndexParts): PrefixIndex {
    const dir = new Starts6(p.v6Starts, p.v6Dir);
    return new PrefixIndex(
      p.size,
      p.prefixWords,
      p.prefixLens,
      p.l1,
      p.l2,
      p.l3,
      p.v4Starts,
      p.v4Vals,
      p.v6Starts,
      p.v6Vals,
      [],
      dir,
    );
  }

  /**
   * Entry index of the most specific prefix holding the address in words[off..off+3] (its value
   * when built with values), or -1. The same for the lookups below.
   */
  lookupWords(words: Uint32Array, off: number): number {
    if (words[off] === 0 && words[off + 1] === 0 && words[off + 2] === 0xffff) return this.lookupV4(words[off + 3]);
    return this.lookupV6(words, off);
  }

  /** For an IPv4 address held as an unsigned 32-bit integer. */
  lookupV4(a: number): number {
    const l1 = this.l1;
    // Built without its table (an address plan answers the flows): a search over the partition.
    if (l1.length === 0) return this.v4Vals[lastAtOrBelow(this.v4Starts, a)];
    return dirLookup(l1, this.l2, this.l3, a);
  }

  lookupV6(words: Uint32Array, off: number): number {
    // v6Starts always begins with the point 0 (no entry), so some start is <= any address
    return this.v6Vals[this.v6.find(words, off)];
  }

  /** For an address in text (-1 also for text that is not an address). */
  lookupText(addr: string): number {
    const w = parseAddr(addr.trim());
    return w === null ? -1 : this.lookupWords(w, 0);
  }

  /** The prefix of an entry in CIDR text ("10.0.0.0/8", "2001:db8::/32"). */
  cidrOf(entry: number): string {
    return cidrText(this.prefixWords, entry * 4, this.prefixLens[entry]);
  }

  /** Copies the entry's 4 network words into `out` and returns its 128-bit prefix length. */
  prefixOf(entry: number, out: Uint32Array): number {
    for (let k = 0; k < 4; k++) out[k] = this.prefixWords[entry * 4 + k];
    return this.prefixLens[entry];
  }

  /** Whether entry's prefix holds the address in words[off..] (for listing every covering range). */
  contains(entry: number, words: Uint32Array, off: number): boolean {
    const len = this.prefixLens[entry];
    for (let k = 0; k < 4; k++) {
      if (maskWord(words[off + k], len - k * 32) !== this.prefixWords[entry * 4 + k]) return false;
    }
    return true;
  }

  /** Every entry whose prefix holds the address, most specific first (a linear scan: for `enrich check`). */
  allMatches(words: Uint32Array, off: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.contains(i, words, off)) out.push(i);
    return out.sort((a, b) => this.prefixLens[b] - this.prefixLens[a] || b - a);
  }

  /** Bytes held by the lookup structures. */
  get byteSize(): number {
    return (
      this.prefixWords.byteLength +
      this.prefixLens.byteLength +
      this.l1.byteLength +
      this.l2.byteLength +
      this.l3.byteLength +
      this.v4Starts.byteLength +
      this.v4Vals.byteLength +
      this.v6Starts.byteLength +
      this.v6Vals.byteLength +
      this.v6.byteSize
    );
  }
}

/** Prefixes with a value each (own networks, tests); `entries[i]` belongs to entry index i. */
export class PrefixTableBuilder<T> {
  private readonly index = new PrefixIndexBuilder();
  private readonly values: T[] = [];

  get size(): number {
    return this.values.length;
  }

  /** See PrefixIndexBuilder.add. */
  add(addr: Uint32Array | string, prefixLen: number | undefined, value: T): number {
    const i = this.index.add(addr, prefixLen);
    this.values.push(value);
    return i;
  }

  build(): PrefixTable<T> {
    return new PrefixTable<T>(this.index.build(), [...this.values]);
  }
}

export class PrefixTable<T> {
  readonly duplicates: readonly PrefixDuplicate[];
  constructor(
    readonly index: PrefixIndex,
    readonly entries: readonly T[],
  ) {
    this.duplicates = index.duplicates;
  }
  lookupWords(words: Uint32Array, off: number): number {
    return this.index.lookupWords(words, off);
  }
  lookupV4(a: number): number {
    return this.index.lookupV4(a);
  }
  lookupText(addr: string): number {
    return this.index.lookupText(addr);
  }
  cidrOf(entry: number): string {
    return this.index.cidrOf(entry);
  }
  contains(entry: number, words: Uint32Array, off: number): boolean {
    return this.index.contains(entry, words, off);
  }
  allMatches(words: Uint32Array, off: number): number[] {
    return this.index.allMatches(words, off);
  }
  get byteSize(): number {
    return this.index.byteSize;
  }
}

// ---- CIDR text

export interface ParsedCidr {
  words: Uint32Array;
  /** Length in 128-bit terms (IPv4 /24 → 120). */
  len128: number;
  v4: boolean;
  /** The text had host bits set under the mask. */
  hostBits: boolean;
}

/**
 * "10.0.0.0/8", "2001:db8::/32", a bare address (a host route), or address + separate length.
 * Returns an error sentence instead of throwing (loaders attach file and line).
 */
export function parseCidr(text: string, prefixLen?: number): ParsedCidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const words = parseAddr(addrText);
  if (words === null) return `"${text}" is not an IP address or CIDR`;
  const v4 = !addrText.includes(':');
  const max = v4 ? 32 : 128;
  let len: number;
  if (slash >= 0) {
    const lt = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lt)) return `"${text}": prefix length "${lt}" is not a number`;
    len = Number(lt);
  } else len = prefixLen ?? max;
  if (!Number.isInteger(len) || len < 0 || len > max) return `"${text}": prefix length ${len} is not 0..${max}`;
  const len128 = v4 ? len + 96 : len;
  const hostBits = clearHostBits(words, len128);
  return { words, len128, v4, hostBits };
}

/** Clear the bits of w[0..3] under a 128-bit prefix length, in place; whether any was set. */
export function clearHostBits(w: Uint32Array, len128: number): boolean {
  let set = false;
  for (let k = 0; k < 4; k++) {
    const m = maskWord(w[k], len128 - k * 32);
    if (m !== w[k]) set = true;
    w[k] = m;
  }
  return set;
}

/** CIDR text of 4 words and a 128-bit length; IPv4-mapped prefixes of /96 or longer print as IPv4. */
export function cidrText(words: Uint32Array, off: number, len128: number): string {
  const v4 = words[off] === 0 && words[off + 1] === 0 && words[off + 2] === 0xffff && len128 >= 96;
  return `${formatAddrWords(words, off)}/${v4 ? len128 - 96 : len128}`;
}

// ---- build

/** `w` with only its first `bits` bits kept (bits ≤ 0: none, ≥ 32: all). */
function maskWord(w: number, bits: number): number {
  if (bits >= 32) return w >>> 0;
  if (bits <= 0) return 0;
  return (w & (0xffffffff << (32 - bits))) >>> 0;
}

/** Whether the 128-bit prefix covers (part of) the IPv4-mapped space ::ffff:0:0/96. */
function coversV4(words: Uint32Array, o: number, len: number): boolean {
  if (len >= 96) return words[o] === 0 && words[o + 1] === 0 && words[o + 2] === 0xffff;
  // A shorter prefix covers all of it when ::ffff:0:0 lies under its mask.
  return (
    maskWord(0, len) === words[o] &&
    maskWord(0, len - 32) === words[o + 1] &&
    maskWord(0xffff, len - 64) === words[o + 2]
  );
}

/**
 * Entries holding part of the IPv4 space, as disjoint intervals, then as DIR-16-8-8. Order for the
 * sweep: by start, then less specific first (so nesting is a stack), then insertion order — made
 * with stable counting sorts on typed arrays (by length, then by start in two 16-bit digits), which
 * is what keeps building 1 M prefixes well under a second.
 */
function buildV4(
  words: Uint32Array,
  lens: Uint8Array,
  n: number,
  duplicates: PrefixDuplicate[],
  values: Uint32Array | undefined,
) {
  const val = (e: number) => (e < 0 || values === undefined ? e : values[e]);
  const start = new Uint32Array(n);
  const last = new Uint32Array(n); // last address held (end inclusive: /0 ends at 0xffffffff)
  let m = 0;
  const sel0 = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    const len = lens[i];
    if (!coversV4(words, o, len)) continue;
    if (len >= 96) {
      start[i] = words[o + 3];
      last[i] = len === 96 ? 0xffffffff : (words[o + 3] + (2 ** (128 - len) - 1)) >>> 0;
    } else {
      start[i] = 0;
      last[i] = 0xffffffff;
    }
    sel0[m++] = i;
  }
  // Stable counting sort by length, then by the low and the high 16 bits of start.
  const byLen = countingSort(sel0, m, 129, (i) => lens[i]);
  const byLo = countingSort(byLen, m, 65536, (i) => start[i] & 0xffff);
  const sel = countingSort(byLo, m, 65536, (i) => start[i] >>> 16);

  const pts = new PointList(m * 2 + 2);
  pts.emit(0, -1);
  const stack = new Int32Array(130);
  let sp = 0;
  for (let k = 0; k < m; k++) {
    const p = sel[k];
    if (k + 1 < m) {
      const q = sel[k + 1];
      if (start[q] === start[p] && lens[q] === lens[p]) {
        // A v6 prefix covering all of IPv4 (::/0) is reported by the v6 sweep.
        if (lens[p] >= 96) duplicates.push({ cidr: cidrText(words, p * 4, lens[p]), previous: p, winner: q });
        continue;
      }
    }
    while (sp > 0 && last[stack[sp - 1]] < start[p]) {
      const t = stack[--sp];
      pts.emit(last[t] + 1, val(sp > 0 ? stack[sp - 1] : -1));
    }
    stack[sp++] = p;
    pts.emit(start[p], val(p));
  }
  while (sp > 0) {
    const t = stack[--sp];
    if (last[t] < 0xffffffff) pts.emit(last[t] + 1, val(sp > 0 ? stack[sp - 1] : -1));
  }
  return { starts: pts.starts.slice(0, pts.n), vals: pts.vals.slice(0, pts.n) };
}

const NO_DIR = { l1: new Int32Array(0), l2: new Int32Array(0), l3: new Int32Array(0) };

/** Index of the last start <= a in sorted `starts` whose first element is 0. */
export function lastAtOrBelow(starts: Uint32Array, a: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function countingSort(src: Uint32Array, m: number, buckets: number, key: (i: number) => number): Uint32Array {
  const count = new Uint32Array(buckets + 1);
  for (let k = 0; k < m; k++) count[key(src[k]) + 1]++;
  for (let b = 0; b < buckets; b++) count[b + 1] += count[b];
  const out = new Uint32Array(m);
  for (let k = 0; k < m; k++) {
    const i = src[k];
    out[count[key(i)]++] = i;
  }
  return out;
}

/** Points (start, entry or value) in increasing start order; merges a point into the previous when equal. */
class PointList {
  starts: Uint32Array;
  vals: Int32Array;
  n = 0;
  constructor(cap: number) {
    this.starts = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
  }
  /** Value holding from x on; same x as the last point overrides it (the later event is the innermost). */
  emit(x: number, v: number): void {
    const n = this.n;
    if (n > 0 && this.starts[n - 1] === x) {
      this.vals[n - 1] = v;
      if (n > 1 && this.vals[n - 2] === v) this.n--;
      return;
    }
    if (n > 0 && this.vals[n - 1] === v) return;
    this.starts[n] = x;
    this.vals[n] = v;
    this.n = n + 1;
  }
}

/** Growable Int32Array of 256-slot chunks. */
class Chunks {
  data = new Int32Array(256 * 64);
  n = 0;
  alloc(): number {
    if ((this.n + 1) * 256 > this.data.length) {
      const d = new Int32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    return this.n++;
  }
  trimmed(): Int32Array {
    return this.data.slice(0, this.n * 256);
  }
}

/** The value dir16x8x8 wrote for IPv4 address `a` (an unsigned 32-bit number). */
export function dirLookup(l1: Int32Array, l2: Int32Array, l3: Int32Array, a: number): number {
  // Slot values: v > 0 is value v - 1, 0 is none (-1), v < 0 is chunk ~v of the next level.
  let v = l1[a >>> 16];
  if (v < 0) {
    v = l2[(~v << 8) | ((a >>> 8) & 255)];
    if (v < 0) v = l3[(~v << 8) | (a & 255)];
  }
  return v - 1;
}

/**
 * The intervals (point k holds from starts[k] to starts[k+1]-1; the first point is 0) as DIR-16-8-8.
 * A block is a leaf when one interval covers it whole; the interval index only moves forward.
 * Slots hold value + 1 (values are >= -1) or ~chunk of the next level.
 */
export function dir16x8x8(starts: Uint32Array, vals: Int32Array, n: number) {
  const l1 = new Int32Array(65536);
  const l2 = new Chunks();
  const l3 = new Chunks();
  let j = 0;
  // Whether the interval holding x (after advancing j to it) covers x..x+size-1.
  const seek = (x: number): void => {
    while (j + 1 < n && starts[j + 1] <= x) j++;
  };
  const whole = (x: number, size: number): boolean => j + 1 >= n || starts[j + 1] > x + size - 1;
  for (let h = 0; h < 65536; h++) {
    const x = h * 65536;
    seek(x);
    if (whole(x, 65536)) {
      l1[h] = vals[j] + 1;
      continue;
    }
    const c2 = l2.alloc();
    for (let m = 0; m < 256; m++) {
      const y = x + m * 256;
      seek(y);
      if (whole(y, 256)) {
        l2.data[c2 * 256 + m] = vals[j] + 1;
        continue;
      }
      const c3 = l3.alloc();
      for (let k = 0; k < 256; k++) {
        seek(y + k);
        l3.data[c3 * 256 + k] = vals[j] + 1;
      }
      l2.data[c2 * 256 + m] = ~c3;
    }
    l1[h] = ~c2;
  }
  return { l1, l2: l2.trimmed(), l3: l3.trimmed() };
}

function buildV6(
  words: Uint32Array,
  lens: Uint8Array,
  n: number,
  duplicates: PrefixDuplicate[],
  values: Uint32Array | undefined,
) {
  const val = (e: number) => (e < 0 || values === undefined ? e : values[e]);
  const sel: number[] = [];
  const start: bigint[] = new Array(n);
  const end: bigint[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    const len = lens[i];
    if (len >= 96 && words[o] === 0 && words[o + 1] === 0 && words[o + 2] === 0xffff) continue; // IPv4 only
    const s = addrBigInt(words, o);
    start[i] = s;
    end[i] = s + (1n << BigInt(128 - len)) - 1n;
    sel.push(i);
  }
  sel.sort((a, b) => (start[a] < start[b] ? -1 : start[a] > start[b] ? 1 : lens[a] - lens[b] || a - b));
  const ps: bigint[] = [];
  const pv: number[] = [];
  const emit = (x: bigint, v: number) => {
    const m = ps.length;
    if (m > 0 && ps[m - 1] === x) {
      pv[m - 1] = v;
      if (m > 1 && pv[m - 2] === v) {
        ps.pop();
        pv.pop();
      }
      return;
    }
    if (m > 0 && pv[m - 1] === v) return;
    ps.push(x);
    pv.push(v);
  };
  emit(0n, -1);
  const stack: number[] = [];
  const MAX = (1n << 128n) - 1n;
  for (let k = 0; k < sel.length; k++) {
    const p = sel[k];
    if (k + 1 < sel.length && start[sel[k + 1]] === start[p] && lens[sel[k + 1]] === lens[p]) {
      duplicates.push({ cidr: cidrText(words, p * 4, lens[p]), previous: p, winner: sel[k + 1] });
      continue;
    }
    while (stack.length > 0 && end[stack[stack.length - 1]] < start[p]) {
      const t = stack.pop() as number;
      emit(end[t] + 1n, val(stack.length > 0 ? stack[stack.length - 1] : -1));
    }
    stack.push(p);
    emit(start[p], val(p));
  }
  while (stack.length > 0) {
    const t = stack.pop() as number;
    if (end[t] < MAX) emit(end[t] + 1n, val(stack.length > 0 ? stack[stack.length - 1] : -1));
  }
  const starts = new Uint32Array(ps.length * 4);
  for (let i = 0; i < ps.length; i++) {
    const x = ps[i];
    starts[i * 4] = Number((x >> 96n) & 0xffffffffn);
    starts[i * 4 + 1] = Number((x >> 64n) & 0xffffffffn);
    starts[i * 4 + 2] = Number((x >> 32n) & 0xffffffffn);
    starts[i * 4 + 3] = Number(x & 0xffffffffn);
  }
  return { starts, vals: Int32Array.from(pv) };
}
