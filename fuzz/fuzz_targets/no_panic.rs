//! No panic from data: arbitrary bytes as .npy files, as f32/f64/f16/bf16 slices in
//! every format and option, and as codes to decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowp::convert::{decode_slice, encode_slice, encode_slice_with_seed, CastOptions, Like, Rounding};
use lowp::format::ElemFormat;
use lowp::io::npy::NpyArray;

fuzz_target!(|data: &[u8]| {
    let _ = NpyArray::parse(data, "fuzz.npy");
    if data.len() < 2 {
        return;
    }
    let fmt = ElemFormat::ALL[data[0] as usize % ElemFormat::ALL.len()];
    let mut opts: Vec<CastOptions> = Like::ALL.iter().filter_map(|l| l.cast_options(fmt).ok()).collect();
    opts.push(CastOptions::default().with_rounding(Rounding::Stochastic { bits: data[1] % 33 }));
    opts.push(CastOptions::saturating().with_rounding(Rounding::TowardNegative));
    let body = &data[2..];
    let f32s: Vec<f32> = body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let f64s: Vec<f64> = body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    let f16s: Vec<half::f16> = body.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]])).collect();
    let bf16s: Vec<half::bf16> = body.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]])).collect();
    for o in &opts {
        let mut c = vec![0u8; f32s.len()];
        let _ = encode_slice(fmt, &f32s, &mut c, o);
        let _ = encode_slice_with_seed(fmt, &f32s, &mut c, o, 7);
        let mut c = vec![0u8; f64s.len()];
        let _ = encode_slice(fmt, &f64s, &mut c, o);
        let mut c = vec![0u8; f16s.len()];
        let _ = encode_slice(fmt, &f16s, &mut c, o);
        let _ = encode_slice(fmt, &bf16s, &mut c, o);
        let mut wrong = vec![0u8; c.len() + 1];
        assert!(encode_slice(fmt, &f16s, &mut wrong, o).is_err());
    }
    let mut out = vec![0f32; body.len()];
    let _ = decode_slice(fmt, body, &mut out);
});
