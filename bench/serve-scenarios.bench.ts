// Whole-product scenarios against a real `flowwatch serve` child process (loopback only):
//  - IPFIX over TCP into the store: flows/s from the first byte sent to the last flow stored.
//    TCP pushes back when the store is behind, so the figure is lossless by construction; the
//    check is that every flow sent was stored.
//  - Restart under load: NetFlow v9 at 400 k flows/s from an exporter that sends its templates
//    only once, at the start; the server is stopped and started again mid-stream. Without saved
//    templates every flow after the restart would wait for a template that never comes.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readUdpPackets } from '../src/ingest/pcap/reader.js';
import type { BenchResult } from './harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const FLOWGEN = join(ROOT, '..', 'shared', 'bench', 'flowgen.js');
const WORK = '/tmp/flowwatch-bench';

interface Serve {
  http: string;
  udp: number[];
  tcp: number[];
  stop: () => Promise<void>;
  pid: number;
}

async function serve(args: string[]): Promise<Serve> {
  const p = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let log = '';
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const s = await new Promise<{ http: string; udp_ports: number[]; tcp_ports: number[] }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${log}`)), 30_000);
    p.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
      const line = log.split('\n').find((l) => l.includes('flowwatch serving'));
      if (line) {
        clearTimeout(t);
        resolve(JSON.parse(line));
      }
    });
  });
  return {
    http: s.http,
    udp: s.udp_ports,
    tcp: s.tcp_ports,
    pid: p.pid ?? 0,
    stop: async () => {
      p.kill('SIGTERM');
      await exited;
    },
  };
}

async function health(http: string): Promise<{ flows_stored: number }> {
  return (await (await fetch(`${http}/health`)).json()) as { flows_stored: number };
}

async function metric(http: string, name: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

function gen(proto: string, flows: string, extra: string[] = []): string {
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, `${proto}-${flows}${extra.length ? '-once' : ''}.pcap`);
  if (!existsSync(out))
    execFileSync(process.execPath, [
      FLOWGEN,
      'gen',
      '--proto',
      proto,
      '--flows',
      flows,
      '--seed',
      '42',
      '--out',
      out,
      ...extra,
    ]);
  return out;
}

async function tcpIngest(): Promise<BenchResult> {
  const pcap = gen('ipfix', '8M');
  const messages = [...readUdpPackets(readFileSync(pcap))].map((p) => p.payload);
  const flows = JSON.parse(readFileSync(pcap.replace(/\.pcap$/, '.manifest.json'), 'utf8')).flows as number;
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-tcp-'));
  const s = await serve([
    '--data',
    dir,
    '--listen',
    '127.0.0.1:0',
    '--listen-tcp',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
  ]);
  const t0 = performance.now();
  const conn = net.connect(s.tcp[0], '127.0.0.1');
  await new Promise<void>((r) => conn.once('connect', () => r()));
  for (const m of messages) if (!conn.write(m)) await new Promise<void>((r) => conn.once('drain', () => r()));
  await new Promise<void>((r) => conn.end(() => r()));
  let stored = 0;
  while (stored < flows && performance.now() - t0 < 120_000) {
    await sleep(50);
    stored = (await health(s.http)).flows_stored;
  }
  const secs = (performance.now() - t0) / 1000;
  await s.stop();
  return {
    name: 'IPFIX over TCP into the store',
    value: Math.round(stored / secs),
    unit: 'flows/s',
    detail: `${stored}/${flows} flows stored in ${secs.toFixed(1)} s (TCP: nothing dropped; lossless = all stored)`,
  };
}

async function restartUnderLoad(): Promise<BenchResult[]> {
  // templates only in the first packet: after a restart, only saved templates can decode anything
  const pcap = gen('v9', '12M', ['--template-every', '100000000']);
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-restart-'));
  const port = 9000 + Math.floor(Math.random() * 900);
  const args = ['--data', dir, '--listen', `127.0.0.1:${port}`, '--http', '127.0.0.1:0'];
  let s = await serve(args);
  const sender = spawn(
    process.execPath,
    [FLOWGEN, 'send', '--in', pcap, '--port', String(port), '--rate', '400k', '--duration', '20'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  let sent = '';
  sender.stdout?.on('data', (d: Buffer) => {
    sent += d.toString();
  });
  const senderDone = new Promise<void>((r) => sender.once('exit', () => r()));
  await sleep(11_000); // > 10 s: the decoder state has been saved at least once
  const t = performance.now();
  await s.stop();
  s = await serve(args);
  const downMs = performance.now() - t;
  await senderDone;
  let prev = -1;
  let stored = (await health(s.http)).flows_stored;
  while (stored !== prev) {
    prev = stored;
    await sleep(1500);
    stored = (await health(s.http)).flows_stored;
  }
  const missing =
    (await metric(s.http, 'flowwatch_template_missing_total')) +
    (await metric(s.http, 'flowwatch_template_pending_total'));
  await s.stop();
  const sentFlows = (JSON.parse(sent.trim().split('\n').pop() ?? '{}') as { flowsSent?: number }).flowsSent ?? 0;
  return [
    {
      name: 'restart under 400k flows/s v9: flows waiting for templates',
      value: missing,
      unit: 'data sets',
      detail: `server down ${(downMs / 1000).toFixed(1)} s of a 20-s send (${sentFlows} flows); ${stored} flows stored by the restarted server`,
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  if (!existsSync(CLI) || !existsSync(FLOWGEN)) return [];
  return [await tcpIngest(), ...(await restartUnderLoad())];
}
