//! GEMM models against the reference GEMMs of the golden set (copied to
//! tests/fixtures/matmul_*): `C_f32_seq` (strict k-order f32, no FMA) must equal
//! `f32-mul-add` and `C_f64_exact` (math.fsum) must equal `exact` with f64 output,
//! bit for bit, both from the f32 inputs (quantized by lowp) and from the golden codes.

mod common;
use common::Bundle;
use lowp::block::{QuantizedTensor, Scales, Scheme, quantize};
use lowp::matmul::{Accum, Layout, Operand, OutDtype, matmul, matmul_reference};

const CASES: [(&str, &str); 4] = [
    ("matmul_mxfp8_floor", "mxfp8-e4m3@like=torchao@scale-rule=floor"),
    ("matmul_mxfp8_rceil", "mxfp8-e4m3@like=torchao@scale-rule=rceil"),
    ("matmul_nvfp4_nopts", "nvfp4@like=torchao"),
    ("matmul_nvfp4_pts", "nvfp4@like=torchao@global-scale=on"),
];

/// The operand as torchao stored it: codes + scales (+ per-tensor scale), `[rows, K]`.
fn from_golden(b: &Bundle, which: &str, scheme: &Scheme) -> Operand {
    let scale = b.get(&format!("{which}_scale"));
    let (rows, nb) = (scale.shape[0], scale.shape[1]);
    let k = 256;
    let codes: Vec<u8> = if b.has(&format!("{which}_code")) {
        b.get(&format!("{which}_code")).u8()
    } else {
        b.get(&format!("{which}_packed")).u8().iter().flat_map(|&p| [p & 0xF, p >> 4]).collect()
    };
    assert_eq!(codes.len(), rows * k);
    let scales = match scheme.name() {
        "nvfp4" => Scales::Ue4m3(scale.u8()),
        _ => Scales::E8m0(scale.u8()),
    };
    let global_scale = if b.has(&format!("{which}_per_tensor_scale")) {
        Some(b.get(&format!("{which}_per_tensor_scale")).f32()[0])
    } else {
        None
    };
    let mut s = *scheme;
    s.axis = 1;
    let q = QuantizedTensor::from_parts(s, vec![rows, k], codes, scales, vec![rows, nb], global_scale).unwrap();
    Operand::from_quantized(&q, Layout::RowsK).unwrap()
}

fn bits32(v: &[f64]) -> Vec<u32> {
    v.iter().map(|&x| (x as f32).to_bits()).collect()
}

#[test]
fn golden_reference_gemms_bit_exact() {
    for (name, spec) in CASES {
        let g = Bundle::open(name);
        let scheme: Scheme = spec.parse().unwrap();
        let (m, k, n) = (64, 256, 48);
        let a32 = g.get("A").f32();
        let b32 = g.get("B").f32(); // [K, N]
        let qa = Operand::from_f32(&a32, [m, k], Layout::RowsK, &scheme).unwrap();
        let qb = Operand::from_f32(&b32, [k, n], Layout::KRows, &scheme).unwrap();
        let (ga, gb) = (from_golden(&g, "A", &scheme), from_golden(&g, "Bt", &scheme));
        // lowp's own quantization reproduces torchao's dequantized operands
        let a_deq = g.get("A_deq").f32();
        let b_deq = g.get("B_deq").f32(); // [K, N]
        let bt_deq: Vec<f32> =
            (0..n).flat_map(|j| (0..k).map(move |kk| (kk, j))).map(|(kk, j)| b_deq[kk * n + j]).collect();
        for (what, op, want) in
            [("A", &qa, &a_deq), ("A golden", &ga, &a_deq), ("Bt", &qb, &bt_deq), ("Bt golden", &gb, &bt_deq)]
        {
            let same = op.dequantized().iter().zip(want.iter()).filter(|(x, y)| x.to_bits() == y.to_bits()).count();
            assert_eq!(same, want.len(), "{name}: {what} dequantized");
        }
        let seq = g.get("C_f32_seq").f32().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let exact = g.get("C_f64_exact").f64().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (src, (a, b)) in [("lowp-quantized", (&qa, &qb)), ("golden codes", (&ga, &gb))] {
            let d = matmul(a, b, None, &Accum::F32MulAdd, OutDtype::F32).unwrap();
            let mism = bits32(&d).iter().zip(&seq).filter(|(x, y)| x != y).count();
            assert_eq!(mism, 0, "{name} ({src}): f32-mul-add vs C_f32_seq: {mism} of {} differ", seq.len());
            let r = matmul_reference(a, b, None, &Accum::F32MulAdd, OutDtype::F32).unwrap();
            assert_eq!(bits32(&r), seq, "{name} ({src}): reference loop");
            let e = matmul(a, b, None, &Accum::Exact, OutDtype::F64).unwrap();
            let mism = e.iter().map(|x| x.to_bits()).zip(&exact).filter(|(x, y)| x != *y).count();
            assert_eq!(mism, 0, "{name} ({src}): exact vs C_f64_exact: {mism} of {} differ", exact.len());
            // dequantized MX/NVFP4 values without a global scale have at most 8
            // significant bits, so every product is exact in f32 and an FMA loop
            // cannot differ from the mul-add loop; with the folded global scale it may
            let fma = matmul(a, b, None, &Accum::F32Fma, OutDtype::F32).unwrap();
            let diff = bits32(&fma).iter().zip(&seq).filter(|(x, y)| x != y).count();
            if !name.ends_with("_pts") {
                assert_eq!(diff, 0, "{name} ({src}): f32-fma vs f32-mul-add with exact products");
            }
        }
    }
}

#[test]
fn golden_quantized_b_matches_codes() {
    // B quantized along K in its [K, N] layout gives torchao's B^T codes
    for (name, spec) in CASES {
        let g = Bundle::open(name);
        let scheme: Scheme = spec.parse().unwrap();
        let mut s = scheme;
        s.axis = 0;
        let q = quantize(&g.get("B").f32(), &[256, 48], &s).unwrap();
        let codes_t: Vec<u8> =
            (0..48).flat_map(|j| (0..256).map(move |kk| (kk, j))).map(|(kk, j)| q.codes()[kk * 48 + j]).collect();
        let want: Vec<u8> = if g.has("Bt_code") {
            g.get("Bt_code").u8()
        } else {
            g.get("Bt_packed").u8().iter().flat_map(|&p| [p & 0xF, p >> 4]).collect()
        };
        assert_eq!(codes_t, want, "{name}");
    }
}
