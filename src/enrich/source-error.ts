// What every enrichment loader throws for a file it cannot use: the file and the line, so a
// broken asset list or feed is reported where it is broken, and the last good table stays loaded.

export class EnrichSourceError extends Error {
  constructor(
    readonly source: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(line === undefined ? `${source}: ${reason}` : `${source}:${line}: ${reason}`);
    this.name = 'EnrichSourceError';
  }
}

/** One enrichment that applies to an address or a flow, and where it came from (`enrich check`). */
export interface EnrichmentHit {
  /** Kind of source: 'range', 'asset', 'geo', 'asn', 'intel', 'network'. */
  kind: string;
  /** Where it came from: `file:line`, a feed name and URL, a package name and version. */
  origin: string;
  /** The fields it gives (column names without src_/dst_ prefix, e.g. host, tags, country). */
  fields: Record<string, string | number | readonly string[]>;
}

/**
 * JSON.parse of a whole enrichment file; a syntax error becomes an EnrichSourceError with the line
 * and column (V8 reports a character position).
 */
export function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    if (m !== null) {
      const pos = Number(m[1]);
      let line = 1;
      let lineStart = 0;
      for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) {
        line++;
        lineStart = i + 1;
      }
      throw new EnrichSourceError(file, line, `invalid JSON at column ${pos - lineStart + 1}: ${msg}`);
    }
    throw new EnrichSourceError(file, undefined, `invalid JSON: ${msg}`);
  }
}
