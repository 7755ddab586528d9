// softflowd (an independent metering process) exports real captures twice, deterministically: once
// to nfcapd, once to a running `flowwatch serve`. What nfdump stored and what `flowwatch query`
// returns must be the same flows: count, totals, and every 5-tuple with its counters, for NetFlow v9
// and for IPFIX. Times are left out: softflowd derives v9/IPFIX timestamps from its own uptime and
// the wall clock, which differ between the two runs.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { dataPath, needsData, needsTool, REPO_ROOT } from '../helpers/data.js';
import { HAVE_NFCAPD, HAVE_SOFTFLOWD, type NfdumpRecord, nfdumpFlags, nfdumpRecords, startNfcapd } from './nfdump.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const CAPTURES = ['pcap/normal/zeek-wikipedia.pcap', 'pcap/normal/zeek-smtp.pcap', 'pcap/normal/ndpi-ssh.pcap'];
const skip = needsData() || needsTool('nfcapd/nfdump', HAVE_NFCAPD) || needsTool('softflowd', HAVE_SOFTFLOWD);
const run = promisify(execFile);

/**
 * Meter `pcap` and export to 127.0.0.1:`port`. With -r softflowd reads the whole file, then
 * expires every flow it still tracks ("flushed") and exports them before it exits.
 */
async function softflowd(pcap: string, port: number, version: 9 | 10): Promise<void> {
  const { stdout } = await run('softflowd', ['-r', pcap, '-n', `127.0.0.1:${port}`, '-v', String(version), '-d'], {
    maxBuffer: 16 << 20,
  });
  assert.match(stdout, /flushed =\s+\d+/, `softflowd ${pcap}: ${stdout}`);
}

interface Totals {
  flows: number;
  bytes: number;
  packets: number;
  tuples: string[];
}

function totals(tuples: { key: string; bytes: number; packets: number }[]): Totals {
  return {
    flows: tuples.length,
    bytes: tuples.reduce((a, t) => a + t.bytes, 0),
    packets: tuples.reduce((a, t) => a + t.packets, 0),
    tuples: tuples.map((t) => `${t.key} ${t.bytes} ${t.packets}`).sort(),
  };
}

function fromNfdump(recs: NfdumpRecord[]): Totals {
  return totals(
    recs.map((x) => ({
      key: [
        x.src4_addr ?? x.src6_addr,
        x.dst4_addr ?? x.dst6_addr,
        // nfdump prints an ICMP flow's type and code instead of ports; the record holds them as the
        // destination port (type << 8 | code), which is what softflowd exports in L4_DST_PORT.
        x.icmp_type === undefined ? x.src_port : 0,
        x.icmp_type === undefined ? x.dst_port : (Number(x.icmp_type) << 8) | Number(x.icmp_code ?? 0),
        x.proto,
        nfdumpFlags(x.tcp_flags),
        x.src_tos,
      ].join(' '),
      bytes: Number(x.in_bytes),
      packets: Number(x.in_packets),
    })),
  );
}

type Row = Record<string, string | number | null>;
function fromFlowwatch(rows: Row[]): Totals {
  return totals(
    rows.map((r) => {
      const proto = Number(r.proto ?? 0);
      let dport = Number(r.dst_port ?? 0);
      // nfdump's record keeps ICMP type/code in the destination port (type << 8 | code).
      if ((proto === 1 || proto === 58) && r.icmp_type !== null && r.icmp_type !== undefined)
        dport = (Number(r.icmp_type) << 8) | Number(r.icmp_code ?? 0);
      return {
        key: [r.src_addr, r.dst_addr, r.src_port ?? 0, dport, proto, Number(r.tcp_flags ?? 0) & 0xff, r.tos ?? 0].join(
          ' ',
        ),
        bytes: Number(r.bytes),
        packets: Number(r.packets),
      };
    }),
  );
}

interface Serve {
  child: ChildProcess;
  http: string;
  udpPort: number;
  exited: Promise<number | null>;
}

async function startServe(dir: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--no-geo', '--data', dir, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let log = '';
  return await new Promise<Serve>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`flowwatch serve did not start: ${log}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
      for (const line of log.split('\n')) {
        if (!line.includes('flowwatch serving')) continue;
        const j = JSON.parse(line) as { http: string; udp_ports: number[] };
        clearTimeout(t);
        resolve({ child, http: j.http, udpPort: j.udp_ports[0], exited });
      }
    });
  });
}

async function flowsStored(http: string): Promise<number> {
  return ((await (await fetch(`${http}/health`)).json()) as { flows_stored: number }).flows_stored;
}

for (const version of [9, 10] as const) {
  describe(`softflowd -v ${version}: nfcapd and flowwatch serve store the same flows`, { skip }, () => {
    let nf: Totals;
    let fw: Totals;
    let serve: Serve | undefined;

    before(async () => {
      const nfcapd = await startNfcapd();
      try {
        for (const cap of CAPTURES) await softflowd(dataPath(cap), nfcapd.port, version);
        await sleep(200);
      } finally {
        await nfcapd.stop();
      }
      nf = fromNfdump(nfdumpRecords(nfcapd.dir));
      assert.ok(nf.flows > 50, `nfdump stored ${nf.flows} flows`);

      const dir = mkdtempSync(join(tmpdir(), 'fw-softflowd-'));
      serve = await startServe(dir);
      for (const cap of CAPTURES) await softflowd(dataPath(cap), serve.udpPort, version);
      let stored = 0;
      for (let i = 0; i < 100; i++) {
        stored = await flowsStored(serve.http);
        if (stored >= nf.flows) break;
        await sleep(100);
      }
      await sleep(300); // anything beyond nfdump's count would show up now
      const { stdout } = await run(
        process.execPath,
        [
          CLI,
          'query',
          '--data',
          dir,
          '--since',
          '1970-01-01T00:00:00Z',
          '--fields',
          'src_addr,dst_addr,src_port,dst_port,proto,icmp_type,icmp_code,bytes,packets,tcp_flags,tos',
          '--limit',
          '1000000',
          '--format',
          'json',
        ],
        { maxBuffer: 64 << 20 },
      );
      fw = fromFlowwatch(JSON.parse(stdout) as Row[]);
    });
    after(async () => {
      if (serve !== undefined && serve.child.exitCode === null) {
        serve.child.kill('SIGTERM');
        assert.equal(await serve.exited, 0);
      }
    });

    test('the same number of flows, bytes and packets', () => {
      assert.deepEqual(
        { flows: fw.flows, bytes: fw.bytes, packets: fw.packets },
        { flows: nf.flows, bytes: nf.bytes, packets: nf.packets },
      );
    });

    test('every 5-tuple with its flags, ToS, bytes and packets', () => {
      assert.deepEqual(fw.tuples, nf.tuples);
    });
  });
}
