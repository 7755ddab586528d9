// ids_alerts in a real (in-memory) DuckDB: the Slips sensor's 745 alerts written and read back
// field by field, and alertsWithFlows checked against a join computed here in JS over the same
// flow rows (flows written with the store's own ChunkWriter into a flows table of the real DDL).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { communityId, computeCommunityIds } from '../../src/enrich/community-id.js';
import { type IdsAlert, parseSuricataEve } from '../../src/ingest/suricata/eve.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { allColumns, C } from '../../src/schema/columns.js';
import { flowsTableDDL } from '../../src/schema/duckdb.js';
import { CHUNK_ROWS, ChunkWriter } from '../../src/store/duckdb/chunk-writer.js';
import { alertsWithFlows, appendIdsAlerts, idsAlertsDDL, queryIdsAlerts } from '../../src/store/duckdb/ids-alerts.js';
import { SLIPS } from './paths.js';

test('ids_alerts: Slips alerts round-trip through DuckDB and join their flows by community_id', async () => {
  const sink = new CollectingSink(() => new FlowBatch(8192));
  const res = parseSuricataEve(readFileSync(SLIPS), 'slips.json', 0, sink);
  assert.equal(res.alerts.length, 745);
  // The Slips sensor ran without community-id: give alerts and flows the id Suricata would have
  // written (same 5-tuple hash) so the join has something to match.
  const alerts: IdsAlert[] = res.alerts.map((a) => ({
    ...a,
    communityId: communityId(a.srcAddr, a.dstAddr, a.proto ?? 0, a.srcPort ?? 0, a.dstPort ?? 0),
  }));
  for (const b of sink.batches) computeCommunityIds(b);

  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await conn.run(idsAlertsDDL());
    await conn.run(flowsTableDDL('flows'));
    assert.equal(await appendIdsAlerts(conn, alerts), 745);
    const app = await conn.createAppender('flows');
    const w = new ChunkWriter(allColumns());
    for (const b of sink.batches)
      for (let i = 0; i < b.length; i += CHUNK_ROWS) w.write(app, b, i, Math.min(CHUNK_ROWS, b.length - i));
    app.closeSync();

    const back = await queryIdsAlerts(conn, { fromMs: 0, toMs: 2 ** 47, limit: 10_000 });
    const key = (a: IdsAlert) => `${a.source}`;
    assert.deepEqual(
      [...back].sort((x, y) => key(x).localeCompare(key(y))),
      [...alerts].sort((x, y) => key(x).localeCompare(key(y))),
    );
    const t0 = Math.min(...alerts.map((a) => a.time));
    const part = await queryIdsAlerts(conn, { fromMs: t0, toMs: t0 + 600_000, limit: 5 });
    assert.equal(part.length, Math.min(5, alerts.filter((a) => a.time < t0 + 600_000).length));
    assert.ok(part.every((a, i) => i === 0 || part[i - 1].time >= a.time));

    // The join computed in JS over the same rows.
    const win = 60_000;
    const expected: string[] = [];
    for (const a of alerts)
      for (const b of sink.batches)
        for (let r = 0; r < b.length; r++) {
          if (b.getString(C.community_id, r) !== a.communityId) continue;
          const s = b.getNum(C.time_start, r);
          const e = b.getNum(C.time_end, r);
          if (a.time >= s - win && a.time <= e + win) expected.push(`${a.source}@${s}`);
        }
    const got = await alertsWithFlows(conn, { fromMs: 0, toMs: 2 ** 47, limit: 100_000, windowMs: win });
    assert.ok(expected.length > 0);
    assert.deepEqual(got.map((g) => `${g.alert.source}@${g.flow.timeStart}`).sort(), expected.sort());
    for (const g of got) {
      assert.equal(g.flow.communityId, g.alert.communityId);
      const same =
        (g.flow.srcAddr === g.alert.srcAddr && g.flow.srcPort === g.alert.srcPort) ||
        (g.flow.srcAddr === g.alert.dstAddr && g.flow.srcPort === g.alert.dstPort);
      assert.ok(same, 'a community id match is the same connection');
    }
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
});
