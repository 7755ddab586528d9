// tshark as the independent reference decoder of flow export captures.
import { execFileSync } from 'node:child_process';

export const HAVE_TSHARK = (() => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export type TsharkFlow = Record<string, string>;

/**
 * Every flow record tshark decodes from `pcap` (NetFlow/IPFIX on `ports`), as the flat map of
 * cflow.* fields of its "Flow N" node, in capture order.
 */
export function tsharkFlows(pcap: string, ports: number[]): TsharkFlow[] {
  const args = ['-r', pcap, '-T', 'json', ...ports.flatMap((p) => ['-d', `udp.port==${p},cflow`])];
  const out = execFileSync('tshark', args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const packets = JSON.parse(out) as { _source: { layers: Record<string, unknown> } }[];
  const flows: TsharkFlow[] = [];
  const visit = (node: unknown, inFlowset: boolean) => {
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      // v9/IPFIX records are "Flow N" inside a "FlowSet" (v9) or "Set" (IPFIX); v5 records are "pdu i/n" nodes.
      if ((inFlowset && /^Flow \d+$/.test(k)) || /^pdu \d+\/\d+$/.test(k)) flows.push(flatten(v));
      else if (k.startsWith('FlowSet') || k.startsWith('Set ')) visit(v, true);
      else if (typeof v === 'object') visit(v, inFlowset);
    }
  };
  for (const p of packets) {
    const cflow = p._source.layers.cflow;
    for (const c of Array.isArray(cflow) ? cflow : [cflow]) visit(c, false);
  }
  return flows;
}

function flatten(node: unknown, out: TsharkFlow = {}): TsharkFlow {
  if (!node || typeof node !== 'object') return out;
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] ??= v;
    else if (Array.isArray(v)) out[k] ??= v.map(String).join(',');
    else flatten(v, out);
  }
  return out;
}
