// IPFIX over TCP (RFC 7011 §10.4). nfcapd 1.7 listens on UDP only, so the collector here is a TCP
// server in the test that frames the stream by the message Length field and decodes each message
// with flowwatch's IPFIX decoder (which the nfcapd test and the corpus tests check against nfdump
// and tshark). Checked: every forwarded column survives the trip, templates come first on every
// connection, sequence numbers count data records, a collector that starts late still gets what
// was buffered, and a buffer that overflows counts its drops.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IpfixTcpExporter } from '../../src/forward/ipfix-exporter.js';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';
import { decodeCapture } from '../peers/nfdump.js';

const CAPTURES = [
  'netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap',
  'netflow/pmacct/501-IPFIXv10-BGP-IPv6-CISCO-MPLS/traffic-00.pcap',
  'netflow/graylog/nprobe-netflow9.pcap',
  'netflow/akvorado/netflow/nfv5.pcap',
];

// Every column the exporter maps to an IE; null compares as the zero IPFIX has to send instead.
const NUMS = [
  C.time_start,
  C.time_end,
  C.src_port,
  C.dst_port,
  C.proto,
  C.bytes,
  C.packets,
  C.tcp_flags,
  C.tos,
  C.in_if,
  C.out_if,
  C.src_asn,
  C.dst_asn,
  C.src_mask,
  C.dst_mask,
  C.vlan,
  C.src_mac,
  C.dst_mac,
  C.icmp_type,
  C.icmp_code,
  C.ip_version,
  C.end_reason,
  C.rev_bytes,
  C.rev_packets,
];
const ADDRS = [C.src_addr, C.dst_addr, C.next_hop, C.pkt_src_addr, C.pkt_dst_addr];

function fullLine(b: FlowBatch, r: number): string {
  const parts: (string | number)[] = [];
  for (const c of ADDRS) {
    const a = b.getAddr(c, r);
    parts.push(a === null || a === '0.0.0.0' || a === '::' ? '-' : a);
  }
  for (const c of NUMS) parts.push(b.valid[c][r] ? b.data[c][r] : 0);
  return parts.join(' ');
}

interface Collector {
  port: number;
  /** Messages as received, one Buffer each. */
  messages: Buffer[][];
  rows: string[];
  decoded: FlowBatch[];
  close(): Promise<void>;
}

/** A TCP IPFIX collector on `port` (0: any free port). Each connection's messages are kept apart. */
async function collector(port = 0): Promise<Collector> {
  const dec = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const c: Collector = {
    port: 0,
    messages: [],
    rows: [],
    decoded: sink.batches,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const mine: Buffer[] = [];
    c.messages.push(mine);
    let pending = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      // RFC 7011 §10.4.1: the stream is a sequence of messages, each framed by its Length field.
      while (pending.length >= 4) {
        const len = pending.readUInt16BE(2);
        if (pending.length < len) break;
        const msg = pending.subarray(0, len);
        pending = pending.subarray(len);
        mine.push(Buffer.from(msg));
        dec.decode(msg, '127.0.0.1', Date.now(), sink);
      }
    });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  c.port = (server.address() as net.AddressInfo).port;
  return c;
}

function linesOf(batches: FlowBatch[]): string[] {
  const out: string[] = [];
  for (const b of batches) for (let r = 0; r < b.length; r++) out.push(fullLine(b, r));
  return out.sort();
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (let t = 0; t < ms && !cond(); t += 20) await sleep(20);
}

describe('IPFIX over TCP', { skip: needsData() }, () => {
  const batches = CAPTURES.flatMap((cap) => decodeCapture(readFileSync(dataPath(cap)), 128));
  const want = linesOf(batches);
  const total = want.length;
  assert.ok(total > 100, `${total} flows decoded from the corpus`);

  test('every forwarded column arrives; templates first; sequence numbers count data records', async () => {
    const col = await collector();
    const exp = new IpfixTcpExporter({ host: '127.0.0.1', port: col.port, observationDomain: 42 });
    await until(() => exp.isConnected);
    for (const b of batches) exp.write(b, null, b.length);
    await until(() => linesOf(col.decoded).length >= total);
    await exp.stop();
    await col.close();
    assert.deepEqual(linesOf(col.decoded), want);
    assert.equal(col.messages.length, 1, 'one connection');
    const msgs = col.messages[0];
    // The first message of the connection holds only a template set (set id 2).
    assert.equal(msgs[0].readUInt16BE(16), 2);
    assert.equal(msgs[0].readUInt16BE(2), msgs[0].length);
    let expectSeq = 0;
    const dec = new FlowExportDecoder({ counters: new ExporterCounters() });
    const sink = new CollectingSink(() => new FlowBatch(1024));
    for (const m of msgs) {
      assert.equal(m.readUInt16BE(0), 10);
      assert.equal(m.readUInt32BE(12), 42, 'observation domain');
      assert.equal(m.readUInt32BE(8), expectSeq, 'RFC 7011 §3.1: data records sent before this message');
      expectSeq += dec.decode(m, 'x', 0, sink);
    }
    assert.equal(expectSeq, total);
    assert.equal(exp.counters.rows_sent, total);
    assert.equal(exp.counters.connects, 1);
  });

  test('a collector that starts late gets the buffered rows, after the templates', async () => {
    const probe = await collector();
    const port = probe.port;
    await probe.close();
    const exp = new IpfixTcpExporter({ host: '127.0.0.1', port, reconnectMs: 50, reconnectMaxMs: 100 });
    for (const b of batches) exp.write(b, null, b.length);
    await sleep(150);
    assert.equal(exp.isConnected, false);
    assert.equal(exp.counters.rows_queued, total);
    assert.ok(exp.counters.send_errors >= 1, 'refused connections are counted');
    const col = await collector(port);
    await until(() => linesOf(col.decoded).length >= total);
    await exp.stop();
    await col.close();
    assert.deepEqual(linesOf(col.decoded), want);
    assert.equal(col.messages[0][0].readUInt16BE(16), 2, 'templates before the buffered data');
    assert.equal(exp.counters.rows_dropped_buffer_full, 0);
  });

  test('with the collector away, a full buffer drops and counts', async () => {
    const probe = await collector();
    const port = probe.port;
    await probe.close();
    const exp = new IpfixTcpExporter({ host: '127.0.0.1', port, maxBufferBytes: 4096, maxMessageBytes: 1024 });
    for (const b of batches) exp.write(b, null, b.length);
    const c = exp.counters;
    assert.ok(c.rows_dropped_buffer_full > 0);
    assert.equal(c.rows_queued + c.rows_dropped_buffer_full, total);
    await exp.stop(100);
    assert.equal(c.rows_dropped_buffer_full + c.rows_dropped_undeliverable, total);
    assert.equal(c.rows_sent, 0);
  });
});
