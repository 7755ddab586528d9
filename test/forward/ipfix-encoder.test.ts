// The IPFIX message layout the UDP exporter relies on (RFC 7011): messages never exceed the size
// budget, sets are well formed, templates are resent every N messages and every T seconds, and a
// collector that only sees messages after a refresh can decode them (checked with flowwatch's
// decoder, which the nfcapd test checks against nfdump).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { IpfixEncoder } from '../../src/forward/ipfix-encoder.js';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { dataPath, needsData } from '../helpers/data.js';
import { decodeCapture } from '../peers/nfdump.js';

/** Set ids of a message, checking that the set lengths tile the message exactly. */
function setIds(m: Buffer): number[] {
  const ids: number[] = [];
  let p = 16;
  while (p < m.length) {
    const len = m.readUInt16BE(p + 2);
    assert.ok(len >= 4 && p + len <= m.length, `set at ${p} has length ${len}`);
    ids.push(m.readUInt16BE(p));
    p += len;
  }
  assert.equal(p, m.length);
  return ids;
}

describe('IPFIX encoder', { skip: needsData() }, () => {
  const batches = [
    'netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap',
    'netflow/pmacct/501-IPFIXv10-BGP-IPv6-CISCO-MPLS/traffic-00.pcap',
    'netflow/graylog/nprobe-netflow9.pcap',
  ].flatMap((cap) => decodeCapture(readFileSync(dataPath(cap)), 64));
  const rows = batches.reduce((a, b) => a + b.length, 0);

  test('messages fit the budget; templates every 3 messages; sequence numbers count records', () => {
    const msgs: { m: Buffer; records: number }[] = [];
    const enc = new IpfixEncoder({ maxMessageBytes: 600, templateRefreshMessages: 3, observationDomain: 7 });
    for (const b of batches) enc.encode(b, null, b.length, (m, records) => msgs.push({ m, records }));
    assert.ok(msgs.length > 10, `${msgs.length} messages`);
    let seq = 0;
    let records = 0;
    for (const [i, { m, records: n }] of msgs.entries()) {
      assert.ok(m.length <= 600, `message ${i}: ${m.length} bytes`);
      assert.equal(m.readUInt16BE(2), m.length);
      assert.equal(m.readUInt32BE(8), seq);
      assert.equal(m.readUInt32BE(12), 7);
      seq += n;
      records += n;
      const ids = setIds(m);
      // The refresh puts every template known so far at the head of the message.
      if (i > 0 && i % 3 === 0) assert.equal(ids[0], 2, `message ${i} starts with a template set`);
    }
    assert.equal(records, rows);
    assert.equal(enc.recordsEncoded, rows);
  });

  test('a collector that starts after a refresh decodes everything from then on', () => {
    const msgs: Buffer[] = [];
    const enc = new IpfixEncoder({ maxMessageBytes: 1452, templateRefreshMessages: 4 });
    for (const b of batches) enc.encode(b, null, b.length, (m) => msgs.push(m));
    const late = new FlowExportDecoder({ counters: new ExporterCounters() });
    const sink = new CollectingSink(() => new FlowBatch(1024));
    let expected = 0;
    for (const [i, m] of msgs.entries()) {
      if (i < 4) continue; // what was sent before the collector started
      late.decode(m, '127.0.0.1', 0, sink);
      let p = 16;
      while (p < m.length) {
        const id = m.readUInt16BE(p);
        const len = m.readUInt16BE(p + 2);
        if (id >= 256) {
          const t = enc.templateInfo().find((x) => x.id === id);
          expected += Math.floor((len - 4) / (t?.recordBytes ?? Number.POSITIVE_INFINITY));
        }
        p += len;
      }
    }
    assert.ok(expected > 0);
    assert.equal(sink.rows, expected);
  });

  test('templates are resent after T seconds', () => {
    let now = 1_000_000;
    const msgs: Buffer[] = [];
    const enc = new IpfixEncoder({ templateRefreshSeconds: 10, now: () => now });
    enc.encode(batches[0], null, batches[0].length, (m) => msgs.push(m));
    const first = msgs.length;
    now += 5_000;
    enc.encode(batches[0], null, batches[0].length, (m) => msgs.push(m));
    assert.notEqual(setIds(msgs[first])[0], 2, 'no refresh after 5 s');
    now += 6_000;
    const before = msgs.length;
    enc.encode(batches[0], null, batches[0].length, (m) => msgs.push(m));
    assert.equal(setIds(msgs[before])[0], 2, 'refresh after 11 s');
    assert.equal(msgs[before].readUInt32BE(4), Math.floor(now / 1000), 'export time');
  });

  test('only the selected rows are encoded', () => {
    const b = batches[0];
    const sel = new Uint32Array([0, 2, 4]);
    let n = 0;
    new IpfixEncoder().encode(b, sel, 2, (_m, records) => {
      n += records;
    });
    assert.equal(n, 2);
  });
});
