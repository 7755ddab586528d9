// Log files dropped into a directory (recursively): gzip or plain, any format parseLogObject reads.
//
// A file is listed only once its size and mtime have not changed for `settleMs`: a writer copying
// a file in must finish first (a half-written gzip or JSON document would be read as broken).
// fs.watch wakes the source early, but watchers miss events (editors' rename dances, overflowing
// inotify queues, network file systems), so every poll rescans the tree as well. Dot files and
// names ending in .tmp/.part (what copy tools write before the final rename) are ignored.

import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { LogObjectInfo, ObjectLister } from './source.js';

export interface DirectoryListerOptions {
  dir: string;
  /** How long a file's size and mtime must stay unchanged before it is read (default 2 s). */
  settleMs?: number;
  now?: () => number;
}

interface Seen {
  size: number;
  mtimeMs: number;
  since: number;
}

export class DirectoryLister implements ObjectLister {
  readonly description: string;
  private readonly seen = new Map<string, Seen>();
  private readonly settleMs: number;
  private readonly now: () => number;
  private watcher: FSWatcher | undefined;
  private unsettled = false;

  constructor(private readonly opts: DirectoryListerOptions) {
    this.description = opts.dir;
    this.settleMs = opts.settleMs ?? 2000;
    this.now = opts.now ?? Date.now;
  }

  async list(): Promise<LogObjectInfo[]> {
    const out: LogObjectInfo[] = [];
    const now = this.now();
    const present = new Set<string>();
    this.unsettled = false;
    for (const rel of await this.files()) {
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(join(this.opts.dir, rel));
      } catch {
        continue; // removed between readdir and stat
      }
      if (!st.isFile()) continue;
      present.add(rel);
      const prev = this.seen.get(rel);
      if (prev === undefined || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
        this.seen.set(rel, { size: st.size, mtimeMs: st.mtimeMs, since: now });
        this.unsettled = true;
        continue;
      }
      if (now - prev.since < this.settleMs) {
        this.unsettled = true;
        continue;
      }
      out.push({ key: rel, size: st.size, version: `${st.size}:${Math.trunc(st.mtimeMs)}` });
    }
    for (const k of this.seen.keys()) if (!present.has(k)) this.seen.delete(k);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  read(o: LogObjectInfo): Promise<Uint8Array> {
    return readFile(join(this.opts.dir, o.key));
  }

  watch(wake: () => void): void {
    try {
      this.watcher = watch(this.opts.dir, { recursive: true, persistent: false }, () => wake());
      this.watcher.on('error', () => {
        // The periodic rescan carries on without it.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // recursive watching unsupported here: rescans only
    }
  }

  recheckMs(): number | undefined {
    return this.unsettled ? Math.max(50, Math.ceil(this.settleMs / 2)) : undefined;
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async files(): Promise<string[]> {
    let names: string[];
    try {
      names = (await readdir(this.opts.dir, { recursive: true })) as string[];
    } catch (e) {
      throw new Error(`cannot list ${this.opts.dir}: ${(e as Error).message}`);
    }
    return names
      .map((n) => relative('.', n))
      .filter((n) => {
        const base = n.slice(n.lastIndexOf('/') + 1);
        return !n.split('/').some((p) => p.startsWith('.')) && !base.endsWith('.tmp') && !base.endsWith('.part');
      });
  }
}
