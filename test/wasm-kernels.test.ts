// Every wasm op equals the cpu reference (kernels/cpu, float64 accumulation) within stated
// tolerances, for random shapes with odd sizes, tails that are not multiples of the SIMD width,
// chunk boundaries, single-threaded and multi-threaded (3 threads, every kernel split however small).
//
// Tolerances (float32 kernels against a float64 reference; u = 2^-24):
//   matmul f32/f16/bf16   |Δ| <= (cols + 4) u Σ_k |w x|        (worst-case float32 summation bound)
//   matmul int8           the same, plus Σ_k |w_k| s_b / 2 where s_b = max|x in block b| / 32767
//                         (activations are quantized to int16 per block of 32)
//   embed                 bit-exact (weights take exactly the values of kernels/quant.ts)
//   conv1d                |Δ| <= 1e-5 (1 + Σ_k |w x| + |bias|); the carried window is bit-exact
//   ssdScan, selectiveScan |Δ| <= 2e-5 (1 + max|ref|) for y and for the final state
//   rmsnorm, gatedRmsnorm |Δ| <= 1e-5 |ref| + 1e-6
//   dtSoftplus, siluGate  |Δ| <= 1e-6 |ref| + 1e-6 (+ 1e-5 |y| for siluGate's product)
//   add                   bit-exact
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Backend, Matrix, WeightDType } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { INT8_BLOCK } from "../kernels/quant.ts";
import { createWasmBackend, type WasmBackend } from "../kernels/wasm/index.ts";
import { U32, maxAbs, rand, sharedOpTests, ssdCase, within } from "./helpers/op-parity.ts";

const cpu = createCpuBackend();
const wasm1 = await createWasmBackend({ threads: 1, shared: false, warmUp: false });
const wasm3 = await createWasmBackend({ threads: 3, grain: "fine", warmUp: false });
const backends: [string, WasmBackend][] = [["1 thread (single build)", wasm1], ["3 threads", wasm3]];
const RUNS = { numRuns: 30 };
const u = U32;

const dtypes: WeightDType[] = ["f32", "f16", "bf16", "int8"];

/** Per-output tolerance of a float32 matmul against the float64 reference (see the header). */
function matmulBound(x: Float32Array, T: number, m: Matrix, dtype: WeightDType): Float64Array {
  const { rows, cols } = m;
  const data = (m as unknown as { data: Float32Array }).data; // the cpu matrix: the stored weight values
  const bound = new Float64Array(T * rows);
  const nb = Math.ceil(cols / INT8_BLOCK);
  for (let t = 0; t < T; t++) {
    const amax = new Float64Array(nb);
    for (let c = 0; c < cols; c++) amax[Math.floor(c / INT8_BLOCK)] = Math.max(amax[Math.floor(c / INT8_BLOCK)], Math.abs(x[t * cols + c]));
    for (let r = 0; r < rows; r++) {
      let s = 0, q = 0;
      for (let c = 0; c < cols; c++) {
        const wv = Math.abs(data[r * cols + c]);
        s += wv * Math.abs(x[t * cols + c]);
        q += (wv * amax[Math.floor(c / INT8_BLOCK)]) / 32767 / 2;
      }
      bound[t * rows + r] = (cols + 4) * u * s * 1.01 + (dtype === "int8" ? q * 1.01 + (cols + 4) * u * s : 0) + 1e-30;
    }
  }
  return bound;
}

test("matmul equals the cpu reference (all dtypes, odd shapes, T = 1 and prefill tiles)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 130 }),
      fc.constantFrom(...dtypes), fc.integer(),
      (T, rows, cols, dtype, seed) => {
        const w = rand(seed, rows * cols, -0.5, 0.5);
        const x = rand(seed + 1, T * cols, -2, 2);
        const want = cpu.matmul(x, T, cpu.matrix(w, rows, cols, dtype));
        const bound = matmulBound(x, T, cpu.matrix(w, rows, cols, dtype), dtype);
        for (const [label, b] of backends) {
          const m = b.matrix(w, rows, cols, dtype);
          within(`${label} ${dtype} [${T}x${cols}]·[${rows}x${cols}]ᵀ`, b.matmul(x, T, m), want, (i) => bound[i]);
          b.release(m);
        }
      },
    ),
    RUNS,
  );
});

test("matmul writes into `out` and splits large products across threads (auto grain)", async () => {
  const b2 = await createWasmBackend({ threads: 2, warmUp: false });
  const rows = 301, cols = 771, T = 7;
  const w = rand(5, rows * cols, -0.1, 0.1);
  const x = rand(6, T * cols);
  for (const dtype of dtypes) {
    const cm = cpu.matrix(w, rows, cols, dtype);
    const want = cpu.matmul(x, T, cm);
    const bound = matmulBound(x, T, cm, dtype);
    const out = new Float32Array(T * rows + 3).fill(7);
    const got = b2.matmul(x, T, b2.matrix(w, rows, cols, dtype), out);
    assert.ok(got === out, "returns the given out");
    within(`${dtype} auto-split`, got.subarray(0, T * rows), want, (i) => bound[i]);
    assert.is(out[T * rows], 7, "does not write past [T, rows]");
  }
  b2.dispose();
});

test("f16 matrices with values beyond the f16 range keep ±inf / NaN exactly (f32 layout)", () => {
  const rows = 5, cols = 7;
  const w = rand(9, rows * cols);
  w[3] = 70000;
  w[11] = -1e6;
  const x = rand(10, 2 * cols);
  const want = cpu.matmul(x, 2, cpu.matrix(w, rows, cols, "f16"));
  for (const [label, b] of backends) {
    const got = b.matmul(x, 2, b.matrix(w, rows, cols, "f16"));
    for (let i = 0; i < want.length; i++)
      assert.ok(Number.isFinite(want[i]) ? Math.abs(got[i] - want[i]) < 1e-5 : Object.is(got[i], want[i]), `${label} [${i}] ${got[i]} vs ${want[i]}`);
  }
});

test("embed returns exactly the stored weight values, including f16 subnormals, overflow and NaN", () => {
  const rows = 9, cols = 37;
  const w = rand(3, rows * cols, -3, 3);
  const special = [0, -0, 1e-5, -3e-6, 6.1e-5, 65504, 70000, -1e9, 1e-40, 0.1, NaN, 3.3895e38];
  special.forEach((v, i) => (w[2 * cols + i] = v));
  const ids = [0, 8, 2, 2, 5];
  for (const dtype of dtypes) {
    const wv = dtype === "int8" ? w.map((v) => (Number.isFinite(v) && Math.abs(v) < 1e6 ? v : 0)) : w;
    const want = cpu.embed(ids, cpu.matrix(wv, rows, cols, dtype));
    for (const [label, b] of backends) {
      const got = b.embed(ids, b.matrix(wv, rows, cols, dtype));
      for (let i = 0; i < want.length; i++)
        assert.ok(Object.is(got[i], want[i]), `${label} ${dtype} embed[${i}] = ${got[i]}, expected ${want[i]}`);
    }
  }
});

test("ssdScan: prefill in two calls (and token by token) equals one call; chunkSize does not change y", () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 1, max: 29 }), fc.integer({ min: 1, max: 16 }), fc.integer(), (T, split, Q, seed) => {
      const T1 = Math.min(split, T - 1);
      const H = 4, P = 5, G = 2, N = 7;
      for (const [label, b] of backends) {
        const whole = ssdCase(seed, T, H, P, G, N, Q);
        const yw = b.ssdScan(whole);
        const parts = ssdCase(seed, T, H, P, G, N, Q);
        const cut = (a: Float32Array, per: number, t0: number, t1: number) => a.subarray(t0 * per, t1 * per);
        const run = (t0: number, t1: number) =>
          b.ssdScan({ ...parts, T: t1 - t0, x: cut(parts.x, H * P, t0, t1), dt: cut(parts.dt, H, t0, t1), B: cut(parts.B, G * N, t0, t1), C: cut(parts.C, G * N, t0, t1) });
        const y = new Float32Array(T * H * P);
        y.set(run(0, T1), 0);
        y.set(run(T1, T), T1 * H * P);
        const tol = 2e-5 * (1 + maxAbs(yw));
        within(`${label} split at ${T1}`, y, yw, () => tol);
        within(`${label} split state`, parts.state, whole.state, () => 2e-5 * (1 + maxAbs(whole.state)));
        const steps = ssdCase(seed, T, H, P, G, N, Q);
        const ys = new Float32Array(T * H * P);
        for (let t = 0; t < T; t++)
          ys.set(b.ssdScan({ ...steps, T: 1, x: cut(steps.x, H * P, t, t + 1), dt: cut(steps.dt, H, t, t + 1), B: cut(steps.B, G * N, t, t + 1), C: cut(steps.C, G * N, t, t + 1) }), t * H * P);
        within(`${label} token by token`, ys, yw, () => tol);
        const other = ssdCase(seed, T, H, P, G, N, 1 + ((Q * 7) % 16));
        within(`${label} other chunk size`, b.ssdScan(other), yw, () => tol);
      }
    }),
    { numRuns: 15 },
  );
});

function selCase(seed: number, T: number, D: number, N: number) {
  return {
    T, D, N,
    x: rand(seed, T * D, -2, 2),
    dt: rand(seed + 1, T * D, 0.001, 0.4),
    A: rand(seed + 2, D * N, -8, -0.05),
    B: rand(seed + 3, T * N),
    C: rand(seed + 4, T * N),
    Dskip: rand(seed + 5, D),
    state: rand(seed + 6, D * N, -0.5, 0.5),
  };
}

test("selectiveScan equals the cpu reference (N = 16 register path and general N)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 25 }), fc.integer({ min: 1, max: 21 }), fc.oneof(fc.constant(16), fc.integer({ min: 1, max: 19 })), fc.integer(),
      (T, D, N, seed) => {
        const ref = selCase(seed, T, D, N);
        const want = cpu.selectiveScan(ref);
        const ys = 2e-5 * (1 + maxAbs(want)), ss = 2e-5 * (1 + maxAbs(ref.state));
        for (const [label, b] of backends) {
          const a = selCase(seed, T, D, N);
          within(`${label} selective y T${T} D${D} N${N}`, b.selectiveScan(a), want, () => ys);
          within(`${label} selective state`, a.state, ref.state, () => ss);
        }
      },
    ),
    RUNS,
  );
});

sharedOpTests(test, cpu, backends, RUNS, { conv: { T: 12, C: 45, K: 6 }, ssd: { T: 40, G: 3, P: 9, N: 13, Q: 12 }, norm: { T: 6, ngroups: 4, gs: 70 } });

test("ops use arrays from alloc() in place (states, outputs) and still give the reference results", async () => {
  const b = await createWasmBackend({ threads: 2, grain: "fine", warmUp: false });
  const copy = (a: Float32Array) => {
    const v = b.alloc(a.length);
    v.set(a);
    return v;
  };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (T, Q, seed) => {
      const H = 4, P = 6, G = 2, N = 9;
      const ref = ssdCase(seed, T, H, P, G, N, Q);
      const want = cpu.ssdScan(ref);
      const a = ssdCase(seed, T, H, P, G, N, Q);
      const state = copy(a.state), x = copy(a.x), out = b.alloc(T * H * P);
      const got = b.ssdScan({ ...a, x, state, out });
      assert.ok(got === out, "returns the wasm-resident out");
      within("in-place ssd y", out, want, () => 2e-5 * (1 + maxAbs(want)));
      within("in-place ssd state", state, ref.state, () => 2e-5 * (1 + maxAbs(ref.state)));
      // matmul whose out aliases its input: must not be computed in place
      const rows = 5, cols = 5;
      const w = rand(seed, rows * cols);
      const xs = copy(rand(seed + 9, T * cols));
      const wantY = cpu.matmul(xs.slice(), T, cpu.matrix(w, rows, cols));
      const gotY = b.matmul(xs, T, b.matrix(w, rows, cols), xs);
      within("matmul out aliasing x", gotY, wantY, (i) => 1e-5 * (1 + Math.abs(wantY[i])));
    }),
    { numRuns: 20 },
  );
  b.dispose();
});

test.after(() => {
  wasm1.dispose();
  wasm3.dispose();
});

test.run();

export type { Backend };
