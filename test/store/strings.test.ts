// String columns as the chunk writer stores them: values of up to 12 UTF-8 bytes are written as
// DuckDB's inlined string_t in one copy per chunk, longer ones one cell at a time. Every value read
// back through an independent DuckDB must be the one written: lengths 1 to 40 around the 12/13-byte
// boundary, multi-byte characters that end exactly at it or straddle it, a lone surrogate (stored as
// U+FFFD, as the per-cell path stores it), empty strings (NULL), more rows than one chunk, and one
// FlowBatch reused with a different dictionary, so that stale encodings of a code would show.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { CHUNK_ROWS } from '../../src/store/duckdb/chunk-writer.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { rng } from '../helpers/rng.js';
import { rawQuery, removeDir, tempDir } from './helpers.js';

const d = tempDir();
after(() => removeDir(d));

function values(next: () => number): string[] {
  const out = ['', 'a', 'US', 'DE', '123456789012', '1234567890123', 'é'.repeat(6), `${'x'.repeat(11)}é`];
  out.push(
    `${'x'.repeat(10)}é`,
    '日本語テスト',
    '日本語テ',
    '🙂🙂🙂',
    '🙂🙂🙂🙂',
    'bad\ud800',
    'AMAZON-02 Amazon.com, Inc.',
  );
  for (let i = 0; i < 40; i++) {
    const len = 1 + Math.floor(next() * 40);
    let s = '';
    for (let k = 0; k < len; k++) s += next() < 0.2 ? 'ü' : String.fromCharCode(97 + Math.floor(next() * 26));
    out.push(s);
  }
  return out;
}

test('short strings written inline and long ones per cell read back as written', async () => {
  const s = await openStore({ dir: d });
  const next = rng(9);
  const b = new FlowBatch(CHUNK_ROWS * 2 + 100);
  const want: (string | null)[] = [];
  for (let round = 0; round < 2; round++) {
    const vals = values(next);
    if (round === 1) vals.reverse(); // the same codes now hold other strings
    const rows = round === 0 ? b.capacity : 300;
    for (let k = 0; k < rows; k++) {
      const r = b.addRow();
      b.setNum(C.time_start, r, 1_700_000_000_000 + want.length);
      b.setNum(C.src_port, r, want.length % 65536);
      b.setNum(C.dst_port, r, Math.floor(want.length / 65536));
      const v = vals[Math.floor(next() * vals.length)];
      if (next() < 0.1) want.push(null);
      else {
        b.setString(C.src_country, r, v);
        want.push(v === '' ? null : v.replace('\ud800', '\ufffd'));
      }
    }
    await s.append(b);
    b.reset();
  }
  await s.close();
  const rows = await rawQuery(
    d,
    'SELECT dst_port::INTEGER * 65536 + src_port::INTEGER AS i, src_country FROM flows_data ORDER BY time_start',
  );
  assert.equal(rows.length, want.length);
  for (const [i, got] of rows) assert.equal(got, want[Number(i)], `row ${i}`);
  assert.ok(
    want.some((w) => w !== null && Buffer.byteLength(w) > 12),
    'long values',
  );
  assert.ok(
    want.some((w) => w !== null && Buffer.byteLength(w) === 12),
    '12-byte values',
  );
});
