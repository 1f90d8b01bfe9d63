//! Fast path of the tensor-core model for narrow elements: each element is
//! decoded once to an exponent and a small integer significand, so a fused block
//! is an integer max, a shift and a sum per product (eight outputs at once in i32
//! lanes where every block sum fits, else i64 per output), instead of the
//! reference's exact big-integer terms. B is transposed into strips of eight
//! columns, and each strip serves a group of rows of A while it is in cache.
//! Equal to `TensorCore::output` bit for bit (tests in `fast.rs` and
//! `tests/matmul_props.rs`).
#![allow(unsafe_code)]

use super::exact::{FloatFmt, OutRounding, round_mag};
use super::lanes::par_rows;
use super::operand::{KernelView, Operand};
use super::tc::{AccType, CMode, Family, Order, ScaleApply, TensorCore, factor};
use crate::simd::Lines;

/// Exponent given to zero elements (and to a zero C) when zeros do not count
/// toward the block maximum: far below any real product, so a zero product never
/// sets the maximum and always shifts out. Under `zero_exp` a zero reads as 2^-126
/// (MMA-Sim's `extract_significand_exponent`), as in `tc::factor`.
pub(crate) const ZERO_E: i32 = -(1 << 20);

/// The exponent of a zero element or C under `zero_exp`.
const ZERO_EXP: i32 = -126;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod cdna3;

pub(crate) struct TcFast<'a> {
    tc: &'a TensorCore,
    kv: &'a KernelView<'a>,
    fold: bool,
    /// Per element: exponent (scale exponent folded in where `fold`), signed significand.
    ea: Vec<i32>,
    sig_a: Vec<i32>,
    eb: Vec<i32>,
    sig_b: Vec<i32>,
    /// `F − frac_a − frac_b`: left shift that puts a product on the `2^(M−F)` grid at d = 0.
    up: u32,
    /// The instruction result's format and rounding: f32 with `out_frac_bits`
    /// (`tc.out_rounding`), or f16 RNE under `d=f16` (`TensorCore::out_fmt`).
    /// `out.frac_bits` are a chain value's fraction bits; a chain value below
    /// `out.emin` is aligned there (`TensorCore::c_term`: −126, or −14 for f16).
    out: FloatFmt,
    rounding: OutRounding,
    /// Every truncated product and every block sum fits an i32.
    narrow: bool,
    /// An AMD CDNA3 instruction (`TensorCore::cdna3_group`'s arithmetic).
    cdna3: bool,
    /// B's exponents and significands as `[N/8][K][8]` (padding lanes are zeros).
    /// Built on first use (the AVX-512 build reads its own 16-lane strips).
    strips8: std::sync::OnceLock<(Lines<i32>, Lines<i32>)>,
}

/// The products of whole groups of 8 (the first `len / 8 · 8`), aligned and
/// truncated in i32 lanes; only valid when `narrow`.
#[inline(always)]
fn sum_i32(ea: &[i32], eb: &[i32], sig_a: &[i32], sig_b: &[i32], m: i32, up: u32) -> i64 {
    let mut acc = [0i32; 8];
    for (((x, y), p), q) in
        ea.chunks_exact(8).zip(eb.chunks_exact(8)).zip(sig_a.chunks_exact(8)).zip(sig_b.chunks_exact(8))
    {
        // straight-line lane code (branch-free sign) so that it vectorizes
        let (x, y, p, q): (&[i32; 8], &[i32; 8], &[i32; 8], &[i32; 8]) =
            (x.try_into().unwrap(), y.try_into().unwrap(), p.try_into().unwrap(), q.try_into().unwrap());
        for l in 0..8 {
            let d = (m - x[l] - y[l]).min(31) as u32;
            let prod = p[l] * q[l];
            let sg = prod >> 31;
            let t = ((prod.unsigned_abs() << up) >> d) as i32;
            acc[l] += (t ^ sg) - sg;
        }
    }
    acc.iter().sum::<i32>() as i64
}

/// Rows of `k` products reordered, instruction by instruction, into the order in
/// which `Order::Interleaved4` cuts them into blocks (positions `i mod 4 ∈ {0, 1}`
/// of the instruction, then `{2, 3}`: `TensorCore::mma`), so that the blocks are
/// contiguous. Scales are folded before (`decode` reads them by K position).
pub(crate) fn interleave4(tc: &TensorCore, v: &mut [i32], k: usize) {
    let mut tmp = Vec::with_capacity(tc.k_inst);
    for row in v.chunks_mut(k.max(1)) {
        for (k0, k1) in tc.instructions(k) {
            let w = &mut row[k0..k1];
            tmp.clear();
            tmp.extend(w.iter().enumerate().filter(|(i, _)| i % 4 < 2).map(|(_, &x)| x));
            tmp.extend(w.iter().enumerate().filter(|(i, _)| i % 4 >= 2).map(|(_, &x)| x));
            w.copy_from_slice(&tmp);
        }
    }
}

/// Where C joins an instruction's blocks in the fast kernels: fused with the
/// first block (`CMode::Fused`: the chain runs on), or, under `CMode::LateRne`
/// (the B200 legacy `mma.sync`), after them by one f32 addition, the blocks
/// chaining from +0 (`TensorCore::mma`).
#[derive(Clone, Copy)]
pub(crate) struct LateC(bool);

impl LateC {
    pub(crate) fn of(tc: &TensorCore) -> LateC {
        LateC(tc.c_mode == CMode::LateRne)
    }

    /// Whether C comes late (`start` and `end` change the chain).
    pub(crate) fn late(self) -> bool {
        self.0
    }

    /// At an instruction's start: C (the chain values `d`), and `d` restarted
    /// from `zero` (+0 throughout) where C comes late.
    #[inline(always)]
    pub(crate) fn start<T: Copy>(self, d: &mut T, zero: T) -> T {
        let c = *d;
        if self.0 {
            *d = zero;
        }
        c
    }

    /// At an instruction's end: the blocks' results `d` plus C where it comes late.
    #[inline(always)]
    pub(crate) fn end(self, d: &mut [f32], c: &[f32]) {
        if self.0 {
            for (x, y) in d.iter_mut().zip(c) {
                *x += y;
            }
        }
    }

    /// [`LateC::start`] for the AVX-512 kernels, on 16 chain values in whole
    /// 64-byte vectors: C into `c` and `d` from +0 where C comes late (else
    /// nothing). Written as two 32-byte halves (the compiler's stores of an
    /// array), the next block's 64-byte load of `d` cannot be forwarded from
    /// the stores: `fp8-block/sm100-mma-sync` ran 17 % slower so (8.29, 7.77 against 9.74, 9.71 GFLOP/s with `@c-mode=fused`).
    ///
    /// # Safety
    /// The CPU has AVX-512 F. No target features of its own, so that it
    /// inlines into the kernel that has them.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) unsafe fn start16(self, d: &mut [f32; 16], c: &mut [f32; 16]) {
        use core::arch::x86_64::*;
        if self.0 {
            // SAFETY: as this function's; `d` and `c` hold 16 f32
            unsafe {
                _mm512_storeu_ps(c.as_mut_ptr(), _mm512_loadu_ps(d.as_ptr()));
                _mm512_storeu_ps(d.as_mut_ptr(), _mm512_setzero_ps());
            }
        }
    }

    /// [`LateC::end`] for the AVX-512 kernels, in whole vectors (as [`LateC::start16`]).
    ///
    /// # Safety
    /// As [`LateC::start16`].
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) unsafe fn end16(self, d: &mut [f32; 16], c: &[f32; 16]) {
        use core::arch::x86_64::*;
        if self.0 {
            // SAFETY: as this function's; `d` and `c` hold 16 f32
            unsafe {
                _mm512_storeu_ps(
                    d.as_mut_ptr(),
                    _mm512_add_ps(_mm512_loadu_ps(d.as_ptr()), _mm512_loadu_ps(c.as_ptr())),
                )
            };
        }
    }
}

/// Whether the kernel reads the operand: element codes, or a wide type's values
/// (every wide type: at most 11 significand bits).
pub(crate) fn readable(op: &Operand) -> bool {
    op.coded() || super::ElemType::WIDE.contains(&op.elem_type())
}

/// `(e, signed sig)` per element with a common fraction width, or `None` when an
/// element's significand is wider than 11 bits or a folded scale is not a power of two.
pub(crate) fn decode(
    kv: &KernelView,
    op: &Operand,
    fold: bool,
    kblock: usize,
    zero_exp: bool,
) -> Option<(Vec<i32>, Vec<i32>, u32)> {
    let (k, kb, emin) = (op.k(), kblock.max(1), op.elem_emin());
    let n = op.rows() * k;
    let (mut e, mut s) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut frac = 0u32;
    // an element's term, `None` for one that counts as no product
    let term = |x: f32| (x.is_finite() && (x != 0.0 || zero_exp)).then(|| factor(x, emin));
    // a coded operand's terms once per code (its values are never materialized),
    // a wide one's per element
    let coded = op.coded().then(|| (op.codes(), (0..=255).map(|c| term(op.value_of(c))).collect::<Vec<_>>()));
    let elems = if coded.is_some() { &[][..] } else { op.elements() };
    let at = |i: usize| match &coded {
        Some((codes, table)) => table[codes[i] as usize],
        None => term(elems[i]),
    };
    // the exponent, and the signed significand with its own fraction width in
    // the low 4 bits, put on the common width below (a folded scale's exponent
    // once per block, when an element needs it)
    for r in 0..op.rows() {
        let row = r * k..(r + 1) * k;
        for (j, part) in row.clone().step_by(kb).map(|p| p..(p + kb).min(row.end)).enumerate() {
            let mut se = None;
            for i in part {
                let Some(t) = at(i) else {
                    e.push(ZERO_E);
                    s.push(0);
                    continue;
                };
                if t.sig >= 1 << 12 || t.frac > 11 {
                    return None;
                }
                frac = frac.max(t.frac);
                if se.is_none() {
                    let sc = if fold { kv.block_scale(op, r, j) } else { f32::NAN };
                    se = Some(if sc.is_finite() {
                        let f = factor(sc, op.scale_emin());
                        if f.sig != 1 || f.frac != 0 {
                            return None; // not a pure exponent
                        }
                        f.e
                    } else {
                        0
                    });
                }
                e.push(t.e + se.unwrap_or(0));
                let sig = ((t.sig as i32) << 4) | t.frac as i32;
                s.push(if t.neg { -sig } else { sig });
            }
        }
    }
    for x in &mut s {
        let v = (x.abs() >> 4) << (frac as i32 - (x.abs() & 15));
        *x = if *x < 0 { -v } else { v };
    }
    Some((e, s, frac))
}

impl<'a> TcFast<'a> {
    /// The fast path for these parameters and operands, if it applies.
    pub fn new(tc: &'a TensorCore, kv: &'a KernelView<'a>) -> Option<TcFast<'a>> {
        // the model this path implements: NVIDIA fused blocks, f32 results, products
        // scaled one by one, code operands; a chain starts from the accumulator
        // array's values (+0, or C under `c=mma`: see `gemm`)
        // CDNA3 (`cdna3_group`), its own even/odd order; power-of-two scales fold
        // into the exponents (`decode`), and a product that could reach 2^128 sends
        // the GEMM to the reference loop (below)
        let cdna3 = tc.family == Family::Cdna3;
        if !(tc.family == Family::Nvidia || cdna3)
            || tc.scale_apply == ScaleApply::Group16
            || !readable(kv.a)
            || !readable(kv.b)
            || tc.c_mode == CMode::LateRne && cdna3
            || tc.order == Order::EvenOdd && !cdna3
            || tc.frac_bits > 40
            || tc.frac_bits < if tc.acc == AccType::F16 { 10 } else { tc.out_frac_bits }
        {
            return None;
        }
        let fold = tc.folds(kv);
        // (CDNA3's fused sums take every product's exponent, zeros' included)
        let (mut ea, mut sig_a, fa) = decode(kv, kv.a, fold, kv.kblock, tc.zero_exp || cdna3)?;
        let (mut eb, mut sig_b, fb) = decode(kv, kv.b, fold, kv.kblock, tc.zero_exp || cdna3)?;
        if tc.order == Order::Interleaved4 {
            // each instruction's products in block order: its blocks are then contiguous
            for v in [&mut ea, &mut sig_a, &mut eb, &mut sig_b] {
                interleave4(tc, v, kv.a.k());
            }
        }
        let up = tc.frac_bits.checked_sub(fa + fb)?;
        // CDNA3 turns a product of 2^128 or more into ±Inf / NaN (`cdna3_group`): such
        // operands (wide types near their top) take the reference loop
        let top = |e: &[i32]| e.iter().copied().filter(|&x| x != ZERO_E).max().unwrap_or(0);
        if cdna3 && top(&ea) + top(&eb) >= 126 {
            return None;
        }
        // a truncated product is below 2^(F+2); a block sums n of them
        let narrow = tc.frac_bits + 2 + (usize::BITS - tc.n.leading_zeros()) <= 30;
        let (out, rounding) = match tc.acc {
            AccType::F16 => (FloatFmt::F16, OutRounding::Rne),
            AccType::F32 => (FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 }, tc.out_rounding),
        };
        let strips8 = std::sync::OnceLock::new();
        Some(TcFast { tc, kv, fold, ea, sig_a, eb, sig_b, up, out, rounding, narrow, cdna3, strips8 })
    }

    /// B's exponents and significands as `[N/8][K][8]` strips (padding lanes zero).
    fn strips8(&self) -> &(Lines<i32>, Lines<i32>) {
        let (n, k) = (self.kv.b.rows(), self.kv.b.k());
        self.strips8.get_or_init(|| {
            (
                super::lanes::strips(&self.eb, n, k, 8, ZERO_E, |x| x),
                super::lanes::strips(&self.sig_b, n, k, 8, 0, |x| x),
            )
        })
    }

    /// One fused block over products `ea[..]+eb[..]` with incoming `c`.
    #[inline(always)]
    fn fused(&self, ea: &[i32], sig_a: &[i32], eb: &[i32], sig_b: &[i32], c: f32) -> f32 {
        if !c.is_finite() {
            return c; // as `TensorCore::fused`: an overflowed chain stays ±Inf
        }
        let mut mx = [ZERO_E; 8];
        for (x, y) in ea.chunks_exact(8).zip(eb.chunks_exact(8)) {
            let (x, y): (&[i32; 8], &[i32; 8]) = (x.try_into().unwrap(), y.try_into().unwrap());
            for l in 0..8 {
                mx[l] = mx[l].max(x[l] + y[l]);
            }
        }
        let tail8 = ea.len() / 8 * 8;
        let mut m = mx.into_iter().max().unwrap_or(ZERO_E);
        for (x, y) in ea[tail8..].iter().zip(&eb[tail8..]) {
            m = m.max(x + y);
        }
        let ct = self.c_term(c);
        m = m.max(ct.0);
        if m <= ZERO_E / 2 {
            return 0.0;
        }
        let up = self.up;
        let mut s = if self.narrow { sum_i32(ea, eb, sig_a, sig_b, m, up) } else { 0 };
        let tail = if self.narrow { ea.len() / 8 * 8 } else { 0 };
        for (((x, y), p), q) in ea[tail..].iter().zip(&eb[tail..]).zip(&sig_a[tail..]).zip(&sig_b[tail..]) {
            let d = (m - (x + y)).min(63) as u64;
            let prod = p * q; // |p|, |q| < 2^9
            let t = (((prod.unsigned_abs() as u64) << up) >> d) as i64;
            s += if prod < 0 { -t } else { t };
        }
        self.finish(s + self.c_contribution(ct, m), m)
    }

    /// The incoming accumulator as an exact term: exponent, signed significand and
    /// its fraction bits (`TensorCore::c_term`'s `factor(c, emin)`: a chain value has
    /// at most `out_frac_bits`, a C given under `c=mma` up to f32's 23 or, below the
    /// chain format's normals, more); for c = 0: `ZERO_EXP` under `zero_exp`, else
    /// `ZERO_E`, significand 0.
    #[inline(always)]
    fn c_term(&self, c: f32) -> (i32, i64, u32) {
        if c == 0.0 {
            return (if self.tc.zero_exp { ZERO_EXP } else { ZERO_E }, 0, 0);
        }
        let t = factor(c, self.out.emin);
        (t.e, if t.neg { -(t.sig as i64) } else { t.sig as i64 }, t.frac)
    }

    /// The c term truncated onto the block's `2^(m − F)` grid (`TensorCore::fused`:
    /// shifted right by `frac + (m − e) − F`, or exact where that is not positive).
    #[inline(always)]
    fn c_contribution(&self, (ec, sc, frac): (i32, i64, u32), m: i32) -> i64 {
        if sc == 0 {
            return 0;
        }
        let sh = frac as i64 + (m - ec) as i64 - self.tc.frac_bits as i64;
        let mag = sc.unsigned_abs();
        let t = if sh <= 0 {
            mag << (-sh).min(63)
        } else if sh < 64 {
            mag >> sh
        } else {
            0
        } as i64;
        if sc < 0 { -t } else { t }
    }

    /// `s · 2^(m − F)` normalized and rounded to the output precision.
    #[inline(always)]
    fn finish(&self, s: i64, m: i32) -> f32 {
        if s == 0 {
            return 0.0;
        }
        let f = self.tc.frac_bits as i32;
        let ofb = self.out.frac_bits;
        let mag = s.unsigned_abs();
        let bits = 64 - mag.leading_zeros() as i32;
        let top = m - f + bits - 1;
        let v = if self.rounding == OutRounding::Rz && (-126..=127).contains(&top) {
            // normal result: truncate to out_frac_bits + 1 significant bits; exact in f32
            let sh = (bits - 1 - ofb as i32).max(0) as u32;
            let keep = (mag >> sh) << sh;
            ((keep as i64) as f64 * crate::format::pow2(m - f)) as f32
        } else {
            round_mag(mag as u128, m - f, false, self.out, self.rounding) as f32
        };
        // an underflow to zero is +0, as in `TensorCore::fused`
        if s < 0 && v != 0.0 { -v } else { v }
    }

    /// Whether the instruction `k0..k1` ends a promotion interval, and the K block
    /// whose scales it applies.
    #[inline(always)]
    fn promotes(&self, k0: usize, k1: usize) -> Option<usize> {
        let p = self.tc.promote_every?;
        (k1.is_multiple_of(p) || k1 == self.kv.a.k()).then(|| k0 / self.kv.kblock)
    }

    /// Promotion of output (i, j) using K block `jb`'s scales.
    #[inline(always)]
    fn promote(&self, i: usize, j: usize, jb: usize, acc32: &mut f32, d: &mut f32) {
        let (s1, s2) = if self.fold {
            (1.0, 1.0)
        } else {
            (self.kv.block_scale(self.kv.a, i, jb), self.kv.block_scale(self.kv.b, j, jb))
        };
        *acc32 = self.tc.promote.apply(*acc32, *d, s1, s2);
        *d = 0.0;
    }

    /// Outputs (i, 8·strip .. 8·strip + 8) at once, one lane per column of B
    /// (`narrow` only): the same blocks, maxima, truncations and roundings as
    /// [`Self::output`], with B's exponents and significands transposed to `[K][8]`.
    #[inline(always)]
    fn output8(&self, i: usize, strip: usize, out: &mut [f32]) {
        let (a, tc) = (self.kv.a, self.tc);
        let k = a.k();
        let (ea, sig_a) = (&self.ea[i * k..(i + 1) * k], &self.sig_a[i * k..(i + 1) * k]);
        let (ebt, sig_bt) = self.strips8();
        let (ebt, sig_bt) = (&ebt[strip * k * 8..(strip + 1) * k * 8], &sig_bt[strip * k * 8..(strip + 1) * k * 8]);
        let up = self.up;
        let mut acc32 = [0f32; 8];
        // the chains start from `out` (C under `c=mma`, else +0)
        let mut d = [0f32; 8];
        d[..out.len()].copy_from_slice(out);
        let late = LateC::of(tc);
        for (k0, k1) in tc.instructions(k) {
            let c = late.start(&mut d, [0.0; 8]);
            for (b0, b1) in tc.blocks(k0, k1) {
                let mut m = [ZERO_E; 8];
                for kk in b0..b1 {
                    let x = ea[kk];
                    let y: &[i32; 8] = ebt[kk * 8..kk * 8 + 8].try_into().unwrap();
                    for l in 0..8 {
                        m[l] = m[l].max(x + y[l]);
                    }
                }
                // c terms in lanes: exponent and signed significand of each chain value
                // (normal or zero); a subnormal or non-finite one takes the scalar route
                let ofb = self.out.frac_bits;
                let zc = if self.tc.zero_exp { ZERO_EXP } else { ZERO_E };
                let low = (1u32 << (23 - ofb.min(23))) - 1;
                let mut ce = [zc; 8];
                let mut cs = [0i32; 8];
                let mut odd = false;
                for l in 0..8 {
                    let b = d[l].to_bits();
                    let be = ((b >> 23) & 0xFF) as i32;
                    let nz = b & 0x7FFF_FFFF != 0;
                    let sig = ((b & 0x7F_FFFF) | 0x80_0000) >> (23 - ofb);
                    let neg = (b >> 31) as i32;
                    // a subnormal c has the exponent 2^-126 (factor's emin clamp), as in `c_term`
                    ce[l] = if nz { (be - 127).max(self.out.emin) } else { zc };
                    cs[l] = if nz { (sig as i32 ^ -neg) + neg } else { 0 };
                    // subnormal, not finite, or a C with bits below the chain's grid
                    // (or, for an f16 chain, below its normals)
                    odd |= nz && (be == 0 || be == 255 || b & low != 0 || be - 127 < self.out.emin);
                    m[l] = m[l].max(ce[l]);
                }
                let mut s = [0i32; 8];
                for kk in b0..b1 {
                    let (x, p) = (ea[kk], sig_a[kk]);
                    let y: &[i32; 8] = ebt[kk * 8..kk * 8 + 8].try_into().unwrap();
                    let q: &[i32; 8] = sig_bt[kk * 8..kk * 8 + 8].try_into().unwrap();
                    for l in 0..8 {
                        let dd = (m[l] - x - y[l]).min(31) as u32;
                        let prod = p * q[l];
                        let sg = prod >> 31;
                        let t = ((prod.unsigned_abs() << up) >> dd) as i32;
                        s[l] += (t ^ sg) - sg;
                    }
                }
                let fb = self.tc.frac_bits as i32;
                // an f32 chain with RZ, or an f16 chain (RNE)
                let f16 = self.tc.acc == AccType::F16;
                let lanes = !odd && (f16 || self.rounding == OutRounding::Rz);
                let mut v = [0f32; 8];
                let mut slow = [!lanes; 8];
                if lanes {
                    // c's truncated contribution, then the normalization and RZ to
                    // out_frac_bits + 1 significant bits through an exact f64
                    for l in 0..8 {
                        let dd = (m[l] - ce[l]).min(31) as u32;
                        let sg = cs[l] >> 31;
                        let t = ((cs[l].unsigned_abs() << (fb as u32 - ofb)) >> dd) as i32;
                        let tot = s[l] + ((t ^ sg) - sg);
                        if f16 {
                            // tot · 2^(m − F) is exact in f64; one RNE rounding to f16
                            // (overflow to ±Inf, subnormals), +0 on underflow
                            let ex = m[l] - fb;
                            let r = half::f16::from_f64(tot as f64 * crate::format::pow2(ex)).to_f32();
                            v[l] = if r == 0.0 { 0.0 } else { r };
                            slow[l] = !(-1000..=1000).contains(&ex);
                            continue;
                        }
                        let mag = f64::from_bits((tot.unsigned_abs() as f64).to_bits() & !((1u64 << (52 - ofb)) - 1));
                        let ex = (m[l] - fb + 1023).clamp(1, 2046);
                        let r = (mag * f64::from_bits((ex as u64) << 52)) as f32;
                        v[l] = if tot < 0 && r != 0.0 { -r } else { r }; // +0 on underflow
                        slow[l] = m[l] - fb + 1023 != ex || r.is_infinite() || (r != 0.0 && r < f32::MIN_POSITIVE);
                    }
                }
                for l in 0..8 {
                    if !d[l].is_finite() {
                        continue; // an overflowed chain stays ±Inf
                    }
                    d[l] = if m[l] <= ZERO_E / 2 {
                        0.0
                    } else if !slow[l] {
                        v[l]
                    } else {
                        self.finish(s[l] as i64 + self.c_contribution(self.c_term(d[l]), m[l]), m[l])
                    };
                }
            }
            late.end(&mut d, &c);
            if let Some(jb) = self.promotes(k0, k1) {
                for (l, (acc, dv)) in acc32.iter_mut().zip(d.iter_mut()).enumerate().take(out.len()) {
                    self.promote(i, strip * 8 + l, jb, acc, dv);
                }
            }
        }
        let res = if tc.promote_every.is_none() { d } else { acc32 };
        out.copy_from_slice(&res[..out.len()]);
    }

    /// The f32 accumulator of output (i, j), as `TensorCore::output` computes it,
    /// its chain starting from `c` (a CDNA3 one group by group through `cdna3_group`).
    #[inline(always)]
    fn output(&self, i: usize, j: usize, c: f32) -> f32 {
        let (a, tc) = (self.kv.a, self.tc);
        let k = a.k();
        let (ea, sig_a) = (&self.ea[i * k..(i + 1) * k], &self.sig_a[i * k..(i + 1) * k]);
        let (eb, sig_b) = (&self.eb[j * k..(j + 1) * k], &self.sig_b[j * k..(j + 1) * k]);
        let mut acc32 = 0f32;
        let mut d = c;
        let late = LateC::of(tc);
        for (k0, k1) in tc.instructions(k) {
            let c = late.start(&mut d, 0.0);
            for (b0, b1) in tc.blocks(k0, k1) {
                let (x, p, y, q) = (&ea[b0..b1], &sig_a[b0..b1], &eb[b0..b1], &sig_b[b0..b1]);
                d = if self.cdna3 { self.cdna3_group(x, p, y, q, d) } else { self.fused(x, p, y, q, d) };
            }
            late.end(core::slice::from_mut(&mut d), &[c]);
            if let Some(jb) = self.promotes(k0, k1) {
                self.promote(i, j, jb, &mut acc32, &mut d);
            }
        }
        if tc.promote_every.is_none() { d } else { acc32 }
    }

    /// One CDNA3 group `b0..b1` (`TensorCore::cdna3_group` in i64): the products
    /// fused with truncation to F (FP8: even and odd positions apart, each sum
    /// then floored onto their common maximum), C at `2^(M−24)` and the sum at
    /// `2^(M−31)`, both floored, C dropped 26 binades below under FP8's two
    /// stages, the total rounded once (RNE) to f32.
    #[inline(always)]
    fn cdna3_group(&self, ea: &[i32], sig_a: &[i32], eb: &[i32], sig_b: &[i32], c: f32) -> f32 {
        if !c.is_finite() {
            return c; // an overflowed chain stays ±Inf (finite products cannot move it)
        }
        let up = self.up;
        // trunc-fused sum over positions `first, first + step, …`: (S, M), value S · 2^(M − F)
        let fuse = |first: usize, step: usize| -> (i64, i32) {
            let mut m = i32::MIN;
            let mut kk = first;
            while kk < ea.len() {
                m = m.max(ea[kk] + eb[kk]);
                kk += step;
            }
            if m == i32::MIN {
                return (0, -126);
            }
            let (mut s, mut kk) = (0i64, first);
            while kk < ea.len() {
                let d = (m - ea[kk] - eb[kk]).min(63) as u32;
                let prod = sig_a[kk] as i64 * sig_b[kk] as i64;
                let t = ((prod.unsigned_abs() << up) >> d) as i64;
                s += if prod < 0 { -t } else { t };
                kk += step;
            }
            (s, m)
        };
        let floor_shr = cdna3::floor_shr;
        let two = self.tc.order == Order::EvenOdd;
        let (s, e) = if two {
            let ((s0, e0), (s1, e1)) = (fuse(0, 2), fuse(1, 2));
            let mx = e0.max(e1);
            (floor_shr(s0, mx - e0) + floor_shr(s1, mx - e1), mx)
        } else {
            fuse(0, 1)
        };
        let (total, mx) = cdna3::with_c(s, e, c, two);
        if total == 0 {
            return 0.0;
        }
        let ex = mx - 31;
        if total.unsigned_abs() < 1 << 53 && (-1000..=1000).contains(&ex) {
            // exact in f64, then one RNE rounding (a negative underflow gives −0, as below)
            return (total as f64 * crate::format::pow2(ex)) as f32;
        }
        let v = round_mag(total.unsigned_abs() as u128, ex, false, FloatFmt::F32, OutRounding::Rne) as f32;
        if total < 0 { -v } else { v }
    }

    /// Every output's f32 accumulator into `out` (`[M, N]`), rows in parallel
    /// (rayon). Each chain starts from `out`'s value there: +0 for C in the
    /// epilogue, C itself under `c=mma` (the first instruction's accumulator input).
    pub fn gemm(&self, out: &mut [f32], isa: crate::simd::SimdBuild) {
        let (m, n) = (self.kv.a.rows(), self.kv.b.rows());
        #[cfg(target_arch = "x86_64")]
        if isa == crate::simd::SimdBuild::Avx512 && isa.supported() && avx512::applies(self) {
            let strips = avx512::Strips::new(self);
            // SAFETY: AVX-512 F/BW/VL/DQ is available (checked just above), the only precondition.
            return par_rows(out, m, n, |i0, rows| unsafe { avx512::rows(self, &strips, i0, rows) });
        }
        if cdna3::applies(self) {
            let strips = cdna3::Strips::new(self);
            return par_rows(out, m, n, |i0, rows| cdna3::rows_run_with(isa, self, &strips, i0, rows));
        }
        par_rows(out, m, n, |i0, rows| self.rows(i0, rows, isa));
    }

    /// Rows `i0..` of the accumulators (`out` holds whole rows), with the AVX2
    /// build where `isa` asks for SIMD and the CPU has AVX2.
    fn rows(&self, i0: usize, out: &mut [f32], isa: crate::simd::SimdBuild) {
        #[cfg(target_arch = "x86_64")]
        if isa != crate::simd::SimdBuild::Portable && crate::simd::SimdBuild::Avx2.supported() {
            // SAFETY: AVX2 is available (checked just above), the only precondition.
            unsafe { self.rows_avx2(i0, out) };
            return;
        }
        let _ = isa;
        self.rows_portable(i0, out)
    }

    /// Strip by strip, each of B's transposed 8-column strips is used for all
    /// the rows of the group while it is in cache (not streamed once per row).
    #[inline(always)]
    fn rows_portable(&self, i0: usize, out: &mut [f32]) {
        let n = self.kv.b.rows();
        if self.narrow && !self.cdna3 {
            for strip in 0..n.div_ceil(8) {
                let cols = strip * 8..(strip * 8 + 8).min(n);
                for (r, row) in out.chunks_mut(n).enumerate() {
                    self.output8(i0 + r, strip, &mut row[cols.clone()]);
                }
            }
        } else {
            // likewise eight columns of B at a time (CDNA3: one output at a time,
            // `cdna3_group`)
            for j0 in (0..n).step_by(8) {
                for (r, row) in out.chunks_mut(n).enumerate() {
                    for (j, o) in row.iter_mut().enumerate().skip(j0).take(8) {
                        *o = self.output(i0 + r, j, *o);
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2(&self, i0: usize, out: &mut [f32]) {
        self.rows_portable(i0, out)
    }
}
