//! What each producer's quantizer stores for a master weight: the codes,
//! block scales and global scale it would write in a checkpoint's storage
//! (`lowp verify`).
//!
//! | producer | storage | formula (f32 unless noted; `x` the master, `amax` per tensor, `a` per block) | source read |
//! |---|---|---|---|
//! | `modelopt` | NVFP4 | `g₂ = amax/2688`; `s = e4m3(clamp(a / fl(6·g₂), 2⁻⁹, 448))` (a zero quotient → 1); code = E2M1 RNE of `x / fl(s·g₂)`, a negative input's sign kept (−0) | ModelOpt 0.47 `qtensor/nvfp4_tensor.py` `NVFP4QTensor.quantize` |
//! | `compressed-tensors` | NVFP4 | in the weight's dtype: `G = fl(fl(1/amax)·2688)` (PyTorch's `2688 / tensor`), `t = a/6`; then `s = e4m3(clamp(G·t, ±448))` (0 → 0.125); code = E2M1 RNE of `x / fl(s/G)` | compressed-tensors 0.20 `calculate_qparams`, `generate_gparam`, `NVFP4PackedCompressor.compress` |
//! | `compressed-tensors` | FP8 tensor / channel / block | in the weight's dtype: `s = a/448` (0 → the dtype's eps); code = `e4m3(x / s)`, the quotient in the weight's dtype | `calculate_qparams`, `NaiveQuantizationCompressor.compress` |
//! | `modelopt` | MXFP4 | `e = ⌈fl32(log2(fl(a/6)))⌉ ≥ −127`; code = E2M1 of `x / 2^e` rounding ties *down*; a zero's code is 8 (−0): `(2 − sign(x)) // 2` | ModelOpt 0.47 `qtensor/mxfp4_tensor.py` `MXFP4QTensor.quantize` |
//! | `ggml` | GGUF MXFP4 | `e = ⌊fl32(log2 a)⌋ − 2 + 127` (0 for an all-zero block), `d = 2^(e−128)`; code = the first index of the smallest `\|d·kv − x\|` over ggml's doubled table (ties to the smaller magnitude; zero is code 0) | llama.cpp `gguf` 0.19.0 `quants.MXFP4.quantize_blocks` (ggml's `quantize_row_mxfp4_ref`) |
//! | a lowp scheme | any it fits | [`crate::block::quantize`] (`deepgemm`: `fp8-block@like=deepgemm`, `te`, `torchao`, `ocp`) | lowp's presets |
//!
//! "In the weight's dtype": compressed-tensors computes its scales with the
//! weight's own dtype, so a BF16 master rounds `G`, `a/6` and `a/448` (and, for
//! FP8, each quotient `x/s`) to BF16 ([P], read in its source; checked on its
//! output by `tests/verify.rs`).

use super::{QuantWeight, Storage};
use crate::Error;
use crate::block::{Scales, Scheme, quantize};
use crate::io::safetensors::Dtype;
use half::bf16;

/// A quantizer whose stored bytes `lowp verify` reproduces.
#[derive(Clone, Debug)]
pub enum Producer {
    /// NVIDIA ModelOpt (NVFP4, MXFP4).
    Modelopt,
    /// compressed-tensors / llm-compressor (NVFP4, FP8 per tensor, channel, block).
    CompressedTensors,
    /// llama.cpp's `gguf` package / ggml reference quantizer (MXFP4 in GGUF).
    Ggml,
    /// A lowp scheme, by its spec (and the name the report gives it).
    Scheme {
        /// How the report names it (`deepgemm`, `te`, or the spec).
        name: String,
        /// The scheme.
        scheme: Box<Scheme>,
    },
}

/// What a producer stores for one weight, in the storage's layout: one code
/// per element, the scale tensor's bytes as stored, and the global scale's
/// bytes where the producer writes it in the storage's form (`None`: it writes
/// none, or the other form).
#[derive(Clone, Debug, PartialEq)]
pub struct Produced {
    /// One code per element.
    pub codes: Vec<u8>,
    /// The block scales' stored bytes (one byte per scale, or the F32/BF16 bytes).
    pub scales: Vec<u8>,
    /// The global scale's stored bytes (F32), if comparable.
    pub global: Option<Vec<u8>>,
}

impl Producer {
    /// Its name in reports.
    pub fn name(&self) -> &str {
        match self {
            Producer::Modelopt => "modelopt",
            Producer::CompressedTensors => "compressed-tensors",
            Producer::Ggml => "ggml",
            Producer::Scheme { name, .. } => name,
        }
    }

    /// A lowp scheme as a producer, named by its spec.
    ///
    /// # Errors
    /// An invalid spec.
    pub fn scheme(spec: &str) -> Result<Producer, Error> {
        Ok(Producer::Scheme { name: spec.to_string(), scheme: Box::new(spec.parse()?) })
    }

    /// Every producer known to write this storage (`--recipe auto`).
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::{Producer, Storage};
    /// let p = Producer::candidates(&Storage::Nvfp4 { divisor: false });
    /// let names: Vec<&str> = p.iter().map(|p| p.name()).collect();
    /// assert_eq!(names, ["modelopt", "compressed-tensors", "te", "torchao"]);
    /// ```
    pub fn candidates(storage: &Storage) -> Vec<Producer> {
        let named = |name: &str, spec: &str| Producer::Scheme {
            name: name.into(),
            scheme: Box::new(spec.parse().expect("a valid built-in spec")),
        };
        match storage {
            Storage::Nvfp4 { .. } => vec![
                Producer::Modelopt,
                Producer::CompressedTensors,
                named("te", "nvfp4@like=te@global-scale=on"),
                named("torchao", "nvfp4@like=torchao@global-scale=on"),
            ],
            Storage::Fp8 { block } if block[0] > 1 && block[0] == block[1] => vec![
                named("deepgemm", &format!("fp8-block@block={}x{}@like=deepgemm", block[0], block[1])),
                named(
                    "deepgemm-v1",
                    &format!("fp8-block@block={}x{}@like=deepgemm@formula=deepseek-v1", block[0], block[1]),
                ),
                Producer::CompressedTensors,
                named("te", &format!("fp8-block@block={}x{}@like=te", block[0], block[1])),
            ],
            Storage::Fp8 { .. } => vec![Producer::CompressedTensors],
            Storage::GgufMxfp4 => vec![Producer::Ggml],
            Storage::Mxfp4 { .. } => vec![
                Producer::Modelopt,
                named("ocp", "mxfp4@like=ocp"),
                named("torchao", "mxfp4@like=torchao"),
                named("torchao-rceil", "mxfp4@like=torchao@scale-rule=rceil"),
            ],
        }
    }
}

/// `x` rounded to BF16 and back (RNE), or `x` for an F32 master.
fn in_dtype(bf: bool, x: f32) -> f32 {
    if bf { bf16::from_f32(x).to_f32() } else { x }
}

/// The E4M3 (e4m3fn) byte of `x`, nearest even (torch's `.to(float8_e4m3fn)`
/// of a value the producers clamp first).
fn e4m3(x: f32) -> u8 {
    let o = crate::convert::CastOptions::saturating();
    crate::convert::encode_f32(crate::format::ElemFormat::E4M3FN, x, &o, 0).0
}

/// E2M1 code of `v`, nearest with ties to even, saturating at 6; the sign bit
/// set for a negative input (ModelOpt's bounds and searchsorted,
/// compressed-tensors' thresholds: the same map).
fn e2m1_rne(v: f32) -> u8 {
    let a = v.abs();
    let mag = if a <= 0.25 {
        0
    } else if a < 0.75 {
        1
    } else if a <= 1.25 {
        2
    } else if a < 1.75 {
        3
    } else if a <= 2.5 {
        4
    } else if a < 3.5 {
        5
    } else if a <= 5.0 {
        6
    } else {
        7
    };
    mag | (u8::from(v < 0.0) << 3)
}

/// Blocks of `n` elements along the last axis of a row-major tensor whose last
/// dimension is `k`: the element ranges, the last of each row possibly shorter.
fn row_blocks(len: usize, k: usize, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..len / k.max(1)).flat_map(move |r| (0..k.div_ceil(n)).map(move |b| r * k + b * n..r * k + ((b + 1) * n).min(k)))
}

fn amax(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs()))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// What `p` stores for the master `x` (in the storage's layout, `shape` its
/// shape; `bf` for a BF16 master) under `w`'s storage.
///
/// # Errors
/// [`Error::Unsupported`] when the producer has no quantizer for this storage;
/// a lowp scheme's errors.
pub fn produce(p: &Producer, w: &QuantWeight, x: &[f32], shape: &[usize], bf: bool) -> Result<Produced, Error> {
    let k = *shape.last().unwrap_or(&1);
    let unsupported = || Error::Unsupported(format!("{} has no quantizer for {:?} storage", p.name(), w.storage));
    match (p, &w.storage) {
        (Producer::Modelopt, Storage::Nvfp4 { divisor }) => {
            let g2 = amax(x) / 2688.0;
            let (mut codes, mut scales) = (vec![0u8; x.len()], Vec::new());
            for blk in row_blocks(x.len(), k, 16) {
                let mut s = amax(&x[blk.clone()]) / (6.0 * g2);
                if s == 0.0 {
                    s = 1.0;
                }
                let s8 = e4m3(s.clamp(2f32.powi(-9), 448.0));
                scales.push(s8);
                let eff = crate::convert::decode_f32(crate::format::ElemFormat::E4M3FN, s8) * g2;
                for i in blk {
                    codes[i] = e2m1_rne(x[i] / eff);
                }
            }
            Ok(Produced { codes, scales, global: (!divisor).then(|| g2.to_le_bytes().to_vec()) })
        }
        (Producer::CompressedTensors, Storage::Nvfp4 { divisor }) => {
            // `448.0 * 6.0 / max_val_pos`: PyTorch evaluates scalar / tensor as
            // `tensor.reciprocal() * scalar`, each step in the tensor's dtype
            let a = amax(x).max(f32::MIN_POSITIVE);
            let mut g = in_dtype(bf, in_dtype(bf, 1.0 / a) * 2688.0);
            if !g.is_finite() {
                g = 1.0;
            }
            let (mut codes, mut scales) = (vec![0u8; x.len()], Vec::new());
            for blk in row_blocks(x.len(), k, 16) {
                let t = in_dtype(bf, amax(&x[blk.clone()]) / 6.0);
                let mut s8 = e4m3((g * t).clamp(-448.0, 448.0));
                if s8 & 0x7F == 0 {
                    s8 = 0x20; // 0.125, compressed-tensors' FP8 eps
                }
                scales.push(s8);
                let eff = crate::convert::decode_f32(crate::format::ElemFormat::E4M3FN, s8) / g;
                for i in blk {
                    codes[i] = e2m1_rne((x[i] / eff).clamp(-6.0, 6.0));
                }
            }
            Ok(Produced { codes, scales, global: divisor.then(|| g.to_le_bytes().to_vec()) })
        }
        (Producer::CompressedTensors, Storage::Fp8 { block }) => {
            let (r, c) = (shape[0], shape[1]);
            let (gr, gc) = (r.div_ceil(block[0]), c.div_ceil(block[1]));
            let eps = if bf { 2f32.powi(-7) } else { f32::EPSILON };
            let mut s = vec![0f32; gr * gc];
            for (i, row) in x.chunks(c).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    let b = (i / block[0]) * gc + j / block[1];
                    s[b] = s[b].max(v.abs());
                }
            }
            s.iter_mut().for_each(|v| *v = if *v == 0.0 { eps } else { in_dtype(bf, *v / 448.0) });
            let codes = (0..r * c).map(|e| e4m3(in_dtype(bf, x[e] / s[(e / c / block[0]) * gc + (e % c) / block[1]])));
            let scales = match w.scales.declared_dtype() {
                Some(Dtype::BF16) => s.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect(),
                _ => f32_bytes(&s),
            };
            Ok(Produced { codes: codes.collect(), scales, global: None })
        }
        (Producer::Modelopt, Storage::Mxfp4 { .. }) => {
            let (mut codes, mut scales) = (vec![0u8; x.len()], Vec::new());
            for blk in row_blocks(x.len(), k, 32) {
                let d = amax(&x[blk.clone()]) / 6.0;
                // torch.log2 in f32: the exact log2, rounded once to f32
                let e = ((d as f64).log2() as f32).max(-127.0).ceil();
                scales.push((e + 127.0) as u8);
                // torch.exp2 of an integer: the exact power of two (2^-127 is an f32 subnormal)
                let p = if e >= -126.0 {
                    f32::from_bits(((e as i32 + 127) as u32) << 23)
                } else {
                    f32::from_bits(0x40_0000)
                };
                for i in blk {
                    let v = x[i] / p;
                    let a = v.abs();
                    let mag = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0].iter().filter(|&&b| a > b).count() as u8;
                    // (2 − sign(v)) // 2: 0 for positive, 1 for negative and for zero
                    codes[i] = mag | (u8::from(v <= 0.0) << 3);
                }
            }
            Ok(Produced { codes, scales, global: None })
        }
        (Producer::Ggml, Storage::GgufMxfp4) => {
            let (mut codes, mut scales) = (vec![0u8; x.len()], Vec::new());
            // the doubled E2M1 table of ggml, in index order
            const KV: [f32; 16] = [0., 1., 2., 3., 4., 6., 8., 12., 0., -1., -2., -3., -4., -6., -8., -12.];
            for blk in row_blocks(x.len(), k, 32) {
                let a = amax(&x[blk.clone()]);
                // floor(log2(amax)) − 2 + 127 in f32 (np.log2 of a float32), 0 for an all-zero block
                let e = if a > 0.0 { (((a as f64).log2() as f32).floor() - 2.0 + 127.0) as u8 } else { 0 };
                scales.push(e);
                // ggml_e8m0_to_fp32_half: 2^(e − 128)
                let d = if e < 2 { f32::from_bits(0x0020_0000 << e) } else { f32::from_bits(u32::from(e - 1) << 23) };
                for i in blk {
                    // the first index of the nearest d·kv (argmin): ties to the smaller magnitude, no −0
                    let dist = |j: usize| (d * KV[j] - x[i]).abs();
                    codes[i] = (0..16).fold(0, |b, j| if dist(j) < dist(b) { j } else { b }) as u8;
                }
            }
            Ok(Produced { codes, scales, global: None })
        }
        (Producer::Scheme { scheme, .. }, storage) => {
            let q = quantize(x, shape, scheme)?;
            let (scales, fits) = match (q.scales(), storage) {
                (Scales::Ue4m3(b), Storage::Nvfp4 { .. }) | (Scales::E8m0(b), Storage::Mxfp4 { .. }) => {
                    (b.clone(), true)
                }
                (Scales::F32(v), Storage::Fp8 { .. }) => match w.scales.declared_dtype() {
                    Some(Dtype::BF16) => (v.iter().flat_map(|&s| bf16::from_f32(s).to_le_bytes()).collect(), true),
                    _ => (f32_bytes(v), true),
                },
                _ => (Vec::new(), false),
            };
            if !fits || q.scales().len() * scale_width(storage, w) != scales.len() {
                return Err(unsupported());
            }
            let global = match storage {
                Storage::Nvfp4 { divisor: false } => q.global_scale().map(|g| g.to_le_bytes().to_vec()),
                _ => None,
            };
            Ok(Produced { codes: q.codes().to_vec(), scales, global })
        }
        _ => Err(unsupported()),
    }
}

/// Bytes per stored scale.
fn scale_width(storage: &Storage, w: &QuantWeight) -> usize {
    match storage {
        Storage::Fp8 { .. } => w.scales.declared_dtype().map_or(4, |d| d.bitsize() / 8),
        _ => 1,
    }
}
