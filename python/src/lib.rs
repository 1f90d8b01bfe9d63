//! `lowp._lowp`: the Rust side of the Python package.
//!
//! Each function takes contiguous numpy arrays (the Python layer in
//! `lowp/__init__.py` normalizes dtypes, torch tensors and keyword arguments),
//! borrows their data without copying, runs the library with the GIL released,
//! and moves the result into a new numpy array without copying. Errors of the
//! library are `ValueError` with its message; a panic (a bug) is caught and
//! raised as `RuntimeError`, never unwinding into Python.

use lowp::block::{QuantizedTensor, Scales, Scheme};
use lowp::compare::{Row, Source};
use lowp::convert::{CastOptions, Rounding, SourceFloat};
use lowp::format::ElemFormat;
use lowp::matmul::{Accum, Layout, Operand, OperandType, OutDtype};
use numpy::{Element, IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A library error as the `ValueError` Python sees.
fn value_err(e: lowp::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs `f` without the GIL; its error is a `ValueError`, a panic a `RuntimeError`.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, lowp::Error> + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            PyRuntimeError::new_err(format!("lowp internal error (please report): {msg}"))
        })?
        .map_err(value_err)
}

/// A new numpy array of `shape` owning `v` (no copy).
fn array<'py, T: Element>(py: Python<'py>, v: Vec<T>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    v.into_pyarray(py).reshape(shape)
}

/// The data of a C-contiguous array (the Python layer makes it so).
fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err("internal: array is not C-contiguous"))
}

/// `(key, value)` pairs as the library takes them.
fn pairs(keys: &[(String, String)]) -> Vec<(&str, &str)> {
    keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Encodes `x` (elements of type `T`) under `o`; stochastic rounding takes the
/// caller's random words or the counter-based bits of `seed`.
fn encode<T: SourceFloat + Sync>(
    fmt: ElemFormat,
    x: &[T],
    o: &CastOptions,
    seed: Option<u64>,
    rbits: Option<&[u32]>,
) -> Result<Vec<u8>, lowp::Error> {
    let mut codes = vec![0u8; x.len()];
    match (o.rounding, rbits) {
        (Rounding::Stochastic { .. }, Some(r)) => {
            if seed.is_some() {
                return Err(lowp::Error::InvalidOption("give seed or rbits, not both".into()));
            }
            lowp::convert::encode_slice_stochastic(fmt, x, &mut codes, o, r)?
        }
        (Rounding::Stochastic { .. }, None) => {
            lowp::convert::encode_slice_with_seed(fmt, x, &mut codes, o, seed.unwrap_or(0))?
        }
        _ if seed.is_some() || rbits.is_some() => {
            return Err(lowp::Error::InvalidOption("seed and rbits apply to rounding='sr' only".into()));
        }
        _ => lowp::convert::encode_slice(fmt, x, &mut codes, o)?,
    }
    Ok(codes)
}

/// `cast(x, src, fmt, keys, seed, rbits)`: codes of `x` (`src`: f32, f64, f16,
/// or bf16 given as its u16 bits) under the cast spec `fmt` plus `keys`.
#[pyfunction]
#[pyo3(signature = (x, src, fmt, keys, seed=None, rbits=None))]
fn cast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    src: &str,
    fmt: &str,
    keys: Vec<(String, String)>,
    seed: Option<u64>,
    rbits: Option<PyReadonlyArrayDyn<'py, u32>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let spec = lowp::spec_with(fmt, &pairs(&keys)).map_err(value_err)?;
    let (f, o) = CastOptions::parse_spec(&spec).map_err(value_err)?;
    let rb = rbits.as_ref().map(slice).transpose()?;
    fn run<'py, T: SourceFloat + Element + Sync>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        f: ElemFormat,
        o: &CastOptions,
        seed: Option<u64>,
        rb: Option<&[u32]>,
    ) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let a: PyReadonlyArrayDyn<'py, T> = x.extract()?;
        let shape = a.shape().to_vec();
        let data = slice(&a)?;
        let codes = detached(py, || encode(f, data, o, seed, rb))?;
        array(py, codes, &shape)
    }
    match src {
        "f32" => run::<f32>(py, x, f, &o, seed, rb),
        "f64" => run::<f64>(py, x, f, &o, seed, rb),
        "f16" => run::<half::f16>(py, x, f, &o, seed, rb),
        "bf16" => {
            let a: PyReadonlyArrayDyn<'py, u16> = x.extract()?;
            let shape = a.shape().to_vec();
            let data: &[half::bf16] = bytemuck::cast_slice(slice(&a)?);
            let codes = detached(py, || encode(f, data, &o, seed, rb))?;
            array(py, codes, &shape)
        }
        s => Err(PyTypeError::new_err(format!("internal: unknown source type {s}"))),
    }
}

/// `decode(codes, fmt)`: the f32 value of every code.
#[pyfunction]
fn decode<'py>(
    py: Python<'py>,
    codes: PyReadonlyArrayDyn<'py, u8>,
    fmt: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let f: ElemFormat = fmt.parse().map_err(value_err)?;
    let shape = codes.shape().to_vec();
    let c = slice(&codes)?;
    let out = detached(py, || {
        let mut out = vec![0f32; c.len()];
        lowp::convert::decode_slice(f, c, &mut out)?;
        Ok(out)
    })?;
    array(py, out, &shape)
}

/// A block-quantized tensor (see `lowp.QuantizedTensor`).
#[pyclass(name = "QuantizedTensor", module = "lowp")]
struct PyQuantized {
    q: QuantizedTensor,
}

#[pymethods]
impl PyQuantized {
    /// Element codes (u8), in the tensor's shape.
    #[getter]
    fn codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        array(py, self.q.codes().to_vec(), self.q.shape())
    }
    /// Block scales over the block grid: u8 E8M0 / UE4M3 bytes, or f32.
    #[getter]
    fn scales<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shape = self.q.scale_shape();
        Ok(match self.q.scales() {
            Scales::E8m0(v) | Scales::Ue4m3(v) => array(py, v.clone(), shape)?.into_any(),
            Scales::F32(v) => array(py, v.clone(), shape)?.into_any(),
        })
    }
    /// Shape of the block grid.
    #[getter]
    fn scale_shape(&self) -> Vec<usize> {
        self.q.scale_shape().to_vec()
    }
    /// The scale format: `e8m0`, `ue4m3` or `f32`.
    #[getter]
    fn scale_format(&self) -> &'static str {
        match self.q.scales() {
            Scales::E8m0(_) => "e8m0",
            Scales::Ue4m3(_) => "ue4m3",
            Scales::F32(_) => "f32",
        }
    }
    /// The per-tensor scale (NVFP4 with a global scale), else None.
    #[getter]
    fn global_scale(&self) -> Option<f32> {
        self.q.global_scale()
    }
    /// Every global scale (1-D f32): none, the per-tensor one, or one per row
    /// of the blocked view (row-scaled NVFP4).
    #[getter]
    fn global_scales<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let v = self.q.global_scales().to_vec();
        let n = v.len();
        array(py, v, &[n])
    }
    /// The tensor's shape.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.q.shape().to_vec()
    }
    /// The full scheme spec (every key), as `lowp quantize` writes `scheme.txt`.
    #[getter]
    fn scheme(&self) -> String {
        self.q.scheme().to_string()
    }
    /// Storage bits per element (codes, scales, global scale).
    #[getter]
    fn bits_per_element(&self) -> f64 {
        self.q.bits_per_element()
    }
    /// The dequantized values (f32, the tensor's shape).
    fn dequantize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let q = &self.q;
        let v = detached(py, || Ok(q.dequantize()))?;
        array(py, v, q.shape())
    }
    /// Per-element bound on |dequantize() − x| for the input `x` it was made from.
    fn error_bounds<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        if x.shape() != self.q.shape() {
            return Err(PyValueError::new_err(format!("x has shape {:?}, the tensor {:?}", x.shape(), self.q.shape())));
        }
        let (q, xs) = (&self.q, slice(&x)?);
        let v = detached(py, || q.error_bounds(xs))?;
        array(py, v, q.shape())
    }
    /// Codes as kernels read them: FP4 two per byte (even index low nibble), FP6
    /// four per three bytes, 8-bit codes as they are (1-D u8).
    fn packed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let v = self.q.packed();
        let n = v.len();
        array(py, v, &[n])
    }
    /// The scales in the layout kernels read, as bytes (1-D u8): 128×4 swizzle,
    /// cuBLAS 1×128 or 128×128 (f32 little-endian).
    fn swizzled_scales<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let v = self.q.scales_kernel_layout().map_err(value_err)?;
        let n = v.len();
        array(py, v, &[n])
    }
    /// `from_parts(scheme, shape, codes, scales, scale_shape, global_scales)`,
    /// checked: `global_scales` none, one per tensor, or one per view row.
    #[staticmethod]
    #[pyo3(signature = (scheme, shape, codes, scales, scale_shape, global_scales=Vec::new()))]
    fn from_parts(
        scheme: &str,
        shape: Vec<usize>,
        codes: PyReadonlyArrayDyn<'_, u8>,
        scales: &Bound<'_, PyAny>,
        scale_shape: Vec<usize>,
        global_scales: Vec<f32>,
    ) -> PyResult<PyQuantized> {
        let s: Scheme = scheme.parse().map_err(value_err)?;
        let scales = if let Ok(b) = scales.extract::<PyReadonlyArrayDyn<'_, u8>>() {
            Scales::from_bytes(&s, slice(&b)?.to_vec())
        } else if let Ok(f) = scales.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            Scales::F32(slice(&f)?.to_vec())
        } else {
            return Err(PyTypeError::new_err("scales must be a uint8 or float32 array"));
        };
        let q =
            QuantizedTensor::from_parts_globals(s, shape, slice(&codes)?.to_vec(), scales, scale_shape, global_scales)
                .map_err(value_err)?;
        Ok(PyQuantized { q })
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.extract::<PyRef<'_, PyQuantized>>().is_ok_and(|o| o.q == self.q)
    }
    fn __repr__(&self) -> String {
        let g = self.q.global_scale().map(|g| format!(", global_scale={g:e}")).unwrap_or_default();
        format!(
            "QuantizedTensor(scheme='{}', shape={:?}, scales {} {:?}{g})",
            self.q.scheme(),
            self.q.shape(),
            self.scale_format(),
            self.q.scale_shape()
        )
    }
    fn __len__(&self) -> usize {
        self.q.shape().first().copied().unwrap_or(1)
    }
}

/// The scheme `spec` with `keys` added (a contradicting key is an error).
fn scheme_of(spec: &str, keys: &[(String, String)]) -> PyResult<Scheme> {
    lowp::spec_with(spec, &pairs(keys)).and_then(|s| s.parse()).map_err(value_err)
}

/// `quantize(x, spec, keys)`: `x` (f32) block-quantized with the scheme `spec` plus `keys`.
#[pyfunction]
fn quantize(
    py: Python<'_>,
    x: PyReadonlyArrayDyn<'_, f32>,
    spec: &str,
    keys: Vec<(String, String)>,
) -> PyResult<PyQuantized> {
    let s = scheme_of(spec, &keys)?;
    let shape = x.shape().to_vec();
    let data = slice(&x)?;
    let q = detached(py, || lowp::block::quantize(data, &shape, &s))?;
    Ok(PyQuantized { q })
}

/// `quantize_into(x, spec, keys, out)`: as `quantize`, into `out`, reusing its
/// code buffer (no fresh allocation and page faults when the size is the same).
/// On error `out` keeps its scheme, shape and scales with every code 0.
#[pyfunction]
fn quantize_into(
    py: Python<'_>,
    x: PyReadonlyArrayDyn<'_, f32>,
    spec: &str,
    keys: Vec<(String, String)>,
    mut out: PyRefMut<'_, PyQuantized>,
) -> PyResult<()> {
    let s = scheme_of(spec, &keys)?;
    let shape = x.shape().to_vec();
    let data = slice(&x)?;
    let q = &mut out.q;
    detached(py, || lowp::block::quantize_into(data, &shape, &s, q))
}

/// One GEMM operand: a QuantizedTensor (its scheme must be the one asked for,
/// if one is), or a 2-D f32 array made into the operand `spec` names.
fn operand(
    py: Python<'_>,
    which: &str,
    x: &Bound<'_, PyAny>,
    spec: Option<&str>,
    keys: &[(&str, &str)],
    layout: Layout,
) -> PyResult<Operand> {
    if let Ok(q) = x.cast::<PyQuantized>() {
        let q = &q.borrow().q;
        if let Some(spec) = spec {
            let ok = OperandType::parse(spec, keys).map_err(value_err)?.accepts(q.scheme());
            if !ok {
                return Err(PyValueError::new_err(format!(
                    "{which} holds '{}', which is not the scheme asked for, '{spec}'",
                    q.scheme()
                )));
            }
        }
        return detached(py, || Operand::from_quantized(q, layout));
    }
    let a: PyReadonlyArrayDyn<'_, f32> = x.extract()?;
    let &[r, c] = a.shape() else {
        return Err(PyValueError::new_err(format!("{which} must be 2-D, got shape {:?}", a.shape())));
    };
    let Some(spec) = spec else {
        return Err(PyValueError::new_err(format!(
            "{which} is a float array: give scheme= (a block scheme such as 'mxfp8-e4m3', an element format \
             such as 'e4m3fn', or a wide type: bf16, f16, tf32, xf32) or pass a QuantizedTensor"
        )));
    };
    let t = OperandType::parse(spec, keys).map_err(value_err)?;
    let data = slice(&a)?;
    detached(py, || t.operand(data, [r, c], layout))
}

/// `matmul(a, b, scheme, b_scheme, keys, accum, c, out_dtype, b_layout)`: D = A·B (+ C).
#[pyfunction]
#[pyo3(signature = (a, b, scheme, b_scheme, keys, accum, c, out_dtype, b_layout))]
#[allow(clippy::too_many_arguments)]
fn matmul<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    scheme: Option<&str>,
    b_scheme: Option<&str>,
    keys: Vec<(String, String)>,
    accum: &str,
    c: Option<PyReadonlyArrayDyn<'py, f32>>,
    out_dtype: &str,
    b_layout: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let acc: Accum = accum.parse().map_err(value_err)?;
    let out: OutDtype = out_dtype.parse().map_err(value_err)?;
    let layout: Layout = b_layout.parse().map_err(value_err)?;
    let kv = pairs(&keys);
    let oa = operand(py, "a", a, scheme, &kv, Layout::RowsK)?;
    let ob = operand(py, "b", b, b_scheme.or(scheme), &kv, layout)?;
    let shape = [oa.rows(), ob.rows()];
    let c = match &c {
        Some(c) if c.shape() != shape => {
            return Err(PyValueError::new_err(format!("c has shape {:?}, expected {shape:?}", c.shape())));
        }
        Some(c) => Some(slice(c)?),
        None => None,
    };
    Ok(match out {
        OutDtype::F64 => {
            let d = detached(py, || lowp::matmul::matmul(&oa, &ob, c, &acc, out))?;
            array(py, d, &shape)?.into_any()
        }
        _ => {
            let d = detached(py, || lowp::matmul::matmul_f32(&oa, &ob, c, &acc, out))?;
            array(py, d, &shape)?.into_any()
        }
    })
}

/// The rows as dicts with the keys of `lowp compare --json` (non-finite values
/// as floats; `t`: the tensor's description, absent for merged rows).
fn rows_to_dicts<'py>(
    py: Python<'py>,
    rows: &[Row],
    t: Option<&lowp::compare::TensorResult>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    rows.iter()
        .map(|r| {
            let m = &r.metrics;
            let d = PyDict::new(py);
            d.set_item("tensor", &r.tensor)?;
            d.set_item("file", t.and_then(|t| t.file.as_ref()).map(|f| f.display().to_string()))?;
            d.set_item("shape", t.map(|t| t.shape.clone()))?;
            d.set_item("dtype", t.map(|t| t.dtype.clone()))?;
            d.set_item("amax", t.map(|t| t.stats.amax))?;
            d.set_item("rms", t.map(|t| t.stats.rms))?;
            d.set_item("kurtosis", t.map(|t| t.stats.kurtosis))?;
            d.set_item("outliers", t.map(|t| t.stats.outliers))?;
            d.set_item("nonfinite", t.map_or(m.nonfinite, |t| t.stats.nonfinite))?;
            d.set_item("scheme", &r.scheme)?;
            d.set_item("sqnr_db", m.sqnr_db())?;
            d.set_item("mse", m.mse())?;
            d.set_item("max_abs_err", m.max_abs_err)?;
            d.set_item("max_rel_err", m.max_rel_err)?;
            d.set_item("saturated", m.saturated)?;
            d.set_item("flushed", m.flushed)?;
            d.set_item("clipped_blocks", m.clipped_blocks)?;
            d.set_item("blocks", m.blocks)?;
            d.set_item("elements", m.elements)?;
            d.set_item("bits_per_element", m.bits_per_element())?;
            // the sums behind sqnr_db and mse, so that rows computed apart can be merged exactly
            d.set_item("signal", m.signal)?;
            d.set_item("error", m.error)?;
            d.set_item("bits", m.bits)?;
            d.set_item("unsupported", r.error.clone())?;
            Ok(d)
        })
        .collect()
}

/// `compare(arrays, files, schemes, like, tensors, skip_non_float, master,
/// convention, codes_as)`: the rows of every tensor (named arrays, then the
/// tensors of the files, listed as `lowp compare` lists them) under every
/// scheme, with the `(all)` rows when there are several tensors; nothing
/// given: the built-in sample.
#[pyfunction]
#[pyo3(signature = (arrays, files, schemes, like, tensors, skip_non_float, master=None, convention=None, codes_as=None))]
#[allow(clippy::too_many_arguments)]
fn compare<'py>(
    py: Python<'py>,
    arrays: Vec<(String, PyReadonlyArrayDyn<'py, f32>)>,
    files: Vec<std::path::PathBuf>,
    schemes: Option<Vec<String>>,
    like: Option<String>,
    tensors: Option<String>,
    skip_non_float: bool,
    master: Option<std::path::PathBuf>,
    convention: Option<String>,
    codes_as: Option<String>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let specs: Vec<String> =
        schemes.unwrap_or_else(|| lowp::compare::DEFAULT_SCHEMES.iter().map(|s| s.to_string()).collect());
    if specs.is_empty() {
        return Err(PyValueError::new_err("schemes is empty"));
    }
    let like: Vec<(&str, &str)> = like.as_deref().map(|l| ("like", l)).into_iter().collect();
    let parsed: Vec<(String, Scheme)> = specs
        .iter()
        .map(|s| {
            let s = lowp::spec_with(s, &like)?;
            Ok((s.clone(), s.parse()?))
        })
        .collect::<Result<_, lowp::Error>>()
        .map_err(value_err)?;
    let convention = convention.as_deref().map(str::parse).transpose().map_err(value_err)?;
    let codes_as = codes_as.as_deref().map(str::parse).transpose().map_err(value_err)?;
    let mut sources: Vec<lowp::compare::Named> = Vec::new();
    for (name, a) in &arrays {
        let s = Source::Memory { name: name.clone(), shape: a.shape().to_vec(), data: slice(a)?.into() };
        sources.push((s, name.clone()));
    }
    let (listed, errors) =
        lowp::compare::input_sources(&files, convention, master.as_deref(), codes_as).map_err(value_err)?;
    if let Some(e) = errors.into_iter().next() {
        return Err(value_err(e));
    }
    sources.extend(listed);
    if sources.is_empty() {
        // nothing given: the built-in sample, as `lowp compare` without files
        let sample = lowp::compare::builtin_sample();
        sources.extend(
            sample
                .into_iter()
                .map(|(name, shape, x)| (Source::Memory { name: name.clone(), shape, data: x.into() }, name)),
        );
    }
    let globs: Vec<String> =
        tensors.iter().flat_map(|t| t.split(',')).map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect();
    let selected = lowp::compare::select(sources, &globs, skip_non_float, &mut |_, _| {}).map_err(value_err)?;
    let (sources, shown): (Vec<Source>, Vec<String>) = selected.into_iter().unzip();
    let results = detached(py, || {
        let mut out = Vec::new();
        for (r, name) in lowp::compare::compare_sources(&sources, &parsed, &|_, _| {}).into_iter().zip(&shown) {
            let mut t = r?;
            t.rows.iter_mut().for_each(|row| row.tensor = name.clone());
            out.push(t);
        }
        Ok(out)
    })?;
    let mut dicts = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    for t in &results {
        dicts.extend(rows_to_dicts(py, &t.rows, Some(t))?);
        rows.extend(t.rows.iter().cloned());
    }
    let mut all_specs: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| r.scheme.starts_with("stored:")) {
        if !all_specs.contains(&r.scheme) {
            all_specs.push(r.scheme.clone());
        }
    }
    all_specs.extend(parsed.iter().map(|(s, _)| s.clone()));
    dicts.extend(rows_to_dicts(py, &lowp::compare::totals(&rows, &all_specs), None)?);
    Ok(dicts)
}

/// A tensor's name, shape and declared dtype.
type TensorInfo = (String, Vec<usize>, Option<String>);

/// `merge_rows(rows, name)`: one row per scheme aggregating `rows` with the
/// library's [`lowp::compare::totals`] (as `lowp compare`'s `(all)` rows),
/// from the sums each row carries; rows named `name` are left out.
#[pyfunction]
fn merge_rows<'py>(py: Python<'py>, rows: Vec<Bound<'py, PyDict>>, name: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
    fn get<'py, T: for<'a> FromPyObject<'a, 'py, Error = PyErr>>(d: &Bound<'py, PyDict>, k: &str) -> PyResult<T> {
        d.get_item(k)?.ok_or_else(|| PyValueError::new_err(format!("a row has no '{k}'")))?.extract()
    }
    let mut parsed = Vec::new();
    let mut specs: Vec<String> = Vec::new();
    for d in &rows {
        let tensor: String = get(d, "tensor")?;
        if tensor == name {
            continue;
        }
        let scheme: String = get(d, "scheme")?;
        if !specs.contains(&scheme) {
            specs.push(scheme.clone());
        }
        let metrics = lowp::compare::Metrics {
            elements: get(d, "elements")?,
            nonfinite: get(d, "nonfinite")?,
            signal: get(d, "signal")?,
            error: get(d, "error")?,
            max_abs_err: get(d, "max_abs_err")?,
            max_rel_err: get(d, "max_rel_err")?,
            saturated: get(d, "saturated")?,
            flushed: get(d, "flushed")?,
            clipped_blocks: get(d, "clipped_blocks")?,
            blocks: get(d, "blocks")?,
            bits: get(d, "bits")?,
            hist: Vec::new(),
        };
        let error: Option<String> = match d.get_item("unsupported")? {
            Some(v) if !v.is_none() => Some(v.extract()?),
            _ => None,
        };
        parsed.push(Row { tensor, scheme, metrics, error });
    }
    // totals() aggregates only several tensors; a single shard's rows aggregate to themselves
    let mut all = lowp::compare::totals(&parsed, &specs);
    if all.is_empty() {
        all = parsed.into_iter().map(|r| Row { tensor: name.to_string(), ..r }).collect();
    }
    all.iter_mut().for_each(|r| r.tensor = name.to_string());
    rows_to_dicts(py, &all, None)
}

/// `tensors(path)`: `(name, shape, dtype)` of every tensor of a file, none loaded.
#[pyfunction]
fn tensors(path: std::path::PathBuf) -> PyResult<Vec<TensorInfo>> {
    let ts = lowp::io::checkpoint::list_tensors(&path).map_err(value_err)?;
    Ok(ts.into_iter().map(|t| (t.name.clone(), t.shape.clone(), Some(t.dtype_label()))).collect())
}

/// `formats()`: every element format's properties, as `lowp formats` prints them.
#[pyfunction]
fn formats(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    ElemFormat::ALL
        .iter()
        .map(|f| {
            let s = f.spec();
            let d = PyDict::new(py);
            d.set_item("name", f.name())?;
            d.set_item("ml_dtypes", s.long_name)?;
            d.set_item("bits", f.bits())?;
            d.set_item("exp_bits", s.exp_bits)?;
            d.set_item("man_bits", s.man_bits)?;
            d.set_item("signed", s.signed)?;
            d.set_item("bias", s.bias)?;
            d.set_item("max", s.max_finite())?;
            d.set_item("min_normal", s.min_normal())?;
            d.set_item("min_subnormal", s.min_positive())?;
            d.set_item("has_inf", s.has_inf())?;
            d.set_item("has_nan", s.has_nan())?;
            d.set_item("has_neg_zero", s.has_neg_zero())?;
            Ok(d)
        })
        .collect()
}

/// `schemes()`: every block-scheme name.
#[pyfunction]
fn schemes() -> Vec<&'static str> {
    Scheme::NAMES.to_vec()
}

/// `accum_models()`: every accumulation model name (software orders, GPU targets).
#[pyfunction]
fn accum_models() -> Vec<&'static str> {
    Accum::names()
}

/// `likes()`: every reference preset name.
#[pyfunction]
fn likes() -> Vec<&'static str> {
    lowp::convert::Like::ALL.iter().map(|l| l.name()).collect()
}

#[pymodule]
fn _lowp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyQuantized>()?;
    for f in [
        wrap_pyfunction!(cast, m)?,
        wrap_pyfunction!(decode, m)?,
        wrap_pyfunction!(quantize, m)?,
        wrap_pyfunction!(quantize_into, m)?,
        wrap_pyfunction!(matmul, m)?,
        wrap_pyfunction!(compare, m)?,
        wrap_pyfunction!(formats, m)?,
        wrap_pyfunction!(schemes, m)?,
        wrap_pyfunction!(accum_models, m)?,
        wrap_pyfunction!(likes, m)?,
        wrap_pyfunction!(tensors, m)?,
        wrap_pyfunction!(merge_rows, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("CAST_KEYS", CastOptions::KEYS.to_vec())?;
    Ok(())
}
