// AWS VPC Flow Logs delivered to S3 as Apache Parquet → FlowBatch rows, equal to what
// parseAwsVpcLog makes of the same records in text form.
//
// AWS names each Parquet column like the text field with '-' → '_' (account_id, log_status,
// pkt_srcaddr, flow_direction, …) and types them as the Athena DDL in "Create tables for flow logs
// in Apache Parquet format" shows: version/srcport/dstport/tcp_flags/traffic_path int,
// protocol/packets/bytes/start/end bigint, every other field string. A field that does not apply
// is null (the text format's "-"; "-" is read as null here too). The file is compressed inside
// (Parquet GZIP codec), not wrapped in gzip; a gzip wrapper is removed all the same.
//
// Read with DuckDB's read_parquet (the built-in parquet extension, offline) on a temporary file:
// the store already depends on DuckDB and a Parquet reader of our own would be a second decoder
// of a format with many encodings. One in-memory DuckDB instance serves every call.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { FlowBatch } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, DIRECTIONS, SOURCE_TYPES } from '../../schema/columns.js';
import { api } from '../../store/duckdb/duckdb-api.js';
import { maybeGunzip } from '../gzip.js';
import { addrCol, setF64, setU8, setU16 } from '../text-fields.js';
import { AWS_VPC_FIELDS, type AwsVpcParseResult } from './aws-vpc.js';

const DIR_INGRESS = DIRECTIONS.indexOf('ingress');
const DIR_EGRESS = DIRECTIONS.indexOf('egress');
const SOURCE_AWS_VPC = 1 + SOURCE_TYPES.indexOf('aws_vpc');
const ACTION_ACCEPT = ACTIONS.indexOf('accept');
const ACTION_REJECT = ACTIONS.indexOf('reject');
const MAX_ERRORS = 1000;

/** Parquet files start and end with the magic "PAR1". */
export function looksLikeParquet(buf: Uint8Array): boolean {
  return buf.length >= 8 && buf[0] === 0x50 && buf[1] === 0x41 && buf[2] === 0x52 && buf[3] === 0x31;
}

let connection: Promise<DuckDBConnection> | undefined;

function duck(): Promise<DuckDBConnection> {
  connection ??= api.DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '256MB' }).then((i) =>
    i.connect(),
  );
  return connection;
}

/** Column names AWS uses in Parquet: the text field name with '-' replaced by '_'. */
const PARQUET_NAMES = new Set(Object.keys(AWS_VPC_FIELDS).map((f) => f.replaceAll('-', '_')));

/**
 * Parse an AWS VPC Flow Logs Parquet object into rows of `sink`. Never throws on bad input: a file
 * DuckDB cannot read is one error (line 0); a bad record is an error with its row number (1-based).
 */
export async function parseAwsVpcParquet(
  bytes: Uint8Array,
  source: string,
  receivedMs: number,
  sink: BatchSink,
): Promise<AwsVpcParseResult> {
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
  const dir = await mkdtemp(join(tmpdir(), 'flowwatch-parquet-'));
  try {
    const file = join(dir, 'object.parquet');
    let data: Uint8Array;
    try {
      data = maybeGunzip(bytes); // parseLogObject hands inflated bytes; a direct caller may not
    } catch (e) {
      fail(0, (e as Error).message);
      return res;
    }
    await writeFile(file, data);
    let names: string[];
    let rows: unknown[][];
    try {
      const c = await duck();
      const r = await c.runAndReadAll('SELECT * FROM read_parquet($1)', [file]);
      names = r.columnNames();
      rows = r.getRows();
    } catch (e) {
      fail(0, `not a readable Parquet file: ${(e as Error).message.split('\n')[0]}`);
      return res;
    }
    for (const n of names) if (!PARQUET_NAMES.has(n)) res.unknownFields.push(n);
    const at = (name: string) => names.indexOf(name);
    const col = columnIndex(names, {
      version: at('version'),
      account: at('account_id'),
      iface: at('interface_id'),
      src: at('srcaddr'),
      dst: at('dstaddr'),
      sport: at('srcport'),
      dport: at('dstport'),
      proto: at('protocol'),
      packets: at('packets'),
      bytes: at('bytes'),
      start: at('start'),
      end: at('end'),
      action: at('action'),
      status: at('log_status'),
      vpc: at('vpc_id'),
      subnet: at('subnet_id'),
      instance: at('instance_id'),
      flags: at('tcp_flags'),
      type: at('type'),
      pktSrc: at('pkt_srcaddr'),
      pktDst: at('pkt_dstaddr'),
      region: at('region'),
      az: at('az_id'),
      subloc: at('sublocation_type'),
      direction: at('flow_direction'),
      path: at('traffic_path'),
    });
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      res.records++;
      const status = text(row, col.status);
      if (status === 'NODATA') {
        res.nodata++;
        continue;
      }
      if (status === 'SKIPDATA') {
        res.skipdata++;
        continue;
      }
      if (status !== null && status !== 'OK') {
        fail(i + 1, `log_status: ${JSON.stringify(status)} is not OK, NODATA or SKIPDATA`);
        continue;
      }
      const err = writeRow(row, col, sink.batch(), receivedMs);
      if (err !== null) fail(i + 1, err);
      else res.flows++;
    }
    return res;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Where each field is in a file's rows, and the tables writeRow walks, made once per file. */
interface ColumnIndex extends Columns {
  /** The file's column names by position (what an error names). */
  names: readonly string[];
  /** [position, column, counts for ip_version] of the address fields. */
  addrs: readonly (readonly [number, number, boolean])[];
  ports: readonly (readonly [number, number])[];
  /** [position, column, multiplier: 1 for counts, 1000 for Unix seconds]. */
  counters: readonly (readonly [number, number, number])[];
}

function columnIndex(names: readonly string[], k: Columns): ColumnIndex {
  return {
    ...k,
    names,
    addrs: [
      [k.src, C.src_addr, true],
      [k.dst, C.dst_addr, true],
      [k.pktSrc, C.pkt_src_addr, false],
      [k.pktDst, C.pkt_dst_addr, false],
    ],
    ports: [
      [k.sport, C.src_port],
      [k.dport, C.dst_port],
    ],
    counters: [
      [k.packets, C.packets, 1],
      [k.bytes, C.bytes, 1],
      [k.start, C.time_start, 1000],
      [k.end, C.time_end, 1000],
    ],
  };
}

interface Columns {
  version: number;
  account: number;
  iface: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  start: number;
  end: number;
  action: number;
  status: number;
  vpc: number;
  subnet: number;
  instance: number;
  flags: number;
  type: number;
  pktSrc: number;
  pktDst: number;
  region: number;
  az: number;
  subloc: number;
  direction: number;
  path: number;
}

/** The column's value as text; null for an absent column, null or "-". */
function text(row: unknown[], i: number): string | null {
  if (i < 0) return null;
  const v = row[i];
  if (v === null || v === undefined) return null;
  const s = typeof v === 'string' ? v : String(v);
  return s === '-' ? null : s;
}

/** The column's value as a non-negative integer; null when absent, -1 when not an integer. */
function int(row: unknown[], i: number): number | null {
  if (i < 0) return null;
  const v = row[i];
  if (v === null || v === undefined || v === '-') return null;
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : /^\d+$/.test(String(v)) ? Number(v) : -1;
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

function str(b: FlowBatch, c: number, r: number, v: string | null): void {
  if (v !== null) b.setString(c, r, v);
}

/** Write one record with the checks and meaning of the text parser; null or the error. */
function writeRow(row: unknown[], k: ColumnIndex, b: FlowBatch, receivedMs: number): string | null {
  const r = b.addRow();
  const bad = (name: string, i: number, want: string) => refuse(b, row, name, i, want);
  const version = int(row, k.version);
  if (version !== null && version < 2) return bad('version', k.version, 'a version number ≥ 2');
  const account = text(row, k.account);
  const iface = text(row, k.iface);
  str(b, C.account_id, r, account);
  str(b, C.interface_id, r, iface);
  str(b, C.vpc_id, r, text(row, k.vpc));
  str(b, C.subnet_id, r, text(row, k.subnet));
  str(b, C.instance_id, r, text(row, k.instance));
  str(b, C.region, r, text(row, k.region));
  str(b, C.zone, r, text(row, k.az));
  let family = 0;
  for (const [i, c, counts] of k.addrs) {
    const a = text(row, i);
    if (a === null) continue;
    const f = addrCol(a, 0, a.length, b, c, r);
    if (f < 0) return bad(k.names[i], i, 'an IPv4 or IPv6 address');
    if (family === 0 && counts) family = f;
  }
  for (const [i, c] of k.ports) {
    const v = int(row, i);
    if (v === null) continue;
    if (v < 0 || v > 65535) return bad(k.names[i], i, 'a port 0..65535');
    setU16(b, c, r, v);
  }
  const proto = int(row, k.proto);
  if (proto !== null) {
    if (proto < 0 || proto > 255) return bad('protocol', k.proto, 'an IANA protocol number 0..255');
    setU8(b, C.proto, r, proto);
  }
  for (const [i, c, ms] of k.counters) {
    const v = int(row, i);
    if (v === null) continue;
    if (v < 0 || (ms === 1000 && v > 1e13)) return bad(k.names[i], i, ms === 1000 ? 'Unix seconds' : 'a count');
    setF64(b, c, r, v * ms);
  }
  const flags = int(row, k.flags);
  if (flags !== null) {
    if (flags < 0 || flags > 0xffff) return bad('tcp_flags', k.flags, 'a TCP flags number');
    setU16(b, C.tcp_flags, r, flags);
  }
  const action = text(row, k.action);
  if (action === 'ACCEPT') setU8(b, C.action, r, ACTION_ACCEPT);
  else if (action === 'REJECT') setU8(b, C.action, r, ACTION_REJECT);
  else if (action !== null) return bad('action', k.action, 'ACCEPT or REJECT');
  const type = text(row, k.type);
  if (type !== null && type !== 'IPv4' && type !== 'IPv6' && type !== 'EFA')
    return bad('type', k.type, 'IPv4, IPv6 or EFA');
  const subloc = text(row, k.subloc);
  if (subloc !== null && subloc !== 'wavelength' && subloc !== 'outpost' && subloc !== 'localzone')
    return bad('sublocation_type', k.subloc, 'wavelength, outpost or localzone');
  const direction = text(row, k.direction);
  if (direction === 'ingress') setU8(b, C.direction, r, DIR_INGRESS);
  else if (direction === 'egress') setU8(b, C.direction, r, DIR_EGRESS);
  else if (direction !== null) return bad('flow_direction', k.direction, 'ingress or egress');
  const path = int(row, k.path);
  if (path !== null) {
    if (path < 1) return bad('traffic_path', k.path, 'a traffic-path code (1..8)');
    // The text parser keeps the code as written; an int column has no leading zeros to keep.
    b.setString(C.traffic_path, r, String(path));
  }
  setU8(b, C.source_type, r, SOURCE_AWS_VPC);
  setF64(b, C.time_received, r, receivedMs);
  setU8(b, C.biflow, r, 0);
  if (family !== 0) setU8(b, C.ip_version, r, family);
  b.setString(C.exporter, r, `aws:${k.account < 0 ? '-' : (account ?? '-')}:${k.iface < 0 ? '-' : (iface ?? '-')}`);
  return null;
}

/** Drop the row being written; the error naming the field and the value. */
function refuse(b: FlowBatch, row: unknown[], name: string, i: number, want: string): string {
  b.dropLastRow();
  return `${name}: ${JSON.stringify(String(row[i]))} is not ${want}`;
}
