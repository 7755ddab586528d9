// The capture reader (src/ingest/pcap/pcapng.ts) against tshark: every frame of every corpus
// capture with the same time (µs), captured and original length; then files tshark can read but
// the corpus lacks — two interfaces (mergecap), a big-endian section and a 2^-20 s timestamp
// resolution (rewritten here, read back by tshark as the referee), and truncated files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCaptureFrames } from '../../src/ingest/pcap/pcapng.js';
import { dataPath, needsData, needsTool } from '../helpers/data.js';

const TSHARK = spawnSync('tshark', ['-v']).status === 0;
const skip = needsData() || needsTool('tshark', TSHARK);

interface Row {
  us: number;
  cap: number;
  len: number;
  linkType: number;
}

function ours(buf: Uint8Array, errors: string[] = []): Row[] {
  const rows: Row[] = [];
  readCaptureFrames(
    buf,
    {
      frame(linkType, _b, off, end, tsMs, wire) {
        rows.push({ us: Math.round(tsMs * 1000), cap: end - off, len: wire, linkType });
      },
    },
    (e) => errors.push(e),
  );
  return rows;
}

function theirs(file: string): Omit<Row, 'linkType'>[] {
  const r = spawnSync(
    'tshark',
    ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [t, cap, len] = l.split('\t');
      const [s, frac] = t.split('.');
      return { us: Number(s) * 1e6 + Math.round(Number(`0.${frac ?? '0'}`) * 1e6), cap: Number(cap), len: Number(len) };
    });
}

const strip = (rows: Row[]) => rows.map(({ us, cap, len }) => ({ us, cap, len }));

// The corpus's pcapng files (their .pcap names notwithstanding) and a few classic ones: tshark
// start-up dominates, so not all of them (the meter's tshark test reads every capture anyway).
const SAMPLE = /^(ipfixprobe-(ovpn|vlan|wg|tls)|ndpi-ssh|zeek-ipv6-fragmented-dns|zeek-mixed-vlan-mpls)\.pcap$/;

test('every frame of the sampled corpus captures matches tshark', { skip }, () => {
  let n = 0;
  for (const f of readdirSync(dataPath('pcap', 'normal')).sort()) {
    if (!SAMPLE.test(f)) continue;
    const file = dataPath('pcap', 'normal', f);
    const errors: string[] = [];
    const got = ours(readFileSync(file), errors);
    assert.deepEqual(errors, [], f);
    // Tolerate 1 µs: tshark prints nanoseconds, float ms can round the last digit either way.
    const want = theirs(file);
    assert.equal(got.length, want.length, f);
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i].us - want[i].us) <= 1, `${f} frame ${i + 1}: ${got[i].us} vs ${want[i].us}`);
      assert.deepEqual([got[i].cap, got[i].len], [want[i].cap, want[i].len], `${f} frame ${i + 1}`);
    }
    n += got.length;
  }
  assert.ok(n > 1400, `${n} frames`);
});

test('pcapng with two interfaces of different link types (mergecap) matches tshark', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-pcapng-'));
  const out = join(dir, 'merged.pcapng');
  // Ethernet + an IDB from a second file; -a concatenates so the order is the files' order.
  const a = dataPath('pcap', 'normal', 'ipfixprobe-vlan.pcap');
  const b = dataPath('pcap', 'normal', 'zeek-communityid-udp.pcap');
  const raw = join(dir, 'raw.pcap');
  // The second input re-encapsulated as raw IP (link type 101) so the interfaces differ.
  assert.equal(spawnSync('editcap', ['-F', 'pcap', '-T', 'rawip', '-C', '14', b, raw]).status, 0);
  assert.equal(spawnSync('mergecap', ['-a', '-F', 'pcapng', '-w', out, a, raw]).status, 0);
  const got = ours(readFileSync(out));
  assert.deepEqual(strip(got), theirs(out));
  assert.deepEqual([...new Set(got.map((r) => r.linkType))].sort(), [1, 101]);
});

/** Rewrite a little-endian pcapng into big-endian, optionally with if_tsresol 2^-20 (timestamps rescaled). */
function rewrite(src: Uint8Array, pow2: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let off = 0; off < src.length; ) {
    const type = dv.getUint32(off, true);
    const len = dv.getUint32(off + 4, true);
    const out = new Uint8Array(type === 1 ? 32 : len);
    const o = new DataView(out.buffer);
    if (type === 0x0a0d0d0a) {
      out.set(src.subarray(off, off + len));
      o.setUint32(4, len, false);
      o.setUint32(8, 0x1a2b3c4d, false);
      o.setUint16(12, dv.getUint16(off + 12, true), false);
      o.setUint16(14, dv.getUint16(off + 14, true), false);
      // section length (-1) reads the same both ways; options dropped by zero-filling them
      out.fill(0, 24, len - 4);
      o.setUint32(len - 4, len, false);
    } else if (type === 1) {
      // IDB: link type, snaplen, one option (if_tsresol) or none.
      o.setUint32(0, 1, false);
      o.setUint32(4, 32, false);
      o.setUint16(8, dv.getUint16(off + 8, true), false);
      o.setUint32(12, dv.getUint32(off + 12, true), false);
      o.setUint16(16, 9, false);
      o.setUint16(18, 1, false);
      out[20] = pow2 ? 0x80 | 20 : 6;
      o.setUint32(28, 32, false);
    } else if (type === 6) {
      out.set(src.subarray(off, off + len));
      o.setUint32(0, 6, false);
      o.setUint32(4, len, false);
      o.setUint32(8, dv.getUint32(off + 8, true), false);
      let ts = dv.getUint32(off + 12, true) * 4294967296 + dv.getUint32(off + 16, true); // µs
      if (pow2) ts = Math.round((ts / 1e6) * 2 ** 20);
      o.setUint32(12, Math.floor(ts / 4294967296), false);
      o.setUint32(16, ts % 4294967296, false);
      o.setUint32(20, dv.getUint32(off + 20, true), false);
      o.setUint32(24, dv.getUint32(off + 24, true), false);
      const cap = dv.getUint32(off + 20, true);
      out.fill(0, 28 + cap, len - 4); // padding, options dropped
      o.setUint32(len - 4, len, false);
    } else {
      off += len;
      continue;
    }
    parts.push(out);
    off += len;
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const res = new Uint8Array(total);
  let p = 0;
  for (const x of parts) {
    res.set(x, p);
    p += x.length;
  }
  return res;
}

test('big-endian sections and a power-of-two if_tsresol read as tshark reads them', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-pcapng-'));
  const le = join(dir, 'le.pcapng');
  assert.equal(spawnSync('editcap', ['-F', 'pcapng', dataPath('pcap', 'normal', 'ipfixprobe-dns.pcap'), le]).status, 0);
  const src = readFileSync(le);
  for (const pow2 of [false, true]) {
    const f = join(dir, `be-${pow2}.pcapng`);
    writeFileSync(f, rewrite(src, pow2));
    const errors: string[] = [];
    const got = ours(readFileSync(f), errors);
    assert.deepEqual(errors, []);
    const want = theirs(f);
    assert.equal(got.length, 16);
    assert.equal(got.length, want.length);
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i].us - want[i].us) <= 1, `pow2=${pow2} frame ${i + 1}: ${got[i].us} vs ${want[i].us}`);
      assert.equal(got[i].cap, want[i].cap);
    }
  }
});

test('a truncated file keeps the frames before the cut and names the offset', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-pcapng-'));
  for (const name of ['ipfixprobe-wg.pcap', 'ipfixprobe-tls.pcap']) {
    const full = readFileSync(dataPath('pcap', 'normal', name));
    for (const cut of [Math.floor(full.length / 3), full.length - 7]) {
      const f = join(dir, `cut-${cut}-${name}`);
      writeFileSync(f, full.subarray(0, cut));
      const errors: string[] = [];
      const got = ours(readFileSync(f), errors);
      assert.equal(errors.length, 1, `${name} cut at ${cut}`);
      assert.match(errors[0], /truncated .* at offset \d+/);
      const at = Number(/at offset (\d+)/.exec(errors[0])?.[1]);
      assert.ok(at < cut && at > 0);
      // tshark also stops at the cut (with an error) after printing the whole frames before it.
      assert.deepEqual(strip(got).length, theirs(f).length, `${name} cut at ${cut}`);
    }
  }
});
