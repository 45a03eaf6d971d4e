// The shared op-parity suite of the S4 ops (kernels/backend.ts S4Ops): every backend's ops against
// the cpu reference (kernels/cpu/s4*.ts, fft.ts; float64 inside) on random shapes with odd sizes —
// state sizes M and lengths that are not powers of two, Cc > 1, rank R >= 1, T = 0 and 1 — with
// operands made the way the models make them (core/models/s4-ssm.ts: ZOH and bilinear
// discretisations of random stable S4D systems, the DPLR step operands E, D, W and C̃ of random
// S4 systems). Used by test/wasm-s4.test.ts and test/gpu-s4.test.ts with their own tolerances.
import fc from "fast-check";
import type { Test } from "uvu";
import type { S4Activation, S4Ops } from "../../kernels/backend.ts";
import { cpuS4Ops } from "../../kernels/cpu/s4.ts";
import { nextPowerOfTwo } from "../../kernels/cpu/fft.ts";
import { discretizeDiag, dplrCtilde, dplrSystem, kernelWeights } from "../../core/models/s4-ssm.ts";
import { rand, within, U32 } from "./op-parity.ts";
import { randomSsmParams } from "./s4-dense.ts";

export interface S4Tolerances {
  /** diagScan: |Δ| <= diag·(1 + max|ref|) for y and for the final state. */
  diag: number;
  /** dplrScan: the same with this factor. */
  dplr: number;
  /** vandermondeKernel: |Δ| <= vandermonde(L)·max(1, max|ref|). */
  vandermonde: (L: number) => number;
  /** cauchyKernel, per output row r (one (b, c, h), length L):
   *  |Δ[r, l]| <= cauchy.sum·2M·‖ref[r, :]‖₁ + cauchy.floor·max(1, max|ref|) — a float32 Cauchy sum over
   *  2M poles and an inverse DFT over L points err in proportion to the row's own magnitude. */
  cauchy: { sum: number; floor: number };
  /** fftConv: |Δ[t, c·H+h]| <= conv·(log2 n + 2)·‖u[:, h]‖₂·‖k[c, h, :T]‖₂ + 2u·|kState| + 1e-30,
   *  n = the power of two >= T + taps − 1 (a float32 FFT's error bound; a direct sum is within it). */
  conv: number;
  /** layerNorm: |Δ| <= layerNorm·(|ref| + |weight|) + 1e-6. */
  layerNorm: number;
  /** activation and glu: |Δ| <= pointwise·|ref| + 1e-6. */
  pointwise: number;
}

export interface S4SuiteOptions {
  runs: number;
  /** Largest sizes generated (the GPU suites run smaller ones on SwiftShader). */
  max: { H: number; M: number; T: number; L: number; Cc: number; R: number };
  tol: S4Tolerances;
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

const ACTS: S4Activation[] = ["gelu", "id", "tanh", "relu", "elu", "silu", "sigmoid", "softplus"];

/** Registers one uvu test per op; `backends` run the op, the cpu reference gives the expected values. */
export function registerS4Parity(test: Test, backends: [string, S4Ops][], o: S4SuiteOptions): void {
  const { max, tol } = o;
  const runs = { numRuns: o.runs, includeErrorInReport: true };
  const diagSpec = fc.record({
    disc: fc.constantFrom("zoh" as const, "bilinear" as const),
    H: fc.integer({ min: 1, max: max.H }),
    M: fc.integer({ min: 1, max: max.M }),
    Cc: fc.integer({ min: 1, max: max.Cc }),
    dtMax: fc.double({ min: -2.5, max: 0, noNaN: true }),
    seed: fc.integer(),
  });
  const dplrSpec = fc.record({
    H: fc.integer({ min: 1, max: max.H }),
    M: fc.integer({ min: 1, max: max.M }),
    Cc: fc.integer({ min: 1, max: max.Cc }),
    R: fc.integer({ min: 1, max: max.R }),
    dtMax: fc.double({ min: -2.5, max: 0, noNaN: true }),
    seed: fc.integer(),
  });
  const scaled = (what: string, got: Float32Array, want: Float32Array, t: number) => {
    const m = maxAbs(want);
    within(what, got, want, () => t * (1 + m));
  };

  test("diagScan == cpu reference: y and final state (ZOH and bilinear, Cc >= 1, T = 0, 1 and prefill, skipOutput)", () => {
    fc.assert(
      fc.property(diagSpec, fc.integer({ min: 0, max: max.T }), fc.boolean(), fc.boolean(), (s, T, skip, fromZero) => {
        const p = randomSsmParams({ ...s, kind: "diag", R: 0 });
        const { dA, dB, dC } = discretizeDiag(p);
        const { H, M, Cc } = p;
        const u = rand(s.seed, T * H, -2, 2);
        const x0 = fromZero ? new Float32Array(H * M * 2) : rand(s.seed + 1, H * M * 2);
        const sRef = x0.slice();
        const want = cpuS4Ops.diagScan({ T, H, M, Cc, dA, dB, dC, u, state: sRef, skipOutput: skip });
        for (const [label, b] of backends) {
          const st = x0.slice();
          const got = b.diagScan({ T, H, M, Cc, dA, dB, dC, u, state: st, skipOutput: skip });
          const what = `${label} diagScan ${p.disc} T${T} H${H} M${M} Cc${Cc}${skip ? " skip" : ""}`;
          scaled(`${what} y`, got, want, tol.diag);
          scaled(`${what} state`, st, sRef, tol.diag);
        }
      }),
      runs,
    );
  });

  test("dplrScan == cpu reference: y and final state (rank R >= 1, Cc >= 1, odd M)", () => {
    fc.assert(
      fc.property(dplrSpec, fc.integer({ min: 0, max: max.T }), fc.boolean(), (s, T, skip) => {
        const p = randomSsmParams({ ...s, kind: "dplr", disc: "bilinear" });
        const { E, D, B, P, W, dC } = dplrSystem(p);
        const { H, M, Cc, R } = p;
        const u = rand(s.seed, T * H, -2, 2);
        const x0 = rand(s.seed + 1, H * M * 2, -0.5, 0.5);
        const sRef = x0.slice();
        const want = cpuS4Ops.dplrScan({ T, H, M, R, Cc, E, D, B, P, W, dC, u, state: sRef, skipOutput: skip });
        for (const [label, b] of backends) {
          const st = x0.slice();
          const got = b.dplrScan({ T, H, M, R, Cc, E, D, B, P, W, dC, u, state: st, skipOutput: skip });
          const what = `${label} dplrScan T${T} H${H} M${M} R${R} Cc${Cc}${skip ? " skip" : ""}`;
          scaled(`${what} y`, got, want, tol.dplr);
          scaled(`${what} state`, st, sRef, tol.dplr);
        }
      }),
      runs,
    );
  });

  test("vandermondeKernel == cpu reference (ZOH and bilinear dA, any L, with and without an initial state)", () => {
    fc.assert(
      fc.property(diagSpec, fc.integer({ min: 1, max: max.L }), fc.boolean(), (s, L, withState) => {
        const p = randomSsmParams({ ...s, kind: "diag", R: 0 });
        const sys = discretizeDiag(p);
        const { H, M, Cc } = p;
        const v = withState ? sys.dC : kernelWeights(sys, Cc, H, M);
        const x0 = withState ? rand(s.seed + 2, H * M * 2) : undefined;
        const want = cpuS4Ops.vandermondeKernel({ Cc, H, M, L, v, z: sys.dA, x0 });
        for (const [label, b] of backends) {
          const got = b.vandermondeKernel({ Cc, H, M, L, v, z: sys.dA, x0 });
          const m = Math.max(1, maxAbs(want));
          within(`${label} vandermonde ${p.disc} L${L} H${H} M${M} Cc${Cc}${withState ? " x0" : ""}`, got, want, () => tol.vandermonde(L) * m);
        }
      }),
      runs,
    );
  });

  test("cauchyKernel == cpu reference (rank R >= 1, Cc >= 1, odd and even L, with the state response)", () => {
    fc.assert(
      fc.property(dplrSpec, fc.integer({ min: 1, max: max.L }), fc.boolean(), (s, L, withState) => {
        const p = randomSsmParams({ ...s, kind: "dplr", disc: "bilinear" });
        const sys = dplrSystem(p);
        const { H, M, Cc, R } = p;
        const Ct = Float32Array.from(dplrCtilde(p, L));
        const x0 = withState ? rand(s.seed + 3, H * M * 2, -0.5, 0.5) : undefined;
        const args = { Cc, H, M, R, L, dt: sys.dt, lambda: sys.lambda, P: sys.P, B: sys.B, Ct, x0 };
        const want = cpuS4Ops.cauchyKernel(args);
        const floor = tol.cauchy.floor * Math.max(1, maxAbs(want));
        const bound = Array.from({ length: want.length / L }, (_, r) => {
          let l1 = 0;
          for (let l = 0; l < L; l++) l1 += Math.abs(want[r * L + l]);
          return tol.cauchy.sum * 2 * M * l1 + floor;
        });
        for (const [label, b] of backends) {
          const got = b.cauchyKernel(args);
          within(`${label} cauchy L${L} H${H} M${M} R${R} Cc${Cc}${withState ? " x0" : ""}`, got, want, (i) => bound[Math.floor(i / L)]);
        }
      }),
      runs,
    );
  });

  test("fftConv == cpu reference (lengths not powers of two, taps longer and shorter than T, Cc >= 1, state response)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: max.T }), fc.integer({ min: 1, max: max.H }), fc.integer({ min: 1, max: max.Cc }),
        fc.integer({ min: 1, max: max.L }), fc.boolean(), fc.integer({ min: 0, max: 5 }), fc.integer(),
        (T, H, Cc, Lk, withState, extra, seed) => {
          const u = rand(seed, T * H, -2, 2);
          const k = rand(seed + 1, Cc * H * Lk);
          const Ls = T + extra;
          const kState = withState ? rand(seed + 2, Cc * H * Ls) : undefined;
          const want = cpuS4Ops.fftConv({ T, H, Cc, Lk, u, k, kState, Ls });
          const taps = Math.min(Lk, T);
          const n = T ? nextPowerOfTwo(T + taps - 1) : 1;
          const CH = Cc * H;
          const bound = new Float64Array(T * CH);
          for (let c = 0; c < Cc; c++)
            for (let h = 0; h < H; h++) {
              let nu = 0, nk = 0;
              for (let t = 0; t < T; t++) nu += u[t * H + h] ** 2;
              for (let j = 0; j < taps; j++) nk += k[(c * H + h) * Lk + j] ** 2;
              // float32 FFT error relative to ‖u‖·‖k‖ (wasm: observed up to 0.7u·log2 n over 3,000 cases, bench/fft-conv-accuracy.ts
              // once u and k are balanced by a power of two before sharing one complex transform; before
              // that balance the error scaled with ‖u‖² + ‖k‖² and reached 65u·log2 n·‖u‖‖k‖)
              const b = tol.conv * (Math.log2(n) + 2) * Math.sqrt(nu * nk);
              for (let t = 0; t < T; t++) bound[t * CH + c * H + h] = b + (kState ? 2 * U32 * Math.abs(kState[(c * H + h) * Ls + t]) : 0) + 1e-30;
            }
          for (const [label, b] of backends) {
            const got = b.fftConv({ T, H, Cc, Lk, u, k, kState, Ls });
            within(`${label} fftConv T${T} H${H} Cc${Cc} Lk${Lk}${withState ? " kState" : ""}`, got, want, (i) => bound[i]);
          }
        },
      ),
      runs,
    );
  });

  test("layerNorm, activation (every kind), glu == cpu reference", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 70 }), fc.constantFrom(...ACTS), fc.boolean(), fc.integer(),
        (T, D, kind, inPlace, seed) => {
          const x = rand(seed, T * 2 * D, -8, 8);
          const w = rand(seed + 1, 2 * D, -2, 2), bias = rand(seed + 2, 2 * D);
          const wantLn = cpuS4Ops.layerNorm(x, T, 2 * D, w, bias, 1e-5);
          const wantAct = cpuS4Ops.activation(x.slice(), kind);
          const wantGlu = cpuS4Ops.glu(x, T, D);
          for (const [label, b] of backends) {
            const xi = x.slice();
            const ln = inPlace ? b.layerNorm(xi, T, 2 * D, w, bias, 1e-5, xi) : b.layerNorm(x, T, 2 * D, w, bias, 1e-5);
            if (inPlace && ln !== xi) throw new Error(`${label} layerNorm: did not return out`);
            within(`${label} layerNorm T${T} D${2 * D}`, ln, wantLn, (i) => tol.layerNorm * (Math.abs(wantLn[i]) + Math.abs(w[i % (2 * D)])) + 1e-6);
            const xa = x.slice();
            if (b.activation(xa, kind) !== xa) throw new Error(`${label} activation: not in place`);
            within(`${label} ${kind}`, xa, wantAct, (i) => tol.pointwise * Math.abs(wantAct[i]) + 1e-6);
            within(`${label} glu T${T} D${D}`, b.glu(x, T, D), wantGlu, (i) => tol.pointwise * Math.abs(wantGlu[i]) + 1e-6);
          }
        },
      ),
      runs,
    );
  });

  test("activations over their whole range, including tails and tiny inputs", () => {
    const x = new Float32Array(4001);
    for (let i = 0; i < x.length; i++) x[i] = Math.sign(i - 2000) * 10 ** (-8 + (10 * Math.abs(i - 2000)) / 2000) * (i % 3 === 0 ? 1 : 0.7);
    for (const kind of ACTS) {
      const want = cpuS4Ops.activation(x.slice(), kind);
      for (const [label, b] of backends) within(`${label} ${kind} range`, b.activation(x.slice(), kind), want, (i) => tol.pointwise * Math.abs(want[i]) + 1e-6);
    }
  });
}
