//! Quantized checkpoints as models ship them: which tensors belong together,
//! under which producer's convention, and the exact dequantization each
//! loader applies.
//!
//! | convention | tensors of one weight `P` | dequantized value (rounded once to the output dtype) | source read |
//! |---|---|---|---|
//! | `deepseek-fp8` | `P.weight` F8_E4M3 `[R, C]`, `P.weight_scale_inv` F32 `[⌈R/128⌉, ⌈C/128⌉]` | `fl32(e4m3 · s)` | DeepSeek-V3 `inference/kernel.py` `weight_dequant` (f32 product, stored as BF16 by `fp8_cast_bf16.py`) |
//! | `gpt-oss-mxfp4` | `P_blocks` U8 `[E, R, G, 16]` + `P_scales` U8 `[E, R, G]` (Hugging Face names), or `P.blocks` / `P.scales` (original names) | `e2m1 · 2^(s − 127)` exactly (255, the E8M0 NaN code, is read as 2^128: 0 stays 0, ±0.5 gives ±2^127, larger overflows to ±∞), low nibble = even element | transformers `integrations/mxfp4.py` `convert_moe_packed_tensors` (LUT, `ldexp`) |
//! | `modelopt-nvfp4` | `P.weight` U8 `[R, C/2]`, `P.weight_scale` F8_E4M3 `[R, C/16]`, `P.weight_scale_2` F32 (`amax / (6·448)`), `P.input_scale` | `fl32(e2m1 · fl32(ue4m3 · g₂))`, code 8 (−0) read as +0 (ModelOpt's value table) | ModelOpt `qtensor/nvfp4_tensor.py` `NVFP4QTensor.dequantize` |
//! | `compressed-tensors` NVFP4 | `P.weight_packed` U8 `[R, C/2]`, `P.weight_scale` F8_E4M3 `[R, C/16]`, `P.weight_global_scale` F32 `[1]` (`6·448 / amax`) | `fl32(e2m1 · fl32(ue4m3 / g))` | compressed-tensors `compressors/nvfp4/base.py`, `lifecycle/forward_helpers.py` `_dequantize` (`scale / global_scale`, then `x · scale`) |
//! | `gguf-mxfp4` | one GGUF tensor of ggml type `MXFP4` (39), per 32 elements the E8M0 byte then 16 bytes, element `j` in the low nibble of byte `j`, `j + 16` in the high | `e2m1 · 2^(s − 127)` exactly (255 read as 2^128, code 8 as +0) | llama.cpp `ggml-quants.c` `dequantize_row_mxfp4`, `ggml-impl.h` `ggml_e8m0_to_fp32_half` |
//! | `compressed-tensors` FP8 | `P.weight` F8_E4M3, `P.weight_scale` `[1]` (tensor), `[R, 1]` (channel) or `[⌈R/b⌉, ⌈C/b⌉]` (block) | `fl_S(e4m3 · s)`, S the scale's dtype | compressed-tensors `naive_quantized` compressor, `_dequantize` (`x_q.to(scale.dtype) · scale`) |
//!
//! Where the table writes `fl32(...)` the loader multiplies in f32 and rounds
//! once; the output dtype (`f32` or `bf16`, round to nearest even) is a second
//! rounding only for BF16 output, as every loader above stores BF16. The GPT-OSS
//! Hugging Face names dequantize to the model's parameter shape `[E, G·32, R]`
//! (transformers transposes the last two dimensions; the gate and up
//! projections of `gate_up_proj` stay interleaved, gate = even columns, as
//! `GptOssExperts` reads them); the original names keep `[E, R, G·32]`.
//!
//! Each formula was checked bit for bit against the producer's own loader code
//! run on the CPU where it runs there (compressed-tensors, ModelOpt,
//! transformers: `scripts/check_checkpoint_loaders.py`, docs/checkpoints.md);
//! DeepSeek's `weight_dequant` Triton kernel in Triton's CPU interpreter (f32
//! values; the interpreter's BF16 store truncates, unlike the GPU's).
//!
//! A convention is detected from each weight's tensor names and dtypes, checked
//! against `config.json`'s `quantization_config.quant_method` (and
//! `hf_quant_config.json` for ModelOpt) when present, and can be forced.

mod dequant;
mod fast;
mod produce;
mod verify;

pub use dequant::{OutDtype, dequantize_weight};
pub use fast::{Dequantizer, dequantize_bytes};
pub use produce::{Produced, Producer, produce};
pub use verify::{Check, stored_parts, verify_weight};

use crate::Error;
use crate::io::checkpoint::TensorRef;
use crate::io::safetensors::Dtype;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// A producer's convention for storing quantized weights (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Convention {
    /// DeepSeek-V3/R1: FP8 E4M3 weights with 128×128 `weight_scale_inv`.
    DeepseekFp8,
    /// GPT-OSS: MXFP4 `blocks` + E8M0 `scales` for the MoE experts.
    GptOssMxfp4,
    /// NVIDIA ModelOpt NVFP4 exports (`weight_scale_2` a multiplier).
    ModeloptNvfp4,
    /// compressed-tensors (llm-compressor): FP8 tensor/channel/block and
    /// `nvfp4-pack-quantized` (`weight_global_scale` a divisor).
    CompressedTensors,
    /// GGUF (llama.cpp) `MXFP4` tensors: scale byte and nibbles interleaved
    /// per block, element `j + 16` in the high nibble ([`crate::io::gguf`]).
    GgufMxfp4,
}

impl Convention {
    /// Every convention.
    pub const ALL: [Convention; 5] = [
        Convention::DeepseekFp8,
        Convention::GptOssMxfp4,
        Convention::ModeloptNvfp4,
        Convention::CompressedTensors,
        Convention::GgufMxfp4,
    ];

    /// Its name (`deepseek-fp8`, ...).
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::Convention;
    /// assert_eq!("gpt-oss-mxfp4".parse::<Convention>().unwrap().name(), "gpt-oss-mxfp4");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Convention::DeepseekFp8 => "deepseek-fp8",
            Convention::GptOssMxfp4 => "gpt-oss-mxfp4",
            Convention::ModeloptNvfp4 => "modelopt-nvfp4",
            Convention::CompressedTensors => "compressed-tensors",
            Convention::GgufMxfp4 => "gguf-mxfp4",
        }
    }
}

impl std::fmt::Display for Convention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Convention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Convention::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| {
            let all: Vec<&str> = Convention::ALL.iter().map(|c| c.name()).collect();
            Error::InvalidOption(format!("unknown convention '{s}' (valid: {})", all.join(", ")))
        })
    }
}

/// How one quantized weight is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// FP8 codes with one scale per `block` (rows × columns) tile: a scale grid
    /// of `[1]` is one per tensor (the tile is the whole weight), `[R, 1]` one
    /// per row. The scale multiplies in every FP8 convention lowp knows
    /// (DeepSeek's name `weight_scale_inv` says it is the inverse of the
    /// quantizer's scale).
    Fp8 {
        /// Rows × columns of one scale's tile.
        block: [usize; 2],
    },
    /// MXFP4 packed two per byte, E8M0 scales per 32 elements; `hf`: the
    /// Hugging Face layout (transposed to the parameter shape).
    Mxfp4 {
        /// Hugging Face names and shape.
        hf: bool,
    },
    /// NVFP4 packed two per byte, UE4M3 scales per 16 elements, a per-tensor
    /// global scale that multiplies (`divisor == false`, ModelOpt) or divides
    /// (compressed-tensors).
    Nvfp4 {
        /// The global scale divides.
        divisor: bool,
    },
    /// ggml's MXFP4 blocks (17 bytes per 32 elements) in one GGUF tensor, which
    /// is both `codes` and `scales`.
    GgufMxfp4,
}

/// Whose loader to reproduce where loaders read the same stored bytes
/// differently (`lowp dequantize --like`).
///
/// | loader | differs from the reference in | source read |
/// |---|---|---|
/// | `reference` (default) | — the convention's own loader (module table) | |
/// | `transformers` | FP8 block scales: the block is the weight's shape divided by the scale grid (`rows // scale_rows`), not the configured 128×128, so a weight whose sides are not multiples of 128 is read with other blocks (136×200 with a 2×2 grid: 68×100), and one whose sides do not divide is an error | transformers 5.25 `integrations/finegrained_fp8.py` `Fp8Dequantize._dequantize_one` |
///
/// # Examples
/// ```
/// use lowp::convention::Loader;
/// assert_eq!("transformers".parse::<Loader>().unwrap(), Loader::Transformers);
/// assert!("vllm".parse::<Loader>().unwrap_err().to_string().contains("reference"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Loader {
    /// The convention's own loader (DeepSeek's `weight_dequant`, ModelOpt's,
    /// compressed-tensors', transformers' MXFP4 path).
    #[default]
    Reference,
    /// Hugging Face transformers' FP8 `Fp8Dequantize` (`dequantize=True`).
    Transformers,
}

crate::names::names!(Loader, "loader", { Reference => "reference", Transformers => "transformers" });

impl Loader {
    /// `w` as this loader reads it: the same weight, or one with the loader's
    /// FP8 block (module docs).
    ///
    /// # Errors
    /// [`Error::Shape`] naming the tensor and file when the loader cannot read
    /// the weight (transformers: sides that the scale grid does not divide).
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::{Loader, Storage, group};
    /// use lowp::io::checkpoint::list_tensors;
    /// // 136×200 FP8 codes with the 2×2 grid of 128×128 scales DeepSeek writes
    /// let p = std::env::temp_dir().join("lowp_doc_loader.safetensors");
    /// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[136,200],"data_offsets":[0,27200]},"#,
    ///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[2,2],"data_offsets":[27200,27216]}}"#);
    /// let mut f = (head.len() as u64).to_le_bytes().to_vec();
    /// f.extend_from_slice(head.as_bytes());
    /// f.extend(std::iter::repeat(0x38).take(27200));
    /// f.extend_from_slice(&[0; 16]);
    /// std::fs::write(&p, f).unwrap();
    /// let w = &group(&list_tensors(&p).unwrap(), None, None).unwrap().weights[0];
    /// assert_eq!(w.storage, Storage::Fp8 { block: [128, 128] });
    /// assert_eq!(Loader::Transformers.reads(w).unwrap().storage, Storage::Fp8 { block: [68, 100] });
    /// ```
    pub fn reads(self, w: &QuantWeight) -> Result<QuantWeight, Error> {
        match (self, &w.storage) {
            (Loader::Transformers, Storage::Fp8 { block }) if w.shape.len() == 2 => {
                let (r, c) = (w.shape[0], w.shape[1]);
                let (gr, gc) = (r.div_ceil(block[0]).max(1), c.div_ceil(block[1]).max(1));
                if r % gr != 0 || c % gc != 0 {
                    return Err(shape_err(
                        &w.codes,
                        &format!(
                            "transformers' Fp8Dequantize cannot read it: the {r}×{c} weight does not divide \
                             into its {gr}×{gc} scale grid"
                        ),
                    ));
                }
                Ok(QuantWeight { storage: Storage::Fp8 { block: [r / gr, c / gc] }, ..w.clone() })
            }
            _ => Ok(w.clone()),
        }
    }
}

/// One quantized weight: its tensors and how to read them.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantWeight {
    /// The name the model uses for the dequantized weight (`….weight`,
    /// `….gate_up_proj`).
    pub name: String,
    /// The convention.
    pub convention: Convention,
    /// How it is stored.
    pub storage: Storage,
    /// The element codes (`weight`, `weight_packed`, `_blocks`).
    pub codes: TensorRef,
    /// The block scales (`weight_scale_inv`, `weight_scale`, `_scales`).
    pub scales: TensorRef,
    /// The per-tensor scale (`weight_scale_2`, `weight_global_scale`).
    pub global: Option<TensorRef>,
    /// Tensors that belong to the weight but are not needed to dequantize it
    /// (`input_scale`, `input_global_scale`): copied as they are.
    pub extra: Vec<TensorRef>,
    /// The dequantized weight's shape.
    pub shape: Vec<usize>,
}

/// A checkpoint's tensors sorted into quantized weights and the rest.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Grouping {
    /// The quantized weights, by name.
    pub weights: Vec<QuantWeight>,
    /// Every tensor not part of a quantized weight.
    pub other: Vec<TensorRef>,
    /// The convention `config.json` / `hf_quant_config.json` names, if any.
    pub config: Option<Convention>,
}

/// The convention a checkpoint's configuration names: `config.json`'s
/// `quantization_config.quant_method` (`fp8` with `weight_block_size` →
/// `deepseek-fp8`, `mxfp4`, `compressed-tensors`, `modelopt`), or an
/// `hf_quant_config.json` (ModelOpt). Looked for in the checkpoint directory (a
/// file's directory).
///
/// # Examples
/// ```
/// use lowp::convention::{Convention, config_convention};
/// let d = std::env::temp_dir().join("lowp_doc_config");
/// std::fs::create_dir_all(&d).unwrap();
/// std::fs::write(d.join("config.json"), r#"{"quantization_config": {"quant_method": "mxfp4"}}"#).unwrap();
/// assert_eq!(config_convention(&d), Some(Convention::GptOssMxfp4));
/// ```
pub fn config_convention(path: &Path) -> Option<Convention> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    if dir.join("hf_quant_config.json").is_file() {
        return Some(Convention::ModeloptNvfp4);
    }
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let q = json.get("quantization_config")?;
    match q.get("quant_method")?.as_str()? {
        "fp8" if q.get("weight_block_size").is_some() => Some(Convention::DeepseekFp8),
        "mxfp4" => Some(Convention::GptOssMxfp4),
        "compressed-tensors" => Some(Convention::CompressedTensors),
        "modelopt" => Some(Convention::ModeloptNvfp4),
        _ => None,
    }
}

fn shape_err(t: &TensorRef, what: &str) -> Error {
    Error::Io(format!("{}: tensor '{}' (shape {:?}): {what}", t.file.display(), t.name, t.shape))
}

/// The FP8 tile a scale grid implies for a 2-D weight: `[1]`/`[]` one per
/// tensor, `[R, 1]` per row, else the block (default 128×128) whose grid it is.
fn fp8_block(codes: &TensorRef, scales: &TensorRef, block: [usize; 2]) -> Result<[usize; 2], Error> {
    let &[r, c] = codes.shape.as_slice() else {
        return Err(shape_err(codes, "an FP8 weight with block scales must be 2-D"));
    };
    let grid = scales.shape.as_slice();
    Ok(match grid {
        [] | [1] => [r.max(1), c.max(1)],
        [gr, 1] if *gr == r => [1, c.max(1)],
        [gr, gc] if *gr == r.div_ceil(block[0]) && *gc == c.div_ceil(block[1]) => block,
        _ => {
            return Err(shape_err(
                scales,
                &format!(
                    "does not fit the {r}×{c} weight '{}' (expected [1], [{r}, 1] or the {}×{} grid [{}, {}])",
                    codes.name,
                    block[0],
                    block[1],
                    r.div_ceil(block[0]),
                    c.div_ceil(block[1])
                ),
            ));
        }
    })
}

/// Sorts a checkpoint's tensors into quantized weights and the rest. With
/// `forced`, only that convention's weights are taken as quantized; without,
/// every convention's (`config` records what the configuration says).
///
/// # Errors
/// [`Error::Io`] naming the tensor and file: a scale tensor whose shape does
/// not fit its weight, a weight without the scale its convention needs (e.g.
/// `P.weight_packed` without `P.weight_global_scale`, `P_blocks` without
/// `P_scales`), codes of the wrong dtype.
///
/// # Examples
/// ```
/// use lowp::convention::group;
/// let g = group(&[], None, None).unwrap();
/// assert!(g.weights.is_empty() && g.other.is_empty());
/// ```
pub fn group(tensors: &[TensorRef], forced: Option<Convention>, config: Option<Convention>) -> Result<Grouping, Error> {
    let by_name: HashMap<&str, &TensorRef> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut used: HashSet<&str> = HashSet::new();
    let mut weights: BTreeMap<String, QuantWeight> = BTreeMap::new();
    let want = |c: Convention| forced.is_none_or(|f| f == c);
    let dtype = |t: &TensorRef| t.declared_dtype();
    let is_fp8 = |t: &TensorRef| matches!(dtype(t), Some(Dtype::F8_E4M3 | Dtype::F8_E5M2));
    let is_u8 = |t: &TensorRef| dtype(t) == Some(Dtype::U8);
    for t in tensors {
        let n = t.name.as_str();
        let get = |suffix: &str, base: &str| by_name.get(format!("{base}{suffix}").as_str()).copied();
        let mut add = |w: QuantWeight, parts: Vec<&str>| {
            for p in parts {
                used.insert(by_name.get_key_value(p).map(|(k, _)| *k).unwrap_or(""));
            }
            weights.insert(w.name.clone(), w);
        };
        // a GGUF MXFP4 tensor: codes and scales in one
        if t.ggml_type() == Some(crate::io::gguf::GGML_TYPE_MXFP4) && want(Convention::GgufMxfp4) {
            if t.shape.last().is_none_or(|k| !k.is_multiple_of(32)) {
                return Err(shape_err(t, "GGUF MXFP4 rows must be whole blocks of 32"));
            }
            let w = QuantWeight {
                name: n.to_string(),
                convention: Convention::GgufMxfp4,
                storage: Storage::GgufMxfp4,
                codes: t.clone(),
                scales: t.clone(),
                global: None,
                extra: Vec::new(),
                shape: t.shape.clone(),
            };
            add(w, vec![n]);
            continue;
        }
        // `P.weight` FP8 + `P.weight_scale_inv` (DeepSeek) or `P.weight_scale` (compressed-tensors)
        if let Some(base) = n.strip_suffix(".weight").filter(|_| is_fp8(t)) {
            let (conv, scale) = match (get(".weight_scale_inv", base), get(".weight_scale", base)) {
                (Some(s), _) => (Convention::DeepseekFp8, s),
                (None, Some(s)) => (Convention::CompressedTensors, s),
                (None, None) => continue,
            };
            if !want(conv) {
                continue;
            }
            let block = fp8_block(t, scale, [128, 128])?;
            let w = QuantWeight {
                name: n.to_string(),
                convention: conv,
                storage: Storage::Fp8 { block },
                codes: t.clone(),
                scales: scale.clone(),
                global: None,
                extra: get(".input_scale", base).into_iter().cloned().collect(),
                shape: t.shape.clone(),
            };
            let extra: Vec<String> = w.extra.iter().map(|e| e.name.clone()).collect();
            let mut parts = vec![n, scale.name.as_str()];
            parts.extend(extra.iter().map(String::as_str));
            add(w, parts);
            continue;
        }
        // NVFP4: ModelOpt `P.weight` U8 + `P.weight_scale` + `P.weight_scale_2`;
        // compressed-tensors `P.weight_packed` + `P.weight_scale` + `P.weight_global_scale`
        let nv = match (n.strip_suffix(".weight"), n.strip_suffix(".weight_packed")) {
            (Some(b), _) if is_u8(t) && get(".weight_scale_2", b).is_some() => {
                Some((b, Convention::ModeloptNvfp4, get(".weight_scale_2", b), ".input_scale"))
            }
            (_, Some(b)) if is_u8(t) => {
                Some((b, Convention::CompressedTensors, get(".weight_global_scale", b), ".input_global_scale"))
            }
            _ => None,
        };
        if let Some((base, conv, global, input)) = nv {
            if !want(conv) {
                continue;
            }
            let scale = get(".weight_scale", base)
                .ok_or_else(|| shape_err(t, &format!("an NVFP4 weight ({conv}) without {base}.weight_scale")))?;
            let global = global
                .ok_or_else(|| shape_err(t, &format!("an NVFP4 weight ({conv}) without {base}.weight_global_scale")))?;
            let &[r, half] = t.shape.as_slice() else {
                return Err(shape_err(t, "packed NVFP4 codes must be 2-D [rows, columns / 2]"));
            };
            let c = half * 2;
            if dtype(scale) != Some(Dtype::F8_E4M3) || scale.shape != [r, c.div_ceil(16)] {
                return Err(shape_err(
                    scale,
                    &format!("NVFP4 scales of '{n}' must be F8_E4M3 of shape [{r}, {}]", c.div_ceil(16)),
                ));
            }
            if global.shape.iter().product::<usize>() != 1 {
                return Err(shape_err(global, "a per-tensor scale must hold one value"));
            }
            let w = QuantWeight {
                name: format!("{base}.weight"),
                convention: conv,
                storage: Storage::Nvfp4 { divisor: conv == Convention::CompressedTensors },
                codes: t.clone(),
                scales: scale.clone(),
                global: Some(global.clone()),
                extra: get(input, base).into_iter().cloned().collect(),
                shape: vec![r, c],
            };
            let extra: Vec<String> = w.extra.iter().map(|e| e.name.clone()).collect();
            let mut parts = vec![n, scale.name.as_str(), global.name.as_str()];
            parts.extend(extra.iter().map(String::as_str));
            add(w, parts);
            continue;
        }
        // GPT-OSS MXFP4: `P_blocks` + `P_scales` (HF) or `P.blocks` + `P.scales`
        let mx = match (n.strip_suffix("_blocks"), n.strip_suffix(".blocks")) {
            (Some(b), _) => Some((b, "_scales", true)),
            (_, Some(b)) => Some((b, ".scales", false)),
            _ => None,
        };
        if let Some((base, scale_suffix, hf)) = mx.filter(|_| is_u8(t) && want(Convention::GptOssMxfp4)) {
            let scale = get(scale_suffix, base)
                .ok_or_else(|| shape_err(t, &format!("MXFP4 blocks (gpt-oss-mxfp4) without {base}{scale_suffix}")))?;
            let s = t.shape.as_slice();
            if s.len() < 3 || s[s.len() - 1] != 16 || scale.shape.as_slice() != &s[..s.len() - 1] || !is_u8(scale) {
                return Err(shape_err(
                    scale,
                    &format!(
                        "MXFP4 scales of '{n}' must be U8 of shape {:?} (the blocks' shape without its last 16)",
                        &s[..s.len().saturating_sub(1)]
                    ),
                ));
            }
            let g = s[s.len() - 2];
            let mut shape = s[..s.len() - 2].to_vec();
            shape.push(g * 32);
            if hf {
                if shape.len() != 3 {
                    return Err(shape_err(t, "Hugging Face GPT-OSS blocks must be [experts, rows, groups, 16]"));
                }
                shape.swap(1, 2);
            }
            let w = QuantWeight {
                name: base.to_string(),
                convention: Convention::GptOssMxfp4,
                storage: Storage::Mxfp4 { hf },
                codes: t.clone(),
                scales: scale.clone(),
                global: None,
                extra: Vec::new(),
                shape,
            };
            add(w, vec![n, scale.name.as_str()]);
        }
    }
    let other = tensors.iter().filter(|t| !used.contains(t.name.as_str())).cloned().collect();
    Ok(Grouping { weights: weights.into_values().collect(), other, config })
}
