//! MX quantization against torchao 0.18 `to_mx` (all four `ScaleCalculationMode`s)
//! and microsoft/microxcaling (`nearest` and `even` rounding), five element
//! formats, every golden input set, block 32 along the last axis.
//!
//! torchao: scales match everywhere; codes match in every block except where
//! torchao is known to be wrong or arbitrary (golden README items 5 and 8), and
//! those are counted, not skipped silently:
//! * scale 255 (NaN amax): the block dequantizes to NaN; torchao's codes there are
//!   by-products (±0 for FLOOR/CEIL/EVEN, NaN or garbage for RCEIL);
//! * scale 0 (2^-127): torchao FLOOR/CEIL/EVEN scale by 2^126 instead of 2^127 and
//!   RCEIL by 1, so its codes are halved / zero; lowp uses the true 2^127.
//!
//! microxcaling: with the bug-compatible `scale-rule=floor-log2` every scale
//! matches; the `microxcaling` preset (exact FLOOR) differs exactly in the blocks
//! whose amax lies just below a power of two. Codes are compared wherever the
//! scales agree and are finite; the differences (microxcaling's f32
//! `floor(|y| + 0.5)`) are counted and each one checked to be such a case.

mod common;
use common::Bundle;
use lowp::block::{QuantizedTensor, Scheme, quantize};
use lowp::scale::MxScaleRule;
use std::path::Path;

const ELEMS: &[(&str, &str)] = &[
    ("e4m3", "mxfp8-e4m3"),
    ("e5m2", "mxfp8-e5m2"),
    ("e2m3", "mxfp6-e2m3"),
    ("e3m2", "mxfp6-e3m2"),
    ("e2m1", "mxfp4"),
];
const SETS: &[&str] = &[
    "normal",
    "heavy",
    "zeros",
    "extremes",
    "nonfinite",
    "ties_e4m3",
    "ties_e5m2",
    "ties_e2m3",
    "ties_e3m2",
    "ties_e2m1",
];
/// torchao's mode name and the lowp rule that reproduces it.
const MODES: &[(&str, MxScaleRule)] = &[
    ("floor", MxScaleRule::Floor),
    ("ceil", MxScaleRule::Ceil),
    ("even", MxScaleRule::Even),
    ("rceil", MxScaleRule::RceilTorchao),
];

fn q(x: &[f32], rows: usize, cols: usize, spec: &str) -> QuantizedTensor {
    quantize(x, &[rows, cols], &spec.parse::<Scheme>().unwrap()).unwrap()
}

#[test]
fn mx_scales_and_codes_match_torchao() {
    let (mut scales_checked, mut codes_checked, mut excused_nan, mut excused_zero) = (0, 0, 0usize, 0usize);
    for set in SETS {
        let b = Bundle::open(&format!("mx_torchao_{set}"));
        let x = b.get("input").f32();
        let (rows, cols) = (b.get("input").shape[0], b.get("input").shape[1]);
        for (short, scheme) in ELEMS {
            for &(mode, rule) in MODES {
                let key = format!("{short}_{mode}");
                if !b.has(&format!("{key}_scale")) {
                    continue;
                }
                let want_s = b.get(&format!("{key}_scale")).u8();
                let want_c = b.get(&format!("{key}_code")).u8();
                let q = q(&x, rows, cols, &format!("{scheme}@like=torchao@scale-rule={rule}"));
                let scales = q.scales().bytes().unwrap();
                let bad_s = scales.iter().zip(&want_s).filter(|(a, b)| a != b).count();
                assert_eq!(bad_s, 0, "{set} {key}: {bad_s} of {} scales differ", want_s.len());
                scales_checked += want_s.len();
                let mut bad_c = 0;
                for (i, (&got, &want)) in q.codes().iter().zip(&want_c).enumerate() {
                    let s = scales[(i / cols) * (cols / 32) + (i % cols) / 32];
                    if s == 255 || s == 0 {
                        if got != want {
                            if s == 255 { excused_nan += 1 } else { excused_zero += 1 }
                        }
                        continue;
                    }
                    codes_checked += 1;
                    if got != want {
                        bad_c += 1;
                        if bad_c <= 3 {
                            eprintln!(
                                "{set} {key}: element {i} x={:e} scale {s} ours {got:#x} torchao {want:#x}",
                                x[i]
                            );
                        }
                    }
                }
                assert_eq!(bad_c, 0, "{set} {key}: {bad_c} codes differ");
            }
        }
    }
    eprintln!(
        "{scales_checked} scales and {codes_checked} codes match; differing codes in NaN-scale blocks: {excused_nan}, in 2^-127-scale blocks: {excused_zero}"
    );
    assert!(codes_checked > 500_000);
}

/// Per-set counts of the microxcaling comparison.
#[derive(Default, Debug)]
struct Mxc {
    scales: usize,
    preset_scale_diffs: usize,
    codes: usize,
    code_diffs: usize,
    neg_zero: usize,
    inf_out: usize,
    deq: usize,
}

impl Mxc {
    fn add(&mut self, n: &Mxc) {
        self.scales += n.scales;
        self.preset_scale_diffs += n.preset_scale_diffs;
        self.codes += n.codes;
        self.code_diffs += n.code_diffs;
        self.neg_zero += n.neg_zero;
        self.inf_out += n.inf_out;
        self.deq += n.deq;
    }
}

/// Compares one microxcaling bundle (`input` read from `input_dir`'s torchao bundle
/// when the microxcaling one has none).
fn microxcaling(b: &Bundle, x: &[f32], cols: usize) -> Mxc {
    let mut n = Mxc::default();
    for (short, scheme) in ELEMS {
        for (round, rounding) in [("nearest", "away"), ("even", "rne")] {
            let key = format!("{short}_{round}");
            if !b.has(&format!("{key}_scale")) {
                continue;
            }
            let want_s = b.get(&format!("{key}_scale")).u8();
            let want_c = b.get(&format!("{key}_code")).u8();
            let rows = want_s.len() * 32 / cols;
            let x = &x[..rows * cols];
            let compat =
                q(x, rows, cols, &format!("{scheme}@like=microxcaling@rounding={rounding}@scale-rule=floor-log2"));
            let preset = q(x, rows, cols, &format!("{scheme}@like=microxcaling@rounding={rounding}"));
            let (sc, sp) = (compat.scales().bytes().unwrap(), preset.scales().bytes().unwrap());
            let deq = compat.dequantize();
            let bad = sc.iter().zip(&want_s).filter(|(a, b)| a != b).count();
            assert_eq!(bad, 0, "{} {key}: {bad} scales differ with floor-log2", b.name);
            n.scales += want_s.len();
            n.preset_scale_diffs += sp.iter().zip(&want_s).filter(|(a, b)| a != b).count();
            for (i, (&got, &want)) in compat.codes().iter().zip(&want_c).enumerate() {
                let s = sc[i / 32];
                if s == 255 {
                    continue;
                }
                n.codes += 1;
                if got != want {
                    // microxcaling's f32 `floor(|y|·2^k + 0.5)` rounds a value within an
                    // f32 ulp below a rounding boundary up: the reference's code is the
                    // next one up in magnitude, and |x| / scale is just below the midpoint.
                    let fmt = match compat.scheme().kind {
                        lowp::block::SchemeKind::Mx(o) => o.elem,
                        _ => unreachable!(),
                    };
                    let (g, w) = (fmt.decode(got).abs(), fmt.decode(want).abs());
                    if deq[i].is_infinite() && (w.is_nan() || w == fmt.range().max) {
                        // element·scale overflows f32 and microxcaling outputs that Inf
                        // (golden README item 6); the golden code is ml_dtypes' cast of
                        // Inf/scale (NaN, or max for FP6/FP4); lowp keeps the finite
                        // element, whose dequantized value is the same Inf
                        n.inf_out += 1;
                        continue;
                    }
                    if g == 0.0 && w == 0.0 {
                        // microxcaling returns +0 for -0 (torch.sign(-0.0) is 0)
                        n.neg_zero += 1;
                        continue;
                    }
                    let y = (x[i] / lowp::scale::e8m0_to_f32(s)).abs();
                    let mid = (g + w) / 2.0;
                    assert!(
                        w > g && y < mid && (mid - y) <= mid * 2f32.powi(-22),
                        "{} {key}: element {i} x={:e} scale {s}: ours {got:#x} ({g}) microxcaling {want:#x} ({w})",
                        b.name,
                        x[i]
                    );
                    n.code_diffs += 1;
                }
            }
            if b.has(&format!("{key}_deq")) {
                let want_d = b.get(&format!("{key}_deq")).f32();
                for (i, (g, w)) in deq.iter().zip(&want_d).enumerate() {
                    if compat.codes()[i] == want_c[i] && sc[i / 32] != 255 {
                        assert!(
                            common::same_f32(*g, *w) || (*g == 0.0 && *w == 0.0),
                            "{} {key}: deq {i}: ours {g:e} microxcaling {w:e}",
                            b.name
                        );
                        n.deq += 1;
                    }
                }
            }
        }
    }
    n
}

#[test]
fn mx_matches_microxcaling() {
    let mut total = Mxc::default();
    for set in SETS {
        let t = Bundle::open(&format!("mx_torchao_{set}"));
        let cols = t.get("input").shape[1];
        let n = microxcaling(&Bundle::open(&format!("mx_microxcaling_{set}")), &t.get("input").f32(), cols);
        eprintln!("{set}: {n:?}");
        total.add(&n);
    }
    eprintln!("microxcaling fixtures: {total:?}");
    assert!(total.codes > 300_000);
}

/// Dequantized values too, over the full shared golden set:
/// `LOWP_GOLDEN_DIR=<golden dir> cargo test --release --test golden_mx -- --ignored --nocapture`.
#[test]
#[ignore = "needs LOWP_GOLDEN_DIR pointing at the full golden set (docs/references.md)"]
fn mx_microxcaling_full_set() {
    let dir = std::env::var("LOWP_GOLDEN_DIR").expect("set LOWP_GOLDEN_DIR");
    let mut total = Mxc::default();
    for set in SETS {
        let b = Bundle::open_in(Path::new(&dir), &format!("mx_microxcaling_{set}"));
        let cols = b.get("input").shape[1];
        let n = microxcaling(&b, &b.get("input").f32(), cols);
        eprintln!("{set}: {n:?}");
        total.add(&n);
    }
    eprintln!("microxcaling full set: {total:?}");
}

#[test]
fn ragged_rows_and_bad_shapes() {
    let x: Vec<f32> = (0..70).map(|i| (i as f32 - 35.0) * 0.37).collect();
    let s: Scheme = "mxfp8-e4m3".parse().unwrap();
    let q = quantize(&x, &[2, 35], &s).unwrap();
    assert_eq!(q.scale_shape(), vec![2, 2]); // ceil(35/32) = 2 blocks per row
    // the short block's scale comes from its own 3 elements
    let tail = &x[32..35];
    let amax = tail.iter().fold(0f32, |m, v| m.max(v.abs()));
    let e4m3 = lowp::format::ElemFormat::E4M3FN.spec();
    assert_eq!(q.scales().bytes().unwrap()[1], lowp::scale::mx_scale_e8m0(amax, e4m3, MxScaleRule::Floor));
    assert!(quantize(&x, &[3, 35], &s).is_err());
    assert!("mxfp8-e4m3@block=0".parse::<Scheme>().is_err());
    assert!(quantize(&[], &[0, 0], &s).unwrap().codes().is_empty());
    assert!(quantize(&x, &[2, 35], &"mxfp8-e4m3@axis=2".parse::<Scheme>().unwrap()).is_err());
}
