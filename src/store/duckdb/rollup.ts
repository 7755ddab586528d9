// The 1-minute rollup (DESIGN §5): partial sums per minute of time_start over low-cardinality
// dimensions. Written at every commit from the rows of that commit, so several rows may share a
// bucket (queries SUM them) and late data lands in its own old minute, still correct.

import { type ColumnDef, findColumn } from '../../schema/columns.js';
import { duckdbColumnType, quoteIdent } from '../../schema/duckdb.js';

export const ROLLUP_1M = 'flows_1m';
export const MINUTE_MS = 60_000;

/** Low-cardinality columns kept in flows_1m (ports and addresses would make it as big as flows). */
export const ROLLUP_DIMS: readonly string[] = [
  'source_type',
  'exporter',
  'observation_domain',
  'in_if',
  'out_if',
  'proto',
  'direction',
  'action',
  'src_asn',
  'dst_asn',
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

/** Fold the staged rows of one commit into partial sums. */
export function rollupInsertSQL(from: string): string {
  const dims = ROLLUP_DIMS.map(quoteIdent).join(', ');
  const sums = ROLLUP_SUMS.map((n) => `SUM(${quoteIdent(n)})::UBIGINT`).join(', ');
  return (
    `INSERT INTO ${ROLLUP_1M} SELECT (time_start // ${MINUTE_MS}) * ${MINUTE_MS}, ${dims}, COUNT(*)::UBIGINT, ${sums} ` +
    `FROM ${quoteIdent(from)} GROUP BY ALL`
  );
}
