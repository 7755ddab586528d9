// IDS alerts of a Suricata eve.json read by an input: stored once each, also when the file grows
// (new alerts after new flows, or alerts alone) and across restarts; a data directory whose
// checkpoint table predates the alert count is migrated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LogSource } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { api } from '../../src/store/duckdb/duckdb-api.js';
import { DB_FILE, openStore } from '../../src/store/duckdb/index.js';
import { memoryLister } from './memory-lister.js';

const tmp = mkdtempSync(join(tmpdir(), 'fw-source-alerts-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function alert(i: number): string {
  return `{"timestamp":"2021-06-06T16:26:28.00000${i}+0200","flow_id":${1000 + i},"event_type":"alert","src_ip":"10.0.0.1","src_port":${i},"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP","alert":{"action":"allowed","signature_id":${i},"signature":"sig ${i}","category":"c","severity":2}}\n`;
}

function flow(i: number): string {
  return `{"timestamp":"2021-06-06T16:27:00.000000+0200","flow_id":${2000 + i},"event_type":"flow","src_ip":"192.168.1.129","src_port":${30000 + i},"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":75,"bytes_toclient":91,"start":"2021-06-06T16:26:27.431769+0200","end":"2021-06-06T16:26:27.442512+0200","state":"established","reason":"timeout","alerted":false}}\n`;
}

/** One pass of a fresh source over `objects` (a restart each time); what the store then holds. */
async function pass(data: string, objects: Map<string, string>) {
  const store = await openStore({ dir: data });
  const errors: string[] = [];
  const source = new LogSource({
    name: 'eve',
    lister: memoryLister(objects),
    store,
    counters: new ExporterCounters(),
    onError: (m) => errors.push(m),
  });
  const stats = { ...(await source.runOnce()) };
  await source.stop();
  const flows = await store.count();
  const alerts = (await store.idsAlerts({})).map((a) => a.signatureId).sort((a, b) => a - b);
  await store.close();
  return { stats, flows, alerts, errors };
}

test('a grown eve.json: its new alerts are stored, the old ones not again', async () => {
  const data = join(tmp, 'grown');
  const objects = new Map([['eve.json', alert(1) + flow(1)]]);
  const a = await pass(data, objects);
  assert.deepEqual([a.flows, a.alerts], [1, [1]]);
  objects.set('eve.json', objects.get('eve.json') + alert(2) + flow(2));
  const b = await pass(data, objects);
  assert.equal(b.stats.resumedRows, 1);
  assert.deepEqual([b.flows, b.alerts], [2, [1, 2]]);
  // Grown by alerts alone (no new flow row).
  objects.set('eve.json', objects.get('eve.json') + alert(3));
  const c = await pass(data, objects);
  assert.deepEqual([c.flows, c.alerts], [2, [1, 2, 3]]);
  // Unchanged: skipped.
  const d = await pass(data, objects);
  assert.equal(d.stats.skipped, 1);
  assert.deepEqual([d.flows, d.alerts, d.errors], [2, [1, 2, 3], []]);
});

test('an eve.json of alerts only, grown: each alert once', async () => {
  const data = join(tmp, 'alerts-only');
  const objects = new Map([['eve.json', alert(1)]]);
  const a = await pass(data, objects);
  assert.deepEqual([a.flows, a.alerts], [0, [1]]);
  objects.set('eve.json', objects.get('eve.json') + alert(2));
  const b = await pass(data, objects);
  assert.deepEqual([b.flows, b.alerts], [0, [1, 2]]);
});

test('a checkpoint table from before the alert count gets the column; its objects are not re-read', async () => {
  const data = join(tmp, 'legacy');
  await (await openStore({ dir: data })).close();
  const inst = await api.DuckDBInstance.create(join(data, DB_FILE));
  const c = await inst.connect();
  await c.run(
    'CREATE TABLE source_checkpoints (source VARCHAR, key VARCHAR, version VARCHAR, size BIGINT, rows BIGINT, done BOOLEAN, updated_ms BIGINT, PRIMARY KEY (source, key))',
  );
  const old = alert(1) + flow(1);
  await c.run(`INSERT INTO source_checkpoints VALUES ('eve', 'old.json', '${old.length}', ${old.length}, 1, true, 0)`);
  c.closeSync();
  inst.closeSync();
  const objects = new Map([
    ['old.json', old],
    ['new.json', alert(7) + flow(7)],
  ]);
  const a = await pass(data, objects);
  assert.deepEqual(a.errors, []);
  assert.equal(a.stats.skipped, 1);
  assert.deepEqual([a.flows, a.alerts], [1, [7]]);
  // old.json grows: its alert count was not known, so what it holds now is taken as stored (the
  // first read stored its alerts); from then on it is counted.
  objects.set('old.json', `${old}${flow(2)}`);
  const b = await pass(data, objects);
  assert.deepEqual([b.flows, b.alerts], [2, [7]]);
  objects.set('old.json', `${objects.get('old.json')}${alert(3)}`);
  const d = await pass(data, objects);
  assert.deepEqual([d.flows, d.alerts], [2, [3, 7]]);
});

test('alerts queued while a commit is running: the checkpoint counts them only once a commit holds them', async () => {
  const data = join(tmp, 'racing');
  const store = await openStore({ dir: data });
  const addHook = store.addCommitHook.bind(store);
  // Registered before the source's hook: it holds a commit (one that has already taken the alerts
  // queued so far) until the source has queued the object's alerts.
  let armed = false;
  let entered: () => void = () => {};
  const inCommit = new Promise<void>((r) => {
    entered = r;
  });
  let queued: () => void = () => {};
  const alertsQueued = new Promise<void>((r) => {
    queued = r;
  });
  const removeHold = addHook({
    pending: () => armed,
    write: async () => {
      if (!armed) return;
      armed = false;
      entered();
      await alertsQueued;
    },
  });
  const appendIdsAlerts = store.appendIdsAlerts.bind(store);
  store.appendIdsAlerts = (a) => {
    appendIdsAlerts(a);
    queued();
  };
  const objects = new Map([['eve.json', alert(1)]]);
  const inner = memoryLister(objects);
  const source = new LogSource({
    name: 'eve',
    lister: {
      ...inner,
      read: async (o) => {
        armed = true;
        void store.flush();
        await inCommit;
        return inner.read(o);
      },
    },
    store,
    counters: new ExporterCounters(),
  });
  // After the source's hook, in the same transaction: alerts in the table and in the checkpoint.
  const seen: { alerts: number; checkpointed: number }[] = [];
  const removeCheck = addHook({
    pending: () => true,
    write: async (run) => {
      const [[n]] = await run('SELECT count(*) FROM ids_alerts');
      const [[cp]] = await run(`SELECT coalesce(sum(alerts), 0) FROM source_checkpoints WHERE source = 'eve'`);
      seen.push({ alerts: Number(n), checkpointed: Number(cp) });
    },
  });
  await source.runOnce();
  await source.stop();
  removeHold();
  removeCheck();
  await store.close();
  for (const s of seen) assert.equal(s.checkpointed, s.alerts, JSON.stringify(seen));
  assert.deepEqual(seen.at(-1), { alerts: 1, checkpointed: 1 });
  assert.ok(seen.length >= 3, JSON.stringify(seen));
});
