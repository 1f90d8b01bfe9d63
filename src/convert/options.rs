//! The named semantics of a cast: rounding, overflow, Inf, NaN and the rules of
//! unsigned and zero-less formats. [`CastOptions`] bundles them; [`Like`] presets
//! set every knob to reproduce one reference implementation.

use crate::Error;
use crate::format::ElemFormat;
use core::fmt;
use core::str::FromStr;

/// How a value between two representable neighbours is rounded.
///
/// Rounding is applied first, on a grid with unbounded exponent; overflow is
/// decided afterwards from the rounded value ("round, then saturate": OCP OFP8
/// v1.0 as clarified in onnx/onnx#4805, IEEE 754-2019 §7.4). Subnormal results are
/// rounded on the subnormal grid (no flush to zero).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, Rounding}, format::ElemFormat};
/// let o = |r| CastOptions { rounding: r, ..CastOptions::default() };
/// // 1.25 lies halfway between e2m1fn's 1.0 (code 2) and 1.5 (code 3)
/// let f = ElemFormat::E2M1FN;
/// assert_eq!(encode_f32(f, 1.25, &o(Rounding::NearestEven), 0).0, 2);
/// assert_eq!(encode_f32(f, 1.25, &o(Rounding::NearestAway), 0).0, 3);
/// assert_eq!(encode_f32(f, 1.4, &o(Rounding::TowardZero), 0).0, 2);
/// assert_eq!(encode_f32(f, 1.1, &o(Rounding::TowardPositive), 0).0, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Round to nearest, ties to the even code (IEEE 754 roundTiesToEven). The
    /// default everywhere: ml_dtypes, torch, PTX `cvt.rn`, CUTLASS, TE, torchao.
    #[default]
    NearestEven,
    /// Round to nearest, ties away from zero (IEEE 754 roundTiesToAway);
    /// microxcaling's `nearest` mode.
    NearestAway,
    /// Round to nearest, ties toward zero (DeepGEMM's FP4 threshold cast:
    /// 0.75 → 0.5, 1.75 → 1.5, 3.5 → 3).
    NearestTowardZero,
    /// Truncate toward zero (IEEE roundTowardZero; PTX `.rz`; microxcaling `floor`).
    TowardZero,
    /// Toward +∞ (IEEE roundTowardPositive; PTX `.rp`).
    TowardPositive,
    /// Toward −∞ (IEEE roundTowardNegative; PTX `.rm`).
    TowardNegative,
    /// Stochastic rounding with caller-supplied random bits (PTX `cvt.rs`).
    ///
    /// Let `lo ≤ |x| < hi` be the neighbouring grid points and `f = (|x| − lo)/(hi − lo)`
    /// the exact fraction. With `r` = the low `bits` bits of the element's random
    /// word, the magnitude rounds up iff `floor(f · 2^bits) + r ≥ 2^bits`.
    /// This is the PTX rule "add the random bits to the truncated-off mantissa
    /// bits and round away from zero on carry-out", with the random bits aligned
    /// to the most significant dropped bit and dropped bits below them ignored
    /// (gfloat `StochasticFastest`). PTX uses 8 random bits per element for
    /// e4m3x4/e5m2x4/e2m3x4/e3m2x4/e2m1x4 destinations, 13 for f16, 16 for bf16.
    /// Rounding is decided before saturation, as `cvt.rs.satfinite` does.
    /// `bits` must be in 1..=32. Provisional against hardware: the alignment of
    /// the random bits is read from the PTX text, not probed on a GPU.
    Stochastic {
        /// Number of random bits consumed per element (8 matches PTX for FP8/FP6/FP4).
        bits: u8,
    },
}

impl Rounding {
    /// Every deterministic rounding (all but [`Rounding::Stochastic`]).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(lowp::convert::Rounding::DETERMINISTIC.len(), 6);
    /// ```
    pub const DETERMINISTIC: &'static [Rounding] = &[
        Rounding::NearestEven,
        Rounding::NearestAway,
        Rounding::NearestTowardZero,
        Rounding::TowardZero,
        Rounding::TowardPositive,
        Rounding::TowardNegative,
    ];
}

/// What a finite value beyond the largest finite code becomes.
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, Overflow}, format::ElemFormat};
/// let sat = CastOptions { overflow: Overflow::Saturate, ..CastOptions::default() };
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, 500.0, &sat, 0).0, 0x7E); // 448
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, 500.0, &CastOptions::default(), 0).0, 0x7F); // NaN
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// Clamp to ±max finite (PTX `.satfinite`, CUTLASS, TE, torch ≥ 2.13 for
    /// e4m3fn, OCP "saturating mode").
    Saturate,
    /// Produce the format's non-finite value: ±Inf where the format has it, else
    /// its NaN; formats with neither (FP6/FP4) saturate. With directed rounding
    /// IEEE 754-2019 §7.4 applies: toward zero always gives ±max, toward +∞ gives
    /// −max for negative overflow, toward −∞ gives +max for positive overflow.
    /// ml_dtypes' default (`kSaturate=false`), torch for e5m2 and fnuz types.
    #[default]
    NonFinite,
}

/// What ±Inf inputs become.
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, InfPolicy}, format::ElemFormat};
/// let keep = CastOptions::default();
/// let sat = CastOptions { inf: InfPolicy::Saturate, ..keep };
/// assert_eq!(encode_f32(ElemFormat::E5M2, f32::INFINITY, &keep, 0).0, 0x7C); // +Inf
/// assert_eq!(encode_f32(ElemFormat::E5M2, f32::INFINITY, &sat, 0).0, 0x7B); // 57344
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, f32::NEG_INFINITY, &keep, 0).0, 0xFF); // NaN
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InfPolicy {
    /// ±Inf where the format has it, else NaN (with sign where the format's NaN
    /// has one), else ±max for formats with neither (ml_dtypes, torch e5m2).
    #[default]
    Keep,
    /// ±max finite (PTX `.satfinite`, CUTLASS, torch 2.15 e4m3fn).
    Saturate,
}

/// What NaN inputs become in a format without NaN (`e2m3fn`, `e3m2fn`, `e2m1fn`).
/// Formats with NaN always produce NaN (see [`NanEncoding`]).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, NanPolicy}, format::ElemFormat};
/// let f = ElemFormat::E2M1FN;
/// let with = |nan| CastOptions { nan, ..CastOptions::default() };
/// assert_eq!(encode_f32(f, f32::NAN, &with(NanPolicy::SignFlippedZero), 0).0, 0x8); // -0 (ml_dtypes)
/// assert_eq!(encode_f32(f, f32::NAN, &with(NanPolicy::PositiveMax), 0).0, 0x7); // +6 (PTX)
/// assert_eq!(encode_f32(f, -f32::NAN, &with(NanPolicy::SignedMax), 0).0, 0xF); // -6 (CUTLASS)
/// assert_eq!(encode_f32(f, f32::NAN, &with(NanPolicy::Zero), 0).0, 0x0); // TE
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NanPolicy {
    /// Refuse: slice conversions return [`Error::NanInput`] (gfloat raises).
    Error,
    /// `+max` (PTX `cvt.satfinite.e2m1x2`, CUDA `__nv_cvt_float_to_fp4`: "NaN → positive MAXNORM").
    PositiveMax,
    /// `±max` with the NaN's sign (CUTLASS host `float_e2m1_t`).
    SignedMax,
    /// `+0` (TransformerEngine NVFP4 reference, DeepGEMM).
    Zero,
    /// The zero code with the NaN's sign *flipped*: `+NaN → -0`, `-NaN → +0`
    /// (ml_dtypes 0.6 `mxfloat.h`, whose `quiet_NaN()` is the `-0` bit pattern).
    #[default]
    SignFlippedZero,
}

/// Which NaN code a NaN *input* gets in a format with several NaN codes (only
/// `Ieee` formats and the sign of `NanAllOnes` formats are affected). A NaN made
/// by finite overflow or ±Inf under [`Overflow::NonFinite`] / [`InfPolicy::Keep`]
/// always keeps the value's sign (e4m3fn `0xFF` for a negative overflow): so do
/// ml_dtypes, torch and CUDA's `__nv_cvt_float_to_fp8(.., __NV_NOSAT, ..)`, the
/// last two measured on an H100 over all 2^32 f32 inputs (`scripts/gpu_check.py`).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, InfPolicy, Like, NanEncoding, Overflow}, format::ElemFormat};
/// let with = |nan_encoding| CastOptions { nan_encoding, ..CastOptions::default() };
/// assert_eq!(encode_f32(ElemFormat::E5M2, -f32::NAN, &with(NanEncoding::QuietSigned), 0).0, 0xFE);
/// assert_eq!(encode_f32(ElemFormat::E5M2, -f32::NAN, &with(NanEncoding::AllOnesSigned), 0).0, 0xFF);
/// assert_eq!(encode_f32(ElemFormat::E5M2, -f32::NAN, &with(NanEncoding::AllOnesPositive), 0).0, 0x7F);
/// // cuda_fp8.h __NV_NOSAT: a NaN input gives 0x7F, a negative overflow keeps its sign
/// let nosat = Like::Ptx.cast_options(ElemFormat::E4M3FN).unwrap();
/// let nosat = CastOptions { overflow: Overflow::NonFinite, inf: InfPolicy::Keep, ..nosat };
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, -f32::NAN, &nosat, 0).0, 0x7F);
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, -500.0, &nosat, 0).0, 0xFF);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NanEncoding {
    /// The canonical quiet NaN (top mantissa bit set, e.g. e5m2 `0x7E`), input sign kept (ml_dtypes).
    #[default]
    QuietSigned,
    /// All-ones mantissa (e5m2 `0x7F`), input sign kept (torch 2.15).
    AllOnesSigned,
    /// All-ones code with the sign cleared (`0x7F`): CUTLASS host, PTX `cvt`, CUDA's
    /// `cuda_fp8.h` (`__NV_NOSAT` too), and torch on CUDA for f16 inputs (the GPU's
    /// f16 → f32 step makes every NaN the positive canonical NaN).
    AllOnesPositive,
}

/// How values are rounded to the unsigned, zero-less `e8m0fnu` (its own rules:
/// the element [`Rounding`] does not apply to it).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, E8m0Rounding}, format::ElemFormat};
/// let with = |e8m0| CastOptions { e8m0, ..CastOptions::default() };
/// let f = ElemFormat::E8M0FNU; // code 127 = 1.0, 128 = 2.0
/// assert_eq!(encode_f32(f, 3.0, &with(E8m0Rounding::TiesUp), 0).0, 129); // 4.0
/// assert_eq!(encode_f32(f, 3.0, &with(E8m0Rounding::TiesEvenCode), 0).0, 128); // 2.0: even code
/// assert_eq!(encode_f32(f, 1.9, &with(E8m0Rounding::Floor), 0).0, 127);
/// assert_eq!(encode_f32(f, 1.1, &with(E8m0Rounding::Ceil), 0).0, 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum E8m0Rounding {
    /// Nearest power of two, exact ties `1.5·2^k` rounded *up*; inputs below
    /// 2^-126 round up too (to 2^-127 or 2^-126). ml_dtypes 0.6 and torch 2.15
    /// (ml_dtypes' RNE treats the implicit bit as the odd LSB; its subnormal-input
    /// normalisation rounds up).
    #[default]
    TiesUp,
    /// Nearest, ties to the even code (even biased exponent): gfloat, ml_dtypes PR #398.
    TiesEvenCode,
    /// Round down to a power of two (PTX `cvt.rz.ue8m0x2`, OCP MX floor).
    Floor,
    /// Round up to a power of two (PTX `cvt.rp.ue8m0x2`, cuBLAS/TE/CUTLASS, DeepGEMM).
    Ceil,
}

/// What zero inputs become in a format without zero (`e8m0fnu`). Nonzero values
/// below the smallest code always become the smallest code (2^-127).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, ZeroPolicy}, format::ElemFormat};
/// let min = CastOptions { zero: ZeroPolicy::MinCode, ..CastOptions::default() };
/// assert_eq!(encode_f32(ElemFormat::E8M0FNU, 0.0, &CastOptions::default(), 0).0, 0xFF);
/// assert_eq!(encode_f32(ElemFormat::E8M0FNU, 0.0, &min, 0).0, 0x00);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ZeroPolicy {
    /// NaN (ml_dtypes).
    #[default]
    Nan,
    /// The smallest code, 2^-127 (torch, PTX/CUTLASS `ue8m0`, torchao).
    MinCode,
}

/// What nonzero negative inputs become in an unsigned format (`e8m0fnu`, `ue4m3`).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, NegativePolicy}, format::ElemFormat};
/// let with = |negative| CastOptions { negative, ..CastOptions::default() };
/// assert_eq!(encode_f32(ElemFormat::E8M0FNU, -4.0, &with(NegativePolicy::Nan), 0).0, 0xFF);
/// assert_eq!(encode_f32(ElemFormat::E8M0FNU, -4.0, &with(NegativePolicy::Abs), 0).0, 129);
/// assert_eq!(encode_f32(ElemFormat::UE4M3, -4.0, &with(NegativePolicy::Clamp), 0).0, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NegativePolicy {
    /// NaN (ml_dtypes e8m0).
    #[default]
    Nan,
    /// The magnitude is converted, the sign dropped (torch e8m0, PTX/CUTLASS `ue8m0`).
    Abs,
    /// Zero, or the smallest code where there is no zero (ReLU-like clamp).
    Clamp,
}

/// How an f64 input reaches the element format.
///
/// # Examples
/// See [`crate::convert::encode_value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InputPath {
    /// Round the f64 value once, directly (ml_dtypes C++ `T(double)`, gfloat, CUDA
    /// `__nv_cvt_double_to_fp8`). The default.
    #[default]
    Direct,
    /// Round to f32 (RNE) first, then to the format: ml_dtypes NumPy `astype`
    /// (`NPyCast` goes through `float`), torch (`Float8_e4m3fn(float)`), PTX `cvt`
    /// (f32 operands), CUTLASS `float_e2m1_t(double)`; set by those presets.
    /// Double rounding is possible. f32, f16 and bf16 inputs are unaffected.
    ViaF32,
}

/// Every knob of an element cast. `CastOptions::default()` is ml_dtypes 0.6's cast
/// semantics (RNE, non-saturating, NaN/Inf kept: the most widely used scalar
/// reference, and the IEEE 754 convention that overflow is visible rather than
/// silently clipped), with every input rounded **once**: f64 inputs go directly
/// to the format. [`Like::MlDtypes`] additionally reproduces NumPy's f64 → f32 →
/// format double rounding ([`InputPath::ViaF32`]).
///
/// # Examples
/// ```
/// use lowp::convert::{CastOptions, InputPath, Like, Overflow};
/// use lowp::format::ElemFormat;
/// let ml = Like::MlDtypes.cast_options(ElemFormat::E4M3FN).unwrap();
/// assert_eq!(CastOptions { input: InputPath::ViaF32, ..CastOptions::default() }, ml);
/// let torch = Like::Torch.cast_options(ElemFormat::E4M3FN).unwrap();
/// assert_eq!(torch.overflow, Overflow::Saturate);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CastOptions {
    /// Rounding of every format except `e8m0fnu`.
    pub rounding: Rounding,
    /// Finite overflow.
    pub overflow: Overflow,
    /// ±Inf inputs.
    pub inf: InfPolicy,
    /// NaN inputs into NaN-less formats.
    pub nan: NanPolicy,
    /// NaN code choice in formats with NaN.
    pub nan_encoding: NanEncoding,
    /// Rounding to `e8m0fnu`.
    pub e8m0: E8m0Rounding,
    /// Zero inputs into `e8m0fnu`.
    pub zero: ZeroPolicy,
    /// Negative inputs into unsigned formats.
    pub negative: NegativePolicy,
    /// f64 input path.
    pub input: InputPath,
}

impl Default for CastOptions {
    fn default() -> Self {
        CastOptions {
            rounding: Rounding::NearestEven,
            overflow: Overflow::NonFinite,
            inf: InfPolicy::Keep,
            nan: NanPolicy::SignFlippedZero,
            nan_encoding: NanEncoding::QuietSigned,
            e8m0: E8m0Rounding::TiesUp,
            zero: ZeroPolicy::Nan,
            negative: NegativePolicy::Nan,
            input: InputPath::Direct,
        }
    }
}

impl CastOptions {
    /// Saturating RNE with Inf → max (PTX `cvt.rn.satfinite`), a common kernel setting.
    ///
    /// # Examples
    /// ```
    /// use lowp::convert::{CastOptions, Overflow, InfPolicy};
    /// let o = CastOptions::saturating();
    /// assert_eq!((o.overflow, o.inf), (Overflow::Saturate, InfPolicy::Saturate));
    /// ```
    pub fn saturating() -> Self {
        CastOptions { overflow: Overflow::Saturate, inf: InfPolicy::Saturate, ..Self::default() }
    }
    /// These options with another rounding.
    ///
    /// # Examples
    /// ```
    /// use lowp::convert::{CastOptions, Rounding};
    /// assert_eq!(CastOptions::default().with_rounding(Rounding::TowardZero).rounding, Rounding::TowardZero);
    /// ```
    pub fn with_rounding(mut self, r: Rounding) -> Self {
        self.rounding = r;
        self
    }
}

/// A reference implementation whose element cast lowp reproduces bit for bit.
///
/// | preset | reference (version) | rounding | overflow | ±Inf | NaN → fp4/fp6 | e5m2 NaN | e8m0 |
/// |---|---|---|---|---|---|---|---|
/// | `MlDtypes` | ml_dtypes 0.6.0 NumPy `astype` | RNE | NaN/Inf | kept | sign-flipped 0 | 0x7E/0xFE | ties up, 0/neg → NaN |
/// | `Torch` | torch 2.15 `Tensor.to` (CPU) | RNE | e4m3fn saturate, others NaN/Inf | e4m3fn → ±448 | n/a | 0x7F/0xFF | ties up, \|x\|, 0 → 0x00 |
/// | `Torch211` | torch 2.11 `Tensor.to` (CPU and CUDA) | RNE | NaN/Inf | kept (e4m3fn: NaN) | n/a | 0x7F/0xFF | as `Torch` |
/// | `Ptx` | PTX ISA 8.7 `cvt.rn.satfinite` / `cvt.rp.satfinite.ue8m0x2` | RNE | saturate | ±max | +max | 0x7F | ceil, \|x\|, 0 → 0x00, sat 0xFE |
/// | `Cutlass` | CUTLASS 4.x host converters | RNE | saturate | ±max | ±max | 0x7F | ceil, \|x\|, Inf/NaN → 0xFF |
/// | `Gfloat` | gfloat 0.5.2 `round_float(sat=False)` | RNE | NaN/Inf | kept | error | 0x7E | ties to even code |
///
/// Formats a reference does not implement give [`Error::Unsupported`].
///
/// # Examples
/// ```
/// use lowp::convert::Like;
/// use lowp::format::ElemFormat;
/// assert!(Like::Torch.cast_options(ElemFormat::E2M1FN).is_err());
/// assert_eq!("ml_dtypes".parse::<Like>().unwrap(), Like::MlDtypes);
/// // torch 2.11 does not saturate e4m3fn (measured on an H100 over all 2^32 f32)
/// use lowp::{convert::encode_f32, format::ElemFormat::E4M3FN};
/// let t211 = "torch-2.11".parse::<Like>().unwrap().cast_options(E4M3FN).unwrap();
/// assert_eq!(encode_f32(E4M3FN, -500.0, &t211, 0).0, 0xFF); // NaN; torch 2.15 gives -448
/// assert_eq!(encode_f32(E4M3FN, -500.0, &Like::Torch.cast_options(E4M3FN).unwrap(), 0).0, 0xFE);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Like {
    /// ml_dtypes 0.6.0 NumPy casts.
    MlDtypes,
    /// torch 2.15 eager `.to(dtype)` on CPU.
    Torch,
    /// torch 2.11 eager `.to(dtype)` (`"torch-2.11"`): as [`Like::Torch`] except that e4m3fn does not
    /// saturate (finite overflow and ±Inf become NaN, `0x7F`/`0xFF`). Measured on an
    /// H100 (torch 2.11.0+cu130) over every f32, f16 and bf16 input, and on its CPU
    /// around the overflow threshold (`scripts/gpu_check.py`). On CUDA an f16 NaN
    /// input becomes `+NaN` (`0x7F`) whatever its sign: add
    /// [`NanEncoding::AllOnesPositive`] for f16 sources.
    Torch211,
    /// PTX `cvt` with `.satfinite` (what TE, torchao's Triton kernels and CUTLASS device code execute).
    Ptx,
    /// CUTLASS host-side converters (`convert_float_to_fp8`, `float_ue8m0_t`, ExMy).
    Cutlass,
    /// graphcore gfloat 0.5.2 `round_float` with `sat=False`.
    Gfloat,
}

impl Like {
    /// All presets.
    pub const ALL: &'static [Like] =
        &[Like::MlDtypes, Like::Torch, Like::Torch211, Like::Ptx, Like::Cutlass, Like::Gfloat];

    /// The preset's name as the CLI spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Like::MlDtypes => "ml_dtypes",
            Like::Torch => "torch",
            Like::Torch211 => "torch-2.11",
            Like::Ptx => "ptx",
            Like::Cutlass => "cutlass",
            Like::Gfloat => "gfloat",
        }
    }

    /// The cast options that reproduce this reference's conversion to `fmt`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the reference has no conversion to `fmt`.
    pub fn cast_options(self, fmt: ElemFormat) -> Result<CastOptions, Error> {
        use ElemFormat as F;
        let unsupported = || Err(Error::Unsupported(format!("{} has no cast to {}", self.name(), fmt)));
        // the references below take f32: an f64 input reaches them through f32
        let base = CastOptions { input: InputPath::ViaF32, ..CastOptions::default() };
        Ok(match self {
            Like::MlDtypes => match fmt {
                F::UE4M3 => return unsupported(),
                _ => base,
            },
            Like::Torch => match fmt {
                F::E4M3FN => CastOptions { overflow: Overflow::Saturate, inf: InfPolicy::Saturate, ..base },
                F::E5M2 | F::E4M3FNUZ | F::E5M2FNUZ => CastOptions { nan_encoding: NanEncoding::AllOnesSigned, ..base },
                F::E8M0FNU => CastOptions { zero: ZeroPolicy::MinCode, negative: NegativePolicy::Abs, ..base },
                _ => return unsupported(),
            },
            Like::Torch211 => match fmt {
                // non-saturating RNE; e4m3fn's one NaN magnitude keeps the input's sign
                F::E4M3FN => base,
                _ => return Like::Torch.cast_options(fmt),
            },
            Like::Ptx | Like::Cutlass => {
                let ptx = self == Like::Ptx;
                match fmt {
                    F::E4M3FN | F::E5M2 | F::E2M1FN | F::E2M3FN | F::E3M2FN | F::UE4M3 | F::E8M0FNU => {}
                    _ => return unsupported(),
                }
                let mut o = CastOptions {
                    overflow: Overflow::Saturate,
                    inf: InfPolicy::Saturate,
                    nan: if ptx { NanPolicy::PositiveMax } else { NanPolicy::SignedMax },
                    nan_encoding: NanEncoding::AllOnesPositive,
                    e8m0: E8m0Rounding::Ceil,
                    zero: ZeroPolicy::MinCode,
                    negative: NegativePolicy::Abs,
                    ..base
                };
                if fmt == F::E8M0FNU && !ptx {
                    // CUTLASS host float_ue8m0_t: NaN *or Inf* → 0xFF, finite overflow saturates.
                    o.inf = InfPolicy::Keep;
                }
                o
            }
            Like::Gfloat => {
                if fmt == F::UE4M3 {
                    return unsupported();
                }
                CastOptions {
                    nan: NanPolicy::Error,
                    e8m0: E8m0Rounding::TiesEvenCode,
                    input: InputPath::Direct,
                    ..base
                }
            }
        })
    }
}

impl fmt::Display for Like {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Like {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let l = s.trim().to_ascii_lowercase().replace('-', "_");
        Like::ALL
            .iter()
            .copied()
            .find(|p| p.name().replace('-', "_") == l || (l == "mldtypes" && *p == Like::MlDtypes))
            .ok_or_else(|| {
                let names: Vec<&str> = Like::ALL.iter().map(|p| p.name()).collect();
                Error::InvalidOption(format!("unknown --like '{s}' (expected one of {})", names.join(", ")))
            })
    }
}

macro_rules! enum_names {
    ($ty:ty, $what:literal, { $($name:literal => $v:expr),* $(,)? }) => {
        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                let l = s.trim().to_ascii_lowercase().replace('_', "-");
                $( if l == $name { return Ok($v); } )*
                Err(Error::InvalidOption(format!(
                    concat!("unknown ", $what, " '{}' (expected one of {})"), s,
                    [$($name),*].join(", ")
                )))
            }
        }
    };
}

enum_names!(Overflow, "overflow policy", { "saturate" => Overflow::Saturate, "nonfinite" => Overflow::NonFinite, "non-finite" => Overflow::NonFinite });
enum_names!(InfPolicy, "inf policy", { "keep" => InfPolicy::Keep, "saturate" => InfPolicy::Saturate });
enum_names!(NanPolicy, "nan policy", {
    "error" => NanPolicy::Error, "max" => NanPolicy::PositiveMax, "signed-max" => NanPolicy::SignedMax,
    "zero" => NanPolicy::Zero, "flipped-zero" => NanPolicy::SignFlippedZero,
});
enum_names!(NanEncoding, "NaN code", {
    "quiet-signed" => NanEncoding::QuietSigned, "all-ones-signed" => NanEncoding::AllOnesSigned,
    "all-ones-positive" => NanEncoding::AllOnesPositive,
});
enum_names!(E8m0Rounding, "e8m0 rounding", {
    "ties-up" => E8m0Rounding::TiesUp, "ties-even" => E8m0Rounding::TiesEvenCode,
    "floor" => E8m0Rounding::Floor, "ceil" => E8m0Rounding::Ceil,
});

impl FromStr for Rounding {
    type Err = Error;
    /// `nearest-even` (`rne`), `nearest-away` (`rna`), `nearest-zero`, `toward-zero` (`rz`),
    /// `toward-positive` (`rp`, `up`), `toward-negative` (`rm`, `down`), `stochastic` or
    /// `stochastic:N` (N random bits, default 8).
    fn from_str(s: &str) -> Result<Self, Error> {
        let l = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match l.as_str() {
            "nearest-even" | "rne" | "rn" | "even" => Rounding::NearestEven,
            "nearest-away" | "rna" | "away" => Rounding::NearestAway,
            "nearest-zero" | "ties-down" => Rounding::NearestTowardZero,
            "toward-zero" | "rz" | "floor" | "truncate" => Rounding::TowardZero,
            "toward-positive" | "rp" | "up" | "ceil" => Rounding::TowardPositive,
            "toward-negative" | "rm" | "down" => Rounding::TowardNegative,
            "stochastic" | "rs" => Rounding::Stochastic { bits: 8 },
            _ => {
                if let Some(n) = l.strip_prefix("stochastic:") {
                    match n.parse::<u8>() {
                        Ok(b) if (1..=32).contains(&b) => Rounding::Stochastic { bits: b },
                        _ => return Err(Error::InvalidOption(format!("stochastic bits must be 1..=32, got '{n}'"))),
                    }
                } else {
                    return Err(Error::InvalidOption(format!(
                        "unknown rounding '{s}' (expected nearest-even, nearest-away, nearest-zero, toward-zero, toward-positive, toward-negative, stochastic[:N])"
                    )));
                }
            }
        })
    }
}
