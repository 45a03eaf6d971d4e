//! Small dense matrix products for the chunked scans: C[m, n] (+)= A[m, k] · B[k, n], row-major
//! with leading dimensions (in floats). Micro-tiles of 4 rows x 8 columns (8 accumulators); the
//! B row is loaded once per k and each A value is splatted. Tails: 4 columns, single columns,
//! single rows.

use crate::simd::*;

#[derive(Clone, Copy)]
pub struct Tri {
    /// A is lower-triangular: row block [i0, i0+mr) only needs k < i0 + mr.
    pub k: bool,
    /// Only C[i][j] with j <= i is wanted: row block [i0, i0+mr) computes j < i0 + mr.
    pub n: bool,
}

pub const FULL: Tri = Tri { k: false, n: false };

#[inline(always)]
unsafe fn micro<const MR: usize, const NV: usize>(
    k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32, ldc: usize, acc_in: bool,
) {
    let mut acc = [[f32x4_splat(0.0); NV]; MR];
    if acc_in {
        for i in 0..MR {
            for v in 0..NV {
                acc[i][v] = ld(c.add(i * ldc + 4 * v));
            }
        }
    }
    for kk in 0..k {
        let mut bv = [f32x4_splat(0.0); NV];
        for v in 0..NV {
            bv[v] = ld(b.add(kk * ldb + 4 * v));
        }
        for i in 0..MR {
            let av = v128_load32_splat(a.add(i * lda + kk) as *const u32);
            for v in 0..NV {
                acc[i][v] = madd(acc[i][v], av, bv[v]);
            }
        }
    }
    for i in 0..MR {
        for v in 0..NV {
            st(c.add(i * ldc + 4 * v), acc[i][v]);
        }
    }
}

#[inline(always)]
unsafe fn micro_col<const MR: usize>(
    k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32, ldc: usize, acc_in: bool,
) {
    let mut acc = [0f32; MR];
    if acc_in {
        for i in 0..MR {
            acc[i] = *c.add(i * ldc);
        }
    }
    for kk in 0..k {
        let bv = *b.add(kk * ldb);
        for i in 0..MR {
            acc[i] += *a.add(i * lda + kk) * bv;
        }
    }
    for i in 0..MR {
        *c.add(i * ldc) = acc[i];
    }
}

#[inline(always)]
unsafe fn row_block<const MR: usize>(
    n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32, ldc: usize, acc_in: bool,
) {
    let mut j = 0;
    while j + 8 <= n {
        micro::<MR, 2>(k, a, lda, b.add(j), ldb, c.add(j), ldc, acc_in);
        j += 8;
    }
    if j + 4 <= n {
        micro::<MR, 1>(k, a, lda, b.add(j), ldb, c.add(j), ldc, acc_in);
        j += 4;
    }
    while j < n {
        micro_col::<MR>(k, a, lda, b.add(j), ldb, c.add(j), ldc, acc_in);
        j += 1;
    }
}

/// C = (acc ? C : 0) + A · B.
pub unsafe fn gemm(
    m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32, ldc: usize,
    acc: bool, tri: Tri,
) {
    let mut i = 0;
    while i + 4 <= m {
        let kk = if tri.k { k.min(i + 4) } else { k };
        let nn = if tri.n { n.min(i + 4) } else { n };
        row_block::<4>(nn, kk, a.add(i * lda), lda, b, ldb, c.add(i * ldc), ldc, acc);
        i += 4;
    }
    while i < m {
        let kk = if tri.k { k.min(i + 1) } else { k };
        let nn = if tri.n { n.min(i + 1) } else { n };
        row_block::<1>(nn, kk, a.add(i * lda), lda, b, ldb, c.add(i * ldc), ldc, acc);
        i += 1;
    }
}

/// Test export: C[m, n] (+)= A[m, k] · B[k, n] with leading dimensions.
#[no_mangle]
pub unsafe extern "C" fn ss_gemm(
    m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32, ldc: usize,
    acc: u32,
) {
    gemm(m, n, k, a, lda, b, ldb, c, ldc, acc != 0, FULL)
}
