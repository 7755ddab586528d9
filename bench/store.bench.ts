// The DuckDB store on NetFlow v9-shaped synthetic flows (test/store/synth.ts, modelled on
// ../shared/bench/flowgen.js): append throughput including commits, the longest the event loop
// was held, bytes per flow on disk after checkpoint, and top-10 src_addr by bytes (nfdump -s
// srcip/bytes on the same 10 M flows: 1.1 s). FLOWWATCH_BENCH_FLOWS overrides the 10 M.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import { openStore } from '../src/store/duckdb/index.js';
import { removeDir, tempDir } from '../test/store/helpers.js';
import { SynthFlows } from '../test/store/synth.js';
import type { BenchResult } from './harness.js';

export async function run(): Promise<BenchResult[]> {
  const total = Number(process.env.FLOWWATCH_BENCH_FLOWS ?? 10_000_000);
  const dir = tempDir();
  const out: BenchResult[] = [];
  try {
    const synth = new SynthFlows({ seed: 42 });
    // Pre-generate a ring of batches so generation time is not counted as store time.
    const ring = Array.from({ length: 16 }, () => new FlowBatch(8192));
    const store = await openStore({ dir });
    const lag = monitorEventLoopDelay({ resolution: 5 });
    let appended = 0;
    let busy = 0;
    let batches = 0;
    lag.enable();
    const t0 = performance.now();
    while (appended < total) {
      const b = ring[batches % ring.length];
      const tg = performance.now();
      synth.fill(b, Math.min(b.capacity, total - appended));
      busy -= performance.now() - tg;
      await store.append(b);
      appended += b.length;
      // One commit per ~1 s of 400 k flows/s ingest, as `store.flush_interval` would do.
      if (++batches % 49 === 0) await store.flush();
    }
    await store.flush();
    busy += performance.now() - t0;
    lag.disable();
    out.push({
      name: 'store append+commit (main thread)',
      value: Math.round(appended / (busy / 1000)),
      unit: 'rows/s',
      detail: `${appended} rows, ${(busy / 1000).toFixed(1)} s, generation excluded`,
    });
    out.push({
      name: 'store event-loop delay max during ingest',
      value: Math.round(lag.max / 1e6),
      unit: 'ms',
      detail: `p99 ${Math.round(lag.percentile(99) / 1e6)} ms`,
    });

    const topTimes: number[] = [];
    let topRows = 0;
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      const r = await store.top({ by: ['src_addr'], order: 'bytes', limit: 10 });
      topTimes.push(performance.now() - t);
      topRows = r.rows.length;
    }
    topTimes.shift(); // warm-up
    topTimes.sort((a, b) => a - b);
    out.push({
      name: `store top-10 src_addr by bytes (${appended / 1e6} M flows)`,
      value: topTimes[topTimes.length >> 1] / 1000,
      unit: 's',
      detail: `median of 5 after a warm-up, ${topRows} rows, threads=2`,
    });
    await store.close();

    const file = join(dir, 'flows.duckdb');
    const bytes = statSync(file).size;
    out.push({
      name: 'store bytes per flow on disk',
      value: bytes / appended,
      unit: 'B/flow',
      detail: `${(bytes / 1e6).toFixed(0)} MB for ${appended} flows incl. flows_1m, after checkpoint`,
    });
    // Where the bytes go: the ten biggest columns of flows.
    const inst = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    const c = await inst.connect();
    const cols = await c.runAndReadAll(
      `SELECT column_name, sum(count) FILTER (WHERE segment_type <> 'VALIDITY'), string_agg(DISTINCT compression, '/'),
              count(DISTINCT block_id) * 262144 AS approx_bytes
       FROM pragma_storage_info('flows_data') GROUP BY 1 ORDER BY approx_bytes DESC LIMIT 10`,
    );
    const blocks = await c.runAndReadAll('SELECT total_blocks, block_size FROM pragma_database_size()');
    c.closeSync();
    inst.closeSync();
    process.stderr.write(
      `store: biggest columns (blocks touched × 256 KiB): ${cols
        .getRows()
        .map((r) => `${r[0]} ${r[2]} ${(Number(r[3]) / 1e6).toFixed(0)}MB`)
        .join(', ')}; database ${JSON.stringify(blocks.getRows()[0].map(String))}\n`,
    );
  } finally {
    removeDir(dir);
  }
  return out;
}
