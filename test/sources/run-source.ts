// Child process of the resume test: read a directory into a store with a LogSource, printing the
// objects read so far every 20 ms, "done" at the end. Usage: node run-source.js DATA_DIR DROP_DIR
import { DirectoryLister } from '../../src/ingest/sources/directory.js';
import { LogSource } from '../../src/ingest/sources/source.js';
import { ExporterCounters } from '../../src/pipeline/counters.js';
import { openStore } from '../../src/store/duckdb/index.js';

const [data, drop] = process.argv.slice(2);
const store = await openStore({ dir: data });
const source = new LogSource({
  name: 'resume',
  lister: new DirectoryLister({ dir: drop, settleMs: 0 }),
  store,
  counters: new ExporterCounters(),
  // A commit every two files: the kills land between commits and inside objects' rows alike.
  commitRows: 8000,
  onError: (m) => process.stderr.write(`${m}\n`),
});
const t = setInterval(() => process.stdout.write(`progress ${source.stats.committed}\n`), 20);
await source.runOnce(); // first sight of every file (settling)
await source.runOnce();
clearInterval(t);
await source.stop();
await store.close();
process.stdout.write(`done ${source.stats.objects} ${source.stats.resumedRows}\n`);
