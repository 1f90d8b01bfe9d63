//! Laws of the element conversion, checked with proptest (fixed seed, so failures
//! reproduce): monotonicity, sign symmetry, the RNE half-ulp bound, idempotence, and
//! stochastic rounding's unbiasedness and reproducibility.

use lowp::convert::{CastOptions, E8m0Rounding, Overflow, Rounding, ZeroPolicy, decode_f32, encode_f32};
use lowp::format::ElemFormat;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config {
        cases: 4096,
        max_global_rejects: 1 << 20,
        rng_seed: RngSeed::Fixed(0x10_3E_ED),
        failure_persistence: None,
        ..Config::default()
    }
}

fn any_format() -> impl Strategy<Value = ElemFormat> {
    prop::sample::select(ElemFormat::ALL.to_vec())
}

fn deterministic_rounding() -> impl Strategy<Value = Rounding> {
    prop::sample::select(Rounding::DETERMINISTIC.to_vec())
}

/// Finite f32 values concentrated around the format's range (plus some anywhere).
fn value_for(f: ElemFormat) -> impl Strategy<Value = f32> {
    let s = f.spec();
    let lo = s.min_positive().log2() as i32 - 3;
    let hi = s.max_finite().log2() as i32 + 3;
    prop_oneof![
        4 => (lo.max(-149)..hi.min(127), 0u32..(1 << 23), any::<bool>()).prop_map(|(e, m, neg)| {
            let b = if e < -126 { (1u32 << (e + 149)) | (m >> (-126 - e).min(23)) } else { (((e + 127) as u32) << 23) | m };
            let x = f32::from_bits(b);
            if neg { -x } else { x }
        }),
        1 => any::<f32>().prop_filter("finite", |x| x.is_finite()),
    ]
    // unsigned formats take magnitudes (negative inputs are a policy, not a rounding)
    .prop_map(move |x| if s.signed { x } else { x.abs() })
}

fn value(f: ElemFormat, x: f32, o: &CastOptions) -> f32 {
    decode_f32(f, encode_f32(f, x, o, 0).0)
}

proptest! {
    #![proptest_config(config())]

    /// x <= y implies q(x) <= q(y), for every deterministic rounding (saturating, so
    /// every result is ordered).
    #[test]
    fn monotone((f, x, y) in any_format().prop_flat_map(|f| (Just(f), value_for(f), value_for(f))), r in deterministic_rounding()) {
        let o = CastOptions { rounding: r, zero: ZeroPolicy::MinCode, ..CastOptions::saturating() };
        let (x, y) = if x <= y { (x, y) } else { (y, x) };
        let (qx, qy) = (value(f, x, &o), value(f, y, &o));
        prop_assert!(qx <= qy || (qx == 0.0 && qy == 0.0), "{f} {r:?}: q({x:e})={qx} > q({y:e})={qy}");
    }

    /// q(-x) = -q(x) for the sign-symmetric roundings; toward +inf mirrors toward -inf.
    #[test]
    fn sign_symmetric((f, x) in any_format().prop_filter("signed", |f| f.spec().signed).prop_flat_map(|f| (Just(f), value_for(f))),
                      r in prop::sample::select(vec![Rounding::NearestEven, Rounding::NearestAway, Rounding::NearestTowardZero, Rounding::TowardZero])) {
        for ovf in [Overflow::Saturate, Overflow::NonFinite] {
            let o = CastOptions { rounding: r, overflow: ovf, ..CastOptions::default() };
            let (a, b) = (value(f, x, &o), value(f, -x, &o));
            prop_assert!(a.to_bits() == (-b).to_bits() || (a.is_nan() && b.is_nan()) || (a == 0.0 && b == 0.0), "{f}: q({x:e})={a}, q(-x)={b}");
        }
        let up = CastOptions { rounding: Rounding::TowardPositive, ..CastOptions::saturating() };
        let down = CastOptions { rounding: Rounding::TowardNegative, ..CastOptions::saturating() };
        let (a, b) = (value(f, x, &up), value(f, -x, &down));
        prop_assert!(a == -b, "{f}: up({x:e})={a}, down(-x)={b}");
    }

    /// Round to nearest lands within half an ulp (of the result's binade) in range,
    /// and exactly halfway only on ties.
    #[test]
    fn rne_error_at_most_half_ulp((f, x) in any_format().prop_flat_map(|f| (Just(f), value_for(f)))) {
        let s = f.spec();
        prop_assume!((x.abs() as f64) <= s.max_finite() && (x.abs() as f64) >= s.min_positive());
        // e8m0fnu's default rounds ties (and tiny values) up; its nearest-even rule is ties-even-code
        let o = CastOptions { e8m0: E8m0Rounding::TiesEvenCode, ..CastOptions::default() };
        let q = value(f, x, &o) as f64;
        let ax = (x as f64).abs();
        // the grid spacing around |x|
        let e = ax.log2().floor().max(s.min_exp() as f64);
        let ulp = 2f64.powf(e - s.man_bits as f64);
        prop_assert!((q - x as f64).abs() <= ulp / 2.0, "{f}: x={x:e} q={q:e} ulp={ulp:e}");
    }

    /// q(dq(q(x))) == q(x) for every rounding and overflow policy.
    #[test]
    fn idempotent((f, x) in any_format().prop_flat_map(|f| (Just(f), value_for(f))), r in deterministic_rounding(), sat in any::<bool>()) {
        let o = CastOptions { rounding: r, overflow: if sat { Overflow::Saturate } else { Overflow::NonFinite }, ..CastOptions::default() };
        let c1 = encode_f32(f, x, &o, 0).0;
        let c2 = encode_f32(f, decode_f32(f, c1), &o, 0).0;
        let (v1, v2) = (decode_f32(f, c1), decode_f32(f, c2));
        prop_assert!(v1.to_bits() == v2.to_bits() || (v1.is_nan() && v2.is_nan()), "{f} {r:?}: {x:e} -> {c1:#x} -> {c2:#x}");
    }

    /// Stochastic rounding: over all 2^bits random words the mean result is
    /// lo + floor(f·2^bits)/2^bits·(hi-lo) (unbiased up to the truncated fraction), and
    /// the same bits always give the same code.
    #[test]
    fn stochastic_unbiased_and_reproducible((f, x) in any_format().prop_filter("not e8m0", |f| *f != ElemFormat::E8M0FNU).prop_flat_map(|f| (Just(f), value_for(f))), bits in 1u8..=10) {
        let s = f.spec();
        prop_assume!((x.abs() as f64) < s.max_finite());
        let o = CastOptions { rounding: Rounding::Stochastic { bits }, ..CastOptions::saturating() };
        let n = 1u32 << bits;
        let mut sum = 0f64;
        for r in 0..n {
            let c = encode_f32(f, x, &o, r).0;
            prop_assert_eq!(c, encode_f32(f, x, &o, r).0);
            // bits above the low `bits` are ignored
            prop_assert_eq!(c, encode_f32(f, x, &o, r | (u32::MAX << bits)).0);
            sum += decode_f32(f, c) as f64;
        }
        let mean = sum / n as f64;
        let ax = (x as f64).abs();
        let e = ax.log2().floor().max(s.min_exp() as f64);
        let ulp = 2f64.powf(e - s.man_bits as f64);
        // truncating the fraction to `bits` bits biases toward zero by < ulp/2^bits
        prop_assert!((mean - x as f64).abs() <= ulp / n as f64 + 1e-300, "{f}: x={x:e} mean={mean:e} ulp={ulp:e}");
    }
}
