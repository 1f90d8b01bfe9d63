//! Differential: the conversion routine and the slice fast path against the
//! independent oracle, for any input, format and option set.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lowp::convert::{
    encode, encode_f32_fast_or_generic, encode_slice_stochastic, CastOptions, E8m0Rounding, InfPolicy, InputPath, NanEncoding,
    NanPolicy, NegativePolicy, Overflow, Rounding, SourceFloat, ZeroPolicy,
};
use lowp::format::ElemFormat;
use lowp::oracle::encode_oracle;

#[derive(Arbitrary, Debug)]
struct Input {
    bits: u64,
    wide: bool,
    fmt: u8,
    rounding: u8,
    stoch_bits: u8,
    rbits: u32,
    knobs: [u8; 7],
}

fn pick<T: Copy>(v: &[T], i: u8) -> T {
    v[i as usize % v.len()]
}

fuzz_target!(|inp: Input| {
    let fmt = pick(ElemFormat::ALL, inp.fmt);
    let rounding = match inp.rounding % 7 {
        0 => Rounding::NearestEven,
        1 => Rounding::NearestAway,
        2 => Rounding::NearestTowardZero,
        3 => Rounding::TowardZero,
        4 => Rounding::TowardPositive,
        5 => Rounding::TowardNegative,
        _ => Rounding::Stochastic { bits: inp.stoch_bits % 32 + 1 },
    };
    let k = inp.knobs;
    let o = CastOptions {
        rounding,
        overflow: pick(&[Overflow::Saturate, Overflow::NonFinite], k[0]),
        inf: pick(&[InfPolicy::Keep, InfPolicy::Saturate], k[1]),
        nan: pick(&[NanPolicy::Error, NanPolicy::PositiveMax, NanPolicy::SignedMax, NanPolicy::Zero, NanPolicy::SignFlippedZero], k[2]),
        nan_encoding: pick(&[NanEncoding::QuietSigned, NanEncoding::AllOnesSigned, NanEncoding::AllOnesPositive], k[3]),
        e8m0: pick(E8m0Rounding::ALL, k[4]),
        zero: pick(ZeroPolicy::ALL, k[5]),
        negative: pick(NegativePolicy::ALL, k[6]),
        input: InputPath::Direct,
    };
    let spec = fmt.spec();
    let d = if inp.wide { f64::from_bits(inp.bits).decompose() } else { f32::from_bits(inp.bits as u32).decompose() };
    let got = encode(spec, d, &o, inp.rbits).0;
    let want = encode_oracle(spec, d, &o, inp.rbits);
    assert_eq!(got, want, "{fmt} {o:?} {d:?}");
    // the slice path (the fast kernels; f64 through round-to-odd f32) equals encode
    let mut c = [0u8; 1];
    let ok = if inp.wide {
        encode_slice_stochastic(fmt, &[f64::from_bits(inp.bits)], &mut c, &o, &[inp.rbits]).is_ok()
    } else {
        let x = f32::from_bits(inp.bits as u32);
        let fast = encode_f32_fast_or_generic(fmt, x, &o, inp.rbits).0;
        assert_eq!(fast, got, "fast path {fmt} {o:?} {x:e}");
        encode_slice_stochastic(fmt, &[x], &mut c, &o, &[inp.rbits]).is_ok()
    };
    if ok {
        assert_eq!(c[0], got, "slice {fmt} {o:?} {d:?}");
    }
});
