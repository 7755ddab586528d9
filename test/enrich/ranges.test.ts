// IP ranges: the loaders on small files written in the documented shapes (AWS ip-ranges.json syntax
// page, Azure Service Tags download, Google's cloud.json), hostile lines reported with file and line
// or JSON path, and applyRanges/applyDirection over the real AWS VPC Flow Logs examples compared
// row by row with a linear scan of the same ranges in 128-bit integers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyDirection, buildOwnNetworks, describeOwn } from '../../src/enrich/ranges/direction.js';
import {
  applyRanges,
  buildRangeTable,
  describeRanges,
  detectRangeFormat,
  loadRangeTable,
  parseRanges,
  type RangeEntry,
} from '../../src/enrich/ranges/ranges.js';
import { EnrichSourceError } from '../../src/enrich/source-error.js';
import { parseAwsVpcLog } from '../../src/ingest/cloud/aws-vpc.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, columnIndex, DIRECTIONS } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const CSV = `# office and data centre networks
cidr,name,segment,tags
10.0.0.0/8,corp,corp,internal
172.31.0.0/16,aws-vpc-main,cloud,"internal;aws;vpc"
172.31.16.0/20,aws-subnet-a,cloud-a,internal;web
10.1.2.0/33,too-long,x,
not-a-cidr,bad,x,
192.168.1.7/24,home,lab,lab
2001:db8::/32,v6-doc,lab,internal;v6
`;

test('CSV: header, comments, quoted tags, bad lines with their line numbers, host bits warned', () => {
  assert.equal(detectRangeFormat('nets.csv', CSV), 'csv');
  const l = parseRanges('nets.csv', CSV);
  assert.deepEqual(
    l.entries.map((e) => [e.cidr, e.name, e.segment, e.tags.join(';'), e.source]),
    [
      ['10.0.0.0/8', 'corp', 'corp', 'internal', 'nets.csv:3'],
      ['172.31.0.0/16', 'aws-vpc-main', 'cloud', 'internal;aws;vpc', 'nets.csv:4'],
      ['172.31.16.0/20', 'aws-subnet-a', 'cloud-a', 'internal;web', 'nets.csv:5'],
      ['192.168.1.0/24', 'home', 'lab', 'lab', 'nets.csv:8'],
      ['2001:db8::/32', 'v6-doc', 'lab', 'internal;v6', 'nets.csv:9'],
    ],
  );
  assert.deepEqual(
    l.errors.map((e) => [e.source, e.line]),
    [
      ['nets.csv', 6],
      ['nets.csv', 7],
    ],
  );
  assert.ok(l.errors.every((e) => e instanceof EnrichSourceError));
  assert.match(l.errors[0].message, /^nets\.csv:6: .*prefix length 33/);
  assert.equal(l.warnings.length, 1);
  assert.match(l.warnings[0], /nets\.csv:8: 192\.168\.1\.7\/24 has host bits/);
  // Without a header the columns are cidr,name,segment,tags.
  const bare = parseRanges('x.csv', '10.9.0.0/16,lab9,lab,a;b\n');
  assert.deepEqual(bare.entries[0].tags, ['a', 'b']);
});

test('YAML and JSON lists: line of each entry, tags as list or string', () => {
  const yaml = `ranges:
  - cidr: 10.20.0.0/16
    name: payments
    segment: pci
    tags: [internal, pci]
  - cidr: 10.20.0.0/40
    name: broken
  - name: no-cidr
  - cidr: fd00::/8
    tags: internal;ula
`;
  const l = parseRanges('nets.yaml', yaml);
  assert.deepEqual(
    l.entries.map((e) => [e.cidr, e.name, e.tags.join(','), e.source]),
    [
      ['10.20.0.0/16', 'payments', 'internal,pci', 'nets.yaml:2'],
      ['fd00::/8', '', 'internal,ula', 'nets.yaml:9'],
    ],
  );
  assert.deepEqual(
    l.errors.map((e) => e.line),
    [6, 8],
  );
  const json = '[\n {"cidr": "100.64.0.0/10", "name": "cgnat", "tags": ["carrier"]},\n {"cidr": "1.2.3.4/99"}\n]';
  assert.equal(detectRangeFormat('r.json', json), 'json');
  const j = parseRanges('r.json', json);
  assert.equal(j.entries[0].source, 'r.json:2');
  assert.equal(j.errors[0].line, 3);
  assert.throws(() => parseRanges('b.yaml', 'ranges: [ {cidr: 10.0.0.0/8'), EnrichSourceError);
  assert.throws(() => parseRanges('b.yaml', 'ranges: 12\n'), EnrichSourceError);
});

// Shapes from docs.aws.amazon.com/vpc/latest/userguide/aws-ip-syntax.html: the same prefix appears
// under AMAZON and under its service.
const AWS = JSON.stringify({
  syncToken: '1718000000',
  createDate: '2024-06-10-06-13-14',
  prefixes: [
    { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'AMAZON', network_border_group: 'ap-northeast-2' },
    { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'S3', network_border_group: 'ap-northeast-2' },
    { ip_prefix: '15.230.39.0/24', region: 'us-east-2', service: 'AMAZON', network_border_group: 'us-east-2' },
    { ip_prefix: '52.94.76.0/33', region: 'us-west-2', service: 'AMAZON', network_border_group: 'us-west-2' },
    {
      ip_prefix: '13.34.37.64/27',
      region: 'ap-southeast-4',
      service: 'EC2',
      network_border_group: 'ap-southeast-4-lax-1',
    },
  ],
  ipv6_prefixes: [
    { ipv6_prefix: '2600:1f14::/35', region: 'us-west-2', service: 'EC2', network_border_group: 'us-west-2' },
    { ipv6_prefix: '2600:1f14::/35', region: 'us-west-2', service: 'AMAZON', network_border_group: 'us-west-2' },
  ],
});

test('AWS ip-ranges.json: one entry per prefix, named after the specific service, JSON paths in errors', () => {
  assert.equal(detectRangeFormat('ip-ranges.json', AWS), 'aws');
  const l = parseRanges('ip-ranges.json', AWS);
  const by = new Map(l.entries.map((e) => [e.cidr, e]));
  assert.equal(l.entries.length, 4);
  assert.equal(by.get('3.5.140.0/22')?.name, 'aws:S3:ap-northeast-2');
  assert.deepEqual(by.get('3.5.140.0/22')?.tags, ['aws', 'amazon', 'ap-northeast-2', 's3']);
  assert.equal(by.get('3.5.140.0/22')?.source, 'ip-ranges.json#prefixes[1]');
  assert.equal(by.get('15.230.39.0/24')?.name, 'aws:AMAZON:us-east-2');
  assert.deepEqual(by.get('13.34.37.64/27')?.tags, ['aws', 'ec2', 'ap-southeast-4', 'ap-southeast-4-lax-1']);
  assert.equal(by.get('2600:1f14::/35')?.name, 'aws:EC2:us-west-2');
  assert.equal(l.errors.length, 1);
  assert.match(l.errors[0].message, /^ip-ranges\.json: prefixes\[3\]\.ip_prefix: .*33/);
  assert.throws(() => parseRanges('x.json', '{"prefixes": [', 'aws'), EnrichSourceError);
  assert.throws(() => parseRanges('x.json', '{"nothing": 1}', 'aws'), /no prefixes/);
});

// Shape of ServiceTags_Public_*.json (learn.microsoft.com service-tags-overview, "discover service
// tags by using downloadable JSON files").
const AZURE = JSON.stringify({
  changeNumber: 312,
  cloud: 'Public',
  values: [
    {
      name: 'AzureCloud.eastus',
      id: 'AzureCloud.eastus',
      properties: {
        changeNumber: 60,
        region: 'eastus',
        regionId: 32,
        platform: 'Azure',
        systemService: '',
        addressPrefixes: ['20.42.0.0/17', '2603:1030:210::/47'],
      },
    },
    {
      name: 'Storage.EastUS',
      id: 'Storage.EastUS',
      properties: {
        changeNumber: 40,
        region: 'eastus',
        regionId: 32,
        platform: 'Azure',
        systemService: 'AzureStorage',
        addressPrefixes: ['20.42.0.0/17', '20.38.98.0/24'],
      },
    },
    { name: 'Broken', id: 'Broken', properties: { addressPrefixes: ['20.1.1.1/8x'] } },
    { name: 'NoProps', id: 'NoProps' },
  ],
});

test('Azure Service Tags: the regional service tag wins, every tag kept, errors by path', () => {
  assert.equal(detectRangeFormat('ServiceTags_Public_20240610.json', AZURE), 'azure');
  const l = parseRanges('ServiceTags_Public_20240610.json', AZURE);
  const by = new Map(l.entries.map((e) => [e.cidr, e]));
  assert.equal(by.get('20.42.0.0/17')?.name, 'azure:Storage.EastUS');
  assert.deepEqual(by.get('20.42.0.0/17')?.tags, ['azure', 'eastus', 'azurestorage']);
  assert.equal(by.get('2603:1030:210::/47')?.name, 'azure:AzureCloud.eastus');
  assert.deepEqual(
    l.errors.map((e) => e.reason.split(':')[0]),
    ['values[2].properties.addressPrefixes[0]', 'values[3]'],
  );
});

// Shape of https://www.gstatic.com/ipranges/cloud.json.
const GCP = JSON.stringify({
  syncToken: '1718010000000',
  creationTime: '2024-06-10T02:00:00.000000',
  prefixes: [
    { ipv4Prefix: '34.80.0.0/15', service: 'Google Cloud', scope: 'asia-east1' },
    { ipv6Prefix: '2600:1900:4010::/44', service: 'Google Cloud', scope: 'europe-west1' },
    { ipv4Prefix: '34.1000.0.0/16', service: 'Google Cloud', scope: 'us-east1' },
  ],
});

test('GCP cloud.json: ipv4Prefix / ipv6Prefix with service and scope', () => {
  assert.equal(detectRangeFormat('cloud.json', GCP), 'gcp');
  const l = parseRanges('cloud.json', GCP);
  assert.deepEqual(
    l.entries.map((e) => [e.cidr, e.name, e.tags.join(',')]),
    [
      ['34.80.0.0/15', 'gcp:Google Cloud:asia-east1', 'gcp,google-cloud,asia-east1'],
      ['2600:1900:4010::/44', 'gcp:Google Cloud:europe-west1', 'gcp,google-cloud,europe-west1'],
    ],
  );
  assert.match(l.errors[0].reason, /^prefixes\[2\]\.ipv4Prefix/);
});

test('duplicates: most specific wins whatever the order; equal prefix: last loaded wins, with a warning', () => {
  const { table, warnings } = loadRangeTable([
    { file: 'a.csv', text: '10.1.0.0/16,specific,s1,\n10.0.0.0/8,first,s0,\n' },
    { file: 'b.csv', text: '10.0.0.0/8,second,s0b,\n' },
  ]);
  assert.equal(table.lookup('10.1.2.3')?.name, 'specific');
  assert.equal(table.lookup('10.2.2.3')?.name, 'second');
  assert.deepEqual(warnings, ['b.csv:1: 10.0.0.0/8 also defined at a.csv:2; the later one (second) wins']);
  const hits = describeRanges(table, '10.1.9.9');
  assert.deepEqual(
    hits.map((h) => [h.origin, h.fields.range]),
    [
      ['a.csv:1', 'specific'],
      ['b.csv:1', 'second'],
      ['a.csv:2', 'first'],
    ],
  );
  assert.deepEqual(describeRanges(table, '11.0.0.1'), []);
});

// ---- on real flows

/** Independent reference: 128-bit integers and a scan of every entry, last one wins ties. */
function toBig(addr: string): bigint {
  const w = parseAddr(addr) as Uint32Array;
  return (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
}
function refLookup(entries: readonly RangeEntry[], addr: string): RangeEntry | undefined {
  const a = toBig(addr);
  let best: RangeEntry | undefined;
  let bestLen = -1;
  for (const e of entries) {
    const [net, l] = e.cidr.split('/');
    const len = Number(l) + (net.includes(':') ? 0 : 96);
    const shift = BigInt(128 - len);
    if (a >> shift !== toBig(net) >> shift) continue;
    if (len >= bestLen) {
      best = e;
      bestLen = len;
    }
  }
  return best;
}

function awsFlows(): FlowBatch[] {
  const dir = dataPath('cloud', 'aws');
  const sink = new CollectingSink(() => new FlowBatch(64));
  for (const f of readdirSync(dir).sort()) parseAwsVpcLog(readFileSync(join(dir, f)), f, 0, sink);
  return sink.batches;
}

test('applyRanges and applyDirection on the AWS VPC Flow Logs examples equal a linear scan', {
  skip: needsData(),
}, () => {
  const files = [
    { file: 'nets.csv', text: CSV },
    { file: 'ip-ranges.json', text: AWS },
    { file: 'extra.csv', text: '203.0.113.0/24,doc-net-3,dmz,partner\n0.0.0.0/0,internet,,\n' },
  ];
  const { table } = loadRangeTable(files);
  const own = buildOwnNetworks(['198.51.100.0/24'], table);
  assert.deepEqual(own.errors, []);
  const batches = awsFlows();
  const all = table.allEntries();
  const internal = all.filter((e) => e.tags.includes('internal'));
  let rows = 0;
  let named = 0;
  const dirs = new Map<string, number>();
  for (const b of batches) {
    // A source direction present before (AWS v5 flow-direction) is replaced: see direction.ts.
    applyRanges(table, b);
    applyDirection(own, b);
    for (let r = 0; r < b.length; r++) {
      const sa = b.getAddr(C.src_addr, r);
      const da = b.getAddr(C.dst_addr, r);
      if (sa === null || da === null) continue;
      rows++;
      for (const [side, addr] of [
        ['src', sa],
        ['dst', da],
      ] as const) {
        const ref = refLookup(all, addr);
        const name = b.getString(columnIndex(`${side}_range`), r);
        assert.equal(name, ref?.name || null, `${side} ${addr}`);
        assert.equal(b.getString(columnIndex(`${side}_segment`), r), ref?.segment || null);
        assert.deepEqual(b.getList(columnIndex(`${side}_tags`), r), ref?.tags ?? []);
        if (name) named++;
      }
      const isOwn = (a: string) => a.startsWith('198.51.100.') || refLookup(internal, a) !== undefined;
      const want = isOwn(sa) ? (isOwn(da) ? 'internal' : 'egress') : isOwn(da) ? 'ingress' : 'external';
      const got = DIRECTIONS[b.getNum(C.direction, r)];
      assert.equal(got, want, `${sa} → ${da}`);
      dirs.set(got, (dirs.get(got) ?? 0) + 1);
    }
  }
  assert.ok(rows > 20, `${rows} flows`);
  assert.ok(named > rows, 'most addresses fall in some range');
  assert.ok(
    (dirs.get('internal') ?? 0) > 0 && (dirs.get('ingress') ?? 0) + (dirs.get('egress') ?? 0) > 0,
    JSON.stringify([...dirs]),
  );
  assert.deepEqual(describeOwn(own, '172.31.16.139'), [
    { kind: 'network', origin: 'nets.csv:5', fields: { own: '172.31.16.0/20' } },
  ]);
  assert.equal(buildOwnNetworks(['10.0.0.0/8', '10.0.0.0/77']).errors.length, 1);
});

test('applyRanges: empty table and rows without addresses are left alone', () => {
  const b = new FlowBatch(4);
  b.addRow();
  const r = b.addRow();
  b.setIPv4(C.src_addr, r, 0x0a000001);
  applyRanges(buildRangeTable([]), b);
  assert.equal(b.isNull(columnIndex('src_range'), r), true);
  const t = buildRangeTable(parseRanges('n.csv', '10.0.0.0/8,ten,,\n').entries);
  applyRanges(t, b);
  assert.equal(b.getString(columnIndex('src_range'), r), 'ten');
  assert.equal(b.isNull(columnIndex('src_segment'), r), true);
  assert.equal(b.isNull(columnIndex('src_range'), 0), true);
});
