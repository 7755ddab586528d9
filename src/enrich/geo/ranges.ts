// Range lists as the ip-location-db CSV files give them, turned into one partition of the address
// space per family.
//
// Keys are 128-bit numbers held as 4 unsigned 32-bit words (most significant first), so one code
// path serves IPv4 (0,0,0,v) and IPv6. The data forces full 128-bit keys: 8 231 of the 216 k rows of
// geo-whois-asn-country-ipv6 (2026-06 release) split below a /64, and the country files hold nested
// rows (568 in IPv4, 83 in IPv6: a GeoFeed sub-range listed after the whois range that contains it),
// so rows are flattened with "a later row wins where it overlaps", which keeps the more specific one.
// Intervals are half-open [start, endExcl) so that building needs compares and copies only.

/** Growable list of 128-bit keys. */
export class KeyList {
  w: Uint32Array;
  n = 0;
  constructor(capacity = 1024) {
    this.w = new Uint32Array(capacity * 4);
  }
  push(src: Uint32Array, o: number): void {
    if ((this.n + 1) * 4 > this.w.length) {
      const w = new Uint32Array(this.w.length * 2);
      w.set(this.w);
      this.w = w;
    }
    const d = this.n * 4;
    this.w[d] = src[o];
    this.w[d + 1] = src[o + 1];
    this.w[d + 2] = src[o + 2];
    this.w[d + 3] = src[o + 3];
    this.n++;
  }
}

/** Rows of one file: [start, endExcl) → value (a small positive integer; 0 means "nothing"). */
export class RangeRows {
  readonly starts: KeyList;
  readonly ends: KeyList;
  values: Uint32Array;
  constructor(capacity = 1024) {
    this.starts = new KeyList(capacity);
    this.ends = new KeyList(capacity);
    this.values = new Uint32Array(capacity);
  }
  get length(): number {
    return this.starts.n;
  }
  push(start: Uint32Array, so: number, endExcl: Uint32Array, eo: number, value: number): void {
    const i = this.starts.n;
    if (i >= this.values.length) {
      const v = new Uint32Array(this.values.length * 2);
      v.set(this.values);
      this.values = v;
    }
    this.values[i] = value;
    this.starts.push(start, so);
    this.ends.push(endExcl, eo);
  }
}

export function cmpKey(a: Uint32Array, ao: number, b: Uint32Array, bo: number): number {
  for (let i = 0; i < 4; i++) {
    const x = a[ao + i];
    const y = b[bo + i];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Add one to the key in place; false (and the key left at all-ones) when it would overflow 2^128. */
export function incKey(k: Uint32Array, o: number): boolean {
  for (let i = 3; i >= 0; i--) {
    if (k[o + i] !== 0xffffffff) {
      k[o + i]++;
      return true;
    }
    k[o + i] = 0;
  }
  k[o] = k[o + 1] = k[o + 2] = k[o + 3] = 0xffffffff;
  return false;
}

/**
 * Disjoint, sorted intervals from rows sorted by start that may nest or overlap: where rows overlap
 * the later one wins (ip-location-db lists the more specific row after the one containing it).
 */
export function flatten(rows: RangeRows): RangeRows {
  const out = new RangeRows(Math.max(16, rows.length + (rows.length >> 3)));
  const sw = rows.starts.w;
  const ew = rows.ends.w;
  const stack: number[] = [];
  const pos = new Uint32Array(4);
  let havePos = false;
  // Emit from `pos` up to `to` (exclusive; undefined = to the end of every open row).
  const advance = (to: Uint32Array | undefined, to0: number): void => {
    while (stack.length > 0 && (to === undefined || cmpKey(pos, 0, to, to0) < 0)) {
      const top = stack[stack.length - 1];
      if (cmpKey(ew, top * 4, pos, 0) <= 0) {
        stack.pop();
        continue;
      }
      const endsFirst = to === undefined || cmpKey(ew, top * 4, to, to0) <= 0;
      const stopArr = endsFirst ? ew : (to as Uint32Array);
      const stopO = endsFirst ? top * 4 : to0;
      out.push(pos, 0, stopArr, stopO, rows.values[top]);
      pos.set(stopArr.subarray(stopO, stopO + 4));
      if (endsFirst) stack.pop();
    }
    if (to !== undefined && cmpKey(pos, 0, to, to0) < 0) pos.set(to.subarray(to0, to0 + 4));
  };
  for (let i = 0; i < rows.length; i++) {
    if (cmpKey(sw, i * 4, ew, i * 4) >= 0) continue; // empty row
    if (!havePos) {
      pos.set(sw.subarray(i * 4, i * 4 + 4));
      havePos = true;
    } else if (cmpKey(sw, i * 4, pos, 0) < 0) {
      // Unsorted input: a row starting before what is already emitted only covers what is left.
      if (cmpKey(ew, i * 4, pos, 0) <= 0) continue;
    } else advance(sw, i * 4);
    stack.push(i);
  }
  advance(undefined, 0);
  return out;
}

/** One complete partition of the key space from 0: starts and, per interval, the value of a and of b. */
export interface Partition {
  starts: KeyList;
  a: Uint32Array;
  b: Uint32Array;
}

/** Overlay two flattened lists into a partition of the whole space (gaps get value 0), coalesced. */
export function overlay(A: RangeRows, B: RangeRows): Partition {
  const cap = A.length + B.length + 16;
  const starts = new KeyList(cap * 2);
  let av = new Uint32Array(cap * 2);
  let bv = new Uint32Array(cap * 2);
  const pos = new Uint32Array(4);
  let i = 0;
  let j = 0;
  let n = 0;
  const aS = A.starts.w;
  const aE = A.ends.w;
  const bS = B.starts.w;
  const bE = B.ends.w;
  for (;;) {
    while (i < A.length && cmpKey(aE, i * 4, pos, 0) <= 0) i++;
    while (j < B.length && cmpKey(bE, j * 4, pos, 0) <= 0) j++;
    const aIn = i < A.length && cmpKey(aS, i * 4, pos, 0) <= 0;
    const bIn = j < B.length && cmpKey(bS, j * 4, pos, 0) <= 0;
    const va = aIn ? A.values[i] : 0;
    const vb = bIn ? B.values[j] : 0;
    if (n === 0 || av[n - 1] !== va || bv[n - 1] !== vb) {
      if (n >= av.length) {
        const x = new Uint32Array(av.length * 2);
        x.set(av);
        av = x;
        const y = new Uint32Array(bv.length * 2);
        y.set(bv);
        bv = y;
      }
      starts.push(pos, 0);
      av[n] = va;
      bv[n] = vb;
      n++;
    }
    // Next point where either list changes.
    let nextArr: Uint32Array | undefined;
    let nextO = 0;
    const consider = (arr: Uint32Array, o: number): void => {
      if (nextArr === undefined || cmpKey(arr, o, nextArr, nextO) < 0) {
        nextArr = arr;
        nextO = o;
      }
    };
    if (i < A.length) consider(aIn ? aE : aS, i * 4);
    if (j < B.length) consider(bIn ? bE : bS, j * 4);
    if (nextArr === undefined) break;
    const na = nextArr as Uint32Array;
    if (cmpKey(na, nextO, pos, 0) <= 0) break; // only at the 2^128 clamp
    pos.set(na.subarray(nextO, nextO + 4));
  }
  return { starts, a: av.subarray(0, n), b: bv.subarray(0, n) };
}
