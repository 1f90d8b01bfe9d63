//! `lowp linear`: a linear layer forward and backward under a training recipe
//! ([`lowp::recipe`]).

use clap::Args;
use lowp::Error;
use lowp::io::npy::{NpyArray, NpyData};
use lowp::recipe::{Recipe, linear as run};
use std::path::{Path, PathBuf};

#[derive(Args)]
#[command(after_long_help = "\
Writes DIR/y.npy = x·Wᵀ [T, OUT], and with --dy DIR/dx.npy = dy·W [T, IN] and
DIR/dw.npy = dyᵀ·x [OUT, IN] (f32 arrays of the recipe's output dtype), and a
`lowp quantize` directory per quantized copy: DIR/x_row, x_col, w_row, w_col,
dy_row, dy_col (lowp matmul takes them as operands: fprop --a x_row --b w_row,
dgrad --a dy_row --b w_col --b-layout kn, wgrad --a dy_col --a-layout km --b
x_col --b-layout kn; an RHT copy's codes are in the transformed domain). The
NVFP4 recipes' alpha from the global amaxes (@alpha=te-kernel, te-nvfp4's
default) is not stored in the copies: lowp matmul on them multiplies the stored
global scales, as @alpha=scales does. Recipes: te-current,
te-delayed, te-fp8-block, te-mxfp8, te-nvfp4, torchao-mxfp8, torchao-nvfp4,
deepseek-v3; keys @sr=off, @rht=off, @accum=MODEL, @out=bf16|f32 (see the
lowp::recipe docs for each recipe's table).")]
pub struct LinearArgs {
    /// The recipe spec NAME[@KEY=VALUE]..., e.g. te-nvfp4@rht=off.
    #[arg(long)]
    pub recipe: String,
    /// Activations [T, IN] (.npy of f32, f64, f16 or bf16).
    #[arg(long)]
    pub x: PathBuf,
    /// Weights [OUT, IN].
    #[arg(long)]
    pub w: PathBuf,
    /// Output gradients [T, OUT] (without: the forward pass only).
    #[arg(long)]
    pub dy: Option<PathBuf>,
    /// Seed of the recipe's stochastic rounding and random signs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The copies' files: plain (codes.npy, scales.npy, scheme.txt, global_scale.npy) or
    /// kernel (also packed.bin and scales_swizzled.bin, as `lowp quantize --layout kernel`).
    #[arg(long, default_value = "plain")]
    pub layout: String,
    /// Also write each copy's dequant.npy (f32 values; `lowp quantize` always does).
    #[arg(long)]
    pub dequant: bool,
    /// Output directory (written whole beside it, then swapped in).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Replace OUTPUT even if it is a directory lowp did not write.
    #[arg(long)]
    pub force: bool,
}

/// A 2-D .npy as f32 values and its two sides.
pub fn matrix(p: &Path, what: &str) -> Result<(Vec<f32>, [usize; 2]), Error> {
    let a = NpyArray::read(p)?;
    let name = p.display().to_string();
    let &[r, c] = a.shape.as_slice() else {
        return Err(Error::Shape(format!("{name}: {what} must be 2-D, got shape {:?}", a.shape)));
    };
    Ok((a.to_f32(&name)?, [r, c]))
}

/// A linear layer's x, W, optional dy and `[T, IN, OUT]`.
pub type LayerData = (Vec<f32>, Vec<f32>, Option<Vec<f32>>, [usize; 3]);

/// x, W and (when given) dy read from .npy files, checked against each other.
pub fn layer(x: &Path, w: &Path, dy: Option<&PathBuf>) -> Result<LayerData, Error> {
    let (x, [t, inp]) = matrix(x, "x")?;
    let (w, [out, w_in]) = matrix(w, "W")?;
    if w_in != inp {
        return Err(Error::Shape(format!("x is [T, IN] = [{t}, {inp}] but W is [OUT, IN] = [{out}, {w_in}]")));
    }
    let dy = match dy {
        Some(p) => {
            let (dy, [dt, dout]) = matrix(p, "dy")?;
            if [dt, dout] != [t, out] {
                return Err(Error::Shape(format!("dy is [{dt}, {dout}], not [T, OUT] = [{t}, {out}]")));
            }
            Some(dy)
        }
        None => None,
    };
    Ok((x, w, dy, [t, inp, out]))
}

pub fn linear(a: &LinearArgs) -> Result<(), Error> {
    let recipe: Recipe = a.recipe.parse()?;
    let kernel = match a.layout.as_str() {
        "plain" => false,
        "kernel" => true,
        l => return Err(Error::InvalidOption(format!("unknown layout '{l}' (expected plain or kernel)"))),
    };
    let (x, w, dy, [t, inp, out]) = layer(&a.x, &a.w, a.dy.as_ref())?;
    let l = run(&x, &w, dy.as_deref(), [t, inp, out], &recipe, a.seed)?;
    let arr = |shape: Vec<usize>, v: Vec<f32>| NpyArray { shape, data: NpyData::F32(v) }.to_bytes();
    let mut files: Vec<(String, Vec<u8>)> = vec![("y.npy".into(), arr(vec![t, out], l.y))];
    if let (Some(dx), Some(dw)) = (l.dx, l.dw) {
        files.push(("dx.npy".into(), arr(vec![t, inp], dx)));
        files.push(("dw.npy".into(), arr(vec![out, inp], dw)));
    }
    for (c, q) in &l.operands {
        files.extend(super::quantize::directory_files(q, kernel, a.dequant, &format!("{}/", c.name()))?);
    }
    files.push(("recipe.txt".into(), format!("{}\nseed={}\n", a.recipe, a.seed).into_bytes()));
    lowp::io::out::write_dir(&a.output, &files, "linear", a.force)
}
