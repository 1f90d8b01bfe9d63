//! One name per value: the table every option enum's `ALL`, `name`, `Display` and
//! `FromStr` come from, so the CLI flags, the spec grammar (`NAME@KEY=VALUE`) and
//! the error messages spell every value the same way.

/// Implements, for a fieldless enum, `ALL` (every value, table order), `name()`
/// (the one spelling), `Display` (the name) and `FromStr` (the name, ASCII
/// case-insensitive; anything else is [`crate::Error::InvalidOption`] listing
/// every valid name). An `aliases` list adds names that stand for a value by
/// rule (an unversioned reference name means its newest release).
macro_rules! names {
    ($ty:ident, $what:literal, { $($v:ident => $name:literal),+ $(,)? }) => {
        crate::names::names!($ty, $what, { $($v => $name),+ }, aliases {});
    };
    ($ty:ident, $what:literal, { $($v:ident => $name:literal),+ $(,)? },
     aliases { $($alias:literal => $av:ident),* $(,)? }) => {
        impl $ty {
            /// Every value, in the order of the name table.
            pub const ALL: &'static [$ty] = &[$($ty::$v),+];
            /// The value's name in the CLI and the spec grammar.
            pub const fn name(self) -> &'static str {
                match self { $($ty::$v => $name),+ }
            }
        }
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl core::str::FromStr for $ty {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<$ty, crate::Error> {
                let t = s.trim();
                let aliases: &[(&str, $ty)] = &[$(($alias, $ty::$av)),*];
                if let Some((_, v)) = aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(t)) {
                    return Ok(*v);
                }
                $ty::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(t)).ok_or_else(|| {
                    let names = aliases.iter().map(|(a, _)| *a).chain($ty::ALL.iter().map(|v| v.name()));
                    crate::Error::InvalidOption(format!(
                        concat!("unknown ", $what, " '{}' (expected one of: {})"),
                        s,
                        crate::names::list(names)
                    ))
                })
            }
        }
    };
}
pub(crate) use names;

/// `a, b, c`: the valid names an error message lists.
pub(crate) fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// `on`/`off` (also `true`/`false`, `1`/`0`, `yes`/`no`) for switch keys.
pub(crate) fn on_off(key: &str, v: &str) -> Result<bool, crate::Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(crate::Error::InvalidOption(format!("{key} takes on or off, not '{v}'"))),
    }
}

/// The `(key, value)` options of a spec, in order.
pub type SpecOptions<'a> = Vec<(&'a str, &'a str)>;

/// The `KEY=VALUE` options of a spec `NAME@KEY=VALUE@...`, the one parser of
/// every spec grammar (schemes, accumulation models): the name, then each
/// `(key, value)` in order. A part without `=` and a key given twice are errors.
///
/// # Examples
/// ```
/// let (name, kv) = lowp::spec_parts("mxfp8-e4m3@block=32@like=te").unwrap();
/// assert_eq!((name, kv), ("mxfp8-e4m3", vec![("block", "32"), ("like", "te")]));
/// assert!(lowp::spec_parts("nvfp4@rht").is_err());
/// assert!(lowp::spec_parts("sm90@n=16@n=32").is_err());
/// ```
pub fn spec_parts(spec: &str) -> Result<(&str, SpecOptions<'_>), crate::Error> {
    let mut parts = spec.trim().split('@');
    let name = parts.next().unwrap_or("").trim();
    let mut kv: Vec<(&str, &str)> = Vec::new();
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| crate::Error::InvalidOption(format!("'{p}' in '{spec}' is not KEY=VALUE")))?;
        let (k, v) = (k.trim(), v.trim());
        if kv.iter().any(|(q, _)| q.eq_ignore_ascii_case(k)) {
            return Err(crate::Error::InvalidOption(format!("'{spec}' sets '{k}' twice")));
        }
        kv.push((k, v));
    }
    Ok((name, kv))
}

/// `spec` with each `(key, value)` appended as `@key=value`: how a front end's
/// separate options (CLI flags, Python keyword arguments) join a spec, the one
/// routine for both. A key the spec already sets to the same value is kept once;
/// to another value it is an error (neither silently wins). Values are compared
/// ASCII case-insensitively.
///
/// # Errors
/// [`crate::Error::InvalidOption`] naming the contradiction, or the spec's own
/// grammar error.
///
/// # Examples
/// ```
/// assert_eq!(lowp::spec_with("nvfp4@block=16", &[("like", "te")]).unwrap(), "nvfp4@block=16@like=te");
/// assert_eq!(lowp::spec_with("nvfp4@like=TE", &[("like", "te")]).unwrap(), "nvfp4@like=TE");
/// assert!(lowp::spec_with("nvfp4@like=torchao", &[("like", "te")]).unwrap_err().to_string().contains("contradicts"));
/// ```
pub fn spec_with(spec: &str, keys: &[(&str, &str)]) -> Result<String, crate::Error> {
    let (_, given) = spec_parts(spec)?;
    let mut s = spec.trim().to_string();
    let mut added: Vec<(&str, &str)> = Vec::new();
    for &(k, v) in keys {
        match given.iter().chain(&added).find(|(q, _)| q.eq_ignore_ascii_case(k)) {
            Some((_, w)) if w.eq_ignore_ascii_case(v) => {}
            Some((_, w)) => {
                return Err(crate::Error::InvalidOption(format!("{k}={v} contradicts @{k}={w} in '{spec}'")));
            }
            None => {
                s.push_str(&format!("@{k}={v}"));
                added.push((k, v));
            }
        }
    }
    Ok(s)
}
