// Properties of the MoM LM (core/models/mom.ts) on random small configs and weights (core/models/mom-random.ts):
// - prefill (chunked delta rule per memory, chunk sizes dividing the memories' token counts or not)
//   == token-by-token decode (step recurrence) == prefill split anywhere, in logits and final state;
// - a decode step changes exactly top-k routed memories (ssm and conv windows) plus the shared memory:
//   a memory a token is routed away from is left bit-for-bit untouched;
// - memories no token visits (forced by a router tie) keep their initial state;
// - with one memory, top-1 routing and no shared memory it is a plain gated DeltaNet LM (checked against
//   an independent token loop written below from the formulas in docs/mom.md).
// Tolerance: scaledMaxDiff <= 1e-4 on logits and states (float32 state rounding between calls and the
// chunked vs step forms of the delta rule; observed ~1e-6).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createCpuBackend } from "../kernels/cpu/index.ts";
import { buildModel } from "../core/models/index.ts";
import type { MomConfig } from "../core/models/config.ts";
import { momConfig, randomMomWeights } from "../core/models/mom-random.ts";
import { momStateSizes, momTensorNames, route } from "../core/models/mom.ts";
import type { Model, ModelState, WeightSource } from "../core/models/model.ts";
import { mulberry32, scaledMaxDiff, stateDiff } from "./helpers/random-model.ts";

const TOL = 1e-4;

const cfgArb: fc.Arbitrary<MomConfig> = fc
  .record({
    n_layer: fc.integer({ min: 1, max: 2 }),
    num_memories: fc.integer({ min: 1, max: 4 }),
    k: fc.integer({ min: 1, max: 4 }),
    shared_mem: fc.boolean(),
    num_heads: fc.integer({ min: 1, max: 2 }),
    head_dim: fc.integer({ min: 1, max: 4 }),
    expand_v: fc.constantFrom(1, 2),
    conv_size: fc.integer({ min: 1, max: 4 }),
    use_output_gate: fc.boolean(),
    mlp: fc.constantFrom<"fused" | "split">("fused", "split"),
    chunk_size: fc.integer({ min: 1, max: 5 }),
    d_model: fc.integer({ min: 4, max: 10 }),
  })
  .map(({ k, ...r }) => momConfig({ ...r, topk: Math.min(k, r.num_memories), vocab_size: 11, intermediate_size: 6 }));

function build(c: MomConfig, w: WeightSource): Model {
  return buildModel(c, w, createCpuBackend(), { maxBlock: 7 });
}

function ids(seed: number, T: number, V: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: T }, () => Math.floor(r() * V));
}

/** Slices [ssm, conv] of memory m in a layer state. */
function memSlices(c: MomConfig, s: ModelState, layer: number, m: number): [Float32Array, Float32Array] {
  const sz = momStateSizes(c);
  const ns = sz.ssm / sz.memories, nc = sz.conv / sz.memories;
  const l = s.layers[layer];
  return [l.ssm.subarray(m * ns, (m + 1) * ns), l.conv.subarray(m * nc, (m + 1) * nc)];
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

let runsWithIdleMemory = 0;

test("prefill == token-by-token decode == split anywhere; decode touches exactly top-k memories", () => {
  fc.assert(
    fc.property(cfgArb, fc.integer(), fc.integer({ min: 1, max: 14 }), fc.nat(), (c, seed, T, cut) => {
      const w = randomMomWeights(c, seed);
      const m = build(c, w);
      const toks = ids(seed ^ 0x5eed, T, c.vocab_size);
      const V = c.vocab_rows;

      const s1 = m.newState();
      const prefill = m.forward(toks, s1, "all")!;

      const s2 = m.newState();
      const decode = new Float32Array(T * V);
      for (let t = 0; t < T; t++) {
        const before = structuredClone(s2);
        decode.set(m.forward([toks[t]], s2, "last")!, t * V);
        for (let l = 0; l < c.n_layer; l++) {
          let changed = 0;
          for (let e = 0; e < c.num_memories; e++) {
            const [a0, b0] = memSlices(c, before, l, e), [a1, b1] = memSlices(c, s2, l, e);
            if (!same(a0, a1) || !same(b0, b1)) changed++;
          }
          if (changed !== c.topk) return false;
          if (c.shared_mem && same(memSlices(c, before, l, c.num_memories)[0], memSlices(c, s2, l, c.num_memories)[0])) return false;
        }
      }

      const s = cut % (T + 1);
      const s3 = m.newState();
      const a = m.forward(toks.slice(0, s), s3, "all")!;
      const b = m.forward(toks.slice(s), s3, "all")!;
      const split = new Float32Array(T * V);
      split.set(a);
      split.set(b, s * V);

      // memories never visited over the whole sequence stay exactly zero
      for (let l = 0; l < c.n_layer; l++)
        for (let e = 0; e < c.num_memories; e++) {
          const [x, y] = memSlices(c, s1, l, e);
          if (x.every((v) => v === 0) && y.every((v) => v === 0)) runsWithIdleMemory++;
        }

      return (
        scaledMaxDiff(prefill, decode) <= TOL && scaledMaxDiff(prefill, split) <= TOL &&
        stateDiff(s1, s2) <= TOL && stateDiff(s1, s3) <= TOL && s1.position === T
      );
    }),
    { numRuns: 60 },
  );
  assert.ok(runsWithIdleMemory > 0, "no generated case had a memory that no token visits");
});

test("a memory no token is routed to keeps its initial state (router tie, prefill and decode)", () => {
  const c = momConfig({ num_memories: 3, topk: 1, shared_mem: true, chunk_size: 3 });
  const base = randomMomWeights(c, 11);
  const overrides = new Map<string, Float32Array>();
  for (let l = 0; l < c.n_layer; l++) {
    const name = `model.layers.${l}.attn.gate.weight`;
    const g = base.f32(name, [3, c.d_model]);
    g.copyWithin(2 * c.d_model, 0, c.d_model); // memory 2 ties memory 0, which wins ties
    overrides.set(name, g);
  }
  const m = build(c, randomMomWeights(c, 11, { overrides }));
  const toks = ids(5, 20, c.vocab_size);
  const s1 = m.newState();
  const y1 = m.forward(toks, s1, "all")!;
  const s2 = m.newState();
  const y2 = new Float32Array(y1.length);
  toks.forEach((t, i) => y2.set(m.forward([t], s2, "last")!, i * c.vocab_rows));
  assert.ok(scaledMaxDiff(y1, y2) <= TOL);
  for (const s of [s1, s2])
    for (let l = 0; l < c.n_layer; l++) {
      const [a, b] = memSlices(c, s, l, 2);
      assert.ok(a.every((v) => v === 0) && b.every((v) => v === 0), `layer ${l}: memory 2 was touched`);
      const [a0] = memSlices(c, s, l, 0);
      assert.ok(a0.some((v) => v !== 0), `layer ${l}: memory 0 was never used`);
    }
});

test("route: softmax, top-k by probability (ties to the lower index), renormalised weights", () => {
  const r = route([0, Math.log(3), 0, Math.log(2)], 2);
  assert.equal(r.idx, [1, 3]);
  assert.ok(Math.abs(r.w[0] - 0.6) < 1e-12 && Math.abs(r.w[1] - 0.4) < 1e-12);
  assert.equal(route([1, 1, 1], 2).idx, [0, 1]);
  assert.equal(route([5, 1], 1).w, [1]);
});

// ---- independent plain gated DeltaNet LM (one memory, no routing), token by token in float64 ----

function refGdn(c: MomConfig, W: WeightSource, toks: number[]): Float32Array {
  const { d_model: d, num_heads: H, d_k: Dk, d_v: Dv, key_dim: Kd, value_dim: Vd, conv_size: Kc, intermediate_size: I, norm_eps: eps } = c;
  const mv = (m: Float32Array, rows: number, x: ArrayLike<number>) =>
    Array.from({ length: rows }, (_, r) => { let s = 0; for (let j = 0; j < x.length; j++) s += m[r * x.length + j] * x[j]; return s; });
  const rms = (x: number[], w: ArrayLike<number>) => { const ms = x.reduce((a, v) => a + v * v, 0) / x.length; return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]); };
  const silu = (x: number) => x / (1 + Math.exp(-x));
  const emb = W.f32("model.embeddings.weight", [c.vocab_rows, d]);
  const layers = Array.from({ length: c.n_layer }, (_, i) => {
    const p = `model.layers.${i}.`;
    const f = (n: string, s: number[]) => W.f32(p + n, s);
    return {
      an: f("attn_norm.weight", [d]), q: f("attn.q_proj.weight", [Kd, d]), k: f("attn.k_proj.0.weight", [Kd, d]),
      v: f("attn.v_proj.0.weight", [Vd, d]), b: f("attn.b_proj.0.weight", [H, d]), a: f("attn.a_proj.0.weight", [H, d]),
      Alog: f("attn.A_log", [H]), dtb: f("attn.dt_bias", [H]),
      cq: f("attn.q_conv1d.weight", [Kd, 1, Kc]), ck: f("attn.k_conv1d.weight", [Kd, 1, Kc]), cv: f("attn.v_conv1d.weight", [Vd, 1, Kc]),
      g: c.use_output_gate ? f("attn.g_proj.weight", [Vd, d]) : null, on: f("attn.o_norm.weight", [Dv]), o: f("attn.o_proj.weight", [d, Vd]),
      mn: f("mlp_norm.weight", [d]), gp: f("mlp.gate_proj.weight", [2 * I, d]), dp: f("mlp.down_proj.weight", [d, I]),
      S: new Float64Array(H * Dk * Dv),
      hist: { q: [] as number[][], k: [] as number[][], v: [] as number[][] },
    };
  });
  const conv = (hist: number[][], x: number[], w: Float32Array) => {
    hist.push(x);
    return x.map((_, ch) => {
      let s = 0;
      for (let j = 0; j < Kc; j++) { const t = hist.length - Kc + j; if (t >= 0) s += w[ch * Kc + j] * hist[t][ch]; }
      return silu(s);
    });
  };
  const l2 = (x: number[]) => x.map((_, i) => { const h0 = Math.floor(i / Dk) * Dk; let s = 0; for (let j = 0; j < Dk; j++) s += x[h0 + j] ** 2; return x[i] / Math.sqrt(s + 1e-6); });
  const out = new Float32Array(toks.length * c.vocab_rows);
  toks.forEach((id, t) => {
    let h = Array.from(emb.subarray(id * d, (id + 1) * d));
    for (const L of layers) {
      const x = rms(h, L.an);
      const q = l2(conv(L.hist.q, mv(L.q, Kd, x), L.cq)), k = l2(conv(L.hist.k, mv(L.k, Kd, x), L.ck)), v = conv(L.hist.v, mv(L.v, Vd, x), L.cv);
      const beta = mv(L.b, H, x).map((z) => 1 / (1 + Math.exp(-z)));
      const g = mv(L.a, H, x).map((z, hh) => -Math.exp(L.Alog[hh]) * Math.log1p(Math.exp(z + L.dtb[hh])));
      const o: number[] = new Array(Vd).fill(0);
      for (let hh = 0; hh < H; hh++) {
        const S = L.S.subarray(hh * Dk * Dv, (hh + 1) * Dk * Dv);
        for (let i = 0; i < S.length; i++) S[i] *= Math.exp(g[hh]);
        for (let j = 0; j < Dv; j++) {
          let sk = 0;
          for (let i = 0; i < Dk; i++) sk += S[i * Dv + j] * k[hh * Dk + i];
          const u = beta[hh] * (v[hh * Dv + j] - sk);
          for (let i = 0; i < Dk; i++) S[i * Dv + j] += k[hh * Dk + i] * u;
        }
        for (let j = 0; j < Dv; j++) { let s = 0; for (let i = 0; i < Dk; i++) s += S[i * Dv + j] * q[hh * Dk + i]; o[hh * Dv + j] = s / Math.sqrt(Dk); }
      }
      const gate = L.g ? mv(L.g, Vd, x) : null;
      const on: number[] = [];
      for (let hh = 0; hh < H; hh++) on.push(...rms(o.slice(hh * Dv, (hh + 1) * Dv), L.on).map((y, j) => (gate ? y * silu(gate[hh * Dv + j]) : y)));
      h = h.map((hv, i) => hv + mv(L.o, d, on)[i]);
      const u = rms(h, L.mn);
      const gu = mv(L.gp, 2 * I, u);
      const act = Array.from({ length: I }, (_, j) => silu(gu[j]) * gu[I + j]);
      const dn = mv(L.dp, d, act);
      h = h.map((hv, i) => hv + dn[i]);
    }
    const hf = rms(h, W.f32("model.norm.weight", [d]));
    out.set(mv(emb, c.vocab_rows, hf), t * c.vocab_rows);
  });
  return out;
}

test("one memory, top-1, no shared memory == a plain gated DeltaNet LM (independent token loop)", () => {
  fc.assert(
    fc.property(
      fc.record({
        n_layer: fc.integer({ min: 1, max: 2 }), num_heads: fc.integer({ min: 1, max: 2 }), head_dim: fc.integer({ min: 1, max: 4 }),
        expand_v: fc.constantFrom(1, 2), conv_size: fc.integer({ min: 1, max: 4 }), use_output_gate: fc.boolean(),
        chunk_size: fc.integer({ min: 1, max: 6 }), d_model: fc.integer({ min: 4, max: 10 }),
      }),
      fc.integer(), fc.integer({ min: 1, max: 12 }),
      (r, seed, T) => {
        const c = momConfig({ ...r, num_memories: 1, topk: 1, shared_mem: false, vocab_size: 9, intermediate_size: 5, mlp: "fused" });
        const w = randomMomWeights(c, seed);
        const toks = ids(seed, T, c.vocab_size);
        const m = build(c, w);
        const y = m.forward(toks, m.newState(), "all")!;
        return scaledMaxDiff(refGdn(c, w, toks), y) <= TOL;
      },
    ),
    { numRuns: 40 },
  );
});

test("paramCount counts every tensor once; stateBytes = (E+1)·(H·Dk·Dv + (2Kd+Vd)·(conv−1))·4 per layer", () => {
  const c = momConfig({ n_layer: 3, num_memories: 4, shared_mem: true, tie_embeddings: false });
  const w = randomMomWeights(c, 1);
  const m = build(c, w);
  let n = 0;
  for (const shape of momTensorNames(c).values()) n += shape.reduce((a, b) => a * b, 1);
  assert.is(m.paramCount, n);
  assert.is(m.stateBytes, 3 * 5 * (c.num_heads * c.d_k * c.d_v + (2 * c.key_dim + c.value_dim) * 3) * 4);
});

test.run();
