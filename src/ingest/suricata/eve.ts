// Suricata EVE JSON (eve.json: one event per line) → FlowBatch rows and IDS alert records.
//
// Common fields (Suricata docs, "Eve JSON Format → Common Section"): timestamp, flow_id, in_iface,
// event_type, vlan (array, outer tag first), src_ip/src_port, dest_ip/dest_port, proto, app_proto,
// community_id (when `community-id: true`), host (the `sensor-name`). Timestamps are local time with
// a numeric offset and no colon ("2018-07-05T15:01:09.820360-0400"); they are parsed from the text
// (µs truncated to ms), never through Date.parse, which does not accept "+0000".
//
// event_type flow (one record per flow, written when the flow leaves the flow table) → one biflow
// row: flow.pkts_toserver/bytes_toserver → packets/bytes, *_toclient → rev_packets/rev_bytes (the
// client → server direction is src → dst), flow.start/end → time_start/time_end. flow.state:
// Suricata's flow-table state. For TCP it is read like Zeek's conn_state: new (handshake not
// completed) → start, established (open when logged) → continue, closed → end, bypassed (Suricata
// stopped inspecting it; the traffic went on) → continue. For other protocols the record is the end
// of the flow, unless Suricata logged it at shutdown (reason shutdown: still active) → continue.
// flow.reason → end_reason on RFC 5102 flowEndReason terms: timeout → idle (1), or end of flow
// detected (3) when the TCP state was closed (the closed-state timeout only lingers after FIN/RST);
// forced (evicted by the flow manager under memory pressure / emergency mode) → lack of resources
// (5); shutdown (engine exit) → forced end (4). tcp.tcp_flags (hex "%02x", OR of both directions)
// → tcp_flags. flow.action (IPS mode) pass/allowed → accept, drop/blocked/reject → reject.
// flow.alerted is not a column: alerted flows are counted in the result (the alert events carry the
// detail). exporter = `suricata:${host | in_iface | 'eve'}`.
//
// event_type netflow (`netflow` output: one record per direction) → one unidirectional row from
// netflow.pkts/bytes/start/end, biflow false.
//
// dns / tls / http / fileinfo / alert events carry app-layer fields of their flow (dns.rrname —
// dns.queries[0].rrname in EVE v3 (Suricata 8), dns.query[0].rrname in alert metadata —, tls.sni,
// http.hostname). They are joined to flow/netflow rows by flow_id. Suricata writes these events
// while the flow is alive and the flow event when it is removed from the flow table, so in one
// sensor's file the app events come first; but files are concatenated, rotated and merged from
// several worker threads, so the parser does not rely on order: pass 1 reads the app-layer and
// alert lines (found by their event_type text, no JSON.parse for the rest), pass 2 reads the flow
// lines, so a flow row sees every app event of the input whatever the order. The map is bounded
// (`maxJoinEntries`): past it new flow ids are not remembered and `joinDropped` counts them. The
// first value seen in file order wins (a DNS-over-TCP flow with many queries keeps the first).
//
// flow_id is a 64-bit integer that often exceeds 2^53: it is read from the line's text (the digits
// of the top-level key), never from the number JSON.parse returns. event_type alert → IdsAlert
// (not a flow row). Every other event type (stats, anomaly, ssh, ...) is counted per type.
//
// Bad input never throws: a line that is not JSON, is cut short, or has a field of the wrong type
// or range is an error `${source}:${line}: message`, counted in `malformed`, and skipped; the
// other lines are kept. Each line is one JSON.parse object (as the Zeek JSON reader does); rows
// are written straight into the typed arrays.

import { type FlowBatch, formatAddrWords, parseAddr, type StringDict } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, END_REASONS, FLOW_STATES, SOURCE_TYPES } from '../../schema/columns.js';
import type { IdsAlert } from '../../store/ids-alert.js';
import { inflated } from '../gzip.js';
import { addrCol, setF64, setU8, setU16 } from '../text-fields.js';

/** At most this many errors are kept with their text; `malformed` counts them all. */
export const MAX_ERRORS = 1000;
/** Default bound of the flow_id → app-layer fields map. */
export const DEFAULT_MAX_JOIN_ENTRIES = 1 << 20;

// The alert record belongs to the store contract (src/store/ids-alert.ts); re-exported here for
// the modules that take it from the parser's result.

export interface SuricataParseOptions {
  /** Exporter id for every row (default `suricata:${host | in_iface | 'eve'}`). */
  exporter?: string;
  /** Bound of the flow_id → app fields map (default 2^20). */
  maxJoinEntries?: number;
}

export interface SuricataParseResult {
  /** Non-empty lines read. */
  events: number;
  /** Rows written from flow events. */
  flows: number;
  /** Rows written from netflow events. */
  netflows: number;
  /** Flow/netflow rows that received at least one of dns_qname, tls_sni, http_host. */
  joined: number;
  /** Flow events with flow.alerted true. */
  alertedFlows: number;
  alerts: IdsAlert[];
  /** Valid events per event_type (flow, netflow, alert, dns, stats, ...). */
  byType: Record<string, number>;
  /** Lines rejected (all of them, even past the kept `errors`). */
  malformed: number;
  /** App-layer flow ids not remembered because the join map was full. */
  joinDropped: number;
  errors: { line: number; message: string }[];
}

/** Format detection by content (the first few KB of a file). */
export function looksLikeSuricataEve(head: string): boolean {
  const t = head.replace(/^\uFEFF/, '').trimStart();
  if (t.charCodeAt(0) !== 123) return false;
  const first = t.slice(0, t.indexOf('\n') >>> 0);
  return /"event_type"\s*:\s*"/.test(first) && /"(?:src_ip|timestamp)"\s*:/.test(first);
}

/** Parse an eve.json text or buffer (gzip accepted). Never throws on bad input. */
export function parseSuricataEve(
  input: string | Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
  opts: SuricataParseOptions = {},
): SuricataParseResult {
  const res: SuricataParseResult = {
    events: 0,
    flows: 0,
    netflows: 0,
    joined: 0,
    alertedFlows: 0,
    alerts: [],
    byType: {},
    malformed: 0,
    joinDropped: 0,
    errors: [],
  };
  const ctx = new EveContext(res, source, receivedMs, sink, opts);
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    // a cut file gives what it holds (reported); a corrupt one nothing
    const data = inflated(input, (m) => ctx.fail(0, m));
    if (data === null) return res;
    text = new TextDecoder('utf-8', { fatal: false }).decode(data);
  }
  readLines(text, ctx, true);
  readLines(text, ctx, false);
  if (res.errors.length > 1) res.errors.sort((a, b) => a.line - b.line);
  return res;
}

// ---- lines and passes

const T_FLOW = 1;
const T_NETFLOW = 2;
const T_ALERT = 3;
const T_APP = 4; // dns, tls, http, fileinfo
const T_OTHER = 5;

/**
 * Class of a line from its `"event_type":"…"` text; pass 1 takes alert and app lines. `k` is the
 * position of the first `"event_type"` at or after the line start `s` (readLines finds it once per
 * pass and reuses it across the lines before it: a search per line would scan past lines that have
 * none into the rest of the file, quadratic in the file's size).
 */
function lineClass(text: string, k: number, e: number): number {
  if (k < 0 || k >= e) return T_OTHER;
  k += 12;
  while (k < e && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 58 || text.charCodeAt(k) === 9)) k++;
  if (k >= e || text.charCodeAt(k) !== 34) return T_OTHER;
  k++;
  // The names we classify are at most 8 characters: look no further than that for the closing quote.
  const lim = Math.min(e, k + 9);
  let q = k;
  while (q < lim && text.charCodeAt(q) !== 34) q++;
  if (q >= lim) return T_OTHER;
  switch (q - k) {
    case 3:
      if (text.startsWith('dns', k) || text.startsWith('tls', k)) return T_APP;
      return T_OTHER;
    case 4:
      if (text.startsWith('flow', k)) return T_FLOW;
      if (text.startsWith('http', k)) return T_APP;
      return T_OTHER;
    case 5:
      return text.startsWith('alert', k) ? T_ALERT : T_OTHER;
    case 7:
      return text.startsWith('netflow', k) ? T_NETFLOW : T_OTHER;
    case 8:
      return text.startsWith('fileinfo', k) ? T_APP : T_OTHER;
    default:
      return T_OTHER;
  }
}

function readLines(text: string, ctx: EveContext, firstPass: boolean): void {
  const n = text.length;
  let lineNo = 0;
  let pos = 0;
  // Next `"event_type"` at or after the current line (n when there is none left in the text).
  let et = -1;
  while (pos < n) {
    lineNo++;
    let end = text.indexOf('\n', pos);
    const terminated = end >= 0;
    if (!terminated) end = n;
    const start = pos;
    pos = end + 1;
    let s = start;
    while (s < end && (text.charCodeAt(s) <= 32 || text.charCodeAt(s) === 0xfeff)) s++;
    let e = end;
    while (e > s && text.charCodeAt(e - 1) <= 32) e--;
    if (s === e) continue;
    if (et < s) {
      et = text.indexOf('"event_type"', s);
      if (et < 0) et = n;
    }
    const cls = lineClass(text, et, e);
    if (firstPass !== (cls === T_ALERT || cls === T_APP)) continue;
    ctx.res.events++;
    let rec: unknown;
    try {
      rec = JSON.parse(text.slice(s, e));
    } catch (err) {
      ctx.fail(
        lineNo,
        !terminated && text.charCodeAt(e - 1) !== 125
          ? 'truncated event: the input ends inside this line'
          : `not JSON: ${(err as Error).message}`,
      );
      continue;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      ctx.fail(lineNo, 'line is not a JSON object');
      continue;
    }
    const o = rec as Obj;
    const type = o.event_type;
    if (typeof type !== 'string' || type === '') {
      ctx.fail(lineNo, `event_type: not a string (${brief(type)})`);
      continue;
    }
    ctx.line = lineNo;
    let err: string | null = null;
    switch (type) {
      case 'flow':
        err = flowRow(o, text, s, e, ctx, false);
        break;
      case 'netflow':
        err = flowRow(o, text, s, e, ctx, true);
        break;
      case 'alert':
        err = alertRecord(o, text, s, e, ctx);
        break;
      case 'dns':
      case 'tls':
      case 'http':
      case 'fileinfo':
        err = remember(o, text, s, e, ctx);
        break;
      default:
        break;
    }
    if (err !== null) ctx.fail(lineNo, err);
    else ctx.res.byType[type] = (ctx.res.byType[type] ?? 0) + 1;
  }
}

// ---- state

type Obj = Record<string, unknown>;

const ST_SURICATA = SOURCE_TYPES.indexOf('suricata') + 1;
const FS_START = FLOW_STATES.indexOf('start');
const FS_CONTINUE = FLOW_STATES.indexOf('continue');
const FS_END = FLOW_STATES.indexOf('end');
const ER_IDLE = END_REASONS.indexOf('idle');
const ER_END = END_REASONS.indexOf('end');
const ER_FORCED = END_REASONS.indexOf('forced');
const ER_RESOURCES = END_REASONS.indexOf('resources');
const ACT_ACCEPT = ACTIONS.indexOf('accept');
const ACT_REJECT = ACTIONS.indexOf('reject');

/** App-layer names of one flow (first seen wins per field). */
class AppFields {
  dns = '';
  sni = '';
  host = '';
}

class EveContext {
  line = 0;
  readonly app = new Map<string, AppFields>();
  readonly maxJoin: number;
  constructor(
    readonly res: SuricataParseResult,
    readonly source: string,
    readonly receivedMs: number,
    readonly sink: BatchSink,
    readonly opts: SuricataParseOptions,
  ) {
    this.maxJoin = opts.maxJoinEntries ?? DEFAULT_MAX_JOIN_ENTRIES;
  }
  fail(line: number, message: string): void {
    this.res.malformed++;
    if (this.res.errors.length < MAX_ERRORS)
      this.res.errors.push({ line, message: `${this.source}:${line}: ${message}` });
  }
}

// ---- field readers

function brief(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Unsigned integer ≤ max: the value, -1 absent/null, -2 wrong type or range. */
function uintField(v: unknown, max: number): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v;
  return -2;
}

/**
 * The digits of the top-level "flow_id" key in text[s, e): scans keys at depth 1 only (skipping
 * strings and nested values), so a nested "flow_id" (none in Suricata today) is never taken.
 * '' when absent; null when the value is not an unsigned integer literal.
 */
export function rawFlowId(text: string, s: number, e: number): string | null {
  let depth = 0;
  let i = s;
  while (i < e) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // a string: a key when at depth 1 and followed by ':'
      const ks = i + 1;
      i++;
      while (i < e) {
        const d = text.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 34) break;
        else i++;
      }
      const ke = i;
      i++;
      if (depth === 1 && ke - ks === 7 && text.startsWith('flow_id', ks)) {
        let j = i;
        while (j < e && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
        if (text.charCodeAt(j) !== 58) continue;
        j++;
        while (j < e && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
        const ds = j;
        while (j < e && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
        if (j === ds || j - ds > 20) return null;
        const nx = text.charCodeAt(j);
        if (nx !== 44 && nx !== 125 && nx !== 32 && nx !== 9) return null;
        const digits = text.slice(ds, j);
        // uint64 range (Suricata prints flow_id with %"PRIu64" / json_integer of an int64)
        if (digits.length === 20 && digits > '18446744073709551615') return null;
        return digits.length > 1 && digits.charCodeAt(0) === 48 ? null : digits;
      }
      continue;
    }
    if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
    i++;
  }
  return '';
}

/**
 * Suricata timestamp "YYYY-MM-DDTHH:MM:SS[.ffffff](+|-)HHMM" (also "Z" and "+HH:MM", which log
 * shippers write) → UTC ms, fraction truncated; -1 when it is not such a time.
 */
export function eveTimeMs(v: unknown): number {
  if (typeof v !== 'string') return -1;
  const n = v.length;
  if (n < 19 || n > 40) return -1;
  const y = digits(v, 0, 4);
  const mo = digits(v, 5, 2);
  const d = digits(v, 8, 2);
  const h = digits(v, 11, 2);
  const mi = digits(v, 14, 2);
  const sec = digits(v, 17, 2);
  if (v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return -1;
  const t = v.charCodeAt(10);
  if (t !== 84 && t !== 32) return -1;
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 60) return -1;
  if (h < 0 || mi < 0 || sec < 0) return -1;
  let i = 19;
  let frac = 0;
  if (v.charCodeAt(i) === 46) {
    i++;
    let nd = 0;
    while (i < n) {
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (nd < 3) frac = frac * 10 + c;
      nd++;
      i++;
    }
    if (nd === 0 || nd > 9) return -1;
    for (let k = nd; k < 3; k++) frac *= 10;
  }
  // No offset at all (Suricata before 2.0 wrote local time without one): read as UTC.
  let off = 0;
  if (i < n && !(v.charCodeAt(i) === 90 && i + 1 === n)) {
    const sg = v.charCodeAt(i);
    if (sg !== 43 && sg !== 45) return -1;
    const oh = digits(v, i + 1, 2);
    const colon = v.charCodeAt(i + 3) === 58 ? 1 : 0;
    const om = digits(v, i + 3 + colon, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59 || i + 5 + colon !== n) return -1;
    off = (sg === 45 ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(y, mo - 1, d, h, mi, sec) + frac - off * 60000;
}

function digits(s: string, at: number, len: number): number {
  if (at + len > s.length) return -1;
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function daysIn(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

// Suricata prints the protocol with its name table (decode.c / the system's protocols database,
// "IPv6-ICMP" for 58) and the number zero-padded to three digits ("017", "006") when it has no name
// (seen in Suricata 4.x pcap runs).
const PROTO_BY_NAME: Record<string, number> = {
  ICMP: 1,
  IGMP: 2,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  GRE: 47,
  ESP: 50,
  AH: 51,
  'IPV6-ICMP': 58,
  ICMPV6: 58,
  OSPF: 89,
  OSPFIGP: 89,
  PIM: 103,
  VRRP: 112,
  SCTP: 132,
};

/** IP protocol number: -1 absent, -2 wrong type, -3 unknown name (kept null). */
export function eveProto(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 255 ? v : -2;
  if (typeof v !== 'string') return -2;
  const byName = PROTO_BY_NAME[v.toUpperCase()];
  if (byName !== undefined) return byName;
  if (/^\d{1,3}$/.test(v)) {
    const p = Number(v);
    return p <= 255 ? p : -2;
  }
  return -3;
}

function setStr(b: FlowBatch, col: number, r: number, s: string): void {
  const code = (b.strings[col] as StringDict).code(s);
  (b.data[col] as Uint32Array)[r] = code;
  b.valid[col][r] = code === 0 ? 0 : 1;
}

function sensorOf(o: Obj): string {
  const h = o.host;
  if (typeof h === 'string' && h !== '') return h;
  const i = o.in_iface;
  if (typeof i === 'string' && i !== '') return i;
  return 'eve';
}

/** First VLAN id: `vlan` is an array (outer tag first) since Suricata 4; a number in older files. */
function vlanOf(v: unknown): number {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'number' && Number.isInteger(x) && x > 0 && x < 4095 ? x : -1;
}

// ---- app-layer join

function dnsName(dns: unknown): string {
  if (dns === null || typeof dns !== 'object') return '';
  const d = dns as Obj;
  if (typeof d.rrname === 'string') return d.rrname;
  // EVE v3 (Suricata 8) "queries": [{rrname}], Suricata 7 alert metadata "query": [{rrname}]
  for (const k of ['queries', 'query']) {
    const q = d[k];
    if (Array.isArray(q) && q.length > 0 && q[0] !== null && typeof q[0] === 'object') {
      const r = (q[0] as Obj).rrname;
      if (typeof r === 'string') return r;
    }
  }
  return '';
}

function remember(o: Obj, text: string, s: number, e: number, ctx: EveContext): string | null {
  const id = rawFlowId(text, s, e);
  if (id === null) return 'flow_id: not an unsigned 64-bit integer';
  if (id === '') return null;
  const dns = dnsName(o.dns);
  const tls = o.tls;
  const sni = tls !== null && typeof tls === 'object' ? str((tls as Obj).sni) : '';
  const http = o.http;
  const host = http !== null && typeof http === 'object' ? str((http as Obj).hostname) : '';
  if (dns === '' && sni === '' && host === '') return null;
  let f = ctx.app.get(id);
  if (f === undefined) {
    if (ctx.app.size >= ctx.maxJoin) {
      ctx.res.joinDropped++;
      return null;
    }
    f = new AppFields();
    ctx.app.set(id, f);
  }
  if (f.dns === '') f.dns = dns;
  if (f.sni === '') f.sni = sni;
  if (f.host === '') f.host = host;
  return null;
}

// ---- alerts

function alertRecord(o: Obj, text: string, s: number, e: number, ctx: EveContext): string | null {
  const time = eveTimeMs(o.timestamp);
  if (time < 0) return `timestamp: not a Suricata time (${brief(o.timestamp)})`;
  const flowId = rawFlowId(text, s, e);
  if (flowId === null) return 'flow_id: not an unsigned 64-bit integer';
  const a = o.alert;
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return 'alert: not an object';
  const al = a as Obj;
  const sid = uintField(al.signature_id, 0xffffffff);
  if (sid < 0) return `alert.signature_id: not a rule id (${brief(al.signature_id)})`;
  const sev = uintField(al.severity, 255);
  if (sev === -2) return `alert.severity: not a priority (${brief(al.severity)})`;
  const src = addrText(o.src_ip);
  if (src === null) return `src_ip: not an address (${brief(o.src_ip)})`;
  const dst = addrText(o.dest_ip);
  if (dst === null) return `dest_ip: not an address (${brief(o.dest_ip)})`;
  const sp = uintField(o.src_port, 65535);
  if (sp === -2) return `src_port: not a port 0..65535 (${brief(o.src_port)})`;
  const dp = uintField(o.dest_port, 65535);
  if (dp === -2) return `dest_port: not a port 0..65535 (${brief(o.dest_port)})`;
  const proto = eveProto(o.proto);
  if (proto === -2) return `proto: not a protocol (${brief(o.proto)})`;
  remember(o, text, s, e, ctx);
  ctx.res.alerts.push({
    time,
    flowId,
    communityId: str(o.community_id),
    srcAddr: src,
    dstAddr: dst,
    srcPort: sp >= 0 ? sp : null,
    dstPort: dp >= 0 ? dp : null,
    proto: proto >= 0 ? proto : null,
    signatureId: sid,
    signature: str(al.signature),
    category: str(al.category),
    severity: sev >= 0 ? sev : null,
    action: str(al.action),
    sensor: sensorOf(o),
    appProto: str(o.app_proto),
    source: `${ctx.source}:${ctx.line}`,
  });
  return null;
}

function addrText(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const w = parseAddr(v);
  return w === null ? null : formatAddrWords(w, 0);
}

// ---- flow rows

function flowRow(o: Obj, text: string, s: number, e: number, ctx: EveContext, netflow: boolean): string | null {
  const f = netflow ? o.netflow : o.flow;
  const key = netflow ? 'netflow' : 'flow';
  if (f === null || typeof f !== 'object' || Array.isArray(f)) return `${key}: not an object`;
  const fl = f as Obj;
  const start = eveTimeMs(fl.start);
  if (start < 0) return `${key}.start: not a Suricata time (${brief(fl.start)})`;
  const end = fl.end === undefined ? start : eveTimeMs(fl.end);
  if (end < 0) return `${key}.end: not a Suricata time (${brief(fl.end)})`;
  const M = Number.MAX_SAFE_INTEGER;
  const pk = uintField(netflow ? fl.pkts : fl.pkts_toserver, M);
  const by = uintField(netflow ? fl.bytes : fl.bytes_toserver, M);
  const rpk = netflow ? -1 : uintField(fl.pkts_toclient, M);
  const rby = netflow ? -1 : uintField(fl.bytes_toclient, M);
  if (pk === -2 || by === -2 || rpk === -2 || rby === -2)
    return `${key}: a packet or byte count is not a count 0..2^53 (${brief(netflow ? [fl.pkts, fl.bytes] : [fl.pkts_toserver, fl.bytes_toserver, fl.pkts_toclient, fl.bytes_toclient])})`;
  const sp = uintField(o.src_port, 65535);
  if (sp === -2) return `src_port: not a port 0..65535 (${brief(o.src_port)})`;
  const dp = uintField(o.dest_port, 65535);
  if (dp === -2) return `dest_port: not a port 0..65535 (${brief(o.dest_port)})`;
  const proto = eveProto(o.proto);
  if (proto === -2) return `proto: not a protocol (${brief(o.proto)})`;
  const it = uintField(o.icmp_type, 255);
  const ic = uintField(o.icmp_code, 255);
  if (it === -2 || ic === -2) return `icmp_type/icmp_code: not 0..255 (${brief([o.icmp_type, o.icmp_code])})`;
  let tcpFlags = -1;
  const tcp = o.tcp;
  if (tcp !== undefined && tcp !== null) {
    if (typeof tcp !== 'object') return `tcp: not an object (${brief(tcp)})`;
    const tf = (tcp as Obj).tcp_flags;
    if (tf !== undefined) {
      if (typeof tf !== 'string' || !/^[0-9a-fA-F]{1,4}$/.test(tf)) return `tcp.tcp_flags: not hex (${brief(tf)})`;
      tcpFlags = Number.parseInt(tf, 16);
    }
  }
  const srcIp = o.src_ip;
  const dstIp = o.dest_ip;
  if (typeof srcIp !== 'string') return `src_ip: not an address (${brief(srcIp)})`;
  if (typeof dstIp !== 'string') return `dest_ip: not an address (${brief(dstIp)})`;
  const flowId = rawFlowId(text, s, e);
  if (flowId === null) return 'flow_id: not an unsigned 64-bit integer';

  const b = ctx.sink.batch();
  const r = b.addRow();
  const fam = addrCol(srcIp, 0, srcIp.length, b, C.src_addr, r);
  if (fam < 0) {
    b.dropLastRow();
    return `src_ip: not an address (${brief(srcIp)})`;
  }
  if (addrCol(dstIp, 0, dstIp.length, b, C.dst_addr, r) < 0) {
    b.dropLastRow();
    return `dest_ip: not an address (${brief(dstIp)})`;
  }
  setF64(b, C.time_start, r, start);
  setF64(b, C.time_end, r, end);
  setF64(b, C.time_received, r, ctx.receivedMs);
  setU8(b, C.source_type, r, ST_SURICATA);
  setStr(b, C.exporter, r, ctx.opts.exporter ?? `suricata:${sensorOf(o)}`);
  setU8(b, C.ip_version, r, fam);
  if (proto >= 0) setU8(b, C.proto, r, proto);
  if (sp >= 0) setU16(b, C.src_port, r, sp);
  if (dp >= 0) setU16(b, C.dst_port, r, dp);
  if (it >= 0) setU8(b, C.icmp_type, r, it);
  if (ic >= 0) setU8(b, C.icmp_code, r, ic);
  if (pk >= 0) setF64(b, C.packets, r, pk);
  if (by >= 0) setF64(b, C.bytes, r, by);
  if (rpk >= 0) setF64(b, C.rev_packets, r, rpk);
  if (rby >= 0) setF64(b, C.rev_bytes, r, rby);
  if (tcpFlags >= 0) setU16(b, C.tcp_flags, r, tcpFlags);
  setU8(b, C.biflow, r, netflow ? 0 : 1);
  const vlan = vlanOf(o.vlan);
  if (vlan > 0) setU16(b, C.vlan, r, vlan);
  const app = str(o.app_proto);
  if (app !== '') setStr(b, C.app, r, app);
  const cid = str(o.community_id);
  if (cid !== '') setStr(b, C.community_id, r, cid);
  if (!netflow) {
    const state = str(fl.state);
    const reason = str(fl.reason);
    const fs = flowState(state, reason, proto);
    if (fs >= 0) setU8(b, C.flow_state, r, fs);
    const er = endReason(reason, state);
    if (er >= 0) setU8(b, C.end_reason, r, er);
    if (fl.alerted === true) ctx.res.alertedFlows++;
    const act = str(fl.action);
    if (act === 'pass' || act === 'allowed') setU8(b, C.action, r, ACT_ACCEPT);
    else if (act === 'drop' || act === 'blocked' || act === 'reject') setU8(b, C.action, r, ACT_REJECT);
  }
  if (flowId !== '' && ctx.app.size > 0) {
    const a = ctx.app.get(flowId);
    if (a !== undefined) {
      if (a.dns !== '') setStr(b, C.dns_qname, r, a.dns);
      if (a.sni !== '') setStr(b, C.tls_sni, r, a.sni);
      if (a.host !== '') setStr(b, C.http_host, r, a.host);
      ctx.res.joined++;
    }
  }
  if (netflow) ctx.res.netflows++;
  else ctx.res.flows++;
  return null;
}

function flowState(state: string, reason: string, proto: number): number {
  if (state === '') return -1;
  if (proto !== 6) return reason === 'shutdown' ? FS_CONTINUE : FS_END;
  switch (state) {
    case 'new':
      return FS_START;
    case 'established':
    case 'bypassed':
      return FS_CONTINUE;
    case 'closed':
      return FS_END;
    default:
      return -1;
  }
}

function endReason(reason: string, state: string): number {
  switch (reason) {
    case 'timeout':
      return state === 'closed' ? ER_END : ER_IDLE;
    case 'forced':
      return ER_RESOURCES;
    case 'shutdown':
      return ER_FORCED;
    default:
      return -1;
  }
}
