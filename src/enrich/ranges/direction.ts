// Direction relative to the organisation (the `direction` column: "direction relative to the
// organisation networks"): the own networks are a configured CIDR list plus every range tagged
// `internal`.
//
// Decision on directions a source already wrote: AWS VPC flow-direction and Azure's I/O flag are
// relative to the network interface that logged the flow (a VM-to-VM flow inside the company is
// "egress" on one ENI and "ingress" on the other), not to the organisation. They answer a different
// question, so when own networks are configured they are overwritten with the organisation's view;
// a row keeps its source's direction only when no own network is configured or an address is
// missing. (The ENI view is not lost: which interface logged it is in interface_id.)

import type { FlowBatch } from '../../pipeline/flow-batch.js';
import { columnIndex, DIRECTIONS } from '../../schema/columns.js';
import type { EnrichmentHit } from '../source-error.js';
import { type PrefixTable, PrefixTableBuilder } from './lpm.js';
import type { RangeTable } from './ranges.js';

export interface OwnNetworks {
  /** Entry value: where the network was declared (config key or range source). */
  table: PrefixTable<string>;
  errors: string[];
}

/** The organisation's networks: `cidrs` from the configuration (origin `config`), ranges tagged `tag`. */
export function buildOwnNetworks(
  cidrs: readonly string[],
  ranges?: RangeTable,
  opts: { tag?: string; origin?: string } = {},
): OwnNetworks {
  const tag = opts.tag ?? 'internal';
  const b = new PrefixTableBuilder<string>();
  const errors: string[] = [];
  for (const c of cidrs) {
    try {
      b.add(c, undefined, `${opts.origin ?? 'config'}: ${c.trim()}`);
    } catch (e) {
      errors.push(`${opts.origin ?? 'config'}: ${(e as Error).message}`);
    }
  }
  if (ranges) {
    // Which tag lists hold the tag, once per list rather than once per entry.
    const listHas = ranges.tagLists.map((l) => l.includes(tag));
    const attrs = ranges.entryAttrs;
    const words = new Uint32Array(4);
    for (let i = 0; i < ranges.size; i++) {
      if (!listHas[attrs[i * 3 + 2]]) continue;
      const len = ranges.index.prefixOf(i, words);
      b.add(words, len, ranges.entry(i).source);
    }
  }
  return { table: b.build(), errors };
}

const INGRESS = DIRECTIONS.indexOf('ingress');
const EGRESS = DIRECTIONS.indexOf('egress');
const INTERNAL = DIRECTIONS.indexOf('internal');
const EXTERNAL = DIRECTIONS.indexOf('external');

/** Set `direction`: internal (both own), egress (src own), ingress (dst own), external (neither). */
export function applyDirection(own: OwnNetworks, batch: FlowBatch): void {
  const t = own.table;
  if (t.entries.length === 0) return;
  const sa = columnIndex('src_addr');
  const da = columnIndex('dst_addr');
  const dc = columnIndex('direction');
  const src = batch.data[sa] as Uint32Array;
  const dst = batch.data[da] as Uint32Array;
  const sv = batch.valid[sa];
  const dv = batch.valid[da];
  const dir = batch.data[dc] as Uint8Array;
  const dirValid = batch.valid[dc];
  const n = batch.length;
  for (let r = 0; r < n; r++) {
    if (sv[r] === 0 || dv[r] === 0) continue;
    const s = t.lookupWords(src, r * 4) >= 0;
    const d = t.lookupWords(dst, r * 4) >= 0;
    dir[r] = s ? (d ? INTERNAL : EGRESS) : d ? INGRESS : EXTERNAL;
    dirValid[r] = 1;
  }
}

/** Whether the address is one of the organisation's, and which declaration says so. */
export function describeOwn(own: OwnNetworks, addr: string): EnrichmentHit[] {
  const i = own.table.lookupText(addr);
  if (i < 0) return [];
  return [{ kind: 'network', origin: own.table.entries[i], fields: { own: own.table.cidrOf(i) } }];
}
