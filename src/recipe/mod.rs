//! Training recipes end to end: a linear layer forward and backward under a
//! named recipe, every operand quantized as that recipe quantizes it and every
//! GEMM accumulated as its kernel does.
//!
//! For `x` `[T, IN]`, `W` `[OUT, IN]` and `dy` `[T, OUT]`:
//!
//! | GEMM | product | A (rows × K) | B (rows × K) |
//! |---|---|---|---|
//! | fprop | `y = x·Wᵀ` `[T, OUT]` | `x_row`: x along IN | `w_row`: W along IN |
//! | dgrad | `dx = dy·W` `[T, IN]` | `dy_row`: dy along OUT | `w_col`: W along OUT |
//! | wgrad | `dW = dyᵀ·x` `[OUT, IN]` | `dy_col`: dy along T | `x_col`: x along T |
//!
//! Each copy is quantized from the high-precision tensor (never re-quantized
//! from another copy); a 2-D block scheme (16×16, 128×128) or a per-tensor one
//! gives the same codes along either axis, and its one quantized tensor serves
//! both GEMMs. Operands with a random Hadamard transform enter their GEMM in the
//! transformed domain (codes × scales): both operands of wgrad carry the same
//! transform along T, which cancels in the product, as on the GPU.
//!
//! # The recipes
//!
//! | recipe | x_row / x_col | w (row / col) | dy_row / dy_col | fprop / dgrad / wgrad accumulation | out | source read |
//! |---|---|---|---|---|---|---|
//! | `te-current` | `fp8-tensor@like=te` (E4M3) | same | `…@elem=e5m2` (HYBRID) | `sm90@promote-every=none` / `sm90` / `sm90` (split accumulator off for fprop) | bf16 | TE `recipe.Float8CurrentScaling` (`fp8_format=HYBRID`, `fp8_gemm_fprop.use_split_accumulator=False`) |
//! | `te-delayed` | as `te-current`, each scale from the caller's amax history (`amax-x`, `amax-w`, `amax-dy`: `:`-separated, the maximum taken, TE's default `amax_compute_algo`) | | | as `te-current` | bf16 | TE `recipe.DelayedScaling` |
//! | `te-fp8-block` | `fp8-block@like=te` 1×128 along IN / along T (power-of-two scales) | `fp8-block@block=128x128@like=te` | 1×128 along OUT / along T | `sm90` (scales per K block) | bf16 | TE `recipe.Float8BlockScaling` |
//! | `te-mxfp8` | `mxfp8-e4m3@like=te` 1×32 / 32×1 | 1×32 / 32×1 (`w2d=on`: 32×32) | 1×32 / 32×1 | `sm100` (`kind::mxf8f6f4`) | bf16 | TE `recipe.MXFP8BlockScaling` (E4M3) |
//! | `te-nvfp4` | `nvfp4@like=te@global-scale=on` 1×16 / along T with RHT | 16×16 | 1×16 / along T with RHT, both with stochastic rounding | `sm100` (`kind::mxf4nvf4`) | bf16 | TE `recipe.NVFP4BlockScaling`, docs `features/low_precision_training/nvfp4` (2-D weights, SR on gradients, RHT only for wgrad, a global amax per copy) |
//! | `torchao-mxfp8` | `mxfp8-e4m3@like=torchao` 1×32 / 32×1 | 1×32 / 32×1 | 1×32 / 32×1 | `sm100` | bf16 | torchao `MXLinear` (each copy cast from the high-precision tensor) |
//! | `torchao-nvfp4` | `nvfp4@policy=torchao-training@global-scale=on` 1×16 / along T with RHT (signs from the seed, transform rounded to BF16); x, W, dy first rounded to BF16 | 16×16 | 1×16 / along T with RHT, both with stochastic rounding | `sm100`, alpha [`Alpha::TorchaoAmax`] | bf16 | torchao 0.18 `prototype/moe_training/nvfp4_training` (`nvfp4_linear.py`, `hadamard_utils.py`, `quantize_2d_triton.py`), read, not run \[P\] |
//! | `deepseek-v3` | `fp8-block@like=deepgemm` 1×128 / along T | `fp8-block@block=128x128@like=deepgemm` | 1×128 / along T | `sm90` (DeepGEMM: promotion every 128 K) | bf16 | DeepSeek-V3 technical report §3.3 (E4M3 everywhere, 1×128 activations, 128×128 weights, BF16 outputs) |
//!
//! Keys switch parts off for testing and study: `@sr=off`, `@rht=off`,
//! `@accum=MODEL` (every GEMM; a name without keys), `@out=bf16|f32`, and per
//! recipe `@pow2=on` (te-current scales), `@w2d=on` (te-mxfp8 weights),
//! `@amax-x=…@amax-w=…@amax-dy=…` (te-delayed), `@alpha=…` (the NVFP4 recipes'
//! epilogue factor, [`Alpha`]: `te-kernel` for te-nvfp4, `torchao-amax` for
//! torchao-nvfp4), and for te-nvfp4 TE's quantizer options: `@4over6=SCOPE`,
//! `@4over6-256=SCOPE`, `@4over6-err=mae|mse` ([`Scope`]: which forward tensors
//! take [`crate::block::FourOverSix`] block scales and the 256 global bound; TE
//! refuses 4over6 with the Hadamard transform, so on x it needs `@rht=off`)
//! and `@row-scaled=on` (x's copies take one global amax per row, TE's
//! `row_scaled_activation`; alpha is then a vector along the GEMM's rows or
//! columns).
//!
//! te-nvfp4 is checked bit for bit against TransformerEngine's own reference
//! recipe (`NVFP4QuantizerRef` and its `qgemm`, `tests/recipe.rs`), with and
//! without its 4over6 and row-scaled options: the six copies' codes and scales, fprop and dgrad under `@sr=off@accum=f32-blocked@alpha=te-reference`;
//! wgrad given TE's column-wise amaxes (TE's reference rounds the Hadamard
//! transform in a torch matmul, lowp once per output, so that amax may differ
//! in its last bits). `docs/recipes.md` has the evidence and what is not
//! reproduced. The stochastic rounding of dy
//! draws its bits from [`crate::rng`] with the caller's seed (`dy_row`: `seed`,
//! `dy_col`: `seed + 1`), so a run is reproducible; TE's own generator (Philox on
//! the GPU) is not reproduced.
//!
//! # Examples
//! ```
//! use lowp::recipe::{Recipe, linear};
//! let (t, i, o) = (32, 64, 48);
//! let x: Vec<f32> = (0..t * i).map(|k| (k as f32 * 0.37).sin()).collect();
//! let w: Vec<f32> = (0..o * i).map(|k| (k as f32 * 0.11).cos() * 0.1).collect();
//! let dy: Vec<f32> = (0..t * o).map(|k| (k as f32 * 0.07).sin() * 0.01).collect();
//! let r: Recipe = "deepseek-v3@out=f32".parse().unwrap();
//! let l = linear(&x, &w, Some(&dy), [t, i, o], &r, 1).unwrap();
//! assert_eq!((l.y.len(), l.dx.unwrap().len(), l.dw.unwrap().len()), (t * o, t * i, o * i));
//! assert_eq!(l.operands.len(), 6);
//! ```

mod errors;
mod table;

pub use errors::{GemmError, recipe_errors, sample_layer};
pub use table::{Copy, RecipeName};

use crate::Error;
use crate::block::{QuantizedTensor, Scheme, quantize};
use crate::matmul::{Accum, Layout, Operand, OutDtype, matmul_f32};

/// A recipe and its keys (`te-nvfp4@sr=off@out=f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Which recipe.
    pub name: RecipeName,
    /// Stochastic rounding where the recipe has it.
    pub sr: bool,
    /// Random Hadamard transforms where the recipe has them.
    pub rht: bool,
    /// One accumulation model for every GEMM instead of the recipe's.
    pub accum: Option<Accum>,
    /// Output dtype of the three GEMMs.
    pub out: OutDtype,
    /// te-current: power-of-two scales.
    pub pow2: bool,
    /// te-mxfp8: 32×32 weight blocks.
    pub w2d: bool,
    /// te-delayed: the amax of x, W and dy (the maxima of their histories).
    pub amax: [Option<f32>; 3],
    /// NVFP4 recipes: how the GEMM's epilogue alpha is computed.
    pub alpha: Alpha,
    /// te-nvfp4: which tensors use 4over6 block scales (TE `nvfp4_4over6`; key `4over6`).
    pub four_over_six: Scope,
    /// te-nvfp4: which 4over6 tensors bound their global scale at 256 instead of
    /// 448 (TE `nvfp4_4over6_e4m3_use_256`, default all; key `4over6-256`).
    pub four_over_six_256: Scope,
    /// te-nvfp4: 4over6 selects by squared error (TE `nvfp4_4over6_err_mode=MSE`; key `4over6-err=mae|mse`).
    pub four_over_six_mse: bool,
    /// te-nvfp4: x's copies are row-scaled, one global amax per row (TE
    /// `row_scaled_activation`; key `row-scaled=on`).
    pub row_scaled: bool,
}

/// Which of a layer's forward tensors an option applies to (TE's scope names
/// `none`, `weights`, `activations`, `all`); gradients never take 4over6 in TE
/// (`NVFP4BlockScalingRecipeState.make_quantizers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// No tensor.
    None,
    /// W.
    Weights,
    /// x.
    Activations,
    /// x and W.
    All,
}

crate::names::names!(Scope, "scope", { None => "none", Weights => "weights", Activations => "activations", All => "all" });

impl Scope {
    /// Whether it covers tensor `t` (0 x, 1 W, 2 dy).
    pub(crate) fn covers(self, t: usize) -> bool {
        match self {
            Scope::None => false,
            Scope::Weights => t == 1,
            Scope::Activations => t == 0,
            Scope::All => t < 2,
        }
    }
}

/// How an NVFP4 GEMM's epilogue factor `alpha` is computed from the two
/// operands' per-tensor quantities (kernel-view models only: `exact`, `f64`,
/// `f32-fma` and `f32-mul-add` multiply dequantized operands, each with its
/// stored global scale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alpha {
    /// `fl(fl(amax_a · amax_b) · fl32(1 / (6·6·448·448)))`: TransformerEngine's
    /// `compute_nvfp4_per_tensor_scale_kernel` (`common/recipe/nvfp4.cu`, alpha_in
    /// = 1), which feeds cuBLAS \[P\]. The `te-nvfp4` default.
    TeKernel,
    /// `fl(fl(amax_a · amax_b) / (6·6·448·448))`: TE's reference GEMM
    /// `NVFP4QuantizerRef.qgemm` (`custom_recipes/reference_nvfp4.py`) \[P\]; the
    /// golden `te_recipe_nvfp4_*` vectors use it.
    TeReference,
    /// `fl(g_a · g_b)`, the product of the stored global (dequantization)
    /// scales: what `lowp matmul` computes from the quantized tensors alone.
    Scales,
    /// `fl(fl32(amax_a / 2688) · fl32(amax_b / 2688))`: torchao's NVFP4 training
    /// GEMMs pass `per_tensor_amax_to_scale(amax)` of each operand to
    /// `scaled_mm` as its tensor-wise scale (`nvfp4_linear.py`,
    /// `mx_formats/nvfp4_tensor.py`) \[P\]; that the GEMM multiplies the two in
    /// f32 is \[I\]. The `torchao-nvfp4` default.
    TorchaoAmax,
}

crate::names::names!(Alpha, "alpha", {
    TeKernel => "te-kernel",
    TeReference => "te-reference",
    Scales => "scales",
    TorchaoAmax => "torchao-amax",
});

impl Alpha {
    /// The alpha of operands with global amaxes `a`, `b` whose global scales are
    /// bounded at `ma`, `mb` (448, or 256 for 4over6 tensors: TE's reference
    /// divides by `6·6·ma·mb`) (`None` for `Scales`).
    fn of(self, (a, ma): (f32, f32), (b, mb): (f32, f32)) -> Option<f32> {
        let factor: f32 = 6.0 * 6.0 * ma * mb;
        match self {
            Alpha::TeKernel => Some(a * b * (1.0f64 / factor as f64) as f32),
            Alpha::TeReference => Some(a * b / factor),
            Alpha::TorchaoAmax => Some((a / (448.0 * 6.0)) * (b / (448.0 * 6.0))),
            Alpha::Scales => None,
        }
    }
}

impl std::str::FromStr for Recipe {
    type Err = Error;
    fn from_str(s: &str) -> Result<Recipe, Error> {
        let (name, keys) = crate::spec_parts(s)?;
        let name: RecipeName = name.parse()?;
        let mut r = Recipe {
            name,
            sr: true,
            rht: true,
            accum: None,
            out: OutDtype::Bf16,
            pow2: false,
            w2d: false,
            amax: [None; 3],
            alpha: match name {
                RecipeName::TeNvfp4 => Alpha::TeKernel,
                RecipeName::TorchaoNvfp4 => Alpha::TorchaoAmax,
                _ => Alpha::Scales,
            },
            four_over_six: Scope::None,
            four_over_six_256: Scope::All,
            four_over_six_mse: false,
            row_scaled: false,
        };
        let te_nvfp4 = name == RecipeName::TeNvfp4;
        let nvfp4 = matches!(name, RecipeName::TeNvfp4 | RecipeName::TorchaoNvfp4);
        let on_off = |k: &str, v: &str| match v {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(Error::InvalidOption(format!("{k} takes on or off, not '{v}'"))),
        };
        let history = |k: &str, v: &str| -> Result<Option<f32>, Error> {
            let h: Vec<f32> = v
                .split(':')
                .map(|a| a.trim().parse::<f32>())
                .collect::<Result<_, _>>()
                .map_err(|_| Error::InvalidOption(format!("{k} takes amax values separated by ':', not '{v}'")))?;
            Ok(h.into_iter().reduce(f32::max))
        };
        for (k, v) in keys {
            match k {
                "sr" => r.sr = on_off(k, v)?,
                "rht" => r.rht = on_off(k, v)?,
                "accum" => r.accum = Some(v.parse()?),
                "out" => {
                    r.out = match v.parse()? {
                        o @ (OutDtype::Bf16 | OutDtype::F32) => o,
                        _ => return Err(Error::InvalidOption(format!("out takes bf16 or f32, not '{v}'"))),
                    }
                }
                "pow2" if name == RecipeName::TeCurrent || name == RecipeName::TeDelayed => r.pow2 = on_off(k, v)?,
                "w2d" if name == RecipeName::TeMxfp8 => r.w2d = on_off(k, v)?,
                "amax-x" if name == RecipeName::TeDelayed => r.amax[0] = history(k, v)?,
                "amax-w" if name == RecipeName::TeDelayed => r.amax[1] = history(k, v)?,
                "amax-dy" if name == RecipeName::TeDelayed => r.amax[2] = history(k, v)?,
                "alpha" if nvfp4 => r.alpha = v.parse()?,
                "4over6" if te_nvfp4 => r.four_over_six = v.parse()?,
                "4over6-256" if te_nvfp4 => r.four_over_six_256 = v.parse()?,
                "4over6-err" if te_nvfp4 => {
                    r.four_over_six_mse = match v.to_ascii_lowercase().as_str() {
                        "mae" => false,
                        "mse" => true,
                        _ => return Err(Error::InvalidOption(format!("4over6-err takes mae or mse, not '{v}'"))),
                    }
                }
                "row-scaled" if te_nvfp4 => r.row_scaled = on_off(k, v)?,
                _ => {
                    return Err(Error::InvalidOption(format!(
                        "unknown key '{k}' for recipe {name} (keys: sr, rht, accum, out{})",
                        match name {
                            RecipeName::TeCurrent => ", pow2",
                            RecipeName::TeDelayed => ", pow2, amax-x, amax-w, amax-dy",
                            RecipeName::TeMxfp8 => ", w2d",
                            RecipeName::TeNvfp4 => ", alpha, 4over6, 4over6-256, 4over6-err, row-scaled",
                            RecipeName::TorchaoNvfp4 => ", alpha",
                            _ => "",
                        }
                    )));
                }
            }
        }
        if r.four_over_six.covers(0) && r.rht {
            // TE: "NVFP4 4over6 quantization does not support RHT" (x's column-wise copy has it)
            return Err(Error::InvalidOption(
                "4over6 on activations needs @rht=off: TE's 4over6 quantizer takes no Hadamard transform".into(),
            ));
        }
        if name == RecipeName::TeDelayed && r.amax.iter().any(Option::is_none) {
            return Err(Error::InvalidOption(
                "te-delayed needs the amax history of each tensor: @amax-x=…@amax-w=…@amax-dy=…".into(),
            ));
        }
        Ok(r)
    }
}

/// A linear layer's results under a recipe: the three GEMM outputs (f32
/// arrays holding values of the recipe's output dtype) and every quantized
/// operand copy.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `y = x·Wᵀ`, `[T, OUT]`.
    pub y: Vec<f32>,
    /// `dx = dy·W`, `[T, IN]` (with a dy).
    pub dx: Option<Vec<f32>>,
    /// `dW = dyᵀ·x`, `[OUT, IN]` (with a dy).
    pub dw: Option<Vec<f32>>,
    /// Each quantized copy, in the order x_row, x_col, w_row, w_col, dy_row,
    /// dy_col (the dy copies with a dy); copies of one 2-D or per-tensor
    /// quantization are the same tensor.
    pub operands: Vec<(Copy, QuantizedTensor)>,
}

/// A quantized copy as its GEMM reads it: with a random Hadamard transform,
/// the transformed-domain values (the inverse transform is left out: both
/// operands carry it).
fn operand(q: &QuantizedTensor, layout: Layout) -> Result<Operand, Error> {
    let mut s: Scheme = *q.scheme();
    if let crate::block::SchemeKind::Nvfp4(o) = &mut s.kind
        && o.rht.is_some()
    {
        (o.rht, o.rht_bf16) = (None, false);
        let (_, shape, codes, scales, scale_shape, g) = q.clone().into_parts_globals();
        let plain = QuantizedTensor::from_parts_globals(s, shape, codes, scales, scale_shape, g)?;
        return Operand::from_quantized(&plain, layout);
    }
    Operand::from_quantized(q, layout)
}

/// A linear layer `y = x·Wᵀ`, `dx = dy·W`, `dW = dyᵀ·x` under `recipe`
/// (module table); `dims` = `[T, IN, OUT]`; `seed` feeds the stochastic rounding
/// and random signs the recipe has.
///
/// # Errors
/// [`Error::Shape`] when x, W or dy do not have `T·IN`, `OUT·IN`, `T·OUT`
/// elements (naming which), or a scheme cannot apply to these sides (an RHT
/// copy along T needs T divisible by 16); the schemes' and models' errors.
///
/// # Examples
/// See the [module docs](self).
pub fn linear(
    x: &[f32],
    w: &[f32],
    dy: Option<&[f32]>,
    dims: [usize; 3],
    recipe: &Recipe,
    seed: u64,
) -> Result<Linear, Error> {
    let [t, inp, out] = dims;
    let want = |what: &str, got: usize, n: usize, shape: String| {
        if got == n { Ok(()) } else { Err(Error::Shape(format!("{what} has {got} elements, not {shape} = {n}"))) }
    };
    want("x", x.len(), t * inp, format!("T·IN = {t}·{inp}"))?;
    want("W", w.len(), out * inp, format!("OUT·IN = {out}·{inp}"))?;
    if let Some(dy) = dy {
        want("dy", dy.len(), t * out, format!("T·OUT = {t}·{out}"))?;
    }
    let plan = table::plan(recipe, seed)?;
    // the recipe's own input cast (torchao-nvfp4: BF16), before every copy
    let bf16 = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect() };
    let (xb, wb, dyb);
    let (x, w, dy) = if plan.bf16_inputs {
        (xb, wb, dyb) = (bf16(x), bf16(w), dy.map(bf16));
        (&xb[..], &wb[..], dyb.as_deref())
    } else {
        (x, w, dy)
    };
    let mut operands: Vec<(Copy, QuantizedTensor)> = Vec::new();
    let mut quant = |c: Copy, data: &[f32], shape: [usize; 2]| -> Result<QuantizedTensor, Error> {
        let spec = plan.scheme(c);
        // a copy the same scheme already quantized (2-D blocks, per tensor) is that tensor
        if let Some((_, q)) = operands.iter().find(|(d, _)| c.tensor() == d.tensor() && plan.scheme(*d) == spec) {
            let q = q.clone();
            operands.push((c, q.clone()));
            return Ok(q);
        }
        let scheme: Scheme = spec.parse()?;
        let q = quantize(data, &shape, &scheme).map_err(|e| Error::Shape(format!("{} ({spec}): {e}", c.name())))?;
        operands.push((c, q.clone()));
        Ok(q)
    };
    let xr = quant(Copy::XRow, x, [t, inp])?;
    let xc = quant(Copy::XCol, x, [t, inp])?;
    let wr = quant(Copy::WRow, w, [out, inp])?;
    let wc = quant(Copy::WCol, w, [out, inp])?;
    let dys = match dy {
        Some(dy) => Some((quant(Copy::DyRow, dy, [t, out])?, quant(Copy::DyCol, dy, [t, out])?)),
        None => None,
    };
    // the GEMM's two operands, alpha from the copies' global amaxes where the recipe says so
    let data = |c: Copy| match c.tensor() {
        0 => (x, [t, inp]),
        1 => (w, [out, inp]),
        _ => (dy.unwrap_or(&[]), [t, out]),
    };
    // a copy's global amaxes (one, or one per row when row-scaled) and its global bound
    let amax = |c: Copy| -> Result<(Vec<f32>, f32, bool), Error> {
        let (d, shape) = data(c);
        let s: Scheme = plan.scheme(c).parse()?;
        let (max, rows) = match s.kind {
            crate::block::SchemeKind::Nvfp4(o) => (crate::block::FourOverSix::e4m3_max(&o), o.row_global),
            _ => (448.0, false),
        };
        Ok((crate::block::global_amaxes(d, &shape, &s)?, max, rows))
    };
    let pair = |(ca, qa, la): (Copy, &QuantizedTensor, Layout), (cb, qb, lb): (Copy, &QuantizedTensor, Layout)| {
        let (a, b) = (operand(qa, la)?, operand(qb, lb)?);
        let ((ga, ma, ra), (gb, mb, rb)) = (amax(ca)?, amax(cb)?);
        if recipe.alpha == Alpha::Scales || ga.is_empty() || gb.is_empty() {
            return Ok::<_, Error>((a, b));
        }
        // TE's reference: alpha = amax_a · amax_b / factor, a vector along a row-scaled operand's rows
        let alpha = |x: f32, y: f32| recipe.alpha.of((x, ma), (y, mb)).expect("a TE alpha");
        Ok(match (ra, rb) {
            (true, _) => (
                a.with_epilogue_rows(ga.iter().map(|&x| alpha(x, gb[0])).collect())?,
                b.with_epilogue_global(Some(1.0)),
            ),
            (false, true) => (
                a.with_epilogue_global(Some(1.0)),
                b.with_epilogue_rows(gb.iter().map(|&y| alpha(ga[0], y)).collect())?,
            ),
            _ => (a.with_epilogue_global(Some(alpha(ga[0], gb[0]))), b.with_epilogue_global(Some(1.0))),
        })
    };
    let gemm = |g: usize, (a, b): (Operand, Operand)| matmul_f32(&a, &b, None, &plan.accum[g], recipe.out);
    let y = gemm(0, pair((Copy::XRow, &xr, Layout::RowsK), (Copy::WRow, &wr, Layout::RowsK))?)?;
    let (dx, dw) = match &dys {
        Some((dr, dc)) => (
            Some(gemm(1, pair((Copy::DyRow, dr, Layout::RowsK), (Copy::WCol, &wc, Layout::KRows))?)?),
            Some(gemm(2, pair((Copy::DyCol, dc, Layout::KRows), (Copy::XCol, &xc, Layout::KRows))?)?),
        ),
        None => (None, None),
    };
    Ok(Linear { y, dx, dw, operands })
}
