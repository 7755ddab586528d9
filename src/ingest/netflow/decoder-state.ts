// The decoder state that survives a restart: per exporter and domain the templates (as the field
// specifiers received on the wire), sampler tables, interface and application names and the
// system init time. Without it a restarted collector drops (or holds) every data set until each
// exporter's next template refresh — up to 30 minutes on some Cisco defaults.
//
// A state file is input like any other: it may be truncated, edited or hostile. Everything here
// is validated with the same bounds the wire decoder enforces, and bounded in size, before a
// single template is compiled from it.

import type { ApplicationInfo, InterfaceInfo } from './decoder.js';
import type { TemplateKind } from './template.js';

export const DECODER_STATE_VERSION = 1;

/** Bounds on what a state file (or an exporter) may make the decoder hold. */
export const MAX_DOMAINS = 10_000;
/** Per exporter and protocol: source ids (v9), observation domains (IPFIX), engines (v5). */
export const MAX_DOMAINS_PER_EXPORTER = 1024;
export const MAX_TEMPLATES_PER_DOMAIN = 4096;
export const MAX_TEMPLATES_TOTAL = 100_000;
/** A 65535-byte IPFIX message holds at most 16 382 4-byte field specifiers. */
export const MAX_FIELDS = 16_382;
export const MAX_SAMPLERS = 4096;
export const MAX_INTERFACES = 16_384;
export const MAX_APPLICATIONS = 16_384;
/** Longest interface / application name or description kept, in characters. */
export const MAX_TEXT = 255;
const MAX_EXPORTER_NAME = 256;

export interface TemplateDump {
  id: number;
  kind: TemplateKind;
  /** Scope fields first (options templates), as on the wire. */
  scopeCount: number;
  /** [information element id, length, enterprise number (0 for IANA)] per field. */
  fields: [number, number, number][];
  lastSeenMs: number;
}

export interface DomainDump {
  exporter: string;
  protocol: 'netflow5' | 'netflow9' | 'ipfix';
  observationDomain: number;
  templates: TemplateDump[];
  /** Sampler / selector id → 1-in-N rate. */
  samplers: Record<string, number>;
  samplingRate?: number;
  systemInitMs?: number;
  interfaces?: Record<string, InterfaceInfo>;
  /** applicationId "engine:selector" → names. */
  applications?: Record<string, ApplicationInfo>;
}

export interface DecoderState {
  version: typeof DECODER_STATE_VERSION;
  savedAtMs: number;
  domains: DomainDump[];
}

export interface ImportResult {
  domains: number;
  templates: number;
  /** What was refused, one line each (bounded), for the log. */
  errors: string[];
}

const PROTOCOLS = new Set(['netflow5', 'netflow9', 'ipfix']);

/**
 * Top-level shape check of parsed JSON: a state of this version with a domains array of bounded
 * length. Entries are checked one by one on import (a bad entry is skipped, not fatal).
 */
export function checkDecoderState(x: unknown): { state: DecoderState } | { error: string } {
  if (!isObject(x)) return { error: 'not a JSON object' };
  if (x.version !== DECODER_STATE_VERSION) return { error: `unsupported state version ${String(x.version)}` };
  if (!Array.isArray(x.domains)) return { error: "'domains' is not an array" };
  if (x.domains.length > MAX_DOMAINS) return { error: `${x.domains.length} domains (limit ${MAX_DOMAINS})` };
  if (typeof x.savedAtMs !== 'number' || !Number.isFinite(x.savedAtMs)) return { error: "'savedAtMs' is not a number" };
  return { state: x as unknown as DecoderState };
}

/** A validated domain entry, or the reason it is refused. */
export function parseDomainDump(x: unknown): DomainDump | string {
  if (!isObject(x)) return 'domain entry is not an object';
  const { exporter, protocol, observationDomain } = x;
  if (typeof exporter !== 'string' || exporter.length === 0 || exporter.length > MAX_EXPORTER_NAME)
    return 'exporter is not a name';
  const where = `exporter ${exporter}`;
  if (typeof protocol !== 'string' || !PROTOCOLS.has(protocol)) return `${where}: unknown protocol`;
  if (!isU32(observationDomain)) return `${where}: observation domain is not a 32-bit unsigned integer`;
  const ctx = `${where} ${protocol} domain ${observationDomain}`;
  const out: DomainDump = {
    exporter,
    protocol: protocol as DomainDump['protocol'],
    observationDomain,
    templates: [],
    samplers: {},
  };
  const ipfix = protocol === 'ipfix';
  if (x.templates !== undefined) {
    if (!Array.isArray(x.templates) || x.templates.length > MAX_TEMPLATES_PER_DOMAIN)
      return `${ctx}: templates is not an array of at most ${MAX_TEMPLATES_PER_DOMAIN}`;
    if (protocol === 'netflow5' && x.templates.length > 0) return `${ctx}: NetFlow v5 has no templates`;
    for (const t of x.templates) {
      const r = parseTemplateDump(t, ipfix);
      if (typeof r === 'string') return `${ctx}: ${r}`;
      out.templates.push(r);
    }
  }
  const samplers = x.samplers ?? {};
  if (!isObject(samplers)) return `${ctx}: samplers is not an object`;
  const sk = Object.keys(samplers);
  if (sk.length > MAX_SAMPLERS) return `${ctx}: more than ${MAX_SAMPLERS} samplers`;
  for (const k of sk) {
    const rate = samplers[k];
    if (!isIndexKey(k) || !isRate(rate)) return `${ctx}: sampler ${k.slice(0, 20)} is not an id with a rate`;
    out.samplers[k] = rate;
  }
  if (x.samplingRate !== undefined) {
    if (!isRate(x.samplingRate)) return `${ctx}: samplingRate is not a rate`;
    out.samplingRate = x.samplingRate;
  }
  if (x.systemInitMs !== undefined) {
    if (!isSafeUint(x.systemInitMs)) return `${ctx}: systemInitMs is not a time`;
    out.systemInitMs = x.systemInitMs;
  }
  if (x.interfaces !== undefined) {
    const m = parseNames(x.interfaces, MAX_INTERFACES, isIndexKey, false);
    if (typeof m === 'string') return `${ctx}: interfaces: ${m}`;
    out.interfaces = m as Record<string, InterfaceInfo>;
  }
  if (x.applications !== undefined) {
    const m = parseNames(x.applications, MAX_APPLICATIONS, isAppKey, true);
    if (typeof m === 'string') return `${ctx}: applications: ${m}`;
    out.applications = m as Record<string, ApplicationInfo>;
  }
  return out;
}

/** Same rules the wire decoder applies to a template record (RFC 3954 §5.2/§6.1, RFC 7011 §3.4). */
function parseTemplateDump(x: unknown, ipfix: boolean): TemplateDump | string {
  if (!isObject(x)) return 'template is not an object';
  const { id, kind, scopeCount, fields, lastSeenMs } = x;
  if (!Number.isInteger(id) || (id as number) < 256 || (id as number) > 65535) return 'template id outside 256..65535';
  const tid = `template ${id}`;
  if (kind !== 'data' && kind !== 'options') return `${tid}: unknown kind`;
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > MAX_FIELDS)
    return `${tid}: fields is not an array of 1..${MAX_FIELDS}`;
  if (!Number.isInteger(scopeCount) || (scopeCount as number) < 0 || (scopeCount as number) > fields.length)
    return `${tid}: bad scope count`;
  if (kind === 'data' && scopeCount !== 0) return `${tid}: a data template has no scope`;
  if (kind === 'options' && ipfix && scopeCount === 0) return `${tid}: an IPFIX options template needs a scope`;
  const out: [number, number, number][] = [];
  for (const f of fields) {
    if (!Array.isArray(f) || f.length !== 3) return `${tid}: field is not [id, length, pen]`;
    const [type, len, pen] = f as unknown[];
    if (!isU16(type) || !isU16(len) || !isU32(pen)) return `${tid}: field values out of range`;
    // v9 has neither variable-length fields nor enterprise numbers; IPFIX ids are 15 bits.
    if (!ipfix && (len === 65535 || pen !== 0)) return `${tid}: IPFIX-only field in a NetFlow v9 template`;
    if (ipfix && (type as number) > 0x7fff) return `${tid}: IPFIX field id above 32767`;
    out.push([type as number, len as number, pen as number]);
  }
  const seen = typeof lastSeenMs === 'number' && Number.isFinite(lastSeenMs) ? lastSeenMs : 0;
  return { id: id as number, kind, scopeCount: scopeCount as number, fields: out, lastSeenMs: seen };
}

function parseNames(
  x: unknown,
  max: number,
  keyOk: (k: string) => boolean,
  nameRequired: boolean,
): Record<string, { name?: string; description?: string }> | string {
  if (!isObject(x)) return 'not an object';
  const keys = Object.keys(x);
  if (keys.length > max) return `more than ${max} entries`;
  const out: Record<string, { name?: string; description?: string }> = {};
  for (const k of keys) {
    const v = x[k];
    if (!keyOk(k) || !isObject(v)) return `entry ${k.slice(0, 20)} is not an id with names`;
    const e: { name?: string; description?: string } = {};
    if (v.name !== undefined) {
      if (!isText(v.name)) return `entry ${k}: name is not a short string`;
      e.name = v.name;
    }
    if (v.description !== undefined) {
      if (!isText(v.description)) return `entry ${k}: description is not a short string`;
      e.description = v.description;
    }
    if (nameRequired && !e.name) return `entry ${k}: no name`;
    out[k] = e;
  }
  return out;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
const isU16 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff;
const isU32 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
const isSafeUint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
/** Rates are 1-in-N, N ≥ 1; n-out-of-N sampling gives fractions (RFC 5477 §8.2.4-5). */
const isRate = (x: unknown): x is number =>
  typeof x === 'number' && Number.isFinite(x) && x >= 1 && x <= 0xffffffffffff;
const isText = (x: unknown): x is string => typeof x === 'string' && x.length <= MAX_TEXT;
const isIndexKey = (k: string): boolean => /^\d{1,16}$/.test(k) && Number.isSafeInteger(Number(k));
/** "engine:selector", engine a byte, selector at most 5 bytes (what the decoder keys on). */
const isAppKey = (k: string): boolean => {
  const m = /^(\d{1,3}):(\d{1,13})$/.exec(k);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 255 && Number(m[2]) < 2 ** 40;
};
