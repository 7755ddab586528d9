// sFlow interface counters through the product: `flowwatch import` stores the counter samples and
// `flowwatch interfaces` turns consecutive samples into bits per second, compared with the same
// arithmetic on tshark's decode of the capture.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataPath, needsData, needsTool, REPO_ROOT } from '../helpers/data.js';
import { HAVE_TSHARK } from '../helpers/tshark.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const skip = needsData() || needsTool('tshark', HAVE_TSHARK);

test('interface utilisation from stored counter samples equals tshark arithmetic', { skip }, () => {
  const pcap = dataPath('netflow/ndpi/sflow.pcap');
  const lines = execFileSync(
    'tshark',
    [
      '-r',
      pcap,
      '-T',
      'fields',
      '-e',
      'frame.time_epoch',
      '-e',
      'sflow_245.ifindex',
      '-e',
      'sflow_245.ifinoct',
      '-e',
      'sflow_245.ifoutoct',
    ],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f[1]);
  const byIf = new Map<number, { t: number; inO: number; outO: number }[]>();
  for (const [t, ifIndex, inO, outO] of lines) {
    const list = byIf.get(Number(ifIndex)) ?? [];
    list.push({ t: Math.floor(Number(t) * 1000), inO: Number(inO), outO: Number(outO) });
    byIf.set(Number(ifIndex), list);
  }
  assert.ok(byIf.size >= 2);
  const dir = mkdtempSync(join(tmpdir(), 'fw-ifc-'));
  execFileSync(process.execPath, [CLI, 'import', '--no-geo', '--data', dir, pcap]);
  const rows = JSON.parse(
    execFileSync(process.execPath, [CLI, 'interfaces', '--data', dir, '--format', 'json'], { encoding: 'utf8' }),
  ) as Record<string, number>[];
  assert.equal(rows.length, byIf.size);
  for (const row of rows) {
    const s = byIf.get(row.if_index);
    assert.ok(s, `interface ${row.if_index}`);
    const dt = s[s.length - 1].t - s[0].t;
    assert.equal(row.samples, s.length);
    assert.equal(row.in_bps_avg, Math.round(((s[s.length - 1].inO - s[0].inO) * 8000) / dt));
    assert.equal(row.out_bps_avg, Math.round(((s[s.length - 1].outO - s[0].outO) * 8000) / dt));
    let peak = 0;
    for (let i = 1; i < s.length; i++)
      peak = Math.max(peak, ((s[i].inO - s[i - 1].inO) * 8000) / (s[i].t - s[i - 1].t));
    assert.equal(row.in_bps_peak, Math.round(peak));
  }
});
