//! RMSNorm and gated RMSNorm (mamba_ssm RMSNormGated), row by row.
//! x, y, z: [T, D]; weight: [D]; groups of `gs` consecutive channels are normalised separately.

use crate::simd::*;

/// Σ v² over n values (four vector accumulators).
#[inline(always)]
unsafe fn sumsq(v: *const f32, n: usize) -> f32 {
    let mut a = [splat(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for j in 0..4 {
            let x = ld(v.add(i + 4 * j));
            a[j] = madd(a[j], x, x);
        }
        i += 16;
    }
    while i + 4 <= n {
        let x = ld(v.add(i));
        a[0] = madd(a[0], x, x);
        i += 4;
    }
    let mut s = hsum(add(add(a[0], a[1]), add(a[2], a[3])));
    while i < n {
        s += *v.add(i) * *v.add(i);
        i += 1;
    }
    s
}

#[inline(always)]
fn inv_rms(ss: f32, n: usize, eps: f32) -> f32 {
    let m = f32x4_splat(ss / n as f32 + eps);
    lane0(f32x4_div(f32x4_splat(1.0), f32x4_sqrt(m)))
}

/// y[t] = x[t] * rsqrt(mean(x[t]²) + eps) * weight.
#[no_mangle]
pub unsafe extern "C" fn ss_rmsnorm(x: *const f32, t: usize, d: usize, weight: *const f32, eps: f32, y: *mut f32) {
    for tt in 0..t {
        let xr = x.add(tt * d);
        let yr = y.add(tt * d);
        let r = inv_rms(sumsq(xr, d), d, eps);
        let rv = splat(r);
        let mut i = 0;
        while i + 4 <= d {
            st(yr.add(i), mul(mul(ld(xr.add(i)), rv), ld(weight.add(i))));
            i += 4;
        }
        while i < d {
            *yr.add(i) = *xr.add(i) * r * *weight.add(i);
            i += 1;
        }
    }
}

/// Gated RMSNorm: nbg ? rmsnorm(y) * silu(z) : rmsnorm(y * silu(z)), per group of gs channels.
#[no_mangle]
pub unsafe extern "C" fn ss_gated_rmsnorm(
    y: *const f32, z: *const f32, t: usize, d: usize, gs: usize, weight: *const f32, eps: f32, nbg: u32,
    out: *mut f32,
) {
    for tt in 0..t {
        let mut g0 = 0;
        while g0 < d {
            let yr = y.add(tt * d + g0);
            let zr = z.add(tt * d + g0);
            let o = out.add(tt * d + g0);
            let wr = weight.add(g0);
            if nbg == 0 {
                // v = y * silu(z) written to out, then normalised in place
                let mut i = 0;
                while i + 4 <= gs {
                    st(o.add(i), mul(ld(yr.add(i)), silu_v(ld(zr.add(i)))));
                    i += 4;
                }
                while i < gs {
                    *o.add(i) = *yr.add(i) * silu1(*zr.add(i));
                    i += 1;
                }
                let r = inv_rms(sumsq(o, gs), gs, eps);
                let rv = splat(r);
                let mut i = 0;
                while i + 4 <= gs {
                    st(o.add(i), mul(mul(ld(o.add(i)), rv), ld(wr.add(i))));
                    i += 4;
                }
                while i < gs {
                    *o.add(i) = *o.add(i) * r * *wr.add(i);
                    i += 1;
                }
            } else {
                let r = inv_rms(sumsq(yr, gs), gs, eps);
                let rv = splat(r);
                let mut i = 0;
                while i + 4 <= gs {
                    let v = mul(mul(ld(yr.add(i)), rv), ld(wr.add(i)));
                    st(o.add(i), mul(v, silu_v(ld(zr.add(i)))));
                    i += 4;
                }
                while i < gs {
                    *o.add(i) = *yr.add(i) * r * *wr.add(i) * silu1(*zr.add(i));
                    i += 1;
                }
            }
            g0 += gs;
        }
    }
}
