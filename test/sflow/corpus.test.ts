// Every sFlow capture of the shared corpus, decoded by flowwatch and compared sample by sample and
// field by field with tshark's sflow dissector (which decodes the sampled header with its own
// eth/vlan/ip/ipv6/tcp/udp/icmp dissectors nested inside).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { test } from 'node:test';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { looksLikeSFlow } from '../../src/ingest/sflow/decoder.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { assertRowMatches, decodeCapture, sflowCaptures, TSHARK, tsharkSamples } from './helpers.js';

const skip = needsData() || needsTool('tshark', TSHARK);

for (const file of sflowCaptures()) {
  test(`sFlow ${basename(file)} matches tshark`, { skip }, () => {
    const want = tsharkSamples(file);
    const got = decodeCapture(file);
    const flows = want.filter((s) => s.kind === 'flow');
    const ctrs = want.filter((s) => s.kind === 'counters');
    assert.ok(want.length > 0, 'tshark sees samples');
    assert.equal(got.rows.length, flows.length, 'one row per flow sample');
    flows.forEach((s, i) => {
      assertRowMatches(got.rows[i], s.row, `${basename(file)} sample ${i}`);
    });
    assert.equal(got.interfaces.length, ctrs.length, 'one callback per counter sample');
    ctrs.forEach((s, i) => {
      const c = got.interfaces[i] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(s.counters)) {
        const ours = k.startsWith('ethernet.') ? (c.ethernet as Record<string, unknown> | null)?.[k.slice(9)] : c[k];
        assert.equal(ours, v, `${basename(file)} counter sample ${i}: ${k}`);
      }
    });
    for (const e of got.counters.exporters()) {
      assert.equal(got.counters.get(e, 'malformed'), 0, `${e} malformed`);
      assert.equal(got.counters.get(e, 'unsupported'), 0, `${e} unsupported`);
    }
    for (const p of readUdpPackets(readFileSync(file))) assert.ok(looksLikeSFlow(p.payload));
  });
}

test('non-sFlow payloads are not recognised as sFlow', { skip: needsData() }, () => {
  for (const f of ['netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap']) {
    for (const p of readUdpPackets(readFileSync(dataPath(...f.split('/')))))
      assert.equal(looksLikeSFlow(p.payload), false);
  }
});
