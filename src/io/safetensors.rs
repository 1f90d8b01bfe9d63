//! `.safetensors` files and sharded checkpoints, read in bounded memory.
//!
//! The header (8-byte little-endian length, then JSON `{name: {"dtype", "shape",
//! "data_offsets"}, "__metadata__": {...}}`) is parsed and validated by the
//! `safetensors` crate's [`Metadata`] (contiguous offsets, byte counts that fit
//! dtype × shape, sub-byte dtypes whole bytes). lowp reads only the header
//! bytes through it, not the whole file (the crate's `SafeTensors` wants the
//! file in memory or mapped): a tensor is then read with one seek and one read.
//!
//! Sub-byte dtypes, as the crate counts them (the shape is in elements):
//! * `F4` (`torch.float4_e2m1fn_x2`): two E2M1 codes per byte, element `2i` in
//!   the low nibble, as torch's `x2` type, ModelOpt, compressed-tensors and
//!   GPT-OSS pack them \[P\];
//! * `F6_E2M3`, `F6_E3M2`: four codes per three bytes, element 0 in the lowest
//!   bits ([`crate::pack::pack_fp6`]); no producer writing these dtypes was found
//!   to check the order against \[I\].
//!
//! A sharded checkpoint is a directory of `.safetensors` files or a
//! `model.safetensors.index.json` whose `weight_map` names each tensor's shard.

use crate::Error;
pub use safetensors::Dtype;
use safetensors::tensor::Metadata;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One tensor of a `.safetensors` file: where its bytes are.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key in the header.
    pub name: String,
    /// Its dtype.
    pub dtype: Dtype,
    /// Its shape in elements.
    pub shape: Vec<usize>,
    /// Absolute byte offset in the file.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// The header of a `.safetensors` file: its tensors (sorted by name) and its
/// `__metadata__` strings.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The tensors, sorted by name.
    pub entries: Vec<Entry>,
    /// The `__metadata__` map (empty if absent).
    pub metadata: BTreeMap<String, String>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Reads and validates the header of a `.safetensors` file, and that the file
/// holds every byte the header declares.
///
/// # Errors
/// [`Error::Io`] naming the file: shorter than its header, a header that is not
/// JSON or that the crate's validation refuses (overlapping or gapped offsets, a
/// byte count that does not fit dtype × shape), data past the end of the file.
///
/// # Examples
/// ```
/// use lowp::io::safetensors::{read_header, Dtype};
/// let p = std::env::temp_dir().join("lowp_doc_header.safetensors");
/// let head = br#"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#;
/// let mut f = (head.len() as u64).to_le_bytes().to_vec();
/// f.extend_from_slice(head);
/// f.extend_from_slice(&[0x38, 0xB8]);
/// std::fs::write(&p, f).unwrap();
/// let h = read_header(&p).unwrap();
/// assert_eq!((h.entries[0].dtype, h.entries[0].len), (Dtype::F8_E4M3, 2));
/// ```
pub fn read_header(path: &Path) -> Result<Header, Error> {
    let bad = |what: String| io_err(path, format!("not a valid .safetensors file: {what}"));
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let file_len = f.metadata().map_err(|e| io_err(path, e))?.len();
    let mut len8 = [0u8; 8];
    f.read_exact(&mut len8).map_err(|_| bad("shorter than its 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len8);
    if n > 100 << 20 || n + 8 > file_len {
        return Err(bad(format!("header length {n} does not fit the file ({file_len} bytes)")));
    }
    let mut head = vec![0u8; n as usize];
    f.read_exact(&mut head).map_err(|e| bad(e.to_string()))?;
    let meta: Metadata = serde_json::from_slice(&head).map_err(|e| bad(format!("bad header: {e}")))?;
    let data_start = 8 + n;
    let end = data_start + meta.data_len() as u64;
    let mut entries: Vec<Entry> = meta
        .tensors()
        .into_iter()
        .map(|(name, t)| Entry {
            name,
            dtype: t.dtype,
            shape: t.shape.clone(),
            offset: data_start + t.data_offsets.0 as u64,
            len: (t.data_offsets.1 - t.data_offsets.0) as u64,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    if end > file_len {
        let last = entries.iter().max_by_key(|e| e.offset + e.len).map(|e| e.name.as_str()).unwrap_or("?");
        return Err(bad(format!(
            "tensor '{last}' ends at byte {end} past the end of the file ({file_len} bytes; truncated?)"
        )));
    }
    let metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok(Header { entries, metadata })
}

/// The `.safetensors` files of a checkpoint, in order: the file itself; a
/// directory's `model.safetensors.index.json` if it has one, else every
/// `.safetensors` file in it (sorted by name); an index's shards (each once, in
/// the order of their names).
///
/// # Errors
/// [`Error::Io`]: an unreadable directory or index, an index without a
/// `weight_map`, a shard it lists that is absent, a directory without
/// `.safetensors` files.
///
/// # Examples
/// ```
/// use lowp::io::safetensors::shards;
/// let d = std::env::temp_dir().join("lowp_doc_shards");
/// std::fs::create_dir_all(&d).unwrap();
/// std::fs::write(d.join("model.safetensors.index.json"),
///     r#"{"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors"}}"#).unwrap();
/// let err = shards(&d).unwrap_err().to_string();
/// assert!(err.contains("m-1.safetensors") && err.contains("absent"), "{err}");
/// ```
pub fn shards(path: &Path) -> Result<Vec<PathBuf>, Error> {
    if path.is_dir() {
        let index = path.join("model.safetensors.index.json");
        if index.is_file() {
            return index_shards(&index).map(|(s, _)| s);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io_err(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(io_err(path, "a directory without .safetensors files or model.safetensors.index.json"));
        }
        return Ok(files);
    }
    if path.to_string_lossy().ends_with(".index.json") {
        return index_shards(path).map(|(s, _)| s);
    }
    Ok(vec![path.to_path_buf()])
}

/// An index's shards and its `weight_map` (tensor → shard file name).
///
/// # Errors
/// As [`shards`].
pub fn index_shards(index: &Path) -> Result<(Vec<PathBuf>, HashMap<String, String>), Error> {
    let text = std::fs::read_to_string(index).map_err(|e| io_err(index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| io_err(index, format!("not JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| io_err(index, "no \"weight_map\" object (not a safetensors index)"))?;
    let mut weight_map = HashMap::new();
    for (k, v) in map {
        let shard = v.as_str().ok_or_else(|| io_err(index, format!("weight_map['{k}'] is not a file name")))?;
        if shard.contains('/') || shard.contains('\\') || shard == ".." {
            return Err(io_err(index, format!("weight_map['{k}'] = '{shard}' is not a file beside the index")));
        }
        weight_map.insert(k.clone(), shard.to_string());
    }
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut names: Vec<&String> = weight_map.values().collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for n in names {
        let p = dir.join(n);
        if !p.is_file() {
            return Err(io_err(index, format!("lists shard {n}, which is absent")));
        }
        out.push(p);
    }
    Ok((out, weight_map))
}

/// A tensor of a file to write: its name, dtype and shape; its bytes are asked
/// for when it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// Its key.
    pub name: String,
    /// Its dtype.
    pub dtype: Dtype,
    /// Its shape in elements.
    pub shape: Vec<usize>,
}

/// Writes a `.safetensors` file to `out` tensor by tensor, in the order given:
/// the header first (built and validated by the crate's [`Metadata`], padded
/// to 8 bytes with spaces), then the bytes `fill(i, put)` passes to `put` for
/// each tensor `i`, in pieces of any size (written as they come, so a producer
/// that fills a small buffer again and again keeps its bytes in cache). The
/// output is complete or absent ([`super::out`]).
///
/// # Errors
/// [`Error::Io`] naming the file; a tensor whose bytes do not fit its dtype ×
/// shape (nothing is written); the first error of `fill`.
///
/// # Examples
/// ```
/// use lowp::io::{out::Output, safetensors::{Planned, Dtype, write, read_header}};
/// let p = std::env::temp_dir().join("lowp_doc_write.safetensors");
/// let t = [Planned { name: "x".into(), dtype: Dtype::BF16, shape: vec![2] }];
/// write(&Output::Path(p.clone()), &t, Default::default(), |_, put| {
///     put(&[0x80, 0x3F])?;
///     put(&[0, 0x40])
/// })
/// .unwrap();
/// assert_eq!(read_header(&p).unwrap().entries[0].len, 4);
/// ```
pub fn write(
    out: &super::out::Output,
    tensors: &[Planned],
    metadata: BTreeMap<String, String>,
    mut fill: impl FnMut(usize, &mut dyn FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error>,
) -> Result<(), Error> {
    let name = match out {
        super::out::Output::Path(p) => p.display().to_string(),
        super::out::Output::Stdout => "standard output".into(),
    };
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    let mut sizes = Vec::with_capacity(tensors.len());
    for t in tensors {
        let bits = t.shape.iter().try_fold(t.dtype.bitsize(), |a, &d| a.checked_mul(d));
        let Some(bytes) = bits.filter(|b| b % 8 == 0).map(|b| b / 8) else {
            return Err(Error::Io(format!(
                "{name}: tensor '{}' of {:?} {} is not whole bytes",
                t.name, t.shape, t.dtype
            )));
        };
        infos.push((
            t.name.clone(),
            safetensors::tensor::TensorInfo {
                dtype: t.dtype,
                shape: t.shape.clone(),
                data_offsets: (offset, offset + bytes),
            },
        ));
        sizes.push(bytes);
        offset += bytes;
    }
    let meta = (!metadata.is_empty()).then(|| metadata.into_iter().collect::<HashMap<_, _>>());
    let header = Metadata::new(meta, infos).map_err(|e| Error::Io(format!("{name}: {e}")))?;
    let mut head = serde_json::to_vec(&header).map_err(|e| Error::Io(format!("{name}: {e}")))?;
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut sink = out.create()?;
    sink.write_all(&(head.len() as u64).to_le_bytes())?;
    sink.write_all(&head)?;
    for (i, (t, &size)) in tensors.iter().zip(&sizes).enumerate() {
        let wrong = |n: usize| Error::Io(format!("{name}: tensor '{}': {n} bytes for {size}", t.name));
        let mut n = 0usize;
        fill(i, &mut |b: &[u8]| {
            n += b.len();
            if n > size {
                return Err(wrong(n));
            }
            sink.write_all(b)
        })?;
        if n != size {
            return Err(wrong(n));
        }
    }
    sink.commit()
}
