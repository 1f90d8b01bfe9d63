//! Block-scaled formats. So far: OCP MX (MXFP8/MXFP6/MXFP4) with E8M0 scales,
//! NVFP4 with the torchao policy, and tile-scaled FP8 with the DeepSeek/DeepGEMM
//! formulas, on row-major matrices. The
//! TransformerEngine policies, 2-D MX/NVFP4 blocks, the Hadamard transform,
//! stochastic rounding of elements and kernel scale layouts are the next pieces of this layer.

mod fp8;
mod mx;
mod nvfp4;

pub use fp8::{Fp8BlockOptions, Fp8BlockTensor, Fp8Formula, Fp8ScaleFormat, quantize_fp8_block};
pub use mx::{BlockNan, MxOptions, MxTensor, quantize_mx};
pub use nvfp4::{Nvfp4Options, Nvfp4Tensor, quantize_nvfp4};

/// Checks that `len` elements form a `rows × cols` matrix and that a block
/// dimension is non-zero.
fn check_matrix(len: usize, rows: usize, cols: usize, block: usize, what: &str) -> Result<(), crate::Error> {
    if block == 0 {
        return Err(crate::Error::Shape(format!("{what} block size must be at least 1")));
    }
    if rows.checked_mul(cols) != Some(len) {
        return Err(crate::Error::Shape(format!("{len} elements do not make a {rows}x{cols} matrix")));
    }
    Ok(())
}

/// The largest magnitude of a block: NaN if any element is NaN under
/// [`BlockNan::Propagate`] (`torch.amax`), NaN elements skipped under
/// [`BlockNan::Ignore`] (`fmaxf`). Shared by every quantizer.
fn amax(block: &[f32], nan: BlockNan) -> f32 {
    match nan {
        BlockNan::Propagate => {
            block.iter().fold(0f32, |m, v| if m.is_nan() || v.is_nan() { f32::NAN } else { m.max(v.abs()) })
        }
        BlockNan::Ignore => block.iter().fold(0f32, |m, v| if v.is_nan() { m } else { m.max(v.abs()) }),
    }
}
