// Forwarding (DESIGN §1, "forward"): the rows of each batch that match a filter, re-exported to
// another collector (IPFIX over UDP/TCP) or a SIEM (NDJSON over HTTP). The filter is the same
// language as everywhere else, compiled once to a row predicate; the selected row indexes go in a
// reused array, so forwarding a batch allocates nothing per flow before the output encodes it.

import { compilePredicate, type FlowPredicate, parseFilter } from '../filter/index.js';
import type { FlowBatch } from '../pipeline/flow-batch.js';
import { IpfixTcpExporter, type IpfixTcpOptions, IpfixUdpExporter, type IpfixUdpOptions } from './ipfix-exporter.js';
import { NdjsonHttpExporter, type NdjsonHttpOptions } from './ndjson-http.js';
import type { ForwardCounters, ForwardTarget } from './target.js';

export type ForwardTargetConfig =
  | ({ kind: 'ipfix-udp' } & IpfixUdpOptions)
  | ({ kind: 'ipfix-tcp' } & IpfixTcpOptions)
  | ({ kind: 'ndjson-http' } & NdjsonHttpOptions);

export interface ForwarderOptions {
  /** Filter-language expression; rows that do not match are not forwarded. Absent: every row. */
  filter?: string;
  /** Where to: a target configuration, or a ready-made target (tests, plugins). */
  target: ForwardTargetConfig | ForwardTarget;
}

export interface ForwarderCounters extends ForwardCounters {
  /** Rows offered to the forwarder, before the filter. */
  rows_seen: number;
  /** Rows the filter rejected. */
  rows_filtered_out: number;
  /** Rows the predicate threw on (a bug, counted rather than fatal). */
  rows_filter_errors: number;
}

export class Forwarder {
  readonly target: ForwardTarget;
  readonly filter: string | undefined;
  private readonly predicate: FlowPredicate | undefined;
  private selected = new Uint32Array(1024);
  private seen = 0;
  private filteredOut = 0;
  private filterErrors = 0;

  /** Throws a FilterError (with the column of the problem) when `filter` does not parse. */
  constructor(opts: ForwarderOptions) {
    this.filter = opts.filter?.trim() || undefined;
    this.predicate = this.filter === undefined ? undefined : compilePredicate(parseFilter(this.filter));
    this.target = isTarget(opts.target) ? opts.target : makeTarget(opts.target);
  }

  /** Forward the matching rows of `batch`. Never throws; the batch may be reused once it returns. */
  send(batch: FlowBatch): void {
    const n = batch.length;
    this.seen += n;
    if (n === 0) return;
    const pred = this.predicate;
    if (pred === undefined) {
      this.target.write(batch, null, n);
      return;
    }
    if (this.selected.length < n) this.selected = new Uint32Array(Math.max(n, this.selected.length * 2));
    const sel = this.selected;
    let k = 0;
    for (let r = 0; r < n; r++) {
      let ok = false;
      try {
        ok = pred(batch, r);
      } catch {
        this.filterErrors++;
      }
      if (ok) sel[k++] = r;
    }
    this.filteredOut += n - k;
    if (k > 0) this.target.write(batch, sel, k);
  }

  get counters(): ForwarderCounters {
    return {
      ...this.target.counters,
      rows_seen: this.seen,
      rows_filtered_out: this.filteredOut,
      rows_filter_errors: this.filterErrors,
    };
  }

  /** Sends what is buffered (bounded by `timeoutMs`) and closes the output. */
  stop(timeoutMs?: number): Promise<void> {
    return this.target.stop(timeoutMs);
  }
}

function isTarget(t: ForwardTargetConfig | ForwardTarget): t is ForwardTarget {
  return typeof (t as ForwardTarget).write === 'function';
}

export function makeTarget(cfg: ForwardTargetConfig): ForwardTarget {
  switch (cfg.kind) {
    case 'ipfix-udp':
      return new IpfixUdpExporter(cfg);
    case 'ipfix-tcp':
      return new IpfixTcpExporter(cfg);
    case 'ndjson-http':
      return new NdjsonHttpExporter(cfg);
  }
}
