// What a file holds, told by its content (and not its name), for `flowwatch import`.

import { looksLikeAwsVpcLog } from './cloud/aws-vpc.js';
import { looksLikeAzureFlowLog } from './cloud/azure.js';
import { looksLikeGcpFlowLog } from './cloud/gcp.js';
import { looksLikeOciFlowLog } from './cloud/oci.js';
import { looksLikeSuricataEve } from './suricata/eve.js';
import { looksLikeZeekLog } from './zeek/logs.js';

/**
 * `pcap`: a capture, whose NetFlow/IPFIX/sFlow datagrams are decoded — or, when it carries none,
 * whose packets are metered into flows; `meter`: a capture metered into flows whatever it carries.
 */
export type ImportFormat = 'pcap' | 'meter' | 'zeek' | 'suricata' | 'aws-vpc' | 'azure' | 'gcp' | 'oci';
export const IMPORT_FORMATS: readonly ImportFormat[] = [
  'pcap',
  'meter',
  'zeek',
  'suricata',
  'aws-vpc',
  'azure',
  'gcp',
  'oci',
];

const PCAP_MAGIC = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

export function detectFormat(buf: Uint8Array): ImportFormat | null {
  if (buf.length >= 4) {
    const m = ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0;
    if (PCAP_MAGIC.has(m)) return 'pcap';
  }
  const head = Buffer.from(buf.subarray(0, 4096)).toString('utf8');
  if (looksLikeZeekLog(head)) return 'zeek';
  if (looksLikeSuricataEve(head)) return 'suricata';
  if (looksLikeAzureFlowLog(head.replace(/^\uFEFF/, ''))) return 'azure';
  if (looksLikeGcpFlowLog(head)) return 'gcp';
  if (looksLikeOciFlowLog(head)) return 'oci';
  const firstLine = head.split('\n', 1)[0] ?? '';
  if (looksLikeAwsVpcLog(firstLine)) return 'aws-vpc';
  return null;
}
