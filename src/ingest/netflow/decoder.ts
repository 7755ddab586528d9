// NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export packets → FlowBatch rows.
//
// One decoder holds the state every exporter builds up: templates keyed by (exporter, source id /
// observation domain, template id), sampler rates from options data, the last sequence number,
// and the data sets that arrived before their template. Bad input never throws: each problem is
// counted per exporter with a reason (DESIGN principle 4) and the rest of the packet is kept when
// it can be. The record loop writes typed arrays directly: no object per flow.

import type { CounterName, ExporterCounters } from '../../pipeline/counters.js';
import type { FlowBatch, StringDict } from '../../pipeline/flow-batch.js';
import type { BatchSink } from '../../pipeline/sink.js';
import { C, SOURCE_TYPES } from '../../schema/columns.js';
import {
  checkDecoderState,
  DECODER_STATE_VERSION,
  type DecoderState,
  type DomainDump,
  type ImportResult,
  MAX_APPLICATIONS,
  MAX_DOMAINS_PER_EXPORTER,
  MAX_INTERFACES,
  MAX_TEMPLATES_PER_DOMAIN,
  MAX_TEMPLATES_TOTAL,
  MAX_TEXT,
  parseDomainDump,
} from './decoder-state.js';
import {
  compileTemplate,
  OP_APP_DESC,
  OP_APP_ID,
  OP_END_REASON,
  OP_FW_EVENT,
  OP_FW_EXT_EVENT,
  OP_ICMP_TYPECODE,
  OP_IF_DESC,
  OP_IF_NAME,
  OP_MAC,
  OP_MAC_FALLBACK,
  OP_NUM,
  OP_NUM_FALLBACK,
  OP_PKT_SELECTED,
  OP_REV_NUM,
  OP_SAMPLER_ID,
  OP_SAMPLING_INTERVAL,
  OP_SAMPLING_POPULATION,
  OP_SAMPLING_SIZE,
  OP_SAMPLING_SPACE,
  OP_SCOPE_IF,
  OP_SKIP,
  OP_STRING,
  OP_TIME_MS,
  OP_TIME_NTP,
  OP_TIME_RAW,
  OP_TIME_SEC,
  OP_V4,
  OP_V4_FALLBACK,
  OP_V6,
  OP_V6_FALLBACK,
  T_ABS_END,
  T_ABS_START,
  T_DELTA_END,
  T_DELTA_START,
  T_SLOTS,
  T_SYS_INIT,
  T_UP_END,
  T_UP_START,
  type Template,
  type TemplateKind,
  VARLEN,
} from './template.js';

export type { DecoderState, DomainDump, ImportResult, TemplateDump } from './decoder-state.js';

export interface DecoderOptions {
  counters: ExporterCounters;
  /** Data sets held for missing templates, in total (default 256). */
  pendingLimit?: number;
  /** Told what was wrong with each malformed packet or record, with its exporter. */
  onError?: (exporter: string, what: string) => void;
}

export interface TemplateInfo {
  id: number;
  kind: TemplateKind;
  fieldCount: number;
  lastSeenMs: number;
}

export interface InterfaceInfo {
  name?: string;
  description?: string;
}

export interface ApplicationInfo {
  name: string;
  description?: string;
}

export interface ExporterInventory {
  exporter: string;
  protocol: 'netflow5' | 'netflow9' | 'ipfix';
  /** NetFlow v9 source id / IPFIX observation domain (v5: engine type << 8 | engine id). */
  observationDomain: number;
  templates: TemplateInfo[];
  /** Sampler id → 1-in-N rate, learned from options data (RFC 3954 §6.2, RFC 5476). */
  samplingRates: Record<string, number>;
  /** Rate that applies to every flow of the domain (v5 header, options data without sampler id). */
  samplingRate?: number;
  /** systemInitTimeMilliseconds (IE 160) when the exporter sent it. */
  systemInitMs?: number;
  /** Data sets waiting for their template. */
  pendingSets: number;
  /** ifIndex → name / description from options data (IE 82/83, v9 IF_NAME/IF_DESC); absent when none. */
  interfaces?: Record<string, InterfaceInfo>;
  /** "engine:selector" (RFC 6759 applicationId) → name / description from options data (Cisco NBAR). */
  applications?: Record<string, ApplicationInfo>;
}

const V5 = 5;
const V9 = 9;
const IPFIX = 10;
const SRC_NETFLOW5 = SOURCE_TYPES.indexOf('netflow5') + 1; // enum index 0 is "unknown"
const SRC_NETFLOW9 = SOURCE_TYPES.indexOf('netflow9') + 1;
const SRC_IPFIX = SOURCE_TYPES.indexOf('ipfix') + 1;
const ACTION_ACCEPT = 1; // ACTIONS index
const ACTION_REJECT = 2;
const STATE_START = 1; // FLOW_STATES index
const STATE_CONTINUE = 2;
const STATE_END = 3;
/** "engine:selector" labels of unnamed application ids kept per domain (the rest are built per flow). */
const MAX_APP_LABELS = 4096;
const NTP_UNIX_OFFSET = 2208988800; // seconds from 1900-01-01 to 1970-01-01 (RFC 7011 §6.1.10)
const TWO32 = 4294967296;
/** Forward sequence gaps larger than this are an exporter restart, not loss. */
const SEQ_RESET_GAP = 1 << 20;

interface DomainState {
  readonly protocol: 'netflow5' | 'netflow9' | 'ipfix';
  readonly id: number;
  readonly templates: Map<number, Template>;
  readonly samplers: Map<number, number>;
  /** ifIndex → names from options data. */
  readonly interfaces: Map<number, InterfaceInfo>;
  /** applicationId key (selector * 256 + engine) → names from options data. */
  readonly apps: Map<number, ApplicationInfo>;
  /** applicationId key → "engine:selector" for ids without a name (built once, not per flow). */
  readonly appLabels: Map<number, string>;
  /** Domain-wide sampling rate, 0 when unknown. */
  rate: number;
  sysInitMs: number; // -1 when unknown
  /** Sequence number expected next, -1 when unknown. */
  expectedSeq: number;
  /** Losses counted so far and not yet explained by late arrivals. */
  lostOutstanding: number;
  /**
   * The last forward jump: where the stream would continue without it (-1: none) and the loss
   * it counted — to recognise a corrupted sequence number.
   */
  jumpFrom: number;
  jumpGap: number;
  pending: number;
}

interface ExporterState {
  readonly name: string;
  readonly v5: Map<number, DomainState>;
  readonly v9: Map<number, DomainState>;
  readonly ipfix: Map<number, DomainState>;
  pending: number;
}

/** A data set held until its template arrives. */
interface PendingSet {
  exp: ExporterState;
  dom: DomainState;
  version: number;
  templateId: number;
  body: Uint8Array;
  hdrMs: number;
  sysUptime: number;
  seq: number;
  receivedMs: number;
}

export class FlowExportDecoder {
  private readonly counters: ExporterCounters;
  private readonly pendingLimit: number;
  private readonly perExporterPending: number;
  private readonly exporters = new Map<string, ExporterState>();
  private readonly pending: PendingSet[] = [];

  // Per-packet context, set before the record loop (fields rather than an object per packet).
  private exp: ExporterState | undefined;
  private dom: DomainState | undefined;
  private version = 0;
  private hdrMs = 0;
  private sysUptime = 0;
  private seq = 0;
  private receivedMs = 0;
  private sourceType = 0;
  // Per-record scratch.
  private readonly tm = new Float64Array(T_SLOTS);
  private tmask = 0;
  private samplerId = -1;
  private interval = -1;
  private space = -1;
  private selected = -1;
  private fwEvent = -1;
  private fwExtEvent = -1;
  // Exporter string code in the current batch (dictionaries are per batch).
  private codeBatch: FlowBatch | undefined;
  private codeExporter = '';
  private code = 0;

  private readonly onError: ((exporter: string, what: string) => void) | undefined;

  constructor(opts: DecoderOptions) {
    this.counters = opts.counters;
    this.onError = opts.onError;
    this.pendingLimit = Math.max(0, opts.pendingLimit ?? 256);
    this.perExporterPending = Math.max(1, Math.ceil(this.pendingLimit / 4));
  }

  /**
   * Decode one export packet (UDP payload) from `exporter` (IP address text, no port). Never throws
   * on bad input; counts it. Returns the number of flow rows written.
   */
  decode(payload: Uint8Array, exporter: string, receivedMs: number, sink: BatchSink): number {
    const exp = this.exporterState(exporter);
    this.counters.add(exporter, 'packets');
    this.counters.add(exporter, 'bytes_received', payload.length);
    this.exp = exp;
    this.receivedMs = receivedMs;
    this.releasedRows = 0;
    let rows = 0;
    try {
      if (payload.length < 4) {
        this.bad('datagram shorter than 4 bytes');
        return 0;
      }
      const version = (payload[0] << 8) | payload[1];
      this.version = version;
      if (version === V5) rows = this.decodeV5(payload, sink);
      else if (version === V9) rows = this.decodeV9(payload, sink);
      else if (version === IPFIX) rows = this.decodeIpfix(payload, sink);
      else this.count('unsupported');
    } catch (err) {
      // Only a bug (or a sink failure) gets here; a decoder must not take the collector down.
      this.bad(`internal error: ${(err as Error).message}`);
      if (!(err instanceof RangeError) && !(err instanceof TypeError)) throw err;
    }
    rows += this.releasedRows;
    if (rows > 0) this.counters.add(exporter, 'flows', rows);
    return rows;
  }

  /**
   * What must survive a restart so flows decode at once instead of after the next template refresh:
   * templates, sampler tables, interface and application names, system init times. Sequence
   * expectations and held data sets are left out (a restart is a resync). JSON-serialisable.
   */
  exportState(nowMs: number = Date.now()): DecoderState {
    const domains: DomainDump[] = [];
    for (const exp of this.exporters.values()) {
      for (const m of [exp.v5, exp.v9, exp.ipfix]) {
        for (const d of m.values()) {
          const dump: DomainDump = {
            exporter: exp.name,
            protocol: d.protocol,
            observationDomain: d.id,
            templates: [...d.templates.values()].map((t) => ({
              id: t.id,
              kind: t.kind,
              scopeCount: t.scopeCount,
              fields: Array.from(t.types, (type, i): [number, number, number] => [type, t.lens[i], t.pens[i]]),
              lastSeenMs: t.lastSeenMs,
            })),
            samplers: Object.fromEntries([...d.samplers].map(([k, v]) => [String(k), v])),
          };
          if (d.rate > 0) dump.samplingRate = d.rate;
          if (d.sysInitMs >= 0) dump.systemInitMs = d.sysInitMs;
          if (d.interfaces.size > 0)
            dump.interfaces = Object.fromEntries([...d.interfaces].map(([k, v]) => [String(k), { ...v }]));
          if (d.apps.size > 0)
            dump.applications = Object.fromEntries([...d.apps].map(([k, v]) => [appKeyText(k), { ...v }]));
          domains.push(dump);
        }
      }
    }
    return { version: DECODER_STATE_VERSION, savedAtMs: nowMs, domains };
  }

  /**
   * Restore what exportState() saved (normally before the first packet). What the decoder has
   * already learned from the wire is newer and is kept. Never throws: a malformed state is refused
   * whole, a malformed domain entry is skipped, and the reasons are returned for the log.
   */
  importState(state: unknown): ImportResult {
    const res: ImportResult = { domains: 0, templates: 0, errors: [] };
    const err = (m: string) => {
      if (res.errors.length < 20) res.errors.push(m);
      else if (res.errors.length === 20) res.errors.push('(further errors not listed)');
    };
    const checked = checkDecoderState(state);
    if ('error' in checked) {
      err(`decoder state refused: ${checked.error}`);
      return res;
    }
    for (const entry of checked.state.domains) {
      try {
        const d = parseDomainDump(entry);
        if (typeof d === 'string') {
          err(`decoder state entry skipped: ${d}`);
          continue;
        }
        if (res.templates + d.templates.length > MAX_TEMPLATES_TOTAL) {
          err(`decoder state entry skipped: more than ${MAX_TEMPLATES_TOTAL} templates in all`);
          continue;
        }
        this.restoreDomain(d, res);
      } catch (e) {
        err(`decoder state entry skipped: ${(e as Error).message}`);
      }
    }
    return res;
  }

  private restoreDomain(d: DomainDump, res: ImportResult): void {
    const version = d.protocol === 'netflow5' ? V5 : d.protocol === 'netflow9' ? V9 : IPFIX;
    const dom = this.domain(this.exporterState(d.exporter), version, d.observationDomain);
    if (dom === undefined) throw new Error(`exporter ${d.exporter}: more than ${MAX_DOMAINS_PER_EXPORTER} domains`);
    const ipfix = version === IPFIX;
    for (const t of d.templates) {
      if (dom.templates.has(t.id) || dom.templates.size >= MAX_TEMPLATES_PER_DOMAIN) continue;
      const types = t.fields.map((f) => f[0]);
      const lens = t.fields.map((f) => f[1]);
      const pens = t.fields.map((f) => f[2]);
      dom.templates.set(t.id, compileTemplate(t.id, t.kind, types, lens, pens, t.scopeCount, ipfix, t.lastSeenMs));
      res.templates++;
    }
    for (const [k, rate] of Object.entries(d.samplers))
      if (!dom.samplers.has(Number(k))) dom.samplers.set(Number(k), rate);
    if (dom.rate === 0 && d.samplingRate !== undefined) dom.rate = d.samplingRate;
    if (dom.sysInitMs < 0 && d.systemInitMs !== undefined) dom.sysInitMs = d.systemInitMs;
    for (const [k, v] of Object.entries(d.interfaces ?? {}))
      if (!dom.interfaces.has(Number(k))) learnInterface(dom, Number(k), v.name, v.description);
    for (const [k, v] of Object.entries(d.applications ?? {})) {
      const [engine, selector] = k.split(':').map(Number);
      const key = selector * 256 + engine;
      if (!dom.apps.has(key)) learnApplication(dom, key, v.name, v.description);
    }
    res.domains++;
  }

  /** Inventory for `flowwatch stats`. JSON-serialisable. */
  inventory(): ExporterInventory[] {
    const out: ExporterInventory[] = [];
    for (const exp of [...this.exporters.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      for (const m of [exp.v5, exp.v9, exp.ipfix]) {
        for (const d of [...m.values()].sort((a, b) => a.id - b.id)) {
          const inv: ExporterInventory = {
            exporter: exp.name,
            protocol: d.protocol,
            observationDomain: d.id,
            templates: [...d.templates.values()]
              .sort((a, b) => a.id - b.id)
              .map((t) => ({ id: t.id, kind: t.kind, fieldCount: t.fieldCount, lastSeenMs: t.lastSeenMs })),
            samplingRates: Object.fromEntries([...d.samplers].map(([k, v]) => [String(k), v])),
            pendingSets: d.pending,
          };
          if (d.rate > 0) inv.samplingRate = d.rate;
          if (d.sysInitMs >= 0) inv.systemInitMs = d.sysInitMs;
          if (d.interfaces.size > 0)
            inv.interfaces = Object.fromEntries(
              [...d.interfaces].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), { ...v }]),
            );
          if (d.apps.size > 0)
            inv.applications = Object.fromEntries(
              [...d.apps].sort((a, b) => a[0] - b[0]).map(([k, v]) => [appKeyText(k), { ...v }]),
            );
          out.push(inv);
        }
      }
    }
    return out;
  }

  // ---- NetFlow v5 (fixed 24-byte header, 48-byte records; Cisco "NetFlow Export Datagram Format")

  private decodeV5(buf: Uint8Array, sink: BatchSink): number {
    if (buf.length < 24)
      return this.malformed(`NetFlow v5 datagram of ${buf.length} bytes, shorter than its 24-byte header`);
    const count = (buf[2] << 8) | buf[3];
    if (count === 0 || count > 30 || buf.length < 24 + count * 48)
      return this.malformed(`NetFlow v5 header says ${count} records; the datagram has ${buf.length} bytes`);
    const sysUptime = u32(buf, 4);
    const unixSecs = u32(buf, 8);
    const unixNsecs = u32(buf, 12);
    const seq = u32(buf, 16);
    const engine = (buf[20] << 8) | buf[21];
    // Sampling: 2 bits mode, 14 bits interval; 0 means unsampled.
    const interval = ((buf[22] << 8) | buf[23]) & 0x3fff;
    const rate = interval === 0 ? 1 : interval;
    const dom = this.domain(this.exp as ExporterState, V5, engine);
    if (dom === undefined) return this.overLimit();
    dom.rate = rate;
    this.trackSequence(dom, seq, count);
    const hdrMs = unixSecs * 1000 + Math.floor(unixNsecs / 1e6);
    for (let i = 0; i < count; i++) {
      const p = 24 + i * 48;
      const b = sink.batch();
      const r = b.addRow();
      this.common(b, r, SRC_NETFLOW5, seq);
      b.setNum(C.sampling_rate, r, rate);
      b.setIPv4(C.src_addr, r, u32(buf, p));
      b.setIPv4(C.dst_addr, r, u32(buf, p + 4));
      b.setIPv4(C.next_hop, r, u32(buf, p + 8));
      b.setNum(C.in_if, r, (buf[p + 12] << 8) | buf[p + 13]);
      b.setNum(C.out_if, r, (buf[p + 14] << 8) | buf[p + 15]);
      b.setNum(C.packets, r, u32(buf, p + 16));
      b.setNum(C.bytes, r, u32(buf, p + 20));
      // First/Last are sysUptime ms; the int32 difference survives the 49.7-day uptime wrap.
      b.setNum(C.time_start, r, hdrMs - ((sysUptime - u32(buf, p + 24)) | 0));
      b.setNum(C.time_end, r, hdrMs - ((sysUptime - u32(buf, p + 28)) | 0));
      b.setNum(C.src_port, r, (buf[p + 32] << 8) | buf[p + 33]);
      b.setNum(C.dst_port, r, (buf[p + 34] << 8) | buf[p + 35]);
      b.setNum(C.tcp_flags, r, buf[p + 37]);
      const proto = buf[p + 38];
      b.setNum(C.proto, r, proto);
      b.setNum(C.tos, r, buf[p + 39]);
      b.setNum(C.src_asn, r, (buf[p + 40] << 8) | buf[p + 41]);
      b.setNum(C.dst_asn, r, (buf[p + 42] << 8) | buf[p + 43]);
      b.setNum(C.src_mask, r, buf[p + 44]);
      b.setNum(C.dst_mask, r, buf[p + 45]);
      b.setNum(C.ip_version, r, 4);
      if (proto === 1) {
        // v5 carries ICMP type/code in the destination port field (type * 256 + code).
        b.setNum(C.icmp_type, r, buf[p + 34]);
        b.setNum(C.icmp_code, r, buf[p + 35]);
      }
    }
    return count;
  }

  // ---- NetFlow v9 (RFC 3954 §5: 20-byte header, FlowSets 0 = template, 1 = options template)

  private decodeV9(buf: Uint8Array, sink: BatchSink): number {
    if (buf.length < 20)
      return this.malformed(`NetFlow v9 datagram of ${buf.length} bytes, shorter than its 20-byte header`);
    const exp = this.exp as ExporterState;
    this.sysUptime = u32(buf, 4);
    this.hdrMs = u32(buf, 8) * 1000;
    this.seq = u32(buf, 12);
    const dom = this.domain(exp, V9, u32(buf, 16));
    if (dom === undefined) return this.overLimit();
    this.dom = dom;
    this.sourceType = SRC_NETFLOW9;
    // RFC 3954 §5.1: the sequence number counts export packets per source id.
    this.trackSequence(dom, this.seq, 1);
    return this.walkSets(buf, 20, buf.length, sink, false);
  }

  // ---- IPFIX (RFC 7011 §3.1: 16-byte header, sets 2 = template, 3 = options template)

  private decodeIpfix(buf: Uint8Array, sink: BatchSink): number {
    if (buf.length < 16) return this.malformed(`IPFIX message of ${buf.length} bytes, shorter than its 16-byte header`);
    const length = (buf[2] << 8) | buf[3];
    // Over UDP one message is one datagram (RFC 7011 §10.3.1); a longer length field is a lie.
    if (length < 16 || length > buf.length)
      return this.malformed(`IPFIX header length ${length} with ${buf.length} bytes received`);
    const exp = this.exp as ExporterState;
    this.hdrMs = u32(buf, 4) * 1000;
    this.sysUptime = 0;
    this.seq = u32(buf, 8);
    const dom = this.domain(exp, IPFIX, u32(buf, 12));
    if (dom === undefined) return this.overLimit();
    this.dom = dom;
    this.sourceType = SRC_IPFIX;
    const pendingBefore = this.pending.length;
    const rows = this.walkSets(buf, 16, length, sink, true);
    // RFC 7011 §3.1: the sequence number counts data records per observation domain, so the next
    // one is known only once this message's records are counted (options records count too).
    if (this.pending.length !== pendingBefore)
      dom.expectedSeq = -1; // uncountable: resync
    else this.trackSequence(dom, this.seq, this.dataRecords);
    return rows;
  }

  private dataRecords = 0;
  /** Rows decoded from held sets during this decode() call. */
  private releasedRows = 0;

  /** Walk the sets of a v9/IPFIX packet; returns flow rows written. Sets `dataRecords`. */
  private walkSets(buf: Uint8Array, off: number, end: number, sink: BatchSink, ipfix: boolean): number {
    const dom = this.dom as DomainState;
    let rows = 0;
    let records = 0;
    const tplSet = ipfix ? 2 : 0;
    const optSet = ipfix ? 3 : 1;
    while (end - off >= 4) {
      const setId = (buf[off] << 8) | buf[off + 1];
      const setLen = (buf[off + 2] << 8) | buf[off + 3];
      if (setLen < 4 || off + setLen > end) {
        this.bad(`set ${setId}: length ${setLen} does not fit the ${end - off} bytes left`);
        break;
      }
      const body = off + 4;
      const setEnd = off + setLen;
      if (setId === tplSet) this.readTemplates(buf, body, setEnd, ipfix, sink);
      else if (setId === optSet) this.readOptionsTemplates(buf, body, setEnd, ipfix, sink);
      else if (setId >= 256) {
        const t = dom.templates.get(setId);
        if (t === undefined) this.hold(buf, body, setEnd, setId);
        else {
          const before = this.dataRecords;
          rows += this.readData(t, buf, body, setEnd, sink);
          records += this.dataRecords - before;
        }
      } // 2..255 in v9 / 4..255 in IPFIX: reserved, skipped (RFC 7011 §3.3.2)
      off = setEnd;
    }
    // v9 exporters pad the packet; IPFIX lengths are exact, so leftovers there are malformed.
    if (ipfix && off !== end) this.bad(`${end - off} bytes after the last set`);
    this.dataRecords = records;
    return rows;
  }

  private readTemplates(buf: Uint8Array, p: number, end: number, ipfix: boolean, sink: BatchSink): void {
    const dom = this.dom as DomainState;
    while (end - p >= 4) {
      const id = (buf[p] << 8) | buf[p + 1];
      const count = (buf[p + 2] << 8) | buf[p + 3];
      p += 4;
      if (count === 0) {
        // RFC 7011 §8.1: a template withdrawal; id 2 withdraws every data template of the domain.
        if (!ipfix) break; // v9: the rest is padding
        if (id === 2) {
          for (const [k, t] of dom.templates) if (t.kind === 'data') dom.templates.delete(k);
        } else dom.templates.delete(id);
        continue;
      }
      if (id < 256) {
        this.bad(`template id ${id} is below 256`);
        return;
      }
      const parsed = this.parseFields(buf, p, end, count, ipfix);
      if (parsed < 0) {
        this.bad(`template ${id}: ${count} fields run past the end of the set`);
        return;
      }
      p = parsed;
      this.learn(compileTemplate(id, 'data', this.fTypes, this.fLens, this.fPens, 0, ipfix, this.receivedMs), sink);
    }
  }

  private readOptionsTemplates(buf: Uint8Array, p: number, end: number, ipfix: boolean, sink: BatchSink): void {
    const dom = this.dom as DomainState;
    // v9 pads the set to 32 bits (RFC 3954 §6.1 "Padding"): fewer than 6 bytes left is padding.
    while (end - p >= 6) {
      const id = (buf[p] << 8) | buf[p + 1];
      let count: number;
      let scope: number;
      if (ipfix) {
        // RFC 7011 §3.4.2.2: template id, field count, scope field count.
        count = (buf[p + 2] << 8) | buf[p + 3];
        if (count === 0) {
          if (id === 3) {
            for (const [k, t] of dom.templates) if (t.kind === 'options') dom.templates.delete(k);
          } else dom.templates.delete(id);
          p += 4;
          continue;
        }
        scope = (buf[p + 4] << 8) | buf[p + 5];
        p += 6;
        if (scope === 0 || scope > count) {
          this.bad(`options template ${id}: scope count ${scope} with ${count} fields`);
          return;
        }
      } else {
        // RFC 3954 §6.1: template id, scope length, option length (bytes of type/length pairs).
        const scopeLen = (buf[p + 2] << 8) | buf[p + 3];
        const optLen = (buf[p + 4] << 8) | buf[p + 5];
        p += 6;
        if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || p + scopeLen + optLen > end) {
          this.bad(`options template ${id}: scope length ${scopeLen} / option length ${optLen} do not fit`);
          return;
        }
        scope = scopeLen / 4;
        count = scope + optLen / 4;
        if (count === 0) break;
      }
      if (id < 256) {
        this.bad(`options template id ${id} is below 256`);
        return;
      }
      const parsed = this.parseFields(buf, p, end, count, ipfix);
      if (parsed < 0) {
        this.bad(`options template ${id}: ${count} fields run past the end of the set`);
        return;
      }
      p = parsed;
      this.learn(
        compileTemplate(id, 'options', this.fTypes, this.fLens, this.fPens, scope, ipfix, this.receivedMs),
        sink,
      );
    }
  }

  private fTypes: number[] = [];
  private fLens: number[] = [];
  private fPens: number[] = [];

  /** Field specifiers into fTypes/fLens/fPens; returns the offset after them or -1. */
  private parseFields(buf: Uint8Array, p: number, end: number, count: number, ipfix: boolean): number {
    // Each specifier is at least 4 bytes: a count beyond the set is a lie, not a reason to loop.
    if (count * 4 > end - p) return -1;
    this.fTypes.length = 0;
    this.fLens.length = 0;
    this.fPens.length = 0;
    for (let i = 0; i < count; i++) {
      if (end - p < 4) return -1;
      let type = (buf[p] << 8) | buf[p + 1];
      const len = (buf[p + 2] << 8) | buf[p + 3];
      p += 4;
      let pen = 0;
      if (ipfix && type & 0x8000) {
        // RFC 7011 §3.2: enterprise bit set → a 4-byte Private Enterprise Number follows.
        if (end - p < 4) return -1;
        pen = u32(buf, p);
        p += 4;
        type &= 0x7fff;
      }
      if (!ipfix && len === VARLEN) return -1;
      this.fTypes.push(type);
      this.fLens.push(len);
      this.fPens.push(pen);
    }
    return p;
  }

  private learn(t: Template, sink: BatchSink): void {
    const dom = this.dom as DomainState;
    if (dom.templates.size >= MAX_TEMPLATES_PER_DOMAIN && !dom.templates.has(t.id)) {
      this.count('unsupported');
      return;
    }
    dom.templates.set(t.id, t);
    this.count('templates');
    if (dom.pending > 0) this.release(dom, t.id, sink);
  }

  /** Decode the records of one data set; returns flow rows written. */
  private readData(t: Template, buf: Uint8Array, p: number, end: number, sink: BatchSink): number {
    t.lastSeenMs = this.receivedMs;
    // A record of no bytes would never advance: the template is useless (RFC 7011 §3.4.1 forbids it).
    if (t.minLen === 0) {
      this.bad(`template ${t.id}: records of zero bytes`);
      return 0;
    }
    if (t.kind === 'options') return this.readOptionsData(t, buf, p, end);
    let rows = 0;
    const { ops, cols, lens } = t;
    const n = t.fieldCount;
    const dom = this.dom as DomainState;
    // Padding at the end of a set is shorter than the smallest record (RFC 7011 §3.3.1).
    while (end - p >= t.minLen) {
      const b = sink.batch();
      const r = b.addRow();
      const data = b.data;
      const valid = b.valid;
      this.tmask = 0;
      this.samplerId = -1;
      this.interval = -1;
      this.space = -1;
      this.selected = -1;
      this.fwEvent = -1;
      this.fwExtEvent = -1;
      let biflow = false;
      let ok = true;
      for (let i = 0; i < n; i++) {
        let len = lens[i];
        if (len === VARLEN) {
          // RFC 7011 §7: 1-byte length, or 255 followed by a 2-byte length.
          if (p >= end) {
            ok = false;
            break;
          }
          len = buf[p++];
          if (len === 255) {
            if (end - p < 2) {
              ok = false;
              break;
            }
            len = (buf[p] << 8) | buf[p + 1];
            p += 2;
          }
        }
        if (end - p < len) {
          ok = false;
          break;
        }
        const op = ops[i];
        if (op !== OP_SKIP) {
          const col = cols[i];
          switch (op) {
            case OP_NUM:
              data[col][r] = readUint(buf, p, len);
              valid[col][r] = 1;
              break;
            case OP_NUM_FALLBACK:
              if (valid[col][r] === 0) {
                data[col][r] = readUint(buf, p, len);
                valid[col][r] = 1;
              }
              break;
            case OP_REV_NUM:
              data[col][r] = readUint(buf, p, len);
              valid[col][r] = 1;
              biflow = true;
              break;
            case OP_V4:
              // Templates that carry both IPv4 and IPv6 addresses leave the unused family zero
              // (Cisco, Juniper): a zero address never replaces one already read.
              if (valid[col][r] !== 0 && u32(buf, p) === 0) break;
              b.setIPv4(col, r, u32(buf, p));
              if (col === C.src_addr) {
                data[C.ip_version][r] = 4;
                valid[C.ip_version][r] = 1;
              }
              break;
            case OP_V6:
              if (valid[col][r] !== 0 && isZero16(buf, p)) break;
              b.setIPv6(col, r, buf, p);
              if (col === C.src_addr) {
                data[C.ip_version][r] = 6;
                valid[C.ip_version][r] = 1;
              }
              break;
            case OP_V4_FALLBACK:
              if (valid[col][r] === 0) b.setIPv4(col, r, u32(buf, p));
              break;
            case OP_V6_FALLBACK:
              if (valid[col][r] === 0) b.setIPv6(col, r, buf, p);
              break;
            case OP_MAC:
              data[col][r] = readUint(buf, p, 6);
              valid[col][r] = 1;
              break;
            case OP_MAC_FALLBACK:
              if (valid[col][r] === 0) {
                data[col][r] = readUint(buf, p, 6);
                valid[col][r] = 1;
              }
              break;
            case OP_ICMP_TYPECODE:
              data[C.icmp_type][r] = buf[p];
              valid[C.icmp_type][r] = 1;
              data[C.icmp_code][r] = buf[p + 1];
              valid[C.icmp_code][r] = 1;
              break;
            case OP_TIME_SEC:
              this.tm[col] = readUint(buf, p, len) * 1000;
              this.tmask |= 1 << col;
              break;
            case OP_TIME_MS:
              this.tm[col] = readUint(buf, p, len);
              this.tmask |= 1 << col;
              break;
            case OP_TIME_NTP:
              this.tm[col] = (u32(buf, p) - NTP_UNIX_OFFSET) * 1000 + Math.floor((u32(buf, p + 4) * 1000) / TWO32);
              this.tmask |= 1 << col;
              break;
            case OP_TIME_RAW:
              this.tm[col] = readUint(buf, p, len);
              this.tmask |= 1 << col;
              break;
            case OP_SAMPLER_ID:
              this.samplerId = readUint(buf, p, len);
              break;
            case OP_SAMPLING_INTERVAL:
              this.interval = readUint(buf, p, len);
              break;
            case OP_SAMPLING_SPACE:
              this.space = readUint(buf, p, len);
              break;
            case OP_PKT_SELECTED:
              this.selected = readUint(buf, p, len);
              break;
            case OP_STRING:
              // An empty (or NUL-led) string says nothing: it must not hide an applicationId label.
              if (len > 0 && buf[p] !== 0) b.setString(col, r, utf8(buf, p, len));
              break;
            case OP_APP_ID:
              // applicationName (IE 96) in the same record wins over the id's label.
              if (valid[col][r] === 0 && buf[p] !== 0) b.setString(col, r, appLabel(dom, buf, p, len));
              break;
            case OP_END_REASON: {
              const v = readUint(buf, p, len);
              if (v >= 1 && v <= 5) {
                data[C.end_reason][r] = v; // END_REASONS lists RFC 5102 values 1..5 in order
                valid[C.end_reason][r] = 1;
              }
              break;
            }
            case OP_FW_EVENT:
              this.fwEvent = readUint(buf, p, len);
              break;
            case OP_FW_EXT_EVENT:
              this.fwExtEvent = readUint(buf, p, len);
              break;
          }
        }
        p += len;
      }
      if (!ok) {
        b.dropLastRow();
        this.bad(`template ${t.id}: record ends before its fields do`);
        break;
      }
      this.finishRow(b, r, dom, biflow);
      rows++;
    }
    this.dataRecords += rows;
    return rows;
  }

  /** Columns every v9/IPFIX row gets once its fields are read: origin, times, sampling, verdict. */
  private finishRow(b: FlowBatch, r: number, dom: DomainState, biflow: boolean): void {
    this.common(b, r, this.sourceType, this.seq);
    b.setNum(C.observation_domain, r, dom.id);
    const m = this.tmask;
    const tm = this.tm;
    const hdrMs = this.hdrMs;
    const ipfix = this.sourceType === SRC_IPFIX;
    const init = m & (1 << T_SYS_INIT) ? tm[T_SYS_INIT] : dom.sysInitMs;
    let start = hdrMs;
    let endMs = hdrMs;
    if (m & (1 << T_ABS_START)) start = tm[T_ABS_START];
    else if (m & (1 << T_UP_START)) start = this.uptimeToMs(tm[T_UP_START], ipfix, init);
    else if (m & (1 << T_DELTA_START)) start = hdrMs - Math.floor(tm[T_DELTA_START] / 1000);
    if (m & (1 << T_ABS_END)) endMs = tm[T_ABS_END];
    else if (m & (1 << T_UP_END)) endMs = this.uptimeToMs(tm[T_UP_END], ipfix, init);
    else if (m & (1 << T_DELTA_END)) endMs = hdrMs - Math.floor(tm[T_DELTA_END] / 1000);
    b.setNum(C.time_start, r, start);
    b.setNum(C.time_end, r, endMs);
    // Sampling: a rate in the record itself wins, then the record's sampler, then the domain's.
    let rate = samplingRate(this.interval, this.selected, this.space, -1, -1);
    if (rate === 0 && this.samplerId >= 0) {
      const s = dom.samplers.get(this.samplerId);
      if (s !== undefined) rate = s;
    }
    if (rate === 0 && dom.rate > 0) rate = dom.rate;
    if (rate > 0) b.setNum(C.sampling_rate, r, rate);
    if (biflow) b.setNum(C.biflow, r, 1);
    this.firewallVerdict(b, r);
  }

  /**
   * firewallEvent (IE 233 = Cisco ASA NSEL NF_F_FW_EVENT; also PAN-OS, Barracuda, FortiOS):
   * 1 "Flow created" → accept/start, 2 "Flow deleted" (teardown) → accept/end, 3 "Flow denied" →
   * reject, 5 "Flow update" → accept/continue; 0 "ignore" and 4 "Flow alert" say nothing. When the
   * event is 0 or absent, NF_F_FW_EXT_EVENT (33002) still tells: 1001-1999 are the reasons a flow
   * was denied (1001 ingress ACL, 1002 egress ACL, 1003 to-the-box, 1004 first packet not SYN),
   * 2000 and above the reasons a flow was deleted (Cisco "NetFlow Secure Event Logging" guide).
   */
  private firewallVerdict(b: FlowBatch, r: number): void {
    let ev = this.fwEvent;
    const ext = this.fwExtEvent;
    if (ev <= 0 && ext > 0) ev = ext >= 2000 ? 2 : ext > 1000 ? 3 : -1;
    if (ev === 1) {
      b.setNum(C.action, r, ACTION_ACCEPT);
      b.setNum(C.flow_state, r, STATE_START);
    } else if (ev === 2) {
      b.setNum(C.action, r, ACTION_ACCEPT);
      b.setNum(C.flow_state, r, STATE_END);
    } else if (ev === 3) b.setNum(C.action, r, ACTION_REJECT);
    else if (ev === 5) {
      b.setNum(C.action, r, ACTION_ACCEPT);
      b.setNum(C.flow_state, r, STATE_CONTINUE);
    }
  }

  private uptimeToMs(v: number, ipfix: boolean, init: number): number {
    // v9: relative to the header's sysUptime (RFC 3954 §8 FIRST_SWITCHED); int32 survives the wrap.
    if (!ipfix) return this.hdrMs - ((this.sysUptime - v) | 0);
    // IPFIX flowStartSysUpTime counts from systemInitTimeMilliseconds (RFC 5102 §5.11.6).
    return init >= 0 ? init + v : this.hdrMs;
  }

  private common(b: FlowBatch, r: number, sourceType: number, seq: number): void {
    b.setNum(C.time_received, r, this.receivedMs);
    b.setNum(C.source_type, r, sourceType);
    b.setNum(C.sequence, r, seq);
    const name = (this.exp as ExporterState).name;
    const dict = b.strings[C.exporter] as StringDict;
    // Dictionaries are per batch and cleared on reset: re-check the cached code cheaply.
    if (this.codeBatch !== b || this.codeExporter !== name || dict.values[this.code] !== name) {
      this.code = dict.code(name);
      this.codeBatch = b;
      this.codeExporter = name;
    }
    (b.data[C.exporter] as Uint32Array)[r] = this.code;
    b.valid[C.exporter][r] = 1;
  }

  /**
   * Options data (RFC 3954 §6.2, RFC 7011 §3.4.2): sampler rates, system init time, interface names
   * (IE 82/83 per ifIndex) and application names (IE 95 + 96/94, RFC 6759 §5) for the domain.
   */
  private readOptionsData(t: Template, buf: Uint8Array, p: number, end: number): number {
    const dom = this.dom as DomainState;
    const { ops, lens, cols } = t;
    const n = t.fieldCount;
    while (end - p >= t.minLen) {
      let ifIndex = -1;
      let outIf = -1;
      let scopeIf = -1;
      let ifName: string | undefined;
      let ifDesc: string | undefined;
      let appKey = -1;
      let appName: string | undefined;
      let appDesc: string | undefined;
      let samplerId = -1;
      let interval = -1;
      let selected = -1;
      let space = -1;
      let size = -1;
      let population = -1;
      let init = -1;
      for (let i = 0; i < n; i++) {
        let len = lens[i];
        if (len === VARLEN) {
          if (p >= end) return this.malformed('options record: variable-length field past the end');
          len = buf[p++];
          if (len === 255) {
            if (end - p < 2) return this.malformed('options record: variable-length field past the end');
            len = (buf[p] << 8) | buf[p + 1];
            p += 2;
          }
        }
        if (end - p < len) return this.malformed(`options record: a ${len}-byte field past the end`);
        const op = ops[i];
        if (op === OP_SAMPLER_ID) samplerId = readUint(buf, p, len);
        else if (op === OP_SAMPLING_INTERVAL) interval = readUint(buf, p, len);
        else if (op === OP_SAMPLING_SPACE) space = readUint(buf, p, len);
        else if (op === OP_PKT_SELECTED) selected = readUint(buf, p, len);
        else if (op === OP_SAMPLING_SIZE) size = readUint(buf, p, len);
        else if (op === OP_SAMPLING_POPULATION) population = readUint(buf, p, len);
        else if (op === OP_TIME_RAW && cols[i] === T_SYS_INIT) init = readUint(buf, p, len);
        else if (op === OP_NUM && len <= 4 && cols[i] === C.in_if) ifIndex = readUint(buf, p, len);
        else if (op === OP_NUM && len <= 4 && cols[i] === C.out_if) outIf = readUint(buf, p, len);
        else if (op === OP_SCOPE_IF && len <= 4) scopeIf = readUint(buf, p, len);
        else if (op === OP_IF_NAME) ifName = text(buf, p, len);
        else if (op === OP_IF_DESC) ifDesc = text(buf, p, len);
        else if (op === OP_APP_ID && buf[p] !== 0) appKey = appKeyOf(buf, p, len);
        else if (op === OP_STRING && cols[i] === C.app) appName = text(buf, p, len);
        else if (op === OP_APP_DESC) appDesc = text(buf, p, len);
        p += len;
      }
      if (ifName !== undefined || ifDesc !== undefined) {
        const k = ifIndex >= 0 ? ifIndex : outIf >= 0 ? outIf : scopeIf;
        if (k >= 0) learnInterface(dom, k, ifName, ifDesc);
      }
      if (appKey >= 0 && appName !== undefined) learnApplication(dom, appKey, appName, appDesc);
      this.count('options_records');
      this.dataRecords++;
      const rate = samplingRate(interval, selected, space, size, population);
      if (rate > 0) {
        if (samplerId >= 0) dom.samplers.set(samplerId, rate);
        else dom.rate = rate;
      }
      if (init >= 0) dom.sysInitMs = init;
    }
    return 0;
  }

  // ---- data that arrives before its template (RFC 7011 §8: templates may come later over UDP)

  private hold(buf: Uint8Array, p: number, end: number, templateId: number): void {
    const exp = this.exp as ExporterState;
    const dom = this.dom as DomainState;
    if (this.pendingLimit === 0) {
      this.count('template_missing');
      return;
    }
    if (exp.pending >= this.perExporterPending) this.evict(exp);
    else if (this.pending.length >= this.pendingLimit) this.evict(undefined);
    this.pending.push({
      exp,
      dom,
      version: this.version,
      templateId,
      body: buf.slice(p, end),
      hdrMs: this.hdrMs,
      sysUptime: this.sysUptime,
      seq: this.seq,
      receivedMs: this.receivedMs,
    });
    exp.pending++;
    dom.pending++;
    this.count('template_pending');
  }

  /** Drop the oldest held set (of `exp` when given) and count it as template_missing. */
  private evict(exp: ExporterState | undefined): void {
    const i = exp === undefined ? 0 : this.pending.findIndex((s) => s.exp === exp);
    if (i < 0) return;
    const [s] = this.pending.splice(i, 1);
    s.exp.pending--;
    s.dom.pending--;
    this.counters.add(s.exp.name, 'template_missing');
  }

  /** Decode the held sets a newly learned template opens, with the context of their own packet. */
  private release(dom: DomainState, templateId: number, sink: BatchSink): void {
    const saved = [this.hdrMs, this.sysUptime, this.seq, this.receivedMs, this.version] as const;
    const savedRecords = this.dataRecords;
    const t = dom.templates.get(templateId) as Template;
    for (let i = 0; i < this.pending.length; ) {
      const s = this.pending[i];
      if (s.dom !== dom || s.templateId !== templateId) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      s.exp.pending--;
      dom.pending--;
      this.hdrMs = s.hdrMs;
      this.sysUptime = s.sysUptime;
      this.seq = s.seq;
      this.receivedMs = s.receivedMs;
      this.version = s.version;
      this.releasedRows += this.readData(t, s.body, 0, s.body.length, sink);
    }
    [this.hdrMs, this.sysUptime, this.seq, this.receivedMs, this.version] = saved;
    this.dataRecords = savedRecords;
  }

  // ---- sequence numbers → loss

  /**
   * `seq` is this packet's sequence number, `n` what it accounts for (v5: flows, v9: 1 packet,
   * IPFIX: data records). A gap counts as loss; a packet from the past (reordering) gives back
   * what its gap had counted; a jump far backwards or forwards is an exporter restart.
   *
   * A packet whose sequence number was corrupted (or that belongs to another stream) opens a gap
   * that the packet after it contradicts: it carries the number the stream would have reached had
   * the jump not happened. That gap is then taken back whole and counting continues from there. A
   * late (reordered) packet cannot match: it starts where the gap began, before the jumping
   * packet's own records.
   */
  private trackSequence(dom: DomainState, seq: number, n: number): void {
    if (dom.expectedSeq >= 0) {
      const gap = (seq - dom.expectedSeq) >>> 0;
      if (gap === 0) {
        dom.jumpFrom = -1;
      } else if (gap < SEQ_RESET_GAP) {
        this.count('sequence_lost', gap);
        dom.lostOutstanding += gap;
        // where the stream would continue had this packet carried the number expected
        dom.jumpFrom = (dom.expectedSeq + n) >>> 0;
        dom.jumpGap = gap;
      } else if (seq === dom.jumpFrom) {
        const back = Math.min(dom.jumpGap, dom.lostOutstanding);
        this.count('sequence_lost', -back);
        dom.lostOutstanding -= back;
        dom.jumpFrom = -1;
      } else if (gap > 0xffffffff - SEQ_RESET_GAP) {
        // Late packet: it was counted lost when the gap opened.
        const back = Math.min(n, dom.lostOutstanding);
        if (back > 0) {
          this.count('sequence_lost', -back);
          dom.lostOutstanding -= back;
        }
        return; // keep expecting what follows the newest packet
      }
    }
    dom.expectedSeq = (seq + n) >>> 0;
  }

  // ---- state and counters

  private exporterState(name: string): ExporterState {
    let e = this.exporters.get(name);
    if (e === undefined) {
      e = { name, v5: new Map(), v9: new Map(), ipfix: new Map(), pending: 0 };
      this.exporters.set(name, e);
    }
    return e;
  }

  /** The domain's state; undefined when the exporter already has as many domains as it may. */
  private domain(exp: ExporterState, version: number, id: number): DomainState | undefined {
    const m = version === V5 ? exp.v5 : version === V9 ? exp.v9 : exp.ipfix;
    let d = m.get(id);
    if (d === undefined) {
      // Every packet may name a new source id / observation domain: without a cap one exporter
      // (or a spoofed source) grows the state without bound.
      if (m.size >= MAX_DOMAINS_PER_EXPORTER) return undefined;
      d = {
        protocol: version === V5 ? 'netflow5' : version === V9 ? 'netflow9' : 'ipfix',
        id,
        templates: new Map(),
        samplers: new Map(),
        interfaces: new Map(),
        apps: new Map(),
        appLabels: new Map(),
        rate: 0,
        sysInitMs: -1,
        expectedSeq: -1,
        lostOutstanding: 0,
        jumpFrom: -1,
        jumpGap: 0,
        pending: 0,
      };
      m.set(id, d);
    }
    return d;
  }

  private count(name: CounterName, n = 1): void {
    this.counters.add((this.exp as ExporterState).name, name, n);
  }

  /** A packet of a domain beyond the per-exporter cap: valid, but not decoded. */
  private overLimit(): number {
    this.count('unsupported');
    return 0;
  }

  private malformed(what: string): number {
    this.bad(what);
    return 0;
  }

  /** Count a malformed record or packet and say what was wrong (the caller rate-limits the log). */
  private bad(what: string): void {
    this.count('malformed');
    this.onError?.((this.exp as ExporterState).name, what);
  }
}

/**
 * True when `payload` looks like a NetFlow v5/v9 or IPFIX export packet: the version, the header
 * and the first set or the record count agree with the length. Used to recognise export packets
 * on any UDP port.
 */
export function looksLikeFlowExport(payload: Uint8Array): boolean {
  const n = payload.length;
  if (n < 4) return false;
  const version = (payload[0] << 8) | payload[1];
  if (version === V5) {
    const count = (payload[2] << 8) | payload[3];
    return count >= 1 && count <= 30 && n >= 24 + count * 48;
  }
  if (version === V9) {
    if (n < 24) return false;
    return firstSetOk(payload, 20, n, 0, 1);
  }
  if (version === IPFIX) {
    const length = (payload[2] << 8) | payload[3];
    if (n < 20 || length !== n) return false;
    return firstSetOk(payload, 16, n, 2, 3);
  }
  return false;
}

function firstSetOk(buf: Uint8Array, off: number, end: number, tpl: number, opt: number): boolean {
  const id = (buf[off] << 8) | buf[off + 1];
  const len = (buf[off + 2] << 8) | buf[off + 3];
  return (id === tpl || id === opt || id >= 256) && len >= 4 && off + len <= end;
}

/**
 * 1-in-N rate from what an exporter says about its sampler; 0 when it says nothing usable.
 * n-out-of-N (RFC 5477 §8.2.4-5) wins, then count-based selected/space (§8.2.2-3), then the
 * NetFlow v9 / IPFIX interval (IE 34 / 50). An interval of 0 means unsampled: rate 1.
 */
function samplingRate(interval: number, selected: number, space: number, size: number, population: number): number {
  if (size > 0 && population > 0) return population / size;
  if (selected > 0 && space >= 0) return (selected + space) / selected;
  if (interval >= 0) return interval === 0 ? 1 : interval;
  return 0;
}

// ---- byte readers (network order)

function u32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Unsigned integer of 1..8 bytes (RFC 7011 §6.2 reduced-size encoding); exact up to 2^53. */
function readUint(buf: Uint8Array, p: number, len: number): number {
  switch (len) {
    case 1:
      return buf[p];
    case 2:
      return (buf[p] << 8) | buf[p + 1];
    case 4:
      return u32(buf, p);
    case 8:
      return u32(buf, p) * TWO32 + u32(buf, p + 4);
    default: {
      let v = 0;
      const n = Math.min(len, 8);
      for (let i = 0; i < n; i++) v = v * 256 + buf[p + i];
      return v;
    }
  }
}

function isZero16(buf: Uint8Array, p: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[p + i] !== 0) return false;
  return true;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

function utf8(buf: Uint8Array, p: number, len: number): string {
  // Strings are NUL-padded to their fixed length (Cisco NBAR, PAN-OS, nProbe) and read as C strings
  // up to the first NUL, as tshark does (what follows is stray bytes, not text).
  const end = p + len;
  let e = p;
  while (e < end && buf[e] !== 0) e++;
  return textDecoder.decode(buf.subarray(p, e));
}

/** Options-data text: a C string, bounded (names are shown, never trusted to be short). */
function text(buf: Uint8Array, p: number, len: number): string {
  const s = utf8(buf, p, Math.min(len, MAX_TEXT * 4));
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

/** RFC 6759 §4 applicationId: 1-byte classification engine id, then the selector id. */
function appKeyOf(buf: Uint8Array, p: number, len: number): number {
  return readUint(buf, p + 1, Math.min(len - 1, 5)) * 256 + buf[p];
}

export function appKeyText(key: number): string {
  return `${key % 256}:${Math.floor(key / 256)}`;
}

/** The `app` text of an applicationId: its name from options data, else "engine:selector". */
function appLabel(dom: DomainState, buf: Uint8Array, p: number, len: number): string {
  const key = appKeyOf(buf, p, len);
  const a = dom.apps.get(key);
  if (a !== undefined) return a.name;
  let l = dom.appLabels.get(key);
  if (l === undefined) {
    l = appKeyText(key);
    if (dom.appLabels.size < MAX_APP_LABELS) dom.appLabels.set(key, l);
  }
  return l;
}

function learnInterface(dom: DomainState, ifIndex: number, name: string | undefined, desc: string | undefined): void {
  let i = dom.interfaces.get(ifIndex);
  if (i === undefined) {
    // A hostile exporter must not grow the table without bound; known ifIndexes still update.
    if (dom.interfaces.size >= MAX_INTERFACES) return;
    i = {};
    dom.interfaces.set(ifIndex, i);
  }
  if (name) i.name = name;
  if (desc) i.description = desc;
}

function learnApplication(dom: DomainState, key: number, name: string, desc: string | undefined): void {
  if (name === '') return;
  if (!dom.apps.has(key) && dom.apps.size >= MAX_APPLICATIONS) return;
  dom.apps.set(key, desc ? { name, description: desc } : { name });
}
