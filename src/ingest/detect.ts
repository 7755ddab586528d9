// What a file holds, told by its content (and not its name), for `flowwatch import`.

import { gunzipSync } from 'node:zlib';
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

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/**
 * Most bytes one gzip object may inflate to: 1 GiB. Every log object is read whole into memory (and
 * the text parsers then hold it as a string, whose length V8 caps at about 2^29 characters), so a
 * larger one could not be read anyway; the limit makes a gzip bomb (a few MB inflating to many GB)
 * an error instead of a process out of memory.
 */
export const MAX_GUNZIP_BYTES = 1 << 30;

/** A gzip stream that cannot be read: corrupt, or inflating past the limit. */
export class GunzipError extends Error {}

/**
 * Inflate a gzip buffer. A stream cut short gives what it holds, with `truncated` saying so; a
 * corrupt stream, or one inflating past `maxOutput` bytes, throws a GunzipError.
 */
export function gunzip(
  buf: Uint8Array,
  maxOutput = MAX_GUNZIP_BYTES,
): { data: Uint8Array; truncated: string | undefined } {
  const tooLarge = (e: unknown) =>
    (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      ? new GunzipError(`gzip: inflates to more than ${maxOutput} bytes; not read`)
      : undefined;
  try {
    return { data: gunzipSync(buf, { maxOutputLength: maxOutput }), truncated: undefined };
  } catch (e) {
    const big = tooLarge(e);
    if (big) throw big;
    try {
      // Z_SYNC_FLUSH: keep what a truncated stream holds (a corrupt one still throws).
      const data = gunzipSync(buf, { finishFlush: 2, maxOutputLength: maxOutput });
      return { data, truncated: `gzip stream is truncated (${(e as Error).message}); reading what was written` };
    } catch (e2) {
      throw tooLarge(e2) ?? new GunzipError(`not a readable gzip stream: ${(e2 as Error).message}`);
    }
  }
}

/**
 * The file's bytes, decompressed when gzip (a truncated stream gives what could be read). Throws a
 * GunzipError when the stream is corrupt or inflates past `maxOutput` bytes.
 */
export function maybeGunzip(buf: Uint8Array, maxOutput = MAX_GUNZIP_BYTES): Uint8Array {
  return isGzip(buf) ? gunzip(buf, maxOutput).data : buf;
}

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
