// HTTP server of `flowwatch serve`: /health, /metrics (Prometheus text format) and the query API
// the CLI uses while a server owns the store. Plain node:http for now; bodies are size-limited.

import http from 'node:http';
import { splitHostPort } from '../config/config.js';
import { FilterError } from '../filter/index.js';
import { QueryError, type QueryTarget } from '../query/service.js';
import { BodyRefused, readBody } from './body.js';
import type { HttpIngest } from './ingest.js';

const MAX_BODY = 1 << 20;

export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels?: Record<string, string>; value: number }[];
}

export interface ApiServerOptions {
  listen: string;
  target: QueryTarget;
  metrics: () => Metric[];
  health: () => Record<string, unknown>;
  /** POST /api/v1/ingest/* (flows pushed by agents and log shippers); absent: 404. */
  ingest?: HttpIngest;
}

export class ApiServer {
  private server: http.Server | undefined;
  address = '';

  constructor(private readonly opts: ApiServerOptions) {}

  async start(): Promise<string> {
    const hp = splitHostPort(this.opts.listen);
    if (!hp) throw new Error(`http.listen: bad host:port ${this.opts.listen}`);
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(hp.port, hp.host, () => resolve());
    });
    this.server = server;
    const a = server.address();
    if (a && typeof a === 'object')
      this.address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this.address;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const t = this.opts.target;
    if (this.opts.ingest?.handles(url.pathname)) return this.opts.ingest.handle(req, res, url.pathname);
    if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, this.opts.health());
    if (req.method === 'GET' && url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(renderPrometheus(this.opts.metrics()));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/stats') return send(res, 200, await t.stats());
    if (req.method === 'POST' && url.pathname.startsWith('/api/v1/')) {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, res, MAX_BODY));
      } catch (e) {
        if (e instanceof BodyRefused) return; // 413, answered by readBody
        return send(res, 400, { error: `request body: ${(e as Error).message}` });
      }
      try {
        switch (url.pathname) {
          case '/api/v1/flows':
            return send(res, 200, await t.flows(body as never));
          case '/api/v1/top':
            return send(res, 200, await t.top(body as never));
          case '/api/v1/timeseries':
            return send(res, 200, await t.timeseries(body as never));
          case '/api/v1/interfaces':
            return send(res, 200, await t.interfaces(body as never));
          case '/api/v1/ids-alerts':
            return send(res, 200, await t.idsAlerts(body as never));
        }
      } catch (e) {
        if (e instanceof FilterError || e instanceof QueryError) return send(res, 400, { error: e.message });
        throw e;
      }
    }
    send(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
}

export function renderPrometheus(metrics: Metric[]): string {
  const out: string[] = [];
  for (const m of metrics) {
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of m.samples) {
      const labels = s.labels
        ? `{${Object.entries(s.labels)
            .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
            .join(',')}}`
        : '';
      out.push(`${m.name}${labels} ${s.value}`);
    }
  }
  return `${out.join('\n')}\n`;
}
