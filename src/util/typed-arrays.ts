// Growing typed arrays (builders and tables that learn their size as they go).

type Typed = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;

/** A new array of the same type and length `n` holding `a`'s values (n ≥ a.length). */
export function resized<T extends Typed>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** `a` itself when it holds `need` values, else a copy at least twice as long. */
export function grown<T extends Typed>(a: T, need: number): T {
  return need <= a.length ? a : resized(a, Math.max(a.length * 2, need));
}

/**
 * Distinct fixed-width records of numbers, each given an id in the order first met. The caller
 * derives a number key that is unique per record (a Map on numbers, no string per record).
 */
export class RecordInterner<T extends Uint32Array | Int32Array> {
  private readonly ids = new Map<number, number>();
  private n = 0;

  constructor(
    private rec: T,
    private readonly width: 2 | 3,
  ) {}

  /** The id of the record (a, b[, c]) whose key is `key`. */
  id(key: number, a: number, b: number, c = 0): number {
    let i = this.ids.get(key);
    if (i === undefined) {
      i = this.n++;
      this.ids.set(key, i);
      const w = this.width;
      this.rec = grown(this.rec, this.n * w);
      this.rec[i * w] = a;
      this.rec[i * w + 1] = b;
      if (w === 3) this.rec[i * w + 2] = c;
    }
    return i;
  }

  /** The records, `width` numbers each, by id. */
  done(): T {
    return this.rec.slice(0, this.n * this.width) as T;
  }
}
