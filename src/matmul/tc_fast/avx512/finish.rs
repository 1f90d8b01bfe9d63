//! The AVX-512 kernel's block finishes: an incoming accumulator as a term, the
//! NVIDIA fused block's normalization and RZ in f32 lanes ([`finish32`]) or
//! f64 halves ([`finish`]), and CDNA3's alignment with C and RNE in i32 and
//! f32 lanes ([`cdna3_finish`]).
#![allow(unsafe_code)]

use super::super::{TcFast, ZERO_E, ZERO_EXP};
use super::L;
use core::arch::x86_64::*;

/// The incoming accumulators of a block: their values, the exponent each
/// brings to the block's maximum (`zc` for zero, −126 for a subnormal: the
/// chain's grid), and the lanes that are not finite (kept as they are). Every
/// finite value is exact on the lanes, a subnormal one and a C under `c=mma`
/// with more bits than the chain's format included ([`c_on_grid`]).
#[derive(Clone, Copy)]
pub(super) struct CTerm {
    dv: __m512,
    pub(super) ce: __m512i,
    nonfinite: __mmask16,
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) fn c_term(f: &TcFast, d: &[f32; L]) -> CTerm {
    // (vfpclassps classes: 0x01 QNaN, 0x80 SNaN, 0x08/0x10 ±Inf, 0x02/0x04 ±0)
    // SAFETY: `d` holds 16 f32.
    let dv = unsafe { _mm512_loadu_ps(d.as_ptr()) };
    let zero = _mm512_fpclass_ps_mask::<0x06>(dv);
    let nonfinite = _mm512_fpclass_ps_mask::<0x99>(dv);
    let zc = if f.tc.zero_exp { ZERO_EXP } else { ZERO_E };
    // floor(log2 |d|), at least −126 (the chain's grid)
    let ce = _mm512_mask_max_epi32(
        _mm512_set1_epi32(zc),
        !zero,
        _mm512_cvtps_epi32(_mm512_getexp_ps(dv)),
        _mm512_set1_epi32(-126),
    );
    CTerm { dv, ce, nonfinite }
}

/// The block's result from the product sum `s` (i32 lanes), the maximum `m`
/// and the incoming `c` (into `d`), where the product sum fits an i32: with C
/// converted toward zero to f32 (24 significant bits), cut to
/// `out_frac_bits + 1`, and scaled by 2^(m − F) toward zero, which is exact for
/// a normal result. Non-zero lanes whose grid 2^(m − F) is below 2^-126 or
/// above 2^96 (where the result could be subnormal, round to zero or reach
/// f32::MAX) take the scalar route, and so do the lanes whose sum with C
/// leaves the i32 range, checked where `wide` (the caller's blocks may reach
/// it). An empty block (no product, C zero or left out) sums to 0: +0.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
pub(super) fn finish32(f: &TcFast, m: __m512i, s: __m512i, c: &CTerm, wide: bool, d: &mut [f32; L]) {
    const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
    let (fb, ofb) = (f.tc.frac_bits as i32, f.tc.out_frac_bits);
    // m − F: the grid's exponent, in i32 and f32 lanes
    let g = _mm512_sub_epi32(m, _mm512_set1_epi32(fb));
    let gf = _mm512_cvtepi32_ps(g);
    let cg = c_on_grid(gf, c);
    let t = _mm512_add_epi32(s, cg);
    let mut r = _mm512_cvt_roundepi32_ps::<RZ>(t);
    if ofb < 23 {
        let keep = _mm512_set1_epi32(!((1i32 << (23 - ofb)) - 1));
        r = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(r), keep));
    }
    let r = _mm512_scalef_round_ps::<RZ>(r, gf);
    // a non-zero sum below 2^31 lands in [2^(m − F), 2^(m − F + 31)): normal and
    // below 2^127 when m − F lies in [−126, 96]
    let off = _mm512_add_epi32(g, _mm512_set1_epi32(126));
    let outside = _mm512_cmpgt_epu32_mask(off, _mm512_set1_epi32(96 + 126));
    let mut slow = _mm512_mask_test_epi32_mask(outside, t, t);
    if wide {
        // the sum with C overflowed an i32 (both addends' signs differ from the sum's)
        slow |= _mm512_movepi32_mask(_mm512_ternarylogic_epi32::<0x42>(s, cg, t));
    }
    settle(f, m, r, slow, c, d, || {
        let mut ss = [0i32; L];
        // SAFETY: `ss` holds 16 i32.
        unsafe { _mm512_storeu_si512(ss.as_mut_ptr() as *mut __m512i, s) };
        ss.map(i64::from)
    });
}

/// C's term on the block's `2^g` grid (`g = m − F`, in f32 lanes; truncated),
/// signed, in i32 lanes: C scaled by 2^-g (exact where the result is normal;
/// below 2^-126 it is below 1 either way) and converted toward zero. Below
/// 2^(F+1), as C's exponent is at most `m`: the one truncation of C's exact
/// value that the reference makes (`TcFast::c_contribution`). Meaningless
/// where C is not finite.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn c_on_grid(g: __m512, c: &CTerm) -> __m512i {
    const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
    _mm512_cvttps_epi32(_mm512_scalef_round_ps::<RZ>(c.dv, _mm512_xor_ps(g, _mm512_set1_ps(-0.0))))
}

/// Stores a block's lane results `r` into `d`: a chain that entered ±Inf or
/// NaN stays, and the `slow` lanes are redone by the scalar route from the
/// product sums `sums()` (without C).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn settle(
    f: &TcFast,
    m: __m512i,
    r: __m512,
    slow: __mmask16,
    c: &CTerm,
    d: &mut [f32; L],
    sums: impl FnOnce() -> [i64; L],
) {
    let fin = !c.nonfinite;
    let out = _mm512_mask_mov_ps(c.dv, fin, r);
    // SAFETY: `d` holds 16 f32.
    unsafe { _mm512_storeu_ps(d.as_mut_ptr(), out) };
    let scalar = slow & fin;
    if scalar != 0 {
        let (mut mm, mut d0) = ([0i32; L], [0f32; L]);
        // SAFETY: `mm` holds 16 i32, `d0` 16 f32 (the incoming `d`, kept in `c`).
        unsafe {
            _mm512_storeu_si512(mm.as_mut_ptr() as *mut __m512i, m);
            _mm512_storeu_ps(d0.as_mut_ptr(), c.dv);
        }
        scalar_route(f, scalar, &mm, &sums(), &d0, d);
    }
}

/// The lanes `scalar` of a block redone by the portable build's finish from
/// the maxima `m`, the product sums `s` and the incoming accumulators `d0`.
/// Out of line and cold: rare lanes, kept out of the kernels' inlined code.
#[cold]
#[inline(never)]
fn scalar_route(f: &TcFast, scalar: __mmask16, m: &[i32; L], s: &[i64; L], d0: &[f32; L], d: &mut [f32; L]) {
    for l in 0..L {
        if scalar >> l & 1 == 1 {
            d[l] = f.finish(s[l] + f.c_contribution(f.c_term(d0[l]), m[l]), m[l]);
        }
    }
}

/// The block's result from the product sums `lo`/`hi` (i64, lanes 0–7 and
/// 8–15), the maximum `m` and the incoming `c` (into `d`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
pub(super) fn finish(f: &TcFast, m: __m512i, lo: __m512i, hi: __m512i, c: &CTerm, d: &mut [f32; L]) {
    let (fb, ofb) = (f.tc.frac_bits as i32, f.tc.out_frac_bits);
    let ct = c_on_grid(_mm512_cvtepi32_ps(_mm512_sub_epi32(m, _mm512_set1_epi32(fb))), c);
    let tlo = _mm512_add_epi64(lo, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(ct)));
    let thi = _mm512_add_epi64(hi, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(ct)));
    // s · 2^(m − F) with RZ to ofb + 1 significant bits, through an exact f64
    let keep = _mm512_set1_epi64(!((1i64 << (52 - ofb)) - 1));
    let ex = _mm512_sub_epi32(m, _mm512_set1_epi32(fb - 1023));
    let exc = _mm512_min_epi32(_mm512_max_epi32(ex, _mm512_set1_epi32(1)), _mm512_set1_epi32(2046));
    let clamped = _mm512_cmpneq_epi32_mask(ex, exc);
    let half = |t: __m512i, exh: __m256i| {
        let mag = _mm512_abs_epi64(t);
        let mag = _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(_mm512_cvtepi64_pd(mag)), keep));
        let pow = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_cvtepi32_epi64(exh)));
        _mm512_cvtpd_ps(_mm512_mul_pd(mag, pow))
    };
    let r = _mm512_insertf32x8::<1>(
        _mm512_castps256_ps512(half(tlo, _mm512_castsi512_si256(exc))),
        half(thi, _mm512_extracti64x4_epi64::<1>(exc)),
    );
    let neg_tot = _mm512_movepi64_mask(tlo) as u16 | ((_mm512_movepi64_mask(thi) as u16) << 8);
    let rz = _mm512_cmpeq_ps_mask(r, _mm512_setzero_ps());
    let r = _mm512_mask_sub_ps(r, neg_tot & !rz, _mm512_setzero_ps(), r); // +0 on underflow
    let mag = _mm512_abs_ps(r);
    let slow = clamped
        | _mm512_cmpeq_ps_mask(mag, _mm512_set1_ps(f32::INFINITY))
        | (!rz & _mm512_cmplt_ps_mask(mag, _mm512_set1_ps(f32::MIN_POSITIVE)));
    // an empty block (no product, C zero or left out): +0
    let empty = _mm512_cmple_epi32_mask(m, _mm512_set1_epi32(ZERO_E / 2));
    let (r, slow) = (_mm512_maskz_mov_ps(!empty, r), slow & !empty);
    settle(f, m, r, slow, c, d, || {
        let mut sprod = [0i64; L];
        // SAFETY: `sprod` holds 16 i64, two vectors.
        unsafe {
            _mm512_storeu_si512(sprod.as_mut_ptr() as *mut __m512i, lo);
            _mm512_storeu_si512(sprod.as_mut_ptr().add(8) as *mut __m512i, hi);
        }
        sprod
    });
}

/// A CDNA3 group's result (`TcFast::cdna3_group`) from its product sum `s`
/// (i32 lanes, two's complement, units 2^(e − F), below 2^31 in magnitude) and
/// exponent `e`, with the incoming accumulators `d` (updated in place): with
/// `M = max(e, C's exponent (at least −126))`, the sum floored at 2^(M − 31)
/// and C floored at 2^(M − 24) (dropped 26 binades below M where `TWO`: FP8's
/// two stages), then one RNE rounding of the exact total `T` (`cdna3::with_c`),
/// in 16 i32 and f32 lanes:
/// - C's term `c24 = floor(C · 2^(24 − M))`: `vscalefps` and a conversion, both
///   rounding down (exact, or below 2^-149 where the floor is 0 or −1 either way);
/// - the sum's `s · 2^(e + 7 − M)`, floored, is split at 2^15 by two arithmetic
///   shifts and a mask, and so is `c24 · 2^7`: `T = H · 2^15 + low` with
///   `|H| < 2^24` and `0 ≤ low < 2^16`, both exact in f32, and one `vfmadd`
///   gives RNE(T) (T below 2^38, no i64 lanes);
/// - scaled by 2^(M − 31), exact where the result is normal.
///
/// The other non-zero lanes take the portable route; a chain that is ±Inf or
/// NaN stays.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
pub(super) fn cdna3_finish<const TWO: bool>(s: __m512i, e: __m512i, d: &mut [f32; L]) {
    const RD: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
    let set = _mm512_set1_epi32;
    // SAFETY: `d` holds 16 f32.
    let dv = unsafe { _mm512_loadu_ps(d.as_ptr()) };
    let nonfinite = _mm512_fpclass_ps_mask::<0x99>(dv);
    // exponents biased by 127: C's (a subnormal's or zero's: 1, that is −126), and M
    let cb = _mm512_max_epi32(_mm512_and_si512(_mm512_srli_epi32::<23>(_mm512_castps_si512(dv)), set(0xFF)), set(1));
    let mb = _mm512_max_epi32(_mm512_add_epi32(e, set(127)), cb);
    let mf = _mm512_cvtepi32_ps(mb);
    // C floored at 2^(M − 24), in those units
    let mut c24 =
        _mm512_cvt_roundps_epi32::<RD>(_mm512_scalef_round_ps::<RD>(dv, _mm512_sub_ps(_mm512_set1_ps(151.0), mf)));
    if TWO {
        c24 = _mm512_maskz_mov_epi32(!_mm512_cmplt_epi32_mask(cb, _mm512_sub_epi32(mb, set(25))), c24);
    }
    // the sum floored at 2^(M − 31) is floor(s · 2^k), k = e + 7 − M ≤ 7 (units 2^(M − 31))
    let nk = _mm512_sub_epi32(mb, _mm512_add_epi32(e, set(134)));
    let sr = _mm512_srav_epi32(s, _mm512_max_epi32(nk, _mm512_setzero_si512()));
    let kp = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), nk), _mm512_setzero_si512());
    // T = floor(s · 2^k) + c24 · 2^7 = H · 2^15 + low
    let h = _mm512_add_epi32(_mm512_srav_epi32(s, _mm512_add_epi32(nk, set(15))), _mm512_srai_epi32::<8>(c24));
    let low = _mm512_add_epi32(
        _mm512_and_si512(_mm512_sllv_epi32(sr, kp), set(0x7FFF)),
        _mm512_and_si512(_mm512_slli_epi32::<7>(c24), set(0x7F80)),
    );
    let u = _mm512_fmadd_ps(_mm512_cvtepi32_ps(h), _mm512_set1_ps(32768.0), _mm512_cvtepi32_ps(low));
    let r = _mm512_scalef_ps(u, _mm512_sub_ps(mf, _mm512_set1_ps(158.0)));
    let out = _mm512_mask_mov_ps(r, nonfinite, dv);
    // SAFETY: `d` holds 16 f32.
    unsafe { _mm512_storeu_ps(d.as_mut_ptr(), out) };
    // a non-zero T is at least 1: the result is normal where M − 31 ≥ −126, a
    // test on M alone, off the chain of the total
    // (a chain that is ±Inf or NaN has C's biased exponent 255, so M ≥ 255:
    // never on the low grid)
    let low_grid = _mm512_cmplt_epi32_mask(mb, set(127 - 126 + 31));
    if low_grid == 0 {
        return;
    }
    let tiny = _mm512_cmplt_ps_mask(_mm512_abs_ps(r), _mm512_set1_ps(f32::MIN_POSITIVE));
    let slow = low_grid & tiny & _mm512_cmpneq_ps_mask(u, _mm512_setzero_ps());
    if slow != 0 {
        let (mut ss, mut es, mut d0) = ([0i32; L], [0i32; L], [0f32; L]);
        // SAFETY: each array holds 16 lanes.
        unsafe {
            _mm512_storeu_si512(ss.as_mut_ptr() as *mut __m512i, s);
            _mm512_storeu_si512(es.as_mut_ptr() as *mut __m512i, e);
            _mm512_storeu_ps(d0.as_mut_ptr(), dv);
        }
        cdna3_route(slow, &ss, &es, &d0, TWO, d);
    }
}

/// The lanes `slow` of a CDNA3 group below f32's normals, by the portable
/// build's finish (`cdna3::with_c`, one RNE rounding from f64). Cold.
#[cold]
#[inline(never)]
fn cdna3_route(slow: __mmask16, s: &[i32; L], e: &[i32; L], d0: &[f32; L], two: bool, d: &mut [f32; L]) {
    for l in 0..L {
        if slow >> l & 1 == 1 {
            d[l] = super::super::cdna3::result(s[l] as i64, e[l], d0[l], two);
        }
    }
}
