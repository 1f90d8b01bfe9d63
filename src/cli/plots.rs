//! `lowp compare --plot`: SVG plots of the comparison rows, written by hand
//! (two small charts: a plotting crate would add a dependency tree for what a
//! few lines of SVG say).

use lowp::Error;
use lowp::compare::{HIST_BINS, HIST_LO, Metrics, Row};
use std::fmt::Write as _;
use std::path::Path;

const COLORS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `sqnr.svg`: SQNR per tensor (rows) and scheme (coloured bars); `errors.svg`:
/// the distribution of `log2(|error| / rms)` per scheme over all tensors.
pub fn write_plots(dir: &Path, rows: &[Row], schemes: &[String], force: bool) -> Result<(), Error> {
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
