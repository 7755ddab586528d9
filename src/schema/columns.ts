// The one declaration of the flow record (DESIGN §3, schema v1).
//
// Everything else derives from this list: the FlowBatch layout, the DuckDB DDL, the filter
// language's fields, the CLI's columns and the JSON output. To add a column, add it here (and bump
// SCHEMA_VERSION with a migration in the store); nothing else should need retyping.

export const SCHEMA_VERSION = 1;

/** Storage/logic type of a column. */
export type ColumnType =
  | 'time' // UTC milliseconds since the epoch
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64' // counters; exact up to 2^53 in a FlowBatch
  | 'addr' // IPv4 or IPv6 address (IPv4 kept as IPv4-mapped IPv6 internally)
  | 'mac' // 48-bit MAC address
  | 'bool'
  | 'enum' // one of a fixed list of names, stored as its index
  | 'string' // free text, dictionary-encoded per batch
  | 'list'; // list of strings (tags, feed names), dictionary-encoded per batch

export type SourceType =
  | 'netflow5'
  | 'netflow9'
  | 'ipfix'
  | 'sflow'
  | 'aws_vpc'
  | 'azure_nsg'
  | 'azure_vnet'
  | 'gcp_vpc'
  | 'oci_vcn'
  | 'zeek'
  | 'suricata'
  | 'pcap'
  | 'agent'
  | 'http';

export const SOURCE_TYPES: readonly SourceType[] = [
  'netflow5',
  'netflow9',
  'ipfix',
  'sflow',
  'aws_vpc',
  'azure_nsg',
  'azure_vnet',
  'gcp_vpc',
  'oci_vcn',
  'zeek',
  'suricata',
  'pcap',
  'agent',
  'http',
];

const FLOW_EXPORT: SourceType[] = ['netflow5', 'netflow9', 'ipfix', 'sflow'];
const CLOUD: SourceType[] = ['aws_vpc', 'azure_nsg', 'azure_vnet', 'gcp_vpc', 'oci_vcn'];
const ALL: SourceType[] = [...SOURCE_TYPES];
const ENRICH: SourceType[] = []; // filled by enrichment, not by a source
// HTTP ingest (log shippers) relays what some source produced: every column a source fills lists
// 'http', except the enrichment ones and exporter_name (the server's configuration names exporters).
const RELAYED_EXPORT: SourceType[] = [...FLOW_EXPORT, 'http'];

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** Group in DESIGN §3. */
  readonly group: string;
  /**
   * Sources that fill this column (empty: filled by enrichment only). HTTP ingest takes a column
   * only from a producer listed here: agent batches 'agent', NDJSON 'http' (src/api/ingest.ts).
   */
  readonly sources: readonly SourceType[];
  /** Names for enum values; index 0 is the "unknown"/absent value. */
  readonly enumValues?: readonly string[];
  /**
   * Filter-language keyword. For src_/dst_ pairs the keyword is shared ("port" → src_port or
   * dst_port, with `src`/`dst`/`any` prefixes); otherwise the column name itself is always accepted.
   */
  readonly keyword?: string;
  /** Extra keywords accepted for this column (nfdump/tcpdump habits: "ip", "host", "net"). */
  readonly aliases?: readonly string[];
  /** Column shown by default in `flowwatch query` output. */
  readonly show?: boolean;
}

function pair(
  base: string,
  type: ColumnType,
  description: string,
  group: string,
  sources: readonly SourceType[],
  extra: Partial<ColumnDef> = {},
): ColumnDef[] {
  return (['src', 'dst'] as const).map((side) => ({
    name: `${side}_${base}`,
    type,
    description: `${description} (${side === 'src' ? 'source' : 'destination'})`,
    group,
    sources,
    keyword: extra.keyword ?? base,
    ...extra,
  }));
}

export const PROTOCOL_NAMES: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmp6: 58,
  ipv6icmp: 58,
  ospf: 89,
  sctp: 132,
};

export const ACTIONS = ['unknown', 'accept', 'reject'] as const;
export const FLOW_STATES = ['unknown', 'start', 'continue', 'end'] as const;
export const DIRECTIONS = ['unknown', 'ingress', 'egress', 'internal', 'external'] as const;
// RFC 5102 flowEndReason (1..5) plus "unknown" at 0.
export const END_REASONS = ['unknown', 'idle', 'active', 'end', 'forced', 'resources'] as const;

const DECLARED: ColumnDef[] = [
  // time
  {
    name: 'time_start',
    type: 'time',
    description: 'first packet of the flow',
    group: 'time',
    sources: ALL,
    show: true,
  },
  { name: 'time_end', type: 'time', description: 'last packet of the flow', group: 'time', sources: ALL },
  {
    name: 'time_received',
    type: 'time',
    description: 'when flowwatch received the record',
    group: 'time',
    sources: ALL,
  },
  // origin
  {
    name: 'source_type',
    type: 'enum',
    description: 'kind of source that produced the record',
    group: 'origin',
    sources: ALL,
    enumValues: ['unknown', ...SOURCE_TYPES],
  },
  {
    name: 'exporter',
    type: 'string',
    description: 'exporter address or log source id',
    group: 'origin',
    sources: ALL,
    show: true,
  },
  {
    name: 'exporter_name',
    type: 'string',
    description: 'name given to the exporter in the configuration (exporters.ADDRESS.name)',
    group: 'origin',
    sources: ['agent'], // and enrichment; an agent names itself (its host id)
  },
  {
    name: 'observation_domain',
    type: 'u32',
    description: 'IPFIX observation domain / NetFlow v9 source id',
    group: 'origin',
    sources: ['netflow9', 'ipfix', 'sflow', 'http'],
  },
  { name: 'in_if', type: 'u32', description: 'input interface index', group: 'origin', sources: RELAYED_EXPORT },
  { name: 'out_if', type: 'u32', description: 'output interface index', group: 'origin', sources: RELAYED_EXPORT },
  {
    name: 'sampling_rate',
    type: 'u32',
    description: '1-in-N packet sampling rate in force for this flow (1 or absent: unsampled)',
    group: 'origin',
    sources: RELAYED_EXPORT,
  },
  {
    name: 'sequence',
    type: 'u64',
    description: 'export packet sequence number',
    group: 'origin',
    sources: RELAYED_EXPORT,
  },
  // 5-tuple
  ...pair('addr', 'addr', 'IP address', '5-tuple', ALL, { show: true, aliases: ['ip', 'host', 'net'] }),
  ...pair('port', 'u16', 'transport port', '5-tuple', ALL, { show: true }),
  {
    name: 'proto',
    type: 'u8',
    description: 'IP protocol number (names accepted: tcp, udp, icmp, …)',
    group: '5-tuple',
    sources: ALL,
    show: true,
  },
  { name: 'icmp_type', type: 'u8', description: 'ICMP type', group: '5-tuple', sources: ALL },
  { name: 'icmp_code', type: 'u8', description: 'ICMP code', group: '5-tuple', sources: ALL },
  // counters
  {
    name: 'bytes',
    type: 'u64',
    description: 'bytes, as exported (multiply by sampling_rate for an estimate)',
    group: 'counters',
    sources: ALL,
    show: true,
  },
  {
    name: 'packets',
    type: 'u64',
    description: 'packets, as exported',
    group: 'counters',
    sources: ALL,
    show: true,
  },
  {
    name: 'rev_bytes',
    type: 'u64',
    description: 'bytes in the reverse direction (bidirectional sources)',
    group: 'counters',
    sources: ['ipfix', 'aws_vpc', 'azure_nsg', 'azure_vnet', 'gcp_vpc', 'zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  {
    name: 'rev_packets',
    type: 'u64',
    description: 'packets in the reverse direction (bidirectional sources)',
    group: 'counters',
    sources: ['ipfix', 'azure_nsg', 'azure_vnet', 'gcp_vpc', 'zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  // TCP/IP
  {
    name: 'tcp_flags',
    type: 'u16',
    description: 'OR of the TCP flags of all packets',
    group: 'TCP/IP',
    sources: ALL,
    aliases: ['flags'],
  },
  { name: 'tos', type: 'u8', description: 'IP type of service / traffic class', group: 'TCP/IP', sources: ALL },
  { name: 'ip_version', type: 'u8', description: 'IP version (4 or 6)', group: 'TCP/IP', sources: ALL },
  // verdict
  {
    name: 'action',
    type: 'enum',
    description: 'firewall/security-group verdict',
    group: 'verdict',
    sources: [...CLOUD, 'netflow9', 'ipfix', 'sflow', 'zeek', 'suricata', 'http'],
    enumValues: ACTIONS,
  },
  {
    name: 'flow_state',
    type: 'enum',
    description: 'lifecycle state of the record',
    group: 'verdict',
    sources: [...CLOUD, 'netflow9', 'ipfix', 'zeek', 'suricata', 'pcap', 'agent', 'http'],
    enumValues: FLOW_STATES,
  },
  {
    name: 'end_reason',
    type: 'enum',
    description: 'why the flow record was closed (RFC 5102 flowEndReason)',
    group: 'verdict',
    sources: ['ipfix', 'netflow9', 'pcap', 'agent', 'http'],
    enumValues: END_REASONS,
  },
  // direction
  {
    name: 'direction',
    type: 'enum',
    description: 'direction relative to the organisation networks',
    group: 'direction',
    sources: ENRICH,
    enumValues: DIRECTIONS,
  },
  {
    name: 'biflow',
    type: 'bool',
    description: 'the record describes both directions',
    group: 'direction',
    sources: ['ipfix', ...CLOUD, 'zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  // cloud / host context
  {
    name: 'account_id',
    type: 'string',
    description: 'cloud account / subscription',
    group: 'cloud',
    sources: [...CLOUD, 'agent', 'http'],
  },
  { name: 'region', type: 'string', description: 'cloud region', group: 'cloud', sources: [...CLOUD, 'agent', 'http'] },
  {
    name: 'zone',
    type: 'string',
    description: 'availability zone',
    group: 'cloud',
    sources: [...CLOUD, 'agent', 'http'],
  },
  { name: 'vpc_id', type: 'string', description: 'VPC / VNet / VCN id', group: 'cloud', sources: [...CLOUD, 'http'] },
  { name: 'subnet_id', type: 'string', description: 'subnet id', group: 'cloud', sources: [...CLOUD, 'http'] },
  {
    name: 'instance_id',
    type: 'string',
    description: 'VM / instance id of the observing host',
    group: 'cloud',
    sources: [...CLOUD, 'agent', 'http'],
  },
  {
    name: 'interface_id',
    type: 'string',
    description: 'network interface id',
    group: 'cloud',
    sources: [...CLOUD, 'http'],
  },
  {
    name: 'pkt_src_addr',
    type: 'addr',
    description: 'packet-level source address (before NAT / as seen on the wire)',
    group: 'cloud',
    sources: ['aws_vpc', 'netflow9', 'ipfix', 'sflow', 'http'],
  },
  {
    name: 'pkt_dst_addr',
    type: 'addr',
    description: 'packet-level destination address (before NAT / as seen on the wire)',
    group: 'cloud',
    sources: ['aws_vpc', 'netflow9', 'ipfix', 'sflow', 'http'],
  },
  {
    name: 'traffic_path',
    type: 'string',
    description: 'cloud egress path',
    group: 'cloud',
    sources: ['aws_vpc', 'http'],
  },
  // routing (exported by routers; nfdump users expect these)
  {
    name: 'next_hop',
    type: 'addr',
    description: 'IP next hop',
    group: 'routing',
    sources: RELAYED_EXPORT,
    aliases: ['nexthop'],
  },
  ...pair('mask', 'u8', 'prefix length of the route', 'routing', RELAYED_EXPORT),
  // L2
  ...pair('mac', 'mac', 'MAC address', 'L2', [...FLOW_EXPORT, 'pcap', 'agent', 'http']),
  {
    name: 'vlan',
    type: 'u16',
    description: '802.1Q VLAN id',
    group: 'L2',
    sources: [...FLOW_EXPORT, 'pcap', 'agent', 'http'],
  },
  // application
  {
    name: 'app',
    type: 'string',
    description: 'application (L7) label',
    group: 'application',
    sources: ['netflow9', 'ipfix', 'zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  {
    name: 'dns_qname',
    type: 'string',
    description: 'DNS query name',
    group: 'application',
    sources: ['zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  {
    name: 'tls_sni',
    type: 'string',
    description: 'TLS server name indication',
    group: 'application',
    sources: ['zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  {
    name: 'http_host',
    type: 'string',
    description: 'HTTP Host header',
    group: 'application',
    sources: ['zeek', 'suricata', 'pcap', 'agent', 'http'],
  },
  {
    name: 'community_id',
    type: 'string',
    description: 'Community ID v1 of the 5-tuple',
    group: 'application',
    sources: ALL,
  },
  // enrichment
  ...pair('host', 'string', 'asset name', 'enrichment', ENRICH, { keyword: 'hostname' }),
  ...pair('vm_id', 'string', 'VM / instance id of the asset', 'enrichment', ENRICH),
  ...pair('owner', 'string', 'owner of the asset', 'enrichment', ENRICH),
  ...pair('account', 'string', 'cloud account / subscription of the asset', 'enrichment', ENRICH),
  ...pair('env', 'string', 'environment of the asset (prod, staging, ...)', 'enrichment', ENRICH, {
    aliases: ['environment'],
  }),
  ...pair('asset_type', 'string', 'asset type / instance SKU', 'enrichment', ENRICH),
  ...pair('range', 'string', 'name of the most specific known IP range', 'enrichment', ENRICH),
  ...pair('tags', 'list', 'tags of the asset and address range', 'enrichment', ENRICH, { aliases: ['tag'] }),
  ...pair('segment', 'string', 'network segment', 'enrichment', ENRICH),
  ...pair('country', 'string', 'ISO country code', 'enrichment', ENRICH),
  ...pair('asn', 'u32', 'autonomous system number', 'enrichment', RELAYED_EXPORT, { aliases: ['as'] }),
  ...pair('as_name', 'string', 'autonomous system organisation', 'enrichment', ENRICH),
  ...pair('service', 'string', 'IANA service name of the port', 'enrichment', ENRICH),
  // intel
  {
    name: 'ti_feeds',
    type: 'list',
    description: 'threat-intel feeds that matched',
    group: 'intel',
    sources: ENRICH,
    aliases: ['ti'], // `ti` alone: any feed matched
  },
  { name: 'ti_indicator', type: 'string', description: 'indicator that matched', group: 'intel', sources: ENRICH },
  {
    name: 'ti_confidence',
    type: 'u8',
    description: 'confidence of the matched indicator (0-100)',
    group: 'intel',
    sources: ENRICH,
  },
  // tenancy
  { name: 'tenant', type: 'string', description: 'tenant the flow belongs to', group: 'tenancy', sources: ENRICH },
];

/** Columns added at run time (tests, plugins) before any batch is created. */
const EXTRA: ColumnDef[] = [];

export function allColumns(): readonly ColumnDef[] {
  return EXTRA.length ? [...DECLARED, ...EXTRA] : DECLARED;
}

/**
 * Declare an extra column. Only meant for tests that prove a column declared in one place reaches
 * storage, the filter language and the output; must run before any FlowBatch/Store is created.
 */
export function declareColumn(def: ColumnDef): void {
  if (allColumns().some((c) => c.name === def.name)) throw new Error(`column ${def.name} already declared`);
  EXTRA.push(def);
  rebuildIndex();
}

let byName = new Map<string, number>();
function rebuildIndex(): void {
  byName = new Map(allColumns().map((c, i) => [c.name, i]));
}
rebuildIndex();

export function columnIndex(name: string): number {
  const i = byName.get(name);
  if (i === undefined) throw new Error(`unknown column ${name}`);
  return i;
}

export function findColumn(name: string): ColumnDef | undefined {
  const i = byName.get(name);
  return i === undefined ? undefined : allColumns()[i];
}

/** Column indexes of the declared schema, for hot paths: `batch.u16[C.dst_port]`. */
export const C = Object.fromEntries(DECLARED.map((c, i) => [c.name, i])) as Record<DeclaredColumnName, number>;

export type DeclaredColumnName =
  | 'time_start'
  | 'time_end'
  | 'time_received'
  | 'source_type'
  | 'exporter'
  | 'exporter_name'
  | 'observation_domain'
  | 'in_if'
  | 'out_if'
  | 'sampling_rate'
  | 'sequence'
  | 'src_addr'
  | 'dst_addr'
  | 'src_port'
  | 'dst_port'
  | 'proto'
  | 'icmp_type'
  | 'icmp_code'
  | 'bytes'
  | 'packets'
  | 'rev_bytes'
  | 'rev_packets'
  | 'tcp_flags'
  | 'tos'
  | 'ip_version'
  | 'action'
  | 'flow_state'
  | 'end_reason'
  | 'direction'
  | 'biflow'
  | 'account_id'
  | 'region'
  | 'zone'
  | 'vpc_id'
  | 'subnet_id'
  | 'instance_id'
  | 'interface_id'
  | 'pkt_src_addr'
  | 'pkt_dst_addr'
  | 'traffic_path'
  | 'next_hop'
  | 'src_mask'
  | 'dst_mask'
  | 'src_mac'
  | 'dst_mac'
  | 'vlan'
  | 'app'
  | 'dns_qname'
  | 'tls_sni'
  | 'http_host'
  | 'community_id'
  | 'src_host'
  | 'dst_host'
  | 'src_vm_id'
  | 'dst_vm_id'
  | 'src_owner'
  | 'dst_owner'
  | 'src_account'
  | 'dst_account'
  | 'src_env'
  | 'dst_env'
  | 'src_asset_type'
  | 'dst_asset_type'
  | 'src_range'
  | 'dst_range'
  | 'src_tags'
  | 'dst_tags'
  | 'src_segment'
  | 'dst_segment'
  | 'src_country'
  | 'dst_country'
  | 'src_asn'
  | 'dst_asn'
  | 'src_as_name'
  | 'dst_as_name'
  | 'src_service'
  | 'dst_service'
  | 'ti_feeds'
  | 'ti_indicator'
  | 'ti_confidence'
  | 'tenant';

export function enumCode(col: ColumnDef, name: string): number {
  const i = col.enumValues?.indexOf(name) ?? -1;
  return i;
}
