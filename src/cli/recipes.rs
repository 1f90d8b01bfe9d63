//! `lowp compare --recipes`: each GEMM of a linear layer under each training
//! recipe against the exact unquantized product ([`lowp::recipe::recipe_errors`]).

use super::compare::CompareArgs;
use lowp::Error;
use lowp::recipe::{GemmError, Recipe, RecipeName, recipe_errors, sample_layer};

/// The recipe specs of `--recipes` (`all`: every recipe but te-delayed, which
/// needs the caller's amax histories).
fn recipe_specs(list: &str) -> Result<Vec<(String, Recipe)>, Error> {
    let mut specs: Vec<String> = Vec::new();
    for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if s == "all" {
            specs.extend(RecipeName::ALL.iter().filter(|&&r| r != RecipeName::TeDelayed).map(|r| r.to_string()));
        } else {
            specs.push(s.to_string());
        }
    }
    if specs.is_empty() {
        return Err(Error::InvalidOption("--recipes is empty".into()));
    }
    specs.into_iter().map(|s| s.parse().map(|r| (s, r))).collect()
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:e}") } else { "null".into() }
}

/// One output line per GEMM: table, CSV or JSON.
fn line(a: &CompareArgs, spec: &str, e: Result<&GemmError, &str>) -> String {
    match (e, a.json, a.csv) {
        (Ok(e), true, _) => format!(
            "{{\"recipe\":{},\"gemm\":\"{}\",\"sqnr_db\":{},\"calc_diff\":{},\"max_abs\":{},\"max_rel\":{}}}",
            super::compare::json_str(spec),
            e.gemm,
            num(e.sqnr_db),
            num(e.calc_diff),
            num(e.max_abs),
            num(e.max_rel)
        ),
        (Err(r), true, _) => {
            format!("{{\"recipe\":{},\"unsupported\":{}}}", super::compare::json_str(spec), super::compare::json_str(r))
        }
        (Ok(e), _, true) => format!(
            "\"{}\",{},{},{},{},{}",
            spec.replace('"', "\"\""),
            e.gemm,
            e.sqnr_db,
            e.calc_diff,
            e.max_abs,
            e.max_rel
        ),
        (Err(r), _, true) => format!("\"{}\",n/a,,,,,\"{}\"", spec.replace('"', "\"\""), r.replace('"', "\"\"")),
        (Ok(e), false, false) => format!(
            "{spec:<w$}  {:<5}  {:>8.2}  {:>9}  {:>9}  {:>9}",
            e.gemm,
            e.sqnr_db,
            super::compare::sci(e.calc_diff),
            super::compare::sci(e.max_abs),
            super::compare::sci(e.max_rel),
            w = width(a)
        ),
        (Err(r), false, false) => format!("{spec:<w$}  n/a: {r}", w = width(a)),
    }
}

fn width(a: &CompareArgs) -> usize {
    a.recipes.as_deref().map_or(0, |l| l.split(',').map(|s| s.trim().len()).max().unwrap_or(0)).max(24)
}

pub fn compare_recipes(a: &CompareArgs, list: &str) -> Result<(), Error> {
    let recipes = recipe_specs(list)?;
    if !a.files.is_empty() {
        return Err(Error::InvalidOption("--recipes takes the layer as --x, --w and --dy, not FILES".into()));
    }
    let (x, w, dy, dims) = match (&a.x, &a.w) {
        (Some(x), Some(w)) => super::linear::layer(x, w, a.dy.as_ref())?,
        (None, None) if a.dy.is_none() => {
            let (x, w, dy, dims) = sample_layer();
            (x, w, Some(dy), dims)
        }
        _ => {
            return Err(Error::InvalidOption(
                "--recipes needs both --x and --w (or neither: the built-in layer)".into(),
            ));
        }
    };
    let [t, i, o] = dims;
    if !a.json {
        let src = a.x.as_ref().map_or("the built-in layer".to_string(), |p| p.display().to_string());
        eprintln!("lowp: {src}: T = {t}, IN = {i}, OUT = {o}; seed {}", a.seed);
    }
    let header = if a.json {
        None
    } else if a.csv {
        Some("recipe,gemm,sqnr_db,calc_diff,max_abs,max_rel,unsupported".to_string())
    } else {
        Some(format!(
            "{:<w$}  {:<5}  {:>8}  {:>9}  {:>9}  {:>9}",
            "recipe",
            "gemm",
            "SQNR dB",
            "calc_diff",
            "max abs",
            "max rel",
            w = width(a)
        ))
    };
    if let Some(h) = header {
        super::args::emit(&(h + "\n"))?;
    }
    for (spec, r) in &recipes {
        let mut text = String::new();
        match recipe_errors(&x, &w, dy.as_deref(), dims, r, a.seed) {
            Ok(errs) => errs.iter().for_each(|e| text += &(line(a, spec, Ok(e)) + "\n")),
            Err(e) => text += &(line(a, spec, Err(&e.to_string())) + "\n"),
        }
        super::args::emit(&text)?;
    }
    Ok(())
}
