// The `inputs` setting: log inputs `serve` reads with checkpoints. Each item:
//   { name, type: dir | s3 | azblob, format?, poll_interval? (ms), ...type's keys }
//   dir:    path, settle (ms, default 2000)
//   s3:     bucket, prefix, region, endpoint, force_path_style, access_key_id, secret_access_key, full_list_every
//   azblob: container, prefix, connection_string | (url, account_name, account_key)
// `name` is the checkpoint identity: renaming an input reads its objects again.

import type { ImportFormat } from '../detect.js';

/** The formats a log object can be read as (`inputs[].format`, `import --format` with a location). */
export const LOG_FORMATS = ['aws-vpc', 'aws-parquet', 'azure', 'gcp', 'oci', 'zeek', 'suricata'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** Every log format `flowwatch import` recognises is in LOG_FORMATS (a compile-time check). */
const everyImportLogFormat: Exclude<ImportFormat, 'pcap' | 'meter'> extends LogFormat ? true : never = true;
void everyImportLogFormat;

/** A LOG_FORMATS member, or undefined. */
export function asLogFormat(v: unknown): LogFormat | undefined {
  return (LOG_FORMATS as readonly unknown[]).includes(v) ? (v as LogFormat) : undefined;
}

export interface InputSetting {
  name: string;
  type: 'dir' | 's3' | 'azblob';
  format?: LogFormat;
  pollMs?: number;
  options: Record<string, string | number | boolean>;
}

const KEYS: Record<InputSetting['type'], Record<string, 'string' | 'number' | 'boolean'>> = {
  dir: { path: 'string', settle: 'number' },
  s3: {
    bucket: 'string',
    prefix: 'string',
    region: 'string',
    endpoint: 'string',
    force_path_style: 'boolean',
    access_key_id: 'string',
    secret_access_key: 'string',
    full_list_every: 'number',
  },
  azblob: {
    container: 'string',
    prefix: 'string',
    connection_string: 'string',
    url: 'string',
    account_name: 'string',
    account_key: 'string',
  },
};
const REQUIRED: Record<InputSetting['type'], string[]> = { dir: ['path'], s3: ['bucket'], azblob: ['container'] };

/** Validate one `inputs[i]` item; throws Error(`key: message`) naming the offending key. */
export function parseInputSetting(item: unknown, key: string): InputSetting {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new Error(`${key}: expected a mapping with name and type (dir, s3, azblob)`);
  const o = item as Record<string, unknown>;
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(o.name))
    throw new Error(`${key}.name: expected a name (letters, digits, _ . -)`);
  const type = o.type;
  if (type !== 'dir' && type !== 's3' && type !== 'azblob') throw new Error(`${key}.type: expected dir, s3 or azblob`);
  const out: InputSetting = { name: o.name, type, options: {} };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'name' || k === 'type') continue;
    if (k === 'format') {
      const format = asLogFormat(v);
      if (format === undefined) throw new Error(`${key}.format: expected one of ${LOG_FORMATS.join(', ')}`);
      out.format = format;
    } else if (k === 'poll_interval') {
      if (typeof v !== 'number' || !(v > 0)) throw new Error(`${key}.poll_interval: expected milliseconds > 0`);
      out.pollMs = v;
    } else {
      const want = KEYS[type][k];
      if (want === undefined)
        throw new Error(`${key}.${k}: unknown setting for a ${type} input (${Object.keys(KEYS[type]).join(', ')})`);
      if (typeof v !== want) throw new Error(`${key}.${k}: expected a ${want}`);
      out.options[k] = v as string | number | boolean;
    }
  }
  for (const k of REQUIRED[type]) if (out.options[k] === undefined) throw new Error(`${key}.${k}: required`);
  if (type === 'azblob' && !out.options.connection_string && !out.options.url)
    throw new Error(`${key}: connection_string or url is required`);
  return out;
}
