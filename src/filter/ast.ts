// The filter language's syntax tree (DESIGN §4). `parseFilter` returns it already checked against
// the schema: every comparison names the columns it reads and carries typed values, so both
// compilers (predicate.ts, sql.ts) are straight translations with no schema logic of their own.

import type { ColumnType } from '../schema/columns.js';

export type FilterExpr =
  | { readonly kind: 'all' }
  | { readonly kind: 'and' | 'or'; readonly pos: number; readonly left: FilterExpr; readonly right: FilterExpr }
  | { readonly kind: 'not'; readonly pos: number; readonly expr: FilterExpr }
  | Comparison;

/**
 * `=` and `!=` carry a set of values (`in [...]` / `not in [...]`); `~` is a glob on strings (CIDR
 * matches on addresses are turned into `=` over a range); `present` is a list or bool field alone.
 */
export type CmpOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '~' | 'present';

export interface Comparison {
  readonly kind: 'cmp';
  /** 1-based column of the first token of the comparison. */
  readonly pos: number;
  /** The field as written, prefix included ("dst port", "bytes"). */
  readonly field: string;
  /** Resolved column names; more than one means "any of them matches" (bare paired keyword, `any`). */
  readonly columns: readonly string[];
  readonly type: ColumnType;
  readonly op: CmpOp;
  readonly values: readonly FilterValue[];
}

export type FilterValue =
  /** u8…u64, time (UTC ms), mac (48-bit integer), enum (index into enumValues). */
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  /** Address or CIDR as an inclusive range of 128-bit values (IPv4 as ::ffff:a.b.c.d). */
  | { readonly kind: 'range'; readonly lo: bigint; readonly hi: bigint }
  /** Glob pattern, already lower-cased (`~` is case-insensitive). */
  | { readonly kind: 'glob'; readonly pattern: string };

/** A filter the user got wrong; `position` is the 1-based column to point at. */
export class FilterError extends Error {
  readonly position: number;
  readonly suggestion?: string;
  constructor(message: string, position: number, suggestion?: string) {
    super(message);
    this.name = 'FilterError';
    this.position = position;
    if (suggestion !== undefined) this.suggestion = suggestion;
  }
}

/** Columns an expression reads, in first-use order (the store picks a rollup table with them). */
export function filterFields(expr: FilterExpr): string[] {
  const out = new Set<string>();
  const walk = (e: FilterExpr): void => {
    switch (e.kind) {
      case 'all':
        return;
      case 'and':
      case 'or':
        walk(e.left);
        walk(e.right);
        return;
      case 'not':
        walk(e.expr);
        return;
      case 'cmp':
        for (const c of e.columns) out.add(c);
    }
  };
  walk(expr);
  return [...out];
}
