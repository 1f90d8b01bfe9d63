//! The dequantization formulas of the module table, one routine per storage.

use super::{QuantWeight, Storage};
use crate::Error;
use crate::format::ElemFormat;
use crate::io::checkpoint::TensorRef;
use crate::io::safetensors::Dtype;
use half::{bf16, f16};

/// The dtype a dequantized weight is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDtype {
    /// The loader's f32 value, unrounded.
    F32,
    /// Rounded to BF16, nearest even (what every loader in the table stores).
    Bf16,
}

impl OutDtype {
    /// The safetensors dtype.
    pub fn dtype(self) -> Dtype {
        match self {
            OutDtype::F32 => Dtype::F32,
            OutDtype::Bf16 => Dtype::BF16,
        }
    }

    /// The values as little-endian bytes of this dtype.
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::OutDtype;
    /// // 1 + 2^-8 is a tie between two BF16 values: rounded to the even one, 1.0
    /// assert_eq!(OutDtype::Bf16.bytes(&[1.0 + 1.0 / 256.0]), vec![0x80, 0x3F]);
    /// ```
    pub fn bytes(self, v: &[f32]) -> Vec<u8> {
        match self {
            OutDtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            OutDtype::Bf16 => v.iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect(),
        }
    }
}

impl std::str::FromStr for OutDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "f32" => Ok(OutDtype::F32),
            "bf16" => Ok(OutDtype::Bf16),
            _ => Err(Error::InvalidOption(format!("unknown output dtype '{s}' (valid: f32, bf16)"))),
        }
    }
}

fn decoded(fmt: ElemFormat, codes: &[u8]) -> Result<Vec<f32>, Error> {
    let mut out = vec![0f32; codes.len()];
    crate::convert::decode_slice(fmt, codes, &mut out)?;
    Ok(out)
}

/// Reads stored FP8 weight codes (one per byte) into `buf`; their format.
pub(super) fn stored_codes(t: &TensorRef, n: usize, buf: &mut Vec<u8>) -> Result<ElemFormat, Error> {
    let dtype = t.read_into(buf)?;
    if buf.len() != n {
        return Err(t.io_err(format!("{} bytes do not hold {n} {dtype} codes", buf.len())));
    }
    Ok(if dtype == Dtype::F8_E5M2 { ElemFormat::E5M2 } else { ElemFormat::E4M3FN })
}

/// How a loader rounds `code · scale`: to the scale's dtype when that is
/// BF16 or F16 (compressed-tensors multiplies in the scale's dtype), else f32.
pub(super) fn scale_round(scale_dtype: Option<Dtype>) -> fn(f32) -> f32 {
    match scale_dtype {
        Some(Dtype::BF16) => |v| bf16::from_f32(v).to_f32(),
        Some(Dtype::F16) => |v| f16::from_f32(v).to_f32(),
        _ => |v| v,
    }
}

/// `2^(s − 127)` as f64 (exact for every E8M0 code `s`, including 255: the
/// GPT-OSS loaders' `ldexp` has no NaN case and reads it as 2^128).
pub(super) fn e8m0_pow2(s: u8) -> f64 {
    f64::from_bits((u64::from(s) + 1023 - 127) << 52)
}

/// The dequantized values of one weight, in its model shape, as the
/// convention's loader computes them before the output dtype (module table).
///
/// # Errors
/// [`Error::Io`] naming the tensor and file for a read error or stored bytes
/// that do not fit the storage.
///
/// # Examples
/// ```
/// use lowp::convention::{dequantize_weight, group};
/// use lowp::io::checkpoint::list_tensors;
/// // DeepSeek layout: 2×3 E4M3 codes of 1.0, -2.0, ... and one 128×128 scale of 0.5
/// let p = std::env::temp_dir().join("lowp_doc_dq.safetensors");
/// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[2,3],"data_offsets":[0,6]},"#,
///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[6,10]}}"#);
/// let mut f = (head.len() as u64).to_le_bytes().to_vec();
/// f.extend_from_slice(head.as_bytes());
/// f.extend_from_slice(&[0x38, 0xC0, 0x40, 0x00, 0x30, 0xB8]);
/// f.extend_from_slice(&0.5f32.to_le_bytes());
/// std::fs::write(&p, f).unwrap();
/// let g = group(&list_tensors(&p).unwrap(), None, None).unwrap();
/// assert_eq!(dequantize_weight(&g.weights[0]).unwrap(), vec![0.5, -1.0, 1.0, 0.0, 0.25, -0.5]);
/// ```
pub fn dequantize_weight(w: &QuantWeight) -> Result<Vec<f32>, Error> {
    match &w.storage {
        Storage::Fp8 { block } => fp8(w, *block),
        Storage::Mxfp4 { hf } => mxfp4(w, *hf),
        Storage::Nvfp4 { divisor } => nvfp4(w, *divisor),
        Storage::GgufMxfp4 => {
            let mut v = vec![0f32; w.shape.iter().product()];
            crate::io::gguf::mxfp4_values(&w.codes.raw()?.bytes, &mut v).map_err(|e| w.codes.io_err(e))?;
            Ok(v)
        }
    }
}

fn fp8(w: &QuantWeight, block: [usize; 2]) -> Result<Vec<f32>, Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    let mut codes = Vec::new();
    let fmt = stored_codes(&w.codes, r * c, &mut codes)?;
    let x = decoded(fmt, &codes)?;
    let round = scale_round(w.scales.declared_dtype());
    let (_, s) = w.scales.load()?;
    let gc = c.div_ceil(block[1]).max(1);
    Ok((0..r * c).map(|k| round(x[k] * s[(k / c / block[0]) * gc + (k % c) / block[1]])).collect())
}

/// Reads the packed MXFP4 blocks into `buf`; their E8M0 scales, checked
/// against them.
pub(super) fn mx_parts(w: &QuantWeight, buf: &mut Vec<u8>) -> Result<Vec<u8>, Error> {
    let n: usize = w.shape.iter().product();
    w.codes.read_into(buf)?;
    let scales = w.scales.raw()?.bytes;
    if buf.len() != scales.len() * 16 || buf.len() * 2 != n {
        return Err(w.codes.io_err(format!("{} bytes of blocks for {} scales", buf.len(), scales.len())));
    }
    Ok(scales)
}

fn mxfp4(w: &QuantWeight, hf: bool) -> Result<Vec<f32>, Error> {
    let n: usize = w.shape.iter().product();
    let mut packed = Vec::new();
    let scales = mx_parts(w, &mut packed)?;
    let lut = decoded(ElemFormat::E2M1FN, &(0..16).collect::<Vec<u8>>())?;
    let mut out = Vec::with_capacity(n);
    for (blk, &s) in packed.chunks_exact(16).zip(&scales) {
        // e2m1 · 2^k is exact in f64 and in f32 unless it overflows (to ±∞)
        let p = e8m0_pow2(s);
        for &b in blk {
            out.push((f64::from(lut[usize::from(b & 0xF)]) * p) as f32);
            out.push((f64::from(lut[usize::from(b >> 4)]) * p) as f32);
        }
    }
    if !hf {
        return Ok(out);
    }
    // [E, R, K] as stored → the parameter [E, K, R]
    let (e, k, r) = (w.shape[0], w.shape[1], w.shape[2]);
    let mut t = vec![0f32; n];
    for x in 0..e {
        for i in 0..r {
            for j in 0..k {
                t[(x * k + j) * r + i] = out[(x * r + i) * k + j];
            }
        }
    }
    Ok(t)
}

/// Reads the packed NVFP4 codes of an `n`-element weight (two per byte) into `buf`.
pub(super) fn nv_codes(w: &QuantWeight, n: usize, buf: &mut Vec<u8>) -> Result<(), Error> {
    w.codes.read_into(buf)?;
    if buf.len() * 2 != n {
        return Err(w.codes.io_err(format!("{} bytes do not hold {n} FP4 codes", buf.len())));
    }
    Ok(())
}

/// The f32 scale of every 16-element block (`s · g` or `s / g`) and the
/// number of blocks per row.
pub(super) fn nv_block_scales(w: &QuantWeight, divisor: bool) -> Result<(Vec<f32>, usize), Error> {
    let (_, s) = w.scales.load()?;
    let g = w.global.as_ref().map(|g| g.load()).transpose()?.map_or(1.0, |(_, v)| v[0]);
    let bs = s.iter().map(|&s| if divisor { s / g } else { s * g }).collect();
    Ok((bs, w.shape[1].div_ceil(16)))
}

fn nvfp4(w: &QuantWeight, divisor: bool) -> Result<Vec<f32>, Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    let mut packed = Vec::new();
    nv_codes(w, r * c, &mut packed)?;
    let codes = crate::pack::unpack_fp4(&packed, r * c).map_err(|e| w.codes.io_err(e))?;
    let mut x = decoded(ElemFormat::E2M1FN, &codes)?;
    if !divisor {
        // ModelOpt's value table maps code 8 (-0) to +0
        x.iter_mut().filter(|v| **v == 0.0).for_each(|v| *v = 0.0);
    }
    let (bs, gc) = nv_block_scales(w, divisor)?;
    Ok((0..r * c).map(|k| x[k] * bs[(k / c) * gc + (k % c) / 16]).collect())
}
