//! NVFP4: E2M1 elements in blocks of 16, each block with an unsigned E4M3 scale,
//! optionally under an f32 per-tensor ("global") scale. Two reference policies,
//! which differ in operation order and in the smallest block scale.

use crate::convert::slice::RneKernel;
use crate::convert::{CastOptions, Like, NanPolicy, decode_f32};
use crate::format::ElemFormat;

/// Whose NVFP4 scale arithmetic to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Nvfp4Policy {
    /// torchao 0.18 `NVFP4Tensor.to_nvfp4` (eager path, written to match the MSLK
    /// Triton kernel):
    /// ```text
    /// pts  = fl32(amax(|x|) / 2688)                              (global scale)
    /// s8   = e4m3_rne(clamp(fl32(fl32(amax_b / 6) [/ pts]), 2^-6, 448))
    /// enc  = fl32(1 / s8)   or   fl32(fl32(1 / pts) / s8)
    /// dequant = e2m1 · fl32(pts · s8)
    /// ```
    /// Block scales never go below 2^-6 (a zero block gets 0x08).
    #[default]
    Torchao,
    /// TransformerEngine `NVFP4BlockScaling` (`core_nvfp4.cuh`, `reference_nvfp4.py`):
    /// ```text
    /// S_enc = fl32(2688 / global_amax), capped at FLT_MAX; 1 when global_amax is 0
    ///         (without a global scale S_enc = 1)
    /// s8    = e4m3_rn_satfinite(fl32(amax_b · fl32(S_enc · fl32(1/6))))   may be 0 or subnormal
    /// enc   = min(fl32(1 / fl32(s8 · fl32(1/S_enc))), FLT_MAX)
    /// global scale stored = fl32(1/S_enc); dequant = e2m1 · fl32(global · s8)
    /// ```
    /// The dequantize order is lowp's (TE's dequantize kernel is not covered by the
    /// golden data).
    Te,
}

/// Options of an NVFP4 quantizer (tile, rounding and seed are in [`super::Scheme`]).
///
/// # Examples
/// ```
/// use lowp::block::{Nvfp4Options, Nvfp4Policy};
/// let o = Nvfp4Options::default();
/// assert_eq!((o.policy, o.global_scale, o.rht), (Nvfp4Policy::Torchao, false, None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nvfp4Options {
    /// Scale arithmetic.
    pub policy: Nvfp4Policy,
    /// Use a per-tensor f32 scale.
    pub global_scale: bool,
    /// Apply the 16-point random Hadamard transform with this sign vector
    /// (`true` = −1) along the blocked axis before quantizing (TE's column-wise
    /// recipe; see [`super::rht16`]). The blocked length must be a multiple of 16.
    pub rht: Option<[bool; 16]>,
    /// What a NaN element becomes: TE's reference casts it to code 0, PTX
    /// `cvt.rn.satfinite.e2m1` to +6 (torchao's bit arithmetic gives 1.5; lowp does
    /// not reproduce that by-product, which only occurs in NaN-scale blocks).
    pub elem_nan: NanPolicy,
}

impl Default for Nvfp4Options {
    fn default() -> Self {
        Nvfp4Options { policy: Nvfp4Policy::Torchao, global_scale: false, rht: None, elem_nan: NanPolicy::PositiveMax }
    }
}

/// The global scales of a tensor with this amax: (dequant scale stored, encode factor).
pub(crate) fn global(o: &Nvfp4Options, amax: f32) -> Option<(f32, f32)> {
    if !o.global_scale {
        return None;
    }
    Some(match o.policy {
        Nvfp4Policy::Torchao => {
            let pts = amax / (448.0 * 6.0);
            (pts, 1.0 / pts)
        }
        Nvfp4Policy::Te => {
            let mut s_enc = (448.0 * 6.0) / amax;
            if amax == 0.0 || s_enc == 0.0 {
                s_enc = 1.0;
            }
            let s_enc = s_enc.min(f32::MAX);
            (1.0 / s_enc, s_enc)
        }
    })
}

/// A block's (scale byte, element encode factor) given its amax and the global scales.
/// The two e4m3fn casts of block scales, built once per tensor: torch's `.to()`
/// (saturating in torch 2.15, NaN kept) and PTX `cvt.rn.satfinite`.
pub(crate) struct ScaleCasts {
    torch: RneKernel,
    satfinite: RneKernel,
}

impl ScaleCasts {
    pub(crate) fn new() -> ScaleCasts {
        let spec = ElemFormat::E4M3FN.spec();
        let torch = Like::Torch.cast_options(ElemFormat::E4M3FN).expect("torch casts to e4m3fn");
        ScaleCasts {
            torch: RneKernel::new(spec, &torch).expect("RNE kernel for e4m3fn"),
            satfinite: RneKernel::new(spec, &CastOptions::saturating()).expect("RNE kernel for e4m3fn"),
        }
    }
}

pub(crate) fn block_scale(o: &Nvfp4Options, amax: f32, g: Option<(f32, f32)>, casts: &ScaleCasts) -> (u8, f32) {
    match o.policy {
        Nvfp4Policy::Torchao => {
            let bs = amax / 6.0;
            let bs = match g {
                Some((pts, _)) => bs / pts,
                None => bs,
            };
            // torch.clamp keeps NaN
            let clamped = if bs.is_nan() { bs } else { bs.clamp(2f32.powi(-6), 448.0) };
            let s8 = casts.torch.encode_fast(clamped);
            let s = decode_f32(ElemFormat::E4M3FN, s8);
            let enc = match g {
                Some((_, inv_pts)) => inv_pts / s,
                None => 1.0 / s,
            };
            (s8, enc)
        }
        Nvfp4Policy::Te => {
            let (s_dec, s_enc) = g.unwrap_or((1.0, 1.0));
            let s8 = casts.satfinite.encode_fast(amax * (s_enc * (1.0 / 6.0)));
            let s = decode_f32(ElemFormat::E4M3FN, s8);
            let enc = (1.0 / (s * s_dec)).min(f32::MAX);
            (s8, enc)
        }
    }
}

/// The dequantization factor of a block: `fl32(global · s8)` or `s8`.
pub(crate) fn dequant_factor(s8: u8, global: Option<f32>) -> f32 {
    dequant_factor_of(decode_f32(ElemFormat::E4M3FN, s8), global)
}

/// [`dequant_factor`] of a decoded block scale.
pub(crate) fn dequant_factor_of(s: f32, global: Option<f32>) -> f32 {
    match global {
        Some(g) => g * s,
        None => s,
    }
}
