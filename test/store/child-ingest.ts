// Child process for the kill -9 durability test: ingests synthetic batches into the store in
// argv[2], numbering every flow in `sequence`, and prints the stored count after each flush.
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { C } from '../../src/schema/columns.js';
import { openStore } from '../../src/store/duckdb/index.js';
import { SynthFlows } from './synth.js';

const store = await openStore({ dir: process.argv[2] });
const synth = new SynthFlows({ seed: 7 });
const batch = new FlowBatch(4096);
let next = await store.count();
for (;;) {
  for (let k = 0; k < 3; k++) {
    synth.fill(batch);
    for (let r = 0; r < batch.length; r++) batch.setNum(C.sequence, r, next++);
    await store.append(batch);
  }
  const stored = await store.flush();
  process.stdout.write(`stored ${stored}\n`);
}
