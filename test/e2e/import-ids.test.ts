// `flowwatch import` of a capture with no flow export in it (metered into flows) and of the eve.json
// Suricata writes for the same capture: every IDS alert must find the metered flow of its
// connection (no Community ID is stored for metered flows, so the 5-tuple does it), and the
// capture's metered conversations must equal what tshark counts per conversation.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { dataPath, needsData, needsTool } from '../helpers/data.js';
import { CLI } from '../helpers/server.js';
import { HAVE_SURICATA, runSuricata } from '../helpers/suricata.js';
import { HAVE_TSHARK } from '../helpers/tshark.js';
import { TEST_RULES } from '../suricata/captures.js';

const run = promisify(execFile);

async function flowwatch(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

test('a capture is metered on import, and each Suricata alert on it finds its metered flow', {
  skip: needsData() || needsTool('suricata', HAVE_SURICATA) || needsTool('tshark', HAVE_TSHARK),
}, async () => {
  const pcap = dataPath('pcap', 'normal', 'zeek-wikipedia.pcap');
  const eve = await runSuricata(pcap, { rules: TEST_RULES });
  const dir = mkdtempSync(join(tmpdir(), 'fw-import-ids-'));
  try {
    const summary = await flowwatch('import', '--no-geo', '--data', dir, pcap, eve);
    assert.match(summary, /no NetFlow\/IPFIX\/sFlow datagrams: its packets were metered into flows/);
    assert.match(summary, /\d+ IDS alerts/);

    // Metered TCP conversations against tshark's conversation table (frames and bytes are
    // link-level there; compare the counts of conversations and of packets, which are the same).
    const { stdout } = await run('tshark', ['-r', pcap, '-q', '-z', 'conv,tcp']);
    const tsharkPackets = new Map<string, number>();
    for (const line of stdout.split('\n')) {
      const m = /^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+\S+\s+\S*\s*(\d+)\s/.exec(line.trim());
      if (!m) continue;
      const key = [`${m[1]}:${m[2]}`, `${m[3]}:${m[4]}`].sort().join(' ');
      tsharkPackets.set(key, Number(m[5]) + Number(m[6]));
    }
    assert.ok(tsharkPackets.size >= 10, `tshark conversations parsed: ${tsharkPackets.size}`);
    const flows = JSON.parse(
      await flowwatch(
        'query',
        '--data',
        dir,
        '--since',
        '2011-01-01T00:00:00Z',
        'source_type pcap and proto tcp',
        '--fields',
        'src_addr,src_port,dst_addr,dst_port,packets,rev_packets',
        '--limit',
        '1000',
        '--format',
        'json',
      ),
    ) as {
      src_addr: string;
      src_port: number;
      dst_addr: string;
      dst_port: number;
      packets: number;
      rev_packets: number;
    }[];
    const ours = new Map<string, number>();
    for (const f of flows) {
      const key = [`${f.src_addr}:${f.src_port}`, `${f.dst_addr}:${f.dst_port}`].sort().join(' ');
      ours.set(key, (ours.get(key) ?? 0) + f.packets + (f.rev_packets ?? 0));
    }
    assert.deepEqual(ours, tsharkPackets);

    // Every alert joins the metered flow of its 5-tuple (and Suricata's own flow event).
    const alerts = JSON.parse(
      await flowwatch('ids-alerts', '--data', dir, '--since', '2011-01-01T00:00:00Z', '--format', 'json'),
    ) as { community_id: string; src_addr: string; src_port: number }[];
    assert.ok(alerts.length > 0, 'Suricata raised alerts on the capture');
    const joined = JSON.parse(
      await flowwatch(
        'ids-alerts',
        '--data',
        dir,
        '--since',
        '2011-01-01T00:00:00Z',
        '--with-flows',
        '--limit',
        '1000',
        '--format',
        'json',
      ),
    ) as { community_id: string; src_port: number; flow_exporter: string }[];
    for (const a of alerts) {
      const exporters = joined.filter((j) => j.community_id === a.community_id).map((j) => j.flow_exporter);
      assert.ok(exporters.includes('pcap:zeek-wikipedia.pcap'), `alert on ${a.src_addr}:${a.src_port} → ${exporters}`);
      assert.ok(
        exporters.some((e) => e.startsWith('suricata:')),
        `alert on ${a.src_addr}:${a.src_port} → ${exporters}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
