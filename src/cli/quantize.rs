//! `lowp quantize`: block quantization of an .npy tensor into a directory.

use clap::Args;
use lowp::Error;
use lowp::block::{Scales, Scheme, quantize as quantize_tensor};
use lowp::io::npy::{NpyArray, NpyData, write_atomic};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct QuantizeArgs {
    /// Scheme spec NAME[@KEY=VALUE]...: mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4, mxint8, nvfp4, fp8-block, fp8-row, fp8-tensor.
    #[arg(long)]
    pub scheme: String,
    /// MX scale rule: floor | ceil | even | rceil | rceil-torchao | floor-log2.
    #[arg(long)]
    pub scale_rule: Option<String>,
    /// Block: N (1xN) or RxC (e.g. 32, 1x128, 16x16, 32x1).
    #[arg(long)]
    pub block: Option<String>,
    /// Blocked axis (negative counts from the end; default -1).
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<String>,
    /// NVFP4 global (per-tensor) scale: on | off.
    #[arg(long)]
    pub global_scale: Option<String>,
    /// Element format (fp8-*: e4m3fn | e5m2; MX: any element format or int8).
    #[arg(long)]
    pub elem: Option<String>,
    /// FP8 scale format: f32 | pow2 | ue8m0.
    #[arg(long)]
    pub scale_format: Option<String>,
    /// Reference preset: torchao | te | deepgemm | microxcaling | ocp.
    #[arg(long)]
    pub like: Option<String>,
    /// plain (codes.npy, scales.npy, ...) or kernel (also packed.bin and scales_swizzled.bin).
    #[arg(long, default_value = "plain")]
    pub layout: String,
    /// Input .npy (f32, f64, f16 or bf16; any shape; f64 is rounded to f32 first).
    pub input: PathBuf,
    /// Output directory (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
}

impl QuantizeArgs {
    /// The scheme spec with every flag appended as `@key=value`.
    pub fn spec(&self) -> String {
        let mut s = self.scheme.clone();
        for (k, v) in [
            ("like", &self.like),
            ("scale-rule", &self.scale_rule),
            ("block", &self.block),
            ("axis", &self.axis),
            ("global-scale", &self.global_scale),
            ("elem", &self.elem),
            ("scale-format", &self.scale_format),
        ] {
            if let Some(v) = v {
                s.push_str(&format!("@{k}={v}"));
            }
        }
        s
    }
}

pub fn quantize(a: &QuantizeArgs) -> Result<(), Error> {
    let scheme: Scheme = a.spec().parse()?;
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
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("codes.npy", NpyArray { shape: q.shape.clone(), data: NpyData::U8(q.codes.clone()) }.to_bytes()),
        ("scales.npy", scales_npy(&q.scales, &q.scale_shape).to_bytes()),
        ("dequant.npy", NpyArray { shape: q.shape.clone(), data: NpyData::F32(q.dequantize()) }.to_bytes()),
        ("scheme.txt", format!("{scheme}\n").into_bytes()),
    ];
    if let Some(g) = q.global_scale {
        files.push(("global_scale.npy", NpyArray { shape: vec![1], data: NpyData::F32(vec![g]) }.to_bytes()));
    }
    if kernel {
        files.push(("packed.bin", q.packed()));
        files.push(("scales_swizzled.bin", q.scales_kernel_layout()?));
    }
    std::fs::create_dir_all(&a.output).map_err(|e| Error::Io(format!("{}: {e}", a.output.display())))?;
    for (f, bytes) in files {
        write_atomic(&Path::new(&a.output).join(f), &bytes)?;
    }
    Ok(())
}

/// Scales as an .npy: u8 bytes for E8M0/UE4M3, f32 otherwise.
pub fn scales_npy(s: &Scales, shape: &[usize]) -> NpyArray {
    let data = match s {
        Scales::E8m0(v) | Scales::Ue4m3(v) => NpyData::U8(v.clone()),
        Scales::F32(v) => NpyData::F32(v.clone()),
    };
    NpyArray { shape: shape.to_vec(), data }
}
