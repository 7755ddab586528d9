// The file loader thread (started by file-loader.ts): reads range or asset files, parses and builds
// the table — for ranges the own networks beside it, for ranges and geography the address plan
// (plan.ts) from the new table and the partner table the request carries — then posts them with
// their buffers transferred. It keeps nothing between requests: a reload reads the files again.

import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { loadAssetTable } from './assets/assets.js';
import { type FileReply, type FileRequest, fileStamp } from './file-loader.js';
import { loadGeoDb } from './geo/load.js';
import { transferList } from './intel/remote.js';
import { buildPlanParts, geoPlanInput, rangesPlanInput } from './plan.js';
import { buildOwnNetworks } from './ranges/direction.js';
import { loadRangeTable } from './ranges/ranges.js';
import { EnrichSourceError } from './source-error.js';
import { assetToWire, geoToWire, ownToWire, rangeToWire } from './tables-wire.js';

const port = parentPort;
if (port === null) throw new Error('file-worker.ts runs as a worker thread (see file-loader.ts)');

port.on('message', (m: FileRequest) => {
  void handle(m).then((reply) => port.postMessage(reply, transferList(reply)));
});

async function handle(m: FileRequest): Promise<FileReply> {
  const stamps: [string, string][] = [];
  try {
    if (m.kind === 'geo') {
      const t = await loadGeoDb();
      const reply: FileReply = { id: m.id, stamps, warnings: [], size: t.v4.length + t.v6.length, geo: geoToWire(t) };
      // A plan replaces the ranges' own lookup table; without ranges, geography alone is answered
      // by its own table (a plan of geography alone would add ~45 MB to serve's default setup).
      if (m.planRanges !== undefined) reply.plan = buildPlanParts(m.planRanges, geoPlanInput(t));
      return reply;
    }
    const texts: { file: string; text: string }[] = [];
    // Every file is stamped before any is read: a write during the read is seen at the next check,
    // and a file that cannot be read does not leave the files after it unstamped (changed, for the
    // next check, at every check).
    for (const file of m.files) stamps.push([file, await fileStamp(file)]);
    for (const file of m.files) {
      try {
        texts.push({ file, text: await readFile(file, 'utf8') });
      } catch (e) {
        throw new EnrichSourceError(file, undefined, `cannot read: ${(e as Error).message}`);
      }
    }
    if (m.kind === 'ranges') {
      // no IPv4 table of the ranges' own: the address plan built here answers flows
      const r = loadRangeTable(texts, { v4Dir: false });
      texts.length = 0;
      if (r.errors.length > 0) return { id: m.id, stamps, error: r.errors[0].message, warnings: [] };
      const own = buildOwnNetworks(m.networks, r.table, { origin: 'enrich.networks' });
      const plan = buildPlanParts(rangesPlanInput(r.table), m.planGeo);
      return {
        plan,
        id: m.id,
        stamps,
        warnings: r.warnings.slice(0, m.maxWarnings),
        size: r.table.size,
        ranges: rangeToWire(r.table),
        own: ownToWire(own),
      };
    }
    const r = loadAssetTable(texts);
    texts.length = 0;
    if (r.errors.length > 0) return { id: m.id, stamps, error: r.errors[0].message, warnings: [] };
    return {
      id: m.id,
      stamps,
      warnings: r.warnings.slice(0, m.maxWarnings),
      size: r.table.size,
      assets: assetToWire(r.table),
    };
  } catch (e) {
    return { id: m.id, stamps, error: e instanceof Error ? e.message : String(e), warnings: [] };
  }
}
