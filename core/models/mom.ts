// MoM: Mixture-of-Memories LM with gated delta-rule memories (OpenSparseLLMs/MoM `mom_gated_deltanet`,
// fla `mom`); see docs/mom.md and the shared reference mom.md for the sources.
//
// Shape letters: T tokens, d hidden, E num_memories, k topk, H heads, Dk = d_k, Dv = d_v,
// Kd = key_dim = H·Dk, Vd = value_dim = H·Dv, W = conv_size − 1, I intermediate_size.
//
// Block (pre-norm): h = x + attn(attn_norm(x));  out = h + mlp(mlp_norm(h)).
// attn(x), x: [T, d]:
//   router   p = softmax(x·gateᵀ) [T, E] (float64);  (w, idx) = top-k(p), w ← w / Σw   (ties: lower index)
//   q_raw    = x·q_projᵀ [T, Kd] (shared by all memories)
//   memory m (its tokens t₁ < t₂ < … routed to m, in order; the shared memory sees every token):
//     k_raw = x·k_proj[m]ᵀ, v_raw = x·v_proj[m]ᵀ;  q, k, v = silu(causal depthwise conv of q/k/v_raw with
//     the shared q/k/v_conv1d weights, along m's own token subsequence, continuing m's windows)
//     q̂, k̂ = per-head x/√(Σx² + 1e-6);  β = sigmoid(x·b_proj[m]ᵀ);  g = −exp(A_log)·softplus(x·a_proj[m]ᵀ + dt_bias)
//     o_m = gated delta rule (backend.deltaRule; reference kernels/cpu/delta-rule.ts) with scale 1/√Dk on m's state
//   o = Σ_j w_j·o_{idx_j} (+ o_shared);  per head o ← RMSNorm(o)·o_norm ⊙ silu(x·g_projᵀ);  out = o·o_projᵀ
// mlp(x) = down_proj(silu(gate) ⊙ up), gate | up = gate_proj (fused, [2I, d]) or gate_proj / up_proj.
//
// State (LayerState, float32, memory-major, routed memories 0..E−1 then the shared memory if any):
//   ssm:  [E(+1), H, Dk, Dv]                       (fla layout [K, V])
//   conv: [E(+1), (Kd + Kd + Vd), W]: for each memory its q window [Kd, W], k window [Kd, W], v window
//         [Vd, W], oldest column first.
// A memory no token is routed to is not touched at all: no decay, no conv shift (the varlen semantics;
// the naive reference code shifts zeros into the conv windows of unselected memories during decode).
//
// Prefill runs each memory's subsequence through the chunked (WY) delta-rule form; single tokens use the
// step recurrence. Both are the backend's delta-rule op (`backend.deltaRule.gatedDelta`: cpu, wasm, gpu,
// webgpu); a backend without one runs the cpu reference, and the model says which ran (`deltaRuleOp`).
// Long-context mitigations act on Mamba scans: an explicitly requested one is refused (OptionError)
// rather than silently run as the plain recurrence; "auto" (the CLI read default) runs as "none".
import type { Backend, Matrix } from "../../kernels/backend.ts";
import { cpuDeltaRule } from "../../kernels/cpu/delta-rule.ts";
import { ConfigError, OptionError } from "../errors.ts";
import type { MomConfig } from "./config.ts";
import { forwardInBlocks } from "./lm.ts";
import { Scratch } from "./scratch.ts";
import { stateArray, type BuildOptions, type LayerState, type LogitsMode, type Model, type ModelState, type WeightSource } from "./model.ts";

/** Tensor names of layer i (naive `mom_gated_deltanet` and fla `mom` share them, except the MLP). */
export function momLayerNames(c: MomConfig, i: number): Map<string, number[]> {
  const p = `model.layers.${i}.`;
  const { d_model: d, key_dim: Kd, value_dim: Vd, num_heads: H, num_memories: E, conv_size: Kc, d_v: Dv, intermediate_size: I } = c;
  const m = new Map<string, number[]>();
  m.set(p + "attn_norm.weight", [d]);
  m.set(p + "attn.gate.weight", [E, d]);
  m.set(p + "attn.q_proj.weight", [Kd, d]);
  for (let e = 0; e < E; e++) {
    m.set(p + `attn.k_proj.${e}.weight`, [Kd, d]);
    m.set(p + `attn.v_proj.${e}.weight`, [Vd, d]);
    m.set(p + `attn.b_proj.${e}.weight`, [H, d]);
    m.set(p + `attn.a_proj.${e}.weight`, [H, d]);
  }
  if (c.shared_mem) {
    m.set(p + "attn.shared_k.weight", [Kd, d]);
    m.set(p + "attn.shared_v.weight", [Vd, d]);
    m.set(p + "attn.shared_b.weight", [H, d]);
    m.set(p + "attn.shared_a.weight", [H, d]);
  }
  m.set(p + "attn.A_log", [H]);
  m.set(p + "attn.dt_bias", [H]);
  m.set(p + "attn.q_conv1d.weight", [Kd, 1, Kc]);
  m.set(p + "attn.k_conv1d.weight", [Kd, 1, Kc]);
  m.set(p + "attn.v_conv1d.weight", [Vd, 1, Kc]);
  if (c.use_output_gate) m.set(p + "attn.g_proj.weight", [Vd, d]);
  m.set(p + "attn.o_norm.weight", [Dv]);
  m.set(p + "attn.o_proj.weight", [d, Vd]);
  m.set(p + "mlp_norm.weight", [d]);
  if (c.mlp === "fused") m.set(p + "mlp.gate_proj.weight", [2 * I, d]);
  else {
    m.set(p + "mlp.gate_proj.weight", [I, d]);
    m.set(p + "mlp.up_proj.weight", [I, d]);
  }
  m.set(p + "mlp.down_proj.weight", [d, I]);
  return m;
}

/** Every tensor the model reads (lm_head only when untied). */
export function momTensorNames(c: MomConfig): Map<string, number[]> {
  const m = new Map<string, number[]>([["model.embeddings.weight", [c.vocab_rows, c.d_model]]]);
  for (let i = 0; i < c.n_layer; i++) for (const [k, v] of momLayerNames(c, i)) m.set(k, v);
  m.set("model.norm.weight", [c.d_model]);
  if (!c.tie_embeddings) m.set("lm_head.weight", [c.vocab_rows, c.d_model]);
  return m;
}

/** Number of float32 values of one layer's state: [ssm, conv]. */
export function momStateSizes(c: MomConfig): { ssm: number; conv: number; memories: number } {
  const memories = c.num_memories + (c.shared_mem ? 1 : 0);
  return {
    memories,
    ssm: memories * c.num_heads * c.d_k * c.d_v,
    conv: memories * (2 * c.key_dim + c.value_dim) * (c.conv_size - 1),
  };
}

/** Top-k routing of one token: indices sorted by probability (desc; ties to the lower index) and
 *  renormalised weights. `logits`: [E]. */
export function route(logits: ArrayLike<number>, k: number): { idx: number[]; w: number[] } {
  const E = logits.length;
  let mx = -Infinity;
  for (let e = 0; e < E; e++) mx = Math.max(mx, logits[e]);
  const p = Array.from({ length: E }, (_, e) => Math.exp(logits[e] - mx));
  const z = p.reduce((a, b) => a + b, 0);
  for (let e = 0; e < E; e++) p[e] /= z;
  const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => p[b] - p[a] || a - b);
  const idx = order.slice(0, k);
  const s = idx.reduce((a, e) => a + p[e], 0);
  return { idx, w: idx.map((e) => p[e] / s) };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/** Each head's row of Dk values scaled to unit L2 norm (eps 1e-6), in place. */
export function l2normHeads(x: Float32Array, Dk: number): Float32Array {
  for (let o = 0; o < x.length; o += Dk) {
    let s = 0;
    for (let i = 0; i < Dk; i++) s += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(s + 1e-6);
    for (let i = 0; i < Dk; i++) x[o + i] *= inv;
  }
  return x;
}

function gather(x: Float32Array, rows: number[], n: number, out: Float32Array): Float32Array {
  rows.forEach((r, j) => out.set(x.subarray(r * n, (r + 1) * n), j * n));
  return out;
}

interface MemoryWeights {
  k: Matrix; v: Matrix; b: Matrix; a: Matrix;
}

interface MomLayer {
  forward(x: Float32Array, T: number, state: LayerState): void;
  newState(): LayerState;
  paramCount: number;
}

/** A MoM model; `deltaRuleOp` says which delta-rule op runs ("wasm", or "cpu reference (...)"). */
export interface MomModel extends Model {
  readonly deltaRuleOp: string;
}

function momLayer(c: MomConfig, weights: WeightSource, backend: Backend, dtype: BuildOptions["weights"], i: number, scratch: Scratch): MomLayer {
  const names = momLayerNames(c, i);
  const p = `model.layers.${i}.`;
  const w = (n: string) => weights.f32(p + n, names.get(p + n)!);
  const mat = (n: string) => {
    const shape = names.get(p + n)!;
    return backend.matrix(w(n), shape[0], shape[1], dtype);
  };
  const { d_model: d, key_dim: Kd, value_dim: Vd, num_heads: H, d_k: Dk, d_v: Dv, num_memories: E, topk, conv_size: Kc } = c;
  const Wc = Kc - 1;
  const eps = c.norm_eps;
  const attnNorm = w("attn_norm.weight");
  const mlpNorm = w("mlp_norm.weight");
  const gate = backend.matrix(w("attn.gate.weight"), E, d, "f32"); // the router stays f32
  const qProj = mat("attn.q_proj.weight");
  const mems: MemoryWeights[] = Array.from({ length: E }, (_, e) => ({
    k: mat(`attn.k_proj.${e}.weight`), v: mat(`attn.v_proj.${e}.weight`),
    b: mat(`attn.b_proj.${e}.weight`), a: mat(`attn.a_proj.${e}.weight`),
  }));
  if (c.shared_mem) mems.push({ k: mat("attn.shared_k.weight"), v: mat("attn.shared_v.weight"), b: mat("attn.shared_b.weight"), a: mat("attn.shared_a.weight") });
  const A = w("attn.A_log").map((v) => -Math.exp(v));
  const dtBias = w("attn.dt_bias");
  const convQ = w("attn.q_conv1d.weight"), convK = w("attn.k_conv1d.weight"), convV = w("attn.v_conv1d.weight");
  const gProj = c.use_output_gate ? mat("attn.g_proj.weight") : null;
  const oNorm = w("attn.o_norm.weight");
  const oNormTiled = new Float32Array(Vd);
  for (let h = 0; h < H; h++) oNormTiled.set(oNorm, h * Dv);
  const oProj = mat("attn.o_proj.weight");
  const I = c.intermediate_size;
  let mlpGate: Matrix, mlpUp: Matrix;
  if (c.mlp === "fused") {
    const gp = w("mlp.gate_proj.weight");
    mlpGate = backend.matrix(gp.subarray(0, I * d), I, d, dtype);
    mlpUp = backend.matrix(gp.subarray(I * d), I, d, dtype);
  } else {
    mlpGate = mat("mlp.gate_proj.weight");
    mlpUp = mat("mlp.up_proj.weight");
  }
  const mlpDown = mat("mlp.down_proj.weight");
  const sizes = momStateSizes(c);
  const HKV = H * Dk * Dv;
  const convPer = (2 * Kd + Vd) * Wc;
  const scale = 1 / Math.sqrt(Dk);
  const deltaRule = backend.deltaRule ?? cpuDeltaRule;
  let paramCount = 0;
  for (const shape of names.values()) paramCount += shape.reduce((a, b) => a * b, 1);

  /** Runs memory m on its token rows `rows` (ascending) and adds weight·o_m into o: [T, Vd]. */
  function runMemory(m: number, rows: number[], wts: number[] | null, x: Float32Array, qAll: Float32Array, T: number, state: LayerState, o: Float32Array) {
    const Tm = rows.length;
    if (Tm === 0) return;
    const all = Tm === T;
    const xm = all ? x : gather(x, rows, d, scratch.get("mom.xm", Tm * d));
    const qm = all ? qAll : gather(qAll, rows, Kd, scratch.get("mom.qm", Tm * Kd));
    const km = backend.matmul(xm, Tm, mems[m].k, scratch.get("mom.k", Tm * Kd));
    const vm = backend.matmul(xm, Tm, mems[m].v, scratch.get("mom.v", Tm * Vd));
    const cb = m * convPer;
    const conv = (x: Float32Array, n: number, wts: Float32Array, w0: number, key: string) =>
      backend.conv1d(x, Tm, n, Kc, wts, null, state.conv.subarray(cb + w0 * Wc, cb + (w0 + n) * Wc), scratch.get(key, Tm * n));
    const q = l2normHeads(conv(qm, Kd, convQ, 0, "mom.cq"), Dk);
    const k = l2normHeads(conv(km, Kd, convK, Kd, "mom.ck"), Dk);
    const v = conv(vm, Vd, convV, 2 * Kd, "mom.cv");
    const beta = backend.matmul(xm, Tm, mems[m].b, scratch.get("mom.beta", Tm * H));
    const g = backend.matmul(xm, Tm, mems[m].a, scratch.get("mom.g", Tm * H));
    for (let t = 0; t < Tm; t++)
      for (let h = 0; h < H; h++) {
        beta[t * H + h] = sigmoid(beta[t * H + h]);
        g[t * H + h] = A[h] * softplus(g[t * H + h] + dtBias[h]);
      }
    const y = deltaRule.gatedDelta({
      T: Tm, H, K: Dk, V: Dv, q, k, v, beta, g, scale, chunkSize: c.chunk_size,
      state: state.ssm.subarray(m * HKV, (m + 1) * HKV), out: scratch.get("mom.y", Tm * Vd),
    });
    for (let j = 0; j < Tm; j++) {
      const f = wts ? wts[j] : 1;
      const oo = rows[j] * Vd;
      for (let n = 0; n < Vd; n++) o[oo + n] += f * y[j * Vd + n];
    }
  }

  return {
    paramCount,
    newState: () => ({ ssm: stateArray(backend, sizes.ssm), conv: stateArray(backend, sizes.conv) }),
    forward(h: Float32Array, T: number, state: LayerState) {
      const x = backend.rmsnorm(h, T, d, attnNorm, eps, scratch.get("mom.x", T * d));
      const logits = backend.matmul(x, T, gate, scratch.get("mom.route", T * E));
      const rows: number[][] = Array.from({ length: E }, () => []);
      const wts: number[][] = Array.from({ length: E }, () => []);
      for (let t = 0; t < T; t++) {
        const r = route(logits.subarray(t * E, (t + 1) * E), topk);
        r.idx.forEach((e, j) => {
          rows[e].push(t);
          wts[e].push(r.w[j]);
        });
      }
      const qAll = backend.matmul(x, T, qProj, scratch.get("mom.q", T * Kd));
      const o = scratch.get("mom.o", T * Vd).fill(0);
      for (let m = 0; m < E; m++) runMemory(m, rows[m], wts[m], x, qAll, T, state, o);
      if (c.shared_mem) runMemory(E, Array.from({ length: T }, (_, t) => t), null, x, qAll, T, state, o);
      const normed = gProj
        ? backend.gatedRmsnorm(o, backend.matmul(x, T, gProj, scratch.get("mom.gp", T * Vd)), T, Vd, Dv, oNormTiled, eps, true, scratch.get("mom.n", T * Vd))
        : backend.rmsnorm(o, T * H, Dv, oNorm, eps, scratch.get("mom.n", T * Vd));
      backend.add(h, backend.matmul(normed, T, oProj, scratch.get("mom.out", T * d)));
      const u = backend.rmsnorm(h, T, d, mlpNorm, eps, scratch.get("mom.u", T * d));
      const up = backend.matmul(u, T, mlpUp, scratch.get("mom.up", T * I));
      backend.siluGate(up, backend.matmul(u, T, mlpGate, scratch.get("mom.gate", T * I)));
      backend.add(h, backend.matmul(up, T, mlpDown, scratch.get("mom.down", T * d)));
    },
  };
}

export function buildMom(c: MomConfig, weights: WeightSource, backend: Backend, opts: BuildOptions = {}): MomModel {
  if (c.d_k * c.num_heads !== c.key_dim || c.d_v * c.num_heads !== c.value_dim) throw new ConfigError("key_dim / value_dim inconsistent with num_heads", c.source.file);
  if (c.topk < 1 || c.topk > c.num_memories) throw new ConfigError(`topk ${c.topk} must be in [1, num_memories = ${c.num_memories}]`, c.source.file, "topk");
  if (c.conv_size < 1) throw new ConfigError("conv_size must be >= 1", c.source.file, "conv_size");
  const { d_model: d, vocab_rows: V, n_layer } = c;
  const dtype = opts.weights ?? "f32";
  const maxBlock = opts.maxBlock ?? 256;
  const embedding = backend.matrix(weights.f32("model.embeddings.weight", [V, d]), V, d, dtype);
  let lmHead = embedding;
  if (!c.tie_embeddings && weights.has("lm_head.weight")) lmHead = backend.matrix(weights.f32("lm_head.weight", [V, d]), V, d, dtype);
  const scratch = new Scratch(backend);
  const layers = Array.from({ length: n_layer }, (_, i) => momLayer(c, weights, backend, dtype, i, scratch));
  const normF = weights.f32("model.norm.weight", [d]);
  const paramCount = V * d * (lmHead === embedding ? 1 : 2) + d + layers.reduce((s, l) => s + l.paramCount, 0);
  const sizes = momStateSizes(c);
  const stateBytes = 4 * n_layer * (sizes.ssm + sizes.conv);

  function block(ids: ArrayLike<number>, state: ModelState, lastOnly: boolean): Float32Array {
    const T = ids.length;
    const h = backend.embed(ids, embedding, scratch.get("mom.h", T * d));
    for (let i = 0; i < n_layer; i++) layers[i].forward(h, T, state.layers[i]);
    const rows = lastOnly ? h.subarray((T - 1) * d) : h;
    return backend.rmsnorm(rows, lastOnly ? 1 : T, d, normF, c.norm_eps, scratch.get("mom.hf", rows.length));
  }

  return {
    config: c,
    backend,
    deltaRuleOp: backend.deltaRule ? backend.name : `cpu reference (backend ${backend.name} has no delta-rule op)`,
    paramCount,
    stateBytes,
    newState: () => ({ position: 0, layers: layers.map((l) => l.newState()) }),
    forward(ids: ArrayLike<number>, state: ModelState, mode: LogitsMode, out?: Float32Array): Float32Array | null {
      if (state.plan && state.plan.kind !== "none" && state.plan.requested !== "auto")
        throw new OptionError(`"${state.plan.requested}" acts on Mamba scans; MoM models run with mitigation "none"`, "mitigation");
      return forwardInBlocks(ids, state, mode, V, maxBlock, out, (chunk, lastOnly) => block(chunk, state, lastOnly),
        (hidden, rows, o) => backend.matmul(hidden, rows, lmHead, o));
    },
  };
}
