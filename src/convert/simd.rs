//! The slice kernels' builds: the same safe, portable kernel code compiled again
//! with AVX2 enabled (8 lanes instead of SSE2's 4) and with AVX-512 enabled (16
//! lanes) by the crate's one dispatcher ([`crate::simd`]), the fastest build the
//! CPU supports chosen at run time.
//!
//! The `unsafe` here is calling a `#[target_feature]` function after
//! `is_x86_feature_detected!` has confirmed the feature. The kernels themselves are
//! safe Rust. `tests/exhaustive.rs` checks the dispatched path against the oracle on
//! every f32 input and every other build against the dispatched one; the tests
//! below check every build of every kernel on data with specials.
#![allow(unsafe_code)]

use super::decode::DecodeKernel;
use super::kernel::{Bits, BlockScaler, CastKernel, Kernel, RowScaler};

use crate::simd::{SimdBuild, dispatch};

dispatch!(
    /// Encodes with the fastest kernel build this CPU supports (`rbits`: one word
    /// per element for stochastic rounding).
    kernel_run, kernel_run_with, (k: &Kernel, src: &[f32], dst: &mut [u8], bits: Bits<'_>), k.run(src, dst, bits)
);
dispatch!(
    /// [`CastKernel::run`] with the fastest kernel build this CPU supports.
    cast_run, cast_run_with, (k: &CastKernel, src: &[f32], dst: &mut [u8], bits: Bits<'_>), k.run(src, dst, bits)
);
dispatch!(
    /// [`CastKernel::run_scaled`] with the fastest kernel build this CPU supports.
    cast_scaled_run, cast_scaled_run_with, (k: &CastKernel, src: &[f32], block: usize, mults: &[f32], dst: &mut [u8]),
    k.run_scaled(src, block, mults, dst)
);
dispatch!(
    /// [`RowScaler::scale_row`] with the fastest build this CPU supports.
    row_scales_run<S: RowScaler>, row_scales_run_with, (s: &mut S, amaxes: &[f32], mults: &mut [f32]),
    s.scale_row(amaxes, mults)
);
dispatch!(
    /// [`CastKernel::run_blocks`] with the fastest kernel build this CPU supports.
    cast_blocks_run<F: BlockScaler>, cast_blocks_run_with,
    (k: &CastKernel, src: &[f32], block: usize, ignore_nan: bool, scale: F, dst: &mut [u8]),
    k.run_blocks(src, block, ignore_nan, scale, dst)
);
dispatch!(
    /// Decodes arithmetically with the fastest build this CPU supports.
    decode_run, decode_run_with, (k: &DecodeKernel, codes: &[u8], out: &mut [f32]), k.run(codes, out)
);
dispatch!(
    /// Decodes through the table with the fastest build this CPU supports.
    lut_run, lut_run_with, (t: &[f32; 256], codes: &[u8], out: &mut [f32]), lut_portable(t, codes, out)
);

#[inline(always)]
pub(crate) fn lut_portable(t: &[f32; 256], codes: &[u8], out: &mut [f32]) {
    let mut c = codes.chunks_exact(64);
    let mut o = out.chunks_exact_mut(64);
    for (cv, ov) in (&mut c).zip(&mut o) {
        crate::simd::prefetch_ahead(cv, 4 * crate::simd::PREFETCH_AHEAD);
        for (o, &c) in ov.iter_mut().zip(cv) {
            *o = t[c as usize];
        }
    }
    for (o, &c) in o.into_remainder().iter_mut().zip(c.remainder()) {
        *o = t[c as usize];
    }
}

dispatch!(
    /// The amax of every `block`-element chunk of `row` (the last may be shorter)
    /// into `out`, with the fastest build this CPU supports (see `block::amax`).
    block_amax_run, block_amax_run_with, (row: &[f32], block: usize, ignore_nan: bool, out: &mut [f32]),
    block_amax_portable(row, block, ignore_nan, out)
);
dispatch!(
    /// `dst[i] = row[i] · mults[i / block]` with the fastest build this CPU supports.
    scale_blocks_run, scale_blocks_run_with, (row: &[f32], block: usize, mults: &[f32], dst: &mut [f32]),
    scale_blocks_portable(row, block, mults, dst)
);

dispatch!(
    /// MXINT8 elements with ties-to-even: `dst[i]` = the byte of
    /// `clamp(round_ties_even(src[i] · 64), lo, 127)` (NaN → 0; `lo` is −127 or
    /// −128), with the fastest build this CPU supports. Equal to
    /// `block::mx::encode_int8` under `NearestEven` (tested there).
    int8_rne_run, int8_rne_run_with, (src: &[f32], lo: f32, dst: &mut [u8]), int8_rne_portable(src, lo, dst)
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
    use crate::convert::{CastOptions, Like, Rounding};
    use crate::format::ElemFormat;

    /// 1000 values: random bit patterns (|x| < 2^64) with NaN, ±Inf, subnormals and
    /// signed zeros mixed in.
    fn row(seed: u64) -> Vec<f32> {
        let specials =
            [0.0f32, -0.0, 1e-45, -3e-39, 1.5, -448.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN];
        (0..1000u32)
            .map(|i| {
                let r = crate::rng::random_bits(seed, i as u64);
                if r.is_multiple_of(7) {
                    specials[(r as usize / 7) % specials.len()]
                } else {
                    f32::from_bits(r & 0xBF7F_FFFF)
                }
            })
            .collect()
    }

    fn same_f32(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len()
    }

    /// A power-of-two multiplier per block from its amax (any rule will do: the
    /// builds must agree).
    struct Pow2;
    impl BlockScaler for Pow2 {
        #[inline(always)]
        fn scale(&mut self, _block: usize, amax: f32) -> f32 {
            if amax.is_finite() && amax > 0.0 { 2f32.powi(-(amax.log2().floor() as i32)) } else { 1.0 }
        }
    }
    impl RowScaler for Pow2 {
        #[inline(always)]
        fn scale_row(&mut self, amaxes: &[f32], mults: &mut [f32]) {
            for (m, &a) in mults.iter_mut().zip(amaxes) {
                *m = self.scale(0, a);
            }
        }
    }

    /// Every build of every kernel (AVX-512, AVX2 where the CPU has them) equals the
    /// portable build, on data with NaN, Inf, subnormals and signed zeros, for block
    /// sizes that do and do not divide the row.
    #[test]
    fn every_build_equals_portable() {
        let row = row(3);
        let p = SimdBuild::Portable;
        for build in SimdBuild::available() {
            for block in [1, 7, 16, 32, 128, 1000, 1001] {
                let n = row.len().div_ceil(block);
                for ignore in [false, true] {
                    let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                    block_amax_run_with(build, &row, block, ignore, &mut a);
                    block_amax_run_with(p, &row, block, ignore, &mut b);
                    assert!(same_f32(&a, &b), "{build:?} amax block {block} ignore {ignore}");
                }
                let mults: Vec<f32> = (0..n).map(|i| 2f32.powi(i as i32 % 40 - 20)).collect();
                let (mut a, mut b) = (vec![0f32; row.len()], vec![0f32; row.len()]);
                scale_blocks_run_with(build, &row, block, &mults, &mut a);
                scale_blocks_run_with(p, &row, block, &mults, &mut b);
                assert!(same_f32(&a, &b), "{build:?} scale block {block}");
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                row_scales_run_with(build, &mut Pow2, &row[..n], &mut a);
                row_scales_run_with(p, &mut Pow2, &row[..n], &mut b);
                assert!(same_f32(&a, &b), "{build:?} row scales {block}");
            }
            for lo in [-127.0, -128.0] {
                let (mut a, mut b) = (vec![0u8; row.len()], vec![0u8; row.len()]);
                int8_rne_run_with(build, &row, lo, &mut a);
                int8_rne_run_with(p, &row, lo, &mut b);
                assert!(a == b, "{build:?} int8 {lo}");
            }
            for &fmt in ElemFormat::ALL {
                let codes: Vec<u8> = (0..=255u8).collect();
                let (mut a, mut b) = (vec![0f32; 256], vec![0f32; 256]);
                lut_run_with(build, crate::convert::decode_table(fmt), &codes, &mut a);
                lut_run_with(p, crate::convert::decode_table(fmt), &codes, &mut b);
                assert!(same_f32(&a, &b), "{build:?} {fmt} table decode");
                if let Some(k) = DecodeKernel::new(fmt.spec()) {
                    decode_run_with(build, &k, &codes, &mut a);
                    assert!(same_f32(&a, &b), "{build:?} {fmt} arithmetic decode");
                }
                let rbits: Vec<u32> = (0..row.len() as u64).map(|i| crate::rng::random_bits(9, i)).collect();
                for like in Like::ALL {
                    let Ok(o) = like.cast_options(fmt) else { continue };
                    // stochastic: few random bits (the subnormal shortcut), a boundary, all 32
                    let sr = [8, 20, 21, 22, 32].map(|bits| Rounding::Stochastic { bits });
                    let roundings = Rounding::DETERMINISTIC.iter().copied().chain(sr);
                    let sets: Vec<CastOptions> = roundings
                        .flat_map(|r| [o.with_rounding(r), CastOptions::saturating().with_rounding(r)])
                        .collect();
                    for o in sets {
                        let Some(k) = Kernel::new(fmt.spec(), &o) else { panic!("{fmt} has a kernel") };
                        let (mut a, mut b) = (vec![0u8; row.len()], vec![0u8; row.len()]);
                        kernel_run_with(build, &k, &row, &mut a, Bits::Given(&rbits));
                        kernel_run_with(p, &k, &row, &mut b, Bits::Given(&rbits));
                        let seeded = Bits::Seeded { seed: 5, base: 7 };
                        let mut c = vec![0u8; row.len()];
                        kernel_run_with(build, &k, &row, &mut c, seeded);
                        kernel_run_with(p, &k, &row, &mut b, seeded);
                        assert!(c == b, "{build:?} {fmt} {like:?} {:?} seeded encode", o.rounding);
                        // the seeded words are `random_bits(seed, base + i)`, as if given
                        let words: Vec<u32> =
                            (0..row.len() as u64).map(|i| crate::rng::random_bits(5, 7 + i)).collect();
                        kernel_run_with(build, &k, &row, &mut b, Bits::Given(&words));
                        assert!(c == b, "{build:?} {fmt} {like:?} {:?} seeded = given words", o.rounding);
                        kernel_run_with(p, &k, &row, &mut b, Bits::Given(&rbits));
                        assert!(a == b, "{build:?} {fmt} {like:?} {:?} encode", o.rounding);
                        let Kernel::Cast(k) = k else { continue };
                        if k.mode() == super::super::kernel::mode::SR {
                            continue;
                        }
                        for block in [16, 32, 128] {
                            // finite rows only: the fused block kernels' callers filter specials
                            let finite: Vec<f32> = row.iter().map(|&x| if x.is_finite() { x } else { 0.5 }).collect();
                            let mults: Vec<f32> =
                                (0..finite.len().div_ceil(block)).map(|i| 2f32.powi(i as i32 % 9 - 4)).collect();
                            cast_scaled_run_with(build, &k, &finite, block, &mults, &mut a);
                            cast_scaled_run_with(p, &k, &finite, block, &mults, &mut b);
                            assert!(a == b, "{build:?} {fmt} {like:?} scaled {block}");
                            if k.mode() != super::super::kernel::mode::RNE {
                                continue;
                            }
                            for ignore in [false, true] {
                                cast_blocks_run_with(build, &k, &row, block, ignore, Pow2, &mut a);
                                cast_blocks_run_with(p, &k, &row, block, ignore, Pow2, &mut b);
                                assert!(a == b, "{build:?} {fmt} {like:?} blocks {block} {ignore}");
                            }
                        }
                    }
                }
            }
        }
    }
}
