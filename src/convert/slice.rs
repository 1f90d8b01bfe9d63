//! Whole-slice encode and decode, with the fast paths.
//!
//! * Decode is a lookup in a 256-entry table built at compile time from
//!   [`FormatSpec::decode_f32`], or the arithmetic [`DecodeKernel`].
//! * Encode runs the branch-free kernel of the format and options
//!   ([`super::kernel`]) for every format, rounding and policy: f32 as it is,
//!   f16/bf16 widened exactly, f64 rounded to f32 with round-to-odd (one rounding,
//!   [`InputPath::Direct`]) or RNE ([`InputPath::ViaF32`]), in chunks.
//! * Only stochastic rounding of f64 inputs with more random bits than an f32
//!   keeps below the target's ulp runs [`super::encode`] per element.

use super::decode::DecodeKernel;
use super::kernel::{Bits, Kernel};
use super::source::f64_to_f32_odd;
use super::{CastOptions, InputPath, NanPolicy, Rounding, SourceFloat, Status};
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
for_each_format!(tables);

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
    let spec = fmt.spec();
    let mask = spec.code_mask();
    if mask != 0xFF && codes.iter().fold(0u8, |acc, &c| acc | c) & !mask != 0 {
        let i = codes.iter().position(|&c| c & !mask != 0).unwrap_or(0);
        return Err(Error::CodeOutOfRange { format: fmt, index: i, code: codes[i] });
    }
    match DecodeKernel::new(spec) {
        Some(k) => super::simd::decode_run(&k, codes, out),
        None => super::simd::lut_run(decode_table(fmt), codes, out),
    }
    Ok(())
}

fn check_len(a: usize, b: usize) -> Result<(), Error> {
    if a != b { Err(Error::LengthMismatch { expected: a, got: b }) } else { Ok(()) }
}

fn check_nan<T: SourceFloat>(spec: &FormatSpec, src: &[T], o: &CastOptions) -> Result<(), Error> {
    if o.nan == NanPolicy::Error
        && !spec.has_nan()
        && let Some(i) = src.iter().position(|x| x.decompose().class == super::Class::Nan)
    {
        return Err(Error::NanInput { index: i });
    }
    Ok(())
}

/// Chunk length of the widening and random-bit buffers.
const CHUNK: usize = 256;

/// The random words of stochastic rounding, as the slice functions take them.
#[derive(Clone, Copy)]
enum Random<'a> {
    /// All zero (plain `encode_slice`: stochastic rounding truncates).
    Zero,
    Given(&'a [u32]),
    Seeded(u64),
}

impl Random<'_> {
    fn word(&self, i: usize) -> u32 {
        match self {
            Random::Zero => 0,
            Random::Given(r) => r[i],
            Random::Seeded(seed) => crate::rng::random_bits(*seed, i as u64),
        }
    }
}

/// Encodes `src` with the fast kernel where it applies to the source type and
/// options, else with [`super::encode_value`] per element.
fn encode_driven<T: SourceFloat>(fmt: ElemFormat, src: &[T], dst: &mut [u8], o: &CastOptions, random: Random<'_>) {
    let spec = fmt.spec();
    let kernel = Kernel::new(spec, o);
    // f64 → f32 by round-to-odd keeps 23 − man bits below the target's ulp: enough
    // for every deterministic rounding and for stochastic rounding with at most as
    // many random bits (see `source::f64_to_f32_odd`)
    let odd_exact = match o.rounding {
        Rounding::Stochastic { bits } => bits as u32 <= 23 - spec.man_bits,
        _ => true,
    };
    let direct_f64 = !T::EXACT_IN_F32 && o.input == InputPath::Direct;
    let Some(k) = kernel.filter(|_| !direct_f64 || odd_exact) else {
        for (i, (d, &x)) in dst.iter_mut().zip(src).enumerate() {
            *d = super::encode_value(fmt, x, o, random.word(i)).0;
        }
        return;
    };
    let zeros = [0u32; CHUNK];
    let stochastic = k.stochastic();
    let bits = |base: usize, n: usize| match random {
        _ if !stochastic => Bits::Given(&[]),
        Random::Zero => Bits::Given(&zeros[..n]),
        Random::Given(r) => Bits::Given(&r[base..base + n]),
        Random::Seeded(seed) => Bits::Seeded { seed, base: base as u64 },
    };
    if let Some(xs) = T::as_f32_slice(src) {
        if matches!(random, Random::Zero) && stochastic {
            for (c, (s, d)) in xs.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)).enumerate() {
                super::simd::kernel_run(&k, s, d, bits(c * CHUNK, s.len()));
            }
        } else {
            super::simd::kernel_run(&k, xs, dst, bits(0, xs.len()));
        }
        return;
    }
    let mut buf = [0f32; CHUNK];
    for (c, (s, d)) in src.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)).enumerate() {
        for (b, x) in buf.iter_mut().zip(s) {
            *b = if direct_f64 { f64_to_f32_odd(x.to_f64()) } else { x.to_f32_rne() };
        }
        super::simd::kernel_run(&k, &buf[..s.len()], d, bits(c * CHUNK, s.len()));
    }
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
    check_nan(fmt.spec(), src, o)?;
    encode_driven(fmt, src, dst, o, Random::Zero);
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
    encode_driven(fmt, src, dst, o, Random::Given(rbits));
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
    encode_driven(fmt, src, dst, o, Random::Seeded(seed));
    Ok(())
}

/// Encodes f32 with a chosen kernel build ([`crate::simd::SimdBuild`]; portable where
/// the CPU lacks it), element `i` rounding with `rbits[i]` where stochastic (test
/// hook: every build gives the same codes).
#[doc(hidden)]
pub fn encode_slice_with(
    build: crate::simd::SimdBuild,
    fmt: ElemFormat,
    src: &[f32],
    dst: &mut [u8],
    o: &CastOptions,
    rbits: &[u32],
) {
    match Kernel::new(fmt.spec(), o) {
        Some(k) => super::simd::kernel_run_with(build, &k, src, dst, Bits::Given(rbits)),
        None => dst
            .iter_mut()
            .zip(src)
            .enumerate()
            .for_each(|(i, (d, &x))| *d = super::encode_f32(fmt, x, o, rbits.get(i).copied().unwrap_or(0)).0),
    }
}

/// Encodes one f32 through the fast kernel (test hook for the equality of the
/// fast path and [`super::encode`]).
#[doc(hidden)]
pub fn encode_f32_fast_or_generic(fmt: ElemFormat, x: f32, o: &CastOptions, rbits: u32) -> (u8, Status) {
    match Kernel::new(fmt.spec(), o) {
        Some(k) => (k.encode_one(x, rbits), Status::OK),
        None => super::encode_f32(fmt, x, o, rbits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_kernel_equals_table_on_every_code() {
        for &f in ElemFormat::ALL {
            let t = decode_table(f);
            let Some(k) = DecodeKernel::new(f.spec()) else { continue };
            for c in 0..f.spec().num_codes() {
                let (a, b) = (k.decode(c as u8), t[c as usize]);
                assert_eq!(a.to_bits(), b.to_bits(), "{f} {c:#x}: kernel {a} table {b}");
            }
            // and the dispatched slice path
            let codes: Vec<u8> = (0..f.spec().num_codes()).map(|c| c as u8).collect();
            let mut out = vec![0f32; codes.len()];
            decode_slice(f, &codes, &mut out).unwrap();
            for (c, v) in codes.iter().zip(&out) {
                assert_eq!(v.to_bits(), t[*c as usize].to_bits(), "{f} {c:#x}");
            }
        }
    }
}
