// Frames out of a capture file (classic pcap or pcapng), handed to a visitor one at a time with no
// object per frame: the visitor gets the file buffer and the frame's [off, end) range.
//
// pcapng (draft-ietf-opsawg-pcapng): Section Header Blocks in either byte order (each section has
// its own byte order and its own interface list, §4.1), Interface Description Blocks (link type,
// if_tsresol as a power of 10 or, top bit set, of 2, and if_tsoffset, §4.2), Enhanced Packet
// Blocks (§4.3), Simple Packet Blocks (§4.4: interface 0, no timestamp, so the last timestamp seen
// is reused) and the obsolete Packet Block (Appendix A: 16-bit interface id); every other block
// (name resolution, statistics, decryption secrets, custom) is skipped by its length.
//
// A file that ends mid-block or holds a block whose length cannot be right stops the walk after
// reporting the byte offset through `onError`: the frames before it have already been delivered.

export interface FrameVisitor {
  /** One frame: `buf[off, end)` captured bytes; `wireLen` its original length; `tsMs` may carry a fraction. */
  frame(linkType: number, buf: Uint8Array, off: number, end: number, tsMs: number, wireLen: number): void;
}

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 1;
const PCAPNG_OPB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;

/** True when the bytes start like a pcapng Section Header Block. */
export function isPcapng(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x0a && buf[1] === 0x0d && buf[2] === 0x0d && buf[3] === 0x0a;
}

/**
 * Walk every frame of a pcap or pcapng file. Returns the number of frames delivered. Errors (bad
 * magic, truncation) go to `onError` with the byte offset; nothing is thrown.
 */
export function readCaptureFrames(file: Uint8Array, visitor: FrameVisitor, onError?: (msg: string) => void): number {
  const report = onError ?? (() => {});
  if (file.length < 4) {
    report(`not a capture file: ${file.length} bytes at offset 0`);
    return 0;
  }
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (isPcapng(file)) return readPcapng(file, dv, visitor, report);
  return readPcap(file, dv, visitor, report);
}

function readPcap(buf: Uint8Array, dv: DataView, v: FrameVisitor, report: (msg: string) => void): number {
  const magic = dv.getUint32(0, false);
  let nanos: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xd4c3b2a1) nanos = false;
  else if (magic === 0xa1b23c4d || magic === 0x4d3cb2a1) nanos = true;
  else {
    report(`not a pcap/pcapng file: unknown magic 0x${magic.toString(16).padStart(8, '0')} at offset 0`);
    return 0;
  }
  const le = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  if (buf.length < 24) {
    report(`truncated pcap global header at offset 0 (${buf.length} of 24 bytes)`);
    return 0;
  }
  // The link type shares its word with the FCS bits in newer libpcap: the low 16 bits name it.
  const linkType = dv.getUint32(20, le) & 0xffff;
  const fracPerMs = nanos ? 1e6 : 1e3;
  let n = 0;
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) {
      report(`truncated pcap record header at offset ${off} (${buf.length - off} of 16 bytes)`);
      return n;
    }
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    const orig = dv.getUint32(off + 12, le);
    const start = off + 16;
    if (start + incl > buf.length) {
      report(`truncated pcap record at offset ${off}: ${incl} bytes captured, ${buf.length - start} present`);
      return n;
    }
    v.frame(linkType, buf, start, start + incl, sec * 1000 + frac / fracPerMs, orig);
    n++;
    off = start + incl;
  }
  return n;
}

function readPcapng(buf: Uint8Array, dv: DataView, v: FrameVisitor, report: (msg: string) => void): number {
  let off = 0;
  let le = true;
  // Per interface of the current section: link type, timestamp units per ms, offset in ms.
  const linkTypes: number[] = [];
  const unitsPerMs: number[] = [];
  const offsetMs: number[] = [];
  let lastTs = 0;
  let n = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) {
      report(`truncated pcapng block header at offset ${off} (${buf.length - off} bytes left)`);
      return n;
    }
    let type = dv.getUint32(off, le);
    if (type === PCAPNG_SHB || dv.getUint32(off, !le) === PCAPNG_SHB) {
      // The SHB type is a palindrome; its byte-order magic decides this section's endianness.
      type = PCAPNG_SHB;
      const bom = dv.getUint32(off + 8, false);
      if (bom === 0x1a2b3c4d) le = false;
      else if (bom === 0x4d3c2b1a) le = true;
      else {
        report(`bad pcapng byte-order magic at offset ${off + 8}`);
        return n;
      }
      linkTypes.length = 0; // interface ids are numbered per section (§4.1)
      unitsPerMs.length = 0;
      offsetMs.length = 0;
    }
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0) {
      report(`bad pcapng block length ${len} at offset ${off}`);
      return n;
    }
    if (off + len > buf.length) {
      report(`truncated pcapng block at offset ${off}: ${len} bytes declared, ${buf.length - off} present`);
      return n;
    }
    const body = off + 8;
    const end = off + len - 4;
    if (type === PCAPNG_IDB) {
      if (end - body < 8) {
        report(`pcapng interface description block too short at offset ${off}`);
        return n;
      }
      linkTypes.push(dv.getUint16(body, le));
      readIdbOptions(buf, dv, body + 8, end, le, unitsPerMs, offsetMs);
    } else if (type === PCAPNG_EPB || type === PCAPNG_OPB) {
      if (end - body < 20) report(`pcapng packet block too short at offset ${off}`);
      else {
        const ifId = type === PCAPNG_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
        const hi = dv.getUint32(body + 4, le);
        const lo = dv.getUint32(body + 8, le);
        const cap = dv.getUint32(body + 12, le);
        const orig = dv.getUint32(body + 16, le);
        const data = body + 20;
        if (ifId >= linkTypes.length) report(`pcapng packet at offset ${off} names unknown interface ${ifId}`);
        else if (cap > end - data) report(`pcapng packet at offset ${off}: captured length ${cap} exceeds its block`);
        else {
          const u = unitsPerMs[ifId];
          lastTs = hi * (4294967296 / u) + lo / u + offsetMs[ifId];
          v.frame(linkTypes[ifId], buf, data, data + cap, lastTs, orig);
          n++;
        }
      }
    } else if (type === PCAPNG_SPB) {
      if (end - body < 4) report(`pcapng simple packet block too short at offset ${off}`);
      else if (linkTypes.length === 0) report(`pcapng simple packet block at offset ${off} before any interface`);
      else {
        const orig = dv.getUint32(body, le);
        const data = body + 4;
        // §4.4: the captured length is the smaller of the original length and the block's room.
        const cap = Math.min(orig, end - data);
        v.frame(linkTypes[0], buf, data, data + cap, lastTs, orig);
        n++;
      }
    }
    off += len;
  }
  return n;
}

/** if_tsresol (9) and if_tsoffset (14) of an IDB (§4.2); microseconds and 0 s when absent. */
function readIdbOptions(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  le: boolean,
  unitsPerMs: number[],
  offsetMs: number[],
): void {
  let units = 1000;
  let offMs = 0;
  while (off + 4 <= end) {
    const code = dv.getUint16(off, le);
    const len = dv.getUint16(off + 2, le);
    if (code === 0 || off + 4 + len > end) break;
    if (code === 9 && len >= 1) {
      const r = buf[off + 4];
      // Top bit set: a negative power of 2; otherwise a negative power of 10.
      units = (r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r) / 1000;
    } else if (code === 14 && len >= 8) {
      const a = dv.getUint32(off + 4, le);
      const b = dv.getUint32(off + 8, le);
      const secs = le ? b * 4294967296 + a : a * 4294967296 + b;
      offMs = secs * 1000;
    }
    off += 4 + ((len + 3) & ~3);
  }
  unitsPerMs.push(units);
  offsetMs.push(offMs);
}
