// stop() ends a pass after the object being read: serve's shutdown must not wait for a first pass
// over a large bucket. The objects not read yet are read at the next start, each once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LogSource, type ObjectLister } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { openStore } from '../../src/store/duckdb/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'fw-stop-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

function vpcLog(i: number): Uint8Array {
  const lines = [HEADER];
  for (let k = 0; k < 10; k++)
    lines.push(
      `2 123456789010 eni-${i} 10.0.${i}.${k} 10.1.0.1 ${1000 + k} 443 6 1 40 1418530010 1418530070 ACCEPT OK`,
    );
  return new TextEncoder().encode(`${lines.join('\n')}\n`);
}

test('stop() during a pass ends it after the object being read; the next start reads the rest once', async () => {
  const N = 60;
  const keys = Array.from({ length: N }, (_, i) => `logs/${String(i).padStart(3, '0')}.log`);
  let reads = 0;
  let stopping: Promise<void> | undefined;
  let source: LogSource | undefined;
  const lister: ObjectLister = {
    description: 'memory',
    list: async () => keys.map((key) => ({ key, size: 1, version: '1' })),
    read: async (o) => {
      reads++;
      // the shutdown arrives while the fourth object is read
      if (reads === 4 && source !== undefined) stopping = source.stop();
      return vpcLog(keys.indexOf(o.key));
    },
  };
  const store = await openStore({ dir: join(tmp, 'data') });
  try {
    source = new LogSource({ name: 'stop', lister, store, counters: new ExporterCounters() });
    source.start();
    while (stopping === undefined) await new Promise((r) => setTimeout(r, 5));
    await stopping;
    assert.ok(reads <= 5, `${reads} objects read after stop()`);
    assert.equal(await store.count(), reads * 10);
    // the next start: the rest, and nothing twice
    const again = new LogSource({ name: 'stop', lister, store, counters: new ExporterCounters() });
    await again.runOnce();
    await again.stop();
    assert.equal(await store.count(), N * 10);
  } finally {
    await store.close();
  }
});
