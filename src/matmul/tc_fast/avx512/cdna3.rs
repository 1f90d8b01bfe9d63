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
/// `first, first + STEP, … < b1` of group `b0..b1` (their exponents kept in
/// `x` where `KEEP`: [`super::exps`]) and their maximum exponent; no
/// position: (0, −126).
///
/// # Safety
/// As [`cdna3_group`]; the positions lie in `b0..b1`. It has no target
/// features of its own, so that it can be inlined always into
/// [`cdna3_group`], which has them (with `#[inline]` it stayed out of line,
/// its exponents passed through memory).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn stage<const LUT: bool, const W: usize, const STEP: usize, const KEEP: bool>(
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    b0: usize,
    b1: usize,
    first: usize,
    neg: Option<[__m512i; W]>,
    x: &mut [[__m512i; W]],
) -> ([__m512i; W], [__m512i; W]) {
    let n = (b1.max(first) - first).div_ceil(STEP);
    // SAFETY: as this function's (the caller has the target features).
    unsafe {
        if n == 0 {
            return ([_mm512_setzero_si512(); W], [_mm512_set1_epi32(-126); W]);
        }
        let mut m = [_mm512_set1_epi32(i32::MIN); W];
        exps::<W, STEP, KEEP>(a, b, first, n, x, &mut m);
        let pick = if STEP == 2 { 0x5555_5555u32 << (first % 2) } else { u32::MAX };
        let mut acc = neg.unwrap_or_else(|| negatives::<W>(a, b, b0, b1, pick));
        add_terms::<LUT, W, STEP, KEEP>(a, b, lut, &m, first, n, x, &mut acc);
        (acc, m)
    }
}

/// One CDNA3 group `b0..b1` (`TcFast::cdna3_group`): its one stage, or its
/// even and odd stages (FP8) floored onto the larger exponent, then
/// [`cdna3_finish`] with the incoming accumulators `d`. `N > 0`: a one-stage
/// group of exactly `N` products, whose exponents stay in registers between
/// the passes (unrolled; groups of 4 and 8; FP8's two stages of 8 took
/// longer so, their 64 vectors spilled); other groups add them again in
/// pass 2. `neg`: the group's
/// count of negative products where the caller has it (a one-stage group;
/// else counted here).
///
/// Called through a pointer ([`super::strip_rows`]): `#[inline(never)]` did
/// not keep it out of line, and inlined into the rows' loop it ran slower
/// (BENCHMARKS.md).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold products `b0..b1`; the group lies in one
/// 32-product chunk; `lut` is the table where `LUT`;
/// where `N > 0`, `b1 = b0 + N`; `neg` only for a one-stage group.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn cdna3_group<const LUT: bool, const W: usize, const N: usize>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    neg: Option<[__m512i; W]>,
    b0: usize,
    b1: usize,
    d: &mut [[f32; L]; W],
) {
    let two = f.tc.order == Order::EvenOdd;
    // SAFETY (the stages): as this function's.
    let (s, e) = if two {
        let (s0, e0) = unsafe { stage::<LUT, W, 2, false>(a, b, lut, b0, b1, b0, None, &mut []) };
        let (s1, e1) = unsafe { stage::<LUT, W, 2, false>(a, b, lut, b0, b1, b0 + 1, None, &mut []) };
        let e: [__m512i; W] = core::array::from_fn(|w| _mm512_max_epi32(e0[w], e1[w]));
        // floored onto the larger exponent (counts of 32 and more: 0 or −1)
        let s = core::array::from_fn(|w| {
            _mm512_add_epi32(
                _mm512_srav_epi32(s0[w], _mm512_sub_epi32(e[w], e0[w])),
                _mm512_srav_epi32(s1[w], _mm512_sub_epi32(e[w], e1[w])),
            )
        });
        (s, e)
    } else if N > 0 {
        // (a whole array of known length: kept in registers)
        let mut regs = [[_mm512_setzero_si512(); W]; N];
        unsafe { stage::<LUT, W, 1, true>(a, b, lut, b0, b1, b0, neg, &mut regs) }
    } else {
        unsafe { stage::<LUT, W, 1, false>(a, b, lut, b0, b1, b0, neg, &mut []) }
    };
    for w in 0..W {
        if two { cdna3_finish::<true>(s[w], e[w], &mut d[w]) } else { cdna3_finish::<false>(s[w], e[w], &mut d[w]) }
    }
}
