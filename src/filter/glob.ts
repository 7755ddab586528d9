// Glob matching for `~` on strings: `*` any run, `?` one unit, everything else literal,
// case-insensitive. The SQL side is DuckDB's GLOB over lower(col), which works on UTF-8 *bytes*
// (measured: 'é' GLOB '?' is false, 'é' GLOB '??' is true), so the predicate matches bytes too —
// otherwise the two compilers would disagree on non-ASCII names.

const encoder = new TextEncoder();
const STAR = 0x2a;
const QUESTION = 0x3f;

/** Pattern text for DuckDB GLOB: `[`, `]` and `\` are GLOB syntax there, so they are escaped. */
export function sqlGlobPattern(pattern: string): string {
  return pattern.replace(/[[\]\\]/g, (c) => `\\${c}`);
}

/** Memo per distinct value: dictionary-encoded columns repeat a few strings many times. */
const CACHE_LIMIT = 4096;

/** A matcher for a lower-cased pattern; the value is lower-cased before matching. */
export function globMatcher(pattern: string): (s: string) => boolean {
  const p = encoder.encode(pattern);
  const cache = new Map<string, boolean>();
  return (s: string): boolean => {
    let r = cache.get(s);
    if (r === undefined) {
      r = globBytes(encoder.encode(s.toLowerCase()), p);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(s, r);
    }
    return r;
  };
}

/** Iterative wildcard match with backtracking to the last `*` (linear in practice). */
export function globBytes(s: Uint8Array, p: Uint8Array): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === STAR) {
      starP = pi++;
      starS = si;
    } else if (pi < p.length && (p[pi] === QUESTION || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === STAR) pi++;
  return pi === p.length;
}
