// THE property of the filter language (DESIGN §2.5): for any well-typed expression, the JS
// predicate over a FlowBatch and the SQL run by the real DuckDB engine over the same flows select
// exactly the same rows — nulls, IPv4 and IPv6 (including addresses at or above 8000::), lists,
// globs with GLOB metacharacters and non-ASCII text included.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { compilePredicate, compileSql, parseFilter } from '../../src/filter/index.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { allColumns, type ColumnDef } from '../../src/schema/columns.js';
import { flowsTableDDL, quoteIdent } from '../../src/schema/duckdb.js';

const FLOWS = 200;
const FLOW_SETS = 20;
const EXPRS_PER_SET = 30; // 20 × 30 = 600 expressions, each over 200 flows

// Small pools so that equality, lists and ranges actually hit.
const NUM_POOL: Record<string, number[]> = {
  u8: [0, 1, 6, 17, 58, 255],
  u16: [0, 2, 22, 53, 443, 1024, 5432, 65535],
  u32: [0, 1, 443, 65000, 4294967295],
  u64: [0, 1, 5, 999, 1000, 10_000_000, 2 ** 40, Number.MAX_SAFE_INTEGER],
  time: [0, 1_704_067_200_000, 1_704_067_260_000, 1_717_200_000_123],
  mac: [0, 0x001122334455, 0xffffffffffff],
};
const WIDTH_MAX: Record<string, number> = { u8: 255, u16: 65535 };
const ADDRS = [
  '10.0.0.1',
  '10.1.2.3',
  '192.0.2.1',
  '192.0.2.200',
  '0.0.0.0',
  '255.255.255.255',
  '2001:db8::1',
  '2001:db8:ffff::2',
  '::1',
  '::',
  'fe80::1',
  'ff02::1',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
];
const CIDRS = [
  '10.0.0.0/8',
  '10.0.0.0/31',
  '192.0.2.0/24',
  '0.0.0.0/0',
  '2001:db8::/32',
  'fe80::/10',
  'ff00::/8',
  '::/0',
  '::ffff:0:0/96',
  '8000::/1',
  '::/127',
];
const STRINGS = [
  'a',
  'web-01',
  'WEB-01',
  'x.example.com',
  'a[b]c',
  'back\\slash',
  'é',
  'Ünï.test',
  'US',
  'DE',
  '*st',
  'q"t',
];
const TAGS = ['web', 'db', 'vm', 'x[1]', 'feed-a', 'Feed-B'];

type Cell = number | string | readonly string[] | null;

function cellArb(c: ColumnDef): fc.Arbitrary<Cell> {
  const value = ((): fc.Arbitrary<Cell> => {
    switch (c.type) {
      case 'addr':
        return fc.constantFrom(...ADDRS);
      case 'string':
        return fc.constantFrom(...STRINGS);
      case 'list':
        // [] in the table and null in the batch must mean the same: "no value".
        return fc.subarray(TAGS, { minLength: 0, maxLength: 3 });
      case 'bool':
        return fc.constantFrom(0, 1);
      case 'enum':
        return fc.integer({ min: 0, max: (c.enumValues?.length ?? 1) - 1 });
      default:
        return fc.oneof(fc.constantFrom(...NUM_POOL[c.type]), fc.integer({ min: 0, max: WIDTH_MAX[c.type] ?? 70000 }));
    }
  })();
  return fc.option(value, { freq: 3, nil: null });
}

function flowsArb(cols: readonly ColumnDef[]): fc.Arbitrary<Cell[][]> {
  return fc.array(fc.tuple(...cols.map(cellArb)), { minLength: FLOWS, maxLength: FLOWS });
}

// ---- expressions, written as text (so the parser is exercised too)

const q = (s: string) => `"${s.replace(/[\\"]/g, (m) => `\\${m}`)}"`;

function fieldArb(c: ColumnDef): fc.Arbitrary<string> {
  const forms = [fc.constant(c.name)];
  const paired = /^(src|dst)_/.exec(c.name);
  const words = [c.keyword, ...(c.aliases ?? [])].filter((w): w is string => !!w && w !== 'host');
  if (paired) for (const w of words) forms.push(fc.constant(`${paired[1]} ${w}`), fc.constant(`${paired[1]} ${w}`));
  else for (const w of words) forms.push(fc.constant(w));
  return fc.oneof(...forms);
}

/** A paired column's keyword alone (or `any`), so either side matches. */
function anySideArb(cols: readonly ColumnDef[]): fc.Arbitrary<[string, ColumnDef]> {
  const pairs = cols.filter((c) => c.name.startsWith('src_') && c.keyword);
  return fc.tuple(fc.constantFrom('', 'any '), fc.constantFrom(...pairs)).map(([p, c]) => [`${p}${c.keyword}`, c]);
}

function valueText(c: ColumnDef): fc.Arbitrary<string> {
  switch (c.type) {
    case 'addr':
      return fc.constantFrom(...ADDRS, ...CIDRS);
    case 'string':
    case 'list':
      return fc.constantFrom(...(c.type === 'list' ? TAGS : STRINGS), 'other').map(q);
    case 'bool':
      return fc.constantFrom('true', 'false', 'yes', 'no');
    case 'enum':
      return fc
        .tuple(fc.constantFrom(...(c.enumValues ?? [])), fc.boolean())
        .map(([v, up]) => (up ? v.toUpperCase() : v));
    case 'time':
      return fc.oneof(
        fc.constantFrom(...NUM_POOL.time).map(String),
        fc.constantFrom(...NUM_POOL.time).map((t) => new Date(t).toISOString()),
      );
    case 'mac':
      return fc.constantFrom(...NUM_POOL.mac).map((m) =>
        m
          .toString(16)
          .padStart(12, '0')
          .replace(/(..)(?!$)/g, '$1:'),
      );
    default:
      return fc.oneof(
        fc.constantFrom(...NUM_POOL[c.type]).map((n) => (n % 1000 === 0 && n > 0 ? `${n / 1000}k` : String(n))),
        fc.integer({ min: 0, max: 255 }).map(String),
      );
  }
}

const globArb = fc
  .tuple(fc.constantFrom(...STRINGS), fc.nat(), fc.constantFrom('prefix*', '*suffix', '?', '*mid*', 'upper', 'raw'))
  .map(([s, i, mode]) => {
    const k = s.length ? i % s.length : 0;
    switch (mode) {
      case 'prefix*':
        return `${s.slice(0, k)}*`;
      case '*suffix':
        return `*${s.slice(k)}`;
      case '?':
        return `${s.slice(0, k)}?${s.slice(k + 1)}`;
      case '*mid*':
        return `*${s.slice(k, k + 2)}*`;
      case 'upper':
        return s.toUpperCase();
      default:
        return s;
    }
  })
  .map(q);

function atomArb(c: ColumnDef, field: string): fc.Arbitrary<string> {
  const v = valueText(c);
  const list = fc.array(v, { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`);
  const eqForms = [
    v.map((x) => `${field} ${x}`),
    v.map((x) => `${field} = ${x}`),
    v.map((x) => `${field} == ${x}`),
    v.map((x) => `${field} != ${x}`),
    list.map((l) => `${field} in ${l}`),
    list.map((l) => `${field} not in ${l}`),
  ];
  switch (c.type) {
    case 'list':
    case 'bool':
      return fc.oneof(fc.constant(field), ...eqForms);
    case 'enum':
      return fc.oneof(...eqForms);
    case 'string':
      return fc.oneof(
        ...eqForms,
        globArb.map((g) => `${field} ~ ${g}`),
      );
    case 'addr':
      return fc.oneof(
        ...eqForms,
        fc.constantFrom(...CIDRS).map((x) => `${field} ~ ${x}`),
      );
    default:
      return fc.oneof(
        ...eqForms,
        fc.tuple(fc.constantFrom('<', '<=', '>', '>='), v).map(([op, x]) => `${field} ${op} ${x}`),
      );
  }
}

function exprArb(cols: readonly ColumnDef[]): fc.Arbitrary<string> {
  const atom = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...cols).chain((c) => fieldArb(c).chain((f) => atomArb(c, f))) },
    { weight: 1, arbitrary: anySideArb(cols).chain(([f, c]) => atomArb(c, f)) },
    { weight: 1, arbitrary: fc.constantFrom('tcp', 'udp', 'icmp') },
  );
  const { e } = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      atom,
      fc.tuple(tie('e'), fc.constantFrom('and', 'or', '&&', '||'), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
      tie('e').map((a) => `not ${a}`),
      tie('e').map((a) => `!(${a})`),
      tie('e').map((a) => `(${a})`),
    ),
  }));
  return e;
}

// ---- loading the same flows into a FlowBatch and into DuckDB

function toBatch(cols: readonly ColumnDef[], rows: Cell[][]): FlowBatch {
  const b = new FlowBatch(rows.length);
  const idx = cols.map((c) => allColumns().indexOf(c));
  for (const row of rows) {
    const r = b.addRow();
    row.forEach((v, i) => {
      const c = cols[i];
      const ci = idx[i];
      if (v === null) return;
      if (c.type === 'addr') {
        const w = parseAddr(v as string);
        assert.ok(w);
        (b.data[ci] as Uint32Array).set(w, r * 4);
        b.valid[ci][r] = 1;
      } else if (c.type === 'string') b.setString(ci, r, v as string);
      else if (c.type === 'list') b.setList(ci, r, v as string[]);
      else b.setNum(ci, r, v as number);
    });
  }
  return b;
}

const sqlStr = (s: string) => `'${s.replace(/'/g, "''")}'`;

function sqlLiteral(c: ColumnDef, v: Cell, rowNo: number): string {
  if (v === null) return c.type === 'list' && rowNo % 2 === 0 ? '[]' : 'NULL';
  switch (c.type) {
    case 'addr': {
      const w = parseAddr(v as string) as Uint32Array;
      const n = (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
      return `CAST('${n}' AS UHUGEINT)`;
    }
    case 'string':
      return sqlStr(v as string);
    case 'list':
      return (v as string[]).length ? `[${(v as string[]).map(sqlStr).join(', ')}]` : 'NULL';
    case 'bool':
      return v ? 'true' : 'false';
    default:
      return String(v);
  }
}

let db: DuckDBInstance;
let con: DuckDBConnection;
before(async () => {
  db = await DuckDBInstance.create(':memory:', { threads: '1' });
  con = await db.connect();
});
after(() => {
  con.closeSync();
  db.closeSync();
});

async function load(cols: readonly ColumnDef[], rows: Cell[][]): Promise<void> {
  await con.run('DROP TABLE IF EXISTS flows');
  await con.run(flowsTableDDL('flows'));
  await con.run('ALTER TABLE flows ADD COLUMN rid INTEGER');
  const names = [...cols.map((c) => quoteIdent(c.name)), 'rid'].join(', ');
  const tuples = rows.map((row, r) => `(${row.map((v, i) => sqlLiteral(cols[i], v, r)).join(', ')}, ${r})`);
  await con.run(`INSERT INTO flows (${names}) VALUES ${tuples.join(',\n')}`);
}

async function sqlRows(text: string): Promise<number[]> {
  const { sql, params } = compileSql(parseFilter(text));
  const reader = await con.runAndReadAll(`SELECT rid FROM flows WHERE ${sql} ORDER BY rid`, params);
  return reader.getRows().map((r) => Number(r[0]));
}

function predicateRows(text: string, b: FlowBatch): number[] {
  const p = compilePredicate(parseFilter(text));
  const out: number[] = [];
  for (let r = 0; r < b.length; r++) if (p(b, r)) out.push(r);
  return out;
}

test('predicate and DuckDB SQL select the same flows for random expressions (600 × 200)', async () => {
  const cols = allColumns();
  let nonTrivial = 0;
  await fc.assert(
    fc.asyncProperty(
      flowsArb(cols),
      fc.array(exprArb(cols), { minLength: EXPRS_PER_SET, maxLength: EXPRS_PER_SET }),
      async (rows, exprs) => {
        await load(cols, rows);
        const b = toBatch(cols, rows);
        for (const e of exprs) {
          const want = predicateRows(e, b);
          const got = await sqlRows(e);
          assert.deepEqual(got, want, `filter: ${e}\nSQL: ${JSON.stringify(compileSql(e))}`);
          if (want.length > 0 && want.length < rows.length) nonTrivial++;
        }
      },
    ),
    {
      numRuns: FLOW_SETS,
      endOnFailure: true,
      // The failing flows are 200 × 80 cells: report the filter and the seed, not the data.
      reporter: (run) => {
        if (run.failed) {
          const cause = run.errorInstance instanceof Error ? run.errorInstance.message : String(run.errorInstance);
          throw new Error(`seed ${run.seed}, path ${run.counterexamplePath}: ${cause}`);
        }
      },
    },
  );
  // The property means little if almost every expression selects nothing or everything.
  assert.ok(nonTrivial > FLOW_SETS * EXPRS_PER_SET * 0.3, `only ${nonTrivial} expressions split the flows`);
});
