//! File I/O: NumPy `.npy` arrays (and, for `lowp compare`, `.npz` and `.safetensors`).

pub mod npy;
