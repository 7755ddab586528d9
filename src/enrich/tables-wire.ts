// Range, own-network and asset tables as posted from the file loader thread (file-worker.ts) to the
// main thread, and rebuilt there in time slices — the same scheme as intel/remote.ts:
//
//   typed arrays   transferred (moved, not copied)
//   string lists   names, segments, tags, asset field values, source files, own-network origins:
//                  packed into one byte array + end offsets (packStrings), decoded here a step at
//                  a time with a yield between slices; a list of lists (tag lists) is the flat
//                  strings plus each list's end
//   Maps           the assets' IPv6 address → group map is rebuilt from the group addresses
//
// A table built from the wire is the table the loader built (test/enrich/file-worker.test.ts).

import { formatAddrWords } from '../pipeline/flow-batch.js';
import { type AssetParts, AssetTable } from './assets/assets.js';
import type { FamilyTable, GeoTable } from './geo/table.js';
import { type PackedStrings, packStrings, type SliceOptions, Slicer, STEP, unpackStrings } from './intel/remote.js';
import type { OwnNetworks } from './ranges/direction.js';
import { PrefixIndex, type PrefixIndexParts, PrefixTable } from './ranges/lpm.js';
import { type RangeParts, RangeTable } from './ranges/ranges.js';
import { Starts6, type Starts6Parts } from './ranges/starts6.js';

export interface PackedLists {
  strings: PackedStrings;
  /** Per list: the end of its strings in `strings`. */
  ends: Uint32Array;
}

export interface RangeWire {
  index: PrefixIndexParts;
  cols: Omit<RangeParts, 'names' | 'segments' | 'tagLists' | 'sourceFiles'>;
  names: PackedStrings;
  segments: PackedStrings;
  tagLists: PackedLists;
  sourceFiles: PackedStrings;
  warnings: string[];
}

export interface OwnWire {
  index: PrefixIndexParts;
  entries: PackedStrings;
  errors: string[];
}

export interface AssetWire {
  parts: Omit<AssetParts, 'groups6' | 'values' | 'tagLists' | 'sources'>;
  values: PackedLists;
  tagLists: PackedLists;
  sources: PackedStrings;
  warnings: string[];
}

function packLists(lists: readonly (readonly string[])[]): PackedLists {
  const flat: string[] = [];
  const ends = new Uint32Array(lists.length);
  for (let i = 0; i < lists.length; i++) {
    for (const s of lists[i]) flat.push(s);
    ends[i] = flat.length;
  }
  return { strings: packStrings(flat), ends };
}

async function unpackLists(p: PackedLists, s: Slicer): Promise<(readonly string[])[]> {
  const flat = await unpackStrings(p.strings, s);
  const out: (readonly string[])[] = new Array(p.ends.length);
  let from = 0;
  for (let i = 0; i < p.ends.length; i++) {
    // frozen like ListInterner's: a batch dictionary may keep the array itself
    out[i] = Object.freeze(flat.slice(from, p.ends[i]));
    from = p.ends[i];
    if ((i & (STEP - 1)) === 0) await s.tick();
  }
  return out;
}

export function rangeToWire(t: RangeTable): RangeWire {
  const p = t.parts();
  return {
    index: t.index.toParts(),
    cols: {
      labelAttrs: p.labelAttrs,
      labelOf: p.labelOf,
      sourceOf: p.sourceOf,
      lineOf: p.lineOf,
    },
    names: packStrings(p.names),
    segments: packStrings(p.segments),
    tagLists: packLists(p.tagLists),
    sourceFiles: packStrings(p.sourceFiles),
    warnings: [...t.warnings],
  };
}

/** The geography table's typed arrays as they are, its two name lists packed, the IPv6 directory's parts. */
export interface GeoWire extends Omit<GeoTable, 'countries' | 'orgs' | 'v4' | 'v6'> {
  countries: PackedStrings;
  orgs: PackedStrings;
  v4: Omit<FamilyTable, 'dir'>;
  v6: Omit<FamilyTable, 'dir'> & { dir: Starts6Parts };
}

export function geoToWire(t: GeoTable): GeoWire {
  const { dir: _d4, ...v4 } = t.v4;
  const { dir, ...v6 } = t.v6;
  if (dir === null) throw new Error('geo table without its IPv6 directory');
  return {
    ...t,
    countries: packStrings(t.countries),
    orgs: packStrings(t.orgs),
    v4,
    v6: { ...v6, dir: dir.parts() },
  };
}

export async function geoFromWire(w: GeoWire, opts: SliceOptions = {}): Promise<GeoTable> {
  const s = new Slicer(opts.sliceMs ?? 4);
  const countries = await unpackStrings(w.countries, s);
  const orgs = await unpackStrings(w.orgs, s);
  return {
    ...w,
    countries,
    orgs,
    v4: { ...w.v4, dir: null },
    v6: { ...w.v6, dir: new Starts6(w.v6.starts, w.v6.dir) },
  };
}

export function ownToWire(o: OwnNetworks): OwnWire {
  return { index: o.table.index.toParts(), entries: packStrings(o.table.entries), errors: o.errors };
}

export function assetToWire(t: AssetTable): AssetWire {
  const { groups6: _g, values, tagLists, sources, ...parts } = t.parts();
  return {
    parts,
    values: packLists(values),
    tagLists: packLists(tagLists),
    sources: packStrings(sources),
    warnings: [...t.warnings],
  };
}

export async function rangeFromWire(w: RangeWire, opts: SliceOptions = {}): Promise<RangeTable> {
  const s = new Slicer(opts.sliceMs ?? 4);
  const names = await unpackStrings(w.names, s);
  const segments = await unpackStrings(w.segments, s);
  const tagLists = await unpackLists(w.tagLists, s);
  const sourceFiles = await unpackStrings(w.sourceFiles, s);
  return new RangeTable(
    PrefixIndex.fromParts(w.index),
    { ...w.cols, names, segments, tagLists, sourceFiles },
    w.warnings,
  );
}

export async function ownFromWire(w: OwnWire, opts: SliceOptions = {}): Promise<OwnNetworks> {
  const s = new Slicer(opts.sliceMs ?? 4);
  const entries = await unpackStrings(w.entries, s);
  return { table: new PrefixTable(PrefixIndex.fromParts(w.index), entries), errors: w.errors };
}

export async function assetFromWire(w: AssetWire, opts: SliceOptions = {}): Promise<AssetTable> {
  const s = new Slicer(opts.sliceMs ?? 4);
  const values = await unpackLists(w.values, s);
  const tagLists = await unpackLists(w.tagLists, s);
  const sources = await unpackStrings(w.sources, s);
  // IPv6 groups are looked up by their text (AssetTable.lookupWords); IPv4 ones by the hash
  const groups6 = new Map<string, number>();
  const a = w.parts.groupAddr;
  const groups = a.length >> 2;
  for (let g = 0; g < groups; g++) {
    const o = g * 4;
    if (!(a[o] === 0 && a[o + 1] === 0 && a[o + 2] === 0xffff)) groups6.set(formatAddrWords(a, o), g);
    if ((g & (STEP - 1)) === 0) await s.tick();
  }
  return new AssetTable({ ...w.parts, groups6, values, tagLists, sources }, w.warnings);
}
