// S3 and Azure Blob inputs against real local servers (s3rver, Azurite): the corpus AWS logs
// gzipped under AWS's key layout and the Azure flow logs under the NSG blob layout arrive once
// each (store counts per exporter and start time = a direct parse of every object); a second run
// reads nothing; an Azure PT1H.json that grows by blocks (header, records, footer — as Azure
// writes it) has only its new records stored.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureBlobLister } from '../../src/ingest/sources/azure-blob.js';
import { inputLister, parseInputSetting } from '../../src/ingest/sources/inputs.js';
import { S3Lister } from '../../src/ingest/sources/s3.js';
import { LogSource, type ObjectLister } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { dataPath, needsData } from '../helpers/data.js';
import { directCounts, sorted, storeCounts } from './expect.js';
import { startAzurite, startS3 } from './servers.js';

const skip = needsData();
const tmp = mkdtempSync(join(tmpdir(), 'fw-object-sources-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

async function runInput(data: string, name: string, lister: () => ObjectLister) {
  const store = await openStore({ dir: data });
  const source = new LogSource({ name, lister: lister(), store, counters: new ExporterCounters() });
  const errors: string[] = [];
  const stats = { ...(await source.runOnce()) };
  await source.stop();
  await store.close();
  return { stats, errors };
}

test('S3 input: AWS VPC logs under the AWSLogs layout, each once', { skip }, async () => {
  const s3 = await startS3();
  try {
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: CREDS,
    });
    await client.send(new CreateBucketCommand({ Bucket: 'flowlogs' }));
    const objects: [string, Uint8Array][] = [];
    const files = readdirSync(dataPath('cloud', 'aws'));
    files.forEach((f, i) => {
      const key = `prod/AWSLogs/123456789010/vpcflowlogs/us-east-1/2024/01/0${1 + (i % 2)}/123456789010_vpcflowlogs_us-east-1_fl-0${i}_20240101T0000Z_${i}.log.gz`;
      objects.push([key, gzipSync(readFileSync(dataPath('cloud', 'aws', f)))]);
    });
    for (const [Key, Body] of objects) await client.send(new PutObjectCommand({ Bucket: 'flowlogs', Key, Body }));
    await client.send(new PutObjectCommand({ Bucket: 'flowlogs', Key: 'other/not-read.log', Body: 'x' }));
    client.destroy();
    const data = join(tmp, 's3');
    const lister = () =>
      new S3Lister({
        bucket: 'flowlogs',
        prefix: 'prod/AWSLogs/',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: CREDS,
      });
    // the first run through the configured input (its lister loads the AWS SDK when first used)
    const setting = parseInputSetting(
      {
        name: 's3-prod',
        type: 's3',
        bucket: 'flowlogs',
        prefix: 'prod/AWSLogs/',
        endpoint: s3.endpoint,
        force_path_style: true,
        access_key_id: CREDS.accessKeyId,
        secret_access_key: CREDS.secretAccessKey,
      },
      'inputs[0]',
    );
    const configured = inputLister(setting);
    assert.equal(configured.description, 's3://flowlogs/prod/AWSLogs/');
    const a = await runInput(data, 's3-prod', () => configured);
    assert.equal(a.stats.objects, objects.length);
    assert.equal(a.stats.errors, 0);
    const expected = await directCounts(objects);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
    const b = await runInput(data, 's3-prod', lister);
    assert.equal(b.stats.objects, 0);
    assert.equal(b.stats.skipped, objects.length);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
  } finally {
    await s3.stop();
  }
});

/** An NSG flow log blob the way Azure commits it: header, one block per record, footer. */
async function commitBlocks(
  blob: ReturnType<ReturnType<BlobServiceClient['getContainerClient']>['getBlockBlobClient']>,
  records: unknown[],
) {
  const blocks = ['{"records":[', ...records.map((r, i) => `${i ? ',' : ''}${JSON.stringify(r)}`), ']}'];
  const ids: string[] = [];
  for (let i = 0; i < blocks.length; i++) {
    // The footer gets a fixed id so that each commit reuses it after the new record blocks.
    const id = Buffer.from(i === blocks.length - 1 ? 'footer-00000' : `block-${String(i).padStart(6, '0')}`).toString(
      'base64',
    );
    await blob.stageBlock(id, blocks[i], Buffer.byteLength(blocks[i]));
    ids.push(id);
  }
  await blob.commitBlockList(ids);
}

test('Azure Blob input: NSG layout, each blob once, a growing PT1H.json read for its new records only', {
  skip,
}, async () => {
  const az = await startAzurite();
  try {
    const service = BlobServiceClient.fromConnectionString(az.connectionString);
    const container = service.getContainerClient('insights-logs-networksecuritygroupflowevent');
    await container.create();
    const objects: [string, Uint8Array][] = [];
    const base =
      'resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2024/m=01/d=02';
    for (const [i, f] of readdirSync(dataPath('cloud', 'azure')).entries()) {
      const name = `${base}/h=0${i}/m=00/macAddress=000D3AF87856/${f.endsWith('.json') ? 'PT1H.json' : f}`;
      const bytes = readFileSync(dataPath('cloud', 'azure', f));
      await container.getBlockBlobClient(name).uploadData(bytes);
      objects.push([name, bytes]);
    }
    const data = join(tmp, 'azure');
    const lister = () =>
      new AzureBlobLister({ container: container.containerName, connectionString: az.connectionString });
    const a = await runInput(data, 'nsg', lister);
    assert.equal(a.stats.objects, objects.length);
    const expected = await directCounts(objects);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

    // A blob growing during its hour: first 3 records, then 3 more blocks committed.
    const v1 = JSON.parse(readFileSync(dataPath('cloud', 'azure', 'nsg-flowlog-v1-sample.json'), 'utf8'))
      .records as unknown[];
    assert.ok(v1.length >= 6);
    const growing = container.getBlockBlobClient(`${base}/h=23/m=00/macAddress=000D3AF87856/PT1H.json`);
    await commitBlocks(growing, v1.slice(0, 3));
    const b = await runInput(data, 'nsg', lister);
    assert.equal(b.stats.objects, 1);
    await commitBlocks(growing, v1.slice(0, 6));
    const c = await runInput(data, 'nsg', lister);
    assert.equal(c.stats.objects, 1);
    assert.equal(c.stats.resumedRows, b.stats.flows);
    assert.ok(b.stats.flows > 0 && c.stats.flows > 0);
    const whole = Buffer.from(JSON.stringify({ records: v1.slice(0, 6) }));
    await directCounts([['grown', whole]], expected);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
    const d = await runInput(data, 'nsg', lister);
    assert.equal(d.stats.objects, 0);
  } finally {
    await az.stop();
  }
});
