// Filter → JavaScript predicate over one FlowBatch row (DESIGN §4, principle 5).
//
// The expression is compiled once into JS source with column indexes and constants inlined and
// turned into a function with `new Function`, so a row test is a few typed-array reads and
// compares: no allocation, no closure and no AST walk per row. Semantics mirror sql.ts exactly:
// an atomic comparison on a null value is false, `not` negates, several columns (a paired keyword
// without prefix) match if any of them does.

import type { FlowBatch } from '../pipeline/flow-batch.js';
import { columnIndex } from '../schema/columns.js';
import type { Comparison, FilterExpr, FilterValue } from './ast.js';
import { globMatcher } from './glob.js';
import { parseFilter } from './parser.js';

export type FlowPredicate = (b: FlowBatch, row: number) => boolean;

/** Compile a filter (text or parsed) to a row predicate. Throws FilterError on bad text. */
export function compilePredicate(filter: FilterExpr | string): FlowPredicate {
  const expr = typeof filter === 'string' ? parseFilter(filter) : filter;
  const consts: unknown[] = [];
  const body = gen(expr, consts);
  // x: numeric temp, s: string temp, l: list temp, w/o: address words and offset.
  const src = `return function flowFilter(b, row) {
  const V = b.valid, D = b.data;
  let x = 0, s = '', l = null, w = null, o = row * 4;
  return ${body};
};`;
  return new Function('K', src)(consts) as FlowPredicate;
}

function gen(e: FilterExpr, k: unknown[]): string {
  switch (e.kind) {
    case 'all':
      return 'true';
    case 'and':
      return `(${gen(e.left, k)} && ${gen(e.right, k)})`;
    case 'or':
      return `(${gen(e.left, k)} || ${gen(e.right, k)})`;
    case 'not':
      return `!${gen(e.expr, k)}`;
    case 'cmp': {
      const atoms = e.columns.map((name) => atom(e, columnIndex(name), k));
      return atoms.length === 1 ? atoms[0] : `(${atoms.join(' || ')})`;
    }
  }
}

const REL: Record<string, string> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

/** One column, one comparison; begins with the validity test so null is always false. */
function atom(e: Comparison, c: number, k: unknown[]): string {
  const valid = `V[${c}][row] !== 0`;
  const nums = () => e.values.map((v) => num(v));
  switch (e.type) {
    case 'list': {
      const get = `(l = b.lists[${c}].values[D[${c}][row]]).length > 0`;
      if (e.op === 'present') return `(${valid} && ${get})`;
      const any = e.values.map((v) => `l.includes(${JSON.stringify(str(v))})`).join(' || ');
      return `(${valid} && ${get} && ${e.op === '!=' ? `!(${any})` : `(${any})`})`;
    }
    case 'bool':
      if (e.op === 'present') return `(${valid} && D[${c}][row] !== 0)`;
      return `(${valid} && ${setTest(
        `(D[${c}][row] !== 0)`,
        e.values.map((v) => String(bool(v))),
        e.op,
      )})`;
    case 'string': {
      const get = `(s = b.strings[${c}].values[D[${c}][row]], `;
      if (e.op === '~') {
        const tests = e.values.map((v) => {
          k.push(globMatcher(glob(v)));
          return `K[${k.length - 1}](s)`;
        });
        return `(${valid} && ${get}${tests.join(' || ')}))`;
      }
      return `(${valid} && ${get}${setTest(
        's',
        e.values.map((v) => JSON.stringify(str(v))),
        e.op,
      )}))`;
    }
    case 'addr': {
      const tests = e.values.map((v) => rangeTest(v));
      const any = tests.length === 1 ? tests[0] : `(${tests.join(' || ')})`;
      return `(${valid} && (w = D[${c}], ${e.op === '!=' ? `!${any}` : any}))`;
    }
    default: {
      // u8…u64, time, mac, enum: plain numbers in the typed array.
      const get = `(x = D[${c}][row], `;
      if (e.op in REL) return `(${valid} && ${get}x ${REL[e.op]} ${nums()[0]}))`;
      return `(${valid} && ${get}${setTest('x', nums(), e.op)}))`;
    }
  }
}

/** `v === a || v === b`, negated for `!=`; a Set for long lists. */
function setTest(v: string, lits: string[], op: string): string {
  const any = lits.map((l) => `${v} === ${l}`).join(' || ');
  return op === '!=' ? `!(${any})` : `(${any})`;
}

/** An address range is always a CIDR block (or one address): test the masked words. */
function rangeTest(v: FilterValue): string {
  if (v.kind !== 'range') throw new Error(`internal: address value ${v.kind}`);
  const parts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const shift = BigInt(96 - 32 * i);
    const lo = Number((v.lo >> shift) & 0xffffffffn);
    const hi = Number((v.hi >> shift) & 0xffffffffn);
    const mask = ~(lo ^ hi) >>> 0;
    if (mask === 0) continue;
    if (mask === 0xffffffff) parts.push(`w[o + ${i}] === ${lo}`);
    else parts.push(`(w[o + ${i}] & ${mask | 0}) === ${lo & mask}`);
  }
  return parts.length === 0 ? 'true' : `(${parts.join(' && ')})`;
}

function num(v: FilterValue): string {
  if (v.kind !== 'number') throw new Error(`internal: numeric value ${v.kind}`);
  return String(v.value);
}
function str(v: FilterValue): string {
  if (v.kind !== 'string') throw new Error(`internal: string value ${v.kind}`);
  return v.value;
}
function bool(v: FilterValue): boolean {
  if (v.kind !== 'bool') throw new Error(`internal: bool value ${v.kind}`);
  return v.value;
}
function glob(v: FilterValue): string {
  if (v.kind !== 'glob') throw new Error(`internal: glob value ${v.kind}`);
  return v.pattern;
}
