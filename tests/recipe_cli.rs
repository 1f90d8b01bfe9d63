//! `lowp linear`, `lowp grouped-matmul` and `lowp compare --recipes`: the files
//! they write are the library's results, the quantized copies feed `lowp matmul`
//! back to the same GEMM outputs, and bad input is one line and no output.

mod common;
use common::{lowp, s};
use lowp::io::npy::{NpyArray, NpyData};
use lowp::matmul::{Groups, OutDtype, grouped_matmul};
use lowp::recipe::{Recipe, linear, recipe_errors};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("recipe-cli", name)
}

/// `lowp grouped-matmul` with an MXFP8 scheme.
fn grouped<'a>(layout: &'a str, groups: &'a str, a: &'a Path, b: &'a Path, out: &'a Path) -> Vec<&'a str> {
    let v = ["grouped-matmul", "--layout", layout, "--groups", groups, "--a", s(a), "--b", s(b)];
    [&v[..], &["--scheme", "mxfp8-e4m3", "-o", s(out)]].concat()
}

fn data(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    (0..n as u64).map(|i| (lowp::rng::normal(seed, i) * scale) as f32).collect()
}

fn write(name: &str, shape: Vec<usize>, v: Vec<f32>) -> PathBuf {
    let p = tmp(name);
    NpyArray { shape, data: NpyData::F32(v) }.write(&p).unwrap();
    p
}

fn read(p: &Path) -> Vec<f32> {
    NpyArray::read(p).unwrap().to_f32("out").unwrap()
}

fn ok(args: &[&str]) -> String {
    let r = lowp(args);
    assert!(r.status.success(), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
    String::from_utf8(r.stdout).unwrap()
}

const DIMS: [usize; 3] = [128, 256, 128];

fn layer() -> (Vec<f32>, Vec<f32>, Vec<f32>, [PathBuf; 3]) {
    let [t, i, o] = DIMS;
    let (x, w, dy) = (data(t * i, 1, 1.0), data(o * i, 2, 0.05), data(t * o, 3, 0.01));
    let paths = [
        write("x.npy", vec![t, i], x.clone()),
        write("w.npy", vec![o, i], w.clone()),
        write("dy.npy", vec![t, o], dy.clone()),
    ];
    (x, w, dy, paths)
}

#[test]
fn linear_writes_the_library_results_and_copies_lowp_matmul_reads() {
    let [t, i, o] = DIMS;
    let (x, w, dy, [px, pw, pdy]) = layer();
    let out = tmp("lin");
    let spec = "deepseek-v3@out=f32";
    ok(&["linear", "--recipe", spec, "--x", s(&px), "--w", s(&pw), "--dy", s(&pdy), "--seed", "3", "-o", s(&out)]);
    let l = linear(&x, &w, Some(&dy), DIMS, &spec.parse::<Recipe>().unwrap(), 3).unwrap();
    assert_eq!(read(&out.join("y.npy")), l.y);
    assert_eq!(read(&out.join("dx.npy")), l.dx.unwrap());
    assert_eq!(read(&out.join("dw.npy")), l.dw.unwrap());
    for c in ["x_row", "x_col", "w_row", "w_col", "dy_row", "dy_col"] {
        assert!(out.join(c).join("codes.npy").is_file(), "{c}");
    }
    assert_eq!(std::fs::read_to_string(out.join("recipe.txt")).unwrap(), format!("{spec}\nseed=3\n"));
    // fprop and dgrad again from the written copies (deepseek-v3: sm90 for every GEMM)
    let y2 = tmp("y2.npy");
    let scheme = "fp8-block@like=deepgemm";
    let args = ["--accum", "sm90", "--out-dtype", "f32"];
    let mm = |a: &Path, b: &Path, extra: &[&str], o: &Path| {
        let mut v = vec!["matmul", "--scheme", scheme, "--a", s(a), "--b", s(b), "-o", s(o)];
        v.extend_from_slice(&args);
        v.extend_from_slice(extra);
        ok(&v);
    };
    let wb = ["--b-scheme", "fp8-block@like=deepgemm@block=128x128"];
    mm(&out.join("x_row"), &out.join("w_row"), &wb, &y2);
    assert_eq!(read(&y2), read(&out.join("y.npy")), "fprop from x_row, w_row");
    let dx2 = tmp("dx2.npy");
    mm(&out.join("dy_row"), &out.join("w_col"), &[wb[0], wb[1], "--b-layout", "kn"], &dx2);
    assert_eq!(read(&dx2), read(&out.join("dx.npy")), "dgrad from dy_row, w_col");
    // forward only: y and the x and W copies
    let fwd = tmp("fwd");
    ok(&["linear", "--recipe", "te-mxfp8", "--x", s(&px), "--w", s(&pw), "-o", s(&fwd)]);
    assert!(fwd.join("y.npy").is_file() && !fwd.join("dx.npy").exists() && !fwd.join("dy_row").exists());
    assert_eq!(NpyArray::read(&fwd.join("y.npy")).unwrap().shape, vec![t, o]);
    let _ = i;
}

/// Row-scaled copies carry one global scale per row in `global_scale.npy`, and
/// `lowp matmul` reads them back: fprop from the written copies is `linear`'s
/// (alpha from the stored scales, as `lowp matmul` computes it).
#[test]
fn row_scaled_and_4over6_copies_round_trip_through_lowp_matmul() {
    let [t, _, _] = DIMS;
    let (x, w, dy, [px, pw, pdy]) = layer();
    let out = tmp("lin-rows");
    let spec = "te-nvfp4@rht=off@row-scaled=on@4over6=all@alpha=scales@out=f32";
    ok(&["linear", "--recipe", spec, "--x", s(&px), "--w", s(&pw), "--dy", s(&pdy), "-o", s(&out)]);
    let l = linear(&x, &w, Some(&dy), DIMS, &spec.parse::<Recipe>().unwrap(), 0).unwrap();
    assert_eq!(read(&out.join("y.npy")), l.y);
    let g = NpyArray::read(&out.join("x_row").join("global_scale.npy")).unwrap();
    assert_eq!(g.shape, vec![t], "one global scale per row of x");
    let scheme = |c: &str| std::fs::read_to_string(out.join(c).join("scheme.txt")).unwrap().trim().to_string();
    assert!(scheme("x_row").contains("global-scale=row") && scheme("w_row").contains("4over6=mae@4over6-max=256"));
    let y2 = tmp("y-rows.npy");
    let (sa, sb) = (scheme("x_row"), scheme("w_row"));
    let (a, b) = (out.join("x_row"), out.join("w_row"));
    ok(&[
        "matmul",
        "--scheme",
        &sa,
        "--b-scheme",
        &sb,
        "--a",
        s(&a),
        "--b",
        s(&b),
        "--accum",
        "sm100",
        "--out-dtype",
        "f32",
        "-o",
        s(&y2),
    ]);
    assert_eq!(read(&y2), l.y, "fprop from the row-scaled copies");
}

#[test]
fn compare_recipes_reports_each_gemm() {
    let (x, w, dy, [px, pw, pdy]) = layer();
    let text =
        ok(&["compare", "--recipes", "te-mxfp8,deepseek-v3", "--x", s(&px), "--w", s(&pw), "--dy", s(&pdy), "--json"]);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    for (n, spec) in ["te-mxfp8", "deepseek-v3"].iter().enumerate() {
        let want = recipe_errors(&x, &w, Some(&dy), DIMS, &spec.parse().unwrap(), 0).unwrap();
        for (j, e) in want.iter().enumerate() {
            let l = &lines[n * 3 + j];
            assert_eq!((l["recipe"].as_str().unwrap(), l["gemm"].as_str().unwrap()), (*spec, e.gemm));
            // (serde_json's float parsing may be an ulp off the printed value)
            let near = |k: &str, v: f64| (l[k].as_f64().unwrap() - v).abs() <= v.abs() * 1e-15;
            assert!(near("sqnr_db", e.sqnr_db) && near("calc_diff", e.calc_diff) && near("max_abs", e.max_abs), "{l}");
        }
    }
    // the built-in layer, every recipe: a table with three GEMMs each
    let table = ok(&["compare", "--recipes", "all"]);
    assert_eq!(table.lines().count(), 1 + 7 * 3, "{table}");
    assert!(table.lines().any(|l| l.starts_with("te-nvfp4") && l.contains("wgrad")));
    // a recipe that cannot apply to the layer is its own row, the others reported
    let x24 = write("x24.npy", vec![24, 256], data(24 * 256, 4, 1.0));
    let dy24 = write("dy24.npy", vec![24, 128], data(24 * 128, 5, 0.01));
    let t = ok(&["compare", "--recipes", "te-nvfp4,te-mxfp8", "--x", s(&x24), "--w", s(&pw), "--dy", s(&dy24)]);
    assert!(t.lines().any(|l| l.starts_with("te-nvfp4") && l.contains("n/a") && l.contains("divisible by 16")), "{t}");
    assert_eq!(t.lines().filter(|l| l.starts_with("te-mxfp8")).count(), 3);
}

#[test]
fn grouped_matmul_cli_is_the_library() {
    let (m, k, n, g) = (12, 64, 8, 3);
    let (a, b) = (data(m * k, 6, 1.0), data(g * n * k, 7, 1.0));
    let (pa, pb) = (write("ga.npy", vec![m, k], a.clone()), write("gb.npy", vec![g, n, k], b.clone()));
    let groups = tmp("groups.npy");
    NpyArray { shape: vec![m], data: NpyData::I64(vec![0, 0, 0, -1, 2, 2, -1, -1, 1, 1, 1, 1]) }
        .write(&groups)
        .unwrap();
    let out = tmp("gd.npy");
    let base =
        ["grouped-matmul", "--a", s(&pa), "--b", s(&pb), "--scheme", "mxfp8-e4m3", "--accum", "sm100", "-o", s(&out)];
    let mut args = base.to_vec();
    args.extend(["--layout", "contiguous", "--groups", s(&groups), "--align", "4"]);
    ok(&args);
    let sch = "mxfp8-e4m3".parse().unwrap();
    let acc = "sm100".parse().unwrap();
    let want = Groups::Contiguous { group_of_row: vec![0, 0, 0, -1, 2, 2, -1, -1, 1, 1, 1, 1], align: 4 };
    let (d, shape) = grouped_matmul(&a, &[m, k], &b, &[g, n, k], &want, &sch, &sch, &acc, OutDtype::F32).unwrap();
    assert_eq!(read(&out), d);
    assert_eq!(NpyArray::read(&out).unwrap().shape, shape);
    // offs as a list: the same groups without padding
    let mut args = base.to_vec();
    args.extend(["--layout", "offs", "--groups", "3,7,12"]);
    ok(&args);
    let (d, _) =
        grouped_matmul(&a, &[m, k], &b, &[g, n, k], &Groups::Offs(vec![3, 7, 12]), &sch, &sch, &acc, OutDtype::F32)
            .unwrap();
    assert_eq!(read(&out), d);
}

#[test]
fn bad_input_is_one_line_and_no_output() {
    let [t, i, o] = DIMS;
    let (_, _, _, [px, pw, pdy]) = layer();
    let w_bad = write("w_bad.npy", vec![o, i + 16], data(o * (i + 16), 8, 0.05));
    let dy_bad = write("dy_bad.npy", vec![t, o + 1], data(t * (o + 1), 9, 0.01));
    let v3 = write("v3.npy", vec![2, 4, 8], data(64, 10, 1.0));
    let never = tmp("never");
    let gd = tmp("gnever.npy");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["linear", "--recipe", "te-nvfp4@bogus=1", "--x", s(&px), "--w", s(&pw), "-o", s(&never)],
            "unknown key 'bogus'",
        ),
        (
            vec!["linear", "--recipe", "te-mxfp8", "--x", s(&px), "--w", s(&w_bad), "-o", s(&never)],
            "but W is [OUT, IN]",
        ),
        (
            vec!["linear", "--recipe", "te-mxfp8", "--x", s(&px), "--w", s(&pw), "--dy", s(&dy_bad), "-o", s(&never)],
            "not [T, OUT]",
        ),
        (vec!["linear", "--recipe", "te-mxfp8", "--x", s(&v3), "--w", s(&pw), "-o", s(&never)], "x must be 2-D"),
        (vec!["compare", "--recipes", "te-fp16"], "te-fp16"),
        (vec!["compare", "--recipes", "te-mxfp8", "--x", s(&px)], "needs both --x and --w"),
        (vec!["compare", "--recipes", "te-mxfp8", "--schemes", "nvfp4"], "cannot be used with"),
        (vec!["compare", "--recipes", "te-mxfp8", s(&px)], "not FILES"),
        (grouped("offs", "3,-1,12", &px, &pw, &gd), "B must be [G, N, K]"),
        (grouped("diagonal", "1", &px, &pw, &gd), "unknown --layout 'diagonal'"),
        (grouped("offs", "1,x", &px, &pw, &gd), "'x' is not an integer"),
    ];
    for (args, needle) in cases {
        common::fails_with(&args, needle);
        assert!(!never.exists() && !gd.exists(), "{args:?} left output");
    }
    // grouped offsets that do not cover A, through the CLI
    let a = write("a6.npy", vec![6, 32], data(6 * 32, 11, 1.0));
    let b = write("b2.npy", vec![2, 4, 32], data(2 * 4 * 32, 12, 1.0));
    let r = lowp(&grouped("offs", "2,-5", &a, &b, &gd));
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("negative offset"));
    assert!(!gd.exists());
    let _ = pdy;
}
