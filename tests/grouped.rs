//! `lowp::matmul::grouped_matmul`: every layout equals its groups' GEMMs, each
//! group quantized on its own; padding rows and empty groups are +0 (never
//! NaN); layouts that do not cover A are one clear error.

use lowp::block::Scheme;
use lowp::matmul::{Groups, Layout, Operand, OutDtype, grouped_matmul, matmul_f32};

fn data(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| lowp::rng::normal(seed, i) as f32).collect()
}

/// One group's product, written out: `a` `[rows, K]` (or `[K, rows]` with `t`)
/// and `b` likewise, each quantized as its own tensor.
fn one(a: &[f32], ash: [usize; 2], b: &[f32], bsh: [usize; 2], t: bool, s: &Scheme, model: &str) -> Vec<f32> {
    let l = if t { Layout::KRows } else { Layout::RowsK };
    let qa = Operand::from_f32(a, ash, l, s).unwrap();
    let qb = Operand::from_f32(b, bsh, l, s).unwrap();
    matmul_f32(&qa, &qb, None, &model.parse().unwrap(), OutDtype::F32).unwrap()
}

const SCHEMES: [&str; 3] = ["nvfp4@global-scale=on", "mxfp8-e4m3", "fp8-block@like=deepgemm"];
const MODELS: [&str; 3] = ["exact", "f32-fma", "sm100"];

#[test]
fn m_grouped_layouts_are_their_groups_gemms() {
    let (k, n, g) = (128, 24, 4);
    // rows per group: 5, 0 (an empty expert), 19, 8
    let sizes = [5usize, 0, 19, 8];
    let m: usize = sizes.iter().sum();
    let (a, b) = (data(m * k, 1), data(g * n * k, 2));
    for spec in SCHEMES {
        let s: Scheme = spec.parse().unwrap();
        for model in MODELS {
            let mut want = vec![0f32; m * n];
            let mut start = 0;
            for (gi, &sz) in sizes.iter().enumerate() {
                if sz > 0 {
                    let y = one(
                        &a[start * k..(start + sz) * k],
                        [sz, k],
                        &b[gi * n * k..(gi + 1) * n * k],
                        [n, k],
                        false,
                        &s,
                        model,
                    );
                    want[start * n..(start + sz) * n].copy_from_slice(&y);
                }
                start += sz;
            }
            let ends: Vec<i64> = sizes.iter().scan(0i64, |e, &s| Some(*e + s as i64).inspect(|&v| *e = v)).collect();
            let group_of_row: Vec<i64> =
                sizes.iter().enumerate().flat_map(|(gi, &s)| std::iter::repeat_n(gi as i64, s)).collect();
            let layouts = [
                Groups::Offs(ends.clone()),
                Groups::MSplits(sizes.iter().map(|&s| s as i64).collect()),
                Groups::Contiguous { group_of_row, align: 1 },
            ];
            for groups in &layouts {
                let model_acc = model.parse().unwrap();
                let (d, shape) =
                    grouped_matmul(&a, &[m, k], &b, &[g, n, k], groups, &s, &s, &model_acc, OutDtype::F32).unwrap();
                assert_eq!(shape, vec![m, n]);
                assert_eq!(d, want, "{spec} {model} {groups:?}");
            }
        }
    }
    // per-group quantization is not whole-tensor quantization: NVFP4's global
    // scale is each group's own
    let s: Scheme = SCHEMES[0].parse().unwrap();
    let whole = one(&a[..5 * k], [5, k], &b[..n * k], [n, k], false, &s, "exact");
    let mut a_big = a.clone();
    a_big[10 * k] = 1000.0; // an outlier in group 2 changes only group 2's scales
    let (d, _) = grouped_matmul(
        &a_big,
        &[m, k],
        &b,
        &[g, n, k],
        &Groups::Offs(vec![5, 5, 24, 32]),
        &s,
        &s,
        &"exact".parse().unwrap(),
        OutDtype::F32,
    )
    .unwrap();
    assert_eq!(&d[..5 * n], &whole[..]);
}

#[test]
fn padding_rows_and_masked_rows_are_zero_not_nan() {
    let (k, n, g) = (64, 8, 3);
    let s: Scheme = "mxfp8-e4m3".parse().unwrap();
    let exact = "exact".parse().unwrap();
    // contiguous with DeepGEMM's alignment: groups start at multiples of 4, padding rows -1 hold NaN
    let group_of_row = vec![0, 0, 0, -1, 2, 2, -1, -1, 1, 1, 1, 1];
    let m = group_of_row.len();
    let mut a = data(m * k, 3);
    for (r, &gi) in group_of_row.iter().enumerate() {
        if gi == -1 {
            a[r * k..(r + 1) * k].fill(f32::NAN);
        }
    }
    let b = data(g * n * k, 4);
    let groups = Groups::Contiguous { group_of_row: group_of_row.clone(), align: 4 };
    let (d, _) = grouped_matmul(&a, &[m, k], &b, &[g, n, k], &groups, &s, &s, &exact, OutDtype::F32).unwrap();
    for (r, &gi) in group_of_row.iter().enumerate() {
        let row = &d[r * n..(r + 1) * n];
        if gi == -1 {
            assert!(row.iter().all(|v| v.to_bits() == 0), "padding row {r}: {row:?}");
        } else {
            assert!(row.iter().all(|v| v.is_finite()), "row {r}");
        }
    }
    let y = one(&a[8 * k..12 * k], [4, k], &b[n * k..2 * n * k], [n, k], false, &s, "exact");
    assert_eq!(&d[8 * n..12 * n], &y[..]);
    // masked: rows past masked_m (NaN here) are +0; a group with masked_m = 0 is all +0
    let max_m = 6;
    let mut a3 = data(g * max_m * k, 5);
    let masked = [4i64, 0, 6];
    for (gi, &mm) in masked.iter().enumerate() {
        a3[(gi * max_m + mm as usize) * k..(gi + 1) * max_m * k].fill(f32::NAN);
    }
    let (d, shape) = grouped_matmul(
        &a3,
        &[g, max_m, k],
        &b,
        &[g, n, k],
        &Groups::Masked(masked.to_vec()),
        &s,
        &s,
        &exact,
        OutDtype::F32,
    )
    .unwrap();
    assert_eq!(shape, vec![g, max_m, n]);
    for (gi, &mm) in masked.iter().enumerate() {
        let mm = mm as usize;
        let base = gi * max_m;
        if mm > 0 {
            let y = one(
                &a3[base * k..(base + mm) * k],
                [mm, k],
                &b[gi * n * k..(gi + 1) * n * k],
                [n, k],
                false,
                &s,
                "exact",
            );
            assert_eq!(&d[base * n..(base + mm) * n], &y[..], "group {gi}");
        }
        assert!(d[(base + mm) * n..(base + max_m) * n].iter().all(|v| v.to_bits() == 0), "group {gi} past masked_m");
    }
}

#[test]
fn k_grouped_wgrad_is_each_k_slice() {
    let (m, n) = (16, 24);
    let ends = vec![32i64, 32, 96, 128]; // group 1 is empty
    let sk = 128;
    let (a, b) = (data(sk * m, 6), data(sk * n, 7));
    for spec in SCHEMES {
        let s: Scheme = spec.parse().unwrap();
        let (d, shape) = grouped_matmul(
            &a,
            &[sk, m],
            &b,
            &[sk, n],
            &Groups::KGrouped(ends.clone()),
            &s,
            &s,
            &"f32-fma".parse().unwrap(),
            OutDtype::F32,
        )
        .unwrap();
        assert_eq!(shape, vec![4, m, n]);
        let mut start = 0usize;
        for (gi, &e) in ends.iter().enumerate() {
            let e = e as usize;
            let got = &d[gi * m * n..(gi + 1) * m * n];
            if e == start {
                assert!(got.iter().all(|v| v.to_bits() == 0), "{spec}: empty group {gi}");
            } else {
                let y = one(
                    &a[start * m..e * m],
                    [e - start, m],
                    &b[start * n..e * n],
                    [e - start, n],
                    true,
                    &s,
                    "f32-fma",
                );
                assert_eq!(got, &y[..], "{spec}: group {gi}");
            }
            start = e;
        }
    }
}

#[test]
fn layouts_that_do_not_cover_a_are_one_clear_error() {
    let (k, n) = (32, 4);
    let s: Scheme = "mxfp8-e4m3".parse().unwrap();
    let m = 6;
    let (a, b2) = (data(m * k, 8), data(2 * n * k, 9));
    let acc = "exact".parse().unwrap();
    let run = |a: &[f32], ash: &[usize], b: &[f32], bsh: &[usize], g: Groups| {
        grouped_matmul(a, ash, b, bsh, &g, &s, &s, &acc, OutDtype::F32).unwrap_err().to_string()
    };
    let cases: Vec<(Groups, &str)> = vec![
        (Groups::Offs(vec![2, 5]), "the groups end at 5, but there are 6 rows"),
        (Groups::Offs(vec![-1, 6]), "negative offset"),
        (Groups::Offs(vec![4, 3]), "before the previous group's end 4"),
        (Groups::Offs(vec![2, 4, 6]), "3 groups of rows but B holds G = 2"),
        (Groups::MSplits(vec![3, -3]), "group 1 has -3 rows"),
        (Groups::MSplits(vec![3, 4]), "do not cover them"),
        (Groups::Contiguous { group_of_row: vec![0, 0, 2, 1, 1, 1], align: 1 }, "row 2 is in group 2, outside -1..2"),
        (Groups::Contiguous { group_of_row: vec![0, 1, 0, 1, -1, -1], align: 1 }, "group 0's rows are not one run"),
        (
            Groups::Contiguous { group_of_row: vec![0, 0, 0, 1, 1, 1], align: 4 },
            "group 1 starts at row 3, not a multiple of 4",
        ),
        (Groups::Contiguous { group_of_row: vec![0, 0, 1], align: 1 }, "3 group indices for 6 rows"),
        (Groups::Contiguous { group_of_row: vec![0, 0, 0, 1, 1, -2], align: 1 }, "row 5 is in group -2"),
    ];
    for (g, needle) in cases {
        let e = run(&a, &[m, k], &b2, &[2, n, k], g.clone());
        assert!(e.contains(needle), "{g:?}: '{e}' lacks '{needle}'");
    }
    assert!(run(&a, &[m, k], &b2, &[2, n * k], Groups::Offs(vec![3, 6])).contains("B must be [G, N, K]"));
    assert!(
        run(&a, &[m, k], &data(2 * n * 16, 1), &[2, n, 16], Groups::Offs(vec![3, 6]))
            .contains("A has K = 32 but B has K = 16")
    );
    assert!(run(&a[1..], &[m, k], &b2, &[2, n, k], Groups::Offs(vec![3, 6])).contains("elements for shape"));
    let a3 = data(2 * 3 * k, 10);
    assert!(run(&a3, &[2, 3, k], &b2, &[2, n, k], Groups::Masked(vec![4, 1])).contains("masked_m = 4, outside 0..=3"));
    assert!(run(&a3, &[2, 3, k], &b2, &[2, n, k], Groups::Masked(vec![1])).contains("G and K must agree"));
    assert!(run(&a3, &[6, k], &b2, &[2, n, k], Groups::Masked(vec![1, 1])).contains("masked takes A [G, max_m, K]"));
    let (ak, bk) = (data(64 * 4, 11), data(64 * 5, 12));
    assert!(run(&ak, &[64, 4], &bk, &[64, 5], Groups::KGrouped(vec![32, 63])).contains("k-grouped offsets"));
    assert!(
        run(&ak, &[64, 4], &bk[..60 * 5], &[60, 5], Groups::KGrouped(vec![64]))
            .contains("A has ΣK = 64 rows but B has 60")
    );
    // no rows at all: an empty D, not an error
    let (d, shape) =
        grouped_matmul(&[], &[0, k], &b2, &[2, n, k], &Groups::Offs(vec![0, 0]), &s, &s, &acc, OutDtype::F32).unwrap();
    assert!(d.is_empty() && shape == vec![0, n]);
}
