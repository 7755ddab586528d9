// Azure NSG and VNet flow logs: the corpus files are Microsoft's own samples (NSG v1 and v2 from
// AzureNetworkWatcherNSGFlowLogsConnector) and Elastic's pipeline test records (NSG v2, VNet v4).
// Each file is read independently here (JSON.parse, the known trailing comma removed by hand,
// String.split of every tuple) and every parsed row is compared field by field with what
// Microsoft's "Log format" sections say the tuple's fields mean.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  type AzureFlowLogParseResult,
  looksLikeAzureFlowLog,
  parseAzureFlowLog,
} from '../../src/ingest/cloud/azure.js';
import { FlowBatch, formatMac } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();
const DIR = dataPath('cloud', 'azure');
const RECEIVED = 1_700_000_000_123;

type Row = Record<string, string | number | null>;

function parse(input: string | Uint8Array, capacity = 8192): { res: AzureFlowLogParseResult; rows: Row[] } {
  const sink = new CollectingSink(() => new FlowBatch(capacity));
  const res = parseAzureFlowLog(input, 'test.json', RECEIVED, sink);
  const rows: Row[] = [];
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) {
      const num = (c: number) => (b.isNull(c, r) ? null : b.getNum(c, r));
      const en = (c: number) => (b.isNull(c, r) ? null : (b.columns[c].enumValues?.[b.getNum(c, r)] ?? null));
      rows.push({
        source_type: en(C.source_type),
        exporter: b.getString(C.exporter, r),
        account_id: b.getString(C.account_id, r),
        interface_id: b.getString(C.interface_id, r),
        vpc_id: b.getString(C.vpc_id, r),
        time_start: num(C.time_start),
        time_end: num(C.time_end),
        time_received: num(C.time_received),
        src_addr: b.getAddr(C.src_addr, r),
        dst_addr: b.getAddr(C.dst_addr, r),
        src_port: num(C.src_port),
        dst_port: num(C.dst_port),
        proto: num(C.proto),
        ip_version: num(C.ip_version),
        direction: en(C.direction),
        action: en(C.action),
        flow_state: en(C.flow_state),
        packets: num(C.packets),
        bytes: num(C.bytes),
        rev_packets: num(C.rev_packets),
        rev_bytes: num(C.rev_bytes),
        biflow: num(C.biflow),
        src_mac: b.isNull(C.src_mac, r) ? null : formatMac(b.getNum(C.src_mac, r)),
        dst_mac: b.isNull(C.dst_mac, r) ? null : formatMac(b.getNum(C.dst_mac, r)),
      });
    }
  }
  return { res, rows };
}

// biome-ignore lint/suspicious/noExplicitAny: walking raw JSON
type Any = any;

/** The records of a corpus file, read without the parser: JSON, or one JSON object per line. */
function independentRecords(file: string): Any[] {
  let text = readFileSync(`${DIR}/${file}`, 'utf8');
  if (file === 'nsg-flowlog-v2-aks-sample.json') {
    // SOURCES.md: the one known defect, a comma after the last flowTuple.
    const fixed = text.replace(
      '"1578673983,10.201.4.6,10.244.2.21,53805,80,T,O,A,E,4,246,2,126",',
      '"1578673983,10.201.4.6,10.244.2.21,53805,80,T,O,A,E,4,246,2,126"',
    );
    assert.notEqual(fixed, text);
    text = fixed;
  }
  if (file.endsWith('.ndjson'))
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l));
  return JSON.parse(text).records;
}

const mac = (m: string) => m.toLowerCase().match(/../g)?.join(':') ?? null;
const nul = (s: string) => (s === '' ? null : Number(s));
const STATE: Record<string, string> = { B: 'start', C: 'continue', E: 'end' };

/** What Microsoft's field lists say each tuple means, from a plain split. */
function expectedRows(records: Any[]): Row[] {
  const out: Row[] = [];
  for (const rec of records) {
    const vnet = rec.category === 'FlowLogFlowEvent';
    const resId: string = vnet ? rec.flowLogResourceID : rec.resourceId;
    const account = resId.split('/')[2].toLowerCase();
    const groups: { mac: string; tuples: string[] }[] = vnet
      ? rec.flowRecords.flows.flatMap((a: Any) =>
          a.flowGroups.map((g: Any) => ({ mac: rec.macAddress, tuples: g.flowTuples })),
        )
      : rec.properties.flows.flatMap((r: Any) => r.flows.map((g: Any) => ({ mac: g.mac, tuples: g.flowTuples })));
    for (const g of groups) {
      for (const t of g.tuples) {
        const f = t.split(',');
        const v2 = f.length === 13;
        assert.ok(f.length === 8 || v2, t);
        const ts = Number(f[0]);
        const time = vnet ? ts : ts * 1000; // VNet tuples carry milliseconds (13 digits), NSG seconds
        assert.equal(String(ts).length, vnet ? 13 : 10);
        const inbound = f[6] === 'I';
        out.push({
          source_type: vnet ? 'azure_vnet' : 'azure_nsg',
          exporter: resId,
          account_id: account,
          interface_id: g.mac.toUpperCase(),
          vpc_id: vnet ? rec.targetResourceID : null,
          time_start: time,
          time_end: time,
          time_received: RECEIVED,
          src_addr: f[1],
          dst_addr: f[2],
          src_port: Number(f[3]),
          dst_port: Number(f[4]),
          proto: vnet ? Number(f[5]) : ({ T: 6, U: 17 } as Record<string, number>)[f[5]],
          ip_version: f[1].includes(':') ? 6 : 4,
          direction: inbound ? 'ingress' : 'egress',
          action: vnet ? (f[7] === 'D' ? 'reject' : 'accept') : f[7] === 'A' ? 'accept' : 'reject',
          flow_state: vnet ? (STATE[f[7]] ?? null) : v2 ? STATE[f[8]] : null,
          packets: v2 ? nul(f[9]) : null,
          bytes: v2 ? nul(f[10]) : null,
          rev_packets: v2 ? nul(f[11]) : null,
          rev_bytes: v2 ? nul(f[12]) : null,
          biflow: v2 ? 1 : 0,
          src_mac: inbound ? null : mac(g.mac),
          dst_mac: inbound ? mac(g.mac) : null,
        });
      }
    }
  }
  return out;
}

const corpus = skip ? [] : readdirSync(DIR).filter((f) => f.endsWith('.json') || f.endsWith('.ndjson'));

for (const file of corpus) {
  test(`Azure ${file}: every tuple equals an independent split of its string`, { skip }, () => {
    const records = independentRecords(file);
    const want = expectedRows(records);
    const bytes = readFileSync(`${DIR}/${file}`);
    const { res, rows } = parse(bytes);
    assert.deepEqual(res.errors, []);
    assert.equal(res.malformed, 0);
    assert.equal(res.records, records.length);
    assert.equal(res.tuples, want.length);
    assert.equal(res.flows, want.length);
    assert.equal(res.trailingCommas, file === 'nsg-flowlog-v2-aks-sample.json' ? 1 : 0);
    assert.equal(rows.length, want.length);
    for (let i = 0; i < want.length; i++) assert.deepEqual(rows[i], want[i], `${file} tuple ${i}`);
    // Text, gzip, and one row per batch (dictionaries restart) give the same rows.
    assert.deepEqual(parse(bytes.toString('utf8')).rows, rows);
    assert.deepEqual(parse(gzipSync(bytes)).rows, rows);
    assert.deepEqual(parse(bytes, 1).rows, rows);
    assert.ok(looksLikeAzureFlowLog(bytes.subarray(0, 4096).toString('utf8')), `${file} detected`);
  });
}

test('Azure NSG v1 sample: 24 records, 1187 tuples, allow and deny, all inbound', { skip }, () => {
  const { res, rows } = parse(readFileSync(`${DIR}/nsg-flowlog-v1-sample.json`));
  assert.deepEqual([res.records, res.tuples, res.flows], [24, 1187, 1187]);
  assert.deepEqual(new Set(rows.map((r) => r.action)), new Set(['accept', 'reject']));
  // SOURCES.md says "in/out", but every tuple of this sample is inbound (grep ',[TU],[IO],[AD]"':
  // 1152 T,I,A · 31 T,I,D · 4 U,I,D); egress is covered by the v2 files.
  const count = (p: (r: Row) => boolean) => rows.filter(p).length;
  assert.equal(
    count((r) => r.direction === 'ingress'),
    1187,
  );
  assert.equal(
    count((r) => r.proto === 6 && r.action === 'accept'),
    1152,
  );
  assert.equal(
    count((r) => r.proto === 6 && r.action === 'reject'),
    31,
  );
  assert.equal(
    count((r) => r.proto === 17 && r.action === 'reject'),
    4,
  );
  assert.ok(rows.every((r) => r.biflow === 0 && r.bytes === null && r.flow_state === null));
  assert.equal(rows[0].account_id, '56abfbd6-ec72-4ce9-831f-bc2b6f2c5505');
  assert.equal(rows[0].time_start, 1527644123000);
});

test('Azure NSG v2: B tuples have no counters, E tuples count both directions', { skip }, () => {
  const aks = parse(readFileSync(`${DIR}/nsg-flowlog-v2-aks-sample.json`)).rows;
  const begin = aks.find((r) => r.flow_state === 'start');
  assert.deepEqual([begin?.packets, begin?.bytes, begin?.rev_packets, begin?.rev_bytes], [null, null, null, null]);
  // "1578673977,10.201.4.6,10.244.2.21,53763,80,T,O,A,E,4,246,2,126"
  const end = aks.find((r) => r.src_port === 53763);
  assert.deepEqual(
    [end?.flow_state, end?.packets, end?.bytes, end?.rev_packets, end?.rev_bytes],
    ['end', 4, 246, 2, 126],
  );
  assert.equal(end?.src_mac, '00:0d:3a:7f:13:40'); // outbound: the NIC sent it
  const udp = aks.find((r) => r.dst_port === 53);
  assert.equal(udp?.proto, 17);
  const one = parse(readFileSync(`${DIR}/nsg-flowlog-v2-record.ndjson`)).rows;
  assert.deepEqual(
    [one[0].packets, one[0].bytes, one[0].rev_packets, one[0].rev_bytes, one[0].biflow],
    [1, 66, 1, 66, 1],
  );
});

test('Azure VNet v4: numeric protocol, ms timestamps, B/E states, encryption NX, deny (D)', { skip }, () => {
  const text = readFileSync(`${DIR}/vnet-flowlog-v4-record.ndjson`, 'utf8');
  const { rows } = parse(text);
  assert.equal(rows[0].time_start, 1663146003599);
  assert.equal(rows[1].flow_state, 'end');
  assert.deepEqual([rows[1].packets, rows[1].bytes, rows[1].rev_packets, rows[1].rev_bytes], [22, 2217, 33, 0]);
  assert.equal(
    rows[0].vpc_id,
    '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myVNet',
  );
  // The documented deny state and an NX_* encryption reason, on a second NDJSON line.
  const rec = JSON.parse(text);
  rec.flowRecords.flows[0].flowGroups[0].flowTuples = [
    '1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0',
    '1663146003606,10.0.0.6,40.74.146.17,22730,443,17,O,C,NX_FALLBACK,3,705,4,4569',
    '1663146003606,10.0.0.6,40.74.146.17,22730,443,6,O,E,Y,3,705,4,4569',
  ];
  const two = parse(`${text.trim()}\n${JSON.stringify(rec)}\n`);
  assert.equal(two.res.records, 2);
  assert.equal(two.res.flows, 4);
  const deny = two.rows[2];
  assert.deepEqual(
    [deny.action, deny.flow_state, deny.direction, deny.dst_mac],
    ['reject', null, 'ingress', '00:22:48:7b:c2:05'],
  );
  assert.deepEqual([two.rows[3].flow_state, two.rows[3].proto, two.rows[3].action], ['continue', 17, 'accept']);
  assert.equal(two.res.errors.length, 1);
  assert.match(
    two.res.errors[0].message,
    /^test\.json:2, rule DefaultRule_AllowInternetOutBound, tuple 3 .*field 9 \(encryption\)/,
  );
  assert.equal(two.res.errors[0].line, 2);
});

test('Azure bad input: each bad tuple is an error, the other tuples of the record still parse', { skip }, () => {
  const doc = JSON.parse(readFileSync(`${DIR}/nsg-flowlog-v1-sample.json`, 'utf8'));
  const group = doc.records[0].properties.flows[0].flows[0];
  const good: string[] = group.flowTuples.slice(0, 3);
  group.flowTuples = [
    good[0],
    '1527644124,10.1.0.4,10.1.1.4,51398,80,T,I', // too few fields
    good[1].replace('10.1.0.4', '10.1.0.400'), // bad address
    good[1].replace(',T,', ',X,'), // bad protocol letter
    good[1].replace(',I,', ',Q,'),
    good[1].replace(',A', ',Z'),
    good[1].replace(',80,', ',80000,'),
    '1527644124,10.1.0.4,10.1.1.4,51398,80,T,I,A,B,,,,', // v2 tuple in a Version 1 record
    42,
    good[2],
  ];
  doc.records = [doc.records[0], { category: 'Other' }, doc.records[1]];
  const { res, rows } = parse(JSON.stringify(doc, null, 2));
  const first = doc.records[0].properties.flows.flatMap((r: Any) => r.flows.flatMap((g: Any) => g.flowTuples)).length;
  const third = doc.records[2].properties.flows.flatMap((r: Any) => r.flows.flatMap((g: Any) => g.flowTuples)).length;
  assert.equal(res.records, 3);
  assert.equal(res.tuples, first + third);
  assert.equal(res.flows, first + third - 8);
  assert.equal(res.malformed, 9);
  assert.equal(rows[0].src_port, Number(good[0].split(',')[3]));
  assert.equal(rows[1].src_port, Number(good[2].split(',')[3]));
  const msg = res.errors.map((e) => e.message);
  assert.match(
    msg[0],
    /^test\.json: record 1, rule UserRule_fe_rule, tuple 2 .*: 7 fields, an NSG Version 1 tuple has 8$/,
  );
  assert.match(msg[1], /tuple 3 .*field 2 \(source IP\)/);
  assert.match(msg[2], /tuple 4 .*field 6 \(protocol\) is not T or U/);
  assert.match(msg[3], /field 7 \(direction\)/);
  assert.match(msg[4], /field 8 \(decision\)/);
  assert.match(msg[5], /field 5 \(destination port\)/);
  assert.match(msg[6], /13 fields, an NSG Version 1 tuple has 8/);
  assert.match(msg[7], /tuple 9: not a string/);
  assert.match(msg[8], /^test\.json: record 2: category "Other"/);
  assert.deepEqual(
    res.errors.map((e) => e.line),
    [1, 1, 1, 1, 1, 1, 1, 1, 2],
  );
});

test('Azure broken JSON: an error naming file, line and column; nothing thrown', { skip }, () => {
  const text = readFileSync(`${DIR}/nsg-flowlog-v1-sample.json`, 'utf8');
  // Cut mid-document: a truncated blob.
  const cut = parse(text.slice(0, 5000));
  assert.equal(cut.res.flows, 0);
  assert.equal(cut.res.malformed, 1);
  assert.match(cut.res.errors[0].message, /^test\.json: invalid JSON: line \d+, column \d+: /);
  // A missing comma between two tuples on line 19: reported there, not repaired.
  const lines = text.split('\n');
  lines[18] = lines[18].replace(/,$/, '');
  const broken = parse(lines.join('\n'));
  assert.equal(broken.res.flows, 0);
  assert.match(broken.res.errors[0].message, /^test\.json: invalid JSON: line 20, column \d+: /);
  // NDJSON: one bad line, the other lines still parse.
  const v = readFileSync(`${DIR}/nsg-flowlog-v2-record.ndjson`, 'utf8').trim();
  const nd = parse(`${v}\n${v.slice(0, 100)}\n\n${v}\n`);
  assert.equal(nd.res.flows, 2);
  assert.equal(nd.res.records, 3);
  assert.deepEqual(
    nd.res.errors.map((e) => e.line),
    [2],
  );
  assert.match(nd.res.errors[0].message, /^test\.json:2: invalid JSON: line 1, column 101: /);
  for (const garbage of [new Uint8Array([0, 1, 2, 255]), gzipSync('x').subarray(0, 8), '', 'null', '[1]'])
    assert.doesNotThrow(() => parse(garbage));
});

test('looksLikeAzureFlowLog says no to other formats', () => {
  for (const l of [
    '#separator \\x09',
    '{"ts":1,"uid":"C1","id.orig_h":"10.0.0.1"}',
    '2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
    '{"insertId":"x","jsonPayload":{"connection":{}}}',
    '',
  ])
    assert.equal(looksLikeAzureFlowLog(l), false, l);
});
