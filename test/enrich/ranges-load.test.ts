// The one-pass CSV reader of loadRangeTable (prefixes scanned from the text, labels looked up by the
// rest of the line) against the line-by-line reader parseRanges keeps (split, parseCidr, one entry
// object per line): same entries in the same order, same errors and warnings, over lines mixing
// every form the scanner takes with the ones it hands back (quotes, blanks, leading zeros, embedded
// IPv4, CRLF, comments, host bits, bad prefixes, a header that reorders columns).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRangeTable, loadRangeTable, parseRanges } from '../../src/enrich/ranges/ranges.js';
import { rng } from '../helpers/rng.js';

function randomCsv(seed: number, lines: number): string {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const hex = () => int(65536).toString(16);
  const out: string[] = [];
  if (int(2) === 0) out.push(pick(['cidr,name,segment,tags', 'CIDR, tags ,name', 'cidr,segment']));
  for (let i = 0; i < lines; i++) {
    const prefix = pick([
      () => `${int(256)}.${int(256)}.${int(256)}.${int(256)}/${int(33)}`,
      () => `${int(256)}.${int(256)}.${int(256)}.0/24`,
      () => `${int(256)}.${int(256)}.0.0`,
      () => `0${int(10)}.1.2.3/8`,
      () => `10.${int(300)}.0.0/16`,
      () => `10.0.0.0/${int(40)}`,
      () => `2001:db8:${hex()}::/${int(130)}`,
      () => `${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}`,
      () => `::${hex()}/${int(129)}`,
      () => `::ffff:10.${int(256)}.0.0/120`,
      () => `fe80::${hex()}:${hex()}/64`,
      () => `1:2:3:4:5:6:7::/112`,
      () => '1::2::3/64',
      () => `${hex()}${hex()}1::/32`,
      () => ' 192.0.2.0/24 ',
      () => '"198.51.100.0/24"',
      () => 'not-a-cidr',
      () => '',
      () => '10.0.0.0/08',
      () => '10.0.0.0 /8',
    ])();
    const name = pick(['svc-a', 'svc-b', '"quoted, name"', ' spaced ', '', 'ünï']);
    const rest = pick([
      `,${name},seg-${int(3)},${pick(['prod', 'a;b', '"x,y"', '', 'internal'])}`,
      `,${name}`,
      '',
      `,${name},,prod,extra`,
    ]);
    out.push(
      pick([`${prefix}${rest}`, `${prefix}${rest}`, `${prefix}${rest}`, '# comment', '   ', `${prefix}${rest}\r`]),
    );
  }
  return out.join(pick(['\n', '\r\n']));
}

test('loadRangeTable reads CSV as parseRanges does: entries, errors, warnings', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const text = randomCsv(seed, 300);
    const fast = loadRangeTable([{ file: 'r.csv', text }]);
    const exact = parseRanges('r.csv', text);
    const table = buildRangeTable(exact.entries);
    assert.equal(fast.table.size, table.size, `seed ${seed}`);
    assert.deepEqual(fast.table.allEntries(), table.allEntries(), `seed ${seed}`);
    assert.deepEqual(
      fast.errors.map((e) => e.message),
      exact.errors.map((e) => e.message),
      `seed ${seed}`,
    );
    assert.deepEqual(fast.warnings, [...exact.warnings, ...table.warnings], `seed ${seed}`);
    for (const a of ['10.1.2.3', '2001:db8::1', '192.0.2.9', '198.51.100.1']) {
      assert.deepEqual(fast.table.lookup(a), table.lookup(a), `seed ${seed} ${a}`);
    }
  }
});

test('duplicate prefixes: the first hundred reported, the rest counted', () => {
  const lines = ['cidr,name'];
  for (let i = 0; i < 250; i++) lines.push(`10.${i}.0.0/16,first`, `10.${i}.0.0/16,second`);
  const r = loadRangeTable([{ file: 'd.csv', text: lines.join('\n') }]);
  assert.equal(r.table.size, 500);
  assert.equal(r.warnings.length, 101);
  assert.equal(r.warnings[0], 'd.csv:3: 10.0.0.0/16 also defined at d.csv:2; the later one (second) wins');
  assert.equal(r.warnings[100], '150 more prefixes defined more than once');
  assert.equal(r.table.lookup('10.7.1.1')?.name, 'second');
});
