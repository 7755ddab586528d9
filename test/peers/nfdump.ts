// nfcapd and nfdump as an independent peer: start a collector on a free loopback UDP port, stop it
// (SIGTERM makes nfcapd write its file), and read what it stored with `nfdump -o json`.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
export const HAVE_NFCAPD = have('nfcapd') && have('nfdump');
export const HAVE_SOFTFLOWD = have('softflowd');

/** A free loopback UDP port (bound and released: good enough for a test on one machine). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Nfcapd {
  port: number;
  dir: string;
  /** SIGTERM by pid; resolves when nfcapd has written its file and exited. */
  stop(): Promise<void>;
  log(): string;
}

export async function startNfcapd(): Promise<Nfcapd> {
  const dir = mkdtempSync(join(tmpdir(), 'fw-nfcapd-'));
  const port = await freeUdpPort();
  const child = spawn('nfcapd', ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '60'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`nfcapd did not start: ${log}`)), 10_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Startup')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => reject(new Error(`nfcapd exited: ${log}`)));
  });
  return {
    port,
    dir,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      await exited;
    },
  };
}

/** One record as nfdump 1.7 prints it with `-o json` (keys vary with what the record holds). */
export type NfdumpRecord = Record<string, string | number>;

/** Every flow record nfcapd stored under `dir`. Times are printed in UTC (TZ=UTC). */
export function nfdumpRecords(dir: string): NfdumpRecord[] {
  const out = execFileSync('nfdump', ['-R', dir, '-o', 'json'], {
    env: { ...process.env, TZ: 'UTC' },
    maxBuffer: 256 << 20,
  }).toString();
  const trimmed = out.trim();
  if (trimmed === '' || !trimmed.startsWith('[')) return [];
  return (JSON.parse(trimmed) as NfdumpRecord[]).filter((r) => r.type === 'FLOW');
}

/** nfdump's time text (UTC, no zone, ms) as epoch milliseconds. */
export function nfdumpTime(s: string | number | undefined): number {
  return s === undefined ? 0 : Date.parse(`${String(s).replace(' ', 'T')}Z`);
}

/** nfdump's flag string (".A..S.", CEUAPRSF order in 1.7) as the TCP flags byte. */
export function nfdumpFlags(s: string | number | undefined): number {
  if (typeof s === 'number') return s;
  if (s === undefined) return 0;
  const letters = 'CEUAPRSF';
  let v = 0;
  const str = s.padStart(8, '.');
  for (let i = 0; i < 8; i++) if (str[i] !== '.' && str[i] === letters[i]) v |= 1 << (7 - i);
  return v;
}

/** Decode a capture of NetFlow/IPFIX export packets into FlowBatches with flowwatch's decoder. */
export function decodeCapture(pcap: Buffer, batchRows = 1024): FlowBatch[] {
  const dec = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new CollectingSink(() => new FlowBatch(batchRows));
  for (const p of readUdpPackets(pcap)) dec.decode(p.payload, p.srcAddr, p.tsMs, sink);
  return sink.batches.filter((b) => b.length > 0);
}
