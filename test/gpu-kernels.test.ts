// Every op of the gpu (gpu.js webgpu mode) and webgpu (WGSL) backends equals the cpu reference
// (kernels/cpu, float64 accumulation) for random small shapes: odd sizes, several chunks and partial
// last chunks, groups, T = 1 (decode step). In CI both run on SwiftShader (software Vulkan).
//
// Tolerances (float32 GPU kernels against the float64 reference; u = 2^-24; GPU exp / inverseSqrt
// are a few ulp, not correctly rounded):
//   matmul (all dtypes)    |Δ| <= (cols + 4) u Σ_c |w x| + 1e-30  (weights take kernels/quant.ts values)
//   embed                  bit-exact
//   conv1d                 |Δ| <= 1e-5 (1 + Σ_k |w x| + |bias|); the carried window is bit-exact
//   ssdScan, selectiveScan |Δ| <= 2e-5 (1 + max|ref|) for y and the final state
//   rmsnorm, gatedRmsnorm  |Δ| <= 1e-5 |ref| + 1e-6
//   dtSoftplus, siluGate   |Δ| <= 1e-6 |ref| + 1e-6 (+ 1e-5 |y| for siluGate's product)
//   add                    bit-exact
import "./helpers/gpu.ts";
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { WeightDType } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { createGpuBackend, type GpuBackend } from "../kernels/gpu/index.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { U32, maxAbs, rand, sharedOpTests, ssdCase, within } from "./helpers/op-parity.ts";

const cpu = createCpuBackend();
const backends: [string, GpuBackend][] = [["webgpu (WGSL)", await createWebgpuBackend()], ["gpu (gpu.js)", await createGpuBackend()]];
const RUNS = { numRuns: 8 };
const u = U32;

test("the backends say what runs: the mode and the adapter", () => {
  for (const [label, b] of backends) {
    assert.ok(b.adapter.vendor || b.adapter.description, `${label}: adapter ${JSON.stringify(b.adapter)}`);
    assert.match(b.detail, b.name === "gpu" ? /^gpu\.js webgpu mode/ : /^WGSL compute shaders/);
  }
});

// T >= 2 runs webgpu's tiled shader (blocks of 16 tokens x 32 rows, cols in steps of 64): T up to 40
// gives up to three token blocks, rows up to 150 five row blocks, cols up to 150 three column tiles,
// each with a partial last one; the examples pin the edges (a single row or column, exact multiples,
// one past them, a last token block of 1 and of 5 tokens: its partly used groups of 4).
test("matmul equals the cpu reference (all dtypes, odd shapes, T = 1 and prefill)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 150 }),
      fc.constantFrom<WeightDType>("f32", "f16", "bf16", "int8"), fc.integer(),
      (T, rows, cols, dtype, seed) => {
        const w = rand(seed, rows * cols, -0.5, 0.5), x = rand(seed + 1, T * cols, -2, 2);
        const cm = cpu.matrix(w, rows, cols, dtype);
        const data = (cm as unknown as { data: Float32Array }).data;
        const want = cpu.matmul(x, T, cm);
        for (const [label, b] of backends) {
          const m = b.matrix(w, rows, cols, dtype);
          within(`${label} ${dtype} [${T}x${cols}]·[${rows}x${cols}]ᵀ`, b.matmul(x, T, m), want, (i) => {
            const t = Math.floor(i / rows), r = i % rows;
            let s = 0;
            for (let c = 0; c < cols; c++) s += Math.abs(data[r * cols + c] * x[t * cols + c]);
            return (cols + 4) * u * s * 1.01 + 1e-30;
          });
          b.release(m);
        }
      },
    ),
    {
      ...RUNS,
      examples: [[2, 1, 1, "f32", 1], [16, 64, 128, "f32", 2], [17, 33, 65, "f32", 3], [40, 130, 97, "bf16", 4], [33, 3, 150, "f32", 5], [1, 150, 100, "f32", 6],
        [5, 17, 64, "f16", 7], [21, 70, 40, "int8", 8]],
    },
  );
});

test("matmul writes into `out`; weights stay resident across calls; embed is exact", () => {
  const rows = 11, cols = 37;
  const w = rand(3, rows * cols, -3, 3);
  for (const [label, b] of backends) {
    const m = b.matrix(w, rows, cols);
    const x = rand(4, 2 * cols);
    const want = cpu.matmul(x, 2, cpu.matrix(w, rows, cols));
    const out = new Float32Array(2 * rows + 1).fill(7);
    for (let rep = 0; rep < 2; rep++) {
      const got = b.matmul(x, 2, m, out);
      assert.ok(got === out, `${label}: returns out`);
      within(`${label} rep ${rep}`, got.subarray(0, 2 * rows), want, (i) => 1e-5 * (1 + Math.abs(want[i])));
      assert.is(out[2 * rows], 7);
    }
    const ids = [0, 10, 3, 3];
    for (const dtype of ["f32", "f16", "bf16", "int8"] as WeightDType[]) {
      const em = b.matrix(w, rows, cols, dtype);
      within(`${label} embed ${dtype}`, b.embed(ids, em), cpu.embed(ids, cpu.matrix(w, rows, cols, dtype)), () => 0);
    }
    assert.throws(() => b.embed([rows], m), /outside/);
  }
});

test("ssdScan: token by token equals one chunked call; writes into out", () => {
  const T = 9, H = 4, P = 3, G = 2, N = 5;
  for (const [label, b] of backends) {
    const whole = ssdCase(11, T, H, P, G, N, 4);
    const out = new Float32Array(T * H * P);
    assert.ok(b.ssdScan({ ...whole, out }) === out);
    const steps = ssdCase(11, T, H, P, G, N, 4);
    const cut = (a: Float32Array, per: number, t: number) => a.subarray(t * per, (t + 1) * per);
    const ys = new Float32Array(T * H * P);
    for (let t = 0; t < T; t++)
      ys.set(b.ssdScan({ ...steps, T: 1, x: cut(steps.x, H * P, t), dt: cut(steps.dt, H, t), B: cut(steps.B, G * N, t), C: cut(steps.C, G * N, t) }), t * H * P);
    within(`${label} token by token`, ys, out, () => 2e-5 * (1 + maxAbs(out)));
    within(`${label} state`, steps.state, whole.state, () => 2e-5 * (1 + maxAbs(whole.state)));
  }
});

test("selectiveScan equals the cpu reference", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 17 }), fc.oneof(fc.constant(16), fc.integer({ min: 1, max: 9 })), fc.integer(), (T, D, N, seed) => {
      const mk = () => ({
        T, D, N, x: rand(seed, T * D, -2, 2), dt: rand(seed + 1, T * D, 0.001, 0.4), A: rand(seed + 2, D * N, -8, -0.05),
        B: rand(seed + 3, T * N), C: rand(seed + 4, T * N), Dskip: rand(seed + 5, D), state: rand(seed + 6, D * N, -0.5, 0.5),
      });
      const ref = mk();
      const want = cpu.selectiveScan(ref);
      for (const [label, b] of backends) {
        const a = mk();
        within(`${label} selective y T${T} D${D} N${N}`, b.selectiveScan(a), want, () => 2e-5 * (1 + maxAbs(want)));
        within(`${label} selective state`, a.state, ref.state, () => 2e-5 * (1 + maxAbs(ref.state)));
      }
    }),
    RUNS,
  );
});

sharedOpTests(test, cpu, backends, RUNS, { conv: { T: 9, C: 33, K: 5 }, ssd: { T: 24, G: 2, P: 7, N: 11, Q: 9 }, norm: { T: 5, ngroups: 3, gs: 90 } });

test.after(() => {
  for (const [, b] of backends) b.dispose();
});

test.run();
