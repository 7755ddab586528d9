// Suricata eve.json → flows and alerts on one core. The input is real Suricata output: Suricata 7
// run on every shared capture (pcap/normal) with the Suricata tests' rules (so alert events exist),
// the events repeated into one ~200 k-event text and parsed into a reused FlowBatch. Without
// Suricata installed, the input is synthetic lines of the same shapes (flow, dns, http, tls, alert),
// and the result says so. Each line is one JSON.parse (the parser's floor).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSuricataEve } from '../src/ingest/suricata/eve.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { HAVE_SURICATA, runSuricata } from '../test/helpers/suricata.js';
import { TEST_RULES } from '../test/suricata/captures.js';
import { type BenchResult, measure } from './harness.js';

const DATA = process.env.FLOWWATCH_SHARED_DATA ?? '/work/shared/data';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

async function suricataLines(): Promise<string[]> {
  const dir = join(DATA, 'pcap', 'normal');
  const lines: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.pcap')) continue;
    const eve = await runSuricata(join(dir, f), { rules: TEST_RULES });
    lines.push(...readFileSync(eve, 'utf8').split('\n'));
  }
  return lines;
}

/** Lines shaped like Suricata 7's (same keys and nesting), varied addresses, ports and flow ids. */
function syntheticLines(n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = 1_000_000_000_000 + i * 7919;
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const sp = 1024 + (i % 60000);
    const t = `2024-01-01T00:${String((i >> 6) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.123456+0000`;
    const common = `"flow_id":${id},"src_ip":"${src}","src_port":${sp},"dest_ip":"192.0.2.1","dest_port":443,"proto":"TCP","community_id":"1:AAAAAAAAAAAAAAAAAAAAAAAAAAA="`;
    if (i % 4 === 0)
      lines.push(
        `{"timestamp":"${t}",${common.replace('"flow_id"', '"event_type":"tls","flow_id"')},"tls":{"sni":"h${i % 997}.example","version":"TLS 1.3"}}`,
      );
    if (i % 10 === 0)
      lines.push(
        `{"timestamp":"${t}",${common.replace('"flow_id"', '"event_type":"alert","flow_id"')},"alert":{"action":"allowed","gid":1,"signature_id":9000003,"rev":1,"signature":"bench","category":"","severity":3},"app_proto":"tls"}`,
      );
    lines.push(
      `{"timestamp":"${t}",${common.replace('"flow_id"', '"event_type":"flow","flow_id"')},"app_proto":"tls","flow":{"pkts_toserver":${1 + (i % 50)},"pkts_toclient":${i % 40},"bytes_toserver":${60 + i},"bytes_toclient":${i * 3},"start":"${t}","end":"${t}","age":0,"state":"closed","reason":"timeout","alerted":${i % 10 === 0}},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"}}`,
    );
  }
  return lines;
}

export async function run(): Promise<BenchResult[]> {
  const real = HAVE_SURICATA;
  const one = (real ? await suricataLines() : syntheticLines(5000)).filter((l) => l.trim() !== '');
  const parts: string[] = [];
  let events = 0;
  while (events < 200_000) {
    parts.push(...one);
    events += one.length;
  }
  const text = `${parts.join('\n')}\n`;
  const sink = new ReusingSink();
  let flows = 0;
  let alerts = 0;
  const secs = measure(() => {
    const r = parseSuricataEve(text, 'bench/eve.json', 0, sink);
    flows = r.flows;
    alerts = r.alerts.length;
    sink.b.reset();
  });
  return [
    {
      name: `suricata eve.json → flows + alerts (${real ? 'Suricata 7 on the shared captures' : 'synthetic lines: suricata not installed'})`,
      value: Math.round(events / secs),
      unit: 'events/s',
      detail: `${events} events (${one.length} distinct), ${flows} flow rows + ${alerts} alerts per run`,
    },
  ];
}
