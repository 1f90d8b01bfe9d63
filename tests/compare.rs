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
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.iter().any(|r| r["tensor"] == "a.weight" && r["scheme"] == "mxfp8-e4m3"), "{out}");
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
    assert!(out.starts_with("tensor,file,shape,dtype,amax,rms,kurtosis,outliers,nonfinite,scheme,sqnr_db"), "{out}");
    assert!(std::fs::read_to_string(plots.join("sqnr.svg")).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&dir).ok();
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn json_rows(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// What a researcher reads off the table: each tensor's shape, dtype and
/// statistics (against closed forms), non-finite values counted and warned
/// about without poisoning the row, a scheme that cannot apply to one tensor
/// reported for that tensor only, several globs, several files told apart, and
/// every column explained by `--help`.
#[test]
fn compare_explains_tensors_and_reports_per_tensor_failures() {
    let dir = std::env::temp_dir().join(format!("lowp_cmp_r_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // ±1: kurtosis exactly 1, rms 1; Bernoulli(p = 1/1000): kurtosis 3 + (1 − 6pq)/(pq), one outlier
    let pm1: Vec<f32> = (0..256).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let bern: Vec<f32> = (0..1000).map(|i| if i == 417 { 1.0 } else { 0.0 }).collect();
    let mut nan: Vec<f32> = (0..64).map(|i| (i as f32 * 0.3).sin()).collect();
    nan[5] = f32::NAN;
    let k33: Vec<f32> = (0..66).map(|i| (i as f32 * 0.7).cos()).collect();
    let file = dir.join("m.safetensors");
    std::fs::write(
        &file,
        safetensors(&[
            ("a.pm1", "F32", vec![4, 64], f32_bytes(&pm1)),
            ("b.bern", "F32", vec![10, 100], f32_bytes(&bern)),
            ("c.nan", "F32", vec![2, 32], f32_bytes(&nan)),
            ("d.k33", "F32", vec![2, 33], f32_bytes(&k33)),
        ]),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (rc, out, err) = lowp(&["compare", "--schemes", "mxfp4,nvfp4@rht=on", "--json", f]);
    assert_eq!(rc, 0, "{err}");
    let rows = json_rows(&out);
    let row = |t: &str, s: &str| rows.iter().find(|r| r["tensor"] == t && r["scheme"] == s).unwrap().clone();
    let a = row("a.pm1", "mxfp4");
    assert_eq!((a["shape"].clone(), a["dtype"].as_str()), (serde_json::json!([4, 64]), Some("F32")));
    assert_eq!((a["amax"].as_f64(), a["rms"].as_f64(), a["kurtosis"].as_f64()), (Some(1.0), Some(1.0), Some(1.0)));
    let b = row("b.bern", "mxfp4");
    let pq = 0.001 * 0.999;
    let want = 3.0 + (1.0 - 6.0 * pq) / pq;
    assert!((b["kurtosis"].as_f64().unwrap() - want).abs() < 1e-9 * want, "{b}");
    assert_eq!(b["outliers"], 1);
    // one NaN: counted, the metrics over the 63 finite elements, a warning
    let c = row("c.nan", "mxfp4");
    assert_eq!((c["nonfinite"].as_u64(), c["elements"].as_u64()), (Some(1), Some(63)));
    assert!(c["sqnr_db"].as_f64().is_some_and(|v| v > 10.0), "{c}");
    assert!(err.contains("'c.nan' has 1 non-finite value(s)"), "{err}");
    // K = 33: the RHT scheme does not apply to this tensor only
    let d = row("d.k33", "nvfp4@rht=on");
    assert!(d["unsupported"].as_str().is_some_and(|e| e.contains("16")), "{d}");
    assert!(row("d.k33", "mxfp4")["unsupported"].is_null());
    assert!(row("a.pm1", "nvfp4@rht=on")["unsupported"].is_null());
    assert!(err.contains("nvfp4@rht=on does not apply to 'd.k33'"), "{err}");
    // rows of 100 do not take RHT either; the (all) rows leave the failed rows out
    assert!(row("b.bern", "nvfp4@rht=on")["unsupported"].is_string());
    let all = row("(all)", "nvfp4@rht=on");
    assert_eq!(all["elements"].as_u64(), Some(256 + 63));
    // several globs; two files told apart; the table has every column
    let (rc, out, _) = lowp(&["compare", "--schemes", "mxfp4", "--json", "--tensors", "a.*,c.*", f]);
    assert_eq!(rc, 0);
    let names: Vec<String> = json_rows(&out).iter().map(|r| r["tensor"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["a.pm1", "c.nan", "(all)"]);
    let copy = dir.join("n.safetensors");
    std::fs::copy(&file, &copy).unwrap();
    let (rc, out, _) =
        lowp(&["compare", "--schemes", "mxfp4", "--json", "--tensors", "a.pm1", f, copy.to_str().unwrap()]);
    assert_eq!(rc, 0);
    let names: Vec<String> = json_rows(&out).iter().map(|r| r["tensor"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, [format!("{f}:a.pm1"), format!("{}:a.pm1", copy.display()), "(all)".into()]);
    let (rc, table, _) = lowp(&["compare", "--schemes", "mxfp4,nvfp4@rht=on", f]);
    assert_eq!(rc, 0);
    let head = table.lines().next().unwrap();
    for col in ["tensor", "shape", "dtype", "amax", "kurt", ">6sd", "non-fin", "scheme", "SQNR dB", "saturated", "bits"]
    {
        assert!(head.contains(col), "{head}");
    }
    assert!(table.lines().any(|l| l.contains("d.k33") || l.contains("n/a:")), "{table}");
    assert!(table.contains("n/a: "), "{table}");
    let (_, help, _) = lowp(&["compare", "--help"]);
    for what in ["saturated", "flushed", "clip blk", "max rel", "kurtosis", "bits", "non-fin"] {
        assert!(help.contains(what), "--help does not explain {what}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A quantized checkpoint compared as stored: its `stored:<convention>` row
/// against the master copy equals the SQNR and errors computed here from the
/// generator's own loader values and masters (tests/fixtures/checkpoints), and
/// without a master the stored values are the reference (and the stored bits
/// are the codes', scales' and global scale's bytes).
#[test]
fn compare_stored_quantization_against_master() {
    use safetensors::SafeTensors;
    let dir = common::fixtures_dir().join("checkpoints");
    let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
    for (name, conv) in
        [("modelopt_nvfp4", "modelopt-nvfp4"), ("deepseek_fp8", "deepseek-fp8"), ("gpt_oss_hf", "gpt-oss-mxfp4")]
    {
        let ckpt = dir.join(name);
        let master = dir.join(format!("{name}.master.safetensors"));
        let (rc, out, err) = lowp(&[
            "compare",
            "--schemes",
            "mxfp4",
            "--json",
            "--master",
            master.to_str().unwrap(),
            ckpt.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{name}: {err}");
        let rows = json_rows(&out);
        let (mb, eb) = (read(master.clone()), read(dir.join(format!("{name}.expected.safetensors"))));
        let (m, e) = (SafeTensors::deserialize(&mb).unwrap(), SafeTensors::deserialize(&eb).unwrap());
        let f32s =
            |v: &[u8]| -> Vec<f32> { v.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect() };
        let mut checked = 0;
        for (w, view) in e.tensors() {
            let Some(w) = w.strip_suffix(".f32") else { continue };
            let y = f32s(view.data());
            let x = f32s(m.tensor(w).unwrap().data());
            let (mut sig, mut err2, mut max) = (0f64, 0f64, 0f64);
            for (&a, &b) in x.iter().zip(&y) {
                let (a, b) = (a as f64, b as f64);
                if !b.is_finite() {
                    continue; // the E8M0 NaN code's overflow: not in the check
                }
                sig += a * a;
                err2 += (b - a) * (b - a);
                max = f64::max(max, (b - a).abs());
            }
            let r = rows.iter().find(|r| r["tensor"] == w && r["scheme"] == format!("stored:{conv}")).unwrap();
            if y.iter().all(|v| v.is_finite()) {
                let want = 10.0 * (sig / err2).log10();
                let got = r["sqnr_db"].as_f64().unwrap();
                assert!((got - want).abs() < 1e-9 * want.abs(), "{name} {w}: {got} vs {want}");
                // (serde_json's default float parser is not correctly rounded: a relative 1e-15)
                let got = r["max_abs_err"].as_f64().unwrap();
                assert!((got - max).abs() <= 1e-15 * max, "{name} {w}: {got} vs {max}");
            }
            // the schemes quantize the master, not the stored values
            let q = rows.iter().find(|r| r["tensor"] == w && r["scheme"] == "mxfp4").unwrap();
            assert_eq!(q["elements"].as_u64(), Some(x.len() as u64));
            checked += 1;
        }
        assert_eq!(checked, 2, "{name}");
    }
    // without a master: the stored values are the reference; bits from the stored bytes
    let (rc, out, err) =
        lowp(&["compare", "--schemes", "mxfp4", "--json", dir.join("modelopt_nvfp4").to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let rows = json_rows(&out);
    let r = rows
        .iter()
        .find(|r| r["tensor"] == "model.layers.0.self_attn.q_proj.weight" && r["scheme"] == "stored:modelopt-nvfp4")
        .unwrap();
    assert!(r["sqnr_db"].is_null(), "{r}"); // +inf: exact
    assert_eq!(r["bits_per_element"].as_f64(), Some((2048.0 + 256.0 + 4.0) * 8.0 / 4096.0));
    assert_eq!(r["dtype"], "modelopt-nvfp4");
    // a master that lacks a tensor: one error naming it
    let other = dir.join("deepseek_fp8.master.safetensors");
    let (rc, _, err) =
        lowp(&["compare", "--master", other.to_str().unwrap(), dir.join("modelopt_nvfp4").to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no tensor"), "{err}");
}

/// ml_dtypes arrays as NumPy saves them ('<V1'): refused without a format,
/// read as codes with --codes-as (compare) and --from (decode).
#[test]
fn ml_dtypes_npy_arrays_need_their_format() {
    let dir = std::env::temp_dir().join(format!("lowp_cmp_v1_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // the bytes np.save writes for ml_dtypes.float8_e4m3fn([1, -2, 0.5, 448]) (header as NumPy 2.4 writes it)
    let head = "{'descr': '<V1', 'fortran_order': False, 'shape': (4,), }";
    let mut h = head.to_string();
    h.push_str(&" ".repeat(128 - 10 - head.len() - 1));
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h.as_bytes());
    bytes.extend([0x38, 0xC0, 0x30, 0x7E]);
    let p = dir.join("w8.npy");
    std::fs::write(&p, &bytes).unwrap();
    let f = p.to_str().unwrap();
    let (rc, _, err) = lowp(&["compare", "--schemes", "mxfp8-e4m3", f]);
    assert_eq!(rc, 1);
    assert!(err.contains("<V1") && err.contains("--codes-as"), "{err}");
    let (rc, out, err) = lowp(&["compare", "--schemes", "mxfp8-e4m3", "--json", "--codes-as", "e4m3fn", f]);
    assert_eq!(rc, 0, "{err}");
    let r = &json_rows(&out)[0];
    assert_eq!((r["amax"].as_f64(), r["dtype"].as_str()), (Some(448.0), Some("V1")));
    let o = dir.join("v.npy");
    let (rc, _, err) = lowp(&["decode", "--from", "e4m3fn", f, "-o", o.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let v = lowp::io::npy::NpyArray::read(&o).unwrap();
    assert_eq!(v.data, lowp::io::npy::NpyData::F32(vec![1.0, -2.0, 0.5, 448.0]));
    std::fs::remove_dir_all(&dir).ok();
}
