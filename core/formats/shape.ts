// Shape arithmetic that cannot overflow silently: every product is checked against 2^53, so a
// corrupt dimension becomes a CheckpointError instead of a wrong (wrapped or inexact) byte count.
import { CheckpointError } from "../errors.ts";

/** CheckpointError unless every entry of `dims` is a non-negative safe integer. */
export function checkDims(dims: readonly unknown[], file: string, tensor: string, what = "shape"): asserts dims is number[] {
  for (const d of dims) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(`${what} ${describeDims(dims)} has an entry that is not a non-negative integer`, file, tensor);
    }
  }
}

/** Product of `dims`; CheckpointError if a dim is not a non-negative safe integer or the product overflows. */
export function checkedNumel(dims: readonly unknown[], file: string, tensor: string, what = "shape"): number {
  checkDims(dims, file, tensor, what);
  let n = 1;
  for (const d of dims) n = checkedMul(n, d, file, tensor, `${what} ${describeDims(dims)}`);
  return n;
}

export function checkedMul(a: number, b: number, file: string, tensor: string | undefined, what: string): number {
  const p = a * b;
  if (!Number.isSafeInteger(p)) throw new CheckpointError(`${what}: size overflows`, file, tensor);
  return p;
}

export function checkedAdd(a: number, b: number, file: string, tensor: string | undefined, what: string): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw new CheckpointError(`${what}: size overflows`, file, tensor);
  return s;
}

/** `[3, 4]` for messages; truncated so a hostile shape cannot produce a megabyte message. */
export function describeDims(dims: readonly unknown[]): string {
  const shown = dims.slice(0, 8).map((d) => (typeof d === "number" ? String(d) : typeof d === "string" ? JSON.stringify(d.slice(0, 20)) : d === null ? "null" : typeof d));
  return `[${shown.join(", ")}${dims.length > 8 ? `, … (${dims.length} dims)` : ""}]`;
}

/** Row-major strides of `shape`, in elements. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The same shape once size-1 dims are dropped: [C, 1, K] and [C, K] describe the same row-major data. */
export function squeezed(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
