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

/// `$len` k steps in order, four per loop trip, on an `R × 2` array `$c` of
/// accumulator vectors: per step B's two vectors at `$pb` (`L` lanes apart), each
/// of A's `R` values at `$pa` broadcast, and `acc = $update` for every accumulator
/// (`$av`: the broadcast A value, `$b`: the B vector, `$acc`: the accumulator);
/// `$pa` and `$pb` move past the steps. The k loop of every kernel below.
macro_rules! k_steps {
    ($len:expr, $c:ident, $pa:ident, $pb:ident, $r:expr, $l:expr, $load:ident, $set1:ident,
     |$av:ident, $b:ident, $acc:ident| $update:expr) => {{
        macro_rules! step {
            () => {{
                let (b0, b1) = ($load($pb), $load($pb.add($l)));
                for (i, ci) in $c.iter_mut().enumerate() {
                    let $av = $set1(*$pa.add(i));
                    for (h, $b) in [b0, b1].into_iter().enumerate() {
                        let $acc = ci[h];
                        ci[h] = $update;
                    }
                }
                $pa = $pa.add($r);
                $pb = $pb.add(2 * $l);
            }};
        }
        let len = $len;
        for _ in 0..len / 4 {
            step!();
            step!();
            step!();
            step!();
        }
        for _ in 0..len % 4 {
            step!();
        }
    }};
}

/// Defines a `kc`-step micro-kernel on an `R × 2·L` f32 tile (`L` lanes per
/// vector): `tile[i][j] = fma(a[k][i], b[k][j], tile[i][j])` (or, without `FMA`,
/// `tile + fl(a·b)`), `a` packed `[kc][R]`, `b` packed `[kc][2·L]`, working in the
/// C array through `tile`. One definition for both vector widths: only the
/// intrinsics (`$v`: zero, load, store, broadcast, fmadd, add, mul) differ. When
/// `fresh` (the first K panel) the chains start from +0 without reading the tile.
macro_rules! micro_kernel {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $r:literal, $l:literal,
     [$zero:ident, $load:ident, $store:ident, $set1:ident, $fmadd:ident, $add:ident, $mul:ident]) => {
        $(#[$doc])*
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], tile: CTile, fresh: bool) {
            assert!(a.len() >= kc * $r && b.len() >= kc * 2 * $l);
            tile.assert_shape::<$r, { 2 * $l }>();
            // SAFETY: every pointer below stays inside `a`, `b` or `tile` (lengths and the
            // tile's shape asserted above), and the intrinsics' features are enabled here.
            unsafe {
                let t = tile.c.as_mut_ptr();
                let mut c = [[$zero(); 2]; $r];
                if !fresh {
                    for (i, ci) in c.iter_mut().enumerate() {
                        ci[0] = $load(t.add(i * tile.ldc));
                        ci[1] = $load(t.add(i * tile.ldc + $l));
                    }
                }
                let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
                k_steps!(kc, c, pa, pb, $r, $l, $load, $set1, |av, b, acc| if FMA {
                    $fmadd(av, b, acc)
                } else {
                    $add(acc, $mul(av, b))
                });
                for (i, ci) in c.iter().enumerate() {
                    $store(t.add(i * tile.ldc), ci[0]);
                    $store(t.add(i * tile.ldc + $l), ci[1]);
                }
            }
        }
    };
}

micro_kernel!(
    /// The `f32-fma` / `f32-mul-add` micro-kernel on a 6×16 tile.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    micro_f32, "avx2,fma", 6, 8,
    [_mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_mul_ps]
);
micro_kernel!(
    /// The AVX-512 build of [`micro_f32`] on a 12×32 tile: the same operation per
    /// output in the same k order, only more outputs per instruction.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    micro_f32_512, "avx512f", 12, 16,
    [_mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_mul_ps]
);

/// Defines a promotion ([`Promote::apply`]) of one vector of f32 partials `d` into
/// the C values at `t`, with A's scale `xa` and B's scales `xb` (same operations,
/// same order as the scalar formula).
macro_rules! promote {
    ($name:ident, $v:ty, [$load:ident, $store:ident, $set1:ident, $fmadd:ident, $add:ident, $mul:ident]) => {
        /// # Safety
        /// The vector width's features are enabled; `t` points to one vector of
        /// writable f32.
        #[inline(always)]
        unsafe fn $name(t: *mut f32, d: $v, xa: f32, xb: $v, p: Promote) {
            // SAFETY: caller's contract.
            unsafe {
                let acc = $load(t);
                let xa = $set1(xa);
                let r = match p {
                    Promote::Fadd => $add(acc, $mul(d, $mul(xa, xb))),
                    Promote::FfmaCombined => $fmadd($mul(xa, xb), d, acc),
                    Promote::FmulThenFfma { b_first: false } => $fmadd($mul(d, xa), xb, acc),
                    Promote::FmulThenFfma { b_first: true } => $fmadd($mul(d, xb), xa, acc),
                };
                $store(t, r);
            }
        }
    };
}
promote!(
    promote8,
    __m256,
    [_mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_mul_ps]
);
promote!(
    promote16,
    __m512,
    [_mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_mul_ps]
);

/// Defines an `f32-blocked` kernel on one `R × W` tile (two dot-lane vectors of
/// `L` lanes per row): per K block of `l`, `2·R` FMA chains from zero in the dot
/// lanes (`$elem`: f32 or f64), each row's two vectors turned into f32 partials
/// (`$to_f32`: identity for f32 lanes; one RNE rounding, `vcvtpd2ps`, for f64
/// lanes, exact there: see `fast::dot_lane`), then one promotion per output with
/// the block's scales, `$pl` outputs per promotion vector. The promotions work on
/// a local copy of the tile (rows a C row apart alias in L1), +0 when `fresh`.
macro_rules! blocked_kernel {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $elem:ty, $r:literal, $w:literal, $l:literal,
     [$zero:ident, $load:ident, $set1:ident, $fmadd:ident],
     $pv:ty, $pl:literal, [$xload:ident, $xstore:ident], $promote:ident, $to_f32:expr) => {
        $(#[$doc])*
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn $name(
            kc: usize,
            l: usize,
            a: &[$elem],
            b: &[$elem],
            tile: CTile,
            grid_a: Strided,
            grid_b: Strided,
            p: Promote,
            fresh: bool,
        ) {
            assert!(a.len() >= kc * $r && b.len() >= kc * 2 * $l && l > 0);
            tile.assert_shape::<$r, $w>();
            // SAFETY: pointer reads stay inside `a`/`b` (lengths asserted), scale rows are
            // bounds-checked slices, `tile` holds `R` rows of `W` f32 (asserted); the
            // intrinsics' features are enabled here.
            unsafe {
                let t = tile.c.as_mut_ptr();
                // the local copy is moved with this build's vectors: one made with
                // narrower moves stalls each row's first vector load (no store forwarding)
                let mut local = [[0f32; $w]; $r];
                let lt = local.as_mut_ptr().cast::<f32>();
                let rows = |dst: *mut f32, ld: usize, src: *const f32, ls: usize| {
                    for i in 0..$r {
                        for h in 0..$w / $pl {
                            $xstore(dst.add(i * ld + h * $pl), $xload(src.add(i * ls + h * $pl)));
                        }
                    }
                };
                if !fresh {
                    rows(lt, $w, t, tile.ldc);
                }
                let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
                for (blk, off) in (0..kc).step_by(l).enumerate() {
                    let mut c = [[$zero(); 2]; $r];
                    k_steps!(l.min(kc - off), c, pa, pb, $r, $l, $load, $set1, |av, b, acc| $fmadd(av, b, acc));
                    let (xa, xb) = (grid_a.block::<$r>(blk), grid_b.block::<$w>(blk));
                    let xb: [$pv; $w / $pl] = std::array::from_fn(|h| $xload(xb.as_ptr().add(h * $pl)));
                    // a copy for the promotion loop, so that `c` stays in registers in the
                    // k loop (else LLVM keeps it in memory and stores it every k step)
                    let c = std::hint::black_box(c);
                    for (i, (ci, &x)) in c.iter().zip(xa).enumerate() {
                        let d: [$pv; $w / $pl] = $to_f32(ci[0], ci[1]);
                        for (h, (d, xb)) in d.into_iter().zip(xb).enumerate() {
                            $promote(lt.add(i * $w + h * $pl), d, x, xb, p);
                        }
                    }
                }
                rows(t, tile.ldc, lt, $w);
            }
        }
    };
}

blocked_kernel!(
    /// `f32-blocked` on one 6×16 tile with f32 block dots.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    blocked_f32, "avx2,fma", f32, 6, 16, 8,
    [_mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps],
    __m256, 8, [_mm256_loadu_ps, _mm256_storeu_ps], promote8, |lo, hi| [lo, hi]
);
blocked_kernel!(
    /// `f32-blocked` on one 6×8 tile with f64 block dots.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    blocked_f64, "avx2,fma", f64, 6, 8, 4,
    [_mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd],
    __m256, 8, [_mm256_loadu_ps, _mm256_storeu_ps], promote8, |lo, hi| [_mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))]
);
blocked_kernel!(
    /// The AVX-512 build of [`blocked_f32`] on a 12×32 tile.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    blocked_f32_512, "avx512f", f32, 12, 32, 16,
    [_mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps],
    __m512, 16, [_mm512_loadu_ps, _mm512_storeu_ps], promote16, |lo, hi| [lo, hi]
);
blocked_kernel!(
    /// The AVX-512 build of [`blocked_f64`] on a 12×16 tile.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    blocked_f64_512, "avx512f", f64, 12, 16, 8,
    [_mm512_setzero_pd, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd],
    __m512, 16, [_mm512_loadu_ps, _mm512_storeu_ps], promote16,
    |lo, hi| {
        let (lo, hi) = (_mm256_castps_pd(_mm512_cvtpd_ps(lo)), _mm256_castps_pd(_mm512_cvtpd_ps(hi)));
        [_mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi))]
    }
);

/// Asks the cache for every cache line `x` touches (a hint: no effect on
/// results).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // from the start of the first line, so that a slice straddling a line
        // boundary has its last line fetched too
        let head = x.as_ptr() as usize % 64;
        let p = x.as_ptr().cast::<i8>().wrapping_sub(head);
        for line in 0..(head + size_of_val(x)).div_ceil(64) {
            // SAFETY: a prefetch is a hint that never faults, whatever the address (and
            // `_mm_prefetch` needs only SSE, part of the x86_64 baseline).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
