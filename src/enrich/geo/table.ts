// The geography/ASN table: per address family one sorted partition of the address space, each
// interval carrying a country index, an AS number and an organisation index. Built once from the
// range rows, never changed afterwards (the enrichment stage swaps whole tables on reload).
//
// Lookup is "last interval start <= address": for IPv4 a first-level index on the top 16 bits
// narrows the binary search to the few intervals of that /16, which is what keeps one lookup near
// 20 ns on 700 k IPv4 intervals; for IPv6 a directory over the starts (ranges/starts6.ts) does the
// same where one 16-bit prefix (2a00::/16, 2001::/16) holds thousands of intervals. What an
// interval carries is the id of a 3-word record (country, AS number, organisation) among the
// distinct ones: one small hot table, not a record per interval.

import { RecordInterner } from '../../util/typed-arrays.js';
import { Starts6 } from '../ranges/starts6.js';
import type { AsnRows, CountryRows } from './csv.js';
import { flatten, overlay, type Partition, RangeRows } from './ranges.js';

export interface FamilyTable {
  /** Interval starts: IPv4 one word each, IPv6 four words each (most significant first). */
  readonly starts: Uint32Array;
  /** Per interval: its record in GeoTable.triples. */
  readonly tid: Uint32Array;
  /** IPv4: index[p] = number of intervals whose start's top 16 bits are below p (p = 0..65536). */
  readonly index: Uint32Array;
  /** IPv6: the directory over the starts. */
  readonly dir: Starts6 | null;
  readonly length: number;
}

export interface GeoTable {
  readonly kind: 'ranges';
  /** Where the data came from, e.g. `@ip-location-db/asn@2.3.2026061719`, one per dataset. */
  readonly origins: { readonly country?: string; readonly asn?: string };
  /** Country codes; index 0 is '' (none). */
  readonly countries: readonly string[];
  /** AS organisation names; index 0 is '' (none). */
  readonly orgs: readonly string[];
  readonly v4: FamilyTable;
  readonly v6: FamilyTable;
  /**
   * The distinct interval records, 3 words each: the index into `countries` (0 = none), the AS
   * number (0 = none: AS 0 is reserved, RFC 7607) and the index into `orgs` (0 = none). Far fewer
   * than intervals (one per country and AS met together), so the records a batch reads stay in cache.
   */
  readonly triples: Uint32Array;
  /** Sorted AS numbers and their organisation index, to name an AS a router exported. */
  readonly asnKeys: Uint32Array;
  readonly asnOrgs: Uint32Array;
  /** Lines of the source files that were skipped, and the first reasons. */
  readonly skipped: number;
  readonly problems: readonly string[];
  /** Time taken to build, ms. */
  readonly buildMs: number;
}

export interface FamilyInput {
  country?: CountryRows;
  asn?: AsnRows;
}

/** Build a table from parsed rows of each family (either dataset may be absent). */
export function buildGeoTable(
  v4: FamilyInput,
  v6: FamilyInput,
  origins: GeoTable['origins'],
  skipped = 0,
  problems: readonly string[] = [],
): GeoTable {
  const t0 = performance.now();
  const countries: string[] = [''];
  const countryIdx = new Map<string, number>();
  const orgs: string[] = [''];
  const orgIdx = new Map<string, number>();
  const remap = (list: readonly string[], into: string[], index: Map<string, number>): Uint32Array => {
    const m = new Uint32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      let g = index.get(list[i]);
      if (g === undefined) {
        g = into.length;
        into.push(list[i]);
        index.set(list[i], g);
      }
      m[i] = g;
    }
    return m;
  };
  const triples = new Triples();
  const family = (f: FamilyInput, wordsPerKey: 1 | 4): FamilyTable => {
    const cMap = remap(f.country?.countries ?? [], countries, countryIdx);
    const oMap = remap(f.asn?.orgs ?? [], orgs, orgIdx);
    const a = f.country ? flatten(f.country.rows) : new RangeRows(16);
    const b = f.asn ? flatten(f.asn.rows) : new RangeRows(16);
    const part = overlay(a, b);
    return pack(part, wordsPerKey, (v) => (v === 0 ? 0 : cMap[v - 1]), f.asn, oMap, triples);
  };
  const t4 = family(v4, 1);
  const t6 = family(v6, 4);
  const { keys, vals } = asnNames(v4.asn, v6.asn, orgIdx);
  if (countries.length > 65535) throw new Error('more than 65535 country codes');
  return {
    kind: 'ranges',
    origins,
    countries,
    orgs,
    v4: t4,
    v6: t6,
    triples: triples.done(),
    asnKeys: keys,
    asnOrgs: vals,
    skipped,
    problems,
    buildMs: performance.now() - t0,
  };
}

function pack(
  part: Partition,
  wpk: 1 | 4,
  country: (v: number) => number,
  asn: AsnRows | undefined,
  oMap: Uint32Array,
  triples: Triples,
): FamilyTable {
  let n = part.a.length;
  // An IPv4 partition ends with the interval that starts at 2^32 (the end of the last row): drop it.
  if (wpk === 1)
    while (
      n > 0 &&
      (part.starts.w[(n - 1) * 4 + 2] | part.starts.w[(n - 1) * 4 + 1] | part.starts.w[(n - 1) * 4]) !== 0
    )
      n--;
  const starts = new Uint32Array(n * wpk);
  const tid = new Uint32Array(n);
  const sw = part.starts.w;
  for (let k = 0; k < n; k++) {
    if (wpk === 1) starts[k] = sw[k * 4 + 3];
    else starts.set(sw.subarray(k * 4, k * 4 + 4), k * 4);
    const r = part.b[k];
    const has = r !== 0 && asn !== undefined;
    tid[k] = triples.id(country(part.a[k]), has ? asn.asn[r - 1] : 0, has ? oMap[asn.org[r - 1]] : 0);
  }
  if (wpk === 4) return { starts, tid, index: new Uint32Array(0), dir: new Starts6(starts), length: n };
  const index = new Uint32Array(65537);
  let k = 0;
  for (let p = 0; p <= 65536; p++) {
    while (k < n && starts[k] >>> 16 < p) k++;
    index[p] = k;
  }
  return { starts, tid, index, dir: null, length: n };
}

/** Distinct (country, AS number, organisation) records, 3 words each. */
class Triples {
  // (AS number, organisation) → pair id, then pair id and country → the record's key
  private readonly pairs = new Map<number, number>();
  private readonly recs = new RecordInterner(new Uint32Array(3 * 1024), 3);

  id(country: number, asn: number, org: number): number {
    // organisations and countries are indexes into lists far shorter than 2^21 and 2^16
    if (org >= 2 ** 21 || country >= 2 ** 16) throw new RangeError('geo: too many organisations or countries');
    const pk = asn * 2 ** 21 + org;
    let p = this.pairs.get(pk);
    if (p === undefined) {
      p = this.pairs.size;
      this.pairs.set(pk, p);
    }
    return this.recs.id(p * 2 ** 16 + country, country, asn, org);
  }

  done(): Uint32Array {
    return this.recs.done();
  }
}

function asnNames(
  a: AsnRows | undefined,
  b: AsnRows | undefined,
  orgIdx: Map<string, number>,
): { keys: Uint32Array; vals: Uint32Array } {
  const m = new Map<number, number>();
  for (const rows of [a, b]) {
    if (!rows) continue;
    for (let i = 0; i < rows.asn.length; i++) {
      const as = rows.asn[i];
      if (as !== 0 && !m.has(as)) m.set(as, orgIdx.get(rows.orgs[rows.org[i]]) ?? 0);
    }
  }
  const keys = Uint32Array.from(m.keys()).sort();
  const vals = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) vals[i] = m.get(keys[i]) as number;
  return { keys, vals };
}

// ---- lookups (hot path)

/** Interval of an IPv4 address (as an unsigned 32-bit number), or -1 when it is not global. */
export function lookup4(t: FamilyTable, v: number): number {
  if (t.length === 0 || !isGlobal4(v)) return -1;
  const p = v >>> 16;
  const s = t.starts;
  let lo = t.index[p];
  lo = lo > 0 ? lo - 1 : 0;
  let hi = t.index[p + 1] - 1;
  if (hi < lo) hi = lo;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (s[mid] <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Interval of an IPv6 address in 4 words at `o`, or -1 when it is not global unicast. */
export function lookup6(t: FamilyTable, w: Uint32Array, o: number): number {
  if (t.length === 0 || !isGlobal6(w[o])) return -1;
  // the partition starts at :: (the first interval may carry nothing), so some start is <= the address
  return (t.dir as Starts6).find(w, o);
}

// First octets that are entirely non-global (RFC 6890): 0/8 "this network", 10/8 private,
// 127/8 loopback, 224/4 multicast, 240/4 reserved and broadcast. 2 = check the rest of the address.
const FIRST_OCTET = new Uint8Array(256);
for (const o of [0, 10, 127]) FIRST_OCTET[o] = 1;
for (let o = 224; o < 256; o++) FIRST_OCTET[o] = 1;
for (const o of [100, 169, 172, 192, 198, 203]) FIRST_OCTET[o] = 2;

/** False for private, shared, loopback, link-local, documentation, benchmarking and multicast IPv4. */
export function isGlobal4(v: number): boolean {
  const f = FIRST_OCTET[v >>> 24];
  if (f === 0) return true;
  if (f === 1) return false;
  const b16 = v >>> 16;
  const b24 = v >>> 8;
  return !(
    (
      b16 >>> 6 === 0x6440 >>> 6 || // 100.64.0.0/10 shared address space (RFC 6598)
      b16 === 0xa9fe || // 169.254.0.0/16 link local
      b16 >>> 4 === 0xac10 >>> 4 || // 172.16.0.0/12
      b16 === 0xc0a8 || // 192.168.0.0/16
      b24 === 0xc00000 || // 192.0.0.0/24 IETF protocol assignments
      b24 === 0xc00002 || // 192.0.2.0/24 TEST-NET-1
      b16 >>> 1 === 0xc612 >>> 1 || // 198.18.0.0/15 benchmarking
      b24 === 0xc63364 || // 198.51.100.0/24 TEST-NET-2
      b24 === 0xcb0071
    ) // 203.0.113.0/24 TEST-NET-3
  );
}

/**
 * True for global unicast IPv6 (2000::/3) outside 2001::/23 (IETF protocol assignments, Teredo)
 * and 2001:db8::/32 (documentation). ULA fc00::/7, link local, multicast, ::/8 fall outside 2000::/3.
 */
export function isGlobal6(w0: number): boolean {
  if (w0 >>> 29 !== 1) return false;
  if (w0 >>> 9 === 0x20010000 >>> 9) return false;
  return w0 !== 0x20010db8;
}
