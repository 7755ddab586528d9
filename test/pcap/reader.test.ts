// The capture reader against tshark: every UDP datagram of the corpus captures (pcap and pcapng,
// Ethernet with VLAN tags, IPv4 and IPv6) with the same addresses, ports, payload length and time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';

const TSHARK = spawnSync('tshark', ['-v']).status === 0;

function captures(): string[] {
  const dirs = [dataPath('pcap', 'normal'), dataPath('netflow', 'pmacct', '501-IPFIXv10-BGP-IPv6-CISCO-MPLS')];
  const out: string[] = [];
  for (const d of dirs) for (const f of readdirSync(d).sort()) if (/\.pcap(ng)?$/.test(f)) out.push(join(d, f));
  out.push(dataPath('netflow', 'scapy', 'netflowv9.pcap')); // nanosecond pcap
  return out;
}

test('UDP datagrams of every corpus capture match tshark', { skip: needsData() || needsTool('tshark', TSHARK) }, () => {
  let total = 0;
  for (const file of captures()) {
    // Whole, unencapsulated datagrams only: no fragments, no UDP quoted inside ICMP errors, no GRE.
    const filter =
      'udp && !(icmp && !vxlan) && !icmpv6 && !gre && !ipv6.fraghdr && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)';
    const r = spawnSync(
      'tshark',
      [
        '-r',
        file,
        '-Y',
        filter,
        '-T',
        'fields',
        '-E',
        'occurrence=f',
        '-e',
        'frame.time_epoch',
        '-e',
        'ip.src',
        '-e',
        'ipv6.src',
        '-e',
        'ip.dst',
        '-e',
        'ipv6.dst',
        '-e',
        'udp.srcport',
        '-e',
        'udp.dstport',
        '-e',
        'udp.length',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    assert.equal(r.status, 0, r.stderr);
    const expected = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [t, s4, s6, d4, d6, sp, dp, len] = l.split('\t');
        return `${Math.floor(Number(t) * 1000 + 1e-6)} ${s4 || s6} ${d4 || d6} ${sp} ${dp} ${Number(len) - 8}`;
      });
    const errors: string[] = [];
    const got = [...readUdpPackets(readFileSync(file), (m) => errors.push(m))].map(
      (p) => `${p.tsMs} ${p.srcAddr} ${p.dstAddr} ${p.srcPort} ${p.dstPort} ${p.payload.length}`,
    );
    assert.deepEqual(errors, [], file);
    assert.deepEqual(got, expected, file);
    total += got.length;
  }
  assert.ok(total > 1000, `${total} datagrams`);
});

test('a truncated capture ends cleanly with the byte offset in the message', { skip: needsData() }, () => {
  for (const f of [dataPath('pcap', 'normal', 'zeek-dns53.pcap'), dataPath('pcap', 'normal', 'ipfixprobe-vlan.pcap')]) {
    const buf = readFileSync(f);
    const whole = [...readUdpPackets(buf)].length;
    const clean = recordBoundaries(buf);
    for (let n = 1; n < buf.length; n++) {
      const errors: string[] = [];
      const got = [...readUdpPackets(buf.subarray(0, n), (m) => errors.push(m))];
      assert.ok(got.length <= whole);
      // A cut between records is just a shorter file; anywhere else it must be reported.
      if (!clean.has(n)) assert.match(errors.join('\n'), /offset \d+/, `${f} cut at ${n}`);
      else assert.deepEqual(errors, [], `${f} cut at ${n}`);
    }
  }
});

/** Offsets where a record or block ends (pcap: 24-byte header then 16 + caplen; pcapng: block lengths). */
function recordBoundaries(buf: Buffer): Set<number> {
  const out = new Set<number>();
  if (buf.readUInt32BE(0) === 0x0a0d0d0a) {
    for (let off = 0; off < buf.length; off += buf.readUInt32LE(off + 4)) out.add(off);
  } else {
    for (let off = 24; off < buf.length; off += 16 + buf.readUInt32LE(off + 8)) out.add(off);
  }
  return out;
}
