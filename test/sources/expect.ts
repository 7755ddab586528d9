// What the store should hold after an input read some objects: a direct parse of each object
// (parseLogObject into a CollectingSink), counted by exporter and start time, and the same count
// read from the store's database file with a fresh DuckDB (after the store is closed).
import { join } from 'node:path';
import { parseLogObject } from '../../src/ingest/sources/parse.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { api } from '../../src/store/duckdb/duckdb-api.js';
import { DB_FILE } from '../../src/store/duckdb/index.js';

export type Counts = Map<string, number>;

export async function directCounts(objects: Iterable<[string, Uint8Array]>, into: Counts = new Map()): Promise<Counts> {
  for (const [name, bytes] of objects) {
    const sink = new CollectingSink(() => new FlowBatch(1024));
    await parseLogObject(name, bytes, 0, sink);
    for (const b of sink.batches)
      for (let r = 0; r < b.length; r++) {
        const k = `${b.getString(C.exporter, r)}|${b.isNull(C.time_start, r) ? null : b.getNum(C.time_start, r)}`;
        into.set(k, (into.get(k) ?? 0) + 1);
      }
  }
  return into;
}

export async function storeCounts(dataDir: string): Promise<Counts> {
  const inst = await api.DuckDBInstance.create(join(dataDir, DB_FILE), { access_mode: 'READ_ONLY' });
  const c = await inst.connect();
  const r = await c.runAndReadAll('SELECT exporter, time_start, count(*) FROM flows_data GROUP BY ALL');
  const out: Counts = new Map();
  for (const [e, t, n] of r.getRows()) out.set(`${e}|${t === null ? null : Number(t)}`, Number(n));
  c.closeSync();
  inst.closeSync();
  return out;
}

export function sorted(m: Counts): [string, number][] {
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
