//! Micro-kernels written with `std::arch` intrinsics. AVX2/FMA: the f32 6×16
//! tile of the `f32-fma` / `f32-mul-add` GEMM and the f32 6×16 / f64 6×8 tiles
//! of `f32-blocked` (block dots plus promotion). AVX-512F: the same on 12×32
//! (f32) and 12×16 (f64) tiles. The portable kernels in `fast.rs` compute the
//! same operations in the same order (one FMA, or one multiply and one add, per
//! k per output; the promotion formula per block); the tests there run every
//! build the CPU has against the reference loop.
//!
//! `unsafe` here: the intrinsics need AVX2/FMA or AVX-512F (callers check
//! `is_x86_feature_detected!`, see `convert::SimdBuild`) and the loads/stores go through
//! raw pointers whose bounds are asserted on entry.
#![allow(unsafe_code)]
#![cfg(target_arch = "x86_64")]

use super::Promote;
use super::fast::{CTile, Strided};
use std::arch::x86_64::*;

/// `kc` steps of `tile[i][j] = fma(a[k][i], b[k][j], tile[i][j])` (or, without
/// `FMA`, `tile + fl(a·b)`), `a` packed `[kc][6]`, `b` packed `[kc][16]`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], tile: CTile) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 16);
    tile.assert_shape::<6, 16>();
    // SAFETY: every pointer below stays inside `a`, `b` or `tile` (lengths and the
    // tile's 6 rows of 16 asserted above), and AVX2/FMA are enabled on this function.
    unsafe {
        let t = tile.c.as_mut_ptr();
        let mut c = [[_mm256_setzero_ps(); 2]; 6];
        for (i, ci) in c.iter_mut().enumerate() {
            ci[0] = _mm256_loadu_ps(t.add(i * tile.ldc));
            ci[1] = _mm256_loadu_ps(t.add(i * tile.ldc + 8));
        }
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        macro_rules! step {
            () => {{
                let b0 = _mm256_loadu_ps(pb);
                let b1 = _mm256_loadu_ps(pb.add(8));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*pa.add(i));
                    if FMA {
                        ci[0] = _mm256_fmadd_ps(av, b0, ci[0]);
                        ci[1] = _mm256_fmadd_ps(av, b1, ci[1]);
                    } else {
                        ci[0] = _mm256_add_ps(ci[0], _mm256_mul_ps(av, b0));
                        ci[1] = _mm256_add_ps(ci[1], _mm256_mul_ps(av, b1));
                    }
                }
                pa = pa.add(6);
                pb = pb.add(16);
            }};
        }
        // k steps in order, four per loop trip
        for _ in 0..kc / 4 {
            step!();
            step!();
            step!();
            step!();
        }
        for _ in 0..kc % 4 {
            step!();
        }
        for (i, ci) in c.iter().enumerate() {
            _mm256_storeu_ps(t.add(i * tile.ldc), ci[0]);
            _mm256_storeu_ps(t.add(i * tile.ldc + 8), ci[1]);
        }
    }
}

/// One promotion ([`Promote::apply`]) of eight f32 partials `d` into `t[0..8]`,
/// with A's scale `xa` and B's scales `xb` (same operations, same order).
///
/// # Safety
/// AVX2/FMA enabled; `t` points to 8 writable f32.
#[inline(always)]
unsafe fn promote8(t: *mut f32, d: __m256, xa: f32, xb: __m256, p: Promote) {
    // SAFETY: caller's contract.
    unsafe {
        let acc = _mm256_loadu_ps(t);
        let xa = _mm256_set1_ps(xa);
        let r = match p {
            Promote::Fadd => _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_mul_ps(xa, xb))),
            Promote::FfmaCombined => _mm256_fmadd_ps(_mm256_mul_ps(xa, xb), d, acc),
            Promote::FmulThenFfma { b_first: false } => _mm256_fmadd_ps(_mm256_mul_ps(d, xa), xb, acc),
            Promote::FmulThenFfma { b_first: true } => _mm256_fmadd_ps(_mm256_mul_ps(d, xb), xa, acc),
        };
        _mm256_storeu_ps(t, r);
    }
}

/// `f32-blocked` on one 6×16 tile with f32 block dots (exact there, see
/// `fast::dot_lane`): per K block of `l`, twelve 8-lane FMA chains from zero,
/// then one promotion per output with the block's scales.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn blocked_f32(
    kc: usize,
    l: usize,
    a: &[f32],
    b: &[f32],
    tile: CTile,
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 16 && l > 0);
    tile.assert_shape::<6, 16>();
    // SAFETY: pointer reads stay inside `a`/`b` (lengths asserted), scale rows are
    // bounds-checked slices, `tile` holds 6 rows of 16 f32 (asserted); AVX2/FMA are
    // enabled here.
    unsafe {
        let t = tile.c.as_mut_ptr();
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        for (blk, off) in (0..kc).step_by(l).enumerate() {
            let mut c = [[_mm256_setzero_ps(); 2]; 6];
            for _ in 0..l.min(kc - off) {
                let b0 = _mm256_loadu_ps(pb);
                let b1 = _mm256_loadu_ps(pb.add(8));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*pa.add(i));
                    ci[0] = _mm256_fmadd_ps(av, b0, ci[0]);
                    ci[1] = _mm256_fmadd_ps(av, b1, ci[1]);
                }
                pa = pa.add(6);
                pb = pb.add(16);
            }
            let (xa, xb) = (sa.block::<6>(blk), sb.block::<16>(blk));
            let (xb0, xb1) = (_mm256_loadu_ps(xb.as_ptr()), _mm256_loadu_ps(xb.as_ptr().add(8)));
            // a copy for the promotion loop, so that `c` stays in registers in the k loop
            let c = std::hint::black_box(c);
            for (i, (ci, &x)) in c.iter().zip(xa).enumerate() {
                promote8(t.add(i * tile.ldc), ci[0], x, xb0, p);
                promote8(t.add(i * tile.ldc + 8), ci[1], x, xb1, p);
            }
        }
    }
}

/// `f32-blocked` on one 6×8 tile with f64 block dots (exact there, see
/// `fast::dot_lane`): per K block of `l`, twelve 4-lane FMA chains from zero,
/// each output rounded once to f32 (RNE, `vcvtpd2ps`), then promoted.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn blocked_f64(
    kc: usize,
    l: usize,
    a: &[f64],
    b: &[f64],
    tile: CTile,
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 8 && l > 0);
    tile.assert_shape::<6, 8>();
    // SAFETY: as in `blocked_f32` (6 rows of 8 f32).
    unsafe {
        let t = tile.c.as_mut_ptr();
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        for (blk, off) in (0..kc).step_by(l).enumerate() {
            let mut c = [[_mm256_setzero_pd(); 2]; 6];
            for _ in 0..l.min(kc - off) {
                let b0 = _mm256_loadu_pd(pb);
                let b1 = _mm256_loadu_pd(pb.add(4));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm256_broadcast_sd(&*pa.add(i));
                    ci[0] = _mm256_fmadd_pd(av, b0, ci[0]);
                    ci[1] = _mm256_fmadd_pd(av, b1, ci[1]);
                }
                pa = pa.add(6);
                pb = pb.add(8);
            }
            let (xa, xb) = (sa.block::<6>(blk), sb.block::<8>(blk));
            let xb = _mm256_loadu_ps(xb.as_ptr());
            // a copy for the promotion loop, so that `c` stays in registers in the k loop
            let c = std::hint::black_box(c);
            for (i, (ci, &x)) in c.iter().zip(xa).enumerate() {
                let d = _mm256_set_m128(_mm256_cvtpd_ps(ci[1]), _mm256_cvtpd_ps(ci[0]));
                promote8(t.add(i * tile.ldc), d, x, xb, p);
            }
        }
    }
}

/// The AVX-512 build of [`micro_f32`] on a 12×32 tile: `kc` steps of
/// `tile[i][j] = fma(a[k][i], b[k][j], tile[i][j])` (or, without `FMA`,
/// `tile + fl(a·b)`), `a` packed `[kc][12]`, `b` packed `[kc][32]`. The same
/// operation per output in the same k order as the 6×16 AVX2 tile, only more
/// outputs per instruction.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn micro_f32_512<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], tile: CTile) {
    assert!(a.len() >= kc * 12 && b.len() >= kc * 32);
    tile.assert_shape::<12, 32>();
    // SAFETY: every pointer below stays inside `a`, `b` or `tile` (lengths and the
    // tile's 12 rows of 32 asserted above), and AVX-512F is enabled on this function.
    unsafe {
        let t = tile.c.as_mut_ptr();
        let mut c = [[_mm512_setzero_ps(); 2]; 12];
        for (i, ci) in c.iter_mut().enumerate() {
            ci[0] = _mm512_loadu_ps(t.add(i * tile.ldc));
            ci[1] = _mm512_loadu_ps(t.add(i * tile.ldc + 16));
        }
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        macro_rules! step {
            () => {{
                let b0 = _mm512_loadu_ps(pb);
                let b1 = _mm512_loadu_ps(pb.add(16));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*pa.add(i));
                    if FMA {
                        ci[0] = _mm512_fmadd_ps(av, b0, ci[0]);
                        ci[1] = _mm512_fmadd_ps(av, b1, ci[1]);
                    } else {
                        ci[0] = _mm512_add_ps(ci[0], _mm512_mul_ps(av, b0));
                        ci[1] = _mm512_add_ps(ci[1], _mm512_mul_ps(av, b1));
                    }
                }
                pa = pa.add(12);
                pb = pb.add(32);
            }};
        }
        for _ in 0..kc / 4 {
            step!();
            step!();
            step!();
            step!();
        }
        for _ in 0..kc % 4 {
            step!();
        }
        for (i, ci) in c.iter().enumerate() {
            _mm512_storeu_ps(t.add(i * tile.ldc), ci[0]);
            _mm512_storeu_ps(t.add(i * tile.ldc + 16), ci[1]);
        }
    }
}

/// [`promote8`] on sixteen lanes.
///
/// # Safety
/// AVX-512F enabled; `t` points to 16 writable f32.
#[inline(always)]
unsafe fn promote16(t: *mut f32, d: __m512, xa: f32, xb: __m512, p: Promote) {
    // SAFETY: caller's contract.
    unsafe {
        let acc = _mm512_loadu_ps(t);
        let xa = _mm512_set1_ps(xa);
        let r = match p {
            Promote::Fadd => _mm512_add_ps(acc, _mm512_mul_ps(d, _mm512_mul_ps(xa, xb))),
            Promote::FfmaCombined => _mm512_fmadd_ps(_mm512_mul_ps(xa, xb), d, acc),
            Promote::FmulThenFfma { b_first: false } => _mm512_fmadd_ps(_mm512_mul_ps(d, xa), xb, acc),
            Promote::FmulThenFfma { b_first: true } => _mm512_fmadd_ps(_mm512_mul_ps(d, xb), xa, acc),
        };
        _mm512_storeu_ps(t, r);
    }
}

/// The AVX-512 build of [`blocked_f32`] on a 12×32 tile.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn blocked_f32_512(
    kc: usize,
    l: usize,
    a: &[f32],
    b: &[f32],
    tile: CTile,
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 12 && b.len() >= kc * 32 && l > 0);
    tile.assert_shape::<12, 32>();
    // SAFETY: as in `blocked_f32` (12 rows of 32 f32); AVX-512F is enabled here.
    unsafe {
        let t = tile.c.as_mut_ptr();
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        for (blk, off) in (0..kc).step_by(l).enumerate() {
            let mut c = [[_mm512_setzero_ps(); 2]; 12];
            for _ in 0..l.min(kc - off) {
                let b0 = _mm512_loadu_ps(pb);
                let b1 = _mm512_loadu_ps(pb.add(16));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*pa.add(i));
                    ci[0] = _mm512_fmadd_ps(av, b0, ci[0]);
                    ci[1] = _mm512_fmadd_ps(av, b1, ci[1]);
                }
                pa = pa.add(12);
                pb = pb.add(32);
            }
            let (xa, xb) = (sa.block::<12>(blk), sb.block::<32>(blk));
            let (xb0, xb1) = (_mm512_loadu_ps(xb.as_ptr()), _mm512_loadu_ps(xb.as_ptr().add(16)));
            // a copy for the promotion loop, so that `c` stays in registers in the k loop
            let c = std::hint::black_box(c);
            for (i, (ci, &x)) in c.iter().zip(xa).enumerate() {
                promote16(t.add(i * tile.ldc), ci[0], x, xb0, p);
                promote16(t.add(i * tile.ldc + 16), ci[1], x, xb1, p);
            }
        }
    }
}

/// The AVX-512 build of [`blocked_f64`] on a 12×16 tile: per K block
/// twenty-four 8-lane f64 FMA chains from zero, each output rounded once to f32
/// (RNE, `vcvtpd2ps`), then promoted.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn blocked_f64_512(
    kc: usize,
    l: usize,
    a: &[f64],
    b: &[f64],
    tile: CTile,
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 12 && b.len() >= kc * 16 && l > 0);
    tile.assert_shape::<12, 16>();
    // SAFETY: as in `blocked_f32` (12 rows of 16 f32); AVX-512F is enabled here.
    unsafe {
        let t = tile.c.as_mut_ptr();
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        for (blk, off) in (0..kc).step_by(l).enumerate() {
            let mut c = [[_mm512_setzero_pd(); 2]; 12];
            for _ in 0..l.min(kc - off) {
                let b0 = _mm512_loadu_pd(pb);
                let b1 = _mm512_loadu_pd(pb.add(8));
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm512_set1_pd(*pa.add(i));
                    ci[0] = _mm512_fmadd_pd(av, b0, ci[0]);
                    ci[1] = _mm512_fmadd_pd(av, b1, ci[1]);
                }
                pa = pa.add(12);
                pb = pb.add(16);
            }
            let (xa, xb) = (sa.block::<12>(blk), sb.block::<16>(blk));
            let xb = _mm512_loadu_ps(xb.as_ptr());
            // a copy for the promotion loop, so that `c` stays in registers in the k loop
            let c = std::hint::black_box(c);
            for (i, (ci, &x)) in c.iter().zip(xa).enumerate() {
                let (lo, hi) = (_mm512_cvtpd_ps(ci[0]), _mm512_cvtpd_ps(ci[1]));
                let d = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi));
                promote16(t.add(i * tile.ldc), _mm512_castpd_ps(d), x, xb, p);
            }
        }
    }
}
