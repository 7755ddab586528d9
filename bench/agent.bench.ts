// CPU of `flowwatch agent` (the Node process plus its tcpdump child) metering 10 k packets/s of
// UDP on the loopback interface for 10 s, shipping to a real `flowwatch serve`. Target (issue 4
// part 8): under 5 % of one core. CPU is read from /proc/PID/stat (utime + stime) of both
// processes over the measured window, after a 2 s warm-up. Needs root (capture on lo) and tcpdump.
import { execFileSync } from 'node:child_process';
import type dgram from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { boundUdp, hasTcpdumpOnLo, startAgent } from '../test/agent/helpers.js';
import { startServe } from '../test/helpers/server.js';
import type { BenchResult } from './harness.js';

const RATE = 10_000;
const SECONDS = 10;
const FLOWS = 50;
const PAYLOAD = 200;

export async function run(): Promise<BenchResult[]> {
  if (!hasTcpdumpOnLo()) return [{ name: 'agent: skipped (needs tcpdump as root)', value: 0, unit: '' }];
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const cpuSeconds = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / hz; // fields 14 and 15: utime, stime
  };
  const dir = mkdtempSync(join(tmpdir(), 'fw-agent-bench-'));
  const token = 'bench-token-0123456789abcdef';
  const cfg = join(dir, 'serve.yaml');
  writeFileSync(cfg, `ingest:\n  tokens:\n    - name: bench\n      token: ${token}\n`);
  const server = await startServe([
    '--config',
    cfg,
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
  ]);
  const sink = await boundUdp();
  const port = sink.address().port;
  const agent = await startAgent([
    '--interface',
    'lo',
    '--server',
    server.http,
    '--token',
    token,
    '--spool',
    join(dir, 'spool'),
    '--host-id',
    'bench-agent',
    '--filter',
    `udp and dst port ${port}`,
    '--active-timeout',
    '5s',
    '--idle-timeout',
    '2s',
  ]);
  const senders: dgram.Socket[] = [];
  for (let i = 0; i < FLOWS; i++) senders.push(await boundUdp());
  const payload = Buffer.alloc(PAYLOAD, 0x62);
  let sent = 0;
  // 100 packets every 10 ms, caught up against the clock so timer jitter does not lower the rate.
  const t0 = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    while (sent < due) {
      senders[sent % FLOWS].send(payload, port, '127.0.0.1');
      sent++;
    }
  }, 10);
  await sleep(2000);
  const a0 = cpuSeconds(agent.pid);
  const d0 = cpuSeconds(agent.tcpdumpPid);
  const s0 = sent;
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const wall = (performance.now() - w0) / 1000;
  const agentCpu = cpuSeconds(agent.pid) - a0;
  const dumpCpu = cpuSeconds(agent.tcpdumpPid) - d0;
  const rate = (sent - s0) / wall;
  clearInterval(timer);
  await sleep(3000); // idle timeout + ship interval: the last flows reach the server
  await agent.stop();
  const r = await fetch(`${server.http}/api/v1/flows`, {
    method: 'POST',
    body: JSON.stringify({ filter: `dst port ${port}`, fields: ['packets'], limit: 100_000 }),
  });
  const stored = ((await r.json()) as { rows: { packets: number }[] }).rows.reduce((a, x) => a + x.packets, 0);
  await server.stop();
  for (const s of [...senders, sink]) s.close();
  const pct = (s: number) => (100 * s) / wall;
  return [
    {
      name: 'agent CPU at 10k pkt/s on lo (node + tcpdump)',
      value: Number(pct(agentCpu + dumpCpu).toFixed(2)),
      unit: '% of a core',
      detail: `node ${pct(agentCpu).toFixed(2)} %, tcpdump ${pct(dumpCpu).toFixed(2)} %, ${Math.round(rate)} pkt/s sent over ${wall.toFixed(1)} s, ${FLOWS} flows`,
    },
    {
      name: 'agent packets stored / sent',
      value: sent > 0 ? Number((stored / sent).toFixed(4)) : 0,
      unit: 'ratio',
      detail: `${stored} of ${sent}`,
    },
  ];
}
