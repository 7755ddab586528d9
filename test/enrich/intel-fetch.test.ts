// Feed refresh over real HTTP (node:http on 127.0.0.1): ETag then 304, a 500 that keeps the last
// good copy, a changed body, a restart while the server is down (served from the disk cache), and
// a body that no longer parses (the last good copy stays).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FeedFetcher, IntelFeedSet } from '../../src/enrich/intel/fetch.js';
import { describe } from '../../src/enrich/intel/intel.js';

test('HTTP feed: ETag, 304, 500, changed body, cache at restart, broken body', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'intel-cache-'));
  let body = '; Spamhaus DROP\n198.51.100.0/24 ; SBL1\n';
  let etag = '"v1"';
  let mode: 'ok' | 'fail' | 'garbage' = 'ok';
  const seen: { inm: string | undefined; ims: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ inm: req.headers['if-none-match'], ims: req.headers['if-modified-since'] });
    if (mode === 'fail') {
      res.writeHead(500).end('boom');
      return;
    }
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { etag, 'last-modified': 'Wed, 01 May 2024 10:00:00 GMT', 'content-type': 'text/plain' });
    res.end(mode === 'garbage' ? '{"type":"bundle", ' : body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/drop.txt`;
  try {
    const spec = { name: 'drop', format: 'spamhaus' as const, location: url };
    const f = new FeedFetcher(spec, { cacheDir, timeoutMs: 5000 });
    assert.deepEqual(await f.refresh(), { feed: 'drop', status: 'updated', indicators: 1, warnings: 0 });
    assert.deepEqual(seen[0], { inm: undefined, ims: undefined });
    assert.equal((await f.refresh()).status, 'not-modified');
    assert.deepEqual(seen[1], { inm: '"v1"', ims: 'Wed, 01 May 2024 10:00:00 GMT' });
    mode = 'fail';
    const failed = await f.refresh();
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /HTTP 500/);
    assert.equal(failed.indicators, 1, 'last good copy kept');
    mode = 'ok';
    body = '198.51.100.0/24 ; SBL1\n203.0.113.0/24 ; SBL2\n';
    etag = '"v2"';
    const changed = await f.refresh();
    assert.equal(changed.status, 'updated');
    // handed over once, then only on disk (parsed again when a rebuild needs it)
    assert.deepEqual(
      f.take()?.indicators.map((i) => i.value),
      ['198.51.100.0/24', '203.0.113.0/24'],
    );
    assert.equal(f.take(), null);
    // a body that is not the format: refresh fails, the last good copy stays
    const stix = new FeedFetcher({ name: 'stix', format: 'stix', location: url }, { cacheDir });
    mode = 'garbage';
    etag = '"v3"';
    const bad = await stix.refresh();
    assert.equal(bad.status, 'failed');
    assert.match(bad.error ?? '', /invalid JSON/);
    assert.equal((await f.refresh()).status, 'failed');
    assert.equal(f.take(), null);
    assert.equal((await f.lastGood())?.indicators.length, 2);
    // restart while the URL is down: the last good copy on disk (v2) is used
    mode = 'fail';
    const set = new IntelFeedSet([spec], { cacheDir, timeoutMs: 5000 });
    const reports = await set.refreshDue(0);
    assert.equal(reports[0].status, 'from-cache');
    assert.match(reports[0].error ?? '', /HTTP 500/);
    assert.equal(describe(set.table, '203.0.113.9')[0]?.fields.ti_indicator, '203.0.113.0/24');
    // not due yet: nothing is fetched
    const before = seen.length;
    assert.deepEqual(await set.refreshDue(1000), []);
    assert.equal(seen.length, before);
  } finally {
    server.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('MISP: the events of one feed together are held to its byte limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'intel-misp-cap-'));
  try {
    const ids = Array.from({ length: 5 }, (_, i) => `5c0f1fa6-3e4c-4a1b-9a8f-8c0a3f8e3b0${i}`);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(Object.fromEntries(ids.map((u) => [u, { info: 'x' }]))));
    for (const uuid of ids) {
      const attrs = Array.from({ length: 40 }, (_, k) => ({ type: 'ip-dst', value: `192.0.2.${k}`, to_ids: true }));
      writeFileSync(
        join(dir, `${uuid}.json`),
        JSON.stringify({ Event: { uuid, threat_level_id: '1', Attribute: attrs } }),
      );
    }
    // each event (~2.5 kB) is under the limit, the five together are not
    const f = new FeedFetcher(
      { name: 'misp', format: 'misp', location: join(dir, 'manifest.json') },
      { cacheDir: dir, maxBytes: 8000 },
    );
    const r = await f.refresh();
    assert.equal(r.status, 'failed');
    assert.match(r.error ?? '', /events together are over the 8000-byte limit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file feeds: MISP feed directory (manifest + events), reread only when the file changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'intel-misp-'));
  try {
    const uuid = '5c0f1fa6-3e4c-4a1b-9a8f-8c0a3f8e3b01';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ [uuid]: { info: 'x', threat_level_id: 1 } }));
    const ev = (v: string) =>
      JSON.stringify({
        Event: { uuid, threat_level_id: '1', Attribute: [{ type: 'ip-dst', value: v, to_ids: true }] },
      });
    writeFileSync(join(dir, `${uuid}.json`), ev('192.0.2.10'));
    const f = new FeedFetcher(
      { name: 'misp', format: 'misp', location: join(dir, 'manifest.json') },
      { cacheDir: dir },
    );
    assert.equal((await f.refresh()).status, 'updated');
    assert.deepEqual(
      (await f.lastGood())?.indicators.map((i) => [
        i.value,
        i.confidence,
        i.source.endsWith(`${uuid}.json:${uuid}.Attribute[0]`),
      ]),
      [['192.0.2.10', 90, true]],
    );
    assert.equal((await f.refresh()).status, 'not-modified');
    const missing = new FeedFetcher({ name: 'x', format: 'list', location: join(dir, 'nope.txt') }, { cacheDir: dir });
    const r = await missing.refresh();
    assert.equal(r.status, 'failed');
    assert.match(r.error ?? '', /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
