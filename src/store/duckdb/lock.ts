// One writer per database file (DESIGN §5). DuckDB's own file lock refuses a second process, but
// with an opaque message and not within one process — where two read-write opens silently lose
// writes. The lock file names the owner so the CLI can say who holds the store and reach its API.

import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../../util/process.js';
import type { LockInfo } from '../store.js';

export const LOCK_FILE = 'flowwatch.lock';

export function lockPath(dir: string): string {
  return join(dir, LOCK_FILE);
}

/** The lock of `dir` when a live process holds it; null when absent, unreadable or stale. */
export function readLock(dir: string): LockInfo | null {
  const info = readLockFile(dir);
  if (!info || !pidAlive(info.pid)) return null;
  return info;
}

function readLockFile(dir: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(lockPath(dir), 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, startedMs: Number(v.startedMs) || 0, ...(typeof v.api === 'string' ? { api: v.api } : {}) };
  } catch {
    return null;
  }
}

/** Take the writer lock of `dir` for this process, or throw naming the process that holds it. */
export function acquireLock(dir: string): LockInfo {
  const info: LockInfo = { pid: process.pid, startedMs: Date.now() };
  const path = lockPath(dir);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // 'wx' makes creation atomic: of two processes racing for a free store exactly one wins.
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(info));
      } finally {
        closeSync(fd);
      }
      return info;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = readLockFile(dir);
    if (held && pidAlive(held.pid)) {
      const who = held.pid === process.pid ? 'this process' : `process ${held.pid}`;
      throw new Error(
        `flow store ${dir} is already open for writing by ${who} (since ${new Date(held.startedMs).toISOString()}; lock ${path})` +
          (held.api ? `; its API is ${held.api}` : ''),
      );
    }
    // Stale (owner died without closing) or unreadable: take it over.
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new Error(`could not take the lock ${path} (another process keeps re-creating it)`);
}

export function releaseLock(dir: string): void {
  const held = readLockFile(dir);
  if (held?.pid !== process.pid) return;
  try {
    unlinkSync(lockPath(dir));
  } catch {
    // already gone
  }
}

/** Record the API address of the running server in its lock so the CLI can query through it. */
export async function setLockApi(dir: string, api: string): Promise<void> {
  const held = readLockFile(dir);
  if (held?.pid !== process.pid) throw new Error(`lock ${lockPath(dir)} is not held by this process`);
  const tmp = `${lockPath(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...held, api }));
  renameSync(tmp, lockPath(dir));
}
