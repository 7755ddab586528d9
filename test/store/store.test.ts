// The DuckDB flow store against a real DuckDB in temp directories: every column type survives an
// append → close → reopen round trip, the rollup equals a GROUP BY over the raw flows, the planner
// picks the rollup only when it answers exactly, retention, the writer lock, and kill -9.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { FlowBatch, formatMac, parseAddr } from '../../src/pipeline/flow-batch.js';
import { allColumns, C, type ColumnDef } from '../../src/schema/columns.js';
import { openStore, ROLLUP_DIMS, readLock, setLockApi } from '../../src/store/duckdb/index.js';
import { rawQuery, removeDir, tempDir } from './helpers.js';
import { SynthFlows } from './synth.js';

const dirs: string[] = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) removeDir(d);
});

const ADDRS = ['192.0.2.1', '2001:db8::1', '0.0.0.0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::', 'fe80::1:2:3:4'];

/** One row per case, every declared column set; column i is null in row i % rows (time_start never). */
function everyTypeBatch(rows = 6): FlowBatch {
  const b = new FlowBatch(16);
  const cols = allColumns();
  for (let r = 0; r < rows; r++) b.addRow();
  cols.forEach((c, i) => {
    for (let r = 0; r < rows; r++) {
      if (c.name !== 'time_start' && r === i % rows) continue;
      switch (c.type) {
        case 'time':
          b.setNum(i, r, Date.UTC(2024, 2, 1) + r * 1000 + i);
          break;
        case 'u8':
          b.setNum(i, r, r === 1 ? 255 : (r * 37 + i) & 255);
          break;
        case 'u16':
          b.setNum(i, r, 65535 - r * 1000 - i);
          break;
        case 'u32':
          b.setNum(i, r, 4294967295 - r * 100 - i);
          break;
        case 'u64':
          b.setNum(i, r, r === 2 ? Number.MAX_SAFE_INTEGER : r * 1e12 + i);
          break;
        case 'mac':
          b.setNum(i, r, r === 3 ? 0xffffffffffff : 0x0000_5e00_5300 + r);
          break;
        case 'addr': {
          const w = parseAddr(ADDRS[(r + i) % ADDRS.length]) as Uint32Array;
          const bytes = new Uint8Array(16);
          new DataView(bytes.buffer).setUint32(0, w[0]);
          new DataView(bytes.buffer).setUint32(4, w[1]);
          new DataView(bytes.buffer).setUint32(8, w[2]);
          new DataView(bytes.buffer).setUint32(12, w[3]);
          b.setIPv6(i, r, bytes, 0);
          break;
        }
        case 'bool':
          b.setNum(i, r, r % 2);
          break;
        case 'enum':
          b.setNum(i, r, (r + i) % (c.enumValues?.length ?? 1));
          break;
        case 'string':
          b.setString(i, r, `${c.name} ${r} é✓ "quoted" ${'x'.repeat(r * 7)}`);
          break;
        case 'list':
          b.setList(i, r, r === 4 ? ['only'] : [`${c.name}-${r}`, 'shared', 'ünï']);
          break;
      }
    }
  });
  return b;
}

function expected(b: FlowBatch, c: ColumnDef, i: number, r: number): unknown {
  if (b.isNull(i, r)) return null;
  switch (c.type) {
    case 'addr':
      return b.getAddr(i, r);
    case 'mac':
      return formatMac(b.getNum(i, r));
    case 'bool':
      return b.getNum(i, r) === 1;
    case 'enum':
      return c.enumValues?.[b.getNum(i, r)];
    case 'string':
      return b.getString(i, r);
    case 'list':
      return [...b.getList(i, r)];
    default:
      return b.getNum(i, r);
  }
}

describe('DuckDB flow store', () => {
  test('every column type round-trips through append, close and reopen, value by value', async () => {
    const d = dir();
    const b = everyTypeBatch();
    const s = await openStore({ dir: d });
    await s.append(b);
    assert.equal(await s.flush(), b.length);
    await s.close();
    const ro = await openStore({ dir: d, readOnly: true });
    const rows = await ro.queryFlows({ limit: 100, orderBy: 'time_start' });
    await ro.close();
    assert.equal(rows.length, b.length);
    const cols = allColumns();
    for (let r = 0; r < b.length; r++)
      for (let i = 0; i < cols.length; i++)
        assert.deepEqual(rows[r][cols[i].name], expected(b, cols[i], i, r), `row ${r} column ${cols[i].name}`);
  });

  test('a batch with a value the column cannot hold stores null for it, not garbage', async () => {
    const d = dir();
    const b = new FlowBatch(4);
    const r = b.addRow();
    b.setNum(C.time_start, r, 1000);
    b.setNum(C.bytes, r, -5);
    b.setNum(C.packets, r, Number.NaN);
    const s = await openStore({ dir: d });
    await s.append(b);
    await s.flush();
    const [row] = await s.queryFlows({ limit: 1, fields: ['time_start', 'bytes', 'packets'] });
    await s.close();
    assert.deepEqual(row, { time_start: 1000, bytes: null, packets: null });
  });

  test('flows_1m equals a GROUP BY over flows, with late data and several flushes', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    const synth = new SynthFlows({ seed: 3, flowsPerSecond: 500 });
    const b = new FlowBatch(4096);
    for (let k = 0; k < 6; k++) {
      synth.fill(b);
      if (k === 4) for (let r = 0; r < b.length; r += 3) b.setNum(C.time_start, r, Date.UTC(2024, 1, 28) + r); // late
      if (k === 5) for (let r = 0; r < b.length; r += 5) b.valid[C.exporter][r] = 0; // null dims
      await s.append(b);
      if (k % 2 === 1) await s.flush();
    }
    await s.close();
    // flows_data holds only the columns some flow filled; a dimension never filled is NULL.
    const stored = new Set(
      (await rawQuery(d, "SELECT column_name FROM information_schema.columns WHERE table_name = 'flows_data'")).map(
        (r) => String(r[0]),
      ),
    );
    const dims = ROLLUP_DIMS.map((n) => (stored.has(n) ? `"${n}"` : `NULL AS "${n}"`)).join(', ');
    const rev = stored.has('rev_bytes') ? 'sum(rev_bytes)::BIGINT' : 'NULL::BIGINT';
    const fromFlows = await rawQuery(
      d,
      `SELECT (time_start // 60000) * 60000 AS m, ${dims}, count(*)::BIGINT, sum(packets)::BIGINT, sum(bytes)::BIGINT, ${rev}
       FROM flows_data GROUP BY ALL ORDER BY ALL`,
    );
    const fromRollup = await rawQuery(
      d,
      `SELECT time_start, ${dims}, sum(flows)::BIGINT, sum(packets)::BIGINT, sum(bytes)::BIGINT, sum(rev_bytes)::BIGINT
       FROM flows_1m GROUP BY ALL ORDER BY ALL`,
    );
    assert.ok(fromFlows.length > 10);
    assert.deepEqual(fromRollup, fromFlows);
  });

  test('the planner answers from flows_1m only when it can, and both tables agree', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    const synth = new SynthFlows({ seed: 5, flowsPerSecond: 200 });
    const b = new FlowBatch(8192);
    synth.fill(b);
    await s.append(b);
    await s.flush();
    const t0 = Date.UTC(2024, 2, 1);
    // Synthetic times start up to 2 s before t0: both bounds below select every row, one aligned.
    const proto = await s.top({ by: ['proto'], order: 'bytes', limit: 5, since: t0 - 60_000, until: t0 + 600_000 });
    assert.equal(proto.table, 'flows_1m');
    const protoRaw = await s.top({ by: ['proto'], order: 'bytes', limit: 5, since: t0 - 60_001, until: t0 + 600_000 });
    assert.equal(protoRaw.table, 'flows_1m+flows', 'whole minutes from the rollup, the cut minute from the flows');
    // Bounds that cut minutes holding flows: the split answer equals a scan of every flow.
    const cut = { since: t0 + 30_500, until: t0 + 455_250 };
    const split = await s.top({ by: ['proto'], order: 'packets', limit: 5, ...cut });
    const scanned = await s.top({
      by: ['proto'],
      order: 'packets',
      limit: 5,
      ...cut,
      where: { sql: 'true', params: [] },
    });
    assert.equal(split.table, 'flows_1m+flows');
    assert.equal(scanned.table, 'flows');
    assert.deepEqual(split.rows, scanned.rows);
    const tsSplit = await s.timeseries({ intervalMs: 120_000, by: 'proto', ...cut });
    const tsScan = await s.timeseries({ intervalMs: 120_000, by: 'proto', ...cut, where: { sql: 'true', params: [] } });
    assert.equal(tsSplit.table, 'flows_1m+flows');
    assert.deepEqual(tsSplit.rows, tsScan.rows);
    assert.equal(
      proto.rows.reduce((a, r) => a + (r.flows as number), 0),
      b.length,
    );
    assert.deepEqual(proto.rows, protoRaw.rows);

    assert.equal((await s.top({ by: ['src_addr'], order: 'flows', limit: 3 })).table, 'talkers_5m');
    const filtered = { sql: 'dst_port = $1', params: [443] };
    assert.equal(
      (await s.top({ by: ['proto'], order: 'flows', limit: 3, where: filtered, fieldsUsed: ['dst_port'] })).table,
      'flows',
    );
    const byProto = { sql: 'proto = $1', params: [6] };
    const tcp = await s.top({ by: ['exporter'], order: 'flows', limit: 3, where: byProto, fieldsUsed: ['proto'] });
    assert.equal(tcp.table, 'flows_1m');
    const tcpRaw = await s.top({ by: ['exporter'], order: 'flows', limit: 3, where: byProto });
    assert.equal(tcpRaw.table, 'flows', 'no fieldsUsed: the planner cannot know, so it reads flows');
    assert.deepEqual(tcp.rows, tcpRaw.rows);

    const ts1m = await s.timeseries({ intervalMs: 300_000, by: 'proto' });
    const tsRaw = await s.timeseries({ intervalMs: 300_000, by: 'proto', where: { sql: 'true', params: [] } });
    assert.equal(ts1m.table, 'flows_1m');
    assert.equal(tsRaw.table, 'flows');
    assert.deepEqual(ts1m.rows, tsRaw.rows);
    assert.equal((await s.timeseries({ intervalMs: 30_000 })).table, 'flows');
    // AS numbers are not flows_1m dimensions (their pairs are too many): top ASes of one side come
    // from the talkers rollup, any other question by AS reads the flows; both agree with a scan
    const asnTop = await s.top({ by: ['dst_asn'], order: 'bytes', limit: 5 });
    assert.equal(asnTop.table, 'talkers_5m');
    const asnScan = await s.top({ by: ['dst_asn'], order: 'bytes', limit: 5, where: { sql: 'true', params: [] } });
    assert.equal(asnScan.table, 'flows');
    assert.deepEqual(asnTop.rows, asnScan.rows);
    assert.ok(
      asnTop.rows.some((r) => typeof r.dst_asn === 'number' && r.dst_asn > 0),
      JSON.stringify(asnTop.rows),
    );
    assert.equal((await s.top({ by: ['src_asn', 'dst_asn'], order: 'flows', limit: 3 })).table, 'flows');
    await s.close();
  });

  test('a flows_1m written with AS columns (an older version) loses them at open; its AS sums move to the talkers', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    const synth = new SynthFlows({ seed: 8, flowsPerSecond: 300 });
    const b = new FlowBatch(4096);
    synth.fill(b);
    await s.append(b);
    await s.close();
    // as an older version left it: AS dimensions with rows of their own
    const inst = await DuckDBInstance.create(join(d, 'flows.duckdb'));
    const c = await inst.connect();
    await c.run('ALTER TABLE flows_1m ADD COLUMN src_asn UINTEGER');
    await c.run('ALTER TABLE flows_1m ADD COLUMN dst_asn UINTEGER');
    await c.run('UPDATE flows_1m SET src_asn = 4200000001, dst_asn = 4200000002 WHERE proto = 6');
    const [[before, tcp]] = (
      await c.runAndReadAll('SELECT sum(flows)::BIGINT, sum(flows) FILTER (WHERE proto = 6)::BIGINT FROM flows_1m')
    ).getRows();
    c.closeSync();
    inst.closeSync();
    // read-only before any writer of this version opened it: its talkers have no AS sides yet,
    // so top ASes read the flows
    const ro = await openStore({ dir: d, readOnly: true });
    const roTop = await ro.top({ by: ['src_asn'], order: 'flows', limit: 3 });
    assert.equal(roTop.table, 'flows');
    assert.ok(roTop.rows.length > 0);
    await ro.close();
    const s2 = await openStore({ dir: d });
    synth.fill(b);
    await s2.append(b);
    await s2.close();
    const cols = (
      await rawQuery(d, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'flows_1m' ORDER BY column_index")
    ).map((r) => String(r[0]));
    assert.ok(!cols.includes('src_asn') && !cols.includes('dst_asn'), cols.join(','));
    assert.deepEqual(cols.slice(1, 1 + ROLLUP_DIMS.length), [...ROLLUP_DIMS]);
    const [[after]] = await rawQuery(d, 'SELECT sum(flows)::BIGINT FROM flows_1m');
    assert.equal(Number(after), Number(before) + b.length);
    // the AS sums it held are now the talkers' AS sides
    const moved = await rawQuery(
      d,
      'SELECT side::INTEGER, addr::BIGINT, sum(flows)::BIGINT FROM talkers_5m WHERE addr >= 4200000001 AND side >= 2 GROUP BY ALL ORDER BY ALL',
    );
    assert.deepEqual(
      moved.map((r) => r.map(Number)),
      [
        [2, 4200000001, Number(tcp)],
        [3, 4200000002, Number(tcp)],
      ],
    );
    assert.ok(Number(tcp) > 0);
  });

  test('top sources and destinations from the talkers rollup equal a scan of every flow', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    const synth = new SynthFlows({ seed: 9, flowsPerSecond: 50 });
    const b = new FlowBatch(8192);
    const all = { sql: 'true', params: [] };
    const t0 = Date.UTC(2024, 2, 1);
    const check = async (phase: string) => {
      for (const by of ['src_addr', 'dst_addr'])
        for (const order of ['flows', 'packets', 'bytes'] as const)
          for (const since of [undefined, t0 + 300_000, t0 + 120_000]) {
            const fast = await s.top({ by: [by], order, limit: 25, since });
            const scan = await s.top({ by: [by], order, limit: 25, since, where: all });
            assert.equal(fast.table, since === t0 + 120_000 ? 'talkers_5m+flows' : 'talkers_5m', phase);
            assert.equal(scan.table, 'flows', phase);
            assert.deepEqual(fast.rows, scan.rows, `${phase}: top ${by} by ${order} since ${since}`);
          }
    };
    // Several flushes leave partial sums per (minute, address); late rows land in old minutes.
    for (let k = 0; k < 4; k++) {
      synth.fill(b);
      if (k === 3) for (let r = 0; r < b.length; r += 7) b.setNum(C.time_start, r, t0 + (r % 5) * 300_000);
      await s.append(b);
      await s.flush();
    }
    await check('partial sums');
    await s.close();
    const [[rows]] = await rawQuery(d, 'SELECT count(*) - count(DISTINCT (time_start, side, addr)) FROM talkers_5m');
    assert.equal(Number(rows), 0, 'compaction on close leaves one row per bucket, side and address');
    const r = await openStore({ dir: d, readOnly: true });
    const fast = await r.top({ by: ['src_addr'], order: 'bytes', limit: 10 });
    const scan = await r.top({ by: ['src_addr'], order: 'bytes', limit: 10, where: all });
    assert.deepEqual(fast.rows, scan.rows, 'after compaction');
    await r.close();
  });

  test('retention deletes only rows older than each table keeps', async () => {
    const d = dir();
    const now = Date.UTC(2024, 5, 1, 12);
    const hour = 3_600_000;
    const s = await openStore({ dir: d, retention: { raw: 2 * hour, rollup1m: 24 * hour } });
    const b = new FlowBatch(64);
    const ages = [30 * hour, 3 * hour, 2 * hour + 1, 2 * hour, hour, 0];
    for (const age of ages) b.setNum(C.time_start, b.addRow(), now - age);
    await s.append(b);
    await s.flush();
    const deleted = await s.enforceRetention(now);
    // the 30-h-old flow: one flows_1m row, one talkers row per side (null addresses and AS numbers)
    assert.deepEqual(deleted, { flows: 3, flows_1m: 1, talkers_5m: 4, coverage_1m: 0, interface_counters: 0 });
    const left = (await s.queryFlows({ limit: 10, fields: ['time_start'] })).map((r) => now - (r.time_start as number));
    assert.deepEqual(left, [2 * hour, hour, 0]);
    const st = await s.stats();
    assert.equal(st.tables.flows.rows, 3);
    assert.ok((st.tables.flows_1m.minTimeMs as number) >= now - 24 * hour);
    await s.close();
  });

  test('one writer per store: a second writer is refused by name, a stale lock is taken over', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    assert.equal(readLock(d)?.pid, process.pid);
    await assert.rejects(openStore({ dir: d }), /already open for writing/);
    await setLockApi(d, 'http://127.0.0.1:8080');
    assert.equal(readLock(d)?.api, 'http://127.0.0.1:8080');
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openStore } from ${JSON.stringify(new URL('../../src/store/duckdb/index.js', import.meta.url).href)};
         try { await openStore({ dir: ${JSON.stringify(d)} }); console.log('opened'); } catch (e) { console.log(e.message); }`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(child.stdout, new RegExp(`by process ${process.pid}\\b`));
    assert.match(child.stdout, /http:\/\/127\.0\.0\.1:8080/);
    await s.close();
    assert.equal(readLock(d), null, 'close releases the lock');

    // A lock left by a process that died: taken over.
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(join(d, 'flowwatch.lock'), JSON.stringify({ pid: Number(dead.stdout.trim()), startedMs: 1 }));
    assert.equal(readLock(d), null);
    const s2 = await openStore({ dir: d });
    assert.equal(readLock(d)?.pid, process.pid);
    await s2.close();
  });

  test('a newer schema_version is refused with a clear error', async () => {
    const d = dir();
    await (await openStore({ dir: d })).close();
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const inst = await DuckDBInstance.create(join(d, 'flows.duckdb'));
    const c = await inst.connect();
    await c.run("UPDATE meta SET value = '999' WHERE key = 'schema_version'");
    c.closeSync();
    inst.closeSync();
    await assert.rejects(openStore({ dir: d }), /schema_version 999, newer than this flowwatch/);
    assert.equal(readLock(d), null, 'a failed open leaves no lock behind');
  });

  test('exporter state is stored as JSON and read back', async () => {
    const d = dir();
    const s = await openStore({ dir: d });
    await s.putExporterState('192.0.2.9', { templates: [{ id: 256, fields: 18 }], sequenceGaps: 2 });
    await s.putExporterState('192.0.2.9', { templates: [{ id: 256, fields: 19 }], sequenceGaps: 3 });
    await s.close();
    const ro = await openStore({ dir: d, readOnly: true });
    assert.deepEqual(await ro.exporterStates(), {
      '192.0.2.9': { templates: [{ id: 256, fields: 19 }], sequenceGaps: 3 },
    });
    await ro.close();
  });

  test('kill -9 mid-ingest: every flow reported stored is there and the database opens cleanly', async () => {
    const d = dir();
    const script = fileURLToPath(new URL('./child-ingest.js', import.meta.url));
    const child = spawn(process.execPath, [script, d], { stdio: ['ignore', 'pipe', 'inherit'] });
    let reported = 0;
    let reports = 0;
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const m = /^stored (\d+)$/.exec(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
          if (!m) continue;
          reported = Number(m[1]);
          if (++reports === 8) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      });
      child.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}`))));
    });
    await new Promise((r) => child.once('close', r));
    assert.ok(reported >= 8 * 3 * 4096);
    const s = await openStore({ dir: d });
    const n = await s.count();
    const flows1m = (await s.stats()).tables.flows_1m.rows;
    await s.close();
    assert.ok(n >= reported, `${n} flows in the store, ${reported} reported stored`);
    const [[distinct, below]] = await rawQuery(
      d,
      `SELECT count(DISTINCT sequence), count(*) FILTER (WHERE sequence < ${reported}) FROM flows_data`,
    );
    assert.equal(Number(below), reported, 'each reported flow exactly once');
    assert.equal(Number(distinct), n, 'no duplicates');
    const [[rolled]] = await rawQuery(d, 'SELECT sum(flows)::BIGINT FROM flows_1m');
    assert.equal(Number(rolled), n, 'the rollup committed with the same transactions');
    assert.ok(flows1m > 0);
  });
});
