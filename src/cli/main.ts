#!/usr/bin/env node
// The flowwatch command. Each subcommand parses its own flags (node:util parseArgs, strict), so
// a mistyped flag is an error that names it rather than something silently ignored.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, configReference, defaultConfig, loadConfig, splitHostPort } from '../config/config.js';
import { describeFields, FilterError } from '../filter/index.js';
import { IMPORT_FORMATS, type ImportFormat } from '../ingest/detect.js';
import type { ExporterState } from '../pipeline/exporter-state.js';
import { LocalQueryTarget, type Order, QueryError, type QueryTarget, RemoteQueryTarget } from '../query/service.js';
import { openStore, readLock } from '../store/duckdb/index.js';
import { formatTime, parseDuration, parseSize, parseTime } from '../util/units.js';
import { FORMATS, type Format, renderRows } from './output.js';

const USAGE = `flowwatch — network flow telemetry and security analytics

usage:
  flowwatch serve [--config FILE] [--data DIR] [--listen HOST:PORT]... [--listen-tcp HOST:PORT]... [--http HOST:PORT] [--no-geo]
  flowwatch import [--data DIR] [--config FILE] [--format pcap|meter|zeek|suricata|aws-vpc|azure|gcp|oci] [--no-geo] FILE...
  flowwatch import [--data DIR] [--config FILE] [--format F] [--no-geo] --watch DIR
  flowwatch import [...] [--watch] s3://BUCKET/PREFIX [--endpoint URL] [--region R] [--path-style]
  flowwatch import [...] [--watch] azblob://CONTAINER/PREFIX [--connection-string S]
                  [--settle 2s] [--poll 60s]
                                      logs as they arrive, each object once (a rerun skips what is stored);
                                      S3 credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the
                                      SDK chain, Azure from AZURE_STORAGE_CONNECTION_STRING
  flowwatch query [--data DIR] [--since T] [--until T] [FILTER]
                  [--top N --by FIELD[,FIELD...] --order flows|packets|bytes]
                  [--fields F,...] [--limit N] [--format table|csv|json|ndjson]
  flowwatch timeseries [--data DIR] [--interval 1m] [--by FIELD] [--since T] [--until T] [FILTER]
  flowwatch stats [--data DIR] [--format table|json]
  flowwatch interfaces [--data DIR] [--since T] [--until T] [--agent ADDR] [--format ...]
                                      interface utilisation from sFlow counter samples
  flowwatch agent --interface IF --server URL --token T [--spool DIR] [--host-id ID] [--filter BPF]
                  [--instance-id ID] [--account-id ID] [--cloud-metadata aws|azure|gcp [--metadata-endpoint URL]]
                  [--active-timeout 60s] [--idle-timeout 15s] [--ship-interval 1s] [--config FILE]
                                      meter this host's traffic (tcpdump) and ship the flows to a server
  flowwatch enrich check [--config FILE] [--at T] [--format table|json] ADDR|DOMAIN... [--flow "SRC[:PORT] DST[:PORT] [PROTO]"]
                                      every enrichment that applies, and where it came from
  flowwatch ids-alerts [--data DIR] [--since T] [--until T] [--limit N] [--with-flows] [--format ...]
                                      IDS alerts (Suricata eve.json), with the flows of their connection
  flowwatch fields                    the fields the filter language and --by/--fields accept
  flowwatch config --reference | --check FILE

T is an ISO 8601 time (UTC unless it says otherwise) or a duration back from now (30m, 1h, 7d).
FILTER is a filter expression, e.g. 'proto tcp and dst port 22 and not src net 10.0.0.0/8'.`;

class UsageError extends Error {}

/** The filter text of the running command, to point at the column of a FilterError. */
let currentFilter = '';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serve(rest);
    case 'import':
      return importCmd(rest);
    case 'query':
      return query(rest);
    case 'timeseries':
      return timeseries(rest);
    case 'stats':
      return stats(rest);
    case 'interfaces':
      return interfaces(rest);
    case 'agent':
      return agent(rest);
    case 'fields':
      return fields();
    case 'enrich':
      return enrich(rest);
    case 'ids-alerts':
      return idsAlerts(rest);
    case 'config':
      return config(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

type ArgOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse(args: string[], options: ArgOptions) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string', short: 'c' },
    data: { type: 'string' },
    listen: { type: 'string', multiple: true },
    'listen-tcp': { type: 'string', multiple: true },
    http: { type: 'string' },
    'no-geo': { type: 'boolean' },
  });
  const cfg = values.config ? loadConfig(values.config as string) : defaultConfig();
  if (values.data) cfg.dataDir = values.data as string;
  if (values['no-geo']) cfg.enrich.geo = false;
  // --listen replaces every UDP list (each listener recognises NetFlow, IPFIX and sFlow by
  // content) and, unless --listen-tcp is given too, turns IPFIX over TCP off.
  if (values.listen) {
    const list = values.listen as string[];
    for (const a of list) if (!splitHostPort(a)) throw new UsageError(`--listen: bad host:port ${a}`);
    cfg.listen.netflow = list;
    cfg.listen.ipfix = [];
    cfg.listen.sflow = [];
    cfg.listen.ipfixTcp = [];
  }
  if (values['listen-tcp']) {
    const list = values['listen-tcp'] as string[];
    for (const a of list) if (!splitHostPort(a)) throw new UsageError(`--listen-tcp: bad host:port ${a}`);
    cfg.listen.ipfixTcp = list;
  }
  if (values.http !== undefined) cfg.http.listen = values.http as string;
  // Loaded per command: a query should not pay for the receivers, pino or the decoders.
  const { startServer } = await import('./serve.js');
  const server = await startServer(cfg);
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void server.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await server.done;
  return 0;
}

async function agent(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string', short: 'c' },
    interface: { type: 'string', short: 'i' },
    server: { type: 'string' },
    token: { type: 'string' },
    spool: { type: 'string' },
    'spool-max': { type: 'string' },
    'host-id': { type: 'string' },
    filter: { type: 'string' },
    'instance-id': { type: 'string' },
    'account-id': { type: 'string' },
    'cloud-metadata': { type: 'string' },
    'metadata-endpoint': { type: 'string' },
    'active-timeout': { type: 'string' },
    'idle-timeout': { type: 'string' },
    'ship-interval': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const cfg = values.config ? loadConfig(values.config as string) : defaultConfig();
  const a = cfg.agent;
  const str = (flag: string, fallback: string) => (values[flag] as string | undefined) ?? fallback;
  const duration = (flag: string, fallback: number) => {
    const v = values[flag] as string | undefined;
    if (v === undefined) return fallback;
    const ms = parseDuration(v);
    if (ms === null || ms <= 0) throw new UsageError(`--${flag}: expected a duration such as 500ms, 30s or 5m`);
    return ms;
  };
  const iface = str('interface', a.interface);
  const server = str('server', a.server);
  // The token may come from the environment so it does not show in `ps`.
  const token = str('token', a.token || (process.env.FLOWWATCH_AGENT_TOKEN ?? ''));
  if (!iface) throw new UsageError('agent: --interface is required (or agent.interface)');
  if (!/^https?:\/\/./.test(server)) throw new UsageError('agent: --server http(s)://HOST:PORT is required');
  if (!token) throw new UsageError('agent: --token (or FLOWWATCH_AGENT_TOKEN, or agent.token) is required');
  const cloud = str('cloud-metadata', a.cloudMetadata);
  const { CLOUD_PROVIDERS } = await import('../agent/metadata.js');
  if (cloud && !(CLOUD_PROVIDERS as readonly string[]).includes(cloud))
    throw new UsageError(`--cloud-metadata: expected one of ${CLOUD_PROVIDERS.join(', ')}`);
  let spoolMax = a.spoolMax;
  if (values['spool-max'] !== undefined) {
    const n = parseSize(values['spool-max'] as string);
    if (n === null) throw new UsageError('--spool-max: expected a size such as 512MiB');
    spoolMax = n;
  }
  const { hostname } = await import('node:os');
  const pino = (await import('pino')).default;
  const log = pino({
    level: str('log-level', cfg.log.level),
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  });
  const { Agent } = await import('../agent/agent.js');
  const hostId = str('host-id', a.hostId) || hostname();
  const ag = new Agent({
    interface: iface,
    server,
    token,
    spoolDir: str('spool', a.spoolDir),
    spoolMaxBytes: spoolMax,
    hostId,
    filter: str('filter', a.filter) || undefined,
    identity: {
      instanceId: str('instance-id', a.instanceId) || undefined,
      accountId: str('account-id', a.accountId) || undefined,
    },
    cloudMetadata: (cloud || undefined) as 'aws' | 'azure' | 'gcp' | undefined,
    metadataEndpoint: str('metadata-endpoint', a.metadataEndpoint) || undefined,
    activeTimeoutMs: duration('active-timeout', a.activeTimeout),
    idleTimeoutMs: duration('idle-timeout', a.idleTimeout),
    shipIntervalMs: duration('ship-interval', a.shipInterval),
    log,
  });
  await ag.start();
  log.info(
    { interface: iface, server, host_id: hostId, tcpdump_pid: ag.tcpdumpPid, pid: process.pid },
    'agent capturing',
  );
  const statsTimer = setInterval(() => log.info(ag.stats(), 'agent'), 10_000);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= ag.stop(5000);
    return stopping;
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const failure = await Promise.race([ag.failed, stopWaiter(() => stopping)]);
  clearInterval(statsTimer);
  if (typeof failure === 'string') {
    log.error(failure);
    await stop();
    log.info(ag.stats(), 'agent stopped');
    return 1;
  }
  await stop();
  log.info(ag.stats(), 'agent stopped');
  return 0;
}

/** Resolves once a stop has been requested and finished. */
async function stopWaiter(current: () => Promise<void> | undefined): Promise<void> {
  for (;;) {
    const p = current();
    if (p) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function importCmd(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    config: { type: 'string', short: 'c' },
    format: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    'no-geo': { type: 'boolean' },
    watch: { type: 'boolean' },
    endpoint: { type: 'string' },
    region: { type: 'string' },
    'path-style': { type: 'boolean' },
    'connection-string': { type: 'string' },
    settle: { type: 'string' },
    poll: { type: 'string' },
  });
  if (values.watch || positionals.some((p) => /^(s3|azblob):\/\//i.test(p))) {
    const { sourceImportCommand, SourceUsageError } = await import('./import-sources.js');
    try {
      return await sourceImportCommand(values, positionals);
    } catch (e) {
      throw e instanceof SourceUsageError ? new UsageError(e.message) : e;
    }
  }
  if (positionals.length === 0) throw new UsageError('import: name at least one file');
  const format = values.format as ImportFormat | undefined;
  if (format !== undefined && !IMPORT_FORMATS.includes(format))
    throw new UsageError(`import --format: one of ${IMPORT_FORMATS.join(', ')}`);
  const cfg = values.config ? loadConfig(values.config as string) : undefined;
  const tty = process.stderr.isTTY && !values.quiet;
  const { importFiles } = await import('./import.js');
  const summary = await importFiles({
    dataDir: (values.data as string) ?? cfg?.dataDir ?? './data',
    files: positionals,
    exporters: cfg?.exporters,
    format,
    enrich: { ...(cfg ?? defaultConfig()).enrich, ...(values['no-geo'] ? { geo: false } : {}) },
    progress: tty ? (f, t) => process.stderr.write(`\r\x1b[K${progressBar(f)} ${t}`) : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const lost = Object.entries(summary.counters)
    .flatMap(([e, m]) =>
      Object.entries(m)
        .filter(([k, v]) => !['packets', 'bytes_received', 'flows', 'templates', 'options_records'].includes(k) && v)
        .map(([k, v]) => `  ${e}: ${k} ${v}`),
    )
    .join('\n');
  process.stdout.write(
    `imported ${summary.files} file(s): ${summary.packets} packets, ${summary.exportPackets} flow datagrams, ` +
      `${summary.logRecords} log records, ${summary.meteredPackets} packets metered, ${summary.flows} flows decoded, ` +
      `${summary.stored} stored${summary.alerts ? `, ${summary.alerts} IDS alerts` : ''}\n` +
      `exporters: ${summary.exporters.join(', ') || '(none)'}\n` +
      (lost ? `not decoded:\n${lost}\n` : '') +
      (summary.notes.length ? `notes:\n${summary.notes.map((e) => `  ${e}`).join('\n')}\n` : '') +
      (summary.errors.length ? `errors:\n${summary.errors.map((e) => `  ${e}`).join('\n')}\n` : ''),
  );
  return summary.errors.length && summary.files === 0 ? 1 : 0;
}

function progressBar(fraction: number, width = 30): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

/** The store of `dir`: through a running server when one owns it, otherwise opened read-only. */
async function openTarget(dir: string): Promise<QueryTarget> {
  if (!existsSync(join(dir, 'flows.duckdb')))
    throw new QueryError(`no flow store in ${dir} (run "flowwatch serve" or "flowwatch import" first, or pass --data)`);
  const lock = readLock(dir);
  if (lock?.api) return new RemoteQueryTarget(lock.api);
  return new LocalQueryTarget(await openStore({ dir, readOnly: true }));
}

/** Totals are only as complete as the collection: say so on stderr, leaving stdout to the data. */
function noteLosses(losses: Record<string, number> | undefined): void {
  if (!losses) return;
  const what = Object.entries(losses)
    .map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`)
    .join(', ');
  process.stderr.write(
    `flowwatch: note: these totals miss what was lost before the store in this time range: ${what}\n`,
  );
}

function timeArg(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTime(v as string);
  if (t === null)
    throw new UsageError(`--${name}: "${v}" is not a time (ISO 8601, or a duration back from now like 1h, 7d)`);
  return t;
}

function intArg(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name}: expected a positive whole number, got "${v}"`);
  return n;
}

function formatArg(v: unknown): Format {
  const f = (v ?? 'table') as Format;
  if (!FORMATS.includes(f)) throw new UsageError(`--format: one of ${FORMATS.join(', ')}`);
  return f;
}

function listArg(v: unknown): string[] | undefined {
  return v === undefined
    ? undefined
    : (v as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

const DEFAULT_FIELDS = [
  'time_start',
  'time_end',
  'proto',
  'src_addr',
  'src_port',
  'dst_addr',
  'dst_port',
  'packets',
  'bytes',
  'exporter',
];

async function query(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    top: { type: 'string' },
    by: { type: 'string' },
    order: { type: 'string' },
    fields: { type: 'string' },
    limit: { type: 'string' },
    format: { type: 'string' },
  });
  const format = formatArg(values.format);
  const filter = positionals.join(' ');
  currentFilter = filter;
  const since = timeArg('since', values.since);
  const until = timeArg('until', values.until);
  const target = await openTarget((values.data as string) ?? './data');
  try {
    if (values.top !== undefined || values.by !== undefined) {
      const by = listArg(values.by);
      if (!by?.length) throw new UsageError('--top needs --by FIELD[,FIELD...]');
      const order = (values.order ?? 'flows') as Order;
      if (!['flows', 'packets', 'bytes'].includes(order)) throw new UsageError('--order: one of flows, packets, bytes');
      const limit = intArg('top', values.top ?? values.limit, 10);
      const r = await target.top({ filter, since, until, by, order, limit });
      process.stdout.write(renderRows(r.rows, [...by, 'flows', 'packets', 'bytes'], format));
      noteLosses(r.losses);
    } else {
      if (values.order !== undefined) throw new UsageError('--order goes with --top');
      const fields = listArg(values.fields) ?? DEFAULT_FIELDS;
      const r = await target.flows({ filter, since, until, fields, limit: intArg('limit', values.limit, 20) });
      process.stdout.write(renderRows(r.rows, fields, format));
      noteLosses(r.losses);
    }
  } finally {
    await target.close();
  }
  return 0;
}

async function timeseries(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    interval: { type: 'string' },
    by: { type: 'string' },
    format: { type: 'string' },
  });
  const intervalMs = parseDuration((values.interval as string) ?? '1m');
  if (intervalMs === null || intervalMs < 1000)
    throw new UsageError('--interval: a duration of at least 1s, e.g. 1m, 5m, 1h');
  const format = formatArg(values.format);
  const target = await openTarget((values.data as string) ?? './data');
  try {
    const by = values.by as string | undefined;
    currentFilter = positionals.join(' ');
    const r = await target.timeseries({
      filter: currentFilter,
      since: timeArg('since', values.since),
      until: timeArg('until', values.until),
      intervalMs,
      by,
    });
    const cols = ['t', ...(by ? [by] : []), 'flows', 'packets', 'bytes'];
    process.stdout.write(renderRows(r.rows, cols, format));
    noteLosses(r.losses);
  } finally {
    await target.close();
  }
  return 0;
}

async function stats(args: string[]): Promise<number> {
  const { values } = parse(args, { data: { type: 'string' }, format: { type: 'string' } });
  const target = await openTarget((values.data as string) ?? './data');
  try {
    const s = await target.stats();
    if (values.format === 'json') {
      process.stdout.write(`${JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`);
      return 0;
    }
    process.stdout.write(renderStats(s));
  } finally {
    await target.close();
  }
  return 0;
}

interface TableInfo {
  rows: number;
  minTimeMs?: number | null;
  maxTimeMs?: number | null;
}

async function idsAlerts(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    'with-flows': { type: 'boolean' },
    format: { type: 'string' },
  });
  const format = formatArg(values.format);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('ids-alerts --limit: a positive whole number');
  const target = await openTarget((values.data as string) ?? './data');
  try {
    const r = await target.idsAlerts({
      since: timeArg('since', values.since),
      until: timeArg('until', values.until),
      limit,
      withFlows: values['with-flows'] === true,
    });
    const cols = [
      'time',
      'signature_id',
      'signature',
      'severity',
      'src_addr',
      'src_port',
      'dst_addr',
      'dst_port',
      'proto',
      'community_id',
    ];
    if (values['with-flows']) cols.push('flow_exporter', 'flow_bytes', 'flow_rev_bytes');
    process.stdout.write(renderRows(r.rows, format === 'table' ? cols : Object.keys(r.rows[0] ?? {}), format));
  } finally {
    await target.close();
  }
  return 0;
}

async function interfaces(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    agent: { type: 'string' },
    format: { type: 'string' },
  });
  const format = formatArg(values.format);
  const target = await openTarget((values.data as string) ?? './data');
  try {
    const r = await target.interfaces({
      since: timeArg('since', values.since),
      until: timeArg('until', values.until),
      agent: values.agent as string | undefined,
    });
    const rows = r.rows.map((row) => {
      const speed = Number(row.if_speed) || 0;
      const util = (bps: unknown) =>
        speed > 0 && typeof bps === 'number' ? Math.round((bps / speed) * 1000) / 10 : null;
      const bps = (v: unknown) => (typeof v === 'number' ? Math.round(v) : null);
      return {
        ...row,
        in_bps_avg: bps(row.in_bps_avg),
        in_bps_peak: bps(row.in_bps_peak),
        out_bps_avg: bps(row.out_bps_avg),
        out_bps_peak: bps(row.out_bps_peak),
        in_util_pct: util(row.in_bps_avg),
        out_util_pct: util(row.out_bps_avg),
      };
    });
    const cols = [
      'agent',
      'if_index',
      'if_speed',
      'samples',
      'in_bps_avg',
      'in_bps_peak',
      'in_util_pct',
      'out_bps_avg',
      'out_bps_peak',
      'out_util_pct',
      'errors',
      'discards',
    ];
    process.stdout.write(renderRows(rows, cols, format));
  } finally {
    await target.close();
  }
  return 0;
}

function renderStats(s: Record<string, unknown>): string {
  const out: string[] = [];
  const store = (s.store ?? {}) as {
    dir?: string;
    schemaVersion?: number;
    bytesOnDisk?: number;
    tables?: Record<string, TableInfo>;
  };
  const tables = store.tables ?? {};
  const range = (t: TableInfo) =>
    t.minTimeMs != null && t.maxTimeMs != null ? ` (${formatTime(t.minTimeMs)} … ${formatTime(t.maxTimeMs)})` : '';
  out.push(
    `store ${store.dir ?? ''}: schema v${store.schemaVersion ?? '?'}, ${((store.bytesOnDisk ?? 0) / 1e6).toFixed(1)} MB on disk`,
  );
  for (const [name, t] of Object.entries(tables))
    out.push(`  ${name}: ${t.rows.toLocaleString('en-US')} rows${range(t)}`);
  const exporters = (s.exporters ?? {}) as Record<string, Partial<ExporterState>>;
  for (const [name, st] of Object.entries(exporters)) {
    const protocols = [...new Set((st.domains ?? []).map((d) => d.protocol))].join(', ');
    out.push(
      `exporter ${name}${protocols ? ` (${protocols})` : ''}${st.updatedMs ? `, as of ${formatTime(st.updatedMs)}` : ''}`,
    );
    for (const d of st.domains ?? []) {
      const tpl = d.templates.map((t) => `${t.id} ${t.kind} ${t.fieldCount} fields`).join(', ') || 'none';
      const samplers = Object.entries(d.samplingRates ?? {}).map(([id, r]) => `sampler ${id} 1:${r}`);
      if (d.samplingRate) samplers.unshift(`1:${d.samplingRate}`);
      out.push(`  domain ${d.observationDomain}: templates ${tpl}; sampling ${samplers.join(', ') || 'none exported'}`);
      if (d.pendingSets) out.push(`    ${d.pendingSets} data sets waiting for their template`);
      const ifs = Object.entries(d.interfaces ?? {});
      if (ifs.length)
        out.push(
          `    interfaces: ${ifs.map(([i, v]) => `${i} ${v.name ?? ''}${v.description ? ` (${v.description})` : ''}`.trim()).join(', ')}`,
        );
      const apps = Object.keys(d.applications ?? {}).length;
      if (apps) out.push(`    ${apps} application names learned from options data`);
    }
    if (st.sflow)
      for (const sa of st.sflow.subAgents)
        out.push(
          `  sFlow sub-agent ${sa.id}: datagram sequence ${sa.lastSequence}, ${sa.datagramsLost} datagrams lost, ${sa.sources} data sources`,
        );
    const c = st.counters ?? {};
    if (Object.keys(c).length)
      out.push(
        `  counters: ${Object.entries(c)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
  }
  const live = s.counters as Record<string, Record<string, number>> | undefined;
  if (live) {
    out.push('live counters (since the server started):');
    for (const [e, m] of Object.entries(live))
      out.push(
        `  ${e}: ${Object.entries(m)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
  }
  return `${out.join('\n')}\n`;
}

async function enrich(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'check') throw new UsageError('enrich: the subcommand is check');
  const { values, positionals } = parse(rest, {
    config: { type: 'string', short: 'c' },
    data: { type: 'string' },
    flow: { type: 'string' },
    at: { type: 'string' },
    format: { type: 'string' },
    'no-geo': { type: 'boolean' },
  });
  if (positionals.length === 0 && values.flow === undefined)
    throw new UsageError('enrich check: name an address, a domain or --flow "SRC[:PORT] DST[:PORT] [PROTO]"');
  if (values.format !== undefined && values.format !== 'table' && values.format !== 'json')
    throw new UsageError('enrich check --format: table or json');
  const cfg = values.config ? loadConfig(values.config as string) : defaultConfig();
  if (values['no-geo']) cfg.enrich.geo = false;
  const at = values.at === undefined ? undefined : parseTime(values.at as string, Date.now());
  if (at === null) throw new UsageError(`enrich check --at: not a time: ${values.at}`);
  const { enrichCheck } = await import('./enrich-check.js');
  const { join } = await import('node:path');
  const r = await enrichCheck({
    settings: cfg.enrich,
    cacheDir: join((values.data as string) ?? cfg.dataDir, 'intel-cache'),
    items: positionals,
    flow: values.flow as string | undefined,
    timeMs: at,
    json: values.format === 'json',
  });
  for (const e of r.errors) process.stderr.write(`flowwatch: ${e}\n`);
  process.stdout.write(r.text);
  return r.errors.length > 0 ? 1 : 0;
}

function fields(): number {
  const rows = describeFields().map((f) => ({
    field: f.name,
    type: f.type,
    keyword: [f.keyword, ...(f.aliases ?? [])].filter(Boolean).join(' '),
    description: f.description,
  }));
  process.stdout.write(renderRows(rows, ['field', 'type', 'keyword', 'description'], 'table'));
  return 0;
}

function config(args: string[]): number {
  const { values } = parse(args, { reference: { type: 'boolean' }, check: { type: 'string' } });
  if (values.check) {
    loadConfig(values.check as string);
    process.stdout.write(`${values.check}: ok\n`);
    return 0;
  }
  process.stdout.write(`${configReference()}\n`);
  return 0;
}

function showFilterError(e: FilterError, filter: string): string {
  const caret = e.position > 0 ? `\n  ${filter}\n  ${' '.repeat(e.position - 1)}^` : '';
  return `flowwatch: ${e.message}${caret}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof FilterError) {
      process.stderr.write(showFilterError(e, currentFilter));
      process.exitCode = 2;
    } else if (e instanceof UsageError) {
      process.stderr.write(`flowwatch: ${e.message}\nrun "flowwatch help" for usage\n`);
      process.exitCode = 2;
    } else if (e instanceof ConfigError || e instanceof QueryError) {
      process.stderr.write(`flowwatch: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`flowwatch: ${(e as Error).message ?? e}\n`);
      process.exitCode = 1;
    }
  },
);
