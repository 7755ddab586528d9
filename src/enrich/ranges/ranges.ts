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

import type { FlowBatch } from '../../pipeline/flow-batch.js';
import { columnIndex } from '../../schema/columns.js';
import { type EnrichmentHit, EnrichSourceError } from '../source-error.js';
import { type PrefixTable, PrefixTableBuilder, parseCidr } from './lpm.js';
import { cloudTag, csvRows, isObject, str, tagList, yamlList } from './text.js';

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
      readAws(file, parseJson(file, text), load);
      break;
    case 'azure':
      readAzure(file, parseJson(file, text), load);
      break;
    case 'gcp':
      readGcp(file, parseJson(file, text), load);
      break;
  }
  return load;
}

// ---- the table

export class RangeTable {
  /** Per entry: the id of its (name, segment, tags) label — what applyRanges caches codes by. */
  readonly labelOf: Int32Array;
  readonly labels: readonly { name: string; segment: string; tags: readonly string[] }[];
  // Scratch for applyRanges: codes of each label in the batch being enriched, valid when the stamp
  // equals the pass number. Not part of the table's value; JS runs one pass at a time.
  private pass = 0;
  private readonly stampSrc: Uint32Array;
  private readonly stampDst: Uint32Array;
  private readonly codes: Uint32Array; // 6 per label: src name, segment, tags, dst name, segment, tags

  constructor(
    readonly prefixes: PrefixTable<RangeEntry>,
    readonly warnings: readonly string[],
  ) {
    const byKey = new Map<string, number>();
    const labels: { name: string; segment: string; tags: readonly string[] }[] = [];
    const n = prefixes.entries.length;
    this.labelOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const e = prefixes.entries[i];
      const key = `${e.name}\u0000${e.segment}\u0000${e.tags.join('\u0000')}`;
      let l = byKey.get(key);
      if (l === undefined) {
        l = labels.length;
        labels.push({ name: e.name, segment: e.segment, tags: e.tags });
        byKey.set(key, l);
      }
      this.labelOf[i] = l;
    }
    this.labels = labels;
    this.stampSrc = new Uint32Array(labels.length);
    this.stampDst = new Uint32Array(labels.length);
    this.codes = new Uint32Array(labels.length * 6);
  }

  get size(): number {
    return this.prefixes.entries.length;
  }

  /** The most specific range holding the address, or undefined. */
  lookup(addr: string): RangeEntry | undefined {
    const i = this.prefixes.lookupText(addr);
    return i < 0 ? undefined : this.prefixes.entries[i];
  }

  /** @internal a new pass number for applyRanges */
  nextPass(): number {
    this.pass = (this.pass + 1) >>> 0;
    if (this.pass === 0) {
      this.stampSrc.fill(0);
      this.stampDst.fill(0);
      this.pass = 1;
    }
    return this.pass;
  }

  /** @internal */
  scratch(): { stampSrc: Uint32Array; stampDst: Uint32Array; codes: Uint32Array } {
    return { stampSrc: this.stampSrc, stampDst: this.stampDst, codes: this.codes };
  }
}

/** Build the table from entries in load order (later files after earlier ones). */
export function buildRangeTable(entries: readonly RangeEntry[]): RangeTable {
  const b = new PrefixTableBuilder<RangeEntry>();
  for (const e of entries) b.add(e.cidr, undefined, e);
  const prefixes = b.build();
  const warnings = prefixes.duplicates.map((d) => {
    const w = prefixes.entries[d.winner];
    const p = prefixes.entries[d.previous];
    return `${w.source}: ${d.cidr} also defined at ${p.source}; the later one (${w.name || 'unnamed'}) wins`;
  });
  return new RangeTable(prefixes, warnings);
}

/** Load several files in order and build one table; errors and warnings of all files together. */
export function loadRangeTable(files: readonly { file: string; text: string; format?: RangeFormat }[]): {
  table: RangeTable;
  errors: EnrichSourceError[];
  warnings: string[];
} {
  const entries: RangeEntry[] = [];
  const errors: EnrichSourceError[] = [];
  const warnings: string[] = [];
  for (const f of files) {
    const l = parseRanges(f.file, f.text, f.format);
    for (const e of l.entries) entries.push(e);
    errors.push(...l.errors);
    warnings.push(...l.warnings);
  }
  const table = buildRangeTable(entries);
  return { table, errors, warnings: [...warnings, ...table.warnings] };
}

// ---- enrichment

/**
 * Fill src_/dst_ range, segment and tags from the most specific range of each address. Rows whose
 * address is in no range are left as they are. Dictionary codes are looked up once per label per
 * batch, not per row.
 */
export function applyRanges(table: RangeTable, batch: FlowBatch): void {
  if (table.size === 0) return;
  const pass = table.nextPass();
  const { stampSrc, stampDst, codes } = table.scratch();
  applySide(table, batch, pass, stampSrc, codes, 0, 'src');
  applySide(table, batch, pass, stampDst, codes, 3, 'dst');
}

function applySide(
  table: RangeTable,
  batch: FlowBatch,
  pass: number,
  stamp: Uint32Array,
  codes: Uint32Array,
  slot: number,
  side: 'src' | 'dst',
): void {
  const addrCol = columnIndex(`${side}_addr`);
  const nameCol = columnIndex(`${side}_range`);
  const segCol = columnIndex(`${side}_segment`);
  const tagsCol = columnIndex(`${side}_tags`);
  const addrs = batch.data[addrCol] as Uint32Array;
  const addrValid = batch.valid[addrCol];
  const nameData = batch.data[nameCol] as Uint32Array;
  const segData = batch.data[segCol] as Uint32Array;
  const tagsData = batch.data[tagsCol] as Uint32Array;
  const nameValid = batch.valid[nameCol];
  const segValid = batch.valid[segCol];
  const tagsValid = batch.valid[tagsCol];
  const prefixes = table.prefixes;
  const labelOf = table.labelOf;
  const n = batch.length;
  for (let r = 0; r < n; r++) {
    if (addrValid[r] === 0) continue;
    const e = prefixes.lookupWords(addrs, r * 4);
    if (e < 0) continue;
    const l = labelOf[e];
    const c = l * 6 + slot;
    if (stamp[l] !== pass) {
      const lab = table.labels[l];
      codes[c] = batch.strings[nameCol]?.code(lab.name) ?? 0;
      codes[c + 1] = batch.strings[segCol]?.code(lab.segment) ?? 0;
      codes[c + 2] = batch.lists[tagsCol]?.code(lab.tags) ?? 0;
      stamp[l] = pass;
    }
    const nc = codes[c];
    const sc = codes[c + 1];
    const tc = codes[c + 2];
    if (nc !== 0) {
      nameData[r] = nc;
      nameValid[r] = 1;
    }
    if (sc !== 0) {
      segData[r] = sc;
      segValid[r] = 1;
    }
    if (tc !== 0) {
      tagsData[r] = tc;
      tagsValid[r] = 1;
    }
  }
}

/** Every range holding the address, most specific (the one applied) first. */
export function describeRanges(table: RangeTable, addr: string): EnrichmentHit[] {
  const parsed = parseCidr(addr);
  if (typeof parsed === 'string') return [];
  const p = table.prefixes;
  return p.allMatches(parsed.words, 0).map((i, k) => {
    const e = p.entries[i];
    const fields: Record<string, string | readonly string[]> = { range: e.name, cidr: e.cidr };
    if (e.segment) fields.segment = e.segment;
    if (e.tags.length) fields.tags = e.tags;
    if (k > 0) fields.shadowed_by = p.entries[p.lookupWords(parsed.words, 0)].cidr;
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
  const norm = `${cidrTextOf(p.words, p.len128, p.v4)}`;
  if (p.hostBits) {
    load.warnings.push(
      `${file}${line === undefined ? `#${where}` : `:${line}`}: ${cidr} has host bits set; read as ${norm}`,
    );
  }
  return norm;
}

function cidrTextOf(words: Uint32Array, len128: number, v4: boolean): string {
  if (v4)
    return `${words[3] >>> 24}.${(words[3] >>> 16) & 255}.${(words[3] >>> 8) & 255}.${words[3] & 255}/${len128 - 96}`;
  const b = new PrefixTableBuilder<null>();
  b.add(words, len128, null);
  return b.build().cidrOf(0);
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

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8 says "... at position N"; turn the position into a line.
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? text.slice(0, Number(m[1])).split('\n').length : undefined;
    throw new EnrichSourceError(file, line, `not JSON: ${(e as Error).message}`);
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
