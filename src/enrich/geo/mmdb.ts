// A user-supplied MaxMind DB (GeoIP2/GeoLite2 Country, City or ASN) used instead of the bundled
// ranges. Lookups go through the `maxmind` reader, which wants address text, so the hot path
// formats each distinct address of a batch once: distinct addresses are cached per batch (flows of
// a batch repeat their addresses heavily: a server talks to many clients, a client retries).
// Countries and organisations are interned in growing lists so that applyGeo can fill the batch
// with the same per-batch dictionary caches as the range table.

import maxmind, { type Reader, type Response } from 'maxmind';
import { EnrichSourceError } from '../source-error.js';

export interface MmdbOptions {
  /** GeoIP2/GeoLite2 Country or City database. */
  countryMmdb?: string;
  /** GeoIP2/GeoLite2 ASN database (may be the same file when it carries both). */
  asnMmdb?: string;
}

export interface MmdbSource {
  readonly reader: Reader<Response>;
  /** `path (databaseType, built ISO-time)` */
  readonly origin: string;
}

export interface MmdbGeo {
  readonly kind: 'mmdb';
  readonly country?: MmdbSource;
  readonly asn?: MmdbSource;
  /** Interned country codes and organisation names (index 0 = none); they grow as lookups find new ones. */
  readonly countries: string[];
  readonly orgs: string[];
  readonly countryIndex: Map<string, number>;
  readonly orgIndex: Map<string, number>;
}

async function openOne(path: string): Promise<MmdbSource> {
  let reader: Reader<Response>;
  try {
    reader = await maxmind.open<Response>(path);
  } catch (e) {
    throw new EnrichSourceError(path, undefined, `not a usable MaxMind DB: ${(e as Error).message}`);
  }
  const m = reader.metadata;
  return { reader, origin: `${path} (${m.databaseType}, built ${m.buildEpoch.toISOString()})` };
}

export async function loadMmdb(opts: MmdbOptions): Promise<MmdbGeo> {
  if (!opts.countryMmdb && !opts.asnMmdb) throw new EnrichSourceError('geo', undefined, 'no MaxMind DB path given');
  const country = opts.countryMmdb ? await openOne(opts.countryMmdb) : undefined;
  const asn = opts.asnMmdb ? (opts.asnMmdb === opts.countryMmdb ? country : await openOne(opts.asnMmdb)) : undefined;
  return { kind: 'mmdb', country, asn, countries: [''], orgs: [''], countryIndex: new Map(), orgIndex: new Map() };
}

function intern(list: string[], index: Map<string, number>, s: string): number {
  let i = index.get(s);
  if (i === undefined) {
    i = list.length;
    list.push(s);
    index.set(s, i);
  }
  return i;
}

interface MmdbRecord {
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  autonomous_system_number?: number;
  autonomous_system_organization?: string;
}

/** Result of one address: country index, AS number, organisation index written into `out` at `o`. */
export function mmdbLookup(g: MmdbGeo, ip: string, out: Uint32Array, o: number): void {
  out[o] = 0;
  out[o + 1] = 0;
  out[o + 2] = 0;
  let rec: MmdbRecord | null;
  if (g.country) {
    try {
      rec = g.country.reader.get(ip) as MmdbRecord | null;
    } catch {
      rec = null;
    }
    // GeoIP2 Country: `country` is where the address is; `registered_country` is the fallback
    // MaxMind's own documentation gives for addresses with no located country (e.g. anycast).
    const cc = rec?.country?.iso_code ?? rec?.registered_country?.iso_code;
    if (typeof cc === 'string' && cc !== '') out[o] = intern(g.countries, g.countryIndex, cc);
    if (g.asn === g.country) fillAsn(g, rec, out, o);
  }
  if (g.asn && g.asn !== g.country) {
    try {
      rec = g.asn.reader.get(ip) as MmdbRecord | null;
    } catch {
      rec = null;
    }
    fillAsn(g, rec, out, o);
  }
}

function fillAsn(g: MmdbGeo, rec: MmdbRecord | null, out: Uint32Array, o: number): void {
  const n = rec?.autonomous_system_number;
  if (typeof n === 'number' && n > 0 && n <= 0xffffffff) out[o + 1] = n;
  const org = rec?.autonomous_system_organization;
  if (typeof org === 'string' && org !== '') out[o + 2] = intern(g.orgs, g.orgIndex, org);
}
