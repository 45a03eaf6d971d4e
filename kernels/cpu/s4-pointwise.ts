// Pointwise ops of the S4 block and model wrapper (state-spaces/s4 example.py, S4Block):
//   layerNorm: x: [T, D] -> (x − mean)·rsqrt(var + eps)·weight + bias        (nn.LayerNorm, biased var)
//   activation: gelu (exact: x·Φ(x) = x/2·(1 + erf(x/√2)), nn.GELU()), tanh, relu, elu, silu, sigmoid,
//               softplus (β = 1, threshold 20 as torch), id
//   glu: x: [T, 2D] -> a·sigmoid(b), a = x[:, :D], b = x[:, D:]            (nn.GLU(dim=-1))
import type { S4Activation } from "../backend.ts";

export function layerNorm(
  x: Float32Array, T: number, D: number, weight: Float32Array, bias: Float32Array, eps: number, out = new Float32Array(T * D),
): Float32Array {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[o + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[o + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) out[o + i] = (x[o + i] - mean) * inv * weight[i] + bias[i];
  }
  return out;
}

/** erf(x) to ~1e-15 relative: Taylor series for |x| < 2.5, continued fraction of erfc beyond. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  if (ax > 6) return Math.sign(x);
  // erfc x = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...))))) (Lentz, backwards)
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function activation(x: Float32Array, kind: S4Activation): Float32Array {
  const n = x.length;
  switch (kind) {
    case "id":
      return x;
    case "gelu":
      for (let i = 0; i < n; i++) x[i] = 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2));
      return x;
    case "tanh":
      for (let i = 0; i < n; i++) x[i] = Math.tanh(x[i]);
      return x;
    case "relu":
      for (let i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
      return x;
    case "elu":
      for (let i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : Math.expm1(x[i]);
      return x;
    case "silu":
      for (let i = 0; i < n; i++) x[i] = x[i] * sigmoid(x[i]);
      return x;
    case "sigmoid":
      for (let i = 0; i < n; i++) x[i] = sigmoid(x[i]);
      return x;
    case "softplus":
      for (let i = 0; i < n; i++) x[i] = x[i] > 20 ? x[i] : Math.log1p(Math.exp(x[i]));
      return x;
  }
}

export function glu(x: Float32Array, T: number, D: number, out = new Float32Array(T * D)): Float32Array {
  for (let t = 0; t < T; t++)
    for (let i = 0; i < D; i++) out[t * D + i] = x[t * 2 * D + i] * sigmoid(x[t * 2 * D + D + i]);
  return out;
}
