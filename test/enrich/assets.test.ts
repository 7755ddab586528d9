// Assets: loaders on small files in the documented shapes (EC2 DescribeInstances, Azure Resource
// Graph Resources API, Cloud Asset Inventory export), time attribution of addresses that move
// between assets, hostile lines with file and line, and applyAssets after applyRanges on the real
// AWS VPC Flow Logs examples, checked row by row against a plain scan of the entries.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type AssetEntry,
  applyAssets,
  buildAssetTable,
  describeAssets,
  detectAssetFormat,
  loadAssetTable,
  parseAssets,
} from '../../src/enrich/assets/assets.js';
import { applyRanges, loadRangeTable } from '../../src/enrich/ranges/ranges.js';
import { EnrichSourceError } from '../../src/enrich/source-error.js';
import { parseAwsVpcLog } from '../../src/ingest/cloud/aws-vpc.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C, columnIndex } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const T0 = Date.parse('2015-05-10T00:00:00Z');

const CSV = `ip,name,vm_id,account,owner,type,env,tags,valid_from,valid_to
172.31.16.139,web-01,i-0aaa,123456789010,team-web,m5.large,prod,web;linux,,
172.31.16.21,db-old,i-0bbb,123456789010,team-db,r5.xlarge,prod,database,,2015-05-10T00:00:00Z
172.31.16.21,db-new,i-0ccc,123456789010,team-db,r5.2xlarge,prod,database;new,${T0},
172.31.9.69;2001:db8::69,jump,i-0ddd,123456789010,ops,t3.micro,mgmt,bastion,,
10.0.0.300,bad-ip,,,,,,,,
10.0.0.5,bad-time,,,,,,,yesterday,
10.0.0.6,backwards,,,,,,,2000,1000
`;

test('CSV: header required, multi-address assets, bad lines with their line numbers', () => {
  assert.equal(detectAssetFormat('assets.csv', CSV), 'csv');
  const l = parseAssets('assets.csv', CSV);
  assert.deepEqual(
    l.entries.map((e) => [e.ips.join(' '), e.name, e.vmId, e.type, e.env, e.tags.join(';'), e.validFrom, e.validTo]),
    [
      ['172.31.16.139', 'web-01', 'i-0aaa', 'm5.large', 'prod', 'web;linux', undefined, undefined],
      ['172.31.16.21', 'db-old', 'i-0bbb', 'r5.xlarge', 'prod', 'database', undefined, T0],
      ['172.31.16.21', 'db-new', 'i-0ccc', 'r5.2xlarge', 'prod', 'database;new', T0, undefined],
      ['172.31.9.69 2001:db8::69', 'jump', 'i-0ddd', 't3.micro', 'mgmt', 'bastion', undefined, undefined],
    ],
  );
  assert.deepEqual(
    l.errors.map((e) => e.line),
    [6, 7, 8],
  );
  assert.match(l.errors[0].message, /^assets\.csv:6: "10\.0\.0\.300" is not an IP address/);
  assert.throws(() => parseAssets('a.csv', 'name,vm_id\nx,y\n', { format: 'csv' }), EnrichSourceError);
});

test('time attribution: the asset whose interval holds the flow time; no time means the current one', () => {
  const t = buildAssetTable(parseAssets('assets.csv', CSV).entries);
  assert.equal(t.lookup('172.31.16.21', T0 - 1)?.name, 'db-old');
  assert.equal(t.lookup('172.31.16.21', T0)?.name, 'db-new');
  assert.equal(t.lookup('172.31.16.21')?.name, 'db-new');
  assert.equal(t.lookup('2001:db8::69', T0)?.name, 'jump');
  assert.equal(t.lookup('172.31.16.22', T0), undefined);
  const hits = describeAssets(t, '172.31.16.21', T0 - 1);
  assert.deepEqual(
    hits.map((h) => [h.origin, h.fields.host, h.fields.not_at_that_time]),
    [
      ['assets.csv:3', 'db-old', undefined],
      ['assets.csv:4', 'db-new', 'true'],
    ],
  );
  // Unbounded duplicates: the later one wins, with a warning.
  const dup = loadAssetTable([
    { file: 'a.yaml', text: '- {ip: 10.1.1.1, name: first}\n' },
    { file: 'b.yaml', text: 'assets:\n  - ip: 10.1.1.1\n    name: second\n    tags: {Role: web, pci: ""}\n' },
  ]);
  assert.equal(dup.table.lookup('10.1.1.1')?.name, 'second');
  assert.deepEqual(dup.table.lookup('10.1.1.1')?.tags, ['Role=web', 'pci']);
  assert.deepEqual(dup.warnings, ['b.yaml:2: 10.1.1.1 also belongs to first (a.yaml:1); the later one wins']);
});

// Shape of `aws ec2 describe-instances` (EC2 API reference, DescribeInstances response).
const EC2 = JSON.stringify({
  Reservations: [
    {
      ReservationId: 'r-0a1b2c3d4e5f60001',
      OwnerId: '123456789012',
      Instances: [
        {
          InstanceId: 'i-0598c7d356eba48d7',
          InstanceType: 't3.medium',
          PrivateIpAddress: '10.0.1.114',
          PublicIpAddress: '3.88.12.5',
          State: { Code: 16, Name: 'running' },
          NetworkInterfaces: [
            {
              NetworkInterfaceId: 'eni-0a1b',
              PrivateIpAddresses: [
                { Primary: true, PrivateIpAddress: '10.0.1.114', Association: { PublicIp: '3.88.12.5' } },
                { Primary: false, PrivateIpAddress: '10.0.1.115' },
              ],
              Ipv6Addresses: [{ Ipv6Address: '2600:1f18:1234:5600::10' }],
            },
          ],
          Tags: [
            { Key: 'Name', Value: 'api-1' },
            { Key: 'Environment', Value: 'staging' },
            { Key: 'Owner', Value: 'platform' },
            { Key: 'role', Value: 'api' },
          ],
        },
        {
          InstanceId: 'i-0dead',
          InstanceType: 't2.micro',
          State: { Code: 48, Name: 'terminated' },
          NetworkInterfaces: [],
        },
        { InstanceId: 'i-0noip', InstanceType: 't2.micro', State: { Code: 16, Name: 'running' } },
      ],
    },
  ],
});

test('EC2 describe-instances: every address of every interface, tags to fields, account from the reservation', () => {
  assert.equal(detectAssetFormat('ec2.json', EC2), 'aws-ec2');
  const l = parseAssets('ec2.json', EC2, { snapshotMs: T0 });
  assert.equal(l.entries.length, 1);
  const e = l.entries[0];
  assert.deepEqual(e.ips, ['10.0.1.114', '3.88.12.5', '10.0.1.115', '2600:1f18:1234:5600::10']);
  assert.deepEqual(
    [e.name, e.vmId, e.account, e.owner, e.env, e.type, e.seenAt, e.source],
    [
      'api-1',
      'i-0598c7d356eba48d7',
      '123456789012',
      'platform',
      'staging',
      't3.medium',
      T0,
      'ec2.json#Reservations[0].Instances[0]',
    ],
  );
  assert.deepEqual(e.tags, ['vm', 'aws', 'role=api']);
  assert.deepEqual(
    l.errors.map((x) => x.reason),
    ['Reservations[0].Instances[2]: no IP address for i-0noip'],
  );
});

// Shape of a Resource Graph Resources API response (learn.microsoft.com/rest/api/azureresourcegraph).
const SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/app-vm-1`;
const ARG = JSON.stringify({
  totalRecords: 3,
  count: 3,
  resultTruncated: 'false',
  data: [
    {
      id: VM_ID,
      name: 'app-vm-1',
      type: 'microsoft.compute/virtualmachines',
      subscriptionId: SUB,
      tags: { environment: 'prod', owner: 'payments', tier: 'app' },
      properties: { vmId: '6f1d0c3a-1111-2222-3333-444455556666', hardwareProfile: { vmSize: 'Standard_D2s_v3' } },
    },
    {
      id: `/subscriptions/${SUB}/resourceGroups/rg-app/providers/Microsoft.Network/networkInterfaces/app-vm-1-nic`,
      name: 'app-vm-1-nic',
      type: 'microsoft.network/networkinterfaces',
      subscriptionId: SUB,
      properties: {
        virtualMachine: { id: VM_ID },
        ipConfigurations: [
          { name: 'ipconfig1', properties: { privateIPAddress: '10.1.0.4', privateIPAllocationMethod: 'Dynamic' } },
        ],
      },
    },
    {
      id: 'x',
      name: 'nic-broken',
      type: 'microsoft.network/networkinterfaces',
      properties: { ipConfigurations: [{ properties: { privateIPAddress: '10.1.0.999' } }] },
    },
  ],
});

test('Azure Resource Graph: NIC rows joined to their VM rows', () => {
  assert.equal(detectAssetFormat('arg.json', ARG), 'azure-graph');
  const l = parseAssets('arg.json', ARG);
  assert.equal(l.entries.length, 1);
  const e = l.entries[0];
  assert.deepEqual(
    [e.ips.join(), e.name, e.vmId, e.account, e.owner, e.env, e.type, e.tags.join()],
    ['10.1.0.4', 'app-vm-1', VM_ID, SUB, 'payments', 'prod', 'Standard_D2s_v3', 'vm,azure,tier=app'],
  );
  assert.match(l.errors[0].reason, /^data\[2\]: "10\.1\.0\.999"/);
});

// Cloud Asset Inventory export lines: two snapshots of the same project; 10.128.0.7 moved from
// vm-a to vm-b between them.
function gcpLine(name: string, id: string, ip: string, nat: string, update: string): string {
  return JSON.stringify({
    name: `//compute.googleapis.com/projects/acme-prod/zones/us-central1-a/instances/${name}`,
    asset_type: 'compute.googleapis.com/Instance',
    resource: {
      version: 'v1',
      discovery_name: 'Instance',
      parent: '//cloudresourcemanager.googleapis.com/projects/123456',
      data: {
        id,
        name,
        machineType:
          'https://www.googleapis.com/compute/v1/projects/acme-prod/zones/us-central1-a/machineTypes/e2-standard-4',
        labels: { env: 'prod', team: 'search' },
        networkInterfaces: [{ networkIP: ip, accessConfigs: nat ? [{ type: 'ONE_TO_ONE_NAT', natIP: nat }] : [] }],
      },
    },
    update_time: update,
  });
}
const GCP = [
  gcpLine('vm-a', '111', '10.128.0.7', '34.70.1.2', '2024-06-01T00:00:00Z'),
  JSON.stringify({
    name: '//storage.googleapis.com/bucket',
    asset_type: 'storage.googleapis.com/Bucket',
    resource: {},
  }),
  gcpLine('vm-b', '222', '10.128.0.7', '', '2024-06-05T00:00:00Z'),
  '{"truncated',
].join('\n');

test('GCP asset export: snapshots make intervals; the address moved from vm-a to vm-b', () => {
  assert.equal(detectAssetFormat('assets.ndjson', GCP), 'gcp-assets');
  const l = parseAssets('assets.ndjson', GCP);
  assert.deepEqual(
    l.entries.map((e) => [e.name, e.vmId, e.account, e.type, e.env, e.ips.join(), e.tags.join(), e.source]),
    [
      [
        'vm-a',
        '111',
        'acme-prod',
        'e2-standard-4',
        'prod',
        '10.128.0.7,34.70.1.2',
        'vm,gcp,team=search',
        'assets.ndjson:1',
      ],
      ['vm-b', '222', 'acme-prod', 'e2-standard-4', 'prod', '10.128.0.7', 'vm,gcp,team=search', 'assets.ndjson:3'],
    ],
  );
  assert.deepEqual(
    l.errors.map((e) => e.line),
    [4],
  );
  const t = buildAssetTable(l.entries);
  assert.equal(t.lookup('10.128.0.7', Date.parse('2024-05-01T00:00:00Z'))?.name, 'vm-a'); // before the first snapshot
  assert.equal(t.lookup('10.128.0.7', Date.parse('2024-06-04T23:59:59Z'))?.name, 'vm-a');
  assert.equal(t.lookup('10.128.0.7', Date.parse('2024-06-05T00:00:00Z'))?.name, 'vm-b');
  assert.equal(t.lookup('10.128.0.7')?.name, 'vm-b');
  assert.equal(t.lookup('34.70.1.2', Date.parse('2024-07-01T00:00:00Z'))?.name, 'vm-a');
});

// ---- on real flows

function refAsset(entries: readonly AssetEntry[], addr: string, t: number): AssetEntry | undefined {
  let best: AssetEntry | undefined;
  for (const e of entries) {
    if (!e.ips.includes(addr)) continue;
    if ((e.validFrom ?? -Infinity) <= t && t < (e.validTo ?? Infinity)) {
      if (best === undefined || (e.validFrom ?? -Infinity) >= (best.validFrom ?? -Infinity)) best = e;
    }
  }
  return best;
}

test('applyAssets after applyRanges on the AWS VPC examples: fields by flow time, tags merged', {
  skip: needsData(),
}, () => {
  const { table: ranges } = loadRangeTable([{ file: 'r.csv', text: '172.31.0.0/16,vpc,cloud,internal;vpc\n' }]);
  const { table } = loadAssetTable([
    { file: 'assets.csv', text: CSV },
    // web-01 is replaced by web-02 on 2015-01-01: the examples hold flows of 172.31.16.139 from
    // December 2014 and from May 2015.
    { file: 'moves.csv', text: 'ip,name,vm_id,valid_from\n172.31.16.139,web-02,i-0eee,2015-01-01T00:00:00Z\n' },
  ]);
  const dir = dataPath('cloud', 'aws');
  const sink = new CollectingSink(() => new FlowBatch(64));
  for (const f of readdirSync(dir).sort()) parseAwsVpcLog(readFileSync(join(dir, f)), f, 0, sink);
  const all = table.allEntries();
  let matched = 0;
  let merged = 0;
  const times = new Set<string>();
  for (const b of sink.batches) {
    applyRanges(ranges, b);
    applyAssets(table, b);
    for (let r = 0; r < b.length; r++) {
      for (const side of ['src', 'dst'] as const) {
        const addr = b.getAddr(columnIndex(`${side}_addr`), r);
        if (addr === null) continue;
        const t = b.getNum(C.time_start, r);
        const ref = refAsset(all, addr, t);
        const get = (f: string) => b.getString(columnIndex(`${side}_${f}`), r);
        assert.equal(get('host'), ref?.name || null, `${side} ${addr} at ${t}`);
        assert.equal(get('vm_id'), ref?.vmId || null);
        assert.equal(get('account'), ref?.account || null);
        assert.equal(get('owner'), ref?.owner || null);
        assert.equal(get('env'), ref?.env || null);
        assert.equal(get('asset_type'), ref?.type || null);
        const rangeTags = addr.startsWith('172.31.') ? ['internal', 'vpc'] : [];
        const want = [...rangeTags, ...(ref?.tags ?? []).filter((x) => !rangeTags.includes(x))];
        assert.deepEqual(b.getList(columnIndex(`${side}_tags`), r), want);
        if (ref) {
          matched++;
          times.add(`${addr}@${ref.name}`);
          if (rangeTags.length) merged++;
        }
      }
    }
  }
  assert.ok(matched >= 5 && merged > 0, `${matched} matched`);
  for (const want of ['172.31.16.139@web-01', '172.31.16.139@web-02', '172.31.16.21@db-old']) {
    assert.ok(times.has(want), [...times].join(' '));
  }
});

test('applyAssets: empty table, unknown addresses and rows without time', () => {
  const b = new FlowBatch(4);
  const r = b.addRow();
  b.setIPv4(C.src_addr, r, (172 << 24) | (31 << 16) | (16 << 8) | 21);
  applyAssets(buildAssetTable([]), b);
  assert.equal(b.isNull(columnIndex('src_host'), r), true);
  applyAssets(buildAssetTable(parseAssets('assets.csv', CSV).entries), b);
  assert.equal(b.getString(columnIndex('src_host'), r), 'db-new'); // no time: the current holder
  assert.equal(b.isNull(columnIndex('dst_host'), r), true);
});
