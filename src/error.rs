//! The one error type of lowp.

use crate::format::ElemFormat;
use core::fmt;

/// Everything that can go wrong in lowp: bad options, bad shapes, bad data, bad files.
/// Data never causes a panic; it gives one of these.
///
/// # Examples
/// ```
/// let e: lowp::Error = "e9m9".parse::<lowp::format::ElemFormat>().unwrap_err();
/// assert_eq!(e.to_string(), "unknown format 'e9m9' (try `lowp formats`)");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A format name that lowp does not know.
    UnknownFormat(String),
    /// An option value that cannot be parsed or does not apply.
    InvalidOption(String),
    /// The reference or operation does not support this combination.
    Unsupported(String),
    /// Two buffers that must have equal length do not.
    LengthMismatch {
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A shape that does not fit the operation.
    Shape(String),
    /// A code that does not fit a sub-byte format's width.
    CodeOutOfRange {
        /// The format.
        format: ElemFormat,
        /// Index of the first offending element.
        index: usize,
        /// Its value.
        code: u8,
    },
    /// A NaN input met a NaN-less format under [`crate::convert::NanPolicy::Error`].
    NanInput {
        /// Index of the first NaN.
        index: usize,
    },
    /// An I/O or file-format problem (the message names the file).
    Io(String),
    /// The output was closed by its reader (a broken pipe, as `lowp ... | head`
    /// causes): not a failure of the command, which stops quietly.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownFormat(s) => write!(f, "unknown format '{s}' (try `lowp formats`)"),
            Error::InvalidOption(s) => write!(f, "invalid option: {s}"),
            Error::Unsupported(s) => write!(f, "unsupported: {s}"),
            Error::LengthMismatch { expected, got } => {
                write!(f, "length mismatch: expected {expected} elements, got {got}")
            }
            Error::Shape(s) => write!(f, "shape error: {s}"),
            Error::CodeOutOfRange { format, index, code } => {
                write!(f, "code {code:#04x} at index {index} does not fit {format} ({} bits)", format.bits())
            }
            Error::NanInput { index } => {
                write!(f, "NaN input at index {index} into a format without NaN (nan policy 'error')")
            }
            Error::Io(s) => f.write_str(s),
            Error::Closed => f.write_str("the output was closed"),
        }
    }
}

impl std::error::Error for Error {}
