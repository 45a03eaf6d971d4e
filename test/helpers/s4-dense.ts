// Independent dense reference for S4 / S4D layers (tests only): the full 2M-dimensional complex
// system with both members of every conjugate pair, dense matrices, textbook formulas — no Woodbury,
// no Cauchy sums, no conjugate-pair halving. Slow (O(N³)) and only for tiny N.
//
//   A = diag(Λ, conj Λ) − [P; conj P]·[P; conj P]*      (P = 0 for S4D)
//   zoh (diagonal only): Ā = exp(dt·A), B̄ = (exp(dt·A) − I)·A⁻¹·B
//   bilinear:            Ā = (I − dt/2·A)⁻¹(I + dt/2·A), B̄ = (I − dt/2·A)⁻¹·dt·B
//   K_l = Re(C·Ā^l·B̄) with C = [C; conj C] (the imaginary part is ~0)
import type { SsmParams } from "../../core/models/s4-ssm.ts";
import { fillNormal, mulberry32 } from "../../core/models/random.ts";

export type CMat = { re: Float64Array; im: Float64Array; n: number };

const zeros = (n: number): CMat => ({ re: new Float64Array(n * n), im: new Float64Array(n * n), n });
const eye = (n: number): CMat => {
  const m = zeros(n);
  for (let i = 0; i < n; i++) m.re[i * n + i] = 1;
  return m;
};

export function cmatmul(a: CMat, b: CMat): CMat {
  const n = a.n;
  const c = zeros(n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const ar = a.re[i * n + k], ai = a.im[i * n + k];
      if (ar === 0 && ai === 0) continue;
      for (let j = 0; j < n; j++) {
        c.re[i * n + j] += ar * b.re[k * n + j] - ai * b.im[k * n + j];
        c.im[i * n + j] += ar * b.im[k * n + j] + ai * b.re[k * n + j];
      }
    }
  return c;
}

/** Gauss-Jordan inverse with partial pivoting. */
export function cinv(a: CMat): CMat {
  const n = a.n;
  const m = { re: a.re.slice(), im: a.im.slice(), n };
  const r = eye(n);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let i = c + 1; i < n; i++) if (Math.hypot(m.re[i * n + c], m.im[i * n + c]) > Math.hypot(m.re[p * n + c], m.im[p * n + c])) p = i;
    for (const x of [m, r])
      for (let j = 0; j < n; j++) {
        [x.re[c * n + j], x.re[p * n + j]] = [x.re[p * n + j], x.re[c * n + j]];
        [x.im[c * n + j], x.im[p * n + j]] = [x.im[p * n + j], x.im[c * n + j]];
      }
    const dr = m.re[c * n + c], di = m.im[c * n + c];
    const den = dr * dr + di * di;
    const ir = dr / den, ii = -di / den;
    for (const x of [m, r])
      for (let j = 0; j < n; j++) {
        const vr = x.re[c * n + j], vi = x.im[c * n + j];
        x.re[c * n + j] = vr * ir - vi * ii;
        x.im[c * n + j] = vr * ii + vi * ir;
      }
    for (let i = 0; i < n; i++) {
      if (i === c) continue;
      const fr = m.re[i * n + c], fi = m.im[i * n + c];
      for (const x of [m, r])
        for (let j = 0; j < n; j++) {
          const vr = x.re[c * n + j], vi = x.im[c * n + j];
          x.re[i * n + j] -= fr * vr - fi * vi;
          x.im[i * n + j] -= fr * vi + fi * vr;
        }
    }
  }
  return r;
}

/** Dense full-dimension discrete system of channel h: Ā [N, N], B̄ [N], C rows [Cc][N]. */
export function denseSystem(p: SsmParams, h: number): { Ab: CMat; Bb: { re: Float64Array; im: Float64Array }; C: { re: Float64Array; im: Float64Array }[] } {
  const { M, H, R, Cc } = p;
  const N = 2 * M;
  const dt = p.dt[h * M];
  const A = zeros(N);
  const ext = (arr: Float64Array, base: number) => {
    const re = new Float64Array(N), im = new Float64Array(N);
    for (let m = 0; m < M; m++) {
      re[m] = re[M + m] = arr[2 * (base + m)];
      im[m] = arr[2 * (base + m) + 1];
      im[M + m] = -arr[2 * (base + m) + 1];
    }
    return { re, im };
  };
  const lam = ext(p.A, h * M);
  for (let n = 0; n < N; n++) {
    A.re[n * N + n] = lam.re[n];
    A.im[n * N + n] = lam.im[n];
  }
  for (let r = 0; r < R; r++) {
    const P = ext(p.P!, (r * H + h) * M);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        // − P_i · conj(P_j)
        A.re[i * N + j] -= P.re[i] * P.re[j] + P.im[i] * P.im[j];
        A.im[i * N + j] -= P.im[i] * P.re[j] - P.re[i] * P.im[j];
      }
  }
  const B = ext(p.B, h * M);
  const C = Array.from({ length: Cc }, (_, c) => ext(p.C, (c * H + h) * M));
  let Ab: CMat;
  const Bb = { re: new Float64Array(N), im: new Float64Array(N) };
  if (p.disc === "zoh") {
    if (R > 0) throw new Error("dense zoh only for diagonal A");
    Ab = zeros(N);
    for (let n = 0; n < N; n++) {
      const ar = dt * lam.re[n], ai = dt * lam.im[n];
      const e = Math.exp(ar);
      const er = e * Math.cos(ai), ei = e * Math.sin(ai);
      Ab.re[n * N + n] = er;
      Ab.im[n * N + n] = ei;
      // (e − 1)/λ · B
      const nr = er - 1, ni = ei;
      const d = lam.re[n] ** 2 + lam.im[n] ** 2;
      const qr = (nr * lam.re[n] + ni * lam.im[n]) / d, qi = (ni * lam.re[n] - nr * lam.im[n]) / d;
      Bb.re[n] = qr * B.re[n] - qi * B.im[n];
      Bb.im[n] = qr * B.im[n] + qi * B.re[n];
    }
  } else {
    const minus = eye(N), plus = eye(N);
    for (let i = 0; i < N * N; i++) {
      minus.re[i] -= (dt / 2) * A.re[i];
      minus.im[i] -= (dt / 2) * A.im[i];
      plus.re[i] += (dt / 2) * A.re[i];
      plus.im[i] += (dt / 2) * A.im[i];
    }
    const inv = cinv(minus);
    Ab = cmatmul(inv, plus);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        Bb.re[i] += dt * (inv.re[i * N + j] * B.re[j] - inv.im[i * N + j] * B.im[j]);
        Bb.im[i] += dt * (inv.re[i * N + j] * B.im[j] + inv.im[i * N + j] * B.re[j]);
      }
  }
  return { Ab, Bb, C };
}

/** K: [Cc, H, L] by explicit powers of the dense Ā. */
export function denseKernel(p: SsmParams, L: number): Float64Array {
  const { H, Cc, M } = p;
  const N = 2 * M;
  const K = new Float64Array(Cc * H * L);
  for (let h = 0; h < H; h++) {
    const { Ab, Bb, C } = denseSystem(p, h);
    let vr = Bb.re.slice(), vi = Bb.im.slice(); // Ā^l B̄
    for (let l = 0; l < L; l++) {
      for (let c = 0; c < Cc; c++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += C[c].re[n] * vr[n] - C[c].im[n] * vi[n];
        K[(c * H + h) * L + l] = s;
      }
      const nr = new Float64Array(N), ni = new Float64Array(N);
      for (let i = 0; i < N; i++)
        for (let j = 0; j < N; j++) {
          nr[i] += Ab.re[i * N + j] * vr[j] - Ab.im[i * N + j] * vi[j];
          ni[i] += Ab.re[i * N + j] * vi[j] + Ab.im[i * N + j] * vr[j];
        }
      vr = nr;
      vi = ni;
    }
  }
  return K;
}

/** C̃ = C·(I − Ā^L) (top half, [Cc, H, M, 2]) by dense matrix powers. */
export function denseCtilde(p: SsmParams, L: number): Float64Array {
  const { H, Cc, M } = p;
  const N = 2 * M;
  const out = new Float64Array(Cc * H * M * 2);
  for (let h = 0; h < H; h++) {
    const { Ab, C } = denseSystem(p, h);
    let pw = eye(N);
    for (let l = 0; l < L; l++) pw = cmatmul(pw, Ab);
    for (let c = 0; c < Cc; c++)
      for (let m = 0; m < M; m++) {
        let sr = 0, si = 0;
        for (let n = 0; n < N; n++) {
          sr += C[c].re[n] * pw.re[n * N + m] - C[c].im[n] * pw.im[n * N + m];
          si += C[c].re[n] * pw.im[n * N + m] + C[c].im[n] * pw.re[n * N + m];
        }
        out[2 * ((c * H + h) * M + m)] = C[c].re[m] - sr;
        out[2 * ((c * H + h) * M + m) + 1] = C[c].im[m] - si;
      }
  }
  return out;
}

export interface RandomSsmSpec {
  kind: "diag" | "dplr";
  disc: "zoh" | "bilinear";
  H: number;
  M: number;
  Cc: number;
  R: number;
  /** log10 of the largest dt. */
  dtMax: number;
  seed: number;
}

/** Random stable continuous parameters: Re Λ in −[0.05, 1.05], Im Λ in −[0, 10·M], dt log-uniform in
 *  [1e-3, 10^dtMax] per channel, B, C ~ N(0,1), P ~ N(0, 0.5²) (A = Λ − PP* stays stable: its
 *  Hermitian part is Re Λ − PP* < 0). */
export function randomSsmParams(s: RandomSsmSpec): SsmParams {
  const r = mulberry32(s.seed);
  const { H, M, Cc } = s;
  const R = s.kind === "dplr" ? s.R : 0;
  const n = (k: number, std = 1) => Float64Array.from(fillNormal(new Float32Array(k), r, std));
  const dt = new Float64Array(H * M);
  for (let h = 0; h < H; h++) {
    const v = 10 ** (-3 + r() * (s.dtMax + 3));
    dt.fill(v, h * M, (h + 1) * M);
  }
  const A = new Float64Array(H * M * 2);
  for (let i = 0; i < H * M; i++) {
    A[2 * i] = -(0.05 + r());
    A[2 * i + 1] = -10 * M * r();
  }
  return { kind: s.kind, H, M, Cc, R, disc: s.kind === "dplr" ? "bilinear" : s.disc, dt, A, B: n(H * M * 2), C: n(Cc * H * M * 2), P: R ? n(R * H * M * 2, 0.5) : null, D: n(Cc * H) };
}
