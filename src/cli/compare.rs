//! `lowp compare`: error of each scheme on each tensor of files or checkpoints.

use clap::Args;
use lowp::Error;
use lowp::block::Scheme;
use lowp::compare::{
    DEFAULT_SCHEMES, HIST_BINS, HIST_LO, Metrics, Row, Source, builtin_sample, compare_sources, file_sources, select,
    totals,
};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CompareArgs {
    /// .npy, .npz or .safetensors files (none: the built-in sample).
    pub files: Vec<PathBuf>,
    /// Only tensors whose name matches this glob (* and ?).
    #[arg(long)]
    pub tensors: Option<String>,
    /// Comma-separated scheme specs NAME[@KEY=VALUE]... (default: every family).
    #[arg(long)]
    pub schemes: Option<String>,
    /// Reference preset applied to every scheme (as its like= key): torchao | te | deepgemm |
    /// microxcaling | ocp. A listed scheme with another like= key is an error; without
    /// --schemes, the default families the preset has a quantizer for, each under it.
    #[arg(long)]
    pub like: Option<String>,
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
    let specs: Vec<String> = schemes.iter().map(|(s, _)| s.clone()).collect();
    let (mut sources, errors) = file_sources(&a.files);
    let mut failures = errors.len();
    errors.iter().for_each(|e| eprintln!("lowp: error: {e}"));
    if a.files.is_empty() {
        sources.extend(builtin_sample().into_iter().map(|(name, shape, x)| Source::Memory {
            name,
            shape,
            data: x.into(),
        }));
    }
    let sources = select(sources, a.tensors.as_deref(), a.skip_non_float, &mut |name, dtype| {
        eprintln!("lowp: note: skipped '{name}' ({dtype})")
    })?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(sources.len() as u64),
        if std::io::stderr().is_terminal() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    // tensors in parallel, one loaded at a time per worker (bounded memory)
    let results = compare_sources(&sources, &schemes, &|| bar.inc(1));
    bar.finish_and_clear();
    let mut rows = Vec::new();
    for r in results {
        match r {
            Ok(v) => rows.extend(v),
            Err(e) => {
                eprintln!("lowp: error: {e}");
                failures += 1;
            }
        }
    }
    let all = totals(&rows, &specs);
    rows.extend(all);
    if !rows.is_empty() {
        super::args::emit(&render(&rows, a.json, a.csv))?;
    }
    if let Some(dir) = &a.plot {
        write_plots(dir, &rows, &schemes, a.force)?;
    }
    if failures > 0 {
        return Err(Error::Io(format!("{failures} file(s) or tensor(s) failed (see above); the others are reported")));
    }
    Ok(())
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

/// The table, JSON lines or CSV.
pub fn render(rows: &[Row], json: bool, csv: bool) -> String {
    let mut out = String::new();
    if json {
        for r in rows {
            let m = &r.metrics;
            let _ = writeln!(
                out,
                "{{\"tensor\":{},\"scheme\":{},\"sqnr_db\":{},\"mse\":{},\"max_abs_err\":{},\"max_rel_err\":{},\"saturated\":{},\"flushed\":{},\"clipped_blocks\":{},\"blocks\":{},\"elements\":{},\"nonfinite\":{},\"bits_per_element\":{}}}",
                serde_json::Value::from(r.tensor.as_str()),
                serde_json::Value::from(r.scheme.as_str()),
                num(m.sqnr_db()),
                num(m.mse()),
                num(m.max_abs_err),
                num(m.max_rel_err),
                m.saturated,
                m.flushed,
                m.clipped_blocks,
                m.blocks,
                m.elements,
                m.nonfinite,
                num(m.bits_per_element())
            );
        }
        return out;
    }
    if csv {
        out.push_str("tensor,scheme,sqnr_db,mse,max_abs_err,max_rel_err,saturated,flushed,clipped_blocks,blocks,elements,nonfinite,bits_per_element\n");
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        for r in rows {
            let m = &r.metrics;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                q(&r.tensor),
                q(&r.scheme),
                m.sqnr_db(),
                m.mse(),
                m.max_abs_err,
                m.max_rel_err,
                m.saturated,
                m.flushed,
                m.clipped_blocks,
                m.blocks,
                m.elements,
                m.nonfinite,
                m.bits_per_element()
            );
        }
        return out;
    }
    let tw = rows.iter().map(|r| r.tensor.len()).max().unwrap_or(6).max(6);
    let sw = rows.iter().map(|r| r.scheme.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        out,
        "{:<tw$}  {:<sw$}  {:>9}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>8}  {:>6}",
        "tensor", "scheme", "SQNR dB", "MSE", "max abs", "max rel", "saturated", "flushed", "clip blk", "bits"
    );
    for r in rows {
        let m = &r.metrics;
        let _ = writeln!(
            out,
            "{:<tw$}  {:<sw$}  {:>9.2}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:>8}  {:>6.3}",
            r.tensor,
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
    out
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
fn write_plots(dir: &Path, rows: &[Row], schemes: &[(String, Scheme)], force: bool) -> Result<(), Error> {
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
        for (si, (spec, _)) in schemes.iter().enumerate() {
            if let Some(r) = rows.iter().find(|r| r.tensor == *t && &r.scheme == spec) {
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
    for (si, (spec, _)) in schemes.iter().enumerate() {
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
    for (spec, _) in schemes {
        let mut m = Metrics::default();
        rows.iter().filter(|r| &r.scheme == spec && r.tensor != "(all)").for_each(|r| m.merge(&r.metrics));
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
