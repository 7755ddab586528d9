// Threat-intel feeds loaded in a worker thread (issue 5: "a reload of 1 M indicators under load
// causes zero flow loss"): the table that crosses from the worker is the table IntelFeedSet builds
// in-thread, and a real `flowwatch serve` reloading a feed while flows stream in stores every flow
// sent, drops none, and marks the flows received after the reload with the new indicators.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { intelFeedText } from '../../bench/enrich-reload.bench.js';
import { IntelFeedSet } from '../../src/enrich/intel/fetch.js';
import type { IntelTable } from '../../src/enrich/intel/intel.js';
import { IntelFeedWorker } from '../../src/enrich/intel/remote.js';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { DEFAULT_BATCH_CAPACITY, FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { needsData } from '../helpers/data.js';
import { FLOWGEN, post, reloadUnderLoad } from '../helpers/reload-under-load.js';
import type { ServeProcess } from '../helpers/server.js';

/** Every part of a table, as plain values (typed arrays as arrays, Maps as sorted entries). */
function plain(t: IntelTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) {
    if (k === 'skipped') continue;
    if (ArrayBuffer.isView(v)) out[k] = Array.from(v as Uint32Array);
    else if (v instanceof Map) out[k] = [...v.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    else out[k] = v;
  }
  return out;
}

test('the table built in the worker equals the one IntelFeedSet builds in-thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-worker-'));
  const feed = join(dir, 'feed.txt');
  // mixed kinds, plus URLs (one with a non-ASCII path: the packed strings are then not ASCII)
  const urls = ['http://evil.test/dropper.exe', 'https://cdn.bad7.test/ü/payload?x=1', 'http://203.0.113.9:8080/a'];
  writeFileSync(feed, `${intelFeedText(20_000, 7)}${urls.join('\n')}\n`);
  const specs = [{ name: 'mixed', format: 'list' as const, location: feed }];
  const local = new IntelFeedSet(specs, { cacheDir: join(dir, 'c1') });
  const remote = new IntelFeedWorker(specs, { cacheDir: join(dir, 'c2'), sliceMs: 1 });
  try {
    let a: IntelTable | undefined;
    let b: IntelTable | undefined;
    const ra = await local.refreshDue(0, (t) => {
      a = t;
    });
    const rb = await remote.refreshDue(0, (t) => {
      b = t;
    });
    assert.deepEqual(rb, ra);
    assert.ok(a && b);
    assert.equal(b.size, 20_003);
    assert.deepEqual(plain(b), plain(a));
    // lookups through the rebuilt name indexes
    assert.equal(b.indicatorText(b.lookupDomain('cdn.bad7.test')), a.indicatorText(a.lookupDomain('cdn.bad7.test')));
    // nothing changed: no new table; the file replaced: a new one with its indicators
    let again = 0;
    const same = await remote.refreshDue(3_601_000, () => again++);
    assert.deepEqual(
      same.map((r) => r.status),
      ['not-modified'],
    );
    assert.equal(again, 0);
    writeFileSync(feed, 'evil.example\n198.51.100.7\n');
    let c: IntelTable | undefined;
    await remote.refreshDue(7_202_000, (t) => {
      c = t;
    });
    assert.equal(c?.size, 2);
    assert.equal(remote.table, c);
    // the thread that built the first table was ended; the one that found nothing changed was kept
    // for the next check, and ended after it built
    assert.equal(remote.workersStarted, 2);
    assert.equal(remote.loaderAlive, false);
  } finally {
    await remote.stop();
  }
  // stopped: refreshes fail (with the reason) rather than start another thread
  const r = await remote.refreshDue(10_000_000);
  assert.equal(r[0].status, 'failed');
  assert.match(r[0].error ?? '', /stopped/);
  assert.equal(remote.workersStarted, 2);
});

test("a STIX feed crosses from the worker with every indicator's source (packed, not a cloned Map)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-stix-'));
  const feed = join(dir, 'bundle.json');
  const objects = Array.from({ length: 3000 }, (_, i) => ({
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    created: '2024-01-01T00:00:00.000Z',
    modified: '2024-01-01T00:00:00.000Z',
    pattern: `[ipv4-addr:value = '198.51.${i >> 8}.${i & 255}']`,
    pattern_type: 'stix',
    valid_from: '2024-01-01T00:00:00Z',
  }));
  writeFileSync(feed, JSON.stringify({ type: 'bundle', id: 'bundle--1', objects }));
  const specs = [{ name: 'stix', format: 'stix' as const, location: feed }];
  const local = new IntelFeedSet(specs, { cacheDir: join(dir, 'c1') });
  const remote = new IntelFeedWorker(specs, { cacheDir: join(dir, 'c2'), sliceMs: 1 });
  try {
    let a: IntelTable | undefined;
    let b: IntelTable | undefined;
    await local.refreshDue(0, (t) => {
      a = t;
    });
    await remote.refreshDue(0, (t) => {
      b = t;
    });
    assert.ok(a && b);
    assert.equal(b.size, 3000);
    assert.equal(b.entrySourceText.size, 3000);
    assert.deepEqual(plain(b), plain(a));
  } finally {
    await remote.stop();
  }
});

test('a feed that fails in the worker keeps the last good table and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-worker-'));
  const feed = join(dir, 'feed.txt');
  writeFileSync(feed, '192.0.2.1\n');
  const remote = new IntelFeedWorker([{ name: 'f', format: 'list', location: feed }], { cacheDir: dir });
  try {
    await remote.refreshDue(0);
    const good = remote.table;
    // nothing parses and something is wrong: a broken download, refused (fetch.ts)
    writeFileSync(feed, 'not an indicator\n');
    let swapped = false;
    const r = await remote.refreshDue(3_601_000, () => {
      swapped = true;
    });
    assert.equal(r[0].status, 'failed');
    assert.match(r[0].error ?? '', /no indicators/);
    assert.equal(swapped, false);
    assert.equal(remote.table, good);
    assert.equal(remote.lastReports.get('f')?.status, 'failed');
  } finally {
    await remote.stop();
  }
});

test('a loader thread over its heap limit fails the refresh and the last good table stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-oom-'));
  const feed = join(dir, 'feed.txt');
  writeFileSync(feed, '192.0.2.1\n');
  // 16 MB: a two-line feed loads, 300 k indicators cannot be built within it
  const remote = new IntelFeedWorker([{ name: 'f', format: 'list', location: feed, refreshSeconds: 1 }], {
    cacheDir: join(dir, 'cache'),
    maxHeapMb: 16,
  });
  try {
    await remote.refreshDue(0);
    const good = remote.table;
    assert.equal(good.size, 1);
    writeFileSync(feed, intelFeedText(300_000, 3));
    const r = await remote.refreshDue(2000);
    assert.equal(r[0].status, 'failed');
    assert.match(r[0].error ?? '', /out of memory|heap/i);
    assert.equal(remote.table, good);
    // a feed that fits again: the next refresh (a new thread) loads it
    writeFileSync(feed, '192.0.2.1\n198.51.100.7\n');
    const again = await remote.refreshDue(200_000);
    assert.equal(again[0].status, 'updated');
    assert.equal(remote.table.size, 2);
    assert.equal(remote.workersStarted, 3);
  } finally {
    await remote.stop();
  }
});

test('a loader thread that dies after saving a new copy: the next refresh builds the table from it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-died-'));
  const feed = join(dir, 'feed.txt');
  const cache = join(dir, 'cache');
  writeFileSync(feed, '192.0.2.1\n');
  const remote = new IntelFeedWorker([{ name: 'f', format: 'list', location: feed, refreshSeconds: 1 }], {
    cacheDir: cache,
  });
  try {
    await remote.refreshDue(0);
    assert.equal(remote.table.size, 1);
    const metaFile = join(cache, readdirSync(cache).find((f) => f.endsWith('meta.json')) ?? 'missing');
    const metaBefore = readFileSync(metaFile, 'utf8');
    // the thread saves the new copy (body, then meta) before it builds 400 k indicators (~1 s):
    // kill it once the meta file changes, as an out-of-memory death in the build would
    writeFileSync(feed, intelFeedText(400_000, 5));
    const refresh = remote.refreshDue(2000);
    const internals = remote as unknown as { worker: { terminate(): Promise<number> } | null };
    while (readFileSync(metaFile, 'utf8') === metaBefore) await new Promise((r) => setTimeout(r, 2));
    await internals.worker?.terminate();
    const r = await refresh;
    assert.equal(r[0].status, 'failed');
    assert.equal(remote.table.size, 1);
    // nothing changed since: a new thread must still build from the saved copy, not find it "not modified"
    const again = await remote.refreshDue(200_000);
    assert.notEqual(again[0].status, 'failed', again[0].error ?? '');
    assert.equal(remote.table.size, 400_000);
  } finally {
    await remote.stop();
  }
});

test('a heap probe of the loader thread during a refresh gets its answer, and the refresh its own', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-probe-'));
  const feed = join(dir, 'feed.txt');
  writeFileSync(feed, '192.0.2.1\n');
  const remote = new IntelFeedWorker([{ name: 'f', format: 'list', location: feed, refreshSeconds: 1 }], {
    cacheDir: join(dir, 'cache'),
  });
  try {
    await remote.refreshDue(0); // the thread is kept: nothing was parsed at the next check
    await remote.refreshDue(2000);
    assert.equal(remote.loaderAlive, true);
    writeFileSync(feed, intelFeedText(100_000, 9));
    // the probe first, the refresh right behind it: each reply must reach its own request
    const probe = remote.loaderHeapUsed();
    const refresh = remote.refreshDue(4000);
    const heap = await probe;
    assert.ok(heap !== null && heap > 0);
    const r = await refresh;
    assert.equal(r[0].status, 'updated');
    assert.equal(remote.table.size, 100_000);
  } finally {
    await remote.stop();
  }
});

test('ETag and Last-Modified survive the loader thread and a restart: the next GET is conditional and answered 304', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-etag-'));
  const body = '198.51.100.0/24\n203.0.113.5\n';
  const seen: { inm?: string; ims?: string; status: number }[] = [];
  const server = createServer((req, res) => {
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    const status = inm === '"e1"' ? 304 : 200;
    seen.push({ inm, ims, status });
    if (status === 304) res.writeHead(304).end();
    else res.writeHead(200, { etag: '"e1"', 'last-modified': 'Wed, 01 May 2024 10:00:00 GMT' }).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.txt`;
  const specs = [{ name: 'h', format: 'list' as const, location: url, refreshSeconds: 60 }];
  const opts = { cacheDir: join(dir, 'cache'), timeoutMs: 5000 };
  const a = new IntelFeedWorker(specs, opts);
  const b = new IntelFeedWorker(specs, opts);
  try {
    assert.equal((await a.refreshDue(0))[0].status, 'updated');
    assert.equal(a.loaderAlive, false);
    // a new thread: asks with the validators from the cache dir's metadata
    const r = await a.refreshDue(61_000);
    assert.deepEqual(r, [{ feed: 'h', status: 'not-modified', indicators: 2, warnings: 0 }]);
    assert.equal(a.workersStarted, 2);
    // a restarted process: conditional too, and its table comes from the cached copy
    const rb = await b.refreshDue(0);
    assert.deepEqual(rb, [{ feed: 'h', status: 'not-modified', indicators: 2, warnings: 0 }]);
    assert.equal(b.table.size, 2);
    assert.equal(b.table.lookupAddr(wordsOf('203.0.113.5'), 0) >= 0, true);
    assert.deepEqual(
      seen.map((x) => [x.inm, x.ims, x.status]),
      [
        [undefined, undefined, 200],
        ['"e1"', 'Wed, 01 May 2024 10:00:00 GMT', 304],
        ['"e1"', 'Wed, 01 May 2024 10:00:00 GMT', 304],
      ],
    );
  } finally {
    await a.stop();
    await b.stop();
    server.close();
  }
});

// ---- a reload under load, end to end

let server: ServeProcess | undefined;
after(() => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
});

/** Addresses of the flows in packets [from, to) (decoded in order: templates come first). */
function addrsOf(packets: Uint8Array[], from: number, to: number): Set<string> {
  const decoder = new FlowExportDecoder({ counters: new ExporterCounters() });
  const skip = new CollectingSink(() => new FlowBatch(DEFAULT_BATCH_CAPACITY));
  const keep = new CollectingSink(() => new FlowBatch(DEFAULT_BATCH_CAPACITY));
  for (let i = 0; i < to; i++) decoder.decode(packets[i], '127.0.0.1', 0, i < from ? skip : keep);
  const out = new Set<string>();
  for (const b of keep.batches)
    for (let r = 0; r < b.length; r++)
      for (const col of [C.src_addr, C.dst_addr]) {
        const a = b.getAddr(col, r);
        if (a !== null && !a.startsWith('10.')) out.add(a);
      }
  return out;
}

test('flowwatch serve: a feed reload while 40 k flows/s stream in loses no flow and marks the later flows', {
  skip: needsData() || undefined,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-intel-reload-'));
  const feed = join(dir, 'feed.txt');
  const oldText = intelFeedText(200_000, 11);
  writeFileSync(feed, oldText);
  // the stream: flowgen's NetFlow v9 packets (independent generator, counted by `flowgen info`)
  const pcap = join(dir, 'v9.pcap');
  const FLOWS = 200_000;
  execFileSync(process.execPath, [
    FLOWGEN,
    'gen',
    '--proto',
    'v9',
    '--flows',
    String(FLOWS),
    '--seed',
    '5',
    '--out',
    pcap,
  ]);
  const info = JSON.parse(execFileSync(process.execPath, [FLOWGEN, 'info', '--in', pcap]).toString()) as {
    flows: number;
  };
  const packets = [...readUdpPackets(readFileSync(pcap))].map((p) => p.payload);
  // new indicators: addresses of the stream's second half that the old feed does not list
  const oldTable = new IntelFeedSet([{ name: 'reload', format: 'list', location: feed }], { cacheDir: dir });
  await oldTable.refreshDue(0);
  const late = addrsOf(packets, packets.length >> 1, packets.length);
  const fresh = [...late].filter((a) => oldTable.table.lookupAddr(wordsOf(a), 0) < 0).slice(0, 300);
  assert.ok(fresh.length >= 100);

  const {
    server: srv,
    rewrittenAt,
    swappedAt,
  } = await reloadUnderLoad({
    dir,
    pcap,
    flows: info.flows,
    enrich: [
      '  reload_interval: 200ms',
      '  intel:',
      '    - name: reload',
      `      file: ${feed}`,
      '      format: list',
      '      refresh: 1s',
    ],
    rate: 40_000,
    replaceAfterMs: 2000,
    file: feed,
    newText: `${oldText}${fresh.join('\n')}\n`,
    started: (s) => {
      server = s;
    },
  });

  // the new indicators: flows received well after the reload carry them, none before it
  const inList = `[${fresh.join(', ')}]`;
  const q = await post(srv, '/api/v1/flows', {
    filter: `any addr in ${inList}`,
    fields: ['time_received', 'src_addr', 'dst_addr', 'ti_feeds', 'ti_indicator'],
    limit: 1_000_000,
  });
  let before = 0;
  let afterReload = 0;
  for (const r of q.rows) {
    const t = Number(r.time_received);
    const hit = Array.isArray(r.ti_feeds) && r.ti_feeds.includes('reload');
    if (t < rewrittenAt) {
      before++;
      assert.equal(hit, false, `flow received before the rewrite marked: ${JSON.stringify(r)}`);
    } else if (t > swappedAt) {
      afterReload++;
      assert.equal(hit, true, `flow received after the reload not marked: ${JSON.stringify(r)}`);
      assert.ok(fresh.includes(String(r.ti_indicator)) && [r.src_addr, r.dst_addr].includes(r.ti_indicator));
    }
  }
  assert.ok(before > 0 && afterReload > 0, `${before} before, ${afterReload} after`);
  // and the filter `ti` finds them too
  const ti = await post(srv, '/api/v1/flows', {
    filter: `ti and any addr in ${inList}`,
    fields: ['time_received'],
    limit: 1_000_000,
  });
  assert.ok(ti.rows.length >= afterReload);
  assert.equal(await srv.stop(), 0);
});

function wordsOf(a: string): Uint32Array {
  const p = a.split('.').map(Number);
  return Uint32Array.of(0, 0, 0xffff, ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0);
}
