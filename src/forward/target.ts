// What every forwarding output has in common: it takes selected rows of a batch, never throws at
// the caller, and counts what it sent and — with a reason — what it could not (DESIGN principle 4).

import type { FlowBatch } from '../pipeline/flow-batch.js';

export interface ForwardCounters {
  /** Rows handed to the output. */
  rows_in: number;
  /** Rows that left the process (UDP: handed to the kernel; TCP: written; HTTP: acknowledged 2xx). */
  rows_sent: number;
  /** Messages (IPFIX) or requests (HTTP) that succeeded. */
  messages_sent: number;
  bytes_sent: number;
  /** Failed attempts: socket errors, HTTP errors and timeouts (a retried request counts each time). */
  send_errors: number;
  retries: number;
  /** Connections (re)established (TCP). */
  connects: number;
  /** Rows given up because the bounded buffer/queue was full (collector away or too slow). */
  rows_dropped_buffer_full: number;
  /** Rows given up after the last retry, or refused by the peer (HTTP 4xx). */
  rows_dropped_undeliverable: number;
  /** Rows still buffered, waiting to be sent. */
  rows_queued: number;
}

export function newForwardCounters(): ForwardCounters {
  return {
    rows_in: 0,
    rows_sent: 0,
    messages_sent: 0,
    bytes_sent: 0,
    send_errors: 0,
    retries: 0,
    connects: 0,
    rows_dropped_buffer_full: 0,
    rows_dropped_undeliverable: 0,
    rows_queued: 0,
  };
}

export interface ForwardTarget {
  /** Human-readable destination for logs (`ipfix+udp://127.0.0.1:4739`). */
  readonly name: string;
  readonly counters: ForwardCounters;
  /** Send rows[0..count) of `batch` (every row when `rows` is null). Copies what it keeps. */
  write(batch: FlowBatch, rows: Uint32Array | null, count: number): void;
  /** Send what is buffered (bounded by `timeoutMs`), then release sockets. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Exponential backoff with a ceiling: attempt 0 → base, 1 → 2·base, … */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
}
