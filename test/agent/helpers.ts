// `flowwatch agent` as a child process, as an operator starts it, read from its log.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { CLI } from '../helpers/server.js';

export interface AgentProcess {
  proc: ChildProcess;
  pid: number;
  tcpdumpPid: number;
  log: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<number | null>;
}

export function hasTcpdumpOnLo(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

export async function startAgent(args: string[]): Promise<AgentProcess> {
  const proc = spawn(process.execPath, [CLI, 'agent', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  let log = '';
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const start = await new Promise<{ tcpdump_pid: number; pid: number }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`flowwatch agent did not start: ${log}`)), 20_000);
    proc.once('exit', (c) => reject(new Error(`flowwatch agent exited (${c}): ${log}`)));
    proc.stdout?.on('data', () => {
      const line = log.split('\n').find((l) => l.includes('agent capturing'));
      if (line) {
        clearTimeout(t);
        resolve(JSON.parse(line));
      }
    });
  });
  return {
    proc,
    pid: start.pid,
    tcpdumpPid: start.tcpdump_pid,
    log: () => log,
    exited,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Send `n` datagrams of `size` bytes from `from` to 127.0.0.1:port, `perTick` per event-loop turn. */
export async function sendUdp(from: dgram.Socket, port: number, n: number, size: number, perMs = 1): Promise<void> {
  const payload = Buffer.alloc(size, 0x61);
  const start = Date.now();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((r, j) => from.send(payload, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    // pace to `perMs` packets per millisecond so the capture keeps up as it would on a real host
    const due = start + i / perMs;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  }
}

export async function boundUdp(port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', () => r()));
  return s;
}
