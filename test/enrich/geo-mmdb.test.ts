// MaxMind DB path: databases built by the test writer (mmdb-writer.ts, from the public format
// specification) are first read back with the independent `maxmind` reader, then used by
// loadMmdb/applyGeo/describe.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Reader } from 'maxmind';
import { applyGeo, describe as describeAddr, loadMmdb } from '../../src/enrich/geo/index.js';
import { EnrichSourceError } from '../../src/enrich/source-error.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { type MmdbNetwork, writeMmdb } from './mmdb-writer.js';

const EPOCH = 1_750_000_000;

// GeoIP2-Country-like records (country, registered_country) merged with GeoLite2-ASN-like fields.
const NETWORKS: MmdbNetwork[] = [
  {
    cidr: '81.2.69.0/24',
    data: {
      country: { iso_code: 'GB', names: { en: 'United Kingdom' }, geoname_id: 2635167 },
      autonomous_system_number: 20712,
      autonomous_system_organization: 'Andrews & Arnold Ltd',
    },
  },
  { cidr: '81.2.69.160/27', data: { country: { iso_code: 'IE' }, autonomous_system_number: 64512 } },
  {
    cidr: '8.8.8.8/32',
    data: {
      country: { iso_code: 'US' },
      autonomous_system_number: 15169,
      autonomous_system_organization: 'Google LLC',
    },
  },
  // No located country: MaxMind's fallback is registered_country.
  {
    cidr: '1.1.1.0/24',
    data: {
      registered_country: { iso_code: 'AU' },
      autonomous_system_number: 13335,
      autonomous_system_organization: 'Cloudflare, Inc.',
    },
  },
  {
    cidr: '2a02:c7f::/32',
    data: {
      country: { iso_code: 'DE' },
      autonomous_system_number: 5089,
      autonomous_system_organization: 'Virgin Media Limited',
    },
  },
  // Present in the file, but private: never looked up.
  { cidr: '10.0.0.0/8', data: { country: { iso_code: 'XX' }, autonomous_system_number: 1 } },
];

function tmpDb(name: string, nets: MmdbNetwork[], type: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmdb-'));
  const p = join(dir, name);
  writeFileSync(p, writeMmdb(nets, { databaseType: type, buildEpochSeconds: EPOCH }));
  return p;
}

describe('MaxMind DB test writer, read by the maxmind package', () => {
  it('gives back every record, the most specific network first, and nothing elsewhere', () => {
    const r = new Reader(writeMmdb(NETWORKS, { databaseType: 'GeoIP2-Country', buildEpochSeconds: EPOCH }));
    assert.equal(r.metadata.databaseType, 'GeoIP2-Country');
    assert.equal(r.metadata.buildEpoch.getTime(), EPOCH * 1000);
    assert.deepEqual(r.get('81.2.69.1'), NETWORKS[0].data);
    assert.deepEqual(r.get('81.2.69.170'), NETWORKS[1].data);
    assert.deepEqual(r.get('81.2.69.192'), NETWORKS[0].data);
    assert.deepEqual(r.get('8.8.8.8'), NETWORKS[2].data);
    assert.equal(r.get('8.8.8.9'), null);
    assert.deepEqual(r.get('2a02:c7f:1234::1'), NETWORKS[4].data);
    assert.equal(r.get('2a02:c80::1'), null);
    assert.equal(r.get('9.9.9.9'), null);
  });
});

describe('geo from a MaxMind DB', () => {
  it('one file with country and ASN fills both sides, keeps exporter ASNs, skips private addresses', async () => {
    const path = tmpDb('GeoIP2-Country-ASN.mmdb', NETWORKS, 'GeoIP2-Country');
    const g = await loadMmdb({ countryMmdb: path, asnMmdb: path });
    const b = new FlowBatch(16);
    const put = (src: string, dst: string): number => {
      const r = b.addRow();
      const s = parseAddr(src) as Uint32Array;
      const d = parseAddr(dst) as Uint32Array;
      (b.data[C.src_addr] as Uint32Array).set(s, r * 4);
      (b.data[C.dst_addr] as Uint32Array).set(d, r * 4);
      b.valid[C.src_addr][r] = 1;
      b.valid[C.dst_addr][r] = 1;
      return r;
    };
    put('10.1.2.3', '81.2.69.1');
    put('10.1.2.3', '81.2.69.170');
    put('8.8.8.8', '1.1.1.1');
    put('2a02:c7f:1::1', '9.9.9.9');
    const r4 = put('81.2.69.1', '8.8.8.8');
    b.setNum(C.src_asn, r4, 3320); // exported by the router: kept
    put('8.8.8.8', '8.8.8.8'); // repeated address: one lookup per batch
    applyGeo(g, b);
    const row = (r: number, side: 'src' | 'dst') => [
      b.getString(side === 'src' ? C.src_country : C.dst_country, r),
      b.isNull(side === 'src' ? C.src_asn : C.dst_asn, r) ? null : b.getNum(side === 'src' ? C.src_asn : C.dst_asn, r),
      b.getString(side === 'src' ? C.src_as_name : C.dst_as_name, r),
    ];
    assert.deepEqual(row(0, 'src'), [null, null, null]);
    assert.deepEqual(row(0, 'dst'), ['GB', 20712, 'Andrews & Arnold Ltd']);
    assert.deepEqual(row(1, 'dst'), ['IE', 64512, null]);
    assert.deepEqual(row(2, 'src'), ['US', 15169, 'Google LLC']);
    assert.deepEqual(row(2, 'dst'), ['AU', 13335, 'Cloudflare, Inc.']);
    assert.deepEqual(row(3, 'src'), ['DE', 5089, 'Virgin Media Limited']);
    assert.deepEqual(row(3, 'dst'), [null, null, null]);
    assert.deepEqual(row(4, 'src'), ['GB', 3320, null]);
    assert.deepEqual(row(5, 'dst'), ['US', 15169, 'Google LLC']);

    const hits = describeAddr(g, '81.2.69.1');
    assert.deepEqual(
      hits.map((h) => [h.kind, h.fields]),
      [
        ['geo', { country: 'GB' }],
        ['asn', { asn: 20712, as_name: 'Andrews & Arnold Ltd' }],
      ],
    );
    assert.equal(hits[0].origin, `${path} (GeoIP2-Country, built ${new Date(EPOCH * 1000).toISOString()})`);
    assert.deepEqual(describeAddr(g, '10.0.0.1'), []);
  });

  it('separate Country and ASN files', async () => {
    const country = tmpDb(
      'c.mmdb',
      [{ cidr: '8.8.8.0/24', data: { country: { iso_code: 'US' } } }],
      'GeoLite2-Country',
    );
    const asn = tmpDb(
      'a.mmdb',
      [{ cidr: '8.8.0.0/16', data: { autonomous_system_number: 15169, autonomous_system_organization: 'Google LLC' } }],
      'GeoLite2-ASN',
    );
    const g = await loadMmdb({ countryMmdb: country, asnMmdb: asn });
    const hits = describeAddr(g, '8.8.8.8');
    assert.deepEqual(
      hits.map((h) => [h.origin.split(' ')[0], h.fields]),
      [
        [country, { country: 'US' }],
        [asn, { asn: 15169, as_name: 'Google LLC' }],
      ],
    );
    assert.deepEqual(
      describeAddr(g, '8.8.9.9').map((h) => h.fields),
      [{ asn: 15169, as_name: 'Google LLC' }],
    );
  });

  it('a file that is not a MaxMind DB is an EnrichSourceError naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmdb-'));
    const p = join(dir, 'broken.mmdb');
    writeFileSync(p, 'not a database');
    await assert.rejects(
      loadMmdb({ countryMmdb: p }),
      (e: unknown) => e instanceof EnrichSourceError && e.source === p,
    );
    await assert.rejects(loadMmdb({ countryMmdb: join(dir, 'missing.mmdb') }), EnrichSourceError);
  });
});
