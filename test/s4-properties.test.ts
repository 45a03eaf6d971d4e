// S4 / S4D: the convolution mode and the recurrent mode are the same function.
//
// For random state sizes, lengths, dt, both discretisations, S4D (diagonal) and S4 (DPLR, rank 1-2):
//   FFT convolution from the zero state  ==  stepping one token at a time  ==  chunked continuation
//   (random cuts, random kernel lengths, conv and recurrent pieces mixed, state carried across cuts),
// outputs and final states. Plus: the DPLR C̃ <-> C bookkeeping, and S4D with a real diagonal ==
// the Mamba-1 selective scan (kernels/cpu/selective-scan.ts) with constant dt — two families, one function.
//
// Tolerances (scaledMaxDiff: max |a − b| / max(1, max |a|); observed max in parentheses)
// - conv vs recurrent: 2e-5 (S4D ~2e-7, DPLR ~4e-6 over 400 random cases): kernels and FFTs are float64
//   inside, but their operands (dA, dB; for DPLR the step's E = 2/dt + Λ, D = 1/(2/dt − Λ), W) and the
//   state between chunks are float32; the DPLR step forms Ā from E and D (|E| up to ~2/dt), so it
//   rounds ~20× more than the diagonal one.
// - final states: 1e-5 (~2e-7): the same float64 recurrence, rounded to float32 at each cut.
// - C̃ -> C -> C̃ and C̃ vs the dense reference: 1e-9 relative (float64 throughout, ~1e-13).
// - S4D-real vs selective scan: 1e-5 (~1e-7): both float64 inside; the inputs differ by float32 rounding
//   of the folded B (B_mamba = B·(exp(dt a) − 1)/(dt a)).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { SsmLayer } from "../core/models/s4.ts";
import { discretizeDiag, dplrCtilde, dplrRecoverC, type SsmParams } from "../core/models/s4-ssm.ts";
import { cpuS4Ops } from "../kernels/cpu/s4.ts";
import { selectiveScan } from "../kernels/cpu/selective-scan.ts";
import { fillNormal, mulberry32 } from "../core/models/random.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";
import { denseCtilde, randomSsmParams, type RandomSsmSpec } from "./helpers/s4-dense.ts";

const specArb: fc.Arbitrary<RandomSsmSpec> = fc.record({
  kind: fc.constantFrom("diag" as const, "dplr" as const),
  disc: fc.constantFrom("zoh" as const, "bilinear" as const),
  H: fc.integer({ min: 1, max: 3 }),
  M: fc.integer({ min: 1, max: 8 }),
  Cc: fc.integer({ min: 1, max: 2 }),
  R: fc.integer({ min: 1, max: 2 }),
  dtMax: fc.double({ min: -2.5, max: 0, noNaN: true }),
  seed: fc.integer(),
});

function inputs(p: SsmParams, T: number, seed: number) {
  const r = mulberry32(seed);
  return { u: fillNormal(new Float32Array(T * p.H), r, 1), x0: fillNormal(new Float32Array(p.H * p.M * 2), r, 0.5) };
}

/** Steps one token at a time (T = 1 calls) from `state`. */
function stepwise(layer: SsmLayer, u: Float32Array, T: number, state: Float32Array): Float32Array {
  const { H, Cc } = layer;
  const y = new Float32Array(T * Cc * H);
  for (let t = 0; t < T; t++) y.set(layer.recurrent(u.subarray(t * H, (t + 1) * H), 1, state), t * Cc * H);
  return y;
}

test("FFT convolution from the zero state == recurrent stepping (S4D zoh / bilinear, S4 DPLR)", () => {
  fc.assert(
    fc.property(specArb, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 16 }), (spec, T, extra) => {
      const p = randomSsmParams(spec);
      const layer = new SsmLayer(p, cpuS4Ops);
      const { u } = inputs(p, T, spec.seed);
      const sRec = layer.newState();
      const yRec = stepwise(layer, u, T, sRec);
      const sConv = layer.newState();
      const yConv = layer.conv(u, T, sConv, T + extra); // one chunk: the kernel may be longer than T
      const dy = scaledMaxDiff(yConv, yRec);
      const ds = scaledMaxDiff(sConv, sRec);
      if (!(dy <= 2e-5 && ds <= 1e-5)) throw new Error(`${spec.kind}/${p.disc} T=${T}: outputs ${dy}, states ${ds}`);
      return true;
    }),
    { numRuns: 60 },
  );
});

test("chunked continuation from a carried state (random cuts, kernel lengths, conv and recurrent pieces) == one recurrent pass", () => {
  const arb = specArb.chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      T: fc.integer({ min: 1, max: 60 }),
      cuts: fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 5 }),
      chunk: fc.integer({ min: 1, max: 24 }),
      modes: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    }),
  );
  fc.assert(
    fc.property(arb, ({ spec, T, cuts, chunk, modes }) => {
      const p = randomSsmParams(spec);
      const layer = new SsmLayer(p, cpuS4Ops);
      const { u, x0 } = inputs(p, T, spec.seed);
      const sWhole = x0.slice();
      const yWhole = layer.recurrent(u, T, sWhole);
      const bounds = [0, ...cuts.filter((c) => c < T).sort((a, b) => a - b), T];
      const s = x0.slice();
      const y = new Float32Array(T * p.Cc * p.H);
      for (let i = 0; i + 1 < bounds.length; i++) {
        const [a, b] = [bounds[i], bounds[i + 1]];
        const piece = u.subarray(a * p.H, b * p.H);
        const out = modes[i] ? layer.conv(piece, b - a, s, chunk) : layer.recurrent(piece, b - a, s);
        y.set(out, a * p.Cc * p.H);
      }
      const dy = scaledMaxDiff(y, yWhole);
      const ds = scaledMaxDiff(s, sWhole);
      if (!(dy <= 2e-5 && ds <= 1e-5)) throw new Error(`${spec.kind}/${p.disc} T=${T} chunk=${chunk}: outputs ${dy}, states ${ds}`);
      return true;
    }),
    { numRuns: 60 },
  );
});

test("DPLR: C̃ = C(I − Ā^L) matches the dense reference, and the true C is recovered from C̃", () => {
  fc.assert(
    fc.property(specArb, fc.integer({ min: 1, max: 48 }), (spec, L) => {
      const p = randomSsmParams({ ...spec, kind: "dplr", M: Math.min(spec.M, 4) });
      const Ct = dplrCtilde(p, L);
      const dense = denseCtilde(p, L);
      const back = dplrRecoverC(p, Ct, L);
      const rel = (a: Float64Array, b: Float64Array) => {
        let d = 0, m = 1e-30;
        for (let i = 0; i < b.length; i++) {
          d = Math.max(d, Math.abs(a[i] - b[i]));
          m = Math.max(m, Math.abs(b[i]));
        }
        return d / m;
      };
      return rel(Ct, dense) < 1e-9 && rel(back, p.C.subarray(0, back.length)) < 1e-9;
    }),
    { numRuns: 60 },
  );
});

test("S4D with a real diagonal (zoh, constant dt) == the Mamba-1 selective scan", () => {
  fc.assert(
    fc.property(
      fc.record({ T: fc.integer({ min: 0, max: 40 }), D: fc.integer({ min: 1, max: 5 }), N: fc.integer({ min: 1, max: 8 }), seed: fc.integer() }),
      ({ T, D, N, seed }) => {
        const r = mulberry32(seed);
        // Mamba side: A [D, N] < 0, dt [D] constant over time, B, C [N] constant over time, Dskip [D]
        const A = Float32Array.from({ length: D * N }, () => -(0.5 + 8 * r()));
        const dtD = Float32Array.from({ length: D }, () => Math.exp(Math.log(1e-3) + r() * Math.log(500)));
        const Bm = fillNormal(new Float32Array(N), r, 1);
        const Cm = fillNormal(new Float32Array(N), r, 1);
        const Dskip = fillNormal(new Float32Array(D), r, 1);
        const x = fillNormal(new Float32Array(T * D), r, 1);
        const state0 = fillNormal(new Float32Array(D * N), r, 1);
        const mState = state0.slice();
        const yM = selectiveScan({
          T, D, N, x, A, Dskip, state: mState,
          dt: Float32Array.from({ length: T * D }, (_, i) => dtD[i % D]),
          B: Float32Array.from({ length: T * N }, (_, i) => Bm[i % N]),
          C: Float32Array.from({ length: T * N }, (_, i) => Cm[i % N]),
        });
        // S4D side: H = D channels, M = N real modes (imaginary parts 0); ZOH gives dB = (e^{dt a} − 1)/a · B,
        // Mamba uses dt·B, so B_s4[d,n] = B[n]·dt a/(e^{dt a} − 1); outputs are 2·Re, so C_s4 = C/2.
        const H = D, M = N;
        const p: SsmParams = {
          kind: "diag", H, M, Cc: 1, R: 0, disc: "zoh",
          dt: Float64Array.from({ length: H * M }, (_, i) => dtD[Math.floor(i / M)]),
          A: new Float64Array(H * M * 2), B: new Float64Array(H * M * 2), C: new Float64Array(H * M * 2),
          P: null, D: Float64Array.from(Dskip),
        };
        for (let d = 0; d < D; d++)
          for (let n = 0; n < N; n++) {
            const j = d * N + n;
            const a = A[j];
            const dta = dtD[d] * a;
            p.A[2 * j] = a;
            p.B[2 * j] = (Bm[n] * dta) / Math.expm1(dta);
            p.C[2 * j] = Cm[n] / 2;
          }
        const layer = new SsmLayer(p, cpuS4Ops);
        const sState = new Float32Array(H * M * 2);
        for (let j = 0; j < H * M; j++) sState[2 * j] = state0[j];
        const sConv = sState.slice();
        const yS = layer.recurrent(x, T, sState);
        const yC = layer.conv(x, T, sConv, 16);
        for (let t = 0; t < T; t++)
          for (let d = 0; d < D; d++) {
            yS[t * D + d] += Dskip[d] * x[t * D + d];
            yC[t * D + d] += Dskip[d] * x[t * D + d];
          }
        const realState = Float32Array.from({ length: D * N }, (_, j) => sState[2 * j]);
        const imag = Math.max(0, ...Array.from({ length: D * N }, (_, j) => Math.abs(sState[2 * j + 1])));
        const dy = scaledMaxDiff(yS, yM), dc = scaledMaxDiff(yC, yM), ds = scaledMaxDiff(realState, mState);
        if (!(dy <= 1e-5 && dc <= 2e-5 && ds <= 1e-5 && imag === 0)) throw new Error(`outputs ${dy} (conv ${dc}), states ${ds}, imag ${imag}`);
        return true;
      },
    ),
    { numRuns: 50 },
  );
});

test("discretisation: zoh and bilinear agree to O(dt²)·|A| for small dt, and differ for large dt", () => {
  const p = randomSsmParams({ kind: "diag", disc: "zoh", H: 1, M: 3, Cc: 1, R: 0, dtMax: -4, seed: 7 });
  p.dt.fill(1e-4);
  const z = discretizeDiag(p);
  const b = discretizeDiag({ ...p, disc: "bilinear" });
  assert.ok(scaledMaxDiff(z.dA, b.dA) < 1e-6);
  p.dt.fill(0.5);
  assert.ok(scaledMaxDiff(discretizeDiag(p).dA, discretizeDiag({ ...p, disc: "bilinear" }).dA) > 1e-3);
});

test.run();
