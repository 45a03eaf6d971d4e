// RMSNorm and gated RMSNorm (mamba_ssm RMSNormGated). x, y, z: [T, D]; weight: [D].
import { silu } from "./elementwise.ts";

export function rmsnorm(x: Float32Array, T: number, D: number, weight: Float32Array, eps: number, out: Float32Array): Float32Array {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x[o + d] * x[o + d];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) out[o + d] = x[o + d] * inv * weight[d];
  }
  return out;
}

/** Normalises each group of `groupSize` consecutive channels separately (ngroups > 1 matters). */
export function gatedRmsnorm(
  y: Float32Array, z: Float32Array, T: number, D: number, groupSize: number,
  weight: Float32Array, eps: number, normBeforeGate: boolean, out: Float32Array,
): Float32Array {
  const v = new Float64Array(groupSize);
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < D; g0 += groupSize) {
      const o = t * D + g0;
      let ss = 0;
      for (let i = 0; i < groupSize; i++) {
        v[i] = normBeforeGate ? y[o + i] : y[o + i] * silu(z[o + i]);
        ss += v[i] * v[i];
      }
      const inv = 1 / Math.sqrt(ss / groupSize + eps);
      for (let i = 0; i < groupSize; i++) {
        const n = v[i] * inv * weight[g0 + i];
        out[o + i] = normBeforeGate ? n * silu(z[o + i]) : n;
      }
    }
  }
  return out;
}
