// Packet capture → bidirectional flow records: the flow meter of RFC 7011 §2 ("Metering Process"),
// the job YAF and ipfixprobe do in front of an IPFIX exporter, writing FlowBatch rows instead.
//
// Choices, and where they come from:
// * Flow key: addresses, ports, protocol, IP version and the outer VLAN id, as ipfixprobe's cache
//   (src/plugins/storage/cache/src/cache.cpp create_hash_key) and YAF do. One record per
//   biflow (RFC 5103): the sender of the first packet is the source; bytes/packets count
//   source→destination, rev_bytes/rev_packets the other way.
// * Bytes are IP-level lengths (IPv4 total length, IPv6 payload length + 40), what ipfixprobe's
//   parser puts in ip_len and sums; link headers and Ethernet padding are not counted.
// * Timeouts: idle 30 s and active 300 s by default, ipfixprobe's DEFAULT_INACTIVE_TIMEOUT and
//   DEFAULT_ACTIVE_TIMEOUT (cache.hpp) and YAF's defaults. ipfixprobe compares whole seconds; this
//   meter compares milliseconds. An active timeout emits the record and keeps the flow (same
//   orientation) for the packets that follow, with flow_state 'continue'.
// * TCP: a RST, or FINs from both sides followed by an ACK, close the flow (end_reason 'end',
//   RFC 5102 flowEndReason 3); it is emitted after a 5 s linger that collects stragglers, or at
//   once when a SYN reuses its ports (a SYN on a flow that saw a FIN starts a new flow, as
//   ipfixprobe does). A flow that saw FIN or RST and then goes idle also ends as 'end'.
// * ICMP/ICMPv6: ports 0 in the key (request and reply meet in one biflow, as in ipfixprobe);
//   icmp_type/icmp_code of the first packet.
// * Fragments (IPv4, and IPv6 Fragment headers): the first fragment carries the ports; later
//   fragments find them in a small direct-mapped table keyed by (src, dst, protocol, IP id)
//   (ipfixprobe's fragmentation cache does the same). A fragment whose first piece was not seen
//   is metered with ports 0.
// * Tunnels are metered on their outer header (GRE, VXLAN, IP-in-IP, Teredo: the outer flow), as
//   YAF does unless told to decapsulate. MPLS label stacks and PPPoE sessions are skipped.
// * Table bound: `maxFlows`; when full, the least recently seen flow is emitted with end_reason
//   'resources' (RFC 5102: "lack of resources").
//
// Hot path: the flow table lives in typed arrays indexed by a flow number, found through an
// open-addressing hash table (linear probing, backward-shift deletion) keyed by a symmetric hash so
// one probe sequence finds either direction. Two intrusive lists (last seen, active-timeout base)
// make expiry O(expired). No object is allocated per packet; strings only when DPI finds a name.

import type { FlowBatch } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { C, END_REASONS, FLOW_STATES, SOURCE_TYPES } from '../../schema/columns.js';
import { resized } from '../../util/typed-arrays.js';
import { type FrameVisitor, readCaptureFrames } from '../pcap/pcapng.js';
import { dnsQueryName, httpRequestHost, isHttpRequest, isQuicInitial, tlsClientHelloSni } from './dpi.js';

export interface MeterOptions {
  /** Rows go here. */
  sink: BatchSink;
  /** Default 300 000 ms (YAF and ipfixprobe: 300 s). */
  activeTimeoutMs?: number;
  /** Default 30 000 ms (ipfixprobe DEFAULT_INACTIVE_TIMEOUT = 30 s; YAF's idle default is 300 s). */
  idleTimeoutMs?: number;
  /** Flow table bound, default 1<<20; when full the least recently seen flow ends with 'resources'. */
  maxFlows?: number;
  /** Default 'pcap'. */
  exporter?: string;
  /** Default 'pcap'. */
  sourceType?: 'pcap' | 'agent';
  /** DNS query name, TLS SNI, HTTP Host and app labels; default true. */
  dpi?: boolean;
  onError?: (what: string) => void;
}

export interface MeterStats {
  packets: number;
  nonIp: number;
  malformed: number;
  fragments: number;
  flowsEmitted: number;
  active: number;
}

const R_IDLE = END_REASONS.indexOf('idle');
const R_ACTIVE = END_REASONS.indexOf('active');
const R_END = END_REASONS.indexOf('end');
const R_FORCED = END_REASONS.indexOf('forced');
const R_RESOURCES = END_REASONS.indexOf('resources');
const S_CONTINUE = FLOW_STATES.indexOf('continue');
const S_END = FLOW_STATES.indexOf('end');

const APP_NONE = 0;
const APP_DNS = 1;
const APP_TLS = 2;
const APP_HTTP = 3;
const APP_QUIC = 4;
const APP_SSH = 5;
const APP_NAMES = ['', 'dns', 'tls', 'http', 'quic', 'ssh'];
/** Payload packets per flow looked at before DPI gives up. */
const DPI_TRIES = 4;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
const ST_FIN_FWD = 1;
const ST_FIN_REV = 2;
const ST_RST = 4;
const ST_CLOSED = 8;
/** How long a closed TCP flow absorbs stragglers (duplicate ACKs, late RSTs) before it is emitted. */
const LINGER_MS = 5_000;

const FRAG_SLOTS = 4096;
/** How long a first fragment's ports are remembered (Linux ipfrag_time default: 30 s). */
const FRAG_TIMEOUT_MS = 30_000;

const INITIAL_FLOWS = 1024;

export class FlowMeter implements FrameVisitor {
  readonly stats: MeterStats = { packets: 0, nonIp: 0, malformed: 0, fragments: 0, flowsEmitted: 0, active: 0 };

  private readonly sink: BatchSink;
  private readonly idleMs: number;
  private readonly activeMs: number;
  private readonly maxFlows: number;
  private readonly exporter: string;
  private readonly sourceType: number;
  private readonly dpi: boolean;
  private readonly onError: (what: string) => void;
  private errorsReported = 0;

  // ---- flow store (index = flow number)
  private cap = 0;
  private kA: Uint32Array = new Uint32Array(0); // source address, 4 words (IPv4-mapped for IPv4)
  private kB: Uint32Array = new Uint32Array(0);
  private kPorts: Uint32Array = new Uint32Array(0); // src_port << 16 | dst_port
  private kProto: Uint8Array = new Uint8Array(0);
  private kVlan: Uint16Array = new Uint16Array(0);
  private kVer: Uint8Array = new Uint8Array(0);
  private fHash: Int32Array = new Int32Array(0);
  private tFirst: Float64Array = new Float64Array(0);
  private tLast: Float64Array = new Float64Array(0);
  private tBase: Float64Array = new Float64Array(0); // active timeout counts from here
  private bytes: Float64Array = new Float64Array(0);
  private pkts: Float64Array = new Float64Array(0);
  private rbytes: Float64Array = new Float64Array(0);
  private rpkts: Float64Array = new Float64Array(0);
  private flags: Uint16Array = new Uint16Array(0);
  private rflags: Uint16Array = new Uint16Array(0);
  private tcpState: Uint8Array = new Uint8Array(0);
  private tos: Uint8Array = new Uint8Array(0);
  private icmpT: Uint8Array = new Uint8Array(0);
  private icmpC: Uint8Array = new Uint8Array(0);
  private hasIcmp: Uint8Array = new Uint8Array(0);
  private macS: Float64Array = new Float64Array(0); // -1: none (not Ethernet)
  private macD: Float64Array = new Float64Array(0);
  private app: Uint8Array = new Uint8Array(0);
  private dpiTries: Uint8Array = new Uint8Array(0);
  private names: (string | null)[] = [];
  private lruPrev: Int32Array = new Int32Array(0);
  private lruNext: Int32Array = new Int32Array(0);
  private actPrev: Int32Array = new Int32Array(0);
  private actNext: Int32Array = new Int32Array(0);
  private lruHead = -1;
  private lruTail = -1;
  private actHead = -1;
  private actTail = -1;
  // Closed TCP flows waiting out their linger, oldest first (linked through actPrev/actNext).
  private clsHead = -1;
  private clsTail = -1;
  private readonly lingerMs: number;
  private free: Int32Array = new Int32Array(0);
  private freeTop = 0;
  private highWater = 0;
  private count = 0;
  private slots: Int32Array = new Int32Array(0);
  private slotMask = 0;
  private nextCheck = Number.POSITIVE_INFINITY;
  private nowMs = 0;

  // ---- fragment table (direct-mapped)
  private readonly fragA = new Uint32Array(FRAG_SLOTS * 4);
  private readonly fragB = new Uint32Array(FRAG_SLOTS * 4);
  private readonly fragId = new Uint32Array(FRAG_SLOTS);
  private readonly fragProto = new Uint8Array(FRAG_SLOTS);
  private readonly fragPorts = new Uint32Array(FRAG_SLOTS);
  private readonly fragTs = new Float64Array(FRAG_SLOTS).fill(Number.NEGATIVE_INFINITY);

  // ---- the packet being metered (scratch, no object per packet)
  private readonly pa = new Uint32Array(8); // src words 0-3, dst words 4-7
  private pSport = 0;
  private pDport = 0;
  private pProto = 0;
  private pVlan = 0;
  private pVer = 0;
  private pIpLen = 0;
  private pTos = 0;
  private pFlags = 0;
  private pIcmp = 0; // 1: ICMP type/code present
  private pIcmpT = 0;
  private pIcmpC = 0;
  private pMacS = -1;
  private pMacD = -1;
  private pPayOff = 0;
  private pPayEnd = 0;
  /** UDP payload length the datagram declares (its UDP length - 8); more than captured when the snap length cut it. */
  private pPayLen = 0;

  constructor(opts: MeterOptions) {
    this.sink = opts.sink;
    this.activeMs = opts.activeTimeoutMs ?? 300_000;
    this.idleMs = opts.idleTimeoutMs ?? 30_000;
    this.lingerMs = Math.min(LINGER_MS, this.idleMs);
    this.maxFlows = Math.max(1, opts.maxFlows ?? 1 << 20);
    this.exporter = opts.exporter ?? 'pcap';
    this.sourceType = SOURCE_TYPES.indexOf(opts.sourceType ?? 'pcap') + 1; // enum index 0 is 'unknown'
    this.dpi = opts.dpi ?? true;
    this.onError = opts.onError ?? (() => {});
    this.grow(Math.min(INITIAL_FLOWS, this.maxFlows));
  }

  /** One captured frame (see the class comment for what is understood). */
  packet(linkType: number, frame: Uint8Array, tsMs: number, wireLength?: number): void {
    this.frame(linkType, frame, 0, frame.length, tsMs, wireLength ?? frame.length);
  }

  /** FrameVisitor: a frame inside a larger buffer (the capture file), without a subarray per frame. */
  frame(linkType: number, buf: Uint8Array, off: number, end: number, tsMs: number, _wireLen: number): void {
    this.stats.packets++;
    try {
      const l3 = this.parseLink(linkType, buf, off, end);
      if (l3 < 0) return;
      if (!this.parseIp(buf, l3, end, tsMs)) return;
      this.nowMs = tsMs;
      if (tsMs >= this.nextCheck) this.expire(tsMs);
      this.account(buf, tsMs);
    } catch (e) {
      // Not expected (every read is bounds-checked); a safety net so one frame never stops a capture.
      this.stats.malformed++;
      this.report(`meter: frame ${this.stats.packets}: ${(e as Error).message}`);
    }
  }

  /** Expire flows idle or active past their timeouts as of `nowMs`. */
  expire(nowMs: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
    while (this.lruHead >= 0 && nowMs - this.tLast[this.lruHead] >= this.idleMs) {
      const f = this.lruHead;
      this.finish(f, this.tcpState[f] !== 0 ? R_END : R_IDLE);
    }
    while (this.clsHead >= 0 && nowMs - this.tBase[this.clsHead] >= this.lingerMs) {
      this.finish(this.clsHead, R_END);
    }
    while (this.actHead >= 0 && nowMs - this.tBase[this.actHead] >= this.activeMs) {
      this.restart(this.actHead, nowMs);
    }
    let next = Number.POSITIVE_INFINITY;
    if (this.clsHead >= 0) next = this.tBase[this.clsHead] + this.lingerMs;
    if (this.lruHead >= 0) next = Math.min(next, this.tLast[this.lruHead] + this.idleMs);
    if (this.actHead >= 0) next = Math.min(next, this.tBase[this.actHead] + this.activeMs);
    this.nextCheck = next;
  }

  /** End of input: emit every open flow ('end' when it saw FIN or RST, otherwise 'forced'). */
  flush(): void {
    while (this.lruHead >= 0) {
      const f = this.lruHead;
      this.finish(f, this.tcpState[f] !== 0 ? R_END : R_FORCED);
    }
    this.nextCheck = Number.POSITIVE_INFINITY;
  }

  // ---------------------------------------------------------------- parsing

  /** Link layer: returns the offset of the IP header, or -1 (counted). Sets VLAN and MACs. */
  private parseLink(linkType: number, buf: Uint8Array, off: number, end: number): number {
    this.pVlan = 0;
    this.pMacS = -1;
    this.pMacD = -1;
    let et: number;
    switch (linkType) {
      case 1: {
        // Ethernet II
        if (end - off < 14) return this.bad();
        this.pMacD = mac48(buf, off);
        this.pMacS = mac48(buf, off + 6);
        et = (buf[off + 12] << 8) | buf[off + 13];
        off += 14;
        // 802.1Q, 802.1ad and pre-standard 0x9100 tags; the outer id is the flow's VLAN.
        let tags = 0;
        while (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
          if (end - off < 4 || ++tags > 8) return this.bad();
          if (tags === 1) this.pVlan = ((buf[off] << 8) | buf[off + 1]) & 0x0fff;
          et = (buf[off + 2] << 8) | buf[off + 3];
          off += 4;
        }
        break;
      }
      case 113: // Linux cooked v1: 16-byte header, protocol last
        if (end - off < 16) return this.bad();
        et = (buf[off + 14] << 8) | buf[off + 15];
        off += 16;
        break;
      case 276: // Linux cooked v2: 20-byte header, protocol first
        if (end - off < 20) return this.bad();
        et = (buf[off] << 8) | buf[off + 1];
        off += 20;
        break;
      case 0:
      case 108: // BSD loopback: 4-byte address family whose value varies by OS; the IP version decides
        if (end - off < 5) return this.bad();
        off += 4;
        et = versionEtherType(buf[off]);
        break;
      case 101:
      case 12:
      case 14: // raw IP
        if (end - off < 1) return this.bad();
        et = versionEtherType(buf[off]);
        break;
      case 228:
        et = 0x0800;
        break;
      case 229:
        et = 0x86dd;
        break;
      default:
        this.stats.nonIp++;
        return -1;
    }
    if (et === 0x8847 || et === 0x8848) {
      // MPLS (RFC 3032): pop labels to the bottom of stack, then guess the payload by its version.
      for (let n = 0; ; n++) {
        if (end - off < 4 || n > 16) return this.bad();
        const bos = buf[off + 2] & 1;
        off += 4;
        if (bos) break;
      }
      if (end - off < 1) return this.bad();
      et = versionEtherType(buf[off]);
    } else if (et === 0x8864) {
      // PPPoE session (RFC 2516): 6-byte header, then the 2-byte PPP protocol.
      if (end - off < 8) return this.bad();
      const ppp = (buf[off + 6] << 8) | buf[off + 7];
      off += 8;
      et = ppp === 0x0021 ? 0x0800 : ppp === 0x0057 ? 0x86dd : 0;
    }
    if (et !== 0x0800 && et !== 0x86dd) {
      this.stats.nonIp++;
      return -1;
    }
    return off;
  }

  /** IP and transport headers into the scratch fields; false when the packet is not metered. */
  private parseIp(buf: Uint8Array, off: number, end: number, tsMs: number): boolean {
    const pa = this.pa;
    const v = buf[off] >> 4;
    let l4: number;
    let ipEnd: number;
    let proto: number;
    let fragFirst = false; // first fragment of a fragmented datagram
    let fragLater = false; // a fragment other than the first
    let fragId = 0;
    if (v === 4) {
      if (end - off < 20) return this.bad() >= 0;
      const ihl = (buf[off] & 15) * 4;
      const total = (buf[off + 2] << 8) | buf[off + 3];
      if (ihl < 20 || total < ihl || end - off < ihl) return this.bad() >= 0;
      this.pVer = 4;
      this.pTos = buf[off + 1];
      this.pIpLen = total;
      proto = buf[off + 9];
      const fw = (buf[off + 6] << 8) | buf[off + 7];
      if (fw & 0x3fff) {
        fragId = (buf[off + 4] << 8) | buf[off + 5];
        if (fw & 0x1fff) fragLater = true;
        else fragFirst = true;
      }
      pa[0] = 0;
      pa[1] = 0;
      pa[2] = 0xffff;
      pa[3] = u32(buf, off + 12);
      pa[4] = 0;
      pa[5] = 0;
      pa[6] = 0xffff;
      pa[7] = u32(buf, off + 16);
      l4 = off + ihl;
      ipEnd = Math.min(end, off + total);
    } else if (v === 6) {
      if (end - off < 40) return this.bad() >= 0;
      const plen = (buf[off + 4] << 8) | buf[off + 5];
      this.pVer = 6;
      this.pTos = ((buf[off] & 15) << 4) | (buf[off + 1] >> 4);
      // Payload length 0 with a Jumbo option (RFC 2675): the capture says how long it is.
      this.pIpLen = plen === 0 ? end - off : plen + 40;
      for (let w = 0; w < 4; w++) {
        pa[w] = u32(buf, off + 8 + w * 4);
        pa[4 + w] = u32(buf, off + 24 + w * 4);
      }
      ipEnd = plen === 0 ? end : Math.min(end, off + 40 + plen);
      let next = buf[off + 6];
      let p = off + 40;
      // Extension headers (RFC 8200 §4): most share (next, length in 8-octet units - 1); AH
      // counts 4-octet units (RFC 4302 §2.2); the Fragment header is 8 octets (§4.5).
      for (let guard = 0; ; guard++) {
        if (guard > 16) return this.bad() >= 0;
        if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
          if (ipEnd - p < 8) return this.bad() >= 0;
          const n = buf[p];
          p += (buf[p + 1] + 1) * 8;
          next = n;
        } else if (next === 51) {
          if (ipEnd - p < 8) return this.bad() >= 0;
          const n = buf[p];
          p += (buf[p + 1] + 2) * 4;
          next = n;
        } else if (next === 44) {
          if (ipEnd - p < 8) return this.bad() >= 0;
          const fo = ((buf[p + 2] << 8) | buf[p + 3]) & 0xfff8;
          const mf = buf[p + 3] & 1;
          fragId = u32(buf, p + 4);
          if (fo !== 0) fragLater = true;
          else if (mf) fragFirst = true;
          next = buf[p];
          p += 8;
          if (fragLater) break;
        } else break;
      }
      if (p > ipEnd) return this.bad() >= 0;
      proto = next;
      l4 = p;
    } else {
      return this.bad() >= 0;
    }
    this.pProto = proto;
    this.pSport = 0;
    this.pDport = 0;
    this.pFlags = 0;
    this.pIcmp = 0;
    this.pPayOff = 0;
    this.pPayEnd = 0;
    this.pPayLen = 0;
    if (fragLater) {
      this.stats.fragments++;
      const s = this.fragSlot(proto, fragId);
      if (this.fragMatches(s, proto, fragId) && tsMs - this.fragTs[s] < FRAG_TIMEOUT_MS) {
        this.pSport = this.fragPorts[s] >>> 16;
        this.pDport = this.fragPorts[s] & 0xffff;
      }
      return true;
    }
    if (proto === 6) {
      if (ipEnd - l4 < 14) return this.bad() >= 0;
      this.pSport = (buf[l4] << 8) | buf[l4 + 1];
      this.pDport = (buf[l4 + 2] << 8) | buf[l4 + 3];
      this.pFlags = buf[l4 + 13] | ((buf[l4 + 12] & 1) << 8);
      const doff = (buf[l4 + 12] >> 4) * 4;
      if (doff >= 20 && l4 + doff < ipEnd) {
        this.pPayOff = l4 + doff;
        this.pPayEnd = ipEnd;
      }
    } else if (proto === 17) {
      if (ipEnd - l4 < 8) return this.bad() >= 0;
      this.pSport = (buf[l4] << 8) | buf[l4 + 1];
      this.pDport = (buf[l4 + 2] << 8) | buf[l4 + 3];
      const ulen = (buf[l4 + 4] << 8) | buf[l4 + 5];
      this.pPayOff = l4 + 8;
      this.pPayEnd = ulen >= 8 && l4 + ulen <= ipEnd ? l4 + ulen : ipEnd;
      // Declared, not captured: the UDP length, bounded by the IP header's length (UDP length 0 is
      // an IPv6 jumbogram, RFC 2675 §4: the IP length then).
      const ipPay = this.pIpLen - (l4 - off) - 8;
      this.pPayLen = ulen >= 8 ? Math.min(ulen - 8, ipPay) : ipPay;
    } else if (proto === 1 || proto === 58) {
      if (ipEnd - l4 < 2) return this.bad() >= 0;
      this.pIcmp = 1;
      this.pIcmpT = buf[l4];
      this.pIcmpC = buf[l4 + 1];
    } else if (proto === 132) {
      // SCTP (RFC 9260 §3.1): ports first, like UDP.
      if (ipEnd - l4 < 4) return this.bad() >= 0;
      this.pSport = (buf[l4] << 8) | buf[l4 + 1];
      this.pDport = (buf[l4 + 2] << 8) | buf[l4 + 3];
    }
    if (fragFirst) {
      const s = this.fragSlot(proto, fragId);
      const o = s * 4;
      for (let w = 0; w < 4; w++) {
        this.fragA[o + w] = pa[w];
        this.fragB[o + w] = pa[4 + w];
      }
      this.fragId[s] = fragId;
      this.fragProto[s] = proto;
      this.fragPorts[s] = ((this.pSport << 16) | this.pDport) >>> 0;
      this.fragTs[s] = tsMs;
    }
    return true;
  }

  private fragSlot(proto: number, id: number): number {
    const pa = this.pa;
    let h = Math.imul(id ^ proto, 0x9e3779b1);
    h = Math.imul(h ^ pa[3], 0x85ebca6b);
    h = Math.imul(h ^ pa[7], 0xc2b2ae35);
    h = Math.imul(h ^ pa[0] ^ pa[4], 0x27d4eb2f);
    return (h ^ (h >>> 15)) & (FRAG_SLOTS - 1);
  }

  private fragMatches(s: number, proto: number, id: number): boolean {
    if (this.fragId[s] !== id || this.fragProto[s] !== proto) return false;
    const pa = this.pa;
    const o = s * 4;
    for (let w = 0; w < 4; w++) if (this.fragA[o + w] !== pa[w] || this.fragB[o + w] !== pa[4 + w]) return false;
    return true;
  }

  // ---------------------------------------------------------------- flow table

  /** Find or create the packet's flow and count the packet into it. */
  private account(buf: Uint8Array, tsMs: number): void {
    const pa = this.pa;
    const proto = this.pProto;
    const vlan = this.pVlan;
    const sp = this.pSport;
    const dp = this.pDport;
    const h = flowHash(pa, sp, dp, proto, vlan);
    const fwdPorts = ((sp << 16) | dp) >>> 0;
    const revPorts = ((dp << 16) | sp) >>> 0;
    const slots = this.slots;
    const mask = this.slotMask;
    const kA = this.kA;
    const kB = this.kB;
    let f = -1;
    let rev = false;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const g = slots[i];
      if (g < 0) break;
      if (this.fHash[g] !== h || this.kProto[g] !== proto || this.kVlan[g] !== vlan) continue;
      const o = g * 4;
      const ports = this.kPorts[g];
      if (
        ports === fwdPorts &&
        kA[o + 3] === pa[3] &&
        kB[o + 3] === pa[7] &&
        kA[o] === pa[0] &&
        kA[o + 1] === pa[1] &&
        kA[o + 2] === pa[2] &&
        kB[o] === pa[4] &&
        kB[o + 1] === pa[5] &&
        kB[o + 2] === pa[6]
      ) {
        f = g;
        break;
      }
      if (
        ports === revPorts &&
        kA[o + 3] === pa[7] &&
        kB[o + 3] === pa[3] &&
        kA[o] === pa[4] &&
        kA[o + 1] === pa[5] &&
        kA[o + 2] === pa[6] &&
        kB[o] === pa[0] &&
        kB[o + 1] === pa[1] &&
        kB[o + 2] === pa[2]
      ) {
        f = g;
        rev = true;
        break;
      }
    }
    const fl = this.pFlags;
    if (f >= 0 && proto === 6 && fl & TCP_SYN && !(fl & TCP_ACK) && this.tcpState[f] !== 0) {
      // A new connection on the ports of one that was closing: end the old record (port reuse).
      this.finish(f, R_END);
      f = -1;
    }
    if (f < 0) {
      f = this.create(h, fwdPorts, tsMs);
      rev = false;
    } else if (this.pkts[f] + this.rpkts[f] === 0) {
      this.tFirst[f] = tsMs; // first packet after an active-timeout record
    }
    if (rev) {
      this.rpkts[f]++;
      this.rbytes[f] += this.pIpLen;
      this.rflags[f] |= fl;
    } else {
      this.pkts[f]++;
      this.bytes[f] += this.pIpLen;
      this.flags[f] |= fl;
    }
    if (tsMs > this.tLast[f]) this.tLast[f] = tsMs;
    this.touch(f);
    if (this.dpi && this.app[f] === APP_NONE && this.pPayEnd > this.pPayOff && this.dpiTries[f] < DPI_TRIES) {
      this.dpiTries[f]++;
      this.inspect(f, buf);
    }
    if (proto === 6 && fl !== 0) {
      const st = this.tcpState[f];
      if (fl & TCP_RST) {
        this.tcpState[f] = st | ST_RST;
        this.close(f, tsMs);
      } else if ((st & (ST_FIN_FWD | ST_FIN_REV)) === (ST_FIN_FWD | ST_FIN_REV) && fl & TCP_ACK && !(fl & TCP_FIN)) {
        // The ACK of the second FIN (RFC 9293 §3.6): the connection is closed both ways.
        this.close(f, tsMs);
      } else if (fl & TCP_FIN) {
        this.tcpState[f] = st | (rev ? ST_FIN_REV : ST_FIN_FWD);
      }
    }
  }

  private inspect(f: number, buf: Uint8Array): void {
    const off = this.pPayOff;
    const end = this.pPayEnd;
    const proto = this.pProto;
    const sp = this.pSport;
    const dp = this.pDport;
    if (sp === 53 || dp === 53) {
      // DNS over TCP carries a 2-byte length prefix (RFC 1035 §4.2.2).
      const name = proto === 6 ? dnsQueryName(buf, off + 2, end) : dnsQueryName(buf, off, end);
      if (name !== null) {
        this.app[f] = APP_DNS;
        this.names[f] = name === '' ? null : name;
        return;
      }
    }
    if (proto === 6) {
      const b0 = buf[off];
      if (b0 === 0x16 && end - off >= 6 && buf[off + 1] === 3) {
        const hs = buf[off + 5];
        if (hs === 1) {
          this.app[f] = APP_TLS;
          this.names[f] = tlsClientHelloSni(buf, off, end);
        } else if (hs === 2) this.app[f] = APP_TLS; // ServerHello: the ClientHello was missed
        return;
      }
      if (isHttpRequest(buf, off, end)) {
        this.app[f] = APP_HTTP;
        this.names[f] = httpRequestHost(buf, off, end);
      } else if (
        b0 === 0x53 &&
        end - off >= 8 &&
        buf[off + 1] === 0x53 &&
        buf[off + 2] === 0x48 &&
        buf[off + 3] === 0x2d
      ) {
        this.app[f] = APP_SSH; // identification string "SSH-protoversion-..." (RFC 4253 §4.2), either side
      }
    } else if (proto === 17 && isQuicInitial(buf, off, end, this.pPayLen)) {
      this.app[f] = APP_QUIC;
    }
  }

  private create(h: number, ports: number, tsMs: number): number {
    if (this.count >= this.maxFlows) {
      this.finish(this.lruHead, R_RESOURCES);
    }
    if (this.freeTop === 0 && this.highWater >= this.cap) this.grow(Math.min(this.cap * 2, this.maxFlows));
    const f = this.freeTop > 0 ? this.free[--this.freeTop] : this.highWater++;
    const pa = this.pa;
    const o = f * 4;
    for (let w = 0; w < 4; w++) {
      this.kA[o + w] = pa[w];
      this.kB[o + w] = pa[4 + w];
    }
    this.kPorts[f] = ports;
    this.kProto[f] = this.pProto;
    this.kVlan[f] = this.pVlan;
    this.kVer[f] = this.pVer;
    this.fHash[f] = h;
    this.tFirst[f] = tsMs;
    this.tLast[f] = tsMs;
    this.tBase[f] = tsMs;
    this.bytes[f] = 0;
    this.pkts[f] = 0;
    this.rbytes[f] = 0;
    this.rpkts[f] = 0;
    this.flags[f] = 0;
    this.rflags[f] = 0;
    this.tcpState[f] = 0;
    this.tos[f] = this.pTos;
    this.hasIcmp[f] = this.pIcmp;
    this.icmpT[f] = this.pIcmpT;
    this.icmpC[f] = this.pIcmpC;
    this.macS[f] = this.pMacS;
    this.macD[f] = this.pMacD;
    this.app[f] = APP_NONE;
    this.dpiTries[f] = 0;
    this.names[f] = null;
    // Both lists: appended at the tail (newest).
    this.lruPrev[f] = this.lruTail;
    this.lruNext[f] = -1;
    if (this.lruTail >= 0) this.lruNext[this.lruTail] = f;
    else this.lruHead = f;
    this.lruTail = f;
    this.actPrev[f] = this.actTail;
    this.actNext[f] = -1;
    if (this.actTail >= 0) this.actNext[this.actTail] = f;
    else this.actHead = f;
    this.actTail = f;
    let i = h & this.slotMask;
    while (this.slots[i] >= 0) i = (i + 1) & this.slotMask;
    this.slots[i] = f;
    this.count++;
    this.stats.active = this.count;
    const deadline = tsMs + Math.min(this.idleMs, this.activeMs);
    if (deadline < this.nextCheck) this.nextCheck = deadline;
    return f;
  }

  /**
   * The connection is over (RST, or FIN both ways and the last ACK). The record stays open for
   * LINGER_MS so that stragglers — duplicate ACKs, a late RST, retransmitted FINs — join it instead
   * of opening a one-packet record the wrong way round (ipfixprobe keeps such flows until a new SYN
   * or the idle timeout); a SYN ends it at once (port reuse, see account()).
   */
  private close(f: number, tsMs: number): void {
    if (this.tcpState[f] & ST_CLOSED) return;
    this.tcpState[f] |= ST_CLOSED;
    const p = this.actPrev[f];
    const n = this.actNext[f];
    if (p >= 0) this.actNext[p] = n;
    else this.actHead = n;
    if (n >= 0) this.actPrev[n] = p;
    else this.actTail = p;
    this.actPrev[f] = this.clsTail;
    this.actNext[f] = -1;
    if (this.clsTail >= 0) this.actNext[this.clsTail] = f;
    else this.clsHead = f;
    this.clsTail = f;
    this.tBase[f] = tsMs;
    const deadline = tsMs + this.lingerMs;
    if (deadline < this.nextCheck) this.nextCheck = deadline;
  }

  /** Move a flow to the tail of the last-seen list. */
  private touch(f: number): void {
    if (this.lruTail === f) return;
    const p = this.lruPrev[f];
    const n = this.lruNext[f];
    if (p >= 0) this.lruNext[p] = n;
    else this.lruHead = n;
    this.lruPrev[n] = p; // n >= 0: f is not the tail
    this.lruPrev[f] = this.lruTail;
    this.lruNext[f] = -1;
    this.lruNext[this.lruTail] = f;
    this.lruTail = f;
  }

  /** Emit the flow (if it has packets) and remove it from the table. */
  private finish(f: number, reason: number): void {
    if (this.pkts[f] + this.rpkts[f] > 0) this.emit(f, reason);
    // unlink from both lists
    let p = this.lruPrev[f];
    let n = this.lruNext[f];
    if (p >= 0) this.lruNext[p] = n;
    else this.lruHead = n;
    if (n >= 0) this.lruPrev[n] = p;
    else this.lruTail = p;
    p = this.actPrev[f];
    n = this.actNext[f];
    if (this.tcpState[f] & ST_CLOSED) {
      if (p >= 0) this.actNext[p] = n;
      else this.clsHead = n;
      if (n >= 0) this.actPrev[n] = p;
      else this.clsTail = p;
    } else {
      if (p >= 0) this.actNext[p] = n;
      else this.actHead = n;
      if (n >= 0) this.actPrev[n] = p;
      else this.actTail = p;
    }
    this.removeSlot(f);
    this.names[f] = null;
    this.free[this.freeTop++] = f;
    this.count--;
    this.stats.active = this.count;
  }

  /** Active timeout: emit what the flow has so far and keep it for what follows (RFC 7011 §5.1 "active timeout"). */
  private restart(f: number, nowMs: number): void {
    if (this.pkts[f] + this.rpkts[f] > 0) this.emit(f, R_ACTIVE);
    this.bytes[f] = 0;
    this.pkts[f] = 0;
    this.rbytes[f] = 0;
    this.rpkts[f] = 0;
    this.flags[f] = 0;
    this.rflags[f] = 0;
    this.tBase[f] = nowMs;
    if (this.actTail === f) return;
    const p = this.actPrev[f];
    const n = this.actNext[f];
    if (p >= 0) this.actNext[p] = n;
    else this.actHead = n;
    this.actPrev[n] = p;
    this.actPrev[f] = this.actTail;
    this.actNext[f] = -1;
    this.actNext[this.actTail] = f;
    this.actTail = f;
  }

  private removeSlot(f: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let i = this.fHash[f] & mask;
    while (slots[i] !== f) i = (i + 1) & mask;
    // Backward-shift deletion: pull later members of the probe run into the hole when their home
    // slot is not between the hole and where they sit (Knuth 6.4, Algorithm R).
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const g = slots[j];
      if (g < 0) break;
      const home = this.fHash[g] & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        slots[i] = g;
        i = j;
      }
    }
    slots[i] = -1;
  }

  private emit(f: number, reason: number): void {
    const b: FlowBatch = this.sink.batch();
    const r = b.addRow();
    const d = b.data;
    const v = b.valid;
    const o = f * 4;
    const sa = d[C.src_addr] as Uint32Array;
    const da = d[C.dst_addr] as Uint32Array;
    for (let w = 0; w < 4; w++) {
      sa[r * 4 + w] = this.kA[o + w];
      da[r * 4 + w] = this.kB[o + w];
    }
    v[C.src_addr][r] = 1;
    v[C.dst_addr][r] = 1;
    const ports = this.kPorts[f];
    const proto = this.kProto[f];
    set(b, C.time_start, r, Math.floor(this.tFirst[f]));
    set(b, C.time_end, r, Math.floor(this.tLast[f]));
    set(b, C.time_received, r, Math.floor(this.nowMs));
    set(b, C.source_type, r, this.sourceType);
    b.setString(C.exporter, r, this.exporter);
    set(b, C.proto, r, proto);
    set(b, C.src_port, r, ports >>> 16);
    set(b, C.dst_port, r, ports & 0xffff);
    if (this.hasIcmp[f]) {
      set(b, C.icmp_type, r, this.icmpT[f]);
      set(b, C.icmp_code, r, this.icmpC[f]);
    }
    set(b, C.bytes, r, this.bytes[f]);
    set(b, C.packets, r, this.pkts[f]);
    set(b, C.rev_bytes, r, this.rbytes[f]);
    set(b, C.rev_packets, r, this.rpkts[f]);
    if (proto === 6) set(b, C.tcp_flags, r, this.flags[f] | this.rflags[f]);
    set(b, C.tos, r, this.tos[f]);
    set(b, C.ip_version, r, this.kVer[f]);
    set(b, C.flow_state, r, reason === R_ACTIVE ? S_CONTINUE : S_END);
    set(b, C.end_reason, r, reason);
    set(b, C.biflow, r, 1);
    if (this.macS[f] >= 0) {
      set(b, C.src_mac, r, this.macS[f]);
      set(b, C.dst_mac, r, this.macD[f]);
    }
    if (this.kVlan[f] !== 0) set(b, C.vlan, r, this.kVlan[f]);
    const app = this.app[f];
    if (app !== APP_NONE) {
      b.setString(C.app, r, APP_NAMES[app]);
      const name = this.names[f];
      if (name !== null) {
        const col = app === APP_DNS ? C.dns_qname : app === APP_HTTP ? C.http_host : C.tls_sni;
        b.setString(col, r, name);
      }
    }
    this.stats.flowsEmitted++;
  }

  private grow(n: number): void {
    const old = this.cap;
    if (n <= old) return;
    this.kA = resized(this.kA, n * 4);
    this.kB = resized(this.kB, n * 4);
    this.kPorts = resized(this.kPorts, n);
    this.kProto = resized(this.kProto, n);
    this.kVlan = resized(this.kVlan, n);
    this.kVer = resized(this.kVer, n);
    this.fHash = resized(this.fHash, n);
    this.tFirst = resized(this.tFirst, n);
    this.tLast = resized(this.tLast, n);
    this.tBase = resized(this.tBase, n);
    this.bytes = resized(this.bytes, n);
    this.pkts = resized(this.pkts, n);
    this.rbytes = resized(this.rbytes, n);
    this.rpkts = resized(this.rpkts, n);
    this.flags = resized(this.flags, n);
    this.rflags = resized(this.rflags, n);
    this.tcpState = resized(this.tcpState, n);
    this.tos = resized(this.tos, n);
    this.icmpT = resized(this.icmpT, n);
    this.icmpC = resized(this.icmpC, n);
    this.hasIcmp = resized(this.hasIcmp, n);
    this.macS = resized(this.macS, n);
    this.macD = resized(this.macD, n);
    this.app = resized(this.app, n);
    this.dpiTries = resized(this.dpiTries, n);
    this.lruPrev = resized(this.lruPrev, n);
    this.lruNext = resized(this.lruNext, n);
    this.actPrev = resized(this.actPrev, n);
    this.actNext = resized(this.actNext, n);
    this.free = resized(this.free, n);
    for (let i = old; i < n; i++) this.names.push(null);
    this.cap = n;
    // Hash table at most half full: short probe runs for linear probing.
    let size = 16;
    while (size < n * 2) size *= 2;
    if (size > this.slots.length) {
      this.slots = new Int32Array(size).fill(-1);
      this.slotMask = size - 1;
      for (let f = this.lruHead; f >= 0; f = this.lruNext[f]) {
        let i = this.fHash[f] & this.slotMask;
        while (this.slots[i] >= 0) i = (i + 1) & this.slotMask;
        this.slots[i] = f;
      }
    }
  }

  private bad(): number {
    this.stats.malformed++;
    return -1;
  }

  private report(msg: string): void {
    // Rate limited: a hostile capture must not flood the log.
    if (this.errorsReported++ < 100) this.onError(msg);
  }
}

/** Meter a whole pcap or pcapng file; every open flow is emitted at the end. */
export function meterCapture(buf: Uint8Array, opts: MeterOptions): FlowMeter {
  const m = new FlowMeter(opts);
  readCaptureFrames(buf, m, (msg) => opts.onError?.(msg));
  m.flush();
  return m;
}

function set(b: FlowBatch, col: number, row: number, value: number): void {
  b.data[col][row] = value;
  b.valid[col][row] = 1;
}

function u32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

function mac48(buf: Uint8Array, p: number): number {
  return ((buf[p] << 8) | buf[p + 1]) * 4294967296 + u32(buf, p + 2);
}

function versionEtherType(b: number): number {
  const v = b >> 4;
  return v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
}

/** Symmetric in (src, sport) ↔ (dst, dport): one probe sequence finds both directions. */
function flowHash(pa: Uint32Array, sp: number, dp: number, proto: number, vlan: number): number {
  const a = endpointHash(pa, 0, sp);
  const b = endpointHash(pa, 4, dp);
  let h = (a + b) ^ Math.imul(proto | (vlan << 8), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function endpointHash(pa: Uint32Array, o: number, port: number): number {
  let h = Math.imul(port + 0x165667b1, 0x9e3779b1);
  h = Math.imul(h ^ pa[o + 3], 0x85ebca6b);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ pa[o + 2] ^ pa[o], 0xcc9e2d51);
  h = Math.imul(h ^ pa[o + 1], 0x1b873593);
  return h ^ (h >>> 15);
}
