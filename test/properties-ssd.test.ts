// Properties of the cpu Mamba-2 SSD scan (kernels/cpu/ssd.ts): the chunked algorithm computes the same
// function as the token-by-token recurrence, for any chunk size (dividing T or not), any head / group
// layout, any initial state, and any way of cutting the sequence into consecutive scans.
//
// Tolerance: scaledMaxDiff (max |a-b| / max(1, max|a|)) <= 1e-5 on outputs and final states. The two
// formulations round differently: ssdStep keeps the state in float32 between tokens, ssdChunked
// accumulates in float64 and rounds the state once per call; observed differences are ~1e-7.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import type { SsdScanArgs } from "../kernels/backend.ts";
import { ssdChunked, ssdScan, ssdStep } from "../kernels/cpu/ssd.ts";
import { selectiveScan } from "../kernels/cpu/selective-scan.ts";
import { fillNormal, mulberry32, scaledMaxDiff } from "./helpers/random-model.ts";

const TOL = 1e-5;

interface Dims { H: number; P: number; N: number; G: number; T: number; Q: number; seed: number }

/** H = G * heads-per-group so that G divides H; T and Q independent so Q may or may not divide T. */
const dimsArb: fc.Arbitrary<Dims> = fc
  .record({
    G: fc.integer({ min: 1, max: 3 }),
    hpg: fc.integer({ min: 1, max: 3 }),
    P: fc.integer({ min: 1, max: 5 }),
    N: fc.integer({ min: 1, max: 6 }),
    T: fc.integer({ min: 1, max: 24 }),
    Q: fc.integer({ min: 1, max: 9 }),
    seed: fc.integer(),
  })
  .map(({ G, hpg, ...r }) => ({ ...r, G, H: G * hpg }));

/** Random scan inputs: x, B, C, state ~ N(0,1); dt log-uniform in [1e-3, 2]; A ~ -U(1,16); D ~ U(0.5,1.5). */
function inputs({ H, P, N, G, T, Q, seed }: Dims): SsdScanArgs {
  const r = mulberry32(seed);
  const n = (len: number) => fillNormal(new Float32Array(len), r, 1);
  const dt = new Float32Array(T * H).map(() => Math.exp(Math.log(1e-3) + Math.log(2e3) * r()));
  return {
    T, H, P, G, N, chunkSize: Q,
    x: n(T * H * P), dt,
    A: new Float32Array(H).map(() => -(1 + 15 * r())),
    B: n(T * G * N), C: n(T * G * N),
    D: new Float32Array(H).map(() => 0.5 + r()),
    state: n(H * P * N),
  };
}

/** The same scan restricted to tokens [t0, t1), on a given state array. */
function slice(a: SsdScanArgs, t0: number, t1: number, state: Float32Array): SsdScanArgs {
  const { H, P, G, N } = a;
  return {
    ...a, T: t1 - t0, state,
    x: a.x.subarray(t0 * H * P, t1 * H * P), dt: a.dt.subarray(t0 * H, t1 * H),
    B: a.B.subarray(t0 * G * N, t1 * G * N), C: a.C.subarray(t0 * G * N, t1 * G * N),
  };
}

function run(f: (a: SsdScanArgs) => Float32Array, a: SsdScanArgs) {
  const state = a.state.slice();
  const y = f({ ...a, state });
  return { y, state };
}

test("ssdChunked == ssdStep token by token (outputs and final state)", () => {
  fc.assert(
    fc.property(dimsArb, (dims) => {
      const a = inputs(dims);
      const chunked = run(ssdChunked, a);
      const state = a.state.slice();
      const y = new Float32Array(a.T * a.H * a.P);
      for (let t = 0; t < a.T; t++) ssdStep({ ...slice(a, t, t + 1, state), out: y.subarray(t * a.H * a.P) });
      return scaledMaxDiff(chunked.y, y) <= TOL && scaledMaxDiff(chunked.state, state) <= TOL;
    }),
    { numRuns: 150 },
  );
});

test("ssdChunked does not depend on the chunk size", () => {
  fc.assert(
    fc.property(dimsArb, fc.integer({ min: 1, max: 30 }), (dims, Q2) => {
      const a = inputs(dims);
      const r1 = run(ssdChunked, a);
      const r2 = run(ssdChunked, { ...a, chunkSize: Q2 });
      return scaledMaxDiff(r1.y, r2.y) <= TOL && scaledMaxDiff(r1.state, r2.state) <= TOL;
    }),
    { numRuns: 100 },
  );
});

test("scan [0,s) then [s,T) == scan [0,T), for ssdChunked, ssdStep and ssdScan", () => {
  const splitArb = dimsArb.chain((d) => fc.tuple(fc.constant(d), fc.integer({ min: 0, max: d.T })));
  for (const f of [ssdChunked, ssdStep, ssdScan]) {
    fc.assert(
      fc.property(splitArb, ([dims, s]) => {
        const a = inputs(dims);
        const whole = run(f, a);
        const state = a.state.slice();
        const y = new Float32Array(a.T * a.H * a.P);
        f({ ...slice(a, 0, s, state), out: y.subarray(0, s * a.H * a.P) });
        f({ ...slice(a, s, a.T, state), out: y.subarray(s * a.H * a.P) });
        return scaledMaxDiff(whole.y, y) <= TOL && scaledMaxDiff(whole.state, state) <= TOL;
      }),
      { numRuns: 80 },
    );
  }
});

test("ssdChunked cut at several random points == one call", () => {
  const cutsArb = dimsArb.chain((d) =>
    fc.tuple(fc.constant(d), fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, d.T - 1) }), { maxLength: 5 })));
  fc.assert(
    fc.property(cutsArb, ([dims, cuts]) => {
      const a = inputs(dims);
      const whole = run(ssdChunked, a);
      const bounds = [0, ...cuts.filter((c) => c < a.T).sort((p, q) => p - q), a.T];
      const state = a.state.slice();
      const y = new Float32Array(a.T * a.H * a.P);
      for (let i = 0; i + 1 < bounds.length; i++)
        ssdChunked({ ...slice(a, bounds[i], bounds[i + 1], state), out: y.subarray(bounds[i] * a.H * a.P) });
      return scaledMaxDiff(whole.y, y) <= TOL && scaledMaxDiff(whole.state, state) <= TOL;
    }),
    { numRuns: 80 },
  );
});

// An independent formulation: with G = 1, SSD is the Mamba-1 selective scan over D = H·P channels whose
// A[d, :] and dt[t, d] are the head's scalar, all sharing B_t and C_t (mamba1.md §3, last bullet).
test("ssdChunked (G = 1) == Mamba-1 selectiveScan with per-head A and dt broadcast", () => {
  fc.assert(
    fc.property(dimsArb.map((d) => ({ ...d, G: 1, H: Math.min(d.H, 4) })), (dims) => {
      const a = inputs(dims);
      const { T, H, P, N } = a;
      const ssd = run(ssdChunked, a);
      const Dch = H * P;
      const dt = new Float32Array(T * Dch);
      for (let t = 0; t < T; t++) for (let c = 0; c < Dch; c++) dt[t * Dch + c] = a.dt[t * H + Math.floor(c / P)];
      const A = new Float32Array(Dch * N);
      for (let c = 0; c < Dch; c++) A.fill(a.A[Math.floor(c / P)], c * N, (c + 1) * N);
      const Dskip = new Float32Array(Dch).map((_, c) => a.D[Math.floor(c / P)]);
      const state = a.state.slice();
      const y = selectiveScan({ T, D: Dch, N, x: a.x, dt, A, B: a.B, C: a.C, Dskip, state });
      return scaledMaxDiff(ssd.y, y) <= TOL && scaledMaxDiff(ssd.state, state) <= TOL;
    }),
    { numRuns: 100 },
  );
});

test("T = 0 leaves the state untouched", () => {
  const a = inputs({ H: 2, P: 3, N: 4, G: 1, T: 0, Q: 4, seed: 7 });
  for (const f of [ssdChunked, ssdStep]) {
    const r = run(f, a);
    assert.is(r.y.length, 0);
    assert.equal(Array.from(r.state), Array.from(a.state));
  }
});

test.run();
