//! What a comparison reads: tensors of files, arrays in memory, and the weights
//! of quantized checkpoints as stored, each loaded when it is compared.

use super::{Row, TensorResult, compare_tensor, measure_values, stats};
use crate::Error;
use crate::block::Scheme;
use crate::convention::{Convention, QuantWeight, config_convention, dequantize_weight, group};
use crate::format::ElemFormat;
use crate::io::checkpoint::{TensorRef, glob_match, list_tensors};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A tensor to compare: in a file (loaded when it is compared, so a checkpoint
/// larger than memory is compared in bounded memory), in memory, or a
/// checkpoint's weight as stored.
#[derive(Clone, Debug)]
pub enum Source<'a> {
    /// A tensor of a `.npy` / `.npz` / `.safetensors` file.
    File(TensorRef),
    /// A tensor in memory (an array handed over by Python, the built-in sample).
    Memory {
        /// Its name in the rows.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its values, row-major.
        data: Cow<'a, [f32]>,
    },
    /// A checkpoint's tensor as stored (a producer's quantization, or a plain
    /// tensor), with its master (high-precision) copy if one is given: the
    /// stored values are a `stored:…` row, and the schemes quantize the master.
    Stored {
        /// The stored tensor.
        stored: Stored,
        /// The master copy (same name and shape), if given.
        master: Option<TensorRef>,
    },
}

/// How a checkpoint stores a tensor.
#[derive(Clone, Debug)]
pub enum Stored {
    /// Quantized by a producer's convention (dequantized as its loader does).
    Quantized(Box<QuantWeight>),
    /// Stored as plain values (BF16, F32, ...).
    Plain(TensorRef),
}

impl Source<'_> {
    /// The tensor's name.
    pub fn name(&self) -> &str {
        match self {
            Source::File(t) | Source::Stored { stored: Stored::Plain(t), .. } => &t.name,
            Source::Memory { name, .. } => name,
            Source::Stored { stored: Stored::Quantized(w), .. } => &w.name,
        }
    }

    /// The file the tensor is read from, if any.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Source::File(t) | Source::Stored { stored: Stored::Plain(t), .. } => Some(&t.file),
            Source::Memory { .. } => None,
            Source::Stored { stored: Stored::Quantized(w), .. } => Some(&w.codes.file),
        }
    }

    /// Its shape as listed (before loading).
    pub fn shape(&self) -> &[usize] {
        match self {
            Source::File(t) | Source::Stored { stored: Stored::Plain(t), .. } => &t.shape,
            Source::Memory { shape, .. } => shape,
            Source::Stored { stored: Stored::Quantized(w), .. } => &w.shape,
        }
    }

    /// How it is stored: the file's dtype, `f32` in memory, the convention of a
    /// quantized weight.
    pub fn dtype(&self) -> String {
        match self {
            Source::File(t) | Source::Stored { stored: Stored::Plain(t), .. } => t.dtype_label(),
            Source::Memory { .. } => "f32".into(),
            Source::Stored { stored: Stored::Quantized(w), .. } => w.convention.to_string(),
        }
    }
}

/// The tensors of `files` (every file listed, none loaded), and an error for
/// each file that could not be listed; one-byte arrays read as codes of
/// `codes_as` ([`TensorRef::with_codes_as`]).
pub fn file_sources(files: &[PathBuf], codes_as: Option<ElemFormat>) -> (Vec<Source<'static>>, Vec<Error>) {
    let (mut sources, mut errors) = (Vec::new(), Vec::new());
    for f in files {
        match list_tensors(f) {
            Ok(ts) => sources.extend(ts.into_iter().map(|t| Source::File(t.with_codes_as(codes_as)))),
            Err(e) => errors.push(e),
        }
    }
    (sources, errors)
}

/// The tensors of one checkpoint (a `.safetensors` file, an index or a
/// directory of shards) with its quantized weights grouped by their convention
/// ([`crate::convention::group`]; `convention` forces one): each quantized
/// weight is one [`Source::Stored`] under the model's name, its scale tensors
/// are not compared on their own, and every other tensor is a
/// [`Source::File`]. With `master` (a checkpoint of the high-precision
/// weights), every tensor is compared with the master tensor of its name: a
/// [`Source::Stored`] each.
///
/// # Errors
/// As [`list_tensors`] and [`group`]; a tensor that the master lacks.
///
/// # Examples
/// ```
/// use lowp::compare::{Source, checkpoint_sources};
/// let p = std::env::temp_dir().join("lowp_doc_ckpt_src.safetensors");
/// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[1,2],"data_offsets":[0,2]},"#,
///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]}}"#);
/// let mut f = (head.len() as u64).to_le_bytes().to_vec();
/// f.extend_from_slice(head.as_bytes());
/// f.extend_from_slice(&[0x38, 0xC0]);
/// f.extend_from_slice(&3.0f32.to_le_bytes());
/// std::fs::write(&p, f).unwrap();
/// let s = checkpoint_sources(&p, None, None).unwrap();
/// assert_eq!(s.len(), 1);
/// assert!(matches!(&s[0], Source::Stored { master: None, .. }));
/// assert_eq!((s[0].name(), s[0].dtype()), ("w.weight", "deepseek-fp8".to_string()));
/// ```
pub fn checkpoint_sources(
    path: &Path,
    convention: Option<Convention>,
    master: Option<&Path>,
) -> Result<Vec<Source<'static>>, Error> {
    let tensors = list_tensors(path)?;
    let config = config_convention(path);
    let g = group(&tensors, convention.or(config), config)?;
    let masters: Option<HashMap<String, TensorRef>> = match master {
        Some(m) => Some(list_tensors(m)?.into_iter().map(|t| (t.name.clone(), t)).collect()),
        None => None,
    };
    let find = |name: &str| -> Result<Option<TensorRef>, Error> {
        match (&masters, master) {
            (Some(map), Some(m)) => map.get(name).cloned().map(Some).ok_or_else(|| {
                Error::Io(format!("{}: no tensor '{name}' (the checkpoint's {name} has no master)", m.display()))
            }),
            _ => Ok(None),
        }
    };
    let mut out = Vec::new();
    for w in g.weights {
        let master = find(&w.name)?;
        out.push(Source::Stored { stored: Stored::Quantized(Box::new(w)), master });
    }
    for t in g.other {
        match find(&t.name)? {
            Some(m) => out.push(Source::Stored { stored: Stored::Plain(t), master: Some(m) }),
            None => out.push(Source::File(t)),
        }
    }
    Ok(out)
}

/// A source and the name its rows show.
pub type Named<'a> = (Source<'a>, String);

/// The sources of a comparison's inputs, each with the name its rows show
/// (`FILE:NAME` when there are several inputs), and an error for each input
/// that could not be listed: `.npy` / `.npz` files tensor by tensor
/// ([`file_sources`]), every other path as a checkpoint
/// ([`checkpoint_sources`], with `convention` and `master`); one-byte arrays
/// read as codes of `codes_as`. `lowp compare` and Python's `lowp.compare`
/// both list their inputs with it.
///
/// # Errors
/// `master` with other than one input; an unknown convention.
///
/// # Examples
/// ```
/// use lowp::compare::input_sources;
/// use lowp::io::npy::{NpyArray, NpyData};
/// let d = std::env::temp_dir();
/// let (a, b) = (d.join("lowp_doc_in_a.npy"), d.join("lowp_doc_in_b.npy"));
/// for p in [&a, &b] {
///     NpyArray { shape: vec![2], data: NpyData::F32(vec![1.0, 2.0]) }.write(p).unwrap();
/// }
/// let (named, errors) = input_sources(&[a.clone(), b], None, None, None).unwrap();
/// assert!(errors.is_empty());
/// assert_eq!(named[0].1, format!("{}:lowp_doc_in_a", a.display()));
/// ```
pub fn input_sources(
    files: &[PathBuf],
    convention: Option<Convention>,
    master: Option<&Path>,
    codes_as: Option<ElemFormat>,
) -> Result<(Vec<Named<'static>>, Vec<Error>), Error> {
    if master.is_some() && files.len() != 1 {
        return Err(Error::InvalidOption("--master takes exactly one checkpoint to compare with it".into()));
    }
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let listed = if ext == "npy" || ext == "npz" {
            let (s, mut e) = file_sources(std::slice::from_ref(f), codes_as);
            e.pop().map_or(Ok(s), Err)
        } else {
            checkpoint_sources(f, convention, master).map(|v| {
                v.into_iter()
                    .map(|s| if let Source::File(t) = s { Source::File(t.with_codes_as(codes_as)) } else { s })
                    .collect()
            })
        };
        match listed {
            Ok(v) => {
                let prefix = if files.len() > 1 { format!("{}:", f.display()) } else { String::new() };
                out.extend(v.into_iter().map(|s| {
                    let shown = format!("{prefix}{}", s.name());
                    (s, shown)
                }));
            }
            Err(e) => errors.push(e),
        }
    }
    Ok((out, errors))
}

/// The sources a comparison keeps (each with the name its rows show): with
/// `skip_non_float`, file tensors of a dtype lowp does not read as floats
/// (integer buffers) are dropped and `note` is told each name and dtype; with
/// `globs`, only tensors whose name matches one of them (`*`, `?`).
///
/// # Errors
/// A glob that matches nothing, or nothing left to compare.
///
/// # Examples
/// ```
/// use lowp::compare::{Source, select};
/// let s = |n: &str| (Source::Memory { name: n.into(), shape: vec![1], data: vec![1.0f32].into() }, n.to_string());
/// let kept = select(vec![s("a.weight"), s("a.bias"), s("b.weight")], &["a.*".into()], false, &mut |_, _| {});
/// assert_eq!(kept.unwrap().len(), 2);
/// assert!(select(vec![s("a")], &["a".into(), "zz*".into()], false, &mut |_, _| {}).is_err());
/// ```
pub fn select<'a>(
    mut sources: Vec<Named<'a>>,
    globs: &[String],
    skip_non_float: bool,
    note: &mut dyn FnMut(&str, &str),
) -> Result<Vec<Named<'a>>, Error> {
    if skip_non_float {
        sources.retain(|(s, shown)| match s {
            Source::File(t) if !t.is_readable_float() => {
                note(shown, &t.dtype_label());
                false
            }
            _ => true,
        });
    }
    if !globs.is_empty() {
        if let Some(g) = globs.iter().find(|g| !sources.iter().any(|(s, _)| glob_match(g, s.name()))) {
            return Err(Error::InvalidOption(format!("no tensor matches --tensors '{g}'")));
        }
        sources.retain(|(s, _)| globs.iter().any(|g| glob_match(g, s.name())));
    }
    if sources.is_empty() {
        return Err(Error::Io("no tensors to compare".into()));
    }
    Ok(sources)
}

/// Compares one source: its statistics and rows.
fn compare_one(s: &Source<'_>, schemes: &[(String, Scheme)]) -> Result<TensorResult, Error> {
    let here = |t: &TensorRef| format!("{}: tensor '{}'", t.file.display(), t.name);
    let result = |shape: Vec<usize>, x: &[f32], rows: Vec<Row>| TensorResult {
        name: s.name().to_string(),
        file: s.file().map(Path::to_path_buf),
        shape,
        dtype: s.dtype(),
        stats: stats(x),
        rows,
    };
    match s {
        Source::File(t) => {
            let (shape, x) = t.load()?;
            let rows =
                compare_tensor(&t.name, &shape, &x, schemes).map_err(|e| Error::Io(format!("{}: {e}", here(t))))?;
            Ok(result(shape, &x, rows))
        }
        Source::Memory { name, shape, data } => {
            Ok(result(shape.clone(), data, compare_tensor(name, shape, data, schemes)?))
        }
        Source::Stored { stored, master } => {
            let (y, bits, label) = match stored {
                Stored::Quantized(w) => {
                    let bytes: u64 = [Some(&w.codes), Some(&w.scales), w.global.as_ref()]
                        .into_iter()
                        .flatten()
                        .map(stored_bytes)
                        .sum();
                    let n = w.shape.iter().product::<usize>().max(1);
                    (dequantize_weight(w)?, 8.0 * bytes as f64 / n as f64, w.convention.to_string())
                }
                Stored::Plain(t) => {
                    let bits = t.declared_dtype().map_or(32, |d| d.bitsize()) as f64;
                    (t.load()?.1, bits, t.dtype_label())
                }
            };
            let shape = s.shape().to_vec();
            let x = match master {
                Some(m) => {
                    let (ms, x) = m.load()?;
                    if ms != shape {
                        return Err(Error::Shape(format!(
                            "{}: shape {ms:?}, but the checkpoint's '{}' has shape {shape:?}",
                            here(m),
                            s.name()
                        )));
                    }
                    x
                }
                None => y.clone(),
            };
            let name = s.name();
            let mut rows = vec![Row {
                tensor: name.to_string(),
                scheme: format!("stored:{label}"),
                metrics: measure_values(&x, &y, bits),
                error: None,
            }];
            rows.extend(compare_tensor(name, &shape, &x, schemes)?);
            Ok(result(shape, &x, rows))
        }
    }
}

/// Bytes of a stored tensor (its declared dtype's bits × elements).
fn stored_bytes(t: &TensorRef) -> u64 {
    let bits = t.declared_dtype().map_or(0, |d| d.bitsize() as u64);
    t.shape.iter().map(|&d| d as u64).product::<u64>() * bits / 8
}

/// Every source under every scheme, tensors in parallel (rayon; a file tensor is
/// loaded by the worker that compares it), one result per source in order;
/// `done(i, result)` is called as source `i` finishes (in any order), so a
/// caller can show results as they come.
///
/// # Examples
/// ```
/// use lowp::compare::{Source, compare_sources};
/// let src = [Source::Memory { name: "x".into(), shape: vec![32], data: vec![1.0f32; 32].into() }];
/// let s = vec![("mxfp4".to_string(), "mxfp4".parse().unwrap())];
/// let r = compare_sources(&src, &s, &|_, _| {});
/// let t = r[0].as_ref().unwrap();
/// assert_eq!((t.stats.amax, t.rows[0].metrics.sqnr_db()), (1.0, f64::INFINITY));
/// ```
pub fn compare_sources(
    sources: &[Source<'_>],
    schemes: &[(String, Scheme)],
    done: &(dyn Fn(usize, &Result<TensorResult, Error>) + Sync),
) -> Vec<Result<TensorResult, Error>> {
    use rayon::prelude::*;
    sources
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let r = compare_one(s, schemes);
            done(i, &r);
            r
        })
        .collect()
}
