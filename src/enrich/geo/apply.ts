// Filling src_/dst_ country, asn and as_name of a batch from a geography table (ranges or MaxMind).
//
// What a source already filled wins: routers export src_as/dst_as (NetFlow v5 bytes 40-43, v9/IPFIX
// IE 16/17, sFlow extended gateway) and GCP writes its own location; those are kept. An exported
// AS number of 0 means "no BGP information" (RFC 7607 reserves AS 0; a v5 exporter without BGP
// writes 0), so it is replaced. A kept router ASN still gets its organisation name.
//
// The table's country and organisation lists become the batch's dictionaries when nobody else wrote
// those columns (FlowBatch.useSharedStrings), and their indexes the codes. Otherwise the columns get
// per-batch codes through a cache per country/organisation index: one dictionary insert per
// distinct name, not per row.

import { type FlowBatch, formatIPv4, formatIPv6, isV4Mapped, parseAddr } from '../../pipeline/flow-batch.js';
import { C } from '../../schema/columns.js';
import type { EnrichmentHit } from '../source-error.js';
import { type MmdbGeo, mmdbLookup } from './mmdb.js';
import { type GeoTable, isGlobal4, isGlobal6, lookup4, lookup6 } from './table.js';

export type GeoSource = GeoTable | MmdbGeo;

/** Scratch of one table: the per-batch code caches, and MaxMind's answers per distinct address. */
interface Scratch {
  gen: number;
  // [src_country, dst_country, src_as_name, dst_as_name]: stamp and code per name index
  stamp: Uint32Array[];
  code: Uint32Array[];
  v4Seen: Map<number, number>;
  v6Seen: Map<string, number>;
  mres: Uint32Array; // MaxMind: 3 per distinct address of the batch side (country, asn, org)
  distinct: number;
}

// Scratch is kept beside (not inside) the table: the table is shared and never changes; applyGeo
// is synchronous, so one scratch per table is never used by two batches at once.
const scratches = new WeakMap<GeoSource, Scratch>();

function scratchFor(t: GeoSource): Scratch {
  let s = scratches.get(t);
  if (!s) {
    s = {
      gen: 0,
      stamp: [new Uint32Array(16), new Uint32Array(16), new Uint32Array(16), new Uint32Array(16)],
      code: [new Uint32Array(16), new Uint32Array(16), new Uint32Array(16), new Uint32Array(16)],
      v4Seen: new Map(),
      v6Seen: new Map(),
      mres: new Uint32Array(3 * 1024),
      distinct: 0,
    };
    scratches.set(t, s);
  }
  fitCaches(t, s);
  s.gen++;
  if (s.gen === 0xffffffff) {
    for (const a of s.stamp) a.fill(0);
    s.gen = 1;
  }
  return s;
}

/** Code caches at least as long as the table's name lists (MaxMind's grow as addresses are met). */
function fitCaches(t: GeoSource, s: Scratch): void {
  for (let i = 0; i < 4; i++) {
    const need = i < 2 ? t.countries.length : t.orgs.length;
    if (s.stamp[i].length >= need) continue;
    const len = Math.max(need, s.stamp[i].length * 2);
    const st = new Uint32Array(len);
    st.set(s.stamp[i]);
    const co = new Uint32Array(len);
    co.set(s.code[i]);
    s.stamp[i] = st;
    s.code[i] = co;
  }
}

/** Fill country/asn/as_name of both sides of every row that lacks them. Never throws on row data. */
export function applyGeo(t: GeoSource, batch: FlowBatch): void {
  if (batch.length === 0) return;
  const s = geoScratch(t);
  side(t, batch, s, 0);
  side(t, batch, s, 1);
}

/** The scratch of a table for one batch (call once per batch, before writeGeoSide of each side). */
export function geoScratch(t: GeoSource): GeoScratch {
  return scratchFor(t);
}

export type GeoScratch = Scratch;

const GEO_COLUMNS = [
  [C.src_addr, C.src_country, C.src_asn, C.src_as_name],
  [C.dst_addr, C.dst_country, C.dst_asn, C.dst_as_name],
] as const;

// per row of a side: what the lookup found (see writeGeoSide)
let rowKeys = new Int32Array(0);

// One side: first the lookups (only for rows that lack something), then the writes. Only the
// lookup depends on the kind of table: an interval of the range table, or MaxMind's answer for the
// address, looked up once per distinct address of the batch side.
function side(t: GeoSource, b: FlowBatch, s: Scratch, which: 0 | 1): void {
  const [addrCol, cCol, aCol, nCol] = GEO_COLUMNS[which];
  const n = b.length;
  if (rowKeys.length < n) rowKeys = new Int32Array(b.capacity);
  const ks = rowKeys;
  const addrValid = b.valid[addrCol];
  const words = b.data[addrCol] as Uint32Array;
  const cValid = b.valid[cCol];
  const aValid = b.valid[aCol];
  const aData = b.data[aCol] as Uint32Array;
  const nValid = b.valid[nCol];
  const ranges = t.kind === 'ranges' ? t : null;
  if (ranges === null) {
    s.v4Seen.clear();
    s.v6Seen.clear();
    s.distinct = 0;
  }
  for (let r = 0; r < n; r++) {
    ks[r] = -1;
    if (addrValid[r] === 0) continue;
    // nothing to add: country and name filled, and an AS number the exporter gave
    if (cValid[r] !== 0 && nValid[r] !== 0 && aValid[r] !== 0 && aData[r] !== 0) continue;
    const o = r * 4;
    if (ranges !== null) {
      if (words[o] === 0 && words[o + 1] === 0 && words[o + 2] === 0xffff) {
        const k = lookup4(ranges.v4, words[o + 3]);
        ks[r] = k < 0 ? -1 : ranges.v4.tid[k];
      } else {
        const k = lookup6(ranges.v6, words, o);
        ks[r] = k < 0 ? -1 : ranges.v6.tid[k];
      }
    } else ks[r] = mmdbSlot(t as MmdbGeo, s, words, o);
  }
  writeGeoSide(t, b, s, which, ks, ranges !== null ? ranges.triples : s.mres);
}

/**
 * Write one side's country, AS number and organisation from `ks`: per row -1 (nothing found) or
 * the record at rec[3k] (country index, AS number, organisation index into the table's lists).
 * What a source already filled wins (see the header).
 */
export function writeGeoSide(
  t: GeoSource,
  b: FlowBatch,
  s: Scratch,
  which: 0 | 1,
  ks: Int32Array,
  rec: Uint32Array,
): void {
  const [, cCol, aCol, nCol] = GEO_COLUMNS[which];
  const n = b.length;
  const cValid = b.valid[cCol];
  const cData = b.data[cCol] as Uint32Array;
  const aValid = b.valid[aCol];
  const aData = b.data[aCol] as Uint32Array;
  const nValid = b.valid[nCol];
  const nData = b.data[nCol] as Uint32Array;
  // MaxMind interned names while looking up: the code caches must cover them
  fitCaches(t, s);
  const cStamp = s.stamp[which];
  const cCode = s.code[which];
  const oStamp = s.stamp[2 + which];
  const oCode = s.code[2 + which];
  const gen = s.gen;
  const cDict = b.strings[cCol];
  const nDict = b.strings[nCol];
  if (!cDict || !nDict) return;
  // The table's names become the columns' dictionaries (their indexes the codes) when nobody else
  // wrote the columns in this batch; a source that fills its own country, as GCP does, keeps its
  // private dictionary and gets a code per distinct name. MaxMind's lists grow as addresses are
  // met, but only at the end: codes already written keep their values.
  const cShared = b.useSharedStrings(cCol, t.countries, t.countries);
  const nShared = b.useSharedStrings(nCol, t.orgs, t.orgs);
  const ranges = t.kind === 'ranges' ? t : null;
  for (let r = 0; r < n; r++) {
    const k = ks[r];
    if (k < 0) continue;
    const haveAsn = aValid[r] !== 0 && aData[r] !== 0;
    const needC = cValid[r] === 0;
    const needN = nValid[r] === 0;
    const ci = rec[k * 3];
    if (ci !== 0 && needC) {
      if (cShared) cData[r] = ci;
      else {
        if (cStamp[ci] !== gen) {
          cStamp[ci] = gen;
          cCode[ci] = cDict.code(t.countries[ci]);
        }
        cData[r] = cCode[ci];
      }
      cValid[r] = 1;
    }
    const as = rec[k * 3 + 1];
    let oi = rec[k * 3 + 2];
    if (haveAsn) {
      // The exporter's ASN wins; name it only when the table agrees or (ranges) knows that AS elsewhere.
      if (aData[r] !== as) oi = needN && ranges !== null ? orgOfAsn(ranges, aData[r]) : 0;
    } else if (as !== 0) {
      aData[r] = as;
      aValid[r] = 1;
    }
    if (oi !== 0 && needN) {
      if (nShared) nData[r] = oi;
      else {
        if (oStamp[oi] !== gen) {
          oStamp[oi] = gen;
          oCode[oi] = nDict.code(t.orgs[oi]);
        }
        nData[r] = oCode[oi];
      }
      nValid[r] = 1;
    }
  }
}

/** MaxMind: the slot in s.mres of the address's answer (looked up at its first row), or -1 when it is not global. */
function mmdbSlot(t: MmdbGeo, s: Scratch, words: Uint32Array, o: number): number {
  let slot: number | undefined;
  let text: string;
  if (isV4Mapped(words, o)) {
    const v = words[o + 3];
    if (!isGlobal4(v)) return -1;
    slot = s.v4Seen.get(v);
    if (slot !== undefined) return slot;
    slot = s.distinct++;
    s.v4Seen.set(v, slot);
    text = formatIPv4(v);
  } else {
    if (!isGlobal6(words[o])) return -1;
    text = formatIPv6(words, o);
    slot = s.v6Seen.get(text);
    if (slot !== undefined) return slot;
    slot = s.distinct++;
    s.v6Seen.set(text, slot);
  }
  if (s.distinct * 3 > s.mres.length) {
    const m = new Uint32Array(s.mres.length * 2);
    m.set(s.mres);
    s.mres = m;
  }
  mmdbLookup(t, text, s.mres, slot * 3);
  // interning may have grown the name lists past the code caches
  fitCaches(t, s);
  return slot;
}

/** Organisation index of an AS number (0 when the table does not know it). */
export function orgOfAsn(t: GeoTable, asn: number): number {
  const k = t.asnKeys;
  let lo = 0;
  let hi = k.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = k[mid];
    if (v === asn) return t.asnOrgs[mid];
    if (v < asn) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/** What the table says about one address (for `enrich check`); [] for private or unknown addresses. */
export function describe(t: GeoSource, addrText: string): EnrichmentHit[] {
  const w = parseAddr(addrText.trim());
  if (!w) return [];
  let c = 0;
  let asn = 0;
  let org = 0;
  if (t.kind === 'ranges') {
    const v4 = isV4Mapped(w, 0);
    const fam = v4 ? t.v4 : t.v6;
    const k = v4 ? lookup4(fam, w[3]) : lookup6(fam, w, 0);
    if (k < 0) return [];
    const i = fam.tid[k] * 3;
    c = t.triples[i];
    asn = t.triples[i + 1];
    org = t.triples[i + 2];
  } else {
    const v4 = isV4Mapped(w, 0);
    if (v4 ? !isGlobal4(w[3]) : !isGlobal6(w[0])) return [];
    const out = new Uint32Array(3);
    mmdbLookup(t, v4 ? formatIPv4(w[3]) : formatIPv6(w, 0), out, 0);
    [c, asn, org] = out;
  }
  const hits: EnrichmentHit[] = [];
  const cOrigin = t.kind === 'ranges' ? t.origins.country : t.country?.origin;
  const aOrigin = t.kind === 'ranges' ? t.origins.asn : t.asn?.origin;
  if (c !== 0) hits.push({ kind: 'geo', origin: cOrigin ?? '', fields: { country: t.countries[c] } });
  if (asn !== 0 || org !== 0) {
    const fields: EnrichmentHit['fields'] = {};
    if (asn !== 0) fields.asn = asn;
    if (org !== 0) fields.as_name = t.orgs[org];
    hits.push({ kind: 'asn', origin: aOrigin ?? '', fields });
  }
  return hits;
}
