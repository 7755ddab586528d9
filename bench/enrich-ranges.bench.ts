// Ranges, direction and assets over full batches (8192 flows), with tables of the size a large
// organisation loads:
// * 1 M prefixes shaped like a cloud-provider + BGP-sized list: 90 % /24s (in public space and in
//   10/8), 5 % /16 and /20 blocks of 10/8 that nest them, 5 % IPv6 /32s and /48s. Most carry one of
//   3 000 shared names (cloud service/region labels) and one of ~40 tag lists; the organisation's
//   own ranges in 10/8 (tagged `internal`) have names of their own.
// * 100 k assets, one address each in 10/8, 2 % of them moved once (two time intervals).
// * Flow addresses, per side: 30 % an asset (so also in a range), 20 % elsewhere in a range, 45 %
//   anywhere in IPv4 (mostly in no range), 5 % IPv6 — about half hit a range, 30 % an asset.
// Tables are built from objects inside a function so that the input is garbage when the memory is
// measured (heap + typed-array buffers, after gc when --expose-gc is given); the build from CSV
// text (what loadRangeTable does with a file) is timed separately.

import { type AssetEntry, applyAssets, buildAssetTable } from '../src/enrich/assets/assets.js';
import { applyDirection, buildOwnNetworks } from '../src/enrich/ranges/direction.js';
import { applyRanges, buildRangeTable, loadRangeTable, type RangeEntry } from '../src/enrich/ranges/ranges.js';
import { FlowBatch, formatIPv4 } from '../src/pipeline/flow-batch.js';
import { C, columnIndex } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

const PREFIXES = 1_000_000;
const ASSETS = 100_000;

function mem(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const rand = rng(7);
const int = (n: number) => Math.floor(rand() * n);

/** The prefixes as entries; `v4Nets` gets the network of every IPv4 /24, `orgNets` those in 10/8. */
function rangeEntries(v4Nets: number[], orgNets: number[]): RangeEntry[] {
  const regions = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'];
  const services = Array.from({ length: 500 }, (_, i) => `svc${i}`);
  const names = Array.from({ length: 3000 }, (_, i) => `cloud:${services[i % 500]}:${regions[i % 6]}`);
  const tagLists = Array.from({ length: 40 }, (_, i) => ['cloud', `provider-${i % 4}`, regions[i % 6]]);
  const orgTags = [['internal'], ['internal', 'web'], ['internal', 'db'], ['internal', 'pci']];
  const entries: RangeEntry[] = [];
  const used = new Set<number>();
  for (let i = 0; i < PREFIXES; i++) {
    const k = rand();
    let cidr: string;
    let org = false;
    if (k < 0.9) {
      org = int(20) === 0; // 45 k of the 65 536 /24s of 10/8
      let a = 0;
      // A real list names each /24 once: redraw collisions (10/8 has only 65 536 of them).
      do a = (org ? 0x0a000000 + int(1 << 24) : 0x01000000 + int(0xdf000000)) & 0xffffff00;
      while (used.has(a));
      used.add(a);
      v4Nets.push(a >>> 0);
      if (org) orgNets.push(a >>> 0);
      cidr = `${formatIPv4(a >>> 0)}/24`;
    } else if (k < 0.95) {
      org = true;
      const len = int(2) === 0 ? 16 : 20;
      const a = (0x0a000000 + int(1 << 24)) & (0xffffffff << (32 - len));
      cidr = `${formatIPv4(a >>> 0)}/${len}`;
    } else {
      const h = (n: number) => int(n).toString(16);
      cidr = int(10) === 0 ? `2001:${h(0x10000)}::/32` : `2001:${h(0x10000)}:${h(0x10000)}::/48`;
    }
    entries.push(
      org
        ? { cidr, name: `site-${int(20000)}`, segment: `seg-${int(20)}`, tags: orgTags[int(4)], source: `org.csv:${i}` }
        : { cidr, name: names[int(3000)], segment: '', tags: tagLists[int(40)], source: `cloud.csv:${i}` },
    );
  }
  return entries;
}

function assetEntries(orgNets: number[], assetIps: number[]): AssetEntry[] {
  const tagLists = Array.from({ length: 30 }, (_, i) => ['vm', `app-${i}`]);
  const types = ['m5.large', 'm5.xlarge', 'c5.2xlarge', 't3.micro', 'r5.large'];
  const assets: AssetEntry[] = [];
  for (let i = 0; i < ASSETS; i++) {
    const ip = (orgNets[int(orgNets.length)] + 1 + int(254)) >>> 0;
    assetIps.push(ip);
    const base: AssetEntry = {
      ips: [formatIPv4(ip)],
      name: `host-${i}`,
      vmId: `i-${i.toString(16).padStart(17, '0')}`,
      account: `acct-${i % 40}`,
      owner: `team-${i % 25}`,
      type: types[i % 5],
      env: i % 3 === 0 ? 'prod' : 'dev',
      tags: tagLists[i % 30],
      source: `assets.csv:${i + 2}`,
    };
    if (i % 50 === 0) {
      assets.push({ ...base, validTo: 1_700_000_000_000 });
      assets.push({ ...base, name: `host-${i}-b`, validFrom: 1_700_000_000_000 });
    } else assets.push(base);
  }
  return assets;
}

export async function run(): Promise<BenchResult[]> {
  const v4Nets: number[] = [];
  const orgNets: number[] = [];
  const assetIps: number[] = [];
  const m0 = mem();
  let buildMs = 0;
  const ranges = (() => {
    const entries = rangeEntries(v4Nets, orgNets);
    const t = performance.now();
    const table = buildRangeTable(entries);
    buildMs = performance.now() - t;
    return table;
  })();
  const m1 = mem();
  const own = buildOwnNetworks(['10.0.0.0/8', '100.64.0.0/10', '2001:db8::/32'], ranges);
  const m2 = mem();
  let assetBuildMs = 0;
  const assetTable = (() => {
    const entries = assetEntries(orgNets, assetIps);
    const t = performance.now();
    const table = buildAssetTable(entries);
    assetBuildMs = performance.now() - t;
    return table;
  })();
  const m3 = mem();
  // The same ranges through the file path: CSV text → loadRangeTable (parse + build).
  let csvMs = 0;
  {
    const lines = ['cidr,name,segment,tags'];
    for (const e of rangeEntries([], [])) lines.push(`${e.cidr},${e.name},${e.segment},${e.tags.join(';')}`);
    const text = lines.join('\n');
    const t = performance.now();
    const r = loadRangeTable([{ file: 'ranges.csv', text }]);
    csvMs = performance.now() - t;
    if (r.table.size < PREFIXES * 0.99) throw new Error(`CSV path lost entries: ${r.table.size}`);
  }

  const batch = new FlowBatch(8192);
  for (let r = 0; r < batch.capacity; r++) {
    batch.addRow();
    for (const col of [C.src_addr, C.dst_addr]) {
      const k = rand();
      if (k < 0.3) batch.setIPv4(col, r, assetIps[int(assetIps.length)]);
      else if (k < 0.5) batch.setIPv4(col, r, (v4Nets[int(v4Nets.length)] + int(256)) >>> 0);
      else if (k < 0.95) batch.setIPv4(col, r, int(0x100000000));
      else {
        const w = new Uint8Array(16);
        w[0] = 0x20;
        w[1] = 0x01;
        for (let j = 2; j < 16; j++) w[j] = int(256);
        batch.setIPv6(col, r, w, 0);
      }
    }
    batch.setNum(C.time_start, r, 1_699_000_000_000 + int(2_000_000_000));
  }
  const enrichCols = ['range', 'segment', 'tags', 'host', 'vm_id', 'account', 'owner', 'env', 'asset_type'].flatMap(
    (f) => [`src_${f}`, `dst_${f}`].map((n) => columnIndex(n)),
  );
  // A new batch starts with empty dictionaries: clear them before every pass, as the pipeline does.
  const clear = () => {
    for (const c of enrichCols) {
      batch.valid[c].fill(0, 0, batch.length);
      batch.strings[c]?.clear();
      batch.lists[c]?.clear();
    }
  };
  const rate = (fn: () => void, ms = 1500) => Math.round(batch.length / measure(fn, ms));
  const all = rate(() => {
    clear();
    applyRanges(ranges, batch);
    applyDirection(own, batch);
    applyAssets(assetTable, batch);
  }, 2000);
  let hosts = 0;
  let rangesHit = 0;
  for (let r = 0; r < batch.length; r++) {
    hosts += batch.valid[columnIndex('src_host')][r] + batch.valid[columnIndex('dst_host')][r];
    rangesHit += batch.valid[columnIndex('src_range')][r] + batch.valid[columnIndex('dst_range')][r];
  }
  const distinct = `${batch.strings[columnIndex('src_range')]?.values.length} range names, ${batch.strings[columnIndex('src_host')]?.values.length} hosts, ${batch.lists[columnIndex('src_tags')]?.values.length} tag lists in the src dictionaries`;
  const rangesOnly = rate(() => {
    clear();
    applyRanges(ranges, batch);
  });
  const dirOnly = rate(() => applyDirection(own, batch));
  const assetsOnly = rate(() => {
    clear();
    applyAssets(assetTable, batch);
  });
  const clearOnly = rate(clear, 500);
  // Raw IPv4 LPM rate over addresses in and out of ranges.
  const probes = new Uint32Array(1 << 16);
  for (let i = 0; i < probes.length; i++)
    probes[i] = i % 2 ? (v4Nets[int(v4Nets.length)] + int(256)) >>> 0 : int(0x100000000);
  const idx = ranges.index;
  let sink = 0;
  const lpmSecs = measure(() => {
    for (let i = 0; i < probes.length; i++) sink += idx.lookupV4(probes[i]);
  }, 1000);
  const mb = (b: number) => Math.round(b / 1e5) / 10;
  return [
    {
      name: 'enrich-ranges: applyRanges+applyDirection+applyAssets',
      value: all,
      unit: 'flows/s',
      detail: `8192-row batch, ${rangesHit}/${2 * batch.length} addresses in a range, ${hosts} with an asset; ${distinct}`,
    },
    { name: 'enrich-ranges: applyRanges alone', value: rangesOnly, unit: 'flows/s' },
    {
      name: 'enrich-ranges: applyDirection alone',
      value: dirOnly,
      unit: 'flows/s',
      detail: `${own.table.entries.length} own prefixes`,
    },
    { name: 'enrich-ranges: applyAssets alone', value: assetsOnly, unit: 'flows/s' },
    { name: 'enrich-ranges: (clearing the batch between passes)', value: clearOnly, unit: 'flows/s' },
    {
      name: 'enrich-ranges: IPv4 LPM lookups (1 M prefixes)',
      value: Math.round(probes.length / lpmSecs),
      unit: 'lookups/s',
      detail: sink === 0.5 ? '' : `${ranges.names.length} names, ${ranges.tagLists.length} tag lists`,
    },
    {
      name: 'enrich-ranges: range table memory (1 M prefixes)',
      value: mb(m1 - m0),
      unit: 'MB',
      detail: `typed arrays ${mb(ranges.byteSize)} MB, ${ranges.warnings.length} duplicate prefixes; build from entries ${Math.round(buildMs)} ms, from CSV text ${Math.round(csvMs)} ms`,
    },
    { name: 'enrich-ranges: own networks memory', value: mb(m2 - m1), unit: 'MB' },
    {
      name: 'enrich-ranges: asset table memory (100 k assets)',
      value: mb(m3 - m2),
      unit: 'MB',
      detail: `typed arrays ${mb(assetTable.byteSize)} MB; build ${Math.round(assetBuildMs)} ms`,
    },
  ];
}
