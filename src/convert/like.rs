//! The reference presets: [`Like`], the one `--like` vocabulary.

use super::{
    CastOptions, E8m0Rounding, InfPolicy, InputPath, NanEncoding, NanPolicy, NegativePolicy, Overflow, Rounding,
    ZeroPolicy,
};
use crate::Error;
use crate::format::ElemFormat;

/// A reference implementation lowp reproduces bit for bit: the one `--like`
/// vocabulary of every command and the `like=` key of the spec grammar. Each
/// preset means the reference's element cast ([`Like::cast_options`]) and, for the
/// block quantizers, its scale arithmetic ([`crate::block::Scheme::like`]) together;
/// a reference without one of the two gives [`Error::Unsupported`] for it.
///
/// Versioned references have one preset per release whose semantics differ; the
/// unversioned name (`ml_dtypes`, `torch`) means the newest release lowp tracks and
/// may move to a later one, so suites pinned to a version should name it
/// (`ml_dtypes-0.7`). The change log of each reference's semantics, with the
/// releases checked, is `docs/references.md`.
///
/// Element casts:
///
/// | preset | reference (version) | rounding | overflow | ±Inf | NaN → fp4/fp6 | e5m2 NaN | e8m0 | f64 input |
/// |---|---|---|---|---|---|---|---|---|
/// | `ml_dtypes-0.7` (`ml_dtypes`) | ml_dtypes 0.7.0 NumPy `astype` | RNE | NaN/Inf | kept | sign-flipped 0 | 0x7E/0xFE | ties up (uniform), 0/neg → NaN | one rounding |
/// | `ml_dtypes-0.6` | ml_dtypes 0.6.0 NumPy `astype` | RNE | NaN/Inf | kept | sign-flipped 0 | 0x7E/0xFE | ties up, below 2^-126 up | via f32 |
/// | `torch-2.15` (`torch`) | torch 2.15 `Tensor.to` (CPU) | RNE | e4m3fn saturate, others NaN/Inf | e4m3fn → ±448 | n/a | 0x7F/0xFF | ties up, below 2^-126 up, \|x\|, 0 → 0x00 | via f32 |
/// | `torch-2.11` | torch 2.11 `Tensor.to` (CPU and CUDA) | RNE | NaN/Inf | kept (e4m3fn: NaN) | n/a | 0x7F/0xFF | as `torch-2.15` | via f32 |
/// | `ptx` | PTX ISA 8.7 `cvt.rn.satfinite` / `cvt.rp.satfinite.ue8m0x2` | RNE | saturate | ±max | +max | 0x7F | ceil, \|x\|, 0 → 0x00, sat 0xFE | via f32 |
/// | `cutlass` | CUTLASS 4.x host converters | RNE | saturate | ±max | ±max | 0x7F | ceil, \|x\|, Inf/NaN → 0xFF | via f32 |
/// | `gfloat` | gfloat 0.5.2 `round_float(sat=False)` | RNE | NaN/Inf | kept | error | 0x7E | ties to even code | one rounding |
/// | `torchao` | torchao 0.18: torch's `.to()` for FP8/E8M0, `_f32_to_floatx_unpacked` for FP6/FP4 | RNE | FP8 as torch; FP6/FP4 saturate | FP6/FP4 → ±max | +max (torchao's own NaN code is a by-product of its bit arithmetic, not reproduced) | as torch | as torch | via f32 |
/// | `te` | TransformerEngine 2.x: PTX `cvt.rn.satfinite`, its FP4 reference cast | RNE | saturate | ±max | 0 | 0x7F | ceil (`cvt.rp.satfinite`) | via f32 |
/// | `deepgemm` | DeepGEMM: torch's `.to()` for FP8, its FP4 threshold cast, `ceil_to_ue8m0` | RNE (FP4: ties toward zero) | FP8 as torch; FP4 saturates | as torch / ±max | 0 | as torch | ceil | via f32 |
/// | `microxcaling` | microxcaling's element quantizer (`saturate_normals`) | ties away | saturate | kept | sign-flipped 0 | 0x7E | – | via f32 |
/// | `ocp` | the OCP MX v1.0 text | – (the spec leaves the overflow mode to the implementation) | | | | | | |
///
/// Block quantizers: see [`crate::block::Scheme::like`] (`torchao`, `te`,
/// `deepgemm`, `microxcaling`, `ocp`).
///
/// # Examples
/// ```
/// use lowp::convert::{CastOptions, Like};
/// use lowp::format::ElemFormat;
/// assert!(Like::Torch.cast_options(ElemFormat::E2M1FN).is_err());
/// assert_eq!("ml_dtypes".parse::<Like>().unwrap(), Like::MlDtypes);
/// assert_eq!("ml_dtypes-0.7".parse::<Like>().unwrap(), Like::MlDtypes);
/// assert_eq!(Like::MlDtypes.cast_options(ElemFormat::E4M3FN).unwrap(), CastOptions::default());
/// // torch 2.11 does not saturate e4m3fn (measured on an H100 over all 2^32 f32)
/// use lowp::{convert::encode_f32, format::ElemFormat::E4M3FN};
/// let t211 = "torch-2.11".parse::<Like>().unwrap().cast_options(E4M3FN).unwrap();
/// assert_eq!(encode_f32(E4M3FN, -500.0, &t211, 0).0, 0xFF); // NaN; torch 2.15 gives -448
/// assert_eq!(encode_f32(E4M3FN, -500.0, &Like::Torch.cast_options(E4M3FN).unwrap(), 0).0, 0xFE);
/// // one vocabulary: `te` means TE's element cast and TE's block quantizer
/// let te = Like::Te.cast_options(ElemFormat::E2M1FN).unwrap();
/// assert_eq!(encode_f32(ElemFormat::E2M1FN, f32::NAN, &te, 0).0, 0);
/// assert!(Like::MlDtypes.cast_options(ElemFormat::E4M3FN).is_ok() && "mxfp8-e4m3@like=ml_dtypes".parse::<lowp::block::Scheme>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Like {
    /// ml_dtypes 0.7.0 NumPy casts (`"ml_dtypes-0.7"`, and `"ml_dtypes"` while it is
    /// the newest release): as 0.6 except that f64 arrays are rounded once (0.7
    /// rounds f64 to f32 with round-to-odd first, which for every format lowp has,
    /// none wider than 5 significant bits, gives the directly rounded result), e8m0
    /// rounds [`E8m0Rounding::TiesUpUniform`], and `float8_e5m3fnu` exists.
    MlDtypes,
    /// ml_dtypes 0.6.0 NumPy casts (`"ml_dtypes-0.6"`): f64 arrays go through f32
    /// (double rounding), e8m0 rounds [`E8m0Rounding::TiesUp`].
    MlDtypes06,
    /// torch 2.15 eager `.to(dtype)` on CPU (`"torch-2.15"`, and `"torch"`).
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
    /// torchao 0.18 `prototype.mx_formats` (MX `to_mx`, `NVFP4Tensor`).
    Torchao,
    /// NVIDIA TransformerEngine (MXFP8, NVFP4, Float8Current/BlockScaling).
    Te,
    /// deepseek-ai/DeepGEMM's quantization utilities (FP8 tiles, `ceil_to_ue8m0`).
    Deepgemm,
    /// microsoft/microxcaling (Python path).
    Microxcaling,
    /// The OCP MX v1.0 spec text (block quantizers only).
    Ocp,
}

crate::names::names!(Like, "reference", {
    MlDtypes => "ml_dtypes-0.7", MlDtypes06 => "ml_dtypes-0.6", Torch => "torch-2.15", Torch211 => "torch-2.11",
    Ptx => "ptx", Cutlass => "cutlass", Gfloat => "gfloat", Torchao => "torchao", Te => "te",
    Deepgemm => "deepgemm", Microxcaling => "microxcaling", Ocp => "ocp",
}, aliases { "ml_dtypes" => MlDtypes, "torch" => Torch });

impl Like {
    /// The cast options that reproduce this reference's conversion to `fmt`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the reference has no conversion to `fmt`.
    pub fn cast_options(self, fmt: ElemFormat) -> Result<CastOptions, Error> {
        use ElemFormat as F;
        let unsupported = || Err(Error::Unsupported(format!("{} has no cast to {}", self.name(), fmt)));
        // the references below take f32: an f64 input reaches them through f32
        let via_f32 = CastOptions { input: InputPath::ViaF32, ..CastOptions::default() };
        // torch and ml_dtypes 0.6 share e8m0's exception below 2^-126
        let base = CastOptions { e8m0: E8m0Rounding::TiesUp, ..via_f32 };
        Ok(match self {
            Like::MlDtypes => match fmt {
                F::UE4M3 => return unsupported(),
                _ => CastOptions::default(),
            },
            Like::MlDtypes06 => match fmt {
                F::UE4M3 | F::E5M3FNU => return unsupported(),
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
                    ..via_f32
                };
                if fmt == F::E8M0FNU && !ptx {
                    // CUTLASS host float_ue8m0_t: NaN *or Inf* → 0xFF, finite overflow saturates.
                    o.inf = InfPolicy::Keep;
                }
                o
            }
            Like::Gfloat => {
                if matches!(fmt, F::UE4M3 | F::E5M3FNU) {
                    return unsupported();
                }
                CastOptions { nan: NanPolicy::Error, e8m0: E8m0Rounding::TiesEvenCode, ..CastOptions::default() }
            }
            Like::Torchao => match fmt {
                F::E2M1FN | F::E2M3FN | F::E3M2FN => CastOptions {
                    overflow: Overflow::Saturate,
                    inf: InfPolicy::Saturate,
                    nan: NanPolicy::PositiveMax,
                    ..via_f32
                },
                _ => return Like::Torch.cast_options(fmt),
            },
            Like::Te => match fmt {
                F::E2M1FN => CastOptions { nan: NanPolicy::Zero, ..Like::Ptx.cast_options(fmt)? },
                F::E4M3FN | F::E5M2 | F::E8M0FNU => Like::Ptx.cast_options(fmt)?,
                _ => return unsupported(),
            },
            Like::Deepgemm => match fmt {
                F::E4M3FN | F::E5M2 => Like::Torch.cast_options(fmt)?,
                F::E2M1FN => CastOptions {
                    rounding: Rounding::NearestTowardZero,
                    overflow: Overflow::Saturate,
                    inf: InfPolicy::Saturate,
                    nan: NanPolicy::Zero,
                    ..via_f32
                },
                F::E8M0FNU => Like::Ptx.cast_options(fmt)?,
                _ => return unsupported(),
            },
            Like::Microxcaling => match fmt {
                F::E4M3FN | F::E5M2 | F::E2M3FN | F::E3M2FN | F::E2M1FN => {
                    CastOptions { rounding: Rounding::NearestAway, overflow: Overflow::Saturate, ..via_f32 }
                }
                _ => return unsupported(),
            },
            Like::Ocp => {
                return Err(Error::Unsupported(format!(
                    "ocp has no element cast to {fmt}: the OCP spec leaves saturation to the implementation (use --overflow)"
                )));
            }
        })
    }
}
