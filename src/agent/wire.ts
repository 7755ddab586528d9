// The agent → server batch format of POST /api/v1/ingest/flows (decoded by src/api/ingest.ts).
//
// Columnar JSON, one object per batch:
//
//   {"v":1, "agent":"web-01", "epoch":"k3j9x2", "seq":42, "n":3,
//    "columns":{"time_start":[1700000000000, …], "src_addr":["10.0.0.1", …], "proto":[17, …], …}}
//
// `agent` + `epoch` + `seq` is the batch id: `epoch` is chosen once per spool directory, `seq`
// counts batches in it, so a batch resent after a lost acknowledgement has the same id and the
// server answers "duplicate" instead of storing it again. Columns are schema column names; each
// array has `n` entries, null where the flow has no value. Values are as the query API returns
// them: times in ms, addresses and MACs as text, enums by name, lists as arrays of strings (each
// value as the NDJSON forwarder writes it: forward/ndjson-http.ts valueJson).
// Columnar keeps the body small (a key per column, not per flow) and lets the server decode it
// without an object per flow.

import { valueJson } from '../forward/ndjson-http.js';
import type { FlowBatch } from '../pipeline/flow-batch.js';

export const WIRE_VERSION = 1;

export interface BatchId {
  agent: string;
  epoch: string;
  seq: number;
}

/** Encode rows [0, batch.length) of a batch; columns no row fills are left out. */
export function encodeBatch(batch: FlowBatch, id: BatchId): string {
  const n = batch.length;
  const parts: string[] = [];
  for (let col = 0; col < batch.columns.length; col++) {
    const valid = batch.valid[col];
    let any = false;
    for (let r = 0; r < n; r++)
      if (valid[r]) {
        any = true;
        break;
      }
    if (!any) continue;
    const def = batch.columns[col];
    const cells = new Array<string>(n);
    for (let r = 0; r < n; r++) cells[r] = valid[r] ? (valueJson(batch, def, col, r, false) ?? 'null') : 'null';
    parts.push(`${JSON.stringify(def.name)}:[${cells.join(',')}]`);
  }
  return `{"v":${WIRE_VERSION},"agent":${JSON.stringify(id.agent)},"epoch":${JSON.stringify(id.epoch)},"seq":${id.seq},"n":${n},"columns":{${parts.join(',')}}}`;
}
