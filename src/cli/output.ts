// Output of query results: table (aligned, for people), csv, json (one array), ndjson.
// Addresses are already text from the store; times become ISO 8601 UTC; lists join with ','.

import { findColumn, PROTOCOL_NAMES } from '../schema/columns.js';
import { formatTime } from '../util/units.js';

export type Format = 'table' | 'csv' | 'json' | 'ndjson';
export const FORMATS: Format[] = ['table', 'csv', 'json', 'ndjson'];

type Row = Record<string, unknown>;

function isTimeField(name: string): boolean {
  return name === 't' || name === 'time' || name === 'flow_start' || findColumn(name)?.type === 'time';
}

/** JSON-ready value: times as ISO text, bigints as numbers. */
function jsonValue(name: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && isTimeField(name)) return formatTime(v);
  return v;
}

const PROTO_TEXT = new Map<number, string>();
for (const [name, n] of Object.entries(PROTOCOL_NAMES)) if (!PROTO_TEXT.has(n)) PROTO_TEXT.set(n, name.toUpperCase());
const TCP_FLAGS = 'CEUAPRSF'; // bits 7..0: CWR ECE URG ACK PSH RST SYN FIN

/** What a person reads in a table, as nfdump prints it: protocol names, TCP flags as letters. */
function humanValue(name: string, v: unknown): string {
  if (typeof v === 'number') {
    if (name === 'proto') return PROTO_TEXT.get(v) ?? String(v);
    if (name === 'tcp_flags') {
      let out = '';
      for (let i = 0; i < 8; i++) out += v & (0x80 >> i) ? TCP_FLAGS[i] : '.';
      return out;
    }
  }
  return textValue(name, v);
}

function textValue(name: string, v: unknown): string {
  const j = jsonValue(name, v);
  if (j === null) return '';
  if (Array.isArray(j)) return j.join(',');
  return String(j);
}

export function renderRows(rows: Row[], columns: string[], format: Format): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(
        rows.map((r) => Object.fromEntries(columns.map((c) => [c, jsonValue(c, r[c])]))),
        null,
        2,
      )}\n`;
    case 'ndjson':
      return rows
        .map((r) => `${JSON.stringify(Object.fromEntries(columns.map((c) => [c, jsonValue(c, r[c])])))}\n`)
        .join('');
    case 'csv':
      return [columns.join(','), ...rows.map((r) => columns.map((c) => csvCell(textValue(c, r[c]))).join(','))]
        .map((l) => `${l}\n`)
        .join('');
    case 'table': {
      const cells = rows.map((r) => columns.map((c) => humanValue(c, r[c])));
      const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
      const numeric = columns.map(
        (_, i) => cells.length > 0 && cells.every((row) => row[i] === '' || /^-?\d+(\.\d+)?$/.test(row[i])),
      );
      const line = (vals: string[]) =>
        vals
          .map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i])))
          .join('  ')
          .trimEnd();
      return [line(columns), ...cells.map(line)].map((l) => `${l}\n`).join('');
    }
  }
}

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
