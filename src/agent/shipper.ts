// Sends spooled batches to the server's POST /api/v1/ingest/flows, oldest first, one at a time,
// deleting each only after the server answered 200 (stored, or "duplicate": stored by an earlier
// attempt whose answer was lost). While the server is unreachable or failing (network errors,
// 5xx, 401/403 while an operator fixes a token) the batch stays and is retried with exponential
// backoff; a batch the server can never take (400, 413, 415) is dropped and counted.

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
  private wake: (() => void) | undefined;
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
    this.loop = this.run();
  }

  /** A batch was spooled. */
  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Stop after the batch in flight; with `drainMs`, first keep sending until the spool is empty or the time is up. */
  async stop(drainMs = 0): Promise<void> {
    const until = Date.now() + drainMs;
    while (drainMs > 0 && this.opts.spool.batches > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    this.running = false;
    this.kick();
    await this.loop;
  }

  private async run(): Promise<void> {
    const min = this.opts.retryMinMs ?? 250;
    const max = this.opts.retryMaxMs ?? 10_000;
    let backoff = min;
    while (this.running) {
      const e = this.opts.spool.oldest();
      if (e === undefined) {
        await new Promise<void>((r) => {
          this.wake = r;
        });
        continue;
      }
      const outcome = await this.send(e);
      if (outcome === 'retry') {
        this.connected = false;
        this.failures++;
        await this.sleep(backoff);
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
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
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

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }
}
