//! `QuantizedTensor::from_parts` on arbitrary parts: an error, or a tensor whose
//! every reader (dequantize, error bounds, block indices, packing, kernel scale
//! layouts, the GEMM operand) runs without a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lowp::block::{QuantizedTensor, Scales, Scheme};
use lowp::matmul::{Layout, Operand};

const SPECS: [&str; 12] = [
    "mxfp8-e4m3", "mxfp4", "mxint8", "mxfp6-e3m2@block=16", "nvfp4", "nvfp4@global-scale=on@like=te",
    "nvfp4@block=16x16", "nvfp4@rht=on", "fp8-block", "fp8-block@block=128x128@scale-format=ue8m0", "fp8-row",
    "fp8-tensor@like=te",
];

#[derive(Arbitrary, Debug)]
struct Input {
    spec: u8,
    axis: i8,
    shape: Vec<u8>,
    codes: Vec<u8>,
    scale_kind: u8,
    scale_bytes: Vec<u8>,
    scale_floats: Vec<f32>,
    scale_shape: Vec<u8>,
    global: Option<f32>,
}

fuzz_target!(|inp: Input| {
    let Ok(mut scheme) = SPECS[inp.spec as usize % SPECS.len()].parse::<Scheme>() else { return };
    scheme.axis = inp.axis as isize;
    let shape: Vec<usize> = inp.shape.iter().take(3).map(|&d| d as usize % 40).collect();
    let scales = match inp.scale_kind % 3 {
        0 => Scales::E8m0(inp.scale_bytes),
        1 => Scales::Ue4m3(inp.scale_bytes),
        _ => Scales::F32(inp.scale_floats),
    };
    let scale_shape = inp.scale_shape.iter().take(3).map(|&d| d as usize).collect();
    let Ok(q) = QuantizedTensor::from_parts(scheme, shape, inp.codes, scales, scale_shape, inp.global) else { return };
    let d = q.dequantize();
    assert_eq!(d.len(), q.len());
    let _ = q.error_bounds(&d);
    let _ = q.block_indices();
    let _ = q.packed();
    let _ = q.scales_kernel_layout();
    let _ = q.bits_per_element();
    for layout in [Layout::RowsK, Layout::KRows] {
        if let Ok(op) = Operand::from_quantized(&q, layout) {
            let _ = op.dequantized();
        }
    }
});
