// `flowwatch serve` with every network source of this slice at once, configured by YAML as a user
// would: sFlow over UDP, IPFIX over TCP, and forwarding of the UDP flows as IPFIX to another
// collector. Expected counts come from tshark's decode of the same captures.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { CLI, type ServeProcess, startServe } from '../helpers/server.js';
import { HAVE_TSHARK, tsharkFlows } from '../helpers/tshark.js';

const skip = needsData() || needsTool('tshark', HAVE_TSHARK);
const SFLOW_DIR = 'netflow/akvorado/sflow';
const IPFIX = 'netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap';

function sflowSamples(file: string): number {
  const out = execFileSync('tshark', ['-r', file, '-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return (out.match(/sFlow sample type: (Expanded f|F)low sample/g) ?? []).length;
}

let server: ServeProcess | undefined;
let fwd: dgram.Socket | undefined;
after(() => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
  fwd?.close();
  fwd = undefined;
});

test('sFlow on UDP, IPFIX on TCP and forwarding, through one configured server', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-e2e-src-'));
  // the collector flowwatch forwards to: a UDP socket decoding IPFIX
  const collector = dgram.createSocket('udp4');
  fwd = collector;
  await new Promise<void>((r) => collector.bind(0, '127.0.0.1', () => r()));
  const fwdCounters = new ExporterCounters();
  const fwdDecoder = new FlowExportDecoder({ counters: fwdCounters });
  const forwarded = new CollectingSink(() => new FlowBatch(4096));
  collector.on('message', (m) => fwdDecoder.decode(m, '127.0.0.1', Date.now(), forwarded));

  const cfg = join(dir, 'flowwatch.yaml');
  writeFileSync(
    cfg,
    [
      `data_dir: ${join(dir, 'data')}`,
      'listen:',
      '  netflow: []',
      '  ipfix: []',
      '  sflow: ["127.0.0.1:0"]',
      '  ipfix_tcp: ["127.0.0.1:0"]',
      'http:',
      '  listen: 127.0.0.1:0',
      'forward:',
      `  - to: udp://127.0.0.1:${collector.address().port}`,
      '    filter: proto udp',
      '',
    ].join('\n'),
  );
  server = await startServe(['--config', cfg]);
  const started = { http: server.http, udp_ports: server.udpPorts, tcp_ports: server.tcpPorts };

  // sFlow datagrams, each capture from its own agent (the agent address is inside the datagram)
  const files = readdirSync(dataPath(SFLOW_DIR)).map((f) => dataPath(SFLOW_DIR, f));
  let expected = 0;
  const sock = dgram.createSocket('udp4');
  for (const f of files) {
    expected += sflowSamples(f);
    for (const p of readUdpPackets(readFileSync(f)))
      await new Promise<void>((r) => sock.send(p.payload, started.udp_ports[0], '127.0.0.1', () => r()));
  }
  sock.close();
  // IPFIX messages over one TCP connection
  const ipfix = [...readUdpPackets(readFileSync(dataPath(IPFIX)))].map((p) => p.payload);
  const ipfixFlows = tsharkFlows(dataPath(IPFIX), [9991]).filter((f) => f['cflow.srcaddr'] ?? f['cflow.srcaddrv6']);
  expected += ipfixFlows.length;
  const conn = net.connect(started.tcp_ports[0], '127.0.0.1');
  await new Promise<void>((r) => conn.once('connect', () => r()));
  for (const m of ipfix) conn.write(m);
  await new Promise<void>((r) => conn.end(() => r()));

  let stored = 0;
  for (let i = 0; i < 100 && stored < expected; i++) {
    await sleep(100);
    stored = ((await (await fetch(`${started.http}/health`)).json()) as { flows_stored: number }).flows_stored;
  }
  assert.equal(stored, expected);

  const udpRows = JSON.parse(
    execFileSync(
      process.execPath,
      [CLI, 'query', '--data', join(dir, 'data'), 'proto udp', '--limit', '10000', '--format', 'json'],
      {
        encoding: 'utf8',
      },
    ),
  ) as unknown[];
  assert.ok(udpRows.length > 0);
  assert.equal(await server.stop(), 0);
  await sleep(200);
  // forwarded: exactly the UDP flows, every one of them UDP
  assert.equal(forwarded.rows, udpRows.length);
  for (const b of forwarded.batches) for (let r = 0; r < b.length; r++) assert.equal(b.getNum(C.proto, r), 17);
  assert.match(server.log(), /flowwatch stopped/);
});
