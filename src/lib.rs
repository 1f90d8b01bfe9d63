//! # lowp: bit-exact low-precision ML numerics
//!
//! lowp is a reference library for the narrow number formats that FP8, MXFP8 and
//! NVFP4 training and inference run on. Every semantic choice a reference
//! implementation makes (rounding, overflow, NaN, Inf, zero, e8m0 rounding) is a
//! named option, and presets ([`convert::Like`]) reproduce ml_dtypes, torch, PTX,
//! CUTLASS and gfloat **code for code**.
//!
//! ## Layers
//! | module | what |
//! |---|---|
//! | [`mod@format`] | format descriptions ([`format::FormatSpec`]), compile-time markers, the runtime [`format::ElemFormat`] |
//! | [`Minifloat`] | one generic scalar type for every format (`F8E4M3FN`, `F4E2M1FN`, …) |
//! | [`convert`] | the one rounding routine, options and presets, slice encode/decode with fast paths |
//! | [`oracle`] | the slow exact reference conversion the tests check the fast code against |
//! | [`rng`] | reproducible counter-based random bits for stochastic rounding |
//! | [`scale`] | MX E8M0 scale rules (floor, ceil, even, rceil, torchao's rceil, microxcaling's floor-log2) |
//! | [`block`] | block quantization: one [`block::Scheme`] (MX incl. MXINT8, NVFP4 torchao/TE with 2-D blocks, RHT and stochastic rounding, FP8 block/row/tensor with DeepSeek/TE formulas), the spec grammar, reference presets ([`block::Scheme::like`]), [`block::QuantizedTensor`] |
//! | [`pack`] | sub-byte packing for kernel layouts (FP4 two per byte, FP6 four per three bytes) |
//! | [`layout`] | scale layouts kernels read: the SM100 128×4 swizzle, cuBLAS 1×128 / 128×128 |
//! | [`matmul`] | GEMM emulation: `exact`, `f64`, `f32-fma`, `f32-mul-add`, `f32-blocked` and the GPU targets `sm70` … `sm120`, `cdna3` (each instruction chosen from the operand types, bit for bit against MMA-Sim and hardware vectors); fast paths for the f32 orders and the FP8/MXFP8 tensor-core paths; grouped (MoE) GEMMs in DeepGEMM's, torch's and TE's layouts |
//! | [`recipe`] | training recipes end to end: a linear layer's fprop, dgrad and wgrad under TE, torchao and DeepSeek-V3 recipes, every operand copy and GEMM as the recipe defines it, and each GEMM's error against the unquantized product |
//! | [`compare`] | error metrics of a scheme on a tensor (SQNR, MSE, max errors, saturation, flushes, bits/element) |
//! | [`io`] | `.npy` reading and writing (f16, bf16, f32, f64, u8, i32, i64); tensors of `.npy`/`.npz`/`.safetensors` files and sharded checkpoints (FP8/FP6/FP4 dtypes decoded), loaded one at a time; safetensors writing |
//! | [`convention`] | quantized checkpoints as models ship them: DeepSeek FP8, GPT-OSS MXFP4, ModelOpt and compressed-tensors NVFP4/FP8, grouped and dequantized as each loader does |
//!
//! ## Formats
//! | name | bits | E/M | bias | max | min normal | min subnormal | NaN | Inf | −0 |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `e4m3fn` | 8 | 4/3 | 7 | 448 | 2^-6 | 2^-9 | 0x7F, 0xFF | – | yes |
//! | `e4m3fnuz` | 8 | 4/3 | 8 | 240 | 2^-7 | 2^-10 | 0x80 | – | – |
//! | `e5m2` | 8 | 5/2 | 15 | 57344 | 2^-14 | 2^-16 | 0x7D–0x7F (±) | 0x7C, 0xFC | yes |
//! | `e5m2fnuz` | 8 | 5/2 | 16 | 57344 | 2^-15 | 2^-17 | 0x80 | – | – |
//! | `e4m3` | 8 | 4/3 | 7 | 240 | 2^-6 | 2^-9 | 0x79–0x7F (±) | 0x78, 0xF8 | yes |
//! | `e3m4` | 8 | 3/4 | 3 | 15.5 | 2^-2 | 2^-6 | 0x71–0x7F (±) | 0x70, 0xF0 | yes |
//! | `e4m3b11fnuz` | 8 | 4/3 | 11 | 30 | 2^-10 | 2^-13 | 0x80 | – | – |
//! | `e2m3fn` | 6 | 2/3 | 1 | 7.5 | 1 | 0.125 | – | – | yes |
//! | `e3m2fn` | 6 | 3/2 | 3 | 28 | 0.25 | 0.0625 | – | – | yes |
//! | `e2m1fn` | 4 | 2/1 | 1 | 6 | 1 | 0.5 | – | – | yes |
//! | `e8m0fnu` | 8 | 8/0, unsigned | 127 | 2^127 | 2^-127 | (no zero) | 0xFF | – | – |
//! | `ue4m3` | 7 | 4/3, unsigned | 7 | 448 | 2^-6 | 2^-9 | 0x7F | – | – |
//!
//! `lowp formats` prints this table from the code; `lowp table FORMAT` lists every code.
//!
//! ## Quick start
//! ```
//! use lowp::{F8E4M3FN, convert::{encode_slice, decode_slice, Like}, format::ElemFormat};
//! // scalar
//! assert_eq!(F8E4M3FN::from_f32(3.3).to_f32(), 3.25);
//! // slices, reproducing torch 2.15's saturating e4m3fn cast
//! let torch = Like::Torch.cast_options(ElemFormat::E4M3FN).unwrap();
//! let x = [0.1f32, 500.0, f32::NEG_INFINITY];
//! let mut codes = [0u8; 3];
//! encode_slice(ElemFormat::E4M3FN, &x, &mut codes, &torch).unwrap();
//! assert_eq!(codes, [0x1D, 0x7E, 0xFE]);
//! let mut back = [0f32; 3];
//! decode_slice(ElemFormat::E4M3FN, &codes, &mut back).unwrap();
//! assert_eq!(back, [0.1015625, 448.0, -448.0]);
//! ```
//!
//! ## Cargo features
//! * `cli` (default): the `lowp` binary (`formats`, `table`, `cast`, `decode`,
//!   `quantize`, `matmul`, `compare`, `inspect`, `dequantize`, `bench`) and its extra dependencies (clap,
//!   indicatif).
//! * `ndarray` (default): `ndarray` views of quantized tensors
//!   ([`block::QuantizedTensor::from_array`], `dequantize_array`, `codes_view`,
//!   `scales_array`).
//!
//! Library users can set `default-features = false`; the library
//!   depends on `half`, `num-traits`, `bytemuck`, `rayon` (tensors and GEMM rows in
//!   parallel), `serde_json` and `safetensors` (safetensors headers) and `zip` (`.npz`).
//!
//! ## Unsafe code
//! `#![deny(unsafe_code)]` with four exceptions, each a SIMD kernel or the call of
//! a `#[target_feature]` build after `is_x86_feature_detected!`, and each tested
//! bit for bit against its portable safe build: `convert::simd` (casts, amax,
//! block scaling), `matmul::simd` (AVX2/FMA and AVX-512F GEMM micro-kernels), and the dispatch
//! in the GEMM fast paths.
//!
//! ## Guarantees
//! * Each input is rounded once, from its exact value (f64 inputs may opt into
//!   ml_dtypes' f64→f32→format double rounding with [`convert::InputPath::ViaF32`]).
//! * Fast paths are tested equal to [`convert::encode`], and `encode` to the
//!   independent [`oracle`], on every f32 in each format's range (all 2^32 behind
//!   `--cfg exhaustive`); golden tests compare with the references' own outputs.
//! * Data never panics: NaN, Inf, subnormals, empty slices get the documented
//!   result; misuse returns [`Error`].
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

// first: its `for_each_format!` is used by the modules below
#[macro_use]
pub mod format;
pub mod block;
pub mod compare;
pub mod convention;
pub mod convert;
mod error;
pub mod io;
pub mod layout;
pub mod matmul;
mod minifloat;
mod names;
pub mod oracle;
pub mod pack;
pub mod recipe;
pub mod rng;
pub mod scale;
#[doc(hidden)]
pub mod simd;

pub use error::Error;
pub use minifloat::{
    F4E2M1FN, F6E2M3FN, F6E3M2FN, F8E3M4, F8E4M3, F8E4M3B11FNUZ, F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ, F8E5M3FNU,
    F8E8M0FNU, F8UE4M3, Minifloat,
};
pub use names::{SpecOptions, spec_parts, spec_with};
/// The `ndarray` crate lowp's array views are built on (0.16), re-exported so
/// that callers use the same version: `lowp::ndarray::Array2`.
#[cfg(feature = "ndarray")]
pub use ndarray;
