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

export interface GatedDeltaArgs {
  T: number; H: number; K: number; V: number;
  q: Float32Array; k: Float32Array; v: Float32Array;
  beta: Float32Array; g: Float32Array;
  /** Multiplies q (1/√K in the models). */
  scale: number;
  /** [H, K, V], in/out. */
  state: Float32Array;
  /** Chunk length of the chunked form (any positive integer; results do not depend on it). */
  chunkSize?: number;
  out?: Float32Array;
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
  const Tm = new Float64Array(Q * Q);
  const W = new Float64Array(Q * K);
  const U = new Float64Array(Q * V);
  const KK = new Float64Array(Q * Q); // k_tᵀ k_j
  const QK = new Float64Array(Q * Q); // q_tᵀ k_j
  for (let h = 0; h < H; h++) {
    const s0 = h * K * V;
    for (let c0 = 0; c0 < T; c0 += Q) {
      const C = Math.min(Q, T - c0);
      const ki = (t: number, i: number) => k[((c0 + t) * H + h) * K + i];
      const qi = (t: number, i: number) => q[((c0 + t) * H + h) * K + i];
      const vi = (t: number, j: number) => v[((c0 + t) * H + h) * V + j];
      const bt = (t: number) => beta[(c0 + t) * H + h];
      let acc = 0;
      for (let t = 0; t < C; t++) gam[t] = acc += g[(c0 + t) * H + h];
      for (let t = 0; t < C; t++)
        for (let j = 0; j <= t; j++) {
          let kk = 0, qk = 0;
          for (let i = 0; i < K; i++) {
            kk += ki(t, i) * ki(j, i);
            qk += qi(t, i) * ki(j, i);
          }
          KK[t * Q + j] = kk;
          QK[t * Q + j] = qk;
        }
      // Tm = (I + A)⁻¹ by forward substitution, row by row: Tm[t] = e_t − Σ_{j<t} A[t, j] Tm[j]
      for (let t = 0; t < C; t++) {
        for (let c = 0; c < C; c++) Tm[t * Q + c] = c === t ? 1 : 0;
        for (let j = 0; j < t; j++) {
          const A = bt(t) * Math.exp(gam[t] - gam[j]) * KK[t * Q + j];
          if (A === 0) continue;
          for (let c = 0; c <= j; c++) Tm[t * Q + c] -= A * Tm[j * Q + c];
        }
      }
      // W = Tm·diag(β e^γ)·Kc ; U = Tm·diag(β)·Vc − W S₀
      for (let t = 0; t < C; t++) {
        for (let i = 0; i < K; i++) {
          let w = 0;
          for (let c = 0; c <= t; c++) w += Tm[t * Q + c] * bt(c) * Math.exp(gam[c]) * ki(c, i);
          W[t * K + i] = w;
        }
        for (let j = 0; j < V; j++) {
          let u = 0;
          for (let c = 0; c <= t; c++) u += Tm[t * Q + c] * bt(c) * vi(c, j);
          for (let i = 0; i < K; i++) u -= W[t * K + i] * S[s0 + i * V + j];
          U[t * V + j] = u;
        }
      }
      // outputs from S₀ and the intra-chunk terms
      for (let t = 0; t < C; t++) {
        const et = Math.exp(gam[t]);
        const o = ((c0 + t) * H + h) * V;
        for (let j = 0; j < V; j++) {
          let s = 0;
          for (let i = 0; i < K; i++) s += S[s0 + i * V + j] * qi(t, i);
          s *= et;
          for (let c = 0; c <= t; c++) s += Math.exp(gam[t] - gam[c]) * QK[t * Q + c] * U[c * V + j];
          out[o + j] = scale * s;
        }
      }
      // S_C = e^{γ_C} S₀ + Σ_j e^{γ_C−γ_j} k_j u_jᵀ
      const gC = gam[C - 1];
      const eC = Math.exp(gC);
      for (let i = 0; i < K * V; i++) S[s0 + i] *= eC;
      for (let c = 0; c < C; c++) {
        const f = Math.exp(gC - gam[c]);
        for (let i = 0; i < K; i++) {
          const kf = f * ki(c, i);
          for (let j = 0; j < V; j++) S[s0 + i * V + j] += kf * U[c * V + j];
        }
      }
    }
  }
  state.set(S);
  return out;
}

/** The scan a model calls: the step recurrence for T = 1, the chunked form otherwise. */
export function gatedDeltaScan(a: GatedDeltaArgs): Float32Array {
  return a.T <= 1 ? gatedDeltaStep(a) : gatedDeltaChunked(a);
}
