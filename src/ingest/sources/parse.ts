// One log object (a file, an S3 object, a blob) → rows of a sink, its format told by content: the
// same recognition `flowwatch import` uses, plus AWS VPC Flow Logs in Parquet. A pcap is not a log
// object (its flows need the datagram decoders and their template state); it is refused here.

import type { BatchSink } from '../../pipeline/sink.js';
import type { IdsAlert } from '../../store/ids-alert.js';
import { looksLikeParquet, parseAwsVpcParquet } from '../cloud/aws-parquet.js';
import { parseAwsVpcLog } from '../cloud/aws-vpc.js';
import { parseAzureFlowLog } from '../cloud/azure.js';
import { parseGcpFlowLog } from '../cloud/gcp.js';
import { parseOciFlowLog } from '../cloud/oci.js';
import { detectFormat } from '../detect.js';
import { gunzip, isGzip } from '../gzip.js';
import { parseSuricataEve } from '../suricata/eve.js';
import { parseZeekLogs } from '../zeek/logs.js';
import type { LogFormat } from './input-settings.js';

export { asLogFormat, LOG_FORMATS, type LogFormat } from './input-settings.js';

export interface LogObjectParseResult {
  /** null when the format was not recognised (or is not a log format). */
  format: LogFormat | null;
  /** Records read (lines, JSON records, Azure flow tuples, Parquet rows), good or bad. */
  records: number;
  /** Rows written to the sink. */
  flows: number;
  /** Records rejected as malformed. */
  malformed: number;
  /** `name:line: message`, at most MAX_ERRORS of them. */
  errors: string[];
  /** IDS alerts (Suricata eve.json): stored beside the flows, not as flows. */
  alerts?: IdsAlert[];
  /** Facts worth a line that are not errors (AWS NODATA/SKIPDATA records). */
  notes: string[];
}

const MAX_ERRORS = 20;

/**
 * Parse one log object into `sink`. Never throws on bad input: an unrecognised or broken object
 * is reported in `errors` (and `malformed` when records were rejected; a gzip object that cannot
 * be inflated counts as one malformed record).
 */
export async function parseLogObject(
  name: string,
  bytes: Uint8Array,
  receivedMs: number,
  sink: BatchSink,
  format?: LogFormat,
): Promise<LogObjectParseResult> {
  const res: LogObjectParseResult = { format: null, records: 0, flows: 0, malformed: 0, errors: [], notes: [] };
  // A gzip object that cannot be inflated (corrupt, or a bomb past MAX_GUNZIP_BYTES) is one
  // malformed object: reported and counted, never thrown (an input goes on to its next object and
  // checkpoints this one as read; `flowwatch import` goes on to its next file).
  let data = bytes;
  if (isGzip(bytes)) {
    try {
      const g = gunzip(bytes);
      data = g.data;
      if (g.truncated) res.errors.push(`${name}: ${g.truncated}`);
    } catch (e) {
      res.malformed = 1;
      res.errors.push(`${name}: ${(e as Error).message}`);
      return res;
    }
    if (isGzip(data)) {
      // The parsers would inflate the inner stream without the limit.
      res.malformed = 1;
      res.errors.push(`${name}: gzip inside gzip; not read`);
      return res;
    }
  }
  const fmt: LogFormat | null = format ?? detectLogFormat(data);
  res.format = fmt;
  const take = (errors: { line: number; message: string }[]) => {
    for (const e of errors.slice(0, MAX_ERRORS - res.errors.length))
      res.errors.push(e.message.startsWith(name) ? e.message : `${name}:${e.line}: ${e.message}`);
  };
  switch (fmt) {
    case null:
      res.errors.push(
        `${name}: not a log format flowwatch reads (AWS VPC text or Parquet, Azure, GCP, OCI, Zeek, Suricata eve.json)`,
      );
      return res;
    case 'aws-parquet':
    case 'aws-vpc': {
      const r =
        fmt === 'aws-parquet'
          ? await parseAwsVpcParquet(data, name, receivedMs, sink)
          : parseAwsVpcLog(data, name, receivedMs, sink);
      Object.assign(res, { records: r.records, flows: r.flows, malformed: r.malformed });
      take(r.errors);
      if (r.nodata || r.skipdata)
        res.notes.push(`${name}: ${r.nodata} NODATA and ${r.skipdata} SKIPDATA records (no flows)`);
      return res;
    }
    case 'azure': {
      const r = parseAzureFlowLog(data, name, receivedMs, sink);
      Object.assign(res, { records: r.tuples, flows: r.flows, malformed: r.malformed });
      take(r.errors);
      return res;
    }
    case 'gcp':
    case 'oci': {
      const r = (fmt === 'gcp' ? parseGcpFlowLog : parseOciFlowLog)(data, name, receivedMs, sink);
      Object.assign(res, { records: r.records, flows: r.flows, malformed: r.malformed });
      take(r.errors);
      return res;
    }
    case 'suricata': {
      const r = parseSuricataEve(data, name, receivedMs, sink);
      Object.assign(res, { records: r.events, flows: r.flows + r.netflows, malformed: r.malformed });
      res.alerts = r.alerts;
      take(r.errors);
      return res;
    }
    case 'zeek': {
      // A single file: conn.log rows stand alone (the dns/ssl/http joins need their logs given together).
      const r = parseZeekLogs([{ name, data }], receivedMs, sink);
      res.flows = r.flows;
      res.records = Object.values(r.byPath).reduce((a, b) => a + b, 0);
      res.malformed = r.errors.length;
      for (const e of r.errors.slice(0, MAX_ERRORS)) res.errors.push(`${e.file}:${e.line}: ${e.message}`);
      return res;
    }
  }
}

/** The log format of (decompressed) bytes, or null. */
export function detectLogFormat(data: Uint8Array): LogFormat | null {
  if (looksLikeParquet(data)) return 'aws-parquet';
  const f = detectFormat(data.subarray(0, 1 << 20));
  return f === 'pcap' || f === 'meter' ? null : f;
}
