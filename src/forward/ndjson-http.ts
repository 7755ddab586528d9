// NDJSON over HTTP(S) POST: selected rows to a SIEM or log pipeline (Elastic, Splunk HEC raw,
// Vector, Logstash http input) as one JSON object per line.
//
// Row shape, the same as `flowwatch query --format ndjson`: keys are the schema's column names,
// only non-null columns are written; addresses and MACs are text; times are ISO 8601 UTC with
// milliseconds (`times: 'ms'` gives epoch milliseconds instead); enums are their names; lists are
// arrays; counters are JSON numbers (exact up to 2^53).
//
// Delivery: one request at a time, in order. A batch becomes one body when it is handed over (the
// batch is reused by its producer), queued, and POSTed; 5xx, 408, 429 and network errors are
// retried with exponential backoff up to `maxAttempts`, then the rows are dropped and counted.
// Other 4xx mean the peer will never take this body: dropped at once. The queue is bounded in rows;
// a body that does not fit is dropped and counted (the sender never blocks the pipeline).

import { type FlowBatch, formatAddrWords, formatMac } from '../pipeline/flow-batch.js';
import type { ColumnDef } from '../schema/columns.js';
import { backoffMs, type ForwardCounters, type ForwardTarget, newForwardCounters } from './target.js';

export interface NdjsonHttpOptions {
  /** http:// or https:// URL the rows are POSTed to. */
  url: string;
  headers?: Record<string, string>;
  /** 'iso' (default): "2024-05-01T12:00:00.123Z"; 'ms': epoch milliseconds. */
  times?: 'iso' | 'ms';
  /** Rows per request at most (a larger batch is split). Default 5000. */
  maxRowsPerRequest?: number;
  /** Rows waiting to be sent at most. Default 100 000. */
  maxQueuedRows?: number;
  /** Attempts per request, the first included. Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubling per attempt. Default 500 ms, capped at `retryMaxMs` (30 s). */
  retryMs?: number;
  retryMaxMs?: number;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
}

interface Pending {
  body: string;
  rows: number;
  attempts: number;
}

export class NdjsonHttpExporter implements ForwardTarget {
  readonly name: string;
  readonly counters: ForwardCounters = newForwardCounters();
  private readonly opts: NdjsonHttpOptions;
  private readonly queue: Pending[] = [];
  private queuedRows = 0;
  private busy = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private idle: (() => void) | undefined;
  private readonly abort = new AbortController();
  private readonly iso: boolean;
  private readonly maxRows: number;

  constructor(opts: NdjsonHttpOptions) {
    const u = new URL(opts.url); // a bad URL is a configuration error: thrown at construction
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(`forward url ${opts.url}: only http and https are supported`);
    this.opts = opts;
    this.name = `ndjson+${u.protocol.slice(0, -1)}://${u.host}${u.pathname}`;
    this.iso = (opts.times ?? 'iso') === 'iso';
    this.maxRows = Math.max(1, opts.maxRowsPerRequest ?? 5000);
  }

  write(batch: FlowBatch, rows: Uint32Array | null, count: number): void {
    const n = rows === null ? batch.length : Math.min(count, rows.length);
    this.counters.rows_in += n;
    if (n === 0) return;
    if (this.stopping) {
      this.counters.rows_dropped_undeliverable += n;
      return;
    }
    const limit = this.opts.maxQueuedRows ?? 100_000;
    for (let start = 0; start < n; start += this.maxRows) {
      const end = Math.min(n, start + this.maxRows);
      if (this.queuedRows + (end - start) > limit) {
        this.counters.rows_dropped_buffer_full += end - start;
        continue;
      }
      let body = '';
      for (let i = start; i < end; i++) body += `${rowJson(batch, rows === null ? i : rows[i], this.iso)}\n`;
      this.queue.push({ body, rows: end - start, attempts: 0 });
      this.queuedRows += end - start;
    }
    this.counters.rows_queued = this.queuedRows;
    this.pump();
  }

  /** Waits up to `timeoutMs` for the queue to empty; what is left is counted undeliverable. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.busy || this.queue.length > 0) {
      // A request waiting for its retry delay goes now: stopping is the last chance.
      if (this.timer !== undefined && !this.busy) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.pump();
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    clearTimeout(this.timer);
    this.abort.abort();
    for (const p of this.queue) this.counters.rows_dropped_undeliverable += p.rows;
    this.queue.length = 0;
    this.queuedRows = 0;
    this.counters.rows_queued = 0;
  }

  private pump(): void {
    if (this.busy || this.timer !== undefined) return;
    const p = this.queue[0];
    if (p === undefined) {
      this.idle?.();
      return;
    }
    this.busy = true;
    void this.post(p).then((outcome) => {
      this.busy = false;
      if (outcome === 'retry' && p.attempts < (this.opts.maxAttempts ?? 5) && !this.abort.signal.aborted) {
        this.counters.retries++;
        const delay = this.stopping
          ? 0
          : backoffMs(p.attempts - 1, this.opts.retryMs ?? 500, this.opts.retryMaxMs ?? 30_000);
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, delay);
        return;
      }
      this.queue.shift();
      this.queuedRows -= p.rows;
      this.counters.rows_queued = this.queuedRows;
      if (outcome === 'ok') {
        this.counters.rows_sent += p.rows;
        this.counters.messages_sent++;
        this.counters.bytes_sent += Buffer.byteLength(p.body);
      } else this.counters.rows_dropped_undeliverable += p.rows;
      this.pump();
    });
  }

  private async post(p: Pending): Promise<'ok' | 'retry' | 'refused'> {
    p.attempts++;
    try {
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...this.opts.headers },
        body: p.body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]),
      });
      await res.arrayBuffer().catch(() => undefined); // free the connection for keep-alive
      if (res.ok) return 'ok';
      this.counters.send_errors++;
      return res.status >= 500 || res.status === 408 || res.status === 429 ? 'retry' : 'refused';
    } catch {
      this.counters.send_errors++;
      return 'retry';
    }
  }
}

/** One row as a JSON object text (no intermediate object: strings are escaped by JSON.stringify). */
export function rowJson(b: FlowBatch, r: number, iso: boolean): string {
  let s = '{';
  const cols = b.columns;
  for (let c = 0; c < cols.length; c++) {
    if (b.valid[c][r] === 0) continue;
    const v = valueJson(b, cols[c], c, r, iso);
    if (v === null) continue;
    s += `${s.length > 1 ? ',' : ''}"${cols[c].name}":${v}`;
  }
  return `${s}}`;
}

/** One value as JSON text (times as ISO text or ms), or null when it has no text (unknown enum). */
export function valueJson(b: FlowBatch, col: ColumnDef, c: number, r: number, iso: boolean): string | null {
  switch (col.type) {
    case 'time': {
      const ms = b.data[c][r];
      return iso ? `"${new Date(ms).toISOString()}"` : String(ms);
    }
    case 'addr':
      return `"${formatAddrWords(b.data[c] as Uint32Array, r * 4)}"`;
    case 'mac':
      return `"${formatMac(b.data[c][r])}"`;
    case 'bool':
      return b.data[c][r] ? 'true' : 'false';
    case 'enum': {
      const name = col.enumValues?.[b.data[c][r]];
      return name === undefined ? null : JSON.stringify(name);
    }
    case 'string': {
      const s = b.getString(c, r);
      return s === null ? null : JSON.stringify(s);
    }
    case 'list':
      return JSON.stringify(b.getList(c, r));
    default:
      return String(b.data[c][r]);
  }
}
