// flowwatch configuration: one YAML file, validated at start.
//
// Every setting is declared once below (key, kind, default, description). Validation, defaults and
// the reference table in the README (`flowwatch config --reference`) derive from this list, so an
// error always names the offending key and a default is never documented in two places.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FeedFormat } from '../enrich/intel/feeds.js';
import type { FeedSpec } from '../enrich/intel/fetch.js';
import { parseCidr } from '../enrich/ranges/lpm.js';
import { defaultEnrichSettings, type EnrichSettings } from '../enrich/settings.js';
import { parseFilter } from '../filter/index.js';
import type { ForwarderOptions } from '../forward/forwarder.js';
import { type InputSetting, parseInputSetting } from '../ingest/sources/input-settings.js';
import type { ExporterSetting } from '../pipeline/exporter-policy.js';
import { formatAddrWords, parseAddr } from '../pipeline/flow-batch.js';
import { DEFAULT_MEMORY_LIMIT } from '../store/store.js';
import { editDistance } from '../util/edit-distance.js';
import { parseDuration, parseSize } from '../util/units.js';

export interface Config {
  dataDir: string;
  listen: {
    netflow: string[];
    ipfix: string[];
    sflow: string[];
    ipfixTcp: string[];
    tcpIdleTimeout: number;
    tcpMaxConnections: number;
    receiveBuffer: number;
    queuePackets: number;
  };
  http: { listen: string };
  store: {
    memoryLimit: string;
    threads: number;
    flushInterval: number;
    batchSize: number;
    retention: { raw: number; rollup1m: number };
  };
  decode: { pendingPackets: number };
  log: { level: string };
  /** Per-exporter settings by exporter address. */
  exporters: Map<string, ExporterSetting>;
  /** Where matching flows are re-exported. */
  forward: ForwarderOptions[];
  /** Log inputs read with checkpoints (directory, S3, Azure Blob). */
  inputs: InputSetting[];
  enrich: EnrichSettings;
  /** HTTP ingest (POST /api/v1/ingest/*): who may push flows and how much per request. */
  ingest: { tokens: { name: string; token: string }[]; maxBody: number };
  /** `flowwatch agent` (command-line flags override these). */
  agent: {
    server: string;
    token: string;
    interface: string;
    filter: string;
    spoolDir: string;
    spoolMax: number;
    hostId: string;
    instanceId: string;
    accountId: string;
    cloudMetadata: string;
    metadataEndpoint: string;
    activeTimeout: number;
    idleTimeout: number;
    shipInterval: number;
  };
}

type Kind =
  | 'string'
  | 'addrs'
  | 'size'
  | 'duration'
  | 'int'
  | 'level'
  | 'exporters'
  | 'forward'
  | 'inputs'
  | 'bool'
  | 'seed'
  | 'tokens'
  | 'paths'
  | 'cidrs'
  | 'feeds';

interface Setting {
  key: string; // dotted YAML path
  kind: Kind;
  default: string | number | string[];
  description: string;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export const SETTINGS: Setting[] = [
  {
    key: 'data_dir',
    kind: 'string',
    default: './data',
    description: 'where the store (flows.duckdb), its lock and state files live',
  },
  {
    key: 'listen.netflow',
    kind: 'addrs',
    default: ['0.0.0.0:2055'],
    description: 'UDP host:port list for NetFlow v5/v9 (IPFIX is recognised here too)',
  },
  {
    key: 'listen.ipfix',
    kind: 'addrs',
    default: ['0.0.0.0:4739'],
    description: 'UDP host:port list for IPFIX (NetFlow is recognised here too)',
  },
  {
    key: 'listen.sflow',
    kind: 'addrs',
    default: ['0.0.0.0:6343'],
    description: 'UDP host:port list for sFlow v5 (NetFlow/IPFIX are recognised here too)',
  },
  {
    key: 'listen.ipfix_tcp',
    kind: 'addrs',
    default: ['0.0.0.0:4739'],
    description: 'TCP host:port list for IPFIX over TCP (RFC 7011 §10.4); backpressure instead of loss',
  },
  {
    key: 'listen.tcp_idle_timeout',
    kind: 'duration',
    default: '5m',
    description: 'an IPFIX/TCP connection silent this long is closed',
  },
  {
    key: 'listen.tcp_max_connections',
    kind: 'int',
    default: 1024,
    description: 'IPFIX/TCP connections at most (64 per exporter address)',
  },
  {
    key: 'listen.receive_buffer',
    kind: 'size',
    default: '4MiB',
    description: 'socket receive buffer asked of the kernel (capped by net.core.rmem_max)',
  },
  {
    key: 'listen.queue_packets',
    kind: 'int',
    default: 65536,
    description: 'datagrams held between receive and decode; beyond it they are dropped and counted',
  },
  {
    key: 'http.listen',
    kind: 'string',
    default: '127.0.0.1:9090',
    description: 'host:port of the HTTP server (/metrics, /health, API); empty to disable',
  },
  {
    key: 'store.memory_limit',
    kind: 'string',
    default: DEFAULT_MEMORY_LIMIT,
    description: "DuckDB memory_limit (DuckDB's size syntax)",
  },
  {
    key: 'store.threads',
    kind: 'int',
    default: 2,
    description: 'DuckDB worker threads',
  },
  {
    key: 'store.flush_interval',
    kind: 'duration',
    default: '1s',
    description: 'how often appended flows are committed (flows are "stored" once committed)',
  },
  {
    key: 'store.batch_size',
    kind: 'int',
    default: 8192,
    description: 'rows per FlowBatch between decode and store',
  },
  {
    key: 'store.retention.raw',
    kind: 'duration',
    default: '30d',
    description: 'how long raw flows are kept',
  },
  {
    key: 'store.retention.rollup_1m',
    kind: 'duration',
    default: '400d',
    description: 'how long the 1-minute rollup is kept',
  },
  {
    key: 'decode.pending_packets',
    kind: 'int',
    default: 4096,
    description: 'data sets held while waiting for their template (all exporters; one exporter may hold a quarter)',
  },
  {
    key: 'exporters',
    kind: 'exporters',
    default: '{}',
    description:
      'per exporter address: `name` (fills exporter_name), `sampling_rate` (used when the exporter sends none), `max_flows_per_second` (over it, one flow in k is kept with sampling_rate × k)',
  },
  {
    key: 'forward',
    kind: 'forward',
    default: '[]',
    description:
      'list of re-export targets: `to` (udp://HOST:PORT or tcp://HOST:PORT for IPFIX, http(s)://… for NDJSON), optional `filter` (the filter language), `observation_domain`, `headers`, `times` (iso or ms)',
  },
  {
    key: 'inputs',
    kind: 'inputs',
    default: '[]',
    description:
      'log inputs read with checkpoints: `name`, `type` (dir: `path`, `settle`; s3: `bucket`, `prefix`, `region`, `endpoint`, `force_path_style`, `access_key_id`, `secret_access_key`; azblob: `container`, `prefix`, `connection_string` or `url`/`account_name`/`account_key`), optional `format`, `poll_interval` (ms)',
  },
  {
    key: 'enrich.store_community_id',
    kind: 'bool',
    default: 'false',
    description:
      'store a Community ID with every flow at ingest (costs ~1.5 µs/flow and ~28 bytes/flow); otherwise it is computed when shown',
  },
  {
    key: 'enrich.community_id_seed',
    kind: 'seed',
    default: 0,
    description: 'Community ID seed (0–65535), as configured in the Zeek/Suricata flowwatch is pivoted to',
  },
  {
    key: 'enrich.store_services',
    kind: 'bool',
    default: 'false',
    description: 'store IANA service names of the ports at ingest; otherwise they are looked up when shown',
  },
  {
    key: 'enrich.networks',
    kind: 'cidrs',
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
    description:
      "the organisation's networks, for `direction` (ingress, egress, internal, external); ranges tagged `internal` are added",
  },
  {
    key: 'enrich.ranges',
    kind: 'paths',
    default: '[]',
    description:
      'IP range files: CSV (cidr,name,segment,tags), YAML/JSON lists, AWS ip-ranges.json, Azure Service Tags, GCP cloud.json → src_/dst_ range, segment, tags',
  },
  {
    key: 'enrich.assets',
    kind: 'paths',
    default: '[]',
    description:
      'asset files: CSV/YAML/JSON, AWS describe-instances, Azure Resource Graph, GCP asset inventory → src_/dst_ host, vm_id, account, owner, env, asset_type, tags',
  },
  {
    key: 'enrich.geo',
    kind: 'bool',
    default: 'true',
    description: 'country, AS number and AS organisation from the shipped ip-location-db data (see README attribution)',
  },
  {
    key: 'enrich.geoip_country',
    kind: 'string',
    default: '',
    description: 'a MaxMind GeoIP2/GeoLite2 Country or City .mmdb to use instead of the shipped data',
  },
  {
    key: 'enrich.geoip_asn',
    kind: 'string',
    default: '',
    description: 'a MaxMind GeoIP2/GeoLite2 ASN .mmdb to use instead of the shipped data',
  },
  {
    key: 'enrich.intel',
    kind: 'feeds',
    default: '[]',
    description:
      'threat-intelligence feeds: a list of `name`, `file` or `url`, `format` (list, csv, spamhaus, stix, misp, misp-freetext), optional `refresh` (default 1h), `confidence`, `column`, `confidence_column`, `delimiter`',
  },
  {
    key: 'enrich.reload_interval',
    kind: 'duration',
    default: '5s',
    description: 'how often range and asset files are checked for changes (a change is loaded and swapped in whole)',
  },
  {
    key: 'ingest.tokens',
    kind: 'tokens',
    default: '[]',
    description:
      'bearer tokens accepted by POST /api/v1/ingest/flows and /api/v1/ingest/ndjson: a list of `name` (the default exporter of NDJSON flows is http:NAME) and `token`; empty: HTTP ingest refuses everyone',
  },
  {
    key: 'ingest.max_body',
    kind: 'size',
    default: '16MiB',
    description: 'largest HTTP ingest request body, after gzip decompression (413 over it)',
  },
  {
    key: 'agent.server',
    kind: 'string',
    default: '',
    description: 'agent: flowwatch server base URL (http(s)://host:port)',
  },
  {
    key: 'agent.token',
    kind: 'string',
    default: '',
    description: "agent: bearer token, one of the server's ingest.tokens",
  },
  { key: 'agent.interface', kind: 'string', default: '', description: 'agent: interface to capture on (tcpdump -i)' },
  {
    key: 'agent.filter',
    kind: 'string',
    default: '',
    description:
      "agent: BPF expression of the traffic to meter (the agent's own traffic to the server is always left out)",
  },
  {
    key: 'agent.spool_dir',
    kind: 'string',
    default: './agent-spool',
    description: "agent: where batches wait (fsync'd) until the server acknowledged them",
  },
  {
    key: 'agent.spool_max',
    kind: 'size',
    default: '1GiB',
    description: 'agent: spool bound; past it the oldest batches are dropped and counted',
  },
  {
    key: 'agent.host_id',
    kind: 'string',
    default: '',
    description: "agent: id in batch ids and the flows' exporter/exporter_name (default: the host name)",
  },
  { key: 'agent.instance_id', kind: 'string', default: '', description: 'agent: instance_id stamped on every flow' },
  { key: 'agent.account_id', kind: 'string', default: '', description: 'agent: account_id stamped on every flow' },
  {
    key: 'agent.cloud_metadata',
    kind: 'string',
    default: '',
    description:
      'agent: aws, azure or gcp to read instance_id/account_id/region/zone from the instance metadata service (off when empty)',
  },
  {
    key: 'agent.metadata_endpoint',
    kind: 'string',
    default: '',
    description: "agent: instance metadata base URL (default: the provider's, e.g. http://169.254.169.254)",
  },
  {
    key: 'agent.active_timeout',
    kind: 'duration',
    default: '60s',
    description: 'agent: a long flow is reported (and continues) after this long',
  },
  {
    key: 'agent.idle_timeout',
    kind: 'duration',
    default: '15s',
    description: 'agent: a flow with no packet for this long ends',
  },
  {
    key: 'agent.ship_interval',
    kind: 'duration',
    default: '1s',
    description: 'agent: how often ended flows are batched, spooled and sent',
  },
  {
    key: 'log.level',
    kind: 'level',
    default: 'info',
    description: `log level (${LEVELS.join(', ')})`,
  },
];

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly key: string,
    message: string,
  ) {
    super(`${file}: ${key ? `${key}: ` : ''}${message}`);
    this.name = 'ConfigError';
  }
}

export function emptyConfig(): Config {
  return {
    dataDir: '',
    listen: {
      netflow: [],
      ipfix: [],
      sflow: [],
      ipfixTcp: [],
      tcpIdleTimeout: 0,
      tcpMaxConnections: 0,
      receiveBuffer: 0,
      queuePackets: 0,
    },
    forward: [],
    inputs: [],
    enrich: defaultEnrichSettings(),
    http: { listen: '' },
    ingest: { tokens: [], maxBody: 0 },
    agent: {
      server: '',
      token: '',
      interface: '',
      filter: '',
      spoolDir: '',
      spoolMax: 0,
      hostId: '',
      instanceId: '',
      accountId: '',
      cloudMetadata: '',
      metadataEndpoint: '',
      activeTimeout: 0,
      idleTimeout: 0,
      shipInterval: 0,
    },
    store: { memoryLimit: '', threads: 0, flushInterval: 0, batchSize: 0, retention: { raw: 0, rollup1m: 0 } },
    decode: { pendingPackets: 0 },
    log: { level: '' },
    exporters: new Map(),
  };
}

/** Defaults only. */
export function defaultConfig(): Config {
  return buildConfig({}, '(defaults)');
}

/** Read and validate a YAML file. Throws ConfigError naming the file and key. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read: ${(e as Error).message}`);
  }
  // yaml is loaded only here: most commands never read a config file.
  const { parse: parseYaml, YAMLParseError } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (e) {
    const pos = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line})` : '';
    throw new ConfigError(file, '', `not valid YAML${pos}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ConfigError(file, '', 'the top level must be a mapping of settings');
  return buildConfig(doc as Record<string, unknown>, file);
}

export function buildConfig(doc: Record<string, unknown>, file: string): Config {
  const known = new Set(SETTINGS.map((s) => s.key));
  const prefixes = new Set(SETTINGS.flatMap((s) => s.key.split('.').map((_, i, a) => a.slice(0, i + 1).join('.'))));
  checkUnknown(doc, '', known, prefixes, file);
  const cfg = emptyConfig();
  for (const s of SETTINGS) {
    const raw = lookup(doc, s.key);
    assign(cfg, s.key, convert(s, raw === undefined ? s.default : raw, file));
  }
  return cfg;
}

function checkUnknown(
  node: Record<string, unknown>,
  path: string,
  known: Set<string>,
  prefixes: Set<string>,
  file: string,
) {
  for (const [k, v] of Object.entries(node)) {
    const p = path ? `${path}.${k}` : k;
    if (known.has(p)) continue;
    if (prefixes.has(p) && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      checkUnknown(v as Record<string, unknown>, p, known, prefixes, file);
      continue;
    }
    const near = nearest(p, [...known]);
    throw new ConfigError(file, p, `unknown setting${near ? `; did you mean ${near}?` : ''}`);
  }
}

/**
 * Put a setting's value where the Config keeps it: the YAML key in camelCase
 * (`store.retention.rollup_1m` → `store.retention.rollup1m`). A test checks every key lands on a
 * property emptyConfig() has, so a key and its field cannot drift apart.
 */
export function configPath(key: string): string[] {
  return key.split('.').map((part) => part.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()));
}

function assign(cfg: Config, key: string, value: unknown): void {
  const path = configPath(key);
  let node = cfg as unknown as Record<string, unknown>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (!(last in node)) throw new Error(`config: setting ${key} has no field ${path.join('.')}`);
  node[last] = value;
}

function lookup(doc: Record<string, unknown>, key: string): unknown {
  let node: unknown = doc;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function convert(s: Setting, v: unknown, file: string): unknown {
  const bad = (what: string) => new ConfigError(file, s.key, `${what} (got ${JSON.stringify(v)})`);
  switch (s.kind) {
    case 'string':
      if (typeof v !== 'string') throw bad('expected a string');
      return v;
    case 'level':
      if (typeof v !== 'string' || !LEVELS.includes(v)) throw bad(`expected one of ${LEVELS.join(', ')}`);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad('expected a positive whole number');
      return v;
    case 'size': {
      const n = parseSize(v as string | number);
      if (n === null) throw bad('expected a size such as 4MiB or 65536');
      return n;
    }
    case 'duration': {
      const n = typeof v === 'string' ? parseDuration(v) : null;
      if (n === null || n <= 0) throw bad('expected a duration such as 500ms, 30s, 5m, 1h or 7d');
      return n;
    }
    case 'exporters': {
      const doc = typeof v === 'string' ? {} : v;
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
        throw bad('expected a mapping of exporter address to settings');
      const out = new Map<string, ExporterSetting>();
      for (const [addr, raw] of Object.entries(doc as Record<string, unknown>)) {
        const key = `${s.key}.${addr}`;
        if (parseAddr(addr) === null) throw new ConfigError(file, key, 'expected an IP address as the key');
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
          throw new ConfigError(file, key, 'expected a mapping (name, sampling_rate, max_flows_per_second)');
        const setting: ExporterSetting = {};
        for (const [k, val] of Object.entries(raw as Record<string, unknown>)) {
          const positive = () => {
            if (typeof val !== 'number' || !Number.isInteger(val) || val <= 0)
              throw new ConfigError(
                file,
                `${key}.${k}`,
                `expected a positive whole number (got ${JSON.stringify(val)})`,
              );
            return val;
          };
          if (k === 'name') {
            if (typeof val !== 'string' || !val) throw new ConfigError(file, `${key}.${k}`, 'expected a name');
            setting.name = val;
          } else if (k === 'sampling_rate') setting.samplingRate = positive();
          else if (k === 'max_flows_per_second') setting.maxFlowsPerSecond = positive();
          else {
            const near = nearest(k, ['name', 'sampling_rate', 'max_flows_per_second']);
            throw new ConfigError(file, `${key}.${k}`, `unknown setting${near ? `; did you mean ${near}?` : ''}`);
          }
        }
        // Exporters are matched by their address text as the receiver reports it.
        out.set(formatAddrWords(parseAddr(addr) as Uint32Array, 0), setting);
      }
      return out;
    }
    case 'bool':
      if (v === true || v === 'true') return true;
      if (v === false || v === 'false') return false;
      throw bad('expected true or false');
    case 'seed':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535)
        throw bad('expected a whole number from 0 to 65535');
      return v;
    case 'forward': {
      const list = typeof v === 'string' ? [] : v;
      if (!Array.isArray(list)) throw bad('expected a list of targets');
      return list.map((item, i) => forwardTarget(item, `${s.key}[${i}]`, file));
    }
    case 'inputs': {
      const list = typeof v === 'string' ? [] : v;
      if (!Array.isArray(list)) throw bad('expected a list of inputs');
      return list.map((item, i) => {
        try {
          return parseInputSetting(item, `${s.key}[${i}]`);
        } catch (e) {
          throw new ConfigError(file, '', (e as Error).message);
        }
      });
    }
    case 'tokens': {
      const list = typeof v === 'string' ? [] : v;
      if (!Array.isArray(list)) throw bad('expected a list of {name, token}');
      return list.map((item, i) => {
        const key = `${s.key}[${i}]`;
        const t = item as { name?: unknown; token?: unknown };
        if (typeof item !== 'object' || item === null || Array.isArray(item))
          throw new ConfigError(file, key, 'expected a mapping with name and token');
        for (const k of Object.keys(item))
          if (k !== 'name' && k !== 'token')
            throw new ConfigError(file, `${key}.${k}`, 'unknown setting (name, token)');
        if (typeof t.name !== 'string' || !t.name) throw new ConfigError(file, `${key}.name`, 'expected a name');
        // Short tokens can be guessed; 16 characters is the least a random token should have.
        if (typeof t.token !== 'string' || t.token.length < 16)
          throw new ConfigError(file, `${key}.token`, 'expected a token of at least 16 characters');
        return { name: t.name, token: t.token };
      });
    }
    case 'paths': {
      const list = v === '[]' ? [] : typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === ''))
        throw bad('expected a file path or a list of them');
      return list;
    }
    case 'cidrs': {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list)) throw bad('expected a CIDR or a list of them');
      list.forEach((c, i) => {
        const r = typeof c === 'string' ? parseCidr(c) : 'not a string';
        if (typeof r === 'string') throw new ConfigError(file, `${s.key}[${i}]`, `${r} (got ${JSON.stringify(c)})`);
      });
      return list;
    }
    case 'feeds': {
      const list = typeof v === 'string' ? [] : v;
      if (!Array.isArray(list)) throw bad('expected a list of feeds');
      return list.map((item, i) => feedSpec(item, `${s.key}[${i}]`, file));
    }
    case 'addrs': {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list)) throw bad('expected host:port or a list of them');
      for (const a of list) if (typeof a !== 'string' || splitHostPort(a) === null) throw bad(`bad host:port ${a}`);
      return list;
    }
  }
}

const FEED_FORMATS: readonly FeedFormat[] = ['list', 'csv', 'spamhaus', 'stix', 'misp', 'misp-freetext'];
const FEED_KEYS = [
  'name',
  'file',
  'url',
  'format',
  'refresh',
  'confidence',
  'column',
  'confidence_column',
  'delimiter',
];

function feedSpec(item: unknown, key: string, file: string): FeedSpec {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new ConfigError(file, key, 'expected a mapping with name, file or url, and format');
  const o = item as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!FEED_KEYS.includes(k)) {
      const near = nearest(k, FEED_KEYS);
      throw new ConfigError(file, `${key}.${k}`, `unknown setting${near ? `; did you mean ${near}?` : ''}`);
    }
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(o.name))
    throw new ConfigError(file, `${key}.name`, 'expected a feed name (letters, digits, . _ -)');
  const loc = o.url ?? o.file;
  if ((o.url === undefined) === (o.file === undefined) || typeof loc !== 'string' || loc === '')
    throw new ConfigError(file, key, 'expected exactly one of `file` or `url`');
  if (o.url !== undefined && !/^https?:\/\/./.test(loc))
    throw new ConfigError(file, `${key}.url`, 'expected an http(s) URL');
  if (typeof o.format !== 'string' || !(FEED_FORMATS as readonly string[]).includes(o.format))
    throw new ConfigError(file, `${key}.format`, `expected one of ${FEED_FORMATS.join(', ')}`);
  const spec: FeedSpec = { name: o.name, location: loc, format: o.format as FeedSpec['format'] };
  if (o.refresh !== undefined) {
    const ms = typeof o.refresh === 'string' ? parseDuration(o.refresh) : null;
    if (ms === null || ms < 1000) throw new ConfigError(file, `${key}.refresh`, 'expected a duration of 1s or more');
    spec.refreshSeconds = ms / 1000;
  }
  if (o.confidence !== undefined) {
    const c = o.confidence;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 100)
      throw new ConfigError(file, `${key}.confidence`, 'expected a whole number from 0 to 100');
    spec.confidence = c;
  }
  for (const [k, field] of [
    ['column', 'column'],
    ['confidence_column', 'confidenceColumn'],
  ] as const) {
    const c = o[k];
    if (c === undefined) continue;
    if (typeof c !== 'string' && !(typeof c === 'number' && Number.isInteger(c) && c > 0))
      throw new ConfigError(file, `${key}.${k}`, 'expected a header name or a column number from 1');
    spec[field] = c;
  }
  if (o.delimiter !== undefined) {
    if (typeof o.delimiter !== 'string' || o.delimiter.length !== 1)
      throw new ConfigError(file, `${key}.delimiter`, 'expected one character');
    spec.delimiter = o.delimiter;
  }
  return spec;
}

function forwardTarget(item: unknown, key: string, file: string): ForwarderOptions {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new ConfigError(file, key, 'expected a mapping with `to` and optional `filter`');
  const o = item as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['to', 'filter', 'observation_domain', 'headers', 'times'].includes(k)) {
      const near = nearest(k, ['to', 'filter', 'observation_domain', 'headers', 'times']);
      throw new ConfigError(file, `${key}.${k}`, `unknown setting${near ? `; did you mean ${near}?` : ''}`);
    }
  let filter: string | undefined;
  if (o.filter !== undefined) {
    if (typeof o.filter !== 'string') throw new ConfigError(file, `${key}.filter`, 'expected a filter expression');
    try {
      parseFilter(o.filter);
    } catch (e) {
      throw new ConfigError(file, `${key}.filter`, (e as Error).message);
    }
    filter = o.filter;
  }
  const domain = o.observation_domain;
  if (
    domain !== undefined &&
    (typeof domain !== 'number' || !Number.isInteger(domain) || domain < 0 || domain > 0xffffffff)
  )
    throw new ConfigError(file, `${key}.observation_domain`, 'expected a whole number from 0 to 4294967295');
  const to = typeof o.to === 'string' ? o.to : '';
  const m = /^(udp|tcp):\/\/(.+)$/.exec(to);
  if (m) {
    const hp = splitHostPort(m[2]);
    if (!hp || hp.port === 0) throw new ConfigError(file, `${key}.to`, `bad host:port in ${to}`);
    const common = { host: hp.host, port: hp.port, observationDomain: domain as number | undefined };
    return { filter, target: m[1] === 'udp' ? { kind: 'ipfix-udp', ...common } : { kind: 'ipfix-tcp', ...common } };
  }
  if (/^https?:\/\/./.test(to)) {
    const headers = o.headers;
    if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers)))
      throw new ConfigError(file, `${key}.headers`, 'expected a mapping of header names to values');
    if (o.times !== undefined && o.times !== 'iso' && o.times !== 'ms')
      throw new ConfigError(file, `${key}.times`, 'expected iso or ms');
    return {
      filter,
      target: {
        kind: 'ndjson-http',
        url: to,
        headers: headers as Record<string, string> | undefined,
        times: o.times as 'iso' | 'ms' | undefined,
      },
    };
  }
  throw new ConfigError(file, `${key}.to`, 'expected udp://HOST:PORT, tcp://HOST:PORT or an http(s) URL');
}

/** "127.0.0.1:2055", "[::1]:2055", ":2055" → host and port; null when malformed. */
export function splitHostPort(a: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(a);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** Markdown table of every setting and its default (for the README). */
export function configReference(): string {
  const rows = SETTINGS.map(
    (s) =>
      `| \`${s.key}\` | ${Array.isArray(s.default) ? s.default.map((d) => `\`${d}\``).join(', ') : `\`${s.default}\``} | ${s.description} |`,
  );
  return ['| key | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
