// The filter language and `flowwatch query` on enriched fields, end to end: the AWS corpus logs
// imported with ranges, assets and a threat-intel feed configured; every answer is compared with
// what an independent reading of the log lines (split on spaces, CIDRs checked with BigInt) says.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { dataPath, needsData } from '../helpers/data.js';
import { CLI } from '../helpers/server.js';

const run = promisify(execFile);

async function flowwatch(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

function v4(text: string): bigint | null {
  const p = text.split('.');
  if (p.length !== 4) return null;
  return p.reduce((a, x) => (a << 8n) | BigInt(Number(x)), 0n);
}
function inCidr(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const a = v4(addr);
  const n = v4(net);
  if (a === null || n === null) return false;
  const shift = 32n - BigInt(len);
  return a >> shift === n >> shift;
}

interface Flow {
  src: string;
  dst: string;
  bytes: number;
}

/** Flow records of the corpus logs, read independently (header line or the default v2 order). */
function corpusFlows(): Flow[] {
  const out: Flow[] = [];
  const dir = dataPath('cloud', 'aws');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const lines = readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    let names =
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'.split(
        ' ',
      );
    if (lines[0].startsWith('version') || !/^\d/.test(lines[0])) names = (lines.shift() as string).trim().split(/\s+/);
    for (const l of lines) {
      const v = l.trim().split(/\s+/);
      const get = (n: string) => v[names.indexOf(n)];
      if (names.includes('log-status') && get('log-status') !== 'OK') continue;
      // A record without a start time is stored, but no time range (--since) selects it.
      if (!names.includes('start') || get('start') === '-') continue;
      out.push({ src: get('srcaddr'), dst: get('dstaddr'), bytes: get('bytes') === '-' ? 0 : Number(get('bytes')) });
    }
  }
  return out;
}

test('filters and top-N on ranges, tags, assets, direction and threat intel', { skip: needsData() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-enriched-'));
  try {
    const ranges = [
      ['10.0.0.0/24', 'vpc-a-web', 'web', 'internal;pci'],
      ['172.31.16.0/24', 'legacy-apps', 'apps', 'internal'],
      ['172.31.0.0/16', 'legacy-vpc', 'datacenter', 'internal'],
      ['52.213.180.0/24', 'partner-net', 'partner', 'external-partner'],
    ];
    writeFileSync(join(dir, 'ranges.csv'), `cidr,name,segment,tags\n${ranges.map((r) => r.join(',')).join('\n')}\n`);
    writeFileSync(join(dir, 'assets.csv'), 'ip,name,vm_id,env,tags\n172.31.16.139,build-01,i-0b1,ci,runner\n');
    writeFileSync(join(dir, 'feed.txt'), '# test feed\n203.0.113.12\n');
    const cfg = join(dir, 'flowwatch.yaml');
    writeFileSync(
      cfg,
      [
        `data_dir: ${join(dir, 'data')}`,
        'enrich:',
        '  geo: false',
        '  networks: []',
        `  ranges: [${join(dir, 'ranges.csv')}]`,
        `  assets: [${join(dir, 'assets.csv')}]`,
        '  intel:',
        `    - {name: testfeed, file: ${join(dir, 'feed.txt')}, format: list}`,
        '',
      ].join('\n'),
    );
    const aws = readdirSync(dataPath('cloud', 'aws')).map((f) => dataPath('cloud', 'aws', f));
    await flowwatch('import', '--config', cfg, ...aws);
    const flows = corpusFlows();
    const since = ['--since', '2000-01-01T00:00:00Z'];
    const count = async (filter: string) =>
      (
        JSON.parse(
          await flowwatch(
            'query',
            '--data',
            join(dir, 'data'),
            ...since,
            filter,
            '--limit',
            '10000',
            '--format',
            'json',
          ),
        ) as unknown[]
      ).length;
    // The most specific range of an address, as the table says (longest prefix wins).
    const rangeOf = (a: string) =>
      ranges.filter((r) => inCidr(a, r[0])).sort((x, y) => Number(y[0].split('/')[1]) - Number(x[0].split('/')[1]))[0];
    const own = (a: string) => rangeOf(a)?.[3].split(';').includes('internal') ?? false;

    assert.equal(await count('dst tag pci'), flows.filter((f) => rangeOf(f.dst)?.[3].includes('pci')).length);
    assert.equal(await count('src segment partner'), flows.filter((f) => rangeOf(f.src)?.[2] === 'partner').length);
    assert.equal(await count('src host "build-01"'), flows.filter((f) => f.src === '172.31.16.139').length);
    assert.equal(
      await count('any tag runner'),
      flows.filter((f) => f.src === '172.31.16.139' || f.dst === '172.31.16.139').length,
    );
    assert.equal(await count('direction ingress'), flows.filter((f) => !own(f.src) && own(f.dst)).length);
    assert.equal(await count('direction internal'), flows.filter((f) => own(f.src) && own(f.dst)).length);
    assert.equal(await count('ti'), flows.filter((f) => f.src === '203.0.113.12' || f.dst === '203.0.113.12').length);
    assert.ok((await count('ti testfeed')) > 0);

    // Grouped by an enriched field: bytes per destination range, as the log lines add up.
    const top = JSON.parse(
      await flowwatch(
        'query',
        '--data',
        join(dir, 'data'),
        ...since,
        '--top',
        '10',
        '--by',
        'dst_range',
        '--order',
        'bytes',
        '--format',
        'json',
      ),
    ) as { dst_range: string | null; bytes: number }[];
    const want = new Map<string | null, number>();
    for (const f of flows) {
      const k = rangeOf(f.dst)?.[1] ?? null;
      want.set(k, (want.get(k) ?? 0) + f.bytes);
    }
    assert.deepEqual(new Map(top.map((r) => [r.dst_range, r.bytes])), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
