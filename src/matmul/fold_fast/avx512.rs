//! AVX-512 build of [`FoldFast`]'s blocks, in f64 lanes whose grid is the
//! accumulator's own: each element with its block scale is one exact f64
//! magnitude, `|sig · sig(s)| · 2^(e + e(s))` (at most 7 + 24 bits), and a
//! block's terms of one sign are summed by fused multiply-adds rounded toward
//! zero (`vfmadd231pd {rz-sae}`) into an accumulator that starts at
//! `M = 2^52 · G`, `G = 2^(m + shift)` the block's grid. Between `M` and `2M`
//! the f64 spacing is exactly `G`, so each addition `acc + a · b` (the product
//! exact, one rounding) lands on `acc + ⌊a · b / G⌋ · G`: the product's term,
//! truncated onto the grid, as the lane code's shift does. Positive and
//! negative products go to two accumulators (B holds each element as a
//! magnitude in one of two halves, `P` where non-negative, `N` where negative,
//! and A's sign picks which half meets which accumulator), and the block's sum
//! is `(acc₊ − acc₋) / G`, exact (both lie in `[M, 2M)`). C's term joins the
//! same way, and the block's RZ rounding is `lanes::finish_rz`'s, in f64
//! lanes. Four µops per product for 16 lanes, against about twenty for the
//! lane code's 64-bit multiply, shift and sign.
//!
//! The bounds that make it exact: every exponent here lies within ±400, far
//! inside f64's range, so `M` and `G` are normal; a block's terms sum to less
//! than `2^52` (each is below `2^(F + 2)` with `F ≤ 40` fraction bits, and a
//! block has at most 128), so the accumulators stay below `2M`. A block
//! without a nonzero product or C (its `m` far below every real exponent)
//! sums 0.
//!
//! The block maximum uses the exponents with the scales' folded in
//! (`e + e(s)` per element), the same sums as the lane code's per-part maxima.
//! The order of the blocks, rows and strips, and C added late, are
//! [`FoldFast::chains`]', shared with every other build.
//!
//! Equal to the portable build and to the reference loop bit for bit
//! (`fast::tests`, `tests/matmul_props.rs` and the `matmul` fuzz target run
//! every build the CPU has).
#![allow(unsafe_code)]

use super::{BlockTerms, FoldFast, GROUP, L, ZERO_E};
use crate::matmul::exact::FloatFmt;
use crate::matmul::lanes::{EMPTY_BELOW, rz_scalar};
use crate::simd::Lines;
use core::arch::x86_64::*;
use core::ops::Range;

/// The operands as the AVX-512 build reads them: A `[M, K]` and B in strips
/// `[N/16][K]`, each element's exponent with the scale's folded in (`e`), and
/// its f64 magnitude `|sig · sig(s)| · 2^(e + e(s))`: A's with its sign apart
/// (`ra`: each with the offsets in its strip of the B half it meets for each sign
/// of product), B's as 32 lanes per K, the 16 columns' `P` (the
/// magnitude where non-negative, else 0), then their `N` (where negative).
pub(super) struct Products<'f, 'a> {
    f: &'f FoldFast<'a>,
    ea: Vec<i32>,
    ra: Vec<ARec>,
    eb: Lines<i32>,
    vb: Lines<f64>,
}

/// Where row `i`'s products `ks` (one fused block, or a position in one) lie in
/// A's arrays: by group of [`GROUP`] rows, then by block, then by row, so that
/// the blocks of a group's rows, read one after another, are one stream.
fn tile(f: &FoldFast, i: usize, ks: Range<usize>) -> Range<usize> {
    let (m, k, n) = (f.kv.a.rows(), f.kv.a.k(), f.tc.n);
    let (g, r) = (i / GROUP, i % GROUP);
    let rows = GROUP.min(m - g * GROUP);
    let b0 = ks.start / n * n;
    let len = n.min(k - b0);
    let at = g * GROUP * k + b0 * rows + r * len + (ks.start - b0);
    at..at + ks.len()
}

/// An element of A: its magnitude, and the offsets (in f64) in B's strip of
/// the halves its products with the same sign (`same`: `P` for a non-negative
/// element) and the other sign (`diff`) come from, at its K.
#[derive(Clone, Copy, Default)]
struct ARec {
    v: f64,
    same: u32,
    diff: u32,
}

/// An element's magnitude in the products, `|sig · sig(s)| · 2^x`, with `x`
/// its exponent including the scale's (any for a zero).
fn magnitude(x: i32, mag: i32) -> f64 {
    if mag == 0 {
        return 0.0;
    }
    debug_assert!((-1022..=1023).contains(&x), "exponent {x}");
    mag as f64 * f64::from_bits(((x + 1023) as u64) << 52)
}

impl<'f, 'a> Products<'f, 'a> {
    pub(super) fn new(f: &'f FoldFast<'a>) -> Products<'f, 'a> {
        let (k, kb) = (f.kv.a.k(), f.kv.kblock);
        let nkb = k.div_ceil(kb).max(1);
        // A: `[M, K]`, its scale exponents `[M][blocks]`
        // (in the order the blocks read them: `tile`)
        let (mut ea, mut ra) = (vec![0; f.ea.len()], vec![ARec::default(); f.ea.len()]);
        for (r, x) in f.xa.chunks(nkb).enumerate().take(f.kv.a.rows()) {
            for kk in 0..k {
                let (idx, neg) = (r * k + kk, (f.sa[r * k + kk] != 0) as usize);
                let e = f.ea[idx] + x[kk / kb];
                let row = 2 * L * kk;
                let at = tile(f, r, kk..kk + 1).start;
                ra[at] = ARec {
                    v: magnitude(e, f.ma[idx]),
                    same: (row + neg * L) as u32,
                    diff: (row + (1 - neg) * L) as u32,
                };
                ea[at] = e;
            }
        }
        // B: strips `[N/16][K][16]`, its scale exponents `[N/16][blocks][16]`
        let mut eb = Lines::new(f.eb.len(), 0);
        for (strip, (eb, x)) in eb.chunks_mut(k * L).zip(f.xb.chunks(nkb * L)).enumerate() {
            for (kk, (eb, x)) in eb.chunks_mut(L).zip(x.chunks(L).flat_map(|x| std::iter::repeat_n(x, kb))).enumerate()
            {
                for (l, (eb, x)) in eb.iter_mut().zip(x).enumerate() {
                    *eb = f.eb[(strip * k + kk) * L + l] + x;
                }
            }
        }
        let mut vb = Lines::new(2 * f.eb.len(), 0.0);
        for (idx, ((&x, &m), &s)) in eb.iter().zip(f.mb.iter()).zip(f.sb.iter()).enumerate() {
            vb[(idx / L) * 2 * L + (s != 0) as usize * L + idx % L] = magnitude(x, m);
        }
        Products { f, ea, ra, eb, vb }
    }
}

/// `2^e` per lane of `e` (i32 lanes as f64 halves), `e + 1023` in `1..=2046`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn pow2_halves(e: __m512i) -> (__m512d, __m512d) {
    let e = _mm512_add_epi32(e, _mm512_set1_epi32(1023));
    let pow = |h: __m256i| _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_cvtepu32_epi64(h)));
    (pow(_mm512_castsi512_si256(e)), pow(_mm512_extracti64x4_epi64::<1>(e)))
}

/// The lower (`h = 0`) or upper eight i32 lanes of `v` as i64 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn half64(v: __m512i, h: usize) -> __m512i {
    _mm512_cvtepi32_epi64(if h == 0 { _mm512_castsi512_si256(v) } else { _mm512_extracti64x4_epi64::<1>(v) })
}

const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;

/// One fused block `ks` of a row (`ea`, `ra`: its exponents and products in
/// the block) and a strip (`eb`, `vb`: the whole strip): the chain values `d`
/// in, the block's results out.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn block(p: &Products, ea: &[i32], ra: &[ARec], eb: &[i32], vb: &[f64], ks: Range<usize>, d: &mut [f32; L]) {
    let tc = p.f.tc;
    let (f, shift, ofb) = (tc.frac_bits as i32, p.f.shift, tc.out_frac_bits as i32);
    let set = _mm512_set1_epi32;
    // C as a term: `(e, sig)` with value `sig · 2^(e − 23)` (`lanes::f32_term`)
    // SAFETY: `d` holds 16 f32
    let cb = unsafe { _mm512_loadu_si512(d.as_ptr().cast()) };
    let be = _mm512_and_si512(_mm512_srli_epi32::<23>(cb), set(0xFF));
    let normal = _mm512_test_epi32_mask(be, be);
    let csig = _mm512_or_si512(_mm512_and_si512(cb, set(0x7F_FFFF)), _mm512_maskz_mov_epi32(normal, set(1 << 23)));
    let ce = _mm512_sub_epi32(_mm512_max_epi32(be, set(1)), set(127));
    let counts = if tc.zero_exp { 0xFFFF } else { _mm512_test_epi32_mask(csig, csig) };
    // pass 1: the block maximum of the product exponents and C's (two chains)
    let mut m = [_mm512_mask_blend_epi32(counts, set(4 * ZERO_E), ce), set(4 * ZERO_E)];
    let eb = &eb[ks.start * L..ks.end * L];
    for (j, (x, y)) in ea.iter().zip(eb.chunks_exact(L)).enumerate() {
        // SAFETY: `y` holds 16 i32
        let y = unsafe { _mm512_loadu_si512(y.as_ptr().cast()) };
        m[j & 1] = _mm512_max_epi32(m[j & 1], _mm512_add_epi32(set(*x), y));
    }
    let m = _mm512_max_epi32(m[0], m[1]);
    // the grid: `M = 2^(52 + m + shift)` and `1/G = 2^−(m + shift)`; for an
    // empty block (`m` far below every real exponent) 1 and 0
    let e = _mm512_add_epi32(m, set(shift));
    let real = _mm512_cmpge_epi32_mask(e, set(-1022));
    let (mlo, mhi) = pow2_halves(_mm512_maskz_add_epi32(real, e, set(52)));
    let g = pow2_halves(_mm512_maskz_sub_epi32(real, set(0), e));
    let g = [_mm512_maskz_mov_pd(real as u8, g.0), _mm512_maskz_mov_pd((real >> 8) as u8, g.1)];
    // four sets of accumulators `[acc₊ lo, hi, acc₋ lo, hi]`, products by K mod
    // 4, each from `M`; C's term joins the first, in units of the products
    // (`sig · 2^(e − 23 + F + shift)`), to `acc₊` or `acc₋` by its sign
    let mut acc = [[mlo, mhi, mlo, mhi]; 4];
    let cneg = _mm512_movepi32_mask(cb);
    // (`e − 23 + F + shift` lies within −103..=173 for every lane, Inf and NaN included)
    let cu = pow2_halves(_mm512_add_epi32(ce, set(f + shift - 23)));
    for h in 0..2 {
        let c = _mm512_mul_pd(_mm512_cvtepi64_pd(half64(csig, h)), if h == 0 { cu.0 } else { cu.1 });
        let neg = (cneg >> (8 * h)) as u8;
        acc[0][h] = _mm512_mask_add_round_pd::<RZ>(acc[0][h], !neg, acc[0][h], c);
        acc[0][h + 2] = _mm512_mask_add_round_pd::<RZ>(acc[0][h + 2], neg, acc[0][h + 2], c);
    }
    // pass 2: each product added to the accumulator of its sign, on the grid
    let base = vb.as_ptr();
    let step = |acc: &mut [__m512d; 4], x: &ARec| {
        let v = _mm512_set1_pd(x.v);
        // SAFETY: `same` and `diff` are offsets of 16 f64 inside the strip `vb` (`Products::new`)
        let (s, d) = unsafe { (base.add(x.same as usize), base.add(x.diff as usize)) };
        let ys =
            unsafe { [_mm512_loadu_pd(s), _mm512_loadu_pd(s.add(8)), _mm512_loadu_pd(d), _mm512_loadu_pd(d.add(8))] };
        for (a, y) in acc.iter_mut().zip(ys) {
            *a = _mm512_fmadd_round_pd::<RZ>(v, y, *a);
        }
    };
    let quads = ra.chunks_exact(4);
    for (acc, x) in acc.iter_mut().zip(quads.remainder()) {
        step(acc, x);
    }
    for q in quads {
        for (acc, x) in acc.iter_mut().zip(q) {
            step(acc, x);
        }
    }
    // the block's exact sum `S = Σ (acc₊ − acc₋) / G` (integers below 2^50
    // times a power of two: every step exact), then `lanes::finish_rz`: `S`
    // cut to the output's fraction bits, times `2^(m − F)`, as f32
    let dfinite = _mm512_cmpneq_epi32_mask(be, set(0xFF));
    let mut r = [_mm256_setzero_ps(); 2];
    let mut slow = 0u16;
    let mut sum = [_mm512_setzero_pd(); 2];
    for h in 0..2 {
        let dif = |a: &[__m512d; 4]| _mm512_sub_pd(a[h], a[h + 2]);
        let s = _mm512_add_pd(_mm512_add_pd(dif(&acc[0]), dif(&acc[1])), _mm512_add_pd(dif(&acc[2]), dif(&acc[3])));
        sum[h] = _mm512_mul_pd(s, g[h]);
        let (bits, m64) = (_mm512_castpd_si512(sum[h]), half64(m, h));
        let top = _mm512_add_epi64(
            _mm512_sub_epi64(m64, _mm512_set1_epi64((f + 1023) as i64)),
            _mm512_and_si512(_mm512_srli_epi64::<52>(bits), _mm512_set1_epi64(0x7FF)),
        );
        let zero = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(sum[h], _mm512_setzero_pd())
            | _mm512_cmplt_epi64_mask(m64, _mm512_set1_epi64(EMPTY_BELOW as i64));
        let cut = _mm512_castsi512_pd(_mm512_andnot_si512(_mm512_set1_epi64((1i64 << (52 - ofb)) - 1), bits));
        let pe = _mm512_min_epi64(
            _mm512_max_epi64(_mm512_sub_epi64(m64, _mm512_set1_epi64((f - 1023) as i64)), _mm512_set1_epi64(1)),
            _mm512_set1_epi64(2046),
        );
        let v = _mm512_mul_pd(cut, _mm512_castsi512_pd(_mm512_slli_epi64::<52>(pe)));
        r[h] = _mm512_maskz_cvtpd_ps(!zero, v);
        let out = _mm512_cmplt_epi64_mask(top, _mm512_set1_epi64(-126))
            | _mm512_cmpgt_epi64_mask(top, _mm512_set1_epi64(127));
        slow |= ((out & !zero & (dfinite >> (8 * h)) as u8) as u16) << (8 * h);
    }
    let r = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(r[0]), r[1]);
    // a chain that is ±Inf or NaN stays as it is
    let r = _mm512_mask_mov_ps(_mm512_castsi512_ps(cb), dfinite, r);
    // SAFETY: `d` holds 16 f32
    unsafe { _mm512_storeu_ps(d.as_mut_ptr(), r) };
    if slow != 0 {
        let mut ms = [0i32; L];
        // SAFETY: `ms` holds 16 i32
        unsafe { _mm512_storeu_si512(ms.as_mut_ptr().cast(), m) };
        let mut sums = [0f64; L];
        // SAFETY: `sums` holds 16 f64
        unsafe { (_mm512_storeu_pd(sums.as_mut_ptr(), sum[0]), _mm512_storeu_pd(sums[8..].as_mut_ptr(), sum[1])) };
        let fmt = FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 };
        let mut bits = slow;
        while bits != 0 {
            let l = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            d[l] = rz_scalar(sums[l] as i64, ms[l] - f, fmt);
        }
    }
}

impl BlockTerms for Products<'_, '_> {
    #[inline(always)]
    fn block(&self, i: usize, strip: usize, ks: Range<usize>, d: &mut [f32; L]) {
        let k = self.f.kv.a.k();
        let at = tile(self.f, i, ks.clone());
        let (ea, ra) = (&self.ea[at.clone()], &self.ra[at]);
        let (eb, vb) =
            (&self.eb[strip * k * L..(strip + 1) * k * L], &self.vb[strip * 2 * k * L..(strip + 1) * 2 * k * L]);
        // SAFETY: `Products` runs only inside `rows`, whose caller confirmed the features
        unsafe { block(self, ea, ra, eb, vb, ks, d) }
    }
}

/// Rows `i0..` of the output (`rows`, `[.., N]`), each chain starting from its
/// value there.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and DQ ([`crate::simd::SimdBuild::Avx512`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn rows(p: &Products, i0: usize, rows: &mut [f32]) {
    p.f.rows(p, i0, rows)
}
