//! File I/O: `.npy` arrays and the tensors of `.npy` / `.npz` / `.safetensors` /
//! `.gguf` files.

pub mod checkpoint;
pub mod gguf;
pub mod npy;
pub mod out;
pub mod safetensors;
