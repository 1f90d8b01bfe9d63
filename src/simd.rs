//! The one run-time choice of SIMD build for every kernel of the crate (the cast
//! and block-scaling slice kernels of `convert::simd`, the GEMM micro-kernels of
//! `matmul::simd`): [`SimdBuild`], and `dispatch!`, which compiles a safe kernel
//! body once per build and calls the fastest one the CPU supports (or a chosen
//! one, for the tests that run every build). Every `unsafe` call of a
//! `#[target_feature]` build checks [`SimdBuild::supported`] where it is made.
#![allow(unsafe_code)]

/// A build of the SIMD kernels (slice conversions, block scaling, the GEMM
/// micro-kernels). Every build computes the same bits; they differ in speed
/// only. Exposed so that tests can run each one.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimdBuild {
    /// Plain Rust for the target's baseline (SSE2 on x86_64).
    Portable,
    /// AVX2 (+ FMA for the GEMM kernels): 8 f32 lanes.
    Avx2,
    /// AVX-512 F/BW/VL/DQ: 16 f32 lanes.
    Avx512,
}

impl SimdBuild {
    /// Every build, slowest first.
    pub const ALL: [SimdBuild; 3] = [SimdBuild::Portable, SimdBuild::Avx2, SimdBuild::Avx512];

    /// Whether this CPU can run the build.
    #[inline]
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            match self {
                SimdBuild::Portable => true,
                SimdBuild::Avx2 => avx2,
                SimdBuild::Avx512 => {
                    avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == SimdBuild::Portable
        }
    }

    /// The builds this CPU can run, slowest first.
    pub fn available() -> Vec<SimdBuild> {
        SimdBuild::ALL.into_iter().filter(|b| b.supported()).collect()
    }

    /// The fastest build this CPU supports.
    #[inline]
    pub fn best() -> SimdBuild {
        if SimdBuild::Avx512.supported() {
            SimdBuild::Avx512
        } else if SimdBuild::Avx2.supported() {
            SimdBuild::Avx2
        } else {
            SimdBuild::Portable
        }
    }
}

/// Defines `$name` (the fastest build) and `$with` (a chosen [`SimdBuild`] of
/// `$body`, portable where the CPU lacks it), with optional type parameters
/// (`name<S: Trait>`): a generic argument's `#[inline(always)]` methods are then
/// compiled inside each build.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $with:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {
        dispatch!($(#[$doc])* $name<>, $with, ($($arg: $ty),*), $body);
    };
    ($(#[$doc:meta])* $name:ident<$($g:ident: $b:path),*>, $with:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {
        $(#[$doc])*
        #[inline]
        pub(crate) fn $name<$($g: $b),*>($($arg: $ty),*) {
            $with(SimdBuild::best(), $($arg),*)
        }

        #[inline]
        pub(crate) fn $with<$($g: $b),*>(build: SimdBuild, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2<$($g: $b),*>($($arg: $ty),*) {
                    $body
                }
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
                fn avx512<$($g: $b),*>($($arg: $ty),*) {
                    $body
                }
                match build {
                    SimdBuild::Avx512 if build.supported() => {
                        // SAFETY: the CPU has AVX-512 F/BW/VL/DQ (`supported`), the only
                        // precondition of the `#[target_feature]` function.
                        unsafe { avx512($($arg),*) };
                        return;
                    }
                    SimdBuild::Avx2 if build.supported() => {
                        // SAFETY: the CPU has AVX2 (`supported`), the only precondition of
                        // the `#[target_feature]` function.
                        unsafe { avx2($($arg),*) };
                        return;
                    }
                    _ => {}
                }
            }
            let _ = build;
            $body
        }
    };
}
pub(crate) use dispatch;

/// How far ahead (in elements) the streaming slice kernels ask for their input:
/// 1,024 elements, 4 KiB of f32, one page. Measured on a 2-vCPU Xeon (Ice Lake)
/// VM, 16 Mi-element casts: 1.55–1.8 Gelem/s without, 2.4–2.6 with 1,024 or 2,048
/// (256: 2.0–2.2); the hardware prefetcher stops at page boundaries.
#[doc(hidden)]
pub const PREFETCH_AHEAD: usize = 1024;

/// Asks the cache for the line `ahead` elements past the start of `x` (a hint:
/// no effect on results, and an address past the end is never read).
///
/// # Examples
/// ```
/// let x = vec![1.0f32; 64];
/// lowp::simd::prefetch_ahead(&x, lowp::simd::PREFETCH_AHEAD);
/// assert_eq!(x[0], 1.0);
/// ```
#[doc(hidden)]
#[inline(always)]
pub fn prefetch_ahead<T>(x: &[T], ahead: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that never faults, whatever the address
        // (and `_mm_prefetch` needs only SSE, part of the x86_64 baseline).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(x.as_ptr().wrapping_add(ahead).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, ahead);
}

/// A plain number type that [`Lines`] may hold: every bit pattern is a value,
/// and its size divides a cache line.
pub(crate) trait Plain: Copy {}
impl Plain for i16 {}
impl Plain for i32 {}
impl Plain for f64 {}

/// One cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// A slice that starts on a cache line, so that each 64-byte load of a
/// kernel's 16 lanes reads one line rather than two (the heap gives large
/// `Vec`s 16-byte alignment). With B 16 bytes off the lines,
/// `fp8-block/sm100` at 2048³ ran at 7.6–7.8 GFLOP/s against 10.1–10.2.
pub(crate) struct Lines<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _t: core::marker::PhantomData<T>,
}

impl<T: Plain> Lines<T> {
    /// `len` copies of `fill`.
    pub(crate) fn new(len: usize, fill: T) -> Lines<T> {
        const { assert!(64 % core::mem::size_of::<T>() == 0 && core::mem::align_of::<T>() <= 64) };
        let lines = vec![Line([0; 8]); (len * core::mem::size_of::<T>()).div_ceil(64)];
        let mut out = Lines { lines, len, _t: core::marker::PhantomData };
        out.fill(fill);
        out
    }
}

impl<T: Plain> core::ops::Deref for Lines<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least `len` T (alignment at most 64) and every
        // bit pattern is a `T` (`Plain`)
        unsafe { core::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Plain> core::ops::DerefMut for Lines<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` is the only access
        unsafe { core::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}
