// HTTP ingest (issue 4 part 7) against a real `flowwatch serve` over real HTTP: flows posted as
// log shippers post them are stored and read back through /api/v1/flows; tokens are enforced;
// an agent batch id is answered "duplicate" also after the server restarted.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeBatch } from '../../src/agent/wire.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';
import { type ServeProcess, startServe } from '../helpers/server.js';

const TOKEN = 'test-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'fw-ingest-'));
const cfgFile = join(dir, 'flowwatch.yaml');
writeFileSync(
  cfgFile,
  `ingest:\n  tokens:\n    - name: shipper\n      token: ${TOKEN}\n  max_body: 64KiB\nstore:\n  flush_interval: 60s\n`,
);
const args = ['--config', cfgFile, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'];
let server: ServeProcess;
before(async () => {
  server = await startServe(args);
});
after(async () => {
  if (server?.proc.exitCode === null) await server.stop();
});

async function post(
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${server.http}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : new Uint8Array(body),
    headers,
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function flows(filter: string, fields: string[]): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${server.http}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({ filter, fields, limit: 1000, orderBy: 'time_start' }),
  });
  assert.equal(r.status, 200);
  return ((await r.json()) as { rows: Record<string, unknown>[] }).rows;
}

// AWS VPC Flow Logs (AWS's documented examples) as a Fluent Bit tail input with a regex parser
// emits them, posted by its http output with `format json_lines`: one object per line, the
// parser's field names, and `date` (the default json_date_key) as float epoch seconds.
const AWS = dataPath('cloud', 'aws', 'vpcflow-v2-default-format-doc-examples.log');
const AWS_KEYS =
  'version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status';

test('Fluent Bit json_lines of VPC flow records: stored and read back field by field; bad lines reported', {
  skip: needsData(),
}, async () => {
  const records = readFileSync(AWS, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const v = l.trim().split(/\s+/);
      return Object.fromEntries(AWS_KEYS.split(' ').map((k, i) => [k, v[i]]));
    })
    .filter((r) => r.srcaddr !== '-');
  assert.ok(records.length >= 2);
  const lines = records.map((r, i) =>
    JSON.stringify({
      date: 1700000000.25 + i,
      ...r,
      srcport: Number(r.srcport),
      dstport: Number(r.dstport),
      protocol: Number(r.protocol),
      packets: Number(r.packets),
      bytes: Number(r.bytes),
      start: Number(r.start),
      end: Number(r.end),
      action: r.action.toLowerCase(),
    }),
  );
  lines.splice(1, 0, '{"date": 1700000000.5, "srcaddr": "10.0.0.1", "dstaddr": "not-an-address"}');
  lines.push('{broken json');
  const res = await post('/api/v1/ingest/ndjson', `${lines.join('\n')}\n`);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.stored, records.length);
  const rejected = res.json.rejected as { line: number; error: string }[];
  assert.deepEqual(
    rejected.map((r) => r.line),
    [2, lines.length],
  );
  assert.match(rejected[0].error, /dstaddr: not an IP address/);

  const rows = await flows('exporter "http:shipper" and source_type http', [
    'src_addr',
    'dst_addr',
    'src_port',
    'dst_port',
    'proto',
    'packets',
    'bytes',
    'time_start',
    'time_end',
    'account_id',
    'interface_id',
    'action',
  ]);
  assert.equal(rows.length, records.length);
  const key = (r: Record<string, unknown>) => `${r.src_addr} ${r.src_port}`;
  const byKey = new Map(rows.map((r) => [key(r), r]));
  for (const r of records) {
    const got = byKey.get(`${r.srcaddr} ${r.srcport}`);
    assert.ok(got, `flow ${r.srcaddr}:${r.srcport} stored`);
    assert.equal(got.dst_addr, r.dstaddr);
    assert.equal(got.dst_port, Number(r.dstport));
    assert.equal(got.proto, Number(r.protocol));
    assert.equal(got.packets, Number(r.packets));
    assert.equal(got.bytes, Number(r.bytes));
    assert.equal(got.time_start, Number(r.start) * 1000);
    assert.equal(got.time_end, Number(r.end) * 1000);
    assert.equal(got.account_id, r.account_id);
    assert.equal(got.interface_id, r.interface_id);
    assert.equal(got.action, r.action.toLowerCase());
  }
});

test('Vector ndjson with ECS names, nested objects, ISO @timestamp, protocol names; gzip body', async () => {
  const events = [
    {
      '@timestamp': '2026-01-02T03:04:05.678Z',
      source: { ip: '2001:db8::1', port: 50000 },
      destination: { ip: '2001:db8::2', port: 443 },
      network: { transport: 'TCP', bytes: 1234, packets: 7 },
      host: { name: 'vector-1' },
    },
    {
      timestamp: '2026-01-02T03:04:06Z',
      src_ip: '192.0.2.7',
      dst_ip: '198.51.100.9',
      src_port: '5353',
      dst_port: '53',
      proto: 'udp',
      bytes: '80',
      packets: 1,
    },
  ];
  const body = gzipSync(events.map((e) => JSON.stringify(e)).join('\n'));
  const res = await post('/api/v1/ingest/ndjson', body, {
    authorization: `Bearer ${TOKEN}`,
    'content-encoding': 'gzip',
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.rejected, []);
  const rows = await flows('src ip 2001:db8::1 or src ip 192.0.2.7', [
    'src_addr',
    'dst_addr',
    'src_port',
    'dst_port',
    'proto',
    'bytes',
    'packets',
    'time_start',
    'exporter',
    'ip_version',
  ]);
  assert.deepEqual(rows, [
    {
      src_addr: '2001:db8::1',
      dst_addr: '2001:db8::2',
      src_port: 50000,
      dst_port: 443,
      proto: 6,
      bytes: 1234,
      packets: 7,
      time_start: Date.parse(events[0]['@timestamp'] as string),
      exporter: 'vector-1',
      ip_version: 6,
    },
    {
      src_addr: '192.0.2.7',
      dst_addr: '198.51.100.9',
      src_port: 5353,
      dst_port: 53,
      proto: 17,
      bytes: 80,
      packets: 1,
      time_start: Date.parse(events[1].timestamp as string),
      exporter: 'http:shipper',
      ip_version: 4,
    },
  ]);
});

test('Suricata eve.json flow events posted by a shipper keep their 5-tuple, counters and times', {
  skip: needsData(),
}, async () => {
  const events = readFileSync(dataPath('suricata', 'eve-small-elastic.json'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"event_type":"flow"'));
  assert.ok(events.length >= 1);
  const res = await post('/api/v1/ingest/ndjson', events.join('\n'));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.stored, events.length);
  for (const line of events) {
    const e = JSON.parse(line);
    const rows = await flows(`src port ${e.src_port} and dst port ${e.dest_port}`, [
      'src_addr',
      'dst_addr',
      'proto',
      'packets',
      'bytes',
      'rev_packets',
      'rev_bytes',
      'time_start',
      'time_end',
    ]);
    assert.equal(rows.length, 1);
    const r = rows[0];
    // Suricata writes IPv6 uncompressed; the WHATWG URL parser gives the RFC 5952 text form
    const v6 = (a: string) => (a.includes(':') ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a);
    assert.equal(r.src_addr, v6(e.src_ip));
    assert.equal(r.dst_addr, v6(e.dest_ip));
    assert.equal(r.proto, { TCP: 6, UDP: 17, ICMP: 1 }[e.proto as string]);
    assert.equal(r.packets, e.flow.pkts_toserver);
    assert.equal(r.bytes, e.flow.bytes_toserver);
    assert.equal(r.rev_packets, e.flow.pkts_toclient);
    assert.equal(r.rev_bytes, e.flow.bytes_toclient);
    assert.equal(r.time_start, Date.parse(e.flow.start));
    assert.equal(r.time_end, Date.parse(e.flow.end));
  }
});

test('missing or wrong token: 401 and nothing stored; over max_body: 413', async () => {
  const line = '{"src_ip":"203.0.113.1","dst_ip":"203.0.113.2","proto":6}';
  assert.equal((await post('/api/v1/ingest/ndjson', line, {})).status, 401);
  assert.equal((await post('/api/v1/ingest/ndjson', line, { authorization: `Bearer ${TOKEN}x` })).status, 401);
  assert.equal((await post('/api/v1/ingest/ndjson', line, { authorization: TOKEN })).status, 401);
  assert.equal((await post('/api/v1/ingest/flows', '{}', { authorization: 'Bearer nope' })).status, 401);
  const big = `${line}\n`.repeat(Math.ceil((65 * 1024) / line.length));
  assert.equal((await post('/api/v1/ingest/ndjson', big)).status, 413);
  assert.equal(
    (
      await post('/api/v1/ingest/ndjson', gzipSync(big), {
        authorization: `Bearer ${TOKEN}`,
        'content-encoding': 'gzip',
      })
    ).status,
    413,
  );
  assert.equal((await flows('src ip 203.0.113.1', ['src_addr'])).length, 0);
  // a body with no readable line at all is a client error
  assert.equal((await post('/api/v1/ingest/ndjson', 'hello\n')).status, 400);
});

test('agent batches: stored once; the same batch id again, also after a restart, is a duplicate', async () => {
  const b = new FlowBatch(16);
  for (let i = 0; i < 3; i++) {
    const r = b.addRow();
    b.setNum(C.time_start, r, 1_700_000_000_000 + i);
    b.setNum(C.time_end, r, 1_700_000_001_000 + i);
    b.setIPv4(C.src_addr, r, 0x0a000001);
    b.setIPv4(C.dst_addr, r, 0x0a000002);
    b.setNum(C.src_port, r, 40000 + i);
    b.setNum(C.dst_port, r, 9999);
    b.setNum(C.proto, r, 17);
    b.setNum(C.packets, r, i + 1);
    b.setNum(C.bytes, r, 100 * (i + 1));
    b.setEnum(C.source_type, r, 'agent');
    b.setString(C.exporter, r, 'host-a');
    b.setString(C.instance_id, r, 'i-0abc');
  }
  const body = encodeBatch(b, { agent: 'host-a', epoch: 'e1', seq: 7 });
  const first = await post('/api/v1/ingest/flows', body);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  assert.equal(first.json.stored, 3);
  assert.equal(first.json.duplicate, undefined);
  const again = await post('/api/v1/ingest/flows', body);
  assert.deepEqual([again.status, again.json.duplicate, again.json.stored], [200, true, 0]);

  await server.stop();
  server = await startServe(args);
  const afterRestart = await post('/api/v1/ingest/flows', body);
  assert.deepEqual([afterRestart.status, afterRestart.json.duplicate, afterRestart.json.stored], [200, true, 0]);
  // another sequence number of the same agent is new
  const next = await post('/api/v1/ingest/flows', encodeBatch(b, { agent: 'host-a', epoch: 'e1', seq: 8 }));
  assert.deepEqual([next.status, next.json.stored], [200, 3]);

  const rows = await flows('exporter "host-a" and dst port 9999', [
    'src_port',
    'packets',
    'bytes',
    'instance_id',
    'source_type',
  ]);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows.map((r) => r.packets).sort(), [1, 1, 2, 2, 3, 3]);
  assert.ok(rows.every((r) => r.instance_id === 'i-0abc' && r.source_type === 'agent'));

  // a row with a bad cell is rejected by row and column; the others are stored
  const bad = JSON.parse(encodeBatch(b, { agent: 'host-a', epoch: 'e1', seq: 9 }));
  bad.columns.src_addr[1] = '10.0.0.999';
  const partial = await post('/api/v1/ingest/flows', JSON.stringify(bad));
  assert.equal(partial.status, 200);
  assert.equal(partial.json.stored, 2);
  assert.deepEqual(
    (partial.json.rejected as { row: number; column: string }[]).map((r) => [r.row, r.column]),
    [[1, 'src_addr']],
  );
});
