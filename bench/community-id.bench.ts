// Community ID throughput over one full FlowBatch (8192 synthetic flows: IPv4 and IPv6, TCP, UDP,
// ICMP, port-less protocols), the cost the ingest path pays per flow. The second figure is what the
// hash alone would cost through node:crypto (one createHash per row over a 16-byte IPv4 input), the
// alternative the single-block SHA-1 in src/enrich/community-id.ts was measured against.

import { createHash } from 'node:crypto';
import { computeCommunityIds } from '../src/enrich/community-id.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';
import { rng } from '../test/helpers/rng.js';
import { type BenchResult, measure } from './harness.js';

export async function run(): Promise<BenchResult[]> {
  const b = syntheticBatch();
  const valid = b.valid[C.community_id];
  const dict = b.strings[C.community_id];
  let filled = 0;
  const secs = measure(() => {
    valid.fill(0, 0, b.length);
    dict?.clear();
    filled = computeCommunityIds(b);
  }, 1500);

  const inputs = Buffer.alloc(16 * b.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = (i * 131 + 7) & 0xff;
  let last = '';
  const cryptoSecs = measure(() => {
    for (let r = 0; r < b.length; r++) {
      last = createHash('sha1')
        .update(inputs.subarray(r * 16, r * 16 + 16))
        .digest('base64');
    }
  }, 1500);

  return [
    {
      name: 'community id: computeCommunityIds (8192-row batch)',
      value: Math.round(b.length / secs),
      unit: 'rows/s',
      detail: `${filled}/${b.length} filled, ${((secs / b.length) * 1e9).toFixed(0)} ns/row`,
    },
    {
      name: 'community id: node:crypto sha1+base64 alone',
      value: Math.round(b.length / cryptoSecs),
      unit: 'rows/s',
      detail: `${((cryptoSecs / b.length) * 1e9).toFixed(0)} ns/row, for comparison (${last.length} chars)`,
    },
  ];
}

function syntheticBatch(): FlowBatch {
  const rnd = rng(7);
  const n = (k: number) => Math.floor(rnd() * k);
  const b = new FlowBatch(DEFAULT_BATCH_CAPACITY);
  const v6 = new Uint8Array(16);
  while (!b.full) {
    const r = b.addRow();
    const six = n(10) === 0;
    for (const col of [C.src_addr, C.dst_addr]) {
      if (six) {
        v6.set([0x20, 0x01, 0x0d, 0xb8]);
        for (let i = 4; i < 16; i++) v6[i] = n(256);
        b.setIPv6(col, r, v6, 0);
      } else {
        b.setIPv4(col, r, n(2) === 0 ? 0x0a000000 + n(1 << 16) : 0xc0000200 + n(256));
      }
    }
    const proto = [6, 6, 6, 17, 17, six ? 58 : 1, 47][n(7)];
    b.setNum(C.proto, r, proto);
    if (proto === 1 || proto === 58) {
      b.setNum(C.icmp_type, r, proto === 1 ? [0, 8, 3, 11][n(4)] : [128, 129, 135, 1][n(4)]);
      b.setNum(C.icmp_code, r, n(4));
    } else {
      b.setNum(C.src_port, r, n(2) ? 1024 + n(60000) : [22, 53, 443, 5432][n(4)]);
      b.setNum(C.dst_port, r, n(2) ? 1024 + n(60000) : [22, 53, 443, 5432][n(4)]);
    }
  }
  return b;
}
