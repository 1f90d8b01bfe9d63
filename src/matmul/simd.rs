//! AVX2/FMA micro-kernels written with `std::arch` intrinsics: the f32 6×16 tile
//! of the `f32-fma` / `f32-mul-add` GEMM and the f64 6×8 tile of `f32-blocked`'s
//! block dots. The portable kernels in `fast.rs` compute the same operations in the
//! same order (one FMA, or one multiply and one add, per k per output); the tests
//! there run both builds against the reference loop.
//!
//! `unsafe` here: the intrinsics need AVX2/FMA (callers check
//! `is_x86_feature_detected!`) and the loads/stores go through raw pointers whose
//! bounds are asserted on entry.
#![allow(unsafe_code)]
#![cfg(target_arch = "x86_64")]

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

/// `kc` steps of `tile[i][j] = fma(a[k][i], b[k][j], tile[i][j])` in f64, `a`
/// packed `[kc][6]`, `b` packed `[kc][8]`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn micro_f64(kc: usize, a: &[f64], b: &[f64], tile: &mut [[f64; 8]; 6]) {
    assert!(a.len() >= kc * 6 && b.len() >= kc * 8);
    // SAFETY: as in `micro_f32`: bounds asserted above, features enabled here.
    unsafe {
        let mut c = [[_mm256_setzero_pd(); 2]; 6];
        for (ci, t) in c.iter_mut().zip(tile.iter()) {
            ci[0] = _mm256_loadu_pd(t.as_ptr());
            ci[1] = _mm256_loadu_pd(t.as_ptr().add(4));
        }
        let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
        for _ in 0..kc {
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
        for (ci, t) in c.iter().zip(tile.iter_mut()) {
            _mm256_storeu_pd(t.as_mut_ptr(), ci[0]);
            _mm256_storeu_pd(t.as_mut_ptr().add(4), ci[1]);
        }
    }
}
