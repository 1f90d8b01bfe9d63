//! criterion bench `convert`: slice encode/decode per format, with a plain f32 copy
//! and the `float8` crate (0.7, used by candle) as baselines in the same group.
//!
//! `cargo bench --bench convert`; single thread; 1 Mi elements of N(0, 10²) per iteration.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lowp::convert::{
    CastOptions, Rounding, decode_slice, encode_slice, encode_slice_stochastic, encode_slice_with_seed,
};
use lowp::format::ElemFormat;
use std::hint::black_box;

const N: usize = 1 << 20;

/// N(0, 10²) f32 samples ([`lowp::rng::normal`]), the distribution the Python
/// reference timings in BENCHMARKS.md use.
fn sample() -> Vec<f32> {
    (0..N).map(|i| (10.0 * lowp::rng::normal(3, i as u64)) as f32).collect()
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_f32");
    g.throughput(Throughput::Elements(N as u64));
    let x = sample();
    let mut codes = vec![0u8; N];
    let mut copy = vec![0f32; N];
    g.bench_function(BenchmarkId::new("baseline", "f32 copy"), |b| b.iter(|| copy.copy_from_slice(black_box(&x))));
    g.bench_function(BenchmarkId::new("float8 crate", "F8E4M3 (saturating)"), |b| {
        b.iter(|| {
            for (d, &v) in codes.iter_mut().zip(black_box(&x)) {
                *d = float8::F8E4M3::from_f32(v).to_bits();
            }
        })
    });
    for (name, o) in [("ml_dtypes", CastOptions::default()), ("saturating", CastOptions::saturating())] {
        for f in [ElemFormat::E4M3FN, ElemFormat::E5M2, ElemFormat::E2M1FN, ElemFormat::E8M0FNU] {
            g.bench_function(BenchmarkId::new(format!("lowp {name}"), f.name()), |b| {
                b.iter(|| encode_slice(f, black_box(&x), &mut codes, &o).unwrap())
            });
        }
    }
    // a directed rounding, and stochastic rounding with caller-given and seeded words
    let down = CastOptions::default().with_rounding(Rounding::TowardNegative);
    let sr = CastOptions::default().with_rounding(Rounding::Stochastic { bits: 8 });
    let words: Vec<u32> = (0..N as u64).map(|i| lowp::rng::random_bits(1, i)).collect();
    for f in [ElemFormat::E4M3FN, ElemFormat::E2M1FN] {
        g.bench_function(BenchmarkId::new("lowp rounding=down", f.name()), |b| {
            b.iter(|| encode_slice(f, black_box(&x), &mut codes, &down).unwrap())
        });
        g.bench_function(BenchmarkId::new("lowp rounding=sr (given words)", f.name()), |b| {
            b.iter(|| encode_slice_stochastic(f, black_box(&x), &mut codes, &sr, &words).unwrap())
        });
        g.bench_function(BenchmarkId::new("lowp rounding=sr (seeded)", f.name()), |b| {
            b.iter(|| encode_slice_with_seed(f, black_box(&x), &mut codes, &sr, 1).unwrap())
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_to_f32");
    g.throughput(Throughput::Elements(N as u64));
    // the e4m3fn codes of the N(0, 10²) sample
    let mut codes = vec![0u8; N];
    encode_slice(ElemFormat::E4M3FN, &sample(), &mut codes, &CastOptions::default()).unwrap();
    let x: Vec<f32> = (0..N).map(|i| i as f32).collect();
    let mut out = vec![0f32; N];
    g.bench_function(BenchmarkId::new("baseline", "f32 copy"), |b| b.iter(|| out.copy_from_slice(black_box(&x))));
    g.bench_function(BenchmarkId::new("float8 crate", "F8E4M3"), |b| {
        b.iter(|| {
            for (d, &c) in out.iter_mut().zip(black_box(&codes)) {
                *d = float8::F8E4M3::from_bits(c).to_f32();
            }
        })
    });
    for f in [ElemFormat::E4M3FN, ElemFormat::E5M2, ElemFormat::E8M0FNU] {
        g.bench_function(BenchmarkId::new("lowp", f.name()), |b| {
            b.iter(|| decode_slice(f, black_box(&codes), &mut out).unwrap())
        });
    }
    let fp4: Vec<u8> = codes.iter().map(|c| c & 0xF).collect();
    g.bench_function(BenchmarkId::new("lowp", "e2m1fn"), |b| {
        b.iter(|| decode_slice(ElemFormat::E2M1FN, black_box(&fp4), &mut out).unwrap())
    });
    g.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
