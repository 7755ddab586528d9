// IPFIX export of FlowBatch rows to another collector (the mediator role Super Mediator plays for
// SiLK): the encoder in ipfix-encoder.ts plus a transport.
//
// UDP (RFC 7011 §10.3): each message fits one datagram within the path MTU; templates are resent
// every N messages or T seconds because a UDP collector that restarts has no other way to learn
// them (§8.4). Sends that fail are counted, never retried: UDP export is lossy by design.
//
// TCP (RFC 7011 §10.4): messages are written back to back on the stream (the header's Length field
// frames them); every template is sent once at the start of each connection, before any data. The
// connection is re-established with exponential backoff; meanwhile messages wait in a bounded
// buffer, and what does not fit is dropped and counted.

import dgram from 'node:dgram';
import net, { isIPv6 } from 'node:net';
import type { FlowBatch } from '../pipeline/flow-batch.js';
import { IpfixEncoder, type IpfixEncoderOptions, type MessageSink } from './ipfix-encoder.js';
import { backoffMs, type ForwardCounters, type ForwardTarget, newForwardCounters } from './target.js';

export interface IpfixUdpOptions {
  host: string;
  port: number;
  observationDomain?: number;
  /** Path MTU; messages are kept within MTU − 48 (IPv6 + UDP headers). Default 1500. */
  mtu?: number;
  /** Default 20 messages. */
  templateRefreshMessages?: number;
  /** Default 30 s. */
  templateRefreshSeconds?: number;
  now?: () => number;
}

export class IpfixUdpExporter implements ForwardTarget {
  readonly name: string;
  readonly counters: ForwardCounters = newForwardCounters();
  readonly encoder: IpfixEncoder;
  private readonly socket: dgram.Socket;
  private readonly host: string;
  private readonly port: number;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private closed = false;
  private readonly onMessage: MessageSink;

  constructor(opts: IpfixUdpOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.name = `ipfix+udp://${isIPv6(opts.host) ? `[${opts.host}]` : opts.host}:${opts.port}`;
    const enc: IpfixEncoderOptions = {
      observationDomain: opts.observationDomain,
      maxMessageBytes: (opts.mtu ?? 1500) - 48,
      templateRefreshMessages: opts.templateRefreshMessages ?? 20,
      templateRefreshSeconds: opts.templateRefreshSeconds ?? 30,
      now: opts.now,
    };
    this.encoder = new IpfixEncoder(enc);
    this.socket = dgram.createSocket(isIPv6(opts.host) ? 'udp6' : 'udp4');
    // An unreachable collector shows up as ICMP errors on the socket: counted, never fatal.
    this.socket.on('error', () => {
      this.counters.send_errors++;
    });
    this.onMessage = (msg, records) => this.sendMessage(msg, records);
  }

  write(batch: FlowBatch, rows: Uint32Array | null, count: number): void {
    const n = rows === null ? batch.length : count;
    this.counters.rows_in += n;
    if (this.closed) {
      this.counters.rows_dropped_undeliverable += n;
      return;
    }
    this.encoder.encode(batch, rows, count, this.onMessage);
  }

  async stop(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private sendMessage(msg: Buffer, records: number): void {
    this.inFlight++;
    this.socket.send(msg, this.port, this.host, (err) => {
      this.inFlight--;
      if (err) {
        this.counters.send_errors++;
        this.counters.rows_dropped_undeliverable += records;
      } else {
        this.counters.messages_sent++;
        this.counters.bytes_sent += msg.length;
        this.counters.rows_sent += records;
      }
      if (this.inFlight === 0) this.idle?.();
    });
  }
}

export interface IpfixTcpOptions {
  host: string;
  port: number;
  observationDomain?: number;
  /** Largest message (≤ 65535). Default 16384. */
  maxMessageBytes?: number;
  /** Messages kept while the collector is away or slow. Default 8 MiB. */
  maxBufferBytes?: number;
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`. Default 200 ms. */
  reconnectMs?: number;
  /** Default 30 s. */
  reconnectMaxMs?: number;
  now?: () => number;
}

interface Queued {
  msg: Buffer;
  records: number;
}

export class IpfixTcpExporter implements ForwardTarget {
  readonly name: string;
  readonly counters: ForwardCounters = newForwardCounters();
  readonly encoder: IpfixEncoder;
  private readonly opts: IpfixTcpOptions;
  private readonly maxBuffer: number;
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private socket: net.Socket | undefined;
  private connected = false;
  private blocked = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private drained: (() => void) | undefined;
  private readonly onMessage: MessageSink;

  constructor(opts: IpfixTcpOptions) {
    this.opts = opts;
    this.name = `ipfix+tcp://${isIPv6(opts.host) ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.maxBuffer = opts.maxBufferBytes ?? 8 << 20;
    this.encoder = new IpfixEncoder({
      observationDomain: opts.observationDomain,
      maxMessageBytes: opts.maxMessageBytes ?? 16384,
      now: opts.now,
    });
    this.onMessage = (msg, records) => this.enqueue(msg, records);
    this.connect();
  }

  /** True while a connection to the collector is up. */
  get isConnected(): boolean {
    return this.connected;
  }

  write(batch: FlowBatch, rows: Uint32Array | null, count: number): void {
    const n = rows === null ? batch.length : count;
    this.counters.rows_in += n;
    if (this.stopping) {
      this.counters.rows_dropped_undeliverable += n;
      return;
    }
    this.encoder.encode(batch, rows, count, this.onMessage);
    this.pump();
  }

  async stop(timeoutMs = 2000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.timer);
    if (this.connected && this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
        this.pump();
      });
    }
    const s = this.socket;
    if (s !== undefined && !s.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          s.destroy();
          resolve();
        }, timeoutMs);
        s.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        s.end();
      });
    }
    for (const q of this.queue) this.counters.rows_dropped_undeliverable += q.records;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.counters.rows_queued = 0;
  }

  private connect(): void {
    if (this.stopping) return;
    const s = net.createConnection({ host: this.opts.host, port: this.opts.port });
    s.setNoDelay(true);
    this.socket = s;
    s.on('connect', () => {
      this.connected = true;
      this.blocked = false;
      this.attempt = 0;
      this.counters.connects++;
      // A new connection is a new transport session: the collector knows no template yet.
      const t = this.encoder.templateMessage();
      if (t !== null) s.write(t);
      this.pump();
    });
    s.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
    s.on('error', () => {
      this.counters.send_errors++;
    });
    s.on('close', () => {
      this.connected = false;
      this.socket = undefined;
      if (this.stopping) return;
      this.timer = setTimeout(
        () => this.connect(),
        backoffMs(this.attempt++, this.opts.reconnectMs ?? 200, this.opts.reconnectMaxMs ?? 30_000),
      );
    });
  }

  private enqueue(msg: Buffer, records: number): void {
    if (this.queuedBytes + msg.length > this.maxBuffer) {
      this.counters.rows_dropped_buffer_full += records;
      return;
    }
    this.queue.push({ msg, records });
    this.queuedBytes += msg.length;
    this.counters.rows_queued += records;
  }

  private pump(): void {
    const s = this.socket;
    while (this.connected && !this.blocked && s !== undefined && this.queue.length > 0) {
      const q = this.queue.shift() as Queued;
      this.queuedBytes -= q.msg.length;
      this.counters.rows_queued -= q.records;
      this.counters.rows_sent += q.records;
      this.counters.messages_sent++;
      this.counters.bytes_sent += q.msg.length;
      if (!s.write(q.msg)) this.blocked = true;
    }
    if (this.queue.length === 0 && !this.blocked) this.drained?.();
  }
}
