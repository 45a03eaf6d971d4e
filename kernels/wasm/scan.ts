// ssdScan (Mamba-2) and selectiveScan (Mamba-1) on the wasm kernels (wasm/src/ssd.rs, mamba1.rs).
// SSD: x: [T, H, P]; dt: [T, H]; A, D: [H]; B, C: [T, G, N]; state: [H, P, N] in/out; y: [T, H, P].
// Selective: x, dt: [T, D]; A: [D, N]; B, C: [T, N]; Dskip: [D]; state: [D, N] in/out; y: [T, D].
// T = 1 runs the step recurrence, T > 1 the chunked SSD (matrix products) in chunks of at most
// CPU_CHUNK tokens (min with args.chunkSize). Threads split heads
// (SSD) or channels (selective scan) once the call is large enough.
import { BackendError } from "../../core/errors.ts";
import type { SelectiveScanArgs, SsdScanArgs } from "../backend.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

/**
 * Chunk length the wasm SSD kernel runs. The result does not depend on the chunk length, but the
 * intra-chunk terms (C·Bᵀ and the masked mix) cost O(Q) per token: on CPU, chunks of 16 to 48
 * tokens take half the time of the 256 of the released configs (mamba2-130m layer, 512 tokens).
 */
const CPU_CHUNK = 32;

/** State elements x tokens one thread should update before a scan is split further. */
const MIN_SCAN_WORK = 1 << 16;

function need(name: string, what: string, a: Float32Array | undefined, n: number): void {
  if (!a || a.length < n) throw new BackendError(`${name}: ${what} has ${a?.length ?? 0} values, expected at least ${n}`, "wasm");
}

function dims(name: string, o: Record<string, number>): void {
  for (const [k, v] of Object.entries(o))
    if (!Number.isInteger(v) || v < 1) throw new BackendError(`${name}: ${k} must be a positive integer, got ${v}`, "wasm");
}

export function ssdScan(rt: WasmRuntime, a: SsdScanArgs): Float32Array {
  const { T, H, P, G, N } = a;
  if (T === 0) return a.out ?? new Float32Array(0);
  dims("ssdScan", { T, H, P, G, N, chunkSize: a.chunkSize });
  if (H % G !== 0) throw new BackendError(`ssdScan: H = ${H} is not a multiple of G = ${G}`, "wasm");
  need("ssdScan", "x", a.x, T * H * P);
  need("ssdScan", "dt", a.dt, T * H);
  need("ssdScan", "A", a.A, H);
  need("ssdScan", "B", a.B, T * G * N);
  need("ssdScan", "C", a.C, T * G * N);
  need("ssdScan", "D", a.D, H);
  need("ssdScan", "state", a.state, H * P * N);
  if (a.out) need("ssdScan", "out", a.out, T * H * P);
  const x = rt.put(Slot.X, a.x, T * H * P);
  const dt = rt.put(Slot.DT, a.dt, T * H);
  const A = rt.put(Slot.A, a.A, H);
  const B = rt.put(Slot.B, a.B, T * G * N);
  const C = rt.put(Slot.C, a.C, T * G * N);
  const D = rt.put(Slot.D, a.D, H);
  const S = rt.put(Slot.State, a.state, H * P * N);
  const y = rt.outPtr(Slot.Y, a.out, T * H * P, [[x, T * H * P], [dt, T * H], [A, H], [B, T * G * N], [C, T * G * N], [D, H], [S, H * P * N]]);
  const minHeads = Math.ceil(MIN_SCAN_WORK / (T * P * N));
  if (T === 1) {
    rt.parallel("ss_ssd_step", H, minHeads, 1, [T, H, P, G, N, x, dt, A, B, C, D, S, y, 0, 0]);
  } else {
    const Q = Math.min(a.chunkSize, T, CPU_CHUNK);
    const maxHeads = rt.maxChunk(H, minHeads, 1);
    const stride = ((rt.k.ss_ssd_scratch_floats(Q, N, P, maxHeads) * 4 + 63) >> 6) << 6;
    rt.parallel("ss_ssd_chunked", H, minHeads, 1, [T, H, P, G, N, Q, x, dt, A, B, C, D, S, y, 0, 0, 0], stride);
  }
  rt.back(S, a.state, H * P * N);
  return rt.get(y, T * H * P, a.out);
}

export function selectiveScan(rt: WasmRuntime, a: SelectiveScanArgs): Float32Array {
  const { T, D, N } = a;
  if (T === 0) return a.out ?? new Float32Array(0);
  dims("selectiveScan", { T, D, N });
  need("selectiveScan", "x", a.x, T * D);
  need("selectiveScan", "dt", a.dt, T * D);
  need("selectiveScan", "A", a.A, D * N);
  need("selectiveScan", "B", a.B, T * N);
  need("selectiveScan", "C", a.C, T * N);
  need("selectiveScan", "Dskip", a.Dskip, D);
  need("selectiveScan", "state", a.state, D * N);
  if (a.out) need("selectiveScan", "out", a.out, T * D);
  const x = rt.put(Slot.X, a.x, T * D);
  const dt = rt.put(Slot.DT, a.dt, T * D);
  const A = rt.put(Slot.A, a.A, D * N);
  const B = rt.put(Slot.B, a.B, T * N);
  const C = rt.put(Slot.C, a.C, T * N);
  const Ds = rt.put(Slot.D, a.Dskip, D);
  const S = rt.put(Slot.State, a.state, D * N);
  const y = rt.outPtr(Slot.Y, a.out, T * D, [[x, T * D], [dt, T * D], [A, D * N], [B, T * N], [C, T * N], [Ds, D], [S, D * N]]);
  const minCh = Math.ceil(MIN_SCAN_WORK / (T * N));
  rt.parallel("ss_selective_scan", D, minCh, 4, [T, D, N, x, dt, A, B, C, Ds, S, y, 0, 0]);
  rt.back(S, a.state, D * N);
  return rt.get(y, T * D, a.out);
}
