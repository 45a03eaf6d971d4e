// The cpu S4 ops against naive or dense references: FFT of any length, FFT convolution, the
// Vandermonde (S4D) and Cauchy + Woodbury (S4, DPLR) kernels, and the pointwise ops.
//
// Tolerances (observed max in parentheses, over the fast-check runs)
// - fft vs the O(n²) DFT, both directions, n = 1..97: 1e-9 relative to the input's L1 norm (~1e-14).
// - fftConv vs the direct sum: 1e-5 scaled (float32 output; ~1e-7).
// - vandermondeKernel / cauchyKernel vs test/helpers/s4-dense.ts (dense 2M×2M matrices, explicit powers):
//   2e-5 relative to max |K| (float32 output and float32 operands; ~1e-6).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { fft, fftConv, irfftReal } from "../kernels/cpu/fft.ts";
import { cauchyKernel, vandermondeKernel } from "../kernels/cpu/s4-kernel.ts";
import { activation, erf, glu, layerNorm } from "../kernels/cpu/s4-pointwise.ts";
import { discretizeDiag, kernelWeights } from "../core/models/s4-ssm.ts";
import { fillNormal, mulberry32 } from "../core/models/random.ts";
import { denseCtilde, denseKernel, denseSystem, randomSsmParams } from "./helpers/s4-dense.ts";

const relErr = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let d = 0, m = 1e-30;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return got.length === want.length ? d / m : Infinity;
};

test("fft of any length (radix-2 and Bluestein) == naive DFT, forward and inverse", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 97 }), fc.boolean(), fc.integer(), (n, inverse, seed) => {
      const r = mulberry32(seed);
      const xr = Float64Array.from({ length: n }, () => r() - 0.5);
      const xi = Float64Array.from({ length: n }, () => r() - 0.5);
      const re = xr.slice(), im = xi.slice();
      fft(re, im, inverse);
      const s = inverse ? 1 : -1;
      let norm = 0;
      for (let j = 0; j < n; j++) norm += Math.abs(xr[j]) + Math.abs(xi[j]);
      for (let k = 0; k < n; k++) {
        let wr = 0, wi = 0;
        for (let j = 0; j < n; j++) {
          const a = (s * 2 * Math.PI * ((j * k) % n)) / n;
          wr += xr[j] * Math.cos(a) - xi[j] * Math.sin(a);
          wi += xr[j] * Math.sin(a) + xi[j] * Math.cos(a);
        }
        if (Math.abs(wr - re[k]) > 1e-9 * norm || Math.abs(wi - im[k]) > 1e-9 * norm) return false;
      }
      return true;
    }),
    { numRuns: 120 },
  );
});

test("irfftReal inverts the real DFT for odd and even lengths", () => {
  for (const L of [1, 2, 3, 7, 8, 12, 31]) {
    const x = Float64Array.from({ length: L }, (_, i) => Math.sin(i * 1.7) + i / 10);
    const half = Math.floor(L / 2);
    const sr = new Float64Array(half + 1), si = new Float64Array(half + 1);
    for (let k = 0; k <= half; k++)
      for (let j = 0; j < L; j++) {
        sr[k] += x[j] * Math.cos((2 * Math.PI * j * k) / L);
        si[k] -= x[j] * Math.sin((2 * Math.PI * j * k) / L);
      }
    assert.ok(relErr(irfftReal(sr, si, L), x) < 1e-12, `L = ${L}`);
  }
});

test("fftConv == direct causal convolution (+ state response), any T and kernel length", () => {
  fc.assert(
    fc.property(
      fc.record({ T: fc.integer({ min: 1, max: 40 }), H: fc.integer({ min: 1, max: 3 }), Cc: fc.integer({ min: 1, max: 2 }), Lk: fc.integer({ min: 1, max: 50 }), withState: fc.boolean(), seed: fc.integer() }),
      ({ T, H, Cc, Lk, withState, seed }) => {
        const r = mulberry32(seed);
        const u = fillNormal(new Float32Array(T * H), r, 1);
        const k = fillNormal(new Float32Array(Cc * H * Lk), r, 1);
        const Ls = T + 3;
        const kState = withState ? fillNormal(new Float32Array(Cc * H * Ls), r, 1) : undefined;
        const y = fftConv({ T, H, Cc, Lk, u, k, kState, Ls });
        const want = new Float64Array(T * Cc * H);
        for (let t = 0; t < T; t++)
          for (let c = 0; c < Cc; c++)
            for (let h = 0; h < H; h++) {
              let s = kState ? kState[(c * H + h) * Ls + t] : 0;
              for (let j = 0; j <= Math.min(t, Lk - 1); j++) s += k[(c * H + h) * Lk + j] * u[(t - j) * H + h];
              want[t * Cc * H + c * H + h] = s;
            }
        return relErr(y, want) < 1e-5;
      },
    ),
    { numRuns: 80 },
  );
});

const ssmArb = (kind: "diag" | "dplr") =>
  fc.record({
    kind: fc.constant(kind),
    disc: kind === "diag" ? fc.constantFrom("zoh" as const, "bilinear" as const) : fc.constant("bilinear" as const),
    H: fc.integer({ min: 1, max: 2 }),
    M: fc.integer({ min: 1, max: 4 }),
    Cc: fc.integer({ min: 1, max: 2 }),
    R: fc.integer({ min: 1, max: 2 }),
    dtMax: fc.double({ min: -2, max: 0, noNaN: true }),
    seed: fc.integer(),
  });

test("vandermondeKernel (S4D, zoh and bilinear) == dense 2M×2M system", () => {
  fc.assert(
    fc.property(ssmArb("diag"), fc.integer({ min: 1, max: 40 }), (spec, L) => {
      const p = randomSsmParams(spec);
      const sys = discretizeDiag(p);
      const K = vandermondeKernel({ Cc: p.Cc, H: p.H, M: p.M, L, v: kernelWeights(sys, p.Cc, p.H, p.M), z: sys.dA });
      return relErr(K, denseKernel(p, L)) < 2e-5;
    }),
    { numRuns: 60 },
  );
});

test("cauchyKernel (S4 DPLR, Woodbury rank 1 and 2, odd and even L) == dense 2M×2M system", () => {
  fc.assert(
    fc.property(ssmArb("dplr"), fc.integer({ min: 1, max: 40 }), fc.boolean(), (spec, L, withState) => {
      const p = randomSsmParams(spec);
      const { H, M, Cc, R } = p;
      const r = mulberry32(spec.seed ^ 0x5eed);
      const x0 = withState ? fillNormal(new Float32Array(H * M * 2), r, 1) : undefined;
      const out = cauchyKernel({
        Cc, H, M, R, L,
        dt: Float32Array.from({ length: H }, (_, h) => p.dt[h * M]),
        lambda: Float32Array.from(p.A), P: Float32Array.from(p.P!), B: Float32Array.from(p.B),
        Ct: Float32Array.from(denseCtilde(p, L)), x0,
      });
      if (relErr(out.subarray(0, Cc * H * L), denseKernel(p, L)) >= 2e-5) return false;
      if (!x0) return out.length === Cc * H * L;
      // state response: y_l = Re(C·Ā^(l+1)·x0) over the full (conjugate-extended) state
      const want = new Float64Array(Cc * H * L);
      for (let h = 0; h < H; h++) {
        const { Ab, C } = denseSystem(p, h);
        const N = 2 * M;
        let vr = new Float64Array(N), vi = new Float64Array(N);
        for (let m = 0; m < M; m++) {
          vr[m] = vr[M + m] = x0[2 * (h * M + m)];
          vi[m] = x0[2 * (h * M + m) + 1];
          vi[M + m] = -vi[m];
        }
        for (let l = 0; l < L; l++) {
          const nr = new Float64Array(N), ni = new Float64Array(N);
          for (let i = 0; i < N; i++)
            for (let j = 0; j < N; j++) {
              nr[i] += Ab.re[i * N + j] * vr[j] - Ab.im[i * N + j] * vi[j];
              ni[i] += Ab.re[i * N + j] * vi[j] + Ab.im[i * N + j] * vr[j];
            }
          vr = nr;
          vi = ni;
          for (let c = 0; c < Cc; c++) {
            let s = 0;
            for (let n = 0; n < N; n++) s += C[c].re[n] * vr[n] - C[c].im[n] * vi[n];
            want[(c * H + h) * L + l] = s;
          }
        }
      }
      return relErr(out.subarray(Cc * H * L), want) < 2e-5;
    }),
    { numRuns: 50 },
  );
});

test("erf / GELU match reference values; LayerNorm and GLU", () => {
  // erf values from Abramowitz & Stegun table 7.1 / high-precision sources
  const cases: [number, number][] = [[0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [2.5, 0.9995930479825550], [3, 0.9999779095030014], [-1.5, -0.9661051464753108]];
  for (const [x, want] of cases) assert.ok(Math.abs(erf(x) - want) < 1e-14, `erf(${x}) = ${erf(x)}`);
  const g = activation(Float32Array.of(-3, -1, 0, 1, 3), "gelu");
  const gw = [-0.0040496, -0.1586553, 0, 0.8413447, 2.9959503];
  gw.forEach((v, i) => assert.ok(Math.abs(g[i] - v) < 1e-6, `gelu[${i}] = ${g[i]}`));
  const ln = layerNorm(Float32Array.of(1, 2, 3, 4), 1, 4, Float32Array.of(1, 1, 2, 2), Float32Array.of(0, 0, 0, 1), 0);
  const s = Math.sqrt(1.25);
  [-1.5 / s, -0.5 / s, 1 / s, 3 / s + 1].forEach((v, i) => assert.ok(Math.abs(ln[i] - v) < 1e-6));
  const y = glu(Float32Array.of(2, 3, 0, 100), 1, 2);
  assert.ok(Math.abs(y[0] - 1) < 1e-7 && Math.abs(y[1] - 3) < 1e-6);
});

test.run();
