// sFlow v5 decode throughput on one core: the akvorado and nDPI corpus datagrams decoded repeatedly
// into a reused FlowBatch (flow samples → rows; counter samples parsed and handed to a no-op
// callback). Target: ≥ 1 M samples/s.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readUdpPackets } from '../src/ingest/pcap/reader.js';
import { SFlowDecoder } from '../src/ingest/sflow/decoder.js';
import { ExporterCounters } from '../src/pipeline/counters.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const DATA = process.env.FLOWWATCH_SHARED_DATA ?? '/work/shared/data';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

export async function run(): Promise<BenchResult[]> {
  const dir = join(DATA, 'netflow', 'akvorado', 'sflow');
  const files = [...readdirSync(dir).map((f) => join(dir, f)), join(DATA, 'netflow', 'ndpi', 'sflow.pcap')];
  const packets = files.flatMap((f) => [...readUdpPackets(readFileSync(f))]);
  const REPEAT = 2000;
  let samples = 0;
  let rows = 0;
  const sink = new ReusingSink();
  const secs = measure(
    () => {
      let counterSamples = 0;
      const d = new SFlowDecoder({ counters: new ExporterCounters(), onCounters: () => counterSamples++ });
      rows = 0;
      for (let i = 0; i < REPEAT; i++) for (const p of packets) rows += d.decode(p.payload, p.srcAddr, p.tsMs, sink);
      samples = rows + counterSamples;
      sink.b.reset();
    },
    3000,
    3,
  );
  return [
    {
      name: 'decode sFlow v5 (1 core)',
      value: samples / secs,
      unit: 'samples/s',
      detail: `${samples} samples (${rows} flow) in ${packets.length * REPEAT} datagrams, ${(secs * 1000).toFixed(0)} ms`,
    },
  ];
}
