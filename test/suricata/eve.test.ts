// Suricata eve.json. Every corpus file (the three shared samples and the Slips sensor's 5000-event
// eve.json) is read a second time here, independently: JSON.parse per line, flow_id taken from the
// line with a regular expression, times through Date.parse (after giving the offset its colon),
// IPv6 text normalised by the URL parser, and the mapping written as tables from the Suricata
// EVE docs. Every flow row and every alert is compared field by field with the parser's output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { communityId } from '../../src/enrich/community-id.js';
import { type IdsAlert, looksLikeSuricataEve, parseSuricataEve } from '../../src/ingest/suricata/eve.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, END_REASONS, FLOW_STATES, SOURCE_TYPES } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();
const RECEIVED = 1_700_000_000_123;

import { SLIPS } from './paths.js';

const FILES = [
  dataPath('suricata', 'eve-small-elastic.json'),
  dataPath('suricata', 'fever-alertify_input.json'),
  dataPath('suricata', 'fever-jsonparse_eve.json'),
  SLIPS,
];

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
      a.dns ??= dns;
      a.sni ??= ev.tls?.sni;
      a.host ??= ev.http?.hostname;
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

// ---- corpus

for (const file of FILES) {
  const short = file.split('/').slice(-1)[0];
  test(`suricata corpus ${short}: every flow row and alert equals an independent JSON read`, { skip }, () => {
    const text = readText(file);
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
    // Community IDs written by Suricata must be the ones we compute for the same 5-tuple.
    for (const { ev } of [...ind.flows, ...ind.alerts]) {
      if (ev.community_id === undefined) continue;
      const p = PROTO[ev.proto];
      const icmp = p === 1 || p === 58;
      assert.equal(
        communityId(ev.src_ip, ev.dest_ip, p, icmp ? ev.icmp_type : ev.src_port, icmp ? ev.icmp_code : ev.dest_port),
        ev.community_id,
      );
    }
  });
}

test('suricata corpus: the IPv6 flow of eve-small (fe80 → ff02 DHCPv6, app_proto failed) field by field', {
  skip,
}, () => {
  const { rows } = parse(readFileSync(FILES[0]), 'eve-small');
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

test('suricata: dns/tls/http names join flow rows by flow_id whatever the order of the lines', { skip }, () => {
  const text = readText(SLIPS);
  const ind = independentRead(text);
  const { res, rows } = parse(text, 'slips');
  const joined = rows.filter((r) => r.dns !== null || r.sni !== null || r.host !== null);
  assert.equal(res.joined, joined.length);
  assert.ok(rows.some((r) => r.dns !== null) && rows.some((r) => r.host !== null), 'corpus joins dns and http');
  // Each joined row's name is the one the independent reader found for that flow id.
  const ids = ind.flows.map((f) => f.flowId);
  for (let i = 0; i < rows.length; i++) {
    const a = ind.app.get(ids[i]);
    assert.equal(rows[i].dns, a?.dns ?? null);
    assert.equal(rows[i].host, a?.host ?? null);
    assert.equal(rows[i].sni, a?.sni ?? null);
  }
  // Flows first, app events after: the same names (the second pass does not depend on order).
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

test('suricata: the alert of eve-small is an IdsAlert with its exact flow_id and time, not a flow row', {
  skip,
}, () => {
  const { res, rows } = parse(readFileSync(FILES[0]), 'eve-small');
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

test('suricata: gzip input gives the same rows; a cut gzip keeps what it holds and says so', { skip }, () => {
  const text = readText(FILES[0]);
  const plain = parse(text);
  const gz = parse(gzipSync(Buffer.from(text)));
  assert.deepEqual(gz.rows, plain.rows);
  const big = gzipSync(Buffer.from(readText(SLIPS)));
  const cut = parse(big.subarray(0, Math.floor(big.length / 2)), 'cut.json.gz');
  assert.ok(cut.rows.length > 100);
  assert.ok(cut.res.errors.some((e) => /^cut\.json\.gz:0: gzip stream is truncated/.test(e.message)));
});

test('suricata: format detection by content', { skip }, () => {
  for (const f of FILES) assert.equal(looksLikeSuricataEve(readText(f).slice(0, 4096)), true, f);
  assert.equal(looksLikeSuricataEve('{"ts":1,"uid":"C1","id.orig_h":"1.2.3.4"}'), false);
  assert.equal(looksLikeSuricataEve('2 123 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 40 0 1 ACCEPT OK'), false);
});

// ---- bad input

test('suricata bad input: each bad line is an error with file:line, the good lines are kept', { skip }, () => {
  const good = readText(FILES[0])
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

test('suricata: the join map is bounded; flows past it are written without names', { skip }, () => {
  const text = readText(SLIPS);
  const { res, rows } = parse(text, 'slips', { maxJoinEntries: 10 });
  assert.ok(res.joinDropped > 0);
  assert.ok(res.joined <= 10, `joined ${res.joined}`);
  assert.equal(rows.length, 3512);
});
