// applyDirection answers "is it own" per IPv4 /16 from a cover map (all / none / part own) and
// looks up only the /16s that are part own. Against the definition: an address is own when any own
// network contains it (BigInt masks over 128-bit values). The networks are drawn so that whole /16s
// are covered with nested ranges inside (the configured 10.0.0.0/8 + ranges tagged internal),
// /16s are partly covered down to /32, and IPv6 networks (including ::/0-like short ones that cover
// the IPv4-mapped space) sit beside them; addresses are probed at prefix edges and at random.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDirection, buildOwnNetworks } from '../../src/enrich/ranges/direction.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C, DIRECTIONS } from '../../src/schema/columns.js';
import { rng } from '../helpers/rng.js';

const MAX = (1n << 128n) - 1n;
const big = (w: Uint32Array) => (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
const words = (x: bigint) =>
  Uint32Array.from([
    Number(x >> 96n),
    Number((x >> 64n) & 0xffffffffn),
    Number((x >> 32n) & 0xffffffffn),
    Number(x & 0xffffffffn),
  ]);
const mask = (x: bigint, len: number) => (len === 0 ? 0n : x & (MAX ^ ((1n << BigInt(128 - len)) - 1n)));
const v4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

test('applyDirection with the /16 cover map equals "any own network contains the address"', () => {
  for (const seed of [11, 12, 13, 14]) {
    const rand = rng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const cidrs: string[] = [];
    const bases = [0x0a000000, 0xc0a80000, 0xac100000, int(2 ** 32)];
    for (let i = 0; i < 300; i++) {
      const base = bases[int(bases.length)];
      // only 10.0.0.0/8 is covered whole (as by enrich.networks); the others are part own
      const len = base === 0x0a000000 ? [8, 16, 24, 32][int(4)] : [16, 17, 20, 24, 28, 31, 32][int(7)];
      const a = (base + int(1 << 20)) >>> 0;
      cidrs.push(`${v4(len === 0 ? 0 : (a & ~(2 ** (32 - len) - 1)) >>> 0)}/${len}`);
    }
    if (seed === 12) cidrs.push('::/0'); // covers all of IPv4 as well (mapped)
    if (seed === 13) cidrs.push('::ffff:0:0/97', '2001:db8::/32', '::/8');
    if (seed === 14) cidrs.length = 0;
    cidrs.push('2001:db8:ff::/48');
    const own = buildOwnNetworks(cidrs);
    const nets = cidrs.map((c) => {
      const [a, l] = c.split('/');
      const v6 = a.includes(':');
      const len = Number(l) + (v6 ? 0 : 96);
      return { base: mask(big(parseAddr(a) as Uint32Array), len), len };
    });
    const isOwn = (x: bigint) => nets.some((n) => mask(x, n.len) === n.base);
    const probes: bigint[] = [];
    for (const n of nets) {
      const last = n.base | ((1n << BigInt(128 - n.len)) - 1n);
      for (const x of [n.base, n.base - 1n, last, last + 1n]) if (x >= 0n && x <= MAX) probes.push(x);
    }
    for (let i = 0; i < 2000; i++) {
      const w = (bases[int(bases.length)] + int(1 << 22)) >>> 0;
      probes.push((0xffffn << 32n) | BigInt(w));
      probes.push((0xffffn << 32n) | BigInt(int(2 ** 32)));
    }
    probes.push((0x20010db8n << 96n) | 5n, 0n, MAX);
    const b = new FlowBatch(probes.length);
    for (let r = 0; r < probes.length; r++) {
      b.addRow();
      (b.data[C.src_addr] as Uint32Array).set(words(probes[r]), r * 4);
      (b.data[C.dst_addr] as Uint32Array).set(words(probes[(r * 7919) % probes.length]), r * 4);
      b.valid[C.src_addr][r] = 1;
      b.valid[C.dst_addr][r] = 1;
    }
    applyDirection(own, b);
    for (let r = 0; r < probes.length; r++) {
      const s = isOwn(probes[r]);
      const d = isOwn(probes[(r * 7919) % probes.length]);
      const want = s ? (d ? 'internal' : 'egress') : d ? 'ingress' : 'external';
      if (own.table.entries.length === 0) {
        assert.equal(b.valid[C.direction][r], 0);
        continue;
      }
      assert.equal(DIRECTIONS[(b.data[C.direction] as Uint8Array)[r]], want, `seed ${seed} row ${r}`);
    }
  }
});
