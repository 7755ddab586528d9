// FlowBatch rows → IPFIX messages (RFC 7011), with no socket: the pure core of the IPFIX exporter.
//
// Templates are derived from the schema: every column with an IANA Information Element has a field
// spec below, and a template holds the specs whose column has a value in at least one row of the
// batch (a v5 export never gets MAC or AS fields full of zeros). IPv4 and IPv6 rows use separate
// templates (IE 8/12 vs 27/28), as RFC 7011 has no address type that holds both. A template is
// identified by its field list, so the same columns always reuse the same template id.
//
// Records are fixed-length (no variable-length IEs), written straight from the column arrays into
// one reused message buffer; the only allocation per message is the copy handed to `emit`.

import type { FlowBatch } from '../pipeline/flow-batch.js';
import { C } from '../schema/columns.js';

/** IANA PEN for reverse Information Elements (RFC 5103 §6.1). */
const PEN_REVERSE = 29305;
const IPFIX_VERSION = 10;
const HEADER_LEN = 16;
const SET_HEADER_LEN = 4;
const TEMPLATE_SET_ID = 2;
const FIRST_TEMPLATE_ID = 256; // RFC 7011 §3.4.1: ids 0..255 are reserved for set ids
const MAX_MESSAGE = 65535; // the 16-bit Length field of the message header (RFC 7011 §3.1)
const TWO32 = 4294967296;

// How a field's value is read from the batch.
const K_NUM = 0; // unsigned integer of `len` bytes from data[col]
const K_V4 = 1; // IPv4 address (0.0.0.0 when the row's address is not IPv4)
const K_V6 = 2; // IPv6 address, 16 bytes
const K_MAC = 3; // 48-bit MAC held as a number
const K_ICMP = 4; // icmpTypeCode: type * 256 + code from two columns (IE 32 / 139)

interface FieldSpec {
  readonly col: number;
  /** Second column whose value also makes the field present (ICMP code). */
  readonly col2: number;
  readonly ie: number;
  readonly pen: number;
  readonly len: number;
  readonly kind: number;
}

function f(col: number, ie: number, len: number, kind = K_NUM, pen = 0, col2 = -1): FieldSpec {
  return { col, col2, ie, pen, len, kind };
}

/**
 * The columns flowwatch can express as IANA IEs, in template order. Counters and times are sent at
 * full width (octetDeltaCount as 8 bytes, flowStart/EndMilliseconds) so nothing is truncated;
 * tcpControlBits is 2 bytes as RFC 7125 defines it for IPFIX. The next hop has its own family:
 * an IPv6 flow routed over an IPv4 next hop (6PE, BGP next hop of a v4 session) keeps IE 15.
 */
function fieldSpecs(v6: boolean, nhV6: boolean): FieldSpec[] {
  const addr = v6 ? K_V6 : K_V4;
  const alen = v6 ? 16 : 4;
  return [
    f(C.time_start, 152, 8), // flowStartMilliseconds
    f(C.time_end, 153, 8), // flowEndMilliseconds
    f(C.src_addr, v6 ? 27 : 8, alen, addr),
    f(C.dst_addr, v6 ? 28 : 12, alen, addr),
    f(C.src_port, 7, 2),
    f(C.dst_port, 11, 2),
    f(C.proto, 4, 1),
    f(C.bytes, 1, 8), // octetDeltaCount
    f(C.packets, 2, 8), // packetDeltaCount
    f(C.tcp_flags, 6, 2),
    f(C.tos, 5, 1),
    f(C.in_if, 10, 4),
    f(C.out_if, 14, 4),
    f(C.next_hop, nhV6 ? 62 : 15, nhV6 ? 16 : 4, nhV6 ? K_V6 : K_V4),
    f(C.src_asn, 16, 4),
    f(C.dst_asn, 17, 4),
    f(C.src_mask, v6 ? 29 : 9, 1),
    f(C.dst_mask, v6 ? 30 : 13, 1),
    f(C.vlan, 58, 2),
    f(C.src_mac, 56, 6, K_MAC),
    f(C.dst_mac, 80, 6, K_MAC),
    f(C.icmp_type, v6 ? 139 : 32, 2, K_ICMP, 0, C.icmp_code),
    f(C.ip_version, 60, 1),
    f(C.end_reason, 136, 1), // END_REASONS indexes are the RFC 5102 flowEndReason codes
    f(C.pkt_src_addr, v6 ? 281 : 225, alen, addr), // postNATSource…Address
    f(C.pkt_dst_addr, v6 ? 282 : 226, alen, addr),
    f(C.rev_bytes, 1, 8, K_NUM, PEN_REVERSE), // reverseOctetDeltaCount (RFC 5103)
    f(C.rev_packets, 2, 8, K_NUM, PEN_REVERSE),
  ];
}

export interface IpfixEncoderOptions {
  /** Observation Domain ID of every message (RFC 7011 §3.1). */
  observationDomain?: number;
  /** Largest message, header included. For UDP: path MTU − IP and UDP headers (RFC 7011 §10.3.3). */
  maxMessageBytes?: number;
  /** Resend every template after this many messages (UDP, RFC 7011 §8.4); 0: never. */
  templateRefreshMessages?: number;
  /** Resend every template after this many seconds (UDP); 0: never. */
  templateRefreshSeconds?: number;
  /** Clock for exportTime and refresh (tests). */
  now?: () => number;
}

export interface IpfixTemplateInfo {
  id: number;
  ipv6: boolean;
  /** IE ids in order (enterprise IEs as `pen:id`). */
  fields: string[];
  recordBytes: number;
}

interface TemplateState {
  readonly id: number;
  readonly v6: boolean;
  readonly fields: readonly FieldSpec[];
  readonly recordLen: number;
  /** Template record bytes (header + field specifiers). */
  readonly bytes: Uint8Array;
  sent: boolean;
}

/** Called with each finished message; the bytes are the caller's to keep. */
export type MessageSink = (message: Buffer, records: number) => void;

export class IpfixEncoder {
  readonly observationDomain: number;
  readonly maxMessageBytes: number;
  private readonly refreshMessages: number;
  private readonly refreshMs: number;
  private readonly now: () => number;
  // Row classes: bit 0 = IPv6 addresses, bit 1 = next hop of the other family.
  private readonly specs: readonly (readonly FieldSpec[])[] = [
    fieldSpecs(false, false),
    fieldSpecs(true, true),
    fieldSpecs(false, true),
    fieldSpecs(true, false),
  ];
  private readonly templates = new Map<string, TemplateState>();
  private nextTemplateId = FIRST_TEMPLATE_ID;
  private readonly buf: Buffer;
  private readonly view: DataView;
  private pos = 0;
  private setStart = -1;
  private setId = 0;
  private records = 0;
  private sink: MessageSink | undefined;
  /** RFC 7011 §3.1: data records sent before this message, modulo 2^32. */
  private sequence = 0;
  private messagesSinceRefresh = 0;
  private lastRefreshMs = 0;
  // Scratch for one batch: which fields have a value, per family.
  private readonly present: Uint8Array[];
  private readonly classTemplates: (TemplateState | undefined)[] = [undefined, undefined, undefined, undefined];
  messages = 0;
  recordsEncoded = 0;
  /** Rows not encoded: an encoder bug or a record larger than a message (counted, not thrown). */
  recordsSkipped = 0;

  constructor(opts: IpfixEncoderOptions = {}) {
    this.observationDomain = (opts.observationDomain ?? 0) >>> 0;
    this.maxMessageBytes = Math.min(MAX_MESSAGE, Math.max(512, opts.maxMessageBytes ?? 1400));
    this.refreshMessages = opts.templateRefreshMessages ?? 0;
    this.refreshMs = (opts.templateRefreshSeconds ?? 0) * 1000;
    this.now = opts.now ?? Date.now;
    this.buf = Buffer.alloc(this.maxMessageBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.present = this.specs.map((s) => new Uint8Array(s.length));
  }

  /** Next sequence number (data records encoded so far, modulo 2^32). */
  get sequenceNumber(): number {
    return this.sequence;
  }

  templateInfo(): IpfixTemplateInfo[] {
    return [...this.templates.values()].map((t) => ({
      id: t.id,
      ipv6: t.v6,
      fields: t.fields.map((s) => (s.pen ? `${s.pen}:${s.ie}` : String(s.ie))),
      recordBytes: t.recordLen,
    }));
  }

  /**
   * Encode rows of `batch` (`rows[0..count)`, or every row when `rows` is null) into messages
   * handed to `sink`. Rows are written grouped by template (IPv4 rows, then IPv6 rows, …) so each
   * template's records pack into one data set.
   */
  encode(batch: FlowBatch, rows: Uint32Array | null, count: number, sink: MessageSink): void {
    const n = rows === null ? batch.length : Math.min(count, rows.length);
    if (n === 0) return;
    this.sink = sink;
    const ts = this.classTemplates;
    const before = this.recordsEncoded + this.recordsSkipped;
    try {
      for (let k = 0; k < 4; k++) ts[k] = this.templateFor(batch, rows, n, k);
      for (let k = 0; k < 4; k++) {
        const t = ts[k];
        if (t === undefined) continue;
        for (let i = 0; i < n; i++) {
          const r = rows === null ? i : rows[i];
          if (rowClass(batch, r) === k) this.writeRecord(batch, r, t);
        }
      }
      this.flush();
    } catch {
      // Only a bug gets here (a row index beyond the batch, a sink that throws): the message in
      // progress is abandoned and its rows counted, the caller's pipeline goes on.
      this.pos = 0;
      this.setStart = -1;
      this.records = 0;
      this.recordsSkipped += n - (this.recordsEncoded + this.recordsSkipped - before);
    } finally {
      ts.fill(undefined);
      this.sink = undefined;
    }
  }

  /**
   * One message holding every template and no data (sequence number unchanged): what a TCP
   * exporter sends first on each new connection (RFC 7011 §8: templates before their data).
   */
  templateMessage(): Buffer | null {
    if (this.templates.size === 0) return null;
    const parts: Buffer[] = [];
    this.sink = (m) => {
      parts.push(m);
    };
    for (const t of this.templates.values()) {
      if (this.pos === 0) this.begin();
      if (!this.fits(SET_HEADER_LEN + t.bytes.length)) {
        this.flush();
        this.begin();
      }
      this.writeTemplate(t);
    }
    this.flush();
    this.sink = undefined;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  // ---- message assembly

  private refreshDue(): boolean {
    const now = this.now();
    if (this.lastRefreshMs === 0) this.lastRefreshMs = now;
    const due =
      (this.refreshMessages > 0 && this.messagesSinceRefresh >= this.refreshMessages) ||
      (this.refreshMs > 0 && now - this.lastRefreshMs >= this.refreshMs);
    if (due) {
      this.messagesSinceRefresh = 0;
      this.lastRefreshMs = now;
    }
    return due;
  }

  /** A new message; when a refresh is due it starts with every template (RFC 7011 §8.4). */
  private begin(): void {
    this.pos = HEADER_LEN;
    this.records = 0;
    this.setStart = -1;
    if (!this.refreshDue()) return;
    for (const t of this.templates.values()) {
      t.sent = false;
      if (this.fits(2 * SET_HEADER_LEN + t.bytes.length)) this.writeTemplate(t);
    }
  }

  /** Bytes one more record of `t` needs in the current message (its template and set header too). */
  private roomFor(t: TemplateState): number {
    let n = t.recordLen;
    if (!t.sent) n += SET_HEADER_LEN + t.bytes.length + SET_HEADER_LEN;
    else if (this.setStart < 0 || this.setId !== t.id) n += SET_HEADER_LEN;
    return n;
  }

  private fits(n: number): boolean {
    return this.pos + n <= this.maxMessageBytes;
  }

  private closeSet(): void {
    if (this.setStart < 0) return;
    this.view.setUint16(this.setStart + 2, this.pos - this.setStart);
    this.setStart = -1;
  }

  private openSet(id: number): void {
    this.closeSet();
    this.setStart = this.pos;
    this.setId = id;
    this.view.setUint16(this.pos, id);
    this.pos += SET_HEADER_LEN;
  }

  private writeTemplate(t: TemplateState): void {
    if (this.setStart < 0 || this.setId !== TEMPLATE_SET_ID) this.openSet(TEMPLATE_SET_ID);
    this.buf.set(t.bytes, this.pos);
    this.pos += t.bytes.length;
    t.sent = true;
  }

  private flush(): void {
    if (this.pos <= HEADER_LEN) {
      this.pos = 0;
      return;
    }
    this.closeSet();
    const v = this.view;
    v.setUint16(0, IPFIX_VERSION);
    v.setUint16(2, this.pos);
    v.setUint32(4, Math.floor(this.now() / 1000) >>> 0); // Export Time, seconds (RFC 7011 §3.1)
    v.setUint32(8, this.sequence);
    v.setUint32(12, this.observationDomain);
    const msg = Buffer.from(this.buf.subarray(0, this.pos));
    const records = this.records;
    this.sequence = (this.sequence + records) % TWO32;
    this.messages++;
    this.messagesSinceRefresh++;
    this.pos = 0;
    this.records = 0;
    this.sink?.(msg, records);
  }

  private writeRecord(b: FlowBatch, r: number, t: TemplateState): void {
    if (this.pos === 0) this.begin();
    // Twice at most: a refresh at the head of the new message may leave no room for the record,
    // which then opens the message after (maxMessageBytes ≥ 512 holds any template and record).
    while (!this.fits(this.roomFor(t))) {
      if (this.pos <= HEADER_LEN) {
        this.recordsSkipped++;
        return;
      }
      this.flush();
      this.begin();
    }
    // A template goes in the same message, ahead of its first data set (RFC 7011 §8).
    if (!t.sent) this.writeTemplate(t);
    if (this.setStart < 0 || this.setId !== t.id) this.openSet(t.id);
    const v = this.view;
    let p = this.pos;
    const fields = t.fields;
    for (let i = 0; i < fields.length; i++) {
      const s = fields[i];
      const col = s.col;
      const valid = b.valid[col][r] !== 0;
      switch (s.kind) {
        case K_NUM: {
          const x = valid ? b.data[col][r] : 0;
          if (s.len === 8) {
            const val = Math.max(x, 0);
            v.setUint32(p, Math.floor(val / TWO32) >>> 0);
            v.setUint32(p + 4, (val % TWO32) >>> 0);
          } else if (s.len === 4) v.setUint32(p, x >>> 0);
          else if (s.len === 2) v.setUint16(p, x & 0xffff);
          else v.setUint8(p, x & 0xff);
          break;
        }
        case K_V4: {
          const w = b.data[col] as Uint32Array;
          const o = r * 4;
          const v4 = valid && w[o] === 0 && w[o + 1] === 0 && w[o + 2] === 0xffff;
          v.setUint32(p, v4 ? w[o + 3] : 0);
          break;
        }
        case K_V6: {
          const w = b.data[col] as Uint32Array;
          const o = r * 4;
          // An IPv4 value in an IPv6 row's field (next hop of a 6PE route) stays IPv4-mapped.
          v.setUint32(p, valid ? w[o] : 0);
          v.setUint32(p + 4, valid ? w[o + 1] : 0);
          v.setUint32(p + 8, valid ? w[o + 2] : 0);
          v.setUint32(p + 12, valid ? w[o + 3] : 0);
          break;
        }
        case K_MAC: {
          const x = valid ? b.data[col][r] : 0;
          v.setUint16(p, Math.floor(x / TWO32) & 0xffff);
          v.setUint32(p + 2, (x % TWO32) >>> 0);
          break;
        }
        case K_ICMP: {
          const ty = valid ? b.data[col][r] : 0;
          const code = b.valid[s.col2][r] !== 0 ? b.data[s.col2][r] : 0;
          v.setUint16(p, ((ty & 0xff) << 8) | (code & 0xff));
          break;
        }
      }
      p += s.len;
    }
    this.pos = p;
    this.records++;
    this.recordsEncoded++;
  }

  // ---- templates

  /** The template for this batch's rows of one class, or undefined when it has none. */
  private templateFor(b: FlowBatch, rows: Uint32Array | null, n: number, cls: number): TemplateState | undefined {
    const specs = this.specs[cls];
    const present = this.present[cls];
    present.fill(0);
    let any = false;
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i];
      if (rowClass(b, r) !== cls) continue;
      any = true;
      for (let k = 0; k < specs.length; k++) {
        if (present[k] !== 0) continue;
        const s = specs[k];
        if (b.valid[s.col][r] !== 0 || (s.col2 >= 0 && b.valid[s.col2][r] !== 0)) present[k] = 1;
      }
    }
    if (!any) return undefined;
    let key = String(cls);
    for (let k = 0; k < present.length; k++) key += present[k] ? '1' : '0';
    let t = this.templates.get(key);
    if (t === undefined) {
      const fields = specs.filter((_, k) => present[k] !== 0);
      t = makeTemplate(this.nextTemplateId++, (cls & 1) === 1, fields);
      this.templates.set(key, t);
    }
    return t;
  }
}

/** Template class of a row: bit 0 when its addresses are IPv6, bit 1 when its next hop is not. */
function rowClass(b: FlowBatch, r: number): number {
  const v6 = addrIsV6(b, C.src_addr, r) || (b.valid[C.src_addr][r] === 0 && addrIsV6(b, C.dst_addr, r)) ? 1 : 0;
  if (b.valid[C.next_hop][r] === 0) return v6;
  return addrIsV6(b, C.next_hop, r) === (v6 === 1) ? v6 : v6 | 2;
}

/** Present and not IPv4-mapped. */
function addrIsV6(b: FlowBatch, col: number, r: number): boolean {
  if (b.valid[col][r] === 0) return false;
  const w = b.data[col] as Uint32Array;
  const o = r * 4;
  return !(w[o] === 0 && w[o + 1] === 0 && w[o + 2] === 0xffff);
}

function makeTemplate(id: number, v6: boolean, fields: FieldSpec[]): TemplateState {
  let len = 4;
  let recordLen = 0;
  for (const s of fields) {
    len += s.pen ? 8 : 4;
    recordLen += s.len;
  }
  const bytes = new Uint8Array(len);
  const v = new DataView(bytes.buffer);
  v.setUint16(0, id);
  v.setUint16(2, fields.length);
  let p = 4;
  for (const s of fields) {
    // RFC 7011 §3.2: the E bit marks an enterprise-specific IE followed by its PEN.
    v.setUint16(p, s.pen ? s.ie | 0x8000 : s.ie);
    v.setUint16(p + 2, s.len);
    p += 4;
    if (s.pen) {
      v.setUint32(p, s.pen);
      p += 4;
    }
  }
  return { id, v6, fields, recordLen, bytes, sent: false };
}
