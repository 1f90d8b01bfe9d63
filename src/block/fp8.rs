//! FP8 elements with an f32 (or power-of-two) scale per tile, per row or per
//! tensor: DeepSeek-V3 / DeepGEMM 1×128 and 128×128 tiles, TransformerEngine
//! Float8BlockScaling and Float8CurrentScaling.

use crate::Error;
use crate::convert::{CastOptions, Like};
use crate::format::ElemFormat;

/// Which elements share a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fp8Granularity {
    /// Tiles of [`super::Scheme::tile`] (`fp8-block`; 1×128 activations, 128×128 weights).
    Block,
    /// One scale per row of the matrix view (`fp8-row`).
    Row,
    /// One scale for the whole tensor (`fp8-tensor`, TE current scaling).
    Tensor,
}

impl Fp8Granularity {
    /// The scheme name.
    pub const fn name(self) -> &'static str {
        match self {
            Fp8Granularity::Block => "fp8-block",
            Fp8Granularity::Row => "fp8-row",
            Fp8Granularity::Tensor => "fp8-tensor",
        }
    }
}

/// How a tile's scale and codes come from its amax (after the amax floor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fp8Formula {
    /// DeepGEMM's first test utilities (Feb 2025), written `x * (448.0 / amax)` and
    /// stored scale `amax / 448`. PyTorch evaluates `scalar / tensor` as
    /// `tensor.reciprocal() * scalar`, so the multiplier is `fl32(fl32(1/amax) · max)`,
    /// not `fl32(max/amax)`: the two differ in 76 of 131072 codes of the golden
    /// `extreme` set. lowp reproduces the former.
    DeepSeekV1,
    /// `deep_gemm/utils/math.py`: `sf = fl32(amax / max)`, `q = fp8(x · fl32(1 / sf))`,
    /// stored scale `sf`; with a power-of-two scale format `sf` is first rounded up
    /// to a power of two (`ceil_to_ue8m0`, exponent clamped to [1, 254]).
    #[default]
    DeepSeek,
    /// TransformerEngine `compute_scale_from_amax` (recipe_common.cuh):
    /// `scale = fl32(max / amax)` (1 if amax is 0, Inf or NaN; FLT_MAX if the
    /// division overflows), with a power-of-two format the scale's mantissa is
    /// truncated (rounds the encode scale down); `q = fp8_satfinite(x · scale)`,
    /// stored dequant scale `fl32(1 / scale)`. TE's Python reference gives 0 (not 1)
    /// for an Inf amax; lowp follows the kernel.
    Te,
}

/// How the dequantization scale is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fp8ScaleFormat {
    /// Any f32.
    #[default]
    F32,
    /// An f32 power of two (TE `power_2_scale`, Blackwell FP8 block scaling).
    Pow2,
    /// A power of two stored as an E8M0 byte (DeepGEMM `use_ue8m0`, SM100).
    Ue8m0,
}

/// Options of an FP8 scaled quantizer.
///
/// # Examples
/// ```
/// use lowp::block::{Fp8Granularity, Fp8Options, Fp8Formula};
/// let o = Fp8Options::deepgemm(Fp8Granularity::Block);
/// assert_eq!((o.formula, o.amax_floor), (Fp8Formula::DeepSeek, 1e-4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fp8Options {
    /// Element format (e4m3fn or e5m2).
    pub elem: ElemFormat,
    /// Tile, row or tensor.
    pub granularity: Fp8Granularity,
    /// Scale formula.
    pub formula: Fp8Formula,
    /// Scale representation.
    pub scale_format: Fp8ScaleFormat,
    /// Lower bound on the amax (DeepGEMM, DeepSeek-V3.2: 1e-4; TE `amax_epsilon`: 0).
    pub amax_floor: f32,
    /// The amax to scale by instead of the tensor's own (per-tensor scaling
    /// only): TransformerEngine's delayed scaling, whose scale comes from the
    /// amax history (its maximum, TE's default `amax_compute_algo`). `None`:
    /// current scaling.
    pub amax: Option<f32>,
}

impl Fp8Options {
    /// DeepGEMM's utilities: e4m3fn, formula v2, f32 scales, amax ≥ 1e-4.
    pub fn deepgemm(granularity: Fp8Granularity) -> Self {
        Fp8Options {
            elem: ElemFormat::E4M3FN,
            granularity,
            formula: Fp8Formula::DeepSeek,
            scale_format: Fp8ScaleFormat::F32,
            amax_floor: 1e-4,
            amax: None,
        }
    }
    /// TransformerEngine: 448/amax, eps 0; power-of-two scales for block scaling
    /// (Float8BlockScaling's default), f32 for current (per-tensor) scaling.
    pub fn te(granularity: Fp8Granularity) -> Self {
        Fp8Options {
            elem: ElemFormat::E4M3FN,
            granularity,
            formula: Fp8Formula::Te,
            scale_format: if granularity == Fp8Granularity::Block { Fp8ScaleFormat::Pow2 } else { Fp8ScaleFormat::F32 },
            amax_floor: 0.0,
            amax: None,
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if !matches!(self.elem, ElemFormat::E4M3FN | ElemFormat::E5M2) {
            return Err(Error::InvalidOption(format!("FP8 scaling takes e4m3fn or e5m2 elements, not {}", self.elem)));
        }
        if self.formula == Fp8Formula::DeepSeekV1 && self.scale_format != Fp8ScaleFormat::F32 {
            return Err(Error::InvalidOption("formula deepseek-v1 has f32 scales only".into()));
        }
        if self.amax.is_some() && self.granularity != Fp8Granularity::Tensor {
            return Err(Error::InvalidOption("amax= (delayed scaling) applies to fp8-tensor only".into()));
        }
        if self.amax.is_some_and(|a| a.is_nan() || a < 0.0) {
            return Err(Error::InvalidOption("amax must be >= 0 (or inf)".into()));
        }
        if !(self.amax_floor >= 0.0 && self.amax_floor.is_finite()) {
            return Err(Error::InvalidOption(format!("amax-floor must be finite and >= 0, got {}", self.amax_floor)));
        }
        Ok(())
    }

    /// The element cast: torch's `.to()` for the DeepSeek formulas (saturating
    /// e4m3fn in torch 2.15), PTX `cvt.rn.satfinite` for TE.
    pub(crate) fn cast(&self) -> CastOptions {
        let like = if self.formula == Fp8Formula::Te { Like::Ptx } else { Like::Torch };
        like.cast_options(self.elem).expect("e4m3fn and e5m2 are castable by torch and PTX")
    }

    /// A tile's (dequant scale, encode multiplier) given its amax.
    pub(crate) fn scale(&self, amax: f32) -> (f32, f32) {
        let max = self.elem.spec().max_finite() as f32;
        let amax = self.amax.unwrap_or(amax);
        let amax = if amax.is_nan() { amax } else { amax.max(self.amax_floor) };
        let pow2 = self.scale_format != Fp8ScaleFormat::F32;
        match self.formula {
            Fp8Formula::DeepSeekV1 => (amax / max, (1.0 / amax) * max),
            Fp8Formula::DeepSeek => {
                let sf = amax / max;
                let sf = if pow2 { ceil_to_ue8m0(sf) } else { sf };
                (sf, 1.0 / sf)
            }
            Fp8Formula::Te => {
                let mut scale = if amax == 0.0 || !amax.is_finite() { 1.0 } else { max / amax };
                if scale.is_infinite() {
                    scale = f32::MAX;
                }
                if pow2 {
                    scale = f32::from_bits(scale.to_bits() & 0xFF80_0000);
                }
                (1.0 / scale, scale)
            }
        }
    }
}

/// Rounds a positive f32 up to a power of two through its exponent bits, exponent
/// clamped to [1, 254] (DeepGEMM `ceil_to_ue8m0`). NaN stays NaN.
fn ceil_to_ue8m0(sf: f32) -> f32 {
    if sf.is_nan() {
        return sf;
    }
    let b = sf.to_bits();
    let e = ((b >> 23) & 0xFF) as i32 + (b & 0x7F_FFFF != 0) as i32;
    f32::from_bits((e.clamp(1, 254) as u32) << 23)
}
