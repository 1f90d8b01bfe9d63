//! The pieces the 16-lane tensor-core kernels share (`g16_fast`, `fold_fast`,
//! `tc_fast::cdna3`): B in strips of lane columns, the strip-by-strip row loop,
//! a chain value as a term, a term on a block's grid, and the RZ rounding of a
//! block's exact sum. Plain lane code: each kernel's `dispatch!` builds compile
//! it with their target features.

use super::exact::{FloatFmt, OutRounding, round_mag};
use crate::simd::Lines;

/// An exponent below this marks a block without a term that counts toward its
/// maximum (the kernels' "no term" exponents are −2^20 and below): its result is +0.
pub(crate) const EMPTY_BELOW: i32 = -(1 << 18);

/// A chain value as the lane kernels read it from its bits: `(e, signed sig)`
/// with value `sig · 2^(e − 23)`, a normal f32 its 24-bit significand, a
/// subnormal or zero one its field at exponent −126 (the value `factor(c, −126)`
/// gives). Meaningless for ±Inf and NaN, which the callers keep as they are.
#[inline(always)]
pub(crate) fn f32_term(c: f32) -> (i32, i64) {
    let b = c.to_bits();
    let be = ((b >> 23) & 0xFF) as i32;
    let mag = ((b & 0x7F_FFFF) | (((be != 0) as u32) << 23)) as i64;
    (be.max(1) - 127, if b >> 31 == 1 { -mag } else { mag })
}

/// The chain values `d` as terms ([`f32_term`]: exponents and signed
/// significands) and the exponent each brings to its block's maximum: its own,
/// or `none` for a zero that does not count (`zero_exp` off).
#[inline(always)]
pub(crate) fn chain_terms<const W: usize>(d: &[f32; W], zero_exp: bool, none: i32) -> ([i32; W], [i64; W], [i32; W]) {
    let (mut ce, mut csig, mut m) = ([0i32; W], [0i64; W], [0i32; W]);
    for l in 0..W {
        (ce[l], csig[l]) = f32_term(d[l]);
        m[l] = if csig[l] != 0 || zero_exp { ce[l] } else { none };
    }
    (ce, csig, m)
}

/// A kernel of `W` output lanes: `lanes(i, strip, d)` turns the chain starts
/// `d` of row `i`'s outputs in columns `W·strip ..` (padding lanes +0) into their
/// results. A trait rather than a closure, so that [`by_strips`] inlines it into
/// each SIMD build (a closure is compiled on its own, without the build's
/// target features).
pub(crate) trait Lanes<const W: usize> {
    fn lanes(&self, i: usize, strip: usize, d: &mut [f32; W]);
}

/// Every output of whole rows `i0..` (`rows`, `[.., n]`) through a lane kernel,
/// strip by strip, so that one strip of B serves all the rows while it is in
/// cache.
#[inline(always)]
pub(crate) fn by_strips<const W: usize, K: Lanes<W>>(k: &K, rows: &mut [f32], n: usize, i0: usize) {
    for strip in 0..n.div_ceil(W) {
        let cols = strip * W..(strip * W + W).min(n);
        for (r, row) in rows.chunks_mut(n).enumerate() {
            let out = &mut row[cols.clone()];
            let mut d = [0f32; W];
            d[..out.len()].copy_from_slice(out);
            k.lanes(i0 + r, strip, &mut d);
            out.copy_from_slice(&d[..out.len()]);
        }
    }
}

/// `x` (`[n, k]` row-major) as `[n/w][k][w]` strips of `f(value)`, padding
/// lanes `pad`: B's layout for the lane kernels, starting on a cache line.
pub(crate) fn strips(x: &[i32], n: usize, k: usize, w: usize, pad: i32, f: impl Fn(i32) -> i32) -> Lines<i32> {
    let mut out = Lines::new(n.div_ceil(w) * k * w, pad);
    for j in 0..n {
        for kk in 0..k {
            out[((j / w) * k + kk) * w + j % w] = f(x[j * k + kk]);
        }
    }
    out
}

/// A signed magnitude `v` moved `sh` bits up (`sh ≥ 0`) or truncated `−sh` bits
/// down, toward zero (a term aligned onto a block's grid).
#[inline(always)]
pub(crate) fn on_grid(v: i64, sh: i32) -> i64 {
    let a = v.unsigned_abs();
    let t = if sh >= 0 { a << sh.min(63) } else { a >> (-sh).min(63) } as i64;
    if v < 0 { -t } else { t }
}

/// The results of blocks whose exact sums are `sum · 2^(m − f)` (`|sum| < 2^53`),
/// rounded toward zero to `fmt` (f32 range, `fmt.frac_bits` fraction bits), into
/// `d`: through an exact f64, a result outside f32's normal range through
/// `round_mag`. A block with `m < EMPTY_BELOW` or a zero sum gives +0, and a
/// chain that is ±Inf or NaN on entry (`d`) stays as it is (`TensorCore::fused`).
#[inline(always)]
pub(crate) fn finish_rz<const W: usize>(sum: &[i64; W], m: &[i32; W], f: i32, fmt: FloatFmt, d: &mut [f32; W]) {
    let ofb = fmt.frac_bits;
    let mut r = [0f32; W];
    let mut slow = [false; W];
    for l in 0..W {
        let v = sum[l] as f64;
        let top = m[l] - f + ((v.to_bits() >> 52) & 0x7FF) as i32 - 1023;
        let cut = f64::from_bits(v.to_bits() & !((1u64 << (52 - ofb)) - 1));
        let p = f64::from_bits(((m[l] - f + 1023).clamp(1, 2046) as u64) << 52);
        let zero = sum[l] == 0 || m[l] < EMPTY_BELOW;
        r[l] = if zero { 0.0 } else { (cut * p) as f32 };
        slow[l] = !zero && !(-126..=127).contains(&top);
        r[l] = if d[l].is_finite() { r[l] } else { d[l] };
        slow[l] &= d[l].is_finite();
    }
    // (the rare lanes one by one, from a bit mask rather than a test per lane)
    let mut bits = slow.iter().enumerate().fold(0u64, |b, (l, &s)| b | (s as u64) << l);
    while bits != 0 {
        let l = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        r[l] = rz_scalar(sum[l], m[l] - f, fmt);
    }
    *d = r;
}

/// `sum · 2^e` rounded toward zero to `fmt` (`round_mag`, a zero result +0):
/// the scalar route of a block result outside f32's normal range.
pub(crate) fn rz_scalar(sum: i64, e: i32, fmt: FloatFmt) -> f32 {
    let v = round_mag(sum.unsigned_abs() as u128, e, false, fmt, OutRounding::Rz) as f32;
    if sum < 0 && v != 0.0 { -v } else { v }
}

/// Rows of A per parallel task of the lane kernels: each strip of B is reused for
/// this many rows while it sits in L2.
pub(crate) const ROWS: usize = 16;

/// Every output's f32 accumulator into `out` (`[M, N]`), each chain starting from
/// `out`'s value (C under `c=mma`, else +0): tasks of [`ROWS`] whole rows in
/// parallel (rayon), `rows(i0, rows)` computing rows `i0..`.
pub(crate) fn par_rows(out: &mut [f32], m: usize, n: usize, rows: impl Fn(usize, &mut [f32]) + Sync) {
    assert_eq!(out.len(), m * n, "accumulator array");
    par_row_groups(out, n, ROWS, rows)
}

/// As [`par_rows`], with tasks of `group` rows (`out`: whole rows of `n`).
pub(crate) fn par_row_groups(out: &mut [f32], n: usize, group: usize, rows: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    if n == 0 {
        return;
    }
    out.par_chunks_mut(n * group).enumerate().for_each(|(t, r)| rows(t * group, r));
}
