// Starting the log inputs `serve` reads with checkpoints (the setting itself: input-settings.ts,
// which the configuration reads without loading the parsers and cloud SDKs this module reaches).

import type { ExporterCounters } from '../../pipeline/counters.js';
import type { FlowBatch } from '../../pipeline/flow-batch.js';
import type { FlowStore } from '../../store/store.js';
import type { AzureBlobListerOptions } from './azure-blob.js';
import { DirectoryLister } from './directory.js';
import type { InputSetting } from './input-settings.js';
import type { S3ListerOptions } from './s3.js';
import { type LogObjectInfo, LogSource, type ObjectLister } from './source.js';

export function inputLister(s: InputSetting): ObjectLister {
  const o = s.options;
  const str = (k: string) => (o[k] === undefined ? undefined : String(o[k]));
  switch (s.type) {
    case 'dir':
      return new DirectoryLister({ dir: String(o.path), settleMs: o.settle as number | undefined });
    case 's3': {
      const opts: S3ListerOptions = {
        bucket: String(o.bucket),
        prefix: str('prefix'),
        region: str('region'),
        endpoint: str('endpoint'),
        forcePathStyle: o.force_path_style as boolean | undefined,
        credentials:
          o.access_key_id !== undefined
            ? { accessKeyId: String(o.access_key_id), secretAccessKey: String(o.secret_access_key ?? '') }
            : undefined,
        fullListEvery: o.full_list_every as number | undefined,
      };
      return new LazyLister(`s3://${opts.bucket}/${opts.prefix ?? ''}`, async () => {
        const { S3Lister } = await import('./s3.js');
        return new S3Lister(opts);
      });
    }
    case 'azblob': {
      const opts: AzureBlobListerOptions = {
        container: String(o.container),
        prefix: str('prefix'),
        connectionString: str('connection_string'),
        url: str('url'),
        accountName: str('account_name'),
        accountKey: str('account_key'),
      };
      return new LazyLister(`azblob://${opts.container}/${opts.prefix ?? ''}`, async () => {
        const { AzureBlobLister } = await import('./azure-blob.js');
        return new AzureBlobLister(opts);
      });
    }
  }
}

/**
 * A cloud lister whose SDK is loaded when it is first used. The AWS and Azure SDKs took ~0.25 s to
 * import, and this module is reached from the configuration: every command (`flowwatch query`
 * too) paid it at start, whether or not an input was configured.
 */
class LazyLister implements ObjectLister {
  private inner: Promise<ObjectLister> | null = null;

  constructor(
    readonly description: string,
    private readonly make: () => Promise<ObjectLister>,
  ) {}

  private get(): Promise<ObjectLister> {
    this.inner ??= this.make();
    return this.inner;
  }

  async list(): Promise<LogObjectInfo[]> {
    return (await this.get()).list();
  }

  async read(o: LogObjectInfo): Promise<Uint8Array> {
    return (await this.get()).read(o);
  }

  async close(): Promise<void> {
    if (this.inner !== null) await (await this.inner).close?.();
  }
}

/** A running source per setting (started), writing into `store`. */
export function startInputs(
  settings: readonly InputSetting[],
  deps: {
    store: FlowStore;
    counters: ExporterCounters;
    transform?: (b: FlowBatch) => void;
    batchSize?: number;
    onError: (input: string, message: string) => void;
  },
): LogSource[] {
  return settings.map((s) => {
    const src = new LogSource({
      name: s.name,
      lister: inputLister(s),
      store: deps.store,
      counters: deps.counters,
      format: s.format,
      pollMs: s.pollMs,
      transform: deps.transform,
      batchSize: deps.batchSize,
      onError: (m) => deps.onError(s.name, m),
    });
    src.start();
    return src;
  });
}

export { type InputSetting, parseInputSetting } from './input-settings.js';
