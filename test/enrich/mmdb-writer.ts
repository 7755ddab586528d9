// A small MaxMind DB writer for tests, written from the public "MaxMind DB File Format
// Specification" (version 2.0): a binary search tree over the address bits, a 16-byte zero
// separator, a data section of typed values, then "\xAB\xCD\xEFMaxMind.com" and a metadata map.
// No MaxMind database may be downloaded here, so tests build their own and read it back with the
// `maxmind` reader — which also checks this writer against an independent implementation.
//
// Only what tests need: IPv6 trees (IPv4 networks live at ::a.b.c.d/96+len, as the spec says for
// ip_version 6 databases), 24-bit records, no data de-duplication, no pointers in the data section.

export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbNetwork {
  /** `a.b.c.d/len` or `ipv6/len` */
  cidr: string;
  data: MmdbValue;
}

export interface MmdbWriterOptions {
  databaseType: string;
  buildEpochSeconds: number;
  description?: string;
}

interface TreeNode {
  kids: [TreeNode | number | null, TreeNode | number | null]; // number = index into data records
}

export function writeMmdb(networks: MmdbNetwork[], opts: MmdbWriterOptions): Buffer {
  const root: TreeNode = { kids: [null, null] };
  const data: Buffer[] = [];
  for (const n of networks) {
    const [bits, len] = cidrBits(n.cidr);
    let node = root;
    for (let d = 0; d < len - 1; d++) {
      const b = bits[d];
      const k = node.kids[b];
      if (k === null || typeof k === 'number') {
        // A network inside an earlier, larger one: split the larger one's record down the path.
        const child: TreeNode = { kids: [k, k] };
        node.kids[b] = child;
        node = child;
      } else node = k;
    }
    data.push(encode(n.data));
    node.kids[bits[len - 1]] = data.length - 1;
  }
  // Number the nodes breadth first (the root must be node 0).
  const order: TreeNode[] = [];
  const ids = new Map<TreeNode, number>();
  const queue: TreeNode[] = [root];
  while (queue.length > 0) {
    const node = queue.shift() as TreeNode;
    ids.set(node, order.length);
    order.push(node);
    for (const k of node.kids) if (k !== null && typeof k !== 'number') queue.push(k);
  }
  const nodeCount = order.length;
  const dataOffsets: number[] = [];
  let off = 0;
  for (const d of data) {
    dataOffsets.push(off);
    off += d.length;
  }
  // 24-bit records: 6 bytes per node. A record equal to node_count means "no data"; above it, a
  // data pointer is node_count + 16 + offset in the data section (spec: "Pointer - Data Section").
  const tree = Buffer.alloc(nodeCount * 6);
  order.forEach((node, i) => {
    for (let side = 0; side < 2; side++) {
      const k = node.kids[side];
      let rec: number;
      if (k === null) rec = nodeCount;
      else if (typeof k === 'number') rec = nodeCount + 16 + dataOffsets[k];
      else rec = ids.get(k) as number;
      if (rec >= 1 << 24) throw new Error('record too large for 24 bits');
      tree.writeUIntBE(rec, i * 6 + side * 3, 3);
    }
  });
  const metadata = encode({
    node_count: nodeCount,
    record_size: 24,
    ip_version: 6,
    database_type: opts.databaseType,
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: opts.buildEpochSeconds,
    description: { en: opts.description ?? 'flowwatch test database' },
  });
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    ...data,
    Buffer.from([0xab, 0xcd, 0xef]),
    Buffer.from('MaxMind.com'),
    metadata,
  ]);
}

function cidrBits(cidr: string): [number[], number] {
  const [addr, lenText] = cidr.split('/');
  const bytes: number[] = [];
  let len = Number(lenText);
  if (addr.includes(':')) {
    const [h, t = ''] = addr.split('::');
    const hp = h ? h.split(':') : [];
    const tp = t ? t.split(':') : [];
    const groups = addr.includes('::') ? [...hp, ...Array(8 - hp.length - tp.length).fill('0'), ...tp] : hp;
    for (const g of groups) {
      const v = Number.parseInt(g, 16);
      bytes.push(v >> 8, v & 255);
    }
  } else {
    for (let i = 0; i < 12; i++) bytes.push(0);
    for (const o of addr.split('.')) bytes.push(Number(o));
    len += 96;
  }
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return [bits, len];
}

// Control byte: type in the top 3 bits (0 = extended, the type - 7 in the next byte), size in the
// low 5 bits (29, 30, 31 = size in 1, 2, 3 more bytes, with 29, 285, 65821 added).
function control(type: number, size: number): Buffer {
  const head: number[] = [];
  const t = type <= 7 ? type << 5 : 0;
  let sizeBytes: number[] = [];
  let s5: number;
  if (size < 29) s5 = size;
  else if (size < 285) {
    s5 = 29;
    sizeBytes = [size - 29];
  } else if (size < 65821) {
    s5 = 30;
    const v = size - 285;
    sizeBytes = [v >> 8, v & 255];
  } else {
    s5 = 31;
    const v = size - 65821;
    sizeBytes = [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  head.push(t | s5);
  if (type > 7) head.push(type - 7);
  return Buffer.from([...head, ...sizeBytes]);
}

function uintBytes(v: number): number[] {
  const out: number[] = [];
  let x = v;
  while (x > 0) {
    out.unshift(x % 256);
    x = Math.floor(x / 256);
  }
  return out;
}

function encode(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([control(2, b.length), b]);
  }
  if (typeof v === 'boolean') return control(14, v ? 1 : 0);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      return Buffer.concat([control(3, 8), b]);
    }
    const bytes = uintBytes(v);
    const type = v <= 0xffff ? 5 : v <= 0xffffffff ? 6 : 9;
    return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
  }
  if (Array.isArray(v)) return Buffer.concat([control(11, v.length), ...v.map(encode)]);
  const keys = Object.keys(v);
  return Buffer.concat([control(7, keys.length), ...keys.flatMap((k) => [encode(k), encode(v[k])])]);
}
