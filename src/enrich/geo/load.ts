// Loading the geography/ASN table from the ip-location-db CSV packages shipped in node_modules
// (country: @ip-location-db/geo-whois-asn-country, CC0 + NRO CC BY 4.0; ASN: @ip-location-db/asn,
// RouteViews + NRO + DB-IP, CC BY 4.0 — see ATTRIBUTION.md), or from directories holding the same
// files (a newer download of the same datasets).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EnrichSourceError } from '../source-error.js';
import { type AsnRows, type CountryRows, type CsvProblems, parseAsnCsv, parseCountryCsv } from './csv.js';
import { buildGeoTable, type GeoTable } from './table.js';

export const COUNTRY_PACKAGE = '@ip-location-db/geo-whois-asn-country';
export const ASN_PACKAGE = '@ip-location-db/asn';

export interface GeoLoadOptions {
  /** Directory with geo-whois-asn-country-ipv4-num.csv / -ipv6-num.csv (default: the npm package). */
  countryDir?: string;
  /** Directory with asn-ipv4-num.csv / asn-ipv6-num.csv (default: the npm package). */
  asnDir?: string;
}

/** Directory of an installed package, or undefined when it is not installed. */
export function packageDir(name: string): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

async function originOf(dir: string, fallback: string): Promise<string> {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) return dir;
  try {
    const p = JSON.parse(await readFile(pj, 'utf8')) as { name?: string; version?: string };
    return `${p.name ?? fallback}@${p.version ?? '?'}`;
  } catch {
    return dir;
  }
}

async function readData(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new EnrichSourceError(path, undefined, `cannot read: ${(e as Error).message}`);
  }
}

/**
 * Read both datasets and build the table. Throws EnrichSourceError when a file cannot be read or
 * holds no usable row (the caller keeps its previous table); lines that do not parse are skipped
 * and reported in `skipped`/`problems`.
 */
export async function loadGeoDb(opts: GeoLoadOptions = {}): Promise<GeoTable> {
  const cDir = opts.countryDir ?? packageDir(COUNTRY_PACKAGE);
  const aDir = opts.asnDir ?? packageDir(ASN_PACKAGE);
  if (!cDir && !aDir) throw new EnrichSourceError(COUNTRY_PACKAGE, undefined, 'package not installed');
  const problems: CsvProblems = { skipped: 0, samples: [] };
  const country = (dir: string | undefined, file: string): Promise<CountryRows | undefined> => {
    if (!dir) return Promise.resolve(undefined);
    const f = join(dir, file);
    return readData(f).then((b) => nonEmpty(parseCountryCsv(b, f, problems), f, problems));
  };
  const asn = (dir: string | undefined, file: string): Promise<AsnRows | undefined> => {
    if (!dir) return Promise.resolve(undefined);
    const f = join(dir, file);
    return readData(f).then((b) => nonEmpty(parseAsnCsv(b, f, problems), f, problems));
  };
  const [c4, c6, a4, a6] = await Promise.all([
    country(cDir, 'geo-whois-asn-country-ipv4-num.csv'),
    country(cDir, 'geo-whois-asn-country-ipv6-num.csv'),
    asn(aDir, 'asn-ipv4-num.csv'),
    asn(aDir, 'asn-ipv6-num.csv'),
  ]);
  const origins = {
    country: cDir ? await originOf(cDir, COUNTRY_PACKAGE) : undefined,
    asn: aDir ? await originOf(aDir, ASN_PACKAGE) : undefined,
  };
  return buildGeoTable({ country: c4, asn: a4 }, { country: c6, asn: a6 }, origins, problems.skipped, problems.samples);
}

function nonEmpty<T extends { rows: { length: number } }>(r: T, file: string, p: CsvProblems): T {
  if (r.rows.length === 0) {
    throw new EnrichSourceError(
      file,
      undefined,
      `no usable range row${p.samples[0] ? ` (first: ${p.samples[0]})` : ''}`,
    );
  }
  return r;
}
