//! `lowp bench`: single-core throughput of each operation on this machine.

use clap::Args;
use lowp::Error;
use lowp::convert::{CastOptions, decode_slice, encode_slice};
use lowp::format::ElemFormat;
use std::time::Instant;

use super::args::emit;

#[derive(Args)]
pub struct BenchArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Elements per operation.
    #[arg(long, default_value_t = 1 << 24)]
    n: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Side of the square f32 matrix the quantize/dequantize rows use.
    #[arg(long, default_value_t = 4096)]
    side: usize,
    /// M = N = K of the matmul rows.
    #[arg(long, default_value_t = 2048)]
    gemm_side: usize,
    /// Output type of the matmul rows: f32 (`matmul_f32`) or f64 (`matmul`, f64
    /// results).
    #[arg(long, default_value = "f32")]
    out_dtype: String,
    /// Only operations whose "op/target" contains this text.
    #[arg(long)]
    filter: Option<String>,
}

/// Median seconds of `reps` runs of `f` after one warm-up run.
pub fn time_median(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Median seconds of `reps` runs each of `f` and `g`, the runs alternating (after
/// one warm-up run of each), so both see the same machine.
pub fn time_pair(reps: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let time = |h: &mut dyn FnMut()| {
        let s = Instant::now();
        h();
        s.elapsed().as_secs_f64()
    };
    f();
    g();
    let (mut tf, mut tg): (Vec<f64>, Vec<f64>) = (0..reps.max(1)).map(|_| (time(&mut f), time(&mut g))).unzip();
    tf.sort_by(f64::total_cmp);
    tg.sort_by(f64::total_cmp);
    (tf[tf.len() / 2], tg[tg.len() / 2])
}

/// One pass of a cast's memory limit: an f32 read and a byte written per element
/// (`r`: a u32 word read too), with the cast kernels' software prefetch.
fn copy_pass(codes: &mut [u8], x: &[f32], r: Option<&[u32]>) {
    use lowp::simd::{PREFETCH_AHEAD, prefetch_ahead};
    let x = std::hint::black_box(x);
    match r {
        None => {
            for (c, v) in codes.chunks_mut(16).zip(x.chunks(16)) {
                prefetch_ahead(v, PREFETCH_AHEAD);
                for (c, v) in c.iter_mut().zip(v) {
                    *c = (v.to_bits() >> 24) as u8;
                }
            }
        }
        Some(r) => {
            for ((c, v), r) in codes.chunks_mut(16).zip(x.chunks(16)).zip(std::hint::black_box(r).chunks(16)) {
                prefetch_ahead(v, PREFETCH_AHEAD);
                prefetch_ahead(r, PREFETCH_AHEAD);
                for ((c, v), r) in c.iter_mut().zip(v).zip(r) {
                    *c = ((v.to_bits() ^ r) >> 24) as u8;
                }
            }
        }
    }
}

/// Deterministic N(0, sigma²) f32 samples ([`lowp::rng::normal`]);
/// `sample(n, 10.0, _)` is the distribution `scripts/bench_references.py` times
/// ml_dtypes and torch on (`standard_normal(N) * 10`).
pub fn sample(n: usize, sigma: f64, seed: u64) -> Vec<f32> {
    (0..n).map(|i| (sigma * lowp::rng::normal(seed, i as u64)) as f32).collect()
}

pub struct Report {
    json: bool,
    /// The machine, as every JSON row states it.
    machine: String,
}

/// The CPU model as the OS names it (`/proc/cpuinfo`), or the architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl Report {
    pub fn new(json: bool) -> Result<Self, Error> {
        let simd = format!("{:?}", lowp::simd::SimdBuild::best()).to_ascii_lowercase();
        let machine = format!("\"cpu\":{},\"simd\":\"{simd}\",\"threads\":1", serde_json::Value::from(cpu_model()));
        if !json {
            eprintln!("lowp bench: {} ({simd} kernels), one thread", cpu_model());
            emit(&format!("{:<10} {:<32} {:>12} {:<8}\n", "op", "target", "throughput", "unit"))?;
        }
        Ok(Report { json, machine })
    }
    /// One result: `n` elements (GEMM: the side), the median of `reps` runs.
    pub fn row(&self, op: &str, target: &str, value: f64, unit: &str, n: usize, reps: usize) -> Result<(), Error> {
        if self.json {
            emit(&format!(
                "{{\"op\":\"{op}\",\"target\":\"{target}\",\"throughput\":{value:.4},\"unit\":\"{unit}\",\"n\":{n},\"reps\":{reps},{}}}\n",
                self.machine
            ))
        } else {
            emit(&format!("{op:<10} {target:<32} {value:>12.3} {unit:<8}\n"))
        }
    }
    /// A cast row and its ratio to the copy of the same bytes timed just before it.
    pub fn row_vs_copy(&self, op: &str, target: &str, value: f64, vs: f64, n: usize, reps: usize) -> Result<(), Error> {
        if self.json {
            emit(&format!(
                "{{\"op\":\"{op}\",\"target\":\"{target}\",\"throughput\":{value:.4},\"unit\":\"Gelem/s\",\"vs_copy\":{vs:.3},\"n\":{n},\"reps\":{reps},{}}}\n",
                self.machine
            ))
        } else {
            emit(&format!("{op:<10} {target:<32} {value:>12.3} {:<8} {vs:>5.2}x copy\n", "Gelem/s"))
        }
    }
    /// Progress: the row about to be timed, on stderr when it is a terminal.
    pub fn start(&self, op: &str, target: &str) {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[K{op} {target} ...\r");
        }
    }
}

pub fn bench(a: &BenchArgs) -> Result<(), Error> {
    if a.n == 0 {
        return Err(Error::InvalidOption("--n must be positive".into()));
    }
    if a.gemm_side == 0 {
        return Err(Error::InvalidOption("--gemm-side must be positive".into()));
    }
    let gemm_out: lowp::matmul::OutDtype = a.out_dtype.parse()?;
    let report = Report::new(a.json)?;
    let want = |op: &str, t: &str| a.filter.as_ref().is_none_or(|f| format!("{op}/{t}").contains(f.as_str()));
    let mut codes = vec![0u8; a.n];
    let mut out = vec![0f32; a.n];
    let mut x: Option<Vec<f32>> = None;
    let mut rbits: Option<Vec<u32>> = None;
    // The memory limits of a cast: the same bytes moved with no arithmetic, an f32
    // read and a code byte written per element ("f32->u8"), plus a u32 read for
    // stochastic rounding with caller-given random words ("f32+u32->u8"), with the
    // cast kernels' software prefetch (`simd::PREFETCH_AHEAD`). Each cast row's
    // passes alternate with passes of its copy (`time_pair`), and `vs copy` is the
    // ratio of their medians, so a drift of the machine's memory speed during the
    // row moves both alike.
    let mut copy_codes = vec![0u8; a.n];
    if want("copy", "f32") {
        let x = x.get_or_insert_with(|| sample(a.n, 10.0, 7));
        let s = time_median(a.reps, || out.copy_from_slice(std::hint::black_box(x)));
        report.row("copy", "f32", a.n as f64 / s / 1e9, "Gelem/s", a.n, a.reps)?;
    }
    for (target, given) in [("f32->u8", false), ("f32+u32->u8", true)] {
        if want("copy", target) {
            let x = x.get_or_insert_with(|| sample(a.n, 10.0, 7));
            let r = given.then(|| &rbits.get_or_insert_with(|| random_words(a.n))[..]);
            let s = time_median(a.reps, || copy_pass(&mut copy_codes, x, r));
            report.row("copy", target, a.n as f64 / s / 1e9, "Gelem/s", a.n, a.reps)?;
        }
    }
    for &f in ElemFormat::ALL {
        for (target, o, bits) in cast_targets(f) {
            if !want("cast", &target) {
                continue;
            }
            report.start("cast", &target);
            let x = &x.get_or_insert_with(|| sample(a.n, 10.0, 7))[..];
            let r = &rbits.get_or_insert_with(|| random_words(a.n))[..];
            let given = (bits == SrBits::Given).then_some(r);
            let (copy, s) = time_pair(
                a.reps,
                || copy_pass(&mut copy_codes, x, given),
                || {
                    let x = std::hint::black_box(x);
                    match bits {
                        SrBits::None => encode_slice(f, x, &mut codes, &o).unwrap(),
                        SrBits::Given => lowp::convert::encode_slice_stochastic(f, x, &mut codes, &o, r).unwrap(),
                        SrBits::Seeded => lowp::convert::encode_slice_with_seed(f, x, &mut codes, &o, 1).unwrap(),
                    }
                },
            );
            report.row_vs_copy("cast", &target, a.n as f64 / s / 1e9, copy / s, a.n, a.reps)?;
        }
        if want("decode", f.name()) {
            // the codes of the sample cast RNE (untimed): the same codes whichever rows ran
            let x = &x.get_or_insert_with(|| sample(a.n, 10.0, 7))[..];
            encode_slice(f, x, &mut codes, &CastOptions::default()).unwrap();
            let s = time_median(a.reps, || decode_slice(f, std::hint::black_box(&codes), &mut out).unwrap());
            report.row("decode", f.name(), a.n as f64 / s / 1e9, "Gelem/s", a.n, a.reps)?;
        }
    }
    let schemes = [
        "mxfp8-e4m3",
        "mxfp8-e5m2",
        "mxfp6-e2m3",
        "mxfp6-e3m2",
        "mxfp4",
        "mxint8",
        "nvfp4",
        "nvfp4@global-scale=on",
        "fp8-block",
        "fp8-block@block=128x128",
        "fp8-row",
        "fp8-tensor",
    ];
    let shape = [a.side, a.side];
    let mut x: Option<Vec<f32>> = None;
    for spec in schemes {
        if !want("quantize", spec) && !want("dequantize", spec) {
            continue;
        }
        let x = x.get_or_insert_with(|| sample(a.side * a.side, 1.0, 11));
        let n = x.len() as f64;
        let scheme: lowp::block::Scheme = spec.parse()?;
        let mut q = lowp::block::quantize(x, &shape, &scheme)?;
        if want("quantize", spec) {
            report.start("quantize", spec);
            // into the previous result's buffers, as the f32 copy row writes into an existing buffer
            let s = time_median(a.reps, || {
                lowp::block::quantize_into(std::hint::black_box(x), &shape, &scheme, &mut q).expect("valid")
            });
            report.row("quantize", spec, n / s / 1e9, "Gelem/s", x.len(), a.reps)?;
        }
        if want("dequantize", spec) {
            let mut out = vec![0f32; q.len()];
            let s = time_median(a.reps, || q.dequantize_into(std::hint::black_box(&mut out)).expect("sized"));
            report.row("dequantize", spec, n / s / 1e9, "Gelem/s", x.len(), a.reps)?;
        }
    }
    gemm_rows(a, gemm_out, &report, &want)
}

/// Where a cast row's stochastic-rounding words come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SrBits {
    /// Not stochastic.
    None,
    /// One word per element given by the caller (`encode_slice_stochastic`).
    Given,
    /// Drawn by lowp's counter-based generator (`encode_slice_with_seed`).
    Seeded,
}

/// The caller-given random words of the stochastic rows (`rng::random_bits(1, i)`).
fn random_words(n: usize) -> Vec<u32> {
    (0..n as u64).map(|i| lowp::rng::random_bits(1, i)).collect()
}

/// The cast rows of a format: ml_dtypes (the default options), the `torch` and
/// `ptx` presets where they have the format, and every other rounding (e8m0fnu:
/// every e8m0 rounding) on top of the default options, named as the CLI spells
/// them (`e4m3fn`, `e4m3fn@like=torch`, `e4m3fn@rounding=sr`, `e8m0fnu@e8m0=floor`).
/// Stochastic rounding (8 random bits) has two rows: `@rounding=sr` with
/// caller-given random words, `@rounding=sr+seed` drawing them from a seed.
fn cast_targets(f: ElemFormat) -> Vec<(String, CastOptions, SrBits)> {
    use lowp::convert::{E8m0Rounding, Like, Rounding};
    let d = CastOptions::default();
    let mut v = vec![(f.name().to_string(), d, SrBits::None)];
    for like in [Like::Torch, Like::Ptx] {
        if let Ok(o) = like.cast_options(f) {
            let name = if like == Like::Torch { "torch" } else { like.name() };
            v.push((format!("{f}@like={name}"), o, SrBits::None));
        }
    }
    if f == ElemFormat::E8M0FNU {
        for &r in E8m0Rounding::ALL.iter().filter(|&&r| r != d.e8m0) {
            v.push((format!("{f}@e8m0={r}"), CastOptions { e8m0: r, ..d }, SrBits::None));
        }
    } else {
        for &r in Rounding::DETERMINISTIC.iter().filter(|&&r| r != d.rounding) {
            v.push((format!("{f}@rounding={r}"), d.with_rounding(r), SrBits::None));
        }
        let sr = d.with_rounding(Rounding::Stochastic { bits: 8 });
        v.push((format!("{f}@rounding=sr"), sr, SrBits::Given));
        v.push((format!("{f}@rounding=sr+seed"), sr, SrBits::Seeded));
    }
    v
}

/// GEMM throughput, 2·M·N·K / time, single-threaded, f32 output (`matmul_f32`,
/// as `lowp matmul` writes it; `--out-dtype f64`: `matmul`'s f64 results); the
/// time includes building both operands from their quantized tensors (decode and
/// scales).
fn gemm_rows(
    a: &BenchArgs,
    out: lowp::matmul::OutDtype,
    report: &Report,
    want: &dyn Fn(&str, &str) -> bool,
) -> Result<(), Error> {
    use lowp::matmul::{Accum, Layout, Operand, OutDtype, has_fast_path, matmul, matmul_f32};
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| Error::Unsupported(e.to_string()))?;
    // (MX blocks of FNUZ elements: CDNA3 with folded scales)
    let schemes =
        ["mxfp8-e4m3", "nvfp4", "fp8-block", "e4m3fn", "e4m3fnuz", "mxfp8-e4m3@elem=e4m3fnuz", "bf16", "f16", "tf32"];
    let models = [
        "f32-fma",
        "f32-mul-add",
        "f32-blocked",
        "sm70",
        "sm75",
        "sm80",
        "sm89",
        "sm90",
        "sm90@promote-every=none",
        "sm100",
        "sm100-mma-sync",
        "sm120",
        "cdna3",
        "f64",
        "exact",
    ];
    let side = a.gemm_side;
    for spec in schemes {
        let quant = |v: &[f32], s: usize| -> Result<Box<dyn Fn() -> Result<Operand, Error> + Send + Sync>, Error> {
            if let Ok(ty) = spec.parse::<lowp::matmul::ElemType>()
                && lowp::matmul::ElemType::WIDE.contains(&ty)
            {
                let v = v.to_vec();
                return Ok(Box::new(move || Operand::from_wide(ty, &v, [s, s], Layout::RowsK)));
            }
            Ok(match spec.parse::<lowp::format::ElemFormat>() {
                Ok(f) => {
                    let mut codes = vec![0u8; v.len()];
                    encode_slice(f, v, &mut codes, &CastOptions::default())?;
                    Box::new(move || Operand::from_codes(f, &codes, [s, s], Layout::RowsK))
                }
                Err(_) => {
                    let scheme: lowp::block::Scheme = spec.parse()?;
                    let q = lowp::block::quantize(v, &[s, s], &scheme)?;
                    Box::new(move || Operand::from_quantized(&q, Layout::RowsK))
                }
            })
        };
        // models without a fast path (the reference loop) run on a cube 8x smaller
        let probe = quant(&sample(256 * 256, 1.0, 20), 256)?()?;
        for model in models {
            let acc: Accum = model.parse()?;
            if acc.resolve(&probe, &probe).is_err() {
                continue; // a target without an instruction for these operands (NVFP4 on sm90)
            }
            let s = if has_fast_path(&probe, &probe, &acc) { side } else { (side / 8).max(1) };
            let target = format!("{spec}/{model}/{s}");
            if !want("matmul", &target) {
                continue;
            }
            report.start("matmul", &target);
            let (qa, qb) = (quant(&sample(s * s, 1.0, 21), s)?, quant(&sample(s * s, 1.0, 22), s)?);
            let mut err = None;
            let reps = if s < side { 1 } else { a.reps.min(3) };
            let t = pool.install(|| {
                time_median(reps, || {
                    let r = (|| match out {
                        OutDtype::F64 => matmul(&qa()?, &qb()?, None, &acc, out).map(drop),
                        _ => matmul_f32(&qa()?, &qb()?, None, &acc, out).map(drop),
                    })();
                    if let Err(e) = r {
                        err = Some(e);
                    }
                })
            });
            if let Some(e) = err {
                return Err(e);
            }
            report.row("matmul", &target, 2.0 * (s as f64).powi(3) / t / 1e9, "GFLOP/s", s, reps)?;
        }
    }
    Ok(())
}
