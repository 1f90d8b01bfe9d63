//! `lowp quantize`: block quantization of an .npy tensor into a directory.

use clap::Args;
use lowp::Error;
use lowp::block::{Scales, Scheme, quantize as quantize_tensor};
use lowp::io::npy::{NpyArray, NpyData};
use std::path::PathBuf;

use super::args::SchemeArgs;

#[derive(Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub scheme: SchemeArgs,
    /// Blocked axis (negative counts from the end; default -1).
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<String>,
    /// plain (codes.npy, scales.npy, ...) or kernel (also packed.bin and scales_swizzled.bin).
    #[arg(long, default_value = "plain")]
    pub layout: String,
    /// Replace OUTPUT even if it is a directory lowp did not write.
    #[arg(long)]
    pub force: bool,
    /// Input .npy (f32, f64, f16 or bf16; any shape; f64 is rounded to f32 first).
    pub input: PathBuf,
    /// Output directory: written complete beside it, then swapped in (a directory of an
    /// earlier `lowp quantize` is replaced whole).
    #[arg(short, long)]
    pub output: PathBuf,
}

impl QuantizeArgs {
    /// The scheme spec with every flag appended as `@key=value`.
    pub fn spec(&self) -> Result<String, Error> {
        let s = self.scheme.spec()?;
        match &self.axis {
            Some(v) => super::args::with_keys(&s, &[("axis", v)]),
            None => Ok(s),
        }
    }
}

pub fn quantize(a: &QuantizeArgs) -> Result<(), Error> {
    let scheme: Scheme = a.spec()?.parse()?;
    let kernel = match a.layout.as_str() {
        "plain" => false,
        "kernel" => true,
        l => return Err(Error::InvalidOption(format!("unknown layout '{l}' (expected plain or kernel)"))),
    };
    let name = a.input.display().to_string();
    let arr = NpyArray::read(&a.input)?;
    let x = arr.to_f32(&name)?;
    let q = quantize_tensor(&x, &arr.shape, &scheme).map_err(|e| Error::Io(format!("{name}: {e}")))?;
    // everything is computed before the first file is written
    let files = directory_files(&q, kernel, true, "")?;
    lowp::io::out::write_dir(&a.output, &files, "quantize", a.force)
}

/// The files of a `lowp quantize` directory for `q` (names under `prefix`):
/// codes, scales, (with `dequant`) dequantized values, the scheme, the global
/// scale, and with `kernel` the packed codes and swizzled scales. `lowp linear` writes one per
/// operand copy.
pub fn directory_files(
    q: &lowp::block::QuantizedTensor,
    kernel: bool,
    dequant: bool,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let f = |n: &str| format!("{prefix}{n}");
    let mut files = vec![
        (f("codes.npy"), NpyArray { shape: q.shape().to_vec(), data: NpyData::U8(q.codes().to_vec()) }.to_bytes()),
        (f("scales.npy"), scales_npy(q.scales(), q.scale_shape()).to_bytes()),
        (f("scheme.txt"), format!("{}\n", q.scheme()).into_bytes()),
    ];
    if dequant {
        files.push((
            f("dequant.npy"),
            NpyArray { shape: q.shape().to_vec(), data: NpyData::F32(q.dequantize()) }.to_bytes(),
        ));
    }
    // one f32, or one per row of the blocked view (row-scaled NVFP4)
    let g = q.global_scales();
    if !g.is_empty() {
        files.push((
            f("global_scale.npy"),
            NpyArray { shape: vec![g.len()], data: NpyData::F32(g.to_vec()) }.to_bytes(),
        ));
    }
    if kernel {
        files.push((f("packed.bin"), q.packed()));
        files.push((f("scales_swizzled.bin"), q.scales_kernel_layout()?));
    }
    Ok(files)
}

/// Scales as an .npy: u8 bytes for E8M0/UE4M3, f32 otherwise.
pub fn scales_npy(s: &Scales, shape: &[usize]) -> NpyArray {
    let data = match s {
        Scales::E8m0(v) | Scales::Ue4m3(v) => NpyData::U8(v.clone()),
        Scales::F32(v) => NpyData::F32(v.clone()),
    };
    NpyArray { shape: shape.to_vec(), data }
}
