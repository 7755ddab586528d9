// The main thread's stall while 1 M threat-intel indicators are reloaded (issue 5: a reload under
// load must not lose flows). `flowwatch serve` reads its UDP sockets on the event loop, so the
// longest time the loop is blocked is what the kernel socket buffer must absorb.
//
// A list feed of 1 M mixed indicators (60 % IPv4, 15 % IPv4 CIDRs, 10 % IPv6, 5 % IPv6 prefixes,
// 10 % domains) is loaded, the file is replaced by another 1 M, and the reload is timed with a 1 ms
// heartbeat on the main thread (the largest gap between beats = the longest stall) for:
//   (a) in-thread: IntelFeedSet — read, parse and build on the event loop (before)
//   (b) worker:    IntelFeedWorker — the same in a worker thread, the table transferred (after)
// and the time from the reload's start until the new table is handed over for use, and the main
// thread's busy time (event-loop utilisation) over the reload. A heartbeat alone gives the noise
// floor: on a shared machine the main thread is also descheduled while other processes run.
//
// The same for a reload of 1 M IP ranges (bench/enrich.bench.ts's range file) through the file
// loader thread (FileTableLoader: read, parsed and built there with the address plan, the geography
// in use sent along as Enrichment does, the table and plan sent over).

import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { FileTableLoader } from '../src/enrich/file-loader.js';
import { loadGeoDb } from '../src/enrich/geo/index.js';
import { IntelFeedSet } from '../src/enrich/intel/fetch.js';
import type { IntelTable } from '../src/enrich/intel/intel.js';
import { IntelFeedWorker } from '../src/enrich/intel/remote.js';
import { AddressPlan, geoPlanInput } from '../src/enrich/plan.js';
import { rng } from '../test/helpers/rng.js';
import { files as enrichFiles } from './enrich.bench.js';
import type { BenchResult } from './harness.js';

const N = 1_000_000;

/** A plain-list feed of `n` mixed indicators (deterministic in `seed`), one per line. */
export function intelFeedText(n: number, seed: number): string {
  const next = rng(seed);
  const byte = () => Math.floor(next() * 256);
  const hex = () => Math.floor(next() * 65536).toString(16);
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    const x = k / n;
    // listed IPv4 space is 11/8–99/8: 10/8 and 198/8 stay unlisted for flows that must not match
    const a = 11 + Math.floor(next() * 89);
    if (x < 0.6) lines.push(`${a}.${byte()}.${byte()}.${byte()}`);
    else if (x < 0.75) {
      const len = 16 + Math.floor(next() * 15);
      const v = (a * 2 ** 24 + Math.floor(next() * 2 ** 24)) & ~(2 ** (32 - len) - 1);
      lines.push(`${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${len}`);
    } else if (x < 0.85) lines.push(`2001:db8:${hex()}:${hex()}::${hex()}`);
    else if (x < 0.9) lines.push(`2a0${Math.floor(next() * 10)}:${hex()}:${hex()}::/48`);
    else lines.push(`${hex()}${hex()}.bad${Math.floor(next() * 1000)}.test`);
  }
  return `${lines.join('\n')}\n`;
}

interface Loader {
  refreshDue(now: number, onTable?: (t: IntelTable) => void): Promise<unknown>;
}

/** Longest gap between 1 ms heartbeats while `work` runs, and when it handed over its table. */
async function stallDuring(work: (onTable: () => void) => Promise<unknown>) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let maxGap = 0;
  const beat = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let inUseMs = Number.NaN;
  await work(() => {
    inUseMs = performance.now() - t0;
  });
  // one more beat: a stall that ends with the work is measured too
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(beat);
  h.disable();
  // the main thread's busy time: the work this thread did, whatever else ran on the machine
  const busyMs = performance.eventLoopUtilization(elu0).active;
  return { maxGapMs: maxGap, loopDelayMaxMs: h.max / 1e6, inUseMs, busyMs };
}

async function reload(kind: 'in-thread' | 'worker', dir: string, feed: string) {
  const specs = [{ name: 'bench', format: 'list' as const, location: feed }];
  const cacheDir = join(dir, `cache-${kind}`);
  const loader: Loader & { stop?(): unknown } =
    kind === 'worker' ? new IntelFeedWorker(specs, { cacheDir }) : new IntelFeedSet(specs, { cacheDir });
  writeFileSync(feed, intelFeedText(N, 1));
  const t0 = Date.now();
  await loader.refreshDue(t0);
  writeFileSync(feed, intelFeedText(N, 2));
  globalThis.gc?.();
  let size = 0;
  // the feed's refresh interval (1 h) has passed
  const r = await stallDuring((inUse) =>
    loader.refreshDue(t0 + 3_601_000, (t) => {
      size = t.size;
      inUse();
    }),
  );
  await loader.stop?.();
  return { ...r, size };
}

export async function run(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-reload-bench-'));
  const feed = join(dir, 'feed.txt');
  const out: BenchResult[] = [];
  try {
    // the machine's own noise: the same heartbeat with nothing to do (other processes, timers)
    const idle = await stallDuring(() => new Promise((r) => setTimeout(r, 3000)));
    out.push({
      name: 'intel reload: heartbeat alone (3 s, no reload)',
      value: idle.maxGapMs,
      unit: 'ms',
      detail: `main thread busy ${idle.busyMs.toFixed(0)} ms`,
    });
    // the worker first: the in-thread run leaves ~1 GB of garbage in this heap, whose collection
    // would otherwise land in the worker's measurement
    {
      const rdir = join(dir, 'ranges');
      await mkdir(rdir);
      enrichFiles(rdir, rng(7));
      const loader = new FileTableLoader();
      const files = [join(rdir, 'ranges.csv')];
      // as Enrichment reloads ranges: the geography in use goes along, for the address plan
      const geo = await loadGeoDb();
      const partner = { geo: geoPlanInput(geo) };
      await loader.load('ranges', files, [], 20, partner);
      globalThis.gc?.();
      let size = 0;
      const r = await stallDuring(async (inUse) => {
        const l = await loader.load('ranges', files, [], 20, partner);
        size = l.ranges?.size ?? 0;
        if (l.plan !== undefined) new AddressPlan(l.plan, l.ranges, geo);
        inUse();
      });
      await loader.stop();
      out.push({
        name: 'ranges reload 1 M (loader thread): longest main-thread stall',
        value: r.maxGapMs,
        unit: 'ms',
        detail: `${size} ranges; monitorEventLoopDelay max ${r.loopDelayMaxMs.toFixed(1)} ms`,
      });
      out.push({
        name: 'ranges reload 1 M (loader thread): until the new table is in use',
        value: r.inUseMs,
        unit: 'ms',
      });
      out.push({ name: 'ranges reload 1 M (loader thread): main thread busy', value: r.busyMs, unit: 'ms' });
    }
    for (const kind of ['worker', 'in-thread'] as const) {
      const r = await reload(kind, dir, feed);
      const detail = `${r.size} indicators; monitorEventLoopDelay max ${r.loopDelayMaxMs.toFixed(1)} ms`;
      out.push({
        name: `intel reload 1 M (${kind}): longest main-thread stall`,
        value: r.maxGapMs,
        unit: 'ms',
        detail,
      });
      out.push({ name: `intel reload 1 M (${kind}): until the new table is in use`, value: r.inUseMs, unit: 'ms' });
      out.push({ name: `intel reload 1 M (${kind}): main thread busy`, value: r.busyMs, unit: 'ms' });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
