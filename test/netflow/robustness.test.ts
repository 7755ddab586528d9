// Hostile input: every corpus export packet truncated at every length and with random byte flips.
// The decoder must never throw, never loop, and keep its held-set buffer bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowExportDecoder, looksLikeFlowExport } from '../../src/ingest/netflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import type { BatchSink } from '../../src/pipeline/sink.js';
import { needsData } from '../helpers/data.js';
import { corpusGroups, groupPayloads } from './corpus-helpers.js';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(1024);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

import { rng } from '../helpers/rng.js';

test('truncated and bit-flipped export packets are counted, never thrown', { skip: needsData() }, () => {
  const groups = corpusGroups().map(groupPayloads);
  const counters = new ExporterCounters();
  const d = new FlowExportDecoder({ counters, pendingLimit: 64 });
  const sink = new ReusingSink();
  // Templates first, so that mutations reach the data-record paths too.
  for (const g of groups) for (const p of g) d.decode(p.payload, p.exporter, p.tsMs, sink);
  let cases = 0;
  const rand = rng(42);
  for (const g of groups) {
    for (const p of g.slice(0, 8)) {
      for (let n = 0; n < p.payload.length; n++) {
        const cut = p.payload.slice(0, n);
        d.decode(cut, p.exporter, p.tsMs, sink);
        looksLikeFlowExport(cut);
        cases++;
      }
      for (let k = 0; k < 40; k++) {
        const m = p.payload.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
        d.decode(m, p.exporter, p.tsMs, sink);
        cases++;
      }
    }
  }
  assert.ok(cases > 5000, `${cases} mutations`);
  assert.ok(counters.total('malformed') > 0);
  const pending = d.inventory().reduce((s, i) => s + i.pendingSets, 0);
  assert.ok(pending <= 64, `${pending} held sets exceed the limit`);
  JSON.stringify(d.inventory());
});

test('absurd field counts, zero-length templates and lying lengths are malformed, not loops', () => {
  const counters = new ExporterCounters();
  const d = new FlowExportDecoder({ counters });
  const sink = new ReusingSink();
  // IPFIX message: template set claiming 65535 fields in a 12-byte set.
  const msg = Uint8Array.from([
    0, 10, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 12, 1, 0, 255, 255, 0, 8, 0, 4,
  ]);
  assert.equal(d.decode(msg, '192.0.2.9', 0, sink), 0);
  assert.equal(counters.get('192.0.2.9', 'malformed'), 1);
  // Template whose only field has length 0, then data for it: must not spin.
  const tpl = Uint8Array.from([0, 10, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 8, 1, 0, 0, 1, 0, 8, 0, 0]);
  tpl[3] = tpl.length;
  tpl[19] = 12;
  d.decode(tpl.slice(0, 28), '192.0.2.9', 0, sink);
  const data = Uint8Array.from([0, 10, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 8, 1, 2, 3, 4]);
  assert.equal(d.decode(data, '192.0.2.9', 0, sink), 0);
  // IPFIX length field larger than the datagram.
  const lie = Uint8Array.from([0, 10, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(d.decode(lie, '192.0.2.9', 0, sink), 0);
  assert.ok(counters.get('192.0.2.9', 'malformed') >= 3);
});
