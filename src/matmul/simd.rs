//! AVX2/FMA micro-kernels written with `std::arch` intrinsics: the f32 6×16 tile
//! of the `f32-fma` / `f32-mul-add` GEMM and the f32 6×16 / f64 6×8 tiles of
//! `f32-blocked` (block dots plus promotion). The portable kernels in `fast.rs`
//! compute the same operations in the same order (one FMA, or one multiply and
//! one add, per k per output; the promotion formula per block); the tests there
//! run both builds against the reference loop.
//!
//! `unsafe` here: the intrinsics need AVX2/FMA (callers check
//! `is_x86_feature_detected!`) and the loads/stores go through raw pointers whose
//! bounds are asserted on entry.
#![allow(unsafe_code)]
#![cfg(target_arch = "x86_64")]

use super::Promote;
use super::fast::Strided;
use std::arch::x86_64::*;

/// `kc` steps of `tile[i][j] = fma(a[k][i], b[k][j], tile[i][j])` (or, without
/// `FMA`, `tile + fl(a·b)`), `a` packed `[kc][6]`, `b` packed `[kc][16]`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], tile: &mut [[f32; 16]; 6]) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 16);
    // SAFETY: every pointer below stays inside `a`, `b` or `tile` (lengths asserted
    // above; the tile is 6 rows of 16), and AVX2/FMA are enabled on this function.
    unsafe {
        let mut c = [[_mm256_setzero_ps(); 2]; 6];
        for (ci, t) in c.iter_mut().zip(tile.iter()) {
            ci[0] = _mm256_loadu_ps(t.as_ptr());
            ci[1] = _mm256_loadu_ps(t.as_ptr().add(8));
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
        for (ci, t) in c.iter().zip(tile.iter_mut()) {
            _mm256_storeu_ps(t.as_mut_ptr(), ci[0]);
            _mm256_storeu_ps(t.as_mut_ptr().add(8), ci[1]);
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
    tile: &mut [[f32; 16]; 6],
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 16 && l > 0);
    // SAFETY: pointer reads stay inside `a`/`b` (lengths asserted), scale rows are
    // bounds-checked slices, `tile` rows are 16 f32; AVX2/FMA are enabled here.
    unsafe {
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
            for ((ci, t), &x) in c.iter().zip(tile.iter_mut()).zip(xa) {
                promote8(t.as_mut_ptr(), ci[0], x, xb0, p);
                promote8(t.as_mut_ptr().add(8), ci[1], x, xb1, p);
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
    tile: &mut [[f32; 8]; 6],
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 8 && l > 0);
    // SAFETY: as in `blocked_f32`.
    unsafe {
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
            for ((ci, t), &x) in c.iter().zip(tile.iter_mut()).zip(xa) {
                let d = _mm256_set_m128(_mm256_cvtpd_ps(ci[1]), _mm256_cvtpd_ps(ci[0]));
                promote8(t.as_mut_ptr(), d, x, xb, p);
            }
        }
    }
}
