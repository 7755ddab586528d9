// `flowwatch import` from places logs arrive in, run as a user runs it: a watched directory, an S3
// bucket (s3rver) and an Azure Blob container (Azurite), filled with the corpus AWS and Azure flow
// logs. The store's count per exporter and start time must equal a direct parse of every object;
// a second run imports nothing (checkpoints under `import:LOCATION`); --watch picks up an object
// that arrives later and exits cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { dataPath, needsData } from '../helpers/data.js';
import { CLI } from '../helpers/server.js';
import { directCounts, sorted, storeCounts } from '../sources/expect.js';
import { startAzurite, startS3 } from '../sources/servers.js';

const skip = needsData();
const tmp = mkdtempSync(join(tmpdir(), 'fw-import-sources-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `flowwatch import --no-geo ARGS` to the end. */
function importOnce(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'import', '--no-geo', ...args],
      { env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

interface Watching {
  /** Resolves once stdout holds a line matching `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** SIGTERM, then the whole run. */
  stop(): Promise<Run>;
}

/** `flowwatch import --no-geo --watch ARGS`, left running. */
function importWatching(args: string[], env: Record<string, string> = {}): Watching {
  const proc = spawn(process.execPath, [CLI, 'import', '--no-geo', '--watch', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return {
    waitFor: async (re, ms = 20_000) => {
      const until = Date.now() + ms;
      for (;;) {
        const line = stdout.split('\n').find((l) => re.test(l));
        if (line !== undefined) return line;
        if (proc.exitCode !== null) throw new Error(`import exited (${proc.exitCode}): ${stdout}\n${stderr}`);
        if (Date.now() > until) throw new Error(`no line matching ${re} in time:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      proc.kill('SIGTERM');
      const code = await exited;
      return { code, stdout, stderr };
    },
  };
}

/** The numbers of the closing summary line. */
function summary(out: string): { objects: number; records: number; flows: number; stored: number; before: number } {
  const m =
    /imported (\d+) object\(s\) from .*: (\d+) log records, (\d+) flows decoded, (\d+) stored; (\d+) object\(s\) imported before/.exec(
      out,
    );
  assert.ok(m, `no summary in:\n${out}`);
  const [objects, records, flows, stored, before] = m.slice(1).map(Number);
  return { objects, records, flows, stored, before };
}

/** The corpus AWS (plain and gzip) and Azure logs under names a drop folder or bucket would use. */
function corpus(prefix: string): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const [i, f] of readdirSync(dataPath('cloud', 'aws')).entries()) {
    const b = readFileSync(dataPath('cloud', 'aws', f));
    out.push(i % 2 ? [`${prefix}aws/2024/01/02/${f}`, b] : [`${prefix}aws/2024/01/03/${f}.gz`, gzipSync(b)]);
  }
  for (const f of readdirSync(dataPath('cloud', 'azure')))
    out.push([`${prefix}azure/h=01/${f}`, readFileSync(dataPath('cloud', 'azure', f))]);
  return out;
}

function writeTree(root: string, files: [string, Uint8Array][]): void {
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), bytes);
  }
}

test('import --watch DIR: every settled file once, a file dropped later, SIGTERM, a rerun imports 0', {
  skip,
}, async () => {
  const drop = join(tmp, 'drop');
  const data = join(tmp, 'dir-data');
  const files = corpus('');
  writeTree(drop, files);
  writeFileSync(join(drop, '.hidden.log'), 'not a log and not read');
  const args = ['--data', data, drop, '--settle', '300ms', '--poll', '5s'];

  const w = importWatching(args);
  const first = await w.waitFor(new RegExp(`^total: ${files.length} object\\(s\\) seen, ${files.length} read`));
  assert.match(first, / 0 malformed, 0 unreadable$/);
  // Dropped the way copy tools do it (a .part file renamed when complete): the watcher wakes the
  // input and the file is read once it has settled.
  const later: [string, Uint8Array] = [
    'later/gcp.ndjson',
    readFileSync(dataPath('cloud', 'gcp', 'vpc-flow-log-entries.ndjson')),
  ];
  mkdirSync(join(drop, 'later'));
  writeFileSync(join(drop, 'later', 'gcp.ndjson.part'), later[1]);
  renameSync(join(drop, 'later', 'gcp.ndjson.part'), join(drop, later[0]));
  const line = await w.waitFor(/^later\/gcp\.ndjson: /);
  const gcpCounts = await directCounts([later]);
  const gcpFlows = [...gcpCounts.values()].reduce((a, b) => a + b, 0);
  assert.ok(gcpFlows > 0);
  assert.match(line, new RegExp(`, ${gcpFlows} flows`));
  const a = await w.stop();
  assert.equal(a.code, 0, a.stderr);
  const sa = summary(a.stdout);
  assert.equal(sa.objects, files.length + 1);
  const expected = await directCounts(files);
  await directCounts([later], expected);
  const expectedFlows = [...expected.values()].reduce((x, y) => x + y, 0);
  assert.equal(sa.flows, expectedFlows);
  assert.equal(sa.stored, expectedFlows);
  for (const [name] of files)
    assert.match(a.stdout, new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'));
  assert.doesNotMatch(a.stdout, /hidden/);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

  // Again: the checkpoints say every file is stored.
  const w2 = importWatching(args);
  await w2.waitFor(new RegExp(`^total: ${files.length + 1} object\\(s\\) seen, 0 read`));
  const b = await w2.stop();
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(summary(b.stdout), { objects: 0, records: 0, flows: 0, stored: 0, before: files.length + 1 });
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
});

test('import s3://BUCKET/PREFIX against s3rver: one pass, a rerun imports 0, --watch polls for new objects', {
  skip,
}, async () => {
  const s3 = await startS3();
  try {
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'flowlogs' }));
    const objects: [string, Uint8Array][] = [];
    for (const [i, f] of readdirSync(dataPath('cloud', 'aws')).entries())
      objects.push([
        `prod/AWSLogs/123456789010/vpcflowlogs/us-east-1/2024/01/02/123456789010_vpcflowlogs_us-east-1_fl-0${i}_20240102T0000Z_${i}.log.gz`,
        gzipSync(readFileSync(dataPath('cloud', 'aws', f))),
      ]);
    for (const [Key, Body] of objects) await client.send(new PutObjectCommand({ Bucket: 'flowlogs', Key, Body }));
    await client.send(new PutObjectCommand({ Bucket: 'flowlogs', Key: 'other/not-under-the-prefix.log', Body: 'x' }));
    const data = join(tmp, 's3-data');
    const args = ['--data', data, 's3://flowlogs/prod/AWSLogs/', '--endpoint', s3.endpoint, '--path-style'];

    const a = await importOnce(args, env);
    assert.equal(a.code, 0, a.stderr);
    const expected = await directCounts(objects);
    const expectedFlows = [...expected.values()].reduce((x, y) => x + y, 0);
    const sa = summary(a.stdout);
    assert.equal(sa.objects, objects.length);
    assert.equal(sa.flows, expectedFlows);
    assert.equal(sa.stored, expectedFlows);
    assert.equal(sa.before, 0);
    // NODATA/SKIPDATA records are records without a flow; none is malformed.
    assert.ok(sa.records >= sa.flows);
    assert.doesNotMatch(a.stdout, /malformed|errors:/);
    for (const [key] of objects) assert.ok(a.stdout.includes(`${key}: `), `no line for ${key}`);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

    const b = await importOnce(args, env);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(summary(b.stdout), { objects: 0, records: 0, flows: 0, stored: 0, before: objects.length });
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

    const w = importWatching([...args, '--poll', '300ms'], env);
    await w.waitFor(new RegExp(`^total: ${objects.length} object\\(s\\) seen, 0 read`));
    const next: [string, Uint8Array] = [
      'prod/AWSLogs/123456789010/vpcflowlogs/us-east-1/2024/01/03/123456789010_vpcflowlogs_us-east-1_fl-09_20240103T0000Z_9.log.gz',
      gzipSync(readFileSync(dataPath('cloud', 'aws', readdirSync(dataPath('cloud', 'aws'))[0]))),
    ];
    await client.send(new PutObjectCommand({ Bucket: 'flowlogs', Key: next[0], Body: next[1] }));
    client.destroy();
    await w.waitFor(new RegExp(`^total: ${objects.length + 1} object\\(s\\) seen, 1 read`));
    const c = await w.stop();
    assert.equal(c.code, 0, c.stderr);
    assert.equal(summary(c.stdout).objects, 1);
    await directCounts([next], expected);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
  } finally {
    await s3.stop();
  }
});

test('import azblob://CONTAINER/PREFIX against Azurite: NSG layout once, broken blob named, rerun imports 0', {
  skip,
}, async () => {
  const az = await startAzurite();
  try {
    const service = BlobServiceClient.fromConnectionString(az.connectionString);
    const container = service.getContainerClient('insights-logs-networksecuritygroupflowevent');
    await container.create();
    const base =
      'resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2024/m=01/d=02';
    const objects: [string, Uint8Array][] = [];
    for (const [i, f] of readdirSync(dataPath('cloud', 'azure')).entries()) {
      const name = `${base}/h=0${i}/m=00/macAddress=000D3AF87856/${f.endsWith('.json') ? 'PT1H.json' : f}`;
      const bytes = readFileSync(dataPath('cloud', 'azure', f));
      await container.getBlockBlobClient(name).uploadData(bytes);
      objects.push([name, bytes]);
    }
    // A truncated NSG document: its name must appear among the errors, the others still stored.
    const broken = `${base}/h=09/m=00/macAddress=000D3AF87856/PT1H.json`;
    const whole = readFileSync(dataPath('cloud', 'azure', 'nsg-flowlog-v2-aks-sample.json'));
    await container.getBlockBlobClient(broken).uploadData(whole.subarray(0, whole.length >> 1));
    const data = join(tmp, 'az-data');
    const location = `azblob://${container.containerName}/resourceId=`;

    const noCreds = await importOnce(['--data', data, location], { AZURE_STORAGE_CONNECTION_STRING: '' });
    assert.equal(noCreds.code, 2);
    assert.match(noCreds.stderr, /AZURE_STORAGE_CONNECTION_STRING/);

    const env = { AZURE_STORAGE_CONNECTION_STRING: az.connectionString };
    const a = await importOnce(['--data', data, location], env);
    assert.equal(a.code, 0, a.stderr);
    const expected = await directCounts(objects);
    // What a direct parse of the broken blob keeps (the records before the cut, if any).
    const brokenPart = await directCounts([[broken, whole.subarray(0, whole.length >> 1)]]);
    for (const [k, n] of brokenPart) expected.set(k, (expected.get(k) ?? 0) + n);
    const expectedFlows = [...expected.values()].reduce((x, y) => x + y, 0);
    const sa = summary(a.stdout);
    assert.equal(sa.objects, objects.length + 1);
    assert.equal(sa.stored, expectedFlows);
    assert.match(a.stdout, /^errors:$/m);
    assert.ok(a.stdout.split('errors:')[1].includes(broken), `broken blob not named:\n${a.stdout}`);
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

    // --connection-string instead of the environment; the checkpoints are the location's.
    const b = await importOnce(['--data', data, location, '--connection-string', az.connectionString], {
      AZURE_STORAGE_CONNECTION_STRING: '',
    });
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(summary(b.stdout), { objects: 0, records: 0, flows: 0, stored: 0, before: objects.length + 1 });
    assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
  } finally {
    await az.stop();
  }
});

test('import a.log.gz b.log: a corrupt gzip file is named among the errors, the file after it is stored', async () => {
  const dir = join(tmp, 'bad-gz');
  mkdirSync(dir, { recursive: true });
  let text =
    'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n';
  for (let i = 0; i < 200; i++)
    text += `2 123456789010 eni-1235b8ca123456789 172.31.16.${i % 250} 172.31.16.21 ${20000 + i} 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n`;
  const gz = Buffer.from(gzipSync(Buffer.from(text)));
  for (let i = 20; i < 60; i++) gz[i] ^= 0x55; // the deflate data damaged, the gzip header intact
  writeFileSync(join(dir, 'a.log.gz'), gz);
  writeFileSync(join(dir, 'b.log'), text.split('\n').slice(0, 6).join('\n'));
  const r = await importOnce(['--data', join(tmp, 'bad-gz-data'), join(dir, 'a.log.gz'), join(dir, 'b.log')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 1 file\(s\): .* 5 flows decoded, 5 stored/);
  assert.match(r.stdout, /^errors:\n {2}\S*a\.log\.gz: not a readable gzip stream/m);
});
