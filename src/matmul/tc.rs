//! The fused-block tensor-core model (`docs/gemm-numerics.md` §2, §4).
//!
//! Each product is exact and *not renormalized*; the products of one block (and
//! the incoming accumulator C where fused) are aligned to the largest product
//! exponent M; each magnitude is truncated to F fraction bits below M; the
//! truncated terms are summed exactly; the sum is normalized and rounded to the
//! output precision (RZ to 13 fraction bits on Hopper and Ada, "FP22"). The next
//! block or instruction takes that value as its C.
//!
//! Points the published hardware vectors do not settle, chosen here and marked
//! `[I]` (hypothesis) until a GPU probe confirms them: an exactly zero fused sum
//! is +0; a result beyond f32's range is ±Inf (RZ hardware might give ±FLT_MAX);
//! a result below 2^-126 keeps `out_frac_bits` bits on the grid 2^(-126 −
//! out_frac_bits); a chain that has overflowed to ±Inf stays ±Inf (finite
//! products do not bring it back); NaN/Inf inputs give the IEEE result of the
//! plain sum, with the NaN bit pattern unspecified.

use super::exact::{FloatFmt, Kulisch, OutRounding, split_f64};
use super::{Promote, operand::KernelView};
use crate::Error;
use crate::format::ElemFormat;

/// Where the incoming accumulator C enters an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CMode {
    /// C is aligned and truncated with the first block's products (Hopper, Ada).
    Fused,
    /// The blocks are summed without C, then C is added by one f32 RNE addition
    /// (B200 legacy `mma.sync` FP8).
    LateRne,
}

/// The order in which an instruction's products are cut into blocks of `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Indices 0..n, then n..2n, …
    Contiguous,
    /// Indices with `i mod 4 ∈ {0,1}` first, then `{2,3}` (B200 legacy path).
    Interleaved4,
}

/// A named parameter set. Evidence per `docs/gemm-numerics.md` §4: `[V]` reproduces
/// published hardware outputs bit for bit, `[P]` is from a paper or maintained
/// code, `[I]` is a hypothesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcPreset {
    /// Hopper `wgmma` FP8 → f32 `[V]`: n = 32, F = 13, RZ to 13 fraction bits, C
    /// fused; promotion into an f32 accumulator every 128 K (DeepGEMM's
    /// `ffma-combined` by default; `promote-every=none` is cuBLAS/torch fast accumulation).
    /// Checked on an H100 (`tests/gpu_golden.rs`): cuBLASLt's `torch._scaled_mm` with
    /// and without fast accumulation (unscaled, tensor-wise, row-wise, 1×128 ×
    /// 128×128 block scales, mixed e4m3 × e5m2) and Triton's `tl.dot`
    /// (`promote-every` = its `max_num_imprecise_acc`), bit for bit.
    Sm90,
    /// Ada `mma.sync m16n8k32` FP8 `[V]`: two chained 16-product blocks, F = 13,
    /// RZ to 13 bits; no promotion.
    Sm89,
    /// Blackwell legacy `mma.sync` FP8 `[V]`: 16 + 16 products in interleaved
    /// order, F = 25, RZ to f32, C added late with RNE; no promotion.
    Sm100MmaSync,
    /// Blackwell `tcgen05 kind::f8f6f4`, unscaled `[P]`: n = 32, F = 25, RZ to f32, C fused.
    Sm100F8f6f4,
    /// Blackwell block-scaled MMA (mxf8f6f4 / mxf4nvf4): **hypothesis H1 `[I]`**, not
    /// verified on hardware: block scales folded into the product exponents
    /// (UE4M3 significands into the products), one fused block of 32 products with
    /// F = 25, RZ to f32; every parameter can be overridden to explore.
    Sm100Blockscaled,
}

impl TcPreset {
    /// Every preset.
    pub const ALL: [TcPreset; 5] =
        [TcPreset::Sm90, TcPreset::Sm89, TcPreset::Sm100MmaSync, TcPreset::Sm100F8f6f4, TcPreset::Sm100Blockscaled];
    /// The spec-grammar name.
    pub fn name(self) -> &'static str {
        match self {
            TcPreset::Sm90 => "sm90",
            TcPreset::Sm89 => "sm89",
            TcPreset::Sm100MmaSync => "sm100-mma-sync",
            TcPreset::Sm100F8f6f4 => "sm100-f8f6f4",
            TcPreset::Sm100Blockscaled => "sm100-blockscaled",
        }
    }
    /// The preset's parameters.
    pub fn config(self) -> TensorCore {
        let base = TensorCore {
            preset: self,
            k_inst: 32,
            n: 32,
            frac_bits: 25,
            out_frac_bits: 23,
            out_rounding: OutRounding::Rz,
            c_mode: CMode::Fused,
            order: Order::Contiguous,
            promote_every: None,
            promote: Promote::Fadd,
            scale_order: ScaleOrder::Alpha,
        };
        match self {
            TcPreset::Sm90 => TensorCore {
                frac_bits: 13,
                out_frac_bits: 13,
                promote_every: Some(128),
                promote: Promote::FfmaCombined,
                ..base
            },
            TcPreset::Sm89 => TensorCore { n: 16, frac_bits: 13, out_frac_bits: 13, ..base },
            TcPreset::Sm100MmaSync => TensorCore { n: 16, c_mode: CMode::LateRne, order: Order::Interleaved4, ..base },
            TcPreset::Sm100F8f6f4 | TcPreset::Sm100Blockscaled => base,
        }
    }
}

/// The parameters of the fused-block model (`docs/gemm-numerics.md` §2).
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat::E4M3FN;
/// use lowp::matmul::TcPreset;
/// let h = TcPreset::Sm90.config();
/// // a = [1, 1, 2^-6], b = [1, 1, 2^-7]: the carry, then RZ to 13 bits, gives exactly 2
/// let d = h.dot(E4M3FN, &[0x38, 0x38, 0x08], E4M3FN, &[0x38, 0x38, 0x04], 0.0).unwrap();
/// assert_eq!(d.to_bits(), 0x4000_0000);
/// // B200 tcgen05 keeps 25 bits: 2.0001220703125
/// let b = TcPreset::Sm100F8f6f4.config();
/// assert_eq!(b.dot(E4M3FN, &[0x38, 0x38, 0x08], E4M3FN, &[0x38, 0x38, 0x04], 0.0).unwrap().to_bits(), 0x4000_0200);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorCore {
    /// The preset these parameters started from (for display).
    pub preset: TcPreset,
    /// K per instruction.
    pub k_inst: usize,
    /// Products fused per block (divides `k_inst`).
    pub n: usize,
    /// F: fraction bits kept below the largest product exponent (`u32::MAX`: all).
    pub frac_bits: u32,
    /// Fraction bits of the value written back (13 for FP22, 23 for f32).
    pub out_frac_bits: u32,
    /// OutRounding of the written-back value.
    pub out_rounding: OutRounding,
    /// Where C enters.
    pub c_mode: CMode,
    /// Block order inside an instruction.
    pub order: Order,
    /// K elements per promotion into the f32 CUDA-core accumulator (`None`: the
    /// whole K stays in the tensor-core chain). A multiple of `k_inst`.
    pub promote_every: Option<usize>,
    /// The promotion formula.
    pub promote: Promote,
    /// How the epilogue applies whole-K (per-tensor / per-row) and global scales.
    pub scale_order: ScaleOrder,
}

/// How the epilogue applies the scales that cover a whole row of K (per-tensor or
/// per-row FP8: `r_a`, `r_b`) and the NVFP4 global scales (`g_a`, `g_b`) to the f32
/// accumulator. Measured on an H100 with `scripts/gpu_check.py` (torch 2.11,
/// cuBLASLt 13.0), f32 output:
///
/// | order | computes | reproduces |
/// |---|---|---|
/// | `alpha` (default) | `fma(alpha, acc, C)`, `alpha = fl(fl(fl(r_a·r_b)·g_a)·g_b)` | cuBLASLt tensor-wise `torch._scaled_mm` (0 of 65,536 outputs differ), CUTLASS `alpha·acc + beta·C` |
/// | `b-then-a` | `fl(fl(acc·r_b)·r_a)`, then `·g_a`, `·g_b`, `+ C` | torch's row-wise `_scaled_mm` (CUTLASS kernel) on sm90: 0 of 65,536 differ, against 22,892 under `alpha` |
/// | `a-then-b` | `fl(fl(acc·r_a)·r_b)`, then `·g_a`, `·g_b`, `+ C` | the mirror order, for kernels that scale A first |
///
/// # Examples
/// ```
/// use lowp::matmul::{Accum, ScaleOrder};
/// let a: Accum = "sm90@scale-order=b-then-a".parse().unwrap();
/// let Accum::TensorCore(t) = a else { panic!() };
/// assert_eq!(t.scale_order, ScaleOrder::BThenA);
/// assert_eq!(a.to_string(), "sm90@scale-order=b-then-a");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScaleOrder {
    /// One combined factor, one FMA with C.
    #[default]
    Alpha,
    /// B's row scale first, then A's, each product rounded to f32.
    BThenA,
    /// A's row scale first, then B's.
    AThenB,
}

impl ScaleOrder {
    /// The spec-grammar name.
    pub fn name(self) -> &'static str {
        match self {
            ScaleOrder::Alpha => "alpha",
            ScaleOrder::BThenA => "b-then-a",
            ScaleOrder::AThenB => "a-then-b",
        }
    }
}

impl core::str::FromStr for ScaleOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        [ScaleOrder::Alpha, ScaleOrder::BThenA, ScaleOrder::AThenB]
            .into_iter()
            .find(|o| o.name() == s.trim())
            .ok_or_else(|| Error::InvalidOption(format!("scale-order: '{s}' (alpha, b-then-a, a-then-b)")))
    }
}

/// One exact product term: `(-1)^neg · sig / 2^frac · 2^e`, with `e` the sum of
/// the factors' unnormalized exponents.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Term {
    pub neg: bool,
    pub e: i32,
    pub sig: u128,
    pub frac: u32,
}

/// Decodes a finite nonzero value of a format whose smallest normal exponent is
/// `emin`: `e = max(floor(log2|x|), emin)`, `s = |x| / 2^e` (§2.1).
#[inline]
pub(crate) fn factor(x: f32, emin: i32) -> Term {
    let (neg, m, q) = split_f64(x as f64);
    if m == 0 {
        return Term { neg, e: i32::MIN / 4, sig: 0, frac: 0 };
    }
    let tz = m.trailing_zeros();
    let (m, q) = (m >> tz, q + tz as i32);
    let fl = q + 63 - m.leading_zeros() as i32;
    let e = fl.max(emin);
    Term { neg, e, sig: m as u128, frac: (e - q) as u32 }
}

impl Term {
    #[inline]
    pub(crate) fn mul(self, o: Term) -> Term {
        Term { neg: self.neg != o.neg, e: self.e + o.e, sig: self.sig * o.sig, frac: self.frac + o.frac }
    }
}

impl TensorCore {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidOption(m));
        if self.k_inst == 0 || self.n == 0 || !self.k_inst.is_multiple_of(self.n) {
            return bad(format!("n = {} must divide k-inst = {}", self.n, self.k_inst));
        }
        if self.order == Order::Interleaved4 && (!self.k_inst.is_multiple_of(4) || !self.n.is_multiple_of(2)) {
            return bad("order=interleaved4 needs k-inst a multiple of 4 and n even".into());
        }
        if self.out_frac_bits > 23 {
            return bad(format!("out-frac-bits = {} exceeds f32's 23", self.out_frac_bits));
        }
        if let Some(p) = self.promote_every
            && (p == 0 || p % self.k_inst != 0)
        {
            return bad(format!("promote-every = {p} must be a positive multiple of k-inst = {}", self.k_inst));
        }
        Ok(())
    }

    /// The K ranges of the instructions over a reduction of length `k`.
    pub(crate) fn instructions(&self, k: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let ki = self.k_inst;
        (0..k).step_by(ki).map(move |k0| (k0, (k0 + ki).min(k)))
    }

    /// The K ranges of the contiguous `n`-product blocks of instruction `k0..k1`.
    pub(crate) fn blocks(&self, k0: usize, k1: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let n = self.n;
        (k0..k1).step_by(n).map(move |b0| (b0, (b0 + n).min(k1)))
    }

    fn out_fmt(&self) -> FloatFmt {
        FloatFmt { frac_bits: self.out_frac_bits, emin: -126, emax: 127 }
    }

    /// One fused block: terms (and `c` unless zero) aligned, truncated, summed
    /// exactly, rounded to the output precision.
    pub(crate) fn fused(&self, terms: &[Term], c: f32, acc: &mut Kulisch) -> f32 {
        if !c.is_finite() {
            // the chain overflowed to ±Inf earlier: finite products cannot bring it back
            return c;
        }
        let ct = if c == 0.0 { None } else { Some(factor(c, -126)) };
        let m = terms.iter().chain(ct.iter()).filter(|t| t.sig != 0).map(|t| t.e).max();
        let Some(m) = m else { return 0.0 };
        acc.clear();
        for t in terms.iter().chain(ct.iter()).filter(|t| t.sig != 0) {
            let sh = t.frac as i64 + (m - t.e) as i64 - self.frac_bits as i64;
            if self.frac_bits == u32::MAX || sh <= 0 {
                acc.add(t.neg, t.sig, t.e - t.frac as i32);
            } else if sh < 128 {
                acc.add(t.neg, t.sig >> sh, m - self.frac_bits as i32);
            }
        }
        acc.round(self.out_fmt(), self.out_rounding) as f32
    }

    /// One instruction: `terms` are its (up to `k_inst`) products in k order, `c`
    /// the incoming accumulator.
    pub(crate) fn mma(&self, terms: &[Term], c: f32, acc: &mut Kulisch) -> f32 {
        let ordered: Vec<Term>;
        let terms = match self.order {
            Order::Contiguous => terms,
            Order::Interleaved4 => {
                ordered = (0..terms.len())
                    .filter(|i| i % 4 < 2)
                    .chain((0..terms.len()).filter(|i| i % 4 >= 2))
                    .map(|i| terms[i])
                    .collect();
                &ordered
            }
        };
        match self.c_mode {
            CMode::Fused => terms.chunks(self.n).fold(c, |d, blk| self.fused(blk, d, acc)),
            CMode::LateRne => terms.chunks(self.n).fold(0.0, |d, blk| self.fused(blk, d, acc)) + c,
        }
    }

    /// The chain over `a.len()` products of unscaled element codes, starting from
    /// accumulator `c` (one `k_inst` instruction after another, no promotion): what
    /// one MMA (K = `k_inst`) or a fast-accumulation chain returns. Non-finite
    /// inputs give the IEEE result of the plain sum.
    ///
    /// # Errors
    /// Different lengths, a sub-byte code out of range, or invalid parameters.
    pub fn dot(&self, fa: ElemFormat, a: &[u8], fb: ElemFormat, b: &[u8], c: f32) -> Result<f32, Error> {
        self.validate()?;
        if a.len() != b.len() {
            return Err(Error::LengthMismatch { expected: a.len(), got: b.len() });
        }
        let (mut va, mut vb) = (vec![0f32; a.len()], vec![0f32; b.len()]);
        crate::convert::decode_slice(fa, a, &mut va)?;
        crate::convert::decode_slice(fb, b, &mut vb)?;
        if let Some(s) = special(va.iter().zip(&vb).map(|(&x, &y)| x as f64 * y as f64), Some(c)) {
            return Ok(s as f32);
        }
        let (ea, eb) = (fa.spec().min_exp(), fb.spec().min_exp());
        let terms: Vec<Term> = va.iter().zip(&vb).map(|(&x, &y)| factor(x, ea).mul(factor(y, eb))).collect();
        let mut acc = Kulisch::default();
        Ok(terms.chunks(self.k_inst).fold(c, |d, inst| self.mma(inst, d, &mut acc)))
    }

    /// Whether block scales are folded into the products (scale blocks shorter
    /// than, or not aligned with, the promotion interval) rather than applied at
    /// promotion.
    pub(crate) fn folds(&self, kv: &KernelView) -> bool {
        kv.scaled && self.promote_every.is_none_or(|p| !kv.kblock.is_multiple_of(p))
    }

    /// One output of the GEMM (slow path): row `m` of A against row `n` of B.
    pub(crate) fn output(&self, kv: &KernelView, m: usize, n: usize, acc: &mut Kulisch) -> f32 {
        let (a, b) = (kv.a, kv.b);
        let k = a.k();
        let fold = self.folds(kv);
        let (ar, br) = (&a.elements()[m * k..(m + 1) * k], &b.elements()[n * k..(n + 1) * k]);
        let mut terms = Vec::with_capacity(self.k_inst);
        let mut acc32 = 0f32;
        let mut d = 0f32;
        for (k0, k1) in self.instructions(k) {
            terms.clear();
            for kk in k0..k1 {
                let mut t = factor(ar[kk], a.elem_emin()).mul(factor(br[kk], b.elem_emin()));
                if fold {
                    let j = kk / kv.kblock;
                    t = t
                        .mul(factor(a.block_scale(m, j), a.scale_emin()))
                        .mul(factor(b.block_scale(n, j), b.scale_emin()));
                }
                terms.push(t);
            }
            d = self.mma(&terms, d, acc);
            if let Some(p) = self.promote_every
                && (k1 % p == 0 || k1 == k)
            {
                let j = k0 / kv.kblock;
                let (sa, sb) = if fold { (1.0, 1.0) } else { (a.block_scale(m, j), b.block_scale(n, j)) };
                acc32 = self.promote.apply(acc32, d, sa, sb);
                d = 0.0;
            }
        }
        if self.promote_every.is_none() {
            acc32 = d;
        }
        acc32
    }
}

/// The IEEE result when any product or C is not finite: the plain f64 sum (NaN
/// for `Inf·0` and `Inf − Inf`, else ±Inf). `None` when everything is finite.
pub(crate) fn special(products: impl Iterator<Item = f64> + Clone, c: Option<f32>) -> Option<f64> {
    let c = c.unwrap_or(0.0) as f64;
    if products.clone().all(f64::is_finite) && c.is_finite() {
        return None;
    }
    Some(products.fold(0.0, |s, p| s + p) + c)
}
