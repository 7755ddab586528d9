// Templates: what a NetFlow v9 / IPFIX template record says, compiled into flat typed arrays the
// record loop walks with one switch per field (no object or closure per flow).
//
// Field semantics follow the IANA IPFIX registry; NetFlow v9 field types 1..127 are the same
// numbers (RFC 3954 §8 was the seed of RFC 5102), so one table serves both. Where v9 and IPFIX
// differ (v9 options scope types, IPFIX variable length) the caller passes the protocol.

import { C } from '../../schema/columns.js';

/** Field length that announces a variable-length field (RFC 7011 §7). */
export const VARLEN = 65535;
/** IPFIX Private Enterprise Number for reverse information elements (RFC 5103 §6.1). */
export const PEN_REVERSE = 29305;
/** ntop (nProbe) Private Enterprise Number. */
const PEN_NTOP = 35632;

// Operations of the record loop. `col` holds the column (or the time slot) the op writes.
export const OP_SKIP = 0;
export const OP_NUM = 1; // unsigned integer of the declared length → numeric column
export const OP_NUM_FALLBACK = 2; // same, only when the row has no value yet (alternative IE)
export const OP_V4 = 3;
export const OP_V6 = 4;
export const OP_V4_FALLBACK = 5;
export const OP_V6_FALLBACK = 6;
export const OP_MAC = 7;
export const OP_MAC_FALLBACK = 8;
export const OP_ICMP_TYPECODE = 9; // type * 256 + code (IE 32 / 139, v9 ICMP_TYPE)
export const OP_TIME_SEC = 10; // absolute seconds → slot
export const OP_TIME_MS = 11; // absolute milliseconds → slot
export const OP_TIME_NTP = 12; // NTP 64-bit timestamp (RFC 7011 §6.1.9-10) → slot
export const OP_TIME_RAW = 13; // uptime ms / delta µs / init time: raw number → slot
export const OP_SAMPLER_ID = 14;
export const OP_SAMPLING_INTERVAL = 15;
export const OP_SAMPLING_SPACE = 16;
export const OP_STRING = 17;
export const OP_END_REASON = 18;
export const OP_FW_EVENT = 19;
export const OP_REV_NUM = 20; // reverse counter: numeric column and the row is a biflow
export const OP_PKT_SELECTED = 21; // samplingPacketInterval: packets taken in a row (RFC 5477 §8.2.2)
export const OP_SAMPLING_SIZE = 22; // samplingSize: n of n-out-of-N (RFC 5477 §8.2.4)
export const OP_SAMPLING_POPULATION = 23; // samplingPopulation: N of n-out-of-N (RFC 5477 §8.2.5)
export const OP_APP_ID = 24; // applicationId (RFC 6759 §4): engine id byte + selector id
export const OP_APP_DESC = 25; // applicationDescription: options data only
export const OP_IF_NAME = 26; // interfaceName (IE 82, v9 IF_NAME): options data only
export const OP_IF_DESC = 27; // interfaceDescription (IE 83, v9 IF_DESC): options data only
export const OP_SCOPE_IF = 28; // v9 options scope type 2 "Interface" (RFC 3954 §6.1): an ifIndex
export const OP_FW_EXT_EVENT = 29; // Cisco ASA NSEL NF_F_FW_EXT_EVENT (v9 type 33002)

// Time slots (indexes into the decoder's scratch array).
export const T_ABS_START = 0;
export const T_ABS_END = 1;
export const T_UP_START = 2; // FIRST_SWITCHED / flowStartSysUpTime
export const T_UP_END = 3;
export const T_DELTA_START = 4; // flowStartDeltaMicroseconds
export const T_DELTA_END = 5;
export const T_SYS_INIT = 6; // systemInitTimeMilliseconds (IE 160)
export const T_SLOTS = 7;

export type TemplateKind = 'data' | 'options';

export interface Template {
  readonly id: number;
  readonly kind: TemplateKind;
  readonly fieldCount: number;
  readonly scopeCount: number;
  readonly ops: Uint8Array;
  readonly cols: Int32Array;
  /** Declared length per field; VARLEN for IPFIX variable-length fields. */
  readonly lens: Int32Array;
  /** Smallest possible record (variable fields count their 1-byte length prefix). */
  readonly minLen: number;
  /** Whole-record length when every field is fixed, else -1. */
  readonly fixedLen: number;
  /** The field specifiers as received (IE id, enterprise number), kept so state can be saved. */
  readonly types: Uint16Array;
  readonly pens: Uint32Array;
  /** NetFlow v9 (false) or IPFIX (true) rules were used to compile it. */
  readonly ipfix: boolean;
  lastSeenMs: number;
}

/** Compile a template. `types` holds the IE id, `pens` the enterprise number (0 for IANA). */
export function compileTemplate(
  id: number,
  kind: TemplateKind,
  types: ArrayLike<number>,
  lens: ArrayLike<number>,
  pens: ArrayLike<number>,
  scopeCount: number,
  ipfix: boolean,
  nowMs: number,
): Template {
  const n = types.length;
  const ops = new Uint8Array(n);
  const cols = new Int32Array(n);
  const ls = new Int32Array(n);
  const ts = new Uint16Array(n);
  const ps = new Uint32Array(n);
  let minLen = 0;
  let fixed = true;
  for (let i = 0; i < n; i++) {
    const len = lens[i];
    ls[i] = len;
    ts[i] = types[i];
    ps[i] = pens[i];
    if (ipfix && len === VARLEN) {
      fixed = false;
      minLen += 1;
    } else minLen += len;
    // v9 options scope types (1 System, 2 Interface, 3 Line Card, 4 Cache, 5 Template:
    // RFC 3954 §6.1) reuse numbers of ordinary fields: they must never be read as such.
    // Scope type 2 is the ifIndex that interface-name options records describe (Cisco IOS XR).
    if (i < scopeCount && !ipfix) {
      if (types[i] === 2 && len >= 1 && len <= 8) ops[i] = OP_SCOPE_IF;
      continue;
    }
    // IPFIX scopes are ordinary IEs (RFC 7011 §3.4.2.1): ingressInterface, selectorId or
    // applicationId (RFC 6759 §5.1) are read as such by the options reader.
    const op = fieldOp(types[i], pens[i], len);
    ops[i] = op >>> 16;
    cols[i] = op & 0xffff;
  }
  // observationTimeMilliseconds stands for the end only when no flow end time is exported.
  let hasEnd = false;
  for (let i = 0; i < n; i++)
    if (cols[i] === T_ABS_END && ops[i] >= OP_TIME_SEC && ops[i] <= OP_TIME_NTP && types[i] !== 323) hasEnd = true;
  if (hasEnd) for (let i = 0; i < n; i++) if (types[i] === 323) ops[i] = OP_SKIP;
  return {
    id,
    kind,
    fieldCount: n,
    scopeCount,
    ops,
    cols,
    lens: ls,
    minLen,
    fixedLen: fixed ? minLen : -1,
    types: ts,
    pens: ps,
    ipfix,
    lastSeenMs: nowMs,
  };
}

const op = (o: number, col: number) => (o << 16) | col;

/** (op << 16 | column or slot) for one field; OP_SKIP for what flowwatch does not keep. */
function fieldOp(type: number, pen: number, len: number): number {
  if (pen === PEN_REVERSE) {
    // RFC 5103: the reverse direction's counters of a biflow.
    if (type === 1) return op(OP_REV_NUM, C.rev_bytes);
    if (type === 2) return op(OP_REV_NUM, C.rev_packets);
    if (type === 85) return op(OP_REV_NUM, C.rev_bytes);
    if (type === 86) return op(OP_REV_NUM, C.rev_packets);
    return OP_SKIP;
  }
  // ntop nProbe L7_PROTO_NAME in IPFIX (PEN 35632, id 119).
  if (pen === PEN_NTOP && type === 119) return op(OP_STRING, C.app);
  if (pen !== 0) return OP_SKIP; // other enterprise fields: skipped by length
  const num = len >= 1 && len <= 8;
  switch (type) {
    case 1: // octetDeltaCount / IN_BYTES
      return num ? op(OP_NUM, C.bytes) : OP_SKIP;
    case 2: // packetDeltaCount / IN_PKTS
      return num ? op(OP_NUM, C.packets) : OP_SKIP;
    case 85: // octetTotalCount
    case 23: // postOctetDeltaCount / v9 OUT_BYTES: only when nothing better is exported
      return num ? op(OP_NUM_FALLBACK, C.bytes) : OP_SKIP;
    case 86:
    case 24:
      return num ? op(OP_NUM_FALLBACK, C.packets) : OP_SKIP;
    case 231: // initiatorOctets (Cisco ASA NSEL NF_F_FWD_FLOW_DELTA_BYTES)
      return num ? op(OP_NUM, C.bytes) : OP_SKIP;
    case 232: // responderOctets (NF_F_REV_FLOW_DELTA_BYTES): the connection's other direction
      return num ? op(OP_REV_NUM, C.rev_bytes) : OP_SKIP;
    case 298: // initiatorPackets
      return num ? op(OP_NUM, C.packets) : OP_SKIP;
    case 299: // responderPackets
      return num ? op(OP_REV_NUM, C.rev_packets) : OP_SKIP;
    case 4:
      return num ? op(OP_NUM, C.proto) : OP_SKIP;
    case 5:
      return num ? op(OP_NUM, C.tos) : OP_SKIP;
    case 6: // tcpControlBits: 1 byte in v9, 2 in IPFIX (RFC 7125)
      return num ? op(OP_NUM, C.tcp_flags) : OP_SKIP;
    case 7:
      return num ? op(OP_NUM, C.src_port) : OP_SKIP;
    case 11:
      return num ? op(OP_NUM, C.dst_port) : OP_SKIP;
    case 180: // udpSourcePort
    case 182: // tcpSourcePort
      return num ? op(OP_NUM_FALLBACK, C.src_port) : OP_SKIP;
    case 181:
    case 183:
      return num ? op(OP_NUM_FALLBACK, C.dst_port) : OP_SKIP;
    case 8:
      return len === 4 ? op(OP_V4, C.src_addr) : OP_SKIP;
    case 12:
      return len === 4 ? op(OP_V4, C.dst_addr) : OP_SKIP;
    case 27:
      return len === 16 ? op(OP_V6, C.src_addr) : OP_SKIP;
    case 28:
      return len === 16 ? op(OP_V6, C.dst_addr) : OP_SKIP;
    case 15: // ipNextHopIPv4Address
      return len === 4 ? op(OP_V4, C.next_hop) : OP_SKIP;
    case 62:
      return len === 16 ? op(OP_V6, C.next_hop) : OP_SKIP;
    case 18: // bgpNextHopIPv4Address: used when no IP next hop is exported
      return len === 4 ? op(OP_V4_FALLBACK, C.next_hop) : OP_SKIP;
    case 63:
      return len === 16 ? op(OP_V6_FALLBACK, C.next_hop) : OP_SKIP;
    case 225: // postNATSourceIPv4Address (Cisco ASA NF_F_XLATE_SRC_ADDR_IPV4, PAN-OS, FortiOS)
      return len === 4 ? op(OP_V4, C.pkt_src_addr) : OP_SKIP;
    case 226:
      return len === 4 ? op(OP_V4, C.pkt_dst_addr) : OP_SKIP;
    // Cisco ASA 8.2/8.3 NSEL ids of the same NAT addresses (NF_F_XLATE_SRC/DST_ADDR_84), still sent
    // by later releases in v9 (v9 only: above the IPFIX 15-bit range).
    case 40001:
      return len === 4 ? op(OP_V4, C.pkt_src_addr) : OP_SKIP;
    case 40002:
      return len === 4 ? op(OP_V4, C.pkt_dst_addr) : OP_SKIP;
    case 281: // postNATSourceIPv6Address
      return len === 16 ? op(OP_V6, C.pkt_src_addr) : OP_SKIP;
    case 282:
      return len === 16 ? op(OP_V6, C.pkt_dst_addr) : OP_SKIP;
    case 10:
      return num ? op(OP_NUM, C.in_if) : OP_SKIP;
    case 14:
      return num ? op(OP_NUM, C.out_if) : OP_SKIP;
    case 252: // ingressPhysicalInterface
      return num ? op(OP_NUM_FALLBACK, C.in_if) : OP_SKIP;
    case 253:
      return num ? op(OP_NUM_FALLBACK, C.out_if) : OP_SKIP;
    case 9:
      return num ? op(OP_NUM, C.src_mask) : OP_SKIP;
    case 13:
      return num ? op(OP_NUM, C.dst_mask) : OP_SKIP;
    case 29: // sourceIPv6PrefixLength
      return num ? op(OP_NUM_FALLBACK, C.src_mask) : OP_SKIP;
    case 30:
      return num ? op(OP_NUM_FALLBACK, C.dst_mask) : OP_SKIP;
    case 16: // bgpSourceAsNumber: 2 or 4 bytes (RFC 3954 §8 allows both)
      return num ? op(OP_NUM, C.src_asn) : OP_SKIP;
    case 17:
      return num ? op(OP_NUM, C.dst_asn) : OP_SKIP;
    case 56: // sourceMacAddress
      return len === 6 ? op(OP_MAC, C.src_mac) : OP_SKIP;
    case 80: // destinationMacAddress
      return len === 6 ? op(OP_MAC, C.dst_mac) : OP_SKIP;
    case 81: // postSourceMacAddress (v9 OUT_SRC_MAC)
      return len === 6 ? op(OP_MAC_FALLBACK, C.src_mac) : OP_SKIP;
    case 57: // postDestinationMacAddress (v9 OUT_DST_MAC)
      return len === 6 ? op(OP_MAC_FALLBACK, C.dst_mac) : OP_SKIP;
    case 58: // vlanId
      return num ? op(OP_NUM, C.vlan) : OP_SKIP;
    case 243: // dot1qVlanId
    case 59: // postVlanId
      return num ? op(OP_NUM_FALLBACK, C.vlan) : OP_SKIP;
    case 60:
      return num ? op(OP_NUM, C.ip_version) : OP_SKIP;
    case 32: // icmpTypeCodeIPv4 (v9 ICMP_TYPE = type * 256 + code)
    case 139:
      return len === 2 ? op(OP_ICMP_TYPECODE, 0) : OP_SKIP;
    case 176: // icmpTypeIPv4
    case 178:
      return num ? op(OP_NUM, C.icmp_type) : OP_SKIP;
    case 177:
    case 179:
      return num ? op(OP_NUM, C.icmp_code) : OP_SKIP;
    case 136: // flowEndReason
      return num ? op(OP_END_REASON, 0) : OP_SKIP;
    case 233: // firewallEvent (Cisco ASA NSEL NF_F_FW_EVENT)
    case 40005: // NF_F_FW_EVENT_84, its ASA 8.2/8.3 id (same values)
      return num ? op(OP_FW_EVENT, 0) : OP_SKIP;
    case 96: // applicationName
      return op(OP_STRING, C.app);
    case 95: // applicationId (RFC 6759): at least the engine byte and one selector byte
      return len >= 2 && len <= 8 ? op(OP_APP_ID, C.app) : OP_SKIP;
    case 94: // applicationDescription
      return op(OP_APP_DESC, 0);
    case 82: // interfaceName / v9 IF_NAME
      return op(OP_IF_NAME, 0);
    case 83: // interfaceDescription / v9 IF_DESC
      return op(OP_IF_DESC, 0);
    case 33002: // Cisco ASA NSEL NF_F_FW_EXT_EVENT (v9 only: above the IPFIX 15-bit id range)
      return num ? op(OP_FW_EXT_EVENT, 0) : OP_SKIP;
    case 56701: // Palo Alto PAN-OS App-ID, NUL-padded text (v9 only, PEN 25461 in IE 346)
    case 57591: // ntop nProbe L7_PROTO_NAME in v9 (NTOP_BASE_ID 57472 + 119)
      return op(OP_STRING, C.app);
    // times
    case 22: // FIRST_SWITCHED / flowStartSysUpTime
      return num ? op(OP_TIME_RAW, T_UP_START) : OP_SKIP;
    case 21:
      return num ? op(OP_TIME_RAW, T_UP_END) : OP_SKIP;
    case 150: // flowStartSeconds
      return num ? op(OP_TIME_SEC, T_ABS_START) : OP_SKIP;
    case 151:
      return num ? op(OP_TIME_SEC, T_ABS_END) : OP_SKIP;
    case 152: // flowStartMilliseconds
      return num ? op(OP_TIME_MS, T_ABS_START) : OP_SKIP;
    case 153:
      return num ? op(OP_TIME_MS, T_ABS_END) : OP_SKIP;
    case 323: // observationTimeMilliseconds: Cisco ASA NSEL NF_F_EVENT_TIME_MSEC, the event's time
      return num ? op(OP_TIME_MS, T_ABS_END) : OP_SKIP;
    case 154: // flowStartMicroseconds
    case 156: // flowStartNanoseconds
      return len === 8 ? op(OP_TIME_NTP, T_ABS_START) : OP_SKIP;
    case 155:
    case 157:
      return len === 8 ? op(OP_TIME_NTP, T_ABS_END) : OP_SKIP;
    case 158: // flowStartDeltaMicroseconds
      return num ? op(OP_TIME_RAW, T_DELTA_START) : OP_SKIP;
    case 159:
      return num ? op(OP_TIME_RAW, T_DELTA_END) : OP_SKIP;
    case 160: // systemInitTimeMilliseconds
      return num ? op(OP_TIME_RAW, T_SYS_INIT) : OP_SKIP;
    // sampling (RFC 3954 §8 FLOW_SAMPLER_*, RFC 5102 / RFC 5477 selectors)
    case 48: // samplerId / v9 FLOW_SAMPLER_ID
    case 302: // selectorId
      return num ? op(OP_SAMPLER_ID, 0) : OP_SKIP;
    case 34: // samplingInterval
    case 50: // samplerRandomInterval / v9 FLOW_SAMPLER_RANDOM_INTERVAL
      return num ? op(OP_SAMPLING_INTERVAL, 0) : OP_SKIP;
    case 305: // samplingPacketInterval
      return num ? op(OP_PKT_SELECTED, 0) : OP_SKIP;
    case 306: // samplingPacketSpace
      return num ? op(OP_SAMPLING_SPACE, 0) : OP_SKIP;
    case 309: // samplingSize
      return num ? op(OP_SAMPLING_SIZE, 0) : OP_SKIP;
    case 310: // samplingPopulation
      return num ? op(OP_SAMPLING_POPULATION, 0) : OP_SKIP;
    default:
      return OP_SKIP;
  }
}
