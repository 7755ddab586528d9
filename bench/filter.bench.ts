// Predicate throughput of the filter language over one full FlowBatch (8192 synthetic flows):
// what routing, policy rules and tenant scoping pay per flow.

import { compilePredicate } from '../src/filter/index.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';
import { type BenchResult, measure } from './harness.js';

const EXPRESSIONS = [
  'proto tcp and dst port 22 and not src net 10.0.0.0/8',
  'tcp and port 443',
  'src tag web and dst tag database and not dst port in [5432, 6432]',
  'bytes > 10M and dst country not in [US, DE]',
  'tls_sni ~ "*.example.com" or dns_qname ~ "*.evil.test"',
  'host 192.0.2.1 or dst ip 2001:db8::/32',
  'ti and not dst port 53',
];

export async function run(): Promise<BenchResult[]> {
  const b = syntheticBatch();
  const out: BenchResult[] = [];
  for (const text of EXPRESSIONS) {
    const p = compilePredicate(text);
    let matched = 0;
    const secs = measure(() => {
      matched = 0;
      for (let r = 0; r < b.length; r++) if (p(b, r)) matched++;
    }, 500);
    out.push({
      name: `filter predicate: ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`,
      value: Math.round(b.length / secs),
      unit: 'rows/s',
      detail: `${matched}/${b.length} match`,
    });
  }
  return out;
}

function syntheticBatch(): FlowBatch {
  // mulberry32: a plain LCG's low bits correlate across consecutive draws and skew the mix.
  let seed = 1;
  const rnd = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
  const b = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  const v6 = new Uint8Array(16);
  const tags = [['web'], ['database'], ['vm', 'web'], ['datastore'], []];
  const names = ['api.example.com', 'www.example.org', 'cdn.example.com', 'x.evil.test', ''];
  const countries = ['US', 'DE', 'FR', 'RU', ''];
  while (!b.full) {
    const r = b.addRow();
    for (const col of [C.src_addr, C.dst_addr]) {
      if (rnd(10) === 0) {
        v6.set([0x20, 0x01, 0x0d, 0xb8]);
        for (let i = 4; i < 16; i++) v6[i] = rnd(256);
        b.setIPv6(col, r, v6, 0);
      } else {
        b.setIPv4(col, r, rnd(2) === 0 ? 0x0a000000 + rnd(1 << 16) : 0xc0000200 + rnd(256));
      }
    }
    b.setNum(C.src_port, r, rnd(2) ? 1024 + rnd(60000) : [22, 53, 443, 5432][rnd(4)]);
    b.setNum(C.dst_port, r, rnd(2) ? 1024 + rnd(60000) : [22, 53, 443, 5432][rnd(4)]);
    b.setNum(C.proto, r, [6, 6, 17, 1][rnd(4)]);
    b.setNum(C.bytes, r, rnd(50_000_000));
    b.setNum(C.packets, r, 1 + rnd(10_000));
    b.setList(C.src_tags, r, tags[rnd(tags.length)]);
    b.setList(C.dst_tags, r, tags[rnd(tags.length)]);
    if (rnd(20) === 0) b.setList(C.ti_feeds, r, ['feodo']);
    b.setString(C.dst_country, r, countries[rnd(countries.length)]);
    b.setString(C.tls_sni, r, names[rnd(names.length)]);
    b.setString(C.dns_qname, r, names[rnd(names.length)]);
  }
  return b;
}
