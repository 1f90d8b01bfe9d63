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

/// Arithmetic decode, branch-free and vectorisable: the magnitude bits shifted into
/// an f32 pattern, times `2^(127 - bias)`, is the exact value for normal *and*
/// subnormal codes (both scale by the same power of two); special codes are selected.
/// Checked against the decode table on every code of every format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecodeKernel {
    mag_mask: u32,
    shift: u32,
    mult: f32,
    sign_bit: u32,
    sign_shift: u32,
    /// magnitudes at or above this are NaN (0x100: none)
    nan_from: u32,
    /// the magnitude of ±Inf (0x100: none)
    inf_mag: u32,
    /// the one full code that is NaN in fnuz formats (0x100: none)
    nan_code: u32,
}

impl DecodeKernel {
    pub(crate) fn new(spec: &FormatSpec) -> Option<Self> {
        if !spec.has_subnormals {
            return None; // e8m0fnu: its code 0 is not 0.0; the table serves it
        }
        let none = 0x100;
        let (nan_from, inf_mag, nan_code) = match spec.specials {
            crate::format::Specials::Ieee => {
                let inf = spec.inf_code().unwrap_or(0) as u32;
                (inf + 1, inf, none)
            }
            crate::format::Specials::NanAllOnes => (spec.mag_mask() as u32, none, none),
            crate::format::Specials::NanNegZero => (none, none, 0x80),
            crate::format::Specials::None => (none, none, none),
        };
        Some(DecodeKernel {
            mag_mask: spec.mag_mask() as u32,
            shift: 23 - spec.man_bits,
            mult: crate::format::pow2(127 - spec.bias) as f32,
            sign_bit: spec.sign_bit() as u32,
            sign_shift: 31 - (spec.exp_bits + spec.man_bits),
            nan_from,
            inf_mag,
            nan_code,
        })
    }

    #[inline(always)]
    pub(crate) fn decode(&self, code: u8) -> f32 {
        let c = code as u32;
        let mag = c & self.mag_mask;
        let sign = (c & self.sign_bit) << self.sign_shift;
        let v = (f32::from_bits(mag << self.shift) * self.mult).to_bits();
        let mut bits = v | sign;
        bits = if mag >= self.nan_from || c == self.nan_code { 0x7FC0_0000 | sign } else { bits };
        bits = if mag == self.inf_mag { 0x7F80_0000 | sign } else { bits };
        f32::from_bits(bits)
    }

    #[inline(always)]
    pub(crate) fn run(&self, codes: &[u8], out: &mut [f32]) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = self.decode(c);
        }
    }
}

/// What a block quantizer does with a block's amax: store the block's scale and
/// return the multiplier that takes its elements to element units
/// ([`RneKernel::run_blocks`]). A trait rather than a closure so the call is
/// inlined into the kernel (closures cannot be marked `#[inline(always)]`).
pub(crate) trait BlockScaler {
    /// Block `block` of the row has amax `amax`.
    fn scale(&mut self, block: usize, amax: f32) -> f32;
}

/// The row form of [`BlockScaler`]: every block of a row at once (stores the
/// scales, writes one multiplier per amax), for scale arithmetic that vectorizes
/// across blocks.
pub(crate) trait RowScaler {
    /// Scales of the blocks with these amaxes.
    fn scale_row(&mut self, amaxes: &[f32], mults: &mut [f32]);
}

/// A scaler whose block indices start at `.0`.
struct Offset<S>(usize, S);

impl<S: BlockScaler> BlockScaler for Offset<S> {
    #[inline(always)]
    fn scale(&mut self, block: usize, amax: f32) -> f32 {
        self.1.scale(self.0 + block, amax)
    }
}

/// Precomputed constants of the branch-free RNE kernel for one format and option set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RneKernel {
    shift: u32,
    rebias: u32,
    min_normal_bits: u32,
    magic: f32,
    magic_bits: u32,
    half_minus_one: u32,
    /// bit position of the code's sign bit
    sign_pos: u32,
    /// [nan, inf, overflow, zero] × [positive, negative]
    special: [[u8; 2]; 4],
    /// smallest |x| bit pattern that overflows (or is Inf/NaN)
    ovf_bits: u32,
    /// whether zero results differ from `sign | 0` (fnuz: no negative zero)
    zero_special: bool,
    /// magnitudes at or above this send a 16-element chunk to the per-element path:
    /// `ovf_bits`, or +Inf's pattern where finite overflow saturates (see `clamp_bits`)
    check_bits: u32,
    /// the regular path clamps magnitudes to this: the pattern of the largest finite
    /// value where every finite overflow gives ±max (saturating options), so
    /// overflowing chunks stay on the vector path; `u32::MAX` otherwise
    clamp_bits: u32,
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
        Some(
            RneKernel {
                shift: 23 - man,
                rebias: ((127 - spec.bias) as u32) << man,
                min_normal_bits: (spec.min_normal() as f32).to_bits(),
                magic: f32::from_bits(((spec.min_exp() - man as i32 + 23 + 127) as u32) << 23),
                magic_bits: ((spec.min_exp() - man as i32 + 23 + 127) as u32) << 23,
                half_minus_one: (1 << (22 - man)) - 1,
                sign_pos: spec.exp_bits + man,
                special: [both(f32::NAN), both(f32::INFINITY), both(f32::MAX), both(0.0)],
                ovf_bits: {
                    // binary search for the first positive f32 whose conversion overflows
                    let ovf = |b: u32| encode(spec, f32::from_bits(b).decompose(), o, 0).1.contains(Status::OVERFLOW);
                    let (mut lo, mut hi) = (0u32, 0x7F80_0000u32); // !ovf(lo), first overflow <= hi
                    while hi - lo > 1 {
                        let mid = lo + (hi - lo) / 2;
                        if ovf(mid) { hi = mid } else { lo = mid }
                    }
                    hi
                },
                zero_special: both(0.0) != [0, spec.sign_bit()] || both(f32::from_bits(1)) != [0, spec.sign_bit()],
                check_bits: 0,
                clamp_bits: u32::MAX,
            }
            .with_saturation((spec.max_finite() as f32).to_bits(), both(spec.max_finite() as f32)),
        )
    }

    /// Sets `check_bits`/`clamp_bits`: the regular path clamps to ±max (`max_bits`,
    /// codes `max_codes`) when finite overflow gives exactly those codes.
    fn with_saturation(mut self, max_bits: u32, max_codes: [u8; 2]) -> Self {
        let saturates = self.special[2] == max_codes && max_bits < self.ovf_bits;
        (self.check_bits, self.clamp_bits) =
            if saturates { (0x7F80_0000, max_bits) } else { (self.ovf_bits, u32::MAX) };
        self
    }
}

impl RneKernel {
    /// One element, branch-free: every class is computed and the result selected
    /// with masks.
    #[inline(always)]
    pub(crate) fn encode_fast(&self, x: f32) -> u8 {
        let bits = x.to_bits();
        let a = bits & 0x7FFF_FFFF;
        let neg = 0u32.wrapping_sub(bits >> 31); // all ones for negative inputs
        let pick = |p: [u8; 2]| (p[0] as u32 & !neg) | (p[1] as u32 & neg);
        let (mag, out) = self.regular(bits);
        let mut out = if mag == 0 { pick(self.special[3]) } else { out as u32 };
        out = if a >= self.ovf_bits { pick(self.special[2]) } else { out };
        out = if a == 0x7F80_0000 { pick(self.special[1]) } else { out };
        out = if a > 0x7F80_0000 { pick(self.special[0]) } else { out };
        out as u8
    }

    /// The code of a finite input that does not overflow: (magnitude, code with sign).
    #[inline(always)]
    fn regular(&self, bits: u32) -> (u32, u8) {
        let a = bits & 0x7FFF_FFFF;
        // normal results: round the f32 pattern to `man` bits, ties to even, re-bias
        let lsb = (a >> self.shift) & 1;
        let norm = (a.wrapping_add(self.half_minus_one + lsb) >> self.shift).wrapping_sub(self.rebias);
        // subnormal results: the FPU rounds |x| + magic at the target's subnormal ulp
        let sub = (f32::from_bits(a) + self.magic).to_bits().wrapping_sub(self.magic_bits);
        let mag = if (a as i32) < self.min_normal_bits as i32 { sub } else { norm };
        (mag, (mag | ((bits >> 31) << self.sign_pos)) as u8)
    }

    /// Encodes a whole f32 slice (`dst.len() == src.len()`), portable build.
    ///
    /// Chunks of 16 take the regular path (no NaN, Inf or overflow: one compare per
    /// element decides; under saturating options finite overflow is a clamp to ±max
    /// on this path); a chunk containing any other input is redone element by
    /// element with [`Self::encode_fast`].
    #[inline(always)]
    pub(crate) fn run(&self, src: &[f32], dst: &mut [u8]) {
        if self.zero_special {
            self.run_impl::<true, false>(src, dst, usize::MAX, &[])
        } else {
            self.run_impl::<false, false>(src, dst, usize::MAX, &[])
        }
    }

    /// Encodes `src[i] · mults[i / block]` (one f32 multiplication, then the
    /// encode of [`Self::run`]): the block quantizers' scale-and-round in one pass.
    /// `block` must be a multiple of 16 (so a chunk lies in one block) and `mults`
    /// must have `src.len().div_ceil(block)` entries.
    #[inline(always)]
    pub(crate) fn run_scaled(&self, src: &[f32], block: usize, mults: &[f32], dst: &mut [u8]) {
        debug_assert!(block.is_multiple_of(16) && mults.len() >= src.len().div_ceil(block));
        if self.zero_special {
            self.run_impl::<true, true>(src, dst, block, mults)
        } else {
            self.run_impl::<false, true>(src, dst, block, mults)
        }
    }

    /// Block quantization in one pass per block while it is in registers: the
    /// block's amax (integer maximum of the magnitude bits, as `block::amax_of`;
    /// NaN elements skipped when `ignore_nan`), then `m = scale(block index, amax)`
    /// (which stores the block's scale), then `src[i] · m` encoded as by
    /// [`Self::run_scaled`]. `block` must be a multiple of 16; the last block may be
    /// shorter.
    #[inline(always)]
    pub(crate) fn run_blocks<F: BlockScaler>(
        &self,
        src: &[f32],
        block: usize,
        ignore_nan: bool,
        scale: F,
        dst: &mut [u8],
    ) {
        match (block, self.zero_special, ignore_nan) {
            (16, false, false) => self.blocks_impl::<16, false, false, F>(src, scale, dst),
            (32, false, false) => self.blocks_impl::<32, false, false, F>(src, scale, dst),
            (b, z, i) => self.blocks_generic(src, b, z, i, scale, dst),
        }
    }

    /// Blocks of a fixed size `B`: the amax is an unrolled vector maximum; a last,
    /// shorter block goes to [`Self::blocks_generic`].
    #[inline(always)]
    fn blocks_impl<const B: usize, const ZERO_SPECIAL: bool, const IGNORE_NAN: bool, F: BlockScaler>(
        &self,
        src: &[f32],
        mut scale: F,
        dst: &mut [u8],
    ) {
        let mut s = src.chunks_exact(B);
        let mut d = dst.chunks_exact_mut(B);
        let mut n = 0;
        for (sb, db) in (&mut s).zip(&mut d) {
            let sb: &[f32; B] = sb.try_into().expect("chunks_exact");
            let mut acc = [0u32; 8];
            for c in sb.chunks_exact(8) {
                for (a, v) in acc.iter_mut().zip(c) {
                    let b = v.to_bits() & 0x7FFF_FFFF;
                    *a = (*a).max(if IGNORE_NAN && b > 0x7F80_0000 { 0 } else { b });
                }
            }
            let amax = acc.iter().fold(0, |m, &a| m.max(a));
            let m = [scale.scale(n, f32::from_bits(amax))];
            self.run_impl::<ZERO_SPECIAL, true>(sb, db, B, &m);
            n += 1;
        }
        let (sr, dr) = (s.remainder(), d.into_remainder());
        if !sr.is_empty() {
            self.blocks_generic(sr, B, ZERO_SPECIAL, IGNORE_NAN, Offset(n, scale), dr);
        }
    }

    /// [`Self::run_blocks`] for any block size (multiple of 16, last block shorter).
    fn blocks_generic<F: BlockScaler>(
        &self,
        src: &[f32],
        block: usize,
        zero_special: bool,
        ignore_nan: bool,
        mut scale: F,
        dst: &mut [u8],
    ) {
        for (b, (sb, db)) in src.chunks(block).zip(dst.chunks_mut(block)).enumerate() {
            let mut amax = [0f32];
            super::simd::block_amax_portable(sb, sb.len(), ignore_nan, &mut amax);
            let m = [scale.scale(b, amax[0])];
            if zero_special {
                self.run_impl::<true, true>(sb, db, block, &m)
            } else {
                self.run_impl::<false, true>(sb, db, block, &m)
            }
        }
    }

    #[inline(always)]
    fn run_impl<const ZERO_SPECIAL: bool, const SCALED: bool>(
        &self,
        src: &[f32],
        dst: &mut [u8],
        block: usize,
        mults: &[f32],
    ) {
        const W: usize = 16;
        let per_block = block / W;
        let mut s = src.chunks_exact(W);
        let mut d = dst.chunks_exact_mut(W);
        for (c, (sv, dv)) in (&mut s).zip(&mut d).enumerate() {
            let m = if SCALED { mults[c / per_block] } else { 1.0 };
            let x = |v: f32| if SCALED { v * m } else { v };
            let mut special = false;
            for (d, &v) in dv.iter_mut().zip(sv) {
                let bits = x(v).to_bits();
                let a = bits & 0x7FFF_FFFF;
                let (mag, code) = self.regular((bits & 0x8000_0000) | a.min(self.clamp_bits));
                // fnuz formats: a zero result has no sign
                *d = if ZERO_SPECIAL && mag == 0 { 0 } else { code };
                special |= a >= self.check_bits;
            }
            if special {
                for (d, &v) in dv.iter_mut().zip(sv) {
                    *d = self.encode_fast(x(v));
                }
            }
        }
        let base = src.len() / W * W;
        for (i, (dv, &v)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
            *dv = self.encode_fast(if SCALED { v * mults[(base + i) / block] } else { v });
        }
    }
}

fn check_len(a: usize, b: usize) -> Result<(), Error> {
    if a != b { Err(Error::LengthMismatch { expected: a, got: b }) } else { Ok(()) }
}

fn check_nan<T: SourceFloat>(spec: &FormatSpec, src: &[T], o: &CastOptions) -> Result<(), Error> {
    if o.nan == NanPolicy::Error
        && !spec.has_nan()
        && let Some(i) = src.iter().position(|x| x.decompose().kind == super::Kind::Nan)
    {
        return Err(Error::NanInput { index: i });
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
            super::simd::rne_run(&k, xs, dst);
        } else {
            // widen in chunks (exact for f16/bf16; RNE to f32 for f64 via f32)
            let mut buf = [0f32; 256];
            for (s, d) in src.chunks(256).zip(dst.chunks_mut(256)) {
                for (b, x) in buf.iter_mut().zip(s) {
                    *b = x.to_f32_rne();
                }
                super::simd::rne_run(&k, &buf[..s.len()], d);
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

/// Encodes with a chosen kernel build ([`super::SimdBuild`]; portable where the
/// CPU lacks it) when the fast kernel applies, else the generic path (test hook:
/// every build gives the same codes).
#[doc(hidden)]
pub fn encode_slice_with(build: super::SimdBuild, fmt: ElemFormat, src: &[f32], dst: &mut [u8], o: &CastOptions) {
    match RneKernel::new(fmt.spec(), o) {
        Some(k) => super::simd::rne_run_with(build, &k, src, dst),
        None => dst.iter_mut().zip(src).for_each(|(d, &x)| *d = super::encode_f32(fmt, x, o, 0).0),
    }
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
