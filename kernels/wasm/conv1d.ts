// Causal depthwise conv1d + bias + SiLU with a carried window (wasm/src/conv.rs).
// x: [T, C]; weight: [C, K] (tap K-1 = newest); bias: [C] | null; window: [C, K-1] in/out; y: [T, C].
import { BackendError } from "../../core/errors.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

const MIN_CONV_WORK = 1 << 16;

export function conv1d(
  rt: WasmRuntime, x: Float32Array, T: number, C: number, K: number, weight: Float32Array, bias: Float32Array | null,
  window: Float32Array, out?: Float32Array,
): Float32Array {
  for (const [k, v] of Object.entries({ C, K }))
    if (!Number.isInteger(v) || v < 1) throw new BackendError(`conv1d: ${k} must be a positive integer, got ${v}`, "wasm");
  if (!Number.isInteger(T) || T < 0) throw new BackendError(`conv1d: bad token count ${T}`, "wasm");
  if (x.length < T * C) throw new BackendError(`conv1d: x has ${x.length} values, expected [${T}, ${C}]`, "wasm");
  if (weight.length < C * K) throw new BackendError(`conv1d: weight has ${weight.length} values, expected [${C}, ${K}]`, "wasm");
  if (bias && bias.length < C) throw new BackendError(`conv1d: bias has ${bias.length} values, expected ${C}`, "wasm");
  if (window.length < C * (K - 1)) throw new BackendError(`conv1d: window has ${window.length} values, expected [${C}, ${K - 1}]`, "wasm");
  if (out && out.length < T * C) throw new BackendError(`conv1d: out has ${out.length} values, expected [${T}, ${C}]`, "wasm");
  if (T === 0) return out ?? new Float32Array(0);
  const xp = rt.put(Slot.X, x, T * C);
  const wp = rt.put(Slot.W, weight, C * K);
  const bp = bias ? rt.put(Slot.Bias, bias, C) : 0;
  const W = C * (K - 1);
  const win = W > 0 ? rt.put(Slot.Window, window, W) : rt.scratch(Slot.Window, 4);
  const yp = rt.outPtr(Slot.Y, out, T * C, [[xp, T * C], [wp, C * K], [win, W]]);
  const minCh = Math.ceil(MIN_CONV_WORK / (T * K));
  rt.parallel("ss_conv1d", C, minCh, 4, [xp, T, C, K, wp, bp, win, yp, 0, 0]);
  if (W > 0) rt.back(win, window, W);
  return rt.get(yp, T * C, out);
}
