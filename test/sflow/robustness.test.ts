// Hostile input: every corpus datagram truncated at every length and with random byte flips must be
// counted, never thrown; sequence numbers and the agent's drop counter taken from real datagrams.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { looksLikeSFlow, SFlowDecoder } from '../../src/ingest/sflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import type { BatchSink } from '../../src/pipeline/sink.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { sflowCaptures, TSHARK, tsharkSflow } from './helpers.js';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(1024);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

import { rng } from '../helpers/rng.js';

/** Copies (the reader hands out Buffer views, whose slice() would share memory). */
function corpusPayloads(): Uint8Array[] {
  return sflowCaptures().flatMap((f) => [...readUdpPackets(readFileSync(f))].map((p) => new Uint8Array(p.payload)));
}

test('every truncation of every corpus datagram is counted as malformed, never thrown', { skip: needsData() }, () => {
  const counters = new ExporterCounters();
  const d = new SFlowDecoder({ counters, onCounters: () => {} });
  const sink = new ReusingSink();
  let cases = 0;
  for (const p of corpusPayloads()) {
    // Some akvorado files declare fewer samples than they carry: cuts past the last declared sample
    // leave a complete datagram.
    const declared = offsets(p).end;
    for (let n = 0; n < declared; n++) {
      const before = counters.total('malformed');
      d.decode(p.slice(0, n), '192.0.2.1', 0, sink);
      looksLikeSFlow(p.slice(0, n));
      assert.ok(counters.total('malformed') > before, `cut at ${n} of ${p.length} not counted`);
      cases++;
    }
  }
  assert.ok(cases > 4000, `${cases} truncations`);
});

test('random byte flips never throw and never write more rows than samples', { skip: needsData() }, () => {
  const counters = new ExporterCounters();
  const d = new SFlowDecoder({ counters, onCounters: () => {} });
  const sink = new ReusingSink();
  const rand = rng(7);
  let cases = 0;
  for (const p of corpusPayloads()) {
    for (let k = 0; k < 400; k++) {
      const m = p.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      const rows = d.decode(m, '192.0.2.1', 0, sink);
      assert.ok(rows <= (m.length - 28) / 40, `${rows} rows from ${m.length} bytes`);
      cases++;
    }
  }
  assert.ok(cases >= 5000, `${cases} mutations`);
  assert.ok(counters.total('malformed') > 0);
  JSON.stringify(d.inventory());
});

test('lying counts and lengths are malformed, not loops', () => {
  const counters = new ExporterCounters();
  const d = new SFlowDecoder({ counters });
  const sink = new ReusingSink();
  // Version 5, IPv4 agent, 2^32-1 samples, then one sample claiming 2^32-1 bytes.
  const dg = Uint8Array.from([
    0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 1, 255, 255,
    255, 255,
  ]);
  assert.equal(d.decode(dg, '192.0.2.1', 0, sink), 0);
  assert.equal(counters.get('10.0.0.1', 'malformed'), 1);
  assert.equal(looksLikeSFlow(dg), false);
  // A flow sample announcing 2^32-1 records in 32 bytes of body.
  const fs = Uint8Array.from([
    ...dg.slice(0, 24),
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    32,
    ...new Array(28).fill(0),
    255,
    255,
    255,
    255,
  ]);
  assert.equal(d.decode(fs, '192.0.2.1', 0, sink), 0);
  assert.equal(counters.get('10.0.0.1', 'malformed'), 2);
  // Not sFlow v5 at all: counted under the UDP source.
  d.decode(Uint8Array.from([0, 9, 0, 1]), '192.0.2.2', 0, sink);
  assert.equal(counters.get('192.0.2.2', 'malformed'), 1);
});

/** Offsets of the datagram sequence and of each flow sample's sequence and drops (an XDR walk). */
function offsets(p: Uint8Array): {
  seq: number;
  end: number;
  samples: { seq: number; drops: number; source: number }[];
} {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const alen = dv.getUint32(4) === 1 ? 4 : 16;
  const seq = 8 + alen + 4;
  const n = dv.getUint32(8 + alen + 12);
  let q = 8 + alen + 16;
  const samples: { seq: number; drops: number; source: number }[] = [];
  for (let i = 0; i < n; i++) {
    const fmt = dv.getUint32(q);
    const len = dv.getUint32(q + 4);
    if (fmt === 1) samples.push({ seq: q + 8, source: q + 12, drops: q + 24 });
    if (fmt === 3) samples.push({ seq: q + 8, source: q + 16, drops: q + 28 });
    q += 8 + len;
  }
  return { seq, end: q, samples };
}

test('sequence gaps and agent drops from a real datagram replayed with advanced numbers', {
  skip: needsData() || needsTool('tshark', TSHARK),
}, () => {
  const file = dataPath('netflow', 'akvorado', 'sflow', 'data-1140.pcap');
  const [p] = [...readUdpPackets(readFileSync(file))].map((x) => new Uint8Array(x.payload));
  // tshark's reading of the datagram: agent, datagram sequence, and per flow sample its source and sequence.
  const [dg] = tsharkSflow(file);
  const agent = dg['sflow_245.agent'] as string;
  const flowSamples = Object.entries(dg)
    .filter(([k]) => k.startsWith('Flow sample'))
    .map(([, v]) => v as Record<string, string>);
  const firstSeq = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  for (const s of flowSamples) {
    const src = s['sflow.flow_sample.index'];
    const seq = Number(s['sflow.flow_sample.sequence_number']);
    if (!firstSeq.has(src)) firstSeq.set(src, seq);
    lastSeq.set(src, seq);
  }
  const K = 10; // every sample sequence advanced by K, the datagram sequence by 3, drops by 7
  const o = offsets(p);
  assert.equal(o.samples.length, flowSamples.length);
  const next = p.slice();
  const dv = new DataView(next.buffer);
  dv.setUint32(o.seq, dv.getUint32(o.seq) + 3);
  for (const s of o.samples) {
    dv.setUint32(s.seq, dv.getUint32(s.seq) + K);
    dv.setUint32(s.drops, dv.getUint32(s.drops) + 7);
  }
  const counters = new ExporterCounters();
  const d = new SFlowDecoder({ counters });
  const sink = new ReusingSink();
  d.decode(p, '192.0.2.1', 0, sink);
  assert.equal(counters.get(agent, 'sequence_lost'), 0, 'no gap inside one datagram');
  d.decode(next, '192.0.2.1', 0, sink);
  let lost = 0;
  for (const [src, first] of firstSeq) lost += first + K - ((lastSeq.get(src) as number) + 1);
  assert.equal(counters.get(agent, 'sequence_lost'), lost);
  const inv = d.inventory()[0];
  assert.equal(inv.agent, agent);
  assert.equal(inv.subAgents[0].datagramsLost, 2);
  assert.equal(inv.subAgents[0].lastSequence, Number(dg['sflow_245.sequence_number']) + 3);
  assert.equal(inv.samplesLost, lost);
  assert.equal(inv.agentDrops, 7 * firstSeq.size, 'drops are cumulative per data source');
  // The original datagram arriving late takes back the losses it explains.
  d.decode(p, '192.0.2.1', 0, sink);
  assert.equal(d.inventory()[0].subAgents[0].datagramsLost, 1);
});
