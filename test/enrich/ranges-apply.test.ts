// The optimised apply functions (DIR-16-8-8 lookups, interned ids, per-batch code stamps, merged
// tag cache) against a straightforward reference written here: for every row and side, scan every
// range and asset with 128-bit integers and write the values through the FlowBatch setters. Random
// tables (nested v4/v6 prefixes incl. /25–/32 and ::/0, shared and empty names, segments and tags,
// moved assets) and random batches, several batches through one FlowBatch that is reset in between
// (stale per-batch codes would show), compared column by column on decoded values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AssetEntry, applyAssets, buildAssetTable } from '../../src/enrich/assets/assets.js';
import { applyDirection, buildOwnNetworks } from '../../src/enrich/ranges/direction.js';
import { applyRanges, buildRangeTable, type RangeEntry } from '../../src/enrich/ranges/ranges.js';
import { FlowBatch, formatAddrWords, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C, columnIndex, DIRECTIONS } from '../../src/schema/columns.js';
import { rng } from '../helpers/rng.js';

const bigs = new Map<string, bigint>();
const big = (a: string) => bigs.get(a) ?? bigOf(a);
const bigOf = (a: string) => {
  const w = parseAddr(a) as Uint32Array;
  const v = (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
  bigs.set(a, v);
  return v;
};
const parsed = new Map<string, { net: bigint; shift: bigint; len: number }>();
function inCidr(cidr: string, addr: bigint): { len: number } | null {
  let p = parsed.get(cidr);
  if (p === undefined) {
    const [net, l] = cidr.split('/');
    const len = Number(l) + (net.includes(':') ? 0 : 96);
    const shift = BigInt(128 - len);
    p = { net: big(net) >> shift, shift, len };
    parsed.set(cidr, p);
  }
  return addr >> p.shift === p.net ? p : null;
}
function refRange(entries: readonly RangeEntry[], addr: bigint): RangeEntry | undefined {
  let best: RangeEntry | undefined;
  let bestLen = -1;
  for (const e of entries) {
    const m = inCidr(e.cidr, addr);
    if (m && m.len >= bestLen) {
      best = e;
      bestLen = m.len;
    }
  }
  return best;
}
function refAsset(entries: readonly AssetEntry[], addr: string, t: number): AssetEntry | undefined {
  let best: AssetEntry | undefined;
  for (const e of entries) {
    const a = big(addr);
    if (!e.ips.some((ip) => big(ip) === a)) continue; // "2001:db8::0" is "2001:db8::"
    const from = e.validFrom ?? -Infinity;
    const to = e.validTo ?? Infinity;
    const holds = Number.isNaN(t) ? to === Infinity : from <= t && t < to;
    if (holds && (best === undefined || from >= (best.validFrom ?? -Infinity))) best = e;
  }
  return best;
}

const V4_BASES = ['10.0.0.0', '10.1.2.0', '192.168.0.0', '203.0.113.0', '0.0.0.0', '255.255.255.0'];
const V6_BASES = ['2001:db8::', '2001:db8:1::', 'fd00::', '::'];

function makeTables(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const names = ['', 'corp', 'aws:EC2:us-east-1', 'aws:S3:eu-west-1', 'lab', 'dmz'];
  const segs = ['', 'pci', 'prod', 'lab'];
  const tagLists = [[], ['internal'], ['internal', 'web'], ['aws', 'ec2'], ['web'], ['internal', 'db', 'pci']];
  const entries: RangeEntry[] = [];
  const v4 = (base: string, len: number) => {
    const w = parseAddr(base) as Uint32Array;
    const a = (w[3] + int(1 << 12) * 17) >>> 0;
    const masked = len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0;
    return `${(masked >>> 24) & 255}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${len}`;
  };
  for (let i = 0; i < 250; i++) {
    let cidr: string;
    if (rand() < 0.8) cidr = v4(V4_BASES[int(V4_BASES.length)], [8, 16, 20, 24, 24, 24, 25, 28, 30, 32, 0][int(11)]);
    else {
      const len = [0, 16, 32, 48, 64, 127, 128][int(7)];
      const w = parseAddr(V6_BASES[int(V6_BASES.length)]) as Uint32Array;
      w[1] = (w[1] + int(4)) >>> 0;
      w[3] = int(4);
      cidr = `${formatAddrWords(w, 0)}/${len}`;
      // a prefix written with host bits is not what the loaders make: mask through the table
      cidr = buildRangeTable([{ cidr, name: '', segment: '', tags: [], source: 'x' }]).entry(0).cidr;
    }
    entries.push({
      cidr,
      name: names[int(names.length)],
      segment: segs[int(segs.length)],
      tags: tagLists[int(tagLists.length)],
      source: `r.csv:${i + 1}`,
    });
  }
  const assets: AssetEntry[] = [];
  const ips: string[] = [];
  const T = 1_700_000_000_000;
  for (let i = 0; i < 150; i++) {
    const ip =
      rand() < 0.85
        ? `${[10, 192, 203][int(3)]}.${[0, 1, 168][int(3)]}.${int(3)}.${int(8)}`
        : `2001:db8::${int(64).toString(16)}`;
    ips.push(ip);
    const e: AssetEntry = {
      ips: rand() < 0.1 ? [ip, `10.9.9.${int(200)}`] : [ip],
      name: rand() < 0.05 ? '' : `host-${i}`,
      vmId: `i-${i}`,
      account: ['', 'acct-1', 'acct-2'][int(3)],
      owner: ['team-a', 'team-b', ''][int(3)],
      type: ['m5.large', ''][int(2)],
      env: ['prod', 'dev', ''][int(3)],
      tags: [[], ['vm'], ['vm', 'web'], ['internal', 'db']][int(4)],
      source: `a.csv:${i + 2}`,
    };
    const k = rand();
    if (k < 0.2) e.validTo = T + int(1000) * 1000;
    else if (k < 0.4) e.validFrom = T + int(1000) * 1000;
    assets.push(e);
  }
  return { entries, assets, ips };
}

const ENRICH = ['range', 'segment', 'tags', 'host', 'vm_id', 'account', 'owner', 'env', 'asset_type'];

test('applyRanges + applyDirection + applyAssets equal a row-by-row reference on random batches', () => {
  for (const seed of [1, 2, 3]) {
    const rand = rng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const { entries, assets, ips } = makeTables(rand);
    const ranges = buildRangeTable(entries);
    const own = buildOwnNetworks(['198.51.100.0/24', '2001:db8:ff::/48'], ranges);
    const assetTable = buildAssetTable(assets);
    const internal = entries.filter((e) => e.tags.includes('internal'));
    const isOwn = (a: bigint) =>
      inCidr('198.51.100.0/24', a) !== null ||
      inCidr('2001:db8:ff::/48', a) !== null ||
      refRange(internal, a) !== undefined;
    const got = new FlowBatch(400);
    const seen = { range: 0, host: 0, merged: 0, internal: 0 };
    // Rounds where a decoder already wrote some enrichment columns: those keep the batch's own
    // dictionary (codes per distinct value), the others take the tables' interned arrays. Round 3
    // makes applyAssets write tags into the list dictionary applyRanges shared (copy on write).
    const decoded: number[][] = [[], [C.src_range, C.dst_host, C.src_tags], [C.dst_tags], [C.src_host], []];
    for (let round = 0; round < decoded.length; round++) {
      got.reset();
      const want = new FlowBatch(400);
      for (let r = 0; r < 400; r++) {
        got.addRow();
        want.addRow();
        for (const col of [C.src_addr, C.dst_addr]) {
          const k = rand();
          if (k < 0.05) continue; // no address
          let a: string;
          if (k < 0.35) a = ips[int(ips.length)];
          else if (k < 0.7) {
            const e = entries[int(entries.length)];
            const w = parseAddr(e.cidr.split('/')[0]) as Uint32Array;
            w[3] = (w[3] + int(3) * int(300)) >>> 0;
            a = formatAddrWords(w, 0);
          } else if (k < 0.9) a = `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
          else a = `2001:db8:${int(3).toString(16)}::${int(70).toString(16)}`;
          const w = parseAddr(a) as Uint32Array;
          for (const b of [got, want]) {
            (b.data[col] as Uint32Array).set(w, r * 4);
            b.valid[col][r] = 1;
          }
        }
        if (rand() < 0.9) {
          const t = 1_700_000_000_000 + int(1_200_000);
          got.setNum(C.time_start, r, t);
          want.setNum(C.time_start, r, t);
        }
        // a direction a source wrote before, to be replaced when both addresses are there
        got.setNum(C.direction, r, 0);
        want.setNum(C.direction, r, 0);
        if (rand() < 0.1) {
          for (const col of decoded[round]) {
            for (const b of [got, want]) {
              if (col === C.src_tags || col === C.dst_tags) b.setList(col, r, ['decoded', `d${r % 3}`]);
              else b.setString(col, r, `decoded-${r % 5}`);
            }
          }
        }
      }
      applyRanges(ranges, got);
      applyDirection(own, got);
      applyAssets(assetTable, got);
      // which path each column took: shared table arrays unless the batch held values of its own
      for (const f of ENRICH) {
        for (const side of ['src', 'dst']) {
          const col = columnIndex(`${side}_${f}`);
          const dict = f === 'tags' ? got.lists[col] : got.strings[col];
          const rangeCol = f === 'range' || f === 'segment' || f === 'tags';
          const sideCols = decoded[round].filter((c) => got.columns[c].name.startsWith(side));
          // A side's range columns share only together; its asset columns share only when the tags
          // column still holds nothing of the batch's own after applyRanges (the ranges' fallback
          // and the assets' fallback write tags through the batch's dictionary).
          const rangeDirty = sideCols.some((c) => /_(range|segment|tags)$/.test(got.columns[c].name));
          const dirty = rangeCol && f !== 'tags' ? rangeDirty : sideCols.length > 0;
          assert.equal(dict?.shared, !dirty, `seed ${seed} round ${round} ${side}_${f} shared`);
        }
      }

      for (let r = 0; r < want.length; r++) {
        const t = want.valid[C.time_start][r] === 1 ? want.getNum(C.time_start, r) : Number.NaN;
        const sides: [string, number][] = [
          ['src', C.src_addr],
          ['dst', C.dst_addr],
        ];
        for (const [side, col] of sides) {
          const addr = want.getAddr(col, r);
          if (addr === null) continue;
          const c = (f: string) => columnIndex(`${side}_${f}`);
          const e = refRange(entries, big(addr));
          if (e) {
            seen.range++;
            if (e.name) want.setString(c('range'), r, e.name);
            if (e.segment) want.setString(c('segment'), r, e.segment);
            if (e.tags.length) want.setList(c('tags'), r, e.tags);
          }
          const x = refAsset(assets, addr, t);
          if (x) {
            const vals = [x.name, x.vmId, x.account, x.owner, x.env, x.type];
            ['host', 'vm_id', 'account', 'owner', 'env', 'asset_type'].forEach((f, k) => {
              if (vals[k]) want.setString(c(f), r, vals[k]);
            });
            const before = want.valid[c('tags')][r] === 1 ? want.getList(c('tags'), r) : [];
            const merged = [...before, ...x.tags.filter((tag) => !before.includes(tag))];
            seen.host++;
            if (before.length > 0 && merged.length > before.length) seen.merged++;
            if (merged.length) want.setList(c('tags'), r, merged);
          }
        }
        const sa = want.getAddr(C.src_addr, r);
        const da = want.getAddr(C.dst_addr, r);
        if (sa !== null && da !== null) {
          const s = isOwn(big(sa));
          const d = isOwn(big(da));
          if (s && d) seen.internal++;
          want.setEnum(C.direction, r, s ? (d ? 'internal' : 'egress') : d ? 'ingress' : 'external');
        }
        for (const f of ENRICH) {
          for (const side of ['src', 'dst']) {
            const col = columnIndex(`${side}_${f}`);
            const at = `seed ${seed} round ${round} row ${r} ${side}_${f} (${want.getAddr(columnIndex(`${side}_addr`), r)})`;
            assert.equal(got.valid[col][r], want.valid[col][r], at);
            if (want.valid[col][r] === 0) continue; // a null's code is whatever the row held before
            if (f === 'tags') assert.deepEqual(got.getList(col, r), want.getList(col, r), at);
            else assert.equal(got.getString(col, r), want.getString(col, r), at);
          }
        }
        assert.equal(DIRECTIONS[got.getNum(C.direction, r)], DIRECTIONS[want.getNum(C.direction, r)], `row ${r}`);
      }
    }
    // The random tables and batches do exercise every path.
    assert.ok(seen.range > 1000 && seen.host > 300 && seen.merged > 20 && seen.internal > 10, JSON.stringify(seen));
  }
});
