//! `lowp verify`: which producer's formula explains a quantized checkpoint's
//! stored bytes, given the master weights it was quantized from.

use clap::Args;
use lowp::Error;
use lowp::convention::{Check, Producer, verify_weight};
use lowp::io::checkpoint::{TensorRef, glob_match, list_tensors};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_long_help = "\
For each quantized weight, every candidate producer re-quantizes the master
tensor of the same name and shape; the report counts the stored codes, block
scales (stored bytes) and global scale it reproduces. A producer explains a
weight when all of them are equal. Candidates (--recipe auto): NVFP4 modelopt,
compressed-tensors, te, torchao; FP8 blocks deepgemm, deepgemm-v1,
compressed-tensors, te; FP8 per tensor or row compressed-tensors; MXFP4
modelopt, ocp, torchao, torchao-rceil. --scheme SPEC (repeatable) checks lowp
schemes instead. Exit status 1 when some weight is explained by none.")]
pub struct VerifyArgs {
    #[command(flatten)]
    pub ckpt: super::checkpoint::CkptArgs,
    /// The high-precision checkpoint (.safetensors, index, directory, or .npy/.npz) the weights
    /// were quantized from; tensors are matched by the model's names.
    #[arg(long)]
    pub master: PathBuf,
    /// A lowp scheme spec to check instead of the producers (repeatable, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub scheme: Vec<String>,
    /// Which producers to try: auto (every producer known to write each weight's storage).
    #[arg(long, default_value = "auto")]
    pub recipe: String,
    /// Only weights whose name matches one of these globs (* and ?; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tensors: Vec<String>,
    /// One JSON object per weight and producer.
    #[arg(long)]
    pub json: bool,
}

fn pct(n: (u64, u64)) -> String {
    if n.1 == 0 { "-".into() } else { format!("{}/{} {:>6.2}%", n.0, n.1, 100.0 * n.0 as f64 / n.1 as f64) }
}

pub fn verify(a: &VerifyArgs) -> Result<(), Error> {
    if a.recipe != "auto" {
        return Err(Error::InvalidOption(format!("unknown --recipe '{}' (valid: auto)", a.recipe)));
    }
    let schemes: Vec<Producer> = a.scheme.iter().map(|s| Producer::scheme(s.trim())).collect::<Result<_, _>>()?;
    let g = super::checkpoint::load(&a.ckpt)?;
    if g.weights.is_empty() {
        return Err(Error::InvalidOption(format!("{}: no quantized weight to verify", a.ckpt.ckpt.display())));
    }
    let masters: HashMap<String, TensorRef> =
        list_tensors(&a.master)?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let weights: Vec<_> =
        g.weights.iter().filter(|w| a.tensors.is_empty() || a.tensors.iter().any(|p| glob_match(p, &w.name))).collect();
    if weights.is_empty() {
        return Err(Error::InvalidOption(format!("no quantized weight matches --tensors '{}'", a.tensors.join(","))));
    }
    let mut out = String::new();
    let (nw, pw) = (weights.iter().map(|w| w.name.len()).max().unwrap_or(6).max(6), 18);
    if !a.json {
        let _ = writeln!(
            out,
            "{:<nw$}  {:<18}  {:<pw$}  {:>22}  {:>20}  {:<7}",
            "weight", "convention", "producer", "codes equal", "scales equal", "global"
        );
    }
    let mut explained: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut explained_weights = 0;
    for w in weights {
        let master = masters.get(&w.name).ok_or_else(|| {
            Error::Io(format!("{}: no tensor '{}' (the master of the quantized weight)", a.master.display(), w.name))
        })?;
        let producers = if schemes.is_empty() { Producer::candidates(&w.storage) } else { schemes.clone() };
        let checks = verify_weight(w, master, &producers)?;
        // every producer that reproduces the stored bytes is counted (several can:
        // an F32 master's FP8 blocks come out alike under DeepGEMM's and
        // compressed-tensors' formulas)
        let by: Vec<&Check> = checks.iter().filter(|c| c.explains()).collect();
        if by.is_empty() {
            unexplained.push(w.name.clone());
        } else {
            explained_weights += 1;
        }
        for c in by {
            *explained.entry(c.producer.clone()).or_default() += 1;
        }
        for (i, c) in checks.iter().enumerate() {
            if a.json {
                let _ = writeln!(
                    out,
                    "{{\"weight\":{},\"convention\":\"{}\",\"producer\":{},\"codes_equal\":{},\"codes\":{},\"scales_equal\":{},\"scales\":{},\"global_equal\":{},\"explains\":{},\"error\":{}}}",
                    serde_json::Value::from(w.name.as_str()),
                    w.convention,
                    serde_json::Value::from(c.producer.as_str()),
                    c.codes.0,
                    c.codes.1,
                    c.scales.0,
                    c.scales.1,
                    c.global.map_or("null".into(), |g| g.to_string()),
                    c.explains(),
                    c.error.as_deref().map_or("null".into(), |e| serde_json::Value::from(e).to_string())
                );
                continue;
            }
            let (name, conv) = if i == 0 { (w.name.as_str(), w.convention.name()) } else { ("", "") };
            let tail = match (&c.error, c.explains()) {
                (Some(e), _) => format!("n/a: {e}"),
                (None, true) => {
                    format!("{:>22}  {:>20}  {:<7}  explains it", pct(c.codes), pct(c.scales), global_text(c))
                }
                (None, false) => format!("{:>22}  {:>20}  {:<7}", pct(c.codes), pct(c.scales), global_text(c)),
            };
            let _ = writeln!(out, "{name:<nw$}  {conv:<18}  {:<pw$}  {tail}", c.producer);
        }
    }
    if !a.json {
        let total = explained_weights + unexplained.len();
        let by: Vec<String> = explained.iter().map(|(p, n)| format!("{p} {n}")).collect();
        let _ = writeln!(
            out,
            "\n{explained_weights} of {total} weight(s) explained{}",
            if by.is_empty() { String::new() } else { format!("; weights each producer explains: {}", by.join(", ")) }
        );
    }
    super::args::emit(&out)?;
    if !unexplained.is_empty() {
        return Err(Error::Io(format!(
            "{} of the quantized weights match no producer tried, e.g. '{}'",
            unexplained.len(),
            unexplained[0]
        )));
    }
    Ok(())
}

fn global_text(c: &Check) -> &'static str {
    match c.global {
        Some(true) => "equal",
        Some(false) => "differs",
        None => "-",
    }
}
