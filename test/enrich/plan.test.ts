// The address plan (src/enrich/plan.ts) against the two tables it overlays, on the shipped
// ip-location-db geography and random nested ranges: for every probe address the plan's
// combination must be the range label the ranges' own lookup finds and the geography record the
// geo table's lookup finds (none for non-global addresses). Probes: random IPv4 and IPv6, every
// interval start of both tables and the address before it, and the edges of the non-global blocks.
// Then applyPlan must write the same columns as applyRanges + applyGeo, on batches that also carry
// values of their own (exporter AS numbers, a source's own country, range columns already set), and
// Enrichment must use a plan built for the tables in use, also after a reload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyGeo } from '../../src/enrich/geo/apply.js';
import { type GeoTable, loadGeoDb, lookup4, lookup6 } from '../../src/enrich/geo/index.js';
import { Enrichment } from '../../src/enrich/manager.js';
import { AddressPlan, applyPlan, buildPlanParts, geoPlanInput, rangesPlanInput } from '../../src/enrich/plan.js';
import {
  applyRanges,
  buildRangeTable,
  type RangeEntry,
  type RangeTable,
  RangeTableBuilder,
} from '../../src/enrich/ranges/ranges.js';
import { defaultEnrichSettings } from '../../src/enrich/settings.js';
import { FlowBatch, formatAddrWords, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { rng } from '../helpers/rng.js';

const v4text = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

function randomRanges(next: () => number, n: number): RangeEntry[] {
  const int = (k: number) => Math.floor(next() * k);
  const out: RangeEntry[] = [];
  const hex = () => int(65536).toString(16);
  for (let i = 0; i < n; i++) {
    const x = next();
    let cidr: string;
    if (x < 0.7) {
      // nested IPv4 prefixes of every length, in global and private space alike
      const len = int(33);
      const base = [0x0a000000, 0xc0a80000, 0x08080000, 0x2d000000][int(4)] + int(1 << 20) * 16;
      const a = len === 0 ? 0 : (base & ~(2 ** (32 - len) - 1)) >>> 0;
      cidr = `${v4text(a >>> 0)}/${len}`;
    } else {
      const len = [0, 16, 32, 48, 64, 96, 128][int(7)];
      const first = ['2001:db8', '2a00', '2a03', '2c0f', 'fd00'][int(5)];
      cidr = `${first}:${hex()}:${hex()}::${hex()}/${Math.max(len, 16)}`;
    }
    out.push({
      cidr,
      name: `r${int(50)}`,
      segment: int(3) === 0 ? '' : `s${int(5)}`,
      tags: int(2) === 0 ? [] : [`t${int(4)}`],
      source: `x.csv:${i + 2}`,
    });
  }
  return out;
}

let geoTable: GeoTable | undefined;
async function geo(): Promise<GeoTable> {
  geoTable ??= await loadGeoDb();
  return geoTable;
}

/** The combination the plan should give: [range label, geo record] (-1: none). */
function expected(r: RangeTable | undefined, g: GeoTable | undefined, w: Uint32Array): [number, number] {
  const label = r === undefined ? -1 : r.index.lookupWords(w, 0);
  let rec = -1;
  if (g !== undefined) {
    const v4 = w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
    const k = v4 ? lookup4(g.v4, w[3]) : lookup6(g.v6, w, 0);
    rec = k < 0 ? -1 : v4 ? g.v4.tid[k] : g.v6.tid[k];
  }
  return [label, rec];
}

function probes(next: () => number, r: RangeTable | undefined, g: GeoTable | undefined): Uint32Array[] {
  const out: Uint32Array[] = [];
  const v4 = (a: number) => Uint32Array.of(0, 0, 0xffff, a >>> 0);
  for (let i = 0; i < 20_000; i++) out.push(v4(Math.floor(next() * 2 ** 32)));
  for (let i = 0; i < 5_000; i++)
    out.push(Uint32Array.of(0x20000000 + Math.floor(next() * 2 ** 29), next() * 2 ** 32, next() * 2 ** 32, 0));
  // every start and the address before it
  const starts4 = [...(r ? [r.index.v4Starts] : []), ...(g ? [g.v4.starts] : [])];
  for (const s of starts4)
    for (let k = 0; k < s.length; k += s.length > 50_000 ? 7 : 1) {
      out.push(v4(s[k]));
      out.push(v4(s[k] - 1));
    }
  const starts6 = [...(r ? [r.index.v6Starts] : []), ...(g ? [g.v6.starts] : [])];
  for (const s of starts6)
    for (let k = 0; k < s.length / 4; k += s.length > 200_000 ? 5 : 1) {
      const w = s.slice(k * 4, k * 4 + 4);
      out.push(w);
      const before = w.slice();
      for (let j = 3; j >= 0; j--) {
        before[j] = (before[j] - 1) >>> 0;
        if (before[j] !== 0xffffffff) break;
      }
      out.push(before);
    }
  // the edges of the non-global blocks
  for (const e of [0x0a000000, 0x64400000, 0x7f000000, 0xa9fe0000, 0xac100000, 0xc0000000, 0xc0000200, 0xc0a80000])
    for (const d of [-1, 0, 255, 256]) out.push(v4(e + d));
  for (const w0 of [0x1fffffff, 0x20000000, 0x2000ffff, 0x20010000, 0x200101ff, 0x20010200, 0x20010db8, 0x20010db9])
    out.push(Uint32Array.of(w0, 0, 0, 0), Uint32Array.of(w0, 0xffffffff, 0xffffffff, 0xffffffff));
  return out;
}

test('the plan answers every address as the range and geography tables do', async () => {
  const g = await geo();
  const next = rng(11);
  const r = buildRangeTable(randomRanges(next, 3000));
  for (const [rt, gt] of [
    [r, g],
    [r, undefined],
    [undefined, g],
  ] as const) {
    const plan = new AddressPlan(buildPlanParts(rt && rangesPlanInput(rt), gt && geoPlanInput(gt)), rt, gt);
    let checked = 0;
    for (const w of probes(next, rt, gt)) {
      const c = plan.lookupWords(w, 0);
      const got = [plan.combos[c * 2], plan.combos[c * 2 + 1]];
      assert.deepEqual(got, expected(rt, gt, w), `${formatAddrWords(w, 0)} (ranges ${!!rt}, geo ${!!gt})`);
      checked++;
    }
    assert.ok(checked > 30_000, `${checked} probes`);
  }
});

test('ranges built without their own IPv4 table answer from their partition alike', () => {
  const next = rng(5);
  const entries = randomRanges(next, 2000);
  const withDir = buildRangeTable(entries);
  const builder = new RangeTableBuilder();
  for (const x of entries) builder.addEntry(x);
  const without = builder.build({ v4Dir: false });
  assert.ok(withDir.index.toParts().l1.length > 0);
  assert.equal(without.index.toParts().l1.length, 0);
  const starts = withDir.index.v4Starts;
  const edges = Array.from(starts, (s) => [s, s - 1]).flat();
  for (let i = 0; i < 50_000; i++) edges.push(Math.floor(next() * 2 ** 32));
  for (const e of edges) {
    const a = e >>> 0;
    assert.equal(without.index.lookupV4(a), withDir.index.lookupV4(a), v4text(a));
  }
});

function batchFrom(next: () => number, probesList: Uint32Array[]): FlowBatch {
  const b = new FlowBatch(2048);
  const int = (k: number) => Math.floor(next() * k);
  for (let r = 0; r < b.capacity; r++) {
    b.addRow();
    for (const col of [C.src_addr, C.dst_addr]) {
      if (int(50) === 0) continue; // no address
      (b.data[col] as Uint32Array).set(probesList[int(probesList.length)], r * 4);
      b.valid[col][r] = 1;
    }
    // what sources fill themselves: AS numbers from the exporter (0: no BGP), GCP's country
    if (int(5) === 0) b.setNum(C.src_asn, r, int(3) === 0 ? 0 : [15169, 13335, 64512][int(3)]);
    if (int(7) === 0) b.setString(C.dst_country, r, 'ZZ');
    if (int(9) === 0) b.setString(C.dst_as_name, r, 'exporter org');
  }
  return b;
}

function columns(b: FlowBatch): unknown[][] {
  const cols = [
    C.src_range,
    C.dst_range,
    C.src_segment,
    C.dst_segment,
    C.src_tags,
    C.dst_tags,
    C.src_country,
    C.dst_country,
    C.src_asn,
    C.dst_asn,
    C.src_as_name,
    C.dst_as_name,
  ];
  return cols.map((c) => {
    const out: unknown[] = [];
    for (let r = 0; r < b.length; r++) {
      if (b.isNull(c, r)) out.push(null);
      else if (b.strings[c]) out.push(b.getString(c, r));
      else if (b.lists[c]) out.push(b.getList(c, r));
      else out.push(b.getNum(c, r));
    }
    return out;
  });
}

test('applyPlan writes what applyRanges and applyGeo write, also over values a source filled', async () => {
  const g = await geo();
  const next = rng(23);
  const r = buildRangeTable(randomRanges(next, 2000));
  const plan = new AddressPlan(buildPlanParts(rangesPlanInput(r), geoPlanInput(g)), r, g);
  const list = probes(next, r, g);
  for (let i = 0; i < 6; i++) {
    const seed = 100 + i;
    const a = batchFrom(rng(seed), list);
    const b = batchFrom(rng(seed), list);
    if (i % 2 === 1) {
      // a batch whose range columns already hold values (the private-dictionary path)
      a.setString(C.src_range, 0, 'from the source');
      b.setString(C.src_range, 0, 'from the source');
    }
    applyRanges(r, a);
    applyGeo(g, a);
    applyPlan(plan, b);
    assert.deepEqual(columns(b), columns(a), `batch ${i}`);
  }
});

test('Enrichment uses a plan built for the tables in use, also after the ranges reload', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-plan-'));
  try {
    const file = join(dir, 'ranges.csv');
    writeFileSync(file, 'cidr,name,segment,tags\n8.8.8.0/24,dns,public,google\n');
    const e = new Enrichment(
      { ...defaultEnrichSettings(), ranges: [file], geo: true, reloadInterval: 50 },
      { cacheDir: join(dir, 'cache') },
    );
    await e.load();
    e.start();
    try {
      const t = e.tables;
      assert.ok(t.plan);
      assert.equal(t.plan.ranges, t.ranges);
      assert.equal(t.plan.geo, t.geo);
      const one = (addr: string) => {
        const b = new FlowBatch(4);
        b.addRow();
        (b.data[C.src_addr] as Uint32Array).set(parseAddr(addr) as Uint32Array, 0);
        b.valid[C.src_addr][0] = 1;
        e.apply(b);
        return [b.getString(C.src_range, 0), b.getString(C.src_country, 0), b.getNum(C.src_asn, 0)];
      };
      assert.deepEqual(one('8.8.8.8'), ['dns', 'US', 15169]);
      writeFileSync(file, 'cidr,name,segment,tags\n8.8.0.0/16,google-wide,public,google\n');
      const deadline = Date.now() + 10_000;
      while (e.reloads < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      assert.equal(e.reloads, 1);
      const t2 = e.tables;
      assert.ok(t2.plan && t2.plan !== t.plan);
      assert.equal(t2.plan.ranges, t2.ranges, 'the new plan is built for the new ranges');
      assert.equal(t2.plan.geo, t2.geo, '… and the geography in use');
      assert.deepEqual(one('8.8.4.4'), ['google-wide', 'US', 15169]);
      assert.deepEqual(
        e
          .describe('8.8.4.4')
          .map((h) => h.kind)
          .sort(),
        ['asn', 'geo', 'range'],
      );
    } finally {
      e.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('geography alone builds no plan (it would add memory, not replace a table) and still enriches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-plan-geo-'));
  try {
    const e = new Enrichment({ ...defaultEnrichSettings(), geo: true }, { cacheDir: join(dir, 'cache') });
    await e.load();
    try {
      assert.ok(e.tables.geo);
      assert.equal(e.tables.plan, undefined);
      const b = new FlowBatch(4);
      b.addRow();
      (b.data[C.dst_addr] as Uint32Array).set(parseAddr('8.8.8.8') as Uint32Array, 0);
      b.valid[C.dst_addr][0] = 1;
      e.apply(b);
      assert.equal(b.getString(C.dst_country, 0), 'US');
      assert.equal(b.getNum(C.dst_asn, 0), 15169);
    } finally {
      e.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
