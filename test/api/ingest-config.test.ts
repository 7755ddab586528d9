// ingest.* and agent.* settings: tokens are validated with the key that is wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, ConfigError, defaultConfig } from '../../src/config/config.js';

test('ingest.tokens: a list of name + token (16+ characters); errors name the item and key', () => {
  assert.deepEqual(defaultConfig().ingest, { tokens: [], maxBody: 16 * 1024 * 1024 });
  const cfg = buildConfig(
    { ingest: { tokens: [{ name: 'fluentbit', token: 'x'.repeat(16) }], max_body: '1MiB' } },
    'f.yaml',
  );
  assert.deepEqual(cfg.ingest, { tokens: [{ name: 'fluentbit', token: 'x'.repeat(16) }], maxBody: 1 << 20 });
  const err = (doc: Record<string, unknown>) => {
    try {
      buildConfig(doc, 'f.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.key;
    }
    assert.fail('expected a ConfigError');
  };
  assert.equal(err({ ingest: { tokens: [{ name: 'a', token: 'short' }] } }), 'ingest.tokens[0].token');
  assert.equal(
    err({ ingest: { tokens: [{ name: 'a', token: 'x'.repeat(20) }, { token: 'y'.repeat(20) }] } }),
    'ingest.tokens[1].name',
  );
  assert.equal(
    err({ ingest: { tokens: [{ name: 'a', token: 'x'.repeat(20), role: 'admin' }] } }),
    'ingest.tokens[0].role',
  );
});

test('agent.* defaults: metadata off, spool bounded, timeouts', () => {
  const a = defaultConfig().agent;
  assert.equal(a.cloudMetadata, '');
  assert.equal(a.spoolMax, 1 << 30);
  assert.deepEqual([a.activeTimeout, a.idleTimeout, a.shipInterval], [60_000, 15_000, 1000]);
});
