//! Block-scaled formats. So far: OCP MX (MXFP8/MXFP6/MXFP4) with E8M0 scales along
//! the last axis of a row-major matrix. (NVFP4, FP8 block/tensor/row scaling, 2-D
//! blocks and kernel layouts are the next pieces of this layer.)

mod mx;

pub use mx::{BlockNan, MxOptions, MxTensor, quantize_mx};
