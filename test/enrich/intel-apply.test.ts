// applyIntel answers most IPv4 addresses from a /24 bitmap made from the table; it must flag exactly
// the rows whose address IntelTable.lookupAddr (the hash and segment search the bitmap stands in
// front of) finds — at prefix edges, /24 edges, the ends of the space and for IPv4 CIDRs of every
// length.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Indicator } from '../../src/enrich/intel/feeds.js';
import { applyIntel, buildIntelTable } from '../../src/enrich/intel/intel.js';
import { parseCidr } from '../../src/enrich/ranges/lpm.js';
import { FlowBatch, formatAddrWords, formatIPv4 } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { rng } from '../helpers/rng.js';

test('applyIntel flags a row exactly when lookupAddr finds its IPv4 address (random tables, edge addresses)', () => {
  for (const seed of [11, 12, 13, 14]) {
    const next = rng(seed);
    const int = (n: number) => Math.floor(next() * n);
    const inds: Indicator[] = [];
    const edges: number[] = [0, 0xffffffff, 0xff, 0x100];
    for (let i = 0; i < 300; i++) {
      const a = int(2 ** 32);
      if (next() < 0.5) {
        inds.push({ type: 'ip', value: formatIPv4(a), feed: `f${i % 3}`, confidence: 50, source: `t:${i}` });
        edges.push(a, (a + 1) >>> 0, (a - 1) >>> 0);
      } else {
        const len = seed === 14 ? 1 + int(8) : 1 + int(32);
        const size = 2 ** (32 - len);
        const base = Math.floor(a / size) * size;
        inds.push({
          type: 'cidr',
          value: `${formatIPv4(base)}/${len}`,
          feed: `f${i % 3}`,
          confidence: 60,
          source: `t:${i}`,
        });
        const last = base + size - 1;
        for (const e of [base, last, base - 1, last + 1]) if (e >= 0 && e <= 0xffffffff) edges.push(e);
      }
    }
    const table = buildIntelTable(inds);
    const batch = new FlowBatch(edges.length + 200);
    for (let k = 0; !batch.full; k++) {
      const r = batch.addRow();
      batch.setIPv4(C.src_addr, r, k < edges.length ? edges[k] : int(2 ** 32));
      batch.setIPv4(C.dst_addr, r, int(2 ** 32));
    }
    applyIntel(table, batch);
    const src = batch.data[C.src_addr] as Uint32Array;
    const dst = batch.data[C.dst_addr] as Uint32Array;
    let hits = 0;
    for (let r = 0; r < batch.length; r++) {
      const want = table.lookupAddr(src, r * 4) >= 0 || table.lookupAddr(dst, r * 4) >= 0;
      if (want) hits++;
      assert.equal(batch.valid[C.ti_feeds][r], want ? 1 : 0, `seed ${seed} row ${r} ${batch.getAddr(C.src_addr, r)}`);
    }
    assert.ok(hits > 100, `seed ${seed}: the table is hit (${hits})`);
  }
});

test('applyIntel flags a row exactly when lookupAddr finds its IPv6 address (exact hash behind a filter, CIDRs)', () => {
  for (const seed of [21, 22]) {
    const next = rng(seed);
    const int = (n: number) => Math.floor(next() * n);
    const word = () => (next() < 0.5 ? 0x2a000000 + int(4) : int(2 ** 32));
    const inds: Indicator[] = [];
    const probes: Uint32Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const w = Uint32Array.of(word(), int(4), int(2 ** 32), int(2 ** 32));
      if (i % 3 !== 0) {
        inds.push({ type: 'ip', value: formatAddrWords(w, 0), feed: `f${i % 3}`, confidence: 50, source: `t:${i}` });
        probes.push(w, Uint32Array.of(w[0], w[1], w[2], (w[3] + 1) >>> 0));
      } else {
        const len = 16 + int(100);
        const net = parseCidr(`${formatAddrWords(w, 0)}/${len}`);
        if (typeof net === 'string') throw new Error(net);
        inds.push({
          type: 'cidr',
          value: `${formatAddrWords(net.words, 0)}/${len}`,
          feed: 'c',
          confidence: 60,
          source: `t:${i}`,
        });
        probes.push(net.words, w);
      }
    }
    const table = buildIntelTable(inds);
    const batch = new FlowBatch(probes.length + 500);
    for (let k = 0; !batch.full; k++) {
      const r = batch.addRow();
      const w = k < probes.length ? probes[k] : Uint32Array.of(word(), int(4), int(2 ** 32), int(2 ** 32));
      const a = batch.data[C.src_addr] as Uint32Array;
      a.set(w, r * 4);
      batch.valid[C.src_addr][r] = 1;
    }
    applyIntel(table, batch);
    const src = batch.data[C.src_addr] as Uint32Array;
    let hits = 0;
    for (let r = 0; r < batch.length; r++) {
      const want = table.lookupAddr(src, r * 4) >= 0;
      if (want) hits++;
      assert.equal(batch.valid[C.ti_feeds][r], want ? 1 : 0, `seed ${seed} row ${r} ${batch.getAddr(C.src_addr, r)}`);
    }
    assert.ok(hits > 2000, `seed ${seed}: the table is hit (${hits})`);
  }
});
