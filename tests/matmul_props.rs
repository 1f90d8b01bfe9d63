//! Laws of the GEMM models, checked with proptest (fixed seed):
//! * `exact` equals an independent big-integer (i128 fixed-point) computation;
//! * every model stays within a bound derived from its definition of `exact`;
//! * the tensor-core model with unbounded F (one block, RNE output) equals `exact`;
//! * the fast path equals the reference loop bit for bit, for every model, on
//!   shapes 0, 1, odd and non-multiples of the tiles and blocks, both B layouts,
//!   with and without C, every output type, and with NaN/Inf in the data; and
//!   `matmul_f32` returns the same values as f32 (refusing f64 output).

use lowp::block::Scheme;
use lowp::format::ElemFormat;
use lowp::matmul::{Accum, Layout, Operand, OutDtype, matmul, matmul_f32, matmul_reference};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x6E_4D), failure_persistence: None, ..Config::default() }
}

/// Deterministic data: N(0,1) times 2^e with e drawn in ±`spread` per element.
fn data(seed: u64, len: usize, spread: i32) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let e = if spread == 0 {
                0
            } else {
                (lowp::rng::random_bits(seed ^ 0xE, i) % (2 * spread as u32 + 1)) as i32 - spread
            };
            (lowp::rng::normal(seed, i) * 2f64.powi(e)) as f32
        })
        .collect()
}

const SCHEMES: [&str; 11] = [
    "e4m3fn",
    "e5m2",
    "mxfp8-e4m3",
    "mxfp4",
    "mxfp4@block=16",
    "nvfp4",
    "nvfp4@global-scale=on",
    "nvfp4@like=te@global-scale=row",
    "nvfp4@like=te@global-scale=row@4over6=mae",
    "fp8-block@block=1x16",
    "fp8-tensor",
];

fn operand(spec: &str, x: &[f32], rows: usize, k: usize, layout: Layout) -> Operand {
    let shape = match layout {
        Layout::RowsK => [rows, k],
        Layout::KRows => [k, rows],
    };
    if let Ok(ty) = spec.parse::<lowp::matmul::ElemType>()
        && lowp::matmul::ElemType::WIDE.contains(&ty)
    {
        return Operand::from_wide(ty, x, shape, layout).unwrap();
    }
    match spec.parse::<ElemFormat>() {
        Ok(f) => {
            let o = lowp::convert::CastOptions::default();
            let mut c = vec![0u8; x.len()];
            lowp::convert::encode_slice(f, x, &mut c, &o).unwrap();
            Operand::from_codes(f, &c, shape, layout).unwrap()
        }
        Err(_) => Operand::from_f32(x, shape, layout, &spec.parse::<Scheme>().unwrap()).unwrap(),
    }
}

const MODELS: [&str; 16] = [
    "exact",
    "f64",
    "f32-fma",
    "f32-mul-add",
    "f32-blocked",
    "f32-blocked@promote=ffma-combined",
    "f32-blocked@promote=fmul-then-ffma-b",
    "sm90",
    "sm90@promote-every=none@promote=fmul-then-ffma",
    "sm89",
    "sm100-mma-sync",
    "sm100",
    "sm120",
    "sm100@c=mma",
    "sm90@c=mma",
    "sm89@c=mma@promote-every=none",
];

/// (A, B, target): each architecture preset on the operand types it takes, with C
/// in the epilogue and in the instruction, f16 chains, and every fast kernel
/// (fused blocks for codes and wide types, CDNA3 groups, `kind::mxf4nvf4`
/// groups, folded non-power-of-two scales).
const PRESET_CASES: [(&str, &str, &str); 27] = [
    ("bf16", "bf16", "sm80"),
    ("bf16", "bf16", "sm89@c=mma"),
    ("bf16", "bf16", "sm90@c=mma"),
    ("bf16", "bf16", "sm100"),
    ("bf16", "bf16", "sm120@c=mma"),
    ("bf16", "bf16", "cdna3"),
    ("f16", "f16", "sm70"),
    ("f16", "f16", "sm75@c=mma"),
    ("f16", "f16", "sm80@d=f16"),
    ("f16", "f16", "sm90@c=mma@d=f16"),
    ("f16", "f16", "cdna3@c=mma"),
    ("tf32", "tf32", "sm80@c=mma"),
    ("tf32", "tf32", "sm90"),
    ("tf32", "tf32", "sm100@c=mma"),
    ("xf32", "xf32", "cdna3"),
    ("e4m3fnuz", "e4m3fnuz", "cdna3"),
    ("e5m2fnuz", "e4m3fnuz", "cdna3@c=mma"),
    ("mxfp8-e4m3@elem=e4m3fnuz", "mxfp8-e4m3@elem=e5m2fnuz", "cdna3@c=mma"),
    ("e4m3fn", "e5m2", "sm89@c=mma@d=f16"),
    ("e4m3fn", "e4m3fn", "sm120@c=mma"),
    ("e4m3fn", "e5m2", "sm100-mma-sync@c=mma"),
    ("mxfp8-e4m3", "mxfp8-e4m3", "sm100-mma-sync"),
    ("fp8-block@block=1x32", "fp8-block@block=1x32", "sm100-mma-sync@c=mma"),
    ("mxfp6-e2m3", "mxfp8-e4m3", "sm100@c=mma"),
    ("mxfp4", "mxfp4", "sm120"),
    ("nvfp4", "nvfp4", "sm120@c=mma"),
    ("fp8-block@block=1x16", "fp8-block@block=1x16", "sm120@c=mma"),
];

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn fast_path_equals_reference(
        (m, n, k) in (0usize..14, 0usize..20, 0usize..70),
        seed in any::<u64>(),
        si in 0..SCHEMES.len(),
        mi in 0..MODELS.len(),
        kn in any::<bool>(),
        with_c in any::<bool>(),
        oi in 0usize..4,
        special in 0u8..8,
    ) {
        let spec = SCHEMES[si];
        let mut xa = data(seed, m * k, 6);
        let xb = data(seed ^ 1, n * k, 6);
        if special == 0 && !xa.is_empty() {
            let at = (seed % xa.len() as u64) as usize;
            xa[at] = if seed % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let layout = if kn { Layout::KRows } else { Layout::RowsK };
        let a = operand(spec, &xa, m, k, Layout::RowsK);
        let b = operand(spec, &xb, n, k, layout);
        let c = with_c.then(|| data(seed ^ 2, m * n, 2));
        let out = [OutDtype::F32, OutDtype::F64, OutDtype::Bf16, OutDtype::F16][oi];
        let acc: Accum = MODELS[mi].parse().unwrap();
        let fast = matmul(&a, &b, c.as_deref(), &acc, out);
        let slow = matmul_reference(&a, &b, c.as_deref(), &acc, out);
        let fast32 = matmul_f32(&a, &b, c.as_deref(), &acc, out);
        match (&fast32, &slow, out) {
            (Err(_), _, OutDtype::F64) => {}
            (Ok(f), Ok(s), _) => {
                let s: Vec<f64> = s.iter().map(|&x| x as f32 as f64).collect();
                let f: Vec<f64> = f.iter().map(|&x| x as f64).collect();
                prop_assert!(same(&f, &s), "matmul_f32: {spec} {acc} {m}x{n}x{k} kn={kn} c={with_c} {out:?}");
            }
            (Err(e1), Err(e2), _) => prop_assert_eq!(e1, e2),
            (f, s, _) => prop_assert!(false, "matmul_f32 {f:?} vs slow {s:?} ({out:?})"),
        }
        match (fast, slow) {
            (Ok(f), Ok(s)) => prop_assert!(same(&f, &s), "{spec} {acc} {m}x{n}x{k} kn={kn} c={with_c} {out:?}"),
            (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
            (f, s) => prop_assert!(false, "fast {f:?} vs slow {s:?}"),
        }
    }

    /// Every architecture preset's fast path equals its reference loop on the
    /// operand types it takes: shapes 0, 1, odd and off the instruction's K, both
    /// B layouts, with and without C, every output type, NaN/Inf in the data.
    #[test]
    fn presets_fast_path_equals_reference(
        (m, n, k) in (0usize..10, 0usize..21, 0usize..100),
        seed in any::<u64>(),
        ci in 0..PRESET_CASES.len(),
        kn in any::<bool>(),
        with_c in any::<bool>(),
        oi in 0usize..4,
        special in 0u8..6,
    ) {
        let (sa, sb, model) = PRESET_CASES[ci];
        let mut xa = data(seed, m * k, 6);
        let mut xb = data(seed ^ 1, n * k, 6);
        let at = |v: &[f32]| (seed % v.len().max(1) as u64) as usize;
        match special {
            0 if !xa.is_empty() => { let i = at(&xa); xa[i] = f32::NAN; }
            1 if !xb.is_empty() => { let i = at(&xb); xb[i] = if seed % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY }; }
            _ => {}
        }
        let layout = if kn { Layout::KRows } else { Layout::RowsK };
        let a = operand(sa, &xa, m, k, Layout::RowsK);
        let b = operand(sb, &xb, n, k, layout);
        let mut c = with_c.then(|| data(seed ^ 2, m * n, 8));
        if let Some(c) = c.as_mut().filter(|c| special == 2 && !c.is_empty()) {
            let i = at(c);
            c[i] = if seed % 2 == 0 { f32::NAN } else { f32::NEG_INFINITY };
        }
        let out = [OutDtype::F32, OutDtype::F64, OutDtype::Bf16, OutDtype::F16][oi];
        let acc: Accum = model.parse().unwrap();
        let slow = matmul_reference(&a, &b, c.as_deref(), &acc, out);
        let fast = matmul(&a, &b, c.as_deref(), &acc, out);
        match (fast, slow) {
            (Ok(f), Ok(s)) => prop_assert!(same(&f, &s), "{sa}x{sb} {acc} {m}x{n}x{k} kn={kn} c={with_c} {out:?}"),
            (f, s) => prop_assert!(false, "{sa}x{sb} {model}: fast {f:?} vs slow {s:?}"),
        }
    }

    /// `exact` (output f64) equals the i128 fixed-point sum of the dequantized
    /// products, converted once (Rust's `i128 as f64` rounds to nearest even).
    #[test]
    fn exact_equals_big_integer_sum(
        (m, n, k) in (1usize..6, 1usize..6, 1usize..100),
        seed in any::<u64>(),
        with_c in any::<bool>(),
    ) {
        // e4m3 elements times E8M0 scales within 2^±8: every product is a multiple
        // of 2^-52 below 2^52, so K ≤ 2^20 of them fit an i128 exactly
        let a = operand("mxfp8-e4m3", &data(seed, m * k, 4), m, k, Layout::RowsK);
        let b = operand("mxfp8-e4m3", &data(seed ^ 1, n * k, 4), n, k, Layout::RowsK);
        let c: Option<Vec<f32>> = with_c.then(|| data(seed ^ 2, m * n, 0).iter().map(|v| (v * 64.0).round() / 64.0).collect());
        let d = matmul(&a, &b, c.as_deref(), &"exact".parse().unwrap(), OutDtype::F64).unwrap();
        let fixed = |v: f64| -> i128 {
            let s = v * 2f64.powi(52); // exact: a power of two
            assert_eq!(s.fract(), 0.0, "{v:e} not on the 2^-52 grid");
            s as i128
        };
        let (ad, bd) = (a.dequantized(), b.dequantized());
        for i in 0..m {
            for j in 0..n {
                let mut acc: i128 = c.as_ref().map_or(0, |c| fixed(c[i * n + j] as f64) << 52);
                for kk in 0..k {
                    acc += fixed(ad[i * k + kk] as f64) * fixed(bd[j * k + kk] as f64);
                }
                let want = acc as f64 * 2f64.powi(-104);
                prop_assert_eq!(d[i * n + j].to_bits(), want.to_bits());
            }
        }
    }

    /// Every model within its derived error bound of `exact`.
    #[test]
    fn models_within_derived_bounds(
        (m, n, k) in (1usize..5, 1usize..5, 1usize..300),
        seed in any::<u64>(),
        si in 0..SCHEMES.len(),
        mi in 1..MODELS.len(),
    ) {
        let spec = SCHEMES[si];
        let a = operand(spec, &data(seed, m * k, 3), m, k, Layout::RowsK);
        let b = operand(spec, &data(seed ^ 1, n * k, 3), n, k, Layout::RowsK);
        let target: Accum = MODELS[mi].parse().unwrap();
        let Ok(d) = matmul(&a, &b, None, &target, OutDtype::F32) else { return Ok(()) };
        let acc = target.resolve(&a, &b).unwrap();
        let exact = matmul(&a, &b, None, &Accum::Exact, OutDtype::F64).unwrap();
        let (ad, bd) = (a.dequantized(), b.dequantized());
        for i in 0..m {
            for j in 0..n {
                // S = Σ|a·b| over the dequantized operands (the kernel-view models scale
                // the same products, global scale as alpha)
                let s: f64 = (0..k).map(|kk| (ad[i * k + kk] as f64 * bd[j * k + kk] as f64).abs()).sum();
                let (e, got) = (exact[i * n + j], d[i * n + j]);
                let u = 2f64.powi(-24);
                let nk = k as f64;
                let bound = match acc {
                    // one f64/f32 rounding per step (γ_K), the output rounding, and the
                    // f32 rounding of the scaled operands / partials / alpha (kernel view)
                    Accum::F64 => 2f64.powi(-53) * nk * s + u * e.abs(),
                    Accum::F32Fma | Accum::F32MulAdd => 2.0 * nk * u * s + u * e.abs(),
                    Accum::F32Blocked(_) => (2.0 * nk + 8.0) * u * s + u * e.abs(),
                    Accum::TensorCore(t) => {
                        // per fused block: each of its at most n + 1 terms (products and
                        // the chain value c) loses less than 2^(M−F), and 2^M ≤ the largest
                        // term's magnitude (s ≥ 1 for normal elements; with subnormal ones a
                        // factor 2 covers these data); the written-back value loses less
                        // than 2^-out_frac_bits of itself; |c|, |terms| ≤ S (up to 1 + δ);
                        // promotions and alpha add f32 roundings
                        let blocks = k.div_ceil(t.n) as f64;
                        let f = if t.frac_bits == u32::MAX { 0.0 } else { 2f64.powi(-(t.frac_bits as i32)) };
                        let o = 2f64.powi(-(t.out_frac_bits as i32));
                        blocks * ((t.n as f64 + 1.0) * f * 2.0 * s + o * 2.0 * s) + (blocks + 4.0) * 4.0 * u * s + u * e.abs()
                    }
                    Accum::Exact => 0.0,
                    Accum::Target(_) => unreachable!("resolved above"),
                };
                prop_assert!(
                    (got - e).abs() <= bound,
                    "{spec} {acc} ({i},{j}) k={k}: |{got:e} - {e:e}| = {:e} > {bound:e}",
                    (got - e).abs()
                );
            }
        }
    }

    /// The fused model with unbounded F, one block over all of K and RNE output is
    /// the exact sum rounded once.
    #[test]
    fn unbounded_window_equals_exact(
        (m, n, k) in (1usize..5, 1usize..5, 1usize..64),
        seed in any::<u64>(),
        si in 0usize..5,
    ) {
        let spec = SCHEMES[si];
        let a = operand(spec, &data(seed, m * k, 8), m, k, Layout::RowsK);
        let b = operand(spec, &data(seed ^ 1, n * k, 8), n, k, Layout::RowsK);
        let kk = k.next_multiple_of(2);
        let acc: Accum = format!(
            "sm100-f8f6f4@frac-bits=inf@out-rounding=rne@k-inst={kk}@n={kk}"
        ).parse().unwrap();
        let d = matmul(&a, &b, None, &acc, OutDtype::F32).unwrap();
        let e = matmul(&a, &b, None, &Accum::Exact, OutDtype::F32).unwrap();
        prop_assert!(same(&d, &e), "{spec} {m}x{n}x{k}");
    }
}

/// Each preset case runs a fast kernel (so the property above compares two
/// different computations).
#[test]
fn preset_cases_have_fast_paths() {
    for (sa, sb, model) in PRESET_CASES {
        let a = operand(sa, &data(1, 4 * 64, 3), 4, 64, Layout::RowsK);
        let b = operand(sb, &data(2, 5 * 64, 3), 5, 64, Layout::RowsK);
        let acc: Accum = model.parse().unwrap();
        assert!(lowp::matmul::has_fast_path(&a, &b, &acc), "{sa} x {sb} on {model}");
    }
}

#[test]
fn shapes_and_options_give_errors_not_panics() {
    let a = operand("mxfp8-e4m3", &data(1, 2 * 64, 0), 2, 64, Layout::RowsK);
    let b = operand("mxfp8-e4m3", &data(2, 3 * 32, 0), 3, 32, Layout::RowsK);
    assert!(matmul(&a, &b, None, &Accum::Exact, OutDtype::F32).is_err());
    let b = operand("nvfp4", &data(2, 3 * 64, 0), 3, 64, Layout::RowsK);
    // MX blocks of 32 against NVFP4 blocks of 16: no block-scaled kernel does that
    assert!(matmul(&a, &b, None, &"f32-blocked".parse().unwrap(), OutDtype::F32).is_err());
    // ... but the dequantized-operand models are defined
    assert!(matmul(&a, &b, None, &"f32-fma".parse().unwrap(), OutDtype::F32).is_ok());
    assert!(matmul(&a, &b, Some(&[0.0; 5]), &Accum::Exact, OutDtype::F32).is_err());
    // a bad spec fails when parsed, or (a target's keys, checked against the
    // instruction the operands choose) when the GEMM resolves it: never a result
    let e4 = operand("fp8-tensor", &data(3, 2 * 64, 0), 2, 64, Layout::RowsK);
    for bad in ["sm90@n=5", "sm90@promote-every=48", "sm90@out-frac-bits=30", "f32-fma@promote=fadd", "nope"] {
        let refused = bad.parse::<Accum>().map(|m| matmul(&e4, &e4, None, &m, OutDtype::F32));
        assert!(!matches!(refused, Ok(Ok(_))), "{bad}");
    }
    for ok in MODELS {
        let acc: Accum = ok.parse().unwrap();
        assert_eq!(acc.to_string().parse::<Accum>().unwrap(), acc, "{ok} round-trips");
    }
}

#[test]
fn overflowing_chain_stays_infinite_on_both_paths() {
    // found by the `matmul` fuzz target: products near 2^110 overflow the chain
    // to -Inf in one block; later blocks must keep it (fast and reference alike)
    let x: Vec<f32> = (0..6 * 37).map(|i| if i % 5 == 0 { 3.0e32 } else { -6.2e32 }).collect();
    let a = operand("mxfp8-e4m3", &x[..37], 1, 37, Layout::RowsK);
    let b = operand("mxfp8-e4m3", &x[..6 * 37], 6, 37, Layout::RowsK);
    for m in ["sm100", "sm90", "sm89", "sm100@frac-bits=40"] {
        let acc: Accum = m.parse().unwrap();
        let f = matmul(&a, &b, None, &acc, OutDtype::F32).unwrap();
        let s = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
        assert!(same(&f, &s), "{m}: {f:?} vs {s:?}");
        assert!(f.iter().any(|v| v.is_infinite()), "{m}: the data should overflow f32");
    }
}

#[test]
fn subnormal_chain_values_on_both_paths() {
    // found by the `matmul` fuzz target: products near 2^-130 leave an f32
    // subnormal in the tensor-core chain; its exponent is 2^-126 (emin clamp) on
    // the fast path as in the reference
    for (sa, sb) in [(1e-20f64, 1e-19f64), (3e-20, 2e-20), (1e-19, 1e-19)] {
        let xa: Vec<f32> = (0..4 * 96).map(|i| (lowp::rng::normal(5, i) * sa) as f32).collect();
        let xb: Vec<f32> = (0..9 * 96).map(|i| (lowp::rng::normal(6, i) * sb) as f32).collect();
        let a = operand("mxfp8-e4m3", &xa, 4, 96, Layout::RowsK);
        let b = operand("mxfp8-e4m3", &xb, 9, 96, Layout::RowsK);
        // (without zero exponents, a block maximum below −126 leaves bits below
        // the 13-bit chain's subnormal grid)
        for m in ["sm90", "sm90@promote-every=none", "sm89", "sm89@zero-exponent=none", "sm90@zero-exponent=none"] {
            let acc: Accum = m.parse().unwrap();
            let f = matmul(&a, &b, None, &acc, OutDtype::F32).unwrap();
            let s = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
            assert!(same(&f, &s), "{m} {sa:e}: {f:?} vs {s:?}");
            assert!(
                s.iter().any(|v| *v != 0.0 && v.abs() < f32::MIN_POSITIVE as f64),
                "{m} {sa:e}: no subnormal result"
            );
        }
    }
    // without zero exponents, chains that stay +0 until their last block (K =
    // 64, zeros before it; one MX scale block of 32 per half): that block's
    // maximum falls below −126, and the 13-bit chain's subnormal grid (2^-139)
    // cuts its result
    for (m, n) in [("sm89@zero-exponent=none", 16), ("sm90@zero-exponent=none@promote-every=none", 32)] {
        let tiny = |seed: u64, rows: usize, s: f64| -> Vec<f32> {
            let v = |i: usize| if i % 64 < 64 - n { 0.0 } else { lowp::rng::normal(seed, i as u64) * s };
            (0..rows * 64).map(|i| v(i) as f32).collect()
        };
        let a = operand("mxfp8-e4m3", &tiny(5, 4, 1e-20), 4, 64, Layout::RowsK);
        let b = operand("mxfp8-e4m3", &tiny(6, 9, 1e-19), 9, 64, Layout::RowsK);
        let acc: Accum = m.parse().unwrap();
        let f = matmul(&a, &b, None, &acc, OutDtype::F32).unwrap();
        let s = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
        assert!(same(&f, &s), "{m}: {f:?} vs {s:?}");
        assert!(s.iter().any(|v| *v != 0.0 && v.abs() < f32::MIN_POSITIVE as f64), "{m}: no subnormal result");
    }
    // wide operands (24- and 25-bit chains): blocks whose sums fall below f32's
    // smallest subnormal, either sign, and subnormal ones
    for (ty, sa) in [("bf16", 3e-23f64), ("tf32", 2e-23)] {
        let sb = 2e-22;
        let scale = |x: f64, s: f64, i: u64| x * s * if i.is_multiple_of(3) { 1e-3 } else { 1.0 };
        let xa: Vec<f32> = (0..4 * 64).map(|i| scale(lowp::rng::normal(7, i), sa, i) as f32).collect();
        let xb: Vec<f32> = (0..19 * 64).map(|i| scale(lowp::rng::normal(8, i), sb, i) as f32).collect();
        let ty: lowp::matmul::ElemType = ty.parse().unwrap();
        let a = Operand::from_wide(ty, &xa, [4, 64], Layout::RowsK).unwrap();
        let b = Operand::from_wide(ty, &xb, [19, 64], Layout::RowsK).unwrap();
        for m in ["sm80", "sm80@zero-exponent=none", "sm90", "sm100"] {
            let Ok(acc) = m.parse::<Accum>().unwrap().resolve(&a, &b) else { continue };
            let f = matmul(&a, &b, None, &acc, OutDtype::F32).unwrap();
            let s = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
            assert!(same(&f, &s), "{m} {ty:?}: {f:?} vs {s:?}");
            let tiny = |v: &&f64| **v != 0.0 && v.abs() < f32::MIN_POSITIVE as f64;
            assert!(s.iter().filter(tiny).count() > 3, "{m} {ty:?}: too few subnormal results");
        }
    }
}
