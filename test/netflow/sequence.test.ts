// Export sequence numbers turned into per-exporter loss counts. The expected losses come from
// the export headers themselves (RFC 3954 §5.1: v9 counts export packets per source id; RFC 7011
// §3.1: IPFIX counts data records per observation domain; v5 counts flows), read here with plain
// byte arithmetic, independently of the decoder.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { dataPath, needsData, REPO_ROOT } from '../helpers/data.js';

const FLOWGEN = join(REPO_ROOT, '..', 'shared', 'bench', 'flowgen.js');
const skip = needsData();

function payloads(file: string): Uint8Array[] {
  return [...readUdpPackets(readFileSync(file))].map((p) => p.payload);
}

function lost(packets: Uint8Array[]): { lost: number; flows: number } {
  const counters = new ExporterCounters();
  const d = new FlowExportDecoder({ counters });
  const sink = new CollectingSink(() => new FlowBatch(4096));
  let t = 0;
  for (const p of packets) d.decode(p, '192.0.2.7', t++, sink);
  return { lost: counters.get('192.0.2.7', 'sequence_lost'), flows: sink.rows };
}

const u32 = (p: Uint8Array, o: number) => ((p[o] << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3]) >>> 0;
const u16 = (p: Uint8Array, o: number) => (p[o] << 8) | p[o + 1];

test('NetFlow v5: a missing export packet is lost flows; a late one gives them back', { skip }, () => {
  const [a, b, c] = payloads(dataPath('netflow/graylog/pmacctd-netflow5.pcap'));
  // v5 header: flow_sequence at byte 16, count at byte 2.
  assert.equal(u32(c, 16) - u32(a, 16), u16(a, 2) + u16(b, 2));
  assert.equal(lost([a, b, c]).lost, 0);
  assert.equal(lost([a, c]).lost, u16(b, 2));
  assert.equal(lost([a, c, b]).lost, 0, 'reordered, not lost');
});

function generated(proto: 'v9' | 'ipfix'): Uint8Array[] {
  const out = join(mkdtempSync(join(tmpdir(), 'fw-seq-')), `${proto}.pcap`);
  execFileSync(process.execPath, [FLOWGEN, 'gen', '--proto', proto, '--flows', '20000', '--seed', '11', '--out', out]);
  return payloads(out);
}

/** Indexes of packets that carry data sets only (dropping a template would cause other losses). */
function dataOnly(packets: Uint8Array[], headerLen: number, templateSetIds: number[]): number[] {
  const out: number[] = [];
  packets.forEach((p, i) => {
    for (let o = headerLen; o + 4 <= p.length; ) {
      const id = u16(p, o);
      const len = u16(p, o + 2);
      if (templateSetIds.includes(id) || len < 4) return;
      o += len;
    }
    if (i > 0) out.push(i);
  });
  return out;
}

test('NetFlow v9: loss counts missing export packets per source id', { skip }, () => {
  const packets = generated('v9');
  const candidates = dataOnly(packets, 20, [0, 1]);
  const drop = new Set([candidates[3], candidates[10], candidates[11], candidates[40]]);
  const kept = packets.filter((_, i) => !drop.has(i));
  // v9 header: sequence at byte 12; the exporter numbers its packets 1 apart.
  const last = packets[packets.length - 1];
  assert.equal(u32(last, 12) - u32(packets[0], 12), packets.length - 1);
  const r = lost(kept);
  assert.equal(r.lost, drop.size);
  assert.equal(lost(packets).lost, 0);
});

test('IPFIX: loss counts missing data records per observation domain', { skip }, () => {
  const packets = generated('ipfix');
  const candidates = dataOnly(packets, 16, [2, 3]);
  const drop = [candidates[5], candidates[6], candidates[30]];
  // IPFIX header: sequence at byte 8 = data records sent before this message, so a dropped
  // message's records are the difference to the next message's sequence number.
  const expected = drop.reduce((a, i) => a + (u32(packets[i + 1], 8) - u32(packets[i], 8)), 0);
  assert.ok(expected > 0);
  const dropped = new Set(drop);
  const all = lost(packets);
  const r = lost(packets.filter((_, i) => !dropped.has(i)));
  assert.equal(all.lost, 0);
  assert.equal(r.lost, expected);
  assert.equal(all.flows - r.flows, expected, 'what was lost is exactly what was not decoded');
});

test('a corrupted sequence number is not counted as loss once the next packets contradict it', { skip }, () => {
  for (const [proto, off] of [
    ['v9', 12],
    ['ipfix', 8],
  ] as const) {
    const packets = generated(proto);
    const k = dataOnly(packets, proto === 'v9' ? 20 : 16, proto === 'v9' ? [0, 1] : [2, 3])[7];
    const corrupt = packets.map((p, i) => {
      if (i !== k) return p;
      const c = new Uint8Array(p);
      new DataView(c.buffer).setUint32(off, (u32(p, off) + 500_000) >>> 0);
      return c;
    });
    assert.equal(lost(corrupt).lost, 0, proto);
    // and a real gap after it still counts
    const dropped = corrupt.filter((_, i) => i !== k + 5);
    const expected = proto === 'v9' ? 1 : u32(packets[k + 6], off) - u32(packets[k + 5], off);
    assert.equal(lost(dropped).lost, expected, `${proto}: a real gap after the corrupted packet`);
  }
});
