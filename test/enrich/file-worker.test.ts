// Range and asset files loaded in the file loader thread (issue 5: reloads must not stall
// ingestion): the tables that cross from the worker (typed arrays transferred, strings packed and
// rebuilt in slices) are the tables loadRangeTable / loadAssetTable / buildOwnNetworks build
// in-thread from the same files, and a file that does not load reports file:line and builds nothing.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { files as benchFiles } from '../../bench/enrich.bench.js';
import { type AssetTable, loadAssetTable } from '../../src/enrich/assets/assets.js';
import { FileTableLoader } from '../../src/enrich/file-loader.js';
import { describe as describeGeo, type GeoTable, loadGeoDb } from '../../src/enrich/geo/index.js';
import { buildPlanParts, rangesPlanInput } from '../../src/enrich/plan.js';
import { buildOwnNetworks } from '../../src/enrich/ranges/direction.js';
import { loadRangeTable, type RangeTable } from '../../src/enrich/ranges/ranges.js';
import { rng } from '../helpers/rng.js';

function rangesSame(a: RangeTable, b: RangeTable, probes: string[]): void {
  assert.equal(a.size, b.size);
  assert.deepEqual(a.allEntries(), b.allEntries());
  assert.deepEqual(a.warnings, b.warnings);
  assert.deepEqual(a.parts(), b.parts());
  assert.deepEqual(a.index.toParts(), b.index.toParts());
  for (const p of probes) assert.deepEqual(a.lookup(p), b.lookup(p), p);
}

function assetsSame(a: AssetTable, b: AssetTable, probes: string[]): void {
  assert.equal(a.size, b.size);
  assert.deepEqual(a.allEntries(), b.allEntries());
  assert.deepEqual(a.parts(), b.parts());
  for (const p of probes) {
    assert.deepEqual(a.lookup(p), b.lookup(p), p);
    assert.deepEqual(a.lookup(p, 1_700_000_000_000), b.lookup(p, 1_700_000_000_000), p);
  }
}

test('the range, own-network and asset tables built in the worker equal the in-thread ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-file-worker-'));
  const ranges = join(dir, 'r.csv');
  const yaml = join(dir, 'r.yaml');
  const assets = join(dir, 'a.csv');
  const assetsYaml = join(dir, 'a.yaml');
  writeFileSync(
    ranges,
    'cidr,name,segment,tags\n10.0.0.0/8,corp,inside,internal\n10.1.0.0/16,lab,"lab, west",internal;lab\n10.1.0.0/16,lab2,,x\n192.0.2.7/24,doc,dmz,\n2001:db8::/32,v6,,internal\nbad,,,\n',
  );
  writeFileSync(yaml, 'ranges:\n  - cidr: 198.51.100.0/24\n    name: ünïcode\n    tags: [partner, internal]\n');
  writeFileSync(
    assets,
    'ip,name,vm_id,account,owner,type,env,tags,valid_from,valid_to\n10.0.0.5,web-1,i-1,a1,team,m5,prod,web;critical,,\n10.0.0.6;2001:db8::6,db-1,i-2,a1,team,r5,prod,db,2023-01-01T00:00:00Z,2024-01-01T00:00:00Z\n10.0.0.6,db-2,i-3,a2,ops,r5,dev,db,2024-01-01T00:00:00Z,\n',
  );
  writeFileSync(assetsYaml, 'assets:\n  - ip: 2001:db8::99\n    name: v6-host\n    tags: {Name: x, Role: edge}\n');
  const loader = new FileTableLoader({ sliceMs: 1 });
  try {
    const text = (f: string) => ({ file: f, text: readFileSync(f, 'utf8') });
    const networks = ['192.168.0.0/16', '172.16.0.0/99'];
    const r = await loader.load('ranges', [ranges, yaml], networks);
    // the file has a bad line: nothing is built, the error names file and line
    assert.match(r.error ?? '', /r\.csv:7: "bad" is not an IP address/);
    assert.equal(r.ranges, undefined);
    writeFileSync(ranges, readFileSync(ranges, 'utf8').replace('bad,,,\n', ''));
    const r2 = await loader.load('ranges', [ranges, yaml], networks);
    assert.equal(r2.error, undefined);
    // the worker builds no IPv4 table for the ranges: the address plan beside them answers flows
    const local = loadRangeTable([text(ranges), text(yaml)], { v4Dir: false });
    assert.ok(r2.ranges && r2.own);
    assert.deepEqual(r2.plan, buildPlanParts(rangesPlanInput(local.table), undefined));
    assert.deepEqual(r2.warnings, local.warnings);
    rangesSame(r2.ranges, local.table, ['10.1.2.3', '10.2.0.1', '192.0.2.1', '2001:db8::1', '198.51.100.1', '8.8.8.8']);
    const own = buildOwnNetworks(networks, local.table, { origin: 'enrich.networks' });
    assert.deepEqual(r2.own.errors, own.errors);
    assert.deepEqual(r2.own.table.entries, own.table.entries);
    assert.deepEqual(r2.own.table.index.toParts(), own.table.index.toParts());
    const a = await loader.load('assets', [assets, assetsYaml]);
    assert.equal(a.error, undefined);
    const la = loadAssetTable([text(assets), text(assetsYaml)]);
    assert.ok(a.assets);
    assetsSame(a.assets, la.table, ['10.0.0.5', '10.0.0.6', '2001:db8::6', '2001:db8::99', '10.0.0.7']);
    assert.equal(a.assets.lookup('2001:db8::99')?.name, 'v6-host');
    // a missing file: the error names it
    const m = await loader.load('assets', [join(dir, 'nope.csv')]);
    assert.match(m.error ?? '', /nope\.csv: cannot read/);
    // one thread per load: an idle loader holds no memory
    assert.equal(loader.workersStarted, 4);
  } finally {
    await loader.stop();
  }
});

test('the benchmark tables (1 M ranges, 100 k assets) cross from the worker unchanged', {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-file-worker-big-'));
  benchFiles(dir, rng(3));
  const loader = new FileTableLoader();
  try {
    const f = join(dir, 'ranges.csv');
    const r = await loader.load('ranges', [f], ['10.0.0.0/8']);
    assert.equal(r.error, undefined);
    const local = loadRangeTable([{ file: f, text: readFileSync(f, 'utf8') }], { v4Dir: false });
    assert.ok(r.ranges);
    assert.equal(r.ranges.size, 1_000_000);
    assert.deepEqual(r.ranges.parts(), local.table.parts());
    assert.deepEqual(r.ranges.index.toParts(), local.table.index.toParts());
    const g = join(dir, 'assets.csv');
    const a = await loader.load('assets', [g]);
    const la = loadAssetTable([{ file: g, text: readFileSync(g, 'utf8') }]);
    assert.ok(a.assets);
    assert.deepEqual(a.assets.parts(), la.table.parts());
  } finally {
    await loader.stop();
  }
});

test('the shipped geo/ASN table built in the loader thread is the one loadGeoDb builds in-thread', async () => {
  const here = await loadGeoDb();
  const loader = new FileTableLoader();
  try {
    const r = await loader.load('geo', []);
    assert.equal(r.error, undefined);
    const there = r.geo as GeoTable;
    assert.deepEqual(there.countries, here.countries);
    assert.deepEqual(there.orgs, here.orgs);
    assert.deepEqual(there.origins, here.origins);
    assert.deepEqual(there.triples, here.triples);
    for (const k of ['starts', 'tid', 'index'] as const) {
      assert.deepEqual(there.v4[k], here.v4[k], `v4.${k}`);
      assert.deepEqual(there.v6[k], here.v6[k], `v6.${k}`);
    }
    assert.deepEqual(there.v6.dir?.parts(), here.v6.dir?.parts());
    assert.deepEqual(there.asnKeys, here.asnKeys);
    assert.deepEqual(there.asnOrgs, here.asnOrgs);
    for (const a of ['1.1.1.1', '8.8.8.8', '2a00::1', '2001:4860:4860::8888', '10.1.2.3', '203.0.113.9'])
      assert.deepEqual(describeGeo(there, a), describeGeo(here, a), a);
  } finally {
    await loader.stop();
  }
});
