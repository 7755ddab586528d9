// Event time and late data (issue 4): cloud logs arrive 5–15 minutes after the traffic they
// describe. Flows are stored under their own time_start whenever they arrive, the rollups
// (flows_1m, talkers_5m) written by earlier commits take the late rows as further partial sums,
// and a question over a closed interval has the same answer before and after late data for other
// intervals arrives — through the real store, the real query service (what `flowwatch query --top`
// and `flowwatch timeseries` call) and restarts.
//
// The stream is the real AWS VPC corpus parsed by parseAwsVpcLog, re-timed into one day and
// multiplied with varied addresses and counters. Expected answers are computed twice without the
// store's planner: in JS from the generated records (template counters × multiplier), and by SQL
// over the raw flows_data table in a separate read-only DuckDB.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { DuckDBValue } from '@duckdb/node-api';
import { parseAwsVpcLog } from '../../src/ingest/cloud/aws-vpc.js';
import { FlowBatch, formatAddrWords, isV4Mapped } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { LocalQueryTarget, type QueryResult } from '../../src/query/service.js';
import { ACTIONS, C } from '../../src/schema/columns.js';
import { openStore, ROLLUP_DIMS } from '../../src/store/duckdb/index.js';
import type { FlowStore } from '../../src/store/store.js';
import { dataPath, needsData } from '../helpers/data.js';
import { rawQuery, removeDir, tempDir } from './helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** A chosen day: 2024-06-03 10:00 UTC. */
const T0 = Date.UTC(2024, 5, 3, 10, 0, 0);
const A: Range = [T0, T0 + HOUR];
const B: Range = [T0 + HOUR, T0 + 2 * HOUR];
const CI: Range = [T0 + 2 * HOUR, T0 + 3 * HOUR];
/** More than one stage drain (245 760 rows) in the single commit of interval A. */
const A_FLOWS = 260_000;
const B_FLOWS = 60_000;
const C_FLOWS = 40_000;
/** Share of B's flows whose log arrives 5–15 minutes late. */
const LATE_SHARE = 0.35;

type Range = [number, number];

// ---- the generated stream

interface Template {
  batch: FlowBatch;
  row: number;
  /** Record duration from the log (start/end), or AWS's default 60 s aggregation window. */
  durMs: number;
}

/** Generated flows, columnar (the JS-side truth): template, times, addresses, multiplier. */
class Records {
  n = 0;
  tmpl = new Int32Array(0);
  ts = new Float64Array(0);
  te = new Float64Array(0);
  recv = new Float64Array(0);
  src = new Uint32Array(0);
  dst = new Uint32Array(0);
  mul = new Uint32Array(0);
  constructor(cap: number) {
    this.tmpl = new Int32Array(cap);
    this.ts = new Float64Array(cap);
    this.te = new Float64Array(cap);
    this.recv = new Float64Array(cap);
    this.src = new Uint32Array(cap);
    this.dst = new Uint32Array(cap);
    this.mul = new Uint32Array(cap);
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function loadTemplates(): Template[] {
  const dir = dataPath('cloud', 'aws');
  const out: Template[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.log'))
    .sort()) {
    const sink = new CollectingSink(() => new FlowBatch(64));
    const res = parseAwsVpcLog(readFileSync(`${dir}/${f}`), f, 0, sink);
    assert.equal(res.malformed, 0, `${f}: ${JSON.stringify(res.errors)}`);
    for (const b of sink.batches)
      for (let r = 0; r < b.length; r++) {
        const s = b.valid[C.time_start][r] ? b.data[C.time_start][r] : NaN;
        const e = b.valid[C.time_end][r] ? b.data[C.time_end][r] : NaN;
        out.push({ batch: b, row: r, durMs: e > s ? e - s : MIN });
      }
  }
  return out;
}

/**
 * `n` flows with time_start uniform in `range`; a share `lateShare` of them received 5–15 min
 * after time_end, the others within a minute of it. Sources and destinations are skewed (a few
 * heavy hitters) inside the template's own /16 and /24.
 */
function generate(
  into: Records,
  tmpls: Template[],
  n: number,
  range: Range,
  lateShare: number,
  seed: number,
): [number, number] {
  const rnd = mulberry32(seed);
  const from = into.n;
  for (let i = 0; i < n; i++) {
    const k = into.n++;
    const t = Math.floor(rnd() * tmpls.length);
    const tm = tmpls[t];
    into.tmpl[k] = t;
    into.ts[k] = range[0] + Math.floor(rnd() * (range[1] - range[0]));
    into.te[k] = into.ts[k] + tm.durMs;
    const late = rnd() < lateShare;
    into.recv[k] = into.te[k] + (late ? 5 * MIN + Math.floor(rnd() * 10 * MIN) : Math.floor(rnd() * MIN));
    const a = tm.batch.data[C.src_addr] as Uint32Array;
    const d = tm.batch.data[C.dst_addr] as Uint32Array;
    const h = Math.floor(4000 * rnd() ** 3);
    into.src[k] = ((a[tm.row * 4 + 3] & 0xffff0000) | h) >>> 0;
    into.dst[k] = ((d[tm.row * 4 + 3] & 0xffffff00) | Math.floor(256 * rnd() ** 2)) >>> 0;
    into.mul[k] = 1 + Math.floor(rnd() * 100);
  }
  return [from, into.n];
}

/** The template's address words (a copy). */
function prefix(t: Template, col: number): Uint32Array {
  return (t.batch.data[col] as Uint32Array).slice(t.row * 4, t.row * 4 + 4);
}

function writeRow(b: FlowBatch, rec: Records, tmpls: Template[], k: number): void {
  const tm = tmpls[rec.tmpl[k]];
  const r = b.copyRowFrom(tm.batch, tm.row);
  b.setNum(C.time_start, r, rec.ts[k]);
  b.setNum(C.time_end, r, rec.te[k]);
  b.setNum(C.time_received, r, rec.recv[k]);
  // Only the last word varies: IPv4 stays IPv4-mapped, IPv6 keeps its /96.
  (b.data[C.src_addr] as Uint32Array)[r * 4 + 3] = rec.src[k];
  (b.data[C.dst_addr] as Uint32Array)[r * 4 + 3] = rec.dst[k];
  if (tm.batch.valid[C.bytes][tm.row]) b.setNum(C.bytes, r, tm.batch.data[C.bytes][tm.row] * rec.mul[k]);
  if (tm.batch.valid[C.packets][tm.row]) b.setNum(C.packets, r, tm.batch.data[C.packets][tm.row] * rec.mul[k]);
}

/**
 * Append records [from, to) in order of receipt, committing whenever the minute of receipt
 * changes (a collector that commits every minute) or at the end. Returns the commits made.
 */
async function ingestByReceipt(store: FlowStore, rec: Records, tmpls: Template[], from: number, to: number) {
  const order = Array.from({ length: to - from }, (_, i) => from + i).sort((x, y) => rec.recv[x] - rec.recv[y]);
  let b = new FlowBatch();
  let minute = Number.NaN;
  let commits = 0;
  for (const k of order) {
    const m = Math.floor(rec.recv[k] / MIN);
    if (m !== minute || b.full) {
      if (b.length) await store.append(b);
      b = new FlowBatch();
      if (m !== minute && !Number.isNaN(minute)) {
        await store.flush();
        commits++;
      }
      minute = m;
    }
    writeRow(b, rec, tmpls, k);
  }
  if (b.length) await store.append(b);
  return commits;
}

/** Append records [from, to) as one import (one commit at the end, or none: `commit` false). */
async function ingestOnce(store: FlowStore, rec: Records, tmpls: Template[], from: number, to: number, commit = true) {
  let b = new FlowBatch();
  for (let k = from; k < to; k++) {
    if (b.full) {
      await store.append(b);
      b = new FlowBatch();
    }
    writeRow(b, rec, tmpls, k);
  }
  if (b.length) await store.append(b);
  if (commit) await store.flush();
}

// ---- the questions and their JS-side answers

type Key = 'src_addr' | 'dst_addr' | 'dst_port' | 'action';
interface Question {
  name: string;
  kind: 'top' | 'ts';
  by?: Key;
  order?: 'flows' | 'bytes';
  limit?: number;
  filter?: string;
  intervalMs?: number;
}

const QUESTIONS: Question[] = [
  { name: 'top-10 src by bytes', kind: 'top', by: 'src_addr', order: 'bytes', limit: 10 },
  { name: 'top-10 dst by flows', kind: 'top', by: 'dst_addr', order: 'flows', limit: 10 },
  { name: 'top dst ports by flows', kind: 'top', by: 'dst_port', order: 'flows', limit: 20 },
  { name: 'top-10 tcp src by bytes', kind: 'top', by: 'src_addr', order: 'bytes', limit: 10, filter: 'proto tcp' },
  { name: 'tcp by action', kind: 'top', by: 'action', order: 'flows', limit: 10, filter: 'proto tcp' },
  { name: 'total', kind: 'top', order: 'flows', limit: 10 },
  { name: 'timeseries 1m', kind: 'ts', intervalMs: MIN },
  { name: 'timeseries 5m', kind: 'ts', intervalMs: 5 * MIN },
  { name: 'timeseries 30s', kind: 'ts', intervalMs: 30_000 },
  { name: 'timeseries 1m by action', kind: 'ts', intervalMs: MIN, by: 'action' },
];

/** Ranges over a one-hour interval: whole, cutting 1-minute and 5-minute buckets, whole minutes. */
function rangesOf([s, e]: Range): Range[] {
  return [
    [s, e],
    [s + 7 * MIN + 30_000, s + 52 * MIN + 10_000],
    [s + 3 * MIN, e - 2 * MIN],
    [s + 55 * MIN, e],
  ];
}

async function ask(q: QueryTarget, question: Question, [since, until]: Range): Promise<QueryResult> {
  const r =
    question.kind === 'top'
      ? await q.top({
          filter: question.filter,
          since,
          until,
          by: question.by ? [question.by] : [],
          order: question.order ?? 'flows',
          limit: question.limit ?? 10,
        })
      : await q.timeseries({
          filter: question.filter,
          since,
          until,
          intervalMs: question.intervalMs ?? MIN,
          by: question.by,
        });
  assert.equal(r.losses, undefined);
  return { rows: r.rows, table: r.table };
}
type QueryTarget = LocalQueryTarget;

async function askAll(q: QueryTarget, ranges: Range[]): Promise<Map<string, QueryResult>> {
  const out = new Map<string, QueryResult>();
  for (const r of ranges)
    for (const question of QUESTIONS) out.set(`${question.name} @ ${r}`, await ask(q, question, r));
  return out;
}

interface Agg {
  key: number | string | null;
  sortKey: number;
  t: number;
  flows: number;
  packets: number | null;
  bytes: number | null;
}

/** Per generated flow: what the questions read, from its template and multiplier (null = NaN / NULL_CODE). */
interface Facts {
  n: number;
  bytes: Float64Array;
  packets: Float64Array;
  tcp: Uint8Array;
  /** Address codes in UHUGEINT order: IPv4-mapped below the corpus's one IPv6 /96 (2001:db8::/32). */
  src: Float64Array;
  dst: Float64Array;
  port: Float64Array;
  action: Float64Array;
}
const NULL_CODE = 2 ** 33 + 1;
let factsCache: Facts | undefined;

function facts(rec: Records, tmpls: Template[]): Facts {
  if (factsCache?.n === rec.n) return factsCache;
  const n = rec.n;
  const f: Facts = {
    n,
    bytes: new Float64Array(n),
    packets: new Float64Array(n),
    tcp: new Uint8Array(n),
    src: new Float64Array(n),
    dst: new Float64Array(n),
    port: new Float64Array(n),
    action: new Float64Array(n),
  };
  for (let k = 0; k < n; k++) {
    const { batch: b, row: r } = tmpls[rec.tmpl[k]];
    f.bytes[k] = b.valid[C.bytes][r] ? b.data[C.bytes][r] * rec.mul[k] : Number.NaN;
    f.packets[k] = b.valid[C.packets][r] ? b.data[C.packets][r] * rec.mul[k] : Number.NaN;
    f.tcp[k] = b.valid[C.proto][r] && b.data[C.proto][r] === 6 ? 1 : 0;
    f.src[k] = (isV4Mapped(b.data[C.src_addr] as Uint32Array, r * 4) ? 0 : 2 ** 32) + rec.src[k];
    f.dst[k] = (isV4Mapped(b.data[C.dst_addr] as Uint32Array, r * 4) ? 0 : 2 ** 32) + rec.dst[k];
    f.port[k] = b.valid[C.dst_port][r] ? b.data[C.dst_port][r] : NULL_CODE;
    f.action[k] = b.valid[C.action][r] ? b.data[C.action][r] : NULL_CODE;
  }
  factsCache = f;
  return f;
}

/** The answer computed from the generated records: SQL's SUM (null when every value is null). */
function expected(rec: Records, tmpls: Template[], question: Question, [since, until]: Range, upTo = rec.n) {
  // Groups by a numeric id (interval index × 2^34 + key code); the key's text is made once per group.
  const f = facts(rec, tmpls);
  const iv = question.intervalMs ?? MIN;
  const base = Math.floor(since / iv);
  const groups = new Map<number, Agg>();
  const w = new Uint32Array(4);
  const by = question.by;
  const codes =
    by === 'src_addr'
      ? f.src
      : by === 'dst_addr'
        ? f.dst
        : by === 'dst_port'
          ? f.port
          : by === 'action'
            ? f.action
            : null;
  const tcpOnly = question.filter === 'proto tcp';
  const ts = question.kind === 'ts';
  for (let k = 0; k < upTo; k++) {
    const t = rec.ts[k];
    if (t < since || t >= until || (tcpOnly && f.tcp[k] === 0)) continue;
    const code = codes === null ? 0 : codes[k];
    const ti = ts ? Math.floor(t / iv) - base : 0;
    const id = ti * 2 ** 34 + code;
    let g = groups.get(id);
    if (!g) {
      let key: number | string | null = null;
      if (by === 'src_addr' || by === 'dst_addr') {
        const tm = tmpls[rec.tmpl[k]];
        w.set(
          (tm.batch.data[by === 'src_addr' ? C.src_addr : C.dst_addr] as Uint32Array).subarray(
            tm.row * 4,
            tm.row * 4 + 3,
          ),
        );
        w[3] = code % 2 ** 32;
        key = formatAddrWords(w, 0);
      } else if (codes !== null && code !== NULL_CODE) key = by === 'action' ? ACTIONS[code] : code;
      g = { key, sortKey: id, t: (ti + base) * iv, flows: 0, packets: null, bytes: null };
      groups.set(id, g);
    }
    g.flows++;
    if (!Number.isNaN(f.packets[k])) g.packets = (g.packets ?? 0) + f.packets[k];
    if (!Number.isNaN(f.bytes[k])) g.bytes = (g.bytes ?? 0) + f.bytes[k];
  }
  const list = [...groups.values()];
  if (question.kind === 'ts') {
    list.sort((x, y) => x.sortKey - y.sortKey);
    return list.map((g) => {
      const row: Record<string, unknown> = { t: g.t, flows: g.flows, packets: g.packets, bytes: g.bytes };
      if (question.by) row.key = g.key;
      return row;
    });
  }
  const measure = question.order ?? 'flows';
  // ORDER BY measure DESC NULLS LAST, key ASC (NULLS LAST)
  list.sort((x, y) => {
    const a = x[measure];
    const c = y[measure];
    if (a !== c) return a === null ? 1 : c === null ? -1 : c - a;
    return x.sortKey - y.sortKey;
  });
  return list.slice(0, question.limit ?? 10).map((g) => {
    const row: Record<string, unknown> = { flows: g.flows, packets: g.packets, bytes: g.bytes };
    if (question.by) row[question.by] = g.key;
    return row;
  });
}

function checkAgainstJs(
  rec: Records,
  tmpls: Template[],
  answers: Map<string, QueryResult>,
  ranges: Range[],
  upTo = rec.n,
) {
  for (const r of ranges)
    for (const question of QUESTIONS) {
      const got = answers.get(`${question.name} @ ${r}`);
      assert.ok(got);
      assert.deepEqual(
        got.rows,
        expected(rec, tmpls, question, r, upTo),
        `${question.name} over [${r}) (${got.table})`,
      );
    }
}

// ---- brute force over the raw table (a fresh read-only DuckDB on the closed store's file)

const M32 = 0xffffffffn;

function num(v: DuckDBValue): number | null {
  return v === null ? null : Number(v);
}

/** The rollups hold exactly the raw rows' sums: per minute × dimensions, per 5 minutes × address and AS. */
async function checkRollupsEqualRaw(dir: string): Promise<void> {
  const have = new Set(
    (await rawQuery(dir, "SELECT name FROM pragma_table_info('flows_data')")).map((r) => String(r[0])),
  );
  const dims = ROLLUP_DIMS.filter((d) => have.has(d))
    .map((d) => `"${d}"`)
    .join(', ');
  const sums = 'SUM(packets)::BIGINT, SUM(bytes)::BIGINT';
  const roll = `SELECT time_start, ${dims}, SUM(flows)::BIGINT, ${sums} FROM flows_1m GROUP BY ALL`;
  const raw = `SELECT (time_start // 60000) * 60000, ${dims}, COUNT(*)::BIGINT, ${sums} FROM flows_data GROUP BY ALL`;
  for (const [x, y] of [
    [roll, raw],
    [raw, roll],
  ])
    assert.deepEqual(
      await rawQuery(dir, `SELECT count(*)::INTEGER FROM ((${x}) EXCEPT ALL (${y}))`),
      [[0]],
      'flows_1m ≠ flows',
    );
  const troll = `SELECT time_start, side, addr, SUM(flows)::BIGINT, ${sums} FROM talkers_5m GROUP BY ALL`;
  const side = (s: number, col: string) =>
    `SELECT (time_start // 300000) * 300000, ${s}::UTINYINT, ${col}, COUNT(*)::BIGINT, ${sums} FROM flows_data GROUP BY ALL`;
  // AS numbers per side too (NULL when no flow carried one, as the view shows them)
  const asn = (c: string) => (have.has(c) ? `${c}::UHUGEINT` : 'NULL::UHUGEINT');
  const traw = [side(0, 'src_addr'), side(1, 'dst_addr'), side(2, asn('src_asn')), side(3, asn('dst_asn'))].join(
    ' UNION ALL ',
  );
  for (const [x, y] of [
    [troll, traw],
    [traw, troll],
  ])
    assert.deepEqual(
      await rawQuery(dir, `SELECT count(*)::INTEGER FROM ((${x}) EXCEPT ALL (${y}))`),
      [[0]],
      'talkers_5m ≠ flows',
    );
}

/** After a clean close the talkers rollup is compacted: one row per (bucket, side, address). */
async function checkTalkersCompacted(dir: string): Promise<void> {
  const dup = await rawQuery(
    dir,
    'SELECT count(*)::INTEGER FROM (SELECT 1 FROM talkers_5m GROUP BY time_start, side, addr HAVING count(*) > 1)',
  );
  assert.deepEqual(dup, [[0]], 'talkers_5m keeps several partial rows for one key after close');
}

/** Top-10 sources by bytes over a range, straight from flows_data. */
async function rawTopSrc(dir: string, [s, e]: Range): Promise<Record<string, unknown>[]> {
  const rows = await rawQuery(
    dir,
    `SELECT src_addr, COUNT(*), SUM(packets), SUM(bytes) FROM flows_data WHERE time_start >= ${s} AND time_start < ${e} ` +
      'GROUP BY 1 ORDER BY 4 DESC NULLS LAST, 1 LIMIT 10',
  );
  return rows.map(([a, f, p, b]) => {
    const v = BigInt(a as bigint);
    const w = Uint32Array.of(Number(v >> 96n), Number((v >> 64n) & M32), Number((v >> 32n) & M32), Number(v & M32));
    return { src_addr: formatAddrWords(w, 0), flows: num(f), packets: num(p), bytes: num(b) };
  });
}

/** Flows, packets and bytes per minute over a range, straight from flows_data. */
async function rawPerMinute(dir: string, [s, e]: Range): Promise<Record<string, unknown>[]> {
  const rows = await rawQuery(
    dir,
    `SELECT (time_start // 60000) * 60000 AS t, COUNT(*), SUM(packets), SUM(bytes) FROM flows_data ` +
      `WHERE time_start >= ${s} AND time_start < ${e} GROUP BY 1 ORDER BY 1`,
  );
  return rows.map(([t, f, p, b]) => ({ t: num(t), flows: num(f), packets: num(p), bytes: num(b) }));
}

// ---- the scenario

describe('late data: event time, rollups and closed intervals', { skip: needsData() }, () => {
  const dir = tempDir();
  after(() => removeDir(dir));
  let tmpls: Template[] = [];
  let rec: Records;
  let store: FlowStore | undefined;
  let q: QueryTarget;
  let aBefore: Map<string, QueryResult>;
  let aEnd = 0;
  let bcEnd = 0;
  const aRanges = rangesOf(A);
  const bRanges = rangesOf(B);

  async function open(readOnly = false): Promise<void> {
    store = await openStore({ dir, readOnly });
    q = new LocalQueryTarget(store, undefined, false);
  }
  async function close(): Promise<void> {
    await store?.close();
    store = undefined;
  }
  after(close);

  test('interval A (one import crossing a stage drain) is stored under its event times', async () => {
    tmpls = loadTemplates();
    assert.ok(tmpls.length >= 20, `AWS corpus gave ${tmpls.length} flow records`);
    // Sort keys below assume one IPv6 /96 per side in the corpus (the v2 document example).
    for (const col of [C.src_addr, C.dst_addr]) {
      const v6 = new Set(
        tmpls
          .filter((t) => !isV4Mapped(t.batch.data[col] as Uint32Array, t.row * 4))
          .map((t) => {
            const w = prefix(t, col);
            w[3] = 0;
            return formatAddrWords(w, 0);
          }),
      );
      assert.ok(v6.size <= 1, `IPv6 prefixes ${[...v6]}`);
    }
    rec = new Records(A_FLOWS + B_FLOWS + C_FLOWS + 20_000);
    generate(rec, tmpls, A_FLOWS, A, 0, 1);
    aEnd = rec.n;
    await open();
    await ingestOnce(store as FlowStore, rec, tmpls, 0, aEnd);
    aBefore = await askAll(q, aRanges);
    checkAgainstJs(rec, tmpls, aBefore, aRanges);
    // Every planner path answered some question: the talkers and 1-minute rollups (alone and with
    // the raw flows of cut buckets) and the raw flows.
    const tables = new Set([...aBefore.values()].map((r) => r.table));
    for (const t of ['talkers_5m', 'talkers_5m+flows', 'flows_1m', 'flows_1m+flows', 'flows'])
      assert.ok(tables.has(t), `no question answered from ${t} (${[...tables]})`);
    await close();
    await checkRollupsEqualRaw(dir);
    await checkTalkersCompacted(dir);
    await open(true);
    assert.deepEqual(await askAll(q, aRanges), aBefore, 'A after a restart');
    await close();
  });

  test('late flows of B interleaved with on-time flows of C: A unchanged, B complete', async () => {
    await open();
    generate(rec, tmpls, B_FLOWS, B, LATE_SHARE, 2);
    generate(rec, tmpls, C_FLOWS, CI, 0, 3);
    bcEnd = rec.n;
    let late = 0;
    let lateAfterB = 0;
    for (let k = aEnd; k < bcEnd; k++)
      if (rec.recv[k] - rec.te[k] >= 5 * MIN) {
        late++;
        if (rec.recv[k] >= B[1]) lateAfterB++;
      }
    assert.ok(late > B_FLOWS * 0.3 && lateAfterB > 1000, `late ${late}, after B closed ${lateAfterB}`);
    const commits = await ingestByReceipt(store as FlowStore, rec, tmpls, aEnd, bcEnd);
    assert.ok(commits > 100, `${commits} commits`);
    await (store as FlowStore).flush();
    assert.deepEqual(await askAll(q, aRanges), aBefore, 'A while the store is open');
    const bAnswers = await askAll(q, bRanges);
    checkAgainstJs(rec, tmpls, bAnswers, bRanges);
    await close();
    await checkRollupsEqualRaw(dir);
    await checkTalkersCompacted(dir);
    for (const r of bRanges) {
      assert.deepEqual(bAnswers.get(`top-10 src by bytes @ ${r}`)?.rows, await rawTopSrc(dir, r), `raw top src [${r})`);
      const ts = bAnswers.get(`timeseries 1m @ ${r}`)?.rows;
      if (r[0] % MIN === 0 && r[1] % MIN === 0)
        assert.deepEqual(ts, await rawPerMinute(dir, r), `raw per minute [${r})`);
    }
    await open(true);
    assert.deepEqual(await askAll(q, aRanges), aBefore, 'A after the late data and a restart');
    assert.deepEqual(await askAll(q, bRanges), bAnswers, 'B after a restart');
    await close();
  });

  test('late flows into A after its rollup buckets were written: merged, neither lost nor doubled', async () => {
    // Two late deliveries for A's last ten minutes, hours after A's buckets were committed and
    // compacted: one committed by flush(), one appended and committed only by close().
    const late1 = generate(rec, tmpls, 6_000, [A[0] + 55 * MIN, A[1]], 0, 4);
    const late2 = generate(rec, tmpls, 4_000, [A[0] + 57 * MIN, A[1]], 0, 5);
    for (let k = late1[0]; k < late2[1]; k++) rec.recv[k] = T0 + 3 * HOUR + (k % 600) * 1000;
    await open();
    await ingestOnce(store as FlowStore, rec, tmpls, late1[0], late1[1]);
    const after1 = await askAll(q, aRanges);
    checkAgainstJs(rec, tmpls, after1, aRanges, late1[1]);
    // The late flows moved A's answers (where they fall), and by exactly them.
    assert.notDeepEqual(after1.get(`total @ ${A}`), aBefore.get(`total @ ${A}`));
    const total = (m: Map<string, QueryResult>) => m.get(`total @ ${A}`)?.rows[0] as Record<string, number>;
    assert.equal(total(after1).flows - total(aBefore).flows, late1[1] - late1[0]);
    // The range ending before the late flows' minutes is unchanged.
    const early = aRanges[1];
    for (const question of QUESTIONS)
      assert.deepEqual(after1.get(`${question.name} @ ${early}`), aBefore.get(`${question.name} @ ${early}`));
    await close();
    await open();
    await ingestOnce(store as FlowStore, rec, tmpls, late2[0], late2[1], false);
    await close();
    await checkRollupsEqualRaw(dir);
    await checkTalkersCompacted(dir);
    const aRaw = await rawPerMinute(dir, A);
    await open(true);
    const after2 = await askAll(q, aRanges);
    checkAgainstJs(rec, tmpls, after2, aRanges);
    assert.deepEqual(after2.get(`timeseries 1m @ ${A}`)?.rows, aRaw);
    assert.deepEqual(after2.get(`top-10 src by bytes @ ${A}`)?.rows, await rawTopSrcOpen(A));
    // B and the start of A are still what they were.
    for (const question of QUESTIONS)
      assert.deepEqual(after2.get(`${question.name} @ ${early}`), aBefore.get(`${question.name} @ ${early}`));
    checkAgainstJs(rec, tmpls, await askAll(q, bRanges), bRanges, bcEnd);
    await close();
  });

  /** rawTopSrc needs the store closed; the read-only store reads the same file, so close first. */
  async function rawTopSrcOpen(r: Range) {
    await close();
    const rows = await rawTopSrc(dir, r);
    await open(true);
    return rows;
  }
});
