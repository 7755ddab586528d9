// The address plan: one lookup per address answers both the IP ranges and the geography/ASN table
// (issue 5: the whole enrichment stage at >= 3 M flows/s).
//
// Ranges and geography each partition the address space, and each looked an address up on its
// own: the ranges through their DIR-16-8-8 table, then the label's record; geography through a
// /16 index, a binary search over its interval starts, then the interval's record. With 1 M ranges
// and the shipped geography, that is six to eight dependent cache misses per address, and the two
// tables' working sets evicted each other (each enricher alone cost 40 % less than inside the
// stage). The plan overlays the two partitions once, when either table is (re)built: every
// interval where both answers stay the same becomes one "combination" (range label, geography
// record), and the combinations are written into one DIR-16-8-8 table for IPv4 and one Starts6
// directory for IPv6. A lookup is then l1 → l2 → l3 → a 2-word combination, whose label and geo
// record index small tables that stay in cache. Measured on bench/enrich.bench.ts (same data,
// paired): ranges + geography together 75–85 ns/flow less inside the stage.
//
// The plan is built in the file loader thread beside the table that changed (file-worker.ts), from
// the new table and the partner table's partition sent along, and swapped in with it: a batch sees
// the plan of the tables it runs with. It exists only where there are ranges: it replaces their own
// IPv4 table (66 MB at 1 M ranges) and costs less than it; geography alone keeps its own table
// (serve's default setup, where a plan would be memory added, not replaced). It records which table objects it was built for;
// Enrichment.apply() uses it only while those are the tables in use, and otherwise runs the
// enrichers one by one (ranges then answer IPv4 with a binary search over their partition, since
// their own DIR table is not built when a plan is).
//
// Geography is answered only for global addresses (lookup4/lookup6 in geo/table.ts): the non-global
// blocks are a third partition in the overlay, so the plan gives "no geography" exactly where the
// geo table does.

import type { FlowBatch } from '../pipeline/flow-batch.js';
import { C } from '../schema/columns.js';
import { grown, RecordInterner } from '../util/typed-arrays.js';
import { geoScratch, writeGeoSide } from './geo/apply.js';
import { type GeoTable, isGlobal4, isGlobal6 } from './geo/table.js';
import { dir16x8x8, dirLookup } from './ranges/lpm.js';
import { type RangeTable, writeRangeLabels } from './ranges/ranges.js';
import { Starts6, type Starts6Parts } from './ranges/starts6.js';

/** A range table's partitions: from starts[k] on, label vals[k] (-1: none). IPv6 starts are 4 words. */
export interface RangesPlanInput {
  v4Starts: Uint32Array;
  v4Vals: Int32Array;
  v6Starts: Uint32Array;
  v6Vals: Int32Array;
}

/** A geography table's partitions: from starts[k] on, record tid[k] of its triples. */
export interface GeoPlanInput {
  v4Starts: Uint32Array;
  v4Tid: Uint32Array;
  v6Starts: Uint32Array;
  v6Tid: Uint32Array;
}

/** A plan as typed arrays (built in the loader thread, transferred). */
export interface PlanParts {
  l1: Int32Array;
  l2: Int32Array;
  l3: Int32Array;
  /** Per combination, 2 words: the range label (-1: none) and the geography record (-1: none). */
  combos: Int32Array;
  v6Starts: Uint32Array;
  /** Per IPv6 interval: its combination. */
  v6Combo: Int32Array;
  v6Dir: Starts6Parts;
}

export function rangesPlanInput(t: RangeTable): RangesPlanInput {
  const i = t.index;
  return { v4Starts: i.v4Starts, v4Vals: i.v4Vals, v6Starts: i.v6Starts, v6Vals: i.v6Vals };
}

export function geoPlanInput(t: GeoTable): GeoPlanInput {
  return { v4Starts: t.v4.starts, v4Tid: t.v4.tid, v6Starts: t.v6.starts, v6Tid: t.v6.tid };
}

/** A partition over 1- or 4-word starts (the first start is the lowest address), values per interval. */
interface Part {
  starts: Uint32Array;
  vals: Int32Array | Uint32Array;
}

// A table that is absent: one interval, no value.
const NONE4: Part = { starts: new Uint32Array(1), vals: Int32Array.of(-1) };
const NONE6: Part = { starts: new Uint32Array(4), vals: Int32Array.of(-1) };

/** Overlay the partitions of either or both tables into combinations; see the header. */
export function buildPlanParts(ranges: RangesPlanInput | undefined, geo: GeoPlanInput | undefined): PlanParts {
  const combos = new Combos();
  const r4: Part = ranges ? { starts: ranges.v4Starts, vals: ranges.v4Vals } : NONE4;
  const r6: Part = ranges ? { starts: ranges.v6Starts, vals: ranges.v6Vals } : NONE6;
  const g4: Part = geo && geo.v4Tid.length > 0 ? { starts: geo.v4Starts, vals: geo.v4Tid } : NONE4;
  const g6: Part = geo && geo.v6Tid.length > 0 ? { starts: geo.v6Starts, vals: geo.v6Tid } : NONE6;
  const v4 = overlay(1, r4, g4, global4(), combos);
  const dir = dir16x8x8(v4.starts, v4.combo, v4.combo.length);
  const v6 = overlay(4, r6, g6, GLOBAL6, combos);
  return {
    l1: dir.l1,
    l2: dir.l2,
    l3: dir.l3,
    combos: combos.done(),
    v6Starts: v6.starts,
    v6Combo: v6.combo,
    v6Dir: new Starts6(v6.starts).parts(),
  };
}

/** Where addresses are global (1) or not (0), as lookup4 and lookup6 decide: geography only for global ones. */
let global4Part: Part | null = null;

function global4(): Part {
  if (global4Part !== null) return global4Part;
  const starts: number[] = [0];
  const vals: number[] = [isGlobal4(0) ? 1 : 0];
  // every non-global block is /24-aligned or larger
  for (let b = 1; b < 2 ** 24; b++) {
    const g = isGlobal4(b * 256) ? 1 : 0;
    if (g !== vals[vals.length - 1]) {
      starts.push(b * 256);
      vals.push(g);
    }
  }
  global4Part = { starts: Uint32Array.from(starts), vals: Int32Array.from(vals) };
  return global4Part;
}

const GLOBAL6: Part = (() => {
  // isGlobal6 depends on the first word only, and changes at these values of it
  const at = [0, 0x20000000, 0x20010000, 0x20010200, 0x20010db8, 0x20010db9, 0x40000000];
  const starts = new Uint32Array(at.length * 4);
  const vals = new Int32Array(at.length);
  at.forEach((w0, k) => {
    starts[k * 4] = w0;
    vals[k] = isGlobal6(w0) ? 1 : 0;
  });
  return { starts, vals };
})();

/** Combination ids of (label, geography record) pairs, interned. */
class Combos {
  private readonly recs = new RecordInterner(new Int32Array(2 * 1024), 2);

  id(label: number, geo: number): number {
    // labels and records are below 2^31 and 2^22 - 1 (a record per country and AS met together)
    if (geo >= 2 ** 22 - 1) throw new RangeError('address plan: more than 4 M geography records');
    return this.recs.id((label + 1) * 2 ** 22 + (geo + 1), label, geo);
  }

  done(): Int32Array {
    return this.recs.done();
  }
}

/**
 * Sweep the three partitions (w words per start) together: at each start of any of them the
 * answer may change; a new interval is emitted only where the combination does.
 */
function overlay(w: 1 | 4, r: Part, g: Part, global: Part, combos: Combos): { starts: Uint32Array; combo: Int32Array } {
  const parts = [r, g, global];
  const at = [0, 0, 0];
  const count = parts.map((p) => p.starts.length / w);
  let starts = new Uint32Array(1024 * w);
  let combo = new Int32Array(1024);
  let n = 0;
  const x = new Uint32Array(w);
  const cmp = (p: Part, k: number): number => {
    for (let j = 0; j < w; j++) {
      const v = p.starts[k * w + j];
      if (v !== x[j]) return v < x[j] ? -1 : 1;
    }
    return 0;
  };
  // x = the lowest address (all zeros): every partition's first interval holds there
  for (;;) {
    const label = r.vals[at[0]];
    const geo = global.vals[at[2]] === 1 ? g.vals[at[1]] : -1;
    const c = combos.id(label, geo);
    if (n === 0 || combo[n - 1] !== c) {
      starts = grown(starts, (n + 1) * w);
      combo = grown(combo, n + 1);
      starts.set(x, n * w);
      combo[n++] = c;
    }
    // the next start after x of any partition
    let next = -1;
    for (let i = 0; i < 3; i++) {
      if (at[i] + 1 >= count[i]) continue;
      if (next < 0 || lessThan(parts[i].starts, (at[i] + 1) * w, parts[next].starts, (at[next] + 1) * w, w)) next = i;
    }
    if (next < 0) break;
    x.set(parts[next].starts.subarray((at[next] + 1) * w, (at[next] + 2) * w));
    for (let i = 0; i < 3; i++) while (at[i] + 1 < count[i] && cmp(parts[i], at[i] + 1) <= 0) at[i]++;
  }
  return { starts: starts.slice(0, n * w), combo: combo.slice(0, n) };
}

function lessThan(a: Uint32Array, ao: number, b: Uint32Array, bo: number, w: number): boolean {
  for (let j = 0; j < w; j++) if (a[ao + j] !== b[bo + j]) return a[ao + j] < b[bo + j];
  return false;
}

export class AddressPlan {
  private readonly l1: Int32Array;
  private readonly l2: Int32Array;
  private readonly l3: Int32Array;
  readonly combos: Int32Array;
  private readonly v6Combo: Int32Array;
  private readonly v6: Starts6;

  /** `ranges` and `geo`: the table objects it was built from (undefined: built without that table). */
  constructor(
    parts: PlanParts,
    readonly ranges: RangeTable | undefined,
    readonly geo: GeoTable | undefined,
  ) {
    this.l1 = parts.l1;
    this.l2 = parts.l2;
    this.l3 = parts.l3;
    this.combos = parts.combos;
    this.v6Combo = parts.v6Combo;
    this.v6 = new Starts6(parts.v6Starts, parts.v6Dir);
  }

  /** The combination of the address at words[o..o+3] (any family). */
  lookupWords(words: Uint32Array, o: number): number {
    if (words[o] === 0 && words[o + 1] === 0 && words[o + 2] === 0xffff)
      return dirLookup(this.l1, this.l2, this.l3, words[o + 3]);
    return this.v6Combo[this.v6.find(words, o)];
  }
}

// per row of a side: the range label and the geography record (-1: none)
let rowLabels = new Int32Array(0);
let rowGeo = new Int32Array(0);

/**
 * Ranges and geography of both sides of every row, as applyRanges and applyGeo would write them
 * with the plan's tables (test/enrich/plan.test.ts compares the two on the same batches).
 */
export function applyPlan(plan: AddressPlan, batch: FlowBatch): void {
  const n = batch.length;
  if (n === 0) return;
  const ranges = plan.ranges !== undefined && plan.ranges.size > 0 ? plan.ranges : undefined;
  const geo = plan.geo;
  const pass = ranges !== undefined ? ranges.nextPass() : 0;
  const scratch = geo !== undefined ? geoScratch(geo) : undefined;
  if (rowLabels.length < n) {
    rowLabels = new Int32Array(batch.capacity);
    rowGeo = new Int32Array(batch.capacity);
  }
  const labels = rowLabels;
  const geoRec = rowGeo;
  const combos = plan.combos;
  for (const side of [0, 1] as const) {
    const col = side === 0 ? C.src_addr : C.dst_addr;
    const addrs = batch.data[col] as Uint32Array;
    const valid = batch.valid[col];
    // First only the lookups, with nothing between them: independent rows' cache misses overlap.
    for (let r = 0; r < n; r++) {
      if (valid[r] === 0) {
        labels[r] = -1;
        geoRec[r] = -1;
        continue;
      }
      const c = plan.lookupWords(addrs, r * 4) * 2;
      labels[r] = combos[c];
      geoRec[r] = combos[c + 1];
    }
    if (ranges !== undefined) writeRangeLabels(ranges, batch, pass, side, labels);
    if (geo !== undefined && scratch !== undefined) writeGeoSide(geo, batch, scratch, side, geoRec, geo.triples);
  }
}
