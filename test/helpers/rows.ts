import { type FlowBatch, formatMac } from '../../src/pipeline/flow-batch.js';

export type Row = Record<string, string | number | null>;

/**
 * Row r of a batch as plain values for comparisons: addresses and MACs as text, strings, enum
 * names, numbers. Null columns are `null`, or left out with `{ omitNulls: true }`.
 */
export function rowObject(b: FlowBatch, r: number, opts: { omitNulls?: boolean } = {}): Row {
  const o: Row = {};
  for (let c = 0; c < b.columns.length; c++) {
    const col = b.columns[c];
    if (b.isNull(c, r)) {
      if (!opts.omitNulls) o[col.name] = null;
      continue;
    }
    if (col.type === 'addr') o[col.name] = b.getAddr(c, r);
    else if (col.type === 'string') o[col.name] = b.getString(c, r);
    else if (col.type === 'mac') o[col.name] = formatMac(b.getNum(c, r));
    else if (col.type === 'enum') o[col.name] = col.enumValues?.[b.getNum(c, r)] ?? null;
    else o[col.name] = b.getNum(c, r);
  }
  return o;
}
