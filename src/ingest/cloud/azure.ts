// Azure Network Watcher flow logs → FlowBatch rows: NSG flow logs (schema Version 1 and 2,
// category NetworkSecurityGroupFlowEvent) and virtual network flow logs (flowLogVersion 4,
// category FlowLogFlowEvent).
//
// Input shapes: the PT1H.json blob Azure writes to storage (`{"records":[...]}`), a bare array of
// records, one record, or NDJSON (one record per line, as shippers forward them).
//
// Record layout (Microsoft Learn, "Flow logging for network security groups" / "Virtual network
// flow logs", section "Log format"):
//   NSG   records[].resourceId (the NSG) · properties.Version · properties.flows[].rule ·
//         properties.flows[].flows[].mac (the NIC the flow was seen on) · …flows[].flowTuples[]
//   VNet  records[].flowLogResourceID · targetResourceID (VNet, subnet or NIC) · macAddress ·
//         flowRecords.flows[].aclID · flows[].flowGroups[].rule · flowGroups[].flowTuples[]
// Tuple fields, comma separated:
//   NSG v1  ts, src ip, dst ip, src port, dst port, proto T/U, direction I/O, decision A/D
//   NSG v2  … + state B/C/E, packets s→d, bytes s→d, packets d→s, bytes d→s (empty when B)
//   VNet    ts, src, dst, sport, dport, proto (IANA number), direction I/O, state B/C/E/D,
//           encryption X/NX/NX_*, packets s→d, bytes s→d, packets d→s, bytes d→s
//
// Mapping: time_start = time_end = ts. The docs say "UNIX epoch" for both, but VNet records carry
// milliseconds (1663146003599 in Microsoft's own sample) while NSG records carry seconds; the
// value's magnitude decides (≥ 1e11 is milliseconds: 1e11 s would be the year 5138).
// proto T→6, U→17. action: NSG A→accept, D→reject; VNet state D ("Deny") → reject with no
// flow_state, B/C/E → accept (VNet logs only denials as D). flow_state B→start, C→continue, E→end.
// direction I→ingress, O→egress (relative to the NIC, which is what the log observes).
// bytes/packets = source→destination, rev_bytes/rev_packets = destination→source; biflow is true
// for NSG v2 and VNet (both directions counted in one tuple), false for v1.
// exporter = the NSG resource id (NSG) or the flow log resource id (VNet), as written; when a
// record has none, `azure:${MAC}`. account_id = the subscription GUID of that resource id, lower
// case (Azure writes resource ids in either case). interface_id = the NIC's MAC, upper case as
// Azure writes it (the log names no NIC resource). The NIC's MAC also goes to dst_mac for inbound
// and src_mac for outbound tuples: the NIC is the destination of what it receives and the source
// of what it sends. VNet targetResourceID → vpc_id (the …/virtualNetworks/<name> prefix) and
// subnet_id (…/subnets/<name>) when it names them. The rule name, aclID and the VNet encryption
// state are validated but have no column yet.
//
// Leniency: a comma before a closing bracket (`"…",\n ]`) is removed before a retry of a document
// that JSON.parse rejects — Microsoft's own AKS sample (NwNsgProject.Tests/AzureNSGFlowLogsv1.json
// in AzureNetworkWatcherNSGFlowLogsConnector) has one after its last flowTuple. Nothing else is
// repaired: other invalid JSON is an error naming the file, line and column.

import { Buffer } from 'node:buffer';
import type { FlowBatch } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, DIRECTIONS, FLOW_STATES, SOURCE_TYPES } from '../../schema/columns.js';
import { inflated } from '../gzip.js';
import { addrCol, setF64, setU8, setU16, uint } from '../text-fields.js';
import { isObj, type Obj, str } from './json-records.js';

const SOURCE_NSG = 1 + SOURCE_TYPES.indexOf('azure_nsg');
const SOURCE_VNET = 1 + SOURCE_TYPES.indexOf('azure_vnet');
const ACTION_ACCEPT = ACTIONS.indexOf('accept');
const ACTION_REJECT = ACTIONS.indexOf('reject');
const STATE_START = FLOW_STATES.indexOf('start');
const STATE_CONTINUE = FLOW_STATES.indexOf('continue');
const STATE_END = FLOW_STATES.indexOf('end');
const DIR_INGRESS = DIRECTIONS.indexOf('ingress');
const DIR_EGRESS = DIRECTIONS.indexOf('egress');

/** At most this many errors are kept with their text; `malformed` counts them all. */
const MAX_ERRORS = 1000;

export interface AzureFlowLogParseResult {
  /** Records (elements of records[], or NDJSON lines) seen, good or bad. */
  records: number;
  /** flowTuples strings seen. */
  tuples: number;
  /** Rows written to the sink. */
  flows: number;
  /** Tuples, records or documents rejected (all of them, even past the kept `errors`). */
  malformed: number;
  /** Trailing commas removed to read an otherwise invalid document (see the header comment). */
  trailingCommas: number;
  /**
   * `line`: for NDJSON, the 1-based line number; for a JSON document, the 1-based index of the
   * record in records[] (0 for the document itself; the message then gives line and column).
   */
  errors: { line: number; message: string }[];
}

/** Format detection by content: the first few KB of a file. */
export function looksLikeAzureFlowLog(head: string): boolean {
  const t = head.trimStart();
  if (t.charCodeAt(0) !== 123 && t.charCodeAt(0) !== 91) return false; // { or [
  return (
    t.includes('"NetworkSecurityGroupFlowEvent"') ||
    t.includes('"FlowLogFlowEvent"') ||
    (t.includes('"flowTuples"') && (t.includes('"flowGroups"') || t.includes('"mac"')))
  );
}

/**
 * Parse Azure NSG or VNet flow logs (text or bytes, gzip-compressed or not) into rows of `sink`.
 * Never throws on bad input: a bad tuple, record or document is an error, the others go on.
 */
export function parseAzureFlowLog(
  input: string | Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
): AzureFlowLogParseResult {
  const res: AzureFlowLogParseResult = { records: 0, tuples: 0, flows: 0, malformed: 0, trailingCommas: 0, errors: [] };
  const st = new State(res, source, receivedMs, sink);

  let text: string;
  if (typeof input === 'string') text = input;
  else {
    const bytes = inflated(input, (m) => st.fail(0, `gzip: ${m}`), { partial: false });
    if (bytes === null) return res;
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // blobs written by Windows tools

  let doc: unknown;
  let docError: unknown = null;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    docError = e;
  }
  if (docError === null) {
    readDocument(doc, st, 0);
    return res;
  }
  // NDJSON: more than one non-blank line, and the first one a complete object on its own.
  const firstEol = text.indexOf('\n');
  if (firstEol >= 0 && text.slice(firstEol + 1).trim() !== '' && isObjectLine(text.slice(0, firstEol))) {
    readNdjson(text, st);
    return res;
  }
  const fixed = dropTrailingCommas(text);
  if (fixed.removed > 0) {
    try {
      doc = JSON.parse(fixed.text);
      res.trailingCommas += fixed.removed;
      readDocument(doc, st, 0);
      return res;
    } catch {
      // Report the error of the text as written.
    }
  }
  st.fail(0, `invalid JSON: ${jsonErrorAt(text, docError)}`);
  return res;
}

function isObjectLine(line: string): boolean {
  const t = line.trim();
  if (t.charCodeAt(0) !== 123) return false;
  try {
    const v = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

function readNdjson(text: string, st: State): void {
  let pos = 0;
  let lineNo = 0;
  const n = text.length;
  while (pos < n) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = n;
    lineNo++;
    const line = text.slice(pos, eol);
    pos = eol + 1;
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      st.res.records++;
      st.fail(lineNo, `${st.file}:${lineNo}: invalid JSON: ${jsonErrorAt(line, e)}`);
      continue;
    }
    st.ndjson = true;
    readDocument(v, st, lineNo);
  }
}

/** A parsed document: {records:[...]}, an array of records, or one record. */
function readDocument(doc: unknown, st: State, lineNo: number): void {
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) readRecord(doc[i], st, lineNo > 0 ? lineNo : i + 1);
    return;
  }
  if (doc !== null && typeof doc === 'object') {
    const recs = (doc as { records?: unknown }).records;
    if (Array.isArray(recs)) {
      for (let i = 0; i < recs.length; i++) readRecord(recs[i], st, lineNo > 0 ? lineNo : i + 1);
      return;
    }
    readRecord(doc, st, lineNo > 0 ? lineNo : 1);
    return;
  }
  st.res.records++;
  st.fail(lineNo, 'not a flow log record (expected an object or {"records":[...]})');
}

function readRecord(rec: unknown, st: State, at: number): void {
  st.res.records++;
  if (!isObj(rec)) {
    st.fail(at, `${st.where(at)}: not an object`);
    return;
  }
  const category = rec.category;
  const props = rec.properties;
  if (category === 'FlowLogFlowEvent' || (category === undefined && isObj(rec.flowRecords))) {
    readVnetRecord(rec, st, at);
  } else if (category === 'NetworkSecurityGroupFlowEvent' || (category === undefined && isObj(props))) {
    readNsgRecord(rec, st, at);
  } else {
    st.fail(
      at,
      `${st.where(at)}: category ${JSON.stringify(category)} is not NetworkSecurityGroupFlowEvent or FlowLogFlowEvent`,
    );
  }
}

function readNsgRecord(rec: Obj, st: State, at: number): void {
  const props = rec.properties;
  if (!isObj(props) || !Array.isArray(props.flows)) {
    st.fail(at, `${st.where(at)}: no properties.flows array`);
    return;
  }
  // Version 1 tuples have 8 fields, version 2 add state and four counters (13).
  const version = props.Version ?? props.version;
  if (version !== 1 && version !== 2) {
    st.fail(at, `${st.where(at)}: properties.Version ${JSON.stringify(version)} is not 1 or 2`);
    return;
  }
  const resId = str(rec.resourceId) || str(rec.resourceID) || str(rec.resourceid);
  st.startRecord(SOURCE_NSG, resId, version === 2 ? 13 : 8);
  const rules = props.flows;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (!isObj(rule) || !Array.isArray(rule.flows)) {
      st.fail(at, `${st.where(at)}: properties.flows[${i}] has no flows array`);
      continue;
    }
    for (let j = 0; j < rule.flows.length; j++) {
      const g = rule.flows[j];
      if (!isObj(g) || !Array.isArray(g.flowTuples)) {
        st.fail(at, `${st.where(at)}: properties.flows[${i}].flows[${j}] has no flowTuples array`);
        continue;
      }
      st.setMac(str(g.mac) || str(rec.macAddress));
      readTuples(g.flowTuples, st, at, `rule ${str(rule.rule) || `#${i}`}`);
    }
  }
}

function readVnetRecord(rec: Obj, st: State, at: number): void {
  const fr = rec.flowRecords;
  if (!isObj(fr) || !Array.isArray(fr.flows)) {
    st.fail(at, `${st.where(at)}: no flowRecords.flows array`);
    return;
  }
  st.startRecord(SOURCE_VNET, str(rec.flowLogResourceID) || str(rec.flowLogResourceId), 13);
  st.setMac(str(rec.macAddress));
  st.setTarget(str(rec.targetResourceID) || str(rec.targetResourceId));
  const acls = fr.flows;
  for (let i = 0; i < acls.length; i++) {
    const acl = acls[i];
    if (!isObj(acl) || !Array.isArray(acl.flowGroups)) {
      st.fail(at, `${st.where(at)}: flowRecords.flows[${i}] has no flowGroups array`);
      continue;
    }
    for (let j = 0; j < acl.flowGroups.length; j++) {
      const g = acl.flowGroups[j];
      if (!isObj(g) || !Array.isArray(g.flowTuples)) {
        st.fail(at, `${st.where(at)}: flowRecords.flows[${i}].flowGroups[${j}] has no flowTuples array`);
        continue;
      }
      readTuples(g.flowTuples, st, at, `rule ${str(g.rule) || `#${j}`}`);
    }
  }
}

function readTuples(tuples: unknown[], st: State, at: number, rule: string): void {
  for (let k = 0; k < tuples.length; k++) {
    st.res.tuples++;
    const t = tuples[k];
    if (typeof t !== 'string') {
      st.fail(at, `${st.where(at)}, ${rule}, tuple ${k + 1}: not a string`);
      continue;
    }
    const err = st.tuple(t);
    if (err !== null) st.fail(at, `${st.where(at)}, ${rule}, tuple ${k + 1} ${JSON.stringify(t)}: ${err}`);
    else st.res.flows++;
  }
}

/** Per-parse state: the current record's context and string codes cached per batch. */
class State {
  ndjson = false;
  source = 0;
  fields = 8;
  exporter = '';
  account = '';
  mac = -1; // 48-bit value, -1 when absent or not 12 hex digits
  macText = '';
  vpc = '';
  subnet = '';
  // Codes of the strings above in `batch` (0 = not coded yet).
  batch: FlowBatch | null = null;
  expCode = 0;
  accCode = 0;
  ifCode = 0;
  vpcCode = 0;
  subCode = 0;
  readonly tokS = new Int32Array(16);
  readonly tokE = new Int32Array(16);

  constructor(
    readonly res: AzureFlowLogParseResult,
    readonly file: string,
    readonly receivedMs: number,
    readonly sink: BatchSink,
  ) {}

  where(at: number): string {
    return this.ndjson || at === 0 ? `${this.file}:${at}` : `${this.file}: record ${at}`;
  }

  fail(at: number, message: string): void {
    this.res.malformed++;
    if (this.res.errors.length < MAX_ERRORS) {
      this.res.errors.push({ line: at, message: message.startsWith(this.file) ? message : `${this.file}: ${message}` });
    }
  }

  startRecord(source: number, resourceId: string, fields: number): void {
    this.source = source;
    this.fields = fields;
    this.exporter = resourceId;
    const m = /\/subscriptions\/([^/]+)/i.exec(resourceId);
    this.account = m === null ? '' : m[1].toLowerCase();
    this.vpc = '';
    this.subnet = '';
    this.mac = -1;
    this.macText = '';
    this.expCode = this.accCode = this.ifCode = this.vpcCode = this.subCode = 0;
  }

  setMac(mac: string): void {
    const up = mac.toUpperCase();
    if (up === this.macText) return;
    this.macText = up;
    this.mac = /^[0-9A-F]{12}$/.test(up) ? Number.parseInt(up, 16) : -1;
    this.ifCode = 0;
    if (this.exporter === '') this.expCode = 0;
  }

  setTarget(target: string): void {
    const v = /^(.*?\/virtualnetworks\/[^/]+)/i.exec(target);
    this.vpc = v === null ? '' : v[1];
    const s = /^(.*?\/subnets\/[^/]+)/i.exec(target);
    this.subnet = s === null ? '' : s[1];
  }

  /** Write one tuple; returns null or the reason it was rejected (the row is then dropped). */
  tuple(t: string): string | null {
    const tokS = this.tokS;
    const tokE = this.tokE;
    let nt = 0;
    let s = 0;
    for (;;) {
      let e = t.indexOf(',', s);
      if (e < 0) e = t.length;
      if (nt < 16) {
        tokS[nt] = s;
        tokE[nt] = e;
      }
      nt++;
      if (e === t.length) break;
      s = e + 1;
    }
    if (nt !== this.fields) {
      return `${nt} fields, ${this.source === SOURCE_VNET ? 'a VNet flow log tuple' : `an NSG Version ${this.fields === 8 ? 1 : 2} tuple`} has ${this.fields}`;
    }
    const vnet = this.source === SOURCE_VNET;
    const b = this.sink.batch();
    const row = b.addRow();
    if (this.batch !== b || row === 0) {
      this.batch = b;
      this.expCode = this.accCode = this.ifCode = this.vpcCode = this.subCode = 0;
    }

    const ts = uint(t, tokS[0], tokE[0]);
    if (ts < 0) return this.bad(b, 'field 1 (time stamp) is not a Unix time');
    const ms = ts >= 1e11 ? ts : ts * 1000;
    setF64(b, C.time_start, row, ms);
    setF64(b, C.time_end, row, ms);
    const f1 = addrCol(t, tokS[1], tokE[1], b, C.src_addr, row);
    if (f1 < 0) return this.bad(b, 'field 2 (source IP) is not an IP address');
    const f2 = addrCol(t, tokS[2], tokE[2], b, C.dst_addr, row);
    if (f2 < 0) return this.bad(b, 'field 3 (destination IP) is not an IP address');
    setU8(b, C.ip_version, row, f1);
    const sp = uint(t, tokS[3], tokE[3]);
    if (sp < 0 || sp > 65535) return this.bad(b, 'field 4 (source port) is not a port 0..65535');
    setU16(b, C.src_port, row, sp);
    const dp = uint(t, tokS[4], tokE[4]);
    if (dp < 0 || dp > 65535) return this.bad(b, 'field 5 (destination port) is not a port 0..65535');
    setU16(b, C.dst_port, row, dp);
    const ps = tokS[5];
    if (vnet) {
      const p = uint(t, ps, tokE[5]);
      if (p < 0 || p > 255) return this.bad(b, 'field 6 (protocol) is not an IANA protocol number 0..255');
      setU8(b, C.proto, row, p);
    } else {
      const c = tokE[5] - ps === 1 ? t.charCodeAt(ps) : 0;
      if (c === 84) setU8(b, C.proto, row, 6);
      else if (c === 85) setU8(b, C.proto, row, 17);
      else return this.bad(b, 'field 6 (protocol) is not T or U');
    }
    const dc = tokE[6] - tokS[6] === 1 ? t.charCodeAt(tokS[6]) : 0;
    if (dc === 73) setU8(b, C.direction, row, DIR_INGRESS);
    else if (dc === 79) setU8(b, C.direction, row, DIR_EGRESS);
    else return this.bad(b, 'field 7 (direction) is not I or O');

    if (vnet) {
      const c = tokE[7] - tokS[7] === 1 ? t.charCodeAt(tokS[7]) : 0;
      if (c === 68) setU8(b, C.action, row, ACTION_REJECT);
      else {
        const fs = c === 66 ? STATE_START : c === 67 ? STATE_CONTINUE : c === 69 ? STATE_END : -1;
        if (fs < 0) return this.bad(b, 'field 8 (flow state) is not B, C, E or D');
        setU8(b, C.flow_state, row, fs);
        setU8(b, C.action, row, ACTION_ACCEPT);
      }
      // X, NX, or one of the NX_* reasons (NX_HW_NOT_SUPPORTED, NX_FALLBACK, …).
      const es = tokS[8];
      const el = tokE[8] - es;
      const enc =
        (el === 1 && t.charCodeAt(es) === 88) ||
        (el >= 2 &&
          t.charCodeAt(es) === 78 &&
          t.charCodeAt(es + 1) === 88 &&
          (el === 2 || t.charCodeAt(es + 2) === 95));
      if (!enc) return this.bad(b, 'field 9 (encryption) is not X, NX or NX_*');
    } else {
      const c = tokE[7] - tokS[7] === 1 ? t.charCodeAt(tokS[7]) : 0;
      if (c === 65) setU8(b, C.action, row, ACTION_ACCEPT);
      else if (c === 68) setU8(b, C.action, row, ACTION_REJECT);
      else return this.bad(b, 'field 8 (decision) is not A or D');
      if (this.fields === 13) {
        const sc = tokE[8] - tokS[8] === 1 ? t.charCodeAt(tokS[8]) : 0;
        const fs = sc === 66 ? STATE_START : sc === 67 ? STATE_CONTINUE : sc === 69 ? STATE_END : -1;
        if (fs < 0) return this.bad(b, 'field 9 (flow state) is not B, C or E');
        setU8(b, C.flow_state, row, fs);
      }
    }
    if (this.fields === 13) {
      // Empty counters (state B) stay null.
      for (let k = 9; k < 13; k++) {
        if (tokE[k] === tokS[k]) continue;
        const v = uint(t, tokS[k], tokE[k]);
        if (v < 0) return this.bad(b, `field ${k + 1} (${COUNTER_NAMES[k - 9]}) is not a count`);
        setF64(b, k === 9 ? C.packets : k === 10 ? C.bytes : k === 11 ? C.rev_packets : C.rev_bytes, row, v);
      }
    }
    setU8(b, C.biflow, row, this.fields === 13 ? 1 : 0);
    setU8(b, C.source_type, row, this.source);
    setF64(b, C.time_received, row, this.receivedMs);
    if (this.mac >= 0) setF64(b, dc === 73 ? C.dst_mac : C.src_mac, row, this.mac);
    this.strings(b, row);
    return null;
  }

  private strings(b: FlowBatch, row: number): void {
    if (this.expCode === 0) {
      const e = this.exporter !== '' ? this.exporter : this.macText !== '' ? `azure:${this.macText}` : 'azure:-';
      this.expCode = code(b, C.exporter, e);
    }
    setCode(b, C.exporter, row, this.expCode);
    if (this.account !== '') {
      if (this.accCode === 0) this.accCode = code(b, C.account_id, this.account);
      setCode(b, C.account_id, row, this.accCode);
    }
    if (this.macText !== '') {
      if (this.ifCode === 0) this.ifCode = code(b, C.interface_id, this.macText);
      setCode(b, C.interface_id, row, this.ifCode);
    }
    if (this.vpc !== '') {
      if (this.vpcCode === 0) this.vpcCode = code(b, C.vpc_id, this.vpc);
      setCode(b, C.vpc_id, row, this.vpcCode);
    }
    if (this.subnet !== '') {
      if (this.subCode === 0) this.subCode = code(b, C.subnet_id, this.subnet);
      setCode(b, C.subnet_id, row, this.subCode);
    }
  }

  private bad(b: FlowBatch, why: string): string {
    b.dropLastRow();
    return why;
  }
}

const COUNTER_NAMES = [
  'packets source→destination',
  'bytes source→destination',
  'packets destination→source',
  'bytes destination→source',
];

function code(b: FlowBatch, col: number, s: string): number {
  return (b.strings[col] as { code(s: string): number }).code(s);
}
function setCode(b: FlowBatch, col: number, row: number, c: number): void {
  (b.data[col] as Uint32Array)[row] = c;
  b.valid[col][row] = 1;
}

/** Remove commas that directly precede `]` or `}` (whitespace between), outside strings. */
function dropTrailingCommas(text: string): { text: string; removed: number } {
  let out = '';
  let last = 0;
  let removed = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92) i++;
      else if (c === 34) inStr = false;
      continue;
    }
    if (c === 34) inStr = true;
    else if (c === 44) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) <= 32) j++;
      const n = text.charCodeAt(j);
      if (n === 93 || n === 125) {
        out += text.slice(last, i);
        last = i + 1;
        removed++;
      }
    }
  }
  return { text: removed === 0 ? text : out + text.slice(last), removed };
}

/** JSON.parse's reason, with the line and column of the first error found by `jsonErrorPos`. */
function jsonErrorAt(text: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // V8's message sometimes gives a position, sometimes only a snippet: locate the error ourselves.
  const pos = jsonErrorPos(text);
  if (pos < 0) return msg;
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  const flat = msg.replace(/\r?\n/g, '\\n');
  const reason = flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
  return `line ${line}, column ${col}: ${reason}`;
}

/** Offset of the first syntax error of `text` as JSON (RFC 8259 grammar), -1 when none is found. */
function jsonErrorPos(text: string): number {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  // Explicit stack of open containers (123 '{' or 91 '[') instead of recursion: hostile nesting.
  const stack: number[] = [];
  for (;;) {
    // Expect a value.
    ws();
    if (i >= n) return i;
    const c = text.charCodeAt(i);
    if (c === 123 || c === 91) {
      stack.push(c);
      i++;
      ws();
      if (text.charCodeAt(i) === (c === 123 ? 125 : 93)) {
        stack.pop();
        i++;
      } else {
        if (c === 123 && !key()) return i;
        continue;
      }
    } else if (c === 34) {
      if (!string()) return i;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      const m = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
      m.lastIndex = i;
      if (!m.test(text)) return i;
      i = m.lastIndex;
    } else if (text.startsWith('true', i)) i += 4;
    else if (text.startsWith('false', i)) i += 5;
    else if (text.startsWith('null', i)) i += 4;
    else return i;
    // After a value: close containers or go on to the next element.
    for (;;) {
      ws();
      if (stack.length === 0) return i < n ? i : -1;
      const top = stack[stack.length - 1];
      const d = text.charCodeAt(i);
      if (d === 44) {
        i++;
        if (top === 123) {
          ws();
          if (!key()) return i;
        }
        break;
      }
      if (d === (top === 123 ? 125 : 93)) {
        stack.pop();
        i++;
        continue;
      }
      return i;
    }
  }
  function string(): boolean {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c < 32) return false;
      i += c === 92 ? 2 : 1;
    }
    return false;
  }
  function key(): boolean {
    if (text.charCodeAt(i) !== 34 || !string()) return false;
    ws();
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    return true;
  }
}
