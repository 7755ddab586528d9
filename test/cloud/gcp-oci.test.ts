// GCP VPC Flow Logs and OCI VCN flow logs. The corpus files are Elastic's GCP vpcflow pipeline test
// entries (real LogEntry JSON) and the VCN flow log record of Oracle's oci-log-otel README. Each
// file is read independently here (JSON.parse per line or of the document) and every parsed row is
// compared field by field with what Google's "About VPC Flow Logs records" and Oracle's "Details
// for VCN Flow Logs" say the fields mean.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { looksLikeAwsVpcLog } from '../../src/ingest/cloud/aws-vpc.js';
import { looksLikeAzureFlowLog } from '../../src/ingest/cloud/azure.js';
import { looksLikeGcpFlowLog, parseGcpFlowLog } from '../../src/ingest/cloud/gcp.js';
import { looksLikeOciFlowLog, parseOciFlowLog } from '../../src/ingest/cloud/oci.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();
const GCP = dataPath('cloud', 'gcp', 'vpc-flow-log-entries.ndjson');
const OCI = dataPath('cloud', 'oci', 'vcn-flowlog-record-sample.json');
const RECEIVED = 1_700_000_000_123;

type Row = Record<string, string | number | null>;

function rows(sink: CollectingSink): Row[] {
  const out: Row[] = [];
  for (const b of sink.batches) {
    for (let r = 0; r < b.length; r++) {
      const num = (c: number) => (b.isNull(c, r) ? null : b.getNum(c, r));
      const en = (c: number) => (b.isNull(c, r) ? null : (b.columns[c].enumValues?.[b.getNum(c, r)] ?? null));
      out.push({
        source_type: en(C.source_type),
        exporter: b.getString(C.exporter, r),
        account_id: b.getString(C.account_id, r),
        vpc_id: b.getString(C.vpc_id, r),
        subnet_id: b.getString(C.subnet_id, r),
        instance_id: b.getString(C.instance_id, r),
        interface_id: b.getString(C.interface_id, r),
        region: b.getString(C.region, r),
        zone: b.getString(C.zone, r),
        time_start: num(C.time_start),
        time_end: num(C.time_end),
        time_received: num(C.time_received),
        src_addr: b.getAddr(C.src_addr, r),
        dst_addr: b.getAddr(C.dst_addr, r),
        src_port: num(C.src_port),
        dst_port: num(C.dst_port),
        proto: num(C.proto),
        ip_version: num(C.ip_version),
        bytes: num(C.bytes),
        packets: num(C.packets),
        action: en(C.action),
        direction: en(C.direction),
        biflow: num(C.biflow),
        src_country: b.getString(C.src_country, r),
        dst_country: b.getString(C.dst_country, r),
        src_asn: num(C.src_asn),
        dst_asn: num(C.dst_asn),
      });
    }
  }
  return out;
}

function gcp(input: string | Uint8Array, capacity = 8192) {
  const sink = new CollectingSink(() => new FlowBatch(capacity));
  const res = parseGcpFlowLog(input, 'gcp.ndjson', RECEIVED, sink);
  return { res, rows: rows(sink) };
}
function oci(input: string | Uint8Array) {
  const sink = new CollectingSink(() => new FlowBatch());
  const res = parseOciFlowLog(input, 'oci.json', RECEIVED, sink);
  return { res, rows: rows(sink) };
}

// biome-ignore lint/suspicious/noExplicitAny: walking raw JSON
type Any = any;

/** RFC 3339 with nanoseconds → ms, truncated, computed from the digits (not with the parser's code). */
function rfc3339(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$/.exec(s);
  assert.ok(m, s);
  const ms = Number(`${m[7] ?? ''}000`.slice(0, 3));
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
}

/** What Google's record format says an entry means. */
function gcpExpected(e: Any): Row {
  const p = e.jsonPayload;
  const side = p.reporter === 'SRC' ? 'src' : 'dest';
  const inst = p[`${side}_instance`];
  const vpc = p[`${side}_vpc`];
  const project = inst?.project_id ?? vpc?.project_id ?? e.resource.labels.project_id;
  return {
    source_type: 'gcp_vpc',
    exporter: inst
      ? `gcp:${project}/${inst.zone}/${inst.vm_name}`
      : `gcp:${project}/${vpc.vpc_name}/${vpc.subnetwork_name}`,
    account_id: project,
    vpc_id: vpc?.vpc_name ?? null,
    subnet_id: vpc?.subnetwork_name ?? null,
    instance_id: inst?.vm_name ?? null,
    interface_id: null,
    region: inst?.region ?? null,
    zone: inst?.zone ?? null,
    time_start: rfc3339(p.start_time),
    time_end: rfc3339(p.end_time),
    time_received: RECEIVED,
    src_addr: p.connection.src_ip,
    dst_addr: p.connection.dest_ip,
    src_port: p.connection.src_port,
    dst_port: p.connection.dest_port,
    proto: p.connection.protocol,
    ip_version: p.connection.src_ip.includes(':') ? 6 : 4,
    bytes: Number(p.bytes_sent),
    packets: Number(p.packets_sent),
    action: null,
    direction: p.reporter === 'SRC' ? 'egress' : 'ingress',
    biflow: 0,
    src_country: p.src_location?.country?.toUpperCase() ?? null,
    dst_country: p.dest_location?.country?.toUpperCase() ?? null,
    src_asn: p.src_location?.asn ?? null,
    dst_asn: p.dest_location?.asn ?? null,
  };
}

const gcpLines = skip ? [] : readFileSync(GCP, 'utf8').split('\n');
const gcpEntries: Any[] = gcpLines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l));

test('GCP corpus: every entry equals an independent read of its JSON', { skip }, () => {
  const { res, rows: got } = gcp(readFileSync(GCP));
  assert.deepEqual(res, { records: gcpEntries.length, flows: gcpEntries.length, malformed: 0, errors: [] });
  assert.equal(got.length, 7);
  for (let i = 0; i < gcpEntries.length; i++) assert.deepEqual(got[i], gcpExpected(gcpEntries[i]), `entry ${i + 1}`);
  // The 0-byte SSH attempt from AS49505 is in the corpus with its Russian location.
  assert.ok(got.some((r) => r.dst_port === 22 && r.bytes === 0 && r.src_asn === 49505 && r.src_country === 'RUS'));
});

test('GCP: both reporter records of one connection are kept, told apart by direction', { skip }, () => {
  const { rows: got } = gcp(readFileSync(GCP));
  // Pairs whose 5-tuples are each other's reverse: the VM reported its packets out (SRC) and in (DEST).
  let pairs = 0;
  for (let i = 0; i < got.length; i++) {
    for (let j = i + 1; j < got.length; j++) {
      const a = got[i];
      const b = got[j];
      if (a.src_addr !== b.dst_addr || a.dst_addr !== b.src_addr || a.src_port !== b.dst_port) continue;
      if (a.dst_port !== b.src_port) continue;
      pairs++;
      assert.equal(gcpEntries[i].jsonPayload.reporter === 'SRC', a.direction === 'egress');
      assert.notEqual(a.direction, b.direction);
      assert.equal(a.exporter, b.exporter); // the same VM observed both
    }
  }
  assert.equal(pairs, 2); // kibana ↔ 192.0.2.117:50646 and elasticsearch ↔ 192.0.2.23 (SSH)
});

test('GCP: a JSON array, one entry, gzip and small batches give the same rows', { skip }, () => {
  const want = gcp(readFileSync(GCP)).rows;
  assert.deepEqual(gcp(JSON.stringify(gcpEntries)).rows, want);
  assert.deepEqual(gcp(gzipSync(readFileSync(GCP))).rows, want);
  assert.deepEqual(gcp(readFileSync(GCP), 2).rows, want);
  assert.deepEqual(gcp(JSON.stringify(gcpEntries[3], null, 2)).rows, [want[3]]);
});

test('GCP bad input: errors name the line, the other entries are still parsed', { skip }, () => {
  const lines = gcpLines.filter((l) => l.trim() !== '');
  const mut = (i: number, f: (p: Any) => void) => {
    const e = JSON.parse(lines[i]);
    f(e.jsonPayload);
    return JSON.stringify(e);
  };
  const bad = [
    lines[0],
    `${lines[1].slice(0, 100)}`, // line 2: broken JSON
    mut(2, (p) => delete p.connection), // line 3
    mut(3, (p) => (p.connection.src_ip = '10.0.0.300')), // line 4
    mut(4, (p) => (p.bytes_sent = 'many')), // line 5
    mut(5, (p) => (p.start_time = 'yesterday')), // line 6
    lines[6],
  ].join('\n');
  const { res, rows: got } = gcp(bad);
  assert.equal(res.records, 7);
  assert.equal(res.flows, 2);
  assert.equal(res.malformed, 5);
  assert.deepEqual(
    res.errors.map((e) => e.line),
    [2, 3, 4, 5, 6],
  );
  assert.match(res.errors[0].message, /^gcp\.ndjson:2: invalid JSON/);
  assert.match(res.errors[1].message, /connection is missing/);
  assert.match(res.errors[2].message, /src_ip "10\.0\.0\.300"/);
  assert.match(res.errors[3].message, /bytes_sent "many" is not a count/);
  assert.match(res.errors[4].message, /start_time "yesterday"/);
  assert.deepEqual(got, [gcpExpected(gcpEntries[0]), gcpExpected(gcpEntries[6])]);
  assert.deepEqual(gcp('{"a":').res.errors[0].line, 0);
  assert.equal(gcp('').res.records, 0);
  assert.equal(gcp(new Uint8Array([0x1f, 0x8b, 1, 2])).res.malformed, 1);
});

// ---- OCI

/** What Oracle's field table says the record means. */
function ociExpected(rec: Any): Row {
  const ev = rec.logContent ?? rec;
  const d = ev.data;
  const o = ev.oracle;
  return {
    source_type: 'oci_vcn',
    exporter: `oci:${o.vnicocid}`,
    account_id: o.tenantid,
    vpc_id: null, // the record names no VCN
    subnet_id: o.vnicsubnetocid,
    instance_id: null,
    interface_id: o.vnicocid,
    region: o.vnicocid.split('.')[3], // ocid1.vnic.oc1.phx.…
    zone: null,
    // Epoch seconds: ten digits in the record (the envelope's `datetime` is ms of the same moment).
    time_start: d.startTime * 1000,
    time_end: d.endTime * 1000,
    time_received: RECEIVED,
    src_addr: d.sourceAddress,
    dst_addr: d.destinationAddress,
    src_port: d.sourcePort,
    dst_port: d.destinationPort,
    proto: d.protocol,
    ip_version: 4,
    bytes: d.bytesOut,
    packets: d.packets,
    action: d.action === 'ACCEPT' ? 'accept' : 'reject',
    direction: null,
    biflow: 0,
    src_country: null,
    dst_country: null,
    src_asn: null,
    dst_asn: null,
  };
}

const ociRec: Any = skip ? null : JSON.parse(readFileSync(OCI, 'utf8'));

test('OCI corpus: the record equals an independent read of its JSON', { skip }, () => {
  assert.equal(String(ociRec.logContent.data.startTime).length, 10);
  assert.equal(ociRec.datetime, ociRec.logContent.data.startTime * 1000);
  const { res, rows: got } = oci(readFileSync(OCI));
  assert.deepEqual(res, { records: 1, flows: 1, malformed: 0, nodata: 0, skipdata: 0, errors: [] });
  assert.deepEqual(got, [ociExpected(ociRec)]);
  assert.equal(got[0].region, 'phx');
  assert.equal(got[0].proto, 6); // protocolName "TCP"
});

test('OCI: the bare entry, an array, NDJSON, ms and ISO times read the same', { skip }, () => {
  const want = ociExpected(ociRec);
  assert.deepEqual(oci(JSON.stringify(ociRec.logContent)).rows, [want]);
  assert.deepEqual(oci(JSON.stringify([ociRec, ociRec.logContent])).rows, [want, want]);
  assert.deepEqual(oci(`${JSON.stringify(ociRec)}\n${JSON.stringify(ociRec)}\n`).rows, [want, want]);
  const ms = structuredClone(ociRec);
  ms.logContent.data.startTime *= 1000;
  ms.logContent.data.endTime = new Date(ociRec.logContent.data.endTime * 1000).toISOString();
  assert.deepEqual(oci(JSON.stringify(ms)).rows, [want]);
});

test('OCI bad input and NODATA: errors name the line, the others are still parsed', { skip }, () => {
  const good = JSON.stringify(ociRec);
  const mut = (f: (d: Any) => void) => {
    const r = structuredClone(ociRec);
    f(r.logContent.data);
    return JSON.stringify(r);
  };
  const text = [
    good,
    good.slice(0, 50), // 2
    mut((d) => (d.sourceAddress = 'ten.0.0.1')), // 3
    mut((d) => (d.bytesOut = '4k')), // 4
    mut((d) => (d.action = 'DROP')), // 5
    mut((d) => {
      for (const k of Object.keys(d)) if (k !== 'status' && k !== 'version') delete d[k];
      d.status = 'NODATA';
    }), // 6
    good,
  ].join('\n');
  const { res, rows: got } = oci(text);
  assert.equal(res.records, 7);
  assert.equal(res.flows, 2);
  assert.equal(res.nodata, 1);
  assert.equal(res.malformed, 4);
  assert.deepEqual(
    res.errors.map((e) => e.line),
    [2, 3, 4, 5],
  );
  assert.match(res.errors[1].message, /^oci\.json:3: data\.sourceAddress "ten\.0\.0\.1"/);
  assert.match(res.errors[2].message, /bytesOut "4k" is not a count/);
  assert.match(res.errors[3].message, /action "DROP"/);
  assert.equal(got.length, 2);
});

test('detection by content: each format is recognised by its own detector only', { skip }, () => {
  const g = readFileSync(GCP, 'utf8').slice(0, 4096);
  const o = readFileSync(OCI, 'utf8').slice(0, 4096);
  assert.equal(looksLikeGcpFlowLog(g), true);
  assert.equal(looksLikeOciFlowLog(g), false);
  assert.equal(looksLikeOciFlowLog(o), true);
  assert.equal(looksLikeGcpFlowLog(o), false);
  for (const h of [g, o]) {
    assert.equal(looksLikeAzureFlowLog(h), false);
    assert.equal(looksLikeAwsVpcLog(h.split('\n')[0]), false);
  }
  const azure = readFileSync(dataPath('cloud', 'azure', 'nsg-flowlog-v2-record.ndjson'), 'utf8').slice(0, 4096);
  assert.equal(looksLikeGcpFlowLog(azure), false);
  assert.equal(looksLikeOciFlowLog(azure), false);
});
