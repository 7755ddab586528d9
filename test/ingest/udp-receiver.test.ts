import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readKernelDrops, UdpReceiver } from '../../src/ingest/udp/receiver.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';

async function send(port: number, n: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (let i = 0; i < n; i++)
    await new Promise<void>((r) => s.send(Buffer.from([0, 9, i & 255]), port, '127.0.0.1', () => r()));
  s.close();
}

test('a full receive queue drops datagrams and counts them per exporter', async () => {
  const counters = new ExporterCounters();
  const rx = new UdpReceiver({ addrs: ['127.0.0.1:0'], receiveBuffer: 1 << 20, queuePackets: 4, counters });
  await rx.start();
  try {
    await send(rx.ports()[0], 10);
    for (let i = 0; i < 50 && rx.queued + rx.queueDrops < 10; i++) await sleep(10);
    assert.equal(rx.queued, 4);
    assert.equal(rx.queueDrops, 6);
    assert.equal(counters.get('127.0.0.1', 'queue_drops'), 6);
    const d = rx.shift();
    assert.equal(d?.exporter, '127.0.0.1');
    assert.deepEqual([...(d?.payload ?? [])], [0, 9, 0]);
  } finally {
    await rx.stop();
  }
});

test('kernel receive drops are read from /proc/net/udp for the listener', async () => {
  const counters = new ExporterCounters();
  // The smallest buffer the kernel grants, and an event loop kept busy while another process
  // floods the port: the socket overflows, and /proc/net/udp says by how much.
  const rx = new UdpReceiver({ addrs: ['127.0.0.1:0'], receiveBuffer: 4096, queuePackets: 1 << 16, counters });
  await rx.start();
  try {
    const port = rx.ports()[0];
    const sent = 3000;
    execFileSync(process.execPath, [
      '-e',
      `const s=require('dgram').createSocket('udp4');let i=0;const b=Buffer.alloc(512);` +
        `(function f(){while(i<${sent}){s.send(b,${port},'127.0.0.1');i++;if(i%200===0)return setImmediate(f)}s.close()})()`,
    ]);
    for (let i = 0; i < 50; i++) await sleep(10);
    let got = 0;
    while (rx.shift()) got++;
    const drops = rx.kernelDrops().get('127.0.0.1:0') ?? -1;
    assert.ok(drops > 0, `expected kernel drops, got ${drops} (received ${got})`);
    assert.equal(got + drops, sent, 'every datagram was either received or counted as a kernel drop');
    assert.equal(readKernelDrops(port, 4) >= drops, true);
  } finally {
    await rx.stop();
  }
});
