// Properties of the cpu gated delta rule (kernels/cpu/delta-rule.ts): the chunked (WY) form computes the
// same function as the token-by-token recurrence for any shape, any chunk size (dividing T or not), any
// initial state, and any way of cutting the sequence into consecutive calls.
//
// Inputs as in the models: q, k L2-normalised per head, β ∈ (0, 1), g = log decay ∈ [−8, 0], state and
// v ~ N(0, 1). Tolerance: scaledMaxDiff (max |a−b| / max(1, max|a|)) <= 1e-5 on outputs and final states.
// Both forms accumulate in float64 and round to float32 once per call; observed differences ~1e-7.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { gatedDeltaChunked, gatedDeltaStep, type GatedDeltaArgs } from "../kernels/cpu/delta-rule.ts";
import { deltaRuleInputs, deltaRuleRows } from "./helpers/delta-rule-inputs.ts";
import { scaledMaxDiff } from "./helpers/random-model.ts";

const TOL = 1e-5;

interface Dims { T: number; H: number; K: number; V: number; Q: number; seed: number }

const dimsArb: fc.Arbitrary<Dims> = fc.record({
  T: fc.integer({ min: 1, max: 24 }),
  H: fc.integer({ min: 1, max: 3 }),
  K: fc.integer({ min: 1, max: 6 }),
  V: fc.integer({ min: 1, max: 5 }),
  Q: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer(),
});

function inputs({ T, H, K, V, Q, seed }: Dims, zeroState = false): GatedDeltaArgs {
  return deltaRuleInputs({ T, H, K, V, chunkSize: Q, seed, zeroState, beta: (r) => r(), g: (r) => -8 * r() * r() });
}

const copy = (a: GatedDeltaArgs): GatedDeltaArgs => ({ ...a, state: a.state.slice() });

test("chunked == step (random shapes, chunk sizes dividing T or not, nonzero initial state)", () => {
  fc.assert(
    fc.property(dimsArb, fc.boolean(), (d, zero) => {
      const a = inputs(d, zero);
      const s = copy(a), c = copy(a);
      const ys = gatedDeltaStep(s), yc = gatedDeltaChunked(c);
      return scaledMaxDiff(ys, yc) <= TOL && scaledMaxDiff(s.state, c.state) <= TOL;
    }),
    { numRuns: 150 },
  );
});

test("split anywhere: chunked [0, s) then [s, T) == step over [0, T)", () => {
  fc.assert(
    fc.property(dimsArb, fc.nat(), (d, cut) => {
      const a = inputs(d);
      const { T, H, V } = d;
      const s = cut % (T + 1);
      const ref = copy(a);
      const y = gatedDeltaStep(ref);
      const state = a.state.slice();
      const part = (t0: number, t1: number) => gatedDeltaChunked(deltaRuleRows(a, t0, t1, state));
      const y1 = part(0, s), y2 = part(s, T);
      const ys = new Float32Array(T * H * V);
      ys.set(y1);
      ys.set(y2, s * H * V);
      return scaledMaxDiff(y, ys) <= TOL && scaledMaxDiff(ref.state, state) <= TOL;
    }),
    { numRuns: 100 },
  );
});

test("step matches the closed form S_t = e^g (I − β k kᵀ) S + β k vᵀ on one token", () => {
  const a = inputs({ T: 1, H: 2, K: 3, V: 4, Q: 1, seed: 7 });
  const S0 = a.state.slice();
  gatedDeltaStep(a);
  for (let h = 0; h < 2; h++) {
    const e = Math.exp(a.g[h]), b = a.beta[h];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let l = 0; l < 3; l++) s += ((i === l ? 1 : 0) - b * a.k[h * 3 + i] * a.k[h * 3 + l]) * S0[h * 12 + l * 4 + j];
        const want = e * s + b * a.k[h * 3 + i] * a.v[h * 4 + j];
        assert.ok(Math.abs(want - a.state[h * 12 + i * 4 + j]) < 1e-5, `S[${h},${i},${j}]`);
      }
  }
});

test("β = 0 and g = 0: the state is unchanged and o = scale·Sᵀq", () => {
  const a = inputs({ T: 5, H: 2, K: 3, V: 2, Q: 2, seed: 3 });
  a.beta.fill(0);
  a.g.fill(0);
  const S0 = a.state.slice();
  const y = gatedDeltaChunked(a);
  assert.ok(scaledMaxDiff(S0, a.state) <= 1e-7);
  for (let t = 0; t < 5; t++)
    for (let h = 0; h < 2; h++)
      for (let j = 0; j < 2; j++) {
        let o = 0;
        for (let i = 0; i < 3; i++) o += S0[h * 6 + i * 2 + j] * a.q[(t * 2 + h) * 3 + i];
        assert.ok(Math.abs(a.scale * o - y[(t * 2 + h) * 2 + j]) < 1e-6);
      }
});

test.run();
