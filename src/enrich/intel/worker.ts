// The intel loader thread (started by remote.ts): fetches with ETag and the on-disk cache, parses,
// builds, and posts each new table with its buffers transferred. It holds no indicators between
// requests (fetch.ts), and remote.ts ends it after any request that parsed something or failed: the heap
// that parsing left behind goes back to the system with the thread.
// Requests arrive one at a time (IntelFeedWorker coalesces refreshes), so replies keep their order.

import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { IntelFeedSet } from './fetch.js';
import { toWire, type WorkerInit, type WorkerReply, type WorkerRequest } from './remote.js';

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('worker.ts runs as a worker thread (see remote.ts)');
let feeds: IntelFeedSet | null = null;

port.on('message', (m: WorkerRequest) => {
  void handle(m);
});

async function handle(m: WorkerRequest): Promise<void> {
  if (m.heap === true) {
    port?.postMessage({ id: m.id, reports: [], heapUsed: getHeapStatistics().used_heap_size } satisfies WorkerReply);
    return;
  }
  // a new thread: whatever the caller already has in use is every feed's last good copy
  feeds ??= new IntelFeedSet(init.specs, init.opts, !m.build);
  let reply: WorkerReply;
  try {
    const { reports, table } = await feeds.refreshFeeds(m.due, m.build);
    reply = { id: m.id, reports };
    if (table !== null) {
      const { wire, transfer } = toWire(table);
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
