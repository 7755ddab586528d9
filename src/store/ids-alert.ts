// The IDS alert records of the store contract (FlowStore.appendIdsAlerts / idsAlerts /
// idsAlertsWithFlows). They live beside the interface so that the contract depends on neither a
// parser (Suricata eve, which produces IdsAlert) nor an implementation (DuckDB, which answers
// AlertWithFlow).

/** One IDS alert (Suricata eve `alert` event). Addresses are text (RFC 5952 for IPv6); absent numbers are null. */
export interface IdsAlert {
  /** Event timestamp, UTC ms. */
  time: number;
  /** flow_id exactly as written (decimal digits), '' when the event has none. */
  flowId: string;
  communityId: string;
  srcAddr: string;
  dstAddr: string;
  srcPort: number | null;
  dstPort: number | null;
  proto: number | null;
  signatureId: number;
  signature: string;
  category: string;
  severity: number | null;
  /** alert.action as written: allowed, blocked. */
  action: string;
  /** host (sensor-name), else in_iface, else 'eve'. */
  sensor: string;
  appProto: string;
  /** `${file}:${line}`. */
  source: string;
}

/** An IDS alert with one flow of its connection (same Community ID or 5-tuple, around the alert time). */
export interface AlertWithFlow {
  alert: IdsAlert;
  flow: {
    timeStart: number;
    timeEnd: number;
    srcAddr: string;
    dstAddr: string;
    srcPort: number | null;
    dstPort: number | null;
    proto: number | null;
    bytes: number | null;
    packets: number | null;
    revBytes: number | null;
    revPackets: number | null;
    exporter: string;
    communityId: string;
  };
}
