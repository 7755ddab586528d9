// Shared pieces of the sFlow tests: tshark's sflow dissector as the independent reference (what it
// says about each sample, in flowwatch column names), capture files in and out, and a datagram
// builder for tests that wrap real frames in sFlow at test time.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { type InterfaceCounters, SFlowDecoder } from '../../src/ingest/sflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { dataPath } from '../helpers/data.js';
import { rowObject as sharedRowObject } from '../helpers/rows.js';

export type Row = Record<string, string | number | null>;
type Json = { [k: string]: Json } | string | Json[];
type Obj = { [k: string]: Json };

/** Every sFlow capture of the shared corpus. */
export function sflowCaptures(): string[] {
  const dir = dataPath('netflow', 'akvorado', 'sflow');
  return [...readdirSync(dir).map((f) => join(dir, f)), dataPath('netflow', 'ndpi', 'sflow.pcap')];
}

export interface Decoded {
  rows: Row[];
  counters: ExporterCounters;
  interfaces: InterfaceCounters[];
  decoder: SFlowDecoder;
}

/** Decode every UDP payload of a capture (or the given payloads) with a fresh decoder. */
export function decodeCapture(file: string | Buffer): Decoded {
  const buf = typeof file === 'string' ? readFileSync(file) : file;
  const counters = new ExporterCounters();
  const interfaces: InterfaceCounters[] = [];
  const decoder = new SFlowDecoder({ counters, onCounters: (c) => interfaces.push(c) });
  const sink = new CollectingSink(() => new FlowBatch(256));
  for (const p of readUdpPackets(buf)) decoder.decode(p.payload, p.srcAddr, p.tsMs, sink);
  const rows: Row[] = [];
  for (const b of sink.batches) for (let r = 0; r < b.length; r++) rows.push(rowObject(b, r));
  return { rows, counters, interfaces, decoder };
}

export function rowObject(b: FlowBatch, r: number): Row {
  return sharedRowObject(b, r, { omitNulls: true });
}

/** Compare the columns tshark speaks for; the rest of the row must be what flowwatch always sets. */
export function assertRowMatches(got: Row, want: Row, where: string): void {
  for (const [k, v] of Object.entries(want)) assert.equal(got[k] ?? null, v, `${where}: ${k}`);
  // Columns flowwatch fills that tshark does not name must not appear from nowhere.
  const always = new Set(['time_start', 'time_end', 'time_received', 'source_type', 'packets']);
  for (const k of Object.keys(got)) {
    if (always.has(k) || k in want) continue;
    assert.fail(`${where}: flowwatch set ${k}=${got[k]} which tshark does not show`);
  }
  assert.equal(got.source_type, 'sflow', where);
  assert.equal(got.time_start, got.time_received, where);
  assert.equal(got.time_end, got.time_received, where);
}

// ---- tshark

export const TSHARK = (() => {
  try {
    return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
})();

export interface TsharkSample {
  kind: 'flow' | 'counters';
  /** For flow samples: the row flowwatch must produce (only the columns tshark can speak for). */
  row: Row;
  /** For counter samples: the generic/Ethernet counters in InterfaceCounters names. */
  counters: Record<string, number | boolean | string | null>;
  /** Flow sample sequence, source id and cumulative drops (for the sequence tests). */
  sampleSeq: number;
  source: string;
  drops: number;
}

/** The sflow layers of every packet of `pcap`, sFlow decoded on `port`. */
export function tsharkSflow(pcap: string, port = 6343): Obj[] {
  const r = spawnSync('tshark', ['-r', pcap, '-d', `udp.port==${port},sflow`, '-T', 'json', '--no-duplicate-keys'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`tshark failed on ${pcap}: ${r.stderr}`);
  const packets = JSON.parse(r.stdout) as { _source: { layers: Obj } }[];
  return packets.map((p) => p._source.layers.sflow as Obj).filter((s) => s !== undefined);
}

/** Samples tshark dissects, in datagram order, with what each must become. */
export function tsharkSamples(pcap: string, port = 6343): TsharkSample[] {
  const out: TsharkSample[] = [];
  for (const dg of tsharkSflow(pcap, port)) {
    for (const [k, v] of Object.entries(dg)) {
      if (!/sample, seq \d+$/.test(k)) continue;
      for (const s of Array.isArray(v) ? v : [v]) out.push(sampleOf(dg, s as Obj));
    }
  }
  return out;
}

function str(o: Json | undefined, k: string): string | undefined {
  if (o === undefined || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const v = o[k];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return str1(v[v.length - 1]);
  return str1(v);
}
function str1(v: Json): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(o: Json | undefined, k: string): number | undefined {
  const s = str(o, k);
  return s === undefined ? undefined : Number(s);
}
/** A child node; when tshark repeated the key, the first (`first`) or last occurrence. */
function node(o: Json | undefined, k: string, first = false): Obj | undefined {
  if (o === undefined || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const v = o[k];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return (first ? v[0] : v[v.length - 1]) as Obj;
  return typeof v === 'object' ? (v as Obj) : undefined;
}
function list(o: Json | undefined, k: string): Json[] {
  if (o === undefined || typeof o !== 'object' || Array.isArray(o)) return [];
  const v = o[k];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The flowwatch reading of an sFlow interface value (decoder.ts header comment). */
function iface(fmt: number, val: number): { ifIndex: number | null; discarded: boolean } {
  if (fmt === 0) return { ifIndex: val === 0x3fffffff ? 0 : val, discarded: false };
  return { ifIndex: null, discarded: fmt === 1 };
}

function sampleOf(dg: Obj, s: Obj): TsharkSample {
  const type = num(s, 'sflow_245.sampletype');
  const base = {
    sampleSeq: num(s, 'sflow.flow_sample.sequence_number') ?? num(s, 'sflow.counters_sample.sequence_number') ?? -1,
    drops: num(s, 'sflow.flow_sample.dropped_packets') ?? 0,
    source: '',
  };
  if (type === 2 || type === 4) {
    const g = node(s, 'Generic interface counters');
    const e = node(s, 'Ethernet interface counters');
    const c: Record<string, number | boolean | string | null> = {
      agent: str(dg, 'sflow_245.agent') ?? null,
      subAgentId: num(dg, 'sflow_245.sub_agent_id') ?? null,
      uptimeMs: num(dg, 'sflow_245.sysuptime') ?? null,
      sequence: num(s, 'sflow.counters_sample.sequence_number') ?? null,
      sourceIdType: num(s, 'sflow.counters_sample.source_id_type') ?? null,
      sourceIdIndex: num(s, 'sflow.counters_sample.source_id_index') ?? null,
    };
    const gen: [string, string][] = [
      ['ifIndex', 'ifindex'],
      ['ifType', 'iftype'],
      ['ifSpeed', 'ifspeed'],
      ['ifDirection', 'ifdirection'],
      ['ifInOctets', 'ifinoct'],
      ['ifInUcastPkts', 'ifinpkt'],
      ['ifInMulticastPkts', 'ifinmcast'],
      ['ifInBroadcastPkts', 'ifinbcast'],
      ['ifInDiscards', 'ifindisc'],
      ['ifInErrors', 'ifinerr'],
      ['ifInUnknownProtos', 'ifinunk'],
      ['ifOutOctets', 'ifoutoct'],
      ['ifOutUcastPkts', 'ifoutpkt'],
      ['ifOutMulticastPkts', 'ifoutmcast'],
      ['ifOutBroadcastPkts', 'ifoutbcast'],
      ['ifOutDiscards', 'ifoutdisc'],
      ['ifOutErrors', 'ifouterr'],
      ['ifPromiscuousMode', 'ifpromisc'],
    ];
    for (const [ours, theirs] of gen) c[ours] = num(g, `sflow_245.${theirs}`) ?? null;
    c.ifAdminUp = num(g, 'sflow_245.ifadmin_status') === 1;
    c.ifOperUp = num(g, 'sflow_245.ifoper_status') === 1;
    if (e !== undefined) {
      for (const [k] of Object.entries(e)) {
        const m = /^sflow_245\.(dot3Stats\w+)$/.exec(k);
        if (m) c[`ethernet.${m[1]}`] = num(e, k) ?? null;
      }
    }
    return { kind: 'counters', row: {}, counters: c, ...base };
  }

  const e: Row = {};
  e.exporter = str(dg, 'sflow_245.agent') ?? null;
  e.observation_domain = num(dg, 'sflow_245.sub_agent_id') ?? null;
  e.sequence = num(dg, 'sflow_245.sequence_number') ?? null;
  e.sampling_rate = num(s, 'sflow.flow_sample.sampling_rate') ?? null;
  e.packets = 1;
  let input: ReturnType<typeof iface>;
  let output: ReturnType<typeof iface>;
  if (type === 3) {
    base.source = `${num(s, 'sflow.flow_sample.source_id_type')}:${num(s, 'sflow.flow_sample.source_id_index')}`;
    input = iface(
      num(s, 'sflow.flow_sample.input_interface_format') ?? -1,
      num(s, 'sflow.flow_sample.input_interface_value') ?? -1,
    );
    output = iface(
      num(s, 'sflow.flow_sample.output_interface.format') ?? -1,
      num(s, 'sflow.flow_sample.output_interface_value') ?? -1,
    );
  } else {
    base.source = `${num(s, 'sflow.flow_sample.source_id_class')}:${num(s, 'sflow.flow_sample.index')}`;
    const i = num(s, 'sflow.flow_sample.input_interface') ?? -1;
    input = iface(i >>> 30, i & 0x3fffffff);
    const ot = node(s, 'sflow.flow_sample.output_interface_tree');
    output = iface(
      num(ot, 'sflow.flow_sample.output_interface_format') ?? -1,
      num(ot, 'sflow.flow_sample.output_interface_value') ?? -1,
    );
  }
  if (input.ifIndex !== null) e.in_if = input.ifIndex;
  if (output.ifIndex !== null) e.out_if = output.ifIndex;
  if (output.discarded) e.action = 'reject';

  const hdr = node(s, 'Raw packet header');
  let hdrVlan: number | undefined;
  if (hdr !== undefined) {
    e.bytes = num(hdr, 'sflow_245.header.frame_length') ?? null;
    hdrVlan = headerFields(node(hdr, 'sflow_245.header_tree'), e);
  } else {
    const eth = node(s, 'Ethernet frame data');
    if (eth !== undefined) {
      e.bytes = num(eth, 'sflow_245.ethernet.length') ?? null;
      e.src_mac = str(eth, 'sflow_245.ethernet.source_mac_address') ?? null;
      e.dst_mac = str(eth, 'sflow_245.ethernet.destination_mac_address') ?? null;
    }
    const v4 = node(s, 'IPv4 data');
    if (v4 !== undefined) {
      e.bytes ??= num(v4, 'sflow_245.ip.length') ?? null;
      e.ip_version = 4;
      e.src_addr = str(v4, 'sflow_245.ipv4_src') ?? null;
      e.dst_addr = str(v4, 'sflow_245.ipv4_dst') ?? null;
      e.proto = num(v4, 'sflow.ip_protocol') ?? null;
      e.src_port = num(v4, 'sflow_245.ip.source_port') ?? null;
      e.dst_port = num(v4, 'sflow.ip.destination_port') ?? null;
    }
  }
  const sw = node(s, 'Extended switch data');
  const okVlan = (v: number | undefined) => v !== undefined && v > 0 && v < 4095;
  const vin = num(sw, 'sflow_245.vlan.in');
  const vout = num(sw, 'sflow_245.vlan.out');
  const vlan = okVlan(vin) ? vin : okVlan(hdrVlan) ? hdrVlan : okVlan(vout) ? vout : undefined;
  if (vlan !== undefined) e.vlan = vlan;
  const rt = node(s, 'Extended router data');
  if (rt !== undefined) {
    e.next_hop = str(rt, 'sflow_245.nexthop') ?? null;
    e.src_mask = num(rt, 'sflow_245.nexthop.src_mask') ?? null;
    e.dst_mask = num(rt, 'sflow_245.nexthop.dst_mask') ?? null;
  }
  const gw = node(s, 'Extended gateway data');
  if (gw !== undefined) {
    if (rt === undefined) e.next_hop = str(gw, 'sflow_245.nexthop') ?? null;
    e.src_asn = num(gw, 'sflow_245.srcAS') ?? null;
    // The AS path segments (not the communities, which this tshark also labels dstAS).
    const segs = list(gw, 'sflow.as_type_tree');
    let origin = num(gw, 'sflow_245.as') ?? null;
    for (const seg of segs) {
      const ases = list(seg, 'sflow_245.dstAS');
      if (ases.length > 0) origin = Number(ases[ases.length - 1]);
    }
    e.dst_asn = origin;
  }
  return { kind: 'flow', row: e, counters: {}, ...base };
}

/** Fields of the sampled header as tshark's nested dissectors see them; returns the first VLAN id. */
function headerFields(t: Obj | undefined, e: Row): number | undefined {
  if (t === undefined) return undefined;
  const eth = node(t, 'eth', true);
  if (eth !== undefined) {
    e.src_mac = str(eth, 'eth.src') ?? null;
    e.dst_mac = str(eth, 'eth.dst') ?? null;
  }
  const vlan = node(t, 'vlan', true);
  const tunnel = t.vxlan !== undefined || t.gre !== undefined;
  // Outer and inner IP layers, in order (tshark repeats the key for a tunnel's inner packet).
  const ips: { v: number; o: Obj }[] = [];
  for (const [k, v] of Object.entries(t)) {
    if (k !== 'ip' && k !== 'ipv6') continue;
    for (const o of Array.isArray(v) ? v : [v]) ips.push({ v: k === 'ip' ? 4 : 6, o: o as Obj });
  }
  // Key order loses the interleaving of ip and ipv6; a tunnel in this corpus never mixes them.
  const inner = tunnel ? ips[ips.length - 1] : ips[0];
  const outer = tunnel && ips.length > 1 ? ips[0] : undefined;
  if (outer !== undefined) {
    const p = outer.v === 4 ? 'ip' : 'ipv6';
    e.pkt_src_addr = str(outer.o, `${p}.src`) ?? null;
    e.pkt_dst_addr = str(outer.o, `${p}.dst`) ?? null;
  }
  if (inner !== undefined) {
    const p = inner.v === 4 ? 'ip' : 'ipv6';
    e.ip_version = inner.v;
    e.src_addr = str(inner.o, `${p}.src`) ?? null;
    e.dst_addr = str(inner.o, `${p}.dst`) ?? null;
    e.tos = inner.v === 4 ? Number(str(inner.o, 'ip.dsfield')) : Number(str(inner.o, 'ipv6.tclass'));
    const proto = inner.v === 4 ? num(inner.o, 'ip.proto') : lastNxt(inner.o);
    e.proto = proto ?? null;
    const l4 = (k: string) => node(t, k);
    if (proto === 6 && l4('tcp')) {
      e.src_port = num(l4('tcp'), 'tcp.srcport') ?? null;
      e.dst_port = num(l4('tcp'), 'tcp.dstport') ?? null;
      const f = str(l4('tcp'), 'tcp.flags');
      if (f !== undefined) e.tcp_flags = Number(f) & 0xfff;
    } else if (proto === 17 && l4('udp')) {
      e.src_port = num(l4('udp'), 'udp.srcport') ?? null;
      e.dst_port = num(l4('udp'), 'udp.dstport') ?? null;
    } else if (proto === 1 && l4('icmp')) {
      e.icmp_type = num(l4('icmp'), 'icmp.type') ?? null;
      e.icmp_code = num(l4('icmp'), 'icmp.code') ?? null;
    } else if (proto === 58 && l4('icmpv6')) {
      e.icmp_type = num(l4('icmpv6'), 'icmpv6.type') ?? null;
      e.icmp_code = num(l4('icmpv6'), 'icmpv6.code') ?? null;
    }
  }
  return vlan === undefined ? undefined : num(vlan, 'vlan.id');
}

/** IPv6 protocol after the extension headers tshark dissected. */
function lastNxt(o: Obj): number | undefined {
  let nxt = num(o, 'ipv6.nxt');
  for (const [k, v] of Object.entries(o)) {
    if (!k.startsWith('ipv6.') || typeof v !== 'object' || Array.isArray(v)) continue;
    const n = str(v as Obj, 'ipv6.nxt');
    if (n !== undefined) nxt = Number(n);
  }
  return nxt;
}

// ---- capture files

/** Raw link-layer frames of a classic pcap (both byte orders). */
export function pcapFrames(file: string): Buffer[] {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const rd = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const frames: Buffer[] = [];
  for (let p = 24; p + 16 <= buf.length; ) {
    const incl = rd(p + 8);
    frames.push(buf.subarray(p + 16, p + 16 + incl));
    p += 16 + incl;
  }
  return frames;
}

/** A classic pcap of Ethernet/IPv4/UDP frames from `from` to port 6343 carrying `datagrams`. */
export function sflowPcap(datagrams: Uint8Array[], from = '192.0.2.77', tsMs = 1_700_000_000_000): Buffer {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(1, 20);
  parts.push(gh);
  const src = from.split('.').map(Number);
  for (const d of datagrams) {
    const frame = Buffer.alloc(14 + 20 + 8 + d.length);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(28 + d.length, 16);
    frame[22] = 64;
    frame[23] = 17;
    for (let i = 0; i < 4; i++) frame[26 + i] = src[i];
    frame.writeUInt32BE(0xc0000202, 30);
    frame.writeUInt16BE(50000, 34);
    frame.writeUInt16BE(6343, 36);
    frame.writeUInt16BE(8 + d.length, 38);
    Buffer.from(d.buffer, d.byteOffset, d.length).copy(frame, 42);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(Math.floor(tsMs / 1000), 0);
    rh.writeUInt32LE(frame.length, 8);
    rh.writeUInt32LE(frame.length, 12);
    parts.push(rh, frame);
  }
  return Buffer.concat(parts);
}

// ---- building datagrams (XDR, sflow_version_5.txt)

export class Xdr {
  private readonly parts: number[] = [];
  u32(v: number): this {
    this.parts.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    return this;
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 4294967296)).u32(v >>> 0);
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  /** An opaque with its length word (sample or record body). */
  opaque(body: Uint8Array): this {
    return this.u32(body.length).bytes(body);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** A datagram header (IPv4 agent) followed by already-encoded samples (format word included). */
export function datagram(agent: string, subAgent: number, seq: number, samples: Uint8Array[]): Uint8Array {
  const a = agent.split('.').map(Number);
  const x = new Xdr()
    .u32(5)
    .u32(1)
    .u32(((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0)
    .u32(subAgent)
    .u32(seq)
    .u32(123456789)
    .u32(samples.length);
  for (const s of samples) x.bytes(s);
  return x.done();
}

/** A compact flow sample (format 1) whose only record is a raw Ethernet header (§5.4.1). */
export function flowSampleWithHeader(seq: number, source: number, frame: Uint8Array, snap = 128): Uint8Array {
  const h = frame.subarray(0, Math.min(snap, frame.length));
  const rec = new Xdr()
    .u32(1)
    .u32(frame.length + 4)
    .u32(frame.length + 4 - h.length)
    .opaque(h)
    .done();
  const body = new Xdr()
    .u32(seq)
    .u32(source)
    .u32(512)
    .u32(seq * 512)
    .u32(0)
    .u32(source)
    .u32(0x3fffffff)
    .u32(1)
    .u32(1)
    .opaque(rec)
    .done();
  return new Xdr().u32(1).opaque(body).done();
}
