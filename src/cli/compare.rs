//! `lowp compare`: error of each scheme on each tensor of files or checkpoints,
//! and the statistics of each tensor that explain it.

use clap::Args;
use lowp::Error;
use lowp::block::Scheme;
use lowp::compare::{
    DEFAULT_SCHEMES, HIST_BINS, HIST_LO, Metrics, Row, Source, TensorResult, builtin_sample, compare_sources,
    input_sources, select, totals,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:e}") } else { "null".into() }
}

pub fn compare(a: &CompareArgs) -> Result<(), Error> {
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
        write_plots(dir, &plotted, &all_specs, a.force)?;
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

fn json_str(s: &str) -> String {
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

const COLORS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `sqnr.svg`: SQNR per tensor (rows) and scheme (coloured bars); `errors.svg`:
/// the distribution of `log2(|error| / rms)` per scheme over all tensors.
fn write_plots(dir: &Path, rows: &[Row], schemes: &[String], force: bool) -> Result<(), Error> {
    let tensors: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in rows.iter().filter(|r| r.tensor != "(all)") {
            if !v.contains(&r.tensor.as_str()) {
                v.push(&r.tensor);
            }
        }
        v
    };
    let ns = schemes.len();
    let bar_h = 10.0;
    let group_h = bar_h * ns as f64 + 12.0;
    // tensor names: the tail of long ones, so the distinguishing part shows
    let label = |t: &str| -> String {
        let c: Vec<char> = t.chars().collect();
        if c.len() > 70 { format!("…{}", c[c.len() - 69..].iter().collect::<String>()) } else { t.to_string() }
    };
    let longest = tensors.iter().map(|t| label(t).chars().count()).max().unwrap_or(10);
    let (left, plot_w) = (16.0 + 6.4 * longest as f64, 560.0);
    let finite_max = rows.iter().map(|r| r.metrics.sqnr_db()).filter(|v| v.is_finite()).fold(10.0f64, f64::max);
    let step = if finite_max > 60.0 { 20.0 } else { 10.0 };
    let max_db = (finite_max / step).ceil() * step;
    let legend_h = 16.0 * ns as f64 + 10.0;
    let height = 50.0 + group_h * tensors.len() as f64 + legend_h + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">",
        left + plot_w + 60.0
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"10\" y=\"20\" font-size=\"14\">SQNR (dB) per tensor and scheme — longer is better (∞: exact)</text>"
    );
    let x_of = |db: f64| left + plot_w * (db.clamp(0.0, max_db) / max_db);
    let mut tick = 0.0;
    while tick <= max_db {
        let x = x_of(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"35\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"32\" text-anchor=\"middle\">{tick}</text>",
            40.0 + group_h * tensors.len() as f64
        );
        tick += step;
    }
    for (ti, t) in tensors.iter().enumerate() {
        let y0 = 40.0 + group_h * ti as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            left - 6.0,
            y0 + group_h / 2.0,
            esc(t),
            esc(&label(t))
        );
        for (si, spec) in schemes.iter().enumerate() {
            if let Some(r) = rows.iter().find(|r| r.tensor == *t && &r.scheme == spec && r.error.is_none()) {
                let db = r.metrics.sqnr_db();
                let y = y0 + 6.0 + bar_h * si as f64;
                let end = if db.is_nan() { left } else { x_of(if db.is_infinite() { max_db } else { db }) };
                let value = if db.is_nan() {
                    "NaN".to_string()
                } else if db.is_infinite() {
                    "∞".into()
                } else {
                    format!("{db:.1}")
                };
                let _ = writeln!(
                    s,
                    "<rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {value} dB</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"8\" fill=\"#444\">{value}</text>",
                    end - left,
                    bar_h - 1.0,
                    COLORS[si % COLORS.len()],
                    esc(spec),
                    end + 3.0,
                    y + bar_h - 2.0
                );
            }
        }
    }
    let ly = 50.0 + group_h * tensors.len() as f64;
    for (si, spec) in schemes.iter().enumerate() {
        let y = ly + 16.0 * si as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{left}\" y=\"{y}\" width=\"12\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            COLORS[si % COLORS.len()],
            left + 18.0,
            y + 9.0,
            esc(spec)
        );
    }
    s.push_str("</svg>\n");
    let sqnr = std::mem::take(&mut s);

    // error histogram per scheme (all tensors), over the binades that hold any error
    let mut totals: Vec<(String, Metrics)> = Vec::new();
    for spec in schemes {
        let mut m = Metrics::default();
        rows.iter()
            .filter(|r| &r.scheme == spec && r.tensor != "(all)" && r.error.is_none())
            .for_each(|r| m.merge(&r.metrics));
        totals.push((spec.clone(), m));
    }
    let frac = |m: &Metrics, i: usize| m.hist.get(i).copied().unwrap_or(0) as f64 / m.elements.max(1) as f64;
    let used = |i: usize| totals.iter().any(|(_, m)| frac(m, i) > 0.0);
    let lo = (1..HIST_BINS).find(|&i| used(i)).unwrap_or(1).saturating_sub(2).max(1);
    let hi = ((1..HIST_BINS).rev().find(|&i| used(i)).unwrap_or(HIST_BINS - 1) + 2).min(HIST_BINS - 1).max(lo + 1);
    let legend_w = 40.0 + 6.6 * totals.iter().map(|(n, _)| n.chars().count() + 10).max().unwrap_or(20) as f64;
    let (l, b, pw, ph) = (70.0, 60.0, 560.0, 320.0);
    let (w, h) = (l + pw + legend_w, 30.0 + ph + b);
    let ymax = totals.iter().flat_map(|(_, m)| (lo..=hi).map(move |i| frac(m, i))).fold(0.01f64, f64::max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"10\" y=\"20\" font-size=\"14\">Error distribution per scheme: elements per binade of |error| / rms(x) — further left is better</text>"
    );
    let xb = |i: f64| l + pw * (i - lo as f64) / (hi - lo) as f64;
    let yv = |f: f64| 30.0 + ph * (1.0 - f / ymax);
    let every = (hi - lo).div_ceil(10).max(1);
    for i in (lo..=hi).step_by(every) {
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" y1=\"30\" x2=\"{0}\" y2=\"{1}\" stroke=\"#eee\"/><text x=\"{0}\" y=\"{2}\" text-anchor=\"middle\">2^{3}</text>",
            xb(i as f64),
            30.0 + ph,
            45.0 + ph,
            HIST_LO + i as i32
        );
    }
    for q in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = yv(q * ymax);
        let _ = writeln!(
            s,
            "<line x1=\"{l}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}%</text>",
            l + pw,
            l - 4.0,
            y + 4.0,
            100.0 * q * ymax
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{l}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"middle\">|y − x| / rms(x)  (exact results not shown)</text>",
        30.0 + ph,
        l + pw,
        l + pw / 2.0,
        h - 10.0
    );
    let _ = writeln!(
        s,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">elements</text>",
        30.0 + ph / 2.0,
        30.0 + ph / 2.0
    );
    for (si, (spec, m)) in totals.iter().enumerate() {
        let pts: Vec<String> = (lo..=hi).map(|i| format!("{:.1},{:.1}", xb(i as f64), yv(frac(m, i)))).collect();
        let c = COLORS[si % COLORS.len()];
        let _ =
            writeln!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{}\"/>", pts.join(" "));
        let y = 40.0 + 16.0 * si as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{y}\" width=\"12\" height=\"10\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{} ({:.1} dB)</text>",
            l + pw + 15.0,
            l + pw + 32.0,
            y + 9.0,
            esc(spec),
            m.sqnr_db()
        );
    }
    s.push_str("</svg>\n");
    lowp::io::out::write_dir(dir, &[("sqnr.svg", sqnr.into_bytes()), ("errors.svg", s.into_bytes())], "compare", force)
}
