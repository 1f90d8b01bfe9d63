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
//! same way (the f32 chain value times a power of two). The block's RZ
//! rounding is `lanes::finish_rz`'s on `acc₊ − acc₋` itself: the cut to the
//! output's fraction bits does not depend on the power of two, and the result
//! is the cut times the constant `2^(−F − shift)`. Four µops per product for
//! 16 lanes, against about twenty for the lane code's 64-bit multiply, shift
//! and sign. A block call takes two strips of B where there are two
//! ([`BlockTerms::STRIPS`]): they share the row's broadcasts and loop, and
//! their chains overlap (BENCHMARKS.md).
//!
//! The bounds that make it exact: every exponent here lies within ±400, far
//! inside f64's range, so `M` and `G` are normal; a block's terms sum to less
//! than `2^52` (each is below `2^(F + 2)` with `F ≤ 40` fraction bits, and a
//! block has at most 128), so the accumulators stay below `2M`. A block
//! without a nonzero product or C (its `m` far below every real exponent)
//! sums 0.
//!
//! The block maximum uses the exponents with the scales' folded in
//! (`e + e(s)` per element), the same sums as the lane code's per-part maxima,
//! as i16 lanes: two K positions per 32-lane step (a zero's exponent clamped
//! to −16000, still below every real sum of two).
//! The order of the blocks, rows and strips, and C added late, are
//! [`FoldFast::chains`]', shared with every other build.
//!
//! Equal to the portable build and to the reference loop bit for bit
//! (`fast::tests`, `tests/matmul_props.rs` and the `matmul` fuzz target run
//! every build the CPU has).
#![allow(unsafe_code)]

use super::{BlockTerms, FoldFast, GROUP, L, LateC, ZERO_E};
use crate::matmul::exact::FloatFmt;
use crate::matmul::lanes::rz_scalar;
use crate::simd::Lines;
use core::arch::x86_64::*;
use core::ops::Range;

/// The operands as the AVX-512 build reads them: A `[M, K]` and B in strips
/// `[N/16][K]`, each element's exponent with the scale's folded in (`pa`,
/// `pb`), and its f64 magnitude `|sig · sig(s)| · 2^(e + e(s))`: A's with its
/// sign apart (`ra`: each with the offsets in its strip of the B half it meets
/// for each sign of product), B's as 32 lanes per K, the 16 columns' `P` (the
/// magnitude where non-negative, else 0), then their `N` (where negative).
pub(super) struct Products<'f, 'a> {
    f: &'f FoldFast<'a>,
    ra: Vec<ARec>,
    vb: Lines<f64>,
    /// The exponents for the block maxima as i16 pairs of K positions
    /// `(2t, 2t + 1)` (`pair16`): A's `[M][K/2]`, each pair one i32, and B's
    /// `[N/16][K/2][16][2]`; past K, `i16::MIN`.
    pa: Vec<i32>,
    pb: Lines<i16>,
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

/// An exponent as pass 1 reads it: a real one (within ±400) as it is, a zero's
/// (far below every real one) still far below them after the sum of two.
fn pair16(e: i32) -> i16 {
    e.clamp(-16000, 16000) as i16
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
    /// The operands for `f`, if its blocks start at even K positions (pass 1
    /// reads pairs): blocks of even length (`n` divides `k_inst`).
    pub(super) fn new(f: &'f FoldFast<'a>) -> Option<Products<'f, 'a>> {
        if !f.tc.n.is_multiple_of(2) {
            return None;
        }
        let (k, kb) = (f.kv.a.k(), f.kv.kblock);
        let k2 = k.div_ceil(2);
        let nkb = k.div_ceil(kb).max(1);
        // A: `[M, K]`, its scale exponents `[M][blocks]`
        // (in the order the blocks read them: `tile`, once per block; the
        // scales repeated along K: no division per element)
        let along_k = |x: &'f [i32]| x.iter().flat_map(move |&x| std::iter::repeat_n(x, kb));
        let mut ra = vec![ARec::default(); f.ea.len()];
        for (r, x) in f.xa.chunks(nkb).enumerate().take(f.kv.a.rows()) {
            let mut xs = along_k(x);
            for b0 in (0..k).step_by(f.tc.n) {
                let at = tile(f, r, b0..b0 + 1).start;
                for (kk, x) in (b0..(b0 + f.tc.n).min(k)).zip(&mut xs) {
                    let (idx, neg) = (r * k + kk, (f.sa[r * k + kk] != 0) as usize);
                    let row = 2 * L * kk;
                    ra[at + kk - b0] = ARec {
                        v: magnitude(f.ea[idx] + x, f.ma[idx]),
                        same: (row + neg * L) as u32,
                        diff: (row + (1 - neg) * L) as u32,
                    };
                }
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
        let mut pa = vec![0i32; f.kv.a.rows() * k2];
        for (r, pa) in pa.chunks_mut(k2.max(1)).enumerate() {
            // (the exponents with the scale's, as `ra`'s magnitudes take them)
            let x = along_k(&f.xa[r * nkb..(r + 1) * nkb]);
            let mut e = f.ea[r * k..(r + 1) * k].iter().zip(x).map(|(&e, x)| pair16(e + x) as u16 as i32);
            for pa in pa.iter_mut() {
                let lo = e.next().unwrap_or(i16::MIN as u16 as i32);
                *pa = lo | e.next().unwrap_or(i16::MIN as u16 as i32) << 16;
            }
        }
        let mut pb = Lines::new(eb.len().div_ceil(k.max(1) * L) * k2 * 2 * L, i16::MIN);
        for (pb, eb) in pb.chunks_mut(k2 * 2 * L).zip(eb.chunks(k * L)) {
            for (kk, eb) in eb.chunks(L).enumerate() {
                for (l, &e) in eb.iter().enumerate() {
                    pb[(kk / 2) * 2 * L + 2 * l + kk % 2] = pair16(e);
                }
            }
        }
        Some(Products { f, ra, vb, pa, pb })
    }
}

/// `2^e` per lane of `e` (i32 lanes as f64 halves), `e + 1023` in `1..=2046`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn pow2_halves(e: __m512i) -> (__m512d, __m512d) {
    let e = _mm512_add_epi32(e, _mm512_set1_epi32(1023));
    let pow = |h: __m256i| _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_cvtepu32_epi64(h)));
    (pow(_mm512_castsi512_si256(e)), pow(_mm512_extracti64x4_epi64::<1>(e)))
}

const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;

/// Sets of accumulators a block's products rotate through (four chains of
/// fused multiply-adds each, per strip), enough to cover the FMA latency.
const SETS: usize = 2;

/// One fused block of a row and `W` strips: the exponent pairs of its K
/// positions (`pa`: the row's, `pb[w]`: strip `w`'s lanes), the row's products
/// in the block (`ra`) and each whole strip's magnitudes (`vb[w]`); the chain
/// values `d[w]` in, the block's results out. The strips share the row's
/// loads and broadcasts, and their chains overlap.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn block<const W: usize>(
    p: &Products,
    pa: &[i32],
    pb: [&[i16]; W],
    ra: &[ARec],
    vb: [&[f64]; W],
    d: &mut [[f32; L]; W],
) {
    let tc = p.f.tc;
    let (f, shift, ofb) = (tc.frac_bits as i32, p.f.shift, tc.out_frac_bits as i32);
    let set = _mm512_set1_epi32;
    // C's exponent as a term (`lanes::f32_term`: a subnormal's is −126)
    // SAFETY: `d[w]` holds 16 f32
    let cb: [__m512i; W] = core::array::from_fn(|w| unsafe { _mm512_loadu_si512(d[w].as_ptr().cast()) });
    let be: [__m512i; W] = core::array::from_fn(|w| _mm512_and_si512(_mm512_srli_epi32::<23>(cb[w]), set(0xFF)));
    // pass 1: the block maximum of the product exponents, two K positions per
    // i16 pair (two chains), then of each lane's pair and C's
    let mut mx = [[_mm512_set1_epi16(i16::MIN); 2]; W];
    let pairs = pa.chunks_exact(2);
    let rest = pairs.remainder();
    for (t, x) in pairs.enumerate() {
        let (x0, x1) = (set(x[0]), set(x[1]));
        for w in 0..W {
            // SAFETY: `pb[w]` holds 32 i16 per pair of `pa`
            let (y0, y1) = unsafe {
                let y = pb[w].as_ptr().add(4 * L * t);
                (_mm512_loadu_si512(y.cast()), _mm512_loadu_si512(y.add(2 * L).cast()))
            };
            mx[w][0] = _mm512_max_epi16(mx[w][0], _mm512_adds_epi16(x0, y0));
            mx[w][1] = _mm512_max_epi16(mx[w][1], _mm512_adds_epi16(x1, y1));
        }
    }
    if let [x] = rest {
        for w in 0..W {
            // SAFETY: as above, the last pair
            let y = unsafe { _mm512_loadu_si512(pb[w].as_ptr().add(2 * L * (pa.len() - 1)).cast()) };
            mx[w][0] = _mm512_max_epi16(mx[w][0], _mm512_adds_epi16(set(*x), y));
        }
    }
    let m: [__m512i; W] = core::array::from_fn(|w| {
        let ce = _mm512_sub_epi32(_mm512_max_epi32(be[w], set(1)), set(127));
        let counts = if tc.zero_exp { 0xFFFF } else { _mm512_test_epi32_mask(cb[w], set(0x7FFF_FFFF)) };
        let mx = _mm512_max_epi16(mx[w][0], mx[w][1]);
        let mx = _mm512_max_epi32(_mm512_srai_epi32::<16>(_mm512_slli_epi32::<16>(mx)), _mm512_srai_epi32::<16>(mx));
        _mm512_max_epi32(mx, _mm512_mask_blend_epi32(counts, set(4 * ZERO_E), ce))
    });
    // the grid `G = 2^(m + shift)` in units of the products, and `M = 2^52 · G`;
    // for an empty block (`m` far below every real exponent, every product
    // and C's term zero) `M = 1`
    let real: [__mmask16; W] = core::array::from_fn(|w| _mm512_cmpge_epi32_mask(m[w], set(-1022 - shift)));
    // `SETS` sets of accumulators `[acc₊ lo, hi, acc₋ lo, hi]` per strip,
    // products by K mod `SETS`, each from `M`; C's term joins the first, to
    // `acc₊` or `acc₋` by its sign: C in units of the products is
    // `C · 2^(F + shift)`, exact (a power-of-two scaling of an f32; ±Inf and
    // NaN lanes are replaced at the end)
    let cunit = _mm512_set1_pd(f64::from_bits(((f + shift + 1023) as u64) << 52));
    let mut acc = [[[_mm512_setzero_pd(); 4]; SETS]; W];
    for w in 0..W {
        let e = _mm512_add_epi32(m[w], set(shift));
        let (mlo, mhi) = pow2_halves(_mm512_maskz_add_epi32(real[w], e, set(52)));
        acc[w] = [[mlo, mhi, mlo, mhi]; SETS];
        let cneg = _mm512_movepi32_mask(cb[w]);
        let cf = _mm512_castsi512_ps(cb[w]);
        for h in 0..2 {
            let half = if h == 0 { _mm512_castps512_ps256(cf) } else { _mm512_extractf32x8_ps::<1>(cf) };
            let c = _mm512_mul_pd(_mm512_cvtps_pd(half), cunit);
            let neg = (cneg >> (8 * h)) as u8;
            let a = &mut acc[w][0];
            a[h] = _mm512_mask_add_round_pd::<RZ>(a[h], !neg, a[h], c);
            a[h + 2] = _mm512_mask_sub_round_pd::<RZ>(a[h + 2], neg, a[h + 2], c);
        }
    }
    // pass 2: each product added to the accumulator of its sign, on the grid
    let step = |acc: &mut [[__m512d; 4]; W], x: &ARec| {
        let v = _mm512_set1_pd(x.v);
        for (acc, vb) in acc.iter_mut().zip(&vb) {
            // SAFETY: `same` and `diff` are offsets of 16 f64 inside the strip `vb` (`Products::new`)
            let (s, d) = unsafe { (vb.as_ptr().add(x.same as usize), vb.as_ptr().add(x.diff as usize)) };
            let ys = unsafe {
                [_mm512_loadu_pd(s), _mm512_loadu_pd(s.add(8)), _mm512_loadu_pd(d), _mm512_loadu_pd(d.add(8))]
            };
            for (a, y) in acc.iter_mut().zip(ys) {
                *a = _mm512_fmadd_round_pd::<RZ>(v, y, *a);
            }
        }
    };
    let mut by_set: [[[__m512d; 4]; W]; SETS] = core::array::from_fn(|q| core::array::from_fn(|w| acc[w][q]));
    let sets = ra.chunks_exact(SETS);
    for (acc, x) in by_set.iter_mut().zip(sets.remainder()) {
        step(acc, x);
    }
    for q in sets {
        for (acc, x) in by_set.iter_mut().zip(q) {
            step(acc, x);
        }
    }
    // `Σ (acc₊ − acc₋) = S · G`, exact (multiples of `G` below `2^52 · G`),
    // with `S` the block's sum on the grid `2^(m − F)`. `lanes::finish_rz`'s
    // rounding, `S` cut to the output's fraction bits times `2^(m − F)`, is
    // the same cut of `S · G` times the constant `2^(−F − shift)`, then
    // converted to f32. That conversion is exact for a result below 2^128 (at
    // most `ofb + 1` significant bits) and gives ±Inf at or above it, as the
    // reference does. A result below f32's normals is exact too where every
    // bit of the sum lies on the reference's subnormal grid `2^(−126 − ofb)`:
    // `m − F ≥ −126 − ofb`; other lanes take the scalar route. An empty block
    // sums +0.
    let unit = _mm512_set1_pd(f64::from_bits(((1023 - f - shift) as u64) << 52));
    let low = _mm512_set1_epi64((1i64 << (52 - ofb)) - 1);
    for w in 0..W {
        let mut sum = [_mm512_setzero_pd(); 2];
        let mut r = [_mm256_setzero_ps(); 2];
        for h in 0..2 {
            let mut s = _mm512_sub_pd(by_set[0][w][h], by_set[0][w][h + 2]);
            for a in &by_set[1..] {
                s = _mm512_add_pd(s, _mm512_sub_pd(a[w][h], a[w][h + 2]));
            }
            sum[h] = s;
            let cut = _mm512_castsi512_pd(_mm512_andnot_si512(low, _mm512_castpd_si512(s)));
            r[h] = _mm512_cvtpd_ps(_mm512_mul_pd(cut, unit));
        }
        let r = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(r[0]), r[1]);
        // a chain that is ±Inf or NaN stays as it is
        let dfinite = _mm512_cmpneq_epi32_mask(be[w], set(0xFF));
        let r = _mm512_mask_mov_ps(_mm512_castsi512_ps(cb[w]), dfinite, r);
        // SAFETY: `d[w]` holds 16 f32
        unsafe { _mm512_storeu_ps(d[w].as_mut_ptr(), r) };
        let slow = _mm512_cmplt_epi32_mask(m[w], set(f - 126 - ofb)) & real[w] & dfinite;
        if slow != 0 {
            let mut ms = [0i32; L];
            // SAFETY: `ms` holds 16 i32
            unsafe { _mm512_storeu_si512(ms.as_mut_ptr().cast(), m[w]) };
            let mut sums = [0f64; L];
            // SAFETY: `sums` holds 16 f64
            unsafe { (_mm512_storeu_pd(sums.as_mut_ptr(), sum[0]), _mm512_storeu_pd(sums[8..].as_mut_ptr(), sum[1])) };
            scalar_route(p, &ms, &sums, slow, &mut d[w]);
        }
    }
}

/// The lanes `slow` of a block below f32's normals, from `lanes::rz_scalar`:
/// `S = Σ (acc₊ − acc₋) / G` (`sum`, exact) rounded toward zero at `2^(m − F)`.
#[cold]
#[inline(never)]
fn scalar_route(p: &Products, m: &[i32; L], sums: &[f64; L], slow: u16, d: &mut [f32; L]) {
    let tc = p.f.tc;
    let fmt = FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 };
    let f = tc.frac_bits as i32;
    let mut bits = slow;
    while bits != 0 {
        let l = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let s = sums[l] * magnitude(-(m[l] + p.f.shift), 1);
        d[l] = rz_scalar(s as i64, m[l] - f, fmt);
    }
}

impl BlockTerms for Products<'_, '_> {
    const STRIPS: usize = 2;

    /// [`LateC::start16`]: whole vectors, for the next block's 64-byte load.
    #[inline(always)]
    fn start(&self, late: LateC, d: &mut [f32; L], c: &mut [f32; L]) {
        // SAFETY: `Products` runs only inside `rows`, whose caller confirmed AVX-512
        unsafe { late.start16(d, c) }
    }

    /// [`LateC::end16`].
    #[inline(always)]
    fn end(&self, late: LateC, d: &mut [f32; L], c: &[f32; L]) {
        // SAFETY: as in `start`
        unsafe { late.end16(d, c) }
    }

    #[inline(always)]
    fn block<const W: usize>(&self, i: usize, strip: usize, ks: Range<usize>, d: &mut [[f32; L]; W]) {
        let k = self.f.kv.a.k();
        let k2 = k.div_ceil(2);
        let ra = &self.ra[tile(self.f, i, ks.clone())];
        // (blocks start at even K: `Products::new`)
        let pairs = ks.start / 2..ks.end.div_ceil(2);
        let pa = &self.pa[i * k2 + pairs.start..i * k2 + pairs.end];
        let pb = core::array::from_fn(|w| {
            let s = strip + w;
            &self.pb[(s * k2 + pairs.start) * 2 * L..(s * k2 + pairs.end) * 2 * L]
        });
        let vb = core::array::from_fn(|w| &self.vb[(strip + w) * 2 * k * L..(strip + w + 1) * 2 * k * L]);
        // SAFETY: `Products` runs only inside `rows`, whose caller confirmed the features
        unsafe { block::<W>(self, pa, pb, ra, vb, d) }
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
