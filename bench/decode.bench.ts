// Decode throughput of the NetFlow v9 and IPFIX decoders on one core: the shared generator's
// workload (/work/shared/bench/flowgen.js, seed 42) read into memory, then decoded into reused
// FlowBatches. Target: ≥ 2 M flows/s each.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { FlowExportDecoder } from '../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../src/pipeline/counters.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const DIR = '/tmp/flowwatch-bench';
const FLOWGEN = process.env.FLOWGEN ?? '/work/shared/bench/flowgen.js';

function workload(proto: 'v9' | 'ipfix'): string {
  const file = `${DIR}/${proto}-1M.pcap`;
  if (!existsSync(file)) {
    mkdirSync(DIR, { recursive: true });
    const r = spawnSync(
      process.execPath,
      [FLOWGEN, 'gen', '--proto', proto, '--flows', '1M', '--seed', '42', '--out', file],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) throw new Error(`flowgen failed for ${proto}`);
  }
  return file;
}

/** A sink that hands back the same batch, reset when full: measures decoding, not allocation. */
class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const proto of ['v9', 'ipfix'] as const) {
    const packets = [...readUdpPackets(readFileSync(workload(proto)))];
    let flows = 0;
    const sink = new ReusingSink();
    const secs = measure(
      () => {
        const d = new FlowExportDecoder({ counters: new ExporterCounters() });
        flows = 0;
        for (const p of packets) flows += d.decode(p.payload, p.srcAddr, p.tsMs, sink);
        sink.b.reset();
      },
      3000,
      3,
    );
    out.push({
      name: `decode ${proto === 'v9' ? 'NetFlow v9' : 'IPFIX'} (1 core)`,
      value: flows / secs,
      unit: 'flows/s',
      detail: `${flows} flows in ${packets.length} packets, ${(secs * 1000).toFixed(0)} ms`,
    });
  }
  return out;
}
