//! Subcommands of the `lowp` binary.

pub mod args;
pub mod bench;
pub mod cast;
pub mod checkpoint;
pub mod compare;
pub mod formats;
pub mod matmul;
pub mod quantize;
pub mod targets;
pub mod verify;
