//! y[T, rows] = x[T, cols] · Wᵀ with W resident in a packed, SIMD-friendly layout, plus the
//! embedding lookup (a row of the same W) and the packing (one-time layout conversion at upload).
//!
//! Layouts. Rows are packed in groups of 4 (one SIMD lane per row; the last group is zero-padded),
//! so the kernels need no horizontal sums and the output of a group is one v128 store.
//! With G = ceil(rows / 4):
//! - f32:  [G][cols][4] f32.
//! - f16 / bf16: [G][ceil(cols/2)][4][2] u16 (lane j holds rows 4g+j at columns 2k, 2k+1), so one
//!   i32 lane converts with a shift (low half) or a mask (high half). bf16 = top 16 bits of f32;
//!   f16 is IEEE binary16 (converted exactly: sign | exponent/mantissa << 13, times 2^112).
//! - int8: ggml Q8_0-style blocks of 32 columns, scale = max|w| / 127 (kernels/quant.ts):
//!   q: [G][nb][16][4][2] i8 then scales: [G][nb][4] f32 (nb = ceil(cols/32)). The activations
//!   are quantized per token and block of 32 to int16 (scale = max|x| / 32767, relative error
//!   <= 2^-16 of the block maximum) and the blocks are summed with i32x4.dot_i16x8_s.
//!
//! Tiling. A kernel call computes the row groups [g_lo, g_hi) for all T tokens; threads split the
//! groups. Inside, tiles of TT tokens x RG row groups keep TT*RG accumulators in registers and
//! reuse each loaded weight vector TT times (prefill) — the weight tile stays in cache while all
//! token tiles pass over it.

use crate::simd::*;

const KB: usize = 32; // int8 block

#[inline(always)]
unsafe fn store_group(y: *mut f32, r: usize, rows: usize, v: v128) {
    if r + 4 <= rows {
        v128_store(y.add(r) as *mut v128, v);
    } else {
        let a: [f32; 4] = core::mem::transmute(v);
        let mut j = 0;
        while r + j < rows {
            *y.add(r + j) = a[j];
            j += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// f32

/// TT tokens x RG groups over all columns. `w` points at group g0, groups are `gs` floats apart.
#[inline(always)]
unsafe fn tile_f32<const TT: usize, const RG: usize>(
    x: *const f32, xs: usize, w: *const f32, gs: usize, cols: usize, y: *mut f32, ys: usize, r0: usize, rows: usize,
) {
    let mut acc = [[f32x4_splat(0.0); RG]; TT];
    let mut k = 0;
    while k < cols {
        let mut wv = [f32x4_splat(0.0); RG];
        for g in 0..RG {
            wv[g] = ld(w.add(g * gs + k * 4));
        }
        for t in 0..TT {
            let xv = v128_load32_splat(x.add(t * xs + k) as *const u32);
            for g in 0..RG {
                acc[t][g] = madd(acc[t][g], xv, wv[g]);
            }
        }
        k += 1;
    }
    for t in 0..TT {
        for g in 0..RG {
            store_group(y.add(t * ys), r0 + 4 * g, rows, acc[t][g]);
        }
    }
}

#[inline(always)]
unsafe fn run_f32<const TT: usize, const RG: usize>(
    x: *const f32, t_lo: usize, t_hi: usize, cols: usize, wg: *const f32, rows: usize, y: *mut f32, g: usize,
) {
    let gs = cols * 4;
    let mut t = t_lo;
    while t + TT <= t_hi {
        tile_f32::<TT, RG>(x.add(t * cols), cols, wg, gs, cols, y.add(t * rows), rows, 4 * g, rows);
        t += TT;
    }
    while t < t_hi {
        tile_f32::<1, RG>(x.add(t * cols), cols, wg, gs, cols, y.add(t * rows), rows, 4 * g, rows);
        t += 1;
    }
}

/// f32 weights: y[t, 4g..4g+4] for groups g in [g_lo, g_hi). x: [T, cols], y: [T, rows].
#[no_mangle]
pub unsafe extern "C" fn ss_matmul_f32(
    x: *const f32, t: usize, w: *const f32, rows: usize, cols: usize, y: *mut f32, g_lo: usize, g_hi: usize,
) {
    let mut g = g_lo;
    if t == 1 {
        while g + 4 <= g_hi {
            tile_f32::<1, 4>(x, cols, w.add(g * cols * 4), cols * 4, cols, y, rows, 4 * g, rows);
            g += 4;
        }
        while g < g_hi {
            tile_f32::<1, 1>(x, cols, w.add(g * cols * 4), cols * 4, cols, y, rows, 4 * g, rows);
            g += 1;
        }
        return;
    }
    while g + 2 <= g_hi {
        run_f32::<4, 2>(x, 0, t, cols, w.add(g * cols * 4), rows, y, g);
        g += 2;
    }
    while g < g_hi {
        run_f32::<4, 1>(x, 0, t, cols, w.add(g * cols * 4), rows, y, g);
        g += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// f16 / bf16

/// Converts the 8 halves of one v128 (lane j = rows 4g+j at columns 2k, 2k+1) to two f32x4.
#[inline(always)]
fn cvt_b16<const F16: bool>(v: v128) -> (v128, v128) {
    if F16 {
        // high half: shr_s 3 puts exponent|mantissa at bits 27..13 and copies the sign into 31..28;
        // the mask keeps the sign (bit 31) and bits 27..13; times 2^112 rebiases the exponent.
        let m = u32x4_splat(0x8fff_e000);
        let k = f32x4_splat(5.192_297e33); // 2^112
        let hi = f32x4_mul(v128_and(i32x4_shr(v, 3), m), k);
        let lo = f32x4_mul(v128_and(i32x4_shr(i32x4_shl(v, 16), 3), m), k);
        (lo, hi)
    } else {
        (i32x4_shl(v, 16), v128_and(v, u32x4_splat(0xffff_0000)))
    }
}

#[inline(always)]
unsafe fn tile_b16<const TT: usize, const RG: usize, const F16: bool>(
    x: *const f32, xs: usize, w: *const u16, gs: usize, cols: usize, y: *mut f32, ys: usize, r0: usize, rows: usize,
) {
    let mut acc = [[f32x4_splat(0.0); RG]; TT];
    let pairs = cols / 2;
    let mut kp = 0;
    while kp < pairs {
        let mut lo = [f32x4_splat(0.0); RG];
        let mut hi = [f32x4_splat(0.0); RG];
        for g in 0..RG {
            let (a, b) = cvt_b16::<F16>(v128_load(w.add(g * gs + kp * 8) as *const v128));
            lo[g] = a;
            hi[g] = b;
        }
        for t in 0..TT {
            let x0 = v128_load32_splat(x.add(t * xs + 2 * kp) as *const u32);
            let x1 = v128_load32_splat(x.add(t * xs + 2 * kp + 1) as *const u32);
            for g in 0..RG {
                acc[t][g] = madd(madd(acc[t][g], x0, lo[g]), x1, hi[g]);
            }
        }
        kp += 1;
    }
    if cols & 1 == 1 {
        for g in 0..RG {
            let (a, _) = cvt_b16::<F16>(v128_load(w.add(g * gs + pairs * 8) as *const v128));
            for t in 0..TT {
                let x0 = v128_load32_splat(x.add(t * xs + 2 * pairs) as *const u32);
                acc[t][g] = madd(acc[t][g], x0, a);
            }
        }
    }
    for t in 0..TT {
        for g in 0..RG {
            store_group(y.add(t * ys), r0 + 4 * g, rows, acc[t][g]);
        }
    }
}

/// Decodes `ng` packed f16/bf16 groups into the f32 layout [ng][cols][4].
#[inline(always)]
unsafe fn unpack_b16<const F16: bool>(w: *const u16, gs: usize, ng: usize, cols: usize, out: *mut f32) {
    for g in 0..ng {
        let src = w.add(g * gs);
        let dst = out.add(g * cols * 4);
        let pairs = cols / 2;
        for kp in 0..pairs {
            let (a, b) = cvt_b16::<F16>(v128_load(src.add(kp * 8) as *const v128));
            st(dst.add(kp * 8), a);
            st(dst.add(kp * 8 + 4), b);
        }
        if cols & 1 == 1 {
            let (a, _) = cvt_b16::<F16>(v128_load(src.add(pairs * 8) as *const v128));
            st(dst.add(pairs * 8), a);
        }
    }
}

unsafe fn matmul_b16<const F16: bool>(
    x: *const f32, t: usize, w: *const u16, rows: usize, cols: usize, y: *mut f32, g_lo: usize, g_hi: usize,
    scratch: *mut f32,
) {
    let gs = (cols + 1) / 2 * 8; // u16 per group
    let mut g = g_lo;
    if t < 6 || scratch.is_null() {
        // fused convert (decode): each weight is converted once per token tile
        if t == 1 {
            while g + 4 <= g_hi {
                tile_b16::<1, 4, F16>(x, cols, w.add(g * gs), gs, cols, y, rows, 4 * g, rows);
                g += 4;
            }
            while g < g_hi {
                tile_b16::<1, 1, F16>(x, cols, w.add(g * gs), gs, cols, y, rows, 4 * g, rows);
                g += 1;
            }
            return;
        }
        while g + 2 <= g_hi {
            let mut tt = 0;
            while tt + 3 <= t {
                tile_b16::<3, 2, F16>(x.add(tt * cols), cols, w.add(g * gs), gs, cols, y.add(tt * rows), rows, 4 * g, rows);
                tt += 3;
            }
            while tt < t {
                tile_b16::<1, 2, F16>(x.add(tt * cols), cols, w.add(g * gs), gs, cols, y.add(tt * rows), rows, 4 * g, rows);
                tt += 1;
            }
            g += 2;
        }
        while g < g_hi {
            for tt in 0..t {
                tile_b16::<1, 1, F16>(x.add(tt * cols), cols, w.add(g * gs), gs, cols, y.add(tt * rows), rows, 4 * g, rows);
            }
            g += 1;
        }
        return;
    }
    // prefill: decode 2 groups into f32 scratch [2][cols][4], then the f32 tiles over all tokens
    while g < g_hi {
        let ng = if g + 2 <= g_hi { 2 } else { g_hi - g };
        unpack_b16::<F16>(w.add(g * gs), gs, ng, cols, scratch);
        if ng == 2 {
            run_f32::<4, 2>(x, 0, t, cols, scratch, rows, y, g);
        } else {
            for j in 0..ng {
                run_f32::<4, 1>(x, 0, t, cols, scratch.add(j * cols * 4), rows, y, g + j);
            }
        }
        g += ng;
    }
}

/// f16 / bf16 weights (`is_f16` = 1 for IEEE half). `scratch` (2 * cols * 16 bytes, per thread)
/// enables the prefill path that decodes a weight tile once for all tokens; 0 = fused only.
#[no_mangle]
pub unsafe extern "C" fn ss_matmul_b16(
    x: *const f32, t: usize, w: *const u16, rows: usize, cols: usize, y: *mut f32, g_lo: usize, g_hi: usize,
    is_f16: u32, scratch: *mut f32,
) {
    if is_f16 != 0 {
        matmul_b16::<true>(x, t, w, rows, cols, y, g_lo, g_hi, scratch)
    } else {
        matmul_b16::<false>(x, t, w, rows, cols, y, g_lo, g_hi, scratch)
    }
}

// ---------------------------------------------------------------------------------------------
// int8

/// Quantizes x: [T, cols] to int16 blocks of 32: xq: [T, nb*32] (zero padded), xs: [T, nb].
#[no_mangle]
pub unsafe extern "C" fn ss_quantize_x16(x: *const f32, t: usize, cols: usize, xq: *mut i16, xs: *mut f32) {
    let nb = (cols + KB - 1) / KB;
    let mut buf = [0f32; KB];
    for tt in 0..t {
        let xr = x.add(tt * cols);
        for b in 0..nb {
            let c0 = b * KB;
            let n = if c0 + KB <= cols { KB } else { cols - c0 };
            for i in 0..KB {
                buf[i] = if i < n { *xr.add(c0 + i) } else { 0.0 };
            }
            let mut m = f32x4_splat(0.0);
            for i in (0..KB).step_by(4) {
                m = f32x4_pmax(m, f32x4_abs(ld(buf.as_ptr().add(i))));
            }
            let m = f32x4_pmax(m, i32x4_shuffle::<2, 3, 0, 1>(m, m));
            let m = f32x4_pmax(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
            let amax = lane0(m);
            let scale = amax / 32767.0;
            *xs.add(tt * nb + b) = scale;
            let inv = f32x4_splat(if scale == 0.0 { 0.0 } else { 1.0 / scale });
            let dst = xq.add(tt * nb * KB + c0);
            for i in (0..KB).step_by(8) {
                let a = i32x4_trunc_sat_f32x4(f32x4_nearest(mul(ld(buf.as_ptr().add(i)), inv)));
                let b2 = i32x4_trunc_sat_f32x4(f32x4_nearest(mul(ld(buf.as_ptr().add(i + 4)), inv)));
                v128_store(dst.add(i) as *mut v128, i16x8_narrow_i32x4(a, b2));
            }
        }
    }
}

/// TT tokens x RG groups, one int8 block at a time; block results are scaled and added into y.
#[inline(always)]
unsafe fn tile_i8<const TT: usize, const RG: usize>(
    xq: *const i16, xsc: *const f32, nb: usize, wq: *const i8, wsc: *const f32, y: *mut f32, ys: usize,
    r0: usize, rows: usize,
) {
    let mut acc = [[f32x4_splat(0.0); RG]; TT];
    for b in 0..nb {
        let mut iacc = [[i32x4_splat(0); RG]; TT];
        let mut p = 0;
        while p < 8 {
            let mut wl = [i32x4_splat(0); RG];
            let mut wh = [i32x4_splat(0); RG];
            for g in 0..RG {
                let v = v128_load(wq.add((g * nb + b) * 128 + p * 16) as *const v128);
                wl[g] = i16x8_extend_low_i8x16(v);
                wh[g] = i16x8_extend_high_i8x16(v);
            }
            for t in 0..TT {
                let xp = xq.add(t * nb * KB + b * KB + p * 4);
                let xa = v128_load32_splat(xp as *const u32);
                let xb = v128_load32_splat(xp.add(2) as *const u32);
                for g in 0..RG {
                    iacc[t][g] = i32x4_add(iacc[t][g], i32x4_add(i32x4_dot_i16x8(wl[g], xa), i32x4_dot_i16x8(wh[g], xb)));
                }
            }
            p += 1;
        }
        for g in 0..RG {
            let s = ld(wsc.add((g * nb + b) * 4));
            for t in 0..TT {
                let sx = f32x4_splat(*xsc.add(t * nb + b));
                acc[t][g] = madd(acc[t][g], f32x4_convert_i32x4(iacc[t][g]), mul(s, sx));
            }
        }
    }
    for t in 0..TT {
        for g in 0..RG {
            store_group(y.add(t * ys), r0 + 4 * g, rows, acc[t][g]);
        }
    }
}

/// int8 weights (q then scales, see the module doc) times int16-quantized x (ss_quantize_x16).
#[no_mangle]
pub unsafe extern "C" fn ss_matmul_i8(
    xq: *const i16, xsc: *const f32, t: usize, w: *const i8, rows: usize, cols: usize, y: *mut f32, g_lo: usize,
    g_hi: usize,
) {
    let nb = (cols + KB - 1) / KB;
    let ngroups = (rows + 3) / 4;
    let wsc = w.add(ngroups * nb * 128) as *const f32;
    let mut g = g_lo;
    if t == 1 {
        // one row group per tile: each group's blocks are one contiguous stream. Decode streams the
        // weights from DRAM, and there this beat 4 groups per tile (4 streams) by 18-19% in whole-model
        // int8 decode (ABBA, 1 and 2 threads; wasm/README.md); f32 is the other way round (-20%).
        while g < g_hi {
            tile_i8::<1, 1>(xq, xsc, nb, w.add(g * nb * 128), wsc.add(g * nb * 4), y, rows, 4 * g, rows);
            g += 1;
        }
        return;
    }
    while g < g_hi {
        let two = g + 2 <= g_hi;
        let mut tt = 0;
        while tt + 2 <= t {
            let xo = xq.add(tt * nb * KB);
            let so = xsc.add(tt * nb);
            if two {
                tile_i8::<2, 2>(xo, so, nb, w.add(g * nb * 128), wsc.add(g * nb * 4), y.add(tt * rows), rows, 4 * g, rows);
            } else {
                tile_i8::<2, 1>(xo, so, nb, w.add(g * nb * 128), wsc.add(g * nb * 4), y.add(tt * rows), rows, 4 * g, rows);
            }
            tt += 2;
        }
        while tt < t {
            let xo = xq.add(tt * nb * KB);
            let so = xsc.add(tt * nb);
            if two {
                tile_i8::<1, 2>(xo, so, nb, w.add(g * nb * 128), wsc.add(g * nb * 4), y.add(tt * rows), rows, 4 * g, rows);
            } else {
                tile_i8::<1, 1>(xo, so, nb, w.add(g * nb * 128), wsc.add(g * nb * 4), y.add(tt * rows), rows, 4 * g, rows);
            }
            tt += 1;
        }
        g += if two { 2 } else { 1 };
    }
}

// ---------------------------------------------------------------------------------------------
// packing (upload) and embedding rows

/// Bytes of the packed matrix for `dtype` (0 f32, 1 f16, 2 bf16, 3 int8).
#[no_mangle]
pub extern "C" fn ss_packed_bytes(dtype: u32, rows: usize, cols: usize) -> usize {
    let g = (rows + 3) / 4;
    match dtype {
        0 => g * cols * 16,
        1 | 2 => g * ((cols + 1) / 2) * 16,
        _ => g * ((cols + KB - 1) / KB) * 144,
    }
}

/// Packs rows [row0, row0+n) of an f32 matrix (src: [n, cols]); row0 % 4 == 0. Lanes past `n`
/// are zero (only the last chunk of a matrix may end inside a group). `round` = 1 stores each
/// value rounded to f16 (the layout for f16 matrices holding values that round to ±inf / NaN,
/// which the fast f16 decode does not represent), 2 rounded to bf16, 0 as is.
#[no_mangle]
pub unsafe extern "C" fn ss_pack_f32(dst: *mut f32, src: *const f32, row0: usize, n: usize, cols: usize, round: u32) {
    let ng = (n + 3) / 4;
    for gi in 0..ng {
        let out = dst.add((row0 / 4 + gi) * cols * 4);
        for c in 0..cols {
            for j in 0..4 {
                let r = gi * 4 + j;
                let v = if r < n { *src.add(r * cols + c) } else { 0.0 };
                *out.add(c * 4 + j) = match round {
                    1 => f16_bits_to_f32(to_f16(v)),
                    2 => f32::from_bits((to_bf16(v) as u32) << 16),
                    _ => v,
                };
            }
        }
    }
}

/// Exact IEEE half -> float32 (subnormals, ±inf and NaN included).
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    if exp == 0x1f {
        return f32::from_bits(sign | 0x7f80_0000 | (mant << 13));
    }
    f16_to_f32(h & 0x7fff) * if sign != 0 { -1.0 } else { 1.0 }
}

/// Number of values of src[0..n] that round to ±inf or NaN in f16.
#[no_mangle]
pub unsafe extern "C" fn ss_f16_specials(src: *const f32, n: usize) -> usize {
    let mut k = 0;
    for i in 0..n {
        if (to_f16(*src.add(i)) & 0x7c00) == 0x7c00 {
            k += 1;
        }
    }
    k
}

/// float32 -> bf16 bits, round to nearest even (kernels/quant.ts toBf16Bits).
#[inline(always)]
pub fn to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    if (b & 0x7fff_ffff) > 0x7f80_0000 {
        return ((b >> 16) | 0x40) as u16;
    }
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// float32 -> IEEE half bits, round to nearest even, overflow to inf, subnormals kept
/// (kernels/quant.ts toF16Bits).
#[inline(always)]
pub fn to_f16(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = (x >> 16) & 0x8000;
    let exp = ((x >> 23) & 0xff) as i32;
    let mut mant = x & 0x7f_ffff;
    if exp == 0xff {
        return (sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 }) as u16;
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return (sign | 0x7c00) as u16;
    }
    if e <= 0 {
        if e < -10 {
            return sign as u16;
        }
        mant |= 0x80_0000;
        let shift = (14 - e) as u32;
        let mut half = mant >> shift;
        let rem = mant & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        if rem > mid || (rem == mid && (half & 1) != 0) {
            half += 1;
        }
        return (sign | half) as u16;
    }
    let mut half = ((e as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0) {
        half += 1;
    }
    (sign | half) as u16
}

/// Packs rows [row0, row0+n) to f16 (`is_f16` = 1) or bf16, rounding each value to nearest even.
#[no_mangle]
pub unsafe extern "C" fn ss_pack_b16(dst: *mut u16, src: *const f32, row0: usize, n: usize, cols: usize, is_f16: u32) {
    let pairs = (cols + 1) / 2;
    let ng = (n + 3) / 4;
    for gi in 0..ng {
        let out = dst.add((row0 / 4 + gi) * pairs * 8);
        for kp in 0..pairs {
            for j in 0..4 {
                let r = gi * 4 + j;
                for h in 0..2 {
                    let c = 2 * kp + h;
                    let v = if r < n && c < cols { *src.add(r * cols + c) } else { 0.0 };
                    *out.add(kp * 8 + j * 2 + h) = if is_f16 != 0 { to_f16(v) } else { to_bf16(v) };
                }
            }
        }
    }
}

/// Packs rows [row0, row0+n) of an int8 matrix quantized by kernels/quant.ts (q: [n, cols],
/// scales: [n, nb]) into the blocked layout; `rows` is the matrix's total row count.
#[no_mangle]
pub unsafe extern "C" fn ss_pack_i8(
    dst: *mut i8, q: *const i8, scales: *const f32, row0: usize, n: usize, rows: usize, cols: usize,
) {
    let nb = (cols + KB - 1) / KB;
    let ngroups = (rows + 3) / 4;
    let dsc = dst.add(ngroups * nb * 128) as *mut f32;
    let ng = (n + 3) / 4;
    for gi in 0..ng {
        let g = row0 / 4 + gi;
        for b in 0..nb {
            let out = dst.add((g * nb + b) * 128);
            for p in 0..16 {
                for j in 0..4 {
                    let r = gi * 4 + j;
                    for h in 0..2 {
                        let c = b * KB + 2 * p + h;
                        *out.add(p * 8 + j * 2 + h) = if r < n && c < cols { *q.add(r * cols + c) } else { 0 };
                    }
                }
            }
            for j in 0..4 {
                let r = gi * 4 + j;
                *dsc.add((g * nb + b) * 4 + j) = if r < n { *scales.add(r * nb + b) } else { 0.0 };
            }
        }
    }
}

#[inline(always)]
fn f16_to_f32(h: u16) -> f32 {
    let v = ((h as u32) << 16) as i32;
    let bits = ((v >> 3) as u32) & 0x8fff_e000;
    f32::from_bits(bits) * 5.192_297e33
}

/// out[t, :] = W[ids[t], :] for a packed matrix (dtype as in ss_packed_bytes). Returns the index
/// of the first id outside [0, rows), or -1 when all are valid (rows of bad ids are not written).
#[no_mangle]
pub unsafe extern "C" fn ss_embed(
    dtype: u32, w: *const u8, rows: usize, cols: usize, ids: *const i32, t: usize, out: *mut f32,
) -> i32 {
    let pairs = (cols + 1) / 2;
    let nb = (cols + KB - 1) / KB;
    let ngroups = (rows + 3) / 4;
    for tt in 0..t {
        let id = *ids.add(tt);
        if id < 0 || id as usize >= rows {
            return tt as i32;
        }
        let (g, j) = (id as usize / 4, id as usize % 4);
        let o = out.add(tt * cols);
        match dtype {
            0 => {
                let src = (w as *const f32).add(g * cols * 4 + j);
                for c in 0..cols {
                    *o.add(c) = *src.add(c * 4);
                }
            }
            1 | 2 => {
                let src = (w as *const u16).add(g * pairs * 8 + j * 2);
                for c in 0..cols {
                    let h = *src.add((c / 2) * 8 + (c & 1));
                    *o.add(c) = if dtype == 1 { f16_to_f32(h) } else { f32::from_bits((h as u32) << 16) };
                }
            }
            _ => {
                let q = (w as *const i8).add(g * nb * 128);
                let sc = (w.add(ngroups * nb * 128) as *const f32).add(g * nb * 4 + j);
                for c in 0..cols {
                    let (b, kk) = (c / KB, c % KB);
                    let v = *q.add(b * 128 + (kk / 2) * 8 + j * 2 + (kk & 1));
                    *o.add(c) = *sc.add(b * 4) * v as f32;
                }
            }
        }
    }
    -1
}
