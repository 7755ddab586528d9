// Objects held in memory as a log input's lister; an object's version is its length (they only grow).
import type { ObjectLister } from '../../src/ingest/sources/source.js';

export function memoryLister(objects: Map<string, string | Uint8Array>): ObjectLister {
  const bytes = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v) : v);
  return {
    description: 'memory',
    list: async () =>
      [...objects].map(([key, v]) => {
        const size = bytes(v).length;
        return { key, size, version: String(size) };
      }),
    read: async (o) => bytes(objects.get(o.key) as string | Uint8Array),
  };
}
