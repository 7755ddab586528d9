// FlowBatch: the columnar unit every stage reads and writes (DESIGN §1, principle 2).
//
// One typed array per column, sized to the batch capacity, plus a validity byte per row and column
// (0 = null). Strings and string lists are dictionary-encoded per batch: the column holds a code,
// code 0 is null. Addresses take four 32-bit words per row (RFC 4291 order, most significant
// first); IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so that one layout serves both families.
// Decoders fill rows with no object per flow: `const r = b.addRow()` then write the arrays.

import { allColumns, type ColumnDef, type ColumnType } from '../schema/columns.js';

export type NumArray = Uint8Array | Uint16Array | Uint32Array | Float64Array;

export const DEFAULT_BATCH_CAPACITY = 8192;

// A dictionary is either the batch's own (private: code()/append() add to it) or, for a column an
// enricher fills alone, an enrichment table's interned values shared by every batch (index 0 is ''
// / [], as in a private one): the enricher then writes the table's ids as codes, with no append and
// no per-batch code cache per value. A shared array is never written through the batch: the first
// code()/append() copies it into the private array (codes stay valid: a copy keeps the indexes) and
// the batch goes on privately. The class is the same in both states so readers stay monomorphic.

export class StringDict {
  /** The values by code (code 0: ''). Swap only through share(); never push to it from outside. */
  values: readonly string[];
  private own: string[] = [''];
  private index = new Map<string, number>();
  /** Whether `values` is a shared array (not the batch's own). */
  shared = false;
  constructor() {
    this.values = this.own;
  }
  /** Code of a string, adding it if new. The empty string is null (code 0). */
  code(s: string): number {
    if (s === '') return 0;
    if (this.shared) this.unshare();
    let c = this.index.get(s);
    if (c === undefined) {
      c = this.own.length;
      this.own.push(s);
      this.index.set(s, c);
    }
    return c;
  }
  /**
   * A new code for `s` without looking it up or indexing it: for writers that know `s` is not in
   * this batch yet (enrichment keeps its own per-batch code per interned value of its tables). Two codes for one
   * string are harmless — readers use the values — but code() will not find this one.
   */
  append(s: string): number {
    if (s === '') return 0;
    if (this.shared) this.unshare();
    this.own.push(s);
    return this.own.length - 1;
  }
  /**
   * Use `values` (index 0 must be '') as this dictionary, shared and never written through it.
   * Allowed while the batch holds no value of its own (nothing written since clear()), or to
   * replace the shared array `replacing` by one that extends it (same values at its indexes).
   */
  share(values: readonly string[], replacing?: readonly string[]): boolean {
    if (!this.canShare(values, replacing)) return false;
    this.values = values;
    this.shared = true;
    return true;
  }
  /** Whether share(values, replacing) would succeed; nothing changes. */
  canShare(values: readonly string[], replacing?: readonly string[]): boolean {
    if (values[0] !== '') return false;
    return this.shared ? this.values === replacing : this.own.length === 1;
  }
  clear(): void {
    if (this.shared) {
      this.values = this.own;
      this.shared = false;
    }
    this.own.length = 1;
    if (this.index.size > 0) this.index.clear();
  }
  // The shared values become the batch's own (not indexed: code() may add a second code for one of
  // them, which readers do not mind).
  private unshare(): void {
    this.own = this.values.slice();
    this.values = this.own;
    this.shared = false;
  }
}

export class ListDict {
  /** The lists by code (code 0: []). Swap only through share(); never push to it from outside. */
  values: readonly (readonly string[])[];
  private own: (readonly string[])[] = [[]];
  private index = new Map<string, number>();
  /** Whether `values` is a shared array (not the batch's own). */
  shared = false;
  constructor() {
    this.values = this.own;
  }
  code(list: readonly string[]): number {
    if (list.length === 0) return 0;
    if (this.shared) this.unshare();
    const key = list.join('\u0000');
    let c = this.index.get(key);
    if (c === undefined) {
      c = this.own.length;
      this.own.push([...list]);
      this.index.set(key, c);
    }
    return c;
  }
  /** As StringDict.append: a new code for a list the caller knows is not in this batch yet. */
  append(list: readonly string[]): number {
    if (list.length === 0) return 0;
    if (this.shared) this.unshare();
    this.own.push(list);
    return this.own.length - 1;
  }
  /** As StringDict.share (index 0 must be the empty list). */
  share(values: readonly (readonly string[])[], replacing?: readonly (readonly string[])[]): boolean {
    if (!this.canShare(values, replacing)) return false;
    this.values = values;
    this.shared = true;
    return true;
  }
  /** Whether share(values, replacing) would succeed; nothing changes. */
  canShare(values: readonly (readonly string[])[], replacing?: readonly (readonly string[])[]): boolean {
    if (values.length === 0 || values[0].length !== 0) return false;
    return this.shared ? this.values === replacing : this.own.length === 1;
  }
  clear(): void {
    if (this.shared) {
      this.values = this.own;
      this.shared = false;
    }
    this.own.length = 1;
    if (this.index.size > 0) this.index.clear();
  }
  private unshare(): void {
    this.own = this.values.slice();
    this.values = this.own;
    this.shared = false;
  }
}

function arrayFor(type: ColumnType, cap: number): NumArray {
  switch (type) {
    case 'u8':
    case 'bool':
    case 'enum':
      return new Uint8Array(cap);
    case 'u16':
      return new Uint16Array(cap);
    case 'u32':
    case 'string':
    case 'list':
      return new Uint32Array(cap);
    case 'addr':
      return new Uint32Array(cap * 4);
    case 'u64':
    case 'time':
    case 'mac':
      return new Float64Array(cap);
  }
}

export class FlowBatch {
  readonly capacity: number;
  readonly columns: readonly ColumnDef[];
  length = 0;
  /** Per column: the values (codes for string/list/enum, 4 words per row for addr). */
  readonly data: NumArray[];
  /** Per column: 1 where the row has a value. */
  readonly valid: Uint8Array[];
  /** Per column: the dictionary for string columns (undefined otherwise). */
  readonly strings: (StringDict | undefined)[];
  /** Per column: the dictionary for list columns (undefined otherwise). */
  readonly lists: (ListDict | undefined)[];

  constructor(capacity = DEFAULT_BATCH_CAPACITY, columns: readonly ColumnDef[] = allColumns()) {
    this.capacity = capacity;
    this.columns = columns;
    this.data = columns.map((c) => arrayFor(c.type, capacity));
    this.valid = columns.map(() => new Uint8Array(capacity));
    this.strings = columns.map((c) => (c.type === 'string' ? new StringDict() : undefined));
    this.lists = columns.map((c) => (c.type === 'list' ? new ListDict() : undefined));
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /** Start a new row (all columns null) and return its index. Caller checks `full` first. */
  addRow(): number {
    if (this.length >= this.capacity) throw new RangeError(`FlowBatch full (${this.capacity} rows)`);
    return this.length++;
  }

  /** Drop the last row (a decoder that finds a record malformed half-way through). */
  dropLastRow(): void {
    if (this.length === 0) return;
    const r = --this.length;
    for (let c = 0; c < this.valid.length; c++) this.valid[c][r] = 0;
  }

  reset(): void {
    const n = this.length;
    for (let c = 0; c < this.valid.length; c++) this.valid[c].fill(0, 0, n);
    this.length = 0;
    for (const d of this.strings) d?.clear();
    for (const d of this.lists) d?.clear();
  }

  /**
   * Make `values` (an enrichment table's interned strings, index 0 = '') the dictionary of string
   * column `col` until reset(), so that a writer can store the table's ids as codes. False (and
   * nothing changes) when the batch already holds values of its own in that column; see
   * StringDict.share for `replacing`.
   */
  useSharedStrings(col: number, values: readonly string[], replacing?: readonly string[]): boolean {
    return this.strings[col]?.share(values, replacing) ?? false;
  }

  /** As useSharedStrings, for a list column (index 0 = []). */
  useSharedList(
    col: number,
    values: readonly (readonly string[])[],
    replacing?: readonly (readonly string[])[],
  ): boolean {
    return this.lists[col]?.share(values, replacing) ?? false;
  }

  // ---- writers (hot path: small, monomorphic, inlined by V8)

  setNum(col: number, row: number, v: number): void {
    this.data[col][row] = v;
    this.valid[col][row] = 1;
  }

  setString(col: number, row: number, s: string): void {
    const code = (this.strings[col] as StringDict).code(s);
    (this.data[col] as Uint32Array)[row] = code;
    this.valid[col][row] = code === 0 ? 0 : 1;
  }

  setList(col: number, row: number, list: readonly string[]): void {
    const code = (this.lists[col] as ListDict).code(list);
    (this.data[col] as Uint32Array)[row] = code;
    this.valid[col][row] = code === 0 ? 0 : 1;
  }

  setEnum(col: number, row: number, name: string): void {
    const i = this.columns[col].enumValues?.indexOf(name) ?? -1;
    if (i < 0) throw new Error(`${this.columns[col].name}: unknown value ${name}`);
    this.setNum(col, row, i);
  }

  /** IPv4 address as an unsigned 32-bit integer. */
  setIPv4(col: number, row: number, v4: number): void {
    const a = this.data[col] as Uint32Array;
    const o = row * 4;
    a[o] = 0;
    a[o + 1] = 0;
    a[o + 2] = 0xffff;
    a[o + 3] = v4;
    this.valid[col][row] = 1;
  }

  /** IPv6 address from 16 bytes of `buf` at `off`. IPv4-mapped addresses stay as they are. */
  setIPv6(col: number, row: number, buf: Uint8Array, off: number): void {
    const a = this.data[col] as Uint32Array;
    const o = row * 4;
    for (let w = 0; w < 4; w++) {
      const p = off + w * 4;
      a[o + w] = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
    }
    this.valid[col][row] = 1;
  }

  // ---- readers

  isNull(col: number, row: number): boolean {
    return this.valid[col][row] === 0;
  }

  getNum(col: number, row: number): number {
    return this.data[col][row];
  }

  getString(col: number, row: number): string | null {
    if (this.valid[col][row] === 0) return null;
    return (this.strings[col] as StringDict).values[(this.data[col] as Uint32Array)[row]];
  }

  getList(col: number, row: number): readonly string[] {
    return (this.lists[col] as ListDict).values[(this.data[col] as Uint32Array)[row]];
  }

  /** The row's address as text, or null. */
  getAddr(col: number, row: number): string | null {
    if (this.valid[col][row] === 0) return null;
    return formatAddrWords(this.data[col] as Uint32Array, row * 4);
  }

  /**
   * Keep the rows whose `keep` byte is 1, in order, and drop the others (rate limiting, routing).
   * Dictionaries are left as they are: codes stay valid.
   */
  retainRows(keep: Uint8Array): void {
    let w = 0;
    const n = this.length;
    for (let r = 0; r < n; r++) {
      if (keep[r] !== 1) continue;
      if (w !== r) {
        for (let c = 0; c < this.columns.length; c++) {
          this.valid[c][w] = this.valid[c][r];
          if (this.columns[c].type === 'addr') (this.data[c] as Uint32Array).copyWithin(w * 4, r * 4, r * 4 + 4);
          else this.data[c][w] = this.data[c][r];
        }
      }
      w++;
    }
    for (let c = 0; c < this.valid.length; c++) this.valid[c].fill(0, w, n);
    this.length = w;
  }

  /** Append one row of another batch (used by routing and by buffering). */
  copyRowFrom(src: FlowBatch, row: number): number {
    const r = this.addRow();
    for (let c = 0; c < this.columns.length; c++) {
      const valid = src.valid[c][row];
      this.valid[c][r] = valid;
      if (!valid) continue;
      const t = this.columns[c].type;
      if (t === 'addr') {
        const s = src.data[c] as Uint32Array;
        const d = this.data[c] as Uint32Array;
        d[r * 4] = s[row * 4];
        d[r * 4 + 1] = s[row * 4 + 1];
        d[r * 4 + 2] = s[row * 4 + 2];
        d[r * 4 + 3] = s[row * 4 + 3];
      } else if (t === 'string') {
        (this.data[c] as Uint32Array)[r] = (this.strings[c] as StringDict).code(src.getString(c, row) ?? '');
      } else if (t === 'list') {
        (this.data[c] as Uint32Array)[r] = (this.lists[c] as ListDict).code(src.getList(c, row));
      } else {
        this.data[c][r] = src.data[c][row];
      }
    }
    return r;
  }
}

// ---- address helpers shared by decoders, the filter language and output

/** True when the 4 words at `o` hold an IPv4-mapped address. */
export function isV4Mapped(words: Uint32Array, o: number): boolean {
  return words[o] === 0 && words[o + 1] === 0 && words[o + 2] === 0xffff;
}

export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Text form of an address held as 4 words (RFC 5952: lower case, longest zero run compressed). */
export function formatAddrWords(words: Uint32Array, o: number): string {
  if (isV4Mapped(words, o)) return formatIPv4(words[o + 3]);
  return formatIPv6(words, o);
}

/** RFC 5952 text of the IPv6 address in 4 words at `o` (IPv4-mapped stays in IPv6 form). */
export function formatIPv6(words: Uint32Array, o: number): string {
  const h = new Array<number>(8);
  for (let i = 0; i < 4; i++) {
    h[i * 2] = words[o + i] >>> 16;
    h[i * 2 + 1] = words[o + i] & 0xffff;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (a: number, b: number) =>
    h
      .slice(a, b)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart < 0) return part(0, 8);
  return `${part(0, bestStart)}::${part(bestStart + bestLen, 8)}`;
}

/** Parse an IPv4 or IPv6 address into 4 words; returns null when it is not an address. */
export function parseAddr(text: string): Uint32Array | null {
  const out = new Uint32Array(4);
  const v4 = parseIPv4(text);
  if (v4 !== null) {
    out[2] = 0xffff;
    out[3] = v4;
    return out;
  }
  if (!text.includes(':')) return null;
  let s = text;
  let tailV4: number | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    tailV4 = parseIPv4(s.slice(lastColon + 1));
    if (tailV4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const tail = dbl >= 0 ? s.slice(dbl + 2) : '';
  const hp = head ? head.split(':') : [];
  const tp = tail ? tail.split(':') : [];
  if (dbl < 0 && hp.length !== 8) return null;
  if (hp.length + tp.length > (dbl >= 0 ? 7 : 8)) return null;
  const hextets = [...hp, ...new Array<string>(8 - hp.length - tp.length).fill('0'), ...tp];
  for (let i = 0; i < 8; i++) {
    const p = hextets[i];
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
    const v = Number.parseInt(p, 16);
    if (i % 2 === 0) out[i >> 1] = v << 16;
    else out[i >> 1] = (out[i >> 1] | v) >>> 0;
  }
  if (tailV4 !== null) out[3] = tailV4;
  return out;
}

export function parseIPv4(text: string): number | null {
  const p = text.split('.');
  if (p.length !== 4) return null;
  let v = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return null;
    const n = Number(x);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/**
 * A MAC address as text: six hex octets separated by ':' or '-' (one kind throughout), or Cisco's
 * three dot-separated groups of four ("aabb.ccdd.eeff"); the 48-bit value, or null. The inverse of
 * formatMac.
 */
export function parseMac(text: string): number | null {
  const t = text.trim();
  let hex: string;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(t)) hex = t.replace(/[:-]/g, '');
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(t)) hex = t.replace(/\./g, '');
  else return null;
  return Number.parseInt(hex, 16);
}

/** The address in words[o..o+3] (FlowBatch layout) as one 128-bit integer. */
export function addrBigInt(words: ArrayLike<number>, o = 0): bigint {
  return (
    (BigInt(words[o]) << 96n) | (BigInt(words[o + 1]) << 64n) | (BigInt(words[o + 2]) << 32n) | BigInt(words[o + 3])
  );
}

export function formatMac(v: number): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const b = Math.floor(v / 2 ** (8 * i)) & 0xff;
    s += (i < 5 ? ':' : '') + b.toString(16).padStart(2, '0');
  }
  return s;
}
