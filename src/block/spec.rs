//! The scheme spec grammar `NAME[@KEY=VALUE]...` and the reference presets.

use super::{
    BlockInf, BlockNan, Fp8Formula, Fp8Granularity, Fp8Options, Fp8ScaleFormat, Int8Range, MxElem, Nvfp4Options,
    Nvfp4Policy, Scheme, SchemeKind, TE_RHT_SIGNS,
};

crate::names::names!(BlockNan, "block NaN policy", { Propagate => "propagate", Ignore => "ignore" });
crate::names::names!(BlockInf, "block Inf policy", { Saturate => "saturate", Nan => "nan" });
crate::names::names!(Int8Range, "int8 range", { Symmetric => "symmetric", Full => "full" });
crate::names::names!(Nvfp4Policy, "NVFP4 policy", { Torchao => "torchao", Te => "te", TorchaoTraining => "torchao-training" });
crate::names::names!(Fp8Formula, "FP8 scale formula", { DeepSeek => "deepseek", DeepSeekV1 => "deepseek-v1", Te => "te" });
crate::names::names!(Fp8ScaleFormat, "FP8 scale format", { F32 => "f32", Pow2 => "pow2", Ue8m0 => "ue8m0" });
use crate::Error;
use crate::convert::{Like, NanPolicy, Rounding};
use crate::format::ElemFormat;
use crate::names::on_off;
use crate::scale::MxScaleRule;
use core::fmt;
use core::str::FromStr;

impl Scheme {
    /// Every scheme name [`Self::named`] takes.
    pub const NAMES: [&'static str; 10] = [
        "mxfp8-e4m3",
        "mxfp8-e5m2",
        "mxfp6-e2m3",
        "mxfp6-e3m2",
        "mxfp4",
        "mxint8",
        "nvfp4",
        "fp8-block",
        "fp8-row",
        "fp8-tensor",
    ];

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
                "unknown scheme '{name}' (expected one of: {})",
                Self::NAMES.join(", ")
            ))),
        }
    }

    /// This scheme with every knob set as `like` sets it (tile and axis kept), and
    /// `like` remembered: under a preset a rule name means that reference's rule
    /// (`scale-rule=rceil` is torchao's float-log2 RCEIL under `like=torchao`, cuBLAS's
    /// exact one otherwise).
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
    /// # Errors
    /// [`Error::Unsupported`] where the reference has no such quantizer (the
    /// element-cast references `ml_dtypes`, `torch`, `ptx`, `cutlass`, `gfloat` have none).
    ///
    /// # Examples
    /// ```
    /// use lowp::{block::{MxElem, Scheme}, convert::Like, format::ElemFormat};
    /// let te: Scheme = "mxfp8-e4m3@like=te".parse().unwrap();
    /// assert_eq!(te, Scheme::mx(MxElem::Float(ElemFormat::E4M3FN)).like(Like::Te).unwrap());
    /// assert!("nvfp4@like=deepgemm".parse::<Scheme>().is_err());
    /// ```
    pub fn like(mut self, like: Like) -> Result<Scheme, Error> {
        let name = self.name();
        let nope = || Error::Unsupported(format!("{} has no {name} quantizer", like.name()));
        self.rounding = Rounding::NearestEven;
        self.kind = match (self.kind, like) {
            (SchemeKind::Mx(o), Like::Ocp | Like::Torchao) => SchemeKind::Mx(super::MxOptions::new(o.elem)),
            (SchemeKind::Mx(o), Like::Te) => SchemeKind::Mx(super::MxOptions {
                rule: MxScaleRule::Rceil,
                nan: BlockNan::Ignore,
                ..super::MxOptions::new(o.elem)
            }),
            (SchemeKind::Mx(o), Like::Microxcaling) => {
                self.rounding = Rounding::NearestAway;
                SchemeKind::Mx(super::MxOptions { inf: BlockInf::Nan, ..super::MxOptions::new(o.elem) })
            }
            (SchemeKind::Nvfp4(o), Like::Torchao) => SchemeKind::Nvfp4(Nvfp4Options {
                policy: Nvfp4Policy::Torchao,
                ..Nvfp4Options { rht: o.rht, ..Default::default() }
            }),
            (SchemeKind::Nvfp4(o), Like::Te) => SchemeKind::Nvfp4(Nvfp4Options {
                policy: Nvfp4Policy::Te,
                global_scale: true,
                rht: o.rht,
                elem_nan: NanPolicy::Zero,
                neg_zero_plus: true,
                ..Default::default()
            }),
            (SchemeKind::Fp8(o), Like::Te) => {
                SchemeKind::Fp8(Fp8Options { elem: o.elem, amax: o.amax, ..Fp8Options::te(o.granularity) })
            }
            (SchemeKind::Fp8(o), Like::Deepgemm) => {
                SchemeKind::Fp8(Fp8Options { elem: o.elem, amax: o.amax, ..Fp8Options::deepgemm(o.granularity) })
            }
            _ => return Err(nope()),
        };
        self.preset = Some(like);
        Ok(self)
    }

    /// Sets one option from its spec key and value (the names of every value are
    /// the enums' `name()`s: `rounding=rne`, `nan=ignore`, ...).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an unknown key (the message lists the keys), a
    /// bad value or a key that does not apply to this scheme.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::Scheme;
    /// let mut s: Scheme = "mxfp8-e4m3@like=torchao".parse().unwrap();
    /// s.set("scale-rule", "rceil").unwrap();
    /// assert!(s.to_string().contains("scale-rule=rceil-torchao"));
    /// assert!(s.set("colour", "red").unwrap_err().to_string().contains("block"));
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (k, v) = (key.trim().to_ascii_lowercase(), value.trim());
        let lv = v.to_ascii_lowercase();
        let bad = |what: &str| Error::InvalidOption(format!("{k}={v}: {what}"));
        let name = self.name();
        let na = || Error::InvalidOption(format!("option '{k}' does not apply to {name}"));
        match (k.as_str(), &mut self.kind) {
            ("like", _) => *self = self.like(v.parse()?)?,
            ("block", SchemeKind::Fp8(o)) if o.granularity != Fp8Granularity::Block => return Err(na()),
            ("block", _) => self.tile = v.parse()?,
            ("axis", _) => self.axis = v.parse().map_err(|_| bad("not an integer"))?,
            ("rounding", _) => {
                let r: Rounding = v.parse()?;
                // a stochastic rounding keeps the bit count `sr-bits` gave
                self.rounding = match (r, self.rounding) {
                    (Rounding::Stochastic { .. }, Rounding::Stochastic { bits }) => Rounding::Stochastic { bits },
                    _ => r,
                };
            }
            ("sr-bits", _) => {
                let b: u8 = v.parse().map_err(|_| bad("expected 1..=32"))?;
                self.rounding = Rounding::Stochastic { bits: 8 }.with_sr_bits(b)?;
            }
            ("seed", _) => self.seed = v.parse().map_err(|_| bad("not an unsigned integer"))?,
            ("scale-rule", SchemeKind::Mx(o)) => {
                // under a preset a rule name means that reference's rule
                o.rule = match (lv.as_str(), self.preset) {
                    ("rceil", Some(Like::Torchao)) => MxScaleRule::RceilTorchao,
                    ("rceil", _) => MxScaleRule::Rceil,
                    _ => lv.parse()?,
                };
            }
            ("nan", SchemeKind::Mx(o)) => o.nan = v.parse()?,
            ("inf", SchemeKind::Mx(o)) => o.inf = v.parse()?,
            ("int8-range", SchemeKind::Mx(o)) => match o.elem {
                MxElem::Int8(_) => o.elem = MxElem::Int8(v.parse()?),
                _ => return Err(na()),
            },
            ("elem", SchemeKind::Mx(o)) => {
                o.elem = if lv == "int8" { MxElem::Int8(Int8Range::Symmetric) } else { MxElem::Float(lv.parse()?) }
            }
            ("elem", SchemeKind::Fp8(o)) => o.elem = lv.parse()?,
            ("scale-format", SchemeKind::Mx(_)) if lv == "e8m0" => {}
            ("scale-format", SchemeKind::Nvfp4(_)) if lv == "ue4m3" => {}
            ("scale-format", SchemeKind::Fp8(o)) => o.scale_format = v.parse()?,
            ("scale-format", _) => return Err(bad("this scheme's scale format is fixed (MX: e8m0, NVFP4: ue4m3)")),
            ("global-scale", SchemeKind::Nvfp4(o)) => {
                (o.global_scale, o.row_global) = match lv.as_str() {
                    "row" => (true, true),
                    _ => (on_off(&k, &lv)?, false),
                }
            }
            ("4over6", SchemeKind::Nvfp4(o)) => {
                let max = o.four_over_six.map_or(256, |f| f.e4m3_max);
                o.four_over_six = match lv.as_str() {
                    "off" => None,
                    "mae" => Some(super::FourOverSix { mse: false, e4m3_max: max }),
                    "mse" => Some(super::FourOverSix { mse: true, e4m3_max: max }),
                    _ => return Err(bad("expected mae, mse or off")),
                }
            }
            ("rht-round", SchemeKind::Nvfp4(o)) => {
                o.rht_bf16 = match lv.as_str() {
                    "bf16" => true,
                    "f32" => false,
                    _ => return Err(bad("expected bf16 or f32")),
                }
            }
            ("4over6-max", SchemeKind::Nvfp4(o)) => {
                let Some(f) = &mut o.four_over_six else {
                    return Err(bad("set 4over6=mae|mse before its global bound"));
                };
                f.e4m3_max = match lv.as_str() {
                    "256" => 256,
                    "448" => 448,
                    _ => return Err(bad("expected 256 or 448")),
                }
            }
            ("policy", SchemeKind::Nvfp4(o)) => o.policy = v.parse()?,
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
            ("elem-nan", SchemeKind::Mx(o)) => o.elem_nan = v.parse()?,
            ("elem-nan", SchemeKind::Nvfp4(o)) => o.elem_nan = v.parse()?,
            ("formula", SchemeKind::Fp8(o)) => o.formula = v.parse()?,
            ("amax-floor", SchemeKind::Fp8(o)) => o.amax_floor = v.parse().map_err(|_| bad("not a number"))?,
            ("amax", SchemeKind::Fp8(o)) => o.amax = Some(v.parse().map_err(|_| bad("not a number"))?),
            (k, _) if Self::KEYS.contains(&k) => return Err(na()),
            _ => {
                return Err(Error::InvalidOption(format!(
                    "unknown scheme option '{k}' (expected one of: {})",
                    Self::KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Every key of the spec grammar.
    pub const KEYS: &'static [&'static str] = &[
        "like",
        "block",
        "axis",
        "rounding",
        "sr-bits",
        "seed",
        "scale-rule",
        "nan",
        "inf",
        "int8-range",
        "elem",
        "scale-format",
        "global-scale",
        "4over6",
        "4over6-max",
        "rht-round",
        "policy",
        "rht",
        "neg-zero",
        "rht-signs",
        "elem-nan",
        "formula",
        "amax-floor",
        "amax",
    ];

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
            SchemeKind::Nvfp4(o) => {
                let te = o.policy == super::Nvfp4Policy::Te && o.global_scale;
                if o.rht_bf16 && o.rht.is_none() {
                    return Err(Error::InvalidOption("rht-round=bf16 rounds the Hadamard transform: set rht".into()));
                }
                if o.row_global && !(te && self.tile.rows == 1 && self.tile.cols == 16) {
                    return Err(Error::InvalidOption(
                        "global-scale=row (row-scaled NVFP4) takes policy=te and 1x16 blocks, as TE's quantizer".into(),
                    ));
                }
                if o.four_over_six.is_some() {
                    let tile = (self.tile.rows, self.tile.cols);
                    if !te || !matches!(tile, (1, 16) | (16, 16)) {
                        return Err(Error::InvalidOption(
                            "4over6 takes policy=te with a global scale and 1x16 or 16x16 blocks, as TE's quantizer"
                                .into(),
                        ));
                    }
                    if o.rht.is_some() || self.rounding != Rounding::NearestEven {
                        return Err(Error::InvalidOption(
                            "4over6 takes neither the Hadamard transform nor a rounding other than rne (TE: \"NVFP4 4over6 quantization does not support RHT / stochastic rounding\")".into(),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

impl FromStr for Scheme {
    type Err = Error;
    /// Parses `NAME[@KEY=VALUE]...`; `like` is applied first wherever it appears,
    /// then the other keys in order. A key given twice is an error.
    fn from_str(spec: &str) -> Result<Scheme, Error> {
        let (name, kv) = crate::spec_parts(spec)?;
        let mut s = Scheme::named(name)?;
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
        if let Some(l) = self.preset {
            write!(f, "@like={l}")?;
        }
        match self.kind {
            SchemeKind::Fp8(o) if o.granularity != Fp8Granularity::Block => {}
            _ => write!(f, "@block={}", self.tile)?,
        }
        if self.axis != -1 {
            write!(f, "@axis={}", self.axis)?;
        }
        match self.kind {
            SchemeKind::Mx(o) => {
                write!(f, "@scale-rule={}@nan={}@inf={}@elem-nan={}", o.rule, o.nan, o.inf, o.elem_nan)?;
                match o.elem {
                    MxElem::Int8(r) => write!(f, "@int8-range={r}")?,
                    MxElem::Float(e) if o.elem.scheme_name() == "mx" => write!(f, "@elem={e}")?,
                    MxElem::Float(_) => {}
                }
            }
            SchemeKind::Nvfp4(o) => {
                let g = match (o.global_scale, o.row_global) {
                    (true, true) => "row",
                    (true, false) => "on",
                    _ => "off",
                };
                write!(f, "@policy={}@global-scale={g}", o.policy)?;
                if let Some(x) = o.four_over_six {
                    write!(f, "@4over6={}@4over6-max={}", if x.mse { "mse" } else { "mae" }, x.e4m3_max)?;
                }
                write!(f, "@elem-nan={}", o.elem_nan)?;
                if o.neg_zero_plus {
                    write!(f, "@neg-zero=plus")?;
                }
                if let Some(signs) = o.rht {
                    let s: String = signs.iter().map(|&m| if m { '-' } else { '+' }).collect();
                    write!(f, "@rht-signs={s}")?;
                }
                if o.rht_bf16 {
                    write!(f, "@rht-round=bf16")?;
                }
            }
            SchemeKind::Fp8(o) => {
                write!(f, "@elem={}@formula={}@scale-format={}", o.elem, o.formula, o.scale_format)?;
                write!(f, "@amax-floor={:e}", o.amax_floor)?;
                if let Some(a) = o.amax {
                    write!(f, "@amax={a:e}")?;
                }
            }
        }
        match self.rounding {
            Rounding::Stochastic { bits } => write!(f, "@sr-bits={bits}@seed={}", self.seed)?,
            r => write!(f, "@rounding={r}")?,
        }
        Ok(())
    }
}
