//! GEMM operands: element values, block scales along K, global scale, and the
//! dequantized values, in one `[rows, K]` layout.

use crate::Error;
use crate::block::{QuantizedTensor, Scales, Scheme};
use crate::format::ElemFormat;

/// How a 2-D operand array is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `[rows, K]`: A as `[M, K]`, B as `[N, K]` (`--b-layout nk`, the layout
    /// cuBLAS/CUTLASS "TN" GEMMs and torchao's `Bᵀ` quantization use).
    #[default]
    RowsK,
    /// `[K, rows]`: B as `[K, N]` (`--b-layout kn`, numpy's `A @ B`).
    KRows,
}

impl core::str::FromStr for Layout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Layout, Error> {
        match s {
            "nk" | "mk" | "rows-k" => Ok(Layout::RowsK),
            "kn" | "km" | "k-rows" => Ok(Layout::KRows),
            _ => Err(Error::InvalidOption(format!("unknown layout '{s}' (nk or kn)"))),
        }
    }
}

/// What an operand's elements are, as a matrix instruction sees them: element
/// codes of a format, MXINT8, or the wide types matrix units take directly.
///
/// # Examples
/// ```
/// use lowp::matmul::ElemType;
/// assert_eq!("bf16".parse::<ElemType>().unwrap(), ElemType::Bf16);
/// assert_eq!("e4m3fn".parse::<ElemType>().unwrap().to_string(), "e4m3fn");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    /// Codes of an element format.
    Code(ElemFormat),
    /// MXINT8 elements (k/64).
    Int8,
    /// bfloat16 (an f32 input rounded to nearest even).
    Bf16,
    /// IEEE binary16 (an f32 input rounded to nearest even).
    F16,
    /// TF32: an f32 whose low 13 mantissa bits the instruction ignores (NVIDIA).
    Tf32,
    /// XF32: the same reading of f32 bits on AMD CDNA3.
    Xf32,
}

impl ElemType {
    /// The wide types, by name.
    pub const WIDE: [ElemType; 4] = [ElemType::Bf16, ElemType::F16, ElemType::Tf32, ElemType::Xf32];

    /// The type's name (`bf16`, `e4m3fn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ElemType::Code(f) => f.name(),
            ElemType::Int8 => "int8",
            ElemType::Bf16 => "bf16",
            ElemType::F16 => "f16",
            ElemType::Tf32 => "tf32",
            ElemType::Xf32 => "xf32",
        }
    }

    /// The value an instruction reads for an f32 input: bf16/f16 rounded to nearest
    /// even, tf32/xf32 with the low 13 bits cleared (NaN stays NaN); `None` for
    /// code types.
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::ElemType;
    /// assert_eq!(ElemType::Tf32.read(f32::from_bits(0x3F80_1FFF)), Some(1.0));
    /// assert_eq!(ElemType::Bf16.read(1.00390625), Some(1.0)); // a tie: to even
    /// ```
    pub fn read(self, x: f32) -> Option<f32> {
        Some(match self {
            ElemType::Bf16 => half::bf16::from_f32(x).to_f32(),
            ElemType::F16 => half::f16::from_f32(x).to_f32(),
            ElemType::Tf32 | ElemType::Xf32 if x.is_nan() => x,
            ElemType::Tf32 | ElemType::Xf32 => f32::from_bits(x.to_bits() & !0x1FFF),
            _ => return None,
        })
    }

    /// The smallest normal exponent (subnormal inputs keep it as their exponent).
    pub fn emin(self) -> i32 {
        match self {
            ElemType::Code(f) => f.spec().min_exp(),
            ElemType::Int8 => -6,
            ElemType::F16 => -14,
            ElemType::Bf16 | ElemType::Tf32 | ElemType::Xf32 => -126,
        }
    }
}

impl core::fmt::Display for ElemType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for ElemType {
    type Err = Error;
    fn from_str(s: &str) -> Result<ElemType, Error> {
        match ElemType::WIDE.into_iter().find(|t| t.name().eq_ignore_ascii_case(s.trim())) {
            Some(t) => Ok(t),
            None => s.parse::<ElemFormat>().map(ElemType::Code),
        }
    }
}

/// How an operand's scales are stored, for choosing an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleKind {
    /// E8M0 bytes.
    E8m0,
    /// Unsigned E4M3 bytes.
    Ue4m3,
    /// f32.
    F32,
}

/// One GEMM operand, `[rows, K]` (A: rows = M; B: rows = N), quantized along K.
///
/// It keeps the element codes in `[rows, K]` order with a 256-entry value table,
/// the block scales along K, and the dequantization factor of each block, so both
/// views the models need (see the [module docs](super)) come from the codes: the
/// fast GEMM decodes and scales while packing its panels, and the dequantized
/// and element-value arrays are built only when a model asks for them.
///
/// # Examples
/// ```
/// use lowp::block::Scheme;
/// use lowp::matmul::{Layout, Operand};
/// let s: Scheme = "nvfp4@global-scale=on".parse().unwrap();
/// let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
/// let op = Operand::from_f32(&x, [2, 32], Layout::RowsK, &s).unwrap();
/// assert_eq!((op.rows(), op.k(), op.kblock()), (2, 32, 16));
/// assert!(op.global_scale().is_some());
/// assert_eq!(op.dequantized().len(), 64);
/// ```
#[derive(Clone, Debug)]
pub struct Operand {
    rows: usize,
    k: usize,
    /// Codes, `[rows, K]`.
    codes: Vec<u8>,
    /// Value of each code (unscaled).
    table: Box<[f32; 256]>,
    elem_emin: i32,
    kblock: usize,
    /// `ceil(K / kblock)`, at least 1.
    nkb: usize,
    /// Kernel-view block scales `[rows, nkb]` (global excluded); `None` for plain codes.
    scales: Option<Vec<f32>>,
    /// NVFP4: a block's dequantization factor is `fl32(global · scale)`, not the scale.
    global_multiplies: bool,
    scale_emin: i32,
    global: Option<f32>,
    /// The factor it contributes to the kernel-view epilogue `alpha` (its global
    /// scale unless [`Operand::with_epilogue_global`] replaced it).
    epilogue_global: Option<f32>,
    /// Row-scaled NVFP4: each row's global scale (dequantized view) and its
    /// factor in the kernel-view epilogue (replacing `global` / `epilogue_global`).
    row_globals: Option<std::sync::Arc<[f32]>>,
    epilogue_rows: Option<std::sync::Arc<[f32]>>,
    rht: bool,
    name: String,
    elem: ElemType,
    scale_kind: Option<ScaleKind>,
    deq: std::sync::OnceLock<Vec<f32>>,
    elems: std::sync::OnceLock<Vec<f32>>,
}

impl PartialEq for Operand {
    fn eq(&self, o: &Operand) -> bool {
        let rg = |o: &Operand| (o.global, o.epilogue_global, o.row_globals.clone(), o.epilogue_rows.clone());
        (self.rows, self.k, &self.codes, &self.scales, rg(self), self.dequantized())
            == (o.rows, o.k, &o.codes, &o.scales, rg(o), o.dequantized())
    }
}

fn shape_of(shape: &[usize], layout: Layout) -> Result<(usize, usize), Error> {
    match (shape, layout) {
        (&[r, k], Layout::RowsK) => Ok((r, k)),
        (&[k, r], Layout::KRows) => Ok((r, k)),
        _ => Err(Error::Shape(format!("a GEMM operand must be 2-D, got shape {shape:?}"))),
    }
}

/// `[rows, k]` row-major from the stored layout (moved, not copied, for `RowsK`).
fn to_rows_k<T: Copy + Default>(x: Vec<T>, rows: usize, k: usize, layout: Layout) -> Vec<T> {
    match layout {
        Layout::RowsK => x,
        Layout::KRows => {
            let mut out = vec![T::default(); x.len()];
            crate::block::transpose(&x, &mut out, k, rows);
            out
        }
    }
}

impl Operand {
    /// Plain element codes (unscaled FP8 and friends), `shape` in `layout`.
    ///
    /// # Errors
    /// Wrong length or rank, or a code that does not fit a sub-byte format.
    ///
    /// # Examples
    /// ```
    /// use lowp::format::ElemFormat;
    /// use lowp::matmul::{Layout, Operand};
    /// let op = Operand::from_codes(ElemFormat::E4M3FN, &[0x38, 0x40, 0x44, 0x48], [2, 2], Layout::KRows).unwrap();
    /// assert_eq!(op.dequantized(), &[1.0, 3.0, 2.0, 4.0]);
    /// ```
    pub fn from_codes(fmt: ElemFormat, codes: &[u8], shape: [usize; 2], layout: Layout) -> Result<Operand, Error> {
        let (rows, k) = shape_of(&shape, layout)?;
        if codes.len() != rows * k {
            return Err(Error::LengthMismatch { expected: rows * k, got: codes.len() });
        }
        if let Some(i) = codes.iter().position(|&c| c & !fmt.spec().code_mask() != 0) {
            return Err(Error::CodeOutOfRange { format: fmt, index: i, code: codes[i] });
        }
        let codes = to_rows_k(codes.to_vec(), rows, k, layout);
        Ok(Operand::unscaled(rows, k, codes, Box::new(*crate::convert::decode_table(fmt)), ElemType::Code(fmt)))
    }

    /// An operand without scales: codes and their table (empty for a wide type).
    fn unscaled(rows: usize, k: usize, codes: Vec<u8>, table: Box<[f32; 256]>, elem: ElemType) -> Operand {
        Operand {
            rows,
            k,
            codes,
            table,
            elem_emin: elem.emin(),
            kblock: k.max(1),
            nkb: 1,
            scales: None,
            global_multiplies: false,
            scale_emin: 0,
            global: None,
            epilogue_global: None,
            row_globals: None,
            epilogue_rows: None,
            rht: false,
            name: elem.name().to_string(),
            elem,
            scale_kind: None,
            deq: Default::default(),
            elems: Default::default(),
        }
    }

    /// An f32 array read as a wide type (`bf16`, `f16`, `tf32`, `xf32`; see
    /// [`ElemType::read`]), `shape` in `layout`.
    ///
    /// # Errors
    /// Wrong length or rank; a code type.
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::{ElemType, Layout, Operand};
    /// let op = Operand::from_wide(ElemType::Bf16, &[1.0, 1.00390625, 3.0, 4.0], [2, 2], Layout::RowsK).unwrap();
    /// assert_eq!(op.dequantized(), &[1.0, 1.0, 3.0, 4.0]);
    /// ```
    pub fn from_wide(ty: ElemType, x: &[f32], shape: [usize; 2], layout: Layout) -> Result<Operand, Error> {
        let (rows, k) = shape_of(&shape, layout)?;
        if x.len() != rows * k {
            return Err(Error::LengthMismatch { expected: rows * k, got: x.len() });
        }
        if ty.read(0.0).is_none() {
            return Err(Error::InvalidOption(format!("{ty} is not a wide operand type (bf16, f16, tf32, xf32)")));
        }
        let v: Vec<f32> = to_rows_k(x.to_vec(), rows, k, layout).into_iter().map(|x| ty.read(x).unwrap_or(x)).collect();
        let op = Operand::unscaled(rows, k, Vec::new(), Box::new([0.0; 256]), ty);
        let _ = op.deq.set(v.clone());
        let _ = op.elems.set(v);
        Ok(op)
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        self.elem
    }

    /// How the operand's scales are stored (`None` for plain codes and wide types).
    pub fn scale_kind(&self) -> Option<ScaleKind> {
        self.scale_kind
    }

    /// Whether the operand holds element codes (every fast path reads them; a wide
    /// operand holds values only).
    pub(crate) fn coded(&self) -> bool {
        self.codes.len() == self.rows * self.k
    }

    /// Quantizes an f32 array with `scheme` along K (the scheme's axis is set to
    /// the K axis of `layout`) and takes the result.
    ///
    /// # Errors
    /// As [`crate::block::quantize`] and [`Self::from_quantized`].
    pub fn from_f32(x: &[f32], shape: [usize; 2], layout: Layout, scheme: &Scheme) -> Result<Operand, Error> {
        let mut s = *scheme;
        s.axis = match layout {
            Layout::RowsK => 1,
            Layout::KRows => 0,
        };
        Operand::from_quantized(&crate::block::quantize(x, &shape, &s)?, layout)
    }

    /// A 2-D quantized tensor whose K axis is the one `layout` names.
    ///
    /// A scheme blocked along the other axis than K is taken as it is: its K-blocks
    /// are the tile's extent along K (1 for 1×N tiles).
    ///
    /// # Errors
    /// Not 2-D.
    pub fn from_quantized(q: &QuantizedTensor, layout: Layout) -> Result<Operand, Error> {
        let (rows, k) = shape_of(q.shape(), layout)?;
        let plan = q.plan();
        let table = Box::new(plan.elem.table);
        let (ts, tile) = q.tile_scales();
        let axis = if q.scheme().axis < 0 { q.scheme().axis + 2 } else { q.scheme().axis } as usize;
        let k_axis = match layout {
            Layout::RowsK => 1,
            Layout::KRows => 0,
        };
        let per_tensor = plan.per_tensor();
        // The view the scales were computed on is [rows, K] when the blocked axis is
        // K, else [K, rows]; a tile is tile.rows × tile.cols of that view.
        let (kblock, scale_at): (usize, Box<dyn Fn(usize, usize) -> f32>) = if per_tensor {
            (k.max(1), Box::new(|_, _| ts[0]))
        } else if axis == k_axis {
            let gc = k.div_ceil(tile.cols).max(1);
            (tile.cols, Box::new(move |r, j| ts[(r / tile.rows) * gc + j]))
        } else {
            let gc = rows.div_ceil(tile.cols).max(1);
            (tile.rows, Box::new(move |r, j| ts[j * gc + r / tile.cols]))
        };
        let kblock = kblock.clamp(1, k.max(1));
        let nkb = k.div_ceil(kblock);
        // row-scaled: one global per view row, which is an operand row (blocked along K)
        let row_globals: Option<std::sync::Arc<[f32]>> = plan.row_global.then(|| q.global_scales().into());
        if row_globals.is_some() && axis != k_axis {
            return Err(Error::Shape("a row-scaled NVFP4 tensor is a GEMM operand only when blocked along K".into()));
        }
        let mut scales = Vec::with_capacity(rows * nkb);
        for r in 0..rows {
            for j in 0..nkb {
                scales.push(scale_at(r, j));
            }
        }
        let (scale_emin, rht) = (
            match q.scales() {
                Scales::E8m0(_) => -127,
                Scales::Ue4m3(_) => -6,
                Scales::F32(_) => -126,
            },
            plan.rht.is_some(),
        );
        let deq = std::sync::OnceLock::new();
        if rht {
            // the inverse transform mixes elements: not code × factor
            let _ = deq.set(to_rows_k(q.dequantize(), rows, k, layout));
        }
        Ok(Operand {
            rows,
            k,
            codes: to_rows_k(q.codes().to_vec(), rows, k, layout),
            table,
            elem_emin: plan.elem.emin,
            kblock,
            nkb: nkb.max(1),
            scales: Some(scales),
            global_multiplies: plan.global_multiplies,
            scale_emin,
            global: q.global_scale(),
            epilogue_global: q.global_scale(),
            row_globals: row_globals.clone(),
            epilogue_rows: row_globals,
            rht,
            name: q.scheme().to_string(),
            elem: plan.elem.format.map_or(ElemType::Int8, ElemType::Code),
            scale_kind: Some(match q.scales() {
                Scales::E8m0(_) => ScaleKind::E8m0,
                Scales::Ue4m3(_) => ScaleKind::Ue4m3,
                Scales::F32(_) => ScaleKind::F32,
            }),
            deq,
            elems: Default::default(),
        })
    }

    /// Rows (M for A, N for B).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// The reduction length K.
    pub fn k(&self) -> usize {
        self.k
    }
    /// Length of a scale block along K (K itself for unscaled, per-row and per-tensor operands).
    pub fn kblock(&self) -> usize {
        self.kblock
    }
    /// The per-tensor (global) scale, for NVFP4 with `global-scale=on`.
    pub fn global_scale(&self) -> Option<f32> {
        self.global
    }
    /// The factor this operand contributes to the epilogue `alpha` of the
    /// kernel-view models: its global scale, unless replaced.
    pub fn epilogue_global(&self) -> Option<f32> {
        self.epilogue_global
    }
    /// The same operand with `g` as its factor in the kernel-view epilogue
    /// `alpha` in place of its global scale (the dequantized values, which the
    /// `exact`, `f64`, `f32-fma` and `f32-mul-add` models read, keep the global
    /// scale). TransformerEngine's NVFP4 GEMMs compute alpha from the two
    /// tensors' global amaxes rather than from their stored scales
    /// ([`crate::recipe`]): one operand then carries that alpha and the other 1.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::quantize;
    /// use lowp::matmul::{matmul, Layout, Operand, OutDtype};
    /// let s = "nvfp4@global-scale=on".parse().unwrap();
    /// let x: Vec<f32> = (0..32).map(|i| i as f32 / 7.0).collect();
    /// let a = Operand::from_quantized(&quantize(&x, &[1, 32], &s).unwrap(), Layout::RowsK).unwrap();
    /// let b = a.clone().with_epilogue_global(Some(1.0));
    /// let a2 = a.clone().with_epilogue_global(Some(2.0 * a.global_scale().unwrap() * b.global_scale().unwrap()));
    /// let m = "f32-blocked".parse().unwrap();
    /// let d1 = matmul(&a, &a, None, &m, OutDtype::F32).unwrap();
    /// let d2 = matmul(&a2, &b, None, &m, OutDtype::F32).unwrap();
    /// assert_eq!(d2[0], 2.0 * d1[0]);
    /// ```
    pub fn with_epilogue_global(mut self, g: Option<f32>) -> Operand {
        self.epilogue_global = g;
        self.epilogue_rows = None;
        self
    }
    /// The same operand with one epilogue factor per row (`rows()` of them) in
    /// place of its global scale (or of its row-scaled globals): the alpha of a
    /// TransformerEngine GEMM with a row-scaled NVFP4 operand ([`crate::recipe`]),
    /// `fl32(amax_row · amax_other / (6·6·max·max))` for each row.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless there is one factor per row.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::quantize;
    /// use lowp::matmul::{matmul, Layout, Operand, OutDtype};
    /// let s = "nvfp4@like=te".parse().unwrap();
    /// let x: Vec<f32> = (0..64).map(|i| i as f32 / 7.0).collect();
    /// let a = Operand::from_quantized(&quantize(&x, &[2, 32], &s).unwrap(), Layout::RowsK).unwrap();
    /// let one = a.clone().with_epilogue_global(Some(1.0));
    /// let a2 = a.clone().with_epilogue_rows(vec![1.0, 4.0]).unwrap();
    /// let m = "f32-blocked".parse().unwrap();
    /// let d1 = matmul(&a.clone().with_epilogue_global(Some(1.0)), &one, None, &m, OutDtype::F32).unwrap();
    /// let d2 = matmul(&a2, &one, None, &m, OutDtype::F32).unwrap();
    /// assert_eq!((d2[0], d2[3]), (d1[0], 4.0 * d1[3]));
    /// ```
    pub fn with_epilogue_rows(mut self, f: Vec<f32>) -> Result<Operand, Error> {
        if f.len() != self.rows {
            return Err(Error::LengthMismatch { expected: self.rows, got: f.len() });
        }
        self.epilogue_global = None;
        self.epilogue_rows = Some(f.into());
        Ok(self)
    }
    /// Row `r`'s epilogue factor of a row-scaled operand.
    #[inline]
    pub(crate) fn epilogue_row(&self, r: usize) -> Option<f32> {
        self.epilogue_rows.as_ref().map(|e| e[r])
    }
    /// Dequantized values, `[rows, K]` row-major: exactly
    /// [`QuantizedTensor::dequantize`]'s values (built on first use).
    pub fn dequantized(&self) -> &[f32] {
        self.deq.get_or_init(|| {
            let mut v = vec![0f32; self.rows * self.k];
            for (r, row) in v.chunks_mut(self.k.max(1)).enumerate() {
                self.dequantize_row(r, row);
            }
            v
        })
    }
    /// Dequantized values of row `r` (all K columns) into `out`: each code's
    /// value times its K block's factor.
    fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let codes = &self.codes[r * self.k..(r + 1) * self.k];
        match &self.scales {
            None => out.iter_mut().zip(codes).for_each(|(o, &c)| *o = self.table[c as usize]),
            Some(f) => {
                let blocks = out.chunks_mut(self.kblock).zip(codes.chunks(self.kblock));
                for ((o, c), &s) in blocks.zip(&f[r * self.nkb()..(r + 1) * self.nkb()]) {
                    let fac = self.dequant_factor(r, s);
                    o.iter_mut().zip(c).for_each(|(o, &c)| *o = self.table[c as usize] * fac);
                }
            }
        }
    }
    /// The factor a block's codes are dequantized with: `fl32(global · scale)` for
    /// NVFP4, else the block's scale.
    #[inline]
    fn dequant_factor(&self, r: usize, s: f32) -> f32 {
        let g = self.row_globals.as_ref().map_or(self.global, |g| Some(g[r]));
        crate::block::dequant_factor(self.global_multiplies, s, g)
    }
    /// The dequantized value of column `kk` of row `r` is `table()[code] ·
    /// factors[r · nkb + kk / kblock]` (f32 product) with these factors, or the
    /// table entry itself where this is `None` (plain codes); except where
    /// [`Self::dense`] holds the values (check it first).
    pub(crate) fn dequant_factors(&self) -> Option<Vec<f32>> {
        let nkb = self.nkb.max(1);
        self.scales.as_ref().map(|s| s.iter().enumerate().map(|(i, &s)| self.dequant_factor(i / nkb, s)).collect())
    }
    /// The dequantized array where it is the operand's source of values (RHT,
    /// whose inverse transform mixes elements), or was built already.
    pub(crate) fn dense(&self) -> Option<&[f32]> {
        self.deq.get().map(Vec::as_slice)
    }
    /// Unscaled element values, `[rows, K]` row-major (built on first use).
    pub fn elements(&self) -> &[f32] {
        self.elems.get_or_init(|| self.codes.iter().map(|&c| self.table[c as usize]).collect())
    }
    /// The (unscaled) value of a code.
    #[inline]
    pub(crate) fn value_of(&self, c: u8) -> f32 {
        self.table[c as usize]
    }
    /// Element codes, `[rows, K]` row-major.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }
    /// Block scales `[rows, ceil(K / kblock)]` (kernel view, global scale excluded),
    /// `None` for plain codes.
    pub fn scales(&self) -> Option<&[f32]> {
        self.scales.as_deref()
    }
    /// The scheme (or element format) it came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn elem_emin(&self) -> i32 {
        self.elem_emin
    }
    pub(crate) fn scale_emin(&self) -> i32 {
        self.scale_emin
    }
    #[inline]
    pub(crate) fn nkb(&self) -> usize {
        self.nkb
    }
    /// Scales applied inside the K loop (more than one block per row).
    #[inline]
    pub(crate) fn in_loop(&self) -> bool {
        self.scales.is_some() && self.nkb > 1
    }
    /// The row's scale when it covers the whole of K (applied in the epilogue).
    pub(crate) fn row_scale(&self, r: usize) -> Option<f32> {
        match &self.scales {
            Some(s) if !self.in_loop() && self.k > 0 => Some(s[r]),
            _ => None,
        }
    }
    /// Block scale of row `r`, K-block `j` (1 when not in the loop).
    #[inline]
    pub(crate) fn block_scale(&self, r: usize, j: usize) -> f32 {
        match &self.scales {
            Some(s) if self.in_loop() => s[r * self.nkb() + j],
            _ => 1.0,
        }
    }
}

/// The kernel view of an operand pair: the K-block length the loop uses and the
/// epilogue factor of each output.
pub(crate) struct KernelView<'a> {
    pub a: &'a Operand,
    pub b: &'a Operand,
    /// Length of the K blocks whose scales are applied in the loop (K when none).
    pub kblock: usize,
    pub scaled: bool,
    /// How the epilogue applies whole-K and global scales.
    pub scale_order: super::ScaleOrder,
    /// The instruction applies the block scales itself (block-scaled kinds): they
    /// enter the products even when one block spans the whole of K.
    pub inst_scales: bool,
}

impl<'a> KernelView<'a> {
    pub fn new(a: &'a Operand, b: &'a Operand) -> Result<KernelView<'a>, Error> {
        if a.rht != b.rht {
            return Err(Error::Unsupported(
                "one operand has the Hadamard transform and the other does not; a kernel multiplies both rotated"
                    .into(),
            ));
        }
        let kblock = match (a.in_loop(), b.in_loop()) {
            (true, true) if a.kblock != b.kblock => {
                return Err(Error::Unsupported(format!(
                    "A's scale blocks along K ({}) and B's ({}) differ; a block-scaled kernel needs equal blocks",
                    a.kblock, b.kblock
                )));
            }
            (true, _) => a.kblock,
            (_, true) => b.kblock,
            _ => a.k.max(1),
        };
        Ok(KernelView {
            a,
            b,
            kblock,
            scaled: a.in_loop() || b.in_loop(),
            scale_order: super::ScaleOrder::Alpha,
            inst_scales: false,
        })
    }

    /// The view of a block-scaled instruction (`inst`): every block scale enters the
    /// products, a single block per row included; otherwise the view as it is.
    pub fn with_instruction_scales(self, inst: bool) -> Result<Self, Error> {
        let (a_scaled, b_scaled) = (self.a.scales.is_some(), self.b.scales.is_some());
        if !inst || !(a_scaled || b_scaled) {
            return Ok(self);
        }
        if a_scaled && b_scaled && self.a.kblock != self.b.kblock {
            return Err(Error::Unsupported(format!(
                "A's scale blocks along K ({}) and B's ({}) differ; a block-scaled instruction needs equal blocks",
                self.a.kblock, self.b.kblock
            )));
        }
        let kblock = if a_scaled { self.a.kblock } else { self.b.kblock };
        Ok(KernelView { kblock, scaled: true, inst_scales: true, ..self })
    }

    /// `op`'s scale of row `r`, K block `j`, as the loop applies it (1 when none).
    #[inline]
    pub fn block_scale(&self, op: &Operand, r: usize, j: usize) -> f32 {
        match &op.scales {
            Some(s) if self.inst_scales => s[r * op.nkb + j],
            _ => op.block_scale(r, j),
        }
    }

    /// `op`'s whole-K scale of row `r`, applied in the epilogue (`None` when its
    /// scales are in the loop or it has none).
    #[inline]
    pub fn row_scale(&self, op: &Operand, r: usize) -> Option<f32> {
        let s = if self.inst_scales { None } else { op.row_scale(r) };
        match (s, op.epilogue_row(r)) {
            (Some(s), Some(e)) => Some(s * e),
            (s, e) => s.or(e),
        }
    }

    /// The same view with another epilogue scale order.
    pub fn with_scale_order(self, scale_order: super::ScaleOrder) -> Self {
        KernelView { scale_order, ..self }
    }

    /// Whether the epilogue factors of rows with whole-K scales `ra`, `rb` are
    /// finite (the combined alpha under [`super::ScaleOrder::Alpha`], each factor otherwise).
    #[inline]
    pub fn factors_finite(&self, ra: Option<f32>, rb: Option<f32>) -> bool {
        match self.scale_order {
            super::ScaleOrder::Alpha => self.alpha_of(ra, rb).is_none_or(f32::is_finite),
            _ => [ra, rb, self.a.epilogue_global, self.b.epilogue_global].into_iter().flatten().all(f32::is_finite),
        }
    }

    /// The f32 epilogue of one output: scales applied in the view's order, then C;
    /// `None` when the factors are not finite ([`Self::factors_finite`]: the
    /// caller takes the specials path).
    #[inline]
    pub fn finish(&self, ra: Option<f32>, rb: Option<f32>, acc: f32, c: Option<f32>) -> Option<f32> {
        let (s1, s2) = match self.scale_order {
            super::ScaleOrder::Alpha => {
                let alpha = self.alpha_of(ra, rb);
                return alpha.is_none_or(f32::is_finite).then(|| Self::epilogue(alpha, acc, c));
            }
            super::ScaleOrder::BThenA => (rb, ra),
            super::ScaleOrder::AThenB => (ra, rb),
        };
        let factors = [s1, s2, self.a.epilogue_global, self.b.epilogue_global].into_iter().flatten();
        if !factors.clone().all(f32::is_finite) {
            return None;
        }
        let x = factors.fold(acc, |x, f| x * f);
        Some(c.map_or(x, |c| x + c))
    }

    /// The combined epilogue factor of rows with whole-K scales `ra`, `rb` (`Operand::row_scale`),
    /// `None` when there is none.
    #[inline]
    pub fn alpha_of(&self, ra: Option<f32>, rb: Option<f32>) -> Option<f32> {
        [ra, rb, self.a.epilogue_global, self.b.epilogue_global].into_iter().flatten().reduce(|x, y| x * y)
    }

    /// Epilogue: `fma(alpha, acc, c)` / `acc + c` / `alpha·acc` / `acc`.
    #[inline]
    pub fn epilogue(alpha: Option<f32>, acc: f32, c: Option<f32>) -> f32 {
        match (alpha, c) {
            (Some(al), Some(c)) => al.mul_add(acc, c),
            (Some(al), None) => al * acc,
            (None, Some(c)) => acc + c,
            (None, None) => acc,
        }
    }
}
