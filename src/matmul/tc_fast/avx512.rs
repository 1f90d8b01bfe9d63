//! AVX-512 build of the fused-block kernel of [`super::TcFast`]: sixteen outputs
//! at once (one row of A against a 16-column strip of B), i32 lanes for the
//! aligned, truncated products (partial sums widened to i64 every `2^(29 − F)`
//! products, so `F` up to 29 fraction bits: Hopper FP8, and the 25-bit
//! Blackwell and BF16/F16/TF32 kinds that the AVX2 build runs in i64 per output),
//! and the block's normalization and RZ in f32 lanes where the block's sum fits
//! an i32 ([`finish32`]), else in f64 lanes. Rows are visited block by block, so
//! that a strip's K block serves every row of a group from L1.
//!
//! Per product: an exponent add and a max (pass 1), then the shift distance,
//! the product as a one's complement where negative (a table permute for
//! significands below 16, one `vpmaddwd` for wider ones: [`Strips`]), an
//! arithmetic shift (which truncates a one's complement toward zero; counts of
//! 32 and more give 0 or −1) and an add; the count of negative products, added
//! once per block, makes the sum a two's complement. The incoming accumulator
//! joins the sum scaled onto the block's grid in f32 and converted toward zero.
//! Lanes whose result leaves f32's normal range take the scalar route of the
//! portable build; a chain that is ±Inf or NaN stays as it is.
//! Equal to the portable build bit for bit (`fast::tests`,
//! `tests/matmul_props.rs` run every build the CPU has).
#![allow(unsafe_code)]

use super::{TcFast, ZERO_E, ZERO_EXP};
use core::arch::x86_64::*;

/// Lanes per strip.
const L: usize = 16;

/// The operands as the kernel reads them: B as 16-column strips `[N/16][K][16]`
/// of exponents and, for significands below 16 (every FP8, FP6 and FP4 format),
/// a table of the shifted products, as one's complements where negative
/// (`lut[32 · ia + ib]`, `i = |sig| + 16 · negative`), and each element's index
/// into it. For wide significands, instead, word pairs that `vpmaddwd` turns
/// into the same one's complement products ([`madd_split`]): B's
/// `(±sig << u_b, −negative)` as `[N/16][K][2][16]`, the first set for a
/// non-negative A element and the second for a negative one (the product's
/// sign), and A's `(|sig| << u_a, 1)` with the offset of its set. Sign bits per
/// 32-product chunk for both (`bmask` `[N/16][K/32][16]`).
pub(super) struct Strips {
    e: Vec<i32>,
    q: Vec<i32>,
    bmask: Vec<u32>,
    pa: Vec<i32>,
    /// A's offsets into B's word pair sets (`0` or `16`; empty under the table).
    offa: Vec<i32>,
    amask: Vec<u32>,
    lut: Option<Vec<i32>>,
    /// The longest fused block (at least `n`: the rows' block buffer).
    nmax: usize,
    /// A block's whole sum (products, the negative count and C) fits an i32 lane:
    /// the block finishes in 16 f32 lanes ([`finish32`]) instead of two i64/f64 halves.
    sum32: bool,
}

/// The table index of a significand below 16.
fn lut_index(sig: i32) -> i32 {
    sig.abs() + 16 * (sig < 0) as i32
}

/// Whether every significand is below 16 (the table applies).
fn small(f: &TcFast) -> bool {
    f.sig_a.iter().chain(&f.sig_b).all(|x| x.unsigned_abs() < 16)
}

/// How wide significands take `up` (the shift onto the block grid) into the
/// two 16-bit words `vpmaddwd` multiplies: `(u_a, u_b)` with `u_a + u_b = up`
/// and `|sig| << u` below 2^15 on both sides, if there is such a split (every
/// BF16, F16 and TF32 instruction: their products are at most 22 bits and
/// `F ≤ 25`, so `bits_a + bits_b + up = F + 2 ≤ 30`).
fn madd_split(f: &TcFast) -> Option<(u32, u32)> {
    let bits = |s: &[i32]| u32::BITS - s.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0).leading_zeros();
    let (ba, bb) = (bits(&f.sig_a), bits(&f.sig_b));
    let ua = f.up.min(15u32.saturating_sub(ba));
    let ub = f.up - ua;
    (ba + ua <= 15 && bb + ub <= 15).then_some((ua, ub))
}

/// Whether the AVX-512 build applies: every product term fits an i32 and comes
/// from the table or from `vpmaddwd` ([`madd_split`]), the result rounds toward
/// zero (the lanes' normalization), and no fused block crosses a 32-product
/// boundary (a block's signs are one shift of a chunk mask).
pub(super) fn applies(f: &TcFast) -> bool {
    let tc = f.tc;
    tc.acc == crate::matmul::AccType::F32
        && tc.frac_bits <= 29
        && (small(f) || madd_split(f).is_some())
        && tc.out_rounding == crate::matmul::exact::OutRounding::Rz
        && tc.instructions(f.kv.a.k()).all(|(k0, k1)| tc.blocks(k0, k1).all(|(b0, b1)| b0 / 32 == (b1 - 1) / 32))
}

/// Sign bits of `sig[..]` (negative: 1), 32 products per word.
fn masks(sig: &[i32], k: usize) -> Vec<u32> {
    let chunks = k.div_ceil(32);
    let mut m = vec![0u32; sig.len() / k.max(1) * chunks];
    for (r, row) in sig.chunks(k.max(1)).enumerate() {
        for (kk, &x) in row.iter().enumerate() {
            m[r * chunks + kk / 32] |= ((x < 0) as u32) << (kk % 32);
        }
    }
    m
}

impl Strips {
    pub(super) fn new(f: &TcFast) -> Strips {
        let (n, k) = (f.kv.b.rows(), f.kv.b.k());
        let small = small(f);
        let chunks = k.div_ceil(32);
        let e = crate::matmul::lanes::strips(&f.eb, n, k, L, ZERO_E, |x| x);
        // (wide significands: `applies` found the split)
        let (ua, ub) = if small { (0, 0) } else { madd_split(f).unwrap_or((0, f.up)) };
        // a word pair: the low word times A's `|sig| << u_a`, plus the high word
        let pair = |lo: i32, neg: bool| (lo & 0xFFFF) | (-(neg as i32) << 16);
        let q = if small {
            crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, lut_index)
        } else {
            let pos = crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, |x| pair(x << ub, x < 0));
            let neg = crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, |x| pair(-x << ub, x >= 0));
            pos.chunks(L).zip(neg.chunks(L)).flat_map(|(p, q)| p.iter().chain(q)).copied().collect()
        };
        let rowmask = masks(&f.sig_b, k);
        let mut bmask = vec![0u32; n.div_ceil(L) * chunks * L];
        for j in 0..n {
            for c in 0..chunks {
                bmask[(j / L * chunks + c) * L + j % L] = rowmask[j * chunks + c];
            }
        }
        let (pa, offa, lut) = if small {
            // the product of table indices ia and ib, shifted; one's complement when negative
            let lut = (0..32 * 32)
                .map(|t: i32| {
                    let (ia, ib) = (t / 32, t % 32);
                    let v = ((ia % 16) * (ib % 16)) << f.up;
                    if (ia >= 16) != (ib >= 16) { !v } else { v }
                })
                .collect();
            (f.sig_a.iter().map(|&x| 32 * lut_index(x)).collect(), Vec::new(), Some(lut))
        } else {
            let pa = f.sig_a.iter().map(|x| (x.unsigned_abs() << ua) as i32 | 1 << 16).collect();
            (pa, f.sig_a.iter().map(|&x| L as i32 * (x < 0) as i32).collect(), None)
        };
        // each truncated product is below 2^(F+2) (its one's complement at least
        // −2^(F+2)), so n of them and the negative count sum within an i32 where
        // n · 2^(F+2) ≤ 2^31; C's term (below 2^(F+1)) is added with an overflow check
        let nmax = f.tc.blocks(0, f.tc.k_inst).map(|(b0, b1)| b1 - b0).max().unwrap_or(0).max(f.tc.n);
        let sum32 = (nmax as u64) << (f.tc.frac_bits + 2) <= 1 << 31;
        Strips { e, q, bmask, pa, offa, amask: masks(&f.sig_a, k), lut, nmax, sum32 }
    }
}

/// One row of A from product `0`: exponents, table rows or word pairs, word
/// pair set offsets, sign masks (as `Strips`).
#[derive(Clone, Copy)]
struct RowA {
    e: *const i32,
    p: *const i32,
    off: *const i32,
    mask: *const u32,
}

/// One 16-column strip of B from product `0` (as `Strips`).
#[derive(Clone, Copy)]
struct StripB {
    e: *const i32,
    q: *const i32,
    mask: *const u32,
}

/// The number of set bits of each 32-bit lane (nibble table).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn popcount(x: __m512i) -> __m512i {
    let lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    let nib = _mm512_set1_epi8(0x0F);
    let lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, nib));
    let hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32::<4>(x), nib));
    let bytes = _mm512_add_epi8(lo, hi);
    _mm512_madd_epi16(_mm512_maddubs_epi16(bytes, _mm512_set1_epi8(1)), _mm512_set1_epi16(1))
}

/// Rows `i0..` of the accumulators (`out` holds whole rows), four strips at a
/// time (each A row's table row and exponent serve 64 columns).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ; `st` was built from `f`, whose
/// blocks pass [`applies`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn rows(f: &TcFast, st: &Strips, i0: usize, out: &mut [f32]) {
    let strips = f.kv.b.rows().div_ceil(L);
    let mut s0 = 0;
    while s0 < strips {
        let w = if s0 + 4 <= strips { 4 } else { 1 };
        // SAFETY: as this function's.
        unsafe {
            match (w, st.lut.is_some()) {
                (4, true) => strip_rows::<true, 4>(f, st, i0, s0, out),
                (4, false) => strip_rows::<false, 4>(f, st, i0, s0, out),
                (_, true) => strip_rows::<true, 1>(f, st, i0, s0, out),
                (_, false) => strip_rows::<false, 1>(f, st, i0, s0, out),
            }
        }
        s0 += w;
    }
}

/// Strips `s0..s0 + W` of rows `i0..`.
///
/// # Safety
/// As [`rows`]; `LUT` exactly when `st` has the table; strips `s0..s0 + W` exist.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn strip_rows<const LUT: bool, const W: usize>(f: &TcFast, st: &Strips, i0: usize, s0: usize, out: &mut [f32]) {
    let (n, k) = (f.kv.b.rows(), f.kv.a.k());
    let rows = out.len() / n.max(1);
    let chunks = k.div_ceil(32);
    let tc = f.tc;
    let mut buf = vec![[_mm512_setzero_si512(); W]; st.nmax];
    // the chains start from `out` (C under `c=mma`, else +0); padding lanes +0
    let mut d = vec![[[0f32; L]; W]; rows];
    for (dr, row) in d.iter_mut().zip(out.chunks(n.max(1))) {
        for (w, dw) in dr.iter_mut().enumerate() {
            let cols = ((s0 + w) * L).min(n)..((s0 + w) * L + L).min(n);
            dw[..cols.len()].copy_from_slice(&row[cols]);
        }
    }
    let mut acc32 = vec![[[0f32; L]; W]; rows];
    // (`offa` is empty, and never read, under the table)
    let row = |i: usize| RowA {
        e: f.ea[i * k..].as_ptr(),
        p: st.pa[i * k..].as_ptr(),
        off: st.offa.as_ptr().wrapping_add(i * k),
        mask: st.amask[i * chunks..].as_ptr(),
    };
    let lut = st.lut.as_deref().map_or(core::ptr::null(), <[i32]>::as_ptr);
    let b: [StripB; W] = core::array::from_fn(|w| {
        let (strip, base) = (s0 + w, (s0 + w) * k * L);
        let sets = if LUT { 1 } else { 2 };
        StripB {
            e: st.e[base..].as_ptr(),
            q: st.q[sets * base..].as_ptr(),
            mask: st.bmask[strip * chunks * L..].as_ptr(),
        }
    });
    for (k0, k1) in tc.instructions(k) {
        for (r, dr) in d.iter_mut().enumerate() {
            let a = row(i0 + r);
            for (b0, b1) in tc.blocks(k0, k1) {
                // SAFETY: AVX-512 is enabled here; row i0 + r < M, products
                // b0..b1 <= K and the strips' lanes are in the arrays.
                unsafe { block::<LUT, W>(f, a, &b, lut, st.sum32, b0, b1, &mut buf, dr) };
            }
        }
        if let Some(jb) = f.promotes(k0, k1) {
            // as `TcFast::promote`, with B's scales read once per strip
            let scale = |op, r| if f.fold { 1.0 } else { f.kv.block_scale(op, r, jb) };
            let sb: [[f32; L]; W] =
                core::array::from_fn(|w| core::array::from_fn(|l| scale(f.kv.b, ((s0 + w) * L + l).min(n - 1))));
            for (r, (dr, ar)) in d.iter_mut().zip(acc32.iter_mut()).enumerate() {
                let sa = scale(f.kv.a, i0 + r);
                for ((dw, aw), sw) in dr.iter_mut().zip(ar.iter_mut()).zip(&sb) {
                    for l in 0..L {
                        aw[l] = tc.promote.apply(aw[l], dw[l], sa, sw[l]);
                        dw[l] = 0.0;
                    }
                }
            }
        }
    }
    let res = if tc.promote_every.is_none() { &d } else { &acc32 };
    for (row, v) in out.chunks_mut(n).zip(res) {
        for (w, vw) in v.iter().enumerate() {
            let cols = (s0 + w) * L..((s0 + w) * L + L).min(n);
            row[cols.clone()].copy_from_slice(&vw[..cols.len()]);
        }
    }
}

/// The incoming accumulators of a block: their values, the exponent each
/// brings to the block's maximum (`zc` for zero, −126 for a subnormal: the
/// chain's grid), and the lanes that are not finite (kept as they are). Every
/// finite value is exact on the lanes, a subnormal one and a C under `c=mma`
/// with more bits than the chain's format included ([`c_on_grid`]).
#[derive(Clone, Copy)]
struct CTerm {
    dv: __m512,
    ce: __m512i,
    nonfinite: __mmask16,
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn c_term(f: &TcFast, d: &[f32; L]) -> CTerm {
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

/// One fused block `b0..b1` of row `a` against strips `b`, with incoming
/// accumulators `d` (updated in place); `LUT`: the products come from the
/// table `lut` (`Strips`).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold products `b0..b1`; the block lies in
/// one 32-product chunk; `buf` holds `b1 − b0` rows; `lut` is the table where
/// `LUT`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const LUT: bool, const W: usize>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    sum32: bool,
    b0: usize,
    b1: usize,
    buf: &mut [[__m512i; W]],
    d: &mut [[f32; L]; W],
) {
    let fb = f.tc.frac_bits as i32;
    let buf = &mut buf[..b1 - b0];
    // SAFETY (every pointer read below): products b0..b1 of row `a` and strips `b`.
    // pass 1: the block maximum of the product exponents
    let mut m = [_mm512_set1_epi32(ZERO_E); W];
    for (t, slot) in buf.iter_mut().enumerate() {
        let kk = b0 + t;
        let ea = unsafe { _mm512_set1_epi32(*a.e.add(kk)) };
        for w in 0..W {
            let x = _mm512_add_epi32(ea, unsafe { _mm512_loadu_si512(b[w].e.add(kk * L) as *const __m512i) });
            slot[w] = x;
            m[w] = _mm512_max_epi32(m[w], x);
        }
    }
    // the number of negative products: bits where the signs differ
    let (c, off, len) = (b0 / 32, (b0 % 32) as u32, (b1 - b0) as u32);
    let keep = _mm512_set1_epi32((if len >= 32 { u32::MAX } else { (1u32 << len) - 1 } << off) as i32);
    let am = _mm512_set1_epi32(unsafe { *a.mask.add(c) } as i32);
    let neg: [__m512i; W] = core::array::from_fn(|w| {
        let bm = unsafe { _mm512_loadu_si512(b[w].mask.add(c * L) as *const __m512i) };
        popcount(_mm512_and_si512(_mm512_xor_si512(bm, am), keep))
    });
    let ct: [CTerm; W] = core::array::from_fn(|w| c_term(f, &d[w]));
    for w in 0..W {
        m[w] = _mm512_max_epi32(m[w], ct[w].ce);
    }
    // pass 2: aligned, truncated products as one's complements, i32 partial sums
    // widened to i64 every 2^(29 − F) products
    let chunk = 1usize << (29 - fb);
    let mut lo = [_mm512_setzero_si512(); W];
    let mut hi = [_mm512_setzero_si512(); W];
    for (ci, part) in buf.chunks(chunk).enumerate() {
        let mut acc = [_mm512_setzero_si512(); W];
        for (t, x) in part.iter().enumerate() {
            let kk = b0 + ci * chunk + t;
            if LUT {
                // the one's complement product, truncated by an arithmetic shift
                let (tlo, thi) = unsafe {
                    let row = lut.add(*a.p.add(kk) as usize);
                    (_mm512_loadu_si512(row as *const __m512i), _mm512_loadu_si512(row.add(16) as *const __m512i))
                };
                for w in 0..W {
                    let idx = unsafe { _mm512_loadu_si512(b[w].q.add(kk * L) as *const __m512i) };
                    let p = _mm512_permutex2var_epi32(tlo, idx, thi);
                    acc[w] = _mm512_add_epi32(acc[w], _mm512_srav_epi32(p, _mm512_sub_epi32(m[w], x[w])));
                }
            } else {
                // |a| · (±b) − negative: the one's complement product, as the table's
                let (pa, off) = unsafe { (_mm512_set1_epi32(*a.p.add(kk)), *a.off.add(kk) as usize) };
                for w in 0..W {
                    let q = unsafe { _mm512_loadu_si512(b[w].q.add(2 * kk * L + off) as *const __m512i) };
                    let p = _mm512_madd_epi16(pa, q);
                    acc[w] = _mm512_add_epi32(acc[w], _mm512_srav_epi32(p, _mm512_sub_epi32(m[w], x[w])));
                }
            }
        }
        if sum32 {
            // (one chunk: `sum32` keeps every block below 2^(29 − F) products)
            for w in 0..W {
                finish32(f, m[w], _mm512_add_epi32(acc[w], neg[w]), &ct[w], &mut d[w]);
            }
            return;
        }
        for w in 0..W {
            lo[w] = _mm512_add_epi64(lo[w], _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[w])));
            hi[w] = _mm512_add_epi64(hi[w], _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(acc[w])));
        }
    }
    for w in 0..W {
        // one's complement to two's: add the number of negative products
        let lo = _mm512_add_epi64(lo[w], _mm512_cvtepi32_epi64(_mm512_castsi512_si256(neg[w])));
        let hi = _mm512_add_epi64(hi[w], _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(neg[w])));
        finish(f, m[w], lo, hi, &ct[w], &mut d[w]);
    }
}

/// The block's result from the product sum `s` (i32 lanes), the maximum `m`
/// and the incoming `c` (into `d`), where the product sum fits an i32: with C
/// converted toward zero to f32 (24 significant bits), cut to
/// `out_frac_bits + 1`, and scaled by 2^(m − F) toward zero, which is exact for
/// a normal result. Lanes whose sum with C leaves the i32 range, whose result is
/// below f32's normals, rounds to zero from a non-zero sum, or reaches f32::MAX
/// (where RZ stops an overflow) take the scalar route.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn finish32(f: &TcFast, m: __m512i, s: __m512i, c: &CTerm, d: &mut [f32; L]) {
    const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
    let (fb, ofb) = (f.tc.frac_bits as i32, f.tc.out_frac_bits);
    let cg = c_on_grid(f, m, c);
    let t = _mm512_add_epi32(s, cg);
    // the sum with C overflowed an i32 (both addends' signs differ from the sum's)
    let ovf = _mm512_movepi32_mask(_mm512_ternarylogic_epi32::<0x42>(s, cg, t));
    let keep = _mm512_set1_epi32(!((1i32 << (23 - ofb)) - 1));
    let r = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_cvt_roundepi32_ps::<RZ>(t)), keep));
    let r = _mm512_scalef_round_ps::<RZ>(r, _mm512_cvtepi32_ps(_mm512_sub_epi32(m, _mm512_set1_epi32(fb))));
    let mag = _mm512_abs_ps(r);
    let slow = (_mm512_test_epi32_mask(t, t) & _mm512_cmplt_ps_mask(mag, _mm512_set1_ps(f32::MIN_POSITIVE)))
        | _mm512_cmpnlt_ps_mask(mag, _mm512_set1_ps(f32::MAX))
        | ovf;
    settle(f, m, r, slow, c, d, || {
        let mut ss = [0i32; L];
        // SAFETY: `ss` holds 16 i32.
        unsafe { _mm512_storeu_si512(ss.as_mut_ptr() as *mut __m512i, s) };
        ss.map(i64::from)
    });
}

/// C's term on the block's `2^(m − F)` grid (truncated), signed, in i32 lanes:
/// C scaled by 2^(F − m) (exact where the result is normal; below 2^-126 it
/// is below 1 either way) and converted toward zero. Below 2^(F+1), as C's
/// exponent is at most `m`: the one truncation of C's exact value that the
/// reference makes (`TcFast::c_contribution`). Meaningless where C is not finite.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn c_on_grid(f: &TcFast, m: __m512i, c: &CTerm) -> __m512i {
    const RZ: i32 = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
    let sh = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(f.tc.frac_bits as i32), m));
    _mm512_cvttps_epi32(_mm512_scalef_round_ps::<RZ>(c.dv, sh))
}

/// Stores a block's lane results `r` into `d`: an empty block gives +0, a chain
/// that entered ±Inf or NaN stays, and the `slow` lanes are redone by the
/// scalar route from the product sums `sums()` (without C).
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
    let d0 = *d;
    let empty = _mm512_cmple_epi32_mask(m, _mm512_set1_epi32(ZERO_E / 2));
    let fin = !c.nonfinite;
    let out = _mm512_mask_mov_ps(c.dv, fin, _mm512_maskz_mov_ps(!empty, r));
    // SAFETY: `d` holds 16 f32.
    unsafe { _mm512_storeu_ps(d.as_mut_ptr(), out) };
    let scalar = slow & fin & !empty;
    if scalar != 0 {
        let (mut mm, sprod) = ([0i32; L], sums());
        // SAFETY: `mm` holds 16 i32.
        unsafe { _mm512_storeu_si512(mm.as_mut_ptr() as *mut __m512i, m) };
        for l in 0..L {
            if scalar >> l & 1 == 1 {
                d[l] = f.finish(sprod[l] + f.c_contribution(f.c_term(d0[l]), mm[l]), mm[l]);
            }
        }
    }
}

/// The block's result from the product sums `lo`/`hi` (i64, lanes 0–7 and
/// 8–15), the maximum `m` and the incoming `c` (into `d`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn finish(f: &TcFast, m: __m512i, lo: __m512i, hi: __m512i, c: &CTerm, d: &mut [f32; L]) {
    let (fb, ofb) = (f.tc.frac_bits as i32, f.tc.out_frac_bits);
    let ct = c_on_grid(f, m, c);
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
