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
