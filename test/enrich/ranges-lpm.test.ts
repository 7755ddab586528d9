// Longest-prefix match against the definition: a linear scan over every added prefix, comparing
// 128-bit integers (BigInt), most specific wins, the last added wins among equal prefixes.
// fast-check draws nested and overlapping prefixes around a few base addresses so that nesting,
// adjacency and duplicates are common, and probes each prefix's first and last address and their
// neighbours — where an interval table goes wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PrefixTableBuilder, parseCidr } from '../../src/enrich/ranges/lpm.js';
import { Starts6 } from '../../src/enrich/ranges/starts6.js';
import { parseAddr } from '../../src/pipeline/flow-batch.js';

interface P {
  v4: boolean;
  base: bigint; // 128-bit network address, masked
  len: number; // 128-bit prefix length
}

const V4_SPACE = 0xffffn << 32n;
const MAX = (1n << 128n) - 1n;

function mask(x: bigint, len: number): bigint {
  return len === 0 ? 0n : x & (MAX ^ ((1n << BigInt(128 - len)) - 1n));
}

function words(x: bigint): Uint32Array {
  return Uint32Array.from([
    Number(x >> 96n),
    Number((x >> 64n) & 0xffffffffn),
    Number((x >> 32n) & 0xffffffffn),
    Number(x & 0xffffffffn),
  ]);
}

function naive(ps: P[], addr: bigint): number {
  let best = -1;
  for (let i = 0; i < ps.length; i++) {
    if (mask(addr, ps[i].len) !== ps[i].base) continue;
    if (best < 0 || ps[i].len >= ps[best].len) best = i;
  }
  return best;
}

const BASES_V4 = [0x0a000000n, 0x0a010200n, 0xc0a80000n, 0xc0a801ffn, 0xffffffffn, 0xfffffffen, 0n, 0x64400000n];
const BASES_V6 = [MAX - 1n, 0x20010db8n << 96n, (0x20010db8n << 96n) | (1n << 64n), 0xfe80n << 112n, MAX, 0n, V4_SPACE];

const prefixArb: fc.Arbitrary<P> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...BASES_V4),
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
        fc.integer({ min: 0, max: 32 }),
      )
      .map(([b, jitter, l]) => ({
        v4: true,
        base: mask(V4_SPACE | ((b + BigInt(jitter) * 7n) & 0xffffffffn), l + 96),
        len: l + 96,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...BASES_V6),
        fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }),
        fc.integer({ min: 0, max: 128 }),
      )
      .map(([b, jitter, l]) => ({ v4: false, base: mask((b + (jitter << 40n)) & MAX, l), len: l })),
  },
);

function probes(ps: P[], extra: bigint[]): bigint[] {
  const out = [...extra];
  for (const p of ps) {
    const last = p.base + (1n << BigInt(128 - p.len)) - 1n;
    out.push(p.base, last);
    if (p.base > 0n) out.push(p.base - 1n);
    if (last < MAX) out.push(last + 1n);
  }
  return out;
}

test('LPM equals a linear scan of every prefix (v4 and v6, nested, adjacent, duplicate)', () => {
  fc.assert(
    fc.property(
      fc.array(prefixArb, { maxLength: 60 }),
      fc.array(fc.bigInt({ min: 0n, max: MAX }), { maxLength: 10 }),
      (ps, rand) => {
        const b = new PrefixTableBuilder<number>();
        for (let i = 0; i < ps.length; i++) b.add(words(ps[i].base), ps[i].len, i);
        const t = b.build();
        for (const a of probes(ps, [...rand, ...rand.map((r) => V4_SPACE | (r & 0xffffffffn))])) {
          const got = t.lookupWords(words(a), 0);
          assert.equal(got, naive(ps, a), `address ${a.toString(16)}`);
        }
      },
    ),
    { numRuns: 300, seed: 20240611 },
  );
});

test('text API: CIDR and address text, IPv4 more specific than ::/0, duplicates reported', () => {
  const b = new PrefixTableBuilder<string>();
  b.add('::/0', undefined, 'all');
  b.add('10.0.0.0/8', undefined, 'ten');
  b.add('10.1.2.3', 24, 'ten-one-two'); // host bits cleared → 10.1.2.0/24
  b.add('2001:db8::/32', undefined, 'doc');
  b.add('10.0.0.0', 8, 'ten-again');
  const t = b.build();
  assert.equal(t.entries[t.lookupText('10.1.2.200')], 'ten-one-two');
  assert.equal(t.entries[t.lookupText('10.9.9.9')], 'ten-again');
  assert.equal(t.entries[t.lookupText('11.0.0.1')], 'all');
  assert.equal(t.entries[t.lookupText('2001:db8:ffff::1')], 'doc');
  assert.equal(t.entries[t.lookupText('2001:db9::1')], 'all');
  assert.equal(t.lookupText('not an address'), -1);
  assert.deepEqual(t.duplicates, [{ cidr: '10.0.0.0/8', previous: 1, winner: 4 }]);
  assert.equal(t.cidrOf(2), '10.1.2.0/24');
  assert.deepEqual(
    t.allMatches(parseAddr('10.1.2.7') as Uint32Array, 0).map((i) => t.entries[i]),
    ['ten-one-two', 'ten-again', 'ten', 'all'],
  );
  const empty = new PrefixTableBuilder<string>().build();
  assert.equal(empty.lookupText('1.2.3.4'), -1);
  assert.equal(empty.lookupText('::1'), -1);
});

test('bad prefixes are refused with a reason', () => {
  for (const bad of [
    '10.0.0.0/33',
    '2001:db8::/129',
    '10.0.0/8',
    '300.1.1.1/8',
    '10.0.0.0/-1',
    '10.0.0.0/ 8',
    'fe80::1%eth0/64',
    '',
  ]) {
    const r = parseCidr(bad);
    assert.equal(typeof r, 'string', bad);
    assert.throws(() => new PrefixTableBuilder<number>().add(bad, undefined, 0), RangeError);
  }
  assert.throws(() => new PrefixTableBuilder<number>().add(new Uint32Array(4), 129, 0), RangeError);
  const ok = parseCidr('192.0.2.77/24');
  assert.ok(typeof ok !== 'string' && ok.hostBits && ok.len128 === 120 && ok.words[3] === 0xc0000200);
});

// The last start <= p by a linear scan (-1 when none).
function lastAtOrBelow(pts: readonly number[][], p: readonly number[]): number {
  let want = -1;
  for (let i = 0; i < pts.length; i++) if (cmp6(pts[i], p) <= 0) want = i;
  return want;
}

function cmp6(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

test('the IPv6 start directory finds what a linear scan finds (ties in the first words, repeats)', () => {
  const word = fc.oneof(fc.constantFrom(0, 1, 0x20010db8, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
  const addr = fc.tuple(word, fc.constantFrom(0, 5, 0xffffffff), word, fc.constantFrom(0, 7, 0xffffffff));
  fc.assert(
    fc.property(fc.array(addr, { maxLength: 200 }), fc.array(addr, { minLength: 1, maxLength: 20 }), (raw, probes) => {
      const pts = raw.sort(cmp6);
      const dir = new Starts6(Uint32Array.from(pts.flat()));
      for (const p of [...probes, ...pts]) assert.equal(dir.find(Uint32Array.from(p), 0), lastAtOrBelow(pts, p));
    }),
    { numRuns: 300 },
  );
});

test('the IPv6 start directory on clustered starts (nested directories, prefixes shared past word edges)', () => {
  // clusters under a few /16 … /100 prefixes, so that directories nest and shared prefixes end
  // inside words and at word edges; probes near and between the starts
  const cluster = fc.record({
    base: fc.tuple(
      fc.constantFrom(0x20010db8, 0x2a000000, 0x2a0a1234),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
    keep: fc.integer({ min: 16, max: 120 }),
    count: fc.integer({ min: 1, max: 400 }),
  });
  fc.assert(
    fc.property(fc.array(cluster, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 2 ** 31 }), (cs, seed) => {
      let x = seed;
      const rnd = () => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return x;
      };
      const pts: number[][] = [];
      for (const c of cs) {
        for (let i = 0; i < c.count; i++) {
          const p = [...c.base];
          for (let k = 0; k < 4; k++) {
            const fixed = c.keep - k * 32;
            if (fixed >= 32) continue;
            const mask = fixed <= 0 ? 0 : (-1 << (32 - fixed)) >>> 0;
            p[k] = ((p[k] & mask) | (rnd() & ~mask)) >>> 0;
          }
          pts.push(p);
        }
      }
      pts.sort(cmp6);
      const dir = new Starts6(Uint32Array.from(pts.flat()));
      const probes: number[][] = [
        [0, 0, 0, 0],
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      ];
      for (const p of pts) {
        probes.push(p, [p[0], p[1], p[2], (p[3] + 1) >>> 0], [p[0], p[1], p[2], (p[3] - 1) >>> 0]);
        probes.push([p[0], (p[1] ^ 0x8000) >>> 0, p[2], p[3]], [(p[0] + 1) >>> 0, 0, 0, 0]);
      }
      for (const p of probes) assert.equal(dir.find(Uint32Array.from(p), 0), lastAtOrBelow(pts, p));
    }),
    { numRuns: 60 },
  );
});
