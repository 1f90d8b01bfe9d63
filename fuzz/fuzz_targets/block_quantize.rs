//! Block quantization on arbitrary shapes, values and scheme options: no panic;
//! a successful result validates (scales fill the grid, codes fit), E8M0 scales
//! are powers of two, and every element satisfies the documented error bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowp::block::{QuantizedTensor, Scales, Scheme, quantize};

const SPECS: [&str; 16] = [
    "mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "mxint8", "mxfp4@scale-rule=rceil",
    "mxfp8-e4m3@like=microxcaling", "nvfp4", "nvfp4@global-scale=on", "nvfp4@like=te@global-scale=on",
    "nvfp4@like=te@block=16x16", "fp8-block", "fp8-block@like=te", "fp8-row", "fp8-tensor@elem=e5m2",
];
const BLOCKS: [&str; 6] = ["", "@block=8", "@block=3", "@block=4x4", "@block=2x1", "@axis=0"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let spec = format!("{}{}", SPECS[data[0] as usize % SPECS.len()], BLOCKS[data[1] as usize % BLOCKS.len()]);
    let Ok(s) = spec.parse::<Scheme>() else { return };
    let x: Vec<f32> = data[4..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let n = x.len();
    let rows = (data[2] as usize % 5) + 1;
    let shape = if data[3] % 2 == 0 || n % rows != 0 { vec![n] } else { vec![rows, n / rows] };
    let Ok(q) = quantize(&x, &shape, &s) else { return };
    let (sc, sh, co, sa, ss, g) = q.clone().into_parts();
    assert_eq!(QuantizedTensor::from_parts(sc, sh, co, sa, ss, g).expect("a quantizer's own parts pass"), q);
    if let Scales::E8m0(b) = q.scales() {
        for i in 0..b.len() {
            let v = q.scales().value(i);
            assert!(v.is_nan() || v.to_bits().is_power_of_two() || v.to_bits() & 0x7F_FFFF == 0);
        }
    }
    let d = q.dequantize();
    let bound = q.error_bounds(&x).unwrap();
    for i in 0..n {
        if bound[i].is_finite() {
            assert!((d[i] as f64 - x[i] as f64).abs() <= bound[i] as f64, "{spec} {} -> {}", x[i], d[i]);
        }
    }
});
