// Agent batch ids are committed in the transaction that holds the batch's rows: not before (a
// crash would then forget rows the agent was told are stored... or keep an id without its rows),
// never with a batch the store refused, and they are read back after a restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BatchIds, DEDUP_PER_AGENT, type RowPositions } from '../../src/api/batch-ids.js';
import { openStore } from '../../src/store/duckdb/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'fw-batch-ids-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function storedIds(dir: string): Promise<string[]> {
  const store = await openStore({ dir });
  const out: string[] = [];
  store.addCommitHook({
    pending: () => out.length === 0,
    write: async (run) => {
      for (const [a, s] of await run('SELECT agent, seq FROM ingest_batches ORDER BY agent, seq'))
        out.push(`${a}:${s}`);
      if (out.length === 0) out.push('(none)');
    },
  });
  await store.flush();
  await store.close();
  return out;
}

/** The ids in the table as of a commit of this store (a hook that reads once). */
async function idsNow(store: Awaited<ReturnType<typeof openStore>>): Promise<string[]> {
  const out: string[] = [];
  let done = false;
  const remove = store.addCommitHook({
    pending: () => !done,
    write: async (run) => {
      done = true;
      for (const [a, s] of await run('SELECT agent, seq FROM ingest_batches ORDER BY agent, seq'))
        out.push(`${a}:${s}`);
    },
  });
  await store.flush();
  remove();
  return out;
}

test('an id is written by the first commit that holds all its rows, never with a refused batch', async () => {
  const dir = join(tmp, 'a');
  const store = await openStore({ dir });
  const rows: { written: number; appendedUpTo: number; refused: [number, number][] } = {
    written: 0,
    appendedUpTo: 0,
    refused: [],
  };
  const ids = new BatchIds(store, rows as RowPositions);
  await ids.load();
  // request 1 wrote rows [0, 10), request 2 rows [10, 30)
  ids.queue('a/e', 1, 0, 10);
  ids.queue('a/e', 2, 10, 30);
  rows.written = 30;
  // a commit while only the first 5 rows are in the store's transaction: neither id
  rows.appendedUpTo = 5;
  await store.flush();
  assert.deepEqual(await idsNow(store), []);
  // the first batch (rows 0–20) appended: id 1, not id 2 (its rows 20–30 are not in yet)
  rows.appendedUpTo = 20;
  await store.flush();
  assert.deepEqual(await idsNow(store), ['a/e:1']);
  // rows 20–30 refused by the store: id 2 is never written
  rows.refused.push([20, 30]);
  rows.appendedUpTo = 30;
  await store.flush();
  ids.settle('a/e', 1, true);
  ids.settle('a/e', 2, false);
  assert.equal(ids.has('a/e', 1), true);
  assert.equal(ids.has('a/e', 2), false);
  await store.close();
  assert.deepEqual(await storedIds(dir), ['a/e:1']);
});

test('ids are read back after a restart; each agent keeps its last DEDUP_PER_AGENT', async () => {
  const dir = join(tmp, 'b');
  let store = await openStore({ dir });
  let ids = new BatchIds(store);
  await ids.load();
  for (let seq = 0; seq < DEDUP_PER_AGENT + 5; seq++) {
    ids.queue('b/e', seq, 0, 0);
    await store.flush();
    ids.settle('b/e', seq, true);
  }
  await store.close();
  store = await openStore({ dir });
  ids = new BatchIds(store);
  await ids.load();
  assert.equal(ids.has('b/e', DEDUP_PER_AGENT + 4), true);
  assert.equal(ids.has('b/e', 5), true);
  assert.equal(ids.has('b/e', 4), false);
  assert.equal(ids.has('other/e', 7), false);
  await store.close();
  assert.equal((await storedIds(dir)).length, DEDUP_PER_AGENT);
});
