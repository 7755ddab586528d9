// Zeek logs (conn.log, joined with dns.log, ssl.log and http.log by uid) → FlowBatch rows.
//
// Formats: Zeek's ASCII writer (TSV with a `#separator`/`#fields`/`#types` header block, Zeek docs
// "Logging Framework → ASCII writer") and its JSON writer (one object per line, `LogAscii::use_json`,
// plus `_path`/`_write_ts` from the json-streaming-logs package, whose `ts` may be ISO 8601 text).
// Files may be gzip (1f 8b): they are gunzipped whole with node:zlib.
//
// How a conn record becomes a flow (choices a reader of the data needs to know):
// * exporter = `zeek:<sensor>` when the JSON record carries a `_system_name` field (a sensor name
//   some deployments add to every record), else `zeek:<dir>/<file>` from the
//   name the caller passed (last directory + file name: a Zeek log directory usually names the
//   sensor or the day), or `options.exporter` when given.
// * time_start = ts, time_end = ts + duration (duration unset, e.g. one-packet S0: time_end = ts),
//   both truncated from µs to ms. TSV times are parsed as integer µs from the text so that no
//   float rounding moves a time across a millisecond.
// * bytes/packets = orig_ip_bytes/orig_pkts, rev_bytes/rev_packets = resp_ip_bytes/resp_pkts:
//   the IP-level byte counts (sum of IP total lengths) are what NetFlow/IPFIX octetDeltaCount
//   counts (RFC 7012 §5.10.1), so Zeek flows add up with exported flows. orig_bytes/resp_bytes are
//   payload bytes inferred from TCP sequence numbers: they exclude headers, and they jump when
//   Zeek misses packets or the sequence space wraps (see missed_bytes), so they are used only when
//   the log has no *_ip_bytes columns.
// * proto from `proto` (tcp 6, udp 17, icmp 1 — or 58 when the addresses are IPv6: Zeek logs
//   ICMPv6 as "icmp"). For ICMP Zeek puts the type in id.orig_p and the code in id.resp_p; they go
//   to icmp_type/icmp_code and the ports stay null.
// * flow_state from conn_state (Zeek base/protocols/conn/main.zeek): S0 (attempt, no reply) →
//   start; S1 (established, not closed) and OTH (midstream, no SYN seen) → continue; every closed
//   state (SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR) → end. A non-TCP record is written
//   when Zeek expires the connection, so it is the end of the flow whatever its state. Records of
//   open_conn.log (the open-connections package: still open at log time) → continue.
// * action: REJ (SYN answered by RST) → reject; otherwise accept when the responder sent anything
//   (resp_pkts > 0), unknown when it did not (no reply: filtered, host down or lost — the log
//   cannot tell).
// * tcp_flags (TCP only, OR of both directions, RFC 793 §3.1 bits) from `history`, upper case =
//   originator, lower = responder: S → SYN, H → SYN+ACK, A → ACK, D (payload) → ACK (Zeek does not
//   record PSH, so it is not invented), F → FIN, R → RST, Q (SYN with FIN or RST) → SYN. C, G, I,
//   T, W and ^ describe checksums, gaps, retransmissions, windows and direction flips: no bits.
// * app = service (Zeek's comma-joined list of analysers that confirmed, e.g. "http,ssl"),
//   community_id when the community-id package logged it, vlan when the vlan-logging policy did.
// * dns_qname/tls_sni/http_host = dns.log `query`, ssl.log `server_name`, http.log `host` of the
//   same uid (the first one seen when a connection carried several queries or requests).
//
// Bad input never throws: every bad file or line gives an error naming the file and line and is
// skipped. Rows are written straight into the typed arrays; the TSV path scans character codes
// with no array or object per record (IPv6 addresses still go through parseAddr, which allocates;
// JSON records are one JSON.parse object each).

import { basename, dirname } from 'node:path';
import { type FlowBatch, isV4Mapped, parseAddr, type StringDict } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, FLOW_STATES, SOURCE_TYPES } from '../../schema/columns.js';
import { inflated } from '../gzip.js';

export interface ZeekLogFile {
  name: string;
  data: Uint8Array;
}

export interface ZeekLogError {
  file: string;
  /** 1-based line number; 0 for a problem with the whole file (gzip, encoding). */
  line: number;
  message: string;
}

export interface ZeekImportResult {
  flows: number;
  /** Records seen per Zeek log path (conn, dns, ssl, http, notice, …), valid or not. */
  byPath: Record<string, number>;
  errors: ZeekLogError[];
}

export interface ZeekImportOptions {
  /** Exporter id for every flow (default: see the header comment). */
  exporter?: string;
  /** Errors kept per file before the rest are summarised in one line (default 100). */
  maxErrorsPerFile?: number;
}

/** Sniff the first bytes of a file (as text): Zeek TSV, Zeek JSON or neither. */
export function looksLikeZeekLog(firstBytes: string): 'tsv' | 'json' | null {
  const s = firstBytes.replace(/^[\uFEFF\s]+/, '');
  if (s.startsWith('#separator')) return 'tsv';
  if (s.startsWith('{') && /"(?:_path|uid|ts|id\.orig_h)"\s*:/.test(s.slice(0, 4096))) return 'json';
  return null;
}

/**
 * Parse Zeek logs into flows: dns/ssl/http records first (uid → name maps), then conn records.
 * Never throws on bad input: problems are returned in `errors`.
 */
export function parseZeekLogs(
  files: readonly ZeekLogFile[],
  receivedMs: number,
  sink: BatchSink,
  options: ZeekImportOptions = {},
): ZeekImportResult {
  const ctx = new ImportContext(receivedMs, sink, options);
  const prepared: PreparedFile[] = [];
  for (const f of files) {
    const p = prepare(f, ctx);
    if (p !== null) prepared.push(p);
  }
  // Pass 1: the logs that name connections (and any file whose path is not known yet).
  for (const p of prepared) if (p.path !== 'conn' && p.path !== 'open_conn') readFile(p, ctx, false);
  // Pass 2: conn records, now that every uid's names are known.
  for (const p of prepared) if (p.path === 'conn' || p.path === 'open_conn' || p.path === '') readFile(p, ctx, true);
  for (const p of prepared) ctx.summarise(p.name);
  return { flows: ctx.flows, byPath: ctx.byPath, errors: ctx.errors };
}

// ---- files

interface PreparedFile {
  name: string;
  text: string;
  format: 'tsv' | 'json';
  /** Log path from the header, the first JSON record or the file name; '' when unknown. */
  path: string;
  exporter: string;
}

const JOINED_PATHS = new Set(['dns', 'ssl', 'http']);

function prepare(f: ZeekLogFile, ctx: ImportContext): PreparedFile | null {
  // a gzip cut short gives what was written before the cut (reported); a corrupt one nothing
  const data = inflated(f.data, (m) => ctx.error(f.name, 0, m));
  if (data === null) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: false }).decode(data);
  } catch (e) {
    ctx.error(f.name, 0, `cannot decode as text: ${(e as Error).message}`);
    return null;
  }
  const format = looksLikeZeekLog(text.slice(0, 4096));
  const exporter = ctx.options.exporter ?? defaultExporter(f.name);
  if (format === null) {
    if (text.trim() === '') return null;
    const firstLine = text.slice(0, Math.min(text.length, 60)).split('\n')[0];
    const looksTsvData = /^\d+(\.\d+)?\t/.test(firstLine);
    ctx.error(
      f.name,
      1,
      looksTsvData
        ? 'Zeek TSV data without its header block (#separator, #fields, #types): the columns are unknown'
        : `not a Zeek log: no #separator header and not JSON (starts with ${JSON.stringify(firstLine.slice(0, 40))})`,
    );
    return null;
  }
  let path = '';
  if (format === 'tsv') {
    const m = /^#path[\t ,|;]+([A-Za-z0-9_]+)/m.exec(text.slice(0, 4096));
    if (m !== null) path = m[1];
  } else {
    const m = /"_path"\s*:\s*"([A-Za-z0-9_]+)"/.exec(text.slice(0, text.indexOf('\n') >>> 0));
    if (m !== null) path = m[1];
  }
  if (path === '') path = pathFromName(f.name);
  if (path === 'conn' && /open_conn/.test(basename(f.name))) path = 'open_conn';
  return { name: f.name, text, format, path, exporter };
}

function defaultExporter(name: string): string {
  const dir = basename(dirname(name));
  const file = basename(name);
  return dir === '.' || dir === '' || dir === '/' ? `zeek:${file}` : `zeek:${dir}/${file}`;
}

/** conn.log, conn.12:00:00-13:00:00.log.gz, rita-proxy-dns.log, open_conn.json → the log path. */
function pathFromName(name: string): string {
  const b = basename(name).toLowerCase();
  if (/(^|[^a-z])open_conn([^a-z]|$)/.test(b)) return 'open_conn';
  const m = /(?:^|[^a-z])(conn|dns|ssl|http)(?:[^a-z]|$)/.exec(b);
  if (m !== null) return m[1];
  // Zeek names every other log after its path too (notice.log, weird.log, x509.log).
  const w = /^([a-z0-9_]+)\.(?:log|json)/.exec(b);
  return w === null ? '' : w[1];
}

function readFile(p: PreparedFile, ctx: ImportContext, connPass: boolean): void {
  ctx.file = p.name;
  ctx.exporter = p.exporter;
  if (p.format === 'tsv') readTsv(p, ctx, connPass);
  else readJson(p, ctx, connPass);
}

// ---- shared state

const ST_ZEEK = SOURCE_TYPES.indexOf('zeek') + 1;
const ACT_ACCEPT = ACTIONS.indexOf('accept');
const ACT_REJECT = ACTIONS.indexOf('reject');
const ACT_UNKNOWN = ACTIONS.indexOf('unknown');
const FS_START = FLOW_STATES.indexOf('start');
const FS_CONTINUE = FLOW_STATES.indexOf('continue');
const FS_END = FLOW_STATES.indexOf('end');

class ImportContext {
  flows = 0;
  readonly byPath: Record<string, number> = {};
  readonly errors: ZeekLogError[] = [];
  readonly dnsByUid = new Map<string, string>();
  readonly sniByUid = new Map<string, string>();
  readonly hostByUid = new Map<string, string>();
  file = '';
  exporter = '';
  private readonly errorsPerFile = new Map<string, number>();
  private readonly maxErrors: number;
  constructor(
    readonly receivedMs: number,
    readonly sink: BatchSink,
    readonly options: ZeekImportOptions,
  ) {
    this.maxErrors = options.maxErrorsPerFile ?? 100;
  }
  private readonly seen = new Set<string>();
  error(file: string, line: number, message: string): void {
    // Files whose path is unknown are read in both passes: report each problem once.
    const key = `${file}\u0000${line}\u0000${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const n = (this.errorsPerFile.get(file) ?? 0) + 1;
    this.errorsPerFile.set(file, n);
    if (n <= this.maxErrors) this.errors.push({ file, line, message });
  }
  summarise(file: string): void {
    const n = this.errorsPerFile.get(file) ?? 0;
    if (n > this.maxErrors)
      this.errors.push({ file, line: 0, message: `${n - this.maxErrors} more errors not listed` });
  }
  count(path: string): void {
    this.byPath[path] = (this.byPath[path] ?? 0) + 1;
  }
}

// ---- TSV

/** Column positions of a conn header (-1: absent). */
class ConnColumns {
  ts = -1;
  uid = -1;
  origH = -1;
  origP = -1;
  respH = -1;
  respP = -1;
  proto = -1;
  service = -1;
  duration = -1;
  connState = -1;
  history = -1;
  origPkts = -1;
  respPkts = -1;
  origBytes = -1;
  respBytes = -1;
  communityId = -1;
  vlan = -1;
  // join sources
  query = -1;
  serverName = -1;
  host = -1;
  static from(fields: readonly string[]): ConnColumns {
    const c = new ConnColumns();
    const at = (n: string) => fields.indexOf(n);
    c.ts = at('ts');
    c.uid = at('uid');
    c.origH = at('id.orig_h');
    c.origP = at('id.orig_p');
    c.respH = at('id.resp_h');
    c.respP = at('id.resp_p');
    c.proto = at('proto');
    c.service = at('service');
    c.duration = at('duration');
    c.connState = at('conn_state');
    c.history = at('history');
    c.origPkts = at('orig_pkts');
    c.respPkts = at('resp_pkts');
    c.origBytes = at('orig_ip_bytes') >= 0 ? at('orig_ip_bytes') : at('orig_bytes');
    c.respBytes = at('resp_ip_bytes') >= 0 ? at('resp_ip_bytes') : at('resp_bytes');
    c.communityId = at('community_id');
    c.vlan = at('vlan');
    c.query = at('query');
    c.serverName = at('server_name');
    c.host = at('host');
    return c;
  }
}

const MAX_FIELDS = 512;
const fStart = new Int32Array(MAX_FIELDS);
const fEnd = new Int32Array(MAX_FIELDS);

/** Header state of the block being read (a file may hold several: rotated logs concatenated). */
class TsvHeader {
  sep = '\t';
  sepCode = 9;
  unset = '-';
  empty = '(empty)';
  path = '';
  fields: string[] | null = null;
  cols: ConnColumns | null = null;
}

function readTsv(p: PreparedFile, ctx: ImportContext, connPass: boolean): void {
  const text = p.text;
  const n = text.length;
  const h = new TsvHeader();
  h.path = p.path;
  let lineNo = 0;
  let pos = 0;
  let headerlessReported = false;
  while (pos < n) {
    lineNo++;
    let end = text.indexOf('\n', pos);
    const terminated = end >= 0;
    if (!terminated) end = n;
    let lineEnd = end;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    const start = pos;
    pos = end + 1;
    if (lineEnd === start) continue;
    // A header line, possibly indented (the Slips test10 conn.log starts with a TAB before #separator).
    let q = start;
    while (q < lineEnd && (text.charCodeAt(q) === 9 || text.charCodeAt(q) === 32)) q++;
    if (text.charCodeAt(q) === 35 /* # */) {
      readHeaderLine(text.slice(q, lineEnd), h, p, ctx, lineNo);
      continue;
    }
    if (h.fields === null) {
      if (!headerlessReported) {
        ctx.error(
          p.name,
          lineNo,
          'data line before any #fields header: the columns are unknown; skipping until a header',
        );
        headerlessReported = true;
      }
      continue;
    }
    const isConn = h.path === 'conn' || h.path === 'open_conn';
    if (connPass !== isConn) continue;
    ctx.count(h.path === '' ? 'unknown' : h.path);
    const nf = h.fields.length;
    let k = 0;
    let fs = start;
    const sepCode = h.sepCode;
    for (let i = start; i < lineEnd; i++) {
      if (text.charCodeAt(i) === sepCode) {
        if (k < MAX_FIELDS) {
          fStart[k] = fs;
          fEnd[k] = i;
        }
        k++;
        fs = i + 1;
      }
    }
    if (k < MAX_FIELDS) {
      fStart[k] = fs;
      fEnd[k] = lineEnd;
    }
    k++;
    if (!terminated) {
      ctx.error(p.name, lineNo, `truncated record: the file ends inside this line (${k} of ${nf} fields, no line end)`);
      continue;
    }
    if (k !== nf) {
      ctx.error(p.name, lineNo, `expected ${nf} tab-separated fields (per #fields), found ${k}`);
      continue;
    }
    const c = h.cols as ConnColumns;
    if (isConn) {
      const err = tsvConnRow(text, c, h, ctx, p.path === 'open_conn' || h.path === 'open_conn');
      if (err !== null) ctx.error(p.name, lineNo, err);
    } else if (c.uid >= 0) {
      tsvJoinRow(text, c, h, ctx);
    }
  }
}

function readHeaderLine(line: string, h: TsvHeader, p: PreparedFile, ctx: ImportContext, lineNo: number): void {
  if (line.startsWith('#separator')) {
    // "#separator \x09": the only directive separated by a space, its value escaped.
    const v = unescapeZeek(line.slice(10).trim());
    if (v.length !== 1) {
      ctx.error(p.name, lineNo, `#separator must be one character, found ${JSON.stringify(v)}`);
      return;
    }
    h.sep = v;
    h.sepCode = v.charCodeAt(0);
    h.fields = null;
    h.cols = null;
    return;
  }
  const i = line.indexOf(h.sep);
  const key = i < 0 ? line : line.slice(0, i);
  const value = i < 0 ? '' : line.slice(i + 1);
  switch (key) {
    case '#unset_field':
      h.unset = value;
      break;
    case '#empty_field':
      h.empty = value;
      break;
    case '#path':
      h.path = value;
      if (h.path === 'conn' && p.path === 'open_conn') h.path = 'open_conn';
      break;
    case '#fields': {
      const fields = value.split(h.sep);
      if (fields.length > MAX_FIELDS) {
        ctx.error(p.name, lineNo, `#fields lists ${fields.length} columns, more than ${MAX_FIELDS}`);
        h.fields = null;
        return;
      }
      h.fields = fields;
      h.cols = ConnColumns.from(fields);
      if (h.path === '' && fields.includes('conn_state')) h.path = 'conn';
      if ((h.path === 'conn' || h.path === 'open_conn') && (h.cols.ts < 0 || h.cols.origH < 0 || h.cols.respH < 0)) {
        ctx.error(p.name, lineNo, 'conn #fields lacks ts, id.orig_h or id.resp_h');
        h.fields = null;
      }
      break;
    }
    default:
      // #set_separator (only set/vector columns use it; conn's `service` is a plain string),
      // #types (the parse follows the field names), #open, #close: nothing to do.
      break;
  }
}

function fieldIsUnset(text: string, f: number, h: TsvHeader): boolean {
  if (f < 0) return true;
  const s = fStart[f];
  const len = fEnd[f] - s;
  if (len === 0) return true;
  if (len === 1 && text.charCodeAt(s) === h.unset.charCodeAt(0) && h.unset.length === 1) return true;
  if (len === h.unset.length && text.startsWith(h.unset, s)) return true;
  return len === h.empty.length && text.startsWith(h.empty, s);
}

function fieldString(text: string, f: number, h: TsvHeader): string {
  if (fieldIsUnset(text, f, h)) return '';
  const s = text.slice(fStart[f], fEnd[f]);
  return s.indexOf('\\x') >= 0 ? unescapeZeek(s) : s;
}

/** Unsigned integer field; -1 when unset, -2 when not a number. */
function fieldUint(text: string, f: number, h: TsvHeader): number {
  if (fieldIsUnset(text, f, h)) return -1;
  const s = fStart[f];
  const e = fEnd[f];
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -2;
    v = v * 10 + d;
  }
  return v;
}

/** Decimal seconds ("1601998366.785668") as integer µs; -1 unset, -2 malformed. */
function fieldMicros(text: string, f: number, h: TsvHeader): number {
  if (fieldIsUnset(text, f, h)) return -1;
  const s = fStart[f];
  const e = fEnd[f];
  let v = 0;
  let i = s;
  for (; i < e; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d === -2) break; // '.'
    if (d < 0 || d > 9) return -2;
    v = v * 10 + d;
  }
  let frac = 0;
  let digits = 0;
  if (i < e) {
    for (i++; i < e; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -2;
      if (digits < 6) {
        frac = frac * 10 + d;
        digits++;
      }
    }
  }
  while (digits < 6) {
    frac *= 10;
    digits++;
  }
  return v * 1e6 + frac;
}

function tsvConnRow(text: string, c: ConnColumns, h: TsvHeader, ctx: ImportContext, open: boolean): string | null {
  const tsUs = fieldMicros(text, c.ts, h);
  if (tsUs < 0) return `ts: not a time (${fieldText(text, c.ts)})`;
  const durUs = fieldMicros(text, c.duration, h);
  if (durUs === -2) return `duration: not an interval (${fieldText(text, c.duration)})`;
  const origP = fieldUint(text, c.origP, h);
  const respP = fieldUint(text, c.respP, h);
  if (origP === -2 || origP > 65535) return `id.orig_p: not a port 0..65535 (${fieldText(text, c.origP)})`;
  if (respP === -2 || respP > 65535) return `id.resp_p: not a port 0..65535 (${fieldText(text, c.respP)})`;
  const origPkts = fieldUint(text, c.origPkts, h);
  const respPkts = fieldUint(text, c.respPkts, h);
  const origBytes = fieldUint(text, c.origBytes, h);
  const respBytes = fieldUint(text, c.respBytes, h);
  if (origPkts === -2 || respPkts === -2 || origBytes === -2 || respBytes === -2)
    return 'a packet or byte count is not a number';

  const sink = ctx.sink;
  const b = sink.batch();
  const r = b.addRow();
  if (!setAddrField(b, C.src_addr, r, text, fStart[c.origH], fEnd[c.origH])) {
    b.dropLastRow();
    return `id.orig_h: not an address (${fieldText(text, c.origH)})`;
  }
  if (!setAddrField(b, C.dst_addr, r, text, fStart[c.respH], fEnd[c.respH])) {
    b.dropLastRow();
    return `id.resp_h: not an address (${fieldText(text, c.respH)})`;
  }
  const protoName = fieldString(text, c.proto, h);
  const service = c.service >= 0 ? fieldString(text, c.service, h) : '';
  const state = c.connState >= 0 ? fieldString(text, c.connState, h) : '';
  const history = c.history >= 0 ? fieldString(text, c.history, h) : '';
  const uid =
    c.uid >= 0 && ctx.dnsByUid.size + ctx.sniByUid.size + ctx.hostByUid.size > 0 ? fieldString(text, c.uid, h) : '';
  const cid = c.communityId >= 0 ? fieldString(text, c.communityId, h) : '';
  const vlan = c.vlan >= 0 ? fieldUint(text, c.vlan, h) : -1;
  fillConnRow(
    b,
    r,
    ctx,
    tsUs,
    durUs,
    origP,
    respP,
    protoName,
    origPkts,
    origBytes,
    respPkts,
    respBytes,
    service,
    state,
    history,
    uid,
    cid,
    vlan,
    open,
  );
  ctx.flows++;
  return null;
}

function tsvJoinRow(text: string, c: ConnColumns, h: TsvHeader, ctx: ImportContext): void {
  const uid = fieldString(text, c.uid, h);
  if (uid === '') return;
  if (h.path === 'dns' && c.query >= 0) {
    const q = fieldString(text, c.query, h);
    if (q !== '' && !ctx.dnsByUid.has(uid)) ctx.dnsByUid.set(uid, q);
  } else if (h.path === 'ssl' && c.serverName >= 0) {
    const q = fieldString(text, c.serverName, h);
    if (q !== '' && !ctx.sniByUid.has(uid)) ctx.sniByUid.set(uid, q);
  } else if (h.path === 'http' && c.host >= 0) {
    const q = fieldString(text, c.host, h);
    if (q !== '' && !ctx.hostByUid.has(uid)) ctx.hostByUid.set(uid, q);
  }
}

function fieldText(text: string, f: number): string {
  if (f < 0) return 'missing column';
  const s = text.slice(fStart[f], Math.min(fEnd[f], fStart[f] + 60));
  return JSON.stringify(s);
}

/** Zeek's ASCII escaping: `\xNN` for separators and non-printable bytes (as Latin-1 → UTF-8 bytes). */
function unescapeZeek(s: string): string {
  if (s.indexOf('\\x') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 92 && s.charCodeAt(i + 1) === 120 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) {
      bytes.push(Number.parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      const ch = s.codePointAt(i) as number;
      if (ch > 0xffff) i++;
      for (const x of new TextEncoder().encode(String.fromCodePoint(ch))) bytes.push(x);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

// ---- JSON

function readJson(p: PreparedFile, ctx: ImportContext, connPass: boolean): void {
  const text = p.text;
  const n = text.length;
  let lineNo = 0;
  let pos = 0;
  while (pos < n) {
    lineNo++;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    const start = pos;
    pos = end + 1;
    let s = start;
    while (s < end && (text.charCodeAt(s) <= 32 || text.charCodeAt(s) === 0xfeff)) s++;
    if (s === end) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(text.slice(s, end));
    } catch (e) {
      // One error per line, in the pass that reads the file first (conn files are read once).
      if (!connPass || p.path === 'conn' || p.path === 'open_conn') {
        const cut = end === n && text.charCodeAt(n - 1) !== 10;
        ctx.error(p.name, lineNo, cut ? 'truncated JSON record at end of file' : `not JSON: ${(e as Error).message}`);
      }
      continue;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      if (!connPass || p.path === 'conn' || p.path === 'open_conn')
        ctx.error(p.name, lineNo, 'JSON line is not an object');
      continue;
    }
    const o = rec as Record<string, unknown>;
    let path = typeof o._path === 'string' ? o._path : p.path;
    if (path === '' && 'conn_state' in o) path = 'conn';
    if (path === 'conn' && p.path === 'open_conn') path = 'open_conn';
    const isConn = path === 'conn' || path === 'open_conn';
    if (connPass !== isConn) continue;
    ctx.count(path === '' ? 'unknown' : path);
    if (isConn) {
      const err = jsonConnRow(o, ctx, path === 'open_conn');
      if (err !== null) ctx.error(p.name, lineNo, err);
    } else if (JOINED_PATHS.has(path)) {
      jsonJoinRow(o, path, ctx);
    }
  }
}

function jsonJoinRow(o: Record<string, unknown>, path: string, ctx: ImportContext): void {
  const uid = o.uid;
  if (typeof uid !== 'string') return;
  const key = path === 'dns' ? 'query' : path === 'ssl' ? 'server_name' : 'host';
  const v = o[key];
  if (typeof v !== 'string' || v === '') return;
  const m = path === 'dns' ? ctx.dnsByUid : path === 'ssl' ? ctx.sniByUid : ctx.hostByUid;
  if (!m.has(uid)) m.set(uid, v);
}

/** JSON time: seconds (number) or ISO 8601 text (json-streaming-logs) → µs; -1 absent, -2 bad. */
function jsonMicros(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1e6) : -2;
  if (typeof v === 'string') {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/.exec(v);
    if (m === null) return -2;
    const secs = Date.parse(`${m[1]}${m[3]}`);
    if (Number.isNaN(secs)) return -2;
    const frac = Number(`${m[2] ?? ''}000000`.slice(0, 6));
    return secs * 1000 + frac;
  }
  return -2;
}

function jsonCount(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  return -2;
}

function jsonConnRow(o: Record<string, unknown>, ctx: ImportContext, open: boolean): string | null {
  const tsUs = jsonMicros(o.ts);
  if (tsUs < 0) return `ts: not a time (${JSON.stringify(o.ts)})`;
  const durUs = typeof o.duration === 'number' ? Math.round(o.duration * 1e6) : o.duration == null ? -1 : -2;
  if (durUs === -2 || durUs < -1) return `duration: not an interval (${JSON.stringify(o.duration)})`;
  const origP = jsonCount(o['id.orig_p']);
  const respP = jsonCount(o['id.resp_p']);
  if (origP === -2 || origP > 65535) return `id.orig_p: not a port 0..65535 (${JSON.stringify(o['id.orig_p'])})`;
  if (respP === -2 || respP > 65535) return `id.resp_p: not a port 0..65535 (${JSON.stringify(o['id.resp_p'])})`;
  const origPkts = jsonCount(o.orig_pkts);
  const respPkts = jsonCount(o.resp_pkts);
  const origBytes = jsonCount(o.orig_ip_bytes !== undefined ? o.orig_ip_bytes : o.orig_bytes);
  const respBytes = jsonCount(o.resp_ip_bytes !== undefined ? o.resp_ip_bytes : o.resp_bytes);
  if (origPkts === -2 || respPkts === -2 || origBytes === -2 || respBytes === -2)
    return 'a packet or byte count is not a count';
  const origH = o['id.orig_h'];
  const respH = o['id.resp_h'];
  if (typeof origH !== 'string') return `id.orig_h: not an address (${JSON.stringify(origH)})`;
  if (typeof respH !== 'string') return `id.resp_h: not an address (${JSON.stringify(respH)})`;
  const b = ctx.sink.batch();
  const r = b.addRow();
  if (!setAddrField(b, C.src_addr, r, origH, 0, origH.length)) {
    b.dropLastRow();
    return `id.orig_h: not an address (${JSON.stringify(origH)})`;
  }
  if (!setAddrField(b, C.dst_addr, r, respH, 0, respH.length)) {
    b.dropLastRow();
    return `id.resp_h: not an address (${JSON.stringify(respH)})`;
  }
  const vlan = jsonCount(o.vlan);
  const sensor = o._system_name;
  const saved = ctx.exporter;
  if (typeof sensor === 'string' && sensor !== '' && ctx.options.exporter === undefined)
    ctx.exporter = `zeek:${sensor}`;
  fillConnRow(
    b,
    r,
    ctx,
    tsUs,
    durUs,
    origP,
    respP,
    str(o.proto),
    origPkts,
    origBytes,
    respPkts,
    respBytes,
    str(o.service),
    str(o.conn_state),
    str(o.history),
    str(o.uid),
    str(o.community_id),
    vlan,
    open,
  );
  ctx.exporter = saved;
  ctx.flows++;
  return null;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

// ---- the row

function fillConnRow(
  b: FlowBatch,
  r: number,
  ctx: ImportContext,
  tsUs: number,
  durUs: number,
  origP: number,
  respP: number,
  protoName: string,
  origPkts: number,
  origBytes: number,
  respPkts: number,
  respBytes: number,
  service: string,
  state: string,
  history: string,
  uid: string,
  communityId: string,
  vlan: number,
  open: boolean,
): void {
  const data = b.data;
  const valid = b.valid;
  const tsMs = Math.floor(tsUs / 1000);
  set(data, valid, C.time_start, r, tsMs);
  set(data, valid, C.time_end, r, durUs > 0 ? Math.floor((tsUs + durUs) / 1000) : tsMs);
  set(data, valid, C.time_received, r, ctx.receivedMs);
  set(data, valid, C.source_type, r, ST_ZEEK);
  setStr(b, C.exporter, r, ctx.exporter);
  const v6 = !isV4Mapped(b.data[C.src_addr] as Uint32Array, r * 4);
  set(data, valid, C.ip_version, r, v6 ? 6 : 4);
  let proto = 0;
  switch (protoName) {
    case 'tcp':
      proto = 6;
      break;
    case 'udp':
      proto = 17;
      break;
    case 'icmp':
      proto = v6 ? 58 : 1;
      break;
    default:
      proto = 0;
  }
  if (proto !== 0) set(data, valid, C.proto, r, proto);
  if (proto === 1 || proto === 58) {
    if (origP >= 0) set(data, valid, C.icmp_type, r, origP & 0xff);
    if (respP >= 0) set(data, valid, C.icmp_code, r, respP & 0xff);
  } else {
    if (origP >= 0) set(data, valid, C.src_port, r, origP);
    if (respP >= 0) set(data, valid, C.dst_port, r, respP);
  }
  if (origBytes >= 0) set(data, valid, C.bytes, r, origBytes);
  if (origPkts >= 0) set(data, valid, C.packets, r, origPkts);
  if (respBytes >= 0) set(data, valid, C.rev_bytes, r, respBytes);
  if (respPkts >= 0) set(data, valid, C.rev_packets, r, respPkts);
  set(data, valid, C.biflow, r, 1);
  if (service !== '') setStr(b, C.app, r, service);
  if (communityId !== '') setStr(b, C.community_id, r, communityId);
  if (vlan > 0 && vlan < 4095) set(data, valid, C.vlan, r, vlan);
  if (proto === 6 && history !== '') set(data, valid, C.tcp_flags, r, historyFlags(history));
  set(data, valid, C.flow_state, r, open ? FS_CONTINUE : flowState(state, proto));
  set(data, valid, C.action, r, state === 'REJ' ? ACT_REJECT : respPkts > 0 ? ACT_ACCEPT : ACT_UNKNOWN);
  if (uid !== '') {
    const q = ctx.dnsByUid.get(uid);
    if (q !== undefined) setStr(b, C.dns_qname, r, q);
    const sni = ctx.sniByUid.get(uid);
    if (sni !== undefined) setStr(b, C.tls_sni, r, sni);
    const host = ctx.hostByUid.get(uid);
    if (host !== undefined) setStr(b, C.http_host, r, host);
  }
}

function flowState(state: string, proto: number): number {
  if (proto !== 6) return FS_END;
  switch (state) {
    case 'S0':
      return FS_START;
    case 'S1':
    case 'OTH':
      return FS_CONTINUE;
    case '':
      return FLOW_STATES.indexOf('unknown');
    default:
      return FS_END;
  }
}

// RFC 793 §3.1 control bits.
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

function historyFlags(history: string): number {
  let f = 0;
  for (let i = 0; i < history.length; i++) {
    switch (history.charCodeAt(i) | 0x20 /* fold case: both directions */) {
      case 115: // s
      case 113: // q
        f |= SYN;
        break;
      case 104: // h
        f |= SYN | ACK;
        break;
      case 97: // a
      case 100: // d
        f |= ACK;
        break;
      case 102: // f
        f |= FIN;
        break;
      case 114: // r
        f |= RST;
        break;
    }
  }
  return f;
}

function set(data: FlowBatch['data'], valid: Uint8Array[], col: number, r: number, v: number): void {
  data[col][r] = v;
  valid[col][r] = 1;
}

function setStr(b: FlowBatch, col: number, r: number, s: string): void {
  const code = (b.strings[col] as StringDict).code(s);
  (b.data[col] as Uint32Array)[r] = code;
  b.valid[col][r] = code === 0 ? 0 : 1;
}

/** Parse an address in text[s, e) into the row: IPv4 from character codes, IPv6 through parseAddr. */
function setAddrField(b: FlowBatch, col: number, r: number, text: string, s: number, e: number): boolean {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let ok = e > s;
  for (let i = s; i < e; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || dots === 3) {
        ok = false;
        break;
      }
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57 && digits < 3) {
      part = part * 10 + (ch - 48);
      digits++;
      if (part > 255) {
        ok = false;
        break;
      }
    } else {
      ok = false;
      break;
    }
  }
  if (ok && dots === 3 && digits > 0) {
    b.setIPv4(col, r, (v * 256 + part) >>> 0);
    return true;
  }
  const w = parseAddr(text.slice(s, e));
  if (w === null) return false;
  const a = b.data[col] as Uint32Array;
  a.set(w, r * 4);
  b.valid[col][r] = 1;
  return true;
}
