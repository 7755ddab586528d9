// Crash and resume: a child process reading 120 log files into a store is killed with SIGKILL
// twice at different points, then runs to the end. The store must hold each file's flows exactly
// once — counts per exporter and start time equal to a direct parse of every file: no file skipped,
// none (and no part of one) stored twice.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { dataPath, needsData } from '../helpers/data.js';
import { directCounts, sorted, storeCounts } from './expect.js';

const skip = needsData();
const tmp = mkdtempSync(join(tmpdir(), 'fw-resume-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'run-source.js');
const FILES = 120;
const LINES = 4000;

/** Run the child; kill it with SIGKILL once it has read `killAfter` objects (never when undefined). */
function runChild(data: string, drop: string, killAfter?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, data, drop], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /progress (\d+)\n[^\n]*$/.exec(out);
      if (killAfter !== undefined && m && Number(m[1]) >= killAfter) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0)
        resolve(out.split('\n').filter((l) => l.startsWith('done'))[0] ?? signal ?? '');
      else reject(new Error(`child exited ${code}: ${err}`));
    });
  });
}

test('a source killed with SIGKILL mid-way resumes with every flow stored exactly once', {
  skip,
  timeout: 120_000,
}, async () => {
  const drop = join(tmp, 'drop');
  const data = join(tmp, 'data');
  const lines = readFileSync(dataPath('cloud', 'aws', 'vpcflow-v2-default-format-doc-examples.log'), 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(' OK'));
  const objects: [string, Uint8Array][] = [];
  for (let f = 0; f < FILES; f++) {
    // The corpus records, each file's copies at their own start times (so a count per start time
    // tells which file a stored flow came from).
    const out: string[] = [];
    for (let i = 0; i < LINES; i++) {
      const t = lines[i % lines.length].split(' ');
      t[10] = String(1_600_000_000 + f * LINES + i);
      t[11] = String(1_600_000_060 + f * LINES + i);
      out.push(t.join(' '));
    }
    const name = `${String(f).padStart(3, '0')}/flows.log${f % 2 ? '.gz' : ''}`;
    const text = Buffer.from(`${out.join('\n')}\n`);
    const bytes = f % 2 ? gzipSync(text) : text;
    mkdirSync(dirname(join(drop, name)), { recursive: true });
    writeFileSync(join(drop, name), bytes);
    objects.push([name, bytes]);
  }
  const first = await runChild(data, drop, 20);
  assert.equal(first, 'SIGKILL');
  const second = await runChild(data, drop, 30);
  assert.equal(second, 'SIGKILL');
  const last = await runChild(data, drop);
  assert.match(last, /^done \d+/);
  const readLast = Number(last.split(' ')[1]);
  assert.ok(readLast > 0 && readLast < FILES, `the last run read ${readLast} files: the earlier runs got some in`);
  assert.deepEqual(sorted(await storeCounts(data)), sorted(await directCounts(objects)));
});
