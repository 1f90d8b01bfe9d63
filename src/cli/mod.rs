//! Subcommands of the `lowp` binary.

pub mod args;
pub mod bench;
pub mod cast;
pub mod checkpoint;
pub mod compare;
pub mod formats;
pub mod grouped;
pub mod linear;
pub mod matmul;
pub mod plots;
pub mod quantize;
pub mod recipes;
pub mod targets;
pub mod verify;
