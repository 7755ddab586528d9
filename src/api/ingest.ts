// HTTP ingest of `flowwatch serve`: flows pushed by flowwatch agents and by log shippers.
//
//   POST /api/v1/ingest/flows   columnar JSON batches from `flowwatch agent` (format: src/agent/wire.ts)
//   POST /api/v1/ingest/ndjson  one JSON object per line (Fluentd out_http, Fluent Bit http output
//                               with `format json_lines`, Vector http sink with `encoding.codec ndjson`
//                               + `framing.method newline_delimited`)
//
// Both need `Authorization: Bearer <token>` with a token from `ingest.tokens` (compared in constant
// time; 401 otherwise) and accept `Content-Encoding: gzip`. A body over `ingest.max_body` (after
// decompression) is answered 413 and nothing of it is stored; when that is known before the end
// of the body (Content-Length, or the bytes received so far) the rest is not read and the
// connection is closed (src/api/body.ts).
//
// Acknowledgement: 200 is sent only after the request's flows are committed by the store (the
// pipeline is flushed and the store's COMMIT has returned), so a client that got 200 can forget
// the data (DESIGN §2.9). If the commit fails the answer is 503 and the client should retry.
//
// Bad records: lines (NDJSON) or rows (agent batches) that cannot be read are rejected, the others
// are stored, and the answer says which: 200 {"stored": 2, "rejected": [{"line": 3, "error": "…"}]}
// (NDJSON lines count from 1; agent rows from 0 as `row`). Rejected lines are counted as
// `malformed` for the exporter. A request where nothing at all is readable (not JSON, wrong shape)
// is answered 400 and nothing is stored.
//
// Agent batches hold at most MAX_BATCH_ROWS (65 536) rows, must have src_addr and dst_addr columns
// (a row where either is null is rejected), and may only carry columns whose schema declaration
// lists 'agent' among its `sources` (src/schema/columns.ts); any other column is answered 400
// naming it. NDJSON likewise only fills columns whose `sources` list 'http': a line with another
// schema column (e.g. "tenant", "ti_feeds", "src_country": enrichment fills those) is rejected.
//
// Agent batches carry a batch id (agent, epoch, seq; see src/agent/wire.ts). The id is stored in
// the same transaction as the batch's rows (src/api/batch-ids.ts), so a batch id already seen is
// answered 200 {"duplicate": true, "stored": 0} without storing anything, also after a server
// restart or a crash at any point.
//
// NDJSON field mapping. Nested objects are flattened to dotted names first ({"source":{"ip":…}}
// is "source.ip"); then every field is looked up in this table, and any schema column name is
// accepted as is (e.g. "tcp_flags", "instance_id", "src_mac"), if HTTP ingest may fill it (see
// above). Fields that are neither are ignored.
//
//   src_addr    src_addr, src_ip, srcaddr, source_ip, source.ip, source.address, saddr
//   dst_addr    dst_addr, dst_ip, dest_ip, dstaddr, destination_ip, destination.ip, destination.address, daddr
//   src_port    src_port, srcport, source_port, source.port, sport
//   dst_port    dst_port, dest_port, dstport, destination_port, destination.port, dport
//   proto       proto, protocol, network.transport, network.iana_number, ip_protocol
//               (a number or a name: tcp, udp, icmp, icmp6, gre, esp, sctp, …; case-insensitive)
//   bytes       bytes, network.bytes, octets, in_bytes, flow.bytes_toserver
//   packets     packets, network.packets, pkts, in_pkts, flow.pkts_toserver
//   rev_bytes   rev_bytes, flow.bytes_toclient          (Suricata eve.json flow events)
//   rev_packets rev_packets, flow.pkts_toclient
//   time_start  time_start, start, start_time, event.start, first_switched, flow.start
//   time_end    time_end, end, end_time, event.end, last_switched, flow.end
//   (fallback)  @timestamp, timestamp, date, time: used for time_start and time_end when those
//               are absent (Fluent Bit json_lines writes `date` as float epoch seconds; Vector
//               writes `timestamp` as ISO 8601; Fluentd writes the time only when `inject` adds it).
//               Without any time field the receive time is used.
//   exporter    exporter, host, host.name, hostname; otherwise "http:<token name>"
//   source_type source_type when it names a flowwatch source type (Vector's own source_type such
//               as "file" is ignored); otherwise "http"
//
// Times are ISO 8601 text, or numbers (or digit strings) read by magnitude: below 1e11 epoch
// seconds (fractions kept), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
// MACs are text ("aa:bb:cc:dd:ee:ff", "aa-bb-…", "aabb.ccdd.eeff") or their 48-bit number. Every
// value as the NDJSON forwarder (src/forward/ndjson-http.ts) writes it is read back, but a row of
// its that carries enrichment columns (country, tags, tenant, …) is rejected as said above.
// A record needs src_addr and dst_addr; one without them is rejected with its line number.

import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { ExporterCounters } from '../pipeline/counters.js';
import { type FlowBatch, parseAddr, parseIPv4, parseMac } from '../pipeline/flow-batch.js';
import type { BatchSink } from '../pipeline/sink.js';
import { C, type ColumnDef, columnIndex, findColumn, PROTOCOL_NAMES } from '../schema/columns.js';
import { BatchIds } from './batch-ids.js';
import { BodyRefused, readBody, refuse } from './body.js';

export interface IngestToken {
  name: string;
  token: string;
}

export interface HttpIngestOptions {
  tokens: readonly IngestToken[];
  /** Largest request body accepted, after decompression (bytes). */
  maxBody: number;
  /** Where decoded rows go (the serve pipeline). */
  sink: BatchSink;
  /** Resolves once every row written into `sink` before the call is committed; rejects if not. */
  commit: () => Promise<void>;
  /** The agent batch ids stored (with the store and the pipeline's row positions in serve). */
  batchIds?: BatchIds;
  counters?: ExporterCounters;
  now?: () => number;
}

export const INGEST_FLOWS_PATH = '/api/v1/ingest/flows';
export const INGEST_NDJSON_PATH = '/api/v1/ingest/ndjson';
/** Rows of one agent batch at most (the agent sends 4096). */
export const MAX_BATCH_ROWS = 65_536;
/** Rejected records listed in an answer (the count is always complete). */
const MAX_REJECTED_LISTED = 100;

export interface IngestResult {
  stored: number;
  rejected: { line?: number; row?: number; column?: string; error: string }[];
  rejected_total: number;
  duplicate?: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class HttpIngest {
  private readonly tokenHashes: { name: string; hash: Buffer }[];
  private readonly ids: BatchIds;
  /** Agent batches being stored right now, by id: a retry that overtakes its original waits for it. */
  private readonly inFlight = new Map<string, Promise<IngestResult>>();
  requests = 0;
  rejectedAuth = 0;
  duplicates = 0;

  constructor(private readonly opts: HttpIngestOptions) {
    // Comparing fixed-length digests keeps the comparison constant-time whatever the token length.
    this.tokenHashes = opts.tokens.map((t) => ({ name: t.name, hash: sha256(t.token) }));
    this.ids = opts.batchIds ?? new BatchIds();
  }

  handles(pathname: string): boolean {
    return pathname === INGEST_FLOWS_PATH || pathname === INGEST_NDJSON_PATH;
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    this.requests++;
    try {
      // refused before the body is read: not read at all (refuse closes the connection)
      if (req.method !== 'POST') throw refuse(req, res, 405, `${pathname} takes POST`);
      const who = this.authenticate(req.headers.authorization);
      if (who === undefined) {
        this.rejectedAuth++;
        res.setHeader('www-authenticate', 'Bearer');
        throw refuse(req, res, 401, 'missing or unknown bearer token (ingest.tokens)');
      }
      const body = await readBody(req, res, this.opts.maxBody, { gzip: true, limitName: 'ingest.max_body' });
      const result =
        pathname === INGEST_FLOWS_PATH ? await this.agentBatch(body) : await this.ndjson(body, `http:${who}`);
      reply(res, 200, result);
    } catch (e) {
      if (e instanceof BodyRefused) return; // answered by readBody
      if (e instanceof HttpError) return reply(res, e.status, { error: e.message });
      reply(res, 503, { error: `not stored, retry: ${(e as Error).message}` });
    }
  }

  private authenticate(header: string | undefined): string | undefined {
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return undefined;
    const h = sha256(m[1]);
    let found: string | undefined;
    // Every configured token is compared, so the time taken does not say which one matched.
    for (const t of this.tokenHashes) if (timingSafeEqual(h, t.hash) && found === undefined) found = t.name;
    return found;
  }

  private async agentBatch(body: string): Promise<IngestResult> {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch (e) {
      throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
    }
    const b = doc as { v?: unknown; agent?: unknown; epoch?: unknown; seq?: unknown; n?: unknown; columns?: unknown };
    if (typeof doc !== 'object' || doc === null) throw new HttpError(400, 'body: expected an object');
    if (b.v !== 1) throw new HttpError(400, `v: expected 1 (got ${JSON.stringify(b.v)})`);
    if (typeof b.agent !== 'string' || !b.agent) throw new HttpError(400, 'agent: expected a non-empty string');
    if (typeof b.epoch !== 'string') throw new HttpError(400, 'epoch: expected a string');
    if (typeof b.seq !== 'number' || !Number.isSafeInteger(b.seq) || b.seq < 0)
      throw new HttpError(400, 'seq: expected a whole number');
    if (typeof b.n !== 'number' || !Number.isSafeInteger(b.n) || b.n < 0)
      throw new HttpError(400, 'n: expected a whole number');
    if (typeof b.columns !== 'object' || b.columns === null || Array.isArray(b.columns))
      throw new HttpError(400, 'columns: expected an object of column name → array');
    const columns = b.columns as Record<string, unknown>;
    const n = b.n;
    if (n > MAX_BATCH_ROWS) throw new HttpError(400, `n: at most ${MAX_BATCH_ROWS} rows per request (got ${n})`);
    const cols: { idx: number; values: unknown[] }[] = [];
    for (const [name, values] of Object.entries(columns)) {
      const idx = colIndex(name);
      if (idx < 0) throw new HttpError(400, `columns.${name}: not a schema column`);
      const refused = notFrom(name, 'agent');
      if (refused !== undefined) throw new HttpError(400, `columns.${name}: ${refused}`);
      if (!Array.isArray(values) || values.length !== n)
        throw new HttpError(400, `columns.${name}: expected an array of ${n} values`);
      cols.push({ idx, values });
    }
    if (n > 0 && cols.length === 0) throw new HttpError(400, `columns: none given for ${n} rows`);
    for (const name of ['src_addr', 'dst_addr'])
      if (n > 0 && !Object.hasOwn(columns, name)) throw new HttpError(400, `columns.${name}: required`);
    const key = `${b.agent}/${b.epoch}`;
    const id = `${key}:${b.seq}`;
    await this.ids.load();
    if (this.ids.has(key, b.seq)) {
      this.duplicates++;
      return { stored: 0, rejected: [], rejected_total: 0, duplicate: true };
    }
    const running = this.inFlight.get(id);
    if (running) {
      await running.catch(() => {});
      if (this.ids.has(key, b.seq)) {
        this.duplicates++;
        return { stored: 0, rejected: [], rejected_total: 0, duplicate: true };
      }
    }
    const seq = b.seq;
    const agent = b.agent;
    const srcAddrs = (columns.src_addr ?? []) as unknown[];
    const dstAddrs = (columns.dst_addr ?? []) as unknown[];
    const work = (async (): Promise<IngestResult> => {
      const result: IngestResult = { stored: 0, rejected: [], rejected_total: 0 };
      const received = this.now();
      const sink = this.opts.sink;
      // the rows are written without a pause, so no other writer's rows come between them
      const start = this.ids.position();
      for (let r = 0; r < n; r++) {
        const batch = sink.batch();
        const row = batch.addRow();
        let error: string | undefined;
        let column = '';
        if (srcAddrs[r] == null || dstAddrs[r] == null) {
          error = 'no address (every row needs src_addr and dst_addr)';
          column = srcAddrs[r] == null ? 'src_addr' : 'dst_addr';
        }
        for (let k = 0; error === undefined && k < cols.length; k++) {
          const v = cols[k].values[r];
          if (v === null || v === undefined) continue;
          error = writeCell(batch, cols[k].idx, row, v);
          if (error !== undefined) {
            column = batch.columns[cols[k].idx].name;
            break;
          }
        }
        if (error !== undefined) {
          batch.dropLastRow();
          this.reject(result, { row: r, column, error }, agent);
          continue;
        }
        if (batch.valid[C.time_received][row] === 0) batch.setNum(C.time_received, row, received);
        if (batch.valid[C.source_type][row] === 0) batch.setEnum(C.source_type, row, 'agent');
        if (batch.valid[C.exporter][row] === 0) batch.setString(C.exporter, row, agent);
        result.stored++;
      }
      this.ids.queue(key, seq, start, this.ids.position());
      try {
        await this.opts.commit();
      } catch (e) {
        this.ids.settle(key, seq, false);
        throw e;
      }
      this.ids.settle(key, seq, true);
      this.opts.counters?.add(agent, 'flows', result.stored);
      return result;
    })();
    this.inFlight.set(id, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async ndjson(body: string, defaultExporter: string): Promise<IngestResult> {
    const result: IngestResult = { stored: 0, rejected: [], rejected_total: 0 };
    const received = this.now();
    const sink = this.opts.sink;
    let lineNo = 0;
    let readable = 0;
    for (let start = 0; start < body.length; ) {
      let end = body.indexOf('\n', start);
      if (end < 0) end = body.length;
      const line = body.slice(start, end).trim();
      start = end + 1;
      lineNo++;
      if (line === '') continue;
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch (e) {
        this.reject(result, { line: lineNo, error: `not JSON: ${(e as Error).message}` }, defaultExporter);
        continue;
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
        this.reject(result, { line: lineNo, error: 'expected a JSON object' }, defaultExporter);
        continue;
      }
      readable++;
      const batch = sink.batch();
      const row = batch.addRow();
      const error = writeRecord(batch, row, doc as Record<string, unknown>, received, defaultExporter);
      if (error !== undefined) {
        batch.dropLastRow();
        this.reject(result, { line: lineNo, error }, defaultExporter);
        continue;
      }
      result.stored++;
    }
    if (readable === 0 && result.rejected_total > 0)
      throw new HttpError(400, `no readable record: line ${result.rejected[0].line}: ${result.rejected[0].error}`);
    if (result.stored > 0) await this.opts.commit();
    this.opts.counters?.add(defaultExporter, 'flows', result.stored);
    return result;
  }

  private reject(result: IngestResult, r: IngestResult['rejected'][number], exporter: string): void {
    result.rejected_total++;
    if (result.rejected.length < MAX_REJECTED_LISTED) result.rejected.push(r);
    this.opts.counters?.add(exporter, 'malformed', 1);
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// ---- values → cells

/** Write one JSON value into a cell; returns an error text instead of throwing. */
export function writeCell(batch: FlowBatch, col: number, row: number, v: unknown): string | undefined {
  const def = batch.columns[col];
  switch (def.type) {
    case 'addr': {
      if (typeof v !== 'string') return `expected an IP address, got ${JSON.stringify(v)}`;
      const v4 = parseIPv4(v);
      if (v4 !== null) {
        batch.setIPv4(col, row, v4);
        return undefined;
      }
      const w = parseAddr(v);
      if (w === null) return `not an IP address: ${JSON.stringify(v)}`;
      const a = batch.data[col] as Uint32Array;
      a.set(w, row * 4);
      batch.valid[col][row] = 1;
      return undefined;
    }
    case 'time': {
      const ms = parseTimeValue(v);
      if (ms === null) return `not a time: ${JSON.stringify(v)}`;
      batch.setNum(col, row, ms);
      return undefined;
    }
    case 'string':
      if (typeof v === 'string') batch.setString(col, row, v);
      else if (typeof v === 'number') batch.setString(col, row, String(v));
      else return `expected text, got ${JSON.stringify(v)}`;
      return undefined;
    case 'list':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        return `expected a list of strings, got ${JSON.stringify(v)}`;
      batch.setList(col, row, v as string[]);
      return undefined;
    case 'enum': {
      const values = def.enumValues ?? [];
      const i = typeof v === 'string' ? values.indexOf(v.toLowerCase()) : -1;
      if (i < 0) return `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`;
      batch.setNum(col, row, i);
      return undefined;
    }
    case 'mac': {
      // Text as `flowwatch query`/the NDJSON forwarder write it ("aa:bb:cc:dd:ee:ff"), or the
      // 48-bit number (agent batches; digits only: a decimal number, as before).
      if (typeof v !== 'string' || /^\d+$/.test(v)) break;
      const m = parseMac(v);
      if (m === null) return `not a MAC address: ${JSON.stringify(v)}`;
      batch.setNum(col, row, m);
      return undefined;
    }
    case 'bool':
      if (v === true || v === 1 || v === 'true') batch.setNum(col, row, 1);
      else if (v === false || v === 0 || v === 'false') batch.setNum(col, row, 0);
      else return `expected true or false, got ${JSON.stringify(v)}`;
      return undefined;
  }
  // Numbers: the integer types, and a MAC given as its 48-bit value.
  if (col === C.proto && typeof v === 'string' && !/^\d+$/.test(v)) {
    const p = PROTOCOL_NAMES[v.toLowerCase().replace(/[-_ ]/g, '')];
    if (p === undefined) return `unknown protocol name ${JSON.stringify(v)}`;
    batch.setNum(col, row, p);
    return undefined;
  }
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > maxOf(def))
    return `expected a whole number 0..${maxOf(def)}, got ${JSON.stringify(v)}`;
  batch.setNum(col, row, n);
  return undefined;
}

function colIndex(name: string): number {
  return findColumn(name) === undefined ? -1 : columnIndex(name);
}

/** Why `producer` may not fill column `name` (its declaration's `sources`), or undefined if it may. */
function notFrom(name: string, producer: 'agent' | 'http'): string | undefined {
  const def = findColumn(name);
  if (def === undefined || def.sources.includes(producer)) return undefined;
  return def.sources.length === 0
    ? `column ${name} is filled by the server's enrichment, not accepted from ${producer === 'agent' ? 'agents' : 'HTTP ingest'}`
    : `column ${name} is not accepted from ${producer === 'agent' ? 'agents' : 'HTTP ingest'} (filled by ${def.sources.join(', ')})`;
}

function maxOf(def: ColumnDef): number {
  switch (def.type) {
    case 'u8':
      return 0xff;
    case 'u16':
      return 0xffff;
    case 'u32':
      return 0xffffffff;
    case 'mac':
      return 0xffffffffffff;
    default:
      return Number.MAX_SAFE_INTEGER;
  }
}

/** ISO 8601 text, or epoch s/ms/µs/ns by magnitude (numbers or digit strings). */
export function parseTimeValue(v: unknown): number | null {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) n = Number(v);
  else if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  } else return null;
  if (!Number.isFinite(n) || n < 0) return null;
  if (n < 1e11) return Math.round(n * 1000);
  if (n < 1e14) return Math.round(n);
  if (n < 1e17) return Math.round(n / 1e3);
  return Math.round(n / 1e6);
}

// Field names of common shippers and schemas (ECS, AWS/NetFlow habits) → schema column.
const FIELD_ALIASES: Record<string, string> = {
  src_ip: 'src_addr',
  srcaddr: 'src_addr',
  source_ip: 'src_addr',
  'source.ip': 'src_addr',
  'source.address': 'src_addr',
  saddr: 'src_addr',
  dest_ip: 'dst_addr',
  dst_ip: 'dst_addr',
  dstaddr: 'dst_addr',
  destination_ip: 'dst_addr',
  'destination.ip': 'dst_addr',
  'destination.address': 'dst_addr',
  daddr: 'dst_addr',
  srcport: 'src_port',
  source_port: 'src_port',
  'source.port': 'src_port',
  sport: 'src_port',
  dest_port: 'dst_port',
  dstport: 'dst_port',
  destination_port: 'dst_port',
  'destination.port': 'dst_port',
  dport: 'dst_port',
  protocol: 'proto',
  'network.transport': 'proto',
  'network.iana_number': 'proto',
  ip_protocol: 'proto',
  'network.bytes': 'bytes',
  octets: 'bytes',
  in_bytes: 'bytes',
  'network.packets': 'packets',
  pkts: 'packets',
  in_pkts: 'packets',
  start: 'time_start',
  start_time: 'time_start',
  'event.start': 'time_start',
  first_switched: 'time_start',
  end: 'time_end',
  end_time: 'time_end',
  'event.end': 'time_end',
  last_switched: 'time_end',
  'flow.start': 'time_start',
  'flow.end': 'time_end',
  'flow.bytes_toserver': 'bytes',
  'flow.pkts_toserver': 'packets',
  'flow.bytes_toclient': 'rev_bytes',
  'flow.pkts_toclient': 'rev_packets',
  host: 'exporter',
  'host.name': 'exporter',
  hostname: 'exporter',
};
const TIME_FALLBACKS = new Set(['@timestamp', 'timestamp', 'date', 'time']);

function writeRecord(
  batch: FlowBatch,
  row: number,
  doc: Record<string, unknown>,
  received: number,
  defaultExporter: string,
): string | undefined {
  let fallbackTime: number | undefined;
  const visit = (obj: Record<string, unknown>, prefix: string): string | undefined => {
    for (const [k, v] of Object.entries(obj)) {
      const name = prefix + k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const err = visit(v as Record<string, unknown>, `${name}.`);
        if (err !== undefined) return err;
        continue;
      }
      if (v === null || v === undefined) continue;
      if (TIME_FALLBACKS.has(name)) {
        const t = parseTimeValue(v);
        if (t === null) return `${name}: not a time: ${JSON.stringify(v)}`;
        fallbackTime ??= t;
        continue;
      }
      const colName = FIELD_ALIASES[name] ?? name;
      const col = colIndex(colName);
      if (col < 0) continue;
      // Vector stamps every event with its own `source_type` (file, socket, …): not ours to keep.
      if (col === C.source_type && !batch.columns[col].enumValues?.includes(String(v).toLowerCase())) continue;
      const refused = notFrom(colName, 'http');
      if (refused !== undefined) return `${name}: ${refused}`;
      const err = writeCell(batch, col, row, v);
      if (err !== undefined) return `${name}: ${err}`;
    }
    return undefined;
  };
  const err = visit(doc, '');
  if (err !== undefined) return err;
  if (batch.valid[C.src_addr][row] === 0 || batch.valid[C.dst_addr][row] === 0)
    return 'no source and destination address (src_addr/src_ip/source.ip, dst_addr/dst_ip/destination.ip)';
  const t = fallbackTime ?? received;
  if (batch.valid[C.time_start][row] === 0)
    batch.setNum(C.time_start, row, batch.valid[C.time_end][row] ? batch.getNum(C.time_end, row) : t);
  if (batch.valid[C.time_end][row] === 0) batch.setNum(C.time_end, row, batch.getNum(C.time_start, row));
  if (batch.valid[C.time_received][row] === 0) batch.setNum(C.time_received, row, received);
  if (batch.valid[C.source_type][row] === 0) batch.setEnum(C.source_type, row, 'http');
  if (batch.valid[C.exporter][row] === 0) batch.setString(C.exporter, row, defaultExporter);
  if (batch.valid[C.ip_version][row] === 0) {
    const a = batch.data[C.src_addr] as Uint32Array;
    const o = row * 4;
    batch.setNum(C.ip_version, row, a[o] === 0 && a[o + 1] === 0 && a[o + 2] === 0xffff ? 4 : 6);
  }
  return undefined;
}

// ---- batch ids seen
