//! criterion bench `matmul`: GEMM of two 512×512 operands per model, f32 output
//! (`matmul_f32`; building the operands from their quantized tensors included),
//! with `matrixmultiply`'s f32 sgemm on the dequantized values as the baseline in
//! the same group.
//! `cargo bench --bench matmul`; single thread (the tensor-core path's rows run on
//! a one-thread pool). `lowp bench --filter matmul` gives the 2048³ figures
//! quoted in BENCHMARKS.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lowp::block::{Scheme, quantize};
use lowp::matmul::{Accum, Layout, Operand, OutDtype, matmul_f32};
use std::hint::black_box;

const S: usize = 512;

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut g = c.benchmark_group("matmul");
    g.sample_size(10);
    g.throughput(Throughput::Elements((2 * S * S * S) as u64)); // flops
    let x: Vec<f32> = (0..S * S).map(|i| lowp::rng::normal(21, i as u64) as f32).collect();
    let y: Vec<f32> = (0..S * S).map(|i| lowp::rng::normal(22, i as u64) as f32).collect();
    for spec in ["mxfp8-e4m3", "nvfp4", "fp8-block"] {
        let s: Scheme = spec.parse().unwrap();
        let (qa, qb) = (quantize(&x, &[S, S], &s).unwrap(), quantize(&y, &[S, S], &s).unwrap());
        let (da, db) = (qa.dequantize(), qb.dequantize());
        let mut d = vec![0f32; S * S];
        g.bench_function(BenchmarkId::new("baseline: matrixmultiply sgemm", spec), |b| {
            b.iter(|| sgemm(black_box(&da), black_box(&db), &mut d))
        });
        for model in ["f32-fma", "f32-mul-add", "f32-blocked", "sm90"] {
            let acc: Accum = model.parse().unwrap();
            g.bench_function(BenchmarkId::new(model, spec), |b| {
                b.iter(|| {
                    pool.install(|| {
                        let a = Operand::from_quantized(black_box(&qa), Layout::RowsK).unwrap();
                        let bb = Operand::from_quantized(black_box(&qb), Layout::RowsK).unwrap();
                        matmul_f32(&a, &bb, None, &acc, OutDtype::F32).unwrap()
                    })
                })
            });
        }
    }
    g.finish();
}

/// `d = a · bᵀ` with matrixmultiply (a: [S,S] row-major, b: [S,S] row-major read
/// transposed through its strides).
fn sgemm(a: &[f32], b: &[f32], d: &mut [f32]) {
    let s = S as isize;
    // SAFETY: matrixmultiply::sgemm reads S×S elements of a and b and writes S×S of d
    // through these strides; the three slices are S·S long.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(S, S, S, 1.0, a.as_ptr(), s, 1, b.as_ptr(), 1, s, 0.0, d.as_mut_ptr(), s, 1);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
