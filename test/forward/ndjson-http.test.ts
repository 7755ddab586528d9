// NDJSON over HTTP POST to a real node:http server: the rows of a real capture arrive as one JSON
// object per line with the schema's column names, a 500 is retried, a 400 is not, and an
// unreachable or too slow peer ends in counted drops — never an exception at the caller.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Forwarder } from '../../src/forward/forwarder.js';
import { type FlowBatch, formatMac } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';
import { decodeCapture, freeUdpPort } from '../peers/nfdump.js';

interface Received {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** A server answering each request with the next status of `statuses` (then 200). */
async function server(statuses: number[] = []): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      got.push({ status, contentType: req.headers['content-type'], body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ingest`,
    got,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

/** The row as the NDJSON contract says it is written, from the batch's own columns. */
function expectedObject(b: FlowBatch, r: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [i, c] of b.columns.entries()) {
    if (!b.valid[i][r]) continue;
    if (c.type === 'time') o[c.name] = new Date(b.data[i][r]).toISOString();
    else if (c.type === 'addr') o[c.name] = b.getAddr(i, r);
    else if (c.type === 'mac') o[c.name] = formatMac(b.data[i][r]);
    else if (c.type === 'enum') o[c.name] = c.enumValues?.[b.data[i][r]];
    else if (c.type === 'string') o[c.name] = b.getString(i, r);
    else if (c.type === 'list') o[c.name] = b.getList(i, r);
    else if (c.type === 'bool') o[c.name] = b.data[i][r] === 1;
    else o[c.name] = b.data[i][r];
  }
  return o;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (let t = 0; t < ms && !cond(); t += 20) await sleep(20);
}

describe('NDJSON over HTTP', { skip: needsData() }, () => {
  const batches = decodeCapture(
    readFileSync(dataPath('netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap')),
    256,
  ).concat(
    decodeCapture(readFileSync(dataPath('netflow/pmacct/501-IPFIXv10-BGP-IPv6-CISCO-MPLS/traffic-00.pcap')), 256),
  );
  const all: Record<string, unknown>[] = [];
  const tcp: Record<string, unknown>[] = [];
  for (const b of batches)
    for (let r = 0; r < b.length; r++) {
      all.push(expectedObject(b, r));
      if (b.data[C.proto][r] === 6 && b.valid[C.proto][r]) tcp.push(expectedObject(b, r));
    }

  test('rows arrive as NDJSON with column names; a 500 is retried until it succeeds', async () => {
    const s = await server([500]);
    const fw = new Forwarder({ target: { kind: 'ndjson-http', url: s.url, retryMs: 20 } });
    for (const b of batches) fw.send(b);
    await until(() => fw.counters.rows_sent === all.length);
    await fw.stop();
    await s.close();
    assert.ok(all.length > 20);
    assert.equal(s.got[0].status, 500);
    assert.equal(s.got[1].body, s.got[0].body, 'the retried request carries the same rows');
    const delivered = s.got.filter((g) => g.status === 200);
    assert.equal(delivered[0].contentType, 'application/x-ndjson');
    const rows = delivered.flatMap((g) =>
      g.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    assert.deepEqual(rows, all);
    const c = fw.counters;
    assert.equal(c.retries, 1);
    assert.equal(c.send_errors, 1);
    assert.equal(c.rows_sent, all.length);
    assert.equal(c.rows_dropped_undeliverable + c.rows_dropped_buffer_full, 0);
  });

  test('the filter selects the rows sent; times as epoch ms when asked', async () => {
    const s = await server();
    const fw = new Forwarder({ filter: 'proto tcp', target: { kind: 'ndjson-http', url: s.url, times: 'ms' } });
    for (const b of batches) fw.send(b);
    await until(() => fw.counters.rows_sent === tcp.length);
    await fw.stop();
    await s.close();
    const rows = s.got.flatMap((g) =>
      g.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    assert.ok(tcp.length > 0);
    assert.deepEqual(
      rows.map((r) => ({
        ...r,
        time_start: new Date(r.time_start).toISOString(),
        time_end: new Date(r.time_end).toISOString(),
        time_received: new Date(r.time_received).toISOString(),
      })),
      tcp,
    );
    assert.equal(typeof rows[0].time_start, 'number');
    assert.equal(fw.counters.rows_filtered_out, all.length - tcp.length);
  });

  test('a 400 is not retried: the rows are dropped and counted', async () => {
    const s = await server([400]);
    const fw = new Forwarder({ target: { kind: 'ndjson-http', url: s.url, maxRowsPerRequest: 100000 } });
    fw.send(batches[0]);
    await until(() => fw.counters.rows_dropped_undeliverable > 0);
    await fw.stop();
    await s.close();
    assert.equal(s.got.length, 1);
    assert.equal(fw.counters.rows_dropped_undeliverable, batches[0].length);
    assert.equal(fw.counters.retries, 0);
  });

  test('an unreachable peer: retried, then dropped and counted; a full queue drops the excess', async () => {
    const port = await freeUdpPort(); // nothing listens on TCP there either
    const fw = new Forwarder({
      target: {
        kind: 'ndjson-http',
        url: `http://127.0.0.1:${port}/`,
        retryMs: 10,
        maxAttempts: 3,
        maxQueuedRows: Math.ceil(all.length / 2),
      },
    });
    for (const b of batches) fw.send(b);
    const c0 = fw.counters;
    assert.equal(c0.rows_queued + c0.rows_dropped_buffer_full, all.length);
    assert.ok(c0.rows_dropped_buffer_full > 0, 'more rows than the queue holds');
    await until(() => fw.counters.rows_queued === 0);
    await fw.stop();
    const c = fw.counters;
    assert.equal(c.rows_sent, 0);
    assert.equal(c.rows_dropped_buffer_full + c.rows_dropped_undeliverable, all.length);
    assert.ok(c.retries >= 2 && c.send_errors >= 3);
  });
});
