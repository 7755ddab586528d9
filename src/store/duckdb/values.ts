// DuckDB result values → the JS values every front end shows: addresses as text, enums as names,
// times and counters as numbers, lists as string[]. Only on query output (bounded rows), so plain
// per-value code is fine here.

import type { DuckDBValue } from '@duckdb/node-api';
import { formatAddrWords, formatMac } from '../../pipeline/flow-batch.js';
import type { ColumnDef } from '../../schema/columns.js';
import { api } from './duckdb-api.js';

const W = 0xffffffffn;
const words = new Uint32Array(4);

export function addrText(v: bigint): string {
  words[0] = Number((v >> 96n) & W);
  words[1] = Number((v >> 64n) & W);
  words[2] = Number((v >> 32n) & W);
  words[3] = Number(v & W);
  return formatAddrWords(words, 0);
}

/** Convert one value of column `col` (undefined: a measure such as a SUM) to its JS form. */
export function toJs(col: ColumnDef | undefined, v: DuckDBValue): unknown {
  if (v === null || v === undefined) return null;
  if (col === undefined) return typeof v === 'bigint' ? Number(v) : v;
  switch (col.type) {
    case 'addr':
      return typeof v === 'bigint' ? addrText(v) : v;
    case 'mac':
      return formatMac(Number(v));
    case 'enum':
      return col.enumValues?.[Number(v)] ?? Number(v);
    case 'list':
      return v instanceof api.DuckDBListValue ? v.items.map((x) => String(x)) : v;
    case 'time':
    case 'u64':
      return Number(v);
    default:
      return typeof v === 'bigint' ? Number(v) : v;
  }
}
