// Feed parsers against fixtures written from each format's documentation (cited per test). The
// expected indicators are read off the fixture by hand, not copied from the parser's output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyIndicator,
  normaliseCidr,
  parseCsvFeed,
  parseFreetext,
  parseMispEvent,
  parseMispManifest,
  parsePlainList,
  parseSpamhausDrop,
  parseStixBundle,
  stixPatternValues,
} from '../../src/enrich/intel/feeds.js';
import { EnrichSourceError } from '../../src/enrich/source-error.js';

const o = (file: string) => ({ feed: 'f', file });
const values = (r: { indicators: { type: string; value: string }[] }) =>
  r.indicators.map((i) => `${i.type}:${i.value}`);

test('plain list: comments, trailing comments, CRLF, descriptions, bad lines with file:line', () => {
  const text = [
    '# blocklist generated 2024-05-01',
    '; another comment style',
    '',
    '198.51.100.7',
    '203.0.113.0/24 # scanner net',
    '192.0.2.1 ; C2',
    '2001:db8:dead::/48\r',
    'Evil.Example.COM.',
    'http://evil.example.net/gate.php#frag',
    '192.0.2.256',
    '10.0.0.0/33',
    '10.1.2.3/24',
    '192.0.2.9    brute force ssh',
    '010.1.1.1',
  ].join('\n');
  const r = parsePlainList(text, o('list.txt'));
  assert.deepEqual(values(r), [
    'ip:198.51.100.7',
    'cidr:203.0.113.0/24',
    'ip:192.0.2.1',
    'cidr:2001:db8:dead::/48',
    'domain:evil.example.com',
    'url:http://evil.example.net/gate.php#frag',
    'cidr:10.1.2.0/24',
    'ip:192.0.2.9',
  ]);
  assert.deepEqual(
    r.warnings.map((w) => w.source),
    ['list.txt:10', 'list.txt:11', 'list.txt:14'],
  );
  assert.match(r.warnings[1].reason, /invalid CIDR/);
  assert.equal(r.indicators[0].source, 'list.txt:4');
  assert.equal(r.indicators[0].confidence, 50);
});

test('CIDR and address edge cases', () => {
  assert.equal(normaliseCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(normaliseCidr('255.255.255.255/32'), '255.255.255.255/32');
  assert.equal(normaliseCidr('::ffff:10.0.0.0/104'), '10.0.0.0/8');
  assert.equal(normaliseCidr('2001:DB8::1/64'), '2001:db8::/64');
  assert.equal(normaliseCidr('::/0'), '::/0');
  for (const bad of ['10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '/8', '2001:db8::/129', '1.2.3/24', '1.2.3.4/ 8']) {
    assert.equal(normaliseCidr(bad), null, bad);
  }
  assert.deepEqual(classifyIndicator('::FFFF:192.0.2.1'), { type: 'ip', value: '192.0.2.1' });
  assert.equal(classifyIndicator('fe80::1%eth0'), null);
  assert.equal(classifyIndicator('localhost'), null);
  assert.equal(classifyIndicator('a..b'), null);
  assert.equal(classifyIndicator(`${'a'.repeat(64)}.com`), null);
  assert.deepEqual(classifyIndicator('*.evil.test'), { type: 'domain', value: 'evil.test' });
});

test('hostile lines: a huge line is skipped with its line number, warnings are capped but counted', () => {
  const huge = `${'9'.repeat(1_000_000)}\n198.51.100.1\n${'x/y\n'.repeat(500)}`;
  const r = parsePlainList(huge, o('h.txt'));
  assert.deepEqual(values(r), ['ip:198.51.100.1']);
  assert.equal(r.warnings[0].source, 'h.txt:1');
  assert.match(r.warnings[0].reason, /1000000 characters/);
  assert.equal(r.warningCount, 501);
  assert.equal(r.warnings.length, 100);
});

test('CSV with a named indicator column and confidence column (quoted fields)', () => {
  // abuse.ch Feodo Tracker ipblocklist.csv style: comment header, then a header row
  const text = [
    '################################################################',
    '# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)           #',
    '################################################################',
    'first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware,score',
    '"2021-01-17 07:44:46","51.178.161.32","4643","online","2024-05-01","Dridex","85"',
    '"2021-03-12 10:00:01","103.109.247.10","443","offline","2024-04-30","Emotet",""',
    '"2021-03-12 10:00:01","not-an-ip!","443","offline","2024-04-30","Emotet","20"',
    '"2021-03-12 10:00:01","192.0.2.5","443","offline","2024-04-30","Emotet","high"',
    '"2021-03-12 10:00:01,"unterminated',
  ].join('\n');
  const r = parseCsvFeed(text, { ...o('feodo.csv'), column: 'dst_ip', confidenceColumn: 'score' });
  assert.deepEqual(values(r), ['ip:51.178.161.32', 'ip:103.109.247.10']);
  assert.deepEqual(
    r.indicators.map((i) => i.confidence),
    [85, 50],
  );
  assert.deepEqual(
    r.warnings.map((w) => w.source),
    ['feodo.csv:7', 'feodo.csv:8', 'feodo.csv:9'],
  );
  assert.throws(
    () => parseCsvFeed(text, { ...o('feodo.csv'), column: 'ip_address' }),
    (e: unknown) => e instanceof EnrichSourceError && e.line === 4 && /no column "ip_address"/.test(e.reason),
  );
});

test('CSV by column number without a header (MISP "CSV Parsed Feed" settings: value column, delimiter)', () => {
  const text = '# ts;indicator\n2024-05-01;198.51.100.9\n2024-05-01;evil.test\n2024-05-02\n';
  const r = parseCsvFeed(text, { ...o('m.csv'), column: 2, delimiter: ';' });
  assert.deepEqual(values(r), ['ip:198.51.100.9', 'domain:evil.test']);
  assert.deepEqual(r.warnings[0], { source: 'm.csv:4', reason: '1 fields, indicator column is 2' });
});

test('Spamhaus DROP text format (spamhaus.org/drop: `; ` header, `CIDR ; SBLnnn` lines)', () => {
  const text = [
    '; Spamhaus DROP List 2024/05/01 - (c) 2024 The Spamhaus Project SLU',
    '; https://www.spamhaus.org/drop/drop.txt',
    '; Last-Modified: Wed, 01 May 2024 10:00:00 GMT',
    '; Expires: Thu, 02 May 2024 11:30:00 GMT',
    '1.10.16.0/20 ; SBL256894',
    '1.19.0.0/16 ; SBL434604',
    '2.56.192.0/22 ; SBL459831',
  ].join('\n');
  const r = parseSpamhausDrop(text, o('drop.txt'));
  assert.deepEqual(values(r), ['cidr:1.10.16.0/20', 'cidr:1.19.0.0/16', 'cidr:2.56.192.0/22']);
  assert.equal(r.indicators[0].confidence, 90);
  assert.equal(r.indicators[2].source, 'drop.txt:7');
  assert.equal(r.warningCount, 0);
});

test('Spamhaus DROP JSON lines (drop_v4.json / drop_v6.json with a final metadata line)', () => {
  const lines = [
    '{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}',
    '{"cidr":"1.19.0.0/16","sblid":"SBL434604","rir":"apnic"}',
    '{"cidr":"2a06:5280::/29","sblid":"SBL557773","rir":"ripencc"}',
    '{"type":"metadata","timestamp":1714557600,"size":180,"records":3,"copyright":"(c) 2024 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}',
  ];
  const r = parseSpamhausDrop(lines.join('\n'), o('drop_v4.json'));
  assert.deepEqual(values(r), ['cidr:1.10.16.0/20', 'cidr:1.19.0.0/16', 'cidr:2a06:5280::/29']);
  assert.equal(r.indicators[0].source, 'drop_v4.json:1 (SBL256894)');
  assert.equal(r.warningCount, 0);
  // truncated download: no metadata, and a line cut half-way
  const cut = parseSpamhausDrop(`${lines[0]}\n{"cidr":"1.19.0.0/1`, o('drop_v4.json'));
  assert.deepEqual(values(cut), ['cidr:1.10.16.0/20']);
  assert.equal(cut.warnings[0].source, 'drop_v4.json:2');
  assert.match(cut.warnings[1].reason, /no metadata line/);
  const wrongCount = parseSpamhausDrop(`${lines[0]}\n${lines[3]}`, o('drop_v4.json'));
  assert.match(wrongCount.warnings[0].reason, /metadata says 3 records, file has 1/);
});

// STIX 2.1 (OASIS, docs.oasis-open.org/cti/stix/v2.1): §4.7 Indicator (pattern, pattern_type,
// valid_from, valid_until, confidence from §3.2 common properties, revoked), §9 patterning grammar.
const NOW = Date.parse('2024-05-01T00:00:00Z');
function stixIndicator(id: string, pattern: string, extra: Record<string, unknown> = {}) {
  return {
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${id}`,
    created: '2024-01-01T00:00:00.000Z',
    modified: '2024-01-01T00:00:00.000Z',
    indicator_types: ['malicious-activity'],
    pattern,
    pattern_type: 'stix',
    valid_from: '2024-01-01T00:00:00Z',
    ...extra,
  };
}

test('STIX 2.1 bundle: =, OR, ISSUBSET, confidence, expiry, revocation, unsupported patterns', () => {
  const bundle = {
    type: 'bundle',
    id: 'bundle--5d0092c5-5f74-4287-9642-33f4c354e56d',
    objects: [
      { type: 'identity', spec_version: '2.1', id: 'identity--1', name: 'ACME CERT', identity_class: 'organization' },
      stixIndicator('a1', "[ipv4-addr:value = '198.51.100.1']", { confidence: 85 }),
      stixIndicator('a2', "[ipv4-addr:value = '203.0.113.5' OR ipv6-addr:value = '2001:db8::5']"),
      stixIndicator('a3', "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"),
      stixIndicator('a4', "[domain-name:value = 'evil.example'] OR [url:value = 'http://bad.example/x?a=\\'1\\'']"),
      stixIndicator('a5', "[ipv4-addr:value = '192.0.2.1']", { valid_until: '2024-04-01T00:00:00Z' }),
      stixIndicator('a6', "[ipv4-addr:value = '192.0.2.2']", { revoked: true }),
      stixIndicator(
        'a7',
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
      ),
      stixIndicator('a8', "[ipv4-addr:value = '192.0.2.3' AND network-traffic:dst_port = 443]"),
      stixIndicator('a9', 'alert tcp any any -> any any', { pattern_type: 'snort' }),
      stixIndicator('b1', "[ipv4-addr:value = '192.0.2.4']", { valid_from: '2025-01-01T00:00:00Z' }),
      stixIndicator('b2', "[ipv4-addr:value = '192.0.2.777']"),
    ],
  };
  const r = parseStixBundle(JSON.stringify(bundle, null, 2), { ...o('bundle.json'), now: NOW });
  assert.deepEqual(values(r), [
    'ip:198.51.100.1',
    'ip:203.0.113.5',
    'ip:2001:db8::5',
    'cidr:198.51.100.0/24',
    'domain:evil.example',
    "url:http://bad.example/x?a='1'",
  ]);
  assert.equal(r.indicators[0].confidence, 85);
  assert.equal(r.indicators[1].confidence, 50);
  assert.equal(r.indicators[0].source, 'bundle.json:indicator--a1');
  const why = Object.fromEntries(r.warnings.map((w) => [w.source.split('--')[1], w.reason]));
  assert.match(why.a5, /expired/);
  assert.equal(why.a6, 'revoked');
  assert.match(why.a7, /unsupported pattern/);
  assert.match(why.a8, /unsupported pattern/);
  assert.match(why.a9, /pattern_type "snort"/);
  assert.match(why.b1, /not yet valid/);
  assert.match(why.b2, /not an IP/);
  assert.equal(r.warningCount, 7);
  assert.deepEqual(stixPatternValues("[ipv4-addr:value = '1.2.3.4'"), ['1.2.3.4']);
  assert.equal(typeof stixPatternValues("[ipv4-addr:value = '1.2.3.4]"), 'string');
});

test('malformed JSON reports the line and column of the error', () => {
  const text = '{\n  "type": "bundle",\n  "objects": [\n    {"type": "indicator",, }\n  ]\n}';
  assert.throws(
    () => parseStixBundle(text, o('broken.json')),
    (e: unknown) =>
      e instanceof EnrichSourceError && e.source === 'broken.json' && e.line === 4 && /column 26/.test(e.reason),
  );
  assert.throws(() => parseStixBundle('{"type":"report"}', o('r.json')), EnrichSourceError);
  assert.throws(() => parseMispEvent('[]', o('e.json')), /no "Event" object/);
});

// MISP feed format (MISP core format, draft-dulaunoy-misp-core-format §2; circl.lu/doc/misp/feed-osint
// layout: manifest.json keyed by event uuid, one <uuid>.json per event).
test('MISP manifest and event: attribute types, to_ids, composites, objects, deleted', () => {
  const manifest = {
    '5c0f1fa6-3e4c-4a1b-9a8f-8c0a3f8e3b01': {
      info: 'OSINT - Campaign X',
      Orgc: { name: 'CIRCL', uuid: '55f6ea5e-2c60-40e5-964f-47a8950d210f' },
      Tag: [{ name: 'tlp:white', colour: '#ffffff' }],
      date: '2024-04-30',
      analysis: 2,
      threat_level_id: 1,
      timestamp: '1714470000',
    },
    '../../etc/passwd': { info: 'hostile key' },
  };
  assert.deepEqual(parseMispManifest(JSON.stringify(manifest), 'manifest.json'), [
    '5c0f1fa6-3e4c-4a1b-9a8f-8c0a3f8e3b01',
  ]);
  const attr = (uuid: string, type: string, value: string, to_ids: boolean | string, extra = {}) => ({
    id: '1',
    type,
    category: 'Network activity',
    to_ids,
    uuid: `5c0f1fa7-0000-4000-8000-0000000000${uuid}`,
    event_id: '1',
    distribution: '5',
    timestamp: '1714470000',
    comment: '',
    value,
    ...extra,
  });
  const event = {
    Event: {
      uuid: '5c0f1fa6-3e4c-4a1b-9a8f-8c0a3f8e3b01',
      info: 'OSINT - Campaign X',
      threat_level_id: '2',
      date: '2024-04-30',
      Attribute: [
        attr('01', 'ip-dst', '198.51.100.20', true),
        attr('02', 'ip-src|port', '203.0.113.7|8080', true),
        attr('03', 'domain', 'c2.evil.example', true),
        attr('04', 'hostname', 'mail.evil.example', '1'),
        attr('05', 'url', 'https://evil.example/payload.bin', true),
        attr('06', 'domain|ip', 'drop.evil.example|192.0.2.50', true),
        attr('07', 'ip-dst', '192.0.2.99', false),
        attr('08', 'md5', 'd41d8cd98f00b204e9800998ecf8427e', true),
        attr('09', 'ip-dst', '192.0.2.98', true, { deleted: true }),
        attr('10', 'ip-dst', 'nonsense', true),
      ],
      Object: [
        {
          name: 'ip-port',
          uuid: '5c0f1fa8-0000-4000-8000-000000000001',
          Attribute: [attr('11', 'ip-dst', '2001:db8::66', true)],
        },
      ],
    },
  };
  const r = parseMispEvent(JSON.stringify(event), o('5c0f1fa6.json'));
  assert.deepEqual(values(r), [
    'ip:198.51.100.20',
    'ip:203.0.113.7',
    'domain:c2.evil.example',
    'domain:mail.evil.example',
    'url:https://evil.example/payload.bin',
    'domain:drop.evil.example',
    'ip:192.0.2.50',
    'ip:2001:db8::66',
  ]);
  assert.equal(r.indicators[0].confidence, 70, 'threat level 2 (medium)');
  assert.equal(r.warningCount, 1);
  assert.match(r.warnings[0].source, /000000000010$/);
  const all = parseMispEvent(JSON.stringify(event), { ...o('e.json'), idsOnly: false });
  assert.ok(values(all).includes('ip:192.0.2.99'));
});

test('MISP freetext feed: indicators in prose, refanged, file names not taken for domains', () => {
  const text = [
    'Analysis of campaign (see report.pdf, e.g. page 3):',
    'The dropper at hxxp://evil[.]example/a.exe contacted 198.51.100[.]44 and c2.bad-domain[.]test.',
    'Also seen: 2001:db8::7, 203.0.113.0/25; victims used update.exe.',
  ].join('\n');
  const r = parseFreetext(text, o('report.txt'));
  assert.deepEqual(values(r), [
    'url:http://evil.example/a.exe',
    'ip:198.51.100.44',
    'domain:c2.bad-domain.test',
    'ip:2001:db8::7',
    'cidr:203.0.113.0/25',
  ]);
  assert.equal(r.indicators[1].source, 'report.txt:2');
});
