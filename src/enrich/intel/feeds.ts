// Threat-intelligence feed parsers: text in, indicators out. Pure (no I/O): fetch.ts reads files
// and URLs, intel.ts builds the lookup table.
//
// Formats and the documents they follow:
// - plain lists: one IP, CIDR, domain or URL per line; `#` and `;` start comments (whole-line or
//   trailing), the form of most blocklists (FireHOL, abuse.ch, Spamhaus DROP/EDROP text).
// - CSV with a header naming the indicator column, or a 1-based column number (the MISP "CSV
//   Parsed Feed" settings: value column number, delimiter; MISP book, "Managing feeds").
// - Spamhaus DROP: the text lists (`1.10.16.0/20 ; SBL256894`, `;` comment header) and the
//   JSON-lines lists (drop_v4.json / drop_v6.json: one `{"cidr","sblid","rir"}` object per line
//   and a final `{"type":"metadata",...,"records":N}` line; spamhaus.org/drop).
// - STIX 2.1 bundles (OASIS STIX 2.1 §4.7 indicator, §9 patterning): `indicator` objects with
//   pattern_type `stix` whose pattern is `=` / ISSUBSET comparisons on ipv4-addr:value,
//   ipv6-addr:value, domain-name:value or url:value joined by OR.
// - MISP feeds (MISP core format, draft-dulaunoy-misp-core-format; MISP book "Managing feeds"):
//   manifest.json (event uuid → event summary) and one `<uuid>.json` per event holding
//   Event.Attribute[] and Event.Object[].Attribute[]; and the "Freetext Parsed Feed", any text in
//   which IPs, domains and URLs are found (defanged forms such as hxxp and [.] refanged).
//
// Per-line problems are warnings with `file:line` and never throw; a file that cannot be read as
// its format at all (a STIX file that is not JSON, a CSV without the named column) throws
// EnrichSourceError so that the caller keeps the last good table.

import { formatAddrWords } from '../../pipeline/flow-batch.js';
import { EnrichSourceError, parseJsonFile } from '../source-error.js';

export type IndicatorType = 'ip' | 'cidr' | 'domain' | 'url';

export interface Indicator {
  type: IndicatorType;
  /** Normalised: canonical address text, network/len with host bits cleared, lower-case domain, URL as given. */
  value: string;
  feed: string;
  /** 0–100. */
  confidence: number;
  /** Where it came from: `file:line`, or `file:<object id>` for JSON documents. */
  source: string;
}

export interface FeedWarning {
  source: string;
  reason: string;
}

export interface FeedParseResult {
  indicators: Indicator[];
  /** The first MAX_WARNINGS warnings; `warningCount` counts them all. */
  warnings: FeedWarning[];
  warningCount: number;
}

export type FeedFormat = 'list' | 'csv' | 'spamhaus' | 'stix' | 'misp' | 'misp-freetext';

export interface FeedParseOptions {
  /** Feed name recorded in ti_feeds. */
  feed: string;
  /** File name or URL used in warnings and in each indicator's source. */
  file: string;
  /** Confidence for indicators that carry none (default per format: 50; Spamhaus 90). */
  confidence?: number;
  /** CSV: header name or 1-based column number of the indicator (default 1). */
  column?: string | number;
  /** CSV: header name or 1-based column number of a 0–100 confidence. */
  confidenceColumn?: string | number;
  /** CSV: field delimiter (default ','). */
  delimiter?: string;
  /** CSV: whether the first non-comment line is a header (default: true when a column is named). */
  header?: boolean;
  /** MISP: only attributes with to_ids set (default true: the others are context, not detections). */
  idsOnly?: boolean;
  /** STIX: the time validity is judged at (ms; default now). */
  now?: number;
}

export const MAX_WARNINGS = 100;
/** Longer lines are skipped: no indicator is that long, and a hostile feed must not cost memory per line. */
export const MAX_LINE = 4096;

/** Parse a feed document of the given format. MISP here is one event file (see parseMispManifest). */
export function parseFeed(text: string, format: FeedFormat, opts: FeedParseOptions): FeedParseResult {
  switch (format) {
    case 'list':
      return parsePlainList(text, opts);
    case 'csv':
      return parseCsvFeed(text, opts);
    case 'spamhaus':
      return parseSpamhausDrop(text, opts);
    case 'stix':
      return parseStixBundle(text, opts);
    case 'misp':
      return parseMispEvent(text, opts);
    case 'misp-freetext':
      return parseFreetext(text, opts);
  }
}

// ---- indicator values

/** Classify and normalise one indicator value; null when it is none of ip/cidr/domain/url. */
export function classifyIndicator(raw: string): { type: IndicatorType; value: string } | null {
  const s = raw.trim();
  if (s === '' || s.length > MAX_LINE) return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const host = urlHost(s);
    return host === null ? null : { type: 'url', value: s };
  }
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const c = normaliseCidr(s);
    return c === null ? null : { type: 'cidr', value: c };
  }
  const a = normaliseAddr(s);
  if (a !== null) return { type: 'ip', value: a };
  const d = normaliseDomain(s);
  return d === null ? null : { type: 'domain', value: d };
}

/** Why a value is not an indicator (for warnings). */
function rejectReason(raw: string): string {
  const s = raw.trim();
  if (s.includes('/') && !s.includes('://')) return `invalid CIDR ${quote(s)}`;
  return `not an IP, CIDR, domain or URL: ${quote(s)}`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Canonical text of an IPv4 or IPv6 address (IPv4-mapped IPv6 becomes dotted IPv4), or null. */
export function normaliseAddr(s: string): string | null {
  const w = parseAddrWords(s);
  if (w === null) return null;
  return formatWords(w);
}

/** `network/len` with the host bits cleared; a v4-mapped IPv6 prefix of /96 or longer becomes IPv4. */
export function normaliseCidr(s: string): string | null {
  const slash = s.indexOf('/');
  if (slash < 0 || slash !== s.lastIndexOf('/')) return null;
  const lenText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return null;
  let len = Number(lenText);
  const w = parseAddrWords(s.slice(0, slash));
  if (w === null) return null;
  const v4 = isMapped(w) && !s.slice(0, slash).includes(':');
  if (v4) {
    if (len > 32) return null;
    len += 96;
  } else if (len > 128) return null;
  maskWords(w, len);
  // an IPv6 prefix shorter than /96 that starts ::ffff: covers more than IPv4 space: stays IPv6
  if (isMapped(w) && len >= 96) return `${formatWords(w)}/${len - 96}`;
  return `${formatWords(w)}/${len}`;
}

/** Lower case, no trailing dot, no leading `*.`; labels of letters, digits, `-`, `_`; at least two labels. */
export function normaliseDomain(s: string): string | null {
  let d = s.toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d.startsWith('*.')) d = d.slice(2);
  if (d.length === 0 || d.length > 253) return null;
  const labels = d.split('.');
  if (labels.length < 2) return null;
  for (const l of labels) if (!/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) return null;
  // a last label of digits only is an address that did not parse (e.g. 1.2.3.999), not a domain
  if (/^\d+$/.test(labels[labels.length - 1])) return null;
  return d;
}

/** Host of a URL, normalised as a domain or an address; null when there is none. */
export function urlHost(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  let h = u.hostname;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === '') return null;
  return normaliseAddr(h) ?? normaliseDomain(h);
}

/** 4 words (RFC 4291 order; IPv4 as ::ffff:a.b.c.d) of an address, or null. */
export function parseAddrWords(s: string): Uint32Array | null {
  // local parser rather than flow-batch's: this one rejects leading zeros in IPv4 octets (`010`),
  // which some tools read as octal and some as decimal, and zone ids (`fe80::1%eth0`)
  if (s.length > 45 || s.includes('%')) return null;
  const out = new Uint32Array(4);
  if (!s.includes(':')) {
    const v = parseV4(s);
    if (v === null) return null;
    out[2] = 0xffff;
    out[3] = v;
    return out;
  }
  let text = s;
  let tail: number | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    tail = parseV4(text.slice(lastColon + 1));
    if (tail === null) return null;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return null;
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const rest = dbl >= 0 ? text.slice(dbl + 2) : '';
  const hp = head ? head.split(':') : [];
  const tp = rest ? rest.split(':') : [];
  if (dbl < 0 && hp.length !== 8) return null;
  if (dbl >= 0 && hp.length + tp.length > 7) return null;
  const parts = [...hp, ...new Array<string>(8 - hp.length - tp.length).fill('0'), ...tp];
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(parts[i])) return null;
    const v = Number.parseInt(parts[i], 16);
    out[i >> 1] = i % 2 === 0 ? v << 16 : (out[i >> 1] | v) >>> 0;
  }
  if (tail !== null) out[3] = tail;
  return out;
}

function parseV4(s: string): number | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  let v = 0;
  for (const x of p) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(x)) return null;
    const n = Number(x);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

function isMapped(w: Uint32Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

function maskWords(w: Uint32Array, len: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - i * 32));
    w[i] = bits === 0 ? 0 : bits === 32 ? w[i] : (w[i] & (0xffffffff << (32 - bits))) >>> 0;
  }
}

/** Canonical text of 4 address words (RFC 5952; IPv4-mapped as dotted IPv4). */
export function formatWords(w: Uint32Array): string {
  return formatAddrWords(w, 0);
}

// ---- shared result building

class Collector {
  readonly indicators: Indicator[] = [];
  readonly warnings: FeedWarning[] = [];
  warningCount = 0;
  constructor(readonly opts: FeedParseOptions) {}

  warn(where: string | number, reason: string): void {
    this.warningCount++;
    if (this.warnings.length < MAX_WARNINGS) {
      this.warnings.push({ source: typeof where === 'number' ? `${this.opts.file}:${where}` : where, reason });
    }
  }

  /** Add a raw value; warns with `where` when it is not an indicator. */
  add(raw: string, confidence: number, where: string | number, quiet = false): boolean {
    const c = classifyIndicator(raw);
    if (c === null) {
      if (!quiet) this.warn(where, rejectReason(raw));
      return false;
    }
    const source = typeof where === 'number' ? `${this.opts.file}:${where}` : where;
    this.indicators.push({ type: c.type, value: c.value, feed: this.opts.feed, confidence, source });
    return true;
  }

  result(): FeedParseResult {
    return { indicators: this.indicators, warnings: this.warnings, warningCount: this.warningCount };
  }
}

function clampConfidence(v: number): number {
  return Math.max(0, Math.min(100, Math.round(v)));
}

/** Calls fn(line, lineNo) for each line, skipping (with a warning) those longer than MAX_LINE. */
function eachLine(text: string, out: Collector, fn: (line: string, no: number) => void): void {
  let start = 0;
  let no = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = n;
    no++;
    if (end - start > MAX_LINE) out.warn(no, `line of ${end - start} characters skipped (limit ${MAX_LINE})`);
    else {
      let line = text.slice(start, end);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (no === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      fn(line, no);
    }
    start = end + 1;
  }
}

/** The line without a `#` or `;` comment (at the start or after whitespace: `#` inside a URL stays). */
function stripComment(line: string): string {
  const m = /(?:^|\s)[#;]/.exec(line);
  return (m === null ? line : line.slice(0, m.index)).trim();
}

// ---- plain lists

export function parsePlainList(text: string, opts: FeedParseOptions): FeedParseResult {
  const out = new Collector(opts);
  const conf = clampConfidence(opts.confidence ?? 50);
  eachLine(text, out, (line, no) => {
    const body = stripComment(line);
    if (body === '') return;
    // extra words after the indicator are a description (`1.2.3.4  scanner`): the first word counts
    const sp = body.search(/\s/);
    out.add(sp < 0 ? body : body.slice(0, sp), conf, no);
  });
  return out.result();
}

// ---- CSV

export function parseCsvFeed(text: string, opts: FeedParseOptions): FeedParseResult {
  const out = new Collector(opts);
  const delim = opts.delimiter ?? ',';
  const column = opts.column ?? 1;
  const hasHeader = opts.header ?? (typeof column === 'string' || typeof opts.confidenceColumn === 'string');
  const defaultConf = clampConfidence(opts.confidence ?? 50);
  let valueIdx = typeof column === 'number' ? column - 1 : -1;
  let confIdx = typeof opts.confidenceColumn === 'number' ? opts.confidenceColumn - 1 : -1;
  let headerSeen = !hasHeader;
  eachLine(text, out, (line, no) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const fields = splitCsvLine(line, delim);
    if (fields === null) {
      out.warn(no, 'unterminated quoted field');
      return;
    }
    if (!headerSeen) {
      headerSeen = true;
      const names = fields.map((f) => f.trim().toLowerCase());
      if (typeof column === 'string') valueIdx = names.indexOf(column.toLowerCase());
      if (typeof opts.confidenceColumn === 'string') confIdx = names.indexOf(opts.confidenceColumn.toLowerCase());
      if (valueIdx < 0) throw new EnrichSourceError(opts.file, no, `header has no column ${JSON.stringify(column)}`);
      if (opts.confidenceColumn !== undefined && confIdx < 0) {
        throw new EnrichSourceError(opts.file, no, `header has no column ${JSON.stringify(opts.confidenceColumn)}`);
      }
      return;
    }
    if (valueIdx >= fields.length) {
      out.warn(no, `${fields.length} fields, indicator column is ${valueIdx + 1}`);
      return;
    }
    let conf = defaultConf;
    if (confIdx >= 0 && confIdx < fields.length && fields[confIdx].trim() !== '') {
      const c = Number(fields[confIdx].trim());
      if (!Number.isFinite(c) || c < 0 || c > 100) {
        out.warn(no, `confidence ${quote(fields[confIdx])} is not a number 0–100`);
        return;
      }
      conf = clampConfidence(c);
    }
    out.add(fields[valueIdx], conf, no);
  });
  if (hasHeader && !headerSeen) throw new EnrichSourceError(opts.file, undefined, 'no header line');
  return out.result();
}

/** RFC 4180 fields of one line (quoted fields with doubled quotes); null on an unterminated quote. */
export function splitCsvLine(line: string, delim: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      const d = line.indexOf(delim, i);
      if (d < 0) return out;
      i = d + delim.length;
    } else {
      const d = line.indexOf(delim, i);
      if (d < 0) {
        out.push(line.slice(i, n));
        return out;
      }
      out.push(line.slice(i, d));
      i = d + delim.length;
    }
  }
}

// ---- Spamhaus DROP / EDROP / DROPv6

/** Text (`CIDR ; SBLnnn`) or JSON-lines (drop_v4.json) form, told apart by the first non-blank character. */
export function parseSpamhausDrop(text: string, opts: FeedParseOptions): FeedParseResult {
  const first = /\S/.exec(text);
  const o = { ...opts, confidence: opts.confidence ?? 90 };
  if (first === null || first[0] !== '{') return parsePlainList(text, o);
  const out = new Collector(o);
  const conf = clampConfidence(o.confidence);
  let records = 0;
  let metadata: { records?: unknown; line: number } | null = null;
  eachLine(text, out, (line, no) => {
    const body = line.trim();
    if (body === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(body);
    } catch (e) {
      out.warn(no, `not JSON: ${(e as Error).message}`);
      return;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      out.warn(no, 'not a JSON object');
      return;
    }
    const r = obj as Record<string, unknown>;
    if (r.type === 'metadata') {
      metadata = { records: r.records, line: no };
      return;
    }
    if (typeof r.cidr !== 'string') {
      out.warn(no, 'no "cidr" string');
      return;
    }
    records++;
    const src = typeof r.sblid === 'string' ? `${opts.file}:${no} (${r.sblid})` : no;
    out.add(r.cidr, conf, src);
  });
  const meta = metadata as { records?: unknown; line: number } | null;
  if (meta === null) out.warn(opts.file, 'no metadata line at the end: the download may be truncated');
  else if (typeof meta.records === 'number' && meta.records !== records) {
    out.warn(`${opts.file}:${meta.line}`, `metadata says ${meta.records} records, file has ${records}`);
  }
  return out.result();
}

// ---- STIX 2.1

const STIX_COMPARISON = /^(ipv4-addr|ipv6-addr|domain-name|url):value\s*(=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'$/;

export function parseStixBundle(text: string, opts: FeedParseOptions): FeedParseResult {
  const out = new Collector(opts);
  const doc = parseJsonFile(opts.file, text);
  const now = opts.now ?? Date.now();
  let objects: unknown[];
  if (Array.isArray(doc)) objects = doc;
  else if (isObj(doc) && doc.type === 'bundle') {
    if (!Array.isArray(doc.objects)) throw new EnrichSourceError(opts.file, undefined, 'bundle has no objects array');
    objects = doc.objects;
  } else if (isObj(doc) && doc.type === 'indicator') objects = [doc];
  else throw new EnrichSourceError(opts.file, undefined, 'not a STIX bundle (no "type": "bundle")');
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    if (!isObj(o) || o.type !== 'indicator') continue;
    const where = `${opts.file}:${typeof o.id === 'string' ? o.id : `objects[${i}]`}`;
    if (o.revoked === true) {
      out.warn(where, 'revoked');
      continue;
    }
    if (o.pattern_type !== 'stix') {
      out.warn(where, `pattern_type ${JSON.stringify(o.pattern_type)} not supported`);
      continue;
    }
    if (typeof o.valid_until === 'string') {
      const t = Date.parse(o.valid_until);
      if (Number.isNaN(t)) {
        out.warn(where, `valid_until ${quote(o.valid_until)} is not a timestamp`);
        continue;
      }
      if (t <= now) {
        out.warn(where, `expired (valid_until ${o.valid_until})`);
        continue;
      }
    }
    if (typeof o.valid_from === 'string') {
      const t = Date.parse(o.valid_from);
      if (!Number.isNaN(t) && t > now) {
        out.warn(where, `not yet valid (valid_from ${o.valid_from})`);
        continue;
      }
    }
    let conf = opts.confidence ?? 50;
    if (typeof o.confidence === 'number' && o.confidence >= 0 && o.confidence <= 100) conf = o.confidence;
    if (typeof o.pattern !== 'string') {
      out.warn(where, 'no pattern');
      continue;
    }
    const values = stixPatternValues(o.pattern);
    if (typeof values === 'string') {
      out.warn(where, values);
      continue;
    }
    for (const v of values) out.add(v, clampConfidence(conf), where);
  }
  return out.result();
}

/**
 * The values of a STIX pattern made only of `=`/ISSUBSET comparisons on the four supported object
 * paths, joined by OR (inside one observation expression or between several); otherwise why not.
 * AND, FOLLOWEDBY, qualifiers and other objects are not a single-flow match and are skipped.
 */
export function stixPatternValues(pattern: string): string[] | string {
  if (pattern.length > 65536) return 'pattern too long';
  const values: string[] = [];
  // split on OR outside quotes, strip brackets around observation expressions
  const parts: string[] = [];
  let cur = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i];
    if (ch === "'") {
      let j = i + 1;
      while (j < pattern.length && pattern[j] !== "'") j += pattern[j] === '\\' ? 2 : 1;
      if (j >= pattern.length) return 'unterminated string in pattern';
      cur += pattern.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (/\s/.test(ch) && /^\s+OR\s+/.test(pattern.slice(i, i + 8))) {
      const m = /^\s+OR\s+/.exec(pattern.slice(i)) as RegExpExecArray;
      parts.push(cur);
      cur = '';
      i += m[0].length;
      continue;
    }
    cur += ch;
    i++;
  }
  parts.push(cur);
  for (let p of parts) {
    p = p.trim();
    while (p.startsWith('[') || p.startsWith('(')) p = p.slice(1).trim();
    while (p.endsWith(']') || p.endsWith(')')) p = p.slice(0, -1).trim();
    const m = STIX_COMPARISON.exec(p);
    if (m === null) return `unsupported pattern comparison ${quote(p)}`;
    values.push(m[3].replace(/\\(.)/g, '$1'));
  }
  return values;
}

// ---- MISP

/** Event uuids listed in a MISP feed's manifest.json (`{ "<uuid>": { info, date, ... } }`). */
export function parseMispManifest(text: string, file: string): string[] {
  const doc = parseJsonFile(file, text);
  if (!isObj(doc)) throw new EnrichSourceError(file, undefined, 'manifest is not a JSON object');
  const out: string[] = [];
  for (const k of Object.keys(doc)) {
    // uuids only: the key becomes a file name (`<uuid>.json`) and must not walk out of the feed
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(k)) out.push(k);
  }
  return out;
}

/**
 * Attribute types read from a MISP event, and which half of a composite value is the indicator.
 * ip-src/ip-dst may hold a CIDR in MISP; `|port` and `domain|ip` are composites split on `|`.
 */
const MISP_TYPES: Record<string, number[]> = {
  'ip-src': [0],
  'ip-dst': [0],
  'ip-src|port': [0],
  'ip-dst|port': [0],
  domain: [0],
  hostname: [0],
  'domain|ip': [0, 1],
  'hostname|port': [0],
  url: [0],
};

/** MISP threat_level_id (1 high, 2 medium, 3 low, 4 undefined) as a confidence, MISP having none per attribute. */
const MISP_THREAT_CONFIDENCE: Record<string, number> = { '1': 90, '2': 70, '3': 50, '4': 30 };

export function parseMispEvent(text: string, opts: FeedParseOptions): FeedParseResult {
  const out = new Collector(opts);
  const doc = parseJsonFile(opts.file, text);
  const ev = isObj(doc) && isObj(doc.Event) ? doc.Event : null;
  if (ev === null) throw new EnrichSourceError(opts.file, undefined, 'no "Event" object');
  const idsOnly = opts.idsOnly ?? true;
  const level = ev.threat_level_id === undefined ? undefined : String(ev.threat_level_id);
  const conf = clampConfidence(opts.confidence ?? (level !== undefined ? (MISP_THREAT_CONFIDENCE[level] ?? 50) : 50));
  const attrs: { a: unknown; path: string }[] = [];
  if (Array.isArray(ev.Attribute)) {
    for (let i = 0; i < ev.Attribute.length; i++) attrs.push({ a: ev.Attribute[i], path: `Attribute[${i}]` });
  }
  if (Array.isArray(ev.Object)) {
    for (let j = 0; j < ev.Object.length; j++) {
      const o = ev.Object[j];
      if (!isObj(o) || o.deleted === true || !Array.isArray(o.Attribute)) continue;
      for (let i = 0; i < o.Attribute.length; i++)
        attrs.push({ a: o.Attribute[i], path: `Object[${j}].Attribute[${i}]` });
    }
  }
  const evId = typeof ev.uuid === 'string' ? ev.uuid : 'Event';
  for (const { a, path } of attrs) {
    if (!isObj(a)) continue;
    const where = `${opts.file}:${typeof a.uuid === 'string' ? a.uuid : `${evId}.${path}`}`;
    const parts = typeof a.type === 'string' ? MISP_TYPES[a.type] : undefined;
    if (parts === undefined) continue; // hashes, emails, ...: not matched against flows
    if (a.deleted === true) continue;
    // to_ids is a boolean in the core format; older exports write "1"/"0" or 1/0
    const ids = a.to_ids === true || a.to_ids === 1 || a.to_ids === '1';
    if (idsOnly && !ids) continue;
    if (typeof a.value !== 'string') {
      out.warn(where, 'attribute without a string value');
      continue;
    }
    const pieces = a.value.split('|');
    for (const p of parts) {
      if (p >= pieces.length) {
        out.warn(where, `${a.type} value ${quote(a.value)} has no part ${p + 1}`);
        continue;
      }
      out.add(pieces[p], conf, where);
    }
  }
  return out.result();
}

/**
 * MISP "Freetext Parsed Feed": indicators anywhere in the text, refanged (hxxp, [.], (.), [:]).
 * Words that are not indicators are not warnings: a free text is mostly prose.
 */
export function parseFreetext(text: string, opts: FeedParseOptions): FeedParseResult {
  const out = new Collector(opts);
  const conf = clampConfidence(opts.confidence ?? 50);
  eachLine(text, out, (line, no) => {
    const body = stripComment(line);
    if (body === '') return;
    const refanged = body
      .replace(/\[\.\]|\(\.\)|\{\.\}|\[dot\]/gi, '.')
      .replace(/\[:\]/g, ':')
      .replace(/\bhxxp(s?)/gi, 'http$1')
      .replace(/\[:\/\/\]/g, '://');
    for (let tok of refanged.split(/[\s,;"'<>()|]+/)) {
      tok = tok.replace(/^[[{]+|[\]}.:!?]+$/g, '');
      if (tok === '') continue;
      const c = classifyIndicator(tok);
      if (c === null) continue;
      if (c.type === 'domain' && !plausibleDomain(c.value)) continue;
      out.add(tok, conf, no, true);
    }
  });
  return out.result();
}

/** In prose, `report.pdf` and `e.g` look like domains: require an alphabetic TLD that is not a file extension. */
function plausibleDomain(d: string): boolean {
  const tld = d.slice(d.lastIndexOf('.') + 1);
  return /^[a-z]{2,24}$/.test(tld) && !FILE_EXTENSIONS.has(tld);
}

const FILE_EXTENSIONS = new Set([
  'exe',
  'dll',
  'txt',
  'pdf',
  'doc',
  'docx',
  'xls',
  'xlsx',
  'zip',
  'rar',
  'js',
  'php',
  'html',
  'htm',
  'jpg',
  'png',
  'gif',
  'json',
  'csv',
  'xml',
  'bat',
  'ps1',
  'vbs',
  'jar',
  'tmp',
  'log',
]);

// ---- JSON helpers

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
