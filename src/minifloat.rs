//! [`Minifloat<F>`]: one generic scalar type for every element format.

use crate::Error;
use crate::convert::{self, CastOptions, SourceFloat};
use crate::format::{self, ElemFormat, Format, FormatSpec};
use core::cmp::Ordering;
use core::fmt;
use core::marker::PhantomData;
use core::str::FromStr;
use half::{bf16, f16};

/// A value of element format `F`, stored as its code in one byte (sub-byte formats
/// in the low bits). `#[repr(transparent)]` over `u8`, so `&[Minifloat<F>]` and
/// `&[u8]` convert for free ([`bytemuck`]).
///
/// Conversions without options use [`CastOptions::default()`] (ml_dtypes' NumPy
/// cast: RNE, non-saturating); `*_with` methods take explicit options. Lossy
/// conversions are named methods, not `From` impls (as in `half`).
/// Arithmetic operators compute in f32 and round back with the default options,
/// as ml_dtypes does.
///
/// # Examples
/// ```
/// use lowp::{F8E4M3FN, F4E2M1FN};
/// let x = F8E4M3FN::from_f32(0.3);
/// assert_eq!(x.to_bits(), 0x2A);
/// assert_eq!(x.to_f32(), 0.3125);
/// assert_eq!(F8E4M3FN::MAX.to_f32(), 448.0);
/// assert!(F8E4M3FN::from_f32(1000.0).is_nan()); // non-saturating by default
/// assert_eq!(F4E2M1FN::from_f32(2.6).to_f32(), 3.0);
/// assert_eq!(format!("{}", F8E4M3FN::from_f32(-1.5)), "-1.5");
/// ```
#[repr(transparent)]
pub struct Minifloat<F: Format>(u8, PhantomData<F>);

/// FP8 E4M3FN (OCP E4M3).
/// # Examples
/// ```
/// assert_eq!(lowp::F8E4M3FN::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E4M3FN = Minifloat<format::E4M3FN>;
/// FP8 E4M3FNUZ.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E4M3FNUZ::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E4M3FNUZ = Minifloat<format::E4M3FNUZ>;
/// FP8 E5M2 (OCP E5M2).
/// # Examples
/// ```
/// assert_eq!(lowp::F8E5M2::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E5M2 = Minifloat<format::E5M2>;
/// FP8 E5M2FNUZ.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E5M2FNUZ::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E5M2FNUZ = Minifloat<format::E5M2FNUZ>;
/// FP8 E4M3 with IEEE specials.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E4M3::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E4M3 = Minifloat<format::E4M3>;
/// FP8 E3M4 with IEEE specials.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E3M4::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E3M4 = Minifloat<format::E3M4>;
/// FP8 E4M3B11FNUZ.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E4M3B11FNUZ::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8E4M3B11FNUZ = Minifloat<format::E4M3B11FNUZ>;
/// FP6 E2M3FN.
/// # Examples
/// ```
/// assert_eq!(lowp::F6E2M3FN::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F6E2M3FN = Minifloat<format::E2M3FN>;
/// FP6 E3M2FN.
/// # Examples
/// ```
/// assert_eq!(lowp::F6E3M2FN::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F6E3M2FN = Minifloat<format::E3M2FN>;
/// FP4 E2M1FN.
/// # Examples
/// ```
/// assert_eq!(lowp::F4E2M1FN::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F4E2M1FN = Minifloat<format::E2M1FN>;
/// E8M0FNU block scale.
/// # Examples
/// ```
/// assert_eq!(lowp::F8E8M0FNU::from_f32(2.0).to_f32(), 2.0);
/// ```
pub type F8E8M0FNU = Minifloat<format::E8M0FNU>;
/// Unsigned E4M3 block scale (NVFP4).
/// # Examples
/// ```
/// assert_eq!(lowp::F8UE4M3::from_f32(1.5).to_f32(), 1.5);
/// ```
pub type F8UE4M3 = Minifloat<format::UE4M3>;
/// Unsigned FP8 E5M3FNU (ml_dtypes 0.7 `float8_e5m3fnu`).
/// # Examples
/// ```
/// assert_eq!(lowp::F8E5M3FNU::from_f32(1.5).to_f32(), 1.5);
/// assert_eq!(lowp::F8E5M3FNU::MAX.to_f32(), 114688.0);
/// ```
pub type F8E5M3FNU = Minifloat<format::E5M3FNU>;

impl<F: Format> Clone for Minifloat<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F: Format> Copy for Minifloat<F> {}
impl<F: Format> Default for Minifloat<F> {
    /// Code 0: `+0`, or 2^-127 for `e8m0fnu`.
    fn default() -> Self {
        Self::from_bits(0)
    }
}

impl<F: Format> Minifloat<F> {
    /// The format description.
    pub const SPEC: FormatSpec = F::SPEC;
    /// Largest finite value.
    pub const MAX: Self = Self(F::SPEC.max_mag_code(), PhantomData);
    /// The lowest finite value, `-MAX` (for unsigned formats the sign bit does not
    /// exist and this equals `MAX`; use [`num_traits::Bounded::min_value`] for the
    /// smallest value there).
    pub const MIN: Self = Self(F::SPEC.max_mag_code() | F::SPEC.sign_bit(), PhantomData);
    /// Smallest positive normal value.
    pub const MIN_POSITIVE: Self = Self(if F::SPEC.has_subnormals { 1 << F::SPEC.man_bits } else { 0 }, PhantomData);
    /// Smallest positive value (a subnormal, except for `e8m0fnu`).
    pub const MIN_POSITIVE_SUBNORMAL: Self = Self(if F::SPEC.has_subnormals { 1 } else { 0 }, PhantomData);
    /// `1.0`.
    pub const ONE: Self = Self(((F::SPEC.bias as u32) << F::SPEC.man_bits) as u8, PhantomData);
    /// Difference between 1.0 and the next larger value, `2^-man_bits` (1.0 for
    /// `e8m0fnu`, whose next value after 1 is 2).
    pub const EPSILON: Self = {
        let m = F::SPEC.man_bits as i32;
        if -m >= F::SPEC.min_exp() {
            Self((((F::SPEC.bias - m) as u32) << m) as u8, PhantomData)
        } else {
            // 2^-m is subnormal: mantissa 2^(-m) / 2^(min_exp - m)
            Self(1 << -F::SPEC.min_exp(), PhantomData)
        }
    };
    /// The canonical quiet NaN, if the format has one.
    pub const NAN: Option<Self> = match F::SPEC.nan_code() {
        Some(c) => Some(Self(c, PhantomData)),
        None => None,
    };
    /// `+Inf`, if the format has it.
    pub const INFINITY: Option<Self> = match F::SPEC.inf_code() {
        Some(c) => Some(Self(c, PhantomData)),
        None => None,
    };
    /// `+0`, if the format has zero.
    pub const ZERO: Option<Self> = if F::SPEC.has_zero() { Some(Self(0, PhantomData)) } else { None };

    /// The value with code `bits` (bits above the format's width are cleared).
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & F::SPEC.code_mask(), PhantomData)
    }
    /// The code.
    pub const fn to_bits(self) -> u8 {
        self.0
    }
    /// Rounds an f32 with the default options (ml_dtypes semantics).
    pub fn from_f32(x: f32) -> Self {
        Self::from_value(x)
    }
    /// Rounds an f64 once, directly (no intermediate f32), otherwise as `from_f32`.
    pub fn from_f64(x: f64) -> Self {
        Self::from_value(x)
    }
    /// Converts an f16 (exactly representable inputs are kept; others rounded once).
    pub fn from_f16(x: f16) -> Self {
        Self::from_value(x)
    }
    /// Converts a bf16.
    pub fn from_bf16(x: bf16) -> Self {
        Self::from_value(x)
    }
    fn from_value<T: SourceFloat>(x: T) -> Self {
        Self(convert::encode(&F::SPEC, x.decompose(), &CastOptions::default(), 0).0, PhantomData)
    }
    /// Rounds any source float with explicit options (and random bits for stochastic rounding).
    ///
    /// # Errors
    /// [`Error::NanInput`] for a NaN into a NaN-less format under `NanPolicy::Error`.
    ///
    /// # Examples
    /// ```
    /// use lowp::{F8E4M3FN, convert::Like, format::ElemFormat};
    /// let torch = Like::Torch.cast_options(ElemFormat::E4M3FN).unwrap();
    /// assert_eq!(F8E4M3FN::from_value_with(1000.0f32, &torch, 0).unwrap(), F8E4M3FN::MAX);
    /// ```
    pub fn from_value_with<T: SourceFloat>(x: T, o: &CastOptions, rbits: u32) -> Result<Self, Error> {
        let (code, st) = convert::encode_value(F::ELEM, x, o, rbits);
        if st.contains(convert::Status::INVALID)
            && o.nan == convert::NanPolicy::Error
            && !F::SPEC.has_nan()
            && x.decompose().class == convert::Class::Nan
        {
            return Err(Error::NanInput { index: 0 });
        }
        Ok(Self(code, PhantomData))
    }
    /// The exact value as f32.
    pub fn to_f32(self) -> f32 {
        convert::decode_table(F::ELEM)[self.0 as usize]
    }
    /// The exact value as f64.
    pub const fn to_f64(self) -> f64 {
        F::SPEC.decode_f64(self.0)
    }
    /// The exact value as f16, rounded (RNE) where f16 cannot hold it.
    pub fn to_f16(self) -> f16 {
        f16::from_f64(self.to_f64())
    }
    /// The exact value as bf16, rounded (RNE) where bf16 cannot hold it.
    pub fn to_bf16(self) -> bf16 {
        bf16::from_f32(self.to_f32())
    }
    /// The runtime format name.
    pub const fn format() -> ElemFormat {
        F::ELEM
    }
    /// Whether this is a NaN code.
    pub const fn is_nan(self) -> bool {
        F::SPEC.is_nan_code(self.0)
    }
    /// Whether this is ±Inf.
    pub const fn is_infinite(self) -> bool {
        F::SPEC.is_inf_code(self.0)
    }
    /// Neither NaN nor Inf.
    pub const fn is_finite(self) -> bool {
        !self.is_nan() && !self.is_infinite()
    }
    /// ±0.
    pub const fn is_zero(self) -> bool {
        F::SPEC.has_zero() && self.0 & F::SPEC.mag_mask() == 0 && !self.is_nan()
    }
    /// A nonzero subnormal.
    pub const fn is_subnormal(self) -> bool {
        F::SPEC.has_subnormals
            && (self.0 & F::SPEC.mag_mask()) >> F::SPEC.man_bits == 0
            && !self.is_zero()
            && !self.is_nan()
    }
    /// Whether the sign bit is set (never for unsigned formats).
    pub const fn is_sign_negative(self) -> bool {
        self.0 & F::SPEC.sign_bit() != 0 && !matches!(F::SPEC.specials, format::Specials::NanNegZero if self.0 == 0x80)
    }
    /// The total order of IEEE 754 `totalOrder` restricted to this format:
    /// −NaN < −Inf < … < −0 < +0 < … < +Inf < +NaN. fnuz formats' single NaN sorts
    /// above everything.
    ///
    /// # Examples
    /// ```
    /// use lowp::F8E4M3FN;
    /// use std::cmp::Ordering;
    /// let n0 = F8E4M3FN::from_f32(-0.0);
    /// assert_eq!(n0.total_cmp(&F8E4M3FN::from_f32(0.0)), Ordering::Less);
    /// assert_eq!(F8E4M3FN::MAX.total_cmp(&F8E4M3FN::NAN.unwrap()), Ordering::Less);
    /// ```
    pub fn total_cmp(&self, other: &Self) -> Ordering {
        self.total_key().cmp(&other.total_key())
    }
    fn total_key(self) -> i32 {
        let mag = (self.0 & F::SPEC.mag_mask()) as i32;
        if matches!(F::SPEC.specials, format::Specials::NanNegZero) && self.0 == 0x80 {
            return i32::MAX;
        }
        if self.0 & F::SPEC.sign_bit() != 0 { -mag - 1 } else { mag }
    }
}

impl<F: Format> PartialEq for Minifloat<F> {
    /// IEEE equality: NaN ≠ NaN, −0 = +0.
    fn eq(&self, other: &Self) -> bool {
        self.to_f32() == other.to_f32()
    }
}
impl<F: Format> PartialOrd for Minifloat<F> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.to_f32().partial_cmp(&other.to_f32())
    }
}

impl<F: Format> fmt::Display for Minifloat<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_f32(), f)
    }
}
impl<F: Format> fmt::Debug for Minifloat<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:#04x} = {:?})", F::SPEC.name, self.0, self.to_f32())
    }
}
impl<F: Format> FromStr for Minifloat<F> {
    type Err = Error;
    /// Parses a decimal number (as f64) and rounds it once with the default options.
    fn from_str(s: &str) -> Result<Self, Error> {
        let x: f64 = s.trim().parse().map_err(|_| Error::InvalidOption(format!("not a number: '{s}'")))?;
        Ok(Self::from_f64(x))
    }
}

impl<F: Format> From<Minifloat<F>> for f32 {
    fn from(x: Minifloat<F>) -> f32 {
        x.to_f32()
    }
}
impl<F: Format> From<Minifloat<F>> for f64 {
    fn from(x: Minifloat<F>) -> f64 {
        x.to_f64()
    }
}

macro_rules! binop {
    ($tr:ident, $m:ident, $op:tt) => {
        impl<F: Format> core::ops::$tr for Minifloat<F> {
            type Output = Self;
            /// Computed in f32, rounded back with the default options (ml_dtypes semantics).
            fn $m(self, rhs: Self) -> Self {
                Self::from_f32(self.to_f32() $op rhs.to_f32())
            }
        }
    };
}
binop!(Add, add, +);
binop!(Sub, sub, -);
binop!(Mul, mul, *);
binop!(Div, div, /);
binop!(Rem, rem, %);

impl<F: Format> core::ops::Neg for Minifloat<F> {
    type Output = Self;
    /// Flips the sign bit; fnuz zero and NaN stay as they are; unsigned formats round `-x`.
    fn neg(self) -> Self {
        if !F::SPEC.signed {
            return Self::from_f32(-self.to_f32());
        }
        if matches!(F::SPEC.specials, format::Specials::NanNegZero) && self.0 & 0x7F == 0 {
            return self;
        }
        Self(self.0 ^ F::SPEC.sign_bit(), PhantomData)
    }
}

mod num_traits_impls {
    use super::*;
    use num_traits::{Bounded, FromPrimitive, NumCast, One, ToPrimitive};

    impl<F: Format> ToPrimitive for Minifloat<F> {
        fn to_i64(&self) -> Option<i64> {
            Minifloat::to_f64(*self).to_i64()
        }
        fn to_u64(&self) -> Option<u64> {
            Minifloat::to_f64(*self).to_u64()
        }
        fn to_f32(&self) -> Option<f32> {
            Some(Minifloat::to_f32(*self))
        }
        fn to_f64(&self) -> Option<f64> {
            Some(Minifloat::to_f64(*self))
        }
    }
    impl<F: Format> FromPrimitive for Minifloat<F> {
        fn from_i64(n: i64) -> Option<Self> {
            Some(Self::from_f64(n as f64))
        }
        fn from_u64(n: u64) -> Option<Self> {
            Some(Self::from_f64(n as f64))
        }
        fn from_f32(n: f32) -> Option<Self> {
            Some(Minifloat::from_f32(n))
        }
        fn from_f64(n: f64) -> Option<Self> {
            Some(Minifloat::from_f64(n))
        }
    }
    impl<F: Format> NumCast for Minifloat<F> {
        /// Rounds `n`'s f64 value once; `None` if `n` has no f64 value.
        fn from<T: ToPrimitive>(n: T) -> Option<Self> {
            n.to_f64().map(Minifloat::from_f64)
        }
    }
    impl<F: Format> Bounded for Minifloat<F> {
        fn min_value() -> Self {
            if F::SPEC.signed { Self::MIN } else { Self::from_bits(0) }
        }
        fn max_value() -> Self {
            Self::MAX
        }
    }
    impl<F: Format> One for Minifloat<F> {
        fn one() -> Self {
            Self::ONE
        }
    }
    macro_rules! zero {
        ($($m:ident),*) => {$(
            impl num_traits::Zero for Minifloat<format::$m> {
                fn zero() -> Self {
                    Self::from_bits(0)
                }
                fn is_zero(&self) -> bool {
                    Minifloat::is_zero(*self)
                }
            }
        )*};
    }
    // every format but e8m0fnu has a zero
    macro_rules! zero_but_e8m0 {
        () => {};
        (E8M0FNU $(, $rest:ident)*) => { zero_but_e8m0!($($rest),*); };
        ($m:ident $(, $rest:ident)*) => { zero!($m); zero_but_e8m0!($($rest),*); };
    }
    for_each_format!(zero_but_e8m0);
}

#[allow(unsafe_code)]
mod bytemuck_impls {
    use super::*;
    // SAFETY: `Minifloat<F>` is `#[repr(transparent)]` over a `u8` (the PhantomData is
    // zero-sized), has no padding, and every bit pattern is a valid value (codes above a
    // sub-byte format's width are representable, merely out of range for its decoders,
    // which mask or reject them). `F` is `'static + Copy`.
    unsafe impl<F: Format> bytemuck::Zeroable for Minifloat<F> {}
    unsafe impl<F: Format> bytemuck::Pod for Minifloat<F> {}
    unsafe impl<F: Format> bytemuck::TransparentWrapper<u8> for Minifloat<F> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_decode() {
        assert_eq!(F8E4M3FN::MAX.to_f32(), 448.0);
        assert_eq!(F8E4M3FN::MIN.to_f32(), -448.0);
        assert_eq!(F8E5M2::MIN_POSITIVE.to_f32(), 2f32.powi(-14));
        assert_eq!(F8E5M2::MIN_POSITIVE_SUBNORMAL.to_f32(), 2f32.powi(-16));
        assert_eq!(F8E4M3FN::EPSILON.to_f32(), 0.125);
        assert_eq!(F4E2M1FN::EPSILON.to_f32(), 0.5);
        assert_eq!(F8E8M0FNU::ONE.to_f32(), 1.0);
        assert_eq!(F8E8M0FNU::MIN_POSITIVE.to_f32(), 2f32.powi(-127));
        assert_eq!(F8E5M2::INFINITY.unwrap().to_f32(), f32::INFINITY);
        assert!(F4E2M1FN::NAN.is_none());
        assert!(F8E8M0FNU::ZERO.is_none());
        let v: &[u8] = bytemuck::cast_slice(&[F8E4M3FN::ONE, F8E4M3FN::MAX]);
        assert_eq!(v, &[0x38, 0x7E]);
    }
}
