// Parsing of the human forms users type: durations (30s, 5m, 1h, 7d), times (ISO 8601 or a
// duration meaning "that long ago"), byte sizes (4MiB, 1GB) and counts with k/M/G suffixes.

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "90s", "5m", "1h30m", "7d" → milliseconds; null when not a duration. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * DURATION_UNITS[m[2]];
  return total;
}

/**
 * A point in time: ISO 8601 (a date alone is UTC midnight; no zone means UTC), epoch
 * milliseconds, "now", or a duration meaning that long before `nowMs`.
 */
export function parseTime(text: string, nowMs = Date.now()): number | null {
  const s = text.trim();
  if (s === 'now') return nowMs;
  const d = parseDuration(s);
  if (d !== null) return nowMs - d;
  if (/^\d{11,}$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const withZone = /[zZ]|[+-]\d{2}:?\d{2}$/.test(s) || s.length === 10 ? s : `${s}Z`;
    const t = Date.parse(withZone);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** "4MiB", "1GB", "65536" → bytes; null when not a size. */
export function parseSize(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const mul = SIZE_UNITS[m[2].toLowerCase()];
  return mul === undefined ? null : Math.round(Number(m[1]) * mul);
}

/** ISO 8601 UTC with milliseconds, the one time format flowwatch prints. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
