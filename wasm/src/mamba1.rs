//! Mamba-1 diagonal selective scan, sequential over tokens, SIMD over the state index n:
//!   h[d, n] <- exp(dt[t, d] A[d, n]) h[d, n] + dt[t, d] x[t, d] B[t, n]
//!   y[t, d]  = Σ_n h[d, n] C[t, n] + Dskip[d] x[t, d]
//! x, dt: [T, D]; A: [D, N]; B, C: [T, N]; state: [D, N] in/out; y: [T, D].
//! Channels are independent: threads split [d_lo, d_hi). N = 16 (all released Mamba-1 models)
//! keeps the state of a channel in four registers for the whole sequence.

use crate::simd::*;

#[inline(always)]
unsafe fn channel16(
    t: usize, dd: usize, nd: usize, x: *const f32, dt: *const f32, a: *const f32, b: *const f32, c: *const f32,
    dskip: f32, h: *mut f32, y: *mut f32,
) {
    let av = [ld(a), ld(a.add(4)), ld(a.add(8)), ld(a.add(12))];
    let mut hv = [ld(h), ld(h.add(4)), ld(h.add(8)), ld(h.add(12))];
    for tt in 0..t {
        let dtv = *dt.add(tt * nd + dd);
        let xv = *x.add(tt * nd + dd);
        let ds = splat(dtv);
        let dx = splat(dtv * xv);
        let bp = b.add(tt * 16);
        let cp = c.add(tt * 16);
        let mut acc = splat(0.0);
        for k in 0..4 {
            hv[k] = madd(mul(exp_v(mul(ds, av[k])), hv[k]), dx, ld(bp.add(4 * k)));
            acc = madd(acc, hv[k], ld(cp.add(4 * k)));
        }
        *y.add(tt * nd + dd) = hsum(acc) + dskip * xv;
    }
    for k in 0..4 {
        st(h.add(4 * k), hv[k]);
    }
}

/// Selective scan over T tokens for channels [d_lo, d_hi).
#[no_mangle]
pub unsafe extern "C" fn ss_selective_scan(
    t: usize, nd: usize, n: usize, x: *const f32, dt: *const f32, a: *const f32, b: *const f32, c: *const f32,
    dskip: *const f32, state: *mut f32, y: *mut f32, d_lo: usize, d_hi: usize,
) {
    for dd in d_lo..d_hi {
        let h = state.add(dd * n);
        let ar = a.add(dd * n);
        let ds_ = *dskip.add(dd);
        if n == 16 {
            channel16(t, dd, nd, x, dt, ar, b, c, ds_, h, y);
            continue;
        }
        for tt in 0..t {
            let dtv = *dt.add(tt * nd + dd);
            let xv = *x.add(tt * nd + dd);
            let ds = splat(dtv);
            let dtx = dtv * xv;
            let dx = splat(dtx);
            let bp = b.add(tt * n);
            let cp = c.add(tt * n);
            let mut acc = splat(0.0);
            let mut k = 0;
            while k + 4 <= n {
                let hv = madd(mul(exp_v(mul(ds, ld(ar.add(k)))), ld(h.add(k))), dx, ld(bp.add(k)));
                st(h.add(k), hv);
                acc = madd(acc, hv, ld(cp.add(k)));
                k += 4;
            }
            let mut tail = 0f32;
            while k < n {
                let hv = exp1(dtv * *ar.add(k)) * *h.add(k) + dtx * *bp.add(k);
                *h.add(k) = hv;
                tail += hv * *cp.add(k);
                k += 1;
            }
            *y.add(tt * nd + dd) = hsum(acc) + tail + ds_ * xv;
        }
    }
}
