// A watched directory into the store: every corpus cloud log (AWS text, gzip and plain; Azure NSG
// and VNet) dropped into nested folders arrives once — the store's count per exporter and start
// time equals a direct parse of each file — a second run reads nothing, a file that grows has only
// its new records read, and a file still changing is left until it settles.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DirectoryLister } from '../../src/ingest/sources/directory.js';
import { LogSource } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { dataPath, needsData } from '../helpers/data.js';
import { directCounts, sorted, storeCounts } from './expect.js';

const skip = needsData();
const tmp = mkdtempSync(join(tmpdir(), 'fw-dir-source-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The corpus files under their drop-folder names. */
function corpus(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const f of readdirSync(dataPath('cloud', 'aws'))) {
    const b = readFileSync(dataPath('cloud', 'aws', f));
    out.push(f.includes('v2') ? [`aws/2024/01/02/${f}`, b] : [`aws/2024/01/03/${f}.gz`, gzipSync(b)]);
  }
  for (const f of readdirSync(dataPath('cloud', 'azure')))
    out.push([`azure/h=01/${f}`, readFileSync(dataPath('cloud', 'azure', f))]);
  return out;
}

test('directory input: each file once, nothing twice, growth read once, unsettled files wait', { skip }, async () => {
  const drop = join(tmp, 'drop');
  const data = join(tmp, 'data');
  const files = corpus();
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(drop, name)), { recursive: true });
    writeFileSync(join(drop, name), bytes);
  }
  writeFileSync(join(drop, '.hidden.log'), 'not read');
  let clock = 1_000_000;
  const run = async () => {
    const store = await openStore({ dir: data });
    const source = new LogSource({
      name: 'drop',
      lister: new DirectoryLister({ dir: drop, settleMs: 1000, now: () => clock }),
      store,
      counters: new ExporterCounters(),
      now: () => clock,
    });
    const first = { ...(await source.runOnce()) };
    clock += 1000;
    const second = { ...(await source.runOnce()) };
    await source.stop();
    await store.close();
    return { first, second };
  };

  const a = await run();
  assert.equal(a.first.objects, 0, 'first sight of each file: not settled yet');
  assert.equal(a.second.objects, files.length);
  assert.equal(a.second.errors, 0);
  const expected = await directCounts(files);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

  const b = await run();
  assert.equal(b.second.objects, 0);
  assert.equal(b.second.skipped, files.length);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

  // Growth: two more records appended to a plain log; only they are new.
  const grown = files.find(([n]) => !n.endsWith('.gz') && n.startsWith('aws/')) as [string, Uint8Array];
  const extra =
    '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530130 1418530190 ACCEPT OK\n' +
    '2 123456789010 eni-1235b8ca123456789 172.31.16.21 172.31.16.139 22 20641 6 20 4249 1418530130 1418530190 ACCEPT OK\n';
  appendFileSync(join(drop, grown[0]), extra);
  clock += 5000;
  const c = await run();
  assert.equal(c.second.objects, 1);
  assert.equal(c.second.flows, 2);
  assert.ok(c.second.resumedRows > 0);
  await directCounts([[grown[0], Buffer.from(extra)]], expected);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));

  // A file still being written: read only once it has stopped changing for settleMs.
  const late = join(drop, 'aws', 'late.log');
  const text = readFileSync(dataPath('cloud', 'aws', 'vpcflow-v2-default-format-doc-examples.log'), 'utf8');
  writeFileSync(late, text.slice(0, 40));
  const store = await openStore({ dir: data });
  const lister = new DirectoryLister({ dir: drop, settleMs: 1000, now: () => clock });
  const source = new LogSource({ name: 'drop', lister, store, counters: new ExporterCounters(), now: () => clock });
  await source.runOnce();
  clock += 600;
  writeFileSync(late, text);
  assert.equal((await source.runOnce()).objects, 0);
  clock += 600;
  assert.equal((await source.runOnce()).objects, 0, 'changed 600 ms ago');
  clock += 1000;
  assert.equal((await source.runOnce()).objects, 1);
  assert.equal(source.stats.malformed, 0);
  await source.stop();
  await store.close();
  await directCounts([['late.log', Buffer.from(text)]], expected);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(expected));
});
