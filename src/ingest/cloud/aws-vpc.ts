// AWS VPC Flow Logs (text records, versions 2–8) → FlowBatch rows.
//
// AWS documents a record as one line of space-separated fields ("Flow log records", VPC User Guide).
// The default format is the fourteen version-2 fields in a fixed order and carries no header when
// delivered to CloudWatch Logs; a custom format lists any subset of the available fields in any
// order, and the S3 delivery puts that list, space separated, as the first line of each object.
// A field that does not apply to a record is written as "-" and read here as null.
//
// Field → column mapping (fields introduced in the version shown, per the AWS field table):
//   v2  version (validated, no column) · account-id → account_id · interface-id → interface_id ·
//       srcaddr/dstaddr → src_addr/dst_addr (+ ip_version) · srcport/dstport → src_port/dst_port ·
//       protocol → proto · packets · bytes · start/end (s) → time_start/time_end (ms) ·
//       action ACCEPT/REJECT → accept/reject · log-status OK/NODATA/SKIPDATA (NODATA and SKIPDATA
//       records describe no traffic: they are counted, not stored)
//   v3  vpc-id · subnet-id · instance-id · tcp-flags → tcp_flags · pkt-srcaddr/pkt-dstaddr →
//       pkt_src_addr/pkt_dst_addr · type (IPv4/IPv6/EFA, validated, no column)
//   v4  region · az-id → zone · sublocation-type (wavelength/outpost/localzone, validated, no
//       column) · sublocation-id (no column)
//   v5  flow-direction ingress/egress → direction · traffic-path 1..8 → traffic_path (the AWS
//       code kept as its decimal text, e.g. "8" = internet gateway) · pkt-src-aws-service /
//       pkt-dst-aws-service (no column)
//   v6  is the transit-gateway flow log, a different record; not handled here
//   v7  ecs-cluster-arn, ecs-cluster-name, ecs-container-instance-arn, ecs-container-instance-id,
//       ecs-container-id, ecs-second-container-id, ecs-service-name, ecs-task-definition-arn,
//       ecs-task-arn, ecs-task-id (no columns yet; read as opaque text)
//   v8  reject-reason (no column; e.g. "BPA" for VPC Block Public Access)
// Columns with no AWS field: flow_state (AWS records are per aggregation window, not per
// lifecycle), biflow (always false: one record per direction), time_received (the caller's).
//
// exporter = `aws:${account-id}:${interface-id}` ("-" for an absent part): the network interface
// is the observation point (like a router interface), and the account keeps two accounts' ENIs of
// the same id apart in a multi-account import; the counters of one log file are per interface.

import { Buffer } from 'node:buffer';
import type { FlowBatch, StringDict } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, DIRECTIONS, SOURCE_TYPES } from '../../schema/columns.js';
import { inflated } from '../gzip.js';
import { ipv4Bytes, ipv6Bytes, setF64, setU8, setU16, uintBytes } from '../text-fields.js';

/** Every field AWS documents for VPC flow log records, with the version that introduced it. */
export const AWS_VPC_FIELDS: Readonly<Record<string, number>> = {
  version: 2,
  'account-id': 2,
  'interface-id': 2,
  srcaddr: 2,
  dstaddr: 2,
  srcport: 2,
  dstport: 2,
  protocol: 2,
  packets: 2,
  bytes: 2,
  start: 2,
  end: 2,
  action: 2,
  'log-status': 2,
  'vpc-id': 3,
  'subnet-id': 3,
  'instance-id': 3,
  'tcp-flags': 3,
  type: 3,
  'pkt-srcaddr': 3,
  'pkt-dstaddr': 3,
  region: 4,
  'az-id': 4,
  'sublocation-type': 4,
  'sublocation-id': 4,
  'pkt-src-aws-service': 5,
  'pkt-dst-aws-service': 5,
  'flow-direction': 5,
  'traffic-path': 5,
  'ecs-cluster-arn': 7,
  'ecs-cluster-name': 7,
  'ecs-container-instance-arn': 7,
  'ecs-container-instance-id': 7,
  'ecs-container-id': 7,
  'ecs-second-container-id': 7,
  'ecs-service-name': 7,
  'ecs-task-definition-arn': 7,
  'ecs-task-arn': 7,
  'ecs-task-id': 7,
  'reject-reason': 8,
};

export const AWS_VPC_DEFAULT_FORMAT =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

// Field ids for the per-token switch.
const F_VERSION = 0;
const F_ACCOUNT = 1;
const F_INTERFACE = 2;
const F_SRCADDR = 3;
const F_DSTADDR = 4;
const F_SRCPORT = 5;
const F_DSTPORT = 6;
const F_PROTOCOL = 7;
const F_PACKETS = 8;
const F_BYTES = 9;
const F_START = 10;
const F_END = 11;
const F_ACTION = 12;
const F_LOGSTATUS = 13;
const F_VPC = 14;
const F_SUBNET = 15;
const F_INSTANCE = 16;
const F_TCPFLAGS = 17;
const F_TYPE = 18;
const F_PKTSRC = 19;
const F_PKTDST = 20;
const F_REGION = 21;
const F_AZ = 22;
const F_SUBLOCTYPE = 23;
const F_TEXT = 24; // validated as present text only (sublocation-id, aws services, ecs-*, reject-reason)
const F_DIRECTION = 25;
const F_TRAFFICPATH = 26;

const FIELD_ID: Record<string, number> = {
  version: F_VERSION,
  'account-id': F_ACCOUNT,
  'interface-id': F_INTERFACE,
  srcaddr: F_SRCADDR,
  dstaddr: F_DSTADDR,
  srcport: F_SRCPORT,
  dstport: F_DSTPORT,
  protocol: F_PROTOCOL,
  packets: F_PACKETS,
  bytes: F_BYTES,
  start: F_START,
  end: F_END,
  action: F_ACTION,
  'log-status': F_LOGSTATUS,
  'vpc-id': F_VPC,
  'subnet-id': F_SUBNET,
  'instance-id': F_INSTANCE,
  'tcp-flags': F_TCPFLAGS,
  type: F_TYPE,
  'pkt-srcaddr': F_PKTSRC,
  'pkt-dstaddr': F_PKTDST,
  region: F_REGION,
  'az-id': F_AZ,
  'sublocation-type': F_SUBLOCTYPE,
  'flow-direction': F_DIRECTION,
  'traffic-path': F_TRAFFICPATH,
};

const DIR_INGRESS = DIRECTIONS.indexOf('ingress');
const DIR_EGRESS = DIRECTIONS.indexOf('egress');
// source_type's enum is ['unknown', ...SOURCE_TYPES].
const SOURCE_AWS_VPC = 1 + SOURCE_TYPES.indexOf('aws_vpc');
const ACTION_ACCEPT = ACTIONS.indexOf('accept');
const ACTION_REJECT = ACTIONS.indexOf('reject');

/** At most this many errors are kept with their text; `malformed` counts them all. */
const MAX_ERRORS = 1000;

export interface AwsVpcParseResult {
  /** Data records seen (lines that are not the header or blank), good or bad. */
  records: number;
  /** Rows written to the sink. */
  flows: number;
  /** log-status NODATA: no traffic on the interface during the window. */
  nodata: number;
  /** log-status SKIPDATA: AWS skipped records for the window (capacity or internal error). */
  skipdata: number;
  /** Records rejected as malformed (all of them, even past the kept `errors`). */
  malformed: number;
  /** Header fields this parser does not know (newer than version 8): their values are ignored. */
  unknownFields: string[];
  errors: { line: number; message: string }[];
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Is the line a header: every token a field name AWS documents? */
function headerFields(line: string): string[] | null {
  const names = line.trim().split(/[ \t]+/);
  if (names.length === 0 || names[0] === '') return null;
  let known = 0;
  for (const n of names) {
    if (!/^[a-z][a-z0-9-]*$/.test(n)) return null;
    if (n in AWS_VPC_FIELDS) known++;
  }
  // A header of only unknown names would be a record of lower-case words; require most names known.
  return known * 2 > names.length ? names : null;
}

/**
 * Format detection by content: a header line (field names AWS documents) or a default-format
 * (version 2) record.
 */
export function looksLikeAwsVpcLog(firstLine: string): boolean {
  const line = firstLine.replace(/\r?\n$/, '');
  if (headerFields(line) !== null) return true;
  const t = line.trim().split(/[ \t]+/);
  if (t.length !== 14) return false;
  return (
    /^\d+$/.test(t[0]) &&
    (t[2] === '-' || t[2].startsWith('eni-')) &&
    /^\d+$/.test(t[10]) &&
    /^\d+$/.test(t[11]) &&
    (t[12] === 'ACCEPT' || t[12] === 'REJECT' || t[12] === '-') &&
    (t[13] === 'OK' || t[13] === 'NODATA' || t[13] === 'SKIPDATA')
  );
}

/**
 * Parse AWS VPC Flow Logs text (or its bytes, gzip-compressed or not) into rows of `sink`.
 * `fields` gives the custom format when the text has no header line (CloudWatch Logs delivery of
 * a custom format); without it and without a header the default format is assumed.
 * Never throws on bad input: each bad line is an error with its line number, the others go on.
 *
 * Records are read as bytes: every field AWS writes is ASCII, so nothing needs decoding into a JS
 * string but the few values that change between records (ids) and the text of an error. Decoding
 * whole objects to UTF-16 first cost as much as the parse itself.
 */
export function parseAwsVpcLog(
  input: string | Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
  fields?: string,
): AwsVpcParseResult {
  const res: AwsVpcParseResult = {
    records: 0,
    flows: 0,
    nodata: 0,
    skipdata: 0,
    malformed: 0,
    unknownFields: [],
    errors: [],
  };
  const fail = (line: number, message: string) => {
    res.malformed++;
    if (res.errors.length < MAX_ERRORS) res.errors.push({ line, message: `${source}:${line}: ${message}` });
  };

  let bytes: Uint8Array;
  if (typeof input === 'string') bytes = Buffer.from(input, 'utf8');
  else {
    const data = inflated(input, (m) => fail(0, `gzip: ${m}`), { partial: false });
    if (data === null) return res;
    bytes = data;
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Indexing a plain Uint8Array is cheaper in V8 than indexing its Buffer subclass.
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let fmt = compileFormat((fields ?? AWS_VPC_DEFAULT_FORMAT).trim().split(/[ \t]+/), res);
  // Token boundaries of the current line; grown when a line has more tokens than expected so that
  // the count can be reported.
  let tokS = new Int32Array(64);
  let tokE = new Int32Array(64);
  const state = new RowState();

  const n = buf.length;
  let lineNo = 0;
  let pos = 0;
  while (pos < n) {
    let eol = buf.indexOf(10, pos);
    if (eol < 0) eol = n;
    lineNo++;
    let lineEnd = eol;
    if (lineEnd > pos && buf[lineEnd - 1] === 13) lineEnd--;
    const lineStart = pos;
    pos = eol + 1;

    // Tokenise by hand: runs of spaces/tabs separate fields (AWS's own examples contain a double space).
    let nt = 0;
    let i = lineStart;
    while (i < lineEnd) {
      while (i < lineEnd && isSpace(u8[i])) i++;
      if (i >= lineEnd) break;
      const s = i;
      // The byte at lineEnd is CR, LF or past the end (undefined): none is > 32, so the fast loop
      // needs no bound check; the slow one goes on past other control bytes, which are token bytes.
      while (u8[i] > 32) i++;
      while (i < lineEnd && !isSpace(u8[i])) i++;
      if (nt === tokS.length) {
        const ns = new Int32Array(nt * 2);
        ns.set(tokS);
        tokS = ns;
        const ne = new Int32Array(nt * 2);
        ne.set(tokE);
        tokE = ne;
      }
      tokS[nt] = s;
      tokE[nt] = i;
      nt++;
    }
    if (nt === 0) continue;

    // A header: the first line of an S3 object, or again where objects were concatenated. Only
    // lines whose first token is a lower-case word without digits can be one (ids and regions
    // carry digits), so records skip the check.
    const c0 = buf[tokS[0]];
    if (c0 >= 97 && c0 <= 122 && isWord(buf, tokS[0], tokE[0])) {
      const names = headerFields(buf.toString('utf8', lineStart, lineEnd));
      if (names !== null) {
        fmt = compileFormat(names, res);
        // The exporter code is kept while account and interface repeat; a format without one of
        // them (or with it back) changes the exporter even when the other repeats.
        state.expCode = 0;
        continue;
      }
    }
    res.records++;
    if (nt !== fmt.ids.length) {
      fail(lineNo, `${nt} fields, the format has ${fmt.ids.length}${nt < fmt.ids.length ? ' (truncated line?)' : ''}`);
      continue;
    }
    if (fmt.logStatus >= 0) {
      const s = tokS[fmt.logStatus];
      const e = tokE[fmt.logStatus];
      if (eq(buf, s, e, NODATA)) {
        res.nodata++;
        continue;
      }
      if (eq(buf, s, e, SKIPDATA)) {
        res.skipdata++;
        continue;
      }
      if (!eq(buf, s, e, OK)) {
        fail(lineNo, `log-status: ${JSON.stringify(buf.toString('utf8', s, e))} is not OK, NODATA or SKIPDATA`);
        continue;
      }
    }
    const b = sink.batch();
    const err = writeRow(buf, tokS, tokE, fmt, b, state, receivedMs);
    if (err !== null) {
      fail(lineNo, err);
      continue;
    }
    res.flows++;
  }
  return res;
}

const ascii = (w: string) => Uint8Array.from(w, (c) => c.charCodeAt(0));
const NODATA = ascii('NODATA');
const SKIPDATA = ascii('SKIPDATA');
const OK = ascii('OK');
const ACCEPT = ascii('ACCEPT');
const REJECT = ascii('REJECT');
const IPV4 = ascii('IPv4');
const IPV6 = ascii('IPv6');
const EFA = ascii('EFA');
const WAVELENGTH = ascii('wavelength');
const OUTPOST = ascii('outpost');
const LOCALZONE = ascii('localzone');
const INGRESS = ascii('ingress');
const EGRESS = ascii('egress');

interface Format {
  ids: Int32Array; // field id per position, -1 for an unknown field
  names: string[];
  logStatus: number; // position of log-status, -1 when the format has none
  account: number;
  iface: number;
}

function compileFormat(names: string[], res: AwsVpcParseResult): Format {
  const ids = new Int32Array(names.length);
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (n in FIELD_ID) ids[i] = FIELD_ID[n];
    else if (n in AWS_VPC_FIELDS) ids[i] = F_TEXT;
    else {
      ids[i] = -1;
      if (!res.unknownFields.includes(n)) res.unknownFields.push(n);
    }
  }
  return {
    ids,
    names,
    logStatus: names.indexOf('log-status'),
    account: names.indexOf('account-id'),
    iface: names.indexOf('interface-id'),
  };
}

function isWord(buf: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (!((c >= 97 && c <= 122) || c === 45)) return false;
  }
  return true;
}

/**
 * Per-parse cache of the last string code written to each string column of the current batch:
 * consecutive records of one interface repeat account, VPC, subnet, instance and exporter, and
 * comparing bytes in place avoids a decode and a dictionary lookup for each.
 */
class RowState {
  batch: FlowBatch | null = null;
  /** Per column: bytes of the last value (a view into the input), and its code. */
  readonly lastS = new Int32Array(256).fill(-1);
  readonly lastE = new Int32Array(256);
  readonly code = new Int32Array(256);
  /** Code of the exporter of the previous row; 0 when account or interface changed. */
  expCode = 0;
  reset(b: FlowBatch): void {
    this.batch = b;
    this.lastS.fill(-1);
    this.expCode = 0;
  }
}

/** buf[s, e) === buf[s2, e2). Ids of one account share their prefix: compare from the end. */
function sameBytes(buf: Uint8Array, s: number, e: number, s2: number, e2: number): boolean {
  if (e - s !== e2 - s2) return false;
  for (let i = e - s - 1; i >= 0; i--) if (buf[s + i] !== buf[s2 + i]) return false;
  return true;
}

/** Write a string column; returns whether the value equals the previous row's ("-" included). */
function strCol(buf: Buffer, s: number, e: number, b: FlowBatch, col: number, st: RowState, row: number): boolean {
  const ls = st.lastS[col];
  const hit = ls >= 0 && sameBytes(buf, s, e, ls, st.lastE[col]);
  if (!hit) {
    st.lastS[col] = s;
    st.lastE[col] = e;
    // "-" is null (code 0).
    st.code[col] = e - s === 1 && buf[s] === 45 ? 0 : (b.strings[col] as StringDict).code(buf.toString('latin1', s, e));
  }
  const code = st.code[col];
  if (code !== 0) {
    (b.data[col] as Uint32Array)[row] = code;
    b.valid[col][row] = 1;
  }
  return hit;
}

function isDash(buf: Uint8Array, s: number, e: number): boolean {
  return e - s === 1 && buf[s] === 45;
}

function eq(buf: Uint8Array, s: number, e: number, word: Uint8Array): boolean {
  if (e - s !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[s + i] !== word[i]) return false;
  return true;
}

/** Write an address; returns 4 or 6 (the family), 0 for "-", -1 when it is not an address. */
function addrOrDash(buf: Buffer, s: number, e: number, b: FlowBatch, col: number, row: number): number {
  if (isDash(buf, s, e)) return 0;
  const v4 = ipv4Bytes(buf, s, e);
  if (v4 >= 0) {
    b.setIPv4(col, row, v4);
    return 4;
  }
  if (!ipv6Bytes(buf, s, e, b.data[col] as Uint32Array, row * 4)) return -1;
  b.valid[col][row] = 1;
  return 6;
}

/** Write one record; returns null, or an error naming the field (the row is then dropped). */
function writeRow(
  buf: Buffer,
  tokS: Int32Array,
  tokE: Int32Array,
  fmt: Format,
  b: FlowBatch,
  st: RowState,
  receivedMs: number,
): string | null {
  const row = b.addRow();
  // A new batch, or the same one after reset(): its dictionaries start empty again.
  if (st.batch !== b || row === 0) st.reset(b);
  const ids = fmt.ids;
  let family = 0;
  for (let k = 0; k < ids.length; k++) {
    const s = tokS[k];
    const e = tokE[k];
    const id = ids[k];
    if (id < 0) continue;
    const dash = isDash(buf, s, e);
    switch (id) {
      case F_VERSION: {
        // Versions 2..8 exist; a later one only adds fields, which the header names.
        const v = uintBytes(buf, s, e);
        if (v < 2) return bad(b, fmt, k, buf, s, e, 'a version number ≥ 2');
        break;
      }
      case F_ACCOUNT:
        if (!strCol(buf, s, e, b, C.account_id, st, row)) st.expCode = 0;
        break;
      case F_INTERFACE:
        if (!strCol(buf, s, e, b, C.interface_id, st, row)) st.expCode = 0;
        break;
      case F_VPC:
        strCol(buf, s, e, b, C.vpc_id, st, row);
        break;
      case F_SUBNET:
        strCol(buf, s, e, b, C.subnet_id, st, row);
        break;
      case F_INSTANCE:
        strCol(buf, s, e, b, C.instance_id, st, row);
        break;
      case F_REGION:
        strCol(buf, s, e, b, C.region, st, row);
        break;
      case F_AZ:
        strCol(buf, s, e, b, C.zone, st, row);
        break;
      case F_SRCADDR:
      case F_DSTADDR:
      case F_PKTSRC:
      case F_PKTDST: {
        const col =
          id === F_SRCADDR
            ? C.src_addr
            : id === F_DSTADDR
              ? C.dst_addr
              : id === F_PKTSRC
                ? C.pkt_src_addr
                : C.pkt_dst_addr;
        const f = addrOrDash(buf, s, e, b, col, row);
        if (f < 0) return bad(b, fmt, k, buf, s, e, 'an IPv4 or IPv6 address');
        if (family === 0 && (id === F_SRCADDR || id === F_DSTADDR)) family = f;
        break;
      }
      case F_SRCPORT:
      case F_DSTPORT: {
        if (dash) break;
        const v = uintBytes(buf, s, e);
        if (v < 0 || v > 65535) return bad(b, fmt, k, buf, s, e, 'a port 0..65535');
        setU16(b, id === F_SRCPORT ? C.src_port : C.dst_port, row, v);
        break;
      }
      case F_PROTOCOL: {
        if (dash) break;
        const v = uintBytes(buf, s, e);
        if (v < 0 || v > 255) return bad(b, fmt, k, buf, s, e, 'an IANA protocol number 0..255');
        setU8(b, C.proto, row, v);
        break;
      }
      case F_PACKETS:
      case F_BYTES: {
        if (dash) break;
        const v = uintBytes(buf, s, e);
        if (v < 0) return bad(b, fmt, k, buf, s, e, 'a count');
        setF64(b, id === F_PACKETS ? C.packets : C.bytes, row, v);
        break;
      }
      case F_START:
      case F_END: {
        if (dash) break;
        const v = uintBytes(buf, s, e);
        // Seconds since the epoch; ×1000 stays exact far beyond any real date.
        if (v < 0 || v > 1e13) return bad(b, fmt, k, buf, s, e, 'Unix seconds');
        setF64(b, id === F_START ? C.time_start : C.time_end, row, v * 1000);
        break;
      }
      case F_TCPFLAGS: {
        if (dash) break;
        // The OR of the flags seen in the window (AWS: FIN 1, SYN 2, RST 4, SYN-ACK 18, …).
        const v = uintBytes(buf, s, e);
        if (v < 0 || v > 0xffff) return bad(b, fmt, k, buf, s, e, 'a TCP flags number');
        setU16(b, C.tcp_flags, row, v);
        break;
      }
      case F_ACTION:
        if (dash) break;
        if (eq(buf, s, e, ACCEPT)) setU8(b, C.action, row, ACTION_ACCEPT);
        else if (eq(buf, s, e, REJECT)) setU8(b, C.action, row, ACTION_REJECT);
        else return bad(b, fmt, k, buf, s, e, 'ACCEPT or REJECT');
        break;
      case F_LOGSTATUS:
        break; // checked before the row was started
      case F_TYPE:
        if (!dash && !eq(buf, s, e, IPV4) && !eq(buf, s, e, IPV6) && !eq(buf, s, e, EFA))
          return bad(b, fmt, k, buf, s, e, 'IPv4, IPv6 or EFA');
        break;
      case F_SUBLOCTYPE:
        if (!dash && !eq(buf, s, e, WAVELENGTH) && !eq(buf, s, e, OUTPOST) && !eq(buf, s, e, LOCALZONE))
          return bad(b, fmt, k, buf, s, e, 'wavelength, outpost or localzone');
        break;
      case F_DIRECTION:
        if (dash) break;
        if (eq(buf, s, e, INGRESS)) setU8(b, C.direction, row, DIR_INGRESS);
        else if (eq(buf, s, e, EGRESS)) setU8(b, C.direction, row, DIR_EGRESS);
        else return bad(b, fmt, k, buf, s, e, 'ingress or egress');
        break;
      case F_TRAFFICPATH: {
        if (dash) break;
        // Codes 1..8 today; a later code is kept as it is rather than rejected.
        if (uintBytes(buf, s, e) < 1) return bad(b, fmt, k, buf, s, e, 'a traffic-path code (1..8)');
        strCol(buf, s, e, b, C.traffic_path, st, row);
        break;
      }
      default:
        break; // F_TEXT: any non-blank token is valid
    }
  }
  setU8(b, C.source_type, row, SOURCE_AWS_VPC);
  setF64(b, C.time_received, row, receivedMs);
  setU8(b, C.biflow, row, 0);
  if (family !== 0) setU8(b, C.ip_version, row, family);
  exporterCol(buf, tokS, tokE, fmt, b, st, row);
  return null;
}

/**
 * exporter = aws:ACCOUNT:INTERFACE. Its code is kept while neither field changes: writeRow clears
 * `expCode` when strCol sees a new account or interface.
 */
function exporterCol(
  buf: Buffer,
  tokS: Int32Array,
  tokE: Int32Array,
  fmt: Format,
  b: FlowBatch,
  st: RowState,
  row: number,
): void {
  let code = st.expCode;
  if (code === 0) {
    const acc = fmt.account >= 0 ? buf.toString('latin1', tokS[fmt.account], tokE[fmt.account]) : '-';
    const ifc = fmt.iface >= 0 ? buf.toString('latin1', tokS[fmt.iface], tokE[fmt.iface]) : '-';
    code = (b.strings[C.exporter] as StringDict).code(`aws:${acc}:${ifc}`);
    st.expCode = code;
  }
  (b.data[C.exporter] as Uint32Array)[row] = code;
  b.valid[C.exporter][row] = 1;
}

function bad(b: FlowBatch, fmt: Format, k: number, buf: Buffer, s: number, e: number, want: string): string {
  b.dropLastRow();
  return `field ${k + 1} (${fmt.names[k]}): ${JSON.stringify(buf.toString('utf8', s, e))} is not ${want}`;
}
