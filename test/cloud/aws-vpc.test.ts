// AWS VPC Flow Logs: the corpus files are the record examples of the AWS VPC User Guide
// ("Flow log record examples"). Each parsed row is compared field by field with an independent
// split of the same line (plain String.split, no shared code with the parser), and the facts the
// documentation states about the examples are checked by hand.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  AWS_VPC_DEFAULT_FORMAT,
  type AwsVpcParseResult,
  looksLikeAwsVpcLog,
  parseAwsVpcLog,
} from '../../src/ingest/cloud/aws-vpc.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();
const DIR = dataPath('cloud', 'aws');
const RECEIVED = 1_700_000_000_123;

interface Row {
  [k: string]: string | number | boolean | null;
}

function parse(input: string | Uint8Array, fields?: string, capacity = 8192): { res: AwsVpcParseResult; rows: Row[] } {
  const sink = new CollectingSink(() => new FlowBatch(capacity));
  const res = parseAwsVpcLog(input, 'test.log', RECEIVED, sink, fields);
  const rows: Row[] = [];
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) {
      const num = (c: number) => (b.isNull(c, r) ? null : b.getNum(c, r));
      rows.push({
        source_type: b.columns[C.source_type].enumValues?.[b.getNum(C.source_type, r)] ?? null,
        exporter: b.getString(C.exporter, r),
        time_start: num(C.time_start),
        time_end: num(C.time_end),
        time_received: num(C.time_received),
        src_addr: b.getAddr(C.src_addr, r),
        dst_addr: b.getAddr(C.dst_addr, r),
        src_port: num(C.src_port),
        dst_port: num(C.dst_port),
        proto: num(C.proto),
        packets: num(C.packets),
        bytes: num(C.bytes),
        action: b.isNull(C.action, r) ? null : (b.columns[C.action].enumValues?.[b.getNum(C.action, r)] ?? null),
        account_id: b.getString(C.account_id, r),
        interface_id: b.getString(C.interface_id, r),
        vpc_id: b.getString(C.vpc_id, r),
        subnet_id: b.getString(C.subnet_id, r),
        instance_id: b.getString(C.instance_id, r),
        region: b.getString(C.region, r),
        zone: b.getString(C.zone, r),
        pkt_src_addr: b.getAddr(C.pkt_src_addr, r),
        pkt_dst_addr: b.getAddr(C.pkt_dst_addr, r),
        tcp_flags: num(C.tcp_flags),
        traffic_path: b.getString(C.traffic_path, r),
        direction: b.isNull(C.direction, r)
          ? null
          : (b.columns[C.direction].enumValues?.[b.getNum(C.direction, r)] ?? null),
        ip_version: num(C.ip_version),
        biflow: num(C.biflow),
      });
    }
  }
  return { res, rows };
}

/** What the AWS field table says each field of a line means, read with a plain split. */
function expected(header: string[], line: string): Row | 'NODATA' | 'SKIPDATA' {
  const v = line.trim().split(/\s+/);
  assert.equal(v.length, header.length, `independent split of ${line}`);
  const f = (name: string): string | null => {
    const i = header.indexOf(name);
    return i < 0 || v[i] === '-' ? null : v[i];
  };
  const n = (name: string): number | null => (f(name) === null ? null : Number(f(name)));
  if (f('log-status') === 'NODATA' || f('log-status') === 'SKIPDATA') return f('log-status') as 'NODATA';
  const src = f('srcaddr');
  return {
    source_type: 'aws_vpc',
    exporter: `aws:${f('account-id') ?? '-'}:${f('interface-id') ?? '-'}`,
    time_start: f('start') === null ? null : Number(f('start')) * 1000,
    time_end: f('end') === null ? null : Number(f('end')) * 1000,
    time_received: RECEIVED,
    src_addr: src,
    dst_addr: f('dstaddr'),
    src_port: n('srcport'),
    dst_port: n('dstport'),
    proto: n('protocol'),
    packets: n('packets'),
    bytes: n('bytes'),
    action: f('action')?.toLowerCase() ?? null,
    account_id: f('account-id'),
    interface_id: f('interface-id'),
    vpc_id: f('vpc-id'),
    subnet_id: f('subnet-id'),
    instance_id: f('instance-id'),
    region: f('region'),
    zone: f('az-id'),
    pkt_src_addr: f('pkt-srcaddr'),
    pkt_dst_addr: f('pkt-dstaddr'),
    tcp_flags: n('tcp-flags'),
    traffic_path: f('traffic-path'),
    direction: f('flow-direction'),
    ip_version: src === null ? null : src.includes(':') ? 6 : 4,
    biflow: 0,
  };
}

function corpus(): string[] {
  return skip ? [] : readdirSync(DIR).filter((f) => f.endsWith('.log'));
}

for (const file of corpus()) {
  test(`AWS VPC ${file}: every record equals an independent split of its line`, { skip }, () => {
    const text = readFileSync(`${DIR}/${file}`, 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const hasHeader = /^[a-z]/.test(lines[0]) && !/\d/.test(lines[0].split(' ')[0]);
    const header = (hasHeader ? lines[0] : AWS_VPC_DEFAULT_FORMAT).split(' ');
    const records = hasHeader ? lines.slice(1) : lines;
    const want = records.map((l) => expected(header, l));
    const { res, rows } = parse(text);
    assert.deepEqual(res.errors, []);
    assert.equal(res.malformed, 0);
    assert.deepEqual(res.unknownFields, []);
    assert.equal(res.records, records.length);
    assert.equal(res.nodata, want.filter((w) => w === 'NODATA').length);
    assert.equal(res.skipdata, want.filter((w) => w === 'SKIPDATA').length);
    const flows = want.filter((w) => typeof w === 'object');
    assert.equal(res.flows, flows.length);
    assert.equal(rows.length, flows.length);
    flows.forEach((w, i) => {
      assert.deepEqual(rows[i], w, `${file} flow ${i}`);
    });
    // Bytes, and gzip-compressed bytes, give the same rows.
    assert.deepEqual(parse(new Uint8Array(Buffer.from(text))).rows, rows);
    assert.deepEqual(parse(gzipSync(text)).rows, rows);
    // One batch per row: the dictionaries restart with every batch.
    assert.deepEqual(parse(text, undefined, 1).rows, rows);
    assert.ok(looksLikeAwsVpcLog(lines[0]), `${file}: detected by its first line`);
  });
}

test('AWS VPC default format: the documented facts of the examples', { skip }, () => {
  const { res, rows } = parse(readFileSync(`${DIR}/vpcflow-v2-default-format-doc-examples.log`));
  // 7 records: one NODATA, one SKIPDATA, five flows.
  assert.deepEqual([res.records, res.flows, res.nodata, res.skipdata], [7, 5, 1, 1]);
  // "RDP traffic (destination port 3389, TCP protocol) to network interface … was rejected."
  assert.equal(rows[1].dst_port, 3389);
  assert.equal(rows[1].action, 'reject');
  assert.equal(rows[1].src_addr, '172.31.9.69');
  // ICMP ping allowed in by the security group, response rejected by the network ACL.
  assert.deepEqual([rows[2].proto, rows[2].action, rows[3].proto, rows[3].action], [1, 'accept', 1, 'reject']);
  assert.equal(rows[3].src_addr, '172.31.16.139');
  assert.equal(rows[3].dst_addr, '203.0.113.12');
  // The IPv6 SSH example.
  assert.equal(rows[4].src_addr, '2001:db8:1234:a100:8d6e:3477:df66:f105');
  assert.equal(rows[4].dst_addr, '2001:db8:1234:a102:3304:8879:34cf:4071');
  assert.equal(rows[4].ip_version, 6);
  assert.equal(rows[4].dst_port, 22);
  assert.equal(rows[0].exporter, 'aws:123456789010:eni-1235b8ca123456789');
  assert.equal(rows[0].time_start, 1418530010000);
});

test('AWS VPC NAT gateway example: pkt-srcaddr/pkt-dstaddr differ from srcaddr/dstaddr', { skip }, () => {
  const { res, rows } = parse(readFileSync(`${DIR}/vpcflow-v3-custom-nat-gateway-doc-examples.log`));
  assert.equal(res.flows, 6); // no log-status field in this format: every record is a flow
  // Instance 10.0.1.5 → NAT gateway 10.0.0.220, packet destination the internet host 203.0.113.5.
  assert.equal(rows[0].dst_addr, '10.0.0.220');
  assert.equal(rows[0].pkt_dst_addr, '203.0.113.5');
  // Response from the NAT gateway to the instance: the packet's source is the internet host.
  assert.equal(rows[3].src_addr, '10.0.0.220');
  assert.equal(rows[3].pkt_src_addr, '203.0.113.5');
  assert.equal(rows[0].instance_id, null);
  assert.equal(rows[4].instance_id, 'i-01234567890123456');
  assert.equal(rows[0].exporter, 'aws:-:eni-1235b8ca123456789');
  assert.equal(rows[0].time_start, null);
});

test('AWS VPC tcp-flags example: SYN 2, SYN-ACK 18, FIN 1, SYN+FIN 3, SYN-ACK+FIN 19', { skip }, () => {
  const { res, rows } = parse(readFileSync(`${DIR}/vpcflow-v3-custom-tcp-flags-doc-examples.log`));
  assert.deepEqual(res.errors, []); // including the record with a double space
  assert.deepEqual(
    rows.map((r) => r.tcp_flags),
    [2, 18, 2, 18, 1, 1, 3, 19],
  );
  assert.equal(rows[7].dst_port, 43638);
  assert.equal(rows[7].pkt_src_addr, '10.0.0.62');
  assert.equal(rows[5].bytes, 23294588);
  assert.equal(rows[0].vpc_id, 'vpc-abcdefab012345678');
});

test('AWS VPC transit gateway and traffic-path examples', { skip }, () => {
  const tgw = parse(readFileSync(`${DIR}/vpcflow-v3-custom-transit-gateway-doc-examples.log`)).rows;
  assert.equal(tgw.length, 4);
  // The transit gateway ENIs (records 3, 4) have no instance; packet addresses are the originals.
  assert.deepEqual(
    tgw.map((r) => r.instance_id),
    ['i-01234567890123456', 'i-01234567890123456', null, null],
  );
  assert.equal(tgw[2].src_addr, '10.40.1.175');
  assert.equal(tgw[2].pkt_src_addr, '10.20.33.164');
  const v5 = parse(readFileSync(`${DIR}/vpcflow-v5-custom-traffic-path-doc-examples.log`)).rows;
  assert.deepEqual(
    v5.map((r) => [r.direction, r.traffic_path, r.region, r.zone]),
    [
      ['ingress', null, 'ap-southeast-2', 'apse2-az3'],
      ['egress', '8', 'ap-southeast-2', 'apse2-az3'], // 8: through an internet gateway
    ],
  );
});

test('AWS VPC v7/v8 fields (ECS, reject-reason) are read and validated, not stored', () => {
  const header =
    'version srcaddr dstaddr srcport dstport protocol action log-status ecs-cluster-arn ecs-cluster-name ' +
    'ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ' +
    'ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason sublocation-type ' +
    'sublocation-id pkt-src-aws-service pkt-dst-aws-service type';
  const rec =
    '8 10.0.0.1 198.51.100.7 443 51000 6 REJECT OK arn:aws:ecs:us-east-1:123456789012:cluster/c1 c1 ' +
    'arn:aws:ecs:us-east-1:123456789012:container-instance/c1/abc abc 0123abcd - svc ' +
    'arn:aws:ecs:us-east-1:123456789012:task-definition/td:1 arn:aws:ecs:us-east-1:123456789012:task/c1/t1 t1 ' +
    'BPA outpost op-0123 - - IPv4';
  const { res, rows } = parse(`${header}\n${rec}\n${rec.replace('outpost', 'satellite')}\n`);
  assert.deepEqual(res.unknownFields, []);
  assert.equal(res.flows, 1);
  assert.equal(rows[0].action, 'reject');
  assert.equal(res.errors.length, 1);
  assert.match(res.errors[0].message, /test\.log:3: field 20 \(sublocation-type\): "satellite"/);
  assert.ok(looksLikeAwsVpcLog(header));
  // A field newer than this parser is reported and skipped; the others are read.
  const later = parse('version srcaddr future-field\n9 10.0.0.1 x\n');
  assert.deepEqual(later.res.unknownFields, ['future-field']);
  assert.equal(later.rows[0].src_addr, '10.0.0.1');
});

test('AWS VPC bad input: each bad line is an error with file, line and field; the rest parse', { skip }, () => {
  const good = readFileSync(`${DIR}/vpcflow-v2-default-format-doc-examples.log`, 'utf8').trimEnd().split('\n');
  const lines = [
    good[0],
    good[0].slice(0, 60), // truncated
    `${good[1]} EXTRA`, // one field too many
    good[1].replace(' 3389 ', ' rdp '), // non-numeric port
    good[1].replace('172.31.9.69', '172.31.9.690'), // bad address
    good[1].replace('172.31.9.69', '2001:db8::1::2'), // bad IPv6
    good[1].replace(' 3389 ', ' 70000 '), // port out of range
    good[0].replace('ACCEPT', 'ALLOW'),
    good[0].replace(' OK', ' FINE'),
    good[0].replace('1418530010', '14185x0010'),
    '',
    '   ',
    `${good[4]}\r`,
    good[6],
  ];
  const { res, rows } = parse(lines.join('\n'));
  assert.equal(res.flows, 3);
  assert.deepEqual(
    rows.map((r) => r.src_addr),
    ['172.31.16.139', '203.0.113.12', '2001:db8:1234:a100:8d6e:3477:df66:f105'],
  );
  assert.equal(res.malformed, 9);
  assert.deepEqual(
    res.errors.map((e) => e.line),
    [2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  const msg = res.errors.map((e) => e.message);
  assert.match(msg[0], /^test\.log:2: \d+ fields, the format has 14 \(truncated line\?\)/);
  assert.match(msg[1], /^test\.log:3: 15 fields, the format has 14$/);
  assert.match(msg[2], /^test\.log:4: field 7 \(dstport\): "rdp"/);
  assert.match(msg[3], /^test\.log:5: field 4 \(srcaddr\): "172\.31\.9\.690"/);
  assert.match(msg[4], /^test\.log:6: field 4 \(srcaddr\)/);
  assert.match(msg[5], /^test\.log:7: field 7 \(dstport\): "70000"/);
  assert.match(msg[6], /^test\.log:8: field 13 \(action\): "ALLOW"/);
  assert.match(msg[7], /^test\.log:9: log-status: "FINE"/);
  assert.match(msg[8], /^test\.log:10: field 11 \(start\)/);
  // Bad gzip and binary garbage never throw.
  const gz = gzipSync(lines.join('\n'));
  const broken = parse(gz.subarray(0, gz.length - 12));
  assert.equal(broken.res.flows, 0);
  assert.match(broken.res.errors[0].message, /^test\.log:0: gzip/);
  const garbage = parse(new Uint8Array([0, 1, 2, 255, 10, 32, 10, 200]));
  assert.equal(garbage.res.flows, 0);
  assert.equal(garbage.res.malformed, 2);
});

test('AWS VPC custom format without a header (CloudWatch Logs delivery) via the fields argument', { skip }, () => {
  const text = readFileSync(`${DIR}/vpcflow-v3-custom-tcp-flags-doc-examples.log`, 'utf8');
  const [header, ...rest] = text.split('\n');
  assert.deepEqual(parse(rest.join('\n'), header).rows, parse(text).rows);
});

test('looksLikeAwsVpcLog says no to other formats', () => {
  for (const l of [
    '#separator \\x09',
    '{"ts":1,"uid":"C1"}',
    '1331904000.000000\tCxyz\t192.168.1.1\t80',
    'version,account-id,interface-id',
    '2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ALLOW OK',
    '',
  ])
    assert.equal(looksLikeAwsVpcLog(l), false, l);
});

test('AWS VPC concatenated objects: after a header without account-id the exporter has no account', () => {
  const withAccount =
    'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n' +
    '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n';
  const withoutAccount =
    'version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n' +
    '2 eni-1235b8ca123456789 172.31.16.21 172.31.16.139 22 20641 6 20 4249 1418530010 1418530070 ACCEPT OK\n';
  const { res, rows } = parse(withAccount + withoutAccount + withAccount);
  assert.deepEqual(res.errors, []);
  assert.deepEqual(
    rows.map((r) => [r.exporter, r.account_id]),
    [
      ['aws:123456789010:eni-1235b8ca123456789', '123456789010'],
      ['aws:-:eni-1235b8ca123456789', null],
      ['aws:123456789010:eni-1235b8ca123456789', '123456789010'],
    ],
  );
});
