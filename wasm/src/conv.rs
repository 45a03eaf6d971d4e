//! Causal depthwise conv1d + bias + SiLU, continuing from a carried window.
//! x: [T, C]; weight: [C, K] (tap K-1 multiplies the newest input); bias: [C] or none;
//! window: [C, K-1] (the last K-1 inputs, oldest first), updated in place; y: [T, C].
//! SIMD over 4 channels; channels are independent, so threads may split [c_lo, c_hi).

use crate::simd::*;

const KMAX: usize = 16;

/// Input of channel `ch` at time s (s < 0 reads the window).
#[inline(always)]
unsafe fn input(x: *const f32, window: *const f32, nc: usize, w: usize, s: isize, ch: usize) -> f32 {
    if s >= 0 {
        *x.add(s as usize * nc + ch)
    } else {
        *window.add(ch * w + (w as isize + s) as usize)
    }
}

unsafe fn update_window(x: *const f32, t: usize, nc: usize, w: usize, window: *mut f32, ch: usize) {
    // new window[j] = input(T - W + j); for T - W + j < 0 it reads window[j + T], not yet overwritten
    for j in 0..w {
        let s = t as isize - w as isize + j as isize;
        *window.add(ch * w + j) = input(x, window, nc, w, s, ch);
    }
}

/// One token (decode): per channel a K-tap dot over its contiguous weight row and window row
/// (no strided gathers), the window shifted by one; SiLU on 4 channels at a time.
#[inline(always)]
unsafe fn step<const KK: usize>(
    x: *const f32, k: usize, weight: *const f32, bias: *const f32, window: *mut f32, y: *mut f32, c_lo: usize,
    c_hi: usize,
) {
    let k = if KK > 0 { KK } else { k };
    let w = k - 1;
    let one = |ch: usize| -> f32 {
        let wr = weight.add(ch * k);
        let wi = window.add(ch * w);
        let xv = *x.add(ch);
        let mut s = if bias.is_null() { 0.0 } else { *bias.add(ch) };
        for kk in 0..w {
            s += *wr.add(kk) * *wi.add(kk);
        }
        s += *wr.add(w) * xv;
        for kk in 1..w {
            *wi.add(kk - 1) = *wi.add(kk);
        }
        if w > 0 {
            *wi.add(w - 1) = xv;
        }
        s
    };
    let mut c = c_lo;
    while c + 4 <= c_hi {
        let v = f32x4(one(c), one(c + 1), one(c + 2), one(c + 3));
        st(y.add(c), silu_v(v));
        c += 4;
    }
    while c < c_hi {
        *y.add(c) = silu1(one(c));
        c += 1;
    }
}

/// Causal depthwise conv1d + bias + SiLU for channels [c_lo, c_hi), window updated in place.
/// `bias` = 0 for none.
#[no_mangle]
pub unsafe extern "C" fn ss_conv1d(
    x: *const f32, t: usize, nc: usize, k: usize, weight: *const f32, bias: *const f32, window: *mut f32,
    y: *mut f32, c_lo: usize, c_hi: usize,
) {
    if t == 1 {
        if k == 4 {
            step::<4>(x, k, weight, bias, window, y, c_lo, c_hi);
        } else {
            step::<0>(x, k, weight, bias, window, y, c_lo, c_hi);
        }
        return;
    }
    let w = k - 1;
    let mut c0 = c_lo;
    if k <= KMAX {
        while c0 + 4 <= c_hi {
            let mut wk = [splat(0.0); KMAX];
            for kk in 0..k {
                wk[kk] = f32x4(
                    *weight.add(c0 * k + kk),
                    *weight.add((c0 + 1) * k + kk),
                    *weight.add((c0 + 2) * k + kk),
                    *weight.add((c0 + 3) * k + kk),
                );
            }
            let bv = if bias.is_null() { splat(0.0) } else { ld(bias.add(c0)) };
            // the first K-1 tokens read the carried window
            let head = if w < t { w } else { t };
            for tt in 0..head {
                let mut acc = bv;
                for kk in 0..k {
                    let s = tt as isize - w as isize + kk as isize;
                    let v = if s >= 0 {
                        ld(x.add(s as usize * nc + c0))
                    } else {
                        let wi = (w as isize + s) as usize;
                        f32x4(
                            *window.add(c0 * w + wi),
                            *window.add((c0 + 1) * w + wi),
                            *window.add((c0 + 2) * w + wi),
                            *window.add((c0 + 3) * w + wi),
                        )
                    };
                    acc = madd(acc, wk[kk], v);
                }
                st(y.add(tt * nc + c0), silu_v(acc));
            }
            // the rest reads x only
            for tt in head..t {
                let mut acc = bv;
                let xs = x.add((tt - w) * nc + c0);
                for kk in 0..k {
                    acc = madd(acc, wk[kk], ld(xs.add(kk * nc)));
                }
                st(y.add(tt * nc + c0), silu_v(acc));
            }
            for ch in c0..c0 + 4 {
                update_window(x, t, nc, w, window, ch);
            }
            c0 += 4;
        }
    }
    for ch in c0..c_hi {
        for tt in 0..t {
            let mut acc = if bias.is_null() { 0.0 } else { *bias.add(ch) };
            for kk in 0..k {
                let s = tt as isize - w as isize + kk as isize;
                acc += *weight.add(ch * k + kk) * input(x, window, nc, w, s, ch);
            }
            *y.add(tt * nc + ch) = silu1(acc);
        }
        update_window(x, t, nc, w, window, ch);
    }
}
