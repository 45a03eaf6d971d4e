// RMSNorm and gated RMSNorm (wasm/src/norm.rs). x, y, z: [T, D]; weight: [D].
import { BackendError } from "../../core/errors.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

function check(name: string, T: number, D: number, arrays: [string, Float32Array | undefined, number][]): void {
  if (!Number.isInteger(T) || T < 0 || !Number.isInteger(D) || D < 1) throw new BackendError(`${name}: bad shape [${T}, ${D}]`, "wasm");
  for (const [what, a, n] of arrays)
    if (a && a.length < n) throw new BackendError(`${name}: ${what} has ${a.length} values, expected at least ${n}`, "wasm");
}

export function rmsnorm(
  rt: WasmRuntime, x: Float32Array, T: number, D: number, weight: Float32Array, eps: number, out?: Float32Array,
): Float32Array {
  check("rmsnorm", T, D, [["x", x, T * D], ["weight", weight, D], ["out", out, T * D]]);
  if (T === 0) return out ?? new Float32Array(0);
  const xp = rt.put(Slot.X, x, T * D);
  const wp = rt.put(Slot.W, weight, D);
  const yp = rt.outPtr(Slot.Y, out, T * D, [[wp, D]]);
  rt.k.ss_rmsnorm(xp, T, D, wp, eps, yp);
  return rt.get(yp, T * D, out);
}

export function gatedRmsnorm(
  rt: WasmRuntime, y: Float32Array, z: Float32Array, T: number, D: number, groupSize: number, weight: Float32Array,
  eps: number, normBeforeGate: boolean, out?: Float32Array,
): Float32Array {
  check("gatedRmsnorm", T, D, [["y", y, T * D], ["z", z, T * D], ["weight", weight, D], ["out", out, T * D]]);
  if (!Number.isInteger(groupSize) || groupSize < 1 || D % groupSize !== 0)
    throw new BackendError(`gatedRmsnorm: groupSize ${groupSize} does not divide D = ${D}`, "wasm");
  if (T === 0) return out ?? new Float32Array(0);
  const yp = rt.put(Slot.X, y, T * D);
  const zp = rt.put(Slot.Z, z, T * D);
  const wp = rt.put(Slot.W, weight, D);
  const op = rt.outPtr(Slot.Y, out, T * D, [[wp, D]]);
  rt.k.ss_gated_rmsnorm(yp, zp, T, D, groupSize, wp, eps, normBeforeGate ? 1 : 0, op);
  return rt.get(op, T * D, out);
}
