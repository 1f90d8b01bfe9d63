//! `lowp cast` and `lowp decode`.

use clap::Args;
use lowp::Error;
use lowp::convert::{
    CastOptions, E8m0Rounding, InfPolicy, Like, NanPolicy, Overflow, Rounding, decode_slice, encode_slice,
    encode_slice_with_seed,
};
use lowp::format::ElemFormat;
use lowp::io::npy::{NpyArray, NpyData};
use std::path::PathBuf;

#[derive(Args)]
pub struct CastArgs {
    /// Target format (e4m3fn, e5m2, e2m1fn, e8m0fnu, ...; see `lowp formats`).
    #[arg(long)]
    to: String,
    /// Start from a reference's exact semantics: ml_dtypes, torch, ptx, cutlass, gfloat.
    #[arg(long)]
    like: Option<String>,
    /// nearest-even | nearest-away | nearest-zero | toward-zero | toward-positive | toward-negative | stochastic[:BITS].
    #[arg(long)]
    rounding: Option<String>,
    /// saturate | nonfinite.
    #[arg(long)]
    overflow: Option<String>,
    /// What ±Inf inputs become: keep | saturate.
    #[arg(long)]
    inf: Option<String>,
    /// NaN into a NaN-less format: error | max | signed-max | zero | flipped-zero.
    #[arg(long)]
    nan: Option<String>,
    /// e8m0fnu rounding: ties-up | ties-even | floor | ceil.
    #[arg(long)]
    e8m0: Option<String>,
    /// Seed of the random bits for stochastic rounding (element i uses lowp::rng::random_bits(seed, i)).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Input .npy (f32, f64, f16 or bf16 (<V2), any shape).
    input: PathBuf,
    /// Output .npy (u8 codes, same shape).
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
    /// Output .npy (f32, same shape).
    #[arg(short, long)]
    output: PathBuf,
}

/// The options a cast command line asks for: the preset (default ml_dtypes), then each flag on top.
pub fn options(fmt: ElemFormat, a: &CastArgs) -> Result<CastOptions, Error> {
    let mut o = match &a.like {
        Some(l) => l.parse::<Like>()?.cast_options(fmt)?,
        None => CastOptions::default(),
    };
    if let Some(r) = &a.rounding {
        o.rounding = r.parse::<Rounding>()?;
    }
    if let Some(v) = &a.overflow {
        o.overflow = v.parse::<Overflow>()?;
    }
    if let Some(v) = &a.inf {
        o.inf = v.parse::<InfPolicy>()?;
    }
    if let Some(v) = &a.nan {
        o.nan = v.parse::<NanPolicy>()?;
    }
    if let Some(v) = &a.e8m0 {
        o.e8m0 = v.parse::<E8m0Rounding>()?;
    }
    Ok(o)
}

pub fn cast(a: &CastArgs) -> Result<(), Error> {
    let fmt: ElemFormat = a.to.parse()?;
    let o = options(fmt, a)?;
    let arr = NpyArray::read(&a.input)?;
    let mut codes = vec![0u8; arr.len()];
    let name = a.input.display();
    let res = match (&arr.data, o.rounding) {
        (NpyData::F32(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F64(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F16(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::BF16(v), Rounding::Stochastic { .. }) => encode_slice_with_seed(fmt, v, &mut codes, &o, a.seed),
        (NpyData::F32(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::F64(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::F16(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::BF16(v), _) => encode_slice(fmt, v, &mut codes, &o),
        (NpyData::U8(_), _) => {
            return Err(Error::Io(format!("{name}: cast needs a float array (f16, bf16, f32, f64), got u8")));
        }
    };
    res.map_err(|e| Error::Io(format!("{name}: {e}")))?;
    NpyArray { shape: arr.shape, data: NpyData::U8(codes) }.write(&a.output)
}

pub fn decode(a: &DecodeArgs) -> Result<(), Error> {
    let fmt: ElemFormat = a.from.parse()?;
    let arr = NpyArray::read(&a.input)?;
    let name = a.input.display();
    let NpyData::U8(codes) = &arr.data else {
        return Err(Error::Io(format!("{name}: decode needs a u8 array of codes, got {}", arr.dtype().name())));
    };
    let mut out = vec![0f32; codes.len()];
    decode_slice(fmt, codes, &mut out).map_err(|e| Error::Io(format!("{name}: {e}")))?;
    NpyArray { shape: arr.shape, data: NpyData::F32(out) }.write(&a.output)
}
