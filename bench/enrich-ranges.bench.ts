// Ranges, direction and assets over full batches (8192 flows), with tables of the size a large
// organisation loads: 1 M prefixes (mostly IPv4 /24s, nested /16 and /20 blocks, IPv6 /32s and
// /48s, ~5 000 distinct names) and 100 k assets. Flow addresses: half of them assets, a third in
// some range, the rest anywhere; 5 % IPv6. Also the raw LPM lookup rate and the memory the tables
// hold (heap + typed-array buffers, measured around the build with gc when --expose-gc is given).

import { type AssetEntry, applyAssets, buildAssetTable } from '../src/enrich/assets/assets.js';
import { applyDirection, buildOwnNetworks } from '../src/enrich/ranges/direction.js';
import { applyRanges, buildRangeTable, type RangeEntry } from '../src/enrich/ranges/ranges.js';
import { FlowBatch, formatIPv4 } from '../src/pipeline/flow-batch.js';
import { C, columnIndex } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

const PREFIXES = 1_000_000;
const ASSETS = 100_000;

function mem(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function run(): Promise<BenchResult[]> {
  const rand = rng(7);
  const int = (n: number) => Math.floor(rand() * n);
  const names = Array.from({ length: 5000 }, (_, i) => `net-${i}`);
  const tagPool = ['internal', 'web', 'db', 'pci', 'dmz', 'lab', 'vpn', 'office'];
  const m0 = mem();
  const entries: RangeEntry[] = [];
  const v4Nets: number[] = [];
  for (let i = 0; i < PREFIXES; i++) {
    const k = rand();
    const name = names[int(names.length)];
    const tags = [tagPool[int(tagPool.length)], tagPool[int(tagPool.length)]].filter((t, j, a) => a.indexOf(t) === j);
    let cidr: string;
    if (k < 0.9) {
      // /24s clustered in 10/8, 100.64/10 and public space, so /16 and /20 blocks nest them
      const a = (int(3) === 0 ? 0x0a000000 + int(1 << 24) : int(0xdf000000) + 0x01000000) & 0xffffff00;
      v4Nets.push(a >>> 0);
      cidr = `${formatIPv4(a >>> 0)}/24`;
    } else if (k < 0.95) {
      const len = int(2) === 0 ? 16 : 20;
      const a = (0x0a000000 + int(1 << 24)) & (0xffffffff << (32 - len));
      cidr = `${formatIPv4(a >>> 0)}/${len}`;
    } else {
      const h = (n: number) => int(n).toString(16);
      cidr = int(10) === 0 ? `2001:${h(0x10000)}::/32` : `2001:${h(0x10000)}:${h(0x10000)}::/48`;
    }
    entries.push({ cidr, name, segment: name.slice(0, 6), tags, source: `bench:${i}` });
  }
  const tBuild = performance.now();
  const ranges = buildRangeTable(entries);
  const buildMs = performance.now() - tBuild;
  const own = buildOwnNetworks(['10.0.0.0/8', '100.64.0.0/10', '2001:db8::/32']);
  const m1 = mem();
  const assets: AssetEntry[] = [];
  const assetIps: number[] = [];
  for (let i = 0; i < ASSETS; i++) {
    const ip = (v4Nets[int(v4Nets.length)] + 1 + int(254)) >>> 0;
    assetIps.push(ip);
    const moved = i % 50 === 0;
    const base: AssetEntry = {
      ips: [formatIPv4(ip)],
      name: `host-${i}`,
      vmId: `i-${i.toString(16).padStart(17, '0')}`,
      account: `acct-${i % 40}`,
      owner: `team-${i % 25}`,
      type: 'm5.large',
      env: i % 3 === 0 ? 'prod' : 'dev',
      tags: ['vm', `app-${i % 30}`],
      source: `bench:${i}`,
    };
    if (moved) {
      assets.push({ ...base, validTo: 1_700_000_000_000 });
      assets.push({ ...base, name: `host-${i}-b`, validFrom: 1_700_000_000_000 });
    } else assets.push(base);
  }
  const tAssets = performance.now();
  const assetTable = buildAssetTable(assets);
  const assetBuildMs = performance.now() - tAssets;
  const m2 = mem();

  const batch = new FlowBatch(8192);
  for (let r = 0; r < batch.capacity; r++) {
    batch.addRow();
    for (const col of [C.src_addr, C.dst_addr]) {
      const k = rand();
      if (k < 0.05) {
        const w = new Uint8Array(16);
        w[0] = 0x20;
        w[1] = 0x01;
        for (let j = 2; j < 16; j++) w[j] = int(256);
        batch.setIPv6(col, r, w, 0);
      } else if (k < 0.55) batch.setIPv4(col, r, assetIps[int(assetIps.length)]);
      else if (k < 0.85) batch.setIPv4(col, r, (v4Nets[int(v4Nets.length)] + int(256)) >>> 0);
      else batch.setIPv4(col, r, int(0x100000000));
    }
    batch.setNum(C.time_start, r, 1_699_000_000_000 + int(2_000_000_000));
  }
  const enrichCols = ['range', 'segment', 'tags', 'host', 'vm_id', 'account', 'owner', 'env', 'asset_type'].flatMap(
    (f) => [`src_${f}`, `dst_${f}`].map((n) => columnIndex(n)),
  );
  const clear = () => {
    for (const c of enrichCols) {
      batch.valid[c].fill(0, 0, batch.length);
      batch.strings[c]?.clear();
      batch.lists[c]?.clear();
    }
  };
  const secs = measure(() => {
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
  const each = (_what: string, fn: () => void) => Math.round(batch.length / measure(fn, 800));
  const rangesOnly = each('ranges', () => {
    clear();
    applyRanges(ranges, batch);
  });
  const dirOnly = each('direction', () => applyDirection(own, batch));
  const assetsOnly = each('assets', () => {
    clear();
    applyAssets(assetTable, batch);
  });
  // Raw IPv4 LPM rate over random addresses in and out of ranges.
  const probes = new Uint32Array(1 << 16);
  for (let i = 0; i < probes.length; i++)
    probes[i] = i % 2 ? (v4Nets[int(v4Nets.length)] + int(256)) >>> 0 : int(0x100000000);
  const pt = ranges.prefixes;
  let sink = 0;
  const lpmSecs = measure(() => {
    for (let i = 0; i < probes.length; i++) sink += pt.lookupV4(probes[i]);
  }, 1000);
  const mb = (b: number) => Math.round(b / 1e5) / 10;
  return [
    {
      name: 'enrich-ranges: applyRanges+applyDirection+applyAssets',
      value: Math.round(batch.length / secs),
      unit: 'flows/s',
      detail: `8192-row batch, ${rangesHit}/${2 * batch.length} addresses in a range, ${hosts} with an asset`,
    },
    { name: 'enrich-ranges: applyRanges alone', value: rangesOnly, unit: 'flows/s' },
    { name: 'enrich-ranges: applyDirection alone', value: dirOnly, unit: 'flows/s' },
    { name: 'enrich-ranges: applyAssets alone', value: assetsOnly, unit: 'flows/s' },
    {
      name: 'enrich-ranges: IPv4 LPM lookups (1 M prefixes)',
      value: Math.round(probes.length / lpmSecs),
      unit: 'lookups/s',
      detail: sink === 0.5 ? '' : `${ranges.labels.length} distinct labels`,
    },
    {
      name: 'enrich-ranges: range table memory (1 M prefixes)',
      value: mb(m1 - m0),
      unit: 'MB',
      detail: `incl. the entry objects; lookup arrays ${mb(ranges.prefixes.byteSize)} MB; build ${Math.round(buildMs)} ms`,
    },
    {
      name: 'enrich-ranges: asset table memory (100 k assets)',
      value: mb(m2 - m1),
      unit: 'MB',
      detail: `incl. the entry objects; typed arrays ${mb(assetTable.byteSize)} MB; build ${Math.round(assetBuildMs)} ms`,
    },
  ];
}
