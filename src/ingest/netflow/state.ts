// The decoder state file (`${dataDir}/decoder-state.json`): written atomically so that a crash in
// the middle of a save leaves the previous good state, read defensively so that a corrupt file
// costs a template refresh, not the collector.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkDecoderState, type DecoderState } from './decoder-state.js';

/** A state file larger than this is refused (100 000 templates of ~40 fields fit well under it). */
export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Write `state` to `file` atomically: a temp file in the same directory (so the rename stays on one
 * file system), fsync, rename over the old file, fsync the directory so the rename itself is
 * durable. One process owns the file (the data directory's owner), so the temp name is fixed.
 */
export async function saveDecoderState(file: string, state: DecoderState): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(dirname(file));
}

/** The same, synchronously: for a last save on the way out of the process. */
export function saveDecoderStateSync(file: string, state: DecoderState): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDirSync(dirname(file));
}

/**
 * The saved state, or null when there is none. A file that cannot be used (unreadable JSON, wrong
 * version or shape, too large) is reported through `onError`, moved aside to `FILE.corrupt` for a
 * post-mortem, and null is returned: the decoder then starts empty and relearns from the wire.
 * Never throws. Entry-level validation happens in FlowExportDecoder.importState().
 */
export function loadDecoderState(file: string, onError: (message: string) => void = () => {}): DecoderState | null {
  let raw: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) return corrupt(file, 'not a regular file', onError, false);
    if (st.size > MAX_STATE_FILE_BYTES)
      return corrupt(file, `${st.size} bytes (limit ${MAX_STATE_FILE_BYTES})`, onError, true);
    raw = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    onError(`decoder state ${file}: cannot read: ${(e as Error).message}`);
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    return corrupt(file, `not JSON (${(e as Error).message})`, onError, true);
  }
  const checked = checkDecoderState(parsed);
  if ('error' in checked) return corrupt(file, checked.error, onError, true);
  return checked.state;
}

function corrupt(file: string, why: string, onError: (m: string) => void, moveAside: boolean): null {
  let kept = '';
  if (moveAside) {
    try {
      renameSync(file, `${file}.corrupt`);
      kept = `; kept as ${file}.corrupt`;
    } catch (e) {
      kept = `; could not move it aside: ${(e as Error).message}`;
    }
  }
  onError(`decoder state ${file} is unusable: ${why}${kept}; starting without saved templates`);
  return null;
}

async function syncDir(dir: string): Promise<void> {
  // Directories cannot be fsynced on every platform (Windows): the rename is then as durable as the OS makes it.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {}
}

function syncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {}
}
