import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Enrichment } from '../../src/enrich/manager.js';
import { defaultEnrichSettings, type EnrichSettings } from '../../src/enrich/settings.js';
import { FlowBatch, parseAddr } from '../../src/pipeline/flow-batch.js';
import { C, DIRECTIONS } from '../../src/schema/columns.js';
import { CLI } from '../helpers/server.js';

const run = promisify(execFile);

function batchOf(pairs: [string, string][], timeMs = Date.UTC(2026, 0, 1)): FlowBatch {
  const b = new FlowBatch(pairs.length);
  for (const [s, d] of pairs) {
    const r = b.addRow();
    (b.data[C.src_addr] as Uint32Array).set(parseAddr(s) as Uint32Array, r * 4);
    (b.data[C.dst_addr] as Uint32Array).set(parseAddr(d) as Uint32Array, r * 4);
    b.valid[C.src_addr][r] = 1;
    b.valid[C.dst_addr][r] = 1;
    b.setNum(C.time_start, r, timeMs);
  }
  return b;
}

function settings(dir: string, extra: Partial<EnrichSettings> = {}): EnrichSettings {
  return {
    ...defaultEnrichSettings(),
    networks: ['10.0.0.0/8'],
    ranges: [join(dir, 'ranges.csv')],
    assets: [join(dir, 'assets.csv')],
    intel: [{ name: 'local', location: join(dir, 'feed.txt'), format: 'list', confidence: 70 }],
    reloadInterval: 50,
    ...extra,
  };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('every source applies to a batch; a changed file is swapped in whole; a broken one keeps the last good table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enrich-'));
  try {
    writeFileSync(join(dir, 'ranges.csv'), 'cidr,name,segment,tags\n10.2.3.0/24,payments-db,datastore,pci\n');
    writeFileSync(join(dir, 'assets.csv'), 'ip,name,vm_id,env\n10.9.9.9,build-01,i-0def,ci\n');
    writeFileSync(join(dir, 'feed.txt'), '# feed\n198.51.100.7\nevil.example\n');
    const logs: string[] = [];
    const e = new Enrichment(settings(dir), { cacheDir: join(dir, 'cache'), log: (l, m) => logs.push(`${l} ${m}`) });
    await e.load();
    e.start();
    try {
      const b = batchOf([
        ['10.9.9.9', '10.2.3.4'],
        ['10.9.9.9', '198.51.100.7'],
        ['192.0.2.1', '10.2.3.4'],
      ]);
      e.apply(b);
      assert.equal(b.getString(C.src_host, 0), 'build-01');
      assert.equal(b.getString(C.dst_range, 0), 'payments-db');
      assert.equal(b.getString(C.dst_segment, 0), 'datastore');
      assert.deepEqual(b.getList(C.dst_tags, 0), ['pci']);
      assert.equal(DIRECTIONS[b.getNum(C.direction, 0)], 'internal');
      assert.equal(DIRECTIONS[b.getNum(C.direction, 1)], 'egress');
      assert.equal(DIRECTIONS[b.getNum(C.direction, 2)], 'ingress');
      assert.deepEqual(b.getList(C.ti_feeds, 1), ['local']);
      assert.equal(b.getString(C.ti_indicator, 1), '198.51.100.7');
      assert.equal(b.getNum(C.ti_confidence, 1), 70);
      assert.equal(b.isNull(C.ti_feeds, 0), true);

      // A new version of the range file: seen at the next check and swapped in whole.
      writeFileSync(join(dir, 'ranges.csv'), 'cidr,name,segment,tags\n10.2.0.0/16,dc2,datacenter,site2\n');
      await until('ranges reload', () => e.reloads >= 1);
      const b2 = batchOf([['10.9.9.9', '10.2.3.4']]);
      e.apply(b2);
      assert.equal(b2.getString(C.dst_range, 0), 'dc2');
      assert.deepEqual(b2.getList(C.dst_tags, 0), ['site2']);

      // A broken file: the error names the file and the line, and the last good table stays.
      writeFileSync(
        join(dir, 'ranges.csv'),
        'cidr,name,segment,tags\n10.2.0.0/16,dc2,datacenter,site2\n10.300.0.0/16,bad,x,y\n',
      );
      await until('error status', () => e.status().some((s) => s.kind === 'ranges' && s.error !== undefined));
      const st = e.status().find((s) => s.kind === 'ranges');
      assert.match(st?.error ?? '', /ranges\.csv:3/);
      assert.ok(
        logs.some((l) => l.startsWith('error') && l.includes('ranges.csv:3')),
        logs.join('\n'),
      );
      const b3 = batchOf([['10.9.9.9', '10.2.3.4']]);
      e.apply(b3);
      assert.equal(b3.getString(C.dst_range, 0), 'dc2', 'the last good table is still in use');
    } finally {
      e.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flowwatch enrich check names every enrichment of an address and a flow, with file and line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enrich-'));
  try {
    writeFileSync(join(dir, 'ranges.csv'), 'cidr,name,segment,tags\n10.2.3.0/24,payments-db,datastore,pci\n');
    writeFileSync(join(dir, 'assets.csv'), 'ip,name,vm_id,env\n10.9.9.9,build-01,i-0def,ci\n');
    writeFileSync(join(dir, 'feed.txt'), '# feed\n198.51.100.7\n');
    const cfg = join(dir, 'flowwatch.yaml');
    writeFileSync(
      cfg,
      [
        `data_dir: ${join(dir, 'data')}`,
        'enrich:',
        '  geo: false',
        `  ranges: [${join(dir, 'ranges.csv')}]`,
        `  assets: [${join(dir, 'assets.csv')}]`,
        '  intel:',
        '    - name: local',
        `      file: ${join(dir, 'feed.txt')}`,
        '      format: list',
        '',
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, [
      CLI,
      'enrich',
      'check',
      '--config',
      cfg,
      '10.2.3.4',
      '198.51.100.7',
    ]);
    assert.match(
      stdout,
      /range\s+range=payments-db cidr=10\.2\.3\.0\/24 segment=datastore tags=pci\s+\S*ranges\.csv:2/,
    );
    assert.match(stdout, /intel\s+ti_feeds=local ti_indicator=198\.51\.100\.7 \S+\s+\S*feed\.txt:2/);
    const j = await run(process.execPath, [
      CLI,
      'enrich',
      'check',
      '--config',
      cfg,
      '--format',
      'json',
      '--flow',
      '10.9.9.9:51000 10.2.3.4:5432 tcp',
    ]);
    const out = JSON.parse(j.stdout) as { flow: { stored: Record<string, unknown> } };
    assert.deepEqual(out.flow.stored, {
      direction: 'internal',
      src_host: 'build-01',
      src_vm_id: 'i-0def',
      src_env: 'ci',
      dst_range: 'payments-db',
      dst_segment: 'datastore',
      dst_tags: ['pci'],
    });
    // A port that does not fit 16 bits is refused, not wrapped.
    const wide = await run(process.execPath, [
      CLI,
      'enrich',
      'check',
      '--config',
      cfg,
      '--flow',
      '10.9.9.9:70000 10.2.3.4:5432',
    ]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((wide as { code?: number }).code, 1);
    assert.match((wide as { stderr: string }).stderr, /port 70000 in 10\.9\.9\.9:70000 is not 0\.\.65535/);
    // A source that cannot be loaded is named, and the check answers from the others.
    writeFileSync(join(dir, 'assets.csv'), 'ip,name\nnot-an-ip,x\n');
    const bad = await run(process.execPath, [CLI, 'enrich', 'check', '--config', cfg, '10.2.3.4']).catch(
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    assert.equal((bad as { code?: number }).code, 1);
    assert.match(bad.stderr, /assets: .*assets\.csv:2/);
    assert.match(bad.stdout, /payments-db/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing range file is reported once, not reloaded at every check; a broken one leaves enrich.networks in force', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enrich-'));
  try {
    writeFileSync(join(dir, 'good.csv'), 'cidr,name\n10.2.3.0/24,payments-db\n');
    const logs: string[] = [];
    const e = new Enrichment(
      settings(dir, { ranges: [join(dir, 'missing.csv'), join(dir, 'good.csv')], assets: [], intel: [] }),
      { cacheDir: join(dir, 'cache'), log: (l, m) => logs.push(`${l} ${m}`) },
    );
    await e.load();
    e.start();
    try {
      // 20 checks at 50 ms: nothing changed after the first load, so nothing is loaded again
      await new Promise((r) => setTimeout(r, 1000));
      const errors = logs.filter((l) => l.startsWith('error') && l.includes('missing.csv'));
      assert.equal(errors.length, 1, logs.join('\n'));
      // the files are broken, the configured networks still give the direction
      const b = batchOf([['10.1.1.1', '192.0.2.1']]);
      e.apply(b);
      assert.equal(DIRECTIONS[b.getNum(C.direction, 0)], 'egress');
    } finally {
      await e.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
