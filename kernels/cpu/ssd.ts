// Mamba-2 SSD scan (reference). Shapes: x: [T, H, P]; dt: [T, H]; A, D: [H]; B, C: [T, G, N];
// state: [H, P, N] in/out; y: [T, H, P]. Head h reads group g = floor(h / (H / G)).
//
// Step recurrence (decode):   S_h <- exp(dt A_h) S_h + dt x_h ⊗ B_g;   y_h = S_h C_g + D_h x_h
// Chunked SSD (prefill), per chunk of Q tokens with chunk-local cumulative log-decay
// Acs[i] = Σ_{r<=i} dt_r A (mamba2.md §5):
//   1. Y_diag[i] = Σ_{j<=i} (C_i·B_j) exp(Acs[i]-Acs[j]) dt_j x_j     (masked "attention")
//   4. Y_off[i]  = exp(Acs[i]) (S_in · C_i)                            (state entering the chunk)
//   2. S_chunk   = Σ_j exp(Acs[Q-1]-Acs[j]) dt_j x_j ⊗ B_j
//   3. S_out     = exp(Acs[Q-1]) S_in + S_chunk
// A partial last chunk needs no padding: it is simply a shorter chunk.
import type { SsdScanArgs } from "../backend.ts";

export function ssdScan(a: SsdScanArgs): Float32Array {
  return a.T === 1 ? ssdStep(a) : ssdChunked(a);
}

export function ssdStep(a: SsdScanArgs): Float32Array {
  const { T, H, P, G, N, x, dt, A, B, C, D, state } = a;
  const y = a.out ?? new Float32Array(T * H * P);
  const hpg = H / G;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / hpg);
      const dtv = dt[t * H + h];
      const decay = Math.exp(dtv * A[h]);
      const bo = (t * G + g) * N;
      for (let p = 0; p < P; p++) {
        const xv = x[(t * H + h) * P + p];
        const so = (h * P + p) * N;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const s = decay * state[so + n] + dtv * xv * B[bo + n];
          state[so + n] = s;
          acc += s * C[bo + n];
        }
        y[(t * H + h) * P + p] = acc + D[h] * xv;
      }
    }
  return y;
}

export function ssdChunked(a: SsdScanArgs): Float32Array {
  const { T, H, P, G, N, x, dt, A, B, C, D, state, chunkSize: Q } = a;
  const y = a.out ?? new Float32Array(T * H * P);
  const hpg = H / G;
  const Acs = new Float64Array(Q);
  const CB = new Float64Array(Q * Q);
  const S = new Float64Array(P * N);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / hpg);
    for (let i = 0; i < P * N; i++) S[i] = state[h * P * N + i];
    for (let t0 = 0; t0 < T; t0 += Q) {
      const L = Math.min(Q, T - t0);
      let cum = 0;
      for (let i = 0; i < L; i++) Acs[i] = cum += dt[(t0 + i) * H + h] * A[h];
      // C_i · B_j for j <= i
      for (let i = 0; i < L; i++)
        for (let j = 0; j <= i; j++) {
          const ci = ((t0 + i) * G + g) * N, bj = ((t0 + j) * G + g) * N;
          let s = 0;
          for (let n = 0; n < N; n++) s += C[ci + n] * B[bj + n];
          CB[i * Q + j] = s * Math.exp(Acs[i] - Acs[j]) * dt[(t0 + j) * H + h];
        }
      for (let i = 0; i < L; i++) {
        const ci = ((t0 + i) * G + g) * N;
        const decayIn = Math.exp(Acs[i]);
        for (let p = 0; p < P; p++) {
          let diag = 0;
          for (let j = 0; j <= i; j++) diag += CB[i * Q + j] * x[((t0 + j) * H + h) * P + p];
          let off = 0;
          for (let n = 0; n < N; n++) off += S[p * N + n] * C[ci + n];
          const xi = x[((t0 + i) * H + h) * P + p];
          y[((t0 + i) * H + h) * P + p] = diag + decayIn * off + D[h] * xi;
        }
      }
      // state passing: S <- exp(Acs[L-1]) S + Σ_j exp(Acs[L-1]-Acs[j]) dt_j x_j ⊗ B_j
      const last = Acs[L - 1];
      const total = Math.exp(last);
      for (let i = 0; i < P * N; i++) S[i] *= total;
      for (let j = 0; j < L; j++) {
        const w = Math.exp(last - Acs[j]) * dt[(t0 + j) * H + h];
        const bj = ((t0 + j) * G + g) * N;
        for (let p = 0; p < P; p++) {
          const wx = w * x[((t0 + j) * H + h) * P + p];
          for (let n = 0; n < N; n++) S[p * N + n] += wx * B[bj + n];
        }
      }
    }
    for (let i = 0; i < P * N; i++) state[h * P * N + i] = S[i];
  }
  return y;
}
