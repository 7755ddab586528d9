// IP ranges and their names, segments and tags (DESIGN §1 "enrich"): the organisation's own
// CSV/YAML/JSON lists and the cloud providers' published ranges, merged into one longest-prefix
// table, then written into src_/dst_ range, segment and tags of every flow.
//
// Which range wins: the most specific prefix, always, whatever file it came from. Two entries for
// the same prefix: the one loaded last wins (files in the order given, lines in file order) and the
// other is reported in `warnings`. The cloud files list one prefix several times on purpose (AWS:
// under AMAZON and again under EC2/S3/…; Azure: under AzureCloud, AzureCloud.<region> and the
// service tags); those are merged into one entry per prefix inside the file, named after the most
// specific service, tagged with all of them, and are not warnings.
//
// Loaders are pure (file name and text in, entries out): reading files belongs to the caller.
// A line that cannot be used is skipped and reported in `errors` with its file and line (or JSON
// path); a file that cannot be read at all (broken JSON/YAML) throws EnrichSourceError.

import { type FlowBatch, parseAddr } from '../../pipeline/flow-batch.js';
import { C } from '../../schema/columns.js';
import { type EnrichmentHit, EnrichSourceError, parseJsonFile } from '../source-error.js';
import { cidrText, clearHostBits, type PrefixIndex, PrefixIndexBuilder, parseCidr } from './lpm.js';
import {
  cloudTag,
  csvRows,
  Interner,
  isObject,
  ListInterner,
  lineNumber,
  splitCsv,
  str,
  tagList,
  yamlList,
} from './text.js';

export interface RangeEntry {
  /** Normalised CIDR ("10.1.0.0/16"). */
  cidr: string;
  name: string;
  segment: string;
  tags: readonly string[];
  /** `file:line`, or `file#json.path` for the cloud JSON files. */
  source: string;
}

export type RangeFormat = 'csv' | 'yaml' | 'json' | 'aws' | 'azure' | 'gcp';

export interface RangeLoad {
  entries: RangeEntry[];
  /** Entries skipped, each with file and line / JSON path. */
  errors: EnrichSourceError[];
  /** Entries kept but worth a look (host bits under the mask). */
  warnings: string[];
}

/** Guess the format of a range file from its content (and its name for YAML vs CSV). */
export function detectRangeFormat(file: string, text: string): RangeFormat {
  const t = text.trimStart();
  if (t.startsWith('{')) {
    // Only the head is looked at: the cloud files are megabytes.
    const head = t.slice(0, 4096);
    if (/"ip_prefix"|"ipv6_prefix"/.test(head)) return 'aws';
    if (/"addressPrefixes"|"changeNumber"/.test(head)) return 'azure';
    if (/"ipv4Prefix"|"ipv6Prefix"/.test(head)) return 'gcp';
    return 'json';
  }
  if (t.startsWith('[')) return 'json';
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  if (/\.csv$/i.test(file)) return 'csv';
  const first = t.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  return /^\s*-\s|^\s*\w+:\s*$/.test(first) ? 'yaml' : 'csv';
}

/** Read one range file. Throws EnrichSourceError only when the file as a whole is unusable. */
export function parseRanges(
  file: string,
  text: string,
  format: RangeFormat = detectRangeFormat(file, text),
): RangeLoad {
  const load: RangeLoad = { entries: [], errors: [], warnings: [] };
  switch (format) {
    case 'csv':
      readCsv(file, text, load);
      break;
    case 'yaml':
    case 'json':
      readList(file, text, load);
      break;
    case 'aws':
      readAws(file, parseJsonFile(file, text), load);
      break;
    case 'azure':
      readAzure(file, parseJsonFile(file, text), load);
      break;
    case 'gcp':
      readGcp(file, parseJsonFile(file, text), load);
      break;
  }
  return load;
}

// ---- the table

/**
 * Ranges as columns: per entry (the prefix's index in `index`) its label — the ids of its name,
 * segment and tag list, interned at build time — and where it was declared (file id + line). The
 * index answers a lookup with the label, not the entry (PrefixIndexBuilder.build(values)). No object per entry:
 * 1 M prefixes hold ~110 MB (96 MB of it the prefix index) instead of ~580 MB of entry objects, and applyRanges looks each distinct
 * name, segment and tag list up in a batch's dictionary once per batch (a stamp per id), not once
 * per row — the cloud files and BGP-sized lists have a few thousand names over a million prefixes.
 */
export class RangeTable {
  /**
   * Per label, 3 words: the ids into names / segments / tagLists (0: '' / none). The prefix lookup
   * gives the label, so a hit reads one record here; a million ranges have far fewer labels (names
   * of services, sites, organisations) than entries, so these records mostly stay in cache where a
   * record per entry (12 MB at 1 M ranges) was a cache miss per address: 37 % of applyRanges'
   * time in a perf profile of bench/enrich.
   */
  readonly labelAttrs: Uint32Array;
  /** Per entry: its label. */
  private readonly labelOf: Uint32Array;
  /** Per entry: index into sourceFiles, and the line (0: the source is the whole sourceFiles text). */
  private readonly sourceOf: Uint32Array;
  private readonly lineOf: Uint32Array;
  readonly names: readonly string[];
  readonly segments: readonly string[];
  readonly tagLists: readonly (readonly string[])[];
  private readonly sourceFiles: readonly string[];
  // Scratch for applyRanges: per id and side, the batch dictionary code, valid when the stamp equals
  // the pass number. Not part of the table's value; JS runs one pass at a time.
  private pass = 0;
  /** @internal [src name, src segment, src tags, dst name, dst segment, dst tags] */
  readonly stamps: Uint32Array[];
  /** @internal same order as stamps */
  readonly codes: Uint32Array[];

  /** @internal use buildRangeTable / loadRangeTable (or rangeTableFromParts for a table sent between threads) */
  constructor(
    readonly index: PrefixIndex,
    cols: RangeParts,
    readonly warnings: readonly string[],
  ) {
    this.labelAttrs = cols.labelAttrs;
    this.labelOf = cols.labelOf;
    this.sourceOf = cols.sourceOf;
    this.lineOf = cols.lineOf;
    this.names = cols.names;
    this.segments = cols.segments;
    this.tagLists = cols.tagLists;
    this.sourceFiles = cols.sourceFiles;
    const sizes = [this.names.length, this.segments.length, this.tagLists.length];
    this.stamps = [0, 1, 2, 0, 1, 2].map((k) => new Uint32Array(sizes[k]));
    this.codes = [0, 1, 2, 0, 1, 2].map((k) => new Uint32Array(sizes[k]));
  }

  /** The columns (not the index): what a loader thread sends (see enrich/tables-wire.ts). */
  parts(): RangeParts {
    return {
      labelAttrs: this.labelAttrs,
      labelOf: this.labelOf,
      sourceOf: this.sourceOf,
      lineOf: this.lineOf,
      names: this.names,
      segments: this.segments,
      tagLists: this.tagLists,
      sourceFiles: this.sourceFiles,
    };
  }

  get size(): number {
    return this.index.size;
  }

  /** Entry i as an object (for `enrich check`, warnings and tests; not for the hot path). */
  entry(i: number): RangeEntry {
    const line = this.lineOf[i];
    const file = this.sourceFiles[this.sourceOf[i]];
    const a = this.labelAttrs;
    const l = this.labelOf[i] * 3;
    return {
      cidr: this.index.cidrOf(i),
      name: this.names[a[l]],
      segment: this.segments[a[l + 1]],
      tags: this.tagLists[a[l + 2]],
      source: line === 0 ? file : `${file}:${line}`,
    };
  }

  /** Every entry in load order (materialised: for tests and small tables). */
  allEntries(): RangeEntry[] {
    const out: RangeEntry[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.entry(i));
    return out;
  }

  /** The tag list id of entry i (0: none). */
  tagsOf(i: number): number {
    return this.labelAttrs[this.labelOf[i] * 3 + 2];
  }

  /**
   * The most specific range holding the address (of two identical prefixes the later), or
   * undefined. A scan of every prefix: for `enrich check` and tests, not for flows.
   */
  lookup(addr: string): RangeEntry | undefined {
    const w = parseAddr(addr.trim());
    const i = w === null ? undefined : this.index.allMatches(w, 0)[0];
    return i === undefined ? undefined : this.entry(i);
  }

  /** @internal a new pass number for applyRanges */
  nextPass(): number {
    this.pass = (this.pass + 1) >>> 0;
    if (this.pass === 0) {
      for (const s of this.stamps) s.fill(0);
      this.pass = 1;
    }
    return this.pass;
  }

  /** Bytes held by the lookup structure and the per-entry and per-label columns (not the interned strings). */
  get byteSize(): number {
    let b = this.index.byteSize;
    for (const a of [this.labelAttrs, this.labelOf, this.sourceOf, this.lineOf]) {
      b += a.byteLength;
    }
    return b;
  }
}

/** A RangeTable's columns: per label its name, segment and tag-list ids (3 words), per entry its label and source. */
export interface RangeParts {
  labelAttrs: Uint32Array;
  labelOf: Uint32Array;
  sourceOf: Uint32Array;
  lineOf: Uint32Array;
  names: readonly string[];
  segments: readonly string[];
  tagLists: readonly (readonly string[])[];
  sourceFiles: readonly string[];
}

/** Duplicate prefixes reported one by one in `warnings`; the rest are counted. */
const MAX_DUPLICATE_WARNINGS = 100;

/** A Uint32Array that grows by doubling; `done()` is a copy of exactly the used part. */
class GrowU32 {
  a = new Uint32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Uint32Array {
    // a copy: the over-allocated growth buffer (up to twice the size) is dropped with the builder
    return this.a.slice(0, this.n);
  }
}

/**
 * Entries in load order → a RangeTable, without an object per entry: the CSV reader below writes
 * each line's prefix and label straight in, the other formats go through addEntry.
 */
export class RangeTableBuilder {
  readonly prefixes = new PrefixIndexBuilder();
  private readonly labelOf = new GrowU32();
  private readonly sourceOf = new GrowU32();
  private readonly lineOf = new GrowU32();
  private readonly names = new Interner();
  private readonly segments = new Interner();
  private readonly tagLists = new ListInterner();
  private readonly sources = new Interner();
  private readonly labelIds = new Map<string, number>();
  private readonly labelName = new GrowU32();
  private readonly labelSegment = new GrowU32();
  private readonly labelTags = new GrowU32();

  get size(): number {
    return this.labelOf.n;
  }

  /** The label id of (name, segment, tags). */
  label(name: string, segment: string, tags: readonly string[]): number {
    const n = this.names.id(name);
    const s = this.segments.id(segment);
    const t = this.tagLists.id(tags);
    const key = `${n},${s},${t}`;
    let l = this.labelIds.get(key);
    if (l === undefined) {
      l = this.labelName.n;
      this.labelIds.set(key, l);
      this.labelName.push(n);
      this.labelSegment.push(s);
      this.labelTags.push(t);
    }
    return l;
  }

  sourceId(file: string): number {
    return this.sources.id(file);
  }

  /** One entry whose prefix was added to `prefixes` just before. */
  push(label: number, source: number, line: number): void {
    this.labelOf.push(label);
    this.sourceOf.push(source);
    this.lineOf.push(line);
  }

  addEntry(e: RangeEntry): void {
    this.prefixes.add(e.cidr);
    // "file:line" → file id + line; "file#json.path" (no line) is kept whole.
    const src = e.source;
    const colon = src.lastIndexOf(':');
    const line = colon >= 0 && colon + 1 < src.length ? lineNumber(src, colon + 1) : 0;
    this.push(this.label(e.name, e.segment, e.tags), this.sources.id(line > 0 ? src.slice(0, colon) : src), line);
  }

  /** `v4Dir: false`: no IPv4 lookup table of its own (an address plan built beside it answers flows). */
  build(opts: { v4Dir?: boolean } = {}): RangeTable {
    const labelOf = this.labelOf.done();
    const index = this.prefixes.build(labelOf, opts);
    const m = this.labelName.n;
    const ln = this.labelName.a;
    const ls = this.labelSegment.a;
    const lt = this.labelTags.a;
    const labelAttrs = new Uint32Array(m * 3);
    for (let l = 0; l < m; l++) {
      labelAttrs[l * 3] = ln[l];
      labelAttrs[l * 3 + 1] = ls[l];
      labelAttrs[l * 3 + 2] = lt[l];
    }
    const parts: RangeParts = {
      labelAttrs,
      labelOf,
      sourceOf: this.sourceOf.done(),
      lineOf: this.lineOf.done(),
      names: this.names.values,
      segments: this.segments.values,
      tagLists: this.tagLists.lists,
      sourceFiles: this.sources.values,
    };
    const table = new RangeTable(index, parts, []);
    if (index.duplicates.length === 0) return table;
    // a regenerated list can repeat a prefix a hundred thousand times: the first few say what to fix
    const warnings = index.duplicates.slice(0, MAX_DUPLICATE_WARNINGS).map((d) => {
      const w = table.entry(d.winner);
      const p = table.entry(d.previous);
      return `${w.source}: ${d.cidr} also defined at ${p.source}; the later one (${w.name || 'unnamed'}) wins`;
    });
    const more = index.duplicates.length - warnings.length;
    if (more > 0) warnings.push(`${more} more prefixes defined more than once`);
    return new RangeTable(index, parts, warnings);
  }
}

/** Build the table from entries in load order (later files after earlier ones). */
export function buildRangeTable(entries: readonly RangeEntry[]): RangeTable {
  const b = new RangeTableBuilder();
  for (const e of entries) b.addEntry(e);
  return b.build();
}

/** Load several files in order and build one table; errors and warnings of all files together. */
export function loadRangeTable(
  files: readonly { file: string; text: string; format?: RangeFormat }[],
  opts: { v4Dir?: boolean } = {},
): {
  table: RangeTable;
  errors: EnrichSourceError[];
  warnings: string[];
} {
  const b = new RangeTableBuilder();
  const load: RangeLoad = { entries: [], errors: [], warnings: [] };
  for (const f of files) {
    const format = f.format ?? detectRangeFormat(f.file, f.text);
    if (format === 'csv') {
      readCsvInto(f.file, f.text, b, load);
      continue;
    }
    const l = parseRanges(f.file, f.text, format);
    for (const e of l.entries) b.addEntry(e);
    for (const e of l.errors) load.errors.push(e);
    for (const w of l.warnings) load.warnings.push(w);
  }
  const table = b.build(opts);
  return { table, errors: load.errors, warnings: [...load.warnings, ...table.warnings] };
}

// ---- enrichment

/**
 * Fill src_/dst_ range, segment and tags from the most specific range of each address. Rows whose
 * address is in no range are left as they are; an empty name, segment or tag list leaves that
 * column as it is. When nobody else wrote a side's three columns in this batch (a batch from a
 * decoder), the table's interned names, segments and tag lists become the batch's dictionaries
 * (FlowBatch.useSharedStrings) and each row gets the table's id: no dictionary work at all
 * (applyRanges 2.5 → 1.4 ms per 8192-row batch on bench/enrich). Otherwise each distinct value gets
 * a batch code once per batch, not per row: values are stamped per pass, so a value is appended to
 * the batch dictionary without a Map look-up (StringDict.append) and never twice by this pass.
 */
export function applyRanges(table: RangeTable, batch: FlowBatch): void {
  if (table.size === 0) return;
  const pass = table.nextPass();
  for (const side of [0, 1] as const) {
    const addrCol = side === 0 ? C.src_addr : C.dst_addr;
    const addrs = batch.data[addrCol] as Uint32Array;
    const addrValid = batch.valid[addrCol];
    const n = batch.length;
    if (rowLabels.length < n) rowLabels = new Int32Array(batch.capacity);
    const labels = rowLabels;
    const index = table.index;
    // First only the lookups, with nothing between them: independent rows' cache misses overlap.
    for (let r = 0; r < n; r++) {
      const o = r * 4;
      let e = -1;
      if (addrValid[r] !== 0) {
        e =
          addrs[o] === 0 && addrs[o + 1] === 0 && addrs[o + 2] === 0xffff
            ? index.lookupV4(addrs[o + 3])
            : index.lookupV6(addrs, o);
      }
      labels[r] = e;
    }
    writeRangeLabels(table, batch, pass, side, labels);
  }
}

// per row: the label of the most specific range (-1: none)
let rowLabels = new Int32Array(0);

const SIDE_COLUMNS = [
  [C.src_range, C.src_segment, C.src_tags],
  [C.dst_range, C.dst_segment, C.dst_tags],
] as const;

/**
 * Write one side's range, segment and tags from `labels` (per row the label of the address's most
 * specific range, -1: none), found by applyRanges or by an address plan. `pass` is the table's
 * nextPass() of this batch, the same for both sides.
 */
export function writeRangeLabels(
  table: RangeTable,
  batch: FlowBatch,
  pass: number,
  side: 0 | 1,
  labels: Int32Array,
): void {
  const [nameCol, segCol, tagsCol] = SIDE_COLUMNS[side];
  const n = batch.length;
  const nameData = batch.data[nameCol] as Uint32Array;
  const segData = batch.data[segCol] as Uint32Array;
  const tagsData = batch.data[tagsCol] as Uint32Array;
  const nameValid = batch.valid[nameCol];
  const segValid = batch.valid[segCol];
  const tagsValid = batch.valid[tagsCol];
  const nameDict = batch.strings[nameCol];
  const segDict = batch.strings[segCol];
  const tagsDict = batch.lists[tagsCol];
  const attrs = table.labelAttrs;
  const names = table.names;
  const segments = table.segments;
  const tagLists = table.tagLists;
  // Nobody else wrote these columns in this batch (the usual case, straight from a decoder): the
  // table's interned arrays become the batch's dictionaries and its ids are the codes.
  if (
    nameDict?.canShare(names, names) &&
    segDict?.canShare(segments, segments) &&
    tagsDict?.canShare(tagLists, tagLists) &&
    batch.useSharedStrings(nameCol, names, names) &&
    batch.useSharedStrings(segCol, segments, segments) &&
    batch.useSharedList(tagsCol, tagLists, tagLists)
  ) {
    for (let r = 0; r < n; r++) {
      const e = labels[r];
      if (e < 0) continue;
      const ni = attrs[e * 3];
      const si = attrs[e * 3 + 1];
      const ti = attrs[e * 3 + 2];
      if (ni !== 0) {
        nameData[r] = ni;
        nameValid[r] = 1;
      }
      if (si !== 0) {
        segData[r] = si;
        segValid[r] = 1;
      }
      if (ti !== 0) {
        tagsData[r] = ti;
        tagsValid[r] = 1;
      }
    }
    return;
  }
  writeCodes(table, batch, pass, side * 3, n, nameCol, segCol, tagsCol, labels);
}

// Columns the batch already holds values in (a decoder, or an earlier enricher): each distinct
// value is appended to the batch's own dictionary once per pass.
function writeCodes(
  table: RangeTable,
  batch: FlowBatch,
  pass: number,
  slot: number,
  n: number,
  nameCol: number,
  segCol: number,
  tagsCol: number,
  labels: Int32Array,
): void {
  const nameData = batch.data[nameCol] as Uint32Array;
  const segData = batch.data[segCol] as Uint32Array;
  const tagsData = batch.data[tagsCol] as Uint32Array;
  const nameValid = batch.valid[nameCol];
  const segValid = batch.valid[segCol];
  const tagsValid = batch.valid[tagsCol];
  const nameDict = batch.strings[nameCol];
  const segDict = batch.strings[segCol];
  const tagsDict = batch.lists[tagsCol];
  const attrs = table.labelAttrs;
  const names = table.names;
  const segments = table.segments;
  const tagLists = table.tagLists;
  const nStamp = table.stamps[slot];
  const sStamp = table.stamps[slot + 1];
  const tStamp = table.stamps[slot + 2];
  const nCode = table.codes[slot];
  const sCode = table.codes[slot + 1];
  const tCode = table.codes[slot + 2];
  for (let r = 0; r < n; r++) {
    const e = labels[r];
    if (e < 0) continue;
    const ni = attrs[e * 3];
    if (ni !== 0) {
      if (nStamp[ni] !== pass) {
        nCode[ni] = nameDict === undefined ? 0 : nameDict.append(names[ni]);
        nStamp[ni] = pass;
      }
      const c = nCode[ni];
      if (c !== 0) {
        nameData[r] = c;
        nameValid[r] = 1;
      }
    }
    const si = attrs[e * 3 + 1];
    if (si !== 0) {
      if (sStamp[si] !== pass) {
        sCode[si] = segDict === undefined ? 0 : segDict.append(segments[si]);
        sStamp[si] = pass;
      }
      const c = sCode[si];
      if (c !== 0) {
        segData[r] = c;
        segValid[r] = 1;
      }
    }
    const ti = attrs[e * 3 + 2];
    if (ti !== 0) {
      if (tStamp[ti] !== pass) {
        tCode[ti] = tagsDict === undefined ? 0 : tagsDict.append(tagLists[ti]);
        tStamp[ti] = pass;
      }
      const c = tCode[ti];
      if (c !== 0) {
        tagsData[r] = c;
        tagsValid[r] = 1;
      }
    }
  }
}

/** Every range holding the address, most specific (the one applied) first. */
export function describeRanges(table: RangeTable, addr: string): EnrichmentHit[] {
  const parsed = parseCidr(addr);
  if (typeof parsed === 'string') return [];
  const p = table.index;
  const all = p.allMatches(parsed.words, 0);
  return all.map((i, k) => {
    const e = table.entry(i);
    const fields: Record<string, string | readonly string[]> = { range: e.name, cidr: e.cidr };
    if (e.segment) fields.segment = e.segment;
    if (e.tags.length) fields.tags = e.tags;
    if (k > 0) fields.shadowed_by = p.cidrOf(all[0]);
    return { kind: 'range', origin: e.source, fields };
  });
}

// ---- loaders

function add(file: string, line: number | undefined, where: string, cidr: string, load: RangeLoad): string | null {
  const p = parseCidr(cidr);
  if (typeof p === 'string') {
    load.errors.push(new EnrichSourceError(file, line, where ? `${where}: ${p}` : p));
    return null;
  }
  const norm = cidrText(p.words, 0, p.len128);
  if (p.hostBits) {
    load.warnings.push(
      `${file}${line === undefined ? `#${where}` : `:${line}`}: ${cidr} has host bits set; read as ${norm}`,
    );
  }
  return norm;
}

function readCsv(file: string, text: string, load: RangeLoad): void {
  let cols = { cidr: 0, name: 1, segment: 2, tags: 3 };
  const rows = csvRows(text);
  for (let k = 0; k < rows.length; k++) {
    const { line, fields } = rows[k];
    if (k === 0 && fields[0].toLowerCase() === 'cidr') {
      const idx = (n: string) => fields.findIndex((f) => f.trim().toLowerCase() === n);
      cols = { cidr: 0, name: idx('name'), segment: idx('segment'), tags: idx('tags') };
      continue;
    }
    const cidr = add(file, line, '', fields[cols.cidr] ?? '', load);
    if (cidr === null) continue;
    const get = (i: number) => (i >= 0 ? (fields[i] ?? '').trim() : '');
    load.entries.push({
      cidr,
      name: get(cols.name),
      segment: get(cols.segment),
      tags: tagList(get(cols.tags).replace(/,/g, ';')),
      source: `${file}:${line}`,
    });
  }
}

/**
 * The CSV reader of loadRangeTable: one pass over the text, each line's prefix scanned from the
 * characters (no line string, no field array, no entry object) and added to the builder, its
 * label (the rest of the line: name, segment, tags) looked up by that text in a per-file map, so
 * a file whose million lines share a few thousand labels splits and interns a few thousand times.
 * A line the scanner does not take (the first one, which may be the header; quoted fields; an
 * embedded IPv4 in IPv6; anything malformed) goes through the same steps as readCsv, so errors and
 * warnings are the same.
 */
function readCsvInto(file: string, text: string, b: RangeTableBuilder, load: RangeLoad): void {
  const cols = { cidr: 0, name: 1, segment: 2, tags: 3 };
  const source = b.sourceId(file);
  const labels = new Map<string, number>();
  const words = new Uint32Array(4);
  const labelOf = (fields: readonly string[]): number => {
    const get = (i: number) => (i >= 0 ? (fields[i] ?? '').trim() : '');
    return b.label(get(cols.name), get(cols.segment), tagList(get(cols.tags).replace(/,/g, ';')));
  };
  let first = true;
  let line = 0;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    line++;
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    // as split(/\r?\n/): a CR is part of the line break only right before the LF
    const end = nl < n && nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const start = pos;
    pos = nl + 1;
    if (!first) {
      const len = scanPrefix(text, start, end, words);
      if (len >= 0) {
        let c = start;
        while (c < end && text.charCodeAt(c) !== 44) c++;
        const key = c < end ? text.slice(c + 1, end) : '';
        let l = labels.get(key);
        if (l === undefined) {
          l = labelOf(splitCsv(text.slice(start, end)));
          labels.set(key, l);
        }
        if (clearHostBits(words, len)) {
          const norm = cidrText(words, 0, len);
          load.warnings.push(`${file}:${line}: ${text.slice(start, c).trim()} has host bits set; read as ${norm}`);
        }
        b.prefixes.addWords(words, 0, len);
        b.push(l, source, line);
        continue;
      }
    }
    const l = text.slice(start, end);
    const t = l.trim();
    if (t === '' || t.startsWith('#')) continue;
    const fields = splitCsv(l);
    if (first && fields[0].toLowerCase() === 'cidr') {
      first = false;
      const idx = (h: string) => fields.findIndex((f) => f.trim().toLowerCase() === h);
      cols.name = idx('name');
      cols.segment = idx('segment');
      cols.tags = idx('tags');
      continue;
    }
    first = false;
    const raw = fields[cols.cidr] ?? '';
    const p = parseCidr(raw);
    if (typeof p === 'string') {
      load.errors.push(new EnrichSourceError(file, line, p));
      continue;
    }
    if (p.hostBits) {
      load.warnings.push(`${file}:${line}: ${raw} has host bits set; read as ${cidrText(p.words, 0, p.len128)}`);
    }
    b.prefixes.addWords(p.words, 0, p.len128);
    b.push(labelOf(fields), source, line);
  }
}

/**
 * The prefix at the start of text[from..to) up to the first ',' (or the end), into `out` (4 words,
 * host bits not cleared yet), and its 128-bit length; -1 when it is not the plain form this scanner
 * takes (dotted quad without leading zeros, IPv6 hex groups with at most one '::', '/len', blanks
 * around) — the caller then reads the line the slow, exact way.
 */
function scanPrefix(t: string, from: number, to: number, out: Uint32Array): number {
  let i = from;
  while (i < to && (t.charCodeAt(i) === 32 || t.charCodeAt(i) === 9)) i++;
  let colon = false;
  for (let k = i; k < to; k++) {
    const c = t.charCodeAt(k);
    if (c === 58) colon = true;
    if (c === 44 || c === 47 || c === 32 || c === 9) break;
  }
  let len: number;
  if (!colon) {
    let v = 0;
    for (let part = 0; part < 4; part++) {
      if (part > 0) {
        if (t.charCodeAt(i) !== 46) return -1;
        i++;
      }
      const s = i;
      let o = 0;
      while (i < to && i - s < 4) {
        const d = t.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        o = o * 10 + d;
        i++;
      }
      if (i === s || i - s > 3 || o > 255 || (i - s > 1 && t.charCodeAt(s) === 48)) return -1;
      v = v * 256 + o;
    }
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v;
    len = 128;
  } else {
    // hextets before and after '::'
    const head: number[] = [];
    const tail: number[] = [];
    let cur = head;
    let dbl = false;
    if (t.charCodeAt(i) === 58) {
      if (t.charCodeAt(i + 1) !== 58) return -1;
      dbl = true;
      cur = tail;
      i += 2;
    }
    for (;;) {
      const s = i;
      let h = 0;
      while (i < to && i - s < 5) {
        const c = t.charCodeAt(i);
        const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
        if (d < 0) break;
        h = h * 16 + d;
        i++;
      }
      if (i - s > 4) return -1;
      if (i > s) cur.push(h);
      else if (!(dbl && cur === tail && tail.length === 0)) return -1;
      if (t.charCodeAt(i) !== 58) break;
      if (i === s) return -1;
      i++;
      if (t.charCodeAt(i) === 58) {
        if (dbl) return -1;
        dbl = true;
        cur = tail;
        i++;
      }
    }
    if (t.charCodeAt(i) === 46) return -1; // an embedded IPv4: parseAddr's job
    const total = head.length + tail.length;
    if (dbl ? total > 7 : total !== 8) return -1;
    const g = new Array<number>(8).fill(0);
    for (let k = 0; k < head.length; k++) g[k] = head[k];
    for (let k = 0; k < tail.length; k++) g[8 - tail.length + k] = tail[k];
    for (let k = 0; k < 4; k++) out[k] = (g[k * 2] * 65536 + g[k * 2 + 1]) >>> 0;
    len = 128;
  }
  if (t.charCodeAt(i) === 47) {
    i++;
    const s = i;
    let l = 0;
    while (i < to) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      l = l * 10 + d;
      i++;
    }
    if (i === s || i - s > 3) return -1;
    if (colon ? l > 128 : l > 32) return -1;
    len = colon ? l : l + 96;
  }
  while (i < to && (t.charCodeAt(i) === 32 || t.charCodeAt(i) === 9)) i++;
  if (i < to && t.charCodeAt(i) !== 44) return -1;
  // an all-zero or ::ffff:a.b.c.d-looking IPv6 text is left to the exact path (it prints differently)
  if (colon && out[0] === 0 && out[1] === 0 && (out[2] === 0xffff || out[2] === 0)) return -1;
  return len;
}

function readList(file: string, text: string, load: RangeLoad): void {
  for (const { line, value } of yamlList(file, text, ['ranges', 'networks'])) {
    if (!isObject(value)) {
      load.errors.push(new EnrichSourceError(file, line, 'entry is not a map with cidr/name/segment/tags'));
      continue;
    }
    const cidr = add(file, line, '', str(value, 'cidr') || str(value, 'prefix'), load);
    if (cidr === null) continue;
    load.entries.push({
      cidr,
      name: str(value, 'name'),
      segment: str(value, 'segment'),
      tags: tagList(value.tags),
      source: `${file}:${line}`,
    });
  }
}

/** Per prefix within one cloud file: one entry, the most specific label, every label as a tag. */
class CloudMerge {
  private readonly byCidr = new Map<string, { entry: RangeEntry; score: number; tags: string[] }>();
  put(cidr: string, name: string, score: number, tags: string[], source: string): void {
    const cur = this.byCidr.get(cidr);
    if (cur === undefined) {
      this.byCidr.set(cidr, { entry: { cidr, name, segment: '', tags: [], source }, score, tags: [...tags] });
      return;
    }
    for (const t of tags) if (!cur.tags.includes(t)) cur.tags.push(t);
    if (score > cur.score) {
      cur.entry.name = name;
      cur.entry.source = source;
      cur.score = score;
    }
  }
  finish(load: RangeLoad): void {
    for (const v of this.byCidr.values()) load.entries.push({ ...v.entry, tags: v.tags });
  }
}

// AWS ip-ranges.json (docs.aws.amazon.com/vpc/latest/userguide/aws-ip-syntax.html): prefixes[] with
// ip_prefix, ipv6_prefixes[] with ipv6_prefix; region, service, network_border_group on both.
// Every address is listed under AMAZON as well as under its specific service, so AMAZON ranks last.
function readAws(file: string, doc: unknown, load: RangeLoad): void {
  if (!isObject(doc) || (!Array.isArray(doc.prefixes) && !Array.isArray(doc.ipv6_prefixes))) {
    throw new EnrichSourceError(file, undefined, 'not AWS ip-ranges.json: no prefixes[] or ipv6_prefixes[]');
  }
  const merge = new CloudMerge();
  for (const [list, key] of [
    ['prefixes', 'ip_prefix'],
    ['ipv6_prefixes', 'ipv6_prefix'],
  ] as const) {
    const arr = doc[list];
    if (arr === undefined) continue;
    if (!Array.isArray(arr)) {
      load.errors.push(new EnrichSourceError(file, undefined, `${list}: not a list`));
      continue;
    }
    for (let i = 0; i < arr.length; i++) {
      const p = arr[i];
      const where = `${list}[${i}].${key}`;
      const cidr = add(file, undefined, where, str(p, key), load);
      if (cidr === null) continue;
      const service = str(p, 'service') || 'AMAZON';
      const region = str(p, 'region');
      const tags = ['aws', cloudTag(service)];
      if (region) tags.push(cloudTag(region));
      const nbg = str(p, 'network_border_group');
      if (nbg && nbg !== region) tags.push(cloudTag(nbg));
      merge.put(cidr, `aws:${service}:${region}`, service === 'AMAZON' ? 0 : 1, tags, `${file}#${list}[${i}]`);
    }
  }
  merge.finish(load);
}

// Azure Service Tags (ServiceTags_Public_*.json, also the Service Tag Discovery API): values[] with
// name ("Storage.EastUS"), properties.addressPrefixes[], properties.region ('' when global),
// properties.systemService ('' for AzureCloud). A regional service tag is the most specific label.
function readAzure(file: string, doc: unknown, load: RangeLoad): void {
  if (!isObject(doc) || !Array.isArray(doc.values)) {
    throw new EnrichSourceError(file, undefined, 'not an Azure Service Tags file: no values[]');
  }
  const merge = new CloudMerge();
  for (let i = 0; i < doc.values.length; i++) {
    const v = doc.values[i];
    const props = isObject(v) ? v.properties : undefined;
    const name = str(v, 'name');
    if (!isObject(props) || !Array.isArray(props.addressPrefixes) || !name) {
      load.errors.push(new EnrichSourceError(file, undefined, `values[${i}]: no name or properties.addressPrefixes[]`));
      continue;
    }
    const service = str(props, 'systemService');
    const region = str(props, 'region');
    const tags = ['azure'];
    if (service) tags.push(cloudTag(service));
    if (region) tags.push(cloudTag(region));
    const score = (service ? 2 : 0) + (region ? 1 : 0);
    for (let j = 0; j < props.addressPrefixes.length; j++) {
      const where = `values[${i}].properties.addressPrefixes[${j}]`;
      const cidr = add(file, undefined, where, String(props.addressPrefixes[j] ?? ''), load);
      if (cidr === null) continue;
      merge.put(cidr, `azure:${name}`, score, tags, `${file}#${where}`);
    }
  }
  merge.finish(load);
}

// Google Cloud cloud.json (www.gstatic.com/ipranges/cloud.json): prefixes[] with ipv4Prefix or
// ipv6Prefix, service ("Google Cloud"), scope (region, e.g. "us-east1").
function readGcp(file: string, doc: unknown, load: RangeLoad): void {
  if (!isObject(doc) || !Array.isArray(doc.prefixes)) {
    throw new EnrichSourceError(file, undefined, 'not a Google Cloud cloud.json: no prefixes[]');
  }
  const merge = new CloudMerge();
  for (let i = 0; i < doc.prefixes.length; i++) {
    const p = doc.prefixes[i];
    const key = str(p, 'ipv4Prefix') ? 'ipv4Prefix' : 'ipv6Prefix';
    const where = `prefixes[${i}].${key}`;
    const cidr = add(file, undefined, where, str(p, key), load);
    if (cidr === null) continue;
    const service = str(p, 'service') || 'Google Cloud';
    const scope = str(p, 'scope');
    const tags = ['gcp', cloudTag(service)];
    if (scope) tags.push(cloudTag(scope));
    merge.put(cidr, `gcp:${service}:${scope}`, 1, tags, `${file}#prefixes[${i}]`);
  }
  merge.finish(load);
}
