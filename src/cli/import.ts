// `flowwatch import FILE...`: files recognised by content (or `--format`) and decoded into the
// store: pcap/pcapng carrying NetFlow/IPFIX or sFlow datagrams on any UDP port (the exporter is the
// packet's source address and the receive time its capture time, so an import equals what `serve`
// would have stored had it been listening), Zeek logs (conn.log joined with the dns, ssl and http
// logs given in the same import, by uid) and AWS VPC Flow Logs, plain or gzip.

import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Enrichment } from '../enrich/manager.js';
import type { EnrichSettings } from '../enrich/settings.js';
import { looksLikeParquet } from '../ingest/cloud/aws-parquet.js';
import { DatagramDecoder, looksLikeFlowDatagram } from '../ingest/datagram.js';
import { detectFormat, type ImportFormat } from '../ingest/detect.js';
import { maybeGunzip } from '../ingest/gzip.js';
import { meterCapture } from '../ingest/meter/meter.js';
import { readUdpPackets } from '../ingest/pcap/reader.js';
import { type LogFormat, parseLogObject } from '../ingest/sources/parse.js';
import { parseZeekLogs, type ZeekLogFile } from '../ingest/zeek/logs.js';
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
  /** Log records read (Zeek, Suricata, cloud logs). */
  logRecords: number;
  /** Packets of captures metered into flows. */
  meteredPackets: number;
  /** IDS alerts stored (Suricata). */
  alerts: number;
  exporters: string[];
  errors: string[];
  /** Facts worth a line that are not errors. */
  notes: string[];
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
  enrich?: EnrichSettings;
  /** Read every file as this format instead of recognising it by content. */
  format?: ImportFormat;
}

/** The parser for a log file: `aws-vpc` covers AWS's text and Parquet deliveries. */
function logFormat(raw: Uint8Array, format: Exclude<ImportFormat, 'pcap' | 'meter'>): LogFormat {
  return format === 'aws-vpc' && looksLikeParquet(raw) ? 'aws-parquet' : format;
}

/** Meter a pcap/pcapng file into flows; returns the flows emitted. */
function meterFile(buf: Uint8Array, file: string, sink: IngestPipeline, s: ImportSummary): number {
  let errors = 0;
  const m = meterCapture(buf, {
    sink,
    exporter: `pcap:${basename(file)}`,
    onError: (what) => {
      if (errors++ < 20) s.errors.push(`${file}: ${what}`);
    },
  });
  s.meteredPackets += m.stats.packets;
  return m.stats.flowsEmitted;
}

/** Flows per commit during an import. */
const COMMIT_EVERY = 1 << 20;

export async function importFiles(opts: ImportOptions): Promise<ImportSummary> {
  let flushedAt = 0;
  let lastPacketMs = Date.now();
  const counters = new ExporterCounters();
  const store = await openStore({ dir: opts.dataDir, memoryLimit: opts.memoryLimit, threads: opts.threads });
  // An import enriches as serve would; the tables are loaded before the first flow.
  const enrichment = opts.enrich
    ? new Enrichment(opts.enrich, {
        cacheDir: join(opts.dataDir, 'intel-cache'),
        log: (level, msg) => {
          if (level !== 'info') enrichNotes.push(msg);
        },
      })
    : undefined;
  const enrichNotes: string[] = [];
  await enrichment?.load();
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
      enrichment?.apply(b);
    },
  });
  const s: ImportSummary = {
    files: 0,
    packets: 0,
    exportPackets: 0,
    otherPackets: 0,
    flows: 0,
    stored: 0,
    logRecords: 0,
    meteredPackets: 0,
    alerts: 0,
    exporters: [],
    errors: [],
    notes: [...enrichNotes],
    counters: {},
  };
  const zeek: ZeekLogFile[] = [];
  try {
    for (const file of opts.files) {
      let raw: Buffer;
      try {
        raw = readFileSync(file);
      } catch (e) {
        s.errors.push(`${file}: cannot read: ${(e as Error).message}`);
        continue;
      }
      // AWS delivers VPC flow logs as Parquet too (its footer is at the end: only a whole file is one).
      let format: ImportFormat | null;
      try {
        format =
          opts.format ?? (looksLikeParquet(raw) ? 'aws-vpc' : detectFormat(maybeGunzip(raw.subarray(0, 1 << 20))));
      } catch (e) {
        // A corrupt gzip file (or one inflating past MAX_GUNZIP_BYTES): reported, the import goes on.
        s.errors.push(`${file}: ${(e as Error).message}`);
        counters.add(`file:${file}`, 'malformed', 1);
        continue;
      }
      if (format === null) {
        s.errors.push(
          `${file}: not a format flowwatch imports (pcap/pcapng, Zeek, Suricata eve.json, AWS VPC text or Parquet, Azure, GCP, OCI flow logs); --format forces one`,
        );
        continue;
      }
      s.files++;
      if (format === 'zeek') {
        zeek.push({ name: file, data: raw }); // read together below: conn is joined with dns/ssl/http
        continue;
      }
      if (format !== 'pcap' && format !== 'meter') {
        // Log files: the same parsers (and Parquet recognition) the inputs use.
        const r = await parseLogObject(file, raw, Date.now(), pipeline, logFormat(raw, format));
        s.flows += r.flows;
        s.logRecords += r.records;
        if (r.alerts?.length) {
          s.alerts += r.alerts.length;
          store.appendIdsAlerts(r.alerts); // committed with the flows of the same file
        }
        if (r.malformed) counters.add(`file:${file}`, 'malformed', r.malformed);
        s.errors.push(...r.errors);
        s.notes.push(...r.notes);
        await pipeline.flush();
        continue;
      }
      if (format === 'meter') {
        s.flows += meterFile(raw, file, pipeline, s);
        await pipeline.flush();
        continue;
      }
      const buf = raw;
      let lastShown = 0;
      const exportBefore = s.exportPackets;
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
      // A capture with no flow export in it is traffic: meter it into flows (what YAF does).
      if (s.exportPackets === exportBefore && opts.format === undefined) {
        s.notes.push(`${file}: no NetFlow/IPFIX/sFlow datagrams: its packets were metered into flows`);
        s.flows += meterFile(raw, file, pipeline, s);
        await pipeline.flush();
      }
    }
    if (zeek.length) {
      const r = parseZeekLogs(zeek, Date.now(), pipeline);
      s.flows += r.flows;
      s.logRecords += Object.values(r.byPath).reduce((a, b) => a + b, 0);
      for (const e of r.errors.slice(0, 50)) s.errors.push(`${e.file}${e.line ? `:${e.line}` : ''}: ${e.message}`);
      if (r.errors.length) counters.add('zeek', 'malformed', r.errors.length);
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
