// Long-context mitigations (core/models/long-context.ts) as properties, on small random Mamba-2 and
// Mamba-1 models and on the bare scan:
//   - each mitigation is one function of the token stream: one forward, a forward split anywhere,
//     token-by-token decode, and small maxBlock all give the same logits, state and long-context state
//     (tolerance 1e-5 scaled, as in properties-model.test.ts; cuts only move float32 rounding);
//   - the scan with a plan equals a float64 token-by-token reference written straight from the
//     formulas in docs/long-context.md (forget, norm), and `window` equals recomputing the window's
//     tokens from a zero state (tolerance 1e-5 scaled; the worst seen over 2000 cases of up to 30 tokens
//     was below 2e-7; the float32 difference S_i - decay·S_c loses about ‖S_c‖/‖W_i‖ × 6e-8);
//   - the mitigations that should be no-ops are (auto inside the training length, gamma = insert = 1,
//     a huge norm bound, a window longer than the input);
//   - `norm` bounds every unit's state norm; the wasm backend computes the same functions as cpu.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import type { Backend } from "../kernels/backend.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import type { Mamba1Config, Mamba2Config, ModelConfig } from "../core/models/config.ts";
import { buildModel } from "../core/models/index.ts";
import {
  resolvePlan, scanWithPlan, type LayerAux, type LongContextOptions, type LongContextPlan, type ScanLayout,
} from "../core/models/long-context.ts";
import type { Model, ModelState } from "../core/models/model.ts";
import { OptionError } from "../core/errors.ts";
import { mamba1Config, mamba2Config, mulberry32, randomWeights, scaledMaxDiff, stateDiff } from "./helpers/random-model.ts";

const TOL = 1e-5;
const WINDOW_TOL = 1e-5;

const mamba2Arb: fc.Arbitrary<Mamba2Config | Mamba1Config> = fc
  .record({
    n_layer: fc.integer({ min: 1, max: 2 }),
    d_state: fc.integer({ min: 1, max: 5 }),
    ngroups: fc.constantFrom(1, 2),
    headsPerGroup: fc.integer({ min: 1, max: 2 }),
    headdim: fc.integer({ min: 1, max: 4 }),
    chunk_size: fc.integer({ min: 1, max: 8 }),
    vocab_size: fc.integer({ min: 5, max: 30 }),
  })
  .map(({ headsPerGroup, ...c }) => {
    const nheads = c.ngroups * headsPerGroup;
    const d_inner = nheads * c.headdim;
    const expand = d_inner % 2 === 0 ? 2 : 1;
    return mamba2Config({ ...c, nheads, d_inner, expand, d_model: d_inner / expand });
  });

const mamba1Arb: fc.Arbitrary<Mamba2Config | Mamba1Config> = fc
  .record({ n_layer: fc.integer({ min: 1, max: 2 }), d_state: fc.integer({ min: 1, max: 5 }), d_model: fc.integer({ min: 2, max: 8 }), vocab_size: fc.integer({ min: 5, max: 30 }) })
  .map((c) => mamba1Config(c));

/** Plans with small periods so that every boundary (probe, window rotation, start) is crossed. */
const planOptsArb: fc.Arbitrary<LongContextOptions> = fc.oneof(
  fc.record({ mitigation: fc.constant("none" as const), trainLength: fc.integer({ min: 1, max: 12 }), probeEvery: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    mitigation: fc.constant("forget" as const), trainLength: fc.integer({ min: 1, max: 12 }), start: fc.integer({ min: 0, max: 20 }),
    gamma: fc.double({ min: 0.3, max: 1, noNaN: true }), insert: fc.double({ min: 0.3, max: 1, noNaN: true }),
  }),
  fc.record({
    mitigation: fc.constant("norm" as const), trainLength: fc.integer({ min: 1, max: 12 }), probeEvery: fc.integer({ min: 1, max: 6 }),
    normFactor: fc.double({ min: 0.2, max: 1.5, noNaN: true }), start: fc.integer({ min: 0, max: 20 }),
  }),
  fc.record({
    mitigation: fc.constant("norm" as const), trainLength: fc.integer({ min: 1, max: 12 }), probeEvery: fc.integer({ min: 1, max: 6 }),
    normBound: fc.double({ min: 0.01, max: 2, noNaN: true }),
  }),
  fc.record({
    mitigation: fc.constant("window" as const), trainLength: fc.integer({ min: 1, max: 12 }), window: fc.integer({ min: 1, max: 7 }),
    start: fc.integer({ min: 0, max: 20 }), probeEvery: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({ mitigation: fc.constant("auto" as const), trainLength: fc.integer({ min: 2, max: 12 }), probeEvery: fc.integer({ min: 1, max: 6 }) }),
);

interface Case {
  config: Mamba2Config | Mamba1Config;
  seed: number;
  opts: LongContextOptions;
  ids: number[];
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({ config: fc.oneof(mamba2Arb, mamba1Arb), seed: fc.integer(), opts: planOptsArb, T: fc.integer({ min: 1, max: 40 }) })
  .map(({ T, ...c }) => {
    const r = mulberry32(c.seed ^ 0x10c);
    return { ...c, ids: Array.from({ length: T }, () => Math.floor(r() * c.config.vocab_size)) };
  });

function build(c: Case, maxBlock?: number, backend: Backend = createCpuBackend()): Model {
  return buildModel(c.config, randomWeights(c.config, c.seed), backend, { maxBlock });
}

function planned(m: Model, plan: LongContextPlan): ModelState {
  const s = m.newState();
  s.plan = plan;
  return s;
}

function auxDiff(a: ModelState, b: ModelState): number {
  let d = 0;
  for (let i = 0; i < a.layers.length; i++) {
    const x = a.layers[i].aux, y = b.layers[i].aux;
    if (!x || !y) return x === y ? 0 : Infinity;
    for (const f of ["calib", "norms", "ckC", "ckN"] as const) {
      if (!x[f] !== !y[f]) return Infinity;
      if (x[f]) d = Math.max(d, scaledMaxDiff(x[f]!, y[f]!));
    }
    for (const f of ["meta", "sumC", "sumN"] as const) {
      if (!x[f] !== !y[f]) return Infinity;
      if (x[f]) d = Math.max(d, scaledMaxDiff(x[f]!, y[f]!));
    }
  }
  return d;
}

function run(c: Case, cut: (m: Model, s: ModelState) => Float32Array, maxBlock?: number) {
  const m = build(c, maxBlock);
  const s = planned(m, resolvePlan(c.config, c.opts));
  return { logits: cut(m, s), state: s };
}
const whole = (c: Case) => run(c, (m, s) => m.forward(c.ids, s, "all")!);
const close = (a: ReturnType<typeof whole>, b: ReturnType<typeof whole>, tol = TOL) =>
  scaledMaxDiff(a.logits, b.logits) <= tol && stateDiff(a.state, b.state) <= tol && auxDiff(a.state, b.state) <= tol;

test("every mitigation: forward split at a random point == one forward", () => {
  const arb = caseArb.chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 0, max: c.ids.length })));
  fc.assert(
    fc.property(arb, ([c, k]) => {
      const V = c.config.vocab_rows;
      return close(whole(c), run(c, (m, s) => {
        const out = new Float32Array(c.ids.length * V);
        out.set(m.forward(c.ids.slice(0, k), s, "all")!, 0);
        out.set(m.forward(c.ids.slice(k), s, "all")!, k * V);
        return out;
      }));
    }),
    { numRuns: 120 },
  );
});

test("every mitigation: token-by-token decode == prefill, and any maxBlock", () => {
  const arb = caseArb.chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 1, max: 9 })));
  fc.assert(
    fc.property(arb, ([c, maxBlock]) => {
      const V = c.config.vocab_rows;
      const ref = whole(c);
      const decode = run(c, (m, s) => {
        const out = new Float32Array(c.ids.length * V);
        c.ids.forEach((id, t) => out.set(m.forward([id], s, "last")!, t * V));
        return out;
      });
      const blocks = run(c, (m, s) => m.forward(c.ids, s, "all")!, maxBlock);
      return close(ref, decode) && close(ref, blocks);
    }),
    { numRuns: 120 },
  );
});

test("no-op settings equal the plain model: auto inside the training length, gamma = insert = 1, a huge bound, a long window", () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const m = build(c);
      const plain = m.newState();
      const want = m.forward(c.ids, plain, "all")!;
      const T = c.ids.length;
      const variants: LongContextOptions[] = [
        { mitigation: "auto", trainLength: T, probeEvery: 3 },
        { mitigation: "forget", gamma: 1, insert: 1 },
        { mitigation: "norm", normBound: 1e30, probeEvery: 2 },
        { mitigation: "window", window: T },
        { mitigation: "none", probeEvery: 1 },
      ];
      return variants.every((o) => {
        const s = planned(m, resolvePlan(c.config, o));
        return scaledMaxDiff(m.forward(c.ids, s, "all")!, want) <= TOL && stateDiff(s, plain) <= TOL;
      });
    }),
    { numRuns: 60 },
  );
});

test("norm: beyond its start every unit's state norm is within the bound at each probe", () => {
  fc.assert(
    fc.property(caseArb, fc.double({ min: 0.01, max: 1, noNaN: true }), (c, bound) => {
      const m = build(c);
      const s = planned(m, resolvePlan(c.config, { mitigation: "norm", normBound: bound, probeEvery: 1 }));
      m.forward(c.ids, s, "none");
      return s.layers.every((l) => l.aux!.norms.every((v) => v <= bound * (1 + 1e-6)) && unitNorms(c.config, l.ssm).every((v) => v <= bound * (1 + 1e-5)));
    }),
    { numRuns: 60 },
  );
});

function unitNorms(config: ModelConfig, ssm: Float32Array): number[] {
  const U = config.family === "mamba2" ? config.nheads : (config as { d_inner: number }).d_inner;
  const size = ssm.length / U;
  return Array.from({ length: U }, (_, u) => Math.hypot(...ssm.subarray(u * size, (u + 1) * size)));
}

// ---- the scan against float64 references written from the documented formulas ----

interface ScanCase {
  L: ScanLayout;
  T: number;
  x: Float32Array; dt: Float32Array; B: Float32Array; C: Float32Array;
  family: "mamba2" | "mamba1";
}

const scanCaseArb: fc.Arbitrary<ScanCase> = fc
  .record({
    family: fc.constantFrom("mamba2" as const, "mamba1" as const),
    G: fc.constantFrom(1, 2), upg: fc.integer({ min: 1, max: 2 }), P: fc.integer({ min: 1, max: 3 }), N: fc.integer({ min: 1, max: 4 }),
    T: fc.integer({ min: 1, max: 30 }), seed: fc.integer(),
  })
  .map(({ family, G: g, upg, P: p, N, T, seed }) => {
    const r = mulberry32(seed);
    const G = family === "mamba2" ? g : 1;
    const U = family === "mamba2" ? G * upg : g * upg + 1;
    const P = family === "mamba2" ? p : 1;
    const An = family === "mamba2" ? 1 : N;
    const rnd = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
    const A = rnd(U * An, -4, -0.05);
    return {
      family, T,
      L: { U, P, N, G, A, An, D: rnd(U, 0.5, 1.5) },
      x: rnd(T * U * P, -1, 1), dt: rnd(T * U, 0.01, 0.6), B: rnd(T * G * N, -1, 1), C: rnd(T * G * N, -1, 1),
    };
  });

function backendRun(backend: Backend, sc: ScanCase, state: Float32Array, y: Float32Array) {
  const { L, B, C } = sc;
  const { U, P, N, G } = L;
  return (t0: number, t1: number, xs: Float32Array, dts: Float32Array, Ds: Float32Array) => {
    if (sc.family === "mamba2")
      backend.ssdScan({
        T: t1 - t0, H: U, P, G, N, A: L.A, D: Ds, state, chunkSize: 4,
        x: xs.subarray(t0 * U * P, t1 * U * P), dt: dts.subarray(t0 * U, t1 * U),
        B: B.subarray(t0 * G * N, t1 * G * N), C: C.subarray(t0 * G * N, t1 * G * N), out: y.subarray(t0 * U * P, t1 * U * P),
      });
    else
      backend.selectiveScan({
        T: t1 - t0, D: U, N, A: L.A, Dskip: Ds, state,
        x: xs.subarray(t0 * U, t1 * U), dt: dts.subarray(t0 * U, t1 * U), B: B.subarray(t0 * N, t1 * N), C: C.subarray(t0 * N, t1 * N),
        out: y.subarray(t0 * U, t1 * U),
      });
  };
}

/** The scan with a plan, fed in calls split at `cuts` (positions), from a zero state at position 0. */
function planScan(sc: ScanCase, plan: LongContextPlan, cuts: number[], backend: Backend = createCpuBackend()) {
  const { L, T } = sc;
  const state = new Float32Array(L.U * L.P * L.N);
  const y = new Float32Array(T * L.U * L.P);
  let aux: LayerAux | undefined;
  const bounds = [0, ...cuts.filter((k) => k > 0 && k < T).sort((a, b) => a - b), T];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [a, b] = [bounds[i], bounds[i + 1]];
    if (a === b) continue;
    const { U, P, G, N } = L;
    const part: ScanCase = {
      ...sc, T: b - a, x: sc.x.subarray(a * U * P, b * U * P), dt: sc.dt.subarray(a * U, b * U),
      B: sc.B.subarray(a * G * N, b * G * N), C: sc.C.subarray(a * G * N, b * G * N),
    };
    const yPart = y.subarray(a * U * P, b * U * P);
    aux = scanWithPlan(L, plan, aux, a, b - a, part.x, part.dt, part.C, state, yPart, backendRun(backend, part, state, yPart));
  }
  return { y, state, aux: aux! };
}

/** Float64 reference, token by token, of the documented recurrence with `plan` (forget / norm / none),
 *  over tokens [from, to) starting from a zero state; returns y rows of those tokens. */
function reference(sc: ScanCase, plan: LongContextPlan, from = 0, to = sc.T): { y: Float64Array; S: Float64Array } {
  const { L } = sc;
  const { U, P, N, G, A, An, D } = L;
  const S = new Float64Array(U * P * N);
  const calib = new Float64Array(U);
  const y = new Float64Array((to - from) * U * P);
  for (let i = from; i < to; i++) {
    for (let u = 0; u < U; u++) {
      const g = Math.floor(u / (U / G));
      const d = sc.dt[i * U + u];
      let slow = -Infinity;
      for (let k = 0; k < An; k++) slow = Math.max(slow, A[u * An + k]);
      const f = plan.kind === "forget" && i >= plan.start;
      // forget: decay gamma·exp(dt·A) on the slowest element (exp((dt + ln(gamma)/A_slow)·A) in general), insertion insert·dt
      const decayDt = f ? d + Math.log(plan.forget!.gamma) / slow : d;
      const ins = f ? plan.forget!.insert * d : d;
      for (let p = 0; p < P; p++) {
        const xv = sc.x[(i * U + u) * P + p];
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const o = (u * P + p) * N + n;
          S[o] = Math.exp(decayDt * A[u * An + (An === 1 ? 0 : n)]) * S[o] + ins * xv * sc.B[(i * G + g) * N + n];
          acc += S[o] * sc.C[(i * G + g) * N + n];
        }
        y[((i - from) * U + u) * P + p] = acc + D[u] * xv;
      }
    }
    const n = i + 1;
    if (n % plan.every !== 0 && n <= plan.trainLength && n % plan.calibEvery === 0)
      for (let u = 0; u < U; u++) calib[u] = Math.max(calib[u], Math.hypot(...S.subarray(u * P * N, (u + 1) * P * N)));
    if (n % plan.every === 0) {
      for (let u = 0; u < U; u++) {
        const o = u * P * N;
        let norm = Math.hypot(...S.subarray(o, o + P * N));
        if (plan.kind === "norm" && n > plan.start && n > (plan.norm!.bound === undefined ? plan.trainLength : 0)) {
          const tau = plan.norm!.bound ?? plan.norm!.factor * calib[u];
          if (norm > tau && tau > 0) {
            for (let k = 0; k < P * N; k++) S[o + k] *= tau / norm;
            norm = tau;
          }
        }
        if (n <= plan.trainLength) calib[u] = Math.max(calib[u], norm);
      }
    }
  }
  return { y, S };
}

function scaledDiff64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return Number.isNaN(d) ? Infinity : d / m;
}

const cutsArb = fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 4 });

test("scan with forget / norm / none == the float64 reference of the documented formulas", () => {
  const planArb = fc.oneof(
    fc.record({ mitigation: fc.constant("forget" as const), start: fc.integer({ min: 0, max: 20 }), gamma: fc.double({ min: 0.3, max: 1, noNaN: true }), insert: fc.double({ min: 0.3, max: 1, noNaN: true }) }),
    fc.record({ mitigation: fc.constant("norm" as const), trainLength: fc.integer({ min: 1, max: 12 }), probeEvery: fc.integer({ min: 1, max: 5 }), normFactor: fc.double({ min: 0.2, max: 1.5, noNaN: true }) }),
    fc.record({ mitigation: fc.constant("norm" as const), probeEvery: fc.integer({ min: 1, max: 5 }), normBound: fc.double({ min: 0.05, max: 2, noNaN: true }) }),
    fc.record({ mitigation: fc.constant("none" as const) }),
  );
  fc.assert(
    fc.property(scanCaseArb, planArb, cutsArb, (sc, o, cuts) => {
      const cfg = sc.family === "mamba2" ? mamba2Config() : mamba1Config();
      const plan = resolvePlan(cfg, o);
      const got = planScan(sc, plan, cuts);
      const want = reference(sc, plan);
      return scaledDiff64(got.y, want.y) <= TOL && scaledDiff64(got.state, want.S) <= TOL;
    }),
    { numRuns: 300 },
  );
});

test(`window == recomputing the window's tokens from a zero state (tolerance ${WINDOW_TOL} scaled)`, () => {
  fc.assert(
    fc.property(scanCaseArb, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 20 }), cutsArb, (sc, r, start, cuts) => {
      const cfg = sc.family === "mamba2" ? mamba2Config() : mamba1Config();
      const plan = resolvePlan(cfg, { mitigation: "window", window: r, start });
      const got = planScan(sc, plan, cuts);
      const { U, P } = sc.L;
      const none = resolvePlan(cfg, {});
      for (let i = 0; i < sc.T; i++) {
        // window start c = (floor(i/r) - 1)·r: tokens c..i (r+1 to 2r of them); none before r or start
        const c = i >= start && i >= r ? (Math.floor(i / r) - 1) * r : 0;
        const want = reference(sc, none, c, i + 1).y.subarray((i - c) * U * P);
        if (scaledDiff64(got.y.subarray(i * U * P, (i + 1) * U * P), want) > WINDOW_TOL) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test("resolvePlan: defaults from the training length, typed errors for bad options", () => {
  const cfg = mamba2Config({ train_length: 1000 } as never);
  const auto = resolvePlan(cfg, { mitigation: "auto" });
  assert.is(auto.kind, "window");
  assert.is(auto.start, 1000);
  assert.is(auto.window!.r, 1000);
  assert.is(auto.trainLengthFrom, "config");
  assert.is(auto.calibEvery, 16);
  const f = resolvePlan(mamba2Config(), { mitigation: "forget" });
  assert.is(f.trainLength, 2048);
  assert.is(f.trainLengthFrom, "default");
  assert.ok(Math.abs(f.forget!.gamma - Math.exp(-1 / 4096)) < 1e-15);
  assert.is(f.start, 0);
  assert.is(resolvePlan(cfg, { mitigation: "norm" }).norm!.factor, 4);
  for (const bad of [{ mitigation: "fast" }, { window: 0 }, { gamma: 1.5 }, { gamma: 0 }, { trainLength: -3 }, { probeEvery: 2.5 }, { warnRatio: 0.5 }, { start: -1 }])
    assert.throws(() => resolvePlan(cfg, bad as LongContextOptions), (e: unknown) => e instanceof OptionError);
});

let wasm: Backend | null = null;
try {
  wasm = await (await import("../kernels/wasm/index.ts")).createWasmBackend({ threads: 1 });
} catch {
  wasm = null;
}

test("the wasm backend computes the same mitigated function as cpu (1e-4 scaled)", () => {
  if (!wasm) {
    console.log("  (wasm backend not available: skipped)");
    return;
  }
  const w = wasm;
  fc.assert(
    fc.property(caseArb, (c) => {
      const a = run(c, (m, s) => m.forward(c.ids, s, "all")!);
      const m = build(c, undefined, w);
      const s = planned(m, resolvePlan(c.config, c.opts));
      const b = { logits: m.forward(c.ids, s, "all")!, state: s };
      return close(a, b, 1e-4);
    }),
    { numRuns: 40 },
  );
});

test.run();
