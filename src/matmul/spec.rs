//! The spec grammar of accumulation models: `NAME[@KEY=VALUE]...`.

use super::exact::OutRounding;
use super::target::{Overrides, Target, TcPreset};
use super::tc::{AccType, CInput, CMode, Order, TensorCore};
use super::{Accum, Promote};
use crate::Error;
use core::fmt;
use core::str::FromStr;

crate::names::names!(OutRounding, "out-rounding", { Rz => "rz", Rne => "rne" });
crate::names::names!(CMode, "c-mode", { Fused => "fused", LateRne => "late-rne" });
crate::names::names!(Order, "order", { Contiguous => "contiguous", Interleaved4 => "interleaved4", EvenOdd => "even-odd" });
crate::names::names!(CInput, "C input (c)", { Epilogue => "epilogue", Mma => "mma" });
crate::names::names!(AccType, "accumulator type (d)", { F32 => "f32", F16 => "f16" });

/// The software model names of the grammar (targets: [`TcPreset::ALL`]).
const SOFTWARE: [&str; 5] = ["exact", "f64", "f32-fma", "f32-mul-add", "f32-blocked"];

impl Accum {
    /// Every model name the grammar takes: the software orders, then the GPU targets.
    ///
    /// # Examples
    /// ```
    /// let names = lowp::matmul::Accum::names();
    /// assert_eq!((names[0], names.contains(&"sm90")), ("exact", true));
    /// assert!(names.iter().all(|n| n.parse::<lowp::matmul::Accum>().is_ok()));
    /// ```
    pub fn names() -> Vec<&'static str> {
        SOFTWARE.iter().copied().chain(TcPreset::ALL.iter().map(|p| p.name())).collect()
    }
}

impl FromStr for Accum {
    type Err = Error;
    fn from_str(s: &str) -> Result<Accum, Error> {
        let (name, kv) = crate::spec_parts(s)?;
        let name = name.to_ascii_lowercase();
        let mut acc = match name.as_str() {
            "exact" => Accum::Exact,
            "f64" => Accum::F64,
            "f32-fma" => Accum::F32Fma,
            "f32-mul-add" => Accum::F32MulAdd,
            "f32-blocked" => Accum::F32Blocked(Promote::Fadd),
            _ => match name.parse::<TcPreset>() {
                Ok(p) => Accum::Target(Target::new(p)),
                Err(_) => {
                    let names = Accum::names();
                    return Err(Error::InvalidOption(format!(
                        "unknown accumulation model '{name}' (expected one of: {})",
                        names.join(", ")
                    )));
                }
            },
        };
        for (k, v) in kv {
            acc.set(k, v)?;
        }
        if let Accum::TensorCore(t) = &acc {
            t.validate()?;
        }
        Ok(acc)
    }
}

fn num<T: FromStr>(k: &str, v: &str) -> Result<T, Error> {
    v.parse().map_err(|_| Error::InvalidOption(format!("{k}: '{v}' is not a number")))
}

/// The keys of the tensor-core models, in the order a spec prints them.
const TC_KEYS: [&str; 13] = [
    "c",
    "d",
    "k-inst",
    "n",
    "frac-bits",
    "out-frac-bits",
    "out-rounding",
    "c-mode",
    "order",
    "promote-every",
    "promote",
    "scale-order",
    "zero-exponent",
];

impl Overrides {
    /// Sets one instruction parameter from its key.
    fn set(&mut self, k: &str, v: &str) -> Result<(), Error> {
        match k {
            "k-inst" => self.k_inst = Some(num(k, v)?),
            "n" => self.n = Some(num(k, v)?),
            "frac-bits" => self.frac_bits = Some(if v == "inf" { u32::MAX } else { num(k, v)? }),
            "out-frac-bits" => self.out_frac_bits = Some(num(k, v)?),
            "out-rounding" => self.out_rounding = Some(v.parse()?),
            "c-mode" => self.c_mode = Some(v.parse()?),
            "order" => self.order = Some(v.parse()?),
            "promote-every" => self.promote_every = Some(if v == "none" { None } else { Some(num(k, v)?) }),
            "promote" => self.promote = Some(v.parse()?),
            "scale-order" => self.scale_order = Some(v.parse()?),
            "zero-exponent" => {
                self.zero_exp = Some(match v {
                    "min" => true,
                    "none" => false,
                    _ => return Err(Error::InvalidOption(format!("zero-exponent: '{v}' (min, none)"))),
                })
            }
            _ => {
                return Err(Error::InvalidOption(format!(
                    "no tensor-core key '{k}' (expected one of: {})",
                    TC_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The set keys as `@key=value`, in [`TC_KEYS`] order.
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self;
        if let Some(v) = o.k_inst {
            write!(f, "@k-inst={v}")?;
        }
        if let Some(v) = o.n {
            write!(f, "@n={v}")?;
        }
        match o.frac_bits {
            Some(u32::MAX) => f.write_str("@frac-bits=inf")?,
            Some(v) => write!(f, "@frac-bits={v}")?,
            None => {}
        }
        if let Some(v) = o.out_frac_bits {
            write!(f, "@out-frac-bits={v}")?;
        }
        if let Some(v) = o.out_rounding {
            write!(f, "@out-rounding={v}")?;
        }
        if let Some(v) = o.c_mode {
            write!(f, "@c-mode={v}")?;
        }
        if let Some(v) = o.order {
            write!(f, "@order={v}")?;
        }
        match o.promote_every {
            Some(None) => f.write_str("@promote-every=none")?,
            Some(Some(p)) => write!(f, "@promote-every={p}")?,
            None => {}
        }
        if let Some(v) = o.promote {
            write!(f, "@promote={}", v.name())?;
        }
        if let Some(v) = o.scale_order {
            write!(f, "@scale-order={}", v.name())?;
        }
        if let Some(v) = o.zero_exp {
            write!(f, "@zero-exponent={}", if v { "min" } else { "none" })?;
        }
        Ok(())
    }
}

impl Accum {
    /// Sets one option of the spec grammar (see [`Accum`]).
    ///
    /// # Errors
    /// An unknown key, a bad value, or a key the model does not have.
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::Accum;
    /// let mut a: Accum = "sm90".parse().unwrap();
    /// a.set("promote", "fmul-then-ffma").unwrap();
    /// assert_eq!(a.to_string(), "sm90@promote=fmul-then-ffma");
    /// assert!(a.set("colour", "red").is_err());
    /// ```
    pub fn set(&mut self, k: &str, v: &str) -> Result<(), Error> {
        let name = self.name();
        let not_here = || Error::InvalidOption(format!("model '{name}' has no option '{k}'"));
        match self {
            Accum::F32Blocked(p) if k == "promote" => *p = v.parse()?,
            Accum::Target(t) => match k {
                "c" => t.c_input = v.parse()?,
                "d" => t.acc = v.parse()?,
                _ => t.keys.set(k, v)?,
            },
            Accum::TensorCore(t) => match k {
                "c" => t.c_input = v.parse()?,
                "d" => t.acc = v.parse()?,
                _ => {
                    let mut o = Overrides::default();
                    o.set(k, v)?;
                    apply(t, &o);
                }
            },
            _ => return Err(not_here()),
        }
        Ok(())
    }

    /// The model's name without options.
    pub fn name(&self) -> &'static str {
        match self {
            Accum::Exact => "exact",
            Accum::F64 => "f64",
            Accum::F32Fma => "f32-fma",
            Accum::F32MulAdd => "f32-mul-add",
            Accum::F32Blocked(_) => "f32-blocked",
            Accum::TensorCore(t) => t.preset.name(),
            Accum::Target(t) => t.preset.name(),
        }
    }
}

/// The parameters an override list sets, onto an explicit model.
pub(super) fn apply(t: &mut TensorCore, o: &Overrides) {
    macro_rules! apply {
        ($($f:ident),*) => { $(if let Some(v) = o.$f { t.$f = v; })* };
    }
    apply!(
        k_inst,
        n,
        frac_bits,
        out_frac_bits,
        out_rounding,
        c_mode,
        order,
        promote_every,
        promote,
        scale_order,
        zero_exp
    );
}

impl fmt::Display for Accum {
    /// The name and every option set (round-trips); an explicit model prints the
    /// parameters that differ from its target's default instruction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let cd = |f: &mut fmt::Formatter<'_>, c: CInput, d: AccType| -> fmt::Result {
            if c != CInput::Epilogue {
                write!(f, "@c={c}")?;
            }
            if d != AccType::F32 {
                write!(f, "@d={d}")?;
            }
            Ok(())
        };
        match self {
            Accum::F32Blocked(p) if *p != Promote::Fadd => write!(f, "@promote={}", p.name()),
            Accum::Target(t) => {
                cd(f, t.c_input, t.acc)?;
                t.keys.write(f)
            }
            Accum::TensorCore(t) => {
                cd(f, t.c_input, t.acc)?;
                let d = t.preset.config();
                let diff = |a: bool| a.then_some(());
                let o = Overrides {
                    k_inst: diff(t.k_inst != d.k_inst).map(|_| t.k_inst),
                    n: diff(t.n != d.n).map(|_| t.n),
                    frac_bits: diff(t.frac_bits != d.frac_bits).map(|_| t.frac_bits),
                    out_frac_bits: diff(t.out_frac_bits != d.out_frac_bits).map(|_| t.out_frac_bits),
                    out_rounding: diff(t.out_rounding != d.out_rounding).map(|_| t.out_rounding),
                    c_mode: diff(t.c_mode != d.c_mode).map(|_| t.c_mode),
                    order: diff(t.order != d.order).map(|_| t.order),
                    promote_every: diff(t.promote_every != d.promote_every).map(|_| t.promote_every),
                    promote: diff(t.promote != d.promote).map(|_| t.promote),
                    scale_order: diff(t.scale_order != d.scale_order).map(|_| t.scale_order),
                    zero_exp: diff(t.zero_exp != d.zero_exp).map(|_| t.zero_exp),
                };
                o.write(f)
            }
            _ => Ok(()),
        }
    }
}
