// IDS alerts (Suricata eve `alert` events) in their own table beside the flows, so an analyst can
// go from an alert to the flows that carried it. Addresses use the flows encoding (UHUGEINT holding
// the IPv6 value, IPv4 as ::ffff:a.b.c.d, src/schema/duckdb.ts) so the two tables compare directly.
// The table's columns are declared once here, with how each is read from an IdsAlert (the pattern
// of interface-counters.ts).

import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { parseAddr } from '../../pipeline/flow-batch.js';
import type { AlertWithFlow, IdsAlert } from '../ids-alert.js';
import { addrText } from './values.js';

export const IDS_ALERTS = 'ids_alerts';

type Param = string | number | null;
type Getter = (a: IdsAlert) => Param;

/** Decimal text of the UHUGEINT of an address (bound as text: values above 2^127 overflow HUGEINT). */
function addrParam(text: string): string | null {
  const w = parseAddr(text);
  if (w === null) return null;
  return ((BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3])).toString();
}

const COLUMNS: [name: string, type: string, get: Getter][] = [
  ['time', 'BIGINT', (a) => a.time],
  // flow_id is a uint64 (often above 2^53): bound as its decimal text
  ['flow_id', 'UBIGINT', (a) => (a.flowId === '' ? null : a.flowId)],
  ['community_id', 'VARCHAR', (a) => (a.communityId === '' ? null : a.communityId)],
  ['src_addr', 'UHUGEINT', (a) => addrParam(a.srcAddr)],
  ['dst_addr', 'UHUGEINT', (a) => addrParam(a.dstAddr)],
  ['src_port', 'USMALLINT', (a) => a.srcPort],
  ['dst_port', 'USMALLINT', (a) => a.dstPort],
  ['proto', 'UTINYINT', (a) => a.proto],
  ['signature_id', 'UINTEGER', (a) => a.signatureId],
  ['signature', 'VARCHAR', (a) => a.signature],
  ['category', 'VARCHAR', (a) => a.category],
  ['severity', 'UTINYINT', (a) => a.severity],
  ['action', 'VARCHAR', (a) => a.action],
  ['sensor', 'VARCHAR', (a) => a.sensor],
  ['app_proto', 'VARCHAR', (a) => (a.appProto === '' ? null : a.appProto)],
  ['source', 'VARCHAR', (a) => a.source],
];

export function idsAlertsDDL(): string {
  return `CREATE TABLE IF NOT EXISTS ${IDS_ALERTS} (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`;
}

/** Insert alerts (the table must exist: run idsAlertsDDL() first). Returns the rows written. */
export async function appendIdsAlerts(conn: DuckDBConnection, alerts: readonly IdsAlert[]): Promise<number> {
  const per = Math.floor(2048 / COLUMNS.length);
  for (let i = 0; i < alerts.length; i += per) {
    const part = alerts.slice(i, i + per);
    const params: Param[] = [];
    const tuples = part.map((a) => {
      const ph = COLUMNS.map(([, type, get]) => {
        const v = get(a);
        params.push(v === null ? null : type === 'UHUGEINT' || type === 'UBIGINT' ? String(v) : v);
        return `CAST($${params.length} AS ${type})`;
      });
      return `(${ph.join(', ')})`;
    });
    await conn.run(`INSERT INTO ${IDS_ALERTS} VALUES ${tuples.join(', ')}`, params as DuckDBValue[]);
  }
  return alerts.length;
}

export interface IdsAlertQuery {
  fromMs: number;
  toMs: number;
  limit?: number;
}

/** Alerts with time in [fromMs, toMs), newest first, back as IdsAlert records. */
export async function queryIdsAlerts(conn: DuckDBConnection, q: IdsAlertQuery): Promise<IdsAlert[]> {
  const r = await conn.runAndReadAll(
    `SELECT ${COLUMNS.map(([n]) => n).join(', ')} FROM ${IDS_ALERTS}
     WHERE time >= $1 AND time < $2 ORDER BY time DESC, source LIMIT $3`,
    [BigInt(Math.floor(q.fromMs)), BigInt(Math.floor(q.toMs)), BigInt(q.limit ?? 1000)],
  );
  return r.getRows().map(rowToAlert);
}

function num(v: DuckDBValue): number | null {
  return v === null ? null : Number(v);
}

function rowToAlert(row: DuckDBValue[]): IdsAlert {
  return {
    time: Number(row[0]),
    flowId: row[1] === null ? '' : String(row[1]),
    communityId: row[2] === null ? '' : String(row[2]),
    srcAddr: typeof row[3] === 'bigint' ? addrText(row[3]) : '',
    dstAddr: typeof row[4] === 'bigint' ? addrText(row[4]) : '',
    srcPort: num(row[5]),
    dstPort: num(row[6]),
    proto: num(row[7]),
    signatureId: Number(row[8]),
    signature: String(row[9] ?? ''),
    category: String(row[10] ?? ''),
    severity: num(row[11]),
    action: String(row[12] ?? ''),
    sensor: String(row[13] ?? ''),
    appProto: row[14] === null ? '' : String(row[14]),
    source: String(row[15] ?? ''),
  };
}

export interface AlertsWithFlowsQuery extends IdsAlertQuery {
  /** Slack around a flow's [time_start, time_end] in which an alert still matches (default 60 s). */
  windowMs?: number;
  /** The flows relation (default `flows`, the store's per-connection view). */
  flowsTable?: string;
}

/**
 * Alerts in [fromMs, toMs) joined to the flows with the same Community ID whose time span (widened
 * by windowMs on each side) contains the alert time: the Community ID is the same hash of the
 * 5-tuple for Suricata, Zeek and our computed ids (computeCommunityIds), so an alert finds the
 * NetFlow/IPFIX/Zeek flows of its connection; flows without a stored id match on the 5-tuple in
 * either direction. An alert with no such flow is not returned. One row per (alert, flow) pair, newest alert first.
 */
export async function alertsWithFlows(conn: DuckDBConnection, q: AlertsWithFlowsQuery): Promise<AlertWithFlow[]> {
  const flows = q.flowsTable ?? 'flows';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(flows)) throw new Error(`flowsTable: not a table name: ${flows}`);
  const win = BigInt(Math.max(0, Math.floor(q.windowMs ?? 60_000)));
  // Three equi-joins rather than one OR: DuckDB hash-joins each, where an OR of conditions is a
  // nested loop over every flow. Flows whose ids were not stored (NetFlow, IPFIX, metered pcaps:
  // computed when shown) are found by their 5-tuple, either way round.
  const within = 'a.time >= f.time_start - $4 AND a.time <= coalesce(f.time_end, f.time_start) + $4';
  const range = 'f.time_start <= $2 + $4 AND coalesce(f.time_end, f.time_start) >= $1 - $4';
  const alerts = `(SELECT * FROM ${IDS_ALERTS} WHERE time >= $1 AND time < $2)`;
  const pick = `${COLUMNS.map(([n]) => `a.${n}`).join(', ')},
       f.time_start, f.time_end, f.src_addr, f.dst_addr, f.src_port, f.dst_port, f.proto,
       f.bytes, f.packets, f.rev_bytes, f.rev_packets, f.exporter, f.community_id`;
  const r = await conn.runAndReadAll(
    `SELECT DISTINCT * FROM (
       SELECT ${pick} FROM ${alerts} a JOIN ${flows} f
         ON f.community_id = a.community_id AND ${within} WHERE ${range}
       UNION ALL
       SELECT ${pick} FROM ${alerts} a JOIN ${flows} f
         ON f.src_addr = a.src_addr AND f.dst_addr = a.dst_addr AND f.proto = a.proto
        AND f.src_port IS NOT DISTINCT FROM a.src_port AND f.dst_port IS NOT DISTINCT FROM a.dst_port AND ${within}
        WHERE ${range}
       UNION ALL
       SELECT ${pick} FROM ${alerts} a JOIN ${flows} f
         ON f.src_addr = a.dst_addr AND f.dst_addr = a.src_addr AND f.proto = a.proto
        AND f.src_port IS NOT DISTINCT FROM a.dst_port AND f.dst_port IS NOT DISTINCT FROM a.src_port AND ${within}
        WHERE ${range})
     ORDER BY time DESC, source, time_start, exporter LIMIT $3`,
    [BigInt(Math.floor(q.fromMs)), BigInt(Math.floor(q.toMs)), BigInt(q.limit ?? 1000), win],
  );
  const n = COLUMNS.length;
  return r.getRows().map((row) => ({
    alert: rowToAlert(row),
    flow: {
      timeStart: Number(row[n]),
      timeEnd: Number(row[n + 1]),
      srcAddr: typeof row[n + 2] === 'bigint' ? addrText(row[n + 2] as bigint) : '',
      dstAddr: typeof row[n + 3] === 'bigint' ? addrText(row[n + 3] as bigint) : '',
      srcPort: num(row[n + 4]),
      dstPort: num(row[n + 5]),
      proto: num(row[n + 6]),
      bytes: num(row[n + 7]),
      packets: num(row[n + 8]),
      revBytes: num(row[n + 9]),
      revPackets: num(row[n + 10]),
      exporter: String(row[n + 11] ?? ''),
      communityId: String(row[n + 12] ?? ''),
    },
  }));
}
