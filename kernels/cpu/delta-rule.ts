// Gated delta rule (Gated DeltaNet; the memory of MoM, see docs/mom.md), cpu reference: the token-by-token
// recurrence and an exact chunkwise (WY / UT-transform) formulation of the same function.
//
// Shapes (one sequence, one memory): T tokens, H heads, K key dim (d_k), V value dim (d_v)
//   q, k:  [T, H, K]   (the caller L2-normalises them; q is multiplied by `scale` here)
//   v:     [T, H, V]
//   beta:  [T, H]      write strength β ∈ (0, 1)
//   g:     [T, H]      log decay (≤ 0 in the models; any real value is accepted)
//   state: [H, K, V]   S, read as the initial state and overwritten with the final state (fla layout)
//   out:   [T, H, V]
//
// Recurrence per head (fla naive_recurrent_gated_delta_rule):
//   S ← exp(g_t)·S;  u_t = β_t·(v_t − Sᵀk_t);  S ← S + k_t u_tᵀ;  o_t = Sᵀ(scale·q_t)
// i.e. S_t = exp(g_t)(I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ.
//
// Chunked form (chunk of C tokens starting from S₀; γ_i = Σ_{j≤i} g_j inside the chunk):
//   S_t = e^{γ_t} S₀ + Σ_{j≤t} e^{γ_t−γ_j} k_j u_jᵀ, hence
//   (I + A) U = diag(β)(Vc − diag(e^γ) Kc S₀),  A[t, j] = β_t e^{γ_t−γ_j} k_tᵀk_j for j < t (else 0)
//   with Tm = (I + A)⁻¹ (unit lower triangular, by forward substitution):
//   W = Tm·diag(β e^γ)·Kc,  U₀ = Tm·diag(β)·Vc,  U = U₀ − W S₀                 (the WY representation)
//   o_t = scale·(e^{γ_t} S₀ᵀ q_t + Σ_{j≤t} e^{γ_t−γ_j}(q_tᵀk_j) u_j)
//   S_C = e^{γ_C} S₀ + Σ_j e^{γ_C−γ_j} k_j u_jᵀ
// Only differences γ_t − γ_j with j ≤ t are exponentiated, so every factor is ≤ 1 for g ≤ 0.
// Both forms accumulate in float64; the step form keeps S in float64 for the whole call and rounds it
// to float32 once at the end, as does the chunked form (differences are rounding only, ~1e-7 relative).

import { BackendError } from "../../core/errors.ts";
import type { DeltaRuleOps, GatedDeltaArgs } from "../backend.ts";

export type { GatedDeltaArgs } from "../backend.ts";

/**
 * Checks sizes and lengths of a gatedDelta call (every backend runs it first): a bad call is a
 * BackendError naming the argument, never an out-of-bounds read. Returns false for T = 0 (nothing to do).
 */
export function checkGatedDelta(a: GatedDeltaArgs, backend: string): boolean {
  const bad = (what: string) => new BackendError(`gatedDelta: ${what}`, backend);
  for (const [name, v] of [["H", a.H], ["K", a.K], ["V", a.V]] as const)
    if (!Number.isInteger(v) || v < 1) throw bad(`${name} must be a positive integer, got ${v}`);
  if (!Number.isInteger(a.T) || a.T < 0) throw bad(`T must be a non-negative integer, got ${a.T}`);
  if (a.chunkSize !== undefined && (!Number.isInteger(a.chunkSize) || a.chunkSize < 1))
    throw bad(`chunkSize must be a positive integer, got ${a.chunkSize}`);
  if (!Number.isFinite(a.scale)) throw bad(`scale must be finite, got ${a.scale}`);
  const { T, H, K, V } = a;
  const need: [string, Float32Array | undefined, number][] = [
    ["q", a.q, T * H * K], ["k", a.k, T * H * K], ["v", a.v, T * H * V], ["beta", a.beta, T * H], ["g", a.g, T * H], ["state", a.state, H * K * V],
  ];
  if (a.out) need.push(["out", a.out, T * H * V]);
  for (const [name, arr, n] of need) {
    if (!(arr instanceof Float32Array)) throw bad(`tensor ${name} must be a Float32Array`);
    if (arr.length < n) throw bad(`tensor ${name} has ${arr.length} values, expected at least ${n} for T ${T}, H ${H}, K ${K}, V ${V}`);
  }
  return T > 0;
}

/** The recurrence, token by token. Returns out: [T, H, V]. */
export function gatedDeltaStep(a: GatedDeltaArgs): Float32Array {
  const { T, H, K, V, q, k, v, beta, g, scale, state } = a;
  const out = a.out ?? new Float32Array(T * H * V);
  const S = Float64Array.from(state);
  const u = new Float64Array(V);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const s0 = h * K * V;
      const kq = (t * H + h) * K;
      const vo = (t * H + h) * V;
      const decay = Math.exp(g[t * H + h]);
      const b = beta[t * H + h];
      for (let i = 0; i < K * V; i++) S[s0 + i] *= decay;
      u.fill(0);
      for (let i = 0; i < K; i++) {
        const ki = k[kq + i];
        for (let j = 0; j < V; j++) u[j] += S[s0 + i * V + j] * ki;
      }
      for (let j = 0; j < V; j++) u[j] = b * (v[vo + j] - u[j]);
      for (let i = 0; i < K; i++) {
        const ki = k[kq + i];
        for (let j = 0; j < V; j++) S[s0 + i * V + j] += ki * u[j];
      }
      for (let j = 0; j < V; j++) {
        let o = 0;
        for (let i = 0; i < K; i++) o += S[s0 + i * V + j] * q[kq + i];
        out[vo + j] = scale * o;
      }
    }
  state.set(S);
  return out;
}

/** The chunkwise (WY) form; chunkSize defaults to 64. Returns out: [T, H, V]. */
export function gatedDeltaChunked(a: GatedDeltaArgs): Float32Array {
  const { T, H, K, V, q, k, v, beta, g, scale, state } = a;
  const Q = Math.max(1, a.chunkSize ?? 64);
  const out = a.out ?? new Float32Array(T * H * V);
  const S = Float64Array.from(state);
  const gam = new Float64Array(Q);
  const b = new Float64Array(Q);
  const Dm = new Float64Array(Q * Q); // e^{γ_t − γ_j}, j <= t
  const Kc = new Float64Array(Q * K), Qc = new Float64Array(Q * K), Vc = new Float64Array(Q * V);
  const Tm = new Float64Array(Q * Q);
  const Wm = new Float64Array(Q * K);
  const U = new Float64Array(Q * V);
  const QK = new Float64Array(Q * Q); // e^{γ_t − γ_j}·q_tᵀk_j
  const row = new Float64Array(V);
  for (let h = 0; h < H; h++) {
    const s0 = h * K * V;
    for (let c0 = 0; c0 < T; c0 += Q) {
      const C = Math.min(Q, T - c0);
      let acc = 0;
      for (let t = 0; t < C; t++) {
        const th = (c0 + t) * H + h;
        gam[t] = acc += g[th];
        b[t] = beta[th];
        for (let i = 0; i < K; i++) {
          Kc[t * K + i] = k[th * K + i];
          Qc[t * K + i] = q[th * K + i];
        }
        for (let j = 0; j < V; j++) Vc[t * V + j] = v[th * V + j];
      }
      // Tm = (I + A)⁻¹, A[t, j] = β_t e^{γ_t−γ_j} k_tᵀk_j (j < t), row by row: Tm[t] = e_t − Σ_{j<t} A[t, j] Tm[j]
      for (let t = 0; t < C; t++) {
        const Tt = t * Q;
        for (let c = 0; c < C; c++) Tm[Tt + c] = 0;
        Tm[Tt + t] = 1;
        for (let j = 0; j <= t; j++) {
          const dm = Math.exp(gam[t] - gam[j]);
          Dm[Tt + j] = dm;
          let kk = 0, qk = 0;
          for (let i = 0; i < K; i++) {
            kk += Kc[t * K + i] * Kc[j * K + i];
            qk += Qc[t * K + i] * Kc[j * K + i];
          }
          QK[Tt + j] = dm * qk;
          if (j === t) continue;
          const A = b[t] * dm * kk;
          if (A === 0) continue;
          const Tj = j * Q;
          for (let c = 0; c <= j; c++) Tm[Tt + c] -= A * Tm[Tj + c];
        }
      }
      // W = Tm·diag(β e^γ)·Kc ; U = Tm·diag(β)·Vc − W S₀
      for (let t = 0; t < C; t++) {
        const Wt = t * K, Ut = t * V;
        for (let i = 0; i < K; i++) Wm[Wt + i] = 0;
        for (let j = 0; j < V; j++) U[Ut + j] = 0;
        for (let c = 0; c <= t; c++) {
          const tc = Tm[t * Q + c] * b[c];
          if (tc === 0) continue;
          const tw = tc * Math.exp(gam[c]);
          for (let i = 0; i < K; i++) Wm[Wt + i] += tw * Kc[c * K + i];
          for (let j = 0; j < V; j++) U[Ut + j] += tc * Vc[c * V + j];
        }
        for (let i = 0; i < K; i++) {
          const w = Wm[Wt + i];
          if (w === 0) continue;
          const Si = s0 + i * V;
          for (let j = 0; j < V; j++) U[Ut + j] -= w * S[Si + j];
        }
      }
      // o_t = scale·(e^{γ_t} S₀ᵀ q_t + Σ_{j≤t} e^{γ_t−γ_j}(q_tᵀk_j) u_j)
      for (let t = 0; t < C; t++) {
        row.fill(0);
        for (let i = 0; i < K; i++) {
          const qi = Qc[t * K + i];
          if (qi === 0) continue;
          const Si = s0 + i * V;
          for (let j = 0; j < V; j++) row[j] += qi * S[Si + j];
        }
        const et = Math.exp(gam[t]);
        for (let j = 0; j < V; j++) row[j] *= et;
        for (let c = 0; c <= t; c++) {
          const f = QK[t * Q + c];
          for (let j = 0; j < V; j++) row[j] += f * U[c * V + j];
        }
        const o = ((c0 + t) * H + h) * V;
        for (let j = 0; j < V; j++) out[o + j] = scale * row[j];
      }
      // S_C = e^{γ_C} S₀ + Σ_j e^{γ_C−γ_j} k_j u_jᵀ
      const last = (C - 1) * Q;
      const eC = Math.exp(gam[C - 1]);
      for (let i = 0; i < K * V; i++) S[s0 + i] *= eC;
      for (let c = 0; c < C; c++) {
        const f = Dm[last + c];
        for (let i = 0; i < K; i++) {
          const kf = f * Kc[c * K + i];
          if (kf === 0) continue;
          const Si = s0 + i * V;
          for (let j = 0; j < V; j++) S[Si + j] += kf * U[c * V + j];
        }
      }
    }
  }
  state.set(S);
  return out;
}

/** The scan a model calls: the step recurrence for T = 1, the chunked form otherwise. */
export function gatedDeltaScan(a: GatedDeltaArgs): Float32Array {
  if (!checkGatedDelta(a, "cpu")) return a.out ?? new Float32Array(0);
  return a.T <= 1 ? gatedDeltaStep(a) : gatedDeltaChunked(a);
}

/** The cpu backend's delta-rule op (also what models run on a backend without one). */
export const cpuDeltaRule: DeltaRuleOps = { gatedDelta: gatedDeltaScan };
