//! The spec grammar of accumulation models: `NAME[@KEY=VALUE]...`.

use super::exact::OutRounding;
use super::tc::{CMode, Order, TcPreset};
use super::{Accum, Promote};
use crate::Error;
use core::fmt;
use core::str::FromStr;

impl FromStr for Accum {
    type Err = Error;
    fn from_str(s: &str) -> Result<Accum, Error> {
        let mut parts = s.trim().split('@');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut acc = match name.as_str() {
            "exact" => Accum::Exact,
            "f64" => Accum::F64,
            "f32-fma" => Accum::F32Fma,
            "f32-mul-add" => Accum::F32MulAdd,
            "f32-blocked" => Accum::F32Blocked(Promote::Fadd),
            _ => match TcPreset::ALL.iter().find(|p| p.name() == name) {
                Some(p) => Accum::TensorCore(p.config()),
                None => {
                    return Err(Error::InvalidOption(format!(
                        "unknown accumulation model '{name}' (exact, f64, f32-fma, f32-mul-add, f32-blocked, sm90, sm89, sm100-mma-sync, sm100-f8f6f4, sm100-blockscaled)"
                    )));
                }
            },
        };
        for kv in parts {
            let (k, v) =
                kv.split_once('=').ok_or_else(|| Error::InvalidOption(format!("'{kv}' in '{s}' is not KEY=VALUE")))?;
            acc.set(k.trim(), v.trim())?;
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
            Accum::TensorCore(t) => match k {
                "promote" => t.promote = v.parse()?,
                "scale-order" => t.scale_order = v.parse()?,
                "promote-every" => t.promote_every = if v == "none" { None } else { Some(num(k, v)?) },
                "k-inst" => t.k_inst = num(k, v)?,
                "n" => t.n = num(k, v)?,
                "frac-bits" => t.frac_bits = if v == "inf" { u32::MAX } else { num(k, v)? },
                "out-frac-bits" => t.out_frac_bits = num(k, v)?,
                "out-rounding" => {
                    t.out_rounding = match v {
                        "rz" => OutRounding::Rz,
                        "rne" => OutRounding::Rne,
                        _ => return Err(Error::InvalidOption(format!("out-rounding: '{v}' (rz, rne)"))),
                    }
                }
                "c-mode" => {
                    t.c_mode = match v {
                        "fused" => CMode::Fused,
                        "late-rne" => CMode::LateRne,
                        _ => return Err(Error::InvalidOption(format!("c-mode: '{v}' (fused, late-rne)"))),
                    }
                }
                "order" => {
                    t.order = match v {
                        "contiguous" => Order::Contiguous,
                        "interleaved4" => Order::Interleaved4,
                        _ => return Err(Error::InvalidOption(format!("order: '{v}' (contiguous, interleaved4)"))),
                    }
                }
                _ => return Err(not_here()),
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
        }
    }
}

impl fmt::Display for Accum {
    /// The name and every option that differs from the model's default (round-trips).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Accum::F32Blocked(p) if *p != Promote::Fadd => write!(f, "@promote={}", p.name()),
            Accum::TensorCore(t) => {
                let d = t.preset.config();
                if t.k_inst != d.k_inst {
                    write!(f, "@k-inst={}", t.k_inst)?;
                }
                if t.n != d.n {
                    write!(f, "@n={}", t.n)?;
                }
                if t.frac_bits != d.frac_bits {
                    match t.frac_bits {
                        u32::MAX => f.write_str("@frac-bits=inf")?,
                        b => write!(f, "@frac-bits={b}")?,
                    }
                }
                if t.out_frac_bits != d.out_frac_bits {
                    write!(f, "@out-frac-bits={}", t.out_frac_bits)?;
                }
                if t.out_rounding != d.out_rounding {
                    f.write_str(if t.out_rounding == OutRounding::Rz {
                        "@out-rounding=rz"
                    } else {
                        "@out-rounding=rne"
                    })?;
                }
                if t.c_mode != d.c_mode {
                    f.write_str(if t.c_mode == CMode::Fused { "@c-mode=fused" } else { "@c-mode=late-rne" })?;
                }
                if t.order != d.order {
                    f.write_str(if t.order == Order::Contiguous {
                        "@order=contiguous"
                    } else {
                        "@order=interleaved4"
                    })?;
                }
                if t.promote_every != d.promote_every {
                    match t.promote_every {
                        None => f.write_str("@promote-every=none")?,
                        Some(p) => write!(f, "@promote-every={p}")?,
                    }
                }
                if t.promote != d.promote {
                    write!(f, "@promote={}", t.promote.name())?;
                }
                if t.scale_order != d.scale_order {
                    write!(f, "@scale-order={}", t.scale_order.name())?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
