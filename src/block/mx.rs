//! OCP MX (MX v1.0 §5–6): blocks share one E8M0 scale `2^s`; each element is
//! `x · 2^-s` rounded to the element type.

use crate::Error;
use crate::convert::{CastOptions, InfPolicy, NanPolicy, Overflow, Rounding};
use crate::format::ElemFormat;
use crate::scale::{ElemRange, MxScaleRule, mx_scale_e8m0};

/// What a NaN inside a block does to the block's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BlockNan {
    /// The amax is NaN, so the scale is NaN (E8M0 `0xFF`) and the whole block
    /// dequantizes to NaN: OCP MX, torchao (`torch.amax`), microxcaling, gfloat.
    #[default]
    Propagate,
    /// NaN elements are left out of the amax (`fmaxf` reduction), so only they
    /// dequantize to NaN: TransformerEngine MXFP8 (its source flags this as a TODO).
    Ignore,
}

/// What an infinite element does to an MX block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BlockInf {
    /// The amax is +Inf; the scale rule reads its exponent field (255), giving a
    /// finite scale (FLOOR: `2^(128-emax)`, RCEIL: `2^127`); the Inf element
    /// saturates to ±max and the finite ones flush to zero: torchao, TE.
    #[default]
    Saturate,
    /// The whole block becomes NaN (scale 0xFF): microxcaling (`log2(inf)`
    /// overflows its scale range).
    Nan,
}

/// MXINT8's code range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Int8Range {
    /// `k/64` for `|k| ≤ 127` (−128 never produced): microxcaling.
    #[default]
    Symmetric,
    /// `−128/64` allowed: gfloat `ocp_int8`.
    Full,
}

/// The element type of an MX block.
///
/// # Examples
/// ```
/// use lowp::{block::MxElem, format::ElemFormat};
/// assert_eq!(MxElem::Float(ElemFormat::E2M1FN).scheme_name(), "mxfp4");
/// assert_eq!(MxElem::Int8(Default::default()).bits(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MxElem {
    /// A minifloat element (e4m3fn, e5m2, e2m3fn, e3m2fn, e2m1fn; any lowp format is accepted).
    Float(ElemFormat),
    /// MXINT8: 8-bit two's complement with an implicit 2^-6 (value `k/64`),
    /// stored as the byte of `k`.
    Int8(Int8Range),
}

impl MxElem {
    /// The scheme name (`mxfp8-e4m3`, …, `mxint8`; other formats `mx-<format>`).
    pub fn scheme_name(self) -> &'static str {
        match self {
            MxElem::Int8(_) => "mxint8",
            MxElem::Float(f) => match f {
                ElemFormat::E4M3FN => "mxfp8-e4m3",
                ElemFormat::E5M2 => "mxfp8-e5m2",
                ElemFormat::E2M3FN => "mxfp6-e2m3",
                ElemFormat::E3M2FN => "mxfp6-e3m2",
                ElemFormat::E2M1FN => "mxfp4",
                _ => "mx",
            },
        }
    }
    /// Storage bits per element (before packing).
    pub fn bits(self) -> u32 {
        match self {
            MxElem::Int8(_) => 8,
            MxElem::Float(f) => f.spec().bits(),
        }
    }
    /// The range the scale rules use.
    pub fn range(self) -> ElemRange {
        match self {
            MxElem::Int8(_) => ElemRange::MXINT8,
            MxElem::Float(f) => f.spec().into(),
        }
    }
    /// The value of a code.
    pub fn decode(self, code: u8) -> f32 {
        match self {
            MxElem::Int8(_) => code as i8 as f32 / 64.0,
            MxElem::Float(f) => crate::convert::decode_f32(f, code),
        }
    }
}

/// Options of an MX quantizer (the tile and the element rounding are in [`super::Scheme`]).
///
/// # Examples
/// ```
/// use lowp::{block::{MxElem, MxOptions}, format::ElemFormat, scale::MxScaleRule};
/// let o = MxOptions::new(MxElem::Float(ElemFormat::E2M1FN));
/// assert_eq!(o.rule, MxScaleRule::Floor);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MxOptions {
    /// Element type.
    pub elem: MxElem,
    /// Scale rule ([`MxScaleRule::Floor`], the OCP v1.0 rule, by default).
    pub rule: MxScaleRule,
    /// NaN-in-block policy.
    pub nan: BlockNan,
    /// Inf-in-block policy.
    pub inf: BlockInf,
    /// What a NaN element becomes in a float element format without NaN (FP6/FP4).
    /// Only reachable under [`BlockNan::Ignore`]; otherwise the block's scale is NaN
    /// and the code is never read.
    pub elem_nan: NanPolicy,
}

impl MxOptions {
    /// OCP defaults: FLOOR scale, NaN propagates, Inf saturates, NaN in FP4/FP6 → +max.
    pub fn new(elem: MxElem) -> Self {
        MxOptions {
            elem,
            rule: MxScaleRule::Floor,
            nan: BlockNan::Propagate,
            inf: BlockInf::Saturate,
            elem_nan: NanPolicy::PositiveMax,
        }
    }

    /// The element cast: saturating (OCP MX §6.3 clamps normal values above the
    /// element max; torchao clamps before its cast; TE uses `cvt.rn.satfinite`).
    pub(crate) fn cast(&self, rounding: Rounding) -> CastOptions {
        CastOptions {
            rounding,
            overflow: Overflow::Saturate,
            inf: InfPolicy::Saturate,
            nan: self.elem_nan,
            ..CastOptions::default()
        }
    }

    /// The biased E8M0 scale of a block with this amax (`range` = `self.elem.range()`,
    /// computed once per tensor).
    #[inline(always)]
    pub(crate) fn scale(&self, amax: f32, range: ElemRange) -> u8 {
        if amax.is_infinite() && self.inf == BlockInf::Nan {
            return 255;
        }
        mx_scale_e8m0(amax, range, self.rule)
    }

    /// [`Self::scale`] of every amax of a row of blocks, with each block's encode
    /// multiplier ([`encode_multiplier`]).
    pub(crate) fn scales_into(&self, amaxes: &[f32], range: ElemRange, bytes: &mut [u8], mults: &mut [f32]) {
        for ((&a, b), m) in amaxes.iter().zip(bytes).zip(mults) {
            *b = self.scale(a, range);
            *m = encode_multiplier(*b);
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if let MxElem::Float(f) = self.elem
            && (!f.spec().signed || f.spec().bits() > 8)
        {
            return Err(Error::InvalidOption(format!("{f} cannot be an MX element type")));
        }
        Ok(())
    }
}

/// The multiplier `2^(127 - s)` that takes a block with biased E8M0 scale `s` to
/// element units (NaN for the NaN scale 255). `x · 2^(127 - s)` is exact in f32
/// unless the product is an f32 subnormal, which every element type rounds to zero
/// anyway.
#[inline(always)]
pub(crate) fn encode_multiplier(s: u8) -> f32 {
    let e = 254 - s as i32; // the biased f32 exponent of 2^(127 - s)
    if s == 255 {
        f32::NAN
    } else if e >= 1 {
        f32::from_bits((e as u32) << 23)
    } else {
        f32::from_bits(1 << 22) // s = 254: 2^-127, an f32 subnormal
    }
}

/// MXINT8 element: `k = round(y · 64)` clamped to the range (NaN → 0).
pub(crate) fn encode_int8(y: f32, range: Int8Range, rounding: Rounding, rbits: u32) -> u8 {
    if y.is_nan() {
        return 0;
    }
    let lo = if range == Int8Range::Full { -128.0 } else { -127.0 };
    // y·64 is exact (a scaling by 2^6); the magnitude is clamped far above 128 first
    let v = (y as f64 * 64.0).clamp(-1000.0, 1000.0);
    let a = v.abs();
    let fl = a.floor();
    let frac = a - fl;
    let away = match rounding {
        Rounding::NearestEven => frac > 0.5 || (frac == 0.5 && fl % 2.0 != 0.0),
        Rounding::NearestAway => frac >= 0.5,
        Rounding::NearestTowardZero => frac > 0.5,
        Rounding::TowardZero => false,
        Rounding::TowardPositive => frac > 0.0 && v > 0.0,
        Rounding::TowardNegative => frac > 0.0 && v < 0.0,
        Rounding::Stochastic { bits } => {
            let b = bits.clamp(1, 32) as u32;
            let r = if b == 32 { rbits as u64 } else { (rbits & ((1u32 << b) - 1)) as u64 };
            ((frac * (1u64 << b) as f64).floor() as u64) + r >= 1u64 << b
        }
    };
    let k = ((fl + away as u8 as f64) * v.signum()).clamp(lo, 127.0);
    k as i8 as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector MXINT8 kernel equals `encode_int8` under ties-to-even on ties,
    /// both ranges, NaN, ±Inf, subnormals and huge values.
    #[test]
    fn int8_kernel_equals_encode_int8() {
        let mut xs: Vec<f32> = (-600..600).map(|k| k as f32 / 128.0).collect(); // every tie
        xs.extend([f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-45, 0.0, -0.0, 1e30, -1e30]);
        xs.extend((0..50_000u64).map(|i| f32::from_bits(crate::rng::random_bits(9, i))));
        for range in [Int8Range::Symmetric, Int8Range::Full] {
            let lo = if range == Int8Range::Full { -128.0 } else { -127.0 };
            let mut got = vec![0u8; xs.len()];
            crate::convert::simd::int8_rne_run(&xs, lo, &mut got);
            let mut portable = vec![0u8; xs.len()];
            crate::convert::simd::int8_rne_portable(&xs, lo, &mut portable);
            for (i, &x) in xs.iter().enumerate() {
                let want = encode_int8(x, range, Rounding::NearestEven, 0);
                assert_eq!((got[i], portable[i]), (want, want), "{x:e} {range:?}");
            }
        }
    }

    /// The row loop equals [`MxOptions::scale`] + [`encode_multiplier`] on every
    /// exponent field (with several mantissas), NaN and Inf, for every rule, Inf
    /// policy and element range.
    #[test]
    fn scales_into_equals_per_block_scale() {
        let mut amaxes: Vec<f32> = (0..=255u32)
            .flat_map(|e| [0, 1, 0x40_0000, 0x60_0000, 0x7F_FFFF].map(|m| f32::from_bits((e << 23) | m)))
            .collect();
        amaxes.extend([f32::NAN, f32::INFINITY, 0.0, 448.0, 6.0, 57344.0, 1.984375]);
        let elems = [
            MxElem::Float(ElemFormat::E4M3FN),
            MxElem::Float(ElemFormat::E5M2),
            MxElem::Float(ElemFormat::E2M3FN),
            MxElem::Float(ElemFormat::E3M2FN),
            MxElem::Float(ElemFormat::E2M1FN),
            MxElem::Int8(Int8Range::Symmetric),
        ];
        for elem in elems {
            for &rule in MxScaleRule::ALL {
                for inf in [BlockInf::Saturate, BlockInf::Nan] {
                    let o = MxOptions { rule, inf, ..MxOptions::new(elem) };
                    let (mut b, mut m) = (vec![0u8; amaxes.len()], vec![0f32; amaxes.len()]);
                    o.scales_into(&amaxes, elem.range(), &mut b, &mut m);
                    for (i, &a) in amaxes.iter().enumerate() {
                        let want = o.scale(a, elem.range());
                        assert_eq!(b[i], want, "{elem:?} {rule:?} {inf:?} amax {a:e}");
                        let wm = if want == 255 { f32::NAN } else { crate::format::pow2(127 - want as i32) as f32 };
                        assert_eq!(m[i].to_bits(), wm.to_bits(), "multiplier of {want}");
                    }
                }
            }
        }
    }
}
