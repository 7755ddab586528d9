// `flowwatch agent`: meter a host's own traffic and ship the flows to a flowwatch server.
//
//   tcpdump -i IF -U -w - -s 256  ──pcap stream──► PcapStreamReader ──► FlowMeter ──► AgentSink
//        (child process)                                             (rows, source_type agent)
//   every ship interval: expire timed-out flows, stamp host/cloud identity, encode (wire.ts),
//   gzip, Spool.append (fsync) ──► Shipper ──HTTP(S)──► POST /api/v1/ingest/flows
//
// Capture runs in tcpdump (libpcap, the kernel BPF filter, TPACKET rings) rather than in Node: no
// native addon to build, and the headers-only snap length (256 bytes: enough for the IP/TCP/UDP
// headers and the start of DNS/TLS/HTTP the meter's DPI looks at) keeps the pipe cheap. The
// agent's own traffic to the server is filtered out in BPF, or every batch sent would meter a
// flow that makes the next batch.

import { type ChildProcess, spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { FlowMeter } from '../ingest/meter/meter.js';
import { FlowBatch } from '../pipeline/flow-batch.js';
import type { BatchSink } from '../pipeline/sink.js';
import { C } from '../schema/columns.js';
import { type CloudProvider, fetchInstanceIdentity, type InstanceIdentity } from './metadata.js';
import { PcapStreamReader } from './pcap-stream.js';
import { Shipper } from './shipper.js';
import { Spool } from './spool.js';
import { encodeBatch } from './wire.js';

export interface AgentOptions {
  /** Capture interface (tcpdump -i). */
  interface: string;
  /** Server base URL, http(s)://host:port. */
  server: string;
  token: string;
  spoolDir: string;
  /** Agent id in batch ids; also the flows' exporter and exporter_name. */
  hostId: string;
  /** Extra BPF expression ANDed with the exclusion of the agent's own traffic to the server. */
  filter?: string;
  snaplen?: number;
  activeTimeoutMs?: number;
  idleTimeoutMs?: number;
  shipIntervalMs?: number;
  spoolMaxBytes?: number;
  identity?: InstanceIdentity;
  /** Ask this provider's instance metadata service for what `identity` leaves out. */
  cloudMetadata?: CloudProvider;
  metadataEndpoint?: string;
  tcpdump?: string;
  log: Logger;
}

export interface AgentStats {
  packets: number;
  flows: number;
  spooledBatches: number;
  spoolDepth: number;
  spoolBytes: number;
  sentBatches: number;
  sentFlows: number;
  duplicates: number;
  droppedBatches: number;
  droppedFlows: number;
  rejectedFlows: number;
  /** 1 once the capture stream could not be read on (the agent then fails and tcpdump is stopped). */
  captureErrors: number;
  /** Flows lost because their batch could not be written to the spool. */
  spoolErrors: number;
  lostFlows: number;
}

export class Agent {
  private readonly spool: Spool;
  private readonly shipper: Shipper;
  private readonly sink = new AgentSink();
  private meter: FlowMeter | undefined;
  private reader: PcapStreamReader | undefined;
  private tcpdump: ChildProcess | undefined;
  private tcpdumpExit: Promise<number | null> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private identity: InstanceIdentity = {};
  private stopping = false;
  private flows = 0;
  private spooledBatches = 0;
  private captureErrors = 0;
  private spoolErrors = 0;
  private lostFlows = 0;
  /** Resolves when capture ended on its own (tcpdump exited, its stream corrupt): the reason; never on stop(). */
  readonly failed: Promise<string>;
  private fail: (why: string) => void = () => {};

  constructor(private readonly opts: AgentOptions) {
    this.spool = new Spool(opts.spoolDir, opts.spoolMaxBytes ?? 1 << 30);
    this.shipper = new Shipper({
      server: opts.server,
      token: opts.token,
      spool: this.spool,
      onError: (what) => opts.log.warn(what),
    });
    this.failed = new Promise((r) => {
      this.fail = r;
    });
  }

  get tcpdumpPid(): number | undefined {
    return this.tcpdump?.pid;
  }

  /**
   * Resolves once tcpdump is capturing; then the shipper starts. Rejects if capture cannot start
   * (tcpdump missing, no permission, bad interface or filter), leaving nothing running.
   */
  async start(): Promise<void> {
    const o = this.opts;
    this.identity = { ...o.identity };
    if (o.cloudMetadata) {
      try {
        const found = await fetchInstanceIdentity(o.cloudMetadata, o.metadataEndpoint);
        this.identity = { ...found, ...stripUndefined(this.identity) };
        o.log.info({ ...this.identity }, `${o.cloudMetadata} instance metadata`);
      } catch (e) {
        // Identity is context, not a gate: flows are shipped without it rather than not at all.
        o.log.warn({ err: (e as Error).message }, `${o.cloudMetadata} instance metadata unavailable`);
      }
    }
    this.meter = new FlowMeter({
      sink: this.sink,
      activeTimeoutMs: o.activeTimeoutMs ?? 60_000,
      idleTimeoutMs: o.idleTimeoutMs ?? 15_000,
      exporter: o.hostId,
      sourceType: 'agent',
      onError: (what) => o.log.debug(what),
    });
    this.reader = new PcapStreamReader(this.meter);
    try {
      await this.startCapture();
    } catch (e) {
      // tcpdump may still be up (it failed in a way that left it running): nothing outlives start().
      const p = this.tcpdump;
      if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      throw e;
    }
    if (this.spool.batches > 0)
      o.log.info({ batches: this.spool.batches, bytes: this.spool.bytes }, 'spooled batches from an earlier run');
    this.shipper.start();
    this.timer = setInterval(() => this.tick(Date.now()), o.shipIntervalMs ?? 1000);
  }

  private async startCapture(): Promise<void> {
    const o = this.opts;
    const args = ['-i', o.interface, '-U', '-w', '-', '-s', String(o.snaplen ?? 256), '-n', '-q'];
    const bpf = captureFilter(o.server, o.filter);
    if (bpf) args.push(bpf);
    const proc = spawn(o.tcpdump ?? 'tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.tcpdump = proc;
    this.tcpdumpExit = new Promise((r) => proc.once('close', (code) => r(code)));
    const reader = this.reader as PcapStreamReader;
    // A stream the reader cannot follow any more (it parses nothing after the error) would leave
    // the agent running and metering nothing: it fails the agent and tcpdump is stopped.
    let corrupt: string | undefined;
    proc.stdout?.on('data', (chunk: Buffer) => {
      if (corrupt !== undefined) return;
      reader.push(chunk);
      if (reader.error === undefined) return;
      corrupt = `capture stream: ${reader.error}`;
      this.captureErrors++;
      proc.kill('SIGTERM');
      this.fail(corrupt);
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      proc.once('error', (e) => reject(new Error(`cannot run tcpdump: ${e.message}`)));
      proc.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('listening on')) resolve();
      });
      proc.once('close', (code) =>
        reject(new Error(corrupt ?? `tcpdump exited (${code}): ${stderr.trim().split('\n').slice(-2).join(' / ')}`)),
      );
    });
    void this.tcpdumpExit.then((code) => {
      if (!this.stopping)
        this.fail(corrupt ?? `tcpdump exited (${code}): ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    });
  }

  /** Expire flows, spool what the meter emitted, wake the shipper. */
  tick(nowMs: number): void {
    this.meter?.expire(nowMs);
    for (const b of this.sink.take()) {
      try {
        this.shipBatch(b);
      } catch (e) {
        // Disk full or the spool gone: these flows are lost, and said so.
        this.spoolErrors++;
        this.lostFlows += b.length;
        this.opts.log.error({ err: (e as Error).message, flows: b.length }, 'cannot spool a batch; flows lost');
      }
      this.sink.recycle(b);
    }
  }

  private shipBatch(b: FlowBatch): void {
    const id = this.identity;
    const host = this.opts.hostId;
    for (let r = 0; r < b.length; r++) {
      b.setString(C.exporter_name, r, host);
      if (id.instanceId) b.setString(C.instance_id, r, id.instanceId);
      if (id.accountId) b.setString(C.account_id, r, id.accountId);
      if (id.region) b.setString(C.region, r, id.region);
      if (id.zone) b.setString(C.zone, r, id.zone);
    }
    const seq = this.spool.peekSeq();
    const body = gzipSync(encodeBatch(b, { agent: host, epoch: this.spool.epoch, seq }), { level: 1 });
    this.spool.append(seq, b.length, body);
    this.flows += b.length;
    this.spooledBatches++;
    this.shipper.kick();
  }

  stats(): AgentStats {
    const s = this.shipper;
    return {
      packets: this.reader?.packets ?? 0,
      flows: this.flows,
      spooledBatches: this.spooledBatches,
      spoolDepth: this.spool.batches,
      spoolBytes: this.spool.bytes,
      sentBatches: s.sentBatches,
      sentFlows: s.sentFlows,
      duplicates: s.duplicates,
      droppedBatches: this.spool.droppedBatches,
      droppedFlows: this.spool.droppedFlows,
      rejectedFlows: s.rejectedFlows,
      captureErrors: this.captureErrors,
      spoolErrors: this.spoolErrors,
      lostFlows: this.lostFlows,
    };
  }

  /**
   * Stop capturing, emit every open flow, spool it, and keep sending for up to `drainMs`; what
   * is not acknowledged by then stays in the spool for the next start.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.stopCapture();
    this.meter?.flush();
    this.tick(Date.now());
    await this.shipper.stop(drainMs);
  }

  /**
   * SIGTERM, and tcpdump writes what it buffered before exiting: read the stream to its end. One
   * that has not exited after a grace period (hung, or ignoring SIGTERM) is killed; if its output
   * pipe is still held open then (by a process it started), the agent stops reading it.
   */
  private async stopCapture(): Promise<void> {
    const p = this.tcpdump;
    const exit = this.tcpdumpExit;
    if (!p || !exit) return;
    const running = () => p.exitCode === null && p.signalCode === null;
    if (running()) p.kill('SIGTERM');
    if (await within(exit, STOP_GRACE_MS)) return;
    if (running()) p.kill('SIGKILL');
    if (await within(exit, STOP_GRACE_MS)) return;
    this.opts.log.warn({ pid: p.pid }, 'tcpdump output still open after SIGKILL; no longer read');
    p.stdout?.destroy();
    p.stderr?.destroy();
    await within(exit, 500);
  }
}

/** How long stop() waits for tcpdump after SIGTERM, and again after SIGKILL. */
const STOP_GRACE_MS = 2000;

/** Whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    t = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** BPF: the operator's filter, minus the agent's own connection to the server. */
export function captureFilter(server: string, filter?: string): string {
  const parts: string[] = [];
  if (filter?.trim()) parts.push(`(${filter.trim()})`);
  try {
    const u = new URL(server);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const host = u.hostname.replace(/^\[|\]$/g, '');
    parts.push(`not (tcp port ${port} and host ${host})`);
  } catch {
    // an unparsable URL fails at the first send with a clear error
  }
  return parts.join(' and ');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}

/** Where the meter writes rows: full batches wait for the next tick; spooled ones are reused. */
class AgentSink implements BatchSink {
  private current: FlowBatch | undefined;
  private readonly full: FlowBatch[] = [];
  private readonly pool: FlowBatch[] = [];

  batch(): FlowBatch {
    let b = this.current;
    if (b === undefined || b.full) {
      if (b !== undefined) this.full.push(b);
      b = this.pool.pop() ?? new FlowBatch(4096);
      this.current = b;
    }
    return b;
  }

  /** Every batch holding rows, oldest first; the sink starts a new one on the next row. */
  take(): FlowBatch[] {
    const out = this.full.splice(0);
    if (this.current !== undefined && this.current.length > 0) {
      out.push(this.current);
      this.current = undefined;
    }
    return out;
  }

  recycle(b: FlowBatch): void {
    b.reset();
    this.pool.push(b);
  }
}
