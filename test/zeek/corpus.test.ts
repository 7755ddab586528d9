// Every Zeek log of the shared corpus read by parseZeekLogs and checked against an independent parse
// written here (lines split on the tab / JSON.parse per line, nothing from src/ingest/zeek): one
// flow per valid conn record with the same time, addresses, ports, protocol and counters; an error
// naming the file and line for every record that cannot be a flow; dns/ssl/http names joined by uid.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { looksLikeZeekLog, parseZeekLogs, type ZeekImportResult } from '../../src/ingest/zeek/logs.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { ACTIONS, C, FLOW_STATES } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const skip = needsData();
const ZEEK = dataPath('zeek');

function filesIn(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

function text(file: string): string {
  let buf: Buffer = readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  return buf.toString('utf8');
}

/** What a conn record says, parsed here from the raw text. */
interface Expected {
  file: string;
  line: number;
  uid: string;
  tsText: string;
  durText: string;
  orig: string;
  resp: string;
  origP: number | null;
  respP: number | null;
  proto: string;
  origPkts: number | null;
  origIpBytes: number | null;
  respPkts: number | null;
  respIpBytes: number | null;
  connState: string;
  history: string;
  service: string;
}

interface Independent {
  flows: Expected[];
  /** file:line of every record that must be reported. */
  bad: Set<string>;
  dns: Map<string, string>;
  sni: Map<string, string>;
  host: Map<string, string>;
}

function independentParse(files: string[]): Independent {
  const out: Independent = { flows: [], bad: new Set(), dns: new Map(), sni: new Map(), host: new Map() };
  for (const file of files) {
    const t = text(file);
    const lines = t.split('\n');
    const cutLast = !t.endsWith('\n');
    const name = basename(file);
    if (t.trimStart().startsWith('#separator')) {
      let fields: string[] = [];
      let path = '';
      lines.forEach((raw, i) => {
        const line = raw.replace(/\r$/, '');
        if (line.trim() === '') return;
        if (line.trimStart().startsWith('#')) {
          const l = line.trimStart();
          if (l.startsWith('#fields\t')) fields = l.split('\t').slice(1);
          if (l.startsWith('#path\t')) path = l.split('\t')[1];
          return;
        }
        const v = line.split('\t');
        const get = (k: string) => {
          const j = fields.indexOf(k);
          return j < 0 || v[j] === '-' || v[j] === '(empty)' ? '' : unescapeBytes(v[j]);
        };
        const isLast = i === lines.length - 1;
        if (v.length !== fields.length || (isLast && cutLast)) {
          out.bad.add(`${file}:${i + 1}`);
          return;
        }
        if (path === 'dns' && get('query') && !out.dns.has(get('uid'))) out.dns.set(get('uid'), get('query'));
        if (path === 'ssl' && get('server_name') && !out.sni.has(get('uid')))
          out.sni.set(get('uid'), get('server_name'));
        if (path === 'http' && get('host') && !out.host.has(get('uid'))) out.host.set(get('uid'), get('host'));
        if (path !== 'conn') return;
        const num = (k: string) => (get(k) === '' ? null : Number(get(k)));
        out.flows.push({
          file,
          line: i + 1,
          uid: get('uid'),
          tsText: get('ts'),
          durText: get('duration'),
          orig: get('id.orig_h'),
          resp: get('id.resp_h'),
          origP: num('id.orig_p'),
          respP: num('id.resp_p'),
          proto: get('proto'),
          origPkts: num('orig_pkts'),
          origIpBytes: num('orig_ip_bytes'),
          respPkts: num('resp_pkts'),
          respIpBytes: num('resp_ip_bytes'),
          connState: get('conn_state'),
          history: get('history'),
          service: get('service'),
        });
      });
    } else if (t.trimStart().startsWith('{')) {
      lines.forEach((line, i) => {
        if (line.trim() === '') return;
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line);
        } catch {
          out.bad.add(`${file}:${i + 1}`);
          return;
        }
        const path = typeof o._path === 'string' ? o._path : name.replace(/\..*$/, '');
        const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
        const n = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : null);
        if (path === 'dns' && s('query') && !out.dns.has(s('uid'))) out.dns.set(s('uid'), s('query'));
        if (path === 'ssl' && s('server_name') && !out.sni.has(s('uid'))) out.sni.set(s('uid'), s('server_name'));
        if (path === 'http' && s('host') && !out.host.has(s('uid'))) out.host.set(s('uid'), s('host'));
        const isConn = path === 'conn' || (typeof o._path !== 'string' && 'id.orig_h' in o && 'conn_state' in o);
        if (!isConn) return;
        if ((n('id.orig_p') ?? 0) > 65535 || (n('id.resp_p') ?? 0) > 65535) {
          out.bad.add(`${file}:${i + 1}`);
          return;
        }
        out.flows.push({
          file,
          line: i + 1,
          uid: s('uid'),
          tsText: typeof o.ts === 'number' ? o.ts.toFixed(6) : s('ts'),
          durText: typeof o.duration === 'number' ? o.duration.toFixed(6) : '',
          orig: s('id.orig_h'),
          resp: s('id.resp_h'),
          origP: n('id.orig_p'),
          respP: n('id.resp_p'),
          proto: s('proto'),
          origPkts: n('orig_pkts'),
          origIpBytes: n('orig_ip_bytes'),
          respPkts: n('resp_pkts'),
          respIpBytes: n('resp_ip_bytes'),
          connState: s('conn_state'),
          history: s('history'),
          service: s('service'),
        });
      });
    } else {
      out.bad.add(`${file}:1`);
    }
  }
  return out;
}

/** Zeek's ASCII writer escapes non-printable bytes as \xNN: undo that on the raw bytes. */
function unescapeBytes(s: string): string {
  if (!s.includes('\\x')) return s;
  const latin1 = s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

/** "1601998366.785668" → ms, by string arithmetic (no float). */
function textMs(t: string): number {
  const [i, f = ''] = t.split('.');
  return Number(i) * 1000 + Number(`${f}000`.slice(0, 3));
}
function textUs(t: string): number {
  const [i, f = ''] = t.split('.');
  return Number(i) * 1e6 + Number(`${f}000000`.slice(0, 6));
}

/** Canonical text of an address, via WHATWG URL's IPv6 serializer (independent of flow-batch.ts). */
function canon(a: string): string {
  return a.includes(':') ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
}

// RFC 793 control bits from Zeek's history letters, as documented in src/ingest/zeek/logs.ts.
function flagsOf(history: string): number {
  const bits: Record<string, number> = { s: 0x02, q: 0x02, h: 0x12, a: 0x10, d: 0x10, f: 0x01, r: 0x04 };
  let f = 0;
  for (const ch of history.toLowerCase()) f |= bits[ch] ?? 0;
  return f;
}

function run(files: string[]): { result: ZeekImportResult; rows: FlowBatch[] } {
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const result = parseZeekLogs(
    files.map((f) => ({ name: f, data: readFileSync(f) })),
    1_700_000_000_000,
    sink,
  );
  return { result, rows: sink.batches };
}

function checkGroup(dir: string): { ind: Independent; result: ZeekImportResult; batches: FlowBatch[] } {
  const files = filesIn(dir);
  const ind = independentParse(files);
  const { result, rows: batches } = run(files);
  assert.equal(result.flows, ind.flows.length, 'one flow per valid conn record');
  const reported = new Set(result.errors.map((e) => `${e.file}:${e.line}`));
  for (const b of ind.bad)
    if (b.includes('conn') || b.includes('edge')) assert.ok(reported.has(b), `error reported at ${b}`);
  for (const e of result.errors) {
    assert.ok(e.file.startsWith(dir), 'error names the file');
    assert.ok(e.line >= 1, `error names a line: ${e.message}`);
    assert.ok(
      ind.bad.has(`${e.file}:${e.line}`),
      `error at ${e.file}:${e.line} is a bad line for the test too (${e.message})`,
    );
  }
  let k = 0;
  for (const b of batches) {
    for (let r = 0; r < b.length; r++, k++) {
      const x = ind.flows[k];
      const at = `${basename(x.file)}:${x.line}`;
      assert.equal(b.getNum(C.time_start, r), textMs(x.tsText), `${at} time_start`);
      const endUs = textUs(x.tsText) + (x.durText === '' ? 0 : textUs(x.durText));
      assert.equal(b.getNum(C.time_end, r), Math.floor(endUs / 1000), `${at} time_end`);
      assert.equal(b.getAddr(C.src_addr, r), canon(x.orig), `${at} src_addr`);
      assert.equal(b.getAddr(C.dst_addr, r), canon(x.resp), `${at} dst_addr`);
      const v6 = x.orig.includes(':');
      const proto = { tcp: 6, udp: 17, icmp: v6 ? 58 : 1 }[x.proto];
      assert.equal(b.isNull(C.proto, r) ? undefined : b.getNum(C.proto, r), proto, `${at} proto`);
      if (x.proto === 'icmp') {
        assert.equal(b.getNum(C.icmp_type, r), x.origP, `${at} icmp_type`);
        assert.equal(b.getNum(C.icmp_code, r), x.respP, `${at} icmp_code`);
        assert.ok(b.isNull(C.src_port, r) && b.isNull(C.dst_port, r), `${at} no ports for ICMP`);
      } else {
        assert.equal(b.isNull(C.src_port, r) ? null : b.getNum(C.src_port, r), x.origP, `${at} src_port`);
        assert.equal(b.isNull(C.dst_port, r) ? null : b.getNum(C.dst_port, r), x.respP, `${at} dst_port`);
      }
      const num = (c: number) => (b.isNull(c, r) ? null : b.getNum(c, r));
      assert.equal(num(C.bytes), x.origIpBytes, `${at} bytes = orig_ip_bytes`);
      assert.equal(num(C.packets), x.origPkts, `${at} packets`);
      assert.equal(num(C.rev_bytes), x.respIpBytes, `${at} rev_bytes = resp_ip_bytes`);
      assert.equal(num(C.rev_packets), x.respPkts, `${at} rev_packets`);
      assert.equal(b.getNum(C.biflow, r), 1);
      assert.equal(b.getString(C.app, r), x.service || null, `${at} app`);
      const action = x.connState === 'REJ' ? 'reject' : (x.respPkts ?? 0) > 0 ? 'accept' : 'unknown';
      assert.equal(ACTIONS[b.getNum(C.action, r)], action, `${at} action (${x.connState})`);
      const open = x.file.includes('open_conn');
      const state = open
        ? 'continue'
        : x.proto !== 'tcp'
          ? 'end'
          : x.connState === 'S0'
            ? 'start'
            : x.connState === 'S1' || x.connState === 'OTH'
              ? 'continue'
              : 'end';
      assert.equal(FLOW_STATES[b.getNum(C.flow_state, r)], state, `${at} flow_state (${x.connState})`);
      if (x.proto === 'tcp' && x.history !== '') assert.equal(num(C.tcp_flags), flagsOf(x.history), `${at} tcp_flags`);
      else assert.equal(num(C.tcp_flags), null, `${at} no tcp_flags`);
      assert.equal(b.getString(C.dns_qname, r), ind.dns.get(x.uid) ?? null, `${at} dns_qname`);
      assert.equal(b.getString(C.tls_sni, r), ind.sni.get(x.uid) ?? null, `${at} tls_sni`);
      assert.equal(b.getString(C.http_host, r), ind.host.get(x.uid) ?? null, `${at} http_host`);
      assert.equal(b.getNum(C.time_received, r), 1_700_000_000_000);
    }
  }
  assert.equal(k, ind.flows.length);
  return { ind, result, batches };
}

function joined(batches: FlowBatch[], col: number): number {
  let n = 0;
  for (const b of batches) for (let r = 0; r < b.length; r++) if (!b.isNull(col, r)) n++;
  return n;
}

test('Zeek JSON dir (Slips test9-mixed): conn flows equal the records, dns/ssl/http joined by uid', { skip }, () => {
  const { result, batches } = checkGroup(join(ZEEK, 'json', 'slips-test9-mixed'));
  assert.ok(result.flows > 500);
  assert.deepEqual(result.errors, []);
  assert.ok(joined(batches, C.dns_qname) > 50, 'dns names joined');
  assert.ok(joined(batches, C.tls_sni) > 50, 'SNIs joined');
  assert.ok(joined(batches, C.http_host) > 50, 'HTTP hosts joined');
});

test('Zeek TSV dir (Slips test10-mixed, TAB before #separator): flows equal the records', { skip }, () => {
  const { result, batches } = checkGroup(join(ZEEK, 'tsv', 'slips-test10-mixed'));
  assert.ok(result.flows > 100);
  assert.ok(joined(batches, C.dns_qname) > 10, 'dns names joined');
  // notice.log line 21 has a space where a tab belongs: reported, not a flow.
  assert.deepEqual(
    result.errors.map((e) => [basename(e.file), e.line]),
    [['notice.log', 21]],
  );
});

test('Zeek TSV files (RITA proxy capture, WRCCDC gzip): flows equal the records, ssl/http/dns joined', { skip }, () => {
  const { result, batches } = checkGroup(join(ZEEK, 'tsv'));
  assert.deepEqual(result.errors, []);
  assert.ok(result.flows > 400);
  assert.ok(joined(batches, C.tls_sni) > 100, 'SNIs joined');
  assert.ok(joined(batches, C.http_host) > 100, 'HTTP hosts joined');
  assert.ok((result.byPath.notice ?? 0) > 0 && (result.byPath.ssh ?? 0) > 0, 'gzip logs read');
});

test('Zeek JSON files (RITA conn/open_conn/http/ssl, json-streaming gzip): flows equal the records', { skip }, () => {
  const { result } = checkGroup(join(ZEEK, 'json'));
  assert.deepEqual(result.errors, []);
  assert.ok(result.byPath.open_conn > 0 && result.byPath.conn > 0);
  assert.ok((result.byPath.ssh ?? 0) > 0, 'json-streaming gzip read');
});

test('Zeek edge cases: truncated, headerless, not-a-log and port > 65535 give errors naming file and line', {
  skip,
}, () => {
  const dir = join(ZEEK, 'edge-cases');
  const { result } = checkGroup(dir);
  const by = (f: string) => result.errors.filter((e) => basename(e.file) === f);
  assert.deepEqual(
    by('rita-not-a-zeek-log.log').map((e) => e.line),
    [1],
  );
  assert.match(by('rita-not-a-zeek-log.log')[0].message, /not a Zeek log/);
  assert.deepEqual(
    by('rita-truncated-top-conn.log').map((e) => e.line),
    [1],
  );
  assert.match(by('rita-truncated-top-conn.log')[0].message, /header/);
  const truncatedLines = text(join(dir, 'rita-truncated-conn.log')).split('\n').length;
  assert.deepEqual(
    by('rita-truncated-conn.log').map((e) => e.line),
    [truncatedLines],
  );
  assert.match(by('rita-truncated-conn.log')[0].message, /truncated/);
  const synthetic = by('rita-conn_json-synthetic.log');
  assert.ok(synthetic.some((e) => /not a port 0\.\.65535/.test(e.message)));
});

test('looksLikeZeekLog: every TSV and JSON log of the corpus, and not the lorem-ipsum file', { skip }, () => {
  for (const sub of ['tsv', 'json', join('tsv', 'slips-test10-mixed'), join('json', 'slips-test9-mixed')]) {
    for (const f of filesIn(join(ZEEK, sub))) {
      const want = sub.startsWith('tsv') ? 'tsv' : 'json';
      assert.equal(looksLikeZeekLog(text(f).slice(0, 1024)), want, f);
    }
  }
  assert.equal(looksLikeZeekLog(text(join(ZEEK, 'edge-cases', 'rita-not-a-zeek-log.log')).slice(0, 1024)), null);
});

test('parseZeekLogs never throws: every corpus file cut at many offsets and with flipped bytes', { skip }, () => {
  const all = ['tsv', 'json', 'edge-cases'].flatMap((d) => filesIn(join(ZEEK, d)));
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (const f of all) {
    const data = readFileSync(f);
    for (let i = 0; i < 6; i++) {
      const cut = data.subarray(0, Math.floor(rnd() * data.length));
      const flipped = Buffer.from(data);
      for (let j = 0; j < 20; j++) flipped[Math.floor(rnd() * flipped.length)] = Math.floor(rnd() * 256);
      for (const d of [cut, flipped]) {
        const sink = new CollectingSink(() => new FlowBatch(256));
        const r = parseZeekLogs([{ name: f, data: d }], 0, sink);
        assert.equal(r.flows, sink.rows);
      }
    }
  }
});

test('json-streaming form (ISO 8601 ts, _path, _system_name) gives the same flows as plain JSON', { skip }, () => {
  // The Slips test9 conn records rewritten the way the json-streaming-logs package writes them.
  const file = join(ZEEK, 'json', 'slips-test9-mixed', 'conn.log');
  const lines = text(file)
    .split('\n')
    .filter((l) => l.trim() !== '');
  const streamed = lines.map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    const us = Math.round((o.ts as number) * 1e6);
    const iso = `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1e6).padStart(6, '0')}Z`;
    return JSON.stringify({ _path: 'conn', _system_name: 'sensor-7', ...o, ts: iso });
  });
  const plain = new CollectingSink(() => new FlowBatch(8192));
  const viaStream = new CollectingSink(() => new FlowBatch(8192));
  parseZeekLogs([{ name: file, data: readFileSync(file) }], 0, plain);
  const r = parseZeekLogs([{ name: 'zeek.json', data: Buffer.from(streamed.join('\n')) }], 0, viaStream);
  assert.deepEqual(r.errors, []);
  assert.equal(r.flows, lines.length);
  const a = plain.batches[0];
  const b = viaStream.batches[0];
  for (let i = 0; i < a.length; i++) {
    assert.equal(b.getNum(C.time_start, i), a.getNum(C.time_start, i), `record ${i + 1} time_start`);
    assert.equal(b.getNum(C.time_end, i), a.getNum(C.time_end, i), `record ${i + 1} time_end`);
    assert.equal(b.getString(C.exporter, i), 'zeek:sensor-7');
  }
});
