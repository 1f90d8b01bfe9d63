//! Conversion between wide floats (f32, f64, f16, bf16) and element codes.
//!
//! There is one conversion routine, [`encode`], written as numbered steps
//! (specials, sign, exponent, shift-and-round, normalise, overflow, pack); every
//! format, rounding mode and policy goes through it, and every input type is first
//! taken apart exactly ([`SourceFloat::decompose`]), so each input is rounded once.
//! The slice functions in this module add a branch-free f32 fast path for every
//! format, rounding and preset (SIMD, with software prefetch: they stream at the
//! speed of a copy of the same bytes) that is tested equal to the independent
//! oracle on every f32 input of each format's range (all 2^32 with `--cfg
//! exhaustive`).
//!
//! Decoding is exact: every code of every format is an f32 value.

pub(crate) mod decode;
pub(crate) mod kernel;
mod kernel_e8m0;
mod like;
mod options;
pub(crate) mod simd;
pub(crate) mod slice;
mod source;

pub use like::Like;
pub use options::{
    CastOptions, E8m0Rounding, InfPolicy, InputPath, NanEncoding, NanPolicy, NegativePolicy, Overflow, Rounding,
    ZeroPolicy,
};
pub use slice::{decode_slice, decode_table, encode_slice, encode_slice_stochastic, encode_slice_with_seed};
#[doc(hidden)]
pub use slice::{encode_f32_fast_or_generic, encode_slice_with};
pub use source::{Class, Decomposed, SourceFloat};

use crate::format::{ElemFormat, FormatSpec, Specials};
use core::fmt;
use core::ops::{BitOr, BitOrAssign};

/// IEEE-style exception flags raised by a conversion (rustc_apfloat's `Status`).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions, Status}, format::ElemFormat};
/// let (_code, st) = encode_f32(ElemFormat::E4M3FN, 0.3, &CastOptions::default(), 0);
/// assert!(st.contains(Status::INEXACT));
/// assert!(!st.contains(Status::OVERFLOW));
/// ```
#[must_use]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Status(u8);

impl Status {
    /// No flag.
    pub const OK: Status = Status(0);
    /// The result is not the input's exact value.
    pub const INEXACT: Status = Status(1);
    /// A finite input was beyond the largest finite code after rounding.
    pub const OVERFLOW: Status = Status(2);
    /// The result is subnormal or zero (or, without zero, clamped to the smallest code) and inexact.
    pub const UNDERFLOW: Status = Status(4);
    /// The input was NaN, or an input the format cannot take (zero or a negative into
    /// an unsigned / zero-less format) was mapped by policy.
    pub const INVALID: Status = Status(8);
    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Status) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw flag bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for Status {
    type Output = Status;
    fn bitor(self, rhs: Status) -> Status {
        Status(self.0 | rhs.0)
    }
}
impl BitOrAssign for Status {
    fn bitor_assign(&mut self, rhs: Status) {
        self.0 |= rhs.0;
    }
}
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::INEXACT, "inexact"),
            (Self::OVERFLOW, "overflow"),
            (Self::UNDERFLOW, "underflow"),
            (Self::INVALID, "invalid"),
        ];
        let set: Vec<&str> = names.iter().filter(|(s, _)| self.contains(*s) && s.0 != 0).map(|(_, n)| *n).collect();
        if set.is_empty() { f.write_str("ok") } else { f.write_str(&set.join("|")) }
    }
}

/// The code of `±max finite`.
#[inline]
fn max_code(spec: &FormatSpec, neg: bool) -> u8 {
    spec.max_mag_code() | if neg { spec.sign_bit() } else { 0 }
}

/// The NaN code for a NaN of sign `neg` in a format that has NaN.
#[inline]
fn nan_code(spec: &FormatSpec, neg: bool, enc: NanEncoding) -> u8 {
    match spec.specials {
        Specials::NanNegZero => 0x80,
        Specials::None => unreachable!("format without NaN"),
        Specials::Ieee | Specials::NanAllOnes => {
            let mag = match (spec.specials, enc) {
                (Specials::Ieee, NanEncoding::QuietSigned) => spec.nan_code().unwrap_or(0),
                _ => spec.mag_mask(),
            };
            let keep = !matches!(enc, NanEncoding::AllOnesPositive);
            mag | if neg && keep { spec.sign_bit() } else { 0 }
        }
    }
}

/// The "non-finite" result for overflow / Inf of sign `neg`: ±Inf, else NaN, else ±max.
#[inline]
fn nonfinite_code(spec: &FormatSpec, neg: bool) -> u8 {
    match spec.specials {
        Specials::Ieee => spec.inf_code().unwrap_or(0) | if neg { spec.sign_bit() } else { 0 },
        // a NaN made by overflow or ±Inf keeps the value's sign under every NaN
        // encoding (ml_dtypes; cuda_fp8.h `__NV_NOSAT` and torch 2.11 on an H100
        // give 0xFF for negative overflow even where NaN inputs give 0x7F)
        Specials::NanAllOnes | Specials::NanNegZero => nan_code(spec, neg, NanEncoding::AllOnesSigned),
        Specials::None => max_code(spec, neg),
    }
}

/// Converts one decomposed value to `spec`'s code: **the** conversion routine.
///
/// `rbits` supplies the random bits for [`Rounding::Stochastic`] (its low `bits`
/// bits are used) and is ignored otherwise.
///
/// # Examples
/// ```
/// use lowp::convert::{encode, CastOptions, SourceFloat};
/// use lowp::format::ElemFormat;
/// let (code, _) = encode(ElemFormat::E5M2.spec(), 1.0f64.decompose(), &CastOptions::default(), 0);
/// assert_eq!(code, 0x3C);
/// ```
#[inline]
pub fn encode(spec: &FormatSpec, d: Decomposed, o: &CastOptions, rbits: u32) -> (u8, Status) {
    let mut neg = d.neg;
    // 1. NaN.
    if d.class == Class::Nan {
        let code = if spec.has_nan() {
            nan_code(spec, neg, o.nan_encoding)
        } else {
            match o.nan {
                NanPolicy::Error | NanPolicy::Zero => 0,
                NanPolicy::PositiveMax => max_code(spec, false),
                NanPolicy::SignedMax => max_code(spec, neg),
                NanPolicy::SignFlippedZero => {
                    if neg {
                        0
                    } else {
                        spec.sign_bit()
                    }
                }
            }
        };
        return (code, Status::INVALID);
    }
    // 2. Zero (and the sign of zero).
    if d.class == Class::Zero {
        if !spec.has_zero() {
            return match o.zero {
                ZeroPolicy::Nan => (nan_code(spec, false, o.nan_encoding), Status::INVALID),
                ZeroPolicy::MinCode => (0, Status::INVALID),
            };
        }
        let code = if neg && spec.has_neg_zero() { spec.sign_bit() } else { 0 };
        return (code, Status::OK);
    }
    // 3. Negative values into unsigned formats.
    let mut status = Status::OK;
    if neg && !spec.signed {
        match o.negative {
            NegativePolicy::Nan => return (nan_code(spec, false, o.nan_encoding), Status::INVALID),
            NegativePolicy::Clamp => return (0, Status::INVALID),
            NegativePolicy::Abs => neg = false,
        }
    }
    // 4. Infinities.
    let (sig, exp) = match d.class {
        Class::Finite { sig, exp } => (sig, exp),
        _ => {
            // Inf
            return match o.inf {
                InfPolicy::Saturate => (max_code(spec, neg), status),
                InfPolicy::Keep => (nonfinite_code(spec, neg), status),
            };
        }
    };
    // 5. Exponent of |x| and of the target grid's ulp at |x|.
    let man = spec.man_bits as i32;
    let e = exp + (63 - sig.leading_zeros() as i32); // floor(log2 |x|)
    let mut q = e.max(spec.min_exp()) - man; // the ulp is 2^q
    let rounding = if spec.man_bits == 0 && !spec.signed {
        // e8m0fnu has its own rules
        match o.e8m0 {
            E8m0Rounding::TiesUp if e < -126 => Rounding::TowardPositive,
            E8m0Rounding::TiesUp | E8m0Rounding::TiesUpUniform => Rounding::NearestAway,
            E8m0Rounding::TiesEvenCode => Rounding::NearestEven,
            E8m0Rounding::Floor => Rounding::TowardZero,
            E8m0Rounding::Ceil => Rounding::TowardPositive,
        }
    } else {
        o.rounding
    };
    // 6. Shift the significand onto the grid and round:
    //    |x| / 2^q = kept + rem / 2^shift, with 0 <= rem < 2^shift.
    let shift = q - exp;
    let mut m: u64;
    if shift <= 0 {
        m = sig << (-shift) as u32; // exact (|x| < 2^(q + man + 1))
    } else {
        // (kept, rem, half) in u64 for the usual shifts, u128 beyond
        let (kept, rem, half): (u64, u128, u128) = if shift < 64 {
            let s = shift as u32;
            (sig >> s, (sig & ((1u64 << s) - 1)) as u128, 1u128 << (s - 1))
        } else if shift >= 120 {
            (0, sig as u128, 1u128 << 119) // rem < 2^64 < half: far below the grid
        } else {
            (0, sig as u128, 1u128 << (shift - 1)) // sig < 2^64 <= 2^shift
        };
        m = kept;
        if rem != 0 {
            status |= Status::INEXACT;
            let odd = if man > 0 { kept & 1 == 1 } else { kept == 1 && (q + spec.bias) & 1 == 1 };
            let up = match rounding {
                Rounding::NearestEven => rem > half || (rem == half && odd),
                Rounding::NearestAway => rem >= half,
                Rounding::NearestTowardZero => rem > half,
                Rounding::TowardZero => false,
                Rounding::TowardPositive => !neg,
                Rounding::TowardNegative => neg,
                Rounding::Stochastic { bits } => {
                    let r = bits.clamp(1, 32) as u32;
                    // top r bits of the fraction rem / 2^shift
                    let frac = if shift >= 120 {
                        0
                    } else if shift as u32 >= r {
                        (rem >> (shift as u32 - r)) as u64
                    } else {
                        (rem << (r - shift as u32)) as u64
                    };
                    let rb = if r == 32 { rbits as u64 } else { (rbits & ((1u32 << r) - 1)) as u64 };
                    frac + rb >= 1u64 << r
                }
            };
            m += up as u64;
        }
    }
    // 7. Normalise a carry out of the significand.
    if m == 1u64 << (man + 1) {
        m >>= 1;
        q += 1;
    }
    let sign = if neg { spec.sign_bit() } else { 0 };
    if m == 0 {
        // rounded to zero
        status |= Status::UNDERFLOW;
        if !spec.has_zero() {
            return (0, status); // clamp to the smallest code
        }
        let code = if neg && spec.has_neg_zero() { sign } else { 0 };
        return (code, status);
    }
    // 8. Pack exponent and mantissa; detect overflow.
    let (biased, mant) = if m >= 1u64 << man { (q + man + spec.bias, m - (1u64 << man)) } else { (0, m) };
    if biased == 0 && spec.has_subnormals && status.contains(Status::INEXACT) {
        status |= Status::UNDERFLOW;
    }
    let mag = ((biased as i64) << man) | mant as i64;
    if biased > spec.max_biased_exp() || mag > spec.max_mag_code() as i64 {
        status |= Status::OVERFLOW | Status::INEXACT;
        let to_max = match o.overflow {
            Overflow::Saturate => true,
            Overflow::NonFinite => match rounding {
                Rounding::TowardZero => true,
                Rounding::TowardPositive => neg,
                Rounding::TowardNegative => !neg,
                _ => false,
            },
        };
        let code = if to_max { max_code(spec, neg) } else { nonfinite_code(spec, neg) };
        return (code, status);
    }
    (mag as u8 | sign, status)
}

/// Converts an f32 to `fmt`'s code with options `o` (see [`encode`]).
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_f32, CastOptions}, format::ElemFormat};
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, 448.0, &CastOptions::default(), 0).0, 0x7E);
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, -464.0, &CastOptions::default(), 0).0, 0xFE); // tie to even
/// assert_eq!(encode_f32(ElemFormat::E4M3FN, 465.0, &CastOptions::default(), 0).0, 0x7F); // NaN
/// ```
pub fn encode_f32(fmt: ElemFormat, x: f32, o: &CastOptions, rbits: u32) -> (u8, Status) {
    encode(fmt.spec(), x.decompose(), o, rbits)
}

/// Converts any [`SourceFloat`] with options `o`, honouring [`InputPath`] for f64.
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_value, CastOptions, InputPath}, format::ElemFormat};
/// // a value just above the e2m1 tie 2.5, by less than f32 can hold: double rounding
/// let x = 2.5 + 2f64.powi(-40);
/// let direct = CastOptions { input: InputPath::Direct, ..CastOptions::default() };
/// let via32 = CastOptions { input: InputPath::ViaF32, ..CastOptions::default() };
/// assert_eq!(encode_value(ElemFormat::E2M1FN, x, &direct, 0).0, 5); // 3.0
/// assert_eq!(encode_value(ElemFormat::E2M1FN, x, &via32, 0).0, 4);  // 2.5 -> tie -> 2.0
/// ```
pub fn encode_value<T: SourceFloat>(fmt: ElemFormat, x: T, o: &CastOptions, rbits: u32) -> (u8, Status) {
    if !T::EXACT_IN_F32 && o.input == InputPath::ViaF32 {
        encode(fmt.spec(), x.to_f32_rne().decompose(), o, rbits)
    } else {
        encode(fmt.spec(), x.decompose(), o, rbits)
    }
}

/// The exact value of a code as f32 (NaN codes give a NaN with the code's sign).
///
/// # Examples
/// ```
/// use lowp::{convert::decode_f32, format::ElemFormat};
/// assert_eq!(decode_f32(ElemFormat::E2M1FN, 0x7), 6.0);
/// assert_eq!(decode_f32(ElemFormat::E8M0FNU, 0), 2f32.powi(-127));
/// assert!(decode_f32(ElemFormat::E4M3FN, 0xFF).is_nan());
/// ```
pub fn decode_f32(fmt: ElemFormat, code: u8) -> f32 {
    decode_table(fmt)[code as usize]
}
