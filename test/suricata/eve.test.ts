// Suricata eve.json. The eve.json files are real Suricata output made here: Suricata runs on the
// shared captures (test/helpers/suricata.ts) with a few rules of ours so that alert events exist;
// the shared corpus' three eve samples are read too. Every file is read a second time here,
// independently: JSON.parse per line, flow_id taken from the line with a regular expression, times
// through Date.parse (after giving the offset its colon), IPv6 text normalised by the URL parser,
// and the mapping written as tables from the Suricata EVE docs. Every flow row and every alert is
// compared field by field with the parser's output. tshark reads the same captures for what
// Suricata itself must agree with: the app-layer names of each connection and its packet counts;
// our Community ID code must give the id Suricata wrote on every flow.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { communityId } from '../../src/enrich/community-id.js';
import { looksLikeSuricataEve, parseSuricataEve } from '../../src/ingest/suricata/eve.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, END_REASONS, FLOW_STATES, SOURCE_TYPES } from '../../src/schema/columns.js';
import type { IdsAlert } from '../../src/store/ids-alert.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { HAVE_SURICATA, runSuricata } from '../helpers/suricata.js';
import { HAVE_TSHARK } from '../helpers/tshark.js';
import { CAPTURES, pcapPath, TEST_RULES } from './captures.js';

const skip = needsData();
const skipSuricata = skip || needsTool('suricata', HAVE_SURICATA);
const skipBoth = skipSuricata || needsTool('tshark', HAVE_TSHARK);
const RECEIVED = 1_700_000_000_123;

/** The shared corpus' eve samples (Suricata 4–6 sensors). */
const SAMPLES = [
  dataPath('suricata', 'eve-small-elastic.json'),
  dataPath('suricata', 'fever-alertify_input.json'),
  dataPath('suricata', 'fever-jsonparse_eve.json'),
];

function eveOf(capture: string): Promise<string> {
  return runSuricata(pcapPath(capture), { rules: TEST_RULES });
}

function readText(file: string): string {
  const raw = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
}

// ---- the independent reading

// biome-ignore lint/suspicious/noExplicitAny: the test's independent reading walks raw JSON
type J = Record<string, any>;

function ms(t: string): number {
  const fixed = t.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const v = Date.parse(fixed);
  assert.ok(Number.isFinite(v), `test could not read time ${t}`);
  return v;
}

function ipText(s: string): string {
  if (!s.includes(':')) return s;
  return new URL(`http://[${s}]/`).hostname.slice(1, -1);
}

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, 'IPv6-ICMP': 58, SCTP: 132, '006': 6, '017': 17 };

// flow.state / flow.reason as the module header documents them (Zeek-like reading for TCP).
function expectedState(state: string | undefined, reason: string | undefined, proto: number): string | null {
  if (state === undefined) return null;
  if (proto === 6)
    return ({ new: 'start', established: 'continue', bypassed: 'continue', closed: 'end' } as J)[state] ?? null;
  return reason === 'shutdown' ? 'continue' : 'end';
}
function expectedReason(reason: string | undefined, state: string | undefined): string | null {
  if (reason === 'timeout') return state === 'closed' ? 'end' : 'idle';
  if (reason === 'forced') return 'resources';
  if (reason === 'shutdown') return 'forced';
  return null;
}

interface Independent {
  flows: { line: number; ev: J; flowId: string }[];
  alerts: { line: number; ev: J; flowId: string }[];
  byType: Record<string, number>;
  app: Map<string, { dns?: string; sni?: string; host?: string }>;
}

function independentRead(text: string): Independent {
  const out: Independent = { flows: [], alerts: [], byType: {}, app: new Map() };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const ev = JSON.parse(line) as J;
    const flowId = /^\{.*?"flow_id":(\d+)/.exec(line)?.[1] ?? '';
    out.byType[ev.event_type] = (out.byType[ev.event_type] ?? 0) + 1;
    if (ev.event_type === 'flow' || ev.event_type === 'netflow') out.flows.push({ line: i + 1, ev, flowId });
    if (ev.event_type === 'alert') out.alerts.push({ line: i + 1, ev, flowId });
    if (['alert', 'dns', 'tls', 'http', 'fileinfo'].includes(ev.event_type) && flowId !== '') {
      const a = out.app.get(flowId) ?? {};
      const dns = ev.dns?.rrname ?? ev.dns?.queries?.[0]?.rrname ?? ev.dns?.query?.[0]?.rrname;
      // An empty name (Suricata writes rrname "" for the root) is no name: a later one may fill it.
      a.dns ||= dns || undefined;
      a.sni ||= ev.tls?.sni || undefined;
      a.host ||= ev.http?.hostname || undefined;
      if (a.dns !== undefined || a.sni !== undefined || a.host !== undefined) out.app.set(flowId, a);
    }
  });
  return out;
}

// ---- the parser's output as plain values

type Row = Record<string, string | number | null>;

function rowsOf(sink: CollectingSink): Row[] {
  const out: Row[] = [];
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) {
      const num = (c: number) => (b.isNull(c, r) ? null : b.getNum(c, r));
      const en = (c: number, names: readonly string[]) => (b.isNull(c, r) ? null : names[b.getNum(c, r)]);
      out.push({
        src: b.getAddr(C.src_addr, r),
        dst: b.getAddr(C.dst_addr, r),
        sport: num(C.src_port),
        dport: num(C.dst_port),
        proto: num(C.proto),
        ipv: num(C.ip_version),
        packets: num(C.packets),
        bytes: num(C.bytes),
        rpackets: num(C.rev_packets),
        rbytes: num(C.rev_bytes),
        start: num(C.time_start),
        end: num(C.time_end),
        received: num(C.time_received),
        state: en(C.flow_state, FLOW_STATES),
        reason: en(C.end_reason, END_REASONS),
        flags: num(C.tcp_flags),
        app: b.getString(C.app, r),
        vlan: num(C.vlan),
        itype: num(C.icmp_type),
        icode: num(C.icmp_code),
        cid: b.getString(C.community_id, r),
        exporter: b.getString(C.exporter, r),
        stype: b.isNull(C.source_type, r) ? null : SOURCE_TYPES[b.getNum(C.source_type, r) - 1],
        biflow: num(C.biflow),
        action: b.isNull(C.action, r) ? null : b.getNum(C.action, r),
        dns: b.getString(C.dns_qname, r),
        sni: b.getString(C.tls_sni, r),
        host: b.getString(C.http_host, r),
      });
    }
  }
  return out;
}

function parse(input: string | Uint8Array, name = 'eve.json', opts = {}) {
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const res = parseSuricataEve(input, name, RECEIVED, sink, opts);
  return { res, rows: rowsOf(sink) };
}

function expectedRow(ev: J, flowId: string, app: Independent['app']): Row {
  const nf = ev.event_type === 'netflow';
  const f = nf ? ev.netflow : ev.flow;
  const proto = PROTO[ev.proto] ?? null;
  const a = app.get(flowId);
  const sensor = ev.host ?? ev.in_iface ?? 'eve';
  const vlan = Array.isArray(ev.vlan) ? ev.vlan[0] : (ev.vlan ?? null);
  return {
    src: ipText(ev.src_ip),
    dst: ipText(ev.dest_ip),
    sport: ev.src_port ?? null,
    dport: ev.dest_port ?? null,
    proto,
    ipv: ev.src_ip.includes(':') ? 6 : 4,
    packets: nf ? f.pkts : f.pkts_toserver,
    bytes: nf ? f.bytes : f.bytes_toserver,
    rpackets: nf ? null : f.pkts_toclient,
    rbytes: nf ? null : f.bytes_toclient,
    start: ms(f.start),
    end: ms(f.end ?? f.start),
    received: RECEIVED,
    state: nf ? null : expectedState(f.state, f.reason, proto ?? 0),
    reason: nf ? null : expectedReason(f.reason, f.state),
    flags: ev.tcp?.tcp_flags === undefined ? null : Number.parseInt(ev.tcp.tcp_flags, 16),
    app: ev.app_proto ?? null,
    vlan,
    itype: ev.icmp_type ?? null,
    icode: ev.icmp_code ?? null,
    cid: ev.community_id ?? null,
    exporter: `suricata:${sensor}`,
    stype: 'suricata',
    biflow: nf ? 0 : 1,
    action: f.action === undefined ? null : f.action === 'pass' || f.action === 'allowed' ? 1 : 2,
    dns: a?.dns ?? null,
    sni: a?.sni ?? null,
    host: a?.host ?? null,
  };
}

function expectedAlert(ev: J, flowId: string, line: number, file: string): IdsAlert {
  return {
    time: ms(ev.timestamp),
    flowId,
    communityId: ev.community_id ?? '',
    srcAddr: ipText(ev.src_ip),
    dstAddr: ipText(ev.dest_ip),
    srcPort: ev.src_port ?? null,
    dstPort: ev.dest_port ?? null,
    proto: PROTO[ev.proto] ?? null,
    signatureId: ev.alert.signature_id,
    signature: ev.alert.signature,
    category: ev.alert.category,
    severity: ev.alert.severity ?? null,
    action: ev.alert.action,
    sensor: ev.host ?? ev.in_iface ?? 'eve',
    appProto: ev.app_proto ?? '',
    source: `${file}:${line}`,
  };
}

// ---- tshark's reading of the captures

interface Packets {
  /** Frames and frame bytes per direction `vlan|proto|src|sport|dst|dport` (outer VLAN id). */
  dir: Map<string, { packets: number; bytes: number }>;
  /** Names tshark decodes per connection (both directions, `connKey`). */
  names: Map<string, { http: Set<string>; dns: Set<string>; sni: Set<string> }>;
}

const TSHARK_FIELDS = [
  'ip.src',
  'ipv6.src',
  'ip.dst',
  'ipv6.dst',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'icmp.type',
  'icmpv6.type',
  'frame.len',
  'http.host',
  'dns.qry.name',
  'tls.handshake.extensions_server_name',
  'vlan.id',
];

function first(v: string): string {
  return v.split(',')[0];
}

function dirKey(proto: number | string | null, src: string, sport: unknown, dst: string, dport: unknown): string {
  return `${proto}|${src}|${sport ?? ''}|${dst}|${dport ?? ''}`;
}

function connKey(proto: number | string | null, a: string, ap: unknown, b: string, bp: unknown): string {
  const x = `${a}|${ap ?? ''}`;
  const y = `${b}|${bp ?? ''}`;
  return `${proto}|${x < y ? `${x}|${y}` : `${y}|${x}`}`;
}

const tsharkCache = new Map<string, Packets>();
function tsharkPackets(pcap: string): Packets {
  const hit = tsharkCache.get(pcap);
  if (hit !== undefined) return hit;
  const args = ['-r', pcap, '-T', 'fields', '-E', 'separator=/t', ...TSHARK_FIELDS.flatMap((f) => ['-e', f])];
  const out = execFileSync('tshark', args, { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const res: Packets = { dir: new Map(), names: new Map() };
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const f = line.split('\t');
    const src = f[0] !== '' ? first(f[0]) : first(f[1]);
    const dst = f[2] !== '' ? first(f[2]) : first(f[3]);
    if (src === '' || dst === '') continue;
    let proto: number;
    let sp = '';
    let dp = '';
    if (f[4] !== '') [proto, sp, dp] = [6, first(f[4]), first(f[5])];
    else if (f[6] !== '') [proto, sp, dp] = [17, first(f[6]), first(f[7])];
    else if (f[8] !== '') proto = 1;
    else if (f[9] !== '') proto = 58;
    else continue;
    const s = ipText(src);
    const d = ipText(dst);
    const k = `${first(f[14] ?? '')}|${dirKey(proto, s, sp, d, dp)}`;
    const c = res.dir.get(k) ?? { packets: 0, bytes: 0 };
    c.packets++;
    c.bytes += Number(f[10]);
    res.dir.set(k, c);
    const ck = connKey(proto, s, sp, d, dp);
    const n = res.names.get(ck) ?? { http: new Set<string>(), dns: new Set<string>(), sni: new Set<string>() };
    // Suricata's http.hostname is the Host header without its port.
    for (const h of f[11] === '' ? [] : f[11].split(',')) n.http.add(h.replace(/:\d+$/, ''));
    for (const q of f[12] === '' ? [] : f[12].split(',')) if (q !== '<Root>') n.dns.add(q);
    for (const q of f[13] === '' ? [] : f[13].split(',')) n.sni.add(q);
    res.names.set(ck, n);
  }
  tsharkCache.set(pcap, res);
  return res;
}

// ---- every eve.json: the parser equals the independent reading

function checkFile(file: string, text: string): { rows: Row[]; ind: Independent } {
  const short = file.split('/').slice(-1)[0];
  const ind = independentRead(text);
  const { res, rows } = parse(readFileSync(file), file);
  assert.deepEqual(res.errors, []);
  assert.equal(res.malformed, 0);
  assert.deepEqual(res.byType, ind.byType);
  assert.equal(res.flows + res.netflows, ind.flows.length);
  assert.equal(rows.length, ind.flows.length);
  for (let i = 0; i < rows.length; i++) {
    const { ev, flowId, line } = ind.flows[i];
    assert.deepEqual(rows[i], expectedRow(ev, flowId, ind.app), `${short}:${line}`);
  }
  assert.equal(res.alerts.length, ind.alerts.length);
  for (let i = 0; i < res.alerts.length; i++) {
    const { ev, flowId, line } = ind.alerts[i];
    assert.deepEqual(res.alerts[i], expectedAlert(ev, flowId, line, file), `${short}:${line}`);
  }
  assert.equal(res.alertedFlows, ind.flows.filter((f) => f.ev.flow?.alerted === true).length);
  return { rows, ind };
}

/** Our Community ID of a flow row's 5-tuple (ICMP: type and code in the port places). */
function ourCommunityId(r: Row): string {
  const icmp = r.proto === 1 || r.proto === 58;
  return communityId(
    String(r.src),
    String(r.dst),
    Number(r.proto),
    Number(icmp ? r.itype : r.sport),
    Number(icmp ? r.icode : r.dport),
  );
}

// Community ID spec (corelight/community-id-spec): ICMP types with a counterpart (request/reply)
// share an id; every other type is a one-way message.
const ICMP_COUNTERPART: Record<number, number[]> = {
  1: [8, 0, 13, 14, 15, 16, 10, 9, 17, 18],
  58: [128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145],
};
function oneWayIcmp(r: Row): boolean {
  return (r.proto === 1 || r.proto === 58) && !ICMP_COUNTERPART[r.proto].includes(Number(r.itype));
}

function addrBytes(text: string): number[] {
  if (!text.includes(':')) return text.split('.').map(Number);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const words = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t].map((w) => Number.parseInt(w, 16));
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/**
 * The id Suricata 7 writes for a one-way ICMP flow, computed here with node:crypto's SHA-1:
 * Suricata hashes (type, its flow's counterpart type, which is 0 for a one-way message) and orders
 * the endpoints as for a two-way flow, where the spec hashes (type, code) in the packet's direction.
 * Our communityId follows the spec (as Zeek and pycommunityid do), so on these flows the two differ.
 */
function suricataOneWayIcmpId(r: Row): string {
  let a = addrBytes(String(r.src));
  let b = addrBytes(String(r.dst));
  let sp = Number(r.itype);
  let dp = 0;
  const cmp = a.findIndex((x, i) => x !== b[i]);
  if (cmp >= 0 && a[cmp] > b[cmp]) [a, b, sp, dp] = [b, a, dp, sp];
  const input = Buffer.from([0, 0, ...a, ...b, Number(r.proto), 0, sp >> 8, sp & 0xff, dp >> 8, dp & 0xff]);
  return `1:${createHash('sha1').update(input).digest('base64')}`;
}

for (const file of SAMPLES) {
  const short = file.split('/').slice(-1)[0];
  test(`suricata sample ${short}: every flow row and alert equals an independent JSON read`, { skip }, () => {
    checkFile(file, readText(file));
  });
}

for (const cap of CAPTURES) {
  test(`suricata on ${cap.name}: every flow row and alert equals an independent read of its eve.json; Community IDs are ours`, {
    skip: skipSuricata,
  }, async () => {
    const file = await eveOf(cap.name);
    const { rows, ind } = checkFile(file, readText(file));
    assert.ok(rows.length > 0, 'Suricata wrote flow events');
    // Suricata wrote community_id on every flow (community-id: true); each must be the hash of the
    // row's own 5-tuple as src/enrich/community-id.ts computes it, except one-way ICMP messages
    // (unreachable, time exceeded, ...) where Suricata departs from the spec (see above).
    for (let i = 0; i < rows.length; i++) {
      const at = `${cap.name}:${ind.flows[i].line}`;
      assert.notEqual(rows[i].cid, null, `${at} has a community_id`);
      if (oneWayIcmp(rows[i])) assert.equal(rows[i].cid, suricataOneWayIcmpId(rows[i]), at);
      else assert.equal(ourCommunityId(rows[i]), rows[i].cid, at);
    }
  });
}

test('suricata on the captures: per-direction packets and bytes of every flow row are tshark frame counts', {
  skip: skipBoth,
}, async () => {
  let checked = 0;
  for (const cap of CAPTURES) {
    if (!cap.counts) continue;
    const { rows } = parse(readFileSync(await eveOf(cap.name)), cap.name);
    const t = tsharkPackets(pcapPath(cap.name));
    for (const r of rows) {
      // The same 5-tuple on two VLANs is two Suricata flows (ipfixprobe-vlan replays one exchange).
      const v = r.vlan ?? '';
      const fwd = t.dir.get(`${v}|${dirKey(r.proto, String(r.src), r.sport, String(r.dst), r.dport)}`);
      const rev = t.dir.get(`${v}|${dirKey(r.proto, String(r.dst), r.dport, String(r.src), r.sport)}`);
      const what = `${cap.name} ${r.proto} ${r.src}:${r.sport} → ${r.dst}:${r.dport}`;
      assert.deepEqual(
        [r.packets, r.bytes, r.rpackets, r.rbytes],
        [fwd?.packets ?? 0, fwd?.bytes ?? 0, rev?.packets ?? 0, rev?.bytes ?? 0],
        what,
      );
      checked++;
    }
  }
  assert.ok(checked > 40, `checked ${checked}`);
});

test('suricata on the captures: dns/http/tls names joined by flow_id are the names tshark sees on that connection', {
  skip: skipBoth,
}, async () => {
  const seen = { dns: 0, host: 0, sni: 0 };
  for (const cap of CAPTURES) {
    const { rows } = parse(readFileSync(await eveOf(cap.name)), cap.name);
    const t = tsharkPackets(pcapPath(cap.name));
    for (const r of rows) {
      const what = `${cap.name} ${r.proto} ${r.src}:${r.sport} → ${r.dst}:${r.dport}`;
      const n = t.names.get(connKey(r.proto, String(r.src), r.sport, String(r.dst), r.dport));
      if (r.dns !== null) assert.ok(n?.dns.has(String(r.dns)), `${what}: dns ${r.dns} not in ${[...(n?.dns ?? [])]}`);
      if (r.host !== null) assert.ok(n?.http.has(String(r.host)), `${what}: host ${r.host}`);
      if (r.sni !== null) assert.ok(n?.sni.has(String(r.sni)), `${what}: sni ${r.sni}`);
      // Suricata logs a dns/http event for every query and request it parses: a connection tshark
      // sees a name on has it on its row. Not for DNS off port 53 (tshark also reads LLMNR and mDNS
      // as dns, Suricata's DNS parser does not take them), nor for SNI (Suricata logs TLS only on
      // connections it saw start; SNI reaches rows here only through our tls.sni rule's alerts).
      const dns53 = r.sport === 53 || r.dport === 53;
      if (dns53 && (n?.dns.size ?? 0) > 0)
        assert.notEqual(r.dns, null, `${what}: tshark sees dns ${[...(n?.dns ?? [])]}`);
      // Suricata parses HTTP only on connections it saw open (no midstream pickup by default).
      const opened = (Number(r.flags) & 2) !== 0;
      if (opened && (n?.http.size ?? 0) > 0)
        assert.notEqual(r.host, null, `${what}: tshark sees http ${[...(n?.http ?? [])]}`);
      if (r.dns !== null) seen.dns++;
      if (r.host !== null) seen.host++;
      if (r.sni !== null) seen.sni++;
    }
  }
  assert.ok(seen.dns > 20 && seen.host > 5 && seen.sni > 3, JSON.stringify(seen));
});

test('suricata: the names of a flow do not depend on the order of the lines (flows first, app events after)', {
  skip: skipSuricata,
}, async () => {
  const text = readText(await eveOf('zeek-wikipedia'));
  const { res, rows } = parse(text, 'wikipedia');
  assert.ok(res.joined > 10);
  const lines = text.split('\n').filter((l) => l !== '');
  const flowsFirst = [
    ...lines.filter((l) => l.includes('"event_type":"flow"')),
    ...lines.filter((l) => !l.includes('"event_type":"flow"')),
  ].join('\n');
  const again = parse(flowsFirst, 'reordered');
  const key = (r: Row) => `${r.src}|${r.sport}|${r.dst}|${r.dport}|${r.start}|${r.end}|${r.dns}|${r.sni}|${r.host}`;
  assert.deepEqual(again.rows.map(key).sort(), rows.map(key).sort());
  assert.equal(again.res.joined, res.joined);
});

test('suricata: alerts are IdsAlerts with the flow_id and community_id of a flow event of the same file', {
  skip: skipSuricata,
}, async () => {
  const sids = new Set<number>();
  for (const cap of CAPTURES) {
    const file = await eveOf(cap.name);
    const ind = independentRead(readText(file));
    const { res, rows } = parse(readFileSync(file), cap.name);
    // Alert lines never become rows: one row per flow event.
    assert.equal(rows.length, ind.flows.length);
    const flowCid = new Map(ind.flows.map((f) => [f.flowId, f.ev.community_id as string]));
    assert.equal(res.alerts.length, ind.alerts.length);
    res.alerts.forEach((a, i) => {
      assert.match(a.flowId, /^[1-9]\d*$/);
      assert.equal(flowCid.get(a.flowId), a.communityId, `${a.source}: its flow`);
      // IdsAlert keeps no ICMP type/code: they come from the independent read of the same line.
      const ev = ind.alerts[i].ev;
      const mine = { proto: a.proto, src: a.srcAddr, dst: a.dstAddr, sport: a.srcPort, dport: a.dstPort };
      assert.equal(
        ourCommunityId({ ...mine, itype: ev.icmp_type ?? null, icode: ev.icmp_code ?? null }),
        a.communityId,
      );
      sids.add(a.signatureId);
    });
  }
  // Every rule of ours fired somewhere: alerts on http, dns, tls and icmp flows were all read.
  assert.deepEqual([...sids].sort(), [9000001, 9000002, 9000003, 9000004]);
});

test('suricata sample: the IPv6 flow of eve-small (fe80 → ff02 DHCPv6, app_proto failed) field by field', {
  skip,
}, () => {
  const { rows } = parse(readFileSync(SAMPLES[0]), 'eve-small');
  assert.equal(rows.length, 1);
  const r = rows[0];
  assert.equal(r.src, 'fe80::fada:cff:fedc:87f1');
  assert.equal(r.dst, 'ff02::1:2');
  assert.equal(r.ipv, 6);
  assert.equal(r.proto, 17);
  assert.equal(r.start, Date.UTC(2018, 6, 5, 19, 51, 23, 453));
  assert.equal(r.end, r.start);
  assert.equal(r.state, 'end'); // UDP, reason timeout
  assert.equal(r.reason, 'idle');
  assert.equal(r.exporter, 'suricata:eve');
  assert.equal(r.app, 'failed');
});

test('suricata sample: the alert of eve-small is an IdsAlert with its exact flow_id and time, not a flow row', {
  skip,
}, () => {
  const { res, rows } = parse(readFileSync(SAMPLES[0]), 'eve-small');
  assert.equal(res.alerts.length, 1);
  assert.equal(res.alerts[0].flowId, '904992230150281');
  assert.equal(res.alerts[0].time, Date.UTC(2018, 6, 5, 19, 7, 20, 910));
  assert.ok(!rows.some((r) => r.sport === 55641));
});

// ---- flow_id above 2^53, netflow, gzip

test('suricata: flow_id above 2^53 is kept exactly (alerts and the join key)', () => {
  const big = '18446744073709551615';
  const near = '9007199254740993'; // 2^53 + 1: a float would read 2^53
  const lines = [
    `{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":${near},"event_type":"dns","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{"type":"query","rrname":"a.example"}}`,
    `{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":9007199254740992,"event_type":"dns","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{"type":"query","rrname":"b.example"}}`,
    `{"timestamp":"2021-06-06T16:26:28.000000+0200","flow_id":${big},"event_type":"alert","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2,"proto":"TCP","alert":{"action":"blocked","signature_id":1,"signature":"x","category":"y","severity":1}}`,
    `{"timestamp":"2021-06-06T16:27:00.000000+0200","flow_id":${near},"event_type":"flow","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":75,"bytes_toclient":91,"start":"2021-06-06T16:26:27.431769+0200","end":"2021-06-06T16:26:27.442512+0200","state":"established","reason":"timeout","alerted":false}}`,
  ];
  const { res, rows } = parse(lines.join('\n'));
  assert.deepEqual(res.errors, []);
  assert.equal(res.alerts[0].flowId, big);
  assert.equal(res.alerts[0].action, 'blocked');
  assert.equal(rows[0].dns, 'a.example');
});

test('suricata: netflow events are one-direction rows (Suricata docs netflow example)', () => {
  // The netflow event of the AWS Network Firewall docs (Suricata eve written by the firewall).
  const line =
    '{"timestamp":"2020-10-01T21:26:05.007515+0000","flow_id":1770453319291727,"event_type":"netflow","src_ip":"45.129.33.153","src_port":47047,"dest_ip":"172.31.16.139","dest_port":16463,"proto":"TCP","netflow":{"pkts":1,"bytes":60,"start":"2020-10-01T21:25:04.070479+0000","end":"2020-10-01T21:25:04.070479+0000","age":0,"min_ttl":241,"max_ttl":241},"tcp":{"tcp_flags":"02","syn":true}}';
  const ind = independentRead(line);
  const { res, rows } = parse(line);
  assert.equal(res.netflows, 1);
  assert.deepEqual(rows[0], expectedRow(ind.flows[0].ev, ind.flows[0].flowId, ind.app));
  assert.equal(rows[0].biflow, 0);
  assert.equal(rows[0].flags, 2);
});

test('suricata: gzip input gives the same rows; a cut gzip keeps what it holds and says so', {
  skip: skipSuricata,
}, async () => {
  const text = readText(await eveOf('zeek-wikipedia'));
  const plain = parse(text);
  const gz = parse(gzipSync(Buffer.from(text)));
  assert.deepEqual(gz.rows, plain.rows);
  const all: string[] = [];
  for (const cap of CAPTURES) all.push(readText(await eveOf(cap.name)));
  const whole = parse(all.join(''));
  const big = gzipSync(Buffer.from(all.join('')));
  const cut = parse(big.subarray(0, Math.floor(big.length / 2)), 'cut.json.gz');
  assert.ok(cut.rows.length > 0 && cut.rows.length < whole.rows.length, `${cut.rows.length} of ${whole.rows.length}`);
  assert.ok(cut.res.errors.some((e) => /^cut\.json\.gz:0: gzip stream is truncated/.test(e.message)));
});

test('suricata: format detection by content', { skip: skipSuricata }, async () => {
  for (const f of SAMPLES) assert.equal(looksLikeSuricataEve(readText(f).slice(0, 4096)), true, f);
  for (const cap of CAPTURES) {
    const f = await eveOf(cap.name);
    assert.equal(looksLikeSuricataEve(readText(f).slice(0, 4096)), true, f);
  }
  assert.equal(looksLikeSuricataEve('{"ts":1,"uid":"C1","id.orig_h":"1.2.3.4"}'), false);
  assert.equal(looksLikeSuricataEve('2 123 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 40 0 1 ACCEPT OK'), false);
});

// ---- bad input

test('suricata bad input: each bad line is an error with file:line, the good lines are kept', { skip }, () => {
  const good = readText(SAMPLES[0])
    .split('\n')
    .filter((l) => l !== '');
  const flowLine = good[7];
  const alertLine = good[1];
  const bad = [
    flowLine, // 1 good
    'this is not json', // 2
    flowLine.replace('"src_port":546', '"src_port":"546"'), // 3 wrong type
    flowLine.replace('"bytes_toserver":110', '"bytes_toserver":1e400'), // 4 hostile: Infinity
    flowLine.replace('"pkts_toserver":1', '"pkts_toserver":184467440737095516150'), // 5 hostile: > 2^53
    flowLine.replace('"start":"2018-07-05T15:51:23.453468-0400"', '"start":"2018-13-05T15:51:23.453468-0400"'), // 6
    flowLine.replace('"flow_id":1828507008887644', '"flow_id":999999999999999999999999'), // 7 > 2^64
    flowLine.replace('"src_ip":"fe80:0000:0000:0000:fada:0cff:fedc:87f1"', '"src_ip":"fe80::zz"'), // 8
    alertLine.replace('"signature_id":2024833', '"signature_id":-5'), // 9
    '[1,2,3]', // 10
    flowLine.replace('"flow":{', '"flow":[').replace(/}}$/, ']}'), // 11 (not JSON any more or not an object)
    flowLine.replace('"dest_port":547', '"dest_port":70000'), // 12
    flowLine.replace('"event_type":"flow"', '"event_type":7'), // 13
    alertLine, // 14 good
    flowLine.slice(0, 120), // 15 truncated, last line, no newline
  ].join('\n');
  const { res, rows } = parse(bad, 'bad.json');
  assert.equal(rows.length, 1);
  assert.equal(res.alerts.length, 1);
  assert.equal(res.alerts[0].source, 'bad.json:14');
  assert.equal(res.malformed, 13);
  const lines = res.errors.map((e) => e.line);
  assert.deepEqual(lines, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15]);
  for (const e of res.errors) assert.match(e.message, new RegExp(`^bad\\.json:${e.line}: `));
  const msg = (l: number) => res.errors.find((e) => e.line === l)?.message ?? '';
  assert.match(msg(2), /not JSON/);
  assert.match(msg(3), /src_port/);
  assert.match(msg(4), /count/);
  assert.match(msg(5), /count/);
  assert.match(msg(6), /flow\.start/);
  assert.match(msg(7), /flow_id/);
  assert.match(msg(8), /src_ip/);
  assert.match(msg(9), /signature_id/);
  assert.match(msg(12), /dest_port/);
  assert.match(msg(13), /event_type/);
  assert.match(msg(15), /truncated/);
});

test('suricata bad input: a binary blob and an empty input never throw', () => {
  const junk = new Uint8Array(4096);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xff;
  const r = parse(junk, 'junk.bin');
  assert.equal(r.rows.length, 0);
  assert.ok(r.res.malformed > 0);
  assert.equal(parse('', 'empty').res.events, 0);
  assert.equal(parse(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), 'badgz').res.errors.length, 1);
});

test('suricata: lines without event_type are read in linear time (200k of them after one flow)', () => {
  // Not a timing test as such: the parse runs in a child process killed after 20 s, and takes well
  // under a second. The search for `"event_type"` used to start again at every line and, on a line
  // without one, scan into the rest of the file: quadratic in the file's size (10k lines 8.6 s,
  // 40k lines 137 s; 200k would take about an hour).
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const flow =
    '{"timestamp":"2021-06-06T16:27:00.000000+0200","flow_id":1,"event_type":"flow","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":75,"bytes_toclient":91,"start":"2021-06-06T16:26:27.431769+0200","end":"2021-06-06T16:26:27.442512+0200","state":"established","reason":"timeout","alerted":false}}';
  const other = '{"timestamp":"2021-06-06T16:27:00.000000+0200","src_ip":"10.0.0.1","note":"no type here"}';
  const script = `
    import { parseSuricataEve } from ${url('../../src/ingest/suricata/eve.js')};
    import { CollectingSink } from ${url('../../src/pipeline/sink.js')};
    import { FlowBatch } from ${url('../../src/pipeline/flow-batch.js')};
    const text = ${JSON.stringify(flow)} + '\\n' + Array(200000).fill(${JSON.stringify(other)}).join('\\n') + '\\n';
    const sink = new CollectingSink(() => new FlowBatch(1024));
    const r = parseSuricataEve(text, 'big.json', 0, sink);
    process.stdout.write(JSON.stringify({ events: r.events, flows: r.flows, rows: sink.rows, malformed: r.malformed }));
  `;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(out.signal, null, 'the parse of 200k lines did not finish within 20 s');
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { events: 200_001, flows: 1, rows: 1, malformed: 200_000 });
});

test('suricata: the join map is bounded; flows past it are written without names', { skip: skipSuricata }, async () => {
  const text = readText(await eveOf('zeek-wikipedia'));
  const ind = independentRead(text);
  const full = parse(text, 'wikipedia');
  assert.ok(full.res.joined > 10);
  const { res, rows } = parse(text, 'wikipedia', { maxJoinEntries: 3 });
  assert.ok(res.joinDropped > 0);
  assert.ok(res.joined <= 3, `joined ${res.joined}`);
  assert.equal(rows.length, ind.flows.length);
});
