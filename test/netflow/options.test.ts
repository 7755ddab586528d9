// Options data: what exporters say about their interfaces, applications and samplers reaches the
// inventory (and from there `flowwatch stats`), compared with what tshark dissects from the same
// options records; sampler tables are kept per (exporter, domain, sampler id).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { needsData, needsTool } from '../helpers/data.js';
import {
  buildPcap,
  corpusGroups,
  decodeAll,
  groupPayloads,
  rowObject,
  TSHARK,
  tsharkOptionRecords,
} from './corpus-helpers.js';

const skip = needsData() || needsTool('tshark', TSHARK);

test('interface names and descriptions in the inventory are the options records tshark shows', { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-opt-'));
  try {
    let groups = 0;
    let compared = 0;
    for (const files of corpusGroups()) {
      const name = files.map((f) => basename(f)).join(' + ');
      const payloads = groupPayloads(files);
      const pcap = join(tmp, 'g.pcap');
      writeFileSync(pcap, buildPcap(payloads));
      const expected = new Map<string, { name?: string; description?: string }>();
      for (const o of tsharkOptionRecords(pcap)) {
        if (o.if_name === undefined && o.if_descr === undefined) continue;
        // The ifIndex the names belong to: ingressInterface, else egressInterface (pmacct's IOS XR).
        const k = o.inputint ?? o.outputint;
        if (k === undefined) continue;
        const e = expected.get(k) ?? {};
        if (o.if_name) e.name = o.if_name;
        if (o.if_descr) e.description = o.if_descr;
        expected.set(k, e);
      }
      if (expected.size === 0) continue;
      groups++;
      const { decoder } = decodeAll(payloads);
      const got: Record<string, { name?: string; description?: string }> = {};
      for (const inv of decoder.inventory()) Object.assign(got, inv.interfaces ?? {});
      assert.deepEqual(got, Object.fromEntries(expected), name);
      compared += expected.size;
    }
    assert.ok(groups >= 3, `only ${groups} captures with interface options`);
    assert.ok(compared >= 25, `only ${compared} interfaces compared`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('Cisco NBAR: application names from options data label the flows that carry only the id', { skip }, () => {
  const files = corpusGroups().find((g) => g.some((f) => f.includes('cisco_nbar_opttpl260')));
  assert.ok(files);
  const payloads = groupPayloads(files);
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-nbar-'));
  try {
    const pcap = join(tmp, 'nbar.pcap');
    writeFileSync(pcap, buildPcap(payloads));
    const expected: Record<string, { name: string; description?: string }> = {};
    for (const o of tsharkOptionRecords(pcap)) {
      const e = o['appl_id.classification_engine_id'];
      const sel = o['appl_id.selector_id'];
      if (e === undefined || sel === undefined || !o.appl_name) continue;
      const k = `${Number(e)}:${Number.parseInt(sel.replace(/:/g, ''), 16)}`;
      expected[k] = o.appl_desc ? { name: o.appl_name, description: o.appl_desc } : { name: o.appl_name };
    }
    assert.ok(Object.keys(expected).length >= 10);
    const { decoder, rows } = decodeAll(payloads);
    const apps = Object.assign({}, ...decoder.inventory().map((i) => i.applications ?? {}));
    assert.deepEqual(apps, expected);
    // The data records carry applicationId 1:1 (IANA-L3 protocol 1): options data named it "icmp".
    const icmp = rows.filter((r) => r.proto === 1);
    assert.ok(icmp.length >= 2);
    for (const r of icmp) assert.equal(r.app, expected['1:1'].name);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// ---- sampler tables, on packets built to the letter of RFC 3954 §6 (values chosen by the test)

/** A v9 packet: header then the given FlowSets (each [setId, body]). */
function v9(sourceId: number, seq: number, sets: [number, number[]][]): Uint8Array {
  const body: number[] = [];
  for (const [id, b] of sets) {
    const pad = (4 - ((4 + b.length) % 4)) % 4;
    const len = 4 + b.length + pad;
    body.push(id >> 8, id & 255, len >> 8, len & 255, ...b, ...new Array(pad).fill(0));
  }
  const h = Buffer.alloc(20);
  h.writeUInt16BE(9, 0);
  h.writeUInt16BE(sets.length, 2);
  h.writeUInt32BE(1000, 4);
  h.writeUInt32BE(1_700_000_000, 8);
  h.writeUInt32BE(seq, 12);
  h.writeUInt32BE(sourceId, 16);
  return new Uint8Array([...h, ...body]);
}
const u16 = (v: number) => [v >> 8, v & 255];
const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

// Options template 300: scope System (4 bytes), FLOW_SAMPLER_ID (48, 1), FLOW_SAMPLER_RANDOM_INTERVAL (50, 4).
const optTpl: [number, number[]] = [
  1,
  [...u16(300), ...u16(4), ...u16(8), ...u16(1), ...u16(4), 0, 48, 0, 1, 0, 50, 0, 4],
];
// Data template 301: IPV4_SRC_ADDR, IPV4_DST_ADDR, IN_BYTES, FLOW_SAMPLER_ID.
const dataTpl: [number, number[]] = [0, [...u16(301), ...u16(4), 0, 8, 0, 4, 0, 12, 0, 4, 0, 1, 0, 4, 0, 48, 0, 1]];
const samplers = (rates: [number, number][]): [number, number[]] => [
  300,
  rates.flatMap(([id, rate]) => [...u32(0), id, ...u32(rate)]),
];
const flows = (ids: number[]): [number, number[]] => [
  301,
  ids.flatMap((id, i) => [10, 0, 0, i + 1, 10, 0, 1, 1, ...u32(100 + i), id]),
];

function decodeV9(d: FlowExportDecoder, packets: [string, Uint8Array][]) {
  const sink = new CollectingSink(() => new FlowBatch(64));
  for (const [exp, p] of packets) d.decode(p, exp, 1, sink);
  return sink.batches.flatMap((b) => Array.from({ length: b.length }, (_, r) => rowObject(b, r)));
}

test('several samplers per exporter and domain: each flow gets the rate of its own sampler', () => {
  const d = new FlowExportDecoder({ counters: new ExporterCounters() });
  const rows = decodeV9(d, [
    [
      '192.0.2.1',
      v9(7, 1, [
        optTpl,
        dataTpl,
        samplers([
          [1, 100],
          [2, 1000],
        ]),
      ]),
    ],
    // Same sampler ids on another exporter and on another source id of the first: their own rates.
    ['192.0.2.2', v9(7, 1, [optTpl, dataTpl, samplers([[1, 50]])])],
    ['192.0.2.1', v9(8, 1, [optTpl, dataTpl, samplers([[1, 64]])])],
    ['192.0.2.1', v9(7, 2, [flows([1, 2, 1, 3])])],
    ['192.0.2.2', v9(7, 2, [flows([1, 2])])],
    ['192.0.2.1', v9(8, 2, [flows([1])])],
  ]);
  assert.deepEqual(
    rows.map((r) => [r.exporter, r.observation_domain, r.sampling_rate]),
    [
      ['192.0.2.1', 7, 100],
      ['192.0.2.1', 7, 1000],
      ['192.0.2.1', 7, 100],
      ['192.0.2.1', 7, null], // sampler 3 was never announced: unknown, not guessed
      ['192.0.2.2', 7, 50],
      ['192.0.2.2', 7, null],
      ['192.0.2.1', 8, 64],
    ],
  );
  const inv = d.inventory();
  assert.deepEqual(
    inv.map((i) => [i.exporter, i.observationDomain, i.samplingRates]),
    [
      ['192.0.2.1', 7, { 1: 100, 2: 1000 }],
      ['192.0.2.1', 8, { 1: 64 }],
      ['192.0.2.2', 7, { 1: 50 }],
    ],
  );
});

test('corpus captures with sampler options: the rates are the ones tshark shows', { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-smp-'));
  try {
    let checked = 0;
    for (const files of corpusGroups()) {
      const payloads = groupPayloads(files);
      const name = files.map((f) => basename(f)).join(' + ');
      const pcap = join(tmp, 'g.pcap');
      writeFileSync(pcap, buildPcap(payloads));
      const opts = tsharkOptionRecords(pcap);
      const expected: Record<string, number> = {};
      for (const o of opts) {
        const id = o.sampler_id ?? o.selector_id;
        if (id === undefined) continue;
        // RFC 5477 n-out-of-N, count-based interval/space, v9 random interval: a 1-in-N rate.
        let rate: number | undefined;
        if (o.sampling_size && o.sampling_population) rate = Number(o.sampling_population) / Number(o.sampling_size);
        else if (o.sampling_packet_interval && o.sampling_packet_space !== undefined)
          rate =
            (Number(o.sampling_packet_interval) + Number(o.sampling_packet_space)) / Number(o.sampling_packet_interval);
        else if (o.sampler_random_interval !== undefined) rate = Number(o.sampler_random_interval) || 1;
        if (rate !== undefined) expected[id] = rate;
      }
      if (Object.keys(expected).length === 0) continue;
      const { decoder } = decodeAll(payloads);
      const got = Object.assign({}, ...decoder.inventory().map((i) => i.samplingRates));
      assert.deepEqual(got, expected, name);
      checked++;
    }
    assert.ok(checked >= 3, `only ${checked} captures with sampler tables`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
