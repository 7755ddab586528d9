// The enrichment settings (config key `enrich`), apart from the code that loads them: the
// configuration is read by every command, the enrichment tables only by serve, import and enrich.

import type { FeedSpec } from './intel/fetch.js';

export interface EnrichSettings {
  storeCommunityId: boolean;
  storeServices: boolean;
  communityIdSeed: number;
  /** The organisation's networks (direction); ranges tagged `internal` are added. */
  networks: string[];
  /** IP range files (CSV, YAML/JSON, AWS ip-ranges.json, Azure Service Tags, GCP cloud.json). */
  ranges: string[];
  /** Asset files (CSV, YAML/JSON, AWS describe-instances, Azure Resource Graph, GCP asset inventory). */
  assets: string[];
  /** Country and ASN from the shipped ip-location-db data. */
  geo: boolean;
  /** MaxMind GeoIP2/GeoLite2 databases used instead of the shipped data when set. */
  geoipCountry: string;
  geoipAsn: string;
  /** Threat-intelligence feeds. */
  intel: FeedSpec[];
  /** How often files are checked for changes (ms). */
  reloadInterval: number;
}

export function defaultEnrichSettings(): EnrichSettings {
  return {
    storeCommunityId: false,
    storeServices: false,
    communityIdSeed: 0,
    networks: [],
    ranges: [],
    assets: [],
    geo: false,
    geoipCountry: '',
    geoipAsn: '',
    intel: [],
    reloadInterval: 5000,
  };
}
