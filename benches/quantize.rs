//! criterion bench `quantize`: block quantization and dequantization of a
//! 1024×1024 f32 tensor per scheme, with a plain f32 copy as the baseline in the
//! same group. `cargo bench --bench quantize`; single thread. (`lowp bench` gives
//! the 4096² figures quoted in BENCHMARKS.md.)

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lowp::block::{Scheme, quantize, quantize_into};
use std::hint::black_box;

const SIDE: usize = 1024;

fn bench(c: &mut Criterion) {
    let x: Vec<f32> = (0..SIDE * SIDE).map(|i| lowp::rng::normal(11, i as u64) as f32).collect();
    let shape = [SIDE, SIDE];
    let mut g = c.benchmark_group("quantize");
    g.throughput(Throughput::Elements((SIDE * SIDE) as u64));
    let mut out = vec![0f32; x.len()];
    g.bench_function(BenchmarkId::new("baseline", "f32 copy"), |b| b.iter(|| out.copy_from_slice(black_box(&x))));
    for spec in ["mxfp8-e4m3", "mxfp4", "nvfp4", "nvfp4@global-scale=on", "fp8-block", "fp8-block@block=128x128"] {
        let s: Scheme = spec.parse().unwrap();
        let mut q = quantize(&x, &shape, &s).unwrap();
        g.bench_function(BenchmarkId::new("quantize", spec), |b| {
            b.iter(|| quantize_into(black_box(&x), &shape, &s, &mut q).unwrap())
        });
        g.bench_function(BenchmarkId::new("dequantize", spec), |b| {
            b.iter(|| q.dequantize_into(black_box(&mut out)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
