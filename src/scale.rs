//! Block scale rules: how a block's largest magnitude (amax) becomes its scale.
//!
//! The OCP MX E8M0 rules ([`MxScaleRule`]), each bit-exact with the implementation
//! named in its docs (torchao 0.18 `ScaleCalculationMode`, TE/cuBLAS for `Rceil`,
//! microxcaling's Python path for `FloorLog2`). The FP8 and NVFP4 scale formulas
//! live with their schemes in [`crate::block`].

use crate::format::FormatSpec;

/// How an MX block's E8M0 scale `2^s` is chosen from its amax. `emax` is the
/// exponent of the element format's largest binade (`floor(log2(max))`: 8 for
/// e4m3fn, 15 for e5m2, 2 for e2m3/e2m1, 4 for e3m2).
///
/// All rules clamp `s` to `[-127, 128]` (biased `[0, 255]`, 255 = NaN) and give NaN
/// (255) for a NaN amax. An infinite amax reads as exponent field 255.
///
/// # Examples
/// ```
/// use lowp::{scale::{mx_scale_e8m0, MxScaleRule}, format::ElemFormat};
/// let e4m3 = ElemFormat::E4M3FN.spec();
/// // amax 150: floor(log2 150) = 7, minus emax 8 -> 2^-1 (biased 126)
/// assert_eq!(mx_scale_e8m0(150.0, e4m3, MxScaleRule::Floor), 126);
/// assert_eq!(mx_scale_e8m0(150.0, e4m3, MxScaleRule::Ceil), 127);
/// // RCEIL: 2^ceil(log2(150 · fl(1/448))) = 2^-1
/// assert_eq!(mx_scale_e8m0(150.0, e4m3, MxScaleRule::Rceil), 126);
/// assert_eq!(mx_scale_e8m0(f32::NAN, e4m3, MxScaleRule::Floor), 255);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MxScaleRule {
    /// `s = floor(log2(amax)) - emax`, from the exponent bits: OCP MX v1.0 §6.3
    /// (elements above the element max then saturate), torchao `FLOOR` (its default),
    /// microxcaling's CUDA path, gfloat.
    #[default]
    Floor,
    /// `s = ceil(log2(amax)) - emax` (exponent bits, +1 when the mantissa is nonzero): torchao `CEIL`.
    Ceil,
    /// amax rounded to the element's precision (half up) first, then floor: torchao `EVEN`.
    Even,
    /// `s = ceil(log2(fl32(amax · fl32(1/max))))` with the exact ceiling of the
    /// exponent bits (`cvt.rp.satfinite.ue8m0x2.f32`): cuBLAS and TransformerEngine
    /// MXFP8; never saturates an element.
    Rceil,
    /// torchao 0.18's `RCEIL`: `clamp(ceil(fl32(log2(fl32(amax / max)))), -127, 127)`.
    /// The f32 `log2` rounds `log2(d)` to an integer when `d` is within a few ulp
    /// above a power of two, so it rounds such scales *down* where [`Self::Rceil`]
    /// rounds up (31 of 512 blocks of the golden `extremes` set for e4m3).
    RceilTorchao,
    /// microxcaling's Python path (`_shared_exponents`):
    /// `floor(fl32(log2(amax + 2^-126·[amax = 0]))) - emax`, NaN (255) above 127.
    /// The f32 `log2` rounds up to `k` for an amax within an ulp or so below `2^k`,
    /// so the scale is one higher than [`Self::Floor`] there (a microxcaling bug,
    /// golden README item 6); an infinite amax gives NaN. Bug-compatible; the
    /// `microxcaling` preset uses the exact [`Self::Floor`].
    FloorLog2,
}

crate::names::names!(MxScaleRule, "scale rule", {
    Floor => "floor", Ceil => "ceil", Even => "even", Rceil => "rceil-cublas", RceilTorchao => "rceil-torchao",
    FloorLog2 => "floor-log2",
});

/// What an MX scale rule needs to know of the element type: the exponent of its
/// largest binade, its largest finite value and its fraction bits.
///
/// # Examples
/// ```
/// use lowp::{scale::ElemRange, format::ElemFormat};
/// let r = ElemRange::from(ElemFormat::E2M1FN.spec());
/// assert_eq!((r.emax, r.max, r.man_bits), (2, 6.0, 1));
/// assert_eq!(ElemRange::MXINT8.max, 127.0 / 64.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElemRange {
    /// `floor(log2(max))`.
    pub emax: i32,
    /// Largest finite value.
    pub max: f32,
    /// Fraction bits (precision − 1).
    pub man_bits: u32,
}

impl ElemRange {
    /// MXINT8 (OCP MX v1.0 §5.3: 8-bit two's complement with an implicit 2^-6):
    /// emax 0, max 127/64, 6 fraction bits.
    pub const MXINT8: ElemRange = ElemRange { emax: 0, max: 127.0 / 64.0, man_bits: 6 };
}

impl From<&FormatSpec> for ElemRange {
    fn from(s: &FormatSpec) -> Self {
        ElemRange { emax: s.max_exp(), max: s.max_finite() as f32, man_bits: s.man_bits }
    }
}

/// The biased E8M0 scale (`2^(code - 127)`, 255 = NaN) of an MX block whose largest
/// magnitude is `amax` (`|x|` maximum, non-negative or NaN), for element type `elem`
/// (a [`FormatSpec`] or an [`ElemRange`]).
#[inline]
pub fn mx_scale_e8m0(amax: f32, elem: impl Into<ElemRange>, rule: MxScaleRule) -> u8 {
    if amax.is_nan() {
        return 255;
    }
    let elem: ElemRange = elem.into();
    let emax = elem.emax;
    let bits = amax.to_bits() & 0x7FFF_FFFF;
    let s = match rule {
        MxScaleRule::Floor => (bits >> 23) as i32 - 127 - emax,
        MxScaleRule::Ceil => (bits >> 23) as i32 - 127 + (bits & 0x7F_FFFF != 0) as i32 - emax,
        MxScaleRule::Even => {
            let r = bits + (1 << (22 - elem.man_bits));
            (r >> 23) as i32 - 127 - emax
        }
        MxScaleRule::Rceil => {
            // fl32(amax · fl32(1/max)), then round the exponent up (cvt.rp.ue8m0)
            let d = amax * (1.0 / elem.max);
            let db = d.to_bits() & 0x7FFF_FFFF;
            if db >= 0x7F80_0000 {
                return 254; // an infinite amax: the largest finite scale
            }
            let e = (db >> 23) as i32;
            let man = db & 0x7F_FFFF;
            let up = if e == 0 { man > 0x40_0000 } else { man != 0 };
            (e + up as i32).min(254) - 127
        }
        MxScaleRule::RceilTorchao => {
            let d = amax / elem.max;
            if d.is_infinite() {
                return 254;
            }
            // log2(0) = -inf clamps to -127
            (d.log2().ceil().clamp(-127.0, 127.0)) as i32
        }
        MxScaleRule::FloorLog2 => {
            let a = if amax == 0.0 { f32::MIN_POSITIVE } else { amax };
            let e = a.log2().floor() - emax as f32;
            if e > 127.0 {
                return 255;
            }
            e.max(-127.0) as i32
        }
    };
    (s.clamp(-127, 128) + 127) as u8
}

/// The value `2^(code - 127)` of a biased E8M0 scale as f32 (NaN for 255; 2^-127 is
/// an f32 subnormal, exact).
///
/// # Examples
/// ```
/// assert_eq!(lowp::scale::e8m0_to_f32(127), 1.0);
/// assert_eq!(lowp::scale::e8m0_to_f32(0), 2f32.powi(-127));
/// assert!(lowp::scale::e8m0_to_f32(255).is_nan());
/// ```
pub fn e8m0_to_f32(code: u8) -> f32 {
    crate::convert::decode_f32(crate::format::ElemFormat::E8M0FNU, code)
}
