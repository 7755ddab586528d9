// The agent's on-disk spool: every batch is written here (gzip, fsync'd) before it is sent, and
// deleted only once the server acknowledged it, so neither a server outage nor an agent crash
// loses a batch that was spooled. One file per batch, named by its sequence number and row count,
// sent oldest first.
//
// Sequence numbers must never repeat within an epoch (the server would answer "duplicate" and the
// batch would be lost), also across agent restarts with an empty spool: state.json reserves a
// block of numbers ahead of use, written durably before the first of them is handed out, and a
// restart continues after the reservation.
//
// Bounded: when the spool would exceed maxBytes the oldest batches are deleted and counted
// (droppedBatches/droppedFlows) — during a long outage the newest data is the most useful.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const SEQ_BLOCK = 1024;
const NAME = /^(\d{16})-(\d+)\.json\.gz$/;

export interface SpoolEntry {
  seq: number;
  rows: number;
  bytes: number;
  path: string;
}

export class Spool {
  readonly epoch: string;
  private nextSeq: number;
  private reserved: number;
  private readonly entries: SpoolEntry[] = [];
  private totalBytes = 0;
  droppedBatches = 0;
  droppedFlows = 0;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true });
    let epoch = '';
    let reserved = 0;
    try {
      const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { epoch?: unknown; reserved?: unknown };
      if (typeof st.epoch === 'string' && typeof st.reserved === 'number') {
        epoch = st.epoch;
        reserved = st.reserved;
      }
    } catch {
      // first start (or a damaged state file: a new epoch keeps ids unique)
    }
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.tmp')) {
        unlinkSync(join(dir, name)); // a write the agent died in: never acknowledged, never complete
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      const path = join(dir, name);
      const e = { seq: Number(m[1]), rows: Number(m[2]), bytes: statSync(path).size, path };
      this.entries.push(e);
      this.totalBytes += e.bytes;
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    if (!epoch) {
      epoch = randomBytes(6).toString('hex');
      reserved = 0;
    }
    this.epoch = epoch;
    const last = this.entries.length ? this.entries[this.entries.length - 1].seq + 1 : 0;
    this.nextSeq = Math.max(reserved, last);
    this.reserved = this.nextSeq;
  }

  /** The sequence number the next append() must carry. */
  peekSeq(): number {
    return this.nextSeq;
  }

  /** Write a batch durably; `seq` must be peekSeq(). */
  append(seq: number, rows: number, body: Buffer): SpoolEntry {
    if (seq !== this.nextSeq) throw new Error(`spool: sequence ${seq} out of order (next is ${this.nextSeq})`);
    if (this.nextSeq >= this.reserved) this.reserve();
    while (this.entries.length > 0 && this.totalBytes + body.length > this.maxBytes) {
      const old = this.entries.shift() as SpoolEntry;
      this.totalBytes -= old.bytes;
      this.droppedBatches++;
      this.droppedFlows += old.rows;
      unlinkSafe(old.path);
    }
    const path = join(this.dir, `${String(seq).padStart(16, '0')}-${rows}.json.gz`);
    writeDurably(path, body);
    fsyncDir(this.dir);
    this.nextSeq++;
    const e = { seq, rows, bytes: body.length, path };
    this.entries.push(e);
    this.totalBytes += e.bytes;
    return e;
  }

  oldest(): SpoolEntry | undefined {
    return this.entries[0];
  }

  read(e: SpoolEntry): Buffer {
    return readFileSync(e.path);
  }

  /** The server has the batch: forget it. */
  remove(e: SpoolEntry): void {
    const i = this.entries.indexOf(e);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.totalBytes -= e.bytes;
    unlinkSafe(e.path);
  }

  get batches(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  private reserve(): void {
    this.reserved = this.nextSeq + SEQ_BLOCK;
    const path = join(this.dir, 'state.json');
    writeDurably(path, Buffer.from(JSON.stringify({ epoch: this.epoch, reserved: this.reserved })));
    fsyncDir(this.dir);
  }
}

function writeDurably(path: string, body: Buffer): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function unlinkSafe(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
