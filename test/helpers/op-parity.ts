// Shared pieces of the op-parity suites (every backend's ops against the cpu reference).
import * as fc from "fast-check";
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../kernels/backend.ts";

/** Unit roundoff of float32, for the summation tolerances. */
export const U32 = 2 ** -24;

/** Deterministic uniform values in [lo, hi) from a seed (fast-check shrinks the seed and shapes). */
export function rand(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  let s = (seed >>> 0) || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return a;
}

/** Asserts |got[i] - want[i]| <= tol(i) everywhere, naming the first index that is not. */
export function within(what: string, got: Float32Array, want: Float32Array, tol: (i: number) => number): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol(i))) assert.unreachable(`${what}[${i}] = ${got[i]}, reference ${want[i]} (|Δ| ${d.toExponential(2)} > ${tol(i).toExponential(2)})`);
  }
}

export const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Random inputs of one ssdScan call (x, dt, A, B, C, D and an initial state). */
export function ssdCase(seed: number, T: number, H: number, P: number, G: number, N: number, chunkSize: number) {
  return {
    T, H, P, G, N, chunkSize,
    x: rand(seed, T * H * P, -2, 2),
    dt: rand(seed + 1, T * H, 0.001, 0.4),
    A: rand(seed + 2, H, -6, -0.05),
    B: rand(seed + 3, T * G * N),
    C: rand(seed + 4, T * G * N),
    D: rand(seed + 5, H),
    state: rand(seed + 6, H * P * N, -0.5, 0.5),
  };
}

/** Shape bounds of the shared properties (smaller where a backend is slow in software). */
export interface OpBounds {
  conv: { T: number; C: number; K: number };
  ssd: { T: number; G: number; P: number; N: number; Q: number };
  norm: { T: number; ngroups: number; gs: number };
}

/** Registers on `test` the parity properties that read the same for every backend: conv1d,
 *  ssdScan, the norms and the elementwise ops, each against the cpu reference. */
export function sharedOpTests(test: Test, cpu: Backend, backends: [string, Backend][], runs: { numRuns: number }, max: OpBounds): void {
  test("conv1d equals the cpu reference and carries the same window", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: max.conv.T }), fc.integer({ min: 1, max: max.conv.C }), fc.integer({ min: 1, max: max.conv.K }), fc.boolean(), fc.integer(),
        (T, C, K, withBias, seed) => {
          const x = rand(seed, T * C, -2, 2), w = rand(seed + 1, C * K), bias = withBias ? rand(seed + 2, C) : null;
          const win0 = rand(seed + 3, C * (K - 1), -2, 2);
          const wantWin = win0.slice();
          const want = cpu.conv1d(x, T, C, K, w, bias, wantWin);
          for (const [label, b] of backends) {
            const win = win0.slice();
            within(`${label} conv1d y T${T} C${C} K${K}`, b.conv1d(x, T, C, K, w, bias, win), want, (i) => {
              const c = i % C;
              let s = bias ? Math.abs(bias[c]) : 0;
              for (let k = 0; k < K; k++) s += Math.abs(w[c * K + k]) * 2;
              return 1e-5 * (1 + s);
            });
            within(`${label} conv1d window`, win, wantWin, () => 0);
          }
        },
      ),
      runs,
    );
  });

  test("ssdScan equals the cpu reference: step (T = 1) and chunked across chunk boundaries", () => {
    const m = max.ssd;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: m.T }), fc.integer({ min: 1, max: m.G }), fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: m.P }), fc.integer({ min: 1, max: m.N }), fc.integer({ min: 1, max: m.Q }), fc.integer(),
        (T, G, hpg, P, N, Q, seed) => {
          const H = G * hpg;
          const ref = ssdCase(seed, T, H, P, G, N, Q);
          const want = cpu.ssdScan(ref);
          const ys = 2e-5 * (1 + maxAbs(want)), ss = 2e-5 * (1 + maxAbs(ref.state));
          for (const [label, b] of backends) {
            const a = ssdCase(seed, T, H, P, G, N, Q);
            within(`${label} ssd y T${T} H${H} G${G} P${P} N${N} Q${Q}`, b.ssdScan(a), want, () => ys);
            within(`${label} ssd state`, a.state, ref.state, () => ss);
          }
        },
      ),
      runs,
    );
  });

  test("rmsnorm and gatedRmsnorm (both gate orders, groups) equal the cpu reference", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: max.norm.T }), fc.integer({ min: 1, max: max.norm.ngroups }), fc.integer({ min: 1, max: max.norm.gs }), fc.boolean(), fc.integer(),
        (T, ngroups, gs, nbg, seed) => {
          const D = ngroups * gs;
          const x = rand(seed, T * D, -3, 3), z = rand(seed + 1, T * D, -12, 12), w = rand(seed + 2, D, 0.5, 1.5);
          const want = cpu.rmsnorm(x, T, D, w, 1e-5);
          const wantG = cpu.gatedRmsnorm(x, z, T, D, gs, w, 1e-5, nbg);
          for (const [label, b] of backends) {
            within(`${label} rmsnorm`, b.rmsnorm(x, T, D, w, 1e-5), want, (i) => 1e-5 * Math.abs(want[i]) + 1e-6);
            within(`${label} gatedRmsnorm nbg=${nbg}`, b.gatedRmsnorm(x, z, T, D, gs, w, 1e-5, nbg), wantG, (i) => 1e-5 * Math.abs(wantG[i]) + 1e-6);
          }
        },
      ),
      runs,
    );
  });

  test("dtSoftplus, siluGate and add equal the cpu reference in place", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 27 }), fc.boolean(), fc.integer(), (T, H, clamp, seed) => {
        const dt0 = rand(seed, T * H, -80, 40), bias = rand(seed + 1, H, -2, 2);
        const [lo, hi] = clamp ? [0.01, 3] : [0, Infinity];
        const want = cpu.dtSoftplus(dt0.slice(), T, H, bias, lo, hi);
        const y0 = rand(seed + 2, T * H, -30, 30), z = rand(seed + 3, T * H, -30, 30);
        const wantY = cpu.siluGate(y0.slice(), z);
        const wantA = cpu.add(y0.slice(), z);
        for (const [label, b] of backends) {
          const dt = dt0.slice();
          assert.ok(b.dtSoftplus(dt, T, H, bias, lo, hi) === dt, `${label} dtSoftplus in place`);
          within(`${label} dtSoftplus`, dt, want, (i) => 1e-6 * Math.abs(want[i]) + 1e-6);
          const y = y0.slice();
          assert.ok(b.siluGate(y, z) === y, `${label} siluGate in place`);
          within(`${label} siluGate`, y, wantY, (i) => 1e-6 * Math.abs(wantY[i]) + 1e-5 * Math.abs(y0[i]) + 1e-6);
          within(`${label} add`, b.add(y0.slice(), z), wantA, () => 0);
        }
      }),
      runs,
    );
  });
}
