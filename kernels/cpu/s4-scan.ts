// S4 / S4D recurrent mode (see shared reference s4.md §4): the state carried across calls is
// float32 [H, M, 2] (one of each conjugate pair), advanced in float64 inside a call.
//
// diagScan (S4D, the complex diagonal step), per channel h and mode m:
//   x[h,m] <- dA[h,m]·x[h,m] + dB[h,m]·u[t,h];   y[t, c·H+h] = 2·Re Σ_m dC[c,h,m]·x[h,m]
//
// dplrScan (S4, bilinear DPLR, s4's O(N) "linear" step, conjugate-symmetric state):
//   w  = E⊙x − Σ_r P_r·2Re(Q_r·x) + 2·B·u          (= (2/dt + A)·x + 2B·u,  A = Λ − P·P*)
//   x <- D⊙(w − Σ_r P_r·2Re(W_r·w))                 (= (2/dt − A)⁻¹·w by Woodbury)
//   y  = 2·Re Σ_m dC[c,h,m]·x[h,m]
// with Q = conj(P), E = 2/dt + Λ, D = 1/(2/dt − Λ), W = (I + 2Re(Q·D·Pᵀ))⁻¹·(Q⊙D): [R, H, M, 2].
import type { DiagScanArgs, DplrScanArgs } from "../backend.ts";

export function diagScan(a: DiagScanArgs): Float32Array {
  const { T, H, M, Cc, dA, dB, dC, u, state } = a;
  const CH = Cc * H;
  const y = a.skipOutput ? new Float32Array(0) : (a.out ?? new Float32Array(T * CH));
  const x = Float64Array.from(state);
  const acc = new Float64Array(Cc);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const uv = u[t * H + h];
      acc.fill(0);
      for (let m = 0; m < M; m++) {
        const i = 2 * (h * M + m);
        const ar = dA[i], ai = dA[i + 1];
        const xr = x[i], xi = x[i + 1];
        const nr = ar * xr - ai * xi + dB[i] * uv;
        const ni = ar * xi + ai * xr + dB[i + 1] * uv;
        x[i] = nr;
        x[i + 1] = ni;
        if (!a.skipOutput)
          for (let c = 0; c < Cc; c++) {
            const j = 2 * ((c * H + h) * M + m);
            acc[c] += dC[j] * nr - dC[j + 1] * ni;
          }
      }
      if (!a.skipOutput) for (let c = 0; c < Cc; c++) y[t * CH + c * H + h] = 2 * acc[c];
    }
  state.set(x);
  return y;
}

export function dplrScan(a: DplrScanArgs): Float32Array {
  const { T, H, M, R, Cc, E, D, B, P, W, dC, u, state } = a;
  const CH = Cc * H;
  const y = a.skipOutput ? new Float32Array(0) : (a.out ?? new Float32Array(T * CH));
  const x = Float64Array.from(state);
  const wr = new Float64Array(M), wi = new Float64Array(M);
  const s = new Float64Array(R);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const uv = 2 * u[t * H + h];
      const hx = 2 * h * M;
      // s_r = 2·Re(Q_r·x) = 2 Σ (P.re·x.re + P.im·x.im)
      for (let r = 0; r < R; r++) {
        let acc = 0;
        const po = 2 * r * H * M + hx;
        for (let m = 0; m < M; m++) acc += P[po + 2 * m] * x[hx + 2 * m] + P[po + 2 * m + 1] * x[hx + 2 * m + 1];
        s[r] = 2 * acc;
      }
      for (let m = 0; m < M; m++) {
        const i = hx + 2 * m;
        let vr = E[i] * x[i] - E[i + 1] * x[i + 1] + B[i] * uv;
        let vi = E[i] * x[i + 1] + E[i + 1] * x[i] + B[i + 1] * uv;
        for (let r = 0; r < R; r++) {
          const po = 2 * r * H * M + i;
          vr -= P[po] * s[r];
          vi -= P[po + 1] * s[r];
        }
        wr[m] = vr;
        wi[m] = vi;
      }
      // s_r = 2·Re(W_r·w)
      for (let r = 0; r < R; r++) {
        let acc = 0;
        const wo = 2 * r * H * M + hx;
        for (let m = 0; m < M; m++) acc += W[wo + 2 * m] * wr[m] - W[wo + 2 * m + 1] * wi[m];
        s[r] = 2 * acc;
      }
      for (let m = 0; m < M; m++) {
        const i = hx + 2 * m;
        let vr = wr[m], vi = wi[m];
        for (let r = 0; r < R; r++) {
          const po = 2 * r * H * M + i;
          vr -= P[po] * s[r];
          vi -= P[po + 1] * s[r];
        }
        x[i] = D[i] * vr - D[i + 1] * vi;
        x[i + 1] = D[i] * vi + D[i + 1] * vr;
      }
      if (!a.skipOutput)
        for (let c = 0; c < Cc; c++) {
          let acc = 0;
          const co = 2 * c * H * M + hx;
          for (let m = 0; m < M; m++) acc += dC[co + 2 * m] * x[hx + 2 * m] - dC[co + 2 * m + 1] * x[hx + 2 * m + 1];
          y[t * CH + c * H + h] = 2 * acc;
        }
    }
  state.set(x);
  return y;
}
