// Per-exporter counters by reason (DESIGN principle 4: every drop has a reason and a counter).
// Plain maps of numbers: cheap to bump on the hot path, snapshotted for /metrics and `stats`.

export type CounterName =
  // what arrived and what it became
  | 'packets' // export packets / datagrams received
  | 'bytes_received' // payload bytes received
  | 'flows' // flow records decoded into a FlowBatch
  | 'templates' // template records learned
  | 'options_records' // options data records decoded
  // losses, each with its reason
  | 'kernel_drops' // socket receive-buffer drops reported by the kernel (/proc/net/udp)
  | 'queue_drops' // datagrams dropped because the receive→decode queue was full
  | 'sequence_lost' // flows (v9: packets) missing according to export sequence numbers
  | 'template_missing' // data sets dropped because their template never arrived in time
  | 'template_pending' // data sets held while waiting for their template
  | 'malformed' // records or packets that could not be parsed
  | 'unsupported' // valid input of a version/kind flowwatch does not decode
  | 'store_errors' // flows that could not be stored
  | 'agent_drops' // samples an sFlow agent dropped itself (its own "drops" field)
  | 'datagrams_lost' // sFlow datagrams missing by their sequence numbers (loss already counted as flows in sequence_lost)
  | 'rate_limited'; // flows left out by an exporter's flow-rate limit (kept flows carry a scaled sampling rate)

export class ExporterCounters {
  private readonly byExporter = new Map<string, Map<CounterName, number>>();

  add(exporter: string, name: CounterName, n = 1): void {
    let m = this.byExporter.get(exporter);
    if (m === undefined) {
      m = new Map();
      this.byExporter.set(exporter, m);
    }
    m.set(name, (m.get(name) ?? 0) + n);
  }

  get(exporter: string, name: CounterName): number {
    return this.byExporter.get(exporter)?.get(name) ?? 0;
  }

  total(name: CounterName): number {
    let t = 0;
    for (const m of this.byExporter.values()) t += m.get(name) ?? 0;
    return t;
  }

  exporters(): string[] {
    return [...this.byExporter.keys()].sort();
  }

  snapshot(): Record<string, Partial<Record<CounterName, number>>> {
    const out: Record<string, Partial<Record<CounterName, number>>> = {};
    for (const [e, m] of this.byExporter) out[e] = Object.fromEntries(m);
    return out;
  }
}

/** What each counter gained since the previous call: what a coverage series records per minute. */
export class CounterDeltas {
  private last: Record<string, Partial<Record<CounterName, number>>> = {};

  take(current: Record<string, Partial<Record<CounterName, number>>>): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [exporter, m] of Object.entries(current)) {
      const prev = this.last[exporter] ?? {};
      for (const [name, v] of Object.entries(m) as [CounterName, number][]) {
        const d = v - (prev[name] ?? 0);
        if (d === 0) continue;
        out[exporter] ??= {};
        out[exporter][name] = d;
      }
    }
    this.last = structuredClone(current);
    return out;
  }
}
