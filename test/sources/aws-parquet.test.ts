// AWS VPC Flow Logs in Parquet: every corpus text log (the AWS User Guide's record examples) is
// written as Parquet the way AWS delivers it — one column per field, '-' → '_' in the name, the
// Athena DDL's types (int/bigint/string), '-' as null, GZIP codec — by DuckDB from an independent
// String.split of the text, and the Parquet parser's rows must equal the text parser's rows in
// every column, with the same record, NODATA/SKIPDATA and error counts.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { looksLikeParquet, parseAwsVpcParquet } from '../../src/ingest/cloud/aws-parquet.js';
import { AWS_VPC_DEFAULT_FORMAT, parseAwsVpcLog } from '../../src/ingest/cloud/aws-vpc.js';
import { parseLogObject } from '../../src/ingest/sources/parse.js';
import { FlowBatch } from '../../src/pipeline/flow-batch.js';
import { CollectingSink } from '../../src/pipeline/sink.js';
import { api } from '../../src/store/duckdb/duckdb-api.js';
import { dataPath, needsData } from '../helpers/data.js';
import { batchRows } from './rows.js';

const skip = needsData();
const RECEIVED = 1_700_000_000_123;
const tmp = mkdtempSync(join(tmpdir(), 'fw-parquet-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Types from AWS's Athena DDL for Parquet flow logs ("Create tables for flow logs in Apache Parquet format").
const INT = new Set(['version', 'srcport', 'dstport', 'tcp_flags', 'traffic_path']);
const BIGINT = new Set(['protocol', 'packets', 'bytes', 'start', 'end']);

async function toParquet(text: string, out: string): Promise<void> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let fields = AWS_VPC_DEFAULT_FORMAT.split(' ');
  if (!/\d/.test(lines[0].split(/\s+/)[0])) fields = (lines.shift() as string).trim().split(/\s+/);
  const names = fields.map((f) => f.replaceAll('-', '_'));
  const inst = await api.DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  const type = (n: string) => (INT.has(n) ? 'INTEGER' : BIGINT.has(n) ? 'BIGINT' : 'VARCHAR');
  await c.run(`CREATE TABLE t (${names.map((n) => `"${n}" ${type(n)}`).join(', ')})`);
  for (const line of lines) {
    const v = line.trim().split(/\s+/);
    const params = v.map((x, i) => (x === '-' ? null : type(names[i]) === 'VARCHAR' ? x : BigInt(x)));
    await c.run(`INSERT INTO t VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`, params);
  }
  await c.run(`COPY t TO '${out}' (FORMAT parquet, COMPRESSION gzip)`);
  c.closeSync();
  inst.closeSync();
}

test('AWS Parquet rows equal the text parser rows for every corpus log', { skip }, async () => {
  const dir = dataPath('cloud', 'aws');
  let compared = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    const pq = join(tmp, `${f}.parquet`);
    await toParquet(text, pq);
    const bytes = readFileSync(pq);
    assert.ok(looksLikeParquet(bytes));
    const a = new CollectingSink(() => new FlowBatch(4));
    const b = new CollectingSink(() => new FlowBatch(4));
    const rt = parseAwsVpcLog(text, f, RECEIVED, a);
    const rp = await parseAwsVpcParquet(bytes, f, RECEIVED, b);
    assert.deepEqual(
      { records: rp.records, flows: rp.flows, nodata: rp.nodata, skipdata: rp.skipdata, malformed: rp.malformed },
      { records: rt.records, flows: rt.flows, nodata: rt.nodata, skipdata: rt.skipdata, malformed: rt.malformed },
      f,
    );
    assert.ok(rt.flows > 0, f);
    const rowsText = batchRows(a.batches);
    const rowsPq = batchRows(b.batches);
    assert.equal(rowsPq.length, rowsText.length, f);
    for (let i = 0; i < rowsText.length; i++) assert.deepEqual(rowsPq[i], rowsText[i], `${f} row ${i + 1}`);
    compared += rowsText.length;
    // parseLogObject tells Parquet by content, also under an outer gzip.
    const viaObject = await parseLogObject(f, bytes, RECEIVED, new CollectingSink(() => new FlowBatch(64)));
    assert.equal(viaObject.format, 'aws-parquet');
    assert.equal(viaObject.flows, rt.flows);
  }
  assert.ok(compared >= 10, `${compared} rows compared`);
});

test('AWS Parquet: a bad value is a malformed record with its row number; a broken file is one error', async () => {
  const pq = join(tmp, 'bad.parquet');
  await toParquet(
    [
      AWS_VPC_DEFAULT_FORMAT,
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 10 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 10.0.0.999 10.0.0.2 1 2 6 1 10 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 10 1418530010 1418530070 MAYBE OK',
    ].join('\n'),
    pq,
  );
  const sink = new CollectingSink(() => new FlowBatch(8));
  const r = await parseAwsVpcParquet(readFileSync(pq), 'bad.parquet', RECEIVED, sink);
  assert.equal(r.records, 3);
  assert.equal(r.flows, 1);
  assert.equal(r.malformed, 2);
  assert.deepEqual(
    r.errors.map((e) => e.line),
    [2, 3],
  );
  assert.match(r.errors[0].message, /srcaddr: "10\.0\.0\.999" is not an IPv4 or IPv6 address/);
  assert.equal(sink.rows, 1);
  const broken = Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 7)]);
  const rb = await parseAwsVpcParquet(broken, 'broken.parquet', RECEIVED, sink);
  assert.equal(rb.errors.length, 1);
  assert.equal(rb.errors[0].line, 0);
  assert.equal(rb.flows, 0);
});

test('flowwatch import reads a Parquet flow log by content and stores what the text log stores', { skip }, async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { CLI } = await import('../helpers/server.js');
  const run = promisify(execFile);
  const file = 'vpcflow-v5-custom-traffic-path-doc-examples.log';
  const text = readFileSync(dataPath('cloud', 'aws', file), 'utf8');
  const pq = join(tmp, 'import.parquet');
  await toParquet(text, pq);
  const rows = async (input: string) => {
    const data = join(tmp, `store-${input.endsWith('.parquet') ? 'pq' : 'text'}`);
    const imported = await run(process.execPath, [CLI, 'import', '--no-geo', '--data', data, input]);
    assert.match(imported.stdout, /imported 1 file/);
    const q = await run(process.execPath, [
      CLI,
      'query',
      '--data',
      data,
      '--since',
      '2000-01-01T00:00:00Z',
      '--fields',
      'time_start,src_addr,dst_addr,src_port,dst_port,proto,bytes,packets,action,traffic_path,region,exporter',
      '--format',
      'json',
    ]);
    return JSON.parse(q.stdout) as unknown[];
  };
  const fromText = await rows(dataPath('cloud', 'aws', file));
  assert.ok(fromText.length > 0);
  assert.deepEqual(await rows(pq), fromText);
});
