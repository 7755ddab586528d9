// "Which interval holds this IPv6 address" over sorted 128-bit interval starts, in a few reads.
//
// A binary search over the starts of 1 M ranges' IPv6 part (~400 k starts) is ~19 dependent reads
// and as many unpredictable branches: measured 175 ns per address on bench/enrich, a quarter of the
// ranges stage although only 10 % of its flows are IPv6. Here a directory narrows the search first:
// the root has one slot per value of the top bits (16 for large tables), each slot holding where
// its starts begin in the sorted array; a slot with more than LEAF starts gets a child directory
// on the bits after the longest prefix its starts share (so 2001:db8::/32 full of /48s and /64s
// costs one level, not two), sized to about four starts per slot. A lookup walks one or two
// directories and then searches at most a handful of starts.
//
// Memory: about 2 words per start in the child directories (each has ~c/4 slots of 2 words for its
// c starts, at every level), plus the root (2^16 slots of 2 words for large tables).

import { grown } from '../../util/typed-arrays.js';

/** What a Starts6 adds to its starts (see Starts6.parts). */
export interface Starts6Parts {
  slots: Int32Array;
  dirs: Uint32Array;
}

/** A slot with at most this many starts is searched directly. */
const LEAF = 16;

export class Starts6 {
  /** Per slot of every directory: [first start index, child directory (-1: none)], then one more start index. */
  private readonly slots: Int32Array;
  /** Per directory: [prefix bits shared by its starts, slot bits, first slot, unused], then the shared prefix in 4 words. */
  private readonly dirs: Uint32Array;
  private readonly n: number;

  /**
   * `starts`: 4 words per start, most significant first, sorted ascending (repeats allowed).
   * `built`: the directories as parts() gave them for these starts (a loader thread builds them and
   * sends them over, so that the thread receiving the table does not).
   */
  constructor(
    readonly starts: Uint32Array,
    built?: Starts6Parts,
  ) {
    this.n = starts.length >>> 2;
    if (built !== undefined) {
      this.slots = built.slots;
      this.dirs = built.dirs;
      return;
    }
    const b = new DirBuilder(starts);
    // (all starts one value: nothing to narrow)
    if (this.n > LEAF && sharedBits(starts, 0, this.n - 1) < 128) b.dir(0, this.n, slotBits(this.n));
    this.slots = b.slots.slice(0, b.slotsUsed);
    this.dirs = b.dirs.slice(0, b.dirsUsed);
  }

  /** The directories (not the starts), to send to another thread. */
  parts(): Starts6Parts {
    return { slots: this.slots, dirs: this.dirs };
  }

  /** Bytes of the directories (not of the starts). */
  get byteSize(): number {
    return this.slots.byteLength + this.dirs.byteLength;
  }

  /** Index of the last start <= the address at w[o..o+3], or -1. */
  find(w: Uint32Array, o: number): number {
    const s = this.starts;
    const w0 = w[o];
    const w1 = w[o + 1];
    const w2 = w[o + 2];
    const w3 = w[o + 3];
    let lo = 0;
    let hi = this.n;
    if (this.dirs.length !== 0) {
      const dirs = this.dirs;
      const slots = this.slots;
      let d = 0;
      for (;;) {
        const q = d * 8;
        const shared = dirs[q];
        if (shared !== 0) {
          // an address outside the prefix the directory's starts share is before or after all of them
          const c = comparePrefix(w0, w1, w2, w3, dirs, q + 4, shared);
          if (c < 0) return lo - 1;
          if (c > 0) return hi - 1;
        }
        const bits = dirs[q + 1];
        const k = (dirs[q + 2] + bitsAt(w0, w1, w2, w3, shared, bits)) * 2;
        lo = slots[k];
        hi = slots[k + 2];
        const child = slots[k + 1];
        if (child < 0) break;
        d = child;
      }
    }
    // the last start <= address in [lo, hi), else lo - 1
    let a = lo - 1;
    let b = hi - 1;
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      const p = mid * 4;
      let le: boolean;
      if (s[p] !== w0) le = s[p] < w0;
      else if (s[p + 1] !== w1) le = s[p + 1] < w1;
      else if (s[p + 2] !== w2) le = s[p + 2] < w2;
      else le = s[p + 3] <= w3;
      if (le) a = mid;
      else b = mid - 1;
    }
    return a;
  }
}

/** Slot bits for a directory over c starts: about four starts per slot, 4..16 bits. */
function slotBits(c: number): number {
  return Math.max(4, Math.min(16, Math.ceil(Math.log2(c)) - 2));
}

/** `bits` bits (1..16) of the address starting at bit `from` (0 = most significant). */
function bitsAt(w0: number, w1: number, w2: number, w3: number, from: number, bits: number): number {
  const q = from >>> 5;
  const off = from & 31;
  const hiWord = q === 0 ? w0 : q === 1 ? w1 : q === 2 ? w2 : w3;
  let x = hiWord << off;
  if (off + bits > 32) x |= (q === 0 ? w1 : q === 1 ? w2 : w3) >>> (32 - off);
  return x >>> (32 - bits);
}

/** Sign of (the address's first `len` bits) - (the prefix at p[q..q+3], already masked to `len`). */
function comparePrefix(w0: number, w1: number, w2: number, w3: number, p: Uint32Array, q: number, len: number): number {
  for (let k = 0; k < 4 && len > 0; k++) {
    const w = k === 0 ? w0 : k === 1 ? w1 : k === 2 ? w2 : w3;
    const m = len >= 32 ? w : (w & (-1 << (32 - len))) >>> 0;
    if (m !== p[q + k]) return m < p[q + k] ? -1 : 1;
    len -= 32;
  }
  return 0;
}

/** Length of the prefix two 4-word values share (128 when equal). */
function sharedBits(s: Uint32Array, a: number, b: number): number {
  for (let k = 0; k < 4; k++) {
    const x = (s[a * 4 + k] ^ s[b * 4 + k]) >>> 0;
    if (x !== 0) return k * 32 + Math.clz32(x);
  }
  return 128;
}

class DirBuilder {
  slots = new Int32Array(1024);
  slotsUsed = 0;
  dirs = new Uint32Array(64);
  dirsUsed = 0;

  constructor(private readonly s: Uint32Array) {}

  /**
   * A directory over starts [lo, hi) (not all one value) whose slots take `bits` bits after their
   * shared prefix; its id. Its slot pairs are followed by one more pair holding `hi`.
   */
  dir(lo: number, hi: number, bits: number): number {
    const s = this.s;
    const shared = sharedBits(s, lo, hi - 1);
    bits = Math.min(bits, 128 - shared);
    const id = this.dirsUsed >>> 3;
    this.growDirs(8);
    const q = id * 8;
    const nSlots = 1 << bits;
    const base = this.slotsUsed >>> 1;
    this.growSlots(nSlots * 2 + 2);
    this.dirs[q] = shared;
    this.dirs[q + 1] = bits;
    this.dirs[q + 2] = base;
    for (let k = 0; k < 4; k++) {
      const len = shared - k * 32;
      const w = s[lo * 4 + k];
      this.dirs[q + 4 + k] = len >= 32 ? w : len <= 0 ? 0 : (w & (-1 << (32 - len))) >>> 0;
    }
    // first start of each slot: starts are sorted, so a slot's starts follow the previous slot's
    let i = lo;
    for (let j = 0; j < nSlots; j++) {
      while (i < hi && bitsAt(s[i * 4], s[i * 4 + 1], s[i * 4 + 2], s[i * 4 + 3], shared, bits) < j) i++;
      this.slots[(base + j) * 2] = i;
      this.slots[(base + j) * 2 + 1] = -1;
    }
    this.slots[(base + nSlots) * 2] = hi;
    this.slots[(base + nSlots) * 2 + 1] = -1;
    // slots with many starts get their own directory (their starts share at least shared + bits bits,
    // unless they are all one value, which the search handles as it is)
    for (let j = 0; j < nSlots; j++) {
      const a = this.slots[(base + j) * 2];
      const b = this.slots[(base + j + 1) * 2];
      if (b - a > LEAF && sharedBits(s, a, b - 1) < 128) {
        const child = this.dir(a, b, slotBits(b - a));
        this.slots[(base + j) * 2 + 1] = child;
      }
    }
    return id;
  }

  private growDirs(k: number): void {
    this.dirs = grown(this.dirs, this.dirsUsed + k);
    this.dirsUsed += k;
  }

  private growSlots(k: number): void {
    this.slots = grown(this.slots, this.slotsUsed + k);
    this.slotsUsed += k;
  }
}
