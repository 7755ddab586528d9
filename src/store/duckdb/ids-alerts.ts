// IDS alerts (Suricata eve `alert` events) in their own table beside the flows, so an analyst can
// go from an alert to the flows that carried it. Addresses use the flows encoding (UHUGEINT holding
// the IPv6 value, IPv4 as ::ffff:a.b.c.d, src/schema/duckdb.ts) so the two tables compare directly.
// The table's columns are declared once here, with how each is read from an IdsAlert (the pattern
// of interface-counters.ts).

import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { addrBigInt, parseAddr } from '../../pipeline/flow-batch.js';
import type { AlertWithFlow, IdsAlert } from '../ids-alert.js';
import { addrText } from './values.js';

export const IDS_ALERTS = 'ids_alerts';

type Param = string | number | null;

/** Decimal text of the UHUGEINT of an address (bound as text: values above 2^127 overflow HUGEINT). */
function addrParam(text: string): string | null {
  const w = parseAddr(text);
  if (w === null) return null;
  return addrBigInt(w).toString();
}

/** A column: its SQL type, the IdsAlert field it holds, how that field is bound and how it is read back. */
interface Column<K extends keyof IdsAlert> {
  name: string;
  type: string;
  key: K;
  put(v: IdsAlert[K]): Param;
  take(v: DuckDBValue): IdsAlert[K];
}

function col<K extends keyof IdsAlert>(
  name: string,
  type: string,
  key: K,
  put: (v: IdsAlert[K]) => Param,
  take: (v: DuckDBValue) => IdsAlert[K],
): Column<K> {
  return { name, type, key, put, take };
}

const orNull = (v: string): string | null => (v === '' ? null : v);
const textOrEmpty = (v: DuckDBValue): string => String(v ?? '');
const num = (v: DuckDBValue): number | null => (v === null ? null : Number(v));
const addrBack = (v: DuckDBValue): string => (typeof v === 'bigint' ? addrText(v) : '');
const same = <T extends Param>(v: T): T => v;

const COLUMNS = [
  col('time', 'BIGINT', 'time', same, Number),
  // flow_id is a uint64 (often above 2^53): bound as its decimal text
  col('flow_id', 'UBIGINT', 'flowId', orNull, textOrEmpty),
  col('community_id', 'VARCHAR', 'communityId', orNull, textOrEmpty),
  col('src_addr', 'UHUGEINT', 'srcAddr', addrParam, addrBack),
  col('dst_addr', 'UHUGEINT', 'dstAddr', addrParam, addrBack),
  col('src_port', 'USMALLINT', 'srcPort', same, num),
  col('dst_port', 'USMALLINT', 'dstPort', same, num),
  col('proto', 'UTINYINT', 'proto', same, num),
  col('signature_id', 'UINTEGER', 'signatureId', same, Number),
  col('signature', 'VARCHAR', 'signature', same, textOrEmpty),
  col('category', 'VARCHAR', 'category', same, textOrEmpty),
  col('severity', 'UTINYINT', 'severity', same, num),
  col('action', 'VARCHAR', 'action', same, textOrEmpty),
  col('sensor', 'VARCHAR', 'sensor', same, textOrEmpty),
  col('app_proto', 'VARCHAR', 'appProto', orNull, textOrEmpty),
  col('source', 'VARCHAR', 'source', same, textOrEmpty),
];

// Every IdsAlert field has a column (a field added to IdsAlert without one fails to compile here).
type Unstored = Exclude<keyof IdsAlert, (typeof COLUMNS)[number]['key']>;
const EVERY_FIELD_STORED: [Unstored] extends [never] ? true : Unstored = true;
void EVERY_FIELD_STORED;

/** The value column `c` binds for alert `a`. */
function bind<K extends keyof IdsAlert>(c: Column<K>, a: IdsAlert): Param {
  return c.put(a[c.key]);
}

/** The IdsAlert in row[at .. at + COLUMNS.length) (columns in COLUMNS order). */
function rowToAlert(row: readonly DuckDBValue[], at = 0): IdsAlert {
  const out: Partial<Record<keyof IdsAlert, unknown>> = {};
  COLUMNS.forEach((c, i) => {
    out[c.key] = c.take(row[at + i]);
  });
  return out as IdsAlert;
}

export function idsAlertsDDL(): string {
  return `CREATE TABLE IF NOT EXISTS ${IDS_ALERTS} (${COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')})`;
}

/** Insert alerts (the table must exist: run idsAlertsDDL() first). Returns the rows written. */
export async function appendIdsAlerts(conn: DuckDBConnection, alerts: readonly IdsAlert[]): Promise<number> {
  const per = Math.floor(2048 / COLUMNS.length);
  for (let i = 0; i < alerts.length; i += per) {
    const part = alerts.slice(i, i + per);
    const params: Param[] = [];
    const tuples = part.map((a) => {
      const ph = COLUMNS.map((c) => {
        const v = bind(c, a);
        const type = c.type;
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
    `SELECT ${COLUMNS.map((c) => c.name).join(', ')} FROM ${IDS_ALERTS}
     WHERE time >= $1 AND time < $2 ORDER BY time DESC, source LIMIT $3`,
    [BigInt(Math.floor(q.fromMs)), BigInt(Math.floor(q.toMs)), BigInt(q.limit ?? 1000)],
  );
  return r.getRows().map((row) => rowToAlert(row));
}

type Flow = AlertWithFlow['flow'];

/** A flows column alertsWithFlows reads, the field of AlertWithFlow.flow it fills and how. */
function flowCol<K extends keyof Flow>(column: string, key: K, take: (v: DuckDBValue) => Flow[K]) {
  return { column, key, take };
}

/** The flow columns alertsWithFlows reads (after the alert's). */
const FLOW_FIELDS = [
  flowCol('time_start', 'timeStart', Number),
  flowCol('time_end', 'timeEnd', Number),
  flowCol('src_addr', 'srcAddr', addrBack),
  flowCol('dst_addr', 'dstAddr', addrBack),
  flowCol('src_port', 'srcPort', num),
  flowCol('dst_port', 'dstPort', num),
  flowCol('proto', 'proto', num),
  flowCol('bytes', 'bytes', num),
  flowCol('packets', 'packets', num),
  flowCol('rev_bytes', 'revBytes', num),
  flowCol('rev_packets', 'revPackets', num),
  flowCol('exporter', 'exporter', textOrEmpty),
  flowCol('community_id', 'communityId', textOrEmpty),
];

// Every field of AlertWithFlow.flow is read (a field added without a column fails to compile here).
type Unread = Exclude<keyof Flow, (typeof FLOW_FIELDS)[number]['key']>;
const EVERY_FLOW_FIELD_READ: [Unread] extends [never] ? true : Unread = true;
void EVERY_FLOW_FIELD_READ;

export interface AlertsWithFlowsQuery extends IdsAlertQuery {
  /** Slack around a flow's [time_start, time_end] in which an alert still matches (default 60 s). */
  windowMs?: number;
}

/**
 * Alerts in [fromMs, toMs) joined to the flows with the same Community ID whose time span (widened
 * by windowMs on each side) contains the alert time: the Community ID is the same hash of the
 * 5-tuple for Suricata, Zeek and our computed ids (computeCommunityIds), so an alert finds the
 * NetFlow/IPFIX/Zeek flows of its connection; flows without a stored id match on the 5-tuple in
 * either direction. An alert with no such flow is not returned. One row per (alert, flow) pair, newest alert first.
 */
export async function alertsWithFlows(conn: DuckDBConnection, q: AlertsWithFlowsQuery): Promise<AlertWithFlow[]> {
  const win = BigInt(Math.max(0, Math.floor(q.windowMs ?? 60_000)));
  // Three equi-joins rather than one OR: DuckDB hash-joins each, where an OR of conditions is a
  // nested loop over every flow. Flows whose ids were not stored (NetFlow, IPFIX, metered pcaps:
  // computed when shown) are found by their 5-tuple, either way round.
  const within = 'a.time >= f.time_start - $4 AND a.time <= coalesce(f.time_end, f.time_start) + $4';
  const range = 'f.time_start <= $2 + $4 AND coalesce(f.time_end, f.time_start) >= $1 - $4';
  const alerts = `(SELECT * FROM ${IDS_ALERTS} WHERE time >= $1 AND time < $2)`;
  const pick = [...COLUMNS.map((c) => `a.${c.name}`), ...FLOW_FIELDS.map((c) => `f.${c.column}`)].join(', ');
  const r = await conn.runAndReadAll(
    `SELECT DISTINCT * FROM (
       SELECT ${pick} FROM ${alerts} a JOIN flows f
         ON f.community_id = a.community_id AND ${within} WHERE ${range}
       UNION ALL
       SELECT ${pick} FROM ${alerts} a JOIN flows f
         ON f.src_addr = a.src_addr AND f.dst_addr = a.dst_addr AND f.proto = a.proto
        AND f.src_port IS NOT DISTINCT FROM a.src_port AND f.dst_port IS NOT DISTINCT FROM a.dst_port AND ${within}
        WHERE ${range}
       UNION ALL
       SELECT ${pick} FROM ${alerts} a JOIN flows f
         ON f.src_addr = a.dst_addr AND f.dst_addr = a.src_addr AND f.proto = a.proto
        AND f.src_port IS NOT DISTINCT FROM a.dst_port AND f.dst_port IS NOT DISTINCT FROM a.src_port AND ${within}
        WHERE ${range})
     ORDER BY time DESC, source, time_start, exporter LIMIT $3`,
    [BigInt(Math.floor(q.fromMs)), BigInt(Math.floor(q.toMs)), BigInt(q.limit ?? 1000), win],
  );
  const n = COLUMNS.length;
  return r.getRows().map((row) => {
    const flow: Partial<Record<keyof Flow, unknown>> = {};
    FLOW_FIELDS.forEach((c, i) => {
      flow[c.key] = c.take(row[n + i]);
    });
    return { alert: rowToAlert(row), flow: flow as Flow };
  });
}
