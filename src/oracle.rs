//! The slow, obviously correct reference conversion.
//!
//! [`encode_oracle`] shares no arithmetic with [`crate::convert::encode`]: it lists
//! the format's magnitudes from the definition `value(code)`, finds the two
//! neighbours of the input by binary search with **exact** dyadic comparisons
//! (128-bit integers, no floating point), and applies the rounding rule to the
//! exact midpoint or the exact fraction. It is used by the tests (exhaustively over
//! f32 ranges and, behind `cfg(exhaustive)`, all 2^32 inputs) and the differential
//! fuzz target. It is far too slow for real work.
//!
//! # Examples
//! ```
//! use lowp::{oracle::encode_oracle, convert::{encode_f32, CastOptions, SourceFloat}, format::ElemFormat};
//! let o = CastOptions::default();
//! for x in [0.1f32, 3.7, -1e-3, 500.0] {
//!     let f = ElemFormat::E4M3FN;
//!     assert_eq!(encode_oracle(f.spec(), x.decompose(), &o, 0), encode_f32(f, x, &o, 0).0);
//! }
//! ```

use crate::convert::{
    CastOptions, Class, Decomposed, E8m0Rounding, InfPolicy, NanEncoding, NanPolicy, NegativePolicy, Overflow,
    Rounding, ZeroPolicy,
};
use crate::format::{FormatSpec, Specials};
use core::cmp::Ordering;

/// An exact non-negative dyadic rational `m · 2^e`.
#[derive(Clone, Copy, Debug)]
struct Dyadic {
    m: u128,
    e: i32,
}

impl Dyadic {
    fn cmp(self, o: Dyadic) -> Ordering {
        match (self.m == 0, o.m == 0) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // compare the position of the leading bit first, then align (|Δe| < 128 then)
        let top = |d: Dyadic| 128 - d.m.leading_zeros() as i32 + d.e;
        match top(self).cmp(&top(o)) {
            Ordering::Equal => {}
            ord => return ord,
        }
        if self.e >= o.e {
            (self.m << (self.e - o.e) as u32).cmp(&o.m)
        } else {
            self.m.cmp(&(o.m << (o.e - self.e) as u32))
        }
    }
}

/// Exact value of magnitude code `c` (also for `c = max + 1`, the first value
/// beyond the range on the unbounded-exponent grid), and the grid spacing exponent
/// `k` there: `value(c + 1) = value(c) + 2^k`.
fn magnitude(spec: &FormatSpec, c: u32) -> (Dyadic, i32) {
    let m = spec.man_bits;
    let big_e = (c >> m) as i32;
    let frac = (c & ((1 << m) - 1)) as u128;
    if big_e == 0 && spec.has_subnormals {
        let k = 1 - spec.bias - m as i32;
        (Dyadic { m: frac, e: k }, k)
    } else {
        let k = big_e - spec.bias - m as i32;
        (Dyadic { m: (1u128 << m) | frac, e: k }, k)
    }
}

/// The neighbours of a finite nonzero magnitude `v` on the format's grid.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// `v` is at or beyond `value(max + 1)`: overflow whatever the rounding.
    Beyond,
    /// `v == value(code)`.
    Exact(u32),
    /// `value(lo) < v < value(lo) + 2^k`; `lo = None` below the smallest code (e8m0fnu).
    Between(Option<u32>, Dyadic, i32),
}

fn place_of(spec: &FormatSpec, v: Dyadic) -> Place {
    let top = spec.max_mag_code() as u32 + 1;
    if v.cmp(magnitude(spec, top).0) != Ordering::Less {
        return Place::Beyond;
    }
    if v.cmp(magnitude(spec, 0).0) == Ordering::Less {
        let (_, k0) = magnitude(spec, 0);
        return Place::Between(None, Dyadic { m: 0, e: k0 }, k0);
    }
    let (mut lo, mut hi) = (0u32, top); // value(lo) <= v < value(hi)
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if magnitude(spec, mid).0.cmp(v) != Ordering::Greater { lo = mid } else { hi = mid }
    }
    let (val, k) = magnitude(spec, lo);
    if val.cmp(v) == Ordering::Equal { Place::Exact(lo) } else { Place::Between(Some(lo), val, k) }
}

/// What the specials-and-policies stage decided.
enum Stage {
    Done(u8),
    Finite { neg: bool, sig: u64, exp: i32, rounding: Rounding },
}

/// Reference conversion of one decomposed value (see the module docs).
pub fn encode_oracle(spec: &FormatSpec, d: Decomposed, o: &CastOptions, rbits: u32) -> u8 {
    match stage(spec, d, o) {
        Stage::Done(c) => c,
        Stage::Finite { neg, sig, exp, rounding } => {
            let v = Dyadic { m: sig as u128, e: exp };
            let place = place_of(spec, v);
            let units = match place {
                Place::Between(_, lo, k) => Some(Units::new(sig, exp, lo, k)),
                _ => None,
            };
            finish(spec, o, rounding, neg, place, units, rbits)
        }
    }
}

/// Reference conversion of a run of f32 values of one sign with non-decreasing
/// magnitude: the same rules as [`encode_oracle`], with the neighbour search done
/// by advancing a pointer instead of a binary search (used by the exhaustive tests).
///
/// # Examples
/// ```
/// use lowp::{oracle::{encode_oracle, OracleSweep}, convert::{CastOptions, SourceFloat}, format::ElemFormat};
/// let spec = ElemFormat::E2M1FN.spec();
/// let o = CastOptions::default();
/// let mut sweep = OracleSweep::new(spec, o);
/// for b in (0x3F00_0000u32..0x40E0_0000).step_by(4099) {
///     let x = f32::from_bits(b);
///     assert_eq!(sweep.encode(x, 0), encode_oracle(spec, x.decompose(), &o, 0));
/// }
/// ```
#[derive(Clone, Debug)]
pub struct OracleSweep<'a> {
    spec: &'a FormatSpec,
    o: CastOptions,
    /// current lower neighbour code (value(lo) <= last v); u32::MAX = below code 0
    lo: u32,
    /// the f32 exponent and lower neighbour the cached units belong to
    cache: Option<(i32, u32, Units)>,
    last_bits: u32,
    /// For deterministic roundings: the open interval (value(lo), value(lo+1)) as
    /// f32 bit patterns of one sign, its exact midpoint, and the result already found
    /// below / at / above the midpoint (the rounding decision is constant there).
    region: Option<Region>,
}

#[derive(Clone, Copy, Debug)]
struct Region {
    sign: u32,
    lo_bits: u32,
    mid_bits: u32,
    hi_bits: u32,
    results: [Option<u8>; 3],
}

impl<'a> OracleSweep<'a> {
    /// A sweep over `spec` with options `o`.
    pub fn new(spec: &'a FormatSpec, o: CastOptions) -> Self {
        // start below code 0 only where code 0 is not zero (e8m0fnu)
        let lo = if magnitude(spec, 0).0.m == 0 { 0 } else { u32::MAX };
        OracleSweep { spec, o, lo, cache: None, last_bits: 0, region: None }
    }

    fn lower(&self) -> (Dyadic, i32) {
        if self.lo == u32::MAX {
            let (_, k0) = magnitude(self.spec, 0);
            (Dyadic { m: 0, e: k0 }, k0)
        } else {
            magnitude(self.spec, self.lo)
        }
    }

    /// Converts `x`; successive calls must not decrease `|x|` (use one sweep per sign).
    #[inline]
    pub fn encode(&mut self, x: f32, rbits: u32) -> u8 {
        let bits = x.to_bits();
        let (sign, abs) = (bits & 0x8000_0000, bits & 0x7FFF_FFFF);
        let slot = match self.region {
            Some(r) if r.sign == sign && abs > r.lo_bits && abs < r.hi_bits => {
                let slot = match abs.cmp(&r.mid_bits) {
                    Ordering::Less => 0,
                    Ordering::Equal => 1,
                    Ordering::Greater => 2,
                };
                if let Some(c) = r.results[slot] {
                    self.last_bits = abs;
                    return c;
                }
                Some(slot)
            }
            _ => None,
        };
        let c = self.encode_full(x, rbits);
        if let (Some(slot), Some(r)) = (slot, self.region.as_mut()) {
            r.results[slot] = Some(c);
        }
        c
    }

    fn encode_full(&mut self, x: f32, rbits: u32) -> u8 {
        let d = crate::convert::SourceFloat::decompose(x);
        let (neg, sig, exp, rounding) = match stage(self.spec, d, &self.o) {
            Stage::Done(c) => return c,
            Stage::Finite { neg, sig, exp, rounding } => (neg, sig, exp, rounding),
        };
        let abs = x.to_bits() & 0x7FFF_FFFF;
        assert!(abs >= self.last_bits, "OracleSweep needs non-decreasing magnitudes");
        self.last_bits = abs;
        let top = self.spec.max_mag_code() as u32 + 1;
        loop {
            if self.lo == top {
                // everything from value(max + 1) up to +Inf overflows alike
                let v_top = magnitude(self.spec, top).0;
                let top_f = (v_top.m as f64 * 2f64.powi(v_top.e)) as f32;
                self.region = Some(Region {
                    sign: x.to_bits() & 0x8000_0000,
                    lo_bits: top_f.to_bits().saturating_sub(1),
                    mid_bits: u32::MAX,
                    hi_bits: 0x7F80_0000,
                    results: [None; 3],
                });
                return finish(self.spec, &self.o, rounding, neg, Place::Beyond, None, rbits);
            }
            let units = match self.cache {
                Some((e, lo, u)) if e == exp && lo == self.lo => u,
                _ => {
                    let (lo_val, k) = self.lower();
                    let u = Units::new(sig, exp, lo_val, k);
                    self.cache = Some((exp, self.lo, u));
                    u
                }
            };
            let units = units.with_sig(sig);
            // v >= value(lo + 1): move up (the grid step from lo is 2^s in these units)
            if units.s <= 120 && units.v - units.l >= 1u128 << units.s {
                self.lo = self.lo.wrapping_add(1);
                continue;
            }
            let lo_code = if self.lo == u32::MAX { None } else { Some(self.lo) };
            self.note_region(x, rounding);
            let place = match lo_code {
                Some(c) if units.v == units.l => Place::Exact(c),
                _ => Place::Between(lo_code, self.lower().0, self.lower().1),
            };
            return finish(self.spec, &self.o, rounding, neg, place, Some(units), rbits);
        }
    }
}

impl OracleSweep<'_> {
    /// Records the open interval around `x` for the result cache (deterministic
    /// roundings only: stochastic results depend on each input's bits).
    fn note_region(&mut self, x: f32, rounding: Rounding) {
        let sign = x.to_bits() & 0x8000_0000;
        if matches!(rounding, Rounding::Stochastic { .. }) {
            self.region = None;
            return;
        }
        if let Some(r) = self.region
            && r.sign == sign
            && (x.to_bits() & 0x7FFF_FFFF) > r.lo_bits
            && (x.to_bits() & 0x7FFF_FFFF) < r.hi_bits
        {
            return;
        }
        // exact f64 values (every neighbour and midpoint has < 12 significant bits and
        // an exponent within f32's range, so the f32 conversions below are exact or,
        // for 2^128, +Inf, which still bounds the interval correctly)
        let (lo, k) = self.lower();
        let lo_f = lo.m as f64 * 2f64.powi(lo.e);
        let step = 2f64.powi(k);
        let (lo_b, mid_b, hi_b) =
            ((lo_f as f32).to_bits(), ((lo_f + step / 2.0) as f32).to_bits(), ((lo_f + step) as f32).to_bits());
        debug_assert_eq!((lo_f + step / 2.0) as f32 as f64, lo_f + step / 2.0);
        self.region = Some(Region { sign, lo_bits: lo_b, mid_bits: mid_b, hi_bits: hi_b, results: [None; 3] });
    }
}

/// A value `v = sig·2^exp` and its lower grid neighbour `lo` (a multiple of the
/// step `2^k`) on the common integer unit `2^u`, `u = min(exp, k - 1)`:
/// `v = V·2^u`, `lo = L·2^u`, step `= 2^s·2^u`. When `s > 120` the value is so far
/// below the step that `lo = 0` and only `V`'s top bits matter.
#[derive(Clone, Copy, Debug)]
struct Units {
    v: u128,
    l: u128,
    s: u32,
    /// left shift taking `sig` to `V`
    sh: u32,
}

impl Units {
    fn new(sig: u64, exp: i32, lo: Dyadic, k: i32) -> Units {
        debug_assert!(lo.m == 0 || lo.e == k);
        let u = exp.min(k - 1);
        let s = (k - u) as u32;
        let sh = (exp - u) as u32; // exp >= k only for values on the grid (small shift)
        // lo <= v < 2^(exp+64) bounds lo's shift whenever lo != 0
        let l = if lo.m == 0 { 0 } else { lo.m << s };
        Units { v: (sig as u128) << sh, l, s, sh }
    }
    fn with_sig(self, sig: u64) -> Units {
        Units { v: (sig as u128) << self.sh, ..self }
    }
}

fn signed_code(spec: &FormatSpec, neg: bool, mag: u8) -> u8 {
    if neg { mag | spec.sign_bit() } else { mag }
}

/// The non-finite value of a sign: Inf, else NaN, else max.
fn nonfinite(spec: &FormatSpec, neg: bool) -> u8 {
    match spec.specials {
        Specials::Ieee => signed_code(spec, neg, spec.inf_code().unwrap()),
        Specials::NanNegZero => 0x80,
        // whatever the NaN encoding of NaN inputs, an overflow NaN keeps the sign
        Specials::NanAllOnes => signed_code(spec, neg, spec.mag_mask()),
        Specials::None => signed_code(spec, neg, spec.max_mag_code()),
    }
}

/// The NaN code for a NaN of sign `neg`.
fn nan(spec: &FormatSpec, o: &CastOptions, neg: bool) -> u8 {
    match spec.specials {
        Specials::NanNegZero => 0x80,
        Specials::Ieee if o.nan_encoding == NanEncoding::QuietSigned => {
            signed_code(spec, neg, spec.nan_code().unwrap())
        }
        _ if o.nan_encoding == NanEncoding::AllOnesPositive => spec.mag_mask(),
        _ => signed_code(spec, neg, spec.mag_mask()),
    }
}

/// Specials and sign policies; finite nonzero values go on with their rounding rule.
fn stage(spec: &FormatSpec, d: Decomposed, o: &CastOptions) -> Stage {
    let max = spec.max_mag_code();
    let mut neg = d.neg;
    let (sig, exp) = match d.class {
        Class::Nan => {
            return Stage::Done(if spec.has_nan() {
                nan(spec, o, neg)
            } else {
                match o.nan {
                    NanPolicy::Error | NanPolicy::Zero => 0,
                    NanPolicy::PositiveMax => max,
                    NanPolicy::SignedMax => signed_code(spec, neg, max),
                    NanPolicy::SignFlippedZero => signed_code(spec, !neg, 0),
                }
            });
        }
        Class::Zero => {
            return Stage::Done(if !spec.has_zero() {
                if o.zero == ZeroPolicy::Nan { nan(spec, o, false) } else { 0 }
            } else if spec.has_neg_zero() {
                signed_code(spec, neg, 0)
            } else {
                0
            });
        }
        Class::Inf | Class::Finite { .. } if neg && !spec.signed => match o.negative {
            NegativePolicy::Nan => return Stage::Done(nan(spec, o, false)),
            NegativePolicy::Clamp => return Stage::Done(0),
            NegativePolicy::Abs => {
                neg = false;
                match d.class {
                    Class::Finite { sig, exp } => (sig, exp),
                    _ => {
                        return Stage::Done(if o.inf == InfPolicy::Saturate { max } else { nonfinite(spec, false) });
                    }
                }
            }
        },
        Class::Inf => {
            return Stage::Done(if o.inf == InfPolicy::Saturate {
                signed_code(spec, neg, max)
            } else {
                nonfinite(spec, neg)
            });
        }
        Class::Finite { sig, exp } => (sig, exp),
    };
    let rounding = if spec.man_bits == 0 && !spec.signed {
        let below = Dyadic { m: sig as u128, e: exp }.cmp(Dyadic { m: 1, e: -126 }) == Ordering::Less;
        match o.e8m0 {
            E8m0Rounding::TiesUp if below => Rounding::TowardPositive,
            E8m0Rounding::TiesUp | E8m0Rounding::TiesUpUniform => Rounding::NearestAway,
            E8m0Rounding::TiesEvenCode => Rounding::NearestEven,
            E8m0Rounding::Floor => Rounding::TowardZero,
            E8m0Rounding::Ceil => Rounding::TowardPositive,
        }
    } else {
        o.rounding
    };
    Stage::Finite { neg, sig, exp, rounding }
}

/// Applies the rounding rule between the neighbours, then overflow and sign.
fn finish(
    spec: &FormatSpec,
    o: &CastOptions,
    rounding: Rounding,
    neg: bool,
    place: Place,
    units: Option<Units>,
    rbits: u32,
) -> u8 {
    let max = spec.max_mag_code();
    let overflow = || {
        let to_max = o.overflow == Overflow::Saturate
            || match rounding {
                Rounding::TowardZero => true,
                Rounding::TowardPositive => neg,
                Rounding::TowardNegative => !neg,
                _ => false,
            };
        if to_max { signed_code(spec, neg, max) } else { nonfinite(spec, neg) }
    };
    let lo_code = match place {
        Place::Beyond => return overflow(),
        Place::Exact(c) => return signed_code(spec, neg && (c != 0 || spec.has_neg_zero()), c as u8),
        Place::Between(c, _, _) => c,
    };
    let Units { v, l, s, .. } = units.expect("units for an inexact value");
    // lo < v < lo + 2^s (units): d = v - lo, the midpoint is at d = 2^(s-1)
    let d = if s > 120 { v } else { v - l };
    let vs_mid = if s > 120 { Ordering::Less } else { d.cmp(&(1u128 << (s - 1))) };
    let c = lo_code.map_or(-1i64, |c| c as i64);
    let up = match rounding {
        Rounding::NearestEven => vs_mid == Ordering::Greater || (vs_mid == Ordering::Equal && c & 1 != 0),
        Rounding::NearestAway => vs_mid != Ordering::Less,
        Rounding::NearestTowardZero => vs_mid == Ordering::Greater,
        Rounding::TowardZero => false,
        Rounding::TowardPositive => !neg,
        Rounding::TowardNegative => neg,
        Rounding::Stochastic { bits } => {
            let r = bits.clamp(1, 32) as u32;
            // floor(d · 2^r / 2^s): the top r bits of the exact fraction
            let frac = if s >= r { if s - r >= 128 { 0 } else { d >> (s - r) } } else { d << (r - s) };
            let rb = if r == 32 { rbits as u128 } else { (rbits & ((1u32 << r) - 1)) as u128 };
            frac + rb >= 1u128 << r
        }
    };
    let code = c + up as i64;
    if code > max as i64 {
        return overflow();
    }
    if code < 0 {
        return 0; // e8m0fnu: below the smallest code clamps to it
    }
    let code = code as u8;
    signed_code(spec, neg && (code != 0 || spec.has_neg_zero()), code)
}
