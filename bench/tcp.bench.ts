// IPFIX over TCP: flows/s through the receiver's framing and the decoder, over loopback. The shared
// generator's IPFIX workload (flowgen, seed 42, 1 M flows) is written as one TCP byte stream by a
// separate process (the exporter's cost is not ours), so the figure is what one collector core
// sustains with TCP flow control pacing the sender — lossless by construction; the bench checks
// that every flow arrived. Target for the whole product: ≥ 400 k flows/s lossless.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { FlowExportDecoder } from '../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../src/ingest/pcap/reader.js';
import { IpfixTcpReceiver } from '../src/ingest/tcp/ipfix-tcp.js';
import { ExporterCounters } from '../src/pipeline/counters.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import type { BenchResult } from './harness.js';

const DIR = '/tmp/flowwatch-bench';
const FLOWGEN = process.env.FLOWGEN ?? '/work/shared/bench/flowgen.js';
const RUNS = 3;

/** The IPFIX messages of the flowgen capture, back to back: what an exporter writes over TCP. */
function stream(): { file: string; messages: number; flows: number; bytes: number } {
  const pcap = `${DIR}/ipfix-1M.pcap`;
  if (!existsSync(pcap)) {
    mkdirSync(DIR, { recursive: true });
    const r = spawnSync(
      process.execPath,
      [FLOWGEN, 'gen', '--proto', 'ipfix', '--flows', '1M', '--seed', '42', '--out', pcap],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) throw new Error('flowgen failed for ipfix');
  }
  const payloads = [...readUdpPackets(readFileSync(pcap))].map((p) => p.payload);
  const file = `${DIR}/ipfix-1M.tcpstream`;
  const all = Buffer.concat(payloads);
  writeFileSync(file, all);
  // Flows as the decoder counts them, decoded straight from the datagrams: the lossless reference.
  const d = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new ReusingSink();
  let flows = 0;
  for (const p of payloads) flows += d.decode(p, '127.0.0.1', 0, sink);
  return { file, messages: payloads.length, flows, bytes: all.length };
}

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

/** A child process that connects and pipes the stream file into the socket as fast as TCP allows. */
const SENDER = `
const net = require('node:net'), fs = require('node:fs');
const s = net.connect({ port: Number(process.argv[1]), host: '127.0.0.1' }, () => {
  fs.createReadStream(process.argv[2], { highWaterMark: 1 << 16 }).pipe(s);
});`;

async function once(file: string, decode: boolean): Promise<{ secs: number; messages: number; flows: number }> {
  const counters = new ExporterCounters();
  const decoder = new FlowExportDecoder({ counters });
  const sink = new ReusingSink();
  let messages = 0;
  let flows = 0;
  let t0 = 0;
  let done: () => void = () => {};
  const closed = new Promise<void>((r) => {
    done = r;
  });
  const rx = new IpfixTcpReceiver({
    addrs: ['127.0.0.1:0'],
    counters,
    onMessage: (m, exporter, ms) => {
      if (messages++ === 0) t0 = performance.now();
      if (decode) flows += decoder.decode(m, exporter, ms, sink);
    },
    onSessionClose: () => done(),
  });
  await rx.start();
  const child = spawn(process.execPath, ['-e', SENDER, String(rx.ports()[0]), file], { stdio: 'inherit' });
  await closed;
  const secs = (performance.now() - t0) / 1000;
  await rx.stop();
  child.kill();
  return { secs, messages, flows };
}

export async function run(): Promise<BenchResult[]> {
  const s = stream();
  const out: BenchResult[] = [];
  for (const decode of [false, true]) {
    const runs: { secs: number; messages: number; flows: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await once(s.file, decode);
      if (r.messages !== s.messages) throw new Error(`lost messages: ${r.messages} of ${s.messages}`);
      if (decode && r.flows !== s.flows) throw new Error(`lost flows: ${r.flows} of ${s.flows}`);
      runs.push(r);
    }
    runs.sort((a, b) => a.secs - b.secs);
    const med = runs[runs.length >> 1];
    out.push(
      decode
        ? {
            name: 'IPFIX/TCP framing + decode (loopback)',
            value: s.flows / med.secs,
            unit: 'flows/s',
            detail: `${s.flows} flows in ${s.messages} messages, ${(med.secs * 1000).toFixed(0)} ms, lossless`,
          }
        : {
            name: 'IPFIX/TCP framing only (loopback)',
            value: s.messages / med.secs,
            unit: 'messages/s',
            detail: `${s.messages} messages, ${(s.bytes / med.secs / 1e6).toFixed(0)} MB/s, ${(med.secs * 1000).toFixed(0)} ms`,
          },
    );
  }
  return out;
}
