// The intel loader thread (started by remote.ts): owns an IntelFeedSet — fetching with ETag and
// the on-disk cache, parsing, building — and posts each new table with its buffers transferred.
// Requests arrive one at a time (IntelFeedWorker coalesces refreshes), so replies keep their order.

import { parentPort, workerData } from 'node:worker_threads';
import { IntelFeedSet } from './fetch.js';
import type { IntelTable } from './intel.js';
import { toWire, type WorkerInit, type WorkerReply, type WorkerRequest } from './remote.js';

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('worker.ts runs as a worker thread (see remote.ts)');
const feeds = new IntelFeedSet(init.specs, init.opts);

port.on('message', (m: WorkerRequest) => {
  void handle(m);
});

async function handle(m: WorkerRequest): Promise<void> {
  let built: IntelTable | null = null;
  let reply: WorkerReply;
  try {
    const reports = await feeds.refreshDue(m.now, (t) => {
      built = t;
    });
    reply = { id: m.id, reports };
    if (built !== null) {
      const { wire, transfer } = toWire(built);
      reply.table = wire;
      port?.postMessage(reply, transfer);
      return;
    }
  } catch (e) {
    // buildIntelTable refuses a table it cannot hold (e.g. more than 65 535 feeds)
    reply = { id: m.id, reports: [], error: e instanceof Error ? e.message : String(e) };
  }
  port?.postMessage(reply);
}
