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
use super::target::TcPreset;
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
    /// A CDNA3 FP8 group: even and odd indices fused apart, then added (two stages).
    EvenOdd,
}

/// Where the incoming C enters a GEMM (`@c=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CInput {
    /// Added after the main loop, in f32: `D = alpha·acc + C` (cuBLAS and CUTLASS
    /// epilogues). The default.
    #[default]
    Epilogue,
    /// The first instruction's accumulator input, as `mma`, `wgmma`,
    /// `tcgen05.mma` and MFMA define C; each instruction's D is the next one's C
    /// (whole-row and global scales still apply afterwards, to the result).
    Mma,
}

/// The type of an instruction's accumulator C and result D (`@d=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccType {
    /// f32 (or the narrower FP22 grid of the FP8 instructions that keep 13 bits).
    #[default]
    F32,
    /// f16: each instruction's result rounded to nearest even on the f16 grid.
    F16,
}

/// How block scales enter an instruction's products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleApply {
    /// The instruction takes no scales; the kernel applies them: folded into the
    /// products where blocks are shorter than (or not aligned with) the promotion
    /// interval, at promotion where aligned, in the epilogue where one scale spans K
    /// (Hopper and Ada FP8 libraries, `kind::f8f6f4`).
    Kernel,
    /// The instruction folds each block's scales into every product (a UE8M0 scale
    /// adds to its exponent): `kind::mxf8f6f4`.
    Fold,
    /// Per 16 products: their exact sum times both scales' significands, aligned at
    /// the scales' exponents: `kind::mxf4nvf4` (MMA-Sim's block-scale model).
    Group16,
}

/// Whose matrix-unit arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// NVIDIA tensor cores: fused blocks with magnitude truncation (§2).
    Nvidia,
    /// AMD CDNA3 matrix cores: groups fused with truncation, aligned with C by
    /// rounding down, rounded to f32 per group (two stages for FP8).
    Cdna3,
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
/// let b = TcPreset::Sm100.config();
/// assert_eq!(b.dot(E4M3FN, &[0x38, 0x38, 0x08], E4M3FN, &[0x38, 0x38, 0x04], 0.0).unwrap().to_bits(), 0x4000_0200);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorCore {
    /// The target these parameters came from (for display).
    pub preset: TcPreset,
    /// The instruction they model (`wgmma.m64nNk32.f32.e4m3.e4m3`, ...).
    pub instruction: &'static str,
    /// NVIDIA fused blocks or AMD CDNA3 groups.
    pub family: Family,
    /// The accumulator type.
    pub acc: AccType,
    /// Where C enters.
    pub c_input: CInput,
    /// A zero factor's exponent is −126 and counts toward a block's largest exponent
    /// (a zero C too), as MMA-Sim models the hardware; otherwise zeros are left out.
    pub zero_exp: bool,
    /// How in-loop block scales enter the products.
    pub scale_apply: ScaleApply,
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
/// let Accum::Target(t) = a else { panic!() };
/// assert_eq!(t.keys.scale_order, Some(ScaleOrder::BThenA));
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
        // a zero's exponent field reads as the smallest f32 normal's (MMA-Sim); it
        // matters only under `zero_exp`, where zero terms count toward the maximum
        return Term { neg, e: -126, sig: 0, frac: 0 };
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

    /// The format of an instruction's result: f16 (RNE), or f32 with
    /// `out_frac_bits` fraction bits and `out_rounding`.
    fn out_fmt(&self) -> (FloatFmt, OutRounding) {
        match self.acc {
            AccType::F16 => (FloatFmt::F16, OutRounding::Rne),
            AccType::F32 => (FloatFmt { frac_bits: self.out_frac_bits, emin: -126, emax: 127 }, self.out_rounding),
        }
    }

    /// The accumulator input as a term (`None`: left out of the block).
    fn c_term(&self, c: f32) -> Option<Term> {
        let emin = if self.acc == AccType::F16 { -14 } else { -126 };
        (c != 0.0 || self.zero_exp).then(|| factor(c, emin))
    }

    /// One fused block: terms (and `c` unless left out) aligned, truncated, summed
    /// exactly, rounded to the output precision.
    pub(crate) fn fused(&self, terms: &[Term], c: f32, acc: &mut Kulisch) -> f32 {
        if !c.is_finite() {
            // the chain overflowed to ±Inf earlier: finite products cannot bring it back
            return c;
        }
        let ct = self.c_term(c);
        let counts = |t: &&Term| t.sig != 0 || self.zero_exp;
        let Some(m) = terms.iter().chain(ct.iter()).filter(counts).map(|t| t.e).max() else { return 0.0 };
        acc.clear();
        for t in terms.iter().chain(ct.iter()).filter(|t| t.sig != 0) {
            let sh = t.frac as i64 + (m - t.e) as i64 - self.frac_bits as i64;
            if self.frac_bits == u32::MAX || sh <= 0 {
                acc.add(t.neg, t.sig, t.e - t.frac as i32);
            } else if sh < 128 {
                acc.add(t.neg, t.sig >> sh, m - self.frac_bits as i32);
            }
        }
        let (f, r) = self.out_fmt();
        // a result that rounds to zero is +0: MMA-Sim's final rounding goes through
        // an integer (`math.trunc`, `round`), which has no sign
        let v = acc.round(f, r) as f32;
        if v == 0.0 { 0.0 } else { v }
    }

    /// One CDNA3 group (MMA-Sim's `amd_fused_dot_rd_add`, with exact integers):
    /// the products fused with truncation to F (FP8: even and odd indices apart,
    /// each then aligned to their common maximum by rounding down); the sum
    /// aligned with C at `2^(M-31)` and C at `2^(M-24)`, both rounded down
    /// (toward −∞), C dropped 26 binades below for FP8; the total rounded to f32.
    fn cdna3_group(&self, terms: &[Term], c: f32, two_stage: bool, acc: &mut Kulisch) -> f32 {
        if !c.is_finite() {
            return c;
        }
        // a product beyond f32's range: ±Inf (NaN for both signs)
        let big = |t: &Term| (t.sig as f64) * super::exact::ldexp(1.0, t.e - t.frac as i32) >= 2f64.powi(128);
        let (pinf, ninf) = (terms.iter().any(|t| big(t) && !t.neg), terms.iter().any(|t| big(t) && t.neg));
        if pinf || ninf {
            return if pinf && ninf {
                f32::NAN
            } else if pinf {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            };
        }
        let f = self.frac_bits as i64;
        // trunc-fused sum: (S, M) with value S · 2^(M − F)
        let fuse = |ts: &mut dyn Iterator<Item = &Term>| -> (i128, i32) {
            let ts: Vec<&Term> = ts.collect();
            let m = ts.iter().map(|t| t.e).max().unwrap_or(-126);
            let mut s = 0i128;
            for t in ts.iter().filter(|t| t.sig != 0) {
                let sh = t.frac as i64 + (m - t.e) as i64 - f;
                let v = if sh <= 0 {
                    (t.sig << (-sh) as u32) as i128
                } else if sh < 127 {
                    (t.sig >> sh) as i128
                } else {
                    0
                };
                s += if t.neg { -v } else { v };
            }
            (s, m)
        };
        // floor(x · 2^-sh) of a signed integer (arithmetic shift), any sh >= 0
        let floor_shr = |x: i128, sh: i64| if sh >= 127 { if x < 0 { -1 } else { 0 } } else { x >> sh };
        let (s, e) = if two_stage {
            let (s0, e0) = fuse(&mut terms.iter().step_by(2));
            let (s1, e1) = fuse(&mut terms.iter().skip(1).step_by(2));
            let mx = e0.max(e1);
            (floor_shr(s0, (mx - e0) as i64) + floor_shr(s1, (mx - e1) as i64), mx)
        } else {
            fuse(&mut terms.iter())
        };
        let ct = factor(c, -126); // a zero C reads as exponent −126
        let mx = e.max(ct.e);
        // the sum at 2^(mx − 31): S · 2^(e − 24) = (S · 2^(7 + e − mx)) · 2^(mx − 31)
        let s31 = floor_shr(s << 7, (mx - e) as i64);
        // C at 2^(mx − 24)
        let csig = if ct.neg { -(ct.sig as i128) } else { ct.sig as i128 };
        let sh = ct.frac as i64 + (mx - ct.e) as i64 - 24;
        let c24 = if two_stage && ct.e < mx - 25 {
            0
        } else if sh <= 0 {
            csig << (-sh) as u32
        } else {
            floor_shr(csig, sh)
        };
        let total = s31 + (c24 << 7);
        acc.clear();
        acc.add(total < 0, total.unsigned_abs(), mx - 31);
        acc.round(FloatFmt::F32, OutRounding::Rne) as f32
    }

    /// One CDNA3 instruction, group by group (MMA-Sim's `mfma`): a group with a
    /// non-finite product or C gives its f64 sum plus C rounded to f32 (NaN for
    /// `Inf − Inf`, so an earlier group's overflow meets a later `−Inf` as NaN), any
    /// other [`Self::cdna3_group`]. `prods` are the exact products as f64.
    fn cdna3_mma(&self, prods: &[f64], terms: &[Term], c: f32, acc: &mut Kulisch) -> f32 {
        let two = self.order == Order::EvenOdd;
        prods.chunks(self.n).zip(terms.chunks(self.n)).fold(c, |d, (p, t)| {
            if !d.is_finite() || p.iter().any(|x| !x.is_finite()) {
                (p.iter().sum::<f64>() + d as f64) as f32
            } else {
                self.cdna3_group(t, d, two, acc)
            }
        })
    }

    /// One instruction: `terms` are its (up to `k_inst`) products in k order, `c`
    /// the incoming accumulator.
    pub(crate) fn mma(&self, terms: &[Term], c: f32, acc: &mut Kulisch) -> f32 {
        let ordered: Vec<Term>;
        let terms = match self.order {
            Order::Contiguous | Order::EvenOdd => terms,
            Order::Interleaved4 => {
                ordered = (0..terms.len())
                    .filter(|i| i % 4 < 2)
                    .chain((0..terms.len()).filter(|i| i % 4 >= 2))
                    .map(|i| terms[i])
                    .collect();
                &ordered
            }
        };
        match (self.family, self.c_mode) {
            (Family::Cdna3, _) => unreachable!("CDNA3 instructions run through cdna3_mma"),
            (_, CMode::Fused) => terms.chunks(self.n).fold(c, |d, blk| self.fused(blk, d, acc)),
            (_, CMode::LateRne) => terms.chunks(self.n).fold(0.0, |d, blk| self.fused(blk, d, acc)) + c,
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
        let prods: Vec<f64> = va.iter().zip(&vb).map(|(&x, &y)| x as f64 * y as f64).collect();
        let (ea, eb) = (fa.spec().min_exp(), fb.spec().min_exp());
        let terms: Vec<Term> = va.iter().zip(&vb).map(|(&x, &y)| factor(x, ea).mul(factor(y, eb))).collect();
        let mut acc = Kulisch::default();
        if self.family == Family::Cdna3 {
            let insts = prods.chunks(self.k_inst).zip(terms.chunks(self.k_inst));
            return Ok(insts.fold(c, |d, (p, t)| self.cdna3_mma(p, t, d, &mut acc)));
        }
        if let Some(s) = special(prods.iter().copied(), Some(c)) {
            return Ok(s as f32);
        }
        Ok(terms.chunks(self.k_inst).fold(c, |d, inst| self.mma(inst, d, &mut acc)))
    }

    /// Whether the instruction chain defines non-finite products and C itself
    /// (CDNA3, group by group) rather than the row's plain sum.
    pub(crate) fn chain_specials(&self) -> bool {
        self.family == Family::Cdna3
    }

    /// Whether the instruction applies block scales itself (a block-scaled kind).
    pub(crate) fn instruction_scales(&self) -> bool {
        self.scale_apply != ScaleApply::Kernel
    }

    /// Whether block scales are folded into the products (scale blocks shorter
    /// than, or not aligned with, the promotion interval) rather than applied at
    /// promotion.
    pub(crate) fn folds(&self, kv: &KernelView) -> bool {
        kv.scaled && self.promote_every.is_none_or(|p| !kv.kblock.is_multiple_of(p))
    }

    /// One output of the GEMM (slow path): row `m` of A against row `n` of B.
    pub(crate) fn output(&self, kv: &KernelView, m: usize, n: usize, c: f32, acc: &mut Kulisch) -> f32 {
        let (a, b) = (kv.a, kv.b);
        let k = a.k();
        let fold = self.folds(kv);
        let (ar, br) = (&a.elements()[m * k..(m + 1) * k], &b.elements()[n * k..(n + 1) * k]);
        let mut terms = Vec::with_capacity(self.k_inst);
        let mut prods = Vec::with_capacity(self.k_inst);
        let mut acc32 = 0f32;
        // C is the first instruction's accumulator input (`c` is 0 under `c=epilogue`)
        let mut d = c;
        for (k0, k1) in self.instructions(k) {
            terms.clear();
            if fold && self.scale_apply == ScaleApply::Group16 {
                for g0 in (k0..k1).step_by(16) {
                    let j = g0 / kv.kblock;
                    let (sa, sb) = (kv.block_scale(a, m, j).abs(), kv.block_scale(b, n, j).abs());
                    terms.push(group_term(
                        &ar[g0..(g0 + 16).min(k1)],
                        a.elem_emin(),
                        &br[g0..(g0 + 16).min(k1)],
                        b.elem_emin(),
                        [factor(sa, a.scale_emin()), factor(sb, b.scale_emin())],
                    ));
                }
                d = self.fused(&terms, d, acc);
            } else {
                prods.clear();
                for kk in k0..k1 {
                    let mut t = factor(ar[kk], a.elem_emin()).mul(factor(br[kk], b.elem_emin()));
                    let mut p = ar[kk] as f64 * br[kk] as f64;
                    if fold {
                        let j = kk / kv.kblock;
                        let (sa, sb) = (kv.block_scale(a, m, j), kv.block_scale(b, n, j));
                        t = t.mul(factor(sa, a.scale_emin())).mul(factor(sb, b.scale_emin()));
                        p *= sa as f64 * sb as f64;
                    }
                    terms.push(t);
                    prods.push(p);
                }
                d = if self.family == Family::Cdna3 {
                    self.cdna3_mma(&prods, &terms, d, acc)
                } else {
                    self.mma(&terms, d, acc)
                };
            }
            if let Some(p) = self.promote_every
                && (k1 % p == 0 || k1 == k)
            {
                let j = k0 / kv.kblock;
                let (sa, sb) = if fold { (1.0, 1.0) } else { (kv.block_scale(a, m, j), kv.block_scale(b, n, j)) };
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

/// One `kind::mxf4nvf4` group: the exact sum `S` of its products (unscaled), as a
/// term of significand `S · s_a · s_b` (the scales' significands) aligned at the
/// scales' exponent `e_a + e_b` (MMA-Sim's `nv_fused_dot_add_with_block_scale`).
fn group_term(a: &[f32], ea: i32, b: &[f32], eb: i32, scales: [Term; 2]) -> Term {
    let prods: Vec<Term> = a.iter().zip(b).map(|(&x, &y)| factor(x, ea).mul(factor(y, eb))).collect();
    // the exact sum in units of 2^low
    let low = prods.iter().filter(|t| t.sig != 0).map(|t| t.e - t.frac as i32).min().unwrap_or(0);
    let sum: i128 = prods
        .iter()
        .filter(|t| t.sig != 0)
        .map(|t| {
            let v = (t.sig << (t.e - t.frac as i32 - low) as u32) as i128;
            if t.neg { -v } else { v }
        })
        .sum();
    let [s0, s1] = scales;
    let e = s0.e + s1.e;
    // value = |sum| · sig0 · sig1 · 2^(low − frac0 − frac1) = sig · 2^(e − frac)
    let sig = sum.unsigned_abs() * s0.sig * s1.sig;
    let frac = s0.frac as i64 + s1.frac as i64 + e as i64 - (low as i64 + e as i64);
    let (sig, frac) = if frac < 0 { (sig << (-frac) as u32, 0) } else { (sig, frac as u32) };
    Term { neg: (sum < 0) != (s0.neg != s1.neg), e, sig, frac }
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
