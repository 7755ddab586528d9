import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CounterDeltas, ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { summariseLosses } from '../../src/query/service.js';
import { C } from '../../src/schema/columns.js';
import { openStore } from '../../src/store/duckdb/index.js';

test('coverage: counter growth per exporter and minute is stored with the flows and summed by range', async () => {
  const d = mkdtempSync(join(tmpdir(), 'fw-cov-'));
  const s = await openStore({ dir: d });
  const counters = new ExporterCounters();
  const deltas = new CounterDeltas();
  const t0 = Date.UTC(2024, 2, 1, 12);
  // minute 0: 100 flows and 3 lost from a; minute 1: 50 more from a, 7 kernel drops at a listener
  counters.add('192.0.2.1', 'flows', 100);
  counters.add('192.0.2.1', 'sequence_lost', 3);
  for (const [e, m] of Object.entries(deltas.take(counters.snapshot()))) s.recordCoverage(t0 + 5_000, e, m);
  const b = new FlowBatch(4);
  b.setNum(C.time_start, b.addRow(), t0);
  await s.append(b);
  await s.flush();
  counters.add('192.0.2.1', 'flows', 50);
  const snap = counters.snapshot();
  snap['listener:0.0.0.0:2055'] = { kernel_drops: 7 };
  for (const [e, m] of Object.entries(deltas.take(snap))) s.recordCoverage(t0 + 65_000, e, m);
  await s.flush(); // a commit with no flows still stores the coverage
  assert.deepEqual(await s.coverage({}), {
    '192.0.2.1': { flows: 150, sequence_lost: 3 },
    'listener:0.0.0.0:2055': { kernel_drops: 7 },
  });
  // a range starting inside minute 1 includes minute 1, not minute 0
  assert.deepEqual(await s.coverage({ since: t0 + 61_000 }), {
    '192.0.2.1': { flows: 50 },
    'listener:0.0.0.0:2055': { kernel_drops: 7 },
  });
  assert.deepEqual(summariseLosses(await s.coverage({})), { sequence_lost: 3, kernel_drops: 7 });
  assert.equal(summariseLosses(await s.coverage({ until: t0 })), undefined);
  await s.close();
  const r = await openStore({ dir: d, readOnly: true });
  assert.deepEqual(summariseLosses(await r.coverage({ since: t0 })), { sequence_lost: 3, kernel_drops: 7 });
  await r.close();
});
