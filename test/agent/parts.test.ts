// The agent's parts on their own: the streaming pcap reader against tshark on real captures cut
// into random chunks, the spool's sequence numbers across restarts and its bound, instance
// metadata (against a local stand-in of IMDSv2), and a lost acknowledgement against the real
// server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { fetchInstanceIdentity } from '../../src/agent/metadata.js';
import { PcapStreamReader } from '../../src/agent/pcap-stream.js';
import { Shipper } from '../../src/agent/shipper.js';
import { Spool } from '../../src/agent/spool.js';
import { encodeBatch } from '../../src/agent/wire.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { rng } from '../helpers/rng.js';
import { type ServeProcess, startServe } from '../helpers/server.js';
import { HAVE_TSHARK } from '../helpers/tshark.js';

const PCAPS = ['ipfixprobe-http.pcap', 'ipfixprobe-mixed.pcap', 'zeek-http-bro-org.pcap'];

test('streaming pcap reader: every frame of real captures, cut into random chunks, as tshark reads them', {
  skip: needsData() || needsTool('tshark', HAVE_TSHARK),
}, () => {
  const rnd = rng(7);
  for (const name of PCAPS) {
    const file = dataPath('pcap', 'normal', name);
    const want = execFileSync(
      'tshark',
      [
        '-r',
        file,
        '-T',
        'fields',
        '-e',
        'frame.time_epoch',
        '-e',
        'frame.len',
        '-e',
        'frame.cap_len',
        '-e',
        'frame.protocols',
      ],
      { maxBuffer: 1 << 28 },
    )
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const bytes = readFileSync(file);
    const got: { ts: number; len: number; cap: number; sha: string }[] = [];
    const reader = new PcapStreamReader({
      frame: (_lt, buf, off, end, ts, wire) =>
        got.push({
          ts,
          len: wire,
          cap: end - off,
          sha: createHash('sha1').update(buf.subarray(off, end)).digest('hex'),
        }),
    });
    for (let off = 0; off < bytes.length; ) {
      const n = 1 + Math.floor(rnd() * 300);
      reader.push(Buffer.from(bytes.subarray(off, off + n)));
      off += n;
    }
    assert.equal(reader.error, undefined);
    assert.equal(got.length, want.length, name);
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i].ts - Number(want[i][0]) * 1000) < 0.002, `${name} frame ${i + 1} time`);
      assert.equal(got[i].len, Number(want[i][1]), `${name} frame ${i + 1} len`);
      assert.equal(got[i].cap, Number(want[i][2]), `${name} frame ${i + 1} cap_len`);
    }
    // the bytes handed out are the file's: compare with one read of the whole file
    const whole: string[] = [];
    new PcapStreamReader({
      frame: (_lt, buf, off, end) => whole.push(createHash('sha1').update(buf.subarray(off, end)).digest('hex')),
    }).push(bytes);
    assert.deepEqual(
      got.map((g) => g.sha),
      whole,
    );
  }
  const bad = new PcapStreamReader({ frame: () => assert.fail('no frame from garbage') });
  bad.push(Buffer.from('this is not a pcap stream at all'));
  assert.match(bad.error ?? '', /not a pcap stream/);
});

test('spool: sequence numbers never repeat across restarts, even with an empty spool; the bound drops oldest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-spool-'));
  const body = (s: string) => gzipSync(s);
  let sp = new Spool(dir, 1 << 20);
  const epoch = sp.epoch;
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const seq = sp.peekSeq();
    seen.push(seq);
    sp.append(seq, 10, body(`b${seq}`));
  }
  // acknowledged and removed: the spool is empty
  while (sp.oldest()) sp.remove(sp.oldest() as NonNullable<ReturnType<Spool['oldest']>>);
  sp = new Spool(dir, 1 << 20);
  assert.equal(sp.epoch, epoch, 'one epoch per spool directory');
  assert.ok(sp.peekSeq() > Math.max(...seen), `after a restart the next seq (${sp.peekSeq()}) is new`);
  // unacknowledged batches survive a restart, oldest first
  const a = sp.peekSeq();
  sp.append(a, 5, body('x'));
  sp.append(a + 1, 6, body('y'));
  sp = new Spool(dir, 1 << 20);
  assert.deepEqual([sp.oldest()?.seq, sp.oldest()?.rows, sp.batches], [a, 5, 2]);
  assert.ok(sp.peekSeq() > a + 1);
  // bound: 3 batches of ~1 KiB in a 2.5 KiB spool → the oldest go, counted with their flows
  const small = new Spool(mkdtempSync(join(tmpdir(), 'fw-spool-')), 2500);
  const kb = Buffer.alloc(1000, 1);
  for (let i = 0; i < 4; i++) small.append(small.peekSeq(), 7, kb);
  assert.deepEqual([small.batches, small.droppedBatches, small.droppedFlows], [2, 2, 14]);
  assert.ok(small.bytes <= 2500);
});

// The real instance metadata service exists only on a cloud VM, and this machine sends nothing
// off loopback: this stand-in implements the IMDSv2 contract documented by AWS (a PUT for a
// session token with a TTL header; the identity document only with that token) so the client's
// requests are checked, not only its parsing.
test('AWS IMDSv2 instance identity from a local stand-in of the metadata service', async () => {
  const TOKEN = 'AQAEAFake-session-token==';
  const doc = {
    accountId: '123456789012',
    architecture: 'x86_64',
    availabilityZone: 'eu-west-1b',
    imageId: 'ami-0abcdef1234567890',
    instanceId: 'i-0123456789abcdef0',
    instanceType: 't3.micro',
    pendingTime: '2026-01-01T00:00:00Z',
    privateIp: '10.0.1.23',
    region: 'eu-west-1',
    version: '2017-09-30',
  };
  const seen: string[] = [];
  const imds = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.writeHead(400).end();
      return res.writeHead(200).end(TOKEN);
    }
    if (req.method === 'GET' && req.url === '/latest/dynamic/instance-identity/document') {
      if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) return res.writeHead(401).end();
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(JSON.stringify(doc, null, 2));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => imds.listen(0, '127.0.0.1', () => r()));
  const port = (imds.address() as { port: number }).port;
  try {
    const id = await fetchInstanceIdentity('aws', `http://127.0.0.1:${port}`);
    assert.deepEqual(id, {
      instanceId: doc.instanceId,
      accountId: doc.accountId,
      region: doc.region,
      zone: doc.availabilityZone,
    });
    assert.deepEqual(seen, ['PUT /latest/api/token', 'GET /latest/dynamic/instance-identity/document']);
  } finally {
    imds.close();
  }
});

const TOKEN = 'parts-test-token-0123456789';
let server: ServeProcess | undefined;
after(async () => {
  if (server?.proc.exitCode === null) await server.stop();
});

test('a lost acknowledgement: the batch is resent, answered "duplicate", and stored once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-lostack-'));
  const cfg = join(dir, 'serve.yaml');
  writeFileSync(cfg, `ingest:\n  tokens:\n    - name: a\n      token: ${TOKEN}\n`);
  server = await startServe([
    '--config',
    cfg,
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
  ]);
  const upstream = new URL(server.http);
  // A proxy that passes every request to the real server but, for the first two, cuts the
  // connection instead of passing the answer back: the server stored the batch, the agent
  // never heard so.
  let cut = 2;
  const proxy = http.createServer((req, res) => {
    const fwd = http.request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        if (cut > 0) {
          cut--;
          up.resume();
          up.on('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(fwd);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const spool = new Spool(join(dir, 'spool'), 1 << 20);
  const b = new FlowBatch(8);
  for (let i = 0; i < 4; i++) {
    const r = b.addRow();
    b.setNum(C.time_start, r, 1_700_000_000_000 + i);
    b.setNum(C.time_end, r, 1_700_000_000_500 + i);
    b.setIPv4(C.src_addr, r, 0xc0000201);
    b.setIPv4(C.dst_addr, r, 0xc0000202);
    b.setNum(C.src_port, r, 1000 + i);
    b.setNum(C.dst_port, r, 4242);
    b.setNum(C.proto, r, 6);
    b.setNum(C.packets, r, 1);
    b.setEnum(C.source_type, r, 'agent');
    b.setString(C.exporter, r, 'lost-ack');
  }
  for (let k = 0; k < 2; k++) {
    const seq = spool.peekSeq();
    spool.append(seq, b.length, gzipSync(encodeBatch(b, { agent: 'lost-ack', epoch: spool.epoch, seq })));
  }
  const shipper = new Shipper({
    server: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    token: TOKEN,
    spool,
    retryMinMs: 20,
    retryMaxMs: 100,
  });
  shipper.start();
  for (let i = 0; i < 100 && spool.batches > 0; i++) await sleep(50);
  await shipper.stop();
  proxy.close();
  assert.equal(spool.batches, 0);
  assert.equal(shipper.duplicates, 1, 'the first batch was stored on its first try and resent once');
  assert.equal(shipper.failures, 2);
  const r = await fetch(`${server.http}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({ filter: 'dst port 4242', fields: ['src_port'], limit: 100 }),
  });
  const rows = ((await r.json()) as { rows: { src_port: number }[] }).rows;
  assert.equal(rows.length, 8, 'two batches of four flows, each stored once');
  assert.deepEqual(
    readdirSync(join(dir, 'spool')).filter((f) => f.endsWith('.gz')),
    [],
  );
});

// Same reason as above: local stand-ins of the Azure IMDS and GCP metadata server, each refusing
// requests without the header its provider requires.
test('Azure and GCP instance identity from local stand-ins of their metadata services', async () => {
  const srv = http.createServer((req, res) => {
    if (req.url === '/metadata/instance?api-version=2021-02-01') {
      if (req.headers.metadata !== 'true') return res.writeHead(400).end();
      return res.writeHead(200).end(
        JSON.stringify({
          compute: {
            vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
            subscriptionId: '8d10da13-8125-4ba9-a717-bf7490507b3d',
            location: 'westeurope',
            zone: '',
            name: 'vm1',
          },
          network: {},
        }),
      );
    }
    if (req.headers['metadata-flavor'] !== 'Google') return res.writeHead(403).end();
    if (req.url === '/computeMetadata/v1/instance/id') return res.writeHead(200).end('4520031799277581759');
    if (req.url === '/computeMetadata/v1/instance/zone')
      return res.writeHead(200).end('projects/123456789/zones/europe-west1-b');
    if (req.url === '/computeMetadata/v1/project/project-id') return res.writeHead(200).end('my-project');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  try {
    assert.deepEqual(await fetchInstanceIdentity('azure', base), {
      instanceId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
      accountId: '8d10da13-8125-4ba9-a717-bf7490507b3d',
      region: 'westeurope',
      zone: undefined,
    });
    const g = await fetchInstanceIdentity('gcp', base);
    assert.deepEqual([g.accountId, g.zone, g.region], ['my-project', 'europe-west1-b', 'europe-west1']);
    assert.ok(g.instanceId);
  } finally {
    srv.close();
  }
});
