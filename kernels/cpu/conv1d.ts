// Causal depthwise conv1d + bias + SiLU, continuing from a carried window.
// x: [T, C]; weight: [C, K] (tap K-1 multiplies the newest input); window: [C, K-1] oldest first.
import { silu } from "./elementwise.ts";

export function conv1d(
  x: Float32Array, T: number, C: number, K: number, weight: Float32Array, bias: Float32Array | null,
  window: Float32Array, out: Float32Array,
): Float32Array {
  const W = K - 1;
  // input at time s (s < 0 reads the window)
  const input = (s: number, c: number) => (s >= 0 ? x[s * C + c] : window[c * W + W + s]);
  for (let t = 0; t < T; t++)
    for (let c = 0; c < C; c++) {
      let s = bias ? bias[c] : 0;
      for (let k = 0; k < K; k++) s += weight[c * K + k] * input(t - W + k, c);
      out[t * C + c] = silu(s);
    }
  // new window = last W inputs of [window | x]
  const next = new Float32Array(C * W);
  for (let c = 0; c < C; c++) for (let j = 0; j < W; j++) next[c * W + j] = input(T - W + j, c);
  window.set(next);
  return out;
}
