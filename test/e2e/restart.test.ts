// Templates survive a restart (issue 3 part 4): after `flowwatch serve` is stopped and started
// again, data packets whose templates were only sent before the restart decode at once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { needsData, REPO_ROOT } from '../helpers/data.js';
import { type ServeProcess, startServe } from '../helpers/server.js';

const FLOWGEN = join(REPO_ROOT, '..', 'shared', 'bench', 'flowgen.js');
const skip = needsData();
let server: ServeProcess | undefined;
after(() => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
});

const u16 = (p: Uint8Array, o: number) => (p[o] << 8) | p[o + 1];
/** NetFlow v9 packets with no template FlowSet (FlowSet ids 0 and 1 are templates). */
function dataOnly(p: Uint8Array): boolean {
  for (let o = 20; o + 4 <= p.length; o += u16(p, o + 2)) if (u16(p, o) <= 1 || u16(p, o + 2) < 4) return false;
  return true;
}

async function send(port: number, packets: Uint8Array[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (const p of packets) await new Promise<void>((r) => s.send(p, port, '127.0.0.1', () => r()));
  s.close();
}

async function waitStored(srv: ServeProcess, n: number): Promise<number> {
  let stored = 0;
  for (let i = 0; i < 100 && stored < n; i++) {
    await sleep(100);
    stored = await srv.flowsStored();
  }
  return stored;
}

test('after a restart, data whose template came before it decodes without waiting', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-restart-'));
  const pcap = join(dir, 'v9.pcap');
  execFileSync(process.execPath, [FLOWGEN, 'gen', '--proto', 'v9', '--flows', '20000', '--seed', '2', '--out', pcap]);
  const packets = [...readUdpPackets(readFileSync(pcap))].map((p) => p.payload);
  // first run: the first 40 packets (templates are in packet 0 and every 50th)
  const first = packets.slice(0, 40);
  // second run: only data packets from the rest, none before the next template refresh
  const second = packets.slice(40, 50).filter(dataOnly);
  assert.ok(second.length >= 5);
  // v9 header count = records in the packet (flowgen's data packets hold only flow records)
  const records = (ps: Uint8Array[]) => ps.reduce((a, p) => a + u16(p, 2), 0);
  const args = ['--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'];

  server = await startServe(args);
  await send(server.udpPorts[0], first);
  // packet 0 carries the templates (and data): everything sent is decoded in the first run
  const firstData = records(first.filter(dataOnly));
  assert.ok((await waitStored(server, firstData)) >= firstData);
  assert.equal(await server.stop(), 0);

  server = await startServe(args);
  assert.match(server.log(), /decoder state restored/);
  await send(server.udpPorts[0], second);
  assert.equal(await waitStored(server, records(second)), records(second));
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.doesNotMatch(metrics, /flowwatch_template_(missing|pending)_total\{[^}]*\} [1-9]/);
  assert.equal(await server.stop(), 0);
});
