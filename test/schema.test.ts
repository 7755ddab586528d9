import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowBatch, formatAddrWords, parseAddr } from '../src/pipeline/flow-batch.js';
import { allColumns, C } from '../src/schema/columns.js';

test('every declared column has a unique name and a C index', () => {
  const names = allColumns().map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const [i, n] of names.entries()) assert.equal(C[n as keyof typeof C], i, n);
  assert.equal(Object.keys(C).length, names.length);
});

test('addresses round-trip through the 4-word layout (RFC 5952 text)', () => {
  for (const a of [
    '10.1.2.3',
    '0.0.0.0',
    '255.255.255.255',
    '2001:db8::1',
    '::',
    '::1',
    'fe80::1:0:0:2',
    '2001:db8:0:1:1:1:1:1',
  ]) {
    const w = parseAddr(a);
    assert.ok(w, a);
    assert.equal(formatAddrWords(w, 0), a);
  }
  assert.equal(formatAddrWords(parseAddr('2001:DB8:0:0:0:0:0:1')!, 0), '2001:db8::1');
  assert.equal(parseAddr('1.2.3'), null);
  assert.equal(parseAddr('1::2::3'), null);
});

test('FlowBatch rows: null by default, strings dictionary-encoded, reset clears', () => {
  const b = new FlowBatch(4);
  const r = b.addRow();
  assert.equal(b.isNull(C.dst_port, r), true);
  b.setNum(C.dst_port, r, 443);
  b.setString(C.exporter, r, '192.0.2.1');
  const r2 = b.addRow();
  b.setString(C.exporter, r2, '192.0.2.1');
  assert.equal(b.data[C.exporter][r], b.data[C.exporter][r2]);
  assert.equal(b.getString(C.exporter, r2), '192.0.2.1');
  b.setIPv4(C.src_addr, r, 0x0a000001);
  assert.equal(b.getAddr(C.src_addr, r), '10.0.0.1');
  b.reset();
  assert.equal(b.length, 0);
  b.addRow();
  assert.equal(b.isNull(C.dst_port, 0), true);
});
