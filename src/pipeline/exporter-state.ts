// What flowwatch knows about each exporter, as stored in the `exporters` table and shown by
// `flowwatch stats`: the decoder's inventory of every observation domain (templates, sampling)
// and the counters by reason, so a stopped store still says how complete its flows are.

import type { ExporterInventory } from '../ingest/netflow/decoder.js';
import type { SFlowAgentInventory } from '../ingest/sflow/decoder.js';
import type { CounterName, ExporterCounters } from './counters.js';

export interface ExporterState {
  exporter: string;
  updatedMs: number;
  domains: ExporterInventory[];
  /** sFlow agents: sub-agents, datagram sequence, datagrams and samples lost. */
  sflow?: SFlowAgentInventory;
  counters: Partial<Record<CounterName, number>>;
}

/**
 * One state per exporter. `previous` holds the stored counters of earlier runs, so totals stay
 * totals across restarts (counters in memory start at zero with each process).
 */
export function exporterStates(
  inventory: readonly ExporterInventory[],
  counters: ExporterCounters,
  previous: Record<string, unknown> = {},
  nowMs = Date.now(),
  sflow: readonly SFlowAgentInventory[] = [],
): ExporterState[] {
  const byExporter = new Map<string, ExporterState>();
  const snap = counters.snapshot();
  const get = (exporter: string) => {
    let s = byExporter.get(exporter);
    if (!s) {
      const prev = (previous[exporter] as Partial<ExporterState> | undefined)?.counters ?? {};
      const now = snap[exporter] ?? {};
      const merged: Partial<Record<CounterName, number>> = { ...prev };
      for (const [k, v] of Object.entries(now) as [CounterName, number][]) merged[k] = (merged[k] ?? 0) + v;
      s = { exporter, updatedMs: nowMs, domains: [], counters: merged };
      byExporter.set(exporter, s);
    }
    return s;
  };
  for (const inv of inventory) get(inv.exporter).domains.push(inv);
  for (const a of sflow) get(a.agent).sflow = a;
  for (const e of counters.exporters()) get(e);
  return [...byExporter.values()].sort((a, b) => (a.exporter < b.exporter ? -1 : 1));
}
