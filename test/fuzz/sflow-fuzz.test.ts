// Fuzz of the sFlow v5 decoder: every sFlow datagram of the corpus mutated ≥ 1 M times in total
// (the same mutations as the NetFlow/IPFIX fuzz), fed to one long-lived decoder so agent and
// sequence state accumulate as in a running collector. It must never throw, never hit a JavaScript
// error internally (decode() would count one as 'malformed', so the datagram entry point is
// watched directly), and its per-agent state must stay bounded.
//
// Size: FLOWWATCH_FUZZ=<n> (default 1M). Seed: FLOWWATCH_FUZZ_SEED (default fixed, printed).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { SFlowDecoder } from '../../src/ingest/sflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import type { BatchSink } from '../../src/pipeline/sink.js';
import { dataPath, needsData } from '../helpers/data.js';
import { mutate, rng } from './mutate.js';

const TOTAL = (() => {
  const m = /^(\d+(?:\.\d+)?)([kM]?)$/.exec(process.env.FLOWWATCH_FUZZ ?? '1M');
  if (!m) throw new Error(`FLOWWATCH_FUZZ: expected a count like 200k or 1M`);
  return Math.round(Number(m[1]) * (m[2] === 'M' ? 1e6 : m[2] === 'k' ? 1e3 : 1));
})();
const SEED = Number(process.env.FLOWWATCH_FUZZ_SEED ?? 0x5f10);

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(4096);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

const EDGE = [0, 1, 2, 3, 4, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1000, 65535, 1 << 20];

function xdrWord(src: Uint8Array, rand: () => number): { bytes: Uint8Array; what: string } {
  const b = new Uint8Array(src);
  const words = b.length >> 2;
  const n = 1 + Math.floor(rand() * 3);
  const done: string[] = [];
  for (let k = 0; k < n && words > 0; k++) {
    const w = Math.floor(rand() * words);
    const v = rand() < 0.7 ? EDGE[Math.floor(rand() * EDGE.length)] : Math.floor(rand() * 2 ** 32);
    new DataView(b.buffer).setUint32(w * 4, v >>> 0);
    done.push(`word ${w} = ${v >>> 0}`);
  }
  return { bytes: b, what: `xdr ${done.join(', ')}` };
}

function corpus(): Uint8Array[] {
  const files = [
    ...readdirSync(dataPath('netflow/akvorado/sflow')).map((f) => dataPath('netflow/akvorado/sflow', f)),
    dataPath('netflow/ndpi/sflow.pcap'),
  ];
  return files.flatMap((f) => [...readUdpPackets(readFileSync(f))].map((p) => p.payload));
}

test(`sFlow decoder survives ${TOTAL} mutated datagrams (seed ${SEED})`, { skip: needsData() }, () => {
  const packets = corpus();
  assert.ok(packets.length >= 10);
  const counters = new ExporterCounters();
  let counterSamples = 0;
  const d = new SFlowDecoder({ counters, onCounters: () => counterSamples++ });
  const caught: Error[] = [];
  const self = d as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = self.datagram;
  assert.equal(typeof orig, 'function', 'decoder has no datagram(): update the fuzz harness');
  self.datagram = function (this: unknown, ...args: unknown[]) {
    try {
      return orig.apply(this, args);
    } catch (err) {
      caught.push(err as Error);
      throw err;
    }
  };
  const sink = new ReusingSink();
  const rand = rng(SEED);
  for (let i = 0; i < TOTAL; i++) {
    const src = packets[i % packets.length];
    // Half the mutations are the generic ones; half rewrite one aligned 32-bit XDR word (every
    // count, length, format and enterprise field of sFlow is one) to an edge value.
    const m = rand() < 0.5 ? mutate(src, rand) : xdrWord(src, rand);
    try {
      d.decode(m.bytes, '192.0.2.1', i, sink);
    } catch (err) {
      assert.fail(`decode threw on mutation ${i} (${m.what}, seed ${SEED}): ${(err as Error).stack}`);
    }
    if (caught.length)
      assert.fail(
        `internal ${caught[0].name} on mutation ${i} (${m.what}, seed ${SEED}): ${caught[0].stack}\npacket ${Buffer.from(m.bytes).toString('hex')}`,
      );
  }
  // Mutated agent addresses and sub-agent ids create agents; the decoder keeps a bounded number.
  assert.ok(d.inventory().length <= 4096, `${d.inventory().length} agents held`);
  assert.ok(counters.total('malformed') > 0, 'mutations were rejected somewhere');
  assert.ok(counters.total('flows') > 0, 'and some still decoded');
});
