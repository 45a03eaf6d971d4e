// Properties of the weight storage formats (kernels/quant.ts) that every backend shares. On the cpu
// backend "matmul with f16 / bf16 / int8 weights" is by construction an f32 matmul on roundWeights()
// values, so what needs proving is that roundWeights rounds correctly:
// - f16: the 65536 half bit patterns survive f16 -> f32 -> f16 exactly (NaNs stay NaN), and toF16Bits
//   rounds any float32 to the nearest half, ties to even, as computed independently in float64.
// - bf16: toBf16Bits rounds to nearest, ties to even, as computed independently in float64.
// - int8: per block of INT8_BLOCK values along a row, scale = fround(max|w| / 127), |q| <= 127 and
//   |w - scale·q| <= scale/2 · (1 + 1e-6) + 127·2^-149. The relative slack covers the float rounding
//   of w · (1/scale); the absolute one blocks with max|w| < 2^-126·127, whose scale is a float32
//   subnormal (or 0) and so carries an absolute error up to 2^-150 (a block of [-1.4e-45] has
//   scale 0 and dequantises to 0). Irrelevant for real weights, but it is how quant.ts behaves.
//   roundWeights(..., "int8") returns exactly fround(scale·q).
// All other comparisons are exact (bit / value equality).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  INT8_BLOCK, bf16BitsToF32, f16BitsToF32, quantizeInt8, roundWeights, toBf16Bits, toF16Bits,
} from "../kernels/quant.ts";

/** Round-to-nearest-even of a finite float64 `v` to a binary format with `bits` significand bits
 *  (including the implicit one) and minimum normal exponent `emin`, in plain float64 arithmetic.
 *  Returns ±Infinity when the rounded magnitude reaches 2^(emax+1). */
function roundFormat(v: number, bits: number, emin: number, emax: number): number {
  if (v === 0) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  e = Math.max(e, emin); // subnormals share the spacing of the smallest normal binade
  const ulp = 2 ** (e - bits + 1);
  const q = a / ulp; // exact: dividing by a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const m = r * ulp;
  return Math.sign(v) * (m >= 2 ** (emax + 1) ? Infinity : m);
}

const f16Ref = (v: number) => roundFormat(v, 11, -14, 15);
const bf16Ref = (v: number) => roundFormat(v, 8, -126, 127);
const sameValue = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Any float32 (every bit pattern is reachable, NaNs and ±0 included), biased to interesting ones. */
const f32Arb = fc.oneof(
  fc.float(),
  // overflow and underflow edges of both formats
  fc.constantFrom(
    65504, 65519, 65520, 65536, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -15 * 1.5,
    3.3895313892515355e38, 3.4028234663852886e38, 2 ** -126, 2 ** -133, 2 ** -149,
  ).chain((v) => fc.constantFrom(v, -v, Math.fround(v * (1 + 2 ** -23)), Math.fround(v * (1 - 2 ** -24)))),
  fc.integer({ min: 0, max: 0xffffffff }).map((b) => new Float32Array(new Uint32Array([b]).buffer)[0]),
  // halfway (and one float32 ulp either side) values of the bf16 grid: ties decide
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x7fff, 0x8000, 0x8001)).map(
    ([h, low]) => new Float32Array(new Uint32Array([((h << 16) | low) >>> 0]).buffer)[0]),
  // halfway and near-halfway values of the half grid, where rounding decides
  fc.integer({ min: 0, max: 0xffff }).chain((h) =>
    fc.constantFrom(-1, 0, 1).map((d) => {
      const lo = f16BitsToF32(h & 0x7bff);
      const hi = f16BitsToF32((h & 0x7bff) + 1);
      return Math.fround(Math.fround((lo + hi) / 2) + d * Math.abs(lo) * 2 ** -20);
    })),
);

test("f16: all 65536 half values round-trip through float32 exactly", () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16BitsToF32(h);
    const back = toF16Bits(v);
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      if (!Number.isNaN(v) || (back & 0x7c00) !== 0x7c00 || (back & 0x3ff) === 0)
        assert.unreachable(`NaN half 0x${h.toString(16)} -> ${v} -> 0x${back.toString(16)}`);
    } else if (back !== h || Math.fround(v) !== v) {
      assert.unreachable(`half 0x${h.toString(16)} -> ${v} -> 0x${back.toString(16)}`);
    }
  }
});

test("f16: f16BitsToF32 agrees with the IEEE formula on every finite half", () => {
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >>> 10) & 0x1f;
    if (e === 0x1f) continue;
    const m = h & 0x3ff;
    const mag = e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
    if (!Object.is(f16BitsToF32(h), h & 0x8000 ? -mag : mag)) assert.unreachable(`half 0x${h.toString(16)}`);
  }
});

test("f16: toF16Bits rounds to nearest even (float64 reference), overflow to inf, NaN to NaN", () => {
  fc.assert(
    fc.property(f32Arb, (v) => {
      const got = f16BitsToF32(toF16Bits(v));
      if (Number.isNaN(v)) return Number.isNaN(got);
      if (!Number.isFinite(v)) return got === v;
      return sameValue(got, f16Ref(v));
    }),
    { numRuns: 20000 },
  );
});

test("bf16: toBf16Bits rounds to nearest even (float64 reference), overflow to inf, NaN to NaN", () => {
  fc.assert(
    fc.property(f32Arb, (v) => {
      const bits = toBf16Bits(v);
      const got = bf16BitsToF32(bits);
      if (bits < 0 || bits > 0xffff) return false;
      if (Number.isNaN(v)) return Number.isNaN(got);
      if (!Number.isFinite(v)) return got === v;
      return sameValue(got, bf16Ref(v));
    }),
    { numRuns: 20000 },
  );
});

test("bf16: every bf16 value round-trips", () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = bf16BitsToF32(h);
    if (Number.isNaN(v)) {
      if (!Number.isNaN(bf16BitsToF32(toBf16Bits(v)))) assert.unreachable(`NaN bf16 0x${h.toString(16)}`);
    } else if (toBf16Bits(v) !== h) assert.unreachable(`bf16 0x${h.toString(16)}`);
  }
});

const matrixArb = fc
  .record({
    rows: fc.integer({ min: 1, max: 4 }),
    cols: fc.integer({ min: 1, max: 3 * INT8_BLOCK + 5 }),
    mag: fc.constantFrom(1e-30, 1e-3, 1, 1e4),
    zeroBlock: fc.boolean(),
  })
  .chain(({ rows, cols, mag, zeroBlock }) =>
    fc.float32Array({ minLength: rows * cols, maxLength: rows * cols, noNaN: true, noDefaultInfinity: true, min: -1, max: 1 })
      .map((w) => {
        const m = w.map((v) => v * mag);
        if (zeroBlock) m.fill(0, 0, Math.min(cols, INT8_BLOCK)); // an all-zero block: scale 0
        return { rows, cols, w: m };
      }));

test("int8: block scales, |q| <= 127, and |w - scale·q| <= scale/2 (also through roundWeights)", () => {
  fc.assert(
    fc.property(matrixArb, ({ rows, cols, w }) => {
      const { q, scales } = quantizeInt8(w, rows, cols);
      const nb = Math.ceil(cols / INT8_BLOCK);
      const deq = roundWeights(w, rows, cols, "int8");
      for (let r = 0; r < rows; r++)
        for (let b = 0; b < nb; b++) {
          const lo = r * cols + b * INT8_BLOCK;
          const hi = Math.min(lo + INT8_BLOCK, (r + 1) * cols); // a row's tail forms a shorter block
          let amax = 0;
          for (let i = lo; i < hi; i++) amax = Math.max(amax, Math.abs(w[i]));
          const scale = scales[r * nb + b];
          if (scale !== Math.fround(amax / 127)) return false;
          for (let i = lo; i < hi; i++) {
            if (Math.abs(q[i]) > 127) return false;
            if (Math.abs(w[i] - scale * q[i]) > (scale / 2) * (1 + 1e-6) + 127 * 2 ** -149) return false;
            if (deq[i] !== Math.fround(scale * q[i])) return false;
          }
        }
      return true;
    }),
    { numRuns: 300 },
  );
});

test("roundWeights f16 / bf16 / f32 apply the scalar conversions element-wise", () => {
  fc.assert(
    fc.property(fc.float32Array({ minLength: 1, maxLength: 40 }), (w) => {
      const f16 = roundWeights(w, 1, w.length, "f16");
      const bf16 = roundWeights(w, 1, w.length, "bf16");
      const f32 = roundWeights(w, 1, w.length, "f32");
      for (let i = 0; i < w.length; i++) {
        if (!sameValue(f16[i], f16BitsToF32(toF16Bits(w[i])))) return false;
        if (!sameValue(bf16[i], bf16BitsToF32(toBf16Bits(w[i])))) return false;
        if (!sameValue(f32[i], w[i])) return false;
      }
      return f32 !== w; // a copy, not the caller's array
    }),
    { numRuns: 300 },
  );
});

test.run();
