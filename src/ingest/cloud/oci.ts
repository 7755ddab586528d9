// Oracle Cloud Infrastructure VCN flow logs (type com.oraclecloud.vcn.flowlogs.DataEvent) → FlowBatch
// rows.
//
// Input shapes: one record, a JSON array of records, or NDJSON (one per line). A record is the
// CloudEvents-style log entry OCI Logging stores — {data, oracle, id, source, specversion, time,
// type} — or that entry wrapped by OCI Logging search / Service Connector output as
// {datetime, logContent: {…}}; both are read.
//
// Record layout (Oracle, "Details for VCN Flow Logs", Contents of a VCN Flow Log):
//   data.action            ACCEPT / REJECT: accepted or rejected by the security rules
//   data.bytesOut, data.packets  bytes and packets recorded in the capture window
//   data.sourceAddress, data.destinationAddress  IPv4 dotted or IPv6 colon notation
//   data.sourcePort, data.destinationPort, data.protocol (IANA number), data.protocolName
//   data.startTime, data.endTime  the capture window, Unix epoch. Oracle's samples and the corpus
//                          record carry seconds (1689108090); milliseconds (≥ 1e11, i.e. after the
//                          year 5138 if read as seconds) and RFC 3339 strings are accepted too
//   data.status            OK, NODATA (no traffic in the window) or SKIPDATA (records skipped):
//                          NODATA and SKIPDATA describe no traffic and are counted, not stored
//   data.version, data.flowid  (validated as present text or ignored; no column)
//   oracle.tenantid, compartmentid, vniccompartmentocid, vnicocid, vnicsubnetocid, loggroupid, logid,
//   ingestedtime
//
// Mapping: source_type oci_vcn. account_id = oracle.tenantid, the tenancy being OCI's equivalent of
// an AWS account (compartments are folders inside it); oracle.compartmentid when no tenancy is
// given. interface_id = the VNIC OCID (oracle.vnicocid, else data.vnicocid): each flow log record
// describes traffic of a single VNIC. subnet_id = oracle.vnicsubnetocid (else data.vnicsubnetocid).
// vpc_id = the VCN OCID when the record carries one (data.vnicVcnOcid / oracle.vcnocid; the
// documented record has none). region = the region key of the VNIC OCID (Oracle's OCID syntax
// ocid1.<type>.<realm>.<region>.<unique>, e.g. "phx"), when present. action ACCEPT → accept,
// REJECT → reject. bytes/packets as written, biflow false; direction unknown (OCI writes none).
// exporter = `oci:${vnic OCID}` (the VNIC is the observation point), `oci:-` without one.

import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, SOURCE_TYPES } from '../../schema/columns.js';
import {
  type CloudJsonParseResult,
  count,
  failRecord,
  isObj,
  type Obj,
  port,
  readJsonRecords,
  rfc3339Ms,
  setAddr,
  str,
} from './json-records.js';

const SOURCE_OCI_VCN = 1 + SOURCE_TYPES.indexOf('oci_vcn');
const ACTION_ACCEPT = ACTIONS.indexOf('accept');
const ACTION_REJECT = ACTIONS.indexOf('reject');
const FLOW_LOG_TYPE = 'com.oraclecloud.vcn.flowlogs.DataEvent';

export interface OciFlowLogParseResult extends CloudJsonParseResult {
  /** data.status NODATA: no traffic on the VNIC during the window. */
  nodata: number;
  /** data.status SKIPDATA: records were skipped for the window. */
  skipdata: number;
}

/** Format detection by content: the first few KB of a file. */
export function looksLikeOciFlowLog(head: string): boolean {
  const t = head.replace(/^\uFEFF/, '').trimStart();
  if (t.charCodeAt(0) !== 123 && t.charCodeAt(0) !== 91) return false; // { or [
  return (
    t.includes(FLOW_LOG_TYPE) ||
    (t.includes('"vnicocid"') && t.includes('"sourceAddress"')) ||
    (t.includes('"bytesOut"') && t.includes('"destinationAddress"') && t.includes('"sourceAddress"'))
  );
}

/**
 * Parse OCI VCN flow log records (text or bytes, gzip-compressed or not) into rows of `sink`.
 * Never throws on bad input: each bad record is an error naming its line, the others go on.
 */
export function parseOciFlowLog(
  input: string | Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
): OciFlowLogParseResult {
  const res: OciFlowLogParseResult = { records: 0, flows: 0, malformed: 0, nodata: 0, skipdata: 0, errors: [] };
  readJsonRecords(input, source, res, (rec, line) => {
    const err = writeOciRecord(rec, sink, receivedMs, res);
    if (err === null) return;
    if (err === '') res.flows++;
    else failRecord(res, source, line, err);
  });
  return res;
}

/** Epoch seconds or milliseconds (by magnitude), or an RFC 3339 string → ms; -1 absent, NaN bad. */
function epochMs(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'string' && !/^\d+$/.test(v)) return rfc3339Ms(v);
  const n = count(v);
  if (n < 0) return Number.NaN;
  return n >= 1e11 ? n : n * 1000;
}

/** '' when a row was written, null when the record was counted without a row, else an error. */
function writeOciRecord(rec: unknown, sink: BatchSink, receivedMs: number, res: OciFlowLogParseResult): string | null {
  if (!isObj(rec)) return 'not a JSON object';
  const ev: Obj = isObj(rec.logContent) ? rec.logContent : rec;
  if (ev.type !== undefined && ev.type !== FLOW_LOG_TYPE)
    return `type ${JSON.stringify(ev.type)} is not ${FLOW_LOG_TYPE}`;
  const d = ev.data;
  if (!isObj(d)) return 'no data object (not a VCN flow log record)';
  const oracle: Obj = isObj(ev.oracle) ? ev.oracle : {};

  const status = d.status;
  if (status === 'NODATA') {
    res.nodata++;
    return null;
  }
  if (status === 'SKIPDATA') {
    res.skipdata++;
    return null;
  }
  if (status !== undefined && status !== 'OK')
    return `data.status ${JSON.stringify(status)} is not OK, NODATA or SKIPDATA`;

  let action = 0;
  if (d.action === 'ACCEPT') action = ACTION_ACCEPT;
  else if (d.action === 'REJECT') action = ACTION_REJECT;
  else if (d.action !== undefined) return `data.action ${JSON.stringify(d.action)} is not ACCEPT or REJECT`;
  const sport = port(d.sourcePort);
  if (sport === -2) return `data.sourcePort ${JSON.stringify(d.sourcePort)} is not a port 0..65535`;
  const dport = port(d.destinationPort);
  if (dport === -2) return `data.destinationPort ${JSON.stringify(d.destinationPort)} is not a port 0..65535`;
  const proto = count(d.protocol);
  if (proto === -2 || proto > 255)
    return `data.protocol ${JSON.stringify(d.protocol)} is not an IANA protocol number 0..255`;
  const bytes = count(d.bytesOut);
  if (bytes === -2) return `data.bytesOut ${JSON.stringify(d.bytesOut)} is not a count`;
  const packets = count(d.packets);
  if (packets === -2) return `data.packets ${JSON.stringify(d.packets)} is not a count`;
  const t0 = epochMs(d.startTime);
  if (Number.isNaN(t0)) return `data.startTime ${JSON.stringify(d.startTime)} is not an epoch time`;
  const t1 = epochMs(d.endTime);
  if (Number.isNaN(t1)) return `data.endTime ${JSON.stringify(d.endTime)} is not an epoch time`;
  if (d.sourceAddress === undefined) return 'data.sourceAddress is missing';
  if (d.destinationAddress === undefined) return 'data.destinationAddress is missing';

  const b = sink.batch();
  const row = b.addRow();
  const fam = setAddr(b, C.src_addr, row, str(d.sourceAddress));
  if (fam === 0) {
    b.dropLastRow();
    return `data.sourceAddress ${JSON.stringify(d.sourceAddress)} is not an IPv4 or IPv6 address`;
  }
  if (setAddr(b, C.dst_addr, row, str(d.destinationAddress)) === 0) {
    b.dropLastRow();
    return `data.destinationAddress ${JSON.stringify(d.destinationAddress)} is not an IPv4 or IPv6 address`;
  }
  b.setNum(C.ip_version, row, fam);
  if (sport >= 0) b.setNum(C.src_port, row, sport);
  if (dport >= 0) b.setNum(C.dst_port, row, dport);
  if (proto >= 0) b.setNum(C.proto, row, proto);
  if (bytes >= 0) b.setNum(C.bytes, row, bytes);
  if (packets >= 0) b.setNum(C.packets, row, packets);
  if (t0 >= 0) b.setNum(C.time_start, row, t0);
  if (t1 >= 0) b.setNum(C.time_end, row, t1);
  if (action !== 0) b.setNum(C.action, row, action);
  b.setNum(C.time_received, row, receivedMs);
  b.setNum(C.source_type, row, SOURCE_OCI_VCN);
  b.setNum(C.biflow, row, 0);

  const vnic = str(oracle.vnicocid) || str(d.vnicocid);
  b.setString(C.interface_id, row, vnic);
  b.setString(C.subnet_id, row, str(oracle.vnicsubnetocid) || str(d.vnicsubnetocid));
  b.setString(C.vpc_id, row, str(d.vnicVcnOcid) || str(oracle.vcnocid));
  b.setString(C.account_id, row, str(oracle.tenantid) || str(oracle.compartmentid));
  b.setString(C.region, row, ocidRegion(vnic));
  b.setString(C.exporter, row, `oci:${vnic || '-'}`);
  return '';
}

/** Region key of an OCID (ocid1.<type>.<realm>.<region>.<unique>), '' when it has none. */
function ocidRegion(ocid: string): string {
  const p = ocid.split('.');
  return p.length >= 5 && p[0] === 'ocid1' && /^[a-z][a-z0-9-]*$/.test(p[3]) ? p[3] : '';
}
