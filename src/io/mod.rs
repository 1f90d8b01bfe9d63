//! File I/O: `.npy` arrays and the tensors of `.npy` / `.npz` / `.safetensors` files.

pub mod checkpoint;
pub mod npy;
pub mod out;
pub mod safetensors;
