// ids_alerts in a real (in-memory) DuckDB: the alerts Suricata writes on the shared captures with
// our test rules (test/suricata/captures.ts), written and read back field by field, and
// alertsWithFlows checked against a join computed here in JS over the same flow rows (flows written
// with the store's own ChunkWriter into a flows table of the real DDL). Alerts and flows carry the
// community_id Suricata wrote: no id is made up by the test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseSuricataEve } from '../../src/ingest/suricata/eve.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { allColumns, C } from '../../src/schema/columns.js';
import { flowsTableDDL } from '../../src/schema/duckdb.js';
import { CHUNK_ROWS, ChunkWriter } from '../../src/store/duckdb/chunk-writer.js';
import { alertsWithFlows, appendIdsAlerts, idsAlertsDDL, queryIdsAlerts } from '../../src/store/duckdb/ids-alerts.js';
import type { IdsAlert } from '../../src/store/ids-alert.js';
import { needsData, needsTool } from '../helpers/data.js';
import { HAVE_SURICATA, runSuricata } from '../helpers/suricata.js';
import { CAPTURES, pcapPath, TEST_RULES } from './captures.js';

const skip = needsData() || needsTool('suricata', HAVE_SURICATA);

test('ids_alerts: Suricata alerts round-trip through DuckDB and join their flows by community_id', {
  skip,
}, async () => {
  const sink = new CollectingSink(() => new FlowBatch(8192));
  const alerts: IdsAlert[] = [];
  for (const cap of CAPTURES) {
    const eve = await runSuricata(pcapPath(cap.name), { rules: TEST_RULES });
    const res = parseSuricataEve(readFileSync(eve), cap.name, 0, sink);
    assert.deepEqual(res.errors, []);
    alerts.push(...res.alerts);
  }
  assert.ok(alerts.length > 20, `${alerts.length} alerts`);
  assert.ok(
    alerts.every((a) => a.communityId !== ''),
    'Suricata wrote community_id on every alert',
  );

  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await conn.run(idsAlertsDDL());
    await conn.run(flowsTableDDL('flows'));
    assert.equal(await appendIdsAlerts(conn, alerts), alerts.length);
    const app = await conn.createAppender('flows');
    const w = new ChunkWriter(allColumns());
    for (const b of sink.batches)
      for (let i = 0; i < b.length; i += CHUNK_ROWS) w.write(app, b, i, Math.min(CHUNK_ROWS, b.length - i));
    app.closeSync();

    const back = await queryIdsAlerts(conn, { fromMs: 0, toMs: 2 ** 47, limit: 10_000 });
    const key = (a: IdsAlert) => a.source;
    assert.deepEqual(
      [...back].sort((x, y) => key(x).localeCompare(key(y))),
      [...alerts].sort((x, y) => key(x).localeCompare(key(y))),
    );
    const times = alerts.map((a) => a.time).sort((x, y) => x - y);
    const t0 = times[0];
    const t1 = times[Math.floor(times.length / 2)] + 1;
    const part = await queryIdsAlerts(conn, { fromMs: t0, toMs: t1, limit: 5 });
    assert.equal(part.length, Math.min(5, alerts.filter((a) => a.time < t1).length));
    assert.ok(part.every((a, i) => i === 0 || part[i - 1].time >= a.time));

    // The join computed in JS over the same rows.
    const win = 60_000;
    const expected: string[] = [];
    const joinedAlerts = new Set<string>();
    for (const a of alerts)
      for (const b of sink.batches)
        for (let r = 0; r < b.length; r++) {
          if (b.getString(C.community_id, r) !== a.communityId) continue;
          const s = b.getNum(C.time_start, r);
          const e = b.getNum(C.time_end, r);
          if (a.time >= s - win && a.time <= e + win) {
            expected.push(`${a.source}@${s}`);
            joinedAlerts.add(a.source);
          }
        }
    // Suricata logs the flow of every alert it raises (flow.alerted): each alert finds its flow.
    assert.equal(joinedAlerts.size, alerts.length);
    const got = await alertsWithFlows(conn, { fromMs: 0, toMs: 2 ** 47, limit: 100_000, windowMs: win });
    assert.deepEqual(got.map((g) => `${g.alert.source}@${g.flow.timeStart}`).sort(), expected.sort());
    for (const g of got) {
      assert.equal(g.flow.communityId, g.alert.communityId);
      assert.equal(g.flow.proto, g.alert.proto);
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
