// Log blobs under a container prefix, e.g. Azure NSG flow logs' layout
// `insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/…/y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=…/PT1H.json`.
//
// Azure appends to PT1H.json during its hour: each minute it commits a new block list — the
// `{"records":[` header block, one block per record (with a leading comma after the first) and the
// `]}` footer block — so every version of the blob is a whole JSON document that begins with the
// previous version's records. The ETag changes with each commit; source.ts re-reads the blob and
// skips the rows of it already stored (see its header). Reading only the blocks added since (the
// block list and ranged reads) would cut the re-read; not done yet.

import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { LogObjectInfo, ObjectLister } from './source.js';

export interface AzureBlobListerOptions {
  container: string;
  prefix?: string;
  /** A connection string, or `url` (https://<account>.blob.core.windows.net) with account name and key. */
  connectionString?: string;
  url?: string;
  accountName?: string;
  accountKey?: string;
}

export class AzureBlobLister implements ObjectLister {
  readonly description: string;
  private readonly container: ContainerClient;

  constructor(private readonly opts: AzureBlobListerOptions) {
    this.description = `azblob://${opts.container}/${opts.prefix ?? ''}`;
    let service: BlobServiceClient;
    if (opts.connectionString) service = BlobServiceClient.fromConnectionString(opts.connectionString);
    else if (opts.url && opts.accountName && opts.accountKey)
      service = new BlobServiceClient(opts.url, new StorageSharedKeyCredential(opts.accountName, opts.accountKey));
    else if (opts.url) service = new BlobServiceClient(opts.url);
    else throw new Error(`${this.description}: connectionString or url is required`);
    this.container = service.getContainerClient(opts.container);
  }

  async list(): Promise<LogObjectInfo[]> {
    const out: LogObjectInfo[] = [];
    for await (const b of this.container.listBlobsFlat({ prefix: this.opts.prefix })) {
      const size = b.properties.contentLength ?? 0;
      out.push({ key: b.name, size, version: b.properties.etag ?? `${size}` });
    }
    return out;
  }

  async read(o: LogObjectInfo): Promise<Uint8Array> {
    return this.container.getBlobClient(o.key).downloadToBuffer();
  }
}
