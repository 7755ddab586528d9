// Filter → parameterised DuckDB SQL over the representation in schema/duckdb.ts (DESIGN §4, §5).
//
// Every atomic comparison is wrapped in COALESCE(…, false) so that a NULL column makes it false
// rather than unknown; `not` then simply negates, exactly like the JS predicate (predicate.ts).
// Values travel as $n parameters with an explicit cast to the column's type, so the comparison is
// done in the column's own type (no widening of the column, zone maps still apply).
//
// Addresses are passed as decimal strings cast to UHUGEINT: @duckdb/node-api binds a JS bigint as
// a *signed* HUGEINT, which cannot hold IPv6 values at or above 8000:: (fc00::/7, fe80::/10,
// ff00::/8 — common ones).

import { DUCKDB_TYPE, quoteIdent } from '../schema/duckdb.js';
import type { Comparison, FilterExpr, FilterValue } from './ast.js';
import { sqlGlobPattern } from './glob.js';
import { parseFilter } from './parser.js';

export type SqlParam = number | bigint | string | boolean;

export interface SqlFilter {
  sql: string;
  params: SqlParam[];
}

export interface SqlOptions {
  /** Prepended to every column reference, e.g. "f." for a joined or aliased table. */
  columnPrefix?: string;
  /** Number of the first placeholder ($1 by default), to append to a statement with parameters. */
  firstParam?: number;
}

/** Compile a filter (text or parsed) to a WHERE condition with $n placeholders. */
export function compileSql(filter: FilterExpr | string, opts: SqlOptions = {}): SqlFilter {
  const expr = typeof filter === 'string' ? parseFilter(filter) : filter;
  const ctx: Ctx = { prefix: opts.columnPrefix ?? '', first: opts.firstParam ?? 1, params: [] };
  return { sql: gen(expr, ctx), params: ctx.params };
}

interface Ctx {
  prefix: string;
  first: number;
  params: SqlParam[];
}

function gen(e: FilterExpr, ctx: Ctx): string {
  switch (e.kind) {
    case 'all':
      return 'TRUE';
    case 'and':
      return `(${gen(e.left, ctx)} AND ${gen(e.right, ctx)})`;
    case 'or':
      return `(${gen(e.left, ctx)} OR ${gen(e.right, ctx)})`;
    case 'not':
      return `(NOT ${gen(e.expr, ctx)})`;
    case 'cmp': {
      // Parameters are shared by the columns of one comparison (src_port and dst_port both use $1).
      const values = e.values.map((v) => param(e, v, ctx));
      const atoms = e.columns.map((c) => `COALESCE(${atom(e, `${ctx.prefix}${quoteIdent(c)}`, values)}, false)`);
      return atoms.length === 1 ? atoms[0] : `(${atoms.join(' OR ')})`;
    }
  }
}

function param(e: Comparison, v: FilterValue, ctx: Ctx): string | { lo: string; hi: string } {
  const push = (p: SqlParam, cast: string) => {
    ctx.params.push(p);
    return `CAST($${ctx.first + ctx.params.length - 1} AS ${cast})`;
  };
  const colType = DUCKDB_TYPE[e.type];
  switch (v.kind) {
    case 'number':
      return push(v.value, colType);
    case 'bool':
      return push(v.value, 'BOOLEAN');
    case 'string':
      return push(v.value, 'VARCHAR');
    case 'glob':
      return push(sqlGlobPattern(v.pattern), 'VARCHAR');
    case 'range':
      if (v.lo === v.hi) return push(v.lo.toString(), 'UHUGEINT');
      return { lo: push(v.lo.toString(), 'UHUGEINT'), hi: push(v.hi.toString(), 'UHUGEINT') };
  }
}

function atom(e: Comparison, col: string, values: (string | { lo: string; hi: string })[]): string {
  const scalars = values as string[];
  switch (e.op) {
    case 'present':
      return e.type === 'list' ? `len(${col}) > 0` : col;
    case '~':
      return scalars.map((p) => `lower(${col}) GLOB ${p}`).join(' OR ');
    case '<':
    case '<=':
    case '>':
    case '>=':
      return `${col} ${e.op} ${scalars[0]}`;
    case '=':
    case '!=': {
      const neg = e.op === '!=';
      if (e.type === 'list') {
        // An empty list is "no value", as in a FlowBatch (code 0), whether the store wrote [] or NULL.
        const any = `list_has_any(${col}, [${scalars.join(', ')}])`;
        return neg ? `len(${col}) > 0 AND NOT ${any}` : any;
      }
      if (e.type === 'addr') {
        const tests = values.map((v) =>
          typeof v === 'string' ? `${col} = ${v}` : `${col} BETWEEN ${v.lo} AND ${v.hi}`,
        );
        const any = tests.length === 1 ? tests[0] : `(${tests.join(' OR ')})`;
        return neg ? `NOT ${any}` : any;
      }
      if (scalars.length === 1) return `${col} ${neg ? '<>' : '='} ${scalars[0]}`;
      return `${col} ${neg ? 'NOT IN' : 'IN'} (${scalars.join(', ')})`;
    }
  }
}
