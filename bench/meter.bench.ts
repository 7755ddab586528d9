// Packet capture → flows on one core. The Ethernet frames of every corpus capture (DNS, TLS, HTTP,
// QUIC, NTP, WireGuard, OpenVPN, SSH, ICMP, VLAN/MPLS, IPv6 fragments, tunnels) are replayed many
// times into one in-memory pcap file: each replica shifts the IPv4 addresses (second octet of
// source and destination) or the IPv6 addresses (byte 5) so that it makes its own flows, and the
// timestamps run at 100 k packets/s. meterCapture reads the file and meters it with DPI on, into a
// reused FlowBatch. Target (issue 4): ≥ 1 M packets/s.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { meterCapture } from '../src/ingest/meter/meter.js';
import { readCaptureFrames } from '../src/ingest/pcap/pcapng.js';
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

function corpusFrames(): Uint8Array[] {
  const dir = join(DATA, 'pcap', 'normal');
  const frames: Uint8Array[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!/\.pcap(ng)?$/.test(f)) continue;
    readCaptureFrames(readFileSync(join(dir, f)), {
      frame(linkType, buf, off, end) {
        if (linkType === 1) frames.push(buf.slice(off, end));
      },
    });
  }
  return frames;
}

/** A classic little-endian µs pcap of `packets` frames replayed from `frames`. */
export function syntheticCapture(frames: Uint8Array[], packets: number): Uint8Array {
  let bytes = 24;
  for (let i = 0; i < packets; i++) bytes += 16 + frames[i % frames.length].length;
  const out = new Uint8Array(bytes);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 1, true);
  let off = 24;
  const t0 = 1_700_000_000 * 1e6;
  for (let i = 0; i < packets; i++) {
    const f = frames[i % frames.length];
    const replica = Math.floor(i / frames.length);
    const us = t0 + i * 10;
    dv.setUint32(off, Math.floor(us / 1e6), true);
    dv.setUint32(off + 4, us % 1e6, true);
    dv.setUint32(off + 8, f.length, true);
    dv.setUint32(off + 12, f.length, true);
    out.set(f, off + 16);
    shiftAddresses(out, off + 16, off + 16 + f.length, replica);
    off += 16 + f.length;
  }
  return out;
}

function shiftAddresses(b: Uint8Array, off: number, end: number, replica: number): void {
  let p = off + 12;
  let et = (b[p] << 8) | b[p + 1];
  p += 2;
  while ((et === 0x8100 || et === 0x88a8) && p + 4 <= end) {
    et = (b[p + 2] << 8) | b[p + 3];
    p += 4;
  }
  const r1 = replica & 255;
  const r2 = (replica >> 8) & 255;
  if (et === 0x0800 && p + 20 <= end) {
    b[p + 13] ^= r1;
    b[p + 17] ^= r1;
    b[p + 14] ^= r2;
    b[p + 18] ^= r2;
  } else if (et === 0x86dd && p + 40 <= end) {
    b[p + 8 + 5] ^= r1;
    b[p + 24 + 5] ^= r1;
    b[p + 8 + 6] ^= r2;
    b[p + 24 + 6] ^= r2;
  }
}

export async function run(): Promise<BenchResult[]> {
  const frames = corpusFrames();
  const packets = 400_000;
  const cap = syntheticCapture(frames, packets);
  const sink = new ReusingSink();
  let flows = 0;
  const results: BenchResult[] = [];
  for (const dpi of [true, false]) {
    const s = measure(() => {
      flows = meterCapture(cap, { sink, dpi }).stats.flowsEmitted;
    }, 3000);
    results.push({
      name: `meter pcap → flows${dpi ? ' (DPI on)' : ' (DPI off)'}`,
      value: Math.round(packets / s),
      unit: 'packets/s',
      detail: `${packets} packets (${(cap.length / 1e6).toFixed(0)} MB, ${frames.length} corpus frames × ${Math.ceil(packets / frames.length)}), ${flows} flows, ${(s * 1000).toFixed(0)} ms`,
    });
  }
  return results;
}
