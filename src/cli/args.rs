//! What several commands share: the scheme flags (`quantize`, `matmul`), and
//! printing to standard output (a closed pipe ends the command quietly).

use clap::Args;
use lowp::Error;

/// The scheme of a command: a spec `NAME[@KEY=VALUE]...`, and flags that add a
/// key each. A flag that contradicts a key of the spec is an error.
#[derive(Args, Clone, Debug, Default)]
pub struct SchemeArgs {
    /// Scheme spec NAME[@KEY=VALUE]...: mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4, mxint8,
    /// nvfp4, fp8-block, fp8-row, fp8-tensor (keys: see `lowp::block`).
    #[arg(long)]
    pub scheme: String,
    /// Reference preset of the scheme (and of a plain element cast): torchao | te | deepgemm |
    /// microxcaling | ocp (casts: ml_dtypes, ml_dtypes-0.6, torch, torch-2.11, ptx, cutlass, gfloat, ...).
    #[arg(long)]
    pub like: Option<String>,
    /// MX scale rule: floor | ceil | even | rceil (the preset's RCEIL) | rceil-cublas | rceil-torchao | floor-log2.
    #[arg(long)]
    pub scale_rule: Option<String>,
    /// Block: N (1xN) or RxC (e.g. 32, 1x128, 16x16, 32x1).
    #[arg(long)]
    pub block: Option<String>,
    /// NVFP4 global scale: on (per tensor) | off | row (one per row of the blocked view, TE row-scaled).
    #[arg(long)]
    pub global_scale: Option<String>,
    /// Element format (fp8-*: e4m3fn | e5m2; MX: any element format or int8).
    #[arg(long)]
    pub elem: Option<String>,
    /// FP8 scale format: f32 | pow2 | ue8m0.
    #[arg(long)]
    pub scale_format: Option<String>,
}

impl SchemeArgs {
    /// The flags as `(key, value)`, in spec-grammar keys.
    pub fn flags(&self) -> Vec<(&'static str, &str)> {
        [
            ("like", &self.like),
            ("scale-rule", &self.scale_rule),
            ("block", &self.block),
            ("global-scale", &self.global_scale),
            ("elem", &self.elem),
            ("scale-format", &self.scale_format),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// `spec` with every flag appended as `@key=value`.
    ///
    /// # Errors
    /// A flag whose key the spec already sets to another value.
    pub fn with_flags(&self, spec: &str) -> Result<String, Error> {
        with_keys(spec, &self.flags())
    }

    /// The full spec: `--scheme` with the flags.
    ///
    /// # Errors
    /// As [`Self::with_flags`].
    pub fn spec(&self) -> Result<String, Error> {
        self.with_flags(&self.scheme)
    }
}

/// `spec` with `keys` appended ([`lowp::spec_with`]); a contradiction is named
/// as the flag the user typed (`--block 32 contradicts @block=16 in '...'`).
pub fn with_keys(spec: &str, keys: &[(&str, &str)]) -> Result<String, Error> {
    lowp::spec_with(spec, keys).map_err(|e| match e {
        Error::InvalidOption(m) if m.contains(" contradicts ") => {
            Error::InvalidOption(format!("--{}", m.replacen('=', " ", 1)))
        }
        e => e,
    })
}

/// Prints to standard output; a closed pipe is [`Error::Closed`] (the command
/// then ends quietly with status 0, as `lowp ... | head` users expect).
pub fn emit(text: &str) -> Result<(), Error> {
    lowp::io::out::Output::Stdout.write(text.as_bytes())
}
