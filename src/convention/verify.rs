//! `lowp verify`: re-quantize a weight's master copy with each producer's
//! formula ([`super::produce`]) and count how many of the stored codes, block
//! scales and global scale each one reproduces.

use super::dequant::{mx_parts, nv_codes, stored_codes};
use super::{Produced, Producer, QuantWeight, Storage, produce};
use crate::Error;
use crate::io::checkpoint::TensorRef;
use crate::io::safetensors::Dtype;

/// How far one producer's bytes agree with the stored ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The producer's name.
    pub producer: String,
    /// Equal codes, and the number of codes.
    pub codes: (u64, u64),
    /// Equal block scales (stored bytes), and the number of scales.
    pub scales: (u64, u64),
    /// Whether the global scale's stored bytes are equal (`None`: no global
    /// scale, or the producer does not write it in the stored form).
    pub global: Option<bool>,
    /// Why the producer could not quantize this weight, if it could not.
    pub error: Option<String>,
}

impl Check {
    /// Every code and scale equal, and the global scale where compared.
    pub fn explains(&self) -> bool {
        self.error.is_none()
            && self.codes.0 == self.codes.1
            && self.scales.0 == self.scales.1
            && self.global != Some(false)
    }
}

/// The stored codes (one per element, in the storage's layout), block-scale
/// bytes and global-scale bytes of a quantized weight.
///
/// # Errors
/// A read error or stored bytes that do not fit the storage.
pub fn stored_parts(w: &QuantWeight) -> Result<Produced, Error> {
    let n: usize = w.shape.iter().product();
    let mut buf = Vec::new();
    let codes = match &w.storage {
        Storage::Fp8 { .. } => {
            stored_codes(&w.codes, n, &mut buf)?;
            buf
        }
        Storage::Nvfp4 { .. } => {
            nv_codes(w, n, &mut buf)?;
            crate::pack::unpack_fp4(&buf, n)?
        }
        Storage::Mxfp4 { .. } => {
            mx_parts(w, &mut buf)?;
            buf.iter().flat_map(|b| [b & 0xF, b >> 4]).collect()
        }
        Storage::GgufMxfp4 => {
            // 17 bytes per block: the scale, then element j low and j + 16 high
            let raw = w.codes.raw()?.bytes;
            let mut codes = vec![0u8; n];
            let mut scales = Vec::with_capacity(raw.len() / 17);
            for (blk, c) in raw.chunks_exact(17).zip(codes.chunks_exact_mut(32)) {
                scales.push(blk[0]);
                for (j, &q) in blk[1..].iter().enumerate() {
                    c[j] = q & 0xF;
                    c[j + 16] = q >> 4;
                }
            }
            return Ok(Produced { codes, scales, global: None });
        }
    };
    let global = w.global.as_ref().map(|g| g.raw().map(|r| r.bytes)).transpose()?;
    Ok(Produced { codes, scales: w.scales.raw()?.bytes, global })
}

/// The master's values in the storage's layout (GPT-OSS Hugging Face weights
/// are stored transposed) and that layout's shape; whether the master is BF16.
fn master_in_storage(w: &QuantWeight, master: &TensorRef) -> Result<(Vec<f32>, Vec<usize>, bool), Error> {
    let (shape, x) = master.load()?;
    if shape != w.shape {
        return Err(Error::Shape(format!(
            "{}: master tensor '{}' has shape {shape:?}, the quantized weight {:?}",
            master.file.display(),
            master.name,
            w.shape
        )));
    }
    let bf = master.declared_dtype() == Some(Dtype::BF16);
    if let Storage::Mxfp4 { hf: true } = w.storage {
        // the parameter [E, K, R] → the stored [E, R, K]
        let (e, k, r) = (shape[0], shape[1], shape[2]);
        let mut t = vec![0f32; x.len()];
        for a in 0..e {
            for i in 0..k {
                for j in 0..r {
                    t[(a * r + j) * k + i] = x[(a * k + i) * r + j];
                }
            }
        }
        return Ok((t, vec![e, r, k], bf));
    }
    Ok((x, shape, bf))
}

/// Each producer's agreement with the stored bytes of `w`, re-quantizing
/// `master` (the same weight in high precision, under the model's name and
/// shape).
///
/// # Errors
/// The stored weight or the master cannot be read, or their shapes differ.
///
/// # Examples
/// ```
/// use lowp::convention::{Producer, group, verify_weight};
/// use lowp::io::{checkpoint::list_tensors, npy::{NpyArray, NpyData}};
/// // DeepSeek layout: 1×4 codes (1, 2, −0.5, 448 in E4M3) with one scale 1/448
/// let p = std::env::temp_dir().join("lowp_doc_verify.safetensors");
/// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[1,4],"data_offsets":[0,4]},"#,
///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}"#);
/// let mut f = (head.len() as u64).to_le_bytes().to_vec();
/// f.extend_from_slice(head.as_bytes());
/// f.extend_from_slice(&[0x38, 0x40, 0xB0, 0x7E]);
/// f.extend_from_slice(&(1.0f32 / 448.0).to_le_bytes());
/// std::fs::write(&p, f).unwrap();
/// let w = &group(&list_tensors(&p).unwrap(), None, None).unwrap().weights[0];
/// let m = std::env::temp_dir().join("lowp_doc_verify_master.npy");
/// NpyArray { shape: vec![1, 4], data: NpyData::F32(vec![1.0 / 448.0, 2.0 / 448.0, -0.5 / 448.0, 1.0]) }.write(&m).unwrap();
/// let master = list_tensors(&m).unwrap().remove(0);
/// let checks = verify_weight(w, &master, &Producer::candidates(&w.storage)).unwrap();
/// assert!(checks[0].explains(), "{:?}", checks[0]); // DeepGEMM's formula
/// assert_eq!(checks[0].codes, (4, 4));
/// ```
pub fn verify_weight(w: &QuantWeight, master: &TensorRef, producers: &[Producer]) -> Result<Vec<Check>, Error> {
    let stored = stored_parts(w)?;
    let (x, shape, bf) = master_in_storage(w, master)?;
    let same = |a: &[u8], b: &[u8], width: usize| -> u64 {
        a.chunks(width).zip(b.chunks(width)).filter(|(p, q)| p == q).count() as u64
    };
    let width = match w.storage {
        Storage::Fp8 { .. } => w.scales.declared_dtype().map_or(4, |d| d.bitsize() / 8),
        _ => 1,
    };
    Ok(producers
        .iter()
        .map(|p| {
            let total = (stored.codes.len() as u64, (stored.scales.len() / width) as u64);
            match produce(p, w, &x, &shape, bf) {
                Ok(got) if got.codes.len() == stored.codes.len() && got.scales.len() == stored.scales.len() => Check {
                    producer: p.name().to_string(),
                    codes: (same(&got.codes, &stored.codes, 1), total.0),
                    scales: (same(&got.scales, &stored.scales, width), total.1),
                    global: stored.global.as_ref().zip(got.global.as_ref()).map(|(a, b)| a == b),
                    error: None,
                },
                Ok(_) => Check {
                    producer: p.name().to_string(),
                    codes: (0, total.0),
                    scales: (0, total.1),
                    global: None,
                    error: Some("its blocks do not fit the stored scale grid".into()),
                },
                Err(e) => Check {
                    producer: p.name().to_string(),
                    codes: (0, total.0),
                    scales: (0, total.1),
                    global: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect())
}
