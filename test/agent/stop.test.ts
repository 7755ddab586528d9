// The agent's shipper and stop() under a failing or silent server and a tcpdump that will not
// exit: retries follow the backoff (not every new batch), stop() is bounded by its drain time
// (a request in flight is ended, its batch kept in the spool), and a tcpdump that ignores SIGTERM
// is killed.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { Shipper } from '../../src/agent/shipper.js';
import { Spool } from '../../src/agent/spool.js';
import { pidAlive } from '../../src/util/process.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

function spoolWithOneBatch(prefix: string): { dir: string; spool: Spool } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const spool = new Spool(dir, 1 << 20);
  spool.append(spool.peekSeq(), 1, gzipSync('{}'));
  return { dir, spool };
}

test('a failing server: new batches spooled every 10 ms do not cut the backoff short', async () => {
  let attempts = 0;
  const { server, url } = await listen((req, res) => {
    attempts++;
    req.resume();
    res.writeHead(503).end('{}');
  });
  const { spool } = spoolWithOneBatch('fw-backoff-');
  const shipper = new Shipper({ server: url, token: 't', spool, retryMinMs: 200, retryMaxMs: 10_000 });
  shipper.start();
  const kicks = setInterval(() => {
    spool.append(spool.peekSeq(), 1, gzipSync('{}'));
    shipper.kick();
  }, 10);
  await sleep(1500);
  clearInterval(kicks);
  // Tries at about 0, 200, 600 and 1400 ms; the next waits until about 3000 ms.
  assert.ok(attempts >= 2 && attempts <= 5, `${attempts} attempts in 1.5 s`);
  assert.equal(shipper.failures, attempts);
  // stop() ends the backoff wait at once.
  const t0 = Date.now();
  await shipper.stop(0);
  assert.ok(Date.now() - t0 < 500, `stop() took ${Date.now() - t0} ms`);
  assert.ok(spool.batches > 1, 'nothing acknowledged, nothing removed');
  await close(server);
});

test('a server that never answers: stop() ends the request in flight after its drain time; the batch stays', async () => {
  let requests = 0;
  const { server, url } = await listen((req) => {
    requests++;
    req.resume(); // and never answer
  });
  const { dir, spool } = spoolWithOneBatch('fw-hang-');
  const shipper = new Shipper({ server: url, token: 't', spool, retryMinMs: 50 });
  shipper.start();
  for (let i = 0; i < 100 && requests === 0; i++) await sleep(20);
  assert.equal(requests, 1);
  const drainMs = 300;
  const t0 = Date.now();
  await shipper.stop(drainMs);
  const took = Date.now() - t0;
  assert.ok(took >= drainMs - 20 && took < drainMs + 1000, `stop(${drainMs}) took ${took} ms`);
  assert.equal(spool.batches, 1);
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.gz')).length, 1, 'the batch file is still there');
  assert.equal(shipper.failures, 0, 'an aborted request is not a server failure');
  assert.equal(new Spool(dir, 1 << 20).batches, 1, 'and is found by the next start');
  await close(server);
});

test('a tcpdump that ignores SIGTERM: stop() kills it and returns within a few seconds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-agent-noterm-'));
  const tcpdump = join(dir, 'tcpdump');
  // SIGTERM ignored by the shell stays ignored across exec: sleep ignores it too.
  writeFileSync(tcpdump, `#!/bin/sh\ntrap '' TERM\necho "listening on lo, link-type EN10MB" >&2\nexec sleep 60\n`);
  chmodSync(tcpdump, 0o755);
  const ag = new Agent({
    interface: 'lo',
    server: 'http://127.0.0.1:9',
    token: 't',
    spoolDir: join(dir, 'spool'),
    hostId: 'h',
    tcpdump,
    log: quiet,
  });
  await ag.start();
  const pid = ag.tcpdumpPid as number;
  try {
    await sleep(100);
    const t0 = Date.now();
    const stopped = await Promise.race([
      ag.stop(0).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 8000).unref()),
    ]);
    assert.ok(stopped, 'stop() returned within 8 s');
    assert.ok(Date.now() - t0 < 5000, `stop() took ${Date.now() - t0} ms`);
    assert.equal(pidAlive(pid), false, 'tcpdump killed');
  } finally {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});
