// Memory held by each enrichment table once loaded (issue 5: "memory for those tables below 500 MB"
// with 1 M prefixes, 100 k assets, 1 M indicators and geo). Each table is loaded through the
// manager (Enrichment.load with only that source configured) in a fresh process run with
// --expose-gc, so nothing of another table or of a previous measurement is counted: the figures are
// the growth of the main thread's heap after a full collection, the bytes of the table's typed
// arrays (counted by walking the table: buffers transferred from a loader thread are not in
// process.memoryUsage().arrayBuffers), and the growth of the process's RSS, which holds everything
// — main thread, loader threads, the pages V8 keeps after a peak. Loader threads are ended after a
// load (ranges/assets) or after a refresh that parsed (intel); if one is still running its heap is
// reported. For intel, a reload (the feed changed by one line) is measured too: the peak RSS while
// the worker parses and builds 1 M indicators and the main thread rebuilds the strings, and the
// RSS once it is over.

import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { IntelFeedWorker } from '../src/enrich/intel/remote.js';
import { Enrichment } from '../src/enrich/manager.js';
import { defaultEnrichSettings, type EnrichSettings } from '../src/enrich/settings.js';
import { rng } from '../test/helpers/rng.js';
import { files } from './enrich.bench.js';
import type { BenchResult } from './harness.js';

type Kind = 'ranges' | 'assets' | 'geo' | 'intel' | 'all';

function settingsFor(kind: Kind, dir: string, feed: string): EnrichSettings {
  const s = defaultEnrichSettings();
  if (kind === 'ranges' || kind === 'all') {
    s.ranges = [join(dir, 'ranges.csv')];
    s.networks = ['10.0.0.0/8'];
  }
  if (kind === 'assets' || kind === 'all') s.assets = [join(dir, 'assets.csv')];
  if (kind === 'geo' || kind === 'all') s.geo = true;
  if (kind === 'intel' || kind === 'all') s.intel = [{ name: 'bench', location: feed, format: 'list' }];
  return s;
}

interface Measured {
  kind: Kind;
  heapMB: number;
  /** Typed arrays of the tables in use (walked). */
  buffersMB: number;
  rssMB: number;
  loadS: number;
  /** Heap of the intel loader thread if it is still running (else 0). */
  workerHeapMB: number;
  reload?: { peakRssMB: number; afterRssMB: number; seconds: number };
}

/** Bytes of every typed array reachable from `v` (each buffer once; tables are a few levels deep). */
function typedBytes(v: unknown, seen = new Set<unknown>(), depth = 0): number {
  if (v === null || typeof v !== 'object' || seen.has(v) || depth > 4) return 0;
  seen.add(v);
  if (ArrayBuffer.isView(v)) {
    if (seen.has(v.buffer)) return 0;
    seen.add(v.buffer);
    return v.buffer.byteLength;
  }
  if (v instanceof Map || typeof (v as { length?: unknown }).length === 'number') return 0;
  let n = 0;
  for (const x of Object.values(v)) n += typedBytes(x, seen, depth + 1);
  return n;
}

/** In the child: load one kind and print what it holds. */
async function child(kind: Kind, dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  // a copy of the feed per process: the reload below changes it
  const feed = join(dir, `feed-${process.pid}.txt`);
  copyFileSync(join(dir, 'feed.txt'), feed);
  const e = new Enrichment(settingsFor(kind, dir, feed), { cacheDir: join(dir, `cache-${process.pid}`) });
  await e.load();
  const loadS = (performance.now() - t0) / 1000;
  for (const s of e.status()) if (s.error) throw new Error(`${s.kind}: ${s.error}`);
  // let loader threads settle (their garbage is collected by their own isolates)
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(200);
  }
  const m1 = process.memoryUsage();
  const mb = (x: number) => x / 2 ** 20;
  const feeds = (e as unknown as { feeds: IntelFeedWorker | null }).feeds;
  const out: Measured = {
    kind,
    heapMB: mb(m1.heapUsed - m0.heapUsed),
    buffersMB: mb(typedBytes(e.tables)),
    rssMB: mb(m1.rss - m0.rss),
    loadS,
    workerHeapMB: mb((await feeds?.loaderHeapUsed()) ?? 0),
  };
  if (feeds !== null) {
    appendFileSync(feed, '192.0.2.77\n');
    let peak = 0;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const t1 = performance.now();
    // two hours on: the feed is due
    await feeds.refreshDue(Date.now() + 7_200_000);
    const seconds = (performance.now() - t1) / 1000;
    clearInterval(sample);
    for (let i = 0; i < 5; i++) {
      gc();
      await sleep(200);
    }
    out.reload = { peakRssMB: mb(peak - m0.rss), afterRssMB: mb(process.memoryUsage().rss - m0.rss), seconds };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  e.close();
  // the table stays referenced until here
  if (e.status().length === 0) process.stdout.write('');
  process.exit(0);
}

export function measureKind(kind: Kind, dir: string): Measured {
  const self = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, ['--expose-gc', self, kind, dir], { maxBuffer: 1 << 20 }).toString();
  return JSON.parse(out.trim().split('\n').pop() as string) as Measured;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enrich-mem-'));
  try {
    files(dir, rng(7));
    const out: BenchResult[] = [];
    for (const kind of ['ranges', 'assets', 'geo', 'intel', 'all'] as const) {
      const m = measureKind(kind, dir);
      out.push({
        name: `enrichment memory: ${kind} (heap + typed arrays, main thread)`,
        value: m.heapMB + m.buffersMB,
        unit: 'MB',
        detail: `heap ${m.heapMB.toFixed(0)} + typed arrays ${m.buffersMB.toFixed(0)}; intel loader thread heap ${m.workerHeapMB.toFixed(0)}; process RSS +${m.rssMB.toFixed(0)} MB (everything); load ${m.loadS.toFixed(1)} s`,
      });
      out.push({ name: `enrichment memory: ${kind} (process RSS growth)`, value: m.rssMB, unit: 'MB' });
      if (m.reload !== undefined)
        out.push({
          name: `enrichment memory: ${kind}, intel reload (peak process RSS growth)`,
          value: m.reload.peakRssMB,
          unit: 'MB',
          detail: `after the reload +${m.reload.afterRssMB.toFixed(0)} MB; reload ${m.reload.seconds.toFixed(1)} s`,
        });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.length >= 4) {
  await child(process.argv[2] as Kind, process.argv[3]);
}
