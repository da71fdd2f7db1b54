/**
 * C strings and pointer arrays for FFI calls. Buffers returned here must stay
 * referenced by the caller until the foreign call returns.
 * @module
 */

const enc = new TextEncoder();

/** A NUL-terminated copy of `s`. Refuses embedded NULs, which C would truncate at. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`string contains a NUL byte: ${JSON.stringify(s)}`);
  const bytes = enc.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A NULL-terminated `char *[]`; `keep` holds the strings alive for the call. */
export interface CStringArray {
  readonly ptrs: BigUint64Array<ArrayBuffer>;
  readonly keep: Uint8Array[];
}

export function cstrArray(list: readonly string[]): CStringArray {
  const keep = list.map(cstr);
  const ptrs = new BigUint64Array(keep.length + 1);
  keep.forEach((b, i) => {
    ptrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
  });
  ptrs[keep.length] = 0n;
  return { ptrs, keep };
}

/** The address of a buffer as a bigint, for syscall(2) arguments. */
export function addr(buf: ArrayBufferView | null): bigint {
  if (buf === null) return 0n;
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}
