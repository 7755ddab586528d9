// Every column of every row of a sink's batches as plain values: what two parsers of the same
// records are compared on.
import type { FlowBatch } from '../../src/pipeline/flow-batch.js';

export type PlainRow = Record<string, string | number | null | readonly string[]>;

export function batchRows(batches: readonly FlowBatch[]): PlainRow[] {
  const out: PlainRow[] = [];
  for (const b of batches)
    for (let r = 0; r < b.length; r++) {
      const row: PlainRow = {};
      for (let c = 0; c < b.columns.length; c++) {
        const col = b.columns[c];
        if (b.isNull(c, r)) row[col.name] = null;
        else if (col.type === 'string') row[col.name] = b.getString(c, r);
        else if (col.type === 'addr') row[col.name] = b.getAddr(c, r);
        else if (col.type === 'list') row[col.name] = b.getList(c, r);
        else row[col.name] = b.getNum(c, r);
      }
      out.push(row);
    }
  return out;
}
