// A column declared in one place is filterable at once (DESIGN §2.1): no list in the filter
// language to update. Runs in its own process (node --test), so the extra columns stay here.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { compilePredicate, compileSql, describeFields, FilterError, parseFilter } from '../../src/filter/index.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { columnIndex, declareColumn } from '../../src/schema/columns.js';
import { flowsTableDDL } from '../../src/schema/duckdb.js';

test('a column added with declareColumn() is accepted by the filter language immediately', async () => {
  assert.throws(() => parseFilter('risk > 50'), FilterError);
  assert.throws(() => parseFilter('dst trust high'), FilterError);

  declareColumn({
    name: 'risk_score',
    type: 'u16',
    description: 'risk score of the flow',
    group: 'enrichment',
    sources: [],
    keyword: 'risk',
  });
  for (const side of ['src', 'dst']) {
    declareColumn({
      name: `${side}_trust`,
      type: 'enum',
      description: `trust level (${side})`,
      group: 'enrichment',
      sources: [],
      keyword: 'trust',
      enumValues: ['unknown', 'low', 'high'],
    });
  }
  assert.ok(describeFields().some((f) => f.name === 'risk_score' && f.keyword === 'risk'));
  assert.equal(
    (() => {
      try {
        parseFilter('risk_scor > 1');
      } catch (e) {
        return (e as FilterError).suggestion;
      }
    })(),
    'risk_score',
  );
  assert.throws(
    () => parseFilter('dst trust medium'),
    /unknown value "medium" for dst_trust .*\(one of: unknown, low, high\)/,
  );

  // rows: [risk_score, src_trust, dst_trust] (null = absent)
  const rows: [number | null, number | null, number | null][] = [
    [10, 1, 2],
    [90, 2, 1],
    [null, null, 2],
    [75, 1, null],
  ];
  const b = new FlowBatch(8);
  const [risk, st, dt] = ['risk_score', 'src_trust', 'dst_trust'].map(columnIndex);
  for (const row of rows) {
    const r = b.addRow();
    row.forEach((v, i) => {
      if (v !== null) b.setNum([risk, st, dt][i], r, v);
    });
  }
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    await con.run(flowsTableDDL('flows'));
    await con.run('ALTER TABLE flows ADD COLUMN rid INTEGER');
    for (const [i, row] of rows.entries()) {
      await con.run(
        `INSERT INTO flows (risk_score, src_trust, dst_trust, rid) VALUES (${row.map((v) => v ?? 'NULL').join(', ')}, ${i})`,
      );
    }
    const cases: [string, number[]][] = [
      ['risk_score > 50', [1, 3]],
      ['risk >= 75 and dst trust low', [1]],
      ['trust high', [0, 1, 2]],
      ['not risk < 50', [1, 2, 3]],
      ['src trust != low', [1]],
    ];
    for (const [f, want] of cases) {
      const p = compilePredicate(f);
      assert.deepEqual(
        rows.map((_, r) => r).filter((r) => p(b, r)),
        want,
        `predicate: ${f}`,
      );
      const { sql, params } = compileSql(f);
      const res = await con.runAndReadAll(`SELECT rid FROM flows WHERE ${sql} ORDER BY rid`, params);
      assert.deepEqual(
        res.getRows().map((x) => Number(x[0])),
        want,
        `SQL: ${f}`,
      );
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
});
