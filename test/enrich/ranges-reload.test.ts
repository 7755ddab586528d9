// A range file reload under load (issue 5: "hot reload ... ingestion never pauses and never sees
// half a table"): a real `flowwatch serve` with a 300 k-line ranges CSV, fed NetFlow v9 at a steady
// rate (30 k flows/s) by flowgen (an independent generator), while the CSV is replaced by one that names every
// range differently. Every flow sent is stored, nothing is dropped by the kernel or a queue, and the
// flows received well after the reload carry the new names (queried with a filter on dst_range),
// those received before it the old ones.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { needsData } from '../helpers/data.js';
import { FLOWGEN, post, reloadUnderLoad } from '../helpers/reload-under-load.js';
import type { ServeProcess } from '../helpers/server.js';

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
  const {
    server: srv,
    rewrittenAt,
    swappedAt,
  } = await reloadUnderLoad({
    dir,
    pcap,
    flows: info.flows,
    enrich: ['  reload_interval: 200ms', '  ranges:', `    - ${ranges}`],
    rate: 30_000,
    replaceAfterMs: 1500,
    file: ranges,
    newText,
    started: (s) => {
      server = s;
    },
  });

  const times = async (filter: string): Promise<number[]> =>
    (await post(srv, '/api/v1/flows', { filter, fields: ['time_received'], limit: 1_000_000 })).rows.map((r) =>
      Number(r.time_received),
    );
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
  assert.equal(await srv.stop(), 0);
});
