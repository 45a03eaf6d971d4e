// Accuracy of the GPU cauchyKernel (float32 Cauchy sums, float32 inverse DFT) against the cpu reference
// (float64), as the worst per-element error over the bound test/gpu-s4.test.ts asserts:
//   |Δ[r, l]| <= 16u·2M·‖ref[r, :]‖₁ + 4u·max(1, max|ref|)     (u = 2^-24, r = one output row of length L)
// over random S4 systems made as the parity suite makes them (test/helpers/s4-parity.ts), including the
// case that failed CI under the old flat bound 2e-5·max(1, max|ref|). A ratio below 1 passes.
//   npx tsx bench/cauchy-accuracy.ts [--cases 500] [--backend webgpu|gpu]
import "../test/helpers/gpu.ts";
import { cpuS4Ops } from "../kernels/cpu/s4.ts";
import { createGpuBackend } from "../kernels/gpu/index.ts";
import { createWebgpuBackend } from "../kernels/webgpu/index.ts";
import { dplrCtilde, dplrSystem } from "../core/models/s4-ssm.ts";
import { mulberry32 } from "../core/models/random.ts";
import { rand } from "../test/helpers/op-parity.ts";
import { randomSsmParams } from "../test/helpers/s4-dense.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const cases = Number(opt("--cases", "500"));
const b = opt("--backend", "webgpu") === "gpu" ? await createGpuBackend() : await createWebgpuBackend();
const u = 2 ** -24;
const r = mulberry32(2024);
const pick = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
let worst = 0, worstOld = 0, at = "";
for (let c = 0; c < cases; c++) {
  // case 0: the CI counterexample; then random shapes up to twice the test's sizes
  const s = c === 0
    ? { H: 3, M: 7, Cc: 1, R: 1, dtMax: 0, seed: -811948225, L: 106, withState: false }
    : { H: pick(1, 5), M: pick(1, 18), Cc: pick(1, 3), R: pick(1, 3), dtMax: -2.5 * r(), seed: pick(-2e9, 2e9), L: pick(1, 300), withState: r() < 0.5 };
  const p = randomSsmParams({ ...s, kind: "dplr", disc: "bilinear" });
  const sys = dplrSystem(p);
  const x0 = s.withState ? rand(s.seed + 3, s.H * s.M * 2, -0.5, 0.5) : undefined;
  const args = { Cc: s.Cc, H: s.H, M: s.M, R: s.R, L: s.L, dt: sys.dt, lambda: sys.lambda, P: sys.P, B: sys.B, Ct: Float32Array.from(dplrCtilde(p, s.L)), x0 };
  const want = cpuS4Ops.cauchyKernel(args);
  const got = b.s4!.cauchyKernel(args);
  const m = Math.max(1, want.reduce((a, v) => Math.max(a, Math.abs(v)), 0));
  for (let row = 0; row < want.length / s.L; row++) {
    let l1 = 0;
    for (let l = 0; l < s.L; l++) l1 += Math.abs(want[row * s.L + l]);
    const bound = 16 * u * 2 * s.M * l1 + 4 * u * m;
    for (let l = 0; l < s.L; l++) {
      const d = Math.abs(got[row * s.L + l] - want[row * s.L + l]);
      worstOld = Math.max(worstOld, d / (2e-5 * m));
      if (d / bound > worst) [worst, at] = [d / bound, `case ${c}: H${s.H} M${s.M} Cc${s.Cc} R${s.R} L${s.L} dtMax ${s.dtMax.toFixed(2)}${s.withState ? " x0" : ""}`];
    }
  }
}
b.dispose();
console.log(`${b.name}, ${cases} cases: worst |Δ| / bound = ${worst.toFixed(3)} (${at}); against the old flat bound 2e-5·max(1, max|ref|): ${worstOld.toFixed(3)}`);
