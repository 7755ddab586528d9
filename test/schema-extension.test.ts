// DESIGN principle 1: a column declared once reaches storage, the filter language and the output,
// with nothing retyped. Declares a column, stores flows carrying it, filters and groups on it.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderRows } from '../src/cli/output.js';
import { compilePredicate } from '../src/filter/index.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import { LocalQueryTarget } from '../src/query/service.js';
import { C, columnIndex, declareColumn } from '../src/schema/columns.js';
import { openStore } from '../src/store/duckdb/index.js';

test('a column declared in one place is stored, filterable, groupable and printed', async () => {
  declareColumn({
    name: 'mpls_label',
    type: 'u32',
    description: 'top MPLS label',
    group: 'routing',
    sources: ['ipfix'],
  });
  const col = columnIndex('mpls_label');
  const b = new FlowBatch(16);
  for (let i = 0; i < 10; i++) {
    const r = b.addRow();
    b.setNum(C.time_start, r, Date.parse('2024-03-01T00:00:00Z') + i * 1000);
    b.setIPv4(C.src_addr, r, 0x0a000001 + i);
    b.setNum(C.bytes, r, 100 * (i + 1));
    b.setNum(C.packets, r, 1);
    if (i % 2 === 0) b.setNum(col, r, 24000 + (i % 4));
  }
  const pred = compilePredicate('mpls_label = 24000');
  const inBatch = [...Array(b.length).keys()].filter((r) => pred(b, r));
  assert.deepEqual(inBatch, [0, 4, 8]);

  const store = await openStore({ dir: mkdtempSync(join(tmpdir(), 'fw-ext-')) });
  const q = new LocalQueryTarget(store);
  try {
    await store.append(b);
    await store.flush();
    const flows = await q.flows({ filter: 'mpls_label = 24000', fields: ['src_addr', 'mpls_label'], limit: 100 });
    assert.deepEqual(
      flows.rows.map((r) => r.src_addr),
      ['10.0.0.1', '10.0.0.5', '10.0.0.9'],
    );
    const top = await q.top({ filter: 'mpls_label > 0', by: ['mpls_label'], order: 'bytes', limit: 10 });
    assert.deepEqual(JSON.parse(renderRows(top.rows, ['mpls_label', 'flows', 'bytes'], 'json')), [
      { mpls_label: 24000, flows: 3, bytes: 1500 },
      { mpls_label: 24002, flows: 2, bytes: 1000 },
    ]);
  } finally {
    await q.close();
  }
});
