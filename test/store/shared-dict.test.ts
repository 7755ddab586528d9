// Batches whose enrichment columns use the tables' shared dictionaries (FlowBatch.useSharedStrings,
// written by applyRanges/applyAssets on a fresh batch) store the same strings as a private
// dictionary would: each stored row is compared, through an independent read-only DuckDB, with
// what the tables say for its addresses (RangeTable.lookup / AssetTable.lookup). One FlowBatch is
// used for every round and reset in between, as the ingest pipeline does: a round where a decoder
// already wrote src_host (private dictionaries, and a copy of the shared tag lists) follows a
// shared one, and a shared one follows that.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { applyAssets, buildAssetTable } from '../../src/enrich/assets/assets.js';
import { applyRanges, buildRangeTable } from '../../src/enrich/ranges/ranges.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { rawQuery, removeDir, tempDir } from './helpers.js';

const d = tempDir();
after(() => removeDir(d));

const ranges = buildRangeTable([
  { cidr: '10.0.0.0/8', name: 'corp', segment: 'prod', tags: ['internal'], source: 'r.csv:2' },
  { cidr: '10.1.0.0/16', name: 'lab', segment: '', tags: ['internal', 'lab'], source: 'r.csv:3' },
  { cidr: '192.0.2.0/24', name: 'partner', segment: 'dmz', tags: [], source: 'r.csv:4' },
  { cidr: '2001:db8::/32', name: 'v6-net', segment: 'prod', tags: ['internal', 'v6'], source: 'r.csv:5' },
]);
const asset = (ip: string, name: string, tags: string[], i: number) => ({
  ips: [ip],
  name,
  vmId: `i-${i}`,
  account: i % 2 ? 'acct-1' : '',
  owner: 'team-a',
  type: 'm5.large',
  env: 'prod',
  tags,
  source: `a.csv:${i + 2}`,
});
const assets = buildAssetTable([
  asset('10.0.0.5', 'web-1', ['web'], 0),
  asset('10.1.2.3', 'lab-db', ['db', 'internal'], 1),
  asset('192.0.2.9', 'gw', [], 2),
  asset('2001:db8::7', 'v6-host', ['web'], 3),
  asset('198.51.100.1', 'lonely', ['edge'], 4),
]);
const ADDRS = ['10.0.0.5', '10.1.2.3', '10.2.0.1', '192.0.2.9', '192.0.2.10', '2001:db8::7', '198.51.100.1', '8.8.8.8'];

test('rows enriched through shared dictionaries store the tables’ strings', async () => {
  const s = await openStore({ dir: d });
  const b = new FlowBatch(64);
  const want = new Map<number, (string | null)[]>();
  const rounds = [false, true, false]; // whether a decoder wrote src_host on some rows first
  let id = 0;
  for (let round = 0; round < rounds.length; round++) {
    for (let k = 0; k < 40; k++) {
      const r = b.addRow();
      const src = ADDRS[(k + round) % ADDRS.length];
      const dst = ADDRS[(k * 3 + 1) % ADDRS.length];
      (b.data[C.src_addr] as Uint32Array).set(parseAddr(src) as Uint32Array, r * 4);
      b.valid[C.src_addr][r] = 1;
      (b.data[C.dst_addr] as Uint32Array).set(parseAddr(dst) as Uint32Array, r * 4);
      b.valid[C.dst_addr][r] = 1;
      b.setNum(C.time_start, r, 1_700_000_000_000 + id);
      b.setNum(C.src_port, r, id);
      const decoded = rounds[round] && k % 4 === 0 ? `decoded-${k % 3}` : null;
      if (decoded !== null) b.setString(C.src_host, r, decoded);
      const row: (string | null)[] = [];
      for (const [addr, keep] of [
        [src, decoded],
        [dst, null],
      ] as const) {
        const e = ranges.lookup(addr);
        const a = assets.lookup(addr);
        const tags = [...(e?.tags ?? [])];
        for (const t of a?.tags ?? []) if (!tags.includes(t)) tags.push(t);
        row.push(e?.name || null, e?.segment || null, tags.length ? tags.join('|') : null);
        row.push(a?.name || keep, a?.account || null);
      }
      want.set(id++, row);
    }
    applyRanges(ranges, b);
    applyAssets(assets, b);
    assert.equal(b.strings[C.src_host]?.shared, !rounds[round], `round ${round}`);
    assert.equal(b.strings[C.dst_host]?.shared, true, `round ${round}`);
    await s.append(b);
    b.reset();
  }
  await s.close();
  const rows = await rawQuery(
    d,
    `SELECT src_port::INTEGER, src_range, src_segment, array_to_string(src_tags, '|'), src_host, src_account,
            dst_range, dst_segment, array_to_string(dst_tags, '|'), dst_host, dst_account
     FROM flows_data ORDER BY src_port`,
  );
  assert.equal(rows.length, want.size);
  let merged = 0;
  for (const [i, ...got] of rows) {
    const w = want.get(Number(i));
    assert.deepEqual(
      got.map((v) => (v === null || v === '' ? null : String(v))),
      w,
      `row ${i}`,
    );
    if (w?.[2]?.includes('|web') || w?.[2]?.includes('|db')) merged++;
  }
  assert.ok(merged > 5, `range and asset tags merged on ${merged} rows`);
});
