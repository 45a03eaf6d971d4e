//! Elementwise ops. softplus follows the kernels: v > 20 ? v : log1p(exp(v)).

use crate::simd::*;

/// dt: [T, H] <- clamp(softplus(dt + bias[h]), lo, hi), in place.
#[no_mangle]
pub unsafe extern "C" fn ss_dt_softplus(dt: *mut f32, t: usize, h: usize, bias: *const f32, lo: f32, hi: f32) {
    let (lv, hv) = (splat(lo), splat(hi));
    for tt in 0..t {
        let r = dt.add(tt * h);
        let mut i = 0;
        while i + 4 <= h {
            let v = softplus_v(add(ld(r.add(i)), ld(bias.add(i))));
            st(r.add(i), f32x4_min(hv, f32x4_max(lv, v)));
            i += 4;
        }
        while i < h {
            let v = softplus1(*r.add(i) + *bias.add(i));
            *r.add(i) = if v < lo { lo } else if v > hi { hi } else { v };
            i += 1;
        }
    }
}

/// y[i] <- y[i] * silu(z[i]).
#[no_mangle]
pub unsafe extern "C" fn ss_silu_gate(y: *mut f32, z: *const f32, n: usize) {
    let mut i = 0;
    while i + 4 <= n {
        st(y.add(i), mul(ld(y.add(i)), silu_v(ld(z.add(i)))));
        i += 4;
    }
    while i < n {
        *y.add(i) *= silu1(*z.add(i));
        i += 1;
    }
}

/// a[i] <- a[i] + b[i].
#[no_mangle]
pub unsafe extern "C" fn ss_add(a: *mut f32, b: *const f32, n: usize) {
    let mut i = 0;
    while i + 4 <= n {
        st(a.add(i), add(ld(a.add(i)), ld(b.add(i))));
        i += 4;
    }
    while i < n {
        *a.add(i) += *b.add(i);
        i += 1;
    }
}
