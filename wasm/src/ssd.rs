//! Mamba-2 SSD scan. Shapes: x: [T, H, P]; dt: [T, H] (softplus'd); A, D: [H]; B, C: [T, G, N];
//! state: [H, P, N] in/out; y: [T, H, P]. Head h reads group g = h / (H / G).
//!
//! Step recurrence (decode):  S_h <- exp(dt A_h) S_h + dt x_h ⊗ B_g;  y_h = S_h C_g + D_h x_h.
//!
//! Chunked SSD (prefill), chunks of Q tokens, chunk-local cumulative log-decay
//! Acs[i] = Σ_{r<=i} dt_r A_h (float64), all as matrix products (gemm.rs):
//!   CB    = C_c · B_cᵀ                                  [Q, Q], once per group and chunk
//!   M     = CB ∘ exp(Acs_i - Acs_j) dt_j  (j <= i)      [Q, Q], lower-triangular
//!   Y     = M · X_c                                    (intra-chunk, "Y_diag")
//!   Y    += (exp(Acs_i) C_i) · Sᵀ                      (state entering the chunk, "Y_off")
//!   Y    += D x
//!   Sᵀ    = exp(Acs_last) Sᵀ + (B_c ∘ exp(Acs_last - Acs_j) dt_j)ᵀ · X_c
//! The state is kept transposed, Sᵀ: [N, P], in scratch while a call runs. A partial last chunk is
//! just a shorter chunk. Heads are independent: threads split [h_lo, h_hi).

use crate::gemm::{gemm, Tri, FULL};
use crate::simd::*;

/// Recurrent path for T tokens (used for decode), heads [h_lo, h_hi).
#[no_mangle]
pub unsafe extern "C" fn ss_ssd_step(
    t: usize, nh: usize, p: usize, ng: usize, n: usize, x: *const f32, dt: *const f32, a: *const f32,
    b: *const f32, c: *const f32, d: *const f32, state: *mut f32, y: *mut f32, h_lo: usize, h_hi: usize,
) {
    let hpg = nh / ng;
    let n4 = n & !3;
    for tt in 0..t {
        for h in h_lo..h_hi {
            let g = h / hpg;
            let dtv = *dt.add(tt * nh + h);
            let decay = exp1(dtv * *a.add(h));
            let dv = splat(decay);
            let bp = b.add((tt * ng + g) * n);
            let cp = c.add((tt * ng + g) * n);
            let dh = *d.add(h);
            for pp in 0..p {
                let xv = *x.add((tt * nh + h) * p + pp);
                let dtx = dtv * xv;
                let dx = splat(dtx);
                let s = state.add((h * p + pp) * n);
                let mut acc0 = splat(0.0);
                let mut acc1 = splat(0.0);
                let mut k = 0;
                while k + 8 <= n {
                    let s0 = madd(mul(dv, ld(s.add(k))), dx, ld(bp.add(k)));
                    let s1 = madd(mul(dv, ld(s.add(k + 4))), dx, ld(bp.add(k + 4)));
                    st(s.add(k), s0);
                    st(s.add(k + 4), s1);
                    acc0 = madd(acc0, s0, ld(cp.add(k)));
                    acc1 = madd(acc1, s1, ld(cp.add(k + 4)));
                    k += 8;
                }
                if k < n4 {
                    let s0 = madd(mul(dv, ld(s.add(k))), dx, ld(bp.add(k)));
                    st(s.add(k), s0);
                    acc0 = madd(acc0, s0, ld(cp.add(k)));
                    k += 4;
                }
                let mut tail = 0f32;
                while k < n {
                    let sv = decay * *s.add(k) + dtx * *bp.add(k);
                    *s.add(k) = sv;
                    tail += sv * *cp.add(k);
                    k += 1;
                }
                *y.add((tt * nh + h) * p + pp) = hsum(add(acc0, acc1)) + tail + dh * xv;
            }
        }
    }
}

/// Floats of scratch one ss_ssd_chunked call needs for `heads` heads (chunk q, d_state n, headdim p).
#[no_mangle]
pub extern "C" fn ss_ssd_scratch_floats(q: usize, n: usize, p: usize, heads: usize) -> usize {
    let q4 = (q + 3) & !3;
    2 * q4 /* acs f64 */ + 3 * q4 /* dt, w, e */ + 2 * q4 * q4 /* cb, m */ + 3 * n * q4 /* bt, btw, cp */
        + q4 * p /* x chunk */ + heads * n * p + 16
}

/// Chunked SSD for T tokens, heads [h_lo, h_hi); `scratch` holds ss_ssd_scratch_floats(q, n, p,
/// h_hi - h_lo) floats (8-byte aligned).
#[no_mangle]
pub unsafe extern "C" fn ss_ssd_chunked(
    t: usize, nh: usize, p: usize, ng: usize, n: usize, q: usize, x: *const f32, dt: *const f32, a: *const f32,
    b: *const f32, c: *const f32, d: *const f32, state: *mut f32, y: *mut f32, h_lo: usize, h_hi: usize,
    scratch: *mut f32,
) {
    if h_hi <= h_lo || t == 0 {
        return;
    }
    let hpg = nh / ng;
    let q4 = (q + 3) & !3;
    let acs = scratch as *mut f64;
    let dth = scratch.add(2 * q4);
    let wj = dth.add(q4);
    let ea = wj.add(q4);
    let cb = ea.add(q4);
    let mm = cb.add(q4 * q4);
    let bt = mm.add(q4 * q4);
    let btw = bt.add(n * q4);
    let cp = btw.add(n * q4);
    let xc = cp.add(q4 * n);
    let sts = xc.add(q4 * p);
    let xs = nh * p; // row stride of x and y
    // Sᵀ in
    for h in h_lo..h_hi {
        let s = state.add(h * p * n);
        let so = sts.add((h - h_lo) * n * p);
        for pp in 0..p {
            for k in 0..n {
                *so.add(k * p + pp) = *s.add(pp * n + k);
            }
        }
    }
    let mut t0 = 0;
    while t0 < t {
        let l = if t - t0 < q { t - t0 } else { q };
        let mut cur_g = usize::MAX;
        for h in h_lo..h_hi {
            let g = h / hpg;
            let cg = c.add(t0 * ng * n + g * n); // row stride ng*n
            if g != cur_g {
                cur_g = g;
                let bg = b.add(t0 * ng * n + g * n);
                for j in 0..l {
                    for k in 0..n {
                        *bt.add(k * q4 + j) = *bg.add(j * ng * n + k);
                    }
                }
                gemm(l, l, n, cg, ng * n, bt, q4, cb, q4, false, Tri { k: false, n: true });
            }
            let ah = *a.add(h) as f64;
            let mut cum = 0f64;
            for i in 0..l {
                let dv = *dt.add((t0 + i) * nh + h);
                *dth.add(i) = dv;
                cum += dv as f64 * ah;
                *acs.add(i) = cum;
            }
            // M = CB ∘ exp(Acs_i - Acs_j) dt_j for j <= i, zero above the diagonal (up to the
            // end of the 4-row block, which is what the triangular gemm reads)
            let lanes = i32x4(0, 1, 2, 3);
            for i in 0..l {
                let ai = f64x2_splat(*acs.add(i));
                let row = mm.add(i * q4);
                let cbr = cb.add(i * q4);
                let mut j = 0;
                while j <= i {
                    let d01 = f32x4_demote_f64x2_zero(f64x2_sub(ai, v128_load(acs.add(j) as *const v128)));
                    let d23 = f32x4_demote_f64x2_zero(f64x2_sub(ai, v128_load(acs.add(j + 2) as *const v128)));
                    let diff = i32x4_shuffle::<0, 1, 4, 5>(d01, d23);
                    let mut v = mul(mul(ld(cbr.add(j)), exp_v(diff)), ld(dth.add(j)));
                    if j + 3 > i {
                        let over = i32x4_gt(i32x4_add(lanes, i32x4_splat(j as i32)), i32x4_splat(i as i32));
                        v = v128_andnot(v, over);
                    }
                    st(row.add(j), v);
                    j += 4;
                }
                let end = if (i / 4) * 4 + 4 < l { (i / 4) * 4 + 4 } else { l };
                while j < end {
                    *row.add(j) = 0.0;
                    j += 1;
                }
            }
            let xh = x.add(t0 * xs + h * p);
            let yh = y.add(t0 * xs + h * p);
            // X_c of this head, contiguous [L, P] (rows of x are H*P apart: gemm operands that
            // stride through memory thrash the cache and the TLB)
            for i in 0..l {
                core::ptr::copy_nonoverlapping(xh.add(i * xs), xc.add(i * p), p);
            }
            gemm(l, p, l, mm, q4, xc, p, yh, xs, false, Tri { k: true, n: false });
            // Y_off = (exp(Acs_i) C_i) · Sᵀ
            for i in 0..l {
                let e = exp1(*acs.add(i) as f32);
                *ea.add(i) = e;
                let ev = splat(e);
                let src = cg.add(i * ng * n);
                let dst = cp.add(i * n);
                let mut k = 0;
                while k + 4 <= n {
                    st(dst.add(k), mul(ev, ld(src.add(k))));
                    k += 4;
                }
                while k < n {
                    *dst.add(k) = e * *src.add(k);
                    k += 1;
                }
            }
            let st_h = sts.add((h - h_lo) * n * p);
            gemm(l, p, n, cp, n, st_h, p, yh, xs, true, FULL);
            // D skip
            let dh = *d.add(h);
            let dv = splat(dh);
            for i in 0..l {
                let yr = yh.add(i * xs);
                let xr = xh.add(i * xs);
                let mut k = 0;
                while k + 4 <= p {
                    st(yr.add(k), madd(ld(yr.add(k)), dv, ld(xr.add(k))));
                    k += 4;
                }
                while k < p {
                    *yr.add(k) += dh * *xr.add(k);
                    k += 1;
                }
            }
            // state passing: Sᵀ = exp(Acs_last) Sᵀ + (Bᵀ ∘ w) · X, w_j = exp(Acs_last - Acs_j) dt_j
            let last = *acs.add(l - 1);
            for j in 0..l {
                *wj.add(j) = exp1((last - *acs.add(j)) as f32) * *dth.add(j);
            }
            for k in 0..n {
                let src = bt.add(k * q4);
                let dst = btw.add(k * q4);
                let mut j = 0;
                while j + 4 <= l {
                    st(dst.add(j), mul(ld(src.add(j)), ld(wj.add(j))));
                    j += 4;
                }
                while j < l {
                    *dst.add(j) = *src.add(j) * *wj.add(j);
                    j += 1;
                }
            }
            let total = splat(exp1(last as f32));
            let mut k = 0;
            let np = n * p;
            while k + 4 <= np {
                st(st_h.add(k), mul(total, ld(st_h.add(k))));
                k += 4;
            }
            while k < np {
                *st_h.add(k) *= lane0(total);
                k += 1;
            }
            gemm(n, p, l, btw, q4, xc, p, st_h, p, true, FULL);
        }
        t0 += l;
    }
    // Sᵀ out
    for h in h_lo..h_hi {
        let s = state.add(h * p * n);
        let so = sts.add((h - h_lo) * n * p);
        for pp in 0..p {
            for k in 0..n {
                *s.add(pp * n + k) = *so.add(k * p + pp);
            }
        }
    }
}
