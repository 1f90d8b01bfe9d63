//! `lowp cast` and `lowp decode`.

use clap::Args;
use lowp::Error;
use lowp::convert::{
    CastOptions, Rounding, SourceFloat, encode_slice, encode_slice_stochastic, encode_slice_with_seed,
};
use lowp::format::ElemFormat;
use lowp::io::npy::{NpyArray, NpyData};
use lowp::io::out::Output;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CastArgs {
    /// Target format (e4m3fn, e5m2, e2m1fn, e8m0fnu, ...; see `lowp formats`).
    #[arg(long)]
    to: String,
    /// Start from a reference's exact semantics: ml_dtypes (= ml_dtypes-0.7), ml_dtypes-0.6,
    /// torch (= torch-2.15), torch-2.11, ptx, cutlass, gfloat, torchao, te, deepgemm, microxcaling.
    #[arg(long)]
    like: Option<String>,
    /// rne | away | ties-zero | zero | up | down | sr (stochastic; see --sr-bits, --seed).
    #[arg(long)]
    rounding: Option<String>,
    /// Random bits per element for --rounding sr (1..=32; default 8, PTX's count for FP8/FP6/FP4).
    #[arg(long)]
    sr_bits: Option<u8>,
    /// saturate | nonfinite.
    #[arg(long)]
    overflow: Option<String>,
    /// What ±Inf inputs become: keep | saturate.
    #[arg(long)]
    inf: Option<String>,
    /// NaN into a NaN-less format: error | max | signed-max | zero | sign-flipped-zero.
    #[arg(long)]
    nan: Option<String>,
    /// e8m0fnu rounding: ties-up-uniform | ties-up | ties-even | floor | ceil.
    #[arg(long)]
    e8m0: Option<String>,
    /// NaN code for NaN inputs in formats with several: quiet-signed | all-ones-signed | all-ones-positive.
    #[arg(long)]
    nan_code: Option<String>,
    /// Seed of the random bits for stochastic rounding (element i uses lowp::rng::random_bits(seed, i)).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Instead of an input file: cast every value of TYPE (f32: all 2^32 bit patterns;
    /// f16, bf16: all 2^16) in bit-pattern order and write the raw codes, one byte per
    /// input and no header, to OUTPUT (`-` for stdout). For checking a kernel's
    /// conversion exhaustively; NaN inputs follow the options (`--nan error` fails).
    #[arg(long, value_name = "TYPE", conflicts_with = "input")]
    every: Option<String>,
    /// Input .npy (f32, f64, f16 or bf16 (<V2), any shape).
    #[arg(required_unless_present = "every")]
    input: Option<PathBuf>,
    /// Output .npy (u8 codes, same shape); with --every a raw file; `-` for standard output.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
pub struct DecodeArgs {
    /// Format of the codes.
    #[arg(long)]
    from: String,
    /// Input .npy of u8 codes.
    input: PathBuf,
    /// Output .npy (f32, same shape); `-` for standard output.
    #[arg(short, long)]
    output: PathBuf,
}

/// The options a cast command line asks for: the preset (default ml_dtypes), then each flag on top
/// ([`CastOptions::resolve`], the routine the cast spec and Python share).
pub fn options(fmt: ElemFormat, a: &CastArgs) -> Result<CastOptions, Error> {
    let sr_bits = a.sr_bits.map(|b| b.to_string());
    let keys: Vec<(&str, &str)> = [
        ("like", a.like.as_deref()),
        ("rounding", a.rounding.as_deref()),
        ("sr-bits", sr_bits.as_deref()),
        ("overflow", a.overflow.as_deref()),
        ("inf", a.inf.as_deref()),
        ("nan", a.nan.as_deref()),
        ("e8m0", a.e8m0.as_deref()),
        ("nan-code", a.nan_code.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    CastOptions::resolve(fmt, &keys).map_err(|e| match e {
        Error::InvalidOption(m) if m.starts_with("sr-bits needs") => {
            Error::InvalidOption("--sr-bits needs --rounding sr".into())
        }
        e => e,
    })
}

pub fn cast(a: &CastArgs) -> Result<(), Error> {
    let fmt: ElemFormat = a.to.parse()?;
    let o = options(fmt, a)?;
    let input = match (&a.every, &a.input) {
        (Some(ty), _) => return cast_every(fmt, &o, ty, a.seed, &a.output),
        (None, Some(p)) => p,
        (None, None) => return Err(Error::InvalidOption("cast needs an input .npy or --every TYPE".into())),
    };
    let arr = NpyArray::read(input)?;
    let mut codes = vec![0u8; arr.len()];
    let name = input.display();
    let res = match (&arr.data, o.rounding) {
        (NpyData::F32(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F64(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F16(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::BF16(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F32(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::F64(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::F16(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::BF16(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::U8(_) | NpyData::Codes(..), _) => {
            return Err(Error::Io(format!(
                "{name}: cast needs a float array (f16, bf16, f32, f64), got {} codes (lowp decode reads them)",
                arr.dtype().name()
            )));
        }
        (NpyData::I32(_) | NpyData::I64(_), _) => {
            return Err(Error::Io(format!(
                "{name}: cast needs a float array (f16, bf16, f32, f64), got {}",
                arr.dtype().name()
            )));
        }
    };
    res.map_err(|e| Error::Io(format!("{name}: {e}")))?;
    Output::parse(&a.output).write(&NpyArray { shape: arr.shape, data: NpyData::U8(codes) }.to_bytes())
}

/// The source type of `lowp cast --every`.
#[derive(Clone, Copy)]
enum Every {
    F32,
    F16,
    Bf16,
}

/// Encodes the inputs whose bit patterns are `first..first + dst.len()`.
fn encode_patterns(
    fmt: ElemFormat,
    o: &CastOptions,
    ty: Every,
    seed: u64,
    first: u64,
    dst: &mut [u8],
) -> Result<(), Error> {
    fn run<T: SourceFloat>(
        fmt: ElemFormat,
        o: &CastOptions,
        seed: u64,
        first: u64,
        src: Vec<T>,
        dst: &mut [u8],
    ) -> Result<(), Error> {
        if matches!(o.rounding, Rounding::Stochastic { .. }) {
            // element i of the table is input i, as in a file cast
            let rbits: Vec<u32> = (first..first + src.len() as u64).map(|i| lowp::rng::random_bits(seed, i)).collect();
            encode_slice_stochastic(fmt, &src, dst, o, &rbits)
        } else {
            encode_slice(fmt, &src, dst, o)
        }
    }
    let bits = first..first + dst.len() as u64;
    match ty {
        Every::F32 => run(fmt, o, seed, first, bits.map(|b| f32::from_bits(b as u32)).collect(), dst),
        Every::F16 => run(fmt, o, seed, first, bits.map(|b| half::f16::from_bits(b as u16)).collect(), dst),
        Every::Bf16 => run(fmt, o, seed, first, bits.map(|b| half::bf16::from_bits(b as u16)).collect(), dst),
    }
    .map_err(|e| match e {
        // the index in the table is the input's bit pattern
        Error::NanInput { index } => Error::NanInput { index: first as usize + index },
        e => e,
    })
}

/// `lowp cast --every TYPE`: the code of every input of TYPE, in bit-pattern order.
fn cast_every(fmt: ElemFormat, o: &CastOptions, ty: &str, seed: u64, output: &Path) -> Result<(), Error> {
    use rayon::prelude::*;
    let (ty, total, first_nan) = match ty {
        "f32" => (Every::F32, 1u64 << 32, 0x7F80_0001),
        "f16" => (Every::F16, 1 << 16, 0x7C01),
        "bf16" => (Every::Bf16, 1 << 16, 0x7F81),
        _ => return Err(Error::InvalidOption(format!("--every '{ty}': expected f32, f16 or bf16"))),
    };
    // every type has NaNs: refuse options that reject them before writing anything
    encode_patterns(fmt, o, ty, seed, first_nan, &mut [0u8])?;
    // complete or absent: a regular file appears at the end (a device or pipe is written as we go)
    let mut out = Output::parse(output).create()?;
    const CHUNK: u64 = 1 << 24;
    const PIECE: usize = 1 << 16;
    let mut codes = vec![0u8; CHUNK.min(total) as usize];
    for first in (0..total).step_by(CHUNK as usize) {
        let n = CHUNK.min(total - first) as usize;
        codes[..n]
            .par_chunks_mut(PIECE)
            .enumerate()
            .try_for_each(|(j, dst)| encode_patterns(fmt, o, ty, seed, first + (j * PIECE) as u64, dst))?;
        out.write_all(&codes[..n])?;
    }
    out.commit()
}

pub fn decode(a: &DecodeArgs) -> Result<(), Error> {
    let fmt: ElemFormat = a.from.parse()?;
    let arr = NpyArray::read(&a.input)?;
    let name = a.input.display();
    // u8 codes, or an ml_dtypes array as NumPy saves it ('<V1'): decoded as --from
    if !matches!(arr.data, NpyData::U8(_) | NpyData::Codes(..)) {
        return Err(Error::Io(format!(
            "{name}: decode needs one-byte codes (u8, or an ml_dtypes array saved as <V1), got {}",
            arr.dtype().name()
        )));
    }
    let out = arr.to_f32_as(&name.to_string(), Some(fmt))?;
    Output::parse(&a.output).write(&NpyArray { shape: arr.shape, data: NpyData::F32(out) }.to_bytes())
}
