// Structure-aware mutations of NetFlow v5/v9 and IPFIX export packets for the decoder fuzz test.
// Blind byte noise mostly dies at the first length check; these also lie in the fields a decoder
// trusts (message length, set length, template field counts, field lengths, template and domain
// ids) so the deeper paths — template learning, variable-length fields, held sets — get hit too.

import { rng } from '../helpers/rng.js';

export { rng };

export const MUTATIONS = [
  'bit_flips',
  'bytes_00',
  'bytes_ff',
  'bytes_random',
  'truncate',
  'header_length_lie',
  'set_length_lie',
  'duplicate_set',
  'field_count_huge',
  'zero_length_field',
  'set_id_change',
  'domain_change',
  'combined',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface Mutated {
  bytes: Uint8Array;
  /** What was done, precise enough to rebuild the packet by hand. */
  what: string;
}

interface SetPos {
  off: number;
  id: number;
  len: number;
}

/** Apply one mutation (chosen by `rand` unless given) to a copy of `src`. */
export function mutate(src: Uint8Array, rand: () => number, kind?: Mutation): Mutated {
  const k = kind ?? MUTATIONS[Math.floor(rand() * MUTATIONS.length)];
  const int = (n: number) => Math.floor(rand() * n);
  // A copy as a plain Uint8Array: Buffer.prototype.slice would return a view and mutate the corpus.
  let b = new Uint8Array(src);
  const version = b.length >= 2 ? (b[0] << 8) | b[1] : 0;
  const hdr = version === 10 ? 16 : version === 9 ? 20 : 24;
  switch (k) {
    case 'bit_flips': {
      const n = 1 + int(8);
      const at: number[] = [];
      for (let i = 0; i < n && b.length > 0; i++) {
        const bit = int(b.length * 8);
        b[bit >> 3] ^= 1 << (bit & 7);
        at.push(bit);
      }
      return { bytes: b, what: `${k} bits ${at.join(',')}` };
    }
    case 'bytes_00':
    case 'bytes_ff':
    case 'bytes_random': {
      const n = 1 + int(4);
      const at: string[] = [];
      for (let i = 0; i < n && b.length > 0; i++) {
        const p = int(b.length);
        b[p] = k === 'bytes_00' ? 0 : k === 'bytes_ff' ? 0xff : int(256);
        at.push(`${p}=${b[p]}`);
      }
      return { bytes: b, what: `${k} ${at.join(',')}` };
    }
    case 'truncate': {
      const n = int(b.length);
      return { bytes: b.slice(0, n), what: `${k} to ${n}` };
    }
    case 'header_length_lie': {
      // IPFIX: message length (§3.1); v9/v5: record count (RFC 3954 §5.1).
      if (b.length < 4) return { bytes: b, what: `${k} (too short)` };
      const v = lie(b.length, rand);
      b[2] = v >> 8;
      b[3] = v & 0xff;
      return { bytes: b, what: `${k} = ${v}` };
    }
    case 'set_length_lie': {
      const s = pick(sets(b, hdr), rand);
      if (s === undefined) return { bytes: b, what: `${k} (no set)` };
      const v = lie(s.len, rand);
      b[s.off + 2] = v >> 8;
      b[s.off + 3] = v & 0xff;
      return { bytes: b, what: `${k} set@${s.off} id ${s.id}: ${s.len} → ${v}` };
    }
    case 'duplicate_set': {
      const s = pick(sets(b, hdr), rand);
      if (s === undefined) return { bytes: b, what: `${k} (no set)` };
      const end = Math.min(b.length, s.off + s.len);
      const out = new Uint8Array(b.length + (end - s.off));
      out.set(b.subarray(0, end), 0);
      out.set(b.subarray(s.off, end), end);
      out.set(b.subarray(end), end + (end - s.off));
      const fix = rand() < 0.5;
      if (fix && version === 10 && out.length <= 65535) {
        out[2] = out.length >> 8;
        out[3] = out.length & 0xff;
      }
      b = out;
      return { bytes: b, what: `${k} set@${s.off} id ${s.id} len ${s.len}${fix ? ' (length fixed)' : ''}` };
    }
    case 'field_count_huge': {
      const s = pick(
        sets(b, hdr).filter((x) => x.id <= 3),
        rand,
      );
      if (s === undefined || s.off + 8 > b.length) return { bytes: b, what: `${k} (no template set)` };
      const v = rand() < 0.5 ? 0xffff : int(65536);
      // IPFIX options: scope field count at +8 is lied about half of the time instead.
      const at = version === 10 && s.id === 3 && rand() < 0.5 && s.off + 10 <= b.length ? s.off + 8 : s.off + 6;
      b[at] = v >> 8;
      b[at + 1] = v & 0xff;
      return { bytes: b, what: `${k} set@${s.off} id ${s.id}: count@${at} = ${v}` };
    }
    case 'zero_length_field': {
      const s = pick(
        sets(b, hdr).filter((x) => x.id <= 3),
        rand,
      );
      if (s === undefined) return { bytes: b, what: `${k} (no template set)` };
      // First record's field specifiers: IPFIX 2 at +8, IPFIX 3 at +10, v9 0 at +8, v9 1 at +10.
      let p = s.off + (s.id === 1 || s.id === 3 ? 10 : 8);
      const end = Math.min(b.length, s.off + s.len);
      const fields: number[] = [];
      while (p + 4 <= end && fields.length < 512) {
        fields.push(p);
        p += version === 10 && b[p] & 0x80 ? 8 : 4;
      }
      const f = pick(fields, rand);
      if (f === undefined) return { bytes: b, what: `${k} (no field)` };
      const v = rand() < 0.7 ? 0 : 0xffff; // 0xffff: variable length (RFC 7011 §7)
      b[f + 2] = v >> 8;
      b[f + 3] = v & 0xff;
      return { bytes: b, what: `${k} set@${s.off} field@${f} length = ${v}` };
    }
    case 'set_id_change': {
      const s = pick(sets(b, hdr), rand);
      if (s === undefined) return { bytes: b, what: `${k} (no set)` };
      // Either the set id, or the template id the first template record defines.
      const at = s.id <= 3 && s.off + 6 <= b.length && rand() < 0.5 ? s.off + 4 : s.off;
      const v = rand() < 0.3 ? int(4) : int(65536);
      b[at] = v >> 8;
      b[at + 1] = v & 0xff;
      return { bytes: b, what: `${k} id@${at} = ${v}` };
    }
    case 'domain_change': {
      // IPFIX observation domain (§3.1, bytes 12..15); v9 source id (bytes 16..19); v5 engine.
      const at = version === 10 ? 12 : version === 9 ? 16 : 20;
      if (b.length < at + 4) return { bytes: b, what: `${k} (too short)` };
      const v = int(2 ** 32);
      b[at] = v >>> 24;
      b[at + 1] = (v >>> 16) & 0xff;
      b[at + 2] = (v >>> 8) & 0xff;
      b[at + 3] = v & 0xff;
      return { bytes: b, what: `${k} = ${v}` };
    }
    case 'combined': {
      const n = 2 + int(2);
      const what: string[] = [];
      let cur: Uint8Array = b;
      for (let i = 0; i < n; i++) {
        const m = mutate(cur, rand, MUTATIONS[int(MUTATIONS.length - 1)]);
        cur = m.bytes;
        what.push(m.what);
      }
      return { bytes: cur, what: `combined: ${what.join(' ; ')}` };
    }
  }
}

/** Set (FlowSet) headers from `hdr` on, following each set's own length while it is sane. */
function sets(b: Uint8Array, hdr: number): SetPos[] {
  const out: SetPos[] = [];
  let p = hdr;
  while (p + 4 <= b.length && out.length < 64) {
    const id = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    out.push({ off: p, id, len });
    if (len < 4) break;
    p += len;
  }
  return out;
}

function pick<T>(list: T[], rand: () => number): T | undefined {
  return list.length === 0 ? undefined : list[Math.floor(rand() * list.length)];
}

/** A plausible lie about a length: off by a little, the edges, or anything. */
function lie(actual: number, rand: () => number): number {
  const choices = [0, 1, 3, 4, 5, 15, 16, 17, actual - 1, actual + 1, actual * 2, 65535];
  const v = rand() < 0.8 ? choices[Math.floor(rand() * choices.length)] : Math.floor(rand() * 65536);
  return Math.max(0, Math.min(65535, v));
}
