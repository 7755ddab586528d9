// applyIntel over 8192-row batches against a 1 M-indicator table (600 k IPv4 addresses, 150 k IPv4
// CIDRs of /16–/30, 100 k IPv6 addresses, 50 k IPv6 prefixes, 100 k domains), with ~0.1 % of flows
// matching; the table's heap; and the rebuild (hot reload) time from parsed indicators.
// Flows: random external IPv4 peers against 10.x hosts, 10 % IPv6, DNS/SNI/Host names on a third.

import type { Indicator } from '../src/enrich/intel/feeds.js';
import { applyIntel, buildIntelTable } from '../src/enrich/intel/intel.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

const N = 1_000_000;

function indicators(next: () => number): Indicator[] {
  const out: Indicator[] = [];
  const feeds = ['spamhaus-drop', 'feodo', 'misp-osint', 'stix-partner', 'internal'];
  const push = (type: Indicator['type'], value: string, k: number) =>
    out.push({ type, value, feed: feeds[k % feeds.length], confidence: 30 + (k % 71), source: `feed.txt:${k + 1}` });
  const v4 = () =>
    `${11 + Math.floor(next() * 89)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}`;
  const hex = () => Math.floor(next() * 65536).toString(16);
  for (let k = 0; k < N; k++) {
    const x = k / N;
    if (x < 0.6) push('ip', v4(), k);
    else if (x < 0.75) {
      // listed space is 11.0.0.0–99.255.255.255 so that the unlisted flows below (10/8, 198/8) stay unlisted
      const len = 16 + Math.floor(next() * 15);
      const a = ((11 + Math.floor(next() * 89)) * 2 ** 24 + Math.floor(next() * 2 ** 24)) & ~(2 ** (32 - len) - 1);
      push('cidr', `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`, k);
    } else if (x < 0.85) push('ip', `2001:db8:${hex()}:${hex()}::${hex()}`, k);
    else if (x < 0.9) push('cidr', `2a0${Math.floor(next() * 10)}:${hex()}:${hex()}::/48`, k);
    else push('domain', `${hex()}${hex()}.bad${Math.floor(next() * 1000)}.test`, k);
  }
  return out;
}

function batchOf(next: () => number, inds: Indicator[]): FlowBatch {
  const b = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  const names = ['www.example.com', 'api.example.org', 'cdn.example.net', 'updates.vendor.test'];
  const v6 = new Uint8Array(16);
  while (!b.full) {
    const r = b.addRow();
    b.setIPv4(C.src_addr, r, (0x0a000000 + Math.floor(next() * 65536)) >>> 0);
    if (next() < 0.1) {
      for (let i = 0; i < 16; i++) v6[i] = Math.floor(next() * 256);
      v6[0] = 0x24;
      b.setIPv6(C.dst_addr, r, v6, 0);
    } else b.setIPv4(C.dst_addr, r, (0xc6000000 + Math.floor(next() * 2 ** 24)) >>> 0); // 198.0.0.0/8, mostly unlisted
    if (next() < 0.33) b.setString(C.dns_qname, r, names[Math.floor(next() * names.length)]);
    if (next() < 0.001) {
      // a listed address or domain
      const ind = inds[Math.floor(next() * inds.length)];
      if (ind.type === 'ip' && !ind.value.includes(':')) {
        const p = ind.value.split('.').map(Number);
        b.setIPv4(C.dst_addr, r, ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0);
      } else if (ind.type === 'domain') b.setString(C.dns_qname, r, `x.${ind.value}`);
    }
  }
  return b;
}

function clearIntel(b: FlowBatch): void {
  for (const col of [C.ti_feeds, C.ti_indicator]) b.valid[col].fill(0, 0, b.length);
}

export async function run(): Promise<BenchResult[]> {
  const next = rng(0x1badf00d);
  const inds = indicators(next);
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let table = buildIntelTable(inds);
  const buildMs = performance.now() - t0;
  globalThis.gc?.();
  const heap1 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const st = table.stats();
  const out: BenchResult[] = [
    {
      name: 'intel: build table from 1 M indicators (reload)',
      value: Math.round(buildMs),
      unit: 'ms',
      detail: `${st.exactV4} v4, ${st.cidrV4} v4 CIDR, ${st.exactV6} v6, ${st.cidrV6} v6 CIDR, ${st.domains} domains`,
    },
    {
      name: 'intel: table memory (heap + array buffers)',
      value: Math.round((heap1 - heap0) / 1048576),
      unit: 'MiB',
      detail: `typed arrays ${Math.round(st.typedBytes / 1048576)} MiB${globalThis.gc ? '' : ' (run with --expose-gc for a precise figure)'}`,
    },
  ];
  const batches = [batchOf(next, inds), batchOf(next, inds), batchOf(next, inds), batchOf(next, inds)];
  let matched = 0;
  const secs = measure(() => {
    matched = 0;
    for (const b of batches) {
      clearIntel(b);
      matched += applyIntel(table, b);
    }
  }, 1500);
  out.push({
    name: 'intel: applyIntel, 8192-row batches, 1 M indicators',
    value: Math.round((batches.length * DEFAULT_BATCH_CAPACITY) / secs),
    unit: 'flows/s',
    detail: `${matched}/${batches.length * DEFAULT_BATCH_CAPACITY} flows matched`,
  });
  const t1 = performance.now();
  table = buildIntelTable(inds);
  out.push({ name: 'intel: second rebuild (warm)', value: Math.round(performance.now() - t1), unit: 'ms' });
  return out;
}
