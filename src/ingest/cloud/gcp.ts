// Google Cloud VPC Flow Logs (Cloud Logging LogEntry JSON) → FlowBatch rows.
//
// Input shapes: NDJSON, one LogEntry per line (what `gcloud logging read --format=json` piped
// through jq -c, Pub/Sub subscribers and log shippers write); a JSON array of LogEntries (the
// plain `gcloud logging read --format=json` output); or one LogEntry. A bare jsonPayload (an
// object with `connection` at its top) is accepted too.
//
// Record layout (Google Cloud, "About VPC Flow Logs records", Record format):
//   jsonPayload.connection  IpConnection {src_ip, src_port, dest_ip, dest_port, protocol (IANA number)}
//   jsonPayload.reporter    the side that reported the flow: SRC or DEST for VMs and serverless
//                           endpoints, SRC_GATEWAY or DEST_GATEWAY for VLAN attachments / VPN tunnels
//   start_time, end_time    RFC 3339 timestamps of the first and last packet seen in the aggregation
//                           interval (Google writes nanoseconds; kept to the millisecond, truncated)
//   bytes_sent, packets_sent  int64, source → destination. Cloud Logging writes int64 as a JSON
//                           string (proto3 JSON mapping); a JSON number is accepted as well
//   src_instance / dest_instance  InstanceDetails {project_id, region, vm_name, zone}
//   src_vpc / dest_vpc      VpcDetails {project_id, vpc_name, subnetwork_name}
//   src_gateway / dest_gateway  GatewayDetails {project_id, name, region, vpc {…}} (gateway reporters)
//   src_location / dest_location  GeographicDetails {asn, continent, country, region, city}: only for
//                           endpoints outside the VPC
//   rtt_msec                round-trip time, TCP only (no column)
//
// Mapping: source_type gcp_vpc. src/dst addr, port, proto and ip_version from `connection`; ports
// are absent for protocols without them (ICMP) and stay null. bytes/packets = bytes_sent /
// packets_sent; biflow false (a record counts one direction; the reply is its own record).
// The context columns describe the reporting side — the VM, VPC or gateway that observed the
// flow, as an interface id does for AWS: account_id = its project_id (or the LogEntry's
// resource.labels.project_id when the side carries none), vpc_id = vpc_name, subnet_id =
// subnetwork_name, instance_id = vm_name, region and zone of the instance (region of the gateway).
// direction: SRC → egress, DEST → ingress (the reporter is the source or the destination of what
// it logs, so this is the direction relative to the observation point, like AWS flow-direction);
// gateway reporters stay unknown (Google does not say which side of the gateway is "inside").
// src_country/dst_country = src_location/dest_location.country upper-cased: Google writes ISO
// 3166-1 alpha-3 codes in lower case ("usa"); they are kept alpha-3. src_asn/dst_asn = .asn.
// exporter = `gcp:${project}/${zone}/${vm_name}` for an instance reporter (VM names are unique per
// project and zone), `gcp:${project}/${vpc_name}/${subnetwork_name}` when the side has only VPC
// details, `gcp:${project}/${gateway name}` for a gateway, `gcp:-` when the side says nothing.
//
// Both sides of one connection between two logged VMs appear as two records (Google, "About
// traffic flows": the flow is reported by both the requesting and the responding VM). Both are
// kept: they are two observations (with their own sampling, times and counters) and the direction
// column tells them apart; a sum over both counts the traffic twice.

import { Buffer } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { type FlowBatch, parseAddr } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { C, DIRECTIONS, SOURCE_TYPES } from '../../schema/columns.js';

const SOURCE_GCP_VPC = 1 + SOURCE_TYPES.indexOf('gcp_vpc');
const DIR_INGRESS = DIRECTIONS.indexOf('ingress');
const DIR_EGRESS = DIRECTIONS.indexOf('egress');

/** At most this many errors are kept with their text; `malformed` counts them all. */
export const MAX_ERRORS = 1000;

export interface CloudJsonParseResult {
  /** Records (NDJSON lines, array elements or the one document) seen, good or bad. */
  records: number;
  /** Rows written to the sink. */
  flows: number;
  /** Records rejected (all of them, even past the kept `errors`). */
  malformed: number;
  /**
   * `line`: the 1-based line for NDJSON; the 1-based element index for a JSON array; 1 for a single
   * document; 0 for the input as a whole (gzip or JSON syntax). The message repeats the place.
   */
  errors: { line: number; message: string }[];
}

export type GcpFlowLogParseResult = CloudJsonParseResult;

/** Format detection by content: the first few KB of a file. */
export function looksLikeGcpFlowLog(head: string): boolean {
  const t = head.replace(/^\uFEFF/, '').trimStart();
  if (t.charCodeAt(0) !== 123 && t.charCodeAt(0) !== 91) return false; // { or [
  return (
    t.includes('compute.googleapis.com%2Fvpc_flows') ||
    t.includes('networkmanagement.googleapis.com%2Fvpc_flows') ||
    (t.includes('"connection"') && t.includes('"reporter"') && t.includes('"bytes_sent"'))
  );
}

/**
 * Parse GCP VPC Flow Logs (text or bytes, gzip-compressed or not) into rows of `sink`.
 * Never throws on bad input: each bad record is an error naming its line, the others go on.
 */
export function parseGcpFlowLog(
  input: string | Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
): GcpFlowLogParseResult {
  const res: GcpFlowLogParseResult = { records: 0, flows: 0, malformed: 0, errors: [] };
  readJsonRecords(input, source, res, (rec, line) => {
    const err = writeGcpRecord(rec, sink, receivedMs);
    if (err === null) res.flows++;
    else failRecord(res, source, line, err);
  });
  return res;
}

// ---- shared by the JSON cloud log parsers (gcp.ts, oci.ts)

export function failRecord(res: CloudJsonParseResult, source: string, line: number, message: string): void {
  res.malformed++;
  if (res.errors.length < MAX_ERRORS) res.errors.push({ line, message: `${source}:${line}: ${message}` });
}

/**
 * Hand each record of a JSON document, JSON array or NDJSON text to `onRecord` with its place
 * (see CloudJsonParseResult.errors). Counts `records`; syntax errors are counted and reported here.
 */
export function readJsonRecords(
  input: string | Uint8Array,
  source: string,
  res: CloudJsonParseResult,
  onRecord: (rec: unknown, line: number) => void,
): void {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    let bytes = input;
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        failRecord(res, source, 0, `gzip: ${(e as Error).message}`);
        return;
      }
    }
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  // NDJSON when the first non-blank line is a whole JSON object and more lines follow; reading it
  // line by line keeps one broken line from hiding the others.
  const start = text.search(/\S/);
  if (start < 0) return;
  let firstEol = text.indexOf('\n', start);
  if (firstEol < 0) firstEol = text.length;
  const firstLine = text.slice(start, firstEol);
  if (firstLine.trimStart().startsWith('{') && text.slice(firstEol).trim() !== '' && parses(firstLine)) {
    let pos = 0;
    let lineNo = 0;
    while (pos < text.length) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0) eol = text.length;
      lineNo++;
      const line = text.slice(pos, eol);
      pos = eol + 1;
      if (line.trim() === '') continue;
      res.records++;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        failRecord(res, source, lineNo, `invalid JSON: ${(e as Error).message}`);
        continue;
      }
      onRecord(v, lineNo);
    }
    return;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    res.records++;
    failRecord(res, source, 0, `invalid JSON: ${(e as Error).message}`);
    return;
  }
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      res.records++;
      onRecord(doc[i], i + 1);
    }
    return;
  }
  res.records++;
  onRecord(doc, 1);
}

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * A non-negative integer written as a JSON number or a string of digits (proto3 JSON int64);
 * -1 when absent, -2 when present but not such an integer.
 */
export function count(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -2;
  if (typeof v === 'string' && /^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return n <= Number.MAX_SAFE_INTEGER ? n : -2;
  }
  return -2;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/** RFC 3339 timestamp → ms (fraction below the millisecond truncated), or NaN. */
export function rfc3339Ms(v: unknown): number {
  if (typeof v !== 'string' || !RFC3339.test(v)) return Number.NaN;
  // Date.parse takes at most millisecond precision reliably; cut the fraction to 3 digits first.
  const dot = v.indexOf('.', 19);
  let s = v;
  if (dot >= 0) {
    let end = dot + 1;
    while (end < v.length && v.charCodeAt(end) >= 48 && v.charCodeAt(end) <= 57) end++;
    s = v.slice(0, Math.min(end, dot + 4)) + v.slice(end);
  }
  return Date.parse(s);
}

/** Write an address; returns 4 or 6 (the family), or 0 when the text is not an address. */
export function setAddr(b: FlowBatch, col: number, row: number, text: string): number {
  const w = parseAddr(text);
  if (w === null) return 0;
  const a = b.data[col] as Uint32Array;
  const o = row * 4;
  a[o] = w[0];
  a[o + 1] = w[1];
  a[o + 2] = w[2];
  a[o + 3] = w[3];
  b.valid[col][row] = 1;
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? 4 : 6;
}

/** A port (JSON number or digit string) → 0..65535, -1 absent, -2 invalid. */
export function port(v: unknown): number {
  const n = count(v);
  return n > 65535 ? -2 : n;
}

// ---- GCP record

function writeGcpRecord(rec: unknown, sink: BatchSink, receivedMs: number): string | null {
  if (!isObj(rec)) return 'not a JSON object';
  const p = isObj(rec.jsonPayload) ? rec.jsonPayload : isObj(rec.connection) ? rec : null;
  if (p === null) return 'no jsonPayload (not a VPC Flow Logs LogEntry)';
  const conn = p.connection;
  if (!isObj(conn)) return 'jsonPayload.connection is missing';

  const srcIp = str(conn.src_ip);
  const dstIp = str(conn.dest_ip);
  const sport = port(conn.src_port);
  if (sport === -2) return `connection.src_port ${JSON.stringify(conn.src_port)} is not a port 0..65535`;
  const dport = port(conn.dest_port);
  if (dport === -2) return `connection.dest_port ${JSON.stringify(conn.dest_port)} is not a port 0..65535`;
  const proto = count(conn.protocol);
  if (proto === -2 || proto > 255)
    return `connection.protocol ${JSON.stringify(conn.protocol)} is not an IANA protocol number 0..255`;
  const bytes = count(p.bytes_sent);
  if (bytes === -2) return `bytes_sent ${JSON.stringify(p.bytes_sent)} is not a count`;
  const packets = count(p.packets_sent);
  if (packets === -2) return `packets_sent ${JSON.stringify(p.packets_sent)} is not a count`;
  const t0 = p.start_time === undefined ? -1 : rfc3339Ms(p.start_time);
  if (Number.isNaN(t0)) return `start_time ${JSON.stringify(p.start_time)} is not an RFC 3339 timestamp`;
  const t1 = p.end_time === undefined ? -1 : rfc3339Ms(p.end_time);
  if (Number.isNaN(t1)) return `end_time ${JSON.stringify(p.end_time)} is not an RFC 3339 timestamp`;
  const reporter = p.reporter;
  let side = '';
  if (reporter === 'SRC' || reporter === 'SRC_GATEWAY') side = 'src';
  else if (reporter === 'DEST' || reporter === 'DEST_GATEWAY') side = 'dest';
  else if (reporter !== undefined)
    return `reporter ${JSON.stringify(reporter)} is not SRC, DEST, SRC_GATEWAY or DEST_GATEWAY`;
  const srcLoc = isObj(p.src_location) ? p.src_location : null;
  const dstLoc = isObj(p.dest_location) ? p.dest_location : null;
  const srcAsn = srcLoc === null ? -1 : count(srcLoc.asn);
  if (srcAsn === -2 || srcAsn > 0xffffffff) return `src_location.asn ${JSON.stringify(srcLoc?.asn)} is not an ASN`;
  const dstAsn = dstLoc === null ? -1 : count(dstLoc.asn);
  if (dstAsn === -2 || dstAsn > 0xffffffff) return `dest_location.asn ${JSON.stringify(dstLoc?.asn)} is not an ASN`;

  const b = sink.batch();
  const row = b.addRow();
  const fs = setAddr(b, C.src_addr, row, srcIp);
  if (fs === 0) {
    b.dropLastRow();
    return `connection.src_ip ${JSON.stringify(conn.src_ip)} is not an IPv4 or IPv6 address`;
  }
  if (setAddr(b, C.dst_addr, row, dstIp) === 0) {
    b.dropLastRow();
    return `connection.dest_ip ${JSON.stringify(conn.dest_ip)} is not an IPv4 or IPv6 address`;
  }
  b.setNum(C.ip_version, row, fs);
  if (sport >= 0) b.setNum(C.src_port, row, sport);
  if (dport >= 0) b.setNum(C.dst_port, row, dport);
  if (proto >= 0) b.setNum(C.proto, row, proto);
  if (bytes >= 0) b.setNum(C.bytes, row, bytes);
  if (packets >= 0) b.setNum(C.packets, row, packets);
  if (t0 >= 0) b.setNum(C.time_start, row, t0);
  if (t1 >= 0) b.setNum(C.time_end, row, t1);
  b.setNum(C.time_received, row, receivedMs);
  b.setNum(C.source_type, row, SOURCE_GCP_VPC);
  b.setNum(C.biflow, row, 0);
  if (reporter === 'SRC') b.setNum(C.direction, row, DIR_EGRESS);
  else if (reporter === 'DEST') b.setNum(C.direction, row, DIR_INGRESS);

  if (srcLoc !== null) {
    const c = str(srcLoc.country);
    if (c !== '') b.setString(C.src_country, row, c.toUpperCase());
    if (srcAsn >= 0) b.setNum(C.src_asn, row, srcAsn);
  }
  if (dstLoc !== null) {
    const c = str(dstLoc.country);
    if (c !== '') b.setString(C.dst_country, row, c.toUpperCase());
    if (dstAsn >= 0) b.setNum(C.dst_asn, row, dstAsn);
  }

  // The reporting side's context.
  const inst = side === '' ? null : p[`${side}_instance`];
  const vpc = side === '' ? null : p[`${side}_vpc`];
  const gw = side === '' ? null : p[`${side}_gateway`];
  let project = '';
  let exporter = 'gcp:-';
  if (isObj(gw)) {
    project = str(gw.project_id);
    const gvpc = isObj(gw.vpc) ? gw.vpc : null;
    if (gvpc !== null) {
      b.setString(C.vpc_id, row, str(gvpc.vpc_name));
      b.setString(C.subnet_id, row, str(gvpc.subnetwork_name));
    }
    b.setString(C.region, row, str(gw.region));
    exporter = `gcp:${project || '-'}/${str(gw.name) || '-'}`;
  }
  if (isObj(vpc)) {
    project = str(vpc.project_id) || project;
    b.setString(C.vpc_id, row, str(vpc.vpc_name));
    b.setString(C.subnet_id, row, str(vpc.subnetwork_name));
    exporter = `gcp:${project || '-'}/${str(vpc.vpc_name) || '-'}/${str(vpc.subnetwork_name) || '-'}`;
  }
  if (isObj(inst)) {
    project = str(inst.project_id) || project;
    const vm = str(inst.vm_name);
    const zone = str(inst.zone);
    b.setString(C.instance_id, row, vm);
    b.setString(C.region, row, str(inst.region));
    b.setString(C.zone, row, zone);
    exporter = `gcp:${project || '-'}/${zone || '-'}/${vm || '-'}`;
  }
  if (project === '') {
    const res = isObj(rec.resource) && isObj(rec.resource.labels) ? rec.resource.labels : null;
    if (res !== null) project = str(res.project_id);
  }
  b.setString(C.account_id, row, project);
  b.setString(C.exporter, row, exporter);
  return null;
}
