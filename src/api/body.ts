// Request bodies of the HTTP API (query routes and ingest), read with a size limit.
//
// A body over the limit is answered 413 as soon as that is known: at once when Content-Length
// says so (nothing of the body is read), else as soon as the bytes received pass the limit
// (chunked bodies included). Such an answer carries `Connection: close` and the request (its
// socket) is destroyed once the answer is sent, so the rest of the body is never read: Node would
// otherwise read and discard it to keep the connection alive, for as long as the client sends.

import type http from 'node:http';
import { gunzip } from 'node:zlib';

/** readBody has refused the request and answered it itself; the caller has nothing left to send. */
export class BodyRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ReadBodyOptions {
  /**
   * Accept `Content-Encoding: gzip` (or x-gzip), the limit applying to the decompressed bytes
   * too (decompression stops there); any other encoding but identity is answered 415 unread.
   * Without this the header is ignored.
   */
  gzip?: boolean;
  /** Names the limit in the 413 message, e.g. "ingest.max_body". */
  limitName?: string;
}

/**
 * The body of `req` as UTF-8 text, at most `max` bytes. On a refusal (413 too large, 415 other
 * encoding, 400 bad gzip) `res` is answered with {"error": "…"} and BodyRefused is thrown.
 */
export async function readBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  max: number,
  opts: ReadBodyOptions = {},
): Promise<string> {
  const tooLarge = `body larger than ${max} bytes${opts.limitName ? ` (${opts.limitName})` : ''}`;
  let gzipped = false;
  if (opts.gzip) {
    const enc = String(req.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    gzipped = enc === 'gzip' || enc === 'x-gzip';
    if (!gzipped && enc !== 'identity' && enc !== '')
      throw refuse(req, res, 415, `Content-Encoding ${enc}: only gzip is accepted`);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw refuse(req, res, 413, tooLarge);

  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n <= max) {
        chunks.push(c);
        return;
      }
      done();
      chunks.length = 0;
      reject(refuse(req, res, 413, tooLarge));
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    // The client went away before the end of the body (no 'end' will come).
    const onClose = (): void => {
      done();
      reject(new Error('request closed before the end of its body'));
    };
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
  if (!gzipped) return raw.toString('utf8');
  const out = await new Promise<Buffer>((resolve, reject) =>
    gunzip(raw, { maxOutputLength: max }, (err, buf) => {
      if (!err) return resolve(buf);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        reject(refuse(req, res, 413, `${tooLarge} once decompressed`));
      else reject(refuse(req, res, 400, `gzip body: ${err.message}`));
    }),
  );
  return out.toString('utf8');
}

/**
 * Answer `status` {"error": message}. While the body is not read to its end the answer says
 * `Connection: close` and the request is destroyed once the answer is sent: also for a request
 * refused before its body is read (401, 405), whose body would otherwise be read and discarded.
 */
export function refuse(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  message: string,
): BodyRefused {
  const close = !req.complete;
  if (close) {
    req.pause(); // read no further; what the socket already holds is dropped with it
    res.once('finish', () => req.destroy());
    res.once('close', () => req.destroy());
  }
  if (!res.headersSent) {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (close) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ error: message }));
  } else if (close) req.destroy();
  return new BodyRefused(status, message);
}
