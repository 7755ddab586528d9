import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResult } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const all: BenchResult[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(`${here}/${f}`).href)) as { run: () => Promise<BenchResult[]> };
  const rs = await mod.run();
  for (const r of rs) {
    all.push(r);
    console.log(
      `${r.name.padEnd(48)} ${r.value.toLocaleString('en-US', { maximumFractionDigits: 2 }).padStart(14)} ${r.unit}${r.detail ? `  (${r.detail})` : ''}`,
    );
  }
}
if (all.length === 0) console.log('no benchmarks matched');
