// Hostile input: real frames with bytes flipped and lengths cut, 100 000 times. The meter must
// never throw, must account for every frame, and must reject the broken ones through its bounds
// checks (the catch-all safety net in FlowMeter.frame reports through onError: it must stay silent).
// Also: the table bound evicts with end_reason 'resources', timeouts split flows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FlowMeter } from '../../src/ingest/meter/meter.js';
import { readCaptureFrames } from '../../src/ingest/pcap/pcapng.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, END_REASONS } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';
import { rng } from '../helpers/rng.js';

interface Frame {
  linkType: number;
  data: Uint8Array;
  ts: number;
}

function framesOf(...names: string[]): Frame[] {
  const out: Frame[] = [];
  for (const n of names) {
    readCaptureFrames(readFileSync(dataPath('pcap', 'normal', n)), {
      frame(linkType, buf, off, end, ts) {
        out.push({ linkType, data: buf.slice(off, end), ts });
      },
    });
  }
  return out;
}

test('100k mutated frames: no throw, every frame counted, malformed ones rejected', { skip: needsData() }, () => {
  const frames = framesOf(
    'ipfixprobe-tls.pcap',
    'ipfixprobe-dns.pcap',
    'ipfixprobe-http.pcap',
    'zeek-ipv6-fragmented-dns.pcap',
    'zeek-mixed-vlan-mpls.pcap',
    'zeek-communityid-icmp6.pcap',
    'zeek-tunnel-gre.pcap',
  );
  const rand = rng(20240607);
  const errors: string[] = [];
  const sink = new CollectingSink(() => new FlowBatch(4096));
  const m = new FlowMeter({ sink, maxFlows: 5000, onError: (e) => errors.push(e) });
  const N = 100_000;
  let t = 1_700_000_000_000;
  for (let i = 0; i < N; i++) {
    const f = frames[Math.floor(rand() * frames.length)];
    const d = f.data.slice();
    const flips = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < flips; k++) {
      // Mostly in the headers, where the parser looks.
      const pos = Math.floor(rand() * Math.min(d.length, rand() < 0.8 ? 80 : d.length));
      d[pos] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
    }
    const cut = rand() < 0.2 ? Math.floor(rand() * d.length) : d.length;
    const linkType = rand() < 0.02 ? Math.floor(rand() * 300) : f.linkType;
    t += rand() * 50;
    m.packet(linkType, d.subarray(0, cut), t);
  }
  m.flush();
  assert.deepEqual(errors, []);
  assert.equal(m.stats.packets, N);
  assert.ok(m.stats.malformed > 1000, `malformed ${m.stats.malformed}`);
  assert.ok(m.stats.nonIp > 0);
  assert.equal(m.stats.active, 0);
  // Every packet that was metered is in exactly one record.
  let pk = 0;
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) pk += b.getNum(C.packets, r) + b.getNum(C.rev_packets, r);
  }
  assert.equal(pk, N - m.stats.malformed - m.stats.nonIp);
});

test('a full table evicts the least recently seen flow with end_reason resources', () => {
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const m = new FlowMeter({ sink, maxFlows: 8 });
  // Raw IPv4/UDP frames from 10.0.0.i:1000+i to 10.0.0.254:53.
  for (let i = 0; i < 20; i++) {
    const p = new Uint8Array(28);
    p.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, i, 10, 0, 0, 254]);
    p.set([(1000 + i) >> 8, (1000 + i) & 255, 0, 53, 0, 8, 0, 0], 20);
    m.packet(101, p, 1000 + i);
  }
  assert.equal(m.stats.active, 8);
  const b = sink.batches[0];
  assert.equal(b.length, 12);
  for (let r = 0; r < 12; r++) {
    assert.equal(END_REASONS[b.getNum(C.end_reason, r)], 'resources');
    assert.equal(b.getAddr(C.src_addr, r), `10.0.0.${r}`); // oldest first
  }
  m.flush();
  assert.equal(sink.rows, 20);
});

test('idle and active timeouts split a flow; the continuation keeps its orientation', () => {
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const m = new FlowMeter({ sink, idleTimeoutMs: 1000, activeTimeoutMs: 5000 });
  const pkt = (fwd: boolean) => {
    const p = new Uint8Array(28);
    const a = fwd ? 1 : 2;
    const b = fwd ? 2 : 1;
    p.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, a, 192, 0, 2, b]);
    p.set([0, fwd ? 10 : 20, 0, fwd ? 20 : 10, 0, 8, 0, 0], 20);
    return p;
  };
  // Every 500 ms for 7 s, alternating directions: one active-timeout record, then the rest.
  for (let t = 0; t <= 7000; t += 500) m.packet(101, pkt(t % 1000 === 0), 10_000 + t);
  // 2 s of silence: idle.
  m.expire(10_000 + 7000 + 2000);
  const b = sink.batches[0];
  assert.equal(b.length, 2);
  assert.deepEqual(
    [0, 1].map((r) => [
      END_REASONS[b.getNum(C.end_reason, r)],
      b.getAddr(C.src_addr, r),
      b.getNum(C.packets, r) + b.getNum(C.rev_packets, r),
    ]),
    [
      ['active', '192.0.2.1', 10],
      ['idle', '192.0.2.1', 5],
    ],
  );
});
