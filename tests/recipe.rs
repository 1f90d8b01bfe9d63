//! `lowp::recipe`: every recipe's GEMMs are the products its table names, its
//! keys work, bad shapes and specs are one clear error, and stochastic
//! rounding of the gradients is reproducible and unbiased.

use lowp::block::{QuantizedTensor, SchemeKind};
use lowp::matmul::{Layout, Operand, OutDtype, matmul_f32};
use lowp::recipe::{Copy, Recipe, RecipeName, linear};

fn data(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    (0..n as u64).map(|i| (lowp::rng::normal(seed, i) * scale) as f32).collect()
}

/// The values a GEMM reads from a copy: dequantized, in the transformed domain
/// for an RHT copy (its inverse transform left out).
fn gemm_values(q: &QuantizedTensor) -> Vec<f32> {
    let mut s = *q.scheme();
    if let SchemeKind::Nvfp4(o) = &mut s.kind {
        (o.rht, o.rht_bf16) = (None, false);
    }
    let (_, shape, codes, scales, scale_shape, g) = q.clone().into_parts_globals();
    QuantizedTensor::from_parts_globals(s, shape, codes, scales, scale_shape, g).unwrap().dequantize()
}

/// `sum_k a[r, k]·b[c, k]` in f64 (exact for these sizes' products), with a
/// `[rows, K]` or `[K, rows]` view of each, rounded once to f32.
fn exact(a: &[f32], a_t: bool, b: &[f32], b_t: bool, m: usize, n: usize, k: usize) -> Vec<f32> {
    let at = |r: usize, j: usize| if a_t { a[j * m + r] } else { a[r * k + j] } as f64;
    let bt = |c: usize, j: usize| if b_t { b[j * n + c] } else { b[c * k + j] } as f64;
    let mut out = vec![0f32; m * n];
    for r in 0..m {
        for c in 0..n {
            // a sum of products of narrow values: exact in f64 at these sizes
            out[r * n + c] = (0..k).map(|j| at(r, j) * bt(c, j)).sum::<f64>() as f32;
        }
    }
    out
}

#[test]
fn every_recipe_computes_the_products_its_table_names() {
    let (t, i, o) = (64, 128, 96);
    let (x, w, dy) = (data(t * i, 1, 1.0), data(o * i, 2, 0.05), data(t * o, 3, 0.01));
    let options = ["te-nvfp4@rht=off@4over6=all@row-scaled=on", "te-nvfp4@row-scaled=on@4over6=weights@4over6-err=mse"];
    let specs = RecipeName::ALL.iter().map(|name| match name {
        RecipeName::TeDelayed => format!("{name}@accum=exact@out=f32@amax-x=4.5:5.25@amax-w=0.3@amax-dy=0.05"),
        _ => format!("{name}@accum=exact@out=f32"),
    });
    for spec in specs.chain(options.iter().map(|o| format!("{o}@accum=exact@out=f32"))) {
        let r: Recipe = spec.parse().unwrap();
        let l = linear(&x, &w, Some(&dy), [t, i, o], &r, 7).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let op = |c: Copy| gemm_values(&l.operands.iter().find(|(d, _)| *d == c).unwrap().1);
        assert_eq!(l.y, exact(&op(Copy::XRow), false, &op(Copy::WRow), false, t, o, i), "{spec}: fprop");
        assert_eq!(l.dx.unwrap(), exact(&op(Copy::DyRow), false, &op(Copy::WCol), true, t, i, o), "{spec}: dgrad");
        assert_eq!(l.dw.unwrap(), exact(&op(Copy::DyCol), true, &op(Copy::XCol), true, o, i, t), "{spec}: wgrad");
        eprintln!("{spec}: ok");
    }
}

mod common;

/// Packs E2M1 codes `[rows, cols]` two per byte, even index in the low nibble
/// (TE's `cast_to_fp4x2`), transposed first when `t`.
fn packed(codes: &[u8], rows: usize, cols: usize, t: bool) -> Vec<u8> {
    let at = |r: usize, c: usize| if t { codes[c * cols + r] } else { codes[r * cols + c] };
    let (rr, cc) = if t { (cols, rows) } else { (rows, cols) };
    (0..rr).flat_map(|r| (0..cc / 2).map(move |c| at(r, 2 * c) | (at(r, 2 * c + 1) << 4))).collect()
}

/// The operand a GEMM reads from a copy (an RHT copy in the transformed domain).
fn gemm_operand(q: &QuantizedTensor, layout: Layout) -> Operand {
    let mut s = *q.scheme();
    if let SchemeKind::Nvfp4(o) = &mut s.kind {
        (o.rht, o.rht_bf16) = (None, false);
    }
    let (_, shape, codes, scales, scale_shape, g) = q.clone().into_parts_globals();
    Operand::from_quantized(
        &QuantizedTensor::from_parts_globals(s, shape, codes, scales, scale_shape, g).unwrap(),
        layout,
    )
    .unwrap()
}

/// `te-nvfp4` against TransformerEngine's reference recipe
/// (`scripts/gen_te_recipe_golden.py`: TE 2.20.2's `NVFP4QuantizerRef` and its
/// `qgemm`): every operand copy's codes, and fprop and dgrad bit for bit under
/// `f32-blocked` (TE's reference GEMM) with `alpha=te-reference`. TE's reference
/// takes the Hadamard transform as a torch f32 matmul (the BLAS's summation
/// order) and lowp rounds each exact 16-term sum once, so the column-wise global
/// amax — the largest transformed value — may differ in its last bit, and with
/// it wgrad's alpha (the codes agree: the block scales absorb the ulp). wgrad is
/// therefore checked twice: bit for bit from lowp's copies with TE's amaxes, and
/// within that one alpha ulp from `linear` itself.
///
/// The same holds for the recipe's options (`te_recipe_nvfp4_<variant>_<set>`,
/// each bundle naming the lowp recipe keys of TE's options in its `recipe`
/// field): 4over6 on every forward tensor (256 bound, MAE), on the weights only
/// (448 bound, MSE), row-scaled activations, and both on x.
#[test]
fn te_nvfp4_matches_te_reference_quantizers_and_gemm() {
    let mut amax_off = 0;
    let sets = [
        "normal",
        "outliers",
        "4over6_normal",
        "4over6_outliers",
        "4over6w_outliers",
        "rowscaled_normal",
        "rowscaled_outliers",
        "rowscaled4over6_outliers",
    ];
    for set in sets {
        let b = common::Bundle::open(&format!("te_recipe_nvfp4_{set}"));
        let keys = b.meta["recipe"].as_str().unwrap().strip_prefix("te-nvfp4").unwrap().to_string();
        let dims: Vec<usize> =
            b.meta["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let [t, i, o] = [dims[0], dims[1], dims[2]];
        let (x, w, dy) = (b.get("x").f32(), b.get("w").f32(), b.get("dy").f32());
        for out in ["f32", "bf16"] {
            let spec = format!("te-nvfp4@sr=off@out={out}@accum=f32-blocked@alpha=te-reference{keys}");
            let r: Recipe = spec.parse().unwrap();
            let l = linear(&x, &w, Some(&dy), [t, i, o], &r, 0).unwrap();
            let q = |c: Copy| l.operands.iter().find(|(d, _)| *d == c).unwrap().1.clone();
            for (c, key, rows, cols, tr) in [
                (Copy::XRow, "x_row", t, i, false),
                (Copy::XCol, "x_col", t, i, true),
                (Copy::WRow, "w_row", o, i, false),
                (Copy::WCol, "w_col", o, i, true),
                (Copy::DyRow, "dy_row", t, o, false),
                (Copy::DyCol, "dy_col", t, o, true),
            ] {
                let bad = packed(q(c).codes(), rows, cols, tr) != b.get(&format!("{key}_packed")).u8();
                assert!(!bad, "{set}: {key} codes differ from TE's");
                // and the block scales (a 16x16 tile's scale on each of its rows in TE's array)
                let ours = q(c).scales().bytes().unwrap().to_vec();
                let te = b.get(&format!("{key}_scale")).u8();
                let (sr, sc) = (q(c).scale_shape()[0], q(c).scale_shape()[1]);
                let te_cols = te.len() / if tr { cols } else { rows };
                let tile16 = key.starts_with('w');
                let bad = (0..if tr { cols } else { rows }).any(|r| {
                    (0..te_cols).any(|j| {
                        let v = if tile16 && tr {
                            ours[j * sc + r / 16]
                        } else if tile16 {
                            ours[(r / 16) * sc + j]
                        } else if tr {
                            ours[j * sc + r]
                        } else {
                            ours[r * sc + j]
                        };
                        v != te[r * te_cols + j]
                    })
                });
                assert!(!bad, "{set}: {key} scales differ from TE's ({sr}x{sc})");
            }
            let same = |key: &str, ours: &[f32]| {
                let want = b.get(&format!("{key}_{out}")).f32();
                let bad = ours.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                assert_eq!(bad, 0, "{set} {out} {key}: {bad} of {} outputs differ from TE's qgemm", want.len());
            };
            same("y", &l.y);
            same("dx", l.dx.as_ref().unwrap());
            // wgrad from lowp's copies with TE's column-wise amaxes in alpha
            // (x's a vector when row-scaled: one alpha per output column)
            let amaxes = |k: &str| b.get(&format!("{k}_amax_col")).f32();
            let bound = |c: Copy| if q(c).scheme().to_string().contains("4over6-max=256") { 256.0f32 } else { 448.0 };
            let factor = 6.0f32 * 6.0 * bound(Copy::DyCol) * bound(Copy::XCol);
            let alphas: Vec<f32> = amaxes("x").iter().map(|&ax| amaxes("dy")[0] * ax / factor).collect();
            let a = gemm_operand(&q(Copy::DyCol), Layout::KRows);
            let bb = gemm_operand(&q(Copy::XCol), Layout::KRows);
            let (a, bb) = if alphas.len() > 1 {
                (a.with_epilogue_global(Some(1.0)), bb.with_epilogue_rows(alphas).unwrap())
            } else {
                (a.with_epilogue_global(Some(alphas[0])), bb.with_epilogue_global(Some(1.0)))
            };
            let od: OutDtype = out.parse().unwrap();
            same("dw", &matmul_f32(&a, &bb, None, &"f32-blocked".parse().unwrap(), od).unwrap());
            // and linear's own wgrad, whose alpha comes from lowp's amaxes: TE's
            // transform is a 16-term f32 sum (error below 16·2^-24 of the sum of
            // the terms' magnitudes), so the amaxes agree to 2^-19 relative here
            // (checked), alpha to 2^-18 and the f32 outputs to 2^-17 (bf16: one ulp)
            let want = b.get(&format!("dw_{out}")).f32();
            let rel = if out == "f32" { 2f32.powi(-17) } else { 2f32.powi(-7) };
            for (g, e) in l.dw.as_ref().unwrap().iter().zip(&want) {
                assert!((g - e).abs() <= rel * e.abs(), "{set} {out} dw: {g} vs {e}");
            }
            for (k, c, shape) in [("x", Copy::XCol, [t, i]), ("dy", Copy::DyCol, [t, o])] {
                let tensor = if k == "x" { &x } else { &dy };
                let ours = lowp::block::global_amaxes(tensor, &shape, q(c).scheme()).unwrap();
                let te = amaxes(k);
                assert_eq!(ours.len(), te.len(), "{set} {k}: amaxes");
                for (ours, te) in ours.into_iter().zip(te) {
                    assert!((ours - te).abs() <= te * 2f32.powi(-19), "{set} {k}: amax {ours} vs TE {te}");
                    amax_off += (out == "f32" && ours != te) as usize;
                }
            }
            // the row-wise amaxes (no transform) are TE's exactly
            for (k, c, shape) in [("x", Copy::XRow, [t, i]), ("dy", Copy::DyRow, [t, o])] {
                let tensor = if k == "x" { &x } else { &dy };
                let ours = lowp::block::global_amaxes(tensor, &shape, q(c).scheme()).unwrap();
                assert_eq!(ours, b.get(&format!("{k}_amax_row")).f32(), "{set} {k}: row-wise amaxes");
            }
        }
    }
    eprintln!("column-wise amaxes that differ from TE's in their last bits: {amax_off}");
}

#[test]
fn keys_and_bad_input_are_one_clear_error() {
    let bad = [
        (
            "te-nvfp4@bogus=1",
            "unknown key 'bogus' for recipe te-nvfp4 (keys: sr, rht, accum, out, alpha, 4over6, 4over6-256, 4over6-err, row-scaled)",
        ),
        ("te-nvfp4@4over6=all", "needs @rht=off"),
        ("te-nvfp4@4over6=some", "some"),
        ("te-nvfp4@4over6-err=l1", "mae or mse"),
        ("te-mxfp8@row-scaled=on", "unknown key 'row-scaled'"),
        ("te-current@w2d=on", "unknown key 'w2d'"),
        ("te-mxfp8@alpha=scales", "unknown key 'alpha'"),
        ("te-delayed", "needs the amax history"),
        ("te-delayed@amax-x=1:x@amax-w=1@amax-dy=1", "amax values separated by ':'"),
        ("te-nvfp4@out=f16", "out takes bf16 or f32"),
        ("te-nvfp4@sr=maybe", "sr takes on or off"),
        ("te-nvfp4@alpha=mean", "alpha"),
        ("te-nvfp4@accum=sm42", "sm42"),
        ("te-fp16", "te-fp16"),
    ];
    for (spec, needle) in bad {
        let e = spec.parse::<Recipe>().unwrap_err().to_string();
        assert!(e.contains(needle), "{spec}: '{e}' lacks '{needle}'");
    }
    let (t, i, o) = (32, 64, 48);
    let (x, w, dy) = (data(t * i, 1, 1.0), data(o * i, 2, 0.05), data(t * o, 3, 0.01));
    let r: Recipe = "te-mxfp8".parse().unwrap();
    let shape_err = |x: &[f32], w: &[f32], dy: &[f32], dims: [usize; 3], r: &Recipe| {
        linear(x, w, Some(dy), dims, r, 0).unwrap_err().to_string()
    };
    assert!(shape_err(&x[1..], &w, &dy, [t, i, o], &r).contains("x has 2047 elements, not T·IN = 32·64 = 2048"));
    assert!(shape_err(&x, &w, &dy, [t, i, o + 1], &r).contains("W has 3072 elements, not OUT·IN = 49·64"));
    assert!(shape_err(&x, &w, &dy[..10], [t, i, o], &r).contains("dy has 10 elements"));
    // an RHT copy along T needs T divisible by 16
    let t2 = 24;
    let (x2, dy2) = (data(t2 * i, 4, 1.0), data(t2 * o, 5, 0.01));
    let e = shape_err(&x2, &w, &dy2, [t2, i, o], &"te-nvfp4".parse().unwrap());
    assert!(e.contains("x_col") && e.contains("divisible by 16"), "{e}");
    // …and without the transform it runs
    linear(&x2, &w, Some(&dy2), [t2, i, o], &"te-nvfp4@rht=off".parse().unwrap(), 0).unwrap();
    // empty tensors: the empty products
    let l = linear(&[], &[], Some(&[]), [0, 0, 0], &r, 0).unwrap();
    assert!(l.y.is_empty() && l.dx.unwrap().is_empty() && l.dw.unwrap().is_empty());
    // T = 0 with nonempty W: y and dx empty, dW all +0 (an empty sum)
    let l = linear(&[], &w, Some(&[]), [0, i, o], &r, 0).unwrap();
    assert!(l.y.is_empty() && l.dw.unwrap().iter().all(|v| v.to_bits() == 0));
}

/// The copy `c` of a linear layer's result.
fn copy_of(l: &lowp::recipe::Linear, c: Copy) -> QuantizedTensor {
    l.operands.iter().find(|(d, _)| *d == c).unwrap().1.clone()
}

#[test]
fn stochastic_rounding_is_reproducible_and_unbiased() {
    let (t, i, o) = (32, 32, 48);
    let (x, w, dy) = (data(t * i, 1, 1.0), data(o * i, 2, 0.05), data(t * o, 3, 0.01));
    let run = |spec: &str, seed: u64| linear(&x, &w, Some(&dy), [t, i, o], &spec.parse().unwrap(), seed).unwrap();
    let spec = "te-nvfp4@out=f32@accum=exact";
    let (a, b, c) = (run(spec, 5), run(spec, 5), run(spec, 6));
    assert_eq!(copy_of(&a, Copy::DyRow), copy_of(&b, Copy::DyRow), "same seed, same codes");
    assert_eq!(a.dx, b.dx);
    assert_ne!(copy_of(&a, Copy::DyRow).codes(), copy_of(&c, Copy::DyRow).codes(), "another seed, other codes");
    // only the gradients are rounded stochastically; x and W copies are the RNE ones
    let rne = run("te-nvfp4@out=f32@accum=exact@sr=off", 5);
    for cp in [Copy::XRow, Copy::XCol, Copy::WRow, Copy::WCol] {
        assert_eq!(copy_of(&a, cp), copy_of(&rne, cp), "{cp:?}");
    }
    assert_ne!(copy_of(&a, Copy::DyRow).codes(), copy_of(&rne, Copy::DyRow).codes());
    // the mean dgrad over seeds tends to dy·W_q (W as quantized), which RNE misses by a fixed bias
    let wq = gemm_values(&copy_of(&rne, Copy::WCol));
    let target = exact(&dy, false, &wq, true, t, i, o);
    let err = |d: &[f64]| d.iter().zip(&target).map(|(a, b)| (a - *b as f64).powi(2)).sum::<f64>();
    let n = 64;
    let mut mean = vec![0f64; t * i];
    for seed in 0..n {
        for (m, v) in mean.iter_mut().zip(run(spec, 100 + seed).dx.unwrap()) {
            *m += v as f64 / n as f64;
        }
    }
    let rne_dx: Vec<f64> = rne.dx.unwrap().iter().map(|&v| v as f64).collect();
    let (e_sr, e_rne) = (err(&mean), err(&rne_dx));
    eprintln!("squared error of dgrad vs dy·W_q: mean of {n} SR runs {e_sr:.3e}, RNE {e_rne:.3e}");
    assert!(e_sr < e_rne / 8.0, "SR mean {e_sr:e} vs RNE {e_rne:e}");
}

/// DeepGEMM's own test criterion (`calc_diff` of the kernel output against the
/// f32 product of the unquantized BF16 inputs below 1e-3, its `tests/test_core.py`)
/// holds for `deepseek-v3`'s three GEMMs and for a grouped contiguous GEMM with
/// the same quantizers, on N(0, 1) inputs rounded to BF16 as the tests make them.
#[test]
fn deepseek_v3_meets_deepgemm_test_criterion() {
    let bf16 = |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|x| half::bf16::from_f32(x).to_f32()).collect() };
    let (t, i, o) = (128, 512, 256);
    let (x, w, dy) = (bf16(data(t * i, 21, 1.0)), bf16(data(o * i, 22, 1.0)), bf16(data(t * o, 23, 1.0)));
    let errs = lowp::recipe::recipe_errors(&x, &w, Some(&dy), [t, i, o], &"deepseek-v3".parse().unwrap(), 0).unwrap();
    for e in &errs {
        assert!(e.calc_diff < 1e-3, "{}: calc_diff {}", e.gemm, e.calc_diff);
    }
    // m-grouped contiguous: groups of 128-aligned rows, one padding run, per-group
    // 1x128 activations and 128x128 weights
    let (k, n, g) = (512, 128, 3);
    let group_of_row: Vec<i64> =
        [0i64; 128].into_iter().chain([-1; 128]).chain([2; 200]).chain([-1; 56]).chain([1; 128]).collect();
    let m = group_of_row.len();
    let (a, b) = (bf16(data(m * k, 24, 1.0)), bf16(data(g * n * k, 25, 1.0)));
    let (sa, sb) =
        ("fp8-block@like=deepgemm".parse().unwrap(), "fp8-block@like=deepgemm@block=128x128".parse().unwrap());
    let groups = lowp::matmul::Groups::Contiguous { group_of_row: group_of_row.clone(), align: 128 };
    let (d, _) = lowp::matmul::grouped_matmul(
        &a,
        &[m, k],
        &b,
        &[g, n, k],
        &groups,
        &sa,
        &sb,
        &"sm90".parse().unwrap(),
        OutDtype::Bf16,
    )
    .unwrap();
    let (mut xy, mut xx_yy) = (0f64, 0f64);
    for (r, &gi) in group_of_row.iter().enumerate() {
        for c in 0..n {
            let y = d[r * n + c] as f64;
            let want = if gi < 0 {
                0.0
            } else {
                let gb = gi as usize * n * k + c * k;
                (0..k).map(|j| a[r * k + j] as f64 * b[gb + j] as f64).sum::<f64>()
            };
            xy += y * want;
            xx_yy += y * y + want * want;
        }
    }
    let calc_diff = 1.0 - 2.0 * xy / xx_yy;
    assert!(calc_diff < 1e-3, "grouped contiguous: calc_diff {calc_diff}");
}
