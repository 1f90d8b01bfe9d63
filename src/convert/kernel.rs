//! The branch-free cast kernels behind the slice API: one per rounding of the
//! element formats ([`CastKernel`], every format with mantissa bits, signed or not)
//! and one for `e8m0fnu` ([`E8m0Kernel`]), plus the arithmetic decode.
//!
//! A kernel is built once per (format, options) and is then a handful of integer
//! operations per element that LLVM vectorises:
//! * **normal results**: the f32 bit pattern plus a rounding increment, shifted
//!   to the target's mantissa width and re-biased (a mantissa carry moves into the
//!   exponent by itself);
//! * **subnormal results**: the f32 significand shifted by the element's own
//!   distance to the target's subnormal grid, with the same increments at that
//!   shift;
//! * **specials** (NaN, ±Inf, overflow after rounding, zero, negatives into an
//!   unsigned format) take codes precomputed with [`encode`] itself, so policies
//!   cannot drift apart from the one conversion routine.
//!
//! The increments, for a shift `t` (the bits dropped), are those of
//! [`encode`]'s step 6: RNE `2^(t-1) − 1 + lsb`, ties away `2^(t-1)`, ties toward
//! zero `2^(t-1) − 1`, toward zero 0, toward ±∞ `2^t − 1` on the side it points
//! to; stochastic rounding adds the random bits aligned below the kept bits.
//! `tests/exhaustive.rs` checks every kernel against the independent oracle on
//! every f32 of each format's range (all 2^32 inputs behind `--cfg exhaustive`).

pub(crate) use super::kernel_e8m0::E8m0Kernel;
use super::{CastOptions, NegativePolicy, Rounding, SourceFloat, encode};
use crate::format::FormatSpec;

/// The kernel's rounding as a const parameter (one monomorphised loop each).
pub(crate) mod mode {
    pub const RNE: u8 = 0;
    pub const AWAY: u8 = 1;
    pub const TIES_ZERO: u8 = 2;
    pub const ZERO: u8 = 3;
    pub const UP: u8 = 4;
    pub const DOWN: u8 = 5;
    pub const SR: u8 = 6;
    /// Stochastic rounding drawing `rng::random_bits(seed, i)` itself (inside the
    /// vectorised loop), not a kernel's mode: chosen by [`super::Bits::Seeded`].
    pub const SR_SEEDED: u8 = 7;
}

/// Where stochastic rounding's random words come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bits<'a> {
    /// One word per element, given by the caller (unread by other roundings).
    Given(&'a [u32]),
    /// `rng::random_bits(seed, base + i)` for element `i`.
    Seeded { seed: u64, base: u64 },
}

/// The regular path's sign rule, as a const parameter.
pub(crate) mod sign_case {
    /// The sign goes into the code (signed formats with −0), or is dropped
    /// (unsigned formats under `NegativePolicy::Abs`).
    pub const PLAIN: u8 = 0;
    /// Signed formats without −0 (fnuz): a zero result is `0x00`.
    pub const FNUZ: u8 = 1;
    /// Unsigned formats whose nonzero negative inputs take the negative class's code.
    pub const NEG_SPECIAL: u8 = 2;
}

/// How [`CastKernel::magnitude`] computes subnormal results, as a const parameter.
pub(crate) mod sub_path {
    /// None in the chunk: the normal result only.
    pub const NONE: u8 = 0;
    /// The exact integer arithmetic (every rounding).
    pub const EXACT: u8 = 1;
    /// Stochastic rounding with `man + b ≤ 23`: one shift.
    pub const SCALED: u8 = 2;
}

/// Special-class codes: [NaN, Inf, overflow, zero, negative (unsigned formats)]
/// × [positive, negative input] (`both(x)` = the codes of `x` and `-x`; the
/// negative class is `both(-1.0)`, whose first entry is the code of −1).
pub(super) const NAN: usize = 0;
pub(super) const INF: usize = 1;
pub(super) const OVF: usize = 2;
pub(super) const ZERO: usize = 3;
pub(super) const NEG: usize = 4;

/// The codes [`encode`] gives `x` and `-x`.
pub(super) fn both(spec: &FormatSpec, o: &CastOptions, x: f32) -> [u8; 2] {
    [encode(spec, x.decompose(), o, 0).0, encode(spec, (-x).decompose(), o, 0).0]
}

/// The branch-free cast of f32 to a format with mantissa bits, for one option set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CastKernel {
    /// One of [`mode`].
    mode: u8,
    /// Stochastic rounding: random bits per element (`b`, 1..=32).
    sr_bits: u32,
    /// Stochastic rounding: the low `b` bits (`2^b − 1`).
    sr_mask: u32,
    /// Stochastic rounding of a normal result (`shift` bits dropped): the input
    /// with the bits below the top `b` dropped ones cleared (`!(2^(shift−b) − 1)`)...
    sr_clear: u32,
    /// ... plus the random bits placed under the kept bits, `(r << sr_shl) >> sr_shr`.
    sr_shl: u32,
    sr_shr: u32,
    /// Stochastic rounding of a subnormal result when every one drops at least
    /// `b` bits (`man + b ≤ 23`): `sub_base − b`, so that `t − b = sr_sub_base −
    /// E`; else 0 (the general path).
    sr_sub_base: u32,
    /// Bits dropped for a normal result: `23 − man`.
    shift: u32,
    rebias: u32,
    min_normal_bits: u32,
    /// `150 + min_exp − man`: a subnormal result drops `sub_base − max(E, 1)` bits
    /// of the f32 significand (E the f32 exponent field).
    sub_base: u32,
    /// Half the subnormal step, `2^(q-1)` (q = `min_exp − man`).
    half_step: f32,
    /// An f32 whose ulp is the subnormal step `2^q`: `|x| + magic` rounds `|x|`
    /// onto the subnormal grid with the FPU's RNE (the RNE kernel's subnormals).
    magic: f32,
    /// Largest finite magnitude code.
    max_mag: u32,
    sign_pos: u32,
    /// 1 for signed formats: the input's sign goes into the code and steers
    /// directed rounding (0 for unsigned formats, whose negatives are special or `|x|`).
    sign_mask: u32,
    special: [[u8; 2]; 5],
    /// Which sign rule the regular path applies ([`sign_case`]).
    sign_case: u8,
    /// The regular path clamps magnitudes to this: the largest finite value's
    /// pattern where every finite overflow gives ±max, else `f32::MAX`'s (keeping
    /// NaN/Inf patterns, whose chunks are redone, in the finite arithmetic).
    clamp_bits: u32,
}

impl CastKernel {
    /// The kernel for `spec` and `o`, if the fast path applies (every format with
    /// mantissa bits, every rounding).
    pub(crate) fn new(spec: &FormatSpec, o: &CastOptions) -> Option<Self> {
        if spec.man_bits == 0 || spec.bits() > 8 {
            return None;
        }
        let man = spec.man_bits;
        let (mode, sr_bits) = match o.rounding {
            Rounding::NearestEven => (mode::RNE, 0),
            Rounding::NearestAway => (mode::AWAY, 0),
            Rounding::NearestTowardZero => (mode::TIES_ZERO, 0),
            Rounding::TowardZero => (mode::ZERO, 0),
            Rounding::TowardPositive => (mode::UP, 0),
            Rounding::TowardNegative => (mode::DOWN, 0),
            Rounding::Stochastic { bits } => (mode::SR, bits.clamp(1, 32) as u32),
        };
        let max = spec.max_finite() as f32;
        let special = [
            both(spec, o, f32::NAN),
            both(spec, o, f32::INFINITY),
            both(spec, o, f32::MAX),
            both(spec, o, 0.0),
            both(spec, o, -1.0),
        ];
        let saturates = special[OVF] == both(spec, o, max);
        let shift = 23 - man;
        // the normal path's stochastic increment: b random bits aligned with the top
        // b dropped bits (below the dropped ones when b > shift, the surplus cut)
        let (sr_clear, sr_shl, sr_shr) = match sr_bits {
            0 => (u32::MAX, 0, 0),
            b if b <= shift => (!((1u32 << (shift - b)) - 1), shift - b, 0),
            b => (u32::MAX, 0, b - shift),
        };
        Some(CastKernel {
            mode,
            sr_bits,
            sr_mask: if sr_bits >= 32 { u32::MAX } else { (1u32 << sr_bits) - 1 },
            sr_clear,
            sr_shl,
            sr_shr,
            sr_sub_base: if sr_bits > 0 && man + sr_bits <= 23 {
                (150 + spec.min_exp() - man as i32) as u32 - sr_bits
            } else {
                0
            },
            shift,
            rebias: ((127 - spec.bias) as u32) << man,
            min_normal_bits: (spec.min_normal() as f32).to_bits(),
            sub_base: (150 + spec.min_exp() - man as i32) as u32,
            half_step: crate::format::pow2(spec.min_exp() - man as i32 - 1) as f32,
            magic: f32::from_bits(((spec.min_exp() - man as i32 + 23 + 127) as u32) << 23),
            max_mag: spec.max_mag_code() as u32,
            sign_pos: spec.exp_bits + man,
            sign_mask: spec.signed as u32,
            special,
            sign_case: if spec.signed && !spec.has_neg_zero() {
                sign_case::FNUZ
            } else if !spec.signed && o.negative != NegativePolicy::Abs {
                sign_case::NEG_SPECIAL
            } else {
                sign_case::PLAIN
            },
            clamp_bits: if saturates { max.to_bits() } else { 0x7F7F_FFFF },
        })
    }

    /// The kernel's rounding mode ([`mode`]).
    pub(crate) fn mode(&self) -> u8 {
        self.mode
    }

    /// `(x + increment) >> t` for a shift `t` in 1..=31 (not stochastic).
    #[inline(always)]
    fn round_shift<const R: u8>(x: u32, t: u32, neg: u32) -> u32 {
        let half = 1u32 << (t - 1);
        let full = (1u32 << t) - 1;
        let inc = match R {
            mode::RNE => half - 1 + ((x >> t) & 1),
            mode::AWAY => half,
            mode::TIES_ZERO => half - 1,
            mode::ZERO => 0,
            mode::UP => full & neg.wrapping_sub(1),
            _ => full & neg.wrapping_neg(),
        };
        (x + inc) >> t
    }

    /// Stochastic rounding of `rem / 2^t` (the dropped fraction, `rem < 2^t`, any
    /// `t ≥ 1`): 1 when its top `b` bits plus the `b` random bits `r` (`r ≤
    /// mask = 2^b − 1`) carry out, as [`encode`], in 32-bit arithmetic:
    /// * `t ≥ b`: the top bits `f = rem >> (t − b)` carry with `r` when
    ///   `f + r ≥ 2^b`, i.e. `f > mask − r = mask ^ r`;
    /// * `t < b`: `rem · 2^(b−t) + r ≥ 2^b` exactly when `rem + (r >> (b − t)) ≥
    ///   2^t` (the low `b − t` bits of `r` meet zeros and cannot carry), i.e.
    ///   `rem > (2^t − 1) ^ (r >> (b − t))`.
    #[inline(always)]
    fn sr_up(rem: u32, t: u32, r: u32, b: u32, mask: u32) -> u32 {
        if t >= b {
            // (t − b) ≥ 32 only far below the subnormal grid (rem < 2^24): no carry
            let f = rem.checked_shr(t - b).unwrap_or(0);
            (f > (mask ^ r)) as u32
        } else {
            (rem > (((1u32 << t) - 1) ^ (r >> (b - t)))) as u32
        }
    }

    /// The rounded magnitude code of a finite input below `f32::MAX`'s pattern (may
    /// exceed `max_mag`: overflow).
    #[inline(always)]
    fn magnitude<const R: u8, const SUB: u8>(&self, a: u32, neg: u32, rb: u32) -> u32 {
        if R == mode::SR || R == mode::SR_SEEDED {
            let r = rb & self.sr_mask;
            // normal results: the kept bits plus the carry of the top b dropped bits
            // and the random bits (`sr_up` with t = shift, as one addition)
            let inc = (r << self.sr_shl) >> self.sr_shr;
            let norm = (((a & self.sr_clear) + inc) >> self.shift).wrapping_sub(self.rebias);
            if SUB == sub_path::NONE {
                return norm;
            }
            if SUB == sub_path::SCALED {
                // subnormal results with t ≥ b (t the bits dropped): the significand's
                // top bits down to b below the kept ones, `sig >> (t − b)`, plus the
                // random bits, then those b bits dropped (f32 subnormals and zero:
                // a shift of 32 or more, 0)
                let sig = (a & 0x7F_FFFF) | 0x80_0000;
                let top = sig.checked_shr(self.sr_sub_base.wrapping_sub(a >> 23)).unwrap_or(0);
                let sub = (top + r) >> self.sr_bits;
                return if a < self.min_normal_bits { sub } else { norm };
            }
            // subnormal results: the significand shifted by its own distance t
            let e = (a >> 23).max(1);
            let sig = (a & 0x7F_FFFF) | (((a >> 23) != 0) as u32) << 23;
            let t = self.sub_base.saturating_sub(e).max(1);
            let kept = sig.checked_shr(t).unwrap_or(0);
            let rem = sig & 1u32.checked_shl(t).map_or(u32::MAX, |p| p - 1);
            let sub = kept + Self::sr_up(rem, t, r, self.sr_bits, self.sr_mask);
            return if a < self.min_normal_bits { sub } else { norm };
        }
        let norm = Self::round_shift::<R>(a, self.shift, neg).wrapping_sub(self.rebias);
        if SUB == sub_path::NONE {
            return norm;
        }
        // subnormal results: the FPU rounds |x| + magic to nearest-even at the
        // subnormal step (the low bits are the steps); the exact remainder
        // `|x| − rounded` turns that into the other roundings
        let x = f32::from_bits(a);
        let y = x + self.magic;
        let r = y.to_bits().wrapping_sub(self.magic.to_bits());
        let sub = if R == mode::RNE {
            r
        } else {
            let d = x - (y - self.magic); // exact, |d| <= half a step
            let half = self.half_step;
            match R {
                mode::AWAY => r + (d == half) as u32,
                mode::TIES_ZERO => r - (d == -half) as u32,
                mode::ZERO => r - (d < 0.0) as u32,
                // toward ±∞: a ceiling of the magnitude on the side it points to, else a floor
                _ => {
                    let ceil = if R == mode::UP { neg ^ 1 } else { neg };
                    r + (ceil & (d > 0.0) as u32) - ((ceil ^ 1) & (d < 0.0) as u32)
                }
            }
        };
        if a < self.min_normal_bits { sub } else { norm }
    }

    /// One element, every class computed and the result selected with masks.
    #[inline(always)]
    pub(crate) fn encode_one<const R: u8>(&self, x: f32, rb: u32) -> u8 {
        let bits = x.to_bits();
        let a = bits & 0x7FFF_FFFF;
        let s = bits >> 31;
        let negm = 0u32.wrapping_sub(s);
        let pick = |p: [u8; 2]| (p[0] as u32 & !negm) | (p[1] as u32 & negm);
        let mag = self.magnitude::<R, { sub_path::EXACT }>(a.min(0x7F7F_FFFF), s & self.sign_mask, rb);
        let mut out = mag | ((s & self.sign_mask) << self.sign_pos);
        out = if mag == 0 { pick(self.special[ZERO]) } else { out };
        out = if mag > self.max_mag { pick(self.special[OVF]) } else { out };
        out = if a == 0x7F80_0000 { pick(self.special[INF]) } else { out };
        let neg_special = self.sign_case == sign_case::NEG_SPECIAL;
        out = if neg_special && s == 1 && a != 0 { self.special[NEG][0] as u32 } else { out };
        out = if a > 0x7F80_0000 { pick(self.special[NAN]) } else { out };
        out as u8
    }

    /// [`Self::encode_one`] with the kernel's own rounding (`rb`: the element's
    /// random bits, read only by stochastic rounding).
    #[inline(always)]
    pub(crate) fn encode_fast(&self, x: f32, rb: u32) -> u8 {
        match self.mode {
            mode::RNE => self.encode_one::<{ mode::RNE }>(x, rb),
            mode::AWAY => self.encode_one::<{ mode::AWAY }>(x, rb),
            mode::TIES_ZERO => self.encode_one::<{ mode::TIES_ZERO }>(x, rb),
            mode::ZERO => self.encode_one::<{ mode::ZERO }>(x, rb),
            mode::UP => self.encode_one::<{ mode::UP }>(x, rb),
            mode::DOWN => self.encode_one::<{ mode::DOWN }>(x, rb),
            _ => self.encode_one::<{ mode::SR }>(x, rb),
        }
    }

    /// Encodes a whole f32 slice (`dst.len() == src.len()`; `bits`: the random
    /// words of stochastic rounding, otherwise unread).
    ///
    /// Chunks of 16 take the regular path (every finite input: overflow and
    /// negatives into unsigned formats are selected there; under saturating options
    /// finite overflow is a clamp to ±max); a chunk holding a NaN or ±Inf is redone
    /// element by element with [`Self::encode_one`].
    #[inline(always)]
    pub(crate) fn run(&self, src: &[f32], dst: &mut [u8], bits: Bits<'_>) {
        macro_rules! go {
            ($r:expr) => {
                match self.sign_case {
                    sign_case::FNUZ => {
                        self.run_impl::<{ $r }, { sign_case::FNUZ }, false>(src, dst, usize::MAX, &[], bits)
                    }
                    sign_case::NEG_SPECIAL => {
                        self.run_impl::<{ $r }, { sign_case::NEG_SPECIAL }, false>(src, dst, usize::MAX, &[], bits)
                    }
                    _ => self.run_impl::<{ $r }, { sign_case::PLAIN }, false>(src, dst, usize::MAX, &[], bits),
                }
            };
        }
        if self.mode == mode::SR && matches!(bits, Bits::Seeded { .. }) {
            return go!(mode::SR_SEEDED);
        }
        match self.mode {
            mode::RNE => go!(mode::RNE),
            mode::AWAY => go!(mode::AWAY),
            mode::TIES_ZERO => go!(mode::TIES_ZERO),
            mode::ZERO => go!(mode::ZERO),
            mode::UP => go!(mode::UP),
            mode::DOWN => go!(mode::DOWN),
            _ => go!(mode::SR),
        }
    }

    /// Encodes `src[i] · mults[i / block]` (one f32 multiplication, then the
    /// encode of [`Self::run`]): the block quantizers' scale-and-round in one pass.
    /// `block` must be a multiple of 16 (so a chunk lies in one block) and `mults`
    /// must have `src.len().div_ceil(block)` entries. Deterministic roundings only.
    #[inline(always)]
    pub(crate) fn run_scaled(&self, src: &[f32], block: usize, mults: &[f32], dst: &mut [u8]) {
        debug_assert!(block.is_multiple_of(16) && mults.len() >= src.len().div_ceil(block));
        debug_assert!(self.mode != mode::SR);
        macro_rules! go {
            ($r:expr) => {
                match self.sign_case {
                    sign_case::FNUZ => {
                        self.run_impl::<{ $r }, { sign_case::FNUZ }, true>(src, dst, block, mults, Bits::Given(&[]))
                    }
                    sign_case::NEG_SPECIAL => self.run_impl::<{ $r }, { sign_case::NEG_SPECIAL }, true>(
                        src,
                        dst,
                        block,
                        mults,
                        Bits::Given(&[]),
                    ),
                    _ => self.run_impl::<{ $r }, { sign_case::PLAIN }, true>(src, dst, block, mults, Bits::Given(&[])),
                }
            };
        }
        match self.mode {
            mode::RNE => go!(mode::RNE),
            mode::AWAY => go!(mode::AWAY),
            mode::TIES_ZERO => go!(mode::TIES_ZERO),
            mode::ZERO => go!(mode::ZERO),
            mode::UP => go!(mode::UP),
            _ => go!(mode::DOWN),
        }
    }

    /// Block quantization in one pass per block while it is in registers: the
    /// block's amax (integer maximum of the magnitude bits, as `block::amax_of`;
    /// NaN elements skipped when `ignore_nan`), then `m = scale(block index, amax)`
    /// (which stores the block's scale), then `src[i] · m` encoded as by
    /// [`Self::run_scaled`]. `block` must be a multiple of 16; the last block may be
    /// shorter. Round-to-nearest-even kernels only (the fused MX path).
    #[inline(always)]
    pub(crate) fn run_blocks<F: BlockScaler>(
        &self,
        src: &[f32],
        block: usize,
        ignore_nan: bool,
        scale: F,
        dst: &mut [u8],
    ) {
        debug_assert!(self.mode == mode::RNE);
        match (block, self.sign_case, ignore_nan) {
            (16, sign_case::PLAIN, false) => self.blocks_impl::<16, { sign_case::PLAIN }, false, F>(src, scale, dst),
            (32, sign_case::PLAIN, false) => self.blocks_impl::<32, { sign_case::PLAIN }, false, F>(src, scale, dst),
            (b, _, i) => self.blocks_generic(src, b, i, scale, dst),
        }
    }

    /// Blocks of a fixed size `B`: the amax is an unrolled vector maximum; a last,
    /// shorter block goes to [`Self::blocks_generic`].
    #[inline(always)]
    fn blocks_impl<const B: usize, const SC: u8, const IGNORE_NAN: bool, F: BlockScaler>(
        &self,
        src: &[f32],
        mut scale: F,
        dst: &mut [u8],
    ) {
        let mut s = src.chunks_exact(B);
        let mut d = dst.chunks_exact_mut(B);
        let mut n = 0;
        for (src_block, dst_block) in (&mut s).zip(&mut d) {
            let src_block: &[f32; B] = src_block.try_into().expect("chunks_exact");
            let mut acc = [0u32; 8];
            for c in src_block.chunks_exact(8) {
                for (a, v) in acc.iter_mut().zip(c) {
                    let b = v.to_bits() & 0x7FFF_FFFF;
                    *a = (*a).max(if IGNORE_NAN && b > 0x7F80_0000 { 0 } else { b });
                }
            }
            let amax = acc.iter().fold(0, |m, &a| m.max(a));
            let m = [scale.scale(n, f32::from_bits(amax))];
            self.run_impl::<{ mode::RNE }, SC, true>(src_block, dst_block, B, &m, Bits::Given(&[]));
            n += 1;
        }
        let (sr, dr) = (s.remainder(), d.into_remainder());
        if !sr.is_empty() {
            self.blocks_generic(sr, B, IGNORE_NAN, Offset(n, scale), dr);
        }
    }

    /// [`Self::run_blocks`] for any block size (multiple of 16, last block shorter).
    fn blocks_generic<F: BlockScaler>(
        &self,
        src: &[f32],
        block: usize,
        ignore_nan: bool,
        mut scale: F,
        dst: &mut [u8],
    ) {
        for (b, (src_block, dst_block)) in src.chunks(block).zip(dst.chunks_mut(block)).enumerate() {
            let mut amax = [0f32];
            super::simd::block_amax_portable(src_block, src_block.len(), ignore_nan, &mut amax);
            let m = [scale.scale(b, amax[0])];
            self.run_scaled(src_block, block, &m, dst_block);
        }
    }

    #[inline(always)]
    fn run_impl<const R: u8, const SC: u8, const SCALED: bool>(
        &self,
        src: &[f32],
        dst: &mut [u8],
        block: usize,
        mults: &[f32],
        bits: Bits<'_>,
    ) {
        const W: usize = 16;
        let per_block = block / W;
        let given = if let Bits::Given(r) = bits { r } else { &[] };
        let (seed, base) = if let Bits::Seeded { seed, base } = bits { (seed, base) } else { (0, 0) };
        let rb = |i: usize| match R {
            mode::SR => given[i],
            mode::SR_SEEDED => crate::rng::random_bits(seed, base + i as u64),
            _ => 0,
        };
        // a chunk's random words as an array (one bounds check per chunk, so the
        // element loop stays vectorised)
        let chunk_rb = |c: usize| -> [u32; W] {
            match R {
                mode::SR => given[c * W..c * W + W].try_into().expect("a chunk of words"),
                _ => [0; W],
            }
        };
        let mut s = src.chunks_exact(W);
        let mut d = dst.chunks_exact_mut(W);
        for (c, (sv, dv)) in (&mut s).zip(&mut d).enumerate() {
            crate::simd::prefetch_ahead(sv, crate::simd::PREFETCH_AHEAD);
            let sv: &[f32; W] = sv.try_into().expect("chunks_exact");
            let dv: &mut [u8; W] = dv.try_into().expect("chunks_exact");
            let m = if SCALED { mults[c / per_block] } else { 1.0 };
            let x = |v: f32| if SCALED { v * m } else { v };
            let rbs = chunk_rb(c);
            let first = base + (c * W) as u64;
            let stochastic = R == mode::SR || R == mode::SR_SEEDED;
            let special = if !stochastic {
                // the other roundings' subnormal arithmetic is a few operations
                self.chunk::<R, SC, SCALED, { sub_path::EXACT }>(sv, dv, m, &rbs, seed, first)
            } else if self.sr_sub_base > 0 {
                self.chunk::<R, SC, SCALED, { sub_path::SCALED }>(sv, dv, m, &rbs, seed, first)
            } else if sv.iter().fold(false, |acc, &v| acc | ((x(v).to_bits() & 0x7FFF_FFFF) < self.min_normal_bits)) {
                // many random bits: the shifts, only for chunks that may need them
                self.chunk::<R, SC, SCALED, { sub_path::EXACT }>(sv, dv, m, &rbs, seed, first)
            } else {
                self.chunk::<R, SC, SCALED, { sub_path::NONE }>(sv, dv, m, &rbs, seed, first)
            };
            if special {
                for (j, (d, &v)) in dv.iter_mut().zip(sv).enumerate() {
                    *d = self.encode_one::<R>(x(v), rb(c * W + j));
                }
            }
        }
        let base = src.len() / W * W;
        for (i, (dv, &v)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
            let v = if SCALED { v * mults[(base + i) / block] } else { v };
            *dv = self.encode_one::<R>(v, rb(base + i));
        }
    }

    /// One chunk of [`Self::run_impl`] on the regular path (every finite input);
    /// `SUB`: how subnormal results are computed ([`sub_path`]). Returns whether
    /// the chunk holds a NaN or ±Inf (to be redone).
    #[inline(always)]
    fn chunk<const R: u8, const SC: u8, const SCALED: bool, const SUB: u8>(
        &self,
        sv: &[f32; 16],
        dv: &mut [u8; 16],
        m: f32,
        rbs: &[u32; 16],
        seed: u64,
        first: u64,
    ) -> bool {
        let mut special = false;
        for (j, ((d, &v), &r)) in dv.iter_mut().zip(sv).zip(rbs).enumerate() {
            let bits = (if SCALED { v * m } else { v }).to_bits();
            let a = bits & 0x7FFF_FFFF;
            let s = bits >> 31;
            let sign = s & self.sign_mask;
            let negm = 0u32.wrapping_sub(s);
            let pick = |p: [u8; 2]| (p[0] as u32 & !negm) | (p[1] as u32 & negm);
            // NaN/Inf patterns stay below f32::MAX's here: their chunk is redone
            let fin = a.min(self.clamp_bits);
            let r = if R == mode::SR_SEEDED { crate::rng::random_bits(seed, first + j as u64) } else { r };
            let mag = self.magnitude::<R, SUB>(fin, sign, r);
            let mut code = mag | (sign << self.sign_pos);
            // fnuz formats: a zero result has no sign
            code = if SC == sign_case::FNUZ && mag == 0 { 0 } else { code };
            code = if mag > self.max_mag { pick(self.special[OVF]) } else { code };
            code = if SC == sign_case::NEG_SPECIAL && bits > 0x8000_0000 { self.special[NEG][0] as u32 } else { code };
            *d = code as u8;
            special |= a >= 0x7F80_0000;
        }
        special
    }
}

/// The fast cast of one format and option set: the kernel that applies.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel {
    Cast(CastKernel),
    E8m0(E8m0Kernel),
}

impl Kernel {
    /// The kernel for `spec` and `o` (every lowp format has one).
    pub(crate) fn new(spec: &FormatSpec, o: &CastOptions) -> Option<Kernel> {
        CastKernel::new(spec, o).map(Kernel::Cast).or_else(|| E8m0Kernel::new(spec, o).map(Kernel::E8m0))
    }

    /// Whether the kernel reads random bits.
    pub(crate) fn stochastic(&self) -> bool {
        matches!(self, Kernel::Cast(k) if k.mode == mode::SR)
    }

    /// Encodes a slice (`bits`: the random words when [`Self::stochastic`]).
    #[inline(always)]
    pub(crate) fn run(&self, src: &[f32], dst: &mut [u8], bits: Bits<'_>) {
        match self {
            Kernel::Cast(k) => k.run(src, dst, bits),
            Kernel::E8m0(k) => k.run(src, dst),
        }
    }

    /// One element (test hook and scalar path).
    #[inline]
    pub(crate) fn encode_one(&self, x: f32, rb: u32) -> u8 {
        match self {
            Kernel::Cast(k) => k.encode_fast(x, rb),
            Kernel::E8m0(k) => k.encode_one(x),
        }
    }
}

/// What a block quantizer does with a block's amax: store the block's scale and
/// return the multiplier that takes its elements to element units
/// ([`CastKernel::run_blocks`]). A trait rather than a closure so the call is
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
