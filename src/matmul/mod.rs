//! GEMM emulation under named accumulation models.
//!
//! `D = A·Bᵀ (+ C)` where A is `[M, K]` and B is `[N, K]` (or `[K, N]`, see
//! [`Layout`]), both quantized along K by any scheme of [`crate::block`] or given
//! as plain element codes ([`Operand`]). Every model is a named [`Accum`]; the
//! output is rounded to an [`OutDtype`]. [`matmul`] runs the fast path where one
//! exists (f64 results; [`matmul_f32`] returns the f32, bf16 and f16 output types
//! as f32, in half the memory) and [`matmul_reference`] the slow, obviously
//! correct loop of the same model; the tests check that they agree bit for bit.
//!
//! # Where the scales go
//! Software references and GPU kernels apply scales at different points, and the
//! models follow the one they describe:
//!
//! * **Dequantized operands** (`exact`, `f64`, `f32-fma`, `f32-mul-add`): each
//!   operand element is its dequantized f32 value, exactly what
//!   [`crate::block::QuantizedTensor::dequantize`] returns (global scale included,
//!   in the scheme's own order). This is how numpy, torchao's and microxcaling's
//!   emulated GEMMs and the golden `matmul_*` vectors define the product.
//! * **Kernel view** (`f32-blocked`, tensor-core models): the products are of the
//!   *unscaled* element values; block scales along K are applied per block (at
//!   promotion, or folded into the product exponents where the scale block is
//!   shorter than the promotion interval, as Blackwell's block-scaled MMA does);
//!   a scale that covers a whole row of K (per-tensor or per-row FP8) and the
//!   NVFP4 global scales go to the epilogue as `alpha`
//!   (`alpha = fl32(fl32(fl32(r_a·r_b)·g_a)·g_b)`, only the factors present).
//!   `C` is added in the epilogue: `D = fma(alpha, acc, C)` in f32 (cuBLAS/CUTLASS
//!   `alpha·acc + beta·C` with `beta = 1`). The tensor-core models can apply the
//!   row scales one after the other instead ([`ScaleOrder`]): torch's row-wise
//!   `_scaled_mm` kernel computes `fl(fl(acc·r_b)·r_a)`, measured on an H100.
//!
//! # Models
//! | name | definition | reference it reproduces |
//! |---|---|---|
//! | `exact` | exact sum of all products and C, rounded once (RNE) to the output type | the golden `C_f64_exact` (`math.fsum`) |
//! | `f64` | f64 products, sequential f64 sum from +0, `+ C`, one rounding to the output | a common "high precision" check |
//! | `f32-fma` | `acc = fma(a_k, b_k, acc)` in f32 for k = 0..K−1, from +0; `+ C` | CUTLASS host reference (`gett.hpp`) |
//! | `f32-mul-add` | `acc = fl(acc + fl(a_k·b_k))`, no FMA, from +0; `+ C` | a naive loop, numpy-style; golden `C_f32_seq` |
//! | `f32-blocked` | per K scale block an exact dot rounded once to f32, then [`Promote`] into an f32 accumulator | TE's NVFP4 reference `qgemm` (`fadd`), DeepGEMM (`ffma-combined`), cuBLAS as TE models it (`fmul-then-ffma`) |
//! | `sm70`, `sm75`, `sm80`, `sm89`, `sm90`, `sm100`, `sm100-mma-sync`, `sm120`, `cdna3` | a GPU target ([`Target`]): the instruction its operand types select ([`TcPreset::select`]), as a [`TensorCore`] model | H100/H200, L40S and B200 hardware vectors; MMA-Sim's vectors of 54 instructions (`tests/mma_sim.rs`) |
//!
//! Parameters are set in the spec grammar shared with the schemes:
//! `sm90@promote-every=none` (fast accumulation), `f32-blocked@promote=ffma-combined`,
//! `sm100@frac-bits=34`, `sm89@c=mma@d=f16`. See [`Accum`] for the keys and
//! `lowp targets` for every instruction.
//!
//! # Specials
//! The `f64`, `f32-fma` and `f32-mul-add` loops are IEEE arithmetic, specials
//! included (an f32 sum may overflow to ±Inf on the way). In `exact` and the
//! kernel-view models a NaN or infinite element, scale, `alpha` or C makes that
//! output the IEEE result of the plain f64 sum (NaN for `Inf·0` and `Inf − Inf`,
//! else ±Inf); finite exact sums beyond the output range round to ±Inf.
//!
//! # Examples
//! ```
//! use lowp::block::{quantize, Scheme};
//! use lowp::matmul::{matmul, Operand, OutDtype, Layout};
//! let s: Scheme = "mxfp8-e4m3".parse().unwrap();
//! let a: Vec<f32> = (0..2 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
//! let b: Vec<f32> = (0..3 * 64).map(|i| (i as f32 * 0.11).cos()).collect();
//! let qa = Operand::from_quantized(&quantize(&a, &[2, 64], &s).unwrap(), Layout::RowsK).unwrap();
//! let qb = Operand::from_quantized(&quantize(&b, &[3, 64], &s).unwrap(), Layout::RowsK).unwrap();
//! let exact = matmul(&qa, &qb, None, &"exact".parse().unwrap(), OutDtype::F32).unwrap();
//! let sm90 = matmul(&qa, &qb, None, &"sm90".parse().unwrap(), OutDtype::F32).unwrap();
//! assert_eq!(exact.len(), 6);
//! // Hopper's 13-bit chain differs from the exact sum by at most a few of its ulps
//! for (e, h) in exact.iter().zip(&sm90) {
//!     assert!((e - h).abs() <= 64.0 * 2f64.powi(-13) * e.abs().max(1.0));
//! }
//! ```

mod exact;
mod fast;
mod fold_fast;
mod g16_fast;
mod grouped;
mod lanes;
mod operand;
mod operand_type;
mod reference;
mod simd;
mod spec;
mod target;
mod tc;
mod tc_fast;

pub use exact::OutRounding;
pub use grouped::{Groups, grouped_matmul};
pub use operand::{ElemType, Layout, Operand, ScaleKind};
pub use operand_type::OperandType;
pub use target::{Instruction, Overrides, Target, TcPreset};
pub use tc::{AccType, CInput, CMode, Family, Order, ScaleApply, ScaleOrder, TensorCore};

use crate::Error;

/// How each K-block partial is added into the f32 accumulator (`docs/gemm-numerics.md`
/// §3). `sa`, `sb` are the two operands' block scales
/// (1 where an operand has none in the loop) and `p` the block's partial sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Promote {
    /// `acc = fl(acc + fl(p · fl(sa·sb)))`: the plain `acc + p` when the scales are 1
    /// or applied in the epilogue (CUTLASS per-tensor FP8); TE's NVFP4 reference
    /// `qgemm` (block dot × (sx·sw), f32 running sum).
    Fadd,
    /// `acc = fma(fl(sa·sb), p, acc)`: DeepGEMM SM90 1D1D / 1D2D kernels, and
    /// cuBLASLt 13.0's 1×128 × 128×128 block-scaled FP8 GEMM on an H100
    /// (`torch._scaled_mm`, 0 of 65,536 outputs differ under `sm90`;
    /// `tests/gpu_golden.rs`). The `sm90` default.
    FfmaCombined,
    /// `acc = fma(fl(p·s1), s2, acc)`: cuBLAS blockwise FP8 as TE's reference models
    /// it, with `s1 = sa, s2 = sb` (1D×1D, 1D×2D) or, with `b_first`, `s1 = sb`
    /// (2D×1D); CUTLASS `scale_core` as nvcc contracts it. Measured on an H100 with
    /// cuBLASLt 13.0 it is *not* what cuBLAS does: it misses 31,816 of 65,536 f32
    /// outputs there (`ffma-combined` misses none).
    FmulThenFfma {
        /// Multiply the partial by B's scale first.
        b_first: bool,
    },
}

impl Promote {
    /// One promotion step in IEEE f32 with RNE.
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::Promote;
    /// assert_eq!(Promote::Fadd.apply(1.0, 2.0, 1.0, 1.0), 3.0);
    /// assert_eq!(Promote::FfmaCombined.apply(1.0, 2.0, 0.5, 4.0), 5.0);
    /// ```
    #[inline]
    pub fn apply(self, acc: f32, p: f32, sa: f32, sb: f32) -> f32 {
        match self {
            Promote::Fadd => acc + p * (sa * sb),
            Promote::FfmaCombined => (sa * sb).mul_add(p, acc),
            Promote::FmulThenFfma { b_first: false } => (p * sa).mul_add(sb, acc),
            Promote::FmulThenFfma { b_first: true } => (p * sb).mul_add(sa, acc),
        }
    }

    /// The spec-grammar name.
    pub fn name(self) -> &'static str {
        match self {
            Promote::Fadd => "fadd",
            Promote::FfmaCombined => "ffma-combined",
            Promote::FmulThenFfma { b_first: false } => "fmul-then-ffma",
            Promote::FmulThenFfma { b_first: true } => "fmul-then-ffma-b",
        }
    }
}

impl core::str::FromStr for Promote {
    type Err = Error;
    fn from_str(s: &str) -> Result<Promote, Error> {
        Ok(match s {
            "fadd" => Promote::Fadd,
            "ffma-combined" | "ffma" => Promote::FfmaCombined,
            "fmul-then-ffma" | "fmul-ffma" => Promote::FmulThenFfma { b_first: false },
            "fmul-then-ffma-b" | "fmul-ffma-b" => Promote::FmulThenFfma { b_first: true },
            _ => {
                return Err(Error::InvalidOption(format!(
                    "unknown promotion '{s}' (fadd, ffma-combined, fmul-then-ffma, fmul-then-ffma-b)"
                )));
            }
        })
    }
}

/// An accumulation model. Parse from the spec grammar `NAME[@KEY=VALUE]...`:
///
/// | key | applies to | values |
/// |---|---|---|
/// | `promote` | `f32-blocked`, tensor-core | `fadd`, `ffma-combined`, `fmul-then-ffma`, `fmul-then-ffma-b` |
/// | `promote-every` | tensor-core | K elements per CUDA-core promotion, or `none` (fast accumulation) |
/// | `k-inst`, `n`, `frac-bits`, `out-frac-bits` | tensor-core | integers (`frac-bits=inf`: no alignment truncation) |
/// | `out-rounding` | tensor-core | `rz`, `rne` |
/// | `c-mode` | tensor-core | `fused`, `late-rne` |
/// | `order` | tensor-core | `contiguous`, `interleaved4` |
/// | `scale-order` | tensor-core | `alpha`, `b-then-a`, `a-then-b` ([`ScaleOrder`]) |
///
/// # Examples
/// ```
/// use lowp::matmul::{Accum, Promote};
/// let a: Accum = "sm90@promote-every=none".parse().unwrap();
/// let Accum::Target(t) = a else { panic!() };
/// assert_eq!(t.keys.promote_every, Some(None));
/// assert_eq!(a.to_string(), "sm90@promote-every=none");
/// assert_eq!("f32-blocked".parse::<Accum>().unwrap(), Accum::F32Blocked(Promote::Fadd));
/// assert!("f32-fma@promote=fadd".parse::<Accum>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accum {
    /// Exact sum, one rounding (RNE) to the output type.
    Exact,
    /// f64 products and sequential f64 sum, one rounding at the end.
    F64,
    /// One f32 FMA per k, in k order (CUTLASS host reference).
    F32Fma,
    /// f32 multiply then f32 add per k, in k order (naive loop, numpy-style).
    F32MulAdd,
    /// Exact dot per K scale block, rounded to f32, promoted into an f32 sum.
    F32Blocked(Promote),
    /// The fused-block tensor-core model with explicit parameters.
    TensorCore(TensorCore),
    /// An architecture target: its instruction for the operands, chosen at the GEMM.
    Target(Target),
}

impl Accum {
    /// The model for these operands: a target's instruction chosen and its keys
    /// applied; every other model as it is.
    ///
    /// # Errors
    /// As [`Target::select`].
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::{Accum, ElemType, Layout, Operand};
    /// let a = Operand::from_wide(ElemType::Bf16, &[1.0; 32], [2, 16], Layout::RowsK).unwrap();
    /// let Accum::TensorCore(t) = "sm90".parse::<Accum>().unwrap().resolve(&a, &a).unwrap() else { panic!() };
    /// assert_eq!((t.k_inst, t.frac_bits, t.promote_every), (16, 25, None));
    /// let fp4 = Operand::from_f32(&[1.0; 64], [2, 32], Layout::RowsK, &"mxfp4".parse().unwrap()).unwrap();
    /// let e = "sm90".parse::<Accum>().unwrap().resolve(&fp4, &fp4).unwrap_err();
    /// assert!(e.to_string().contains("no FP6/FP4 tensor cores"));
    /// ```
    pub fn resolve(&self, a: &Operand, b: &Operand) -> Result<Accum, Error> {
        match self {
            Accum::Target(t) => Ok(Accum::TensorCore(t.select(a, b)?)),
            m => Ok(*m),
        }
    }
}

/// The output type: f32 (default), f64, or f32 rounded (RNE) to bf16 / f16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutDtype {
    /// IEEE binary32.
    #[default]
    F32,
    /// IEEE binary64.
    F64,
    /// bfloat16, widened back to f32 on output.
    Bf16,
    /// IEEE binary16, widened back to f32 on output.
    F16,
}

impl OutDtype {
    pub(crate) fn fmt(self) -> exact::FloatFmt {
        match self {
            OutDtype::F32 => exact::FloatFmt::F32,
            OutDtype::F64 => exact::FloatFmt::F64,
            OutDtype::Bf16 => exact::FloatFmt::BF16,
            OutDtype::F16 => exact::FloatFmt::F16,
        }
    }
    /// Rounds an f32 result to this type (RNE), as f64.
    #[inline]
    pub(crate) fn round_f32(self, x: f32) -> f64 {
        match self {
            OutDtype::F32 | OutDtype::F64 => x as f64,
            OutDtype::Bf16 => half::bf16::from_f32(x).to_f64(),
            OutDtype::F16 => half::f16::from_f32(x).to_f64(),
        }
    }
    /// Rounds an f64 result to this type (RNE, once), as f64.
    pub(crate) fn round_f64(self, x: f64) -> f64 {
        match self {
            OutDtype::F64 => x,
            OutDtype::F32 => x as f32 as f64,
            OutDtype::Bf16 => half::bf16::from_f64(x).to_f64(),
            OutDtype::F16 => half::f16::from_f64(x).to_f64(),
        }
    }
}

impl core::str::FromStr for OutDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<OutDtype, Error> {
        match s {
            "f32" => Ok(OutDtype::F32),
            "f64" => Ok(OutDtype::F64),
            "bf16" => Ok(OutDtype::Bf16),
            "f16" => Ok(OutDtype::F16),
            _ => Err(Error::InvalidOption(format!("unknown output dtype '{s}' (f32, f64, bf16, f16)"))),
        }
    }
}

/// Checks shapes: A `[M,K]`, B `[N,K]`, C `[M,N]`.
fn check(a: &Operand, b: &Operand, c: Option<&[f32]>) -> Result<(), Error> {
    if a.k() != b.k() {
        return Err(Error::Shape(format!("A has K = {} but B has K = {}", a.k(), b.k())));
    }
    if let Some(c) = c
        && c.len() != a.rows() * b.rows()
    {
        return Err(Error::Shape(format!(
            "C has {} elements, expected M·N = {}·{} = {}",
            c.len(),
            a.rows(),
            b.rows(),
            a.rows() * b.rows()
        )));
    }
    Ok(())
}

/// `D = A·Bᵀ + C` (`[M, N]`, row-major) under `accum`, rounded to `out` and
/// returned as f64 values (bf16/f16/f32 results are exact in f64). Runs the fast
/// path where the model has one; bit-identical to [`matmul_reference`].
///
/// # Errors
/// Mismatched K or C shape; two operands whose scale blocks along K differ in
/// length for a kernel-view model.
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat;
/// use lowp::matmul::{matmul, Layout, Operand, OutDtype};
/// // plain e4m3fn codes: 1.0 = 0x38, 2.0 = 0x40
/// let a = Operand::from_codes(ElemFormat::E4M3FN, &[0x38, 0x40], [1, 2], Layout::RowsK).unwrap();
/// let b = Operand::from_codes(ElemFormat::E4M3FN, &[0x40, 0x40], [1, 2], Layout::RowsK).unwrap();
/// let d = matmul(&a, &b, Some(&[0.5]), &"f32-fma".parse().unwrap(), OutDtype::F32).unwrap();
/// assert_eq!(d, vec![6.5]);
/// ```
pub fn matmul(a: &Operand, b: &Operand, c: Option<&[f32]>, accum: &Accum, out: OutDtype) -> Result<Vec<f64>, Error> {
    check(a, b, c)?;
    let accum = &accum.resolve(a, b)?;
    match fast::try_matmul(a, b, c, accum, out)? {
        Some(d) => Ok(d),
        None => reference::matmul(a, b, c, accum, out),
    }
}

/// [`matmul`] with the result as f32, for every output type but `f64`: the same
/// values (f32 holds bf16 and f16 results exactly) in half the memory. The
/// `f32-fma` / `f32-mul-add` fast path returns its f32 accumulators as they are.
///
/// # Errors
/// As [`matmul`]; `OutDtype::F64`, whose results need f64 ([`matmul`]).
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat;
/// use lowp::matmul::{matmul, matmul_f32, Layout, Operand, OutDtype};
/// let a = Operand::from_codes(ElemFormat::E4M3FN, &[0x38, 0x40, 0x44], [1, 3], Layout::RowsK).unwrap();
/// let b = Operand::from_codes(ElemFormat::E4M3FN, &[0x40, 0x3C, 0xB1], [1, 3], Layout::RowsK).unwrap();
/// let m = "f32-fma".parse().unwrap();
/// let d = matmul_f32(&a, &b, Some(&[0.25]), &m, OutDtype::Bf16).unwrap();
/// assert_eq!(d, vec![matmul(&a, &b, Some(&[0.25]), &m, OutDtype::Bf16).unwrap()[0] as f32]);
/// assert!(matmul_f32(&a, &b, None, &m, OutDtype::F64).is_err());
/// ```
pub fn matmul_f32(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Vec<f32>, Error> {
    if out == OutDtype::F64 {
        return Err(Error::InvalidOption("matmul_f32 returns f32 values: f64 output needs matmul".into()));
    }
    check(a, b, c)?;
    let accum = &accum.resolve(a, b)?;
    match fast::try_matmul(a, b, c, accum, out)? {
        Some(d) => Ok(d),
        // exact in f32: every result is an f32, bf16 or f16 value
        None => Ok(reference::matmul(a, b, c, accum, out)?.into_iter().map(|x| x as f32).collect()),
    }
}

/// Whether [`matmul`] has a fast path for this model and these operands (else
/// it runs the reference loop, which costs about 5–30 ns per product).
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat;
/// use lowp::matmul::{has_fast_path, Layout, Operand};
/// let a = Operand::from_codes(ElemFormat::E4M3FN, &[0x38; 64], [2, 32], Layout::RowsK).unwrap();
/// assert!(has_fast_path(&a, &a, &"sm90".parse().unwrap()));
/// assert!(!has_fast_path(&a, &a, &"exact".parse().unwrap()));
/// ```
pub fn has_fast_path(a: &Operand, b: &Operand, accum: &Accum) -> bool {
    accum.resolve(a, b).is_ok_and(|m| fast::has_fast_path(a, b, &m))
}

/// The slow reference loop of each model: one output at a time, in the order the
/// model's definition states, with exact big-integer sums where it says "exact".
/// The oracle the fast paths are tested against.
///
/// # Errors
/// As [`matmul`].
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat;
/// use lowp::matmul::{matmul, matmul_reference, Layout, Operand, OutDtype};
/// let a = Operand::from_codes(ElemFormat::E5M2, &[0x3C, 0x41, 0x02], [1, 3], Layout::RowsK).unwrap();
/// let b = Operand::from_codes(ElemFormat::E5M2, &[0x3C, 0xC1, 0x7B], [1, 3], Layout::RowsK).unwrap();
/// let m = "f32-mul-add".parse().unwrap();
/// assert_eq!(matmul(&a, &b, None, &m, OutDtype::F32).unwrap(), matmul_reference(&a, &b, None, &m, OutDtype::F32).unwrap());
/// ```
pub fn matmul_reference(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Vec<f64>, Error> {
    check(a, b, c)?;
    reference::matmul(a, b, c, &accum.resolve(a, b)?, out)
}
