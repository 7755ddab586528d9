// `flowwatch serve`: UDP and TCP receivers → decode → per-exporter policy → forward and store,
// with /metrics, /health and the query API.

import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import pino from 'pino';
import { BatchIds } from '../api/batch-ids.js';
import { HttpIngest } from '../api/ingest.js';
import { ApiServer, type Metric } from '../api/server.js';
import type { Config } from '../config/config.js';
import { Enrichment } from '../enrich/manager.js';
import { Forwarder } from '../forward/forwarder.js';
import { DatagramDecoder } from '../ingest/datagram.js';
import { loadDecoderState, saveDecoderState } from '../ingest/netflow/state.js';
import { startInputs } from '../ingest/sources/inputs.js';
import { IpfixTcpReceiver } from '../ingest/tcp/ipfix-tcp.js';
import { UdpReceiver } from '../ingest/udp/receiver.js';
import { CounterDeltas, type CounterName, ExporterCounters } from '../pipeline/counters.js';
import { ExporterPolicy } from '../pipeline/exporter-policy.js';
import { exporterStates } from '../pipeline/exporter-state.js';
import type { FlowBatch } from '../pipeline/flow-batch.js';
import { IngestPipeline } from '../pipeline/ingest.js';
import { LocalQueryTarget } from '../query/service.js';
import { openStore, setLockApi } from '../store/duckdb/index.js';
import { RateLimitedLog } from '../util/rate-limited-log.js';

/** Datagrams decoded per turn of the event loop before the socket gets a chance to be read. */
const DECODE_SLICE = 512;

export interface RunningServer {
  stop(): Promise<void>;
  httpAddress: string;
  udpPorts: number[];
  done: Promise<void>;
}

export async function startServer(cfg: Config): Promise<RunningServer> {
  const log = pino({ level: cfg.log.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
  const counters = new ExporterCounters();
  const store = await openStore({
    dir: cfg.dataDir,
    memoryLimit: cfg.store.memoryLimit,
    threads: cfg.store.threads,
    retention: { raw: cfg.store.retention.raw, rollup1m: cfg.store.retention.rollup1m },
  });
  const storedAtStart = await store.count();
  const badInput = new RateLimitedLog((exporter, what, suppressed) =>
    log.warn({ exporter, suppressed_since_last: suppressed }, `malformed input: ${what}`),
  );
  const decoder = new DatagramDecoder({
    counters,
    pendingLimit: cfg.decode.pendingPackets,
    onInterfaceCounters: (c) => store.appendInterfaceCounters(c),
    onError: (exporter, what) => badInput.report(exporter, what),
  });
  // Templates, samplers and names learned before a restart: flows decode at once instead of
  // waiting for each exporter's next template refresh.
  const statePath = join(cfg.dataDir, 'decoder-state.json');
  const saved = loadDecoderState(statePath, (m) => log.warn(m));
  if (saved) {
    const r = decoder.netflow.importState(saved);
    log.info({ domains: r.domains, templates: r.templates }, 'decoder state restored');
    for (const e of r.errors) log.warn(e);
  }
  let savingDecoder: Promise<void> | undefined;
  const saveDecoder = () => {
    savingDecoder ??= saveDecoderState(statePath, decoder.netflow.exportState())
      .catch((err: Error) => log.error({ err: err.message }, 'decoder state save failed'))
      .finally(() => {
        savingDecoder = undefined;
      });
    return savingDecoder;
  };
  const policy = new ExporterPolicy(cfg.exporters, counters);
  // Enrichment tables load in the background: flows received before a table is ready are stored
  // without what it adds (metadata never gates ingestion); reloads swap whole tables.
  const enrichment = new Enrichment(cfg.enrich, {
    cacheDir: join(cfg.dataDir, 'intel-cache'),
    log: (level, msg) => log[level](msg),
  });
  enrichment.load().then(() => enrichment.start());
  const forwarders = cfg.forward.map((f) => new Forwarder(f));
  // What every batch goes through before the store, whichever way it came in. Forwarders encode
  // before send() returns, so the batch can go on to the store unchanged.
  const transform = (b: FlowBatch) => {
    policy.apply(b);
    enrichment.apply(b);
    for (const f of forwarders) f.send(b);
  };
  const pipeline = new IngestPipeline({
    writer: store,
    counters,
    batchSize: cfg.store.batchSize,
    transform,
    onError: (err) => log.error({ err: err.message }, 'store append failed'),
  });
  const receiver = new UdpReceiver({
    addrs: [...cfg.listen.netflow, ...cfg.listen.ipfix, ...cfg.listen.sflow],
    receiveBuffer: cfg.listen.receiveBuffer,
    queuePackets: cfg.listen.queuePackets,
    counters,
  });
  // IPFIX over TCP: decoded as it arrives; while the store is behind the sockets are paused, so
  // TCP flow control holds the exporters back instead of anything being dropped.
  const tcp = new IpfixTcpReceiver({
    addrs: cfg.listen.ipfixTcp,
    counters,
    log,
    idleTimeoutMs: cfg.listen.tcpIdleTimeout,
    maxConnections: cfg.listen.tcpMaxConnections,
    onMessage: (m, exporter, ms) => {
      decoder.decode(m, exporter, ms, pipeline);
    },
    paused: () => pipeline.backlogFull,
    drained: () => pipeline.whenDrained(),
  });
  try {
    await receiver.start();
    await tcp.start();
  } catch (e) {
    // A port in use or not ours to bind: say which listener, and leave the store as it was.
    await receiver.stop().catch(() => {});
    await tcp.stop().catch(() => {});
    await store.close();
    throw new Error(`cannot listen (listen.* settings or --listen): ${(e as Error).message}`);
  }

  const started = Date.now();
  let running = true;
  let stored = storedAtStart;
  // Log inputs (directories, S3, Azure Blob): each has its own pipeline into the store and
  // checkpoints in the flows' transactions (src/ingest/sources/source.ts).
  const inputs = startInputs(cfg.inputs, {
    store,
    counters,
    batchSize: cfg.store.batchSize,
    transform,
    onError: (input, message) => log.warn({ input }, message),
  });

  const metrics = (): Metric[] => [
    ...collectMetrics(counters, receiver, pipeline, stored - storedAtStart),
    ...forwarderMetrics(forwarders),
    ...enrichMetrics(enrichment),
  ];
  const target = new LocalQueryTarget(
    store,
    () => ({ counters: counters.snapshot(), templates: decoder.netflow.inventory(), sflow: decoder.sflow.inventory() }),
    false,
    cfg.enrich.communityIdSeed,
  );
  // Counter growth per exporter (and kernel drops per listener) goes into the coverage series
  // with each commit, under the minute it was counted in.
  const deltas = new CounterDeltas();
  const recordCoverage = () => {
    const snap = counters.snapshot();
    for (const [listener, drops] of receiver.kernelDrops()) snap[`listener:${listener}`] = { kernel_drops: drops };
    const minute = Date.now();
    for (const [exporter, d] of Object.entries(deltas.take(snap))) store.recordCoverage(minute, exporter, d);
  };

  let flushing: Promise<void> | undefined;
  let flushError: Error | undefined;
  const flush = () => {
    if (flushing) return flushing;
    flushing = (async () => {
      try {
        recordCoverage();
        stored = await pipeline.flush();
        flushError = undefined;
      } catch (err) {
        flushError = err as Error;
        log.error({ err: (err as Error).message }, 'flush failed');
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  };
  // HTTP ingest acknowledges only committed rows: a flush already running may have handed its
  // batches to the store before the request's rows were written, so wait for it and run (or join)
  // one that starts after them. A store append refused meanwhile fails the request too (it may
  // have held the request's rows; the client retries).
  const commitWritten = async () => {
    const failedBefore = pipeline.failed;
    if (flushing) await flushing;
    await flush();
    if (flushError) throw flushError;
    if (pipeline.failed > failedBefore) throw new Error('the store refused a batch');
  };
  let api: ApiServer | undefined;
  let httpAddress = '';
  if (cfg.http.listen) {
    api = new ApiServer({
      listen: cfg.http.listen,
      target,
      metrics,
      ingest: new HttpIngest({
        tokens: cfg.ingest.tokens,
        maxBody: cfg.ingest.maxBody,
        sink: pipeline,
        commit: () => commitWritten(),
        batchIds: new BatchIds(store, pipeline),
        counters,
      }),
      health: () => ({
        status: 'ok',
        udp_ports: receiver.ports(),
        uptime_s: Math.round((Date.now() - started) / 1000),
        flows_stored: stored - storedAtStart,
        receive_queue: receiver.queued,
        store_backlog_batches: pipeline.backlog,
      }),
    });
    httpAddress = await api.start();
    await setLockApi(cfg.dataDir, httpAddress);
  }

  // receive → decode: drain the queue in slices, yielding so the sockets keep being read; hold
  // back while the store is behind (the receive queue then absorbs the burst, or drops and counts).
  const decodeLoop = (async () => {
    while (running) {
      await receiver.whenReadable();
      let n = 0;
      for (let d = receiver.shift(); d !== undefined; d = n < DECODE_SLICE ? receiver.shift() : undefined) {
        decoder.decode(d.payload, d.exporter, d.receivedMs, pipeline);
        n++;
      }
      if (pipeline.backlogFull) await pipeline.whenDrained();
      await yieldToLoop();
    }
  })();

  const flushTimer = setInterval(flush, cfg.store.flushInterval);
  // Counters of earlier runs, so the stored totals keep counting across restarts.
  const previousStates = await store.exporterStates();
  const saveState = async () => {
    for (const st of exporterStates(
      decoder.netflow.inventory(),
      counters,
      previousStates,
      Date.now(),
      decoder.sflow.inventory(),
    ))
      await store.putExporterState(st.exporter, st);
  };
  const stateTimer = setInterval(() => {
    void saveState().catch(() => {});
    void saveDecoder();
  }, 10_000);
  const retentionTimer = setInterval(
    () => void store.enforceRetention(Date.now()).catch((e: Error) => log.warn({ err: e.message }, 'retention')),
    600_000,
  );
  let lastStored = stored;
  const logTimer = setInterval(() => {
    const drops = [...receiver.kernelDrops().values()].reduce((a, b) => a + b, 0);
    log.info(
      {
        flows_per_s: Math.round((stored - lastStored) / 10),
        stored: stored - storedAtStart,
        queue_drops: counters.total('queue_drops'),
        kernel_drops: drops,
        sequence_lost: counters.total('sequence_lost'),
      },
      'ingest',
    );
    lastStored = stored;
  }, 10_000);

  log.info(
    {
      udp: [...cfg.listen.netflow, ...cfg.listen.ipfix, ...cfg.listen.sflow],
      udp_ports: receiver.ports(),
      tcp: cfg.listen.ipfixTcp,
      tcp_ports: tcp.ports(),
      http: httpAddress,
      data: cfg.dataDir,
    },
    'flowwatch serving',
  );

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const stop = async () => {
    if (!running) return done;
    running = false;
    clearInterval(flushTimer);
    clearInterval(stateTimer);
    clearInterval(retentionTimer);
    clearInterval(logTimer);
    enrichment.close();
    await receiver.stop();
    await tcp.stop();
    await Promise.all(inputs.map((i) => i.stop()));
    await decodeLoop;
    // Decode what the receiver had already accepted: a clean stop loses nothing it took in.
    for (let d = receiver.shift(); d !== undefined; d = receiver.shift())
      decoder.decode(d.payload, d.exporter, d.receivedMs, pipeline);
    if (flushing) await flushing;
    recordCoverage();
    stored = await pipeline.flush();
    await saveState();
    await savingDecoder;
    await saveDecoderState(statePath, decoder.netflow.exportState()).catch((err: Error) =>
      log.error({ err: err.message }, 'decoder state save failed'),
    );
    await Promise.all(forwarders.map((f) => f.stop(5000)));
    await api?.stop();
    await store.close();
    log.info({ stored: stored - storedAtStart }, 'flowwatch stopped');
    resolveDone();
  };
  return { stop, httpAddress, udpPorts: receiver.ports(), done };
}

const COUNTER_HELP: Record<CounterName, string> = {
  packets: 'export packets received',
  bytes_received: 'payload bytes received',
  flows: 'flow records decoded',
  templates: 'template records learned',
  options_records: 'options data records decoded',
  kernel_drops: 'datagrams dropped by the kernel socket buffer',
  queue_drops: 'datagrams dropped because the receive queue was full',
  sequence_lost: 'records missing according to export sequence numbers',
  template_missing: 'data sets dropped because their template never arrived',
  template_pending: 'data sets held waiting for their template',
  malformed: 'records or packets that could not be parsed',
  unsupported: 'valid input flowwatch does not decode',
  store_errors: 'flows the store refused',
  agent_drops: 'samples the sFlow agent dropped itself',
  datagrams_lost: 'sFlow datagrams missing by sequence number',
  rate_limited: "flows left out by the exporter's flow-rate limit (kept flows carry a scaled sampling rate)",
};

function collectMetrics(
  counters: ExporterCounters,
  receiver: UdpReceiver,
  pipeline: IngestPipeline,
  stored: number,
): Metric[] {
  const snap = counters.snapshot();
  const out: Metric[] = [];
  for (const name of Object.keys(COUNTER_HELP) as CounterName[]) {
    const samples = Object.entries(snap)
      .filter(([, m]) => m[name] !== undefined)
      .map(([exporter, m]) => ({ labels: { exporter }, value: m[name] as number }));
    if (name === 'kernel_drops')
      for (const [listener, v] of receiver.kernelDrops())
        samples.push({ labels: { exporter: `listener:${listener}` }, value: v });
    out.push({ name: `flowwatch_${name}_total`, help: COUNTER_HELP[name], type: 'counter', samples });
  }
  out.push(
    {
      name: 'flowwatch_flows_stored_total',
      help: 'flows durably stored since start',
      type: 'counter',
      samples: [{ value: stored }],
    },
    {
      name: 'flowwatch_receive_queue_datagrams',
      help: 'datagrams waiting to be decoded',
      type: 'gauge',
      samples: [{ value: receiver.queued }],
    },
    {
      name: 'flowwatch_store_backlog_batches',
      help: 'batches waiting for the store',
      type: 'gauge',
      samples: [{ value: pipeline.backlog }],
    },
    {
      name: 'flowwatch_resident_memory_bytes',
      help: 'resident set size',
      type: 'gauge',
      samples: [{ value: process.memoryUsage.rss() }],
    },
  );
  return out;
}

function enrichMetrics(e: Enrichment): Metric[] {
  const st = e.status();
  return [
    {
      name: 'flowwatch_enrich_entries',
      help: 'entries in each enrichment table in use (ranges, assets, networks, geo, intel)',
      type: 'gauge',
      samples: st.map((s) => ({ labels: { source: s.kind }, value: s.entries })),
    },
    {
      name: 'flowwatch_enrich_load_failed',
      help: '1 while the last load of an enrichment source failed (its previous table stays in use)',
      type: 'gauge',
      samples: st.map((s) => ({ labels: { source: s.kind }, value: s.error === undefined ? 0 : 1 })),
    },
    {
      name: 'flowwatch_enrich_reloads_total',
      help: 'enrichment tables replaced while running',
      type: 'counter',
      samples: [{ value: e.reloads }],
    },
  ];
}

function forwarderMetrics(forwarders: Forwarder[]): Metric[] {
  if (forwarders.length === 0) return [];
  const rows: Metric = {
    name: 'flowwatch_forward_rows_total',
    help: 'rows handled by each forwarding target, by result',
    type: 'counter',
    samples: [],
  };
  const errors: Metric = {
    name: 'flowwatch_forward_errors_total',
    help: 'send errors, retries and connects per forwarding target',
    type: 'counter',
    samples: [],
  };
  for (const f of forwarders) {
    const c = f.counters;
    const target = f.target.name;
    for (const [result, v] of [
      ['sent', c.rows_sent],
      ['filtered_out', c.rows_filtered_out],
      ['dropped_buffer_full', c.rows_dropped_buffer_full],
      ['dropped_undeliverable', c.rows_dropped_undeliverable],
    ] as const)
      rows.samples.push({ labels: { target, result }, value: v });
    for (const [kind, v] of [
      ['send_errors', c.send_errors],
      ['retries', c.retries],
      ['connects', c.connects],
    ] as const)
      errors.samples.push({ labels: { target, kind }, value: v });
  }
  return [rows, errors];
}
