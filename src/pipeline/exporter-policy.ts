// Per-exporter settings applied to decoded batches before they are stored (issue 3 part 5):
// a name (filled into exporter_name), a default sampling rate for exporters that never export
// one, and a flow-rate limit. The limit keeps totals right: over the limit, one flow in k is kept
// and its sampling_rate is multiplied by k, so bytes × sampling_rate still estimates the traffic
// (what a sampling router does, applied after the fact). k follows the exporter's rate over the
// previous second.

import { C } from '../schema/columns.js';
import type { ExporterCounters } from './counters.js';
import type { FlowBatch, StringDict } from './flow-batch.js';

export interface ExporterSetting {
  name?: string;
  samplingRate?: number;
  maxFlowsPerSecond?: number;
}

interface LimitState {
  windowStart: number;
  seen: number;
  k: number;
  phase: number;
}

export class ExporterPolicy {
  private readonly limits = new Map<string, LimitState>();
  private keep = new Uint8Array(0);

  constructor(
    private readonly settings: ReadonlyMap<string, ExporterSetting>,
    private readonly counters?: ExporterCounters,
    private readonly now: () => number = Date.now,
  ) {}

  get empty(): boolean {
    return this.settings.size === 0;
  }

  /** Apply the settings to every row of `batch`, in place. */
  apply(batch: FlowBatch): void {
    if (this.settings.size === 0 || batch.length === 0) return;
    const exporters = batch.strings[C.exporter] as StringDict;
    const codes = batch.data[C.exporter] as Uint32Array;
    // settings by dictionary code, resolved once per batch
    const byCode: (ExporterSetting | undefined)[] = exporters.values.map((e) => this.settings.get(e));
    if (!byCode.some((x) => x !== undefined)) return;
    const n = batch.length;
    if (this.keep.length < n) this.keep = new Uint8Array(batch.capacity);
    const keep = this.keep;
    keep.fill(1, 0, n);
    let dropped = 0;
    const rate = batch.data[C.sampling_rate];
    const rateValid = batch.valid[C.sampling_rate];
    const nameCol = C.exporter_name;
    const t = this.now();
    for (let r = 0; r < n; r++) {
      const s = byCode[codes[r]];
      if (s === undefined) continue;
      if (s.name !== undefined) batch.setString(nameCol, r, s.name);
      if (s.samplingRate !== undefined && (rateValid[r] === 0 || rate[r] === 0)) {
        rate[r] = s.samplingRate;
        rateValid[r] = 1;
      }
      if (s.maxFlowsPerSecond !== undefined) {
        const e = exporters.values[codes[r]];
        const k = this.divisor(e, s.maxFlowsPerSecond, t);
        if (k > 1) {
          const st = this.limits.get(e) as LimitState;
          st.phase = (st.phase + 1) % k;
          if (st.phase !== 0) {
            keep[r] = 0;
            dropped++;
            this.counters?.add(e, 'rate_limited');
            continue;
          }
          rate[r] = (rateValid[r] === 1 && rate[r] > 0 ? rate[r] : 1) * k;
          rateValid[r] = 1;
        }
      }
    }
    if (dropped > 0) batch.retainRows(keep);
  }

  /** The keep-one-in-k divisor for `exporter` now, counting this flow. */
  private divisor(exporter: string, limit: number, t: number): number {
    let st = this.limits.get(exporter);
    if (st === undefined) {
      st = { windowStart: t, seen: 0, k: 1, phase: 0 };
      this.limits.set(exporter, st);
    }
    if (t - st.windowStart >= 1000) {
      const perSecond = (st.seen * 1000) / (t - st.windowStart);
      st.k = perSecond > limit ? Math.ceil(perSecond / limit) : 1;
      st.windowStart = t;
      st.seen = 0;
    }
    st.seen++;
    return st.k;
  }
}
