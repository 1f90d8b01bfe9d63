//! The dequantization formulas of the module table, one routine per storage.

use super::{QuantWeight, Storage};
use crate::Error;
use crate::format::ElemFormat;
use crate::io::checkpoint::{TensorRef, codes_of};
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

/// Codes of a stored tensor, one per byte.
fn codes(t: &TensorRef, n: usize) -> Result<(Dtype, Vec<u8>), Error> {
    let raw = t.raw()?;
    let c = codes_of(raw.dtype, &raw.bytes, n)
        .map_err(|e| Error::Io(format!("{}: tensor '{}': {e}", t.file.display(), t.name)))?;
    Ok((raw.dtype, c))
}

/// `2^(s − 127)` as f64 (exact for every E8M0 code `s`, including 255: the
/// GPT-OSS loaders' `ldexp` has no NaN case and reads it as 2^128).
fn e8m0_pow2(s: u8) -> f64 {
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
    }
}

fn fp8(w: &QuantWeight, block: [usize; 2]) -> Result<Vec<f32>, Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    let (dtype, codes) = codes(&w.codes, r * c)?;
    let fmt = if dtype == Dtype::F8_E5M2 { ElemFormat::E5M2 } else { ElemFormat::E4M3FN };
    let x = decoded(fmt, &codes)?;
    let scale_dtype = w.scales.declared_dtype();
    let (_, s) = w.scales.load()?;
    let gc = c.div_ceil(block[1]).max(1);
    let round: fn(f32) -> f32 = match scale_dtype {
        Some(Dtype::BF16) => |v| bf16::from_f32(v).to_f32(),
        Some(Dtype::F16) => |v| f16::from_f32(v).to_f32(),
        _ => |v| v,
    };
    Ok((0..r * c).map(|k| round(x[k] * s[(k / c / block[0]) * gc + (k % c) / block[1]])).collect())
}

fn mxfp4(w: &QuantWeight, hf: bool) -> Result<Vec<f32>, Error> {
    let n: usize = w.shape.iter().product();
    let packed = w.codes.raw()?.bytes;
    let scales = w.scales.raw()?.bytes;
    if packed.len() != scales.len() * 16 || packed.len() * 2 != n {
        return Err(Error::Io(format!(
            "{}: tensor '{}': {} bytes of blocks for {} scales",
            w.codes.file.display(),
            w.codes.name,
            packed.len(),
            scales.len()
        )));
    }
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

fn nvfp4(w: &QuantWeight, divisor: bool) -> Result<Vec<f32>, Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    let packed = w.codes.raw()?.bytes;
    let codes = crate::pack::unpack_fp4(&packed, r * c)
        .map_err(|e| Error::Io(format!("{}: tensor '{}': {e}", w.codes.file.display(), w.codes.name)))?;
    let mut x = decoded(ElemFormat::E2M1FN, &codes)?;
    if !divisor {
        // ModelOpt's value table maps code 8 (-0) to +0
        x.iter_mut().filter(|v| **v == 0.0).for_each(|v| *v = 0.0);
    }
    let (_, s) = w.scales.load()?;
    let g = w.global.as_ref().map(|g| g.load()).transpose()?.map_or(1.0, |(_, v)| v[0]);
    let bs: Vec<f32> = s.iter().map(|&s| if divisor { s / g } else { s * g }).collect();
    let gc = c.div_ceil(16);
    Ok((0..r * c).map(|k| x[k] * bs[(k / c) * gc + (k % c) / 16]).collect())
}
