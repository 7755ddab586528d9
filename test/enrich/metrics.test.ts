// /metrics says what enrichment is in use: entries per source, a failed load, reloads.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServe } from '../helpers/server.js';

async function metric(http: string, line: RegExp, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let text = '';
  while (Date.now() < end) {
    text = await (await fetch(`${http}/metrics`)).text();
    const m = text.split('\n').find((l) => line.test(l));
    if (m) return m;
    await sleep(100);
  }
  throw new Error(
    `no ${line} in /metrics:\n${text
      .split('\n')
      .filter((l) => l.includes('enrich'))
      .join('\n')}`,
  );
}

test('/metrics: enrichment entries, a failed reload that keeps the table, reloads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enrich-metrics-'));
  const ranges = join(dir, 'ranges.csv');
  writeFileSync(ranges, 'cidr,name,segment,tags\n10.1.0.0/16,a,s,x\n10.2.0.0/16,b,s,x\n');
  const cfg = join(dir, 'flowwatch.yaml');
  writeFileSync(
    cfg,
    `data_dir: ${join(dir, 'data')}\nlisten:\n  netflow: ['127.0.0.1:0']\n  ipfix: []\n  sflow: []\n  ipfix_tcp: []\nhttp:\n  listen: 127.0.0.1:0\nenrich:\n  reload_interval: 100ms\n  ranges: [${ranges}]\n`,
  );
  const s = await startServe(['--config', cfg]);
  try {
    await metric(s.http, /^flowwatch_enrich_entries\{source="ranges"\} 2$/);
    await metric(s.http, /^flowwatch_enrich_load_failed\{source="ranges"\} 0$/);
    writeFileSync(ranges, 'cidr,name,segment,tags\n10.1.0.0/16,a,s,x\n10.2.0.0/16,b,s,x\n10.3.0.0/16,c,s,x\n');
    await metric(s.http, /^flowwatch_enrich_entries\{source="ranges"\} 3$/);
    await metric(s.http, /^flowwatch_enrich_reloads_total 1$/);
    writeFileSync(ranges, 'cidr,name,segment,tags\n10.1.0.0/33,a,s,x\n');
    await metric(s.http, /^flowwatch_enrich_load_failed\{source="ranges"\} 1$/);
    // The last good table stays in use.
    await metric(s.http, /^flowwatch_enrich_entries\{source="ranges"\} 3$/);
    assert.match(s.log(), /ranges\.csv:2/);
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
