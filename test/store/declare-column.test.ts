// A column declared once (declareColumn, before any batch or store exists) reaches the flows
// table, appends and query output with no other change — and an existing store gains it by an
// additive migration when reopened. Its own file: declareColumn changes the process-wide schema.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C, columnIndex, declareColumn } from '../../src/schema/columns.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { rawQuery, removeDir, tempDir } from './helpers.js';

const d = tempDir();
after(() => removeDir(d));

test('a column added with declareColumn() reaches the table and the query output', async () => {
  // A store created before the column existed…
  const old = await openStore({ dir: d });
  const b0 = new FlowBatch(4);
  b0.setNum(C.time_start, b0.addRow(), 1000);
  await old.append(b0);
  await old.close();

  declareColumn({ name: 'x_label', type: 'string', description: 'test label', group: 'test', sources: [] });
  declareColumn({ name: 'x_score', type: 'u32', description: 'test score', group: 'test', sources: [] });
  const s = await openStore({ dir: d });
  const b = new FlowBatch(8);
  for (let r = 0; r < 3; r++) {
    b.addRow();
    b.setNum(C.time_start, r, 2000 + r);
    b.setString(columnIndex('x_label'), r, r === 2 ? 'beta' : 'alpha');
    b.setNum(columnIndex('x_score'), r, 10 * (r + 1));
  }
  await s.append(b);
  await s.append(b0); // a batch built before the declaration: the new columns are null for it
  await s.flush();
  const rows = await s.queryFlows({ limit: 10, fields: ['time_start', 'x_label', 'x_score'] });
  assert.deepEqual(rows, [
    { time_start: 1000, x_label: null, x_score: null },
    { time_start: 1000, x_label: null, x_score: null },
    { time_start: 2000, x_label: 'alpha', x_score: 10 },
    { time_start: 2001, x_label: 'alpha', x_score: 20 },
    { time_start: 2002, x_label: 'beta', x_score: 30 },
  ]);
  const top = await s.top({ by: ['x_label'], order: 'flows', limit: 5 });
  assert.equal(top.table, 'flows');
  assert.deepEqual(
    top.rows.map((r) => [r.x_label, r.flows]),
    [
      ['alpha', 2],
      [null, 2],
      ['beta', 1],
    ],
  );
  await s.close();
  const types = await rawQuery(
    d,
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'flows_data' AND column_name LIKE 'x_%' ORDER BY 1",
  );
  assert.deepEqual(types, [
    ['x_label', 'VARCHAR'],
    ['x_score', 'UINTEGER'],
  ]);
});
