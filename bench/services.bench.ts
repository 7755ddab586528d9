// fillServices over one full FlowBatch (8192 flows): what naming the ports of every flow costs in
// the enrich stage. Two mixes: a typical one (server ports from a short list, client ports from
// Linux's ephemeral range 32768–60999, a little ICMP) and a worst case of uniformly random ports
// (thousands of distinct names per batch, so the per-batch dictionary is asked far more often).

import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

const SERVER_PORTS = [443, 443, 443, 80, 53, 53, 22, 123, 25, 993, 3306, 5432, 8080, 8443, 161, 389, 445, 6379];

export async function run(): Promise<BenchResult[]> {
  const t0 = performance.now();
  const { fillServices, serviceName, serviceTableSize } = await import('../src/enrich/services.js');
  const loadMs = performance.now() - t0;
  const size = serviceTableSize();
  const out: BenchResult[] = [
    {
      name: 'services: load shipped IANA table',
      value: Math.round(loadMs * 10) / 10,
      unit: 'ms',
      detail: `tcp ${size.tcp}, udp ${size.udp}, sctp ${size.sctp} named ports`,
    },
  ];
  for (const [label, batch] of [
    ['typical mix', batchOf(false)],
    ['random ports', batchOf(true)],
  ] as const) {
    let named = 0;
    const secs = measure(() => {
      clearServices(batch);
      fillServices(batch);
    }, 1000);
    for (let r = 0; r < batch.length; r++) named += batch.valid[C.src_service][r] + batch.valid[C.dst_service][r];
    out.push({
      name: `services: fillServices, ${label}`,
      value: Math.round(batch.length / secs),
      unit: 'rows/s',
      detail: `${named}/${2 * batch.length} ports named, ${batch.strings[C.dst_service]?.values.length} dst names`,
    });
  }
  let hits = 0;
  const secs = measure(() => {
    hits = 0;
    for (let port = 0; port < 65536; port++) if (serviceName(6, port) !== undefined) hits++;
  }, 500);
  out.push({
    name: 'services: serviceName',
    value: Math.round(65536 / secs),
    unit: 'lookups/s',
    detail: `${hits} tcp`,
  });
  return out;
}

function clearServices(b: FlowBatch): void {
  for (const col of [C.src_service, C.dst_service]) {
    b.valid[col].fill(0, 0, b.length);
    b.strings[col]?.clear();
  }
}

function batchOf(random: boolean): FlowBatch {
  const next = rng(random ? 0x9e3779b9 : 0x2545f491);
  const b = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  while (!b.full) {
    const r = b.addRow();
    const x = next();
    const proto = x < 0.6 ? 6 : x < 0.97 ? 17 : 1;
    b.setNum(C.proto, r, proto);
    if (proto === 1) {
      b.setNum(C.dst_port, r, 771);
      continue;
    }
    const server = random ? Math.floor(next() * 65536) : SERVER_PORTS[Math.floor(next() * SERVER_PORTS.length)];
    const client = random ? Math.floor(next() * 65536) : 32768 + Math.floor(next() * (60999 - 32768));
    const outbound = next() < 0.5;
    b.setNum(C.src_port, r, outbound ? client : server);
    b.setNum(C.dst_port, r, outbound ? server : client);
  }
  return b;
}
