//! Whole-slice encode and decode, with the fast paths.
//!
//! * Decode is a lookup in a 256-entry table built at compile time from
//!   [`FormatSpec::decode_f32`].
//! * Encode of f32 (and of f16/bf16, which widen exactly) with
//!   [`Rounding::NearestEven`] into a signed format with mantissa bits runs a
//!   branch-free kernel that LLVM vectorises: normal results by integer rounding
//!   of the f32 bit pattern, subnormal results by one f32 addition of a "magic"
//!   constant whose ulp is the target's smallest subnormal (the FPU's RNE does the
//!   rounding). Special classes (NaN, Inf, overflow, zero) take codes precomputed
//!   with [`encode`] itself, so policies cannot drift apart. The
//!   `exhaustive_f32` test checks the kernel against [`encode`] on all 2^32 inputs.
//! * Everything else runs [`encode`] per element.

use super::{CastOptions, InputPath, NanPolicy, Rounding, SourceFloat, Status, encode};
use crate::Error;
use crate::format::{ElemFormat, FormatSpec};

const fn build_table(spec: &FormatSpec) -> [f32; 256] {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        // codes above a sub-byte format's width decode as their low bits; slice
        // decoding rejects them before the lookup
        t[i] = spec.decode_f32(i as u8);
        i += 1;
    }
    t
}

macro_rules! tables {
    ($($v:ident),*) => {
        /// The decode table of `fmt`: entry `c` is the exact value of code `c`
        /// (entries above a sub-byte format's code range repeat the low bits).
        ///
        /// # Examples
        /// ```
        /// use lowp::{convert::decode_table, format::ElemFormat};
        /// assert_eq!(decode_table(ElemFormat::E4M3FN)[0x7E], 448.0);
        /// ```
        pub fn decode_table(fmt: ElemFormat) -> &'static [f32; 256] {
            match fmt {
                $(ElemFormat::$v => {
                    static T: [f32; 256] = build_table(&<crate::format::$v as crate::format::Format>::SPEC);
                    &T
                })*
            }
        }
    };
}
tables!(E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E4M3, E3M4, E4M3B11FNUZ, E2M3FN, E3M2FN, E2M1FN, E8M0FNU, UE4M3);

/// Decodes codes to f32.
///
/// # Errors
/// [`Error::LengthMismatch`] if the slices differ in length;
/// [`Error::CodeOutOfRange`] (with the first offending index) if a code does not fit
/// a sub-byte format's width.
///
/// # Examples
/// ```
/// use lowp::{convert::decode_slice, format::ElemFormat};
/// let mut out = [0f32; 3];
/// decode_slice(ElemFormat::E2M1FN, &[0x1, 0x7, 0xF], &mut out).unwrap();
/// assert_eq!(out, [0.5, 6.0, -6.0]);
/// assert!(decode_slice(ElemFormat::E2M1FN, &[0x10, 0, 0], &mut out).is_err());
/// ```
pub fn decode_slice(fmt: ElemFormat, codes: &[u8], out: &mut [f32]) -> Result<(), Error> {
    if codes.len() != out.len() {
        return Err(Error::LengthMismatch { expected: codes.len(), got: out.len() });
    }
    let mask = fmt.spec().code_mask();
    if mask != 0xFF {
        if let Some(i) = codes.iter().position(|&c| c & !mask != 0) {
            return Err(Error::CodeOutOfRange { format: fmt, index: i, code: codes[i] });
        }
    }
    let t = decode_table(fmt);
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = t[c as usize];
    }
    Ok(())
}

/// Precomputed constants of the branch-free RNE kernel for one format and option set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RneKernel {
    shift: u32,
    rebias: u32,
    max_mag: u32,
    min_normal_bits: u32,
    magic: f32,
    magic_bits: u32,
    sign_shift: u32,
    /// [nan, inf, overflow, zero] × [positive, negative]
    special: [[u8; 2]; 4],
}

impl RneKernel {
    /// The kernel for `spec` and `o`, if the fast path applies.
    pub(crate) fn new(spec: &FormatSpec, o: &CastOptions) -> Option<Self> {
        if o.rounding != Rounding::NearestEven || spec.man_bits == 0 || !spec.signed {
            return None;
        }
        let man = spec.man_bits;
        let enc = |x: f32| encode(spec, x.decompose(), o, 0).0;
        let both = |x: f32| [enc(x), enc(-x)];
        Some(RneKernel {
            shift: 23 - man,
            rebias: ((127 - spec.bias) as u32) << man,
            max_mag: spec.max_mag_code() as u32,
            min_normal_bits: (spec.min_normal() as f32).to_bits(),
            magic: f32::from_bits(((spec.min_exp() - man as i32 + 23 + 127) as u32) << 23),
            magic_bits: ((spec.min_exp() - man as i32 + 23 + 127) as u32) << 23,
            sign_shift: 31 - (spec.exp_bits + man),
            special: [both(f32::NAN), both(f32::INFINITY), both(f32::MAX), both(0.0)],
        })
    }
}

/// The sign bit of an f32 moved to bit `width-1` of a code.
#[inline(always)]
fn sign_to_code(bits: u32, sign_shift: u32) -> u8 {
    ((bits >> 31) << (31 - sign_shift)) as u8
}

impl RneKernel {
    #[inline(always)]
    fn encode_fast(&self, x: f32) -> u8 {
        let bits = x.to_bits();
        let a = bits & 0x7FFF_FFFF;
        let s = (bits >> 31) as usize;
        let lsb = (a >> self.shift) & 1;
        let norm = (a.wrapping_add((1 << (self.shift - 1)) - 1 + lsb) >> self.shift).wrapping_sub(self.rebias);
        let sub = (f32::from_bits(a) + self.magic).to_bits().wrapping_sub(self.magic_bits);
        let is_sub = a < self.min_normal_bits;
        let mag = if is_sub { sub } else { norm };
        let regular = mag as u8 | sign_to_code(bits, self.sign_shift);
        let nan = a > 0x7F80_0000;
        let inf = a == 0x7F80_0000;
        let ovf = !is_sub && norm > self.max_mag;
        let zero = mag == 0;
        let mut out = regular;
        out = if zero { self.special[3][s] } else { out };
        out = if ovf { self.special[2][s] } else { out };
        out = if inf { self.special[1][s] } else { out };
        if nan { self.special[0][s] } else { out }
    }

    /// Encodes a whole f32 slice.
    pub(crate) fn run(&self, src: &[f32], dst: &mut [u8]) {
        for (d, &x) in dst.iter_mut().zip(src) {
            *d = self.encode_fast(x);
        }
    }
}

fn check_len(a: usize, b: usize) -> Result<(), Error> {
    if a != b { Err(Error::LengthMismatch { expected: a, got: b }) } else { Ok(()) }
}

fn check_nan<T: SourceFloat>(spec: &FormatSpec, src: &[T], o: &CastOptions) -> Result<(), Error> {
    if o.nan == NanPolicy::Error && !spec.has_nan() {
        if let Some(i) = src.iter().position(|x| x.decompose().kind == super::Kind::Nan) {
            return Err(Error::NanInput { index: i });
        }
    }
    Ok(())
}

/// Encodes a slice of f32/f64/f16/bf16 into codes (one per byte, sub-byte codes in
/// the low bits), rounding each element once with options `o`.
///
/// Stochastic rounding needs random bits: use [`encode_slice_stochastic`] or
/// [`encode_slice_with_seed`]; here it gets all-zero bits (i.e. truncation).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::NanInput`] when a NaN meets a NaN-less format
/// under [`NanPolicy::Error`].
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_slice, CastOptions}, format::ElemFormat};
/// let mut codes = [0u8; 4];
/// encode_slice(ElemFormat::E4M3FN, &[1.0f32, -2.0, 0.1, 1e6], &mut codes, &CastOptions::saturating()).unwrap();
/// assert_eq!(codes, [0x38, 0xC0, 0x1D, 0x7E]);
/// ```
pub fn encode_slice<T: SourceFloat>(fmt: ElemFormat, src: &[T], dst: &mut [u8], o: &CastOptions) -> Result<(), Error> {
    check_len(src.len(), dst.len())?;
    let spec = fmt.spec();
    check_nan(spec, src, o)?;
    let direct_f64 = !T::EXACT_IN_F32 && o.input == InputPath::Direct;
    if let (Some(k), false) = (RneKernel::new(spec, o), direct_f64) {
        if let Some(xs) = T::as_f32_slice(src) {
            k.run(xs, dst);
        } else {
            // widen in chunks (exact for f16/bf16; RNE to f32 for f64 via f32)
            let mut buf = [0f32; 256];
            for (s, d) in src.chunks(256).zip(dst.chunks_mut(256)) {
                for (b, x) in buf.iter_mut().zip(s) {
                    *b = x.to_f32_rne();
                }
                k.run(&buf[..s.len()], d);
            }
        }
        return Ok(());
    }
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = super::encode_value(fmt, x, o, 0).0;
    }
    Ok(())
}

/// Encodes with stochastic rounding, element `i` using `rbits[i]`
/// (see [`Rounding::Stochastic`] for which bits are consumed). `o.rounding` must be
/// `Stochastic`; other roundings ignore `rbits`.
///
/// # Errors
/// As [`encode_slice`], plus [`Error::LengthMismatch`] if `rbits` is shorter than `src`.
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_slice_stochastic, CastOptions, Rounding}, format::ElemFormat};
/// let o = CastOptions::default().with_rounding(Rounding::Stochastic { bits: 8 });
/// let mut c = [0u8; 2];
/// // 1.25 is halfway between 1.0 and 1.5 in e2m1: fraction 0x80 of 256
/// encode_slice_stochastic(ElemFormat::E2M1FN, &[1.25f32, 1.25], &mut c, &o, &[0x7F, 0x80]).unwrap();
/// assert_eq!(c, [2, 3]);
/// ```
pub fn encode_slice_stochastic<T: SourceFloat>(
    fmt: ElemFormat,
    src: &[T],
    dst: &mut [u8],
    o: &CastOptions,
    rbits: &[u32],
) -> Result<(), Error> {
    check_len(src.len(), dst.len())?;
    if rbits.len() < src.len() {
        return Err(Error::LengthMismatch { expected: src.len(), got: rbits.len() });
    }
    check_nan(fmt.spec(), src, o)?;
    for ((d, &x), &r) in dst.iter_mut().zip(src).zip(rbits) {
        *d = super::encode_value(fmt, x, o, r).0;
    }
    Ok(())
}

/// Encodes with stochastic rounding whose random word for element `i` is
/// [`crate::rng::random_bits`]`(seed, i)`: reproducible, and independent of how
/// the slice is split across threads.
///
/// # Errors
/// As [`encode_slice`].
///
/// # Examples
/// ```
/// use lowp::{convert::{encode_slice_with_seed, CastOptions, Rounding}, format::ElemFormat};
/// let o = CastOptions::default().with_rounding(Rounding::Stochastic { bits: 8 });
/// let x = vec![1.1f32; 10000];
/// let mut c = vec![0u8; x.len()];
/// encode_slice_with_seed(ElemFormat::E2M1FN, &x, &mut c, &o, 42).unwrap();
/// let mean: f64 = c.iter().map(|&k| lowp::convert::decode_f32(ElemFormat::E2M1FN, k) as f64).sum::<f64>() / 1e4;
/// assert!((mean - 1.1).abs() < 0.01);
/// ```
pub fn encode_slice_with_seed<T: SourceFloat>(
    fmt: ElemFormat,
    src: &[T],
    dst: &mut [u8],
    o: &CastOptions,
    seed: u64,
) -> Result<(), Error> {
    check_len(src.len(), dst.len())?;
    check_nan(fmt.spec(), src, o)?;
    for (i, (d, &x)) in dst.iter_mut().zip(src).enumerate() {
        *d = super::encode_value(fmt, x, o, crate::rng::random_bits(seed, i as u64)).0;
    }
    Ok(())
}

/// Encodes one f32 through the fast kernel when it applies (test hook for the
/// equality of the fast path and [`encode`]).
#[doc(hidden)]
pub fn encode_f32_fast_or_generic(fmt: ElemFormat, x: f32, o: &CastOptions) -> (u8, Status) {
    match RneKernel::new(fmt.spec(), o) {
        Some(k) => (k.encode_fast(x), Status::OK),
        None => super::encode_f32(fmt, x, o, 0),
    }
}
