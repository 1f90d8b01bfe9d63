//! `lowp grouped-matmul`: MoE grouped GEMMs in the layouts kernels take
//! ([`lowp::matmul::grouped_matmul`]).

use clap::Args;
use lowp::Error;
use lowp::block::Scheme;
use lowp::io::npy::{NpyArray, NpyData};
use lowp::matmul::{Accum, Groups, OutDtype, grouped_matmul};
use std::path::PathBuf;

#[derive(Args)]
#[command(after_long_help = "\
Layouts: contiguous (A [M, K], B [G, N, K], --groups: each row's group, -1 for
padding, --align the groups' start rows), offs (torch _scaled_grouped_mm: each
group's cumulative end), m-splits (TE: each group's row count), masked (A
[G, max_m, K], --groups: each group's valid rows), k-grouped (A [ΣK, M], B
[ΣK, N], --groups: each group's cumulative end along K; D [G, M, N]). Each group
is quantized on its own. Rows no group writes are 0.")]
pub struct GroupedArgs {
    /// contiguous | offs | m-splits | masked | k-grouped.
    #[arg(long)]
    pub layout: String,
    /// A (.npy of f32, f64, f16 or bf16).
    #[arg(long)]
    pub a: PathBuf,
    /// B (.npy).
    #[arg(long)]
    pub b: PathBuf,
    /// The group description: an integer .npy (i32 or i64), or comma-separated integers.
    #[arg(long, allow_hyphen_values = true)]
    pub groups: String,
    /// contiguous: the row alignment of each group's start (DeepGEMM: 128).
    #[arg(long, default_value_t = 1)]
    pub align: usize,
    /// Scheme of A (and of B without --b-scheme).
    #[arg(long)]
    pub scheme: String,
    /// Scheme of B.
    #[arg(long)]
    pub b_scheme: Option<String>,
    /// Accumulation model of every group.
    #[arg(long, default_value = "f32-fma")]
    pub accum: String,
    /// Output dtype: f32 | bf16 | f16 (values written as f32).
    #[arg(long, default_value = "f32")]
    pub out_dtype: String,
    /// Output .npy.
    #[arg(short, long)]
    pub output: PathBuf,
}

fn ints(s: &str) -> Result<Vec<i64>, Error> {
    if s.ends_with(".npy") {
        return NpyArray::read(s.as_ref())?.to_i64(s);
    }
    s.split(',')
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| Error::InvalidOption(format!("--groups: '{v}' is not an integer")))
        })
        .collect()
}

pub fn grouped(a: &GroupedArgs) -> Result<(), Error> {
    let list = ints(&a.groups)?;
    let groups = match a.layout.as_str() {
        "contiguous" => Groups::Contiguous { group_of_row: list, align: a.align.max(1) },
        "offs" => Groups::Offs(list),
        "m-splits" => Groups::MSplits(list),
        "masked" => Groups::Masked(list),
        "k-grouped" => Groups::KGrouped(list),
        l => {
            return Err(Error::InvalidOption(format!(
                "unknown --layout '{l}' (contiguous, offs, m-splits, masked, k-grouped)"
            )));
        }
    };
    let sa: Scheme = a.scheme.parse()?;
    let sb: Scheme = a.b_scheme.as_deref().unwrap_or(&a.scheme).parse()?;
    let accum: Accum = a.accum.parse()?;
    let out: OutDtype = a.out_dtype.parse()?;
    if out == OutDtype::F64 {
        return Err(Error::InvalidOption("--out-dtype takes f32, bf16 or f16".into()));
    }
    let read = |p: &PathBuf| -> Result<(Vec<f32>, Vec<usize>), Error> {
        let arr = NpyArray::read(p)?;
        Ok((arr.to_f32(&p.display().to_string())?, arr.shape))
    };
    let ((av, ashape), (bv, bshape)) = (read(&a.a)?, read(&a.b)?);
    let (d, shape) = grouped_matmul(&av, &ashape, &bv, &bshape, &groups, &sa, &sb, &accum, out)?;
    lowp::io::out::Output::parse(&a.output).write(&NpyArray { shape, data: NpyData::F32(d) }.to_bytes())
}
