// What the JSON cloud flow-log parsers (GCP, OCI, and Azure's object helpers) share: reading a JSON
// document, array or NDJSON text record by record with each record's place, the result counters
// and errors, and readers of JSON values (counts, ports, RFC 3339 times, addresses).

import { Buffer } from 'node:buffer';
import type { FlowBatch } from '../../pipeline/flow-batch.js';
import { inflated } from '../gzip.js';
import { addrCol } from '../text-fields.js';

/** At most this many errors are kept with their text; `malformed` counts them all. */
export const MAX_ERRORS = 1000;

export interface CloudJsonParseResult {
  /** Records (NDJSON lines, array elements or the one document) seen, good or bad. */
  records: number;
  /** Rows written to the sink. */
  flows: number;
  /** Records rejected (all of them, even past the kept `errors`). */
  malformed: number;
  /**
   * `line`: the 1-based line for NDJSON; the 1-based element index for a JSON array; 1 for a single
   * document; 0 for the input as a whole (gzip or JSON syntax). The message repeats the place.
   */
  errors: { line: number; message: string }[];
}

export function failRecord(res: CloudJsonParseResult, source: string, line: number, message: string): void {
  res.malformed++;
  if (res.errors.length < MAX_ERRORS) res.errors.push({ line, message: `${source}:${line}: ${message}` });
}

/**
 * Hand each record of a JSON document, JSON array or NDJSON text to `onRecord` with its place
 * (see CloudJsonParseResult.errors). Counts `records`; syntax errors are counted and reported here.
 */
export function readJsonRecords(
  input: string | Uint8Array,
  source: string,
  res: CloudJsonParseResult,
  onRecord: (rec: unknown, line: number) => void,
): void {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    const bytes = inflated(input, (m) => failRecord(res, source, 0, `gzip: ${m}`), { partial: false });
    if (bytes === null) return;
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  // NDJSON when the first non-blank line is a whole JSON object and more lines follow; reading it
  // line by line keeps one broken line from hiding the others.
  const start = text.search(/\S/);
  if (start < 0) return;
  let firstEol = text.indexOf('\n', start);
  if (firstEol < 0) firstEol = text.length;
  const firstLine = text.slice(start, firstEol);
  if (firstLine.trimStart().startsWith('{') && text.slice(firstEol).trim() !== '' && parses(firstLine)) {
    let pos = 0;
    let lineNo = 0;
    while (pos < text.length) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0) eol = text.length;
      lineNo++;
      const line = text.slice(pos, eol);
      pos = eol + 1;
      if (line.trim() === '') continue;
      res.records++;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        failRecord(res, source, lineNo, `invalid JSON: ${(e as Error).message}`);
        continue;
      }
      onRecord(v, lineNo);
    }
    return;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    res.records++;
    failRecord(res, source, 0, `invalid JSON: ${(e as Error).message}`);
    return;
  }
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      res.records++;
      onRecord(doc[i], i + 1);
    }
    return;
  }
  res.records++;
  onRecord(doc, 1);
}

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * A non-negative integer written as a JSON number or a string of digits (proto3 JSON int64);
 * -1 when absent, -2 when present but not such an integer.
 */
export function count(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -2;
  if (typeof v === 'string' && /^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return n <= Number.MAX_SAFE_INTEGER ? n : -2;
  }
  return -2;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/** RFC 3339 timestamp → ms (fraction below the millisecond truncated), or NaN. */
export function rfc3339Ms(v: unknown): number {
  if (typeof v !== 'string' || !RFC3339.test(v)) return Number.NaN;
  // Date.parse takes at most millisecond precision reliably; cut the fraction to 3 digits first.
  const dot = v.indexOf('.', 19);
  let s = v;
  if (dot >= 0) {
    let end = dot + 1;
    while (end < v.length && v.charCodeAt(end) >= 48 && v.charCodeAt(end) <= 57) end++;
    s = v.slice(0, Math.min(end, dot + 4)) + v.slice(end);
  }
  return Date.parse(s);
}

/** Write an address; returns 4 or 6 (the family), or 0 when the text is not an address. */
export function setAddr(b: FlowBatch, col: number, row: number, text: string): number {
  const fam = addrCol(text, 0, text.length, b, col, row);
  return Math.max(fam, 0);
}

/** A port (JSON number or digit string) → 0..65535, -1 absent, -2 invalid. */
export function port(v: unknown): number {
  const n = count(v);
  return n > 65535 ? -2 : n;
}
