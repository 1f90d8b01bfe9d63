//! What an operand spec names (`--scheme` / `--b-scheme` of `lowp matmul`, the
//! `scheme=` of Python's `lowp.matmul`): a plain element format, a wide type or
//! a block scheme, and how f32 input becomes that operand.

use super::{ElemType, Layout, Operand};
use crate::Error;
use crate::block::Scheme;
use crate::convert::CastOptions;
use crate::format::ElemFormat;

/// An operand's type as a front end gives it.
///
/// # Examples
/// ```
/// use lowp::matmul::{Layout, OperandType};
/// let t = OperandType::parse("mxfp8-e4m3", &[("like", "te")]).unwrap();
/// let op = t.operand(&[1.0; 64], [2, 32], Layout::RowsK).unwrap();
/// assert_eq!(op.kblock(), 32);
/// assert!(OperandType::parse("bf16@block=32", &[]).is_err());
/// assert!(OperandType::parse("e4m3fn", &[("block", "32")]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum OperandType {
    /// A plain element format, with the cast of f32 inputs (`like` names the preset).
    Plain(ElemFormat, CastOptions),
    /// A wide type (bf16, f16: f32 inputs rounded to nearest even; tf32, xf32: the
    /// f32 bits as the instruction reads them).
    Wide(ElemType),
    /// A block scheme; `explicit` when keys were given (a stored tensor's scheme
    /// must then equal it).
    Scheme {
        /// The scheme with every key applied.
        scheme: Scheme,
        /// Whether the spec or the extra keys set any key.
        explicit: bool,
    },
}

impl OperandType {
    /// The type `spec` names, with `keys` (front-end options: `like`,
    /// `scale-rule`, `block`, ...) added as [`crate::spec_with`] adds them.
    ///
    /// # Errors
    /// A key that does not apply (a wide type takes none, a plain format only
    /// `like`), a contradiction between a key and the spec, or the scheme's own
    /// errors.
    pub fn parse(spec: &str, keys: &[(&str, &str)]) -> Result<OperandType, Error> {
        let (name, given) = crate::spec_parts(spec)?;
        if let Some(t) = ElemType::WIDE.into_iter().find(|t| t.name() == name) {
            if let Some((k, _)) = given.first().or(keys.first()) {
                return Err(Error::InvalidOption(format!("'{k}' does not apply to the wide type {t}")));
            }
            return Ok(OperandType::Wide(t));
        }
        if let Ok(f) = name.parse::<ElemFormat>() {
            if let Some((k, _)) = given.first() {
                return Err(Error::InvalidOption(format!("'{k}' does not apply to the plain element format {f}")));
            }
            if let Some((k, _)) = keys.iter().find(|(k, _)| !k.eq_ignore_ascii_case("like")) {
                return Err(Error::InvalidOption(format!("'{k}' does not apply to the plain element format {f}")));
            }
            return Ok(OperandType::Plain(f, CastOptions::resolve(f, keys)?));
        }
        let explicit = !given.is_empty() || !keys.is_empty();
        Ok(OperandType::Scheme { scheme: crate::spec_with(spec, keys)?.parse()?, explicit })
    }

    /// Whether a stored quantized tensor of `stored` scheme is the operand this
    /// type asks for: a scheme of the same name, and the same scheme in every key
    /// when keys were given (a plain format or wide type takes no stored tensor).
    ///
    /// # Examples
    /// ```
    /// use lowp::matmul::OperandType;
    /// let q: lowp::block::Scheme = "mxfp8-e4m3@like=te".parse().unwrap();
    /// assert!(OperandType::parse("mxfp8-e4m3", &[]).unwrap().accepts(&q));
    /// assert!(!OperandType::parse("mxfp8-e4m3@like=torchao", &[]).unwrap().accepts(&q));
    /// assert!(!OperandType::parse("e4m3fn", &[]).unwrap().accepts(&q));
    /// ```
    pub fn accepts(&self, stored: &Scheme) -> bool {
        match self {
            OperandType::Scheme { scheme, explicit } => {
                scheme.name() == stored.name() && (!explicit || scheme == stored)
            }
            _ => false,
        }
    }

    /// The operand of an f32 array of `shape` in `layout`: cast, read as the wide
    /// type, or quantized along K.
    ///
    /// # Errors
    /// Wrong length or rank, or the quantizer's errors.
    pub fn operand(&self, x: &[f32], shape: [usize; 2], layout: Layout) -> Result<Operand, Error> {
        match self {
            OperandType::Plain(f, o) => {
                let mut codes = vec![0u8; x.len()];
                crate::convert::encode_slice(*f, x, &mut codes, o)?;
                Operand::from_codes(*f, &codes, shape, layout)
            }
            OperandType::Wide(t) => Operand::from_wide(*t, x, shape, layout),
            OperandType::Scheme { scheme, .. } => Operand::from_f32(x, shape, layout, scheme),
        }
    }
}
