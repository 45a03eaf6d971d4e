// matrix() / matmul() / embed() on the wasm kernels (wasm/src/matmul.rs).
// W: [rows, cols] is packed once at upload into row groups of 4 (one SIMD lane per row) in its
// storage dtype; the rounding of f16 / bf16 / int8 is the shared one of kernels/quant.ts, so the
// cpu reference computes with exactly the same weight values.
// x: [T, cols] -> y: [T, rows]; threads split the row groups.
import { BackendError } from "../../core/errors.ts";
import type { Matrix, WeightDType } from "../backend.ts";
import { INT8_BLOCK, quantizeInt8 } from "../quant.ts";
import { Slot, type WasmRuntime } from "./runtime.ts";

export const DTYPE_CODE: Record<WeightDType, number> = { f32: 0, f16: 1, bf16: 2, int8: 3 };

/** Multiply-adds one thread should have before a matmul is split further. */
const MIN_MACS_PER_THREAD = 1 << 18;
/** Row groups per range boundary (a multiple of the kernels' 3- and 4-group tiles). */
const GROUP_ALIGN = 12;
/** Rows packed per upload step (bounds the staging memory). */
const STAGE_FLOATS = 1 << 20;

export class WasmMatrix implements Matrix {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly dtype: WeightDType,
    /** Packed layout: as dtype, except f16 matrices with values that round to ±inf / NaN, kept as f32 (of the f16 values). */
    readonly layout: WeightDType,
    public ptr: number,
    readonly bytes: number,
    readonly rt: WasmRuntime,
  ) {}
}

export function upload(rt: WasmRuntime, w: Float32Array, rows: number, cols: number, dtype: WeightDType): WasmMatrix {
  rt.live();
  if (!(dtype in DTYPE_CODE)) throw new BackendError(`matrix: unknown weight dtype "${dtype}" (expected f32, f16, bf16 or int8)`, "wasm");
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
    throw new BackendError(`matrix: bad shape [${rows}, ${cols}]`, "wasm");
  if (w.length !== rows * cols) throw new BackendError(`matrix: ${w.length} values for [${rows}, ${cols}]`, "wasm");
  // The fast f16 decode (shift, mask, times 2^112) has no inf / NaN: a matrix with such values
  // (|w| >= 65520) is stored in the f32 layout, holding exactly the f16-rounded values.
  let layout = dtype;
  if (dtype === "f16") {
    for (let i = 0; i < w.length; i++)
      if (!(Math.abs(w[i]) < 65520)) {
        layout = "f32";
        break;
      }
  }
  const code = DTYPE_CODE[layout];
  const bytes = rt.k.ss_packed_bytes(code, rows, cols);
  const ptr = rt.alloc(bytes, `a [${rows}, ${cols}] ${dtype} matrix`);
  const chunk = Math.max(4, Math.floor(STAGE_FLOATS / cols) & ~3);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0);
    const src = w.subarray(r0 * cols, (r0 + n) * cols);
    if (layout === "int8") {
      const { q, scales } = quantizeInt8(src, n, cols);
      const qp = rt.scratch(Slot.Stage, q.length);
      const sp = rt.scratch(Slot.Stage2, scales.length * 4);
      rt.u8.set(new Uint8Array(q.buffer, q.byteOffset, q.length), qp);
      rt.f32.set(scales, sp >>> 2);
      rt.k.ss_pack_i8(ptr, qp, sp, r0, n, rows, cols);
    } else {
      const sp = rt.scratch(Slot.Stage, src.length * 4);
      rt.f32.set(src, sp >>> 2);
      if (layout === "f32") rt.k.ss_pack_f32(ptr, sp, r0, n, cols, dtype === "f16" ? 1 : 0);
      else rt.k.ss_pack_b16(ptr, sp, r0, n, cols, layout === "f16" ? 1 : 0);
    }
  }
  return new WasmMatrix(rows, cols, dtype, layout, ptr, bytes, rt);
}

export function asWasmMatrix(rt: WasmRuntime, w: Matrix): WasmMatrix {
  if (!(w instanceof WasmMatrix) || w.rt !== rt) throw new BackendError("matrix was not uploaded by this wasm backend", "wasm");
  if (w.ptr === 0) throw new BackendError("matrix was released", "wasm");
  return w;
}

/** y[T, rows] = x[T, cols] · Wᵀ. */
export function matmul(rt: WasmRuntime, x: Float32Array, T: number, w: Matrix, out?: Float32Array): Float32Array {
  const m = asWasmMatrix(rt, w);
  const { rows, cols } = m;
  if (!Number.isInteger(T) || T < 0) throw new BackendError(`matmul: bad token count ${T}`, "wasm");
  if (x.length < T * cols) throw new BackendError(`matmul: x has ${x.length} values, expected [${T}, ${cols}]`, "wasm");
  if (out && out.length < T * rows) throw new BackendError(`matmul: out has ${out.length} values, expected [${T}, ${rows}]`, "wasm");
  if (T === 0) return out ?? new Float32Array(0);
  const groups = (rows + 3) >> 2;
  const minGroups = Math.ceil(MIN_MACS_PER_THREAD / (T * 4 * cols));
  const xp = rt.put(Slot.X, x, T * cols);
  const yp = rt.outPtr(Slot.Y, out, T * rows, [[xp, T * cols]]);
  if (m.layout === "f32") {
    rt.parallel("ss_matmul_f32", groups, minGroups, GROUP_ALIGN, [xp, T, m.ptr, rows, cols, yp, 0, 0]);
  } else if (m.layout === "int8") {
    const nb = Math.ceil(cols / INT8_BLOCK);
    const xq = rt.scratch(Slot.XQ, T * nb * INT8_BLOCK * 2);
    const xs = rt.scratch(Slot.XS, T * nb * 4);
    rt.k.ss_quantize_x16(xp, T, cols, xq, xs);
    rt.parallel("ss_matmul_i8", groups, minGroups, GROUP_ALIGN, [xq, xs, T, m.ptr, rows, cols, yp, 0, 0]);
  } else {
    const isF16 = m.layout === "f16" ? 1 : 0;
    // per-thread f32 tile for the prefill path (2 row groups)
    rt.parallel("ss_matmul_b16", groups, minGroups, GROUP_ALIGN, [xp, T, m.ptr, rows, cols, yp, 0, 0, isF16, 0], 2 * cols * 16);
  }
  return rt.get(yp, T * rows, out);
}

/** out[T, cols] = W[ids[t], :]. */
export function embed(rt: WasmRuntime, ids: ArrayLike<number>, w: Matrix, out?: Float32Array): Float32Array {
  const m = asWasmMatrix(rt, w);
  const T = ids.length;
  if (out && out.length < T * m.cols) throw new BackendError(`embed: out has ${out.length} values, expected [${T}, ${m.cols}]`, "wasm");
  const ip = rt.scratch(Slot.Ids, T * 4);
  const yp = rt.scratch(Slot.Y, T * m.cols * 4);
  for (let t = 0; t < T; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= m.rows)
      throw new BackendError(`embed: token id ${id} outside the embedding's ${m.rows} rows`, "wasm");
    rt.i32[(ip >>> 2) + t] = id;
  }
  rt.k.ss_embed(DTYPE_CODE[m.layout], m.ptr, m.rows, m.cols, ip, T, yp);
  return rt.get(yp, T * m.cols, out);
}
