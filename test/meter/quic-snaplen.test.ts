// QUIC Initial detection at the agent's snap length (tcpdump -s 256): the datagram's declared UDP
// length says it is padded to ≥ 1200 bytes (RFC 9000 §14.1) even though only its first 256 bytes
// were captured.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isQuicInitial } from '../../src/ingest/meter/dpi.js';
import { meterCapture } from '../../src/ingest/meter/meter.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { C } from '../../src/schema/columns.js';
import { dataPath, needsData } from '../helpers/data.js';

const SNAPLEN = 256;

/** A QUIC v1 client Initial's first bytes (long header, type 0, 8-byte DCID), padded to `len`. */
function quicInitial(len: number): Buffer {
  const p = Buffer.alloc(len);
  p[0] = 0xc3; // long header, fixed bit, type Initial, packet number length 4
  p.writeUInt32BE(1, 1); // version 1
  p[5] = 8; // DCID length
  for (let i = 0; i < 8; i++) p[6 + i] = 0x80 + i;
  p[14] = 0; // SCID length
  return p;
}

/** Ethernet + IPv4 + UDP frame around `payload`. */
function udpFrame(payload: Buffer, sport: number, dport: number): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[6] = 0x40; // DF
  ip[8] = 64;
  ip[9] = 17;
  ip.writeUInt32BE(0xc0000201, 12);
  ip.writeUInt32BE(0xc6336409, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** A classic pcap of `frames`, each cut to `snaplen` bytes as tcpdump -s does. */
function pcap(frames: Buffer[], snaplen: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(1, 20);
  const parts: Buffer[] = [h];
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16);
    const cap = Math.min(f.length, snaplen);
    r.writeUInt32LE(1_700_000_000 + i, 0);
    r.writeUInt32LE(cap, 8);
    r.writeUInt32LE(f.length, 12);
    parts.push(r, f.subarray(0, cap));
  });
  return Buffer.concat(parts);
}

/** Classic pcap (little-endian µs, as the corpus files are) with every record cut to `snaplen`. */
function truncatePcap(file: Buffer, snaplen: number): Buffer {
  assert.equal(file.readUInt32LE(0), 0xa1b2c3d4, 'a little-endian classic pcap');
  const h = Buffer.from(file.subarray(0, 24));
  h.writeUInt32LE(snaplen, 16);
  const parts: Buffer[] = [h];
  for (let off = 24; off + 16 <= file.length; ) {
    const incl = file.readUInt32LE(off + 8);
    const r = Buffer.from(file.subarray(off, off + 16));
    const cap = Math.min(incl, snaplen);
    r.writeUInt32LE(cap, 8);
    parts.push(r, file.subarray(off + 16, off + 16 + cap));
    off += 16 + incl;
  }
  return Buffer.concat(parts);
}

function apps(capture: Buffer): Map<string, string | null> {
  const sink = new CollectingSink(() => new FlowBatch(4096));
  meterCapture(capture, { sink });
  const out = new Map<string, string | null>();
  for (const b of sink.batches)
    for (let r = 0; r < b.length; r++)
      out.set(
        `${b.getAddr(C.src_addr, r)}:${b.getNum(C.src_port, r)} ${b.getAddr(C.dst_addr, r)}:${b.getNum(C.dst_port, r)}`,
        b.getString(C.app, r),
      );
  return out;
}

test('isQuicInitial reads the first bytes only; the padding rule is checked on the declared length', () => {
  const full = quicInitial(1252);
  assert.equal(isQuicInitial(full, 0, full.length), true);
  assert.equal(isQuicInitial(full, 0, SNAPLEN, 1252), true);
  // without the declared length a cut datagram looks short
  assert.equal(isQuicInitial(full, 0, SNAPLEN), false);
  // a datagram that really is short is no client Initial
  assert.equal(isQuicInitial(full, 0, SNAPLEN, 300), false);
  // declared long but too little captured to read the header
  assert.equal(isQuicInitial(full, 0, 4, 1252), false);
});

test('a QUIC Initial cut to 256 bytes by the snap length is labelled quic; a short UDP datagram is not', () => {
  const cut = pcap(
    [udpFrame(quicInitial(1252), 50000, 443), udpFrame(quicInitial(600).subarray(0, 600), 50001, 443)],
    SNAPLEN,
  );
  const got = apps(cut);
  assert.equal(got.get('192.0.2.1:50000 198.51.100.9:443'), 'quic');
  assert.equal(got.get('192.0.2.1:50001 198.51.100.9:443'), null);
});

test('real QUIC captures cut to 256 bytes: every flow labelled quic in full is labelled quic cut', {
  skip: needsData(),
}, () => {
  let quic = 0;
  for (const name of ['ipfixprobe-quic_initial-sample.pcap', 'zeek-quic-firefox-google.pcap']) {
    const file = readFileSync(dataPath('pcap', 'normal', name));
    const full = apps(file);
    const cut = apps(truncatePcap(file, SNAPLEN));
    for (const [key, app] of full) {
      if (app !== 'quic') continue;
      quic++;
      assert.equal(cut.get(key), 'quic', `${name} ${key}`);
    }
  }
  assert.ok(quic >= 2, `QUIC flows in the captures (${quic})`);
});
