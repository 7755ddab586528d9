// Small readers shared by the range and asset loaders: CSV lines (RFC 4180 quoting, '#' comments),
// YAML/JSON lists with the line of every item, tag lists, and the interners the tables keep their
// strings in (one copy of each distinct value, referred to by a dense id).

import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { EnrichSourceError } from '../source-error.js';

export interface CsvRow {
  line: number;
  fields: string[];
}

/** Non-blank, non-comment lines split into fields. A quoted field may hold commas and "" quotes. */
export function csvRows(text: string): CsvRow[] {
  const out: CsvRow[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const t = l.trim();
    if (t === '' || t.startsWith('#')) continue;
    out.push({ line: i + 1, fields: splitCsv(l) });
  }
  return out;
}

/** One CSV line's fields (see csvRows). */
export function splitCsv(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          s += line.slice(i);
          i = line.length;
          break;
        }
        s += line.slice(i, q);
        if (line[q + 1] === '"') {
          s += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const c = line.indexOf(',', i);
      out.push(s);
      if (c < 0) return out;
      i = c + 1;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i).trim());
        return out;
      }
      out.push(line.slice(i, c).trim());
      i = c + 1;
    }
  }
}

export interface ListItem {
  /** 1-based line of the item in the file. */
  line: number;
  value: unknown;
}

/**
 * A YAML or JSON document that is a list, or a map holding the list under one of `keys`
 * (e.g. `ranges:`). JSON is read by the YAML parser too (JSON is YAML 1.2), for the line numbers.
 */
export function yamlList(file: string, text: string, keys: readonly string[]): ListItem[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new EnrichSourceError(file, e.linePos?.[0].line, e.message.split('\n')[0]);
  }
  let seq: unknown = doc.contents;
  if (isMap(seq)) {
    const key = keys.find((k) => (seq as { has(k: string): boolean }).has(k));
    if (key === undefined) throw new EnrichSourceError(file, 1, `expected a list or a map with ${keys.join(' or ')}`);
    seq = seq.get(key, true);
  }
  if (seq === null || seq === undefined) return [];
  if (!isSeq(seq)) throw new EnrichSourceError(file, 1, 'expected a list of entries');
  return seq.items.map((n) => {
    const node = n as Node;
    const off = node?.range?.[0] ?? 0;
    return { line: lc.linePos(off).line, value: (node as { toJSON?: () => unknown })?.toJSON?.() ?? node };
  });
}

/** Tags from a list or a ';' / ',' separated string: trimmed, empty dropped, first occurrence kept. */
export function tagList(v: unknown): string[] {
  let raw: string[];
  if (Array.isArray(v)) raw = v.map((x) => String(x));
  else if (typeof v === 'string') raw = v.split(/[;,]/);
  else return [];
  const out: string[] = [];
  for (const r of raw) {
    const t = r.trim();
    if (t !== '' && !out.includes(t)) out.push(t);
  }
  return out;
}

/** A cloud name as a tag the filter language can type: lower case, spaces as '-'. */
export function cloudTag(s: string): string {
  return s.trim().toLowerCase().replace(/\s+/g, '-');
}

/** The string at a key, or '' (numbers are printed; anything else is not a string field). */
export function str(o: unknown, key: string): string {
  if (o === null || typeof o !== 'object') return '';
  const v = (o as Record<string, unknown>)[key];
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number') return String(v);
  return '';
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Strings to dense ids; id 0 is ''. */
export class Interner {
  readonly values: string[] = [''];
  private readonly ids = new Map<string, number>([['', 0]]);
  id(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(s);
      this.ids.set(s, i);
    }
    return i;
  }
}

/** String lists to dense ids (equal lists, same id); id 0 is the empty list. */
export class ListInterner {
  readonly lists: (readonly string[])[] = [[]];
  private readonly ids = new Map<string, number>([['', 0]]);
  id(list: readonly string[]): number {
    const key = list.join('\u0000');
    let i = this.ids.get(key);
    if (i === undefined) {
      i = this.lists.length;
      this.lists.push(Object.freeze([...list]));
      this.ids.set(key, i);
    }
    return i;
  }
}

/** The decimal number s[from..] (no sign, no leading zero, < 2^32), or 0 when it is not one. */
export function lineNumber(s: string, from: number): number {
  if (s.charCodeAt(from) === 48 || s.length - from > 9) return 0;
  let v = 0;
  for (let k = from; k < s.length; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return 0;
    v = v * 10 + c;
  }
  return v;
}
