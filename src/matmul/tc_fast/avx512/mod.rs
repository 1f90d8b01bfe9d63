//! AVX-512 build of the fused-block kernel of [`super::TcFast`]: sixteen outputs
//! at once (one row of A against a 16-column strip of B), i32 lanes for the
//! aligned, truncated products (partial sums widened to i64 every `2^(29 − F)`
//! products, so `F` up to 29 fraction bits: Hopper FP8, and the 25-bit
//! Blackwell and BF16/F16/TF32 kinds that the AVX2 build runs in i64 per output),
//! and the block's normalization and RZ in f32 lanes where the block's sum fits
//! an i32 ([`finish32`]), else in f64 lanes. Rows are visited block by block, so
//! that a strip's K block serves every row of a group from L1.
//!
//! Per product: an exponent add and a max (pass 1), then (the exponent kept in
//! a register for blocks of 4 and 8, added again for longer ones) the shift distance,
//! the product as a one's complement where negative (a table permute for
//! significands below 16, one `vpmaddwd` and one more bit of shift for wider
//! ones: [`Strips`]), an
//! arithmetic shift (which truncates a one's complement toward zero; counts of
//! 32 and more give 0 or −1) and an add; the count of negative products, added
//! once per block, makes the sum a two's complement. The incoming accumulator
//! joins the sum scaled onto the block's grid in f32 and converted toward zero.
//! Lanes whose result leaves f32's normal range take the scalar route of the
//! portable build; a chain that is ±Inf or NaN stays as it is.
//!
//! CDNA3 groups take the same products and shifts, stage by stage (even and
//! odd positions for FP8), and finish with CDNA3's alignment with C and RNE in
//! i32 and f32 lanes (`cdna3`, `finish::cdna3_finish`).
//!
//! Equal to the portable build bit for bit (`fast::tests`,
//! `tests/matmul_props.rs` run every build the CPU has).
#![allow(unsafe_code)]

mod cdna3;
mod finish;

use super::{TcFast, ZERO_E};
use crate::matmul::tc::Order;
use crate::simd::Lines;
use cdna3::cdna3_group;
use core::arch::x86_64::*;
use finish::{CTerm, c_term, finish, finish32};

/// Lanes per strip.
const L: usize = 16;

/// The operands as the kernel reads them: B as 16-column strips `[N/16][K][16]`
/// of exponents and, for significands below 16 (every FP8, FP6 and FP4 format),
/// a table of the shifted products, as one's complements where negative
/// (`lut[32 · ia + ib]`, `i = |sig| + 16 · negative`), and each element's index
/// into it. For wide significands, instead, word pairs `(sig << u, ±1)` (the
/// sign of a zero is +) that `vpmaddwd` turns into `2 · product ± 1`, B's as
/// `[N/16][K][16]` ([`madd_split`]): shifted one further right, that is the
/// product truncated as a one's complement where negative (for a non-negative
/// product `2p + 1` and `2p` give the same quotient, for a negative one
/// `2p − 1` and `2p − 2 = 2(p − 1)`, since an odd number is never a multiple of
/// the power of two). Sign bits per 32-product chunk for both (`bmask`
/// `[N/16][K/32][16]`).
pub(super) struct Strips {
    e: Lines<i32>,
    q: Lines<i32>,
    bmask: Vec<u32>,
    pa: Vec<i32>,
    amask: Vec<u32>,
    lut: Option<Vec<i32>>,
    /// A block's whole sum (products, the negative count and C) fits an i32 lane:
    /// the block finishes in 16 f32 lanes ([`finish32`]) instead of two i64/f64 halves.
    sum32: bool,
    /// Blocks of 4 or 8 (CDNA3: one-stage groups of 4), aligned within the
    /// 32-product chunks: their negative products are counted once per chunk
    /// ([`chunk_counts`]) rather than per block. (CDNA3's groups of 8 ran
    /// slower so: BENCHMARKS.md.)
    grouped: bool,
}

/// The table index of a significand below 16.
fn lut_index(sig: i32) -> i32 {
    sig.abs() + 16 * (sig < 0) as i32
}

/// Whether every significand is below 16 (the table applies).
fn small(f: &TcFast) -> bool {
    f.sig_a.iter().chain(&f.sig_b).all(|x| x.unsigned_abs() < 16)
}

/// How wide significands take `up + 1` (the shift onto the block grid, and
/// the factor 2 of `2 · product ± 1`) into the two 16-bit words `vpmaddwd`
/// multiplies: `(u_a, u_b)` with `u_a + u_b = up + 1` and `|sig| << u` below
/// 2^15 on both sides, if there is such a split (every BF16, F16 and TF32
/// instruction: their products are at most 22 bits and `F ≤ 25`, so
/// `bits_a + bits_b + up + 1 = F + 3 ≤ 30`).
fn madd_split(f: &TcFast) -> Option<(u32, u32)> {
    let bits = |s: &[i32]| u32::BITS - s.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0).leading_zeros();
    let (ba, bb) = (bits(&f.sig_a), bits(&f.sig_b));
    let ua = (f.up + 1).min(15u32.saturating_sub(ba));
    let ub = f.up + 1 - ua;
    (ba + ua <= 15 && bb + ub <= 15).then_some((ua, ub))
}

/// Whether the AVX-512 build applies: every product term fits an i32 and comes
/// from the table or from `vpmaddwd` ([`madd_split`]), an NVIDIA result rounds
/// toward zero (the lanes' normalization), a CDNA3 group sums within an i32,
/// and no fused block crosses a 32-product boundary (a block's signs are one
/// shift of a chunk mask).
pub(super) fn applies(f: &TcFast) -> bool {
    let tc = f.tc;
    let model = if f.cdna3 {
        // (a group's products sum within an i32 lane)
        super::cdna3::applies(f)
    } else {
        tc.acc == crate::matmul::AccType::F32
            && tc.frac_bits <= 29
            && tc.out_rounding == crate::matmul::exact::OutRounding::Rz
    };
    model
        && (small(f) || madd_split(f).is_some())
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
        let (ua, ub) = if small { (0, 0) } else { madd_split(f).unwrap_or((0, f.up + 1)) };
        // a word pair: the significand shifted, and its sign as ±1 (+1 for zero)
        let pair = |x: i32, u: u32| ((x << u) & 0xFFFF) | (if x < 0 { -1 } else { 1 } << 16);
        let q = if small {
            crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, lut_index)
        } else {
            crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, |x| pair(x, ub))
        };
        let rowmask = masks(&f.sig_b, k);
        let mut bmask = vec![0u32; n.div_ceil(L) * chunks * L];
        for j in 0..n {
            for c in 0..chunks {
                bmask[(j / L * chunks + c) * L + j % L] = rowmask[j * chunks + c];
            }
        }
        let (pa, lut) = if small {
            // the product of table indices ia and ib, shifted; one's complement when negative
            let lut = (0..32 * 32)
                .map(|t: i32| {
                    let (ia, ib) = (t / 32, t % 32);
                    let v = ((ia % 16) * (ib % 16)) << f.up;
                    if (ia >= 16) != (ib >= 16) { !v } else { v }
                })
                .collect();
            (f.sig_a.iter().map(|&x| 32 * lut_index(x)).collect(), Some(lut))
        } else {
            (f.sig_a.iter().map(|&x| pair(x, ua)).collect(), None)
        };
        // each truncated product is below 2^(F+2) (its one's complement at least
        // −2^(F+2)), so n of them and the negative count sum within an i32 where
        // n · 2^(F+2) ≤ 2^31; C's term (below 2^(F+1)) is added with an overflow check
        let nmax = f.tc.blocks(0, f.tc.k_inst).map(|(b0, b1)| b1 - b0).max().unwrap_or(0).max(f.tc.n);
        let sum32 = (nmax as u64) << (f.tc.frac_bits + 2) <= 1 << 31;
        let grouped = if f.cdna3 { f.tc.n == 4 && f.tc.order != Order::EvenOdd } else { matches!(f.tc.n, 4 | 8) }
            && f.tc.k_inst.is_multiple_of(f.tc.n);
        Strips { e, q, bmask, pa, amask: masks(&f.sig_a, k), lut, sum32, grouped }
    }
}

/// One row of A from product `0`: exponents, table rows or word pairs, sign
/// masks (as `Strips`).
#[derive(Clone, Copy)]
struct RowA {
    e: *const i32,
    p: *const i32,
    mask: *const u32,
}

/// One 16-column strip of B from product `0` (as `Strips`).
#[derive(Clone, Copy)]
struct StripB {
    e: *const i32,
    q: *const i32,
    mask: *const u32,
}

/// The number of set bits of each nibble of `x` (nibble table): those of
/// the low nibbles in `.0`'s bytes, of the high nibbles in `.1`'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn nibble_counts(x: __m512i) -> (__m512i, __m512i) {
    let lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    let nib = _mm512_set1_epi8(0x0F);
    let lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, nib));
    let hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32::<4>(x), nib));
    (lo, hi)
}

/// The number of set bits of each 32-bit lane.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn popcount(x: __m512i) -> __m512i {
    let (lo, hi) = nibble_counts(x);
    let bytes = _mm512_add_epi8(lo, hi);
    _mm512_madd_epi16(_mm512_maddubs_epi16(bytes, _mm512_set1_epi8(1)), _mm512_set1_epi16(1))
}

/// The negative products of 32-product chunk `c` counted per aligned group of
/// `n` (4 or 8) positions: group `g`'s count in bits `n·g ..` of each lane
/// (nibbles for 4, bytes for 8), read by [`group_count`]. One nibble table
/// lookup per chunk instead of a popcount per block.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; chunk `c` lies in `a`'s and `b`'s sign masks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn chunk_counts<const W: usize>(a: RowA, b: &[StripB; W], c: usize, n: usize) -> [__m512i; W] {
    // SAFETY: as this function's.
    let am = _mm512_set1_epi32(unsafe { *a.mask.add(c) } as i32);
    core::array::from_fn(|w| {
        let bm = unsafe { _mm512_loadu_si512(b[w].mask.add(c * L) as *const __m512i) };
        let (lo, hi) = nibble_counts(_mm512_xor_si512(bm, am));
        // (a nibble's count is at most 4: it fits its nibble; a byte's at most 8)
        if n == 4 { _mm512_or_si512(lo, _mm512_slli_epi32::<4>(hi)) } else { _mm512_add_epi8(lo, hi) }
    })
}

/// The count of the `n`-position group at `off` (a multiple of `n`) of a chunk
/// from [`chunk_counts`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn group_count(counts: __m512i, off: usize, n: usize) -> __m512i {
    let sh = _mm512_srl_epi32(counts, _mm_cvtsi32_si128(off as i32));
    _mm512_and_si512(sh, _mm512_set1_epi32((1 << n) - 1))
}

/// Strips of B per pass of a row ([`rows`]): four (each A row's table row
/// and exponent serve 64 columns), but two for blocks and CDNA3 groups of 4
/// and 8, which run unrolled with their `n · W` product exponents held in
/// registers between the two passes: with four strips, 16 or 32 of the 32
/// vector registers, they spilled to the stack (BENCHMARKS.md).
fn strips_per_pass(f: &TcFast) -> usize {
    if matches!(f.tc.n, 4 | 8) { 2 } else { 4 }
}

/// Rows `i0..` of the accumulators (`out` holds whole rows),
/// [`strips_per_pass`] strips at a time, then single strips.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ; `st` was built from `f`, whose
/// blocks pass [`applies`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn rows(f: &TcFast, st: &Strips, i0: usize, out: &mut [f32]) {
    let (strips, per_pass) = (f.kv.b.rows().div_ceil(L), strips_per_pass(f));
    let wide = if per_pass == 4 { strip_kernel::<4>(f, st) } else { strip_kernel::<2>(f, st) };
    let one = strip_kernel::<1>(f, st);
    let mut s0 = 0;
    while s0 < strips {
        let (w, kernel) = if s0 + per_pass <= strips { (per_pass, wide) } else { (1, one) };
        // SAFETY: as this function's; the kernel was chosen for `st`.
        unsafe { kernel(f, st, i0, s0, out) };
        s0 += w;
    }
}

/// The rows' loop over `W` strips ([`strip_rows`]).
type StripRows = unsafe fn(&TcFast, &Strips, usize, usize, &mut [f32]);

/// [`strip_rows`] for `W` strips, chosen once per call of [`rows`] by the
/// operands (table or word pairs) and the vendor (NVIDIA blocks or CDNA3
/// groups), each compiled apart.
fn strip_kernel<const W: usize>(f: &TcFast, st: &Strips) -> StripRows {
    match (st.lut.is_some(), f.cdna3) {
        (true, false) => strip_rows::<true, W, false>,
        (false, false) => strip_rows::<false, W, false>,
        (true, true) => strip_rows::<true, W, true>,
        (false, true) => strip_rows::<false, W, true>,
    }
}

/// Strips `s0..s0 + W` of rows `i0..`.
///
/// # Safety
/// As [`rows`]; `LUT` exactly when `st` has the table; strips `s0..s0 + W` exist.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline(never)]
unsafe fn strip_rows<const LUT: bool, const W: usize, const CDNA3: bool>(
    f: &TcFast,
    st: &Strips,
    i0: usize,
    s0: usize,
    out: &mut [f32],
) {
    let (n, k) = (f.kv.b.rows(), f.kv.a.k());
    let rows = out.len() / n.max(1);
    let chunks = k.div_ceil(32);
    let tc = f.tc;
    // the chains start from `out` (C under `c=mma`, else +0); padding lanes +0
    let mut d = vec![[[0f32; L]; W]; rows];
    for (dr, row) in d.iter_mut().zip(out.chunks(n.max(1))) {
        for (w, dw) in dr.iter_mut().enumerate() {
            let cols = ((s0 + w) * L).min(n)..((s0 + w) * L + L).min(n);
            dw[..cols.len()].copy_from_slice(&row[cols]);
        }
    }
    let mut acc32 = vec![[[0f32; L]; W]; rows];
    let row = |i: usize| RowA {
        e: f.ea[i * k..].as_ptr(),
        p: st.pa[i * k..].as_ptr(),
        mask: st.amask[i * chunks..].as_ptr(),
    };
    let lut = st.lut.as_deref().map_or(core::ptr::null(), <[i32]>::as_ptr);
    let b: [StripB; W] = core::array::from_fn(|w| {
        let (strip, base) = (s0 + w, (s0 + w) * k * L);
        StripB { e: st.e[base..].as_ptr(), q: st.q[base..].as_ptr(), mask: st.bmask[strip * chunks * L..].as_ptr() }
    });
    let late = super::LateC::of(tc);
    // CDNA3's group kernels, for groups of `n` (unrolled where 4 or 8) and for
    // shorter ones, called out of line (inlined into this loop, the groups of
    // 8 ran slower: BENCHMARKS.md)
    let groups: (CdnaGroup<W>, CdnaGroup<W>) = core::hint::black_box(match tc.n {
        4 => (cdna3_group::<LUT, W, 4>, cdna3_group::<LUT, W, 0>),
        8 => (cdna3_group::<LUT, W, 8>, cdna3_group::<LUT, W, 0>),
        _ => (cdna3_group::<LUT, W, 0>, cdna3_group::<LUT, W, 0>),
    });
    // the chunk counts of the negative products, per row while its chunk lasts
    let mut counts = vec![(usize::MAX, [_mm512_setzero_si512(); W]); if st.grouped { rows } else { 0 }];
    // C of each row's instruction where it comes late
    let mut cs = vec![[[0f32; L]; W]; if late.late() { rows } else { 0 }];
    for (k0, k1) in tc.instructions(k) {
        if late.late() {
            for (dr, c) in d.iter_mut().zip(cs.iter_mut()) {
                for (dr, c) in dr.iter_mut().zip(c.iter_mut()) {
                    // SAFETY: AVX-512 is enabled here.
                    unsafe { late.start16(dr, c) };
                }
            }
        }
        // block by block across the rows: a row's next block depends on its
        // last, so the rows between them overlap
        for (b0, b1) in tc.blocks(k0, k1) {
            for (r, dr) in d.iter_mut().enumerate() {
                let a = row(i0 + r);
                // SAFETY: AVX-512 is enabled here; row i0 + r < M, products
                // b0..b1 <= K and the strips' lanes are in the arrays.
                unsafe {
                    if CDNA3 {
                        // (groups of 4: their negative products counted per chunk,
                        // as NVIDIA's blocks below; written out in both branches:
                        // as one shared function, `bf16/sm80` ran 11.98 against
                        // 14.59, `tf32/cdna3` 10.27 against 10.64)
                        let neg = (st.grouped && b1 - b0 == 4).then(|| {
                            let (c, cnt) = &mut counts[r];
                            if *c != b0 / 32 {
                                *c = b0 / 32;
                                *cnt = chunk_counts::<W>(a, &b, b0 / 32, 4);
                            }
                            core::array::from_fn(|w| group_count(cnt[w], b0 % 32, 4))
                        });
                        let group = if b1 - b0 == tc.n { groups.0 } else { groups.1 };
                        group(f, a, &b, lut, neg, b0, b1, dr);
                    } else {
                        let neg = if st.grouped {
                            let (c, cnt) = &mut counts[r];
                            if *c != b0 / 32 {
                                *c = b0 / 32;
                                *cnt = chunk_counts::<W>(a, &b, b0 / 32, tc.n);
                            }
                            core::array::from_fn(|w| group_count(cnt[w], b0 % 32, tc.n))
                        } else {
                            negatives::<W>(a, &b, b0, b1, u32::MAX)
                        };
                        match (st.sum32, b1 - b0) {
                            (true, 4) => block_n::<LUT, W, 4>(f, a, &b, lut, neg, b0, dr),
                            (true, 8) => block_n::<LUT, W, 8>(f, a, &b, lut, neg, b0, dr),
                            _ => block::<LUT, W>(f, a, &b, lut, st.sum32, neg, b0, b1, dr),
                        }
                    }
                };
            }
        }
        if late.late() {
            for (dr, c) in d.iter_mut().zip(&cs) {
                for (dr, c) in dr.iter_mut().zip(c) {
                    // SAFETY: AVX-512 is enabled here.
                    unsafe { late.end16(dr, c) };
                }
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

/// A CDNA3 group kernel ([`cdna3_group`]).
type CdnaGroup<const W: usize> =
    unsafe fn(&TcFast, RowA, &[StripB; W], *const i32, Option<[__m512i; W]>, usize, usize, &mut [[f32; L]; W]);

/// Pass 1 over `n` positions `b0, b0 + STEP, …`: their maximum product
/// exponent into `m`, and where `KEEP` each exponent into `x` (whose length
/// is then `n`) for pass 2 ([`add_terms`]). Blocks of 4 and 8 keep them, in
/// registers; longer blocks and groups do not, and their pass 2 adds each
/// exponent again: one add per product and strip instead of a store and a
/// load (11–15 % on the blocks of 16 and 32, BENCHMARKS.md).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold the positions.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn exps<const W: usize, const STEP: usize, const KEEP: bool>(
    a: RowA,
    b: &[StripB; W],
    b0: usize,
    n: usize,
    x: &mut [[__m512i; W]],
    m: &mut [__m512i; W],
) {
    // (the length of a kept array: known at compile time where it is one; `x`
    // is empty where not `KEEP`, so the positions are counted, not iterated)
    let n = if KEEP { x.len() } else { n };
    #[allow(clippy::needless_range_loop)]
    for t in 0..n {
        let kk = b0 + STEP * t;
        // SAFETY: as this function's.
        let ea = unsafe { _mm512_set1_epi32(*a.e.add(kk)) };
        for w in 0..W {
            let e = _mm512_add_epi32(ea, unsafe { _mm512_loadu_si512(b[w].e.add(kk * L) as *const __m512i) });
            if KEEP {
                x[t][w] = e;
            }
            m[w] = _mm512_max_epi32(m[w], e);
        }
    }
}

/// The number of negative products among positions `b0..b1` picked by `pick`
/// (bits of the 32-product chunk): bits where the signs differ.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `b0..b1` lies in one chunk of `a` and `b`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn negatives<const W: usize>(a: RowA, b: &[StripB; W], b0: usize, b1: usize, pick: u32) -> [__m512i; W] {
    let (c, off, len) = (b0 / 32, (b0 % 32) as u32, (b1 - b0) as u32);
    let keep = (if len >= 32 { u32::MAX } else { (1u32 << len) - 1 } << off) & pick;
    let keep = _mm512_set1_epi32(keep as i32);
    // SAFETY: as this function's.
    let am = _mm512_set1_epi32(unsafe { *a.mask.add(c) } as i32);
    core::array::from_fn(|w| {
        let bm = unsafe { _mm512_loadu_si512(b[w].mask.add(c * L) as *const __m512i) };
        popcount(_mm512_and_si512(_mm512_xor_si512(bm, am), keep))
    })
}

/// Product `kk` of row `a` against strips `b`, shifted by `up`, as a one's
/// complement where negative, from the table (`LUT`); else `2 · a · b ± 1`
/// through `vpmaddwd` (`Strips`), which takes one more right shift
/// ([`pre_shift`]).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold product `kk`; `lut` is the table where `LUT`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn products<const LUT: bool, const W: usize>(
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    kk: usize,
) -> [__m512i; W] {
    // SAFETY (every read): as this function's.
    if LUT {
        let (tlo, thi) = unsafe {
            let row = lut.add(*a.p.add(kk) as usize);
            (_mm512_loadu_si512(row as *const __m512i), _mm512_loadu_si512(row.add(16) as *const __m512i))
        };
        core::array::from_fn(|w| {
            let idx = unsafe { _mm512_loadu_si512(b[w].q.add(kk * L) as *const __m512i) };
            _mm512_permutex2var_epi32(tlo, idx, thi)
        })
    } else {
        let pa = unsafe { _mm512_set1_epi32(*a.p.add(kk)) };
        core::array::from_fn(|w| {
            _mm512_madd_epi16(pa, unsafe { _mm512_loadu_si512(b[w].q.add(kk * L) as *const __m512i) })
        })
    }
}

/// The exponents `m` from which a product's exponent is subtracted to give its
/// right shift: `m` for the table's products, `m + 1` for `vpmaddwd`'s
/// `2 · a · b ± 1` ([`products`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn pre_shift<const LUT: bool, const W: usize>(m: &[__m512i; W]) -> [__m512i; W] {
    core::array::from_fn(|w| if LUT { m[w] } else { _mm512_add_epi32(m[w], _mm512_set1_epi32(1)) })
}

/// A block's pass 1 and C: the block maxima `m` of the `n` products at `b0..`
/// ([`exps`]) with C's exponents counted, and C's terms (the incoming
/// accumulators `d`).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold the positions.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn maxima<const W: usize, const KEEP: bool>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    b0: usize,
    n: usize,
    x: &mut [[__m512i; W]],
    d: &[[f32; L]; W],
) -> ([__m512i; W], [CTerm; W]) {
    let mut m = [_mm512_set1_epi32(ZERO_E); W];
    // SAFETY: as this function's.
    unsafe { exps::<W, 1, KEEP>(a, b, b0, n, x, &mut m) };
    let ct: [CTerm; W] = core::array::from_fn(|w| c_term(f, &d[w]));
    for w in 0..W {
        m[w] = _mm512_max_epi32(m[w], ct[w].ce);
    }
    (m, ct)
}

/// A block's pass 2 over `n` products at `kk0, kk0 + STEP, …` (their
/// exponents kept in `x` where `KEEP`, else added again: [`exps`]): each
/// aligned onto the maxima `m` and truncated as a one's complement where
/// negative, added to `acc` in i32 lanes.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold the positions; `lut` is the table where `LUT`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn add_terms<const LUT: bool, const W: usize, const STEP: usize, const KEEP: bool>(
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    m: &[__m512i; W],
    kk0: usize,
    n: usize,
    x: &[[__m512i; W]],
    acc: &mut [__m512i; W],
) {
    let top = pre_shift::<LUT, W>(m);
    let n = if KEEP { x.len() } else { n };
    #[allow(clippy::needless_range_loop)]
    for t in 0..n {
        let kk = kk0 + STEP * t;
        // SAFETY (every read): as this function's.
        let p = unsafe { products::<LUT, W>(a, b, lut, kk) };
        let ea = unsafe { _mm512_set1_epi32(*a.e.add(kk)) };
        for w in 0..W {
            let sh = if KEEP {
                _mm512_sub_epi32(top[w], x[t][w])
            } else {
                let eb = unsafe { _mm512_loadu_si512(b[w].e.add(kk * L) as *const __m512i) };
                _mm512_sub_epi32(_mm512_sub_epi32(top[w], ea), eb)
            };
            acc[w] = _mm512_add_epi32(acc[w], _mm512_srav_epi32(p[w], sh));
        }
    }
}

/// Whether the sum with C of a block of `n` products that fits an i32 (the
/// negative count included) can leave the i32 range ([`finish32`]'s `wide`):
/// each truncated product is below 2^(F+2), C's term below 2^(F+1).
fn wide(f: &TcFast, n: usize) -> bool {
    let fb = f.tc.frac_bits;
    ((n as u64) << (fb + 2)) + (1 << (fb + 1)) >= 1 << 31
}

/// One fused block `b0..b1` of row `a` against strips `b`, with incoming
/// accumulators `d` (updated in place) and its count of negative products per
/// lane `neg`; `LUT`: the products come from the table `lut` (`Strips`);
/// `sum32`: the block's sum fits an i32 (`Strips::sum32`).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `a` and `b` hold products `b0..b1`; the block lies in
/// one 32-product chunk; `lut` is the table where `LUT`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const LUT: bool, const W: usize>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    sum32: bool,
    neg: [__m512i; W],
    b0: usize,
    b1: usize,
    d: &mut [[f32; L]; W],
) {
    let n = b1 - b0;
    // SAFETY (the passes): products b0..b1 of row `a` and strips `b`.
    let (m, ct) = unsafe { maxima::<W, false>(f, a, b, b0, n, &mut [], d) };
    if sum32 {
        // (the negative count first: a two's complement once every product is in)
        let mut acc = neg;
        unsafe { add_terms::<LUT, W, 1, false>(a, b, lut, &m, b0, n, &[], &mut acc) };
        let wide = wide(f, b1 - b0);
        for w in 0..W {
            finish32(f, m[w], acc[w], &ct[w], wide, &mut d[w]);
        }
        return;
    }
    // i32 partial sums widened to i64 every 2^(29 − F) products
    let chunk = 1usize << (29 - f.tc.frac_bits);
    let mut lo = [_mm512_setzero_si512(); W];
    let mut hi = [_mm512_setzero_si512(); W];
    for c0 in (0..n).step_by(chunk) {
        let mut acc = [_mm512_setzero_si512(); W];
        unsafe { add_terms::<LUT, W, 1, false>(a, b, lut, &m, b0 + c0, chunk.min(n - c0), &[], &mut acc) };
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

/// [`block`] for a block of exactly `N` products whose sum fits an i32: the
/// length known at compile time unrolls both passes and keeps the product
/// exponents in registers between them (blocks of 4 and 8; BENCHMARKS.md).
///
/// # Safety
/// As [`block`] with `b1 = b0 + N` and `sum32`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn block_n<const LUT: bool, const W: usize, const N: usize>(
    f: &TcFast,
    a: RowA,
    b: &[StripB; W],
    lut: *const i32,
    neg: [__m512i; W],
    b0: usize,
    d: &mut [[f32; L]; W],
) {
    let mut x = [[_mm512_setzero_si512(); W]; N];
    // SAFETY (the passes): as this function's.
    let (m, ct) = unsafe { maxima::<W, true>(f, a, b, b0, N, &mut x, d) };
    let mut acc = neg;
    unsafe { add_terms::<LUT, W, 1, true>(a, b, lut, &m, b0, N, &x, &mut acc) };
    let wide = wide(f, N);
    for w in 0..W {
        finish32(f, m[w], acc[w], &ct[w], wide, &mut d[w]);
    }
}
