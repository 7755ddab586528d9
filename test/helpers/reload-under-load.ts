// An enrichment file replaced while `flowwatch serve` ingests a steady NetFlow stream: the scaffold
// the reload-under-load tests share. It starts serve with a small socket buffer (a stalled event
// loop shows as loss), streams the capture with flowgen, replaces the file mid-stream (rename, not
// a rewrite in place: a half-written file would be a reload of its own), takes the swap time from
// the server's reload counter, and asserts that every flow sent was stored with no drop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './data.js';
import { type ServeProcess, startServe } from './server.js';

export const FLOWGEN = join(REPO_ROOT, '..', 'shared', 'bench', 'flowgen.js');

/** Sum of a metric's samples in Prometheus text. */
export function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  return sum;
}

export async function post(
  srv: ServeProcess,
  path: string,
  body: unknown,
): Promise<{ rows: Record<string, unknown>[] }> {
  const res = await fetch(`${srv.http}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { rows: Record<string, unknown>[] };
}

export interface ReloadUnderLoad {
  dir: string;
  /** NetFlow capture flowgen sends, and the flows it holds. */
  pcap: string;
  flows: number;
  /** Lines of the `enrich:` section (indented by two spaces). */
  enrich: string[];
  rate: number;
  /** When to replace the file, after the stream started. */
  replaceAfterMs: number;
  file: string;
  newText: string;
  /** Called with the server as soon as it runs (for the caller's cleanup). */
  started: (s: ServeProcess) => void;
}

export interface ReloadRun {
  server: ServeProcess;
  rewrittenAt: number;
  /** When the server first reported the new table in use: flows received later were enriched with it. */
  swappedAt: number;
}

export async function reloadUnderLoad(o: ReloadUnderLoad): Promise<ReloadRun> {
  const config = join(o.dir, 'flowwatch.yaml');
  writeFileSync(config, ['listen:', '  receive_buffer: 1MiB', 'enrich:', ...o.enrich, ''].join('\n'));
  const server = await startServe([
    '--config',
    config,
    '--data',
    join(o.dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
  ]);
  o.started(server);
  // the first table is loaded before the stream starts (its load is not what is measured)
  await sleep(3000);
  const sender = spawn(
    process.execPath,
    [FLOWGEN, 'send', '--in', o.pcap, '--port', String(server.udpPorts[0]), '--rate', String(o.rate)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let sendOut = '';
  sender.stdout.on('data', (d: Buffer) => {
    sendOut += d.toString();
  });
  const sent = new Promise<number | null>((r) => sender.once('exit', r));
  await sleep(o.replaceAfterMs);
  const rewrittenAt = Date.now();
  writeFileSync(`${o.file}.tmp`, o.newText);
  renameSync(`${o.file}.tmp`, o.file);
  // A loaded CI machine takes longer than any fixed allowance would assume: ask the server.
  let swappedAt = 0;
  for (let i = 0; i < 300 && swappedAt === 0; i++) {
    const m = await (await fetch(`${server.http}/metrics`)).text();
    if (metric(m, 'flowwatch_enrich_reloads_total') >= 1) swappedAt = Date.now();
    else await sleep(100);
  }
  assert.ok(swappedAt > 0, 'the new table was swapped in within 30 s');
  assert.equal(await sent, 0);
  const report = JSON.parse(sendOut) as { flowsSent: number; sendErrors: number };
  assert.equal(report.flowsSent, o.flows);
  assert.equal(report.sendErrors, 0);

  let stored = 0;
  for (let i = 0; i < 100 && stored < o.flows; i++) {
    await sleep(200);
    stored = await server.flowsStored();
  }
  assert.equal(stored, o.flows);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.equal(metric(metrics, 'flowwatch_kernel_drops_total'), 0);
  assert.equal(metric(metrics, 'flowwatch_queue_drops_total'), 0);
  assert.equal(metric(metrics, 'flowwatch_sequence_lost_total'), 0);
  return { server, rewrittenAt, swappedAt };
}
