// ids_alerts without Suricata: alerts built here with a distinct value in every field (and the
// empty/absent forms: no flow_id, no community_id, no ports, no severity) are written and read back
// field by field, and alertsWithFlows fills every flow field from the row it joined. Guards the
// column declaration (src/store/duckdb/ids-alerts.ts): each column is bound and read by its entry,
// so a column read into the wrong field shows up here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { flowsTableDDL } from '../../src/schema/duckdb.js';
import { alertsWithFlows, appendIdsAlerts, idsAlertsDDL, queryIdsAlerts } from '../../src/store/duckdb/ids-alerts.js';
import type { IdsAlert } from '../../src/store/ids-alert.js';

const full: IdsAlert = {
  time: 1_700_000_000_123,
  flowId: '18446744073709551615', // uint64 max: above 2^53
  communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
  srcAddr: '10.1.2.3',
  dstAddr: 'ff02::1:ff00:1', // above 2^127 as a UHUGEINT
  srcPort: 51234,
  dstPort: 443,
  proto: 6,
  signatureId: 2_100_498,
  signature: 'GPL ATTACK_RESPONSE id check returned root',
  category: 'Potentially Bad Traffic',
  severity: 2,
  action: 'blocked',
  sensor: 'sensor-a',
  appProto: 'tls',
  source: 'eve.json:7',
};

const sparse: IdsAlert = {
  time: 1_700_000_000_000,
  flowId: '',
  communityId: '',
  srcAddr: '2001:db8::1',
  dstAddr: '2001:db8::2',
  srcPort: null,
  dstPort: null,
  proto: 58,
  signatureId: 1,
  signature: '',
  category: '',
  severity: null,
  action: 'allowed',
  sensor: 'eve',
  appProto: '',
  source: 'eve.json:1',
};

test('ids_alerts: every field of an alert round-trips; alertsWithFlows fills every flow field', async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await conn.run(idsAlertsDDL());
    await conn.run(flowsTableDDL('flows'));
    assert.equal(await appendIdsAlerts(conn, [sparse, full]), 2);
    assert.deepEqual(await queryIdsAlerts(conn, { fromMs: 0, toMs: 2 ** 47 }), [full, sparse]);

    // One flow of full's connection, the reverse direction and no community_id: found by 5-tuple.
    await conn.run(
      `INSERT INTO flows (time_start, time_end, exporter, src_addr, dst_addr, src_port, dst_port, proto,
         bytes, packets, rev_bytes, rev_packets, community_id)
       VALUES (1700000000000, 1700000000500, '192.0.2.9',
         CAST('${(0xff02n << 112n) | (0x1ff00n << 16n) | 1n}' AS UHUGEINT),
         CAST('${(0xffffn << 32n) | 0x0a010203n}' AS UHUGEINT),
         443, 51234, 6, 1000, 10, 2000, 20, NULL)`,
    );
    const got = await alertsWithFlows(conn, { fromMs: 0, toMs: 2 ** 47 });
    assert.deepEqual(got, [
      {
        alert: full,
        flow: {
          timeStart: 1_700_000_000_000,
          timeEnd: 1_700_000_000_500,
          srcAddr: 'ff02::1:ff00:1',
          dstAddr: '10.1.2.3',
          srcPort: 443,
          dstPort: 51234,
          proto: 6,
          bytes: 1000,
          packets: 10,
          revBytes: 2000,
          revPackets: 20,
          exporter: '192.0.2.9',
          communityId: '',
        },
      },
    ]);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
});
