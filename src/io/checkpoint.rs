//! Tensors in `.npy`, `.npz` and `.safetensors` files and sharded checkpoints,
//! listed without reading their data and loaded one at a time (bounded memory
//! for checkpoints larger than RAM: a tensor is read with one seek and one read
//! when it is needed).

use super::npy::{DType as NpyDType, NpyArray};
use super::safetensors::{Dtype, read_header, shards};
use crate::Error;
use crate::format::ElemFormat;
use half::{bf16, f16};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where a tensor's bytes are.
#[derive(Clone, Debug, PartialEq)]
enum Loc {
    Npy(NpyDType),
    /// A member of the archive, and its dtype.
    Npz(String, NpyDType),
    Safetensors {
        offset: u64,
        len: u64,
        dtype: Dtype,
    },
    /// A GGUF tensor: its bytes (length unknown for ggml types lowp does not
    /// size) and ggml type.
    Gguf {
        offset: u64,
        len: Option<u64>,
        ggml_type: u32,
    },
}

/// A tensor in a file, not yet loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// Its name: the file stem for `.npy`, the member name (without `.npy`) for
    /// `.npz`, the key for `.safetensors`.
    pub name: String,
    /// The file.
    pub file: PathBuf,
    /// Its shape.
    pub shape: Vec<usize>,
    loc: Loc,
    /// The element format one-byte arrays (`.npy` u8 and ml_dtypes' `V1`,
    /// safetensors U8) are read as codes of ([`TensorRef::with_codes_as`]).
    codes_as: Option<ElemFormat>,
}

/// A tensor's stored bytes as they are in the file, with their dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    /// The stored dtype.
    pub dtype: Dtype,
    /// The shape in elements (an `F4` tensor of shape `[2, 32]` has 32 bytes).
    pub shape: Vec<usize>,
    /// The bytes, little-endian as stored.
    pub bytes: Vec<u8>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Lists the tensors of a file or checkpoint: `.npy`, `.npz`, `.safetensors`, a
/// `model.safetensors.index.json`, or a directory of `.safetensors` shards
/// ([`super::safetensors::shards`]). Sorted by name within each file; shards in
/// order.
///
/// # Errors
/// [`Error::Io`] naming the file if it cannot be read or its header is corrupt;
/// for an index, a shard it lists that is absent or lacks a tensor the index
/// puts in it, and a tensor name held by two shards.
///
/// # Examples
/// ```
/// use lowp::io::{checkpoint::list_tensors, npy::{NpyArray, NpyData}};
/// let p = std::env::temp_dir().join("lowp_doc_list.npy");
/// NpyArray { shape: vec![2], data: NpyData::F32(vec![1.0, 2.0]) }.write(&p).unwrap();
/// let t = list_tensors(&p).unwrap();
/// assert_eq!((t[0].name.as_str(), t[0].load().unwrap()), ("lowp_doc_list", (vec![2], vec![1.0, 2.0])));
/// ```
pub fn list_tensors(path: &Path) -> Result<Vec<TensorRef>, Error> {
    let is_index = path.to_string_lossy().ends_with(".index.json");
    if path.is_dir() || is_index {
        return list_sharded(path);
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "npy" => {
            let mut f = File::open(path).map_err(|e| io_err(path, e))?;
            let mut head = vec![0u8; 4096];
            let n = read_up_to(&mut f, &mut head).map_err(|e| io_err(path, e))?;
            let h = super::npy::parse_header(&head[..n], &path.display().to_string())?;
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("tensor").to_string();
            Ok(vec![TensorRef { name, file: path.into(), shape: h.shape, loc: Loc::Npy(h.dtype), codes_as: None }])
        }
        "npz" => {
            let f = File::open(path).map_err(|e| io_err(path, e))?;
            let mut z = zip::ZipArchive::new(f).map_err(|e| io_err(path, format!("not a valid .npz file: {e}")))?;
            let members: Vec<String> = z.file_names().filter(|n| n.ends_with(".npy")).map(String::from).collect();
            let mut out = Vec::new();
            for m in members {
                // each member's header (its first bytes, decompressed): shape and dtype
                let what = format!("{}: member {m}", path.display());
                let mut r = z.by_name(&m).map_err(|e| io_err(path, e))?;
                let mut head = Vec::with_capacity(4096);
                (&mut r).take(4096).read_to_end(&mut head).map_err(|e| io_err(path, e))?;
                let h = super::npy::parse_header(&head, &what)?;
                let name = m.trim_end_matches(".npy").to_string();
                let loc = Loc::Npz(m, h.dtype);
                out.push(TensorRef { name, file: path.into(), shape: h.shape, loc, codes_as: None });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
        "gguf" => Ok(super::gguf::read_gguf(path)?
            .into_iter()
            .map(|t| TensorRef {
                name: t.name,
                file: path.into(),
                shape: t.shape,
                loc: Loc::Gguf { offset: t.offset, len: t.len, ggml_type: t.ggml_type },
                codes_as: None,
            })
            .collect()),
        "safetensors" => Ok(read_header(path)?
            .entries
            .into_iter()
            .map(|e| TensorRef {
                name: e.name,
                file: path.into(),
                shape: e.shape,
                loc: Loc::Safetensors { offset: e.offset, len: e.len, dtype: e.dtype },
                codes_as: None,
            })
            .collect()),
        _ => Err(io_err(
            path,
            "unknown file type (expected .npy, .npz, .safetensors, .gguf, a .safetensors.index.json or a directory)",
        )),
    }
}

fn list_sharded(path: &Path) -> Result<Vec<TensorRef>, Error> {
    let index = if path.is_dir() { path.join("model.safetensors.index.json") } else { path.to_path_buf() };
    let weight_map = if index.is_file() { Some(super::safetensors::index_shards(&index)?.1) } else { None };
    let mut out: Vec<TensorRef> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for shard in shards(path)? {
        for t in list_tensors(&shard)? {
            if let Some(first) = seen.insert(t.name.clone(), shard.clone()) {
                return Err(io_err(&shard, format!("tensor '{}' is also in {}", t.name, first.display())));
            }
            out.push(t);
        }
    }
    if let Some(map) = weight_map {
        let mut names: Vec<(&String, &String)> = map.iter().collect();
        names.sort();
        for (name, shard) in names {
            let found = seen.get(name).and_then(|p| p.file_name()).is_some_and(|f| f.to_string_lossy() == *shard);
            if !found {
                return Err(io_err(&index, format!("puts tensor '{name}' in {shard}, which does not hold it")));
            }
        }
    }
    Ok(out)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// The element format a stored float dtype decodes through (exactly), if any.
fn code_format(d: Dtype) -> Option<ElemFormat> {
    Some(match d {
        Dtype::F8_E4M3 => ElemFormat::E4M3FN,
        Dtype::F8_E5M2 => ElemFormat::E5M2,
        Dtype::F8_E8M0 => ElemFormat::E8M0FNU,
        Dtype::F8_E4M3FNUZ => ElemFormat::E4M3FNUZ,
        Dtype::F8_E5M2FNUZ => ElemFormat::E5M2FNUZ,
        Dtype::F4 => ElemFormat::E2M1FN,
        Dtype::F6_E2M3 => ElemFormat::E2M3FN,
        Dtype::F6_E3M2 => ElemFormat::E3M2FN,
        _ => return None,
    })
}

/// The safetensors dtype of a GGUF tensor stored as plain values (F32, F16, BF16).
fn gguf_dtype(ggml_type: u32) -> Option<Dtype> {
    match ggml_type {
        0 => Some(Dtype::F32),
        1 => Some(Dtype::F16),
        30 => Some(Dtype::BF16),
        _ => None,
    }
}

/// Whether a stored dtype is a float type lowp reads as f32: F64, F32, F16,
/// BF16 and every FP8 / FP6 / FP4 dtype (decoded exactly).
///
/// # Examples
/// ```
/// use lowp::io::{checkpoint::is_float_dtype, safetensors::Dtype};
/// assert!(is_float_dtype(Dtype::F8_E4M3) && !is_float_dtype(Dtype::U8));
/// ```
pub fn is_float_dtype(d: Dtype) -> bool {
    matches!(d, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) || code_format(d).is_some()
}

/// Element codes, one per byte, of a stored FP8 / FP6 / FP4 tensor's bytes.
///
/// # Errors
/// [`Error::Io`] when the bytes do not hold `n` elements.
pub fn codes_of(dtype: Dtype, bytes: &[u8], n: usize) -> Result<Vec<u8>, Error> {
    match dtype {
        Dtype::F4 => crate::pack::unpack_fp4(bytes, n),
        Dtype::F6_E2M3 | Dtype::F6_E3M2 => crate::pack::unpack_fp6(bytes, n),
        _ if bytes.len() == n => Ok(bytes.to_vec()),
        _ => Err(Error::Io(format!("{} bytes do not hold {n} {dtype} codes", bytes.len()))),
    }
}

fn not_float(d: Dtype) -> Error {
    Error::Io(format!(
        "dtype {d} is not a float type (lowp reads F64, F32, F16, BF16, F8_*, F6_*, F4 as values; \
         lowp inspect shows what a tensor belongs to)"
    ))
}

/// Decodes stored bytes of a float dtype to f32 (f64 rounded once, everything
/// else exactly).
fn decode_bytes(dtype: Dtype, bytes: &[u8], n: usize) -> Result<Vec<f32>, Error> {
    Ok(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        Dtype::F64 => {
            bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
        }
        Dtype::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        d => {
            let fmt = code_format(d).ok_or_else(|| not_float(d))?;
            let codes = codes_of(d, bytes, n)?;
            let mut out = vec![0f32; n];
            crate::convert::decode_slice(fmt, &codes, &mut out)?;
            out
        }
    })
}

impl TensorRef {
    /// The dtype a safetensors header declares; `None` for `.npy`/`.npz`
    /// members, whose dtype is read with the data.
    pub fn declared_dtype(&self) -> Option<Dtype> {
        match &self.loc {
            Loc::Safetensors { dtype, .. } => Some(*dtype),
            Loc::Gguf { ggml_type, .. } => gguf_dtype(*ggml_type),
            _ => None,
        }
    }

    /// The bytes the tensor occupies as stored (`None`: a `.npz` member's, or a
    /// ggml type lowp does not size).
    ///
    /// # Examples
    /// ```
    /// use lowp::io::{checkpoint::list_tensors, npy::{NpyArray, NpyData}};
    /// let p = std::env::temp_dir().join("lowp_doc_stored_bytes.npy");
    /// NpyArray { shape: vec![3], data: NpyData::F32(vec![1.0; 3]) }.write(&p).unwrap();
    /// assert_eq!(list_tensors(&p).unwrap()[0].stored_bytes(), Some(12));
    /// ```
    pub fn stored_bytes(&self) -> Option<u64> {
        let n = self.shape.iter().map(|&d| d as u64).product::<u64>();
        match &self.loc {
            Loc::Safetensors { len, .. } => Some(*len),
            Loc::Gguf { len, .. } => *len,
            Loc::Npy(d) => Some(n * d.size() as u64),
            Loc::Npz(..) => None,
        }
    }

    /// The ggml type id of a GGUF tensor.
    pub fn ggml_type(&self) -> Option<u32> {
        match &self.loc {
            Loc::Gguf { ggml_type, .. } => Some(*ggml_type),
            _ => None,
        }
    }

    /// The stored dtype as people name it: the safetensors dtype (`BF16`,
    /// `F8_E4M3`), or the `.npy` one (`f32`, `bf16`, `V1`, `e4m3fn`).
    ///
    /// # Examples
    /// ```
    /// use lowp::io::{checkpoint::list_tensors, npy::{NpyArray, NpyData}};
    /// let p = std::env::temp_dir().join("lowp_doc_dtype_label.npy");
    /// NpyArray { shape: vec![1], data: NpyData::Codes(None, vec![0x38]) }.write(&p).unwrap();
    /// assert_eq!(list_tensors(&p).unwrap()[0].dtype_label(), "V1");
    /// ```
    pub fn dtype_label(&self) -> String {
        match &self.loc {
            Loc::Safetensors { dtype, .. } => dtype.to_string(),
            Loc::Npy(d) | Loc::Npz(_, d) => d.name().to_string(),
            Loc::Gguf { ggml_type, .. } => super::gguf::type_name(*ggml_type),
        }
    }

    /// This tensor with one-byte arrays read as codes of `fmt` and decoded
    /// ([`TensorRef::load`]): `.npy`/`.npz` u8 arrays and ml_dtypes' opaque
    /// `V1`, and safetensors U8 tensors. `None` reads them as before (an error).
    ///
    /// # Examples
    /// ```
    /// use lowp::format::ElemFormat;
    /// use lowp::io::{checkpoint::list_tensors, npy::{NpyArray, NpyData}};
    /// let p = std::env::temp_dir().join("lowp_doc_codes_as.npy");
    /// NpyArray { shape: vec![2], data: NpyData::Codes(None, vec![0x38, 0x40]) }.write(&p).unwrap();
    /// let t = list_tensors(&p).unwrap().remove(0);
    /// assert!(t.load().is_err());
    /// assert_eq!(t.with_codes_as(Some(ElemFormat::E4M3FN)).load().unwrap().1, vec![1.0, 2.0]);
    /// ```
    pub fn with_codes_as(mut self, fmt: Option<ElemFormat>) -> Self {
        self.codes_as = fmt;
        self
    }

    /// Whether lowp reads this tensor as f32 values ([`is_float_dtype`], or
    /// one-byte codes of a named format).
    pub fn is_readable_float(&self) -> bool {
        match &self.loc {
            Loc::Safetensors { dtype, .. } => {
                is_float_dtype(*dtype) || (self.codes_as.is_some() && *dtype == Dtype::U8)
            }
            Loc::Npy(d) | Loc::Npz(_, d) => match d {
                NpyDType::U8 | NpyDType::Codes(None) => self.codes_as.is_some(),
                _ => true,
            },
            Loc::Gguf { ggml_type, .. } => {
                gguf_dtype(*ggml_type).is_some() || *ggml_type == super::gguf::GGML_TYPE_MXFP4
            }
        }
    }

    /// The stored bytes of a safetensors tensor, as they are.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file and tensor: a read error, or a tensor that
    /// is not in a `.safetensors` file.
    pub fn raw(&self) -> Result<RawTensor, Error> {
        let mut bytes = Vec::new();
        let dtype = self.read_into(&mut bytes)?;
        Ok(RawTensor { dtype, shape: self.shape.clone(), bytes })
    }

    /// The stored bytes of a safetensors tensor into `buf` (its length set to
    /// the tensor's; its capacity reused), and the stored dtype.
    ///
    /// # Errors
    /// As [`TensorRef::raw`].
    ///
    /// # Examples
    /// ```
    /// use lowp::io::{checkpoint::list_tensors, out::Output, safetensors::{Planned, Dtype, write}};
    /// let p = std::env::temp_dir().join("lowp_doc_read_into.safetensors");
    /// let t = [Planned { name: "w".into(), dtype: Dtype::F8_E4M3, shape: vec![3] }];
    /// write(&Output::Path(p.clone()), &t, Default::default(), |_, put| put(&[0x38, 0x40, 0xC0])).unwrap();
    /// let mut buf = Vec::with_capacity(64);
    /// let dtype = list_tensors(&p).unwrap()[0].read_into(&mut buf).unwrap();
    /// assert_eq!((dtype, buf.as_slice()), (Dtype::F8_E4M3, &[0x38, 0x40, 0xC0][..]));
    /// ```
    pub fn read_into(&self, buf: &mut Vec<u8>) -> Result<Dtype, Error> {
        let (mut f, len, dtype) = self.open_at()?;
        // every byte is overwritten by the read: only a longer buffer's tail is zeroed
        buf.resize(len as usize, 0);
        f.read_exact(buf).map_err(|e| self.io_err(format!("{e} (truncated file?)")))?;
        Ok(dtype)
    }

    /// The stored bytes, as [`TensorRef::read_into`] reads them, passed to `put`
    /// in order in pieces of at most 1 MiB read into one reused buffer (`buf`),
    /// so a tensor of any size is copied in bounded memory.
    ///
    /// # Errors
    /// As [`TensorRef::raw`], or the first error of `put`.
    ///
    /// # Examples
    /// ```
    /// use lowp::io::{checkpoint::list_tensors, out::Output, safetensors::{Planned, Dtype, write}};
    /// let p = std::env::temp_dir().join("lowp_doc_copy_to.safetensors");
    /// let t = [Planned { name: "w".into(), dtype: Dtype::U8, shape: vec![3] }];
    /// write(&Output::Path(p.clone()), &t, Default::default(), |_, put| put(&[1, 2, 3])).unwrap();
    /// let (mut got, mut buf) = (Vec::new(), Vec::new());
    /// list_tensors(&p).unwrap()[0].copy_to(&mut buf, &mut |b| Ok(got.extend_from_slice(b))).unwrap();
    /// assert_eq!(got, [1, 2, 3]);
    /// ```
    pub fn copy_to(&self, buf: &mut Vec<u8>, put: &mut dyn FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error> {
        let (mut f, mut left, _) = self.open_at()?;
        while left > 0 {
            let k = left.min(1 << 20);
            buf.resize(k as usize, 0);
            f.read_exact(buf).map_err(|e| self.io_err(format!("{e} (truncated file?)")))?;
            put(buf)?;
            left -= k;
        }
        Ok(())
    }

    /// The file opened at the stored bytes, their length and their dtype.
    fn open_at(&self) -> Result<(File, u64, Dtype), Error> {
        let (offset, len, dtype) = self.byte_range()?;
        let mut f = File::open(&self.file).map_err(|e| self.io_err(e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| self.io_err(e))?;
        Ok((f, len, dtype))
    }

    /// An I/O error naming the file and tensor.
    pub(crate) fn io_err(&self, e: impl std::fmt::Display) -> Error {
        Error::Io(format!("{}: tensor '{}': {e}", self.file.display(), self.name))
    }

    /// Where the stored bytes are in the file (offset, length) and their dtype.
    fn byte_range(&self) -> Result<(u64, u64, Dtype), Error> {
        let what = || format!("{}: tensor '{}'", self.file.display(), self.name);
        Ok(match &self.loc {
            Loc::Safetensors { offset, len, dtype } => (*offset, *len, *dtype),
            Loc::Gguf { offset, len: Some(len), ggml_type } => {
                (*offset, *len, gguf_dtype(*ggml_type).unwrap_or(Dtype::U8))
            }
            Loc::Gguf { ggml_type, .. } => {
                return Err(Error::Io(format!(
                    "{}: ggml type {} is not read by lowp (F32, F16, BF16, MXFP4)",
                    what(),
                    super::gguf::type_name(*ggml_type)
                )));
            }
            _ => {
                return Err(Error::Io(format!(
                    "{}: raw bytes are read from .safetensors and .gguf files only",
                    what()
                )));
            }
        })
    }

    /// Reads the tensor as f32: F16, BF16 and every FP8 / FP6 / FP4 dtype
    /// exactly, F64 rounded once.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file and tensor for a read error, a truncated or
    /// corrupt tensor, a dtype that is not a float ([`is_float_dtype`]).
    pub fn load(&self) -> Result<(Vec<usize>, Vec<f32>), Error> {
        let what = format!("{}: tensor '{}'", self.file.display(), self.name);
        let err = |e: &dyn std::fmt::Display| Error::Io(format!("{what}: {e}"));
        match &self.loc {
            Loc::Npy(_) => {
                let a = NpyArray::read(&self.file)?;
                let v = a.to_f32_as(&what, self.codes_as)?;
                Ok((a.shape, v))
            }
            Loc::Npz(member, _) => {
                let f = File::open(&self.file).map_err(|e| err(&e))?;
                let mut z = zip::ZipArchive::new(f).map_err(|e| err(&e))?;
                let mut m = z.by_name(member).map_err(|e| err(&e))?;
                let mut bytes = Vec::new();
                m.read_to_end(&mut bytes).map_err(|e| err(&e))?;
                let a = NpyArray::parse(&bytes, &what)?;
                let v = a.to_f32_as(&what, self.codes_as)?;
                Ok((a.shape, v))
            }
            Loc::Gguf { ggml_type: super::gguf::GGML_TYPE_MXFP4, .. } => {
                let n = super::npy::element_count(&self.shape, &what)?;
                let mut v = vec![0f32; n];
                super::gguf::mxfp4_values(&self.raw()?.bytes, &mut v).map_err(|e| err(&e))?;
                Ok((self.shape.clone(), v))
            }
            Loc::Gguf { .. } => {
                let n = super::npy::element_count(&self.shape, &what)?;
                let raw = self.raw()?;
                Ok((self.shape.clone(), decode_bytes(raw.dtype, &raw.bytes, n).map_err(|e| err(&e))?))
            }
            Loc::Safetensors { dtype, .. } => {
                let n = super::npy::element_count(&self.shape, &what)?;
                if let (Dtype::U8, Some(f)) = (dtype, self.codes_as) {
                    let raw = self.raw()?;
                    let mut v = vec![0f32; n];
                    crate::convert::decode_slice(f, &raw.bytes, &mut v).map_err(|e| err(&e))?;
                    return Ok((self.shape.clone(), v));
                }
                if !is_float_dtype(*dtype) {
                    return Err(err(&not_float(*dtype)));
                }
                let raw = self.raw()?;
                let v = decode_bytes(*dtype, &raw.bytes, n).map_err(|e| err(&e))?;
                Ok((self.shape.clone(), v))
            }
        }
    }
}

/// Whether `name` matches a glob with `*` (any run) and `?` (one character).
///
/// # Examples
/// ```
/// use lowp::io::checkpoint::glob_match;
/// assert!(glob_match("encoder.*.weight", "encoder.layer.0.attention.weight"));
/// assert!(!glob_match("*.bias", "encoder.weight"));
/// assert!(glob_match("l?yer*", "layer.1"));
/// ```
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
