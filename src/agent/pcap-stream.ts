// Incremental reader of a classic pcap stream (tcpdump -w -): the 24-byte file header, then per
// packet a 16-byte record header and the captured bytes. Chunks from a pipe split records
// anywhere, so a partial record is kept until the rest arrives. Frames are handed to a FrameVisitor
// as offsets into the chunk (or into the one buffer a split record was joined in): no copy or
// view per packet.
//
// Format: https://www.tcpdump.org/manpages/pcap-savefile.5.txt — magic 0xa1b2c3d4 (µs) or
// 0xa1b23c4d (ns), in the writer's byte order; link type in the low 28 bits of the last header
// word (the upper bits carry FCS flags since libpcap 1.10).

import type { FrameVisitor } from '../ingest/pcap/pcapng.js';

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
/** Larger than any snap length tcpdump writes (262144): a record claiming more is corruption. */
const MAX_RECORD = 1 << 20;

export class PcapStreamReader {
  private pending: Buffer | undefined;
  private little = true;
  private nanos = false;
  private headerSeen = false;
  linkType = -1;
  packets = 0;
  /** Set when the stream cannot be read on (bad magic, absurd record length); nothing more is parsed. */
  error: string | undefined;

  constructor(private readonly visitor: FrameVisitor) {}

  push(chunk: Buffer): void {
    if (this.error !== undefined) return;
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    if (!this.headerSeen) {
      if (buf.length < 24) {
        this.pending = Buffer.from(buf);
        return;
      }
      const le = buf.readUInt32LE(0);
      const be = buf.readUInt32BE(0);
      if (le === MAGIC_US || le === MAGIC_NS) this.little = true;
      else if (be === MAGIC_US || be === MAGIC_NS) this.little = false;
      else {
        this.error = `not a pcap stream (magic 0x${be.toString(16)})`;
        return;
      }
      this.nanos = (this.little ? le : be) === MAGIC_NS;
      this.linkType = (this.little ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0x0fffffff;
      this.headerSeen = true;
      off = 24;
    }
    const little = this.little;
    const n = buf.length;
    while (off + 16 <= n) {
      const sec = little ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
      const frac = little ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
      const incl = little ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
      const orig = little ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
      if (incl > MAX_RECORD) {
        this.error = `pcap record of ${incl} bytes after ${this.packets} packets: stream corrupt`;
        return;
      }
      if (off + 16 + incl > n) break;
      const tsMs = sec * 1000 + (this.nanos ? frac / 1e6 : frac / 1e3);
      this.packets++;
      this.visitor.frame(this.linkType, buf, off + 16, off + 16 + incl, tsMs, orig);
      off += 16 + incl;
    }
    // Copied: the caller may reuse its chunk, and a view would pin the whole chunk anyway.
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
  }
}
