//! Gated delta rule (the memories of MoM; kernels/cpu/delta-rule.ts is the reference), float32.
//! Shapes: q, k: [T, H, K]; v: [T, H, V]; beta, g: [T, H]; state: [H, K, V] in/out (per head
//! S: [K, V], V contiguous); y: [T, H, V]. (dk = K, dv = V below: `k` is the key tensor.)
//!
//! Recurrence per head: S ← e^g S;  u = β(v − Sᵀk);  S ← S + k uᵀ;  o = Sᵀ(scale·q).
//!
//! Step (decode), per token two passes over S: (1) a = Sᵀk and b = Sᵀq (read only); then
//!   u = β(v − e^g a), o = scale·(e^g b + (k·q) u);  (2) S ← e^g S + k uᵀ.
//!
//! Chunked (prefill), a chunk of C tokens from S₀, γ = in-chunk cumulative g (f64), q̃ = scale·q:
//!   A[t, j] = β_t e^{γ_t−γ_j} k_tᵀk_j (j < t);   (I + A) U = diag(β)(V_c − diag(e^γ) K_c S₀)
//!   solved by forward substitution (the UT transform of the WY form, applied to the right-hand
//!   side instead of forming (I + A)⁻¹);
//!   O = diag(e^γ) Q̃_c S₀ + (Q̃_c K_cᵀ ∘ D) U,  D[t, j] = e^{γ_t−γ_j} (j ≤ t, else 0);
//!   S_C = e^{γ_last} S₀ + (K_c ∘ e^{γ_last−γ})ᵀ U.
//! Every product but the substitution is a gemm (gemm.rs); only differences γ_t − γ_j (j ≤ t) are
//! exponentiated. Heads are independent: threads split [h_lo, h_hi).

use crate::gemm::{gemm, Tri, FULL};
use crate::simd::*;

/// Step recurrence for T tokens, heads [h_lo, h_hi); `scratch` holds dv floats.
#[no_mangle]
pub unsafe extern "C" fn ss_delta_step(
    t: usize, nh: usize, dk: usize, dv: usize, q: *const f32, k: *const f32, v: *const f32, beta: *const f32,
    g: *const f32, scale: f32, state: *mut f32, y: *mut f32, h_lo: usize, h_hi: usize, scratch: *mut f32,
) {
    let a = scratch; // Sᵀk, then u
    for tt in 0..t {
        for h in h_lo..h_hi {
            let th = tt * nh + h;
            let s = state.add(h * dk * dv);
            let kr = k.add(th * dk);
            let qr = q.add(th * dk);
            let vr = v.add(th * dv);
            let b = y.add(th * dv); // Sᵀq, then o
            let mut kq = 0f32;
            for i in 0..dk {
                kq += *kr.add(i) * *qr.add(i);
            }
            // pass 1, eight columns at a time in registers
            let mut j = 0;
            while j + 8 <= dv {
                let (mut a0, mut a1, mut b0, mut b1) = (splat(0.0), splat(0.0), splat(0.0), splat(0.0));
                for i in 0..dk {
                    let row = s.add(i * dv + j);
                    let (r0, r1) = (ld(row), ld(row.add(4)));
                    let ki = splat(*kr.add(i));
                    let qi = splat(*qr.add(i));
                    a0 = madd(a0, ki, r0);
                    a1 = madd(a1, ki, r1);
                    b0 = madd(b0, qi, r0);
                    b1 = madd(b1, qi, r1);
                }
                st(a.add(j), a0);
                st(a.add(j + 4), a1);
                st(b.add(j), b0);
                st(b.add(j + 4), b1);
                j += 8;
            }
            while j < dv {
                let (mut aj, mut bj) = (0f32, 0f32);
                for i in 0..dk {
                    let r = *s.add(i * dv + j);
                    aj += *kr.add(i) * r;
                    bj += *qr.add(i) * r;
                }
                *a.add(j) = aj;
                *b.add(j) = bj;
                j += 1;
            }
            let decay = exp1(*g.add(th));
            let bt = *beta.add(th);
            let (dvv, btv, kqv, scv) = (splat(decay), splat(bt), splat(kq), splat(scale));
            let mut j = 0;
            while j + 4 <= dv {
                let u = mul(btv, f32x4_sub(ld(vr.add(j)), mul(dvv, ld(a.add(j)))));
                st(a.add(j), u);
                st(b.add(j), mul(scv, madd(mul(dvv, ld(b.add(j))), kqv, u)));
                j += 4;
            }
            while j < dv {
                let u = bt * (*vr.add(j) - decay * *a.add(j));
                *a.add(j) = u;
                *b.add(j) = scale * (decay * *b.add(j) + kq * u);
                j += 1;
            }
            // pass 2: S ← e^g S + k uᵀ
            for i in 0..dk {
                let row = s.add(i * dv);
                let ki = *kr.add(i);
                let kv = splat(ki);
                let mut j = 0;
                while j + 4 <= dv {
                    st(row.add(j), madd(mul(dvv, ld(row.add(j))), kv, ld(a.add(j))));
                    j += 4;
                }
                while j < dv {
                    *row.add(j) = decay * *row.add(j) + ki * *a.add(j);
                    j += 1;
                }
            }
        }
    }
}

/// Floats of scratch one ss_delta_chunked call needs (chunk length qc, key dim dk, value dim dv),
/// whatever its number of heads (heads run one after another on the same scratch).
#[no_mangle]
pub extern "C" fn ss_delta_scratch_floats(qc: usize, dk: usize, dv: usize) -> usize {
    let q4 = (qc + 3) & !3;
    2 * q4 /* γ, f64 */ + 3 * q4 /* e^γ, β, e^{γ_last−γ} */ + 2 * q4 * dk /* K_c, Q̃_c */
        + 2 * dk * q4 /* K_cᵀ, (K_c ∘ w)ᵀ */ + 2 * q4 * q4 /* A, Q̃K */ + q4 * dv /* U */ + 16
}

/// Chunked gated delta rule for T tokens in chunks of qc, heads [h_lo, h_hi); `scratch` holds
/// ss_delta_scratch_floats(qc, dk, dv) floats (8-byte aligned).
#[no_mangle]
pub unsafe extern "C" fn ss_delta_chunked(
    t: usize, nh: usize, dk: usize, dv: usize, qc: usize, q: *const f32, k: *const f32, v: *const f32,
    beta: *const f32, g: *const f32, scale: f32, state: *mut f32, y: *mut f32, h_lo: usize, h_hi: usize,
    scratch: *mut f32,
) {
    if h_hi <= h_lo || t == 0 || qc == 0 {
        return;
    }
    let q4 = (qc + 3) & !3;
    let gam = scratch as *mut f64;
    let eg = scratch.add(2 * q4);
    let bt = eg.add(q4);
    let wl = bt.add(q4);
    let kc = wl.add(q4);
    let qm = kc.add(q4 * dk);
    let kt = qm.add(q4 * dk);
    let kwt = kt.add(dk * q4);
    let am = kwt.add(dk * q4);
    let qk = am.add(q4 * q4);
    let u = qk.add(q4 * q4);
    let ys = nh * dv; // row stride of y (and v)
    let lanes = i32x4(0, 1, 2, 3);
    for i in 0..q4 {
        *gam.add(i) = 0.0;
    }
    for h in h_lo..h_hi {
        let s0 = state.add(h * dk * dv);
        let mut t0 = 0;
        while t0 < t {
            let c = if t - t0 < qc { t - t0 } else { qc };
            // gather the chunk: γ, e^γ, β, K_c, Q̃_c (contiguous rows), K_cᵀ
            let mut cum = 0f64;
            for i in 0..c {
                let th = (t0 + i) * nh + h;
                cum += *g.add(th) as f64;
                *gam.add(i) = cum;
                *eg.add(i) = exp1(cum as f32);
                *bt.add(i) = *beta.add(th);
                let kr = k.add(th * dk);
                let qr = q.add(th * dk);
                for x in 0..dk {
                    let kv = *kr.add(x);
                    *kc.add(i * dk + x) = kv;
                    *qm.add(i * dk + x) = scale * *qr.add(x);
                    *kt.add(x * q4 + i) = kv;
                }
            }
            // Gram matrices K_c K_cᵀ, Q̃_c K_cᵀ (lower triangle, to the end of each 4-row block)
            let lower = Tri { k: false, n: true };
            gemm(c, c, dk, kc, dk, kt, q4, am, q4, false, lower);
            gemm(c, c, dk, qm, dk, kt, q4, qk, q4, false, lower);
            // A = β_t D ∘ KKᵀ strictly lower; Q̃K ∘ D lower with the diagonal; zero above, up to the
            // end of the 4-column block (what the triangular gemm below reads)
            for i in 0..c {
                let gi = f64x2_splat(*gam.add(i));
                let bi = splat(*bt.add(i));
                let ar = am.add(i * q4);
                let qr = qk.add(i * q4);
                let mut j = 0;
                while j <= i {
                    let d01 = f32x4_demote_f64x2_zero(f64x2_sub(gi, v128_load(gam.add(j) as *const v128)));
                    let d23 = f32x4_demote_f64x2_zero(f64x2_sub(gi, v128_load(gam.add(j + 2) as *const v128)));
                    let d = exp_v(i32x4_shuffle::<0, 1, 4, 5>(d01, d23));
                    let col = i32x4_add(lanes, i32x4_splat(j as i32));
                    let ii = i32x4_splat(i as i32);
                    st(ar.add(j), v128_andnot(mul(mul(bi, d), ld(ar.add(j))), i32x4_ge(col, ii)));
                    st(qr.add(j), v128_andnot(mul(d, ld(qr.add(j))), i32x4_gt(col, ii)));
                    j += 4;
                }
            }
            // U = diag(β)(V_c − diag(e^γ) K_c S₀)
            gemm(c, dv, dk, kc, dk, s0, dv, u, dv, false, FULL);
            for i in 0..c {
                let vr = v.add((t0 + i) * ys + h * dv);
                let ur = u.add(i * dv);
                let (b, e) = (*bt.add(i), *eg.add(i));
                let (bv, ev) = (splat(b), splat(e));
                let mut j = 0;
                while j + 4 <= dv {
                    st(ur.add(j), mul(bv, f32x4_sub(ld(vr.add(j)), mul(ev, ld(ur.add(j))))));
                    j += 4;
                }
                while j < dv {
                    *ur.add(j) = b * (*vr.add(j) - e * *ur.add(j));
                    j += 1;
                }
            }
            // forward substitution: U[i] −= Σ_{j<i} A[i, j] U[j]
            for i in 1..c {
                let ur = u.add(i * dv);
                for j in 0..i {
                    let aij = *am.add(i * q4 + j);
                    if aij == 0.0 {
                        continue;
                    }
                    let av = splat(aij);
                    let uj = u.add(j * dv);
                    let mut x = 0;
                    while x + 4 <= dv {
                        st(ur.add(x), f32x4_sub(ld(ur.add(x)), mul(av, ld(uj.add(x)))));
                        x += 4;
                    }
                    while x < dv {
                        *ur.add(x) -= aij * *uj.add(x);
                        x += 1;
                    }
                }
            }
            // O = diag(e^γ) Q̃_c S₀ + (Q̃K ∘ D) U, written straight into y
            let yh = y.add(t0 * ys + h * dv);
            gemm(c, dv, dk, qm, dk, s0, dv, yh, ys, false, FULL);
            for i in 0..c {
                let yr = yh.add(i * ys);
                let e = *eg.add(i);
                let ev = splat(e);
                let mut j = 0;
                while j + 4 <= dv {
                    st(yr.add(j), mul(ev, ld(yr.add(j))));
                    j += 4;
                }
                while j < dv {
                    *yr.add(j) *= e;
                    j += 1;
                }
            }
            gemm(c, dv, c, qk, q4, u, dv, yh, ys, true, Tri { k: true, n: false });
            // S₀ ← e^{γ_last} S₀ + (K_c ∘ e^{γ_last−γ})ᵀ U
            let last = *gam.add(c - 1);
            for j in 0..c {
                *wl.add(j) = exp1((last - *gam.add(j)) as f32);
            }
            for x in 0..dk {
                for j in 0..c {
                    *kwt.add(x * q4 + j) = *kt.add(x * q4 + j) * *wl.add(j);
                }
            }
            let e = *eg.add(c - 1);
            let ev = splat(e);
            let n = dk * dv;
            let mut j = 0;
            while j + 4 <= n {
                st(s0.add(j), mul(ev, ld(s0.add(j))));
                j += 4;
            }
            while j < n {
                *s0.add(j) *= e;
                j += 1;
            }
            gemm(dk, dv, c, kwt, q4, u, dv, s0, dv, true, FULL);
            t0 += c;
        }
    }
}
