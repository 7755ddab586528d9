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

import type { BatchSink } from '../../pipeline/sink.js';
import { C, DIRECTIONS, SOURCE_TYPES } from '../../schema/columns.js';
import {
  type CloudJsonParseResult,
  count,
  failRecord,
  isObj,
  port,
  readJsonRecords,
  rfc3339Ms,
  setAddr,
  str,
} from './json-records.js';

const SOURCE_GCP_VPC = 1 + SOURCE_TYPES.indexOf('gcp_vpc');
const DIR_INGRESS = DIRECTIONS.indexOf('ingress');
const DIR_EGRESS = DIRECTIONS.indexOf('egress');

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
