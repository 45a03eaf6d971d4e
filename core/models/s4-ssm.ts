// S4 / S4D state-space math done once per model, in float64: initialisations, discretisation and the
// DPLR bookkeeping (C̃ ↔ C, step parameters). The per-token work lives in the backend ops
// (kernels/backend.ts S4Ops). See shared reference s4.md.
//
// Shape letters: H channels (d_model), M complex modes per channel (one of each conjugate pair, so
// outputs are 2·Re of sums over M), Cc output channels, R rank of the low-rank term.
// Complex arrays interleave (re, im): X: [..., M, 2].
//
// Continuous SSM per channel: x' = A x + B u, y = C x + D u, with
//   S4D (diag):  A = diag(Λ)
//   S4 (DPLR):   A = diag(Λ) − P·P*  over the 2M conjugate-extended modes (always bilinear)
// Discretisation with step dt:
//   zoh:       dA = exp(dt·Λ),                   dB = (exp(dt·Λ) − 1)/Λ · B
//   bilinear:  dA = (1 + dt·Λ/2)/(1 − dt·Λ/2),   dB = dt/(1 − dt·Λ/2) · B

/** The continuous parameters of one S4 / S4D layer, expanded to all H channels. */
export interface SsmParams {
  kind: "diag" | "dplr";
  H: number;
  M: number;
  Cc: number;
  /** Rank of P (0 for diag). */
  R: number;
  disc: "zoh" | "bilinear";
  /** dt: [H, M] (the same value over m when dt is tied, which DPLR requires). */
  dt: Float64Array;
  /** Λ: [H, M, 2]. */
  A: Float64Array;
  /** B: [H, M, 2]. */
  B: Float64Array;
  /** The true C: [Cc, H, M, 2] (for DPLR checkpoints recovered from the stored C̃). */
  C: Float64Array;
  /** P: [R, H, M, 2] (DPLR) or null. */
  P: Float64Array | null;
  /** D: [Cc, H]. */
  D: Float64Array;
}

/** The discrete diagonal system the S4D ops run. dA, dB: [H, M, 2]; dC: [Cc, H, M, 2]. */
export interface DiagSystem {
  dA: Float32Array;
  dB: Float32Array;
  dC: Float32Array;
}

/** Operands of the DPLR ops (kernels/backend.ts DplrScanArgs / CauchyKernelArgs), float32. */
export interface DplrSystem {
  dt: Float32Array;
  lambda: Float32Array;
  P: Float32Array;
  B: Float32Array;
  E: Float32Array;
  D: Float32Array;
  W: Float32Array;
  /** The true C. */
  dC: Float32Array;
}

// ---------- complex helpers (float64, tuples) ----------

type Cx = [number, number];
const cmul = (a: Cx, b: Cx): Cx => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const cdiv = (a: Cx, b: Cx): Cx => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const get = (a: ArrayLike<number>, i: number): Cx => [a[2 * i], a[2 * i + 1]];

/** exp(z) − 1 without cancellation for small |z|. */
function cexpm1(z: Cx): Cx {
  const s = Math.sin(z[1] / 2);
  return [Math.expm1(z[0]) * Math.cos(z[1]) - 2 * s * s, Math.exp(z[0]) * Math.sin(z[1])];
}

// ---------- initialisations (state-spaces/s4 dplr(), s4d.py) ----------

export type DiagInit = "lin" | "inv" | "real";

/** Λ: [H, M, 2] for the S4D inits, in the s4.py convention Λ = −real − i·imag (imag >= 0), N = 2M:
 *  lin: −½ − iπm;  inv: −½ − i(N/π)(N/(2m+1) − 1);  real: −(m+1) (S4D-Real). */
export function diagInit(init: DiagInit, H: number, M: number): Float64Array {
  const N = 2 * M;
  const A = new Float64Array(H * M * 2);
  for (let h = 0; h < H; h++)
    for (let m = 0; m < M; m++) {
      const i = 2 * (h * M + m);
      if (init === "real") {
        A[i] = -(m + 1);
      } else {
        A[i] = -0.5;
        A[i + 1] = init === "lin" ? -Math.PI * m : -(N / Math.PI) * (N / (2 * m + 1) - 1);
      }
    }
  return A;
}

// ---------- discretisation ----------

export function discretizeDiag(p: SsmParams): DiagSystem {
  const { H, M, Cc } = p;
  const dA = new Float32Array(H * M * 2);
  const dB = new Float32Array(H * M * 2);
  for (let i = 0; i < H * M; i++) {
    const dt = p.dt[i];
    const a = get(p.A, i);
    const b = get(p.B, i);
    const dtA: Cx = [dt * a[0], dt * a[1]];
    let zA: Cx;
    let zB: Cx;
    if (p.disc === "zoh") {
      const e = Math.exp(dtA[0]);
      zA = [e * Math.cos(dtA[1]), e * Math.sin(dtA[1])];
      // (exp(dtΛ) − 1)/Λ = dt·(exp(dtΛ) − 1)/(dtΛ); the limit at Λ = 0 is dt
      const ratio: Cx = dtA[0] === 0 && dtA[1] === 0 ? [1, 0] : cdiv(cexpm1(dtA), dtA);
      zB = cmul([dt * ratio[0], dt * ratio[1]], b);
    } else {
      const den: Cx = [1 - dtA[0] / 2, -dtA[1] / 2];
      zA = cdiv([1 + dtA[0] / 2, dtA[1] / 2], den);
      zB = cmul(cdiv([dt, 0], den), b);
    }
    dA[2 * i] = zA[0]; dA[2 * i + 1] = zA[1];
    dB[2 * i] = zB[0]; dB[2 * i + 1] = zB[1];
  }
  return { dA, dB, dC: Float32Array.from(p.C.subarray(0, Cc * H * M * 2)) };
}

/** v = dC·dB: [Cc, H, M, 2], the Vandermonde weights of the S4D kernel K_l = 2Re Σ v·dA^l. */
export function kernelWeights(sys: DiagSystem, Cc: number, H: number, M: number): Float32Array {
  const v = new Float32Array(Cc * H * M * 2);
  for (let c = 0; c < Cc; c++)
    for (let i = 0; i < H * M; i++) {
      const r = cmul(get(sys.dC, c * H * M + i), get(sys.dB, i));
      v[2 * (c * H * M + i)] = r[0];
      v[2 * (c * H * M + i) + 1] = r[1];
    }
  return v;
}

// ---------- DPLR (S4) ----------

/** Per-channel views of the DPLR parameters (float64, split re/im). */
interface Channel {
  dt: number;
  lr: Float64Array; li: Float64Array;
  /** P rows: [R][M]. */
  pr: Float64Array[]; pi: Float64Array[];
}

function channel(p: SsmParams, h: number): Channel {
  const { M, R } = p;
  const lr = new Float64Array(M), li = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    lr[m] = p.A[2 * (h * M + m)];
    li[m] = p.A[2 * (h * M + m) + 1];
  }
  const pr: Float64Array[] = [], pi: Float64Array[] = [];
  for (let r = 0; r < R; r++) {
    pr.push(new Float64Array(M));
    pi.push(new Float64Array(M));
    for (let m = 0; m < M; m++) {
      const o = 2 * ((r * p.H + h) * M + m);
      pr[r][m] = p.P![o];
      pi[r][m] = p.P![o + 1];
    }
  }
  return { dt: p.dt[h * M], lr, li, pr, pi };
}

/** Solves the small real system X·g = b (X: [R, R] row-major) in place in b. */
function solveReal(R: number, X: Float64Array, b: Float64Array): void {
  for (let c = 0; c < R; c++) {
    let piv = c;
    for (let r = c + 1; r < R; r++) if (Math.abs(X[r * R + c]) > Math.abs(X[piv * R + c])) piv = r;
    if (piv !== c) {
      for (let j = 0; j < R; j++) [X[c * R + j], X[piv * R + j]] = [X[piv * R + j], X[c * R + j]];
      [b[c], b[piv]] = [b[piv], b[c]];
    }
    for (let r = c + 1; r < R; r++) {
      const f = X[r * R + c] / X[c * R + c];
      for (let j = c; j < R; j++) X[r * R + j] -= f * X[c * R + j];
      b[r] -= f * b[c];
    }
  }
  for (let c = R - 1; c >= 0; c--) {
    let s = b[c];
    for (let j = c + 1; j < R; j++) s -= X[c * R + j] * b[j];
    b[c] = s / X[c * R + c];
  }
}

/** Complex small system (I + β·X)ᵀ·g = rhs, sizes R (split re/im), solved in place in (gr, gi). */
function solveComplexT(R: number, xr: Float64Array, xi: Float64Array, gr: Float64Array, gi: Float64Array): void {
  // build the augmented [R, R+1] matrix of the transposed system
  const ar = new Float64Array(R * R), ai = new Float64Array(R * R);
  for (let i = 0; i < R; i++)
    for (let j = 0; j < R; j++) {
      ar[i * R + j] = xr[j * R + i];
      ai[i * R + j] = xi[j * R + i];
    }
  for (let c = 0; c < R; c++) {
    let piv = c;
    for (let r = c + 1; r < R; r++) if (Math.hypot(ar[r * R + c], ai[r * R + c]) > Math.hypot(ar[piv * R + c], ai[piv * R + c])) piv = r;
    if (piv !== c) {
      for (let j = 0; j < R; j++) {
        [ar[c * R + j], ar[piv * R + j]] = [ar[piv * R + j], ar[c * R + j]];
        [ai[c * R + j], ai[piv * R + j]] = [ai[piv * R + j], ai[c * R + j]];
      }
      [gr[c], gr[piv]] = [gr[piv], gr[c]];
      [gi[c], gi[piv]] = [gi[piv], gi[c]];
    }
    const d: Cx = [ar[c * R + c], ai[c * R + c]];
    for (let r = c + 1; r < R; r++) {
      const f = cdiv([ar[r * R + c], ai[r * R + c]], d);
      for (let j = c; j < R; j++) {
        const t = cmul(f, [ar[c * R + j], ai[c * R + j]]);
        ar[r * R + j] -= t[0];
        ai[r * R + j] -= t[1];
      }
      const t = cmul(f, [gr[c], gi[c]]);
      gr[r] -= t[0];
      gi[r] -= t[1];
    }
  }
  for (let c = R - 1; c >= 0; c--) {
    let s: Cx = [gr[c], gi[c]];
    for (let j = c + 1; j < R; j++) {
      const t = cmul([ar[c * R + j], ai[c * R + j]], [gr[j], gi[j]]);
      s = [s[0] - t[0], s[1] - t[1]];
    }
    const q = cdiv(s, [ar[c * R + c], ai[c * R + c]]);
    gr[c] = q[0];
    gi[c] = q[1];
  }
}

/** c <- c·Ā^L for a conjugate-symmetric row vector c (top half [M], split re/im), O(L·M·R):
 *  c·Ā = (c·(2/dt − A)⁻¹)·(2/dt + A), each factor by the DPLR structure (Woodbury for the inverse);
 *  sums over both members of a conjugate pair are 2·Re of the sums over the top half. */
function rowPower(ch: Channel, M: number, R: number, cr: Float64Array, ci: Float64Array, L: number): void {
  const { dt, lr, li, pr, pi } = ch;
  // D = 1/(2/dt − Λ), E = 2/dt + Λ, X = I + 2Re(Q·D·Pᵀ) (real R×R), Xinv its inverse (transposed use)
  const Dr = new Float64Array(M), Di = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    const qr = 2 / dt - lr[m], qi = -li[m];
    const den = qr * qr + qi * qi;
    Dr[m] = qr / den;
    Di[m] = -qi / den;
  }
  // PD_s = P_s ⊙ D (used in row·D·P_s)
  const pdr = pr.map((p, r) => p.map((v, m) => v * Dr[m] - pi[r][m] * Di[m]));
  const pdi = pr.map((p, r) => p.map((v, m) => v * Di[m] + pi[r][m] * Dr[m]));
  const X = new Float64Array(R * R);
  for (let r = 0; r < R; r++)
    for (let s = 0; s < R; s++) {
      let acc = 0;
      // Re(conj(P_r)·D·P_s) = Re(conj(P_r)·PD_s)
      for (let m = 0; m < M; m++) acc += pr[r][m] * pdr[s][m] + pi[r][m] * pdi[s][m];
      X[r * R + s] = (r === s ? 1 : 0) + 2 * acc;
    }
  // rows of Xᵀ⁻¹: g·X⁻¹ = (X⁻ᵀ gᵀ)ᵀ
  const XinvT = new Float64Array(R * R);
  for (let j = 0; j < R; j++) {
    const e = new Float64Array(R);
    e[j] = 1;
    const Xt = new Float64Array(R * R);
    for (let a = 0; a < R; a++) for (let b = 0; b < R; b++) Xt[a * R + b] = X[b * R + a];
    solveReal(R, Xt, e);
    for (let a = 0; a < R; a++) XinvT[a * R + j] = e[a];
  }
  const g = new Float64Array(R), h = new Float64Array(R);
  const Er = lr.map((v) => 2 / dt + v);
  for (let step = 0; step < L; step++) {
    // row·(2/dt − A)⁻¹ = (c − (g·X⁻¹)·Q)⊙D with g_s = 2Re Σ c·D·P_s
    for (let s = 0; s < R; s++) {
      let acc = 0;
      const a = pdr[s], b = pdi[s];
      for (let m = 0; m < M; m++) acc += cr[m] * a[m] - ci[m] * b[m];
      g[s] = 2 * acc;
    }
    for (let a = 0; a < R; a++) {
      let acc = 0;
      for (let b = 0; b < R; b++) acc += XinvT[a * R + b] * g[b];
      h[a] = acc;
    }
    for (let m = 0; m < M; m++) {
      let vr = cr[m], vi = ci[m];
      for (let r = 0; r < R; r++) {
        vr -= h[r] * pr[r][m];
        vi += h[r] * pi[r][m]; // − h_r·conj(P_r)
      }
      cr[m] = vr * Dr[m] - vi * Di[m];
      ci[m] = vr * Di[m] + vi * Dr[m];
    }
    // row·(2/dt + A) = row⊙E − Σ_r 2Re(row·P_r)·conj(P_r)
    for (let s = 0; s < R; s++) {
      let acc = 0;
      for (let m = 0; m < M; m++) acc += cr[m] * pr[s][m] - ci[m] * pi[s][m];
      g[s] = 2 * acc;
    }
    for (let m = 0; m < M; m++) {
      let vr = cr[m] * Er[m] - ci[m] * li[m];
      let vi = cr[m] * li[m] + ci[m] * Er[m];
      for (let r = 0; r < R; r++) {
        vr -= g[r] * pr[r][m];
        vi += g[r] * pi[r][m];
      }
      cr[m] = vr;
      ci[m] = vi;
    }
  }
}

/** C̃ = C·(I − Ā^L): [Cc, H, M, 2] from the true C of `p` (what the s4 code stores, for length L). */
export function dplrCtilde(p: SsmParams, L: number): Float64Array {
  const { H, M, Cc, R } = p;
  const out = new Float64Array(Cc * H * M * 2);
  for (let h = 0; h < H; h++) {
    const ch = channel(p, h);
    for (let c = 0; c < Cc; c++) {
      const o = (c * H + h) * M;
      const cr = new Float64Array(M), ci = new Float64Array(M);
      for (let m = 0; m < M; m++) {
        cr[m] = p.C[2 * (o + m)];
        ci[m] = p.C[2 * (o + m) + 1];
      }
      rowPower(ch, M, R, cr, ci, L);
      for (let m = 0; m < M; m++) {
        out[2 * (o + m)] = p.C[2 * (o + m)] - cr[m];
        out[2 * (o + m) + 1] = p.C[2 * (o + m) + 1] - ci[m];
      }
    }
  }
  return out;
}

/**
 * The true C from C̃ = C·(I − Ā^L) (s4 checkpoints store C̃ with L = the `l_kernel` buffer).
 * (I − Ā^L)⁻¹ = (1/L)·Σ_k (I − Ā·ω_k)⁻¹ over the L-th roots of unity ω_k (partial fractions of
 * 1/(1 − a^L)), and each row·(I − Āω)⁻¹ = row·[(1−ω)I − (1+ω)(dt/2)A]⁻¹·(I − (dt/2)A) costs O(M·R)
 * by Woodbury, so this is O(L·M·R) per channel instead of the s4 code's dense N×N solve. The rows
 * live on all 2M modes; the term at conj(ω) is the conjugate-swap of the term at ω, so only
 * k = 0..L/2 are evaluated.
 */
export function dplrRecoverC(p: SsmParams, Ct: Float64Array, L: number): Float64Array {
  const { H, M, Cc, R } = p;
  const N = 2 * M;
  const out = new Float64Array(Cc * H * M * 2);
  const cr = new Float64Array(N), ci = new Float64Array(N);
  const Gr = new Float64Array(N), Gi = new Float64Array(N);
  const vr = new Float64Array(N), vi = new Float64Array(N);
  const xr = new Float64Array(R * R), xi = new Float64Array(R * R);
  const gr = new Float64Array(R), gi = new Float64Array(R);
  const sr = new Float64Array(M), si = new Float64Array(M);
  const Lr = new Float64Array(N), Li = new Float64Array(N);
  const Pr = Array.from({ length: R }, () => new Float64Array(N));
  const Pi = Array.from({ length: R }, () => new Float64Array(N));
  const half = Math.floor(L / 2);
  for (let h = 0; h < H; h++) {
    const ch = channel(p, h);
    const dt = ch.dt;
    for (let m = 0; m < M; m++) {
      Lr[m] = Lr[M + m] = ch.lr[m];
      Li[m] = ch.li[m];
      Li[M + m] = -ch.li[m];
      for (let r = 0; r < R; r++) {
        Pr[r][m] = Pr[r][M + m] = ch.pr[r][m];
        Pi[r][m] = ch.pi[r][m];
        Pi[r][M + m] = -ch.pi[r][m];
      }
    }
    for (let c = 0; c < Cc; c++) {
      const o = (c * H + h) * M;
      sr.fill(0);
      si.fill(0);
      for (let k = 0; k <= half; k++) {
        const wr = Math.cos((2 * Math.PI * k) / L), wi = -Math.sin((2 * Math.PI * k) / L);
        const ar = 1 - wr, ai = -wi; // α = 1 − ω
        const br = ((1 + wr) * dt) / 2, bi = (wi * dt) / 2; // β = (1 + ω)·dt/2
        for (let n = 0; n < N; n++) {
          cr[n] = Ct[2 * (o + (n % M))];
          ci[n] = n < M ? Ct[2 * (o + n) + 1] : -Ct[2 * (o + n - M) + 1];
          // G = 1/(α − β·λ)
          const qr = ar - (br * Lr[n] - bi * Li[n]), qi = ai - (br * Li[n] + bi * Lr[n]);
          const den = qr * qr + qi * qi;
          Gr[n] = qr / den;
          Gi[n] = -qi / den;
        }
        // g = β·(cGP)·(I + β·P*GP)⁻¹ (row): solve (I + βX)ᵀ gᵀ = β (cGP)ᵀ
        for (let s = 0; s < R; s++) {
          let ur = 0, ui = 0;
          for (let n = 0; n < N; n++) {
            const tr = cr[n] * Gr[n] - ci[n] * Gi[n], ti = cr[n] * Gi[n] + ci[n] * Gr[n];
            ur += tr * Pr[s][n] - ti * Pi[s][n];
            ui += tr * Pi[s][n] + ti * Pr[s][n];
          }
          gr[s] = br * ur - bi * ui;
          gi[s] = br * ui + bi * ur;
          for (let r = 0; r < R; r++) {
            let yr = 0, yi = 0;
            for (let n = 0; n < N; n++) {
              // conj(P_r)·G·P_s
              const tr = Pr[r][n] * Gr[n] + Pi[r][n] * Gi[n], ti = Pr[r][n] * Gi[n] - Pi[r][n] * Gr[n];
              yr += tr * Pr[s][n] - ti * Pi[s][n];
              yi += tr * Pi[s][n] + ti * Pr[s][n];
            }
            xr[r * R + s] = (r === s ? 1 : 0) + br * yr - bi * yi;
            xi[r * R + s] = br * yi + bi * yr;
          }
        }
        solveComplexT(R, xr, xi, gr, gi);
        // v = (c − g·Q)⊙G
        for (let n = 0; n < N; n++) {
          let tr = cr[n], ti = ci[n];
          for (let r = 0; r < R; r++) {
            // g_r·conj(P_r)
            tr -= gr[r] * Pr[r][n] + gi[r] * Pi[r][n];
            ti -= gi[r] * Pr[r][n] - gr[r] * Pi[r][n];
          }
          vr[n] = tr * Gr[n] - ti * Gi[n];
          vi[n] = tr * Gi[n] + ti * Gr[n];
        }
        // ·(I − (dt/2)A) = ·(I − (dt/2)Λ) + (dt/2)·(v·P_r)·conj(P_r)
        for (let r = 0; r < R; r++) {
          let ur = 0, ui = 0;
          for (let n = 0; n < N; n++) {
            ur += vr[n] * Pr[r][n] - vi[n] * Pi[r][n];
            ui += vr[n] * Pi[r][n] + vi[n] * Pr[r][n];
          }
          gr[r] = (dt / 2) * ur;
          gi[r] = (dt / 2) * ui;
        }
        const paired = k > 0 && !(L % 2 === 0 && k === half);
        for (let n = 0; n < N; n++) {
          const fr = 1 - (dt / 2) * Lr[n], fi = -(dt / 2) * Li[n];
          let yr = vr[n] * fr - vi[n] * fi;
          let yi = vr[n] * fi + vi[n] * fr;
          for (let r = 0; r < R; r++) {
            yr += gr[r] * Pr[r][n] + gi[r] * Pi[r][n];
            yi += gi[r] * Pr[r][n] - gr[r] * Pi[r][n];
          }
          if (n < M) {
            sr[n] += yr;
            si[n] += yi;
          } else if (paired) {
            // the term at conj(ω): its top half is the conjugate of this bottom half
            sr[n - M] += yr;
            si[n - M] -= yi;
          }
        }
      }
      for (let m = 0; m < M; m++) {
        out[2 * (o + m)] = sr[m] / L;
        out[2 * (o + m) + 1] = si[m] / L;
      }
    }
  }
  return out;
}

/** The DPLR step operands E, D, W (s4's _setup_linear) and the float32 copies of Λ, P, B, C, dt. */
export function dplrSystem(p: SsmParams): DplrSystem {
  const { H, M, R, Cc } = p;
  const E = new Float32Array(H * M * 2), D = new Float32Array(H * M * 2);
  const W = new Float32Array(R * H * M * 2);
  const dt = new Float32Array(H);
  for (let h = 0; h < H; h++) {
    const ch = channel(p, h);
    dt[h] = ch.dt;
    const Dr = new Float64Array(M), Di = new Float64Array(M);
    for (let m = 0; m < M; m++) {
      const i = 2 * (h * M + m);
      const q = cdiv([1, 0], [2 / ch.dt - ch.lr[m], -ch.li[m]]);
      Dr[m] = q[0];
      Di[m] = q[1];
      D[i] = q[0]; D[i + 1] = q[1];
      E[i] = 2 / ch.dt + ch.lr[m]; E[i + 1] = ch.li[m];
    }
    // X = I + 2Re(Q·D·Pᵀ); W = X⁻¹·(Q⊙D)
    const X = new Float64Array(R * R);
    for (let r = 0; r < R; r++)
      for (let s = 0; s < R; s++) {
        let acc = 0;
        for (let m = 0; m < M; m++) acc += cmul(cmul([ch.pr[r][m], -ch.pi[r][m]], [Dr[m], Di[m]]), [ch.pr[s][m], ch.pi[s][m]])[0];
        X[r * R + s] = (r === s ? 1 : 0) + 2 * acc;
      }
    for (let m = 0; m < M; m++) {
      const br = new Float64Array(R), bi = new Float64Array(R);
      for (let r = 0; r < R; r++) {
        const qd = cmul([ch.pr[r][m], -ch.pi[r][m]], [Dr[m], Di[m]]);
        br[r] = qd[0];
        bi[r] = qd[1];
      }
      solveReal(R, X.slice(), br);
      solveReal(R, X.slice(), bi);
      for (let r = 0; r < R; r++) {
        const o = 2 * ((r * H + h) * M + m);
        W[o] = br[r];
        W[o + 1] = bi[r];
      }
    }
  }
  return {
    dt, E, D, W,
    lambda: Float32Array.from(p.A),
    P: Float32Array.from(p.P ?? []),
    B: Float32Array.from(p.B),
    dC: Float32Array.from(p.C.subarray(0, Cc * H * M * 2)),
  };
}
