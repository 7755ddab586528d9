// IPFIX over TCP (RFC 7011 §10.4): accepts many exporters at once, cuts each byte stream into IPFIX
// messages by the 16-bit length of each message header, and hands every complete message to the
// consumer in order. It never decodes (DESIGN principle 3).
//
// TCP can push back, so nothing is dropped here (DESIGN principle 3): while the consumer is behind
// (its promise is pending, or `paused()` says the store backlog is full) the socket is paused,
// the kernel receive buffer fills, and TCP flow control slows the exporter down.
//
// Hostile or broken peers cost one connection, never the listener: a header that is not IPFIX
// (version ≠ 10, length < 16 or above the size limit) is counted as 'malformed' for that exporter,
// logged (rate limited) and the connection closed — after a framing error nothing later in the
// stream can be trusted to start on a message boundary. A peer that stalls (typically half-way
// through a message) is closed by the idle timeout. The collector never writes to the socket
// (RFC 7011 §10.4: the collecting process sends nothing), so a peer that never reads costs nothing.
//
// Templates over TCP belong to the transport session and are never refreshed (RFC 7011 §10.4.2,
// §8.1); `onSessionClose` fires after the last message of a session has been delivered so the
// owner can withdraw that session's templates.

import net from 'node:net';
import { splitHostPort } from '../../config/config.js';
import type { ExporterCounters } from '../../pipeline/counters.js';
import { normaliseExporter } from '../udp/receiver.js';

/** What the receiver knows of the connection a message came on. */
export interface IpfixTcpSession {
  /** Unique per receiver, increasing. */
  readonly id: number;
  /** Peer address ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 unmapped). */
  readonly exporter: string;
  readonly remotePort: number;
  /** Listener address the connection came in on, as configured. */
  readonly listener: string;
}

export type IpfixMessageHandler = (
  message: Uint8Array,
  exporter: string,
  receivedMs: number,
  session: IpfixTcpSession,
) => void | Promise<void>;

export type SessionCloseReason = 'end' | 'malformed' | 'idle' | 'error' | 'stopped';

export interface IpfixTcpLogger {
  warn(obj: object, msg: string): void;
}

export interface IpfixTcpOptions {
  /** Listen addresses ("0.0.0.0:4739", "[::]:4739"; port 0 picks a free port). */
  addrs: string[];
  counters: ExporterCounters;
  /** Called with every complete message, in stream order per connection. */
  onMessage: IpfixMessageHandler;
  /**
   * Back-pressure predicate checked after each delivered message; while it returns true every
   * connection stays paused. Re-checked when `drained()` resolves, or every `pollMs`.
   */
  paused?: () => boolean;
  /** Resolves when the backlog that `paused()` reports has drained (e.g. IngestPipeline.whenDrained). */
  drained?: () => Promise<void>;
  /** Called once per connection after its last message was delivered (withdraw its templates). */
  onSessionClose?: (session: IpfixTcpSession, reason: SessionCloseReason, openSessionsOfExporter: number) => void;
  /** Close a connection that has sent nothing for this long (default 5 min). 0 disables. */
  idleTimeoutMs?: number;
  /** Connections open at once, all exporters together (default 1024). */
  maxConnections?: number;
  /** Connections open at once from one peer address (default 64). */
  maxConnectionsPerExporter?: number;
  /** Largest message accepted (default and maximum 65535, the 16-bit length of RFC 7011 §3.1). */
  maxMessageBytes?: number;
  /** Poll interval while `paused()` is true and no `drained` is given (default 20 ms). */
  pollMs?: number;
  log?: IpfixTcpLogger;
  /** At most one warning per this many ms (default 10 s); the rest are counted in the next one. */
  logIntervalMs?: number;
}

/** Per-exporter connection and framing figures (the decoder counts packets and bytes it decodes). */
export interface IpfixTcpExporterStats {
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsRejected: number;
  connectionsOpen: number;
  messages: number;
  bytes: number;
  /** Reads off the socket ('data' events): how the stream was cut, for tests and tuning. */
  chunks: number;
  malformed: number;
  idleClosed: number;
}

export const IPFIX_TCP_DEFAULTS = {
  idleTimeoutMs: 300_000,
  maxConnections: 1024,
  maxConnectionsPerExporter: 64,
  maxMessageBytes: 65535,
  pollMs: 20,
  logIntervalMs: 10_000,
} as const;

const IPFIX_VERSION = 10;
const HEADER_BYTES = 16; // RFC 7011 §3.1: the message header; a message is at least this long

/** Connection state. One object per connection; the per-message path allocates only the view. */
class Conn implements IpfixTcpSession {
  readonly id: number;
  readonly exporter: string;
  readonly remotePort: number;
  readonly listener: string;
  readonly sock: net.Socket;
  readonly stats: IpfixTcpExporterStats;
  /** Chunks received while the consumer was busy, oldest first, with their arrival time. */
  readonly queue: Buffer[] = [];
  readonly queueMs: number[] = [];
  /** Read offset into queue[0]. */
  queueOff = 0;
  /** A message split across chunks: its buffer (exact length) and how much of it is filled. */
  partial: Buffer | undefined;
  partialFill = 0;
  partialMs = 0;
  /** First bytes of a header split across chunks (fewer than 4 received). */
  readonly head = Buffer.alloc(4);
  headFill = 0;
  /** Waiting for the consumer's promise, or for the backlog to drain. */
  waiting = false;
  lastActivityMs: number;
  /** Peer finished sending (FIN, reset): deliver what is queued, then close. */
  ended = false;
  endReason: SessionCloseReason = 'end';
  closed = false;

  constructor(id: number, sock: net.Socket, exporter: string, listener: string, stats: IpfixTcpExporterStats) {
    this.id = id;
    this.sock = sock;
    this.exporter = exporter;
    this.remotePort = sock.remotePort ?? 0;
    this.listener = listener;
    this.stats = stats;
    this.lastActivityMs = Date.now();
  }
}

export class IpfixTcpReceiver {
  private readonly servers: { server: net.Server; addr: string; port: number }[] = [];
  private readonly conns = new Set<Conn>();
  private readonly byExporter = new Map<string, IpfixTcpExporterStats>();
  /** Connections held back by `paused()`, resumed together when the backlog drains. */
  private readonly backlogWaiters = new Set<Conn>();
  private backlogWatch = false;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxPerExporter: number;
  private readonly maxMessageBytes: number;
  private readonly pollMs: number;
  private readonly logIntervalMs: number;
  private lastLogMs = -Infinity;
  private suppressedLogs = 0;

  constructor(private readonly opts: IpfixTcpOptions) {
    const d = IPFIX_TCP_DEFAULTS;
    this.idleTimeoutMs = Math.max(0, opts.idleTimeoutMs ?? d.idleTimeoutMs);
    this.maxConnections = Math.max(1, opts.maxConnections ?? d.maxConnections);
    this.maxPerExporter = Math.max(1, opts.maxConnectionsPerExporter ?? d.maxConnectionsPerExporter);
    this.maxMessageBytes = Math.min(65535, Math.max(HEADER_BYTES, opts.maxMessageBytes ?? d.maxMessageBytes));
    this.pollMs = Math.max(1, opts.pollMs ?? d.pollMs);
    this.logIntervalMs = Math.max(0, opts.logIntervalMs ?? d.logIntervalMs);
  }

  async start(): Promise<void> {
    for (const a of this.opts.addrs) {
      const hp = splitHostPort(a);
      if (!hp) throw new Error(`bad IPFIX/TCP listen address ${a} (expected host:port)`);
      const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (sock) => this.onConnection(sock, a));
      server.on('error', (err) => this.warn({ listener: a, err: err.message }, 'IPFIX/TCP listener error'));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(hp.port, hp.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as net.AddressInfo).port;
      this.servers.push({ server, addr: a, port });
    }
    if (this.idleTimeoutMs > 0) {
      // One sweep for all connections instead of a timer per socket; granularity ¼ of the timeout.
      const every = Math.max(10, Math.min(5000, Math.floor(this.idleTimeoutMs / 4)));
      this.idleTimer = setInterval(() => this.sweepIdle(), every);
      this.idleTimer.unref();
    }
  }

  /** Bound ports, in the order of `addrs` (useful with port 0). */
  ports(): number[] {
    return this.servers.map((s) => s.port);
  }

  /** Connections open now. */
  get connections(): number {
    return this.conns.size;
  }

  /** Open connections of `exporter` (several sessions from one address are possible). */
  sessionsOf(exporter: string): number {
    return this.byExporter.get(exporter)?.connectionsOpen ?? 0;
  }

  /** Per-exporter figures, JSON-serialisable. */
  stats(): Record<string, IpfixTcpExporterStats> {
    const out: Record<string, IpfixTcpExporterStats> = {};
    for (const [e, s] of [...this.byExporter].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out[e] = { ...s };
    return out;
  }

  /** Stop listening and close every connection; messages not yet delivered are discarded. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    const closing = this.servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve())));
    for (const c of [...this.conns]) this.close(c, 'stopped');
    await Promise.all(closing);
    this.servers.length = 0;
  }

  // ---- connections

  private onConnection(sock: net.Socket, listener: string): void {
    const exporter = normaliseExporter(sock.remoteAddress ?? 'unknown');
    const stats = this.statsOf(exporter);
    if (this.stopping || this.conns.size >= this.maxConnections || stats.connectionsOpen >= this.maxPerExporter) {
      stats.connectionsRejected++;
      this.warn(
        { exporter, listener, open: this.conns.size, openFromExporter: stats.connectionsOpen },
        'IPFIX/TCP connection refused: connection limit reached',
      );
      sock.destroy();
      return;
    }
    const c = new Conn(this.nextId++, sock, exporter, listener, stats);
    this.conns.add(c);
    stats.connectionsOpened++;
    stats.connectionsOpen++;
    // Keep-alive probes find peers that vanished without a FIN sooner than the idle timeout would.
    sock.setKeepAlive(true, 60_000);
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('end', () => {
      c.ended = true;
      this.finishIfDone(c);
    });
    sock.on('error', (err) => {
      // A reset after the last message is common (exporters abort rather than close): what was
      // already read is still delivered, then the session ends with reason 'error'.
      this.warn({ exporter, port: c.remotePort, err: err.message }, 'IPFIX/TCP connection error');
      c.ended = true;
      c.endReason = 'error';
      this.finishIfDone(c);
    });
    sock.on('close', () => {
      // A reset or a destroy without 'end': whatever is queued is still delivered (it was received).
      c.ended = true;
      this.finishIfDone(c);
    });
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (c.closed) return;
    const now = Date.now();
    c.lastActivityMs = now;
    c.stats.chunks++;
    if (c.waiting || c.queue.length > 0) {
      // Consumer busy: the socket is paused, but chunks read before the pause still arrive.
      c.queue.push(chunk);
      c.queueMs.push(now);
      return;
    }
    const used = this.frame(c, chunk, 0, now);
    if (used < chunk.length && !c.closed) {
      c.queue.push(chunk);
      c.queueMs.push(now);
      c.queueOff = used;
    }
  }

  /** Deliver queued chunks until the queue is empty or the consumer asks to wait. */
  private pump(c: Conn): void {
    while (!c.closed && !c.waiting && c.queue.length > 0) {
      const chunk = c.queue[0];
      const used = this.frame(c, chunk, c.queueOff, c.queueMs[0]);
      if (used >= chunk.length) {
        c.queue.shift();
        c.queueMs.shift();
        c.queueOff = 0;
      } else c.queueOff = used;
    }
    if (!c.closed && !c.waiting) {
      if (c.ended) this.finishIfDone(c);
      else if (c.sock.isPaused()) c.sock.resume();
    }
  }

  /**
   * Cut messages out of `chunk` from `off`; returns the offset reached (chunk.length when all of it
   * was consumed). Complete messages inside the chunk are passed as views; only a message split
   * across chunks is copied, once, into a buffer of its exact length.
   */
  private frame(c: Conn, chunk: Buffer, off: number, ms: number): number {
    const n = chunk.length;
    let p = off;
    // Finish a message begun in an earlier chunk.
    if (c.headFill > 0) {
      while (c.headFill < 4 && p < n) c.head[c.headFill++] = chunk[p++];
      if (c.headFill < 4) return p;
      const len = this.checkHeader(c, c.head, 0);
      if (len < 0) return n;
      c.partial = Buffer.allocUnsafe(len);
      c.head.copy(c.partial, 0, 0, 4);
      c.partialFill = 4;
      c.headFill = 0;
    }
    if (c.partial !== undefined) {
      const part = c.partial;
      const take = Math.min(part.length - c.partialFill, n - p);
      chunk.copy(part, c.partialFill, p, p + take);
      c.partialFill += take;
      p += take;
      if (c.partialFill < part.length) return p;
      c.partial = undefined;
      c.partialFill = 0;
      if (!this.deliver(c, part, c.partialMs)) return p;
    }
    while (p < n) {
      if (n - p < 4) {
        c.partialMs = ms;
        while (p < n) c.head[c.headFill++] = chunk[p++];
        return p;
      }
      const len = this.checkHeader(c, chunk, p);
      if (len < 0) return n;
      if (n - p < len) {
        c.partial = Buffer.allocUnsafe(len);
        chunk.copy(c.partial, 0, p, n);
        c.partialFill = n - p;
        c.partialMs = ms;
        return n;
      }
      const msg = chunk.subarray(p, p + len);
      p += len;
      if (!this.deliver(c, msg, ms)) return p;
    }
    return p;
  }

  /** Message length from a header at `p`, or -1 after counting, logging and closing. */
  private checkHeader(c: Conn, b: Buffer, p: number): number {
    const version = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    if (version === IPFIX_VERSION && len >= HEADER_BYTES && len <= this.maxMessageBytes) return len;
    c.stats.malformed++;
    this.opts.counters.add(c.exporter, 'malformed');
    this.warn(
      { exporter: c.exporter, port: c.remotePort, version, length: len, afterMessages: c.stats.messages },
      version !== IPFIX_VERSION
        ? 'IPFIX/TCP stream is not IPFIX (version ≠ 10): connection closed'
        : `IPFIX/TCP message length ${len} outside 16..${this.maxMessageBytes}: connection closed`,
    );
    this.close(c, 'malformed');
    return -1;
  }

  /** Hand one message on; false when the connection must wait (or was closed) before the next. */
  private deliver(c: Conn, msg: Buffer, ms: number): boolean {
    c.stats.messages++;
    c.stats.bytes += msg.length;
    let r: void | Promise<void>;
    try {
      r = this.opts.onMessage(msg, c.exporter, ms, c);
    } catch (err) {
      // The consumer's bug must not take the listener down; the stream itself is still framed.
      this.warn({ exporter: c.exporter, err: (err as Error).message }, 'IPFIX/TCP consumer failed on a message');
      r = undefined;
    }
    if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
      c.waiting = true;
      c.sock.pause();
      (r as Promise<void>).then(
        () => this.afterConsumer(c),
        (err: Error) => {
          this.warn({ exporter: c.exporter, err: err?.message }, 'IPFIX/TCP consumer failed on a message');
          this.afterConsumer(c);
        },
      );
      return false;
    }
    if (c.closed) return false;
    if (this.opts.paused?.()) {
      this.holdForBacklog(c);
      return false;
    }
    return true;
  }

  private afterConsumer(c: Conn): void {
    c.waiting = false;
    c.lastActivityMs = Date.now();
    if (c.closed) return;
    if (this.opts.paused?.()) this.holdForBacklog(c);
    else this.pump(c);
  }

  private holdForBacklog(c: Conn): void {
    c.waiting = true;
    c.sock.pause();
    this.backlogWaiters.add(c);
    if (this.backlogWatch) return;
    this.backlogWatch = true;
    const recheck = () => {
      if (this.opts.paused?.() && !this.stopping) {
        wait();
        return;
      }
      this.backlogWatch = false;
      const held = [...this.backlogWaiters];
      this.backlogWaiters.clear();
      for (const w of held) {
        w.waiting = false;
        w.lastActivityMs = Date.now();
        // A resumed connection may fill the backlog again; the rest then wait for the next drain.
        if (this.backlogWatch) {
          w.waiting = true;
          this.backlogWaiters.add(w);
        } else this.pump(w);
      }
    };
    const wait = () => {
      if (this.opts.drained) this.opts.drained().then(recheck, recheck);
      else setTimeout(recheck, this.pollMs);
    };
    wait();
  }

  private finishIfDone(c: Conn): void {
    if (c.closed || c.waiting || c.queue.length > 0) return;
    if (c.partial !== undefined || c.headFill > 0) {
      // The peer closed mid-message: the truncated message cannot be decoded.
      c.stats.malformed++;
      this.opts.counters.add(c.exporter, 'malformed');
      this.warn(
        { exporter: c.exporter, port: c.remotePort, bytes: c.partial ? c.partialFill : c.headFill },
        'IPFIX/TCP connection closed in the middle of a message',
      );
    }
    this.close(c, c.endReason);
  }

  private close(c: Conn, reason: SessionCloseReason): void {
    if (c.closed) return;
    c.closed = true;
    c.partial = undefined;
    c.queue.length = 0;
    c.queueMs.length = 0;
    this.conns.delete(c);
    this.backlogWaiters.delete(c);
    c.stats.connectionsOpen--;
    c.stats.connectionsClosed++;
    if (reason === 'idle') c.stats.idleClosed++;
    c.sock.destroy();
    try {
      this.opts.onSessionClose?.(c, reason, c.stats.connectionsOpen);
    } catch (err) {
      this.warn({ exporter: c.exporter, err: (err as Error).message }, 'IPFIX/TCP session close handler failed');
    }
  }

  private sweepIdle(): void {
    const limit = Date.now() - this.idleTimeoutMs;
    for (const c of [...this.conns]) {
      // A connection we paused is waiting on us, not idle.
      if (c.waiting || c.lastActivityMs > limit) continue;
      const midMessage = c.partial !== undefined || c.headFill > 0;
      if (midMessage) {
        c.stats.malformed++;
        this.opts.counters.add(c.exporter, 'malformed');
      }
      this.warn(
        { exporter: c.exporter, port: c.remotePort, idleMs: this.idleTimeoutMs, midMessage },
        'IPFIX/TCP connection idle: closed',
      );
      this.close(c, 'idle');
    }
  }

  private statsOf(exporter: string): IpfixTcpExporterStats {
    let s = this.byExporter.get(exporter);
    if (s === undefined) {
      s = {
        connectionsOpened: 0,
        connectionsClosed: 0,
        connectionsRejected: 0,
        connectionsOpen: 0,
        messages: 0,
        bytes: 0,
        chunks: 0,
        malformed: 0,
        idleClosed: 0,
      };
      this.byExporter.set(exporter, s);
    }
    return s;
  }

  /** Rate-limited warning (DESIGN principle 10: hostile input is sampled into the log, not flooded). */
  private warn(obj: object, msg: string): void {
    const log = this.opts.log;
    if (log === undefined) return;
    const now = Date.now();
    if (now - this.lastLogMs < this.logIntervalMs) {
      this.suppressedLogs++;
      return;
    }
    this.lastLogMs = now;
    const suppressed = this.suppressedLogs;
    this.suppressedLogs = 0;
    log.warn(suppressed > 0 ? { ...obj, suppressed } : obj, msg);
  }
}
