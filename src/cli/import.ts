// `flowwatch import FILE...`: pcap/pcapng files carrying NetFlow/IPFIX or sFlow datagrams on any
// UDP port (recognised by content), decoded into the store. The exporter is the packet's source
// address and the receive time its capture time, so an import equals what `serve` would have
// stored had it been listening.

import { readFileSync } from 'node:fs';
import { type EnrichOptions, enrichBatch } from '../enrich/stage.js';
import { DatagramDecoder, looksLikeFlowDatagram } from '../ingest/datagram.js';
import { readUdpPackets } from '../ingest/pcap/reader.js';
import { ExporterCounters } from '../pipeline/counters.js';
import { ExporterPolicy, type ExporterSetting } from '../pipeline/exporter-policy.js';
import { exporterStates } from '../pipeline/exporter-state.js';
import { IngestPipeline } from '../pipeline/ingest.js';
import { openStore } from '../store/duckdb/index.js';

export interface ImportSummary {
  files: number;
  packets: number;
  exportPackets: number;
  otherPackets: number;
  flows: number;
  stored: number;
  exporters: string[];
  errors: string[];
  counters: ReturnType<ExporterCounters['snapshot']>;
}

export interface ImportOptions {
  dataDir: string;
  files: string[];
  /** Called now and then with the fraction of the current file read and a status line. */
  progress?: (fraction: number, text: string) => void;
  memoryLimit?: string;
  threads?: number;
  /** Per-exporter settings (name, default sampling rate, rate limit), as `serve` applies them. */
  exporters?: ReadonlyMap<string, ExporterSetting>;
  /** What to store with each flow besides what was decoded (from the configuration). */
  enrich?: EnrichOptions;
}

/** Flows per commit during an import. */
const COMMIT_EVERY = 1 << 20;

export async function importFiles(opts: ImportOptions): Promise<ImportSummary> {
  let flushedAt = 0;
  let lastPacketMs = Date.now();
  const counters = new ExporterCounters();
  const store = await openStore({ dir: opts.dataDir, memoryLimit: opts.memoryLimit, threads: opts.threads });
  const before = await store.count();
  // What was wrong, per exporter: the first few reasons go into the summary.
  const reasons = new Map<string, string[]>();
  const decoder = new DatagramDecoder({
    counters,
    onInterfaceCounters: (c) => store.appendInterfaceCounters(c),
    onError: (exporter, what) => {
      const list = reasons.get(exporter) ?? [];
      if (list.length < 3 && !list.includes(what)) list.push(what);
      reasons.set(exporter, list);
    },
  });
  const errors: string[] = [];
  const policy = new ExporterPolicy(opts.exporters ?? new Map(), counters);
  const pipeline = new IngestPipeline({
    writer: store,
    counters,
    onError: (e) => errors.push(`store: ${e.message}`),
    transform: (b) => {
      policy.apply(b);
      if (opts.enrich) enrichBatch(b, opts.enrich);
    },
  });
  const s: ImportSummary = {
    files: 0,
    packets: 0,
    exportPackets: 0,
    otherPackets: 0,
    flows: 0,
    stored: 0,
    exporters: [],
    errors: [],
    counters: {},
  };
  try {
    for (const file of opts.files) {
      let buf: Buffer;
      try {
        buf = readFileSync(file);
      } catch (e) {
        s.errors.push(`${file}: cannot read: ${(e as Error).message}`);
        continue;
      }
      s.files++;
      let lastShown = 0;
      const onError = (msg: string) => s.errors.push(`${file}: ${msg}`);
      for (const p of readUdpPackets(buf, onError)) {
        s.packets++;
        if (!looksLikeFlowDatagram(p.payload)) {
          s.otherPackets++;
          continue;
        }
        s.exportPackets++;
        lastPacketMs = p.tsMs;
        s.flows += decoder.decode(p.payload, p.srcAddr, p.tsMs, pipeline);
        if (pipeline.backlogFull) await pipeline.whenDrained();
        // Commit as we go: one transaction per file would hold every row in memory until the end
        // (and past DuckDB's memory_limit on large captures, losing the whole import).
        if (s.flows - flushedAt >= COMMIT_EVERY) {
          flushedAt = s.flows;
          await pipeline.flush();
        }
        if (opts.progress && (s.packets & 1023) === 0 && Date.now() - lastShown > 200) {
          lastShown = Date.now();
          // Payloads are views into the file buffer: their offset is how far the read has come.
          const done = (p.payload.byteOffset - buf.byteOffset + p.payload.length) / buf.length;
          opts.progress(done, `${file}: ${s.exportPackets} export packets, ${s.flows} flows`);
        }
      }
    }
    // The coverage series of an import sits at the capture's last minute.
    for (const [exporter, c] of Object.entries(counters.snapshot())) store.recordCoverage(lastPacketMs, exporter, c);
    await pipeline.flush();
    const previous = await store.exporterStates();
    for (const st of exporterStates(
      decoder.netflow.inventory(),
      counters,
      previous,
      Date.now(),
      decoder.sflow.inventory(),
    ))
      await store.putExporterState(st.exporter, st);
    s.stored = (await store.count()) - before;
    s.errors.push(...errors);
    for (const [exporter, list] of reasons) for (const what of list) s.errors.push(`exporter ${exporter}: ${what}`);
  } finally {
    await store.close();
  }
  s.exporters = counters.exporters();
  s.counters = counters.snapshot();
  return s;
}
