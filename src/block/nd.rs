//! `ndarray` views of block quantization (feature `ndarray`, on by default).

use super::{QuantizedTensor, Scheme, quantize};
use crate::Error;
use ndarray::{ArrayBase, ArrayD, ArrayViewD, Data, Dimension, IxDyn};

impl QuantizedTensor {
    /// Quantizes an `ndarray` array or view of any dimension and memory order (a
    /// view that is not in standard row-major order is copied into it first).
    ///
    /// # Errors
    /// As [`quantize`].
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{QuantizedTensor, Scheme};
    /// use ndarray::Array2;
    /// let x = Array2::from_shape_fn((4, 64), |(i, j)| (i * 64 + j) as f32 / 100.0);
    /// let s: Scheme = "mxfp8-e4m3".parse().unwrap();
    /// // a transposed view is quantized in its logical (64, 4) shape, blocks along its last axis
    /// let q = QuantizedTensor::from_array(&x.t(), &"mxfp8-e4m3@axis=0".parse().unwrap()).unwrap();
    /// assert_eq!(q.shape(), vec![64, 4]);
    /// let q = QuantizedTensor::from_array(&x, &s).unwrap();
    /// assert_eq!(q.dequantize_array().shape(), &[4, 64]);
    /// assert_eq!(q.codes_view().shape(), &[4, 64]);
    /// assert_eq!(q.scales_array().shape(), &[4, 2]);
    /// ```
    pub fn from_array<S: Data<Elem = f32>, D: Dimension>(
        x: &ArrayBase<S, D>,
        scheme: &Scheme,
    ) -> Result<QuantizedTensor, Error> {
        let shape = x.shape().to_vec();
        match x.as_slice() {
            Some(s) => quantize(s, &shape, scheme),
            None => quantize(&x.iter().copied().collect::<Vec<f32>>(), &shape, scheme),
        }
    }

    /// The dequantized tensor as an `ndarray` of the input's shape.
    pub fn dequantize_array(&self) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(self.shape()), self.dequantize()).expect("codes fill the shape")
    }

    /// The element codes as an `ndarray` view of the input's shape.
    pub fn codes_view(&self) -> ArrayViewD<'_, u8> {
        ArrayViewD::from_shape(IxDyn(self.shape()), &self.codes).expect("codes fill the shape")
    }

    /// The block scales' values (f32; NaN for an E8M0 NaN) over the scale grid.
    pub fn scales_array(&self) -> ArrayD<f32> {
        let v = (0..self.scales.len()).map(|i| self.scales.value(i)).collect();
        ArrayD::from_shape_vec(IxDyn(self.scale_shape()), v).expect("scales fill the grid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn views_equal_the_slice_api() {
        let x = Array3::from_shape_fn((3, 5, 40), |(a, b, c)| ((a * 200 + b * 40 + c) as f32 * 0.37).sin() * 10.0);
        for spec in ["mxfp4", "nvfp4@global-scale=on", "fp8-block@block=1x16@axis=1"] {
            let s: Scheme = spec.parse().unwrap();
            // standard layout: the slice path
            let q = QuantizedTensor::from_array(&x, &s).unwrap();
            assert_eq!(q, quantize(x.as_slice().unwrap(), &[3, 5, 40], &s).unwrap());
            assert_eq!(q.dequantize_array().as_slice().unwrap(), &q.dequantize()[..]);
            // a permuted view: its logical order
            let p = x.view().permuted_axes([2, 0, 1]);
            let copy: Vec<f32> = p.iter().copied().collect();
            assert_eq!(QuantizedTensor::from_array(&p, &s).unwrap(), quantize(&copy, &[40, 3, 5], &s).unwrap());
        }
    }
}
