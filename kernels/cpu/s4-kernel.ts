// S4 / S4D convolution kernels (see shared reference s4.md §3), float64 inside.
//
// Shape letters: Cc output channels, H channels, M complex modes per channel (one of each conjugate
// pair), R rank, L kernel length. Complex arrays interleave (re, im).
//
// vandermondeKernel (S4D):  K[c,h,l] = 2·Re Σ_m v[c,h,m]·z[h,m]^l            v: [Cc,H,M,2], z: [H,M,2]
//   (with x0: v <- v·z·x0, the response 2·Re(C·dA^(l+1)·x0) of an initial state)
//
// cauchyKernel (S4, DPLR, bilinear): A = diag(Λ) − P·P* over the 2M conjugate-extended modes.
//   For ω_k = exp(−2πik/L), k = 0..L/2, the truncated generating function
//     K̂(ω) = Σ_{l<L} K_l ω^l = C̃·(I − Āω)⁻¹·B̄,   C̃ = C·(I − Ā^L)
//   equals (2/(1+ω))·C̃·(g − A)⁻¹·B with g = (2/dt)(1−ω)/(1+ω). Write s = 2/(1+ω) and the Cauchy sums
//     r'_ab(ω) = Σ_n a_n·b_n·c_n(ω),  c_n(ω) = 2dt / (2(1−ω) − (1+ω)·dt·λ_n)   (= s·dt/(z − dtλ_n))
//   over both members of every pair (a, b, λ conjugated on the second half). Woodbury (rank R):
//     K̂ = r'_CB − r'_CP·(s·I + r'_QP)⁻¹·r'_QB = r'_CB − r'_CP·(I + ((1+ω)/2)·r'_QP)⁻¹·((1+ω)/2)·r'_QB,
//   Q = conj(P). This form has no pole at ω = −1 (even L), where the s4 code divides by 1+ω ≈ 0.
//   Then K = irfft(K̂, n=L). With x0 the same sums with B' = (I + dt/2·A)·x0/dt give the state response.
import type { CauchyKernelArgs, VandermondeKernelArgs } from "../backend.ts";
import { irfftReal } from "./fft.ts";

export function vandermondeKernel(a: VandermondeKernelArgs): Float32Array {
  const { Cc, H, M, L, v, z, x0 } = a;
  const K = a.out ?? new Float32Array(Cc * H * L);
  const acc = new Float64Array(L);
  for (let c = 0; c < Cc; c++)
    for (let h = 0; h < H; h++) {
      acc.fill(0);
      for (let m = 0; m < M; m++) {
        const zi = 2 * (h * M + m);
        const vi = 2 * ((c * H + h) * M + m);
        const zr = z[zi], zim = z[zi + 1];
        let pr = v[vi], pim = v[vi + 1];
        if (x0) {
          // v·z·x0
          const xr = x0[zi], xi = x0[zi + 1];
          const tr = pr * zr - pim * zim, ti = pr * zim + pim * zr;
          pr = tr * xr - ti * xi;
          pim = tr * xi + ti * xr;
        }
        for (let l = 0; l < L; l++) {
          acc[l] += pr;
          const t = pr * zr - pim * zim;
          pim = pr * zim + pim * zr;
          pr = t;
        }
      }
      const o = (c * H + h) * L;
      for (let l = 0; l < L; l++) K[o + l] = 2 * acc[l];
    }
  return K;
}

/** Solves the small complex system X·Y = G in place: G (X: [R, R], G: [R, cols]) becomes Y, X is
 *  overwritten; Gauss-Jordan elimination with partial pivoting. Arrays are split re/im, row-major.
 *  Also the Woodbury solves of the GPU backends (kernels/gpu/s4.ts woodburySpectra). */
export function solveSmall(R: number, cols: number, xr: Float64Array, xi: Float64Array, gr: Float64Array, gi: Float64Array): void {
  for (let col = 0; col < R; col++) {
    let piv = col;
    let best = -1;
    for (let r = col; r < R; r++) {
      const mag = Math.hypot(xr[r * R + col], xi[r * R + col]);
      if (mag > best) { best = mag; piv = r; }
    }
    if (piv !== col) {
      for (let j = 0; j < R; j++) {
        swap(xr, piv * R + j, col * R + j);
        swap(xi, piv * R + j, col * R + j);
      }
      for (let j = 0; j < cols; j++) {
        swap(gr, piv * cols + j, col * cols + j);
        swap(gi, piv * cols + j, col * cols + j);
      }
    }
    const dr = xr[col * R + col], di = xi[col * R + col];
    const den = dr * dr + di * di;
    const ir = dr / den, ii = -di / den;
    for (let r = 0; r < R; r++) {
      if (r === col) continue;
      const fr0 = xr[r * R + col], fi0 = xi[r * R + col];
      const fr = fr0 * ir - fi0 * ii, fi = fr0 * ii + fi0 * ir;
      for (let j = 0; j < R; j++) {
        const ar = xr[col * R + j], ai = xi[col * R + j];
        xr[r * R + j] -= fr * ar - fi * ai;
        xi[r * R + j] -= fr * ai + fi * ar;
      }
      for (let j = 0; j < cols; j++) {
        const ar = gr[col * cols + j], ai = gi[col * cols + j];
        gr[r * cols + j] -= fr * ar - fi * ai;
        gi[r * cols + j] -= fr * ai + fi * ar;
      }
    }
  }
  for (let r = 0; r < R; r++) {
    const dr = xr[r * R + r], di = xi[r * R + r];
    const den = dr * dr + di * di;
    const ir = dr / den, ii = -di / den;
    for (let j = 0; j < cols; j++) {
      const ar = gr[r * cols + j], ai = gi[r * cols + j];
      gr[r * cols + j] = ar * ir - ai * ii;
      gi[r * cols + j] = ar * ii + ai * ir;
    }
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

export function cauchyKernel(a: CauchyKernelArgs): Float32Array {
  const { Cc, H, M, R, L, dt, lambda, P, B, Ct, x0 } = a;
  const nb = x0 ? 2 : 1;
  const out = a.out ?? new Float32Array(nb * Cc * H * L);
  const half = Math.floor(L / 2);
  const nodes = half + 1;
  // per node: ω, (1−ω), (1+ω)
  const omr = new Float64Array(nodes), omi = new Float64Array(nodes);
  for (let k = 0; k < nodes; k++) {
    omr[k] = Math.cos((2 * Math.PI * k) / L);
    omi[k] = -Math.sin((2 * Math.PI * k) / L);
  }
  if (L % 2 === 0) { omr[half] = -1; omi[half] = 0; }
  // a-vectors: Cc rows of C̃ then R rows of Q = conj(P); b-vectors: nb B's then R columns of P
  const na = Cc + R;
  const nbv = nb + R;
  const ar = new Float64Array(na * 2 * M), ai = new Float64Array(na * 2 * M);
  const br = new Float64Array(nbv * 2 * M), bi = new Float64Array(nbv * 2 * M);
  const lr = new Float64Array(2 * M), li = new Float64Array(2 * M);
  const rr = new Float64Array(na * nbv), ri = new Float64Array(na * nbv);
  const specR = new Float64Array(nb * Cc * nodes), specI = new Float64Array(nb * Cc * nodes);
  const kt = new Float64Array(L);
  const xr = new Float64Array(R * R), xi = new Float64Array(R * R);
  const gr = new Float64Array(R * nb), gi = new Float64Array(R * nb);

  for (let h = 0; h < H; h++) {
    const d = dt[h];
    // conjugate-extended vectors: index m (first half) and M + m (second half, conjugated)
    const setExt = (dr: Float64Array, di: Float64Array, row: number, re: number, im: number, m: number) => {
      dr[row * 2 * M + m] = re; di[row * 2 * M + m] = im;
      dr[row * 2 * M + M + m] = re; di[row * 2 * M + M + m] = -im;
    };
    for (let m = 0; m < M; m++) {
      const hm = 2 * (h * M + m);
      lr[m] = lambda[hm]; li[m] = lambda[hm + 1];
      lr[M + m] = lambda[hm]; li[M + m] = -lambda[hm + 1];
      for (let c = 0; c < Cc; c++) {
        const o = 2 * ((c * H + h) * M + m);
        setExt(ar, ai, c, Ct[o], Ct[o + 1], m);
      }
      for (let r = 0; r < R; r++) {
        const o = 2 * ((r * H + h) * M + m);
        setExt(ar, ai, Cc + r, P[o], -P[o + 1], m); // Q = conj(P)
        setExt(br, bi, nb + r, P[o], P[o + 1], m);
      }
      setExt(br, bi, 0, B[hm], B[hm + 1], m);
      if (x0) {
        // B' = x0/dt + (Λ·x0 − P·(Q·x0)_full)/2; the low-rank part is added below (needs the sum over m)
        const xr0 = x0[hm], xi0 = x0[hm + 1];
        const tr = xr0 / d + (lambda[hm] * xr0 - lambda[hm + 1] * xi0) / 2;
        const ti = xi0 / d + (lambda[hm] * xi0 + lambda[hm + 1] * xr0) / 2;
        setExt(br, bi, 1, tr, ti, m);
      }
    }
    if (x0) {
      for (let r = 0; r < R; r++) {
        // (Q·x0) over both halves = 2·Re Σ_m conj(P_m)·x0_m
        let s = 0;
        for (let m = 0; m < M; m++) {
          const o = 2 * ((r * H + h) * M + m);
          const hm = 2 * (h * M + m);
          s += P[o] * x0[hm] + P[o + 1] * x0[hm + 1];
        }
        s *= 2;
        for (let m = 0; m < M; m++) {
          const o = 2 * ((r * H + h) * M + m);
          const re = -P[o] * s / 2, im = -P[o + 1] * s / 2;
          br[1 * 2 * M + m] += re; bi[1 * 2 * M + m] += im;
          br[1 * 2 * M + M + m] += re; bi[1 * 2 * M + M + m] -= im;
        }
      }
    }

    for (let k = 0; k < nodes; k++) {
      const wr = omr[k], wi = omi[k];
      const ar1 = 2 * (1 - wr), ai1 = -2 * wi; // 2(1−ω)
      const pr = 1 + wr, pim = wi; // (1+ω)
      rr.fill(0); ri.fill(0);
      for (let n = 0; n < 2 * M; n++) {
        // c_n = 2dt / (2(1−ω) − (1+ω)·dt·λ_n)
        const qr = ar1 - d * (pr * lr[n] - pim * li[n]);
        const qi = ai1 - d * (pr * li[n] + pim * lr[n]);
        const den = qr * qr + qi * qi;
        const cr = (2 * d * qr) / den, ci = (-2 * d * qi) / den;
        for (let i = 0; i < na; i++) {
          const ia = i * 2 * M + n;
          const xr0 = ar[ia] * cr - ai[ia] * ci, xi0 = ar[ia] * ci + ai[ia] * cr;
          for (let j = 0; j < nbv; j++) {
            const jb = j * 2 * M + n;
            rr[i * nbv + j] += xr0 * br[jb] - xi0 * bi[jb];
            ri[i * nbv + j] += xr0 * bi[jb] + xi0 * br[jb];
          }
        }
      }
      // Woodbury: K̂[b, c] = r'_{c,b} − Σ r'_{c,P_s} · [(I + f·r'_QP)⁻¹ · f·r'_{Q,b}]_s,  f = (1+ω)/2
      const fr = pr / 2, fi = pim / 2;
      if (R > 0) {
        for (let i = 0; i < R; i++)
          for (let j = 0; j < R; j++) {
            const sr = rr[(Cc + i) * nbv + nb + j], si = ri[(Cc + i) * nbv + nb + j];
            xr[i * R + j] = (i === j ? 1 : 0) + fr * sr - fi * si;
            xi[i * R + j] = fr * si + fi * sr;
          }
        for (let i = 0; i < R; i++)
          for (let b = 0; b < nb; b++) {
            const sr = rr[(Cc + i) * nbv + b], si = ri[(Cc + i) * nbv + b];
            gr[i * nb + b] = fr * sr - fi * si;
            gi[i * nb + b] = fr * si + fi * sr;
          }
        solveSmall(R, nb, xr, xi, gr, gi);
      }
      for (let b = 0; b < nb; b++)
        for (let c = 0; c < Cc; c++) {
          let vr = rr[c * nbv + b], vi = ri[c * nbv + b];
          for (let s = 0; s < R; s++) {
            const cr = rr[c * nbv + nb + s], ci = ri[c * nbv + nb + s];
            vr -= cr * gr[s * nb + b] - ci * gi[s * nb + b];
            vi -= cr * gi[s * nb + b] + ci * gr[s * nb + b];
          }
          specR[(b * Cc + c) * nodes + k] = vr;
          specI[(b * Cc + c) * nodes + k] = vi;
        }
    }
    for (let b = 0; b < nb; b++)
      for (let c = 0; c < Cc; c++) {
        const o = (b * Cc + c) * nodes;
        irfftReal(specR.subarray(o, o + nodes), specI.subarray(o, o + nodes), L, kt);
        const dst = ((b * Cc + c) * H + h) * L;
        for (let l = 0; l < L; l++) out[dst + l] = kt[l];
      }
  }
  return out;
}
