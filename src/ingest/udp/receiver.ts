// UDP receive for flow export (NetFlow/IPFIX/sFlow): takes datagrams off the socket, stamps them
// and queues them. It never decodes (DESIGN principle 3): a bounded queue separates it from the
// decode stage, and when that queue is full the datagram is dropped and counted ('queue_drops')
// instead of letting the socket's own buffer overflow unseen. Kernel drops on the socket are read
// from /proc/net/udp{,6} (the `drops` column) and reported per listener.

import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { splitHostPort } from '../../config/config.js';
import type { ExporterCounters } from '../../pipeline/counters.js';

export interface ReceivedDatagram {
  payload: Buffer;
  exporter: string;
  receivedMs: number;
}

export interface UdpReceiverOptions {
  addrs: string[];
  receiveBuffer: number;
  queuePackets: number;
  counters: ExporterCounters;
}

export class UdpReceiver {
  private readonly sockets: { sock: dgram.Socket; addr: string; port: number; family: 4 | 6 }[] = [];
  private readonly queue: (ReceivedDatagram | undefined)[];
  private head = 0;
  private tail = 0;
  private size = 0;
  private waiter: (() => void) | undefined;
  private readonly kernelBase = new Map<string, number>();
  /** Datagrams dropped because the queue was full, per listener address. */
  queueDrops = 0;

  constructor(private readonly opts: UdpReceiverOptions) {
    this.queue = new Array(opts.queuePackets);
  }

  async start(): Promise<void> {
    for (const a of this.opts.addrs) {
      const hp = splitHostPort(a);
      if (!hp) throw new Error(`bad listen address ${a}`);
      const family = hp.host.includes(':') ? 6 : 4;
      const sock = dgram.createSocket({
        type: family === 6 ? 'udp6' : 'udp4',
        recvBufferSize: this.opts.receiveBuffer,
        reuseAddr: false,
      });
      sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address));
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(hp.port, hp.host, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      // After binding, a socket error (rare on UDP) is counted and reported, never fatal.
      sock.on('error', (err) => {
        this.opts.counters.add(`listener:${a}`, 'malformed');
        process.emitWarning(`UDP listener ${a}: ${err.message}`);
      });
      const port = sock.address().port;
      this.sockets.push({ sock, addr: a, port, family });
    }
    // Baseline kernel drops: /proc counters belong to the socket, but a port reused quickly can
    // show an old socket's line; only growth from now on is ours.
    for (const s of this.sockets) this.kernelBase.set(s.addr, readKernelDrops(s.port, s.family));
  }

  /** Bound ports, in the order of `addrs` (useful with port 0 in tests). */
  ports(): number[] {
    return this.sockets.map((s) => s.port);
  }

  private onMessage(msg: Buffer, from: string): void {
    if (this.size >= this.queue.length) {
      this.queueDrops++;
      this.opts.counters.add(normaliseExporter(from), 'queue_drops');
      return;
    }
    this.queue[this.tail] = { payload: msg, exporter: normaliseExporter(from), receivedMs: Date.now() };
    this.tail = (this.tail + 1) % this.queue.length;
    this.size++;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
    }
  }

  /** Next queued datagram, or undefined when the queue is empty. */
  shift(): ReceivedDatagram | undefined {
    if (this.size === 0) return undefined;
    const d = this.queue[this.head];
    this.queue[this.head] = undefined;
    this.head = (this.head + 1) % this.queue.length;
    this.size--;
    return d;
  }

  get queued(): number {
    return this.size;
  }

  /** Resolves when a datagram is queued (immediately if one is). */
  whenReadable(): Promise<void> {
    if (this.size > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Kernel receive drops since start, per listener address. */
  kernelDrops(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.sockets)
      out.set(s.addr, Math.max(0, readKernelDrops(s.port, s.family) - (this.kernelBase.get(s.addr) ?? 0)));
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => s.sock.close(() => resolve()))));
    this.sockets.length = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
    }
  }
}

/** "::ffff:192.0.2.1" (a v4 peer on a dual-stack socket) → "192.0.2.1". */
export function normaliseExporter(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Sum of the `drops` column of /proc/net/udp{,6} lines bound to `port`. 0 where /proc is absent. */
export function readKernelDrops(port: number, family: 4 | 6): number {
  let text: string;
  try {
    text = readFileSync(family === 6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8');
  } catch {
    return 0;
  }
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    if (f[1].endsWith(hexPort)) drops += Number(f[f.length - 1]) || 0;
  }
  return drops;
}
