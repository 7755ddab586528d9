// Decoder state across a restart: templates, options templates, sampler tables, interface and
// application names saved by one decoder and loaded by a fresh one decode the next packets exactly
// as the decoder that never stopped; a corrupt or hostile state file costs nothing but the state.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { type DecoderState, FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { loadDecoderState, saveDecoderState, saveDecoderStateSync } from '../../src/ingest/netflow/state.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { dataPath, needsData } from '../helpers/data.js';
import { corpusGroups, groupPayloads, type Payload, rowObject } from './corpus-helpers.js';

type Row = Record<string, string | number | null>;

function decoder(): FlowExportDecoder {
  return new FlowExportDecoder({ counters: new ExporterCounters() });
}

function run(d: FlowExportDecoder, payloads: Payload[]): Row[] {
  const sink = new CollectingSink(() => new FlowBatch(256));
  for (const p of payloads) d.decode(p.payload, p.exporter, p.tsMs, sink);
  return sink.batches.flatMap((b) => Array.from({ length: b.length }, (_, r) => rowObject(b, r)));
}

const LS = (f: string) => dataPath('netflow', 'logstash-codec-netflow', f);

/**
 * Restart points: [before, after]. File groups restart between the template files and the data
 * files; single captures restart half way through (a collector restarted mid-stream).
 */
function cases(): [string, Payload[], Payload[]][] {
  const out: [string, Payload[], Payload[]][] = [];
  const files = (tpl: string[], data: string[]) => {
    out.push([`${tpl.join(' + ')} | ${data.join(' + ')}`, groupPayloads(tpl.map(LS)), groupPayloads(data.map(LS))]);
  };
  // v9 options template with NBAR application names, then flows that carry only the id.
  files(
    ['netflow9_test_cisco_nbar_opttpl260.dat', 'netflow9_test_cisco_nbar_tpl262.dat'],
    ['netflow9_test_cisco_nbar_data262.dat'],
  );
  // v9 options templates (interfaces, samplers, VRFs) and data templates; options data after the restart.
  files(
    [
      'netflow9_test_cisco_asr9k_opttpl256.dat',
      'netflow9_test_cisco_asr9k_opttpl257.dat',
      'netflow9_test_cisco_asr9k_opttpl334.dat',
      'netflow9_test_cisco_asr9k_tpl260.dat',
      'netflow9_test_cisco_asr9k_tpl266.dat',
    ],
    ['netflow9_test_cisco_asr9k_data256.dat', 'netflow9_test_cisco_asr9k_data260.dat'],
  );
  // Cisco ASA NSEL (v9 ids above 32767), PAN-OS enterprise App-ID.
  files(['netflow9_test_cisco_asa_1_tpl.dat'], ['netflow9_test_cisco_asa_1_data.dat']);
  files(['netflow9_test_paloalto_panos_tpl.dat'], ['netflow9_test_paloalto_panos_data.dat']);
  // IPFIX: YAF templates with enterprise and variable-length fields, an options template, biflows.
  files(
    ['ipfix_test_yaf_tpl45841.dat', 'ipfix_test_yaf_tpls_option_tpl.dat'],
    ['ipfix_test_yaf_data45841.dat', 'ipfix_test_yaf_data45873.dat', 'ipfix_test_yaf_data53248.dat'],
  );
  files(['ipfix_test_mikrotik_tpl.dat'], ['ipfix_test_mikrotik_data258.dat', 'ipfix_test_mikrotik_data259.dat']);
  // Sampling learned before the restart: v9 sampler options (akvorado), IPFIX RFC 5477 selectors (pmacct 104).
  const ak = (f: string) => dataPath('netflow', 'akvorado', 'netflow', f);
  out.push([
    'akvorado samplingrate-template | samplingrate-data',
    groupPayloads([ak('samplingrate-template.pcap')]),
    groupPayloads([ak('samplingrate-data.pcap')]),
  ]);
  for (const dir of ['104-IPFIXv10-IPv6-CISCO-sampling_option', '101-NFv9-CISCO-cust_primitives']) {
    const all = groupPayloads([dataPath('netflow', 'pmacct', dir, 'traffic-00.pcap')]);
    const half = Math.floor(all.length / 2);
    out.push([`pmacct ${dir} (restart half way)`, all.slice(0, half), all.slice(half)]);
  }
  return out;
}

test('state saved before a restart decodes the next packets exactly as the decoder that never stopped', {
  skip: needsData(),
}, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-state-'));
  try {
    const file = join(tmp, 'decoder-state.json');
    for (const [name, before, after] of cases()) {
      // A: never restarted.
      const a = decoder();
      run(a, before);
      const pendingAtRestart = a.inventory().reduce((n, i) => n + i.pendingSets, 0);
      const expected = run(a, after);
      // B: restarted between `before` and `after`, with the state A had then.
      const a2 = decoder();
      run(a2, before);
      await saveDecoderState(file, a2.exportState());
      const errors: string[] = [];
      const loaded = loadDecoderState(file, (m) => errors.push(m));
      assert.deepEqual(errors, [], name);
      assert.ok(loaded, name);
      const b = decoder();
      const res = b.importState(loaded);
      assert.deepEqual(res.errors, [], name);
      assert.ok(res.templates > 0, `${name}: no templates restored`);
      const got = run(b, after);
      if (pendingAtRestart === 0) assert.deepEqual(got, expected, name);
      else
        assert.ok(
          got.length >= 1 && got.every((r) => expected.some((e) => JSON.stringify(e) === JSON.stringify(r))),
          name,
        );
      assert.ok(
        got.length > 0 || b.inventory().some((i) => i.interfaces),
        `${name}: nothing decoded after the restart`,
      );
      // The inventory after the restart says what the never-stopped decoder's says (apart from times seen).
      const strip = (d: FlowExportDecoder) =>
        d.inventory().map((i) => ({ ...i, templates: i.templates.map((t) => [t.id, t.kind, t.fieldCount]) }));
      assert.deepEqual(strip(b), strip(a), `${name}: inventory`);
      // Without the state the same packets lose flows or their labels: the state is what made the difference.
      const cold = run(decoder(), after);
      assert.notDeepEqual(cold, expected, `${name}: a cold decoder already decodes everything`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a missing state file is no state and no error', () => {
  const errors: string[] = [];
  assert.equal(
    loadDecoderState(join(tmpdir(), 'flowwatch-no-such-dir', 'decoder-state.json'), (m) => errors.push(m)),
    null,
  );
  assert.deepEqual(errors, []);
});

/** A real state (NBAR templates and names) to damage. */
function goodState(): DecoderState {
  const d = decoder();
  run(
    d,
    groupPayloads(
      [
        'netflow9_test_cisco_nbar_opttpl260.dat',
        'netflow9_test_cisco_nbar_tpl262.dat',
        'netflow9_test_cisco_nbar_data262.dat',
      ].map(LS),
    ),
  );
  return d.exportState(1_700_000_000_000);
}

test('corrupt state files: null, a message naming the file, the file kept aside as .corrupt', {
  skip: needsData(),
}, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-state-bad-'));
  try {
    const good = JSON.stringify(goodState());
    const bad: [string, string | Buffer][] = [
      ['truncated', good.slice(0, Math.floor(good.length / 2))],
      ['empty', ''],
      ['binary', Buffer.from([0x00, 0xff, 0xfe, 0x7b, 0x22, 0x00])],
      ['not an object', '[1,2,3]'],
      ['wrong version', good.replace('"version":1', '"version":99')],
      ['domains not a list', '{"version":1,"savedAtMs":0,"domains":{"a":1}}'],
      ['too many domains', JSON.stringify({ version: 1, savedAtMs: 0, domains: new Array(10_001).fill(0) })],
    ];
    for (const [what, content] of bad) {
      const file = join(tmp, `${what.replace(/ /g, '-')}.json`);
      writeFileSync(file, content);
      const errors: string[] = [];
      assert.equal(
        loadDecoderState(file, (m) => errors.push(m)),
        null,
        what,
      );
      assert.equal(errors.length, 1, what);
      assert.match(errors[0], new RegExp(basename(file).replace('.', '\\.')), what);
      assert.ok(existsSync(`${file}.corrupt`) && !existsSync(file), `${what}: not kept aside`);
    }
    // Larger than any real state: refused before it is read.
    const huge = join(tmp, 'huge.json');
    writeFileSync(huge, '{');
    truncateSync(huge, 65 * 1024 * 1024);
    const errors: string[] = [];
    assert.equal(
      loadDecoderState(huge, (m) => errors.push(m)),
      null,
    );
    assert.match(errors[0], /limit/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('hostile state entries are refused one by one and do not poison the decoder', { skip: needsData() }, () => {
  const good = goodState();
  const dom = good.domains[0];
  const tpl = dom.templates[0];
  const hostile: unknown[] = [
    { ...dom, exporter: '' },
    { ...dom, exporter: 'x'.repeat(10_000) },
    { ...dom, protocol: 'netflow7' },
    { ...dom, observationDomain: -1 },
    { ...dom, observationDomain: 2 ** 40 },
    { ...dom, templates: [{ ...tpl, id: 5 }] },
    { ...dom, templates: [{ ...tpl, kind: 'weird' }] },
    { ...dom, templates: [{ ...tpl, fields: [] }] },
    { ...dom, templates: [{ ...tpl, fields: new Array(20_000).fill([1, 4, 0]) }] },
    { ...dom, templates: [{ ...tpl, fields: [[1, 70_000, 0]] }] },
    { ...dom, templates: [{ ...tpl, fields: [[1, 65535, 0]] }] }, // variable length in v9
    { ...dom, templates: [{ ...tpl, fields: [[1, 4, 9]] }] }, // enterprise number in v9
    { ...dom, templates: [{ ...tpl, fields: [['1', 4, 0]] }] },
    { ...dom, templates: [{ ...tpl, scopeCount: 99 }] },
    { ...dom, templates: new Array(5000).fill(tpl) },
    { ...dom, samplers: { 1: 0 } },
    { ...dom, samplers: { x: 10 } },
    { ...dom, samplingRate: Number.NaN },
    { ...dom, interfaces: { 1: { name: 'x'.repeat(1000) } } },
    JSON.parse(
      '{"exporter":"192.0.2.1","protocol":"netflow9","observationDomain":0,"interfaces":{"__proto__":{"name":"p"}}}',
    ),
    { ...dom, applications: { '0:1': { name: 'a' } } },
    { ...dom, applications: { '1:1': { description: 'no name' } } },
    null,
    'domain',
    [dom],
  ];
  const d = decoder();
  const res = d.importState({ version: 1, savedAtMs: 0, domains: hostile });
  assert.equal(res.domains, 0);
  assert.equal(res.templates, 0);
  assert.equal(res.errors.length, 21); // 20 reasons, then one line saying more were left out
  assert.deepEqual(d.inventory(), []);
  assert.equal(({} as Record<string, unknown>).name, undefined);
  // Not a state at all.
  for (const x of [null, 42, 'state', [], { version: 1 }, { version: 1, savedAtMs: 0, domains: 'x' }]) {
    const r = d.importState(x);
    assert.equal(r.domains, 0);
    assert.equal(r.errors.length, 1);
  }
  // The decoder still decodes the corpus as a fresh one does.
  const payloads = groupPayloads(
    [
      'netflow9_test_cisco_nbar_opttpl260.dat',
      'netflow9_test_cisco_nbar_tpl262.dat',
      'netflow9_test_cisco_nbar_data262.dat',
    ].map(LS),
  );
  assert.deepEqual(run(d, payloads), run(decoder(), payloads));
  // A good entry among bad ones is still restored.
  const mixed = decoder().importState({ version: 1, savedAtMs: 0, domains: [hostile[0], dom, hostile[5]] });
  assert.equal(mixed.domains, 1);
  assert.equal(mixed.errors.length, 2);
});

test('a crash in the middle of a save leaves the previous state loadable', { skip: needsData() }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flowwatch-state-crash-'));
  try {
    const file = join(tmp, 'decoder-state.json');
    const s1 = goodState();
    await saveDecoderState(file, s1);
    // The crash: the next save wrote part of its temp file and never renamed it.
    const s2 = { ...s1, savedAtMs: s1.savedAtMs + 60_000 };
    writeFileSync(`${file}.tmp`, JSON.stringify(s2).slice(0, 100));
    const errors: string[] = [];
    assert.deepEqual(
      loadDecoderState(file, (m) => errors.push(m)),
      s1,
    );
    assert.deepEqual(errors, []);
    // The save after the restart replaces the leftover and the old state.
    saveDecoderStateSync(file, s2);
    assert.equal(existsSync(`${file}.tmp`), false);
    assert.deepEqual(loadDecoderState(file), s2);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).savedAtMs, s2.savedAtMs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

void corpusGroups;
