// The meter against tshark, an independent dissector: every capture of the corpus is read packet
// by packet with `tshark -T fields` and summed here per conversation (protocol, both endpoints);
// the meter's flows summed the same way must carry the same packets and IP-level bytes in each
// direction. Then the DNS query names, TLS SNIs and HTTP Hosts tshark sees must be on the flows.
//
// Conventions shared with the meter (and YAF without decapsulation): tunnels are counted on their
// outer header (GRE, VXLAN, IP-in-IP are the outer flow); ICMP flows have ports 0; bytes are the
// IP total length (IPv6: payload length + 40); non-first fragments belong to the first
// fragment's ports. tshark's own reassembly is switched off so that each fragment is one row.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { convKey, meterFile } from './helpers.js';

const TSHARK = spawnSync('tshark', ['-v']).status === 0;

function captures(): string[] {
  return readdirSync(dataPath('pcap', 'normal'))
    .filter((f) => /\.pcap(ng)?$/.test(f))
    .sort()
    .map((f) => dataPath('pcap', 'normal', f));
}

const FIELDS = [
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ip.len',
  'ip.id',
  'ip.frag_offset',
  'ip.flags.mf',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.nxt',
  'ipv6.plen',
  'ipv6.fraghdr.nxt',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.more',
  'ipv6.fraghdr.ident',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'icmpv6.type',
  'dns.qry.name',
  'tls.handshake.extensions_server_name',
  'http.host',
];

interface Conv {
  /** [packets, bytes] sent by the smaller endpoint, then by the larger. */
  v: number[];
  names: Set<string>;
}

function tsharkConversations(file: string): Map<string, Conv> {
  const r = spawnSync(
    'tshark',
    [
      '-r',
      file,
      '-o',
      'ip.defragment:FALSE',
      '-o',
      'ipv6.defragment:FALSE',
      '-T',
      'fields',
      '-E',
      'occurrence=f',
      '-E',
      'separator=\t',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  assert.equal(r.status, 0, r.stderr);
  const convs = new Map<string, Conv>();
  const fragPorts = new Map<string, [number, number]>();
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue;
    const c = Object.fromEntries(line.split('\t').map((v, i) => [FIELDS[i], v]));
    let src: string;
    let dst: string;
    let proto: number;
    let bytes: number;
    let later = false;
    let first = false;
    let fragKey = '';
    if (c['ip.src'] !== '') {
      src = c['ip.src'];
      dst = c['ip.dst'];
      proto = Number(c['ip.proto']);
      bytes = Number(c['ip.len']);
      later = Number(c['ip.frag_offset'] || 0) > 0;
      first = !later && c['ip.flags.mf'] === '1';
      fragKey = `${src} ${dst} ${proto} ${c['ip.id']}`;
    } else if (c['ipv6.src'] !== '') {
      src = c['ipv6.src'];
      dst = c['ipv6.dst'];
      bytes = Number(c['ipv6.plen']) + 40;
      proto = Number(c['ipv6.nxt']);
      if (c['ipv6.fraghdr.nxt'] !== '') {
        proto = Number(c['ipv6.fraghdr.nxt']);
        later = Number(c['ipv6.fraghdr.offset']) > 0;
        first = !later && c['ipv6.fraghdr.more'] === '1';
        fragKey = `${src} ${dst} ${proto} ${c['ipv6.fraghdr.ident']}`;
      } else if (proto === 0 || proto === 43 || proto === 60) {
        proto = c['tcp.srcport'] !== '' ? 6 : c['udp.srcport'] !== '' ? 17 : c['icmpv6.type'] !== '' ? 58 : proto;
      }
    } else continue; // not IP
    let sp = 0;
    let dp = 0;
    if (later) [sp, dp] = fragPorts.get(fragKey) ?? [0, 0];
    else if (proto === 6) [sp, dp] = [Number(c['tcp.srcport']), Number(c['tcp.dstport'])];
    else if (proto === 17) [sp, dp] = [Number(c['udp.srcport']), Number(c['udp.dstport'])];
    if (first) fragPorts.set(fragKey, [sp, dp]);
    const k = convKey(proto, src, sp, dst, dp);
    let conv = convs.get(k);
    if (conv === undefined) {
      conv = { v: [0, 0, 0, 0], names: new Set() };
      convs.set(k, conv);
    }
    const fromSmall = `${src}|${sp}` === k.split(' ')[1];
    conv.v[fromSmall ? 0 : 2]++;
    conv.v[fromSmall ? 1 : 3] += bytes;
    // Names carried on the transport the meter inspects (not QUIC's decrypted SNI, not mDNS).
    if (proto === 6 && c['tls.handshake.extensions_server_name'] !== '') {
      conv.names.add(`sni ${c['tls.handshake.extensions_server_name']}`);
    }
    if (proto === 6 && c['http.host'] !== '') conv.names.add(`host ${c['http.host']}`);
    if ((sp === 53 || dp === 53) && c['dns.qry.name'] !== '' && c['dns.qry.name'] !== '<Root>') {
      conv.names.add(`dns ${c['dns.qry.name']}`);
    }
  }
  return convs;
}

test('per-conversation packets and bytes match tshark on every corpus capture', {
  skip: needsData() || needsTool('tshark', TSHARK),
}, () => {
  let compared = 0;
  let named = 0;
  for (const file of captures()) {
    const theirs = tsharkConversations(file);
    const { flows, meter } = meterFile(file);
    const ours = new Map<string, Conv>();
    for (const f of flows) {
      const k = convKey(f.proto, f.src, f.sport, f.dst, f.dport);
      let conv = ours.get(k);
      if (conv === undefined) {
        conv = { v: [0, 0, 0, 0], names: new Set() };
        ours.set(k, conv);
      }
      const fromSmall = `${f.src}|${f.sport}` === k.split(' ')[1];
      conv.v[fromSmall ? 0 : 2] += f.packets;
      conv.v[fromSmall ? 1 : 3] += f.bytes;
      conv.v[fromSmall ? 2 : 0] += f.revPackets;
      conv.v[fromSmall ? 3 : 1] += f.revBytes;
      if (f.tlsSni !== null) conv.names.add(`sni ${f.tlsSni}`);
      if (f.httpHost !== null) conv.names.add(`host ${f.httpHost}`);
      if (f.dnsQname !== null) conv.names.add(`dns ${f.dnsQname}`);
    }
    assert.equal(meter.stats.malformed, 0, `${file}: malformed frames`);
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${file}: conversations`);
    for (const [k, t] of theirs) {
      const o = ours.get(k) as Conv;
      assert.deepEqual(o.v, t.v, `${file}: ${k}: [packets, bytes] each way`);
      compared++;
      // The meter keeps the first name of a flow: it must be one tshark saw there; and a
      // conversation where tshark saw a name must have one from the meter.
      for (const n of o.names) assert.ok(t.names.has(n), `${file}: ${k}: meter name ${n} not seen by tshark`);
      if (t.names.size > 0) {
        assert.ok(o.names.size > 0, `${file}: ${k}: tshark saw ${[...t.names].join(', ')}`);
        named++;
      }
    }
  }
  assert.ok(compared >= 200, `only ${compared} conversations`);
  assert.ok(named > 40, `only ${named} named conversations`);
});

test('TCP teardown: FIN both ways ends the record with end_reason end, as tshark sees the FINs', {
  skip: needsData() || needsTool('tshark', TSHARK),
}, () => {
  let checked = 0;
  for (const name of ['zeek-ssh-single-conn.pcap', 'zeek-http-get.pcap', 'ndpi-ssh.pcap', 'zeek-smtp.pcap']) {
    const file = dataPath('pcap', 'normal', name);
    const r = spawnSync(
      'tshark',
      [
        '-r',
        file,
        '-Y',
        'tcp.flags.fin == 1',
        '-T',
        'fields',
        '-e',
        'ip.src',
        '-e',
        'tcp.srcport',
        '-e',
        'ip.dst',
        '-e',
        'tcp.dstport',
      ],
      { encoding: 'utf8' },
    );
    const finFrom = new Map<string, Set<string>>();
    for (const l of r.stdout.split('\n').filter((x) => x !== '')) {
      const [s, sp, d, dp] = l.split('\t');
      const k = convKey(6, s, Number(sp), d, Number(dp));
      const set = finFrom.get(k) ?? new Set<string>();
      set.add(`${s}|${sp}`);
      finFrom.set(k, set);
    }
    const { flows } = meterFile(file);
    for (const [k, senders] of finFrom) {
      if (senders.size < 2) continue;
      const recs = flows.filter((f) => convKey(f.proto, f.src, f.sport, f.dst, f.dport) === k);
      const last = recs.sort((a, b) => a.end - b.end)[recs.length - 1];
      assert.equal(last.endReason, 'end', `${name}: ${k}`);
      assert.equal(last.tcpFlags & 0x01, 0x01);
      checked++;
    }
    if (name.includes('ssh'))
      assert.ok(
        flows.some((f) => f.app === 'ssh'),
        `${name}: ssh label`,
      );
  }
  assert.ok(checked >= 3, `${checked} closed connections`);
});
