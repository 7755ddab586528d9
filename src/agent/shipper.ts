// Sends spooled batches to the server's POST /api/v1/ingest/flows, oldest first, one at a time,
// deleting each only after the server answered 200 (stored, or "duplicate": stored by an earlier
// attempt whose answer was lost). While the server is unreachable or failing (network errors,
// 5xx, 401/403 while an operator fixes a token) the batch stays and is retried with exponential
// backoff (retryMinMs doubling up to retryMaxMs, reset by the next answered batch); new batches
// spooled meanwhile do not cut a backoff short. A batch the server can never take (400, 413, 415)
// is dropped and counted. stop() ends a request still in flight at once (after its drain time):
// that batch was not acknowledged and stays in the spool.

import type { Spool, SpoolEntry } from './spool.js';

export interface ShipperOptions {
  /** Server base URL (http://host:port or https://…). */
  server: string;
  token: string;
  spool: Spool;
  timeoutMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  onError?: (what: string) => void;
}

export class Shipper {
  private readonly url: string;
  private running = false;
  /** Ends the idle wait for new data (kick); never a backoff wait. */
  private wakeIdle: (() => void) | undefined;
  /** Aborted by stop(): ends the idle wait, a backoff wait and the request in flight. */
  private stopping = new AbortController();
  private loop: Promise<void> | undefined;
  sentBatches = 0;
  sentFlows = 0;
  duplicates = 0;
  rejectedBatches = 0;
  rejectedFlows = 0;
  failures = 0;
  /** Whether the last attempt reached the server and was answered 200. */
  connected = false;

  constructor(private readonly opts: ShipperOptions) {
    this.url = `${opts.server.replace(/\/+$/, '')}/api/v1/ingest/flows`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  /** A batch was spooled: ends an idle wait (a backoff wait runs its course). */
  kick(): void {
    const w = this.wakeIdle;
    this.wakeIdle = undefined;
    w?.();
  }

  /**
   * Stop; with `drainMs`, first keep sending until the spool is empty or the time is up. A request
   * still in flight then is aborted: its batch stays in the spool.
   */
  async stop(drainMs = 0): Promise<void> {
    const until = Date.now() + drainMs;
    while (drainMs > 0 && this.running && this.opts.spool.batches > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, until - Date.now()))));
    this.running = false;
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const min = this.opts.retryMinMs ?? 250;
    const max = this.opts.retryMaxMs ?? 10_000;
    let backoff = min;
    while (this.running) {
      const e = this.opts.spool.oldest();
      if (e === undefined) {
        await this.wait(undefined);
        this.wakeIdle = undefined;
        continue;
      }
      const outcome = await this.send(e);
      if (!this.running && outcome === 'retry') break; // aborted by stop(): the batch stays spooled
      if (outcome === 'retry') {
        this.connected = false;
        this.failures++;
        await this.wait(backoff);
        backoff = Math.min(max, backoff * 2);
        continue;
      }
      backoff = min;
      this.opts.spool.remove(e);
    }
  }

  private async send(e: SpoolEntry): Promise<'done' | 'retry'> {
    let body: Buffer;
    try {
      body = this.opts.spool.read(e);
    } catch (err) {
      this.opts.onError?.(`spooled batch ${e.seq} unreadable, dropped: ${(err as Error).message}`);
      this.rejectedBatches++;
      this.rejectedFlows += e.rows;
      return 'done';
    }
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 30_000)]),
      });
    } catch (err) {
      if (this.stopping.signal.aborted) return 'retry';
      this.opts.onError?.(`send to ${this.url}: ${(err as Error).cause ?? (err as Error).message}`);
      return 'retry';
    }
    const text = await res.text().catch(() => '');
    if (res.status === 200) {
      this.connected = true;
      let duplicate = false;
      try {
        duplicate = (JSON.parse(text) as { duplicate?: boolean }).duplicate === true;
      } catch {
        // 200 is the acknowledgement; the body is informative
      }
      if (duplicate) this.duplicates++;
      else {
        this.sentBatches++;
        this.sentFlows += e.rows;
      }
      return 'done';
    }
    if (res.status === 400 || res.status === 413 || res.status === 415) {
      this.opts.onError?.(`server refused batch ${e.seq} (${e.rows} flows) for good: ${res.status} ${text}`);
      this.rejectedBatches++;
      this.rejectedFlows += e.rows;
      return 'done';
    }
    this.opts.onError?.(`server answered ${res.status} for batch ${e.seq}: ${text.slice(0, 200)}`);
    return 'retry';
  }

  /** Until stop(), or `ms` elapsed (backoff) or, with no `ms`, a kick (idle). */
  private wait(ms: number | undefined): Promise<void> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = () => {
        if (t) clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done);
      if (ms === undefined) this.wakeIdle = done;
      else t = setTimeout(done, ms);
    });
  }
}
