// The agent loses nothing and sends nothing twice (issue 4 part 8): `flowwatch agent` captures
// known UDP traffic on the loopback interface with tcpdump, the server is stopped half-way and
// started again, and in the end the store holds exactly the packets and bytes that were sent.
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { needsTool } from '../helpers/data.js';
import { type ServeProcess, startServe } from '../helpers/server.js';
import { type AgentProcess, boundUdp, hasTcpdumpOnLo, sendUdp, startAgent } from './helpers.js';

const TOKEN = 'agent-test-token-0123456789';
const skip = needsTool('tcpdump (as root, for capture on lo)', hasTcpdumpOnLo());
let server: ServeProcess | undefined;
let agent: AgentProcess | undefined;
const sockets: dgram.Socket[] = [];
after(async () => {
  if (agent?.proc.exitCode === null) agent.proc.kill('SIGKILL');
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
  for (const s of sockets) s.close();
});

async function agentFlows(http: string, port: number): Promise<Record<string, number>[]> {
  const r = await fetch(`${http}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({
      filter: `dst port ${port} and source_type agent`,
      fields: [
        'src_port',
        'dst_port',
        'packets',
        'bytes',
        'rev_packets',
        'time_start',
        'time_end',
        'exporter',
        'exporter_name',
        'instance_id',
        'account_id',
        'region',
      ],
      limit: 10_000,
    }),
  });
  assert.equal(r.status, 200);
  return ((await r.json()) as { rows: Record<string, number>[] }).rows;
}

const sum = (rows: Record<string, number>[], k: string) => rows.reduce((a, r) => a + (r[k] ?? 0), 0);

// The agent asks the cloud metadata service who it is; the real one (169.254.169.254) cannot be
// reached from here, so a local stand-in answers the two IMDSv2 requests (token, identity document).
async function fakeImds(): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') return res.writeHead(200).end('tok');
    if (req.url === '/latest/dynamic/instance-identity/document' && req.headers['x-aws-ec2-metadata-token'] === 'tok')
      return res
        .writeHead(200)
        .end(JSON.stringify({ accountId: '210987654321', instanceId: 'i-0feedc0ffee000001', region: 'us-east-2' }));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return s;
}

test('agent on lo: server stopped and restarted mid-way; the store ends with exactly the packets sent', {
  skip,
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-agent-'));
  const cfg = join(dir, 'serve.yaml');
  writeFileSync(cfg, `ingest:\n  tokens:\n    - name: agents\n      token: ${TOKEN}\n`);
  const data = join(dir, 'data');
  server = await startServe(['--config', cfg, '--data', data, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0']);
  const http = server.http;
  const httpPort = new URL(http).port;

  const sink = await boundUdp();
  sockets.push(sink);
  const port = sink.address().port;
  const spool = join(dir, 'spool');
  const imds = await fakeImds();
  agent = await startAgent([
    '--cloud-metadata',
    'aws',
    '--metadata-endpoint',
    `http://127.0.0.1:${(imds.address() as { port: number }).port}`,
    '--interface',
    'lo',
    '--server',
    http,
    '--token',
    TOKEN,
    '--spool',
    spool,
    '--host-id',
    'test-agent',
    '--filter',
    `udp and dst port ${port}`,
    '--active-timeout',
    '1s',
    '--idle-timeout',
    '500ms',
    '--ship-interval',
    '200ms',
  ]);

  // Three senders (three flows each time they pause longer than the idle timeout).
  const SIZE = 100;
  const phases = [400, 500, 600];
  const senders = [await boundUdp(), await boundUdp(), await boundUdp()];
  sockets.push(...senders);
  let sent = 0;

  // 1: server up
  await sendUdp(senders[0], port, phases[0], SIZE);
  sent += phases[0];
  for (let i = 0; i < 50 && sum(await agentFlows(http, port), 'packets') < phases[0]; i++) await sleep(200);
  assert.equal(sum(await agentFlows(http, port), 'packets'), phases[0], 'phase 1 shipped while the server was up');

  // 2: server down: the agent spools and retries
  assert.equal(await server.stop(), 0);
  await sendUdp(senders[1], port, phases[1], SIZE);
  sent += phases[1];
  await sleep(2000);
  assert.ok(
    readdirSync(spool).some((f) => f.endsWith('.json.gz')),
    'batches wait in the spool while the server is down',
  );

  // 3: server back on the same address; traffic continues
  server = await startServe([
    '--config',
    cfg,
    '--data',
    data,
    '--listen',
    '127.0.0.1:0',
    '--http',
    `127.0.0.1:${httpPort}`,
  ]);
  await sendUdp(senders[2], port, phases[2], SIZE);
  sent += phases[2];

  let rows = await agentFlows(http, port);
  for (let i = 0; i < 100 && sum(rows, 'packets') < sent; i++) {
    await sleep(200);
    rows = await agentFlows(http, port);
  }
  await sleep(1500); // anything sent twice would show up by now
  rows = await agentFlows(http, port);
  assert.equal(sum(rows, 'packets'), sent, 'every captured packet stored exactly once');
  assert.equal(sum(rows, 'bytes'), sent * (20 + 8 + SIZE), 'IP bytes: 20-byte IPv4 + 8-byte UDP header + payload');
  assert.equal(sum(rows, 'rev_packets'), 0);
  const keys = rows.map((r) => `${r.src_port} ${r.time_start} ${r.time_end} ${r.packets}`);
  assert.equal(new Set(keys).size, keys.length, 'no flow stored twice');
  const bySender = new Map<number, number>();
  for (const r of rows) bySender.set(r.src_port, (bySender.get(r.src_port) ?? 0) + r.packets);
  assert.deepEqual(
    senders.map((s) => bySender.get(s.address().port)),
    phases,
  );
  assert.deepEqual(
    readdirSync(spool).filter((f) => f.endsWith('.json.gz')),
    [],
    'spool empty once acknowledged',
  );

  // every flow carries the host and the identity the metadata service gave
  const r0 = rows[0] as unknown as Record<string, string>;
  assert.deepEqual(
    [r0.exporter, r0.exporter_name, r0.instance_id, r0.account_id, r0.region],
    ['test-agent', 'test-agent', 'i-0feedc0ffee000001', '210987654321', 'us-east-2'],
  );
  assert.ok(rows.every((r) => (r as unknown as Record<string, string>).instance_id === 'i-0feedc0ffee000001'));
  imds.close();

  assert.equal(await agent.stop(), 0);
  assert.match(agent.log(), /agent stopped/);
});
