// Request body limits of the HTTP API (src/api/body.ts), over raw sockets against the query
// routes (ApiServer, 1 MiB) and HTTP ingest (ingest.max_body): an oversize body is answered 413
// at once, with Connection: close, and the connection is closed without the rest being read.
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { HttpIngest } from '../../src/api/ingest.js';
import { ApiServer } from '../../src/api/server.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import type { QueryTarget } from '../../src/query/service.js';

const TOKEN = 'body-limits-token-0123456789';
const INGEST_MAX = 64 * 1024;
const QUERY_MAX = 1 << 20;
const sink = new CollectingSink(() => new FlowBatch(1024));
const ingest = new HttpIngest({
  tokens: [{ name: 'test', token: TOKEN }],
  maxBody: INGEST_MAX,
  sink,
  commit: async () => {},
});
const ingestServer = http.createServer(
  (req, res) => void ingest.handle(req, res, new URL(req.url ?? '/', 'http://x').pathname),
);
const empty = async () => ({ columns: [], rows: [] }) as never;
const target: QueryTarget = {
  flows: async (req) => ({ echo: req }) as never,
  top: empty,
  timeseries: empty,
  stats: async () => ({}),
  interfaces: empty,
  idsAlerts: empty,
  close: async () => {},
};
const api = new ApiServer({ listen: '127.0.0.1:0', target, metrics: () => [], health: () => ({}) });
let ingestPort = 0;
let apiPort = 0;
before(async () => {
  await new Promise<void>((r) => ingestServer.listen(0, '127.0.0.1', r));
  ingestPort = (ingestServer.address() as AddressInfo).port;
  apiPort = Number(new URL(await api.start()).port);
});
after(async () => {
  ingestServer.closeAllConnections();
  await new Promise<void>((r) => ingestServer.close(() => r()));
  await api.stop();
});

interface RawResult {
  /** Everything the server sent. */
  response: string;
  /** Body bytes the client had written when the first byte of the answer came. */
  writtenAtAnswer: number;
  /** The server closed the connection (end or reset) before the deadline. */
  closed: boolean;
  ms: number;
}

/**
 * Send `head` and then body bytes: `first` at once, then (if `chunk`) more chunks of that size
 * every few milliseconds until the server answers or `upTo` bytes are written, never ending the
 * body. Resolves once the server closed the connection, or after `deadlineMs` with closed = false.
 * (The client stops at `upTo` so that the server closes with nothing unread: a client still
 * sending when the server closes may get a reset before it reads the answer.)
 */
function raw(
  port: number,
  head: string,
  opts: { first?: string; chunk?: number; upTo?: number; chunked?: boolean; deadlineMs?: number },
): Promise<RawResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let response = '';
    let written = 0;
    let writtenAtAnswer = -1;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      sock.destroy();
      resolve({ response, writtenAtAnswer, closed, ms: Date.now() - t0 });
    };
    const deadline = setTimeout(() => finish(false), opts.deadlineMs ?? 3000);
    sock.on('data', (d: Buffer) => {
      if (writtenAtAnswer < 0) writtenAtAnswer = written;
      response += d.toString('latin1');
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => {}); // EPIPE/ECONNRESET on writes after the server closed: expected
    sock.on('connect', () => {
      sock.write(head);
      if (opts.first) {
        sock.write(opts.first);
        written += opts.first.length;
      }
      const size = opts.chunk;
      if (!size) return;
      const part = 'x'.repeat(size);
      const wire = opts.chunked ? `${size.toString(16)}\r\n${part}\r\n` : part;
      const more = (): void => {
        if (settled || writtenAtAnswer >= 0 || sock.destroyed || written >= (opts.upTo ?? Infinity)) return;
        // wait for the socket to drain, so that `written` is close to what the server got
        if (sock.write(wire)) timer = setTimeout(more, 2);
        else sock.once('drain', () => (timer = setTimeout(more, 2)));
        written += size;
      };
      more();
    });
  });
}

function status(r: RawResult): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(r.response)?.[1] ?? 0);
}

const GB = 1 << 30;

test('ingest: a 1 GB Content-Length is answered 413 at once, Connection: close, connection closed', async () => {
  const before = sink.rows;
  const r = await raw(
    ingestPort,
    `POST /api/v1/ingest/ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      `Content-Length: ${GB}\r\n\r\n`,
    { first: '{"src_ip":"192.0.2.1"' },
  );
  assert.equal(status(r), 413, r.response);
  assert.match(r.response, /\r\nconnection: close\r\n/i);
  assert.match(r.response, /body larger than 65536 bytes \(ingest\.max_body\)/);
  assert.ok(r.closed, 'the server closed the connection');
  assert.ok(r.ms < 2000, `${r.ms} ms`);
  assert.equal(sink.rows, before);
});

test('ingest: a request without a valid token is answered 401 unread, Connection: close, connection closed', async () => {
  const before = sink.rows;
  const r = await raw(
    ingestPort,
    `POST /api/v1/ingest/ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: ${GB}\r\n\r\n`,
    { first: '{"src_ip":"192.0.2.1"' },
  );
  assert.equal(status(r), 401, r.response);
  assert.match(r.response, /\r\nconnection: close\r\n/i);
  assert.ok(r.closed, 'the server closed the connection');
  assert.ok(r.ms < 2000, `${r.ms} ms`);
  assert.equal(sink.rows, before);
});

test('ingest: a chunked body is answered 413 once it passes max_body, without waiting for its end', async () => {
  const r = await raw(
    ingestPort,
    `POST /api/v1/ingest/ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      'Transfer-Encoding: chunked\r\n\r\n',
    { chunk: 8192, upTo: INGEST_MAX + 3 * 8192, chunked: true, deadlineMs: 5000 },
  );
  assert.equal(status(r), 413, r.response);
  assert.match(r.response, /\r\nconnection: close\r\n/i);
  assert.ok(r.closed, 'the server closed the connection');
  assert.ok(r.ms < 3000, `${r.ms} ms`);
  assert.ok(r.writtenAtAnswer > INGEST_MAX, `answered after ${r.writtenAtAnswer} bytes`);
});

test('query route: a 1 GB Content-Length is answered 413 at once, Connection: close, connection closed', async () => {
  const r = await raw(apiPort, `POST /api/v1/flows HTTP/1.1\r\nHost: x\r\nContent-Length: ${GB}\r\n\r\n`, {
    first: '{"filter":',
  });
  assert.equal(status(r), 413, r.response);
  assert.match(r.response, /\r\nconnection: close\r\n/i);
  assert.match(r.response, /body larger than 1048576 bytes/);
  assert.ok(r.closed, 'the server closed the connection');
  assert.ok(r.ms < 2000, `${r.ms} ms`);
});

test('query route: a chunked body is answered 413 once it passes 1 MiB, without waiting for its end', async () => {
  const r = await raw(apiPort, 'POST /api/v1/flows HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', {
    chunk: 65536,
    upTo: QUERY_MAX + 3 * 65536,
    chunked: true,
    deadlineMs: 5000,
  });
  assert.equal(status(r), 413, r.response);
  assert.match(r.response, /\r\nconnection: close\r\n/i);
  assert.ok(r.closed, 'the server closed the connection');
  assert.ok(r.ms < 3000, `${r.ms} ms`);
  assert.ok(r.writtenAtAnswer > QUERY_MAX, `answered after ${r.writtenAtAnswer} bytes`);
});

test('query route: fetch with a body over 1 MiB gets 413 (it used to get a reset connection)', async () => {
  const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({ filter: 'x'.repeat(QUERY_MAX) }),
  });
  assert.equal(r.status, 413);
  assert.match(((await r.json()) as { error: string }).error, /body larger than 1048576 bytes/);
});

test('bodies within the limits are read as before; bad JSON on a query route is still 400', async () => {
  const q = await fetch(`http://127.0.0.1:${apiPort}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({ filter: 'src port 53' }),
  });
  assert.equal(q.status, 200);
  assert.deepEqual(await q.json(), { echo: { filter: 'src port 53' } });
  const bad = await fetch(`http://127.0.0.1:${apiPort}/api/v1/flows`, { method: 'POST', body: '{nope' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /^request body: /);
  const before = sink.rows;
  const line = '{"src_ip":"192.0.2.1","dst_ip":"192.0.2.2","bytes":10}\n';
  const i = await fetch(`http://127.0.0.1:${ingestPort}/api/v1/ingest/ndjson`, {
    method: 'POST',
    body: line.repeat(Math.floor(INGEST_MAX / line.length)),
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(i.status, 200);
  assert.equal(sink.rows, before + Math.floor(INGEST_MAX / line.length));
  // another encoding than gzip is refused unread (415), as before
  const br = await fetch(`http://127.0.0.1:${ingestPort}/api/v1/ingest/ndjson`, {
    method: 'POST',
    body: line,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-encoding': 'br' },
  });
  assert.equal(br.status, 415);
});
