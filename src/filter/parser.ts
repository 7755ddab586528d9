// Parser and checker of the filter language (DESIGN §4): text → checked FilterExpr.
//
//   expr    := and (("or" | "||") and)*
//   and     := unary (("and" | "&&") unary)*
//   unary   := ("not" | "!") unary | "(" expr ")" | term
//   term    := [src | dst | any] field [op value | op list | [not] in list | value]
//            | protocol-name                      (nfdump: "tcp" alone means proto tcp)
//   op      := = | == | != | < | <= | > | >= | ~
//   list    := "[" value ("," value)* "]"
//
// `and` binds tighter than `or`. A field is a column name, a column keyword (shared by src_/dst_
// pairs: "port") or an alias ("ip", "tag"); a paired keyword without a prefix matches either side.

import { type ColumnDef, type ColumnType, PROTOCOL_NAMES } from '../schema/columns.js';
import { type CmpOp, type Comparison, FilterError, type FilterExpr, type FilterValue } from './ast.js';
import { fieldIndex, nearestField } from './fields.js';
import { addressRange, parseValue, type ValueToken } from './values.js';

type TokenKind = 'word' | 'string' | 'op' | 'punct' | 'eof';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const SIDES = new Set(['src', 'dst', 'any']);
const RESERVED = new Set(['and', 'or', 'not', 'in']);
const CMP_OPS = new Set(['=', '==', '!=', '<', '<=', '>', '>=', '~']);
/** Nesting beyond this is refused rather than left to overflow the stack (filters come from the API). */
const MAX_DEPTH = 200;

/** Operators each column type accepts; ordering on strings is left out because JS (UTF-16) and
 * DuckDB (UTF-8 bytes) order them differently. */
const OPS_FOR: Record<ColumnType, ReadonlySet<string>> = {
  time: new Set(['=', '!=', '<', '<=', '>', '>=']),
  u8: new Set(['=', '!=', '<', '<=', '>', '>=']),
  u16: new Set(['=', '!=', '<', '<=', '>', '>=']),
  u32: new Set(['=', '!=', '<', '<=', '>', '>=']),
  u64: new Set(['=', '!=', '<', '<=', '>', '>=']),
  mac: new Set(['=', '!=', '<', '<=', '>', '>=']),
  addr: new Set(['=', '!=', '~']),
  bool: new Set(['=', '!=']),
  enum: new Set(['=', '!=']),
  string: new Set(['=', '!=', '~']),
  list: new Set(['=', '!=']),
};

/** Parse and type-check a filter. Empty text selects every flow. Throws FilterError. */
export function parseFilter(text: string): FilterExpr {
  const p = new Parser(text);
  if (p.peek().kind === 'eof') return { kind: 'all' };
  const e = p.expr();
  const t = p.peek();
  if (t.kind !== 'eof') {
    throw new FilterError(`unexpected ${describe(t)} at column ${t.pos}; expected "and", "or" or the end`, t.pos);
  }
  return e;
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'end of filter' : t.kind === 'string' ? `string ${JSON.stringify(t.text)}` : `"${t.text}"`;
}

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  private depth = 0;

  constructor(text: string) {
    this.tokens = tokenize(text);
  }

  peek(k = 0): Token {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.tokens[this.i];
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }

  private isWord(t: Token, w: string): boolean {
    return t.kind === 'word' && t.text.toLowerCase() === w;
  }

  expr(): FilterExpr {
    let left = this.and();
    for (;;) {
      const t = this.peek();
      if (!(this.isWord(t, 'or') || (t.kind === 'op' && t.text === '||'))) return left;
      this.next();
      left = { kind: 'or', pos: t.pos, left, right: this.and() };
    }
  }

  private and(): FilterExpr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (!(this.isWord(t, 'and') || (t.kind === 'op' && t.text === '&&'))) return left;
      this.next();
      left = { kind: 'and', pos: t.pos, left, right: this.unary() };
    }
  }

  private unary(): FilterExpr {
    const t = this.peek();
    if (++this.depth > MAX_DEPTH) throw new FilterError(`filter nested too deeply at column ${t.pos}`, t.pos);
    try {
      return this.unaryInner(t);
    } finally {
      this.depth--;
    }
  }

  private unaryInner(t: Token): FilterExpr {
    if (this.isWord(t, 'not') || (t.kind === 'op' && t.text === '!')) {
      this.next();
      return { kind: 'not', pos: t.pos, expr: this.unary() };
    }
    if (t.kind === 'punct' && t.text === '(') {
      this.next();
      const e = this.expr();
      const c = this.next();
      if (!(c.kind === 'punct' && c.text === ')')) {
        throw new FilterError(`expected ")" at column ${c.pos} to close "(" at column ${t.pos}`, c.pos);
      }
      return e;
    }
    return this.term();
  }

  private term(): Comparison {
    const first = this.next();
    if (first.kind !== 'word' || RESERVED.has(first.text.toLowerCase())) {
      throw new FilterError(`expected a field at column ${first.pos}, found ${describe(first)}`, first.pos);
    }
    let side: string | undefined;
    let fieldTok = first;
    if (SIDES.has(first.text.toLowerCase())) {
      side = first.text.toLowerCase();
      fieldTok = this.next();
      if (fieldTok.kind !== 'word' || RESERVED.has(fieldTok.text.toLowerCase())) {
        throw new FilterError(`expected a field after "${first.text}" at column ${fieldTok.pos}`, fieldTok.pos);
      }
    }
    const word = fieldTok.text.toLowerCase();
    const written = side ? `${side} ${word}` : word;
    const found = fieldIndex().get(word);
    if (!found) {
      if (!side && Object.hasOwn(PROTOCOL_NAMES, word)) {
        return cmp(first.pos, written, [protoColumn()], '=', [{ kind: 'number', value: PROTOCOL_NAMES[word] }]);
      }
      const near = nearestField(word, side !== undefined);
      throw new FilterError(
        `unknown field "${fieldTok.text}" at column ${fieldTok.pos}${near ? `; did you mean "${near}"?` : ''}`,
        fieldTok.pos,
        near,
      );
    }
    let cols = pickSide(found, side, written, first.pos);

    // operator
    const t = this.peek();
    let op: CmpOp;
    let opText: string;
    let raw: ValueToken[];
    if (t.kind === 'op' && CMP_OPS.has(t.text)) {
      this.next();
      opText = t.text === '==' ? '=' : t.text;
      op = opText as CmpOp;
      raw = this.valueOrList(fieldTok, op !== '<' && op !== '<=' && op !== '>' && op !== '>=');
    } else if (this.isWord(t, 'in')) {
      this.next();
      op = '=';
      opText = 'in';
      raw = this.list(fieldTok, true);
    } else if (this.isWord(t, 'not') && this.isWord(this.peek(1), 'in')) {
      this.next();
      this.next();
      op = '!=';
      opText = 'not in';
      raw = this.list(fieldTok, true);
    } else if (this.startsValue(t)) {
      op = '=';
      opText = '=';
      raw = this.valueOrList(fieldTok, true);
    } else {
      const type = cols[0].type;
      if (type === 'list' || type === 'bool') return cmp(first.pos, written, cols, 'present', []);
      throw new FilterError(`expected a value after "${fieldTok.text}" at column ${t.pos}`, t.pos);
    }

    // "host" names an asset by name when the value is not an address (tcpdump habit, DESIGN §4).
    if (word === 'host' && cols[0].type === 'addr' && !raw.every((v) => addressRange(v.text))) {
      cols = pickSide(fieldIndex().get('hostname') ?? [], side, written, first.pos);
    }
    const type = cols[0].type;
    if (!OPS_FOR[type].has(op)) {
      throw new FilterError(
        `operator "${opText}" does not apply to ${fieldName(cols)} (${type}) at column ${t.pos}; use ${[...OPS_FOR[type]].join(' ')}`,
        t.pos,
      );
    }
    if (op === '~') {
      if (type === 'addr') {
        // `~` on an address is CIDR containment, i.e. equality with a range.
        return cmp(
          first.pos,
          written,
          cols,
          '=',
          raw.map((v) => parseValue(cols[0], v)),
        );
      }
      return cmp(
        first.pos,
        written,
        cols,
        '~',
        raw.map((v) => ({ kind: 'glob', pattern: v.text.toLowerCase() })),
      );
    }
    return cmp(
      first.pos,
      written,
      cols,
      op,
      raw.map((v) => parseValue(cols[0], v)),
    );
  }

  private startsValue(t: Token): boolean {
    if (t.kind === 'string') return true;
    if (t.kind === 'punct' && t.text === '[') return true;
    return t.kind === 'word' && !RESERVED.has(t.text.toLowerCase());
  }

  private valueOrList(field: Token, listAllowed: boolean): ValueToken[] {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '[') return this.list(field, listAllowed);
    return [this.value(field)];
  }

  private list(field: Token, allowed: boolean): ValueToken[] {
    const open = this.next();
    if (!(open.kind === 'punct' && open.text === '[')) {
      throw new FilterError(`expected "[" at column ${open.pos} to start a list of values`, open.pos);
    }
    if (!allowed)
      throw new FilterError(`a list of values needs =, !=, ~, in or not in at column ${open.pos}`, open.pos);
    const out: ValueToken[] = [];
    for (;;) {
      out.push(this.value(field));
      const t = this.next();
      if (t.kind === 'punct' && t.text === ']') return out;
      if (!(t.kind === 'punct' && t.text === ',')) {
        throw new FilterError(`expected "," or "]" at column ${t.pos} in the list opened at column ${open.pos}`, t.pos);
      }
    }
  }

  private value(field: Token): ValueToken {
    const t = this.peek();
    if (t.kind === 'string' || (t.kind === 'word' && !RESERVED.has(t.text.toLowerCase()))) {
      this.next();
      return { text: t.text, quoted: t.kind === 'string', pos: t.pos };
    }
    throw new FilterError(`expected a value after "${field.text}" at column ${t.pos}`, t.pos);
  }
}

function cmp(pos: number, field: string, cols: readonly ColumnDef[], op: CmpOp, values: FilterValue[]): Comparison {
  return { kind: 'cmp', pos, field, columns: cols.map((c) => c.name), type: cols[0].type, op, values };
}

function protoColumn(): ColumnDef {
  const c = fieldIndex().get('proto')?.[0];
  if (!c) throw new Error('schema has no proto column');
  return c;
}

function fieldName(cols: readonly ColumnDef[]): string {
  return cols.map((c) => c.name).join('/');
}

/** Narrow a word's columns to one side; a paired word with no prefix (or `any`) keeps both. */
function pickSide(found: readonly ColumnDef[], side: string | undefined, written: string, pos: number): ColumnDef[] {
  if (side === 'src' || side === 'dst') {
    const picked = found.filter((c) => c.name.startsWith(`${side}_`));
    if (picked.length === 0) {
      throw new FilterError(`"${side}" does not apply to ${fieldName(found)} at column ${pos}`, pos);
    }
    return picked;
  }
  const types = new Set(found.map((c) => c.type));
  if (types.size > 1) throw new FilterError(`"${written}" is ambiguous (${fieldName(found)}) at column ${pos}`, pos);
  return [...found];
}

const DELIMS = new Set(['(', ')', '[', ']', ',']);
const WORD_STOP = /[\s()[\],=!<>~&|"']/;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const pos = i + 1;
    if (/\s/.test(c)) {
      i++;
    } else if (DELIMS.has(c)) {
      out.push({ kind: 'punct', text: c, pos });
      i++;
    } else if (c === '"' || c === "'") {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new FilterError(`unterminated string starting at column ${pos}`, pos);
        const d = text[j];
        if (d === c) break;
        if (d === '\\' && j + 1 < text.length) {
          s += text[j + 1];
          j += 2;
        } else {
          s += d;
          j++;
        }
      }
      out.push({ kind: 'string', text: s, pos });
      i = j + 1;
    } else if ('=!<>~&|'.includes(c)) {
      const two = text.slice(i, i + 2);
      if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
        out.push({ kind: 'op', text: two, pos });
        i += 2;
      } else if (c === '&' || c === '|') {
        throw new FilterError(`unexpected "${c}" at column ${pos}; did you mean "${c}${c}"?`, pos, `${c}${c}`);
      } else {
        out.push({ kind: 'op', text: c, pos });
        i++;
      }
    } else {
      let j = i;
      while (j < text.length && !WORD_STOP.test(text[j])) j++;
      out.push({ kind: 'word', text: text.slice(i, j), pos });
      i = j;
    }
  }
  out.push({ kind: 'eof', text: '', pos: text.length + 1 });
  return out;
}
