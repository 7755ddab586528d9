// Objects an input cannot read must not stop it: a corrupt gzip file (or a gzip bomb) is one
// malformed object, named in an error, checkpointed as read, and the objects after it are stored.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { GunzipError, gunzip, MAX_GUNZIP_BYTES, maybeGunzip } from '../../src/ingest/gzip.js';
import { DirectoryLister } from '../../src/ingest/sources/directory.js';
import { parseLogObject } from '../../src/ingest/sources/parse.js';
import { LogSource } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { openStore } from '../../src/store/duckdb/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'fw-bad-objects-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** AWS VPC flow log lines (default format, version 2), `n` of them. */
export function awsLines(n: number, first = 0): string {
  let s =
    'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n';
  for (let i = first; i < first + n; i++)
    s += `2 123456789010 eni-1235b8ca123456789 172.31.16.${i % 250} 172.31.16.21 ${20000 + i} 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n`;
  return s;
}

/** A gzip stream whose deflate data is damaged (the header is intact, so it is still seen as gzip). */
function corruptGzip(): Uint8Array {
  const g = Buffer.from(gzipSync(Buffer.from(awsLines(200))));
  for (let i = 20; i < 60; i++) g[i] ^= 0x55;
  return g;
}

test('gunzip: a corrupt stream and one past the limit are GunzipErrors; a cut stream gives what it holds', () => {
  assert.throws(
    () => gunzip(corruptGzip()),
    (e) => e instanceof GunzipError && /not a readable gzip stream/.test(e.message),
  );
  assert.throws(() => maybeGunzip(corruptGzip()), GunzipError);
  // Many times the limit from a small stream: refused with the limit named, not inflated.
  const bomb = gzipSync(Buffer.alloc(8 << 20));
  assert.ok(bomb.length < 64 << 10);
  assert.throws(
    () => gunzip(bomb, 1 << 20),
    (e) => e instanceof GunzipError && /more than 1048576 bytes/.test(e.message),
  );
  assert.equal(gunzip(bomb, 8 << 20).data.length, 8 << 20);
  assert.equal(MAX_GUNZIP_BYTES, 1 << 30);
  const whole = gzipSync(Buffer.from(awsLines(2000)));
  const cut = gunzip(whole.subarray(0, whole.length >> 1));
  assert.ok(cut.data.length > 0);
  assert.match(cut.truncated ?? '', /gzip stream is truncated/);
  const plain = Buffer.from('not gzip');
  assert.equal(maybeGunzip(plain), plain);
});

test('parseLogObject: a corrupt .gz is one malformed object named in an error, never a throw', async () => {
  const sink = new CollectingSink(() => new FlowBatch(64));
  const r = await parseLogObject('logs/a.log.gz', corruptGzip(), 0, sink);
  assert.equal(r.flows, 0);
  assert.equal(r.malformed, 1);
  assert.equal(r.format, null);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /^logs\/a\.log\.gz: not a readable gzip stream/);
  // Forced format: the same.
  const f = await parseLogObject('a.log.gz', corruptGzip(), 0, sink, 'aws-vpc');
  assert.equal(f.malformed, 1);
  // gzip inside gzip: not handed to a parser (it would inflate the inner stream without a limit).
  const twice = await parseLogObject('b.log.gz.gz', gzipSync(gzipSync(Buffer.from(awsLines(3)))), 0, sink);
  assert.equal(twice.malformed, 1);
  assert.match(twice.errors[0], /gzip inside gzip/);
  // A cut stream: its whole lines are read, the cut is said.
  const whole = gzipSync(Buffer.from(awsLines(2000)));
  const cut = await parseLogObject('c.log.gz', whole.subarray(0, whole.length >> 1), 0, sink);
  assert.ok(cut.flows > 0);
  assert.ok(cut.errors.some((e) => /^c\.log\.gz: gzip stream is truncated/.test(e)));
  assert.equal(sink.rows, cut.flows);
});

test('directory input: a corrupt a.log.gz is reported and checkpointed, b.log after it is stored', async () => {
  const drop = join(tmp, 'drop');
  const data = join(tmp, 'data');
  mkdirSync(drop, { recursive: true });
  writeFileSync(join(drop, 'a.log.gz'), corruptGzip());
  writeFileSync(join(drop, 'b.log'), awsLines(5));
  let clock = 1_000_000;
  const run = async () => {
    const store = await openStore({ dir: data });
    const errors: string[] = [];
    const source = new LogSource({
      name: 'drop',
      lister: new DirectoryLister({ dir: drop, settleMs: 1000, now: () => clock }),
      store,
      counters: new ExporterCounters(),
      now: () => clock,
      onError: (m) => errors.push(m),
    });
    await source.runOnce(); // first sight: not settled yet
    clock += 1000;
    const stats = { ...(await source.runOnce()) };
    await source.stop();
    const stored = await store.count();
    await store.close();
    return { stats, errors, stored };
  };
  const a = await run();
  assert.equal(a.stats.objects, 2);
  assert.equal(a.stats.malformed, 1);
  assert.equal(a.stats.flows, 5);
  assert.equal(a.stored, 5);
  assert.ok(
    a.errors.some((e) => /^a\.log\.gz: not a readable gzip stream/.test(e)),
    a.errors.join('\n'),
  );
  // Checkpointed as read: a restart does not try it again.
  const b = await run();
  assert.equal(b.stats.objects, 0);
  assert.equal(b.stats.skipped, 2);
  assert.deepEqual(b.errors, []);
  assert.equal(b.stored, 5);
});
