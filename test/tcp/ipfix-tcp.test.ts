// IPFIX over TCP (RFC 7011 §10.4) on real loopback sockets: the corpus IPFIX messages sent as a
// byte stream cut every which way must come out as the same messages, in order, and decode to the
// same rows as the datagrams decoded directly. Hostile peers cost their own connection only, and
// a slow consumer pushes back through TCP instead of losing messages.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { FlowExportDecoder } from '../../src/ingest/netflow/decoder.js';
import {
  type IpfixMessageHandler,
  type IpfixTcpOptions,
  IpfixTcpReceiver,
  type IpfixTcpSession,
  type SessionCloseReason,
} from '../../src/ingest/tcp/ipfix-tcp.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { needsData } from '../helpers/data.js';
import { rng } from '../helpers/rng.js';
import { corpusGroups, groupPayloads, rowObject } from '../netflow/corpus-helpers.js';

interface Msg {
  bytes: Uint8Array;
  tsMs: number;
}

/**
 * IPFIX messages of the corpus, per original exporter of each capture group. A payload may hold
 * several messages back to back (logstash's ipfix.dat is such a stream): it is cut by the header
 * length, as a TCP collector would.
 */
function ipfixStreams(): Msg[][] {
  const out: Msg[][] = [];
  for (const files of corpusGroups()) {
    const bySource = new Map<string, Msg[]>();
    for (const p of groupPayloads(files)) {
      const b = p.payload;
      for (let o = 0; o + 16 <= b.length; ) {
        const v = (b[o] << 8) | b[o + 1];
        const len = (b[o + 2] << 8) | b[o + 3];
        if (v !== 10 || len < 16 || o + len > b.length) break;
        const list = bySource.get(p.exporter) ?? [];
        list.push({ bytes: b.subarray(o, o + len), tsMs: p.tsMs });
        bySource.set(p.exporter, list);
        o += len;
      }
    }
    for (const list of bySource.values()) out.push(list);
  }
  return out;
}

async function startReceiver(
  opts: Partial<IpfixTcpOptions> & { onMessage: IpfixMessageHandler },
): Promise<{ rx: IpfixTcpReceiver; port: number; counters: ExporterCounters }> {
  const counters = opts.counters ?? new ExporterCounters();
  const rx = new IpfixTcpReceiver({ addrs: ['127.0.0.1:0'], counters, ...opts });
  await rx.start();
  return { rx, port: rx.ports()[0], counters };
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function written(s: net.Socket, b: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => s.write(b, (err) => (err ? reject(err) : resolve())));
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    else s.once('close', () => resolve());
  });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Chunking = 'bytes' | 'random' | 'packed';

/** Send `stream` cut as asked: one byte per write, random sizes, or everything in one write. */
async function send(s: net.Socket, stream: Buffer, how: Chunking, rand: () => number): Promise<void> {
  if (how === 'packed') {
    await written(s, stream);
    return;
  }
  for (let o = 0; o < stream.length; ) {
    // Byte-at-a-time for the first 4 kB of a stream (every header and set boundary split), then
    // random cuts, so the large captures stay quick.
    const n = how === 'bytes' && o < 4096 ? 1 : 1 + Math.floor(rand() * (rand() < 0.5 ? 40 : 3000));
    const end = Math.min(stream.length, o + n);
    await written(s, stream.subarray(o, end));
    o = end;
    // Let the receiver read between writes so the cuts survive into separate reads.
    if (rand() < 0.3) await new Promise((r) => setImmediate(r));
  }
}

function decodeRows(decoder: FlowExportDecoder, sink: CollectingSink, msgs: Msg[], exporter: string): void {
  for (const m of msgs) decoder.decode(m.bytes, exporter, m.tsMs, sink);
}

function rowsOf(sink: CollectingSink): Record<string, string | number | null>[] {
  const rows: Record<string, string | number | null>[] = [];
  for (const b of sink.batches) for (let r = 0; r < b.length; r++) rows.push(rowObject(b, r));
  return rows;
}

test('corpus IPFIX messages cut into any TCP chunking arrive whole, in order, and decode alike', {
  skip: needsData(),
}, async () => {
  const streams = ipfixStreams();
  assert.ok(streams.length >= 10, `${streams.length} IPFIX exporters in the corpus`);
  const rand = rng(7011);
  let totalMsgs = 0;
  let totalRows = 0;
  for (const how of ['bytes', 'random', 'packed'] as const) {
    // One receiver and one decoder per chunking; each original exporter gets its own loopback
    // address so its templates stay its own, as they were over UDP.
    const got: { bytes: Buffer; exporter: string; session: number }[] = [];
    const closes: { exporter: string; reason: SessionCloseReason; after: number }[] = [];
    const tcpDecoder = new FlowExportDecoder({ counters: new ExporterCounters() });
    const tcpSink = new CollectingSink(() => new FlowBatch(512));
    let expectTs: number[] = [];
    let k = 0;
    const { rx, port, counters } = await startReceiver({
      onMessage: (m, exporter, _ms, session) => {
        got.push({ bytes: Buffer.from(m), exporter, session: session.id });
        tcpDecoder.decode(m, exporter, expectTs[k++], tcpSink);
      },
      onSessionClose: (s, reason) => closes.push({ exporter: s.exporter, reason, after: got.length }),
    });
    const udpDecoder = new FlowExportDecoder({ counters: new ExporterCounters() });
    const udpSink = new CollectingSink(() => new FlowBatch(512));
    try {
      for (let i = 0; i < streams.length; i++) {
        const msgs = streams[i];
        const local = `127.0.${1 + (i >> 8)}.${1 + (i & 255)}`;
        expectTs = msgs.map((m) => m.tsMs);
        k = 0;
        got.length = 0;
        const stream = Buffer.concat(msgs.map((m) => m.bytes));
        const s = await connect(port, local);
        await send(s, stream, how, rand);
        s.end();
        await until(() => closes.length === i + 1, `session close of stream ${i} (${how})`);
        assert.equal(got.length, msgs.length, `stream ${i} (${how}): message count`);
        for (let j = 0; j < msgs.length; j++) {
          assert.ok(got[j].bytes.equals(msgs[j].bytes), `stream ${i} (${how}): message ${j} differs`);
          assert.equal(got[j].exporter, local);
        }
        assert.equal(closes[i].reason, 'end');
        assert.equal(closes[i].after, msgs.length, 'session closes after its last message');
        decodeRows(udpDecoder, udpSink, msgs, local);
        totalMsgs += msgs.length;
      }
      const viaTcp = rowsOf(tcpSink);
      const direct = rowsOf(udpSink);
      assert.ok(direct.length > 100, `${direct.length} rows decoded from the corpus`);
      assert.equal(viaTcp.length, direct.length);
      for (let r = 0; r < direct.length; r++) assert.deepEqual(viaTcp[r], direct[r], `row ${r} (${how})`);
      totalRows += direct.length;
      assert.equal(counters.total('malformed'), 0);
      const st = Object.values(rx.stats());
      const chunks = st.reduce((a, s) => a + s.chunks, 0);
      const messages = st.reduce((a, s) => a + s.messages, 0);
      // The cut really happened: split messages (more reads than messages) or packed ones (fewer).
      if (how === 'bytes') assert.ok(chunks > 2 * messages, `${chunks} reads for ${messages} messages`);
      if (how === 'packed') assert.ok(chunks < messages, `${chunks} reads for ${messages} messages`);
    } finally {
      await rx.stop();
    }
  }
  assert.ok(totalMsgs > 0 && totalRows > 0);
});

test('20 exporters stream concurrently, each keeps its own order and templates', {
  skip: needsData(),
}, async () => {
  const streams = ipfixStreams().filter((s) => s.length >= 3);
  const counters = new ExporterCounters();
  const decoder = new FlowExportDecoder({ counters });
  const sink = new CollectingSink(() => new FlowBatch(1024));
  const got = new Map<string, Buffer[]>();
  const sessions = new Set<number>();
  const { rx, port } = await startReceiver({
    counters,
    onMessage: (m, exporter, ms, session: IpfixTcpSession) => {
      sessions.add(session.id);
      const list = got.get(exporter) ?? [];
      list.push(Buffer.from(m));
      got.set(exporter, list);
      decoder.decode(m, exporter, ms, sink);
    },
  });
  try {
    const rand = rng(20);
    const plan = Array.from({ length: 20 }, (_, i) => ({
      local: `127.0.2.${10 + i}`,
      msgs: streams[i % streams.length],
    }));
    await Promise.all(
      plan.map(async (p, i) => {
        const s = await connect(port, p.local);
        // Three passes of the stream: templates are learned once and reused by later data.
        const stream = Buffer.concat([...p.msgs, ...p.msgs, ...p.msgs].map((m) => m.bytes));
        await send(s, stream, i % 2 === 0 ? 'random' : 'packed', rand);
        s.end();
        await closed(s);
      }),
    );
    await until(() => rx.connections === 0, 'all sessions closed');
    assert.equal(sessions.size, 20);
    const expectedRows = new Map<string, number>();
    for (const p of plan) {
      const list = got.get(p.local) ?? [];
      assert.equal(list.length, p.msgs.length * 3, `${p.local}: messages`);
      for (let j = 0; j < list.length; j++) assert.ok(list[j].equals(p.msgs[j % p.msgs.length].bytes));
      // The same messages decoded straight from the datagrams by a decoder of their own.
      const own = new FlowExportDecoder({ counters: new ExporterCounters() });
      const ownSink = new CollectingSink(() => new FlowBatch(1024));
      for (let r = 0; r < 3; r++) decodeRows(own, ownSink, p.msgs, p.local);
      expectedRows.set(p.local, ownSink.rows);
      assert.equal(counters.get(p.local, 'flows'), ownSink.rows, `${p.local}: flows`);
      const st = rx.stats()[p.local];
      assert.equal(st.connectionsOpened, 1);
      assert.equal(st.connectionsClosed, 1);
      assert.equal(st.malformed, 0);
    }
    assert.ok([...expectedRows.values()].some((n) => n > 0));
  } finally {
    await rx.stop();
  }
});

test('a garbage peer is counted and closed while a good peer keeps streaming', {
  skip: needsData(),
}, async () => {
  const msgs = ipfixStreams().find((s) => s.length >= 5) as Msg[];
  const got = new Map<string, number>();
  const warnings: string[] = [];
  const closes: { exporter: string; reason: SessionCloseReason }[] = [];
  const { rx, port, counters } = await startReceiver({
    maxMessageBytes: 4000,
    logIntervalMs: 60_000,
    log: { warn: (_o, m) => warnings.push(m) },
    onMessage: (_m, exporter) => {
      got.set(exporter, (got.get(exporter) ?? 0) + 1);
    },
    onSessionClose: (s, reason) => closes.push({ exporter: s.exporter, reason }),
  });
  try {
    const good = await connect(port, '127.0.3.1');
    await written(good, msgs[0].bytes);
    const garbage: [string, Buffer][] = [
      ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['NetFlow v9 over TCP', Buffer.from([0, 9, 0, 20, ...new Array(16).fill(0)])],
      ['length below the header', Buffer.from([0, 10, 0, 8, 0, 0, 0, 0])],
      ['length above the limit', Buffer.from([0, 10, 0xea, 0x60, ...new Array(60).fill(0)])],
    ];
    for (let i = 0; i < garbage.length; i++) {
      const bad = await connect(port, `127.0.3.${10 + i}`);
      // A valid message first: a framing error later in the stream still closes the session.
      await written(bad, Buffer.concat([msgs[0].bytes, garbage[i][1]]));
      await closed(bad);
      assert.equal(counters.get(`127.0.3.${10 + i}`, 'malformed'), 1, garbage[i][0]);
      assert.equal(got.get(`127.0.3.${10 + i}`), 1, `${garbage[i][0]}: the message before it was delivered`);
      // The good peer is still served between bad ones.
      await written(good, msgs[1 + i].bytes);
    }
    await until(() => got.get('127.0.3.1') === 1 + garbage.length, 'good peer messages');
    assert.equal(counters.get('127.0.3.1', 'malformed'), 0);
    assert.equal(rx.connections, 1);
    assert.deepEqual(
      closes.map((c) => c.reason),
      garbage.map(() => 'malformed'),
    );
    // Rate limited: four bad peers inside the interval give one warning.
    assert.equal(warnings.length, 1);
    good.end();
    await closed(good);
  } finally {
    await rx.stop();
  }
});

test('a peer that stops half-way through a message is closed by the idle timeout', {
  skip: needsData(),
}, async () => {
  const msg = (ipfixStreams().find((s) => s.length > 0) as Msg[])[0].bytes;
  const closes: SessionCloseReason[] = [];
  let delivered = 0;
  const { rx, port, counters } = await startReceiver({
    idleTimeoutMs: 200,
    onMessage: () => {
      delivered++;
    },
    onSessionClose: (_s, reason) => closes.push(reason),
  });
  try {
    const hang = await connect(port, '127.0.4.1');
    const t0 = Date.now();
    await written(hang, Buffer.concat([msg, msg.subarray(0, msg.length >> 1)]));
    await closed(hang);
    const waited = Date.now() - t0;
    assert.ok(waited >= 190 && waited < 2000, `closed after ${waited} ms`);
    assert.equal(delivered, 1);
    assert.deepEqual(closes, ['idle']);
    assert.equal(counters.get('127.0.4.1', 'malformed'), 1, 'the truncated message is counted');
    assert.equal(rx.stats()['127.0.4.1'].idleClosed, 1);
  } finally {
    await rx.stop();
  }
});

test('a slow consumer fills the sender’s TCP buffers, and nothing is lost once it catches up', {
  skip: needsData(),
}, async () => {
  const tpl = ipfixStreams().find((s) => s.length >= 2) as Msg[];
  // Many copies of one message, each stamped with its index in the sequence-number field
  // (RFC 7011 §3.1, bytes 8..11) so order and loss can be checked on arrival.
  const N = 40_000;
  const base = Buffer.from(tpl[tpl.length - 1].bytes);
  const stream = Buffer.alloc(base.length * N);
  for (let i = 0; i < N; i++) {
    base.copy(stream, i * base.length);
    stream.writeUInt32BE(i, i * base.length + 8);
  }
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let blocked = true;
  const seqs: number[] = [];
  const { rx, port } = await startReceiver({
    onMessage: (m) => {
      seqs.push(((m[8] << 24) | (m[9] << 16) | (m[10] << 8) | m[11]) >>> 0);
      return blocked ? gate : undefined;
    },
  });
  try {
    const s = await connect(port, '127.0.5.1');
    let refused = false;
    for (let o = 0; o < stream.length; o += 65536) {
      if (!s.write(stream.subarray(o, Math.min(stream.length, o + 65536)))) refused = true;
    }
    // Let the kernel buffers fill: the receiver is stuck on message 0.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(refused, 'write() returned false');
    assert.ok(s.writableLength > 1_000_000, `${s.writableLength} bytes waiting in the sender`);
    assert.equal(seqs.length, 1, 'the consumer is still on the first message');
    blocked = false;
    release();
    await until(() => seqs.length === N, `${N} messages`, 20_000);
    for (let i = 0; i < N; i++) if (seqs[i] !== i) assert.fail(`message ${i} arrived as ${seqs[i]}`);
    assert.equal(s.writableLength, 0);
    s.end();
    await closed(s);
  } finally {
    await rx.stop();
  }
});

test('paused() holds every connection until the backlog drains', { skip: needsData() }, async () => {
  const msg = (ipfixStreams().find((s) => s.length > 0) as Msg[])[0].bytes;
  let backlogFull = false;
  let drainedResolve: () => void = () => {};
  let count = 0;
  const { rx, port } = await startReceiver({
    paused: () => backlogFull,
    drained: () =>
      new Promise<void>((r) => {
        drainedResolve = r;
      }),
    onMessage: () => {
      count++;
      if (count === 10) backlogFull = true;
    },
  });
  try {
    const a = await connect(port, '127.0.6.1');
    await written(a, Buffer.concat(new Array(100).fill(Buffer.from(msg))));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(count, 10, 'delivery stops when the backlog is full');
    backlogFull = false;
    drainedResolve();
    await until(() => count === 100, 'the rest after the drain');
    a.end();
    await closed(a);
  } finally {
    await rx.stop();
  }
});

test('connections beyond the limit are refused and counted', async () => {
  const { rx, port } = await startReceiver({ maxConnections: 2, onMessage: () => {} });
  try {
    const a = await connect(port, '127.0.7.1');
    const b = await connect(port, '127.0.7.2');
    await until(() => rx.connections === 2, 'two sessions');
    const c = await connect(port, '127.0.7.3');
    await closed(c);
    assert.equal(rx.stats()['127.0.7.3'].connectionsRejected, 1);
    assert.equal(rx.connections, 2);
    a.destroy();
    b.destroy();
  } finally {
    await rx.stop();
  }
});

test('mutated streams: each is framed up to its first bad header, counted, and never harms the listener', {
  skip: needsData(),
}, async () => {
  const streams = ipfixStreams();
  const rand = rng(0xbad);
  const got = new Map<string, number>();
  const closes = new Map<string, SessionCloseReason>();
  const { rx, port, counters } = await startReceiver({
    onMessage: (_m, exporter) => {
      got.set(exporter, (got.get(exporter) ?? 0) + 1);
    },
    onSessionClose: (s, reason) => closes.set(s.exporter, reason),
  });
  try {
    const cases: { local: string; messages: number; malformed: number; reason: SessionCloseReason }[] = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const i = batch * 10 + j;
          const msgs = streams[i % streams.length];
          const stream = Buffer.concat(msgs.map((m) => m.bytes));
          // A few random bytes anywhere in the stream: some land in headers, most in set contents.
          for (let f = 0; f < 1 + Math.floor(rand() * 3); f++)
            stream[Math.floor(rand() * stream.length)] = Math.floor(rand() * 256);
          const cut = rand() < 0.3 ? stream.subarray(0, Math.floor(rand() * stream.length)) : stream;
          const local = `127.0.8.${1 + i}`;
          cases.push({ local, ...referenceFraming(cut) });
          const s = await connect(port, local);
          s.on('error', () => {}); // the receiver may reset a peer it closed for garbage
          await send(s, Buffer.from(cut), 'random', rand).catch(() => {});
          s.end();
          await closed(s);
        }),
      );
    }
    await until(() => closes.size === 100, 'all sessions closed');
    for (const c of cases) {
      assert.equal(got.get(c.local) ?? 0, c.messages, `${c.local}: messages delivered`);
      assert.equal(counters.get(c.local, 'malformed'), c.malformed, `${c.local}: malformed`);
      assert.equal(closes.get(c.local), c.reason, `${c.local}: close reason`);
    }
    assert.ok(
      cases.some((c) => c.malformed > 0),
      'some streams were broken',
    );
    assert.equal(rx.connections, 0);
  } finally {
    await rx.stop();
  }
});

/** What RFC 7011 §10.4 framing makes of a stream: messages before the first bad or cut-off header. */
function referenceFraming(b: Uint8Array): { messages: number; malformed: number; reason: SessionCloseReason } {
  let messages = 0;
  let p = 0;
  while (p < b.length) {
    // Cut off by the peer's close: counted, but the session ended normally.
    if (b.length - p < 4) return { messages, malformed: 1, reason: 'end' };
    const v = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    if (v !== 10 || len < 16) return { messages, malformed: 1, reason: 'malformed' };
    if (b.length - p < len) return { messages, malformed: 1, reason: 'end' };
    messages++;
    p += len;
  }
  return { messages, malformed: 0, reason: 'end' };
}
