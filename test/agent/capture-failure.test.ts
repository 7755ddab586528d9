// The agent when capture cannot start or its stream goes bad: start() rejects promptly and leaves
// nothing running (the process can exit), and a corrupt pcap stream fails the agent and stops
// tcpdump instead of running on metering nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { Spool } from '../../src/agent/spool.js';
import { pidAlive } from '../../src/util/process.js';

const AGENT_JS = fileURLToPath(new URL('../../src/agent/agent.js', import.meta.url));
const SPOOL_JS = fileURLToPath(new URL('../../src/agent/spool.js', import.meta.url));
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

test('a missing tcpdump: start() rejects at once and nothing keeps the process alive (spooled batches waiting)', async () => {
  const spoolDir = mkdtempSync(join(tmpdir(), 'fw-agent-nocap-'));
  // A batch from an earlier run waits in the spool and the server is unreachable: a shipper
  // started anyway would retry it on timers forever.
  const script = `
    import { Agent } from ${JSON.stringify(AGENT_JS)};
    import { Spool } from ${JSON.stringify(SPOOL_JS)};
    const spool = new Spool(${JSON.stringify(spoolDir)}, 1 << 20);
    spool.append(spool.peekSeq(), 1, Buffer.from('{}'));
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const ag = new Agent({ interface: 'lo', server: 'http://127.0.0.1:9', token: 't', spoolDir: ${JSON.stringify(
      spoolDir,
    )}, hostId: 'h', tcpdump: '/nonexistent/tcpdump', log: quiet });
    const t0 = Date.now();
    ag.start().then(
      () => console.log('started'),
      (e) => console.log('rejected after ' + (Date.now() - t0) + ' ms: ' + e.message),
    );
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null | 'hung'>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('hung');
    }, 8000);
    child.once('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.match(out, /rejected after \d+ ms: cannot run tcpdump: spawn \/nonexistent\/tcpdump ENOENT/);
  assert.ok(Number(/after (\d+) ms/.exec(out)?.[1]) < 2000, out);
  assert.equal(code, 0, `the process should exit on its own once start() rejected (${out.trim()})`);
});

/** A stand-in for tcpdump: says it listens, writes a valid pcap header, then a corrupt record. */
function fakeTcpdump(dir: string): string {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(256, 16);
  header.writeUInt32LE(1, 20); // Ethernet
  const record = Buffer.alloc(16);
  record.writeUInt32LE(1_700_000_000, 0);
  record.writeUInt32LE(0xfffffff0, 8); // captured length no snap length allows
  record.writeUInt32LE(60, 12);
  writeFileSync(join(dir, 'stream.bin'), Buffer.concat([header, record]));
  const path = join(dir, 'tcpdump');
  writeFileSync(
    path,
    `#!/bin/sh\necho "listening on lo, link-type EN10MB" >&2\nsleep 0.2\ncat "${join(dir, 'stream.bin')}"\nexec sleep 60\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

test('a corrupt capture stream fails the agent and stops tcpdump', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-agent-corrupt-'));
  const ag = new Agent({
    interface: 'lo',
    server: 'http://127.0.0.1:9',
    token: 't',
    spoolDir: join(dir, 'spool'),
    hostId: 'h',
    tcpdump: fakeTcpdump(dir),
    log: quiet,
  });
  await ag.start();
  const pid = ag.tcpdumpPid as number;
  const why = await Promise.race([
    ag.failed,
    new Promise<string>((r) => setTimeout(() => r('not failed within 5 s'), 5000).unref()),
  ]);
  assert.match(why, /^capture stream: pcap record of \d+ bytes after 0 packets: stream corrupt/);
  for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(pidAlive(pid), false, 'tcpdump stopped');
  assert.equal(ag.stats().captureErrors, 1);
  await ag.stop(0);
});

test('spooled batches are not sent when capture cannot start', async () => {
  const spoolDir = mkdtempSync(join(tmpdir(), 'fw-agent-nosend-'));
  const spool = new Spool(spoolDir, 1 << 20);
  spool.append(spool.peekSeq(), 1, gzipSync('{}'));
  let requests = 0;
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(503).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const ag = new Agent({
    interface: 'lo',
    server: `http://127.0.0.1:${port}`,
    token: 't',
    spoolDir,
    hostId: 'h',
    tcpdump: '/nonexistent/tcpdump',
    log: quiet,
  });
  await assert.rejects(ag.start(), /cannot run tcpdump/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(requests, 0);
  await ag.stop(0);
  await new Promise<void>((r) => server.close(() => r()));
});
