//! The `lowp` binary: golden casts through .npy files, and one-line errors with a
//! non-zero exit and no output file for every kind of bad input.

mod common;
use common::{Bundle, lowp, s};
use lowp::io::npy::{NpyArray, NpyData};
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("cli-test", name)
}

/// `lowp cast --like ml_dtypes-0.6|torch` reproduces the references' codes on the golden inputs.
#[test]
fn cast_like_references_through_npy() {
    for (file, fmt, torch) in [
        ("elem_float8_e4m3fn", "e4m3fn", true),
        ("elem_float8_e5m2", "e5m2", true),
        ("elem_float8_e4m3fnuz", "float8_e4m3fnuz", true),
        ("elem_float8_e8m0fnu", "e8m0fnu", true),
        ("elem_float4_e2m1fn", "e2m1fn", false),
        ("elem_float6_e3m2fn", "e3m2fn", false),
    ] {
        let b = Bundle::open(file);
        let x = b.get("random_in").f32();
        let input = tmp(&format!("{file}_in.npy"));
        NpyArray { shape: vec![x.len() / 100, 100], data: NpyData::F32(x[..x.len() / 100 * 100].to_vec()) }
            .write(&input)
            .unwrap();
        let mut refs = vec![("ml_dtypes-0.6", "random_code")];
        if torch {
            refs.push(("torch", "random_torch_code"));
        }
        for (like, key) in refs {
            let out = tmp(&format!("{file}_{like}.npy"));
            let r = lowp(&["cast", "--to", fmt, "--like", like, s(&input), "-o", s(&out)]);
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let got = NpyArray::read(&out).unwrap();
            assert_eq!(got.shape, vec![x.len() / 100, 100]);
            let NpyData::U8(codes) = got.data else { panic!("u8 expected") };
            let want = b.get(key).u8();
            assert_eq!(codes[..], want[..codes.len()], "{file} --like {like}");
        }
    }
}

#[test]
fn decode_roundtrip_and_formats_table() {
    let input = tmp("codes.npy");
    NpyArray { shape: vec![4], data: NpyData::U8(vec![0x00, 0x38, 0x7E, 0xFE]) }.write(&input).unwrap();
    let out = tmp("values.npy");
    let r = lowp(&["decode", "--from", "e4m3fn", s(&input), "-o", s(&out)]);
    assert!(r.status.success());
    assert_eq!(NpyArray::read(&out).unwrap().data, NpyData::F32(vec![0.0, 1.0, 448.0, -448.0]));
    let r = lowp(&["formats"]);
    let t = String::from_utf8(r.stdout).unwrap();
    assert!(t.lines().any(|l| l.starts_with("e4m3fn ") && l.contains("448")), "{t}");
    let r = lowp(&["table", "e2m1fn"]);
    assert_eq!(String::from_utf8(r.stdout).unwrap().lines().filter(|l| l.contains("normal")).count(), 14);
}

#[test]
fn bench_json_lines() {
    let r = lowp(&["bench", "--json", "--n", "4096", "--reps", "1", "--filter", "e5m2fnuz"]);
    assert!(r.status.success());
    let out = String::from_utf8(r.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let targets: Vec<String> =
        lines.iter().map(|l| format!("{}/{}", l["op"].as_str().unwrap(), l["target"].as_str().unwrap())).collect();
    // ml_dtypes (default), torch (ptx has no fnuz types), every other rounding, decode
    let want = [
        "cast/e5m2fnuz",
        "cast/e5m2fnuz@like=torch",
        "cast/e5m2fnuz@rounding=away",
        "cast/e5m2fnuz@rounding=ties-zero",
        "cast/e5m2fnuz@rounding=zero",
        "cast/e5m2fnuz@rounding=up",
        "cast/e5m2fnuz@rounding=down",
        "cast/e5m2fnuz@rounding=sr",
        "cast/e5m2fnuz@rounding=sr+seed",
        "decode/e5m2fnuz",
    ];
    assert_eq!(targets, want, "{out}");
    assert!(lines.iter().all(|l| l["unit"] == "Gelem/s" && l["throughput"].as_f64().unwrap() > 0.0));
    // every cast row carries its ratio to the copy of the same bytes timed before it
    assert!(lines.iter().filter(|l| l["op"] == "cast").all(|l| l["vs_copy"].as_f64().unwrap() > 0.0), "{out}");
    let r = lowp(&["bench", "--json", "--n", "4096", "--reps", "1", "--filter", "copy/"]);
    let out = String::from_utf8(r.stdout).unwrap();
    let copies: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = copies.iter().map(|l| l["target"].as_str().unwrap()).collect();
    assert_eq!(names, ["f32", "f32->u8", "f32+u32->u8"], "{out}");
}

/// GEMM rows with f32 (`matmul_f32`) and f64 (`matmul`) results; a bad output
/// type is one line on stderr and no table.
#[test]
fn bench_gemm_rows_per_output_type() {
    for dtype in ["f32", "f64", "bf16"] {
        let args =
            ["bench", "--json", "--gemm-side", "16", "--reps", "1", "--out-dtype", dtype, "--filter", "/f32-fma/"];
        let r = lowp(&args);
        assert!(r.status.success(), "{dtype}");
        let out = String::from_utf8(r.stdout).unwrap();
        let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 9, "{out}"); // one per bench scheme
        assert!(rows.iter().all(|r| r["op"] == "matmul" && r["throughput"].as_f64().unwrap() > 0.0), "{out}");
    }
    let r = lowp(&["bench", "--out-dtype", "f8", "--filter", "/f32-fma/"]);
    assert!(!r.status.success());
    assert!(r.stdout.is_empty());
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("output dtype"), "{err}");
}

/// Every bad input: one line on stderr, non-zero exit, no output file.
#[test]
fn bad_input_one_line_error_no_output() {
    let good = tmp("good.npy");
    NpyArray { shape: vec![2], data: NpyData::F32(vec![1.0, 2.0]) }.write(&good).unwrap();
    let codes = tmp("codes16.npy");
    NpyArray { shape: vec![2], data: NpyData::U8(vec![0x3, 0x10]) }.write(&codes).unwrap();
    let truncated = tmp("truncated.npy");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
    let ints = tmp("ints.npy");
    let mut b = NpyArray { shape: vec![2], data: NpyData::F32(vec![1.0, 2.0]) }.to_bytes();
    let at = b.windows(3).position(|w| w == b"<f4").unwrap();
    b[at + 1] = b'i';
    std::fs::write(&ints, &b).unwrap();
    let out = tmp("never.npy");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cast", "--to", "e9m9", s(&good), "-o", s(&out)], "unknown format"),
        (vec!["cast", "--to", "e4m3fn", "/nonexistent/x.npy", "-o", s(&out)], "/nonexistent/x.npy"),
        (vec!["cast", "--to", "e4m3fn", s(&truncated), "-o", s(&out)], "truncated"),
        (vec!["cast", "--to", "e4m3fn", s(&ints), "-o", s(&out)], "got i32"),
        (vec!["cast", "--to", "e4m3fn", s(&codes), "-o", s(&out)], "float array"),
        (vec!["cast", "--to", "e4m3fn", "--rounding", "sideways", s(&good), "-o", s(&out)], "rounding"),
        (
            vec!["cast", "--to", "e2m1fn", "--like", "torch", s(&good), "-o", s(&out)],
            "torch-2.15 has no cast to e2m1fn",
        ),
        (vec!["decode", "--from", "e2m1fn", s(&codes), "-o", s(&out)], "does not fit e2m1fn"),
        (vec!["decode", "--from", "e4m3fn", s(&good), "-o", s(&out)], "one-byte codes"),
        (vec!["cast", "--bogus"], "unexpected argument"),
    ];
    for (args, needle) in cases {
        common::fails_with(&args, needle);
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // NaN into a NaN-less format under --nan error
    let nan = tmp("nan.npy");
    NpyArray { shape: vec![3], data: NpyData::F32(vec![1.0, f32::NAN, 2.0]) }.write(&nan).unwrap();
    let r = lowp(&["cast", "--to", "e2m1fn", "--nan", "error", s(&nan), "-o", s(&out)]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("index 1"));
    assert!(!out.exists());
}

#[test]
fn cast_accepts_every_float_dtype_and_any_shape() {
    for (data, shape) in [
        (NpyData::F64(vec![0.1, 1e9, -0.0]), vec![3]),
        (NpyData::F16(vec![half::f16::from_f32(0.1); 6]), vec![1, 2, 3]),
        (NpyData::BF16(vec![half::bf16::from_f32(-3.0); 4]), vec![2, 2]),
        (NpyData::F32(vec![]), vec![0, 5]),
    ] {
        let input = tmp("any.npy");
        NpyArray { shape: shape.clone(), data }.write(&input).unwrap();
        let out = tmp("any_out.npy");
        let r = lowp(&["cast", "--to", "e4m3fn", "--like", "torch", s(&input), "-o", s(&out)]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(NpyArray::read(&out).unwrap().shape, shape);
    }
    // stochastic rounding with a seed is reproducible
    let input = tmp("sr.npy");
    NpyArray { shape: vec![1000], data: NpyData::F32(vec![1.1; 1000]) }.write(&input).unwrap();
    let (o1, o2) = (tmp("sr1.npy"), tmp("sr2.npy"));
    for o in [&o1, &o2] {
        let r = lowp(&["cast", "--to", "e2m1fn", "--rounding", "sr", "--seed", "9", s(&input), "-o", s(o)]);
        assert!(r.status.success());
    }
    assert_eq!(std::fs::read(&o1).unwrap(), std::fs::read(&o2).unwrap());
}

/// `lowp cast --every f16|bf16` writes, in bit-pattern order, exactly what a cast of
/// an .npy holding every value of the type gives (stochastic rounding included:
/// element i of the table is input i); `--every f32 -o -` streams to stdout.
#[test]
fn cast_every_equals_the_file_cast() {
    let all16: Vec<u16> = (0..=u16::MAX).collect();
    for (ty, data) in [
        ("f16", NpyData::F16(all16.iter().map(|&b| half::f16::from_bits(b)).collect())),
        ("bf16", NpyData::BF16(all16.iter().map(|&b| half::bf16::from_bits(b)).collect())),
    ] {
        let input = tmp(&format!("every_{ty}.npy"));
        NpyArray { shape: vec![1 << 16], data }.write(&input).unwrap();
        for flags in [
            &["--to", "e4m3fn", "--like", "torch-2.11"][..],
            &["--to", "e5m2", "--like", "torch", "--nan-code", "all-ones-positive"],
            &["--to", "e2m1fn", "--like", "ptx"],
            &["--to", "e3m2fn", "--rounding", "sr", "--seed", "5"],
        ] {
            let (table, file) = (tmp(&format!("every_{ty}.bin")), tmp(&format!("every_{ty}_out.npy")));
            let r = lowp(&[&["cast", "--every", ty][..], flags, &["-o", s(&table)]].concat());
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let r = lowp(&[&["cast"][..], flags, &[s(&input), "-o", s(&file)]].concat());
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let NpyData::U8(want) = NpyArray::read(&file).unwrap().data else { panic!("u8") };
            assert_eq!(std::fs::read(&table).unwrap(), want, "{ty} {flags:?}");
        }
    }
    // f32 to stdout: the first 2^26 codes (f32 up to 2^-123, whose e8m0 codes change
    // across the stream's chunks) are the codes of those bit patterns
    let mut child = Command::new(env!("CARGO_BIN_EXE_lowp"))
        .args(["cast", "--every", "f32", "--to", "e8m0fnu", "--like", "torch", "-o", "-"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0u8; 1 << 26];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    child.kill().ok();
    child.wait().ok();
    let e8m0 = lowp::format::ElemFormat::E8M0FNU;
    let o = lowp::convert::Like::Torch.cast_options(e8m0).unwrap();
    let want: Vec<u8> =
        (0..head.len() as u32).map(|b| lowp::convert::encode_f32(e8m0, f32::from_bits(b), &o, 0).0).collect();
    assert!(want.iter().any(|&c| c != want[0]));
    assert!(head == want, "--every f32 differs from encode_f32");
    // bad --every, a missing input and refused NaNs are one-line errors with no output
    let out = tmp("every_bad.bin");
    for args in [
        &["cast", "--every", "f64", "--to", "e5m2", "-o", s(&out)][..],
        &["cast", "--to", "e5m2", "-o", s(&out)],
        &["cast", "--every", "f32", "--to", "e2m1fn", "--nan", "error", "-o", s(&out)],
    ] {
        let r = lowp(args);
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}");
        assert!(!out.exists(), "{args:?} left {}", s(&out));
        if args.contains(&"error") {
            assert!(err.contains(&0x7F80_0001u32.to_string()), "the first NaN's bit pattern: {err}");
        }
    }
}

/// One vocabulary, checked options: a flag contradicting a spec key, a key given
/// twice, an unknown key (the valid ones listed), a block no kernel layout or
/// tensor can hold, a directory whose scheme differs from the one asked for: each
/// is one line and no output. Under a preset a rule name is that reference's rule.
#[test]
fn options_are_checked_and_named() {
    let x = tmp("opt_x.npy");
    NpyArray { shape: vec![4, 64], data: NpyData::F32((0..256).map(|i| (i as f32 * 0.3).sin() * 5.0).collect()) }
        .write(&x)
        .unwrap();
    let q = tmp("opt_q");
    let out = tmp("opt_never");
    let fails = |args: &[&str], needle: &str| {
        let r = lowp(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: '{err}' lacks '{needle}'");
        assert!(!out.exists(), "{args:?} wrote an output");
    };
    fails(&["quantize", "--scheme", "mxfp8-e4m3@block=16", "--block", "32", s(&x), "-o", s(&out)], "contradicts");
    fails(&["quantize", "--scheme", "mxfp8-e4m3@block=32@block=32", s(&x), "-o", s(&out)], "twice");
    fails(&["quantize", "--scheme", "mxfp8-e4m3@colour=red", s(&x), "-o", s(&out)], "scale-rule");
    fails(&["quantize", "--scheme", "mxfp8-e4m3@block=33", "--layout", "kernel", s(&x), "-o", s(&out)], "swizzle");
    fails(&["quantize", "--scheme", "mxfp8-e4m3@block=1x1000000", s(&x), "-o", s(&out)], "longer than");
    fails(&["cast", "--to", "e4m3fn", "--rounding", "nearest-even", s(&x), "-o", s(&out)], "rne");
    fails(&["cast", "--to", "e4m3fn", "--like", "numpy", s(&x), "-o", s(&out)], "ml_dtypes-0.6");
    fails(&["matmul", "--scheme", "e4m3fn", "--block", "32", "--a", s(&x), "--b", s(&x), "-o", s(&out)], "plain");
    // torchao's RCEIL under like=torchao, cuBLAS's by default
    let r =
        lowp(&["quantize", "--scheme", "mxfp8-e4m3", "--like", "torchao", "--scale-rule", "rceil", s(&x), "-o", s(&q)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(std::fs::read_to_string(q.join("scheme.txt")).unwrap().contains("scale-rule=rceil-torchao"));
    let r = lowp(&["quantize", "--scheme", "mxfp8-e4m3", "--scale-rule", "rceil", s(&x), "-o", s(&q)]);
    assert!(r.status.success());
    assert!(std::fs::read_to_string(q.join("scheme.txt")).unwrap().contains("scale-rule=rceil-cublas"));
    // the directory holds rceil-cublas: asking for ceil is an error, the bare name reads it
    fails(
        &["matmul", "--scheme", "mxfp8-e4m3@scale-rule=ceil", "--a", s(&q), "--b", s(&x), "-o", s(&out)],
        "not the scheme",
    );
    let d1 = tmp("opt_d1.npy");
    let r = lowp(&["matmul", "--scheme", "mxfp8-e4m3", "--a", s(&q), "--b", s(&x), "-o", s(&d1)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // matmul takes quantize's flags for f32 inputs: the same as the spec keys
    let d2 = tmp("opt_d2.npy");
    let r =
        lowp(&["matmul", "--scheme", "mxfp8-e4m3", "--scale-rule", "rceil", "--a", s(&x), "--b", s(&x), "-o", s(&d2)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(NpyArray::read(&d1).unwrap(), NpyArray::read(&d2).unwrap());
    // one --like for every command: te's FP4 cast maps NaN to 0
    let nan = tmp("opt_nan.npy");
    NpyArray { shape: vec![2], data: NpyData::F32(vec![f32::NAN, 1.0]) }.write(&nan).unwrap();
    let c = tmp("opt_c.npy");
    let r = lowp(&["cast", "--to", "e2m1fn", "--like", "te", s(&nan), "-o", s(&c)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(NpyArray::read(&c).unwrap().data, NpyData::U8(vec![0, 2]));
}

/// `compare --like P` without `--schemes` runs the default families under P: each
/// default's own like= key gives way, the families P has no quantizer for are
/// named in a note, and a preset with none is one error line.
#[test]
fn compare_like_takes_the_default_families() {
    let r = lowp(&["compare", "--like", "torchao", "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(out.contains("\"nvfp4@like=torchao\"") && out.contains("\"mxfp8-e4m3@like=torchao\""), "{out}");
    assert!(!out.contains("like=te"), "{out}");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("note") && err.contains("fp8-block") && !err.contains("mxfp4"), "{err}");
    let r = lowp(&["compare", "--like", "ml_dtypes"]);
    assert!(!r.status.success() && r.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&r.stderr).trim_end().lines().count(), 1);
    // a scheme list given is taken as written: a contradiction is an error
    let r = lowp(&["compare", "--like", "torchao", "--schemes", "nvfp4@like=te"]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("contradicts"));
}

/// `lowp targets` lists every target's instructions; an operand type a target has
/// no instruction for is one error line naming what it takes, with no output; wide
/// operands (`--scheme bf16`) run the target's bf16 instruction, as the library does.
#[test]
fn targets_and_wide_operands() {
    let r = lowp(&["targets"]);
    assert!(r.status.success());
    let t = String::from_utf8_lossy(&r.stdout);
    for want in ["sm70", "sm80", "sm89", "sm90", "sm100", "sm100-mma-sync", "sm120", "cdna3", "kind::mxf4nvf4", "wgmma"]
    {
        assert!(t.contains(want), "{want} in\n{t}");
    }
    let x: Vec<f32> = (0..4 * 64).map(|i| lowp::rng::normal(9, i) as f32).collect();
    let input = tmp("wide_in.npy");
    NpyArray { shape: vec![4, 64], data: NpyData::F32(x.clone()) }.write(&input).unwrap();
    let out = tmp("wide_out.npy");
    let _ = std::fs::remove_file(&out);
    let r =
        lowp(&["matmul", "--scheme", "mxfp4", "--accum", "sm90", "--a", s(&input), "--b", s(&input), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.lines().count() == 1 && err.contains("no FP6/FP4 tensor cores"), "{err}");
    assert!(!out.exists());
    for (ty, target) in [("bf16", "sm90"), ("f16", "sm80"), ("tf32", "sm100"), ("xf32", "cdna3")] {
        let r = lowp(&["matmul", "--scheme", ty, "--accum", target, "--a", s(&input), "--b", s(&input), "-o", s(&out)]);
        assert!(r.status.success(), "{ty}: {}", String::from_utf8_lossy(&r.stderr));
        let NpyData::F32(d) = NpyArray::read(&out).unwrap().data else { panic!() };
        let op =
            lowp::matmul::Operand::from_wide(ty.parse().unwrap(), &x, [4, 64], lowp::matmul::Layout::RowsK).unwrap();
        let want =
            lowp::matmul::matmul_reference(&op, &op, None, &target.parse().unwrap(), lowp::matmul::OutDtype::F32)
                .unwrap();
        assert!(d.iter().zip(&want).all(|(g, w)| g.to_bits() == (*w as f32).to_bits()), "{ty} on {target}");
    }
    let r = lowp(&[
        "matmul",
        "--scheme",
        "bf16@block=32",
        "--accum",
        "sm90",
        "--a",
        s(&input),
        "--b",
        s(&input),
        "-o",
        s(&out),
    ]);
    assert!(!r.status.success());
}
