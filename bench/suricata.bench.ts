// Suricata eve.json → flows and alerts on one core: the Slips sensor's 5000 real events (70 %
// flow, 15 % alert, dns/http/tls) plus the shared samples, repeated into one ~200 k-event text,
// parsed into a reused FlowBatch. Each line is one JSON.parse (the parser's floor).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parseSuricataEve } from '../src/ingest/suricata/eve.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const DATA = process.env.FLOWWATCH_SHARED_DATA ?? '/work/shared/data';
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

export async function run(): Promise<BenchResult[]> {
  const lines: string[] = [];
  const slips = gunzipSync(
    readFileSync(join(REPO, 'test', 'suricata', 'data', 'slips-test6-malicious.suricata.json.gz')),
  );
  lines.push(...slips.toString('utf8').split('\n'));
  for (const f of ['eve-small-elastic.json', 'fever-alertify_input.json', 'fever-jsonparse_eve.json'])
    lines.push(...readFileSync(join(DATA, 'suricata', f), 'utf8').split('\n'));
  const one = lines.filter((l) => l.trim() !== '');
  const parts: string[] = [];
  let events = 0;
  while (events < 200_000) {
    parts.push(...one);
    events += one.length;
  }
  const text = `${parts.join('\n')}\n`;
  const sink = new ReusingSink();
  let flows = 0;
  const secs = measure(() => {
    const r = parseSuricataEve(text, 'bench/eve.json', 0, sink);
    flows = r.flows + r.alerts.length;
    sink.b.reset();
  });
  return [
    {
      name: 'suricata eve.json → flows + alerts',
      value: Math.round(events / secs),
      unit: 'events/s',
      detail: `${events} events, ${flows} flow rows + alerts per run`,
    },
  ];
}
