//! CDNA3 groups in the AVX-512 kernel: the products and shifts of
//! [`super::block`], stage by stage (even and odd positions for FP8), and
//! CDNA3's alignment with C and RNE ([`cdna3_finish`]).
#![allow(unsafe_code)]

use super::finish::cdna3_finish;
use super::{L, RowA, StripB, add_terms, exps, negatives};
use crate::matmul::tc::Order;
use crate::matmul::tc_fast::TcFast;
use core::arch::x86_64::*;

/// One CDNA3 stage: the truncated sum (two's complement, i32) of positions
/// `first, first + STEP, …` of group `b0..b1` (one per row of `x`, which takes
/// their exponents) and their maximum exponent; no position: (0, −126).
///
/// # Safety
/// As [`cdna3_group`]; the positions lie in `b0..b1`. It has no target
/// features of its own, so that it can be inlined always into
/// [`cdna3_group`], which has them (with `#[inline]` it stayed out of line,
/// its exponents passed through memory).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn stage<const LUT: bool, const W: usize, const STEP: usize>(
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    b0: usize,
    b1: usize,
    first: usize,
    x: &mut [[__m512i; W]],
) -> ([__m512i; W], [__m512i; W]) {
    // SAFETY: as this function's (the caller has the target features).
    unsafe {
        if x.is_empty() {
            return ([_mm512_setzero_si512(); W], [_mm512_set1_epi32(-126); W]);
        }
        let mut m = [_mm512_set1_epi32(i32::MIN); W];
        exps::<W, STEP>(a, b, first, x, &mut m);
        let pick = if STEP == 2 { 0x5555_5555u32 << (first % 2) } else { u32::MAX };
        let mut acc = negatives::<W>(a, b, b0, b1, pick);
        add_terms::<LUT, W, STEP>(a, b, lut, &m, first, x, &mut acc);
        (acc, m)
    }
}

/// One CDNA3 group `b0..b1` (`TcFast::cdna3_group`): its one stage, or its
/// even and odd stages (FP8) floored onto the larger exponent, then
/// [`cdna3_finish`] with the incoming accumulators `d`. `N > 0`: the group
/// has exactly `N` products, whose exponents stay in registers between the
/// passes (unrolled) instead of in `buf` (groups of 4 and 8; FP8's 16 took
/// longer so, their 64 vectors spilled).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold products `b0..b1`; the group lies in one
/// 32-product chunk; `buf` holds `b1 − b0` rows; `lut` is the table where `LUT`;
/// where `N > 0`, `b1 = b0 + N`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn cdna3_group<const LUT: bool, const W: usize, const N: usize>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    b0: usize,
    b1: usize,
    buf: &mut [[__m512i; W]],
    d: &mut [[f32; L]; W],
) {
    let mut regs = [[_mm512_setzero_si512(); W]; N];
    let x = if N > 0 { &mut regs[..] } else { &mut buf[..b1 - b0] };
    let two = f.tc.order == Order::EvenOdd;
    // SAFETY (the stages): as this function's.
    let (s, e) = if two {
        let (x0, x1) = x.split_at_mut((b1 - b0).div_ceil(2));
        let (s0, e0) = unsafe { stage::<LUT, W, 2>(a, b, lut, b0, b1, b0, x0) };
        let (s1, e1) = unsafe { stage::<LUT, W, 2>(a, b, lut, b0, b1, b0 + 1, x1) };
        let e: [__m512i; W] = core::array::from_fn(|w| _mm512_max_epi32(e0[w], e1[w]));
        // floored onto the larger exponent (counts of 32 and more: 0 or −1)
        let s = core::array::from_fn(|w| {
            _mm512_add_epi32(
                _mm512_srav_epi32(s0[w], _mm512_sub_epi32(e[w], e0[w])),
                _mm512_srav_epi32(s1[w], _mm512_sub_epi32(e[w], e1[w])),
            )
        });
        (s, e)
    } else {
        unsafe { stage::<LUT, W, 1>(a, b, lut, b0, b1, b0, x) }
    };
    for w in 0..W {
        cdna3_finish(s[w], e[w], two, &mut d[w]);
    }
}
