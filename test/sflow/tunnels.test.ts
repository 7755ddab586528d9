// Real tunnelled frames (Zeek's VXLAN and GRE captures) wrapped at test time as the sampled header of
// sFlow flow samples: the inner packet must be the flow and the outer addresses the packet context.
// The reference is tshark twice: on the synthesized sFlow capture (its sflow dissector nests the
// frame dissectors) and on the original capture (the inner addresses of each frame).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import {
  datagram,
  decodeCapture,
  flowSampleWithHeader,
  pcapFrames,
  type Row,
  sflowPcap,
  TSHARK,
  tsharkSamples,
  Xdr,
} from './helpers.js';

const skip = needsData() || needsTool('tshark', TSHARK);

const FIELDS = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ip.proto', 'ip.dsfield', 'tcp.srcport', 'tcp.dstport'];
FIELDS.push('tcp.flags', 'udp.srcport', 'udp.dstport', 'icmp.type', 'icmp.code', 'vxlan.vni', 'gre.proto');

/**
 * What tshark says each frame of the original capture must become: the MACs of the outer frame,
 * the inner IP packet as the flow (the second IP header when a VXLAN/GRE layer is present; a third
 * one would be inside an ICMP error), the outer IP addresses as pkt_src_addr/pkt_dst_addr.
 */
function tsharkFrames(pcap: string): Row[] {
  const args = ['-r', pcap, '-T', 'fields', '-E', 'occurrence=a'];
  const r = spawnSync('tshark', [...args, ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const v = Object.fromEntries(line.split('\t').map((x, i) => [FIELDS[i], x === '' ? [] : x.split(',')]));
      const e: Row = { src_mac: v['eth.src'][0], dst_mac: v['eth.dst'][0] };
      const tunnel = v['vxlan.vni'].length > 0 || v['gre.proto'].length > 0;
      const ip = tunnel && v['ip.src'].length > 1 ? 1 : 0;
      if (v['ip.src'].length === 0) return e;
      e.src_addr = v['ip.src'][ip];
      e.dst_addr = v['ip.dst'][ip];
      e.proto = Number(v['ip.proto'][ip]);
      e.tos = Number(v['ip.dsfield'][ip]);
      e.ip_version = 4;
      if (ip === 1) {
        e.pkt_src_addr = v['ip.src'][0];
        e.pkt_dst_addr = v['ip.dst'][0];
      }
      // A VXLAN frame's first UDP header is the tunnel's own; the flow's is the next one. A tunnel
      // without an inner IP packet (ARP over VXLAN) stays the flow itself.
      const udp = v['vxlan.vni'].length > 0 && ip === 1 ? 1 : 0;
      if (e.proto === 6) {
        e.src_port = Number(v['tcp.srcport'][0]);
        e.dst_port = Number(v['tcp.dstport'][0]);
        e.tcp_flags = Number(v['tcp.flags'][0]) & 0xfff;
      } else if (e.proto === 17) {
        e.src_port = Number(v['udp.srcport'][udp]);
        e.dst_port = Number(v['udp.dstport'][udp]);
      } else if (e.proto === 1) {
        e.icmp_type = Number(v['icmp.type'][0]);
        e.icmp_code = Number(v['icmp.code'][0]);
      }
      return e;
    });
}

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fw-sflow-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const name of ['zeek-tunnel-vxlan.pcap', 'zeek-tunnel-gre.pcap']) {
  test(`${name}: sampled tunnel frames decode to the inner flow`, { skip }, () => {
    const orig = dataPath('pcap', 'normal', name);
    const frames = pcapFrames(orig);
    const frameWant = tsharkFrames(orig);
    assert.equal(frameWant.length, frames.length);
    // Eight samples per datagram, as a busy agent sends them.
    const datagrams: Uint8Array[] = [];
    for (let i = 0; i < frames.length; i += 8) {
      const samples = frames.slice(i, i + 8).map((f, j) => flowSampleWithHeader(i + j + 1, 7, f));
      datagrams.push(datagram('198.51.100.7', 3, datagrams.length + 1, samples));
    }
    withTmp((dir) => {
      const file = join(dir, 'tunnel-sflow.pcap');
      writeFileSync(file, sflowPcap(datagrams));
      const want = tsharkSamples(file);
      const got = decodeCapture(file);
      assert.equal(got.rows.length, frames.length);
      assert.equal(want.length, frames.length);
      let tunnelled = 0;
      let withPorts = 0;
      want.forEach((s, i) => {
        const row = got.rows[i];
        const where = `${name} frame ${i + 1}`;
        // Datagram and sample fields from tshark's sflow dissector on the synthesized capture…
        for (const k of ['exporter', 'observation_domain', 'sequence', 'sampling_rate', 'in_if', 'out_if', 'bytes'])
          assert.equal(row[k] ?? null, s.row[k], `${where}: ${k}`);
        // …and the frame's own fields from tshark on the original capture (tshark 4.0 mis-nests a
        // VXLAN payload inside an sflow header in its tree, so the original dissection is the reference).
        const f = frameWant[i];
        for (const [k, v] of Object.entries(f)) assert.equal(row[k], v, `${where}: ${k}`);
        for (const k of ['src_port', 'dst_port', 'icmp_type', 'icmp_code', 'tcp_flags', 'pkt_src_addr', 'pkt_dst_addr'])
          if (!(k in f)) assert.equal(row[k], undefined, `${where}: ${k} must be unset`);
        if (row.pkt_src_addr !== undefined) tunnelled++;
        if (row.src_port !== undefined) withPorts++;
      });
      assert.ok(tunnelled > 0, 'some frames were tunnelled');
      if (name.includes('gre')) assert.ok(withPorts > 0, 'inner TCP/UDP ports seen through GRE');
      assert.equal(got.counters.get('198.51.100.7', 'malformed'), 0);
    });
  });
}

test('Ethernet interface counters and expanded samples match tshark', { skip: needsTool('tshark', TSHARK) }, () => {
  // Counter values chosen to differ from each other, including a 64-bit octet count above 2^32.
  const generic = new Xdr().u32(17).u32(6).u64(10_000_000_000).u32(1).u32(3).u64(5_000_000_123);
  for (let i = 0; i < 6; i++) generic.u32(1000 + i);
  generic.u64(7_777_777_777);
  for (let i = 0; i < 6; i++) generic.u32(2000 + i);
  const eth = new Xdr();
  for (let i = 0; i < 13; i++) eth.u32(300 + i * 7);
  const records = new Xdr().u32(1).opaque(generic.done()).u32(2).opaque(eth.done()).done();
  const compact = new Xdr().u32(41).u32(17).u32(2).bytes(records).done();
  const expanded = new Xdr().u32(42).u32(0).u32(17).u32(2).bytes(records).done();
  // An expanded flow sample (format 3) with a sampled IPv6 record and no header record.
  const v6 = new Xdr().u32(1500).u32(17);
  for (const w of [0x20010db8, 0, 0, 1, 0x20010db8, 0, 0, 2]) v6.u32(w);
  v6.u32(5353).u32(53).u32(0).u32(0);
  const flowRecs = new Xdr().u32(4).opaque(v6.done()).done();
  const exFlow = new Xdr()
    .u32(9)
    .u32(0)
    .u32(70000)
    .u32(100)
    .u32(900)
    .u32(0)
    .u32(0)
    .u32(70000)
    .u32(2)
    .u32(3)
    .u32(1)
    .bytes(flowRecs)
    .done();
  const samples = [
    new Xdr().u32(2).opaque(compact).done(),
    new Xdr().u32(4).opaque(expanded).done(),
    new Xdr().u32(3).opaque(exFlow).done(),
  ];
  withTmp((dir) => {
    const file = join(dir, 'counters.pcap');
    writeFileSync(file, sflowPcap([datagram('203.0.113.9', 0, 1, samples)]));
    const want = tsharkSamples(file);
    const got = decodeCapture(file);
    const ctrs = want.filter((s) => s.kind === 'counters');
    assert.equal(ctrs.length, 2);
    assert.equal(got.interfaces.length, 2);
    ctrs.forEach((s, i) => {
      const c = got.interfaces[i] as unknown as Record<string, unknown>;
      assert.ok(
        Object.keys(s.counters).some((k) => k.startsWith('ethernet.')),
        'tshark shows Ethernet counters',
      );
      for (const [k, v] of Object.entries(s.counters)) {
        const ours = k.startsWith('ethernet.') ? (c.ethernet as Record<string, unknown>)[k.slice(9)] : c[k];
        assert.equal(ours, v, `counter sample ${i}: ${k}`);
      }
    });
    const flow = want.filter((s) => s.kind === 'flow');
    assert.equal(flow.length, 1);
    assert.equal(got.rows.length, 1);
    // tshark shows the sampled IPv6 record's fields only in its text tree: check them directly.
    assert.equal(got.rows[0].src_addr, '2001:db8::1');
    assert.equal(got.rows[0].dst_addr, '2001:db8::2');
    assert.equal(got.rows[0].dst_port, 53);
    assert.equal(got.rows[0].bytes, 1500);
    assert.equal(got.rows[0].in_if, 70000);
    assert.equal(got.rows[0].out_if, undefined, 'multiple-interfaces format is not an ifIndex');
    assert.equal(got.rows[0].sampling_rate, flow[0].row.sampling_rate);
  });
});
