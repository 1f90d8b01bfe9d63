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
    CastOptions, Decomposed, E8m0Rounding, InfPolicy, Kind, NanEncoding, NanPolicy, NegativePolicy, Overflow, Rounding,
    ZeroPolicy,
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

/// Reference conversion of one decomposed value (see the module docs).
pub fn encode_oracle(spec: &FormatSpec, d: Decomposed, o: &CastOptions, rbits: u32) -> u8 {
    let sign_bit = spec.sign_bit();
    let max = spec.max_mag_code();
    let signed = |neg: bool, mag: u8| if neg { mag | sign_bit } else { mag };
    // The non-finite value of a sign: Inf, else NaN, else max.
    let nonfinite = |neg: bool| match spec.specials {
        Specials::Ieee => signed(neg, spec.inf_code().unwrap()),
        Specials::NanNegZero => 0x80,
        Specials::NanAllOnes => {
            if o.nan_encoding == NanEncoding::AllOnesPositive {
                spec.mag_mask()
            } else {
                signed(neg, spec.mag_mask())
            }
        }
        Specials::None => signed(neg, max),
    };
    let nan = |neg: bool| match spec.specials {
        Specials::NanNegZero => 0x80,
        Specials::Ieee if o.nan_encoding == NanEncoding::QuietSigned => signed(neg, spec.nan_code().unwrap()),
        _ if o.nan_encoding == NanEncoding::AllOnesPositive => spec.mag_mask(),
        _ => signed(neg, spec.mag_mask()),
    };
    let mut neg = d.neg;
    let (sig, exp) = match d.kind {
        Kind::Nan => {
            return if spec.has_nan() {
                nan(neg)
            } else {
                match o.nan {
                    NanPolicy::Error | NanPolicy::Zero => 0,
                    NanPolicy::PositiveMax => max,
                    NanPolicy::SignedMax => signed(neg, max),
                    NanPolicy::SignFlippedZero => signed(!neg, 0),
                }
            };
        }
        Kind::Zero => {
            return if !spec.has_zero() {
                if o.zero == ZeroPolicy::Nan { nan(false) } else { 0 }
            } else if spec.has_neg_zero() {
                signed(neg, 0)
            } else {
                0
            };
        }
        Kind::Inf | Kind::Finite { .. } if neg && !spec.signed => match o.negative {
            NegativePolicy::Nan => return nan(false),
            NegativePolicy::Clamp => return 0,
            NegativePolicy::Abs => {
                neg = false;
                match d.kind {
                    Kind::Finite { sig, exp } => (sig, exp),
                    _ => return if o.inf == InfPolicy::Saturate { max } else { nonfinite(false) },
                }
            }
        },
        Kind::Inf => return if o.inf == InfPolicy::Saturate { signed(neg, max) } else { nonfinite(neg) },
        Kind::Finite { sig, exp } => (sig, exp),
    };
    let v = Dyadic { m: sig as u128, e: exp };
    let e8m0 = spec.man_bits == 0 && !spec.signed;
    let rounding = if e8m0 {
        let below = v.cmp(Dyadic { m: 1, e: -126 }) == Ordering::Less;
        match o.e8m0 {
            E8m0Rounding::TiesUp if below => Rounding::TowardPositive,
            E8m0Rounding::TiesUp => Rounding::NearestAway,
            E8m0Rounding::TiesEvenCode => Rounding::NearestEven,
            E8m0Rounding::Floor => Rounding::TowardZero,
            E8m0Rounding::Ceil => Rounding::TowardPositive,
        }
    } else {
        o.rounding
    };
    let overflow = || {
        let to_max = o.overflow == Overflow::Saturate
            || match rounding {
                Rounding::TowardZero => true,
                Rounding::TowardPositive => neg,
                Rounding::TowardNegative => !neg,
                _ => false,
            };
        if to_max { signed(neg, max) } else { nonfinite(neg) }
    };
    // Binary search: largest code c in 0..=max+1 with value(c) <= v.
    let top = max as u32 + 1;
    if v.cmp(magnitude(spec, top).0) != Ordering::Less {
        return overflow();
    }
    let (lo_code, lo_val, k) = if v.cmp(magnitude(spec, 0).0) == Ordering::Less {
        // only e8m0fnu (no zero): the neighbours are "0" and the smallest code
        let (_, k0) = magnitude(spec, 0);
        (None, Dyadic { m: 0, e: k0 }, k0)
    } else {
        let (mut lo, mut hi) = (0u32, top); // value(lo) <= v < value(hi)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if magnitude(spec, mid).0.cmp(v) != Ordering::Greater { lo = mid } else { hi = mid }
        }
        let (val, k) = magnitude(spec, lo);
        if val.cmp(v) == Ordering::Equal {
            return signed(neg && (lo != 0 || spec.has_neg_zero()), lo as u8);
        }
        (Some(lo), val, k)
    };
    // v lies strictly between lo and hi = lo + 2^k
    let mid = Dyadic { m: 2 * lo_val.m * (1u128 << (lo_val.e - k) as u32) + 1, e: k - 1 };
    let c = lo_code.map_or(-1i64, |c| c as i64);
    let vs_mid = v.cmp(mid);
    let up = match rounding {
        Rounding::NearestEven => vs_mid == Ordering::Greater || (vs_mid == Ordering::Equal && c & 1 != 0),
        Rounding::NearestAway => vs_mid != Ordering::Less,
        Rounding::NearestTowardZero => vs_mid == Ordering::Greater,
        Rounding::TowardZero => false,
        Rounding::TowardPositive => !neg,
        Rounding::TowardNegative => neg,
        Rounding::Stochastic { bits } => {
            let r = bits.clamp(1, 32) as i32;
            // floor((v - lo) · 2^r / 2^k), computed on the common unit 2^min(exp, k)
            let unit = exp.min(k);
            let vv = if exp - unit >= 120 { u128::MAX } else { (sig as u128) << (exp - unit) as u32 };
            let ll = lo_val.m << (lo_val.e - unit).min(127) as u32;
            let diff = vv - ll; // < 2^(k - unit)
            let sh = r + unit - k;
            let frac = if sh >= 0 {
                diff << sh as u32
            } else if -sh >= 128 {
                0
            } else {
                diff >> (-sh) as u32
            };
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
    signed(neg && (code != 0 || spec.has_neg_zero()), code)
}
