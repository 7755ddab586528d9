// Fuzz of the NetFlow v5/v9/IPFIX decoder: every export packet of the corpus (NetFlow/IPFIX .dat
// payloads and capture payloads; sFlow excluded), mutated ≥ 1 M times in total, fed to one
// long-lived decoder per corpus group so templates accumulate as they do in a running collector.
// The decoder must never throw, must not hit a JavaScript error internally (decode() turns those
// into 'malformed', which would hide a bug, so the version entry points are watched directly),
// and its held sets must stay within their limit.
//
// Size: FLOWWATCH_FUZZ=<n> (e.g. 200k, 1M; default 1M). Seed: FLOWWATCH_FUZZ_SEED (default fixed,
// printed, so any failure replays).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import type { BatchSink } from '../../src/pipeline/sink.js';
import { needsData } from '../helpers/data.js';
import { corpusGroups, groupPayloads, type Payload } from '../netflow/corpus-helpers.js';
import { MUTATIONS, mutate, rng } from './mutate.js';

const TOTAL = parseCount(process.env.FLOWWATCH_FUZZ ?? '1M');
const SEED = Number(process.env.FLOWWATCH_FUZZ_SEED ?? 0x7011);
const PENDING_LIMIT = 256;
/** An unmutated packet every this many mutations re-teaches good templates, as a live exporter would. */
const REFRESH_EVERY = 50;

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(4096);
  rows = 0;
  batch(): FlowBatch {
    if (this.b.full) {
      this.rows += this.b.length;
      this.b.reset();
    }
    return this.b;
  }
}

interface Caught {
  err: Error;
}

/**
 * Wrap the decoder's per-version entry points (private; reached here on purpose) so an internal
 * exception is seen before decode() counts it as 'malformed'.
 */
function watch(d: FlowExportDecoder, caught: Caught[]): void {
  const self = d as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['decodeV5', 'decodeV9', 'decodeIpfix']) {
    const orig = self[name];
    assert.equal(typeof orig, 'function', `decoder has no ${name}: update the fuzz harness`);
    self[name] = function (this: unknown, ...args: unknown[]) {
      try {
        return orig.apply(this, args);
      } catch (err) {
        caught.push({ err: err as Error });
        throw err;
      }
    };
  }
}

test(`decoder survives ${TOTAL} mutated corpus packets (seed ${SEED})`, { skip: needsData(), timeout: 600_000 }, () => {
  const groups = corpusGroups()
    .map((files) => ({ files, payloads: groupPayloads(files) }))
    .filter((g) => g.payloads.length > 0);
  const totalPackets = groups.reduce((s, g) => s + g.payloads.length, 0);
  assert.ok(totalPackets > 500, `${totalPackets} corpus packets`);
  const byKind = new Map<string, number>();
  let mutated = 0;
  let rows = 0;
  let maxPending = 0;
  let maxDomains = 0;
  let maxTemplates = 0;
  const t0 = performance.now();
  for (let gi = 0; gi < groups.length; gi++) {
    const { files, payloads } = groups[gi];
    const rand = rng(SEED ^ Math.imul(gi + 1, 0x9e3779b1));
    const counters = new ExporterCounters();
    const d = new FlowExportDecoder({ counters, pendingLimit: PENDING_LIMIT });
    const caught: Caught[] = [];
    watch(d, caught);
    const sink = new ReusingSink();
    for (const p of payloads) d.decode(p.payload, p.exporter, p.tsMs, sink);
    // Small groups still get enough mutations to reach their template and data paths.
    const n = Math.max(500, Math.ceil((TOTAL * payloads.length) / totalPackets));
    for (let i = 0; i < n; i++) {
      const p = payloads[i % payloads.length];
      if (i % REFRESH_EVERY === 0) d.decode(p.payload, p.exporter, p.tsMs, sink);
      const m = mutate(p.payload, rand);
      try {
        d.decode(m.bytes, p.exporter, p.tsMs, sink);
      } catch (err) {
        caught.push({ err: err as Error });
      }
      if (caught.length > 0) fail(caught[0].err, { gi, files, i, p, m: m.what, bytes: m.bytes });
      const kind = m.what.split(' ')[0].replace(/:$/, '');
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      if ((i & 0xffff) === 0xffff) {
        const inv = sizes(d);
        assert.ok(inv.pending <= PENDING_LIMIT, `${inv.pending} held sets (group ${gi}, mutation ${i})`);
      }
    }
    mutated += n;
    rows += sink.rows + sink.b.length;
    const inv = sizes(d);
    maxPending = Math.max(maxPending, inv.pending);
    maxDomains = Math.max(maxDomains, inv.domains);
    maxTemplates = Math.max(maxTemplates, inv.templates);
    assert.ok(inv.pending <= PENDING_LIMIT, `${inv.pending} held sets exceed ${PENDING_LIMIT} (${files.join(', ')})`);
    assert.ok(counters.total('malformed') > 0, `group ${gi}: mutations were noticed`);
    JSON.stringify(d.inventory());
  }
  const secs = (performance.now() - t0) / 1000;
  assert.ok(mutated >= TOTAL, `${mutated} mutated packets`);
  for (const k of MUTATIONS) assert.ok((byKind.get(k) ?? 0) > 0, `mutation ${k} was exercised`);
  console.log(
    `# fuzz: ${mutated} mutated packets from ${totalPackets} corpus packets in ${groups.length} groups, ` +
      `seed ${SEED}, ${secs.toFixed(1)} s; ${rows} rows decoded; max held sets ${maxPending}, ` +
      `max domains ${maxDomains}, max templates ${maxTemplates} per decoder`,
  );
});

function sizes(d: FlowExportDecoder): { pending: number; domains: number; templates: number } {
  let pending = 0;
  let templates = 0;
  const inv = d.inventory();
  for (const e of inv) {
    pending += e.pendingSets;
    templates += e.templates.length;
  }
  return { pending, domains: inv.length, templates };
}

function fail(
  err: Error,
  c: { gi: number; files: string[]; i: number; p: Payload; m: string; bytes: Uint8Array },
): never {
  const hex = Buffer.from(c.bytes).toString('hex');
  assert.fail(
    `decoder threw on a mutated packet\n  seed ${SEED}, group ${c.gi} (${c.files.join(', ')}), mutation #${c.i}\n` +
      `  exporter ${c.p.exporter}, original packet ${c.p.payload.length} bytes\n  mutation: ${c.m}\n` +
      `  packet (${c.bytes.length} bytes): ${hex}\n  ${err.stack ?? err}`,
  );
}

function parseCount(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`FLOWWATCH_FUZZ=${s}: expected a count like 200k or 1M`);
  const mult = m[2] === '' ? 1 : m[2].toLowerCase() === 'k' ? 1e3 : 1e6;
  return Math.round(Number(m[1]) * mult);
}

// Found by the fuzz above (mutation 'domain_change' / 'set_id_change'): every new IPFIX
// observation domain (NetFlow v9 source id) an exporter names gets its own DomainState with its
// template table, and nothing ever limits or expires them. 200 k 32-byte template messages from one
// address (6.4 MB) hold 200 k domains and ≈ 246 MB of heap (measured). A spoofed UDP source or a
// single TCP session can exhaust the collector's memory. The decoder now caps domains per
// exporter (1 024) and templates per domain (4 096); what is refused is counted as unsupported.
test('template state per exporter is bounded', { skip: needsData() }, () => {
  const d = new FlowExportDecoder({ counters: new ExporterCounters() });
  const sink = new ReusingSink();
  // IPFIX message (RFC 7011 §3): header, one template set with template 256: sourceIPv4Address (8)
  // and destinationIPv4Address (12), 4 bytes each.
  const m = Uint8Array.from([
    0, 10, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 12, 0, 4,
  ]);
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    m[12] = i >>> 24;
    m[13] = (i >>> 16) & 0xff;
    m[14] = (i >>> 8) & 0xff;
    m[15] = i & 0xff;
    d.decode(m, '192.0.2.66', 0, sink);
  }
  const inv = sizes(d);
  // Whatever the caps are, a hundred thousand one-message domains must not all be kept.
  assert.ok(inv.domains < N / 2, `${inv.domains} observation domains held for one exporter`);
  assert.ok(inv.templates < N / 2, `${inv.templates} templates held for one exporter`);
});
