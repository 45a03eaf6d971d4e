//! S4 / S4D kernels (kernels/backend.ts S4Ops; the cpu reference is kernels/cpu/s4-*.ts, fft.ts).
//!
//! Shape letters: T steps, H channels, M complex modes per channel (one of each conjugate pair, so
//! outputs are 2·Re of sums over M), Cc output channels, R rank, L kernel length. Complex arrays
//! interleave (re, im). Channels (or (c, h) rows) are independent: threads split them.
//!
//!   ss_s4_diag_scan     x <- dA⊙x + dB·u;  y[t, c·H+h] = 2·Re Σ_m dC[c,h,m]·x[h,m]       (f32x4)
//!   ss_s4_dplr_scan     s4's O(M·R) bilinear DPLR step (see kernels/cpu/s4-scan.ts)        (f32x4)
//!   ss_s4_vandermonde   K[c,h,l] = 2·Re Σ_m v·z^l (x0: v <- v·z·x0)                        (f64x2)
//!   ss_s4_fft_conv      causal conv of u [T, H] with k [Cc, H, Lk] + kState, radix-2 FFT   (f32x4)
//!   ss_s4_cauchy        DPLR kernel: Cauchy sums at the roots of unity, Woodbury, irfft   (f64x2)
//!   ss_s4_layer_norm, ss_s4_activation, ss_s4_glu                                           (f32x4)
//!
//! Numerics. The recurrences, the FFT convolution and the pointwise ops run in float32 (the rest
//! of this crate's precision); the Vandermonde powers z^l and the Cauchy / Woodbury / inverse-FFT
//! chain run in float64, as the cpu reference does, because their float32 error grows with L
//! (z^l by repeated products) or with the conditioning of the small DPLR solves.
//! Twiddle factors, FFT plans and the roots of unity come from TypeScript (`core` has no sin/cos):
//! kernels/wasm/s4.ts computes them once per length in float64.
//!
//! The complex products of the f32x4 scans keep two modes per vector, (re0, im0, re1, im1):
//! a·x = a1·x + a2·swap(x) with a1 = (ar, ar, ..), a2 = (−ai, ai, ..), precomputed per channel, and
//! 2·Re(c·x) = dot((cr, −ci, ..), x). Each channel's operands are copied into a per-thread scratch
//! padded to a multiple of four floats (zeros in the padding), so the step loops have no tails.

use crate::simd::*;

// ---------------------------------------------------------------- f32x4 complex helpers

/// Floats of one channel's [M, 2] slice, rounded up to a multiple of 4.
#[inline(always)]
fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// (re0, im0, re1, im1) -> (im0, re0, im1, re1).
#[inline(always)]
fn swap_ri(v: v128) -> v128 {
    i32x4_shuffle::<1, 0, 3, 2>(v, v)
}

/// a⊙x for the complex pairs of x, with a as split_mul lays it out (a1 = (re, re), a2 = (−im, im)):
/// a1·x + a2·swap_ri(x).
#[inline(always)]
unsafe fn cmul_split(a1: *const f32, a2: *const f32, x: v128) -> v128 {
    madd(mul(ld(a1), x), ld(a2), swap_ri(x))
}

/// Copies n floats to dst and zero-fills dst up to pad4(n).
#[inline(always)]
unsafe fn load_padded(dst: *mut f32, src: *const f32, n: usize) {
    for i in 0..n {
        *dst.add(i) = *src.add(i);
    }
    for i in n..pad4(n) {
        *dst.add(i) = 0.0;
    }
}

/// a1 = (ar, ar, ..), a2 = (−ai, ai, ..) of a complex [n/2, 2] slice (n floats), padded with zeros.
unsafe fn split_mul(a1: *mut f32, a2: *mut f32, src: *const f32, n: usize) {
    for j in 0..n / 2 {
        let (re, im) = (*src.add(2 * j), *src.add(2 * j + 1));
        *a1.add(2 * j) = re;
        *a1.add(2 * j + 1) = re;
        *a2.add(2 * j) = -im;
        *a2.add(2 * j + 1) = im;
    }
    for i in n..pad4(n) {
        *a1.add(i) = 0.0;
        *a2.add(i) = 0.0;
    }
}

/// (cr, −ci, ..) of a complex slice (n floats), padded with zeros: dot with x gives Re(c·x).
unsafe fn conj_sign(dst: *mut f32, src: *const f32, n: usize) {
    for j in 0..n / 2 {
        *dst.add(2 * j) = *src.add(2 * j);
        *dst.add(2 * j + 1) = -*src.add(2 * j + 1);
    }
    for i in n..pad4(n) {
        *dst.add(i) = 0.0;
    }
}

/// Σ a[i]·b[i] over np floats (np a multiple of 4), two vector accumulators.
#[inline(always)]
unsafe fn dot4(a: *const f32, b: *const f32, np: usize) -> f32 {
    let mut s0 = splat(0.0);
    let mut s1 = splat(0.0);
    let mut i = 0;
    while i + 8 <= np {
        s0 = madd(s0, ld(a.add(i)), ld(b.add(i)));
        s1 = madd(s1, ld(a.add(i + 4)), ld(b.add(i + 4)));
        i += 8;
    }
    if i < np {
        s0 = madd(s0, ld(a.add(i)), ld(b.add(i)));
    }
    hsum(add(s0, s1))
}

// ---------------------------------------------------------------- diagonal recurrence

/// Floats of per-thread scratch ss_s4_diag_scan needs.
#[no_mangle]
pub extern "C" fn ss_s4_diag_scratch_floats(m: usize, cc: usize) -> usize {
    (4 + cc) * pad4(2 * m)
}

/// Complex diagonal SSM over T steps for channels [h_lo, h_hi), continuing from `state`:
/// x[h,m] <- dA[h,m]·x[h,m] + dB[h,m]·u[t,h];  y[t, c·H+h] = 2·Re Σ_m dC[c,h,m]·x[h,m].
/// dA, dB, state: [H, M, 2]; dC: [Cc, H, M, 2]; u: [T, H]; y: [T, Cc·H] (not written when
/// skip != 0). scratch: ss_s4_diag_scratch_floats(M, Cc) floats per thread.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_diag_scan(
    t: usize, h: usize, m: usize, cc: usize, da: *const f32, db: *const f32, dc: *const f32, u: *const f32,
    state: *mut f32, y: *mut f32, skip: u32, scratch: *mut f32, h_lo: usize, h_hi: usize,
) {
    let n = 2 * m;
    let np = pad4(n);
    let ch = cc * h;
    let x = scratch;
    let a1 = scratch.add(np);
    let a2 = scratch.add(2 * np);
    let b = scratch.add(3 * np);
    let cs = scratch.add(4 * np);
    for hh in h_lo..h_hi {
        let o = hh * n;
        load_padded(x, state.add(o), n);
        split_mul(a1, a2, da.add(o), n);
        load_padded(b, db.add(o), n);
        if skip == 0 {
            for c in 0..cc {
                conj_sign(cs.add(c * np), dc.add(c * h * n + o), n);
            }
        }
        for tt in 0..t {
            let uv = splat(*u.add(tt * h + hh));
            if skip == 0 && cc == 1 {
                let mut acc0 = splat(0.0);
                let mut acc1 = splat(0.0);
                let mut i = 0;
                while i + 8 <= np {
                    let x0 = ld(x.add(i));
                    let x1 = ld(x.add(i + 4));
                    let n0 = madd(cmul_split(a1.add(i), a2.add(i), x0), ld(b.add(i)), uv);
                    let n1 = madd(cmul_split(a1.add(i + 4), a2.add(i + 4), x1), ld(b.add(i + 4)), uv);
                    st(x.add(i), n0);
                    st(x.add(i + 4), n1);
                    acc0 = madd(acc0, ld(cs.add(i)), n0);
                    acc1 = madd(acc1, ld(cs.add(i + 4)), n1);
                    i += 8;
                }
                if i < np {
                    let x0 = ld(x.add(i));
                    let n0 = madd(cmul_split(a1.add(i), a2.add(i), x0), ld(b.add(i)), uv);
                    st(x.add(i), n0);
                    acc0 = madd(acc0, ld(cs.add(i)), n0);
                }
                *y.add(tt * ch + hh) = 2.0 * hsum(add(acc0, acc1));
            } else {
                let mut i = 0;
                while i < np {
                    let x0 = ld(x.add(i));
                    st(x.add(i), madd(cmul_split(a1.add(i), a2.add(i), x0), ld(b.add(i)), uv));
                    i += 4;
                }
                if skip == 0 {
                    for c in 0..cc {
                        *y.add(tt * ch + c * h + hh) = 2.0 * dot4(cs.add(c * np), x, np);
                    }
                }
            }
        }
        for i in 0..n {
            *state.add(o + i) = *x.add(i);
        }
    }
}

// ---------------------------------------------------------------- DPLR recurrence

/// Floats of per-thread scratch ss_s4_dplr_scan needs.
#[no_mangle]
pub extern "C" fn ss_s4_dplr_scratch_floats(m: usize, r: usize, cc: usize) -> usize {
    (6 + 2 * r + cc) * pad4(2 * m) + pad4(r)
}

/// Bilinear DPLR recurrence (s4's "linear" step) over T steps for channels [h_lo, h_hi):
/// w = E⊙x − Σ_r P_r·2Re(Q_r·x) + 2·B·u;  x <- D⊙(w − Σ_r P_r·2Re(W_r·w));  y = 2·Re(dC·x), Q = conj(P).
/// E, D, B, state: [H, M, 2]; P, W: [R, H, M, 2]; dC: [Cc, H, M, 2]; u: [T, H]; y: [T, Cc·H]
/// (not written when skip != 0). scratch: ss_s4_dplr_scratch_floats(M, R, Cc) floats per thread.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_dplr_scan(
    t: usize, h: usize, m: usize, r: usize, cc: usize, e: *const f32, d: *const f32, b: *const f32, p: *const f32,
    w: *const f32, dc: *const f32, u: *const f32, state: *mut f32, y: *mut f32, skip: u32, scratch: *mut f32,
    h_lo: usize, h_hi: usize,
) {
    let n = 2 * m;
    let np = pad4(n);
    let ch = cc * h;
    let x = scratch;
    let e1 = scratch.add(np);
    let e2 = scratch.add(2 * np);
    let d1 = scratch.add(3 * np);
    let d2 = scratch.add(4 * np);
    let bb = scratch.add(5 * np);
    let pp = scratch.add(6 * np);
    let ws = scratch.add((6 + r) * np);
    let cs = scratch.add((6 + 2 * r) * np);
    let s = scratch.add((6 + 2 * r + cc) * np);
    for hh in h_lo..h_hi {
        let o = hh * n;
        load_padded(x, state.add(o), n);
        split_mul(e1, e2, e.add(o), n);
        split_mul(d1, d2, d.add(o), n);
        load_padded(bb, b.add(o), n);
        for k in 0..r {
            load_padded(pp.add(k * np), p.add(k * h * n + o), n);
            conj_sign(ws.add(k * np), w.add(k * h * n + o), n);
        }
        if skip == 0 {
            for c in 0..cc {
                conj_sign(cs.add(c * np), dc.add(c * h * n + o), n);
            }
        }
        for tt in 0..t {
            let u2 = splat(2.0 * *u.add(tt * h + hh));
            // s_r = 2·Re(Q_r·x) = 2·Σ (P.re·x.re + P.im·x.im)
            for k in 0..r {
                *s.add(k) = 2.0 * dot4(pp.add(k * np), x, np);
            }
            // w = E⊙x + 2B·u − Σ_r P_r·s_r  (in place of x)
            let mut i = 0;
            while i < np {
                let x0 = ld(x.add(i));
                let mut v = madd(cmul_split(e1.add(i), e2.add(i), x0), ld(bb.add(i)), u2);
                for k in 0..r {
                    v = f32x4_sub(v, mul(ld(pp.add(k * np + i)), splat(*s.add(k))));
                }
                st(x.add(i), v);
                i += 4;
            }
            // s_r = 2·Re(W_r·w)
            for k in 0..r {
                *s.add(k) = 2.0 * dot4(ws.add(k * np), x, np);
            }
            // x = D⊙(w − Σ_r P_r·s_r)
            let mut i = 0;
            while i < np {
                let mut v = ld(x.add(i));
                for k in 0..r {
                    v = f32x4_sub(v, mul(ld(pp.add(k * np + i)), splat(*s.add(k))));
                }
                st(x.add(i), cmul_split(d1.add(i), d2.add(i), v));
                i += 4;
            }
            if skip == 0 {
                for c in 0..cc {
                    *y.add(tt * ch + c * h + hh) = 2.0 * dot4(cs.add(c * np), x, np);
                }
            }
        }
        for i in 0..n {
            *state.add(o + i) = *x.add(i);
        }
    }
}

// ---------------------------------------------------------------- Vandermonde kernel (f64)

/// f64 count of per-thread scratch ss_s4_vandermonde needs.
#[no_mangle]
pub extern "C" fn ss_s4_vandermonde_scratch_f64s(l: usize) -> usize {
    2 * l
}

/// One mode's weight as f64 (re, im): v, or v·z·x0 for the state response.
#[inline(always)]
unsafe fn vweight(v: *const f32, z: *const f32, x0: *const f32, vi: usize, zi: usize) -> (f64, f64) {
    let (mut pr, mut pi) = (*v.add(vi) as f64, *v.add(vi + 1) as f64);
    if !x0.is_null() {
        let (zr, zim) = (*z.add(zi) as f64, *z.add(zi + 1) as f64);
        let (xr, xi) = (*x0.add(zi) as f64, *x0.add(zi + 1) as f64);
        let tr = pr * zr - pi * zim;
        let ti = pr * zim + pi * zr;
        pr = tr * xr - ti * xi;
        pi = tr * xi + ti * xr;
    }
    (pr, pi)
}

/// K[c,h,l] = 2·Re Σ_m v[c,h,m]·z[h,m]^l for l < L and rows c·H + h in [r_lo, r_hi) of Cc·H, in
/// float64 (z^l by repeated products, four modes at a time). x0 != 0: v <- v·z·x0 (the response
/// 2·Re(C·dA^(l+1)·x0) of an initial state). v: [Cc, H, M, 2]; z, x0: [H, M, 2]; out: [Cc, H, L].
/// scratch: ss_s4_vandermonde_scratch_f64s(L) f64 per thread.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_vandermonde(
    h: usize, m: usize, l: usize, v: *const f32, z: *const f32, x0: *const f32, out: *mut f32, scratch: *mut f64,
    r_lo: usize, r_hi: usize,
) {
    let acc = scratch;
    for row in r_lo..r_hi {
        let hh = row % h;
        for i in 0..2 * l {
            *acc.add(i) = 0.0;
        }
        let mut m0 = 0;
        while m0 < m {
            // modes m0..m0+4 in two f64x2 chains (a: m0, m0+1; b: m0+2, m0+3); missing modes weigh 0
            let mut wr = [0f64; 4];
            let mut wi = [0f64; 4];
            let mut zr = [0f64; 4];
            let mut zi = [0f64; 4];
            let mut stable = true;
            for j in 0..4 {
                let mm = m0 + j;
                if mm < m {
                    let zo = 2 * (hh * m + mm);
                    let (a, b) = vweight(v, z, x0, 2 * (row * m + mm), zo);
                    wr[j] = a;
                    wi[j] = b;
                    zr[j] = *z.add(zo) as f64;
                    zi[j] = *z.add(zo + 1) as f64;
                    stable &= zr[j] * zr[j] + zi[j] * zi[j] <= 1.0;
                }
            }
            let mut pra = f64x2(wr[0], wr[1]);
            let mut pia = f64x2(wi[0], wi[1]);
            let mut prb = f64x2(wr[2], wr[3]);
            let mut pib = f64x2(wi[2], wi[3]);
            let (zra, zia) = (f64x2(zr[0], zr[1]), f64x2(zi[0], zi[1]));
            let (zrb, zib) = (f64x2(zr[2], zr[3]), f64x2(zi[2], zi[3]));
            let mut ll = 0;
            while ll < l {
                // every 32 steps: stop once decaying powers are below any float32 output (this
                // also keeps the products out of the slow f64 subnormal range)
                if stable && ll & 31 == 0 && ll > 0 {
                    let mx = f64x2_max(
                        f64x2_max(f64x2_abs(pra), f64x2_abs(pia)),
                        f64x2_max(f64x2_abs(prb), f64x2_abs(pib)),
                    );
                    if f64x2_extract_lane::<0>(mx) < 1e-60 && f64x2_extract_lane::<1>(mx) < 1e-60 {
                        break;
                    }
                }
                let a = acc.add(2 * ll) as *mut v128;
                v128_store(a, f64x2_add(v128_load(a), f64x2_add(pra, prb)));
                let ta = f64x2_sub(f64x2_mul(pra, zra), f64x2_mul(pia, zia));
                pia = f64x2_add(f64x2_mul(pra, zia), f64x2_mul(pia, zra));
                pra = ta;
                let tb = f64x2_sub(f64x2_mul(prb, zrb), f64x2_mul(pib, zib));
                pib = f64x2_add(f64x2_mul(prb, zib), f64x2_mul(pib, zrb));
                prb = tb;
                ll += 1;
            }
            m0 += 4;
        }
        let o = out.add(row * l);
        for ll in 0..l {
            *o.add(ll) = (2.0 * (*acc.add(2 * ll) + *acc.add(2 * ll + 1))) as f32;
        }
    }
}

// ---------------------------------------------------------------- FFT convolution (f32)

/// Floats of per-thread scratch ss_s4_fft_conv needs (n = FFT length, 0 for the direct sum).
#[no_mangle]
pub extern "C" fn ss_s4_fft_conv_scratch_floats(t: usize, n: usize) -> usize {
    if n == 0 { pad4(t) } else { 2 * n }
}

/// Forward DIF FFT of (re, im), natural order in, bit-reversed order out; n >= 8 a power of two.
/// tw: per stage of half-length hl (n/2, n/4, .., 1) the hl twiddles exp(−2πik/(2hl)) at offset
/// hl − 1, as twr[n], twi[n].
unsafe fn fft_dif(re: *mut f32, im: *mut f32, n: usize, twr: *const f32, twi: *const f32) {
    let mut hl = n / 2;
    while hl >= 4 {
        let s = 2 * hl;
        let mut start = 0;
        while start < n {
            let mut k = 0;
            while k < hl {
                let (a, b) = (start + k, start + k + hl);
                let (ar, ai, br, bi) = (ld(re.add(a)), ld(im.add(a)), ld(re.add(b)), ld(im.add(b)));
                let (wr, wi) = (ld(twr.add(hl - 1 + k)), ld(twi.add(hl - 1 + k)));
                st(re.add(a), add(ar, br));
                st(im.add(a), add(ai, bi));
                let (dr, di) = (f32x4_sub(ar, br), f32x4_sub(ai, bi));
                st(re.add(b), f32x4_sub(mul(dr, wr), mul(di, wi)));
                st(im.add(b), add(mul(dr, wi), mul(di, wr)));
                k += 4;
            }
            start += s;
        }
        hl /= 2;
    }
    // the last two stages (half-lengths 2 and 1) inside each block of four
    let lane3 = i32x4(0, 0, 0, -1);
    let mut i = 0;
    while i < n {
        let (r, q) = (ld(re.add(i)), ld(im.add(i)));
        // half-length 2: (x0 + x2, x1 + x3, x0 − x2, (x1 − x3)·(−i))
        let (tr, tq) = (bfly2(r), bfly2(q));
        let ar = v128_bitselect(tq, tr, lane3);
        let aq = v128_bitselect(f32x4_neg(tr), tq, lane3);
        // half-length 1: pairs (a0 ± a1), (a2 ± a3)
        st(re.add(i), bfly1(ar));
        st(im.add(i), bfly1(aq));
        i += 4;
    }
}

/// (x0 + x2, x1 + x3, x0 − x2, x1 − x3): the butterflies of half-length 2 within a block of four lanes.
#[inline(always)]
fn bfly2(x: v128) -> v128 {
    madd(i32x4_shuffle::<2, 3, 0, 1>(x, x), x, f32x4(1.0, 1.0, -1.0, -1.0))
}

/// (x0 + x1, x0 − x1, x2 + x3, x2 − x3): the butterflies of half-length 1 within a block of four lanes.
#[inline(always)]
fn bfly1(x: v128) -> v128 {
    madd(i32x4_shuffle::<1, 0, 3, 2>(x, x), x, f32x4(1.0, -1.0, 1.0, -1.0))
}

/// Inverse DIT FFT (unnormalised, conjugate twiddles) of (re, im): bit-reversed order in, natural
/// order out; the inverse of fft_dif up to the factor n.
unsafe fn fft_dit_inv(re: *mut f32, im: *mut f32, n: usize, twr: *const f32, twi: *const f32) {
    let lane3 = i32x4(0, 0, 0, -1);
    let mut i = 0;
    while i < n {
        let (r, q) = (ld(re.add(i)), ld(im.add(i)));
        // half-length 1
        let (br, bq) = (bfly1(r), bfly1(q));
        // half-length 2: lane 3 times +i, then (c0 + c2, c1 + c3, c0 − c2, c1 − c3)
        let cr = v128_bitselect(f32x4_neg(bq), br, lane3);
        let cq = v128_bitselect(br, bq, lane3);
        st(re.add(i), bfly2(cr));
        st(im.add(i), bfly2(cq));
        i += 4;
    }
    let mut hl = 4;
    while hl < n {
        let s = 2 * hl;
        let mut start = 0;
        while start < n {
            let mut k = 0;
            while k < hl {
                let (a, b) = (start + k, start + k + hl);
                let (br, bi) = (ld(re.add(b)), ld(im.add(b)));
                let (wr, wi) = (ld(twr.add(hl - 1 + k)), ld(twi.add(hl - 1 + k)));
                // t = b·conj(w)
                let tr = add(mul(br, wr), mul(bi, wi));
                let ti = f32x4_sub(mul(bi, wr), mul(br, wi));
                let (ar, ai) = (ld(re.add(a)), ld(im.add(a)));
                st(re.add(b), f32x4_sub(ar, tr));
                st(im.add(b), f32x4_sub(ai, ti));
                st(re.add(a), add(ar, tr));
                st(im.add(a), add(ai, ti));
                k += 4;
            }
            start += s;
        }
        hl *= 2;
    }
}

/// (2^e, 2^−e) with 2^(2e) ≈ su / sk (sums of squares), |e| <= 60; (1, 1) when either is 0 or not finite.
#[inline(always)]
fn pow2_balance(su: f32, sk: f32) -> (f32, f32) {
    let r = su / sk;
    if !(r > 0.0) || !r.is_finite() {
        return (1.0, 1.0);
    }
    let e = (((r.to_bits() >> 23) & 0xff) as i32 - 127) / 2;
    let e = if e > 60 { 60 } else if e < -60 { -60 } else { e };
    (f32::from_bits(((127 + e) as u32) << 23), f32::from_bits(((127 - e) as u32) << 23))
}

/// Causal convolution along T for rows c·H + h in [r_lo, r_hi) of Cc·H:
/// y[t, c·H+h] = Σ_{j ≤ t, j < Lk} k[c,h,j]·u[t−j,h] + (ks ? ks[c,h,t] : 0).
/// u: [T, H]; k: [Cc, H, Lk]; ks: [Cc, H, Ls] (0 for none); y: [T, Cc·H].
/// n = 0: the direct sum (short blocks). Else n >= 8 is the power of two >= T + min(Lk, T) − 1 the
/// zero-padded sequences are transformed at, with plan = twr[n], twi[n] (see fft_dif), then the
/// partner table [n] (u32: the bit-reversed position of frequency −f for the one of f). One complex
/// FFT carries both real sequences (re = u, im = k·2^e, balanced by pow2_balance); the product spectrum goes back through one
/// inverse FFT. scratch: ss_s4_fft_conv_scratch_floats(T, n) floats per thread.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_fft_conv(
    t: usize, h: usize, cc: usize, lk: usize, u: *const f32, k: *const f32, ks: *const f32, ls: usize, y: *mut f32,
    n: usize, plan: *const f32, scratch: *mut f32, r_lo: usize, r_hi: usize,
) {
    let ch = cc * h;
    let taps = if lk < t { lk } else { t };
    for row in r_lo..r_hi {
        let hh = row % h;
        let kr = k.add(row * lk);
        let yc = y.add(row);
        if n == 0 {
            let ur = scratch;
            for tt in 0..t {
                *ur.add(tt) = *u.add(tt * h + hh);
            }
            for tt in 0..t {
                let mut s = 0f32;
                let jmax = if tt + 1 < taps { tt + 1 } else { taps };
                for j in 0..jmax {
                    s += *kr.add(j) * *ur.add(tt - j);
                }
                if !ks.is_null() {
                    s += *ks.add(row * ls + tt);
                }
                *yc.add(tt * ch) = s;
            }
            continue;
        }
        let re = scratch;
        let im = scratch.add(n);
        // Both sequences share one transform, so the error of each spectrum scales with the larger
        // norm: k is scaled by a power of two that brings ‖k‖ near ‖u‖ (exact), and y is unscaled.
        let (mut su, mut sk) = (0f32, 0f32);
        for i in 0..n {
            let a = if i < t { *u.add(i * h + hh) } else { 0.0 };
            let b = if i < taps { *kr.add(i) } else { 0.0 };
            *re.add(i) = a;
            *im.add(i) = b;
            su += a * a;
            sk += b * b;
        }
        let (scale, unscale) = pow2_balance(su, sk);
        if scale != 1.0 {
            for i in 0..taps {
                *im.add(i) *= scale;
            }
        }
        let (twr, twi) = (plan, plan.add(n));
        let partner = plan.add(2 * n) as *const u32;
        fft_dif(re, im, n, twr, twi);
        // Z = U + iK: U[f] = (Z[f] + conj Z[−f])/2, K[f] = (Z[f] − conj Z[−f])/(2i); P = U·K, and
        // P[−f] = conj P[f] (real sequences)
        for i in 0..n {
            let j = *partner.add(i) as usize;
            if j < i {
                continue;
            }
            let (zr, zi, gr, gi) = (*re.add(i), *im.add(i), *re.add(j), *im.add(j));
            let ur = (zr + gr) * 0.5;
            let ui = (zi - gi) * 0.5;
            let kr_ = (zi + gi) * 0.5;
            let ki = (gr - zr) * 0.5;
            let pr = ur * kr_ - ui * ki;
            let pi = ur * ki + ui * kr_;
            *re.add(i) = pr;
            *im.add(i) = pi;
            *re.add(j) = pr;
            *im.add(j) = -pi;
        }
        fft_dit_inv(re, im, n, twr, twi);
        let inv = unscale / n as f32;
        for tt in 0..t {
            let mut v = *re.add(tt) * inv;
            if !ks.is_null() {
                v += *ks.add(row * ls + tt);
            }
            *yc.add(tt * ch) = v;
        }
    }
}

// ---------------------------------------------------------------- f64 complex FFT (Cauchy irfft)

#[inline(always)]
unsafe fn c64(p: *const f64) -> v128 {
    v128_load(p as *const v128)
}

#[inline(always)]
unsafe fn c64st(p: *mut f64, v: v128) {
    v128_store(p as *mut v128, v)
}

/// a·b for complex numbers held as f64x2 (re, im).
#[inline(always)]
fn cmul64(a: v128, b: v128) -> v128 {
    let ar = f64x2_splat(f64x2_extract_lane::<0>(a));
    let ai = f64x2_splat(f64x2_extract_lane::<1>(a));
    let bs = i64x2_shuffle::<1, 0>(b, b);
    f64x2_add(f64x2_mul(ar, b), f64x2_mul(f64x2_mul(ai, bs), f64x2(-1.0, 1.0)))
}

/// In-place radix-2 FFT of n complex f64 (interleaved), unnormalised; tw: exp(−2πik/n), k < n/2
/// (interleaved); `inverse` uses the conjugates.
unsafe fn fft64(x: *mut f64, n: usize, tw: *const f64, inverse: bool) {
    if n <= 1 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = ((i as u32).reverse_bits() >> (32 - bits)) as usize;
        if j > i {
            let a = c64(x.add(2 * i));
            c64st(x.add(2 * i), c64(x.add(2 * j)));
            c64st(x.add(2 * j), a);
        }
    }
    let conj = if inverse { f64x2(1.0, -1.0) } else { f64x2(1.0, 1.0) };
    let mut size = 2;
    while size <= n {
        let half = size / 2;
        let step = n / size;
        let mut start = 0;
        while start < n {
            for k in 0..half {
                let w = f64x2_mul(c64(tw.add(2 * k * step)), conj);
                let a = x.add(2 * (start + k));
                let b = x.add(2 * (start + k + half));
                let tb = cmul64(c64(b), w);
                let va = c64(a);
                c64st(b, f64x2_sub(va, tb));
                c64st(a, f64x2_add(va, tb));
            }
            start += size;
        }
        size *= 2;
    }
}

/// out[0..L) = the real sequence whose DFT is the Hermitian spectrum (sr, si)[0..=L/2]
/// (torch.fft.irfft(spec, n=L)). plan: fft_m = 0 (L a power of two): tw [L/2][2]; else Bluestein
/// with m = fft_m: chirp [L][2], bf [m][2] (FFT of the conjugate chirp), tw [m/2][2].
/// work: (L + fft_m)·2 f64.
unsafe fn irfft64(sr: *const f64, si: *const f64, l: usize, plan: *const f64, fft_m: usize, work: *mut f64, out: *mut f32) {
    let half = l / 2;
    let x = work;
    for k in 0..l {
        let (re, im) = if k <= half { (*sr.add(k), *si.add(k)) } else { (*sr.add(l - k), -*si.add(l - k)) };
        let im = if k == 0 || (l % 2 == 0 && k == half) { 0.0 } else { im };
        *x.add(2 * k) = re;
        *x.add(2 * k + 1) = im;
    }
    if fft_m == 0 {
        fft64(x, l, plan, true);
    } else {
        // Bluestein (kernels/cpu/fft.ts fftBluestein): inverse = conj(forward(conj(x)))
        let m = fft_m;
        let chirp = plan;
        let bf = plan.add(2 * l);
        let tw = plan.add(2 * l + 2 * m);
        let a = work.add(2 * l);
        let cj = f64x2(1.0, -1.0);
        for j in 0..m {
            let v = if j < l { cmul64(f64x2_mul(c64(x.add(2 * j)), cj), c64(chirp.add(2 * j))) } else { f64x2_splat(0.0) };
            c64st(a.add(2 * j), v);
        }
        fft64(a, m, tw, false);
        for j in 0..m {
            c64st(a.add(2 * j), cmul64(c64(a.add(2 * j)), c64(bf.add(2 * j))));
        }
        fft64(a, m, tw, true);
        let inv = f64x2_splat(1.0 / m as f64);
        for k in 0..l {
            let yk = cmul64(f64x2_mul(c64(a.add(2 * k)), inv), c64(chirp.add(2 * k)));
            c64st(x.add(2 * k), f64x2_mul(yk, cj));
        }
    }
    let inv = 1.0 / l as f64;
    for k in 0..l {
        *out.add(k) = (*x.add(2 * k) * inv) as f32;
    }
}

// ---------------------------------------------------------------- Cauchy kernel (f64)

/// f64 count of per-thread scratch ss_s4_cauchy needs (nb = 2 with a state response, else 1).
#[no_mangle]
pub extern "C" fn ss_s4_cauchy_scratch_f64s(cc: usize, m: usize, r: usize, l: usize, nb: usize, fft_m: usize) -> usize {
    let n2 = 2 * m;
    let na = cc + r;
    let nbv = nb + r;
    let nodes = l / 2 + 1;
    // a, ac (na rows), b (nbv rows), λ, c — split re/im over 2M — then r', X, G, spectra, irfft work
    2 * n2 * (2 * na + nbv + 2) + 2 * na * nbv + 2 * r * r + 2 * r * nb + 2 * nb * cc * nodes + 2 * (l + fft_m)
}

/// Solves (X)·Y = G in place for Y (X: [R, R], G: [R, cols], complex split re/im, row-major):
/// Gauss-Jordan with partial pivoting (kernels/cpu/s4-kernel.ts solveSmall).
unsafe fn solve_small(r: usize, cols: usize, xr: *mut f64, xi: *mut f64, gr: *mut f64, gi: *mut f64) {
    for col in 0..r {
        let mut piv = col;
        let mut best = -1.0;
        for rr in col..r {
            let a = *xr.add(rr * r + col);
            let b = *xi.add(rr * r + col);
            let mag = a * a + b * b;
            if mag > best {
                best = mag;
                piv = rr;
            }
        }
        if piv != col {
            for j in 0..r {
                core::ptr::swap(xr.add(piv * r + j), xr.add(col * r + j));
                core::ptr::swap(xi.add(piv * r + j), xi.add(col * r + j));
            }
            for j in 0..cols {
                core::ptr::swap(gr.add(piv * cols + j), gr.add(col * cols + j));
                core::ptr::swap(gi.add(piv * cols + j), gi.add(col * cols + j));
            }
        }
        let dr = *xr.add(col * r + col);
        let di = *xi.add(col * r + col);
        let den = dr * dr + di * di;
        let (ir, ii) = (dr / den, -di / den);
        for rr in 0..r {
            if rr == col {
                continue;
            }
            let fr0 = *xr.add(rr * r + col);
            let fi0 = *xi.add(rr * r + col);
            let fr = fr0 * ir - fi0 * ii;
            let fi = fr0 * ii + fi0 * ir;
            for j in 0..r {
                let ar = *xr.add(col * r + j);
                let ai = *xi.add(col * r + j);
                *xr.add(rr * r + j) -= fr * ar - fi * ai;
                *xi.add(rr * r + j) -= fr * ai + fi * ar;
            }
            for j in 0..cols {
                let ar = *gr.add(col * cols + j);
                let ai = *gi.add(col * cols + j);
                *gr.add(rr * cols + j) -= fr * ar - fi * ai;
                *gi.add(rr * cols + j) -= fr * ai + fi * ar;
            }
        }
    }
    for rr in 0..r {
        let dr = *xr.add(rr * r + rr);
        let di = *xi.add(rr * r + rr);
        let den = dr * dr + di * di;
        let (ir, ii) = (dr / den, -di / den);
        for j in 0..cols {
            let ar = *gr.add(rr * cols + j);
            let ai = *gi.add(rr * cols + j);
            *gr.add(rr * cols + j) = ar * ir - ai * ii;
            *gi.add(rr * cols + j) = ar * ii + ai * ir;
        }
    }
}

/// Σ_n (a_r + i a_i)[n]·(b_r + i b_i)[n] over n2 (even) values, split re/im, f64x2.
#[inline(always)]
unsafe fn cdot64(ar: *const f64, ai: *const f64, br: *const f64, bi: *const f64, n2: usize) -> (f64, f64) {
    let mut sr = f64x2_splat(0.0);
    let mut si = f64x2_splat(0.0);
    let mut n = 0;
    while n < n2 {
        let (xr, xi) = (c64(ar.add(n)), c64(ai.add(n)));
        let (yr, yi) = (c64(br.add(n)), c64(bi.add(n)));
        sr = f64x2_add(sr, f64x2_sub(f64x2_mul(xr, yr), f64x2_mul(xi, yi)));
        si = f64x2_add(si, f64x2_add(f64x2_mul(xr, yi), f64x2_mul(xi, yr)));
        n += 2;
    }
    (
        f64x2_extract_lane::<0>(sr) + f64x2_extract_lane::<1>(sr),
        f64x2_extract_lane::<0>(si) + f64x2_extract_lane::<1>(si),
    )
}

/// The S4 (DPLR, bilinear) kernel of length L for channels [h_lo, h_hi), float64 inside
/// (kernels/cpu/s4-kernel.ts cauchyKernel): at the nodes ω_k = exp(−2πik/L), k = 0..L/2, the
/// Cauchy sums r'_ab = Σ_n a_n·b_n·2dt/(2(1−ω) − (1+ω)·dt·λ_n) over both members of each conjugate
/// pair, the Woodbury correction K̂ = r'_CB − r'_CP·(I + ((1+ω)/2)·r'_QP)⁻¹·((1+ω)/2)·r'_QB, then
/// K = irfft(K̂, n = L). With x0 (nonzero) the same with B' = x0/dt + (Λ·x0 − P·2Re(Q·x0))/2 gives
/// the state response as a second kernel.
/// dt: [H]; lambda, B, x0: [H, M, 2]; P: [R, H, M, 2]; Ct: [Cc, H, M, 2]; out: [nb, Cc, H, L].
/// omega: [L/2 + 1][2] (f64); plan, fft_m: see irfft64. scratch: ss_s4_cauchy_scratch_f64s per thread.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_cauchy(
    cc: usize, h: usize, m: usize, r: usize, l: usize, dt: *const f32, lambda: *const f32, p: *const f32, b: *const f32,
    ct: *const f32, x0: *const f32, out: *mut f32, omega: *const f64, plan: *const f64, fft_m: usize, scratch: *mut f64,
    h_lo: usize, h_hi: usize,
) {
    let nb = if x0.is_null() { 1 } else { 2 };
    let n2 = 2 * m;
    let na = cc + r;
    let nbv = nb + r;
    let nodes = l / 2 + 1;
    // scratch layout (f64), matching ss_s4_cauchy_scratch_f64s
    let mut q = scratch;
    let mut take = |n: usize| {
        let p0 = q;
        q = q.add(n);
        p0
    };
    let (ar, ai) = (take(na * n2), take(na * n2));
    let (acr, aci) = (take(na * n2), take(na * n2));
    let (br, bi) = (take(nbv * n2), take(nbv * n2));
    let (lr, li) = (take(n2), take(n2));
    let (cr, ci) = (take(n2), take(n2));
    let (rr, ri) = (take(na * nbv), take(na * nbv));
    let (xr, xi) = (take(r * r), take(r * r));
    let (gr, gi) = (take(r * nb), take(r * nb));
    let (spr, spi) = (take(nb * cc * nodes), take(nb * cc * nodes));
    let work = take(2 * (l + fft_m));

    for hh in h_lo..h_hi {
        let d = *dt.add(hh) as f64;
        let set = |dr: *mut f64, di: *mut f64, row: usize, mm: usize, re: f64, im: f64| {
            *dr.add(row * n2 + mm) = re;
            *di.add(row * n2 + mm) = im;
            *dr.add(row * n2 + m + mm) = re;
            *di.add(row * n2 + m + mm) = -im;
        };
        for mm in 0..m {
            let hm = 2 * (hh * m + mm);
            let (lre, lim) = (*lambda.add(hm) as f64, *lambda.add(hm + 1) as f64);
            set(lr, li, 0, mm, lre, lim);
            for c in 0..cc {
                let o = 2 * ((c * h + hh) * m + mm);
                set(ar, ai, c, mm, *ct.add(o) as f64, *ct.add(o + 1) as f64);
            }
            for k in 0..r {
                let o = 2 * ((k * h + hh) * m + mm);
                let (pre, pim) = (*p.add(o) as f64, *p.add(o + 1) as f64);
                set(ar, ai, cc + k, mm, pre, -pim); // Q = conj(P)
                set(br, bi, nb + k, mm, pre, pim);
            }
            set(br, bi, 0, mm, *b.add(hm) as f64, *b.add(hm + 1) as f64);
            if nb == 2 {
                let (xr0, xi0) = (*x0.add(hm) as f64, *x0.add(hm + 1) as f64);
                let tr = xr0 / d + (lre * xr0 - lim * xi0) / 2.0;
                let ti = xi0 / d + (lre * xi0 + lim * xr0) / 2.0;
                set(br, bi, 1, mm, tr, ti);
            }
        }
        if nb == 2 {
            for k in 0..r {
                // (Q·x0) over both halves = 2·Re Σ_m conj(P_m)·x0_m; B' −= P·that/2
                let mut s = 0f64;
                for mm in 0..m {
                    let o = 2 * ((k * h + hh) * m + mm);
                    let hm = 2 * (hh * m + mm);
                    s += *p.add(o) as f64 * *x0.add(hm) as f64 + *p.add(o + 1) as f64 * *x0.add(hm + 1) as f64;
                }
                s *= 2.0;
                for mm in 0..m {
                    let o = 2 * ((k * h + hh) * m + mm);
                    let re = -(*p.add(o) as f64) * s / 2.0;
                    let im = -(*p.add(o + 1) as f64) * s / 2.0;
                    *br.add(n2 + mm) += re;
                    *bi.add(n2 + mm) += im;
                    *br.add(n2 + m + mm) += re;
                    *bi.add(n2 + m + mm) -= im;
                }
            }
        }

        for kk in 0..nodes {
            let wr = *omega.add(2 * kk);
            let wi = *omega.add(2 * kk + 1);
            let (a1r, a1i) = (2.0 * (1.0 - wr), -2.0 * wi); // 2(1−ω)
            let (pr, pim) = (1.0 + wr, wi); // 1+ω
            // c_n = 2dt / (2(1−ω) − (1+ω)·dt·λ_n)
            let (va1r, va1i) = (f64x2_splat(a1r), f64x2_splat(a1i));
            let (vpr, vpi) = (f64x2_splat(d * pr), f64x2_splat(d * pim));
            let two_d = f64x2_splat(2.0 * d);
            let mut n = 0;
            while n < n2 {
                let (l_r, l_i) = (c64(lr.add(n)), c64(li.add(n)));
                let qr = f64x2_sub(va1r, f64x2_sub(f64x2_mul(vpr, l_r), f64x2_mul(vpi, l_i)));
                let qi = f64x2_sub(va1i, f64x2_add(f64x2_mul(vpr, l_i), f64x2_mul(vpi, l_r)));
                let den = f64x2_add(f64x2_mul(qr, qr), f64x2_mul(qi, qi));
                c64st(cr.add(n), f64x2_div(f64x2_mul(two_d, qr), den));
                c64st(ci.add(n), f64x2_neg(f64x2_div(f64x2_mul(two_d, qi), den)));
                n += 2;
            }
            for i in 0..na {
                let (a_r, a_i) = (ar.add(i * n2), ai.add(i * n2));
                let (o_r, o_i) = (acr.add(i * n2), aci.add(i * n2));
                let mut n = 0;
                while n < n2 {
                    let (xr0, xi0) = (c64(a_r.add(n)), c64(a_i.add(n)));
                    let (yr, yi) = (c64(cr.add(n)), c64(ci.add(n)));
                    c64st(o_r.add(n), f64x2_sub(f64x2_mul(xr0, yr), f64x2_mul(xi0, yi)));
                    c64st(o_i.add(n), f64x2_add(f64x2_mul(xr0, yi), f64x2_mul(xi0, yr)));
                    n += 2;
                }
                for j in 0..nbv {
                    let (sr, si) = cdot64(o_r, o_i, br.add(j * n2), bi.add(j * n2), n2);
                    *rr.add(i * nbv + j) = sr;
                    *ri.add(i * nbv + j) = si;
                }
            }
            // Woodbury: K̂[b, c] = r'_{c,b} − Σ_s r'_{c,P_s}·[(I + f·r'_QP)⁻¹·f·r'_{Q,b}]_s, f = (1+ω)/2
            let (fr, fi) = (pr / 2.0, pim / 2.0);
            if r > 0 {
                for i in 0..r {
                    for j in 0..r {
                        let sr = *rr.add((cc + i) * nbv + nb + j);
                        let si = *ri.add((cc + i) * nbv + nb + j);
                        *xr.add(i * r + j) = (if i == j { 1.0 } else { 0.0 }) + fr * sr - fi * si;
                        *xi.add(i * r + j) = fr * si + fi * sr;
                    }
                    for bb in 0..nb {
                        let sr = *rr.add((cc + i) * nbv + bb);
                        let si = *ri.add((cc + i) * nbv + bb);
                        *gr.add(i * nb + bb) = fr * sr - fi * si;
                        *gi.add(i * nb + bb) = fr * si + fi * sr;
                    }
                }
                solve_small(r, nb, xr, xi, gr, gi);
            }
            for bb in 0..nb {
                for c in 0..cc {
                    let mut vr = *rr.add(c * nbv + bb);
                    let mut vi = *ri.add(c * nbv + bb);
                    for s in 0..r {
                        let (c_r, c_i) = (*rr.add(c * nbv + nb + s), *ri.add(c * nbv + nb + s));
                        let (g_r, g_i) = (*gr.add(s * nb + bb), *gi.add(s * nb + bb));
                        vr -= c_r * g_r - c_i * g_i;
                        vi -= c_r * g_i + c_i * g_r;
                    }
                    *spr.add((bb * cc + c) * nodes + kk) = vr;
                    *spi.add((bb * cc + c) * nodes + kk) = vi;
                }
            }
        }
        for bb in 0..nb {
            for c in 0..cc {
                let o = (bb * cc + c) * nodes;
                irfft64(spr.add(o), spi.add(o), l, plan, fft_m, work, out.add(((bb * cc + c) * h + hh) * l));
            }
        }
    }
}

// ---------------------------------------------------------------- pointwise

/// LayerNorm of rows of x: [T, D]: (x − mean)·rsqrt(var + eps)·weight + bias (biased variance,
/// two passes). y may be x.
#[no_mangle]
pub unsafe extern "C" fn ss_s4_layer_norm(x: *const f32, t: usize, d: usize, weight: *const f32, bias: *const f32, eps: f32, y: *mut f32) {
    for tt in 0..t {
        let xr = x.add(tt * d);
        let yr = y.add(tt * d);
        let mut s = splat(0.0);
        let mut i = 0;
        while i + 4 <= d {
            s = add(s, ld(xr.add(i)));
            i += 4;
        }
        let mut sum = hsum(s);
        while i < d {
            sum += *xr.add(i);
            i += 1;
        }
        let mean = sum / d as f32;
        let mv = splat(mean);
        let mut s = splat(0.0);
        let mut i = 0;
        while i + 4 <= d {
            let v = f32x4_sub(ld(xr.add(i)), mv);
            s = madd(s, v, v);
            i += 4;
        }
        let mut var = hsum(s);
        while i < d {
            let v = *xr.add(i) - mean;
            var += v * v;
            i += 1;
        }
        let inv = lane0(f32x4_div(splat(1.0), f32x4_sqrt(splat(var / d as f32 + eps))));
        let iv = splat(inv);
        let mut i = 0;
        while i + 4 <= d {
            let v = mul(mul(f32x4_sub(ld(xr.add(i)), mv), iv), ld(weight.add(i)));
            st(yr.add(i), add(v, ld(bias.add(i))));
            i += 4;
        }
        while i < d {
            *yr.add(i) = (*xr.add(i) - mean) * inv * *weight.add(i) + *bias.add(i);
            i += 1;
        }
    }
}

/// erf(x): a float32 rational approximation (odd degree-13 / even degree-8 polynomials in x, the
/// XLA / Eigen coefficients) on (−4, 4), ±1 outside; absolute error a few 1e-7.
#[inline(always)]
pub fn erf_v(x: v128) -> v128 {
    let x = f32x4_pmax(f32x4_pmin(x, splat(4.0)), splat(-4.0));
    let x2 = mul(x, x);
    let mut p = madd(splat(2.770_681_4e-8), x2, splat(-2.726_142_3e-10));
    p = madd(splat(-2.101_024e-6), x2, p);
    p = madd(splat(-5.692_506_4e-5), x2, p);
    p = madd(splat(-7.349_906_3e-4), x2, p);
    p = madd(splat(-2.954_600_1e-3), x2, p);
    p = madd(splat(-1.609_603_3e-2), x2, p);
    p = mul(x, p);
    let mut q = madd(splat(-2.133_740_6e-4), x2, splat(-1.456_607_2e-5));
    q = madd(splat(-1.682_827e-3), x2, q);
    q = madd(splat(-7.373_329e-3), x2, q);
    q = madd(splat(-1.426_473_9e-2), x2, q);
    // exactly ±1 from |x| = 4 on (erf 4 = 1 − 1.5e-8 rounds to 1), so that gelu(x) is exactly 0 far left
    let one = v128_or(splat(1.0), v128_and(x, splat(-0.0)));
    v128_bitselect(one, f32x4_div(p, q), f32x4_ge(f32x4_abs(x), splat(4.0)))
}

/// sigmoid(v) = 1 / (1 + e^−v).
#[inline(always)]
fn sigmoid_v(v: v128) -> v128 {
    f32x4_div(splat(1.0), add(splat(1.0), exp_v(f32x4_neg(v))))
}

#[inline(always)]
fn act_v(v: v128, kind: u32) -> v128 {
    match kind {
        // gelu: x/2·(1 + erf(x/√2))
        1 => mul(mul(splat(0.5), v), add(splat(1.0), erf_v(mul(v, splat(core::f32::consts::FRAC_1_SQRT_2))))),
        // tanh: odd Taylor polynomial below |x| = 1/4, else 1 − 2/(e^{2|x|} + 1) with the sign of x
        2 => {
            let a = f32x4_abs(v);
            let e = exp_v(mul(splat(2.0), a));
            let big = f32x4_sub(splat(1.0), f32x4_div(splat(2.0), add(e, splat(1.0))));
            let x2 = mul(v, v);
            let mut p = madd(splat(-17.0 / 315.0), x2, splat(62.0 / 2835.0));
            p = madd(splat(2.0 / 15.0), x2, p);
            p = madd(splat(-1.0 / 3.0), x2, p);
            let small = madd(v, mul(v, x2), p);
            let sgn = v128_and(v, f32x4_splat(-0.0));
            v128_bitselect(small, v128_or(big, sgn), f32x4_lt(a, splat(0.25)))
        }
        3 => f32x4_pmax(v, splat(0.0)),
        // elu: x > 0 ? x : expm1(x) (Taylor above −1/4)
        4 => {
            let mut p = madd(splat(1.0 / 120.0), v, splat(1.0 / 720.0));
            p = madd(splat(1.0 / 24.0), v, p);
            p = madd(splat(1.0 / 6.0), v, p);
            p = madd(splat(0.5), v, p);
            let small = madd(v, mul(v, v), p);
            let neg = v128_bitselect(small, f32x4_sub(exp_v(v), splat(1.0)), f32x4_gt(v, splat(-0.25)));
            v128_bitselect(v, neg, f32x4_gt(v, splat(0.0)))
        }
        5 => silu_v(v),
        6 => sigmoid_v(v),
        7 => softplus_v(v),
        _ => v,
    }
}

/// x <- act(x) in place over n values. kind: 0 id, 1 gelu (exact erf form), 2 tanh, 3 relu,
/// 4 elu, 5 silu, 6 sigmoid, 7 softplus (threshold 20).
#[no_mangle]
pub unsafe extern "C" fn ss_s4_activation(x: *mut f32, n: usize, kind: u32) {
    if kind == 0 {
        return;
    }
    let mut i = 0;
    while i + 4 <= n {
        st(x.add(i), act_v(ld(x.add(i)), kind));
        i += 4;
    }
    while i < n {
        *x.add(i) = lane0(act_v(splat(*x.add(i)), kind));
        i += 1;
    }
}

/// GLU over the last dim: x: [T, 2D] -> y: [T, D], y = a·sigmoid(b) with a = x[:, :D], b = x[:, D:].
#[no_mangle]
pub unsafe extern "C" fn ss_s4_glu(x: *const f32, t: usize, d: usize, y: *mut f32) {
    for tt in 0..t {
        let a = x.add(tt * 2 * d);
        let b = a.add(d);
        let o = y.add(tt * d);
        let mut i = 0;
        while i + 4 <= d {
            st(o.add(i), mul(ld(a.add(i)), sigmoid_v(ld(b.add(i)))));
            i += 4;
        }
        while i < d {
            *o.add(i) = *a.add(i) * lane0(sigmoid_v(splat(*b.add(i))));
            i += 1;
        }
    }
}
