//! `lowp matmul`: D = A·B (+ C) under a named accumulation model.

use clap::Args;
use lowp::Error;
use lowp::block::{QuantizedTensor, Scales, Scheme};
use lowp::io::npy::{NpyArray, NpyData};
use lowp::matmul::{Accum, Layout, Operand, OperandType, OutDtype, matmul as run_matmul, matmul_f32};
use std::path::{Path, PathBuf};

use super::args::SchemeArgs;

#[derive(Args)]
pub struct MatmulArgs {
    /// A's scheme (as `lowp quantize`: a spec with keys, and the same flags) or a plain element
    /// format (e4m3fn, e5m2, ...; --like then names the cast). For an operand that is a `lowp
    /// quantize` directory the directory's own scheme.txt is used; keys or flags given here must
    /// agree with it.
    #[command(flatten)]
    pub scheme: SchemeArgs,
    /// A [M,K] (--a-layout mk) or [K,M] (km): an f32 .npy (quantized along K with the scheme) or a
    /// directory written by `lowp quantize`.
    #[arg(long)]
    pub a: PathBuf,
    /// B: [N,K] (--b-layout nk) or [K,N] (kn); .npy or `lowp quantize` directory like A.
    #[arg(long)]
    pub b: PathBuf,
    /// B's scheme or element format when it differs from A's (e.g. `--scheme e4m3fn --b-scheme e5m2`, an FP8 backward GEMM).
    #[arg(long)]
    pub b_scheme: Option<String>,
    /// Layout of B: nk (default) or kn.
    #[arg(long, default_value = "nk")]
    pub b_layout: String,
    /// Layout of A: mk (default) or km ([K,M], e.g. a wgrad's dy quantized along T).
    #[arg(long, default_value = "mk")]
    pub a_layout: String,
    /// Optional f32 .npy [M,N] added to the product.
    #[arg(long)]
    pub c: Option<PathBuf>,
    /// Accumulation model: exact | f64 | f32-fma | f32-mul-add | f32-blocked, or a GPU target
    /// (sm70 | sm75 | sm80 | sm89 | sm90 | sm100 | sm100-mma-sync | sm120 | cdna3: `lowp targets`),
    /// with @KEY=VALUE options (`@c=mma`: C as the instruction's accumulator; `@d=f16`).
    #[arg(long, default_value = "f32-fma")]
    pub accum: String,
    /// K elements per promotion (tensor-core models), or none (fast accumulation).
    #[arg(long)]
    pub promote_every: Option<String>,
    /// Output type: f32 | f64 | bf16 | f16 (bf16/f16 values are written widened to f32).
    #[arg(long, default_value = "f32")]
    pub out_dtype: String,
    /// Output .npy: f32 [M,N] (f64 for --out-dtype f64); `-` for standard output.
    #[arg(short, long)]
    pub output: PathBuf,
}

fn io(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", p.display()))
}

/// One operand from an f32 .npy or a `lowp quantize` directory.
fn operand(path: &Path, kind: &OperandType, layout: Layout) -> Result<Operand, Error> {
    let name = path.display().to_string();
    let shape2 = |shape: &[usize]| -> Result<[usize; 2], Error> {
        match shape {
            &[r, c] => Ok([r, c]),
            _ => Err(io(path, format!("a GEMM operand must be 2-D, got shape {shape:?}"))),
        }
    };
    if !path.is_dir() {
        let arr = NpyArray::read(path)?;
        let x = arr.to_f32(&name)?;
        return kind.operand(&x, shape2(&arr.shape)?, layout).map_err(|e| io(path, e));
    }
    let codes_path = path.join("codes.npy");
    let codes = NpyArray::read(&codes_path)?;
    let shape = shape2(&codes.shape)?;
    let NpyData::U8(c) = codes.data else {
        return Err(io(&codes_path, "codes must be u8"));
    };
    match kind {
        OperandType::Wide(t) => Err(io(path, format!("a {t} operand is an f32 .npy, not a quantized directory"))),
        OperandType::Plain(f, _) => Operand::from_codes(*f, &c, shape, layout).map_err(|e| io(&codes_path, e)),
        OperandType::Scheme { scheme: given, .. } => {
            // the directory's own scheme.txt is authoritative (it has every option used)
            let sp = path.join("scheme.txt");
            let scheme: Scheme = match std::fs::read_to_string(&sp) {
                Ok(t) => t.trim().parse().map_err(|e| io(&sp, e))?,
                Err(e) => return Err(io(&sp, e)),
            };
            if !kind.accepts(&scheme) {
                return Err(io(path, format!("holds '{scheme}', which is not the scheme asked for, '{given}'")));
            }
            let sp = path.join("scales.npy");
            let scales_npy = NpyArray::read(&sp)?;
            let scales = match &scales_npy.data {
                NpyData::U8(v) => Scales::from_bytes(&scheme, v.clone()),
                NpyData::F32(v) => Scales::F32(v.clone()),
                _ => return Err(io(&sp, "scales must be u8 or f32")),
            };
            let gp = path.join("global_scale.npy");
            let globals = if gp.exists() {
                match NpyArray::read(&gp)?.data {
                    NpyData::F32(v) => v,
                    _ => return Err(io(&gp, "global scales must be f32 (one, or one per row when row-scaled)")),
                }
            } else {
                Vec::new()
            };
            let q = QuantizedTensor::from_parts_globals(
                scheme,
                shape.to_vec(),
                c,
                scales,
                scales_npy.shape.clone(),
                globals,
            )
            .map_err(|e| io(path, e))?;
            Operand::from_quantized(&q, layout).map_err(|e| io(path, e))
        }
    }
}

/// The operand type of `spec` under the scheme flags (a contradiction named as the flag).
fn operand_type(spec: &str, flags: &SchemeArgs) -> Result<OperandType, Error> {
    // contradictions are reported in the flags' spelling first
    flags.with_flags(spec)?;
    OperandType::parse(spec, &flags.flags())
}

pub fn matmul(a: &MatmulArgs) -> Result<(), Error> {
    let kind_a = operand_type(&a.scheme.scheme, &a.scheme)?;
    let kind_b = operand_type(a.b_scheme.as_deref().unwrap_or(&a.scheme.scheme), &a.scheme)?;
    let mut acc: Accum = a.accum.parse()?;
    if let Some(p) = &a.promote_every {
        acc.set("promote-every", p)?;
    }
    let out: OutDtype = a.out_dtype.parse()?;
    let layout: Layout = a.b_layout.parse()?;
    let oa = operand(&a.a, &kind_a, a.a_layout.parse()?)?;
    let ob = operand(&a.b, &kind_b, layout)?;
    let c = match &a.c {
        Some(p) => {
            let arr = NpyArray::read(p)?;
            if arr.shape != [oa.rows(), ob.rows()] {
                return Err(io(p, format!("C has shape {:?}, expected [{}, {}]", arr.shape, oa.rows(), ob.rows())));
            }
            Some(arr.to_f32(&p.display().to_string())?)
        }
        None => None,
    };
    let shape = vec![oa.rows(), ob.rows()];
    let data = match out {
        OutDtype::F64 => NpyData::F64(run_matmul(&oa, &ob, c.as_deref(), &acc, out)?),
        _ => NpyData::F32(matmul_f32(&oa, &ob, c.as_deref(), &acc, out)?),
    };
    lowp::io::out::Output::parse(&a.output).write(&NpyArray { shape, data }.to_bytes())
}
