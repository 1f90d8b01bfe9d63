//! FP8 tile scaling against the DeepSeek/DeepGEMM reference formulas as run by the
//! golden generator (torch 2.15 CPU): 1×128 token tiles and 128×128 block tiles,
//! formulas v1 and v2, f32 and ue8m0 scales, including a ragged 200×300 input.

mod common;
use common::{Bundle, same_f32};
use lowp::block::{Scheme, quantize};
use std::path::Path;

fn check(b: &Bundle) -> usize {
    let x = b.get("input").f32();
    let (rows, cols) = (b.get("input").shape[0], b.get("input").shape[1]);
    let mut checked = 0;
    for (tile, block) in [("token", "1x128"), ("block", "128x128")] {
        for (v, opts) in [
            ("v1", "formula=deepseek-v1"),
            ("v2", "formula=deepseek"),
            ("v2_ue8m0", "formula=deepseek@scale-format=ue8m0"),
        ] {
            let key = format!("{tile}_{v}");
            if !b.has(&format!("{key}_code")) {
                continue;
            }
            let spec = format!("fp8-block@like=deepgemm@block={block}@{opts}");
            let q = quantize(&x, &[rows, cols], &spec.parse::<Scheme>().unwrap()).unwrap();
            let want_c = b.get(&format!("{key}_code")).u8();
            let want_s = b.get(&format!("{key}_scale")).f32();
            let bad_c = q.codes().iter().zip(&want_c).filter(|(a, b)| a != b).count();
            assert_eq!(bad_c, 0, "{} {key}: {bad_c} codes differ", b.name);
            // the fixture may hold the first rows of the tile grid only
            for (i, w) in want_s.iter().enumerate() {
                let got = q.scales().value(i);
                assert!(same_f32(got, *w), "{} {key}: scale {i} ours {got} ref {w}", b.name);
            }
            checked += want_c.len() + want_s.len();
        }
    }
    checked
}

#[test]
fn fp8_tiles_match_deepgemm_formulas() {
    let n = check(&Bundle::open("deepseek_fp8_ragged")) + check(&Bundle::open("deepseek_fp8_extreme"));
    assert!(n > 300_000, "{n}");
}

/// The full golden set including `randn`:
/// `LOWP_GOLDEN_DIR=<golden dir> cargo test --release --test golden_fp8_block -- --ignored`.
#[test]
#[ignore = "needs LOWP_GOLDEN_DIR pointing at the full golden set (docs/references.md)"]
fn fp8_tiles_full_set() {
    let dir = std::env::var("LOWP_GOLDEN_DIR").expect("set LOWP_GOLDEN_DIR");
    for set in ["randn", "extreme", "ragged"] {
        let n = check(&Bundle::open_in(Path::new(&dir), &format!("deepseek_fp8_{set}")));
        eprintln!("deepseek_fp8_{set}: {n} codes and scales match");
    }
}
