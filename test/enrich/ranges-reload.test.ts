// A range file reload under load (issue 5: "hot reload ... ingestion never pauses and never sees
// half a table"): a real `flowwatch serve` with a 300 k-line ranges CSV, fed NetFlow v9 at a steady
// rate (30 k flows/s) by flowgen (an independent generator), while the CSV is replaced by one that names every
// range differently. Every flow sent is stored, nothing is dropped by the kernel or a queue, and the
// flows received well after the reload carry the new names (queried with a filter on dst_range),
// those received before it the old ones.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { needsData, REPO_ROOT } from '../helpers/data.js';
import { type ServeProcess, startServe } from '../helpers/server.js';

const FLOWGEN = join(REPO_ROOT, '..', 'shared', 'bench', 'flowgen.js');
const LINES = 300_000;

let server: ServeProcess | undefined;
after(() => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
});

/** Every destination address of the stream (decoded by flowwatch's decoder, templates first). */
function dstAddrs(pcap: string): string[] {
  const decoder = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new CollectingSink(() => new FlowBatch(DEFAULT_BATCH_CAPACITY));
  for (const p of readUdpPackets(readFileSync(pcap))) decoder.decode(p.payload, '127.0.0.1', 0, sink);
  const out = new Set<string>();
  for (const b of sink.batches)
    for (let r = 0; r < b.length; r++) {
      const a = b.getAddr(C.dst_addr, r);
      if (a !== null) out.add(a);
    }
  return [...out];
}

/**
 * A ranges CSV of LINES lines: a /32 named `${prefix}-k` for each of the stream's destinations,
 * then /24s in 240.0.0.0/4 (never in the stream) to make up the size of a real range file.
 */
function rangesCsv(dsts: readonly string[], prefix: string): string {
  const lines = ['cidr,name,segment,tags'];
  for (let k = 0; k < dsts.length; k++) lines.push(`${dsts[k]}/32,${prefix}-${k},seg-${k % 50},prod`);
  for (let i = dsts.length; i < LINES; i++)
    lines.push(`${240 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24,${prefix}-f${i},seg-${i % 50},dev`);
  return `${lines.join('\n')}\n`;
}

async function post(srv: ServeProcess, path: string, body: unknown): Promise<{ rows: Record<string, unknown>[] }> {
  const res = await fetch(`${srv.http}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { rows: Record<string, unknown>[] };
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  return sum;
}

test('flowwatch serve: a 300 k-line ranges reload while 30 k flows/s stream in loses no flow and names the later flows anew', {
  skip: needsData() || undefined,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-ranges-reload-'));
  const pcap = join(dir, 'v9.pcap');
  execFileSync(process.execPath, [FLOWGEN, 'gen', '--proto', 'v9', '--flows', '200000', '--seed', '5', '--out', pcap]);
  const info = JSON.parse(execFileSync(process.execPath, [FLOWGEN, 'info', '--in', pcap]).toString()) as {
    flows: number;
  };
  const dsts = dstAddrs(pcap);
  assert.ok(dsts.length > 1000 && dsts.length < LINES / 2, `${dsts.length} destinations`);
  const ranges = join(dir, 'ranges.csv');
  writeFileSync(ranges, rangesCsv(dsts, 'old'));
  const newText = rangesCsv(dsts, 'new');
  writeFileSync(
    join(dir, 'flowwatch.yaml'),
    [
      'listen:',
      // what a stalled loop would have to lean on; small so that a stall shows as loss
      '  receive_buffer: 1MiB',
      'enrich:',
      '  reload_interval: 200ms',
      '  ranges:',
      `    - ${ranges}`,
      '',
    ].join('\n'),
  );
  server = await startServe([
    '--config',
    join(dir, 'flowwatch.yaml'),
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
  ]);
  // the first table is loaded before the stream starts (its load is not what is measured)
  await sleep(3000);
  const sender = spawn(
    process.execPath,
    [FLOWGEN, 'send', '--in', pcap, '--port', String(server.udpPorts[0]), '--rate', '30000'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let sendOut = '';
  sender.stdout.on('data', (d: Buffer) => {
    sendOut += d.toString();
  });
  const sent = new Promise<number | null>((r) => sender.once('exit', r));
  await sleep(1500);
  // replaced, not rewritten in place: a half-written file would be a reload of its own
  const rewrittenAt = Date.now();
  writeFileSync(`${ranges}.tmp`, newText);
  renameSync(`${ranges}.tmp`, ranges);
  // When the new table is in use, as the server reports it: every flow received after this moment
  // is enriched after it (a loaded CI machine takes longer than a fixed allowance would assume).
  let swappedAt = 0;
  for (let i = 0; i < 300 && swappedAt === 0; i++) {
    const m = await (await fetch(`${server.http}/metrics`)).text();
    if (metric(m, 'flowwatch_enrich_reloads_total') >= 1) swappedAt = Date.now();
    else await sleep(100);
  }
  assert.ok(swappedAt > 0, 'the new ranges were swapped in within 30 s');
  assert.equal(await sent, 0);
  const report = JSON.parse(sendOut) as { flowsSent: number; sendErrors: number };
  assert.equal(report.flowsSent, info.flows);
  assert.equal(report.sendErrors, 0);

  let stored = 0;
  for (let i = 0; i < 100 && stored < info.flows; i++) {
    await sleep(200);
    stored = await server.flowsStored();
  }
  assert.equal(stored, info.flows);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.equal(metric(metrics, 'flowwatch_kernel_drops_total'), 0);
  assert.equal(metric(metrics, 'flowwatch_queue_drops_total'), 0);
  assert.equal(metric(metrics, 'flowwatch_sequence_lost_total'), 0);

  const times = async (filter: string): Promise<number[]> =>
    (
      await post(server as ServeProcess, '/api/v1/flows', { filter, fields: ['time_received'], limit: 1_000_000 })
    ).rows.map((r) => Number(r.time_received));
  const olds = await times('dst_range ~ "old-*"');
  const news = await times('dst_range ~ "new-*"');
  // every flow has its destination in one table or the other: none saw half a table or none
  assert.equal(olds.length + news.length, info.flows);
  const late = news.filter((t) => t > swappedAt).length;
  assert.ok(
    late > 0,
    `flows received after the swap (${swappedAt - rewrittenAt} ms after the rewrite) carry new names`,
  );
  assert.equal(olds.filter((t) => t > swappedAt).length, 0, 'old names after the swap');
  assert.equal(news.filter((t) => t < rewrittenAt).length, 0, 'new names before the rewrite');
  assert.ok(olds.length > 0);
  assert.equal(await server.stop(), 0);
});
