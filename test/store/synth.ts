// Synthetic NetFlow v9-shaped batches for the store's tests and benchmark, modelled on
// ../shared/bench/flowgen.js: 20 k internal 10.x hosts and 100 k public hosts with Zipf
// popularity, a realistic service/port mix, log-normal packet counts, the 18 fields of
// flowgen's v9 template plus what the decoder adds (source_type, exporter, sequence, times).
// Deterministic for a seed; time_start advances at `flowsPerSecond` of virtual time.

import type { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';

import { rng } from '../helpers/rng.js';

function zipf(n: number, s: number, r: () => number): () => number {
  const cum = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / (i + 1) ** s;
    cum[i] = acc;
  }
  return () => {
    const x = r() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

// proto, port (0: random high), weight, median packets, bytes/packet
const SERVICES: [number, number, number, number, number][] = [
  [6, 443, 38, 18, 700],
  [17, 443, 8, 25, 900],
  [6, 80, 7, 12, 650],
  [17, 53, 18, 1, 110],
  [17, 123, 2, 1, 76],
  [6, 22, 1.5, 40, 140],
  [6, 25, 0.7, 15, 400],
  [6, 993, 0.8, 20, 500],
  [6, 3389, 0.4, 200, 400],
  [6, 8080, 5, 10, 500],
  [17, 0, 5, 30, 300],
  [6, 0, 7, 8, 400],
  [1, 0, 3, 4, 84],
];
const SVC_CUM = (() => {
  const t = SERVICES.reduce((a, s) => a + s[2], 0);
  let c = 0;
  return SERVICES.map((s) => (c += s[2] / t));
})();

export interface SynthOptions {
  seed?: number;
  startMs?: number;
  flowsPerSecond?: number;
  batchSize?: number;
}

export class SynthFlows {
  private readonly r: () => number;
  private readonly intHosts = new Uint32Array(20_000);
  private readonly extHosts = new Uint32Array(100_000);
  private readonly zInt: () => number;
  private readonly zExt: () => number;
  private n = 0;
  private seq = 0;
  private readonly startMs: number;
  private readonly rate: number;
  readonly batchSize: number;

  constructor(o: SynthOptions = {}) {
    this.r = rng(o.seed ?? 42);
    this.startMs = o.startMs ?? Date.UTC(2024, 2, 1);
    this.rate = o.flowsPerSecond ?? 20_000;
    this.batchSize = o.batchSize ?? 8192;
    const r = this.r;
    for (let i = 0; i < this.intHosts.length; i++)
      this.intHosts[i] = ((10 << 24) | (Math.floor(r() * 65536) << 8) | (1 + Math.floor(r() * 254))) >>> 0;
    for (let i = 0; i < this.extHosts.length; i++) this.extHosts[i] = (0x0b000000 + Math.floor(r() * 0xc0000000)) >>> 0;
    this.zInt = zipf(this.intHosts.length, 1.05, r);
    this.zExt = zipf(this.extHosts.length, 1.0, r);
  }

  /** Fill `b` (reset first) with up to `count` flows; returns the number written. */
  fill(b: FlowBatch, count = b.capacity): number {
    b.reset();
    const r = this.r;
    for (let k = 0; k < count && !b.full; k++) {
      const row = b.addRow();
      const i = this.n++;
      let s = 0;
      const x = r();
      while (SVC_CUM[s] < x) s++;
      const [proto, port0, , pk, bpp] = SERVICES[s];
      const port = port0 === 0 ? (proto === 1 ? 0 : 10000 + Math.floor(r() * 51000)) : port0;
      const inside = this.intHosts[this.zInt()];
      const outside = this.extHosts[this.zExt()];
      const outbound = r() < 0.55;
      const t = this.startMs + Math.floor((i * 1000) / this.rate) - Math.floor(r() * 2000);
      const packets = Math.max(1, Math.round(pk * Math.exp(1.2 * (r() + r() + r() - 1.5))));
      const bytes = packets * Math.max(40, Math.round(bpp * (0.6 + r() * 0.8)));
      b.setNum(C.time_start, row, t);
      b.setNum(C.time_end, row, t + Math.floor(r() * 30_000));
      b.setNum(C.time_received, row, t + 30_000 + Math.floor(r() * 500));
      b.setNum(C.source_type, row, 2); // netflow9
      b.setString(C.exporter, row, '127.0.0.1');
      b.setNum(C.observation_domain, row, 0);
      if (k % 27 === 0) this.seq++;
      b.setNum(C.sequence, row, this.seq);
      b.setIPv4(C.src_addr, row, outbound ? inside : outside);
      b.setIPv4(C.dst_addr, row, outbound ? outside : inside);
      const eph = 32768 + Math.floor(r() * 28000);
      b.setNum(C.src_port, row, outbound ? eph : port);
      b.setNum(C.dst_port, row, outbound ? port : eph);
      b.setNum(C.proto, row, proto);
      b.setNum(C.bytes, row, bytes);
      b.setNum(C.packets, row, packets);
      b.setNum(C.tcp_flags, row, proto === 6 ? (r() < 0.9 ? 0x1b : 0x02) : 0);
      b.setNum(C.tos, row, r() < 0.05 ? 0xb8 : 0);
      b.setNum(C.ip_version, row, 4);
      b.setNum(C.in_if, row, outbound ? 2 : 1);
      b.setNum(C.out_if, row, outbound ? 1 : 2);
      b.setIPv4(C.next_hop, row, outbound ? 0xc0a80101 : 0x0a000001);
      b.setNum(C.src_mask, row, outbound ? 16 : 24);
      b.setNum(C.dst_mask, row, outbound ? 24 : 16);
      b.setNum(C.src_asn, row, outbound ? 64512 : 1000 + (outside % 3000));
      b.setNum(C.dst_asn, row, outbound ? 1000 + (outside % 3000) : 64512);
      b.setNum(C.sampling_rate, row, 1);
    }
    return b.length;
  }
}
