// The question-answering core shared by the CLI, the HTTP API and (later) the UI: a request in the
// user's terms (filter text, field names, times) → filter compiled to SQL → the store's planner.
// FilterErrors pass through untouched so every front end can show the column of the problem.

import { communityId } from '../enrich/community-id.js';
import { serviceName } from '../enrich/services.js';
import { compileSql, filterFields, parseFilter } from '../filter/index.js';
import { findColumn } from '../schema/columns.js';
import type { IdsAlert } from '../store/ids-alert.js';
import type { FlowRow, FlowStore } from '../store/store.js';

export type Row = Record<string, unknown>;
export type Order = 'flows' | 'packets' | 'bytes';

export interface FlowsRequest {
  filter?: string;
  since?: number;
  until?: number;
  fields?: string[];
  limit?: number;
  orderBy?: 'time_start' | 'bytes' | 'packets';
  desc?: boolean;
}

export interface TopRequest {
  filter?: string;
  since?: number;
  until?: number;
  by: string[];
  order: Order;
  limit: number;
}

export interface TimeseriesRequest {
  filter?: string;
  since?: number;
  until?: number;
  intervalMs: number;
  by?: string;
}

export interface QueryResult {
  rows: Row[];
  /** The table that answered (flows or a rollup). */
  table?: string;
  /**
   * What was lost before the store over the minutes the answer covers, by reason (summed over
   * exporters); absent when nothing was. Units are the counters': sequence_lost in records the
   * exporters numbered (v9: export packets), kernel/queue drops in datagrams.
   */
  losses?: Record<string, number>;
}

const DERIVED = new Set(['community_id', 'src_service', 'dst_service']);
const TUPLE = ['src_addr', 'dst_addr', 'proto', 'src_port', 'dst_port', 'icmp_type', 'icmp_code'];

/** Community ID and service names from the row's 5-tuple, where the store holds none. */
function fillDerived(r: Row, seed: number): void {
  const proto = r.proto as number | null;
  if (typeof proto !== 'number') return;
  const sp = r.src_port as number | null;
  const dp = r.dst_port as number | null;
  const icmp = proto === 1 || proto === 58;
  const needsPorts = proto === 6 || proto === 17 || proto === 132;
  const tupleOk = !needsPorts || (typeof sp === 'number' && typeof dp === 'number');
  if (r.community_id == null && tupleOk && typeof r.src_addr === 'string' && typeof r.dst_addr === 'string') {
    const a = icmp ? ((r.icmp_type as number | null) ?? (typeof dp === 'number' ? dp >> 8 : null)) : sp;
    const b = icmp ? ((r.icmp_code as number | null) ?? (typeof dp === 'number' ? dp & 255 : 0)) : dp;
    const id = communityId(r.src_addr, r.dst_addr, proto, a ?? 0, b ?? 0, seed);
    if (id) r.community_id = id;
  }
  if (r.src_service == null && typeof sp === 'number') r.src_service = serviceName(proto, sp) ?? null;
  if (r.dst_service == null && typeof dp === 'number') r.dst_service = serviceName(proto, dp) ?? null;
}

/** Counters that are losses, not throughput. */
const LOSS_COUNTERS = new Set([
  'kernel_drops',
  'queue_drops',
  'sequence_lost',
  'template_missing',
  'malformed',
  'unsupported',
  'store_errors',
  'agent_drops',
]);

export function summariseLosses(coverage: Record<string, Record<string, number>>): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const m of Object.values(coverage))
    for (const [k, v] of Object.entries(m)) if (LOSS_COUNTERS.has(k) && v > 0) out[k] = (out[k] ?? 0) + v;
  return Object.keys(out).length ? out : undefined;
}

function alertRow(a: IdsAlert): FlowRow {
  return {
    time: a.time,
    signature_id: a.signatureId,
    signature: a.signature,
    category: a.category,
    severity: a.severity,
    action: a.action,
    src_addr: a.srcAddr,
    src_port: a.srcPort,
    dst_addr: a.dstAddr,
    dst_port: a.dstPort,
    proto: a.proto,
    app_proto: a.appProto,
    community_id: a.communityId,
    flow_id: a.flowId,
    sensor: a.sensor,
  };
}

/** What the CLI talks to: the store in this process, or a running server over HTTP. */
export interface QueryTarget {
  flows(req: FlowsRequest): Promise<QueryResult>;
  top(req: TopRequest): Promise<QueryResult>;
  timeseries(req: TimeseriesRequest): Promise<QueryResult>;
  stats(): Promise<Record<string, unknown>>;
  /** sFlow interface utilisation over a range (from counter samples). */
  interfaces(req: InterfacesRequest): Promise<QueryResult>;
  /** IDS alerts (Suricata) over a range, optionally with the flows of their connection. */
  idsAlerts(req: IdsAlertsRequest): Promise<QueryResult>;
  close(): Promise<void>;
}

export interface IdsAlertsRequest {
  since?: number;
  until?: number;
  limit?: number;
  withFlows?: boolean;
}

export interface InterfacesRequest {
  since?: number;
  until?: number;
  agent?: string;
}

export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

export function checkFields(fields: readonly string[], what: string): void {
  for (const f of fields) if (!findColumn(f)) throw new QueryError(`${what}: unknown field "${f}"`);
}

function compile(filter: string | undefined) {
  const text = filter?.trim() ?? '';
  if (!text) return { where: undefined, used: [] as string[] };
  const expr = parseFilter(text);
  return { where: compileSql(expr), used: filterFields(expr) };
}

/** Answers requests from a FlowStore in this process. */
export class LocalQueryTarget implements QueryTarget {
  constructor(
    private readonly store: FlowStore,
    private readonly extraStats: () => Record<string, unknown> = () => ({}),
    private readonly owned = true,
    private readonly communityIdSeed = 0,
  ) {}

  async flows(req: FlowsRequest): Promise<QueryResult> {
    if (req.fields) checkFields(req.fields, '--fields');
    const { where } = compile(req.filter);
    // Fields derived from the 5-tuple are computed here when the store does not hold them.
    const derived = req.fields ? req.fields.filter((f) => DERIVED.has(f)) : [...DERIVED];
    const fetch = req.fields && derived.length ? [...new Set([...req.fields, ...TUPLE])] : req.fields;
    const rows = await this.store.queryFlows({
      where,
      since: req.since,
      until: req.until,
      fields: fetch,
      limit: req.limit ?? 20,
      orderBy: req.orderBy,
      desc: req.desc,
    });
    if (derived.length) for (const r of rows) fillDerived(r, this.communityIdSeed);
    if (fetch !== req.fields && req.fields) {
      const keep = new Set(req.fields);
      for (const r of rows) for (const k of Object.keys(r)) if (!keep.has(k)) delete r[k];
    }
    return { rows, table: 'flows', losses: await this.losses(req) };
  }

  async top(req: TopRequest): Promise<QueryResult> {
    checkFields(req.by, '--by');
    const { where, used } = compile(req.filter);
    const r = await this.store.top({
      where,
      fieldsUsed: used,
      since: req.since,
      until: req.until,
      by: req.by,
      order: req.order,
      limit: req.limit,
    });
    return { rows: r.rows, table: r.table, losses: await this.losses(req) };
  }

  private async losses(range: { since?: number; until?: number }): Promise<Record<string, number> | undefined> {
    return summariseLosses(await this.store.coverage({ since: range.since, until: range.until }));
  }

  async timeseries(req: TimeseriesRequest): Promise<QueryResult> {
    if (req.by) checkFields([req.by], '--by');
    const { where, used } = compile(req.filter);
    const r = await this.store.timeseries({
      where,
      fieldsUsed: used,
      since: req.since,
      until: req.until,
      intervalMs: req.intervalMs,
      by: req.by,
    });
    return { rows: r.rows, table: r.table, losses: await this.losses(req) };
  }

  async interfaces(req: InterfacesRequest): Promise<QueryResult> {
    return { rows: await this.store.interfaceUtilisation(req), table: 'interface_counters' };
  }

  async idsAlerts(req: IdsAlertsRequest): Promise<QueryResult> {
    const limit = req.limit ?? 100;
    if (!req.withFlows) {
      const alerts = await this.store.idsAlerts({ ...req, limit });
      return { rows: alerts.map((a) => alertRow(a)), table: 'ids_alerts' };
    }
    const pairs = await this.store.idsAlertsWithFlows({ ...req, limit });
    return {
      rows: pairs.map(({ alert, flow }) => ({
        ...alertRow(alert),
        flow_start: flow.timeStart,
        flow_exporter: flow.exporter,
        flow_bytes: flow.bytes,
        flow_packets: flow.packets,
        flow_rev_bytes: flow.revBytes,
        flow_rev_packets: flow.revPackets,
      })),
      table: 'ids_alerts+flows',
    };
  }

  async stats(): Promise<Record<string, unknown>> {
    const exporters = await this.store.exporterStates();
    return { store: await this.store.stats(), exporters, ...this.extraStats() };
  }

  async close(): Promise<void> {
    if (this.owned) await this.store.close();
  }
}

/** Answers requests by asking a running `flowwatch serve` (which owns the store). */
export class RemoteQueryTarget implements QueryTarget {
  constructor(private readonly base: string) {}

  private async call(path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as { error?: string };
    if (!res.ok) throw new QueryError(json.error ?? `server answered ${res.status}`);
    return json;
  }
  flows(req: FlowsRequest): Promise<QueryResult> {
    return this.call('/api/v1/flows', req) as Promise<QueryResult>;
  }
  top(req: TopRequest): Promise<QueryResult> {
    return this.call('/api/v1/top', req) as Promise<QueryResult>;
  }
  timeseries(req: TimeseriesRequest): Promise<QueryResult> {
    return this.call('/api/v1/timeseries', req) as Promise<QueryResult>;
  }
  interfaces(req: InterfacesRequest): Promise<QueryResult> {
    return this.call('/api/v1/interfaces', req) as Promise<QueryResult>;
  }
  idsAlerts(req: IdsAlertsRequest): Promise<QueryResult> {
    return this.call('/api/v1/ids-alerts', req) as Promise<QueryResult>;
  }
  stats(): Promise<Record<string, unknown>> {
    return this.call('/api/v1/stats') as Promise<Record<string, unknown>>;
  }
  async close(): Promise<void> {}
}
