import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import fc from 'fast-check';
import { ipv6Bytes } from '../../src/ingest/text-fields.js';
import { formatIPv6, parseAddr } from '../../src/pipeline/flow-batch.js';

function viaBytes(text: string): Uint32Array | null {
  const out = new Uint32Array(4);
  const b = Buffer.from(`xx${text}yy`, 'latin1');
  return ipv6Bytes(b, 2, b.length - 2, out, 0) ? out : null;
}

test('ipv6Bytes equals parseAddr on every text form of random addresses', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.nat(7), (g, z) => {
      // Runs of zero groups make "::" forms; upper case and the full form are accepted too.
      const groups = g.map((x, i) => (i >= z && i < z + 3 && (x & 1) === 0 ? 0 : x));
      const w = new Uint32Array(4);
      for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0;
      for (const text of [
        formatIPv6(w, 0),
        groups.map((x) => x.toString(16)).join(':'),
        formatIPv6(w, 0).toUpperCase(),
      ]) {
        assert.deepEqual(viaBytes(text), parseAddr(text), text);
        assert.deepEqual(viaBytes(text), w, text);
      }
    }),
    { numRuns: 5000 },
  );
});

test('ipv6Bytes rejects exactly what parseAddr rejects', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-fA-F:.g]{0,24}$/), (text) => {
      if (!text.includes(':')) return;
      assert.deepEqual(viaBytes(text), parseAddr(text), JSON.stringify(text));
    }),
    { numRuns: 20000 },
  );
  for (const ok of ['::', '::1', '1::', '::ffff:10.0.0.1', '64:ff9b::192.0.2.33', '2001:db8::8:800:200c:417a'])
    assert.deepEqual(viaBytes(ok), parseAddr(ok), ok);
  for (const badText of [
    '1:2',
    ':1',
    '1:::2',
    '1::2::3',
    '12345::',
    '1:2:3:4:5:6:7:8:9',
    '::1.2.3',
    '::1.2.3.4.5',
    'g::',
  ])
    assert.equal(viaBytes(badText), null, badText);
});
