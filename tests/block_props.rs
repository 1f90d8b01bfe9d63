//! Laws of block quantization, checked with proptest (fixed seed) for every scheme
//! family: the documented error bound ([`QuantizedTensor::error_bounds`]), E8M0
//! scales are powers of two, re-quantizing the dequantized tensor gives the same
//! codes and scales, scaling a block by 2^k shifts its power-of-two scale by k and
//! leaves the codes, and sign symmetry.

use lowp::block::{QuantizedTensor, Scales, Scheme, quantize};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0xB10C), failure_persistence: None, ..Config::default() }
}

const SCHEMES: [&str; 29] = [
    "mxfp8-e4m3",
    "mxfp8-e5m2",
    "mxfp6-e2m3",
    "mxfp6-e3m2",
    "mxfp4",
    "mxint8",
    "mxfp8-e4m3@scale-rule=ceil",
    "mxfp8-e4m3@scale-rule=even",
    "mxfp4@scale-rule=rceil",
    "mxfp8-e4m3@like=torchao@scale-rule=rceil",
    "mxfp8-e4m3@like=microxcaling",
    "mxfp8-e4m3@block=32x32",
    "mxfp8-e4m3@block=32x1",
    "nvfp4",
    "nvfp4@global-scale=on",
    "nvfp4@like=te@global-scale=on",
    "nvfp4@like=te@block=16x16",
    "nvfp4@like=te@global-scale=row",
    "nvfp4@like=te@4over6=mae",
    "nvfp4@like=te@block=16x16@4over6=mse@4over6-max=448",
    "nvfp4@like=te@global-scale=row@4over6=mse",
    "nvfp4@policy=torchao-training@global-scale=on",
    "nvfp4@policy=torchao-training@global-scale=on@block=16x16",
    "nvfp4@policy=torchao-training@global-scale=on@rht=on@rht-round=bf16",
    "fp8-block",
    "fp8-block@block=128x128@scale-format=ue8m0",
    "fp8-block@like=te",
    "fp8-row",
    "fp8-tensor@elem=e5m2",
];

/// Spec fragments of the scale rules that round amax/max up to a power of two
/// (`fp8-block@like=te` is TE's pow2 format).
const ROUND_UP: [&str; 4] = ["ceil", "rceil", "ue8m0", "like=te"];

/// Schemes whose scales are powers of two (E8M0, or FP8 pow2/ue8m0).
fn pow2_scales(q: &QuantizedTensor) -> bool {
    match &q.scales() {
        Scales::E8m0(_) => true,
        Scales::F32(v) => v.iter().all(|s| !s.is_finite() || s.to_bits() & 0x7F_FFFF == 0),
        Scales::Ue4m3(_) => false,
    }
}

/// Values with a wide dynamic range: N(0,1)·2^e, e per element in ±spread, the
/// whole tensor times 2^shift.
fn data(seed: u64, len: usize, spread: i32, shift: i32) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let e = (lowp::rng::random_bits(seed ^ 0xE, i) % (2 * spread as u32 + 1)) as i32 - spread;
            (lowp::rng::normal(seed, i) * 2f64.powi(e + shift)) as f32
        })
        .collect()
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (1usize..300).prop_map(|n| vec![n]),
        (1usize..40, 1usize..150).prop_map(|(r, c)| vec![r, c]),
        (1usize..4, 1usize..20, 1usize..70).prop_map(|(a, b, c)| vec![a, b, c]),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn error_bound_and_scale_shape(
        shape in shape_strategy(),
        seed in any::<u64>(),
        si in 0..SCHEMES.len(),
        spread in 0i32..12,
        shift in -40i32..40,
        special in 0u8..12,
    ) {
        let s: Scheme = SCHEMES[si].parse().unwrap();
        let n: usize = shape.iter().product();
        let mut x = data(seed, n, spread, shift);
        if special == 0 {
            x[(seed % n as u64) as usize] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][(seed % 3) as usize];
        } else if special == 1 {
            x.iter_mut().take(n / 2).for_each(|v| *v = 0.0);
        }
        let q = match quantize(&x, &shape, &s) {
            Ok(q) => q,
            // a 2-D tile on a 1-D tensor is an error, not a panic
            Err(_) => return Ok(()),
        };
        // the quantizer's parts pass from_parts' checks and round-trip through it
        let (sc, sh, co, sa, ss, g) = q.clone().into_parts_globals();
        // (compared as printed: a NaN scale is not == itself)
        let back = QuantizedTensor::from_parts_globals(sc, sh, co, sa, ss, g).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{q:?}"));
        if let Scales::E8m0(b) = &q.scales() {
            for &c in b {
                let v = Scales::E8m0(vec![c]).value(0);
                prop_assert!(v.is_nan() || (v > 0.0 && v.to_bits() & 0x7F_FFFF == 0 || v.to_bits().is_power_of_two()));
            }
        }
        let d = q.dequantize();
        let bound = q.error_bounds(&x).unwrap();
        for i in (0..n).filter(|&i| bound[i].is_finite()) {
            let err = (d[i] as f64 - x[i] as f64).abs();
            prop_assert!(err <= bound[i] as f64, "{} x={:e} dq={:e} err={err:e} > {:e}", SCHEMES[si], x[i], d[i], bound[i]);
        }
    }

    #[test]
    fn sign_symmetry(shape in shape_strategy(), seed in any::<u64>(), si in 0..SCHEMES.len(), spread in 0i32..8) {
        let s: Scheme = SCHEMES[si].parse().unwrap();
        let n: usize = shape.iter().product();
        let x = data(seed, n, spread, 0);
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        let (Ok(p), Ok(m)) = (quantize(&x, &shape, &s), quantize(&neg, &shape, &s)) else { return Ok(()) };
        prop_assert_eq!(&p.scales(), &m.scales());
        let (dp, dm) = (p.dequantize(), m.dequantize());
        for i in 0..n {
            // equal up to the sign of zero (MXINT8 has no −0)
            prop_assert_eq!(dp[i], -dm[i], "{} element {}", SCHEMES[si], i);
        }
    }

    /// q(dq(q)) == q (up to the sign of zero under a Hadamard transform) for every
    /// scheme whose scale rule does not round amax/max up
    /// to a power of two: MX FLOOR (OCP) and EVEN, microxcaling, NVFP4 (both
    /// policies: the largest element of a block comes back as 6·s, whose scale is
    /// s again), FP8 with f32 scales. Not for CEIL, RCEIL and FP8 pow2/ue8m0: a
    /// dequantized amax below the input's can round up to a smaller power of two
    /// (`requantization_counterexamples` below shows each).
    #[test]
    fn requantizing_the_dequantized_tensor_is_the_identity(
        shape in shape_strategy(), seed in any::<u64>(), si in 0..SCHEMES.len(), spread in 0i32..8,
    ) {
        let s: Scheme = SCHEMES[si].parse().unwrap();
        let n: usize = shape.iter().product();
        let x = data(seed, n, spread, 0);
        let Ok(q) = quantize(&x, &shape, &s) else { return Ok(()) };
        if ROUND_UP.iter().any(|r| SCHEMES[si].contains(r)) {
            return Ok(());
        }
        let q2 = quantize(&q.dequantize(), &shape, &s).unwrap();
        prop_assert_eq!(&q2.scales(), &q.scales(), "{}", SCHEMES[si]);
        // under a Hadamard transform a zero comes back through two f32 transforms
        // and may change sign (E2M1 code 8 = −0): compared up to the sign of zero
        let zero_sign = |c: &[u8]| -> Vec<u8> {
            c.iter().map(|&v| if SCHEMES[si].contains("rht") && v == 8 { 0 } else { v }).collect()
        };
        prop_assert_eq!(zero_sign(q2.codes()), zero_sign(q.codes()), "{}", SCHEMES[si]);
    }

    /// Scaling the whole tensor by 2^k (k small enough to stay in range) shifts
    /// every power-of-two scale by k and leaves every code unchanged.
    #[test]
    fn power_of_two_shift(shape in shape_strategy(), seed in any::<u64>(), si in 0..SCHEMES.len(), k in -20i32..20) {
        let s: Scheme = SCHEMES[si].parse().unwrap();
        let n: usize = shape.iter().product();
        let x = data(seed, n, 3, 0);
        let y: Vec<f32> = x.iter().map(|v| v * 2f32.powi(k)).collect();
        let (Ok(p), Ok(q)) = (quantize(&x, &shape, &s), quantize(&y, &shape, &s)) else { return Ok(()) };
        // FP8 schemes floor amax at 1e-4 (DeepSeek) / take 448/amax: keep amax well above that
        let amax = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if !pow2_scales(&p) || (SCHEMES[si].starts_with("fp8") && amax(&x).min(amax(&y)) < 1e-2) {
            return Ok(());
        }
        prop_assert_eq!(&p.codes(), &q.codes(), "{}", SCHEMES[si]);
        for i in 0..p.scales().len() {
            let (a, b) = (p.scales().value(i), q.scales().value(i));
            prop_assert!(a == 0.0 || b == a * 2f32.powi(k), "{}: scale {a:e} -> {b:e}", SCHEMES[si]);
        }
    }
}

#[test]
fn requantization_counterexamples() {
    // the documented exceptions of the identity above: each has blocks where
    // re-quantizing the dequantized tensor changes a scale or a code
    for spec in
        ["mxfp8-e4m3@scale-rule=ceil", "mxfp4@scale-rule=rceil", "fp8-block@scale-format=ue8m0", "fp8-block@like=te"]
    {
        let s: Scheme = spec.parse().unwrap();
        let found = (0..200u64).any(|seed| {
            let x = data(seed, 256, (seed % 8) as i32, 0);
            let q = quantize(&x, &[256], &s).unwrap();
            let q2 = quantize(&q.dequantize(), &[256], &s).unwrap();
            q2.codes() != q.codes() || q2.scales() != q.scales()
        });
        assert!(found, "{spec}: re-quantization was the identity on every sample");
    }
}

#[test]
fn fuzz_found_corners_keep_their_bound() {
    // NVFP4 with a global scale below 2^-128: TE clamps its encode factor at
    // FLT_MAX (the element flushes to 0), torchao's overflows (it saturates)
    for (spec, x) in [("nvfp4@like=te@block=16x16", 6.8159e-41f32), ("nvfp4@global-scale=on@axis=0", 9.1835e-41)] {
        let q = quantize(&[x], &[1], &spec.parse().unwrap()).unwrap();
        let (d, b) = (q.dequantize()[0], q.error_bounds(&[x]).unwrap()[0]);
        assert!(((d - x).abs() as f64) <= b as f64, "{spec}: {x:e} -> {d:e}, bound {b:e}");
    }
    // a pow2 scale next to FLT_MAX: the dequantized value overflows, no bound
    let q = quantize(&[-3.362_946_6e38f32, 1.0], &[2, 1], &"fp8-block@like=te@block=2x1".parse().unwrap()).unwrap();
    assert!(q.dequantize()[0].is_infinite());
    assert!(q.error_bounds(&[-3.362_946_6e38, 1.0]).unwrap()[0].is_infinite());
}

/// `from_parts` refuses every inconsistent part with an error (never a tensor
/// whose readers would panic): an axis outside the shape, short or long scales, a
/// scale grid of the wrong shape, scales of another representation, codes that do
/// not fill the shape or fit the element width, a missing or extra global scale,
/// options that do not fit together.
#[test]
fn from_parts_rejects_every_bad_part() {
    let x: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin()).collect();
    let s: Scheme = "nvfp4@global-scale=on".parse().unwrap();
    let q = quantize(&x, &[4, 32], &s).unwrap();
    let (sc, sh, co, sa, ss, g) = q.clone().into_parts();
    let ok = |sc: Scheme, sh: Vec<usize>, co: Vec<u8>, sa: Scales, ss: Vec<usize>, g: Option<f32>| {
        QuantizedTensor::from_parts(sc, sh, co, sa, ss, g)
    };
    assert_eq!(ok(sc, sh.clone(), co.clone(), sa.clone(), ss.clone(), g).unwrap(), q);
    let mut bad_axis = sc;
    bad_axis.axis = 3;
    assert!(ok(bad_axis, sh.clone(), co.clone(), sa.clone(), ss.clone(), g).is_err());
    let Scales::Ue4m3(b) = &sa else { panic!() };
    assert!(ok(sc, sh.clone(), co.clone(), Scales::Ue4m3(b[1..].to_vec()), ss.clone(), g).is_err());
    assert!(ok(sc, sh.clone(), co.clone(), Scales::Ue4m3([b.clone(), vec![0]].concat()), ss.clone(), g).is_err());
    assert!(ok(sc, sh.clone(), co.clone(), sa.clone(), vec![8], g).is_err());
    assert!(ok(sc, sh.clone(), co.clone(), Scales::E8m0(b.clone()), ss.clone(), g).is_err());
    assert!(ok(sc, sh.clone(), co.clone(), Scales::F32(vec![1.0; b.len()]), ss.clone(), g).is_err());
    assert!(ok(sc, sh.clone(), co[1..].to_vec(), sa.clone(), ss.clone(), g).is_err());
    assert!(ok(sc, vec![4, 33], co.clone(), sa.clone(), ss.clone(), g).is_err());
    let mut wide = co.clone();
    wide[5] = 0x10;
    assert!(ok(sc, sh.clone(), wide, sa.clone(), ss.clone(), g).is_err());
    assert!(ok(sc, sh.clone(), co.clone(), sa.clone(), ss.clone(), None).is_err());
    let no_global: Scheme = "nvfp4".parse().unwrap();
    assert!(ok(no_global, sh.clone(), co.clone(), sa.clone(), ss.clone(), g).is_err());
    let mut bad_opts = sc;
    bad_opts.tile = lowp::block::Tile::new(0, 16);
    assert!(ok(bad_opts, sh, co, sa, ss, g).is_err());
}

/// A failing `quantize_into` (input of the wrong length, a shape the block does not
/// tile) leaves its output a valid tensor: its scheme, shape and scales kept, every
/// code 0, so that `dequantize` and `error_bounds` still answer instead of
/// panicking on codes that no longer fill the shape.
#[test]
fn failing_quantize_into_leaves_a_valid_tensor() {
    use lowp::block::quantize_into;
    let x: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin() + 0.5).collect();
    for spec in ["mxfp8-e4m3", "nvfp4@global-scale=on", "fp8-block@block=1x32"] {
        let s: Scheme = spec.parse().unwrap();
        let mut q = quantize(&x, &[4, 32], &s).unwrap();
        let before = q.clone();
        assert!(quantize_into(&x[..100], &[4, 32], &s, &mut q).is_err(), "{spec}");
        assert_eq!(q.shape(), before.shape(), "{spec}");
        assert_eq!(q.scales(), before.scales(), "{spec}");
        assert!(q.codes().iter().all(|&c| c == 0), "{spec}");
        assert_eq!(q.codes().len(), 128, "{spec}");
        let y = q.dequantize();
        assert_eq!(y.len(), 128, "{spec}");
        assert!(y.iter().all(|&v| v == 0.0), "{spec}: {y:?}");
        let (sc, sh, co, sa, ss, g) = q.clone().into_parts();
        assert_eq!(QuantizedTensor::from_parts(sc, sh, co, sa, ss, g).unwrap(), q, "{spec}");
        // and it is reusable: the next good call fills it again
        quantize_into(&x, &[4, 32], &s, &mut q).unwrap();
        assert_eq!(q, before, "{spec}");
    }
}

/// TE's NVFP4 options (4over6, row-scaled) refuse what TE's quantizer refuses,
/// print back to the same scheme, and a row-scaled tensor needs one global
/// scale per row of its blocked view.
#[test]
fn nvfp4_te_options_check_their_combinations() {
    let bad = [
        ("nvfp4@4over6=mae", "policy=te"),
        ("nvfp4@like=te@global-scale=off@4over6=mae", "global scale"),
        ("nvfp4@like=te@4over6=mae@rht=on", "Hadamard"),
        ("nvfp4@like=te@4over6=mae@rounding=sr", "rounding"),
        ("nvfp4@like=te@4over6=mae@block=1x32", "1x16 or 16x16"),
        ("nvfp4@like=te@4over6-max=256", "4over6=mae|mse before"),
        ("nvfp4@like=te@4over6=mae@4over6-max=300", "256 or 448"),
        ("nvfp4@like=te@4over6=l1", "mae, mse or off"),
        ("nvfp4@like=te@global-scale=row@block=16x16", "1x16 blocks"),
        ("nvfp4@global-scale=row", "policy=te"),
        ("mxfp4@4over6=mae", "does not apply"),
    ];
    for (spec, needle) in bad {
        let e = spec.parse::<Scheme>().unwrap_err().to_string();
        assert!(e.contains(needle), "{spec}: '{e}' lacks '{needle}'");
    }
    for spec in ["nvfp4@like=te@global-scale=row@4over6=mse@4over6-max=448", "nvfp4@like=te@4over6=mae@block=16x16"] {
        let s: Scheme = spec.parse().unwrap();
        assert_eq!(s.to_string().parse::<Scheme>().unwrap(), s, "{s}");
    }
    let s: Scheme = "nvfp4@like=te@global-scale=row".parse().unwrap();
    let x = data(3, 4 * 3 * 32, 6, 0);
    let q = quantize(&x, &[4, 3, 32], &s).unwrap();
    assert_eq!((q.global_scales().len(), q.global_scale()), (12, None));
    let (sc, sh, co, sa, ss, g) = q.clone().into_parts_globals();
    for wrong in [vec![], vec![1.0], g[..11].to_vec()] {
        let e = QuantizedTensor::from_parts_globals(sc, sh.clone(), co.clone(), sa.clone(), ss.clone(), wrong);
        assert!(e.unwrap_err().to_string().contains("has 12 global scale(s)"));
    }
    // each row dequantizes with its own global scale: a row scaled by 2^-40 keeps its relative error
    let mut y = x.clone();
    y[..32].iter_mut().for_each(|v| *v *= 2f32.powi(-40));
    let d = quantize(&y, &[4, 3, 32], &s).unwrap().dequantize();
    let d0 = q.dequantize();
    for i in 0..32 {
        assert_eq!(d[i], d0[i] * 2f32.powi(-40), "element {i}");
    }
}

/// `policy=torchao-training`: the block scales are torchao's training-kernel
/// formula (`_nvfp4_quantize`: `clamp(fl(fl(amax_b / 6) · S_enc), 2^-6, 448)`
/// cast RNE to e4m3fn, `S_enc = fl(2688 / amax)`), recomputed here from the
/// published steps with the element cast of `lowp::convert`; `rht-round=bf16`
/// leaves every transformed value a BF16 number.
#[test]
fn torchao_training_scales_follow_the_kernel_formula() {
    use lowp::convert::{CastOptions, decode_f32, encode_f32};
    use lowp::format::ElemFormat;
    let s: Scheme = "nvfp4@policy=torchao-training@global-scale=on".parse().unwrap();
    // blocks from 2^-30 (below the 2^-6 clamp) to 2^6 relative, a zero block
    let mut x = data(11, 16 * 24, 0, 0);
    for (b, chunk) in x.chunks_mut(16).enumerate() {
        let f = if b == 5 { 0.0 } else { 2f32.powi(b as i32 - 20) };
        chunk.iter_mut().for_each(|v| *v *= f);
    }
    let q = quantize(&x, &[24, 16], &s).unwrap();
    let g = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s_enc = 2688.0f32 / g;
    assert_eq!(q.global_scale(), Some(1.0 / s_enc));
    let o = CastOptions::saturating();
    for (b, chunk) in x.chunks(16).enumerate() {
        let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        let pre = ((amax / 6.0) * s_enc).clamp(2f32.powi(-6), 448.0);
        let want = encode_f32(ElemFormat::E4M3FN, pre, &o, 0).0;
        assert_eq!(q.scales().bytes().unwrap()[b], want, "block {b}: amax {amax:e}");
        assert!(decode_f32(ElemFormat::E4M3FN, want) >= 2f32.powi(-6));
    }
    let r: Scheme = "nvfp4@policy=torchao-training@global-scale=on@rht=on@rht-round=bf16@axis=0".parse().unwrap();
    let t = quantize(&x, &[24, 16], &r);
    assert!(t.unwrap_err().to_string().contains("divisible by 16"));
    let x2 = data(12, 32 * 16, 4, 0);
    let amax = lowp::block::global_amax(&x2, &[32, 16], &r).unwrap().unwrap();
    assert_eq!(half::bf16::from_f32(amax).to_f32(), amax, "the transformed amax is a BF16 number");
    let plain: Scheme = "nvfp4@policy=torchao-training@global-scale=on@rht=on@axis=0".parse().unwrap();
    let amax_f32 = lowp::block::global_amax(&x2, &[32, 16], &plain).unwrap().unwrap();
    assert_eq!(amax, half::bf16::from_f32(amax_f32).to_f32());
}
