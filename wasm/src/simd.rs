//! SIMD128 helpers: loads/stores, horizontal sums and vector transcendental functions.
//!
//! `exp_v` is the Cephes single-precision exp (range reduction by ln 2 in two parts and a degree-5
//! polynomial), relative error about 2e-7; inputs below EXP_CUTOFF (-63) give exactly 0, so that
//! decays never produce subnormals (slow on x86, where wasm cannot set flush-to-zero). `log_v` is the Cephes logf polynomial.
//! Scalar versions run the vector code on lane 0, so scalar tails round exactly like vector bodies.

pub use core::arch::wasm32::*;

#[inline(always)]
pub unsafe fn ld(p: *const f32) -> v128 {
    v128_load(p as *const v128)
}

#[inline(always)]
pub unsafe fn st(p: *mut f32, v: v128) {
    v128_store(p as *mut v128, v)
}

#[inline(always)]
pub fn splat(v: f32) -> v128 {
    f32x4_splat(v)
}

#[inline(always)]
pub fn add(a: v128, b: v128) -> v128 {
    f32x4_add(a, b)
}

#[inline(always)]
pub fn mul(a: v128, b: v128) -> v128 {
    f32x4_mul(a, b)
}

/// a + b * c (two instructions: wasm SIMD128 has no fused multiply-add).
#[inline(always)]
pub fn madd(a: v128, b: v128, c: v128) -> v128 {
    f32x4_add(a, f32x4_mul(b, c))
}

#[inline(always)]
pub fn hsum(v: v128) -> f32 {
    // (l0 + l2) + (l1 + l3)
    let s = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let s = f32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
    f32x4_extract_lane::<0>(s)
}

#[inline(always)]
pub fn lane0(v: v128) -> f32 {
    f32x4_extract_lane::<0>(v)
}

/// Below this exp returns exactly 0 (e^-63 = 4.3e-28). Decay factors smaller than that are
/// negligible next to the token's own term, and keeping them would let products such as
/// decay * dt * x fall into the float32 subnormal range, which runs 5-10x slower on x86.
pub const EXP_CUTOFF: f32 = -63.0;

/// e^x for each lane; x < EXP_CUTOFF gives 0, x is clamped at 88 (e^88 = 1.65e38, no inf).
#[inline(always)]
pub fn exp_v(x: v128) -> v128 {
    let tiny = f32x4_lt(x, f32x4_splat(EXP_CUTOFF));
    // pmin / pmax are single minps / maxps in V8 (min / max need NaN fix-ups: several instructions)
    let x = f32x4_pmin(x, f32x4_splat(88.0));
    let x = f32x4_pmax(x, f32x4_splat(-87.0));
    // n = round(x log2 e) in [-126, 127] by the magic-number trick: adding 1.5 * 2^23 + 127 rounds
    // to an integer whose low bits are n + 127, so `t << 23` is 2^n (no float->int conversion,
    // which takes several x64 instructions in V8)
    let magic = f32x4_splat(12_582_912.0 + 127.0);
    let t = madd(magic, x, f32x4_splat(core::f32::consts::LOG2_E));
    let fx = f32x4_sub(t, magic);
    let x = f32x4_sub(x, mul(fx, f32x4_splat(0.693_359_375)));
    let x = f32x4_sub(x, mul(fx, f32x4_splat(-2.121_944_4e-4)));
    let z = mul(x, x);
    let mut y = f32x4_splat(1.987_569_1e-4);
    y = madd(f32x4_splat(1.398_199_9e-3), y, x);
    y = madd(f32x4_splat(8.333_452e-3), y, x);
    y = madd(f32x4_splat(4.166_579_6e-2), y, x);
    y = madd(f32x4_splat(1.666_666_5e-1), y, x);
    y = madd(f32x4_splat(5.000_000_1e-1), y, x);
    y = add(madd(x, y, z), f32x4_splat(1.0));
    let pow = i32x4_shl(t, 23);
    v128_andnot(mul(y, pow), tiny)
}

#[inline(always)]
pub fn exp1(x: f32) -> f32 {
    lane0(exp_v(f32x4_splat(x)))
}

/// Natural log for positive normal lanes (Cephes logf).
#[inline(always)]
pub fn log_v(x: v128) -> v128 {
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2))
    let bits = x;
    let e = i32x4_sub(u32x4_shr(bits, 23), i32x4_splat(127));
    let m = v128_or(v128_and(bits, i32x4_splat(0x007f_ffff)), i32x4_splat(0x3f80_0000)); // [1, 2)
    let big = f32x4_gt(m, f32x4_splat(core::f32::consts::SQRT_2));
    // if m > sqrt2: m /= 2, e += 1
    let m = v128_bitselect(mul(m, f32x4_splat(0.5)), m, big);
    let e = i32x4_sub(e, big); // big lanes are -1
    let ef = f32x4_convert_i32x4(e);
    let x = f32x4_sub(m, f32x4_splat(1.0));
    let z = mul(x, x);
    let mut y = f32x4_splat(7.037_683_6e-2);
    y = madd(f32x4_splat(-1.151_461e-1), y, x);
    y = madd(f32x4_splat(1.167_699_9e-1), y, x);
    y = madd(f32x4_splat(-1.242_014_1e-1), y, x);
    y = madd(f32x4_splat(1.424_932_3e-1), y, x);
    y = madd(f32x4_splat(-1.666_805_8e-1), y, x);
    y = madd(f32x4_splat(2.000_071_4e-1), y, x);
    y = madd(f32x4_splat(-2.499_999_4e-1), y, x);
    y = madd(f32x4_splat(3.333_333e-1), y, x);
    y = mul(mul(y, x), z);
    y = madd(y, ef, f32x4_splat(-2.121_944_4e-4));
    y = f32x4_sub(y, mul(z, f32x4_splat(0.5)));
    let r = add(x, y);
    madd(r, ef, f32x4_splat(0.693_359_375))
}

/// softplus(v) = v > 20 ? v : log1p(exp(v)), with log1p(u) = log(1+u) - ((1+u) - 1 - u) / (1+u).
#[inline(always)]
pub fn softplus_v(v: v128) -> v128 {
    let e = exp_v(f32x4_pmin(v, f32x4_splat(20.0)));
    let u = add(e, f32x4_splat(1.0));
    let corr = f32x4_div(f32x4_sub(f32x4_sub(u, f32x4_splat(1.0)), e), u);
    let l = f32x4_sub(log_v(u), corr);
    v128_bitselect(v, l, f32x4_gt(v, f32x4_splat(20.0)))
}

/// silu(v) = v / (1 + e^-v).
#[inline(always)]
pub fn silu_v(v: v128) -> v128 {
    let e = exp_v(f32x4_neg(v));
    f32x4_div(v, add(f32x4_splat(1.0), e))
}

#[inline(always)]
pub fn silu1(v: f32) -> f32 {
    lane0(silu_v(f32x4_splat(v)))
}

#[inline(always)]
pub fn softplus1(v: f32) -> f32 {
    lane0(softplus_v(f32x4_splat(v)))
}

/// Debug/test exports: apply the vector functions to n values (used by the unit tests).
#[no_mangle]
pub unsafe extern "C" fn ss_vexp(x: *const f32, out: *mut f32, n: usize) {
    map(x, out, n, exp_v)
}

#[no_mangle]
pub unsafe extern "C" fn ss_vlog(x: *const f32, out: *mut f32, n: usize) {
    map(x, out, n, log_v)
}

#[no_mangle]
pub unsafe extern "C" fn ss_vsoftplus(x: *const f32, out: *mut f32, n: usize) {
    map(x, out, n, softplus_v)
}

#[no_mangle]
pub unsafe extern "C" fn ss_vsilu(x: *const f32, out: *mut f32, n: usize) {
    map(x, out, n, silu_v)
}

#[inline(always)]
pub unsafe fn map(x: *const f32, out: *mut f32, n: usize, f: impl Fn(v128) -> v128) {
    let mut i = 0;
    while i + 4 <= n {
        st(out.add(i), f(ld(x.add(i))));
        i += 4;
    }
    while i < n {
        *out.add(i) = lane0(f(f32x4_splat(*x.add(i))));
        i += 1;
    }
}
