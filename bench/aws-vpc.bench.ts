// AWS VPC Flow Logs text parsing on one core: a generated 1 M-line custom-format (v5 fields) log
import { Buffer } from 'node:buffer';
// held in memory as bytes, parsed into a reused FlowBatch. Target: ≥ 1 M records/s.
// The log mixes 64 interfaces in 4 subnets (records of one interface come in runs, as AWS writes
// them per ENI), ~1 % IPv6, ~5 % REJECT and ~0.5 % NODATA records.
import { parseAwsVpcLog } from '../src/ingest/cloud/aws-vpc.js';
import { FlowBatch } from '../src/pipeline/flow-batch.js';
import type { BatchSink } from '../src/pipeline/sink.js';
import { type BenchResult, measure } from './harness.js';

const HEADER =
  'version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport ' +
  'pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags flow-direction traffic-path log-status';

class ReusingSink implements BatchSink {
  readonly b = new FlowBatch(8192);
  batch(): FlowBatch {
    if (this.b.full) this.b.reset();
    return this.b;
  }
}

function generate(lines: number): string {
  // A small LCG: the same log on every run.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const out: string[] = [HEADER];
  let t = 1_700_000_000;
  for (let i = 0; i < lines; i++) {
    const eni = (i >> 6) & 63; // runs of 64 records per interface
    const iface = `eni-0${eni.toString(16).padStart(16, '0')}`;
    const subnet = `subnet-0${(eni & 3).toString(16).padStart(16, 'a')}`;
    const inst = `i-0${eni.toString(16).padStart(16, 'b')}`;
    const start = t + rnd(60);
    if (i % 64 === 0) t += 1;
    if (rnd(200) === 0) {
      out.push(
        `5 vpc-0abcdefab01234567 ${subnet} ${inst} ${iface} 123456789012 - - - - - - - - - - ${start} ${start + 60} - - - - NODATA`,
      );
      continue;
    }
    const v6 = rnd(100) === 0;
    const local = v6 ? `2001:db8:1234:a100::${(eni + 1).toString(16)}` : `10.0.${eni & 3}.${eni + 10}`;
    const peer = v6
      ? `2001:db8:ffff:${rnd(65536).toString(16)}::${rnd(65536).toString(16)}`
      : `${52 + rnd(150)}.${rnd(256)}.${rnd(256)}.${1 + rnd(254)}`;
    const ingress = rnd(2) === 0;
    const [src, dst] = ingress ? [peer, local] : [local, peer];
    const sport = ingress ? 1024 + rnd(64000) : 443;
    const dport = ingress ? 443 : 1024 + rnd(64000);
    const proto = rnd(10) === 0 ? 17 : 6;
    const packets = 1 + rnd(2000);
    const bytes = packets * (40 + rnd(1460));
    const action = rnd(20) === 0 ? 'REJECT' : 'ACCEPT';
    const flags = proto === 6 ? [2, 18, 3, 19, 1, 27][rnd(6)] : 0;
    const path = ingress ? '-' : String(1 + rnd(8));
    out.push(
      `5 vpc-0abcdefab01234567 ${subnet} ${inst} ${iface} 123456789012 ${v6 ? 'IPv6' : 'IPv4'} ${src} ${dst} ` +
        `${sport} ${dport} ${src} ${dst} ${proto} ${bytes} ${packets} ${start} ${start + 60} ${action} ${flags} ` +
        `${ingress ? 'ingress' : 'egress'} ${path} OK`,
    );
  }
  out.push('');
  return out.join('\n');
}

export async function run(): Promise<BenchResult[]> {
  const LINES = 1_000_000;
  const text = generate(LINES);
  // Files and objects arrive as bytes: parse those, as import and the inputs do.
  const bytes = Buffer.from(text, 'latin1');
  const sink = new ReusingSink();
  let records = 0;
  let flows = 0;
  const secs = measure(
    () => {
      const r = parseAwsVpcLog(bytes, 'bench.log', 1_700_000_100_000, sink);
      if (r.malformed !== 0) throw new Error(`bench log: ${r.errors[0]?.message}`);
      records = r.records;
      flows = r.flows;
      sink.b.reset();
    },
    3000,
    3,
  );
  return [
    {
      name: 'parse AWS VPC Flow Logs text (1 core)',
      value: records / secs,
      unit: 'records/s',
      detail: `${records} records (${flows} flows), ${(text.length / 1e6).toFixed(0)} MB custom v5 format, ${(secs * 1000).toFixed(0)} ms`,
    },
  ];
}
