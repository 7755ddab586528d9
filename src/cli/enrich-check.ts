// `flowwatch enrich check`: what the enrichment stage knows about an address, a domain or a flow,
// and where each piece came from (file and line, feed, package). The tables are loaded from the
// same configuration `serve` uses, so the answer is what serve would store.

import { Enrichment } from '../enrich/manager.js';
import type { EnrichSettings } from '../enrich/settings.js';
import type { EnrichmentHit } from '../enrich/source-error.js';
import { FlowBatch, parseAddr } from '../pipeline/flow-batch.js';
import { C, PROTOCOL_NAMES } from '../schema/columns.js';
import { renderRows } from './output.js';

export interface CheckOptions {
  settings: EnrichSettings;
  cacheDir: string;
  /** Addresses or domains to describe one by one. */
  items: string[];
  /** A flow "SRC[:PORT] DST[:PORT] [PROTO]" to run through the whole stage. */
  flow?: string;
  timeMs?: number;
  json: boolean;
}

export interface CheckResult {
  text: string;
  /** Sources that failed to load (the check still answers from the others). */
  errors: string[];
}

export async function enrichCheck(o: CheckOptions): Promise<CheckResult> {
  const e = new Enrichment(o.settings, { cacheDir: o.cacheDir });
  await e.load();
  e.close();
  const errors = e
    .status()
    .filter((s) => s.error)
    .map((s) => `${s.kind}: ${s.error}`);
  const out: string[] = [];
  const json: Record<string, unknown> = {};
  for (const item of o.items) {
    const hits = e.describe(item, o.timeMs);
    if (o.json) json[item] = hits;
    else out.push(describeText(item, hits));
  }
  if (o.flow !== undefined) {
    const { batch, sides } = flowBatch(o.flow, o.timeMs ?? Date.now());
    const before = batch.valid.map((v) => v[0]);
    e.apply(batch);
    const stored: Record<string, unknown> = {};
    for (let c = 0; c < batch.columns.length; c++) {
      const col = batch.columns[c];
      if (batch.isNull(c, 0) || before[c] === 1) continue; // only what enrichment filled
      stored[col.name] =
        col.type === 'list'
          ? batch.getList(c, 0)
          : col.type === 'string'
            ? batch.getString(c, 0)
            : col.type === 'enum'
              ? col.enumValues?.[batch.getNum(c, 0)]
              : batch.getNum(c, 0);
    }
    if (o.json)
      json.flow = { flow: o.flow, stored, src: e.describe(sides[0], o.timeMs), dst: e.describe(sides[1], o.timeMs) };
    else {
      out.push(`flow ${o.flow}: stored with it`);
      const rows = Object.entries(stored).map(([field, v]) => ({
        field,
        value: Array.isArray(v) ? v.join(',') : String(v),
      }));
      out.push(rows.length ? renderRows(rows, ['field', 'value'], 'table') : '  (nothing)');
      out.push(describeText(`source ${sides[0]}`, e.describe(sides[0], o.timeMs)));
      out.push(describeText(`destination ${sides[1]}`, e.describe(sides[1], o.timeMs)));
    }
  }
  return { text: o.json ? `${JSON.stringify(json, null, 2)}\n` : `${out.join('\n')}\n`, errors };
}

function describeText(title: string, hits: EnrichmentHit[]): string {
  if (hits.length === 0) return `${title}: no enrichment applies`;
  const rows = hits.map((h) => ({
    kind: h.kind,
    origin: h.origin,
    fields: Object.entries(h.fields)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
      .join(' '),
  }));
  return `${title}:\n${renderRows(rows, ['kind', 'fields', 'origin'], 'table')}`;
}

/** "10.0.0.1:5555 192.0.2.7:443 tcp" (ports and protocol optional; [v6]:port for IPv6) → one row. */
function flowBatch(text: string, timeMs: number): { batch: FlowBatch; sides: [string, string] } {
  const parts = text
    .trim()
    .split(/\s+|\s*->\s*/)
    .filter((p) => p !== '' && p !== '->');
  if (parts.length < 2 || parts.length > 3)
    throw new Error(`--flow: expected "SRC[:PORT] DST[:PORT] [PROTO]", got ${JSON.stringify(text)}`);
  const b = new FlowBatch(1);
  const r = b.addRow();
  const sides: string[] = [];
  for (const [i, p] of parts.slice(0, 2).entries()) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(p) ?? /^([^:]+)(?::(\d+))?$/.exec(p) ?? [p, p, undefined];
    const w = parseAddr(m[1] as string);
    if (w === null) throw new Error(`--flow: ${p} is not an address`);
    const col = i === 0 ? C.src_addr : C.dst_addr;
    (b.data[col] as Uint32Array).set(w, r * 4);
    b.valid[col][r] = 1;
    if (m[2] !== undefined) {
      const port = Number(m[2]);
      if (port > 65535) throw new Error(`--flow: port ${m[2]} in ${p} is not 0..65535`);
      b.setNum(i === 0 ? C.src_port : C.dst_port, r, port);
    }
    sides.push(m[1] as string);
  }
  if (parts[2] !== undefined) {
    const proto = PROTOCOL_NAMES[parts[2].toLowerCase()] ?? Number(parts[2]);
    if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new Error(`--flow: unknown protocol ${parts[2]}`);
    b.setNum(C.proto, r, proto);
  }
  b.setNum(C.time_start, r, timeMs);
  b.setNum(C.time_end, r, timeMs);
  return { batch: b, sides: [sides[0], sides[1]] };
}
