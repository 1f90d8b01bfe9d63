//! Runtime CPU dispatch for the slice kernels: the same safe, portable kernel code
//! compiled a second time with AVX2 enabled (8 lanes instead of SSE2's 4).
//!
//! This is the crate's only `unsafe`: calling a `#[target_feature]` function, after
//! `is_x86_feature_detected!` has confirmed the feature. The kernels themselves are
//! safe Rust. `tests/exhaustive.rs` checks the dispatched path against the oracle on
//! every f32 input and the portable path against the dispatched one.
#![allow(unsafe_code)]

use super::slice::{DecodeKernel, RneKernel};

/// Defines `$name` (dispatching) and `$avx2` (the AVX2 build of `$body`).
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx2:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {
        $(#[$doc])*
        #[inline]
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 is available on this CPU (checked just above), which is
                    // the only precondition of the `#[target_feature]` function.
                    unsafe { $avx2($($arg),*) };
                    return;
                }
            }
            $body
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2($($arg: $ty),*) {
            $body
        }
    };
}

dispatch!(
    /// Encodes with the fastest kernel build this CPU supports.
    rne_run, rne_run_avx2, (k: &RneKernel, src: &[f32], dst: &mut [u8]), k.run(src, dst)
);
dispatch!(
    /// Decodes arithmetically with the fastest build this CPU supports.
    decode_run, decode_run_avx2, (k: &DecodeKernel, codes: &[u8], out: &mut [f32]), k.run(codes, out)
);
dispatch!(
    /// Decodes through the table with the fastest build this CPU supports.
    lut_run, lut_run_avx2, (t: &[f32; 256], codes: &[u8], out: &mut [f32]), lut_portable(t, codes, out)
);

#[inline(always)]
pub(crate) fn lut_portable(t: &[f32; 256], codes: &[u8], out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = t[c as usize];
    }
}
