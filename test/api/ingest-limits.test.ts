// HTTP ingest against hostile or out-of-contract requests, in process (HttpIngest on a local HTTP
// server, rows collected in memory): a request the server refuses stores nothing and says why.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { encodeBatch } from '../../src/agent/wire.js';
import { HttpIngest, MAX_BATCH_ROWS, writeCell } from '../../src/api/ingest.js';
import { rowJson } from '../../src/forward/ndjson-http.js';
import { FlowBatch, parseMac } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { allColumns, C, type ColumnDef, columnIndex } from '../../src/schema/columns.js';

const TOKEN = 'limits-token-0123456789';
const sink = new CollectingSink(() => new FlowBatch(1024));
const ingest = new HttpIngest({
  tokens: [{ name: 'test', token: TOKEN }],
  maxBody: 4 << 20,
  sink,
  commit: async () => {},
});
const server = http.createServer(
  (req, res) => void ingest.handle(req, res, new URL(req.url ?? '/', 'http://x').pathname),
);
let base = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function post(path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${base}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

let seq = 0;
function batchDoc(n: number, columns: Record<string, unknown>): string {
  return JSON.stringify({ v: 1, agent: 'hostile', epoch: 'e', seq: seq++, n, columns });
}

/** Rows stored so far. */
const stored = () => sink.rows;

test('agent batch: n with no columns, n over the cap, a missing address column: 400, nothing stored', async () => {
  const before = stored();
  const empty = await post('/api/v1/ingest/flows', batchDoc(2_000_000, {}));
  assert.equal(empty.status, 400);
  assert.match(String(empty.json.error), /n: at most 65536 rows/);
  const noCols = await post('/api/v1/ingest/flows', batchDoc(10, {}));
  assert.equal(noCols.status, 400);
  assert.match(String(noCols.json.error), /columns: none given for 10 rows/);
  // a huge n is refused at once (not looped over)
  const t0 = Date.now();
  const huge = await post('/api/v1/ingest/flows', batchDoc(1e15, { src_addr: [], dst_addr: [] }));
  assert.equal(huge.status, 400);
  assert.ok(Date.now() - t0 < 2000);
  const over = MAX_BATCH_ROWS + 1;
  const big = await post(
    '/api/v1/ingest/flows',
    batchDoc(over, { src_addr: new Array(over).fill('10.0.0.1'), dst_addr: new Array(over).fill('10.0.0.2') }),
  );
  assert.equal(big.status, 400);
  assert.match(String(big.json.error), /n: at most 65536 rows per request/);
  const noDst = await post('/api/v1/ingest/flows', batchDoc(2, { src_addr: ['10.0.0.1', '10.0.0.1'], bytes: [1, 2] }));
  assert.equal(noDst.status, 400);
  assert.match(String(noDst.json.error), /columns\.dst_addr: required/);
  assert.equal(stored(), before);
  // n = 0 with no columns is an empty batch, not an error
  const none = await post('/api/v1/ingest/flows', batchDoc(0, {}));
  assert.deepEqual([none.status, none.json.stored], [200, 0]);
});

test('agent batch: a row with a null address is rejected by row and column; the others are stored', async () => {
  const before = stored();
  const res = await post(
    '/api/v1/ingest/flows',
    batchDoc(3, { src_addr: ['10.0.0.1', null, '10.0.0.3'], dst_addr: ['10.0.0.9', '10.0.0.9', null] }),
  );
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.stored, 1);
  assert.deepEqual(
    (res.json.rejected as { row: number; column: string }[]).map((r) => [r.row, r.column]),
    [
      [1, 'src_addr'],
      [2, 'dst_addr'],
    ],
  );
  assert.equal(stored(), before + 1);
});

test('agent batch: a column agents do not fill (tenant, ti_feeds, direction, in_if) is 400 naming it', async () => {
  const before = stored();
  const addrs = { src_addr: ['10.0.0.1'], dst_addr: ['10.0.0.2'] };
  for (const [name, value] of [
    ['tenant', 'other'],
    ['ti_feeds', ['fake']],
    ['direction', 'internal'],
    ['src_country', 'XX'],
    ['in_if', 3],
  ] as const) {
    const res = await post('/api/v1/ingest/flows', batchDoc(1, { ...addrs, [name]: [value] }));
    assert.equal(res.status, 400, name);
    assert.match(
      String(res.json.error),
      new RegExp(`^columns\\.${name}: column ${name} is .*not accepted from agents`),
    );
  }
  assert.equal(stored(), before);
});

test("agent batch: every column the agent's meter and identity stamping fill is accepted", async () => {
  const b = new FlowBatch(4);
  const r = b.addRow();
  b.setNum(C.time_start, r, 1_700_000_000_000);
  b.setNum(C.time_end, r, 1_700_000_000_500);
  b.setNum(C.time_received, r, 1_700_000_001_000);
  b.setEnum(C.source_type, r, 'agent');
  b.setString(C.exporter, r, 'web-01');
  b.setString(C.exporter_name, r, 'web-01');
  b.setIPv4(C.src_addr, r, 0x0a000001);
  b.setIPv4(C.dst_addr, r, 0x0a000002);
  for (const [c, v] of [
    [C.src_port, 40000],
    [C.dst_port, 443],
    [C.proto, 17],
    [C.icmp_type, 0],
    [C.icmp_code, 0],
    [C.bytes, 1500],
    [C.packets, 2],
    [C.rev_bytes, 900],
    [C.rev_packets, 1],
    [C.tcp_flags, 0],
    [C.tos, 0],
    [C.ip_version, 4],
    [C.src_mac, 0x0200_0000_0001],
    [C.dst_mac, 0x0200_0000_0002],
    [C.vlan, 10],
  ])
    b.setNum(c, r, v);
  b.setEnum(C.flow_state, r, 'end');
  b.setEnum(C.end_reason, r, 'idle');
  b.setNum(C.biflow, r, 1);
  b.setString(C.app, r, 'quic');
  b.setString(C.tls_sni, r, 'example.com');
  b.setString(C.dns_qname, r, 'example.com');
  b.setString(C.http_host, r, 'example.com');
  for (const c of [C.instance_id, C.account_id, C.region, C.zone]) b.setString(c, r, 'x');
  const res = await post('/api/v1/ingest/flows', encodeBatch(b, { agent: 'web-01', epoch: 'e', seq: 1 }));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual([res.json.stored, res.json.rejected_total], [1, 0]);
});

test('NDJSON: a line with a column only enrichment fills is rejected naming it; the others are stored', async () => {
  const before = stored();
  const ok = '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","bytes":10}';
  const lines = [
    ok,
    '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","tenant":"other"}',
    '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","ti_feeds":["fake"]}',
    '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","src_country":"XX"}',
    '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","exporter_name":"spoofed"}',
    ok,
  ];
  const res = await post('/api/v1/ingest/ndjson', lines.join('\n'));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.stored, 2);
  const rejected = res.json.rejected as { line: number; error: string }[];
  assert.deepEqual(
    rejected.map((r) => r.line),
    [2, 3, 4, 5],
  );
  assert.match(rejected[0].error, /^tenant: column tenant is filled by the server's enrichment/);
  assert.match(rejected[1].error, /^ti_feeds: column ti_feeds is filled by the server's enrichment/);
  assert.match(rejected[2].error, /^src_country: /);
  assert.match(rejected[3].error, /^exporter_name: column exporter_name is not accepted from HTTP ingest/);
  assert.equal(stored(), before + 2);
  // nothing stored carries a tenant or a feed
  for (const b of sink.batches)
    for (let r = 0; r < b.length; r++) {
      assert.equal(b.valid[C.tenant][r], 0);
      assert.equal(b.valid[C.ti_feeds][r], 0);
    }
});

/** One row with every column filled (the `keep` ones), each with a value typical of its type. */
function fullRow(keep: (def: ColumnDef) => boolean): FlowBatch {
  const b = new FlowBatch(2);
  const r = b.addRow();
  const defs = allColumns();
  for (let c = 0; c < defs.length; c++) {
    const def = defs[c];
    if (!keep(def)) continue;
    switch (def.type) {
      case 'time':
        b.setNum(c, r, 1_700_000_000_123 + c);
        break;
      case 'u8':
        b.setNum(c, r, 200);
        break;
      case 'u16':
        b.setNum(c, r, 65_000);
        break;
      case 'u32':
        b.setNum(c, r, 4_000_000_000);
        break;
      case 'u64':
        b.setNum(c, r, 2 ** 53 - 1 - c);
        break;
      case 'addr':
        if (c % 2) b.setIPv4(c, r, 0xc0000200 + c);
        else {
          (b.data[c] as Uint32Array).set([0x20010db8, 0, 0, c], r * 4);
          b.valid[c][r] = 1;
        }
        break;
      case 'mac':
        b.setNum(c, r, 0x0a1b2c3d4e00 + c);
        break;
      case 'bool':
        b.setNum(c, r, 1);
        break;
      case 'enum':
        b.setNum(c, r, (def.enumValues?.length ?? 1) - 1);
        break;
      case 'string':
        b.setString(c, r, `${def.name} "quoted" \\ é\n`);
        break;
      case 'list':
        b.setList(c, r, [`${def.name}-a`, 'b, "c"']);
        break;
    }
  }
  return b;
}

test('parseMac reads what formatMac writes, and the usual other spellings', () => {
  assert.equal(parseMac('0a:1b:2c:3d:4e:5f'), 0x0a1b2c3d4e5f);
  assert.equal(parseMac('0A-1B-2C-3D-4E-5F'), 0x0a1b2c3d4e5f);
  assert.equal(parseMac('0a1b.2c3d.4e5f'), 0x0a1b2c3d4e5f);
  assert.equal(parseMac('ff:ff:ff:ff:ff:ff'), 0xffffffffffff);
  for (const bad of ['0a:1b:2c:3d:4e', '0a:1b-2c:3d:4e:5f', '0a:1b:2c:3d:4e:5g', '', '0a:1b:2c:3d:4e:5f:00'])
    assert.equal(parseMac(bad), null, bad);
});

test('every column type as the NDJSON forwarder writes it (ISO and ms times) is read back by writeCell', () => {
  const b = fullRow(() => true);
  for (const iso of [true, false]) {
    const text = rowJson(b, 0, iso);
    const back = new FlowBatch(2);
    const r = back.addRow();
    for (const [name, v] of Object.entries(JSON.parse(text) as Record<string, unknown>)) {
      const err = writeCell(back, columnIndex(name), r, v);
      assert.equal(err, undefined, `${name}: ${err}`);
    }
    assert.equal(rowJson(back, 0, iso), text);
  }
});

test("NDJSON ingest stores the forwarder's rows unchanged, every column HTTP ingest takes included", async () => {
  const types = new Set<string>();
  const b = fullRow((def) => {
    if (!def.sources.includes('http')) return false;
    types.add(def.type);
    return true;
  });
  // every type but list (only enrichment columns are lists) is among the columns HTTP ingest takes
  assert.deepEqual([...types].sort(), ['addr', 'bool', 'enum', 'mac', 'string', 'time', 'u16', 'u32', 'u64', 'u8']);
  for (const iso of [true, false]) {
    const line = rowJson(b, 0, iso);
    const res = await post('/api/v1/ingest/ndjson', `${line}\n`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual([res.json.stored, res.json.rejected], [1, []]);
    const last = sink.batches[sink.batches.length - 1];
    assert.equal(rowJson(last, last.length - 1, iso), line);
  }
});
