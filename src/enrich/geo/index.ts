// Geography and ASN enrichment: country, AS number and AS organisation of both ends of a flow,
// from the bundled ip-location-db ranges or a user-supplied MaxMind DB.

export { applyGeo, describe, type GeoSource, orgOfAsn } from './apply.js';
export { ASN_PACKAGE, COUNTRY_PACKAGE, type GeoLoadOptions, loadGeoDb } from './load.js';
export { loadMmdb, type MmdbGeo, type MmdbOptions } from './mmdb.js';
export { type FamilyTable, type GeoTable, isGlobal4, isGlobal6, lookup4, lookup6 } from './table.js';
