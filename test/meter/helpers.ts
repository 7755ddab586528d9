// Shared by the meter tests: run the meter over a capture and read its rows back as plain records.
import { readFileSync } from 'node:fs';
import { type FlowMeter, type MeterOptions, meterCapture } from '../../src/ingest/meter/meter.js';
import { FlowBatch, formatMac } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, END_REASONS } from '../../src/schema/columns.js';

export interface MeteredFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  bytes: number;
  packets: number;
  revBytes: number;
  revPackets: number;
  start: number;
  end: number;
  tcpFlags: number;
  vlan: number;
  srcMac: string | null;
  dstMac: string | null;
  icmpType: number | null;
  icmpCode: number | null;
  endReason: string;
  app: string | null;
  dnsQname: string | null;
  tlsSni: string | null;
  httpHost: string | null;
}

export function meterFile(path: string, opts: Partial<MeterOptions> = {}): { flows: MeteredFlow[]; meter: FlowMeter } {
  const sink = new CollectingSink(() => new FlowBatch(4096));
  const meter = meterCapture(readFileSync(path), { sink, ...opts });
  const flows: MeteredFlow[] = [];
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) {
      flows.push({
        src: b.getAddr(C.src_addr, r) ?? '',
        dst: b.getAddr(C.dst_addr, r) ?? '',
        sport: b.getNum(C.src_port, r),
        dport: b.getNum(C.dst_port, r),
        proto: b.getNum(C.proto, r),
        bytes: b.getNum(C.bytes, r),
        packets: b.getNum(C.packets, r),
        revBytes: b.getNum(C.rev_bytes, r),
        revPackets: b.getNum(C.rev_packets, r),
        start: b.getNum(C.time_start, r),
        end: b.getNum(C.time_end, r),
        tcpFlags: b.isNull(C.tcp_flags, r) ? 0 : b.getNum(C.tcp_flags, r),
        vlan: b.isNull(C.vlan, r) ? 0 : b.getNum(C.vlan, r),
        srcMac: b.isNull(C.src_mac, r) ? null : formatMac(b.getNum(C.src_mac, r)),
        dstMac: b.isNull(C.dst_mac, r) ? null : formatMac(b.getNum(C.dst_mac, r)),
        icmpType: b.isNull(C.icmp_type, r) ? null : b.getNum(C.icmp_type, r),
        icmpCode: b.isNull(C.icmp_code, r) ? null : b.getNum(C.icmp_code, r),
        endReason: END_REASONS[b.getNum(C.end_reason, r)],
        app: b.getString(C.app, r),
        dnsQname: b.getString(C.dns_qname, r),
        tlsSni: b.getString(C.tls_sni, r),
        httpHost: b.getString(C.http_host, r),
      });
    }
  }
  return { flows, meter };
}

/** Conversation key independent of direction: "proto a|pa b|pb" with the endpoints sorted. */
export function convKey(proto: number, a: string, pa: number, b: string, pb: number): string {
  const x = `${a}|${pa}`;
  const y = `${b}|${pb}`;
  return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
}
