// Helpers for the flow-export corpus tests: which files go together (templates before data), a
// minimal pcap writer so tshark can dissect raw payloads, and a reader of tshark's cflow JSON.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { dataPath } from '../helpers/data.js';
import { rowObject } from '../helpers/rows.js';

export const TSHARK = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

export interface Payload {
  exporter: string;
  srcPort: number;
  tsMs: number;
  payload: Uint8Array;
}

/** Groups of corpus files decoded by one decoder, in order (templates first: SOURCES.md). */
export function corpusGroups(): string[][] {
  const root = dataPath('netflow');
  const groups: string[][] = [];
  // logstash-codec-netflow: one group per vendor prefix; *tpl* files before *data* files.
  const lsDir = join(root, 'logstash-codec-netflow');
  const byKey = new Map<string, string[]>();
  for (const f of readdirSync(lsDir).sort()) {
    const key = f.replace(/\.dat$/, '').replace(/_(tpl|opttpl|tplopt|tpls|data).*$/, '');
    const list = byKey.get(key) ?? [];
    list.push(join(lsDir, f));
    byKey.set(key, list);
  }
  for (const list of byKey.values()) {
    const isTpl = (f: string) => /tpl/.test(basename(f)) && !/tpl_data|tpldata/.test(basename(f));
    groups.push([...list.filter(isTpl), ...list.filter((f) => !isTpl(f))]);
  }
  // graylog: netflow-v9-2-1 carries the templates of -2-2 and -2-3.
  const gl = join(root, 'graylog');
  for (const f of readdirSync(gl).sort()) {
    if (/netflow-v9-2-[23]/.test(f)) continue;
    if (f === 'netflow-v9-2-1.dat') groups.push(['1', '2', '3'].map((n) => join(gl, `netflow-v9-2-${n}.dat`)));
    else groups.push([join(gl, f)]);
  }
  // akvorado: X-template.pcap before X-data.pcap; data.pcap uses template.pcap.
  const ak = join(root, 'akvorado', 'netflow');
  for (const f of readdirSync(ak).sort()) {
    if (f.endsWith('-template.pcap') || f === 'template.pcap') continue;
    if (f.endsWith('-data.pcap')) groups.push([join(ak, f.replace(/-data\.pcap$/, '-template.pcap')), join(ak, f)]);
    else if (f === 'data.pcap') groups.push([join(ak, 'template.pcap'), join(ak, f)]);
    else groups.push([join(ak, f)]);
  }
  for (const f of readdirSync(join(root, 'scapy')).sort()) groups.push([join(root, 'scapy', f)]);
  for (const d of readdirSync(join(root, 'pmacct')).sort()) groups.push([join(root, 'pmacct', d, 'traffic-00.pcap')]);
  return groups;
}

/** Export payloads of a group: raw .dat files as sent by 192.0.2.1, capture files as captured. */
export function groupPayloads(files: string[]): Payload[] {
  const out: Payload[] = [];
  let t = 1_700_000_000_000;
  for (const f of files) {
    const buf = readFileSync(f);
    if (f.endsWith('.dat')) out.push({ exporter: '192.0.2.1', srcPort: 50000, tsMs: t++, payload: buf });
    else {
      for (const p of readUdpPackets(buf)) {
        // Captures of flow export also hold BGP/BMP (TCP) and the odd unrelated datagram.
        if (p.payload.length < 4) continue;
        const v = (p.payload[0] << 8) | p.payload[1];
        if (v !== 5 && v !== 9 && v !== 10) continue;
        out.push({ exporter: p.srcAddr, srcPort: p.srcPort, tsMs: p.tsMs, payload: p.payload });
      }
    }
  }
  return out;
}

export interface Decoded {
  rows: Record<string, string | number | null>[];
  counters: ExporterCounters;
  decoder: FlowExportDecoder;
}

export function decodeAll(payloads: Payload[]): Decoded {
  const counters = new ExporterCounters();
  const decoder = new FlowExportDecoder({ counters });
  const sink = new CollectingSink(() => new FlowBatch(256));
  for (const p of payloads) decoder.decode(p.payload, p.exporter, p.tsMs, sink);
  const rows: Record<string, string | number | null>[] = [];
  for (const b of sink.batches) for (let r = 0; r < b.length; r++) rows.push(rowObject(b, r));
  return { rows, counters, decoder };
}

export { rowObject };

/** A classic pcap (Ethernet/IPv4 or IPv6/UDP, to port 2055) around the payloads. */
export function buildPcap(payloads: Payload[]): Buffer {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(1, 20);
  parts.push(gh);
  for (const p of payloads) {
    const v6 = p.exporter.includes(':');
    const ipLen = v6 ? 40 : 20;
    const frame = Buffer.alloc(14 + ipLen + 8 + p.payload.length);
    frame.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
    const src = parseAddr(p.exporter) as Uint32Array;
    const ip = 14;
    if (v6) {
      frame[ip] = 0x60;
      frame.writeUInt16BE(8 + p.payload.length, ip + 4);
      frame[ip + 6] = 17;
      frame[ip + 7] = 64;
      for (let w = 0; w < 4; w++) frame.writeUInt32BE(src[w], ip + 8 + w * 4);
      frame.writeUInt32BE(0x20010db8, ip + 24);
      frame.writeUInt32BE(1, ip + 36);
    } else {
      frame[ip] = 0x45;
      frame.writeUInt16BE(20 + 8 + p.payload.length, ip + 2);
      frame[ip + 8] = 64;
      frame[ip + 9] = 17;
      frame.writeUInt32BE(src[3], ip + 12);
      frame.writeUInt32BE(0xc0000202, ip + 16);
    }
    const udp = ip + ipLen;
    frame.writeUInt16BE(p.srcPort, udp);
    frame.writeUInt16BE(2055, udp + 2);
    frame.writeUInt16BE(8 + p.payload.length, udp + 4);
    Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.length).copy(frame, udp + 8);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(Math.floor(p.tsMs / 1000), 0);
    rh.writeUInt32LE((p.tsMs % 1000) * 1000, 4);
    rh.writeUInt32LE(frame.length, 8);
    rh.writeUInt32LE(frame.length, 12);
    parts.push(rh, frame);
  }
  return Buffer.concat(parts);
}

type Json = { [k: string]: Json } | string | Json[];

export interface TsharkFlow {
  fields: Record<string, string>;
  /** Packet header fields: sysuptime, unix_secs, unix_nsecs, exporttime, version. */
  hdr: Record<string, string>;
}

/** Every flow record tshark dissects in the capture (options data records left out). */
export function tsharkFlows(pcapFile: string): TsharkFlow[] {
  const r = spawnSync('tshark', ['-r', pcapFile, '-d', 'udp.port==2055,cflow', '-T', 'json', '--no-duplicate-keys'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const packets = JSON.parse(r.stdout) as { _source: { layers: Record<string, Json> } }[];
  const optionIds = new Set<string>();
  const flows: TsharkFlow[] = [];
  for (const pkt of packets) {
    const cflow = pkt._source.layers.cflow;
    if (cflow === undefined || typeof cflow === 'string' || Array.isArray(cflow)) continue;
    const hdr: Record<string, string> = {};
    for (const [k, v] of Object.entries(cflow)) if (typeof v === 'string') hdr[k.replace(/^cflow\./, '')] = v;
    const ts = cflow['cflow.timestamp_tree'];
    if (ts && typeof ts !== 'string' && !Array.isArray(ts))
      for (const [k, v] of Object.entries(ts)) if (typeof v === 'string') hdr[k.replace(/^cflow\./, '')] = v;
    for (const [k, set] of Object.entries(cflow)) {
      if (typeof set === 'string' || Array.isArray(set)) continue;
      for (const [k2, v2] of Object.entries(set)) {
        const m = /^Options Template \(Id = (\d+)\)/.exec(k2);
        if (m) optionIds.add(m[1]);
        void v2;
      }
      const setId = /\[id=(\d+)\]/.exec(k)?.[1];
      const isV5 = /^pdu \d+/.test(k);
      if (isV5) {
        flows.push({ fields: leaves(set), hdr });
        continue;
      }
      if (setId === undefined || Number(setId) < 256 || optionIds.has(setId)) continue;
      for (const [fk, fv] of Object.entries(set)) {
        if (/^Flow \d+$/.test(fk) && typeof fv !== 'string' && !Array.isArray(fv))
          flows.push({ fields: leaves(fv), hdr });
      }
    }
  }
  return flows;
}

/**
 * Options data records tshark dissects in the capture (flat cflow.* leaves, in order): what the
 * exporter said about its samplers, interfaces (if_name / if_descr) and applications (appl_*).
 */
export function tsharkOptionRecords(pcapFile: string): Record<string, string>[] {
  const r = spawnSync('tshark', ['-r', pcapFile, '-d', 'udp.port==2055,cflow', '-T', 'json', '--no-duplicate-keys'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const packets = JSON.parse(r.stdout) as { _source: { layers: Record<string, Json> } }[];
  const optionIds = new Set<string>();
  const out: Record<string, string>[] = [];
  for (const pkt of packets) {
    const cflow = pkt._source.layers.cflow;
    if (cflow === undefined || typeof cflow === 'string' || Array.isArray(cflow)) continue;
    for (const [k, set] of Object.entries(cflow)) {
      if (typeof set === 'string' || Array.isArray(set)) continue;
      for (const k2 of Object.keys(set)) {
        const m = /^Options Template \(Id = (\d+)\)/.exec(k2);
        if (m) optionIds.add(m[1]);
      }
      const setId = /\[id=(\d+)\]/.exec(k)?.[1];
      if (setId === undefined || !optionIds.has(setId)) continue;
      for (const [fk, fv] of Object.entries(set))
        if (/^Flow \d+$/.test(fk) && typeof fv !== 'string' && !Array.isArray(fv)) out.push(leaves(fv));
    }
  }
  return out;
}

/** Leaf fields of a flow; a repeated field (e.g. forward then RFC 5103 reverse) keeps its first value. */
function leaves(o: { [k: string]: Json }, out: Record<string, string> = {}): Record<string, string> {
  const put = (k: string, v: Json) => {
    if (typeof v === 'string') {
      const name = k.replace(/^cflow\./, '');
      if (!(name in out)) out[name] = v;
    } else if (Array.isArray(v)) for (const x of v) put(k, x);
    else leaves(v, out);
  };
  for (const [k, v] of Object.entries(o)) put(k, v);
  return out;
}

/** "Feb 28, 2023 09:46:01.088000000 UTC" → ms. */
export function tsharkAbsTime(s: string): number {
  const m = /^(\w+\s+\d+, \d+ \d+:\d+:\d+)(?:\.(\d+))? UTC$/.exec(s);
  if (!m) return Number.NaN;
  const base = Date.parse(`${m[1]} UTC`);
  return base + Math.floor(Number(`0.${m[2] ?? '0'}`) * 1000 + 1e-6);
}
