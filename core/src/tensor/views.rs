//! Layout-only views: no data is copied (except `reshape` of a non-viewable layout, as PyTorch).
//! These functions do not record autograd; `crate::ops::views` wraps them for that.

use super::{check_ndim, contiguous_strides, Tensor};
use crate::error::{invalid, Result};

impl Tensor {
    fn with_layout(&self, shape: Vec<i64>, strides: Vec<i64>, offset: usize) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), shape, strides, offset, self.dtype())
    }

    /// Resolves a requested shape with at most one -1 against this tensor's element count.
    pub fn infer_shape(&self, shape: &[isize]) -> Result<Vec<i64>> {
        let n = self.numel() as i64;
        let mut out: Vec<i64> = Vec::with_capacity(shape.len());
        let mut infer = None;
        let mut known: i64 = 1;
        for (i, &d) in shape.iter().enumerate() {
            if d == -1 {
                if infer.replace(i).is_some() {
                    return invalid!("reshape: only one dimension can be -1, got {shape:?}");
                }
                out.push(1);
            } else if d < 0 {
                return invalid!("reshape: invalid size {d} in {shape:?}");
            } else {
                known *= d as i64;
                out.push(d as i64);
            }
        }
        check_ndim(&out)?;
        if let Some(i) = infer {
            if known == 0 || n % known != 0 {
                return invalid!("reshape: shape {shape:?} is invalid for input of size {n}");
            }
            out[i] = n / known;
        } else if known != n {
            return invalid!("reshape: shape {shape:?} is invalid for input of size {n}");
        }
        Ok(out)
    }

    /// Reshape: a view when the layout is contiguous, otherwise a contiguous copy (as PyTorch's
    /// `reshape`).
    pub fn reshape_view(&self, shape: &[isize]) -> Result<Tensor> {
        let new_shape = self.infer_shape(shape)?;
        let base = if self.is_contiguous() { self.clone() } else { self.contiguous_copy()? };
        let strides = contiguous_strides(&new_shape);
        Ok(base.with_layout(new_shape, strides, base.0.offset))
    }

    /// Permutes dimensions.
    pub fn permute_view(&self, dims: &[usize]) -> Result<Tensor> {
        let n = self.shape().len();
        let mut seen = vec![false; n];
        if dims.len() != n || dims.iter().any(|&d| d >= n || std::mem::replace(&mut seen[d], true)) {
            return invalid!("permute: {dims:?} is not a permutation of {n} dimensions");
        }
        let shape = dims.iter().map(|&d| self.shape()[d]).collect();
        let strides = dims.iter().map(|&d| self.strides()[d]).collect();
        Ok(self.with_layout(shape, strides, self.0.offset))
    }

    /// Broadcasts to `shape` (-1 keeps a dimension; new leading dims allowed) with stride 0.
    pub fn expand_view(&self, shape: &[isize]) -> Result<Tensor> {
        let cur = self.shape();
        if shape.len() < cur.len() {
            return invalid!("expand: target {shape:?} has fewer dims than the tensor {cur:?}");
        }
        if shape.len() > ferrite_sdk::abi::view::MAX_NDIM {
            return invalid!("expand: target {shape:?} has more than {} dimensions", ferrite_sdk::abi::view::MAX_NDIM);
        }
        let lead = shape.len() - cur.len();
        let mut out_shape = Vec::with_capacity(shape.len());
        let mut out_strides = Vec::with_capacity(shape.len());
        for (i, &t) in shape.iter().enumerate() {
            if i < lead {
                if t < 0 {
                    return invalid!("expand: -1 not allowed for a new leading dim in {shape:?}");
                }
                out_shape.push(t as i64);
                out_strides.push(0);
            } else {
                let (d, s) = (cur[i - lead], self.strides()[i - lead]);
                if t == -1 || t as i64 == d {
                    out_shape.push(d);
                    out_strides.push(s);
                } else if d == 1 && t >= 0 {
                    out_shape.push(t as i64);
                    out_strides.push(0);
                } else {
                    return invalid!("expand: size {d} at dim {} cannot become {t} (tensor {cur:?} to {shape:?})", i - lead);
                }
            }
        }
        Ok(self.with_layout(out_shape, out_strides, self.0.offset))
    }

    /// Elements `start..end` by `step` along `dim`.
    pub fn slice_view(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let shape = self.shape();
        if dim >= shape.len() {
            return invalid!("slice: dim {dim} out of range for {shape:?}");
        }
        let size = shape[dim] as usize;
        if step == 0 || start > end || end > size {
            return invalid!("slice: [{start}:{end}:{step}] is invalid for dim {dim} of size {size}");
        }
        let mut new_shape = shape.to_vec();
        new_shape[dim] = (end - start).div_ceil(step) as i64;
        let mut strides = self.strides().to_vec();
        let offset = self.0.offset as i64 + start as i64 * strides[dim];
        strides[dim] *= step as i64;
        Ok(self.with_layout(new_shape, strides, offset as usize))
    }
}
