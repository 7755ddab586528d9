// `flowwatch serve` as a child process, started as a user would and read from its start log.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './data.js';

export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface ServeProcess {
  proc: ChildProcess;
  http: string;
  udpPorts: number[];
  tcpPorts: number[];
  exited: Promise<number | null>;
  /** Everything the server logged so far. */
  log: () => string;
  flowsStored: () => Promise<number>;
  /** SIGTERM and wait: resolves to the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * Start `flowwatch serve ARGS`. The shipped geo/ASN tables are left out unless `geo` is set: they
 * take seconds of CPU to load, which tests of other parts should not pay for.
 */
export async function startServe(args: string[], opts: { geo?: boolean } = {}): Promise<ServeProcess> {
  const all = ['serve', ...args, ...(opts.geo ? [] : ['--no-geo'])];
  const proc = spawn(process.execPath, [CLI, ...all], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  let log = '';
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const start = await new Promise<{ http: string; udp_ports: number[]; tcp_ports?: number[] }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`flowwatch serve did not start: ${log}`)), 20_000);
    proc.once('exit', (c) => reject(new Error(`flowwatch serve exited (${c}): ${log}`)));
    proc.stdout?.on('data', () => {
      const line = log.split('\n').find((l) => l.includes('flowwatch serving'));
      if (line) {
        clearTimeout(t);
        resolve(JSON.parse(line));
      }
    });
  });
  return {
    proc,
    http: start.http,
    udpPorts: start.udp_ports,
    tcpPorts: start.tcp_ports ?? [],
    exited,
    log: () => log,
    flowsStored: async () =>
      ((await (await fetch(`${start.http}/health`)).json()) as { flows_stored: number }).flows_stored,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
