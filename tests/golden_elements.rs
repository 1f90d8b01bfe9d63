//! Element casts against ml_dtypes 0.6.0 (`--like ml_dtypes-0.6`) and torch 2.15 (tests/fixtures/elem_*,
//! extracted from the full golden set by scripts/extract_fixtures.py).
//!
//! Every expected code and value here was produced by the reference library, never by lowp.

mod common;
use common::{Bundle, same_f32};
use lowp::convert::{CastOptions, Like, decode_table, encode_slice};
use lowp::format::ElemFormat;
use std::path::Path;

const TYPES: &[(&str, ElemFormat)] = &[
    ("float8_e4m3fn", ElemFormat::E4M3FN),
    ("float8_e5m2", ElemFormat::E5M2),
    ("float8_e4m3fnuz", ElemFormat::E4M3FNUZ),
    ("float8_e5m2fnuz", ElemFormat::E5M2FNUZ),
    ("float6_e2m3fn", ElemFormat::E2M3FN),
    ("float6_e3m2fn", ElemFormat::E3M2FN),
    ("float4_e2m1fn", ElemFormat::E2M1FN),
    ("float8_e8m0fnu", ElemFormat::E8M0FNU),
];

/// Checks one bundle; returns (elements checked, mismatches) and prints the first few.
fn check_bundle(b: &Bundle, fmt: ElemFormat) -> (usize, usize) {
    let mut checked = 0;
    let mut bad = 0;
    // decode table: every code
    let table = b.get("decode_table").f32();
    let ours = decode_table(fmt);
    for (c, &v) in table.iter().enumerate() {
        checked += 1;
        if !same_f32(ours[c], v) {
            bad += 1;
            eprintln!("{fmt}: decode {c:#x}: ours {} ml_dtypes {v}", ours[c]);
        }
    }
    let ml = Like::MlDtypes06.cast_options(fmt).unwrap();
    for set in ["special", "random"] {
        let x = b.get(&format!("{set}_in")).f32();
        let mut run = |opts: &CastOptions, want: &[u8], who: &str| {
            let mut got = vec![0u8; x.len()];
            encode_slice(fmt, &x, &mut got, opts).unwrap();
            for i in 0..x.len() {
                checked += 1;
                if got[i] != want[i] {
                    bad += 1;
                    if bad < 12 {
                        eprintln!(
                            "{fmt} {set} {who}: x={:e} ({:#010x}) ours {:#04x} ref {:#04x}",
                            x[i],
                            x[i].to_bits(),
                            got[i],
                            want[i]
                        );
                    }
                }
            }
        };
        run(&ml, &b.get(&format!("{set}_code")).u8(), "ml_dtypes");
        if b.has(&format!("{set}_torch_code")) {
            let torch = Like::Torch.cast_options(fmt).unwrap();
            run(&torch, &b.get(&format!("{set}_torch_code")).u8(), "torch");
        }
        // decoded values of ml_dtypes' codes
        let out = b.get(&format!("{set}_out")).f32();
        let codes = b.get(&format!("{set}_code")).u8();
        for (c, v) in codes.iter().zip(&out) {
            checked += 1;
            if !same_f32(ours[*c as usize], *v) {
                bad += 1;
            }
        }
    }
    (checked, bad)
}

#[test]
fn golden_elements_match_ml_dtypes_and_torch() {
    let mut total = 0;
    for (name, fmt) in TYPES {
        let b = Bundle::open(&format!("elem_{name}"));
        let (n, bad) = check_bundle(&b, *fmt);
        assert_eq!(bad, 0, "{name}: {bad} mismatches of {n}");
        total += n;
    }
    assert!(total > 100_000, "fixtures too small: {total}");
}

/// The full golden set (200k random inputs per type): run with
/// `LOWP_GOLDEN_DIR=<golden dir> cargo test --release --test golden_elements -- --ignored`.
#[test]
#[ignore = "needs LOWP_GOLDEN_DIR pointing at the full golden set (docs/references.md)"]
fn golden_elements_full_set() {
    let dir = std::env::var("LOWP_GOLDEN_DIR").expect("set LOWP_GOLDEN_DIR");
    let mut total = 0;
    for (name, fmt) in TYPES {
        let b = Bundle::open_in(Path::new(&dir), &format!("elem_{name}"));
        let (n, bad) = check_bundle(&b, *fmt);
        eprintln!("{name}: {n} checks, {bad} mismatches");
        assert_eq!(bad, 0, "{name}");
        total += n;
    }
    eprintln!("total {total} checks");
}
