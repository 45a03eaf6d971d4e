// Shared pieces of the op-parity suites (every backend's ops against the cpu reference).
import * as assert from "uvu/assert";

/** Unit roundoff of float32, for the summation tolerances. */
export const U32 = 2 ** -24;

/** Deterministic uniform values in [lo, hi) from a seed (fast-check shrinks the seed and shapes). */
export function rand(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  let s = (seed >>> 0) || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return a;
}

/** Asserts |got[i] - want[i]| <= tol(i) everywhere, naming the first index that is not. */
export function within(what: string, got: Float32Array, want: Float32Array, tol: (i: number) => number): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol(i))) assert.unreachable(`${what}[${i}] = ${got[i]}, reference ${want[i]} (|Δ| ${d.toExponential(2)} > ${tol(i).toExponential(2)})`);
  }
}

export const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
