// Geography/ASN enrichment: load time and memory of the bundled ip-location-db table, raw lookups,
// and applyGeo over full 8192-row batches. Target: the whole enrichment stage (ranges + assets +
// geo + intel) at 3 M flows/s on one core, so geo alone should reach 10 M flows/s.
//
// Address mixes:
//  * egress: an internal (10/8) client talking to a public server drawn from 2 000 destinations
//    with a skewed popularity (a few CDNs and clouds take most flows), 10 % IPv6 — typical edge traffic;
//  * public/distinct: both ends public and all 16 384 addresses of a batch different — the worst
//    case for caches (transit or scan traffic).
// Public addresses are drawn from the table's own intervals, so every one is a real, covered range.

import { applyGeo, type GeoTable, loadGeoDb, lookup4 } from '../src/enrich/geo/index.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

export async function run(): Promise<BenchResult[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const table = await loadGeoDb();
  const loadMs = performance.now() - t0;
  // Let the file buffers of the load be released before measuring what the table keeps.
  await new Promise((res) => setTimeout(res, 200));
  gc?.();
  const m1 = process.memoryUsage();
  const mb = (x: number) => Math.round(x / 1e5) / 10;
  const out: BenchResult[] = [
    {
      name: 'geo: load ip-location-db country+ASN',
      value: Math.round(loadMs),
      unit: 'ms',
      detail: `build ${Math.round(table.buildMs)} ms; ${table.v4.length} v4 + ${table.v6.length} v6 intervals, ${table.orgs.length} orgs`,
    },
    {
      name: 'geo: table memory',
      value: mb(m1.heapUsed - m0.heapUsed + m1.arrayBuffers - m0.arrayBuffers),
      unit: 'MB',
      detail: `heap ${mb(m1.heapUsed - m0.heapUsed)} + typed arrays ${mb(m1.arrayBuffers - m0.arrayBuffers)}; rss ${mb(m1.rss)}${gc ? '' : ' (no --expose-gc: upper bound)'}`,
    },
  ];

  const r = rng(7);
  const pub4 = (): number => {
    const k = 1 + Math.floor(r() * (table.v4.length - 1));
    const s = table.v4.starts[k];
    const e = k + 1 < table.v4.length ? table.v4.starts[k + 1] : 0x100000000;
    const v = s + Math.floor(r() * (e - s));
    const k4 = lookup4(table.v4, v);
    return k4 < 0 || table.triples[table.v4.tid[k4] * 3] === 0 ? pub4() : v;
  };
  const pub6 = (w: Uint32Array, o: number): void => {
    const k = 1 + Math.floor(r() * (table.v6.length - 1));
    w.set(table.v6.starts.subarray(k * 4, k * 4 + 4), o);
    w[o + 3] = (w[o + 3] + Math.floor(r() * 256)) >>> 0;
    if (w[o] >>> 29 !== 1 || w[o] === 0x20010db8 || w[o] >>> 9 === 0x20010000 >>> 9) pub6(w, o);
  };

  const keys = new Uint32Array(8192);
  for (let i = 0; i < keys.length; i++) keys[i] = pub4();
  let found = 0;
  const lsecs = measure(() => {
    found = 0;
    for (let i = 0; i < keys.length; i++) if (lookup4(table.v4, keys[i]) >= 0) found++;
  }, 1000);
  out.push({
    name: 'geo: lookup4',
    value: Math.round(keys.length / lsecs),
    unit: 'lookups/s',
    detail: `${found} found`,
  });

  // egress mix
  const pool: { v6: boolean; v4: number; w: Uint32Array }[] = [];
  for (let i = 0; i < 2000; i++) {
    const w = new Uint32Array(4);
    const v6 = r() < 0.1;
    if (v6) pub6(w, 0);
    pool.push({ v6, v4: v6 ? 0 : pub4(), w });
  }
  const egress = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  for (let i = 0; i < egress.capacity; i++) {
    const row = egress.addRow();
    const dst = pool[Math.floor(pool.length * r() ** 3)]; // skewed popularity
    if (dst.v6) {
      const sw = egress.data[C.src_addr] as Uint32Array;
      sw.set([0xfd000000, 0, 0, 1 + (i & 255)], row * 4); // ULA client
      egress.valid[C.src_addr][row] = 1;
      (egress.data[C.dst_addr] as Uint32Array).set(dst.w, row * 4);
      egress.valid[C.dst_addr][row] = 1;
    } else {
      egress.setIPv4(C.src_addr, row, (0x0a000000 | Math.floor(r() * 0xffffff)) >>> 0);
      egress.setIPv4(C.dst_addr, row, dst.v4);
    }
  }
  const distinct = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  for (let i = 0; i < distinct.capacity; i++) {
    const row = distinct.addRow();
    for (const col of [C.src_addr, C.dst_addr]) {
      if (r() < 0.1) {
        pub6(distinct.data[col] as Uint32Array, row * 4);
        distinct.valid[col][row] = 1;
      } else distinct.setIPv4(col, row, pub4());
    }
  }
  for (const [label, b] of [
    ['egress mix', egress],
    ['public/distinct', distinct],
  ] as const) {
    const secs = measure(() => {
      clearGeo(b);
      applyGeo(table, b);
    }, 1500);
    const clearSecs = measure(() => clearGeo(b), 300);
    applyGeo(table, b);
    let filled = 0;
    for (let i = 0; i < b.length; i++) filled += b.valid[C.src_country][i] + b.valid[C.dst_country][i];
    out.push({
      name: `geo: applyGeo, ${label}`,
      value: Math.round(b.length / secs),
      unit: 'flows/s',
      detail: `${filled}/${2 * b.length} ends located; includes resetting the 6 columns (${Math.round(b.length / clearSecs / 1e6)} M rows/s alone)`,
    });
  }
  return out;
}

function clearGeo(b: FlowBatch): void {
  for (const col of [C.src_country, C.dst_country, C.src_asn, C.dst_asn, C.src_as_name, C.dst_as_name]) {
    b.valid[col].fill(0, 0, b.length);
    b.strings[col]?.clear();
  }
}

export type { GeoTable };
