// Light deep packet inspection for the flow meter: the few names a security team pivots on (DNS
// query name, TLS SNI, HTTP Host) read from single packets, the way YAF's and ipfixprobe's
// plugins do. No reassembly: each function looks at one payload and returns null when the name is
// not wholly inside it. Every read is bounds-checked against `end`; hostile lengths only make the
// functions return null.

/** Longest name kept (RFC 1035 §2.3.4: 255 octets on the wire). */
const MAX_NAME = 255;

/**
 * Query name of the first question of a DNS message (RFC 1035 §4.1): queries and responses alike.
 * Compression pointers (§4.1.4) are followed, at most 32 of them and never forwards into a loop.
 * Returns '' for the root, null when the message is not DNS-shaped.
 */
export function dnsQueryName(buf: Uint8Array, off: number, end: number): string | null {
  if (end - off < 17) return null; // 12-byte header + root name + qtype + qclass
  const flags = (buf[off + 2] << 8) | buf[off + 3];
  const opcode = (flags >> 11) & 15;
  const qd = (buf[off + 4] << 8) | buf[off + 5];
  if (qd === 0 || qd > 32 || opcode > 6) return null;
  let p = off + 12;
  let name = '';
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (p >= end) return null;
    const len = buf[p];
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= end || ++jumps > 32) return null;
      const target = off + (((len & 0x3f) << 8) | buf[p + 1]);
      if (target >= p) return null; // pointers point backwards (only earlier names can be referenced)
      p = target;
      continue;
    }
    if (len & 0xc0) return null; // 0x40/0x80: extended label types (RFC 6891 §5), not names
    if (p + 1 + len > end) return null;
    total += len + 1;
    if (total > MAX_NAME) return null;
    if (name.length > 0) name += '.';
    for (let i = p + 1; i <= p + len; i++) name += LABEL_CHAR[buf[i]];
    p += len + 1;
  }
  return name;
}

// Printable ASCII as itself, anything else escaped like the presentation format (RFC 4343 §2.1).
const LABEL_CHAR: string[] = [];
for (let b = 0; b < 256; b++) {
  LABEL_CHAR.push(
    b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString().padStart(3, '0')}`,
  );
}

/**
 * SNI host_name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) that starts this payload with a
 * handshake record. When the hello is split over TCP segments only the first segment is seen: the
 * SNI is found when it lies inside it (it usually does: it is among the first extensions), null
 * otherwise.
 */
export function tlsClientHelloSni(buf: Uint8Array, off: number, end: number): string | null {
  if (end - off < 43 || buf[off] !== 0x16 || buf[off + 1] !== 3 || buf[off + 5] !== 1) return null;
  const recEnd = Math.min(end, off + 5 + ((buf[off + 3] << 8) | buf[off + 4]));
  let p = off + 9 + 2 + 32; // record header 5, handshake header 4, client_version 2, random 32
  if (p >= recEnd) return null;
  p += 1 + buf[p]; // session id
  if (p + 2 > recEnd) return null;
  p += 2 + ((buf[p] << 8) | buf[p + 1]); // cipher suites
  if (p + 1 > recEnd) return null;
  p += 1 + buf[p]; // compression methods
  if (p + 2 > recEnd) return null;
  const extEnd = Math.min(recEnd, p + 2 + ((buf[p] << 8) | buf[p + 1]));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = (buf[p] << 8) | buf[p + 1];
    const len = (buf[p + 2] << 8) | buf[p + 3];
    p += 4;
    if (type === 0) {
      const stop = Math.min(extEnd, p + len);
      let q = p + 2; // server_name_list length
      while (q + 3 <= stop) {
        const nameType = buf[q];
        const nameLen = (buf[q + 1] << 8) | buf[q + 2];
        q += 3;
        if (q + nameLen > stop) return null;
        if (nameType === 0) return asciiName(buf, q, q + nameLen);
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}

const METHODS = ['GET ', 'POST ', 'HEAD ', 'PUT ', 'DELETE ', 'OPTIONS ', 'CONNECT ', 'PATCH ', 'TRACE '];
const METHOD_BYTES = METHODS.map((m) => Uint8Array.from(m, (c) => c.charCodeAt(0)));

/** True when the payload starts with an HTTP/1.x request method and a space (RFC 9112 §3). */
export function isHttpRequest(buf: Uint8Array, off: number, end: number): boolean {
  const c = buf[off];
  // Cheap gate: every method starts with one of these capitals.
  if (c !== 0x47 && c !== 0x50 && c !== 0x48 && c !== 0x44 && c !== 0x4f && c !== 0x43 && c !== 0x54) return false;
  for (const m of METHOD_BYTES) {
    if (end - off < m.length) continue;
    let ok = true;
    for (let i = 0; i < m.length; i++) {
      if (buf[off + i] !== m[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

/**
 * Host header of an HTTP/1.x request whose headers start in this payload (RFC 9110 §7.2); field
 * names are case-insensitive, optional whitespace around the value is dropped. Null when absent
 * from this segment.
 */
export function httpRequestHost(buf: Uint8Array, off: number, end: number): string | null {
  const stop = Math.min(end, off + 8192);
  for (let p = off; p + 6 < stop; p++) {
    if (buf[p] !== 0x0a) continue;
    const n = buf[p + 1];
    if (n === 0x0d || n === 0x0a) return null; // blank line: end of the header section
    if (
      (n | 0x20) === 0x68 &&
      (buf[p + 2] | 0x20) === 0x6f &&
      (buf[p + 3] | 0x20) === 0x73 &&
      (buf[p + 4] | 0x20) === 0x74 &&
      buf[p + 5] === 0x3a
    ) {
      let s = p + 6;
      while (s < stop && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
      let e = s;
      while (e < stop && buf[e] !== 0x0d && buf[e] !== 0x0a) e++;
      if (e === stop && stop === end) return null; // value cut by the segment end
      while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
      return asciiName(buf, s, e);
    }
  }
  return null;
}

/**
 * QUIC long-header Initial packet (RFC 9000 §17.2.2) with a known version: header form and fixed
 * bits set, packet type 0 (v1) — or 1 for QUIC v2 (RFC 9369 §3.2) — and plausible connection id
 * lengths. The SNI inside is encrypted with keys derived from the DCID; it is not decrypted here.
 * `datagramLen` is the UDP payload length the datagram declares: a capture cut by its snap length
 * (the agent's 256 bytes) holds only the first bytes, which are all this reads.
 */
export function isQuicInitial(buf: Uint8Array, off: number, end: number, datagramLen = end - off): boolean {
  if (datagramLen < 1200) return false; // a client Initial's datagram is padded to ≥ 1200 bytes (§14.1)
  if (end - off < 6) return false; // first byte, version, DCID length
  const b = buf[off];
  if ((b & 0xc0) !== 0xc0) return false;
  const version = ((buf[off + 1] << 24) | (buf[off + 2] << 16) | (buf[off + 3] << 8) | buf[off + 4]) >>> 0;
  const type = (b >> 4) & 3;
  if (version === 1) {
    if (type !== 0) return false;
  } else if (version === 0x6b3343cf) {
    if (type !== 1) return false;
  } else if ((version & 0xffffff00) >>> 0 === 0xff000000) {
    // IETF drafts (draft-ietf-quic-transport-29 and neighbours): same Initial layout as v1.
    if (type !== 0) return false;
  } else return false;
  const dcil = buf[off + 5];
  return dcil <= 20;
}

function asciiName(buf: Uint8Array, s: number, e: number): string | null {
  if (e <= s || e - s > MAX_NAME) return null;
  let out = '';
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (c < 0x21 || c > 0x7e) return null; // host names are printable ASCII (IDNs travel as A-labels)
    out += String.fromCharCode(c);
  }
  return out;
}
