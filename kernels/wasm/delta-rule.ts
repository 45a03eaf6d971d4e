// gatedDelta (the MoM memories) on the wasm kernels of wasm/src/delta.rs.
// q, k: [T, H, K]; v: [T, H, V]; beta, g: [T, H]; state: [H, K, V] in/out; out: [T, H, V].
// T = 1 runs the step recurrence; T > 1 the chunked form (gemm products, the UT transform applied by
// forward substitution) in chunks of min(chunkSize, MAX_CHUNK) tokens. Threads split heads once a
// call is large enough. float32 arithmetic (the cpu reference accumulates in float64; the tolerance
// is stated in test/delta-rule-backends.test.ts).
import type { DeltaRuleOps, GatedDeltaArgs } from "../backend.ts";
import { checkGatedDelta } from "../cpu/delta-rule.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

/**
 * Longest chunk the wasm kernel runs, whatever `chunkSize` says (the result does not depend on it).
 * The intra-chunk terms (two Gram matrices, the substitution) cost O(C) per token next to the
 * O(K·V) state products. At K = V = 64, T = 512, one thread (process CPU time, medians of 40
 * interleaved calls on the loaded 2-core VM): chunks of 4 / 8 / 16 / 32 took 6.3 / 4.7 / 5.0 / 6.2 ms.
 */
export const MAX_CHUNK = 16;

/** State elements x tokens one thread should update before the heads are split over threads. */
const MIN_WORK = 1 << 16;

const stride = (floats: number) => ((floats * 4 + 63) >> 6) << 6;

export function gatedDelta(rt: WasmRuntime, a: GatedDeltaArgs): Float32Array {
  if (!checkGatedDelta(a, "wasm")) return a.out ?? new Float32Array(0);
  const { T, H, K, V, scale } = a;
  const nk = T * H * K, nv = T * H * V, nh = T * H, ns = H * K * V;
  const q = rt.put(Slot.X, a.q, nk);
  const k = rt.put(Slot.B, a.k, nk);
  const v = rt.put(Slot.C, a.v, nv);
  const beta = rt.put(Slot.DT, a.beta, nh);
  const g = rt.put(Slot.A, a.g, nh);
  const S = rt.put(Slot.State, a.state, ns);
  const y = rt.outPtr(Slot.Y, a.out, nv, [[q, nk], [k, nk], [v, nv], [beta, nh], [g, nh], [S, ns]]);
  const minHeads = Math.ceil(MIN_WORK / (T * K * V));
  if (T === 1) {
    rt.parallel("ss_delta_step", H, minHeads, 1, [T, H, K, V, q, k, v, beta, g, scale, S, y, 0, 0, 0], stride(V));
  } else {
    const Q = Math.min(a.chunkSize ?? MAX_CHUNK, MAX_CHUNK, T);
    rt.parallel("ss_delta_chunked", H, minHeads, 1, [T, H, K, V, Q, q, k, v, beta, g, scale, S, y, 0, 0, 0], stride(rt.k.ss_delta_scratch_floats(Q, K, V)));
  }
  rt.back(S, a.state, ns);
  return rt.get(y, nv, a.out);
}

export function wasmDeltaRule(rt: WasmRuntime): DeltaRuleOps {
  return { gatedDelta: (a) => gatedDelta(rt, a) };
}
