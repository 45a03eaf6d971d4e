// Elementwise ops (wasm/src/elementwise.rs), in place on the caller's arrays.
import { BackendError } from "../../core/errors.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

/** dt[T, H] <- clamp(softplus(dt + bias[H]), lo, hi). */
export function dtSoftplus(rt: WasmRuntime, dt: Float32Array, T: number, H: number, bias: Float32Array, lo: number, hi: number): Float32Array {
  if (!Number.isInteger(T) || T < 0 || !Number.isInteger(H) || H < 1) throw new BackendError(`dtSoftplus: bad shape [${T}, ${H}]`, "wasm");
  if (dt.length < T * H) throw new BackendError(`dtSoftplus: dt has ${dt.length} values, expected [${T}, ${H}]`, "wasm");
  if (bias.length < H) throw new BackendError(`dtSoftplus: bias has ${bias.length} values, expected ${H}`, "wasm");
  if (T === 0) return dt;
  const p = rt.put(Slot.DT, dt, T * H);
  const bp = rt.put(Slot.Bias, bias, H);
  // ±Infinity limits become ±FLT_MAX in f32 (the clamp is then a no-op, as intended)
  rt.k.ss_dt_softplus(p, T, H, bp, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38));
  rt.back(p, dt, T * H);
  return dt;
}

/** y[i] <- y[i] * silu(z[i]). */
export function siluGate(rt: WasmRuntime, y: Float32Array, z: Float32Array): Float32Array {
  if (z.length < y.length) throw new BackendError(`siluGate: z has ${z.length} values, y has ${y.length}`, "wasm");
  const n = y.length;
  if (n === 0) return y;
  const yp = rt.put(Slot.X, y, n);
  const zp = rt.put(Slot.Z, z, n);
  rt.k.ss_silu_gate(yp, zp, n);
  rt.back(yp, y, n);
  return y;
}

/** a[i] <- a[i] + b[i]. */
export function add(rt: WasmRuntime, a: Float32Array, b: Float32Array): Float32Array {
  if (b.length < a.length) throw new BackendError(`add: b has ${b.length} values, a has ${a.length}`, "wasm");
  const n = a.length;
  if (n === 0) return a;
  const ap = rt.put(Slot.X, a, n);
  const bp = rt.put(Slot.Z, b, n);
  rt.k.ss_add(ap, bp, n);
  rt.back(ap, a, n);
  return a;
}
