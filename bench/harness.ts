// Benchmarks are plain modules bench/<name>.bench.ts exporting `run(): Promise<BenchResult[]>`.
// `npm run bench` runs them all (or those named: `npm run bench -- decode`) and prints a table.

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  detail?: string;
}

/**
 * Time `fn` repeatedly for at least `minMs`, after one warm-up call; returns seconds per call
 * (median). `setup`, when given, runs before each call outside the timed part (resetting the input).
 */
export function measure(fn: () => void, minMs = 1500, minRuns = 5, setup?: () => void): number {
  setup?.();
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    setup?.();
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1] / 1000;
}
