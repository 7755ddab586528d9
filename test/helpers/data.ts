// Where the shared real-data corpus lives (../shared/data beside the repository). In CI its absence
// is a failure; locally the tests that need it are skipped with a message saying so.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file is compiled to dist/test/helpers/). */
export const REPO_ROOT = resolve(here, '..', '..', '..');
export const SHARED_DATA = process.env.FLOWWATCH_SHARED_DATA ?? resolve(REPO_ROOT, '..', 'shared', 'data');

/** Path inside the shared corpus; throws in CI when the corpus is missing. */
export function dataPath(...parts: string[]): string {
  return join(SHARED_DATA, ...parts);
}

/** `skip` option for node:test: a message when the corpus is missing locally, false otherwise. */
export function needsData(): string | false {
  if (existsSync(SHARED_DATA)) return false;
  if (process.env.CI) throw new Error(`shared data corpus missing at ${SHARED_DATA} (required in CI)`);
  return `shared data corpus not found at ${SHARED_DATA}; skipping`;
}

/** `skip` option for tests that need a system tool (tshark, nfdump, …): required in CI. */
export function needsTool(tool: string, found: boolean): string | false {
  if (found) return false;
  if (process.env.CI) throw new Error(`${tool} is required in CI (installed by .ci/run)`);
  return `${tool} not installed; skipping`;
}
