//! FP8 GEMM outputs of a real H100 (torch 2.11.0+cu130: cuBLASLt from CUDA 13.0,
//! and Triton 3.6.0), taken by `scripts/gpu_check.py` and cut by
//! `scripts/gpu_fixtures.py` (the fixtures' `producer` field). Every output must be
//! reproduced bit for bit, by the fast path and by the reference loop:
//!
//! * `torch._scaled_mm` with fast accumulation: `sm90@promote-every=none`;
//!   without: `sm90` (promotion every 128 K).
//! * tensor-wise scales: `alpha = fl(s_a·s_b)` in the epilogue (the default);
//!   row-wise scales (torch's CUTLASS row-wise kernel): `scale-order=b-then-a`;
//!   1×128 × 128×128 block scales: `sm90`, whose promotion is
//!   `fma(fl(s_a·s_b), partial, acc)` (`ffma-combined`).
//! * mixed e4m3 × e5m2 operands (either order) as the unmixed ones; a bias
//!   (cuBLASLt takes one only with bf16 output) is `C` rounded to bf16, added in
//!   the epilogue before the output rounding.
//! * Triton `tl.dot` with `max_num_imprecise_acc = N`: `sm90@promote-every=N`;
//!   Triton's default: `sm90@promote-every=none`.

mod common;
use common::{Bundle, same_f32};
use lowp::block::{QuantizedTensor, Scales, Scheme};
use lowp::format::ElemFormat;
use lowp::matmul::{Accum, Layout, Operand, OutDtype, matmul, matmul_reference};

fn plain(b: &Bundle, key: &str, fmt: ElemFormat) -> Operand {
    let a = b.get(key);
    Operand::from_codes(fmt, &a.u8(), [a.shape[0], a.shape[1]], Layout::RowsK).unwrap()
}

fn scaled(b: &Bundle, key: &str, scheme: &str, scales: Vec<f32>, scale_shape: Vec<usize>) -> Operand {
    let a = b.get(key);
    let q = QuantizedTensor::from_parts(
        scheme.parse::<Scheme>().unwrap(),
        a.shape.clone(),
        a.u8(),
        Scales::F32(scales),
        scale_shape,
        None,
    )
    .unwrap();
    Operand::from_quantized(&q, Layout::RowsK).unwrap()
}

/// Asserts that `accum` reproduces the GPU's output `want` (fast path and reference loop).
fn check(what: &str, a: &Operand, b: &Operand, accum: &str, out: OutDtype, want: &[f32]) {
    check_c(what, a, b, None, accum, out, want)
}

/// [`check`] with a C operand.
fn check_c(what: &str, a: &Operand, b: &Operand, c: Option<&[f32]>, accum: &str, out: OutDtype, want: &[f32]) {
    let acc: Accum = accum.parse().unwrap();
    for (path, d) in [("fast", matmul(a, b, c, &acc, out)), ("reference", matmul_reference(a, b, c, &acc, out))] {
        let d = d.unwrap();
        assert_eq!(d.len(), want.len());
        let bad: Vec<usize> = (0..d.len()).filter(|&i| !same_f32(d[i] as f32, want[i])).collect();
        assert!(
            bad.is_empty(),
            "{what} under {accum} ({path}): {} of {} outputs differ, first at {}: lowp {:e}, GPU {:e}",
            bad.len(),
            d.len(),
            bad[0],
            d[bad[0]],
            want[bad[0]]
        );
    }
}

/// How many of `want` the model misses (for the divergences the docs quote).
fn misses(a: &Operand, b: &Operand, accum: &str, out: OutDtype, want: &[f32]) -> usize {
    let d = matmul(a, b, None, &accum.parse().unwrap(), out).unwrap();
    (0..d.len()).filter(|&i| !same_f32(d[i] as f32, want[i])).count()
}

#[test]
fn cublas_fp8_gemm_is_sm90() {
    let b = Bundle::open("h100_cublas");
    for case in ["normal_128", "codes_128", "normal_1024", "codes_1024", "normal_4096"] {
        let (x, y) =
            (plain(&b, &format!("{case}/a"), ElemFormat::E4M3FN), plain(&b, &format!("{case}/b"), ElemFormat::E4M3FN));
        let fast = b.get(&format!("{case}/fast")).f32();
        let nofast = b.get(&format!("{case}/nofast")).f32();
        check(&format!("{case} fast accumulation"), &x, &y, "sm90@promote-every=none", OutDtype::F32, &fast);
        check(&format!("{case} no fast accumulation"), &x, &y, "sm90", OutDtype::F32, &nofast);
        if case.ends_with("1024") || case.ends_with("4096") {
            // the data tells the models apart: the ideal sums miss most outputs
            assert!(misses(&x, &y, "exact", OutDtype::F32, &nofast) > fast.len() / 2, "{case}");
            assert!(misses(&x, &y, "sm90@promote-every=none", OutDtype::F32, &nofast) > fast.len() / 2, "{case}");
        }
    }
}

#[test]
fn cublas_mixed_formats_and_bias() {
    let b = Bundle::open("h100_cublas");
    for (case, fa, fb) in [
        ("mixed_e4m3_e5m2", ElemFormat::E4M3FN, ElemFormat::E5M2),
        ("mixed_e5m2_e4m3", ElemFormat::E5M2, ElemFormat::E4M3FN),
    ] {
        let (x, y) = (plain(&b, &format!("{case}/a"), fa), plain(&b, &format!("{case}/b"), fb));
        check(case, &x, &y, "sm90@promote-every=none", OutDtype::F32, &b.get(&format!("{case}/fast")).f32());
        check(case, &x, &y, "sm90", OutDtype::F32, &b.get(&format!("{case}/nofast")).f32());
    }
    let t = |key: &str, s: f32| scaled(&b, key, "fp8-tensor@elem=e4m3fn", vec![s], vec![1]);
    let (x, y) = (t("bias/a", 0.3), t("bias/b", 1.7));
    let (m, n) = (x.rows(), y.rows());
    let bias: Vec<f32> = b.get("bias/bias").f32().iter().map(|&v| half::bf16::from_f32(v).to_f32()).collect();
    let c: Vec<f32> = (0..m * n).map(|i| bias[i % n]).collect();
    check_c("bias, fast", &x, &y, Some(&c), "sm90@promote-every=none", OutDtype::Bf16, &b.get("bias/fast").f32());
    check_c("bias", &x, &y, Some(&c), "sm90", OutDtype::Bf16, &b.get("bias/nofast").f32());
}

#[test]
fn cublas_tensor_and_row_scales() {
    let b = Bundle::open("h100_cublas");
    let (m, n) = (b.get("scaled/a").shape[0], b.get("scaled/b").shape[0]);
    let t = |key: &str, s: f32| scaled(&b, key, "fp8-tensor@elem=e4m3fn", vec![s], vec![1]);
    let (x, y) = (t("scaled/a", 0.3), t("scaled/b", 1.7));
    check("tensor-wise, fast", &x, &y, "sm90@promote-every=none", OutDtype::F32, &b.get("scaled/tensor_fast").f32());
    check("tensor-wise", &x, &y, "sm90", OutDtype::F32, &b.get("scaled/tensor_nofast").f32());
    let r = |key: &str, s: &str, rows: usize| scaled(&b, key, "fp8-row@elem=e4m3fn", b.get(s).f32(), vec![rows, 1]);
    let (x, y) = (r("scaled/a", "scaled/ra", m), r("scaled/b", "scaled/rb", n));
    for (out, o) in [("f32", OutDtype::F32), ("bf16", OutDtype::Bf16)] {
        let fast = b.get(&format!("scaled/row_{out}_fast")).f32();
        let nofast = b.get(&format!("scaled/row_{out}_nofast")).f32();
        check(&format!("row-wise {out}, fast"), &x, &y, "sm90@promote-every=none@scale-order=b-then-a", o, &fast);
        check(&format!("row-wise {out}"), &x, &y, "sm90@scale-order=b-then-a", o, &nofast);
    }
    // the combined alpha is a different rounding: about a third of the f32 outputs move
    let nofast = b.get("scaled/row_f32_nofast").f32();
    assert!(misses(&x, &y, "sm90", OutDtype::F32, &nofast) > nofast.len() / 5);
}

#[test]
fn cublas_block_scales_promote_with_ffma_combined() {
    let b = Bundle::open("h100_cublas");
    let ba = b.get("block/a");
    let (m, k) = (ba.shape[0], ba.shape[1]);
    let x = scaled(&b, "block/a", "fp8-block@elem=e4m3fn", b.get("block/sa").f32(), vec![m, k / 128]);
    let y = scaled(&b, "block/b", "fp8-block@block=128x128@elem=e4m3fn", b.get("block/sb").f32(), vec![1, k / 128]);
    for (out, o) in [("f32", OutDtype::F32), ("bf16", OutDtype::Bf16)] {
        let want = b.get(&format!("block/{out}")).f32();
        check(&format!("block-wise {out}"), &x, &y, "sm90", o, &want);
        check(&format!("block-wise {out}"), &x, &y, "sm90@promote=ffma-combined", o, &want);
    }
    // TE's model of cuBLAS (fmul-then-ffma) is not what this cuBLAS does
    let want = b.get("block/f32").f32();
    assert!(misses(&x, &y, "sm90@promote=fmul-then-ffma", OutDtype::F32, &want) > want.len() / 4);
}

#[test]
fn triton_dot_imprecise_acc_is_the_promotion_interval() {
    let b = Bundle::open("h100_triton");
    for (case, fmt) in [
        ("e4m3_normal", ElemFormat::E4M3FN),
        ("e4m3_codes", ElemFormat::E4M3FN),
        ("e5m2_normal", ElemFormat::E5M2),
        ("e5m2_codes", ElemFormat::E5M2),
    ] {
        let (x, y) = (plain(&b, &format!("{case}/a"), fmt), plain(&b, &format!("{case}/b"), fmt));
        for (key, accum) in [
            ("default", "sm90@promote-every=none"),
            ("imp32", "sm90@promote-every=32"),
            ("imp64", "sm90@promote-every=64"),
            ("imp128", "sm90"),
        ] {
            check(
                &format!("triton {case} {key}"),
                &x,
                &y,
                accum,
                OutDtype::F32,
                &b.get(&format!("{case}/{key}")).f32(),
            );
        }
    }
}
