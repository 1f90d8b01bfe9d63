//! Subcommands of the `lowp` binary.

pub mod bench;
pub mod cast;
pub mod formats;
pub mod quantize;
