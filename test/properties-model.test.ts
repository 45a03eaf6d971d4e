// Whole-model properties on the cpu backend, for small random Mamba-2 (ngroups 1 and 2) and Mamba-1
// models: however the token stream is cut into forward() calls — one call, two calls split at a random
// point, one token at a time, or blocks bounded by maxBlock — the logits and the final recurrent state
// are the same. These are the invariants a streaming session relies on.
//
// Tolerance: scaledMaxDiff (max |a-b| / max(1, max|a|)) <= 1e-5 on logits and on every layer's conv
// window and SSM state. Cutting changes which scan formulation runs (chunked vs step) and where float32
// states are rounded; the worst difference seen over 1500 sampled cases was 1.7e-7 (a real bug, such
// as a window or state not carried, gives differences of order 1e-2 to 1).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import type { WeightDType } from "../kernels/backend.ts";
import type { Model, ModelState } from "../core/models/model.ts";
import { buildModel } from "../core/models/index.ts";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import {
  mamba1Config, mamba2Config, mulberry32, randomModel, randomWeights, scaledMaxDiff, stateDiff, weightSpecs,
  type MambaConfig,
} from "./helpers/random-model.ts";

const TOL = 1e-5;

interface Case {
  config: MambaConfig;
  weights: WeightDType;
  seed: number;
  ids: number[];
}

const common = {
  n_layer: fc.integer({ min: 1, max: 2 }),
  d_state: fc.integer({ min: 1, max: 6 }),
  d_conv: fc.integer({ min: 2, max: 4 }),
  vocab_size: fc.integer({ min: 5, max: 40 }),
  tie_embeddings: fc.boolean(),
  conv_bias: fc.boolean(),
  bias: fc.boolean(),
};

const mamba2Arb: fc.Arbitrary<MambaConfig> = fc
  .record({
    ...common,
    ngroups: fc.constantFrom(1, 2),
    headsPerGroup: fc.integer({ min: 1, max: 2 }),
    headdim: fc.integer({ min: 1, max: 5 }),
    chunk_size: fc.integer({ min: 1, max: 8 }),
    rmsnorm: fc.boolean(),
    norm_before_gate: fc.boolean(),
    norm_per_group: fc.boolean(),
  })
  .map(({ headsPerGroup, ...c }) => {
    const nheads = c.ngroups * headsPerGroup;
    const d_inner = nheads * c.headdim;
    const expand = d_inner % 2 === 0 ? 2 : 1;
    return mamba2Config({ ...c, nheads, d_inner, expand, d_model: d_inner / expand });
  });

const mamba1Arb: fc.Arbitrary<MambaConfig> = fc
  .record({ ...common, d_model: fc.integer({ min: 2, max: 12 }), dt_rank: fc.integer({ min: 1, max: 4 }) })
  .map((c) => mamba1Config(c));

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    config: fc.oneof(mamba2Arb, mamba1Arb),
    weights: fc.constantFrom<WeightDType>("f32", "f32", "bf16", "int8"),
    seed: fc.integer(),
    T: fc.integer({ min: 1, max: 20 }),
  })
  .map(({ T, ...c }) => {
    const r = mulberry32(c.seed ^ 0x5eed);
    return { ...c, ids: Array.from({ length: T }, () => Math.floor(r() * c.config.vocab_size)) };
  });

const build = (c: Case, maxBlock?: number): Model => randomModel(c.config, c.seed, { weights: c.weights, maxBlock });

function whole(c: Case): { logits: Float32Array; state: ModelState } {
  const m = build(c);
  const state = m.newState();
  return { logits: m.forward(c.ids, state, "all")!, state };
}

const same = (a: { logits: Float32Array; state: ModelState }, b: { logits: Float32Array; state: ModelState }) =>
  scaledMaxDiff(a.logits, b.logits) <= TOL && stateDiff(a.state, b.state) <= TOL;

test("forward(a); forward(b) == forward(a + b), split at a random point", () => {
  const arb = caseArb.chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 0, max: c.ids.length })));
  fc.assert(
    fc.property(arb, ([c, s]) => {
      const m = build(c);
      const state = m.newState();
      const V = c.config.vocab_rows;
      const logits = new Float32Array(c.ids.length * V);
      logits.set(m.forward(c.ids.slice(0, s), state, "all")!, 0);
      logits.set(m.forward(c.ids.slice(s), state, "all")!, s * V);
      return same(whole(c), { logits, state });
    }),
    { numRuns: 150 },
  );
});

test("one token at a time (decode steps) == one forward over all tokens", () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const m = build(c);
      const state = m.newState();
      const V = c.config.vocab_rows;
      const logits = new Float32Array(c.ids.length * V);
      c.ids.forEach((id, t) => logits.set(m.forward([id], state, "last")!, t * V));
      return same(whole(c), { logits, state });
    }),
    { numRuns: 150 },
  );
});

test("maxBlock smaller than T gives the same logits and state", () => {
  const arb = caseArb
    .filter((c) => c.ids.length > 1)
    .chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 1, max: c.ids.length - 1 })));
  fc.assert(
    fc.property(arb, ([c, maxBlock]) => {
      const m = build(c, maxBlock);
      const state = m.newState();
      return same(whole(c), { logits: m.forward(c.ids, state, "all")!, state });
    }),
    { numRuns: 120 },
  );
});

test("'last' == the last row of 'all'; 'none' returns null; all three leave the same state", () => {
  const arb = caseArb.chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 1, max: 16 })));
  fc.assert(
    fc.property(arb, ([c, maxBlock]) => {
      const ref = whole(c);
      const V = c.config.vocab_rows;
      const m = build(c, maxBlock);
      const s1 = m.newState();
      const last = m.forward(c.ids, s1, "last")!;
      const s2 = m.newState();
      const none = m.forward(c.ids, s2, "none");
      return (
        none === null && last.length === V &&
        scaledMaxDiff(ref.logits.subarray((c.ids.length - 1) * V), last) <= TOL &&
        stateDiff(ref.state, s1) <= TOL && stateDiff(ref.state, s2) <= TOL
      );
    }),
    { numRuns: 100 },
  );
});

test("state position counts tokens; an empty forward changes nothing", () => {
  const c: Case = { config: mamba2Config({ d_model: 8, n_layer: 1, d_state: 4, headdim: 4, vocab_size: 16, chunk_size: 4 }), weights: "f32", seed: 1, ids: [1, 2, 3] };
  const m = build(c);
  const s = m.newState();
  assert.is(m.forward([], s, "all")!.length, 0);
  assert.is(m.forward([], s, "none"), null);
  assert.is(s.position, 0);
  m.forward(c.ids, s, "none");
  m.forward([4], s, "last");
  assert.is(s.position, 4);
});

test("randomWeights: exactly the tensors buildModel reads, deterministic, independent of read order", () => {
  fc.assert(
    fc.property(caseArb, ({ config, seed }) => {
      const src = randomWeights(config, seed);
      const read = new Map<string, Float32Array>();
      const recording = {
        has: (n: string) => src.has(n),
        f32: (n: string, shape: number[]) => {
          const v = src.f32(n, shape);
          read.set(n, v);
          return v;
        },
      };
      buildModel(config, recording, createCpuBackend());
      const names = src.names();
      if (read.size !== names.length || names.some((n) => !read.has(n))) return false;
      const again = randomWeights(config, seed); // read in reverse order: same values
      return [...names].reverse().every((n) => {
        const a = again.f32(n, weightSpecs(config).get(n)!.shape);
        const b = read.get(n)!;
        return a.length === b.length && a.every((v, i) => v === b[i]);
      });
    }),
    { numRuns: 50 },
  );
});

test("randomWeights: realistic scales (A in [1,16], dt in [1e-3,0.1], norms and D around 1, N(0, 1/fan_in) projections)", () => {
  const config = mamba2Config({ d_model: 64, n_layer: 1, d_state: 16, headdim: 16, vocab_size: 300 });
  const w = randomWeights(config, 42);
  const p = "backbone.layers.0.mixer.";
  const A = w.f32(p + "A_log", [8]).map((v) => Math.exp(v));
  assert.ok(A.every((v) => v >= 1 && v <= 16), "A = exp(A_log) in [1, 16]");
  const dt = w.f32(p + "dt_bias", [8]).map((v) => Math.log1p(Math.exp(v)));
  assert.ok(dt.every((v) => v >= 0.999e-3 && v <= 0.1001), "softplus(dt_bias) in [1e-3, 0.1]");
  for (const [name, n] of [[p + "D", 8], [p + "norm.weight", 128], ["backbone.norm_f.weight", 64]] as const) {
    const v = w.f32(name, [n]);
    assert.ok(v.every((x) => x >= 0.5 && x <= 1.5) && v.some((x) => Math.abs(x - 1) > 0.1), `${name} in [0.5, 1.5], not all 1`);
  }
  const inW = w.f32(p + "in_proj.weight", [2 * 128 + 2 * 16 + 8, 64]);
  const std = Math.sqrt(inW.reduce((s, v) => s + v * v, 0) / inW.length);
  assert.ok(Math.abs(std * Math.sqrt(64) - 1) < 0.05, `in_proj std ${std} ~ 1/sqrt(64)`);
  assert.throws(() => w.f32(p + "in_proj.weight", [1, 64]), (e: Error) => e.name === "CheckpointError");
  assert.throws(() => w.f32("nope", [1]), (e: Error) => e.name === "CheckpointError");
});

test.run();
