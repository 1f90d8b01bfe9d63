//! Tensors in `.npy`, `.npz` and `.safetensors` files, listed without reading
//! their data and loaded one at a time (bounded memory for checkpoints larger
//! than RAM: a tensor is read with one seek and one read when it is needed).

use super::npy::NpyArray;
use crate::Error;
use half::{bf16, f16};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where a tensor's bytes are.
#[derive(Clone, Debug, PartialEq)]
enum Loc {
    Npy,
    Npz(String),
    Safetensors { offset: u64, len: u64, dtype: String },
}

/// A tensor in a file, not yet loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// Its name: the file stem for `.npy`, the member name (without `.npy`) for
    /// `.npz`, the key for `.safetensors`.
    pub name: String,
    /// The file.
    pub file: PathBuf,
    /// Its shape (for `.npz` members, read when loaded; empty until then).
    pub shape: Vec<usize>,
    loc: Loc,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Lists the tensors of a file, by extension (`.npy`, `.npz`, `.safetensors`).
///
/// # Errors
/// [`Error::Io`] naming the file if it cannot be read or its header is corrupt.
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
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "npy" => {
            let mut f = File::open(path).map_err(|e| io_err(path, e))?;
            let mut head = vec![0u8; 4096];
            let n = read_up_to(&mut f, &mut head).map_err(|e| io_err(path, e))?;
            let h = super::npy::parse_header(&head[..n], &path.display().to_string())?;
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("tensor").to_string();
            Ok(vec![TensorRef { name, file: path.into(), shape: h.shape, loc: Loc::Npy }])
        }
        "npz" => {
            let f = File::open(path).map_err(|e| io_err(path, e))?;
            let z = zip::ZipArchive::new(f).map_err(|e| io_err(path, format!("not a valid .npz file: {e}")))?;
            let mut out: Vec<TensorRef> = z
                .file_names()
                .filter(|n| n.ends_with(".npy"))
                .map(|n| TensorRef {
                    name: n.trim_end_matches(".npy").to_string(),
                    file: path.into(),
                    shape: Vec::new(),
                    loc: Loc::Npz(n.to_string()),
                })
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
        "safetensors" => list_safetensors(path),
        _ => Err(io_err(path, "unknown file type (expected .npy, .npz or .safetensors)")),
    }
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

/// The safetensors header: 8-byte little-endian length, then JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`
/// with offsets relative to the end of the header. Parsed here (rather than with
/// the `safetensors` crate, which wants the whole file in memory or mapped) so a
/// tensor can be read with one seek.
fn list_safetensors(path: &Path) -> Result<Vec<TensorRef>, Error> {
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
    let json: serde_json::Value = serde_json::from_slice(&head).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| bad("header is not a JSON object".into()))?;
    let data_start = 8 + n;
    let mut out = Vec::new();
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let field = |k: &str| t.get(k).ok_or_else(|| bad(format!("tensor '{name}' has no {k}")));
        let dtype = field("dtype")?.as_str().ok_or_else(|| bad(format!("tensor '{name}': dtype is not a string")))?;
        let shape: Vec<usize> = field("shape")?
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
            .ok_or_else(|| bad(format!("tensor '{name}': bad shape")))?;
        let offs: Vec<u64> = field("data_offsets")?
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect())
            .filter(|v: &Vec<u64>| v.len() == 2 && v[0] <= v[1])
            .ok_or_else(|| bad(format!("tensor '{name}': bad data_offsets")))?;
        if data_start + offs[1] > file_len {
            return Err(bad(format!(
                "tensor '{name}' ends at byte {} past the end of the file ({file_len} bytes; truncated?)",
                data_start + offs[1]
            )));
        }
        out.push(TensorRef {
            name: name.clone(),
            file: path.into(),
            shape,
            loc: Loc::Safetensors { offset: data_start + offs[0], len: offs[1] - offs[0], dtype: dtype.to_string() },
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

impl TensorRef {
    /// The dtype a safetensors header declares (`"F32"`, `"I64"`, …); `None` for
    /// `.npy`/`.npz` members, whose dtype is read with the data.
    pub fn declared_dtype(&self) -> Option<&str> {
        match &self.loc {
            Loc::Safetensors { dtype, .. } => Some(dtype),
            _ => None,
        }
    }

    /// Whether lowp reads this tensor's dtype (f32, f16, bf16, f64); `true` when the
    /// dtype is only known from the data.
    pub fn is_readable_float(&self) -> bool {
        self.declared_dtype().is_none_or(|d| matches!(d, "F32" | "F16" | "BF16" | "F64"))
    }

    /// Reads the tensor as f32 (f16/bf16 exactly, f64 rounded once).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file and tensor for a read error, a truncated or
    /// corrupt tensor, an unsupported dtype (only F32, F16, BF16, F64 are read).
    pub fn load(&self) -> Result<(Vec<usize>, Vec<f32>), Error> {
        let what = format!("{}: tensor '{}'", self.file.display(), self.name);
        let err = |e: &dyn std::fmt::Display| Error::Io(format!("{what}: {e}"));
        match &self.loc {
            Loc::Npy => {
                let a = NpyArray::read(&self.file)?;
                let v = a.to_f32(&what)?;
                Ok((a.shape, v))
            }
            Loc::Npz(member) => {
                let f = File::open(&self.file).map_err(|e| err(&e))?;
                let mut z = zip::ZipArchive::new(f).map_err(|e| err(&e))?;
                let mut m = z.by_name(member).map_err(|e| err(&e))?;
                let mut bytes = Vec::new();
                m.read_to_end(&mut bytes).map_err(|e| err(&e))?;
                let a = NpyArray::parse(&bytes, &what)?;
                let v = a.to_f32(&what)?;
                Ok((a.shape, v))
            }
            Loc::Safetensors { offset, len, dtype } => {
                let size = match dtype.as_str() {
                    "F32" => 4,
                    "F16" | "BF16" => 2,
                    "F64" => 8,
                    d => return Err(err(&format!("unsupported dtype {d} (lowp reads F32, F16, BF16, F64)"))),
                };
                let n = super::npy::element_count(&self.shape, &what)?;
                if n.checked_mul(size) != Some(*len as usize) {
                    return Err(err(&format!("{len} bytes do not hold {n} {dtype} elements (corrupt header)")));
                }
                let mut f = File::open(&self.file).map_err(|e| err(&e))?;
                f.seek(SeekFrom::Start(*offset)).map_err(|e| err(&e))?;
                let mut bytes = vec![0u8; *len as usize];
                f.read_exact(&mut bytes).map_err(|e| err(&format!("{e} (truncated file?)")))?;
                let v: Vec<f32> = match size {
                    4 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
                    8 => bytes
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                        .collect(),
                    _ if dtype == "F16" => {
                        bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
                    }
                    _ => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
                };
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
