// Log objects under an S3 prefix, e.g. AWS VPC Flow Logs' layout
// `<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/<account>_vpcflowlogs_<region>_<id>_<time>_<hash>.log.gz`.
//
// ListObjectsV2 returns keys in UTF-8 binary order, not in the order they were written: AWS
// delivers each ENI's or flow log's object when its window closes, so a key sorting before the
// last one read can appear later. The checkpoint set (source.ts) is what decides; listing with
// StartAfter the greatest key already seen is only an optimisation for the polls in between, and
// every `fullListEvery`-th poll lists the whole prefix again to catch late keys.

import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { LogObjectInfo, ObjectLister } from './source.js';

export interface S3ListerOptions {
  bucket: string;
  prefix?: string;
  region?: string;
  /** For S3-compatible stores and tests: http://127.0.0.1:9000 */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Otherwise the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Full listing every this many polls (default 10); StartAfter the greatest key in between. */
  fullListEvery?: number;
}

export class S3Lister implements ObjectLister {
  readonly description: string;
  private readonly client: S3Client;
  private polls = 0;
  private greatest: string | undefined;

  constructor(private readonly opts: S3ListerOptions) {
    this.description = `s3://${opts.bucket}/${opts.prefix ?? ''}`;
    this.client = new S3Client({
      region: opts.region ?? 'us-east-1',
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
    });
  }

  async list(): Promise<LogObjectInfo[]> {
    const full = this.polls++ % (this.opts.fullListEvery ?? 10) === 0;
    const out: LogObjectInfo[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.opts.bucket,
          Prefix: this.opts.prefix,
          ContinuationToken: token,
          StartAfter: token === undefined && !full ? this.greatest : undefined,
        }),
      );
      for (const o of r.Contents ?? []) {
        if (o.Key === undefined || o.Key.endsWith('/')) continue;
        out.push({ key: o.Key, size: o.Size ?? 0, version: o.ETag ?? `${o.Size}:${o.LastModified?.getTime()}` });
        if (this.greatest === undefined || o.Key > this.greatest) this.greatest = o.Key;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async read(o: LogObjectInfo): Promise<Uint8Array> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: o.key }));
    if (!r.Body) throw new Error(`s3://${this.opts.bucket}/${o.key}: empty response body`);
    return r.Body.transformToByteArray();
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
