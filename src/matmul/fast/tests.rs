//! The fast paths against the reference loop: every SIMD build, every kernel,
//! and the edges each kernel handles in its own way.

use super::epilogue::OutElem;
use super::kernels::DotLane;
use super::pack::Source;
use super::*;
use crate::matmul::{Layout, matmul_reference};

fn op(seed: u64, rows: usize, k: usize, scheme: &str) -> Operand {
    let x: Vec<f32> = (0..rows * k).map(|i| crate::rng::normal(seed, i as u64) as f32).collect();
    Operand::from_f32(&x, [rows, k], Layout::RowsK, &scheme.parse().unwrap()).unwrap()
}

/// f32 results equal the reference's f64 ones rounded to f32, bit for bit
/// (any NaN for a NaN).
fn same_as_f64(got: &[f32], want: &[f64]) -> bool {
    got.iter().zip(want).all(|(x, y)| x.to_bits() == (*y as f32).to_bits() || x.is_nan() && y.is_nan())
}

#[test]
fn dispatched_and_portable_builds_equal_the_reference() {
    for (m, n, k) in [(7, 17, 300), (13, 33, 64), (1, 1, 1), (6, 16, 257), (37, 21, 70), (25, 70, 600)] {
        for scheme in
            ["mxfp8-e4m3", "nvfp4", "mxfp6-e2m3", "fp8-block", "mxfp4", "mxfp4@block=16", "nvfp4@global-scale=on"]
        {
            let (a, b) = (op(1, m, k, scheme), op(2, n, k, scheme));
            for acc in [
                "f32-fma",
                "f32-mul-add",
                "f32-blocked",
                "f32-blocked@promote=ffma-combined",
                "f32-blocked@promote=fmul-then-ffma",
                "f32-blocked@promote=fmul-then-ffma-b",
                "sm90",
                "sm100", // the i64 (not narrow) tensor-core path
            ] {
                // a target's instruction for these operands (Hopper has no FP4/FP6)
                let Ok(acc) = acc.parse::<Accum>().unwrap().resolve(&a, &b) else { continue };
                let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
                for isa in SimdBuild::available() {
                    if let Some(got) = try_matmul_with::<f64>(&a, &b, None, &acc, OutDtype::F32, isa).unwrap() {
                        let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(same, "{scheme} {acc} {m}x{n}x{k} {isa:?}");
                    }
                    if let Some(got) = try_matmul_with::<f32>(&a, &b, None, &acc, OutDtype::F32, isa).unwrap() {
                        let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == (*y as f32).to_bits());
                        assert!(same, "f32 result: {scheme} {acc} {m}x{n}x{k} {isa:?}");
                    }
                }
            }
        }
    }
}

/// Wide operands (bf16, f16, tf32) under the NVIDIA kinds that take them:
/// every SIMD build equals the reference loop, NaN and Inf rows included.
#[test]
fn wide_operands_fast_builds_equal_the_reference() {
    use crate::matmul::ElemType;
    for (m, n, k) in [(5, 19, 40), (17, 40, 72), (1, 1, 3)] {
        for ty in [ElemType::Bf16, ElemType::F16, ElemType::Tf32] {
            let wide = |seed: u64, rows: usize| {
                let mut x: Vec<f32> = (0..rows * k)
                    .map(|i| (crate::rng::normal(seed, i as u64) * 2f64.powi((i % 23) as i32 - 11)) as f32)
                    .collect();
                if seed == 1 && x.len() > 7 {
                    x[7] = f32::INFINITY;
                }
                Operand::from_wide(ty, &x, [rows, k], Layout::RowsK).unwrap()
            };
            let (a, b) = (wide(1, m), wide(2, n));
            for acc in ["sm70", "sm75", "sm80", "sm89", "sm90", "sm100", "sm120"] {
                let Ok(acc) = acc.parse::<Accum>().unwrap().resolve(&a, &b) else { continue };
                assert!(has_fast_path(&a, &b, &acc), "{ty} {acc}");
                let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
                for isa in SimdBuild::available() {
                    let got = try_matmul_with::<f32>(&a, &b, None, &acc, OutDtype::F32, isa).unwrap().unwrap();
                    let same = same_as_f64(&got, &want);
                    assert!(same, "{ty} {acc} {m}x{n}x{k} {isa:?}");
                }
            }
        }
    }
}

/// Wide blocks whose products all sit at the top of the grid (significands
/// 2 − 2^-7 for bf16, 2 − 2^-10 for f16 and tf32, all of one sign): sixteen
/// of them just fit an i32 at F = 25, eight at F = 26 and four at F = 27, and
/// a C at the block's exponent takes the sum past 2^31 either way, which the
/// 16-lane finish must hand to the scalar route. Zero products beside a top
/// one check the zero's word pair (its one's complement −1 under a negative A
/// element). Every SIMD build equals the reference loop.
#[test]
fn wide_blocks_at_the_top_of_the_i32_sum() {
    use crate::matmul::ElemType;
    for (ty, top) in [
        (ElemType::Bf16, 2.0 - 2f32.powi(-7)),
        (ElemType::F16, 2.0 - 2f32.powi(-10)),
        (ElemType::Tf32, 2.0 - 2f32.powi(-10)),
    ] {
        let k = 48;
        // rows: all +top, all −top, zeros but one (zero products of either
        // sign beside a top one), then mixed signs and magnitudes
        let rows = |n: usize| -> Vec<f32> {
            (0..n * k)
                .map(|i| match i / k {
                    0 => top,
                    1 => -top,
                    2 => {
                        if i % k == 5 {
                            top
                        } else {
                            0.0
                        }
                    }
                    _ => {
                        if i % 3 == 0 {
                            -top
                        } else {
                            top * 0.75
                        }
                    }
                })
                .collect()
        };
        let a = Operand::from_wide(ty, &rows(4), [4, k], Layout::RowsK).unwrap();
        let b = Operand::from_wide(ty, &rows(18), [18, k], Layout::RowsK).unwrap();
        let c: Vec<f32> = (0..4 * 18).map(|i| [top, -top, 1.0, -0.0, top * 0.5][i % 5]).collect();
        // (blocks of 16 and 8 for bf16 and f16, 8 and 4 for tf32)
        let specs = if ty == ElemType::Tf32 {
            ["sm90@c=mma", "sm90@frac-bits=26", "sm80@c=mma", "sm80@frac-bits=27@c=mma", "sm80@frac-bits=27"]
        } else {
            ["sm90@c=mma", "sm100@c=mma", "sm120@c=mma", "sm80@frac-bits=26@c=mma", "sm80@frac-bits=26"]
        };
        every_build_equals_the_reference(&a, &b, &specs, &c, &format!("{ty} at the top"));
    }
}

/// Wide blocks at the ends of f32's range: bf16 and tf32 elements near 2^63
/// (products near 2^127: block sums past f32::MAX), near 2^-63 (products near
/// 2^-126: results subnormal or zero) and mixed, under every NVIDIA kind that
/// takes them (blocks of 4, 8 and 16), with C of every kind. Every SIMD build
/// equals the reference loop.
#[test]
fn wide_blocks_at_the_ends_of_f32() {
    use crate::matmul::ElemType;
    let (m, n, k) = (6, 21, 40);
    for ty in [ElemType::Bf16, ElemType::Tf32] {
        let wide = |seed: u64, rows: usize| {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| {
                    let e = [63, -63, 62, -64, 0][(i / k + i % 3) % 5];
                    (crate::rng::normal(seed, i as u64) * 2f64.powi(e)) as f32
                })
                .collect();
            Operand::from_wide(ty, &x, [rows, k], Layout::RowsK).unwrap()
        };
        let (a, b) = (wide(7, m), wide(8, n));
        let specs = ["sm80", "sm80@c=mma", "sm90@c=mma", "sm100@c=mma", "sm120"];
        every_build_equals_the_reference(&a, &b, &specs, &edge_c(m * n), &format!("{ty} at the ends"));
    }
}

/// Blocks of 4 and 8 run two strips of B per pass (`strips_per_pass`), the
/// wide types through `vpmaddwd` and FP8 codes through the product table: FP8
/// under `sm89@n=4`, `sm89@n=8` and `sm100@n=8@c=mma`, 40 columns (a pass of
/// two strips, then one), equal the reference loop in every build.
#[test]
fn short_blocks_of_codes_take_two_strips_a_pass() {
    let fp8 = |seed: u64, rows: usize, k: usize| {
        let x: Vec<f32> = (0..rows * k).map(|i| crate::rng::normal(seed, i as u64) as f32).collect();
        let mut codes = vec![0u8; x.len()];
        let o = crate::convert::CastOptions::saturating();
        crate::convert::encode_slice(crate::format::ElemFormat::E4M3FN, &x, &mut codes, &o).unwrap();
        Operand::from_codes(crate::format::ElemFormat::E4M3FN, &codes, [rows, k], Layout::RowsK).unwrap()
    };
    let (a, b) = (fp8(1, 5, 64), fp8(2, 40, 64));
    let c: Vec<f32> = (0..5 * 40).map(|i| (crate::rng::normal(3, i as u64) * 8.0) as f32).collect();
    every_build_equals_the_reference(&a, &b, &["sm89@n=4", "sm89@n=8", "sm100@n=8@c=mma"], &c, "FP8, n = 4, 8");
}

/// `c=mma` and `d=f16`: every SIMD build of the fused-block kernel starts each
/// chain from C (f16 chains rounded RNE, f16 subnormals aligned at 2^-14) and
/// equals the reference loop, for C far above, near and far below the products,
/// subnormal (in f32 and f16), zero of either sign, ±Inf and NaN.
#[test]
fn c_in_the_instruction_fast_builds_equal_the_reference() {
    // (scale 400: f16 chains overflow to ±Inf, f32 ones do not)
    let fp8 = |seed: u64, rows: usize, k: usize, scale: f64| {
        let x: Vec<f32> = (0..rows * k).map(|i| (crate::rng::normal(seed, i as u64) * scale) as f32).collect();
        let mut codes = vec![0u8; x.len()];
        let o = crate::convert::CastOptions::saturating();
        crate::convert::encode_slice(crate::format::ElemFormat::E4M3FN, &x, &mut codes, &o).unwrap();
        Operand::from_codes(crate::format::ElemFormat::E4M3FN, &codes, [rows, k], Layout::RowsK).unwrap()
    };
    let cases = [(5, 19, 64, 1.0), (17, 40, 96, 1.0), (3, 33, 320, 1.0), (9, 24, 128, 400.0), (7, 18, 128, 0.0)];
    let mut nv_models = 0;
    for (m, n, k, scale) in cases {
        // (scale 0: NVFP4 operands, `kind::mxf4nvf4` on sm100 / sm120)
        let nv = scale == 0.0;
        let (a, b) =
            if nv { (op(1, m, k, "nvfp4"), op(2, n, k, "nvfp4")) } else { (fp8(1, m, k, scale), fp8(2, n, k, scale)) };
        let c: Vec<f32> = (0..m * n)
            .map(|i| match i % 9 {
                0 => 1e6,
                1 => -3e-30,
                2 => 1e-40,
                7 => 3.0 * 2f32.powi(-20), // an f16 subnormal
                3 => -0.0,
                4 => 0.0,
                5 if i == 5 => f32::INFINITY,
                6 if i == 15 => f32::NAN,
                _ => (crate::rng::normal(3, i as u64) * 8.0) as f32,
            })
            .collect();
        for acc in [
            "sm90@c=mma",
            "sm89@c=mma@promote-every=none",
            "sm100@c=mma",
            "sm120@c=mma",
            "sm90@c=mma@promote-every=none",
            "sm90@d=f16",
            "sm90@c=mma@d=f16",
            "sm89@c=mma@d=f16@promote-every=none",
        ] {
            let Ok(acc) = acc.parse::<Accum>().unwrap().resolve(&a, &b) else {
                assert!(nv, "{acc} takes FP8");
                continue;
            };
            nv_models += nv as usize;
            assert!(has_fast_path(&a, &b, &acc), "{acc}");
            let want = matmul_reference(&a, &b, Some(&c), &acc, OutDtype::F32).unwrap();
            if scale > 1.0 && acc.to_string().contains("d=f16") {
                assert!(want.iter().filter(|v| v.is_infinite()).count() > 1, "{acc}: f16 chains overflow");
            }
            for isa in SimdBuild::available() {
                let got = try_matmul_with::<f32>(&a, &b, Some(&c), &acc, OutDtype::F32, isa).unwrap().unwrap();
                let same = same_as_f64(&got, &want);
                assert!(same, "{acc} {m}x{n}x{k} scale {scale} {isa:?}");
            }
        }
    }
    assert_eq!(nv_models, 2, "sm100 and sm120 with NVFP4 operands");
}

/// CDNA3: every SIMD build runs `TcFast::cdna3_group` and equals the
/// reference loop, for FP8/BF8 (FNUZ) in any mix with its even/odd stages,
/// f16, bf16 and xf32, with C (large, tiny, subnormal, ±0, ±Inf, NaN) and a
/// NaN element.
#[test]
fn cdna3_fast_builds_equal_the_reference() {
    use crate::format::ElemFormat;
    use crate::matmul::ElemType;
    let codes = |fmt: ElemFormat, seed: u64, rows: usize, k: usize| {
        let x: Vec<f32> = (0..rows * k)
            .map(|i| (crate::rng::normal(seed, i as u64) * 2f64.powi((i % 9) as i32 - 4)) as f32)
            .collect();
        let mut c = vec![0u8; x.len()];
        crate::convert::encode_slice(fmt, &x, &mut c, &crate::convert::CastOptions::saturating()).unwrap();
        Operand::from_codes(fmt, &c, [rows, k], Layout::RowsK).unwrap()
    };
    // (`shift`: every value 2^shift times smaller or larger; −60 puts the
    // products around 2^-120, below the −126 a zero C reads as, and beside the
    // subnormal Cs)
    let wide = |ty: ElemType, seed: u64, rows: usize, k: usize, shift: i32| {
        let mut x: Vec<f32> = (0..rows * k)
            .map(|i| (crate::rng::normal(seed, i as u64) * 2f64.powi((i % 31) as i32 - 15 + shift)) as f32)
            .collect();
        if seed == 1 && x.len() > 9 {
            x[9] = f32::NAN;
        }
        Operand::from_wide(ty, &x, [rows, k], Layout::RowsK).unwrap()
    };
    // (k = 97: a last FP8 group of one product, whose odd stage is empty)
    for (m, n, k) in [(6, 21, 96), (5, 18, 97)] {
        let c: Vec<f32> = (0..m * n)
            .map(|i| match i % 8 {
                0 => 3e5,
                1 => -1e-38,
                2 => 1e-42,
                3 => -0.0,
                4 if i == 4 => f32::INFINITY,
                5 if i == 13 => f32::NAN,
                _ => (crate::rng::normal(4, i as u64) * 4.0) as f32,
            })
            .collect();
        let (fnuz, bf8) = (ElemFormat::E4M3FNUZ, ElemFormat::E5M2FNUZ);
        // MX operands of FNUZ elements: UE8M0 scales folded into the products, one
        // NaN scale (A's second block of row 1)
        let mx = |elem: &str, seed: u64, rows: usize, k: usize| {
            let scheme: crate::block::Scheme = format!("mxfp8-e4m3@elem={elem}").parse().unwrap();
            let x: Vec<f32> = (0..rows * k)
                .map(|i| match i {
                    _ if seed == 1 && i == k + 40 => f32::NAN,
                    _ => (crate::rng::normal(seed, i as u64) * 2f64.powi((i / 32 % 7) as i32 * 9 - 27)) as f32,
                })
                .collect();
            Operand::from_f32(&x, [rows, k], Layout::RowsK, &scheme).unwrap()
        };
        let pairs = [
            (mx("e4m3fnuz", 1, m, k), mx("e5m2fnuz", 2, n, k)),
            (mx("e4m3fnuz", 3, m, k), mx("e4m3fnuz", 2, n, k)),
            (codes(fnuz, 1, m, k), codes(fnuz, 2, n, k)),
            (codes(bf8, 1, m, k), codes(fnuz, 2, n, k)),
            (wide(ElemType::F16, 1, m, k, 0), wide(ElemType::F16, 2, n, k, 0)),
            (wide(ElemType::Bf16, 3, m, k, 0), wide(ElemType::Bf16, 2, n, k, 0)),
            (wide(ElemType::Tf32, 3, m, k, 0), wide(ElemType::Tf32, 2, n, k, 0)),
            (wide(ElemType::Bf16, 3, m, k, -60), wide(ElemType::Bf16, 2, n, k, -60)),
            (wide(ElemType::Tf32, 3, m, k, -60), wide(ElemType::Tf32, 2, n, k, -62)),
        ];
        for (a, b) in &pairs {
            for spec in ["cdna3", "cdna3@c=mma"] {
                let acc = spec.parse::<Accum>().unwrap().resolve(a, b).unwrap();
                assert!(has_fast_path(a, b, &acc), "{acc} {}", a.name());
                for cc in [None, Some(&c[..])] {
                    let want = matmul_reference(a, b, cc, &acc, OutDtype::F32).unwrap();
                    for isa in SimdBuild::available() {
                        let got = try_matmul_with::<f32>(a, b, cc, &acc, OutDtype::F32, isa).unwrap().unwrap();
                        let same = same_as_f64(&got, &want);
                        assert!(same, "{acc} {} {m}x{n}x{k} C={} {isa:?}", a.name(), cc.is_some());
                    }
                }
            }
        }
    }
}

/// CDNA3's one RNE rounding of a group total that lands below f32's
/// normals: C = 2^-127 (floored at 2^-150: 2^23 units) and one bf16 product
/// (1 + 2^-7) · 2^-150 make the total (2^30 + 129) · 2^-157, which rounds to
/// 2^-127 + 2^-149 (above the half of 2^-149). Rounded to 24 bits first and
/// then to the subnormal grid, it would tie and round to 2^-127: the AVX-512
/// build's f32 conversion and scaling hands such lanes to the portable route.
/// Under FP8's two stages a negative C 26 binades below the products is
/// dropped, where its floor would take a unit of 2^-24 off: 1 stays 1; 25
/// binades below, it is kept.
#[test]
fn cdna3_results_round_once() {
    use crate::matmul::ElemType;
    let p = |e: i32| 2f32.powi(e);
    let mut a = vec![0f32; 8];
    let mut b = vec![0f32; 8];
    a[0] = (1.0 + p(-7)) * p(-75);
    b[0] = p(-75);
    let a = Operand::from_wide(ElemType::Bf16, &a, [1, 8], Layout::RowsK).unwrap();
    let b = Operand::from_wide(ElemType::Bf16, &b, [1, 8], Layout::RowsK).unwrap();
    let acc = "cdna3@c=mma".parse::<Accum>().unwrap().resolve(&a, &b).unwrap();
    let c = [p(-127)];
    let want = matmul_reference(&a, &b, Some(&c), &acc, OutDtype::F32).unwrap();
    assert_eq!(want, [2f64.powi(-127) + 2f64.powi(-149)], "one rounding");
    every_build_equals_the_reference(&a, &b, &["cdna3@c=mma"], &c, "a subnormal total");
    // FP8: 1 · 1 (e4m3fnuz 0x40) and C = −1.5 · 2^-26 (26 binades below)
    let mut codes = [0u8; 16];
    codes[0] = 0x40;
    let one = Operand::from_codes(crate::format::ElemFormat::E4M3FNUZ, &codes, [1, 16], Layout::RowsK).unwrap();
    let acc = "cdna3@c=mma".parse::<Accum>().unwrap().resolve(&one, &one).unwrap();
    // (25 binades below, it is kept: its floor takes 2^-24 off)
    for (c, r) in [(-1.5 * p(-26), 1.0), (-1.5 * p(-25), 1.0 - 2f64.powi(-24))] {
        let want = matmul_reference(&one, &one, Some(&[c]), &acc, OutDtype::F32).unwrap();
        assert_eq!(want, [r], "C {c:e}");
        every_build_equals_the_reference(&one, &one, &["cdna3@c=mma"], &[c], "C 25 or 26 binades below");
    }
}

/// CDNA3 floors C at 2^(M − 24) even where C lies far below that grid: with a
/// product 2^80 (M = 80), C = −2^-100 floors to −2^56 and the total
/// 2^80 − 2^56 is exact in f32, where +2^-100 floors to 0. (C · 2^(24 − M) is
/// below f32's smallest subnormal there, so the AVX-512 build's scaling must
/// round down, not to nearest.) Every build equals the reference loop.
#[test]
fn cdna3_floors_a_tiny_c_far_below_the_grid() {
    use crate::matmul::ElemType;
    let mut a = vec![0f32; 8];
    a[0] = 2f32.powi(40);
    let a = Operand::from_wide(ElemType::Bf16, &a, [1, 8], Layout::RowsK).unwrap();
    let acc = "cdna3@c=mma".parse::<Accum>().unwrap().resolve(&a, &a).unwrap();
    for (c, r) in [(-2f32.powi(-100), 2f64.powi(80) - 2f64.powi(56)), (2f32.powi(-100), 2f64.powi(80))] {
        let want = matmul_reference(&a, &a, Some(&[c]), &acc, OutDtype::F32).unwrap();
        assert_eq!(want, [r], "C {c:e}");
        every_build_equals_the_reference(&a, &a, &["cdna3@c=mma"], &[c], "a tiny C");
    }
}

/// CDNA3 reads a zero C's exponent as −126, which sets the grid its group sum
/// is floored onto (2^(M − 31), M = max(−126, the products' exponent)): a
/// group of bf16 products 2^-150 (half of f32's smallest subnormal) and
/// 2^-158 floors the second away at 2^-157 and rounds the tie to +0, where a
/// finer grid would keep it and round up to 2^-149. Every build equals the
/// reference loop.
#[test]
fn cdna3_zero_c_sets_the_group_grid() {
    use crate::matmul::ElemType;
    let p = |e: i32| 2f32.powi(e);
    let a: Vec<f32> = [-75, -79, -79, -79, -79, -79, -79, -79].map(p).to_vec();
    let mut b: Vec<f32> = [-75, -79, -100, -100, -100, -100, -100, -100].map(p).to_vec();
    // a second column: 2^-150 + 2^-157, kept on either grid
    b.extend([-75, -78, -100, -100, -100, -100, -100, -100].map(p));
    let a = Operand::from_wide(ElemType::Bf16, &a, [1, 8], Layout::RowsK).unwrap();
    let b = Operand::from_wide(ElemType::Bf16, &b, [2, 8], Layout::RowsK).unwrap();
    let acc = "cdna3".parse::<Accum>().unwrap().resolve(&a, &b).unwrap();
    let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
    assert_eq!(want, [0.0, 2f64.powi(-149)], "the reference's grid");
    every_build_equals_the_reference(&a, &b, &["cdna3", "cdna3@c=mma"], &edge_c(2), "tiny bf16");
}

/// A C of every kind for the lane kernels' edge tests: subnormal, −0, one −Inf
/// and one NaN, near f32's top, and N(0, 3²).
fn edge_c(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| match i % 7 {
            0 => 1e-39,
            1 => -2e-45,
            2 => -0.0,
            3 if i == 3 => f32::NEG_INFINITY,
            4 if i == 11 => f32::NAN,
            5 => 3e38,
            _ => (crate::rng::normal(5, i as u64) * 3.0) as f32,
        })
        .collect()
}

/// Each of `specs` has a fast path for `a`, `b`, and every SIMD build of it
/// equals the reference loop, without C and with `c`.
fn every_build_equals_the_reference(a: &Operand, b: &Operand, specs: &[&str], c: &[f32], what: &str) {
    for spec in specs {
        let acc = spec.parse::<Accum>().unwrap().resolve(a, b).unwrap();
        assert!(has_fast_path(a, b, &acc), "{acc} {what}");
        for cc in [None, Some(c)] {
            let want = matmul_reference(a, b, cc, &acc, OutDtype::F32).unwrap();
            for isa in SimdBuild::available() {
                let got = try_matmul_with::<f32>(a, b, cc, &acc, OutDtype::F32, isa).unwrap().unwrap();
                assert!(same_as_f64(&got, &want), "{acc} {what} C={} {isa:?}", cc.is_some());
            }
        }
    }
}

/// `kind::mxf4nvf4` (sm100, sm120): every SIMD build of the lane kernel equals
/// the reference loop where its exponents leave the usual range: MXFP4 block
/// scales near 2^-127 (group exponents below the zero chain value's −126,
/// which counts under `zero_exp`; results below f32's normals) and near 2^127
/// (chains that overflow to ±Inf), NVFP4 with a C of every kind in the
/// instruction, columns not a multiple of the 16 lanes and a ragged last
/// instruction.
#[test]
fn mxf4nvf4_lanes_equal_the_reference_at_the_edges() {
    // blocks of 16 at 2^e, 2^(e−12), 2^(e−24) in turn: products of one
    // instruction far apart, so truncation onto the largest one's grid shows
    // With `cancel`, the first 16 of every 64 (one group of each instruction)
    // hold pairs (v, −v) in A against (w, w) in B: a zero dot at the largest
    // scales, whose exponent counts toward the maximum under `zero_exp`.
    let scaled = |seed: u64, rows: usize, k: usize, scheme: &str, e: i32, cancel: bool| {
        let x: Vec<f32> = (0..rows * k)
            .map(|i| {
                let p = e + (i % 5) as i32 - 12 * ((i % k) / 16 % 3) as i32;
                if cancel && (i % k) % 64 < 16 {
                    let v = 2f64.powi(e + 16) * (1 + (i / 2) % 3) as f64;
                    return (if seed == 1 && i % 2 == 1 { -v } else { v }) as f32;
                }
                (crate::rng::normal(seed, i as u64) * 2f64.powi(p)) as f32
            })
            .collect();
        Operand::from_f32(&x, [rows, k], Layout::RowsK, &scheme.parse().unwrap()).unwrap()
    };
    let (m, n, k) = (5, 37, 160);
    let c = edge_c(m * n);
    let cases = [
        ("mxfp4", -74),
        ("mxfp4", -70),
        ("mxfp4", -62),
        ("mxfp4", -124),
        ("mxfp4", 62),
        ("mxfp4@block=16", -70),
        ("nvfp4", 0),
    ];
    for (scheme, e, cancel) in cases.into_iter().map(|(s, e)| (s, e, false)).chain([("mxfp4@block=16", -70, true)]) {
        let (a, b) = (scaled(1, m, k, scheme, e, cancel), scaled(2, n, k, scheme, e, cancel));
        let what = format!("{scheme} 2^{e}");
        every_build_equals_the_reference(&a, &b, &["sm100", "sm120", "sm100@c=mma", "sm120@c=mma"], &c, &what);
    }
}

/// Scales folded into the products (`fold_fast`): FP8 blocks with f32 scales
/// that are not powers of two, under the models without promotion, equal the
/// reference loop in every SIMD build, for scales negative, zero, subnormal
/// and near 2^±100 (products far below the chain value, chains that
/// overflow), rows whose every scale is near 2^-71 (products near 2^-140,
/// below a zero C's −126; results below f32's normals), near 2^-57 (products
/// near 2^-114 and 2^-128: block maxima just inside and outside the normal
/// results of each grid) and near 2^53 (products near 2^120: blocks whose sum
/// reaches 2^128 and ones just below), e4m3 and e5m2 elements, both values
/// of `zero-exponent`, a C of every kind in the instruction, columns not a
/// multiple of the 16 lanes and a ragged last K block.
#[test]
fn folded_scales_equal_the_reference_at_the_edges() {
    use crate::block::{QuantizedTensor, Scales, quantize};
    let scaled = |seed: u64, rows: usize, k: usize, scheme: &str| -> Operand {
        let x: Vec<f32> = (0..rows * k)
            .map(|i| (crate::rng::normal(seed, i as u64) * 2f64.powi((i % 7) as i32 - 3)) as f32)
            .collect();
        let q = quantize(&x, &[rows, k], &scheme.parse().unwrap()).unwrap();
        let (scheme, shape, codes, scales, grid, g) = q.into_parts();
        let Scales::F32(v) = scales else { panic!("{scheme}: f32 scales") };
        // every scale of rows 0, 5, 10 near 2^-71, of rows 1, 6, 11 near 2^-57
        // and of rows 2, 7 near 2^53; others one by one
        let per_row = v.len() / rows;
        let v = v
            .iter()
            .enumerate()
            .map(|(i, &x)| match (i + seed as usize) % 11 {
                _ if (i / per_row).is_multiple_of(5) => x * 2f32.powi(-64),
                _ if (i / per_row) % 5 == 1 => x * 2f32.powi(-50),
                _ if (i / per_row) % 5 == 2 => x * 2f32.powi(60),
                0 => -x,
                1 => 0.0,
                2 => x * 2f32.powi(-140),
                3 => x * 2f32.powi(100),
                4 => 3.0,
                5 => x * 2f32.powi(-100),
                _ => x * (1.0 + (i % 5) as f32 / 7.0),
            })
            .collect();
        let q = QuantizedTensor::from_parts(scheme, shape, codes, Scales::F32(v), grid, g).unwrap();
        Operand::from_quantized(&q, Layout::RowsK).unwrap()
    };
    let (m, n) = (12, 37);
    let c = edge_c(m * n);
    let k = 200;
    for scheme in ["fp8-block@block=1x32", "fp8-block@block=1x16@elem=e5m2", "fp8-block"] {
        let (a, b) = (scaled(1, m, k, scheme), scaled(2, n, k, scheme));
        let specs = [
            "sm89",
            "sm100",
            "sm120",
            "sm90@promote-every=none",
            "sm100@c=mma",
            "sm89@c=mma",
            "sm100@c=mma@zero-exponent=none",
            // (odd blocks: the AVX-512 build runs the lane code)
            "sm89@n=1",
            // (instructions of interleaved products inside a K block of the scales)
            "sm100-mma-sync",
            "sm100-mma-sync@c=mma",
        ];
        let specs = if scheme.contains("1x16") { &specs[..specs.len() - 2] } else { &specs[..] };
        every_build_equals_the_reference(&a, &b, specs, &c, scheme);
    }
}

/// The folded blocks' lowest fast grid: under `sm89` (13 fraction bits on
/// the grid and in the result) a block below f32's normals keeps the
/// reference's subnormal grid `2^-139`. One product `2^-127 + 2^-140` (block
/// maximum −127, grid `2^-140`) truncates to `2^-127`; `2^-126 + 2^-139` is
/// kept whole. The AVX-512 build converts an f64 sum to f32 only where its
/// grid is on or above `2^-139`. (Two K blocks of scales, so that they are
/// folded into the products rather than applied once to the sum; the product
/// in the second block of the instruction, after an empty one, so that no
/// later block of the chain truncates it again.)
#[test]
fn folded_results_below_the_normals_keep_the_reference_grid() {
    use crate::block::{QuantizedTensor, Scales, quantize};
    let one_hot = |scales: &[f32]| -> Operand {
        let (rows, k) = (scales.len() / 2, 32);
        let scheme = "fp8-block@block=1x16".parse().unwrap();
        let q = quantize(&vec![1.0; rows * k], &[rows, k], &scheme).unwrap();
        let (scheme, shape, mut codes, _, grid, g) = q.into_parts();
        // e4m3 1.0 (0x38) at K = 16, +0 elsewhere
        for (i, c) in codes.iter_mut().enumerate() {
            *c = if i % k == 16 { 0x38 } else { 0 };
        }
        let q = QuantizedTensor::from_parts(scheme, shape, codes, Scales::F32(scales.to_vec()), grid, g).unwrap();
        Operand::from_quantized(&q, Layout::RowsK).unwrap()
    };
    let a = one_hot(&[1.0, 2f32.powi(-63) * (1.0 + 2f32.powi(-13))]);
    let b = one_hot(&[1.0, 2f32.powi(-64), 1.0, 2f32.powi(-63)]);
    let spec = "sm89@zero-exponent=none";
    let acc = spec.parse::<Accum>().unwrap().resolve(&a, &b).unwrap();
    let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
    assert_eq!(want, [2f64.powi(-127), 2f64.powi(-126) + 2f64.powi(-139)], "the reference's grid");
    every_build_equals_the_reference(&a, &b, &[spec], &[0.0; 2], "one product below the normals");
}

/// The packs equal the dequantized values (`Operand::dequantize_row`, through
/// an untouched clone, so that the pack reads the codes) and the element values,
/// with zero lanes past the last row, for panels that start and end inside
/// scale blocks.
#[test]
fn packs_equal_the_operand_values() {
    fn check<const W: usize>(op: &Operand, r0: usize, rows: usize, pc: usize, kc: usize) {
        let (deq, elem) = (op.clone().dequantized().to_vec(), op.elements().to_vec());
        for (src, want, what) in
            [(Source::<f32>::dequantized(op), &deq, "dequantized"), (Source::<f32>::elements(op), &elem, "elements")]
        {
            let mut dst = vec![f32::NAN; rows.div_ceil(W) * kc * W];
            src.pack::<W>(r0, rows, pc, kc, &mut dst);
            for (idx, &got) in dst.iter().enumerate() {
                let (s, kk, i) = (idx / (kc * W), idx / W % kc, idx % W);
                let r = s * W + i;
                let w = if r < rows { want[(r0 + r) * op.k() + pc + kk] } else { 0.0 };
                assert_eq!(got.to_bits(), w.to_bits(), "{} {what} W={W} r={r} kk={kk}", op.name());
            }
        }
        let mut dst = vec![f64::NAN; rows.div_ceil(W) * kc * W];
        Source::<f64>::elements(op).pack::<W>(r0, rows, pc, kc, &mut dst);
        let same = dst.iter().enumerate().all(|(idx, &got)| {
            let (s, kk, i) = (idx / (kc * W), idx / W % kc, idx % W);
            let r = s * W + i;
            got.to_bits() == if r < rows { elem[(r0 + r) * op.k() + pc + kk] as f64 } else { 0.0 }.to_bits()
        });
        assert!(same, "{} f64 elements W={W}", op.name());
    }
    let schemes = [
        "mxfp8-e4m3",
        "mxfp4",
        "mxint8",
        "nvfp4",
        "nvfp4@global-scale=on",
        "nvfp4@rht=on",
        "fp8-block",
        "fp8-block@block=128x128",
        "fp8-row",
        "fp8-tensor",
    ];
    for scheme in schemes {
        let a = op(3, 23, 320, scheme);
        check::<6>(&a, 0, 23, 0, 320);
        check::<16>(&a, 5, 18, 17, 200);
        check::<12>(&a, 22, 1, 299, 1);
    }
    let codes: Vec<u8> = (0..13 * 70).map(|i| (i * 37 % 256) as u8).collect();
    let plain = Operand::from_codes(crate::format::ElemFormat::E5M2, &codes, [13, 70], Layout::RowsK).unwrap();
    check::<6>(&plain, 1, 12, 3, 60);
    check::<16>(&plain, 0, 13, 0, 70);
}

/// The in-place epilogues equal the plain map: f64 results (which read the
/// f32 accumulators from their own memory) on every row length to 20 and a
/// big array, and f32 results.
#[test]
fn in_place_epilogues_equal_the_map() {
    for (m, n) in (0..4).flat_map(|m| (0..21).map(move |n| (m, n))).chain([(3, 1365), (1, 4099)]) {
        let x: Vec<f32> = (0..m * n).map(|i| crate::rng::normal(9, i as u64) as f32).collect();
        let f = |i: usize, j: usize, x: f32| x as f64 * 3.0 + (i * 10_000 + j) as f64;
        let mut d = vec![0f64; m * n];
        <f64 as OutElem>::acc(&mut d).copy_from_slice(&x);
        <f64 as OutElem>::finish(&mut d, n, f);
        assert!(d.iter().zip(&x).enumerate().all(|(t, (&d, &x))| d == f(t / n, t % n, x)), "{m}x{n}");
        let mut d32 = x.clone();
        <f32 as OutElem>::finish(&mut d32, n, |i, j, x| (x as f64 + (i * 100 + j) as f64) as f32 as f64);
        let want = |t: usize, x: f32| (x as f64 + (t / n * 100 + t % n) as f64) as f32;
        assert!(d32.iter().zip(&x).enumerate().all(|(t, (&d, &x))| d == want(t, x)), "{m}x{n} f32");
    }
}

/// The f32-blocked lane choice the tests above rely on to reach both kernels.
#[test]
fn block_dot_lanes() {
    let lane = |scheme: &str| {
        let (a, b) = (op(1, 4, 256, scheme), op(2, 4, 256, scheme));
        dot_lane(&a, &b, KernelView::new(&a, &b).unwrap().kblock)
    };
    assert_eq!(lane("nvfp4"), Some(DotLane::F32));
    assert_eq!(lane("mxfp4"), Some(DotLane::F32));
    assert_eq!(lane("mxfp6-e2m3"), Some(DotLane::F32));
    assert_eq!(lane("mxfp8-e4m3"), Some(DotLane::F64));
    assert_eq!(lane("fp8-block"), Some(DotLane::F64));
}

/// Blackwell's legacy `mma.sync` FP8 (`sm100-mma-sync`): each instruction's
/// products cut into blocks by position mod 4 (`Order::Interleaved4`), the
/// blocks chained from +0 and C added by one f32 RNE addition
/// (`CMode::LateRne`). Every SIMD build equals the reference loop: e4m3 × e5m2
/// codes with a NaN, MXFP8, ragged last instructions (K = 70, 97), products
/// of far-apart magnitudes in one instruction (so which positions share a
/// block shows), columns not a multiple of 16, C of every kind in the
/// instruction, and fp8-block's f32 scales folded into the products.
#[test]
fn sm100_mma_sync_equals_the_reference() {
    use crate::format::ElemFormat;
    for (m, n, k) in [(3, 21, 70), (5, 40, 97), (2, 16, 128)] {
        // positions 0, 1 mod 4 around 2^4, 2 and 3 mod 4 around 2^-9
        let x = |seed: u64, rows: usize| -> Vec<f32> {
            (0..rows * k)
                .map(|i| {
                    let e = if i % 4 < 2 { 4 } else { -9 + (i % 7) as i32 };
                    (crate::rng::normal(seed, i as u64) * 2f64.powi(e)) as f32
                })
                .collect()
        };
        let codes = |fmt: ElemFormat, seed: u64, rows: usize| {
            let mut c = vec![0u8; rows * k];
            crate::convert::encode_slice(fmt, &x(seed, rows), &mut c, &crate::convert::CastOptions::saturating())
                .unwrap();
            if seed == 1 {
                c[k + 3] = 0x7F; // e4m3fn NaN: row 1 takes the specials path
            }
            Operand::from_codes(fmt, &c, [rows, k], Layout::RowsK).unwrap()
        };
        let (a, b) = (codes(ElemFormat::E4M3FN, 1, m), codes(ElemFormat::E5M2, 2, n));
        let specs = ["sm100-mma-sync", "sm100-mma-sync@c=mma"];
        every_build_equals_the_reference(&a, &b, &specs, &edge_c(m * n), "e4m3 x e5m2");
        let mx = |seed: u64, rows: usize| {
            Operand::from_f32(&x(seed, rows), [rows, k], Layout::RowsK, &"mxfp8-e4m3".parse().unwrap()).unwrap()
        };
        every_build_equals_the_reference(&mx(3, m), &mx(4, n), &specs, &edge_c(m * n), "mxfp8");
        // f32 scales folded into the products (`FoldFast`), blocks of 32 and 128
        for scheme in ["fp8-block@block=1x32", "fp8-block"] {
            let fp8 = |seed: u64, rows: usize| {
                Operand::from_f32(&x(seed, rows), [rows, k], Layout::RowsK, &scheme.parse().unwrap()).unwrap()
            };
            every_build_equals_the_reference(&fp8(5, m), &fp8(6, n), &specs, &edge_c(m * n), scheme);
        }
    }
}
