import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'flowwatch-store-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Run SQL on a closed store's file with a fresh read-only DuckDB (independent of the store code). */
export async function rawQuery(dir: string, sql: string): Promise<DuckDBValue[][]> {
  const inst = await DuckDBInstance.create(join(dir, 'flows.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await inst.connect();
  try {
    return (await c.runAndReadAll(sql)).getRows();
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}
