// Field readers and column writers shared by the text/JSON log parsers (AWS, Azure): parse a
// slice text[s, e) of the line in place — no substring per field — and write straight into a
// FlowBatch. One writer per typed-array kind keeps each store site monomorphic (a shared writer
// over Uint8/Uint16/Float64 columns would be a polymorphic keyed store).

import { type FlowBatch, parseAddr } from '../pipeline/flow-batch.js';

export function setF64(b: FlowBatch, col: number, row: number, v: number): void {
  (b.data[col] as Float64Array)[row] = v;
  b.valid[col][row] = 1;
}
export function setU16(b: FlowBatch, col: number, row: number, v: number): void {
  (b.data[col] as Uint16Array)[row] = v;
  b.valid[col][row] = 1;
}
export function setU8(b: FlowBatch, col: number, row: number, v: number): void {
  (b.data[col] as Uint8Array)[row] = v;
  b.valid[col][row] = 1;
}

/** Unsigned decimal of text[s, e) or -1 (empty, non-digit, or above 2^53). */
export function uint(text: string, s: number, e: number): number {
  if (e <= s || e - s > 16) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** IPv4 dotted quad of text[s, e) as an unsigned integer, or -1. */
export function ipv4(text: string, s: number, e: number): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || digits === 3) return -1;
      part = part * 10 + d;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + part;
}

/** Write the address in text[s, e); returns 4 or 6 (the family), -1 when it is not an address. */
export function addrCol(text: string, s: number, e: number, b: FlowBatch, col: number, row: number): number {
  const a = b.data[col] as Uint32Array;
  const o = row * 4;
  const v4 = ipv4(text, s, e);
  if (v4 >= 0) {
    a[o] = 0;
    a[o + 1] = 0;
    a[o + 2] = 0xffff;
    a[o + 3] = v4;
    b.valid[col][row] = 1;
    return 4;
  }
  if (e - s < 2) return -1;
  const w = parseAddr(text.slice(s, e));
  if (w === null) return -1;
  a[o] = w[0];
  a[o + 1] = w[1];
  a[o + 2] = w[2];
  a[o + 3] = w[3];
  b.valid[col][row] = 1;
  return 6;
}

// Byte versions of the readers, for parsers that read ASCII records without decoding them to a
// JS string first (AWS VPC Flow Logs).

/** Unsigned decimal of buf[s, e) or -1 (empty, non-digit, or above 2^53). */
export function uintBytes(buf: Uint8Array, s: number, e: number): number {
  if (e <= s || e - s > 16) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** IPv4 dotted quad of buf[s, e) as an unsigned integer, or -1. */
export function ipv4Bytes(buf: Uint8Array, s: number, e: number): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || digits === 3) return -1;
      part = part * 10 + d;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + part;
}

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}
const V6 = new Uint16Array(8);

/**
 * IPv6 text of buf[s, e) (RFC 4291 §2.2: groups, one "::", an IPv4 tail) into 4 words at
 * out[o..o+3]; false when it is not an address. Zone ids ("%eth0") are not addresses here.
 */
export function ipv6Bytes(buf: Uint8Array, s: number, e: number, out: Uint32Array, o: number): boolean {
  if (e - s < 2 || e - s > 45) return false;
  let n = 0;
  let gap = -1;
  let i = s;
  if (buf[i] === 58) {
    if (buf[i + 1] !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < e) {
    const gs = i;
    let v = 0;
    let d = 0;
    while (i < e) {
      const x = HEX[buf[i]];
      if (x < 0) break;
      if (++d > 4) return false;
      v = (v << 4) | x;
      i++;
    }
    if (i < e && buf[i] === 46) {
      if (n > 6) return false;
      const v4 = ipv4Bytes(buf, gs, e);
      if (v4 < 0) return false;
      V6[n++] = v4 >>> 16;
      V6[n++] = v4 & 0xffff;
      i = e;
      break;
    }
    if (d === 0 || n === 8) return false;
    V6[n++] = v;
    if (i === e) break;
    if (buf[i] !== 58) return false;
    i++;
    if (i === e) return false; // a single trailing colon
    if (buf[i] === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const shift = 8 - n; // groups the "::" stands for
  for (let k = 0; k < 8; k += 2) {
    const hi = gap < 0 || k < gap ? V6[k] : k < gap + shift ? 0 : V6[k - shift];
    const k1 = k + 1;
    const lo = gap < 0 || k1 < gap ? V6[k1] : k1 < gap + shift ? 0 : V6[k1 - shift];
    out[o + (k >> 1)] = ((hi << 16) | lo) >>> 0;
  }
  return true;
}
