// Field names of the filter language, derived from the schema declaration at call time so that a
// column added with declareColumn() is filterable at once (DESIGN §2.1).

import { allColumns, type ColumnDef, type ColumnType } from '../schema/columns.js';
import { editDistance } from '../util/edit-distance.js';

export interface FieldDescription {
  name: string;
  type: ColumnType;
  keyword?: string;
  aliases?: readonly string[];
  description: string;
}

/** Every filterable column with the words that name it, for `flowwatch fields` and the API. */
export function describeFields(): FieldDescription[] {
  return allColumns().map((c) => {
    const d: FieldDescription = { name: c.name, type: c.type, description: c.description };
    if (c.keyword !== undefined) d.keyword = c.keyword;
    if (c.aliases?.length) d.aliases = c.aliases;
    return d;
  });
}

/** word (column name, keyword or alias) → the columns it names. */
export type FieldIndex = ReadonlyMap<string, readonly ColumnDef[]>;

let cached: { count: number; index: Map<string, ColumnDef[]> } | undefined;

/** The word index; rebuilt when a column was declared since the last call (columns only grow). */
export function fieldIndex(): FieldIndex {
  const cols = allColumns();
  if (cached && cached.count === cols.length) return cached.index;
  const index = new Map<string, ColumnDef[]>();
  const add = (word: string, c: ColumnDef) => {
    const w = word.toLowerCase();
    const list = index.get(w);
    if (!list) index.set(w, [c]);
    else if (!list.includes(c)) list.push(c);
  };
  for (const c of cols) {
    add(c.name, c);
    if (c.keyword) add(c.keyword, c);
    for (const a of c.aliases ?? []) add(a, c);
  }
  cached = { count: cols.length, index };
  return index;
}

export { editDistance };

/**
 * The known word nearest to `word` (optimal string alignment distance), if reasonably close.
 * After `src`/`dst`/`any` only words naming a src_/dst_ pair are candidates ("dst prot" →
 * "port", not "proto").
 */
export function nearestField(word: string, pairedOnly = false): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const [k, cols] of fieldIndex()) {
    if (pairedOnly && !cols.some((c) => /^(src|dst)_/.test(c.name) && c.keyword !== undefined && k !== c.name))
      continue;
    const d = editDistance(word, k);
    if (d < bestD || (d === bestD && best !== undefined && k.length > best.length)) {
      best = k;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length * 0.4)) ? best : undefined;
}
