// FlowBatch columns → DuckDB DataChunk vectors → Appender, with no JS value per cell.
//
// node-api's vector.setItem()/setColumnValues() take one JS value per cell (a BigInt per 64-bit
// cell, a bit-by-bit BigInt validity update per null) — ~70 calls per flow here. Instead each column is written with ONE native copy (`copy_data_to_vector`) from a typed array:
// 1/2/4-byte columns straight from the batch's own array (same layout as DuckDB's), 8-byte and
// 16-byte integers through a scratch word array (two/four u32 stores per row, no BigInt), the
// validity mask as a bitmap built from batch.valid. Only strings need one native call per non-null
// cell (vector_assign_string_element), taken from the batch dictionary.

import type { DuckDBAppender, DuckDBType } from '@duckdb/node-api';
import type { Vector } from '@duckdb/node-bindings';
import type { FlowBatch, ListDict, StringDict } from '../../pipeline/flow-batch.js';
import type { ColumnDef, ColumnType } from '../../schema/columns.js';
import { api, bindings as duckdb } from './duckdb-api.js';

const { BIGINT, BOOLEAN, DuckDBDataChunk, LIST, UBIGINT, UHUGEINT, UINTEGER, USMALLINT, UTINYINT, VARCHAR } = api;

export const CHUNK_ROWS = duckdb.vector_size();

const NODE_TYPE: Record<ColumnType, DuckDBType> = {
  time: BIGINT,
  u8: UTINYINT,
  u16: USMALLINT,
  u32: UINTEGER,
  u64: UBIGINT,
  addr: UHUGEINT,
  mac: UBIGINT,
  bool: BOOLEAN,
  enum: UTINYINT,
  string: VARCHAR,
  list: LIST(VARCHAR),
};

const TWO32 = 4294967296;

/** Writes FlowBatch rows into a reused DataChunk shaped like `columns`, one chunk at a time. */
export class ChunkWriter {
  private readonly chunk: InstanceType<typeof DuckDBDataChunk>;
  private readonly types: ColumnType[];
  private readonly names: string[];
  /** Scratch for 8/16-byte integers and list entries: 4 u32 words per row. */
  private readonly words = new Uint32Array(CHUNK_ROWS * 4);
  private readonly mask = new Uint32Array(CHUNK_ROWS / 32);
  /** Batch column index per writer column, cached per batch column list. */
  private mapFor: readonly ColumnDef[] | undefined;
  private map: Int32Array = new Int32Array(0);

  constructor(columns: readonly ColumnDef[]) {
    this.types = columns.map((c) => c.type);
    this.names = columns.map((c) => c.name);
    this.chunk = DuckDBDataChunk.create(columns.map((c) => NODE_TYPE[c.type]));
  }

  /** Append rows [from, from + n) of `batch` (n ≤ CHUNK_ROWS). */
  write(appender: DuckDBAppender, batch: FlowBatch, from: number, n: number): void {
    const raw = this.chunk.chunk;
    duckdb.data_chunk_reset(raw);
    const map = this.mapping(batch);
    for (let c = 0; c < this.types.length; c++) {
      const vec = duckdb.data_chunk_get_vector(raw, c);
      const bc = map[c];
      if (bc < 0) {
        this.mask.fill(0);
        this.writeMask(vec);
        continue;
      }
      this.writeColumn(vec, this.types[c], batch, bc, from, n);
    }
    duckdb.data_chunk_set_size(raw, n);
    appender.appendDataChunk(this.chunk);
  }

  private mapping(batch: FlowBatch): Int32Array {
    if (this.mapFor !== batch.columns) {
      // Batches built before a column was declared lack it: that column is null for them.
      const idx = new Map(batch.columns.map((c, i) => [c.name, i]));
      this.map = Int32Array.from(this.names, (n, i) => {
        const bi = idx.get(n);
        return bi !== undefined && batch.columns[bi].type === this.types[i] ? bi : -1;
      });
      this.mapFor = batch.columns;
    }
    return this.map;
  }

  private writeColumn(vec: Vector, type: ColumnType, batch: FlowBatch, bc: number, from: number, n: number): void {
    const valid = batch.valid[bc];
    const data = batch.data[bc];
    const mask = this.mask;
    mask.fill(0);
    for (let i = 0; i < n; i++) if (valid[from + i] !== 0) mask[i >>> 5] |= 1 << (i & 31);
    switch (type) {
      case 'u8':
      case 'enum':
      case 'bool':
      case 'u16':
      case 'u32': {
        // Same width and little-endian layout as DuckDB's UTINYINT/USMALLINT/UINTEGER/BOOLEAN.
        // (bool: FlowBatch holds 0/1 bytes; anything else non-zero is normalised below.)
        const w = data.BYTES_PER_ELEMENT;
        if (type === 'bool') {
          const b = data as Uint8Array;
          for (let i = 0; i < n; i++) if (b[from + i] > 1) b[from + i] = 1;
        }
        duckdb.copy_data_to_vector(vec, 0, data.buffer as ArrayBuffer, data.byteOffset + from * w, n * w);
        break;
      }
      case 'time':
      case 'u64':
      case 'mac': {
        const f = data as Float64Array;
        const out = this.words;
        const signed = type === 'time';
        for (let i = 0; i < n; i++) {
          const v = f[from + i];
          // NaN, ±Infinity, negatives in unsigned columns, fractions: not a value a decoder meant.
          if (!Number.isSafeInteger(v) || (!signed && v < 0)) {
            if (mask[i >>> 5] & (1 << (i & 31))) mask[i >>> 5] &= ~(1 << (i & 31));
            out[i * 2] = 0;
            out[i * 2 + 1] = 0;
            continue;
          }
          out[i * 2] = v >>> 0;
          out[i * 2 + 1] = Math.floor(v / TWO32) >>> 0;
        }
        duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n * 8);
        break;
      }
      case 'addr': {
        // FlowBatch words are most significant first; DuckDB's uhugeint_t is {lower u64, upper u64}
        // little-endian, i.e. the same four words reversed.
        const a = data as Uint32Array;
        const out = this.words;
        for (let i = 0; i < n; i++) {
          const s = (from + i) * 4;
          const d = i * 4;
          out[d] = a[s + 3];
          out[d + 1] = a[s + 2];
          out[d + 2] = a[s + 1];
          out[d + 3] = a[s];
        }
        duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n * 16);
        break;
      }
      case 'string': {
        const codes = data as Uint32Array;
        const values = (batch.strings[bc] as StringDict).values;
        for (let i = 0; i < n; i++) {
          if ((mask[i >>> 5] & (1 << (i & 31))) === 0) continue;
          const s = values[codes[from + i]];
          if (s === undefined || s === '') mask[i >>> 5] &= ~(1 << (i & 31));
          else duckdb.vector_assign_string_element(vec, i, s);
        }
        break;
      }
      case 'list': {
        const codes = data as Uint32Array;
        const values = (batch.lists[bc] as ListDict).values;
        let total = 0;
        for (let i = 0; i < n; i++) {
          if ((mask[i >>> 5] & (1 << (i & 31))) === 0) continue;
          const l = values[codes[from + i]];
          if (l === undefined || l.length === 0) mask[i >>> 5] &= ~(1 << (i & 31));
          else total += l.length;
        }
        duckdb.list_vector_reserve(vec, total);
        duckdb.list_vector_set_size(vec, total);
        const child = duckdb.list_vector_get_child(vec);
        const out = this.words;
        let off = 0;
        for (let i = 0; i < n; i++) {
          const d = i * 4;
          out[d] = off;
          out[d + 1] = 0;
          out[d + 3] = 0;
          if ((mask[i >>> 5] & (1 << (i & 31))) === 0) {
            out[d + 2] = 0;
            continue;
          }
          const l = values[codes[from + i]];
          out[d + 2] = l.length;
          for (let k = 0; k < l.length; k++) duckdb.vector_assign_string_element(child, off++, l[k]);
        }
        duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n * 16);
        break;
      }
    }
    this.writeMask(vec);
  }

  private writeMask(vec: Vector): void {
    duckdb.vector_ensure_validity_writable(vec);
    duckdb.copy_data_to_vector_validity(vec, 0, this.mask.buffer, 0, this.mask.byteLength);
  }
}
