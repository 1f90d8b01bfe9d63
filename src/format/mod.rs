//! Element formats: the bit layouts of every narrow float lowp knows.
//!
//! A format is *data*: a [`FormatSpec`] says how many exponent and mantissa bits
//! it has, its bias, whether it has a sign, and which codes are special
//! ([`Specials`]). Every derived quantity (largest finite code, smallest normal,
//! the value of each code) is computed from that description by `const fn`s, so
//! adding a format is one table row, not a new type.
//!
//! Two views of the same table:
//! * compile time: a zero-sized marker type implementing [`Format`] (e.g.
//!   [`E4M3FN`]) parametrises the generic [`crate::Minifloat`];
//! * run time: [`ElemFormat`] names a format chosen from a string (the CLI,
//!   config files) and gives its `&'static FormatSpec`.
//!
//! # Naming
//! Names follow LLVM/MLIR and ml_dtypes: `eXmY` is X exponent bits and Y mantissa
//! bits; the suffixes say how the format departs from IEEE 754:
//! `f` = finite (no infinities), `n` = special NaN encoding (not "exponent all
//! ones"), `uz` = unsigned zero (no negative zero; the `-0` code is the NaN),
//! `u` = unsigned (no sign bit). `fn` formats with mantissa bits put NaN at
//! `S.1111.111` only; `fnuz` at `0x80` only; FP6/FP4 `fn` formats have no NaN at all.

use core::fmt;
use core::str::FromStr;

/// Which codes of a format are not finite numbers.
///
/// # Examples
/// ```
/// use lowp::format::{ElemFormat, Specials};
/// assert_eq!(ElemFormat::E5M2.spec().specials, Specials::Ieee);
/// assert_eq!(ElemFormat::E4M3FN.spec().specials, Specials::NanAllOnes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Specials {
    /// IEEE 754 style: exponent all ones is ±Inf (mantissa 0) or NaN (mantissa ≠ 0).
    /// Used by `e5m2`, `e4m3`, `e3m4`.
    Ieee,
    /// Only the all-ones code (exponent and mantissa, either sign) is NaN; no
    /// infinities; the rest of the top binade is finite. Used by `e4m3fn`,
    /// `e8m0fnu` (0xFF) and `ue4m3` (0x7F).
    NanAllOnes,
    /// The negative-zero code `0x80` is the only NaN; no infinities, no -0.
    /// Used by `e4m3fnuz`, `e5m2fnuz`, `e4m3b11fnuz`.
    NanNegZero,
    /// Every code is a finite number: no NaN, no Inf. Used by `e2m3fn`, `e3m2fn`, `e2m1fn`.
    None,
}

/// The description of one element format. All other properties are derived.
///
/// # Examples
/// ```
/// use lowp::format::ElemFormat;
/// let s = ElemFormat::E4M3FN.spec();
/// assert_eq!((s.exp_bits, s.man_bits, s.bias), (4, 3, 7));
/// assert_eq!(s.max_finite(), 448.0);
/// assert_eq!(s.bits(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FormatSpec {
    /// Short name as ml_dtypes spells the type without its `floatN_` prefix (`"e4m3fn"`).
    pub name: &'static str,
    /// ml_dtypes' full type name (`"float8_e4m3fn"`); `ue4m3` has no ml_dtypes type.
    pub long_name: &'static str,
    /// Exponent field width.
    pub exp_bits: u32,
    /// Stored mantissa (fraction) width.
    pub man_bits: u32,
    /// Whether the top bit is a sign bit.
    pub signed: bool,
    /// Exponent bias: a normal code with biased exponent `E` is `1.m × 2^(E - bias)`.
    pub bias: i32,
    /// Special codes.
    pub specials: Specials,
    /// Whether biased exponent 0 encodes zero and subnormals (`true` for every
    /// format except `e8m0fnu`, where it is the normal value 2^-127).
    pub has_subnormals: bool,
}

impl FormatSpec {
    /// Total code width in bits (4, 6, 7 or 8).
    pub const fn bits(&self) -> u32 {
        self.exp_bits + self.man_bits + self.signed as u32
    }
    /// Number of codes, `2^bits`.
    pub const fn num_codes(&self) -> u32 {
        1 << self.bits()
    }
    /// Mask of the bits a code may use.
    pub const fn code_mask(&self) -> u8 {
        (self.num_codes() - 1) as u8
    }
    /// The sign bit (0 for unsigned formats).
    pub const fn sign_bit(&self) -> u8 {
        if self.signed { 1 << (self.exp_bits + self.man_bits) } else { 0 }
    }
    /// Mask of the magnitude bits (exponent and mantissa).
    pub const fn mag_mask(&self) -> u8 {
        ((1u32 << (self.exp_bits + self.man_bits)) - 1) as u8
    }
    /// Largest biased exponent field value.
    pub const fn max_biased_exp(&self) -> i32 {
        (1 << self.exp_bits) - 1
    }
    /// Unbiased exponent of the smallest normal binade (`1 - bias`, or `-bias` without subnormals).
    pub const fn min_exp(&self) -> i32 {
        if self.has_subnormals { 1 - self.bias } else { -self.bias }
    }
    /// Magnitude bits of the largest finite code.
    pub const fn max_mag_code(&self) -> u8 {
        let all = self.mag_mask();
        match self.specials {
            // exponent all ones is reserved: largest finite is 0.11..10.11..1
            Specials::Ieee => all - (1 << self.man_bits) as u8,
            // only the all-ones code is NaN
            Specials::NanAllOnes => all - 1,
            Specials::NanNegZero | Specials::None => all,
        }
    }
    /// Unbiased exponent of the largest finite value.
    pub const fn max_exp(&self) -> i32 {
        (self.max_mag_code() >> self.man_bits) as i32 - self.bias
    }
    /// Whether the format has infinities.
    pub const fn has_inf(&self) -> bool {
        matches!(self.specials, Specials::Ieee)
    }
    /// Whether the format has a NaN encoding.
    pub const fn has_nan(&self) -> bool {
        !matches!(self.specials, Specials::None)
    }
    /// Whether the format has a negative zero.
    pub const fn has_neg_zero(&self) -> bool {
        self.signed && self.has_subnormals && !matches!(self.specials, Specials::NanNegZero)
    }
    /// Whether the format can represent zero at all (`false` only for `e8m0fnu`).
    pub const fn has_zero(&self) -> bool {
        self.has_subnormals
    }
    /// The canonical +Inf code, if any.
    pub const fn inf_code(&self) -> Option<u8> {
        if self.has_inf() { Some(self.mag_mask() - ((1 << self.man_bits) - 1) as u8) } else { None }
    }
    /// The canonical positive NaN code, if any: `0x7F` for `e4m3fn`, `0x80` for
    /// fnuz formats, the quiet NaN `0.11111.10` (`0x7E`) for `e5m2` (ml_dtypes'
    /// choice; torch writes `0x7F`, see [`crate::convert::NanEncoding`]).
    pub const fn nan_code(&self) -> Option<u8> {
        match self.specials {
            Specials::Ieee => Some(self.inf_code().unwrap() | (1 << (self.man_bits.saturating_sub(1))) as u8),
            Specials::NanAllOnes => Some(self.mag_mask()),
            Specials::NanNegZero => Some(0x80),
            Specials::None => None,
        }
    }
    /// Whether `code` (masked to the format's width) is a NaN.
    pub const fn is_nan_code(&self, code: u8) -> bool {
        let code = code & self.code_mask();
        let mag = code & self.mag_mask();
        match self.specials {
            Specials::Ieee => {
                (mag >> self.man_bits) as i32 == self.max_biased_exp() && mag & ((1 << self.man_bits) - 1) as u8 != 0
            }
            Specials::NanAllOnes => mag == self.mag_mask(),
            Specials::NanNegZero => code == 0x80,
            Specials::None => false,
        }
    }
    /// Whether `code` is ±Inf.
    pub const fn is_inf_code(&self, code: u8) -> bool {
        match self.inf_code() {
            Some(i) => code & self.mag_mask() == i,
            None => false,
        }
    }
    /// Exact value of a code as f64 (every value of every format is exact in f32 too).
    /// NaN codes give a NaN with the code's sign bit.
    pub const fn decode_f64(&self, code: u8) -> f64 {
        let code = code & self.code_mask();
        let neg = code & self.sign_bit() != 0;
        let mag = code & self.mag_mask();
        let v = if self.is_nan_code(code) {
            f64::NAN
        } else if self.is_inf_code(code) {
            f64::INFINITY
        } else {
            let e = (mag >> self.man_bits) as i32;
            let m = (mag as u32 & ((1 << self.man_bits) - 1)) as f64;
            let scale = (1u64 << self.man_bits) as f64;
            if e == 0 && self.has_subnormals {
                pow2(self.min_exp()) * (m / scale)
            } else {
                pow2(e - self.bias) * (1.0 + m / scale)
            }
        };
        if neg { -v } else { v }
    }
    /// Exact value of a code as f32 (NaN codes give the quiet NaN `0x7FC00000` with
    /// the code's sign bit).
    pub const fn decode_f32(&self, code: u8) -> f32 {
        if self.is_nan_code(code) {
            let neg = code & self.code_mask() & self.sign_bit() != 0;
            return f32::from_bits(0x7FC0_0000 | (neg as u32) << 31);
        }
        self.decode_f64(code) as f32
    }
    /// Largest finite value.
    pub const fn max_finite(&self) -> f64 {
        self.decode_f64(self.max_mag_code())
    }
    /// Smallest positive normal value.
    pub const fn min_normal(&self) -> f64 {
        pow2(self.min_exp())
    }
    /// Smallest positive value (the smallest subnormal; `2^-127` for `e8m0fnu`).
    pub const fn min_positive(&self) -> f64 {
        if self.has_subnormals { pow2(self.min_exp() - self.man_bits as i32) } else { pow2(self.min_exp()) }
    }
    /// Difference between 1.0 and the next larger value.
    pub const fn epsilon(&self) -> f64 {
        pow2(-(self.man_bits as i32))
    }
}

/// `2^e` for `e` in the f64 normal range, as a `const fn`.
pub(crate) const fn pow2(e: i32) -> f64 {
    assert!(e >= -1022 && e <= 1023);
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// A compile-time element format: a marker type carrying a [`FormatSpec`].
///
/// Implemented by the zero-sized types in this module; used as the parameter of
/// [`crate::Minifloat`].
///
/// # Examples
/// ```
/// use lowp::format::{Format, E2M1FN};
/// assert_eq!(E2M1FN::SPEC.max_finite(), 6.0);
/// ```
pub trait Format: Copy + Clone + Default + fmt::Debug + Send + Sync + 'static + private::Sealed {
    /// The format description.
    const SPEC: FormatSpec;
    /// The runtime name of this format.
    const ELEM: ElemFormat;
}

mod private {
    pub trait Sealed {}
}

macro_rules! formats {
    ($( $(#[$doc:meta])* $marker:ident / $variant:ident = {
        name: $name:literal, long: $long:literal, e: $e:literal, m: $m:literal,
        signed: $s:literal, bias: $b:literal, specials: $sp:ident, subnormals: $sub:literal
    } ),* $(,)?) => {
        $(
            $(#[$doc])*
            ///
            /// A marker type: use it as `Minifloat<Self>` or read its [`Format::SPEC`].
            ///
            /// # Examples
            /// ```
            /// use lowp::format::Format;
            #[doc = concat!("let spec = lowp::format::", stringify!($marker), "::SPEC;")]
            #[doc = concat!("assert_eq!(spec.name, \"", $name, "\");")]
            /// ```
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
            pub struct $marker;
            impl private::Sealed for $marker {}
            impl Format for $marker {
                const SPEC: FormatSpec = FormatSpec {
                    name: $name, long_name: $long, exp_bits: $e, man_bits: $m, signed: $s,
                    bias: $b, specials: Specials::$sp, has_subnormals: $sub,
                };
                const ELEM: ElemFormat = ElemFormat::$variant;
            }
        )*

        /// A runtime element-format name: every format lowp implements.
        ///
        /// Parses from the short name (`"e4m3fn"`) or ml_dtypes' long name
        /// (`"float8_e4m3fn"`), case-insensitively.
        ///
        /// # Examples
        /// ```
        /// use lowp::format::ElemFormat;
        /// let f: ElemFormat = "float8_e4m3fn".parse().unwrap();
        /// assert_eq!(f, ElemFormat::E4M3FN);
        /// assert_eq!(f.to_string(), "e4m3fn");
        /// assert!("e9m9".parse::<ElemFormat>().is_err());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        pub enum ElemFormat {
            $( $(#[$doc])* $variant, )*
        }

        /// Calls `$mac!(E4M3FN, E4M3FNUZ, ...)` with every format's marker type, in
        /// table order: the one list that per-format code (decode tables, impls,
        /// monomorphised test sweeps) is generated from.
        ///
        /// # Examples
        /// ```
        /// macro_rules! count { ($($m:ident),*) => { [$(stringify!($m)),*].len() } }
        /// assert_eq!(lowp::for_each_format!(count), lowp::format::ElemFormat::ALL.len());
        /// ```
        #[macro_export]
        macro_rules! for_each_format {
            ($mac:ident) => { $mac! { $($marker),* } };
        }

        impl ElemFormat {
            /// Every format, in table order.
            pub const ALL: &'static [ElemFormat] = &[$(ElemFormat::$variant),*];
            /// The format's description.
            pub const fn spec(self) -> &'static FormatSpec {
                match self { $(ElemFormat::$variant => &<$marker as Format>::SPEC,)* }
            }
        }
    };
}

formats! {
    /// FP8 E4M3 "fn" (OCP OFP8 E4M3): bias 7, max 448, NaN `S.1111.111`, no Inf, ±0.
    E4M3FN / E4M3FN = { name: "e4m3fn", long: "float8_e4m3fn", e: 4, m: 3, signed: true, bias: 7, specials: NanAllOnes, subnormals: true },
    /// FP8 E4M3 "fnuz" (AMD MI300 / Graphcore): bias 8, max 240, NaN `0x80`, no Inf, no -0.
    E4M3FNUZ / E4M3FNUZ = { name: "e4m3fnuz", long: "float8_e4m3fnuz", e: 4, m: 3, signed: true, bias: 8, specials: NanNegZero, subnormals: true },
    /// FP8 E5M2 (OCP OFP8 E5M2, IEEE-like): bias 15, max 57344, ±Inf, NaN.
    E5M2 / E5M2 = { name: "e5m2", long: "float8_e5m2", e: 5, m: 2, signed: true, bias: 15, specials: Ieee, subnormals: true },
    /// FP8 E5M2 "fnuz": bias 16, max 57344, NaN `0x80`, no Inf, no -0.
    E5M2FNUZ / E5M2FNUZ = { name: "e5m2fnuz", long: "float8_e5m2fnuz", e: 5, m: 2, signed: true, bias: 16, specials: NanNegZero, subnormals: true },
    /// FP8 E4M3 with IEEE specials (ml_dtypes `float8_e4m3`): bias 7, max 240, ±Inf, NaN.
    E4M3 / E4M3 = { name: "e4m3", long: "float8_e4m3", e: 4, m: 3, signed: true, bias: 7, specials: Ieee, subnormals: true },
    /// FP8 E3M4 with IEEE specials (ml_dtypes `float8_e3m4`): bias 3, max 15.5, ±Inf, NaN.
    E3M4 / E3M4 = { name: "e3m4", long: "float8_e3m4", e: 3, m: 4, signed: true, bias: 3, specials: Ieee, subnormals: true },
    /// FP8 E4M3 "b11fnuz" (Graphcore): bias 11, max 30, NaN `0x80`, no Inf, no -0.
    E4M3B11FNUZ / E4M3B11FNUZ = { name: "e4m3b11fnuz", long: "float8_e4m3b11fnuz", e: 4, m: 3, signed: true, bias: 11, specials: NanNegZero, subnormals: true },
    /// FP6 E2M3 (OCP MX): bias 1, max 7.5, no NaN, no Inf, ±0.
    E2M3FN / E2M3FN = { name: "e2m3fn", long: "float6_e2m3fn", e: 2, m: 3, signed: true, bias: 1, specials: None, subnormals: true },
    /// FP6 E3M2 (OCP MX): bias 3, max 28, no NaN, no Inf, ±0.
    E3M2FN / E3M2FN = { name: "e3m2fn", long: "float6_e3m2fn", e: 3, m: 2, signed: true, bias: 3, specials: None, subnormals: true },
    /// FP4 E2M1 (OCP MX, NVFP4 elements): bias 1, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    E2M1FN / E2M1FN = { name: "e2m1fn", long: "float4_e2m1fn", e: 2, m: 1, signed: true, bias: 1, specials: None, subnormals: true },
    /// E8M0 "fnu" (OCP MX block scale): unsigned powers of two 2^-127..2^127, NaN `0xFF`, no zero.
    E8M0FNU / E8M0FNU = { name: "e8m0fnu", long: "float8_e8m0fnu", e: 8, m: 0, signed: false, bias: 127, specials: NanAllOnes, subnormals: false },
    /// Unsigned E4M3 (NVFP4 block scale, CUTLASS `float_ue4m3_t`): 7 bits, bias 7,
    /// max 448, NaN `0x7F`, no Inf.
    UE4M3 / UE4M3 = { name: "ue4m3", long: "ue4m3", e: 4, m: 3, signed: false, bias: 7, specials: NanAllOnes, subnormals: true },
    /// Unsigned FP8 E5M3 "fnu" (ml_dtypes ≥ 0.7 `float8_e5m3fnu`): 8 bits, bias 15,
    /// max 114688, NaN `0xFF`, no Inf, no sign (negative inputs are NaN under ml_dtypes).
    E5M3FNU / E5M3FNU = { name: "e5m3fnu", long: "float8_e5m3fnu", e: 5, m: 3, signed: false, bias: 15, specials: NanAllOnes, subnormals: true },
}

impl ElemFormat {
    /// Short name, e.g. `"e4m3fn"`.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }
    /// The 8-bit formats whose decode fits a 256-entry table (all formats do; sub-byte
    /// formats use the low bits).
    pub const fn bits(self) -> u32 {
        self.spec().bits()
    }
}

impl fmt::Display for ElemFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ElemFormat {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        let l = l.replace('-', "_");
        for &f in ElemFormat::ALL {
            let sp = f.spec();
            if l == sp.name || l == sp.long_name {
                return Ok(f);
            }
        }
        // common aliases
        let alias = match l.as_str() {
            "fp8_e4m3" | "float8_e4m3fn_" | "e4m3fn_" => Some(ElemFormat::E4M3FN),
            "fp8_e5m2" => Some(ElemFormat::E5M2),
            "fp4" | "fp4_e2m1" | "e2m1" => Some(ElemFormat::E2M1FN),
            "fp6_e2m3" | "e2m3" => Some(ElemFormat::E2M3FN),
            "fp6_e3m2" | "e3m2" => Some(ElemFormat::E3M2FN),
            "e8m0" | "ue8m0" => Some(ElemFormat::E8M0FNU),
            _ => None,
        };
        alias.ok_or_else(|| crate::Error::UnknownFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_constants() {
        let check = |f: ElemFormat, max: f64, min_normal: f64, min_pos: f64| {
            let s = f.spec();
            assert_eq!(s.max_finite(), max, "{f} max");
            assert_eq!(s.min_normal(), min_normal, "{f} min normal");
            assert_eq!(s.min_positive(), min_pos, "{f} min positive");
        };
        check(ElemFormat::E4M3FN, 448.0, 2f64.powi(-6), 2f64.powi(-9));
        check(ElemFormat::E4M3FNUZ, 240.0, 2f64.powi(-7), 2f64.powi(-10));
        check(ElemFormat::E5M2, 57344.0, 2f64.powi(-14), 2f64.powi(-16));
        check(ElemFormat::E5M2FNUZ, 57344.0, 2f64.powi(-15), 2f64.powi(-17));
        check(ElemFormat::E4M3, 240.0, 2f64.powi(-6), 2f64.powi(-9));
        check(ElemFormat::E3M4, 15.5, 2f64.powi(-2), 2f64.powi(-6));
        check(ElemFormat::E4M3B11FNUZ, 30.0, 2f64.powi(-10), 2f64.powi(-13));
        check(ElemFormat::E2M3FN, 7.5, 1.0, 0.125);
        check(ElemFormat::E3M2FN, 28.0, 0.25, 0.0625);
        check(ElemFormat::E2M1FN, 6.0, 1.0, 0.5);
        check(ElemFormat::E8M0FNU, 2f64.powi(127), 2f64.powi(-127), 2f64.powi(-127));
        check(ElemFormat::UE4M3, 448.0, 2f64.powi(-6), 2f64.powi(-9));
        check(ElemFormat::E5M3FNU, 114688.0, 2f64.powi(-14), 2f64.powi(-17));
    }
}
