// One list of log formats for the `inputs` setting and `flowwatch import --format` with a
// location: every format parseLogObject reads, Suricata eve.json included.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SourceUsageError, sourceImportCommand } from '../../src/cli/import-sources.js';
import { IMPORT_FORMATS } from '../../src/ingest/detect.js';
import { parseInputSetting } from '../../src/ingest/sources/inputs.js';
import { LOG_FORMATS } from '../../src/ingest/sources/parse.js';

test('inputs: format suricata (and every log format) is accepted; others are refused with the list', () => {
  const s = parseInputSetting({ name: 'eve', type: 'dir', path: '/var/log/suricata', format: 'suricata' }, 'inputs[0]');
  assert.equal(s.format, 'suricata');
  for (const f of LOG_FORMATS)
    assert.equal(parseInputSetting({ name: 'x', type: 'dir', path: '/x', format: f }, 'inputs[0]').format, f);
  for (const f of IMPORT_FORMATS) if (f !== 'pcap' && f !== 'meter') assert.ok(LOG_FORMATS.includes(f), f);
  assert.throws(
    () => parseInputSetting({ name: 'x', type: 'dir', path: '/x', format: 'pcap' }, 'inputs[0]'),
    /^Error: inputs\[0\]\.format: expected one of .*\bsuricata\b/,
  );
});

test('import --format suricata with a location passes the format check', async () => {
  const missing = join(tmpdir(), 'fw-no-such-dir-for-formats-test');
  await assert.rejects(
    sourceImportCommand({ watch: true, format: 'suricata' }, [missing]),
    (e) => e instanceof SourceUsageError && /is not a directory/.test(e.message),
  );
  await assert.rejects(
    sourceImportCommand({ watch: true, format: 'pcap' }, [missing]),
    (e) => e instanceof SourceUsageError && /--format: for logs one of .*\bsuricata\b/.test(e.message),
  );
});
