//! The recipe table: each recipe's scheme per operand copy and accumulation
//! model per GEMM (the module docs' table, as data).

use super::Recipe;
use crate::Error;
use crate::matmul::Accum;

/// A named training recipe (module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipeName {
    /// TransformerEngine `Float8CurrentScaling`.
    TeCurrent,
    /// TransformerEngine `DelayedScaling`, the amax histories given.
    TeDelayed,
    /// TransformerEngine `Float8BlockScaling`.
    TeFp8Block,
    /// TransformerEngine `MXFP8BlockScaling`.
    TeMxfp8,
    /// TransformerEngine `NVFP4BlockScaling`.
    TeNvfp4,
    /// torchao `MXLinear` (MXFP8).
    TorchaoMxfp8,
    /// torchao NVFP4 training (\[I\]).
    TorchaoNvfp4,
    /// DeepSeek-V3's FP8 training.
    DeepseekV3,
}

crate::names::names!(RecipeName, "recipe", {
    TeCurrent => "te-current",
    TeDelayed => "te-delayed",
    TeFp8Block => "te-fp8-block",
    TeMxfp8 => "te-mxfp8",
    TeNvfp4 => "te-nvfp4",
    TorchaoMxfp8 => "torchao-mxfp8",
    TorchaoNvfp4 => "torchao-nvfp4",
    DeepseekV3 => "deepseek-v3",
});

/// A quantized copy of one of the layer's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Copy {
    /// x along IN (fprop A).
    XRow,
    /// x along T (wgrad B).
    XCol,
    /// W along IN (fprop B).
    WRow,
    /// W along OUT (dgrad B).
    WCol,
    /// dy along OUT (dgrad A).
    DyRow,
    /// dy along T (wgrad A).
    DyCol,
}

impl Copy {
    /// Every copy, in output order.
    pub const ALL: [Copy; 6] = [Copy::XRow, Copy::XCol, Copy::WRow, Copy::WCol, Copy::DyRow, Copy::DyCol];

    /// Its name (`x_row`, …; `lowp linear` writes a directory of each).
    pub fn name(self) -> &'static str {
        match self {
            Copy::XRow => "x_row",
            Copy::XCol => "x_col",
            Copy::WRow => "w_row",
            Copy::WCol => "w_col",
            Copy::DyRow => "dy_row",
            Copy::DyCol => "dy_col",
        }
    }

    /// Which tensor it copies: 0 x, 1 W, 2 dy.
    pub(crate) fn tensor(self) -> usize {
        match self {
            Copy::XRow | Copy::XCol => 0,
            Copy::WRow | Copy::WCol => 1,
            Copy::DyRow | Copy::DyCol => 2,
        }
    }

    /// Whether it is blocked along the tensor's first axis (T for x and dy,
    /// OUT for W).
    fn column(self) -> bool {
        matches!(self, Copy::XCol | Copy::WCol | Copy::DyCol)
    }
}

/// A recipe resolved: the scheme spec of every copy and the model of each GEMM.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    specs: [String; 6],
    /// fprop, dgrad, wgrad.
    pub accum: [Accum; 3],
    /// x, W and dy are rounded to BF16 (RNE) before anything else.
    pub bf16_inputs: bool,
}

impl Plan {
    pub(crate) fn scheme(&self, c: Copy) -> &str {
        &self.specs[Copy::ALL.iter().position(|&d| d == c).expect("a copy")]
    }
}

/// The recipe's table for `r`, with its keys applied.
pub(crate) fn plan(r: &Recipe, seed: u64) -> Result<Plan, Error> {
    use RecipeName::*;
    // (x, w, dy) schemes before the axis, RHT and SR keys; w 2-D or not
    let (x, w, dy, w2d, accum): (String, String, String, bool, [&str; 3]) = match r.name {
        TeCurrent | TeDelayed => {
            let pow2 = if r.pow2 { "@scale-format=pow2" } else { "" };
            let amax = |i: usize| r.amax[i].map_or(String::new(), |a| format!("@amax={a:e}"));
            (
                format!("fp8-tensor@like=te{pow2}{}", amax(0)),
                format!("fp8-tensor@like=te{pow2}{}", amax(1)),
                format!("fp8-tensor@like=te@elem=e5m2{pow2}{}", amax(2)),
                true,
                ["sm90@promote-every=none", "sm90", "sm90"],
            )
        }
        TeFp8Block => (
            "fp8-block@like=te".into(),
            "fp8-block@block=128x128@like=te".into(),
            "fp8-block@like=te".into(),
            true,
            ["sm90", "sm90", "sm90"],
        ),
        TeMxfp8 => (
            "mxfp8-e4m3@like=te".into(),
            if r.w2d { "mxfp8-e4m3@like=te@block=32x32".into() } else { "mxfp8-e4m3@like=te".into() },
            "mxfp8-e4m3@like=te".into(),
            r.w2d,
            ["sm100", "sm100", "sm100"],
        ),
        TeNvfp4 => (
            // row-scaled activations (TE `row_scaled_activation`): x only
            format!("nvfp4@like=te@global-scale={}", if r.row_scaled { "row" } else { "on" }),
            "nvfp4@like=te@global-scale=on@block=16x16".into(),
            "nvfp4@like=te@global-scale=on".into(),
            true,
            ["sm100", "sm100", "sm100"],
        ),
        TorchaoMxfp8 => (
            "mxfp8-e4m3@like=torchao".into(),
            "mxfp8-e4m3@like=torchao".into(),
            "mxfp8-e4m3@like=torchao".into(),
            false,
            ["sm100", "sm100", "sm100"],
        ),
        TorchaoNvfp4 => (
            TORCHAO_NVFP4.into(),
            format!("{TORCHAO_NVFP4}@block=16x16"),
            TORCHAO_NVFP4.into(),
            true,
            ["sm100", "sm100", "sm100"],
        ),
        DeepseekV3 => (
            "fp8-block@like=deepgemm".into(),
            "fp8-block@block=128x128@like=deepgemm".into(),
            "fp8-block@like=deepgemm".into(),
            true,
            ["sm90", "sm90", "sm90"],
        ),
    };
    let rht = r.rht && matches!(r.name, TeNvfp4 | TorchaoNvfp4);
    let sr = r.sr && matches!(r.name, TeNvfp4 | TorchaoNvfp4);
    // torchao-nvfp4 [I]: random RHT signs per seed (TE keeps its fixed signs)
    let signs: String =
        (0..16).map(|i| if crate::rng::random_bits(seed ^ 0x5248_5400, i) & 1 == 1 { '-' } else { '+' }).collect();
    let spec = |c: Copy| -> String {
        let base = match c.tensor() {
            0 => &x,
            1 => &w,
            _ => &dy,
        };
        // a 2-D or per-tensor weight is one tensor for both GEMMs
        let mut s = if c.column() && !(c.tensor() == 1 && w2d) { format!("{base}@axis=0") } else { base.clone() };
        if rht && matches!(c, Copy::XCol | Copy::DyCol) {
            let t =
                if r.name == TorchaoNvfp4 { format!("@rht-signs={signs}@rht-round=bf16") } else { "@rht=on".into() };
            s += &t;
        }
        if sr && c.tensor() == 2 {
            s += &format!("@rounding=sr@seed={}", if c == Copy::DyRow { seed } else { seed.wrapping_add(1) });
        }
        s
    };
    // te-nvfp4's 4over6 on the forward tensors (TE: never on gradients)
    let four_over_six_keys = |c: Copy| -> String {
        let mut k = String::new();
        if r.name != TeNvfp4 {
            return k;
        }
        if r.four_over_six.covers(c.tensor()) {
            let max = if r.four_over_six_256.covers(c.tensor()) { 256 } else { 448 };
            k += &format!("@4over6={}@4over6-max={max}", if r.four_over_six_mse { "mse" } else { "mae" });
        }
        k
    };
    let specs = Copy::ALL.map(|c| spec(c) + &four_over_six_keys(c));
    let accum = match r.accum {
        Some(a) => [a; 3],
        None => [accum[0].parse()?, accum[1].parse()?, accum[2].parse()?],
    };
    // torchao casts x, W and dy to BF16 before quantizing (`nvfp4_mm_triton.forward`)
    Ok(Plan { specs, accum, bf16_inputs: r.name == TorchaoNvfp4 })
}

/// torchao 0.18's NVFP4 training quantizer (1×16; W adds `@block=16x16`).
const TORCHAO_NVFP4: &str = "nvfp4@policy=torchao-training@global-scale=on";
