// Community ID v1 (Corelight community-id-spec, README "Pseudo code" and "Technical details"): a
// direction-free flow id that Zeek, Suricata, Wireshark, Arkime and Elastic compute the same way,
// so that a flow here pivots to the matching conn.log line, eve record or packets by string match.
//
//   id = "1:" + base64(SHA1(seed:u16 . saddr . daddr . proto:u8 . 0:u8 [. sport:u16 . dport:u16]))
//
// all big-endian; IPv4 as 4 bytes, IPv6 as 16; the endpoint with the smaller address (then the
// smaller port) goes first. Only TCP, UDP, SCTP, ICMP and ICMPv6 carry ports; every other IP
// protocol hashes addresses and protocol only. ICMP type/code become ports the way Zeek maps them.
//
// The hash input is at most 40 bytes, so it always fits one 64-byte SHA-1 block after padding
// (FIPS 180-4 §5.1.1): a single-block SHA-1 over one reused scratch buffer costs no allocation and
// about a fifth of a node:crypto createHash() round trip (bench/community-id.bench.ts measures both).

import { type FlowBatch, parseAddr } from '../pipeline/flow-batch.js';
import { C } from '../schema/columns.js';

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMP6 = 58;
const PROTO_SCTP = 132;

/**
 * Fill `community_id` of every row that has both addresses (same family) and a protocol, plus the
 * ports its protocol needs (TCP/UDP/SCTP: src_port and dst_port; ICMP/ICMPv6: icmp_type/icmp_code,
 * or type*256+code in dst_port as NetFlow v5 and many v9/IPFIX exporters send it). Rows that lack
 * them stay null; rows that already have a community_id (Zeek, Suricata, which computed it from the
 * packets, possibly with their own seed) keep it. Returns the number of rows filled.
 */
export function computeCommunityIds(batch: FlowBatch, seed = 0): number {
  checkSeed(seed);
  const sa = batch.data[C.src_addr] as Uint32Array;
  const da = batch.data[C.dst_addr] as Uint32Array;
  const vsa = batch.valid[C.src_addr];
  const vda = batch.valid[C.dst_addr];
  const proto = batch.data[C.proto];
  const vproto = batch.valid[C.proto];
  const sp = batch.data[C.src_port];
  const dp = batch.data[C.dst_port];
  const vsp = batch.valid[C.src_port];
  const vdp = batch.valid[C.dst_port];
  const it = batch.data[C.icmp_type];
  const ic = batch.data[C.icmp_code];
  const vit = batch.valid[C.icmp_type];
  const vic = batch.valid[C.icmp_code];
  const vcid = batch.valid[C.community_id];
  let filled = 0;
  for (let r = 0; r < batch.length; r++) {
    if (vcid[r] !== 0 || vsa[r] === 0 || vda[r] === 0 || vproto[r] === 0) continue;
    const p = proto[r];
    let s = -1;
    let d = -1;
    if (p === PROTO_TCP || p === PROTO_UDP || p === PROTO_SCTP) {
      if (vsp[r] === 0 || vdp[r] === 0) continue;
      s = sp[r];
      d = dp[r];
    } else if (p === PROTO_ICMP || p === PROTO_ICMP6) {
      if (vit[r] !== 0) {
        s = it[r];
        d = vic[r] !== 0 ? ic[r] : 0;
      } else if (vdp[r] !== 0) {
        s = dp[r] >>> 8;
        d = dp[r] & 0xff;
      } else continue;
    }
    const id = hashTuple(sa, r * 4, da, r * 4, p, s, d, seed);
    if (id === '') continue;
    batch.setString(C.community_id, r, id);
    filled++;
  }
  return filled;
}

/**
 * Community ID of one flow given as text addresses. For ICMP/ICMPv6 pass the type as `sport` and
 * the code as `dport` (as Zeek, pycommunityid and Wireshark take them); for protocols other than
 * TCP/UDP/SCTP/ICMP/ICMPv6 the ports are ignored. Returns '' when the addresses do not parse or are
 * of different families (the spec allows an empty id for what it cannot hash). An IPv4-mapped IPv6
 * text (::ffff:a.b.c.d) is hashed as the IPv4 address, as the batch stores it.
 */
export function communityId(src: string, dst: string, proto: number, sport: number, dport: number, seed = 0): string {
  checkSeed(seed);
  const a = parseAddr(src);
  const b = parseAddr(dst);
  if (a === null || b === null) return '';
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) return '';
  const ported =
    proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP || proto === PROTO_ICMP || proto === PROTO_ICMP6;
  if (ported && (!isPort(sport) || !isPort(dport))) return '';
  return hashTuple(a, 0, b, 0, proto, ported ? sport : -1, ported ? dport : -1, seed);
}

function isPort(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

function checkSeed(seed: number): void {
  // The seed is configuration, not flow data: a wrong one is a setup error worth stopping for.
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff) {
    throw new RangeError(`community_id seed must be an integer 0..65535, got ${seed}`);
  }
}

// ---- hashing

// Zeek's ICMP "counter-types" (pycommunityid icmp.py / icmp6.py, Zeek ICMP.cc): a request and its
// reply map to the same port pair so both directions share an id. -1: no counterpart, the message
// is one-way, the code becomes the second port and the endpoints are never swapped.
const ICMP4_PEER = counterTypes([
  [8, 0], // echo / echo reply
  [13, 14], // timestamp
  [15, 16], // information
  [10, 9], // router solicitation / advertisement
  [17, 18], // address mask
]);
const ICMP6_PEER = counterTypes([
  [128, 129], // echo request / reply
  [130, 131], // MLD listener query / report
  [133, 134], // ND router solicitation / advertisement
  [135, 136], // ND neighbor solicitation / advertisement
  [139, 140], // node information (who-are-you) query / reply
  [144, 145], // home agent address discovery request / reply
]);

function counterTypes(pairs: [number, number][]): Int16Array {
  const t = new Int16Array(256).fill(-1);
  for (const [a, b] of pairs) {
    t[a] = b;
    t[b] = a;
  }
  return t;
}

/** The one hash input buffer, already holding SHA-1 padding space (one 64-byte block). */
const block = new Uint8Array(64);
const W = new Int32Array(80);
/** Digest words of the last hashTuple call. */
const H = new Int32Array(5);

/**
 * Id of the tuple whose addresses are 4 words at `ao` of `aw` and `bo` of `bw` (IPv4 when mapped).
 * `s`/`d` < 0: no ports. ICMP types are mapped here. '' when the families differ.
 */
function hashTuple(
  aw: Uint32Array,
  ao: number,
  bw: Uint32Array,
  bo: number,
  proto: number,
  s: number,
  d: number,
  seed: number,
): string {
  const v4 = aw[ao] === 0 && aw[ao + 1] === 0 && aw[ao + 2] === 0xffff;
  const bv4 = bw[bo] === 0 && bw[bo + 1] === 0 && bw[bo + 2] === 0xffff;
  if (v4 !== bv4) return '';
  let oneWay = false;
  if (s >= 0 && (proto === PROTO_ICMP || proto === PROTO_ICMP6)) {
    const peer = s > 0xff ? -1 : (proto === PROTO_ICMP ? ICMP4_PEER : ICMP6_PEER)[s];
    if (peer < 0) oneWay = true;
    else d = peer;
  }
  // Order endpoints: addresses compared as unsigned big-endian numbers (byte order = word order),
  // ports decide on equal addresses; one-way ICMP keeps its direction.
  let swap = false;
  if (!oneWay) {
    let cmp = 0;
    for (let w = v4 ? 3 : 0; w < 4 && cmp === 0; w++) {
      const x = aw[ao + w];
      const y = bw[bo + w];
      if (x !== y) cmp = x < y ? -1 : 1;
    }
    swap = cmp > 0 || (cmp === 0 && s > d);
  }
  let lw: Uint32Array = aw;
  let lo = ao;
  let hw: Uint32Array = bw;
  let ho = bo;
  if (swap) {
    lw = bw;
    lo = bo;
    hw = aw;
    ho = ao;
    const t = s;
    s = d;
    d = t;
  }
  const m = block;
  m[0] = seed >>> 8;
  m[1] = seed & 0xff;
  let n = 2;
  for (let w = v4 ? 3 : 0; w < 4; w++, n += 4) putWord(m, n, lw[lo + w]);
  for (let w = v4 ? 3 : 0; w < 4; w++, n += 4) putWord(m, n, hw[ho + w]);
  m[n++] = proto;
  m[n++] = 0;
  if (s >= 0) {
    m[n++] = s >>> 8;
    m[n++] = s & 0xff;
    m[n++] = d >>> 8;
    m[n++] = d & 0xff;
  }
  // FIPS 180-4 §5.1.1 padding: 0x80, zeros, then the message length in bits in the last 8 bytes.
  m[n] = 0x80;
  m.fill(0, n + 1, 62);
  m[62] = (n * 8) >>> 8;
  m[63] = (n * 8) & 0xff;
  sha1Block(m);
  return render();
}

function putWord(m: Uint8Array, o: number, v: number): void {
  m[o] = v >>> 24;
  m[o + 1] = (v >>> 16) & 0xff;
  m[o + 2] = (v >>> 8) & 0xff;
  m[o + 3] = v & 0xff;
}

/** SHA-1 of one padded 64-byte block (FIPS 180-4 §6.1.2) into H. */
function sha1Block(m: Uint8Array): void {
  const w = W;
  for (let i = 0; i < 16; i++) {
    const o = i * 4;
    w[i] = (m[o] << 24) | (m[o + 1] << 16) | (m[o + 2] << 8) | m[o + 3];
  }
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  let e = 0xc3d2e1f0 | 0;
  for (let i = 0; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + w[i] + 0x5a827999) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 20; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i] + 0x6ed9eba1) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 40; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + w[i] + (0x8f1bbcdc | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 60; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i] + (0xca62c1d6 | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  H[0] = (a + 0x67452301) | 0;
  H[1] = (b + 0xefcdab89) | 0;
  H[2] = (c + 0x98badcfe) | 0;
  H[3] = (d + 0x10325476) | 0;
  H[4] = (e + 0xc3d2e1f0) | 0;
}

const B64 = new Uint8Array(64);
for (let i = 0; i < 64; i++) B64[i] = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i);

/**
 * "1:" + RFC 4648 base64 of the 20 digest bytes in H. The 160 bits are read as 26 six-bit groups
 * plus 4 bits that end the 27th (zero-filled) and one '=' pad. One fromCharCode call with fixed
 * arity builds the flat 30-char string directly, without intermediate pieces.
 */
function render(): string {
  const h0 = H[0];
  const h1 = H[1];
  const h2 = H[2];
  const h3 = H[3];
  const h4 = H[4];
  const t = B64;
  return String.fromCharCode(
    0x31,
    0x3a,
    t[(h0 >>> 26) & 63],
    t[(h0 >>> 20) & 63],
    t[(h0 >>> 14) & 63],
    t[(h0 >>> 8) & 63],
    t[(h0 >>> 2) & 63],
    t[((h0 << 4) | (h1 >>> 28)) & 63],
    t[(h1 >>> 22) & 63],
    t[(h1 >>> 16) & 63],
    t[(h1 >>> 10) & 63],
    t[(h1 >>> 4) & 63],
    t[((h1 << 2) | (h2 >>> 30)) & 63],
    t[(h2 >>> 24) & 63],
    t[(h2 >>> 18) & 63],
    t[(h2 >>> 12) & 63],
    t[(h2 >>> 6) & 63],
    t[h2 & 63],
    t[(h3 >>> 26) & 63],
    t[(h3 >>> 20) & 63],
    t[(h3 >>> 14) & 63],
    t[(h3 >>> 8) & 63],
    t[(h3 >>> 2) & 63],
    t[((h3 << 4) | (h4 >>> 28)) & 63],
    t[(h4 >>> 22) & 63],
    t[(h4 >>> 16) & 63],
    t[(h4 >>> 10) & 63],
    t[(h4 >>> 4) & 63],
    t[(h4 << 2) & 63],
    0x3d,
  );
}

/** The 20-byte digest of the last id computed (tests compare it with node:crypto). */
export function lastDigestForTest(): Uint8Array {
  const out = new Uint8Array(20);
  for (let i = 0; i < 5; i++) putWord(out, i * 4, H[i]);
  return out;
}

/** The hash input bytes of the last id computed (tests hash them with node:crypto). */
export function lastHashInputForTest(): Uint8Array {
  const bits = (block[62] << 8) | block[63];
  return block.slice(0, bits / 8);
}
