// Row semantics of the compiled predicate on hand-built flows: null handling, either-side
// keywords, address families, lists, globs; and the same answers from DuckDB for the same rows.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { compilePredicate, compileSql } from '../../src/filter/index.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { flowsTableDDL } from '../../src/schema/duckdb.js';

interface Flow {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  sni?: string;
  tags?: string[];
  ti?: string[];
  host?: string;
}

const FLOWS: Flow[] = [
  /* 0 */ { src: '10.0.0.5', dst: '192.0.2.1', sport: 40000, dport: 22, proto: 6, tags: ['web'] },
  /* 1 */ { src: '192.0.2.1', dst: '10.9.9.9', sport: 22, dport: 40001, proto: 6, ti: ['feodo'] },
  /* 2 */ { src: '2001:db8::5', dst: 'fe80::1', proto: 58, sni: 'API.Example.com' },
  /* 3 */ { src: '::ffff:10.1.1.1', dst: '10.0.0.0', sport: 53, dport: 53, proto: 17, host: 'build-01' },
  /* 4 */ {},
];

function batch(): FlowBatch {
  const b = new FlowBatch(8);
  for (const f of FLOWS) {
    const r = b.addRow();
    const addr = (col: number, a?: string) => {
      if (!a) return;
      (b.data[col] as Uint32Array).set(parseAddr(a) as Uint32Array, r * 4);
      b.valid[col][r] = 1;
    };
    addr(C.src_addr, f.src);
    addr(C.dst_addr, f.dst);
    if (f.sport !== undefined) b.setNum(C.src_port, r, f.sport);
    if (f.dport !== undefined) b.setNum(C.dst_port, r, f.dport);
    if (f.proto !== undefined) b.setNum(C.proto, r, f.proto);
    if (f.sni) b.setString(C.tls_sni, r, f.sni);
    if (f.host) b.setString(C.src_host, r, f.host);
    if (f.tags) b.setList(C.src_tags, r, f.tags);
    if (f.ti) b.setList(C.ti_feeds, r, f.ti);
  }
  return b;
}

const b = batch();
const rows = (filter: string) => {
  const p = compilePredicate(filter);
  return FLOWS.map((_, r) => r).filter((r) => p(b, r));
};

const CASES: [string, number[]][] = [
  ['', [0, 1, 2, 3, 4]],
  ['dst port 22', [0]],
  ['port 22', [0, 1]], // either side
  ['not dst port 22', [1, 2, 3, 4]], // a flow without a port is "not port 22"
  ['dst port != 22', [1, 3]], // but "!= 22" needs a port
  ['src net 10.0.0.0/8', [0, 3]], // ::ffff:10.1.1.1 is the IPv4 address 10.1.1.1
  ['net 10.0.0.0/8 and not src net 10.0.0.0/8', [1]],
  ['ip 2001:db8::/32 or dst ip fe80::/10', [2]],
  ['src ip ::/0', [0, 1, 2, 3]], // the IPv6 space holds the IPv4-mapped addresses
  ['dst ip 10.0.0.0', [3]],
  ['host 192.0.2.1', [0, 1]],
  ['src host build-01', [3]],
  ['host "build-*"', []], // "=" is not a glob
  ['host ~ "build-*"', [3]],
  ['tls_sni ~ "*.example.com"', [2]], // case-insensitive
  ['tls_sni ~ "api.example.co?"', [2]],
  ['tls_sni = "api.example.com"', []], // equality is exact
  ['tls_sni != "x"', [2]],
  ['ti', [1]],
  ['ti and not dst port 53', [1]],
  ['tag web', [0]],
  ['src tag != web', []], // only flows with tags can have a tag other than web
  ['not src tag web', [1, 2, 3, 4]],
  ['tcp', [0, 1]],
  ['proto not in [6, 17]', [2]],
  ['src port > 22 or dst_port <= 22', [0, 3]],
  ['src_port >= 22 && !(udp) || proto icmp6', [0, 1, 2]],
];

test('predicate semantics on hand-built flows', () => {
  for (const [f, want] of CASES) assert.deepEqual(rows(f), want, f);
});

test('DuckDB agrees on the same flows, with a column prefix and a first parameter number', async () => {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    await con.run(flowsTableDDL('flows'));
    await con.run('ALTER TABLE flows ADD COLUMN rid INTEGER');
    const lit = (a?: string) => {
      if (!a) return 'NULL';
      const w = parseAddr(a) as Uint32Array;
      return `CAST('${(BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3])}' AS UHUGEINT)`;
    };
    const s = (x?: string) => (x === undefined ? 'NULL' : `'${x}'`);
    const l = (x?: string[]) => (x ? `[${x.map((v) => `'${v}'`).join(',')}]` : 'NULL');
    const n = (x?: number) => (x === undefined ? 'NULL' : String(x));
    for (const [i, f] of FLOWS.entries()) {
      await con.run(
        `INSERT INTO flows (src_addr, dst_addr, src_port, dst_port, proto, tls_sni, src_host, src_tags, ti_feeds, rid)
         VALUES (${lit(f.src)}, ${lit(f.dst)}, ${n(f.sport)}, ${n(f.dport)}, ${n(f.proto)}, ${s(f.sni)}, ${s(f.host)}, ${l(f.tags)}, ${l(f.ti)}, ${i})`,
      );
    }
    for (const [f, want] of CASES) {
      const { sql, params } = compileSql(f, { columnPrefix: 'x.', firstParam: 2 });
      const r = await con.runAndReadAll(`SELECT rid FROM flows x WHERE rid >= $1 AND ${sql} ORDER BY rid`, [
        0,
        ...params,
      ]);
      assert.deepEqual(
        r.getRows().map((row) => Number(row[0])),
        want,
        `${f}: ${sql}`,
      );
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
});

test('an empty filter is TRUE in SQL; every SQL atom is NULL-safe', () => {
  assert.deepEqual(compileSql(''), { sql: 'TRUE', params: [] });
  const { sql } = compileSql('dst port 22 and not tls_sni ~ "a*"');
  assert.equal(sql.match(/COALESCE\(/g)?.length, 2);
});
