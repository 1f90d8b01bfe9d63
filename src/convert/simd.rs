//! Runtime CPU dispatch for the slice kernels: the same safe, portable kernel code
//! compiled a second time with AVX2 enabled (8 lanes instead of SSE2's 4).
//!
//! This is the crate's only `unsafe`: calling a `#[target_feature]` function, after
//! `is_x86_feature_detected!` has confirmed the feature. The kernels themselves are
//! safe Rust. `tests/exhaustive.rs` checks the dispatched path against the oracle on
//! every f32 input and the portable path against the dispatched one.
#![allow(unsafe_code)]

use super::slice::{BlockScaler, DecodeKernel, RneKernel, RowScaler};

/// Defines `$name` (dispatching) and `$avx2` (the AVX2 build of `$body`), with
/// optional type parameters (`name<S: Trait>`): a generic argument's
/// `#[inline(always)]` methods are then compiled inside the AVX2 function.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx2:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {
        dispatch!($(#[$doc])* $name<>, $avx2, ($($arg: $ty),*), $body);
    };
    ($(#[$doc:meta])* $name:ident<$($g:ident: $b:path),*>, $avx2:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {
        $(#[$doc])*
        #[inline]
        pub(crate) fn $name<$($g: $b),*>($($arg: $ty),*) {
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
        fn $avx2<$($g: $b),*>($($arg: $ty),*) {
            $body
        }
    };
}

dispatch!(
    /// Encodes with the fastest kernel build this CPU supports.
    rne_run, rne_run_avx2, (k: &RneKernel, src: &[f32], dst: &mut [u8]), k.run(src, dst)
);
dispatch!(
    /// [`RneKernel::run_scaled`] with the fastest kernel build this CPU supports.
    rne_scaled_run, rne_scaled_run_avx2, (k: &RneKernel, src: &[f32], block: usize, mults: &[f32], dst: &mut [u8]),
    k.run_scaled(src, block, mults, dst)
);
dispatch!(
    /// [`RowScaler::scale_row`] with the fastest build this CPU supports.
    row_scales_run<S: RowScaler>, row_scales_run_avx2, (s: &mut S, amaxes: &[f32], mults: &mut [f32]),
    s.scale_row(amaxes, mults)
);
dispatch!(
    /// [`RneKernel::run_blocks`] with the fastest kernel build this CPU supports.
    rne_blocks_run<F: BlockScaler>, rne_blocks_run_avx2,
    (k: &RneKernel, src: &[f32], block: usize, ignore_nan: bool, scale: F, dst: &mut [u8]),
    k.run_blocks(src, block, ignore_nan, scale, dst)
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

dispatch!(
    /// The amax of every `block`-element chunk of `row` (the last may be shorter)
    /// into `out`, with the fastest build this CPU supports (see `block::amax`).
    block_amax_run, block_amax_run_avx2, (row: &[f32], block: usize, ignore_nan: bool, out: &mut [f32]),
    block_amax_portable(row, block, ignore_nan, out)
);
dispatch!(
    /// `dst[i] = row[i] · mults[i / block]` with the fastest build this CPU supports.
    scale_blocks_run, scale_blocks_run_avx2, (row: &[f32], block: usize, mults: &[f32], dst: &mut [f32]),
    scale_blocks_portable(row, block, mults, dst)
);

dispatch!(
    /// MXINT8 elements with ties-to-even: `dst[i]` = the byte of
    /// `clamp(round_ties_even(src[i] · 64), lo, 127)` (NaN → 0; `lo` is −127 or
    /// −128), with the fastest build this CPU supports. Equal to
    /// `block::mx::encode_int8` under `NearestEven` (tested there).
    int8_rne_run, int8_rne_run_avx2, (src: &[f32], lo: f32, dst: &mut [u8]), int8_rne_portable(src, lo, dst)
);

/// Portable build of [`int8_rne_run`]. `x · 64` is exact in f32 (a power-of-two
/// scaling; a product above 2^128 is +Inf, which clamps like the huge value it is).
#[inline(always)]
pub(crate) fn int8_rne_portable(src: &[f32], lo: f32, dst: &mut [u8]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        let v = x * 64.0;
        let k = if v.is_nan() { 0.0 } else { v.round_ties_even().clamp(lo, 127.0) };
        *d = k as i32 as u8;
    }
}

/// Portable build of [`block_amax_run`]: integer maximum of the magnitude bits
/// (every NaN pattern is above +Inf's, so a NaN wins unless `ignore_nan`).
#[inline(always)]
pub(crate) fn block_amax_portable(row: &[f32], block: usize, ignore_nan: bool, out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(row.chunks(block)) {
        let bits = b.iter().map(|v| v.to_bits() & 0x7FFF_FFFF);
        *o = f32::from_bits(if ignore_nan {
            bits.map(|x| if x > 0x7F80_0000 { 0 } else { x }).fold(0, u32::max)
        } else {
            bits.fold(0, u32::max)
        });
    }
}

/// Portable build of [`scale_blocks_run`].
#[inline(always)]
pub(crate) fn scale_blocks_portable(row: &[f32], block: usize, mults: &[f32], dst: &mut [f32]) {
    for ((d, b), &m) in dst.chunks_mut(block).zip(row.chunks(block)).zip(mults) {
        for (o, &x) in d.iter_mut().zip(b) {
            *o = x * m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched builds equal the portable ones on data with NaN, Inf,
    /// subnormals and signed zeros, for block sizes that do and do not divide the row.
    #[test]
    fn dispatched_block_kernels_equal_portable() {
        let specials =
            [0.0f32, -0.0, 1e-45, -3e-39, 1.5, -448.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN];
        let row: Vec<f32> = (0..1000u32)
            .map(|i| {
                let r = crate::rng::random_bits(3, i as u64);
                if r.is_multiple_of(7) {
                    specials[(r as usize / 7) % specials.len()]
                } else {
                    f32::from_bits(r & 0xBF7F_FFFF)
                }
            })
            .collect();
        for block in [1, 7, 16, 32, 128, 1000, 1001] {
            let n = row.len().div_ceil(block);
            for ignore in [false, true] {
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                block_amax_run(&row, block, ignore, &mut a);
                block_amax_portable(&row, block, ignore, &mut b);
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "amax block {block} ignore {ignore}"
                );
            }
            let mults: Vec<f32> = (0..n).map(|i| 2f32.powi(i as i32 % 40 - 20)).collect();
            let (mut a, mut b) = (vec![0f32; row.len()], vec![0f32; row.len()]);
            scale_blocks_run(&row, block, &mults, &mut a);
            scale_blocks_portable(&row, block, &mults, &mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "scale block {block}");
        }
    }
}
