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
/// The two "ties up" rules differ only on the 2,097,151 f32 inputs in
/// `(2^-127, 1.5·2^-127)`: ml_dtypes 0.7 rounds them down to `2^-127`
/// ([`Self::TiesUpUniform`]), ml_dtypes 0.6 and torch up to `2^-126`
/// ([`Self::TiesUp`]); measured over all 2^32 f32 inputs (`docs/references.md`).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, E8m0Rounding}, format::ElemFormat};
/// let with = |e8m0| CastOptions { e8m0, ..CastOptions::default() };
/// let f = ElemFormat::E8M0FNU; // code 127 = 1.0, 128 = 2.0
/// assert_eq!(encode_f32(f, 3.0, &with(E8m0Rounding::TiesUp), 0).0, 129); // 4.0
/// assert_eq!(encode_f32(f, 1.25 * 2f32.powi(-127), &with(E8m0Rounding::TiesUp), 0).0, 1); // 2^-126
/// assert_eq!(encode_f32(f, 1.25 * 2f32.powi(-127), &with(E8m0Rounding::TiesUpUniform), 0).0, 0); // 2^-127
/// assert_eq!(encode_f32(f, 3.0, &with(E8m0Rounding::TiesEvenCode), 0).0, 128); // 2.0: even code
/// assert_eq!(encode_f32(f, 1.9, &with(E8m0Rounding::Floor), 0).0, 127);
/// assert_eq!(encode_f32(f, 1.1, &with(E8m0Rounding::Ceil), 0).0, 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum E8m0Rounding {
    /// Nearest power of two, exact ties `1.5·2^k` rounded *up*, the same rule on
    /// every binade (inputs below `1.5·2^-127` give `2^-127`): ml_dtypes 0.7.
    #[default]
    TiesUpUniform,
    /// As [`Self::TiesUpUniform`] from `2^-126` up; inputs below `2^-126` round
    /// *up* instead (to `2^-127` or `2^-126`). ml_dtypes 0.6 and torch 2.15
    /// (ml_dtypes 0.6's RNE treats the implicit bit as the odd LSB; its
    /// subnormal-input normalisation rounds up).
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
    /// Round the f64 value once, directly (ml_dtypes 0.7 NumPy `astype` and C++
    /// `T(double)`, gfloat, CUDA `__nv_cvt_double_to_fp8`). The default.
    #[default]
    Direct,
    /// Round to f32 (RNE) first, then to the format: ml_dtypes 0.6 NumPy `astype`
    /// (`NPyCast` goes through `float`), torch (`Float8_e4m3fn(float)`), PTX `cvt`
    /// (f32 operands), CUTLASS `float_e2m1_t(double)`; set by those presets.
    /// Double rounding is possible. f32, f16 and bf16 inputs are unaffected.
    ViaF32,
}

/// Every knob of an element cast. `CastOptions::default()` is ml_dtypes 0.7's cast
/// semantics ([`Like::MlDtypes`](crate::convert::Like::MlDtypes): RNE, non-saturating, NaN/Inf kept: the most
/// widely used scalar reference, and the IEEE 754 convention that overflow is
/// visible rather than silently clipped), with every input rounded **once**.
/// [`Like::MlDtypes06`](crate::convert::Like::MlDtypes06) reproduces ml_dtypes 0.6's f64 → f32 → format double
/// rounding ([`InputPath::ViaF32`]).
///
/// # Examples
/// ```
/// use lowp::convert::{CastOptions, E8m0Rounding, InputPath, Like, Overflow};
/// use lowp::format::ElemFormat;
/// let ml06 = Like::MlDtypes06.cast_options(ElemFormat::E4M3FN).unwrap();
/// assert_eq!(CastOptions { input: InputPath::ViaF32, e8m0: E8m0Rounding::TiesUp, ..CastOptions::default() }, ml06);
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
            e8m0: E8m0Rounding::TiesUpUniform,
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

    /// The keys a cast takes, in the spec grammar and as CLI flags (`--sr-bits`)
    /// or Python keywords (`sr_bits=`).
    pub const KEYS: [&'static str; 8] = ["like", "rounding", "sr-bits", "overflow", "inf", "nan", "e8m0", "nan-code"];

    /// The options of a cast to `fmt` given by named keys: the `like` preset
    /// (default: the default options, ml_dtypes' semantics), then every other key
    /// on top of it — the one routine behind `lowp cast`, the cast spec
    /// (`e4m3fn@like=torch@rounding=sr`) and the Python `lowp.cast`.
    ///
    /// # Errors
    /// An unknown key (the message lists [`Self::KEYS`]), a key given twice, an
    /// unknown value (the message lists the valid ones), `sr-bits` without
    /// `rounding=sr`, or a preset without a cast to `fmt`.
    ///
    /// # Examples
    /// ```
    /// use lowp::convert::{CastOptions, Like, Rounding};
    /// use lowp::format::ElemFormat;
    /// let o = CastOptions::resolve(ElemFormat::E4M3FN, &[("like", "torch"), ("rounding", "sr"), ("sr-bits", "12")]).unwrap();
    /// assert_eq!(o, Like::Torch.cast_options(ElemFormat::E4M3FN).unwrap().with_rounding(Rounding::Stochastic { bits: 12 }));
    /// assert!(CastOptions::resolve(ElemFormat::E4M3FN, &[("round", "rne")]).unwrap_err().to_string().contains("sr-bits"));
    /// assert!(CastOptions::resolve(ElemFormat::E4M3FN, &[("sr-bits", "8")]).is_err());
    /// ```
    pub fn resolve(fmt: ElemFormat, keys: &[(&str, &str)]) -> Result<CastOptions, Error> {
        for (i, (k, _)) in keys.iter().enumerate() {
            if !Self::KEYS.iter().any(|q| q.eq_ignore_ascii_case(k)) {
                return Err(Error::InvalidOption(format!(
                    "unknown cast key '{k}' (expected one of: {})",
                    Self::KEYS.join(", ")
                )));
            }
            if keys[..i].iter().any(|(q, _)| q.eq_ignore_ascii_case(k)) {
                return Err(Error::InvalidOption(format!("cast key '{k}' given twice")));
            }
        }
        let get = |key: &str| keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.trim());
        let mut o = match get("like") {
            Some(l) => l.parse::<super::Like>()?.cast_options(fmt)?,
            None => CastOptions::default(),
        };
        if let Some(v) = get("rounding") {
            o.rounding = v.parse()?;
        }
        if let Some(v) = get("sr-bits") {
            if !matches!(o.rounding, Rounding::Stochastic { .. }) {
                return Err(Error::InvalidOption("sr-bits needs rounding=sr".into()));
            }
            let b = v.parse::<u8>().map_err(|_| Error::InvalidOption(format!("sr-bits must be 1..=32, got '{v}'")))?;
            o.rounding = o.rounding.with_sr_bits(b)?;
        }
        if let Some(v) = get("overflow") {
            o.overflow = v.parse()?;
        }
        if let Some(v) = get("inf") {
            o.inf = v.parse()?;
        }
        if let Some(v) = get("nan") {
            o.nan = v.parse()?;
        }
        if let Some(v) = get("e8m0") {
            o.e8m0 = v.parse()?;
        }
        if let Some(v) = get("nan-code") {
            o.nan_encoding = v.parse()?;
        }
        Ok(o)
    }

    /// A cast spec `FORMAT[@KEY=VALUE]...` (keys of [`Self::resolve`]): the
    /// format and its options, as `lowp bench` names its cast rows.
    ///
    /// # Errors
    /// An unknown format, or as [`Self::resolve`].
    ///
    /// # Examples
    /// ```
    /// use lowp::convert::{CastOptions, Like};
    /// use lowp::format::ElemFormat;
    /// let (f, o) = CastOptions::parse_spec("e4m3fn@like=torch").unwrap();
    /// assert_eq!((f, o), (ElemFormat::E4M3FN, Like::Torch.cast_options(ElemFormat::E4M3FN).unwrap()));
    /// ```
    pub fn parse_spec(spec: &str) -> Result<(ElemFormat, CastOptions), Error> {
        let (name, keys) = crate::spec_parts(spec)?;
        let fmt: ElemFormat = name.parse()?;
        Ok((fmt, Self::resolve(fmt, &keys)?))
    }
}

crate::names::names!(Overflow, "overflow policy", { Saturate => "saturate", NonFinite => "nonfinite" });
crate::names::names!(InfPolicy, "inf policy", { Keep => "keep", Saturate => "saturate" });
crate::names::names!(NanPolicy, "NaN policy", {
    Error => "error", PositiveMax => "max", SignedMax => "signed-max", Zero => "zero",
    SignFlippedZero => "sign-flipped-zero",
});
crate::names::names!(NanEncoding, "NaN code", {
    QuietSigned => "quiet-signed", AllOnesSigned => "all-ones-signed", AllOnesPositive => "all-ones-positive",
});
crate::names::names!(E8m0Rounding, "e8m0 rounding", {
    TiesUpUniform => "ties-up-uniform", TiesUp => "ties-up", TiesEvenCode => "ties-even", Floor => "floor", Ceil => "ceil",
});
crate::names::names!(ZeroPolicy, "zero policy", { Nan => "nan", MinCode => "min-code" });
crate::names::names!(NegativePolicy, "negative policy", { Nan => "nan", Abs => "abs", Clamp => "clamp" });
crate::names::names!(InputPath, "input path", { Direct => "direct", ViaF32 => "via-f32" });

impl Rounding {
    /// The rounding's name in the CLI and the spec grammar: `rne`, `away`,
    /// `ties-zero`, `zero`, `up`, `down`, `sr` (the stochastic bit count is its own
    /// key, `sr-bits`).
    ///
    /// # Examples
    /// ```
    /// use lowp::convert::Rounding;
    /// for r in Rounding::DETERMINISTIC.iter().chain(&[Rounding::Stochastic { bits: 8 }]) {
    ///     assert_eq!(r.name().parse::<Rounding>().unwrap(), *r);
    /// }
    /// assert!("nearest-even".parse::<Rounding>().unwrap_err().to_string().contains("rne"));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Rounding::NearestEven => "rne",
            Rounding::NearestAway => "away",
            Rounding::NearestTowardZero => "ties-zero",
            Rounding::TowardZero => "zero",
            Rounding::TowardPositive => "up",
            Rounding::TowardNegative => "down",
            Rounding::Stochastic { .. } => "sr",
        }
    }

    /// This rounding with `bits` random bits if it is stochastic.
    ///
    /// # Errors
    /// `bits` outside 1..=32.
    pub fn with_sr_bits(self, bits: u8) -> Result<Rounding, Error> {
        if !(1..=32).contains(&bits) {
            return Err(Error::InvalidOption(format!("sr-bits must be 1..=32, got {bits}")));
        }
        Ok(match self {
            Rounding::Stochastic { .. } => Rounding::Stochastic { bits },
            r => r,
        })
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rounding {
    type Err = Error;
    /// A name of [`Rounding::name`]; `sr` takes 8 random bits (PTX's count for FP8/FP6/FP4).
    fn from_str(s: &str) -> Result<Self, Error> {
        let all = Rounding::DETERMINISTIC.iter().copied().chain([Rounding::Stochastic { bits: 8 }]);
        all.clone().find(|r| r.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            Error::InvalidOption(format!(
                "unknown rounding '{s}' (expected one of: {})",
                crate::names::list(all.map(|r| r.name()))
            ))
        })
    }
}
