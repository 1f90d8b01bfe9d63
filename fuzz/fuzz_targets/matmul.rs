//! GEMM on small arbitrary shapes, codes, wide values, scales, C and models
//! (every architecture preset): no panic, and the fast path equals the
//! reference loop bit for bit (f64 and f32 results).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowp::format::ElemFormat;
use lowp::matmul::{Accum, ElemType, Layout, Operand, OutDtype, matmul, matmul_f32, matmul_reference};

const MODELS: [&str; 24] = [
    "exact", "f64", "f32-fma", "f32-mul-add", "f32-blocked@promote=ffma-combined", "sm90", "sm89",
    "sm100-mma-sync", "sm100", "sm90@scale-order=b-then-a", "sm89@scale-order=a-then-b", "sm120",
    "sm90@c=mma@d=f16", "sm100@c=mma", "sm89@n=32", "sm70", "sm75@c=mma", "sm80", "sm80@c=mma@d=f16",
    "sm90@c=mma", "sm120@c=mma", "cdna3", "cdna3@c=mma", "sm90@promote-every=none",
];
const SCHEMES: [&str; 8] = [
    "mxfp8-e4m3",
    "nvfp4@global-scale=on",
    "fp8-block@block=1x8",
    "mxfp4@block=8",
    "fp8-row",
    "fp8-tensor",
    "mxfp8-e4m3@elem=e4m3fnuz",
    "mxfp8-e4m3@elem=e5m2fnuz",
];
const CODES: [ElemFormat; 4] = [ElemFormat::E4M3FN, ElemFormat::E5M2, ElemFormat::E4M3FNUZ, ElemFormat::E5M2FNUZ];

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let (m, n, k) = (data[0] as usize % 7, data[1] as usize % 7, data[2] as usize % 40);
    let acc: Accum = MODELS[data[3] as usize % MODELS.len()].parse().unwrap();
    let body = &data[6..];
    let f: Vec<f32> = body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let val = |i: usize| f.get(i % f.len().max(1)).copied().unwrap_or(1.0);
    let layout = if data[5] % 2 == 0 { Layout::RowsK } else { Layout::KRows };
    let sb = if layout == Layout::RowsK { [n, k] } else { [k, n] };
    let (a, b) = match data[4] % 3 {
        0 => {
            // plain codes, any byte (NaN and Inf codes included)
            let f = CODES[data[4] as usize / 3 % CODES.len()];
            let code = |i: usize| body.get(i % body.len().max(1)).copied().unwrap_or(0);
            let ca: Vec<u8> = (0..m * k).map(code).collect();
            let cb: Vec<u8> = (0..n * k).map(|i| code(i + 7)).collect();
            (Operand::from_codes(f, &ca, [m, k], Layout::RowsK).unwrap(), Operand::from_codes(f, &cb, sb, layout).unwrap())
        }
        1 => {
            // bf16, f16, tf32, xf32 from any f32 bits
            let ty = ElemType::WIDE[data[4] as usize / 3 % ElemType::WIDE.len()];
            let xa: Vec<f32> = (0..m * k).map(val).collect();
            let xb: Vec<f32> = (0..n * k).map(|i| val(i + 3)).collect();
            (Operand::from_wide(ty, &xa, [m, k], Layout::RowsK).unwrap(), Operand::from_wide(ty, &xb, sb, layout).unwrap())
        }
        _ => {
            let s = SCHEMES[data[5] as usize / 2 % SCHEMES.len()].parse().unwrap();
            let xa: Vec<f32> = (0..m * k).map(val).collect();
            let xb: Vec<f32> = (0..n * k).map(|i| val(i + 3)).collect();
            (
                Operand::from_f32(&xa, [m, k], Layout::RowsK, &s).unwrap(),
                Operand::from_f32(&xb, [n, k], Layout::RowsK, &s).unwrap(),
            )
        }
    };
    // a C from the same bytes on every other input
    let c: Option<Vec<f32>> = (data[4] % 2 == 1).then(|| (0..m * n).map(|i| val(i + 5)).collect());
    let c = c.as_deref();
    let fast = matmul(&a, &b, c, &acc, OutDtype::F32);
    let slow = matmul_reference(&a, &b, c, &acc, OutDtype::F32);
    match (matmul_f32(&a, &b, c, &acc, OutDtype::F32), &slow) {
        (Ok(f), Ok(s)) => {
            for (x, y) in f.iter().zip(s) {
                let y = *y as f32;
                assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{acc} f32: {x} vs {y}");
            }
        }
        (Err(_), Err(_)) => {}
        (f, s) => panic!("matmul_f32 {f:?} vs slow {s:?}"),
    }
    match (fast, slow) {
        (Ok(f), Ok(s)) => {
            for (x, y) in f.iter().zip(&s) {
                assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{acc}: {x} vs {y}");
            }
        }
        (Err(_), Err(_)) => {}
        (f, s) => panic!("fast {f:?} vs slow {s:?}"),
    }
});
