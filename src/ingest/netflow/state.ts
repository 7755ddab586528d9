// The decoder state file (`${dataDir}/decoder-state.json`): written atomically so that a crash in
// the middle of a save leaves the previous good state, read defensively so that a corrupt file
// costs a template refresh, not the collector.

import { readFileSync, renameSync, statSync } from 'node:fs';
import { writeFileAtomic, writeFileAtomicSync } from '../../util/atomic-file.js';
import { checkDecoderState, type DecoderState } from './decoder-state.js';

/** A state file larger than this is refused (100 000 templates of ~40 fields fit well under it). */
export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

/** Write `state` to `file` atomically and durably (util/atomic-file.ts). */
export async function saveDecoderState(file: string, state: DecoderState): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(state));
}

/** The same, synchronously: for a last save on the way out of the process. */
export function saveDecoderStateSync(file: string, state: DecoderState): void {
  writeFileAtomicSync(file, JSON.stringify(state));
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
