// sFlow version 5 datagrams → FlowBatch rows (one row per flow sample) and interface counters.
//
// Reference: sFlow.org "sFlow Version 5" (sflow_version_5.txt, 2004), XDR (RFC 4506) encoding:
// big-endian, every opaque padded to 4 bytes. Section numbers below refer to that document.
//
// Choices a reader of the data needs to know:
// * exporter = the agent address from the datagram header (§5.1), not the UDP source: agents
//   commonly send from a management address while identifying themselves by a loopback, and relays
//   forward many agents from one source. Counters are keyed the same way once the agent address has
//   been read; a datagram too short or too strange to name its agent is counted under the UDP source.
// * observation_domain = the sub-agent id: like a NetFlow v9 source id it names the process that
//   numbers the datagrams (§5.1 "sub_agent_id"). The data source (source id) of a flow sample is
//   usually an ifIndex and duplicates in_if/out_if; it keys the per-source sample sequence instead.
// * time_start = time_end = time_received: flow samples carry no time of their own.
// * packets = 1, bytes = the original frame length of the raw header record (§5.4.1
//   "frame_length"), falling back to the length of the sampled Ethernet/IPv4/IPv6 record.
// * Tunnels (VXLAN on UDP 4789, GRE incl. transparent Ethernet bridging): the inner packet is the
//   flow (src/dst address, ports, proto, tos, ip_version, tcp flags, ICMP); the outer IP addresses
//   are kept in pkt_src_addr/pkt_dst_addr ("as seen on the wire", which is what they are), and the
//   MACs/VLAN stay those of the outer frame, i.e. of the switch port that sampled it. One level only.
// * in_if/out_if (§5.2 "interface"): ifIndex format → the index; 0x3FFFFFFF ("internal": the agent
//   itself sent or received the packet) → 0, as NetFlow exporters report local traffic; "packet
//   discarded" format → out_if null and action = reject (the device did not forward the packet);
//   "multiple interfaces" format → out_if null (the value is a count, not an index).
// * vlan: extended switch src_vlan (§5.4.4: the 802.1Q VLAN the packet arrived in, known even when
//   the port stripped the tag), else the outermost 802.1Q tag of the sampled header, else the
//   extended switch dst_vlan. 0 and ≥ 4095 are not VLANs (IEEE 802.1Q: 0 = priority tag only).
// * next_hop: extended router next hop (the IP next hop), else the extended gateway (BGP) next hop.
// * src_asn = extended gateway src_as as sent; dst_asn = the last AS of the dst_as_path (the origin
//   of the destination route), or the router's own AS when the path is empty (a route inside it).
//
// Bad input never throws: each problem is counted with a reason and skipped. Rows are written
// straight into typed arrays, no object per flow sample. Counter samples are rare (one per interface
// every 20-30 s) and produce one plain object each for the `onCounters` callback.

import type { CounterName, ExporterCounters } from '../../pipeline/counters.js';
import { type FlowBatch, formatIPv4, formatIPv6, type StringDict } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { ACTIONS, C, SOURCE_TYPES } from '../../schema/columns.js';

/** Generic (§5.5 counters format 1) and Ethernet (format 2) interface counters of one counter sample. */
export interface InterfaceCounters {
  /** Agent address from the datagram (the `exporter` of flow rows). */
  agent: string;
  subAgentId: number;
  /** UDP source address the datagram came from. */
  from: string;
  receivedMs: number;
  /** Agent uptime in ms (datagram header). */
  uptimeMs: number;
  /** Counter sample sequence number (per data source). */
  sequence: number;
  sourceIdType: number;
  sourceIdIndex: number;
  ifIndex: number;
  ifType: number;
  /** bits/s (u64; exact below 2^53). */
  ifSpeed: number;
  /** 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out (RFC 2863 ifDirection as sFlow encodes it). */
  ifDirection: number;
  /** Raw ifStatus: bit 0 ifAdminStatus up, bit 1 ifOperStatus up. */
  ifStatus: number;
  ifAdminUp: boolean;
  ifOperUp: boolean;
  ifInOctets: number;
  ifInUcastPkts: number;
  ifInMulticastPkts: number;
  ifInBroadcastPkts: number;
  ifInDiscards: number;
  ifInErrors: number;
  ifInUnknownProtos: number;
  ifOutOctets: number;
  ifOutUcastPkts: number;
  ifOutMulticastPkts: number;
  ifOutBroadcastPkts: number;
  ifOutDiscards: number;
  ifOutErrors: number;
  ifPromiscuousMode: number;
  /** Ethernet (RFC 3635 dot3Stats) counters, null when the sample has no Ethernet record. */
  ethernet: EthernetCounters | null;
}

export interface EthernetCounters {
  dot3StatsAlignmentErrors: number;
  dot3StatsFCSErrors: number;
  dot3StatsSingleCollisionFrames: number;
  dot3StatsMultipleCollisionFrames: number;
  dot3StatsSQETestErrors: number;
  dot3StatsDeferredTransmissions: number;
  dot3StatsLateCollisions: number;
  dot3StatsExcessiveCollisions: number;
  dot3StatsInternalMacTransmitErrors: number;
  dot3StatsCarrierSenseErrors: number;
  dot3StatsFrameTooLongs: number;
  dot3StatsInternalMacReceiveErrors: number;
  dot3StatsSymbolErrors: number;
}

export interface SFlowDecoderOptions {
  counters: ExporterCounters;
  onCounters?: (c: InterfaceCounters) => void;
  /** Agents whose sequence numbers are tracked (default 4096); more are decoded but not tracked. */
  maxAgents?: number;
  /** Told what was wrong with each malformed datagram, sample or record, with its agent. */
  onError?: (agent: string, what: string) => void;
}

export interface SFlowAgentInventory {
  agent: string;
  subAgents: {
    id: number;
    lastSequence: number;
    uptimeMs: number;
    /** Datagrams missing according to the datagram sequence (§5.1). */
    datagramsLost: number;
    /** Data sources whose flow-sample sequence is tracked. */
    sources: number;
  }[];
  /** Flow samples missing according to the per-source flow sample sequences (§5.2). */
  samplesLost: number;
  /** Samples the agent itself dropped for lack of resources (§5.2 "drops"). */
  agentDrops: number;
}

// Samples the agent dropped itself (§5.2 "drops") count as 'agent_drops'. Datagram sequence gaps
// stay in inventory(): flow-sample gaps already count the flows they lost as 'sequence_lost', and
// counting datagrams there too would count the same loss twice in two units.
const AGENT_DROPS: CounterName = 'agent_drops';

const SFLOW_VERSION = 5;
const SRC_SFLOW = SOURCE_TYPES.indexOf('sflow') + 1; // enum index 0 is "unknown"
const ACTION_REJECT = ACTIONS.indexOf('reject');
const TWO32 = 4294967296;
/** Forward sequence jumps larger than this are a restart, not loss. */
const SEQ_RESET_GAP = 1 << 20;
/** Backward steps up to this are late (reordered) datagrams, larger ones a restart. */
const SEQ_LATE_WINDOW = 1 << 10;
const IF_INTERNAL = 0x3fffffff;
const VXLAN_PORT = 4789; // RFC 7348 §5

// Flow record formats (§5.4, enterprise 0).
const FR_HEADER = 1;
const FR_ETHERNET = 2;
const FR_IPV4 = 3;
const FR_IPV6 = 4;
const FR_SWITCH = 1001;
const FR_ROUTER = 1002;
const FR_GATEWAY = 1003;
// header_protocol values (§5.4.1).
const HP_ETHERNET = 1;
const HP_IPV4 = 11;
const HP_IPV6 = 12;

interface SeqState {
  /** Next expected sequence number, -1 when unknown. */
  expected: number;
  /** Losses counted and not yet explained by late arrivals. */
  outstanding: number;
  lost: number;
}

interface SourceState extends SeqState {
  /** Last cumulative drops value, -1 when unknown. */
  drops: number;
}

interface SubAgentState extends SeqState {
  readonly id: number;
  uptime: number;
  readonly sources: Map<number, SourceState>;
}

interface AgentState {
  readonly name: string;
  readonly subAgents: Map<number, SubAgentState>;
  samplesLost: number;
  agentDrops: number;
}

export class SFlowDecoder {
  private readonly counters: ExporterCounters;
  private readonly onCounters: ((c: InterfaceCounters) => void) | undefined;
  private readonly maxAgents: number;
  private readonly agents = new Map<string, AgentState>();
  private readonly v4Names = new Map<number, string>();
  private readonly v6Words = new Uint32Array(4);
  private lastV6 = '';
  private readonly lastV6Words = new Uint32Array(4);

  // Per-datagram context (fields rather than an object per datagram).
  private key = '';
  private from = '';
  private agent = '';
  private sub: SubAgentState | undefined;
  private agentState: AgentState | undefined;
  private subAgentId = 0;
  private seq = 0;
  private uptime = 0;
  private receivedMs = 0;
  private rows = 0;
  // Record offsets of the flow sample being decoded (-1: absent).
  private oHeader = -1;
  private oEthernet = -1;
  private oIPv4 = -1;
  private oIPv6 = -1;
  private oSwitch = -1;
  private oRouter = -1;
  private oGateway = -1;
  private lGateway = 0;
  // Header parsing scratch.
  private hdrVlan = -1;
  private l3Type = 0;
  private l3Off = 0;
  // Exporter string code in the current batch (dictionaries are per batch).
  private codeBatch: FlowBatch | undefined;
  private codeAgent = '';
  private code = 0;

  private readonly onError: ((agent: string, what: string) => void) | undefined;

  constructor(opts: SFlowDecoderOptions) {
    this.counters = opts.counters;
    this.onCounters = opts.onCounters;
    this.onError = opts.onError;
    this.maxAgents = Math.max(0, opts.maxAgents ?? 4096);
  }

  /**
   * Decode one sFlow datagram (UDP payload) received from `from` (IP address text, no port). Never
   * throws on bad input; counts it. Returns the number of flow rows written.
   */
  decode(payload: Uint8Array, from: string, receivedMs: number, sink: BatchSink): number {
    this.rows = 0;
    this.key = from;
    this.from = from;
    this.receivedMs = receivedMs;
    try {
      this.datagram(payload, sink);
    } catch (err) {
      // Only a bug (or a sink failure) gets here; a decoder must not take the collector down.
      this.bad(`internal error: ${(err as Error).message}`);
      if (!(err instanceof RangeError) && !(err instanceof TypeError)) throw err;
    }
    if (this.rows > 0) this.counters.add(this.key, 'flows', this.rows);
    return this.rows;
  }

  /** Sequence state per agent, for `flowwatch stats`. JSON-serialisable. */
  inventory(): SFlowAgentInventory[] {
    return [...this.agents.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((a) => ({
        agent: a.name,
        subAgents: [...a.subAgents.values()]
          .sort((x, y) => x.id - y.id)
          .map((s) => ({
            id: s.id,
            lastSequence: s.expected < 0 ? -1 : (s.expected - 1) >>> 0,
            uptimeMs: s.uptime,
            datagramsLost: s.lost,
            sources: s.sources.size,
          })),
        samplesLost: a.samplesLost,
        agentDrops: a.agentDrops,
      }));
  }

  private datagram(buf: Uint8Array, sink: BatchSink): void {
    const len = buf.length;
    if (len < 8 || u32(buf, 0) !== SFLOW_VERSION) {
      this.countPacket(buf.length);
      // sFlow v2/v4 share the version word; anything else is not sFlow at all.
      const v = len >= 4 ? u32(buf, 0) : 0;
      if (v === 2 || v === 4) this.counters.add(this.key, 'unsupported');
      else this.bad(`not sFlow v5 (version word ${v}, ${len} bytes)`);
      return;
    }
    const atype = u32(buf, 4);
    const alen = atype === 1 ? 4 : atype === 2 ? 16 : -1;
    if (alen < 0 || len < 8 + alen + 16) {
      this.countPacket(len);
      this.bad(`agent address type ${atype} or datagram of ${len} bytes too short for the header`);
      return;
    }
    this.agent = this.agentName(buf, 8, alen);
    this.key = this.agent;
    this.countPacket(len);
    let p = 8 + alen;
    this.subAgentId = u32(buf, p);
    this.seq = u32(buf, p + 4);
    this.uptime = u32(buf, p + 8);
    const n = u32(buf, p + 12);
    p += 16;
    this.trackDatagram();
    for (let i = 0; i < n; i++) {
      if (len - p < 8) {
        this.bad(`sample ${i + 1} of ${n}: datagram ends before its header`);
        return;
      }
      const fmt = u32(buf, p);
      const slen = u32(buf, p + 4);
      const body = p + 8;
      if (slen > len - body) {
        this.bad(`sample ${i + 1} of ${n}: length ${slen} past the end of the datagram`);
        return;
      }
      const end = body + slen;
      if (fmt >>> 12 !== 0) this.counters.add(this.key, 'unsupported');
      else {
        switch (fmt & 0xfff) {
          case 1:
            this.flowSample(buf, body, end, false, sink);
            break;
          case 3:
            this.flowSample(buf, body, end, true, sink);
            break;
          case 2:
            this.counterSample(buf, body, end, false);
            break;
          case 4:
            this.counterSample(buf, body, end, true);
            break;
          default:
            this.counters.add(this.key, 'unsupported');
        }
      }
      p = body + pad4(slen);
    }
  }

  private countPacket(bytes: number): void {
    this.counters.add(this.key, 'packets');
    this.counters.add(this.key, 'bytes_received', bytes);
  }

  /** §5.2 flow_sample (format 1) and flow_sample_expanded (format 3). */
  private flowSample(buf: Uint8Array, p: number, end: number, expanded: boolean, sink: BatchSink): void {
    const fixed = expanded ? 44 : 32;
    if (end - p < fixed) {
      this.bad(`flow sample of ${end - p} bytes, shorter than its ${fixed}-byte fixed part`);
      return;
    }
    const seq = u32(buf, p);
    let srcType: number;
    let srcIndex: number;
    let q = p + 4;
    if (expanded) {
      srcType = u32(buf, q);
      srcIndex = u32(buf, q + 4);
      q += 8;
    } else {
      const id = u32(buf, q);
      srcType = id >>> 24;
      srcIndex = id & 0xffffff;
      q += 4;
    }
    const rate = u32(buf, q);
    const drops = u32(buf, q + 8);
    let inFmt: number;
    let inVal: number;
    let outFmt: number;
    let outVal: number;
    q += 12;
    if (expanded) {
      inFmt = u32(buf, q);
      inVal = u32(buf, q + 4);
      outFmt = u32(buf, q + 8);
      outVal = u32(buf, q + 12);
      q += 16;
    } else {
      const i = u32(buf, q);
      const o = u32(buf, q + 4);
      inFmt = i >>> 30;
      inVal = i & 0x3fffffff;
      outFmt = o >>> 30;
      outVal = o & 0x3fffffff;
      q += 8;
    }
    const nrec = u32(buf, q);
    q += 4;
    if (!this.scanFlowRecords(buf, q, end, nrec)) {
      this.bad(`flow sample: ${nrec} records do not fit its length`);
      return;
    }
    this.trackSample(srcType * TWO32 + srcIndex, seq, drops);

    const b = sink.batch();
    const r = b.addRow();
    const data = b.data;
    const valid = b.valid;
    const t = this.receivedMs;
    setN(b, C.time_start, r, t);
    setN(b, C.time_end, r, t);
    setN(b, C.time_received, r, t);
    setN(b, C.source_type, r, SRC_SFLOW);
    setN(b, C.observation_domain, r, this.subAgentId);
    setN(b, C.sequence, r, this.seq);
    setN(b, C.sampling_rate, r, rate);
    setN(b, C.packets, r, 1);
    if (inFmt === 0) setN(b, C.in_if, r, inVal === IF_INTERNAL ? 0 : inVal);
    if (outFmt === 0) setN(b, C.out_if, r, outVal === IF_INTERNAL ? 0 : outVal);
    else if (outFmt === 1) setN(b, C.action, r, ACTION_REJECT);
    if (this.codeBatch !== b || this.codeAgent !== this.agent) {
      this.codeBatch = b;
      this.codeAgent = this.agent;
      this.code = (b.strings[C.exporter] as StringDict).code(this.agent);
    }
    (data[C.exporter] as Uint32Array)[r] = this.code;
    valid[C.exporter][r] = 1;

    this.hdrVlan = -1;
    const oh = this.oHeader;
    if (oh >= 0) {
      const proto = u32(buf, oh);
      setN(b, C.bytes, r, u32(buf, oh + 4));
      const hlen = u32(buf, oh + 12);
      const h = oh + 16;
      if (proto === HP_ETHERNET) this.ethernet(buf, h, h + hlen, b, r);
      else if (proto === HP_IPV4) this.ipv4(buf, h, h + hlen, b, r, 0);
      else if (proto === HP_IPV6) this.ipv6(buf, h, h + hlen, b, r, 0);
    } else this.sampledRecords(buf, b, r);
    let vlan = this.hdrVlan;
    const os = this.oSwitch;
    if (os >= 0) {
      const sv = u32(buf, os);
      if (sv > 0 && sv < 4095) vlan = sv;
      else if (vlan < 0) {
        const dv = u32(buf, os + 8);
        if (dv > 0 && dv < 4095) vlan = dv;
      }
    }
    if (vlan > 0) setN(b, C.vlan, r, vlan);
    const or = this.oRouter;
    if (or >= 0) {
      const a = this.address(buf, or, b, C.next_hop, r);
      setN(b, C.src_mask, r, u32(buf, a));
      setN(b, C.dst_mask, r, u32(buf, a + 4));
    }
    if (this.oGateway >= 0) this.gateway(buf, this.oGateway, this.oGateway + this.lGateway, b, r);
    this.rows++;
  }

  /** Without a raw header record: the sampled Ethernet (§5.4.2) and IPv4/IPv6 (§5.4.3) records. */
  private sampledRecords(buf: Uint8Array, b: FlowBatch, r: number): void {
    const oe = this.oEthernet;
    if (oe >= 0) {
      setN(b, C.bytes, r, u32(buf, oe));
      setN(b, C.src_mac, r, mac(buf, oe + 4));
      setN(b, C.dst_mac, r, mac(buf, oe + 12));
    }
    const o4 = this.oIPv4;
    const o6 = this.oIPv6;
    if (o4 >= 0) {
      if (oe < 0) setN(b, C.bytes, r, u32(buf, o4));
      b.setIPv4(C.src_addr, r, u32(buf, o4 + 8));
      b.setIPv4(C.dst_addr, r, u32(buf, o4 + 12));
      this.sampledIp(buf, o4 + 4, o4 + 16, 4, b, r);
    } else if (o6 >= 0) {
      if (oe < 0) setN(b, C.bytes, r, u32(buf, o6));
      b.setIPv6(C.src_addr, r, buf, o6 + 8);
      b.setIPv6(C.dst_addr, r, buf, o6 + 24);
      this.sampledIp(buf, o6 + 4, o6 + 40, 6, b, r);
    }
  }

  /**
   * First pass over a flow sample's records: check every length and note where the records this
   * decoder reads start (so the sampled IPv4/IPv6 records are used only without a header record,
   * whatever their order). False when a length runs past the sample.
   */
  private scanFlowRecords(buf: Uint8Array, p: number, end: number, n: number): boolean {
    this.oHeader = this.oEthernet = this.oIPv4 = this.oIPv6 = -1;
    this.oSwitch = this.oRouter = this.oGateway = -1;
    if (n > (end - p) / 8) return false;
    for (let i = 0; i < n; i++) {
      if (end - p < 8) return false;
      const fmt = u32(buf, p);
      const len = u32(buf, p + 4);
      const body = p + 8;
      if (len > end - body) return false;
      switch (fmt) {
        case FR_HEADER:
          if (len < 16 || u32(buf, body + 12) > len - 16) return false;
          this.oHeader = body;
          break;
        case FR_ETHERNET:
          if (len < 24) return false;
          this.oEthernet = body;
          break;
        case FR_IPV4:
          if (len < 32) return false;
          this.oIPv4 = body;
          break;
        case FR_IPV6:
          if (len < 56) return false;
          this.oIPv6 = body;
          break;
        case FR_SWITCH:
          if (len < 16) return false;
          this.oSwitch = body;
          break;
        case FR_ROUTER: {
          const at = len >= 4 ? u32(buf, body) : 0;
          if (len < (at === 2 ? 28 : 16) || (at !== 1 && at !== 2)) return false;
          this.oRouter = body;
          break;
        }
        case FR_GATEWAY:
          this.oGateway = body;
          this.lGateway = len;
          break;
      }
      p = body + pad4(len);
    }
    return true;
  }

  /** Sampled IPv4/IPv6 record tail (§5.4.2/5.4.3): protocol, ports, tcp flags, tos/priority. */
  private sampledIp(buf: Uint8Array, protoAt: number, portsAt: number, version: number, b: FlowBatch, r: number): void {
    const proto = u32(buf, protoAt) & 0xff;
    setN(b, C.proto, r, proto);
    setN(b, C.ip_version, r, version);
    setN(b, C.tos, r, u32(buf, portsAt + 12) & 0xff);
    // §5.4.2: "TCP/UDP source port number or equivalent": kept as sent, whatever the protocol.
    setN(b, C.src_port, r, u32(buf, portsAt) & 0xffff);
    setN(b, C.dst_port, r, u32(buf, portsAt + 4) & 0xffff);
    if (proto === 6) setN(b, C.tcp_flags, r, u32(buf, portsAt + 8) & 0xfff);
  }

  /** An sFlow `address` (§5.1: type 1 IPv4, 2 IPv6) into `col`; returns the offset after it. */
  private address(buf: Uint8Array, p: number, b: FlowBatch, col: number, r: number): number {
    const t = u32(buf, p);
    if (t === 1) {
      b.setIPv4(col, r, u32(buf, p + 4));
      return p + 8;
    }
    b.setIPv6(col, r, buf, p + 4);
    return p + 20;
  }

  /** §5.4.4 extended_gateway: next hop (when no router record), src AS, origin of the dst AS path. */
  private gateway(buf: Uint8Array, p: number, end: number, b: FlowBatch, r: number): void {
    if (end - p < 4) {
      this.badRecord();
      return;
    }
    const at = u32(buf, p);
    const alen = at === 1 ? 4 : at === 2 ? 16 : -1;
    if (alen < 0 || end - p < 4 + alen + 16) {
      this.badRecord();
      return;
    }
    if (this.oRouter < 0) this.address(buf, p, b, C.next_hop, r);
    let q = p + 4 + alen;
    const routerAs = u32(buf, q);
    setN(b, C.src_asn, r, u32(buf, q + 4));
    const segments = u32(buf, q + 12);
    q += 16;
    let origin = routerAs;
    for (let s = 0; s < segments; s++) {
      if (end - q < 8) {
        this.badRecord();
        return;
      }
      const n = u32(buf, q + 4);
      q += 8;
      if (n > (end - q) / 4) {
        this.badRecord();
        return;
      }
      if (n > 0) origin = u32(buf, q + (n - 1) * 4);
      q += n * 4;
    }
    setN(b, C.dst_asn, r, origin);
  }

  /** Count a malformed datagram, sample or record and say what was wrong (the caller rate-limits the log). */
  private bad(what: string): void {
    this.counters.add(this.key, 'malformed');
    this.onError?.(this.key, what);
  }

  private badRecord(): void {
    this.bad('flow or counter record past the end of its sample');
  }

  // ---- the sampled packet header (§5.4.1): Ethernet, 802.1Q/QinQ, MPLS, IPv4/IPv6, L4, tunnels

  private ethernet(buf: Uint8Array, p: number, end: number, b: FlowBatch, r: number): void {
    if (end - p < 14) return;
    setN(b, C.dst_mac, r, mac(buf, p));
    setN(b, C.src_mac, r, mac(buf, p + 6));
    if (!this.peelEthernet(buf, p, end, true)) return;
    if (this.l3Type === 0x0800) this.ipv4(buf, this.l3Off, end, b, r, 0);
    else this.ipv6(buf, this.l3Off, end, b, r, 0);
  }

  /**
   * Skip an Ethernet header, its VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, pre-standard QinQ 0x9100)
   * and MPLS labels (RFC 3032; the payload family is guessed from the IP version nibble, as every
   * MPLS-unaware analyser does). Sets l3Type/l3Off and returns true when IPv4 or IPv6 follows.
   */
  private peelEthernet(buf: Uint8Array, p: number, end: number, outer: boolean): boolean {
    let type = u16(buf, p + 12);
    p += 14;
    while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && end - p >= 4) {
      if (outer && this.hdrVlan < 0) this.hdrVlan = u16(buf, p) & 0xfff;
      type = u16(buf, p + 2);
      p += 4;
    }
    if (type === 0x8847 || type === 0x8848) {
      for (let i = 0; i < 8 && end - p >= 4; i++) {
        const bos = buf[p + 2] & 1;
        p += 4;
        if (bos) {
          const v = end > p ? buf[p] >> 4 : 0;
          type = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
          break;
        }
      }
    }
    if (type !== 0x0800 && type !== 0x86dd) return false;
    this.l3Type = type;
    this.l3Off = p;
    return true;
  }

  private ipv4(buf: Uint8Array, p: number, end: number, b: FlowBatch, r: number, depth: number): void {
    if (end - p < 20 || buf[p] >> 4 !== 4) return;
    const ihl = (buf[p] & 15) * 4;
    const proto = buf[p + 9];
    setN(b, C.ip_version, r, 4);
    setN(b, C.tos, r, buf[p + 1]);
    setN(b, C.proto, r, proto);
    b.setIPv4(C.src_addr, r, u32(buf, p + 12));
    b.setIPv4(C.dst_addr, r, u32(buf, p + 16));
    // Non-first fragments carry no transport header (RFC 791 fragment offset).
    if ((u16(buf, p + 6) & 0x1fff) !== 0 || ihl < 20) return;
    this.transport(buf, p + ihl, end, proto, b, r, depth);
  }

  private ipv6(buf: Uint8Array, p: number, end: number, b: FlowBatch, r: number, depth: number): void {
    if (end - p < 40 || buf[p] >> 4 !== 6) return;
    setN(b, C.ip_version, r, 6);
    setN(b, C.tos, r, ((buf[p] & 15) << 4) | (buf[p + 1] >> 4));
    b.setIPv6(C.src_addr, r, buf, p + 8);
    b.setIPv6(C.dst_addr, r, buf, p + 24);
    let nh = buf[p + 6];
    let q = p + 40;
    // RFC 8200 §4 extension headers; the count bound stops a crafted chain.
    for (let i = 0; i < 8; i++) {
      if (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140) {
        if (end - q < 2) break;
        const next = buf[q];
        q += (buf[q + 1] + 1) * 8;
        nh = next;
      } else if (nh === 44) {
        if (end - q < 8) break;
        const next = buf[q];
        const nonFirst = (u16(buf, q + 2) & 0xfff8) !== 0;
        q += 8;
        nh = next;
        if (nonFirst) {
          setN(b, C.proto, r, nh);
          return;
        }
      } else if (nh === 51) {
        if (end - q < 2) break;
        const next = buf[q];
        q += (buf[q + 1] + 2) * 4; // RFC 4302 §2.2: AH length is in 4-octet units, minus 2
        nh = next;
      } else break;
    }
    setN(b, C.proto, r, nh);
    if (q <= end) this.transport(buf, q, end, nh, b, r, depth);
  }

  private transport(
    buf: Uint8Array,
    p: number,
    end: number,
    proto: number,
    b: FlowBatch,
    r: number,
    depth: number,
  ): void {
    const avail = end - p;
    if (proto === 6 || proto === 17 || proto === 132 || proto === 136) {
      if (avail < 4) return;
      setN(b, C.src_port, r, u16(buf, p));
      setN(b, C.dst_port, r, u16(buf, p + 2));
      if (proto === 6) {
        // 12 bits like tcpControlBits (RFC 7125): NS/AE and the reserved bits too.
        if (avail >= 14) setN(b, C.tcp_flags, r, ((buf[p + 12] & 15) << 8) | buf[p + 13]);
      } else if (proto === 17 && depth === 0 && u16(buf, p + 2) === VXLAN_PORT && avail >= 8 + 8 + 14) {
        // RFC 7348 §5: 8-byte VXLAN header with the I flag, then the inner Ethernet frame.
        const v = p + 8;
        if ((buf[v] & 0x08) !== 0 && this.peelEthernet(buf, v + 8, end, false)) this.decapsulate(buf, end, b, r);
      }
    } else if (proto === 1 || proto === 58) {
      if (avail < 2) return;
      setN(b, C.icmp_type, r, buf[p]);
      setN(b, C.icmp_code, r, buf[p + 1]);
    } else if (proto === 47 && depth === 0) {
      this.gre(buf, p, end, b, r);
    }
  }

  /** RFC 2784/2890 GRE version 0: optional checksum, key and sequence words, then the payload. */
  private gre(buf: Uint8Array, p: number, end: number, b: FlowBatch, r: number): void {
    if (end - p < 4) return;
    const flags = u16(buf, p);
    // Version 1 is PPTP's enhanced GRE (RFC 2637); the routing bit is RFC 1701 source routing.
    if ((flags & 7) !== 0 || (flags & 0x4000) !== 0) return;
    const ptype = u16(buf, p + 2);
    const q = p + 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
    if (ptype === 0x0800 || ptype === 0x86dd) {
      this.l3Type = ptype;
      this.l3Off = q;
    } else if (ptype === 0x6558) {
      // Transparent Ethernet bridging (NVGRE, RFC 7637; Linux gretap).
      if (end - q < 14 || !this.peelEthernet(buf, q, end, false)) return;
    } else return;
    this.decapsulate(buf, end, b, r);
  }

  /**
   * The inner packet becomes the flow: the outer addresses move to pkt_src_addr/pkt_dst_addr and
   * the outer transport fields are cleared before the inner ones are read (l3Type/l3Off set).
   */
  private decapsulate(buf: Uint8Array, end: number, b: FlowBatch, r: number): void {
    const need = this.l3Type === 0x0800 ? 20 : 40;
    if (end - this.l3Off < need || buf[this.l3Off] >> 4 !== (this.l3Type === 0x0800 ? 4 : 6)) return;
    const a = b.data as Uint32Array[];
    const o = r * 4;
    for (let w = 0; w < 4; w++) {
      a[C.pkt_src_addr][o + w] = a[C.src_addr][o + w];
      a[C.pkt_dst_addr][o + w] = a[C.dst_addr][o + w];
    }
    b.valid[C.pkt_src_addr][r] = 1;
    b.valid[C.pkt_dst_addr][r] = 1;
    b.valid[C.src_port][r] = 0;
    b.valid[C.dst_port][r] = 0;
    b.valid[C.tcp_flags][r] = 0;
    b.valid[C.icmp_type][r] = 0;
    b.valid[C.icmp_code][r] = 0;
    if (this.l3Type === 0x0800) this.ipv4(buf, this.l3Off, end, b, r, 1);
    else this.ipv6(buf, this.l3Off, end, b, r, 1);
  }

  // ---- counter samples (§5.3, §5.5)

  private counterSample(buf: Uint8Array, p: number, end: number, expanded: boolean): void {
    const fixed = expanded ? 16 : 12;
    if (end - p < fixed) {
      this.badRecord();
      return;
    }
    if (this.onCounters === undefined) return;
    const seq = u32(buf, p);
    let srcType: number;
    let srcIndex: number;
    if (expanded) {
      srcType = u32(buf, p + 4);
      srcIndex = u32(buf, p + 8);
    } else {
      srcType = buf[p + 4];
      srcIndex = u32(buf, p + 4) & 0xffffff;
    }
    const n = u32(buf, p + fixed - 4);
    let q = p + fixed;
    let generic = -1;
    let eth = -1;
    if (n > (end - q) / 8) {
      this.badRecord();
      return;
    }
    for (let i = 0; i < n; i++) {
      if (end - q < 8) {
        this.badRecord();
        return;
      }
      const fmt = u32(buf, q);
      const len = u32(buf, q + 4);
      const body = q + 8;
      if (len > end - body) {
        this.badRecord();
        return;
      }
      if (fmt === 1) {
        if (len < 88) {
          this.badRecord();
          return;
        }
        generic = body;
      } else if (fmt === 2) {
        if (len < 52) {
          this.badRecord();
          return;
        }
        eth = body;
      }
      q = body + pad4(len);
    }
    if (generic < 0) {
      // Only generic counters say which interface and what traffic; other records are not kept.
      if (eth >= 0) this.counters.add(this.key, 'unsupported');
      return;
    }
    const g = generic;
    const status = u32(buf, g + 20);
    const c: InterfaceCounters = {
      agent: this.agent,
      subAgentId: this.subAgentId,
      from: this.from,
      receivedMs: this.receivedMs,
      uptimeMs: this.uptime,
      sequence: seq,
      sourceIdType: srcType,
      sourceIdIndex: srcIndex,
      ifIndex: u32(buf, g),
      ifType: u32(buf, g + 4),
      ifSpeed: u64(buf, g + 8),
      ifDirection: u32(buf, g + 16),
      ifStatus: status,
      ifAdminUp: (status & 1) !== 0,
      ifOperUp: (status & 2) !== 0,
      ifInOctets: u64(buf, g + 24),
      ifInUcastPkts: u32(buf, g + 32),
      ifInMulticastPkts: u32(buf, g + 36),
      ifInBroadcastPkts: u32(buf, g + 40),
      ifInDiscards: u32(buf, g + 44),
      ifInErrors: u32(buf, g + 48),
      ifInUnknownProtos: u32(buf, g + 52),
      ifOutOctets: u64(buf, g + 56),
      ifOutUcastPkts: u32(buf, g + 64),
      ifOutMulticastPkts: u32(buf, g + 68),
      ifOutBroadcastPkts: u32(buf, g + 72),
      ifOutDiscards: u32(buf, g + 76),
      ifOutErrors: u32(buf, g + 80),
      ifPromiscuousMode: u32(buf, g + 84),
      ethernet:
        eth < 0
          ? null
          : {
              dot3StatsAlignmentErrors: u32(buf, eth),
              dot3StatsFCSErrors: u32(buf, eth + 4),
              dot3StatsSingleCollisionFrames: u32(buf, eth + 8),
              dot3StatsMultipleCollisionFrames: u32(buf, eth + 12),
              dot3StatsSQETestErrors: u32(buf, eth + 16),
              dot3StatsDeferredTransmissions: u32(buf, eth + 20),
              dot3StatsLateCollisions: u32(buf, eth + 24),
              dot3StatsExcessiveCollisions: u32(buf, eth + 28),
              dot3StatsInternalMacTransmitErrors: u32(buf, eth + 32),
              dot3StatsCarrierSenseErrors: u32(buf, eth + 36),
              dot3StatsFrameTooLongs: u32(buf, eth + 40),
              dot3StatsInternalMacReceiveErrors: u32(buf, eth + 44),
              dot3StatsSymbolErrors: u32(buf, eth + 48),
            },
    };
    this.onCounters(c);
  }

  // ---- agents and sequence numbers

  private agentName(buf: Uint8Array, p: number, alen: number): string {
    if (alen === 4) {
      const v = u32(buf, p);
      let s = this.v4Names.get(v);
      if (s === undefined) {
        s = formatIPv4(v);
        if (this.v4Names.size < 65536) this.v4Names.set(v, s);
      }
      return s;
    }
    const w = this.v6Words;
    for (let i = 0; i < 4; i++) w[i] = u32(buf, p + i * 4);
    const l = this.lastV6Words;
    if (this.lastV6 !== '' && w[0] === l[0] && w[1] === l[1] && w[2] === l[2] && w[3] === l[3]) return this.lastV6;
    l.set(w);
    this.lastV6 = formatIPv6(w, 0);
    return this.lastV6;
  }

  /** §5.1: datagram sequence per (agent, sub-agent); a smaller uptime means the agent restarted. */
  private trackDatagram(): void {
    let a = this.agents.get(this.agent);
    if (a === undefined) {
      if (this.agents.size >= this.maxAgents) {
        this.sub = undefined;
        this.agentState = undefined;
        return;
      }
      a = { name: this.agent, subAgents: new Map(), samplesLost: 0, agentDrops: 0 };
      this.agents.set(this.agent, a);
    }
    this.agentState = a;
    let s = a.subAgents.get(this.subAgentId);
    if (s === undefined) {
      s = { id: this.subAgentId, expected: -1, outstanding: 0, lost: 0, uptime: this.uptime, sources: new Map() };
      a.subAgents.set(this.subAgentId, s);
    }
    this.sub = s;
    // Uptime is a u32 of milliseconds: it wraps after 49.7 days, which is not a restart. Reordered
    // datagrams may step back a little; a minute's tolerance separates them from a restart.
    const wrapped = s.uptime > 0xffffffff - 3600000 && this.uptime < 3600000;
    if (this.uptime < s.uptime && s.uptime - this.uptime > 60000 && !wrapped) {
      // Restarted: every sequence starts again (§5.1 "sequence numbers ... reset").
      s.expected = -1;
      s.outstanding = 0;
      s.sources.clear();
    }
    s.uptime = this.uptime;
    step(s, this.seq);
  }

  /** §5.2: flow sample sequence and cumulative drops per data source. */
  private trackSample(source: number, seq: number, drops: number): void {
    const s = this.sub;
    const a = this.agentState;
    if (s === undefined || a === undefined) return;
    let src = s.sources.get(source);
    if (src === undefined) {
      if (s.sources.size >= 65536) return;
      src = { expected: -1, outstanding: 0, lost: 0, drops: -1 };
      s.sources.set(source, src);
    }
    const lostBefore = src.lost;
    step(src, seq);
    const d = src.lost - lostBefore;
    if (d !== 0) {
      a.samplesLost += d;
      this.counters.add(this.key, 'sequence_lost', d);
    }
    if (src.drops >= 0) {
      const inc = (drops - src.drops) >>> 0;
      if (inc > 0 && inc < SEQ_RESET_GAP) {
        a.agentDrops += inc;
        this.counters.add(this.key, AGENT_DROPS, inc);
      }
    }
    src.drops = drops;
  }
}

/**
 * Advance a sequence: forward gaps are losses, small backward steps are late datagrams that take
 * back a loss counted earlier, anything else is a restart.
 */
function step(s: SeqState, seq: number): void {
  if (s.expected >= 0) {
    const gap = (seq - s.expected) >>> 0;
    if (gap === 0) {
      s.expected = (seq + 1) >>> 0;
      return;
    }
    if (gap < SEQ_RESET_GAP) {
      s.lost += gap;
      s.outstanding += gap;
      s.expected = (seq + 1) >>> 0;
      return;
    }
    const back = (s.expected - seq) >>> 0;
    if (back <= SEQ_LATE_WINDOW) {
      if (s.outstanding > 0) {
        s.outstanding--;
        s.lost--;
      }
      return;
    }
  }
  s.expected = (seq + 1) >>> 0;
  s.outstanding = 0;
}

/**
 * True when `payload` looks like an sFlow v5 datagram: version 5, an IPv4/IPv6 agent address type,
 * and a sample count that fits the length. Used to recognise sFlow by content on any port.
 */
export function looksLikeSFlow(payload: Uint8Array): boolean {
  if (payload.length < 28 || u32(payload, 0) !== SFLOW_VERSION) return false;
  const at = u32(payload, 4);
  if (at !== 1 && at !== 2) return false;
  const hdr = at === 1 ? 28 : 40;
  if (payload.length < hdr) return false;
  const n = u32(payload, hdr - 4);
  if (n > (payload.length - hdr) / 8) return false;
  if (n === 0) return true;
  // The first sample's length must fit too.
  if (payload.length < hdr + 8) return false;
  const slen = u32(payload, hdr + 4);
  return slen <= payload.length - hdr - 8;
}

// ---- XDR helpers

function setN(b: FlowBatch, col: number, r: number, v: number): void {
  b.data[col][r] = v;
  b.valid[col][r] = 1;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function u64(b: Uint8Array, p: number): number {
  return u32(b, p) * TWO32 + u32(b, p + 4);
}

/** 48-bit MAC at `p` as a number (FlowBatch 'mac' columns). */
function mac(b: Uint8Array, p: number): number {
  return u16(b, p) * TWO32 + u32(b, p + 2);
}
