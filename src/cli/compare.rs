//! `lowp compare`: error of each scheme on each tensor of files or checkpoints,
//! and the statistics of each tensor that explain it.

use clap::Args;
use lowp::Error;
use lowp::block::Scheme;
use lowp::compare::{
    DEFAULT_SCHEMES, Row, Source, TensorResult, builtin_sample, compare_sources, input_sources, select, totals,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

/// The columns, as `lowp compare --help` explains them.
const COLUMNS: &str = "\
Columns (one row per tensor and scheme; the tensor's own columns on its first row):
  tensor      the tensor's name (FILE:NAME when several inputs are given)
  shape       its shape; dtype: how it is stored (BF16, F8_E4M3, f32, or the
              convention of a quantized checkpoint weight, e.g. modelopt-nvfp4)
  amax        max |x|;  kurt: Pearson kurtosis m4/m2^2 (3 for a Gaussian, large
              for heavy tails);  >6sd: elements more than 6 standard deviations
              from the mean;  non-fin: NaN/Inf elements (set to 0 before
              quantizing and left out of every metric, with a warning)
  scheme      the scheme spec; stored:CONVENTION is the checkpoint's own
              quantization (against --master when given, else the reference)
  SQNR dB     10*log10(sum x^2 / sum (y-x)^2), y the dequantized tensor (inf: exact)
  MSE         mean (y-x)^2;  max abs: max |y-x|;  max rel: max |y-x|/|x| (x != 0)
  saturated   elements clipped by their block's scale (the code is the format's
              max and x lay beyond it by more than half an ulp)
  flushed     nonzero inputs that became 0
  clip blk    blocks with a saturated element
  bits        storage per element: codes + block scales + global scale
Every metric is over the finite elements; (all) rows merge every tensor
(sums and maxima). A scheme that cannot apply to a tensor (an RHT scheme on a
row length not divisible by 16) shows n/a with the reason on that row only.
--json / --csv rows carry the same keys plus file, rms, blocks, elements and
the sums (signal, error, bits) that merge exactly.";

#[derive(Args)]
#[command(after_long_help = COLUMNS)]
pub struct CompareArgs {
    /// .npy, .npz or .safetensors files, checkpoint directories or index files (none: the
    /// built-in sample). Quantized checkpoint weights are compared as stored (see --master).
    pub files: Vec<PathBuf>,
    /// Only tensors whose name matches one of these globs (* and ?; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tensors: Vec<String>,
    /// Comma-separated scheme specs NAME[@KEY=VALUE]... (default: every family).
    #[arg(long)]
    pub schemes: Option<String>,
    /// Reference preset applied to every scheme (as its like= key): torchao | te | deepgemm |
    /// microxcaling | ocp. A listed scheme with another like= key is an error; without
    /// --schemes, the default families the preset has a quantizer for, each under it.
    #[arg(long)]
    pub like: Option<String>,
    /// The high-precision checkpoint the inputs were quantized from: every tensor is compared
    /// against the master tensor of its name (the stored quantization as a stored:… row, each
    /// scheme re-quantizing the master).
    #[arg(long)]
    pub master: Option<PathBuf>,
    /// The convention of quantized checkpoint weights (default: detected, as `lowp inspect`).
    #[arg(long)]
    pub convention: Option<String>,
    /// Read one-byte arrays (.npy u8 and ml_dtypes' opaque <V1, safetensors U8) as codes of
    /// this format, e.g. e4m3fn.
    #[arg(long)]
    pub codes_as: Option<String>,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header line.
    #[arg(long)]
    pub csv: bool,
    /// Write SVG plots (sqnr.svg, errors.svg) as this directory (replaced whole if an earlier
    /// lowp run wrote it).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Replace the --plot directory even if lowp did not write it.
    #[arg(long)]
    pub force: bool,
    /// Skip safetensors tensors whose dtype is not a float lowp reads (integer
    /// buffers such as position ids, masks) with a note on stderr, instead of
    /// reporting each as an error (exit status 1).
    #[arg(long)]
    pub skip_non_float: bool,
    /// Compare training recipes instead of schemes: comma-separated recipe specs
    /// (`all`: every recipe but te-delayed), each GEMM of a linear layer against the
    /// exact unquantized product (see lowp linear).
    #[arg(long, conflicts_with_all = ["schemes", "like", "master", "convention", "codes_as", "tensors", "plot"])]
    pub recipes: Option<String>,
    /// --recipes: activations [T, IN] (.npy; without --x and --w, the built-in layer).
    #[arg(long, requires = "recipes")]
    pub x: Option<PathBuf>,
    /// --recipes: weights [OUT, IN].
    #[arg(long, requires = "recipes")]
    pub w: Option<PathBuf>,
    /// --recipes: output gradients [T, OUT] (without: fprop only, unless the built-in layer).
    #[arg(long, requires = "recipes")]
    pub dy: Option<PathBuf>,
    /// --recipes: seed of the stochastic rounding and random signs.
    #[arg(long, requires = "recipes", default_value_t = 0)]
    pub seed: u64,
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:e}") } else { "null".into() }
}

pub fn compare(a: &CompareArgs) -> Result<(), Error> {
    if let Some(recipes) = &a.recipes {
        return super::recipes::compare_recipes(a, recipes);
    }
    let specs: Vec<String> = match &a.schemes {
        Some(l) => l.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => DEFAULT_SCHEMES.iter().map(|s| s.to_string()).collect(),
    };
    if specs.is_empty() {
        return Err(Error::InvalidOption("--schemes is empty".into()));
    }
    let flags = super::args::SchemeArgs { like: a.like.clone(), ..Default::default() };
    let schemes = match (&a.schemes, &a.like) {
        (None, Some(like)) => preset_defaults(&flags, like)?,
        _ => specs
            .iter()
            .map(|s| {
                let spec = flags.with_flags(s)?;
                Ok((spec.clone(), spec.parse::<Scheme>()?))
            })
            .collect::<Result<Vec<_>, Error>>()?,
    };
    let codes_as = a.codes_as.as_deref().map(str::parse).transpose()?;
    let convention = a.convention.as_deref().map(str::parse).transpose()?;
    let (mut listed, mut errors) = input_sources(&a.files, convention, a.master.as_deref(), codes_as)?;
    if listed.is_empty() && !errors.is_empty() {
        // nothing could be listed: the (first) reason is the error
        errors.drain(1..).for_each(|e| eprintln!("lowp: error: {e}"));
        return Err(errors.remove(0));
    }
    let mut failures = errors.len();
    errors.iter().for_each(|e| eprintln!("lowp: error: {e}"));
    if a.files.is_empty() {
        listed.extend(
            builtin_sample()
                .into_iter()
                .map(|(name, shape, x)| (Source::Memory { name: name.clone(), shape, data: x.into() }, name)),
        );
    }
    let selected = select(listed, &a.tensors, a.skip_non_float, &mut |name, dtype| {
        eprintln!("lowp: note: skipped '{name}' ({dtype})")
    })?;
    let (sources, shown): (Vec<Source>, Vec<String>) = selected.into_iter().unzip();
    let layout = Layout::new(&sources, &shown, &schemes, a.json, a.csv);
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(sources.len() as u64),
        if std::io::stderr().is_terminal() && !std::io::stdout().is_terminal() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    super::args::emit(&layout.header())?;
    // each tensor's block is written as soon as every tensor before it is done:
    // the order of the inputs, whatever order the workers finish in
    let stream = Mutex::new(Stream { next: 0, pending: BTreeMap::new(), failures: 0, closed: None });
    let results = compare_sources(&sources, &schemes, &|i, r| {
        bar.inc(1);
        let mut st = stream.lock().unwrap_or_else(|e| e.into_inner());
        let text = match r {
            Ok(t) => Ok((layout.tensor(&shown[i], t), warnings(&shown[i], t))),
            Err(e) => Err(e.to_string()),
        };
        st.pending.insert(i, text);
        st.flush();
    });
    bar.finish_and_clear();
    let st = stream.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = st.closed {
        return Err(e);
    }
    failures += st.failures;
    // the rows under the names the table shows (FILE:NAME for several inputs)
    let rows: Vec<Row> = results
        .into_iter()
        .zip(&shown)
        .filter_map(|(r, name)| r.ok().map(|t| (t, name)))
        .flat_map(|(t, name)| t.rows.into_iter().map(move |r| Row { tensor: name.clone(), ..r }))
        .collect();
    // the stored quantizations first, then the schemes, as each tensor lists them
    let mut all_specs: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| r.scheme.starts_with("stored:")) {
        if !all_specs.contains(&r.scheme) {
            all_specs.push(r.scheme.clone());
        }
    }
    all_specs.extend(schemes.iter().map(|(s, _)| s.clone()));
    let all = totals(&rows, &all_specs);
    if !all.is_empty() {
        super::args::emit(&layout.rows("(all)", None, &all))?;
    }
    if let Some(dir) = &a.plot {
        let mut plotted = rows.clone();
        plotted.extend(all);
        super::plots::write_plots(dir, &plotted, &all_specs, a.force)?;
    }
    if failures > 0 {
        return Err(Error::Io(format!("{failures} file(s) or tensor(s) failed (see above); the others are reported")));
    }
    Ok(())
}

/// The ordered writer behind the streaming output.
struct Stream {
    next: usize,
    /// Finished tensors not yet written: their output and their warnings.
    pending: BTreeMap<usize, Result<(String, Vec<String>), String>>,
    failures: usize,
    /// Standard output failed (not a closed pipe, which ends quietly).
    closed: Option<Error>,
}

impl Stream {
    fn flush(&mut self) {
        while let Some(r) = self.pending.remove(&self.next) {
            self.next += 1;
            match r {
                Ok((text, warnings)) => {
                    warnings.iter().for_each(|w| eprintln!("lowp: {w}"));
                    if self.closed.is_none()
                        && let Err(e) = super::args::emit(&text)
                    {
                        self.closed = Some(e);
                    }
                }
                Err(e) => {
                    eprintln!("lowp: error: {e}");
                    self.failures += 1;
                }
            }
        }
    }
}

/// The default families under `--like PRESET`: each drops its own `like=` key and
/// takes the preset's; a family the preset has no quantizer for is left out with
/// a note (an error when none is left).
fn preset_defaults(flags: &super::args::SchemeArgs, like: &str) -> Result<Vec<(String, Scheme)>, Error> {
    let (mut kept, mut skipped) = (Vec::new(), Vec::new());
    for s in DEFAULT_SCHEMES {
        let bare = s.split('@').filter(|k| !k.starts_with("like=")).collect::<Vec<_>>().join("@");
        let spec = flags.with_flags(&bare)?;
        match spec.parse::<Scheme>() {
            Ok(scheme) => kept.push((spec, scheme)),
            Err(Error::Unsupported(_)) => skipped.push(bare),
            Err(e) => return Err(e),
        }
    }
    if kept.is_empty() {
        return Err(Error::Unsupported(format!(
            "--like {like} has no block quantizer (an element-cast preset: see `lowp cast --like`)"
        )));
    }
    if !skipped.is_empty() {
        eprintln!("lowp: note: --like {like} has no quantizer for {}; compared the others", skipped.join(", "));
    }
    Ok(kept)
}

/// What a tensor's results make the user told on stderr: its non-finite
/// elements, and the schemes that could not apply to it.
fn warnings(shown: &str, t: &TensorResult) -> Vec<String> {
    let mut w = Vec::new();
    if t.stats.nonfinite > 0 {
        w.push(format!(
            "warning: '{shown}' has {} non-finite value(s) (NaN/Inf): counted in non-fin, set to 0 before \
             quantizing, left out of every metric (computed over its {} finite elements)",
            t.stats.nonfinite, t.stats.elements
        ));
    }
    for r in &t.rows {
        if let Some(e) = &r.error {
            w.push(format!("note: scheme {} does not apply to '{shown}': {e}", r.scheme));
        }
    }
    w
}

/// The output format and its column widths, fixed before any tensor is done
/// (names, shapes and schemes are known from the listing).
struct Layout {
    json: bool,
    csv: bool,
    tw: usize,
    shw: usize,
    dw: usize,
    sw: usize,
}

/// The CSV and JSON keys, in order.
const KEYS: [&str; 24] = [
    "tensor",
    "file",
    "shape",
    "dtype",
    "amax",
    "rms",
    "kurtosis",
    "outliers",
    "nonfinite",
    "scheme",
    "sqnr_db",
    "mse",
    "max_abs_err",
    "max_rel_err",
    "saturated",
    "flushed",
    "clipped_blocks",
    "blocks",
    "elements",
    "bits_per_element",
    "signal",
    "error",
    "bits",
    "unsupported",
];

impl Layout {
    fn new(sources: &[Source<'_>], shown: &[String], schemes: &[(String, Scheme)], json: bool, csv: bool) -> Layout {
        let max = |it: &mut dyn Iterator<Item = usize>, min: usize| it.max().unwrap_or(min).max(min);
        let stored = sources.iter().map(|s| 7 + s.dtype().len()).max().unwrap_or(0);
        Layout {
            json,
            csv,
            tw: max(&mut shown.iter().map(|s| s.chars().count()), 6),
            shw: max(&mut sources.iter().map(|s| shape_text(s.shape()).len()), 5),
            dw: max(&mut sources.iter().map(|s| s.dtype().len()), 5),
            sw: max(&mut schemes.iter().map(|(s, _)| s.len()), 6).max(stored),
        }
    }

    fn header(&self) -> String {
        if self.json {
            return String::new();
        }
        if self.csv {
            return KEYS.join(",") + "\n";
        }
        let (tw, shw, dw, sw) = (self.tw, self.shw, self.dw, self.sw);
        format!(
            "{:<tw$}  {:<shw$}  {:<dw$}  {:>9}  {:>7}  {:>5}  {:>7}  {:<sw$}  {:>9}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>8}  {:>6}\n",
            "tensor",
            "shape",
            "dtype",
            "amax",
            "kurt",
            ">6sd",
            "non-fin",
            "scheme",
            "SQNR dB",
            "MSE",
            "max abs",
            "max rel",
            "saturated",
            "flushed",
            "clip blk",
            "bits"
        )
    }

    /// A tensor's block: its rows, the tensor's own columns on the first.
    fn tensor(&self, shown: &str, t: &TensorResult) -> String {
        self.rows(shown, Some(t), &t.rows)
    }

    /// Rows of one tensor (`t`: its description; `None` for the `(all)` rows).
    fn rows(&self, shown: &str, t: Option<&TensorResult>, rows: &[Row]) -> String {
        let mut out = String::new();
        for (i, r) in rows.iter().enumerate() {
            let m = &r.metrics;
            if self.json || self.csv {
                let shape =
                    t.map(|t| format!("[{}]", t.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")));
                let st = t.map(|t| &t.stats);
                let vals: [String; 24] = [
                    json_str(shown),
                    t.and_then(|t| t.file.as_ref()).map_or("null".into(), |f| json_str(&f.display().to_string())),
                    shape.unwrap_or("null".into()),
                    t.map_or("null".into(), |t| json_str(&t.dtype)),
                    st.map_or("null".into(), |s| num(s.amax)),
                    st.map_or("null".into(), |s| num(s.rms)),
                    st.map_or("null".into(), |s| num(s.kurtosis)),
                    st.map_or("null".into(), |s| s.outliers.to_string()),
                    st.map_or(m.nonfinite.to_string(), |s| s.nonfinite.to_string()),
                    json_str(&r.scheme),
                    num(m.sqnr_db()),
                    num(m.mse()),
                    num(m.max_abs_err),
                    num(m.max_rel_err),
                    m.saturated.to_string(),
                    m.flushed.to_string(),
                    m.clipped_blocks.to_string(),
                    m.blocks.to_string(),
                    m.elements.to_string(),
                    num(m.bits_per_element()),
                    num(m.signal),
                    num(m.error),
                    num(m.bits),
                    r.error.as_deref().map_or("null".into(), json_str),
                ];
                if self.json {
                    let fields: Vec<String> = KEYS.iter().zip(&vals).map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    let _ = writeln!(out, "{{{}}}", fields.join(","));
                } else {
                    // CSV: JSON strings are quoted with "" escapes; null is an empty field
                    let cells: Vec<String> = vals
                        .iter()
                        .map(|v| match v.as_str() {
                            "null" => String::new(),
                            v if v.starts_with('"') || v.starts_with('[') => {
                                let inner: String = if v.starts_with('"') {
                                    serde_json::from_str::<String>(v).unwrap_or_default()
                                } else {
                                    v.to_string()
                                };
                                format!("\"{}\"", inner.replace('"', "\"\""))
                            }
                            v => v.to_string(),
                        })
                        .collect();
                    let _ = writeln!(out, "{}", cells.join(","));
                }
                continue;
            }
            let (tw, shw, dw, sw) = (self.tw, self.shw, self.dw, self.sw);
            let lead = match t.filter(|_| i == 0) {
                Some(t) => format!(
                    "{:<tw$}  {:<shw$}  {:<dw$}  {:>9}  {:>7}  {:>5}  {:>7}",
                    shown,
                    shape_text(&t.shape),
                    t.dtype,
                    sci(t.stats.amax),
                    if t.stats.kurtosis.is_finite() { format!("{:.2}", t.stats.kurtosis) } else { "-".into() },
                    t.stats.outliers,
                    t.stats.nonfinite
                ),
                None if i == 0 => {
                    format!("{:<tw$}  {:<shw$}  {:<dw$}  {:>9}  {:>7}  {:>5}  {:>7}", shown, "", "", "", "", "", "")
                }
                None => format!("{:<tw$}  {:<shw$}  {:<dw$}  {:>9}  {:>7}  {:>5}  {:>7}", "", "", "", "", "", "", ""),
            };
            let lead = if t.is_some() && i > 0 {
                format!("{:<tw$}  {:<shw$}  {:<dw$}  {:>9}  {:>7}  {:>5}  {:>7}", "", "", "", "", "", "", "")
            } else {
                lead
            };
            match &r.error {
                Some(e) => {
                    let _ = writeln!(out, "{lead}  {:<sw$}  n/a: {e}", r.scheme);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{lead}  {:<sw$}  {:>9.2}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>8}  {:>6.3}",
                        r.scheme,
                        m.sqnr_db(),
                        sci(m.mse()),
                        sci(m.max_abs_err),
                        sci(m.max_rel_err),
                        m.saturated,
                        m.flushed,
                        m.clipped_blocks,
                        m.bits_per_element()
                    );
                }
            }
        }
        out
    }
}

fn shape_text(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

pub fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Scientific notation for people: `1.00e+00`, `8.67e-04` (Rust's `{:e}` writes `1e0`).
pub fn sci(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}
