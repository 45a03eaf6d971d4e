// gpu.js kernel sources of the gpu backend (one value per thread, flat 1-D arrays, output [n]).
// gpu.js compiles each to a WGSL compute shader in its webgpu mode. Every loop bound is an argument,
// so gpu.js emits it as `for (i < LOOP_MAX)` with a break: the engine (engine.ts) compiles each
// kernel with loopMaxIterations >= the bound it will be called with, and refuses (BackendError) a
// call whose bound exceeds the compiled one, so no loop is ever cut short.
//
// Shape letters as in kernels/backend.ts; Q chunk length, nc = ceil(T / Q) chunks.
/* eslint-disable */
// @ts-nocheck -- gpu.js kernel functions use `this.thread` and are translated, not type-checked

/** y[t, r] = Σ_c x[t, c] w[r, c]; i = t·rows + r. Loop bound: cols. */
export function matmul(x, w, rows, cols) {
  const i = this.thread.x;
  const t = Math.floor(i / rows);
  const r = i - t * rows;
  let s = 0;
  for (let c = 0; c < cols; c++) s += x[t * cols + c] * w[r * cols + c];
  return s;
}

/** out[t, c] = w[ids[t], c]; i = t·cols + c. */
export function embed(ids, w, cols) {
  const i = this.thread.x;
  const t = Math.floor(i / cols);
  const c = i - t * cols;
  return w[ids[t] * cols + c];
}

/** rmsnorm of x: [T, D] row by row. Loop bound: D. */
export function rmsnorm(x, w, D, eps) {
  const i = this.thread.x;
  const t = Math.floor(i / D);
  let s = 0;
  for (let d = 0; d < D; d++) s += x[t * D + d] * x[t * D + d];
  return x[i] * (1 / Math.sqrt(s / D + eps)) * w[i - t * D];
}

/** Gated RMSNorm over groups of gs channels. Loop bound: gs. */
export function gatedRmsnorm(y, z, w, D, gs, eps, nbg) {
  const i = this.thread.x;
  const g0 = Math.floor(i / gs) * gs;
  let s = 0;
  for (let k = 0; k < gs; k++) {
    let v = y[g0 + k];
    if (nbg < 0.5) v = v * (z[g0 + k] / (1 + Math.exp(-z[g0 + k])));
    s += v * v;
  }
  const sz = z[i] / (1 + Math.exp(-z[i]));
  let v = y[i];
  if (nbg < 0.5) v = v * sz;
  let n = v * (1 / Math.sqrt(s / gs + eps)) * w[i - Math.floor(i / D) * D];
  if (nbg > 0.5) n = n * sz;
  return n;
}

/** Causal depthwise conv + bias + SiLU; i = t·C + c. Loop bound: K. */
export function conv1d(x, win, w, bias, C, K) {
  const i = this.thread.x;
  const t = Math.floor(i / C);
  const c = i - t * C;
  const W = K - 1;
  let s = bias[c];
  for (let k = 0; k < K; k++) {
    const src = t - W + k;
    let v = 0;
    if (src >= 0) v = x[src * C + c];
    else v = win[c * W + W + src];
    s += w[c * K + k] * v;
  }
  return s / (1 + Math.exp(-s));
}

/** dt <- clamp(softplus(dt + bias[h]), lo, hi); i = t·H + h. */
export function dtSoftplus(dt, bias, H, lo, hi) {
  const i = this.thread.x;
  const v = dt[i] + bias[i - Math.floor(i / H) * H];
  let s = 0;
  if (v > 20) s = v;
  else if (v < -15) s = Math.exp(v);
  else s = Math.log(1 + Math.exp(v));
  return Math.min(hi, Math.max(lo, s));
}

export function siluGate(y, z) {
  const i = this.thread.x;
  return y[i] * (z[i] / (1 + Math.exp(-z[i])));
}

export function add(a, b) {
  const i = this.thread.x;
  return a[i] + b[i];
}

/** Acs[h, t] = Σ_{j = chunk start .. t} dt[j, h] A[h] (chunk-local); i = h·T + t. Loop bound: Q. */
export function ssdCumsum(dt, A, T, H, Q) {
  const i = this.thread.x;
  const h = Math.floor(i / T);
  const t = i - h * T;
  const c0 = Math.floor(t / Q) * Q;
  let s = 0;
  for (let j = 0; j < Q; j++) {
    if (c0 + j <= t) s += dt[(c0 + j) * H + h] * A[h];
  }
  return s;
}

/** CB[g, t, j] = C_t · B_{c0+j} for c0 + j <= t (else 0); i = (g·T + t)·Q + j. Loop bound: N. */
export function ssdCB(B, C, T, G, N, Q) {
  const i = this.thread.x;
  const j = i - Math.floor(i / Q) * Q;
  const t = Math.floor(i / Q) - Math.floor(i / (Q * T)) * T;
  const g = Math.floor(i / (Q * T));
  const c0 = Math.floor(t / Q) * Q;
  let s = 0;
  if (c0 + j <= t) {
    for (let n = 0; n < N; n++) s += C[(t * G + g) * N + n] * B[((c0 + j) * G + g) * N + n];
  }
  return s;
}

/** Chunk states S[c, h, p, n] = Σ_j exp(Acs[last] - Acs[j]) dt_j x_j[p] B_j[n]. Loop bound: Q. */
export function ssdChunkState(x, dt, Acs, B, T, H, P, G, N, Q) {
  const i = this.thread.x;
  const n = i - Math.floor(i / N) * N;
  const p = Math.floor(i / N) - Math.floor(i / (N * P)) * P;
  const h = Math.floor(i / (N * P)) - Math.floor(i / (N * P * H)) * H;
  const c = Math.floor(i / (N * P * H));
  const g = Math.floor(h / (H / G));
  const t1 = Math.min(T, c * Q + Q);
  const last = Acs[h * T + t1 - 1];
  let s = 0;
  for (let k = 0; k < Q; k++) {
    const t = c * Q + k;
    if (t < t1) s += Math.exp(last - Acs[h * T + t]) * dt[t * H + h] * x[(t * H + h) * P + p] * B[(t * G + g) * N + n];
  }
  return s;
}

/** States entering each chunk, Hin[c] (c < nc), and the final state (c = nc): i = c·HPN + o.
 *  Hin[c] = Σ_{k<c} (Π_{k<m<c} decay_m) S[k] + (Π_{m<c} decay_m) state0. Loop bound: nc. */
export function ssdPass(Acs, S, state0, T, H, P, N, Q, nc) {
  const i = this.thread.x;
  const HPN = H * P * N;
  const c = Math.floor(i / HPN);
  const o = i - c * HPN;
  const h = Math.floor(o / (P * N));
  let s = 0;
  let decay = 1;
  for (let k = 0; k < nc; k++) {
    if (k < c) {
      const kk = c - 1 - k;
      s += decay * S[kk * HPN + o];
      decay = decay * Math.exp(Acs[h * T + Math.min(T, kk * Q + Q) - 1]);
    }
  }
  return s + decay * state0[o];
}

/** y[t, h, p] = Σ_{j<=t in chunk} CB exp(Acs_t - Acs_j) dt_j x_j + exp(Acs_t) (Hin_c · C_t) + D x_t.
 *  Loop bounds: Q and N. */
export function ssdOut(x, dt, Acs, CB, Hin, C, D, T, H, P, G, N, Q) {
  const i = this.thread.x;
  const p = i - Math.floor(i / P) * P;
  const h = Math.floor(i / P) - Math.floor(i / (P * H)) * H;
  const t = Math.floor(i / (P * H));
  const g = Math.floor(h / (H / G));
  const c = Math.floor(t / Q);
  const c0 = c * Q;
  const at = Acs[h * T + t];
  let diag = 0;
  for (let k = 0; k < Q; k++) {
    const j = c0 + k;
    if (j <= t) diag += CB[(g * T + t) * Q + k] * Math.exp(at - Acs[h * T + j]) * dt[j * H + h] * x[(j * H + h) * P + p];
  }
  let off = 0;
  for (let n = 0; n < N; n++) off += Hin[((c * H + h) * P + p) * N + n] * C[(t * G + g) * N + n];
  return diag + Math.exp(at) * off + D[h] * x[i];
}

/** Mamba-1 final state h[d, n] after T tokens from state0; i = d·N + n. Loop bound: T. */
export function selState(x, dt, A, B, state0, T, D, N) {
  const i = this.thread.x;
  const d = Math.floor(i / N);
  const n = i - d * N;
  let h = state0[i];
  for (let t = 0; t < T; t++) h = Math.exp(dt[t * D + d] * A[i]) * h + dt[t * D + d] * B[t * N + n] * x[t * D + d];
  return h;
}

/** Mamba-1 y[t, d] = Σ_n C[t, n] h_t[d, n] + Dskip[d] x[t, d], re-running the recurrence up to t
 *  (quadratic in T: the WGSL backend has the linear scan). Loop bounds: N and T. */
export function selOut(x, dt, A, B, C, Dskip, state0, T, D, N) {
  const i = this.thread.x;
  const t = Math.floor(i / D);
  const d = i - t * D;
  let acc = 0;
  for (let n = 0; n < N; n++) {
    let h = state0[d * N + n];
    for (let j = 0; j < T; j++) {
      if (j <= t) h = Math.exp(dt[j * D + d] * A[d * N + n]) * h + dt[j * D + d] * B[j * N + n] * x[j * D + d];
    }
    acc += h * C[t * N + n];
  }
  return acc + Dskip[d] * x[i];
}
