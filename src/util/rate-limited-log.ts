// Bad input is sampled into the log, never all of it (DESIGN principle 10): per key (an
// exporter), the first message of each interval is logged with how many were suppressed since.

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly write: (key: string, message: string, suppressed: number) => void,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  report(key: string, message: string): void {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    if (!s && this.last.size >= this.maxKeys) this.last.clear();
    this.write(key, message, s?.suppressed ?? 0);
    this.last.set(key, { at: t, suppressed: 0 });
  }
}
