// Typed values of the filter language: numbers with nfdump unit suffixes, addresses and CIDRs,
// times, MACs, enum names, protocol names, booleans. Each parser throws a FilterError that names
// the column and points at the value.

import { addrBigInt, parseAddr, parseMac as parseMacText } from '../pipeline/flow-batch.js';
import { type ColumnDef, PROTOCOL_NAMES } from '../schema/columns.js';
import { FilterError, type FilterValue } from './ast.js';

export interface ValueToken {
  readonly text: string;
  readonly quoted: boolean;
  readonly pos: number;
}

/** Largest value of each integer type a filter may compare with (u64: exact in a FlowBatch). */
const MAX: Record<string, number> = {
  u8: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  u64: Number.MAX_SAFE_INTEGER,
  mac: 2 ** 48 - 1,
};
// nfdump scales by 1000, not 1024 (nfdump(1): "k", "m", "g" scaling factors).
const UNIT: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const TIME_LIMIT = 8.64e15; // ECMAScript Date range, in ms

/** A value for `col`, or the FilterError saying why it is not one. */
export function parseValue(col: ColumnDef, v: ValueToken): FilterValue {
  switch (col.type) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 'u64':
      return { kind: 'number', value: parseInteger(col, v) };
    case 'mac':
      return { kind: 'number', value: parseMac(col, v) };
    case 'time':
      return { kind: 'number', value: parseTime(col, v) };
    case 'enum':
      return { kind: 'number', value: parseEnum(col, v) };
    case 'bool':
      return { kind: 'bool', value: parseBool(col, v) };
    case 'addr':
      return parseRange(col, v);
    case 'string':
    case 'list':
      return { kind: 'string', value: v.text };
  }
}

function fail(v: ValueToken, what: string, col: ColumnDef, hint = ''): never {
  throw new FilterError(`${JSON.stringify(v.text)} is not ${what} for ${col.name} at column ${v.pos}${hint}`, v.pos);
}

function parseInteger(col: ColumnDef, v: ValueToken): number {
  const t = v.text.toLowerCase();
  if (col.name === 'proto' && Object.hasOwn(PROTOCOL_NAMES, t)) return PROTOCOL_NAMES[t];
  const n = parseNumber(t);
  if (n === undefined) fail(v, 'a number', col, col.name === 'proto' ? ' (a number or tcp, udp, icmp, …)' : '');
  const max = MAX[col.type];
  if (n > max) {
    throw new FilterError(`${v.text} is out of range for ${col.name} (0..${max}) at column ${v.pos}`, v.pos);
  }
  return n;
}

/** Non-negative integer: decimal with an optional k/M/G/T suffix (1.5k = 1500), or 0x hex. */
export function parseNumber(text: string): number | undefined {
  const t = text.toLowerCase();
  if (/^0x[0-9a-f]+$/.test(t)) return Number.parseInt(t.slice(2), 16);
  const m = /^(\d+(?:\.\d+)?)([kmgt])?$/.exec(t);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? UNIT[m[2]] : 1);
  const r = Math.round(n);
  // Binary floating point makes 1.1k = 1100.0000000000002; anything further off is a fraction.
  if (Math.abs(n - r) > 1e-6 * Math.max(1, n) || !Number.isSafeInteger(r)) return undefined;
  return r;
}

function parseMac(col: ColumnDef, v: ValueToken): number {
  const m = parseMacText(v.text);
  if (m !== null) return m;
  const n = parseNumber(v.text.toLowerCase());
  if (n === undefined) fail(v, 'a MAC address', col);
  if (n > MAX.mac)
    throw new FilterError(`${v.text} is out of range for ${col.name} (48 bits) at column ${v.pos}`, v.pos);
  return n;
}

function parseTime(col: ColumnDef, v: ValueToken): number {
  const t = v.text;
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n <= TIME_LIMIT) return n;
  } else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t)) {
    // A time without a zone is UTC (flowwatch stores UTC; ECMAScript would read it as local time).
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(t) && t.length > 10;
    const iso = t.replace(' ', 'T');
    const ms = Date.parse(hasZone || iso.length === 10 ? iso : `${iso}Z`);
    if (!Number.isNaN(ms)) return ms;
  }
  fail(v, 'a time', col, ' (ISO 8601 such as 2024-05-01T10:00:00Z, or UTC milliseconds)');
}

function parseEnum(col: ColumnDef, v: ValueToken): number {
  const names = col.enumValues ?? [];
  const t = v.text.toLowerCase();
  const i = names.findIndex((n) => n.toLowerCase() === t);
  if (i >= 0) return i;
  // Numeric codes are accepted where the names are a standard's numbering (RFC 5102 flowEndReason).
  if (/^\d+$/.test(t) && Number(t) < names.length) return Number(t);
  throw new FilterError(
    `unknown value ${JSON.stringify(v.text)} for ${col.name} at column ${v.pos} (one of: ${names.join(', ')})`,
    v.pos,
  );
}

function parseBool(col: ColumnDef, v: ValueToken): boolean {
  const t = v.text.toLowerCase();
  if (t === 'true' || t === 'yes' || t === '1') return true;
  if (t === 'false' || t === 'no' || t === '0') return false;
  fail(v, 'a boolean', col, ' (true or false)');
}

const ALL_ONES = (1n << 128n) - 1n;

/** An address or CIDR as a 128-bit range; undefined when the text is neither. */
export function addressRange(text: string): { lo: bigint; hi: bigint } | undefined {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const w = parseAddr(addrText);
  if (!w) return undefined;
  const value = addrBigInt(w);
  if (slash < 0) return { lo: value, hi: value };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const isV4 = !addrText.includes(':');
  const len = Number(lenText) + (isV4 ? 96 : 0);
  if (len > 128) return undefined;
  // Host bits below the prefix are ignored, as nfdump and tcpdump do for "net 10.1.2.3/8".
  const hostMask = len === 128 ? 0n : ALL_ONES >> BigInt(len);
  const lo = value & ~hostMask & ALL_ONES;
  return { lo, hi: lo | hostMask };
}

function parseRange(col: ColumnDef, v: ValueToken): FilterValue {
  const r = addressRange(v.text);
  if (!r) fail(v, 'an IP address or CIDR', col);
  return { kind: 'range', lo: r.lo, hi: r.hi };
}
