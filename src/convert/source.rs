//! Exact decomposition of the wide input types (f32, f64, f16, bf16).

use half::{bf16, f16};

/// The class of a decomposed input value.
///
/// # Examples
/// ```
/// use lowp::convert::{Class, SourceFloat};
/// assert_eq!(f32::INFINITY.decompose().class, Class::Inf);
/// assert_eq!((-0.0f64).decompose().class, Class::Zero);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ±0.
    Zero,
    /// A nonzero finite value `sig × 2^exp` (`sig != 0`).
    Finite {
        /// Integer significand (not normalised).
        sig: u64,
        /// Power of two applied to `sig`.
        exp: i32,
    },
    /// ±Inf.
    Inf,
    /// Any NaN.
    Nan,
}

/// A wide float taken apart exactly: sign and [`Class`].
///
/// # Examples
/// ```
/// use lowp::convert::{Class, SourceFloat};
/// let d = 0.75f32.decompose();
/// assert!(!d.neg);
/// assert_eq!(d.class, Class::Finite { sig: 0xC00000, exp: -24 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decomposed {
    /// Sign bit of the input (also set for -0 and negative NaNs).
    pub neg: bool,
    /// The magnitude.
    pub class: Class,
}

/// An IEEE binary input type lowp converts from, each value taken exactly.
///
/// Implemented for `f32`, `f64`, [`half::f16`] and [`half::bf16`].
///
/// # Examples
/// ```
/// use lowp::convert::SourceFloat;
/// assert_eq!(half::bf16::from_f32(1.5).decompose().normalized(), 1.5f32.decompose().normalized());
/// ```
pub trait SourceFloat: Copy + Send + Sync + 'static {
    /// Takes the value apart exactly.
    fn decompose(self) -> Decomposed;
    /// Whether this type's values are all exact in f32 (so the f32 fast path applies).
    const EXACT_IN_F32: bool;
    /// Rounds to f32 with RNE (exact when `EXACT_IN_F32`).
    fn to_f32_rne(self) -> f32;
    /// The value as f64 (exact for every source type).
    fn to_f64(self) -> f64;
    /// The slice itself when `Self` is `f32` (lets slice kernels skip widening).
    fn as_f32_slice(s: &[Self]) -> Option<&[f32]> {
        let _ = s;
        None
    }
}

#[inline]
fn split(bits: u64, neg: bool, exp_bits: u32, man_bits: u32) -> Decomposed {
    let man_mask = (1u64 << man_bits) - 1;
    let e = ((bits >> man_bits) & ((1u64 << exp_bits) - 1)) as i32;
    let m = bits & man_mask;
    let bias = (1i32 << (exp_bits - 1)) - 1;
    let max_e = (1i32 << exp_bits) - 1;
    let class = if e == max_e {
        if m == 0 { Class::Inf } else { Class::Nan }
    } else if e == 0 {
        if m == 0 { Class::Zero } else { Class::Finite { sig: m, exp: 1 - bias - man_bits as i32 } }
    } else {
        Class::Finite { sig: m | (1u64 << man_bits), exp: e - bias - man_bits as i32 }
    };
    Decomposed { neg, class }
}

impl Decomposed {
    /// The same value with the significand's trailing zeros removed (a canonical form
    /// for comparing decompositions of different source types).
    pub fn normalized(self) -> Self {
        match self.class {
            Class::Finite { sig, exp } => {
                let tz = sig.trailing_zeros();
                Decomposed { neg: self.neg, class: Class::Finite { sig: sig >> tz, exp: exp + tz as i32 } }
            }
            _ => self,
        }
    }
}

impl SourceFloat for f32 {
    #[inline]
    fn decompose(self) -> Decomposed {
        let b = self.to_bits();
        split(b as u64 & 0x7FFF_FFFF, b >> 31 != 0, 8, 23)
    }
    const EXACT_IN_F32: bool = true;
    #[inline]
    fn to_f32_rne(self) -> f32 {
        self
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn as_f32_slice(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
}

impl SourceFloat for f64 {
    #[inline]
    fn decompose(self) -> Decomposed {
        let b = self.to_bits();
        split(b & 0x7FFF_FFFF_FFFF_FFFF, b >> 63 != 0, 11, 52)
    }
    const EXACT_IN_F32: bool = false;
    #[inline]
    fn to_f32_rne(self) -> f32 {
        self as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

impl SourceFloat for f16 {
    #[inline]
    fn decompose(self) -> Decomposed {
        let b = self.to_bits() as u64;
        split(b & 0x7FFF, b >> 15 != 0, 5, 10)
    }
    const EXACT_IN_F32: bool = true;
    #[inline]
    fn to_f32_rne(self) -> f32 {
        self.to_f32()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

impl SourceFloat for bf16 {
    #[inline]
    fn decompose(self) -> Decomposed {
        let b = self.to_bits() as u64;
        split(b & 0x7FFF, b >> 15 != 0, 8, 7)
    }
    const EXACT_IN_F32: bool = true;
    #[inline]
    fn to_f32_rne(self) -> f32 {
        self.to_f32()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

/// f64 → f32 with round-to-odd: truncate, and set the last bit if anything was
/// dropped. Rounding that f32 (24 bits) once more to any format of at most 22
/// significant bits gives the f64's own correctly rounded result under every
/// deterministic rounding (Boldo and Melquiond, "When double rounding is odd",
/// 2005), and an f64 beyond f32's range stays a finite overflow (`±FLT_MAX`), so
/// the f32 kernels serve f64 inputs rounded once ([`super::InputPath::Direct`]).
#[inline(always)]
pub(crate) fn f64_to_f32_odd(x: f64) -> f32 {
    let r = x as f32; // RNE
    let back = r as f64;
    // RNE went above |x| (to +Inf for a finite x beyond f32): one step toward zero
    let t = r.to_bits() - (back.abs() > x.abs()) as u32;
    f32::from_bits(t | (back != x && !x.is_nan()) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompose_is_exact_for_all_f16_and_bf16() {
        for b in 0..=u16::MAX {
            let h = f16::from_bits(b);
            let x = h.to_f32();
            assert_eq!(h.decompose().normalized(), x.decompose().normalized(), "f16 {b:#x}");
            let h = bf16::from_bits(b);
            let x = h.to_f32();
            assert_eq!(h.decompose().normalized(), x.decompose().normalized(), "bf16 {b:#x}");
        }
    }

    #[test]
    fn subnormals_and_specials() {
        assert_eq!(f32::from_bits(1).decompose().class, Class::Finite { sig: 1, exp: -149 });
        assert_eq!(f64::from_bits(1).decompose().class, Class::Finite { sig: 1, exp: -1074 });
        assert_eq!(f32::NEG_INFINITY.decompose(), Decomposed { neg: true, class: Class::Inf });
        assert_eq!((-0.0f64).decompose(), Decomposed { neg: true, class: Class::Zero });
        assert_eq!(f32::NAN.decompose().class, Class::Nan);
    }
}
