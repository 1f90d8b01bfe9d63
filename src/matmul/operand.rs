//! GEMM operands: element values, block scales along K, global scale, and the
//! dequantized values, in one `[rows, K]` layout.

use crate::Error;
use crate::block::{QuantizedTensor, Scales, Scheme, SchemeKind};
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

/// One GEMM operand, `[rows, K]` (A: rows = M; B: rows = N), quantized along K.
///
/// It keeps both views the models need (see the [module docs](super)): the
/// unscaled element values with their block scales, and the dequantized values.
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
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    rows: usize,
    k: usize,
    elems: Vec<f32>,
    elem_emin: i32,
    kblock: usize,
    scales: Option<Vec<f32>>,
    scale_emin: i32,
    global: Option<f32>,
    deq: Vec<f32>,
    rht: bool,
    name: String,
}

fn shape_of(shape: &[usize], layout: Layout) -> Result<(usize, usize), Error> {
    match (shape, layout) {
        (&[r, k], Layout::RowsK) => Ok((r, k)),
        (&[k, r], Layout::KRows) => Ok((r, k)),
        _ => Err(Error::Shape(format!("a GEMM operand must be 2-D, got shape {shape:?}"))),
    }
}

/// `[rows, k]` row-major from the stored layout.
fn to_rows_k<T: Copy>(x: &[T], rows: usize, k: usize, layout: Layout) -> Vec<T> {
    match layout {
        Layout::RowsK => x.to_vec(),
        Layout::KRows => {
            let mut out = Vec::with_capacity(x.len());
            for r in 0..rows {
                out.extend((0..k).map(|kk| x[kk * rows + r]));
            }
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
        let mut vals = vec![0f32; codes.len()];
        crate::convert::decode_slice(fmt, codes, &mut vals)?;
        let vals = to_rows_k(&vals, rows, k, layout);
        Ok(Operand {
            rows,
            k,
            elems: vals.clone(),
            elem_emin: fmt.spec().min_exp(),
            kblock: k.max(1),
            scales: None,
            scale_emin: 0,
            global: None,
            deq: vals,
            rht: false,
            name: fmt.name().to_string(),
        })
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
    /// # Errors
    /// Not 2-D, or scale tiles that do not cut K into equal blocks per row (a 1×N
    /// scheme blocked along the other axis is taken with K-blocks of length 1).
    pub fn from_quantized(q: &QuantizedTensor, layout: Layout) -> Result<Operand, Error> {
        let (rows, k) = shape_of(&q.shape, layout)?;
        let n = q.len();
        let elems: Vec<f32> = (0..n).map(|i| q.elem_value(i)).collect();
        let deq = q.dequantize();
        let bi = q.block_indices();
        let (tile_scales, tile) = q.tile_scales();
        let (elems, deq, bi) =
            (to_rows_k(&elems, rows, k, layout), to_rows_k(&deq, rows, k, layout), to_rows_k(&bi, rows, k, layout));
        let axis = if q.scheme.axis < 0 { q.scheme.axis + 2 } else { q.scheme.axis } as usize;
        let k_axis = match layout {
            Layout::RowsK => 1,
            Layout::KRows => 0,
        };
        let per_tensor =
            matches!(q.scheme.kind, SchemeKind::Fp8(o) if o.granularity == crate::block::Fp8Granularity::Tensor);
        let kblock = if per_tensor {
            k
        } else if axis == k_axis {
            tile.cols
        } else {
            tile.rows
        }
        .clamp(1, k.max(1));
        let nkb = k.div_ceil(kblock);
        let mut scales = Vec::with_capacity(rows * nkb);
        for r in 0..rows {
            for j in 0..nkb {
                let grp = &bi[r * k + j * kblock..(r * k + (j + 1) * kblock).min((r + 1) * k)];
                if grp.iter().any(|&t| t != grp[0]) {
                    return Err(Error::Unsupported(format!(
                        "the scale tiles of '{}' do not cut K into equal blocks",
                        q.scheme
                    )));
                }
                scales.push(tile_scales[grp[0] as usize]);
            }
        }
        let scale_emin = match q.scales {
            Scales::E8m0(_) => -127,
            Scales::Ue4m3(_) => -6,
            Scales::F32(_) => -126,
        };
        let rht = matches!(q.scheme.kind, SchemeKind::Nvfp4(o) if o.rht.is_some());
        Ok(Operand {
            rows,
            k,
            elems,
            elem_emin: q.elem_emin(),
            kblock,
            scales: Some(scales),
            scale_emin,
            global: q.global_scale,
            deq,
            rht,
            name: q.scheme.to_string(),
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
    /// Dequantized values, `[rows, K]` row-major.
    pub fn dequantized(&self) -> &[f32] {
        &self.deq
    }
    /// Unscaled element values, `[rows, K]` row-major.
    pub fn elements(&self) -> &[f32] {
        &self.elems
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
    pub(crate) fn nkb(&self) -> usize {
        self.k.div_ceil(self.kblock).max(1)
    }
    /// Scales applied inside the K loop (more than one block per row).
    pub(crate) fn in_loop(&self) -> bool {
        self.scales.is_some() && self.k.div_ceil(self.kblock) > 1
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
        Ok(KernelView { a, b, kblock, scaled: a.in_loop() || b.in_loop() })
    }

    /// The epilogue factor of output (m, n), `None` when there is none.
    #[inline]
    pub fn alpha(&self, m: usize, n: usize) -> Option<f32> {
        let f = [self.a.row_scale(m), self.b.row_scale(n), self.a.global, self.b.global];
        f.into_iter().flatten().reduce(|x, y| x * y)
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
