// Geography/ASN enrichment against the ip-location-db CSV files themselves, read here with a
// separate, simple parser (split lines, a regular expression, BigInt bounds): for a sample of rows,
// the first, middle and last address of each range must give the row's country / AS / organisation,
// through both describe() and applyGeo() on a FlowBatch.
//
// Overlapping rows: the README of the datasets says sources are merged "GeoFeed > Whois > ASN" and the
// more specific row is listed after the row containing it, so a row is expected to answer for its
// addresses when no later row starts inside it ("clean" rows below).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { applyGeo, describe as describeAddr, type GeoTable, loadGeoDb } from '../../src/enrich/geo/index.js';
import { EnrichSourceError } from '../../src/enrich/source-error.js';
import { FlowBatch, type StringDict } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';

const req = createRequire(import.meta.url);
const COUNTRY_DIR = dirname(req.resolve('@ip-location-db/geo-whois-asn-country/package.json'));
const ASN_DIR = dirname(req.resolve('@ip-location-db/asn/package.json'));

interface Row {
  start: bigint;
  end: bigint;
  value: string;
  asn?: number;
  line: number;
}

function readRows(path: string, withOrg: boolean): Row[] {
  const rows: Row[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l === '') continue;
    const m = withOrg ? /^(\d+),(\d+),(\d+),(.*)$/.exec(l) : /^(\d+),(\d+),([A-Z]{2})$/.exec(l);
    assert.ok(m, `${path}:${i + 1} does not look like a row: ${l}`);
    let value = withOrg ? m[4] : m[3];
    if (withOrg && value.startsWith('"')) value = value.slice(1, -1).replaceAll('""', '"');
    rows.push({
      start: BigInt(m[1]),
      end: BigInt(m[2]),
      value,
      asn: withOrg ? Number(m[3]) : undefined,
      line: i + 1,
    });
  }
  return rows;
}

/** Rows no later row starts inside (rows are sorted by start). */
function cleanRows(rows: Row[]): Row[] {
  return rows.filter((r, i) => i + 1 === rows.length || rows[i + 1].start > r.end);
}

function sample<T>(xs: T[], n: number): T[] {
  const step = Math.max(1, Math.floor(xs.length / n));
  return xs.filter((_, i) => i % step === 0);
}

// Non-global blocks (RFC 6890 and the IANA special-purpose registries), written out here on their own.
const SPECIAL4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/3',
];

function inSpecial4(v: bigint): boolean {
  return SPECIAL4.some((c) => {
    const [a, len] = c.split('/');
    const base = a.split('.').reduce((x, o) => x * 256n + BigInt(o), 0n);
    const size = 1n << BigInt(32 - Number(len));
    return v >= base && v < base + size;
  });
}

function inSpecial6(v: bigint): boolean {
  const top = v >> 96n;
  if (top >> 29n !== 1n) return true; // outside 2000::/3
  if (top >> 9n === 0x20010000n >> 9n) return true; // 2001::/23
  return top === 0x20010db8n; // 2001:db8::/32
}

function text4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}
function text6(v: bigint): string {
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return g.join(':');
}

function setAddr(b: FlowBatch, col: number, row: number, v: bigint, v6: boolean): void {
  const a = b.data[col] as Uint32Array;
  const full = v6 ? v : (0xffffn << 32n) | v;
  for (let i = 0; i < 4; i++) a[row * 4 + i] = Number((full >> BigInt(96 - 32 * i)) & 0xffffffffn);
  b.valid[col][row] = 1;
}

/** Addresses to probe for a row: first, middle, last. */
function probes(r: Row): bigint[] {
  return [r.start, (r.start + r.end) / 2n, r.end];
}

let table: GeoTable;
const files = {
  c4: join(COUNTRY_DIR, 'geo-whois-asn-country-ipv4-num.csv'),
  c6: join(COUNTRY_DIR, 'geo-whois-asn-country-ipv6-num.csv'),
  a4: join(ASN_DIR, 'asn-ipv4-num.csv'),
  a6: join(ASN_DIR, 'asn-ipv6-num.csv'),
};
const rows: Record<keyof typeof files, Row[]> = { c4: [], c6: [], a4: [], a6: [] };

before(async () => {
  table = await loadGeoDb();
  rows.c4 = readRows(files.c4, false);
  rows.c6 = readRows(files.c6, false);
  rows.a4 = readRows(files.a4, true);
  rows.a6 = readRows(files.a6, true);
});

function check(key: keyof typeof files, n: number, pick?: (r: Row) => boolean): number {
  const v6 = key.endsWith('6');
  const isAsn = key.startsWith('a');
  let chosen = sample(cleanRows(rows[key]), n);
  if (pick) chosen = cleanRows(rows[key]).filter(pick).slice(0, n);
  chosen = chosen.filter(
    (r) => !(v6 ? inSpecial6(r.start) || inSpecial6(r.end) : inSpecial4(r.start) || inSpecial4(r.end)),
  );
  const b = new FlowBatch(8192);
  let checked = 0;
  // Every other batch already holds a country and an AS name of its own (as when a cloud log
  // wrote them): applyGeo then codes names into the batch's dictionaries instead of sharing the
  // table's lists. Both ways must store the same names.
  let batches = 0;
  const own = () => {
    if (batches % 2 === 0) return;
    (b.strings[C.dst_country] as StringDict).code('ZZ');
    (b.strings[C.dst_as_name] as StringDict).code('an organisation of the source');
  };
  own();
  const flush = (batchRows: Row[]) => {
    applyGeo(table, b);
    const shared = batches % 2 === 0;
    assert.equal(b.strings[isAsn ? C.dst_as_name : C.dst_country]?.shared, shared, `batch ${batches} shared`);
    for (let i = 0; i < b.length; i++) {
      const r = batchRows[Math.floor(i / 3)];
      const where = `${files[key]}:${r.line} (${b.getAddr(C.dst_addr, i)})`;
      if (isAsn) {
        assert.equal(b.getNum(C.dst_asn, i), r.asn, where);
        assert.equal(b.getString(C.dst_as_name, i), r.value, where);
      } else assert.equal(b.getString(C.dst_country, i), r.value, where);
    }
    b.reset();
    batches++;
    own();
  };
  let batchRows: Row[] = [];
  for (const r of chosen) {
    for (const a of probes(r)) {
      const hits = describeAddr(table, v6 ? text6(a) : text4(a));
      const where = `${files[key]}:${r.line} (${v6 ? text6(a) : text4(a)})`;
      if (isAsn) {
        const h = hits.find((x) => x.kind === 'asn');
        assert.equal(h?.fields.asn, r.asn, where);
        assert.equal(h?.fields.as_name, r.value, where);
        assert.match(h?.origin ?? '', /^@ip-location-db\/asn@\d/);
      } else {
        const h = hits.find((x) => x.kind === 'geo');
        assert.equal(h?.fields.country, r.value, where);
        assert.match(h?.origin ?? '', /^@ip-location-db\/geo-whois-asn-country@\d/);
      }
      setAddr(b, C.dst_addr, b.addRow(), a, v6);
      checked++;
    }
    batchRows.push(r);
    if (b.length + 3 > b.capacity) {
      flush(batchRows);
      batchRows = [];
    }
  }
  flush(batchRows);
  return checked;
}

describe('geo table from ip-location-db CSV', () => {
  it('IPv4 country rows: first, middle and last address give the row country', () => {
    assert.ok(check('c4', 3000) > 8000);
  });
  it('IPv6 country rows, including ranges that split below a /64', () => {
    assert.ok(check('c6', 2000) > 5000);
    const sub64 = (r: Row) =>
      (r.start & 0xffffffffffffffffn) !== 0n || (r.end & 0xffffffffffffffffn) !== 0xffffffffffffffffn;
    assert.ok(check('c6', 500, sub64) > 1000);
  });
  it('IPv4 ASN rows: AS number and organisation (quoted names with commas and "" escapes)', () => {
    assert.ok(check('a4', 3000) > 8000);
    assert.ok(check('a4', 300, (r) => r.value.includes('"')) > 300);
  });
  it('IPv6 ASN rows', () => {
    assert.ok(check('a6', 2000) > 5000);
  });
  it('nested rows: the more specific row, listed after its container, wins', () => {
    const nested = rows.c4.filter((r, i) => i > 0 && r.start <= rows.c4[i - 1].end && r.end <= rows.c4[i - 1].end);
    assert.ok(nested.length > 100);
    const clean = new Set(cleanRows(rows.c4));
    for (const r of nested.filter((x) => clean.has(x)).slice(0, 200)) {
      const h = describeAddr(table, text4(r.start)).find((x) => x.kind === 'geo');
      assert.equal(h?.fields.country, r.value, `${files.c4}:${r.line}`);
    }
  });

  it('well-known addresses agree with the CSV rows that contain them', () => {
    const rowOf = (list: Row[], v: bigint) => {
      let hit: Row | undefined;
      for (const r of list) if (r.start <= v && v <= r.end) hit = r; // last containing row wins
      return hit;
    };
    const cases: [string, bigint, boolean, number][] = [
      ['8.8.8.8', 0x08080808n, false, 15169],
      ['1.1.1.1', 0x01010101n, false, 13335],
      ['2001:4860:4860::8888', 0x20014860486000000000000000008888n, true, 15169],
    ];
    for (const [addr, v, v6, expectAs] of cases) {
      const a = rowOf(v6 ? rows.a6 : rows.a4, v);
      const c = rowOf(v6 ? rows.c6 : rows.c4, v);
      assert.ok(a && c, addr);
      // What the world knows about these addresses, checked against the data first…
      assert.equal(a.asn, expectAs, `${addr}: the CSV row itself`);
      // …then what the table answers, against the data.
      const hits = describeAddr(table, addr);
      assert.deepEqual(
        hits.map((h) => h.fields),
        [{ country: c.value }, { asn: a.asn, as_name: a.value }],
        addr,
      );
    }
  });

  it('private, reserved, loopback, link-local, documentation and multicast addresses get nothing', () => {
    const addrs = [
      '10.1.2.3',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.1.1',
      '127.0.0.1',
      '169.254.10.10',
      '192.0.2.55',
      '198.51.100.1',
      '203.0.113.9',
      '224.0.0.251',
      '255.255.255.255',
      '0.0.0.0',
      'fe80::1',
      'fd12:3456::1',
      '::1',
      'ff02::fb',
      '2001:db8::1',
    ];
    const b = new FlowBatch(64);
    for (const a of addrs) {
      assert.deepEqual(describeAddr(table, a), [], a);
      const r = b.addRow();
      setAddr(b, C.src_addr, r, 0n, false);
      const w = b.data[C.src_addr] as Uint32Array;
      const parsed = a.includes(':') ? a : `::ffff:${a}`;
      const words = parsedWords(parsed);
      w.set(words, r * 4);
    }
    applyGeo(table, b);
    for (let r = 0; r < b.length; r++) {
      for (const col of [C.src_country, C.src_asn, C.src_as_name, C.dst_country, C.dst_asn]) {
        assert.equal(b.isNull(col, r), true, `${addrs[r]} ${b.columns[col].name}`);
      }
    }
    // Neighbours of the blocks are public and do get answers.
    for (const a of ['172.32.0.1', '100.128.0.1', '11.0.0.1']) {
      assert.notDeepEqual(describeAddr(table, a), [], a);
    }
  });

  it('what a source filled wins: exporter ASN and country kept, AS 0 replaced, exporter ASN named', () => {
    const b = new FlowBatch(8);
    const google = rows.a4.find((r) => r.asn === 15169);
    const one = rows.a4.find((r) => r.start <= 0x01010101n && 0x01010101n <= r.end);
    assert.ok(google && one);
    // row 0: router says AS 15169 for 1.1.1.1 (another AS in the data): kept, named from the data
    let r = b.addRow();
    setAddr(b, C.src_addr, r, 0x01010101n, false);
    b.setNum(C.src_asn, r, 15169);
    // row 1: router exported AS 0 (no BGP): replaced
    r = b.addRow();
    setAddr(b, C.src_addr, r, 0x01010101n, false);
    b.setNum(C.src_asn, r, 0);
    // row 2: a cloud log wrote its own country: kept
    r = b.addRow();
    setAddr(b, C.src_addr, r, 0x01010101n, false);
    b.setString(C.src_country, r, 'ZZ');
    applyGeo(table, b);
    assert.equal(b.getNum(C.src_asn, 0), 15169);
    assert.equal(b.getString(C.src_as_name, 0), google.value);
    assert.equal(b.getNum(C.src_asn, 1), one.asn);
    assert.equal(b.getString(C.src_as_name, 1), one.value);
    assert.equal(b.getString(C.src_country, 2), 'ZZ');
    assert.equal(b.getNum(C.src_asn, 2), one.asn);
  });
});

function parsedWords(text: string): Uint32Array {
  const b = new FlowBatch(1);
  const r = b.addRow();
  const m = /^::ffff:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (m) b.setIPv4(C.src_addr, r, ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0);
  else {
    // expand '::' by hand (independent of parseAddr)
    const [h, t = ''] = text.split('::');
    const hp = h ? h.split(':') : [];
    const tp = t ? t.split(':') : [];
    const groups = [...hp, ...Array(8 - hp.length - tp.length).fill('0'), ...tp].map((g) => Number.parseInt(g, 16));
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[i * 2] = g >> 8;
      bytes[i * 2 + 1] = g & 255;
    });
    b.setIPv6(C.src_addr, r, bytes, 0);
  }
  return (b.data[C.src_addr] as Uint32Array).slice(0, 4);
}

describe('geo loading errors', () => {
  it('a dataset directory without its files fails the load with the missing path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geo-'));
    writeFileSync(
      join(dir, 'geo-whois-asn-country-ipv4-num.csv'),
      '16777216,16777471,AU\nnot,a,row\n16777472,16778239,cn\n16778240,16779263,JP\n',
    );
    writeFileSync(
      join(dir, 'geo-whois-asn-country-ipv6-num.csv'),
      '42540488320432167789079031612388147200,42540488320433376714898646241562853375,JP\n',
    );
    const t = await loadGeoDb({ countryDir: dir, asnDir: `${dir}-none` }).catch((e: unknown) => e);
    // The ASN directory is missing: a file that cannot be read fails the load with its path.
    assert.ok(t instanceof EnrichSourceError);
    // Both files are read at once: whichever fails first is named.
    assert.match(t.message, /\/asn-ipv[46]-num\.csv: cannot read/);
  });
  it('lines that do not parse are counted with file:line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geo-'));
    writeFileSync(
      join(dir, 'geo-whois-asn-country-ipv4-num.csv'),
      '16777216,16777471,AU\nnot,a,row\n16777472,16778239,cn\n16778240,16779263,JP\n',
    );
    writeFileSync(
      join(dir, 'geo-whois-asn-country-ipv6-num.csv'),
      '42540488320432167789079031612388147200,42540488320433376714898646241562853375,JP\n',
    );
    writeFileSync(
      join(dir, 'asn-ipv4-num.csv'),
      '16777216,16777471,13335,"Cloudflare, Inc."\n16777472,16778239,x,Bad\n',
    );
    writeFileSync(
      join(dir, 'asn-ipv6-num.csv'),
      '1,2\n42540488320432167789079031612388147200,42540488320433376714898646241562853375,2500,WIDE\n',
    );
    const t = await loadGeoDb({ countryDir: dir, asnDir: dir });
    assert.equal(t.skipped, 4);
    assert.ok(
      t.problems.some((p) =>
        p.endsWith('geo-whois-asn-country-ipv4-num.csv:2: range bound is not a decimal number below 2^128'),
      ),
    );
    assert.ok(t.problems.some((p) => /geo-whois-asn-country-ipv4-num\.csv:3: country code/.test(p)));
    assert.ok(t.problems.some((p) => /asn-ipv4-num\.csv:2: AS number/.test(p)));
    assert.ok(t.problems.some((p) => /asn-ipv6-num\.csv:1: expected/.test(p)));
    assert.deepEqual(
      describeAddr(t, '1.0.0.1').map((h) => h.fields),
      [{ country: 'AU' }, { asn: 13335, as_name: 'Cloudflare, Inc.' }],
    );
    assert.deepEqual(
      describeAddr(t, '1.0.4.1').map((h) => h.fields),
      [{ country: 'JP' }],
    );
    assert.deepEqual(describeAddr(t, '1.0.1.1'), []);
    assert.deepEqual(describeAddr(t, 'not an address'), []);
  });
  it("a refused organisation is not taken for the previous line's (the same-as-previous shortcut)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geo-'));
    writeFileSync(
      join(dir, 'asn-ipv4-num.csv'),
      '16777216,16777471,100,Good Org\n16777472,16777727,200,"broken\n16777728,16777983,300,"broken\n',
    );
    writeFileSync(
      join(dir, 'asn-ipv6-num.csv'),
      '42540488320432167789079031612388147200,42540488320433376714898646241562853375,2500,WIDE\n',
    );
    const t = await loadGeoDb({ asnDir: dir });
    assert.equal(t.skipped, 2, t.problems.join('\n'));
    // (the country data is the shipped one: only the AS hits are compared)
    const asOf = (a: string) =>
      describeAddr(t, a)
        .filter((h) => 'asn' in h.fields)
        .map((h) => h.fields);
    assert.deepEqual(asOf('1.0.0.1'), [{ asn: 100, as_name: 'Good Org' }]);
    assert.deepEqual(asOf('1.0.2.1'), []);
  });
});
