//! The scheme spec grammar `NAME[@KEY=VALUE]...` and the reference presets.

use super::{
    BlockInf, BlockNan, Fp8Formula, Fp8Granularity, Fp8Options, Fp8ScaleFormat, Int8Range, MxElem, Nvfp4Options,
    Nvfp4Policy, Scheme, SchemeKind, TE_RHT_SIGNS,
};
use crate::Error;
use crate::convert::{NanPolicy, Rounding};
use crate::format::ElemFormat;
use crate::scale::MxScaleRule;
use core::fmt;
use core::str::FromStr;

/// A reference quantizer whose every knob a preset reproduces (`like=…`).
///
/// | preset | MX | NVFP4 | FP8 |
/// |---|---|---|---|
/// | `ocp` | FLOOR, NaN propagates, saturating RNE (MX v1.0 §6.3) | – | – |
/// | `torchao` | FLOOR (`scale-rule=rceil` → torchao's float-log2 RCEIL) | torchao policy, 2^-6 clamp | – |
/// | `te` | RCEIL, NaN ignored in the amax, `cvt.rn.satfinite` | TE policy, global scale on | `448/amax`, eps 0; pow2 scales for `fp8-block` |
/// | `deepgemm` | – | – | `amax/448`, amax ≥ 1e-4, f32 scales |
/// | `microxcaling` | FLOOR, round half away, Inf → NaN block | – | – |
///
/// Known reference bugs lowp does not copy (counts measured on the golden set,
/// see `tests/golden_mx.rs`): torchao at scale 2^-127 (scales by 2^126 or 1
/// instead of 2^127); microxcaling's f32 `log2` (scale one too high for amax just
/// below a power of two; bug-compatible rule `scale-rule=floor-log2`) and its
/// f32 `floor(|y| + 0.5)` (rounds some values just below a rounding boundary up).
///
/// # Examples
/// ```
/// use lowp::block::{QuantLike, Scheme};
/// let te: Scheme = "mxfp8-e4m3@like=te".parse().unwrap();
/// assert_eq!(te, Scheme::mx(lowp::block::MxElem::Float(lowp::format::ElemFormat::E4M3FN)).like(QuantLike::Te).unwrap());
/// assert!("nvfp4@like=deepgemm".parse::<Scheme>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantLike {
    /// The OCP MX v1.0 spec text.
    Ocp,
    /// torchao 0.18 `prototype.mx_formats`.
    Torchao,
    /// NVIDIA TransformerEngine.
    Te,
    /// deepseek-ai/DeepGEMM test utilities.
    Deepgemm,
    /// microsoft/microxcaling (Python path).
    Microxcaling,
}

impl QuantLike {
    const ALL: [(QuantLike, &'static str); 5] = [
        (QuantLike::Ocp, "ocp"),
        (QuantLike::Torchao, "torchao"),
        (QuantLike::Te, "te"),
        (QuantLike::Deepgemm, "deepgemm"),
        (QuantLike::Microxcaling, "microxcaling"),
    ];
    /// The preset's name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(l, _)| *l == self).map(|(_, n)| *n).unwrap_or("?")
    }
}

impl FromStr for QuantLike {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let l = s.trim().to_ascii_lowercase();
        Self::ALL.iter().find(|(_, n)| *n == l).map(|(q, _)| *q).ok_or_else(|| {
            Error::InvalidOption(format!("unknown reference '{s}' (expected ocp, torchao, te, deepgemm, microxcaling)"))
        })
    }
}

fn on_off(k: &str, v: &str) -> Result<bool, Error> {
    match v {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(Error::InvalidOption(format!("{k} takes on or off, not '{v}'"))),
    }
}

fn nan_name(p: NanPolicy) -> &'static str {
    match p {
        NanPolicy::PositiveMax => "max",
        NanPolicy::SignedMax => "signed-max",
        NanPolicy::Zero => "zero",
        NanPolicy::SignFlippedZero => "sign-flipped-zero",
        NanPolicy::Error => "error",
    }
}

fn rounding_name(r: Rounding) -> &'static str {
    match r {
        Rounding::NearestEven => "rne",
        Rounding::NearestAway => "away",
        Rounding::NearestTowardZero => "ties-zero",
        Rounding::TowardZero => "zero",
        Rounding::TowardPositive => "up",
        Rounding::TowardNegative => "down",
        Rounding::Stochastic { .. } => "sr",
    }
}

impl Scheme {
    /// The scheme of a name (`mxfp8-e4m3`, `mxfp8-e5m2`, `mxfp6-e2m3`, `mxfp6-e3m2`,
    /// `mxfp4`, `mxint8`, `nvfp4`, `fp8-block`, `fp8-row`, `fp8-tensor`) with its defaults.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an unknown name.
    pub fn named(name: &str) -> Result<Scheme, Error> {
        let f = |e| Ok(Scheme::mx(MxElem::Float(e)));
        match name.trim().to_ascii_lowercase().as_str() {
            "mxfp8-e4m3" | "mxfp8" => f(ElemFormat::E4M3FN),
            "mxfp8-e5m2" => f(ElemFormat::E5M2),
            "mxfp6-e2m3" | "mxfp6" => f(ElemFormat::E2M3FN),
            "mxfp6-e3m2" => f(ElemFormat::E3M2FN),
            "mxfp4" => f(ElemFormat::E2M1FN),
            "mxint8" => Ok(Scheme::mx(MxElem::Int8(Int8Range::Symmetric))),
            "nvfp4" => Ok(Scheme::nvfp4()),
            "fp8-block" => Ok(Scheme::fp8(Fp8Granularity::Block)),
            "fp8-row" => Ok(Scheme::fp8(Fp8Granularity::Row)),
            "fp8-tensor" => Ok(Scheme::fp8(Fp8Granularity::Tensor)),
            _ => Err(Error::InvalidOption(format!(
                "unknown scheme '{name}' (expected mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4, mxint8, nvfp4, fp8-block, fp8-row, fp8-tensor)"
            ))),
        }
    }

    /// This scheme with every knob set as `like` sets it (tile and axis kept).
    ///
    /// # Errors
    /// [`Error::Unsupported`] where the reference has no such scheme.
    pub fn like(mut self, like: QuantLike) -> Result<Scheme, Error> {
        let name = self.name();
        let nope = || Error::Unsupported(format!("{} has no {name} quantizer in lowp's presets", like.name()));
        self.rounding = Rounding::NearestEven;
        self.kind = match (self.kind, like) {
            (SchemeKind::Mx(o), QuantLike::Ocp | QuantLike::Torchao) => SchemeKind::Mx(super::MxOptions::new(o.elem)),
            (SchemeKind::Mx(o), QuantLike::Te) => SchemeKind::Mx(super::MxOptions {
                rule: MxScaleRule::Rceil,
                nan: BlockNan::Ignore,
                ..super::MxOptions::new(o.elem)
            }),
            (SchemeKind::Mx(o), QuantLike::Microxcaling) => {
                self.rounding = Rounding::NearestAway;
                SchemeKind::Mx(super::MxOptions { inf: BlockInf::Nan, ..super::MxOptions::new(o.elem) })
            }
            (SchemeKind::Nvfp4(o), QuantLike::Torchao) => SchemeKind::Nvfp4(Nvfp4Options {
                policy: Nvfp4Policy::Torchao,
                ..Nvfp4Options { rht: o.rht, ..Default::default() }
            }),
            (SchemeKind::Nvfp4(o), QuantLike::Te) => SchemeKind::Nvfp4(Nvfp4Options {
                policy: Nvfp4Policy::Te,
                global_scale: true,
                rht: o.rht,
                elem_nan: NanPolicy::Zero,
                neg_zero_plus: true,
            }),
            (SchemeKind::Fp8(o), QuantLike::Te) => {
                SchemeKind::Fp8(Fp8Options { elem: o.elem, ..Fp8Options::te(o.granularity) })
            }
            (SchemeKind::Fp8(o), QuantLike::Deepgemm) => {
                SchemeKind::Fp8(Fp8Options { elem: o.elem, ..Fp8Options::deepgemm(o.granularity) })
            }
            _ => return Err(nope()),
        };
        Ok(self)
    }

    /// Sets one option from its spec key and value.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an unknown key, a bad value or a key that does
    /// not apply to this scheme.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (k, v) = (key.trim().to_ascii_lowercase(), value.trim());
        let lv = v.to_ascii_lowercase();
        let bad = |what: &str| Error::InvalidOption(format!("{k}={v}: {what}"));
        let name = self.name();
        let na = || Error::InvalidOption(format!("option '{k}' does not apply to {name}"));
        match (k.as_str(), &mut self.kind) {
            ("like", _) => *self = self.like(lv.parse()?)?,
            ("block", SchemeKind::Fp8(o)) if o.granularity != Fp8Granularity::Block => return Err(na()),
            ("block", _) => self.tile = v.parse()?,
            ("axis", _) => self.axis = v.parse().map_err(|_| bad("not an integer"))?,
            ("rounding", _) => {
                self.rounding = match lv.as_str() {
                    "rne" | "even" | "nearest-even" => Rounding::NearestEven,
                    "away" | "nearest-away" => Rounding::NearestAway,
                    "ties-zero" => Rounding::NearestTowardZero,
                    "zero" | "floor" | "rz" => Rounding::TowardZero,
                    "up" | "rp" => Rounding::TowardPositive,
                    "down" | "rm" => Rounding::TowardNegative,
                    "sr" | "stochastic" => Rounding::Stochastic { bits: 8 },
                    _ => return Err(bad("expected rne, away, ties-zero, zero, up, down or sr")),
                }
            }
            ("sr-bits", _) => {
                let b: u8 = v.parse().ok().filter(|b| (1..=32).contains(b)).ok_or_else(|| bad("expected 1..=32"))?;
                self.rounding = Rounding::Stochastic { bits: b };
            }
            ("seed", _) => self.seed = v.parse().map_err(|_| bad("not an unsigned integer"))?,
            ("scale-rule", SchemeKind::Mx(o)) => {
                let r: MxScaleRule = lv.parse()?;
                o.rule = r;
            }
            ("nan", SchemeKind::Mx(o)) => {
                o.nan = match lv.as_str() {
                    "propagate" => BlockNan::Propagate,
                    "ignore" => BlockNan::Ignore,
                    _ => return Err(bad("expected propagate or ignore")),
                }
            }
            ("inf", SchemeKind::Mx(o)) => {
                o.inf = match lv.as_str() {
                    "saturate" => BlockInf::Saturate,
                    "nan" => BlockInf::Nan,
                    _ => return Err(bad("expected saturate or nan")),
                }
            }
            ("int8-range", SchemeKind::Mx(o)) => {
                let r = match lv.as_str() {
                    "symmetric" => Int8Range::Symmetric,
                    "full" => Int8Range::Full,
                    _ => return Err(bad("expected symmetric or full")),
                };
                match o.elem {
                    MxElem::Int8(_) => o.elem = MxElem::Int8(r),
                    _ => return Err(na()),
                }
            }
            ("elem", SchemeKind::Mx(o)) => {
                o.elem = if lv == "int8" { MxElem::Int8(Int8Range::Symmetric) } else { MxElem::Float(lv.parse()?) }
            }
            ("elem", SchemeKind::Fp8(o)) => o.elem = lv.parse()?,
            ("scale-format", SchemeKind::Mx(_)) if lv == "e8m0" || lv == "ue8m0" => {}
            ("scale-format", SchemeKind::Nvfp4(_)) if lv == "ue4m3" || lv == "e4m3" => {}
            ("scale-format", SchemeKind::Fp8(o)) => {
                o.scale_format = match lv.as_str() {
                    "f32" => Fp8ScaleFormat::F32,
                    "pow2" => Fp8ScaleFormat::Pow2,
                    "ue8m0" | "e8m0" => Fp8ScaleFormat::Ue8m0,
                    _ => return Err(bad("expected f32, pow2 or ue8m0")),
                }
            }
            ("scale-format", _) => return Err(bad("this scheme's scale format is fixed (MX: e8m0, NVFP4: ue4m3)")),
            ("global-scale", SchemeKind::Nvfp4(o)) => o.global_scale = on_off(&k, &lv)?,
            ("policy", SchemeKind::Nvfp4(o)) => {
                o.policy = match lv.as_str() {
                    "torchao" => Nvfp4Policy::Torchao,
                    "te" => Nvfp4Policy::Te,
                    _ => return Err(bad("expected torchao or te")),
                }
            }
            ("rht", SchemeKind::Nvfp4(o)) => o.rht = on_off(&k, &lv)?.then_some(o.rht.unwrap_or(TE_RHT_SIGNS)),
            ("neg-zero", SchemeKind::Nvfp4(o)) => {
                o.neg_zero_plus = match lv.as_str() {
                    "plus" => true,
                    "keep" => false,
                    _ => return Err(bad("expected plus or keep")),
                }
            }
            ("rht-signs", SchemeKind::Nvfp4(o)) => {
                let s: Vec<bool> = v.chars().map(|c| c == '-').collect();
                if s.len() != 16 || v.chars().any(|c| c != '+' && c != '-') {
                    return Err(bad("expected 16 characters of + and -"));
                }
                o.rht = Some(core::array::from_fn(|i| s[i]));
            }
            ("elem-nan", SchemeKind::Mx(_) | SchemeKind::Nvfp4(_)) => {
                let p = match lv.as_str() {
                    "max" => NanPolicy::PositiveMax,
                    "signed-max" => NanPolicy::SignedMax,
                    "zero" => NanPolicy::Zero,
                    "sign-flipped-zero" => NanPolicy::SignFlippedZero,
                    _ => return Err(bad("expected max, signed-max, zero or sign-flipped-zero")),
                };
                match &mut self.kind {
                    SchemeKind::Mx(o) => o.elem_nan = p,
                    SchemeKind::Nvfp4(o) => o.elem_nan = p,
                    SchemeKind::Fp8(_) => unreachable!(),
                }
            }
            ("formula", SchemeKind::Fp8(o)) => {
                o.formula = match lv.as_str() {
                    "deepseek" | "deepseek-v2" => Fp8Formula::DeepSeek,
                    "deepseek-v1" => Fp8Formula::DeepSeekV1,
                    "te" => Fp8Formula::Te,
                    _ => return Err(bad("expected deepseek, deepseek-v1 or te")),
                }
            }
            ("amax-floor" | "eps", SchemeKind::Fp8(o)) => o.amax_floor = v.parse().map_err(|_| bad("not a number"))?,
            (
                "scale-rule" | "nan" | "inf" | "int8-range" | "elem" | "global-scale" | "policy" | "rht" | "rht-signs"
                | "formula" | "amax-floor" | "eps" | "elem-nan",
                _,
            ) => return Err(na()),
            _ => return Err(Error::InvalidOption(format!("unknown scheme option '{k}'"))),
        }
        Ok(())
    }

    /// Checks that the options fit together.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.tile.rows == 0 || self.tile.cols == 0 {
            return Err(Error::InvalidOption(format!("block {} has a zero side", self.tile)));
        }
        if let Rounding::Stochastic { bits } = self.rounding
            && !(1..=32).contains(&bits)
        {
            return Err(Error::InvalidOption(format!("stochastic rounding takes 1..=32 bits, not {bits}")));
        }
        match self.kind {
            SchemeKind::Mx(o) => o.check(),
            SchemeKind::Fp8(o) => o.check(),
            SchemeKind::Nvfp4(_) => Ok(()),
        }
    }
}

impl FromStr for Scheme {
    type Err = Error;
    /// Parses `NAME[@KEY=VALUE]...`; `like` is applied first wherever it appears,
    /// then the other keys in order.
    fn from_str(spec: &str) -> Result<Scheme, Error> {
        let mut parts = spec.split('@');
        let mut s = Scheme::named(parts.next().unwrap_or(""))?;
        let mut kv = Vec::new();
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| Error::InvalidOption(format!("'{p}' in scheme '{spec}' is not KEY=VALUE")))?;
            kv.push((k.trim(), v.trim()));
        }
        if let Some((_, v)) = kv.iter().find(|(k, _)| k.eq_ignore_ascii_case("like")) {
            s = s.like(v.parse()?)?;
        }
        for (k, v) in kv.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("like")) {
            s.set(k, v)?;
        }
        s.check()?;
        Ok(s)
    }
}

impl fmt::Display for Scheme {
    /// The full spec: name and every option, parseable back to an equal scheme.
    ///
    /// ```
    /// use lowp::block::Scheme;
    /// for spec in ["mxfp8-e4m3@like=te", "nvfp4@like=te@rht=on", "fp8-block@block=128x128", "mxint8", "fp8-row@like=te"] {
    ///     let s: Scheme = spec.parse().unwrap();
    ///     assert_eq!(s.to_string().parse::<Scheme>().unwrap(), s, "{s}");
    /// }
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match self.kind {
            SchemeKind::Fp8(o) if o.granularity != Fp8Granularity::Block => {}
            _ => write!(f, "@block={}", self.tile)?,
        }
        if self.axis != -1 {
            write!(f, "@axis={}", self.axis)?;
        }
        match self.kind {
            SchemeKind::Mx(o) => {
                write!(f, "@scale-rule={}", o.rule)?;
                write!(f, "@nan={}", if o.nan == BlockNan::Ignore { "ignore" } else { "propagate" })?;
                write!(f, "@inf={}", if o.inf == BlockInf::Nan { "nan" } else { "saturate" })?;
                write!(f, "@elem-nan={}", nan_name(o.elem_nan))?;
                match o.elem {
                    MxElem::Int8(r) => {
                        write!(f, "@int8-range={}", if r == Int8Range::Full { "full" } else { "symmetric" })?
                    }
                    MxElem::Float(e) if o.elem.scheme_name() == "mx" => write!(f, "@elem={e}")?,
                    MxElem::Float(_) => {}
                }
            }
            SchemeKind::Nvfp4(o) => {
                write!(f, "@policy={}", if o.policy == Nvfp4Policy::Te { "te" } else { "torchao" })?;
                write!(f, "@global-scale={}", if o.global_scale { "on" } else { "off" })?;
                write!(f, "@elem-nan={}", nan_name(o.elem_nan))?;
                if o.neg_zero_plus {
                    write!(f, "@neg-zero=plus")?;
                }
                if let Some(signs) = o.rht {
                    let s: String = signs.iter().map(|&m| if m { '-' } else { '+' }).collect();
                    write!(f, "@rht-signs={s}")?;
                }
            }
            SchemeKind::Fp8(o) => {
                write!(f, "@elem={}", o.elem)?;
                let formula = match o.formula {
                    Fp8Formula::DeepSeek => "deepseek",
                    Fp8Formula::DeepSeekV1 => "deepseek-v1",
                    Fp8Formula::Te => "te",
                };
                let sf = match o.scale_format {
                    Fp8ScaleFormat::F32 => "f32",
                    Fp8ScaleFormat::Pow2 => "pow2",
                    Fp8ScaleFormat::Ue8m0 => "ue8m0",
                };
                write!(f, "@formula={formula}@scale-format={sf}@amax-floor={:e}", o.amax_floor)?;
            }
        }
        match self.rounding {
            Rounding::Stochastic { bits } => write!(f, "@sr-bits={bits}@seed={}", self.seed)?,
            r => write!(f, "@rounding={}", rounding_name(r))?,
        }
        Ok(())
    }
}
