//! `lowp compare` metrics against an independent computation from the golden
//! references' own codes and scales, and its handling of bad files.

mod common;
use common::{Bundle, safetensors};
use lowp::block::{Scheme, quantize};
use lowp::compare::measure;
use std::process::Command;

/// SQNR / MSE / max errors of torchao's MX quantization of the golden inputs,
/// computed here from torchao's codes and E8M0 scales (decode with an explicit
/// table of the e4m3fn / e2m1 grid), equal lowp's metrics of its own quantization
/// (which matches torchao's codes, see golden_mx.rs) to 1e-9 relative.
#[test]
fn metrics_equal_independent_computation_from_golden_codes() {
    // e4m3fn value of a code, written out from the format definition
    let e4m3 = |c: u8| -> f64 {
        let (s, e, m) = ((c >> 7) as i32, ((c >> 3) & 0xF) as i32, (c & 7) as f64);
        let v = if e == 0 { m / 8.0 * 2f64.powi(-6) } else { (1.0 + m / 8.0) * 2f64.powi(e - 7) };
        if s == 1 { -v } else { v }
    };
    let e2m1 = |c: u8| -> f64 {
        let v = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0][(c & 7) as usize];
        if c & 8 != 0 { -v } else { v }
    };
    for set in ["normal", "heavy"] {
        let b = Bundle::open(&format!("mx_torchao_{set}"));
        let x = b.get("input").f32();
        let (rows, cols) = (b.get("input").shape[0], b.get("input").shape[1]);
        for (key, scheme, dec) in
            [("e4m3_floor", "mxfp8-e4m3", &e4m3 as &dyn Fn(u8) -> f64), ("e2m1_floor", "mxfp4", &e2m1)]
        {
            let codes = b.get(&format!("{key}_code")).u8();
            let scales = b.get(&format!("{key}_scale")).u8();
            let (mut sig, mut err, mut max_abs) = (0f64, 0f64, 0f64);
            for (i, (&xv, &c)) in x.iter().zip(&codes).enumerate() {
                let s = scales[(i / cols) * (cols / 32) + (i % cols) / 32];
                // f32 dequantization as torchao does it: fl32(elem · 2^(s-127))
                let y = (dec(c) as f32 * 2f32.powi(s as i32 - 127)) as f64;
                sig += xv as f64 * xv as f64;
                err += (y - xv as f64).powi(2);
                max_abs = max_abs.max((y - xv as f64).abs());
            }
            let want_sqnr = 10.0 * (sig / err).log10();
            let q = quantize(&x, &[rows, cols], &format!("{scheme}@like=torchao").parse::<Scheme>().unwrap()).unwrap();
            let m = measure(&x, &q);
            let rel = |a: f64, b: f64| ((a - b) / b).abs();
            assert!(rel(m.sqnr_db(), want_sqnr) < 1e-9, "{set} {key}: {} vs {want_sqnr}", m.sqnr_db());
            assert!(rel(m.mse(), err / x.len() as f64) < 1e-9, "{set} {key}: mse");
            assert_eq!(m.max_abs_err, max_abs, "{set} {key}");
            eprintln!("{set} {key}: SQNR {want_sqnr:.6} dB");
        }
    }
}

fn lowp(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lowp")).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn compare_reads_safetensors_and_reports_bad_tensors() {
    let dir = std::env::temp_dir().join(format!("lowp_cmp_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f32s: Vec<u8> = (0..256).flat_map(|i| ((i as f32 * 0.1).sin()).to_le_bytes()).collect();
    let bf16s: Vec<u8> = (0..64).flat_map(|i| half::bf16::from_f32(i as f32 - 30.0).to_le_bytes()).collect();
    let good = dir.join("m.safetensors");
    std::fs::write(
        &good,
        safetensors(&[
            ("a.weight", "F32", vec![4, 64], f32s.clone()),
            ("b.weight", "BF16", vec![2, 32], bf16s),
            ("c.int", "I32", vec![4], vec![0; 16]),
            ("d.empty", "F32", vec![0, 8], vec![]),
        ]),
    )
    .unwrap();
    let (rc, out, err) = lowp(&["compare", "--schemes", "mxfp8-e4m3,nvfp4", "--json", good.to_str().unwrap()]);
    assert_eq!(rc, 1, "{err}");
    assert_eq!(out.lines().count(), 6, "{out}"); // 2 tensors × 2 schemes + 2 aggregates
    assert!(out.contains("\"tensor\":\"a.weight\",\"scheme\":\"mxfp8-e4m3\""));
    assert!(err.contains("c.int") && err.contains("dtype I32 is not a float type"), "{err}");
    assert!(err.contains("d.empty") && err.contains("empty"), "{err}");
    // only the good tensors: success
    let (rc, _, _) = lowp(&["compare", "--tensors", "*.weight", good.to_str().unwrap()]);
    assert_eq!(rc, 0);
    // truncated file: one line naming the file, exit 1
    let bytes = std::fs::read(&good).unwrap();
    let trunc = dir.join("t.safetensors");
    std::fs::write(&trunc, &bytes[..bytes.len() - 100]).unwrap();
    let (rc, _, err) = lowp(&["compare", trunc.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains("t.safetensors") && err.contains("truncated"), "{err}");
    // corrupt header, glob with no match, unknown scheme
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    assert_eq!(lowp(&["compare", bad.to_str().unwrap()]).0, 1);
    assert_eq!(lowp(&["compare", "--tensors", "nothing*", good.to_str().unwrap()]).0, 1);
    assert_eq!(lowp(&["compare", "--schemes", "mxfp9"]).0, 1);
    // the built-in sample with plots
    let plots = dir.join("plots");
    let (rc, out, _) = lowp(&["compare", "--csv", "--plot", plots.to_str().unwrap()]);
    assert_eq!(rc, 0);
    assert!(out.starts_with("tensor,scheme,sqnr_db"));
    assert!(std::fs::read_to_string(plots.join("sqnr.svg")).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&dir).ok();
}
