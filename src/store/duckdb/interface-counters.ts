// sFlow interface counter samples (generic + Ethernet) in their own table, so utilisation, errors
// and discards per interface can be charted next to the flows. The table's columns are declared
// once here, with how each is read from an InterfaceCounters sample.

import type { InterfaceCounters } from '../../ingest/sflow/decoder.js';

type Getter = (c: InterfaceCounters) => number | string | boolean | null;

const COLUMNS: [name: string, type: string, get: Getter][] = [
  ['time_received', 'BIGINT', (c) => c.receivedMs],
  ['agent', 'VARCHAR', (c) => c.agent],
  ['sub_agent', 'UINTEGER', (c) => c.subAgentId],
  ['if_index', 'UINTEGER', (c) => c.ifIndex],
  ['if_type', 'UINTEGER', (c) => c.ifType],
  ['if_speed', 'UBIGINT', (c) => c.ifSpeed],
  ['if_direction', 'UTINYINT', (c) => c.ifDirection],
  ['if_admin_up', 'BOOLEAN', (c) => c.ifAdminUp],
  ['if_oper_up', 'BOOLEAN', (c) => c.ifOperUp],
  ['in_octets', 'UBIGINT', (c) => c.ifInOctets],
  ['in_ucast_pkts', 'UBIGINT', (c) => c.ifInUcastPkts],
  ['in_multicast_pkts', 'UBIGINT', (c) => c.ifInMulticastPkts],
  ['in_broadcast_pkts', 'UBIGINT', (c) => c.ifInBroadcastPkts],
  ['in_discards', 'UBIGINT', (c) => c.ifInDiscards],
  ['in_errors', 'UBIGINT', (c) => c.ifInErrors],
  ['in_unknown_protos', 'UBIGINT', (c) => c.ifInUnknownProtos],
  ['out_octets', 'UBIGINT', (c) => c.ifOutOctets],
  ['out_ucast_pkts', 'UBIGINT', (c) => c.ifOutUcastPkts],
  ['out_multicast_pkts', 'UBIGINT', (c) => c.ifOutMulticastPkts],
  ['out_broadcast_pkts', 'UBIGINT', (c) => c.ifOutBroadcastPkts],
  ['out_discards', 'UBIGINT', (c) => c.ifOutDiscards],
  ['out_errors', 'UBIGINT', (c) => c.ifOutErrors],
  ['promiscuous', 'UINTEGER', (c) => c.ifPromiscuousMode],
  ['fcs_errors', 'UBIGINT', (c) => c.ethernet?.dot3StatsFCSErrors ?? null],
  ['alignment_errors', 'UBIGINT', (c) => c.ethernet?.dot3StatsAlignmentErrors ?? null],
  ['late_collisions', 'UBIGINT', (c) => c.ethernet?.dot3StatsLateCollisions ?? null],
  ['excessive_collisions', 'UBIGINT', (c) => c.ethernet?.dot3StatsExcessiveCollisions ?? null],
  ['mac_transmit_errors', 'UBIGINT', (c) => c.ethernet?.dot3StatsInternalMacTransmitErrors ?? null],
  ['mac_receive_errors', 'UBIGINT', (c) => c.ethernet?.dot3StatsInternalMacReceiveErrors ?? null],
  ['frame_too_longs', 'UBIGINT', (c) => c.ethernet?.dot3StatsFrameTooLongs ?? null],
  ['symbol_errors', 'UBIGINT', (c) => c.ethernet?.dot3StatsSymbolErrors ?? null],
];

export const INTERFACE_COUNTERS = 'interface_counters';

export function interfaceCountersDDL(): string {
  return `CREATE TABLE IF NOT EXISTS ${INTERFACE_COUNTERS} (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`;
}

type Param = number | bigint | string | boolean | null;

/** Multi-row INSERT statements (with their parameters) for a list of samples. */
export function interfaceCountersInserts(rows: readonly InterfaceCounters[]): { sql: string; params: Param[] }[] {
  const out: { sql: string; params: Param[] }[] = [];
  const per = Math.floor(2048 / COLUMNS.length);
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const params: Param[] = [];
    const tuples = part.map((c) => {
      const ph = COLUMNS.map(([, type, get]) => {
        const v = get(c);
        params.push(typeof v === 'number' && (type === 'UBIGINT' || type === 'BIGINT') ? BigInt(Math.round(v)) : v);
        return `CAST($${params.length} AS ${type})`;
      });
      return `(${ph.join(', ')})`;
    });
    out.push({ sql: `INSERT INTO ${INTERFACE_COUNTERS} VALUES ${tuples.join(', ')}`, params });
  }
  return out;
}

/**
 * Utilisation per interface over a time range, from consecutive samples of each interface (an
 * interface seen once has a row with its speed and no rates):
 * average and peak bits/s each way, and errors and discards counted in the range. Negative
 * deltas (counter reset, agent restart) are left out rather than read as huge values.
 */
export function interfaceUtilisationSQL(where: string): string {
  const delta = (c: string) => `${c}::HUGEINT - lag(${c}) OVER w`;
  return `WITH d AS (
  SELECT agent, if_index, if_speed, time_received - lag(time_received) OVER w AS dt,
    ${delta('in_octets')} AS din, ${delta('out_octets')} AS dout,
    ${delta('in_errors')} + ${delta('out_errors')} AS derr,
    ${delta('in_discards')} + ${delta('out_discards')} AS ddisc
  FROM ${INTERFACE_COUNTERS}${where}
  WINDOW w AS (PARTITION BY agent, sub_agent, if_index ORDER BY time_received)
)
SELECT agent, if_index, max(if_speed)::UBIGINT AS if_speed, count(*)::UBIGINT AS samples,
  (sum(din) FILTER (ok) * 8000 / sum(dt) FILTER (ok))::DOUBLE AS in_bps_avg,
  max(din * 8000 / dt) FILTER (ok)::DOUBLE AS in_bps_peak,
  (sum(dout) FILTER (ok) * 8000 / sum(dt) FILTER (ok))::DOUBLE AS out_bps_avg,
  max(dout * 8000 / dt) FILTER (ok)::DOUBLE AS out_bps_peak,
  sum(derr) FILTER (ok AND derr >= 0)::BIGINT AS errors, sum(ddisc) FILTER (ok AND ddisc >= 0)::BIGINT AS discards
FROM (SELECT *, coalesce(dt > 0 AND din >= 0 AND dout >= 0, false) AS ok FROM d)
GROUP BY agent, if_index ORDER BY agent, if_index`;
}
