// IntelTable against a brute-force oracle: every indicator tested against every address with
// BigInt prefix arithmetic and plain string suffix checks — no shared code with the table's hash,
// segments or domain index.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyIndicator, type Indicator } from '../../src/enrich/intel/feeds.js';
import { applyIntel, buildIntelTable, describe } from '../../src/enrich/intel/intel.js';
import { FlowBatch, formatAddrWords, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C, columnIndex } from '../../src/schema/columns.js';
import { rng } from '../helpers/rng.js';

const TI_CONFIDENCE = columnIndex('ti_confidence');

function big(text: string): bigint {
  const w = parseAddr(text) as Uint32Array;
  return (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
}

/** Feeds whose address indicators contain `addr`, and the best confidence. */
function oracleAddr(inds: Indicator[], addr: string): { feeds: string[]; best: number } {
  const a = big(addr);
  const feeds = new Set<string>();
  let best = -1;
  for (const i of inds) {
    let net: bigint;
    let len: number;
    if (i.type === 'ip') {
      net = big(i.value);
      len = 128;
    } else if (i.type === 'cidr') {
      const [n, l] = i.value.split('/');
      net = big(n);
      len = Number(l) + (n.includes(':') ? 0 : 96);
    } else continue;
    const shift = BigInt(128 - len);
    if (a >> shift === net >> shift) {
      feeds.add(i.feed);
      best = Math.max(best, i.confidence);
    }
  }
  return { feeds: [...feeds].sort(), best };
}

function oracleName(inds: Indicator[], name: string, http: boolean): { feeds: string[]; best: number } {
  const n = name.toLowerCase().replace(/\.$/, '');
  const feeds = new Set<string>();
  let best = -1;
  for (const i of inds) {
    let hit = false;
    if (i.type === 'domain') hit = n === i.value || n.endsWith(`.${i.value}`);
    else if (i.type === 'url' && http) hit = new URL(i.value).hostname === n;
    if (hit) {
      feeds.add(i.feed);
      best = Math.max(best, i.confidence);
    }
  }
  return { feeds: [...feeds].sort(), best };
}

function randomIndicators(next: () => number, n: number): Indicator[] {
  const out: Indicator[] = [];
  const feeds = ['abuse', 'drop', 'misp', 'stix'];
  for (let k = 0; k < n; k++) {
    const x = next();
    const feed = feeds[Math.floor(next() * feeds.length)];
    const confidence = Math.floor(next() * 101);
    // a small address space (10.0.0.0/12 and 2001:db8::/120) so that prefixes nest and overlap
    const v4 = `10.${Math.floor(next() * 16)}.${Math.floor(next() * 4)}.${Math.floor(next() * 256)}`;
    let type: Indicator['type'];
    let value: string;
    if (x < 0.35) {
      type = 'ip';
      value = v4;
    } else if (x < 0.65) {
      const len = 8 + Math.floor(next() * 25);
      const w = parseAddr(v4) as Uint32Array;
      const m = len === 32 ? 0xffffffff : ~(0xffffffff >>> len);
      type = len === 32 ? 'ip' : 'cidr';
      value = len === 32 ? v4 : `${formatAddrWords(new Uint32Array([0, 0, 0xffff, (w[3] & m) >>> 0]), 0)}/${len}`;
    } else if (x < 0.75) {
      type = 'ip';
      value = `2001:db8::${Math.floor(next() * 256).toString(16)}`;
    } else if (x < 0.8) {
      const len = 120 + Math.floor(next() * 8);
      const v = Math.floor(next() * 256) & ~((1 << (128 - len)) - 1) & 0xff;
      type = 'cidr';
      value = `2001:db8::${v.toString(16)}/${len}`;
    } else if (x < 0.95) {
      type = 'domain';
      const labels = ['a', 'b', 'evil', 'c2'];
      const depth = 1 + Math.floor(next() * 3);
      const parts = ['test'];
      for (let d = 0; d < depth; d++) parts.unshift(labels[Math.floor(next() * labels.length)]);
      value = parts.join('.');
    } else {
      type = 'url';
      value = `http://${['evil', 'b'][Math.floor(next() * 2)]}.test/p${k}`;
    }
    // the table reports indicators normalised (2001:db8::0/120 → 2001:db8::/120), as the parsers give them
    value = (classifyIndicator(value) as { value: string }).value;
    out.push({ type, value, feed, confidence, source: `gen:${k + 1}` });
  }
  return out;
}

test('addresses and names match exactly what a brute-force scan of the indicators says', () => {
  for (const seed of [1, 2, 3]) {
    const next = rng(seed);
    const inds = randomIndicators(next, 400);
    const table = buildIntelTable(inds);
    assert.equal(table.skipped, 0);
    const batch = new FlowBatch(2048);
    const expected: { feeds: string[]; best: number }[] = [];
    const names = ['evil.test', 'a.evil.test', 'x.a.b.evil.test', 'notevil.test', 'C2.B.TEST.', 'b.test', 'test'];
    while (!batch.full) {
      const r = batch.addRow();
      const src =
        next() < 0.8
          ? `10.${Math.floor(next() * 17)}.${Math.floor(next() * 5)}.${Math.floor(next() * 256)}`
          : `2001:db8::${Math.floor(next() * 300).toString(16)}`;
      const dst = `192.0.2.${Math.floor(next() * 256)}`;
      const sw = parseAddr(src) as Uint32Array;
      if (src.includes(':')) {
        const bytes = new Uint8Array(16);
        for (let i = 0; i < 16; i++) bytes[i] = (sw[i >> 2] >>> (24 - 8 * (i & 3))) & 255;
        batch.setIPv6(C.src_addr, r, bytes, 0);
      } else batch.setIPv4(C.src_addr, r, sw[3]);
      batch.setIPv4(C.dst_addr, r, (parseAddr(dst) as Uint32Array)[3]);
      const q = next() < 0.3 ? names[Math.floor(next() * names.length)] : '';
      const h = next() < 0.2 ? names[Math.floor(next() * names.length)] : '';
      if (q) batch.setString(C.dns_qname, r, q);
      if (h) batch.setString(C.http_host, r, h);
      const parts = [oracleAddr(inds, src), oracleAddr(inds, dst)];
      if (q) parts.push(oracleName(inds, q, false));
      if (h) parts.push(oracleName(inds, h, true));
      expected.push({
        feeds: [...new Set(parts.flatMap((p) => p.feeds))].sort(),
        best: Math.max(...parts.map((p) => p.best)),
      });
    }
    const matched = applyIntel(table, batch);
    assert.equal(matched, expected.filter((e) => e.feeds.length > 0).length);
    for (let r = 0; r < batch.length; r++) {
      const e = expected[r];
      if (e.feeds.length === 0) {
        assert.equal(batch.valid[C.ti_feeds][r], 0, `row ${r} (${batch.getAddr(C.src_addr, r)})`);
        continue;
      }
      const got = [...batch.getList(C.ti_feeds, r)].sort();
      assert.deepEqual(got, e.feeds, `seed ${seed} row ${r} src ${batch.getAddr(C.src_addr, r)}`);
      assert.equal(batch.getNum(TI_CONFIDENCE, r), e.best, `seed ${seed} row ${r}`);
      // the indicator named is one with that confidence that applies to the row
      const ind = batch.getString(C.ti_indicator, r) as string;
      assert.ok(
        inds.some((i) => i.confidence === e.best && i.value === ind),
        ind,
      );
    }
  }
});

test('CIDR edges: /0, /32, adjacent and nested prefixes, the last address, IPv4 vs IPv6', () => {
  const inds: Indicator[] = [
    { type: 'cidr', value: '0.0.0.0/1', feed: 'low', confidence: 10, source: 'a:1' },
    { type: 'cidr', value: '255.255.255.0/24', feed: 'top', confidence: 20, source: 'a:2' },
    { type: 'cidr', value: '192.0.2.0/25', feed: 'x', confidence: 30, source: 'a:3' },
    { type: 'cidr', value: '192.0.2.128/25', feed: 'y', confidence: 40, source: 'a:4' },
    { type: 'cidr', value: '192.0.2.0/24', feed: 'z', confidence: 35, source: 'a:5' },
    { type: 'ip', value: '192.0.2.127', feed: 'h', confidence: 5, source: 'a:6' },
    { type: 'cidr', value: '2001:db8::/32', feed: 'v6', confidence: 60, source: 'a:7' },
  ];
  const t = buildIntelTable(inds);
  const feedsOf = (a: string) =>
    describe(t, a)
      .flatMap((h) => h.fields.ti_feeds as string[])
      .sort();
  assert.deepEqual(feedsOf('0.0.0.0'), ['low']);
  assert.deepEqual(feedsOf('127.255.255.255'), ['low']);
  assert.deepEqual(feedsOf('128.0.0.0'), []);
  assert.deepEqual(feedsOf('255.255.255.255'), ['top']);
  assert.deepEqual(feedsOf('255.255.254.255'), []);
  assert.deepEqual(feedsOf('192.0.2.127'), ['h', 'x', 'z']);
  assert.deepEqual(feedsOf('192.0.2.128'), ['y', 'z']);
  assert.deepEqual(feedsOf('192.0.3.0'), []);
  assert.deepEqual(feedsOf('2001:db8:ffff::1'), ['v6']);
  assert.deepEqual(feedsOf('::ffff:192.0.2.1'), ['x', 'z'], 'IPv4-mapped is IPv4');
  assert.deepEqual(feedsOf('2001:db9::'), []);
  assert.deepEqual(feedsOf('192.0.2.0/26'), ['x', 'z']);
  assert.deepEqual(feedsOf('192.0.2.0/24'), ['z']);
  const best = describe(t, '192.0.2.130')[0];
  assert.deepEqual(best, {
    kind: 'intel',
    origin: 'a:4',
    fields: { ti_feeds: ['y'], ti_indicator: '192.0.2.128/25', ti_confidence: 40 },
  });
});

test('domain suffixes: case, trailing dot, label boundary; URL hosts only on http_host', () => {
  const t = buildIntelTable([
    { type: 'domain', value: 'evil.com', feed: 'd', confidence: 50, source: 'd:1' },
    { type: 'url', value: 'https://cdn.good.org/malware.js', feed: 'u', confidence: 70, source: 'u:1' },
  ]);
  const b = new FlowBatch(8);
  const rows: [number, string, string][] = [
    [C.dns_qname, 'A.B.EVIL.COM.', 'd'],
    [C.dns_qname, 'notevil.com', ''],
    [C.tls_sni, 'evil.com', 'd'],
    [C.tls_sni, 'evil.com.au', ''],
    [C.http_host, 'cdn.good.org:8443', 'u'],
    [C.tls_sni, 'cdn.good.org', ''],
    [C.http_host, 'x.cdn.good.org', ''],
  ];
  for (const [col, v] of rows) b.setString(col, b.addRow(), v);
  assert.equal(applyIntel(t, b), 3);
  rows.forEach(([, v, feed], r) => {
    assert.deepEqual(b.getList(C.ti_feeds, r), feed ? [feed] : [], v);
  });
  assert.equal(b.getString(C.ti_indicator, 4), 'https://cdn.good.org/malware.js');
  assert.equal(describe(t, 'http://cdn.good.org/other').length, 1);
});
