// Memory held by each enrichment table once loaded (issue 5: "memory for those tables below 500 MB"
// with 1 M prefixes, 100 k assets, 1 M indicators and geo). Each table is loaded through the
// manager (Enrichment.load with only that source configured) in a fresh process run with
// --expose-gc, so nothing of another table or of a previous measurement is counted: the figures are
// the growth of the main thread's heap + array buffers after a full collection, and of the
// process's RSS (which also holds the loader threads' heaps: the intel worker keeps its state
// between refreshes).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Enrichment } from '../src/enrich/manager.js';
import { defaultEnrichSettings, type EnrichSettings } from '../src/enrich/settings.js';
import { rng } from '../test/helpers/rng.js';
import { files } from './enrich.bench.js';
import type { BenchResult } from './harness.js';

type Kind = 'ranges' | 'assets' | 'geo' | 'intel' | 'all';

function settingsFor(kind: Kind, dir: string): EnrichSettings {
  const s = defaultEnrichSettings();
  if (kind === 'ranges' || kind === 'all') {
    s.ranges = [join(dir, 'ranges.csv')];
    s.networks = ['10.0.0.0/8'];
  }
  if (kind === 'assets' || kind === 'all') s.assets = [join(dir, 'assets.csv')];
  if (kind === 'geo' || kind === 'all') s.geo = true;
  if (kind === 'intel' || kind === 'all')
    s.intel = [{ name: 'bench', location: join(dir, 'feed.txt'), format: 'list' }];
  return s;
}

interface Measured {
  kind: Kind;
  heapMB: number;
  buffersMB: number;
  rssMB: number;
  loadS: number;
}

/** In the child: load one kind and print what it holds. */
async function child(kind: Kind, dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const e = new Enrichment(settingsFor(kind, dir), { cacheDir: join(dir, `cache-${process.pid}`) });
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
  const out: Measured = {
    kind,
    heapMB: mb(m1.heapUsed - m0.heapUsed),
    buffersMB: mb(m1.arrayBuffers - m0.arrayBuffers),
    rssMB: mb(m1.rss - m0.rss),
    loadS,
  };
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
        name: `enrichment memory: ${kind} (heap + buffers, main thread)`,
        value: m.heapMB + m.buffersMB,
        unit: 'MB',
        detail: `heap ${m.heapMB.toFixed(0)} + buffers ${m.buffersMB.toFixed(0)}; process RSS +${m.rssMB.toFixed(0)} MB (loader threads included); load ${m.loadS.toFixed(1)} s`,
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
