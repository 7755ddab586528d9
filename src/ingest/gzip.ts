// Gzip-compressed inputs (log objects, capture and log files): inflated whole, with one limit on
// what an object may inflate to and one way of telling a cut stream (read what it holds, say so)
// from a corrupt one (an error naming it).

import { gunzipSync } from 'node:zlib';

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

/**
 * `bytes` inflated when they are gzip (as they are otherwise), for a parser that reports problems
 * through `report`: a corrupt stream (or a bomb) is reported and null; a cut one is reported and
 * read, or with `partial: false` (the cloud log parsers, whose objects arrive whole) refused too.
 */
export function inflated(
  bytes: Uint8Array,
  report: (message: string) => void,
  opts: { partial?: boolean } = {},
): Uint8Array | null {
  if (!isGzip(bytes)) return bytes;
  try {
    const r = gunzip(bytes);
    if (r.truncated !== undefined) {
      report(r.truncated);
      if (opts.partial === false) return null;
    }
    return r.data;
  } catch (e) {
    report((e as Error).message);
    return null;
  }
}
