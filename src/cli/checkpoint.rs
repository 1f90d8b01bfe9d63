//! `lowp inspect` and `lowp dequantize`: quantized checkpoints as models ship
//! them ([`lowp::convention`]).

use clap::Args;
use lowp::Error;
use lowp::convention::{
    Convention, Dequantizer, Grouping, Loader, OutDtype, QuantWeight, Storage, config_convention, group,
};
use lowp::io::checkpoint::{TensorRef, glob_match, list_tensors};
use lowp::io::out::Output;
use lowp::io::safetensors::{Planned, write};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The checkpoint arguments both commands take.
#[derive(Args)]
pub struct CkptArgs {
    /// A .safetensors file, a model.safetensors.index.json, or a directory of shards.
    pub ckpt: PathBuf,
    /// The convention of the quantized weights (default: config.json's, else detected per weight
    /// from tensor names): deepseek-fp8 | gpt-oss-mxfp4 | modelopt-nvfp4 | compressed-tensors.
    #[arg(long)]
    pub convention: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub ckpt: CkptArgs,
    /// One JSON object per line: a line per tensor, then per dtype total, then per quantized weight.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DequantizeArgs {
    #[command(flatten)]
    pub ckpt: CkptArgs,
    /// Output .safetensors file (`-`: standard output); written whole or not at all.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Dtype of the dequantized weights: f32 (the loader's f32 value) | bf16 (rounded to nearest even,
    /// as the loaders store them).
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Only output tensors whose name matches one of these globs (* and ?; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tensors: Vec<String>,
    /// Whose loader to reproduce where loaders differ: reference (the convention's own) |
    /// transformers (FP8 blocks derived from the scale grid, as its Fp8Dequantize does).
    #[arg(long, default_value = "reference")]
    pub like: String,
}

pub fn load(a: &CkptArgs) -> Result<Grouping, Error> {
    let tensors = list_tensors(&a.ckpt)?;
    let config = config_convention(&a.ckpt);
    let forced = a.convention.as_deref().map(str::parse::<Convention>).transpose()?;
    let g = group(&tensors, forced.or(config), config)?;
    if let Some(c) = forced
        && g.weights.is_empty()
    {
        return Err(Error::InvalidOption(format!(
            "--convention {c}: no tensor of {} is stored that way",
            a.ckpt.display()
        )));
    }
    Ok(g)
}

fn storage(w: &QuantWeight) -> String {
    match &w.storage {
        Storage::Fp8 { block } if block[..] == w.shape[..] => "FP8, one scale per tensor".into(),
        Storage::Fp8 { block } if block[0] == 1 => "FP8, one scale per row".into(),
        Storage::Fp8 { block } => format!("FP8, {}x{} scale blocks", block[0], block[1]),
        Storage::Mxfp4 { hf: true } => "MXFP4, E8M0 per 32 (Hugging Face names, transposed)".into(),
        Storage::Mxfp4 { hf: false } => "MXFP4, E8M0 per 32 (original names)".into(),
        Storage::Nvfp4 { divisor: false } => "NVFP4, UE4M3 per 16, global scale multiplies".into(),
        Storage::Nvfp4 { divisor: true } => "NVFP4, UE4M3 per 16, global scale divides".into(),
        Storage::GgufMxfp4 => "MXFP4, E8M0 per 32 (ggml blocks: the scale byte, then split nibbles)".into(),
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.into()).to_string()
}

pub fn inspect(a: &InspectArgs) -> Result<(), Error> {
    let g = load(&a.ckpt)?;
    let mut role: BTreeMap<&str, String> = BTreeMap::new();
    for w in &g.weights {
        role.insert(&w.codes.name, format!("codes of {}", w.name));
        role.insert(&w.scales.name, format!("scales of {}", w.name));
        if w.codes.name == w.scales.name {
            role.insert(&w.codes.name, format!("codes and scales of {}", w.name));
        }
        if let Some(t) = &w.global {
            role.insert(&t.name, format!("global scale of {}", w.name));
        }
        for t in &w.extra {
            role.insert(&t.name, format!("belongs to {}", w.name));
        }
    }
    // (a GGUF MXFP4 tensor is its weight's codes and scales at once)
    let mut all: Vec<&TensorRef> = g.weights.iter().flat_map(|w| [&w.codes, &w.scales]).collect();
    all.dedup_by(|a, b| a.name == b.name && a.file == b.file);
    all.extend(g.weights.iter().flat_map(|w| w.global.iter().chain(&w.extra)));
    all.extend(&g.other);
    all.sort_by(|x, y| x.name.cmp(&y.name));
    let mut totals: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut s = String::new();
    let files: std::collections::BTreeSet<&Path> = all.iter().map(|t| t.file.as_path()).collect();
    let several = files.len() > 1;
    let file_of = |t: &TensorRef| {
        if several {
            format!("  [{}]", t.file.file_name().map_or("?".into(), |f| f.to_string_lossy()))
        } else {
            String::new()
        }
    };
    if !a.json {
        let _ = writeln!(s, "{:<56} {:<11} {:<20} {:>14}  role", "tensor", "dtype", "shape", "bytes");
    }
    for t in &all {
        let dtype = t.dtype_label();
        let bytes = t.stored_bytes().unwrap_or(0);
        let e = totals.entry(dtype.clone()).or_default();
        e.0 += 1;
        e.1 += bytes;
        let r = role.get(t.name.as_str()).cloned().unwrap_or_else(|| "-".into());
        let shape = format!("{:?}", t.shape);
        if a.json {
            let _ = writeln!(
                s,
                "{{\"tensor\":{},\"file\":{},\"dtype\":\"{dtype}\",\"shape\":{shape},\"bytes\":{bytes},\"role\":{}}}",
                json_str(&t.name),
                json_str(&t.file.display().to_string()),
                json_str(&r)
            );
        } else {
            let _ = writeln!(s, "{:<56} {:<11} {:<20} {:>14}  {r}{}", t.name, dtype, shape, bytes, file_of(t));
        }
    }
    let mut by_conv: BTreeMap<Convention, usize> = BTreeMap::new();
    g.weights.iter().for_each(|w| *by_conv.entry(w.convention).or_default() += 1);
    if a.json {
        for (d, (n, b)) in &totals {
            let _ = writeln!(s, "{{\"total\":\"{d}\",\"tensors\":{n},\"bytes\":{b}}}");
        }
        for w in &g.weights {
            let _ = writeln!(
                s,
                "{{\"weight\":{},\"convention\":\"{}\",\"storage\":{},\"shape\":{:?}}}",
                json_str(&w.name),
                w.convention,
                json_str(&storage(w)),
                w.shape
            );
        }
    } else {
        let _ = writeln!(s, "\n{} file(s), {} tensors", files.len(), all.len());
        for (d, (n, b)) in &totals {
            let _ = writeln!(s, "  {d:<11} {n:>6} tensors {b:>16} bytes");
        }
        let conv: Vec<String> = by_conv.iter().map(|(c, n)| format!("{n} {c}")).collect();
        let cfg = g.config.map_or("none".to_string(), |c| c.to_string());
        let _ = writeln!(
            s,
            "{} quantized weight(s){}; convention in config.json: {cfg}",
            g.weights.len(),
            if conv.is_empty() { String::new() } else { format!(" ({})", conv.join(", ")) }
        );
        for w in &g.weights {
            let _ = writeln!(
                s,
                "  {:<54} {:<18} {:<20} {}",
                w.name,
                w.convention.name(),
                format!("{:?}", w.shape),
                storage(w)
            );
        }
    }
    super::args::emit(&s)
}

/// What one output tensor is made from.
enum Source<'a> {
    Weight(&'a QuantWeight),
    Copy(&'a TensorRef),
}

pub fn dequantize(a: &DequantizeArgs) -> Result<(), Error> {
    let out_dtype: OutDtype = a.dtype.parse()?;
    let loader: Loader = a.like.parse()?;
    let g = load(&a.ckpt)?;
    let keep = |n: &str| a.tensors.is_empty() || a.tensors.iter().any(|p| glob_match(p, n));
    // every written weight as the loader reads it, checked before anything is written
    let weights: Vec<QuantWeight> = g
        .weights
        .iter()
        .map(|w| if keep(&w.name) { loader.reads(w) } else { Ok(w.clone()) })
        .collect::<Result<_, _>>()?;
    let mut staged: Vec<(Planned, Source)> = Vec::new();
    for w in &weights {
        staged.push((
            Planned { name: w.name.clone(), dtype: out_dtype.dtype(), shape: w.shape.clone() },
            Source::Weight(w),
        ));
        for t in &w.extra {
            staged.push((copy_of(t)?, Source::Copy(t)));
        }
    }
    for t in &g.other {
        staged.push((copy_of(t)?, Source::Copy(t)));
    }
    let mut plan: BTreeMap<String, (Planned, Source)> = BTreeMap::new();
    for (p, s) in staged.into_iter().filter(|(p, _)| keep(&p.name)) {
        let name = p.name.clone();
        if plan.insert(name.clone(), (p, s)).is_some() {
            return Err(Error::InvalidOption(format!("two output tensors would be named '{name}'")));
        }
    }
    if plan.is_empty() {
        return Err(Error::InvalidOption(format!("no tensor of {} matches --tensors", a.ckpt.ckpt.display())));
    }
    let (planned, sources): (Vec<Planned>, Vec<Source>) = plan.into_values().unzip();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("lowp".to_string(), format!("dequantize --dtype {} --like {loader}", a.dtype));
    let mut dq = Dequantizer::new(out_dtype);
    // the stored tensors each output reads, in output order
    let inputs: Vec<Vec<&TensorRef>> = sources
        .iter()
        .map(|s| match s {
            Source::Weight(w) => [Some(&w.codes), Some(&w.scales), w.global.as_ref()].into_iter().flatten().collect(),
            Source::Copy(t) => vec![*t],
        })
        .collect();
    // A reader thread reads the next READ_AHEAD outputs' input bytes (in 1 MiB
    // pieces into one reused buffer: they stay in cache, and memory stays
    // bounded) while this thread converts and writes, so the disk is read, in
    // large requests, while the CPU works; this thread's read of the same bytes
    // then comes from the page cache.
    const READ_AHEAD: usize = 2;
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(READ_AHEAD);
        let inputs = &inputs;
        sc.spawn(move || {
            let mut scratch = Vec::new();
            for ts in inputs {
                ts.iter().for_each(|t| drop(t.copy_to(&mut scratch, &mut |_| Ok(()))));
                if tx.send(()).is_err() {
                    break; // the writer stopped
                }
            }
        });
        let mut buf = Vec::new();
        write(&Output::parse(&a.output), &planned, meta, |i, put| {
            let _ = rx.recv();
            match &sources[i] {
                Source::Weight(w) => dq.write_to(w, put),
                Source::Copy(t) => t.copy_to(&mut buf, put),
            }
        })
    })
}

fn copy_of(t: &TensorRef) -> Result<Planned, Error> {
    let dtype = t.declared_dtype().ok_or_else(|| match t.ggml_type() {
        Some(_) => Error::InvalidOption(format!(
            "{}: tensor '{}' is ggml type {}, which lowp does not read (F32, F16, BF16, MXFP4); leave it \
             out with --tensors",
            t.file.display(),
            t.name,
            t.dtype_label()
        )),
        None => Error::InvalidOption(format!(
            "{}: only .safetensors and .gguf checkpoints are dequantized",
            t.file.display()
        )),
    })?;
    Ok(Planned { name: t.name.clone(), dtype, shape: t.shape.clone() })
}
