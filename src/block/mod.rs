//! Block-scaled formats. So far: OCP MX (MXFP8/MXFP6/MXFP4) with E8M0 scales, and
//! NVFP4 with the torchao policy, along the last axis of a row-major matrix. The
//! TransformerEngine NVFP4 policy, FP8 block/tensor/row scaling, 2-D blocks and
//! kernel scale layouts are the next pieces of this layer.

mod mx;
mod nvfp4;

pub use mx::{BlockNan, MxOptions, MxTensor, quantize_mx};
pub use nvfp4::{Nvfp4Options, Nvfp4Tensor, quantize_nvfp4};
