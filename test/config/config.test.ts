import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ConfigError,
  configPath,
  configReference,
  defaultConfig,
  emptyConfig,
  loadConfig,
  SETTINGS,
  splitHostPort,
} from '../../src/config/config.js';
import { parseDuration, parseSize, parseTime } from '../../src/util/units.js';
import { REPO_ROOT } from '../helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'fw-config-'));
function write(text: string): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, text);
  return f;
}

test('defaults: the embedded set-up the README promises', () => {
  const c = defaultConfig();
  assert.equal(c.dataDir, './data');
  assert.deepEqual(c.listen.netflow, ['0.0.0.0:2055']);
  assert.deepEqual(c.listen.ipfix, ['0.0.0.0:4739']);
  assert.equal(c.listen.receiveBuffer, 4 * 1024 * 1024);
  assert.equal(c.store.flushInterval, 1000);
  assert.equal(c.store.retention.raw, 30 * 86_400_000);
});

test('a file overrides only what it names', () => {
  const c = loadConfig(
    write('data_dir: /var/lib/flowwatch\nlisten:\n  netflow: 127.0.0.1:9995\nstore:\n  retention:\n    raw: 7d\n'),
  );
  assert.equal(c.dataDir, '/var/lib/flowwatch');
  assert.deepEqual(c.listen.netflow, ['127.0.0.1:9995']);
  assert.deepEqual(c.listen.ipfix, ['0.0.0.0:4739']);
  assert.equal(c.store.retention.raw, 7 * 86_400_000);
});

test('errors name the file and the key', () => {
  const bad: [string, RegExp][] = [
    ['store:\n  threads: two\n', /store\.threads: expected a positive whole number \(got "two"\)/],
    ['store:\n  thread: 2\n', /store\.thread: unknown setting; did you mean store\.threads\?/],
    ['listen:\n  netflow: [ "127.0.0.1" ]\n', /listen\.netflow: bad host:port 127\.0\.0\.1/],
    ['store:\n  retention:\n    raw: forever\n', /store\.retention\.raw: expected a duration/],
    ['log:\n  level: loud\n', /log\.level: expected one of/],
    ['data_dir: [unclosed\n', /not valid YAML \(line \d+\)/],
    ['- a\n- b\n', /top level must be a mapping/],
  ];
  for (const [text, re] of bad) {
    const f = write(text);
    assert.throws(
      () => loadConfig(f),
      (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.message.startsWith(f),
      text,
    );
  }
  assert.throws(() => loadConfig(join(dir, 'missing.yaml')), /cannot read/);
});

test('the README reference lists every setting with its default', () => {
  const ref = configReference();
  for (const s of SETTINGS) assert.match(ref, new RegExp(`\`${s.key.replace(/\./g, '\\.')}\``));
});

test('units: durations, sizes, times, host:port', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('7'), null);
  assert.equal(parseSize('4MiB'), 4 * 1024 * 1024);
  assert.equal(parseSize('1GB'), 1e9);
  assert.equal(parseSize('lots'), null);
  const now = Date.parse('2024-03-01T12:00:00Z');
  assert.equal(parseTime('1h', now), now - 3_600_000);
  assert.equal(parseTime('2024-03-01', now), Date.parse('2024-03-01T00:00:00Z'));
  assert.equal(parseTime('2024-03-01T10:00:00', now), Date.parse('2024-03-01T10:00:00Z'));
  assert.equal(parseTime('2024-03-01T10:00:00+02:00', now), Date.parse('2024-03-01T08:00:00Z'));
  assert.equal(parseTime('yesterday', now), null);
  assert.deepEqual(splitHostPort('[::1]:2055'), { host: '::1', port: 2055 });
  assert.deepEqual(splitHostPort(':2055'), { host: '0.0.0.0', port: 2055 });
  assert.equal(splitHostPort('1.2.3.4:70000'), null);
});

test('the README documents every default exactly as the code has it', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(configReference()), 'README settings table is stale: run node scripts/readme-config.mjs');
});

test('every setting lands on a field of the Config (the YAML key in camelCase)', () => {
  const empty = emptyConfig() as unknown as Record<string, unknown>;
  for (const s of SETTINGS) {
    let node: unknown = empty;
    for (const p of configPath(s.key)) {
      assert.ok(
        node !== null && typeof node === 'object' && p in (node as object),
        `${s.key} → ${configPath(s.key).join('.')}`,
      );
      node = (node as Record<string, unknown>)[p];
    }
  }
  const c = defaultConfig();
  assert.equal(c.store.retention.rollup1m, 400 * 86_400_000);
  assert.equal(c.listen.tcpIdleTimeout, 300_000);
  assert.equal(c.enrich.communityIdSeed, 0);
});
