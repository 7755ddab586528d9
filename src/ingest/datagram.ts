// One entry for flow datagrams from any UDP listener or capture: sFlow v5 and NetFlow v5/v9/IPFIX
// are told apart by content (sFlow starts with the 32-bit version 5; NetFlow/IPFIX with a 16-bit
// version 5, 9 or 10), so any port accepts any of them, as routers are often configured.

import type { ExporterCounters } from '../pipeline/counters.js';
import type { BatchSink } from '../pipeline/sink.js';
import { FlowExportDecoder, looksLikeFlowExport } from './netflow/decoder.js';
import { type InterfaceCounters, looksLikeSFlow, SFlowDecoder } from './sflow/decoder.js';

export interface DatagramDecoderOptions {
  counters: ExporterCounters;
  pendingLimit?: number;
  onInterfaceCounters?: (c: InterfaceCounters) => void;
  /** What was wrong with each malformed datagram or record, and from which exporter. */
  onError?: (exporter: string, what: string) => void;
}

export class DatagramDecoder {
  readonly netflow: FlowExportDecoder;
  readonly sflow: SFlowDecoder;

  constructor(opts: DatagramDecoderOptions) {
    this.netflow = new FlowExportDecoder({
      counters: opts.counters,
      pendingLimit: opts.pendingLimit,
      onError: opts.onError,
    });
    this.sflow = new SFlowDecoder({
      counters: opts.counters,
      onCounters: opts.onInterfaceCounters,
      onError: opts.onError,
    });
  }

  /** Decode one datagram from `from`; returns the flow rows written. Never throws on bad input. */
  decode(payload: Uint8Array, from: string, receivedMs: number, sink: BatchSink): number {
    return looksLikeSFlow(payload)
      ? this.sflow.decode(payload, from, receivedMs, sink)
      : this.netflow.decode(payload, from, receivedMs, sink);
  }
}

/** True for a datagram flowwatch decodes: sFlow v5, NetFlow v5/v9 or IPFIX. */
export function looksLikeFlowDatagram(payload: Uint8Array): boolean {
  return looksLikeSFlow(payload) || looksLikeFlowExport(payload);
}
