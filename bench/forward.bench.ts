// IPFIX encode throughput of the forwarder on one core (no socket): the shared generator's IPFIX
// workload (/work/shared/bench/flowgen.js, seed 42) decoded once into 8192-row FlowBatches, then
// encoded into UDP-sized (1452-byte) and TCP-sized (16 KiB) messages, and through a filter that
// keeps about half of the rows.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { compilePredicate } from '../src/filter/index.js';
import { IpfixEncoder } from '../src/forward/ipfix-encoder.js';
import { FlowExportDecoder } from '../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../src/pipeline/counters.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import { CollectingSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const DIR = '/tmp/flowwatch-bench';
const FLOWGEN = process.env.FLOWGEN ?? '/work/shared/bench/flowgen.js';
const ROWS = 500_000;

function workload(): string {
  const file = `${DIR}/ipfix-1M.pcap`;
  if (!existsSync(file)) {
    mkdirSync(DIR, { recursive: true });
    const r = spawnSync(
      process.execPath,
      [FLOWGEN, 'gen', '--proto', 'ipfix', '--flows', '1M', '--seed', '42', '--out', file],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) throw new Error('flowgen failed for ipfix');
  }
  return file;
}

function decoded(): FlowBatch[] {
  const dec = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new CollectingSink(() => new FlowBatch(8192));
  for (const p of readUdpPackets(readFileSync(workload()))) {
    dec.decode(p.payload, p.srcAddr, p.tsMs, sink);
    if (sink.rows >= ROWS) break;
  }
  return sink.batches;
}

export async function run(): Promise<BenchResult[]> {
  const batches = decoded();
  const rows = batches.reduce((a, b) => a + b.length, 0);
  const out: BenchResult[] = [];
  for (const [label, maxMessageBytes] of [
    ['UDP 1452 B', 1452],
    ['TCP 16 KiB', 16384],
  ] as const) {
    let bytes = 0;
    let messages = 0;
    const sink = (m: Buffer) => {
      bytes += m.length;
      messages++;
    };
    const secs = measure(
      () => {
        const enc = new IpfixEncoder({ maxMessageBytes, templateRefreshMessages: 20 });
        bytes = 0;
        messages = 0;
        for (const b of batches) enc.encode(b, null, b.length, sink);
      },
      2000,
      3,
    );
    out.push({
      name: `forward: IPFIX encode, ${label} messages`,
      value: rows / secs,
      unit: 'rows/s',
      detail: `${rows} rows → ${messages} messages, ${(bytes / rows).toFixed(1)} B/row, ${(secs * 1000).toFixed(0)} ms`,
    });
  }
  // Selecting rows with the filter language first, as the Forwarder does.
  const pred = compilePredicate('proto tcp');
  const sel = new Uint32Array(8192);
  let kept = 0;
  const secs = measure(
    () => {
      const enc = new IpfixEncoder({ maxMessageBytes: 1452 });
      kept = 0;
      for (const b of batches) {
        let k = 0;
        for (let r = 0; r < b.length; r++) if (pred(b, r)) sel[k++] = r;
        kept += k;
        enc.encode(b, sel, k, () => {});
      }
    },
    2000,
    3,
  );
  out.push({
    name: "forward: filter 'proto tcp' + IPFIX encode",
    value: rows / secs,
    unit: 'rows/s in',
    detail: `${kept} of ${rows} rows forwarded, ${(secs * 1000).toFixed(0)} ms`,
  });
  return out;
}
