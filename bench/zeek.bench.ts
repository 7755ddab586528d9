// Zeek conn.log → flows on one core: the corpus conn records (RITA proxy + Slips test10 TSV; Slips
// test9 + RITA JSON) concatenated many times in memory into one large log, parsed into a reused
// FlowBatch. Target: ≥ 500 k records/s (TSV). JSON goes through JSON.parse per line and is shown
// beside it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseZeekLogs } from '../src/ingest/zeek/logs.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const DATA = process.env.FLOWWATCH_SHARED_DATA ?? '/work/shared/data';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

function dataLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

function bigLog(header: string, lines: string[], records: number): { data: Uint8Array; records: number } {
  const parts: string[] = [header];
  let n = 0;
  while (n < records) {
    parts.push(...lines);
    n += lines.length;
  }
  return { data: new TextEncoder().encode(`${parts.join('\n')}\n`), records: n };
}

export async function run(): Promise<BenchResult[]> {
  const zeek = join(DATA, 'zeek');
  const tsvFile = join(zeek, 'tsv', 'rita-proxy-conn.log');
  const header = readFileSync(tsvFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('#') && !l.startsWith('#close'))
    .join('\n');
  const tsvLines = [...dataLines(tsvFile), ...dataLines(join(zeek, 'tsv', 'slips-test10-mixed', 'conn.log'))];
  const jsonLines = [
    ...dataLines(join(zeek, 'json', 'slips-test9-mixed', 'conn.log')),
    ...dataLines(join(zeek, 'json', 'rita-conn.json.log')),
  ];
  const out: BenchResult[] = [];
  for (const [label, log] of [
    ['TSV', bigLog(header, tsvLines, 400_000)],
    ['JSON', bigLog('', jsonLines, 200_000)],
  ] as const) {
    const sink = new ReusingSink();
    let flows = 0;
    const secs = measure(
      () => {
        flows = parseZeekLogs([{ name: `bench/conn.${label.toLowerCase()}.log`, data: log.data }], 0, sink).flows;
        sink.b.reset();
      },
      3000,
      3,
    );
    if (flows !== log.records) throw new Error(`zeek bench: ${flows} flows from ${log.records} records`);
    out.push({
      name: `parse Zeek conn.log ${label} (1 core)`,
      value: log.records / secs,
      unit: 'records/s',
      detail: `${log.records} records, ${(log.data.length / 1e6).toFixed(1)} MB, ${(secs * 1000).toFixed(0)} ms`,
    });
  }
  return out;
}
