// Weight storage formats shared by all backends, so that every backend rounds a weight the same way
// and the cpu reference can emulate any dtype exactly (it stores the dequantised float32 values).
//
// f16 / bf16: round-to-nearest-even of each float32.
// int8: blocks of INT8_BLOCK consecutive values along a row (like ggml Q8_0), scale = max|w| / 127,
//       q = round(w / scale) in [-127, 127]; value = scale * q. A row's tail forms a shorter block.

import type { WeightDType } from "./backend.ts";

export const INT8_BLOCK = 32;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bf16 bits (round to nearest even; NaN stays NaN). */
export function toBf16Bits(v: number): number {
  f32[0] = v;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** float32 -> IEEE half bits (round to nearest even, overflow to inf, subnormals kept). */
export function toF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export interface Int8Rows {
  q: Int8Array;
  /** scales: [rows, ceil(cols / INT8_BLOCK)] */
  scales: Float32Array;
}

export function quantizeInt8(w: Float32Array, rows: number, cols: number): Int8Rows {
  const nb = Math.ceil(cols / INT8_BLOCK);
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows * nb);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const lo = r * cols + b * INT8_BLOCK;
      const hi = Math.min(lo + INT8_BLOCK, (r + 1) * cols);
      let amax = 0;
      for (let i = lo; i < hi; i++) amax = Math.max(amax, Math.abs(w[i]));
      const scale = Math.fround(amax / 127);
      scales[r * nb + b] = scale;
      const inv = scale === 0 ? 0 : 1 / scale;
      for (let i = lo; i < hi; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i] * inv)));
    }
  }
  return { q, scales };
}

/** The float32 values a weight takes once stored in `dtype` (what every backend must compute with). */
export function roundWeights(w: Float32Array, rows: number, cols: number, dtype: WeightDType): Float32Array {
  const out = new Float32Array(w.length);
  if (dtype === "f32") out.set(w);
  else if (dtype === "bf16") for (let i = 0; i < w.length; i++) out[i] = bf16BitsToF32(toBf16Bits(w[i]));
  else if (dtype === "f16") for (let i = 0; i < w.length; i++) out[i] = f16BitsToF32(toF16Bits(w[i]));
  else {
    const { q, scales } = quantizeInt8(w, rows, cols);
    const nb = Math.ceil(cols / INT8_BLOCK);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out[r * cols + c] = scales[r * nb + Math.floor(c / INT8_BLOCK)] * q[r * cols + c];
  }
  return out;
}
