import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderRows } from '../../src/cli/output.js';

const rows = [
  { time_start: Date.parse('2024-03-01T00:00:01.5Z'), src_addr: '10.0.0.1', bytes: 1500, src_tags: ['web', 'prod'] },
  { time_start: Date.parse('2024-03-01T00:00:02Z'), src_addr: '2001:db8::1', bytes: 40, src_tags: [] },
];
const cols = ['time_start', 'src_addr', 'bytes', 'src_tags'];

test('json: one array, ISO 8601 UTC times, lists as arrays', () => {
  const out = JSON.parse(renderRows(rows, cols, 'json'));
  assert.deepEqual(out[0], {
    time_start: '2024-03-01T00:00:01.500Z',
    src_addr: '10.0.0.1',
    bytes: 1500,
    src_tags: ['web', 'prod'],
  });
  assert.equal(out.length, 2);
});

test('ndjson: one object per line', () => {
  const lines = renderRows(rows, cols, 'ndjson').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[1]).src_addr, '2001:db8::1');
});

test('csv quotes cells that need it; table right-aligns numbers', () => {
  const csv = renderRows(rows, cols, 'csv').split('\n');
  assert.equal(csv[0], 'time_start,src_addr,bytes,src_tags');
  assert.equal(csv[1], '2024-03-01T00:00:01.500Z,10.0.0.1,1500,"web,prod"');
  const table = renderRows(rows, cols, 'table').split('\n');
  assert.match(table[0], /^time_start\s+src_addr\s+bytes\s+src_tags$/);
  assert.match(table[2], /2001:db8::1\s+40$/);
  assert.equal(table[1].indexOf('1500') + 4, table[2].indexOf('40') + 2);
});

test('tables show protocol names and TCP flags as nfdump does; csv and json keep numbers', () => {
  const r = [
    { proto: 6, tcp_flags: 0x1b },
    { proto: 17, tcp_flags: 0 },
    { proto: 250, tcp_flags: 0xc2 },
  ];
  const table = renderRows(r, ['proto', 'tcp_flags'], 'table').split('\n');
  assert.match(table[1], /^TCP\s+\.\.\.AP\.SF$/);
  assert.match(table[2], /^UDP\s+\.{8}$/);
  assert.match(table[3], /^250\s+CE\.\.\.\.S\.$/);
  assert.equal(renderRows(r, ['proto', 'tcp_flags'], 'csv').split('\n')[1], '6,27');
  assert.deepEqual(JSON.parse(renderRows(r, ['proto'], 'json'))[0], { proto: 6 });
});
