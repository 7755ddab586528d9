// UDP datagrams out of a capture file, for `flowwatch import` and the corpus tests.
//
// Reads classic pcap (both byte orders, µs and ns magic) and pcapng (SHB/IDB/EPB/SPB and the
// obsolete Packet Block, several interfaces with their own link type and if_tsresol). Peels
// Ethernet (802.1Q / 802.1ad / QinQ tags), Linux cooked SLL and SLL2, raw IP, BSD null/loopback,
// then IPv4 or IPv6 (extension headers skipped) down to UDP. Anything else is skipped silently:
// a capture holds all sorts of traffic and only UDP matters here. A file that ends mid-record
// stops the generator cleanly after reporting the byte offset through `onError`.
//
// Pure: bytes in, packets out; no file system access (the caller reads the file).

import { formatIPv6 } from '../../pipeline/flow-batch.js';

export interface CapturedPacket {
  tsMs: number;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  /** UDP payload (a view into the file buffer, not a copy). */
  payload: Uint8Array;
}

// Link-layer header types (https://www.tcpdump.org/linktypes.html)
const LINKTYPE_NULL = 0;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_RAW_OLD_A = 12; // DLT_RAW on some BSDs
const LINKTYPE_RAW_OLD_B = 14; // DLT_RAW on OpenBSD
const LINKTYPE_LOOP = 108;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;
const LINKTYPE_LINUX_SLL2 = 276;

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 1;
const PCAPNG_OPB = 2; // obsolete Packet Block
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;

export function* readUdpPackets(file: Buffer | Uint8Array, onError?: (msg: string) => void): Generator<CapturedPacket> {
  const buf = file instanceof Uint8Array ? file : new Uint8Array(file);
  const report = onError ?? (() => {});
  if (buf.length < 4) {
    report(`not a capture file: ${buf.length} bytes at offset 0`);
    return;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magicBE = dv.getUint32(0, false);
  if (magicBE === PCAPNG_SHB) {
    yield* readPcapng(buf, dv, report);
    return;
  }
  let le: boolean;
  let nanos: boolean;
  switch (magicBE) {
    case 0xa1b2c3d4:
      le = false;
      nanos = false;
      break;
    case 0xd4c3b2a1:
      le = true;
      nanos = false;
      break;
    case 0xa1b23c4d:
      le = false;
      nanos = true;
      break;
    case 0x4d3cb2a1:
      le = true;
      nanos = true;
      break;
    default:
      report(`not a pcap/pcapng file: unknown magic 0x${magicBE.toString(16).padStart(8, '0')} at offset 0`);
      return;
  }
  if (buf.length < 24) {
    report(`truncated pcap global header at offset 0 (${buf.length} of 24 bytes)`);
    return;
  }
  // The link type shares its 32-bit word with FCS bits in newer libpcap (pcap spec §4): keep 16 bits.
  const linkType = dv.getUint32(20, le) & 0x0fff_ffff & 0xffff;
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) {
      report(`truncated pcap record header at offset ${off} (${buf.length - off} of 16 bytes)`);
      return;
    }
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    const start = off + 16;
    if (start + incl > buf.length) {
      report(`truncated pcap record at offset ${off}: ${incl} bytes captured, ${buf.length - start} present`);
      return;
    }
    const tsMs = sec * 1000 + Math.floor(nanos ? frac / 1e6 : frac / 1e3);
    const p = parseFrame(buf, start, start + incl, linkType, tsMs);
    if (p !== null) yield p;
    off = start + incl;
  }
}

interface Iface {
  linkType: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
}

function* readPcapng(buf: Uint8Array, dv: DataView, report: (msg: string) => void): Generator<CapturedPacket> {
  let off = 0;
  let le = true;
  let ifaces: Iface[] = [];
  let lastTs = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) {
      report(`truncated pcapng block header at offset ${off} (${buf.length - off} bytes left)`);
      return;
    }
    const type = dv.getUint32(off, le);
    if (type === PCAPNG_SHB) {
      // Section Header Block: the byte-order magic decides the endianness of this section.
      const bom = dv.getUint32(off + 8, false);
      if (bom === 0x1a2b3c4d) le = false;
      else if (bom === 0x4d3c2b1a) le = true;
      else {
        report(`bad pcapng byte-order magic at offset ${off + 8}`);
        return;
      }
      ifaces = []; // interface ids are per section
    }
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0) {
      report(`bad pcapng block length ${len} at offset ${off}`);
      return;
    }
    if (off + len > buf.length) {
      report(`truncated pcapng block at offset ${off}: ${len} bytes declared, ${buf.length - off} present`);
      return;
    }
    const body = off + 8;
    const end = off + len - 4;
    if (type === PCAPNG_IDB && end - body >= 8) {
      ifaces.push({ linkType: dv.getUint16(body, le), unitsPerMs: idbUnitsPerMs(buf, dv, body + 8, end, le) });
    } else if ((type === PCAPNG_EPB || type === PCAPNG_OPB) && end - body >= 20) {
      const ifId = type === PCAPNG_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const hi = dv.getUint32(body + 4, le);
      const lo = dv.getUint32(body + 8, le);
      const cap = dv.getUint32(body + 12, le);
      const data = body + 20;
      const iface = ifaces[ifId];
      if (iface === undefined) report(`pcapng packet at offset ${off} names unknown interface ${ifId}`);
      else if (data + cap > end) report(`pcapng packet at offset ${off}: captured length ${cap} exceeds its block`);
      else {
        lastTs = Math.floor((hi * 4294967296) / iface.unitsPerMs + lo / iface.unitsPerMs);
        const p = parseFrame(buf, data, data + cap, iface.linkType, lastTs);
        if (p !== null) yield p;
      }
    } else if (type === PCAPNG_SPB && end - body >= 4) {
      // Simple Packet Block: interface 0, no timestamp (pcapng §4.4); reuse the last one seen.
      const iface = ifaces[0];
      const orig = dv.getUint32(body, le);
      const data = body + 4;
      const cap = Math.min(orig, end - data);
      if (iface !== undefined) {
        const p = parseFrame(buf, data, data + cap, iface.linkType, lastTs);
        if (p !== null) yield p;
      }
    }
    off += len;
  }
}

/** if_tsresol (option 9): 10^-n or, with the top bit set, 2^-n seconds; default µs (pcapng §4.2). */
function idbUnitsPerMs(buf: Uint8Array, dv: DataView, off: number, end: number, le: boolean): number {
  while (off + 4 <= end) {
    const code = dv.getUint16(off, le);
    const len = dv.getUint16(off + 2, le);
    if (code === 0) break;
    if (code === 9 && len >= 1 && off + 4 < end) {
      const v = buf[off + 4];
      const perSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
      return perSec / 1000;
    }
    off += 4 + ((len + 3) & ~3);
  }
  return 1000;
}

/** Link layer → network layer; returns the UDP datagram or null. */
function parseFrame(buf: Uint8Array, off: number, end: number, linkType: number, tsMs: number): CapturedPacket | null {
  let etherType: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (end - off < 14) return null;
      etherType = (buf[off + 12] << 8) | buf[off + 13];
      off += 14;
      // 802.1Q, 802.1ad and the pre-standard 0x9100 QinQ tag: 4 bytes each, any depth.
      while ((etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && end - off >= 4) {
        etherType = (buf[off + 2] << 8) | buf[off + 3];
        off += 4;
      }
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (end - off < 16) return null;
      etherType = (buf[off + 14] << 8) | buf[off + 15];
      off += 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (end - off < 20) return null;
      etherType = (buf[off] << 8) | buf[off + 1];
      off += 20;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      // 4-byte address family: host byte order for NULL, network order for LOOP. AF_INET is 2
      // everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS, so look at the IP version.
      if (end - off < 5) return null;
      off += 4;
      etherType = ipVersionEtherType(buf[off]);
      break;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_OLD_A:
    case LINKTYPE_RAW_OLD_B:
      if (end - off < 1) return null;
      etherType = ipVersionEtherType(buf[off]);
      break;
    case LINKTYPE_IPV4:
      etherType = 0x0800;
      break;
    case LINKTYPE_IPV6:
      etherType = 0x86dd;
      break;
    default:
      return null;
  }
  if (etherType === 0x0800) return parseIPv4(buf, off, end, tsMs);
  if (etherType === 0x86dd) return parseIPv6(buf, off, end, tsMs);
  return null;
}

function ipVersionEtherType(firstByte: number): number {
  const v = firstByte >> 4;
  return v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
}

function parseIPv4(buf: Uint8Array, off: number, end: number, tsMs: number): CapturedPacket | null {
  if (end - off < 20 || buf[off] >> 4 !== 4) return null;
  const ihl = (buf[off] & 15) * 4;
  const total = (buf[off + 2] << 8) | buf[off + 3];
  if (ihl < 20 || total < ihl) return null;
  // Fragments: only a whole datagram carries a whole UDP payload (no reassembly here).
  const frag = ((buf[off + 6] << 8) | buf[off + 7]) & 0x3fff;
  if (frag !== 0 || buf[off + 9] !== 17) return null;
  // Ethernet pads short frames; the IP total length says where the datagram ends.
  const ipEnd = Math.min(end, off + total);
  const src = `${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  const dst = `${buf[off + 16]}.${buf[off + 17]}.${buf[off + 18]}.${buf[off + 19]}`;
  return parseUdp(buf, off + ihl, ipEnd, src, dst, tsMs);
}

function parseIPv6(buf: Uint8Array, off: number, end: number, tsMs: number): CapturedPacket | null {
  if (end - off < 40 || buf[off] >> 4 !== 6) return null;
  const payloadLen = (buf[off + 4] << 8) | buf[off + 5];
  let next = buf[off + 6];
  const src = formatV6(buf, off + 8);
  const dst = formatV6(buf, off + 24);
  const ipEnd = payloadLen === 0 ? end : Math.min(end, off + 40 + payloadLen); // 0: jumbogram
  let p = off + 40;
  // Extension headers (RFC 8200 §4): hop-by-hop, routing, destination options, mobility, HIP,
  // shim6 share the (next, len in 8-byte units - 1) layout; AH counts 4-byte units (RFC 4302).
  for (let guard = 0; guard < 16; guard++) {
    if (next === 17) return parseUdp(buf, p, ipEnd, src, dst, tsMs);
    if (ipEnd - p < 8) return null;
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
      const n = buf[p];
      p += (buf[p + 1] + 1) * 8;
      next = n;
    } else if (next === 51) {
      const n = buf[p];
      p += (buf[p + 1] + 2) * 4;
      next = n;
    } else if (next === 44) {
      // Fragment header: a fragment other than a complete one cannot be decoded alone.
      const fo = ((buf[p + 2] << 8) | buf[p + 3]) & 0xfff9;
      if (fo !== 0) return null;
      next = buf[p];
      p += 8;
    } else return null;
  }
  return null;
}

function parseUdp(
  buf: Uint8Array,
  off: number,
  end: number,
  src: string,
  dst: string,
  tsMs: number,
): CapturedPacket | null {
  if (end - off < 8) return null;
  const udpLen = (buf[off + 4] << 8) | buf[off + 5];
  // Trust the UDP length when it fits (trailers such as an Ethernet FCS follow); otherwise the capture.
  const stop = udpLen >= 8 && off + udpLen <= end ? off + udpLen : end;
  return {
    tsMs,
    srcAddr: src,
    dstAddr: dst,
    srcPort: (buf[off] << 8) | buf[off + 1],
    dstPort: (buf[off + 2] << 8) | buf[off + 3],
    payload: buf.subarray(off + 8, stop),
  };
}

const v6Words = new Uint32Array(4);
function formatV6(buf: Uint8Array, off: number): string {
  for (let w = 0; w < 4; w++) {
    const p = off + w * 4;
    v6Words[w] = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
  }
  return formatIPv6(v6Words, 0);
}
