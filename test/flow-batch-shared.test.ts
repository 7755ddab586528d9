// Shared dictionaries (FlowBatch.useSharedStrings / useSharedList): an enrichment table's interned
// array stands in for a column's per-batch dictionary. What must hold: the swap only happens on a
// column the batch holds nothing of its own in; reset() gives the batch its private dictionary
// back; writing through the batch never changes the table's array (copy on write) and keeps every
// code already written meaning what it meant; the filter predicate reads shared values like
// private ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePredicate } from '../src/filter/index.js';
import { FlowBatch, ListDict, StringDict } from '../src/pipeline/flow-batch.js';
import { C } from '../src/schema/columns.js';

const names: readonly string[] = Object.freeze(['', 'corp', 'lab', 'dmz']);
const lists: readonly (readonly string[])[] = Object.freeze([[], ['internal'], ['internal', 'web'], ['aws']]);

test('a column takes a shared array only while the batch holds nothing of its own in it', () => {
  const b = new FlowBatch(8);
  assert.equal(b.useSharedStrings(C.src_range, names), true);
  assert.equal(b.strings[C.src_range]?.values, names);
  assert.equal(b.strings[C.src_range]?.shared, true);
  // already shared: another array only as an extension of the one it replaces
  assert.equal(b.useSharedStrings(C.src_range, ['', 'x']), false);
  const longer = [...names, 'edge'];
  assert.equal(b.useSharedStrings(C.src_range, longer, names), true);
  assert.equal(b.strings[C.src_range]?.values, longer);
  // a column a decoder wrote keeps its dictionary
  b.addRow();
  b.setString(C.dst_range, 0, 'from-decoder');
  assert.equal(b.useSharedStrings(C.dst_range, names), false);
  assert.equal(b.strings[C.dst_range]?.shared, false);
  assert.equal(b.getString(C.dst_range, 0), 'from-decoder');
  b.setList(C.dst_tags, 0, ['x']);
  assert.equal(b.useSharedList(C.dst_tags, lists), false);
  // index 0 must be the null value, and non-dictionary columns have nothing to share
  assert.equal(b.useSharedStrings(C.src_segment, ['corp']), false);
  assert.equal(b.useSharedList(C.src_tags, [['a']]), false);
  assert.equal(b.useSharedStrings(C.src_port, names), false);
  assert.equal(b.strings[C.src_segment]?.shared, false);
});

test('rows read shared values; reset() restores the private dictionary', () => {
  const b = new FlowBatch(8);
  assert.ok(b.useSharedStrings(C.src_range, names));
  assert.ok(b.useSharedList(C.src_tags, lists));
  for (let r = 0; r < 4; r++) {
    b.addRow();
    if (r === 0) continue;
    (b.data[C.src_range] as Uint32Array)[r] = r;
    b.valid[C.src_range][r] = 1;
    (b.data[C.src_tags] as Uint32Array)[r] = r;
    b.valid[C.src_tags][r] = 1;
  }
  assert.deepEqual(
    [0, 1, 2, 3].map((r) => b.getString(C.src_range, r)),
    [null, 'corp', 'lab', 'dmz'],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((r) => b.getList(C.src_tags, r)),
    [[], ['internal'], ['internal', 'web'], ['aws']],
  );
  b.reset();
  for (const d of [b.strings[C.src_range], b.lists[C.src_tags]]) {
    assert.equal(d?.shared, false);
    assert.equal(d?.values.length, 1);
  }
  // the private dictionary works as before, and the table's arrays did not move
  b.addRow();
  b.setString(C.src_range, 0, 'private');
  b.setList(C.src_tags, 0, ['p']);
  assert.equal(b.getString(C.src_range, 0), 'private');
  assert.deepEqual(b.getList(C.src_tags, 0), ['p']);
  assert.deepEqual(names, ['', 'corp', 'lab', 'dmz']);
  assert.equal(lists.length, 4);
  // and can be shared again after the next reset
  b.reset();
  assert.ok(b.useSharedStrings(C.src_range, names));
});

test('a write through a shared dictionary copies it: the table array stays, old codes keep their values', () => {
  // StringDict and ListDict on their own, then through FlowBatch's writers (frozen arrays: any
  // write into the table's array would throw in strict mode)
  const s = new StringDict();
  assert.ok(s.share(names));
  assert.equal(s.code('new'), 4);
  assert.equal(s.shared, false);
  assert.deepEqual(s.values, ['', 'corp', 'lab', 'dmz', 'new']);
  assert.notEqual(s.values, names);
  assert.equal(s.append('more'), 5);
  const l = new ListDict();
  assert.ok(l.share(lists));
  assert.equal(l.append(['z']), 4);
  assert.deepEqual(l.values[2], ['internal', 'web']);
  assert.deepEqual(l.values[4], ['z']);
  s.clear();
  assert.deepEqual(s.values, ['']);

  const b = new FlowBatch(8);
  assert.ok(b.useSharedStrings(C.dst_host, names));
  assert.ok(b.useSharedList(C.dst_tags, lists));
  const r0 = b.addRow();
  (b.data[C.dst_host] as Uint32Array)[r0] = 3;
  b.valid[C.dst_host][r0] = 1;
  (b.data[C.dst_tags] as Uint32Array)[r0] = 2;
  b.valid[C.dst_tags][r0] = 1;
  const r1 = b.addRow();
  b.setString(C.dst_host, r1, 'written-later');
  b.setList(C.dst_tags, r1, ['later']);
  assert.equal(b.getString(C.dst_host, r0), 'dmz');
  assert.deepEqual(b.getList(C.dst_tags, r0), ['internal', 'web']);
  assert.equal(b.getString(C.dst_host, r1), 'written-later');
  assert.deepEqual(b.getList(C.dst_tags, r1), ['later']);
  assert.equal(names.length, 4);
  assert.equal(lists.length, 4);
  // a row copied out of a shared batch lands in the other batch's private dictionary
  const other = new FlowBatch(4);
  const c = new FlowBatch(4);
  assert.ok(c.useSharedStrings(C.dst_host, names));
  c.addRow();
  (c.data[C.dst_host] as Uint32Array)[0] = 1;
  c.valid[C.dst_host][0] = 1;
  other.copyRowFrom(c, 0);
  assert.equal(other.getString(C.dst_host, 0), 'corp');
  assert.equal(other.strings[C.dst_host]?.shared, false);
});

test('the filter predicate reads shared dictionaries like private ones', () => {
  const shared = new FlowBatch(4);
  const own = new FlowBatch(4);
  assert.ok(shared.useSharedStrings(C.src_range, names));
  assert.ok(shared.useSharedList(C.src_tags, lists));
  for (let r = 0; r < 4; r++) {
    shared.addRow();
    own.addRow();
    if (r === 0) continue;
    (shared.data[C.src_range] as Uint32Array)[r] = r;
    shared.valid[C.src_range][r] = 1;
    (shared.data[C.src_tags] as Uint32Array)[r] = r;
    shared.valid[C.src_tags][r] = 1;
    own.setString(C.src_range, r, names[r]);
    own.setList(C.src_tags, r, lists[r]);
  }
  for (const f of ['src tag internal', 'src tag web or src range "dmz"', 'not src range "corp"']) {
    const p = compilePredicate(f);
    const got = [0, 1, 2, 3].map((r) => p(shared, r));
    assert.deepEqual(
      got,
      [0, 1, 2, 3].map((r) => p(own, r)),
      f,
    );
    assert.ok(got.includes(true), f);
  }
});
