// The 1-minute rollup (DESIGN §5): partial sums per minute of time_start over low-cardinality
// dimensions. Written at every commit from the rows of that commit, so several rows may share a
// bucket (queries SUM them) and late data lands in its own old minute, still correct.

import { type ColumnDef, findColumn } from '../../schema/columns.js';
import { duckdbColumnType, quoteIdent } from '../../schema/duckdb.js';

export const ROLLUP_1M = 'flows_1m';
export const MINUTE_MS = 60_000;

/**
 * Low-cardinality columns kept in flows_1m (ports and addresses would make it as big as flows).
 * AS numbers are not among them: with geo/ASN enrichment on by default, the (src_asn, dst_asn)
 * pairs of a minute run into the tens of thousands, and grouping by them at every commit held
 * IPFIX over TCP into the store at 368–386 k flows/s (412 k without them). Top source or
 * destination ASes come from the talkers rollup below (one side at a time, kept as long as
 * flows_1m); other questions by AS read the flows. Countries (a few hundred) stay.
 */
export const ROLLUP_DIMS: readonly string[] = [
  'source_type',
  'exporter',
  'observation_domain',
  'in_if',
  'out_if',
  'proto',
  'direction',
  'action',
  'src_country',
  'dst_country',
  'sampling_rate',
];
export const ROLLUP_SUMS: readonly string[] = ['packets', 'bytes', 'rev_packets', 'rev_bytes'];

const DIM_SET = new Set(ROLLUP_DIMS);

export function isRollupDim(name: string): boolean {
  return DIM_SET.has(name);
}

function col(name: string): ColumnDef {
  const c = findColumn(name);
  if (!c) throw new Error(`rollup column ${name} is not declared in src/schema/columns.ts`);
  return c;
}

export function rollupDDL(): string {
  const cols = [
    `  time_start ${duckdbColumnType(col('time_start'))}`,
    ...ROLLUP_DIMS.map((n) => `  ${quoteIdent(n)} ${duckdbColumnType(col(n))}`),
    '  flows UBIGINT',
    ...ROLLUP_SUMS.map((n) => `  ${quoteIdent(n)} ${duckdbColumnType(col(n))}`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${ROLLUP_1M} (\n${cols.join(',\n')}\n)`;
}

/**
 * Columns of an existing flows_1m that are no longer dimensions (a store written by an older
 * version): dropping them leaves valid partial sums, since every reader sums over the dimensions
 * it groups by.
 */
export function staleRollupColumns(existing: readonly string[]): string[] {
  const keep = new Set(['time_start', 'flows', ...ROLLUP_DIMS, ...ROLLUP_SUMS]);
  return existing.filter((c) => !keep.has(c));
}

/** Fold the staged rows of one commit into partial sums. */
export function rollupInsertSQL(from: string): string {
  const dims = ROLLUP_DIMS.map(quoteIdent).join(', ');
  const sums = ROLLUP_SUMS.map((n) => `SUM(${quoteIdent(n)})::UBIGINT`).join(', ');
  return (
    `INSERT INTO ${ROLLUP_1M} SELECT (time_start // ${MINUTE_MS}) * ${MINUTE_MS}, ${dims}, COUNT(*)::UBIGINT, ${sums} ` +
    `FROM ${quoteIdent(from)} GROUP BY ALL`
  );
}

// The talkers rollup: flows, packets and bytes per 5 minutes per source and per destination
// address, and per source and destination AS number — what "top sources/destinations" asks. Addresses are too many for flows_1m (the
// rollup would be as big as the flows), but on their own, per 5 minutes, they are a fraction of
// them (10 M flows of the bench workload: 120 k sources). Each drain of the stage inserts partial
// sums; compaction folds a range of buckets back into one row per (bucket, side, address), so
// the table stays near its distinct count and a top-N reads it instead of every flow. Five
// minutes, nfdump's file granularity, not one: a top-N reads a fifth of the rows (measured 45 →
// ~12 ms over the 10 M-flow bench store), and time bounds on 5-minute marks are what people use.

export const TALKERS_5M = 'talkers_5m';
export const TALKERS_BUCKET_MS = 300_000;
/**
 * `side` values: the source or destination address, or (in `addr`) the source or destination AS
 * number — top ASes, like top talkers, are one column of one side, and AS numbers are too many per
 * minute as pairs for flows_1m but few per side and 5 minutes.
 */
export const SRC_SIDE = 0;
export const DST_SIDE = 1;
export const SRC_ASN_SIDE = 2;
export const DST_ASN_SIDE = 3;

/** The column each talkers side sums over. */
export const TALKER_SIDES: readonly [number, string][] = [
  [SRC_SIDE, 'src_addr'],
  [DST_SIDE, 'dst_addr'],
  [SRC_ASN_SIDE, 'src_asn'],
  [DST_ASN_SIDE, 'dst_asn'],
];

export function talkersDDL(): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${TALKERS_5M} (time_start BIGINT, side UTINYINT, addr UHUGEINT, ` +
    'flows UBIGINT, packets UBIGINT, bytes UBIGINT)'
  );
}

/** Partial sums of the staged rows, every side. */
export function talkersInsertSQL(from: string): string {
  const part = (side: number, col: string) =>
    `SELECT (time_start // ${TALKERS_BUCKET_MS}) * ${TALKERS_BUCKET_MS}, ${side}::UTINYINT, ${quoteIdent(col)}::UHUGEINT, ` +
    `COUNT(*)::UBIGINT, SUM(packets)::UBIGINT, SUM(bytes)::UBIGINT FROM ${quoteIdent(from)} GROUP BY ALL`;
  return `INSERT INTO ${TALKERS_5M} ${TALKER_SIDES.map(([side, col]) => part(side, col)).join(' UNION ALL ')}`;
}

/**
 * For a flows_1m of an older version that still has AS columns: their sums as talkers' AS sides,
 * before the columns go (so that top ASes over time already rolled up keep their answer).
 */
export function talkersFromOldRollupSQL(): string {
  const part = (side: number, col: string) =>
    `SELECT (time_start // ${TALKERS_BUCKET_MS}) * ${TALKERS_BUCKET_MS}, ${side}::UTINYINT, ${quoteIdent(col)}::UHUGEINT, ` +
    `SUM(flows)::UBIGINT, SUM(packets)::UBIGINT, SUM(bytes)::UBIGINT FROM ${ROLLUP_1M} GROUP BY ALL`;
  return `INSERT INTO ${TALKERS_5M} ${part(SRC_ASN_SIDE, 'src_asn')} UNION ALL ${part(DST_ASN_SIDE, 'dst_asn')}`;
}

/** Statements that fold every row of buckets ≥ `from` into one per (bucket, side, addr). */
export function talkersCompactSQL(from: number): string[] {
  const where = `WHERE time_start >= ${Math.floor(from)}`;
  return [
    'CREATE OR REPLACE TEMP TABLE talkers_compact AS SELECT time_start, side, addr, SUM(flows)::UBIGINT AS flows, ' +
      `SUM(packets)::UBIGINT AS packets, SUM(bytes)::UBIGINT AS bytes FROM ${TALKERS_5M} ${where} GROUP BY ALL`,
    `DELETE FROM ${TALKERS_5M} ${where}`,
    `INSERT INTO ${TALKERS_5M} SELECT * FROM talkers_compact`,
    'DROP TABLE talkers_compact',
  ];
}
