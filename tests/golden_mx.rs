//! MX quantization against torchao 0.18 `to_mx` (all four `ScaleCalculationMode`s,
//! five element formats, every golden input set; block 32 along the last axis).
//!
//! Scales must match everywhere. Codes must match in every block except where
//! torchao is known to be wrong or arbitrary (see golden README items 5 and 8), and
//! those blocks are counted, not skipped silently:
//! * scale 255 (NaN amax): the block dequantizes to NaN; torchao's codes there are
//!   by-products (±0 for FLOOR/CEIL/EVEN, NaN or garbage for RCEIL);
//! * scale 0 (2^-127): torchao FLOOR/CEIL/EVEN scale by 2^126 instead of 2^127 and
//!   RCEIL by 1, so its codes are halved / zero; lowp uses the true 2^127.

mod common;
use common::Bundle;
use lowp::block::{MxOptions, quantize_mx};
use lowp::format::ElemFormat;
use lowp::scale::MxScaleRule;

const ELEMS: &[(&str, ElemFormat)] = &[
    ("e4m3", ElemFormat::E4M3FN),
    ("e5m2", ElemFormat::E5M2),
    ("e2m3", ElemFormat::E2M3FN),
    ("e3m2", ElemFormat::E3M2FN),
    ("e2m1", ElemFormat::E2M1FN),
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

#[test]
fn mx_scales_and_codes_match_torchao() {
    let (mut scales_checked, mut codes_checked, mut excused_nan, mut excused_zero) = (0, 0, 0usize, 0usize);
    for set in SETS {
        let b = Bundle::open(&format!("mx_torchao_{set}"));
        let x = b.get("input").f32();
        let (rows, cols) = (b.get("input").shape[0], b.get("input").shape[1]);
        for (short, fmt) in ELEMS {
            for &(mode, rule) in MODES {
                let key = format!("{short}_{mode}");
                if !b.has(&format!("{key}_scale")) {
                    continue;
                }
                let want_s = b.get(&format!("{key}_scale")).u8();
                let want_c = b.get(&format!("{key}_code")).u8();
                let q = quantize_mx(&x, rows, cols, &MxOptions { rule, ..MxOptions::new(*fmt) }).unwrap();
                let bad_s = q.scales.iter().zip(&want_s).filter(|(a, b)| a != b).count();
                assert_eq!(bad_s, 0, "{set} {key}: {bad_s} of {} scales differ", want_s.len());
                scales_checked += want_s.len();
                let mut bad_c = 0;
                for (i, (&got, &want)) in q.codes.iter().zip(&want_c).enumerate() {
                    let s = q.scales[(i / cols) * (cols / 32) + (i % cols) / 32];
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

#[test]
fn ragged_rows_and_bad_shapes() {
    let x: Vec<f32> = (0..70).map(|i| (i as f32 - 35.0) * 0.37).collect();
    let o = MxOptions::new(ElemFormat::E4M3FN);
    let q = quantize_mx(&x, 2, 35, &o).unwrap();
    assert_eq!(q.scales.len(), 4); // ceil(35/32) = 2 blocks per row
    // the short block's scale comes from its own 3 elements
    let tail = &x[32..35];
    let amax = tail.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert_eq!(q.scales[1], lowp::scale::mx_scale_e8m0(amax, ElemFormat::E4M3FN.spec(), o.rule));
    assert!(quantize_mx(&x, 3, 35, &o).is_err());
    assert!(quantize_mx(&x, 2, 35, &MxOptions { block: 0, ..o }).is_err());
    assert!(quantize_mx(&[], 0, 0, &o).unwrap().codes.is_empty());
}
