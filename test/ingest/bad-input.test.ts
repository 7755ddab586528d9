// Bad input gets a clear error naming what and where (the exporter), is counted, and is sampled
// into the log at a limited rate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DatagramDecoder } from '../../src/ingest/datagram.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { RateLimitedLog } from '../../src/util/rate-limited-log.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();

function decodeWithErrors(payload: Uint8Array): { errors: [string, string][]; counters: ExporterCounters } {
  const counters = new ExporterCounters();
  const errors: [string, string][] = [];
  const d = new DatagramDecoder({ counters, onError: (e, what) => errors.push([e, what]) });
  d.decode(payload, '198.51.100.7', 0, new CollectingSink(() => new FlowBatch(64)));
  return { errors, counters };
}

test('a NetFlow v5 packet whose count lies is reported with the numbers', { skip }, () => {
  const [p] = [...readUdpPackets(readFileSync(dataPath('netflow/graylog/netflow5.pcap')))];
  const lie = new Uint8Array(p.payload);
  lie[3] = 29; // count 29 records in a datagram that holds 1
  const { errors, counters } = decodeWithErrors(lie);
  assert.equal(counters.get('198.51.100.7', 'malformed'), 1);
  assert.deepEqual(errors, [
    ['198.51.100.7', `NetFlow v5 header says 29 records; the datagram has ${lie.length} bytes`],
  ]);
});

test('an IPFIX set whose length runs past the message names the set', { skip }, () => {
  const [p] = [...readUdpPackets(readFileSync(dataPath('netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap')))];
  const bad = new Uint8Array(p.payload);
  bad[18] = 0xff; // first set's length high byte
  const { errors } = decodeWithErrors(bad);
  assert.equal(errors[0][0], '198.51.100.7');
  assert.match(errors[0][1], /^set \d+: length \d+ does not fit the \d+ bytes left$/);
});

test('a truncated sFlow datagram names the sample that does not fit', { skip }, () => {
  const [p] = [...readUdpPackets(readFileSync(dataPath('netflow/akvorado/sflow/data-1140.pcap')))];
  const cut = p.payload.subarray(0, p.payload.length - 40);
  const { errors, counters } = decodeWithErrors(cut);
  assert.equal(counters.get(errors[0]?.[0] ?? '', 'malformed'), 1);
  assert.match(
    errors[0][1],
    /^sample \d+ of \d+: (length \d+ past the end of the datagram|datagram ends before its header)$/,
  );
});

test('the log gets the first report per exporter and interval, with how many were held back', () => {
  let t = 0;
  const out: string[] = [];
  const log = new RateLimitedLog(
    (k, m, n) => out.push(`${k} ${m} +${n}`),
    10_000,
    100,
    () => t,
  );
  for (let i = 0; i < 5; i++) log.report('a', `bad ${i}`);
  log.report('b', 'other');
  t = 10_000;
  log.report('a', 'later');
  assert.deepEqual(out, ['a bad 0 +0', 'b other +0', 'a later +4']);
});
