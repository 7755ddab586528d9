// Checkpoint bookkeeping of an object while it is being parsed. Every commit must hold, for each
// object, exactly as many flows as its checkpoint row says — also a commit that happens while the
// object's parser is still running (another input's flush on the shared store), since a crash
// right after it would otherwise read the object again and store its flows twice.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LogSource } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import type { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { api } from '../../src/store/duckdb/duckdb-api.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { memoryLister } from './memory-lister.js';

const tmp = mkdtempSync(join(tmpdir(), 'fw-inflight-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** An AWS VPC Parquet object of `n` records (the column names and types AWS uses). */
async function parquet(n: number): Promise<Uint8Array> {
  const file = join(tmp, `vpc-${n}.parquet`);
  const inst = await api.DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  await c.run(
    `COPY (SELECT 2::INTEGER AS version, '123456789010' AS account_id, 'eni-1235b8ca123456789' AS interface_id,
       '172.31.16.' || (i % 250) AS srcaddr, '172.31.16.21' AS dstaddr, (20000 + i)::INTEGER AS srcport,
       22::INTEGER AS dstport, 6::BIGINT AS protocol, 20::BIGINT AS packets, 4249::BIGINT AS bytes,
       1418530010::BIGINT AS start, 1418530070::BIGINT AS "end", 'ACCEPT' AS action, 'OK' AS log_status
     FROM range(${n}) t(i)) TO '${file}' (FORMAT parquet)`,
  );
  c.closeSync();
  inst.closeSync();
  return readFileSync(file);
}

test('a commit while a Parquet object is still being parsed checkpoints the rows it holds', async () => {
  const N = 100;
  const objects = new Map([['vpc/a.parquet', await parquet(N)]]);
  const store = await openStore({ dir: join(tmp, 'data') });
  const source = new LogSource({
    name: 'pq',
    lister: memoryLister(objects),
    store,
    counters: new ExporterCounters(),
    batchSize: 10, // rows reach the store while the parser runs
  });
  // After the source's hook, in the same transaction: the flows and the checkpoints' row count.
  const seen: { flows: number; checkpointed: number }[] = [];
  const removeHook = store.addCommitHook({
    pending: () => true,
    write: async (run) => {
      const [[flows]] = await run('SELECT count(*) FROM flows_data');
      const [[cp]] = await run(`SELECT coalesce(sum(rows), 0) FROM source_checkpoints WHERE source = 'pq'`);
      seen.push({ flows: Number(flows), checkpointed: Number(cp) });
    },
  });
  // Another input's flush: the store commits just after the first batch of the object arrives,
  // and the parser's last step (removing its temporary file) waits until that commit is done.
  let commitDuringParse: Promise<number> | undefined;
  const append = store.append.bind(store);
  store.append = (b: FlowBatch) => {
    const p = append(b);
    commitDuringParse ??= store.flush();
    return p;
  };
  const realRm = fsp.rm;
  (fsp as { rm: typeof realRm }).rm = async (path, opts) => {
    if (String(path).includes('flowwatch-parquet-')) {
      // The pipeline hands full batches to the store a promise turn later: wait for the first.
      for (let i = 0; i < 1000 && commitDuringParse === undefined; i++) await new Promise((r) => setImmediate(r));
      await commitDuringParse;
    }
    return realRm(path, opts);
  };
  syncBuiltinESMExports();
  try {
    await source.runOnce();
  } finally {
    (fsp as { rm: typeof realRm }).rm = realRm;
    syncBuiltinESMExports();
  }
  await source.stop();
  removeHook();
  await store.close();
  assert.ok(commitDuringParse, 'no batch reached the store during the parse');
  const during = seen.filter((s) => s.flows > 0 && s.flows < N);
  assert.ok(during.length > 0, `no commit during the parse: ${JSON.stringify(seen)}`);
  for (const s of seen) assert.equal(s.checkpointed, s.flows, `commits: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.at(-1), { flows: N, checkpointed: N });
});

test('a parse that throws before writing a row is an error and the object is read again next pass', async () => {
  const N = 30;
  const objects = new Map([['vpc/b.parquet', await parquet(N)]]);
  const store = await openStore({ dir: join(tmp, 'data-throw') });
  const errors: string[] = [];
  const source = new LogSource({
    name: 'pq',
    lister: memoryLister(objects),
    store,
    counters: new ExporterCounters(),
    onError: (m) => errors.push(m),
  });
  // The Parquet parser's temporary directory cannot be made (a full disk, say): an I/O failure,
  // not bad input, so parseLogObject throws.
  const realMkdtemp = fsp.mkdtemp;
  (fsp as { mkdtemp: unknown }).mkdtemp = async () => {
    throw new Error('ENOSPC: no space left on device');
  };
  syncBuiltinESMExports();
  let first: { objects: number; errors: number };
  try {
    first = { ...(await source.runOnce()) };
  } finally {
    (fsp as { mkdtemp: typeof realMkdtemp }).mkdtemp = realMkdtemp;
    syncBuiltinESMExports();
  }
  assert.equal(first.objects, 0);
  assert.equal(first.errors, 1);
  assert.match(errors.join('\n'), /^vpc\/b\.parquet: cannot parse: ENOSPC/m);
  const second = await source.runOnce();
  assert.equal(second.objects, 1);
  assert.equal(await store.count(), N);
  await source.stop();
  await store.close();
});
