// Readers of the ip-location-db "-num" CSV files, straight from the bytes (no string per line):
//   country: start,end,CC            (geo-whois-asn-country-ipv4-num.csv / -ipv6-num.csv)
//   asn:     start,end,ASN,org        (asn-ipv4-num.csv / asn-ipv6-num.csv; org may be "quoted, with ""escapes""")
// Bounds are inclusive decimal numbers (IPv6 ones up to 39 digits, i.e. beyond 2^64); they are
// kept as 4 words and the end is made exclusive. A line that does not parse is skipped and counted;
// the first few are kept with their line number for the error report.

import { incKey, RangeRows } from './ranges.js';

export interface CsvProblems {
  skipped: number;
  /** The first problems, `file:line: reason`. */
  samples: string[];
}

export interface CountryRows {
  rows: RangeRows;
  /** Country codes; the row value is index + 1. */
  countries: string[];
}

export interface AsnRows {
  rows: RangeRows;
  /** Per row value - 1: AS number and index into `orgs`. */
  asn: Uint32Array;
  org: Uint32Array;
  orgs: string[];
}

const COMMA = 0x2c;
const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

function problem(p: CsvProblems, source: string, line: number, reason: string): void {
  p.skipped++;
  if (p.samples.length < 5) p.samples.push(`${source}:${line}: ${reason}`);
}

// 8 limbs of 16 bits: limb * 1e4 + carry stays below 2^31, so 4 digits are folded in per step with
// integer operations only.
const limbs = new Int32Array(8);

/** Decimal digits buf[p..end) into 4 words at out[o]; false when not a number below 2^128. */
function parseDec(buf: Uint8Array, p: number, end: number, out: Uint32Array, o: number): boolean {
  if (p >= end || end - p > 39) return false;
  if (end - p <= 15) {
    // Every IPv4 bound and the low IPv6 ones: exact in a double.
    let v = 0;
    for (; p < end; p++) {
      const d = buf[p] - 0x30;
      if (d < 0 || d > 9) return false;
      v = v * 10 + d;
    }
    out[o] = 0;
    out[o + 1] = 0;
    out[o + 2] = Math.floor(v / 4294967296);
    out[o + 3] = v % 4294967296;
    return true;
  }
  limbs.fill(0);
  while (p < end) {
    let chunk = 0;
    let mul = 1;
    const stop = Math.min(end, p + 4);
    for (; p < stop; p++) {
      const d = buf[p] - 0x30;
      if (d < 0 || d > 9) return false;
      chunk = chunk * 10 + d;
      mul *= 10;
    }
    let carry = chunk;
    for (let i = 7; i >= 0; i--) {
      const t = limbs[i] * mul + carry;
      limbs[i] = t & 0xffff;
      carry = t >>> 16;
    }
    if (carry !== 0) return false;
  }
  for (let w = 0; w < 4; w++) out[o + w] = limbs[w * 2] * 65536 + limbs[w * 2 + 1];
  return true;
}

const bounds = new Uint32Array(8);

/**
 * Walk the lines; for each, parse the two bounds and call `rest(lineStart, p, eol, lineNo)` with `p`
 * just after the second comma. `rest` returns a value (> 0) or a reason string.
 */
function eachRange(
  buf: Uint8Array,
  source: string,
  rows: RangeRows,
  problems: CsvProblems,
  rest: (p: number, eol: number) => number | string,
): void {
  const n = buf.length;
  let line = 0;
  for (let p = 0; p < n; ) {
    let eol = buf.indexOf(NL, p);
    if (eol < 0) eol = n;
    line++;
    const next = eol + 1;
    let e = eol;
    if (e > p && buf[e - 1] === CR) e--;
    if (e === p) {
      p = next;
      continue;
    }
    const c1 = buf.indexOf(COMMA, p);
    const c2 = c1 < 0 || c1 >= e ? -1 : buf.indexOf(COMMA, c1 + 1);
    if (c2 < 0 || c2 >= e) {
      problem(problems, source, line, 'expected start,end,value');
      p = next;
      continue;
    }
    if (!parseDec(buf, p, c1, bounds, 0) || !parseDec(buf, c1 + 1, c2, bounds, 4)) {
      problem(problems, source, line, 'range bound is not a decimal number below 2^128');
      p = next;
      continue;
    }
    const v = rest(c2 + 1, e);
    if (typeof v === 'string') problem(problems, source, line, v);
    else {
      incKey(bounds, 4);
      rows.push(bounds, 0, bounds, 4, v);
    }
    p = next;
  }
}

export function parseCountryCsv(buf: Uint8Array, source: string, problems: CsvProblems): CountryRows {
  const rows = new RangeRows(Math.max(1024, buf.length >> 5));
  const countries: string[] = [];
  const byPair = new Int32Array(65536).fill(-1);
  eachRange(buf, source, rows, problems, (p, e) => {
    if (e - p !== 2) return 'country code is not two letters';
    const a = buf[p];
    const b = buf[p + 1];
    const key = (a << 8) | b;
    let idx = byPair[key];
    if (idx < 0) {
      const isUp = (x: number) => x >= 0x41 && x <= 0x5a;
      if (!isUp(a) || !isUp(b)) return 'country code is not two capital letters';
      idx = countries.length;
      countries.push(String.fromCharCode(a, b));
      byPair[key] = idx;
    }
    return idx + 1;
  });
  return { rows, countries };
}

export function parseAsnCsv(buf: Buffer, source: string, problems: CsvProblems): AsnRows {
  const rows = new RangeRows(Math.max(1024, buf.length >> 5));
  let asn = new Uint32Array(rows.values.length);
  let org = new Uint32Array(rows.values.length);
  const orgs: string[] = [];
  const orgIndex = new Map<string, number>();
  let n = 0;
  // Consecutive rows usually share their organisation: compare bytes before decoding a string.
  let prevStart = -1;
  let prevEnd = -1;
  let prevOrg = 0;
  eachRange(buf, source, rows, problems, (p, e) => {
    const c3 = buf.indexOf(COMMA, p);
    if (c3 < 0 || c3 >= e || c3 === p) return 'expected start,end,asn,organisation';
    let num = 0;
    for (let q = p; q < c3; q++) {
      const d = buf[q] - 0x30;
      if (d < 0 || d > 9) return 'AS number is not a number';
      num = num * 10 + d;
    }
    if (num > 0xffffffff) return 'AS number above 2^32';
    let os = c3 + 1;
    let oe = e;
    let orgIdx = 0;
    if (oe - os === prevEnd - prevStart && buf.compare(buf, os, oe, prevStart, prevEnd) === 0) orgIdx = prevOrg;
    else {
      const rawStart = os;
      const rawEnd = oe;
      let name: string;
      if (buf[os] === QUOTE) {
        if (oe - os < 2 || buf[oe - 1] !== QUOTE) return 'unterminated quoted organisation';
        os++;
        oe--;
        name = buf.toString('utf8', os, oe).replaceAll('""', '"');
      } else name = buf.toString('utf8', os, oe);
      let i = orgIndex.get(name);
      if (i === undefined) {
        i = orgs.length;
        orgs.push(name);
        orgIndex.set(name, i);
      }
      orgIdx = i;
      // remembered only once accepted: a refused line must not stand for the previous organisation
      prevStart = rawStart;
      prevEnd = rawEnd;
      prevOrg = i;
    }
    if (n >= asn.length) {
      const a2 = new Uint32Array(asn.length * 2);
      a2.set(asn);
      asn = a2;
      const o2 = new Uint32Array(org.length * 2);
      o2.set(org);
      org = o2;
    }
    asn[n] = num;
    org[n] = orgIdx;
    n++;
    return n;
  });
  return { rows, asn: asn.subarray(0, n), org: org.subarray(0, n), orgs };
}
