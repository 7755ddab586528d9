// Forwarding as IPFIX to a real, independent collector: real exports from the corpus are decoded by
// flowwatch, forwarded over UDP to nfcapd, and every record nfdump reads back must equal the row
// flowwatch forwarded, field by field (addresses, ports, protocol, counters, times to the ms,
// interfaces, TCP flags, ToS, next hop, AS numbers, masks).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { compilePredicate } from '../../src/filter/index.js';
import { Forwarder } from '../../src/forward/forwarder.js';
import type { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import {
  decodeCapture,
  HAVE_NFCAPD,
  type NfdumpRecord,
  nfdumpFlags,
  nfdumpRecords,
  nfdumpTime,
  startNfcapd,
} from '../peers/nfdump.js';

const skip = needsData() || needsTool('nfcapd/nfdump', HAVE_NFCAPD);

const CAPTURES = [
  'netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap', // IPv4 and IPv6, next hops, interfaces
  'netflow/pmacct/104-IPFIXv10-IPv6-CISCO-sampling_option/traffic-00.pcap', // IPv6
  'netflow/pmacct/501-IPFIXv10-BGP-IPv6-CISCO-MPLS/traffic-00.pcap', // IPv6, BGP next hop
  'netflow/graylog/nprobe-netflow9.pcap', // NetFlow v9 in, IPFIX out
];

/** The fields both sides know, as one comparable line per flow. */
function line(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  proto: number,
  bytes: number,
  packets: number,
  first: number,
  last: number,
  inIf: number,
  outIf: number,
  flags: number,
  tos: number,
  nh: string,
  srcAs: number,
  dstAs: number,
  srcMask: number,
  dstMask: number,
): string {
  return [src, dst, sport, dport, proto, bytes, packets, first, last, inIf, outIf, flags, tos, nh, srcAs, dstAs]
    .concat([srcMask, dstMask])
    .join(' ');
}

/** An unset next hop: absent, or exported as zeros (nfdump cannot tell the two apart). */
const noAddr = (a: string | null) => (a === null || a === '0.0.0.0' || a === '::' ? '-' : a);
const num = (b: FlowBatch, col: number, r: number) => (b.valid[col][r] ? b.data[col][r] : 0);

function rowLine(b: FlowBatch, r: number): string {
  const v6 = (b.getAddr(C.src_addr, r) ?? '').includes(':');
  let sport = num(b, C.src_port, r);
  let dport = num(b, C.dst_port, r);
  const proto = num(b, C.proto, r);
  if (proto === 1 || proto === 58) {
    // nfdump keeps ICMP type/code in the destination port (type << 8 | code), source port 0, and
    // fills it only from icmpTypeCode (IE 32/139); Cisco's habit of putting the ICMP type in the
    // destination port field (501-…-MPLS, dst port 135/136) has no place in nfdump's record.
    sport = 0;
    dport = b.valid[C.icmp_type][r] ? (num(b, C.icmp_type, r) << 8) | num(b, C.icmp_code, r) : 0;
  }
  return line(
    b.getAddr(C.src_addr, r) ?? (v6 ? '::' : '0.0.0.0'),
    b.getAddr(C.dst_addr, r) ?? (v6 ? '::' : '0.0.0.0'),
    sport,
    dport,
    proto,
    num(b, C.bytes, r),
    num(b, C.packets, r),
    num(b, C.time_start, r),
    num(b, C.time_end, r),
    num(b, C.in_if, r),
    num(b, C.out_if, r),
    num(b, C.tcp_flags, r) & 0xff,
    num(b, C.tos, r),
    noAddr(b.getAddr(C.next_hop, r)),
    num(b, C.src_asn, r),
    num(b, C.dst_asn, r),
    num(b, C.src_mask, r),
    num(b, C.dst_mask, r),
  );
}

function nfdumpLine(x: NfdumpRecord): string {
  const n = (k: string) => Number(x[k] ?? 0);
  const nh = (x.ip4_next_hop ?? x.ip6_next_hop ?? '-') as string;
  return line(
    String(x.src4_addr ?? x.src6_addr),
    String(x.dst4_addr ?? x.dst6_addr),
    n('src_port'),
    n('dst_port'),
    n('proto'),
    n('in_bytes'),
    n('in_packets'),
    nfdumpTime(x.first),
    nfdumpTime(x.last),
    n('input_snmp'),
    n('output_snmp'),
    nfdumpFlags(x.tcp_flags),
    n('src_tos'),
    noAddr(nh),
    n('src_as'),
    n('dst_as'),
    n('src_mask'),
    n('dst_mask'),
  );
}

/** Forward `batches` through a Forwarder to a fresh nfcapd; returns what nfdump read back. */
async function viaNfcapd(batches: FlowBatch[], filter?: string): Promise<{ got: string[]; fw: Forwarder }> {
  const nfcapd = await startNfcapd();
  const fw = new Forwarder({ filter, target: { kind: 'ipfix-udp', host: '127.0.0.1', port: nfcapd.port } });
  try {
    for (const b of batches) {
      fw.send(b);
      await sleep(5); // a burst larger than nfcapd's socket buffer would be lost on loopback too
    }
    await fw.stop();
    await sleep(200);
  } finally {
    await nfcapd.stop();
  }
  return { got: nfdumpRecords(nfcapd.dir).map(nfdumpLine).sort(), fw };
}

describe('IPFIX forwarded over UDP, read back by nfcapd/nfdump', { skip }, () => {
  for (const cap of CAPTURES) {
    test(`${cap}: every record nfdump stores equals the forwarded row`, async () => {
      const batches = decodeCapture(readFileSync(dataPath(cap)), 256);
      const want: string[] = [];
      for (const b of batches) for (let r = 0; r < b.length; r++) want.push(rowLine(b, r));
      assert.ok(want.length > 0, `${cap}: ${want.length} flows decoded`);
      const { got, fw } = await viaNfcapd(batches);
      assert.deepEqual(got, want.sort());
      const c = fw.counters;
      assert.equal(c.rows_sent, want.length);
      assert.equal(c.rows_dropped_buffer_full + c.rows_dropped_undeliverable + c.send_errors, 0);
    });
  }

  test('only the rows matching the filter are forwarded (proto udp)', async () => {
    const batches = CAPTURES.flatMap((cap) => decodeCapture(readFileSync(dataPath(cap)), 256));
    const udp = compilePredicate('proto udp');
    const want: string[] = [];
    let others = 0;
    for (const b of batches)
      for (let r = 0; r < b.length; r++) {
        if (b.valid[C.proto][r] && b.data[C.proto][r] === 17) want.push(rowLine(b, r));
        else others++;
        // The predicate and a direct column read agree on which rows are UDP.
        assert.equal(udp(b, r), b.valid[C.proto][r] === 1 && b.data[C.proto][r] === 17);
      }
    assert.ok(want.length > 0 && others > 0, `${want.length} udp rows, ${others} others`);
    const { got, fw } = await viaNfcapd(batches, 'proto udp');
    assert.deepEqual(got, want.sort());
    assert.equal(fw.counters.rows_filtered_out, others);
  });
});
